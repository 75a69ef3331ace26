//! `edge-bench`: status polls through `wrangler dev`, against a no-op worker measured in
//! the same run (run it through `cargo xtask bench edge`, which builds both workers).
//!
//! A fixed number of concurrent clients loop over one URL for a fixed time (bounded in
//! count too), on 127.0.0.1 only. The no-op worker answers 200 without doing anything:
//! its throughput is what `wrangler dev`, workerd and this load generator manage on this
//! machine, so the ratio `status / no-op` is the edge logic's cost, comparable between
//! machines where the absolute numbers are not. The status poll measured is a waiting
//! visitor's (snapshot from the isolate cache, ticket verification, standing), the most
//! frequent request of an on-sale.
//!
//! Options: `--duration-secs N` per window (default 5), `--clients N` (default 4),
//! `--rounds N` alternating no-op/status windows (default 3; the median round is
//! reported), `--out PATH`.

use anyhow::{Context, Result, bail};
use edge_conformance::cloudflare::Cloudflare;
use edge_conformance::stub::StubOrigin;
use edge_conformance::{Platform, Vars, now_s};
use serde_json::json;
use shared_wasm::rules::EdgeRules;
use shared_wasm::token::{self, RulesClaims, SigningKey, format_key_spec};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Hard cap on requests per measurement, whatever the duration.
const MAX_REQUESTS: usize = 2_000_000;

