//! The URR origin: one axum service that owns everything that must be exactly right.
//!
//! Module map (each folder is one business capability with its routes, SQL, Redis
//! scripts and tests; modules talk to each other only through `pub` service APIs):
//!
//! - [`auth`]: accounts, passwords, access/refresh tokens, Google sign-in.
//! - [`catalog`]: artists, venues, seat layouts, events, ticket types, sale windows.
//! - [`booking`]: seat and standing holds, expiry, live seat maps.
//! - [`payments`]: Toss confirm, refunds, reconciliation, webhooks.
//! - [`tickets`]: issued tickets and their signed QR payloads.
//! - [`outbox`]: events written with the change they announce, relayed to Redis Streams.
//!
//! Platform pieces: [`config`] (typed `URR_*` settings), [`app`] (wiring and serving),
//! [`http`] (problem+json errors, extractors, middleware), [`store`] (Redis with a key
//! prefix), [`clock`] (injectable time), [`telemetry`], [`health`], [`openapi`].

pub mod app;
pub mod auth;
pub mod booking;
pub mod cache;
pub mod catalog;
pub mod clock;
pub mod config;
pub mod demo;
pub mod health;
pub mod http;
pub mod lifecycle;
pub mod openapi;
pub mod outbox;
pub mod payments;
pub mod queue;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tickets;
pub mod workers;

pub use app::Application;
pub use config::Config;
pub use http::problem::ApiError;
pub use state::AppState;
