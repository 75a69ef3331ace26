//! The fake against the Toss contract (`docs/toss-payments.md`), over real HTTP.
//!
//! Every test starts its own fake on a random port with a frozen clock, talks to it with
//! reqwest as a Toss client would, and moves time with `advance_clock` instead of
//! sleeping. Where a test must wait for the fake (a delayed call, a webhook), it awaits
//! an event: `wait_in_flight`, `wait_idle`, or a message from the test's own webhook
//! receiver.

use axum::Router;
use axum::body::Bytes;
use axum::http::StatusCode as AxumStatus;
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use chrono::{DateTime, Duration, NaiveDateTime};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::sync::mpsc;
use toss_fake::{
    Authorization, DOCS_SECRET_KEY, DeliveryState, FakeConfig, Fault, FaultKind, Op, Quirks,
    RETRY_MINUTES, TossFake,
};

/// An API (`sk`) key; `"<SK>:"` needs base64 padding, so padded and unpadded differ.
const SK: &str = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R";

fn basic(key: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{key}:")))
}

struct Harness {
    fake: TossFake,
    http: Client,
}

/// A response, kept as bytes (for byte-for-byte checks) and as JSON.
#[derive(Debug)]
struct Resp {
    status: StatusCode,
    bytes: Vec<u8>,
    json: Value,
}

impl Resp {
    fn code(&self) -> &str {
        self.json["code"].as_str().unwrap_or("<no code>")
    }
}

fn config() -> FakeConfig {
    FakeConfig {
        secret_keys: vec![DOCS_SECRET_KEY.to_owned(), SK.to_owned()],
        ..FakeConfig::for_tests()
    }
}

async fn harness() -> Harness {
    harness_with(config()).await
}

async fn harness_with(config: FakeConfig) -> Harness {
    let fake = TossFake::start("127.0.0.1:0".parse().expect("addr"), config)
        .await
        .expect("fake starts");
    let http = Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Harness { fake, http }
}

async fn read(res: reqwest::Response) -> Resp {
    let status = res.status();
    let bytes = res.bytes().await.expect("body").to_vec();
    let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Resp {
        status,
        bytes,
        json,
    }
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.fake.base_url())
    }

    async fn try_post(
        &self,
        path: &str,
        key: Option<&str>,
        body: &Value,
    ) -> reqwest::Result<reqwest::Response> {
        let mut req = self
            .http
            .post(self.url(path))
            .header("Authorization", basic(DOCS_SECRET_KEY))
            .json(body);
        if let Some(key) = key {
            req = req.header("Idempotency-Key", key);
        }
        req.send().await
    }

    async fn post(&self, path: &str, key: Option<&str>, body: &Value) -> Resp {
        read(self.try_post(path, key, body).await.expect("response")).await
    }

    async fn get(&self, path: &str) -> Resp {
        let res = self
            .http
            .get(self.url(path))
            .header("Authorization", basic(DOCS_SECRET_KEY))
            .send()
            .await
            .expect("response");
        read(res).await
    }

    async fn confirm(
        &self,
        key: Option<&str>,
        payment_key: &str,
        order_id: &str,
        amount: i64,
    ) -> Resp {
        let body = json!({"paymentKey": payment_key, "orderId": order_id, "amount": amount});
        self.post("/v1/payments/confirm", key, &body).await
    }

    async fn cancel(&self, key: Option<&str>, payment_key: &str, body: Value) -> Resp {
        self.post(&format!("/v1/payments/{payment_key}/cancel"), key, &body)
            .await
    }

    /// An approved payment of `amount` for `order_id`.
    async fn paid(&self, order_id: &str, amount: i64) -> String {
        let pk = self
            .fake
            .authorize(order_id, amount, "콘서트 R석 1매")
            .await;
        let res = self.confirm(None, &pk, order_id, amount).await;
        assert_eq!(res.status, StatusCode::OK, "{:?}", res.json);
        pk
    }

    /// `status` of the payment as the API shows it.
    async fn status_of(&self, payment_key: &str) -> String {
        let res = self.get(&format!("/v1/payments/{payment_key}")).await;
        res.json["status"].as_str().unwrap_or("<none>").to_owned()
    }
}

fn assert_error(res: &Resp, status: u16, code: &str) {
    assert_eq!(
        (res.status.as_u16(), res.code()),
        (status, code),
        "unexpected answer {:?}",
        res.json
    );
    assert!(
        res.json["message"].as_str().is_some_and(|m| !m.is_empty()),
        "error bodies carry a message: {:?}",
        res.json
    );
}

fn is_kst_seconds(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        s.ends_with("+09:00")
            && s.len() == "2024-01-01T00:00:00+09:00".len()
            && DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%:z").is_ok()
    })
}

// ---------------------------------------------------------------------------------
// Authentication
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn basic_auth_follows_the_toss_rules() {
    let h = harness().await;
    let pk = h.fake.authorize("ord_auth_1", 1000, "auth").await;
    let path = format!("/v1/payments/{pk}");
    let with = |value: Option<String>| {
        let mut req = h.http.get(h.url(&path));
        if let Some(v) = value {
            req = req.header("Authorization", v);
        }
        async move { read(req.send().await.expect("response")).await }
    };

    for bad in [
        None,
        Some(format!("Basic {}", STANDARD.encode(DOCS_SECRET_KEY))),
        Some(format!(
            "Basic {}",
            STANDARD.encode(format!("{DOCS_SECRET_KEY}:pw"))
        )),
        Some(format!(
            "Bearer {}",
            STANDARD.encode(format!("{DOCS_SECRET_KEY}:"))
        )),
        Some("Basic %%%".to_owned()),
    ] {
        assert_error(&with(bad).await, 403, "INCORRECT_BASIC_AUTH_FORMAT");
    }
    for unknown in [
        "test_sk_not_configured",
        "live_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6",
    ] {
        assert_error(&with(Some(basic(unknown))).await, 401, "UNAUTHORIZED_KEY");
    }

    let padded = STANDARD.encode(format!("{SK}:"));
    let unpadded = STANDARD_NO_PAD.encode(format!("{SK}:"));
    assert_ne!(padded, unpadded);
    for good in [
        basic(DOCS_SECRET_KEY),
        format!("Basic {padded}"),
        format!("Basic {unpadded}"),
    ] {
        let res = with(Some(good.clone())).await;
        assert_eq!(res.status, StatusCode::OK, "{good}: {:?}", res.json);
    }
    h.fake.shutdown().await;
}

