//! Provisioning before the doors open: fan accounts straight into the database, events
//! and their waiting rooms through the origin's API, as a promoter would set them up.
//!
//! # Accounts
//!
//! Fans log in with a password like everyone else, so the login path (rate limits,
//! sessions, tokens) is exercised for real. Their accounts are written with one
//! Argon2id hash computed once (same password, same salt: fine for load-test data) at
//! the cost the origin is configured with for the run, so logins verify it and never
//! rehash. At the production cost (19 MiB, two passes) 150,000 logins would spend most
//! of a two-core machine's minutes on hashing alone; the report states the cost used.

use super::fan::{EventPlan, Goods};
use anyhow::{Context, Result, bail};
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use shared_wasm::rules::{EdgeRules, Method};
use sqlx::PgPool;
use std::sync::{Arc, Mutex};
use uuid::Uuid;

/// One hash for every load-test account, at `memory_kib` / `iterations`, one lane (as
/// the origin hashes).
pub fn password_hash(password: &str, memory_kib: u32, iterations: u32) -> Result<String> {
    let params = Params::new(memory_kib, iterations, 1, None).map_err(anyhow::Error::msg)?;
    let salt = SaltString::encode_b64(b"urr-load-test-salt").map_err(anyhow::Error::msg)?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map_err(anyhow::Error::msg)?
        .to_string())
}

/// Inserts fans `0..n` (`fan<i>@load.urr`), 10,000 rows a statement.
pub async fn fans(db: &PgPool, n: u64, hash: &str) -> Result<()> {
    let mut from = 0;
    while from < n {
        let to = (from + 10_000).min(n);
        let ids: Vec<Uuid> = (from..to).map(|_| Uuid::new_v4()).collect();
        let emails: Vec<String> = (from..to).map(super::fan::email).collect();
        sqlx::query(
            "INSERT INTO users (id, email, password_hash, display_name, role, created_at, updated_at)
             SELECT i, e, $3, 'Load fan', 'fan', now(), now()
             FROM UNNEST($1::uuid[], $2::text[]) AS x(i, e)
             ON CONFLICT DO NOTHING",
        )
        .bind(&ids)
        .bind(&emails)
        .bind(hash)
        .execute(db)
        .await?;
        from = to;
    }
    Ok(())
}

/// The origin's API as an admin.
pub struct Promoter {
    pub http: reqwest::Client,
    pub origin: String,
    pub token: String,
}

impl Promoter {
    async fn send(&self, method: reqwest::Method, path: &str, body: &Value) -> Result<Value> {
        let r = self
            .http
            .request(method.clone(), format!("{}{path}", self.origin))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("{method} {path}: {status} {v}");
        }
        Ok(v)
    }
}

/// What kind of sale to set up.
pub struct EventSpec {
    pub title: &'static str,
    pub standing: Option<i64>,
    pub random_draw: bool,
    pub weight: u32,
}

/// The default on-sale: a seated stadium, a standing show drawn at random, and a
/// standing show first come, first served.
pub const EVENTS: [EventSpec; 3] = [
    EventSpec {
        title: "URR 로드 테스트 · 잠실 스타디움",
        standing: None,
        random_draw: false,
        weight: 50,
    },
    EventSpec {
        title: "URR 로드 테스트 · 스탠딩 추첨",
        standing: Some(3_000),
        random_draw: true,
        weight: 25,
    },
    EventSpec {
        title: "URR 로드 테스트 · 스탠딩 선착순",
        standing: Some(3_000),
        random_draw: false,
        weight: 25,
    },
];

/// The sale's clock and the waiting room's rates.
pub struct SaleTimes {
    pub prequeue_opens_at: DateTime<Utc>,
    pub sale_opens_at: DateTime<Utc>,
    /// Admissions per minute across all events, shared in proportion to their weights
    /// (the promoter sizes each room for its share of the fans).
    pub rate_per_min: u32,
    pub max_active: u32,
    pub active_slot_secs: u32,
}

/// Creates the venue, the events and their waiting rooms; answers when every edge has
/// acknowledged the rules.
pub async fn events(
    p: &Promoter,
    specs: &[EventSpec],
    times: &SaleTimes,
) -> Result<Vec<EventPlan>> {
    let venue = p
        .send(
            reqwest::Method::POST,
            "/api/v1/venues",
            &json!({"name": "잠실 로드 테스트 경기장", "address": "Seoul", "city": "서울"}),
        )
        .await?;
    let venue = venue["id"].as_str().context("venue id")?.to_owned();
    let mut plans = Vec::new();
    let total_weight: u32 = specs.iter().map(|s| s.weight).sum::<u32>().max(1);
    for spec in specs {
        let mut body = json!({
            "title": spec.title,
            "venue_id": venue,
            "starts_at": times.sale_opens_at + chrono::Duration::days(30),
            "sale_opens_at": times.sale_opens_at,
            "sale_closes_at": times.sale_opens_at + chrono::Duration::days(1),
            "max_tickets_per_user": 4,
        });
        match spec.standing {
            Some(n) => {
                body["ticket_types"] =
                    json!([{ "name": "스탠딩 / Standing", "price": 99_000, "total_quantity": n }]);
            }
            None => body["seat_layout_id"] = json!(crate::origin::STADIUM_LAYOUT),
        }
        let event = p
            .send(reqwest::Method::POST, "/api/v1/events", &body)
            .await?;
        let id: Uuid = event["id"].as_str().context("event id")?.parse()?;
        let goods = match spec.standing {
            Some(_) => {
                let types = p
                    .send(
                        reqwest::Method::GET,
                        &format!("/api/v1/events/{id}/ticket-types"),
                        &Value::Null,
                    )
                    .await?;
                let list = types
                    .as_array()
                    .or(types["items"].as_array())
                    .context("ticket types")?;
                let tt = list
                    .first()
                    .and_then(|t| t["id"].as_str())
                    .context("a ticket type")?;
                Goods::Standing {
                    ticket_type: tt.parse()?,
                }
            }
            None => Goods::Seats,
        };
        let mut rules = EdgeRules::default_for(id, times.sale_opens_at.timestamp());
        rules.version = match p
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/events/{id}/edge-rules"),
                &Value::Null,
            )
            .await
        {
            Ok(current) => current["version"].as_u64().unwrap_or(0) + 1,
            Err(_) => 1,
        };
        rules.prequeue_opens_at = Some(times.prequeue_opens_at.timestamp());
        rules.sale_closes_at = Some((times.sale_opens_at + chrono::Duration::days(1)).timestamp());
        rules.new_users_per_minute = (u64::from(times.rate_per_min) * u64::from(spec.weight)
            / u64::from(total_weight))
        .max(1) as u32;
        rules.max_active = times.max_active;
        rules.active_slot_secs = times.active_slot_secs;
        if spec.random_draw {
            rules.method = Method::Random;
        }
        let put = p
            .send(
                reqwest::Method::PUT,
                &format!("/api/v1/events/{id}/edge-rules"),
                &json!({ "rules": rules, "edge_tier": true }),
            )
            .await?;
        let acked = put["deliveries"].as_array().is_some_and(|d| {
            !d.is_empty() && d.iter().all(|d| d["acked_version"].as_u64().is_some())
        });
        if !acked {
            bail!("the edge did not acknowledge the rules of {id}: {put}");
        }
        plans.push(EventPlan {
            id,
            title: spec.title.to_owned(),
            goods,
            random_draw: spec.random_draw,
            weight: spec.weight,
            admissions: Arc::new(Mutex::new(Vec::new())),
        });
    }
    Ok(plans)
}
