//! Tier 2: joining with edge passes, admission under concurrency, entry tokens guarding
//! booking, and the promoter's edge rules with their pushes.

use crate::fixtures::{EventFixture, EventSpec, create_event, create_fans};
use crate::helpers::{TestApp, TestUser, assert_problem, json, random_key};
use axum::routing::put;
use chrono::Duration;
use rand::seq::SliceRandom;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared_wasm::rules::{EdgeRules, Method as DrawMethod, Mode};
use shared_wasm::token::{self, PassClaims, Role, RulesClaims, SigningKey};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use urr_origin::queue;
use uuid::Uuid;

/// Rules for `event` with tier-2 `capacity`, sale open since an hour.
pub(crate) fn rules(app: &TestApp, event: Uuid, version: u64, capacity: u32) -> EdgeRules {
    let mut r = EdgeRules::default_for(event, app.state.clock.unix() - 3600);
    r.version = version;
    r.max_active = capacity;
    r
}

pub(crate) async fn put_rules(
    app: &TestApp,
    by: &TestUser,
    rules: &EdgeRules,
    edge_tier: bool,
) -> Value {
    let res = app
        .put(
            &format!("/api/v1/events/{}/edge-rules", rules.event_id),
            &json!({ "rules": rules, "edge_tier": edge_tier }),
            Some(&by.token),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap_or_default()
    );
    json(res).await
}

/// A queued event (edge tier on) with `seats` seats and tier-2 `capacity`.
async fn queued_event(
    app: &TestApp,
    admin: &TestUser,
    seats: usize,
    capacity: u32,
) -> EventFixture {
    let ev = create_event(app, EventSpec::on_sale(app).seats(seats)).await;
    put_rules(app, admin, &rules(app, ev.id, 1, capacity), true).await;
    ev
}

fn pass_with(app: &TestApp, key: &SigningKey, event: Uuid, pos: u64) -> String {
    let now = app.state.clock.unix();
    token::sign(
        key,
        &PassClaims {
            evt: event,
            sub: format!("v-{}", Uuid::new_v4().simple()),
            pos,
            jti: Uuid::new_v4().simple().to_string(),
            iat: now,
            exp: now + 120,
        },
    )
}

pub(crate) fn pass(app: &TestApp, event: Uuid, pos: u64) -> String {
    pass_with(app, &app.edge_key, event, pos)
}

async fn join(app: &TestApp, fan: &TestUser, event: Uuid, pass: Option<&str>) -> reqwest::Response {
    app.fan(fan).join(event, pass).await
}

async fn status(app: &TestApp, fan: &TestUser, event: Uuid) -> Value {
    let res = app.fan(fan).queue_status(event).await;
    assert_eq!(res.status(), StatusCode::OK);
    json(res).await
}

async fn reserve(
    app: &TestApp,
    fan: &TestUser,
    event: Uuid,
    seat: Uuid,
    entry: Option<&str>,
) -> reqwest::Response {
    let mut r = app
        .request(
            Method::POST,
            &format!("/api/v1/events/{event}/reservations"),
            Some(&fan.token),
        )
        .json(&json!({ "seat_ids": [seat] }));
    if let Some(t) = entry {
        r = r.header("X-Entry-Token", t);
    }
    r.send().await.expect("reserve")
}

