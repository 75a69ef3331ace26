//! What a run observes: request latencies per phase (overall and per time window), the
//! fans in each stage, and the CPU and memory of every process of the stack, sampled
//! once a second.

use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

/// The steps of a fan's way, each timed on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// The fan's TCP connection to the edge (SYN to established).
    Connect,
    EdgeJoin,
    EdgePoll,
    Login,
    QueueJoin,
    QueuePoll,
    Seats,
    Hold,
    Authorize,
    Confirm,
    Tickets,
}

impl Phase {
    pub const ALL: [Phase; 11] = [
        Phase::Connect,
        Phase::EdgeJoin,
        Phase::EdgePoll,
        Phase::Login,
        Phase::QueueJoin,
        Phase::QueuePoll,
        Phase::Seats,
        Phase::Hold,
        Phase::Authorize,
        Phase::Confirm,
        Phase::Tickets,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Connect => "connect",
            Phase::EdgeJoin => "edge_join",
            Phase::EdgePoll => "edge_poll",
            Phase::Login => "login",
            Phase::QueueJoin => "queue_join",
            Phase::QueuePoll => "queue_poll",
            Phase::Seats => "seat_map",
            Phase::Hold => "hold",
            Phase::Authorize => "toss_authorize",
            Phase::Confirm => "confirm",
            Phase::Tickets => "tickets",
        }
    }
}

/// Latency windows in the report's plots, in seconds.
pub const WINDOW_SECS: u64 = 5;

fn histogram() -> Histogram<u64> {
    // 1 µs .. 10 min, two significant digits: a few KiB each.
    Histogram::new_with_bounds(1, 600_000_000, 2).expect("constant, valid histogram bounds")
}

#[derive(Default)]
struct Latencies {
    total: BTreeMap<Phase, Histogram<u64>>,
    /// Window index → phase → histogram.
    windows: BTreeMap<u64, BTreeMap<Phase, Histogram<u64>>>,
}

/// Where the fans are now (gauges) and what they did (counters).
#[derive(Default)]
pub struct Counts {
    pub connections: AtomicI64,
    pub peak_connections: AtomicI64,
    pub at_edge: AtomicI64,
    pub in_tier2: AtomicI64,
    pub booking: AtomicI64,
    pub done: AtomicU64,
    pub joined: AtomicU64,
    pub passes: AtomicU64,
    pub admitted: AtomicU64,
    pub gave_up: AtomicU64,
    pub lapsed_holds: AtomicU64,
    pub idempotent_retries: AtomicU64,
    pub idempotency_mismatches: AtomicU64,
    pub paid: AtomicU64,
    pub tickets_seen: AtomicU64,
    pub tickets_missing: AtomicU64,
    pub sold_out: AtomicU64,
    pub requests: AtomicU64,
    pub http_5xx: AtomicU64,
    pub http_429: AtomicU64,
    pub transport_errors: AtomicU64,
    pub unexpected: AtomicU64,
}

impl Counts {
    pub fn connection_opened(&self) {
        let now = self.connections.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_connections.fetch_max(now, Ordering::Relaxed);
    }

