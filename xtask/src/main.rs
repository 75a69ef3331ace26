//! `cargo xtask <command>`: every piece of project automation, in Rust (no shell scripts).
//!
//! - `dev`   runs the whole platform locally with demo data;
//! - `test`  runs everything CI runs (formatting, static checks, lints, all tests, wasm
//!   builds), or one stage of it (`--only native|edge|spin|frontend`);
//! - `bench` measures against baselines run at the same time (`bench booking`:
//!   reservations/s vs pgbench and redis-benchmark; `bench edge`: status polls through
//!   `wrangler dev` vs a no-op worker, and the workers' compressed sizes);
//! - `keys`  prints a fresh set of signing keys as `URR_*` lines;
//! - `web-api` regenerates the web app's typed API client; `e2e` runs its browser tests.
//!
//! Each command installs what it can (rustup targets, pinned cargo tools, npm packages)
//! and otherwise stops with a message naming the missing piece and the command that
//! installs it.

mod bench;
mod checks;
mod dev;
mod edge;
mod frontend;
mod keys;
mod load;
mod services;
mod spin;
mod stack;
mod test;
mod util;
mod webbench;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  dev             run the platform locally (Postgres, Redis, origin, edge, demo data)
  test            run formatting checks, clippy, every test and the wasm builds (CI);
                  `test --only native|edge|spin|frontend` runs one stage,
                  `test --help` says more
  check           the static checks alone: no cycle between the origin's modules, every
                  path in ARCHITECTURE.md's code map exists (seconds, no build)
  keys            print fresh origin and edge signing keys as URR_* environment lines
  web-api         regenerate the web app's API description and TypeScript types from
                  the origin's code (frontend/openapi.json, frontend/src/api/schema.d.ts)
  e2e [args]      the web app's browser tests alone (a fresh platform on free ports,
                  Playwright in the system Chromium); args go to `playwright test`
  load [flags]    the on-sale load test: 150,000 fans through the native edge, two
                  origin replicas and the Toss fake (`--fans N`, `--ramp S`, `--burst S`,
                  `--events 1-3`, `--rate N`); writes target/load/report.{json,html};
                  `load --soak` watches memory over a million requests, `load
                  --edge-platform wrangler` runs a small one through wrangler dev
  bench booking   reservations/s and p50/p99 over HTTP vs pgbench and redis-benchmark
                  (writes target/bench/booking.json)
  bench queue     tier-2 joins/s and status polls/s over HTTP vs redis-benchmark
                  EVALSHA of the status script (writes target/bench/queue.json)
  bench edge      edge status polls/s and p50/p99 vs a no-op worker; wasm sizes
                  (writes target/bench/edge.json)
  bench web       the web app's gzipped JS per route vs its budget, and the 4,900-seat
                  map's render and selection times in Chromium (target/bench/web.json)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dev") => dev::run(&args[1..]),
        Some("test") => test::run(&args[1..]),
        Some("keys") => keys::run(),
        Some("web-api") => frontend::regenerate_api(),
        Some("e2e") => frontend::e2e(&args[1..]),
        Some("check") => {
            let root = util::root();
            checks::module_cycles(&root).and_then(|()| checks::code_map_paths(&root))
        }
        Some("load") => load::run(&args[1..]),
        Some("bench") => match args.get(1).map(String::as_str) {
            Some("booking") => bench::booking(&args[2..]),
            Some("queue") => bench::queue(&args[2..]),
            Some("edge") => edge::bench(&args[2..]),
            Some("web") => webbench::run(&args[2..]),
            Some("tokens") => bench::tokens(&args[2..]),
            _ => Err(anyhow::anyhow!(
                "usage: cargo xtask bench booking [--clients N] [--hot-requests N]\n       \
                 cargo xtask bench queue [--clients N] [--fans N] [--polls N]\n       \
                 cargo xtask bench edge [--duration-secs N] [--clients N]\n       \
                 cargo xtask bench web\n       \
                 cargo xtask bench tokens [--millis N]"
            )),
        },
        Some("-h" | "--help" | "help") | None => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(other) => Err(anyhow::anyhow!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nxtask: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
