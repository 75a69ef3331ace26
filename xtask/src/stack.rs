//! The whole platform as local processes: the Toss fake, the origin (migrated, demo
//! data seeded, serving the built web app) and the Cloudflare edge under `wrangler
//! dev` in front of it. `cargo xtask dev` runs one on fixed ports for a developer; the
//! web app's browser tests run one on free ports with a database of their own.
//! Dropping a [`Stack`] stops every process it started.

use crate::keys;
use crate::services::{self, Purpose, Services};
use crate::util::{self, cargo, run as sh};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Toss's published documentation keys (widget pair, test mode); the origin's defaults.
pub const TOSS_DOCS_SECRET_KEY: &str = "test_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6";
pub const TOSS_DOCS_CLIENT_KEY: &str = "test_gck_docs_Ovk5rk1EwkEbP0W43n07xlzm";

pub struct Options {
    pub purpose: Purpose,
    pub release: bool,
    /// The origin's database; [`Options::fresh_database`] drops it first.
    pub database: String,
    pub fresh_database: bool,
    pub http_addr: String,
    pub metrics_addr: String,
    /// `None`: no edge.
    pub edge_addr: Option<String>,
    /// Where the edge keeps its state (a fresh folder gives a fresh edge).
    pub edge_state: PathBuf,
    /// `None`: the origin talks to the Toss API in `URR_TOSS_BASE_URL`.
    pub toss_fake_addr: Option<String>,
    /// The built web app, when there is one.
    pub web_dir: Option<PathBuf>,
    pub demo_password: String,
    /// Pass the developer's exported `URR_*` variables to the origin (they win).
    pub inherit_env: bool,
    /// Send the children's output here instead of the terminal.
    pub log_dir: Option<PathBuf>,
}

/// The demo event behind the edge waiting room (`catalog::demo`, id …207).
const DEMO_EDGE_ROOM: &str = "de770000-0000-4000-8000-000000000207";

