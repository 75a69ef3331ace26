//! The optional proof-of-work challenge in front of a join (rules `challenge: pow`).
//!
//! A bot that joins a thousand times pays a thousand puzzles; a fan pays one, in the
//! background of the page, for well under a second at the default difficulty.
//!
//! # Challenge
//!
//! The edge stays stateless: a challenge is a string it MACs with a secret only it
//! knows (derived from its signing key, see [`crate::token::SigningKey::derive_secret`]):
//!
//! ```text
//! v1.<event id, 32 hex>.<expiry, unix s>.<difficulty>.<nonce, 16 hex>.<base64url HMAC-SHA256, first 16 bytes>
//! ```
//!
//! It binds the event and a short expiry ([`CHALLENGE_TTL_SECS`]), so it cannot be
//! collected in advance or spent on another event. It is handed out with the room's
//! page and by `GET /vwr/{event}/challenge`.
//!
//! # Solution
//!
//! A decimal `counter` (a u64) such that `SHA-256(challenge bytes ‖ counter as 8 bytes
//! big-endian)` starts with `difficulty` zero bits. The join sends both, in
//! `X-Pow-Challenge` and `X-Pow-Solution`. The edge checks the MAC, the event, the
//! expiry and then hashes **once**; a valid solution is then claimed once per nonce in
//! the event's storage until the challenge expires ([`super::Host::claim_once`]), so
//! it cannot be replayed for a second place.
//!
//! The difficulty the rules ask for when the join arrives is what counts: a challenge
//! issued under a lower difficulty is refused as outdated (the page fetches a new one).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Request header carrying the challenge of a join.
pub const CHALLENGE_HEADER: &str = "x-pow-challenge";
/// Request header carrying the solution (decimal counter) of a join.
pub const SOLUTION_HEADER: &str = "x-pow-solution";
/// How long a challenge may be solved and spent.
pub const CHALLENGE_TTL_SECS: i64 = 120;
/// Context of the MAC secret derived from the edge's signing key.
pub const SECRET_CONTEXT: &str = "urr/edge/pow/v1";
/// The algorithm name clients see.
pub const ALGORITHM: &str = "sha256-leading-zero-bits";
/// Bytes of the MAC kept in the challenge.
const MAC_LEN: usize = 16;
/// Longest challenge accepted for parsing.
const MAX_CHALLENGE_LEN: usize = 160;

type HmacSha256 = Hmac<Sha256>;

/// A fresh challenge, as the page and `GET /vwr/{event}/challenge` hand it out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Issued {
    pub challenge: String,
    /// Leading zero bits the solution needs.
    pub difficulty: u8,
    /// Unix seconds.
    pub expires_at: i64,
    pub algorithm: &'static str,
}

/// Why a solution was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PowError {
    #[error("the challenge is malformed or was not issued by this edge")]
    Forged,
    #[error("the challenge is for another event")]
    WrongEvent,
    #[error("the challenge has expired; fetch a new one")]
    Expired,
    #[error("the challenge asks for fewer bits than the room now requires; fetch a new one")]
    Outdated,
    #[error("the solution is not a number")]
    Malformed,
    #[error("the solution does not have enough leading zero bits")]
    Insufficient,
}

/// A challenge whose solution verified: what the caller claims once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The challenge's nonce (16 hex digits).
    pub nonce: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Issues a challenge for `event` at `now_s`.
pub fn issue(secret: &[u8], event: Uuid, difficulty: u8, now_s: i64, random: [u8; 16]) -> Issued {
    let expires_at = now_s.saturating_add(CHALLENGE_TTL_SECS);
    let nonce: String = random[..8].iter().map(|b| format!("{b:02x}")).collect();
    let body = format!("v1.{}.{expires_at}.{difficulty}.{nonce}", event.simple());
    let mac = URL_SAFE_NO_PAD.encode(&mac(secret, body.as_bytes())[..MAC_LEN]);
    Issued {
        challenge: format!("{body}.{mac}"),
        difficulty,
        expires_at,
        algorithm: ALGORITHM,
    }
}

