//! `cargo xtask dev`: the whole platform on this machine, with demo data.
//!
//! Starts (or reuses) Postgres and Redis, creates the `urr` database, generates signing
//! keys once (`target/dev/keys.env`), builds and migrates the origin, seeds the demo
//! data, runs the origin, prints where everything is and how to log in, and stops what
//! it started on Ctrl-C.
//!
//! It also builds the Cloudflare edge worker and runs it with `wrangler dev` in front of
//! the origin on `URR_EDGE_ADDR` (default `127.0.0.1:8787`), which is the URL to use.
//!
//! Payments: without `URR_TOSS_SECRET_KEY` in the environment, the Toss fake
//! (`tests/toss-fake`) runs on `URR_TOSS_FAKE_ADDR` (default `127.0.0.1:8089`) and the
//! origin talks to it with Toss's public docs keys; its widget test page pays demo
//! reservations and its webhooks go to the origin. With a key set, the origin talks to
//! `URR_TOSS_BASE_URL` (default the real Toss API) and no fake runs.
//!
//! The web app (`frontend/`) is built first (`npm ci` when its lock file changed, then
//! `npm run build`) and served by the origin at `/`, so the main URL is the edge's `/`.
//!
//! Options: `--release` builds optimised binaries (slower to build, faster to run);
//! `--no-edge` skips the edge worker; `--no-web` skips the web app; `--web-dev` also
//! runs Vite's dev server on 127.0.0.1:5173 with hot reload, proxying the API and the
//! waiting rooms to the edge (or the origin with `--no-edge`).
//!
//! The processes themselves are started by [`crate::stack`], shared with the web
//! app's browser tests.

use crate::services::Purpose;
use crate::stack::{self, Stack};
use crate::util;
use anyhow::{Context, Result};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub const DEMO_PASSWORD_DEFAULT: &str = "urr-demo-1234";

pub fn run(args: &[String]) -> Result<()> {
    let flag = |f: &str| args.iter().any(|a| a == f);
    let release = flag("--release");
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }
    let web_dir = if flag("--no-web") {
        None
    } else {
        util::step("building the web app (frontend/)");
        crate::frontend::build()?
    };
    let env_or = |k: &str, d: &str| std::env::var(k).unwrap_or_else(|_| d.to_owned());
    let http_addr = env_or("URR_HTTP_ADDR", "127.0.0.1:8080");
    let edge_addr = env_or("URR_EDGE_ADDR", "127.0.0.1:8787");
    let demo_password = env_or("URR_DEMO_PASSWORD", DEMO_PASSWORD_DEFAULT);
    let metrics_addr = env_or("URR_METRICS_ADDR", "127.0.0.1:9090");
    let with_edge = !flag("--no-edge");
    let options = stack::Options {
        purpose: Purpose::Dev,
        release,
        database: "urr".into(),
        fresh_database: false,
        http_addr: http_addr.clone(),
        metrics_addr: metrics_addr.clone(),
        edge_addr: with_edge.then(|| edge_addr.clone()),
        edge_state: util::root().join("target/dev/edge-state"),
        toss_fake_addr: toss_fake_addr(),
        web_dir: web_dir.clone(),
        demo_password: demo_password.clone(),
        inherit_env: true,
        log_dir: None,
    };
    let mut stack = Stack::start(&options)?;
    let mut vite = None;
    if flag("--web-dev") {
        util::step("starting the web app's dev server (Vite, hot reload)");
        let target = if with_edge { &edge_addr } else { &http_addr };
        vite = Some(crate::frontend::dev_server(target)?);
    }

    banner(
        &http_addr,
        &metrics_addr,
        with_edge.then_some(edge_addr.as_str()),
        &demo_password,
        web_dir.is_some(),
    );
    if let Some(fake) = &stack.toss_fake_addr {
        toss_banner(&http_addr, fake);
    }
    if vite.is_some() {
        println!(
            "\n  ► web app with hot reload: http://127.0.0.1:5173/ (API and waiting rooms proxied)"
        );
    }
    let outcome = stack.supervise(&stop);
    if let Some(mut v) = vite {
        let _ = v.kill();
        let _ = v.wait();
    }
    drop(stack);
    println!("\nstopped everything `cargo xtask dev` started");
    outcome
}

