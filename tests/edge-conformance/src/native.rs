//! The native platform: `urr-edge` (`edge-workers/native`) as a child process on a free
//! port, its state in the test Redis under a prefix of its own.
//!
//! [`Native::start`] needs the binary built first (`cargo build -p edge-native`, which
//! `cargo xtask test` runs); without it, starting fails with that command.

use crate::{Platform, RunningEdge, Vars};
use anyhow::{Context, Result, bail};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Native {
    pub binary: PathBuf,
    pub redis_url: String,
}

impl Default for Native {
    fn default() -> Self {
        Self::new()
    }
}

impl Native {
    /// The debug binary of this workspace (honouring `CARGO_TARGET_DIR`), against the
    /// test Redis.
    pub fn new() -> Self {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
        Native {
            binary: target.join("debug/urr-edge"),
            redis_url: std::env::var("URR_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
        }
    }
}

/// The header `urr-edge` is told to trust for the client address (`CLIENT_IP_HEADER`),
/// as an operator does behind a proxy that sets it.
pub const CLIENT_IP_HEADER: &str = "x-urr-test-client-ip";

/// Stops the child when dropped.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Platform for Native {
    fn name(&self) -> &str {
        "native"
    }

    fn client_ip_header(&self) -> &str {
        CLIENT_IP_HEADER
    }

    async fn start(&self, vars: &Vars) -> Result<RunningEdge> {
        if !self.binary.exists() {
            bail!(
                "{} is missing: run `cargo build -p edge-native` first",
                self.binary.display()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let addr = format!("127.0.0.1:{port}");
        let mut child = Command::new(&self.binary)
            .envs(&vars.0)
            .env("EDGE_ADDR", &addr)
            .env("REDIS_URL", &self.redis_url)
            .env(
                "REDIS_PREFIX",
                format!("conformance:{}:", uuid::Uuid::new_v4().simple()),
            )
            .env("CLIENT_IP_HEADER", CLIENT_IP_HEADER)
            // Info for its own start-up line, warnings from everything else.
            .env("EDGE_LOG", "warn,urr_edge=info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        // Ready when it says so; its log is then drained so it never blocks on a full pipe.
        let stdout = child.stdout.take().context("urr-edge's output")?;
        let running = Running(child);
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let mut ready_tx = Some(ready_tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("edge listening")
                    && let Some(tx) = ready_tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        match tokio::time::timeout(Duration::from_secs(20), ready_rx).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) => bail!("urr-edge exited before listening on {addr}"),
            Err(_) => bail!("urr-edge did not listen on {addr} within 20 s"),
        }
        Ok(RunningEdge::new(format!("http://{addr}"), running))
    }
}