#[tokio::test]
async fn only_test_secret_keys_can_be_configured() {
    for keys in [
        vec!["live_sk_abc"],
        vec!["test_ck_abc"],
        vec!["test_gck_docs_x"],
        vec![],
    ] {
        let config = FakeConfig {
            secret_keys: keys.iter().map(|k| k.to_string()).collect(),
            ..FakeConfig::for_tests()
        };
        let started = TossFake::start("127.0.0.1:0".parse().expect("addr"), config).await;
        assert!(started.is_err(), "{keys:?} must be refused");
    }
}

// ---------------------------------------------------------------------------------
// Confirm
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn confirm_returns_a_complete_done_payment() {
    let h = harness().await;
    let pk = h
        .fake
        .authorize("ord_happy_1", 15_000, "콘서트 R석 1매")
        .await;
    assert!(pk.len() <= 200);

    let before = h.get(&format!("/v1/payments/{pk}")).await;
    assert_eq!(before.json["status"], "IN_PROGRESS");
    assert!(before.json["method"].is_null());
    assert!(before.json["approvedAt"].is_null());
    assert!(before.json["card"].is_null());
    assert!(before.json["lastTransactionKey"].is_null());

    let res = h
        .confirm(Some("confirm:ord_happy_1"), &pk, "ord_happy_1", 15_000)
        .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json);
    let p = &res.json;
    // Identity.
    assert_eq!(p["version"], "2022-11-16");
    assert_eq!(p["paymentKey"], pk.as_str());
    assert_eq!(p["type"], "NORMAL");
    assert_eq!(p["orderId"], "ord_happy_1");
    assert_eq!(p["orderName"], "콘서트 R석 1매");
    assert!(p["mId"].is_string());
    assert_eq!(p["method"], "카드");
    assert_eq!(p["currency"], "KRW");
    assert_eq!(p["country"], "KR");
    assert_eq!(p["status"], "DONE");
    // Money: JSON numbers, never strings.
    for field in [
        "totalAmount",
        "balanceAmount",
        "suppliedAmount",
        "vat",
        "taxFreeAmount",
        "taxExemptionAmount",
    ] {
        assert!(p[field].is_i64(), "{field} is a number: {}", p[field]);
    }
    assert_eq!(p["totalAmount"], 15_000);
    assert_eq!(p["balanceAmount"], 15_000);
    assert_eq!(
        p["suppliedAmount"].as_i64().unwrap_or(0) + p["vat"].as_i64().unwrap_or(0),
        15_000
    );
    assert_eq!(p["vat"], 1_364);
    // Time.
    assert!(is_kst_seconds(&p["requestedAt"]), "{}", p["requestedAt"]);
    assert!(is_kst_seconds(&p["approvedAt"]), "{}", p["approvedAt"]);
    // Flags and misc.
    for field in ["useEscrow", "cultureExpense", "isPartialCancelable"] {
        assert!(p[field].is_boolean(), "{field}");
    }
    let tx = p["lastTransactionKey"].as_str().expect("transaction key");
    assert!(tx.len() == 32 && tx.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(p["receipt"]["url"].is_string());
    assert!(p["checkout"]["url"].is_string());
    assert!(p["failure"].is_null());
    assert!(p["cancels"].is_null());
    for field in [
        "virtualAccount",
        "transfer",
        "mobilePhone",
        "giftCertificate",
        "cashReceipt",
        "cashReceipts",
        "discount",
        "easyPay",
        "secret",
        "metadata",
    ] {
        assert!(
            p.get(field).is_some_and(Value::is_null),
            "{field} is present and null"
        );
    }
    // The card.
    let card = &p["card"];
    assert_eq!(card["amount"], 15_000);
    for field in [
        "issuerCode",
        "acquirerCode",
        "number",
        "approveNo",
        "cardType",
        "ownerType",
        "acquireStatus",
    ] {
        assert!(card[field].is_string(), "card.{field}");
    }
    assert!(card["installmentPlanMonths"].is_u64());
    assert!(card["useCardPoint"].is_boolean());
    assert!(card["isInterestFree"].is_boolean());
    assert!(card.get("interestPayer").is_some());
    assert_eq!(card["acquireStatus"], "READY");

    // The typed model reads its own output.
    let typed: toss_fake::Payment = serde_json::from_slice(&res.bytes).expect("typed payment");
    assert_eq!(typed.total_amount, 15_000);

    let ledger = h.fake.ledger("ord_happy_1");
    assert_eq!(
        (ledger.captured_amount, ledger.refunded_amount),
        (15_000, 0)
    );
    assert_eq!(h.fake.confirm_executions("ord_happy_1"), 1);
    h.fake.shutdown().await;
}

