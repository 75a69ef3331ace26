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

/// Cloudflare-specific: with `QUEUE_SHARDS=4`, sequences are the interleaved scheme
/// `(n − 1)·4 + s + 1` with every counter gap-free (its `n` values are `1..=count`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_sequences_interleave() -> anyhow::Result<()> {
    use edge_conformance::cases::{futures_join_all, join, push, rules};
    let (_edge, ctx) =
        edge_conformance::start(&Cloudflare::new(), &[("QUEUE_SHARDS", "4")]).await?;
    let event = uuid::Uuid::new_v4();
    let mut r = rules(event, 1, 60);
    // One test machine is one client address: no per-address limit here.
    r.join_limit_per_ip_per_min = 0;
    push(&ctx, &r).await?;
    let mut per_shard: [Vec<u64>; 4] = Default::default();
    for r in futures_join_all((0..60).map(|_| join(&ctx, event))).await {
        let seq = r?.0["seq"].as_u64().ok_or_else(|| anyhow::anyhow!("seq"))?;
        per_shard[((seq - 1) % 4) as usize].push((seq - 1) / 4 + 1);
    }
    for (s, ns) in per_shard.iter_mut().enumerate() {
        ns.sort_unstable();
        anyhow::ensure!(
            *ns == (1..=ns.len() as u64).collect::<Vec<_>>(),
            "counter {s} handed out {ns:?}"
        );
    }
    println!(
        "joins per counter: {:?}",
        per_shard.iter().map(Vec::len).collect::<Vec<_>>()
    );
    Ok(())
}
