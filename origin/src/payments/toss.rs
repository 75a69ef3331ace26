//! The Toss Payments client: four calls, nothing clever, every failure classified.
//!
//! Follows the Toss contract points written down in `docs/toss-payments.md`:
//!
//! - `Authorization: Basic base64("<secretKey>:")` (trailing colon); the key comes from
//!   config only and is never logged (we log paymentKey and orderId).
//! - Confirm and cancel always carry an `Idempotency-Key` chosen by the caller, and the
//!   caller retries **only with the same key** (this client never retries by itself:
//!   the retry policy, bounded by the hold and the request budget, lives in
//!   `service`).
//! - Timeouts: connect `URR_TOSS_CONNECT_TIMEOUT_MS`, confirm/cancel
//!   `URR_TOSS_TIMEOUT_MS` (or less, if the caller's budget is shorter), reads
//!   `URR_TOSS_GET_TIMEOUT_MS`. A timeout means **outcome unknown**, never "failed".
//! - Responses are checked strictly by the caller with [`TossPayment::verify`]: status,
//!   orderId, total amount and currency must be ours.
//!
//! Errors are [`TossError`]: no response at all, an error object (`code` is what we
//! branch on; messages are Korean and for humans), or an unreadable success.

use crate::payments::PaymentsConfig;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use reqwest::{Method, StatusCode, Url};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use std::time::Duration;

/// A Toss `Payment.status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TossStatus {
    Ready,
    InProgress,
    WaitingForDeposit,
    Done,
    Canceled,
    PartialCanceled,
    Aborted,
    Expired,
    /// A status this client does not know; treated as "not settled".
    Other(String),
}

impl TossStatus {
    pub fn parse(s: &str) -> TossStatus {
        match s {
            "READY" => TossStatus::Ready,
            "IN_PROGRESS" => TossStatus::InProgress,
            "WAITING_FOR_DEPOSIT" => TossStatus::WaitingForDeposit,
            "DONE" => TossStatus::Done,
            "CANCELED" => TossStatus::Canceled,
            "PARTIAL_CANCELED" => TossStatus::PartialCanceled,
            "ABORTED" => TossStatus::Aborted,
            "EXPIRED" => TossStatus::Expired,
            other => TossStatus::Other(other.to_owned()),
        }
    }
}

/// Money fields are JSON numbers in KRW; tolerate integral floats and numeric strings
/// (an unofficial spec types some as strings).
fn amount<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let v = Value::deserialize(d)?;
    let n = match &v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0).map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.ok_or_else(|| serde::de::Error::custom(format!("not an integer amount: {v}")))
}

/// One element of `cancels[]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TossCancel {
    #[serde(deserialize_with = "amount")]
    pub cancel_amount: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TossFailure {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// The fields of a Toss Payment we act on, plus the whole object as received.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TossPayment {
    pub payment_key: String,
    pub order_id: String,
    #[serde(rename = "status")]
    pub status_text: String,
    #[serde(deserialize_with = "amount")]
    pub total_amount: i64,
    #[serde(deserialize_with = "amount")]
    pub balance_amount: i64,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub approved_at: Option<String>,
    #[serde(default)]
    pub cancels: Option<Vec<TossCancel>>,
    #[serde(default)]
    pub is_partial_cancelable: bool,
    #[serde(default)]
    pub failure: Option<TossFailure>,
    /// The object exactly as Toss sent it (stored for audits).
    #[serde(skip)]
    pub raw: Value,
}

impl TossPayment {
    pub fn status(&self) -> TossStatus {
        TossStatus::parse(&self.status_text)
    }

    /// Money already returned, over every cancel.
    pub fn cancelled_amount(&self) -> i64 {
        self.cancels
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|c| c.cancel_amount)
            .sum()
    }

    /// The approval time, if Toss sent a parsable one.
    pub fn approved_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.approved_at
            .as_deref()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&chrono::Utc))
    }

    /// An approval counts only if it is for our order, for exactly our amount, in KRW
    /// (anything else is someone else's payment). Returns what is wrong.
    pub fn verify(&self, order_id: &str, amount: i64) -> Result<(), String> {
        if self.order_id != order_id {
            return Err(format!(
                "orderId {} is not ours ({order_id})",
                self.order_id
            ));
        }
        if self.total_amount != amount {
            return Err(format!(
                "totalAmount {} differs from the order's {amount}",
                self.total_amount
            ));
        }
        if let Some(c) = &self.currency
            && c != "KRW"
        {
            return Err(format!("currency {c} is not KRW"));
        }
        Ok(())
    }
}

