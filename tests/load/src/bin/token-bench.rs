//! `cargo xtask bench tokens`: how fast tokens are signed and verified, next to two
//! baselines measured in the same run on the same key and claims:
//!
//! - the raw Ed25519 signature over the same bytes (`ed25519-dalek`): the ceiling, since
//!   a token costs one signature plus JSON and base64;
//! - the same token through `jsonwebtoken` (which rebuilds the signing key from PKCS#8
//!   on every call and parses the header several times): what we used to do.
//!
//! Prints a table and writes `target/bench/tokens.json` (`cores` included).

use ed25519_dalek::pkcs8::EncodePrivateKey;
use ed25519_dalek::{Signer, Verifier};
use serde::Serialize;
use shared_wasm::token::{self, AccessClaims, KeySet, Role, SigningKey};
use std::hint::black_box;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Calls `f` repeatedly for about `window`; returns calls per second.
fn rate(window: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up caches and branch predictors first.
    for _ in 0..200 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < window {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

#[derive(Serialize)]
struct Report {
    cores: usize,
    sign_per_sec: f64,
    verify_per_sec: f64,
    raw_sign_per_sec: f64,
    raw_verify_per_sec: f64,
    jsonwebtoken_sign_per_sec: f64,
    jsonwebtoken_verify_per_sec: f64,
    sign_vs_raw: f64,
    verify_vs_raw: f64,
    sign_vs_jsonwebtoken: f64,
    verify_vs_jsonwebtoken: f64,
}

fn main() -> anyhow::Result<()> {
    let window = Duration::from_millis(
        std::env::args()
            .skip_while(|a| a != "--millis")
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(1500),
    );
    let seed = [7u8; 32];
    let key = SigningKey::from_seed("bench", seed)?;
    let keys = KeySet::new([key.public_key()])?;
    let claims = AccessClaims {
        sub: Uuid::from_u128(42),
        role: Role::Fan,
        jti: "0123456789abcdef".into(),
        sid: Some(Uuid::from_u128(7)),
        iat: 1_000,
        exp: 1_000 + 1800,
    };
    let now = 1_500;
    let sample = token::sign(&key, &claims);
    token::verify::<AccessClaims>(&keys, &sample, now)?;

    let sign_per_sec = rate(window, || {
        black_box(token::sign(&key, black_box(&claims)));
    });
    let verify_per_sec = rate(window, || {
        black_box(token::verify::<AccessClaims>(&keys, black_box(&sample), now).ok());
    });

    let raw = ed25519_dalek::SigningKey::from_bytes(&seed);
    let public = raw.verifying_key();
    let (input, _) = sample.rsplit_once('.').unwrap_or((&sample, ""));
    let signature = raw.sign(input.as_bytes());
    let raw_sign_per_sec = rate(window, || {
        black_box(raw.sign(black_box(input.as_bytes())));
    });
    let raw_verify_per_sec = rate(window, || {
        black_box(
            public
                .verify(black_box(input.as_bytes()), &signature)
                .is_ok(),
        );
    });

    let der = raw.to_pkcs8_der()?;
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("bench".into());
    let mut body = serde_json::to_value(&claims)?;
    body["typ"] = "access".into();
    let jwt_sign_per_sec = rate(window, || {
        let k = jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes());
        black_box(jsonwebtoken::encode(&header, &body, &k).ok());
    });
    let decoding = jsonwebtoken::DecodingKey::from_ed_der(public.as_bytes());
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.required_spec_claims.clear();
    let jwt_verify_per_sec = rate(window, || {
        let h = jsonwebtoken::decode_header(&sample).ok();
        let v = jsonwebtoken::decode::<serde_json::Value>(&sample, &decoding, &validation).ok();
        black_box((
            h,
            v.map(|d| serde_json::from_value::<AccessClaims>(d.claims).ok()),
        ));
    });

    let report = Report {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        sign_per_sec,
        verify_per_sec,
        raw_sign_per_sec,
        raw_verify_per_sec,
        jsonwebtoken_sign_per_sec: jwt_sign_per_sec,
        jsonwebtoken_verify_per_sec: jwt_verify_per_sec,
        sign_vs_raw: sign_per_sec / raw_sign_per_sec,
        verify_vs_raw: verify_per_sec / raw_verify_per_sec,
        sign_vs_jsonwebtoken: sign_per_sec / jwt_sign_per_sec,
        verify_vs_jsonwebtoken: verify_per_sec / jwt_verify_per_sec,
    };
    println!("tokens, one core ({} cores on this machine)", report.cores);
    println!(
        "{:<12} {:>12} {:>12} {:>14} {:>10} {:>12}",
        "", "ours/s", "raw Ed25519/s", "jsonwebtoken/s", "vs raw", "vs jwt"
    );
    println!(
        "{:<12} {:>12.0} {:>12.0} {:>14.0} {:>10.2} {:>12.2}",
        "sign",
        report.sign_per_sec,
        report.raw_sign_per_sec,
        report.jsonwebtoken_sign_per_sec,
        report.sign_vs_raw,
        report.sign_vs_jsonwebtoken
    );
    println!(
        "{:<12} {:>12.0} {:>12.0} {:>14.0} {:>10.2} {:>12.2}",
        "verify",
        report.verify_per_sec,
        report.raw_verify_per_sec,
        report.jsonwebtoken_verify_per_sec,
        report.verify_vs_raw,
        report.verify_vs_jsonwebtoken
    );
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("tokens.json"), serde_json::to_vec_pretty(&report)?)?;
    Ok(())
}
