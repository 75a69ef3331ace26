//! Memberships (joining, renewing, expiry), the points ledger (caps, clawbacks) and
//! presale windows that gate booking and the queue, against the Toss fake.

use crate::client::{Env, hold_standing, pay, pay_order, spawn_env};
use crate::fixtures::{
    EventSpec, create_artist, create_event, create_fans, give_artist, make_member,
};
use crate::helpers::{TestApp, TestUser, assert_problem, json};
use crate::queue::{pass, put_rules, rules};
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_wasm::token::Role;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

async fn join(app: &TestApp, fan: &TestUser, artist: Uuid) -> reqwest::Response {
    app.post(
        &format!("/api/v1/artists/{artist}/memberships"),
        &json!({}),
        Some(&fan.token),
    )
    .await
}

async fn mine(app: &TestApp, fan: &TestUser) -> Vec<Value> {
    let res = app.get("/api/v1/me/memberships", Some(&fan.token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    json(res).await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().expect("a time").parse().expect("RFC 3339")
}

/// Stops the app's clock at the current millisecond (Postgres keeps microseconds, so
/// exact comparisons need whole milliseconds) and returns that time.
fn freeze(app: &TestApp) -> DateTime<Utc> {
    let now = app.state.clock.now();
    let at = DateTime::from_timestamp_millis(now.timestamp_millis()).expect("a valid time");
    app.state.clock.freeze_at(at);
    at
}

/// Joins and pays; returns the membership as listed.
async fn become_member(env: &Env, fan: &TestUser, artist: Uuid) -> Value {
    let res = join(&env.app, fan, artist).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = json(res).await;
    pay_order(env, fan, &body["order"]).await;
    mine(&env.app, fan).await.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn joining_pays_a_year_renewal_extends_it_and_the_ledger_shows_both() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    freeze(app);
    let artist = create_artist(app).await;
    let fan = &create_fans(app, 1).await[0];

    let res = join(app, fan, artist).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first = json(res).await;
    assert_eq!(first["membership"]["status"], "pending");
    assert_eq!(first["membership"]["tier"], "BRONZE");
    assert_eq!(first["membership"]["artist_id"], artist.to_string());
    assert_eq!(first["order"]["amount"], 30_000);
    let order_id = first["order"]["order_id"].as_str().expect("order id");
    assert!(
        order_id.starts_with("mbr_") && order_id.len() == 36,
        "{order_id}"
    );
    // Asking again while unpaid: the same order, not a second one.
    let again = join(app, fan, artist).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(json(again).await["order"]["order_id"], order_id);
    // A tampered amount is refused before anything is charged.
    let key = env.fake.authorize(order_id, 30_000, "m").await;
    let res = crate::client::confirm(app, fan, &key, order_id, 100).await;
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "PAYMENT_AMOUNT_MISMATCH",
    )
    .await;

    let paid = pay_order(&env, fan, &first["order"]).await;
    assert_eq!(paid["payment"]["status"], "paid");
    assert_eq!(paid["payment"]["kind"], "membership");
    assert_eq!(paid["tickets"], json!([]));
    let now = app.state.clock.now();
    let m = &mine(app, fan).await[0];
    assert_eq!(m["status"], "active");
    assert_eq!(m["tier"], "SILVER");
    assert_eq!(m["points"], 200);
    assert_eq!(m["pending_order"], Value::Null);
    let expires = time(&m["expires_at"]);
    assert_eq!(expires, now + Duration::days(365));
    // Active with most of the year left: no second order.
    assert_problem(
        join(app, fan, artist).await,
        StatusCode::CONFLICT,
        "MEMBERSHIP_ACTIVE",
    )
    .await;

    // Thirty days before the end a renewal is offered; it extends from the expiry.
    app.state.clock.advance(Duration::days(340));
    let fan = app.refresh_token(fan.clone());
    let res = join(app, &fan, artist).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let renewal = json(res).await;
    assert_eq!(renewal["order"]["renewal"], true);
    assert_ne!(renewal["order"]["order_id"], order_id);
    pay_order(&env, &fan, &renewal["order"]).await;
    let m = &mine(app, &fan).await[0];
    assert_eq!(time(&m["expires_at"]), expires + Duration::days(365));
    assert_eq!(m["points"], 400);

    let ledger = json(
        app.get(
            &format!(
                "/api/v1/me/memberships/{}/points",
                m["id"].as_str().expect("id")
            ),
            Some(&fan.token),
        )
        .await,
    )
    .await;
    let reasons: Vec<&str> = ledger["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["reason"].as_str().expect("reason"))
        .collect();
    assert_eq!(reasons, ["renew", "join"], "newest first");
    // Somebody else's ledger is not found.
    let other = &create_fans(app, 1).await[0];
    assert_problem(
        app.get(
            &format!(
                "/api/v1/me/memberships/{}/points",
                m["id"].as_str().expect("id")
            ),
            Some(&other.token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "MEMBERSHIP_NOT_FOUND",
    )
    .await;
    assert_eq!(app.outbox_count("membership.activated").await, 2);
    assert_eq!(app.outbox_count("membership.points").await, 2);
    // The payments history names what was paid for.
    let history = json(app.get("/api/v1/me/payments", Some(&fan.token)).await).await;
    let kinds: Vec<&str> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["membership", "membership"]);
    assert!(history["items"][0]["artist_name"].is_string());
    // An unknown artist is a 404.
    assert_problem(
        join(app, &fan, Uuid::new_v4()).await,
        StatusCode::NOT_FOUND,
        "ARTIST_NOT_FOUND",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn expiry_ends_rights_by_the_clock_and_the_job_marks_it() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    freeze(app);
    let artist = create_artist(app).await;
    let fan = &create_fans(app, 1).await[0];
    let m = become_member(&env, fan, artist).await;
    assert_eq!(m["status"], "active");

    app.state.clock.advance(Duration::days(366));
    let fan = app.refresh_token(fan.clone());
    // Before the job has run the membership already reads expired, BRONZE.
    let m = &mine(app, &fan).await[0];
    assert_eq!(m["status"], "expired");
    assert_eq!(m["tier"], "BRONZE");
    let stored: String = sqlx::query_scalar("SELECT status FROM memberships WHERE user_id = $1")
        .bind(fan.id)
        .fetch_one(app.db())
        .await
        .expect("row");
    assert_eq!(stored, "active");
    // No presale rights: an artist event in its member-only window refuses the fan.
    let ev = create_event(app, EventSpec::on_sale(app).standing("GA", 10_000, 10)).await;
    give_artist(app, ev.id, artist, Some([0, 0, 0, 600])).await;
    let res = app
        .fan(&fan)
        .reserve(
            ev.id,
            &json!({"items": [{"ticket_type_id": ev.ticket_types[0], "quantity": 1}]}),
        )
        .await;
    let p = assert_problem(res, StatusCode::CONFLICT, "SALE_NOT_OPEN").await;
    assert_eq!(p["tier"], "BRONZE");

    assert_eq!(
        urr_origin::memberships::expire_due(&app.state)
            .await
            .expect("job"),
        1
    );
    assert_eq!(
        urr_origin::memberships::expire_due(&app.state)
            .await
            .expect("job"),
        0
    );
    let stored: String = sqlx::query_scalar("SELECT status FROM memberships WHERE user_id = $1")
        .bind(fan.id)
        .fetch_one(app.db())
        .await
        .expect("row");
    assert_eq!(stored, "expired");
    assert_eq!(app.outbox_count("membership.expired").await, 1);
    // An expired member renews with a new order; paying makes them active again.
    let res = join(app, &fan, artist).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = json(res).await;
    pay_order(&env, &fan, &body["order"]).await;
    let m = &mine(app, &fan).await[0];
    assert_eq!(m["status"], "active");
    assert_eq!(
        time(&m["expires_at"]),
        app.state.clock.now() + Duration::days(365)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ticket_points_are_capped_per_korean_day_and_a_refund_takes_them_back() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    freeze(app);
    let artist = create_artist(app).await;
    let fan = &create_fans(app, 1).await[0];
    become_member(&env, fan, artist).await;
    let mut spec = EventSpec::on_sale(app).standing("GA", 10_000, 50).limit(20);
    spec.sale_closes_at = app.state.clock.now() + Duration::days(60);
    let ev = create_event(app, spec).await;
    sqlx::query("UPDATE events SET starts_at = $2 WHERE id = $1")
        .bind(ev.id)
        .bind(app.state.clock.now() + Duration::days(61))
        .execute(app.db())
        .await
        .expect("show in two months");
    give_artist(app, ev.id, artist, Some([0, 0, 0, 0])).await;

    let mut held = Vec::new();
    for _ in 0..4 {
        let h = hold_standing(app, fan, ev.id, ev.ticket_types[0], 1).await;
        pay(&env, fan, &h).await;
        held.push(h);
    }
    let points = |app: &TestApp| {
        let db = app.db().clone();
        let user = fan.id;
        async move {
            let p: i32 = sqlx::query_scalar("SELECT points FROM memberships WHERE user_id = $1")
                .bind(user)
                .fetch_one(&db)
                .await
                .expect("points");
            let sum: i64 = sqlx::query_scalar(
                "SELECT COALESCE(sum(p.points), 0)::int8 FROM membership_points p
                 JOIN memberships m ON m.id = p.membership_id WHERE m.user_id = $1",
            )
            .bind(user)
            .fetch_one(&db)
            .await
            .expect("sum");
            assert_eq!(p as i64, sum, "the balance is the ledger's sum");
            p
        }
    };
    // Join 200 + three purchases at 100; the fourth is over the 300-a-day cap.
    assert_eq!(points(app).await, 500);
    assert_eq!(mine(app, fan).await[0]["tier"], "GOLD");

    // Refunding a rewarded purchase takes its 100 back: GOLD → SILVER.
    let res = app.fan(fan).cancel(held[0].id).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap_or_default()
    );
    assert_eq!(points(app).await, 400);
    assert_eq!(mine(app, fan).await[0]["tier"], "SILVER");
    // Refunding the capped one takes nothing (it gave nothing).
    let res = app.fan(fan).cancel(held[3].id).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(points(app).await, 400);
    let clawbacks: i64 =
        sqlx::query_scalar("SELECT count(*) FROM membership_points WHERE points < 0")
            .fetch_one(app.db())
            .await
            .expect("count");
    assert_eq!(clawbacks, 1);

    // The cap counts awards, not the balance: the refund did not free room today.
    let h = hold_standing(app, fan, ev.id, ev.ticket_types[0], 1).await;
    pay(&env, fan, &h).await;
    assert_eq!(points(app).await, 400);
    // A new day in Korea: awards again.
    app.state.clock.advance(Duration::days(1));
    let fan = app.refresh_token(fan.clone());
    let h = hold_standing(app, &fan, ev.id, ev.ticket_types[0], 1).await;
    pay(&env, &fan, &h).await;
    assert_eq!(points(app).await, 500);
}

async fn reserve_one(app: &TestApp, fan: &TestUser, event: Uuid, tt: Uuid) -> reqwest::Response {
    app.fan(fan)
        .reserve(
            event,
            &json!({"items": [{"ticket_type_id": tt, "quantity": 1}]}),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn presale_windows_gate_booking_and_each_fan_is_told_their_opening() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    freeze(app);
    let artist = create_artist(app).await;
    let fans = create_fans(app, 4).await;
    let (diamond, gold, silver, none) = (&fans[0], &fans[1], &fans[2], &fans[3]);
    make_member(app, diamond.id, artist, 1_500).await;
    make_member(app, gold.id, artist, 500).await;
    make_member(app, silver.id, artist, 0).await;
    let mut spec = EventSpec::on_sale(app)
        .standing("GA", 10_000, 100)
        .limit(10);
    let opens = app.state.clock.now();
    spec.sale_opens_at = opens;
    spec.sale_closes_at = opens + Duration::days(5);
    let ev = create_event(app, spec).await;
    give_artist(app, ev.id, artist, None).await;
    let tt = ev.ticket_types[0];

    // The detail shows the default schedule to everyone ...
    let detail = json(app.get(&format!("/api/v1/events/{}", ev.id), None).await).await;
    let windows: Vec<(String, DateTime<Utc>)> = detail["presale"]["windows"]
        .as_array()
        .expect("windows")
        .iter()
        .map(|w| {
            (
                w["tier"].as_str().expect("tier").to_owned(),
                time(&w["opens_at"]),
            )
        })
        .collect();
    assert_eq!(
        windows,
        [
            ("DIAMOND".to_owned(), opens),
            ("GOLD".to_owned(), opens + Duration::hours(1)),
            ("SILVER".to_owned(), opens + Duration::hours(24)),
            ("BRONZE".to_owned(), opens + Duration::hours(48)),
        ]
    );
    assert_eq!(
        detail.get("your_presale"),
        None,
        "anonymous: no personal window"
    );
    // ... and each signed-in fan their own window.
    for (fan, tier, at, open) in [
        (diamond, "DIAMOND", opens, true),
        (gold, "GOLD", opens + Duration::hours(1), false),
        (none, "BRONZE", opens + Duration::hours(48), false),
    ] {
        let d = json(
            app.get(&format!("/api/v1/events/{}", ev.id), Some(&fan.token))
                .await,
        )
        .await;
        assert_eq!(d["your_presale"]["tier"], tier);
        assert_eq!(time(&d["your_presale"]["opens_at"]), at);
        assert_eq!(d["your_presale"]["open"], open);
    }

    assert_eq!(
        reserve_one(app, diamond, ev.id, tt).await.status(),
        StatusCode::CREATED
    );
    for (fan, tier, at) in [
        (gold, "GOLD", opens + Duration::hours(1)),
        (silver, "SILVER", opens + Duration::hours(24)),
        (none, "BRONZE", opens + Duration::hours(48)),
    ] {
        let p = assert_problem(
            reserve_one(app, fan, ev.id, tt).await,
            StatusCode::CONFLICT,
            "SALE_NOT_OPEN",
        )
        .await;
        assert_eq!(p["tier"], tier);
        assert_eq!(time(&p["opens_at"]), at, "told their own opening");
    }
    // The boundary, to the millisecond.
    app.state
        .clock
        .freeze_at(opens + Duration::hours(1) - Duration::milliseconds(1));
    let gold = app.refresh_token(gold.clone());
    assert_problem(
        reserve_one(app, &gold, ev.id, tt).await,
        StatusCode::CONFLICT,
        "SALE_NOT_OPEN",
    )
    .await;
    app.state.clock.freeze_at(opens + Duration::hours(1));
    assert_eq!(
        reserve_one(app, &gold, ev.id, tt).await.status(),
        StatusCode::CREATED
    );
    let silver = app.refresh_token(silver.clone());
    assert_problem(
        reserve_one(app, &silver, ev.id, tt).await,
        StatusCode::CONFLICT,
        "SALE_NOT_OPEN",
    )
    .await;

    // The promoter moves the schedule: everyone from the opening.
    let admin = app.create_user(Role::Admin).await;
    let path = format!("/api/v1/events/{}/presale", ev.id);
    let bad = json!({"diamond_mins": 0, "gold_mins": 120, "silver_mins": 60, "general_mins": 200});
    let p = assert_problem(
        app.put(&path, &bad, Some(&admin.token)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert!(p.to_string().contains("silver_mins"), "{p}");
    let other = app.create_user(Role::Promoter).await;
    let open_all = json!({"diamond_mins": 0, "gold_mins": 0, "silver_mins": 0, "general_mins": 0});
    assert_problem(
        app.put(&path, &open_all, Some(&other.token)).await,
        StatusCode::FORBIDDEN,
        "NOT_EVENT_OWNER",
    )
    .await;
    assert_problem(
        app.put(&path, &open_all, Some(&silver.token)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;
    let res = app.put(&path, &open_all, Some(&admin.token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let none = app.refresh_token(none.clone());
    assert_eq!(
        reserve_one(app, &none, ev.id, tt).await.status(),
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_the_window_boundary_books_nobody_early() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    freeze(app);
    let artist = create_artist(app).await;
    let fans = create_fans(app, 24).await;
    for f in &fans {
        make_member(app, f.id, artist, 500).await; // GOLD: opens an hour in
    }
    let mut spec = EventSpec::on_sale(app).standing("GA", 10_000, 100).limit(4);
    let opens = app.state.clock.now() - Duration::minutes(59);
    spec.sale_opens_at = opens;
    let ev = create_event(app, spec).await;
    give_artist(app, ev.id, artist, None).await;
    let gold_opens = opens + Duration::hours(1);
    app.state
        .clock
        .freeze_at(gold_opens - Duration::milliseconds(40));

    // Every fan books at once while the clock crosses the GOLD opening.
    let crossed = Arc::new(AtomicBool::new(false));
    let mover = {
        let clock = app.state.clock.clone();
        let crossed = crossed.clone();
        tokio::spawn(async move {
            for _ in 0..80 {
                clock.advance(Duration::milliseconds(1));
                tokio::task::yield_now().await;
            }
            crossed.store(true, Ordering::SeqCst);
        })
    };
    let answers = join_all(
        fans.iter()
            .map(|f| reserve_one(app, f, ev.id, ev.ticket_types[0])),
    )
    .await;
    mover.await.expect("mover");
    let mut created = 0;
    for res in answers {
        match res.status() {
            StatusCode::CREATED => created += 1,
            StatusCode::CONFLICT => {
                let p = json(res).await;
                assert_eq!(p["code"], "SALE_NOT_OPEN", "{p}");
                assert_eq!(time(&p["opens_at"]), gold_opens);
            }
            other => panic!("unexpected {other}"),
        }
    }
    // Whatever interleaving: no hold was written before the window opened.
    let early: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM reservations WHERE event_id = $1 AND created_at < $2",
    )
    .bind(ev.id)
    .bind(gold_opens)
    .fetch_one(app.db())
    .await
    .expect("count");
    assert_eq!(early, 0);
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM reservations WHERE event_id = $1")
        .bind(ev.id)
        .fetch_one(app.db())
        .await
        .expect("count");
    assert_eq!(total, created);
    // After the boundary every one of them gets in.
    assert!(crossed.load(Ordering::SeqCst));
    for f in &fans {
        let f = app.refresh_token(f.clone());
        let s = reserve_one(app, &f, ev.id, ev.ticket_types[0])
            .await
            .status();
        // 200: the fan's hold from the race, 201: a new one.
        assert!(s == StatusCode::CREATED || s == StatusCode::OK, "{s}");
    }
    let holders: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT user_id) FROM reservations WHERE event_id = $1")
            .bind(ev.id)
            .fetch_one(app.db())
            .await
            .expect("count");
    assert_eq!(holders, fans.len() as i64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_queue_refuses_a_fan_whose_window_has_not_opened_without_spending_the_pass() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    freeze(app);
    let artist = create_artist(app).await;
    let fans = create_fans(app, 2).await;
    let (member, fan) = (&fans[0], &fans[1]);
    make_member(app, member.id, artist, 2_000).await;
    let ev = create_event(app, EventSpec::on_sale(app).seats(10)).await;
    give_artist(app, ev.id, artist, Some([0, 60, 120, 24 * 60])).await;
    let admin = app.create_user(Role::Admin).await;
    // The sale opened an hour ago: DIAMOND and GOLD are open, BRONZE in 23 hours.
    put_rules(app, &admin, &rules(app, ev.id, 1, 10), true).await;

    let p = pass(app, ev.id, 1);
    let res = app.fan(fan).join(ev.id, Some(&p)).await;
    let problem = assert_problem(res, StatusCode::CONFLICT, "SALE_NOT_OPEN").await;
    assert_eq!(problem["tier"], "BRONZE");
    let opens: DateTime<Utc> = problem["opens_at"]
        .as_str()
        .expect("opens_at")
        .parse()
        .expect("time");
    assert!(opens > app.state.clock.now());
    let res = app
        .fan(member)
        .join(ev.id, Some(&pass(app, ev.id, 2)))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap_or_default()
    );
    // The refused fan's place was not spent: once their window opens, a pass for the
    // same tier-1 position (the edge re-signs one on every poll) still seats them.
    app.state.clock.freeze_at(opens);
    let fan = app.refresh_token(fan.clone());
    let res = app.fan(&fan).join(ev.id, Some(&pass(app, ev.id, 1))).await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "{}",
        res.text().await.unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_waiting_room_rules_carry_the_presale_and_follow_its_changes() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let opens = freeze(app);
    let artist = create_artist(app).await;
    let mut spec = EventSpec::on_sale(app).seats(10);
    spec.sale_opens_at = opens;
    let ev = create_event(app, spec).await;
    give_artist(app, ev.id, artist, None).await;
    let admin = app.create_user(Role::Admin).await;
    // Whatever the client sends, the origin writes the event's own schedule.
    let mut r = rules(app, ev.id, 1, 10);
    r.presale = vec![shared_wasm::rules::PresaleOpening {
        tier: shared_wasm::rules::PresaleTier::Bronze,
        opens_at: 1,
    }];
    let stored = put_rules(app, &admin, &r, true).await;
    let openings: Vec<(String, i64)> = stored["rules"]["presale"]
        .as_array()
        .expect("presale")
        .iter()
        .map(|w| {
            (
                w["tier"].as_str().expect("tier").to_owned(),
                w["opens_at"].as_i64().expect("t"),
            )
        })
        .collect();
    let at = |h: i64| opens.timestamp() + h * 3_600;
    assert_eq!(
        openings,
        [
            ("DIAMOND".to_owned(), at(0)),
            ("GOLD".to_owned(), at(1)),
            ("SILVER".to_owned(), at(24)),
            ("BRONZE".to_owned(), at(48)),
        ]
    );
    // Sets the schedule (minutes for DIAMOND, GOLD, SILVER, everyone), then reads the
    // rules the edges get.
    let reschedule = |[d, g, s, b]: [i32; 4]| {
        let (admin, path) = (&admin, format!("/api/v1/events/{}/presale", ev.id));
        async move {
            let body =
                json!({"diamond_mins": d, "gold_mins": g, "silver_mins": s, "general_mins": b});
            let res = app.put(&path, &body, Some(&admin.token)).await;
            assert_eq!(res.status(), StatusCode::OK);
            let rules_path = format!("/api/v1/events/{}/edge-rules", ev.id);
            let rules = app.get(&rules_path, Some(&admin.token)).await;
            json(rules).await["rules"].clone()
        }
    };
    // A new schedule is a new rules version with the new openings ...
    let now = reschedule([0, 30, 60, 90]).await;
    assert_eq!(now["version"], 2);
    assert_eq!(now["presale"][3]["opens_at"], at(0) + 90 * 60);
    // ... and opening to everyone at once removes the schedule from the room.
    let now = reschedule([0, 0, 0, 0]).await;
    assert_eq!(now["version"], 3);
    assert_eq!(now.get("presale"), None);
}
