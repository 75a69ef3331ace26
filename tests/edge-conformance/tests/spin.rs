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

/// Spin-specific: every join of an event is a compare-and-set on one Redis key. A burst
/// of concurrent joins must still hand out exactly `1..=N` (no lost update, no
/// duplicate, no 503 from exhausted retries), and the stored state, under the documented
/// key `{vwr:<event>}:state`, must count exactly N.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_burst_is_gap_free_under_compare_and_set() -> anyhow::Result<()> {
    use edge_conformance::cases::{futures_join_all, join, push, rules};
    use spin_testhost::redis::AsyncCommands;
    const N: u64 = 150;
    let spin = Spin::new();
    let (_edge, ctx) = edge_conformance::start(&spin, &[]).await?;
    let event = uuid::Uuid::new_v4();
    let mut burst = rules(event, 1, 60);
    // One test machine is one client address: no per-address limit here.
    burst.join_limit_per_ip_per_min = 0;
    push(&ctx, &burst).await?;
    let started = std::time::Instant::now();
    let mut seqs = Vec::new();
    for r in futures_join_all((0..N).map(|_| join(&ctx, event))).await {
        seqs.push(r?.0["seq"].as_u64().ok_or_else(|| anyhow::anyhow!("seq"))?);
    }
    println!(
        "{N} concurrent joins in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    seqs.sort_unstable();
    anyhow::ensure!(seqs == (1..=N).collect::<Vec<_>>(), "sequences: {seqs:?}");

    let mut redis = spin_testhost::redis::Client::open(spin.redis_url.as_str())?
        .get_multiplexed_async_connection()
        .await?;
    let raw: Option<String> = redis.get(format!("{{vwr:{event}}}:state")).await?;
    let stored: serde_json::Value = serde_json::from_str(&raw.unwrap_or_default())?;
    anyhow::ensure!(
        stored["counter"]["issued"] == N,
        "stored counter: {}",
        stored["counter"]
    );
    // Without a sale close the state is kept; with one, every write sets the expiry
    // (a week past the close), so a finished event does not stay forever.
    let key = format!("{{vwr:{event}}}:state");
    let ttl_ms: i64 = redis.pttl(&key).await?;
    anyhow::ensure!(ttl_ms == -1, "no close, no expiry: PTTL {ttl_ms}");
    let mut closing = rules(event, 2, 60);
    closing.join_limit_per_ip_per_min = 0;
    let close_s = closing.sale_opens_at + 3600;
    closing.sale_closes_at = Some(close_s);
    push(&ctx, &closing).await?;
    let ttl_ms: i64 = redis.pttl(&key).await?;
    let until_ms = close_s * 1000 + shared_wasm::edge::state::RETAIN_AFTER_CLOSE_MS;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    anyhow::ensure!(
        (ttl_ms - (until_ms - now_ms)).abs() < 60_000,
        "expires a week past the close: PTTL {ttl_ms} ms, expected about {} ms",
        until_ms - now_ms
    );
    Ok(())
}

/// `spin.toml` cannot be run here (no Spin CLI), so at least check it against the
/// component: every variable `config.rs` reads is declared as an application variable
/// and mapped onto the component, Redis is an allowed outbound host with the `redis://`
/// scheme, and `source` is where the build puts the component.
#[test]
fn spin_manifest_declares_what_the_component_reads() -> anyhow::Result<()> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../edge-workers/spin");
    let manifest = std::fs::read_to_string(dir.join("spin.toml"))?;
    let config = std::fs::read_to_string(dir.join("src/config.rs"))?;
    // The `NAMES` table: lines like `("edge_signing_key", "EDGE_SIGNING_KEY"),`.
    let names: Vec<&str> = config
        .lines()
        .filter_map(|l| l.trim().strip_prefix("(\""))
        .filter_map(|l| l.split_once('"').map(|(name, _)| name))
        .collect();
    anyhow::ensure!(names.len() == 8, "found variable names {names:?}");
    for name in names {
        anyhow::ensure!(
            manifest
                .lines()
                .any(|l| l.starts_with(&format!("{name} = {{"))),
            "spin.toml does not declare the application variable {name}"
        );
        anyhow::ensure!(
            manifest.contains(&format!("{name} = \"{{{{ {name} }}}}\"")),
            "spin.toml does not map {name} onto the component"
        );
    }
    anyhow::ensure!(
        manifest.contains("allowed_outbound_hosts = [\"redis://127.0.0.1:6379\""),
        "Redis is not an allowed outbound host"
    );
    anyhow::ensure!(
        manifest.contains("source = \"../../target/wasm32-wasip2/wasm-release/edge_spin.wasm\""),
        "source is not the wasm-release build"
    );
    Ok(())
}
