//! `/v1/__test/…`: what the real Toss does not have — the stand-ins for the customer's
//! widget, the clock, the fault switches and the inspection API — over HTTP, so that
//! tests in any language and `cargo xtask dev` demos can use them.
//!
//! These endpoints need no authentication (the fake only ever listens where tests run).
//!
//! | endpoint | body / query | answer |
//! |---|---|---|
//! | `POST /v1/__test/authorize` | `{orderId, amount, orderName?, isPartialCancelable?}` | `{paymentKey, orderId, amount, status}` |
//! | `GET /v1/__test/widget` | `?orderId&orderName&amount&successUrl&failUrl` | HTML page with Pay / Cancel (payment `READY`) |
//! | `POST /v1/__test/widget/{paymentKey}/pay` | — | 303 to `successUrl?paymentType=NORMAL&orderId&paymentKey&amount` |
//! | `GET /v1/__test/clock` | — | `{now, offsetMs, frozen}` |
//! | `POST /v1/__test/clock/advance` | `{ms?, seconds?, minutes?}` (summed) | `{now, offsetMs, frozen}` |
//! | `GET /v1/__test/faults` | — | `[FaultSpec]` |
//! | `POST /v1/__test/faults` | `FaultSpec` | `[FaultSpec]` (all armed rules) |
//! | `DELETE /v1/__test/faults` | — | `[]` |
//! | `GET /v1/__test/payments` | — | `[Payment]` |
//! | `GET /v1/__test/orders/{orderId}` | — | `OrderLedger` |
//! | `GET /v1/__test/webhooks` | — | `[WebhookDelivery]` |
//! | `POST /v1/__test/webhooks/deliver` | — | `[WebhookAttempt]` made now |
//! | `POST /v1/__test/reset` | — | 204 |
//!
//! The widget page plays the customer's side of the payment widget: opening it creates
//! a `READY` payment (30 minutes to press Pay); **Pay** authenticates it (`IN_PROGRESS`,
//! 10 minutes to confirm) and redirects to `successUrl` like the real widget;
//! **Cancel** links to `failUrl?code=PAY_PROCESS_CANCELED&message=…&orderId=…`. Pressing
//! Pay after the READY window redirects to `failUrl` with `PAY_PROCESS_ABORTED`.

use crate::error::TossError;
use crate::faults::{Fault, FaultSpec};
use crate::model::PaymentStatus;
use crate::store::{Authorization, Shared, WidgetReturn};
use crate::webhook;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::{get, post};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use url::Url;

type ApiResult<T> = Result<T, TossError>;

pub(crate) fn router() -> Router<Arc<Shared>> {
    Router::new()
        .route("/v1/__test/authorize", post(authorize))
        .route("/v1/__test/widget", get(widget_page))
        .route("/v1/__test/widget/{payment_key}/pay", post(widget_pay))
        .route("/v1/__test/clock", get(clock))
        .route("/v1/__test/clock/advance", post(advance_clock))
        .route(
            "/v1/__test/faults",
            get(list_faults).post(add_fault).delete(clear_faults),
        )
        .route("/v1/__test/payments", get(payments))
        .route("/v1/__test/orders/{order_id}", get(order_ledger))
        .route("/v1/__test/webhooks", get(webhooks))
        .route("/v1/__test/webhooks/deliver", post(deliver_webhooks))
        .route("/v1/__test/reset", post(reset))
}

