//! The Cloudflare edge worker in `cargo xtask test`, `dev` and `bench edge`.
//!
//! Follows the recipe in `docs/edge-toolchain.md`:
//!
//! * pinned tools: `worker-build` 0.8.7 (installed `--locked`) and `wasm-bindgen-cli`
//!   0.2.130 (installed **without** `--locked`: the lockfile pins a `webpki-roots` the
//!   registry mirror lacks), checked by version before anything is installed;
//! * `npm ci` in `edge-workers/cloudflare` (exact pins, committed lockfile; skipped when
//!   `node_modules` is already at the lockfile's state);
//! * `worker-build --profile wasm-release --no-opt` with `WASM_BINDGEN_BIN` and
//!   `ESBUILD_BIN` set, so nothing is downloaded from outside the package registries;
//! * every `wrangler` run with `CLOUDFLARE_CF_FETCH_ENABLED=false` and
//!   `WRANGLER_SEND_METRICS=false`.

use crate::util::{self, cargo, run as sh};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub const WORKER_BUILD_VERSION: &str = "0.8.7";
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";

/// `edge-workers/cloudflare`.
pub fn worker_dir() -> PathBuf {
    util::root().join("edge-workers/cloudflare")
}

fn cargo_bin(name: &str) -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| PathBuf::from(".cargo"));
    home.join("bin").join(name)
}

/// The binary's path if `<bin> --version` mentions `version`.
fn tool_at_version(bin: &str, version: &str) -> Option<PathBuf> {
    [cargo_bin(bin)]
        .into_iter()
        .chain(util::which(bin))
        .find(|p| {
            p.is_file()
                && util::output(Command::new(p).arg("--version"))
                    .is_some_and(|v| v.contains(version))
        })
}

fn ensure_tool(bin: &str, version: &str, install: &[&str]) -> Result<PathBuf> {
    if let Some(p) = tool_at_version(bin, version) {
        println!("{bin} {version}: {}", p.display());
        return Ok(p);
    }
    let line = format!("cargo {}", install.join(" "));
    println!("{bin} {version} missing; installing: {line}");
    let ok = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(install)
        .status()
        .is_ok_and(|s| s.success());
    match tool_at_version(bin, version) {
        Some(p) if ok => Ok(p),
        _ => bail!(
            "{bin} {version} is required and could not be installed. Run this where crates.io \
             is reachable:\n    {line}"
        ),
    }
}

/// Checks (or installs) the pinned `worker-build` and `wasm-bindgen`.
pub fn ensure_tools() -> Result<()> {
    ensure_tool(
        "worker-build",
        WORKER_BUILD_VERSION,
        &[
            "install",
            "worker-build",
            "--version",
            WORKER_BUILD_VERSION,
            "--locked",
        ],
    )?;
    ensure_tool(
        "wasm-bindgen",
        WASM_BINDGEN_VERSION,
        // No --locked: see the module docs.
        &[
            "install",
            "wasm-bindgen-cli",
            "--version",
            WASM_BINDGEN_VERSION,
        ],
    )?;
    Ok(())
}

/// `npm ci` in the worker's directory, unless `node_modules` already matches the lockfile.
pub fn npm_ci() -> Result<()> {
    util::npm_ci(&worker_dir(), "wrangler", &wrangler_env())
}

/// Environment for wrangler and worker-build: no downloads, no telemetry.
pub fn wrangler_env() -> Vec<(String, String)> {
    let dir = worker_dir();
    let mut env = vec![
        ("CLOUDFLARE_CF_FETCH_ENABLED".to_owned(), "false".to_owned()),
        ("WRANGLER_SEND_METRICS".to_owned(), "false".to_owned()),
    ];
    if let Some(p) = tool_at_version("wasm-bindgen", WASM_BINDGEN_VERSION) {
        env.push(("WASM_BINDGEN_BIN".into(), p.to_string_lossy().into_owned()));
    }
    let esbuild = dir.join("node_modules/.bin/esbuild");
    if esbuild.is_file() {
        env.push(("ESBUILD_BIN".into(), esbuild.to_string_lossy().into_owned()));
    }
    env
}

/// `worker-build --profile wasm-release --no-opt` into `out_dir` (relative to the
/// worker), with extra cargo arguments (e.g. `--features noop`).
pub fn build(out_dir: &str, cargo_args: &[&str]) -> Result<()> {
    let worker_build = tool_at_version("worker-build", WORKER_BUILD_VERSION)
        .context("worker-build is missing; run `cargo xtask test` or see edge-toolchain.md")?;
    let mut cmd = Command::new(worker_build);
    cmd.args([
        "--profile",
        "wasm-release",
        "--no-opt",
        "--out-dir",
        out_dir,
    ])
    .args(cargo_args)
    .current_dir(worker_dir())
    .envs(wrangler_env());
    sh(&mut cmd)
}

