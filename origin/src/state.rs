//! The state every handler receives. Cheap to clone: everything inside is shared.

use crate::clock::Clock;
use crate::config::Config;
use crate::store::Redis;
use sqlx::PgPool;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub db: PgPool,
    pub redis: Redis,
    pub clock: Clock,
    pub booking: Arc<crate::booking::Booking>,
    pub catalog: Arc<crate::catalog::Catalog>,
    pub payments: Arc<crate::payments::Payments>,
    pub queue: Arc<crate::queue::Queue>,
    pub auth: Arc<crate::auth::Auth>,
    pub uploads: Arc<crate::uploads::Uploads>,
}
