//! `--soak`: does memory stay flat? A fixed crowd of signed-in fans repeats what fans
//! repeat during a long sale (edge status polls, tier-2 status polls, the event page,
//! the seat map) for `--soak-requests` requests (a million by default) while nobody
//! scrapes `/metrics`, and every process's resident memory is sampled once a second.
//!
//! The verdict compares each process's RSS when a quarter of the requests were done
//! (caches warm, pools full) with its RSS at the end: a growth above
//! [`MAX_GROWTH`] fails the soak. What could grow without bound is exercised on
//! purpose: latency histograms (recorded on every request, folded only by the upkeep
//! task now that nobody scrapes), the verified-token cache (every fan has its own
//! access token), the settings and seat-map caches, and the edge's per-event state.

use super::client::Conn;
use super::fan::{EventPlan, email};
use super::record::ProcUse;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Largest acceptable RSS growth from the quarter mark to the end, per process.
pub const MAX_GROWTH: f64 = 0.10;

/// One fan of the crowd, signed in and holding an edge ticket.
struct Regular {
    conn: Conn,
    access: String,
    ticket: String,
}

/// Signs `n` fans in and gives each an edge ticket for `event`.
async fn crowd(
    edge: SocketAddr,
    event: &EventPlan,
    password: &str,
    n: u64,
) -> Result<Vec<Regular>> {
    let mut out = Vec::with_capacity(n as usize);
    for i in 0..n {
        let mut conn = Conn::new(super::client::fan_address(i), edge);
        let joined = conn
            .send(
                "POST",
                &format!("/vwr/{}/join", event.id),
                &[],
                Some(&json!({})),
            )
            .await?;
        let ticket = joined.json()["ticket"]
            .as_str()
            .with_context(|| {
                format!(
                    "edge join for the soak: {}",
                    String::from_utf8_lossy(&joined.body)
                )
            })?
            .to_owned();
        let login = conn
            .send(
                "POST",
                "/api/v1/auth/login",
                &[],
                Some(&json!({ "email": email(i), "password": password })),
            )
            .await?;
        let access = login.json()["access_token"]
            .as_str()
            .with_context(|| format!("soak login: {}", String::from_utf8_lossy(&login.body)))?
            .to_owned();
        out.push(Regular {
            conn,
            access,
            ticket,
        });
    }
    Ok(out)
}

/// Runs the soak; returns the report and whether memory stayed flat.
pub async fn run(
    edge: SocketAddr,
    event: &EventPlan,
    password: &str,
    fans: u64,
    requests: u64,
    sample: impl Fn() -> BTreeMap<String, ProcUse> + Send + 'static,
) -> Result<(Value, bool)> {
    let crowd = crowd(edge, event, password, fans).await?;
    let done = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(AtomicU64::new(0));
    let ev = event.id;
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for mut r in crowd {
        let (done, failures) = (done.clone(), failures.clone());
        workers.spawn(async move {
            let auth = format!("Bearer {}", r.access);
            let mut turn = 0u64;
            while done.fetch_add(1, Ordering::Relaxed) < requests {
                turn += 1;
                let (path, headers): (String, Vec<(&str, &str)>) = match turn % 4 {
                    0 => (
                        format!("/vwr/{ev}/status"),
                        vec![("x-queue-ticket", r.ticket.as_str())],
                    ),
                    1 => (
                        format!("/api/v1/events/{ev}/queue/status"),
                        vec![("authorization", auth.as_str())],
                    ),
                    2 => (
                        format!("/api/v1/events/{ev}"),
                        vec![("authorization", auth.as_str())],
                    ),
                    _ => (format!("/api/v1/events/{ev}/seats"), vec![]),
                };
                match r.conn.send("GET", &path, &headers, None).await {
                    Ok(reply) if reply.status < 500 => {}
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        });
    }
    // Samples until the crowd is done.
    let mut samples: Vec<(u64, BTreeMap<String, ProcUse>)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while !workers.is_empty() {
        tokio::select! {
            _ = tick.tick() => {
                samples.push((done.load(Ordering::Relaxed).min(requests), sample()));
                let n = samples.len();
                if n.is_multiple_of(10) {
                    eprintln!("soak: {} of {requests} requests", done.load(Ordering::Relaxed).min(requests));
                }
            }
            _ = workers.join_next() => {}
        }
    }
    samples.push((requests, sample()));
    let secs = started.elapsed().as_secs_f64();
    let quarter = samples
        .iter()
        .find(|(n, _)| *n >= requests / 4)
        .map(|(_, p)| p.clone())
        .unwrap_or_default();
    let end = samples.last().map(|(_, p)| p.clone()).unwrap_or_default();
    let mut flat = true;
    let mut per_process = serde_json::Map::new();
    for (name, at_end) in &end {
        let Some(at_quarter) = quarter.get(name) else {
            continue;
        };
        let growth = (at_end.rss_mb - at_quarter.rss_mb) / at_quarter.rss_mb.max(1.0);
        // The load generator and the shared stores are not the system under test.
        let judged = !matches!(name.as_str(), "load generator" | "postgres" | "redis");
        if judged && growth > MAX_GROWTH {
            flat = false;
        }
        per_process.insert(
            name.clone(),
            json!({
                "rss_mb_at_quarter": (at_quarter.rss_mb * 10.0).round() / 10.0,
                "rss_mb_at_end": (at_end.rss_mb * 10.0).round() / 10.0,
                "growth": (growth * 1000.0).round() / 1000.0,
                "judged": judged,
            }),
        );
    }
    let failed = failures.load(Ordering::Relaxed);
    let report = json!({
        "requests": requests,
        "fans": fans,
        "seconds": (secs * 10.0).round() / 10.0,
        "requests_per_sec": (requests as f64 / secs.max(1e-3)).round(),
        "failed_or_5xx": failed,
        "max_growth_allowed": MAX_GROWTH,
        "flat": flat,
        "processes": per_process,
        "rss_timeline": samples.iter().map(|(n, p)| json!({
            "requests": n,
            "rss_mb": p.iter().map(|(k, v)| (k.clone(), (v.rss_mb * 10.0).round() / 10.0)).collect::<BTreeMap<_, _>>(),
        })).collect::<Vec<_>>(),
    });
    Ok((report, flat && failed == 0))
}
