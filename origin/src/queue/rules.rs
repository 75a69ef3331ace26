//! Promoter edge rules: `GET/PUT /api/v1/events/{event_id}/edge-rules`, and their
//! delivery to every configured edge.
//!
//! A PUT stores the rules (versioned: the body names the version it creates, which must
//! be the stored one plus one, so two promoters editing at once cannot overwrite each
//! other silently) and, in the same transaction, one `edge_rule_deliveries` row per edge:
//! a transactional outbox. The PUT then tries each edge once, at once, and answers with
//! what each acknowledged; the pusher job retries the rest with backoff until every edge
//! has acknowledged the current version (or a newer one).
//!
//! Rules travel as a `RulesClaims` token signed with the origin key; the edge verifies
//! it with the origin public key set and keeps only versions newer than its own.

use super::settings::{self, QueueSettings};
use crate::auth::AuthUser;
use crate::catalog::authorize_event_manager;
use crate::http::Code;
use crate::http::{ApiError, ApiResult, FieldError, Json, Path};
use crate::state::AppState;
use anyhow::Context;
use axum::extract::State;
use chrono::{DateTime, Utc};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared_wasm::queue::{seed_commitment, seed_from_hex, seed_to_hex};
use shared_wasm::rules::{EdgeRules, Method, PresaleOpening, PresaleTier};
use shared_wasm::token::{self, RulesClaims};
use sqlx::Row;
use std::time::Duration;
use utoipa::ToSchema;
use uuid::Uuid;

/// How long a pushed rules token verifies (it is applied at once, or pushed again).
const PUSH_TOKEN_SECS: i64 = 300;
/// A claimed delivery is not retried by another replica for this long.
const LEASE_SECS: i64 = 30;
/// Longest wait between two attempts at one edge.
const MAX_BACKOFF_SECS: i64 = 60;
/// Per-request timeout of a push.
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// `PUT /edge-rules` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutEdgeRules {
    /// The rules (the edge's `EdgeRules` JSON). `version` must be the stored version
    /// plus one (1 for the first); `event_id` must be the event of the path;
    /// `draw_seed_commitment` is set by the server for the random draw.
    pub rules: EdgeRules,
    /// Whether the edge waiting room runs in front of tier 2 (default true). Without it
    /// fans join the origin's line directly, in arrival order.
    #[serde(default = "yes")]
    pub edge_tier: bool,
}

fn yes() -> bool {
    true
}

/// One edge's delivery state.
#[derive(Debug, Serialize, ToSchema)]
pub struct Delivery {
    pub edge_url: String,
    /// The version being delivered.
    pub version: i64,
    /// The newest version this edge acknowledged (0: none yet).
    pub acked_version: i64,
    pub acked_at: Option<DateTime<Utc>>,
    pub attempts: i32,
    pub last_error: Option<String>,
}

/// An event's edge rules and where they have reached.
#[derive(Debug, Serialize, ToSchema)]
pub struct EdgeRulesView {
    pub event_id: Uuid,
    pub version: i64,
    pub rules: EdgeRules,
    pub edge_tier: bool,
    pub updated_at: DateTime<Utc>,
    /// One entry per configured edge (`URR_EDGE_URLS`).
    pub deliveries: Vec<Delivery>,
    /// True when every configured edge has acknowledged `version`.
    pub delivered: bool,
}

pub(super) async fn view(state: &AppState, event_id: Uuid) -> ApiResult<EdgeRulesView> {
    let row = sqlx::query(
        "SELECT rules, edge_tier, draw_seed, version, updated_at FROM event_queues \
         WHERE event_id = $1",
    )
    .bind(event_id)
    .fetch_optional(&state.db)
    .await?
    .ok_or_else(|| {
        ApiError::new(
            Code::EDGE_RULES_NOT_SET,
            "this event has no queue rules yet; PUT them to create its waiting room",
        )
    })?;
    let version: i64 = row.try_get("version")?;
    let updated_at: DateTime<Utc> = row.try_get("updated_at")?;
    let s = settings::from_row(row)?;
    let deliveries: Vec<Delivery> = sqlx::query(
        "SELECT edge_url, version, acked_version, acked_at, attempts, last_error \
         FROM edge_rule_deliveries WHERE event_id = $1 ORDER BY edge_url",
    )
    .bind(event_id)
    .fetch_all(&state.db)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Delivery {
            edge_url: r.try_get("edge_url")?,
            version: r.try_get("version")?,
            acked_version: r.try_get("acked_version")?,
            acked_at: r.try_get("acked_at")?,
            attempts: r.try_get("attempts")?,
            last_error: r.try_get("last_error")?,
        })
    })
    .collect::<sqlx::Result<_>>()?;
    let delivered = deliveries.iter().all(|d| d.acked_version >= version);
    Ok(EdgeRulesView {
        event_id,
        version,
        rules: s.rules,
        edge_tier: s.edge_tier,
        updated_at,
        deliveries,
        delivered,
    })
}

