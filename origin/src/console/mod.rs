//! The consoles' read models: a promoter's events with their live sale counters, and
//! the operator's dashboard and reservation search. Nothing here writes; every figure
//! comes from the module that owns it (catalog's events, booking's sales figures), and
//! this module only composes them and decides who may see what.
//!
//! | route | who |
//! |-------|-----|
//! | `GET /api/v1/promoter/events` | a promoter (own events) or an admin (all) |
//! | `GET /api/v1/admin/dashboard` | admins |
//! | `GET /api/v1/admin/reservations` | admins |
//! | `GET /api/v1/admin/audit` | admins |

mod admin;
mod audit;
mod promoter;

use crate::state::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(promoter::my_events))
        .routes(routes!(admin::dashboard))
        .routes(routes!(admin::reservations))
        .routes(routes!(audit::audit_log))
}
