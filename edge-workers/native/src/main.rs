//! `urr-edge`: URR's waiting room as a native server, thin glue around
//! [`shared_wasm::edge`] like the Cloudflare worker and the Spin component.
//!
//! It is the edge for operators who host it themselves (behind their own load
//! balancer) and for load tests beyond what `wrangler dev` carries on one machine
//! (about 1,100 requests a second). The decisions are the same code as on both
//! platforms; only the glue is here:
//!
//! * **the server**: axum, on a socket with a deep backlog, the client address from the
//!   connection (or from `CLIENT_IP_HEADER` when a trusted proxy sets one);
//! * **storage** ([`host`]): the Spin layout in Redis, one writer per event per process,
//!   a one-second snapshot cache;
//! * **proxying** to `ORIGIN_URL`, which may list several origin replicas (comma
//!   separated): each request goes to the next one in turn, its body streamed both
//!   ways, redirects passed back, headers filtered by the same rule as the platforms;
//! * **a cache for public answers** ([`public_cache`]), as a CDN in front of the origin
//!   would keep them (the seat map is asked for by every fan choosing seats).
//!
//! | variable              | default                  | meaning |
//! |-----------------------|--------------------------|---------|
//! | `EDGE_ADDR`           | `127.0.0.1:8787`         | where to listen |
//! | `REDIS_URL`           | `redis://127.0.0.1:6379` | the state's Redis |
//! | `REDIS_PREFIX`        | none                     | put before every key (tests) |
//! | `REDIS_RESPONSE_TIMEOUT_MS` | `2000`             | a Redis answer slower than this is a 503 |
//! | `ORIGIN_URL`          | none (502 `ORIGIN_NOT_CONFIGURED`) | origin replicas, comma separated |
//! | `ORIGIN_MAX_IN_FLIGHT` | `1024`                  | requests to the origin at once; more wait their turn |
//! | `CLIENT_IP_HEADER`    | none                     | trust this header for the client address (only behind a proxy that sets it) |
//! | `EDGE_SIGNING_KEY`, `ORIGIN_PUBLIC_KEYS`, `EDGE_PUBLIC_KEYS`, `COOKIE_SECURE`, `PASS_PATH`, `EDGE_PROXY_SECRET` | | as on every platform ([`EdgeConfig::from_vars`]) |

mod host;
mod public_cache;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use futures_util::TryStreamExt;
use host::{RedisHost, Store};
use public_cache::PublicCache;
use shared_wasm::edge::http::{
    HeaderFilter, MAX_BODY_LEN, Request as EdgeRequest, Response as EdgeResponse,
};
use shared_wasm::edge::{Edge, EdgeConfig, Outcome};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Pending connections the kernel may queue (capped by `net.core.somaxconn`).
const LISTEN_BACKLOG: u32 = 8192;