/// Why a call did not return a Payment.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TossError {
    /// No answer: timeout, refused, reset, or closed before the response. The call may
    /// or may not have taken effect.
    #[error("no response from Toss: {0}")]
    NoResponse(String),
    /// Toss answered with its error object.
    #[error("Toss answered {status} {code}")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    /// A 2xx whose body is not a Payment. The call took effect (or not) unknown.
    #[error("unreadable answer from Toss: {0}")]
    BadResponse(String),
}

/// Toss error codes after which the same call (same Idempotency-Key) may succeed later.
const RETRYABLE_CODES: &[&str] = &[
    "PROVIDER_ERROR",
    "CARD_PROCESSING_ERROR",
    "IDEMPOTENT_REQUEST_PROCESSING",
    "FORBIDDEN_CONSECUTIVE_REQUEST",
    "FAILED_INTERNAL_SYSTEM_PROCESSING",
    "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
    "UNKNOWN_PAYMENT_ERROR",
    "FAILED_DB_PROCESSING",
    "FAILED_CARD_COMPANY_RESPONSE",
    "COMMON_ERROR",
    "FAILED_REFUND_PROCESS",
    "FAILED_PARTIAL_REFUND",
    "FAILED_METHOD_HANDLING_CANCEL",
];

/// Codes that mean our configuration is wrong, not the customer's card.
const CONFIG_CODES: &[&str] = &[
    "INVALID_API_KEY",
    "UNAUTHORIZED_KEY",
    "INCORRECT_BASIC_AUTH_FORMAT",
];

