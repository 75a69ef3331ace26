//! The random draw at the opening of a scheduled sale, and how anyone can check it.
//!
//! # Why draw at all
//!
//! In pure FIFO the first second of an on-sale is a race of network latency and bots:
//! whoever sits closest to the data centre wins. Cloudflare (shuffle at event start),
//! Queue-it (randomised pre-queue) and smoketurner's waiting room all do the same thing
//! instead: everyone who arrives during the **pre-queue** (before the sale opens) is
//! equal, and their order is drawn at the opening. Those who arrive after the opening
//! queue FIFO behind all of them.
//!
//! # The rule ([`position_for`])
//!
//! Every visitor gets a 1-based join sequence `seq` from the issued counter. At the
//! opening the issued count is frozen as `n_pre` (the pre-queue size). Then
//!
//! * `seq <= n_pre` (joined before the opening): `position = permute(seed, n_pre, seq − 1) + 1`
//! * `seq >  n_pre` (joined after): `position = seq`
//!
//! so positions `1..=n_pre` are a shuffle of the pre-queue and later positions follow
//! in join order. FIFO events simply use `position = seq`.
//!
//! # The permutation ([`permute`])
//!
//! A keyed pseudo-random permutation of `0..n`: a Feistel network over `k` bits, the
//! smallest power of two `2^k >= n`, with **cycle walking** (apply the network again
//! until the result falls below `n`; it always terminates because the cycle through a
//! start value below `n` returns to it). As `2^k < 2n`, fewer than two passes are needed
//! on average. The network splits `k` into a high half of `ceil(k/2)` bits and a low
//! half of `floor(k/2)` bits and runs [`ROUNDS`] alternating (unbalanced) rounds:
//!
//! ```text
//! (L, R)  ->  (R, L xor F(i, R))        widths swap every round
//! F(i, R) = first 8 bytes, big-endian, of SHA-256(seed ‖ i ‖ R), truncated to |L| bits
//!           seed: 32 bytes; i: 1 byte (round 0..8); R: u64 big-endian (8 bytes)
//! ```
//!
//! Every round is invertible whatever `F` is, so the whole map is a bijection for every
//! seed, and [`invert`] runs the rounds backwards. This byte layout is frozen (tests pin
//! known outputs): third parties recompute the draw from it.
//!
//! # Publishing the draw (commit, then reveal)
//!
//! 1. The operator picks a 32-byte random seed and publishes its commitment
//!    [`seed_commitment`] = hex SHA-256(seed) in the event's rules
//!    (`draw_seed_commitment`). Rules validation refuses random mode without it, so it
//!    is public before the pre-queue opens, and at the latest before it closes.
//! 2. The pre-queue fills; each visitor keeps their signed ticket with their `seq`.
//! 3. At the opening `n_pre` is frozen and positions are computed with the seed.
//! 4. After the opening the seed itself is published. Anyone checks
//!    [`verify_seed`]`(seed, commitment)` and recomputes every position with
//!    [`position_for`].
//!
//! Because the seed was fixed before anyone knew who would join or in which order, the
//! operator could not pick a seed that favours particular sequence numbers, and because
//! it stayed secret until the pre-queue closed, visitors could not time their join to
//! land on a good `seq`. What this does *not* prove on its own is that `seq` values were
//! handed out honestly; publishing `n_pre` and letting visitors check their own ticket's
//! `seq` against their drawn position covers the visitor's side.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::rules::Method;

/// Feistel rounds. Four are enough for a strong pseudo-random permutation with a
/// random round function (Luby–Rackoff); eight leave margin for the unbalanced split
/// and cost eight SHA-256 blocks per pass, nothing next to a network round trip.
pub const ROUNDS: u8 = 8;

/// A draw seed: 32 secret random bytes, published after the opening.
pub type Seed = [u8; 32];

/// Bits `k` of the smallest power of two `>= n` (for `n >= 2`).
fn domain_bits(n: u64) -> u32 {
    64 - (n - 1).leading_zeros()
}

const fn mask(bits: u32) -> u64 {
    if bits >= 64 {
        u64::MAX
    } else {
        (1u64 << bits) - 1
    }
}

/// SHA-256's initial hash value (FIPS 180-4 §5.3.3).
const SHA256_H0: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Bytes hashed per round: seed (32) ‖ round (1) ‖ value (8).
const ROUND_INPUT_LEN: usize = 41;

