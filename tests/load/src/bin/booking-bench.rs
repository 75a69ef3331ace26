//! `booking-bench`: reservations per second against a running origin, with baselines
//! measured in the same run. Driven by `cargo xtask bench booking`, which starts the
//! origin (release build) on a fresh database and passes the arguments.
//!
//! Scenarios:
//! 1. **stadium sell-out**: the 4,900-seat stadium sold from empty, one distinct seat per
//!    request, by `--clients` concurrent clients; `--sellouts` times (default 3, a fresh
//!    stadium each), reporting the median run;
//! 2. **hot seats**: everyone wants the same 10 seats (`--hot-requests` attempts);
//!
//! then a check that nothing was double-sold, and the baselines: `pgbench` running a
//! one-row insert-and-update transaction like ours, and `redis-benchmark` running our
//! seat-hold script with EVALSHA. Output: a markdown table and a JSON file.

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use shared_wasm::token::{Role, SigningKey};
use sqlx::PgPool;
use std::collections::BTreeMap;
use std::sync::Arc;
use urr_load::origin::{Bench, access_token, users};
use urr_load::{Run, cores, evalsha_baseline, load_average, metric, pgbench, run_jobs, status_of};
use uuid::Uuid;

const HOLD_SCRIPT: &str = include_str!("../../../../origin/src/booking/hold_seats.lua");

struct Args {
    origin: String,
    /// The origin's metrics listener (`URR_METRICS_ADDR`), e.g. `http://127.0.0.1:9090`.
    metrics: String,
    db: String,
    redis: String,
    origin_key: String,
    out: String,
    clients: usize,
    hot_requests: usize,
    /// Stadium sell-outs to run; the median is reported.
    sellouts: usize,
    baseline_secs: u64,
}

fn args() -> Result<Args> {
    let map = urr_load::origin::flags()?;
    let get = |k: &str| {
        map.get(k)
            .cloned()
            .with_context(|| format!("--{k} is required"))
    };
    Ok(Args {
        origin: get("origin")?,
        metrics: get("metrics")?,
        db: get("db")?,
        redis: get("redis")?,
        origin_key: get("origin-key")?,
        out: map
            .get("out")
            .cloned()
            .unwrap_or_else(|| "target/bench/booking.json".into()),
        clients: map
            .get("clients")
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(32),
        hot_requests: map
            .get("hot-requests")
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(20_000),
        sellouts: map
            .get("sellouts")
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(3)
            .max(1),
        baseline_secs: map
            .get("baseline-secs")
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(10),
    })
}

/// One measured sell-out of a fresh stadium.
struct Sellout {
    run: Run,
    outcome: Outcome,
    holds_per_statement: f64,
    sold: i64,
    doubles: i64,
}

/// Holds taken before measuring (see `main`).
const WARM_UP: usize = 1_000;

/// Buyer `i` holds seat `i` of `event`, for every `i`, on `clients` concurrent clients.
async fn sell(
    http: &reqwest::Client,
    origin: &str,
    event: Uuid,
    seats: Vec<Uuid>,
    tokens: Vec<String>,
    clients: usize,
) -> (Run, Vec<u16>) {
    let (http, origin, tokens, seats) = (
        http.clone(),
        origin.to_owned(),
        Arc::new(tokens),
        Arc::new(seats),
    );
    run_jobs(seats.len(), clients, move |i| {
        let (http, origin, tokens, seats) =
            (http.clone(), origin.clone(), tokens.clone(), seats.clone());
        async move {
            status_of(
                http.post(format!("{origin}/api/v1/events/{event}/reservations"))
                    .bearer_auth(&tokens[i])
                    .json(&json!({ "seat_ids": [seats[i]] })),
            )
            .await
        }
    })
    .await
}

#[derive(Default, Debug)]
struct Outcome {
    created: usize,
    /// 200: the fan asked again for seats it already holds; the hold was extended.
    extended: usize,
    conflict: usize,
    other: BTreeMap<u16, usize>,
}

fn tally(statuses: &[u16]) -> Outcome {
    let mut o = Outcome::default();
    for s in statuses {
        match *s {
            201 => o.created += 1,
            200 => o.extended += 1,
            409 => o.conflict += 1,
            other => *o.other.entry(other).or_default() += 1,
        }
    }
    o
}

async fn double_sold(db: &PgPool, event: Uuid) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT seat_id FROM reservation_items
         WHERE event_id = $1 AND live AND seat_id IS NOT NULL GROUP BY seat_id HAVING count(*) > 1) d",
    )
    .bind(event)
    .fetch_one(db)
    .await?)
}

async fn live_seats(db: &PgPool, event: Uuid) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM reservation_items WHERE event_id = $1 AND live AND seat_id IS NOT NULL",
    )
    .bind(event)
    .fetch_one(db)
    .await?)
}

