//! Load-generation helpers shared by the benchmarks and load tests: a bounded pool of
//! concurrent clients working through a list of jobs, latency percentiles, and small
//! wrappers for the external baselines (`pgbench`, `redis-benchmark`).
//!
//! Everything here targets 127.0.0.0/8 only and stops by itself: runs are bounded by a
//! job count or a duration.

pub mod onsale;
pub mod origin;

use anyhow::{Context, Result, bail};
use std::future::Future;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Latencies of one run, in microseconds, with the wall time it took.
#[derive(Debug, Clone)]
pub struct Run {
    pub latencies_us: Vec<u64>,
    pub elapsed: Duration,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.latencies_us.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The `p`-th percentile (0..=100) in milliseconds.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let mut v = self.latencies_us.clone();
        v.sort_unstable();
        let rank = ((p / 100.0) * (v.len() as f64 - 1.0)).round() as usize;
        v[rank.min(v.len() - 1)] as f64 / 1000.0
    }
}

/// Runs `job(i)` for every `i in 0..jobs` on `clients` concurrent workers; each worker
/// takes the next index as soon as it is free. Returns every job's latency and output.
pub async fn run_jobs<F, Fut, T>(jobs: usize, clients: usize, job: F) -> (Run, Vec<T>)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + Send,
    T: Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let job = Arc::new(job);
    let start = Instant::now();
    let mut handles = Vec::with_capacity(clients);
    for _ in 0..clients.max(1) {
        let next = next.clone();
        let job = job.clone();
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= jobs {
                    return out;
                }
                let t = Instant::now();
                let r = job(i).await;
                out.push((i, t.elapsed().as_micros() as u64, r));
            }
        }));
    }
    let mut all = Vec::with_capacity(jobs);
    for h in handles {
        if let Ok(part) = h.await {
            all.extend(part);
        }
    }
    let elapsed = start.elapsed();
    all.sort_by_key(|(i, _, _)| *i);
    let latencies_us = all.iter().map(|(_, l, _)| *l).collect();
    let outputs = all.into_iter().map(|(_, _, r)| r).collect();
    (
        Run {
            latencies_us,
            elapsed,
        },
        outputs,
    )
}

/// The value of an unlabelled metric on the origin's `/metrics` page (0 if absent).
/// `metrics` is the metrics listener's base URL (`URR_METRICS_ADDR`), not the API's.
pub async fn metric(http: &reqwest::Client, metrics: &str, name: &str) -> Result<f64> {
    let page = http
        .get(format!("{metrics}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    Ok(page
        .lines()
        .filter_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum())
}

/// `pgbench` with a custom script for `secs` seconds; returns transactions per second.
pub fn pgbench(url: &str, script: &str, clients: usize, secs: u64) -> Result<f64> {
    let dir = std::env::temp_dir().join(format!("urr-pgbench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("script.sql");
    std::fs::write(&file, script)?;
    let out = Command::new("pgbench")
        .args([
            "-n",
            "-c",
            &clients.to_string(),
            "-j",
            "2",
            "-T",
            &secs.to_string(),
            "-f",
        ])
        .arg(&file)
        .arg(url)
        .output()
        .context("running pgbench (Debian: sudo apt-get install -y postgresql-contrib)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        bail!(
            "pgbench failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    text.lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no tps line in pgbench output:\n{text}"))
}

/// `redis-benchmark` running `args` (a command) `requests` times on `clients`
/// connections, `__rand_int__` drawn below `keyspace`; returns requests per second.
pub fn redis_benchmark(
    host: &str,
    port: u16,
    clients: usize,
    requests: usize,
    keyspace: usize,
    args: &[&str],
) -> Result<f64> {
    let out = Command::new("redis-benchmark")
        .args(["-h", host, "-p", &port.to_string(), "-q"])
        .args(["-r", &keyspace.to_string()])
        .args(["-c", &clients.to_string(), "-n", &requests.to_string()])
        .args(args)
        .output()
        .context("running redis-benchmark (Debian: sudo apt-get install -y redis-tools)")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // "EVALSHA ...: 51234.56 requests per second, p50=0.5 msec"; the progress output
    // before it is separated by carriage returns.
    text.split(['\r', '\n'])
        .rfind(|l| l.contains("requests per second"))
        .and_then(|l| l.rsplit_once(": "))
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("no result in redis-benchmark output:\n{text}"))
}

/// The status code of a request, 0 when it failed to complete.
pub async fn status_of(req: reqwest::RequestBuilder) -> u16 {
    req.send().await.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// `redis-benchmark` running EVALSHA of `script` (loaded first) with `keys_and_args`
/// (`numkeys` included, `__rand_int__` drawn below `keyspace`) on 50 connections;
/// deletes the `baseline:*` keys afterwards (never `bench:*`: the origin under test
/// keeps its streams and lines there).
pub async fn evalsha_baseline(
    redis_url: &str,
    script: &str,
    keyspace: usize,
    keys_and_args: &[&str],
) -> Result<f64> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(script)
        .query_async(&mut conn)
        .await?;
    let (host, port) = origin::redis_host_port(redis_url);
    let mut args = vec!["EVALSHA", sha.as_str()];
    args.extend_from_slice(keys_and_args);
    let ops = redis_benchmark(&host, port, 50, 200_000, keyspace, &args)?;
    let _: Result<(), _> = redis::cmd("EVAL")
        .arg("for _, k in ipairs(redis.call('KEYS', 'baseline:*')) do redis.call('DEL', k) end return 0")
        .arg(0)
        .query_async(&mut conn)
        .await;
    Ok(ops)
}

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// The 1-minute load average, to report with any number measured on a shared machine.
pub fn load_average() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_ranks() {
        let run = Run {
            latencies_us: (1..=100).map(|i| i * 1000).collect(),
            elapsed: Duration::from_secs(1),
        };
        assert_eq!(run.percentile_ms(50.0), 51.0);
        assert_eq!(run.percentile_ms(99.0), 99.0);
        assert_eq!(run.per_second(), 100.0);
    }

    #[tokio::test]
    async fn every_job_runs_once() {
        let (run, out) = run_jobs(257, 8, |i| async move { i * 2 }).await;
        assert_eq!(run.latencies_us.len(), 257);
        assert_eq!(out, (0..257).map(|i| i * 2).collect::<Vec<_>>());
    }
}
