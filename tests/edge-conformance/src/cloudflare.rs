//! The Cloudflare platform: the built worker under `wrangler dev` (workerd, locally).
//!
//! [`Cloudflare::start`] expects `edge-workers/cloudflare/build/index.js` (run
//! `worker-build` first; `cargo xtask test` does) and `node_modules` (`npm ci`). It
//! writes a throw-away wrangler config into `target/edge-conformance/<run>/`: the
//! worker's own `wrangler.toml` without its `[build]` section (so `wrangler dev` does not
//! rebuild), `main` pointing at the built worker, and the suite's variables in `[vars]`
//! (keys stay off the command line and the process list). Durable Object state
//! goes to a fresh `--persist-to` directory, so every run starts empty. The process runs
//! in its own process group, and dropping the [`RunningEdge`] kills the group (wrangler
//! and workerd).

use crate::{Platform, RunningEdge, Vars};
use anyhow::{Context, Result, bail};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `wrangler dev` may take to answer its first request.
const START_LIMIT: Duration = Duration::from_secs(90);

pub struct Cloudflare {
    /// `edge-workers/cloudflare`.
    pub worker_dir: PathBuf,
    /// Where run directories go.
    pub scratch: PathBuf,
    /// A port to listen on; `None` picks a free one.
    pub port: Option<u16>,
    /// Build output directory (relative to `worker_dir`), `build` by default.
    pub build_dir: String,
}

impl Default for Cloudflare {
    fn default() -> Self {
        Self::new()
    }
}

impl Cloudflare {
    /// The worker of this workspace.
    pub fn new() -> Self {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../..")
            .canonicalize()
            .unwrap_or_else(|_| PathBuf::from("."));
        Cloudflare {
            worker_dir: root.join("edge-workers/cloudflare"),
            scratch: root.join("target/edge-conformance"),
            port: None,
            build_dir: "build".into(),
        }
    }

    /// The run directory of a worker started on `port` by this process (config, log,
    /// and `state/`: the Durable Objects' storage, one SQLite file per object under
    /// `state/v3/do/`).
    pub fn run_dir(&self, port: u16) -> PathBuf {
        self.scratch.join(format!("{}-{port}", std::process::id()))
    }

    /// The generated config's text.
    fn config(&self, vars: &Vars) -> Result<String> {
        let original = std::fs::read_to_string(self.worker_dir.join("wrangler.toml"))
            .context("reading wrangler.toml")?;
        let main = self.worker_dir.join(&self.build_dir).join("index.js");
        let mut out = String::new();
        let mut skip = false;
        // Drop `main`, `[build]` and `[vars]`; keep the rest (bindings, migrations).
        for line in original.lines() {
            let trimmed = line.trim();
            if trimmed.starts_with('[') {
                skip = trimmed == "[build]" || trimmed == "[vars]";
            }
            if skip || trimmed.starts_with("main =") {
                continue;
            }
            out.push_str(line);
            out.push('\n');
        }
        // `main` first: top-level keys must precede every table.
        let mut text = format!("main = {}\n{out}", toml_str(&main.to_string_lossy()));
        text.push_str("\n[vars]\n");
        for (k, v) in &vars.0 {
            text.push_str(&format!("{k} = {}\n", toml_str(v)));
        }
        Ok(text)
    }
}

fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A free local port.
pub fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Kills the process group on drop.
struct Group {
    child: Child,
    log: PathBuf,
}

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{pgid}")])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .status();
        let _ = self.child.wait();
        eprintln!(
            "wrangler dev did not stop on TERM; killed. Log: {}",
            self.log.display()
        );
    }
}

impl Platform for Cloudflare {
    fn name(&self) -> &str {
        "cloudflare"
    }

    /// `wrangler dev` sets `CF-Connecting-IP` only when the client sent none; Cloudflare
    /// itself always replaces it with the address it saw.
    fn client_ip_header(&self) -> &str {
        "cf-connecting-ip"
    }

    async fn start(&self, vars: &Vars) -> Result<RunningEdge> {
        let built = self.worker_dir.join(&self.build_dir).join("index.js");
        if !built.is_file() {
            bail!(
                "{} is missing: build the worker first (`cd edge-workers/cloudflare && \
                 WASM_BINDGEN_BIN=$HOME/.cargo/bin/wasm-bindgen worker-build --profile \
                 wasm-release --no-opt`, or `cargo xtask test`)",
                built.display()
            );
        }
        let wrangler = self.worker_dir.join("node_modules/.bin/wrangler");
        if !wrangler.is_file() {
            bail!(
                "{} is missing: run `npm ci` in edge-workers/cloudflare (needs node and npm)",
                wrangler.display()
            );
        }
        let port = match self.port {
            Some(p) => p,
            None => free_port()?,
        };
        let run = self.run_dir(port);
        std::fs::create_dir_all(&run)?;
        let config = run.join("wrangler.toml");
        std::fs::write(&config, self.config(vars)?)?;
        let log = run.join("wrangler.log");
        let log_file = std::fs::File::create(&log)?;
        let child = Command::new(&wrangler)
            .args(["dev", "--config"])
            .arg(&config)
            .args(["--ip", "127.0.0.1", "--port", &port.to_string()])
            .arg("--persist-to")
            .arg(run.join("state"))
            .args(["--log-level", "warn"])
            .current_dir(&self.worker_dir)
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .process_group(0)
            .spawn()
            .context("starting wrangler dev")?;
        let mut group = Group {
            child,
            log: log.clone(),
        };
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .no_proxy()
            .build()?;
        let started = Instant::now();
        loop {
            // The worker answers this edge-reserved path with 404 (the no-op worker with
            // 200); either means workerd runs our code.
            if let Ok(r) = http.get(format!("{base}/__urr/ready")).send().await
                && matches!(r.status().as_u16(), 200 | 404)
            {
                break;
            }
            if let Ok(Some(status)) = group.child.try_wait() {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("wrangler dev exited ({status}) before answering:\n{text}");
            }
            if started.elapsed() > START_LIMIT {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                bail!("wrangler dev did not answer within {START_LIMIT:?}:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(RunningEdge::new(base, group))
    }
}
