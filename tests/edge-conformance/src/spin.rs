//! The Spin platform: the built component under our wasmtime test host
//! (`edge-workers/spin-testhost`), in process, on `127.0.0.1:0`.
//!
//! The Spin CLI is not available to tests (see `docs/edge-toolchain.md`),
//! so the test host plays the Spin HTTP trigger: a fresh instance per request, Spin's
//! `spin:redis` backed by the real Redis, and the suite's variables as Spin variables
//! (`EDGE_SIGNING_KEY` → `edge_signing_key`, …, plus `redis_url`). Each case uses fresh
//! event ids, so its keys (`{vwr:<event>}:state`) never meet another case's or run's.
//!
//! [`Spin::start`] needs the component built first
//! (`cargo build -p edge-spin --target wasm32-wasip2 --profile wasm-release`, which
//! `cargo xtask test` runs); without it, starting fails with that command.

use crate::{Platform, RunningEdge, Vars};
use anyhow::Result;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub struct Spin {
    /// The built component.
    pub component: PathBuf,
    /// The Redis the component may open (`URR_TEST_REDIS_URL`, default
    /// `redis://127.0.0.1:6379`).
    pub redis_url: String,
}

impl Default for Spin {
    fn default() -> Self {
        Self::new()
    }
}

impl Spin {
    /// The component of this workspace (honouring `CARGO_TARGET_DIR`), against the test
    /// Redis.
    pub fn new() -> Self {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
        Spin {
            component: target.join("wasm32-wasip2/wasm-release/edge_spin.wasm"),
            redis_url: std::env::var("URR_TEST_REDIS_URL")
                .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned()),
        }
    }
}

/// The header the test host maps to the client address (a switch of the test host
/// only; real Spin reports the TCP peer).
pub const TEST_CLIENT_IP_HEADER: &str = "x-urr-test-client-ip";

impl Platform for Spin {
    fn name(&self) -> &str {
        "spin"
    }

    fn client_ip_header(&self) -> &str {
        TEST_CLIENT_IP_HEADER
    }

    async fn start(&self, vars: &Vars) -> Result<RunningEdge> {
        // Spin variable names are lower case.
        let mut variables: HashMap<String, String> = vars
            .0
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        variables.insert("redis_url".into(), self.redis_url.clone());
        let host = spin_testhost::serve(
            spin_testhost::HostConfig {
                component: self.component.clone(),
                variables,
                redis_url: self.redis_url.clone(),
                test_client_ip_header: Some(TEST_CLIENT_IP_HEADER.to_owned()),
            },
            std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        )
        .await?;
        Ok(RunningEdge::new(host.base_url(), host))
    }
}
