//! Liveness, readiness and metrics endpoints.

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
        .routes(routes!(metrics))
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

/// Liveness: the process is up and serving.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Readiness: Postgres and Redis both answer within a second.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, body = Readiness),
        (status = 503, description = "A dependency is down", body = crate::http::Problem,
         content_type = "application/problem+json")))]
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
            ApiError::unavailable("NOT_READY", "A dependency is not reachable")
                .with("postgres", word(pg_ok))
                .with("redis", word(redis_ok)),
        )
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        crate::telemetry::prometheus().render(),
    )
}
