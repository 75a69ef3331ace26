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
//! Before compiling anything, the static checks of [`crate::checks`] run (no cycle
//! between the origin's modules; every path of ARCHITECTURE.md's code map exists).
//!
//! `--only native|edge|spin|frontend` runs one stage (steps 1-6, 7, 8, or the web app,
//! which does not exist yet); extra arguments after `--` go to `cargo test` (e.g.
//! `cargo xtask test --only native -- auth`). `--help` prints the usage.

use crate::services::{self, Purpose};
use crate::util::{self, cargo, run as sh};
use anyhow::{Result, bail};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

pub const WASM_TARGETS: [&str; 2] = ["wasm32-unknown-unknown", "wasm32-wasip2"];

pub const USAGE: &str = "\
usage: cargo xtask test [--only <stage>] [-- <cargo test arguments>]

Runs everything CI runs; with --only, one stage:
  native    formatting, static checks (module cycles, ARCHITECTURE.md code map),
            clippy, the native crates' tests, the shared-wasm wasm builds
  edge      the Cloudflare worker: pinned tools, npm ci, worker-build, clippy,
            the conformance suite under wrangler dev and the end-to-end test
  spin      the Spin component: build, clippy, the conformance suite under the
            wasmtime test host
  frontend  the web app (frontend/): lint, type check, unit and browser tests

Arguments after `--` go to `cargo test` of the native stage, e.g.
  cargo xtask test --only native -- booking
";

/// The stages of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Native,
    Edge,
    Spin,
    Frontend,
}

impl Stage {
    const ALL: [Stage; 4] = [Stage::Native, Stage::Edge, Stage::Spin, Stage::Frontend];

    fn parse(s: &str) -> Result<Stage> {
        Ok(match s {
            "native" => Stage::Native,
            "edge" => Stage::Edge,
            "spin" => Stage::Spin,
            "frontend" => Stage::Frontend,
            other => bail!("unknown stage `{other}`; the stages are native, edge, spin, frontend"),
        })
    }
}

/// What the command line asked for.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub stages: Vec<Stage>,
    /// Passed to `cargo test`.
    pub test_args: Vec<String>,
    pub help: bool,
}

pub fn parse(args: &[String]) -> Result<Options> {
    let mut stages = Vec::new();
    let mut test_args = Vec::new();
    let mut help = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => help = true,
            "--only" => {
                let stage = it.next().ok_or_else(|| {
                    anyhow::anyhow!("--only needs a stage: native, edge, spin or frontend")
                })?;
                stages.push(Stage::parse(stage)?);
            }
            "--" => {
                test_args.extend(it.by_ref().cloned());
            }
            other if other.starts_with("--only=") => {
                stages.push(Stage::parse(&other["--only=".len()..])?);
            }
            // Kept for `cargo xtask test auth` as before: a bare word filters the tests.
            other => test_args.push(other.to_owned()),
        }
    }
    if stages.is_empty() {
        stages = Stage::ALL.to_vec();
    }
    Ok(Options {
        stages,
        test_args,
        help,
    })
}

pub fn run(args: &[String]) -> Result<()> {
    let options = parse(args)?;
    if options.help {
        print!("{USAGE}");
        return Ok(());
    }
    let runs = |s: Stage| options.stages.contains(&s);
    let args = &options.test_args;
    let started = Instant::now();
    let mut timings = Timings::default();
    let mut timed = |name: &str, f: &mut dyn FnMut() -> Result<()>| timings.time(name, f);

    if runs(Stage::Native) {
        timed("static checks (module cycles, code map)", &mut || {
            let root = util::root();
            crate::checks::module_cycles(&root)?;
            crate::checks::code_map_paths(&root)
        })?;
    }
    if runs(Stage::Native) {
        timed("formatting (cargo fmt --check)", &mut || {
            sh(cargo().args(["fmt", "--all", "--check"]))
                .map_err(|e| e.context("formatting differs; run `cargo fmt --all`"))
        })?;
    }
    if runs(Stage::Native) || runs(Stage::Edge) || runs(Stage::Spin) {
        timed("rust targets", &mut || {
            WASM_TARGETS.iter().try_for_each(|t| ensure_target(t))
        })?;
    }

    let needs_services = runs(Stage::Native) || runs(Stage::Edge) || runs(Stage::Spin);
    let mut services = None;
    if needs_services {
        timed("postgres and redis", &mut || {
            services = Some(services::ensure(Purpose::Test)?);
            Ok(())
        })?;
    }
    let env: Vec<(&str, String)> = match &services {
        Some(services) => vec![
            ("URR_TEST_DATABASE_URL", services.pg_admin_url.clone()),
            ("URR_TEST_REDIS_URL", services.redis_url.clone()),
        ],
        None => Vec::new(),
    };

    if runs(Stage::Native) {
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
    }
    if runs(Stage::Edge) {
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
    }
    if runs(Stage::Spin) {
        timed("spin: build (edge-spin, wasm32-wasip2)", &mut || {
            crate::spin::build()
        })?;
        timed("spin: clippy (component, test host)", &mut || {
            crate::spin::clippy()
        })?;
        timed("spin: conformance suite (wasmtime test host)", &mut || {
            crate::spin::conformance(&env)
        })?;
    }
    if runs(Stage::Frontend) {
        timed("frontend (web app)", &mut || crate::frontend::test())?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stages_and_test_arguments_parse() {
        let all = parse(&args(&[])).expect("ok");
        assert_eq!(all.stages, Stage::ALL.to_vec());
        assert!(!all.help);
        let one = parse(&args(&["--only", "native", "--", "booking", "--nocapture"])).expect("ok");
        assert_eq!(one.stages, [Stage::Native]);
        assert_eq!(one.test_args, ["booking", "--nocapture"]);
        assert_eq!(
            parse(&args(&["--only=spin"])).expect("ok").stages,
            [Stage::Spin]
        );
        assert_eq!(parse(&args(&["auth"])).expect("ok").test_args, ["auth"]);
        assert!(parse(&args(&["--help"])).expect("ok").help);
        assert!(parse(&args(&["-h"])).expect("ok").help);
        let bad = parse(&args(&["--only", "web"])).expect_err("unknown stage");
        assert!(
            bad.to_string().contains("native, edge, spin, frontend"),
            "{bad}"
        );
        assert!(parse(&args(&["--only"])).is_err());
    }
}