/// Checks `solution` for `challenge` on `event` at `now_s`, with at least `required`
/// bits: the MAC, the event, the expiry, then one hash.
pub fn verify(
    secret: &[u8],
    challenge: &str,
    solution: &str,
    event: Uuid,
    required: u8,
    now_s: i64,
) -> Result<Verified, PowError> {
    if challenge.len() > MAX_CHALLENGE_LEN {
        return Err(PowError::Forged);
    }
    let (body, tag) = challenge.rsplit_once('.').ok_or(PowError::Forged)?;
    let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| PowError::Forged)?;
    if tag.len() != MAC_LEN {
        return Err(PowError::Forged);
    }
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    m.update(body.as_bytes());
    m.verify_truncated_left(&tag)
        .map_err(|_| PowError::Forged)?;
    // The MAC verified: the fields are ours.
    let mut parts = body.split('.');
    let (Some("v1"), Some(evt), Some(exp), Some(bits), Some(nonce), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return Err(PowError::Forged);
    };
    let exp: i64 = exp.parse().map_err(|_| PowError::Forged)?;
    let bits: u8 = bits.parse().map_err(|_| PowError::Forged)?;
    if Uuid::parse_str(evt).ok() != Some(event) {
        return Err(PowError::WrongEvent);
    }
    if now_s > exp {
        return Err(PowError::Expired);
    }
    if bits < required {
        return Err(PowError::Outdated);
    }
    let counter: u64 = solution.trim().parse().map_err(|_| PowError::Malformed)?;
    if leading_zero_bits(challenge, counter) < u32::from(bits) {
        return Err(PowError::Insufficient);
    }
    Ok(Verified {
        nonce: nonce.to_owned(),
        expires_at: exp,
    })
}

/// Leading zero bits of `SHA-256(challenge ‖ counter as u64 big-endian)`.
pub fn leading_zero_bits(challenge: &str, counter: u64) -> u32 {
    let mut h = Sha256::new();
    h.update(challenge.as_bytes());
    h.update(counter.to_be_bytes());
    let digest = h.finalize();
    let mut zeros = 0;
    for b in digest {
        zeros += b.leading_zeros();
        if b != 0 {
            break;
        }
    }
    zeros
}

/// Finds a solution by brute force (tests and API clients written in Rust).
pub fn solve(challenge: &str, difficulty: u8) -> u64 {
    (0..u64::MAX)
        .find(|c| leading_zero_bits(challenge, *c) >= u32::from(difficulty))
        .unwrap_or(u64::MAX)
}

fn mac(secret: &[u8], message: &[u8]) -> [u8; 32] {
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    m.update(message);
    m.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: [u8; 32] = [9; 32];
    const NOW: i64 = 1_800_000_000;

    fn event() -> Uuid {
        Uuid::from_u128(0xabc)
    }

    #[test]
    fn a_solved_challenge_verifies_once_per_field() {
        let issued = issue(&SECRET, event(), 8, NOW, [1; 16]);
        assert_eq!(issued.expires_at, NOW + CHALLENGE_TTL_SECS);
        let c = &issued.challenge;
        assert!(c.len() < MAX_CHALLENGE_LEN, "{c}");
        let n = solve(c, 8);
        let ok = verify(&SECRET, c, &n.to_string(), event(), 8, NOW + 10).expect("verifies");
        assert_eq!(ok.nonce, "0101010101010101");
        assert_eq!(ok.expires_at, NOW + CHALLENGE_TTL_SECS);
        // Each way of being wrong has its own answer.
        let v = |c: &str, s: &str, e: Uuid, req: u8, now: i64| verify(&SECRET, c, s, e, req, now);
        assert_eq!(
            v(c, &n.to_string(), Uuid::from_u128(1), 8, NOW),
            Err(PowError::WrongEvent)
        );
        assert_eq!(
            v(c, &n.to_string(), event(), 8, NOW + CHALLENGE_TTL_SECS + 1),
            Err(PowError::Expired)
        );
        assert_eq!(
            v(c, &n.to_string(), event(), 9, NOW),
            Err(PowError::Outdated)
        );
        assert_eq!(v(c, "x", event(), 8, NOW), Err(PowError::Malformed));
        let wrong = (0..)
            .find(|k| leading_zero_bits(c, *k) < 8)
            .expect("some counter fails");
        assert_eq!(
            v(c, &wrong.to_string(), event(), 8, NOW),
            Err(PowError::Insufficient)
        );
        // Tampering with any field (a lower difficulty, a later expiry) breaks the MAC.
        let easier = c.replacen(".8.", ".0.", 1);
        assert_eq!(v(&easier, "0", event(), 0, NOW), Err(PowError::Forged));
        let later = c.replacen(&(NOW + CHALLENGE_TTL_SECS).to_string(), "9999999999", 1);
        assert_eq!(v(&later, "0", event(), 0, NOW), Err(PowError::Forged));
        let other_secret = issue(&[8; 32], event(), 0, NOW, [1; 16]);
        assert_eq!(
            v(&other_secret.challenge, "0", event(), 0, NOW),
            Err(PowError::Forged)
        );
        for garbage in ["", ".", "v1.a.b.c.d.e", &"x".repeat(500)] {
            assert_eq!(v(garbage, "0", event(), 0, NOW), Err(PowError::Forged));
        }
    }

    #[test]
    fn zero_bits_are_free_and_bits_are_counted_across_bytes() {
        let issued = issue(&SECRET, event(), 0, NOW, [2; 16]);
        assert!(verify(&SECRET, &issued.challenge, "12345", event(), 0, NOW).is_ok());
        let c = "v1.test";
        let n = solve(c, 12);
        assert!(leading_zero_bits(c, n) >= 12);
    }
}
