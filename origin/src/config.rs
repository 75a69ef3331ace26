//! Typed configuration from `URR_*` environment variables.
//!
//! Every setting has one place: this file parses it, `.env.example` documents it, and the
//! README's table lists it. A bad value stops the origin at start-up with a message that
//! names the variable (defect D39 of the original: a short key silently disabled a filter).

use anyhow::{Context, Result, anyhow, bail};
use shared_wasm::token::{KeySet, SigningKey};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

/// Reads variables from some source: the process environment, or a map in tests.
pub struct Vars<'a> {
    lookup: Box<Lookup<'a>>,
}

type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

impl<'a> Vars<'a> {
    pub fn from_env() -> Vars<'static> {
        Vars {
            lookup: Box::new(|k| std::env::var(k).ok()),
        }
    }

    pub fn from_map(map: &'a HashMap<String, String>) -> Vars<'a> {
        Vars {
            lookup: Box::new(move |k| map.get(k).cloned()),
        }
    }

    /// A value as set, empty strings included (for settings where empty means "off").
    pub fn raw(&self, key: &str) -> Option<String> {
        (self.lookup)(key)
    }

    /// A raw value; empty strings count as unset.
    pub fn get(&self, key: &str) -> Option<String> {
        (self.lookup)(key).filter(|v| !v.trim().is_empty())
    }

    pub fn string(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or_else(|| default.to_owned())
    }

    pub fn parse<T: FromStr>(&self, key: &str, default: T) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|e| anyhow!("{key}={v:?} is invalid: {e}")),
        }
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key).as_deref().map(str::trim) {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(v) => bail!("{key}={v:?} is invalid: expected true or false"),
        }
    }

    pub fn list(&self, key: &str) -> Vec<String> {
        self.get(key)
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_owned())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn secs(&self, key: &str, default: u64) -> Result<Duration> {
        Ok(Duration::from_secs(self.parse(key, default)?))
    }

    pub fn millis(&self, key: &str, default: u64) -> Result<Duration> {
        Ok(Duration::from_millis(self.parse(key, default)?))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// The whole origin configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// `URR_HTTP_ADDR`, default `127.0.0.1:8080`.
    pub http_addr: SocketAddr,
    /// `URR_METRICS_ADDR`, default `127.0.0.1:9090`: the Prometheus listener, apart
    /// from the API. Set but empty: no metrics listener.
    pub metrics_addr: Option<SocketAddr>,
    /// `URR_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/urr`.
    pub database_url: String,
    /// `URR_DATABASE_MAX_CONNECTIONS`, default 32.
    pub database_max_connections: u32,
    /// `URR_MIGRATE_ON_START`, default true.
    pub migrate_on_start: bool,
    /// `URR_REDIS_URL`, default `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// `URR_REDIS_PREFIX`, default `urr:`; every key the origin writes starts with it.
    pub redis_prefix: String,
    /// `URR_LOG_FORMAT` (`json` or `pretty`), default json.
    pub log_format: LogFormat,
    /// `URR_LOG`, a tracing filter, default `info`.
    pub log_filter: String,
    /// `URR_CORS_ORIGINS`, comma-separated; empty means same-origin only.
    pub cors_origins: Vec<String>,
    /// `URR_BODY_LIMIT_BYTES`, default 64 KiB.
    pub body_limit_bytes: usize,
    /// `URR_REQUEST_TIMEOUT_MS`, default 15,000.
    pub request_timeout: Duration,
    /// `URR_BACKGROUND_JOBS`, default true: sweepers, admission loop, relays.
    pub background_jobs: bool,
    /// `URR_CHECK_DECLARED_ERRORS`, default on in debug builds (tests, `cargo xtask
    /// dev`) and off in release: answer 500 instead of a problem whose code the route's
    /// OpenAPI entry does not list, so an undocumented code fails the test that hits it.
    pub check_declared_errors: bool,
    pub keys: KeyConfig,
    pub auth: AuthConfig,
    pub booking: BookingConfig,
    pub payments: PaymentsConfig,
    pub outbox: OutboxConfig,
    pub queue: QueueConfig,
}

/// Holds and their expiry.
#[derive(Debug, Clone)]
pub struct BookingConfig {
    /// `URR_HOLD_SECS`, default 300: how long an unpaid hold lasts.
    pub hold_secs: u64,
    /// `URR_HOLD_MARGIN_SECS`, default 30: extra life of the Redis key over the hold.
    pub hold_margin_secs: u64,
    /// `URR_HOLD_MAX_SECS`, default 900: a hold is never extended past this age.
    pub max_hold_secs: u64,
    /// `URR_SWEEP_INTERVAL_MS`, default 1,000: how often expired holds are swept.
    pub sweep_interval: Duration,
    /// `URR_SWEEP_BATCH`, default 500 reservations per transaction.
    pub sweep_batch: u32,
    /// `URR_SEATMAP_TTL_MS`, default 1,000: the seat map snapshot's maximum age.
    pub seatmap_ttl: Duration,
    /// `URR_EVENT_CACHE_TTL_MS`, default 1,000: how old the cached event row (sale
    /// window, cancellation, limit) a seat request checks may be, and the cached event
    /// detail (`catalog::cache`); 0 turns the detail cache off.
    pub event_cache_ttl: Duration,
    /// `URR_BOOKING_WRITERS`, default 4: hold-writing statements in flight at once
    /// (group commit: holds that arrive meanwhile wait and share the next statement).
    pub writers: usize,
    /// `URR_BOOKING_WRITE_BATCH`, default 64: most holds one statement writes.
    pub write_batch: usize,
}

