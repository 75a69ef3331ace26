//! What the web app needs from the origin: the app itself served at `/`, the event's
//! queue mode, the page hand-off from the edge room with the pass and entry token in
//! HttpOnly cookies only, the rules editor's preview, and the consoles' figures.

use crate::client::{hold_seats, hold_standing, pay, spawn_env};
use crate::fixtures::{EventSpec, create_event};
use crate::helpers::{TestApp, assert_problem, json, set_cookies};
use crate::queue::{pass, put_rules, rules};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use shared_wasm::rules::Mode;
use shared_wasm::token::Role;
use uuid::Uuid;

async fn queue_mode(app: &TestApp, event: Uuid) -> String {
    let res = app.get(&format!("/api/v1/events/{event}"), None).await;
    assert_eq!(res.status(), StatusCode::OK);
    json(res).await["queue_mode"]
        .as_str()
        .expect("queue_mode")
        .to_owned()
}

#[tokio::test]
async fn the_event_detail_says_how_the_event_queues() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let plain = create_event(&app, EventSpec::on_sale(&app).seats(10)).await;
    assert_eq!(queue_mode(&app, plain.id).await, "none");

    let edge = create_event(&app, EventSpec::on_sale(&app).seats(10)).await;
    put_rules(&app, &admin, &rules(&app, edge.id, 1, 10), true).await;
    assert_eq!(queue_mode(&app, edge.id).await, "edge");

    let origin_line = create_event(&app, EventSpec::on_sale(&app).seats(10)).await;
    put_rules(&app, &admin, &rules(&app, origin_line.id, 1, 10), false).await;
    assert_eq!(queue_mode(&app, origin_line.id).await, "origin");

    // Passthrough lets everyone book directly.
    let mut r = rules(&app, edge.id, 2, 10);
    r.mode = Mode::Passthrough;
    put_rules(&app, &admin, &r, true).await;
    assert_eq!(queue_mode(&app, edge.id).await, "none");
}

