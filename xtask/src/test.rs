//! `cargo xtask test`: everything CI runs, in order, each step timed.
//!
//! 1. `cargo fmt --check`;
//! 2. the wasm targets (added with rustup when missing);
//! 3. Postgres and Redis (see `services`): the tests get `URR_TEST_DATABASE_URL` and
//!    `URR_TEST_REDIS_URL`, and each test isolates itself (own database, own key prefix);
//! 4. `cargo clippy --all-targets -D warnings` for the native crates and for
//!    `shared-wasm` on both wasm targets;
//! 5. `cargo test` of the native crates (unit, property and integration tests);
//! 6. `shared-wasm` built for `wasm32-unknown-unknown` and `wasm32-wasip2`;
//! 7. the edge (see `edge`): pinned `worker-build`/`wasm-bindgen`, `npm ci`, the
//!    Cloudflare worker built with `worker-build`, clippy for the worker (wasm32) and
//!    the conformance crate, then the conformance suite against the worker under
//!    `wrangler dev` and the end-to-end test (edge join → pass → origin tier 2 →
//!    entry token → seat reserved through the edge);
//! 8. the Spin edge (see `spin`): the component built for `wasm32-wasip2`, clippy for it
//!    and the wasmtime test host, then the same conformance suite against it under the
//!    test host (with the Redis above).
//!
//! Extra arguments go to `cargo test` (e.g. `cargo xtask test -- auth`).

use crate::services::{self, Purpose};
use crate::util::{self, cargo, run as sh};
use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

pub const WASM_TARGETS: [&str; 2] = ["wasm32-unknown-unknown", "wasm32-wasip2"];

pub fn run(args: &[String]) -> Result<()> {
    let started = Instant::now();
    let mut timings = Timings::default();
    let mut timed = |name: &str, f: &mut dyn FnMut() -> Result<()>| timings.time(name, f);

    timed("formatting (cargo fmt --check)", &mut || {
        sh(cargo().args(["fmt", "--all", "--check"]))
            .map_err(|e| e.context("formatting differs; run `cargo fmt --all`"))
    })?;
    timed("rust targets", &mut || {
        WASM_TARGETS.iter().try_for_each(|t| ensure_target(t))
    })?;

    let mut services = None;
    timed("postgres and redis", &mut || {
        services = Some(services::ensure(Purpose::Test)?);
        Ok(())
    })?;
    let services = services.expect("set by the step above");
    let env = [
        ("URR_TEST_DATABASE_URL", services.pg_admin_url.clone()),
        ("URR_TEST_REDIS_URL", services.redis_url.clone()),
    ];

    timed("clippy (native crates)", &mut || {
        sh(cargo().args(["clippy", "--all-targets", "--", "-D", "warnings"]))
    })?;
    timed("clippy (shared-wasm on wasm targets)", &mut || {
        WASM_TARGETS.iter().try_for_each(|t| {
            sh(cargo().args([
                "clippy",
                "-p",
                "shared-wasm",
                "--target",
                t,
                "--",
                "-D",
                "warnings",
            ]))
        })
    })?;
    timed("tests (native crates)", &mut || {
        let mut c = cargo();
        c.arg("test").envs(env.iter().cloned());
        if !args.is_empty() {
            c.arg("--").args(args.iter().filter(|a| *a != "--"));
        }
        sh(&mut c)
    })?;
    timed("wasm builds (shared-wasm)", &mut || {
        WASM_TARGETS.iter().try_for_each(|t| {
            sh(cargo().args([
                "build",
                "-p",
                "shared-wasm",
                "--target",
                t,
                "--profile",
                "wasm-release",
            ]))
        })
    })?;
    timed(
        "edge: pinned tools (worker-build, wasm-bindgen)",
        &mut || crate::edge::ensure_tools(),
    )?;
    timed("edge: npm ci (edge-workers/cloudflare)", &mut || {
        crate::edge::npm_ci()
    })?;
    timed("edge: worker-build (cloudflare)", &mut || {
        crate::edge::build("build", &[])
    })?;
    timed("edge: clippy (worker on wasm32, conformance)", &mut || {
        crate::edge::clippy()
    })?;
    timed("edge: conformance suite (cloudflare)", &mut || {
        crate::edge::conformance(&env)
    })?;
    timed("spin: build (edge-spin, wasm32-wasip2)", &mut || {
        crate::spin::build()
    })?;
    timed("spin: clippy (component, test host)", &mut || {
        crate::spin::clippy()
    })?;
    timed("spin: conformance suite (wasmtime test host)", &mut || {
        crate::spin::conformance(&env)
    })?;
    drop(services);

    println!("\n==> summary");
    for (name, secs) in &timings.0 {
        println!("  {secs:>7.1} s  {name}");
    }
    println!(
        "  {:>7.1} s  total on {} cores",
        started.elapsed().as_secs_f64(),
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!("\nall checks passed");
    Ok(())
}

/// Step names with their durations in seconds.
#[derive(Default)]
pub struct Timings(pub Vec<(String, f64)>);

impl Timings {
    pub fn time(&mut self, name: &str, f: &mut dyn FnMut() -> Result<()>) -> Result<()> {
        let (name, t) = util::step(name);
        let r = f();
        self.0.push((name, t.elapsed().as_secs_f64()));
        r
    }
}

/// Makes sure the standard library for `target` is installed: present in the sysroot,
/// or added with rustup, or a clear error naming the fix.
pub fn ensure_target(target: &str) -> Result<()> {
    let sysroot =
        util::output(Command::new("rustc").args(["--print", "sysroot"])).unwrap_or_default();
    if Path::new(&sysroot)
        .join("lib/rustlib")
        .join(target)
        .is_dir()
    {
        println!("{target}: installed");
        return Ok(());
    }
    println!("{target}: missing; trying `rustup target add {target}`");
    let added = Command::new("rustup")
        .args(["target", "add", target])
        .status()
        .is_ok_and(|s| s.success());
    if added {
        return Ok(());
    }
    bail!(
        "Rust target `{target}` is not installed and `rustup target add {target}` failed \
         (rustup missing or its server unreachable). Install it where the network allows \
         (`rustup target add {target}`), or use a machine image that ships it."
    )
}