impl BookingConfig {
    fn from_vars(v: &Vars<'_>) -> Result<BookingConfig> {
        let c = BookingConfig {
            hold_secs: v.parse("URR_HOLD_SECS", 300)?,
            hold_margin_secs: v.parse("URR_HOLD_MARGIN_SECS", 30)?,
            max_hold_secs: v.parse("URR_HOLD_MAX_SECS", 900)?,
            sweep_interval: v.millis("URR_SWEEP_INTERVAL_MS", 1000)?,
            sweep_batch: v.parse("URR_SWEEP_BATCH", 500)?,
            seatmap_ttl: v.millis("URR_SEATMAP_TTL_MS", 1000)?,
            event_cache_ttl: v.millis("URR_EVENT_CACHE_TTL_MS", 1000)?,
            writers: v.parse("URR_BOOKING_WRITERS", 4)?,
            write_batch: v.parse("URR_BOOKING_WRITE_BATCH", 64)?,
        };
        if c.hold_secs == 0 || c.max_hold_secs < c.hold_secs {
            bail!("URR_HOLD_SECS must be > 0 and URR_HOLD_MAX_SECS at least URR_HOLD_SECS");
        }
        if c.sweep_batch == 0 {
            bail!("URR_SWEEP_BATCH must be > 0");
        }
        if c.writers == 0 || c.write_batch == 0 {
            bail!("URR_BOOKING_WRITERS and URR_BOOKING_WRITE_BATCH must be > 0");
        }
        Ok(c)
    }
}

/// Signing and verification keys (see `shared_wasm::token`).
#[derive(Debug, Clone)]
pub struct KeyConfig {
    /// `URR_ORIGIN_SIGNING_KEY`: `kid:base64url(seed)`; signs access and entry tokens.
    pub origin_signing: SigningKey,
    /// The origin's own public key plus `URR_ORIGIN_PREVIOUS_PUBLIC_KEYS`, so tokens
    /// signed before a rotation stay valid until they expire.
    pub origin_public: KeySet,
    /// `URR_EDGE_PUBLIC_KEYS`: verifies passes minted by the edge workers.
    pub edge_public: Option<KeySet>,
}

/// Accounts and sessions.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `URR_ACCESS_TOKEN_TTL_SECS`, default 1,800 (30 min).
    pub access_ttl: Duration,
    /// `URR_REFRESH_TOKEN_TTL_SECS`, default 604,800 (7 days).
    pub refresh_ttl: Duration,
    /// `URR_COOKIE_SECURE`, default true; `cargo xtask dev` turns it off for plain http.
    pub cookie_secure: bool,
    /// `URR_ARGON2_MEMORY_KIB` / `URR_ARGON2_ITERATIONS`, default 19,456 / 2 (OWASP).
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    /// `URR_RATE_LOGIN_PER_IP` / `URR_RATE_LOGIN_PER_ACCOUNT` / `URR_RATE_REGISTER_PER_IP`:
    /// attempts per `URR_RATE_WINDOW_SECS` (default 60).
    pub rate_login_per_ip: u32,
    pub rate_login_per_account: u32,
    pub rate_register_per_ip: u32,
    pub rate_window: Duration,
    /// `URR_EDGE_PROXY_SECRETS`: comma-separated base64url secrets (the first current,
    /// the rest retired but still accepted) with which the edge MACs the client IP it
    /// saw (`urr-client-ip`, see `shared_wasm::client_ip`). The client IP for rate
    /// limits comes from that header only when it verifies; otherwise from the TCP peer.
    /// Forwarded headers (`X-Forwarded-For`, ...) are never trusted. Empty: peer only.
    pub edge_proxy_secrets: Vec<Vec<u8>>,
    /// `URR_PASSWORD_HASH_CONCURRENCY`, default 0 = one per CPU core: Argon2 hashes
    /// (~19 MiB and tens of ms each) running at once; the rest wait.
    pub password_hash_concurrency: usize,
    /// `URR_PASSWORD_HASH_QUEUE_MS`, default 2,000: how long a login or registration
    /// waits for a hashing slot before answering 503 `BUSY` with `Retry-After`.
    pub password_hash_queue: Duration,
    /// `URR_RATE_RESERVATIONS_PER_USER_PER_SEC`, default 5: reservation attempts per
    /// account per second (0 turns it off).
    pub rate_reservations_per_user: u32,
    /// `URR_RATE_QUEUE_JOINS_PER_USER_PER_SEC`, default 2: tier-2 queue joins per
    /// account per second (0 turns it off).
    pub rate_queue_joins_per_user: u32,
    /// Google sign-in; off unless `URR_GOOGLE_CLIENT_ID` is set.
    pub google: Option<GoogleConfig>,
}