fn entry_of(v: &Value) -> String {
    v["entry_token"]
        .as_str()
        .expect("an entry token")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admitted_fan_books_with_its_entry_token_and_every_bypass_fails() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let a = queued_event(&app, &admin, 10, 10).await;
    let b = queued_event(&app, &admin, 10, 10).await;
    let fans = create_fans(&app, 4).await;
    let (f1, f2, f3) = (&fans[0], &fans[1], &fans[2]);

    // Nobody ahead and a free slot: admitted at once, entry token in the answer.
    let p1 = pass(&app, a.id, 1);
    let res = join(&app, f1, a.id, Some(&p1)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        cookie.starts_with(&format!("urr_entry_{}=", a.id.simple())) && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let v = json(res).await;
    assert_eq!(v["state"], "admitted");
    assert_eq!(v["position"], 1);
    let entry_a = entry_of(&v);

    // Joining again with the same pass answers where the fan stands (200), consumes nothing.
    let again = join(&app, f1, a.id, Some(&p1)).await;
    assert_eq!(again.status(), StatusCode::OK);

    // The same pass cannot seat a second user.
    assert_problem(
        join(&app, f2, a.id, Some(&p1)).await,
        StatusCode::CONFLICT,
        "PASS_ALREADY_USED",
    )
    .await;
    // Nor can another pass for the same tier-1 position.
    assert_problem(
        join(&app, f2, a.id, Some(&pass(&app, a.id, 1))).await,
        StatusCode::CONFLICT,
        "PASS_ALREADY_USED",
    )
    .await;
    // Forged (another key), tampered, of another event, a non-pass, none at all.
    let (rogue, _) = random_key("edge-test");
    assert_problem(
        join(&app, f2, a.id, Some(&pass_with(&app, &rogue, a.id, 2))).await,
        StatusCode::FORBIDDEN,
        "PASS_INVALID",
    )
    .await;
    let mut tampered = pass(&app, a.id, 900).into_bytes();
    let mid = tampered.iter().position(|&c| c == b'.').expect("a dot") + 5;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ascii");
    let res = join(&app, f2, a.id, Some(&tampered)).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let code = json(res).await["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(code == "PASS_INVALID" || code == "PASS_MALFORMED", "{code}");
    assert_problem(
        join(&app, f2, a.id, Some(&pass(&app, b.id, 2))).await,
        StatusCode::FORBIDDEN,
        "PASS_WRONG_EVENT",
    )
    .await;
    assert_problem(
        join(&app, f2, a.id, Some(&f2.token)).await,
        StatusCode::FORBIDDEN,
        "PASS_INVALID",
    )
    .await;
    assert_problem(
        join(&app, f2, a.id, None).await,
        StatusCode::FORBIDDEN,
        "PASS_REQUIRED",
    )
    .await;
    // The position comes from the pass only: a position in the body is refused, one in
    // the query is ignored.
    let res = app
        .post(
            &format!("/api/v1/events/{}/queue/join", a.id),
            &json!({ "pass": pass(&app, a.id, 7), "position": 1 }),
            Some(&f2.token),
        )
        .await;
    assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY").await;
    let res = app
        .post(
            &format!("/api/v1/events/{}/queue/join?position=1", a.id),
            &json!({ "pass": pass(&app, a.id, 7) }),
            Some(&f2.token),
        )
        .await;
    assert_eq!(json(res).await["position"], 7);

    // Booking: no token, a pass, an access token, another user's token, another event's.
    let seat = a.seats[0];
    assert_problem(
        reserve(&app, f1, a.id, seat, None).await,
        StatusCode::FORBIDDEN,
        "ENTRY_TOKEN_REQUIRED",
    )
    .await;
    assert_problem(
        reserve(&app, f1, a.id, seat, Some(&p1)).await,
        StatusCode::FORBIDDEN,
        "ENTRY_TOKEN_WRONG_TYPE",
    )
    .await;
    assert_problem(
        reserve(&app, f1, a.id, seat, Some(&f1.token)).await,
        StatusCode::FORBIDDEN,
        "ENTRY_TOKEN_WRONG_TYPE",
    )
    .await;
    assert_problem(
        reserve(&app, f2, a.id, seat, Some(&entry_a)).await,
        StatusCode::FORBIDDEN,
        "ENTRY_TOKEN_WRONG_USER",
    )
    .await;
    assert_problem(
        reserve(&app, f1, b.id, b.seats[0], Some(&entry_a)).await,
        StatusCode::FORBIDDEN,
        "ENTRY_TOKEN_WRONG_EVENT",
    )
    .await;
    assert_problem(
        reserve(&app, f1, a.id, seat, Some("garbage")).await,
        StatusCode::FORBIDDEN,
        "ENTRY_TOKEN_MALFORMED",
    )
    .await;
    // None of that held anything.
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM reservations")
        .fetch_one(app.db())
        .await
        .expect("count");
    assert_eq!(held, 0);

    // The right token books; the cookie works as well as the header.
    assert_eq!(
        reserve(&app, f1, a.id, seat, Some(&entry_a)).await.status(),
        StatusCode::CREATED
    );
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/events/{}/reservations", a.id),
            Some(&f1.token),
        )
        .header(
            "cookie",
            format!("theme=dark; urr_entry_{}={entry_a}", a.id.simple()),
        )
        .json(&json!({ "seat_ids": [a.seats[1]] }))
        .send()
        .await
        .expect("reserve");
    assert_eq!(res.status(), StatusCode::CREATED);

    // Leaving frees the slot: the token alone no longer books.
    let res = app
        .post(
            &format!("/api/v1/events/{}/queue/leave", a.id),
            &json!({}),
            Some(&f1.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let v = status(&app, f1, a.id).await;
    assert_eq!(v["state"], "expired");
    // f2 (admitted at once with position 7) keeps the event's active set alive, so
    // Redis can tell that f1's slot is over.
    assert_problem(
        reserve(&app, f1, a.id, a.seats[2], Some(&entry_a)).await,
        StatusCode::FORBIDDEN,
        "QUEUE_SLOT_ENDED",
    )
    .await;

    // Expiry: a fresh admission's token dies with its ten minutes.
    let r3 = join(&app, f3, b.id, Some(&pass(&app, b.id, 1))).await;
    let entry_b = entry_of(&json(r3).await);
    app.state.clock.advance(Duration::minutes(11));
    assert_problem(
        reserve(&app, f3, b.id, b.seats[0], Some(&entry_b)).await,
        StatusCode::FORBIDDEN,
        "ENTRY_TOKEN_EXPIRED",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_flush_keeps_signed_entry_tokens_valid() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let ev = queued_event(&app, &admin, 4, 10).await;
    let fan = &create_fans(&app, 1).await[0];
    let v = json(join(&app, fan, ev.id, Some(&pass(&app, ev.id, 1))).await).await;
    let entry = entry_of(&v);
    app.flush_redis().await;
    assert_eq!(
        reserve(&app, fan, ev.id, ev.seats[0], Some(&entry))
            .await
            .status(),
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_the_edge_tier_fans_are_ordered_by_arrival() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let ev = create_event(&app, EventSpec::on_sale(&app).seats(4)).await;
    put_rules(&app, &admin, &rules(&app, ev.id, 1, 1), false).await;
    let fans = create_fans(&app, 3).await;
    let mut positions = Vec::new();
    for f in &fans {
        let res = join(&app, f, ev.id, None).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        positions.push(json(res).await);
    }
    assert_eq!(positions[0]["state"], "admitted");
    assert_eq!(positions[1]["state"], "waiting");
    assert_eq!(positions[1]["ahead"], 0);
    assert_eq!(positions[2]["ahead"], 1);
    let order: Vec<u64> = positions
        .iter()
        .map(|v| v["position"].as_u64().unwrap_or(0))
        .collect();
    assert_eq!(order, vec![1, 2, 3]);
    // The first fan finishes; the next tick admits the second, not the third.
    let res = app
        .post(
            &format!("/api/v1/events/{}/queue/leave", ev.id),
            &json!({}),
            Some(&fans[0].token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let ticks = queue::tick_all(&app.state).await.expect("tick");
    let admitted: Vec<Uuid> = ticks
        .iter()
        .flat_map(|(_, t)| t.admitted.iter().map(|(u, _)| *u))
        .collect();
    assert_eq!(admitted, vec![fans[1].id]);
    assert_eq!(status(&app, &fans[1], ev.id).await["state"], "admitted");
    assert_eq!(status(&app, &fans[2], ev.id).await["state"], "waiting");
}

/// The load test: 5,000 fans join at once (passes in shuffled tier-1 order)
/// while two admission loops run and admitted fans finish; `active` is sampled all
/// along. Then the line drains in tier-1 order, and fans who stop polling are dropped
/// without stalling it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_thousand_joiners_two_loops_never_over_admit_and_keep_pass_order() {
    const FANS: usize = 5_000;
    const CAPACITY: u32 = 500;
    let app = TestApp::spawn_with(&[("URR_QUEUE_TICK_MS", "20"), ("URR_QUEUE_BATCH", "100")]).await;
    let admin = app.create_user(Role::Admin).await;
    let ev = queued_event(&app, &admin, 0, CAPACITY).await;
    let settings = queue::load_settings(app.db(), ev.id)
        .await
        .expect("load")
        .expect("rules");
    let fans = Arc::new(create_fans(&app, FANS).await);
    let mut positions: Vec<u64> = (1..=FANS as u64).collect();
    positions.shuffle(&mut rand::thread_rng());
    let active_key = app.state.redis.tagged(&format!("q:{}", ev.id), "active");

    let stop = Arc::new(AtomicBool::new(false));
    let max_active = Arc::new(AtomicU64::new(0));
    let admitted_total = Arc::new(AtomicU64::new(0));
    let mut background = Vec::new();
    // Sampler: the size of the active set, as often as Redis answers.
    {
        let (stop, max_active, redis, key) = (
            stop.clone(),
            max_active.clone(),
            app.state.redis.clone(),
            active_key.clone(),
        );
        background.push(tokio::spawn(async move {
            let mut samples = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let n: u64 = redis::cmd("ZCARD")
                    .arg(&key)
                    .query_async(&mut redis.conn())
                    .await
                    .unwrap_or(0);
                max_active.fetch_max(n, Ordering::Relaxed);
                samples += 1;
                tokio::task::yield_now().await;
            }
            samples
        }));
    }
    // Two admission loops, as two replicas would run them; each admitted fan finishes
    // (pays, leaves) soon after, freeing its slot for the next.
    for _ in 0..2 {
        let (stop, state, settings, total) = (
            stop.clone(),
            app.state.clone(),
            settings.clone(),
            admitted_total.clone(),
        );
        let event = ev.id;
        background.push(tokio::spawn(async move {
            let mut finished = 0u64;
            let active = state.redis.tagged(&format!("q:{event}"), "active");
            while !stop.load(Ordering::Relaxed) {
                let t = queue::tick(&state, event, &settings).await.expect("tick");
                total.fetch_add(t.admitted.len() as u64, Ordering::Relaxed);
                // Some of those holding a slot finish (pay or leave).
                let done: Vec<String> = redis::cmd("ZRANDMEMBER")
                    .arg(&active)
                    .arg(10)
                    .query_async(&mut state.redis.conn())
                    .await
                    .unwrap_or_default();
                for user in done.iter().filter_map(|u| u.parse::<Uuid>().ok()) {
                    queue::release_slot(&state, event, user).await;
                    finished += 1;
                }
                tokio::task::yield_now().await;
            }
            finished
        }));
    }

    let joins = fans.iter().zip(&positions).map(|(f, &pos)| {
        let app = &app;
        async move {
            // On a loaded 2-core machine a join can outlast the origin's Redis reply
            // timeout (`URR_REDIS_RESPONSE_TIMEOUT_MS`, 2 s); the fan is told 503
            // QUEUE_UNAVAILABLE and retries, as the page does. A retry of a join that
            // did land answers 200 (already in).
            let pass = pass(app, ev.id, pos);
            let mut retried = false;
            let (status, body) = loop {
                let res = join(app, f, ev.id, Some(&pass)).await;
                let status = res.status();
                let body = json(res).await;
                if status == StatusCode::SERVICE_UNAVAILABLE
                    && body["code"] == "QUEUE_UNAVAILABLE"
                    && !retried
                {
                    retried = true;
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
                break (status, body);
            };
            assert!(
                status == StatusCode::CREATED || (retried && status == StatusCode::OK),
                "{status} {body}"
            );
            body["state"].as_str().unwrap_or_default() == "admitted"
        }
    });
    use futures::StreamExt;
    let at_once = futures::stream::iter(joins)
        .buffer_unordered(1000)
        .filter(|a| std::future::ready(*a))
        .count()
        .await;
    stop.store(true, Ordering::Relaxed);
    let mut results = Vec::new();
    for h in background {
        results.push(h.await.expect("task"));
    }
    let samples = results[0];
    let peak = max_active.load(Ordering::Relaxed);
    println!(
        "5,000 joins: {at_once} admitted at join, {} by the loops, {samples} samples, peak active {peak}",
        admitted_total.load(Ordering::Relaxed)
    );
    assert!(
        peak <= u64::from(CAPACITY),
        "active reached {peak} > {CAPACITY}"
    );
    assert!(samples > 100, "the sampler barely ran ({samples} samples)");

    // Drain: every tick admits the lowest positions still waiting.
    let line = |app: &TestApp| {
        let redis = app.state.redis.clone();
        let key = redis.tagged(&format!("q:{}", ev.id), "waiting");
        async move {
            let v: Vec<(String, f64)> = redis::cmd("ZRANGE")
                .arg(&key)
                .arg(0)
                .arg(0)
                .arg("WITHSCORES")
                .query_async(&mut redis.conn())
                .await
                .expect("zrange");
            v.first().map(|(_, s)| *s as u64)
        }
    };
    let by_user: std::collections::HashMap<Uuid, u64> = fans
        .iter()
        .map(|f| f.id)
        .zip(positions.iter().copied())
        .collect();
    let holders: Vec<String> = redis::cmd("ZRANGE")
        .arg(&active_key)
        .arg(0)
        .arg(-1)
        .query_async(&mut app.state.redis.conn())
        .await
        .expect("zrange");
    for u in holders.iter().filter_map(|u| u.parse::<Uuid>().ok()) {
        queue::release_slot(&app.state, ev.id, u).await;
    }
    let mut drained = 0;
    for _ in 0..200 {
        app.state.clock.advance(Duration::milliseconds(25));
        let t = queue::tick(&app.state, ev.id, &settings)
            .await
            .expect("tick");
        let highest = t.admitted.iter().map(|(u, _)| by_user[u]).max();
        if let (Some(h), Some(next)) = (highest, line(&app).await) {
            assert!(h < next, "admitted position {h} while {next} still waits");
        }
        for (u, _) in &t.admitted {
            queue::release_slot(&app.state, ev.id, *u).await;
        }
        drained += t.admitted.len();
        if t.waiting == 0 {
            break;
        }
    }
    let left: u64 = redis::cmd("ZCARD")
        .arg(app.state.redis.tagged(&format!("q:{}", ev.id), "waiting"))
        .query_async(&mut app.state.redis.conn())
        .await
        .expect("zcard");
    assert_eq!(
        left, 0,
        "the line did not drain ({drained} admitted while draining)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fans_who_stop_polling_are_dropped_and_do_not_stall_the_line() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let ev = queued_event(&app, &admin, 0, 1).await;
    let fans = create_fans(&app, 5).await;
    for (i, f) in fans.iter().enumerate() {
        let res = join(&app, f, ev.id, Some(&pass(&app, ev.id, i as u64 + 1))).await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    // fans[0] holds the only slot; 1 and 2 vanish, 3 and 4 keep polling.
    app.state.clock.advance(Duration::seconds(60));
    status(&app, &fans[3], ev.id).await;
    status(&app, &fans[4], ev.id).await;
    app.state.clock.advance(Duration::seconds(40));
    queue::release_slot(&app.state, ev.id, fans[0].id).await;
    let ticks = queue::tick_all(&app.state).await.expect("tick");
    let (_, t) = &ticks[0];
    assert_eq!(t.abandoned, 2);
    assert_eq!(
        t.admitted.iter().map(|(u, _)| *u).collect::<Vec<_>>(),
        vec![fans[3].id]
    );
    // The loop's numbers are in /metrics, per event.
    let metrics = app.metrics().await;
    for name in [
        "urr_queue_waiting",
        "urr_queue_active",
        "urr_queue_admitted_total",
        "urr_queue_abandoned_total",
    ] {
        let line = format!("{name}{{event=\"{}\"}}", ev.id);
        assert!(metrics.contains(&line), "{line} missing from /metrics");
    }
    assert!(metrics.contains("urr_queue_wait_seconds_bucket"));
    assert_eq!(status(&app, &fans[1], ev.id).await["state"], "expired");
    let v = status(&app, &fans[4], ev.id).await;
    assert_eq!(v["state"], "waiting");
    assert_eq!(v["ahead"], 0);
}

/// A stub edge that records rules pushes and answers what it is told.
struct StubEdge {
    url: String,
    seen: Arc<Mutex<Vec<RulesClaims>>>,
    fail: Arc<AtomicBool>,
    /// Seconds the stub's clock is ahead of the system's (tests move the app's clock).
    ahead: Arc<AtomicI64>,
    /// The latest rules version acknowledged, to await a push.
    acked: tokio::sync::watch::Receiver<u64>,
}

async fn stub_edge(origin_keys: shared_wasm::token::KeySet) -> StubEdge {
    let seen = Arc::new(Mutex::new(Vec::<RulesClaims>::new()));
    let fail = Arc::new(AtomicBool::new(false));
    let ahead = Arc::new(AtomicI64::new(0));
    let (acked_tx, acked) = tokio::sync::watch::channel(0u64);
    let acked_tx = Arc::new(acked_tx);
    let (s, f, a) = (seen.clone(), fail.clone(), ahead.clone());
    let app = axum::Router::new().route(
        "/__urr/rules/{event}",
        put(
            move |axum::extract::Path(event): axum::extract::Path<Uuid>, body: String| {
                let (s, f, a, keys) = (s.clone(), f.clone(), a.clone(), origin_keys.clone());
                let acked_tx = acked_tx.clone();
                async move {
                    if f.load(Ordering::Relaxed) {
                        return (
                            axum::http::StatusCode::SERVICE_UNAVAILABLE,
                            "down".to_owned(),
                        );
                    }
                    let now = chrono::Utc::now().timestamp() + a.load(Ordering::Relaxed);
                    match token::verify_for_event::<RulesClaims>(&keys, &body, event, now) {
                        Ok(c) => {
                            let v = c.rules.version;
                            s.lock().expect("lock").push(c);
                            acked_tx.send_modify(|a| *a = (*a).max(v));
                            (axum::http::StatusCode::OK, format!("{{\"version\":{v}}}"))
                        }
                        Err(e) => (axum::http::StatusCode::FORBIDDEN, e.to_string()),
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    StubEdge {
        url: format!("http://{addr}"),
        seen,
        fail,
        ahead,
        acked,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn edge_rules_are_validated_versioned_owned_and_pushed_until_acknowledged() {
    let dead = "http://127.0.0.1:9"; // the discard port: nothing listens
    // Spawn with a known origin key so the stub can verify before the app exists.
    let (origin_key, origin_spec) = random_key("origin-test");
    let edge =
        stub_edge(shared_wasm::token::KeySet::new([origin_key.public_key()]).expect("keys")).await;
    let urls = format!("{},{dead}", edge.url);
    let app = TestApp::spawn_with(&[
        ("URR_ORIGIN_SIGNING_KEY", &origin_spec),
        ("URR_EDGE_URLS", &urls),
    ])
    .await;
    let admin = app.create_user(Role::Admin).await;
    let promoter = app.create_user(Role::Promoter).await;
    let fan = app.create_user(Role::Fan).await;
    let ev = create_event(&app, EventSpec::on_sale(&app)).await;
    let path = format!("/api/v1/events/{}/edge-rules", ev.id);

    assert_problem(
        app.get(&path, Some(&admin.token)).await,
        StatusCode::NOT_FOUND,
        "EDGE_RULES_NOT_SET",
    )
    .await;
    let r1 = rules(&app, ev.id, 1, 50);
    for (who, code) in [(&fan, "FORBIDDEN_ROLE"), (&promoter, "NOT_EVENT_OWNER")] {
        let res = app
            .put(&path, &json!({ "rules": r1 }), Some(&who.token))
            .await;
        assert_problem(res, StatusCode::FORBIDDEN, code).await;
    }
    // Every bad field is reported, prefixed with `rules.`; nothing is stored.
    let mut bad = r1.clone();
    bad.max_active = 0;
    bad.template.title_ko = String::new();
    let v = assert_problem(
        app.put(&path, &json!({ "rules": bad }), Some(&admin.token))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    let fields: HashSet<String> = v["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(
        fields.contains("rules.max_active") && fields.contains("rules.template.title_ko"),
        "{fields:?}"
    );
    let mut other = r1.clone();
    other.event_id = Uuid::new_v4();
    assert_problem(
        app.put(&path, &json!({ "rules": other }), Some(&admin.token))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "RULES_EVENT_MISMATCH",
    )
    .await;
    assert_problem(
        app.put(
            &path,
            &json!({ "rules": r1, "extra": 1 }),
            Some(&admin.token),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_BODY",
    )
    .await;
    assert_problem(
        app.put(
            &path,
            &json!({ "rules": rules(&app, ev.id, 2, 50) }),
            Some(&admin.token),
        )
        .await,
        StatusCode::CONFLICT,
        "RULES_VERSION_CONFLICT",
    )
    .await;

    // v1: the live edge acknowledges at once, the dead one records its error.
    let v = put_rules(&app, &admin, &r1, true).await;
    assert_eq!(v["version"], 1);
    let deliveries = v["deliveries"].as_array().expect("deliveries").clone();
    let live = deliveries
        .iter()
        .find(|d| d["edge_url"] == edge.url.as_str())
        .expect("live");
    assert_eq!(live["acked_version"], 1);
    let down = deliveries
        .iter()
        .find(|d| d["edge_url"] == dead)
        .expect("dead");
    assert_eq!(down["acked_version"], 0);
    assert!(down["last_error"].as_str().is_some());
    assert_eq!(v["delivered"], false);
    assert_eq!(
        edge.seen
            .lock()
            .expect("lock")
            .last()
            .map(|c| c.rules.max_active),
        Some(50)
    );
    // A stale writer (version 1 again) is refused with the current version.
    let v = assert_problem(
        app.put(&path, &json!({ "rules": r1 }), Some(&admin.token))
            .await,
        StatusCode::CONFLICT,
        "RULES_VERSION_CONFLICT",
    )
    .await;
    assert_eq!(v["current_version"], 1);

    // v2 (random draw) while the edge is down: not acknowledged, retried later.
    edge.fail.store(true, Ordering::Relaxed);
    let mut r2 = rules(&app, ev.id, 2, 80);
    r2.method = DrawMethod::Random;
    r2.prequeue_opens_at = Some(r2.sale_opens_at - 600);
    let v = put_rules(&app, &admin, &r2, true).await;
    let commitment = v["rules"]["draw_seed_commitment"]
        .as_str()
        .expect("commitment")
        .to_owned();
    assert_eq!(commitment.len(), 64);
    let live = v["deliveries"]
        .as_array()
        .expect("d")
        .iter()
        .find(|d| d["edge_url"] == edge.url.as_str())
        .cloned()
        .expect("live");
    assert_eq!(live["acked_version"], 1);
    edge.fail.store(false, Ordering::Relaxed);
    // Not due yet (backoff); then due.
    assert_eq!(queue::push_due(&app.state, None).await.expect("push"), 0);
    app.state.clock.advance(Duration::seconds(61));
    edge.ahead.store(61, Ordering::Relaxed);
    let acked = queue::push_due(&app.state, None).await.expect("push");
    assert_eq!(acked, 1, "only the live edge acknowledges");
    let pushed = edge
        .seen
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("pushed");
    assert_eq!(pushed.rules.version, 2);
    assert_eq!(pushed.rules.mode, Mode::Queue);
    assert_eq!(
        pushed.event_name.as_deref().map(|n| !n.is_empty()),
        Some(true)
    );
    let seed = pushed.draw_seed.expect("the draw seed goes to the edge");
    let seed = shared_wasm::queue::seed_from_hex(&seed).expect("hex seed");
    assert!(shared_wasm::queue::verify_seed(&seed, &commitment));
    let v = json(app.get(&path, Some(&admin.token)).await).await;
    let live = v["deliveries"]
        .as_array()
        .expect("d")
        .iter()
        .find(|d| d["edge_url"] == edge.url.as_str())
        .cloned()
        .expect("live");
    assert_eq!(live["acked_version"], 2);
    // The seed never reaches the promoter's API.
    assert!(
        !v.to_string()
            .contains(&shared_wasm::queue::seed_to_hex(&seed))
    );

    // Edge tier off: the edge is told to let everything through to the origin's line.
    let r3 = rules(&app, ev.id, 3, 80);
    let v = put_rules(&app, &admin, &r3, false).await;
    assert_eq!(
        v["rules"]["mode"], "queue",
        "the origin's own rules keep queueing"
    );
    let pushed = edge
        .seen
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("pushed");
    assert_eq!(
        (pushed.rules.version, pushed.rules.mode),
        (3, Mode::Passthrough)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paying_frees_the_slot_for_the_next_fan() {
    use crate::client::{authorize, confirm, spawn_env};
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let admin = app.create_user(Role::Admin).await;
    let ev = queued_event(app, &admin, 4, 1).await;
    let fans = create_fans(app, 2).await;
    let first = json(join(app, &fans[0], ev.id, Some(&pass(app, ev.id, 1))).await).await;
    let second = json(join(app, &fans[1], ev.id, Some(&pass(app, ev.id, 2))).await).await;
    assert_eq!(second["state"], "waiting");

    let held = crate::client::held_from(
        reserve(app, &fans[0], ev.id, ev.seats[0], Some(&entry_of(&first))).await,
    )
    .await;
    let key = authorize(&env.fake, &held).await;
    let res = confirm(app, &fans[0], &key, &held.order_id, held.amount).await;
    assert_eq!(res.status(), StatusCode::OK);

    // The payer's slot is free: the next tick admits the second fan.
    assert_eq!(status(app, &fans[0], ev.id).await["state"], "expired");
    queue::tick_all(&app.state).await.expect("tick");
    let v = status(app, &fans[1], ev.id).await;
    assert_eq!(v["state"], "admitted");
    assert!(v["entry_token"].as_str().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn modes_windows_and_unknowns_answer_with_clear_problems() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let fan = &create_fans(&app, 1).await[0];
    let ev = queued_event(&app, &admin, 4, 10).await;
    let join_path = |e: Uuid| format!("/api/v1/events/{e}/queue/join");

    // Unknown event, an event without a queue, a fan who never joined.
    let res = join(&app, fan, Uuid::new_v4(), None).await;
    assert_problem(res, StatusCode::NOT_FOUND, "EVENT_NOT_FOUND").await;
    let plain = create_event(&app, EventSpec::on_sale(&app).seats(2)).await;
    assert_problem(
        join(&app, fan, plain.id, None).await,
        StatusCode::NOT_FOUND,
        "QUEUE_NOT_FOUND",
    )
    .await;
    let res = app.fan(fan).queue_status(ev.id).await;
    assert_problem(res, StatusCode::NOT_FOUND, "NOT_IN_QUEUE").await;
    // Not logged in; malformed body.
    let res = app.post(&join_path(ev.id), &json!({}), None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = app
        .request(Method::POST, &join_path(ev.id), Some(&fan.token))
        .header("content-type", "application/json")
        .body("{\"pass\": ")
        .send()
        .await
        .expect("post");
    assert_problem(res, StatusCode::BAD_REQUEST, "MALFORMED_JSON").await;

    // Maintenance: no joins, with Retry-After.
    let mut r = rules(&app, ev.id, 2, 10);
    r.mode = Mode::Maintenance;
    put_rules(&app, &admin, &r, true).await;
    let res = join(&app, fan, ev.id, Some(&pass(&app, ev.id, 1))).await;
    assert!(res.headers().get("retry-after").is_some());
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "QUEUE_MAINTENANCE").await;
    // Reject: closed, and booking still needs a token nobody gets.
    r.version = 3;
    r.mode = Mode::Reject;
    put_rules(&app, &admin, &r, true).await;
    assert_problem(
        join(&app, fan, ev.id, Some(&pass(&app, ev.id, 1))).await,
        StatusCode::CONFLICT,
        "QUEUE_CLOSED",
    )
    .await;
    assert_problem(
        reserve(&app, fan, ev.id, ev.seats[0], None).await,
        StatusCode::FORBIDDEN,
        "ENTRY_TOKEN_REQUIRED",
    )
    .await;
    // Passthrough: no queue to join, booking needs no token.
    r.version = 4;
    r.mode = Mode::Passthrough;
    put_rules(&app, &admin, &r, true).await;
    assert_problem(
        join(&app, fan, ev.id, Some(&pass(&app, ev.id, 1))).await,
        StatusCode::CONFLICT,
        "QUEUE_NOT_REQUIRED",
    )
    .await;
    assert_eq!(
        reserve(&app, fan, ev.id, ev.seats[0], None).await.status(),
        StatusCode::CREATED
    );
    // Before the pre-queue opens: not yet, with the opening time.
    r.version = 5;
    r.mode = Mode::Queue;
    r.sale_opens_at = app.state.clock.unix() + 3600;
    put_rules(&app, &admin, &r, true).await;
    let v = assert_problem(
        join(&app, fan, ev.id, Some(&pass(&app, ev.id, 1))).await,
        StatusCode::CONFLICT,
        "QUEUE_NOT_OPEN",
    )
    .await;
    assert!(v["opens_at"].as_str().is_some(), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_redis_down_joins_are_refused_and_entry_tokens_still_book() {
    let app = TestApp::spawn_with(&[("URR_REDIS_URL", "redis://127.0.0.1:1")]).await;
    let admin = app.create_user(Role::Admin).await;
    let fan = &create_fans(&app, 1).await[0];
    let ev = queued_event(&app, &admin, 4, 10).await;
    let res = join(&app, fan, ev.id, Some(&pass(&app, ev.id, 1))).await;
    assert!(res.headers().get("retry-after").is_some());
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "QUEUE_UNAVAILABLE").await;
    // An entry token issued before the outage still books (Postgres decides the seat).
    let (entry, _) = queue::sign_entry(
        &app.state,
        ev.id,
        fan.id,
        app.state.clock.unix_ms() + 600_000,
    );
    assert_eq!(
        reserve(&app, fan, ev.id, ev.seats[0], Some(&entry))
            .await
            .status(),
        StatusCode::CREATED
    );
    // And a second fan cannot take that seat, Redis or not.
    let other = &create_fans(&app, 1).await[0];
    let (entry2, _) = queue::sign_entry(
        &app.state,
        ev.id,
        other.id,
        app.state.clock.unix_ms() + 600_000,
    );
    let res = reserve(&app, other, ev.id, ev.seats[0], Some(&entry2)).await;
    assert_problem(res, StatusCode::CONFLICT, "SEAT_UNAVAILABLE").await;
}

/// Cancelling a queued event closes its waiting room: the rules turn to `reject` as the
/// next version, every edge is told at once, and the origin's line refuses joins and
/// polls with a clear answer instead of leaving fans "waiting" for a show that is off.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_a_queued_event_closes_its_line_and_tells_the_edges() {
    let (origin_key, origin_spec) = random_key("origin-test");
    let edge =
        stub_edge(shared_wasm::token::KeySet::new([origin_key.public_key()]).expect("keys")).await;
    let app = TestApp::spawn_with(&[
        ("URR_ORIGIN_SIGNING_KEY", &origin_spec),
        ("URR_EDGE_URLS", &edge.url),
    ])
    .await;
    let admin = app.create_user(Role::Admin).await;
    let ev = queued_event(&app, &admin, 10, 1).await;
    let fans = create_fans(&app, 3).await;
    for (i, fan) in fans[..2].iter().enumerate() {
        let p = pass(&app, ev.id, i as u64 + 1);
        assert_eq!(
            join(&app, fan, ev.id, Some(&p)).await.status(),
            StatusCode::CREATED
        );
    }
    assert_eq!(status(&app, &fans[1], ev.id).await["state"], "waiting");

    let res = app
        .post(
            &format!("/api/v1/events/{}/cancel", ev.id),
            &json!({}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    let mut acked = edge.acked.clone();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        acked.wait_for(|v| *v >= 2),
    )
    .await
    .expect("the edge hears of the cancellation without waiting for the pusher's next round")
    .expect("stub edge alive");
    let last = edge
        .seen
        .lock()
        .expect("lock")
        .last()
        .cloned()
        .expect("a push");
    assert_eq!(last.rules.version, 2);
    assert_eq!(last.rules.mode, shared_wasm::rules::Mode::Reject);

    for fan in &fans[..2] {
        let res = app.fan(fan).queue_status(ev.id).await;
        assert_problem(res, StatusCode::CONFLICT, "QUEUE_CLOSED").await;
    }
    let p = pass(&app, ev.id, 3);
    assert_problem(
        join(&app, &fans[2], ev.id, Some(&p)).await,
        StatusCode::CONFLICT,
        "QUEUE_CLOSED",
    )
    .await;
}

fn pass_expiring(key: &SigningKey, event: Uuid, pos: u64, exp: i64) -> String {
    token::sign(
        key,
        &PassClaims {
            evt: event,
            sub: format!("v-{}", Uuid::new_v4().simple()),
            pos,
            jti: Uuid::new_v4().simple().to_string(),
            iat: exp - 600,
            exp,
        },
    )
}

/// Milliseconds the Redis key whose name contains `needle` has left.
async fn pttl_of(app: &TestApp, needle: &str) -> i64 {
    let keys = app.redis_keys().await;
    let key = keys
        .iter()
        .find(|k| k.contains(needle))
        .unwrap_or_else(|| panic!("no key with {needle} in {keys:?}"));
    redis::cmd("PTTL")
        .arg(key)
        .query_async(&mut app.state.redis.conn())
        .await
        .expect("PTTL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tier1_position_seats_one_account_for_the_whole_sale() {
    let (second_edge, _) = random_key("edge-two");
    let (first_edge, _) = random_key("edge-one");
    let app = TestApp::spawn_with(&[(
        "URR_EDGE_PUBLIC_KEYS",
        &format!("{},{}", first_edge.public_key(), second_edge.public_key()),
    )])
    .await;
    let admin = app.create_user(Role::Admin).await;
    let ev = create_event(&app, EventSpec::on_sale(&app).seats(4)).await;
    let now = app.state.clock.unix();
    let mut r = rules(&app, ev.id, 1, 1);
    r.sale_closes_at = Some(now + 4 * 3600);
    put_rules(&app, &admin, &r, true).await;
    let fans = create_fans(&app, 4).await;
    let (a, b, c, d) = (&fans[0], &fans[1], &fans[2], &fans[3]);

    // A is seated by position 5 with a pass presented inside the skew window (its
    // `exp` just passed): the marker must not live only as long as that pass could.
    let late = pass_expiring(&first_edge, ev.id, 5, now - 29);
    assert_eq!(
        join(&app, a, ev.id, Some(&late)).await.status(),
        StatusCode::CREATED
    );
    let c_pass = pass_with(&app, &first_edge, ev.id, 6);
    assert_eq!(
        json(join(&app, c, ev.id, Some(&c_pass)).await).await["state"],
        "waiting"
    );
    let left = pttl_of(&app, ":pass:edge-one:5").await;
    assert!(
        left > (4 * 3600 - 60) * 1000,
        "position 5 stays taken until the sale closes, not {left} ms"
    );

    // A fresh pass for the same position, as the edge re-signs on every poll, presented
    // by another account: refused, so B cannot jump ahead of C (position 6).
    let again = pass_with(&app, &first_edge, ev.id, 5);
    assert_problem(
        join(&app, b, ev.id, Some(&again)).await,
        StatusCode::CONFLICT,
        "PASS_ALREADY_USED",
    )
    .await;
    assert!(matches!(
        app.fan(b).queue_status(ev.id).await.status(),
        StatusCode::NOT_FOUND
    ));
    assert_eq!(status(&app, c, ev.id).await["ahead"], 0);

    // Another edge deployment (its own key) counts its own positions: its 5 is not
    // the first edge's 5, and both wait in pass order.
    let other = pass_with(&app, &second_edge, ev.id, 5);
    let v = json(join(&app, d, ev.id, Some(&other)).await).await;
    assert_eq!(v["state"], "waiting");
    assert_eq!(v["position"], 5);
    assert_eq!(
        status(&app, c, ev.id).await["ahead"],
        1,
        "D (5) waits ahead of C (6)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn leaving_ends_the_slot_even_when_nobody_else_holds_one() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let ev = queued_event(&app, &admin, 4, 10).await;
    let fan = &create_fans(&app, 1).await[0];
    let v = json(join(&app, fan, ev.id, Some(&pass(&app, ev.id, 1))).await).await;
    assert_eq!(v["state"], "admitted");
    let entry = entry_of(&v);
    let res = app
        .post(
            &format!("/api/v1/events/{}/queue/leave", ev.id),
            &json!({}),
            Some(&fan.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // The active set is empty now; the guard still knows the line and refuses.
    assert_problem(
        reserve(&app, fan, ev.id, ev.seats[0], Some(&entry)).await,
        StatusCode::FORBIDDEN,
        "QUEUE_SLOT_ENDED",
    )
    .await;
    assert_eq!(app.count_rows("reservations").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn paying_ends_the_slot_so_the_entry_token_books_no_more() {
    use crate::client::{authorize, confirm, spawn_env};
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let admin = app.create_user(Role::Admin).await;
    let ev = queued_event(app, &admin, 4, 10).await;
    let fan = &create_fans(app, 1).await[0];
    let v = json(join(app, fan, ev.id, Some(&pass(app, ev.id, 1))).await).await;
    let entry = entry_of(&v);
    let held =
        crate::client::held_from(reserve(app, fan, ev.id, ev.seats[0], Some(&entry)).await).await;
    let key = authorize(&env.fake, &held).await;
    let res = confirm(app, fan, &key, &held.order_id, held.amount).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_problem(
        reserve(app, fan, ev.id, ev.seats[1], Some(&entry)).await,
        StatusCode::FORBIDDEN,
        "QUEUE_SLOT_ENDED",
    )
    .await;
    assert_eq!(app.count_rows("reservations").await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_joins_and_reservation_attempts_are_limited_per_account() {
    let app = TestApp::spawn_with(&[
        ("URR_RATE_QUEUE_JOINS_PER_USER_PER_SEC", "2"),
        ("URR_RATE_RESERVATIONS_PER_USER_PER_SEC", "3"),
    ])
    .await;
    let admin = app.create_user(Role::Admin).await;
    let ev = queued_event(&app, &admin, 8, 10).await;
    let fans = create_fans(&app, 2).await;
    let (fan, other) = (&fans[0], &fans[1]);
    // Stop the clock at the start of a second so every call falls in one window.
    let next = app.state.clock.unix() + 1;
    app.state
        .clock
        .freeze_at(chrono::DateTime::from_timestamp(next, 0).expect("time"));
    let p = pass(&app, ev.id, 1);
    let first = json(join(&app, fan, ev.id, Some(&p)).await).await;
    let entry = entry_of(&first);
    assert_eq!(
        join(&app, fan, ev.id, Some(&p)).await.status(),
        StatusCode::OK
    );
    let res = join(&app, fan, ev.id, Some(&p)).await;
    assert_eq!(
        res.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    // Another account is not affected.
    let p2 = pass(&app, ev.id, 2);
    assert_eq!(
        join(&app, other, ev.id, Some(&p2)).await.status(),
        StatusCode::CREATED
    );

    for seat in &ev.seats[..3] {
        let res = reserve(&app, fan, ev.id, *seat, Some(&entry)).await;
        assert_ne!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let before = app.count_rows("reservations").await;
    assert_problem(
        reserve(&app, fan, ev.id, ev.seats[3], Some(&entry)).await,
        StatusCode::TOO_MANY_REQUESTS,
        "RATE_LIMITED",
    )
    .await;
    assert_eq!(
        app.count_rows("reservations").await,
        before,
        "nothing written"
    );
    // The next second the account may try again.
    app.state.clock.advance(Duration::seconds(1));
    assert_ne!(
        reserve(&app, fan, ev.id, ev.seats[3], Some(&entry))
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rules_of_a_cancelled_event_cannot_be_changed() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let ev = queued_event(&app, &admin, 2, 10).await;
    let res = app
        .post(
            &format!("/api/v1/events/{}/cancel", ev.id),
            &json!({}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let current = json(
        app.get(
            &format!("/api/v1/events/{}/edge-rules", ev.id),
            Some(&admin.token),
        )
        .await,
    )
    .await;
    let version = current["rules"]["version"].as_u64().expect("version");
    let mut reopened = rules(&app, ev.id, version + 1, 10);
    reopened.mode = Mode::Queue;
    let res = app
        .put(
            &format!("/api/v1/events/{}/edge-rules", ev.id),
            &json!({ "rules": reopened, "edge_tier": true }),
            Some(&admin.token),
        )
        .await;
    assert_problem(res, StatusCode::CONFLICT, "EVENT_CANCELLED").await;
    let after = json(
        app.get(
            &format!("/api/v1/events/{}/edge-rules", ev.id),
            Some(&admin.token),
        )
        .await,
    )
    .await;
    assert_eq!(after["rules"]["version"].as_u64(), Some(version));
    assert_eq!(after["rules"]["mode"], "reject");
}