crate::problems!(
    GetRulesProblems: [codes::AUTH, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND, EDGE_RULES_NOT_SET,
);

/// The event's waiting-room rules and which version each edge has acknowledged.
#[utoipa::path(get, path = "/api/v1/events/{event_id}/edge-rules", tag = "queue",
    params(("event_id" = Uuid, Path, description = "Event id")),
    security(("bearer" = [])),
    responses(
        (status = 200, body = EdgeRulesView),
        GetRulesProblems))]
async fn get_rules(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
) -> ApiResult<Json<EdgeRulesView>> {
    authorize_event_manager(&state.db, &user, event_id).await?;
    Ok(Json(view(&state, event_id).await?))
}

crate::problems!(
    PutRulesProblems: [codes::AUTH, codes::JSON_BODY, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND, RULES_VERSION_CONFLICT, EVENT_CANCELLED,
    RULES_EVENT_MISMATCH,
);

/// Creates or replaces the event's waiting-room rules (mode, FIFO or random draw,
/// pre-queue and sale times, admission rate, tier-2 capacity and slot length,
/// protected paths, page template). They take effect at the origin within a second and
/// are pushed to every edge; the answer shows which edges acknowledged.
#[utoipa::path(put, path = "/api/v1/events/{event_id}/edge-rules", tag = "queue",
    params(("event_id" = Uuid, Path, description = "Event id")),
    request_body = PutEdgeRules,
    security(("bearer" = [])),
    responses(
        (status = 200, body = EdgeRulesView),
        PutRulesProblems))]
