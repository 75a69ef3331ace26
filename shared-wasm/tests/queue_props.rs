//! Property tests for `shared_wasm::queue`: the serving counter's invariants under any
//! history of joins, polls, rate changes and idle periods; the draw's bijectivity,
//! reproducibility and rule; the poll and ETA bounds.

use proptest::prelude::*;
use shared_wasm::queue::{
    self, ServingAnchor, anchor_on_join, anchor_on_rate_change, base_poll_ms, eta_seconds, invert,
    permute, poll_after_ms, position_for, seed_commitment, served_at_ms, serving_at, verify_seed,
};
use shared_wasm::rules::Method;

const OPEN_S: i64 = 1_800_000_000;
const OPEN_MS: i64 = OPEN_S * 1000;

/// `r · dt / 60 000 + 1`, the most a single rate may serve in `dt` ms.
fn rate_bound(rate: u32, dt: i64) -> u128 {
    u128::from(rate) * u128::try_from(dt).expect("dt >= 0") / 60_000 + 1
}

// ---------------------------------------------------------------------------------
// Serving counter
// ---------------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    /// Time passes by this many ms.
    Wait(i64),
    /// A long idle period (minutes to days).
    Idle(i64),
    /// `n` visitors join at the current instant.
    Join(u32),
    /// The rules change the rate.
    Rate(u32),
    /// An extra re-anchor check, e.g. from an alarm tick.
    Tick,
}

fn rate_strategy() -> impl Strategy<Value = u32> {
    prop_oneof![
        1u32..=120,
        1u32..=100_000,
        Just(60_000u32),
        Just(1_000_000u32),
        Just(0u32),
    ]
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0i64..5_000).prop_map(Op::Wait),
        1 => (60_000i64..200_000_000).prop_map(Op::Idle),
        6 => (1u32..50).prop_map(Op::Join),
        1 => rate_strategy().prop_map(Op::Rate),
        1 => Just(Op::Tick),
    ]
}

/// One observation of the counter: time, value, issued, and the rate segment it was in.
#[derive(Debug, Clone, Copy)]
struct Obs {
    t: i64,
    serving: u64,
    issued: u64,
    segment: usize,
}

/// Runs `ops` from the opening (with `n_pre` pre-queue joins) and records the serving
/// value before and after every step, as the edge would observe it.
fn simulate(start_rate: u32, n_pre: u64, start_offset: i64, ops: &[Op]) -> (Vec<Obs>, Vec<u32>) {
    let mut anchor = ServingAnchor::opening(OPEN_S);
    let mut rate = start_rate;
    let mut rates = vec![rate];
    let mut issued = n_pre;
    let mut t = OPEN_MS + start_offset;
    let mut obs = Vec::new();
    let mut observe = |anchor: ServingAnchor, rate: u32, issued: u64, t: i64, seg: usize| {
        obs.push(Obs {
            t,
            serving: serving_at(anchor, rate, issued, t),
            issued,
            segment: seg,
        });
    };
    observe(anchor, rate, issued, t, 0);
    for op in ops {
        match *op {
            Op::Wait(dt) | Op::Idle(dt) => t += dt,
            Op::Join(n) => {
                for _ in 0..n {
                    anchor = anchor_on_join(anchor, rate, issued, t);
                    issued += 1;
                    observe(anchor, rate, issued, t, rates.len() - 1);
                }
            }
            Op::Rate(r) => {
                anchor = anchor_on_rate_change(anchor, rate, r, issued, t);
                if r != rate {
                    rate = r;
                    rates.push(rate);
                }
            }
            Op::Tick => anchor = anchor_on_join(anchor, rate, issued, t),
        }
        observe(anchor, rate, issued, t, rates.len() - 1);
    }
    (obs, rates)
}

/// Checks `s_b − s_a ≤ ⌊r·(t_b − t_a)/60 000⌋ + 1` for every pair `a` before `b`, in
/// one pass. With integers, `k ≤ ⌊y⌋ ⇔ k ≤ y`, so the bound is
/// `60 000·(s_b − s_a − 1) ≤ r·(t_b − t_a)`, i.e. `key_b − 60 000 ≤ key_a` with
/// `key = 60 000·s − r·t`: compare each key with the smallest key before it. Times
/// before the opening count as the opening (nothing is served before it).
fn check_rate_over_all_pairs(obs: &[Obs], rate: u32) -> Result<(), TestCaseError> {
    let key =
        |o: &Obs| 60_000 * i128::from(o.serving) - i128::from(rate) * i128::from(o.t.max(OPEN_MS));
    let mut smallest: Option<(i128, Obs)> = None;
    for b in obs {
        let kb = key(b);
        if let Some((ka, a)) = smallest {
            prop_assert!(
                kb - 60_000 <= ka,
                "served {} in {} ms at {}/min: {:?} -> {:?}",
                b.serving - a.serving,
                b.t - a.t.max(OPEN_MS),
                rate,
                a,
                b
            );
        }
        if smallest.is_none_or(|(ka, _)| kb < ka) {
            smallest = Some((kb, *b));
        }
    }
    Ok(())
}

