//! `toss-fake`: the Toss Payments fake as a standalone server, for local development
//! (`cargo xtask dev` starts it when no Toss keys are configured) and non-Rust tests.
//!
//! Environment:
//! - `URR_TOSS_FAKE_ADDR`: listen address (default `127.0.0.1:8089`);
//! - `URR_TOSS_FAKE_SECRET_KEYS`: comma-separated accepted secret keys, `test_sk_…` /
//!   `test_gsk_…` only (default the docs widget key
//!   `test_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6`);
//! - `URR_TOSS_FAKE_WEBHOOK_URL`: where `PAYMENT_STATUS_CHANGED` webhooks go (default:
//!   none);
//! - `URR_TOSS_FAKE_FROZEN_CLOCK`: `true` to freeze the clock (default `false`);
//! - `RUST_LOG`: log filter (default `info`).
//!
//! Stops gracefully on Ctrl-C or SIGTERM.

use anyhow::Context as _;
use std::net::SocketAddr;
use toss_fake::{DOCS_SECRET_KEY, FakeConfig, TossFake};
use tracing_subscriber::EnvFilter;

fn env(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

fn config_from_env() -> anyhow::Result<(SocketAddr, FakeConfig)> {
    let addr = env("URR_TOSS_FAKE_ADDR")
        .unwrap_or_else(|| "127.0.0.1:8089".to_owned())
        .parse::<SocketAddr>()
        .context("URR_TOSS_FAKE_ADDR is not a socket address like 127.0.0.1:8089")?;
    let secret_keys = env("URR_TOSS_FAKE_SECRET_KEYS")
        .map(|keys| {
            keys.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_else(|| vec![DOCS_SECRET_KEY.to_owned()]);
    let frozen_clock = match env("URR_TOSS_FAKE_FROZEN_CLOCK").as_deref() {
        None | Some("false" | "0") => false,
        Some("true" | "1") => true,
        Some(other) => {
            anyhow::bail!("URR_TOSS_FAKE_FROZEN_CLOCK={other:?}: expected true or false")
        }
    };
    Ok((
        addr,
        FakeConfig {
            secret_keys,
            webhook_url: env("URR_TOSS_FAKE_WEBHOOK_URL"),
            frozen_clock,
            ..FakeConfig::default()
        },
    ))
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let (addr, config) = config_from_env()?;
    let webhook = config.webhook_url.clone();
    let fake = TossFake::start(addr, config).await?;
    tracing::info!(
        base_url = %fake.base_url(),
        webhook_url = webhook.as_deref().unwrap_or("(none)"),
        widget = %format!("{}/v1/__test/widget?orderId=…&amount=…&successUrl=…&failUrl=…", fake.base_url()),
        "toss fake ready"
    );
    shutdown_signal().await;
    tracing::info!("shutting down");
    fake.shutdown().await;
    Ok(())
}
