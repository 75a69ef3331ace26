//! The Toss API: four calls, one request pipeline.
//!
//! Every call goes through the same steps, in the order Toss applies them:
//!
//! 1. **Authenticate** the Basic header (module `auth`); failures are never stored.
//! 2. **Idempotency** (POSTs with an `Idempotency-Key` only): a stored response is
//!    replayed byte for byte and nothing else happens; a key still in flight gets
//!    `IDEMPOTENT_REQUEST_PROCESSING`; otherwise the key is claimed.
//! 3. **Execute** in a spawned task, so the work finishes (and its response is stored
//!    under the key) even when the client disconnects half-way, as a real server would:
//!    validate the body, look up the faults of this call into a [`Plan`], wait
//!    (`Delay`), fail early (`500`, `PROVIDER_ERROR`), apply the rules of the store,
//!    wait again (`DelayAfterCommit`).
//! 4. **Answer**, or cut the connection without answering (`CommitThenDrop`).
//!
//! Bodies are parsed by hand from JSON values, so every malformed body becomes a Toss
//! `INVALID_REQUEST` naming the field instead of a framework error.

use crate::admin;
use crate::auth;
use crate::conn::ConnHandle;
use crate::error::{TossError, json_response};
use crate::faults::{Op, Plan, triggers};
use crate::idempotency::{Claim, MAX_KEY_LEN, Scope, StoredResponse};
use crate::model::Payment;
use crate::store::{CancelRequest, ConfirmRequest, FlightGuard, Shared, Store, is_valid_order_id};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};
use std::sync::Arc;

/// The whole HTTP surface: the Toss API plus the `/v1/__test` admin endpoints.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/payments/confirm", post(confirm))
        .route("/v1/payments/orders/{order_id}", get(get_by_order))
        .route("/v1/payments/{payment_key}", get(get_by_key))
        .route("/v1/payments/{payment_key}/cancel", post(cancel))
        .merge(admin::router())
        .fallback(|| async {
            TossError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "존재하지 않는 API 입니다.",
            )
        })
        .method_not_allowed_fallback(|| async {
            TossError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "지원하지 않는 HTTP 메서드 입니다.",
            )
        })
        .with_state(shared)
}

/// One call of the API, with what it needs besides the headers.
enum Call {
    Confirm(Bytes),
    Cancel { payment_key: String, body: Bytes },
    GetByKey(String),
    GetByOrder(String),
}

impl Call {
    fn op(&self) -> Op {
        match self {
            Call::Confirm(_) => Op::Confirm,
            Call::Cancel { .. } => Op::Cancel,
            Call::GetByKey(_) | Call::GetByOrder(_) => Op::Get,
        }
    }
}

/// How an execution ended.
struct Outcome {
    status: StatusCode,
    body: Vec<u8>,
    /// The error code, for logs and the idempotency decision.
    code: Option<String>,
    drop_connection: bool,
}

impl Outcome {
    fn ok(payment: &Payment) -> Self {
        Outcome {
            status: StatusCode::OK,
            body: serde_json::to_vec(payment).unwrap_or_default(),
            code: None,
            drop_connection: false,
        }
    }

    fn error(err: TossError) -> Self {
        Outcome {
            status: err.status,
            body: err.body_bytes(),
            code: Some(err.code.to_string()),
            drop_connection: false,
        }
    }
}

async fn confirm(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(shared, conn, method, uri, headers, Call::Confirm(body)).await
}

async fn cancel(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    path: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(Path(payment_key)) = path else {
        return TossError::invalid_request("paymentKey가 올바르지 않습니다.").into_response();
    };
    let call = Call::Cancel { payment_key, body };
    handle(shared, conn, method, uri, headers, call).await
}

async fn get_by_key(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    path: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(payment_key)) = path else {
        return TossError::invalid_request("paymentKey가 올바르지 않습니다.").into_response();
    };
    handle(
        shared,
        conn,
        method,
        uri,
        headers,
        Call::GetByKey(payment_key),
    )
    .await
}

