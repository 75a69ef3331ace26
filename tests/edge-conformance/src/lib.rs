//! Black-box conformance suite for the URR edge workers, whatever platform runs them.
//!
//! The suite talks HTTP to a running edge and checks what a fan, an API client and
//! the origin observe: joins and positions, status polls, the random draw and its
//! publication, passes, the entry-token guard, proxying, rules pushes and their
//! ordering, the modes, the page, and bad input. It knows nothing about Durable
//! Objects or Redis; a platform only has to start its worker:
//!
//! ```ignore
//! pub trait Platform {
//!     fn name(&self) -> &str;
//!     async fn start(&self, vars: &Vars) -> anyhow::Result<RunningEdge>;
//! }
//! ```
//!
//! [`Vars`] carries the worker's configuration (`EDGE_SIGNING_KEY`,
//! `ORIGIN_PUBLIC_KEYS`, `ORIGIN_URL`, `COOKIE_SECURE`, `EDGE_PROXY_SECRET`); [`RunningEdge`] gives the base
//! URL and stops the worker when dropped. [`run_suite`] generates keys, starts a stub
//! origin ([`stub`]) on `127.0.0.1:0`, starts the platform once, and runs every case of
//! [`cases::ALL`] against it, each on its own fresh event id, so cases never see each
//! other's state.
//!
//! # Adding a platform (e.g. Spin)
//!
//! Implement [`Platform`] (start the component with the vars, e.g. in the wasmtime test
//! host as an in-process server on `127.0.0.1:0`, and return its base URL with a guard
//! that stops it), then add a test file:
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread")]
//! async fn spin() -> anyhow::Result<()> {
//!     edge_conformance::run_suite(&MySpinPlatform::new()).await
//! }
//! ```
//!
//! # Time
//!
//! Time cannot be moved inside the platforms, so every case writes its rules relative to
//! the real clock ("the sale opened ten minutes ago at 1,000,000 per minute") and moves
//! a sale from pre-queue to open by pushing a newer rules version. Nothing sleeps to
//! synchronise: where a change takes effect asynchronously (a cache), the case polls
//! until it is visible, with a deadline.

pub mod cases;
pub mod client;
pub mod cloudflare;
pub mod native;
#[cfg(feature = "spin")]
pub mod spin;
pub mod stub;

use anyhow::{Context, Result, bail};
use shared_wasm::token::{KeySet, SigningKey, format_key_spec};
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The worker's configuration, as variable name → value.
#[derive(Debug, Clone, Default)]
pub struct Vars(pub BTreeMap<String, String>);

impl Vars {
    pub fn get(&self, k: &str) -> Option<&str> {
        self.0.get(k).map(String::as_str)
    }
}

/// A started edge worker. Dropping it stops the worker.
pub struct RunningEdge {
    base_url: String,
    _guard: Box<dyn Send + Sync>,
}

