//! The on-sale load test: many fans, each a small state machine ([`fan`]) on its own
//! keep-alive connection from its own loopback address, through the edge, tier 2,
//! booking and payment, against a running stack (`cargo xtask load` starts one).
//!
//! # Arrivals
//!
//! An open model: fans arrive on a schedule, not when others finish. A share arrive
//! during the ramp (the pre-queue, before the sale opens), the rest in a burst over the
//! first seconds of the sale. At most `max_connections` fans are connected at once (the
//! machine's file-descriptor limit); an arrival beyond that waits for a free one,
//! which the report counts.
//!
//! `--soak` runs [`soak`] instead: memory over a million requests.
//!
//! # What it reports
//!
//! `report.json` with the stable keys `fans`, `peak_concurrent_connections`,
//! `tickets_sold`, `double_sold`, `over_admitted`, `http_5xx`, `lost_payments`,
//! `kendall_tau_min`, `phases.<phase>.{p50_ms,p99_ms}`,
//! `processes.<name>.{max_rss_mb,cpu_seconds}` and `cores`, and `report.html` with
//! the plots ([`report`]). The run fails unless the four counts are 0 and
//! `kendall_tau_min` ≥ [`TAU_MIN`] ([`check`]).

pub mod check;
pub mod client;
pub mod fan;
pub mod record;
pub mod report;
pub mod setup;
pub mod soak;

use anyhow::{Context, Result};
use fan::{Behaviour, Scenario};
use record::{ProcUse, Recorder, Sample};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// Lowest acceptable Kendall tau between queue position and admission order.
pub const TAU_MIN: f64 = 0.99;

pub struct Options {
    pub fans: u64,
    /// Seconds of pre-queue arrivals before the sale opens.
    pub ramp_secs: u64,
    /// Seconds over which the rest arrive once the sale opens.
    pub burst_secs: u64,
    /// Share of the fans arriving during the ramp.
    pub ramp_share: f64,
    /// How many of [`setup::EVENTS`] to sell (1–3).
    pub events: usize,
    /// Tier-1 admissions per minute, all events together (split by weight).
    pub rate_per_min: u32,
    pub max_active: u32,
    pub active_slot_secs: u32,
    pub max_connections: usize,
    pub edge: SocketAddr,
    /// One origin replica, for the promoter's set-up calls.
    pub origin: String,
    pub toss: String,
    pub db: String,
    /// The origin's signing key (`kid:seed`), to mint the promoter's token.
    pub origin_key: String,
    pub password: String,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub out_dir: PathBuf,
    /// Processes to watch: name → pid.
    pub pids: BTreeMap<String, u32>,
    /// What the stack was configured with (limits and timers), for the report.
    pub stack_config: Value,
    /// `--soak`: instead of the on-sale, this many requests from a fixed crowd of
    /// `soak_fans` signed-in fans, watching memory ([`soak`]).
    pub soak_requests: Option<u64>,
    pub soak_fans: u64,
    /// Send each fan's address in this header too (under `wrangler dev`, which takes
    /// `CF-Connecting-IP` from the request as Cloudflare's network would set it).
    pub client_ip_header: Option<String>,
}

/// Arrival offsets from the start, in seconds, for fans `0..n`.
fn arrivals(o: &Options) -> Vec<f64> {
    let ramp_fans = ((o.fans as f64) * o.ramp_share).round() as u64;
    (0..o.fans)
        .map(|i| {
            if i < ramp_fans {
                o.ramp_secs as f64 * i as f64 / ramp_fans.max(1) as f64
            } else {
                let k = (i - ramp_fans) as f64 / (o.fans - ramp_fans).max(1) as f64;
                // Front-loaded: half the burst arrives in its first quarter.
                o.ramp_secs as f64 + o.burst_secs as f64 * k * k
            }
        })
        .collect()
}

fn procs_now(pids: &BTreeMap<String, u32>) -> BTreeMap<String, ProcUse> {
    let mut out: BTreeMap<String, ProcUse> = pids
        .iter()
        .filter_map(|(name, pid)| Some((name.clone(), record::proc_use(*pid)?)))
        .collect();
    out.insert("postgres".into(), record::comm_use("postgres"));
    out.insert("redis".into(), record::comm_use("redis-server"));
    out.insert(
        "load generator".into(),
        record::proc_use(std::process::id()).unwrap_or_default(),
    );
    out
}

