//! Password hashing with Argon2id.
//!
//! Argon2id is memory-hard on purpose: one hash costs tens of milliseconds of CPU and
//! ~19 MiB of memory with the default (OWASP) parameters. That is the point (it makes
//! offline guessing expensive), and it is also why every hash and verify here runs in
//! [`tokio::task::spawn_blocking`]: done on a runtime worker thread it would stall every
//! other request scheduled on that thread.
//!
//! Hashes are stored as PHC strings (`$argon2id$v=19$m=…,t=…,p=1$salt$hash`), which carry
//! their own parameters, so raising the cost later does not break existing accounts:
//! verification reads the parameters from the string, and [`needs_rehash`] tells the
//! login path to upgrade a hash made with older parameters.

use super::AuthConfig;
use crate::http::Code;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Argon2id cost parameters (`URR_ARGON2_MEMORY_KIB`, `URR_ARGON2_ITERATIONS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordParams {
    /// Memory per hash, in KiB (OWASP: 19,456 = 19 MiB).
    pub memory_kib: u32,
    /// Passes over the memory (OWASP: 2).
    pub iterations: u32,
}

impl PasswordParams {
    pub fn from_config(config: &AuthConfig) -> Self {
        PasswordParams {
            memory_kib: config.argon2_memory_kib,
            iterations: config.argon2_iterations,
        }
    }

    fn hasher(&self) -> Result<Argon2<'static>, PasswordError> {
        // One lane: the origin parallelises across requests, not inside one hash.
        let params = Params::new(self.memory_kib, self.iterations, 1, None)
            .map_err(|e| PasswordError(format!("invalid Argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
    }
}

/// Hashing failed: bad parameters, or the blocking task died. Never caused by the
/// password itself.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct PasswordError(String);

/// Hashes `password` with a fresh random salt, on the calling thread. Use
/// [`hash_password`] from async code.
pub fn hash_password_blocking(
    params: PasswordParams,
    password: &str,
) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    params
        .hasher()?
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError(e.to_string()))
}

/// Hashes `password` on the blocking pool; returns the PHC string to store.
pub async fn hash_password(
    params: PasswordParams,
    password: String,
) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || hash_password_blocking(params, &password))
        .await
        .map_err(|e| PasswordError(format!("hashing task failed: {e}")))?
}

/// Whether `password` matches the PHC string `hash`, checked on the blocking pool. A
/// hash that does not parse counts as "no match" (and is logged): the caller answers
/// the same way it would for a wrong password.
pub async fn verify_password(hash: String, password: String) -> bool {
    tokio::task::spawn_blocking(move || verify_password_blocking(&hash, &password))
        .await
        .unwrap_or(false)
}

fn verify_password_blocking(hash: &str, password: &str) -> bool {
    match PasswordHash::new(hash) {
        // `Argon2::default()` is fine here: verification takes the algorithm, version
        // and cost from the PHC string itself.
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(e) => {
            tracing::error!(error = %e, "stored password hash does not parse");
            false
        }
    }
}

/// Whether `hash` was made with other parameters than `params` (or another algorithm),
/// so the login path should store a fresh hash while it has the plain password.
pub fn needs_rehash(hash: &str, params: PasswordParams) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return true;
    };
    if parsed.algorithm != argon2::ARGON2ID_IDENT {
        return true;
    }
    match Params::try_from(&parsed) {
        Ok(p) => p.m_cost() != params.memory_kib || p.t_cost() != params.iterations,
        Err(_) => true,
    }
}

/// A valid hash of a password nobody knows, made with `params`. Logins for unknown
/// emails verify against it so they take as long as logins with a wrong password and the
/// response time does not reveal which emails have accounts.
pub(crate) fn dummy_hash(params: PasswordParams) -> Result<String, PasswordError> {
    hash_password_blocking(params, "urr-dummy-password-never-matches")
}

/// Bounds the password hashing in flight.
///
/// Each Argon2 hash takes ~19 MiB and tens of milliseconds of a core; a login flood
/// that hashed everything at once would exhaust memory and starve the rest of the
/// origin. So at most `URR_PASSWORD_HASH_CONCURRENCY` (default one per core) hashes run
/// at once; a request waits up to `URR_PASSWORD_HASH_QUEUE_MS` for a slot, then gets
/// 503 `BUSY` with `Retry-After` and nothing was done.
pub struct HashingGate {
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
}

impl HashingGate {
    /// `concurrency` 0 means one slot per available core.
    pub fn new(concurrency: usize, wait: std::time::Duration) -> Self {
        let n = if concurrency == 0 {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        } else {
            concurrency
        };
        HashingGate {
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(n)),
            wait,
        }
    }

    /// A slot for one request's hashing; hold it until the hashing is done.
    pub async fn enter(&self) -> Result<tokio::sync::OwnedSemaphorePermit, crate::http::ApiError> {
        let busy = || {
            metrics::counter!("auth_password_hash_busy_total").increment(1);
            crate::http::ApiError::new(
                Code::BUSY,
                "too many sign-ins are being checked right now; try again in a moment",
            )
            .with_retry_after(1)
        };
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(busy()),
        }
    }

    /// The semaphore itself (tests fill it to see the gate close).
    pub fn slots(&self) -> &std::sync::Arc<tokio::sync::Semaphore> {
        &self.slots
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: PasswordParams = PasswordParams {
        memory_kib: 1024,
        iterations: 1,
    };

    #[tokio::test]
    async fn hashes_verify_and_salts_differ() {
        let a = hash_password(TINY, "correct horse".into())
            .await
            .expect("hash");
        let b = hash_password(TINY, "correct horse".into())
            .await
            .expect("hash");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(a.starts_with("$argon2id$v=19$m=1024,t=1,p=1$"), "{a}");
        assert!(verify_password(a.clone(), "correct horse".into()).await);
        assert!(!verify_password(a, "correct horsf".into()).await);
        assert!(!verify_password("not a phc string".into(), "x".into()).await);
    }

    #[test]
    fn rehash_is_needed_when_parameters_change() {
        let h = hash_password_blocking(TINY, "pw").expect("hash");
        assert!(!needs_rehash(&h, TINY));
        assert!(needs_rehash(
            &h,
            PasswordParams {
                memory_kib: 2048,
                iterations: 1
            }
        ));
        assert!(needs_rehash("garbage", TINY));
    }

    #[test]
    fn bad_parameters_are_an_error_not_a_panic() {
        let bad = PasswordParams {
            memory_kib: 1,
            iterations: 0,
        };
        assert!(hash_password_blocking(bad, "pw").is_err());
    }
}