async fn get_by_order(
    State(shared): State<Arc<Shared>>,
    ConnectInfo(conn): ConnectInfo<ConnHandle>,
    path: Result<Path<String>, PathRejection>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let Ok(Path(order_id)) = path else {
        return TossError::invalid_request("orderId가 올바르지 않습니다.").into_response();
    };
    handle(
        shared,
        conn,
        method,
        uri,
        headers,
        Call::GetByOrder(order_id),
    )
    .await
}

/// Steps 1, 2 and 4 of the pipeline (see the module docs).
async fn handle(
    shared: Arc<Shared>,
    conn: ConnHandle,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    call: Call,
) -> Response {
    let op = call.op();
    let quirks = &shared.config.quirks;
    let secret_key = match auth::authenticate(
        &headers,
        &shared.config.secret_keys,
        quirks.unauthorized_key_status,
    ) {
        Ok(key) => key,
        Err(e) => return logged(op, e.into_response()),
    };
    let scope = if op == Op::Get {
        None
    } else {
        match idempotency_scope(&headers, secret_key, &method, &uri) {
            Ok(scope) => scope,
            Err(e) => return logged(op, e.into_response()),
        }
    };
    if let Some(scope) = &scope {
        match shared.with_store(|s, now| s.idempotency.claim(scope, now)) {
            Claim::Execute => {}
            Claim::Replay(stored) => {
                tracing::info!(?op, key = %scope.key, "idempotent replay");
                let status = StatusCode::from_u16(stored.status)
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return json_response(status, stored.body);
            }
            Claim::InFlight => {
                let err =
                    TossError::idempotent_request_processing(quirks.idempotent_processing_status);
                return logged(op, err.into_response());
            }
        }
    }
    let execution = Execution {
        _flight: shared.enter_flight(),
        shared: Arc::clone(&shared),
        scope,
    };
    let outcome = match tokio::spawn(execute(Arc::clone(&shared), call, execution)).await {
        Ok(outcome) => outcome,
        Err(e) => {
            tracing::error!(error = %e, "execution task failed");
            Outcome::error(TossError::failed_internal_system_processing())
        }
    };
    tracing::info!(?op, status = outcome.status.as_u16(), code = ?outcome.code, dropped = outcome.drop_connection, "toss call");
    if outcome.drop_connection {
        tracing::info!(remote = %conn.remote, "fault: dropping the connection after the commit");
        conn.kill.kill();
    }
    json_response(outcome.status, outcome.body)
}

fn logged(op: Op, res: Response) -> Response {
    tracing::info!(?op, status = res.status().as_u16(), "toss call refused");
    res
}

/// The scope of the request's `Idempotency-Key`, if it sent one.
fn idempotency_scope(
    headers: &HeaderMap,
    secret_key: String,
    method: &Method,
    uri: &Uri,
) -> Result<Option<Scope>, TossError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| TossError::invalid_request("Idempotency-Key가 올바르지 않습니다."))?
        .trim();
    if key.is_empty() || key.chars().count() > MAX_KEY_LEN {
        return Err(TossError::invalid_request(
            "Idempotency-Key는 1자 이상 300자 이하여야 합니다.",
        ));
    }
    Ok(Some(Scope {
        key: key.to_owned(),
        secret_key,
        path: uri.path().to_owned(),
        method: method.as_str().to_owned(),
    }))
}

/// A running execution: counted as in flight, and owning its idempotency claim. If it
/// ends without [`Execution::finish`] (a panic), the claim is released so the key does
/// not stay "processing" forever.
struct Execution {
    _flight: FlightGuard,
    shared: Arc<Shared>,
    scope: Option<Scope>,
}

impl Execution {
    fn finish(mut self, outcome: &Outcome) {
        if let Some(scope) = self.scope.take() {
            let stored = storable(outcome, self.shared.config.quirks.replay_error_responses);
            self.shared
                .with_store(|s, _| s.idempotency.complete(&scope, stored));
        }
    }
}

impl Drop for Execution {
    fn drop(&mut self) {
        if let Some(scope) = self.scope.take() {
            self.shared
                .with_store(|s, _| s.idempotency.complete(&scope, None));
        }
    }
}