#[derive(Debug, Clone)]
pub struct GoogleConfig {
    /// `URR_GOOGLE_CLIENT_ID`: the ID token's required audience.
    pub client_id: String,
    /// `URR_GOOGLE_JWKS_URL`, default Google's certs URL.
    pub jwks_url: String,
    /// `URR_GOOGLE_ISSUERS`, default `https://accounts.google.com,accounts.google.com`.
    pub issuers: Vec<String>,
}

impl Config {
    pub fn from_env() -> Result<Config> {
        Self::from_vars(&Vars::from_env())
    }

    pub fn from_vars(v: &Vars<'_>) -> Result<Config> {
        let log_format = match v.string("URR_LOG_FORMAT", "json").as_str() {
            "json" => LogFormat::Json,
            "pretty" => LogFormat::Pretty,
            other => bail!("URR_LOG_FORMAT={other:?} is invalid: expected json or pretty"),
        };
        Ok(Config {
            http_addr: v.parse("URR_HTTP_ADDR", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            metrics_addr: metrics_addr(v)?,
            database_url: v.string("URR_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/urr"),
            database_max_connections: v.parse("URR_DATABASE_MAX_CONNECTIONS", 32)?,
            migrate_on_start: v.bool("URR_MIGRATE_ON_START", true)?,
            redis_url: v.string("URR_REDIS_URL", "redis://127.0.0.1:6379"),
            redis_prefix: v.string("URR_REDIS_PREFIX", "urr:"),
            log_format,
            log_filter: v.string("URR_LOG", "info"),
            cors_origins: v.list("URR_CORS_ORIGINS"),
            body_limit_bytes: v.parse("URR_BODY_LIMIT_BYTES", 64 * 1024)?,
            request_timeout: v.millis("URR_REQUEST_TIMEOUT_MS", 15_000)?,
            background_jobs: v.bool("URR_BACKGROUND_JOBS", true)?,
            check_declared_errors: v.bool("URR_CHECK_DECLARED_ERRORS", cfg!(debug_assertions))?,
            keys: KeyConfig::from_vars(v)?,
            auth: AuthConfig::from_vars(v)?,
            booking: BookingConfig::from_vars(v)?,
            payments: PaymentsConfig::from_vars(v)?,
            outbox: OutboxConfig::from_vars(v)?,
            queue: QueueConfig::from_vars(v)?,
        })
        .and_then(Config::check)
    }
}

/// `URR_METRICS_ADDR`: unset is the default address, set but empty is off.
fn metrics_addr(v: &Vars<'_>) -> Result<Option<SocketAddr>> {
    match v.raw("URR_METRICS_ADDR") {
        Some(s) if s.trim().is_empty() => Ok(None),
        Some(_) => v
            .parse("URR_METRICS_ADDR", SocketAddr::from(([127, 0, 0, 1], 9090)))
            .map(Some),
        None => Ok(Some(SocketAddr::from(([127, 0, 0, 1], 9090)))),
    }
}

impl Config {
    /// Rules that span several sections.
    fn check(self) -> Result<Config> {
        if self.payments.toss_budget >= self.request_timeout {
            bail!(
                "URR_TOSS_BUDGET_MS ({} ms) must be below URR_REQUEST_TIMEOUT_MS ({} ms): a \
                 confirm must answer before the request is cut off",
                self.payments.toss_budget.as_millis(),
                self.request_timeout.as_millis()
            );
        }
        Ok(self)
    }
}

/// A secret that never shows up in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself; only for the code that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = self.0.split('_').take(2).collect::<Vec<_>>().join("_");
        write!(f, "Secret({kind}_…)")
    }
}

/// Toss Payments' published documentation keys (widget pair): test mode, no money
/// moves, no webhooks. The default, so a fresh checkout works against the fake or the
/// real test API without any signup.
pub const TOSS_DOCS_SECRET_KEY: &str = "test_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6";
pub const TOSS_DOCS_CLIENT_KEY: &str = "test_gck_docs_Ovk5rk1EwkEbP0W43n07xlzm";

