//! `queue-bench`: tier-2 joins and status polls per second against a running origin,
//! each against a `redis-benchmark` baseline of its own script measured in the same
//! run, and against the HTTP ceiling (`GET /healthz` over the same client).
//! Driven by `cargo xtask bench queue`, which starts the origin (release build) on a
//! fresh database and passes the arguments.
//!
//! Scenarios, on one event whose queue admits 500 at a time:
//! 1. **joins**: `--fans` fans each join once with an edge pass (shuffled positions);
//! 2. **status polls**: `--polls` status polls spread over those fans.
//!
//! Baselines, fair to each scenario:
//! - **status**: EVALSHA of `status.lua` on a populated line (10,000 waiting, the
//!   polled member drawn among them), not on empty keys;
//! - **join**: EVALSHA of `join.lua` with fresh members and fresh pass keys;
//! - **HTTP ceiling**: `GET /healthz` (no store, no token) with the same client and
//!   concurrency, so the HTTP and JSON share of each request is visible.
//!
//! Output: a markdown table and a JSON file (`--out`).

use anyhow::{Context, Result, bail};
use chrono::Utc;
use rand::seq::SliceRandom;
use serde_json::json;
use shared_wasm::rules::EdgeRules;
use shared_wasm::token::{self, PassClaims, Role, SigningKey};
use std::collections::BTreeMap;
use std::sync::Arc;
use urr_load::origin::{Bench, access_token, flags, users};
use urr_load::{Run, cores, evalsha_baseline, load_average, run_jobs, status_of};
use uuid::Uuid;

const STATUS_SCRIPT: &str = include_str!("../../../../origin/src/queue/status.lua");
const JOIN_SCRIPT: &str = include_str!("../../../../origin/src/queue/join.lua");
/// Members of the populated line of the status baseline.
const POPULATED: usize = 10_000;

struct Args {
    origin: String,
    db: String,
    redis: String,
    origin_key: String,
    edge_key: String,
    out: String,
    clients: usize,
    fans: usize,
    polls: usize,
}

fn args() -> Result<Args> {
    let map = flags()?;
    let get = |k: &str| {
        map.get(k)
            .cloned()
            .with_context(|| format!("--{k} is required"))
    };
    let num = |k: &str, default: usize| -> Result<usize> {
        Ok(map
            .get(k)
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(default))
    };
    Ok(Args {
        origin: get("origin")?,
        db: get("db")?,
        redis: get("redis")?,
        origin_key: get("origin-key")?,
        edge_key: get("edge-signing-key")?,
        out: map
            .get("out")
            .cloned()
            .unwrap_or_else(|| "target/bench/queue.json".into()),
        clients: num("clients", 32)?,
        fans: num("fans", 10_000)?,
        polls: num("polls", 20_000)?,
    })
}

fn pass(key: &SigningKey, event: Uuid, pos: u64) -> String {
    let now = Utc::now().timestamp();
    token::sign(
        key,
        &PassClaims {
            evt: event,
            sub: format!("bench-{pos}"),
            pos,
            jti: Uuid::new_v4().simple().to_string(),
            iat: now,
            exp: now + 600,
        },
    )
}

fn tally(statuses: &[u16]) -> BTreeMap<u16, usize> {
    let mut m = BTreeMap::new();
    for s in statuses {
        *m.entry(*s).or_default() += 1;
    }
    m
}

