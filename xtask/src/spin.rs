//! The Spin edge component in `cargo xtask test` and `bench edge`.
//!
//! The Spin CLI cannot be installed on our machines (see `docs/edge-toolchain.md`),
//! so the component is tested under our wasmtime test host (`edge-workers/spin-testhost`)
//! through the same conformance suite as the Cloudflare worker. Order matters: the test
//! host loads the built `.wasm`, so the component is built first. That is also why
//! `edge-spin` and `spin-testhost` are workspace members but not default members: a
//! plain `cargo test` must neither build the component for the host target nor compile
//! wasmtime.

use crate::util::{self, cargo, run as sh};
use anyhow::Result;
use std::path::PathBuf;

pub const TARGET: &str = "wasm32-wasip2";

/// Where `build` puts the component.
pub fn component() -> PathBuf {
    util::root().join("target/wasm32-wasip2/wasm-release/edge_spin.wasm")
}

/// `cargo build -p edge-spin --target wasm32-wasip2 --profile wasm-release`.
pub fn build() -> Result<()> {
    crate::test::ensure_target(TARGET)?;
    sh(cargo().args([
        "build",
        "-p",
        "edge-spin",
        "--target",
        TARGET,
        "--profile",
        "wasm-release",
    ]))
}

/// Clippy for the component (both feature sets, on wasm32-wasip2) and, natively, the
/// test host with the conformance crate's Spin feature (which also covers the
/// Cloudflare test target).
pub fn clippy() -> Result<()> {
    for features in [&[][..], &["--no-default-features"][..]] {
        sh(cargo()
            .args(["clippy", "-p", "edge-spin", "--target", TARGET])
            .args(features)
            .args(["--", "-D", "warnings"]))?;
    }
    sh(cargo().args([
        "clippy",
        "-p",
        "spin-testhost",
        "-p",
        "edge-conformance",
        "--features",
        "edge-conformance/spin",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))
}

/// The conformance suite against the component under the test host; `env` carries
/// `URR_TEST_REDIS_URL`.
pub fn conformance(env: &[(&str, String)]) -> Result<()> {
    sh(cargo()
        .args([
            "test",
            "-p",
            "edge-conformance",
            "--features",
            "spin",
            "--test",
            "spin",
            "--",
            "--nocapture",
        ])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str()))))
}
