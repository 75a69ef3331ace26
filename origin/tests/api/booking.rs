//! Booking: real concurrency against the real Postgres and Redis.

use crate::fixtures::{EventSpec, create_event, create_fans};
use crate::helpers::{TestApp, TestUser, assert_problem, json};
use chrono::Duration;
use futures::future::join_all;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use urr_origin::booking;
use uuid::Uuid;

fn reserve_path(event: Uuid) -> String {
    format!("/api/v1/events/{event}/reservations")
}

async fn reserve_seats(
    app: &TestApp,
    user: &TestUser,
    event: Uuid,
    seats: &[Uuid],
) -> reqwest::Response {
    app.post(
        &reserve_path(event),
        &json!({ "seat_ids": seats }),
        Some(&user.token),
    )
    .await
}

async fn reserve_items(
    app: &TestApp,
    user: &TestUser,
    event: Uuid,
    tt: Uuid,
    qty: i64,
) -> reqwest::Response {
    app.post(
        &reserve_path(event),
        &json!({ "items": [{ "ticket_type_id": tt, "quantity": qty }] }),
        Some(&user.token),
    )
    .await
}

/// Seats that appear in more than one live item: must always be empty.
async fn double_booked(app: &TestApp, event: Uuid) -> Vec<Uuid> {
    sqlx::query_scalar(
        "SELECT seat_id FROM reservation_items WHERE event_id = $1 AND live AND seat_id IS NOT NULL
         GROUP BY seat_id HAVING count(*) > 1",
    )
    .bind(event)
    .fetch_all(app.db())
    .await
    .expect("query")
}

async fn live_seat_owner(app: &TestApp, event: Uuid) -> HashMap<Uuid, Uuid> {
    let rows: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT i.seat_id, r.user_id FROM reservation_items i JOIN reservations r ON r.id = i.reservation_id
         WHERE i.event_id = $1 AND i.live AND i.seat_id IS NOT NULL",
    )
    .bind(event)
    .fetch_all(app.db())
    .await
    .expect("query");
    rows.into_iter().collect()
}

async fn available(app: &TestApp, tt: Uuid) -> i32 {
    sqlx::query_scalar("SELECT available_quantity FROM ticket_types WHERE id = $1")
        .bind(tt)
        .fetch_one(app.db())
        .await
        .expect("query")
}

/// Tickets of type `tt` in live (pending or confirmed) reservations.
async fn live_quantity(app: &TestApp, tt: Uuid) -> i64 {
    sqlx::query_scalar("SELECT COALESCE(sum(quantity), 0)::bigint FROM reservation_items WHERE ticket_type_id = $1 AND live")
        .bind(tt)
        .fetch_one(app.db())
        .await
        .expect("query")
}