/// Parses a JSON body into `T`, as a Toss-style `INVALID_REQUEST` when it does not fit.
fn json_body<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    serde_json::from_slice(body).map_err(|e| TossError::invalid_request(e.to_string()))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AuthorizeBody {
    order_id: String,
    amount: i64,
    order_name: Option<String>,
    is_partial_cancelable: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Authorized {
    payment_key: String,
    order_id: String,
    amount: i64,
    status: PaymentStatus,
}

const DEFAULT_ORDER_NAME: &str = "URR 테스트 주문";

async fn authorize(State(shared): State<Arc<Shared>>, body: Bytes) -> ApiResult<Json<Authorized>> {
    let body: AuthorizeBody = json_body(&body)?;
    let mut auth = Authorization::new(
        body.order_id,
        body.amount,
        body.order_name
            .unwrap_or_else(|| DEFAULT_ORDER_NAME.to_owned()),
    );
    auth.partial_cancelable = body.is_partial_cancelable.unwrap_or(true);
    let payment = shared.authorize(&auth)?;
    Ok(Json(Authorized {
        payment_key: payment.payment_key,
        order_id: payment.order_id,
        amount: payment.total_amount,
        status: payment.status,
    }))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WidgetQuery {
    order_id: Option<String>,
    order_name: Option<String>,
    amount: Option<String>,
    success_url: Option<String>,
    fail_url: Option<String>,
}

/// An absolute http(s) URL from the query, or `INVALID_REQUEST` naming the field.
fn return_url(value: Option<&str>, field: &str) -> ApiResult<Url> {
    value
        .and_then(|v| Url::parse(v).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https"))
        .ok_or_else(|| {
            TossError::invalid_request(format!("{field}는 http(s) 절대 URL이어야 합니다."))
        })
}

async fn widget_page(
    State(shared): State<Arc<Shared>>,
    query: Result<Query<WidgetQuery>, QueryRejection>,
) -> ApiResult<Html<String>> {
    let Query(q) = query.map_err(|e| TossError::invalid_request(e.body_text()))?;
    let amount = q
        .amount
        .as_deref()
        .and_then(|a| a.trim().parse::<i64>().ok())
        .ok_or_else(|| TossError::invalid_request("amount는 1 이상의 정수여야 합니다."))?;
    let auth = Authorization::new(
        q.order_id.unwrap_or_default(),
        amount,
        q.order_name
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_ORDER_NAME.to_owned()),
    );
    auth.validate()?;
    let widget = WidgetReturn {
        success_url: return_url(q.success_url.as_deref(), "successUrl")?,
        fail_url: return_url(q.fail_url.as_deref(), "failUrl")?,
    };
    let cancel_url = with_params(
        &widget.fail_url,
        &[
            ("code", "PAY_PROCESS_CANCELED"),
            ("message", "사용자가 결제를 취소하였습니다"),
            ("orderId", &auth.order_id),
        ],
    );
    let payment =
        shared.with_store(|s, now| s.create(&auth, PaymentStatus::Ready, Some(widget), now));
    Ok(Html(render_widget(
        &auth,
        &payment.payment_key,
        &cancel_url,
    )))
}

fn render_widget(auth: &Authorization, payment_key: &str, cancel_url: &Url) -> String {
    let pay_action = format!("/v1/__test/widget/{payment_key}/pay");
    format!(
        r#"<!doctype html>
<html lang="ko">
<head><meta charset="utf-8"><title>Toss Payments (fake) 결제</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:3rem auto}}button,a.button{{font-size:1.1rem;padding:.6rem 1.2rem;margin:.3rem}}</style>
</head>
<body>
<h1>토스페이먼츠 테스트 결제 / Toss Payments fake</h1>
<p>주문 / Order: <strong id="order-name">{name}</strong> (<code id="order-id">{order_id}</code>)</p>
<p>결제 금액 / Amount: <strong id="amount">{amount}</strong>원</p>
<p><small>테스트 결제입니다. 실제로 돈이 나가지 않습니다. / Test payment, no money moves.</small></p>
<form id="pay-form" method="post" action="{action}">
<button id="pay" type="submit">결제하기 / Pay</button>
</form>
<p><a id="cancel" class="button" href="{cancel}">취소 / Cancel</a></p>
</body>
</html>
"#,
        name = escape_html(&auth.order_name),
        order_id = escape_html(&auth.order_id),
        amount = auth.amount,
        action = escape_html(&pay_action),
        cancel = escape_html(cancel_url.as_str()),
    )
}

/// Escapes text for HTML element content and double-quoted attributes.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `base` with the query pairs appended (keeping the query it already has).
fn with_params(base: &Url, params: &[(&str, &str)]) -> Url {
    let mut url = base.clone();
    {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in params {
            pairs.append_pair(k, v);
        }
    }
    url
}

fn see_other(url: &Url) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, url.as_str().to_owned())],
    )
        .into_response()
}