async fn put_rules(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
    Json(body): Json<PutEdgeRules>,
) -> ApiResult<Json<EdgeRulesView>> {
    authorize_event_manager(&state.db, &user, event_id).await?;
    let mut rules = body.rules;
    if rules.event_id != event_id {
        return Err(ApiError::new(
            Code::RULES_EVENT_MISMATCH,
            format!("rules.event_id must be {event_id}, the event of the path"),
        ));
    }
    if !body.edge_tier && rules.method == Method::Random {
        return Err(ApiError::validation(
            "rules.method",
            "the random draw runs at the edge: it needs edge_tier = true",
        ));
    }
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    refuse_if_cancelled(&mut tx, event_id).await?;
    let current =
        sqlx::query("SELECT version, draw_seed FROM event_queues WHERE event_id = $1 FOR UPDATE")
            .bind(event_id)
            .fetch_optional(&mut *tx)
            .await?;
    let (current_version, seed): (i64, Option<String>) = match current {
        Some(r) => (r.try_get("version")?, r.try_get("draw_seed")?),
        None => (0, None),
    };
    let expected = current_version as u64 + 1;
    if rules.version != expected {
        return Err(ApiError::new(
            Code::RULES_VERSION_CONFLICT,
            format!(
                "rules.version must be {expected} (the stored version is {current_version}); \
                 reload the rules and apply your change again"
            ),
        )
        .with("current_version", current_version));
    }
    // The draw's seed is made once per event and kept: its commitment is what fans
    // re-check the draw against, so it must not change once published.
    let seed = match seed.as_deref().and_then(seed_from_hex) {
        Some(s) => s,
        None => {
            let mut s = [0u8; 32];
            rand::rngs::OsRng.fill_bytes(&mut s);
            s
        }
    };
    rules.draw_seed_commitment = (rules.method == Method::Random).then(|| seed_commitment(&seed));
    rules.presale = presale_openings(&state, &mut tx, event_id).await?;
    check_rules(&rules)?;
    sqlx::query(
        "INSERT INTO event_queues (event_id, rules, version, edge_tier, draw_seed, updated_by, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (event_id) DO UPDATE SET rules = $2, version = $3, edge_tier = $4, \
           draw_seed = $5, updated_by = $6, updated_at = $7",
    )
    .bind(event_id)
    .bind(sqlx::types::Json(&rules))
    .bind(rules.version as i64)
    .bind(body.edge_tier)
    .bind(seed_to_hex(&seed))
    .bind(user.id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if rules.new_users_per_minute > 0 {
        // A rate set by hand ends a pause.
        sqlx::query("UPDATE event_queues SET paused_rate = NULL WHERE event_id = $1")
            .bind(event_id)
            .execute(&mut *tx)
            .await?;
    }
    crate::audit::record(
        &mut tx,
        user.actor(),
        crate::audit::Change::new("event.rules_changed", "event", event_id).after(json!({
            "version": rules.version,
            "mode": rules.mode,
            "method": rules.method,
            "new_users_per_minute": rules.new_users_per_minute,
            "max_active": rules.max_active,
            "edge_tier": body.edge_tier,
        })),
        now,
    )
    .await?;
    for url in &state.config.queue.edge_urls {
        sqlx::query(
            "INSERT INTO edge_rule_deliveries (event_id, edge_url, version, next_attempt_at) \
             VALUES ($1, $2, $3, $4) \
             ON CONFLICT (event_id, edge_url) DO UPDATE SET version = $3, \
               next_attempt_at = $4, attempts = 0, last_error = NULL",
        )
        .bind(event_id)
        .bind(url)
        .bind(rules.version as i64)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    state.queue.settings.forget(event_id).await;
    tracing::info!(%event_id, version = rules.version, mode = ?rules.mode, "edge rules changed");
    if let Err(e) = push_due(&state, Some(event_id)).await {
        tracing::warn!(%event_id, error = ?e, "immediate rules push failed; the pusher retries");
    }
    Ok(Json(view(&state, event_id).await?))
}

/// Inside a transaction about to write `event`'s rules: 409 `EVENT_CANCELLED` if it is
/// cancelled. FOR SHARE waits for a cancellation in progress (it locks the row FOR
/// UPDATE), so either we see it and refuse, or it sees our version and writes `reject`
/// after it.
pub(super) async fn refuse_if_cancelled(
    conn: &mut sqlx::PgConnection,
    event: Uuid,
) -> ApiResult<()> {
    let cancelled: Option<Option<DateTime<Utc>>> =
        sqlx::query_scalar("SELECT cancelled_at FROM events WHERE id = $1 FOR SHARE")
            .bind(event)
            .fetch_optional(&mut *conn)
            .await?;
    if matches!(cancelled, Some(Some(_))) {
        return Err(ApiError::new(
            Code::EVENT_CANCELLED,
            "the event is cancelled: its waiting room stays closed",
        ));
    }
    Ok(())
}

/// 422 naming every invalid field as `rules.<field>`.
pub(super) fn check_rules(rules: &EdgeRules) -> ApiResult<()> {
    let Err(errors) = rules.validate() else {
        return Ok(());
    };
    let errors = errors
        .into_iter()
        .map(|e| FieldError {
            field: format!("rules.{}", e.field),
            message: e.message,
        })
        .collect();
    Err(ApiError::from_field_errors(errors)
        .unwrap_or_else(|| ApiError::validation("rules", "invalid")))
}

pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new().routes(routes!(get_rules, put_rules))
}

/// Adds a delivery row for every configured edge that lacks one (an edge added to
/// `URR_EDGE_URLS` later still receives every event's rules).
async fn ensure_deliveries(state: &AppState) -> sqlx::Result<()> {
    if state.config.queue.edge_urls.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO edge_rule_deliveries (event_id, edge_url, version, next_attempt_at) \
         SELECT q.event_id, u.url, q.version, $2 FROM event_queues q, unnest($1::text[]) AS u(url) \
         ON CONFLICT DO NOTHING",
    )
    .bind(&state.config.queue.edge_urls)
    .bind(state.clock.now())
    .execute(&state.db)
    .await?;
    Ok(())
}

/// Delivers every due rules push (of one event, or all), each edge concurrently.
/// Returns how many edges acknowledged.
pub async fn push_due(state: &AppState, only: Option<Uuid>) -> anyhow::Result<usize> {
    if only.is_none() {
        ensure_deliveries(state).await?;
    }
    let now = state.clock.now();
    // Claim with a lease: another replica skips these rows until it lapses.
    let due = sqlx::query(
        "UPDATE edge_rule_deliveries d SET next_attempt_at = $1 + make_interval(secs => $3), \
           attempts = d.attempts + 1 \
         FROM (SELECT event_id, edge_url FROM edge_rule_deliveries \
               WHERE acked_version < version AND next_attempt_at <= $1 \
                 AND ($2::uuid IS NULL OR event_id = $2) \
               ORDER BY next_attempt_at LIMIT 100 FOR UPDATE SKIP LOCKED) due \
         WHERE d.event_id = due.event_id AND d.edge_url = due.edge_url \
         RETURNING d.event_id, d.edge_url, d.attempts",
    )
    .bind(now)
    .bind(only)
    .bind(LEASE_SECS as f64)
    .fetch_all(&state.db)
    .await?;
    let attempts = due.into_iter().map(|r| {
        let event: Uuid = r.get("event_id");
        let url: String = r.get("edge_url");
        let attempts: i32 = r.get("attempts");
        async move { deliver(state, event, url, attempts).await }
    });
    let results = futures::future::join_all(attempts).await;
    Ok(results.into_iter().filter(|ok| *ok).count())
}