/// `F(i, R)`: the first 8 bytes (big-endian) of `SHA-256(seed ‖ round ‖ value_be)`.
///
/// The 41-byte message fits in one padded 64-byte block, so this is one call of the
/// SHA-256 compression function on a hand-padded block: the same digest as
/// `Sha256::digest` (a unit test checks it), without the generic streaming machinery
/// that dominates the cost when it is compiled unoptimised.
fn round_fn(seed: &Seed, round: u8, value: u64) -> u64 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(seed);
    block[32] = round;
    block[33..ROUND_INPUT_LEN].copy_from_slice(&value.to_be_bytes());
    block[ROUND_INPUT_LEN] = 0x80;
    block[56..].copy_from_slice(&(ROUND_INPUT_LEN as u64 * 8).to_be_bytes());
    let mut state = SHA256_H0;
    sha2::compress256(&mut state, &[block.into()]);
    (u64::from(state[0]) << 32) | u64::from(state[1])
}

/// One pass of the Feistel network over `bits` bits.
fn feistel(seed: &Seed, bits: u32, x: u64) -> u64 {
    let mut hi_w = bits.div_ceil(2);
    let mut lo_w = bits / 2;
    let mut x = x;
    for round in 0..ROUNDS {
        let l = x >> lo_w;
        let r = x & mask(lo_w);
        let l2 = (l ^ round_fn(seed, round, r)) & mask(hi_w);
        x = (r << hi_w) | l2;
        std::mem::swap(&mut hi_w, &mut lo_w);
    }
    x
}

/// The inverse of [`feistel`]: the same rounds backwards.
fn feistel_inverse(seed: &Seed, bits: u32, x: u64) -> u64 {
    // Widths after ROUNDS swaps.
    let (mut hi_w, mut lo_w) = if ROUNDS.is_multiple_of(2) {
        (bits.div_ceil(2), bits / 2)
    } else {
        (bits / 2, bits.div_ceil(2))
    };
    let mut x = x;
    for round in (0..ROUNDS).rev() {
        // Undo: x = (r << hi_w_before) | l2, where hi_w_before = lo_w now.
        std::mem::swap(&mut hi_w, &mut lo_w);
        let r = x >> hi_w;
        let l2 = x & mask(hi_w);
        let l = (l2 ^ round_fn(seed, round, r)) & mask(hi_w);
        x = (l << lo_w) | r;
    }
    x
}

/// A keyed bijection of `0..n`: the draw's shuffle (see the module docs).
///
/// For `index < n` the result is `< n`, and distinct indices give distinct results.
/// Inputs outside the domain (`index >= n`, which includes every index when `n = 0`)
/// are returned unchanged, so the function never panics and stays a bijection of `u64`;
/// callers should not rely on that.
///
/// ```
/// use shared_wasm::queue::{invert, permute};
/// let seed = [7u8; 32];
/// let mut seen = vec![false; 10];
/// for i in 0..10 {
///     let p = permute(&seed, 10, i);
///     assert!(!seen[p as usize]);
///     seen[p as usize] = true;
///     assert_eq!(invert(&seed, 10, p), i);
/// }
/// ```
pub fn permute(seed: &Seed, n: u64, index: u64) -> u64 {
    if index >= n || n == 1 {
        return index;
    }
    let bits = domain_bits(n);
    let mut x = feistel(seed, bits, index);
    while x >= n {
        x = feistel(seed, bits, x);
    }
    x
}

/// The inverse of [`permute`]: which index was sent to `value`. Same domain rules.
pub fn invert(seed: &Seed, n: u64, value: u64) -> u64 {
    if value >= n || n == 1 {
        return value;
    }
    let bits = domain_bits(n);
    let mut x = feistel_inverse(seed, bits, value);
    while x >= n {
        x = feistel_inverse(seed, bits, x);
    }
    x
}

/// Lowercase hex of SHA-256(seed): the commitment published before the pre-queue
/// closes (check it with `sha256sum` on the 32 raw seed bytes).
pub fn seed_commitment(seed: &Seed) -> String {
    to_hex(&Sha256::digest(seed))
}

/// Whether `seed` is the one `commitment` (64 hex digits, either case) committed to.
pub fn verify_seed(seed: &Seed, commitment: &str) -> bool {
    commitment.len() == 64 && commitment.eq_ignore_ascii_case(&seed_commitment(seed))
}

/// Lowercase hex of the seed, the form in which it is published after the opening.
pub fn seed_to_hex(seed: &Seed) -> String {
    to_hex(seed)
}

