//! When a waiting visitor should poll again, and how long they will probably wait.
//!
//! # Poll interval
//!
//! A status poll is the single most frequent request during an on-sale: every waiting
//! visitor makes one every few seconds. Two things keep that load bounded:
//!
//! 1. **Distance-based intervals.** Someone 200,000 places back gains nothing from
//!    polling every second, so the interval grows with the number of people ahead
//!    (the original's tier-2 table, kept because it worked):
//!
//!    | people ahead        | base interval |
//!    |---------------------|---------------|
//!    | 0 ..= 1,000         | 1 s           |
//!    | 1,001 ..= 5,000     | 5 s           |
//!    | 5,001 ..= 10,000    | 10 s          |
//!    | 10,001 ..= 100,000  | 30 s          |
//!    | above 100,000       | 60 s          |
//!
//! 2. **Jitter.** A sale opens at one instant, so a million pages load within seconds of
//!    each other; with fixed intervals their polls stay synchronised forever, a
//!    thundering herd every 5 s. [`poll_after_ms`] moves each poll uniformly within
//!    ±[`POLL_JITTER_PERCENT`] % of the base interval, clipped to
//!    [`MIN_POLL_MS`]..=[`MAX_POLL_MS`]. The range itself is clipped (not the result), so
//!    the 1 s tier draws uniformly from 1,000..=1,100 ms and the 60 s tier from
//!    54,000..=60,000 ms: no value is over-represented at the clip edges.
//!
//! The jitter is deterministic: the caller passes a `u64` seed and the same seed always
//! gives the same interval (this crate has no RNG). Derive the seed from something that
//! differs between visitors *and* between polls, e.g. the first 8 bytes of
//! `SHA-256(visitor id ‖ poll count)` or the request's random id; a constant seed
//! would give every visitor the same offset and defeat the purpose.
//!
//! # Estimated wait
//!
//! [`eta_seconds`] divides the people ahead by a *measured* admission rate (a constant
//! assumed rate is wrong for every event but one). Unknown or zero
//! rates give `None` ("we don't know yet") rather than a made-up number, and absurdly
//! long estimates are clamped to [`MAX_ETA_SECS`].

/// Shortest interval [`poll_after_ms`] ever returns: 1 s.
pub const MIN_POLL_MS: u32 = 1_000;

/// Longest interval [`poll_after_ms`] ever returns: 60 s (the clients' clamp).
pub const MAX_POLL_MS: u32 = 60_000;

/// Jitter half-width, in percent of the base interval.
pub const POLL_JITTER_PERCENT: u32 = 10;

/// Longest estimate [`eta_seconds`] reports: 7 days. Anything longer is not a
/// meaningful promise; show it as "a long time".
pub const MAX_ETA_SECS: u64 = 7 * 24 * 60 * 60;

/// The un-jittered poll interval in milliseconds for a visitor with `ahead` people in
/// front of them (see the table in the module docs). `ahead = 0` (next in line, or
/// already admitted and about to be told) polls every second.
pub const fn base_poll_ms(ahead: u64) -> u32 {
    match ahead {
        0..=1_000 => 1_000,
        1_001..=5_000 => 5_000,
        5_001..=10_000 => 10_000,
        10_001..=100_000 => 30_000,
        _ => 60_000,
    }
}

/// Milliseconds until the next status poll for a visitor with `ahead` people in front.
///
/// The base interval of [`base_poll_ms`], moved uniformly within ±10 % by `jitter_seed`
/// and kept within 1 s..=60 s. Deterministic: equal inputs give equal outputs.
///
/// ```
/// use shared_wasm::queue::poll_after_ms;
/// let ms = poll_after_ms(3_000, 42);
/// assert!((4_500..=5_500).contains(&ms));
/// assert_eq!(ms, poll_after_ms(3_000, 42));
/// ```
pub fn poll_after_ms(ahead: u64, jitter_seed: u64) -> u32 {
    let base = base_poll_ms(ahead);
    let spread = base / 100 * POLL_JITTER_PERCENT;
    let lo = base.saturating_sub(spread).max(MIN_POLL_MS);
    let hi = base.saturating_add(spread).min(MAX_POLL_MS);
    // `hi - lo + 1` is at most 12,001, so the modulo bias is below 2^-50: irrelevant.
    let width = u64::from(hi - lo) + 1;
    let offset = mix64(jitter_seed) % width;
    // offset < width <= u32 range, so the conversion cannot fail.
    lo + u32::try_from(offset).unwrap_or(0)
}

