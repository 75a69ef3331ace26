//! Tickets at the door (check-ins, the void feed for offline scanners) and show times
//! frozen after the first sale, against the real stores and the Toss fake.

use crate::client::{Env, hold_seats, hold_standing, pay, spawn_env};
use crate::fixtures::{EventFixture, EventSpec, create_event, create_fans};
use crate::helpers::{TestApp, TestUser, assert_problem, json, random_key};
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_wasm::token::{self, QrClaims, Role};
use uuid::Uuid;

/// The promoter who owns `event` (fixtures create one per event), with a token.
async fn promoter_of(app: &TestApp, event: Uuid) -> TestUser {
    let id: Uuid = sqlx::query_scalar("SELECT promoter_id FROM events WHERE id = $1")
        .bind(event)
        .fetch_one(app.db())
        .await
        .expect("event");
    TestUser {
        id,
        email: String::new(),
        role: Role::Promoter,
        token: urr_origin::auth::issue_access_token(&app.state, id, Role::Promoter, None).0,
    }
}

fn check_in_path(event: Uuid) -> String {
    format!("/api/v1/events/{event}/check-ins")
}

async fn check_in(app: &TestApp, user: &TestUser, event: Uuid, body: Value) -> reqwest::Response {
    app.post(&check_in_path(event), &body, Some(&user.token))
        .await
}

/// `(id, code, qr)` of each ticket in a confirm answer.
fn tickets(paid: &Value) -> Vec<(String, String, String)> {
    paid["tickets"]
        .as_array()
        .expect("tickets")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().expect("id").to_owned(),
                t["code"].as_str().expect("code").to_owned(),
                t["qr"].as_str().expect("qr").to_owned(),
            )
        })
        .collect()
}

async fn checked_in(app: &TestApp, ticket: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let row: (Option<DateTime<Utc>>, Option<Uuid>) =
        sqlx::query_as("SELECT checked_in_at, checked_in_by FROM tickets WHERE id = $1::uuid")
            .bind(ticket)
            .fetch_one(app.db())
            .await
            .expect("ticket");
    row.0.zip(row.1)
}