/// Parses a published seed: exactly 64 hex digits, either case.
pub fn seed_from_hex(hex: &str) -> Option<Seed> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut seed = [0u8; 32];
    for (out, pair) in seed.iter_mut().zip(bytes.chunks_exact(2)) {
        *out = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(seed)
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

/// The queue position (1-based) of the visitor with join sequence `seq` (1-based).
///
/// * [`Method::Fifo`]: `Some(seq)`; `n_pre` and `seed` are ignored.
/// * [`Method::Random`], pre-queue still open (`n_pre = None`): `None`, nothing drawn yet.
/// * [`Method::Random`] with `n_pre = Some(n)` (the issued count frozen at the opening):
///   `seq <= n` gives `permute(seed, n, seq − 1) + 1`, later joiners keep `seq`.
///   Without a seed (`None`) the draw cannot be made: `None`.
///
/// `seq = 0` is not a join sequence: `None`.
///
/// ```
/// use shared_wasm::queue::position_for;
/// use shared_wasm::rules::Method;
/// let seed = [1u8; 32];
/// assert_eq!(position_for(Method::Fifo, 5, None, None), Some(5));
/// assert_eq!(position_for(Method::Random, 5, None, Some(&seed)), None);
/// let p = position_for(Method::Random, 5, Some(100), Some(&seed)).unwrap();
/// assert!((1..=100).contains(&p));
/// assert_eq!(position_for(Method::Random, 101, Some(100), Some(&seed)), Some(101));
/// ```
pub fn position_for(
    method: Method,
    seq: u64,
    n_pre: Option<u64>,
    seed: Option<&Seed>,
) -> Option<u64> {
    if seq == 0 {
        return None;
    }
    match method {
        Method::Fifo => Some(seq),
        Method::Random => {
            let n = n_pre?;
            if seq > n {
                return Some(seq);
            }
            let seed = seed?;
            Some(permute(seed, n, seq - 1) + 1)
        }
    }
}

/// What is published after the opening of a random-mode sale, as JSON: enough for
/// anyone to recompute every position with [`position_for`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DrawPublication {
    /// The seed, 64 lowercase hex digits ([`seed_to_hex`]).
    pub seed: String,
    /// The commitment published in the rules before the pre-queue closed.
    pub commitment: String,
    /// Pre-queue size: join sequences `1..=n_pre` were shuffled.
    pub n_pre: u64,
}

impl DrawPublication {
    pub fn new(seed: &Seed, n_pre: u64) -> Self {
        DrawPublication {
            seed: seed_to_hex(seed),
            commitment: seed_commitment(seed),
            n_pre,
        }
    }

    /// The seed, if it parses and matches the commitment.
    pub fn verified_seed(&self) -> Option<Seed> {
        let seed = seed_from_hex(&self.seed)?;
        verify_seed(&seed, &self.commitment).then_some(seed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feistel_inverse_undoes_feistel() {
        let seed = [3u8; 32];
        for bits in 1..=64u32 {
            for x in [0u64, 1, 2, 12345, u64::MAX] {
                let x = x & mask(bits);
                let y = feistel(&seed, bits, x);
                assert!(y <= mask(bits));
                assert_eq!(feistel_inverse(&seed, bits, y), x, "bits {bits} x {x}");
            }
        }
    }

    #[test]
    fn round_function_is_sha256() {
        for (seed, round, value) in [([0u8; 32], 0u8, 0u64), ([0xa5; 32], 7, u64::MAX)] {
            let digest = Sha256::new()
                .chain_update(seed)
                .chain_update([round])
                .chain_update(value.to_be_bytes())
                .finalize();
            let mut first = [0u8; 8];
            first.copy_from_slice(&digest[..8]);
            assert_eq!(round_fn(&seed, round, value), u64::from_be_bytes(first));
        }
    }

    #[test]
    fn hex_round_trip() {
        let seed: Seed = core::array::from_fn(|i| i as u8 * 7);
        let hex = seed_to_hex(&seed);
        assert_eq!(hex.len(), 64);
        assert_eq!(seed_from_hex(&hex), Some(seed));
        assert_eq!(seed_from_hex(&hex.to_uppercase()), Some(seed));
        assert_eq!(seed_from_hex(&hex[1..]), None);
        assert_eq!(seed_from_hex(&format!("{}g", &hex[1..])), None);
    }

    #[test]
    fn commitment_is_plain_sha256() {
        // SHA-256 of 32 zero bytes.
        assert_eq!(
            seed_commitment(&[0u8; 32]),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn publication_verifies() {
        let seed = [9u8; 32];
        let publication = DrawPublication::new(&seed, 42);
        assert_eq!(publication.verified_seed(), Some(seed));
        let forged = DrawPublication {
            seed: seed_to_hex(&[8u8; 32]),
            ..publication
        };
        assert_eq!(forged.verified_seed(), None);
    }
}
