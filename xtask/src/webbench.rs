//! `cargo xtask bench web`: the web app's budgets, measured rather than asserted.
//!
//! - **Bytes.** Builds the app and reads Vite's manifest: the initial JavaScript of `/`
//!   (the entry chunk and everything it imports statically) gzipped, against the budget
//!   of [`INITIAL_JS_BUDGET_GZ`]; and for every lazily loaded chunk (each page, and the
//!   big libraries pages load on demand), what it adds when first needed.
//! - **The stadium seat map.** Starts a fresh platform and has the system Chromium
//!   open the 4,900-seat demo event's seat map (`frontend/e2e/seatmap.bench.ts`): time
//!   from navigation to every seat drawn, from a click to the seat showing as selected,
//!   and the same for a key press, next to the time Chromium takes to lay out an empty
//!   page in the same run (the baseline).
//!
//! Everything is printed and written to `target/bench/web.json`.

use crate::util;
use anyhow::{Context, Result};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::Path;

/// The initial JavaScript of `/`, gzipped, may not exceed this.
pub const INITIAL_JS_BUDGET_GZ: u64 = 150 * 1024;

fn gz_len(bytes: &[u8]) -> Result<u64> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes)?;
    Ok(enc.finish()?.len() as u64)
}

/// Files of `key`'s chunk and its static imports, transitively.
fn closure(manifest: &Value, key: &str, into: &mut BTreeSet<String>) {
    let Some(chunk) = manifest.get(key) else {
        return;
    };
    if let Some(file) = chunk["file"].as_str()
        && !into.insert(file.to_owned())
    {
        return;
    }
    for import in chunk["imports"].as_array().into_iter().flatten() {
        if let Some(k) = import.as_str() {
            closure(manifest, k, into);
        }
    }
}

fn sizes(dist: &Path, files: &BTreeSet<String>) -> Result<(u64, u64)> {
    let (mut raw, mut gz) = (0, 0);
    for f in files.iter().filter(|f| f.ends_with(".js")) {
        let bytes = std::fs::read(dist.join(f)).with_context(|| format!("reading {f}"))?;
        raw += bytes.len() as u64;
        gz += gz_len(&bytes)?;
    }
    Ok((raw, gz))
}

/// The byte report of the built app in `dist`.
pub fn bundle_report(dist: &Path) -> Result<Value> {
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(dist.join(".vite/manifest.json"))
            .context("reading dist/.vite/manifest.json (vite build with manifest: true)")?,
    )?;
    let entry = manifest
        .as_object()
        .and_then(|m| m.iter().find(|(_, c)| c["isEntry"] == true))
        .map(|(k, _)| k.clone())
        .context("no entry chunk in the manifest")?;
    let mut initial = BTreeSet::new();
    closure(&manifest, &entry, &mut initial);
    let (raw, gz) = sizes(dist, &initial)?;
    let mut lazy = BTreeMap::new();
    for (key, chunk) in manifest.as_object().into_iter().flatten() {
        if chunk["isDynamicEntry"] != true {
            continue;
        }
        let mut files = BTreeSet::new();
        closure(&manifest, key, &mut files);
        let extra: BTreeSet<String> = files.difference(&initial).cloned().collect();
        let (r, g) = sizes(dist, &extra)?;
        lazy.insert(key.clone(), json!({ "raw_bytes": r, "gzip_bytes": g }));
    }
    Ok(json!({
        "initial": { "entry": entry, "files": initial, "raw_bytes": raw, "gzip_bytes": gz,
                     "budget_gzip_bytes": INITIAL_JS_BUDGET_GZ,
                     "within_budget": gz <= INITIAL_JS_BUDGET_GZ },
        "lazy_chunks": lazy,
    }))
}

pub fn run(_args: &[String]) -> Result<()> {
    util::step("bench web: building the app");
    let dist = crate::frontend::build()?.context("there is no frontend/ to measure")?;
    let bytes = bundle_report(&dist)?;
    util::step("bench web: the stadium seat map in Chromium");
    let out = util::root().join("target/bench");
    std::fs::create_dir_all(&out)?;
    let seatmap_file = out.join("web-seatmap.json");
    let _ = std::fs::remove_file(&seatmap_file);
    crate::frontend::run_playwright(
        &[],
        &[
            ("URR_BENCH", "1".to_owned()),
            ("URR_BENCH_OUT", seatmap_file.to_string_lossy().into_owned()),
        ],
    )?;
    let seatmap: Value = serde_json::from_slice(
        &std::fs::read(&seatmap_file).context("the seat-map bench wrote no result")?,
    )?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let report = json!({ "cores": cores, "bytes": bytes, "seatmap": seatmap });
    std::fs::write(out.join("web.json"), serde_json::to_vec_pretty(&report)?)?;

    let kb = |b: &Value| b.as_u64().unwrap_or(0) as f64 / 1024.0;
    println!("\n==> web app bytes (gzip)");
    println!(
        "  initial JS of /          {:>7.1} KB   (budget {:.0} KB, raw {:.1} KB)",
        kb(&bytes["initial"]["gzip_bytes"]),
        INITIAL_JS_BUDGET_GZ as f64 / 1024.0,
        kb(&bytes["initial"]["raw_bytes"])
    );
    for (name, c) in bytes["lazy_chunks"].as_object().into_iter().flatten() {
        println!("  + {name:<40} {:>7.1} KB", kb(&c["gzip_bytes"]));
    }
    println!("\n==> stadium seat map (4,900 seats), Chromium, {cores} cores");
    for (k, v) in seatmap.as_object().into_iter().flatten() {
        println!("  {k:<34} {v}");
    }
    println!("\nwritten to target/bench/web.json");
    if bytes["initial"]["within_budget"] != true {
        anyhow::bail!("the initial JS of / is over its budget");
    }
    Ok(())
}
