//! Abuse resistance of public and unauthenticated routes: bounded caches behind public
//! URLs, and the Toss webhook (same answer for every order, rate limits, no writes
//! that are not needed, reconciler leases respected).

use crate::client::{hold_standing, pay, spawn_env_with};
use crate::fixtures::{EventSpec, create_event, create_fans};
use crate::helpers::{TestApp, assert_problem, json};
use chrono::Duration;
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_wasm::token::Role;
use toss_fake::FakeConfig;
use urr_origin::booking;
use urr_origin::payments;
use uuid::Uuid;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn seat_maps_are_cached_only_for_real_events_and_bounded() {
    let app = TestApp::spawn().await;
    let junk = (0..300).map(|_| {
        let path = format!("/api/v1/events/{}/seats", Uuid::new_v4());
        let app = &app;
        async move { app.get(&path, None).await }
    });
    for res in join_all(junk).await {
        assert_problem(res, StatusCode::NOT_FOUND, "EVENT_NOT_FOUND").await;
    }
    assert_eq!(app.state.booking.seatmaps.len().await, 0, "no junk cached");

    // Real events are cached, but never more than the cap.
    let n = booking::SEAT_MAPS_CACHED as usize + 20;
    let mut events = Vec::with_capacity(n);
    for _ in 0..n {
        events.push(create_event(&app, EventSpec::on_sale(&app).standing("GA", 10_000, 5)).await);
    }
    for e in &events[..3] {
        let res = app
            .get(&format!("/api/v1/events/{}/seats", e.id), None)
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(app.state.booking.seatmaps.len().await, 3);
    for chunk in events.chunks(32) {
        let gets = chunk.iter().map(|e| {
            let path = format!("/api/v1/events/{}/seats", e.id);
            let app = &app;
            async move { app.get(&path, None).await.status() }
        });
        assert!(
            join_all(gets)
                .await
                .into_iter()
                .all(|s| s == StatusCode::OK)
        );
    }
    let len = app.state.booking.seatmaps.len().await;
    assert!(
        (1..=booking::SEAT_MAPS_CACHED).contains(&len),
        "{len} seat maps cached"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn event_details_are_cached_briefly_and_edits_show_at_once() {
    // A long TTL makes "still cached" observable without timing; edits through this
    // replica must show anyway.
    let app = TestApp::spawn_with(&[("URR_EVENT_CACHE_TTL_MS", "600000")]).await;
    let details = &app.state.catalog.details;
    for _ in 0..200 {
        let res = app
            .get(&format!("/api/v1/events/{}", Uuid::new_v4()), None)
            .await;
        assert_problem(res, StatusCode::NOT_FOUND, "EVENT_NOT_FOUND").await;
    }
    assert_eq!(details.len().await, 0, "no junk cached");

    let event = create_event(&app, EventSpec::on_sale(&app).seats(120)).await;
    let path = format!("/api/v1/events/{}", event.id);
    let promoter_id: Uuid = sqlx::query_scalar("SELECT promoter_id FROM events WHERE id = $1")
        .bind(event.id)
        .fetch_one(app.db())
        .await
        .expect("event");
    let promoter =
        urr_origin::auth::issue_access_token(&app.state, promoter_id, Role::Promoter, None).0;
    let first = json(app.get(&path, None).await).await;
    assert_eq!(first["title"], "Test concert");
    assert_eq!(first["status"], "on_sale");
    assert_eq!(
        first["seat_map"]["sections"][0]["rows"][0]["seats"][0]["label"],
        "A-1-1"
    );
    assert_eq!(details.len().await, 1);

    // A change behind the cache's back (as through another replica) is not seen while
    // the entry lives: the detail really is cached.
    sqlx::query("UPDATE events SET title = 'Changed elsewhere' WHERE id = $1")
        .bind(event.id)
        .execute(app.db())
        .await
        .expect("update");
    assert_eq!(
        json(app.get(&path, None).await).await["title"],
        "Test concert"
    );

    // An edit through the API shows at once, with its new version.
    let res = app
        .patch(&path, &json!({ "title": "Edited" }), Some(&promoter))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let edited = json(app.get(&path, None).await).await;
    assert_eq!(edited["title"], "Edited");
    assert_eq!(
        edited["version"],
        first["version"].as_i64().unwrap_or(0) + 1
    );

    // The derived status follows the clock even from the cache.
    app.state.clock.advance(Duration::days(2));
    assert_eq!(json(app.get(&path, None).await).await["status"], "ended");

    // Deleted: gone at once.
    let admin = app.create_user(Role::Admin).await;
    let res = app.delete(&path, Some(&admin.token)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(&path, None).await,
        StatusCode::NOT_FOUND,
        "EVENT_NOT_FOUND",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn event_detail_edits_elsewhere_show_within_the_ttl() {
    let app = TestApp::spawn_with(&[("URR_EVENT_CACHE_TTL_MS", "1000")]).await;
    let event = create_event(&app, EventSpec::on_sale(&app)).await;
    let path = format!("/api/v1/events/{}", event.id);
    assert_eq!(
        json(app.get(&path, None).await).await["title"],
        "Test concert"
    );
    sqlx::query("UPDATE events SET title = 'Changed elsewhere' WHERE id = $1")
        .bind(event.id)
        .execute(app.db())
        .await
        .expect("update");
    // Polled, not slept on: the entry lives 1 s of real time (moka's clock).
    let started = std::time::Instant::now();
    loop {
        let title = json(app.get(&path, None).await).await["title"].clone();
        if title == "Changed elsewhere" {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "still {title} after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

const HOOK: &str = "/api/v1/payments/toss/webhook";

fn hook_body(order_id: &str) -> Value {
    json!({"eventType": "PAYMENT_STATUS_CHANGED", "data": {"orderId": order_id, "status": "DONE"}})
}

/// `(xmin, reconcile_after)` of a payment row: `xmin` changes with every write.
async fn payment_row(
    app: &TestApp,
    order_id: &str,
) -> (String, Option<chrono::DateTime<chrono::Utc>>) {
    sqlx::query_as("SELECT xmin::text, reconcile_after FROM payments WHERE order_id = $1")
        .bind(order_id)
        .fetch_one(app.db())
        .await
        .expect("payment")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_answer_alike_write_only_when_needed_and_respect_leases() {
    let mut config = FakeConfig::for_tests();
    config.webhook_url = Some("http://127.0.0.1:9/unused".into());
    config.auto_deliver_webhooks = false;
    let env = spawn_env_with(config, &[]).await;
    let app = &env.app;
    let event = create_event(app, EventSpec::on_sale(app).standing("GA", 30_000, 10)).await;
    let fan = create_fans(app, 1).await.remove(0);
    let held = hold_standing(app, &fan, event.id, event.ticket_types[0], 1).await;
    pay(&env, &fan, &held).await;
    let (settled_xmin, after) = payment_row(app, &held.order_id).await;
    assert_eq!(after, None, "a paid order is settled");

    // The same answer for our order, an order id of ours that has no payment, an
    // unknown one, and no order at all.
    let unknown = format!("ord_{}", Uuid::new_v4().simple());
    let mut answers = Vec::new();
    for body in [
        hook_body(&held.order_id),
        hook_body(&unknown),
        hook_body("someone-elses-order"),
        json!({"eventType": "PING"}),
    ] {
        let res = app.post(HOOK, &body, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let ct = res.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .to_owned();
        answers.push((ct, res.bytes().await.expect("body")));
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");

    // The first webhook made the order due; further ones write nothing.
    let (due_xmin, after) = payment_row(app, &held.order_id).await;
    assert_ne!(due_xmin, settled_xmin);
    assert!(
        after.is_some_and(|t| t <= app.state.clock.now()),
        "due: {after:?}"
    );
    for _ in 0..3 {
        app.post(HOOK, &hook_body(&held.order_id), None).await;
    }
    assert_eq!(payment_row(app, &held.order_id).await.0, due_xmin);

    // A reconciler run (replica A) leases it; a webhook meanwhile changes nothing, and
    // another run (replica B) does not get the order while the lease lasts.
    let lease = Duration::seconds(60);
    let (leased, until) = payments::lease_due(&app.state, 50, lease)
        .await
        .expect("lease");
    assert_eq!(leased.len(), 1);
    let (leased_xmin, leased_after) = payment_row(app, &held.order_id).await;
    let soon = app.state.clock.now() + lease - Duration::seconds(5);
    assert!(
        leased_after.is_some_and(|t| t > soon),
        "leased: {leased_after:?}"
    );
    app.state.clock.advance(Duration::seconds(5));
    let res = app.post(HOOK, &hook_body(&held.order_id), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        payment_row(app, &held.order_id).await,
        (leased_xmin, leased_after),
        "no write under a live lease"
    );
    let (second, _) = payments::lease_due(&app.state, 50, lease)
        .await
        .expect("lease");
    assert!(second.is_empty(), "the lease holds: {second:?}");

    // Replica A finishes the order and lets go; a webhook may then make it due again.
    let outcome = payments::reconcile_order(&app.state, &leased[0])
        .await
        .expect("reconcile");
    assert_eq!(outcome, payments::ReconcileOutcome::Settled);
    payments::release_lease(&app.state, &held.order_id, until)
        .await
        .expect("release");
    app.post(HOOK, &hook_body(&held.order_id), None).await;
    let (_, after) = payment_row(app, &held.order_id).await;
    assert!(
        after.is_some_and(|t| t <= app.state.clock.now()),
        "due: {after:?}"
    );
    let stats = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(stats.examined, 1);
    let leased_until: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT leased_until FROM payments WHERE order_id = $1")
            .bind(&held.order_id)
            .fetch_one(app.db())
            .await
            .expect("payment");
    assert_eq!(leased_until, None, "a run releases its leases");
}

/// The secret this test's "edge" attests client IPs with (`URR_EDGE_PROXY_SECRETS`).
const EDGE_PROXY_SECRET: &[u8] = b"hardening-edge-proxy-secret-32b!";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_are_rate_limited_per_client_and_in_total() {
    use base64::Engine;
    let secrets = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(EDGE_PROXY_SECRET);
    let app = TestApp::spawn_with(&[
        ("URR_WEBHOOK_PER_IP_PER_MIN", "5"),
        ("URR_WEBHOOK_GLOBAL_PER_MIN", "8"),
        ("URR_EDGE_PROXY_SECRETS", &secrets),
    ])
    .await;
    // As the edge forwards them: the client IP attested in `urr-client-ip`.
    let from = |ip: &'static str| {
        let attested =
            shared_wasm::client_ip::attest(EDGE_PROXY_SECRET, ip, app.state.clock.unix());
        app.request(reqwest::Method::POST, HOOK, None)
            .header(shared_wasm::client_ip::HEADER, attested)
            .json(&json!({"eventType": "PAYMENT_STATUS_CHANGED", "data": {}}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(
            from("203.0.113.7").await.expect("send").status(),
            StatusCode::OK
        );
    }
    let res = from("203.0.113.7").await.expect("send");
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    // 5 a minute: a token comes back every 12 s.
    assert!((1..=12).contains(&retry), "Retry-After {retry}");
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;

    // Another client is not held back by the first, until everyone together is.
    for _ in 0..3 {
        assert_eq!(
            from("198.51.100.1").await.expect("send").status(),
            StatusCode::OK
        );
    }
    let res = from("198.51.100.1").await.expect("send");
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;

    // Time refills the buckets.
    app.state.clock.advance(Duration::seconds(60));
    assert_eq!(
        from("203.0.113.7").await.expect("send").status(),
        StatusCode::OK
    );
    assert_eq!(
        from("198.51.100.1").await.expect("send").status(),
        StatusCode::OK
    );

    // Malformed bodies count too (the limit comes first) and stay problems.
    let res = app
        .post_raw(HOOK, Some("application/json"), "not json")
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "MALFORMED_JSON").await;
}
