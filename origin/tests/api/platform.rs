//! The spine: health, readiness, metrics, OpenAPI, and the error shape for bad requests.

use crate::helpers::{TestApp, assert_problem, json};
use reqwest::StatusCode;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("x-request-id"));
    let res = app.get("/readyz", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json(res).await;
    assert_eq!(body["postgres"], "ok");
    assert_eq!(body["redis"], "ok");
}

#[tokio::test]
async fn readyz_reports_a_dead_redis() {
    let app = TestApp::spawn_with(&[("URR_REDIS_URL", "redis://127.0.0.1:1")]).await;
    let body = assert_problem(
        app.get("/readyz", None).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "NOT_READY",
    )
    .await;
    assert_eq!(body["redis"], "down");
    assert_eq!(body["postgres"], "ok");
}

#[tokio::test]
async fn request_ids_are_kept_or_made() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "edge-abc-123")
        .send()
        .await
        .expect("send");
    assert_eq!(res.headers()["x-request-id"], "edge-abc-123");
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn().await;
    app.get("/healthz", None).await;
    app.get("/no/such/route", None).await;
    let text = app.metrics().await;
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains(r#"route="/healthz""#), "{text}");
    assert!(text.contains(r#"status="404""#), "{text}");
    assert!(
        text.contains("http_request_duration_seconds_bucket"),
        "{text}"
    );
}

/// Metrics are served on their own listener only: the API listener answers 404 for
/// `/metrics`, the metrics listener serves nothing else, and an empty
/// `URR_METRICS_ADDR` means no metrics listener at all.
#[tokio::test]
async fn metrics_live_on_their_own_listener_only() {
    let app = TestApp::spawn().await;
    let metrics = app.metrics_addr.expect("metrics listener");
    assert_ne!(metrics, app.addr);
    assert_problem(
        app.get("/metrics", None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let res = app
        .client
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap_or("")
            .starts_with("text/plain")
    );
    let res = app
        .client
        .get(format!("http://{metrics}/api/v1/events"))
        .send()
        .await
        .expect("GET");
    assert_problem(res, StatusCode::NOT_FOUND, "NOT_FOUND").await;

    let off = TestApp::spawn_with(&[("URR_METRICS_ADDR", "")]).await;
    assert_eq!(off.metrics_addr, None);
    assert_eq!(
        off.get("/healthz", None).await.status(),
        StatusCode::OK,
        "the API runs without a metrics listener"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::spawn().await;
    assert_problem(
        app.get("/api/v1/nope", None).await,
        StatusCode::NOT_FOUND,
        "NOT_FOUND",
    )
    .await;
    let res = app.delete("/healthz", None).await;
    assert_problem(res, StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED").await;
}

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let app = TestApp::spawn().await;
    let doc = json(app.get("/api/v1/openapi.json", None).await).await;
    assert!(
        doc["openapi"].as_str().unwrap_or("").starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for p in ["/healthz", "/readyz", "/api/v1/openapi.json"] {
        assert!(paths.contains_key(p), "missing {p}");
    }
    assert!(
        !paths.contains_key("/metrics"),
        "metrics are not an API route"
    );
}

/// Every error code the server can answer with (the `Code` table; `ApiError` takes
/// nothing else) is documented in the OpenAPI document, with its status.
#[test]
fn operation_ids_are_unique() {
    let doc = urr_origin::app::openapi_document();
    let mut seen = std::collections::HashSet::new();
    let mut count = 0;
    for (path, item) in &doc.paths.paths {
        for op in [&item.get, &item.put, &item.post, &item.delete, &item.patch]
            .into_iter()
            .flatten()
        {
            let id = op.operation_id.clone().expect("every operation has an id");
            assert!(seen.insert(id.clone()), "{id} ({path}) is not unique");
            count += 1;
        }
    }
    assert!(count > 40, "only {count} operations");
    assert!(seen.contains("get_events_event_id"));
    // Every schema reference resolves (a type used only as a query parameter is
    // easily referenced without being registered).
    let json = serde_json::to_string(&doc).expect("json");
    let schemas = doc.components.as_ref().expect("components").schemas.clone();
    for part in json.split("#/components/schemas/").skip(1) {
        let name: String = part.chars().take_while(|c| *c != '"').collect();
        assert!(schemas.contains_key(&name), "dangling reference to {name}");
    }
}

#[tokio::test]
async fn every_error_code_is_in_the_openapi_document() {
    let app = TestApp::spawn().await;
    let res = app.get("/api/v1/openapi.json", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    let doc = res.text().await.expect("body");
    for code in urr_origin::http::Code::ALL {
        assert!(
            doc.contains(&format!("`{code}`")),
            "{code} is missing from /api/v1/openapi.json"
        );
    }
    // A documented route lists its codes under the status they come with.
    let doc: serde_json::Value = serde_json::from_str(&doc).expect("json");
    let reserve = &doc["paths"]["/api/v1/events/{event_id}/reservations"]["post"]["responses"];
    for (status, code) in [
        ("409", "SEAT_UNAVAILABLE"),
        ("403", "ENTRY_TOKEN_NOT_YET_VALID"),
        ("503", "BUSY"),
        ("500", "INTERNAL"),
        ("401", "TOKEN_REVOKED"),
    ] {
        let listed = reserve[status]["description"].as_str().unwrap_or_default();
        assert!(
            listed.contains(&format!("`{code}`")),
            "{status} lacks {code}: {listed}"
        );
    }
}

/// `GET /api/v1/time` answers the origin's clock (what countdowns correct the device's
/// clock by), and is never cached.
#[tokio::test]
async fn the_server_time_is_the_origins_clock() {
    let app = TestApp::spawn().await;
    let at = chrono::DateTime::parse_from_rfc3339("2030-05-01T12:00:00.250Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    app.state.clock.freeze_at(at);
    let res = app.get("/api/v1/time", None).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        res.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let body = json(res).await;
    assert_eq!(body["unix_ms"], at.timestamp_millis());
    assert_eq!(body["now"], "2030-05-01T12:00:00.250Z");
    app.state.clock.advance(chrono::Duration::seconds(90));
    let later = json(app.get("/api/v1/time", None).await).await;
    assert_eq!(later["unix_ms"], at.timestamp_millis() + 90_000);
}
