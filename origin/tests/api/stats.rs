//! Statistics: the consumer's aggregates against the source tables (zero difference,
//! after a crash between read and acknowledge and a relay that publishes twice), the
//! queue's minutes, and the routes that show them.

use crate::client::{hold_seats, hold_standing, pay, pay_order, spawn_env};
use crate::fixtures::{
    EventSpec, create_artist, create_event, create_fans, give_artist, make_member,
};
use crate::helpers::{TestApp, assert_problem, json, random_key};
use crate::queue::{pass, put_rules, rules};
use axum::extract::Path;
use axum::routing::{post, put};
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_wasm::token::Role;
use shared_wasm::token::{self, KeySet, RulesClaims};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use urr_origin::outbox::{self, Consumer, Topic};
use urr_origin::{booking, payments, queue, stats};
use uuid::Uuid;

/// Every figure of `stats_event_minutes`, recomputed from the tables that own the
/// facts. Rows that are all zero are left out on both sides.
const EVENT_MINUTES_FROM_SOURCES: &str = "
WITH src (event_id, m, holds, held_tickets, expiries, cancellations, sales, tickets, revenue,
          refunds, refunded, tickets_refunded, listings, resales, resale_volume) AS (
  SELECT event_id, created_at, 1, ticket_count, 0, 0, 0, 0, 0::bigint, 0, 0::bigint, 0, 0, 0, 0::bigint
    FROM reservations
  UNION ALL SELECT event_id, closed_at, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM reservations WHERE status = 'expired'
  UNION ALL SELECT event_id, closed_at, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM reservations WHERE status IN ('cancelled', 'refunded')
  UNION ALL SELECT r.event_id, r.confirmed_at, 0, 0, 0, 0, 1, r.ticket_count, p.amount, 0, 0, 0, 0, 0, 0
    FROM reservations r JOIN payments p ON p.reservation_id = r.id WHERE r.confirmed_at IS NOT NULL
  UNION ALL SELECT r.event_id, f.completed_at, 0, 0, 0, 0, 0, 0, 0, 1, f.amount, 0, 0, 0, 0
    FROM refunds f JOIN payments p ON p.order_id = f.order_id JOIN reservations r ON r.id = p.reservation_id
    WHERE f.status = 'completed' AND p.kind = 'reservation'
  UNION ALL SELECT event_id, voided_at, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0
    FROM tickets WHERE void_reason = 'refunded' AND order_id LIKE 'ord\\_%'
  UNION ALL SELECT event_id, created_at, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0
    FROM transfer_listings
  UNION ALL SELECT l.event_id, rp.paid_at, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, l.price
    FROM resale_purchases rp JOIN transfer_listings l ON l.id = rp.listing_id WHERE rp.status = 'paid'
)
SELECT event_id, date_trunc('minute', m) AS minute,
       sum(holds)::bigint, sum(held_tickets)::bigint, sum(expiries)::bigint, sum(cancellations)::bigint,
       sum(sales)::bigint, sum(tickets)::bigint, sum(revenue)::bigint, sum(refunds)::bigint,
       sum(refunded)::bigint, sum(tickets_refunded)::bigint, sum(listings)::bigint,
       sum(resales)::bigint, sum(resale_volume)::bigint
FROM src GROUP BY 1, 2";

const EVENT_MINUTES_AGGREGATED: &str = "
SELECT event_id, minute, holds::bigint, held_tickets::bigint, expiries::bigint,
       cancellations::bigint, sales::bigint, tickets::bigint, revenue, refunds::bigint, refunded,
       tickets_refunded::bigint, listings::bigint, resales::bigint, resale_volume
FROM stats_event_minutes";

