//! Payments, tickets, refunds and reconciliation against the Toss fake over real HTTP.
//!
//! Each test starts its own fake (`toss_fake::TossFake`, frozen clock) on a random port
//! and an origin pointed at it. Nothing sleeps to synchronise: time moves with the
//! app's clock, the reconciler and the sweeper are driven by calling their run-once
//! functions, and the fake's awaitable helpers (`wait_idle`) say when a delayed call has
//! finished.

use crate::client::{
    authorize, confirm, hold_seats, hold_standing, pay, spawn_env, spawn_env_with,
};
use crate::fixtures::{EventFixture, EventSpec, create_event, create_fans};
use crate::helpers::{TestApp, TestUser, assert_problem, json};
use chrono::Duration;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_wasm::token::{self, QrClaims, Role};
use std::collections::HashSet;
use std::time::Duration as StdDuration;
use toss_fake::{FakeConfig, Fault, FaultKind, Op};
use urr_origin::booking;
use urr_origin::payments;
use uuid::Uuid;

fn ticket_ids(body: &Value) -> HashSet<String> {
    body["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn payment_status(app: &TestApp, order_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT status FROM payments WHERE order_id = $1")
        .bind(order_id)
        .fetch_optional(app.db())
        .await
        .expect("query")
}

async fn reservation_status(app: &TestApp, id: Uuid) -> String {
    sqlx::query_scalar("SELECT status FROM reservations WHERE id = $1")
        .bind(id)
        .fetch_one(app.db())
        .await
        .expect("query")
}

async fn tickets_of(app: &TestApp, reservation: Uuid) -> Vec<(Uuid, String, String)> {
    sqlx::query_as("SELECT id, code, status FROM tickets WHERE reservation_id = $1 ORDER BY id")
        .bind(reservation)
        .fetch_all(app.db())
        .await
        .expect("query")
}

async fn available(app: &TestApp, tt: Uuid) -> i32 {
    sqlx::query_scalar("SELECT available_quantity FROM ticket_types WHERE id = $1")
        .bind(tt)
        .fetch_one(app.db())
        .await
        .expect("query")
}

