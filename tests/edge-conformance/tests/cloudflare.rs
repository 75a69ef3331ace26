//! The conformance suite against the Cloudflare worker under `wrangler dev`.
//!
//! Needs the built worker (`edge-workers/cloudflare/build/`) and its `node_modules`;
//! `cargo xtask test` prepares both. Run alone with `cargo test -p edge-conformance`.
//!
//! Two runs: every case with one join counter per event (the default), then the cases
//! that do not assume consecutive positions with joins spread over four counter objects
//! (`QUEUE_SHARDS=4`; random-draw events stay on one counter by design).

use edge_conformance::cloudflare::Cloudflare;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudflare_conforms() -> anyhow::Result<()> {
    edge_conformance::run_suite(&Cloudflare::new()).await?;
    edge_conformance::run_cases(
        &Cloudflare::new(),
        &[("QUEUE_SHARDS", "4")],
        Some(&[
            "joins_are_unique_and_all_eventually_served",
            "random_draw_prequeue_and_publication",
            "rules_push_ordering_and_signatures",
            "mode_maintenance",
            "mode_reject",
            "mode_passthrough",
            "guard_accepts_and_refuses_entry_tokens",
        ]),
    )
    .await
}