fn banner(http_addr: &str, metrics_addr: &str, edge_addr: Option<&str>, password: &str, web: bool) {
    let metrics = if metrics_addr.trim().is_empty() {
        "off (URR_METRICS_ADDR is empty)".to_owned()
    } else {
        format!("http://{metrics_addr}/metrics")
    };
    let front = edge_addr.unwrap_or(http_addr);
    if web {
        println!("\n  ► the web app: http://{front}/ (log in as a demo account below)");
    }
    if let Some(edge) = edge_addr {
        println!(
            "\n  ► main URL (edge, in front of the origin): http://{edge}/\n    waiting rooms at http://{edge}/e/<event_id>; the API through the edge at http://{edge}/api/v1/events\n    queue demo (2 fans at a time): http://{edge}/e/{QUEUED_EDGE_EVENT}\n    origin-only line (no edge tier): POST http://{http_addr}/api/v1/events/{QUEUED_ORIGIN_EVENT}/queue/join with {{}}"
        );
    }
    println!(
        "\n\
         ┌──────────────────────────────────────────────────────────────────────\n\
         │ URR is running\n\
         │   origin API      http://{http_addr}/api/v1/events\n\
         │   OpenAPI         http://{http_addr}/api/v1/openapi.json\n\
         │   health          http://{http_addr}/readyz\n\
         │   metrics         {metrics}\n\
         │\n\
         │ demo accounts (password: {password})\n\
         │   admin@urr.local      admin\n\
         │   promoter@urr.local   promoter\n\
         │   fan1@urr.local … fan9@urr.local   fans\n\
         │\n\
         │ log in:  curl -s http://{http_addr}/api/v1/auth/login \\\n\
         │            -H 'content-type: application/json' \\\n\
         │            -d '{{\"email\":\"fan1@urr.local\",\"password\":\"{password}\"}}'\n\
         │\n\
         │ Ctrl-C stops everything.\n\
         └──────────────────────────────────────────────────────────────────────"
    );
}

/// The demo events with a queue (see `origin/src/catalog/demo.rs`).
const QUEUED_EDGE_EVENT: &str = "de770000-0000-4000-8000-000000000207";
const QUEUED_ORIGIN_EVENT: &str = "de770000-0000-4000-8000-000000000208";

/// Where the Toss fake should listen, if it should run: only when no Toss secret key
/// is configured.
fn toss_fake_addr() -> Option<String> {
    let configured = std::env::var("URR_TOSS_SECRET_KEY").is_ok_and(|k| !k.trim().is_empty());
    (!configured).then(|| {
        std::env::var("URR_TOSS_FAKE_ADDR")
            .ok()
            .filter(|a| !a.trim().is_empty())
            .unwrap_or_else(|| "127.0.0.1:8089".into())
    })
}

fn toss_banner(http_addr: &str, fake: &str) {
    println!(
        "\n\
         ┌──────────────────────────────────────────────────────────────────────\n\
         │ Payments: Toss fake at http://{fake} (no URR_TOSS_SECRET_KEY set)\n\
         │ 1. hold tickets: POST http://{http_addr}/api/v1/events/{{id}}/reservations\n\
         │    the answer's `order` has order_id, order_name, amount\n\
         │ 2. pay in the widget test page; Pay redirects to successUrl with paymentKey:\n\
         │    http://{fake}/v1/__test/widget?orderId=ORDER_ID&orderName=NAME&amount=AMOUNT&successUrl=http://{http_addr}/api/v1/payments/config&failUrl=http://{http_addr}/healthz\n\
         │ 3. confirm: POST http://{http_addr}/api/v1/payments/confirm (bearer token)\n\
         │    {{\"paymentKey\":\"…\",\"orderId\":\"ORDER_ID\",\"amount\":AMOUNT}} → tickets\n\
         │ fake ledger: http://{fake}/v1/__test/orders/ORDER_ID\n\
         └──────────────────────────────────────────────────────────────────────"
    );
}
