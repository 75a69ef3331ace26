//! Integration tests: each test spawns the real origin on a random port, with its own
//! Postgres database (cloned from a migrated template) and its own Redis key prefix,
//! and talks to it over HTTP. One test binary so the crate links once.

mod client;
mod fixtures;
mod helpers;

mod auth;
mod booking;
mod catalog;
mod community;
mod demo;
mod door;
mod hardening;
mod memberships;
mod operators;
mod outbox;
mod payments;
mod platform;
mod queue;
mod resale;
mod stats;
mod uploads;
mod web;
