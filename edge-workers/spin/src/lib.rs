//! URR's waiting room on Fermyon Spin: thin glue around [`shared_wasm::edge`].
//!
//! Everything the waiting room *decides* (routes, the entry-token guard, positions,
//! passes, the page, rules ordering) lives in `shared-wasm`, shared bit for bit with the
//! Cloudflare edge; both answer the same conformance suite. This crate only supplies
//! what is Spin-specific:
//!
//! * **the HTTP handler** ([`handle`], a WASI 0.3 `wasi:http/handler` export via
//!   spin-sdk 7): converts the request (bounded), asks the edge logic, then answers or
//!   proxies to `origin_url` with outbound HTTP (streaming the body both ways, not
//!   following redirects, dropping what [`http::HeaderFilter`] refuses both ways,
//!   adding `x-request-id` and the client IP Spin reports in `spin-client-addr`,
//!   attested in `urr-client-ip` when `edge_proxy_secret` is set);
//! * **storage** ([`host`]): one Redis key per event, updated by compare-and-set, through
//!   `spin:redis`;
//! * **config** from Spin variables ([`config`]).
//!
//! [`http::HeaderFilter`]: shared_wasm::edge::http::HeaderFilter
//!
//! Spin creates a fresh instance per request, so nothing is cached between requests:
//! the configuration is read per request (a handful of cheap host calls) and every
//! status poll reads Redis.

mod config;
pub mod host;

use http_body_util::BodyExt;
use shared_wasm::edge::Outcome;
use shared_wasm::edge::http::{
    self as edge_http, MAX_BODY_LEN, Request as EdgeRequest, Response as EdgeResponse,
};
use spin_sdk::http::{BoxBody, EmptyBody, FullBody, Request, Response, box_body};
use spin_sdk::http_service;

/// What the handler answers: a response with a body of any kind (ours, or the origin's
/// streamed through).
type Reply = Response<BoxBody>;

#[http_service]
async fn handle(req: Request) -> Reply {
    let vars = config::Vars::load().await;
    let edge = match vars.edge() {
        Ok(edge) => edge,
        Err(msg) => {
            eprintln!("edge misconfigured: {msg}");
            return reply(EdgeResponse::problem(
                500,
                "EDGE_MISCONFIGURED",
                "the edge component is misconfigured; see its logs",
            ));
        }
    };
    if edge.config.proxy_secret.is_none() {
        warn_no_proxy_secret();
    }
    let target = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| "/".to_owned());
    // Spin passes an absolute URI: its authority stands in for a missing Host header.
    let absolute = match req.uri().authority() {
        Some(a) => format!("http://{a}{target}"),
        None => target.clone(),
    };
    let header_pairs: Vec<(&str, &str)> = req
        .headers()
        .iter()
        .filter_map(|(k, v)| v.to_str().ok().map(|v| (k.as_str(), v)))
        .collect();
    let edge_req = match EdgeRequest::new(req.method().as_str(), &absolute, header_pairs) {
        Ok(r) => r.with_client_ip(client_ip(&req)),
        Err(refused) => return reply(refused),
    };
    let route = edge.route(&edge_req);
    let (parts, body) = req.into_parts();
    let (body, body_bytes) = if route.needs_body() {
        (None, read_bounded(&parts.headers, body).await)
    } else {
        (Some(body), None)
    };
    let host = host::SpinHost::new(vars.redis_url());
    match edge
        .handle(&host, &edge_req, route, body_bytes.as_deref())
        .await
    {
        Outcome::Respond(r) => reply(r),
        Outcome::Proxy { headers } => {
            proxy(vars.origin_url(), parts, body, &target, &headers).await
        }
    }
}

/// Logs, once per instance (Spin starts one per request), that no client-IP
/// attestation is sent.
fn warn_no_proxy_secret() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "edge_proxy_secret is not set: proxied requests carry no urr-client-ip \
             attestation, so the origin sees every fan at the edge's address"
        );
    }
}

/// The client address Spin observed. The Spin HTTP trigger sets `spin-client-addr`
/// (`ip:port`) on every request, replacing any the client sent; the port is dropped.
fn client_ip(req: &Request) -> Option<String> {
    let addr = req.headers().get("spin-client-addr")?.to_str().ok()?;
    match addr.parse::<std::net::SocketAddr>() {
        Ok(sa) => Some(sa.ip().to_string()),
        Err(_) => Some(addr.to_owned()),
    }
}