/// Payments with Toss, refunds, reconciliation (see `payments`).
#[derive(Debug, Clone)]
pub struct PaymentsConfig {
    /// `URR_TOSS_BASE_URL`, default `https://api.tosspayments.com` (tests and
    /// `cargo xtask dev` point it at the Toss fake).
    pub toss_base_url: String,
    /// `URR_TOSS_SECRET_KEY`, default the docs widget key `test_gsk_docs_…`. `live_`
    /// keys are refused unless `URR_TOSS_ALLOW_LIVE=true`.
    pub toss_secret_key: Secret,
    /// `URR_TOSS_CLIENT_KEY`, default the docs widget key `test_gck_docs_…`: handed to
    /// the browser for the payment widget.
    pub toss_client_key: String,
    /// `URR_TOSS_CONNECT_TIMEOUT_MS`, default 3,000.
    pub toss_connect_timeout: Duration,
    /// `URR_TOSS_TIMEOUT_MS`, default 10,000: one confirm or cancel call.
    pub toss_timeout: Duration,
    /// `URR_TOSS_GET_TIMEOUT_MS`, default 10,000: one read.
    pub toss_get_timeout: Duration,
    /// `URR_TOSS_BUDGET_MS`, default 12,000: every attempt of one confirm or cancel made
    /// while a client waits (below `URR_REQUEST_TIMEOUT_MS`). Past it the client gets a
    /// 502 and the reconciler finishes the job.
    pub toss_budget: Duration,
    /// `URR_TOSS_MAX_ATTEMPTS`, default 4: calls (same Idempotency-Key) per confirm or
    /// cancel within the budget.
    pub toss_max_attempts: u32,
    /// `URR_PAYMENT_GRACE_SECS`, default 60: a hold whose payment goes to Toss is
    /// extended to at least this long from the claim, so it visibly outlives the call.
    pub confirm_grace: Duration,
    /// `URR_RECONCILE_INTERVAL_MS`, default 10,000: how often the reconciler runs.
    pub reconcile_interval: Duration,
    /// `URR_RECONCILE_MIN_AGE_SECS`, default 30: an order in flight is left to its
    /// request this long before the reconciler asks Toss about it.
    pub reconcile_min_age: Duration,
    /// `URR_RECONCILE_BATCH`, default 50 orders per run.
    pub reconcile_batch: u32,
    /// `URR_WEBHOOK_PER_IP_PER_MIN`, default 600: webhook calls per minute per client
    /// IP (a token bucket of that many, refilled evenly over the minute, per replica);
    /// 0: no limit.
    pub webhook_per_ip_per_min: u32,
    /// `URR_WEBHOOK_GLOBAL_PER_MIN`, default 6,000: webhook calls per minute from
    /// everyone together (per replica); 0: no limit.
    pub webhook_global_per_min: u32,
    pub refund_policy: RefundPolicy,
}

/// How much of a paid order a fan gets back when they cancel, by time left before the
/// show. Admin refunds are always full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundPolicy {
    /// `URR_REFUND_FULL_DAYS`, default 7: full refund until this many days before.
    pub full_days: u32,
    /// `URR_REFUND_PARTIAL_DAYS`, default 1: partial refund until this many days before;
    /// after that, no cancellation.
    pub partial_days: u32,
    /// `URR_REFUND_PARTIAL_PERCENT`, default 90.
    pub partial_percent: u32,
}

impl PaymentsConfig {
    fn from_vars(v: &Vars<'_>) -> Result<PaymentsConfig> {
        let secret = v.string("URR_TOSS_SECRET_KEY", TOSS_DOCS_SECRET_KEY);
        let client = v.string("URR_TOSS_CLIENT_KEY", TOSS_DOCS_CLIENT_KEY);
        let allow_live = v.bool("URR_TOSS_ALLOW_LIVE", false)?;
        let allow_test = v.bool("URR_TOSS_ALLOW_TEST", false)?;
        let secret_ok = ["test_sk_", "test_gsk_", "live_sk_", "live_gsk_"]
            .iter()
            .any(|p| secret.starts_with(p));
        if !secret_ok {
            bail!(
                "URR_TOSS_SECRET_KEY is invalid: expected a Toss secret key (test_gsk_…, \
                 test_sk_…, or live_ with URR_TOSS_ALLOW_LIVE=true)"
            );
        }
        if secret.starts_with("live_") && !allow_live {
            bail!(
                "URR_TOSS_SECRET_KEY is a live key; set URR_TOSS_ALLOW_LIVE=true to take \
                 real money (production only)"
            );
        }
        if secret.starts_with("test_") && !allow_test {
            let how = if v.get("URR_TOSS_SECRET_KEY").is_some() {
                "is a Toss test key"
            } else {
                "is not set, so the origin would use Toss's public test keys"
            };
            bail!(
                "URR_TOSS_SECRET_KEY {how}: no payment would take money. Set it to your live \
                 key (with URR_TOSS_ALLOW_LIVE=true), or set URR_TOSS_ALLOW_TEST=true for \
                 development and staging (cargo xtask dev and the tests do)"
            );
        }
        let client_ok = ["test_ck_", "test_gck_", "live_ck_", "live_gck_"]
            .iter()
            .any(|p| client.starts_with(p));
        if !client_ok || client.starts_with("live_") != secret.starts_with("live_") {
            bail!(
                "URR_TOSS_CLIENT_KEY is invalid: expected a Toss client key of the same mode \
                 (test_/live_) as URR_TOSS_SECRET_KEY"
            );
        }
        let base = v.string("URR_TOSS_BASE_URL", "https://api.tosspayments.com");
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            bail!("URR_TOSS_BASE_URL={base:?} is invalid: expected an http(s) URL");
        }
        let refund_policy = RefundPolicy {
            full_days: v.parse("URR_REFUND_FULL_DAYS", 7)?,
            partial_days: v.parse("URR_REFUND_PARTIAL_DAYS", 1)?,
            partial_percent: v.parse("URR_REFUND_PARTIAL_PERCENT", 90)?,
        };
        if refund_policy.partial_days > refund_policy.full_days
            || refund_policy.partial_percent > 100
        {
            bail!(
                "URR_REFUND_PARTIAL_DAYS must be at most URR_REFUND_FULL_DAYS and \
                 URR_REFUND_PARTIAL_PERCENT at most 100"
            );
        }
        let c = PaymentsConfig {
            toss_base_url: base,
            toss_secret_key: Secret::new(secret),
            toss_client_key: client,
            toss_connect_timeout: v.millis("URR_TOSS_CONNECT_TIMEOUT_MS", 3_000)?,
            toss_timeout: v.millis("URR_TOSS_TIMEOUT_MS", 10_000)?,
            toss_get_timeout: v.millis("URR_TOSS_GET_TIMEOUT_MS", 10_000)?,
            toss_budget: v.millis("URR_TOSS_BUDGET_MS", 12_000)?,
            toss_max_attempts: v.parse("URR_TOSS_MAX_ATTEMPTS", 4)?,
            confirm_grace: v.secs("URR_PAYMENT_GRACE_SECS", 60)?,
            reconcile_interval: v.millis("URR_RECONCILE_INTERVAL_MS", 10_000)?,
            reconcile_min_age: v.secs("URR_RECONCILE_MIN_AGE_SECS", 30)?,
            reconcile_batch: v.parse("URR_RECONCILE_BATCH", 50)?,
            webhook_per_ip_per_min: v.parse("URR_WEBHOOK_PER_IP_PER_MIN", 600)?,
            webhook_global_per_min: v.parse("URR_WEBHOOK_GLOBAL_PER_MIN", 6000)?,
            refund_policy,
        };
        for (key, d) in [
            ("URR_TOSS_CONNECT_TIMEOUT_MS", c.toss_connect_timeout),
            ("URR_TOSS_TIMEOUT_MS", c.toss_timeout),
            ("URR_TOSS_GET_TIMEOUT_MS", c.toss_get_timeout),
            ("URR_TOSS_BUDGET_MS", c.toss_budget),
            ("URR_RECONCILE_INTERVAL_MS", c.reconcile_interval),
        ] {
            if d.is_zero() {
                bail!("{key}=0 is invalid: expected a positive duration");
            }
        }
        if c.toss_max_attempts == 0 || c.reconcile_batch == 0 {
            bail!("URR_TOSS_MAX_ATTEMPTS and URR_RECONCILE_BATCH must be > 0");
        }
        Ok(c)
    }
}

