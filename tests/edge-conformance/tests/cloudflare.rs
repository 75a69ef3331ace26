//! The conformance suite against the Cloudflare worker under `wrangler dev`.
//!
//! Needs the built worker (`edge-workers/cloudflare/build/`) and its `node_modules`;
//! `cargo xtask test` prepares both. Run alone with `cargo test -p edge-conformance`.

use edge_conformance::cloudflare::Cloudflare;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_conforms() -> anyhow::Result<()> {
    edge_conformance::run_suite(&Cloudflare::new()).await
}