/// Whether a response is kept for replay under its Idempotency-Key.
fn storable(outcome: &Outcome, replay_errors: bool) -> Option<StoredResponse> {
    let never = [
        "FORBIDDEN_CONSECUTIVE_REQUEST",
        "IDEMPOTENT_REQUEST_PROCESSING",
    ];
    let keep = outcome.status.is_success()
        || (replay_errors
            && outcome.status.is_client_error()
            && !outcome.code.as_deref().is_some_and(|c| never.contains(&c)));
    keep.then(|| StoredResponse {
        status: outcome.status.as_u16(),
        body: outcome.body.clone(),
    })
}

/// Step 3: everything after the idempotency claim.
async fn execute(shared: Arc<Shared>, call: Call, execution: Execution) -> Outcome {
    let outcome = run(&shared, call).await;
    execution.finish(&outcome);
    outcome
}

async fn run(shared: &Shared, call: Call) -> Outcome {
    match call {
        Call::Confirm(body) => {
            let req = match parse_confirm(&body) {
                Ok(req) => req,
                Err(e) => return Outcome::error(e),
            };
            let plan = shared.with_store(|s, _| plan_for(s, Op::Confirm, &req.order_id, None));
            commit(shared, plan, |s, plan, now| s.confirm(&req, plan, now)).await
        }
        Call::Cancel { payment_key, body } => {
            let req = match parse_cancel(&body) {
                Ok(req) => req,
                Err(e) => return Outcome::error(e),
            };
            let plan = shared.with_store(|s, _| {
                let order_id = s.order_of(&payment_key).unwrap_or_default();
                plan_for(s, Op::Cancel, &order_id, Some(&req.cancel_reason))
            });
            commit(shared, plan, |s, plan, now| {
                s.cancel(&payment_key, &req, plan, now)
            })
            .await
        }
        Call::GetByKey(payment_key) => {
            let plan = shared.with_store(|s, _| {
                let order_id = s.order_of(&payment_key).unwrap_or_default();
                plan_for(s, Op::Get, &order_id, None)
            });
            commit(shared, plan, |s, _, _| {
                s.by_key(&payment_key)
                    .cloned()
                    .ok_or_else(TossError::not_found_payment)
            })
            .await
        }
        Call::GetByOrder(order_id) => {
            let plan = shared.with_store(|s, _| plan_for(s, Op::Get, &order_id, None));
            let code = shared.config.quirks.unknown_order_code.clone();
            commit(shared, plan, |s, _, _| {
                s.by_order(&order_id)
                    .cloned()
                    .ok_or_else(|| TossError::not_found_order(&code))
            })
            .await
        }
    }
}

/// The faults of one call: matching rules (used up) plus trigger substrings.
fn plan_for(store: &mut Store, op: Op, order_id: &str, cancel_reason: Option<&str>) -> Plan {
    let order = (!order_id.is_empty()).then_some(order_id);
    let mut kinds = store.faults.take(op, order);
    kinds.extend(triggers(op, order_id, cancel_reason));
    Plan::from_kinds(kinds)
}

/// Runs `apply` under the plan: delay, fail early, apply, delay, maybe drop.
async fn commit(
    shared: &Shared,
    plan: Plan,
    apply: impl FnOnce(&mut Store, &Plan, DateTime<FixedOffset>) -> Result<Payment, TossError>,
) -> Outcome {
    if let Some(delay) = plan.delay {
        tokio::time::sleep(delay).await;
    }
    if let Some(err) = plan.fail.clone() {
        return Outcome::error(err);
    }
    match shared.with_store(|s, now| apply(s, &plan, now)) {
        Ok(payment) => {
            if let Some(delay) = plan.delay_after_commit {
                tokio::time::sleep(delay).await;
            }
            Outcome {
                drop_connection: plan.drop_connection,
                ..Outcome::ok(&payment)
            }
        }
        Err(e) => Outcome::error(e),
    }
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, TossError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(TossError::invalid_request(
            "요청 본문은 JSON 객체여야 합니다.",
        )),
    }
}