/// Every figure of `stats_days`, from the sources, by Korean day.
const DAYS_FROM_SOURCES: &str = "
WITH src (t, holds, expiries, cancellations, sales, tickets, revenue, refunds, refunded,
          memberships_joined, memberships_renewed, memberships_expired, membership_revenue,
          listings, resales, resale_volume, resale_fees, resale_refunds, resale_refunded,
          new_users) AS (
  SELECT created_at, 1, 0, 0, 0, 0, 0::bigint, 0, 0::bigint, 0, 0, 0, 0::bigint, 0, 0, 0::bigint,
         0::bigint, 0, 0::bigint, 0 FROM reservations
  UNION ALL SELECT closed_at, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM reservations WHERE status = 'expired'
  UNION ALL SELECT closed_at, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM reservations WHERE status IN ('cancelled', 'refunded')
  UNION ALL SELECT r.confirmed_at, 0, 0, 0, 1, r.ticket_count, p.amount, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM reservations r JOIN payments p ON p.reservation_id = r.id WHERE r.confirmed_at IS NOT NULL
  UNION ALL SELECT f.completed_at, 0, 0, 0, 0, 0, 0, 1, f.amount, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
    FROM refunds f JOIN payments p ON p.order_id = f.order_id
    WHERE f.status = 'completed' AND p.kind = 'reservation'
  UNION ALL SELECT o.paid_at, 0, 0, 0, 0, 0, 0, 0, 0,
         CASE WHEN o.renewal THEN 0 ELSE 1 END, CASE WHEN o.renewal THEN 1 ELSE 0 END, 0, o.amount,
         0, 0, 0, 0, 0, 0, 0
    FROM membership_orders o WHERE o.status = 'paid'
  UNION ALL SELECT updated_at, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0
    FROM memberships WHERE status = 'expired'
  UNION ALL SELECT created_at, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0
    FROM transfer_listings
  UNION ALL SELECT rp.paid_at, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, l.price, l.fee, 0, 0, 0
    FROM resale_purchases rp JOIN transfer_listings l ON l.id = rp.listing_id WHERE rp.status = 'paid'
  UNION ALL SELECT f.completed_at, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, f.amount, 0
    FROM refunds f JOIN payments p ON p.order_id = f.order_id
    WHERE f.status = 'completed' AND p.kind = 'resale'
  UNION ALL SELECT created_at, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 FROM users
)
SELECT (t AT TIME ZONE 'Asia/Seoul')::date AS day,
       sum(holds)::bigint, sum(expiries)::bigint, sum(cancellations)::bigint, sum(sales)::bigint,
       sum(tickets)::bigint, sum(revenue)::bigint, sum(refunds)::bigint, sum(refunded)::bigint,
       sum(memberships_joined)::bigint, sum(memberships_renewed)::bigint,
       sum(memberships_expired)::bigint, sum(membership_revenue)::bigint, sum(listings)::bigint,
       sum(resales)::bigint, sum(resale_volume)::bigint, sum(resale_fees)::bigint,
       sum(resale_refunds)::bigint, sum(resale_refunded)::bigint, sum(new_users)::bigint
FROM src GROUP BY 1";

const DAYS_AGGREGATED: &str = "
SELECT day, holds::bigint, expiries::bigint, cancellations::bigint, sales::bigint,
       tickets::bigint, revenue, refunds::bigint, refunded, memberships_joined::bigint,
       memberships_renewed::bigint, memberships_expired::bigint, membership_revenue,
       listings::bigint, resales::bigint, resale_volume, resale_fees, resale_refunds::bigint,
       resale_refunded, new_users::bigint
FROM stats_days";

/// Rows of `a` not in `b` and of `b` not in `a` (as text), ignoring all-zero rows.
async fn difference(app: &TestApp, a: &str, b: &str) -> Vec<String> {
    let sql = format!(
        "WITH a AS ({a}), b AS ({b}),
              d AS ((SELECT 'source' AS side, a.* FROM a EXCEPT ALL SELECT 'source', b.* FROM b)
                    UNION ALL
                    (SELECT 'stats', b.* FROM b EXCEPT ALL SELECT 'stats', a.* FROM a))
         SELECT d::text FROM d"
    );
    sqlx::query_scalar(&sql)
        .fetch_all(app.db())
        .await
        .expect("difference query")
}

/// Relays every unpublished outbox row to the streams.
async fn relay_all(app: &TestApp) -> usize {
    outbox::relay(&app.state).await.expect("relay")
}

