//! Catalog: events, ticket types, artists, venues, seat layouts, over HTTP.
//!
//! These tests run on the multi-thread runtime: `TestApp`'s `Drop` blocks its thread
//! while it closes the pool, and on a current-thread runtime nothing would drive the
//! sockets of that pool meanwhile (an intermittent hang at the end of a test).

use crate::helpers::{TestApp, TestUser, assert_problem, json};
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use shared_wasm::token::Role;
use std::collections::HashSet;
use urr_origin::catalog;

/// `(section, seats, price)` of a seat map.
type SectionCounts = &'static [(&'static str, i64, i64)];

/// An admin, a promoter, a venue and an artist.
struct World {
    admin: TestUser,
    promoter: TestUser,
    venue: String,
    artist: String,
}

async fn world(app: &TestApp) -> World {
    let admin = app.create_user(Role::Admin).await;
    let promoter = app.create_user(Role::Promoter).await;
    let venue = create_venue(app, &admin, "블루스퀘어").await;
    let artist = create_artist(app, &admin, "아이유", Some("IU"), &["이지은"]).await;
    World {
        admin,
        promoter,
        venue,
        artist,
    }
}

async fn create_venue(app: &TestApp, admin: &TestUser, name: &str) -> String {
    let res = app
        .post(
            "/api/v1/venues",
            &json!({"name": name, "address": "서울특별시 용산구 이태원로 294", "city": "서울"}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    id_of(&json(res).await)
}

async fn create_artist(
    app: &TestApp,
    admin: &TestUser,
    name: &str,
    name_en: Option<&str>,
    aliases: &[&str],
) -> String {
    let res = app
        .post(
            "/api/v1/artists",
            &json!({"name": name, "name_en": name_en, "aliases": aliases}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    id_of(&json(res).await)
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

fn now(app: &TestApp) -> DateTime<Utc> {
    app.state.clock.now()
}

/// A standing event whose sale opens at `opens` (relative to now) and lasts a day; the
/// show starts a day after the sale closes.
fn event_body(app: &TestApp, venue: &str, title: &str, opens: Duration) -> Value {
    let sale_opens = now(app) + opens;
    json!({
        "title": title,
        "description": "설명 / description",
        "venue_id": venue,
        "sale_opens_at": sale_opens,
        "sale_closes_at": sale_opens + Duration::days(1),
        "starts_at": sale_opens + Duration::days(2),
        "ticket_types": [{"name": "스탠딩 일반", "price": 88000, "total_quantity": 500}],
    })
}

async fn create_event(app: &TestApp, token: &str, body: &Value) -> Value {
    let res = app.post("/api/v1/events", body, Some(token)).await;
    let status = res.status();
    let location = res
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = json(res).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/v1/events/{}", id_of(&body)).as_str())
    );
    body
}

async fn get_query(app: &TestApp, path: &str, query: &[(&str, &str)]) -> Response {
    app.request(Method::GET, path, None)
        .query(query)
        .send()
        .await
        .expect("GET")
}

async fn list_ids(app: &TestApp, query: &[(&str, &str)]) -> Vec<String> {
    let res = get_query(app, "/api/v1/events", query).await;
    assert_eq!(res.status(), StatusCode::OK);
    json(res).await["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id_of)
        .collect()
}

/// Row counts of every catalog table.
async fn counts(app: &TestApp) -> Vec<i64> {
    let mut out = Vec::new();
    for t in [
        "artists",
        "venues",
        "seat_layouts",
        "events",
        "seats",
        "ticket_types",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {t}"))
            .fetch_one(app.db())
            .await
            .expect("count");
        out.push(n);
    }
    out
}

/// Field names of a 422 problem.
fn fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["field"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn layout_id(app: &TestApp, name: &str) -> String {
    let body = json(get_query(app, "/api/v1/seat-layouts", &[]).await).await;
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|l| l["name"] == name)
        .map(id_of)
        .unwrap_or_else(|| panic!("no layout {name}: {body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promoters_manage_their_own_events_and_admins_any() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let other = app.create_user(Role::Promoter).await;
    let fan = app.create_user(Role::Fan).await;

    let mut body = event_body(&app, &w.venue, "아이유 콘서트", Duration::hours(1));
    body["artist_id"] = json!(w.artist);
    let event = create_event(&app, &w.promoter.token, &body).await;
    let id = id_of(&event);
    let path = format!("/api/v1/events/{id}");
    assert_eq!(event["promoter_id"], w.promoter.id.to_string());
    assert_eq!(event["status"], "upcoming");
    assert_eq!(event["version"], 0);
    assert_eq!(event["artist"]["name_en"], "IU");
    assert_eq!(event["ticket_types"][0]["available_quantity"], 500);
    assert_eq!(event["seat_map"], Value::Null);
    assert_eq!(event["has_seat_map"], false);

    // The owner edits.
    let res = app
        .patch(
            &path,
            &json!({"title": "아이유 콘서트 〈HEREH〉", "max_tickets_per_user": 2}),
            Some(&w.promoter.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let edited = json(res).await;
    assert_eq!(edited["title"], "아이유 콘서트 〈HEREH〉");
    assert_eq!(edited["max_tickets_per_user"], 2);
    assert_eq!(edited["version"], 1);

    // Optimistic concurrency: a stale version (header or body) is refused.
    let res = app
        .request(Method::PATCH, &path, Some(&w.promoter.token))
        .header("if-match", "\"0\"")
        .json(&json!({"title": "stale"}))
        .send()
        .await
        .expect("PATCH");
    let p = assert_problem(res, StatusCode::CONFLICT, "VERSION_CONFLICT").await;
    assert_eq!(p["current_version"], 1);
    assert_problem(
        app.patch(
            &path,
            &json!({"title": "stale", "version": 0}),
            Some(&w.promoter.token),
        )
        .await,
        StatusCode::CONFLICT,
        "VERSION_CONFLICT",
    )
    .await;
    let res = app
        .request(Method::PATCH, &path, Some(&w.promoter.token))
        .header("if-match", "\"1\"")
        .json(&json!({"poster_url": "https://img.urr.dev/iu.jpg"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["version"], 2);

    // Another promoter, a fan, nobody (with bodies valid for each route).
    for (method, p, req_body) in [
        (Method::PATCH, path.clone(), json!({"title": "hijack"})),
        (Method::POST, format!("{path}/cancel"), json!({})),
        (Method::DELETE, path.clone(), json!({})),
        (
            Method::POST,
            format!("{path}/ticket-types"),
            json!({"name": "x", "price": 1, "total_quantity": 1}),
        ),
    ] {
        for (token, status, code) in [
            (Some(&other.token), StatusCode::FORBIDDEN, "NOT_EVENT_OWNER"),
            (Some(&fan.token), StatusCode::FORBIDDEN, "FORBIDDEN_ROLE"),
            (None, StatusCode::UNAUTHORIZED, "AUTH_REQUIRED"),
        ] {
            let res = app
                .request(method.clone(), &p, token.map(String::as_str))
                .json(&req_body)
                .send()
                .await
                .expect("send");
            assert_problem(res, status, code).await;
        }
    }
    let unchanged = json(app.get(&path, None).await).await;
    assert_eq!(unchanged["version"], 2, "refused writes change nothing");
    assert_problem(
        app.post("/api/v1/events", &body, Some(&fan.token)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;
    assert_problem(
        app.post("/api/v1/events", &body, None).await,
        StatusCode::UNAUTHORIZED,
        "AUTH_REQUIRED",
    )
    .await;
    // A promoter cannot create events for someone else; an admin can.
    let mut for_other = body.clone();
    for_other["promoter_id"] = json!(other.id);
    assert_problem(
        app.post("/api/v1/events", &for_other, Some(&w.promoter.token))
            .await,
        StatusCode::FORBIDDEN,
        "NOT_EVENT_OWNER",
    )
    .await;
    let by_admin = create_event(&app, &w.admin.token, &for_other).await;
    assert_eq!(by_admin["promoter_id"], other.id.to_string());

    // The admin edits anyone's event.
    let res = app
        .patch(
            &path,
            &json!({"description": "관리자 수정 / edited by an admin"}),
            Some(&w.admin.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        json(res).await["description"],
        "관리자 수정 / edited by an admin"
    );

    // The owner cancels; the status is immediate; a cancelled event is frozen.
    let res = app
        .post(
            &format!("{path}/cancel"),
            &json!({}),
            Some(&w.promoter.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let cancelled = json(res).await;
    assert_eq!(cancelled["status"], "cancelled");
    assert!(cancelled["cancelled_at"].is_string());
    assert_problem(
        app.post(
            &format!("{path}/cancel"),
            &json!({}),
            Some(&w.promoter.token),
        )
        .await,
        StatusCode::CONFLICT,
        "EVENT_ALREADY_CANCELLED",
    )
    .await;
    assert_problem(
        app.patch(&path, &json!({"title": "again"}), Some(&w.promoter.token))
            .await,
        StatusCode::CONFLICT,
        "EVENT_CANCELLED",
    )
    .await;
    // Cancelled events leave the default list but stay reachable.
    assert!(!list_ids(&app, &[]).await.contains(&id));
    assert!(
        list_ids(&app, &[("status", "cancelled")])
            .await
            .contains(&id)
    );

    // The owner deletes (nothing sold); it is gone with its ticket types.
    let res = app.delete(&path, Some(&w.promoter.token)).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        app.get(&path, None).await,
        StatusCode::NOT_FOUND,
        "EVENT_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.delete(&path, Some(&w.promoter.token)).await,
        StatusCode::NOT_FOUND,
        "EVENT_NOT_FOUND",
    )
    .await;
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM ticket_types WHERE event_id = $1")
        .bind(uuid::Uuid::parse_str(&id).expect("uuid"))
        .fetch_one(app.db())
        .await
        .expect("count");
    assert_eq!(left, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_events_are_refused_naming_each_field() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let before = counts(&app).await;
    let token = w.promoter.token.as_str();
    let base = event_body(&app, &w.venue, "Valid", Duration::hours(1));
    let opens = now(&app) + Duration::hours(1);

    let cases: Vec<(Value, &[&str])> = vec![
        // Sale closes before it opens.
        (
            json!({"sale_opens_at": opens, "sale_closes_at": opens - Duration::hours(1)}),
            &["sale_closes_at"],
        ),
        // Sale closes after the show starts.
        (
            json!({"sale_closes_at": opens + Duration::days(3)}),
            &["sale_closes_at"],
        ),
        // Show ends before it starts.
        (json!({"ends_at": opens}), &["ends_at"]),
        (
            json!({"ticket_types": [{"name": "x", "price": -1, "total_quantity": 10}]}),
            &["ticket_types[0].price"],
        ),
        (
            json!({"ticket_types": [
                {"name": "ok", "price": 1, "total_quantity": 1},
                {"name": " ", "price": 1, "total_quantity": 1_000_001}]}),
            &["ticket_types[1].name", "ticket_types[1].total_quantity"],
        ),
        (
            json!({"seat_layout_id": uuid::Uuid::new_v4()}),
            &["seat_layout_id"],
        ),
        (json!({"venue_id": uuid::Uuid::new_v4()}), &["venue_id"]),
        (json!({"artist_id": uuid::Uuid::new_v4()}), &["artist_id"]),
        (json!({"title": "   "}), &["title"]),
        (json!({"title": "t".repeat(201)}), &["title"]),
        (
            json!({"max_tickets_per_user": 0}),
            &["max_tickets_per_user"],
        ),
        (
            json!({"max_tickets_per_user": 21}),
            &["max_tickets_per_user"],
        ),
        (
            json!({"poster_url": "javascript:alert(1)"}),
            &["poster_url"],
        ),
        (json!({"section_prices": {"VIP": 1}}), &["section_prices"]),
        (
            json!({"starts_at": "2500-01-01T00:00:00Z", "sale_closes_at": opens + Duration::days(1)}),
            &["starts_at"],
        ),
        // Several at once.
        (
            json!({"title": "", "venue_id": uuid::Uuid::new_v4(),
                   "ticket_types": [{"name": "x", "price": 20_000_000, "total_quantity": -1}]}),
            &[
                "title",
                "venue_id",
                "ticket_types[0].price",
                "ticket_types[0].total_quantity",
            ],
        ),
    ];
    for (patch, want) in cases {
        let mut body = base.clone();
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        let p = assert_problem(
            app.post("/api/v1/events", &body, Some(token)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        )
        .await;
        let got = fields(&p);
        for f in want {
            assert!(got.iter().any(|g| g == f), "{f} not in {got:?} for {patch}");
        }
    }

    // Section prices must name a section or grade of the layout.
    let mut seated = base.clone();
    seated["seat_layout_id"] = json!(layout_id(&app, catalog::SMALL_THEATER).await);
    seated["section_prices"] = json!({"Balcony": 1000, "VIP": -5});
    let p = assert_problem(
        app.post("/api/v1/events", &seated, Some(token)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(
        fields(&p),
        ["section_prices.Balcony", "section_prices.VIP"],
        "{p}"
    );
    assert_eq!(counts(&app).await, before, "nothing written");

    // PATCH: the layout and seat prices are fixed; the window is checked as merged.
    let event = create_event(&app, token, &base).await;
    let path = format!("/api/v1/events/{}", id_of(&event));
    let p = assert_problem(
        app.patch(
            &path,
            &json!({"seat_layout_id": null, "section_prices": {"VIP": 1}}),
            Some(token),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(fields(&p), ["seat_layout_id", "section_prices"]);
    let p = assert_problem(
        app.patch(
            &path,
            &json!({"sale_opens_at": opens + Duration::days(5)}),
            Some(token),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(fields(&p), ["sale_closes_at"]);
    let p = assert_problem(
        app.patch(
            &path,
            &json!({"artist_id": uuid::Uuid::new_v4(), "title": ""}),
            Some(token),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(fields(&p), ["title", "artist_id"]);
    let after = json(app.get(&path, None).await).await;
    assert_eq!(after["version"], 0, "refused edits change nothing");
    assert_eq!(after["title"], "Valid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_is_stable_while_events_are_inserted() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let base = now(&app) + Duration::days(10);
    let mk = |title: String, starts: DateTime<Utc>| {
        json!({
            "title": title,
            "venue_id": w.venue,
            "sale_opens_at": now(&app),
            "sale_closes_at": starts - Duration::hours(1),
            "starts_at": starts,
        })
    };
    let mut original = Vec::new();
    for i in 0..10i64 {
        // Two pairs share a start time: the id breaks the tie.
        let starts = base + Duration::hours(i - i % 2 * (i / 5));
        let e = create_event(&app, &w.promoter.token, &mk(format!("원본 {i}"), starts)).await;
        original.push(id_of(&e));
    }

    let mut seen: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut q = vec![("limit", "3".to_owned())];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let res = get_query(&app, "/api/v1/events", &q).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = json(res).await;
        let items = page["items"].as_array().expect("items");
        assert!(items.len() <= 3);
        seen.extend(items.iter().map(id_of));
        pages += 1;
        // Between pages, insert events before, at and after the current position.
        let last_start: DateTime<Utc> = items
            .last()
            .and_then(|i| i["starts_at"].as_str())
            .and_then(|s| s.parse().ok())
            .unwrap_or(base);
        for (n, starts) in [
            base - Duration::hours(5),
            last_start,
            base + Duration::hours(100 + pages),
        ]
        .into_iter()
        .enumerate()
        {
            create_event(
                &app,
                &w.promoter.token,
                &mk(format!("새 이벤트 {pages}-{n}"), starts),
            )
            .await;
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
        assert!(pages < 50, "pagination does not end");
    }
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "duplicates in {seen:?}");
    let positions: Vec<usize> = original
        .iter()
        .map(|id| {
            seen.iter()
                .position(|s| s == id)
                .unwrap_or_else(|| panic!("pre-existing event {id} was skipped"))
        })
        .collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(positions, sorted, "pre-existing events keep their order");

    // Cursors are opaque and checked.
    for bad in ["garbage!", "eyJrIjoibiIsIm4iOiJ4IiwiaSI6IjAwIn0", "e30"] {
        assert_problem(
            get_query(&app, "/api/v1/events", &[("cursor", bad)]).await,
            StatusCode::BAD_REQUEST,
            "INVALID_CURSOR",
        )
        .await;
    }
    // A cursor of another list is refused too.
    let venues_cursor = {
        create_venue(&app, &w.admin, "세종문화회관").await;
        let v = json(get_query(&app, "/api/v1/venues", &[("limit", "1")]).await).await;
        v["next_cursor"].as_str().expect("cursor").to_owned()
    };
    assert_problem(
        get_query(&app, "/api/v1/events", &[("cursor", &venues_cursor)]).await,
        StatusCode::BAD_REQUEST,
        "INVALID_CURSOR",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shipped_layouts_give_seat_maps_with_the_right_counts_and_prices() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    // The migration and the JSON files agree, and start-up insertion is a no-op.
    let inserted = catalog::ensure_builtin_layouts(app.db(), now(&app))
        .await
        .expect("ensure");
    assert_eq!(inserted, 0);
    let listed = json(get_query(&app, "/api/v1/seat-layouts", &[]).await).await;
    for shipped in catalog::builtin_layouts() {
        let row = listed["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|l| l["name"] == shipped.name.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("{} not listed", shipped.name));
        assert_eq!(row["id"], shipped.id.to_string());
        assert_eq!(row["total_seats"], shipped.total_seats);
        assert_eq!(
            row["config"],
            serde_json::to_value(&shipped.config).expect("json")
        );
        let one = json(
            app.get(&format!("/api/v1/seat-layouts/{}", shipped.id), None)
                .await,
        )
        .await;
        assert_eq!(one["name"], shipped.name.as_str());
    }

    // (layout, seats, [(section, seats, price)])
    let expected: [(&str, i64, SectionCounts); 3] = [
        (
            catalog::SMALL_THEATER,
            265,
            &[("VIP", 30, 150_000), ("R", 75, 100_000), ("S", 160, 70_000)],
        ),
        (
            catalog::LARGE_THEATER,
            1250,
            &[
                ("VIP", 100, 200_000),
                ("R", 300, 150_000),
                ("S", 450, 100_000),
                ("A", 400, 70_000),
            ],
        ),
        (
            catalog::SPORTS_STADIUM,
            4900,
            &[
                ("Floor1", 1000, 80_000),
                ("Floor2", 1800, 50_000),
                ("Floor3", 2100, 30_000),
            ],
        ),
    ];
    for (name, total, sections) in expected {
        let mut body = event_body(&app, &w.venue, name, Duration::hours(1));
        body["seat_layout_id"] = json!(layout_id(&app, name).await);
        body["ticket_types"] = json!([]);
        let event = create_event(&app, &w.promoter.token, &body).await;
        let detail = json(
            app.get(&format!("/api/v1/events/{}", id_of(&event)), None)
                .await,
        )
        .await;
        assert_eq!(detail, event, "create answers with the detail");
        let map = &detail["seat_map"];
        assert_eq!(map["layout"]["name"], name);
        assert_eq!(map["layout"]["total_seats"], total);
        let got: Vec<(String, i64, i64)> = map["sections"]
            .as_array()
            .expect("sections")
            .iter()
            .map(|s| {
                let seats: Vec<&Value> = s["rows"]
                    .as_array()
                    .expect("rows")
                    .iter()
                    .flat_map(|r| r["seats"].as_array().expect("seats"))
                    .collect();
                assert!(seats.iter().all(|x| x["price"] == s["price"]));
                (
                    s["name"].as_str().expect("name").to_owned(),
                    seats.len() as i64,
                    s["price"].as_i64().expect("price"),
                )
            })
            .collect();
        let want: Vec<(String, i64, i64)> = sections
            .iter()
            .map(|(n, c, p)| ((*n).to_owned(), *c, *p))
            .collect();
        assert_eq!(got, want, "{name}");
        assert_eq!(got.iter().map(|s| s.1).sum::<i64>(), total);
        assert_eq!(detail["min_price"], sections.last().expect("s").2);
        assert_eq!(detail["max_price"], sections[0].2);
        assert_eq!(detail["has_seat_map"], true);
        let first = &map["sections"][0]["rows"][0];
        assert_eq!(first["label"], "1");
        assert_eq!(first["seats"][2]["label"], format!("{}-1-3", sections[0].0));
        assert_eq!(first["seats"][2]["number"], 3);
    }

    // Price overrides per section or grade.
    let mut body = event_body(&app, &w.venue, "override", Duration::hours(1));
    body["seat_layout_id"] = json!(layout_id(&app, catalog::SMALL_THEATER).await);
    body["section_prices"] = json!({"VIP": 170_000, "S": 0});
    let event = create_event(&app, &w.promoter.token, &body).await;
    let prices: Vec<i64> = event["seat_map"]["sections"]
        .as_array()
        .expect("sections")
        .iter()
        .map(|s| s["price"].as_i64().expect("price"))
        .collect();
    assert_eq!(prices, [170_000, 100_000, 0]);
    // The list shows the same price range as the detail (seats and ticket types).
    let listed = json(get_query(&app, "/api/v1/events", &[("q", "override")]).await).await;
    assert_eq!(listed["items"][0]["min_price"], 0);
    assert_eq!(listed["items"][0]["max_price"], 170_000);
    assert_eq!(listed["items"][0]["has_seat_map"], true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_a_stadium_event_generates_all_4900_seats() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let mut body = event_body(&app, &w.venue, "잠실 스타디움", Duration::hours(-1));
    body["seat_layout_id"] = json!(layout_id(&app, catalog::SPORTS_STADIUM).await);
    let event = create_event(&app, &w.admin.token, &body).await;
    let id = uuid::Uuid::parse_str(&id_of(&event)).expect("uuid");
    let (n, labels, positions): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*), count(DISTINCT label), count(DISTINCT position)
         FROM seats WHERE event_id = $1",
    )
    .bind(id)
    .fetch_one(app.db())
    .await
    .expect("count");
    assert_eq!((n, labels, positions), (4900, 4900, 4900));
    assert_eq!(event["status"], "on_sale");
    // Seats and ticket types coexist; the service API sees the same seats.
    let seats = catalog::list_seats(app.db(), id).await.expect("seats");
    assert_eq!(seats.len(), 4900);
    let some: Vec<_> = seats.iter().step_by(1000).map(|s| s.id).collect();
    let found = catalog::find_seats(app.db(), id, &some)
        .await
        .expect("find");
    assert_eq!(found.len(), some.len());
    assert!(
        catalog::find_seats(app.db(), uuid::Uuid::new_v4(), &some)
            .await
            .expect("find")
            .is_empty(),
        "seats of another event are not found"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ticket_type_totals_cannot_drop_below_sold() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let token = w.promoter.token.as_str();
    let event = create_event(
        &app,
        token,
        &event_body(&app, &w.venue, "스탠딩", Duration::hours(-1)),
    )
    .await;
    let event_id = id_of(&event);
    let tt = id_of(&event["ticket_types"][0]);
    let tt_path = format!("/api/v1/ticket-types/{tt}");
    let tt_uuid = uuid::Uuid::parse_str(&tt).expect("uuid");

    // 30 sold or held, as booking records it (its hold transaction moves the counter).
    sqlx::query(
        "UPDATE ticket_types SET available_quantity = available_quantity - 30 WHERE id = $1",
    )
    .bind(tt_uuid)
    .execute(app.db())
    .await
    .expect("simulate 30 held");
    let res = app
        .patch(&tt_path, &json!({"total_quantity": 50}), Some(token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t = json(res).await;
    assert_eq!(
        (t["total_quantity"].clone(), t["available_quantity"].clone()),
        (json!(50), json!(20))
    );
    let p = assert_problem(
        app.patch(&tt_path, &json!({"total_quantity": 29}), Some(token))
            .await,
        StatusCode::CONFLICT,
        "QUANTITY_BELOW_SOLD",
    )
    .await;
    assert_eq!(p["sold_or_held"], 30);
    let res = app
        .patch(
            &tt_path,
            &json!({"total_quantity": 30, "price": 90000, "version": 1}),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let t = json(res).await;
    assert_eq!(t["available_quantity"], 0);
    assert_eq!(t["price"], 90000);
    assert_problem(
        app.patch(&tt_path, &json!({"name": "x", "version": 1}), Some(token))
            .await,
        StatusCode::CONFLICT,
        "VERSION_CONFLICT",
    )
    .await;
    let p = assert_problem(
        app.patch(
            &tt_path,
            &json!({"total_quantity": -1, "price": -5}),
            Some(token),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(fields(&p), ["price", "total_quantity"]);

    // The 30 go back (booking's release), then 5 are sold.
    sqlx::query(
        "UPDATE ticket_types SET available_quantity = available_quantity + 30 WHERE id = $1",
    )
    .bind(tt_uuid)
    .execute(app.db())
    .await
    .expect("simulate the release");
    sqlx::query(
        "UPDATE ticket_types SET available_quantity = available_quantity - 5 WHERE id = $1",
    )
    .bind(tt_uuid)
    .execute(app.db())
    .await
    .expect("simulate a sale");

    // Sold stock blocks deleting the type and the event.
    assert_problem(
        app.delete(&tt_path, Some(token)).await,
        StatusCode::CONFLICT,
        "TICKET_TYPE_HAS_SALES",
    )
    .await;
    assert_problem(
        app.delete(&format!("/api/v1/events/{event_id}"), Some(token))
            .await,
        StatusCode::CONFLICT,
        "EVENT_HAS_SALES",
    )
    .await;

    // A new type is added after the others, listed, and deletable while untouched.
    let res = app
        .post(
            &format!("/api/v1/events/{event_id}/ticket-types"),
            &json!({"name": "얼리버드", "price": 69000, "total_quantity": 100}),
            Some(token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let early = json(res).await;
    assert_eq!(early["available_quantity"], 100);
    assert_eq!(early["sort_order"], 1);
    let listed = json(
        app.get(&format!("/api/v1/events/{event_id}/ticket-types"), None)
            .await,
    )
    .await;
    assert_eq!(listed.as_array().map(Vec::len), Some(2));
    let other = app.create_user(Role::Promoter).await;
    let early_path = format!("/api/v1/ticket-types/{}", id_of(&early));
    assert_problem(
        app.delete(&early_path, Some(&other.token)).await,
        StatusCode::FORBIDDEN,
        "NOT_EVENT_OWNER",
    )
    .await;
    assert_problem(
        app.patch(&early_path, &json!({"price": 1}), Some(&other.token))
            .await,
        StatusCode::FORBIDDEN,
        "NOT_EVENT_OWNER",
    )
    .await;
    assert_eq!(
        app.delete(&early_path, Some(token)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        app.get(&early_path, None).await,
        StatusCode::NOT_FOUND,
        "TICKET_TYPE_NOT_FOUND",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_follows_the_clock_without_waiting() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let event = create_event(
        &app,
        &w.promoter.token,
        &event_body(&app, &w.venue, "곧 오픈", Duration::hours(1)),
    )
    .await;
    let id = id_of(&event);
    let path = format!("/api/v1/events/{id}");
    assert_eq!(event["status"], "upcoming");
    assert!(
        list_ids(&app, &[("status", "upcoming")])
            .await
            .contains(&id)
    );
    assert!(!list_ids(&app, &[("status", "on_sale")]).await.contains(&id));

    app.state.clock.advance(Duration::minutes(61));
    assert_eq!(json(app.get(&path, None).await).await["status"], "on_sale");
    assert!(list_ids(&app, &[("status", "on_sale")]).await.contains(&id));
    assert!(
        list_ids(&app, &[("status", "upcoming,ended")])
            .await
            .is_empty()
    );
    let record = catalog::find_event(app.db(), uuid::Uuid::parse_str(&id).expect("uuid"))
        .await
        .expect("find")
        .expect("exists");
    assert!(record.is_on_sale(now(&app)));

    app.state.clock.advance(Duration::days(1));
    assert_eq!(json(app.get(&path, None).await).await["status"], "ended");
    assert!(list_ids(&app, &[("status", "ended")]).await.contains(&id));
    assert!(
        list_ids(&app, &[]).await.contains(&id),
        "default: not cancelled"
    );
    assert!(list_ids(&app, &[("status", "all")]).await.contains(&id));
    assert_eq!(record.status(now(&app)), catalog::EventStatus::Ended);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_finds_events_by_korean_and_english_names() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let bts = create_artist(&app, &w.admin, "방탄소년단", Some("BTS"), &["Bangtan Boys"]).await;
    let jamsil = create_venue(&app, &w.admin, "잠실종합운동장").await;
    let mut iu = event_body(&app, &w.venue, "HEREH 월드투어", Duration::hours(1));
    iu["artist_id"] = json!(w.artist);
    let iu = id_of(&create_event(&app, &w.promoter.token, &iu).await);
    let mut b = event_body(&app, &jamsil, "Yet To Come", Duration::hours(1));
    b["artist_id"] = json!(bts);
    let b = id_of(&create_event(&app, &w.promoter.token, &b).await);
    let plain = id_of(
        &create_event(
            &app,
            &w.promoter.token,
            &event_body(&app, &jamsil, "100% 재즈 페스티벌", Duration::hours(1)),
        )
        .await,
    );

    for (q, want) in [
        ("아이유", vec![iu.clone()]),
        ("iu", vec![iu.clone()]),
        ("이지은", vec![iu.clone()]),
        ("hereh", vec![iu.clone()]),
        ("블루스퀘어", vec![iu.clone()]),
        ("방탄", vec![b.clone()]),
        ("bts", vec![b.clone()]),
        ("bangtan", vec![b.clone()]),
        ("100%", vec![plain.clone()]),
        ("%", vec![plain.clone()]),
        ("_", vec![]),
        ("없는가수", vec![]),
    ] {
        let mut got = list_ids(&app, &[("q", q)]).await;
        got.sort();
        let mut want = want;
        want.sort();
        assert_eq!(got, want, "q={q}");
    }
    let by_artist = list_ids(&app, &[("artist_id", &w.artist)]).await;
    assert_eq!(by_artist, [iu.as_str()]);

    // The artist list searches the same names.
    for q in ["IU", "아이", "이지은"] {
        let res = get_query(&app, "/api/v1/artists", &[("q", q)]).await;
        let body = json(res).await;
        let names: Vec<&str> = body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|a| a["name"].as_str())
            .collect();
        assert_eq!(names, ["아이유"], "q={q}");
    }
    // The artist page lists their current events.
    let detail = json(
        app.get(&format!("/api/v1/artists/{}", w.artist), None)
            .await,
    )
    .await;
    assert_eq!(detail["name_en"], "IU");
    assert_eq!(detail["event_count"], 1);
    assert_eq!(detail["events"][0]["id"], iu.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn artists_venues_and_layouts_are_admin_managed() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let admin = w.admin.token.as_str();

    // Roles.
    for (path, body) in [
        ("/api/v1/artists", json!({"name": "x"})),
        (
            "/api/v1/venues",
            json!({"name": "x", "address": "y", "city": "z"}),
        ),
        (
            "/api/v1/seat-layouts",
            json!({"name": "x", "config": {"sections": [
                {"name": "A", "rows": 1, "seats_per_row": 1, "price": 1}]}}),
        ),
    ] {
        assert_problem(
            app.post(path, &body, Some(&w.promoter.token)).await,
            StatusCode::FORBIDDEN,
            "FORBIDDEN_ROLE",
        )
        .await;
        assert_problem(
            app.post(path, &body, None).await,
            StatusCode::UNAUTHORIZED,
            "AUTH_REQUIRED",
        )
        .await;
    }

    // Artists.
    assert_problem(
        app.post("/api/v1/artists", &json!({"name": "아이유"}), Some(admin))
            .await,
        StatusCode::CONFLICT,
        "ARTIST_NAME_TAKEN",
    )
    .await;
    let p = assert_problem(
        app.post(
            "/api/v1/artists",
            &json!({"name": "", "membership_price": -1, "image_url": "ftp://x", "aliases": [""]}),
            Some(admin),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(
        fields(&p),
        ["name", "aliases[0]", "image_url", "membership_price"]
    );
    let artist_path = format!("/api/v1/artists/{}", w.artist);
    let res = app
        .patch(
            &artist_path,
            &json!({"bio": "싱어송라이터", "name_en": null, "membership_price": 50000}),
            Some(admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let a = json(res).await;
    assert_eq!(a["bio"], "싱어송라이터");
    assert_eq!(a["name_en"], Value::Null);
    assert_eq!(a["membership_price"], 50000);
    assert_eq!(a["aliases"], json!(["이지은"]));

    // Venues.
    let venue_path = format!("/api/v1/venues/{}", w.venue);
    let res = app
        .patch(&venue_path, &json!({"city": "Seoul"}), Some(admin))
        .await;
    assert_eq!(json(res).await["city"], "Seoul");
    assert_problem(
        app.patch(
            &format!("/api/v1/venues/{}", uuid::Uuid::new_v4()),
            &json!({"city": "Seoul"}),
            Some(admin),
        )
        .await,
        StatusCode::NOT_FOUND,
        "VENUE_NOT_FOUND",
    )
    .await;

    // In use: not deletable.
    let mut body = event_body(&app, &w.venue, "in use", Duration::hours(1));
    body["artist_id"] = json!(w.artist);
    create_event(&app, &w.promoter.token, &body).await;
    assert_problem(
        app.delete(&artist_path, Some(admin)).await,
        StatusCode::CONFLICT,
        "ARTIST_IN_USE",
    )
    .await;
    assert_problem(
        app.delete(&venue_path, Some(admin)).await,
        StatusCode::CONFLICT,
        "VENUE_IN_USE",
    )
    .await;
    let spare = create_artist(&app, &w.admin, "지코", Some("ZICO"), &[]).await;
    assert_eq!(
        app.delete(&format!("/api/v1/artists/{spare}"), Some(admin))
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        app.get(&format!("/api/v1/artists/{spare}"), None).await,
        StatusCode::NOT_FOUND,
        "ARTIST_NOT_FOUND",
    )
    .await;

    // Layout import: validated, then usable.
    let bad = json!({
        "name": "arena",
        "total_seats": 10,
        "config": {"sections": [
            {"name": "A", "rows": 0, "seats_per_row": 10, "price": 100},
            {"name": "A", "rows": 2, "seats_per_row": 201, "price": -1},
            {"name": "B", "rows": 2, "seats_per_row": 2, "price": 1, "row_labels": ["가"]}
        ]}
    });
    let p = assert_problem(
        app.post("/api/v1/seat-layouts", &bad, Some(admin)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    let got = fields(&p);
    for f in [
        "config.sections[0].rows",
        "config.sections[1].name",
        "config.sections[1].seats_per_row",
        "config.sections[1].price",
        "config.sections[2].row_labels",
        "total_seats",
    ] {
        assert!(got.iter().any(|g| g == f), "{f} not in {got:?}");
    }
    let huge = json!({"name": "huge", "config": {"sections":
        (0..3).map(|i| json!({"name": format!("S{i}"), "rows": 200, "seats_per_row": 200, "price": 1}))
            .collect::<Vec<_>>()}});
    let p = assert_problem(
        app.post("/api/v1/seat-layouts", &huge, Some(admin)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(fields(&p), ["config.sections"]);
    let good = json!({
        "name": "club",
        "description": "클럽 좌석",
        "total_seats": 7,
        "config": {"sections": [
            {"name": "Balcony", "grade": "R", "rows": 2, "seats_per_row": 2, "price": 50000,
             "row_labels": ["가", "나"]},
            {"name": "Floor", "grade": "R", "rows": 1, "seats_per_row": 3, "price": 60000,
             "start_row": 5}
        ]}
    });
    let res = app.post("/api/v1/seat-layouts", &good, Some(admin)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let layout = json(res).await;
    assert_eq!(layout["total_seats"], 7);
    assert_eq!(
        layout["grades"],
        json!([{"grade": "R", "seats": 7, "min_price": 50000, "max_price": 60000}])
    );
    assert_problem(
        app.post("/api/v1/seat-layouts", &good, Some(admin)).await,
        StatusCode::CONFLICT,
        "LAYOUT_NAME_TAKEN",
    )
    .await;
    let mut body = event_body(&app, &w.venue, "club night", Duration::hours(1));
    body["seat_layout_id"] = layout["id"].clone();
    body["section_prices"] = json!({"R": 55000, "Floor": 65000});
    let event = create_event(&app, &w.promoter.token, &body).await;
    let sections = &event["seat_map"]["sections"];
    assert_eq!(sections[0]["rows"][1]["label"], "나");
    assert_eq!(sections[0]["rows"][1]["seats"][0]["label"], "Balcony-나-1");
    assert_eq!(sections[0]["price"], 55000);
    assert_eq!(sections[1]["rows"][0]["label"], "5");
    assert_eq!(sections[1]["price"], 65000);
    assert_problem(
        app.get(
            &format!("/api/v1/seat-layouts/{}", uuid::Uuid::new_v4()),
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "LAYOUT_NOT_FOUND",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_every_catalog_route_is_a_4xx_problem_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let admin = w.admin.token.as_str();
    let event = create_event(
        &app,
        admin,
        &event_body(&app, &w.venue, "target", Duration::hours(1)),
    )
    .await;
    let e = id_of(&event);
    let tt = id_of(&event["ticket_types"][0]);
    let before = counts(&app).await;
    let versions: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT sum(version) FROM events)::int8, (SELECT sum(version) FROM ticket_types)::int8",
    )
    .fetch_one(app.db())
    .await
    .expect("versions");

    // Every route that takes a body.
    let routes: Vec<(Method, String, Value)> = vec![
        (Method::POST, "/api/v1/events".into(), json!({"title": 5})),
        (
            Method::PATCH,
            format!("/api/v1/events/{e}"),
            json!({"title": 5}),
        ),
        (
            Method::POST,
            format!("/api/v1/events/{e}/ticket-types"),
            json!({"name": 5}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/ticket-types/{tt}"),
            json!({"name": 5}),
        ),
        (Method::POST, "/api/v1/artists".into(), json!({"name": 5})),
        (
            Method::PATCH,
            format!("/api/v1/artists/{}", w.artist),
            json!({"name": 5}),
        ),
        (Method::POST, "/api/v1/venues".into(), json!({"name": 5})),
        (
            Method::PATCH,
            format!("/api/v1/venues/{}", w.venue),
            json!({"name": 5}),
        ),
        (
            Method::POST,
            "/api/v1/seat-layouts".into(),
            json!({"name": 5}),
        ),
    ];
    let huge = json!({"name": "x".repeat(70_000), "title": "x".repeat(70_000)});
    for (method, path, wrong_type) in &routes {
        let send = |body: reqwest::RequestBuilder| async move { body.send().await.expect("send") };
        let req = || app.request(method.clone(), path, Some(admin));
        assert_problem(
            send(
                req()
                    .header("content-type", "application/json")
                    .body("{not json"),
            )
            .await,
            StatusCode::BAD_REQUEST,
            "MALFORMED_JSON",
        )
        .await;
        assert_problem(
            send(req().json(wrong_type)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_BODY",
        )
        .await;
        let p = assert_problem(
            send(req().json(&json!({"bogus_field": 1}))).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_BODY",
        )
        .await;
        assert!(
            p["detail"].as_str().unwrap_or("").contains("bogus_field"),
            "{p}"
        );
        assert_problem(
            send(req().json(&json!([1, 2, 3]))).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "INVALID_BODY",
        )
        .await;
        assert_problem(
            // The server answers 413 without reading the body and closes the
            // connection; `Connection: close` keeps the client from reusing it for the
            // next request (which then fails as an incomplete message).
            send(req().header("connection", "close").json(&huge)).await,
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        )
        .await;
        assert_problem(
            send(req().body("{}")).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        .await;
    }
    // Numbers out of range for their type.
    assert_problem(
        app.post(
            &format!("/api/v1/events/{e}/ticket-types"),
            &json!({"name": "x", "price": 1e30, "total_quantity": 1}),
            Some(admin),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_BODY",
    )
    .await;
    assert_problem(
        app.patch(
            &format!("/api/v1/events/{e}"),
            &json!({"starts_at": "next friday"}),
            Some(admin),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_BODY",
    )
    .await;
    let res = app
        .request(Method::PATCH, &format!("/api/v1/events/{e}"), Some(admin))
        .header("if-match", "banana")
        .json(&json!({}))
        .send()
        .await
        .expect("send");
    assert_problem(res, StatusCode::BAD_REQUEST, "INVALID_IF_MATCH").await;

    // Text Postgres cannot store is a field error, not a 500.
    let mut nul = event_body(&app, &w.venue, "nul", Duration::hours(1));
    nul["description"] = json!("a\u{0}b");
    nul["ticket_types"][0]["description"] = json!("\u{0}");
    let p = assert_problem(
        app.post("/api/v1/events", &nul, Some(admin)).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(fields(&p), ["description", "ticket_types[0].description"]);
    let p = assert_problem(
        app.patch(
            &format!("/api/v1/artists/{}", w.artist),
            &json!({"bio": "\u{0}", "aliases": ["\u{0}"]}),
            Some(admin),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(fields(&p), ["aliases[0]", "bio"]);

    // Non-UUID ids on every route with one.
    for (method, path) in [
        (Method::GET, "/api/v1/events/1"),
        (Method::PATCH, "/api/v1/events/abc"),
        (Method::DELETE, "/api/v1/events/abc"),
        (Method::POST, "/api/v1/events/abc/cancel"),
        (Method::GET, "/api/v1/events/abc/ticket-types"),
        (Method::POST, "/api/v1/events/abc/ticket-types"),
        (Method::GET, "/api/v1/ticket-types/abc"),
        (Method::PATCH, "/api/v1/ticket-types/abc"),
        (Method::DELETE, "/api/v1/ticket-types/abc"),
        (Method::GET, "/api/v1/artists/abc"),
        (Method::PATCH, "/api/v1/artists/abc"),
        (Method::DELETE, "/api/v1/artists/abc"),
        (Method::GET, "/api/v1/venues/abc"),
        (Method::PATCH, "/api/v1/venues/abc"),
        (Method::DELETE, "/api/v1/venues/abc"),
        (Method::GET, "/api/v1/seat-layouts/abc"),
        (
            Method::GET,
            "/api/v1/events/00000000-0000-0000-0000-00000000000g",
        ),
    ] {
        let res = app
            .request(method, path, Some(admin))
            .json(&json!({}))
            .send()
            .await
            .expect("send");
        assert_problem(res, StatusCode::BAD_REQUEST, "INVALID_PATH").await;
    }
    // Unknown ids.
    let nobody = uuid::Uuid::new_v4();
    for (method, path, code) in [
        (
            Method::GET,
            format!("/api/v1/events/{nobody}"),
            "EVENT_NOT_FOUND",
        ),
        (
            Method::PATCH,
            format!("/api/v1/events/{nobody}"),
            "EVENT_NOT_FOUND",
        ),
        (
            Method::POST,
            format!("/api/v1/events/{nobody}/cancel"),
            "EVENT_NOT_FOUND",
        ),
        (
            Method::GET,
            format!("/api/v1/events/{nobody}/ticket-types"),
            "EVENT_NOT_FOUND",
        ),
        (
            Method::PATCH,
            format!("/api/v1/ticket-types/{nobody}"),
            "TICKET_TYPE_NOT_FOUND",
        ),
        (
            Method::DELETE,
            format!("/api/v1/ticket-types/{nobody}"),
            "TICKET_TYPE_NOT_FOUND",
        ),
        (
            Method::GET,
            format!("/api/v1/artists/{nobody}"),
            "ARTIST_NOT_FOUND",
        ),
        (
            Method::PATCH,
            format!("/api/v1/artists/{nobody}"),
            "ARTIST_NOT_FOUND",
        ),
        (
            Method::DELETE,
            format!("/api/v1/venues/{nobody}"),
            "VENUE_NOT_FOUND",
        ),
    ] {
        let res = app
            .request(method, &path, Some(admin))
            .json(&json!({}))
            .send()
            .await
            .expect("send");
        assert_problem(res, StatusCode::NOT_FOUND, code).await;
    }

    // Bad query strings on every list.
    let bad_queries: [(&str, &str, &str); 16] = [
        ("limit", "100000000000000000000000", "INVALID_QUERY"),
        ("limit", "1000", "INVALID_QUERY"),
        ("limit", "0", "INVALID_QUERY"),
        ("limit", "-1", "INVALID_QUERY"),
        ("limit", "ten", "INVALID_QUERY"),
        ("cursor", "%%%", "INVALID_CURSOR"),
        ("cursor", "eyJrIjoieiJ9", "INVALID_CURSOR"),
        ("q", &"가".repeat(101), "INVALID_QUERY"),
        ("status", "sold_out", "INVALID_QUERY"),
        ("from", "tomorrow", "INVALID_QUERY"),
        ("to", "2025-13-45", "INVALID_QUERY"),
        ("artist_id", "iu", "INVALID_QUERY"),
        ("bogus", "1", "INVALID_QUERY"),
        ("venue_id", "", "INVALID_QUERY"),
        ("from", "+200000-01-01", "INVALID_QUERY"),
        ("q", "a\u{0}b", "INVALID_QUERY"),
    ];
    for (k, v, code) in bad_queries {
        assert_problem(
            get_query(&app, "/api/v1/events", &[(k, v)]).await,
            StatusCode::BAD_REQUEST,
            code,
        )
        .await;
    }
    assert_problem(
        get_query(
            &app,
            "/api/v1/events",
            &[("from", "2030-02-01"), ("to", "2030-01-01")],
        )
        .await,
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY",
    )
    .await;
    for list in ["/api/v1/artists", "/api/v1/venues", "/api/v1/seat-layouts"] {
        for (k, v, code) in [
            ("limit", "99999999999999999999", "INVALID_QUERY"),
            ("limit", "101", "INVALID_QUERY"),
            ("cursor", "not-a-cursor", "INVALID_CURSOR"),
            ("bogus", "1", "INVALID_QUERY"),
        ] {
            assert_problem(
                get_query(&app, list, &[(k, v)]).await,
                StatusCode::BAD_REQUEST,
                code,
            )
            .await;
        }
    }
    // An event cursor on the artist list.
    let c = urr_origin::http::Cursor::event(now(&app), nobody).encode();
    assert_problem(
        get_query(&app, "/api/v1/artists", &[("cursor", &c)]).await,
        StatusCode::BAD_REQUEST,
        "INVALID_CURSOR",
    )
    .await;

    assert_eq!(counts(&app).await, before, "nothing written");
    let after: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT sum(version) FROM events)::int8, (SELECT sum(version) FROM ticket_types)::int8",
    )
    .fetch_one(app.db())
    .await
    .expect("versions");
    assert_eq!(after, versions, "nothing modified");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn date_range_and_filters_narrow_the_list() {
    let app = TestApp::spawn().await;
    let w = world(&app).await;
    let other_venue = create_venue(&app, &w.admin, "세종문화회관").await;
    let a = create_event(
        &app,
        &w.promoter.token,
        &event_body(&app, &w.venue, "A", Duration::days(1)),
    )
    .await;
    let b = create_event(
        &app,
        &w.promoter.token,
        &event_body(&app, &other_venue, "B", Duration::days(20)),
    )
    .await;
    let a_start: DateTime<Utc> = a["starts_at"].as_str().expect("t").parse().expect("t");
    let from = (a_start - Duration::hours(1)).to_rfc3339();
    let to = (a_start + Duration::hours(1)).to_rfc3339();
    assert_eq!(
        list_ids(&app, &[("from", &from), ("to", &to)]).await,
        [id_of(&a)]
    );
    // Dates are days in Korea (UTC+9).
    let b_start: DateTime<Utc> = b["starts_at"].as_str().expect("t").parse().expect("t");
    let b_day = (b_start + Duration::hours(9)).date_naive().to_string();
    let ids = list_ids(&app, &[("from", &b_day), ("to", &b_day)]).await;
    assert!(
        ids.contains(&id_of(&b)) && !ids.contains(&id_of(&a)),
        "{ids:?}"
    );
    assert_eq!(
        list_ids(&app, &[("venue_id", &other_venue)]).await,
        [id_of(&b)]
    );
    assert_eq!(
        list_ids(&app, &[("promoter_id", &w.promoter.id.to_string())]).await,
        [id_of(&a), id_of(&b)]
    );
    // Items carry what a card needs.
    let body = json(get_query(&app, "/api/v1/events", &[("limit", "1")]).await).await;
    let item = &body["items"][0];
    for k in [
        "id",
        "title",
        "artist",
        "venue",
        "starts_at",
        "sale_opens_at",
        "sale_closes_at",
        "status",
        "min_price",
        "max_price",
        "has_seat_map",
        "poster_url",
    ] {
        assert!(item.get(k).is_some(), "{k} missing in {item}");
    }
    assert_eq!(item["venue"]["name"], "블루스퀘어");
    assert_eq!(item["min_price"], 88000);
    assert!(body["next_cursor"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_catalog_seeds_once() {
    let app = TestApp::spawn().await;
    let promoter = app.create_user(Role::Promoter).await;
    let first = catalog::seed_demo_catalog(app.db(), &app.state.clock, promoter.id)
        .await
        .expect("seed");
    let counted = counts(&app).await;
    let again = catalog::seed_demo_catalog(app.db(), &app.state.clock, promoter.id)
        .await
        .expect("seed again");
    assert_eq!(first, again);
    assert_eq!(counts(&app).await, counted, "no duplicates");

    let on_sale = json(
        app.get(
            &format!("/api/v1/events/{}", first.event_on_sale_seated),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(on_sale["status"], "on_sale");
    assert_eq!(on_sale["seat_map"]["layout"]["total_seats"], 4900);
    let upcoming = json(
        app.get(
            &format!("/api/v1/events/{}", first.event_upcoming_presale),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(upcoming["status"], "upcoming");
    let standing = json(
        app.get(&format!("/api/v1/events/{}", first.event_standing), None)
            .await,
    )
    .await;
    assert_eq!(standing["status"], "on_sale");
    assert_eq!(standing["seat_map"], Value::Null);
    let types: Vec<(String, i64, i64)> = standing["ticket_types"]
        .as_array()
        .expect("types")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().expect("name").to_owned(),
                t["price"].as_i64().expect("price"),
                t["total_quantity"].as_i64().expect("qty"),
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            ("스탠딩 일반".to_owned(), 88_000, 500),
            ("얼리버드".to_owned(), 69_000, 100)
        ]
    );
    assert!(first.events_upcoming.len() >= 3);
    // Bilingual search works on the demo data.
    for q in ["BTS", "방탄소년단", "IU", "아이유"] {
        assert!(!list_ids(&app, &[("q", q)]).await.is_empty(), "q={q}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_lists_the_catalog_routes() {
    let app = TestApp::spawn().await;
    let doc = json(app.get("/api/v1/openapi.json", None).await).await;
    let paths = doc["paths"].as_object().expect("paths");
    for (p, methods) in [
        ("/api/v1/events", &["get", "post"][..]),
        ("/api/v1/events/{event_id}", &["get", "patch", "delete"]),
        ("/api/v1/events/{event_id}/cancel", &["post"]),
        ("/api/v1/events/{event_id}/ticket-types", &["get", "post"]),
        (
            "/api/v1/ticket-types/{ticket_type_id}",
            &["get", "patch", "delete"],
        ),
        ("/api/v1/artists", &["get", "post"]),
        ("/api/v1/artists/{artist_id}", &["get", "patch", "delete"]),
        ("/api/v1/venues", &["get", "post"]),
        ("/api/v1/venues/{venue_id}", &["get", "patch", "delete"]),
        ("/api/v1/seat-layouts", &["get", "post"]),
        ("/api/v1/seat-layouts/{layout_id}", &["get"]),
    ] {
        let item = paths.get(p).unwrap_or_else(|| panic!("missing {p}"));
        for m in methods {
            assert_eq!(item[*m]["tags"][0], "catalog", "{m} {p}");
        }
    }
}
