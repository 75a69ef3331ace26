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
