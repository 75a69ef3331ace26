//! A test host for the Spin edge component: wasmtime 48 plus the two Spin interfaces
//! the component imports, served over real HTTP on loopback.
//!
//! The Spin CLI cannot be installed here (no registry ships it), and its runtime crates
//! are unpublished, so this crate stands in for `spin up` in tests. It does what the
//! Spin HTTP trigger does for our component, and nothing more:
//!
//! * **one fresh instance per request** (a new [`Store`]), as Spin does: no state
//!   survives in the component between requests, so the tests see exactly what the
//!   storage holds;
//! * **WASI 0.2 and 0.3** (the component's std uses 0.2 for stdio and its clock, the
//!   spin-sdk uses 0.3 for HTTP, clocks and randomness), with **outbound HTTP** through
//!   `wasmtime-wasi-http`'s default client (used to proxy to the origin);
//! * **`spin:redis/redis@3.0.0`** backed by a real Redis through the `redis` crate
//!   ([`redis_impl`]). Like Spin's `allowed_outbound_hosts`, only the configured
//!   address may be opened; anything else is `invalid-address`;
//! * **`spin:variables/variables@3.0.0`** from a map given at start ([`HostConfig`]),
//!   what `spin up --variable` would supply;
//! * the **`spin-client-addr`** request header, set from the TCP peer (any copy the
//!   client sent is replaced), which is how Spin tells a component the client address.
//!   Tests that need several client addresses from one machine name a header in
//!   [`HostConfig::test_client_ip_header`]: its value, when it is an IP address, stands
//!   in for the peer's (a test-host-only switch; Spin itself has nothing like it, so a
//!   deployed component cannot be lied to this way).
//!
//! Differences from Spin worth knowing: Spin opens a new Redis connection per
//! `connection.open`; this host shares one multiplexed connection (faster, same
//! semantics per command). Outbound HTTP is not restricted to an allow-list. Request
//! and response bodies are buffered whole (tests only).
//!
//! The per-request call avoids the trap `docs/edge-toolchain.md` describes: the guest streams the response body while it runs, so the body is collected
//! **inside** `store.run_concurrent`, joined with the handler call.

pub mod redis_impl;
/// The `redis` crate, for tests that look at what the component stored.
pub use ::redis;
pub mod variables_impl;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{AsContextMut, Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::handler::{Prepared, ProxyPre};
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Bindings for the Spin interfaces, generated from the WIT copied out of the spin-sdk
/// 7.0.0 crate (`wit/deps`).
pub mod wit {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "local:host/host",
        with: {
            "spin:redis/redis.connection": crate::redis_impl::RedisConn,
        },
    });
}

/// The longest a request may take inside the component.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What the host is started with.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The built component (`edge_spin.wasm`).
    pub component: PathBuf,
    /// Spin variables by name (lower case, as in `spin.toml`).
    pub variables: HashMap<String, String>,
    /// The one Redis address the component may open, e.g. `redis://127.0.0.1:6379`.
    pub redis_url: String,
    /// Tests only: a request header whose value (an IP address) the host reports as the
    /// client address instead of the TCP peer's. The header is removed before the
    /// component sees the request.
    pub test_client_ip_header: Option<String>,
}

/// Per-store data: WASI contexts, the resource table, and the shared backends.
pub struct Ctx {
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    pub(crate) shared: Arc<Shared>,
}

/// What every instance shares: the Redis backend and the variables.
pub struct Shared {
    pub(crate) redis: redis_impl::Backend,
    pub(crate) variables: HashMap<String, String>,
}

impl WasiView for Ctx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for Ctx {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        http_view(self)
    }
}

fn http_view(c: &mut Ctx) -> WasiHttpCtxView<'_> {
    WasiHttpCtxView {
        ctx: &mut c.http,
        table: &mut c.table,
        hooks: wasmtime_wasi_http::default_hooks(),
    }
}

impl Ctx {
    fn new(shared: Arc<Shared>) -> Self {
        Ctx {
            table: ResourceTable::new(),
            // Stdout/stderr go to the test's output (the component logs misconfiguration
            // and origin failures there).
            wasi: WasiCtx::builder().inherit_stdout().inherit_stderr().build(),
            http: WasiHttpCtx::new(),
            shared,
        }
    }
}

/// A compiled component, linked and ready to instantiate per request.
pub struct TestHost {
    engine: Engine,
    pre: ProxyPre<Ctx>,
    shared: Arc<Shared>,
    test_client_ip_header: Option<http::HeaderName>,
}

impl TestHost {
    /// Compiles the component and links it against WASI and the Spin interfaces.
    pub fn new(config: HostConfig) -> Result<Self> {
        if !config.component.is_file() {
            bail!(
                "{} is missing: build the component first with \
                 `cargo build -p edge-spin --target wasm32-wasip2 --profile wasm-release` \
                 (or `cargo xtask test`)",
                config.component.display()
            );
        }
        let (engine, component) = compiled(&config.component)?;
        let mut linker = Linker::<Ctx>::new(&engine);
        // The component's std still imports wasi:cli etc. @0.2; spin-sdk uses @0.3.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi::p3::add_to_linker(&mut linker)?;
        wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
        redis_impl::add_to_linker(&mut linker)?;
        variables_impl::add_to_linker(&mut linker)?;
        let pre = linker.instantiate_pre(&component).map_err(|e| {
            anyhow::Error::from(e)
                .context("linking the component (does it import something this host lacks?)")
        })?;
        let pre = wasmtime_wasi_http::p3::bindings::ServicePre::new(pre).map_err(|e| {
            anyhow::Error::from(e).context("the component does not export wasi:http/handler@0.3.0")
        })?;
        let shared = Arc::new(Shared {
            redis: redis_impl::Backend::new(&config.redis_url)?,
            variables: config.variables,
        });
        Ok(TestHost {
            engine,
            pre: ProxyPre::P3(pre),
            shared,
            test_client_ip_header: config
                .test_client_ip_header
                .and_then(|h| http::HeaderName::from_bytes(h.as_bytes()).ok()),
        })
    }

