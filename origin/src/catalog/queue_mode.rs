//! How an event queues, as its detail tells clients: through the edge waiting room,
//! through the origin's own line, or not at all. The booking button of a page depends
//! on it (`/e/{id}`, `/events/{id}/queue`, or straight to seats).
//!
//! The answer comes from the queue module, which sits above the catalog; the catalog
//! only declares the question ([`QueueModes`]) and `app` wires queue's answer in.

use futures::future::BoxFuture;
use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;
use uuid::Uuid;

/// How fans reach the booking pages of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueueMode {
    /// The edge waiting room first (`/e/{id}`), then the origin's line.
    Edge,
    /// The origin's line only (`/events/{id}/queue`), ordered by arrival.
    Origin,
    /// No queue: fans book directly.
    None,
}

/// The queue module's answer to "how does this event queue?".
pub trait QueueModes: Send + Sync + 'static {
    fn mode<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: Uuid,
    ) -> BoxFuture<'a, sqlx::Result<QueueMode>>;
}

/// For a catalog without a queue (nothing queues).
pub struct NoQueues;

impl QueueModes for NoQueues {
    fn mode<'a>(
        &'a self,
        _conn: &'a mut PgConnection,
        _event: Uuid,
    ) -> BoxFuture<'a, sqlx::Result<QueueMode>> {
        Box::pin(async { Ok(QueueMode::None) })
    }
}
