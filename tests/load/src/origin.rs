//! Fixtures for benchmarks against a running origin: users written straight to its
//! database, access tokens signed with its key, and events made through its API.

use anyhow::{Context, Result, bail};
use chrono::{Duration, Utc};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_wasm::token::{self, AccessClaims, Role, SigningKey};
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

/// The built-in 4,900-seat stadium layout.
pub const STADIUM_LAYOUT: &str = "5ea7a000-0000-4000-8000-000000000003";

/// `--key value` pairs from the command line.
pub fn flags() -> Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let k = k.trim_start_matches("--").to_owned();
        let v = it.next().with_context(|| format!("--{k} needs a value"))?;
        map.insert(k, v);
    }
    Ok(map)
}

/// Host and port of a `redis://host:port[/db]` URL (default 127.0.0.1:6379).
pub fn redis_host_port(url: &str) -> (String, u16) {
    let hp = url
        .trim_start_matches("redis://")
        .split('/')
        .next()
        .unwrap_or("127.0.0.1:6379");
    let (h, p) = hp.rsplit_once(':').unwrap_or((hp, "6379"));
    (h.to_owned(), p.parse::<u16>().unwrap_or(6379))
}

pub fn access_token(key: &SigningKey, user: Uuid, role: Role) -> String {
    let now = Utc::now().timestamp();
    token::sign(
        key,
        &AccessClaims {
            sub: user,
            role,
            jti: Uuid::new_v4().simple().to_string(),
            iat: now,
            exp: now + 3600,
            sid: None,
        },
    )
}

/// Inserts `n` users of `role` at once; returns their ids.
pub async fn users(db: &PgPool, n: usize, role: Role) -> Result<Vec<Uuid>> {
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
    let emails: Vec<String> = ids
        .iter()
        .map(|i| format!("bench-{}@bench.urr", i.simple()))
        .collect();
    sqlx::query(
        "INSERT INTO users (id, email, password_hash, display_name, role, created_at, updated_at)
         SELECT i, e, NULL, 'Bench', $3, now(), now() FROM UNNEST($1::uuid[], $2::text[]) AS x(i, e)",
    )
    .bind(&ids)
    .bind(&emails)
    .bind(role.as_str())
    .execute(db)
    .await?;
    Ok(ids)
}

pub struct Bench {
    pub http: reqwest::Client,
    pub origin: String,
    /// An admin's access token.
    pub admin: String,
    pub venue: Uuid,
}

impl Bench {
    /// Creates an admin (straight in the database) and a venue (through the API).
    pub async fn new(
        http: reqwest::Client,
        origin: &str,
        db: &PgPool,
        key: &SigningKey,
    ) -> Result<Bench> {
        let admin_id = users(db, 1, Role::Admin).await?[0];
        let admin = access_token(key, admin_id, Role::Admin);
        let venue: Value = http
            .post(format!("{origin}/api/v1/venues"))
            .bearer_auth(&admin)
            .json(&json!({"name": "잠실 벤치 스타디움", "address": "Seoul", "city": "서울"}))
            .send()
            .await?
            .json()
            .await?;
        Ok(Bench {
            http,
            origin: origin.to_owned(),
            admin,
            venue: venue["id"].as_str().context("venue id")?.parse()?,
        })
    }

    /// A stadium event on sale now; returns its id and seat ids in map order.
    pub async fn stadium_event(&self, title: &str) -> Result<(Uuid, Vec<Uuid>)> {
        let now = Utc::now();
        let res = self
            .http
            .post(format!("{}/api/v1/events", self.origin))
            .bearer_auth(&self.admin)
            .json(&json!({
                "title": title,
                "venue_id": self.venue,
                "seat_layout_id": STADIUM_LAYOUT,
                "starts_at": now + Duration::days(2),
                "sale_opens_at": now - Duration::minutes(1),
                "sale_closes_at": now + Duration::days(1),
                "max_tickets_per_user": 4,
            }))
            .send()
            .await?;
        let status = res.status();
        let body: Value = res.json().await?;
        if status != StatusCode::CREATED {
            bail!("creating the event failed: {status} {body}");
        }
        let id: Uuid = body["id"].as_str().context("event id")?.parse()?;
        let seats: Value = self
            .http
            .get(format!("{}/api/v1/events/{id}/seats", self.origin))
            .send()
            .await?
            .json()
            .await?;
        let seats = seats["seats"]
            .as_array()
            .context("seats")?
            .iter()
            .filter_map(|s| s["id"].as_str()?.parse().ok())
            .collect();
        Ok((id, seats))
    }
}