#[test]
fn the_pair_check_catches_a_burst() {
    let at = |t: i64, serving: u64| Obs {
        t: OPEN_MS + t,
        serving,
        issued: 1_000,
        segment: 0,
    };
    // 600/min is 10 per second: 11 in one second is allowed (the +1), 12 is not.
    assert!(check_rate_over_all_pairs(&[at(0, 0), at(500, 5), at(1_000, 11)], 600).is_ok());
    assert!(check_rate_over_all_pairs(&[at(0, 0), at(1_000, 12)], 600).is_err());
    // 8 within the last 500 ms (at most 6), although 11 in the whole second is fine.
    assert!(check_rate_over_all_pairs(&[at(0, 0), at(500, 3), at(1_000, 11)], 600).is_err());
    assert!(check_rate_over_all_pairs(&[at(0, 5), at(10, 5), at(20, 7)], 600).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn serving_is_monotone_and_never_above_issued(
        served in 0u64..1_000_000,
        at in -10_000_000i64..10_000_000,
        rate in rate_strategy(),
        issued in 0u64..2_000_000,
        more in 0u64..1_000,
        t1 in -20_000_000i64..20_000_000,
        dt in 0i64..100_000_000,
    ) {
        let a = ServingAnchor { served, at_ms: OPEN_MS + at };
        let s1 = serving_at(a, rate, issued, OPEN_MS + t1);
        let s2 = serving_at(a, rate, issued, OPEN_MS + t1 + dt);
        prop_assert!(s1 <= s2, "not monotone in time");
        prop_assert!(s2 <= issued);
        prop_assert!(serving_at(a, rate, issued + more, OPEN_MS + t1) >= s1, "not monotone in issued");
        prop_assert!(s2 - s1 <= u64::try_from(rate_bound(rate, dt)).unwrap_or(u64::MAX));
    }

    #[test]
    fn any_history_keeps_the_invariants(
        start_rate in rate_strategy(),
        n_pre in 0u64..500,
        start_offset in -100_000i64..100_000,
        ops in prop::collection::vec(op_strategy(), 1..80),
    ) {
        let (obs, rates) = simulate(start_rate, n_pre, start_offset, &ops);
        let max_rate = rates.iter().copied().max().unwrap_or(0);
        for (i, o) in obs.iter().enumerate() {
            prop_assert!(o.serving <= o.issued, "serving above issued at {i}");
            if o.t < OPEN_MS {
                prop_assert_eq!(o.serving, 0, "served before the opening");
            }
            if i > 0 {
                prop_assert!(obs[i - 1].serving <= o.serving, "serving went down at {}: {:?} -> {:?}", i, obs[i - 1], o);
            }
        }
        // Rate respected over every pair of observations: within one rate segment with
        // that segment's rate, across segments with the largest rate seen.
        for (seg, &rate) in rates.iter().enumerate() {
            let within: Vec<Obs> = obs.iter().copied().filter(|o| o.segment == seg).collect();
            check_rate_over_all_pairs(&within, rate)?;
        }
        check_rate_over_all_pairs(&obs, max_rate)?;
    }

    #[test]
    fn no_credit_after_idle(
        rate in 1u32..100_000,
        ops in prop::collection::vec(op_strategy(), 0..30),
        idle in 60_000i64..1_000_000_000,
        burst in 1u64..5_000,
        spread in 0i64..2_000,
        probes in prop::collection::vec(0i64..10_000, 1..10),
    ) {
        // Any history at a fixed rate, then a long idle period.
        let ops: Vec<Op> = ops.into_iter().filter(|o| !matches!(o, Op::Rate(_))).collect();
        let mut anchor = ServingAnchor::opening(OPEN_S);
        let mut issued = 0u64;
        let mut t = OPEN_MS;
        for op in &ops {
            match *op {
                Op::Wait(dt) | Op::Idle(dt) => t += dt,
                Op::Join(n) => for _ in 0..n {
                    anchor = anchor_on_join(anchor, rate, issued, t);
                    issued += 1;
                },
                Op::Tick => anchor = anchor_on_join(anchor, rate, issued, t),
                Op::Rate(_) => {}
            }
        }
        t += idle;
        let before = serving_at(anchor, rate, issued, t);
        let burst_start = t;
        // A burst of joins spread over `spread` ms.
        for k in 0..burst {
            let tk = burst_start + spread * i64::try_from(k).unwrap_or(0) / i64::try_from(burst).unwrap_or(1);
            anchor = anchor_on_join(anchor, rate, issued, tk);
            issued += 1;
        }
        for p in probes {
            let now = burst_start + spread + p;
            let s = serving_at(anchor, rate, issued, now);
            prop_assert!(
                u128::from(s - before) <= rate_bound(rate, now - burst_start),
                "idle credit: served {} within {} ms at {}/min", s - before, now - burst_start, rate
            );
        }
    }

    #[test]
    fn rate_change_never_jumps(
        served in 0u64..1_000_000,
        waiting in 0u64..1_000_000,
        old_rate in rate_strategy(),
        new_rate in rate_strategy(),
        dt in -1_000_000i64..1_000_000_000,
        later in 0i64..1_000_000,
    ) {
        let a = ServingAnchor { served, at_ms: OPEN_MS };
        let issued = served + waiting;
        let now = OPEN_MS + dt;
        let before = serving_at(a, old_rate, issued, now);
        let b = anchor_on_rate_change(a, old_rate, new_rate, issued, now);
        prop_assert_eq!(serving_at(b, new_rate, issued, now), before);
        prop_assert!(b.at_ms <= now.max(a.at_ms));
        // From then on the new rate governs.
        let after = serving_at(b, new_rate, issued, now + later);
        prop_assert!(after >= before);
        prop_assert!(u128::from(after - before) <= rate_bound(new_rate, later));
    }

    #[test]
    fn join_reanchor_never_adds_credit(
        served in 0u64..1_000_000,
        at in -1_000_000i64..1_000_000,
        rate in rate_strategy(),
        issued in 0u64..2_000_000,
        now in -1_000_000i64..1_000_000_000,
        later in prop::collection::vec(0i64..100_000_000, 1..8),
    ) {
        let a = ServingAnchor { served: served.min(issued), at_ms: OPEN_MS + at };
        let now = OPEN_MS + now;
        let b = anchor_on_join(a, rate, issued, now);
        prop_assert_eq!(serving_at(b, rate, issued, now), serving_at(a, rate, issued, now));
        // With everyone in the world queued behind, the new line is never above the old.
        for l in later {
            prop_assert!(serving_at(b, rate, u64::MAX, now + l) <= serving_at(a, rate, u64::MAX, now + l));
        }
    }

    #[test]
    fn served_at_is_the_first_millisecond(
        served in 0u64..1_000_000,
        at in -1_000_000i64..1_000_000,
        rate in 1u32..=1_000_000,
        ahead in 1u64..1_000_000,
    ) {
        let a = ServingAnchor { served, at_ms: OPEN_MS + at };
        let pos = served + ahead;
        let t = served_at_ms(a, rate, pos).expect("rate > 0");
        prop_assert!(serving_at(a, rate, u64::MAX, t) >= pos);
        prop_assert!(serving_at(a, rate, u64::MAX, t - 1) < pos);
    }
}

#[test]
fn a_fixed_anchor_would_let_a_burst_through_at_once() {
    // What the re-anchoring prevents, spelled out.
    let rate = 600;
    let fixed = ServingAnchor::opening(OPEN_S);
    let mut moving = fixed;
    let t = OPEN_MS + 3_600_000;
    let mut issued = 0;
    for _ in 0..20_000 {
        moving = anchor_on_join(moving, rate, issued, t);
        issued += 1;
    }
    assert_eq!(serving_at(fixed, rate, issued, t), 20_000);
    assert_eq!(serving_at(moving, rate, issued, t), 1);
    assert_eq!(serving_at(moving, rate, issued, t + 60_000), 601);
}

// ---------------------------------------------------------------------------------
// Draw
// ---------------------------------------------------------------------------------

fn seed_from(byte: u8) -> [u8; 32] {
    let mut seed = [0u8; 32];
    for (i, b) in seed.iter_mut().enumerate() {
        *b = byte
            .wrapping_mul(31)
            .wrapping_add(u8::try_from(i).unwrap_or(0));
    }
    seed
}

fn assert_bijection(seed: &[u8; 32], n: u64) {
    let len = usize::try_from(n).expect("small n");
    let mut seen = vec![false; len];
    for i in 0..n {
        let p = permute(seed, n, i);
        assert!(p < n, "n={n}: {i} -> {p} out of range");
        let slot = &mut seen[usize::try_from(p).expect("in range")];
        assert!(!*slot, "n={n}: {p} hit twice");
        *slot = true;
    }
}

#[test]
fn permutation_is_a_bijection_for_many_sizes() {
    let seed = seed_from(1);
    let sizes: Vec<u64> = (1..=70)
        .chain([
            97, 127, 128, 129, 255, 256, 257, 1_000, 1_021, 1_024, 4_093, 4_096, 65_536, 65_537,
        ])
        .collect();
    for n in sizes {
        assert_bijection(&seed, n);
        for i in 0..n.min(300) {
            assert_eq!(invert(&seed, n, permute(&seed, n, i)), i, "n={n} i={i}");
        }
    }
}

#[test]
fn permutation_is_a_bijection_for_a_million_and_three() {
    let seed = seed_from(2);
    assert_bijection(&seed, 1_000_003);
}

#[test]
fn permutation_outside_the_domain_is_the_identity() {
    let seed = seed_from(3);
    assert_eq!(permute(&seed, 0, 0), 0);
    assert_eq!(permute(&seed, 0, 17), 17);
    assert_eq!(permute(&seed, 1, 0), 0);
    assert_eq!(permute(&seed, 10, 10), 10);
    assert_eq!(invert(&seed, 10, 99), 99);
    // Huge domains work too (no overflow in the power of two).
    for n in [u64::MAX, (1u64 << 63) + 1, 1u64 << 63] {
        for i in [0, 1, n / 2, n - 1] {
            let p = permute(&seed, n, i);
            assert!(p < n);
            assert_eq!(invert(&seed, n, p), i);
        }
    }
}

#[test]
fn permutation_format_is_frozen() {
    // Third parties reimplement the draw from the documented byte layout; these values
    // pin it. If this test fails, the published format changed: that is a breaking
    // change for every past draw.
    let zero = [0u8; 32];
    let got: Vec<u64> = (0..10).map(|i| permute(&zero, 10, i)).collect();
    assert_eq!(got, FROZEN_ZERO_SEED_N10);
    let ones = [1u8; 32];
    let got: Vec<u64> = [0u64, 1, 2, 999_999, 1_000_002]
        .iter()
        .map(|&i| permute(&ones, 1_000_003, i))
        .collect();
    assert_eq!(got, FROZEN_ONES_SEED_N1000003);
}

// Computed by an independent Python implementation of the documented format:
// SHA-256(seed ‖ round ‖ R as u64 BE), first 8 bytes BE, 8 unbalanced rounds, cycle walk.
const FROZEN_ZERO_SEED_N10: [u64; 10] = [6, 4, 0, 1, 2, 9, 7, 5, 3, 8];
const FROZEN_ONES_SEED_N1000003: [u64; 5] = [22_165, 356_666, 139_109, 133_202, 191_759];

#[test]
fn draw_is_roughly_uniform() {
    // Over many seeds, every index lands on every position about equally often.
    const N: u64 = 8;
    const SEEDS: u32 = 4_000;
    let mut counts = [[0u32; N as usize]; N as usize];
    for s in 0..SEEDS {
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&s.to_be_bytes());
        for i in 0..N {
            let p = permute(&seed, N, i);
            counts[i as usize][p as usize] += 1;
        }
    }
    // Expected 500 per cell, standard deviation about 21: 380..620 is > 5 sigma.
    for row in counts {
        for c in row {
            assert!((380..=620).contains(&c), "cell count {c} is far from 500");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn permutation_is_reproducible_and_invertible(seed in any::<[u8; 32]>(), n in 1u64..u64::MAX, i in any::<u64>()) {
        let i = i % n;
        let p = permute(&seed, n, i);
        prop_assert!(p < n);
        prop_assert_eq!(p, permute(&seed, n, i));
        prop_assert_eq!(invert(&seed, n, p), i);
    }

    #[test]
    fn small_domains_are_bijections_for_any_seed(seed in any::<[u8; 32]>(), n in 1u64..600) {
        let mut out: Vec<u64> = (0..n).map(|i| permute(&seed, n, i)).collect();
        out.sort_unstable();
        prop_assert_eq!(out, (0..n).collect::<Vec<_>>());
    }

    #[test]
    fn different_seeds_give_different_orders(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        prop_assume!(a != b);
        // 64! orders: two seeds agreeing on all of them would be a broken round function.
        let order = |s: &[u8; 32]| (0..64).map(|i| permute(s, 64, i)).collect::<Vec<_>>();
        prop_assert_ne!(order(&a), order(&b));
    }

    #[test]
    fn commitments_bind_the_seed(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        let c = seed_commitment(&a);
        prop_assert_eq!(c.len(), 64);
        prop_assert!(verify_seed(&a, &c));
        prop_assert!(verify_seed(&a, &c.to_uppercase()));
        prop_assert_eq!(verify_seed(&b, &c), a == b);
        prop_assert_eq!(queue::seed_from_hex(&queue::seed_to_hex(&a)), Some(a));
    }

    #[test]
    fn position_follows_the_rule(
        seed in any::<[u8; 32]>(),
        n_pre in 0u64..10_000,
        seq in 0u64..20_000,
    ) {
        // FIFO: the join sequence, whatever else is known.
        prop_assert_eq!(position_for(Method::Fifo, seq, None, None), (seq > 0).then_some(seq));
        prop_assert_eq!(position_for(Method::Fifo, seq, Some(n_pre), Some(&seed)), (seq > 0).then_some(seq));
        // Random: nothing before the draw, nothing without a seed for the pre-queue.
        prop_assert_eq!(position_for(Method::Random, seq, None, Some(&seed)), None);
        let pos = position_for(Method::Random, seq, Some(n_pre), Some(&seed));
        if seq == 0 {
            prop_assert_eq!(pos, None);
        } else if seq <= n_pre {
            prop_assert_eq!(pos, Some(permute(&seed, n_pre, seq - 1) + 1));
            prop_assert!((1..=n_pre).contains(&pos.unwrap_or(0)));
            prop_assert_eq!(position_for(Method::Random, seq, Some(n_pre), None), None);
        } else {
            prop_assert_eq!(pos, Some(seq));
        }
    }
}

#[test]
fn random_positions_cover_the_pre_queue_then_continue_fifo() {
    let seed = seed_from(9);
    let n_pre = 1_000;
    let mut positions: Vec<u64> = (1..=1_500)
        .map(|seq| position_for(Method::Random, seq, Some(n_pre), Some(&seed)).expect("drawn"))
        .collect();
    // Later joiners keep their order after the pre-queue.
    assert_eq!(positions[1_000..], (1_001..=1_500).collect::<Vec<_>>()[..]);
    // The pre-queue is really shuffled, not the identity.
    let fixed_points = (1..=n_pre)
        .filter(|&s| positions[(s - 1) as usize] == s)
        .count();
    assert!(fixed_points < 10, "{fixed_points} fixed points");
    positions.sort_unstable();
    assert_eq!(positions, (1..=1_500).collect::<Vec<_>>());
}

// ---------------------------------------------------------------------------------
// Poll interval and ETA
// ---------------------------------------------------------------------------------

proptest! {
    #[test]
    fn poll_stays_in_bounds_and_near_the_table(ahead in any::<u64>(), seed in any::<u64>()) {
        let ms = poll_after_ms(ahead, seed);
        let base = base_poll_ms(ahead);
        prop_assert!((1_000..=60_000).contains(&ms));
        prop_assert!(ms >= base - base / 10 && ms <= base + base / 10);
        prop_assert_eq!(ms, poll_after_ms(ahead, seed));
    }

    #[test]
    fn base_poll_grows_with_distance(a in any::<u64>(), b in any::<u64>()) {
        let (near, far) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(base_poll_ms(near) <= base_poll_ms(far));
    }

    #[test]
    fn eta_is_sane(ahead in 0u64..10_000_000, more in 0u64..1_000, rate in 0.001f64..1e7, faster in 1.0f64..100.0) {
        let eta = eta_seconds(ahead, rate).expect("known rate");
        prop_assert!(eta <= queue::poll::MAX_ETA_SECS);
        prop_assert!(eta_seconds(ahead + more, rate).expect("known") >= eta);
        prop_assert!(eta_seconds(ahead, rate * faster).expect("known") <= eta);
        if ahead > 0 && eta < queue::poll::MAX_ETA_SECS {
            // Rounded up: never promises earlier than the rate allows.
            prop_assert!(eta as f64 >= ahead as f64 * 60.0 / rate - 1e-6);
        }
    }
}
