//! Data fixtures written straight to the database: events with seats and ticket types,
//! and many users at once. Faster than the API for the 4,900-seat races, and
//! independent of the catalog API's shape.
#![allow(dead_code)]

use crate::helpers::{TestApp, TestUser};
use chrono::{DateTime, Duration, Utc};
use shared_wasm::token::Role;
use uuid::Uuid;

pub struct EventFixture {
    pub id: Uuid,
    /// Seat ids in seat-map order.
    pub seats: Vec<Uuid>,
    pub ticket_types: Vec<Uuid>,
    pub seat_price: i64,
}

pub struct EventSpec {
    pub seats: usize,
    pub seat_price: i64,
    /// `(name, price, quantity)`.
    pub ticket_types: Vec<(String, i64, i32)>,
    pub max_tickets_per_user: i32,
    pub sale_opens_at: DateTime<Utc>,
    pub sale_closes_at: DateTime<Utc>,
}

impl EventSpec {
    /// On sale now (opened an hour ago, closes in a day), no seats, no ticket types.
    pub fn on_sale(app: &TestApp) -> EventSpec {
        let now = app.state.clock.now();
        EventSpec {
            seats: 0,
            seat_price: 50_000,
            ticket_types: Vec::new(),
            max_tickets_per_user: 4,
            sale_opens_at: now - Duration::hours(1),
            sale_closes_at: now + Duration::days(1),
        }
    }

    pub fn seats(mut self, n: usize) -> Self {
        self.seats = n;
        self
    }

    pub fn standing(mut self, name: &str, price: i64, quantity: i32) -> Self {
        self.ticket_types.push((name.to_owned(), price, quantity));
        self
    }

    pub fn limit(mut self, n: i32) -> Self {
        self.max_tickets_per_user = n;
        self
    }
}

/// Inserts a venue, a one-section layout (if seated), the event, its seats and types.
pub async fn create_event(app: &TestApp, spec: EventSpec) -> EventFixture {
    let db = app.db();
    let now = app.state.clock.now();
    let promoter = app.create_user(Role::Promoter).await;
    let venue = Uuid::new_v4();
    sqlx::query("INSERT INTO venues (id, name, address, city, created_at, updated_at) VALUES ($1, $2, 'addr', 'Seoul', $3, $3)")
        .bind(venue)
        .bind(format!("Venue {venue}"))
        .bind(now)
        .execute(db)
        .await
        .expect("venue");
    let layout = if spec.seats > 0 {
        let id = Uuid::new_v4();
        let rows = spec.seats.div_ceil(50);
        let config = serde_json::json!({"sections": [{"name": "A", "grade": "R", "rows": rows,
            "seats_per_row": 50, "price": spec.seat_price, "start_row": 1}]});
        sqlx::query("INSERT INTO seat_layouts (id, name, description, total_seats, config, created_at) VALUES ($1, $2, 'test', $3, $4, $5)")
            .bind(id)
            .bind(format!("layout-{id}"))
            .bind(spec.seats as i32)
            .bind(config)
            .bind(now)
            .execute(db)
            .await
            .expect("layout");
        Some(id)
    } else {
        None
    };
    let event = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO events (id, promoter_id, venue_id, seat_layout_id, title, description, starts_at,
                             sale_opens_at, sale_closes_at, max_tickets_per_user, created_at, updated_at)
         VALUES ($1, $2, $3, $4, 'Test concert', 'test', $5, $6, $7, $8, $9, $9)",
    )
    .bind(event)
    .bind(promoter.id)
    .bind(venue)
    .bind(layout)
    .bind(spec.sale_closes_at + Duration::days(1))
    .bind(spec.sale_opens_at)
    .bind(spec.sale_closes_at)
    .bind(spec.max_tickets_per_user)
    .bind(now)
    .execute(db)
    .await
    .expect("event");
    let seats: Vec<Uuid> = (0..spec.seats).map(|_| Uuid::new_v4()).collect();
    if !seats.is_empty() {
        let rows: Vec<String> = (0..spec.seats).map(|i| format!("{}", i / 50 + 1)).collect();
        let numbers: Vec<i32> = (0..spec.seats).map(|i| (i % 50 + 1) as i32).collect();
        let labels: Vec<String> = (0..spec.seats)
            .map(|i| format!("A-{}-{}", i / 50 + 1, i % 50 + 1))
            .collect();
        let positions: Vec<i32> = (0..spec.seats as i32).collect();
        sqlx::query(
            "INSERT INTO seats (id, event_id, section, grade, row_label, number, label, price, position)
             SELECT s, $2, 'A', 'R', r, n, l, $3, p
             FROM UNNEST($1::uuid[], $4::text[], $5::int[], $6::text[], $7::int[]) AS x(s, r, n, l, p)",
        )
        .bind(&seats)
        .bind(event)
        .bind(spec.seat_price as i32)
        .bind(&rows)
        .bind(&numbers)
        .bind(&labels)
        .bind(&positions)
        .execute(db)
        .await
        .expect("seats");
    }
    let mut ticket_types = Vec::new();
    for (i, (name, price, qty)) in spec.ticket_types.iter().enumerate() {
        let id = Uuid::new_v4();
        sqlx::query(
            "INSERT INTO ticket_types (id, event_id, name, description, price, total_quantity,
                                       available_quantity, sort_order, created_at, updated_at)
             VALUES ($1, $2, $3, '', $4, $5, $5, $6, $7, $7)",
        )
        .bind(id)
        .bind(event)
        .bind(name)
        .bind(*price as i32)
        .bind(*qty)
        .bind(i as i32)
        .bind(now)
        .execute(db)
        .await
        .expect("ticket type");
        ticket_types.push(id);
    }
    EventFixture {
        id: event,
        seats,
        ticket_types,
        seat_price: spec.seat_price,
    }
}