/// The body, or `None` when it is larger than [`MAX_BODY_LEN`] (checked against the
/// declared length first, then while reading, so an oversized body is never buffered).
async fn read_bounded(
    headers: &spin_sdk::http::HeaderMap,
    body: spin_sdk::wasip3::http_compat::IncomingRequestBody,
) -> Option<Vec<u8>> {
    let declared = headers
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|l| l > MAX_BODY_LEN) {
        return None;
    }
    let mut body = body;
    let mut out = Vec::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return None;
        };
        if let Some(data) = frame.data_ref() {
            if out.len() + data.len() > MAX_BODY_LEN {
                return None;
            }
            out.extend_from_slice(data);
        }
    }
    Some(out)
}

/// Converts an edge answer into a Spin response.
fn reply(r: EdgeResponse) -> Reply {
    let mut builder = http::Response::builder().status(r.status);
    for (k, v) in &r.headers {
        builder = builder.header(k.as_str(), v.as_str());
    }
    let body = if r.body.is_empty() {
        box_body(EmptyBody::new())
    } else {
        box_body(FullBody::new(bytes::Bytes::from(r.body)))
    };
    builder.body(body).unwrap_or_else(|e| {
        eprintln!("edge response did not build: {e}");
        let mut fallback = http::Response::new(box_body(EmptyBody::new()));
        *fallback.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
        fallback
    })
}

/// The values of a message's `Connection` headers; a value that is not text names no
/// field we could match, so it is skipped.
fn connection_values(headers: &http::HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
}

/// Forwards the request to the origin with the edge's extra headers; the body streams
/// through, and redirects are passed back to the client rather than followed (WASI
/// outbound HTTP never follows them).
///
/// Both bodies are re-boxed on purpose: spin-sdk forwards an *untouched* incoming body
/// by handing over the original WASI request/response object, which would silently
/// drop the URL and header changes made here.
async fn proxy(
    origin: Option<String>,
    parts: http::request::Parts,
    body: Option<spin_sdk::wasip3::http_compat::IncomingRequestBody>,
    target: &str,
    extra: &[(String, String)],
) -> Reply {
    let Some(origin) = origin else {
        return reply(EdgeResponse::problem(
            502,
            "ORIGIN_NOT_CONFIGURED",
            "origin_url is not set",
        ));
    };
    let url = format!("{}{target}", origin.trim_end_matches('/'));
    let mut builder = http::Request::builder()
        .method(parts.method.clone())
        .uri(&url);
    let filter = edge_http::HeaderFilter::request(connection_values(&parts.headers));
    for (k, v) in &parts.headers {
        if filter.forwards(k.as_str()) {
            builder = builder.header(k, v);
        }
    }
    let body = match body {
        Some(b) if !matches!(parts.method, http::Method::GET | http::Method::HEAD) => box_body(b),
        _ => box_body(EmptyBody::new()),
    };
    let upstream = match builder.body(body) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("proxy request to {url} did not build: {e}");
            return reply(EdgeResponse::problem(
                502,
                "ORIGIN_UNREACHABLE",
                "the origin request could not be built",
            ));
        }
    };
    // The edge's headers replace any the client sent with the same names.
    let mut upstream = upstream;
    for (k, v) in extra {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(k.as_bytes()),
            http::HeaderValue::from_str(v),
        ) {
            upstream.headers_mut().insert(name, value);
        }
    }
    match spin_sdk::http::send(upstream).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            // The same rule the Cloudflare glue applies (one filter, in shared-wasm).
            let filter = edge_http::HeaderFilter::response(connection_values(&parts.headers));
            let dropped: Vec<http::HeaderName> = parts
                .headers
                .keys()
                .filter(|name| !filter.forwards(name.as_str()))
                .cloned()
                .collect();
            for name in dropped {
                parts.headers.remove(name);
            }
            if let Some((_, id)) = extra.iter().find(|(k, _)| k == "x-request-id")
                && let Ok(v) = http::HeaderValue::from_str(id)
            {
                parts.headers.insert("x-request-id", v);
            }
            http::Response::from_parts(parts, box_body(body))
        }
        Err(e) => {
            eprintln!("origin fetch failed: {e:?}");
            reply(EdgeResponse::problem(
                502,
                "ORIGIN_UNREACHABLE",
                "the origin did not answer",
            ))
        }
    }
}
