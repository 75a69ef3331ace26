//! The API's connection loop: axum's router on hyper, with the timeouts `axum::serve`
//! does not set.
//!
//! - **Header-read timeout** ([`ConnLimits::header_read`], `URR_HTTP_HEADER_READ_TIMEOUT_MS`,
//!   default 20 s). A client must send a request's whole head within it. Hyper starts
//!   the clock whenever the connection waits for a head, so the same limit closes
//!   keep-alive connections idle for that long: a slow or silent client cannot hold a
//!   connection (a descriptor, a task) forever. Proxies in front of the origin should
//!   drop pooled connections sooner (the native edge keeps them 15 s).
//! - **Graceful shutdown.** On the stop signal the listener closes, connections finish
//!   the request in flight and close; after [`ConnLimits::drain`] the rest are dropped.
//! - Every request carries [`ConnectInfo`] with the peer address, as
//!   `into_make_service_with_connect_info` would give it.

use super::listener::Accepting;
use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use std::future::Future;
use std::time::Duration;
use tower::ServiceExt;

/// Connection limits (see the module docs).
#[derive(Debug, Clone, Copy)]
pub struct ConnLimits {
    pub header_read: Duration,
    pub drain: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    mut listener: Accepting,
    app: Router,
    limits: ConnLimits,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let app = app.clone();
        let service =
            hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                app.clone().oneshot(req.map(axum::body::Body::new))
            });
        let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(limits.drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            drain_secs = limits.drain.as_secs(),
            "connections still open after the drain time; dropping them"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn started(
        header_read: Duration,
    ) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
        let listener =
            super::super::listener::bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().route(
            "/who",
            axum::routing::get(
                |ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>| async move {
                    peer.ip().to_string()
                },
            ),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let limits = ConnLimits {
            header_read,
            drain: Duration::from_secs(5),
        };
        tokio::spawn(serve(Accepting(listener), app, limits, async {
            let _ = stopped.await;
        }));
        (addr, stop)
    }

    #[tokio::test]
    async fn a_silent_client_is_disconnected_and_a_prompt_one_served() {
        let (addr, _stop) = started(Duration::from_millis(300)).await;
        // Half a request head, then nothing: the server closes the connection.
        let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
        slow.write_all(b"GET /who HTTP/1.1\r\nHost: x\r\n")
            .await
            .expect("write");
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf))
            .await
            .expect("the server closes a silent connection well before 10 s");
        assert!(read.is_ok());
        assert!(
            !String::from_utf8_lossy(&buf).contains("200 OK"),
            "no answer to a head that never ended: {buf:?}"
        );
        // A whole request is answered, with the peer address.
        let mut prompt = tokio::net::TcpStream::connect(addr).await.expect("connect");
        prompt
            .write_all(b"GET /who HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("write");
        let mut answer = String::new();
        prompt.read_to_string(&mut answer).await.expect("read");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("127.0.0.1"), "{answer}");
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed() {
        let (addr, _stop) = started(Duration::from_millis(300)).await;
        let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
        conn.write_all(b"GET /who HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("write");
        // The answer, then the close once the connection has idled past the limit.
        let mut all = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), conn.read_to_end(&mut all))
            .await
            .expect("closed after idling")
            .expect("read");
        assert!(String::from_utf8_lossy(&all).starts_with("HTTP/1.1 200"));
    }

    #[tokio::test]
    async fn shutdown_stops_accepting() {
        let (addr, stop) = started(Duration::from_secs(5)).await;
        let _ = stop.send(());
        let refused = async {
            loop {
                if tokio::net::TcpStream::connect(addr).await.is_err() {
                    return;
                }
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), refused)
            .await
            .expect("the listener closes after the stop signal");
    }
}