    pub fn connection_closed(&self) {
        self.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One latency window: its start (seconds into the run) and each phase's
/// `(p50, p99)` in milliseconds.
pub type Window = (u64, BTreeMap<&'static str, (f64, f64)>);

pub struct Recorder {
    pub start: Instant,
    pub counts: Counts,
    latencies: Mutex<Latencies>,
    /// Unexpected answers, a few of each kind, for the report.
    pub surprises: Mutex<BTreeMap<String, (u64, String)>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Recorder {
            start: Instant::now(),
            counts: Counts::default(),
            latencies: Mutex::new(Latencies::default()),
            surprises: Mutex::new(BTreeMap::new()),
        }
    }

    /// Records one request of `phase` that took `started.elapsed()`.
    pub fn request(&self, phase: Phase, started: Instant, status: Option<u16>) {
        let us = started.elapsed().as_micros().max(1) as u64;
        let c = &self.counts;
        c.requests.fetch_add(1, Ordering::Relaxed);
        match status {
            Some(s) if s >= 500 => {
                c.http_5xx.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut m) = self.surprises.lock() {
                    m.entry(format!("{} answered {s}", phase.name()))
                        .or_insert_with(|| (0, String::new()))
                        .0 += 1;
                }
            }
            Some(429) => {
                c.http_429.fetch_add(1, Ordering::Relaxed);
            }
            None => {
                c.transport_errors.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        let window = started.duration_since(self.start).as_secs() / WINDOW_SECS;
        if let Ok(mut l) = self.latencies.lock() {
            let _ = l.total.entry(phase).or_insert_with(histogram).record(us);
            let _ = l
                .windows
                .entry(window)
                .or_default()
                .entry(phase)
                .or_insert_with(histogram)
                .record(us);
        }
    }

    /// Notes an answer the scenario did not expect (kept: the first body of each kind).
    pub fn surprise(&self, what: &str, status: u16, body: &[u8]) {
        self.counts.unexpected.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut s) = self.surprises.lock() {
            let e = s.entry(format!("{what} {status}")).or_insert_with(|| {
                (
                    0,
                    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned(),
                )
            });
            e.0 += 1;
        }
    }

    /// p50/p99/max per phase over the whole run, in milliseconds.
    pub fn phase_summary(&self) -> BTreeMap<&'static str, PhaseSummary> {
        let Ok(l) = self.latencies.lock() else {
            return BTreeMap::new();
        };
        l.total
            .iter()
            .map(|(p, h)| (p.name(), PhaseSummary::of(h)))
            .collect()
    }

    /// Per window: phase → (p50, p99) in milliseconds.
    pub fn windows(&self) -> Vec<Window> {
        let Ok(l) = self.latencies.lock() else {
            return Vec::new();
        };
        l.windows
            .iter()
            .map(|(w, phases)| {
                (
                    w * WINDOW_SECS,
                    phases
                        .iter()
                        .map(|(p, h)| {
                            (
                                p.name(),
                                (ms(h.value_at_quantile(0.5)), ms(h.value_at_quantile(0.99))),
                            )
                        })
                        .collect(),
                )
            })
            .collect()
    }
}

fn ms(us: u64) -> f64 {
    (us as f64 / 1000.0 * 100.0).round() / 100.0
}

#[derive(Debug, Serialize)]
pub struct PhaseSummary {
    pub requests: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl PhaseSummary {
    fn of(h: &Histogram<u64>) -> Self {
        PhaseSummary {
            requests: h.len(),
            p50_ms: ms(h.value_at_quantile(0.5)),
            p90_ms: ms(h.value_at_quantile(0.9)),
            p99_ms: ms(h.value_at_quantile(0.99)),
            max_ms: ms(h.max()),
        }
    }
}

/// One process's counters read from `/proc`.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ProcUse {
    pub cpu_seconds: f64,
    pub rss_mb: f64,
}

/// Clock ticks per second of `/proc/<pid>/stat` (`sysconf(_SC_CLK_TCK)`; 100 on Linux).
const CLOCK_TICKS: f64 = 100.0;

/// CPU and resident memory of `pid` (`None`: gone).
pub fn proc_use(pid: u32) -> Option<ProcUse> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields start after the last ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    let rss_pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(ProcUse {
        cpu_seconds: (utime + stime) / CLOCK_TICKS,
        rss_mb: rss_pages * 4096.0 / (1024.0 * 1024.0),
    })
}

/// Every process whose command is `comm` (e.g. all PostgreSQL backends), summed.
pub fn comm_use(comm: &str) -> ProcUse {
    let mut total = ProcUse::default();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return total;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let is =
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm);
        if is && let Some(u) = proc_use(pid) {
            total.cpu_seconds += u.cpu_seconds;
            total.rss_mb += u.rss_mb;
        }
    }
    total
}

/// One second of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub t: f64,
    pub connections: i64,
    pub at_edge: i64,
    pub in_tier2: i64,
    pub booking: i64,
    pub done: u64,
    pub joined: u64,
    pub passes: u64,
    pub admitted: u64,
    pub paid: u64,
    pub requests: u64,
    pub procs: BTreeMap<String, ProcUse>,
}

impl Recorder {
    pub fn sample(&self, procs: BTreeMap<String, ProcUse>) -> Sample {
        let c = &self.counts;
        Sample {
            t: (self.start.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            connections: c.connections.load(Ordering::Relaxed),
            at_edge: c.at_edge.load(Ordering::Relaxed),
            in_tier2: c.in_tier2.load(Ordering::Relaxed),
            booking: c.booking.load(Ordering::Relaxed),
            done: c.done.load(Ordering::Relaxed),
            joined: c.joined.load(Ordering::Relaxed),
            passes: c.passes.load(Ordering::Relaxed),
            admitted: c.admitted.load(Ordering::Relaxed),
            paid: c.paid.load(Ordering::Relaxed),
            requests: c.requests.load(Ordering::Relaxed),
            procs,
        }
    }
}
