//! Small helpers for running commands and finding things.

use anyhow::{Context, Result, bail};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// `cargo`, as the one that is running us.
pub fn cargo() -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut c = Command::new(cargo);
    c.current_dir(root());
    c
}

/// Runs `cmd`, streaming its output; fails with the command line if it fails.
pub fn run(cmd: &mut Command) -> Result<()> {
    let line = describe(cmd);
    println!("$ {line}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed ({status})");
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its stdout, or `None` if it could not run or failed.
pub fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.stderr(Stdio::null()).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Whether a binary is on `PATH`.
pub fn which(bin: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
}

/// Whether something accepts TCP connections at `host:port`.
pub fn reachable(host_port: &str) -> bool {
    let Ok(addrs) = host_port.to_socket_addrs() else {
        return false;
    };
    addrs
        .into_iter()
        .any(|a: SocketAddr| TcpStream::connect_timeout(&a, Duration::from_millis(500)).is_ok())
}

/// The status code of a plain `GET path` at `host:port` (HTTP/1.1, no TLS), or `None`
/// when nothing answers.
pub fn http_status(host_port: &str, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let addr = host_port.to_socket_addrs().ok()?.next()?;
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_millis(500)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host_port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 64];
    let n = stream.read(&mut head).ok()?;
    let line = std::str::from_utf8(&head[..n]).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Waits until `check` is true, up to `limit`.
pub fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("{what} did not come up within {} s", limit.as_secs())
}

/// `host:port` of a `scheme://[user@]host:port/...` URL.
pub fn host_port(url: &str, default_port: u16) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = authority
        .rsplit_once('@')
        .map(|(_, h)| h)
        .unwrap_or(authority);
    if host.contains(':') {
        host.to_owned()
    } else {
        format!("{host}:{default_port}")
    }
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").context("binding a probe port")?;
    Ok(l.local_addr()?.port())
}

/// `npm ci` in `dir` unless `node_modules` already matches `package-lock.json` (a copy
/// of the lock file is kept in `node_modules/.urr-lock-stamp`) and has `.bin/{bin}`.
pub fn npm_ci(dir: &Path, bin: &str, envs: &[(String, String)]) -> Result<()> {
    for tool in ["node", "npm"] {
        if which(tool).is_none() {
            bail!(
                "`{tool}` is not installed; the web app and the Cloudflare worker need \
                 Node.js ≥ 20.3 and npm (Debian: `apt-get install nodejs npm`)"
            );
        }
    }
    let lock = std::fs::read(dir.join("package-lock.json"))
        .with_context(|| format!("reading {}/package-lock.json", dir.display()))?;
    let stamp = dir.join("node_modules/.urr-lock-stamp");
    let installed = std::fs::read(&stamp).ok();
    if installed.as_deref() == Some(lock.as_slice())
        && dir.join("node_modules/.bin").join(bin).is_file()
    {
        println!(
            "{}: node_modules is at package-lock.json's state; skipping npm ci",
            dir.display()
        );
        return Ok(());
    }
    run(Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(dir)
        .envs(envs.iter().cloned()))
    .context("npm ci failed (are node and npm installed, and the npm registry reachable?)")?;
    std::fs::write(&stamp, lock)?;
    Ok(())
}

/// Prints a step header and returns a timer for [`done`].
pub fn step(name: &str) -> (String, Instant) {
    println!("\n==> {name}");
    (name.to_owned(), Instant::now())
}

/// `cargo build --release` of each `(package, binary)`, in one cargo call; returns
/// `target/release`, where the binaries are.
pub fn release_build(bins: &[(&str, &str)]) -> Result<PathBuf> {
    let mut build = cargo();
    build.args(["build", "--release"]);
    for (package, bin) in bins {
        build.args(["-p", package, "--bin", bin]);
    }
    run(&mut build)?;
    Ok(root().join("target/release"))
}

#[cfg(test)]
mod tests {
    use super::host_port;

    #[test]
    fn host_port_parses_urls() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5432/urr", 5432),
            "127.0.0.1:5432"
        );
        assert_eq!(host_port("redis://127.0.0.1", 6379), "127.0.0.1:6379");
        assert_eq!(
            host_port("redis://:pw@localhost:6380/0", 6379),
            "localhost:6380"
        );
    }
}
