//! A stub origin: answers every request with 200 and records what it received, so
//! cases can check what the edge forwarded (headers, body, request id).

use anyhow::Result;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use std::sync::{Arc, Mutex};

/// One request as the origin saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Seen>>>);

pub struct StubOrigin {
    url: String,
    log: Log,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StubOrigin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn record(
    axum::extract::State(log): axum::extract::State<Log>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let target = uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| uri.path().to_owned());
    let seen = Seen {
        method: method.to_string(),
        target: target.clone(),
        headers,
        body: body.to_vec(),
    };
    if let Ok(mut l) = log.0.lock() {
        l.push(seen);
    }
    if target.starts_with("/stub/redirect") {
        return (StatusCode::FOUND, [("location", "/somewhere-else")]).into_response();
    }
    (
        StatusCode::OK,
        [("content-type", "application/json"), ("x-stub-origin", "1")],
        format!("{{\"stub\":true,\"bytes\":{}}}", body.len()),
    )
        .into_response()
}

impl StubOrigin {
    /// Listens on `127.0.0.1:0`.
    pub async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let log = Log::default();
        let app = axum::Router::new().fallback(record).with_state(log.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(StubOrigin {
            url: format!("http://{addr}"),
            log,
            task,
        })
    }

    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// The requests received whose target starts with `prefix`.
    pub fn seen(&self, prefix: &str) -> Vec<Seen> {
        self.log
            .0
            .lock()
            .map(|l| {
                l.iter()
                    .filter(|s| s.target.starts_with(prefix))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }
}
