//! `cargo xtask bench <name>`: benchmarks that report ratios to baselines measured in the
//! same run, never absolute numbers alone.
//!
//! `bench booking`: builds the origin and the load generator in release mode, starts the
//! origin on a fresh database (`urr_bench`) with its background jobs, runs
//! `tests/load`'s `booking-bench` against it over loopback, and stops everything. The
//! table is printed and written to `target/bench/booking.json`.

use crate::keys;
use crate::services::{self, Purpose};
use crate::util::{self, cargo, run as sh};
use anyhow::{Context, Result};
use std::process::{Child, Command};
use std::time::Duration;

pub fn booking(args: &[String]) -> Result<()> {
    against_origin("booking", "booking-bench", &[], args)
}

/// `bench queue`: tier-2 joins and status polls over HTTP against a `redis-benchmark`
/// EVALSHA of the status script; `target/bench/queue.json`.
pub fn queue(args: &[String]) -> Result<()> {
    against_origin("queue", "queue-bench", &["URR_EDGE_SIGNING_KEY"], args)
}

/// `bench tokens`: signing and verifying tokens against the raw Ed25519 signature and
/// `jsonwebtoken`, in one process on one core; then the same loops compiled to wasm with
/// the edge's profile and timed in Node.js's V8 (the engine of Cloudflare's workerd).
/// Both land in `target/bench/tokens.json` (the wasm figures under `wasm`).
pub fn tokens(args: &[String]) -> Result<()> {
    util::step("bench tokens: release build");
    let bin = util::release_build(&[("urr-load", "token-bench")])?;
    util::step("bench tokens: native");
    sh(Command::new(bin.join("token-bench")).args(args))?;

    util::step("bench tokens: wasm (the edge's wasm-release profile) in V8");
    crate::test::ensure_target("wasm32-unknown-unknown")?;
    sh(cargo().args([
        "build",
        "-p",
        "wasm-token-bench",
        "--lib",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "wasm-release",
    ]))?;
    let module =
        util::root().join("target/wasm32-unknown-unknown/wasm-release/wasm_token_bench.wasm");
    let node = util::which("node")
        .context("Node.js is needed to time the wasm module (Debian: nodejs)")?;
    let out = Command::new(node)
        .arg(util::root().join("tests/wasm-token-bench/run.mjs"))
        .arg(&module)
        .output()
        .context("running tests/wasm-token-bench/run.mjs")?;
    if !out.status.success() {
        anyhow::bail!(
            "the wasm token bench failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let wasm: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("the wasm token bench printed no JSON")?;
    let path = util::root().join("target/bench/tokens.json");
    let mut report: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
    let ratio = |k: &str, native: &str| {
        let w = wasm[k].as_f64().unwrap_or(0.0);
        let n = report[native].as_f64().unwrap_or(0.0);
        if n > 0.0 { w / n } else { 0.0 }
    };
    let (sign_ratio, verify_ratio) = (
        ratio("sign_per_sec", "sign_per_sec"),
        ratio("verify_per_sec", "verify_per_sec"),
    );
    println!(
        "\n| in wasm ({}) | per second | vs native |\n|---|---:|---:|\n| sign | {} | {sign_ratio:.2} |\n| verify | {} | {verify_ratio:.2} |",
        wasm["engine"].as_str().unwrap_or("?"),
        wasm["sign_per_sec"],
        wasm["verify_per_sec"],
    );
    report["wasm"] = serde_json::json!({
        "engine": wasm["engine"],
        "sign_per_sec": wasm["sign_per_sec"],
        "verify_per_sec": wasm["verify_per_sec"],
        "sign_vs_native": sign_ratio,
        "verify_vs_native": verify_ratio,
        "module_bytes": std::fs::metadata(&module).map(|m| m.len()).unwrap_or(0),
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&report)?)?;
    println!("wrote {}", path.display());
    Ok(())
}

/// Starts a release origin on a fresh `urr_bench` database and runs the load generator
/// `bin` against it, passing `--<key>` for each of `keys` (lower-cased, `URR_` dropped).
fn against_origin(name: &str, bin_name: &str, keys: &[&str], args: &[String]) -> Result<()> {
    util::step(&format!("bench {name}: postgres and redis"));
    let services = services::ensure(Purpose::Test)?;
    let db_name = "urr_bench";
    let psql_admin = services.pg_admin_url.clone();
    let _ = Command::new("psql")
        .args([
            &psql_admin,
            "-qc",
            &format!("DROP DATABASE IF EXISTS {db_name} WITH (FORCE)"),
        ])
        .status();
    services.ensure_database(db_name)?;
    let db_url = services.pg_url(db_name);

    util::step(&format!("bench {name}: release builds"));
    let bin = util::release_build(&[("origin", "urr-origin"), ("urr-load", bin_name)])?;

    let generated = keys::generate()?;
    let port = util::free_port()?;
    let addr = format!("127.0.0.1:{port}");
    let metrics_addr = format!("127.0.0.1:{}", util::free_port()?);
    let prefix = format!("bench:{}:", std::process::id());
    util::step(&format!("bench {name}: starting the origin"));
    let mut origin = OriginGuard(
        Command::new(bin.join("urr-origin"))
            .arg("serve")
            .env("URR_HTTP_ADDR", &addr)
            .env("URR_METRICS_ADDR", &metrics_addr)
            // Payments are not benchmarked; the docs test keys are fine here.
            .env("URR_TOSS_ALLOW_TEST", "true")
            .env("URR_DATABASE_URL", &db_url)
            .env("URR_DATABASE_MAX_CONNECTIONS", "12")
            .env("URR_REDIS_URL", &services.redis_url)
            .env("URR_REDIS_PREFIX", &prefix)
            .env(
                "URR_ORIGIN_SIGNING_KEY",
                &generated["URR_ORIGIN_SIGNING_KEY"],
            )
            .env("URR_EDGE_PUBLIC_KEYS", &generated["URR_EDGE_PUBLIC_KEYS"])
            .env("URR_LOG", "warn")
            // The hot-seat phase sends 20,000+ attempts from 2,000 accounts within a few
            // seconds (10 a second each), which the default per-account limit of 5/s
            // would cut to 429s; the bench measures booking, not the limiter.
            .env("URR_RATE_RESERVATIONS_PER_USER_PER_SEC", "100")
            .spawn()
            .context("starting urr-origin")?,
    );
    util::wait_for("the origin", Duration::from_secs(60), || {
        util::reachable(&addr)
    })?;

    util::step(&format!("bench {name}: load"));
    let out = util::root().join(format!("target/bench/{name}.json"));
    let mut load = Command::new(bin.join(bin_name));
    for k in keys {
        let flag = format!(
            "--{}",
            k.trim_start_matches("URR_")
                .to_lowercase()
                .replace('_', "-")
        );
        load.arg(flag).arg(&generated[*k]);
    }
    let result = sh(load
        .args(["--origin", &format!("http://{addr}")])
        .args(["--metrics", &format!("http://{metrics_addr}")])
        .args(["--db", &db_url])
        .args(["--redis", &services.redis_url])
        .args(["--origin-key", &generated["URR_ORIGIN_SIGNING_KEY"]])
        .arg("--out")
        .arg(&out)
        .args(args));
    origin.stop();
    drop(services);
    result
}

/// Stops the child on drop, so a failed bench never leaves an origin running.
struct OriginGuard(Child);

impl OriginGuard {
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

impl Drop for OriginGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
