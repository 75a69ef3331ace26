//! One fan's connection: HTTP/1.1 keep-alive over a TCP socket bound to the fan's own
//! loopback address, so the edge sees every fan at a different client address (the
//! per-address limits stay as in production) and no two fans share a connection.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use tokio::net::TcpSocket;

/// Fan `i`'s address: `127.x.y.z` counted from `127.1.0.1`, unique for 16 million fans.
pub fn fan_address(i: u64) -> IpAddr {
    let n = (1u64 << 16) + 1 + i;
    IpAddr::V4(Ipv4Addr::new(
        127,
        ((n >> 16) & 0xff) as u8,
        ((n >> 8) & 0xff) as u8,
        (n & 0xff) as u8,
    ))
}

/// An answer, fully read.
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
    pub retry_after: Option<u64>,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The problem's `code`, when the answer is a problem document.
    pub fn code(&self) -> String {
        self.json()["code"].as_str().unwrap_or_default().to_owned()
    }
}

pub struct Conn {
    local: IpAddr,
    remote: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
    /// Connections opened (1 + reconnects after the server closed one).
    pub opened: u32,
}

impl Conn {
    pub fn new(local: IpAddr, remote: SocketAddr) -> Conn {
        Conn {
            local,
            remote,
            sender: None,
            opened: 0,
        }
    }

    pub fn is_open(&self) -> bool {
        self.sender.as_ref().is_some_and(|s| !s.is_closed())
    }

    /// Opens the connection now (timed by the caller) unless it is open.
    pub async fn connect(&mut self) -> Result<()> {
        if !self.is_open() {
            self.open().await?;
        }
        Ok(())
    }

    async fn open(&mut self) -> Result<&mut SendRequest<Full<Bytes>>> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::new(self.local, 0))?;
        let stream = socket
            .connect(self.remote)
            .await
            .with_context(|| format!("connecting to {} from {}", self.remote, self.local))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.opened += 1;
        Ok(self.sender.insert(sender))
    }

    /// Closes the connection (a fan who gives up, or one done).
    pub fn close(&mut self) {
        self.sender = None;
    }

    /// Sends one request; reconnects once when the server had closed the idle
    /// connection (as a browser does).
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Reply> {
        let body = match body {
            Some(v) => Bytes::from(serde_json::to_vec(v)?),
            None => Bytes::new(),
        };
        let host = self.remote.to_string();
        for attempt in 0..2 {
            let sender = match self.sender.as_mut() {
                Some(s) if !s.is_closed() => s,
                _ => self.open().await?,
            };
            if sender.ready().await.is_err() {
                self.sender = None;
                continue;
            }
            let mut req = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header("host", host.as_str())
                .header("accept", "application/json");
            if !body.is_empty() {
                req = req.header("content-type", "application/json");
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let req = req.body(Full::new(body.clone()))?;
            match sender.send_request(req).await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.parse().ok());
                    let body = resp.into_body().collect().await?.to_bytes();
                    return Ok(Reply {
                        status,
                        body,
                        retry_after,
                    });
                }
                // Only a request the server never started on is sent again.
                Err(e) if attempt == 0 && (e.is_closed() || e.is_canceled()) => {
                    self.sender = None;
                }
                Err(e) => return Err(e.into()),
            }
        }
        bail!("{method} {path}: the connection closed twice")
    }
}
