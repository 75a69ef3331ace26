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
