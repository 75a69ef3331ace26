//! `cargo xtask load`: the on-sale load test (`tests/load`'s `onsale`) against a stack
//! started for it: the Toss fake as its own process, two origin replicas on one fresh
//! database (`urr_load`) and one Redis key prefix, and the native edge (`urr-edge`,
//! the same `shared_wasm::edge` handler as on Cloudflare and Spin) in front of both.
//!
//! Flags after `load` go to `onsale` (`--fans`, `--ramp`, `--burst`, `--events`,
//! `--rate`, `--max-active`, `--max-connections`, …); the default is the full run:
//! 150,000 fans. Reports land in `target/load/` (`report.json`, `report.html`,
//! `timeline.json`, and each process's log).
//!
//! `--soak [N]` runs the memory soak instead (`onsale::soak`: N requests, a million by
//! default, from 2,000 signed-in fans, nobody scraping `/metrics`; `soak.json`).
//!
//! `--edge-platform wrangler` runs the Cloudflare worker under `wrangler dev` instead
//! of `urr-edge`, in front of one origin replica (a worker has one `ORIGIN_URL`), with fans
//! sending their address as `CF-Connecting-IP` (which Cloudflare's network sets and
//! `wrangler dev` passes through). `wrangler dev` carries about 1,100 requests a
//! second here, so this is for small runs that show both edges give the same
//! outcomes; its reports land in `target/load/wrangler/`.
//!
//! # What the stack is configured with, and why
//!
//! Everything a production operator would leave alone stays at its default, notably
//! every rate limit: each fan connects from its own loopback address, so the per-address
//! limits (edge joins, logins) apply per fan as they would on the internet, and the
//! per-account limits apply per fan anyway. What is changed is written into the report
//! (`config.stack`):
//!
//! * Argon2id cost 1 MiB / 1 pass for the load accounts (see `onsale::setup`);
//! * unpaid holds lapse after 60 s instead of 5 minutes, so lapsed seats return to sale
//!   within the run;
//! * the statistics copy the queue's counters every second, so the final check reads
//!   the last admissions without waiting;
//! * 24 database connections per replica (two replicas share PostgreSQL's 100).

