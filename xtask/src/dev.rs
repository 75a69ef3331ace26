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
//! Options: `--release` builds optimised binaries (slower to build, faster to run);
//! `--no-edge` skips the edge worker (no Node.js needed).

use crate::keys;
use crate::services::{self, Purpose};
use crate::util::{self, cargo, run as sh};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub const DEMO_PASSWORD_DEFAULT: &str = "urr-demo-1234";

pub fn run(args: &[String]) -> Result<()> {
    let release = args.iter().any(|a| a == "--release");
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || stop.store(true, Ordering::SeqCst))
            .context("installing the Ctrl-C handler")?;
    }

    util::step("postgres and redis");
    let services = services::ensure(Purpose::Dev)?;
    services.ensure_database("urr")?;

    util::step("signing keys");
    let keys = keys::dev_keys()?;
    println!("using target/dev/keys.env");

    util::step("building the origin");
    let profile = if release { "release" } else { "debug" };
    let mut build = cargo();
    build.args(["build", "-p", "origin", "--bin", "urr-origin"]);
    if release {
        build.arg("--release");
    }
    sh(&mut build)?;
    let origin_bin = util::root().join("target").join(profile).join("urr-origin");

    let http_addr = std::env::var("URR_HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:8080".into());
    let demo_password =
        std::env::var("URR_DEMO_PASSWORD").unwrap_or_else(|_| DEMO_PASSWORD_DEFAULT.into());
    let mut env: BTreeMap<String, String> = BTreeMap::new();
    env.insert("URR_DATABASE_URL".into(), services.pg_url("urr"));
    env.insert("URR_REDIS_URL".into(), services.redis_url.clone());
    env.insert("URR_HTTP_ADDR".into(), http_addr.clone());
    env.insert("URR_COOKIE_SECURE".into(), "false".into());
    env.insert("URR_LOG_FORMAT".into(), "pretty".into());
    env.insert("URR_DEMO_PASSWORD".into(), demo_password.clone());
    // Local development pays with Toss test keys (the fake's, or your own test_ ones).
    env.insert("URR_TOSS_ALLOW_TEST".into(), "true".into());
    let edge_addr = std::env::var("URR_EDGE_ADDR").unwrap_or_else(|_| "127.0.0.1:8787".into());
    let with_edge = !args.iter().any(|a| a == "--no-edge");
    if with_edge {
        // The origin pushes every event's queue rules to the edge (retrying until the
        // worker is up).
        env.insert("URR_EDGE_URLS".into(), format!("http://{edge_addr}"));
    }
    env.insert(
        "URR_ORIGIN_SIGNING_KEY".into(),
        keys["URR_ORIGIN_SIGNING_KEY"].clone(),
    );
    env.insert(
        "URR_EDGE_PUBLIC_KEYS".into(),
        keys["URR_EDGE_PUBLIC_KEYS"].clone(),
    );
    if let Some(secrets) = keys.get(keys::PROXY_SECRETS) {
        env.insert(keys::PROXY_SECRETS.into(), secrets.clone());
    }
    let toss_fake = toss_fake_addr();
    if let Some(fake) = &toss_fake {
        util::step("building the Toss fake (no URR_TOSS_SECRET_KEY set)");
        let mut build = cargo();
        build.args(["build", "-p", "toss-fake", "--bin", "toss-fake"]);
        if release {
            build.arg("--release");
        }
        sh(&mut build)?;
        env.insert("URR_TOSS_BASE_URL".into(), format!("http://{fake}"));
        env.insert("URR_TOSS_SECRET_KEY".into(), TOSS_DOCS_SECRET_KEY.into());
        env.insert("URR_TOSS_CLIENT_KEY".into(), TOSS_DOCS_CLIENT_KEY.into());
    }
    // Anything the developer exported wins over our defaults.
    for (k, v) in std::env::vars() {
        if k.starts_with("URR_") && !k.starts_with("URR_TEST_") {
            env.insert(k, v);
        }
    }

    util::step("migrating and seeding demo data");
    sh(Command::new(&origin_bin).arg("migrate").envs(&env))?;
    sh(Command::new(&origin_bin).arg("seed-demo").envs(&env))?;

    util::step("starting the origin");
    let mut children: Vec<(&str, Child)> = Vec::new();
    if let Some(fake) = &toss_fake {
        let bin = util::root().join("target").join(profile).join("toss-fake");
        let child = Command::new(bin)
            .env("URR_TOSS_FAKE_ADDR", fake)
            .env("URR_TOSS_FAKE_SECRET_KEYS", TOSS_DOCS_SECRET_KEY)
            .env(
                "URR_TOSS_FAKE_WEBHOOK_URL",
                format!("http://{http_addr}/api/v1/payments/toss/webhook"),
            )
            .spawn()
            .context("starting toss-fake")?;
        children.push(("toss-fake", child));
        if let Err(e) = util::wait_for("the Toss fake", Duration::from_secs(30), || {
            util::reachable(fake)
        }) {
            stop_all(&mut children);
            return Err(e);
        }
    }
    let origin = Command::new(&origin_bin)
        .arg("serve")
        .envs(&env)
        .spawn()
        .context("starting urr-origin")?;
    children.push(("origin", origin));
    let up = util::wait_for("the origin", Duration::from_secs(60), || {
        util::reachable(&http_addr)
    });
    if let Err(e) = up {
        stop_all(&mut children);
        return Err(e);
    }

    if with_edge {
        util::step("starting the edge (Cloudflare worker under wrangler dev)");
        let edge = crate::edge::start_dev(&http_addr, &edge_addr, &keys).and_then(|child| {
            children.push(("edge", child));
            util::wait_for("the edge", Duration::from_secs(120), || {
                util::reachable(&edge_addr)
            })
        });
        if let Err(e) = edge {
            stop_all(&mut children);
            return Err(e);
        }
    }

    let metrics_addr = env
        .get("URR_METRICS_ADDR")
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:9090".into());
    banner(
        &http_addr,
        &metrics_addr,
        with_edge.then_some(edge_addr.as_str()),
        &demo_password,
    );
    if let Some(fake) = &toss_fake {
        toss_banner(&http_addr, fake);
    }

    let outcome = supervise(&mut children, &stop);
    stop_all(&mut children);
    drop(services);
    println!("\nstopped everything `cargo xtask dev` started");
    outcome
}

fn banner(http_addr: &str, metrics_addr: &str, edge_addr: Option<&str>, password: &str) {
    let metrics = if metrics_addr.trim().is_empty() {
        "off (URR_METRICS_ADDR is empty)".to_owned()
    } else {
        format!("http://{metrics_addr}/metrics")
    };
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

/// Toss's published documentation keys (widget pair, test mode); the origin's defaults.
const TOSS_DOCS_SECRET_KEY: &str = "test_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6";
const TOSS_DOCS_CLIENT_KEY: &str = "test_gck_docs_Ovk5rk1EwkEbP0W43n07xlzm";

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

/// Waits for Ctrl-C or for a child to exit on its own (which is an error).
fn supervise(children: &mut [(&str, Child)], stop: &AtomicBool) -> Result<()> {
    loop {
        if stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        for (name, child) in children.iter_mut() {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited unexpectedly ({status}); see its output above");
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn stop_all(children: &mut Vec<(&str, Child)>) {
    for (_, child) in children.iter_mut() {
        // SIGTERM first so servers drain; our origin handles it gracefully.
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
    }
    for (name, child) in children.iter_mut() {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match child.try_wait() {
                Ok(Some(_)) => break,
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(100));
                }
                _ => {
                    println!("{name} did not stop in time; killing it");
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
            }
        }
    }
    children.clear();
}