/// The tier-2 queue and the edge rules pushes (see `queue`).
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// `URR_QUEUE_TICK_MS`, default 1,000: how often each replica runs the admission
    /// loop (one admission batch per event per tick across all replicas).
    pub tick: Duration,
    /// `URR_QUEUE_BATCH`, default 200: most users admitted per event per tick.
    pub batch: u32,
    /// `URR_QUEUE_STALE_SECS`, default 90: a waiter who has not polled for this long is
    /// dropped (the slowest advised poll is every 60 s).
    pub stale: Duration,
    /// `URR_ENTRY_TOKEN_TTL_SECS`, default 600: an entry token's life (never past the
    /// fan's active slot).
    pub entry_ttl: Duration,
    /// `URR_EDGE_URLS`, comma-separated base URLs of the edge workers that receive
    /// every event's rules (`PUT <url>/__urr/rules/<event>`). Empty: no pushes.
    pub edge_urls: Vec<String>,
    /// `URR_EDGE_PUSH_INTERVAL_MS`, default 2,000: how often undelivered rules are
    /// retried (with per-edge backoff).
    pub push_interval: Duration,
}

impl QueueConfig {
    fn from_vars(v: &Vars<'_>) -> Result<QueueConfig> {
        let c = QueueConfig {
            tick: v.millis("URR_QUEUE_TICK_MS", 1000)?,
            batch: v.parse("URR_QUEUE_BATCH", 200)?,
            stale: v.secs("URR_QUEUE_STALE_SECS", 90)?,
            entry_ttl: v.secs("URR_ENTRY_TOKEN_TTL_SECS", 600)?,
            edge_urls: v
                .list("URR_EDGE_URLS")
                .into_iter()
                .map(|u| u.trim_end_matches('/').to_owned())
                .collect(),
            push_interval: v.millis("URR_EDGE_PUSH_INTERVAL_MS", 2000)?,
        };
        if c.tick.is_zero() || c.batch == 0 || c.entry_ttl.is_zero() || c.push_interval.is_zero() {
            bail!(
                "URR_QUEUE_TICK_MS, URR_QUEUE_BATCH, URR_ENTRY_TOKEN_TTL_SECS and \
                 URR_EDGE_PUSH_INTERVAL_MS must be > 0"
            );
        }
        if c.stale < Duration::from_secs(75) {
            bail!(
                "URR_QUEUE_STALE_SECS must be at least 75: waiters far back are told to poll every 60 s"
            );
        }
        for u in &c.edge_urls {
            if !(u.starts_with("http://") || u.starts_with("https://")) {
                bail!("URR_EDGE_URLS: {u:?} is not an http(s) URL");
            }
        }
        Ok(c)
    }
}

/// The outbox relay (see `outbox`).
#[derive(Debug, Clone)]
pub struct OutboxConfig {
    /// `URR_OUTBOX_RELAY_INTERVAL_MS`, default 250: how often unpublished rows are sent.
    pub relay_interval: Duration,
    /// `URR_OUTBOX_BATCH`, default 500 rows per relay transaction.
    pub batch: u32,
    /// `URR_OUTBOX_STREAM_MAXLEN`, default 1,000,000: approximate length cap per stream.
    pub stream_maxlen: u64,
    /// `URR_OUTBOX_RETENTION_HOURS`, default 168: published rows (and consumers'
    /// processed-event records) are purged after this long.
    pub retention: Duration,
}