pub async fn run(o: Options) -> Result<bool> {
    if let Err(e) = rlimit::increase_nofile_limit(u64::MAX) {
        eprintln!("could not raise the file descriptor limit: {e}");
    }
    let db = sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(&o.db)
        .await
        .context("connecting to the origin's database")?;
    let started_setup = Instant::now();
    let accounts = if o.soak_requests.is_some() {
        o.soak_fans
    } else {
        o.fans
    };
    eprintln!("provisioning {accounts} fan accounts");
    let hash = setup::password_hash(&o.password, o.argon2_memory_kib, o.argon2_iterations)?;
    setup::fans(&db, accounts, &hash).await?;
    let key = shared_wasm::token::SigningKey::parse(&o.origin_key).map_err(anyhow::Error::msg)?;
    let admin = crate::origin::users(&db, 1, shared_wasm::token::Role::Admin).await?[0];
    let http = reqwest::Client::builder().no_proxy().build()?;
    let promoter = setup::Promoter {
        http: http.clone(),
        origin: o.origin.clone(),
        token: crate::origin::access_token(&key, admin, shared_wasm::token::Role::Admin),
    };
    let now = chrono::Utc::now();
    let times = setup::SaleTimes {
        prequeue_opens_at: now - chrono::Duration::seconds(5),
        // The sale opens when the ramp ends (set-up time included).
        sale_opens_at: now + chrono::Duration::seconds(o.ramp_secs as i64 + 5),
        rate_per_min: o.rate_per_min,
        max_active: o.max_active,
        active_slot_secs: o.active_slot_secs,
    };
    let specs = &setup::EVENTS[..o.events.clamp(1, setup::EVENTS.len())];
    let events = setup::events(&promoter, specs, &times).await?;
    eprintln!(
        "set up {} events in {:.1} s",
        events.len(),
        started_setup.elapsed().as_secs_f64()
    );
    let ids: Vec<uuid::Uuid> = events.iter().map(|e| e.id).collect();
    if let Some(requests) = o.soak_requests {
        let pids = o.pids.clone();
        let (report, flat) = soak::run(
            o.edge,
            &events[0],
            &o.password,
            o.soak_fans,
            requests,
            move || procs_now(&pids),
        )
        .await?;
        std::fs::create_dir_all(&o.out_dir)?;
        std::fs::write(
            o.out_dir.join("soak.json"),
            serde_json::to_vec_pretty(&report)?,
        )?;
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "flat": report["flat"], "requests": report["requests"],
                "requests_per_sec": report["requests_per_sec"],
                "failed_or_5xx": report["failed_or_5xx"], "processes": report["processes"],
            }))?
        );
        println!("report: {}", o.out_dir.join("soak.json").display());
        return Ok(flat);
    }

    let rec = Arc::new(Recorder::new());
    let scenario = Arc::new(Scenario {
        edge: o.edge,
        toss: o.toss.clone(),
        toss_http: reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(30))
            .build()?,
        password: o.password.clone(),
        events,
        behaviour: Behaviour::default(),
        rec: rec.clone(),
        client_ip_header: o.client_ip_header.clone(),
    });

    // The sampler: one sample a second, and the progress line.
    let bar = indicatif::ProgressBar::new(o.fans);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{elapsed_precise} [{bar:30}] {pos}/{len} fans done · {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let (stop_tx, mut stop_rx) = tokio::sync::oneshot::channel::<()>();
    let sampler = {
        let rec = rec.clone();
        let pids = o.pids.clone();
        let bar = bar.clone();
        tokio::spawn(async move {
            let mut samples: Vec<Sample> = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = &mut stop_rx => break,
                }
                let s = rec.sample(procs_now(&pids));
                let req_s = samples
                    .last()
                    .map(|p| (s.requests - p.requests) as f64 / (s.t - p.t).max(1e-3))
                    .unwrap_or(0.0);
                bar.set_position(s.done);
                let line = format!(
                    "edge {} · tier 2 {} · booking {} · paid {} · conns {} · {:.0} req/s · 5xx {}",
                    s.at_edge,
                    s.in_tier2,
                    s.booking,
                    s.paid,
                    s.connections,
                    req_s,
                    rec.counts.http_5xx.load(Ordering::Relaxed)
                );
                // Without a terminal (CI, a log file) the bar is hidden: a plain line
                // every ten seconds instead.
                if bar.is_hidden() && samples.len().is_multiple_of(10) {
                    eprintln!("{:>5.0} s · {} fans done · {line}", s.t, s.done);
                }
                bar.set_message(line);
                samples.push(s);
            }
            samples.push(rec.sample(procs_now(&pids)));
            samples
        })
    };

    // Arrivals.
    let schedule = arrivals(&o);
    let permits = Arc::new(tokio::sync::Semaphore::new(o.max_connections));
    let mut delayed_arrivals = 0u64;
    let mut fans = tokio::task::JoinSet::new();
    let t0 = tokio::time::Instant::now();
    for (i, at) in schedule.iter().enumerate() {
        tokio::time::sleep_until(t0 + Duration::from_secs_f64(*at)).await;
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                delayed_arrivals += 1;
                permits.clone().acquire_owned().await?
            }
        };
        let scenario = scenario.clone();
        fans.spawn(async move {
            fan::run(&scenario, i as u64).await;
            drop(permit);
        });
        // Reap finished fans as we go, so the set stays small.
        while fans.try_join_next().is_some() {}
    }
    while fans.join_next().await.is_some() {}
    let run_secs = rec.start.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let samples = sampler.await?;
    bar.finish();

    // The statistics copy the line's counters every second or so: wait for the copy
    // that includes the last admission before reading the peaks.
    let admitted = rec.counts.admitted.load(Ordering::Relaxed) as i64;
    let deadline = Instant::now() + Duration::from_secs(30);
    while check::admissions_counted(&db, &ids).await? < admitted && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let toss_payments: Value = http
        .get(format!("{}/v1/__test/payments", o.toss))
        .send()
        .await?
        .json()
        .await?;
    let (lost_payments, payments_done) = check::lost_payments(&db, &toss_payments).await?;
    let double_sold = check::double_sold(&db, &ids).await?;
    let over_admitted = check::over_admitted(&db, &ids).await?;
    let tickets_sold = check::tickets_sold(&db, &ids).await?;
    let peaks = check::active_peaks(&db, &ids).await?;
    let c = &rec.counts;
    let http_5xx = c.http_5xx.load(Ordering::Relaxed);

    let mut per_event = Vec::new();
    let mut tau_min: Option<f64> = None;
    for e in &scenario.events {
        let admissions = e.admissions.lock().map(|a| a.clone()).unwrap_or_default();
        let tau = check::kendall_tau(&admissions);
        if let Some(t) = tau {
            tau_min = Some(tau_min.map_or(t, |m| m.min(t)));
        }
        per_event.push(json!({
            "id": e.id, "title": e.title, "random_draw": e.random_draw,
            "admitted": admissions.len(), "kendall_tau": tau,
            "tier2_active_peak": peaks.get(&e.id),
        }));
    }
    let mut processes = serde_json::Map::new();
    let names: Vec<String> = samples
        .last()
        .map(|s| s.procs.keys().cloned().collect())
        .unwrap_or_default();
    for name in names {
        let max_rss = samples
            .iter()
            .filter_map(|s| s.procs.get(&name))
            .map(|p| p.rss_mb)
            .fold(0.0, f64::max);
        let first = samples
            .first()
            .and_then(|s| s.procs.get(&name))
            .map_or(0.0, |p| p.cpu_seconds);
        let last = samples
            .last()
            .and_then(|s| s.procs.get(&name))
            .map_or(0.0, |p| p.cpu_seconds);
        processes.insert(
            name,
            json!({ "max_rss_mb": (max_rss * 10.0).round() / 10.0, "cpu_seconds": ((last - first) * 10.0).round() / 10.0 }),
        );
    }
    let requests = c.requests.load(Ordering::Relaxed);
    let passed = double_sold == 0
        && over_admitted == 0
        && http_5xx == 0
        && lost_payments == 0
        && tau_min.is_some_and(|t| t >= TAU_MIN);
    let report = json!({
        "passed": passed,
        "fans": o.fans,
        "peak_concurrent_connections": c.peak_connections.load(Ordering::Relaxed),
        "tickets_sold": tickets_sold,
        "double_sold": double_sold,
        "over_admitted": over_admitted,
        "http_5xx": http_5xx,
        "lost_payments": lost_payments,
        "kendall_tau_min": tau_min,
        "phases": rec.phase_summary(),
        "processes": processes,
        "cores": crate::cores(),
        "duration_secs": (run_secs * 10.0).round() / 10.0,
        "requests": requests,
        "requests_per_sec": (requests as f64 / run_secs.max(1e-3)).round(),
        "events": per_event,
        "fans_by_outcome": {
            "joined": c.joined.load(Ordering::Relaxed),
            "passes": c.passes.load(Ordering::Relaxed),
            "admitted": admitted,
            "gave_up": c.gave_up.load(Ordering::Relaxed),
            "found_nothing_left": c.sold_out.load(Ordering::Relaxed),
            "let_hold_lapse": c.lapsed_holds.load(Ordering::Relaxed),
            "paid": c.paid.load(Ordering::Relaxed),
        },
        "payments_done_at_toss": payments_done,
        "tickets_seen_by_fans": c.tickets_seen.load(Ordering::Relaxed),
        "tickets_missing_for_fans": c.tickets_missing.load(Ordering::Relaxed),
        "idempotent_retries": c.idempotent_retries.load(Ordering::Relaxed),
        "idempotency_mismatches": c.idempotency_mismatches.load(Ordering::Relaxed),
        "http_429": c.http_429.load(Ordering::Relaxed),
        "transport_errors": c.transport_errors.load(Ordering::Relaxed),
        "unexpected_answers": c.unexpected.load(Ordering::Relaxed),
        "surprises": rec.surprises.lock().map(|s| s.iter().map(|(k, (n, body))| json!({"what": k, "count": n, "first_body": body})).collect::<Vec<_>>()).unwrap_or_default(),
        "arrivals_delayed_by_connection_cap": delayed_arrivals,
        "config": {
            "fans": o.fans, "ramp_secs": o.ramp_secs, "burst_secs": o.burst_secs,
            "ramp_share": o.ramp_share, "events": o.events,
            "edge_rate_per_min_all_events": o.rate_per_min,
            "tier2_max_active": o.max_active, "tier2_active_slot_secs": o.active_slot_secs,
            "max_connections": o.max_connections,
            "accounts": format!(
                "pre-provisioned in the database with one Argon2id hash (m={} KiB, t={}, p=1); \
                 the origin is configured with the same cost so logins never rehash",
                o.argon2_memory_kib, o.argon2_iterations
            ),
            "client_addresses": "one loopback address per fan (127.1.0.1 upward), so the edge's per-address join limit and the origin's per-address login limit apply per fan, as in production",
            "stack": o.stack_config,
        },
        "timeline_samples": samples.len(),
    });
    std::fs::create_dir_all(&o.out_dir)?;
    std::fs::write(
        o.out_dir.join("report.json"),
        serde_json::to_vec_pretty(&report)?,
    )?;
    std::fs::write(
        o.out_dir.join("timeline.json"),
        serde_json::to_vec(&json!({ "samples": samples, "latency_windows": rec.windows() }))?,
    )?;
    let windows = rec.windows();
    std::fs::write(
        o.out_dir.join("report.html"),
        report::html(&report, &samples, &windows),
    )?;
    let charts = o.out_dir.join("charts");
    std::fs::create_dir_all(&charts)?;
    for (name, svg) in report::charts(&samples, &windows) {
        std::fs::write(charts.join(format!("{name}.svg")), svg)?;
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&json!({
            "passed": passed, "fans": o.fans, "tickets_sold": tickets_sold,
            "double_sold": double_sold, "over_admitted": over_admitted, "http_5xx": http_5xx,
            "lost_payments": lost_payments, "kendall_tau_min": tau_min,
            "peak_concurrent_connections": report["peak_concurrent_connections"],
            "duration_secs": report["duration_secs"], "requests_per_sec": report["requests_per_sec"],
        }))?
    );
    println!("report: {}", o.out_dir.join("report.html").display());
    Ok(passed)
}