async fn seated_and_standing(app: &TestApp) -> EventFixture {
    create_event(
        app,
        EventSpec::on_sale(app)
            .seats(10)
            .standing("Standing", 30_000, 10)
            .limit(10),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn happy_path_from_hold_to_signed_tickets() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fans = create_fans(app, 2).await;
    let (fan, other) = (&fans[0], &fans[1]);

    let seats = hold_seats(app, fan, event.id, &event.seats[..2]).await;
    assert_eq!(seats.amount, 2 * event.seat_price);
    let paid = pay(&env, fan, &seats).await;
    assert_eq!(paid["payment"]["status"], "paid");
    assert_eq!(paid["payment"]["amount"], seats.amount);
    assert_eq!(paid["payment"]["order_id"], seats.order_id.as_str());
    let tickets = paid["tickets"].as_array().expect("tickets");
    assert_eq!(tickets.len(), 2);
    let now = app.state.clock.unix();
    for t in tickets {
        assert_eq!(t["status"], "valid");
        assert_eq!(t["owner_id"], fan.id.to_string());
        let code = t["code"].as_str().expect("code");
        assert_eq!(code.len(), 10);
        // The QR payload is a `qr` token of the origin key naming this ticket.
        let claims: QrClaims = token::verify(
            &app.state.config.keys.origin_public,
            t["qr"].as_str().expect("qr"),
            now,
        )
        .expect("QR verifies with the origin key");
        assert_eq!(claims.tid.to_string(), t["id"].as_str().expect("id"));
        assert_eq!(claims.code, code);
        assert_eq!(claims.evt, event.id);
    }
    assert_eq!(reservation_status(app, seats.id).await, "confirmed");
    let ledger = env.fake.ledger(&seats.order_id);
    assert_eq!(ledger.captured_amount, seats.amount);
    assert_eq!(ledger.confirm_executions, 1);

    // Standing: two units are two tickets.
    let standing = hold_standing(app, fan, event.id, event.ticket_types[0], 2).await;
    let paid_standing = pay(&env, fan, &standing).await;
    assert_eq!(paid_standing["tickets"].as_array().map(Vec::len), Some(2));

    // Confirming again is idempotent: same tickets, no second charge.
    let key = env
        .fake
        .payment(&seats.order_id)
        .expect("payment")
        .payment_key;
    let again = confirm(app, fan, &key, &seats.order_id, seats.amount).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(ticket_ids(&json(again).await), ticket_ids(&paid));
    assert_eq!(env.fake.confirm_executions(&seats.order_id), 1);

    // My tickets: all four, newest first, paginated.
    let page = json(app.fan(fan).tickets("limit=3").await).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(3));
    let cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
    let rest = json(app.fan(fan).tickets(&format!("cursor={cursor}")).await).await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert!(rest["next_cursor"].is_null());
    let mine = json(app.fan(other).tickets("").await).await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(0));

    // One ticket: its owner sees it, nobody else does.
    let id = tickets[0]["id"].as_str().expect("id");
    let res = app
        .get(&format!("/api/v1/tickets/{id}"), Some(&fan.token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_problem(
        app.get(&format!("/api/v1/tickets/{id}"), Some(&other.token))
            .await,
        StatusCode::NOT_FOUND,
        "TICKET_NOT_FOUND",
    )
    .await;
    // The payment view, and the widget's configuration.
    let view = json(
        app.get(
            &format!("/api/v1/payments/{}", seats.order_id),
            Some(&fan.token),
        )
        .await,
    )
    .await;
    assert_eq!(view["status"], "paid");
    assert_problem(
        app.get(
            &format!("/api/v1/payments/{}", seats.order_id),
            Some(&other.token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "ORDER_NOT_FOUND",
    )
    .await;
    let cfg = json(app.get("/api/v1/payments/config", None).await).await;
    assert!(
        cfg["client_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("test_gck_"))
    );

    // Events: one per fact, written with the change.
    assert_eq!(app.outbox_count("reservation.created").await, 2);
    assert_eq!(app.outbox_count("payment.confirmed").await, 2);
    assert_eq!(app.outbox_count("ticket.issued").await, 4);
    let codes: HashSet<String> = sqlx::query_scalar("SELECT code FROM tickets")
        .fetch_all(app.db())
        .await
        .expect("codes")
        .into_iter()
        .collect();
    assert_eq!(codes.len(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn amount_tampering_is_refused_and_nothing_is_confirmed() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fans = create_fans(app, 2).await;
    let (fan, other) = (&fans[0], &fans[1]);
    let held = hold_seats(app, fan, event.id, &event.seats[..1]).await;

    // The browser posts a lower amount (the query string is user-controlled).
    let key = authorize(&env.fake, &held).await;
    let body = assert_problem(
        confirm(app, fan, &key, &held.order_id, held.amount - 40_000).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "PAYMENT_AMOUNT_MISMATCH",
    )
    .await;
    assert_eq!(body["expected_amount"], held.amount);
    assert_eq!(payment_status(app, &held.order_id).await, None);

    // The widget itself was opened with a lower amount: the fan posts the true amount
    // with that paymentKey. Toss refuses (the authorised amount differs); not charged.
    let cheap = env
        .fake
        .authorize(&held.order_id, 1_000, &held.order_name)
        .await;
    let body = assert_problem(
        confirm(app, fan, &cheap, &held.order_id, held.amount).await,
        StatusCode::PAYMENT_REQUIRED,
        "PAYMENT_DECLINED",
    )
    .await;
    assert_eq!(body["toss_code"], "INVALID_REQUEST");
    assert_eq!(
        payment_status(app, &held.order_id).await.as_deref(),
        Some("failed")
    );

    // Other orders, other users, bad input.
    assert_problem(
        confirm(app, fan, &key, "ord_00000000000000000000000000000000", 1000).await,
        StatusCode::NOT_FOUND,
        "ORDER_NOT_FOUND",
    )
    .await;
    assert_problem(
        confirm(app, other, &key, &held.order_id, held.amount).await,
        StatusCode::NOT_FOUND,
        "ORDER_NOT_FOUND",
    )
    .await;
    assert_problem(
        confirm(app, fan, "../../v1/evil", &held.order_id, held.amount).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    let res = app
        .post(
            "/api/v1/payments/confirm",
            &json!({"paymentKey": key, "orderId": held.order_id, "amount": held.amount, "extra": 1}),
            Some(&fan.token),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY").await;
    let res = app
        .post(
            "/api/v1/payments/confirm",
            &json!({"paymentKey": key, "orderId": held.order_id, "amount": held.amount}),
            None,
        )
        .await;
    assert_problem(res, StatusCode::UNAUTHORIZED, "AUTH_REQUIRED").await;

    let ledger = env.fake.ledger(&held.order_id);
    assert_eq!(ledger.confirm_executions, 0);
    assert_eq!(ledger.captured_amount, 0);
    assert_eq!(reservation_status(app, held.id).await, "pending");
    assert_eq!(app.count_rows("tickets").await, 0);

    // The honest payment still goes through afterwards.
    let res = confirm(app, fan, &key, &held.order_id, held.amount).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(env.fake.ledger(&held.order_id).captured_amount, held.amount);

    // Orders under Toss's card minimum are refused before any call.
    let stickers = create_event(app, EventSpec::on_sale(app).standing("Sticker", 50, 10)).await;
    let tiny = hold_standing(app, other, stickers.id, stickers.ticket_types[0], 1).await;
    assert_problem(
        confirm(app, other, "tgen_tiny", &tiny.order_id, tiny.amount).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "AMOUNT_BELOW_MINIMUM",
    )
    .await;
    assert_eq!(payment_status(app, &tiny.order_id).await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn confirm_after_the_hold_expired_is_refused_and_nothing_is_charged() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fan = create_fans(app, 1).await.remove(0);
    let held = hold_seats(app, &fan, event.id, &event.seats[..1]).await;
    let key = authorize(&env.fake, &held).await;

    // Past the deadline, not yet swept: still refused.
    app.state.clock.advance(Duration::seconds(301));
    let body = assert_problem(
        confirm(app, &fan, &key, &held.order_id, held.amount).await,
        StatusCode::CONFLICT,
        "HOLD_EXPIRED",
    )
    .await;
    assert_eq!(body["reservation_status"], "pending");
    // Swept: refused too.
    assert_eq!(booking::sweep(&app.state).await.expect("sweep"), 1);
    let body = assert_problem(
        confirm(app, &fan, &key, &held.order_id, held.amount).await,
        StatusCode::CONFLICT,
        "HOLD_EXPIRED",
    )
    .await;
    assert_eq!(body["reservation_status"], "expired");
    let ledger = env.fake.ledger(&held.order_id);
    assert_eq!(ledger.confirm_executions, 0);
    assert_eq!(ledger.captured_amount, 0);
    assert_eq!(payment_status(app, &held.order_id).await, None);
    assert_eq!(app.outbox_count("reservation.expired").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_toss_timeout_is_retried_with_the_same_key_and_charges_once() {
    let env = spawn_env(&[
        ("URR_TOSS_TIMEOUT_MS", "300"),
        ("URR_TOSS_BUDGET_MS", "8000"),
        ("URR_TOSS_MAX_ATTEMPTS", "30"),
    ])
    .await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fan = create_fans(app, 1).await.remove(0);
    let held = hold_seats(app, &fan, event.id, &event.seats[..2]).await;
    // The first confirm takes a second before Toss even starts: our 300 ms call times
    // out, the retries (same key) find it in flight, then get its stored answer.
    env.fake.set_fault(
        Fault::new(FaultKind::Delay(StdDuration::from_millis(1000)))
            .on(Op::Confirm)
            .for_order(&held.order_id),
    );
    let paid = pay(&env, &fan, &held).await;
    assert_eq!(paid["tickets"].as_array().map(Vec::len), Some(2));
    let ledger = env.fake.ledger(&held.order_id);
    assert_eq!(ledger.confirm_executions, 1, "one charge");
    assert_eq!(ledger.captured_amount, held.amount);
    let failures: i32 = sqlx::query_scalar("SELECT failures FROM payments WHERE order_id = $1")
        .bind(&held.order_id)
        .fetch_one(app.db())
        .await
        .expect("query");
    assert!(failures >= 1, "the first call must have timed out");
    assert_eq!(tickets_of(app, held.id).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_response_after_toss_confirmed_is_settled_by_the_reconciler() {
    // One attempt per request, so the lost answer is not replayed by a retry: the
    // request ends not knowing, exactly as if the origin had crashed.
    let env = spawn_env(&[("URR_TOSS_MAX_ATTEMPTS", "1")]).await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fan = create_fans(app, 1).await.remove(0);
    let held = hold_seats(app, &fan, event.id, &event.seats[..2]).await;
    env.fake.set_fault(
        Fault::new(FaultKind::CommitThenDrop)
            .on(Op::Confirm)
            .for_order(&held.order_id),
    );
    let key = authorize(&env.fake, &held).await;
    assert_problem(
        confirm(app, &fan, &key, &held.order_id, held.amount).await,
        StatusCode::BAD_GATEWAY,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    )
    .await;
    // Charged at Toss, no tickets yet: the dangerous state.
    assert_eq!(env.fake.ledger(&held.order_id).captured_amount, held.amount);
    assert_eq!(
        payment_status(app, &held.order_id).await.as_deref(),
        Some("confirming")
    );
    assert!(tickets_of(app, held.id).await.is_empty());

    // Nobody may take the seats from under it: the fan cannot cancel, the sweeper
    // skips it even long past its deadline.
    assert_problem(
        app.fan(&fan).release(held.id).await,
        StatusCode::CONFLICT,
        "PAYMENT_IN_PROGRESS",
    )
    .await;
    // The request gets its minimum age before the reconciler steps in.
    let early = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(early.examined, 0);
    app.state.clock.advance(Duration::minutes(10));
    assert_eq!(booking::sweep(&app.state).await.expect("sweep"), 0);
    assert_eq!(reservation_status(app, held.id).await, "pending");

    let stats = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(stats.paid, 1, "{stats:?}");
    assert_eq!(reservation_status(app, held.id).await, "confirmed");
    assert_eq!(tickets_of(app, held.id).await.len(), 2);
    assert_eq!(
        payment_status(app, &held.order_id).await.as_deref(),
        Some("paid")
    );
    // The fan's retry now just gets the tickets.
    let fan = app.refresh_token(fan);
    let res = confirm(app, &fan, &key, &held.order_id, held.amount).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["tickets"].as_array().map(Vec::len), Some(2));
    let ledger = env.fake.ledger(&held.order_id);
    assert_eq!(ledger.confirm_executions, 1);
    assert_eq!(ledger.refunded_amount, 0);
    // Settled: nothing more to do.
    let again = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(again.examined, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_retry_after_the_hold_lapsed_asks_toss_instead_of_confirming() {
    let env = spawn_env(&[("URR_TOSS_MAX_ATTEMPTS", "1")]).await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fan = create_fans(app, 1).await.remove(0);

    // Charged, answer lost; the fan retries long after the hold's deadline: the
    // money was taken and the seats were kept, so the retry gets the tickets.
    let charged = hold_seats(app, &fan, event.id, &event.seats[..1]).await;
    env.fake.set_fault(
        Fault::new(FaultKind::CommitThenDrop)
            .on(Op::Confirm)
            .for_order(&charged.order_id),
    );
    let key = authorize(&env.fake, &charged).await;
    assert_eq!(
        confirm(app, &fan, &key, &charged.order_id, charged.amount)
            .await
            .status(),
        StatusCode::BAD_GATEWAY
    );
    // Not charged, Toss down; the fan retries after the deadline: no confirm is
    // sent any more, the hold is over.
    let unpaid = hold_seats(app, &fan, event.id, &event.seats[1..2]).await;
    env.fake.set_fault(
        Fault::new(FaultKind::InternalError)
            .on(Op::Confirm)
            .always(),
    );
    let unpaid_key = authorize(&env.fake, &unpaid).await;
    assert_eq!(
        confirm(app, &fan, &unpaid_key, &unpaid.order_id, unpaid.amount)
            .await
            .status(),
        StatusCode::BAD_GATEWAY
    );
    env.fake.clear_faults();

    app.state.clock.advance(Duration::minutes(8));
    let fan = app.refresh_token(fan);
    let res = confirm(app, &fan, &key, &charged.order_id, charged.amount).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["tickets"].as_array().map(Vec::len), Some(1));
    assert_eq!(env.fake.confirm_executions(&charged.order_id), 1);

    assert_problem(
        confirm(app, &fan, &unpaid_key, &unpaid.order_id, unpaid.amount).await,
        StatusCode::CONFLICT,
        "HOLD_EXPIRED",
    )
    .await;
    assert_eq!(env.fake.confirm_executions(&unpaid.order_id), 0);
    assert_eq!(
        payment_status(app, &unpaid.order_id).await.as_deref(),
        Some("failed")
    );
    assert_eq!(booking::sweep(&app.state).await.expect("sweep"), 1);
    assert_eq!(reservation_status(app, unpaid.id).await, "expired");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirm_that_lands_after_the_seat_is_gone_is_refunded_in_full() {
    let env = spawn_env(&[
        ("URR_TOSS_TIMEOUT_MS", "200"),
        ("URR_TOSS_BUDGET_MS", "1000"),
        ("URR_TOSS_MAX_ATTEMPTS", "1"),
    ])
    .await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fans = create_fans(app, 2).await;
    let (fan, next_fan) = (&fans[0], &fans[1]);
    let held = hold_seats(app, fan, event.id, &event.seats[..1]).await;
    // The confirm is stuck in the network for 4 s before Toss executes it.
    env.fake.set_fault(
        Fault::new(FaultKind::Delay(StdDuration::from_millis(4000)))
            .on(Op::Confirm)
            .for_order(&held.order_id),
    );
    let key = authorize(&env.fake, &held).await;
    assert_problem(
        confirm(app, fan, &key, &held.order_id, held.amount).await,
        StatusCode::BAD_GATEWAY,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    )
    .await;

    // Long after the hold: Toss still says IN_PROGRESS. The reconciler never confirms
    // a lapsed hold; it marks the order failed and keeps watching.
    app.state.clock.advance(Duration::minutes(7));
    let stats = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(stats.failed, 1, "{stats:?}");
    assert_eq!(booking::sweep(&app.state).await.expect("sweep"), 1);
    let next_fan = app.refresh_token(next_fan.clone());
    let taken = hold_seats(app, &next_fan, event.id, &event.seats[..1]).await;

    // The stuck confirm lands: the first fan is charged for a seat that is gone.
    env.fake.wait_idle().await;
    assert_eq!(env.fake.ledger(&held.order_id).captured_amount, held.amount);
    app.state.clock.advance(Duration::minutes(1));
    let stats = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(stats.refunded, 1, "{stats:?}");
    let ledger = env.fake.ledger(&held.order_id);
    assert_eq!(
        ledger.refunded_amount, held.amount,
        "never charged without tickets"
    );
    assert_eq!(ledger.cancel_executions, 1);
    assert_eq!(
        payment_status(app, &held.order_id).await.as_deref(),
        Some("refunded")
    );
    assert!(tickets_of(app, held.id).await.is_empty());
    assert_eq!(reservation_status(app, taken.id).await, "pending");
    // No sale happened, so no money events for it either.
    assert_eq!(app.outbox_count("payment.confirmed").await, 0);
    assert_eq!(app.outbox_count("payment.refunded").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn toss_5xx_is_a_clear_502_and_the_hold_is_kept_until_it_expires() {
    let env = spawn_env(&[
        ("URR_TOSS_BUDGET_MS", "1500"),
        ("URR_TOSS_MAX_ATTEMPTS", "3"),
    ])
    .await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fan = create_fans(app, 1).await.remove(0);
    let held = hold_seats(app, &fan, event.id, &event.seats[..1]).await;
    env.fake.set_fault(
        Fault::new(FaultKind::InternalError)
            .on(Op::Confirm)
            .always(),
    );
    let key = authorize(&env.fake, &held).await;
    let body = assert_problem(
        confirm(app, &fan, &key, &held.order_id, held.amount).await,
        StatusCode::BAD_GATEWAY,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    )
    .await;
    assert_eq!(body["order_id"], held.order_id.as_str());
    // The retry of the fan hits the same wall with the same key.
    assert_problem(
        confirm(app, &fan, &key, &held.order_id, held.amount).await,
        StatusCode::BAD_GATEWAY,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    )
    .await;
    // The hold is kept.
    app.state.clock.advance(Duration::minutes(2));
    assert_eq!(booking::sweep(&app.state).await.expect("sweep"), 0);
    assert_eq!(reservation_status(app, held.id).await, "pending");

    // Toss stays down past the hold: the order fails, the hold lapses, nothing charged.
    app.state.clock.advance(Duration::minutes(5));
    let stats = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(stats.failed, 1, "{stats:?}");
    assert_eq!(booking::sweep(&app.state).await.expect("sweep"), 1);
    let fan = app.refresh_token(fan);
    assert_problem(
        confirm(app, &fan, &key, &held.order_id, held.amount).await,
        StatusCode::CONFLICT,
        "HOLD_EXPIRED",
    )
    .await;
    let ledger = env.fake.ledger(&held.order_id);
    assert_eq!(ledger.confirm_executions, 0);
    assert_eq!(ledger.captured_amount, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_reconciler_finishes_a_confirm_once_toss_recovers() {
    let env = spawn_env(&[("URR_TOSS_MAX_ATTEMPTS", "1")]).await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fan = create_fans(app, 1).await.remove(0);
    let held = hold_standing(app, &fan, event.id, event.ticket_types[0], 3).await;
    env.fake
        .set_fault(Fault::new(FaultKind::ProviderError).on(Op::Confirm));
    let key = authorize(&env.fake, &held).await;
    assert_problem(
        confirm(app, &fan, &key, &held.order_id, held.amount).await,
        StatusCode::BAD_GATEWAY,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    )
    .await;
    // Within the hold, past the request's minimum age: the reconciler confirms again
    // with the same key.
    app.state.clock.advance(Duration::seconds(45));
    let stats = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(stats.paid, 1, "{stats:?}");
    assert_eq!(tickets_of(app, held.id).await.len(), 3);
    assert_eq!(env.fake.confirm_executions(&held.order_id), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_double_confirms_issue_one_set_of_tickets() {
    let env = spawn_env(&[("URR_TOSS_MAX_ATTEMPTS", "20")]).await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fan = create_fans(app, 1).await.remove(0);

    // Ten tabs post the same success redirect at once.
    let held = hold_seats(app, &fan, event.id, &event.seats[..2]).await;
    let key = authorize(&env.fake, &held).await;
    let results = join_all((0..10).map(|_| {
        let (app, fan, key, held) = (app, &fan, &key, &held);
        async move {
            let res = confirm(app, fan, key, &held.order_id, held.amount).await;
            (res.status(), json(res).await)
        }
    }))
    .await;
    let sets: HashSet<Vec<String>> = results
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, StatusCode::OK, "{b}");
            let mut ids: Vec<String> = ticket_ids(b).into_iter().collect();
            ids.sort();
            ids
        })
        .collect();
    assert_eq!(sets.len(), 1, "every answer names the same tickets");
    assert_eq!(tickets_of(app, held.id).await.len(), 2);
    assert_eq!(env.fake.confirm_executions(&held.order_id), 1);
    assert_eq!(app.outbox_count("payment.confirmed").await, 1);

    // Two widget windows, two paymentKeys for one order, confirmed at once: one wins,
    // the other is never charged.
    let held = hold_seats(app, &fan, event.id, &event.seats[5..6]).await;
    let a = authorize(&env.fake, &held).await;
    let b = authorize(&env.fake, &held).await;
    let (ra, rb) = tokio::join!(
        confirm(app, &fan, &a, &held.order_id, held.amount),
        confirm(app, &fan, &b, &held.order_id, held.amount)
    );
    let statuses = [ra.status(), rb.status()];
    assert!(statuses.contains(&StatusCode::OK), "{statuses:?}");
    for r in [ra, rb] {
        if r.status() != StatusCode::OK {
            assert_problem(r, StatusCode::CONFLICT, "PAYMENT_IN_PROGRESS").await;
        }
    }
    let ledger = env.fake.ledger(&held.order_id);
    assert_eq!(ledger.captured_amount, held.amount);
    assert_eq!(ledger.confirm_executions, 1);
    assert_eq!(tickets_of(app, held.id).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declined_card_then_another_card_pays_even_if_toss_replays_errors() {
    // If Toss replayed error answers under an Idempotency-Key (undocumented), reusing
    // `confirm:<orderId>` for the second card would replay the decline forever.
    let mut config = FakeConfig::for_tests();
    config.quirks.replay_error_responses = true;
    let env = spawn_env_with(config, &[]).await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fan = create_fans(app, 1).await.remove(0);
    let held = hold_seats(app, &fan, event.id, &event.seats[..1]).await;
    env.fake
        .set_fault(Fault::new(FaultKind::RejectCard).on(Op::Confirm));
    let first = authorize(&env.fake, &held).await;
    let body = assert_problem(
        confirm(app, &fan, &first, &held.order_id, held.amount).await,
        StatusCode::PAYMENT_REQUIRED,
        "PAYMENT_DECLINED",
    )
    .await;
    assert_eq!(body["toss_code"], "REJECT_CARD_PAYMENT");
    assert_eq!(reservation_status(app, held.id).await, "pending");
    // Another card, another paymentKey, within the same hold.
    let paid = pay(&env, &fan, &held).await;
    assert_eq!(paid["tickets"].as_array().map(Vec::len), Some(1));
    let key: String = sqlx::query_scalar("SELECT confirm_key FROM payments WHERE order_id = $1")
        .bind(&held.order_id)
        .fetch_one(app.db())
        .await
        .expect("query");
    assert_eq!(key, format!("confirm:{}:2", held.order_id));
    assert_eq!(env.fake.ledger(&held.order_id).captured_amount, held.amount);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_returns_the_money_then_the_seat_and_the_standing_stock() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let tt = event.ticket_types[0];
    let fans = create_fans(app, 2).await;
    let (fan, other) = (&fans[0], &fans[1]);

    let seat = hold_seats(app, fan, event.id, &event.seats[..1]).await;
    let standing = hold_standing(app, fan, event.id, tt, 3).await;
    pay(&env, fan, &seat).await;
    pay(&env, fan, &standing).await;
    assert_eq!(available(app, tt).await, 7);

    // The show is two days away: the default policy returns 90 %.
    let res = app.fan(fan).cancel(seat.id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json(res).await;
    assert_eq!(body["reservation"]["status"], "refunded");
    assert_eq!(body["refund"]["status"], "completed");
    assert_eq!(body["refund"]["amount"], seat.amount * 90 / 100);
    let ledger = env.fake.ledger(&seat.order_id);
    assert_eq!(ledger.refunded_amount, seat.amount * 90 / 100);
    assert_eq!(
        payment_status(app, &seat.order_id).await.as_deref(),
        Some("partially_refunded")
    );
    // Tickets void, no QR any more; the seat is bookable again.
    let tickets = tickets_of(app, seat.id).await;
    assert!(tickets.iter().all(|(_, _, s)| s == "void"));
    let t = json(
        app.get(
            &format!("/api/v1/tickets/{}", tickets[0].0),
            Some(&fan.token),
        )
        .await,
    )
    .await;
    assert_eq!(t["status"], "void");
    assert!(t["qr"].is_null());
    hold_seats(app, other, event.id, &event.seats[..1]).await;
    // Cancelling again is a harmless repeat.
    let again = app.fan(fan).cancel(seat.id).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(json(again).await["refund"]["id"], body["refund"]["id"]);
    assert_eq!(env.fake.cancel_executions(&seat.order_id), 1);

    // Admin refund: always in full. Fans may not use it.
    let path = format!("/api/v1/admin/reservations/{}/refund", standing.id);
    assert_problem(
        app.post(&path, &json!({}), Some(&fan.token)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;
    let admin = app.create_user(Role::Admin).await;
    let res = app.post(&path, &json!({}), Some(&admin.token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        env.fake.ledger(&standing.order_id).refunded_amount,
        standing.amount
    );
    assert_eq!(
        payment_status(app, &standing.order_id).await.as_deref(),
        Some("refunded")
    );
    assert_eq!(available(app, tt).await, 10, "standing stock restored");
    // The per-user count went back too: the fan can hold four again.
    hold_standing(app, fan, event.id, tt, 4).await;

    assert_eq!(app.outbox_count("payment.refunded").await, 2);
    assert_eq!(app.outbox_count("reservation.cancelled").await, 2);

    // Less than a day before the show: no cancellation, nothing moves.
    let late = hold_seats(app, fan, event.id, &event.seats[3..4]).await;
    pay(&env, fan, &late).await;
    app.state.clock.advance(Duration::hours(36));
    let fan = app.refresh_token(fan.clone());
    let body = assert_problem(
        app.fan(&fan).cancel(late.id).await,
        StatusCode::CONFLICT,
        "REFUND_WINDOW_CLOSED",
    )
    .await;
    assert!(body["starts_at"].is_string());
    assert_eq!(env.fake.ledger(&late.order_id).refunded_amount, 0);
    assert_eq!(reservation_status(app, late.id).await, "confirmed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refunds_survive_toss_errors_and_lost_answers_and_move_money_once() {
    // A week's notice is not needed here: every refund is full.
    let env = spawn_env(&[
        ("URR_TOSS_MAX_ATTEMPTS", "1"),
        ("URR_REFUND_FULL_DAYS", "1"),
    ])
    .await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fan = create_fans(app, 1).await.remove(0);
    // Toss fails the cancel (500, no effect): 202, tickets stand, the reconciler
    // sends the same refund again with the same key.
    let first = hold_seats(app, &fan, event.id, &event.seats[..1]).await;
    pay(&env, &fan, &first).await;
    env.fake.set_fault(
        Fault::new(FaultKind::InternalError)
            .on(Op::Cancel)
            .for_order(&first.order_id),
    );
    let res = app.fan(&fan).cancel(first.id).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let body = json(res).await;
    assert_eq!(body["refund"]["status"], "requested");
    assert_eq!(body["reservation"]["status"], "confirmed");
    assert_eq!(env.fake.ledger(&first.order_id).refunded_amount, 0);
    let key_before: String =
        sqlx::query_scalar("SELECT idempotency_key FROM refunds WHERE order_id = $1")
            .bind(&first.order_id)
            .fetch_one(app.db())
            .await
            .expect("query");
    app.state.clock.advance(Duration::minutes(1));
    let stats = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(stats.refunded, 1, "{stats:?}");
    let (key_after, attempts): (String, i32) = sqlx::query_as(
        "SELECT idempotency_key, attempts FROM refunds WHERE order_id = $1 AND status = 'completed'",
    )
    .bind(&first.order_id)
    .fetch_one(app.db())
    .await
    .expect("query");
    assert_eq!(key_after, key_before);
    assert_eq!(attempts, 2);
    assert_eq!(
        env.fake.ledger(&first.order_id).refunded_amount,
        first.amount
    );
    assert_eq!(reservation_status(app, first.id).await, "refunded");

    // Toss refunds but the answer is lost: the re-read shows it, done at once.
    let second = hold_seats(app, &fan, event.id, &event.seats[1..2]).await;
    let fan_now = app.refresh_token(fan.clone());
    pay(&env, &fan_now, &second).await;
    env.fake.set_fault(
        Fault::new(FaultKind::CommitThenDrop)
            .on(Op::Cancel)
            .for_order(&second.order_id),
    );
    let res = app.fan(&fan_now).cancel(second.id).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["refund"]["status"], "completed");
    let ledger = env.fake.ledger(&second.order_id);
    assert_eq!(ledger.refunded_amount, second.amount);
    assert_eq!(ledger.cancel_executions, 1);
    assert!(
        tickets_of(app, second.id)
            .await
            .iter()
            .all(|(_, _, s)| s == "void")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_are_never_trusted_only_refetched() {
    let mut config = FakeConfig::for_tests();
    // Record webhook bodies without sending them: the test posts them itself.
    config.webhook_url = Some("http://127.0.0.1:9/unused".into());
    config.auto_deliver_webhooks = false;
    let env = spawn_env_with(config, &[]).await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let tt = event.ticket_types[0];
    let fan = create_fans(app, 1).await.remove(0);
    let held = hold_standing(app, &fan, event.id, tt, 2).await;
    pay(&env, &fan, &held).await;
    let payment = env.fake.payment(&held.order_id).expect("payment");

    // A forged "it was cancelled" for a paid order: answered 200, re-fetched, ignored.
    let mut forged = serde_json::to_value(&payment).expect("payment json");
    forged["status"] = json!("CANCELED");
    forged["balanceAmount"] = json!(0);
    let hook = "/api/v1/payments/toss/webhook";
    let res = app
        .post(
            hook,
            &json!({"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-11-27T12:34:56.123456", "data": forged}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await, json!({"received": true}));
    let stats = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(stats.examined, 1);
    assert_eq!(
        payment_status(app, &held.order_id).await.as_deref(),
        Some("paid")
    );
    assert!(
        tickets_of(app, held.id)
            .await
            .iter()
            .all(|(_, _, s)| s == "valid")
    );
    assert_eq!(available(app, tt).await, 8);
    assert_eq!(env.fake.cancel_executions(&held.order_id), 0);

    // A forged "DONE" for an order nobody paid: nothing to match, nothing happens.
    let unpaid = hold_seats(app, &fan, event.id, &event.seats[..1]).await;
    let res = app
        .post(
            hook,
            &json!({"eventType": "PAYMENT_STATUS_CHANGED", "data": {"orderId": unpaid.order_id, "paymentKey": "tgen_forged", "status": "DONE"}}),
            None,
        )
        .await;
    assert_eq!(
        json(res).await,
        json!({"received": true}),
        "the same answer: no oracle for which orders exist"
    );
    assert_eq!(reservation_status(app, unpaid.id).await, "pending");
    assert_eq!(payment_status(app, &unpaid.order_id).await, None);
    assert_problem(
        app.post_raw(hook, Some("application/json"), "not json")
            .await,
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
    )
    .await;

    // A real cancel made at Toss directly (dashboard): the genuine webhook makes the
    // reconciler re-fetch, and Toss agrees, so the tickets go and the stock returns.
    let res = app
        .client
        .post(format!(
            "{}/v1/payments/{}/cancel",
            env.fake.base_url(),
            payment.payment_key
        ))
        .basic_auth(toss_fake::DOCS_SECRET_KEY, Some(""))
        .header("Idempotency-Key", "dashboard-1")
        .json(&json!({"cancelReason": "고객 요청"}))
        .send()
        .await
        .expect("cancel at the fake");
    assert_eq!(res.status(), StatusCode::OK);
    let delivery = env
        .fake
        .webhook_deliveries()
        .into_iter()
        .rev()
        .find(|d| d.order_id == held.order_id)
        .expect("a webhook was due");
    let res = app
        .post_raw(hook, Some("application/json"), delivery.body.clone())
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let stats = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(stats.refunded, 1, "{stats:?}");
    assert_eq!(
        payment_status(app, &held.order_id).await.as_deref(),
        Some("refunded")
    );
    assert!(
        tickets_of(app, held.id)
            .await
            .iter()
            .all(|(_, _, s)| s == "void")
    );
    assert_eq!(available(app, tt).await, 10);
}

#[tokio::test]
async fn the_openapi_document_lists_the_payment_and_ticket_routes() {
    let env = spawn_env(&[]).await;
    let doc = json(env.app.get("/api/v1/openapi.json", None).await).await;
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/payments/confirm",
        "/api/v1/payments/config",
        "/api/v1/payments/{order_id}",
        "/api/v1/payments/toss/webhook",
        "/api/v1/reservations/{reservation_id}/cancel",
        "/api/v1/admin/reservations/{reservation_id}/refund",
        "/api/v1/me/tickets",
        "/api/v1/tickets/{ticket_id}",
        "/api/v1/events/{event_id}/check-ins",
        "/api/v1/events/{event_id}/void-tickets",
    ] {
        assert!(paths.contains_key(p), "missing {p}");
    }
}

async fn cancel_event(app: &TestApp, admin: &TestUser, event: Uuid) -> reqwest::Response {
    app.post(
        &format!("/api/v1/events/{event}/cancel"),
        &json!({}),
        Some(&admin.token),
    )
    .await
}

async fn live_items(app: &TestApp, event: Uuid) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM reservation_items WHERE event_id = $1 AND live")
        .bind(event)
        .fetch_one(app.db())
        .await
        .expect("query")
}

/// Cancelling an event releases every unpaid hold at once
/// and returns the money of every paid order in full, then voids the tickets; seats and
/// standing stock all come back, each exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_an_event_releases_holds_and_refunds_every_paid_order_in_full() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let tt = event.ticket_types[0];
    let fans = create_fans(app, 5).await;
    let admin = app.create_user(Role::Admin).await;

    let seats_held = hold_seats(app, &fans[0], event.id, &event.seats[..2]).await;
    let standing_held = hold_standing(app, &fans[1], event.id, tt, 2).await;
    let seat_paid = hold_seats(app, &fans[2], event.id, &event.seats[2..3]).await;
    pay(&env, &fans[2], &seat_paid).await;
    let standing_paid = hold_standing(app, &fans[3], event.id, tt, 3).await;
    pay(&env, &fans[3], &standing_paid).await;
    // A fan who cancelled before the event was: refunded under the policy (90 %).
    let self_cancelled = hold_seats(app, &fans[4], event.id, &event.seats[3..4]).await;
    pay(&env, &fans[4], &self_cancelled).await;
    let res = app.fan(&fans[4]).cancel(self_cancelled.id).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(available(app, tt).await, 5);

    let res = cancel_event(app, &admin, event.id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json(res).await;
    assert_eq!(body["status"], "cancelled");
    assert_eq!(
        body["cancellation"],
        json!({ "holds_released": 2, "refunds_requested": 2 })
    );

    // At once: the unpaid holds are gone and their inventory is back.
    for held in [&seats_held, &standing_held] {
        assert_eq!(reservation_status(app, held.id).await, "cancelled");
    }
    assert_eq!(available(app, tt).await, 7);
    let reason: String = sqlx::query_scalar("SELECT close_reason FROM reservations WHERE id = $1")
        .bind(seats_held.id)
        .fetch_one(app.db())
        .await
        .expect("query");
    assert_eq!(reason, "event_cancelled");
    // The paid orders wait for Toss; their tickets stay valid until the money is back.
    for paid in [&seat_paid, &standing_paid] {
        assert_eq!(
            payment_status(app, &paid.order_id).await.as_deref(),
            Some("cancel_requested")
        );
        assert!(
            tickets_of(app, paid.id)
                .await
                .iter()
                .all(|(_, _, s)| s == "valid")
        );
    }
    // A released hold can no longer be paid, and nothing is charged.
    let key = authorize(&env.fake, &seats_held).await;
    assert_problem(
        confirm(app, &fans[0], &key, &seats_held.order_id, seats_held.amount).await,
        StatusCode::CONFLICT,
        "EVENT_CANCELLED",
    )
    .await;
    assert_eq!(env.fake.ledger(&seats_held.order_id).captured_amount, 0);

    // The reconciler returns the money (due at once), then voids and releases.
    let stats = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(stats.refunded, 2, "{stats:?}");
    for paid in [&seat_paid, &standing_paid] {
        let ledger = env.fake.ledger(&paid.order_id);
        assert_eq!(ledger.refunded_amount, paid.amount, "in full");
        assert_eq!(ledger.cancel_executions, 1);
        assert_eq!(
            payment_status(app, &paid.order_id).await.as_deref(),
            Some("refunded")
        );
        assert_eq!(reservation_status(app, paid.id).await, "refunded");
        assert!(
            tickets_of(app, paid.id)
                .await
                .iter()
                .all(|(_, _, s)| s == "void")
        );
    }
    let by: Vec<String> = sqlx::query_scalar(
        "SELECT initiated_by FROM refunds WHERE order_id = ANY($1) ORDER BY order_id",
    )
    .bind(vec![
        seat_paid.order_id.clone(),
        standing_paid.order_id.clone(),
    ])
    .fetch_all(app.db())
    .await
    .expect("query");
    assert_eq!(by, ["event_cancelled", "event_cancelled"]);
    assert_eq!(available(app, tt).await, 10, "all standing stock is back");
    assert_eq!(
        live_items(app, event.id).await,
        0,
        "no seat is held or sold"
    );
    // The fan who had cancelled before keeps the policy's outcome.
    assert_eq!(
        env.fake.ledger(&self_cancelled.order_id).refunded_amount,
        self_cancelled.amount * 90 / 100
    );
    assert_eq!(app.outbox_count("payment.refunded").await, 3);
    assert_eq!(app.outbox_count("reservation.cancelled").await, 5);

    // Once is enough: a second cancel changes nothing.
    assert_problem(
        cancel_event(app, &admin, event.id).await,
        StatusCode::CONFLICT,
        "EVENT_ALREADY_CANCELLED",
    )
    .await;
    let again = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(again.refunded, 0, "{again:?}");
    assert_eq!(env.fake.cancel_executions(&seat_paid.order_id), 1);
}

/// A payment whose confirm is at Toss while the event is cancelled: the hold is left to
/// it, the confirm lands, finds the event cancelled, and the money goes straight back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirm_in_flight_when_the_event_is_cancelled_is_refunded() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let event = seated_and_standing(app).await;
    let fan = create_fans(app, 1).await.remove(0);
    let admin = app.create_user(Role::Admin).await;
    let held = hold_seats(app, &fan, event.id, &event.seats[..1]).await;
    env.fake.set_fault(
        Fault::new(FaultKind::Delay(StdDuration::from_millis(500)))
            .on(Op::Confirm)
            .for_order(&held.order_id),
    );
    let key = authorize(&env.fake, &held).await;
    let paying = {
        let (app_addr, client, token) = (app.addr, app.client.clone(), fan.token.clone());
        let body = json!({ "paymentKey": key, "orderId": held.order_id, "amount": held.amount });
        tokio::spawn(async move {
            client
                .post(format!("http://{app_addr}/api/v1/payments/confirm"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("confirm answers")
        })
    };
    // The claim is committed once the call is at Toss.
    env.fake.wait_in_flight(1).await;

    let body = json(cancel_event(app, &admin, event.id).await).await;
    assert_eq!(
        body["cancellation"],
        json!({ "holds_released": 0, "refunds_requested": 0 }),
        "a hold being paid is left to its payment"
    );

    let res = paying.await.expect("join");
    assert_ne!(
        res.status(),
        StatusCode::OK,
        "no tickets for a cancelled event"
    );
    // The answer may come before Toss confirms the refund; the reconciler finishes it.
    if env.fake.ledger(&held.order_id).refunded_amount != held.amount {
        app.state.clock.advance(Duration::minutes(1));
        payments::reconcile_once(&app.state)
            .await
            .expect("reconcile");
    }
    let ledger = env.fake.ledger(&held.order_id);
    assert_eq!(ledger.captured_amount, held.amount);
    assert_eq!(ledger.refunded_amount, held.amount, "every won goes back");
    assert!(tickets_of(app, held.id).await.is_empty());
    assert_ne!(reservation_status(app, held.id).await, "confirmed");
    assert_eq!(app.outbox_count("payment.confirmed").await, 0);
}

#[tokio::test]
async fn a_fan_sees_each_of_their_payments_with_its_refunds_newest_first() {
    let env = crate::client::spawn_env(&[]).await;
    let app = &env.app;
    let fan = app.create_user(Role::Fan).await;
    let other = app.create_user(Role::Fan).await;
    let ev = create_event(
        app,
        EventSpec::on_sale(app)
            .standing("Standing", 40_000, 50)
            .limit(10),
    )
    .await;
    let tt = ev.ticket_types[0];
    let first = crate::client::hold_standing(app, &fan, ev.id, tt, 1).await;
    crate::client::pay(&env, &fan, &first).await;
    let second = crate::client::hold_standing(app, &fan, ev.id, tt, 2).await;
    crate::client::pay(&env, &fan, &second).await;
    let theirs = crate::client::hold_standing(app, &other, ev.id, tt, 1).await;
    crate::client::pay(&env, &other, &theirs).await;
    // The first order is cancelled by the fan two days before the show: the policy
    // gives 90 % back.
    let res = app.fan(&fan).cancel(first.id).await;
    assert!(res.status().is_success(), "{}", res.status());

    let res = app
        .get("/api/v1/me/payments?limit=1", Some(&fan.token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page1 = json(res).await;
    assert_eq!(
        page1["items"][0]["order_id"],
        second.order_id.as_str(),
        "{page1}"
    );
    assert_eq!(page1["items"][0]["status"], "paid");
    assert_eq!(page1["items"][0]["amount"], 80_000);
    assert_eq!(page1["items"][0]["kind"], "tickets");
    assert_eq!(page1["items"][0]["event_title"], "Test concert");
    assert_eq!(page1["items"][0]["refunds"], json!([]));
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let res = app
        .get(
            &format!("/api/v1/me/payments?limit=1&cursor={cursor}"),
            Some(&fan.token),
        )
        .await;
    let page2 = json(res).await;
    let item = &page2["items"][0];
    assert_eq!(item["order_id"], first.order_id.as_str());
    assert_eq!(item["status"], "partially_refunded");
    assert_eq!(item["refunded_amount"], 36_000);
    assert_eq!(item["refunds"].as_array().map(Vec::len), Some(1));
    assert_eq!(item["refunds"][0]["amount"], 36_000);
    assert_eq!(item["refunds"][0]["status"], "completed");
    assert!(
        page2["next_cursor"].is_null(),
        "only the fan's own two payments: {page2}"
    );

    // Without a session: 401; a foreign cursor: 400.
    let res = app.get("/api/v1/me/payments", None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .get("/api/v1/me/payments?cursor=bm9wZQ", Some(&fan.token))
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "INVALID_CURSOR").await;
}