/// `n` fans in one insert, each with an access token.
pub async fn create_fans(app: &TestApp, n: usize) -> Vec<TestUser> {
    let ids: Vec<Uuid> = (0..n).map(|_| Uuid::new_v4()).collect();
    let emails: Vec<String> = ids
        .iter()
        .map(|id| format!("fan-{}@test.urr", id.simple()))
        .collect();
    let now = app.state.clock.now();
    sqlx::query(
        "WITH u AS (
           INSERT INTO users (id, email, password_hash, display_name, role, created_at, updated_at)
           SELECT i, e, NULL, 'Fan', 'fan', $3, $3 FROM UNNEST($1::uuid[], $2::text[]) AS x(i, e)
           RETURNING id, created_at)
         INSERT INTO outbox (id, topic, aggregate_id, payload, created_at)
         SELECT gen_random_uuid(), 'user.registered', u.id,
                jsonb_build_object('user_id', u.id, 'role', 'fan', 'via', 'password'), u.created_at
         FROM u",
    )
    .bind(&ids)
    .bind(&emails)
    .bind(now)
    .execute(app.db())
    .await
    .expect("fans");
    ids.into_iter()
        .zip(emails)
        .map(|(id, email)| TestUser {
            id,
            email,
            role: Role::Fan,
            token: urr_origin::auth::issue_access_token(&app.state, id, Role::Fan, None).0,
        })
        .collect()
}

/// An artist with a ₩30,000 membership; returns its id.
pub async fn create_artist(app: &TestApp) -> Uuid {
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO artists (id, name, membership_price, created_at, updated_at)
         VALUES ($1, $2, 30000, $3, $3)",
    )
    .bind(id)
    .bind(format!("Artist {}", id.simple()))
    .bind(app.state.clock.now())
    .execute(app.db())
    .await
    .expect("artist");
    id
}

/// Makes `event` an event of `artist` (it then has a presale: the default schedule,
/// or `offsets` = (diamond, gold, silver, general) minutes after the sale opening).
pub async fn give_artist(app: &TestApp, event: Uuid, artist: Uuid, offsets: Option<[i32; 4]>) {
    sqlx::query("UPDATE events SET artist_id = $2 WHERE id = $1")
        .bind(event)
        .bind(artist)
        .execute(app.db())
        .await
        .expect("artist of event");
    if let Some([d, g, s, b]) = offsets {
        sqlx::query(
            "INSERT INTO presale_schedules (event_id, diamond_mins, gold_mins, silver_mins, general_mins, updated_at)
             VALUES ($1, $2, $3, $4, $5, now())",
        )
        .bind(event)
        .bind(d)
        .bind(g)
        .bind(s)
        .bind(b)
        .execute(app.db())
        .await
        .expect("schedule");
    }
}

/// An active membership of `user` with `artist` holding `points` (written directly: a
/// tier without the purchases that earn it), valid for a year.
pub async fn make_member(app: &TestApp, user: Uuid, artist: Uuid, points: i32) -> Uuid {
    let now = app.state.clock.now();
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO memberships (id, user_id, artist_id, status, points, joined_at, expires_at, created_at, updated_at)
         VALUES ($1, $2, $3, 'active', $4, $5, $6, $5, $5)",
    )
    .bind(id)
    .bind(user)
    .bind(artist)
    .bind(points)
    .bind(now)
    .bind(now + Duration::days(365))
    .execute(app.db())
    .await
    .expect("membership");
    id
}
