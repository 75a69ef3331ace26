//! Logic that the edge workers (Cloudflare, Spin) and the origin share bit for bit.
//!
//! Everything here is pure: no async runtime, no I/O, no clock. Callers pass the current
//! time in, which keeps every function deterministic and testable on all three targets
//! (native, `wasm32-unknown-unknown`, `wasm32-wasip2`).
//!
//! | module    | what                                                                   |
//! |-----------|------------------------------------------------------------------------|
//! | [`token`] | Ed25519 JWS tokens: tickets, passes, entry, access, QR                 |
//! | [`queue`] | serving counter (anchors), random draw, poll interval and wait estimate |
//! | [`rules`] | per-event waiting-room rules pushed from the origin to the edges       |
//! | [`edge`]  | all platform-independent edge behaviour: routes, guard, join/status, page |
//! | [`client_ip`] | the edge's MACed attestation of the client IP, verified by the origin |

pub mod client_ip;
pub mod edge;
pub mod queue;
pub mod rules;
pub mod token;
