//! The API's listening socket, set up for the first second of an on-sale.
//!
//! - **Backlog.** A burst of fans opens thousands of connections within a second; the
//!   kernel queues them until `accept` takes them. Tokio's default backlog (1,024) drops
//!   the rest as SYN retries that cost each fan a second or more, so the socket asks
//!   for [`LISTEN_BACKLOG`] (the kernel caps it at `net.core.somaxconn`; raise that on
//!   the host too).
//! - **Running out of file descriptors.** When `accept` fails with `EMFILE`/`ENFILE`,
//!   axum's own listener sleeps a whole second before trying again, during which no
//!   one gets in even though connections close every millisecond. [`Accepting`] retries
//!   after 5 ms, doubling up to 200 ms, and counts each failure
//!   (`urr_accept_errors_total`). Raise `ulimit -n` so it never happens: every open
//!   connection is one descriptor.
//! - Accepted sockets get `TCP_NODELAY`: answers are small and must not wait for
//!   Nagle's algorithm.

use axum::serve::Listener;
use std::io;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// Pending connections the kernel may queue for us.
pub const LISTEN_BACKLOG: u32 = 8192;

/// Binds `addr` with [`LISTEN_BACKLOG`].
pub fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // A restarted origin binds again at once, without waiting out TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// [`TcpListener`] with short retries on accept errors (see the module docs).
pub struct Accepting(pub TcpListener);

/// Errors of one connection (the client gave up before we took it): skip it.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

impl Listener for Accepting {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        let mut pause = Duration::from_millis(5);
        loop {
            match self.0.accept().await {
                Ok((stream, addr)) => {
                    let _ = stream.set_nodelay(true);
                    return (stream, addr);
                }
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    metrics::counter!("urr_accept_errors_total").increment(1);
                    tracing::warn!(error = %e, pause_ms = pause.as_millis() as u64, "accept failed (out of file descriptors?)");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_and_accepts_with_nodelay() {
        let listener = bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut accepting = Accepting(listener);
        let client = tokio::spawn(async move { TcpStream::connect(addr).await });
        let (stream, from) = accepting.accept().await;
        assert!(stream.nodelay().expect("nodelay"));
        let client = client.await.expect("join").expect("connect");
        assert_eq!(from, client.local_addr().expect("client addr"));
        assert_eq!(accepting.local_addr().expect("addr"), addr);
    }
}