impl RunningEdge {
    /// `guard` is dropped when the edge is: make its `Drop` stop the worker.
    pub fn new(base_url: impl Into<String>, guard: impl Send + Sync + 'static) -> Self {
        RunningEdge {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            _guard: Box::new(guard),
        }
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

/// A way to run the edge worker under test.
#[allow(async_fn_in_trait)]
pub trait Platform {
    fn name(&self) -> &str;
    async fn start(&self, vars: &Vars) -> Result<RunningEdge>;
    /// The request header through which a test may choose the client address the
    /// worker sees (cases on per-address limits need several addresses from one
    /// machine). Each platform names what its local runtime honours and production
    /// does not let a client set.
    fn client_ip_header(&self) -> &str;
}

/// The keys of a suite run: the edge's (tickets, passes) and the origin's (entry
/// tokens, rules tokens).
pub struct Keys {
    pub edge: SigningKey,
    pub origin: SigningKey,
}

impl Keys {
    pub fn edge_public(&self) -> KeySet {
        KeySet::new([self.edge.public_key()]).expect("one key is a valid set")
    }
}

/// Unix seconds now.
pub fn now_s() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// What every case gets.
pub struct Ctx {
    pub base: String,
    pub keys: Keys,
    pub stub: stub::StubOrigin,
    pub http: client::Client,
    /// See [`Platform::client_ip_header`].
    pub client_ip_header: String,
    /// The worker's `EDGE_PROXY_SECRET` (raw bytes), to verify `urr-client-ip`.
    pub proxy_secret: Vec<u8>,
}

/// Generates keys, starts the stub origin and the platform with the suite's variables
/// plus `extra_vars`; returns the running edge and the context cases use.
pub async fn start(
    platform: &impl Platform,
    extra_vars: &[(&str, &str)],
) -> Result<(RunningEdge, Ctx)> {
    let mut edge_seed = [0u8; 32];
    rand::Rng::fill(&mut rand::thread_rng(), &mut edge_seed);
    let mut origin_seed = [0u8; 32];
    rand::Rng::fill(&mut rand::thread_rng(), &mut origin_seed);
    let keys = Keys {
        edge: SigningKey::from_seed("edge-test", edge_seed)?,
        origin: SigningKey::from_seed("origin-test", origin_seed)?,
    };
    let stub = stub::StubOrigin::start().await?;
    let mut vars = Vars::default();
    vars.0.insert(
        "EDGE_SIGNING_KEY".into(),
        format_key_spec(keys.edge.kid(), &edge_seed),
    );
    vars.0.insert(
        "ORIGIN_PUBLIC_KEYS".into(),
        keys.origin.public_key().to_string(),
    );
    vars.0.insert("ORIGIN_URL".into(), stub.url());
    vars.0.insert("COOKIE_SECURE".into(), "false".into());
    let mut proxy_secret = vec![0u8; 32];
    rand::Rng::fill(&mut rand::thread_rng(), &mut proxy_secret[..]);
    {
        use base64::Engine;
        vars.0.insert(
            "EDGE_PROXY_SECRET".into(),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&proxy_secret),
        );
    }
    for (k, v) in extra_vars {
        vars.0.insert((*k).to_owned(), (*v).to_owned());
    }

    let started = Instant::now();
    let edge = platform
        .start(&vars)
        .await
        .with_context(|| format!("starting the {} edge", platform.name()))?;
    println!(
        "{} edge up at {} in {:.1} s",
        platform.name(),
        edge.base_url(),
        started.elapsed().as_secs_f64()
    );
    let ctx = Ctx {
        base: edge.base_url().to_owned(),
        keys,
        stub,
        http: client::Client::new()?,
        client_ip_header: platform.client_ip_header().to_owned(),
        proxy_secret,
    };
    Ok((edge, ctx))
}

/// Runs every case against `platform`; prints one line per case and fails if any case
/// failed. `EDGE_CONFORMANCE_FILTER=substring` runs only matching cases.
pub async fn run_suite(platform: &impl Platform) -> Result<()> {
    run_cases(platform, &[], None).await
}

/// [`run_suite`] with extra platform variables (e.g. `QUEUE_SHARDS`) and, optionally,
/// only the named cases.
pub async fn run_cases(
    platform: &impl Platform,
    extra_vars: &[(&str, &str)],
    only: Option<&[&str]>,
) -> Result<()> {
    let (edge, ctx) = start(platform, extra_vars).await?;
    let filter = std::env::var("EDGE_CONFORMANCE_FILTER").unwrap_or_default();
    let (mut passed, mut failed) = (0, Vec::new());
    for (name, case) in cases::ALL {
        if !name.contains(filter.as_str()) || only.is_some_and(|o| !o.contains(name)) {
            continue;
        }
        let t = Instant::now();
        match case(&ctx).await {
            Ok(()) => {
                passed += 1;
                println!("case {name} ... ok ({:.2} s)", t.elapsed().as_secs_f64());
            }
            Err(e) => {
                println!("case {name} ... FAILED: {e:#}");
                failed.push(*name);
            }
        }
    }
    let label = if extra_vars.is_empty() {
        platform.name().to_owned()
    } else {
        let v: Vec<String> = extra_vars.iter().map(|(k, v)| format!("{k}={v}")).collect();
        format!("{} with {}", platform.name(), v.join(" "))
    };
    println!(
        "conformance ({label}): {passed} passed, {} failed",
        failed.len()
    );
    drop(edge);
    if !failed.is_empty() {
        bail!("{} case(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}