/// One push of the event's current rules to one edge; records the outcome.
async fn deliver(state: &AppState, event: Uuid, url: String, attempts: i32) -> bool {
    let outcome = push_once(state, event, &url).await;
    let now = state.clock.now();
    let recorded = match &outcome {
        Ok(version) => {
            metrics::counter!("urr_edge_rules_pushes_total", "outcome" => "acked").increment(1);
            sqlx::query(
                "UPDATE edge_rule_deliveries SET acked_version = GREATEST(acked_version, $3), \
                   acked_at = $4, last_error = NULL, attempts = 0 \
                 WHERE event_id = $1 AND edge_url = $2",
            )
            .bind(event)
            .bind(&url)
            .bind(*version)
            .bind(now)
            .execute(&state.db)
            .await
        }
        Err(e) => {
            metrics::counter!("urr_edge_rules_pushes_total", "outcome" => "failed").increment(1);
            tracing::warn!(%event, edge = %url, attempts, error = %e, "rules push failed");
            let backoff = (1i64 << attempts.clamp(0, 9)).min(MAX_BACKOFF_SECS);
            sqlx::query(
                "UPDATE edge_rule_deliveries SET last_error = $3, \
                   next_attempt_at = $4 + make_interval(secs => $5) \
                 WHERE event_id = $1 AND edge_url = $2",
            )
            .bind(event)
            .bind(&url)
            .bind(format!("{e:#}").chars().take(500).collect::<String>())
            .bind(now)
            .bind(backoff as f64)
            .execute(&state.db)
            .await
        }
    };
    if let Err(e) = recorded {
        tracing::warn!(%event, edge = %url, error = %e, "recording a rules push failed");
    }
    outcome.is_ok()
}

/// PUTs the signed rules; returns the version the edge now has (ours, or newer).
async fn push_once(state: &AppState, event: Uuid, url: &str) -> anyhow::Result<i64> {
    let settings: QueueSettings = settings::load(&state.db, event)
        .await?
        .context("the event's rules are gone")?;
    let title: Option<String> = sqlx::query_scalar("SELECT title FROM events WHERE id = $1")
        .bind(event)
        .fetch_optional(&state.db)
        .await?;
    let version = settings.rules.version as i64;
    let now = state.clock.unix();
    let mut rules = settings.rules;
    if !settings.edge_tier && rules.mode != shared_wasm::rules::Mode::Reject {
        // The origin's line alone decides: the edge lets everything through to it (and
        // drops a waiting room it may have shown before the promoter turned it off).
        // A rejected (cancelled) event is refused at the edge either way.
        rules.mode = shared_wasm::rules::Mode::Passthrough;
    }
    let claims = RulesClaims {
        evt: event,
        draw_seed: (rules.method == Method::Random)
            .then_some(settings.draw_seed)
            .flatten(),
        rules,
        event_name: title,
        iat: now,
        exp: now + PUSH_TOKEN_SECS,
    };
    let body = token::sign(&state.config.keys.origin_signing, &claims);
    let resp = state
        .queue
        .http
        .put(format!("{url}/__urr/rules/{event}"))
        .header("content-type", "application/jwt")
        .timeout(PUSH_TIMEOUT)
        .body(body)
        .send()
        .await
        .context("edge unreachable")?;
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    if status.is_success() {
        return Ok(version);
    }
    // The edge already has this version or a newer one: nothing left to deliver.
    if status.as_u16() == 409 && text.contains("RULES_VERSION_NOT_NEWER") {
        return Ok(version);
    }
    anyhow::bail!(
        "edge answered {status}: {}",
        text.chars().take(300).collect::<String>()
    )
}