#[tokio::test]
async fn confirm_refuses_a_different_order_or_amount() {
    let h = harness().await;
    let pk = h.fake.authorize("ord_mismatch", 10_000, "x").await;
    assert_error(
        &h.confirm(None, &pk, "ord_mismatch", 9_000).await,
        400,
        "INVALID_REQUEST",
    );
    assert_error(
        &h.confirm(None, &pk, "ord_other_1", 10_000).await,
        400,
        "INVALID_REQUEST",
    );
    assert_eq!(h.status_of(&pk).await, "IN_PROGRESS");
    assert_eq!(h.fake.confirm_executions("ord_mismatch"), 0);
    // Malformed bodies are INVALID_REQUEST too.
    let res = h
        .post(
            "/v1/payments/confirm",
            None,
            &json!({"paymentKey": pk, "orderId": "ord_mismatch"}),
        )
        .await;
    assert_error(&res, 400, "INVALID_REQUEST");
    // The right body still works.
    assert_eq!(
        h.confirm(None, &pk, "ord_mismatch", 10_000).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_second_confirm_is_already_processed() {
    let h = harness().await;
    let pk = h.paid("ord_twice_1", 5_000).await;
    assert_error(
        &h.confirm(None, &pk, "ord_twice_1", 5_000).await,
        400,
        "ALREADY_PROCESSED_PAYMENT",
    );
    assert_error(
        &h.confirm(Some("another-key"), &pk, "ord_twice_1", 5_000)
            .await,
        400,
        "ALREADY_PROCESSED_PAYMENT",
    );
    // A new authentication for an already paid orderId cannot be confirmed either.
    let pk2 = h.fake.authorize("ord_twice_1", 5_000, "again").await;
    assert_error(
        &h.confirm(None, &pk2, "ord_twice_1", 5_000).await,
        400,
        "ALREADY_PROCESSED_PAYMENT",
    );
    assert_eq!(h.fake.confirm_executions("ord_twice_1"), 1);
    // Get by order answers the approved payment, not the newer one.
    let by_order = h.get("/v1/payments/orders/ord_twice_1").await;
    assert_eq!(by_order.json["paymentKey"], pk.as_str());
}

#[tokio::test]
async fn confirm_window_closes_after_ten_minutes() {
    let h = harness().await;
    let in_time = h.fake.authorize("ord_window_a", 1_000, "x").await;
    let late = h.fake.authorize("ord_window_b", 1_000, "x").await;
    h.fake
        .advance_clock(Duration::minutes(10) - Duration::seconds(1));
    assert_eq!(
        h.confirm(None, &in_time, "ord_window_a", 1_000)
            .await
            .status,
        StatusCode::OK
    );

    h.fake.advance_clock(Duration::seconds(2));
    let res = h
        .confirm(Some("confirm:ord_window_b"), &late, "ord_window_b", 1_000)
        .await;
    assert_error(&res, 404, "NOT_FOUND_PAYMENT_SESSION");
    let p = h.get(&format!("/v1/payments/{late}")).await.json;
    assert_eq!(p["status"], "EXPIRED");
    assert_eq!(p["failure"]["code"], "EXPIRED_PAYMENT");
    assert!(p["failure"]["message"].is_string());
    assert_eq!(h.fake.confirm_executions("ord_window_b"), 0);
    assert_eq!(h.fake.ledger("ord_window_b").captured_amount, 0);
}

#[tokio::test]
async fn expiry_shows_on_get_without_any_confirm() {
    let h = harness().await;
    let pk = h.fake.authorize("ord_expire_get", 1_000, "x").await;
    h.fake.advance_clock(Duration::minutes(11));
    let p = h.get("/v1/payments/orders/ord_expire_get").await.json;
    assert_eq!(p["paymentKey"], pk.as_str());
    assert_eq!(p["status"], "EXPIRED");
}

#[tokio::test]
async fn unknown_payments_are_not_found() {
    let h = harness().await;
    assert_error(
        &h.confirm(None, "tgen_nope", "ord_unknown", 1_000).await,
        404,
        "NOT_FOUND_PAYMENT",
    );
    assert_error(
        &h.get("/v1/payments/tgen_nope").await,
        404,
        "NOT_FOUND_PAYMENT",
    );
    assert_error(
        &h.get("/v1/payments/orders/ord_unknown").await,
        404,
        "NOT_FOUND_PAYMENT",
    );
    assert_error(
        &h.cancel(None, "tgen_nope", json!({"cancelReason": "x"}))
            .await,
        404,
        "NOT_FOUND_PAYMENT",
    );
    let res = h.get("/v1/no/such/route").await;
    assert_eq!(res.status, StatusCode::NOT_FOUND);
    assert_eq!(res.code(), "NOT_FOUND");
}

// ---------------------------------------------------------------------------------
// Idempotency
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn idempotent_replay_is_byte_for_byte_whatever_the_body() {
    let h = harness().await;
    let pk1 = h.fake.authorize("ord_idem_1", 10_000, "one").await;
    let pk2 = h.fake.authorize("ord_idem_2", 20_000, "two").await;
    let first = h.confirm(Some("K1"), &pk1, "ord_idem_1", 10_000).await;
    assert_eq!(first.status, StatusCode::OK);

    // The payment changes afterwards ...
    h.fake.advance_clock(Duration::seconds(5));
    let cancel = h
        .cancel(
            Some("C1"),
            &pk1,
            json!({"cancelReason": "부분 환불", "cancelAmount": 1_000}),
        )
        .await;
    assert_eq!(cancel.status, StatusCode::OK);

    // ... yet the key replays the first answer, even for another payment's body.
    for body in [
        json!({"paymentKey": pk1, "orderId": "ord_idem_1", "amount": 10_000}),
        json!({"paymentKey": pk2, "orderId": "ord_idem_2", "amount": 20_000}),
        json!({"garbage": true}),
    ] {
        let again = h.post("/v1/payments/confirm", Some("K1"), &body).await;
        assert_eq!(again.status, first.status);
        assert_eq!(again.bytes, first.bytes, "byte-for-byte replay");
    }
    assert_eq!(
        h.status_of(&pk2).await,
        "IN_PROGRESS",
        "the second payment was not confirmed"
    );

    // Same key under another secret key is another scope: it executes.
    let other_scope = h
        .http
        .post(h.url("/v1/payments/confirm"))
        .header("Authorization", basic(SK))
        .header("Idempotency-Key", "K1")
        .json(&json!({"paymentKey": pk2, "orderId": "ord_idem_2", "amount": 20_000}))
        .send()
        .await
        .expect("response");
    assert_eq!(other_scope.status(), StatusCode::OK);

    // Cancels replay too, even inside the 1-second window.
    let cancel_again = h
        .cancel(
            Some("C1"),
            &pk1,
            json!({"cancelReason": "부분 환불", "cancelAmount": 1_000}),
        )
        .await;
    assert_eq!(cancel_again.bytes, cancel.bytes);
    assert_eq!(h.fake.cancel_executions("ord_idem_1"), 1);

    // After 15 days the key is forgotten and the request executes anew.
    h.fake.advance_clock(Duration::days(15));
    let fresh = h.confirm(Some("K1"), &pk1, "ord_idem_1", 10_000).await;
    assert_error(&fresh, 400, "ALREADY_PROCESSED_PAYMENT");
    assert_eq!(h.fake.confirm_executions("ord_idem_1"), 1);
}

#[tokio::test]
async fn idempotency_keys_are_at_most_300_characters() {
    let h = harness().await;
    let pk = h.fake.authorize("ord_longkey", 1_000, "x").await;
    let res = h
        .confirm(Some(&"k".repeat(301)), &pk, "ord_longkey", 1_000)
        .await;
    assert_error(&res, 400, "INVALID_REQUEST");
    assert_eq!(h.status_of(&pk).await, "IN_PROGRESS");
    let res = h
        .confirm(Some(&"k".repeat(300)), &pk, "ord_longkey", 1_000)
        .await;
    assert_eq!(res.status, StatusCode::OK);
}

#[tokio::test]
async fn a_duplicate_while_the_first_is_in_flight_is_refused() {
    let h = Arc::new(harness().await);
    let pk = h.fake.authorize("ord_inflight", 1_000, "x").await;
    h.fake
        .set_fault(Fault::new(FaultKind::Delay(std::time::Duration::from_secs(1))).on(Op::Confirm));
    let first = {
        let h = Arc::clone(&h);
        let pk = pk.clone();
        tokio::spawn(async move { h.confirm(Some("K"), &pk, "ord_inflight", 1_000).await })
    };
    h.fake.wait_in_flight(1).await;
    let dup = h.confirm(Some("K"), &pk, "ord_inflight", 1_000).await;
    assert_error(&dup, 409, "IDEMPOTENT_REQUEST_PROCESSING");

    let first = first.await.expect("first request");
    assert_eq!(first.status, StatusCode::OK);
    let replay = h.confirm(Some("K"), &pk, "ord_inflight", 1_000).await;
    assert_eq!(replay.bytes, first.bytes);
    assert_eq!(h.fake.confirm_executions("ord_inflight"), 1);
}

// ---------------------------------------------------------------------------------
// Cancel
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn partial_and_full_cancels_track_the_balance() {
    let h = harness().await;
    let pk = h.paid("ord_cancel_1", 10_000).await;
    let approved_tx = h.get(&format!("/v1/payments/{pk}")).await.json["lastTransactionKey"].clone();

    // Missing reason.
    assert_error(
        &h.cancel(None, &pk, json!({"cancelAmount": 1_000})).await,
        400,
        "INVALID_REQUEST",
    );

    let partial = h
        .cancel(
            Some("c1"),
            &pk,
            json!({"cancelReason": "좌석 1매 환불", "cancelAmount": 3_000}),
        )
        .await;
    assert_eq!(partial.status, StatusCode::OK, "{:?}", partial.json);
    let p = &partial.json;
    assert_eq!(p["status"], "PARTIAL_CANCELED");
    assert_eq!(p["balanceAmount"], 7_000);
    assert_eq!(p["totalAmount"], 10_000);
    assert_ne!(p["lastTransactionKey"], approved_tx);
    let cancels = p["cancels"].as_array().expect("cancels[]");
    assert_eq!(cancels.len(), 1);
    let c = &cancels[0];
    assert_eq!(c["cancelAmount"], 3_000);
    assert_eq!(c["cancelReason"], "좌석 1매 환불");
    assert_eq!(c["refundableAmount"], 7_000);
    assert_eq!(c["cancelStatus"], "DONE");
    assert_eq!(c["transactionKey"], p["lastTransactionKey"]);
    assert!(is_kst_seconds(&c["canceledAt"]));
    for field in [
        "taxFreeAmount",
        "taxExemptionAmount",
        "easyPayDiscountAmount",
    ] {
        assert!(c[field].is_i64(), "cancels[].{field}");
    }
    assert!(c["receiptKey"].is_string() && c["cancelRequestId"].is_string());

    // A second cancel within one second is refused, even with another key.
    let quick = h
        .cancel(
            Some("c2"),
            &pk,
            json!({"cancelReason": "x", "cancelAmount": 1_000}),
        )
        .await;
    assert_error(&quick, 403, "FORBIDDEN_CONSECUTIVE_REQUEST");
    h.fake.advance_clock(Duration::seconds(1));
    let still = h
        .cancel(
            Some("c2"),
            &pk,
            json!({"cancelReason": "x", "cancelAmount": 1_000}),
        )
        .await;
    assert_error(&still, 403, "FORBIDDEN_CONSECUTIVE_REQUEST");
    h.fake.advance_clock(Duration::milliseconds(1));

    // More than the balance.
    let over = h
        .cancel(
            Some("c3"),
            &pk,
            json!({"cancelReason": "x", "cancelAmount": 7_001}),
        )
        .await;
    assert_error(&over, 403, "NOT_CANCELABLE_AMOUNT");

    // The rest, without an amount.
    let full = h
        .cancel(Some("c4"), &pk, json!({"cancelReason": "공연 취소"}))
        .await;
    assert_eq!(full.status, StatusCode::OK, "{:?}", full.json);
    let p = &full.json;
    assert_eq!(p["status"], "CANCELED");
    assert_eq!(p["balanceAmount"], 0);
    assert_eq!(p["totalAmount"], 10_000);
    assert_eq!(p["cancels"].as_array().map(Vec::len), Some(2));
    assert_eq!(p["cancels"][1]["cancelAmount"], 7_000);
    assert_eq!(p["card"]["acquireStatus"], "CANCELED");
    assert_eq!(
        (p["suppliedAmount"].as_i64(), p["vat"].as_i64()),
        (Some(0), Some(0))
    );

    h.fake.advance_clock(Duration::seconds(2));
    let again = h
        .cancel(Some("c5"), &pk, json!({"cancelReason": "x"}))
        .await;
    assert_error(&again, 403, "NOT_CANCELABLE_PAYMENT");

    let ledger = h.fake.ledger("ord_cancel_1");
    assert_eq!(
        (ledger.captured_amount, ledger.refunded_amount),
        (10_000, 10_000)
    );
    assert_eq!(
        (ledger.confirm_executions, ledger.cancel_executions),
        (1, 2)
    );
}

#[tokio::test]
async fn unapproved_and_non_partial_payments_cannot_be_partly_cancelled() {
    let h = harness().await;
    let pending = h.fake.authorize("ord_not_paid", 1_000, "x").await;
    assert_error(
        &h.cancel(None, &pending, json!({"cancelReason": "x"})).await,
        403,
        "NOT_CANCELABLE_PAYMENT",
    );

    let mut auth = Authorization::new("ord_no_partial", 4_000, "x");
    auth.partial_cancelable = false;
    let pk = h.fake.try_authorize(auth).await.expect("valid order");
    assert_eq!(
        h.confirm(None, &pk, "ord_no_partial", 4_000).await.status,
        StatusCode::OK
    );
    let partial = h
        .cancel(
            None,
            &pk,
            json!({"cancelReason": "x", "cancelAmount": 1_000}),
        )
        .await;
    assert_error(&partial, 403, "NOT_ALLOWED_PARTIAL_REFUND");
    assert_eq!(
        h.cancel(None, &pk, json!({"cancelReason": "x"}))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn get_by_key_and_by_order_agree() {
    let h = harness().await;
    let pk = h.paid("ord_get_1", 2_500).await;
    let by_key = h.get(&format!("/v1/payments/{pk}")).await;
    let by_order = h.get("/v1/payments/orders/ord_get_1").await;
    assert_eq!(by_key.status, StatusCode::OK);
    assert_eq!(by_order.status, StatusCode::OK);
    assert_eq!(by_key.bytes, by_order.bytes);
    assert_eq!(by_key.json["status"], "DONE");
    assert_eq!(h.fake.payment("ord_get_1").map(|p| p.payment_key), Some(pk));
}

// ---------------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn internal_and_provider_errors_change_nothing() {
    let h = harness().await;
    let pk = h.fake.authorize("ord_fail_1", 1_000, "x").await;
    h.fake
        .set_fault(Fault::new(FaultKind::InternalError).on(Op::Confirm));
    let res = h.confirm(Some("K"), &pk, "ord_fail_1", 1_000).await;
    assert_error(&res, 500, "FAILED_INTERNAL_SYSTEM_PROCESSING");
    h.fake
        .set_fault(Fault::new(FaultKind::ProviderError).for_order("ord_fail_1"));
    let res = h.confirm(Some("K"), &pk, "ord_fail_1", 1_000).await;
    assert_error(&res, 400, "PROVIDER_ERROR");
    assert_eq!(h.status_of(&pk).await, "IN_PROGRESS");
    assert_eq!(h.fake.confirm_executions("ord_fail_1"), 0);
    assert!(h.fake.faults().is_empty(), "one-shot rules are used up");
    // Errors are not stored under the key: the retry executes.
    assert_eq!(
        h.confirm(Some("K"), &pk, "ord_fail_1", 1_000).await.status,
        StatusCode::OK
    );
    assert_eq!(h.fake.confirm_executions("ord_fail_1"), 1);
}

#[tokio::test]
async fn a_declined_card_aborts_the_payment() {
    let h = harness().await;
    let pk = h.fake.authorize("ord_reject_1", 1_000, "x").await;
    h.fake.set_fault(Fault::new(FaultKind::RejectCard));
    assert_error(
        &h.confirm(None, &pk, "ord_reject_1", 1_000).await,
        403,
        "REJECT_CARD_PAYMENT",
    );
    let p = h.get(&format!("/v1/payments/{pk}")).await.json;
    assert_eq!(p["status"], "ABORTED");
    assert_eq!(p["failure"]["code"], "REJECT_CARD_PAYMENT");
    assert_error(
        &h.confirm(None, &pk, "ord_reject_1", 1_000).await,
        400,
        "ALREADY_PROCESSED_PAYMENT",
    );
    assert_eq!(h.fake.ledger("ord_reject_1").captured_amount, 0);
}

#[tokio::test]
async fn a_lost_session_expires_the_payment() {
    let h = harness().await;
    let pk = h.fake.authorize("ord_session_1", 1_000, "x").await;
    h.fake
        .set_fault(Fault::new(FaultKind::SessionNotFound).on(Op::Confirm));
    assert_error(
        &h.confirm(None, &pk, "ord_session_1", 1_000).await,
        404,
        "NOT_FOUND_PAYMENT_SESSION",
    );
    assert_eq!(h.status_of(&pk).await, "EXPIRED");
}

#[tokio::test]
async fn a_not_cancelable_fault_refuses_one_cancel() {
    let h = harness().await;
    let pk = h.paid("ord_nocancel_1", 1_000).await;
    h.fake
        .set_fault(Fault::new(FaultKind::NotCancelable).for_order("ord_nocancel_1"));
    assert_error(
        &h.cancel(None, &pk, json!({"cancelReason": "x"})).await,
        403,
        "NOT_CANCELABLE_PAYMENT",
    );
    assert_eq!(h.status_of(&pk).await, "DONE");
    assert_eq!(
        h.cancel(None, &pk, json!({"cancelReason": "x"}))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn slow_calls_time_the_client_out_but_still_happen() {
    let h = harness().await;
    let impatient = Client::builder()
        .no_proxy()
        .timeout(std::time::Duration::from_millis(200))
        .build()
        .expect("client");
    for (order, fault) in [
        (
            "ord_slow_before",
            FaultKind::Delay(std::time::Duration::from_millis(1500)),
        ),
        (
            "ord_slow_after",
            FaultKind::DelayAfterCommit(std::time::Duration::from_millis(1500)),
        ),
    ] {
        let pk = h.fake.authorize(order, 1_000, "x").await;
        h.fake.set_fault(Fault::new(fault).for_order(order));
        let request = impatient
            .post(h.url("/v1/payments/confirm"))
            .header("Authorization", basic(DOCS_SECRET_KEY))
            .json(&json!({"paymentKey": pk, "orderId": order, "amount": 1_000}))
            .send();
        // The call reaches the fake (and stays there for 1.5 s) while the client waits.
        let (result, ()) = tokio::join!(request, h.fake.wait_in_flight(1));
        let err = result.expect_err("the client gives up");
        assert!(err.is_timeout(), "{err}");
        // The outcome is unknown to the client, but the fake finishes the work.
        h.fake.wait_idle().await;
        assert_eq!(h.status_of(&pk).await, "DONE", "{order}");
        assert_eq!(h.fake.confirm_executions(order), 1);
    }
}

#[tokio::test]
async fn commit_then_drop_loses_the_response_but_not_the_charge() {
    let h = harness().await;
    let pk = h.fake.authorize("ord_drop_1", 8_000, "x").await;
    h.fake
        .set_fault(Fault::new(FaultKind::CommitThenDrop).on(Op::Confirm));
    let err = h
        .try_post(
            "/v1/payments/confirm",
            Some("confirm:ord_drop_1"),
            &json!({"paymentKey": pk, "orderId": "ord_drop_1", "amount": 8_000}),
        )
        .await
        .expect_err("no response");
    // hyper's "connection closed before message completed": no byte of a response came.
    assert!(format!("{err:?}").contains("IncompleteMessage"), "{err:?}");
    assert_eq!(h.status_of(&pk).await, "DONE");
    assert_eq!(h.fake.confirm_executions("ord_drop_1"), 1);
    // The retry with the same key gets the response that was lost.
    let retry = h
        .confirm(Some("confirm:ord_drop_1"), &pk, "ord_drop_1", 8_000)
        .await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.json["status"], "DONE");
    assert_eq!(h.fake.confirm_executions("ord_drop_1"), 1);

    // Same for a cancel.
    h.fake
        .set_fault(Fault::new(FaultKind::CommitThenDrop).on(Op::Cancel));
    let body = json!({"cancelReason": "환불", "cancelAmount": 3_000});
    let path = format!("/v1/payments/{pk}/cancel");
    h.try_post(&path, Some("cancel:ord_drop_1:1"), &body)
        .await
        .expect_err("no response");
    assert_eq!(h.fake.cancel_executions("ord_drop_1"), 1);
    let retry = h.post(&path, Some("cancel:ord_drop_1:1"), &body).await;
    assert_eq!(retry.status, StatusCode::OK);
    assert_eq!(retry.json["balanceAmount"], 5_000);
    assert_eq!(h.fake.cancel_executions("ord_drop_1"), 1);
    assert_eq!(h.fake.ledger("ord_drop_1").refunded_amount, 3_000);
}

#[tokio::test]
async fn trigger_substrings_arm_faults_from_the_request() {
    let h = harness().await;
    // 500 on every confirm of this order.
    let order = "ord_FAULT_500_t1";
    let pk = h.fake.authorize(order, 1_000, "x").await;
    for _ in 0..2 {
        assert_error(
            &h.confirm(None, &pk, order, 1_000).await,
            500,
            "FAILED_INTERNAL_SYSTEM_PROCESSING",
        );
    }
    // Commit then drop.
    let order = "ord_FAULT_DROP_t2";
    let pk = h.fake.authorize(order, 1_000, "x").await;
    h.try_post(
        "/v1/payments/confirm",
        None,
        &json!({"paymentKey": pk, "orderId": order, "amount": 1_000}),
    )
    .await
    .expect_err("dropped");
    assert_eq!(h.status_of(&pk).await, "DONE");
    // Decline and lost session.
    let order = "ord_FAULT_REJECT_t3";
    let pk = h.fake.authorize(order, 1_000, "x").await;
    assert_error(
        &h.confirm(None, &pk, order, 1_000).await,
        403,
        "REJECT_CARD_PAYMENT",
    );
    let order = "ord_FAULT_SESSION_t4";
    let pk = h.fake.authorize(order, 1_000, "x").await;
    assert_error(
        &h.confirm(None, &pk, order, 1_000).await,
        404,
        "NOT_FOUND_PAYMENT_SESSION",
    );
    // Cancel faults from the orderId (confirm unaffected) and from the cancelReason.
    let order = "ord_CANCELFAULT_NOTCANCELABLE_t5";
    let pk = h.paid(order, 1_000).await;
    assert_error(
        &h.cancel(None, &pk, json!({"cancelReason": "x"})).await,
        403,
        "NOT_CANCELABLE_PAYMENT",
    );
    let pk = h.paid("ord_reason_t6", 1_000).await;
    let res = h
        .cancel(None, &pk, json!({"cancelReason": "test FAULT_PROVIDER"}))
        .await;
    assert_error(&res, 400, "PROVIDER_ERROR");
    assert_eq!(
        h.cancel(None, &pk, json!({"cancelReason": "plain"}))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn quirks_switch_the_uncertain_behaviours() {
    let h = harness_with(FakeConfig {
        quirks: Quirks {
            unauthorized_key_status: reqwest::StatusCode::BAD_REQUEST,
            already_canceled_as_400: true,
            unknown_order_code: "NOT_FOUND".to_owned(),
            replay_error_responses: true,
            amount_mismatch_code: "UNAPPROVED_ORDER_ID".to_owned(),
            ..Quirks::default()
        },
        ..config()
    })
    .await;
    let res = h
        .http
        .get(h.url("/v1/payments/orders/ord_none_1"))
        .header("Authorization", basic("test_sk_unknown"))
        .send()
        .await
        .expect("response");
    assert_error(&read(res).await, 400, "UNAUTHORIZED_KEY");
    assert_error(
        &h.get("/v1/payments/orders/ord_none_1").await,
        404,
        "NOT_FOUND",
    );

    let pk = h.fake.authorize("ord_quirk_1", 1_000, "x").await;
    let wrong = h.confirm(Some("K"), &pk, "ord_quirk_1", 999).await;
    assert_error(&wrong, 400, "UNAPPROVED_ORDER_ID");
    // The stored error is replayed, even for the right body.
    let replay = h.confirm(Some("K"), &pk, "ord_quirk_1", 1_000).await;
    assert_eq!(replay.bytes, wrong.bytes);
    assert_eq!(
        h.confirm(Some("K2"), &pk, "ord_quirk_1", 1_000)
            .await
            .status,
        StatusCode::OK
    );

    assert_eq!(
        h.cancel(None, &pk, json!({"cancelReason": "x"}))
            .await
            .status,
        StatusCode::OK
    );
    h.fake.advance_clock(Duration::seconds(2));
    assert_error(
        &h.cancel(None, &pk, json!({"cancelReason": "x"})).await,
        400,
        "ALREADY_CANCELED_PAYMENT",
    );
}

// ---------------------------------------------------------------------------------
// Widget stand-in
// ---------------------------------------------------------------------------------

/// The value of `attr="..."` after `marker` in `html`, unescaped.
fn attribute(html: &str, marker: &str, attr: &str) -> String {
    let from = html
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in page"));
    let rest = &html[from..];
    let start = rest.find(&format!("{attr}=\"")).expect("attribute") + attr.len() + 2;
    let end = rest[start..].find('"').expect("closing quote") + start;
    rest[start..end]
        .replace("&amp;", "&")
        .replace("&quot;", "\"")
}

fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    url::Url::parse(url)
        .expect("absolute url")
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn widget(h: &Harness, order_id: &str, amount: &str) -> reqwest::Response {
    h.http
        .get(h.url("/v1/__test/widget"))
        .query(&[
            ("orderId", order_id),
            ("orderName", "콘서트 <R석>"),
            ("amount", amount),
            ("successUrl", "http://shop.test/pay/success?from=widget"),
            ("failUrl", "http://shop.test/pay/fail"),
        ])
        .send()
        .await
        .expect("response")
}

#[tokio::test]
async fn the_widget_page_redirects_like_the_real_widget() {
    let h = harness().await;
    let page = widget(&h, "ord_widget_1", "15000").await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .is_ok_and(|ct| ct.starts_with("text/html"))
    );
    let html = page.text().await.expect("html");
    assert!(html.contains("결제하기 / Pay") && html.contains("취소 / Cancel"));
    assert!(
        html.contains("콘서트 &lt;R석&gt;"),
        "the order name is escaped"
    );
    assert_eq!(
        h.fake.payment("ord_widget_1").map(|p| p.status.as_str()),
        Some("READY")
    );

    // Cancel: straight to failUrl.
    let cancel = query_of(&attribute(&html, "id=\"cancel\"", "href"));
    assert_eq!(cancel["code"], "PAY_PROCESS_CANCELED");
    assert_eq!(cancel["orderId"], "ord_widget_1");
    assert!(!cancel["message"].is_empty());

    // Pay: authenticate, then 303 to successUrl with the four parameters.
    let action = attribute(&html, "id=\"pay-form\"", "action");
    let res = h.http.post(h.url(&action)).send().await.expect("response");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        location.starts_with("http://shop.test/pay/success?"),
        "{location}"
    );
    let q = query_of(&location);
    assert_eq!(q["from"], "widget");
    assert_eq!(q["paymentType"], "NORMAL");
    assert_eq!(q["orderId"], "ord_widget_1");
    assert_eq!(q["amount"], "15000");
    let pk = &q["paymentKey"];
    assert_eq!(h.status_of(pk).await, "IN_PROGRESS");
    assert_eq!(
        h.confirm(None, pk, "ord_widget_1", 15_000).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_widget_validates_and_expires() {
    let h = harness().await;
    for (order, amount) in [
        ("ord", "1000"),
        ("ord widget", "1000"),
        ("ord_widget_ok", "0"),
        ("ord_widget_ok", "ten"),
    ] {
        let res = read(widget(&h, order, amount).await).await;
        assert_error(&res, 400, "INVALID_REQUEST");
    }
    let relative = h
        .http
        .get(h.url("/v1/__test/widget"))
        .query(&[
            ("orderId", "ord_widget_2"),
            ("amount", "1000"),
            ("successUrl", "/ok"),
            ("failUrl", "/fail"),
        ])
        .send()
        .await
        .expect("response");
    assert_eq!(relative.status(), StatusCode::BAD_REQUEST);

    // A READY payment left alone for more than 30 minutes expires.
    let html = widget(&h, "ord_widget_3", "1000")
        .await
        .text()
        .await
        .expect("html");
    h.fake.advance_clock(Duration::minutes(31));
    let action = attribute(&html, "id=\"pay-form\"", "action");
    let res = h.http.post(h.url(&action)).send().await.expect("response");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()[reqwest::header::LOCATION]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        location.starts_with("http://shop.test/pay/fail?"),
        "{location}"
    );
    assert_eq!(query_of(&location)["code"], "PAY_PROCESS_ABORTED");
    assert_eq!(
        h.fake.payment("ord_widget_3").map(|p| p.status.as_str()),
        Some("EXPIRED")
    );
}

// ---------------------------------------------------------------------------------
// Webhooks
// ---------------------------------------------------------------------------------

/// A webhook endpoint that answers 500 to the first `fail_first` deliveries and 200
/// after, and forwards every body it receives.
struct Receiver {
    url: String,
    bodies: mpsc::UnboundedReceiver<Value>,
}

async fn receiver(fail_first: usize) -> Receiver {
    let (tx, bodies) = mpsc::unbounded_channel();
    let seen = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route(
        "/hooks/toss",
        post(move |body: Bytes| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
            async move {
                if n < fail_first {
                    AxumStatus::INTERNAL_SERVER_ERROR
                } else {
                    AxumStatus::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Receiver {
        url: format!("http://{addr}/hooks/toss"),
        bodies,
    }
}

/// The next body the receiver got (the timeout only turns a bug into a failure
/// instead of a hang).
async fn recv(rx: &mut Receiver) -> Value {
    tokio::time::timeout(std::time::Duration::from_secs(20), rx.bodies.recv())
        .await
        .expect("a webhook within 20 s")
        .expect("receiver alive")
}

async fn with_webhooks(receiver: &Receiver, auto: bool) -> Harness {
    harness_with(FakeConfig {
        webhook_url: Some(receiver.url.clone()),
        auto_deliver_webhooks: auto,
        ..config()
    })
    .await
}

#[tokio::test]
async fn webhooks_are_retried_on_the_fake_clock() {
    let mut rx = receiver(2).await;
    let h = with_webhooks(&rx, false).await;
    let pk = h.paid("ord_hook_1", 3_000).await;

    let first = h.fake.deliver_due_webhooks().await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].http_status, Some(500));
    assert!(
        h.fake.deliver_due_webhooks().await.is_empty(),
        "the retry is not due yet"
    );
    h.fake.advance_clock(Duration::seconds(59));
    assert!(h.fake.deliver_due_webhooks().await.is_empty());
    h.fake.advance_clock(Duration::seconds(1));
    let second = h.fake.deliver_due_webhooks().await;
    assert_eq!(
        (second.len(), second[0].number, second[0].http_status),
        (1, 2, Some(500))
    );
    h.fake
        .advance_clock(Duration::minutes(4) - Duration::seconds(1));
    assert!(h.fake.deliver_due_webhooks().await.is_empty());
    h.fake.advance_clock(Duration::seconds(1));
    let third = h.fake.deliver_due_webhooks().await;
    assert_eq!((third[0].number, third[0].http_status), (3, Some(200)));

    let deliveries = h.fake.webhook_deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].state, DeliveryState::Delivered);
    assert_eq!(
        deliveries[0].attempts[1].at - deliveries[0].attempts[0].at,
        Duration::minutes(1)
    );
    assert_eq!(
        deliveries[0].attempts[2].at - deliveries[0].attempts[1].at,
        Duration::minutes(4)
    );

    // The receiver saw the same event three times.
    let mut bodies = Vec::new();
    for _ in 0..3 {
        bodies.push(recv(&mut rx).await);
    }
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    let event = &bodies[0];
    assert_eq!(event["eventType"], "PAYMENT_STATUS_CHANGED");
    let created = event["createdAt"].as_str().expect("createdAt");
    assert!(
        !created.contains('+') && created.len() == "2026-11-27T12:34:56.123456".len(),
        "{created}"
    );
    assert!(NaiveDateTime::parse_from_str(created, "%Y-%m-%dT%H:%M:%S%.6f").is_ok());
    assert_eq!(event["data"]["paymentKey"], pk.as_str());
    assert_eq!(event["data"]["status"], "DONE");
    assert_eq!(event["data"]["totalAmount"], 3_000);

    // A cancel is another status change, another event.
    h.cancel(None, &pk, json!({"cancelReason": "x"})).await;
    let attempts = h.fake.deliver_due_webhooks().await;
    assert_eq!(attempts.len(), 1);
    assert_eq!(recv(&mut rx).await["data"]["status"], "CANCELED");
}

#[tokio::test]
async fn webhooks_give_up_after_seven_retries() {
    let rx = receiver(usize::MAX).await;
    let h = with_webhooks(&rx, false).await;
    h.paid("ord_hook_2", 1_000).await;
    let mut made = h.fake.deliver_due_webhooks().await.len();
    for minutes in RETRY_MINUTES {
        h.fake.advance_clock(Duration::minutes(minutes));
        made += h.fake.deliver_due_webhooks().await.len();
    }
    assert_eq!(made, 8);
    h.fake.advance_clock(Duration::days(30));
    assert!(h.fake.deliver_due_webhooks().await.is_empty());
    let delivery = &h.fake.webhook_deliveries()[0];
    assert_eq!(delivery.state, DeliveryState::GaveUp);
    let gaps: Vec<i64> = delivery
        .attempts
        .windows(2)
        .map(|w| (w[1].at - w[0].at).num_minutes())
        .collect();
    assert_eq!(gaps, RETRY_MINUTES.to_vec());
}

#[tokio::test]
async fn webhooks_flow_by_themselves_with_the_worker() {
    let mut rx = receiver(1).await;
    let h = with_webhooks(&rx, true).await;
    let pk = h.paid("ord_hook_3", 1_000).await;
    let failed = recv(&mut rx).await;
    assert_eq!(failed["data"]["status"], "DONE");
    // The retry goes out once the fake clock passes it.
    h.fake.wait_webhook_attempts(1).await;
    h.fake.advance_clock(Duration::minutes(1));
    let retried = recv(&mut rx).await;
    assert_eq!(retried, failed);
    h.fake.wait_webhook_attempts(2).await;
    assert_eq!(
        h.fake.webhook_deliveries()[0].state,
        DeliveryState::Delivered
    );

    // Expiry is a status change too, noticed when the clock moves.
    let late = h.fake.authorize("ord_hook_4", 1_000, "x").await;
    h.fake.advance_clock(Duration::minutes(11));
    let expired = recv(&mut rx).await;
    assert_eq!(expired["data"]["paymentKey"], late.as_str());
    assert_eq!(expired["data"]["status"], "EXPIRED");
    assert_ne!(late, pk);
    h.fake.shutdown().await;
}

// ---------------------------------------------------------------------------------
// Admin API over HTTP
// ---------------------------------------------------------------------------------

#[tokio::test]
async fn the_admin_api_drives_the_fake_over_http() {
    let h = harness().await;
    let admin = |path: &str| h.url(&format!("/v1/__test{path}"));

    let res = read(
        h.http
            .post(admin("/authorize"))
            .json(&json!({"orderId": "ord_admin_1", "amount": 4_000}))
            .send()
            .await
            .expect("response"),
    )
    .await;
    assert_eq!(res.status, StatusCode::OK, "{:?}", res.json);
    assert_eq!(res.json["status"], "IN_PROGRESS");
    let pk = res.json["paymentKey"]
        .as_str()
        .expect("paymentKey")
        .to_owned();
    let bad = h
        .http
        .post(admin("/authorize"))
        .json(&json!({"orderId": "x", "amount": 1}))
        .send()
        .await;
    assert_eq!(bad.expect("response").status(), StatusCode::BAD_REQUEST);

    let faults = read(
        h.http
            .post(admin("/faults"))
            .json(&json!({"kind": "INTERNAL_ERROR", "op": "CONFIRM", "orderId": "ord_admin_1"}))
            .send()
            .await
            .expect("response"),
    )
    .await;
    assert_eq!(faults.json.as_array().map(Vec::len), Some(1));
    assert_error(
        &h.confirm(None, &pk, "ord_admin_1", 4_000).await,
        500,
        "FAILED_INTERNAL_SYSTEM_PROCESSING",
    );
    let listed = read(h.http.get(admin("/faults")).send().await.expect("response")).await;
    assert_eq!(listed.json, json!([]));
    let unknown = h
        .http
        .post(admin("/faults"))
        .json(&json!({"kind": "METEOR"}))
        .send()
        .await;
    assert_eq!(unknown.expect("response").status(), StatusCode::BAD_REQUEST);

    let clock = read(
        h.http
            .post(admin("/clock/advance"))
            .json(&json!({"minutes": 10, "seconds": 1}))
            .send()
            .await
            .expect("response"),
    )
    .await;
    assert_eq!(clock.json["offsetMs"], 601_000);
    assert_eq!(clock.json["frozen"], true);

    let ledger = read(
        h.http
            .get(admin("/orders/ord_admin_1"))
            .send()
            .await
            .expect("response"),
    )
    .await;
    assert_eq!(ledger.json["payment"]["status"], "EXPIRED");
    assert_eq!(ledger.json["confirmExecutions"], 0);
    assert_eq!(ledger.json["capturedAmount"], 0);
    let all = read(
        h.http
            .get(admin("/payments"))
            .send()
            .await
            .expect("response"),
    )
    .await;
    assert_eq!(all.json.as_array().map(Vec::len), Some(1));
    let hooks = read(
        h.http
            .get(admin("/webhooks"))
            .send()
            .await
            .expect("response"),
    )
    .await;
    assert_eq!(hooks.json, json!([]));
    let delivered = read(
        h.http
            .post(admin("/webhooks/deliver"))
            .send()
            .await
            .expect("response"),
    )
    .await;
    assert_eq!(delivered.json, json!([]));

    let reset = h.http.post(admin("/reset")).send().await.expect("response");
    assert_eq!(reset.status(), StatusCode::NO_CONTENT);
    assert!(h.fake.payments().is_empty());
    h.fake.shutdown().await;
}