/// The whole mixed sale, then the consumer crashing, then a clean recount.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_consumers_figures_equal_a_recount_from_the_source_tables() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let admin = app.create_user(Role::Admin).await;
    let artist = create_artist(app).await;
    let a = create_event(
        app,
        EventSpec::on_sale(app)
            .seats(12)
            .standing("Standing", 30_000, 20)
            .limit(10),
    )
    .await;
    sqlx::query("UPDATE events SET starts_at = $2, sale_closes_at = $2 WHERE id = $1")
        .bind(a.id)
        .bind(app.state.clock.now() + Duration::days(30))
        .execute(app.db())
        .await
        .expect("show in a month");
    give_artist(app, a.id, artist, Some([0, 0, 0, 0])).await;
    let b = create_event(
        app,
        EventSpec::on_sale(app).standing("GA", 20_000, 50).limit(10),
    )
    .await;
    let fans = create_fans(app, 10).await;
    let tt_a = a.ticket_types[0];
    let tt_b = b.ticket_types[0];

    // Minute 1: sales on both events; a membership.
    let mut paid = Vec::new();
    for (i, fan) in fans[..4].iter().enumerate() {
        let h = hold_seats(app, fan, a.id, &a.seats[i * 2..i * 2 + 2]).await;
        pay(&env, fan, &h).await;
        paid.push(h);
    }
    for fan in &fans[4..7] {
        let h = hold_standing(app, fan, b.id, tt_b, 2).await;
        pay(&env, fan, &h).await;
    }
    let joined = app
        .post(
            &format!("/api/v1/artists/{artist}/memberships"),
            &json!({}),
            Some(&fans[0].token),
        )
        .await;
    assert_eq!(joined.status(), StatusCode::CREATED);
    let order = json(joined).await["order"].clone();
    pay_order(&env, &fans[0], &order).await;

    // Minute 3: holds that lapse, a hold released, a paid order refunded by its fan.
    app.state.clock.advance(Duration::minutes(2));
    hold_standing(app, &fans[7], a.id, tt_a, 3).await;
    let released = hold_standing(app, &fans[8], b.id, tt_b, 1).await;
    let res = app.fan(&fans[8]).release(released.id).await;
    assert!(res.status().is_success(), "{}", res.status());
    let res = app.fan(&fans[1]).cancel(paid[1].id).await;
    assert_eq!(res.status(), StatusCode::OK);
    payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");

    // Minute 10: the holds lapse; a member resells a ticket to another fan.
    app.state.clock.advance(Duration::minutes(7));
    assert!(booking::sweep(&app.state).await.expect("sweep") >= 1);
    let ticket: Value = {
        let fan0 = app.refresh_token(fans[0].clone());
        let mine = json(app.get("/api/v1/me/tickets", Some(&fan0.token)).await).await;
        mine["items"][0].clone()
    };
    let fan0 = app.refresh_token(fans[0].clone());
    let listed = app
        .post(
            &format!(
                "/api/v1/tickets/{}/transfer-listing",
                ticket["id"].as_str().expect("ticket id")
            ),
            &json!({}),
            Some(&fan0.token),
        )
        .await;
    assert_eq!(
        listed.status(),
        StatusCode::CREATED,
        "{}",
        listed.text().await.unwrap_or_default()
    );
    let listing = json(listed).await;
    make_member(app, fans[9].id, artist, 0).await;
    let buyer = app.refresh_token(fans[9].clone());
    let bought = app
        .post(
            &format!(
                "/api/v1/transfer-listings/{}/purchase",
                listing["id"].as_str().expect("listing id")
            ),
            &json!({}),
            Some(&buyer.token),
        )
        .await;
    assert_eq!(
        bought.status(),
        StatusCode::CREATED,
        "{}",
        bought.text().await.unwrap_or_default()
    );
    let bought = json(bought).await;
    pay_order(&env, &buyer, &bought["order"]).await;

    // Minute 12: event B is cancelled: its paid orders are refunded in full.
    app.state.clock.advance(Duration::minutes(2));
    let admin = app.refresh_token(admin);
    let res = app
        .post(
            &format!("/api/v1/events/{}/cancel", b.id),
            &json!({}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");

    // Publish everything, then publish it all again (a relay that crashed after XADD).
    let published = relay_all(app).await;
    assert!(published > 20, "{published} events");
    sqlx::query("UPDATE outbox SET published_at = NULL")
        .execute(app.db())
        .await
        .expect("unpublish");
    assert_eq!(relay_all(app).await, published);

    // Member `a` reads a batch and dies before acknowledging: half of it applied and
    // committed (crash after the commit), the rest never applied (crash before it).
    let mut dying = Consumer::new(&app.state, stats::GROUP, "dying", &Topic::ALL);
    dying.min_idle = std::time::Duration::ZERO;
    dying.ensure_groups().await.expect("groups");
    let read = dying.read_new(40).await.expect("read");
    assert_eq!(read.len(), 2 * published, "every entry, twice");
    let mut applied_before_crash = 0;
    for d in &read[..read.len() / 2] {
        let outcome = dying
            .apply(d, &stats::Aggregate, app.state.clock.now())
            .await
            .expect("apply");
        if outcome == urr_origin::outbox::Applied::Done {
            applied_before_crash += 1;
        }
    }
    assert!((1..published).contains(&applied_before_crash));
    drop(dying);

    // Its successor takes the orphaned entries over and goes on.
    let mut next = Consumer::new(&app.state, stats::GROUP, "successor", &Topic::ALL);
    next.min_idle = std::time::Duration::ZERO;
    let done = stats::drain(&app.state, &next).await.expect("drain");
    assert_eq!(done.failed, 0);
    assert_eq!(done.applied, published - applied_before_crash, "{done:?}");
    assert_eq!(
        done.applied + done.duplicates,
        2 * published,
        "the second publication and the crashed member's applied part are skipped: {done:?}"
    );
    let again = stats::drain(&app.state, &next).await.expect("drain");
    assert_eq!(again.acked(), 0, "nothing left: {again:?}");
    let backlog = next.backlog().await.expect("backlog");
    assert_eq!((backlog.lag, backlog.pending), (0, 0));

    // Zero difference, per event and minute, and per day.
    let diff = difference(app, EVENT_MINUTES_FROM_SOURCES, EVENT_MINUTES_AGGREGATED).await;
    assert!(
        diff.is_empty(),
        "per-minute figures differ:\n{}",
        diff.join("\n")
    );
    let diff = difference(app, DAYS_FROM_SOURCES, DAYS_AGGREGATED).await;
    assert!(
        diff.is_empty(),
        "daily figures differ:\n{}",
        diff.join("\n")
    );

    // The scenario really produced every kind of figure (a recount of nothing would
    // also agree).
    let totals: (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT sum(sales), sum(refunds), sum(expiries), sum(cancellations), sum(resales),
                sum(memberships_joined) FROM stats_days",
    )
    .fetch_one(app.db())
    .await
    .expect("totals");
    assert_eq!(
        totals,
        (7, 4, 1, 5, 1, 1),
        "sales, refunds, expiries, cancellations, resales, members"
    );

    // The routes show the same figures.
    let res = app
        .get(
            &format!("/api/v1/events/{}/stats", a.id),
            Some(&admin.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let s = json(res).await;
    // Event A: 4 orders of 2 seats (₩50,000 each), one refunded in full (a month
    // before the show).
    assert_eq!(s["sales"], 4);
    assert_eq!(s["tickets_sold"], 6);
    assert_eq!(s["gross_revenue"], 400_000);
    assert_eq!(s["refunds"], 1);
    assert_eq!(s["refunded"], 100_000);
    assert_eq!(s["revenue"], 300_000);
    assert_eq!(
        (s["holds"].as_i64(), s["expiries"].as_i64()),
        (Some(5), Some(1))
    );
    assert_eq!(
        (s["resales"].as_i64(), s["holds_active"].as_i64()),
        (Some(1), Some(0))
    );
    assert!(s.get("queue").is_none(), "no line, no queue figures: {s}");
    let series = s["series"].as_array().expect("series");
    let sum = |f: &str| {
        series
            .iter()
            .map(|p| p[f].as_i64().unwrap_or(0))
            .sum::<i64>()
    };
    assert_eq!(
        (sum("sales"), sum("holds"), sum("revenue")),
        (4, 5, 400_000)
    );
    assert!(series.len() >= 2, "at least two minutes: {series:?}");
    assert!(series.iter().all(|p| p.get("queue_waiting").is_none()));

    let res = app.get("/api/v1/admin/stats", Some(&admin.token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let p = json(res).await;
    assert_eq!(p["totals"]["sales"], 7);
    // 10 fans, the admin, and the promoter each fixture event was made by.
    assert_eq!(p["totals"]["new_users"].as_i64(), Some(13));
}

/// An edge that acknowledges every rules push and answers room counters to the origin
/// only; remembers the newest rate it was pushed.
async fn counting_edge(origin_keys: KeySet) -> (String, Arc<AtomicI64>) {
    use axum::http::StatusCode as S;
    let rate = Arc::new(AtomicI64::new(-1));
    let (pushed, keys) = (rate.clone(), origin_keys.clone());
    let app = axum::Router::new()
        .route(
            "/__urr/rules/{event}",
            put(move |Path(event): Path<Uuid>, body: String| {
                let (pushed, keys) = (pushed.clone(), keys.clone());
                async move {
                    let now = chrono::Utc::now().timestamp();
                    match token::verify_for_event::<RulesClaims>(&keys, &body, event, now) {
                        Ok(c) => {
                            let r = i64::from(c.rules.new_users_per_minute);
                            pushed.store(r, Ordering::SeqCst);
                            (S::OK, format!("{{\"version\":{}}}", c.rules.version))
                        }
                        Err(e) => (S::FORBIDDEN, e.to_string()),
                    }
                }
            }),
        )
        .route(
            "/__urr/stats/{event}",
            post(move |Path(event): Path<Uuid>, body: String| {
                let keys = origin_keys.clone();
                async move {
                    let now = chrono::Utc::now().timestamp();
                    match token::verify_for_event::<RulesClaims>(&keys, &body, event, now) {
                        Ok(c) if c.draw_seed.is_none() => (
                            S::OK,
                            json!({"issued": 42, "serving": 40, "version": c.rules.version})
                                .to_string(),
                        ),
                        Ok(_) => (S::BAD_REQUEST, "the seed must not travel".to_owned()),
                        Err(e) => (S::FORBIDDEN, e.to_string()),
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), rate)
}

/// The first `event: stats` frame of a live stream.
async fn first_frame(mut res: reqwest::Response) -> Value {
    let mut text = String::new();
    while let Some(chunk) = res.chunk().await.expect("chunk") {
        text.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(start) = text.find("event: stats\ndata: ") {
            let rest = &text[start + "event: stats\ndata: ".len()..];
            if let Some(end) = rest.find('\n') {
                return serde_json::from_str(&rest[..end]).expect("frame json");
            }
        }
    }
    panic!("the stream ended without a frame: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_line_counts_its_minutes_and_its_promoter_pauses_resumes_and_retunes_it() {
    let (origin_key, origin_spec) = random_key("origin-test");
    let (edge_url, pushed_rate) =
        counting_edge(KeySet::new([origin_key.public_key()]).expect("keys")).await;
    let app = TestApp::spawn_with(&[
        ("URR_ORIGIN_SIGNING_KEY", &origin_spec),
        ("URR_EDGE_URLS", &edge_url),
        ("URR_STATS_LIVE_MS", "100"),
    ])
    .await;
    let admin = app.create_user(Role::Admin).await;
    let other = app.create_user(Role::Promoter).await;
    let ev = create_event(&app, EventSpec::on_sale(&app).seats(4)).await;
    put_rules(&app, &admin, &rules(&app, ev.id, 1, 1), true).await;
    let fans = create_fans(&app, 4).await;
    let leave = |i: usize| {
        let (app, fan) = (&app, &fans[i]);
        async move {
            let res = app
                .post(
                    &format!("/api/v1/events/{}/queue/leave", ev.id),
                    &json!({}),
                    Some(&fan.token),
                )
                .await;
            assert_eq!(res.status(), StatusCode::NO_CONTENT);
        }
    };

    // Three join: the first is admitted at once, two wait; the third gives up; the
    // first finishes and the tick admits the second.
    for (i, fan) in fans[..3].iter().enumerate() {
        let res = app
            .fan(fan)
            .join(ev.id, Some(&pass(&app, ev.id, i as u64 + 1)))
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    leave(2).await;
    leave(0).await;
    let ticks = queue::tick_all(&app.state).await.expect("tick");
    assert_eq!(ticks[0].1.admitted.len(), 1);

    // Copied twice: the same minute.
    assert_eq!(
        stats::copy_queue_event(&app.state, ev.id)
            .await
            .expect("copy"),
        1
    );
    stats::copy_queue_event(&app.state, ev.id)
        .await
        .expect("copy again");
    let row: (i32, i32, i32, i32, i32, Vec<i32>) = sqlx::query_as(
        "SELECT joined, admitted, abandoned, waiting_peak, active_peak, wait_buckets
         FROM stats_queue_minutes WHERE event_id = $1",
    )
    .bind(ev.id)
    .fetch_one(app.db())
    .await
    .expect("one minute");
    assert_eq!((row.0, row.1, row.2, row.3, row.4), (3, 2, 1, 2, 1));
    assert_eq!(
        row.5.iter().sum::<i32>(),
        2,
        "every admission has a wait bucket"
    );

    // The live view: the edge's counters, tier 2, the minute.
    let path = format!("/api/v1/events/{}/queue/stats", ev.id);
    let res = app.get(&path, Some(&admin.token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let room = json(res).await;
    assert_eq!(room["edges"][0]["joined"], 42);
    assert_eq!(room["edges"][0]["served"], 40);
    assert_eq!(
        (room["waiting"].as_u64(), room["active"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(room["minutes"][0]["joined"], 3);
    assert_eq!(room["paused"], false);
    assert_problem(
        app.get(&path, Some(&other.token)).await,
        StatusCode::FORBIDDEN,
        "NOT_EVENT_OWNER",
    )
    .await;
    assert_problem(
        app.get(&path, Some(&fans[3].token)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;

    // Pause: a new rules version with rate 0 reaches the edge; a free slot stays free.
    let control = |what: &str| format!("/api/v1/events/{}/queue/{what}", ev.id);
    leave(1).await;
    let res = app
        .post(&control("pause"), &json!({}), Some(&admin.token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v = json(res).await;
    assert_eq!(
        (v["version"].as_i64(), v["delivered"].as_bool()),
        (Some(2), Some(true))
    );
    assert_eq!(pushed_rate.load(Ordering::SeqCst), 0);
    assert_problem(
        app.post(&control("pause"), &json!({}), Some(&admin.token))
            .await,
        StatusCode::CONFLICT,
        "ROOM_PAUSED",
    )
    .await;
    let res = app
        .fan(&fans[3])
        .join(ev.id, Some(&pass(&app, ev.id, 4)))
        .await;
    assert_eq!(
        json(res).await["state"],
        "waiting",
        "paused: no admission at once"
    );
    app.state.clock.advance(Duration::seconds(2));
    let ticks = queue::tick_all(&app.state).await.expect("tick");
    assert!(
        ticks.iter().all(|(_, t)| t.admitted.is_empty()),
        "paused: the tick admits nobody"
    );
    let room = json(app.get(&path, Some(&admin.token)).await).await;
    assert_eq!(
        (room["paused"].as_bool(), room["paused_rate"].as_u64()),
        (Some(true), Some(600))
    );

    // Resume: the old rate is back and the waiting fan gets the slot.
    let res = app
        .post(&control("resume"), &json!({}), Some(&admin.token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(pushed_rate.load(Ordering::SeqCst), 600);
    assert_problem(
        app.post(&control("resume"), &json!({}), Some(&admin.token))
            .await,
        StatusCode::CONFLICT,
        "ROOM_NOT_PAUSED",
    )
    .await;
    app.state.clock.advance(Duration::seconds(2));
    let ticks = queue::tick_all(&app.state).await.expect("tick");
    assert_eq!(ticks[0].1.admitted.len(), 1);

    // A new rate; bad rates change nothing.
    let rate = control("rate");
    for (body, status) in [
        (
            json!({"new_users_per_minute": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"new_users_per_minute": -5}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            json!({"new_users_per_minute": "fast"}),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (json!({"rate": 100}), StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let res = app.put(&rate, &body, Some(&admin.token)).await;
        assert_eq!(res.status(), status, "{body}");
    }
    let res = app
        .put(
            &rate,
            &json!({"new_users_per_minute": 1200}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["rules"]["new_users_per_minute"], 1200);
    assert_eq!(pushed_rate.load(Ordering::SeqCst), 1200);

    // Each control left its audit entry.
    let actions: Vec<String> = sqlx::query_scalar(
        "SELECT action FROM audit_log WHERE resource_id = $1 ORDER BY created_at, id",
    )
    .bind(ev.id.to_string())
    .fetch_all(app.db())
    .await
    .expect("audit");
    assert_eq!(
        actions,
        [
            "event.rules_changed",
            "event.room_paused",
            "event.room_resumed",
            "event.room_rate_changed"
        ]
    );

    // The event's figures carry the queue, and the live stream its line.
    stats::copy_queue_event(&app.state, ev.id)
        .await
        .expect("copy");
    let s = json(
        app.get(
            &format!("/api/v1/events/{}/stats", ev.id),
            Some(&admin.token),
        )
        .await,
    )
    .await;
    assert_eq!(s["queue"]["joined"], 4);
    assert_eq!(s["queue"]["admitted"], 3);
    assert_eq!(s["queue"]["abandoned"], 1);
    assert!(s["queue"]["wait_p50_secs"].as_u64().is_some(), "{s}");
    assert_eq!(s["series"][0]["queue_joined"], 4);
    assert_problem(
        app.get(
            &format!(
                "/api/v1/events/{}/stats?from=2026-12-05T10:00:00Z&to=2026-12-05T09:00:00Z",
                ev.id
            ),
            Some(&admin.token),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY",
    )
    .await;
    assert_problem(
        app.get(
            &format!("/api/v1/events/{}/stats", ev.id),
            Some(&other.token),
        )
        .await,
        StatusCode::FORBIDDEN,
        "NOT_EVENT_OWNER",
    )
    .await;
    assert_problem(
        app.get("/api/v1/admin/stats?from=someday", Some(&admin.token))
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY",
    )
    .await;
    let live = app
        .get(
            &format!("/api/v1/events/{}/stats/live", ev.id),
            Some(&admin.token),
        )
        .await;
    assert_eq!(live.status(), StatusCode::OK);
    assert!(
        live.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"))
    );
    let frame = first_frame(live).await;
    assert_eq!(
        (frame["waiting"].as_u64(), frame["active"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(frame["available"], 4);
}

/// A flushed Redis takes the streams and the `stats` group with it; the consumer must
/// recognise Redis's answer and create them again instead of failing forever.
#[tokio::test]
async fn a_lost_consumer_group_is_recognised() {
    let client = redis::Client::open(crate::helpers::redis_url()).expect("redis url");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("redis");
    let missing = format!("stats-test:{}:stream", uuid::Uuid::new_v4().simple());
    let err: redis::RedisError = redis::cmd("XREADGROUP")
        .arg("GROUP")
        .arg("stats")
        .arg("me")
        .arg("STREAMS")
        .arg(&missing)
        .arg(">")
        .query_async::<redis::Value>(&mut conn)
        .await
        .expect_err("no such stream or group");
    let wrapped = anyhow::Error::new(err).context("polling the stats consumer");
    assert!(urr_origin::stats::groups_missing(&wrapped));
    let other = anyhow::anyhow!("NOGROUP mentioned in some other failure");
    assert!(!urr_origin::stats::groups_missing(&other));
}