struct Stats {
    requests: usize,
    errors: usize,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn load(
    url: &str,
    headers: &[(&str, String)],
    clients: usize,
    duration: Duration,
) -> Result<Stats> {
    let http = reqwest::Client::builder().no_proxy().build()?;
    // Warm-up: a second of the same load, not counted.
    let run = |d: Duration| {
        let tasks: Vec<_> = (0..clients)
            .map(|_| {
                let http = http.clone();
                let url = url.to_owned();
                let headers: Vec<(String, String)> = headers
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect();
                tokio::spawn(async move {
                    let mut lat = Vec::new();
                    let mut errors = 0usize;
                    let end = Instant::now() + d;
                    while Instant::now() < end && lat.len() < MAX_REQUESTS {
                        let mut req = http.get(&url);
                        for (k, v) in &headers {
                            req = req.header(k, v);
                        }
                        let t = Instant::now();
                        match req.send().await {
                            Ok(r) => {
                                let ok = r.status().as_u16() == 200;
                                let _ = r.bytes().await;
                                if !ok {
                                    errors += 1;
                                }
                            }
                            Err(_) => errors += 1,
                        }
                        lat.push(t.elapsed());
                    }
                    (lat, errors)
                })
            })
            .collect();
        async move {
            let mut all = Vec::new();
            let mut errors = 0;
            for t in tasks {
                let (l, e) = t.await?;
                all.extend(l);
                errors += e;
            }
            anyhow::Ok((all, errors))
        }
    };
    run(Duration::from_secs(1)).await?;
    let start = Instant::now();
    let (mut lat, errors) = run(duration).await?;
    let elapsed = start.elapsed().as_secs_f64();
    if lat.is_empty() {
        bail!("no request completed against {url}");
    }
    lat.sort_unstable();
    let pct = |p: f64| {
        let i = ((lat.len() as f64 * p).ceil() as usize).clamp(1, lat.len()) - 1;
        lat[i].as_secs_f64() * 1000.0
    };
    Ok(Stats {
        requests: lat.len(),
        errors,
        rps: lat.len() as f64 / elapsed,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    })
}

fn gzip_size(path: &Path) -> Result<(u64, u64)> {
    let raw = std::fs::metadata(path)
        .with_context(|| format!("{} missing", path.display()))?
        .len();
    let out = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .context("running gzip")?;
    Ok((raw, out.stdout.len() as u64))
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn stats_json(s: &Stats) -> serde_json::Value {
    json!({
        "requests": s.requests,
        "errors": s.errors,
        "requests_per_sec": (s.rps * 10.0).round() / 10.0,
        "p50_ms": (s.p50_ms * 1000.0).round() / 1000.0,
        "p99_ms": (s.p99_ms * 1000.0).round() / 1000.0,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let duration = Duration::from_secs(
        arg(&args, "--duration-secs")
            .map(|s| s.parse())
            .transpose()?
            .unwrap_or(5u64)
            .clamp(1, 60),
    );
    let clients: usize = arg(&args, "--clients")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(4usize)
        .clamp(1, 64);
    let rounds_n: usize = arg(&args, "--rounds")
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(3usize)
        .clamp(1, 9);
    let out = arg(&args, "--out")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/bench/edge.json"));

    let edge_seed = [0x5e; 32];
    let edge_key = SigningKey::from_seed("edge-bench", edge_seed)?;
    let origin_key = SigningKey::from_seed("origin-bench", [0x6f; 32])?;
    let stub = StubOrigin::start().await?;
    let mut vars = Vars::default();
    vars.0.insert(
        "EDGE_SIGNING_KEY".into(),
        format_key_spec(edge_key.kid(), &edge_seed),
    );
    vars.0.insert(
        "ORIGIN_PUBLIC_KEYS".into(),
        origin_key.public_key().to_string(),
    );
    vars.0.insert("ORIGIN_URL".into(), stub.url());
    vars.0.insert("COOKIE_SECURE".into(), "false".into());

    let real = Cloudflare::new();
    let noop = Cloudflare {
        build_dir: "build-noop".into(),
        ..Cloudflare::new()
    };

    // Both workers run side by side and are measured in alternating windows, so a
    // change in the machine's load hits both alike; the ratio is taken per round and
    // the median round is reported.
    let noop_edge = noop.start(&vars).await?;
    let real_edge = real.start(&vars).await?;
    let http = reqwest::Client::builder().no_proxy().build()?;
    let event = uuid::Uuid::new_v4();
    let mut rules = EdgeRules::default_for(event, now_s() - 600);
    rules.new_users_per_minute = 1; // visitors stay waiting for the whole run
    let now = now_s();
    let t = token::sign(
        &origin_key,
        &RulesClaims {
            evt: event,
            rules,
            event_name: Some("Bench".into()),
            draw_seed: None,
            iat: now,
            exp: now + 300,
        },
    );
    let r = http
        .put(format!("{}/__urr/rules/{event}", real_edge.base_url()))
        .body(t)
        .send()
        .await?;
    if r.status() != 200 {
        bail!("rules push failed: {}", r.text().await?);
    }
    let mut ticket = String::new();
    for _ in 0..3 {
        let j: serde_json::Value = http
            .post(format!("{}/vwr/{event}/join", real_edge.base_url()))
            .send()
            .await?
            .json()
            .await?;
        ticket = j["ticket"].as_str().context("ticket")?.to_owned();
    }
    let noop_url = format!("{}/", noop_edge.base_url());
    let status_url = format!("{}/vwr/{event}/status", real_edge.base_url());
    let mut rounds: Vec<(Stats, Stats)> = Vec::new();
    for round in 1..=rounds_n {
        let b = load(&noop_url, &[], clients, duration).await?;
        let p = load(
            &status_url,
            &[("x-queue-ticket", ticket.clone())],
            clients,
            duration,
        )
        .await?;
        println!(
            "round {round}: no-op {:.0} req/s, status {:.0} req/s, ratio {:.3}",
            b.rps,
            p.rps,
            p.rps / b.rps
        );
        rounds.push((b, p));
    }
    drop(noop_edge);
    drop(real_edge);
    rounds.sort_by(|x, y| (x.1.rps / x.0.rps).total_cmp(&(y.1.rps / y.0.rps)));
    let ratios: Vec<f64> = rounds.iter().map(|(b, p)| p.rps / b.rps).collect();
    let (baseline, polls) = rounds.swap_remove(rounds.len() / 2);

    let dir = real.worker_dir.clone();
    let (edge_raw, edge_gz) = gzip_size(&dir.join("build/index_bg.wasm"))?;
    let (noop_raw, noop_gz) = gzip_size(&dir.join("build-noop/index_bg.wasm"))?;
    // The Spin component's size, when built (`--spin-wasm`, passed by `cargo xtask bench edge`).
    let spin = arg(&args, "--spin-wasm")
        .map(|p| gzip_size(Path::new(&p)))
        .transpose()?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    // Other work on the machine skews absolute numbers; the ratio is the comparable figure.
    let loadavg = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_default();
    let ratio = polls.rps / baseline.rps;
    let round_ratios: Vec<f64> = ratios
        .iter()
        .map(|r| (r * 1000.0).round() / 1000.0)
        .collect();
    let report = json!({
        "machine": { "cores": cores, "loadavg_1min_at_end": loadavg },
        "clients": clients,
        "duration_secs": duration.as_secs(),
        "noop": stats_json(&baseline),
        "status_poll": stats_json(&polls),
        "ratio_status_to_noop": (ratio * 1000.0).round() / 1000.0,
        "rounds": rounds_n,
        "round_ratios": round_ratios,
        "wasm": {
            "edge": { "bytes": edge_raw, "gzip_bytes": edge_gz },
            "noop": { "bytes": noop_raw, "gzip_bytes": noop_gz },
            "spin": spin.map(|(raw, gz)| json!({ "bytes": raw, "gzip_bytes": gz })),
        },
        "notes": "wrangler dev (workerd) on 127.0.0.1; worker-build --profile wasm-release --no-opt; gzip -9",
    });
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;

    println!(
        "\n| worker (wrangler dev, {clients} clients, {} s, {cores} cores) | req/s | p50 ms | p99 ms | errors | wasm | gzip |",
        duration.as_secs()
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    println!(
        "| no-op | {:.0} | {:.2} | {:.2} | {} | {} | {} |",
        baseline.rps, baseline.p50_ms, baseline.p99_ms, baseline.errors, noop_raw, noop_gz
    );
    println!(
        "| edge: status poll | {:.0} | {:.2} | {:.2} | {} | {} | {} |",
        polls.rps, polls.p50_ms, polls.p99_ms, polls.errors, edge_raw, edge_gz
    );
    if let Some((raw, gz)) = spin {
        println!(
            "| Spin component (size only; wasm32-wasip2, wasm-release) | – | – | – | – | {raw} | {gz} |"
        );
    }
    println!(
        "\nstatus/no-op throughput ratio: {ratio:.3} (1-min load average {loadavg} on {cores} cores); written to {}",
        out.display()
    );
    if edge_gz > 1_000_000 {
        bail!("the edge worker is {edge_gz} bytes gzipped, over the 1 MB budget");
    }
    Ok(())
}
