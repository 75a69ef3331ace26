//! The component's configuration, from Spin variables.
//!
//! Spin variables (not environment variables) because secrets must not sit in
//! `spin.toml`: the manifest declares application variables, the signing key as
//! `secret = true`, and the component maps them to its own variables; the values come
//! from the deployment (`spin up --variable`, `SPIN_VARIABLE_*`, a Vault/Azure provider,
//! or `spin cloud deploy --variable`). See the README.
//!
//! | Spin variable        | edge name            | required | default |
//! |----------------------|----------------------|----------|---------|
//! | `edge_signing_key`   | `EDGE_SIGNING_KEY`   | yes      |         |
//! | `origin_public_keys` | `ORIGIN_PUBLIC_KEYS` | yes      |         |
//! | `origin_url`         | `ORIGIN_URL`         | to proxy | (502 `ORIGIN_NOT_CONFIGURED`) |
//! | `redis_url`          | –                    | no       | `redis://127.0.0.1:6379` |
//! | `edge_public_keys`   | `EDGE_PUBLIC_KEYS`   | no       | none    |
//! | `cookie_secure`      | `COOKIE_SECURE`      | no       | `true`  |
//! | `pass_path`          | `PASS_PATH`          | no       | `/events/{event_id}/enter` |
//! | `edge_proxy_secret`  | `EDGE_PROXY_SECRET`  | no       | none (no `urr-client-ip` to the origin) |
//!
//! An empty value counts as unset, so optional variables can default to `""` in the
//! manifest. The build without `spin-services` (no `spin:variables` import, for
//! `wasmtime serve`) reads the upper-case names from WASI environment variables instead.

use shared_wasm::edge::{Edge, EdgeConfig};
use std::collections::HashMap;

/// Spin variable names (lower case, as Spin requires) and the edge's names for them.
const NAMES: [(&str, &str); 8] = [
    ("edge_signing_key", "EDGE_SIGNING_KEY"),
    ("origin_public_keys", "ORIGIN_PUBLIC_KEYS"),
    ("edge_public_keys", "EDGE_PUBLIC_KEYS"),
    ("cookie_secure", "COOKIE_SECURE"),
    ("pass_path", "PASS_PATH"),
    ("origin_url", "ORIGIN_URL"),
    ("redis_url", "REDIS_URL"),
    ("edge_proxy_secret", "EDGE_PROXY_SECRET"),
];

/// Where Redis is when `redis_url` is not set (what `spin.toml` allows by default).
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The variables that are set, by edge name.
pub struct Vars(HashMap<&'static str, String>);

impl Vars {
    /// Reads every variable the edge knows.
    pub async fn load() -> Self {
        let mut set = HashMap::new();
        for (spin_name, edge_name) in NAMES {
            if let Some(v) = read(spin_name, edge_name).await.filter(|v| !v.is_empty()) {
                set.insert(edge_name, v);
            }
        }
        Vars(set)
    }

    fn get(&self, edge_name: &str) -> Option<String> {
        self.0.get(edge_name).cloned()
    }

    /// The configured edge, or what is wrong with the configuration.
    pub fn edge(&self) -> Result<Edge, String> {
        EdgeConfig::from_vars(|name| self.get(name)).map(Edge::new)
    }

    pub fn origin_url(&self) -> Option<String> {
        self.get("ORIGIN_URL")
    }

    pub fn redis_url(&self) -> String {
        self.get("REDIS_URL")
            .unwrap_or_else(|| DEFAULT_REDIS_URL.to_owned())
    }
}

#[cfg(feature = "spin-services")]
async fn read(spin_name: &str, _edge_name: &str) -> Option<String> {
    use spin_sdk::variables::{self, Error};
    match variables::get(spin_name).await {
        Ok(v) => Some(v),
        Err(Error::Undefined(_)) => None,
        Err(e) => {
            eprintln!("variable {spin_name}: {e}");
            None
        }
    }
}

#[cfg(not(feature = "spin-services"))]
async fn read(_spin_name: &str, edge_name: &str) -> Option<String> {
    std::env::var(edge_name).ok()
}
