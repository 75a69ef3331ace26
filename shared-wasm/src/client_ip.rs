//! The edge's word for who the client is: a MACed client-IP header.
//!
//! Behind the edge every fan reaches the origin from the edge's own address, so the
//! origin's per-IP limits (bad logins, registrations) would become one budget shared
//! by every fan. Trusting `X-Forwarded-For` instead lets anyone who can reach the
//! origin directly claim any address. So the edge **attests** the address it saw: on
//! every request it forwards, it sets [`HEADER`] to
//!
//! ```text
//! v1|<unix seconds>|<client ip>|<base64url HMAC-SHA256(secret, "v1|<unix seconds>|<client ip>")>
//! ```
//!
//! with a secret shared by the edges and the origin (never the Ed25519 signing keys:
//! this runs on every proxied request, and a MAC is a few hundred nanoseconds). The
//! origin takes the client IP from this header only when the MAC verifies with one of
//! its secrets and the timestamp is within [`MAX_SKEW_SECS`] of its clock; otherwise it
//! uses the TCP peer and ignores every forwarded header. A replayed header is worth
//! nothing beyond its minute: it can only claim the address the edge saw.
//!
//! ```
//! use shared_wasm::client_ip::{attest, verify, Attestation};
//! let secret = [7u8; 32];
//! let header = attest(&secret, "203.0.113.9", 1_700_000_000);
//! assert_eq!(verify(&[&secret[..]], &header, 1_700_000_030), Ok("203.0.113.9".into()));
//! assert_eq!(verify(&[&[8u8; 32][..]], &header, 1_700_000_030), Err(Attestation::BadMac));
//! assert_eq!(verify(&[&secret[..]], &header, 1_700_000_100), Err(Attestation::Stale));
//! ```

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header the edge sets on every request it forwards (lowercase).
pub const HEADER: &str = "urr-client-ip";
/// How far the attestation's timestamp may be from the verifier's clock.
pub const MAX_SKEW_SECS: i64 = 60;
/// Longest IP text accepted (an IPv6 address with a zone fits).
const MAX_IP_LEN: usize = 64;
const VERSION: &str = "v1";

type HmacSha256 = Hmac<Sha256>;

/// Why an attestation was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Attestation {
    #[error("malformed client-ip attestation")]
    Malformed,
    #[error("client-ip attestation does not verify")]
    BadMac,
    #[error("client-ip attestation is too old or from the future")]
    Stale,
}

/// The header value attesting that the edge saw `ip` at `now_secs`.
pub fn attest(secret: &[u8], ip: &str, now_secs: i64) -> String {
    let signed = format!("{VERSION}|{now_secs}|{ip}");
    let mac = URL_SAFE_NO_PAD.encode(mac(secret, signed.as_bytes()).finalize().into_bytes());
    format!("{signed}|{mac}")
}

/// The client IP of a header made by [`attest`] with any of `secrets`, if it is fresh.
pub fn verify(secrets: &[&[u8]], header: &str, now_secs: i64) -> Result<String, Attestation> {
    let (signed, mac_b64) = header.rsplit_once('|').ok_or(Attestation::Malformed)?;
    let mut parts = signed.splitn(3, '|');
    let (Some(VERSION), Some(ts), Some(ip)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Attestation::Malformed);
    };
    let ts: i64 = ts.parse().map_err(|_| Attestation::Malformed)?;
    if ip.is_empty() || ip.len() > MAX_IP_LEN || ip.contains(|c: char| c.is_whitespace()) {
        return Err(Attestation::Malformed);
    }
    let tag = URL_SAFE_NO_PAD
        .decode(mac_b64)
        .map_err(|_| Attestation::Malformed)?;
    let verified = secrets
        .iter()
        .any(|secret| mac(secret, signed.as_bytes()).verify_slice(&tag).is_ok());
    if !verified {
        return Err(Attestation::BadMac);
    }
    if (now_secs - ts).abs() > MAX_SKEW_SECS {
        return Err(Attestation::Stale);
    }
    Ok(ip.to_owned())
}

fn mac(secret: &[u8], message: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut m = <HmacSha256 as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    m.update(message);
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn ipv6_round_trips() {
        let h = attest(SECRET, "2001:db8::1", 100);
        assert_eq!(verify(&[SECRET], &h, 100), Ok("2001:db8::1".to_owned()));
    }

    #[test]
    fn a_rotated_secret_still_verifies() {
        let h = attest(b"old", "198.51.100.1", 100);
        assert!(verify(&[SECRET, b"old"], &h, 100).is_ok());
    }

    #[test]
    fn tampering_with_any_field_fails() {
        let h = attest(SECRET, "198.51.100.1", 100);
        for forged in [
            h.replace("198.51.100.1", "198.51.100.2"),
            h.replace("|100|", "|101|"),
            h.replacen("v1", "v2", 1),
            format!("{h}x"),
            String::new(),
            "v1|100|1.2.3.4".to_owned(),
            "v1|x|1.2.3.4|AAAA".to_owned(),
        ] {
            assert!(verify(&[SECRET], &forged, 100).is_err(), "{forged}");
        }
    }

    #[test]
    fn skew_is_bounded_both_ways() {
        let h = attest(SECRET, "198.51.100.1", 1_000);
        assert!(verify(&[SECRET], &h, 1_000 + MAX_SKEW_SECS).is_ok());
        assert_eq!(
            verify(&[SECRET], &h, 1_000 - MAX_SKEW_SECS - 1),
            Err(Attestation::Stale)
        );
        assert_eq!(
            verify(&[SECRET], &h, 1_000 + MAX_SKEW_SECS + 1),
            Err(Attestation::Stale)
        );
    }
}
