//! The conformance suite against `urr-edge`, the native host of the same edge logic.
//!
//! Needs the binary; `cargo xtask test` builds it first. By hand:
//!
//! ```sh
//! cargo build -p edge-native
//! cargo test -p edge-conformance --test native
//! ```

use edge_conformance::cases::{futures_join_all, join, push, rules};
use edge_conformance::native::Native;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_conforms() -> anyhow::Result<()> {
    edge_conformance::run_suite(&Native::new()).await
}

/// Native-specific: joins are committed in groups. A burst of concurrent joins from
/// many clients must hand out exactly `1..=N`, with no gap and no duplicate, and the
/// state must count N.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_burst_is_gap_free_in_groups() -> anyhow::Result<()> {
    const N: u64 = 400;
    let (_edge, ctx) = edge_conformance::start(&Native::new(), &[]).await?;
    let event = uuid::Uuid::new_v4();
    let mut burst = rules(event, 1, 60);
    burst.join_limit_per_ip_per_min = 0;
    push(&ctx, &burst).await?;
    let mut seqs = Vec::new();
    for r in futures_join_all((0..N).map(|_| join(&ctx, event))).await {
        seqs.push(r?.0["seq"].as_u64().ok_or_else(|| anyhow::anyhow!("seq"))?);
    }
    seqs.sort_unstable();
    anyhow::ensure!(seqs == (1..=N).collect::<Vec<_>>(), "sequences: {seqs:?}");
    // The next join, alone, continues the count: the groups' writes all landed.
    let (next, _) = join(&ctx, event).await?;
    anyhow::ensure!(next["seq"] == N + 1, "after the burst: {next}");
    Ok(())
}
