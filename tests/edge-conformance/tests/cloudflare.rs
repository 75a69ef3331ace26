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
            "joins_are_limited_per_client_address",
            "proof_of_work_challenge",
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

/// Cloudflare-specific: a Durable Object comes into existence when it is first
/// addressed, so the worker must not address one for an event id nobody pushed rules
/// for. Requests naming 20 random event ids on every route that reads event state leave
/// the number of objects (one SQLite file each under `--persist-to`) unchanged; a rules
/// push for a new event adds its object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_event_ids_create_no_durable_objects() -> anyhow::Result<()> {
    use edge_conformance::cases::{push, rules};
    use edge_conformance::cloudflare::free_port;
    let port = free_port()?;
    let platform = Cloudflare {
        port: Some(port),
        ..Cloudflare::new()
    };
    let objects_dir = platform
        .run_dir(port)
        .join("state/v3/do/urr-edge-EventQueue");
    let (_edge, ctx) = edge_conformance::start(&platform, &[]).await?;
    let objects = || -> usize {
        std::fs::read_dir(&objects_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".sqlite"))
                    .count()
            })
            .unwrap_or(0)
    };
    // One known event (and the registry) first.
    let known = uuid::Uuid::new_v4();
    push(&ctx, &rules(known, 1, 60)).await?;
    let before = objects();
    anyhow::ensure!(
        before >= 1,
        "no object files found in {}",
        objects_dir.display()
    );
    for _ in 0..20 {
        let e = uuid::Uuid::new_v4();
        let b = &ctx.base;
        for (method, url) in [
            ("GET", format!("{b}/e/{e}")),
            ("POST", format!("{b}/vwr/{e}/join")),
            ("GET", format!("{b}/vwr/{e}/status")),
            ("GET", format!("{b}/vwr/{e}/draw")),
            ("GET", format!("{b}/vwr/{e}/challenge")),
            ("POST", format!("{b}/api/v1/events/{e}/holds")),
            ("GET", format!("{b}/api/v1/events/{e}/seats")),
            ("GET", format!("{b}/events/{e}/book")),
        ] {
            let r = ctx.http.send(method, &url, &[], None).await?;
            anyhow::ensure!(r.status < 500, "{method} {url}: {}", r.status);
        }
    }
    let after = objects();
    anyhow::ensure!(
        after == before,
        "random event ids created {} objects",
        after.saturating_sub(before)
    );
    // The measurement does see objects: a pushed event gets one.
    push(&ctx, &rules(uuid::Uuid::new_v4(), 1, 60)).await?;
    anyhow::ensure!(objects() == before + 1, "a pushed event has its object");
    Ok(())
}
