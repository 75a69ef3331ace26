//! Booking: seat and standing reservations that never sell anything twice.
//!
//! - `request`: the first gate, what the fan asks for checked against the event;
//! - `create`: the three gates in order (validation, the Redis filter in `holds`, the
//!   Postgres authority written by `writer` with group commit of concurrent holds);
//! - `reservations`: reads, the caller's list, the caller's cancel;
//! - `inventory`: [`release_redis`] and the one way inventory goes back (cancel,
//!   expiry, event cancellation and refunds all use it);
//! - `payment_hooks`: the only functions payments calls ([`lock`],
//!   [`hold_for_payment`], [`confirm_held`], [`refund_confirmed`]);
//! - `holds`: the Redis scripts (`*.lua` beside this file), all keys of an event
//!   under one hash tag;
//! - `sweeper`: expiry of unpaid holds, safe on many replicas;
//! - `seatmap`: the ~1 s snapshot behind `GET /events/{id}/seats`;
//! - `figures`: read-only sales figures and the operator's reservation list, for the
//!   consoles;
//! - `routes`: the HTTP handlers.
//!
//! Booking never reads the payments table. Whether a payment is being confirmed for a
//! hold (such a hold must not expire or be cancelled: the money may already be taken)
//! is asked through [`PaymentsInFlight`], which payments implements and `app` wires.
//!
//! Timers: a hold lasts `URR_HOLD_SECS` (300 s) in Postgres; its Redis key lives
//! `URR_HOLD_MARGIN_SECS` (30 s) longer so Redis never frees a seat Postgres still
//! holds; the sweeper deletes the key (compare-and-delete) when it expires the hold.
//! A repeated identical request extends the hold, up to `URR_HOLD_MAX_SECS` (900 s)
//! after its creation.

mod cache;
mod config;
mod create;
mod figures;
mod holds;
mod inventory;
mod model;
mod payment_hooks;
mod request;
mod reservations;
mod routes;
mod seatmap;
mod sweeper;
mod writer;

pub use config::BookingConfig;
pub use figures::{
    AdminReservation, OpenOrders, PlatformTotals, ReservationFilter, SalesFigures,
    admin_reservations, open_orders, platform_totals, sales_figures,
};
pub use inventory::{Closed, cancel_event_holds, release_redis};
pub use model::{Order, Reservation, ReservationStatus};
pub use payment_hooks::{
    PayableHold, PaymentsInFlight, confirm_held, hold_for_payment, lock, refund_confirmed,
};
pub use reservations::{cancel_pending, fetch, fetch_for, has_sales};
pub use seatmap::MAX_EVENTS as SEAT_MAPS_CACHED;
pub use sweeper::{expire_due, sweep};

use crate::state::AppState;
use crate::workers::Workers;
use std::sync::Arc;
use std::time::Duration;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Booking's share of the app state.
pub struct Booking {
    pub seatmaps: seatmap::SeatMapCache,
    pub(crate) events: cache::EventCache,
    pub writer: Arc<writer::HoldWriter>,
    /// Payments' side of "is this hold being paid for?" (see [`PaymentsInFlight`]).
    pub(crate) payments_in_flight: Arc<dyn PaymentsInFlight>,
}

impl Booking {
    pub fn new(
        config: &crate::booking::BookingConfig,
        payments_in_flight: Arc<dyn PaymentsInFlight>,
    ) -> Booking {
        Booking {
            seatmaps: Default::default(),
            events: cache::EventCache::new(config.event_cache_ttl),
            writer: Arc::new(writer::HoldWriter::new(config.writers, config.write_batch)),
            payments_in_flight,
        }
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(routes::seat_availability))
        .routes(routes!(routes::create_reservation))
        .routes(routes!(routes::get_reservation, routes::cancel_reservation))
        .routes(routes!(routes::my_reservations))
}

/// Registers the expiry sweeper and the stock-gate resync.
pub fn start_workers(state: &AppState, workers: &mut Workers) {
    let s = state.clone();
    workers.every(
        "booking_expiry",
        state.config.booking.sweep_interval,
        move || {
            let s = s.clone();
            async move { sweeper::sweep(&s).await.map(|_| ()) }
        },
    );
    let s = state.clone();
    workers.every("booking_stock_resync", Duration::from_secs(30), move || {
        let s = s.clone();
        async move { sweeper::resync_stock_gates(&s).await }
    });
}
