//! Logic that the edge workers (Cloudflare, Spin) and the origin share bit for bit.
//!
//! Everything here is pure: no async runtime, no I/O, no clock. Callers pass the current
//! time in, which keeps every function deterministic and testable on all three targets
//! (native, `wasm32-unknown-unknown`, `wasm32-wasip2`).

pub mod token;
