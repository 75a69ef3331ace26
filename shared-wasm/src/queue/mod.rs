//! Pure waiting-room policy: what the edge (tier 1) and the origin (tier 2) compute
//! identically from counters, rules and the time they are given.
//!
//! | module      | answers                                                              |
//! |-------------|----------------------------------------------------------------------|
//! | [`serving`] | how far the tier-1 serving counter has advanced at `now` (anchors)   |
//! | [`draw`]    | which position each pre-queue visitor drew, and how to verify it     |
//! | [`poll`]    | when a waiting visitor should poll again, and their estimated wait   |
//!
//! The everyday items are re-exported here, so callers write
//! `shared_wasm::queue::serving_at` rather than the full path.
//!
//! # Units
//!
//! * Serving anchors and `now_ms`: **Unix milliseconds** (`i64`). Per-second
//!   granularity would make a rate of 1,000,000 per minute jump by 16,666 at a time.
//! * Rules ([`crate::rules`]) and tokens: **Unix seconds** (`i64`), like JWT claims;
//!   [`ServingAnchor::opening`] does the conversion.
//! * Rates: positions **per minute**, as in the rules' `new_users_per_minute`.
//! * Poll intervals: milliseconds (`u32`); wait estimates: seconds (`u64`).
//!
//! Nothing here reads a clock, draws a random number or does I/O: the caller passes
//! `now`, jitter seeds and draw seeds in, so every target computes the same answers.

pub mod draw;
pub mod poll;
pub mod serving;

pub use draw::{
    DrawPublication, Seed, invert, permute, position_for, seed_commitment, seed_from_hex,
    seed_to_hex, verify_seed,
};
pub use poll::{base_poll_ms, eta_seconds, poll_after_ms};
pub use serving::{
    ServingAnchor, anchor_on_join, anchor_on_rate_change, is_served, people_ahead, served_at_ms,
    serving_at,
};
