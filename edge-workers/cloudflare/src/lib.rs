//! URR's waiting room on Cloudflare Workers: thin glue around [`shared_wasm::edge`].
//!
//! Everything the waiting room *decides* (routes, the entry-token guard, positions,
//! passes, the page, rules ordering) lives in `shared-wasm`, shared bit for bit with the
//! Spin edge. This crate only supplies what is Cloudflare-specific:
//!
//! * **the fetch handler** ([`fetch`]): converts the request (bounded), asks the edge
//!   logic, then answers or proxies to `ORIGIN_URL` (streaming the body, not following
//!   redirects, dropping what [`http::HeaderFilter`] refuses both ways, adding
//!   `x-request-id` and the client IP from `CF-Connecting-IP`, attested in
//!   `urr-client-ip` when `EDGE_PROXY_SECRET` is set);
//! * **storage**: one Durable Object per event ([`queue::EventQueue`]), which holds the
//!   event's [`EventState`] and runs the atomic operations (`join`, `observe`, `push`,
//!   the join-limit counters and proof-of-work claims) inside the object, where requests
//!   are processed one at a time; objects exist only for events a rules push was
//!   applied for (a registry object lists them, see [`host`]);
//! * **a per-isolate snapshot cache** ([`host`]): status polls, pages and the guard read a
//!   copy of the event state at most [`host::SNAPSHOT_TTL_MS`] old, so a poll does not
//!   hit the object every time;
//! * **config** from vars and secrets (see the README): `EDGE_SIGNING_KEY`,
//!   `ORIGIN_PUBLIC_KEYS`, `ORIGIN_URL`, optional `EDGE_PUBLIC_KEYS`, `COOKIE_SECURE`,
//!   `PASS_PATH`, `EDGE_PROXY_SECRET`, `QUEUE_SHARDS` (join counters per event,
//!   default 1).
//!
//! The `noop` feature builds a worker that answers 200 to everything: the baseline of
//! `cargo xtask bench edge`.

// The no-op build keeps the object class (wrangler.toml binds it) but not the glue.
#![cfg_attr(feature = "noop", allow(dead_code, unused_imports))]

mod host;
mod queue;

use shared_wasm::edge::http::{
    self, MAX_BODY_LEN, Request as EdgeRequest, Response as EdgeResponse,
};
use shared_wasm::edge::{Edge, EdgeConfig, Outcome};
use std::cell::RefCell;
use worker::{
    Context, Env, Fetch, Headers, Request, RequestInit, RequestRedirect, Response, Result, event,
};

pub use queue::EventQueue;

thread_local! {
    /// The parsed configuration, built on the first request of an isolate. Secrets
    /// cannot change within an isolate (a new deployment starts new isolates).
    static EDGE: RefCell<Option<std::result::Result<Edge, String>>> = const { RefCell::new(None) };
}

fn env_string(env: &Env, name: &str) -> Option<String> {
    env.secret(name)
        .map(|s| s.to_string())
        .or_else(|_| env.var(name).map(|v| v.to_string()))
        .ok()
        .filter(|s| !s.is_empty())
}

fn edge(env: &Env) -> std::result::Result<Edge, String> {
    EDGE.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| {
                let edge = EdgeConfig::from_vars(|name| env_string(env, name)).map(Edge::new);
                // Once per isolate: the configuration is built once.
                if let Ok(e) = &edge
                    && e.config.proxy_secret.is_none()
                {
                    worker::console_warn!(
                        "EDGE_PROXY_SECRET is not set: proxied requests carry no urr-client-ip \
                         attestation, so the origin sees every fan at the edge's address"
                    );
                }
                edge
            })
            .clone()
    })
}

/// Converts an edge answer into a Workers response.
pub(crate) fn to_worker(r: EdgeResponse) -> Result<Response> {
    let headers = Headers::new();
    for (k, v) in &r.headers {
        headers.append(k, v)?;
    }
    let body = if r.body.is_empty() {
        Response::empty()?
    } else {
        Response::from_bytes(r.body)?
    };
    Ok(body.with_status(r.status).with_headers(headers))
}

#[cfg(feature = "noop")]
#[event(fetch)]
async fn fetch(_req: Request, _env: Env, _ctx: Context) -> Result<Response> {
    Response::ok("ok")
}

