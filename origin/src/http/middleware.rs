//! The middleware stack, outermost first:
//!
//! 1. request id: keep the caller's `x-request-id` (the edge sets one) or make a UUID,
//!    and echo it on the response;
//! 2. tracing span per request carrying that id, so every log line of a request has it;
//! 3. metrics: request count and latency histogram by method, route template and status;
//!    and the request id made readable to the handler's task ([`current_request_id`]),
//!    so the audit log records it without every handler passing it along;
//! 4. problem guard: any error response that is not problem+json yet (a 404 from the
//!    router, a 405, a timeout from tower) is rewritten into one;
//! 5. CORS, request timeout, body-size limit.

use super::Code;
use super::problem::{ApiError, PROBLEM_JSON};
use crate::config::Config;
use axum::Router;
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use std::time::Instant;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` in the full stack.
pub fn wrap<S: Clone + Send + Sync + 'static>(router: Router<S>, config: &Config) -> Router<S> {
    let cors = cors_layer(&config.cors_origins);
    router
        .layer(axum::extract::DefaultBodyLimit::max(
            config.body_limit_bytes,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            config.request_timeout,
        ))
        .layer(cors)
        .layer(middleware::from_fn(problem_guard))
        .layer(middleware::from_fn(scope_request_id))
        .layer(middleware::from_fn(record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("-");
                    tracing::info_span!(
                        "request",
                        request_id = %id,
                        method = %req.method(),
                        path = %req.uri().path(),
                    )
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID)),
        )
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("x-entry-token"),
            REQUEST_ID,
        ])
        .expose_headers([REQUEST_ID, header::RETRY_AFTER])
        .allow_credentials(true)
        .max_age(std::time::Duration::from_secs(3600))
}

tokio::task_local! {
    static CURRENT_REQUEST_ID: Option<String>;
}

/// The id of the request the current task is answering (`None` outside a request, e.g.
/// in a background job).
pub fn current_request_id() -> Option<String> {
    CURRENT_REQUEST_ID.try_with(Clone::clone).ok().flatten()
}

async fn scope_request_id(req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    CURRENT_REQUEST_ID.scope(id, next.run(req)).await
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let res = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", res.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    res
}

async fn problem_guard(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_problem = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(PROBLEM_JSON.as_bytes()));
    if is_problem {
        return res;
    }
    let (code, detail) = match status {
        StatusCode::NOT_FOUND => (Code::NOT_FOUND, "No such resource"),
        StatusCode::METHOD_NOT_ALLOWED => (Code::METHOD_NOT_ALLOWED, "Method not allowed here"),
        StatusCode::PAYLOAD_TOO_LARGE => (
            Code::PAYLOAD_TOO_LARGE,
            "The request body is larger than this endpoint accepts",
        ),
        StatusCode::SERVICE_UNAVAILABLE => (Code::TIMEOUT, "The request took too long"),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            (Code::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type")
        }
        s if s.is_server_error() => (Code::INTERNAL, "An unexpected error occurred"),
        _ => (Code::BAD_REQUEST, "The request could not be processed"),
    };
    let mut problem = ApiError::with_status(status, code, detail).into_response();
    // Keep headers such as `Allow` and `Retry-After` that tell the client what to do.
    for name in [header::ALLOW, header::RETRY_AFTER] {
        if let Some(v) = res.headers().get(&name) {
            problem.headers_mut().insert(name, v.clone());
        }
    }
    problem
}
