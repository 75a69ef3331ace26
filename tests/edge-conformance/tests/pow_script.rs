//! The waiting page's proof-of-work solver is JavaScript that runs in the fan's browser;
//! the edge verifies in Rust. This runs the page's own solver ([`POW_JS`]) under Node
//! (which the Cloudflare tooling needs anyway) and checks that it finds exactly the
//! counter the edge accepts, for several difficulties and challenge lengths, through
//! both entry points the page uses.

use anyhow::{Context, Result, ensure};
use shared_wasm::edge::page::POW_JS;
use shared_wasm::edge::pow;
use std::process::Command;
use uuid::Uuid;

fn node(script: &str) -> Result<String> {
    let out = Command::new("node")
        .arg("-e")
        .arg(script)
        .output()
        .context("running node (install Node.js 20+, which the Cloudflare worker needs too)")?;
    ensure!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

#[test]
fn the_pages_solver_finds_what_the_edge_accepts() -> Result<()> {
    let secret = [7u8; 32];
    let now = 1_800_000_000;
    for (i, difficulty) in [0u8, 1, 8, 13, 16].into_iter().enumerate() {
        let event = Uuid::from_u128(0x1234_5678 + i as u128);
        let issued = pow::issue(&secret, event, difficulty, now, [i as u8; 16]);
        let challenge = serde_json::to_string(&issued.challenge)?;
        // The synchronous search, from 0.
        let found: u64 = node(&format!(
            "{POW_JS}\nvar p=urrPowPrepare({challenge});console.log(urrPowSearch(p,{difficulty},0,1e9));"
        ))?
        .parse()?;
        assert_eq!(
            found,
            pow::solve(&issued.challenge, difficulty),
            "d={difficulty}"
        );
        pow::verify(
            &secret,
            &issued.challenge,
            &found.to_string(),
            event,
            difficulty,
            now,
        )
        .map_err(|e| anyhow::anyhow!("d={difficulty}: {e}"))?;
        // The page's entry point, in slices with timers.
        let sliced: u64 = node(&format!(
            "{POW_JS}\nurrPow({challenge},{difficulty},function(n){{console.log(n);}});"
        ))?
        .parse()?;
        assert_eq!(sliced, found, "d={difficulty}");
    }
    // Counters past 2^32 are written as 8 big-endian bytes too.
    let c = "v1.counter-width";
    let from = 1u64 << 32;
    let found: u64 = node(&format!(
        "{POW_JS}\nvar p=urrPowPrepare({c:?});console.log(urrPowSearch(p,6,{from},1e6));"
    ))?
    .parse()?;
    assert!(found >= from && pow::leading_zero_bits(c, found) >= 6);
    assert!((from..found).all(|n| pow::leading_zero_bits(c, n) < 6));
    Ok(())
}