/// Estimated seconds until a visitor with `ahead` people in front is admitted, at
/// `admitted_per_minute` admissions per minute (measured over a recent window by the
/// caller; for tier 1 the rules' `new_users_per_minute` is the exact serving rate).
///
/// * `ahead = 0` gives `Some(0)`.
/// * A rate that is zero, negative, NaN or infinite gives `None`: the wait is unknown,
///   say so instead of inventing a number.
/// * The result is rounded up to whole seconds and clamped to [`MAX_ETA_SECS`].
///
/// Floating point is fine here (it is a display value, never a queue decision), and
/// IEEE 754 division and `ceil` give the same result on every target.
///
/// ```
/// use shared_wasm::queue::eta_seconds;
/// assert_eq!(eta_seconds(600, 600.0), Some(60));
/// assert_eq!(eta_seconds(1, 600.0), Some(1));
/// assert_eq!(eta_seconds(10, 0.0), None);
/// ```
pub fn eta_seconds(ahead: u64, admitted_per_minute: f64) -> Option<u64> {
    if !admitted_per_minute.is_finite() || admitted_per_minute <= 0.0 {
        return None;
    }
    if ahead == 0 {
        return Some(0);
    }
    let secs = (ahead as f64 * 60.0 / admitted_per_minute).ceil();
    if !secs.is_finite() || secs >= MAX_ETA_SECS as f64 {
        return Some(MAX_ETA_SECS);
    }
    // 0 < secs < MAX_ETA_SECS, an integer-valued float: the cast is exact.
    Some(secs as u64)
}

/// SplitMix64's finaliser: a cheap, well-distributed bijection of `u64`, so nearby
/// seeds (poll 1, poll 2, ...) still give unrelated jitter.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_boundaries() {
        assert_eq!(base_poll_ms(0), 1_000);
        assert_eq!(base_poll_ms(1_000), 1_000);
        assert_eq!(base_poll_ms(1_001), 5_000);
        assert_eq!(base_poll_ms(5_000), 5_000);
        assert_eq!(base_poll_ms(5_001), 10_000);
        assert_eq!(base_poll_ms(10_000), 10_000);
        assert_eq!(base_poll_ms(10_001), 30_000);
        assert_eq!(base_poll_ms(100_000), 30_000);
        assert_eq!(base_poll_ms(100_001), 60_000);
        assert_eq!(base_poll_ms(u64::MAX), 60_000);
    }

    #[test]
    fn jitter_ranges_are_clipped_not_results() {
        let mut seen_lo = false;
        let mut seen_hi = false;
        for seed in 0..20_000u64 {
            let ms = poll_after_ms(0, seed);
            assert!((1_000..=1_100).contains(&ms));
            seen_lo |= ms == 1_000;
            seen_hi |= ms == 1_100;
            let far = poll_after_ms(1_000_000, seed);
            assert!((54_000..=60_000).contains(&far));
        }
        assert!(seen_lo && seen_hi);
    }

    #[test]
    fn jitter_spreads_the_herd() {
        // 10,000 visitors at the same distance should not land on a handful of values.
        let mut values: Vec<u32> = (0..10_000u64).map(|s| poll_after_ms(3_000, s)).collect();
        values.sort_unstable();
        values.dedup();
        assert!(
            values.len() > 900,
            "only {} distinct intervals",
            values.len()
        );
    }

    #[test]
    fn eta_edge_cases() {
        assert_eq!(eta_seconds(0, 1.0), Some(0));
        assert_eq!(eta_seconds(0, 0.0), None);
        assert_eq!(eta_seconds(5, f64::NAN), None);
        assert_eq!(eta_seconds(5, f64::INFINITY), None);
        assert_eq!(eta_seconds(5, -3.0), None);
        assert_eq!(eta_seconds(5, f64::MIN_POSITIVE), Some(MAX_ETA_SECS));
        assert_eq!(eta_seconds(u64::MAX, 1.0), Some(MAX_ETA_SECS));
        assert_eq!(eta_seconds(1, 1e300), Some(1));
        assert_eq!(eta_seconds(3_000, 50.0 * 60.0), Some(60));
    }
}
