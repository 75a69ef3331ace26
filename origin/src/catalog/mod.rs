//! Artists, venues, seat layouts, events, ticket types and sale windows.
//!
//! One source of truth for what is on sale: events and their inventory live in one
//! database (two copies drift apart, and then a sold-out show still looks available).
//! Highlights:
//!
//! - **Status is derived, never stored** ([`event_status`]): `cancelled` if
//!   `cancelled_at` is set, else `upcoming` / `on_sale` / `ended` from the sale window
//!   and the show time against `state.clock`. It cannot go stale, and tests move the
//!   clock instead of waiting for a job.
//! - **Seats are generated once** from a seat layout when the event is created (one
//!   `UNNEST` insert), with optional per-section/grade price overrides.
//! - **Ticket types** are quantity counters: booking moves `available_quantity` in its
//!   hold and release transactions (conditional, never below zero, never above the
//!   total); promoters move the total with one conditional UPDATE.
//! - **Lists use keyset pagination** (`page`), stable while rows are inserted.
//! - **Bilingual search**: artists have `name`, `name_en` and `aliases`; `q` matches
//!   all of them.
//!
//! Other modules use the `pub` functions re-exported here (status, lookups, stock,
//! ownership), never the tables' internals.

mod artists;
pub mod cache;
pub mod demo;
mod events;
pub mod layout;
mod model;
mod presale;
mod queue_mode;
mod seat_layouts;
mod ticket_types;
mod validate;
mod venues;

pub use cache::Catalog;
pub use demo::{DemoCatalog, seed_demo_catalog};
pub use events::{EventDetail, EventListItem, EventPath, UpdateEvent};
pub(crate) use events::{
    apply_edit, check_edit, check_version, event_cancelled, if_match, load_detail, lock_for_write,
    mark_cancelled,
};
pub use layout::{
    BuiltinLayout, LARGE_THEATER, LayoutConfig, SMALL_THEATER, SPORTS_STADIUM, SectionConfig,
    builtin_layouts, ensure_builtin_layouts,
};
pub use model::{
    EventRecord, EventStatus, ManagedEvent, SeatRecord, TicketTypeRecord, authorize_event_manager,
    ensure_owner, event_counts, event_not_found, event_status, find_event, find_seats,
    find_ticket_type, list_seats, list_ticket_types, managed_events,
};
pub use presale::{
    FanWindow, NoPresales, PresaleOffsets, PresaleSchedule, PresaleWindow, Presales, Tier,
    fan_window,
};
pub use queue_mode::{NoQueues, QueueMode, QueueModes};
pub use validate::MAX_PRICE;

use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

/// The catalog routes (public reads, promoter/admin writes), all under `/api/v1`.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events::list, events::create))
        .routes(routes!(events::get, events::delete))
        .routes(routes!(ticket_types::list, ticket_types::create))
        .routes(routes!(
            ticket_types::get,
            ticket_types::update,
            ticket_types::delete
        ))
        .routes(routes!(artists::list, artists::create))
        .routes(routes!(artists::get, artists::update, artists::delete))
        .routes(routes!(venues::list, venues::create))
        .routes(routes!(venues::get, venues::update, venues::delete))
        .routes(routes!(seat_layouts::list, seat_layouts::create))
        .routes(routes!(seat_layouts::get))
}
