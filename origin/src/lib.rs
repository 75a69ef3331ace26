//! The URR origin: one axum service that owns everything that must be exactly right.
//!
//! Module map. Each capability module is a folder with its routes, SQL, Redis scripts,
//! settings (`config.rs`) and error codes; its submodules are private and its `mod.rs`
//! re-exports the small surface other modules may use. A module uses only modules
//! listed before it (`cargo xtask test` fails on a dependency cycle):
//!
//! - [`auth`]: accounts, passwords, access/refresh tokens, revocation, Google sign-in,
//!   rate limits.
//! - [`uploads`]: poster and artist images, checked, cleaned and stored.
//! - [`outbox`]: events written with the change they announce, relayed to Redis Streams.
//! - [`catalog`]: artists, venues, seat layouts, events, ticket types, sale windows.
//! - [`queue`]: the tier-2 waiting line, entry tokens, the edge rules and their pushes.
//! - [`booking`]: seat and standing holds, expiry, live seat maps, the payment hooks.
//! - [`tickets`]: issued tickets, signed QR payloads, door check-ins.
//! - [`payments`]: Toss confirm, refunds, reconciliation, webhooks.
//! - [`lifecycle`]: changes to an event that reach across the others (edits once
//!   tickets are sold, cancellation).
//! - [`stats`]: exact figures from the event streams and the queue's counters.
//!
//! Platform pieces, usable by all: [`audit`] (who changed what, in the changing
//! transaction), [`config`] (typed `URR_*` settings), [`http`]
//! (problem+json errors and their [`http::Code`] table, extractors, pagination,
//! middleware), [`store`] (Redis with a key prefix), [`cache`] (the one in-memory cache
//! type), [`clock`] (injectable time), [`telemetry`], [`health`], [`openapi`],
//! [`workers`] (background jobs), [`state`]. [`app`] and [`demo`] wire everything.

pub mod app;
pub mod audit;
pub mod auth;
pub mod booking;
pub mod cache;
pub mod catalog;
pub mod clock;
pub mod community;
pub mod config;
pub mod console;
pub mod demo;
pub mod health;
pub mod http;
pub mod lifecycle;
pub mod memberships;
pub mod openapi;
pub mod outbox;
pub mod payments;
pub mod queue;
pub mod resale;
pub mod state;
pub mod stats;
pub mod store;
pub mod telemetry;
pub mod tickets;
pub mod uploads;
pub mod web;
pub mod workers;

pub use app::Application;
pub use config::Config;
pub use http::problem::ApiError;
pub use state::AppState;