impl OutboxConfig {
    fn from_vars(v: &Vars<'_>) -> Result<OutboxConfig> {
        let c = OutboxConfig {
            relay_interval: v.millis("URR_OUTBOX_RELAY_INTERVAL_MS", 250)?,
            batch: v.parse("URR_OUTBOX_BATCH", 500)?,
            stream_maxlen: v.parse("URR_OUTBOX_STREAM_MAXLEN", 1_000_000)?,
            retention: Duration::from_secs(
                3600 * v.parse::<u64>("URR_OUTBOX_RETENTION_HOURS", 168)?,
            ),
        };
        if c.relay_interval.is_zero() || c.batch == 0 || c.stream_maxlen == 0 {
            bail!(
                "URR_OUTBOX_RELAY_INTERVAL_MS, URR_OUTBOX_BATCH and URR_OUTBOX_STREAM_MAXLEN \
                 must be > 0"
            );
        }
        Ok(c)
    }
}

impl KeyConfig {
    fn from_vars(v: &Vars<'_>) -> Result<KeyConfig> {
        let spec = v.get("URR_ORIGIN_SIGNING_KEY").context(
            "URR_ORIGIN_SIGNING_KEY is not set. Generate keys with `cargo xtask keys` \
             (cargo xtask dev does it for you).",
        )?;
        let origin_signing = SigningKey::parse(&spec)
            .map_err(|e| anyhow!("URR_ORIGIN_SIGNING_KEY is invalid: {e}"))?;
        let mut public = vec![origin_signing.public_key()];
        if let Some(prev) = v.get("URR_ORIGIN_PREVIOUS_PUBLIC_KEYS") {
            let prev = KeySet::parse(&prev)
                .map_err(|e| anyhow!("URR_ORIGIN_PREVIOUS_PUBLIC_KEYS is invalid: {e}"))?;
            public.extend(prev.keys().cloned());
        }
        let origin_public = KeySet::new(public).map_err(|e| anyhow!("origin key set: {e}"))?;
        let edge_public = v
            .get("URR_EDGE_PUBLIC_KEYS")
            .map(|s| KeySet::parse(&s))
            .transpose()
            .map_err(|e| anyhow!("URR_EDGE_PUBLIC_KEYS is invalid: {e}"))?;
        Ok(KeyConfig {
            origin_signing,
            origin_public,
            edge_public,
        })
    }
}

