//! Typed configuration from `URR_*` environment variables.
//!
//! Platform settings live here; each capability module owns its own settings struct
//! (`booking::BookingConfig`, `auth::AuthConfig`, ...) in its `config.rs`, parsed from
//! the same [`Vars`] and assembled into [`Config`]. Every setting has one place: its
//! module parses it, `.env.example` documents it (a test checks both directions). A bad
//! value stops the origin at start-up with a message naming the variable; nothing is
//! silently ignored (a mistyped key must never quietly turn a protection off).

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
    /// `URR_HTTP_HEADER_READ_TIMEOUT_MS`, default 20,000: a request head must arrive
    /// within it, and a keep-alive connection idle that long is closed
    /// (`http::serve`).
    pub http_header_read_timeout: Duration,
    /// `URR_HTTP_DRAIN_SECS`, default 30: at shutdown, how long open connections may
    /// finish their requests.
    pub http_drain: Duration,
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
    /// `URR_REDIS_RESPONSE_TIMEOUT_MS`, default 2,000: a Redis call without an answer by
    /// then fails (see `store::Redis::connect`).
    pub redis_response_timeout: Duration,
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
    /// `URR_WEB_DIR`, default `frontend/dist`: the built web app (`npm run build`),
    /// served at `/` when the folder holds an `index.html` (see `web`).
    pub web_dir: std::path::PathBuf,
    pub keys: KeyConfig,
    pub auth: crate::auth::AuthConfig,
    pub booking: crate::booking::BookingConfig,
    pub payments: crate::payments::PaymentsConfig,
    pub outbox: crate::outbox::OutboxConfig,
    pub queue: crate::queue::QueueConfig,
    pub resale: crate::resale::ResaleConfig,
    pub stats: crate::stats::StatsConfig,
    pub uploads: crate::uploads::UploadsConfig,
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
            http_header_read_timeout: v.millis("URR_HTTP_HEADER_READ_TIMEOUT_MS", 20_000)?,
            http_drain: v.secs("URR_HTTP_DRAIN_SECS", 30)?,
            metrics_addr: metrics_addr(v)?,
            database_url: v.string("URR_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/urr"),
            database_max_connections: v.parse("URR_DATABASE_MAX_CONNECTIONS", 32)?,
            migrate_on_start: v.bool("URR_MIGRATE_ON_START", true)?,
            redis_url: v.string("URR_REDIS_URL", "redis://127.0.0.1:6379"),
            redis_prefix: v.string("URR_REDIS_PREFIX", "urr:"),
            redis_response_timeout: v.millis("URR_REDIS_RESPONSE_TIMEOUT_MS", 2000)?,
            log_format,
            web_dir: v.string("URR_WEB_DIR", "frontend/dist").into(),
            log_filter: v.string("URR_LOG", "info"),
            cors_origins: v.list("URR_CORS_ORIGINS"),
            body_limit_bytes: v.parse("URR_BODY_LIMIT_BYTES", 64 * 1024)?,
            request_timeout: v.millis("URR_REQUEST_TIMEOUT_MS", 15_000)?,
            background_jobs: v.bool("URR_BACKGROUND_JOBS", true)?,
            check_declared_errors: v.bool("URR_CHECK_DECLARED_ERRORS", cfg!(debug_assertions))?,
            keys: KeyConfig::from_vars(v)?,
            auth: crate::auth::AuthConfig::from_vars(v)?,
            booking: crate::booking::BookingConfig::from_vars(v)?,
            payments: crate::payments::PaymentsConfig::from_vars(v)?,
            outbox: crate::outbox::OutboxConfig::from_vars(v)?,
            queue: crate::queue::QueueConfig::from_vars(v)?,
            resale: crate::resale::ResaleConfig::from_vars(v)?,
            stats: crate::stats::StatsConfig::from_vars(v)?,
            uploads: crate::uploads::UploadsConfig::from_vars(v)?,
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
        if self.redis_response_timeout.is_zero() {
            bail!("URR_REDIS_RESPONSE_TIMEOUT_MS must be above 0: every Redis call would fail");
        }
        if self.http_header_read_timeout.is_zero() {
            bail!("URR_HTTP_HEADER_READ_TIMEOUT_MS must be above 0: no request could arrive");
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payments::TOSS_DOCS_SECRET_KEY;

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
        // This file and every module's own settings.
        let sources = [
            include_str!("config.rs"),
            include_str!("auth/config.rs"),
            include_str!("booking/config.rs"),
            include_str!("outbox/config.rs"),
            include_str!("payments/config.rs"),
            include_str!("queue/config.rs"),
        ];
        let mut checked = 0;
        let read = sources.iter().flat_map(|source| {
            let tests_start = source.find("#[cfg(test)]").unwrap_or(source.len());
            source[..tests_start].split('"')
        });
        for name in read.filter(|w| {
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
        let m = vars(&[
            ("URR_ORIGIN_SIGNING_KEY", KEY),
            ("URR_TOSS_ALLOW_TEST", "true"),
            ("URR_REDIS_RESPONSE_TIMEOUT_MS", "0"),
        ]);
        let e = Config::from_vars(&Vars::from_map(&m)).unwrap_err();
        assert!(
            e.to_string().contains("URR_REDIS_RESPONSE_TIMEOUT_MS"),
            "{e}"
        );
    }
}