pub struct Stack {
    pub http_addr: String,
    pub edge_addr: Option<String>,
    pub toss_fake_addr: Option<String>,
    children: Vec<(&'static str, Child)>,
    _services: Services,
}

impl Stack {
    pub fn start(o: &Options) -> Result<Stack> {
        util::step("postgres and redis");
        let services = services::ensure(o.purpose)?;
        if o.fresh_database {
            services.drop_database(&o.database)?;
        }
        services.ensure_database(&o.database)?;

        util::step("signing keys");
        let keys = keys::dev_keys()?;
        println!("using target/dev/keys.env");

        util::step("building the origin");
        let profile = if o.release { "release" } else { "debug" };
        let mut build = cargo();
        build.args(["build", "-p", "origin", "--bin", "urr-origin"]);
        if o.toss_fake_addr.is_some() {
            build.args(["-p", "toss-fake", "--bin", "toss-fake"]);
        }
        if o.release {
            build.arg("--release");
        }
        sh(&mut build)?;
        let bin_dir = util::root().join("target").join(profile);
        let origin_bin = bin_dir.join("urr-origin");

        let mut env: BTreeMap<String, String> = BTreeMap::new();
        env.insert("URR_DATABASE_URL".into(), services.pg_url(&o.database));
        env.insert("URR_REDIS_URL".into(), services.redis_url.clone());
        env.insert("URR_HTTP_ADDR".into(), o.http_addr.clone());
        env.insert("URR_METRICS_ADDR".into(), o.metrics_addr.clone());
        env.insert("URR_COOKIE_SECURE".into(), "false".into());
        env.insert("URR_LOG_FORMAT".into(), "pretty".into());
        env.insert("URR_DEMO_PASSWORD".into(), o.demo_password.clone());
        // Local runs pay with Toss test keys (the fake's, or your own test_ ones).
        env.insert("URR_TOSS_ALLOW_TEST".into(), "true".into());
        if o.purpose == Purpose::Test {
            // Each browser-test run has its own database; its Redis keys get their own
            // prefix too, so runs never see each other's queues or holds.
            env.insert(
                "URR_REDIS_PREFIX".into(),
                format!("urr-e2e-{}:", std::process::id()),
            );
            // Every browser and API client of the suite signs in from 127.0.0.1, some
            // thirty sign-ins a minute: the per-address limit is for one real address.
            // The per-account limit stays as in production (its own API test covers
            // both).
            env.insert("URR_RATE_LOGIN_PER_IP".into(), "300".into());
        }
        if let Some(edge) = &o.edge_addr {
            // The origin pushes every event's queue rules to the edge (retrying until
            // the worker is up).
            env.insert("URR_EDGE_URLS".into(), format!("http://{edge}"));
        }
        for k in ["URR_ORIGIN_SIGNING_KEY", "URR_EDGE_PUBLIC_KEYS"] {
            env.insert(k.into(), keys[k].clone());
        }
        if let Some(secrets) = keys.get(keys::PROXY_SECRETS) {
            env.insert(keys::PROXY_SECRETS.into(), secrets.clone());
        }
        if let Some(fake) = &o.toss_fake_addr {
            env.insert("URR_TOSS_BASE_URL".into(), format!("http://{fake}"));
            env.insert("URR_TOSS_SECRET_KEY".into(), TOSS_DOCS_SECRET_KEY.into());
            env.insert("URR_TOSS_CLIENT_KEY".into(), TOSS_DOCS_CLIENT_KEY.into());
            // The web app pays on the fake's widget page instead of Toss's widget.
            env.insert(
                "URR_TOSS_WIDGET_URL".into(),
                format!("http://{fake}/v1/__test/widget"),
            );
        }
        if let Some(web) = &o.web_dir {
            env.insert("URR_WEB_DIR".into(), web.to_string_lossy().into_owned());
        }
        if o.inherit_env {
            for (k, v) in std::env::vars() {
                if k.starts_with("URR_") && !k.starts_with("URR_TEST_") {
                    env.insert(k, v);
                }
            }
        }

        util::step("migrating and seeding demo data");
        sh(Command::new(&origin_bin).arg("migrate").envs(&env))?;
        sh(Command::new(&origin_bin).arg("seed-demo").envs(&env))?;

        let mut stack = Stack {
            http_addr: o.http_addr.clone(),
            edge_addr: o.edge_addr.clone(),
            toss_fake_addr: o.toss_fake_addr.clone(),
            children: Vec::new(),
            _services: services,
        };
        let output = |name: &str| -> Result<(Stdio, Stdio)> {
            match &o.log_dir {
                None => Ok((Stdio::inherit(), Stdio::inherit())),
                Some(dir) => {
                    std::fs::create_dir_all(dir)?;
                    let f = std::fs::File::create(dir.join(format!("{name}.log")))?;
                    Ok((f.try_clone()?.into(), f.into()))
                }
            }
        };
        if let Some(fake) = &o.toss_fake_addr {
            util::step("starting the Toss fake");
            let (out, err) = output("toss-fake")?;
            let child = Command::new(bin_dir.join("toss-fake"))
                .env("URR_TOSS_FAKE_ADDR", fake)
                .env("URR_TOSS_FAKE_SECRET_KEYS", TOSS_DOCS_SECRET_KEY)
                .env(
                    "URR_TOSS_FAKE_WEBHOOK_URL",
                    format!("http://{}/api/v1/payments/toss/webhook", o.http_addr),
                )
                .stdout(out)
                .stderr(err)
                .spawn()
                .context("starting toss-fake")?;
            stack.children.push(("toss-fake", child));
            util::wait_for("the Toss fake", Duration::from_secs(30), || {
                util::reachable(fake)
            })?;
        }
        util::step("starting the origin");
        let (out, err) = output("origin")?;
        let origin = Command::new(&origin_bin)
            .arg("serve")
            .envs(&env)
            .stdout(out)
            .stderr(err)
            .spawn()
            .context("starting urr-origin")?;
        stack.children.push(("origin", origin));
        util::wait_for("the origin", Duration::from_secs(60), || {
            util::reachable(&o.http_addr)
        })?;
        if let Some(edge_addr) = &o.edge_addr {
            util::step("starting the edge (Cloudflare worker under wrangler dev)");
            let log = o.log_dir.as_ref().map(|d| d.join("edge.log"));
            let child = crate::edge::start_dev(
                &o.http_addr,
                edge_addr,
                &keys,
                &o.edge_state,
                log.as_deref(),
            )?;
            stack.children.push(("edge", child));
            util::wait_for("the edge", Duration::from_secs(120), || {
                util::reachable(edge_addr)
            })?;
            // The origin pushes the demo's waiting-room rules with a back-off while the
            // worker starts; pages opened before they land would find no room.
            let room = format!("/e/{DEMO_EDGE_ROOM}");
            util::wait_for(
                "the edge to receive the demo waiting room's rules",
                Duration::from_secs(120),
                || util::http_status(edge_addr, &room) == Some(200),
            )?;
        }
        Ok(stack)
    }

    /// Waits for `stop` or for a process to exit on its own (which is an error).
    pub fn supervise(&mut self, stop: &AtomicBool) -> Result<()> {
        loop {
            if stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            for (name, child) in self.children.iter_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!("{name} exited unexpectedly ({status}); see its output above");
                }
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        for (_, child) in self.children.iter_mut() {
            // SIGTERM first so servers drain; our origin handles it gracefully.
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        for (name, child) in self.children.iter_mut() {
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
    }
}