async fn reservation_count(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM reservations")
        .fetch_one(app.db())
        .await
        .expect("query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_seat_a_thousand_buyers_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let event = create_event(&app, EventSpec::on_sale(&app).seats(10)).await;
    let fans = create_fans(&app, 1000).await;
    let seat = event.seats[3];

    let results = join_all(fans.iter().map(|f| {
        let app = &app;
        async move { reserve_seats(app, f, event.id, &[seat]).await.status() }
    }))
    .await;

    let created = results
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count();
    let conflicts = results
        .iter()
        .filter(|s| **s == StatusCode::CONFLICT)
        .count();
    assert_eq!(created, 1, "statuses: {results:?}");
    assert_eq!(conflicts, 999);
    let live: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reservation_items WHERE seat_id = $1 AND live")
            .bind(seat)
            .fetch_one(app.db())
            .await
            .expect("query");
    assert_eq!(live, 1);
    assert_eq!(reservation_count(&app).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_multi_seat_races_are_all_or_nothing_on_the_stadium() {
    let app = TestApp::spawn().await;
    let event = create_event(&app, EventSpec::on_sale(&app).seats(4900)).await;
    let fans = create_fans(&app, 200).await;
    // Everyone wants 2-4 seats among the first 120: heavy overlap.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let hot: Vec<Uuid> = event.seats[..120].to_vec();
    let wants: Vec<Vec<Uuid>> = (0..fans.len())
        .map(|_| {
            let n = rng.gen_range(2..=4);
            hot.choose_multiple(&mut rng, n).copied().collect()
        })
        .collect();

    let results = join_all(fans.iter().zip(&wants).map(|(f, w)| {
        let app = &app;
        async move {
            let res = reserve_seats(app, f, event.id, w).await;
            (res.status(), json(res).await)
        }
    }))
    .await;

    assert!(double_booked(&app, event.id).await.is_empty());
    let owners = live_seat_owner(&app, event.id).await;
    let mut won = 0;
    for ((status, body), (fan, want)) in results.iter().zip(fans.iter().zip(&wants)) {
        match *status {
            StatusCode::CREATED => {
                won += 1;
                let got: HashSet<Uuid> = body["items"]
                    .as_array()
                    .expect("items")
                    .iter()
                    .map(|i| i["seat_id"].as_str().expect("seat").parse().expect("uuid"))
                    .collect();
                assert_eq!(got, want.iter().copied().collect::<HashSet<_>>());
                for s in want {
                    assert_eq!(
                        owners.get(s),
                        Some(&fan.id),
                        "winner owns every seat it asked for"
                    );
                }
            }
            StatusCode::CONFLICT => {
                assert_eq!(body["code"], "SEAT_UNAVAILABLE");
                assert!(!body["seats"].as_array().expect("seats").is_empty());
                assert!(
                    owners.values().all(|u| *u != fan.id),
                    "a refused request holds nothing"
                );
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(won > 0);
    assert_eq!(
        owners.len(),
        results
            .iter()
            .filter(|(s, _)| *s == StatusCode::CREATED)
            .map(|(_, b)| b["items"].as_array().map(Vec::len).unwrap_or(0))
            .sum::<usize>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standing_stock_of_100_sells_exactly_100_and_always_adds_up() {
    let app = TestApp::spawn().await;
    let event = create_event(
        &app,
        EventSpec::on_sale(&app).standing("스탠딩 일반", 88_000, 100),
    )
    .await;
    let tt = event.ticket_types[0];
    let fans = create_fans(&app, 1000).await;

    let results = join_all(fans.iter().map(|f| {
        let app = &app;
        async move {
            let res = reserve_items(app, f, event.id, tt, 1).await;
            (res.status(), json(res).await)
        }
    }))
    .await;
    let winners: Vec<Uuid> = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .map(|(_, b)| b["id"].as_str().expect("id").parse().expect("uuid"))
        .collect();
    assert_eq!(winners.len(), 100);
    for (s, b) in &results {
        if *s != StatusCode::CREATED {
            assert_eq!(*s, StatusCode::CONFLICT, "{b}");
            assert_eq!(b["code"], "SOLD_OUT");
        }
    }
    assert_eq!(available(&app, tt).await, 0);
    assert_eq!(live_quantity(&app, tt).await, 100);

    // Cancel 30 of them concurrently.
    let owners: HashMap<Uuid, &TestUser> = results
        .iter()
        .zip(&fans)
        .filter(|((s, _), _)| *s == StatusCode::CREATED)
        .map(|((_, b), f)| (b["id"].as_str().expect("id").parse().expect("uuid"), f))
        .collect();
    join_all(winners[..30].iter().map(|id| {
        let app = &app;
        let token = owners[id].token.clone();
        async move {
            let res = app
                .delete(&format!("/api/v1/reservations/{id}"), Some(&token))
                .await;
            assert_eq!(res.status(), StatusCode::OK);
        }
    }))
    .await;
    assert_eq!(available(&app, tt).await, 30);
    assert_eq!(
        i64::from(available(&app, tt).await) + live_quantity(&app, tt).await,
        100
    );

    // Let the other 70 lapse while the sweeper races more cancels.
    app.state.clock.advance(Duration::minutes(6));
    let sweeps = (0..4).map(|_| {
        let state = app.state.clone();
        tokio::spawn(async move { booking::sweep(&state).await.expect("sweep") })
    });
    let cancels = winners[30..60].iter().map(|id| {
        let app = &app;
        let token = owners[id].token.clone();
        async move {
            let s = app
                .delete(&format!("/api/v1/reservations/{id}"), Some(&token))
                .await
                .status();
            assert!(s == StatusCode::OK || s == StatusCode::CONFLICT, "{s}");
        }
    });
    let (_, swept) = tokio::join!(join_all(cancels), join_all(sweeps));
    assert!(swept.into_iter().all(|r| r.is_ok()));
    booking::sweep(&app.state).await.expect("final sweep");

    assert_eq!(
        available(&app, tt).await,
        100,
        "every ticket came back exactly once"
    );
    assert_eq!(live_quantity(&app, tt).await, 0);
    let statuses: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM reservations GROUP BY status ORDER BY status")
            .fetch_all(app.db())
            .await
            .expect("query");
    let total: i64 = statuses.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 100, "{statuses:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_user_double_submit_keeps_one_hold() {
    let app = TestApp::spawn().await;
    let event = create_event(&app, EventSpec::on_sale(&app).seats(10)).await;
    let fan = create_fans(&app, 1).await.remove(0);
    let seats = &event.seats[..2];

    // With the same key, ten times at once: one reservation, every answer names it.
    let results = join_all((0..10).map(|_| {
        let app = &app;
        let fan = &fan;
        async move {
            let res = app
                .fan(fan)
                .reserve_with_key(event.id, "double-click-1", &json!({ "seat_ids": seats }))
                .await;
            (res.status(), json(res).await)
        }
    }))
    .await;
    let ids: HashSet<String> = results
        .iter()
        .map(|(s, b)| {
            assert_eq!(*s, StatusCode::CREATED, "{b}");
            b["id"].as_str().expect("id").to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1);
    assert_eq!(reservation_count(&app).await, 1);

    // Without a key: the second identical submit returns the same hold, extended.
    let first: Value = results[0].1.clone();
    app.state.clock.advance(Duration::minutes(2));
    let res = reserve_seats(&app, &fan, event.id, seats).await;
    assert_eq!(res.status(), StatusCode::OK);
    let again = json(res).await;
    assert_eq!(again["id"], first["id"]);
    assert!(again["expires_at"].as_str() > first["expires_at"].as_str());
    assert_eq!(reservation_count(&app).await, 1);
    // The hold is intact: another fan cannot take those seats.
    let other = create_fans(&app, 1).await.remove(0);
    let res = reserve_seats(&app, &other, event.id, &seats[..1]).await;
    assert_problem(res, StatusCode::CONFLICT, "SEAT_UNAVAILABLE").await;

    // The same key with a different body is refused and changes nothing.
    let res = app
        .fan(&fan)
        .reserve_with_key(
            event.id,
            "double-click-1",
            &json!({ "seat_ids": [event.seats[5]] }),
        )
        .await;
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IDEMPOTENCY_KEY_REUSED",
    )
    .await;
    assert_eq!(reservation_count(&app).await, 1);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_user() {
    let app = TestApp::spawn().await;
    let event = create_event(&app, EventSpec::on_sale(&app).seats(10)).await;
    let fans = create_fans(&app, 2).await;
    let body = |seat: Uuid| json!({ "seat_ids": [seat] });
    let (first, second) = (app.fan(&fans[0]), app.fan(&fans[1]));
    let a = json(
        first
            .reserve_with_key(event.id, "same-key", &body(event.seats[0]))
            .await,
    )
    .await;
    let res = second
        .reserve_with_key(event.id, "same-key", &body(event.seats[1]))
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let b = json(res).await;
    assert_ne!(a["id"], b["id"]);
    assert_eq!(b["user_id"], fans[1].id.to_string());
}

#[tokio::test]
async fn a_retry_with_the_same_key_replays_even_once_sold_out() {
    let app = TestApp::spawn().await;
    let event = create_event(
        &app,
        EventSpec::on_sale(&app).standing("스탠딩 일반", 88_000, 2),
    )
    .await;
    let fan = create_fans(&app, 1).await.remove(0);
    let body = json!({ "items": [{ "ticket_type_id": event.ticket_types[0], "quantity": 2 }] });
    let first = app
        .fan(&fan)
        .reserve_with_key(event.id, "last-two", &body)
        .await;
    assert_eq!(first.status(), StatusCode::CREATED);
    let first = json(first).await;
    // The last tickets are gone (to this very request); its retry still gets its answer.
    let again = app
        .fan(&fan)
        .reserve_with_key(event.id, "last-two", &body)
        .await;
    assert_eq!(again.status(), StatusCode::CREATED);
    let again = json(again).await;
    assert_eq!(again["id"], first["id"]);
    assert_eq!(reservation_count(&app).await, 1);
    // A new key is a new request, and there is nothing left for it.
    let other = app
        .fan(&fan)
        .reserve_with_key(event.id, "another", &body)
        .await;
    assert_problem(other, StatusCode::CONFLICT, "SOLD_OUT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_per_user_limit_holds_under_concurrency() {
    let app = TestApp::spawn().await;
    let event = create_event(&app, EventSpec::on_sale(&app).seats(20).limit(4)).await;
    let fan = create_fans(&app, 1).await.remove(0);
    let results = join_all(event.seats[..10].iter().map(|s| {
        let app = &app;
        let fan = &fan;
        async move {
            let res = reserve_seats(app, fan, event.id, &[*s]).await;
            (res.status(), json(res).await)
        }
    }))
    .await;
    let ok = results
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    assert_eq!(ok, 4, "{results:?}");
    for (s, b) in results.iter().filter(|(s, _)| *s != StatusCode::CREATED) {
        assert_eq!(*s, StatusCode::CONFLICT);
        assert_eq!(b["code"], "TICKET_LIMIT_EXCEEDED");
    }
    // Five at once is refused outright.
    let other = create_fans(&app, 1).await.remove(0);
    let res = reserve_seats(&app, &other, event.id, &event.seats[10..15]).await;
    assert_problem(res, StatusCode::CONFLICT, "TICKET_LIMIT_EXCEEDED").await;
    // Cancelling frees the user's allowance.
    let first = results
        .iter()
        .find(|(s, _)| *s == StatusCode::CREATED)
        .expect("a winner");
    let id = first.1["id"].as_str().expect("id");
    app.fan(&fan).release(id).await;
    let res = reserve_seats(&app, &fan, event.id, &[event.seats[19]]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn expired_holds_are_swept_and_the_seat_is_bookable_again() {
    let app = TestApp::spawn().await;
    let event = create_event(&app, EventSpec::on_sale(&app).seats(5)).await;
    let fans = create_fans(&app, 2).await;
    let res = reserve_seats(&app, &fans[0], event.id, &event.seats[..1]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let held = json(res).await;

    // Not yet due: nothing happens.
    assert_eq!(booking::sweep(&app.state).await.expect("sweep"), 0);
    assert_problem(
        reserve_seats(&app, &fans[1], event.id, &event.seats[..1]).await,
        StatusCode::CONFLICT,
        "SEAT_UNAVAILABLE",
    )
    .await;

    app.state.clock.advance(Duration::seconds(301));
    assert_eq!(booking::sweep(&app.state).await.expect("sweep"), 1);
    let id = held["id"].as_str().expect("id");
    let after = json(app.fan(&fans[0]).reservation(id).await).await;
    assert_eq!(after["status"], "expired");
    assert_eq!(after["close_reason"], "hold_expired");
    // The Redis hold went with it (compare-and-delete), so the next buyer gets the seat.
    let res = reserve_seats(&app, &fans[1], event.id, &event.seats[..1]).await;
    assert_eq!(res.status(), StatusCode::CREATED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_racing_the_sweeper_returns_inventory_once() {
    let app = TestApp::spawn().await;
    let event = create_event(&app, EventSpec::on_sale(&app).standing("GA", 10_000, 50)).await;
    let tt = event.ticket_types[0];
    let fans = create_fans(&app, 20).await;
    let mut ids = Vec::new();
    for f in &fans {
        let body = json(reserve_items(&app, f, event.id, tt, 2).await).await;
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    assert_eq!(available(&app, tt).await, 10);
    app.state.clock.advance(Duration::seconds(301));
    let cancels = ids.iter().zip(&fans).map(|(id, f)| {
        let app = &app;
        async move { app.fan(f).release(id).await.status() }
    });
    let sweeps = (0..3).map(|_| {
        let s = app.state.clone();
        tokio::spawn(async move { booking::sweep(&s).await })
    });
    let (statuses, _) = tokio::join!(join_all(cancels), join_all(sweeps));
    for s in statuses {
        assert!(s == StatusCode::OK || s == StatusCode::CONFLICT, "{s}");
    }
    booking::sweep(&app.state).await.expect("sweep");
    assert_eq!(available(&app, tt).await, 50, "returned exactly once");
    let tickets: i64 =
        sqlx::query_scalar("SELECT COALESCE(sum(tickets), 0)::bigint FROM user_event_tickets")
            .fetch_one(app.db())
            .await
            .expect("query");
    assert_eq!(tickets, 0, "every user's allowance came back exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn flushing_redis_mid_burst_never_double_sells() {
    let app = TestApp::spawn().await;
    let event = create_event(
        &app,
        EventSpec::on_sale(&app)
            .seats(100)
            .standing("GA", 10_000, 40),
    )
    .await;
    let tt = event.ticket_types[0];
    let fans = create_fans(&app, 300).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let wants: Vec<Vec<Uuid>> = (0..fans.len())
        .map(|_| {
            event.seats[..40]
                .choose_multiple(&mut rng, 2)
                .copied()
                .collect()
        })
        .collect();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flusher = {
        let stop = stop.clone();
        let redis = app.state.redis.clone();
        tokio::spawn(async move {
            let mut flushes = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut c = redis.conn();
                let keys: Vec<String> = redis::cmd("KEYS")
                    .arg(format!("{}*", redis.prefix()))
                    .query_async(&mut c)
                    .await
                    .unwrap_or_default();
                if !keys.is_empty() {
                    let _: Result<(), _> = redis::cmd("DEL").arg(keys).query_async(&mut c).await;
                }
                flushes += 1;
                tokio::task::yield_now().await;
            }
            flushes
        })
    };
    let results = join_all(fans.iter().zip(&wants).enumerate().map(|(i, (f, w))| {
        let app = &app;
        async move {
            if i % 2 == 0 {
                reserve_seats(app, f, event.id, w).await.status()
            } else {
                reserve_items(app, f, event.id, tt, 1).await.status()
            }
        }
    }))
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let flushes = flusher.await.expect("flusher");
    assert!(flushes > 1, "Redis was flushed during the burst");

    assert!(
        results
            .iter()
            .all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT),
        "{results:?}"
    );
    assert!(double_booked(&app, event.id).await.is_empty());
    let sold_standing = live_quantity(&app, tt).await;
    assert!(sold_standing <= 40);
    assert_eq!(i64::from(available(&app, tt).await) + sold_standing, 40);
    let created = results
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count() as i64;
    assert_eq!(reservation_count(&app).await, created);
}

#[tokio::test]
async fn bookings_stay_correct_without_redis() {
    let app = TestApp::spawn_with(&[("URR_REDIS_URL", "redis://127.0.0.1:1")]).await;
    let event = create_event(
        &app,
        EventSpec::on_sale(&app).seats(4).standing("GA", 1000, 1),
    )
    .await;
    let fans = create_fans(&app, 3).await;
    assert_eq!(
        reserve_seats(&app, &fans[0], event.id, &event.seats[..2])
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_problem(
        reserve_seats(&app, &fans[1], event.id, &event.seats[1..3]).await,
        StatusCode::CONFLICT,
        "SEAT_UNAVAILABLE",
    )
    .await;
    let tt = event.ticket_types[0];
    assert_eq!(
        reserve_items(&app, &fans[1], event.id, tt, 1)
            .await
            .status(),
        StatusCode::CREATED
    );
    assert_problem(
        reserve_items(&app, &fans[2], event.id, tt, 1).await,
        StatusCode::CONFLICT,
        "SOLD_OUT",
    )
    .await;
}

#[tokio::test]
async fn bad_requests_are_refused_and_hold_nothing() {
    let app = TestApp::spawn().await;
    let event = create_event(
        &app,
        EventSpec::on_sale(&app).seats(5).standing("GA", 1000, 10),
    )
    .await;
    let other = create_event(&app, EventSpec::on_sale(&app).seats(5)).await;
    let fan = create_fans(&app, 1).await.remove(0);
    let tt = event.ticket_types[0];
    let path = reserve_path(event.id);
    let cases: Vec<(Value, StatusCode, &str)> = vec![
        (
            json!({ "seat_ids": [Uuid::new_v4()] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "seat_ids": [other.seats[0]] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "seat_ids": [event.seats[0], event.seats[0]] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "seat_ids": [] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "items": [{ "ticket_type_id": tt, "quantity": 0 }] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "items": [{ "ticket_type_id": tt, "quantity": -3 }] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "items": [{ "ticket_type_id": tt, "quantity": 1_000_000_000_000i64 }] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "items": [{ "ticket_type_id": tt, "quantity": "2" }] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_BODY",
        ),
        (
            json!({ "items": [{ "ticket_type_id": Uuid::new_v4(), "quantity": 1 }] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "seat_ids": [event.seats[0]], "items": [{ "ticket_type_id": tt, "quantity": 1 }] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "seat_ids": ["not-a-uuid"] }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_BODY",
        ),
        (
            json!({ "seat_ids": [event.seats[0]], "position": 1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_BODY",
        ),
    ];
    for (body, status, code) in cases {
        let res = app.post(&path, &body, Some(&fan.token)).await;
        assert_problem(res, status, code).await;
    }
    let raw = |body: &'static str| {
        app.request(reqwest::Method::POST, &path, Some(&fan.token))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_problem(
        raw("").await.expect("send"),
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
    )
    .await;
    assert_problem(
        raw("{\"seat_ids\": [").await.expect("send"),
        StatusCode::BAD_REQUEST,
        "MALFORMED_JSON",
    )
    .await;
    let huge = format!("{{\"seat_ids\": [\"{}\"]}}", "a".repeat(200_000));
    let res = app
        .request(reqwest::Method::POST, &path, Some(&fan.token))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .expect("send");
    assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
    let res = app
        .fan(&fan)
        .reserve_with_key(
            event.id,
            "bad key with spaces",
            &json!({ "seat_ids": [event.seats[0]] }),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "INVALID_IDEMPOTENCY_KEY").await;
    assert_problem(
        app.post(
            "/api/v1/events/not-a-uuid/reservations",
            &json!({}),
            Some(&fan.token),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_PATH",
    )
    .await;
    assert_problem(
        app.post(
            &reserve_path(Uuid::new_v4()),
            &json!({ "seat_ids": [event.seats[0]] }),
            Some(&fan.token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "EVENT_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.post(&path, &json!({ "seat_ids": [event.seats[0]] }), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "AUTH_REQUIRED",
    )
    .await;

    assert_eq!(reservation_count(&app).await, 0, "nothing was written");
    assert_eq!(available(&app, tt).await, 10);
    let seat_keys = app
        .redis_keys()
        .await
        .into_iter()
        .filter(|k| k.contains(":seat:"))
        .count();
    assert_eq!(seat_keys, 0, "nothing was held in Redis");
}

#[tokio::test]
async fn sale_window_is_enforced() {
    let app = TestApp::spawn().await;
    let now = app.state.clock.now();
    let mut spec = EventSpec::on_sale(&app).seats(2);
    spec.sale_opens_at = now + Duration::hours(1);
    let event = create_event(&app, spec).await;
    let fan = create_fans(&app, 1).await.remove(0);
    assert_problem(
        reserve_seats(&app, &fan, event.id, &event.seats[..1]).await,
        StatusCode::CONFLICT,
        "SALE_NOT_OPEN",
    )
    .await;
    app.state.clock.advance(Duration::hours(2));
    let fan = app.refresh_token(fan);
    assert_eq!(
        reserve_seats(&app, &fan, event.id, &event.seats[..1])
            .await
            .status(),
        StatusCode::CREATED
    );
    app.state.clock.advance(Duration::days(2));
    let fan = app.refresh_token(fan);
    assert_problem(
        reserve_seats(&app, &fan, event.id, &event.seats[1..2]).await,
        StatusCode::CONFLICT,
        "SALE_CLOSED",
    )
    .await;
}

#[tokio::test]
async fn seat_map_shows_live_status_within_a_second() {
    let app = TestApp::spawn_with(&[("URR_SEATMAP_TTL_MS", "0")]).await;
    let event = create_event(
        &app,
        EventSpec::on_sale(&app).seats(6).standing("GA", 1000, 10),
    )
    .await;
    let fan = create_fans(&app, 1).await.remove(0);
    let path = format!("/api/v1/events/{}/seats", event.id);
    let before = json(app.get(&path, None).await).await;
    assert_eq!(before["counts"]["available"], 6);
    reserve_seats(&app, &fan, event.id, &event.seats[..2]).await;
    let res = app.get(&path, None).await;
    assert_eq!(res.headers()["cache-control"], "public, max-age=1");
    let after = json(res).await;
    assert_eq!(after["counts"]["held"], 2);
    assert_eq!(after["counts"]["available"], 4);
    let held: Vec<&str> = after["seats"]
        .as_array()
        .expect("seats")
        .iter()
        .filter(|s| s["status"] == "held")
        .map(|s| s["id"].as_str().expect("id"))
        .collect();
    assert_eq!(held.len(), 2);
    assert_eq!(after["ticket_types"][0]["available_quantity"], 10);
    assert_problem(
        app.get(&format!("/api/v1/events/{}/seats", Uuid::new_v4()), None)
            .await,
        StatusCode::NOT_FOUND,
        "EVENT_NOT_FOUND",
    )
    .await;
}

#[tokio::test]
async fn reservations_are_private_and_listed_newest_first() {
    let app = TestApp::spawn().await;
    let event = create_event(&app, EventSpec::on_sale(&app).seats(6)).await;
    let fans = create_fans(&app, 2).await;
    let mut ids = Vec::new();
    for s in &event.seats[..3] {
        let body = json(reserve_seats(&app, &fans[0], event.id, &[*s]).await).await;
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    let res = app.fan(&fans[1]).reservation(&ids[0]).await;
    assert_problem(res, StatusCode::NOT_FOUND, "RESERVATION_NOT_FOUND").await;
    let res = app.fan(&fans[1]).release(&ids[0]).await;
    assert_problem(res, StatusCode::NOT_FOUND, "RESERVATION_NOT_FOUND").await;

    let page = json(
        app.get("/api/v1/me/reservations?limit=2", Some(&fans[0].token))
            .await,
    )
    .await;
    let got: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|r| r["id"].as_str().expect("id"))
        .collect();
    assert_eq!(got, vec![ids[2].as_str(), ids[1].as_str()]);
    let cursor = page["next_cursor"].as_str().expect("cursor");
    let page2 = json(
        app.get(
            &format!("/api/v1/me/reservations?limit=2&cursor={cursor}"),
            Some(&fans[0].token),
        )
        .await,
    )
    .await;
    assert_eq!(page2["items"][0]["id"], ids[0].as_str());
    assert!(page2["next_cursor"].is_null());
    assert_problem(
        app.get("/api/v1/me/reservations?cursor=zzz", Some(&fans[0].token))
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_CURSOR",
    )
    .await;
    assert_problem(
        app.get("/api/v1/me/reservations?limit=100000", Some(&fans[0].token))
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY",
    )
    .await;

    // Cancelling twice: the second is a clear conflict.
    let res = app.fan(&fans[0]).release(&ids[0]).await;
    assert_eq!(json(res).await["status"], "cancelled");
    let res = app.fan(&fans[0]).release(&ids[0]).await;
    assert_problem(res, StatusCode::CONFLICT, "RESERVATION_NOT_PENDING").await;
}

/// Group commit: concurrent holds share statements, and each is written exactly as it
/// would be alone (its reservation, its item, its outbox row, its quota).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_holds_share_statements_and_each_is_written_whole() {
    // One writer slot, so holds that arrive while a statement runs queue up behind it.
    let app = TestApp::spawn_with(&[("URR_BOOKING_WRITERS", "1")]).await;
    let event = create_event(&app, EventSpec::on_sale(&app).seats(300)).await;
    let fans = create_fans(&app, 300).await;

    let results = join_all(fans.iter().zip(&event.seats).map(|(f, seat)| {
        let app = &app;
        async move { reserve_seats(app, f, event.id, &[*seat]).await.status() }
    }))
    .await;

    assert!(
        results.iter().all(|s| *s == StatusCode::CREATED),
        "{results:?}"
    );
    let stats = app.state.booking.writer.stats();
    let batched = stats
        .batched_holds
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        stats.batches.load(std::sync::atomic::Ordering::Relaxed) >= 1 && batched >= 2,
        "300 concurrent holds on one writer slot were never written together"
    );
    let owners = live_seat_owner(&app, event.id).await;
    for (fan, seat) in fans.iter().zip(&event.seats) {
        assert_eq!(owners.get(seat), Some(&fan.id), "seat {seat}");
    }
    let (reservations, items, outbox, quota): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM reservations WHERE event_id = $1 AND status = 'pending'
                   AND ticket_count = 1 AND amount > 0),
                (SELECT count(*) FROM reservation_items WHERE event_id = $1 AND live),
                (SELECT count(*) FROM outbox WHERE topic = 'reservation.created'),
                (SELECT COALESCE(sum(tickets), 0)::bigint FROM user_event_tickets WHERE event_id = $1)",
    )
    .bind(event.id)
    .fetch_one(app.db())
    .await
    .expect("query");
    assert_eq!((reservations, items, outbox, quota), (300, 300, 300, 300));
}

/// A statement shared by several holds is refused as a whole when one of them collides
/// (here: seats already held, with no Redis filter in front). Every innocent hold in it
/// must still be written, and every colliding one refused with its own answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_shared_statement_still_writes_every_innocent_hold() {
    let app = TestApp::spawn_with(&[
        ("URR_REDIS_URL", "redis://127.0.0.1:1"),
        ("URR_BOOKING_WRITERS", "1"),
    ])
    .await;
    let event = create_event(&app, EventSpec::on_sale(&app).seats(120)).await;
    let fans = create_fans(&app, 130).await;
    let (first, rest) = fans.split_at(10);
    // Ten seats already held.
    for (f, seat) in first.iter().zip(&event.seats) {
        assert_eq!(
            reserve_seats(&app, f, event.id, &[*seat]).await.status(),
            StatusCode::CREATED
        );
    }
    let mut split_seen = false;
    // A shared statement containing a collider is almost certain in one round; a few
    // rounds make it certain. Each round checks the outcome in full.
    for round in 0..4 {
        let (colliders, innocents) = rest.split_at(10);
        let innocents = &innocents[round * 25..(round + 1) * 25];
        let free = &event.seats[10 + round * 25..10 + (round + 1) * 25];
        let asks: Vec<(&TestUser, Uuid, bool)> = colliders
            .iter()
            .zip(&event.seats[..10])
            .map(|(f, s)| (f, *s, true))
            .chain(innocents.iter().zip(free).map(|(f, s)| (f, *s, false)))
            .collect();
        let results = join_all(asks.iter().map(|(f, seat, collides)| {
            let app = &app;
            async move {
                let res = reserve_seats(app, f, event.id, &[*seat]).await;
                let status = res.status();
                let code = res
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|b| b["code"].as_str().map(str::to_owned));
                (*collides, status, code)
            }
        }))
        .await;
        for (collides, status, code) in &results {
            if *collides {
                assert_eq!(
                    (*status, code.as_deref()),
                    (StatusCode::CONFLICT, Some("SEAT_UNAVAILABLE"))
                );
            } else {
                assert_eq!(*status, StatusCode::CREATED, "{code:?}");
            }
        }
        let owners = live_seat_owner(&app, event.id).await;
        for (f, seat) in first.iter().zip(&event.seats) {
            assert_eq!(owners.get(seat), Some(&f.id));
        }
        for (f, seat) in innocents.iter().zip(free) {
            assert_eq!(owners.get(seat), Some(&f.id));
        }
        assert!(double_booked(&app, event.id).await.is_empty());
        split_seen |= app
            .state
            .booking
            .writer
            .stats()
            .batches_split
            .load(std::sync::atomic::Ordering::Relaxed)
            > 0;
        if split_seen {
            break;
        }
    }
    assert!(
        split_seen,
        "no shared statement was ever refused; the split path went untested"
    );
    let held: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM reservations WHERE event_id = $1 AND status = 'pending'",
    )
    .bind(event.id)
    .fetch_one(app.db())
    .await
    .expect("query");
    let items: i64 =
        sqlx::query_scalar("SELECT count(*) FROM reservation_items WHERE event_id = $1 AND live")
            .bind(event.id)
            .fetch_one(app.db())
            .await
            .expect("query");
    assert_eq!(
        held, items,
        "a reservation without its item, or the reverse"
    );
}