fn scenario_json(name: &str, run: &Run, o: &Outcome) -> Value {
    json!({
        "name": name,
        "requests": run.latencies_us.len(),
        "created": o.created,
        "extended": o.extended,
        "conflict": o.conflict,
        "other": o.other,
        "seconds": run.elapsed.as_secs_f64(),
        "requests_per_second": run.per_second(),
        "p50_ms": run.percentile_ms(50.0),
        "p99_ms": run.percentile_ms(99.0),
    })
}

#[tokio::main]
async fn main() -> Result<()> {
    let a = args()?;
    let key = SigningKey::parse(&a.origin_key).map_err(|e| anyhow::anyhow!("--origin-key: {e}"))?;
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&a.db)
        .await
        .context("connecting to the bench database")?;
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(a.clients * 2)
        .build()?;

    let bench = Bench::new(http.clone(), &a.origin, &db, &key).await?;

    // 0. Warm-up, not measured: the origin's pool opens its connections and prepares its
    //    statements, as pgbench's connections are open before it measures.
    let (warm_event, warm_seats) = bench.stadium_event("Bench: warm-up").await?;
    let warm_seats: Vec<Uuid> = warm_seats.into_iter().take(WARM_UP).collect();
    let warm_buyers = users(&db, warm_seats.len(), Role::Fan).await?;
    let warm_tokens = warm_buyers
        .iter()
        .map(|u| access_token(&key, *u, Role::Fan))
        .collect();
    println!("warm-up: {} holds (not measured)", warm_seats.len());
    sell(
        &http,
        &a.origin,
        warm_event,
        warm_seats,
        warm_tokens,
        a.clients,
    )
    .await;

    // 1. The stadium sold out from empty, one distinct seat and one buyer per request,
    //    `--sellouts` times (a fresh stadium each time); the median run is reported, as
    //    one sell-out lasts about a second and a single one is noisy.
    let statements = |name: &'static str| metric(&http, &a.metrics, name);
    let mut sellouts = Vec::new();
    for n in 1..=a.sellouts {
        let (stadium, seats) = bench
            .stadium_event(&format!("Bench: stadium sell-out {n}"))
            .await?;
        let buyers = users(&db, seats.len(), Role::Fan).await?;
        let tokens = buyers
            .iter()
            .map(|u| access_token(&key, *u, Role::Fan))
            .collect();
        println!(
            "stadium sell-out {n}/{}: {} seats, {} clients",
            a.sellouts,
            seats.len(),
            a.clients
        );
        let (sum0, count0) = (
            statements("booking_holds_per_statement_sum").await?,
            statements("booking_holds_per_statement_count").await?,
        );
        let (run, statuses) = sell(&http, &a.origin, stadium, seats, tokens, a.clients).await;
        // Group commit: how many holds shared a Postgres statement, on average.
        let holds_per_statement = (statements("booking_holds_per_statement_sum").await? - sum0)
            / (statements("booking_holds_per_statement_count").await? - count0).max(1.0);
        let outcome = tally(&statuses);
        println!(
            "  {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, {holds_per_statement:.1} holds per statement, {:?}",
            run.per_second(),
            run.percentile_ms(50.0),
            run.percentile_ms(99.0),
            outcome
        );
        sellouts.push(Sellout {
            sold: live_seats(&db, stadium).await?,
            doubles: double_sold(&db, stadium).await?,
            run,
            outcome,
            holds_per_statement,
        });
    }
    let sellout_rates: Vec<f64> = sellouts.iter().map(|s| s.run.per_second()).collect();
    let sold = sellouts.iter().map(|s| s.sold).min().unwrap_or(0);
    let doubles_a: i64 = sellouts.iter().map(|s| s.doubles).sum();
    sellouts.sort_by(|x, y| x.run.per_second().total_cmp(&y.run.per_second()));
    let Sellout {
        run: sellout,
        outcome: sellout_outcome,
        holds_per_statement,
        ..
    } = sellouts.swap_remove(sellouts.len() / 2);

    // 2. Hot seats: everybody wants the same 10.
    let (hot_event, hot_seats) = bench.stadium_event("Bench: hot seats").await?;
    let hot: Arc<Vec<Uuid>> = Arc::new(hot_seats[..10].to_vec());
    let hot_users = users(&db, 2000, Role::Fan).await?;
    let hot_tokens: Arc<Vec<String>> = Arc::new(
        hot_users
            .iter()
            .map(|u| access_token(&key, *u, Role::Fan))
            .collect(),
    );
    println!("hot seats: {} attempts on 10 seats", a.hot_requests);
    let (hotrun, statuses) = {
        let (http, origin, tokens, hot) = (
            http.clone(),
            a.origin.clone(),
            hot_tokens.clone(),
            hot.clone(),
        );
        run_jobs(a.hot_requests, a.clients, move |i| {
            let (http, origin, tokens, hot) =
                (http.clone(), origin.clone(), tokens.clone(), hot.clone());
            async move {
                status_of(
                    http.post(format!("{origin}/api/v1/events/{hot_event}/reservations"))
                        .bearer_auth(&tokens[i % tokens.len()])
                        .json(&json!({ "seat_ids": [hot[i % hot.len()]] })),
                )
                .await
            }
        })
        .await
    };
    let hot_outcome = tally(&statuses);
    println!(
        "  {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms, {:?}",
        hotrun.per_second(),
        hotrun.percentile_ms(50.0),
        hotrun.percentile_ms(99.0),
        hot_outcome
    );
    let hot_held = live_seats(&db, hot_event).await?;
    let doubles_b = double_sold(&db, hot_event).await?;

    // 3. Baselines on the same servers, in the same run.
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_holds (id bigint PRIMARY KEY, seat int NOT NULL, created_at timestamptz NOT NULL)")
        .execute(&db)
        .await?;
    sqlx::query("CREATE TABLE IF NOT EXISTS bench_counter (id int PRIMARY KEY, n bigint NOT NULL)")
        .execute(&db)
        .await?;
    sqlx::query("INSERT INTO bench_counter SELECT g, 0 FROM generate_series(0, 4899) g ON CONFLICT DO NOTHING")
        .execute(&db)
        .await?;
    let script = "\\set id random(1, 2000000000)\n\
                  BEGIN;\n\
                  INSERT INTO bench_holds (id, seat, created_at) VALUES (:id, :id % 4900, now()) ON CONFLICT DO NOTHING;\n\
                  UPDATE bench_counter SET n = n + 1 WHERE id = :id % 4900;\n\
                  END;\n";
    println!("baseline: pgbench for {} s", a.baseline_secs);
    let pg_tps = pgbench(&a.db, script, a.clients, a.baseline_secs)?;

    println!("baseline: redis-benchmark EVALSHA of the seat-hold script");
    let redis_ops = evalsha_baseline(
        &a.redis,
        HOLD_SCRIPT,
        1_000_000,
        &[
            "2",
            "baseline:{evt:b}:fence",
            "baseline:{evt:b}:seat:__rand_int__",
            "user",
            "res",
            "330000",
            "600",
        ],
    )
    .await?;

    let ratio = sellout.per_second() / pg_tps;
    let report = json!({
        "machine": { "cores": cores(), "load_average_1m": load_average() },
        "clients": a.clients,
        "scenarios": [
            scenario_json("stadium sell-out (4,900 distinct seats)", &sellout, &sellout_outcome),
            scenario_json("hot seats (10 seats)", &hotrun, &hot_outcome),
        ],
        "checks": {
            "stadium_seats_sold": sold,
            "hot_seats_held": hot_held,
            "double_sold_seats": doubles_a + doubles_b,
        },
        "baselines": { "pgbench_tps": pg_tps, "redis_evalsha_per_second": redis_ops },
        "ratio_reservations_to_pgbench": ratio,
        "sellout_holds_per_statement": holds_per_statement,
        "sellout_requests_per_second_each_run": sellout_rates,
    });
    if let Some(dir) = std::path::Path::new(&a.out).parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&a.out, serde_json::to_vec_pretty(&report)?)?;

    println!("\n| scenario | requests | 201 | 409 | req/s | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (name, run, o) in [
        (
            "stadium sell-out (4,900 distinct seats)",
            &sellout,
            &sellout_outcome,
        ),
        ("hot seats (10 seats)", &hotrun, &hot_outcome),
    ] {
        println!(
            "| {name} | {} | {} | {} | {:.0} | {:.1} | {:.1} |",
            run.latencies_us.len(),
            o.created + o.extended,
            o.conflict,
            run.per_second(),
            run.percentile_ms(50.0),
            run.percentile_ms(99.0)
        );
    }
    println!("| baseline: pgbench insert+update tx | | | | {pg_tps:.0} | | |");
    println!("| baseline: redis-benchmark EVALSHA (hold script) | | | | {redis_ops:.0} | | |");
    println!(
        "\nreservations/s ÷ pgbench tps = **{ratio:.2}** on {} cores (load {:.1}); double-sold seats: {}; stadium seats sold: {sold}/4900; hot seats held: {hot_held}/10",
        cores(),
        load_average().unwrap_or(0.0),
        doubles_a + doubles_b
    );
    println!(
        "sell-outs (req/s, each from empty): {}; the median is in the table",
        sellout_rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "group commit: {holds_per_statement:.1} holds per Postgres statement in that sell-out"
    );
    println!("wrote {}", a.out);

    if doubles_a + doubles_b != 0 {
        bail!("DOUBLE SALE detected");
    }
    if !sellout_outcome.other.is_empty() || !hot_outcome.other.is_empty() {
        bail!(
            "unexpected statuses: sell-out {:?}, hot {:?}",
            sellout_outcome.other,
            hot_outcome.other
        );
    }
    Ok(())
}