async fn widget_pay(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let Path(payment_key) =
        path.map_err(|_| TossError::invalid_request("paymentKey가 올바르지 않습니다."))?;
    let (payment, widget) = shared.with_store(|s, now| s.authenticate(&payment_key, now))?;
    let Some(widget) = widget else {
        return Err(TossError::invalid_request(
            "위젯 페이지로 만든 결제가 아닙니다.",
        ));
    };
    let amount = payment.total_amount.to_string();
    let url = match payment.status {
        PaymentStatus::InProgress => with_params(
            &widget.success_url,
            &[
                ("paymentType", "NORMAL"),
                ("orderId", &payment.order_id),
                ("paymentKey", &payment.payment_key),
                ("amount", &amount),
            ],
        ),
        PaymentStatus::Expired => with_params(
            &widget.fail_url,
            &[
                ("code", "PAY_PROCESS_ABORTED"),
                ("message", "결제 시간이 만료되었습니다. 다시 시도해주세요."),
                ("orderId", &payment.order_id),
            ],
        ),
        _ => with_params(
            &widget.fail_url,
            &[
                ("code", "ALREADY_PROCESSED_PAYMENT"),
                ("message", "이미 처리된 결제 입니다."),
                ("orderId", &payment.order_id),
            ],
        ),
    };
    Ok(see_other(&url))
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ClockView {
    now: String,
    offset_ms: i64,
    frozen: bool,
}

fn clock_view(shared: &Shared) -> ClockView {
    ClockView {
        now: shared
            .clock
            .now()
            .format("%Y-%m-%dT%H:%M:%S%.3f%:z")
            .to_string(),
        offset_ms: shared.clock.offset().num_milliseconds(),
        frozen: shared.clock.is_frozen(),
    }
}

async fn clock(State(shared): State<Arc<Shared>>) -> Json<ClockView> {
    Json(clock_view(&shared))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    #[serde(default)]
    ms: i64,
    #[serde(default)]
    seconds: i64,
    #[serde(default)]
    minutes: i64,
}

async fn advance_clock(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> ApiResult<Json<ClockView>> {
    let body: AdvanceBody = json_body(&body)?;
    let by = body
        .minutes
        .checked_mul(60_000)
        .zip(body.seconds.checked_mul(1_000))
        .and_then(|(m, s)| m.checked_add(s))
        .and_then(|t| t.checked_add(body.ms))
        .filter(|t| *t >= 0)
        .ok_or_else(|| TossError::invalid_request("the clock only moves forward"))?;
    shared.advance_clock(chrono::Duration::milliseconds(by));
    Ok(Json(clock_view(&shared)))
}

fn fault_list(shared: &Shared) -> Vec<FaultSpec> {
    shared.with_store(|s, _| s.faults.list().iter().map(FaultSpec::from).collect())
}

async fn list_faults(State(shared): State<Arc<Shared>>) -> Json<Vec<FaultSpec>> {
    Json(fault_list(&shared))
}

async fn add_fault(
    State(shared): State<Arc<Shared>>,
    body: Bytes,
) -> ApiResult<Json<Vec<FaultSpec>>> {
    let spec: FaultSpec = json_body(&body)?;
    let fault = Fault::try_from(spec).map_err(TossError::invalid_request)?;
    shared.with_store(|s, _| s.faults.push(fault));
    Ok(Json(fault_list(&shared)))
}

async fn clear_faults(State(shared): State<Arc<Shared>>) -> Json<Vec<FaultSpec>> {
    shared.with_store(|s, _| s.faults.clear());
    Json(Vec::new())
}

async fn payments(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.with_store(|s, _| s.payments())).into_response()
}

async fn order_ledger(
    State(shared): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> ApiResult<Response> {
    let Path(order_id) =
        path.map_err(|_| TossError::invalid_request("orderId가 올바르지 않습니다."))?;
    Ok(Json(shared.with_store(|s, _| s.ledger(&order_id))).into_response())
}

async fn webhooks(State(shared): State<Arc<Shared>>) -> Response {
    Json(shared.with_store(|s, _| s.outbox.list())).into_response()
}

async fn deliver_webhooks(State(shared): State<Arc<Shared>>) -> Response {
    Json(webhook::deliver_due(&shared).await).into_response()
}

async fn reset(State(shared): State<Arc<Shared>>) -> StatusCode {
    shared.with_store(|s, _| s.reset());
    StatusCode::NO_CONTENT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped_and_urls_keep_their_query() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        let base = Url::parse("http://localhost:3000/pay/ok?from=widget").expect("valid url");
        let url = with_params(&base, &[("orderId", "ord_1"), ("message", "취소 & 끝")]);
        assert_eq!(
            url.as_str(),
            "http://localhost:3000/pay/ok?from=widget&orderId=ord_1&message=%EC%B7%A8%EC%86%8C+%26+%EB%81%9D"
        );
    }
}