fn required_string(map: &Map<String, Value>, field: &'static str) -> Result<String, TossError> {
    match map.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        _ => Err(TossError::invalid_request(format!(
            "{field}는 필수 값입니다."
        ))),
    }
}

/// An integer amount: a JSON number or a numeric string (Toss tolerates the latter).
fn optional_amount(
    map: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<i64>, TossError> {
    let invalid = || TossError::invalid_request(format!("{field}는 0 이상의 정수여야 합니다."));
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().filter(|v| *v >= 0).map(Some).ok_or_else(invalid),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .map(Some)
            .ok_or_else(invalid),
        Some(_) => Err(invalid()),
    }
}

fn parse_confirm(body: &[u8]) -> Result<ConfirmRequest, TossError> {
    let map = parse_object(body)?;
    let payment_key = required_string(&map, "paymentKey")?;
    if payment_key.chars().count() > 200 {
        return Err(TossError::invalid_request(
            "paymentKey는 200자 이하여야 합니다.",
        ));
    }
    let order_id = required_string(&map, "orderId")?;
    if !is_valid_order_id(&order_id) {
        return Err(TossError::invalid_request(
            "orderId는 영문 대소문자, 숫자, 특수문자(-, _)로 이루어진 6자 이상 64자 이하 문자열이어야 합니다.",
        ));
    }
    let amount = optional_amount(&map, "amount")?
        .filter(|a| *a >= 1)
        .ok_or_else(|| TossError::invalid_request("amount는 1 이상의 정수여야 합니다."))?;
    Ok(ConfirmRequest {
        payment_key,
        order_id,
        amount,
    })
}

fn parse_cancel(body: &[u8]) -> Result<CancelRequest, TossError> {
    let map = parse_object(body)?;
    let cancel_reason = required_string(&map, "cancelReason")?;
    if cancel_reason.chars().count() > 200 {
        return Err(TossError::invalid_request(
            "cancelReason은 200자 이하여야 합니다.",
        ));
    }
    let cancel_amount = optional_amount(&map, "cancelAmount")?;
    if cancel_amount == Some(0) {
        return Err(TossError::invalid_request(
            "cancelAmount는 1 이상이어야 합니다.",
        ));
    }
    Ok(CancelRequest {
        cancel_reason,
        cancel_amount,
        tax_free_amount: optional_amount(&map, "taxFreeAmount")?.unwrap_or(0),
        refundable_amount: optional_amount(&map, "refundableAmount")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirm_bodies() {
        let ok = parse_confirm(br#"{"paymentKey":"pk","orderId":"ord_123","amount":"1500"}"#)
            .expect("numeric string amount is tolerated");
        assert_eq!(ok.amount, 1500);
        for bad in [
            &br#"{"orderId":"ord_123","amount":1}"#[..],
            br#"{"paymentKey":"pk","orderId":"ord","amount":1}"#,
            br#"{"paymentKey":"pk","orderId":"ord_123","amount":0}"#,
            br#"{"paymentKey":"pk","orderId":"ord_123","amount":1.5}"#,
            br#"[1]"#,
            b"not json",
        ] {
            let err = parse_confirm(bad).expect_err("invalid body");
            assert_eq!(err.code, "INVALID_REQUEST");
        }
    }

    #[test]
    fn cancel_bodies() {
        let full = parse_cancel(r#"{"cancelReason":"고객 변심"}"#.as_bytes()).expect("full cancel");
        assert_eq!(full.cancel_amount, None);
        let partial =
            parse_cancel(br#"{"cancelReason":"x","cancelAmount":500,"refundReceiveAccount":null}"#)
                .expect("partial cancel");
        assert_eq!(partial.cancel_amount, Some(500));
        for bad in [
            &br#"{"cancelAmount":500}"#[..],
            br#"{"cancelReason":"  "}"#,
            br#"{"cancelReason":"x","cancelAmount":0}"#,
            br#"{"cancelReason":"x","cancelAmount":-5}"#,
        ] {
            assert_eq!(
                parse_cancel(bad).expect_err("invalid").code,
                "INVALID_REQUEST"
            );
        }
    }
}