async fn seated(app: &TestApp, seats: usize) -> EventFixture {
    create_event(app, EventSpec::on_sale(app).seats(seats).limit(10)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_door_admits_each_ticket_once_and_only_its_own_event_staff() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let a = seated(app, 4).await;
    let b = seated(app, 2).await;
    let promoter = promoter_of(app, a.id).await;
    let other_promoter = promoter_of(app, b.id).await;
    let admin = app.create_user(Role::Admin).await;
    let fans = create_fans(app, 2).await;
    let fan = &fans[0];
    let paid = pay(&env, fan, &hold_seats(app, fan, a.id, &a.seats[..2]).await).await;
    let ts = tickets(&paid);
    let (t1, t2) = (&ts[0], &ts[1]);
    let paid_b = pay(
        &env,
        &fans[1],
        &hold_seats(app, &fans[1], b.id, &b.seats[..1]).await,
    )
    .await;
    let tb = &tickets(&paid_b)[0];

    // Fans and other promoters cannot check anyone in; nothing changes.
    let res = check_in(app, fan, a.id, json!({ "qr": t1.2 })).await;
    assert_problem(res, StatusCode::FORBIDDEN, "FORBIDDEN_ROLE").await;
    let res = check_in(app, &other_promoter, a.id, json!({ "code": t1.1 })).await;
    assert_problem(res, StatusCode::FORBIDDEN, "NOT_EVENT_OWNER").await;
    let res = app
        .post(&check_in_path(a.id), &json!({ "code": t1.1 }), None)
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = check_in(app, &promoter, Uuid::new_v4(), json!({ "code": t1.1 })).await;
    assert_problem(res, StatusCode::NOT_FOUND, "EVENT_NOT_FOUND").await;

    // Malformed input: 4xx problems, nothing written.
    let (other_key, _) = random_key("not-ours");
    let foreign_qr = token::sign(
        &other_key,
        &QrClaims {
            evt: a.id,
            tid: t1.0.parse().expect("uuid"),
            code: t1.1.clone(),
            iat: app.state.clock.unix(),
            exp: app.state.clock.unix() + 3600,
        },
    );
    for (body, status, code) in [
        (
            json!({}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "qr": t1.2, "code": t1.1 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "code": "not-a-code" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "code": "" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "qr": "garbage" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "QR_INVALID",
        ),
        (
            json!({ "qr": foreign_qr }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "QR_INVALID",
        ),
        (
            json!({ "qr": "x".repeat(5000) }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        ),
        (
            json!({ "code": 12 }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_BODY",
        ),
        (
            json!({ "code": t1.1, "admit": "all" }),
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_BODY",
        ),
    ] {
        let res = check_in(app, &promoter, a.id, body.clone()).await;
        assert_problem(res, status, code).await;
    }
    let res = app
        .request(
            reqwest::Method::POST,
            &check_in_path(a.id),
            Some(&promoter.token),
        )
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_problem(res, StatusCode::BAD_REQUEST, "MALFORMED_JSON").await;
    let res = app
        .post(
            &format!("/api/v1/events/{}/check-ins", "not-a-uuid"),
            &json!({ "code": t1.1 }),
            Some(&promoter.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    assert!(checked_in(app, &t1.0).await.is_none());

    // Another event's ticket is "not found" here, by QR or code, as is a made-up code.
    for body in [
        json!({ "qr": tb.2 }),
        json!({ "code": tb.1 }),
        json!({ "code": "0000000000" }),
    ] {
        let res = check_in(app, &promoter, a.id, body).await;
        assert_problem(res, StatusCode::NOT_FOUND, "TICKET_NOT_FOUND").await;
    }
    assert!(checked_in(app, &tb.0).await.is_none());

    // First scan admits; the second, by the typed code, is refused with the time.
    let res = check_in(app, &promoter, a.id, json!({ "qr": t1.2 })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let admitted = json(res).await;
    assert_eq!(admitted["ticket_id"], t1.0.as_str());
    assert_eq!(admitted["label"], "A-1-1");
    let at = admitted["checked_in_at"].as_str().expect("time").to_owned();
    let typed = format!("{}-{}", t1.1[..5].to_lowercase(), t1.1[5..].to_lowercase());
    let res = check_in(app, &promoter, a.id, json!({ "code": typed })).await;
    let again = assert_problem(res, StatusCode::CONFLICT, "ALREADY_CHECKED_IN").await;
    assert_eq!(
        again["checked_in_at"]
            .as_str()
            .map(|s| s.parse::<DateTime<Utc>>().ok()),
        Some(at.parse::<DateTime<Utc>>().ok())
    );
    let (_, by) = checked_in(app, &t1.0).await.expect("checked in");
    assert_eq!(by, promoter.id);

    // Admins may scan too; the fan sees the check-in on the ticket.
    let res = check_in(app, &admin, a.id, json!({ "code": t2.1 })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t = json(
        app.get(&format!("/api/v1/tickets/{}", t1.0), Some(&fan.token))
            .await,
    )
    .await;
    assert!(t["checked_in_at"].is_string(), "{t}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_scanners_on_one_ticket_admit_it_exactly_once() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let event = seated(app, 2).await;
    let promoter = promoter_of(app, event.id).await;
    let admin = app.create_user(Role::Admin).await;
    let fan = create_fans(app, 1).await.remove(0);
    let paid = pay(
        &env,
        &fan,
        &hold_seats(app, &fan, event.id, &event.seats[..1]).await,
    )
    .await;
    let (_, code, qr) = tickets(&paid).remove(0);

    let scans = (0..64).map(|i| {
        let body = if i % 2 == 0 {
            json!({ "qr": qr })
        } else {
            json!({ "code": code })
        };
        let who = if i % 3 == 0 { &admin } else { &promoter };
        check_in(app, who, event.id, body)
    });
    let results = join_all(scans).await;
    let mut admitted = 0;
    let mut refused = 0;
    for res in results {
        match res.status() {
            StatusCode::OK => admitted += 1,
            StatusCode::CONFLICT => {
                assert_problem(res, StatusCode::CONFLICT, "ALREADY_CHECKED_IN").await;
                refused += 1;
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((admitted, refused), (1, 63));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refunded_ticket_is_refused_at_the_door_while_its_seat_is_resold() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let event = seated(app, 2).await;
    let promoter = promoter_of(app, event.id).await;
    let fans = create_fans(app, 2).await;
    let seat = &event.seats[..1];
    let paid = pay(
        &env,
        &fans[0],
        &hold_seats(app, &fans[0], event.id, seat).await,
    )
    .await;
    let (old_id, old_code, old_qr) = tickets(&paid).remove(0);
    let reservation: Uuid = paid["payment"]["reservation_id"]
        .as_str()
        .expect("reservation")
        .parse()
        .expect("uuid");

    // The fan cancels (refund under the policy); the seat is sold to someone else.
    let res = app.fan(&fans[0]).cancel(reservation).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", json(res).await);
    let resold = pay(
        &env,
        &fans[1],
        &hold_seats(app, &fans[1], event.id, seat).await,
    )
    .await;
    let (new_id, new_code, _) = tickets(&resold).remove(0);

    // The old QR still verifies offline (it is signed and not expired)...
    let claims: QrClaims = token::verify(
        &app.state.config.keys.origin_public,
        &old_qr,
        app.state.clock.unix(),
    )
    .expect("still a valid signature");
    assert_eq!(claims.tid.to_string(), old_id);
    // ...but the door refuses it, by QR and by code.
    for body in [json!({ "qr": old_qr }), json!({ "code": old_code })] {
        let res = check_in(app, &promoter, event.id, body).await;
        let p = assert_problem(res, StatusCode::CONFLICT, "TICKET_VOID").await;
        assert!(p["voided_at"].is_string(), "{p}");
        assert_eq!(p["void_reason"], "refunded");
    }
    assert!(checked_in(app, &old_id).await.is_none());
    // The new owner gets in.
    let res = check_in(app, &promoter, event.id, json!({ "code": new_code })).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["ticket_id"], new_id.as_str());

    // And the offline scanners' feed names the old ticket only.
    let feed = json(
        app.get(
            &format!("/api/v1/events/{}/void-tickets", event.id),
            Some(&promoter.token),
        )
        .await,
    )
    .await;
    let items = feed["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{feed}");
    assert_eq!(items[0]["id"], old_id.as_str());
    assert_eq!(items[0]["code"], old_code.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_void_feed_pages_in_voided_order_from_a_time() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let event = create_event(
        app,
        EventSpec::on_sale(app)
            .standing("Standing", 20_000, 50)
            .limit(10),
    )
    .await;
    let other = create_event(app, EventSpec::on_sale(app).standing("GA", 20_000, 10)).await;
    let tt = event.ticket_types[0];
    let promoter = promoter_of(app, event.id).await;
    let admin = app.create_user(Role::Admin).await;
    let fans = create_fans(app, 5).await;
    let path = format!("/api/v1/events/{}/void-tickets", event.id);

    // Three orders of two tickets refunded a minute apart, one kept, and one refunded
    // at another event.
    let mut times = Vec::new();
    for fan in &fans[..3] {
        let held = hold_standing(app, fan, event.id, tt, 2).await;
        pay(&env, fan, &held).await;
        times.push(app.state.clock.now());
        let res = app.fan(&admin).refund(held.id).await;
        assert_eq!(res.status(), StatusCode::OK);
        app.state.clock.advance(Duration::minutes(1));
    }
    let kept = hold_standing(app, &fans[3], event.id, tt, 1).await;
    pay(&env, &fans[3], &kept).await;
    let elsewhere = hold_standing(app, &fans[4], other.id, other.ticket_types[0], 1).await;
    pay(&env, &fans[4], &elsewhere).await;
    let res = app.fan(&admin).refund(elsewhere.id).await;
    assert_eq!(res.status(), StatusCode::OK);

    let expected: Vec<(String, String)> = sqlx::query_as(
        "SELECT id::text, code FROM tickets WHERE event_id = $1 AND status = 'void'
         ORDER BY voided_at, id",
    )
    .bind(event.id)
    .fetch_all(app.db())
    .await
    .expect("void tickets");
    assert_eq!(expected.len(), 6);
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|t| t["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let first = json(
        app.get(&format!("{path}?limit=4"), Some(&promoter.token))
            .await,
    )
    .await;
    assert_eq!(first["items"][0]["code"], expected[0].1.as_str());
    assert!(first["items"][0]["voided_at"].is_string());
    let cursor = first["next_cursor"].as_str().expect("more").to_owned();
    let second = json(
        app.get(
            &format!("{path}?limit=4&cursor={cursor}"),
            Some(&admin.token),
        )
        .await,
    )
    .await;
    assert!(second["next_cursor"].is_null(), "{second}");
    let all: Vec<String> = ids(&first).into_iter().chain(ids(&second)).collect();
    assert_eq!(
        all,
        expected
            .iter()
            .map(|(id, _)| id.clone())
            .collect::<Vec<_>>()
    );

    // `since`: from the second refund on (RFC 3339 in UTC or with an offset).
    let since = times[1].to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let page = json(
        app.get(&format!("{path}?since={since}"), Some(&promoter.token))
            .await,
    )
    .await;
    assert_eq!(ids(&page), all[2..].to_vec());
    let kst = times[2]
        .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("kst"))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, false);
    let page = json(
        app.request(reqwest::Method::GET, &path, Some(&promoter.token))
            .query(&[("since", kst.as_str())])
            .send()
            .await
            .expect("GET"),
    )
    .await;
    assert_eq!(ids(&page), all[4..].to_vec());

    // Bad queries, strangers.
    let event_cursor = urr_origin::http::Cursor::event(Utc::now(), Uuid::new_v4()).encode();
    for (query, code) in [
        ("since=yesterday", "INVALID_QUERY"),
        ("limit=0", "INVALID_QUERY"),
        ("limit=1000", "INVALID_QUERY"),
        ("cursor=%21%21", "INVALID_CURSOR"),
        (&*format!("cursor={event_cursor}"), "INVALID_CURSOR"),
        ("bogus=1", "INVALID_QUERY"),
    ] {
        let res = app
            .get(&format!("{path}?{query}"), Some(&promoter.token))
            .await;
        assert_problem(res, StatusCode::BAD_REQUEST, code).await;
    }
    let fan = &fans[0];
    assert_problem(
        app.get(&path, Some(&fan.token)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;
    let stranger = promoter_of(app, other.id).await;
    assert_problem(
        app.get(&path, Some(&stranger.token)).await,
        StatusCode::FORBIDDEN,
        "NOT_EVENT_OWNER",
    )
    .await;
    assert_problem(
        app.get(
            &format!("/api/v1/events/{}/void-tickets", Uuid::new_v4()),
            Some(&admin.token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "EVENT_NOT_FOUND",
    )
    .await;
}

async fn patch_event(
    app: &TestApp,
    user: &TestUser,
    event: Uuid,
    body: Value,
) -> reqwest::Response {
    app.patch(&format!("/api/v1/events/{event}"), &body, Some(&user.token))
        .await
}

async fn starts_at(app: &TestApp, event: Uuid) -> DateTime<Utc> {
    sqlx::query_scalar("SELECT starts_at FROM events WHERE id = $1")
        .bind(event)
        .fetch_one(app.db())
        .await
        .expect("event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn show_times_freeze_for_promoters_after_the_first_sale() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let event = seated(app, 4).await;
    let promoter = promoter_of(app, event.id).await;
    let admin = app.create_user(Role::Admin).await;
    let fans = create_fans(app, 1).await;
    let fan = &fans[0];
    let later = |t: DateTime<Utc>| json!({ "starts_at": t + Duration::hours(1) });

    // Nothing sold yet: the promoter may move the show.
    let t0 = starts_at(app, event.id).await;
    let res = patch_event(app, &promoter, event.id, later(t0)).await;
    assert_eq!(res.status(), StatusCode::OK, "{}", json(res).await);

    // A live hold freezes the times, not the rest.
    let held = hold_seats(app, fan, event.id, &event.seats[..1]).await;
    let t1 = starts_at(app, event.id).await;
    let res = patch_event(app, &promoter, event.id, later(t1)).await;
    let p = assert_problem(res, StatusCode::CONFLICT, "EVENT_HAS_SALES").await;
    assert_eq!(p["fields"], json!(["starts_at"]));
    assert_eq!(starts_at(app, event.id).await, t1);
    let res = patch_event(app, &promoter, event.id, json!({ "title": "New title" })).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = patch_event(app, &promoter, event.id, json!({ "starts_at": t1 })).await;
    assert_eq!(res.status(), StatusCode::OK, "the same time is no change");

    // The hold goes: free again. Then a sale: frozen for good.
    let res = app.fan(fan).release(held.id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = patch_event(app, &promoter, event.id, later(t1)).await;
    assert_eq!(res.status(), StatusCode::OK);
    pay(
        &env,
        fan,
        &hold_seats(app, fan, event.id, &event.seats[1..2]).await,
    )
    .await;
    let t2 = starts_at(app, event.id).await;
    let past = app.state.clock.now() - Duration::days(1);
    for body in [
        json!({ "starts_at": past, "sale_closes_at": past - Duration::hours(1),
                "sale_opens_at": past - Duration::days(1) }),
        json!({ "ends_at": t2 + Duration::hours(3) }),
        json!({ "sale_closes_at": t2 - Duration::hours(2) }),
    ] {
        let res = patch_event(app, &promoter, event.id, body).await;
        assert_problem(res, StatusCode::CONFLICT, "EVENT_HAS_SALES").await;
    }
    assert_eq!(starts_at(app, event.id).await, t2);
    // A paid reservation keeps them frozen (it never expires like a hold).
    app.state.clock.advance(Duration::minutes(30));
    let promoter = app.refresh_token(promoter);
    let admin = app.refresh_token(admin);
    let res = patch_event(app, &promoter, event.id, later(t2)).await;
    assert_problem(res, StatusCode::CONFLICT, "EVENT_HAS_SALES").await;

    // Admins may still move it.
    let res = patch_event(app, &admin, event.id, later(t2)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(starts_at(app, event.id).await, t2 + Duration::hours(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refund_uses_the_show_time_the_fan_bought_for() {
    let env: Env = spawn_env(&[]).await;
    let app = &env.app;
    let now = app.state.clock.now();
    // On sale now; the show is 30 days out (full refunds until 7 days before).
    let mut spec = EventSpec::on_sale(app).seats(4).limit(10);
    spec.sale_closes_at = now + Duration::days(29);
    let event = create_event(app, spec).await;
    let admin = app.create_user(Role::Admin).await;
    let fans = create_fans(app, 1).await;
    let fan = &fans[0];
    let held = hold_seats(app, fan, event.id, &event.seats[..1]).await;
    pay(&env, fan, &held).await;
    let bought_for: DateTime<Utc> =
        sqlx::query_scalar("SELECT show_starts_at FROM tickets WHERE reservation_id = $1")
            .bind(held.id)
            .fetch_one(app.db())
            .await
            .expect("ticket");
    assert_eq!(bought_for, starts_at(app, event.id).await);

    // An admin moves the show to three days from now (inside the 90 % band, today).
    let res = patch_event(
        app,
        &admin,
        event.id,
        json!({ "starts_at": now + Duration::days(3), "sale_closes_at": now + Duration::days(2) }),
    )
    .await;
    assert_eq!(res.status(), StatusCode::OK, "{}", json(res).await);

    // The fan still gets the full refund of the show they bought for.
    let res = app.fan(fan).cancel(held.id).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json(res).await;
    assert_eq!(body["refund"]["amount"], held.amount, "{body}");
    assert_eq!(env.fake.ledger(&held.order_id).refunded_amount, held.amount);
}