    /// Runs one request in a fresh instance and returns the whole response.
    pub async fn handle(
        &self,
        req: http::Request<WasiBody>,
    ) -> Result<http::Response<Full<Bytes>>> {
        let mut store = Store::new(&self.engine, Ctx::new(self.shared.clone()));
        let proxy = self.pre.instantiate_async(&mut store).await?;
        let (tx, rx) = futures::channel::oneshot::channel();
        let prepared = Prepared::new(store.as_context_mut(), &proxy, req, http_view, tx)?;
        let (parts, body) = store
            .run_concurrent(async move |accessor| {
                let run = prepared.run(accessor, std::future::pending::<()>());
                // Collected here, while the store still runs the guest (see the module docs).
                let collect = async move {
                    let response = rx.await.context("the handler dropped the response")?;
                    let response = response.map_err(anyhow::Error::from)?;
                    let (parts, body) = response.into_parts();
                    let body = body
                        .collect()
                        .await
                        .context("reading the component's response body")?
                        .to_bytes();
                    anyhow::Ok((parts, body))
                };
                let (ran, collected) = futures::join!(run, collect);
                ran.map_err(anyhow::Error::from)?;
                collected
            })
            .await??;
        Ok(http::Response::from_parts(parts, Full::new(body)))
    }
}

/// Compiles `path` once per process and per file version: every test of a run that
/// starts a host shares the compiled component (compiling it takes seconds in a debug
/// build of the host, and tests start hosts in parallel; the lock makes the second wait
/// for the first instead of compiling again).
fn compiled(path: &Path) -> Result<(Engine, Component)> {
    type Cache = HashMap<(PathBuf, Option<std::time::SystemTime>), (Engine, Component)>;
    static CACHE: std::sync::Mutex<Option<Cache>> = std::sync::Mutex::new(None);
    let version = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let key = (path.to_owned(), version);
    let mut cache = CACHE
        .lock()
        .map_err(|_| anyhow::anyhow!("component cache poisoned"))?;
    let cache = cache.get_or_insert_with(HashMap::new);
    if let Some(hit) = cache.get(&key) {
        return Ok(hit.clone());
    }
    let mut wasm_config = Config::new();
    wasm_config.wasm_component_model_async(true);
    // Tests need correct code, not fast code: an unoptimised compile takes a fraction of
    // the time, which dominates the host's start-up.
    wasm_config.cranelift_opt_level(wasmtime::OptLevel::None);
    let engine = Engine::new(&wasm_config)?;
    let component = Component::from_file(&engine, path)
        .map_err(|e| anyhow::Error::from(e).context(format!("compiling {}", path.display())))?;
    cache.insert(key, (engine.clone(), component.clone()));
    Ok((engine, component))
}

/// A running host: its address, and the server task (stopped on drop).
pub struct RunningHost {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RunningHost {
    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Compiles the component and serves it on `addr` (use `127.0.0.1:0` for a free port)
/// from a task on the current tokio runtime.
pub async fn serve(config: HostConfig, addr: SocketAddr) -> Result<RunningHost> {
    let host = Arc::new(tokio::task::spawn_blocking(move || TestHost::new(config)).await??);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let host = host.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let host = host.clone();
                    async move { Ok::<_, std::convert::Infallible>(answer(&host, req, peer).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(RunningHost { addr, task })
}

/// One HTTP request: Spin's headers added, the body read, the component run; a host
/// failure (trap, timeout) becomes a plain 500, as Spin answers.
async fn answer(
    host: &TestHost,
    req: http::Request<Incoming>,
    peer: SocketAddr,
) -> http::Response<Full<Bytes>> {
    match tokio::time::timeout(REQUEST_TIMEOUT, run(host, req, peer)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            eprintln!("spin-testhost: request failed: {e:#}");
            plain(500, "component failed")
        }
        Err(_) => plain(500, "component timed out"),
    }
}

async fn run(
    host: &TestHost,
    req: http::Request<Incoming>,
    peer: SocketAddr,
) -> Result<http::Response<Full<Bytes>>> {
    let (mut parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let mut peer = peer;
    if let Some(name) = &host.test_client_ip_header
        && let Some(value) = parts.headers.remove(name)
        && let Some(ip) = value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<std::net::IpAddr>().ok())
    {
        peer = SocketAddr::new(ip, peer.port());
    }
    let spin_headers: Vec<http::HeaderName> = parts
        .headers
        .keys()
        .filter(|k| k.as_str().starts_with("spin-"))
        .cloned()
        .collect();
    for k in spin_headers {
        parts.headers.remove(k);
    }
    parts.headers.insert(
        "spin-client-addr",
        http::HeaderValue::from_str(&peer.to_string())?,
    );
    // wasi:http wants an absolute URI (scheme and authority), as Spin passes it.
    let authority = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost")
        .to_owned();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    parts.uri = format!("http://{authority}{path}").parse()?;
    let body = Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync();
    host.handle(http::Request::from_parts(parts, body)).await
}

fn plain(status: u16, text: &'static str) -> http::Response<Full<Bytes>> {
    let mut r = http::Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() =
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    r
}

/// `target/wasm32-wasip2/wasm-release/edge_spin.wasm` of this workspace.
pub fn default_component() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/wasm32-wasip2/wasm-release/edge_spin.wasm")
}
