//! Liveness and readiness endpoints on the API listener; Prometheus metrics on their
//! own listener (`URR_METRICS_ADDR`, see [`metrics_router`]), so the API never serves
//! them: what the origin counts (routes, failures, queue sizes) is for operators only.

use crate::http::Code;
use crate::http::{ApiError, Json};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use std::time::Duration;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(server_time))
}

/// The metrics listener's whole router: `GET /metrics`, 404 for anything else.
pub fn metrics_router() -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics))
        .fallback(|| async { ApiError::new(Code::NOT_FOUND, "Only /metrics is served here") })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    pub status: &'static str,
    pub postgres: &'static str,
    pub redis: &'static str,
}

/// The origin's clock.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServerTime {
    /// RFC 3339, UTC, milliseconds.
    pub now: String,
    /// Unix milliseconds.
    pub unix_ms: i64,
}

/// The server's time, for countdowns to a sale's opening that do not trust the device's
/// clock: a client corrects its clock by the difference to `unix_ms`, taken at the
/// midpoint of the request's round trip. Never cached.
#[utoipa::path(get, path = "/api/v1/time", tag = "ops",
    responses((status = 200, body = ServerTime)))]
async fn server_time(State(state): State<AppState>) -> impl IntoResponse {
    let now = state.clock.now();
    (
        [(header::CACHE_CONTROL, "no-store")],
        Json(ServerTime {
            now: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            unix_ms: now.timestamp_millis(),
        }),
    )
}

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

crate::problems!(ReadyzProblems: [], NOT_READY);

/// Readiness: Postgres and Redis both answer within a second.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, body = Readiness),
        ReadyzProblems))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    let limit = Duration::from_secs(1);
    let pg = tokio::time::timeout(limit, sqlx::query("SELECT 1").execute(&state.db)).await;
    let pg_ok = matches!(pg, Ok(Ok(_)));
    let redis_ok = matches!(
        tokio::time::timeout(limit, state.redis.ping()).await,
        Ok(Ok(()))
    );
    let word = |ok| if ok { "ok" } else { "down" };
    if pg_ok && redis_ok {
        Ok(Json(Readiness {
            status: "ready",
            postgres: "ok",
            redis: "ok",
        }))
    } else {
        Err(
            ApiError::new(Code::NOT_READY, "A dependency is not reachable")
                .with("postgres", word(pg_ok))
                .with("redis", word(redis_ok)),
        )
    }
}

/// Prometheus metrics in the text exposition format (metrics listener only).
async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::prometheus().render(),
    )
}
