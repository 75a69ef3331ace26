//! The token bench's loops in a wasm module with no imports of its own: the same key,
//! claims and token as `tests/load/src/bin/token-bench.rs`, built with the edge's
//! `wasm-release` profile (Ed25519, curve and SHA-2 crates at `opt-level = 3`).
//! `run.mjs` instantiates it in Node.js (V8, as in Cloudflare's workerd) and times
//! [`sign_n`] and [`verify_n`]; `cargo xtask bench tokens` runs both benches.
//!
//! Each function returns a checksum of its work, so the loops cannot be optimised away,
//! and `0` on failure, which the runner treats as an error.

use shared_wasm::token::{self, AccessClaims, KeySet, Role, SigningKey};
use std::sync::OnceLock;
use uuid::Uuid;

struct Fixture {
    key: SigningKey,
    keys: KeySet,
    claims: AccessClaims,
    token: String,
}

/// The bench's inputs, exactly as the native bench builds them.
fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Option<Fixture>> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let key = SigningKey::from_seed("bench", [7u8; 32]).ok()?;
            let keys = KeySet::new([key.public_key()]).ok()?;
            let claims = AccessClaims {
                sub: Uuid::from_u128(42),
                role: Role::Fan,
                jti: "0123456789abcdef".into(),
                sid: Some(Uuid::from_u128(7)),
                iat: 1_000,
                exp: 1_000 + 1800,
            };
            let token = token::sign(&key, &claims);
            Some(Fixture {
                key,
                keys,
                claims,
                token,
            })
        })
        .as_ref()
}

/// Signs the claims `n` times; returns the total token length (0: set-up failed).
#[unsafe(no_mangle)]
pub extern "C" fn sign_n(n: u32) -> u32 {
    let Some(f) = fixture() else { return 0 };
    let mut total = 0u32;
    for _ in 0..n {
        total = total.wrapping_add(token::sign(&f.key, &f.claims).len() as u32);
    }
    total
}

/// Verifies the token `n` times; returns how many verified (0: failure).
#[unsafe(no_mangle)]
pub extern "C" fn verify_n(n: u32) -> u32 {
    let Some(f) = fixture() else { return 0 };
    let mut ok = 0u32;
    for _ in 0..n {
        if token::verify::<AccessClaims>(&f.keys, &f.token, 1_500).is_ok() {
            ok += 1;
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loops_do_their_work() {
        assert_eq!(verify_n(3), 3);
        let one = sign_n(1);
        assert!(one > 100, "a token is longer than 100 bytes: {one}");
        assert_eq!(sign_n(4), one.wrapping_mul(4));
    }
}
