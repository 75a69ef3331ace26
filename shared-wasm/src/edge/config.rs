//! The edge's configuration: keys, secrets, the origin, cookie policy.

use crate::token::{KeySet, SigningKey};
use http::CookiePolicy;

use super::*;

/// The edge's configuration (from the platform's variables and secrets).
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Signs tickets and passes.
    pub edge_key: SigningKey,
    /// Verifies tickets: the edge key plus any previous edge keys still honoured.
    pub edge_keys: KeySet,
    /// Verifies entry tokens and rules pushes.
    pub origin_keys: KeySet,
    pub cookies: CookiePolicy,
    /// Where the page sends a served visitor; `{event_id}` is replaced.
    pub pass_path: String,
    /// MACs the client address for the origin (`urr-client-ip`); `None`: not configured,
    /// no attestation is sent.
    pub proxy_secret: Option<Secret>,
    /// MACs proof-of-work challenges; derived from the edge key.
    pub pow_secret: Secret,
}

/// Secret bytes, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Shortest `EDGE_PROXY_SECRET` accepted, in bytes (the origin's lower bound; generate
/// 32).
pub const MIN_PROXY_SECRET_LEN: usize = 16;

/// Default [`EdgeConfig::pass_path`].
pub const DEFAULT_PASS_PATH: &str = "/events/{event_id}/enter";

impl EdgeConfig {
    /// Reads the configuration from variables:
    ///
    /// | variable             | required | meaning                                        |
    /// |----------------------|----------|------------------------------------------------|
    /// | `EDGE_SIGNING_KEY`   | yes      | `kid:base64url(seed)`, the edge's private key   |
    /// | `ORIGIN_PUBLIC_KEYS` | yes      | `kid:base64url(pub),...`, the origin's keys     |
    /// | `EDGE_PUBLIC_KEYS`   | no       | previous edge public keys still accepted for tickets |
    /// | `COOKIE_SECURE`      | no       | `false` drops `Secure` (plain-HTTP development); default `true` |
    /// | `PASS_PATH`          | no       | default `/events/{event_id}/enter`              |
    /// | `EDGE_PROXY_SECRET`  | no       | base64url (no padding) of ≥ 16 random bytes (32 generated), shared with the origin's `URR_EDGE_PROXY_SECRETS`; unset: no `urr-client-ip` |
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let signing = get("EDGE_SIGNING_KEY").ok_or("EDGE_SIGNING_KEY is not set")?;
        let edge_key = SigningKey::parse(&signing).map_err(|e| format!("EDGE_SIGNING_KEY: {e}"))?;
        let origin = get("ORIGIN_PUBLIC_KEYS").ok_or("ORIGIN_PUBLIC_KEYS is not set")?;
        let origin_keys = KeySet::parse(&origin).map_err(|e| format!("ORIGIN_PUBLIC_KEYS: {e}"))?;
        let mut edge_public = vec![edge_key.public_key()];
        if let Some(extra) = get("EDGE_PUBLIC_KEYS").filter(|s| !s.trim().is_empty()) {
            let extra = KeySet::parse(&extra).map_err(|e| format!("EDGE_PUBLIC_KEYS: {e}"))?;
            edge_public.extend(extra.keys().filter(|k| k.kid() != edge_key.kid()).cloned());
        }
        let edge_keys = KeySet::new(edge_public).map_err(|e| format!("edge keys: {e}"))?;
        let secure = !matches!(
            get("COOKIE_SECURE").as_deref().map(str::trim),
            Some("false" | "0" | "no")
        );
        let pass_path = get("PASS_PATH")
            .filter(|p| p.starts_with('/') && !p.starts_with("//"))
            .unwrap_or_else(|| DEFAULT_PASS_PATH.to_owned());
        let proxy_secret = match get("EDGE_PROXY_SECRET").filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(text) => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text.trim().trim_end_matches('='))
                    .ok()
                    .filter(|b| b.len() >= MIN_PROXY_SECRET_LEN)
                    .ok_or_else(|| {
                        format!(
                            "EDGE_PROXY_SECRET must be base64url of at least \
                             {MIN_PROXY_SECRET_LEN} bytes"
                        )
                    })?;
                Some(Secret(bytes))
            }
        };
        let pow_secret = Secret(edge_key.derive_secret(pow::SECRET_CONTEXT).to_vec());
        Ok(EdgeConfig {
            edge_key,
            edge_keys,
            origin_keys,
            cookies: CookiePolicy { secure },
            pass_path,
            proxy_secret,
            pow_secret,
        })
    }
}