fn line(name: &str, run: &Run, statuses: &BTreeMap<u16, usize>) -> serde_json::Value {
    println!(
        "| {name} | {} | {:.0} | {:.1} | {:.1} | {statuses:?} |",
        run.latencies_us.len(),
        run.per_second(),
        run.percentile_ms(50.0),
        run.percentile_ms(99.0)
    );
    json!({
        "name": name,
        "requests": run.latencies_us.len(),
        "statuses": statuses,
        "requests_per_second": run.per_second(),
        "p50_ms": run.percentile_ms(50.0),
        "p99_ms": run.percentile_ms(99.0),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    let origin_key =
        SigningKey::parse(&a.origin_key).map_err(|e| anyhow::anyhow!("--origin-key: {e}"))?;
    let edge_key =
        SigningKey::parse(&a.edge_key).map_err(|e| anyhow::anyhow!("--edge-signing-key: {e}"))?;
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&a.db)
        .await
        .context("connecting to the bench database")?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.clients * 2)
        .build()?;
    let bench = Bench::new(http.clone(), &a.origin, &db, &origin_key).await?;
    let (event, _) = bench.stadium_event("Bench: queue").await?;
    let mut rules = EdgeRules::default_for(event, Utc::now().timestamp() - 60);
    rules.max_active = 500;
    let res = http
        .put(format!("{}/api/v1/events/{event}/edge-rules", a.origin))
        .bearer_auth(&bench.admin)
        .json(&json!({ "rules": rules, "edge_tier": true }))
        .send()
        .await?;
    if !res.status().is_success() {
        bail!("setting the queue rules failed: {}", res.text().await?);
    }

    let fans = users(&db, a.fans, Role::Fan).await?;
    let tokens: Arc<Vec<String>> = Arc::new(
        fans.iter()
            .map(|u| access_token(&origin_key, *u, Role::Fan))
            .collect(),
    );
    let mut positions: Vec<u64> = (1..=a.fans as u64).collect();
    positions.shuffle(&mut rand::thread_rng());
    let passes: Arc<Vec<String>> = Arc::new(
        positions
            .iter()
            .map(|p| pass(&edge_key, event, *p))
            .collect(),
    );

    println!(
        "queue: {} joins, {} status polls, {} clients",
        a.fans, a.polls, a.clients
    );
    let (joins, join_statuses) = {
        let (http, origin, tokens, passes) = (
            http.clone(),
            a.origin.clone(),
            tokens.clone(),
            passes.clone(),
        );
        run_jobs(a.fans, a.clients, move |i| {
            let (http, origin, tokens, passes) =
                (http.clone(), origin.clone(), tokens.clone(), passes.clone());
            async move {
                status_of(
                    http.post(format!("{origin}/api/v1/events/{event}/queue/join"))
                        .bearer_auth(&tokens[i])
                        .json(&json!({ "pass": passes[i] })),
                )
                .await
            }
        })
        .await
    };
    let (polls, poll_statuses) = {
        let (http, origin, tokens) = (http.clone(), a.origin.clone(), tokens.clone());
        run_jobs(a.polls, a.clients, move |i| {
            let (http, origin, tokens) = (http.clone(), origin.clone(), tokens.clone());
            async move {
                status_of(
                    http.get(format!("{origin}/api/v1/events/{event}/queue/status"))
                        .bearer_auth(&tokens[i % tokens.len()]),
                )
                .await
            }
        })
        .await
    };

    // The HTTP ceiling: the cheapest route, same client, same concurrency.
    let (healthz, healthz_statuses) = {
        let (http, origin) = (http.clone(), a.origin.clone());
        run_jobs(a.polls, a.clients, move |_| {
            let (http, origin) = (http.clone(), origin.clone());
            async move { status_of(http.get(format!("{origin}/healthz"))).await }
        })
        .await
    };

    // Baselines: each script alone, straight at Redis, on the keys it sees in a sale.
    println!("baselines: redis-benchmark EVALSHA of the status and join scripts");
    populate_line(&a.redis).await?;
    let now_ms = Utc::now().timestamp_millis().to_string();
    let status_ops = evalsha_baseline(
        &a.redis,
        STATUS_SCRIPT,
        POPULATED,
        &[
            "5",
            "baseline:{q:b}:waiting",
            "baseline:{q:b}:seen",
            "baseline:{q:b}:active",
            "baseline:{q:b}:joined",
            "baseline:{q:b}:meta",
            "user-__rand_int__",
            &now_ms,
        ],
    )
    .await?;
    let join_ops = evalsha_baseline(
        &a.redis,
        JOIN_SCRIPT,
        1_000_000_000,
        &[
            "8",
            "baseline:{q:j}:waiting",
            "baseline:{q:j}:seen",
            "baseline:{q:j}:active",
            "baseline:{q:j}:joined",
            "baseline:{q:j}:pass:__rand_int__",
            "baseline:{q:j}:meta",
            "baseline:{q:j}:epoch",
            "baseline:{q:j}:stats",
            "user-__rand_int__",
            "__rand_int__",
            &now_ms,
            "500",
            "600000",
            "86400",
            "1",
            "86400000",
        ],
    )
    .await?;

    println!("\n| scenario | requests | req/s | p50 ms | p99 ms | statuses |");
    println!("|---|---:|---:|---:|---:|---|");
    let join_tally = tally(&join_statuses);
    let poll_tally = tally(&poll_statuses);
    let healthz_tally = tally(&healthz_statuses);
    let j = line("tier-2 joins (with edge pass)", &joins, &join_tally);
    let p = line("tier-2 status polls", &polls, &poll_tally);
    let h = line("HTTP ceiling: GET /healthz", &healthz, &healthz_tally);
    println!(
        "| baseline: redis-benchmark EVALSHA status.lua, {POPULATED} waiting | | {status_ops:.0} | | | |"
    );
    println!(
        "| baseline: redis-benchmark EVALSHA join.lua, fresh members | | {join_ops:.0} | | | |"
    );
    let join_ratio = joins.per_second() / join_ops;
    let poll_ratio = polls.per_second() / status_ops;
    println!(
        "\njoins/s ÷ join EVALSHA/s = **{join_ratio:.3}**, polls/s ÷ status EVALSHA/s = **{poll_ratio:.3}**; \
         of the HTTP ceiling: joins {:.3}, polls {:.3}; {} cores (load {:.1})",
        joins.per_second() / healthz.per_second(),
        polls.per_second() / healthz.per_second(),
        cores(),
        load_average().unwrap_or(0.0)
    );
    let report = json!({
        "machine": { "cores": cores(), "load_average_1m": load_average() },
        "clients": a.clients,
        "scenarios": [j, p, h],
        "baselines": {
            "redis_evalsha_status_populated_per_second": status_ops,
            "redis_evalsha_join_fresh_per_second": join_ops,
            "http_healthz_per_second": healthz.per_second(),
        },
        "ratio_joins_to_join_evalsha": join_ratio,
        "ratio_polls_to_status_evalsha": poll_ratio,
        "ratio_joins_to_healthz": joins.per_second() / healthz.per_second(),
        "ratio_polls_to_healthz": polls.per_second() / healthz.per_second(),
    });
    if let Some(dir) = std::path::Path::new(&a.out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.out, serde_json::to_vec_pretty(&report)?)?;
    println!("wrote {}", a.out);

    let bad_joins: usize = join_tally
        .iter()
        .filter(|(s, _)| !matches!(**s, 200 | 201))
        .map(|(_, n)| n)
        .sum();
    let bad_polls: usize = poll_tally
        .iter()
        .filter(|(s, _)| **s != 200)
        .map(|(_, n)| n)
        .sum();
    if bad_joins + bad_polls > 0 {
        bail!("unexpected statuses: joins {join_tally:?}, polls {poll_tally:?}");
    }
    Ok(())
}

/// A line of [`POPULATED`] waiting members, `user-000000000000` upward (the names
/// `redis-benchmark -r` gives `user-__rand_int__`), as the status baseline polls.
async fn populate_line(redis_url: &str) -> Result<()> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let now = Utc::now().timestamp_millis();
    for chunk in (0..POPULATED).collect::<Vec<_>>().chunks(1_000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            let user = format!("user-{i:012}");
            pipe.zadd("baseline:{q:b}:waiting", &user, *i as u64 + 1)
                .ignore();
            pipe.zadd("baseline:{q:b}:seen", &user, now).ignore();
            pipe.hset("baseline:{q:b}:joined", &user, format!("{}|{now}", i + 1))
                .ignore();
        }
        let _: () = pipe.query_async(&mut conn).await?;
    }
    Ok(())
}