struct App {
    edge: Edge,
    store: Arc<Store>,
    origins: Vec<String>,
    next_origin: AtomicUsize,
    client_ip_header: Option<HeaderName>,
    http: reqwest::Client,
    public: PublicCache,
    /// Requests to the origin in flight at most (`ORIGIN_MAX_IN_FLIGHT`): each is a
    /// connection, and a burst must queue here rather than exhaust the process's file
    /// descriptors or the origin's.
    upstream: Arc<tokio::sync::Semaphore>,
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("EDGE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    raise_open_files_limit();
    let config = EdgeConfig::from_vars(var).map_err(anyhow::Error::msg)?;
    if config.proxy_secret.is_none() {
        tracing::warn!(
            "EDGE_PROXY_SECRET is not set: proxied requests carry no urr-client-ip \
             attestation, so the origin sees every fan at the edge's address"
        );
    }
    let redis_url = var("REDIS_URL").unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let prefix = var("REDIS_PREFIX").unwrap_or_default();
    anyhow::ensure!(
        !prefix.contains(['{', '}']),
        "REDIS_PREFIX must not contain braces (they would change the keys' hash slot)"
    );
    let redis = redis::Client::open(redis_url.as_str()).context("REDIS_URL")?;
    let response_timeout = var("REDIS_RESPONSE_TIMEOUT_MS")
        .map(|v| v.parse::<u64>().context("REDIS_RESPONSE_TIMEOUT_MS"))
        .transpose()?
        .unwrap_or(2000);
    let redis = redis::aio::ConnectionManager::new_with_config(
        redis,
        redis::aio::ConnectionManagerConfig::new()
            .set_response_timeout(Some(Duration::from_millis(response_timeout))),
    )
    .await
    .with_context(|| format!("connecting to {redis_url}"))?;
    let origins: Vec<String> = var("ORIGIN_URL")
        .unwrap_or_default()
        .split(',')
        .map(|o| o.trim().trim_end_matches('/').to_owned())
        .filter(|o| !o.is_empty())
        .collect();
    let client_ip_header = match var("CLIENT_IP_HEADER") {
        Some(h) => Some(HeaderName::try_from(h.to_ascii_lowercase()).context("CLIENT_IP_HEADER")?),
        None => None,
    };
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .pool_max_idle_per_host(512)
        // Below the origin's idle limit (URR_HTTP_HEADER_READ_TIMEOUT_MS, 20 s): a
        // pooled connection is dropped here before the origin closes it under a request.
        .pool_idle_timeout(Duration::from_secs(15))
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .build()?;
    let app = Arc::new(App {
        edge: Edge::new(config),
        store: Arc::new(Store::new(redis, prefix)),
        origins,
        next_origin: AtomicUsize::new(0),
        client_ip_header,
        http,
        public: PublicCache::default(),
        upstream: Arc::new(tokio::sync::Semaphore::new(
            var("ORIGIN_MAX_IN_FLIGHT")
                .map(|v| v.parse::<usize>().context("ORIGIN_MAX_IN_FLIGHT"))
                .transpose()?
                .unwrap_or(1024)
                .max(1),
        )),
    });
    let addr: SocketAddr = var("EDGE_ADDR")
        .unwrap_or_else(|| "127.0.0.1:8787".into())
        .parse()
        .context("EDGE_ADDR")?;
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket
        .bind(addr)
        .with_context(|| format!("binding {addr}"))?;
    let listener = socket.listen(LISTEN_BACKLOG)?;
    tracing::info!(%addr, origins = app.origins.len(), "edge listening");
    let router = axum::Router::new().fallback(handle).with_state(app);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}

/// Every open connection is a file descriptor: take the hard limit.
fn raise_open_files_limit() {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::info!(open_files = n, "file descriptor limit"),
        Err(e) => tracing::warn!(error = %e, "could not raise the file descriptor limit"),
    }
}

async fn handle(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request<Body>,
) -> Response<Body> {
    let target = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    let client_ip = app
        .client_ip_header
        .as_ref()
        .and_then(|h| req.headers().get(h))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| peer.ip().to_string());
    let header_pairs: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let edge_req = match EdgeRequest::new(req.method().as_str(), &target, header_pairs) {
        Ok(r) => r.with_client_ip(Some(client_ip)),
        Err(refused) => return reply(refused),
    };
    let route = app.edge.route(&edge_req);
    let (parts, body) = req.into_parts();
    let (body, bytes) = if route.needs_body() {
        (None, read_bounded(&parts.headers, body).await)
    } else {
        (Some(body), None)
    };
    let host = RedisHost(app.store.clone());
    match app
        .edge
        .handle(&host, &edge_req, route, bytes.as_deref())
        .await
    {
        Outcome::Respond(r) => reply(r),
        Outcome::Proxy { headers } => proxy(&app, parts, body, &target, &headers).await,
    }
}

/// The body, or `None` when it is larger than [`MAX_BODY_LEN`].
async fn read_bounded(headers: &HeaderMap, body: Body) -> Option<Vec<u8>> {
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|l| l > MAX_BODY_LEN) {
        return None;
    }
    axum::body::to_bytes(body, MAX_BODY_LEN)
        .await
        .ok()
        .map(|b| b.to_vec())
}

fn reply(r: EdgeResponse) -> Response<Body> {
    let mut out = Response::new(Body::from(r.body));
    *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in &r.headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            out.headers_mut().append(name, value);
        }
    }
    out
}