use crate::keys;
use crate::services::{self, Purpose};
use crate::util::{self, run as sh};
use anyhow::{Context, Result, bail};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A started process, stopped (SIGTERM, then SIGKILL) when dropped.
struct Proc {
    name: &'static str,
    child: Child,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        println!("{} did not stop in time; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(
    name: &'static str,
    bin: &Path,
    args: &[&str],
    env: &BTreeMap<String, String>,
    logs: &Path,
) -> Result<Proc> {
    let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
    let child = Command::new(bin)
        .args(args)
        .envs(env)
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .spawn()
        .with_context(|| format!("starting {name} ({})", bin.display()))?;
    Ok(Proc { name, child })
}

/// Lets the kernel queue a burst of connections (`net.core.somaxconn` and
/// `net.ipv4.tcp_max_syn_backlog`), when allowed; returns what is in force.
fn raise_listen_backlogs() -> String {
    let syn = "/proc/sys/net/ipv4/tcp_max_syn_backlog";
    let syn_now: u32 = std::fs::read_to_string(syn)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if syn_now < 16384 && std::fs::write(syn, "16384").is_err() {
        println!(
            "net.ipv4.tcp_max_syn_backlog is {syn_now} and could not be raised; a burst may see SYN retries"
        );
    }
    let path = "/proc/sys/net/core/somaxconn";
    let now: u32 = std::fs::read_to_string(path)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    if now >= 8192 {
        return format!("{now}");
    }
    match std::fs::write(path, "8192") {
        Ok(()) => "8192 (raised)".into(),
        Err(e) => {
            println!(
                "net.core.somaxconn is {now} and could not be raised ({e}); bursts may see SYN retries"
            );
            format!("{now}")
        }
    }
}

pub fn run(args: &[String]) -> Result<()> {
    let mut args = args.to_vec();
    let wrangler = match args.iter().position(|a| a == "--edge-platform") {
        Some(i) => {
            let platform = args.get(i + 1).cloned().unwrap_or_default();
            args.drain(i..(i + 2).min(args.len()));
            match platform.as_str() {
                "native" => false,
                "wrangler" => true,
                other => bail!("--edge-platform {other}: use native or wrangler"),
            }
        }
        None => false,
    };
    // `--soak` alone means a million requests.
    if let Some(i) = args.iter().position(|a| a == "--soak")
        && args.get(i + 1).is_none_or(|v| v.starts_with("--"))
    {
        args.insert(i + 1, "1000000".into());
    }
    let soak = args.iter().any(|a| a == "--soak");
    util::step("load: postgres and redis");
    let services = services::ensure(Purpose::Test)?;
    let db_name = "urr_load";
    services.drop_database(db_name)?;
    services.ensure_database(db_name)?;
    let db_url = services.pg_url(db_name);

    util::step("load: release builds");
    let bin = util::release_build(&[
        ("origin", "urr-origin"),
        ("toss-fake", "toss-fake"),
        ("edge-native", "urr-edge"),
        ("urr-load", "onsale"),
    ])?;
    let out_dir = if wrangler {
        util::root().join("target/load/wrangler")
    } else {
        util::root().join("target/load")
    };
    std::fs::create_dir_all(&out_dir)?;
    let somaxconn = raise_listen_backlogs();

    let generated = keys::generate()?;
    let proxy_secret = keys::current_proxy_secret(&generated).context("proxy secret")?;
    let toss_addr = format!("127.0.0.1:{}", util::free_port()?);
    let replicas = if wrangler { 1 } else { 2 };
    let origins: Vec<String> = (0..replicas)
        .map(|_| Ok(format!("127.0.0.1:{}", util::free_port()?)))
        .collect::<Result<_>>()?;
    let edge_addr = format!("127.0.0.1:{}", util::free_port()?);
    let prefix = format!("load:{}:", std::process::id());

    let mut origin_env: BTreeMap<String, String> = [
        ("URR_DATABASE_URL", db_url.clone()),
        ("URR_DATABASE_MAX_CONNECTIONS", "24".into()),
        ("URR_REDIS_URL", services.redis_url.clone()),
        ("URR_REDIS_PREFIX", prefix.clone()),
        ("URR_EDGE_URLS", format!("http://{edge_addr}")),
        ("URR_TOSS_ALLOW_TEST", "true".into()),
        ("URR_TOSS_BASE_URL", format!("http://{toss_addr}")),
        (
            "URR_TOSS_SECRET_KEY",
            crate::stack::TOSS_DOCS_SECRET_KEY.into(),
        ),
        (
            "URR_TOSS_CLIENT_KEY",
            crate::stack::TOSS_DOCS_CLIENT_KEY.into(),
        ),
        ("URR_COOKIE_SECURE", "false".into()),
        ("URR_ARGON2_MEMORY_KIB", "1024".into()),
        ("URR_ARGON2_ITERATIONS", "1".into()),
        ("URR_HOLD_SECS", "60".into()),
        ("URR_STATS_QUEUE_COPY_MS", "1000".into()),
        ("URR_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for k in [
        "URR_ORIGIN_SIGNING_KEY",
        "URR_EDGE_PUBLIC_KEYS",
        keys::PROXY_SECRETS,
    ] {
        origin_env.insert(k.into(), generated[k].clone());
    }

    util::step("load: migrating");
    sh(Command::new(bin.join("urr-origin"))
        .arg("migrate")
        .envs(&origin_env))?;

    util::step(if wrangler {
        "load: starting the Toss fake, one origin and the Cloudflare worker (wrangler dev)"
    } else {
        "load: starting the Toss fake, two origins and the native edge"
    });
    let mut procs: Vec<Proc> = Vec::new();
    let toss_env: BTreeMap<String, String> = [
        ("URR_TOSS_FAKE_ADDR", toss_addr.clone()),
        (
            "URR_TOSS_FAKE_SECRET_KEYS",
            crate::stack::TOSS_DOCS_SECRET_KEY.into(),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    procs.push(spawn(
        "toss-fake",
        &bin.join("toss-fake"),
        &[],
        &toss_env,
        &out_dir,
    )?);
    for (i, addr) in origins.iter().enumerate() {
        let mut env = origin_env.clone();
        env.insert("URR_HTTP_ADDR".into(), addr.clone());
        env.insert(
            "URR_METRICS_ADDR".into(),
            format!("127.0.0.1:{}", util::free_port()?),
        );
        let name = if i == 0 { "origin-a" } else { "origin-b" };
        procs.push(spawn(
            name,
            &bin.join("urr-origin"),
            &["serve"],
            &env,
            &out_dir,
        )?);
    }
    let edge_env: BTreeMap<String, String> = [
        ("EDGE_ADDR", edge_addr.clone()),
        ("REDIS_URL", services.redis_url.clone()),
        ("REDIS_PREFIX", prefix.clone()),
        (
            "ORIGIN_URL",
            origins
                .iter()
                .map(|o| format!("http://{o}"))
                .collect::<Vec<_>>()
                .join(","),
        ),
        (
            "EDGE_SIGNING_KEY",
            generated["URR_EDGE_SIGNING_KEY"].clone(),
        ),
        (
            "ORIGIN_PUBLIC_KEYS",
            generated["URR_ORIGIN_PUBLIC_KEYS"].clone(),
        ),
        ("EDGE_PROXY_SECRET", proxy_secret),
        ("COOKIE_SECURE", "false".into()),
        ("EDGE_LOG", "warn".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    if wrangler {
        let state = out_dir.join("wrangler-state");
        let _ = std::fs::remove_dir_all(&state);
        let child = crate::edge::start_dev(
            &origins[0],
            &edge_addr,
            &generated,
            &state,
            Some(&out_dir.join("edge.log")),
        )?;
        procs.push(Proc {
            name: "edge",
            child,
        });
    } else {
        procs.push(spawn(
            "edge",
            &bin.join("urr-edge"),
            &[],
            &edge_env,
            &out_dir,
        )?);
    }
    for (what, addr) in [("the Toss fake", &toss_addr), ("the edge", &edge_addr)]
        .into_iter()
        .chain(origins.iter().map(|o| ("an origin", o)))
    {
        util::wait_for(what, Duration::from_secs(60), || util::reachable(addr))?;
    }
    for p in procs.iter_mut() {
        if let Some(status) = p.child.try_wait()? {
            bail!(
                "{} exited at once ({status}); see target/load/{}.log",
                p.name,
                p.name
            );
        }
    }

    let stack_config = serde_json::json!({
        "edge": if wrangler {
            "the Cloudflare worker under wrangler dev (one origin behind it)"
        } else {
            "urr-edge (native host of shared_wasm::edge), Redis state, both origins behind it"
        },
        "origin_replicas": origins.len(),
        "rate_limits": "defaults (per address: 20 logins/min, 60 edge joins/min per event; per account: 10 logins/min, 5 reservations/s, 2 tier-2 joins/s)",
        "URR_ARGON2_MEMORY_KIB": 1024, "URR_ARGON2_ITERATIONS": 1,
        "URR_HOLD_SECS": 60, "URR_STATS_QUEUE_COPY_MS": 1000,
        "URR_DATABASE_MAX_CONNECTIONS": 24,
        "net.core.somaxconn": somaxconn,
        "open_files_limit": "raised to the hard limit by each process",
    });
    let config_path = out_dir.join("stack-config.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&stack_config)?)?;
    let pids = procs
        .iter()
        .map(|p| format!("{}={}", p.name, p.child.id()))
        .collect::<Vec<_>>()
        .join(",");

    util::step(if soak {
        "load: the soak"
    } else {
        "load: the on-sale"
    });
    let result = sh(Command::new(bin.join("onsale"))
        .args(["--edge", &edge_addr])
        .args(["--origin", &format!("http://{}", origins[0])])
        .args(["--toss", &format!("http://{toss_addr}")])
        .args(["--db", &db_url])
        .args(["--origin-key", &generated["URR_ORIGIN_SIGNING_KEY"]])
        .args(["--pids", &pids])
        .arg("--stack-config")
        .arg(&config_path)
        .arg("--out")
        .arg(&out_dir)
        .args(if wrangler {
            &["--client-ip-header", "cf-connecting-ip"][..]
        } else {
            &[]
        })
        .args(&args));
    for p in procs.iter_mut() {
        if let Ok(Some(status)) = p.child.try_wait() {
            println!(
                "{} exited during the run ({status}); see target/load/{}.log",
                p.name, p.name
            );
        }
    }
    drop(procs);
    drop(services);
    result
}