impl TossError {
    pub fn code(&self) -> Option<&str> {
        match self {
            TossError::Api { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Worth another try with the same Idempotency-Key.
    pub fn is_retryable(&self) -> bool {
        match self {
            TossError::NoResponse(_) | TossError::BadResponse(_) => true,
            TossError::Api { status, code, .. } => {
                *status >= 500 || RETRYABLE_CODES.contains(&code.as_str())
            }
        }
    }

    /// The call may have taken effect: read the payment before deciding anything.
    pub fn outcome_unknown(&self) -> bool {
        match self {
            TossError::NoResponse(_) | TossError::BadResponse(_) => true,
            TossError::Api { status, code, .. } => {
                *status >= 500 || code == "UNKNOWN_PAYMENT_ERROR"
            }
        }
    }

    /// Our keys or headers are wrong: an operator must act.
    pub fn is_config(&self) -> bool {
        matches!(self.code(), Some(c) if CONFIG_CODES.contains(&c))
    }

    /// Worth a wait of more than a second before the next try (Toss refuses a second
    /// cancel of one payment within a second).
    pub fn wants_slow_retry(&self) -> bool {
        matches!(self.code(), Some("FORBIDDEN_CONSECUTIVE_REQUEST"))
    }

    /// Short text for `last_error` columns and logs.
    pub fn summary(&self) -> String {
        match self {
            TossError::Api { status, code, .. } => format!("{status} {code}"),
            other => other.to_string(),
        }
    }
}

/// The client. Cheap to clone.
#[derive(Clone)]
pub struct TossClient {
    http: reqwest::Client,
    base: Url,
    authorization: String,
    timeout: Duration,
    get_timeout: Duration,
}

impl std::fmt::Debug for TossClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TossClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl TossClient {
    pub fn new(cfg: &PaymentsConfig) -> anyhow::Result<TossClient> {
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.toss_connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()?;
        let base = Url::parse(&format!("{}/", cfg.toss_base_url))
            .map_err(|e| anyhow::anyhow!("URR_TOSS_BASE_URL is invalid: {e}"))?;
        let authorization = format!(
            "Basic {}",
            STANDARD.encode(format!("{}:", cfg.toss_secret_key.expose()))
        );
        Ok(TossClient {
            http,
            base,
            authorization,
            timeout: cfg.toss_timeout,
            get_timeout: cfg.toss_get_timeout,
        })
    }

    /// The POST timeout, or less if the caller has less time left.
    pub fn post_timeout(&self, left: Duration) -> Duration {
        self.timeout.min(left)
    }

    fn url(&self, segments: &[&str]) -> Result<Url, TossError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| TossError::BadResponse("base URL cannot have a path".into()))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    async fn call(
        &self,
        op: &'static str,
        method: Method,
        url: Url,
        idempotency_key: Option<&str>,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<TossPayment, TossError> {
        let mut req = self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, &self.authorization)
            .timeout(timeout);
        if let Some(key) = idempotency_key {
            req = req.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let started = std::time::Instant::now();
        let result = self.send(req).await;
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(TossError::Api { code, .. }) => code.clone(),
            Err(TossError::NoResponse(_)) => "no_response".to_owned(),
            Err(TossError::BadResponse(_)) => "bad_response".to_owned(),
        };
        metrics::counter!("toss_calls_total", "op" => op, "outcome" => outcome).increment(1);
        metrics::histogram!("toss_call_duration_seconds", "op" => op)
            .record(started.elapsed().as_secs_f64());
        result
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<TossPayment, TossError> {
        let res = req
            .send()
            .await
            .map_err(|e| TossError::NoResponse(describe(&e)))?;
        let status = res.status();
        let bytes = res
            .bytes()
            .await
            .map_err(|e| TossError::NoResponse(describe(&e)))?;
        if status.is_success() {
            let raw: Value = serde_json::from_slice(&bytes)
                .map_err(|e| TossError::BadResponse(format!("not JSON: {e}")))?;
            let mut payment: TossPayment = serde_json::from_value(raw.clone())
                .map_err(|e| TossError::BadResponse(format!("not a Payment: {e}")))?;
            payment.raw = raw;
            return Ok(payment);
        }
        #[derive(Deserialize)]
        struct ErrorBody {
            code: String,
            #[serde(default)]
            message: String,
        }
        match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(e) => Err(TossError::Api {
                status: status.as_u16(),
                code: e.code,
                message: e.message,
            }),
            Err(_) => Err(TossError::Api {
                status: status.as_u16(),
                code: if status == StatusCode::NOT_FOUND {
                    "NOT_FOUND".to_owned()
                } else {
                    format!("HTTP_{}", status.as_u16())
                },
                message: String::from_utf8_lossy(&bytes).chars().take(200).collect(),
            }),
        }
    }

    /// `POST /v1/payments/confirm`.
    pub async fn confirm(
        &self,
        idempotency_key: &str,
        payment_key: &str,
        order_id: &str,
        amount: i64,
        timeout: Duration,
    ) -> Result<TossPayment, TossError> {
        let url = self.url(&["v1", "payments", "confirm"])?;
        let body = json!({"paymentKey": payment_key, "orderId": order_id, "amount": amount});
        self.call(
            "confirm",
            Method::POST,
            url,
            Some(idempotency_key),
            Some(body),
            timeout,
        )
        .await
    }

    /// `POST /v1/payments/{paymentKey}/cancel`; `amount: None` cancels the whole balance.
    pub async fn cancel(
        &self,
        idempotency_key: &str,
        payment_key: &str,
        reason: &str,
        amount: Option<i64>,
        timeout: Duration,
    ) -> Result<TossPayment, TossError> {
        let url = self.url(&["v1", "payments", payment_key, "cancel"])?;
        let mut body = json!({"cancelReason": reason});
        if let Some(a) = amount {
            body["cancelAmount"] = json!(a);
        }
        self.call(
            "cancel",
            Method::POST,
            url,
            Some(idempotency_key),
            Some(body),
            timeout,
        )
        .await
    }

    /// `GET /v1/payments/{paymentKey}`.
    pub async fn get_by_key(&self, payment_key: &str) -> Result<TossPayment, TossError> {
        let url = self.url(&["v1", "payments", payment_key])?;
        self.call("get", Method::GET, url, None, None, self.get_timeout)
            .await
    }

    /// `GET /v1/payments/orders/{orderId}`.
    pub async fn get_by_order(&self, order_id: &str) -> Result<TossPayment, TossError> {
        let url = self.url(&["v1", "payments", "orders", order_id])?;
        self.call("get", Method::GET, url, None, None, self.get_timeout)
            .await
    }
}

/// Whether a Toss answer to a read means "Toss has no such payment".
pub fn is_not_found(e: &TossError) -> bool {
    matches!(e, TossError::Api { status: 404, code, .. }
        if code == "NOT_FOUND_PAYMENT" || code == "NOT_FOUND")
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else {
        "transport"
    };
    // The URL holds paymentKeys and order ids only, never the secret key.
    let mut text = format!("{kind}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payment(json: Value) -> TossPayment {
        serde_json::from_value(json).expect("payment")
    }

    #[test]
    fn verify_checks_order_amount_and_currency() {
        let p = payment(
            json!({"paymentKey": "pk", "orderId": "ord_1", "status": "DONE",
            "totalAmount": 1000, "balanceAmount": 1000, "currency": "KRW"}),
        );
        assert!(p.verify("ord_1", 1000).is_ok());
        assert!(p.verify("ord_2", 1000).is_err());
        assert!(p.verify("ord_1", 999).is_err());
        let usd = payment(
            json!({"paymentKey": "pk", "orderId": "ord_1", "status": "DONE",
            "totalAmount": 1000, "balanceAmount": 1000, "currency": "USD"}),
        );
        assert!(usd.verify("ord_1", 1000).is_err());
    }

    #[test]
    fn amounts_accept_numbers_and_numeric_strings_only() {
        let p = payment(
            json!({"paymentKey": "pk", "orderId": "o", "status": "PARTIAL_CANCELED",
            "totalAmount": "1000", "balanceAmount": 400.0,
            "cancels": [{"cancelAmount": 600, "cancelReason": "x"}]}),
        );
        assert_eq!(p.total_amount, 1000);
        assert_eq!(p.balance_amount, 400);
        assert_eq!(p.cancelled_amount(), 600);
        assert_eq!(p.status(), TossStatus::PartialCanceled);
        let bad: Result<TossPayment, _> = serde_json::from_value(json!({"paymentKey": "pk",
            "orderId": "o", "status": "DONE", "totalAmount": 10.5, "balanceAmount": 1}));
        assert!(bad.is_err());
    }

    #[test]
    fn errors_are_classified() {
        let api = |status: u16, code: &str| TossError::Api {
            status,
            code: code.to_owned(),
            message: String::new(),
        };
        assert!(TossError::NoResponse("t".into()).outcome_unknown());
        assert!(api(500, "FAILED_INTERNAL_SYSTEM_PROCESSING").outcome_unknown());
        assert!(api(400, "PROVIDER_ERROR").is_retryable());
        assert!(!api(400, "PROVIDER_ERROR").outcome_unknown());
        assert!(api(409, "IDEMPOTENT_REQUEST_PROCESSING").is_retryable());
        assert!(!api(403, "REJECT_CARD_PAYMENT").is_retryable());
        assert!(!api(400, "INVALID_REQUEST").is_retryable());
        assert!(api(401, "UNAUTHORIZED_KEY").is_config());
        assert!(api(403, "FORBIDDEN_CONSECUTIVE_REQUEST").wants_slow_retry());
        assert!(is_not_found(&api(404, "NOT_FOUND_PAYMENT")));
        assert!(!is_not_found(&api(404, "NOT_FOUND_PAYMENT_SESSION")));
    }

    #[test]
    fn the_secret_key_is_the_basic_user_name_with_a_colon() {
        let cfg = crate::config::Config::from_vars(&crate::config::Vars::from_map(
            &[
                (
                    "URR_ORIGIN_SIGNING_KEY".to_owned(),
                    "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE".to_owned(),
                ),
                ("URR_TOSS_ALLOW_TEST".to_owned(), "true".to_owned()),
            ]
            .into_iter()
            .collect(),
        ))
        .expect("config");
        let client = TossClient::new(&cfg.payments).expect("client");
        let encoded = client.authorization.strip_prefix("Basic ").expect("basic");
        let decoded = String::from_utf8(STANDARD.decode(encoded).expect("b64")).expect("utf8");
        assert_eq!(
            decoded,
            format!("{}:", crate::payments::TOSS_DOCS_SECRET_KEY)
        );
        assert!(!format!("{client:?}").contains("test_gsk"));
        let url = client.url(&["v1", "payments", "a/b?c"]).expect("url");
        assert!(url.as_str().ends_with("/v1/payments/a%2Fb%3Fc"), "{url}");
    }
}
