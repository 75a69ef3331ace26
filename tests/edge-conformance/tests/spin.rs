//! The conformance suite against the Spin component under the wasmtime test host.
//!
//! Needs the built component; `cargo xtask test` builds it first. By hand:
//!
//! ```sh
//! cargo build -p edge-spin --target wasm32-wasip2 --profile wasm-release
//! cargo test -p edge-conformance --features spin --test spin -- --nocapture
//! ```
//!
//! Redis must be reachable at `URR_TEST_REDIS_URL` (default `redis://127.0.0.1:6379`).

use edge_conformance::spin::Spin;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spin_conforms() -> anyhow::Result<()> {
    edge_conformance::run_suite(&Spin::new()).await
}