/// Stores `rules` for `event` outside the API (demo data, operators' scripts): keeps the
/// stored version if nothing changed, else writes the next version and schedules its
/// delivery to every edge. `rules.version` is ignored.
pub async fn store_rules(
    db: &sqlx::PgPool,
    clock: &crate::clock::Clock,
    event: Uuid,
    mut rules: EdgeRules,
    edge_tier: bool,
) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    let current = current_for_update(&mut tx, event).await?;
    rules.version = 1;
    if let Some(c) = &current {
        rules.version = c.rules.version;
        rules.draw_seed_commitment = c.rules.draw_seed_commitment.clone();
        if c.rules == rules && c.edge_tier == edge_tier {
            return Ok(());
        }
        rules.version += 1;
    }
    if let Err(errors) = rules.validate() {
        anyhow::bail!("invalid rules for {event}: {errors:?}");
    }
    write_and_schedule(&mut tx, event, &rules, edge_tier, clock.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// The event's presale as its waiting room shows it (the origin's word, never the
/// client's): each tier's opening from the event's schedule, or nothing when the event
/// has no artist or everyone opens at once.
async fn presale_openings(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    event: Uuid,
) -> sqlx::Result<Vec<PresaleOpening>> {
    let row: Option<(Option<Uuid>, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT artist_id, sale_opens_at FROM events WHERE id = $1")
            .bind(event)
            .fetch_optional(&mut *conn)
            .await?;
    let Some((Some(_), opens)) = row else {
        return Ok(Vec::new());
    };
    let offsets = state.catalog.presales.offsets(conn, event).await?;
    if offsets.diamond_mins == offsets.general_mins {
        return Ok(Vec::new());
    }
    Ok(crate::catalog::PresaleSchedule::new(offsets, opens)
        .windows
        .into_iter()
        .map(|w| PresaleOpening {
            tier: match w.tier {
                crate::catalog::Tier::Diamond => PresaleTier::Diamond,
                crate::catalog::Tier::Gold => PresaleTier::Gold,
                crate::catalog::Tier::Silver => PresaleTier::Silver,
                crate::catalog::Tier::Bronze => PresaleTier::Bronze,
            },
            opens_at: w.opens_at.timestamp(),
        })
        .collect())
}

/// Inside a transaction that changed `event`'s presale schedule: if the event has a
/// waiting room, its rules get the new schedule as their next version (delivered to
/// every edge from now on; call [`push_due`] after the commit for an immediate push).
/// `false`: no rules, or nothing to change.
pub async fn refresh_presale(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    event: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<bool> {
    let Some(current) = current_for_update(conn, event).await? else {
        return Ok(false);
    };
    let presale = presale_openings(state, conn, event).await?;
    if presale == current.rules.presale {
        return Ok(false);
    }
    let mut rules = current.rules;
    rules.presale = presale;
    rules.version += 1;
    write_and_schedule(conn, event, &rules, current.edge_tier, now).await?;
    state.queue.settings.forget(event).await;
    Ok(true)
}

/// Inside the transaction that cancels `event`: its rules turn to `reject` (the edge
/// answers "not available" and lets nobody in; the origin's line refuses joins and
/// polls), as the next version, delivered to every edge from now on. `false`: the
/// event had no rules.
pub async fn reject_cancelled(
    conn: &mut sqlx::PgConnection,
    event: Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<bool> {
    let Some(current) = current_for_update(conn, event).await? else {
        return Ok(false);
    };
    let mut rules = current.rules;
    rules.mode = shared_wasm::rules::Mode::Reject;
    rules.version += 1;
    write_and_schedule(conn, event, &rules, current.edge_tier, now).await?;
    Ok(true)
}

pub(super) async fn current_for_update(
    conn: &mut sqlx::PgConnection,
    event: Uuid,
) -> sqlx::Result<Option<QueueSettings>> {
    sqlx::query(
        "SELECT rules, edge_tier, draw_seed FROM event_queues WHERE event_id = $1 FOR UPDATE",
    )
    .bind(event)
    .fetch_optional(&mut *conn)
    .await?
    .map(settings::from_row)
    .transpose()
}

/// Writes `rules` as the event's current version and makes every edge's delivery due.
pub(super) async fn write_and_schedule(
    conn: &mut sqlx::PgConnection,
    event: Uuid,
    rules: &EdgeRules,
    edge_tier: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO event_queues (event_id, rules, version, edge_tier, updated_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (event_id) DO UPDATE SET rules = $2, version = $3, edge_tier = $4, \
           updated_at = $5",
    )
    .bind(event)
    .bind(sqlx::types::Json(rules))
    .bind(rules.version as i64)
    .bind(edge_tier)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE edge_rule_deliveries SET version = $2, next_attempt_at = $3, attempts = 0, \
           last_error = NULL WHERE event_id = $1",
    )
    .bind(event)
    .bind(rules.version as i64)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}