/// Clippy for the worker (wasm32) and the conformance crate (native).
pub fn clippy() -> Result<()> {
    sh(cargo().args([
        "clippy",
        "-p",
        "edge-cloudflare",
        "--target",
        "wasm32-unknown-unknown",
        "--",
        "-D",
        "warnings",
    ]))?;
    sh(cargo().args([
        "clippy",
        "-p",
        "edge-conformance",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))
}

/// The conformance suite against the built worker under `wrangler dev` and against
/// the native host (`urr-edge`), and the
/// end-to-end test (worker in front of the real origin, which needs `env`: the test
/// Postgres and Redis).
pub fn conformance(env: &[(&str, String)]) -> Result<()> {
    // The native host runs the same suite as a child process (`tests/native.rs`).
    sh(cargo().args(["build", "-p", "edge-native", "--bin", "urr-edge"]))?;
    sh(cargo()
        .args([
            "test",
            "-p",
            "edge-conformance",
            "--",
            "--nocapture",
            "--test-threads=1",
        ])
        .envs(wrangler_env())
        .envs(env.iter().cloned()))
}

/// A wrangler config for a local run: the worker's `wrangler.toml` without `[build]`
/// (already built) and with `vars` as `[vars]`, `main` pointing into `build_dir`.
pub fn local_config(build_dir: &str, vars: &BTreeMap<String, String>) -> Result<String> {
    let dir = worker_dir();
    let original =
        std::fs::read_to_string(dir.join("wrangler.toml")).context("reading wrangler.toml")?;
    let mut kept = String::new();
    let mut skip = false;
    for line in original.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            skip = t == "[build]" || t == "[vars]";
        }
        if skip || t.starts_with("main =") {
            continue;
        }
        kept.push_str(line);
        kept.push('\n');
    }
    let main = dir.join(build_dir).join("index.js");
    let mut text = format!(
        "main = {}\n{kept}\n[vars]\n",
        toml_str(&main.to_string_lossy())
    );
    for (k, v) in vars {
        text.push_str(&format!("{k} = {}\n", toml_str(v)));
    }
    Ok(text)
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// Starts `wrangler dev` for a local stack: the built worker on `edge_addr`, in front
/// of the origin at `origin_addr`, with the dev keys, keeping its state in `state`
/// (`cargo xtask dev`: `target/dev/edge-state`, kept between runs).
pub fn start_dev(
    origin_addr: &str,
    edge_addr: &str,
    keys: &BTreeMap<String, String>,
    state: &Path,
    log: Option<&Path>,
) -> Result<Child> {
    ensure_tools()?;
    npm_ci()?;
    build("build", &[])?;
    let (ip, port) = edge_addr
        .rsplit_once(':')
        .with_context(|| format!("URR_EDGE_ADDR `{edge_addr}` is not host:port"))?;
    let mut vars = BTreeMap::new();
    let key = |k: &str| {
        keys.get(k)
            .cloned()
            .with_context(|| format!("{k} missing from the dev keys"))
    };
    vars.insert("EDGE_SIGNING_KEY".into(), key("URR_EDGE_SIGNING_KEY")?);
    vars.insert("ORIGIN_PUBLIC_KEYS".into(), key("URR_ORIGIN_PUBLIC_KEYS")?);
    vars.insert("ORIGIN_URL".into(), format!("http://{origin_addr}"));
    vars.insert("COOKIE_SECURE".into(), "false".into());
    if let Some(secret) = crate::keys::current_proxy_secret(keys) {
        vars.insert("EDGE_PROXY_SECRET".into(), secret);
    }
    std::fs::create_dir_all(state)?;
    let config = state.join("wrangler.toml");
    std::fs::write(&config, local_config("build", &vars)?)?;
    spawn_wrangler(&config, ip, port, state, log)
}

/// `wrangler dev --config <config> --ip <ip> --port <port> --persist-to <state>`.
pub fn spawn_wrangler(
    config: &Path,
    ip: &str,
    port: &str,
    state: &Path,
    log: Option<&Path>,
) -> Result<Child> {
    let dir = worker_dir();
    let mut cmd = Command::new(dir.join("node_modules/.bin/wrangler"));
    cmd.args(["dev", "--config"])
        .arg(config)
        .args(["--ip", ip, "--port", port, "--persist-to"])
        .arg(state)
        .current_dir(&dir)
        .envs(wrangler_env())
        .stdin(Stdio::null());
    if let Some(log) = log {
        let f = std::fs::File::create(log)?;
        cmd.stdout(f.try_clone()?).stderr(f);
    }
    cmd.spawn().context("starting wrangler dev")
}

/// `cargo xtask bench edge`.
pub fn bench(args: &[String]) -> Result<()> {
    let (_, t) = util::step("edge bench: pinned tools and npm packages");
    ensure_tools()?;
    npm_ci()?;
    util::step("edge bench: no-op worker (baseline)");
    build("build-noop", &["--features", "noop"])?;
    util::step("edge bench: the edge worker");
    build("build", &[])?;
    // Size only: the Spin component has no local runtime to load it under wrk.
    util::step("edge bench: the Spin component (size)");
    crate::spin::build()?;
    util::step("edge bench: load (status polls vs no-op, same run)");
    let mut c = cargo();
    // Release: a debug load generator would spend the CPU the workers need.
    c.args([
        "run",
        "--release",
        "-p",
        "edge-conformance",
        "--bin",
        "edge-bench",
        "--",
    ])
    .arg("--out")
    .arg(util::root().join("target/bench/edge.json"))
    .arg("--spin-wasm")
    .arg(crate::spin::component())
    .args(args)
    .envs(wrangler_env());
    sh(&mut c)?;
    println!("edge bench done in {:.0} s", t.elapsed().as_secs_f64());
    Ok(())
}