impl AuthConfig {
    fn from_vars(v: &Vars<'_>) -> Result<AuthConfig> {
        let google = v.get("URR_GOOGLE_CLIENT_ID").map(|client_id| GoogleConfig {
            client_id,
            jwks_url: v.string(
                "URR_GOOGLE_JWKS_URL",
                "https://www.googleapis.com/oauth2/v3/certs",
            ),
            issuers: {
                let l = v.list("URR_GOOGLE_ISSUERS");
                if l.is_empty() {
                    vec![
                        "https://accounts.google.com".into(),
                        "accounts.google.com".into(),
                    ]
                } else {
                    l
                }
            },
        });
        let config = AuthConfig {
            access_ttl: v.secs("URR_ACCESS_TOKEN_TTL_SECS", 1800)?,
            refresh_ttl: v.secs("URR_REFRESH_TOKEN_TTL_SECS", 604_800)?,
            cookie_secure: v.bool("URR_COOKIE_SECURE", true)?,
            argon2_memory_kib: v.parse("URR_ARGON2_MEMORY_KIB", 19_456)?,
            argon2_iterations: v.parse("URR_ARGON2_ITERATIONS", 2)?,
            rate_login_per_ip: v.parse("URR_RATE_LOGIN_PER_IP", 20)?,
            rate_login_per_account: v.parse("URR_RATE_LOGIN_PER_ACCOUNT", 10)?,
            rate_register_per_ip: v.parse("URR_RATE_REGISTER_PER_IP", 10)?,
            rate_window: v.secs("URR_RATE_WINDOW_SECS", 60)?,
            edge_proxy_secrets: v
                .list("URR_EDGE_PROXY_SECRETS")
                .iter()
                .map(|s| {
                    use base64::Engine;
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .decode(s.trim())
                        .ok()
                        .filter(|k| k.len() >= 16)
                        .ok_or_else(|| {
                            anyhow!(
                                "URR_EDGE_PROXY_SECRETS: each secret must be base64url \
                                 (no padding) of at least 16 bytes"
                            )
                        })
                })
                .collect::<Result<_>>()?,
            password_hash_concurrency: v.parse("URR_PASSWORD_HASH_CONCURRENCY", 0)?,
            password_hash_queue: v.millis("URR_PASSWORD_HASH_QUEUE_MS", 2_000)?,
            rate_reservations_per_user: v.parse("URR_RATE_RESERVATIONS_PER_USER_PER_SEC", 5)?,
            rate_queue_joins_per_user: v.parse("URR_RATE_QUEUE_JOINS_PER_USER_PER_SEC", 2)?,
            google,
        };
        // Refuse at start-up what would otherwise fail on the first login.
        argon2::Params::new(config.argon2_memory_kib, config.argon2_iterations, 1, None).map_err(
            |e| {
                anyhow!(
                    "URR_ARGON2_MEMORY_KIB={} / URR_ARGON2_ITERATIONS={} are invalid: {e}",
                    config.argon2_memory_kib,
                    config.argon2_iterations
                )
            },
        )?;
        for (key, d) in [
            ("URR_ACCESS_TOKEN_TTL_SECS", config.access_ttl),
            ("URR_REFRESH_TOKEN_TTL_SECS", config.refresh_ttl),
            ("URR_RATE_WINDOW_SECS", config.rate_window),
        ] {
            if d.is_zero() {
                bail!("{key}=0 is invalid: expected a positive number of seconds");
            }
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const KEY: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE";

    /// `.env.example` is the operator's reference: every setting this file reads is in
    /// it, and its values (with a signing key filled in) make a valid configuration.
    #[test]
    fn env_example_lists_every_setting_and_parses() {
        let example = include_str!("../../.env.example");
        let mut m: HashMap<String, String> = example
            .lines()
            .map(str::trim)
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let source = include_str!("config.rs");
        let mut checked = 0;
        let tests_start = source.find("#[cfg(test)]").unwrap_or(source.len());
        for name in source[..tests_start].split('"').filter(|w| {
            w.starts_with("URR_")
                && w.bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        }) {
            assert!(
                m.contains_key(name),
                "{name} is read but missing from .env.example"
            );
            checked += 1;
        }
        assert!(checked > 50, "only {checked} settings found in config.rs");
        m.insert("URR_ORIGIN_SIGNING_KEY".into(), KEY.into());
        // As shipped it names the docs test keys and refuses them: safe by default.
        let e = Config::from_vars(&Vars::from_map(&m)).unwrap_err();
        assert!(e.to_string().contains("URR_TOSS_ALLOW_TEST"), "{e}");
        m.insert("URR_TOSS_ALLOW_TEST".into(), "true".into());
        let c = Config::from_vars(&Vars::from_map(&m)).expect(".env.example parses");
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(
            c.metrics_addr.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:9090")
        );
        assert_eq!(c.queue.stale, Duration::from_secs(90));
        assert_eq!(c.payments.refund_policy.full_days, 7);
    }

    #[test]
    fn defaults_apply() {
        let m = vars(&[
            ("URR_ORIGIN_SIGNING_KEY", KEY),
            ("URR_TOSS_ALLOW_TEST", "true"),
        ]);
        let c = Config::from_vars(&Vars::from_map(&m)).expect("config");
        assert_eq!(c.http_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(
            c.metrics_addr.map(|a| a.to_string()).as_deref(),
            Some("127.0.0.1:9090")
        );
        assert_eq!(c.payments.webhook_per_ip_per_min, 600);
        assert_eq!(c.payments.webhook_global_per_min, 6000);
        assert_eq!(c.auth.access_ttl, Duration::from_secs(1800));
        assert!(c.auth.cookie_secure);
        assert!(c.auth.edge_proxy_secrets.is_empty());
        assert_eq!(c.auth.rate_reservations_per_user, 5);
        assert!(c.keys.edge_public.is_none());
    }

    #[test]
    fn metrics_listener_is_configurable_and_can_be_turned_off() {
        let with = |value: &str| {
            let m = vars(&[
                ("URR_ORIGIN_SIGNING_KEY", KEY),
                ("URR_TOSS_ALLOW_TEST", "true"),
                ("URR_METRICS_ADDR", value),
            ]);
            Config::from_vars(&Vars::from_map(&m))
        };
        let c = with("0.0.0.0:9100").expect("config");
        assert_eq!(c.metrics_addr, Some(SocketAddr::from(([0, 0, 0, 0], 9100))));
        assert_eq!(with("").expect("config").metrics_addr, None);
        assert_eq!(with("  ").expect("config").metrics_addr, None);
        let e = with("nine-oh-nine-oh").unwrap_err();
        assert!(e.to_string().contains("URR_METRICS_ADDR"), "{e}");
    }

    /// Outside development and tests the origin must not start on test keys: unset
    /// keys (the docs test keys) and explicit test_ keys both need
    /// URR_TOSS_ALLOW_TEST=true, and the error says which variable to set.
    #[test]
    fn test_keys_need_an_explicit_allowance() {
        let parse = |pairs: &[(&str, &str)]| {
            let mut all = vec![("URR_ORIGIN_SIGNING_KEY", KEY)];
            all.extend_from_slice(pairs);
            Config::from_vars(&Vars::from_map(&vars(&all)))
        };
        let e = parse(&[]).unwrap_err().to_string();
        assert!(e.contains("URR_TOSS_SECRET_KEY is not set"), "{e}");
        assert!(e.contains("URR_TOSS_ALLOW_TEST=true"), "{e}");
        let e = parse(&[("URR_TOSS_SECRET_KEY", "test_sk_mine")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("URR_TOSS_SECRET_KEY is a Toss test key"),
            "{e}"
        );
        let e = parse(&[("URR_TOSS_ALLOW_TEST", "false")]).unwrap_err();
        assert!(e.to_string().contains("URR_TOSS_ALLOW_TEST"), "{e}");
        let e = parse(&[("URR_TOSS_ALLOW_TEST", "sure")]).unwrap_err();
        assert!(e.to_string().contains("URR_TOSS_ALLOW_TEST"), "{e}");
        let c = parse(&[("URR_TOSS_ALLOW_TEST", "true")]).expect("allowed");
        assert_eq!(c.payments.toss_secret_key.expose(), TOSS_DOCS_SECRET_KEY);
        // Live keys never need it.
        assert!(
            parse(&[
                ("URR_TOSS_SECRET_KEY", "live_gsk_abc"),
                ("URR_TOSS_CLIENT_KEY", "live_gck_abc"),
                ("URR_TOSS_ALLOW_LIVE", "true"),
            ])
            .is_ok()
        );
    }

    #[test]
    fn toss_keys_are_checked_and_never_printed() {
        let c = Config::from_vars(&Vars::from_map(&vars(&[
            ("URR_ORIGIN_SIGNING_KEY", KEY),
            ("URR_TOSS_ALLOW_TEST", "true"),
        ])))
        .expect("config");
        assert_eq!(c.payments.toss_base_url, "https://api.tosspayments.com");
        assert_eq!(c.payments.toss_secret_key.expose(), TOSS_DOCS_SECRET_KEY);
        assert!(!format!("{c:?}").contains(TOSS_DOCS_SECRET_KEY));
        assert_eq!(c.payments.refund_policy.full_days, 7);
        assert_eq!(c.payments.refund_policy.partial_days, 1);
        assert_eq!(c.payments.refund_policy.partial_percent, 90);

        let live = |extra: &[(&str, &str)]| {
            let mut pairs = vec![
                ("URR_ORIGIN_SIGNING_KEY", KEY),
                ("URR_TOSS_SECRET_KEY", "live_gsk_abc"),
                ("URR_TOSS_CLIENT_KEY", "live_gck_abc"),
            ];
            pairs.extend_from_slice(extra);
            Config::from_vars(&Vars::from_map(&vars(&pairs)))
        };
        let e = live(&[]).unwrap_err();
        assert!(e.to_string().contains("URR_TOSS_ALLOW_LIVE"), "{e}");
        assert!(live(&[("URR_TOSS_ALLOW_LIVE", "true")]).is_ok());
        let e = live(&[
            ("URR_TOSS_ALLOW_LIVE", "true"),
            ("URR_TOSS_ALLOW_TEST", "true"),
            ("URR_TOSS_CLIENT_KEY", "test_gck_x"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("URR_TOSS_CLIENT_KEY"), "{e}");
        for (key, value) in [
            ("URR_TOSS_SECRET_KEY", "sk_nope"),
            ("URR_TOSS_BASE_URL", "ftp://toss"),
            ("URR_TOSS_BUDGET_MS", "15000"),
            ("URR_REFUND_PARTIAL_PERCENT", "120"),
            ("URR_TOSS_MAX_ATTEMPTS", "0"),
            ("URR_WEBHOOK_PER_IP_PER_MIN", "-1"),
        ] {
            let m = vars(&[
                ("URR_ORIGIN_SIGNING_KEY", KEY),
                ("URR_TOSS_ALLOW_TEST", "true"),
                (key, value),
            ]);
            let e = Config::from_vars(&Vars::from_map(&m)).unwrap_err();
            assert!(e.to_string().contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn errors_name_the_variable() {
        let m = vars(&[]);
        let e = Config::from_vars(&Vars::from_map(&m)).unwrap_err();
        assert!(e.to_string().contains("URR_ORIGIN_SIGNING_KEY"), "{e}");
        let m = vars(&[("URR_ORIGIN_SIGNING_KEY", KEY), ("URR_HTTP_ADDR", "nope")]);
        let e = Config::from_vars(&Vars::from_map(&m)).unwrap_err();
        assert!(e.to_string().contains("URR_HTTP_ADDR"), "{e}");
        let m = vars(&[("URR_ORIGIN_SIGNING_KEY", "k1:short")]);
        let e = Config::from_vars(&Vars::from_map(&m)).unwrap_err();
        assert!(e.to_string().contains("URR_ORIGIN_SIGNING_KEY"), "{e}");
        let m = vars(&[
            ("URR_ORIGIN_SIGNING_KEY", KEY),
            ("URR_ARGON2_ITERATIONS", "0"),
        ]);
        let e = Config::from_vars(&Vars::from_map(&m)).unwrap_err();
        assert!(e.to_string().contains("URR_ARGON2_ITERATIONS"), "{e}");
        let m = vars(&[
            ("URR_ORIGIN_SIGNING_KEY", KEY),
            ("URR_RATE_WINDOW_SECS", "0"),
        ]);
        let e = Config::from_vars(&Vars::from_map(&m)).unwrap_err();
        assert!(e.to_string().contains("URR_RATE_WINDOW_SECS"), "{e}");
        let m = vars(&[
            ("URR_ORIGIN_SIGNING_KEY", KEY),
            ("URR_EDGE_PROXY_SECRETS", "not base64!"),
        ]);
        let e = Config::from_vars(&Vars::from_map(&m)).unwrap_err();
        assert!(e.to_string().contains("URR_EDGE_PROXY_SECRETS"), "{e}");
    }
}
