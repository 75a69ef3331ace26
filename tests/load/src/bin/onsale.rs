//! `onsale`: the on-sale load test against a running stack; see `urr_load::onsale`.
//! `cargo xtask load` starts the stack and runs this with every flag filled in.

use anyhow::{Context, Result};
use std::collections::BTreeMap;
use urr_load::onsale::{self, Options};
use urr_load::origin::flags;

fn get<T: std::str::FromStr>(f: &BTreeMap<String, String>, k: &str, default: T) -> Result<T> {
    match f.get(k) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| anyhow::anyhow!("--{k} {v}: not a valid value")),
    }
}

fn need(f: &BTreeMap<String, String>, k: &str) -> Result<String> {
    f.get(k)
        .cloned()
        .with_context(|| format!("--{k} is required"))
}

fn main() -> Result<()> {
    let f = flags()?;
    let pids = f
        .get("pids")
        .map(|p| {
            p.split(',')
                .filter_map(|kv| {
                    let (k, v) = kv.split_once('=')?;
                    Some((k.to_owned(), v.parse().ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    let o = Options {
        fans: get(&f, "fans", 150_000)?,
        ramp_secs: get(&f, "ramp", 60)?,
        burst_secs: get(&f, "burst", 120)?,
        ramp_share: get(&f, "ramp-share", 0.3)?,
        events: get(&f, "events", 3)?,
        rate_per_min: get(&f, "rate", 12_000)?,
        max_active: get(&f, "max-active", 2_000)?,
        active_slot_secs: get(&f, "slot-secs", 300)?,
        max_connections: get(&f, "max-connections", 17_000)?,
        edge: need(&f, "edge")?.parse().context("--edge host:port")?,
        origin: need(&f, "origin")?,
        toss: need(&f, "toss")?,
        db: need(&f, "db")?,
        origin_key: need(&f, "origin-key")?,
        password: get(&f, "password", "urr-load-1234".to_owned())?,
        argon2_memory_kib: get(&f, "argon2-memory-kib", 1024)?,
        argon2_iterations: get(&f, "argon2-iterations", 1)?,
        out_dir: get(&f, "out", std::path::PathBuf::from("target/load"))?,
        pids,
        client_ip_header: f.get("client-ip-header").cloned(),
        soak_requests: f
            .get("soak")
            .map(|v| {
                v.parse()
                    .map_err(|_| anyhow::anyhow!("--soak {v}: a request count"))
            })
            .transpose()?,
        soak_fans: get(&f, "soak-fans", 2_000)?,
        stack_config: match f.get("stack-config") {
            Some(path) => serde_json::from_slice(&std::fs::read(path)?)?,
            None => serde_json::Value::Null,
        },
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let passed = runtime.block_on(onsale::run(o))?;
    if !passed {
        anyhow::bail!("the on-sale broke an invariant; see the report");
    }
    Ok(())
}