#[cfg(not(feature = "noop"))]
#[event(fetch)]
async fn fetch(mut req: Request, env: Env, _ctx: Context) -> Result<Response> {
    console_error_panic_hook::set_once();
    let edge = match edge(&env) {
        Ok(edge) => edge,
        Err(msg) => {
            worker::console_error!("edge misconfigured: {msg}");
            return to_worker(EdgeResponse::problem(
                500,
                "EDGE_MISCONFIGURED",
                "the edge worker is misconfigured; see its logs",
            ));
        }
    };
    let url = req.url()?;
    let target = match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    };
    let raw_headers: Vec<(String, String)> = req.headers().entries().collect();
    // Cloudflare sets CF-Connecting-IP itself, replacing any copy the client sent.
    let client_ip = req.headers().get("cf-connecting-ip")?;
    // The absolute URL: its authority stands in for a missing Host header.
    let absolute = match url.query() {
        Some(q) => format!("{}://{}{}?{q}", url.scheme(), authority(&url), url.path()),
        None => format!("{}://{}{}", url.scheme(), authority(&url), url.path()),
    };
    let edge_req = match EdgeRequest::new(
        req.method().as_ref(),
        &absolute,
        raw_headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    ) {
        Ok(r) => r.with_client_ip(client_ip),
        Err(refused) => return to_worker(refused),
    };
    let route = edge.route(&edge_req);
    let body = if route.needs_body() {
        read_bounded(&mut req).await?
    } else {
        None
    };
    let shards = env_string(&env, "QUEUE_SHARDS")
        .and_then(|k| k.trim().parse::<u64>().ok())
        .unwrap_or(1);
    let host = host::CfHost::new(&env, shards);
    match edge.handle(&host, &edge_req, route, body.as_deref()).await {
        Outcome::Respond(r) => to_worker(r),
        Outcome::Proxy { headers } => proxy(&req, &env, &target, &headers).await,
    }
}

/// `host[:port]` of a URL.
#[cfg(not(feature = "noop"))]
fn authority(url: &worker::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

/// The body, or `None` when it is larger than [`MAX_BODY_LEN`].
#[cfg(not(feature = "noop"))]
async fn read_bounded(req: &mut Request) -> Result<Option<Vec<u8>>> {
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|l| l.parse::<usize>().ok());
    if declared.is_some_and(|l| l > MAX_BODY_LEN) {
        return Ok(None);
    }
    let bytes = req.bytes().await?;
    Ok((bytes.len() <= MAX_BODY_LEN).then_some(bytes))
}

/// Forwards `req` to `ORIGIN_URL` with the edge's extra headers; the body streams
/// through, and redirects are passed back to the client rather than followed.
#[cfg(not(feature = "noop"))]
async fn proxy(
    req: &Request,
    env: &Env,
    target: &str,
    extra: &[(String, String)],
) -> Result<Response> {
    let Some(origin) = env_string(env, "ORIGIN_URL") else {
        return to_worker(EdgeResponse::problem(
            502,
            "ORIGIN_NOT_CONFIGURED",
            "ORIGIN_URL is not set",
        ));
    };
    let url = format!("{}{target}", origin.trim_end_matches('/'));
    let filter = http::HeaderFilter::request(req.headers().get("connection")?.as_deref());
    let headers = Headers::new();
    for (k, v) in req.headers().entries() {
        if filter.forwards(&k) {
            headers.append(&k, &v)?;
        }
    }
    for (k, v) in extra {
        headers.set(k, v)?;
    }
    let mut init = RequestInit::new();
    init.with_method(req.method())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !matches!(req.method(), worker::Method::Get | worker::Method::Head) {
        init.with_body(req.inner().body().map(Into::into));
    }
    let upstream = Request::new_with_init(&url, &init)?;
    match Fetch::Request(upstream).send().await {
        Ok(resp) => {
            // The origin's headers are immutable: copy them to add the request id.
            let filter = http::HeaderFilter::response(resp.headers().get("connection")?.as_deref());
            let headers = Headers::new();
            for (k, v) in resp.headers().entries() {
                if filter.forwards(&k) {
                    headers.append(&k, &v)?;
                }
            }
            if let Some((_, id)) = extra.iter().find(|(k, _)| k == "x-request-id") {
                headers.set("x-request-id", id)?;
            }
            Ok(resp.with_headers(headers))
        }
        Err(e) => {
            worker::console_error!("origin fetch failed: {e}");
            to_worker(EdgeResponse::problem(
                502,
                "ORIGIN_UNREACHABLE",
                "the origin did not answer",
            ))
        }
    }
}
