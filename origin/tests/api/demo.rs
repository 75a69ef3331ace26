//! The demo data of `cargo xtask dev`.

use crate::helpers::{TestApp, json};
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::json;
use urr_origin::demo;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_seed_is_idempotent_logs_in_and_stays_on_sale() {
    let app = TestApp::spawn().await;
    let first = demo::seed(app.db(), &app.state.clock, &app.state.config, "demo-pass-1")
        .await
        .expect("seed");
    let again = demo::seed(app.db(), &app.state.clock, &app.state.config, "demo-pass-1")
        .await
        .expect("seed again");
    assert_eq!(first.accounts.len(), 11);
    assert_eq!(
        first.catalog.event_on_sale_seated,
        again.catalog.event_on_sale_seated
    );
    let users: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE email LIKE '%@urr.local'")
            .fetch_one(app.db())
            .await
            .expect("count");
    assert_eq!(users, 11);

    for (email, role) in [
        ("admin@urr.local", "admin"),
        ("promoter@urr.local", "promoter"),
        ("fan9@urr.local", "fan"),
    ] {
        let res = app
            .post(
                "/api/v1/auth/login",
                &json!({ "email": email, "password": "demo-pass-1" }),
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK, "{email}");
        assert_eq!(json(res).await["user"]["role"], role);
    }

    let on_sale = first.catalog.event_on_sale_seated;
    let path = format!("/api/v1/events/{on_sale}");
    assert_eq!(json(app.get(&path, None).await).await["status"], "on_sale");
    // A month later the demo is re-seeded: the on-sale event is on sale again.
    app.state.clock.advance(Duration::days(30));
    assert_ne!(json(app.get(&path, None).await).await["status"], "on_sale");
    demo::seed(app.db(), &app.state.clock, &app.state.config, "demo-pass-1")
        .await
        .expect("reseed");
    assert_eq!(json(app.get(&path, None).await).await["status"], "on_sale");
    let standing = first.catalog.event_standing;
    let detail = json(app.get(&format!("/api/v1/events/{standing}"), None).await).await;
    assert_eq!(detail["status"], "on_sale");
    assert!(detail["seat_map"].is_null(), "{detail}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_fan_club_has_a_diamond_a_gold_and_a_silver_fan_and_a_member_presale() {
    let app = TestApp::spawn().await;
    let seeded = demo::seed(app.db(), &app.state.clock, &app.state.config, "demo-pass-1")
        .await
        .expect("seed");
    demo::seed(app.db(), &app.state.clock, &app.state.config, "demo-pass-1")
        .await
        .expect("seed again");
    let presale = seeded.catalog.event_member_presale;
    assert_eq!(presale.to_string(), "de770000-0000-4000-8000-000000000209");
    let path = format!("/api/v1/events/{presale}");
    for (i, tier, open) in [
        (1, "DIAMOND", true),
        (2, "GOLD", true),
        (3, "SILVER", false),
        (4, "BRONZE", false),
    ] {
        let login = app
            .post(
                "/api/v1/auth/login",
                &json!({ "email": format!("fan{i}@urr.local"), "password": "demo-pass-1" }),
                None,
            )
            .await;
        let token = json(login).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        let detail = json(app.get(&path, Some(&token)).await).await;
        assert_eq!(detail["your_presale"]["tier"], tier, "fan{i}");
        assert_eq!(detail["your_presale"]["open"], open, "fan{i}");
        if i == 4 {
            // Everyone else: two days from now.
            let opens: chrono::DateTime<chrono::Utc> = detail["your_presale"]["opens_at"]
                .as_str()
                .expect("opens_at")
                .parse()
                .expect("time");
            let wait = opens - app.state.clock.now();
            assert!(
                wait > Duration::hours(47) && wait <= Duration::hours(48),
                "{wait}"
            );
        }
    }
    assert!(detail_has_no_queue(&app, &path).await);
    // The artist events on sale now open to everyone at once.
    let on_sale = seeded.catalog.event_on_sale_seated;
    let detail = json(app.get(&format!("/api/v1/events/{on_sale}"), None).await).await;
    assert_eq!(detail["presale"]["offsets"]["general_mins"], 0);
}

async fn detail_has_no_queue(app: &TestApp, path: &str) -> bool {
    json(app.get(path, None).await).await["queue_mode"] == "none"
}