fn connection_values(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(axum::http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// Forwards the request to the next origin replica with the edge's extra headers.
async fn proxy(
    app: &App,
    parts: axum::http::request::Parts,
    body: Option<Body>,
    target: &str,
    extra: &[(String, String)],
) -> Response<Body> {
    if app.origins.is_empty() {
        return reply(EdgeResponse::problem(
            502,
            "ORIGIN_NOT_CONFIGURED",
            "ORIGIN_URL is not set",
        ));
    }
    let cache_key = (parts.method == axum::http::Method::GET).then(|| target.to_owned());
    if let Some(hit) = cache_key.as_deref().and_then(|k| app.public.get(k)) {
        return stored_reply(&hit, extra);
    }
    let turn = app.next_origin.fetch_add(1, Ordering::Relaxed);
    let url = format!("{}{target}", app.origins[turn % app.origins.len()]);
    let filter = HeaderFilter::request(connection_values(&parts.headers));
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &parts.headers {
        if filter.forwards(k.as_str()) {
            headers.append(k.clone(), v.clone());
        }
    }
    for (k, v) in extra {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(v),
        ) {
            headers.insert(name, value);
        }
    }
    let mut upstream = app
        .http
        .request(parts.method.clone(), &url)
        .headers(headers);
    if let Some(body) = body
        && !matches!(
            parts.method,
            axum::http::Method::GET | axum::http::Method::HEAD
        )
    {
        upstream = upstream.body(reqwest::Body::wrap_stream(body.into_data_stream()));
    }
    // Held until the answer's body has been passed on (moved into the stream below).
    let Ok(in_flight) = app.upstream.clone().acquire_owned().await else {
        return reply(EdgeResponse::problem(
            503,
            "EDGE_SHUTTING_DOWN",
            "the edge is shutting down",
        ));
    };
    match upstream.send().await {
        Ok(resp) => {
            let status = resp.status();
            let filter = HeaderFilter::response(connection_values(resp.headers()));
            let mut headers = HeaderMap::new();
            for (k, v) in resp.headers() {
                if filter.forwards(k.as_str()) {
                    headers.append(k.clone(), v.clone());
                }
            }
            let ttl = cache_key
                .as_ref()
                .and_then(|_| public_cache::storable(status, resp.headers()));
            let body = match (cache_key, ttl) {
                (Some(key), Some(ttl)) => match resp.bytes().await {
                    Ok(bytes) if bytes.len() <= public_cache::MAX_BODY => {
                        app.public.put(key, status, &headers, bytes.clone(), ttl);
                        Body::from(bytes)
                    }
                    _ => {
                        return reply(EdgeResponse::problem(
                            502,
                            "ORIGIN_UNREACHABLE",
                            "the origin's answer broke off",
                        ));
                    }
                },
                _ => Body::from_stream(resp.bytes_stream().map_err(std::io::Error::other).map_ok(
                    move |chunk| {
                        let _held = &in_flight;
                        chunk
                    },
                )),
            };
            let mut out = Response::new(body);
            *out.status_mut() = status;
            *out.headers_mut() = headers;
            set_request_id(&mut out, extra);
            out
        }
        Err(e) => {
            tracing::warn!(error = ?e, %url, "origin fetch failed");
            reply(EdgeResponse::problem(
                502,
                "ORIGIN_UNREACHABLE",
                "the origin did not answer",
            ))
        }
    }
}

/// A stored public answer, with this request's id.
fn stored_reply(hit: &public_cache::Stored, extra: &[(String, String)]) -> Response<Body> {
    let mut out = Response::new(Body::from(hit.body.clone()));
    *out.status_mut() = hit.status;
    for (k, v) in &hit.headers {
        out.headers_mut().append(k.clone(), v.clone());
    }
    out.headers_mut()
        .insert("x-edge-cache", HeaderValue::from_static("hit"));
    set_request_id(&mut out, extra);
    out
}

/// The edge's request id on the answer, replacing the origin's copy.
fn set_request_id(out: &mut Response<Body>, extra: &[(String, String)]) {
    if let Some((_, id)) = extra.iter().find(|(k, _)| k == "x-request-id")
        && let Ok(v) = HeaderValue::from_str(id)
    {
        out.headers_mut().insert("x-request-id", v);
    }
}
