//! `urr-origin seed-demo`: the demo data `cargo xtask dev` starts with.
//!
//! Accounts (all with the password from `URR_DEMO_PASSWORD`, default `urr-demo-1234`):
//! `admin@urr.local` (admin), `promoter@urr.local` (promoter), `fan1@urr.local` …
//! `fan9@urr.local` (fans); then the catalog's demo artists, venues (the three shipped
//! layouts) and events.
//!
//! Idempotent: every run leaves the same accounts and events. Demo events are dated
//! relative to the first seeding; later runs move them by the time that has passed, so
//! "on sale now" stays on sale however old the database is.

use crate::auth::{self, CreateUserError, PasswordParams};
use crate::catalog::{self, DemoCatalog};
use crate::clock::Clock;
use crate::config::Config;
use anyhow::{Context, Result};
use shared_wasm::rules::EdgeRules;
use shared_wasm::token::Role;
use sqlx::PgPool;
use uuid::Uuid;

pub const DEFAULT_PASSWORD: &str = "urr-demo-1234";

/// What was seeded, for the banner.
pub struct DemoSummary {
    pub accounts: Vec<(String, Role)>,
    pub catalog: DemoCatalog,
}

pub async fn seed(
    db: &PgPool,
    clock: &Clock,
    config: &Config,
    password: &str,
) -> Result<DemoSummary> {
    let params = PasswordParams::from_config(&config.auth);
    let mut accounts = vec![
        (
            "admin@urr.local".to_owned(),
            "관리자 Admin".to_owned(),
            Role::Admin,
        ),
        (
            "promoter@urr.local".to_owned(),
            "프로모터 Promoter".to_owned(),
            Role::Promoter,
        ),
    ];
    for i in 1..=9 {
        accounts.push((
            format!("fan{i}@urr.local"),
            format!("팬{i} Fan {i}"),
            Role::Fan,
        ));
    }
    let mut promoter = None;
    for (email, name, role) in &accounts {
        let id = ensure_account(db, clock, params, email, password, name, *role).await?;
        if *role == Role::Promoter {
            promoter = Some(id);
        }
    }
    let promoter = promoter.context("the demo promoter account")?;
    let catalog = catalog::seed_demo_catalog(db, clock, promoter).await?;
    redate(db, clock, &catalog).await?;
    for (event, edge_tier) in [
        (catalog.event_queued_edge, true),
        (catalog.event_queued_origin, false),
    ] {
        let opens: chrono::DateTime<chrono::Utc> =
            sqlx::query_scalar("SELECT sale_opens_at FROM events WHERE id = $1")
                .bind(event)
                .fetch_one(db)
                .await?;
        let mut rules = EdgeRules::default_for(event, opens.timestamp());
        // Small, so that waiting is visible with a handful of browsers.
        rules.max_active = 2;
        rules.new_users_per_minute = 30;
        rules.active_slot_secs = 300;
        crate::queue::store_rules(db, clock, event, rules, edge_tier).await?;
    }
    seed_memberships(db, clock, &catalog).await?;
    Ok(DemoSummary {
        accounts: accounts.into_iter().map(|(e, _, r)| (e, r)).collect(),
        catalog,
    })
}

/// IU's fan club: fan1 DIAMOND, fan2 GOLD, fan3 SILVER, the other fans none. The
/// artist events on sale now open to everyone at once (so every demo flow can book
/// them); IU's presale event (…209) keeps a member presale: DIAMOND from its opening,
/// GOLD an hour later, SILVER a day later, everyone two days after its opening.
async fn seed_memberships(db: &PgPool, clock: &Clock, c: &DemoCatalog) -> Result<()> {
    let everyone_at_once = catalog::PresaleOffsets {
        diamond_mins: 0,
        gold_mins: 0,
        silver_mins: 0,
        general_mins: 0,
    };
    let mut schedules = vec![(
        c.event_member_presale,
        catalog::PresaleOffsets {
            diamond_mins: 0,
            gold_mins: 60,
            silver_mins: 24 * 60,
            general_mins: 50 * 60,
        },
    )];
    for event in [
        c.event_on_sale_seated,
        c.event_standing,
        c.event_queued_edge,
        c.event_queued_origin,
    ] {
        schedules.push((event, everyone_at_once));
    }
    for (event, offsets) in schedules {
        crate::memberships::set_schedule(db, clock, event, offsets).await?;
    }
    for (email, points) in [
        ("fan1@urr.local", 1_600),
        ("fan2@urr.local", 600),
        ("fan3@urr.local", 200),
    ] {
        let user: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE lower(email) = $1")
            .bind(email)
            .fetch_one(db)
            .await?;
        crate::memberships::seed_member(db, clock, user, c.artist_iu, points).await?;
    }
    Ok(())
}

async fn ensure_account(
    db: &PgPool,
    clock: &Clock,
    params: PasswordParams,
    email: &str,
    password: &str,
    name: &str,
    role: Role,
) -> Result<Uuid> {
    match auth::create_user(db, clock, params, email, password, name, role).await {
        Ok(id) => Ok(id),
        Err(CreateUserError::EmailTaken) => {
            // Keep the demo promise: the account has this role and this password.
            let hash = auth::hash_password(params, password.to_owned()).await?;
            let id: Uuid = sqlx::query_scalar(
                "UPDATE users SET role = $2, password_hash = $3, updated_at = $4
                 WHERE lower(email) = lower($1) RETURNING id",
            )
            .bind(email)
            .bind(role.as_str())
            .bind(hash)
            .bind(clock.now())
            .fetch_one(db)
            .await?;
            Ok(id)
        }
        Err(e) => Err(anyhow::anyhow!("creating demo account {email}: {e}")),
    }
}

/// Shifts every demo event by the time since the first seeding.
async fn redate(db: &PgPool, clock: &Clock, c: &DemoCatalog) -> Result<()> {
    let mut ids = vec![
        c.event_on_sale_seated,
        c.event_upcoming_presale,
        c.event_standing,
    ];
    ids.extend(&c.events_upcoming);
    ids.extend([
        c.event_queued_edge,
        c.event_queued_origin,
        c.event_member_presale,
    ]);
    let seeded_at: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT created_at FROM events WHERE id = $1")
            .bind(c.event_on_sale_seated)
            .fetch_one(db)
            .await?;
    // Whole seconds: Postgres intervals stop at microseconds.
    let shift = chrono::Duration::seconds((clock.now() - seeded_at).num_seconds());
    if shift < chrono::Duration::minutes(10) {
        return Ok(());
    }
    sqlx::query(
        "UPDATE events SET starts_at = starts_at + $2, ends_at = ends_at + $2,
                sale_opens_at = sale_opens_at + $2, sale_closes_at = sale_closes_at + $2,
                created_at = created_at + $2, version = version + 1
         WHERE id = ANY($1) AND cancelled_at IS NULL",
    )
    .bind(&ids)
    .bind(shift)
    .execute(db)
    .await?;
    Ok(())
}
