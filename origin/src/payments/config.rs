//! Payments' settings: the Toss keys and client, the refund policy, reconciliation.

use crate::config::{Secret, Vars};
use anyhow::{Result, bail};
use std::time::Duration;

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
    /// `URR_TOSS_WIDGET_URL`, default none: a stand-in for Toss's payment widget (the
    /// Toss fake's `/v1/__test/widget` page in `cargo xtask dev` and the browser
    /// tests). The web app opens it with the same order fields and it returns to the same
    /// success and failure pages; refused with live keys.
    pub toss_widget_url: Option<String>,
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
    pub(crate) fn from_vars(v: &Vars<'_>) -> Result<PaymentsConfig> {
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
        let widget = v
            .get("URR_TOSS_WIDGET_URL")
            .filter(|u| !u.trim().is_empty());
        if let Some(w) = &widget {
            if client.starts_with("live_") {
                bail!("URR_TOSS_WIDGET_URL is for test keys only: live payments use Toss's widget");
            }
            if !(w.starts_with("https://") || w.starts_with("http://")) {
                bail!("URR_TOSS_WIDGET_URL={w:?} is invalid: expected an http(s) URL");
            }
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
            toss_widget_url: widget,
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
