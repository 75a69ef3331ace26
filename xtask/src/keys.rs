//! Signing keys for local runs: the origin's (access and entry tokens) and the edge's
//! (queue tickets and passes). Each side gets its own private key and only the other
//! side's public key (see `shared_wasm::token`). Plus the one secret both share: the
//! edge MACs the client address it forwards with it (`urr-client-ip`, see
//! `shared_wasm::client_ip`), the origin verifies (`URR_EDGE_PROXY_SECRETS`, whose first
//! entry the edge gets as `EDGE_PROXY_SECRET`).

use crate::util;
use anyhow::{Context, Result};
use rand::RngCore;
use shared_wasm::token::{SigningKey, format_key_spec};
use std::collections::BTreeMap;

/// `URR_*` variable → value.
pub type KeyVars = BTreeMap<String, String>;

fn fresh(kid: &str) -> Result<(String, String)> {
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    let private = format_key_spec(kid, &seed);
    let public = SigningKey::parse(&private)
        .context("freshly generated key")?
        .public_key()
        .to_string();
    Ok((private, public))
}

/// `URR_EDGE_PROXY_SECRETS`: the shared client-IP secret (base64url of 32 bytes).
pub const PROXY_SECRETS: &str = "URR_EDGE_PROXY_SECRETS";

/// A fresh proxy secret: base64url (no padding) of 32 random bytes.
pub fn fresh_proxy_secret() -> String {
    use base64::Engine;
    let mut secret = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut secret);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
}

/// The secret the edge uses: the first (current) of `URR_EDGE_PROXY_SECRETS`.
pub fn current_proxy_secret(keys: &KeyVars) -> Option<String> {
    keys.get(PROXY_SECRETS)?
        .split(',')
        .map(str::trim)
        .find(|s| !s.is_empty())
        .map(str::to_owned)
}

pub fn generate() -> Result<KeyVars> {
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (origin_private, origin_public) = fresh(&format!("origin-{stamp}"))?;
    let (edge_private, edge_public) = fresh(&format!("edge-{stamp}"))?;
    Ok([
        ("URR_ORIGIN_SIGNING_KEY", origin_private),
        ("URR_ORIGIN_PUBLIC_KEYS", origin_public),
        ("URR_EDGE_SIGNING_KEY", edge_private),
        ("URR_EDGE_PUBLIC_KEYS", edge_public),
        (PROXY_SECRETS, fresh_proxy_secret()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect())
}

/// Keys for `cargo xtask dev`, kept in `target/dev/keys.env` so that sessions and
/// tickets survive a restart of the platform.
pub fn dev_keys() -> Result<KeyVars> {
    let path = util::root().join("target/dev/keys.env");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let mut vars: KeyVars = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let signing = [
            "URR_ORIGIN_SIGNING_KEY",
            "URR_ORIGIN_PUBLIC_KEYS",
            "URR_EDGE_SIGNING_KEY",
            "URR_EDGE_PUBLIC_KEYS",
        ];
        if signing.iter().all(|k| vars.contains_key(*k)) {
            // Keys written before the proxy secret existed keep their sessions.
            if current_proxy_secret(&vars).is_none() {
                vars.insert(PROXY_SECRETS.to_owned(), fresh_proxy_secret());
                write(&path, &vars)?;
            }
            return Ok(vars);
        }
    }
    let vars = generate()?;
    write(&path, &vars)?;
    Ok(vars)
}

fn write(path: &std::path::Path, vars: &KeyVars) -> Result<()> {
    std::fs::create_dir_all(path.parent().context("keys path has a parent")?)?;
    let text: String = vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

pub fn run() -> Result<()> {
    println!(
        "# Fresh URR signing keys. The origin needs URR_ORIGIN_SIGNING_KEY and URR_EDGE_PUBLIC_KEYS;"
    );
    println!("# the edge workers need URR_EDGE_SIGNING_KEY and URR_ORIGIN_PUBLIC_KEYS.");
    println!(
        "# URR_EDGE_PROXY_SECRETS goes to the origin; its first entry to the edge as \
         EDGE_PROXY_SECRET (Spin: edge_proxy_secret)."
    );
    for (k, v) in generate()? {
        println!("{k}={v}");
    }
    Ok(())
}