#[tokio::test]
async fn a_page_joins_with_the_edges_pass_cookie_and_books_with_the_entry_cookie_only() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let fan = app.create_user(Role::Fan).await;
    let ev = create_event(&app, EventSpec::on_sale(&app).seats(10)).await;
    put_rules(&app, &admin, &rules(&app, ev.id, 1, 10), true).await;
    let pass_cookie = format!(
        "{}={}",
        shared_wasm::edge::pass_cookie(ev.id),
        pass(&app, ev.id, 1)
    );

    // Without the cookie and without a body pass: refused, nothing joined.
    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/events/{}/queue/join?delivery=cookie", ev.id),
            Some(&fan.token),
        )
        .json(&json!({}))
        .send()
        .await
        .expect("join");
    assert_problem(res, StatusCode::FORBIDDEN, "PASS_REQUIRED").await;

    let res = app
        .request(
            Method::POST,
            &format!("/api/v1/events/{}/queue/join?delivery=cookie", ev.id),
            Some(&fan.token),
        )
        .header("cookie", &pass_cookie)
        .json(&json!({}))
        .send()
        .await
        .expect("join");
    assert_eq!(res.status(), StatusCode::CREATED);
    let cookies = set_cookies(&res);
    let body = json(res).await;
    assert_eq!(body["state"], "admitted", "{body}");
    assert!(
        body.get("entry_token").is_none(),
        "the page script must not see the entry token: {body}"
    );
    let entry_name = format!("urr_entry_{}", ev.id.simple());
    let entry = cookies
        .iter()
        .find(|c| c.starts_with(&format!("{entry_name}=")))
        .expect("the entry cookie");
    assert!(entry.contains("HttpOnly"), "{entry}");
    let entry_pair = entry.split(';').next().expect("name=value").to_owned();

    // The status poll keeps it out of the body too.
    let res = app
        .get(
            &format!("/api/v1/events/{}/queue/status?delivery=cookie", ev.id),
            Some(&fan.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(json(res).await.get("entry_token").is_none());
    // API clients still get it in the body by default.
    let res = app.fan(&fan).queue_status(ev.id).await;
    assert!(json(res).await["entry_token"].is_string());

    // Booking with the cookie alone works; without it the guard refuses.
    let book = |cookie: Option<String>| {
        let mut r = app
            .request(
                Method::POST,
                &format!("/api/v1/events/{}/reservations", ev.id),
                Some(&fan.token),
            )
            .json(&json!({ "seat_ids": [ev.seats[0]] }));
        if let Some(c) = cookie {
            r = r.header("cookie", c);
        }
        r.send()
    };
    let res = book(None).await.expect("reserve");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = book(Some(entry_pair)).await.expect("reserve");
    assert_eq!(res.status(), StatusCode::CREATED);

    // A bad delivery value is a 400 problem.
    let res = app
        .get(
            &format!(
                "/api/v1/events/{}/queue/status?delivery=carrier-pigeon",
                ev.id
            ),
            Some(&fan.token),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "INVALID_QUERY").await;
}

#[tokio::test]
async fn the_rules_preview_renders_the_edges_page_for_the_edited_rules() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let fan = app.create_user(Role::Fan).await;
    let ev = create_event(&app, EventSpec::on_sale(&app).seats(10)).await;
    let mut r = rules(&app, ev.id, 1, 10);
    r.template.title_ko = "새 대기실 제목".into();
    r.template.title_en = "A brand new room".into();
    let preview = |by: &str, body: Value| {
        app.request(
            Method::POST,
            &format!("/api/v1/events/{}/edge-rules/preview", ev.id),
            Some(by),
        )
        .json(&body)
        .send()
    };
    for (lang, title) in [("ko", "새 대기실 제목"), ("en", "A brand new room")] {
        let res = preview(
            &admin.token,
            json!({ "rules": r, "lang": lang, "page": "queue" }),
        )
        .await
        .expect("preview");
        assert_eq!(res.status(), StatusCode::OK);
        let ct = res.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .to_owned();
        assert!(ct.starts_with("text/html"), "{ct}");
        assert!(res.headers().contains_key("content-security-policy"));
        let html = res.text().await.expect("html");
        assert!(html.contains(title), "{lang}: {html}");
        assert!(html.contains("12,345"), "the sample position: {html}");
    }
    // Nothing was stored.
    let res = app
        .get(
            &format!("/api/v1/events/{}/edge-rules", ev.id),
            Some(&admin.token),
        )
        .await;
    assert_problem(res, StatusCode::NOT_FOUND, "EDGE_RULES_NOT_SET").await;

    // Fans may not; invalid rules name their fields; another event's rules are refused.
    let res = preview(&fan.token, json!({ "rules": r }))
        .await
        .expect("preview");
    assert_problem(res, StatusCode::FORBIDDEN, "FORBIDDEN_ROLE").await;
    let mut bad = r.clone();
    bad.max_active = 0;
    let res = preview(&admin.token, json!({ "rules": bad }))
        .await
        .expect("preview");
    let problem = assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_FAILED").await;
    assert_eq!(problem["errors"][0]["field"], "rules.max_active");
    let mut other = r.clone();
    other.event_id = Uuid::new_v4();
    let res = preview(&admin.token, json!({ "rules": other }))
        .await
        .expect("preview");
    assert_problem(
        res,
        StatusCode::UNPROCESSABLE_ENTITY,
        "RULES_EVENT_MISMATCH",
    )
    .await;
    let res = preview(&admin.token, json!({ "rules": r, "page": "lobby" }))
        .await
        .expect("preview");
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn consoles_show_sales_figures_that_add_up() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let admin = app.create_user(Role::Admin).await;
    let promoter = app.create_user(Role::Promoter).await;
    let other_promoter = app.create_user(Role::Promoter).await;
    let fan = app.create_user(Role::Fan).await;
    let fan2 = app.create_user(Role::Fan).await;
    let ev = create_event(
        app,
        EventSpec::on_sale(app)
            .seats(10)
            .standing("Standing", 30_000, 5),
    )
    .await;
    sqlx::query("UPDATE events SET promoter_id = $1 WHERE id = $2")
        .bind(promoter.id)
        .bind(ev.id)
        .execute(app.db())
        .await
        .expect("owner");
    let paid = hold_seats(app, &fan, ev.id, &ev.seats[..2]).await;
    pay(&env, &fan, &paid).await;
    hold_standing(app, &fan2, ev.id, ev.ticket_types[0], 3).await;

    let res = app
        .get("/api/v1/promoter/events", Some(&promoter.token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = json(res).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    let e = &items[0];
    assert_eq!(e["id"], ev.id.to_string());
    assert_eq!(e["tickets_sold"], 2);
    assert_eq!(e["held"], 3);
    // 10 seats - 2 sold + 5 standing - 3 held.
    assert_eq!(e["available"], 10);
    assert_eq!(e["revenue"], paid.amount);
    assert_eq!(e["status"], "on_sale");

    // Another promoter sees none of it; an admin sees it; a fan is refused.
    let res = app
        .get("/api/v1/promoter/events", Some(&other_promoter.token))
        .await;
    assert_eq!(json(res).await["items"].as_array().map(Vec::len), Some(0));
    let res = app
        .get("/api/v1/promoter/events?limit=100", Some(&admin.token))
        .await;
    let all = json(res).await;
    assert!(
        all["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|i| i["id"] == ev.id.to_string())
    );
    let res = app.get("/api/v1/promoter/events", Some(&fan.token)).await;
    assert_problem(res, StatusCode::FORBIDDEN, "FORBIDDEN_ROLE").await;

    // The cancel preview counts what a cancellation would release and refund.
    let res = app
        .get(
            &format!("/api/v1/events/{}/cancel-preview", ev.id),
            Some(&promoter.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let p = json(res).await;
    assert_eq!(p["holds_to_release"], 1);
    assert_eq!(p["tickets_held"], 3);
    assert_eq!(p["paid_orders"], 1);
    assert_eq!(p["tickets_paid"], 2);
    assert_eq!(p["refund_total"], paid.amount);
    let res = app
        .get(
            &format!("/api/v1/events/{}/cancel-preview", ev.id),
            Some(&other_promoter.token),
        )
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "NOT_EVENT_OWNER").await;

    // The operator's dashboard and reservation search.
    let res = app.get("/api/v1/admin/dashboard", Some(&admin.token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let d = json(res).await;
    assert_eq!(d["reservations_total"], 2);
    assert_eq!(d["reservations_paid"], 1);
    assert_eq!(d["revenue_total"], paid.amount);
    assert_eq!(d["today_tickets_sold"], 2);
    assert_eq!(d["today_revenue"], paid.amount);
    assert_eq!(d["latest_reservations"].as_array().map(Vec::len), Some(2));
    let res = app
        .get("/api/v1/admin/dashboard", Some(&promoter.token))
        .await;
    assert_problem(res, StatusCode::FORBIDDEN, "FORBIDDEN_ROLE").await;

    let list = |q: String| {
        let token = admin.token.clone();
        async move {
            app.get(&format!("/api/v1/admin/reservations?{q}"), Some(&token))
                .await
        }
    };
    let res = list("status=confirmed".into()).await;
    let page = json(res).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], paid.id.to_string());
    assert_eq!(items[0]["user_email"], fan.email);
    assert_eq!(items[0]["quantity"], 2);
    let res = list(format!("q={}", urlencode(&fan2.email))).await;
    let page = json(res).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(page["items"][0]["status"], "pending");
    // Paging: one per page, newest first, no repeats.
    let first = json(list("limit=1".into()).await).await;
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let second = json(list(format!("limit=1&cursor={cursor}")).await).await;
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    assert!(second["next_cursor"].is_null());
    let res = list("status=sold".into()).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "INVALID_QUERY").await;
    let res = list("cursor=bm9wZQ".into()).await;
    assert_problem(res, StatusCode::BAD_REQUEST, "INVALID_CURSOR").await;
    let res = app
        .get(
            "/api/v1/promoter/events?cursor=bm9wZQ",
            Some(&promoter.token),
        )
        .await;
    assert_problem(res, StatusCode::BAD_REQUEST, "INVALID_CURSOR").await;
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_built_web_app_is_served_at_its_routes_with_the_right_caching() {
    let dir = std::env::temp_dir().join(format!("urr-web-{}", Uuid::new_v4().simple()));
    std::fs::create_dir_all(dir.join("assets")).expect("dir");
    std::fs::write(dir.join("index.html"), "<!doctype html><div id=root></div>").expect("index");
    std::fs::write(dir.join("assets/index-Abc123.js"), "console.log(1)").expect("asset");
    std::fs::write(dir.join("favicon.svg"), "<svg/>").expect("icon");
    let dir_s = dir.to_string_lossy().into_owned();
    let app = TestApp::spawn_with(&[("URR_WEB_DIR", dir_s.as_str())]).await;

    for page in [
        "/",
        "/events/x",
        "/events/x/seats",
        "/checkout/y",
        "/me/tickets",
        "/login",
        "/promoter",
        "/admin/reservations",
    ] {
        let res = app.get(page, None).await;
        assert_eq!(res.status(), StatusCode::OK, "{page}");
        assert_eq!(res.headers()["cache-control"], "no-cache", "{page}");
        assert!(res.headers().contains_key("content-security-policy"));
        assert!(
            res.text().await.expect("body").contains("id=root"),
            "{page}"
        );
    }
    let res = app.get("/assets/index-Abc123.js", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    let res = app.get("/favicon.svg", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    // Unknown paths and API typos stay JSON 404s.
    for path in ["/nope", "/api/v1/nope", "/assets/missing.js"] {
        let res = app.get(path, None).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
    let res = app.get("/api/v1/nope", None).await;
    assert_problem(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn sign_in_and_payment_settings_for_pages() {
    let app =
        TestApp::spawn_with(&[("URR_TOSS_WIDGET_URL", "http://127.0.0.1:9/v1/__test/widget")])
            .await;
    let res = app.get("/api/v1/auth/config", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(json(res).await["google_client_id"].is_null());
    let res = app.get("/api/v1/payments/config", None).await;
    assert_eq!(
        json(res).await["widget_url"],
        "http://127.0.0.1:9/v1/__test/widget"
    );
}
