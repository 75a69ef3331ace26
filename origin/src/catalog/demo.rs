//! Demo catalog for `cargo xtask dev` and manual testing.
//!
//! [`seed_demo_catalog`] is idempotent: artists are upserted by their unique name;
//! venues and events have fixed ids and are inserted with `ON CONFLICT DO NOTHING`, and
//! an event's seats and ticket types are only created together with the event. Times are
//! relative to the clock at the first run; `crate::demo` (the `seed-demo` command) moves
//! them forward on every later run, so "on sale now" stays on sale however old the
//! database is.

use super::events::{NewEvent, NewTicketType, insert_event, layout_config};
use super::layout::{LARGE_THEATER, SMALL_THEATER, SPORTS_STADIUM, builtin_layouts};
use crate::clock::Clock;
use anyhow::{Context, anyhow};
use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

/// What [`seed_demo_catalog`] created (or found from an earlier run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DemoCatalog {
    /// 아이유 / IU.
    pub artist_iu: Uuid,
    /// 방탄소년단 / BTS.
    pub artist_bts: Uuid,
    /// 세븐틴 / SEVENTEEN.
    pub artist_seventeen: Uuid,
    /// 지코 / ZICO.
    pub artist_zico: Uuid,
    /// 뉴진스 / NewJeans.
    pub artist_newjeans: Uuid,
    /// 블루스퀘어 (small theater).
    pub venue_bluesquare: Uuid,
    /// 세종문화회관 (large theater).
    pub venue_sejong: Uuid,
    /// 잠실종합운동장 (stadium).
    pub venue_jamsil: Uuid,
    /// YES24 라이브홀 (standing).
    pub venue_yes24: Uuid,
    /// BTS at the stadium (4,900 seats), on sale now.
    pub event_on_sale_seated: Uuid,
    /// IU at the large theater (1,250 seats); sale opens in 2 days (presale window).
    pub event_upcoming_presale: Uuid,
    /// ZICO standing-only, on sale now: 스탠딩 일반 ₩88,000 × 500, 얼리버드 ₩69,000 × 100.
    pub event_standing: Uuid,
    /// More upcoming events (SEVENTEEN, NewJeans, a musical).
    pub events_upcoming: Vec<Uuid>,
    /// On sale now behind the edge waiting room (small theater, 265 seats); the demo
    /// gives it a queue with room for two fans at a time.
    pub event_queued_edge: Uuid,
    /// On sale now with the origin's line only (no edge tier: arrival order).
    pub event_queued_origin: Uuid,
    /// IU at the small theater (265 seats), no queue: a member presale. The sale
    /// opened two hours ago for DIAMOND members, an hour ago for GOLD; SILVER members
    /// wait a day, everyone else two days (the schedule is the demo's, see `demo.rs`).
    pub event_member_presale: Uuid,
}

const fn id(n: u128) -> Uuid {
    // "de770000-…": recognisably demo data.
    Uuid::from_u128(0xde77_0000_0000_4000_8000_0000_0000_0000 | n)
}

struct DemoEvent {
    id: Uuid,
    artist: Option<Uuid>,
    venue: Uuid,
    layout: Option<&'static str>,
    section_prices: &'static [(&'static str, i64)],
    title: &'static str,
    description: &'static str,
    /// Relative to the first seeding.
    sale_opens_in: Duration,
    sale_closes_in: Duration,
    starts_in: Duration,
    hours: i64,
    ticket_types: &'static [(&'static str, &'static str, i64, i64)],
}

/// Seeds artists, venues and events owned by `promoter_id` (a user that must exist).
/// Safe to run any number of times; returns the ids.
pub async fn seed_demo_catalog(
    db: &PgPool,
    clock: &Clock,
    promoter_id: Uuid,
) -> anyhow::Result<DemoCatalog> {
    let now = clock.now();
    super::layout::ensure_builtin_layouts(db, now).await?;

    let artist_iu = artist(
        db,
        now,
        "아이유",
        "IU",
        &["이지은", "Lee Ji-eun", "아이유 IU"],
        "대한민국의 싱어송라이터. Korean singer-songwriter and actress.",
    )
    .await?;
    let artist_bts = artist(
        db,
        now,
        "방탄소년단",
        "BTS",
        &["Bangtan Boys", "방탄", "Bangtan Sonyeondan"],
        "7인조 보이그룹. Seven-member boy band from Seoul.",
    )
    .await?;
    let artist_seventeen = artist(
        db,
        now,
        "세븐틴",
        "SEVENTEEN",
        &["세봉이", "SVT"],
        "13인조 자체 제작 아이돌. Self-producing 13-member group.",
    )
    .await?;
    let artist_zico = artist(
        db,
        now,
        "지코",
        "ZICO",
        &["우지호", "Woo Ji-ho"],
        "래퍼, 프로듀서. Rapper and producer.",
    )
    .await?;
    let artist_newjeans = artist(
        db,
        now,
        "뉴진스",
        "NewJeans",
        &["뉴진스 NJZ", "NJZ"],
        "5인조 걸그룹. Five-member girl group.",
    )
    .await?;

    let venue_bluesquare = venue(
        db,
        now,
        id(0x101),
        "블루스퀘어",
        "서울특별시 용산구 이태원로 294",
        "서울",
    )
    .await?;
    let venue_sejong = venue(
        db,
        now,
        id(0x102),
        "세종문화회관",
        "서울특별시 종로구 세종대로 175",
        "서울",
    )
    .await?;
    let venue_jamsil = venue(
        db,
        now,
        id(0x103),
        "잠실종합운동장",
        "서울특별시 송파구 올림픽로 25",
        "서울",
    )
    .await?;
    let venue_yes24 = venue(
        db,
        now,
        id(0x104),
        "YES24 라이브홀",
        "서울특별시 광진구 구천면로 20",
        "서울",
    )
    .await?;

    let d = Duration::days;
    let h = Duration::hours;
    let events = [
        DemoEvent {
            id: id(0x201),
            artist: Some(artist_bts),
            venue: venue_jamsil,
            layout: Some(SPORTS_STADIUM),
            section_prices: &[],
            title: "방탄소년단 월드투어 〈서울〉",
            description: "BTS World Tour in Seoul. 잠실종합운동장 4,900석 지정석.",
            sale_opens_in: -h(1),
            sale_closes_in: d(29),
            starts_in: d(30),
            hours: 3,
            ticket_types: &[],
        },
        DemoEvent {
            id: id(0x202),
            artist: Some(artist_iu),
            venue: venue_sejong,
            layout: Some(LARGE_THEATER),
            section_prices: &[("VIP", 220_000)],
            title: "아이유 콘서트 〈HEREH〉",
            description: "IU Concert HEREH. 팬클럽 선예매 후 일반 예매. Fan-club presale first.",
            sale_opens_in: d(2),
            sale_closes_in: d(44),
            starts_in: d(45),
            hours: 3,
            ticket_types: &[],
        },
        DemoEvent {
            id: id(0x203),
            artist: Some(artist_zico),
            venue: venue_yes24,
            layout: None,
            section_prices: &[],
            title: "지코 단독 공연 〈스탠딩〉",
            description: "ZICO live, standing only. 전석 스탠딩.",
            sale_opens_in: -h(2),
            sale_closes_in: d(13),
            starts_in: d(14),
            hours: 2,
            ticket_types: &[
                ("스탠딩 일반", "Standing, general admission", 88_000, 500),
                ("얼리버드", "Early bird", 69_000, 100),
            ],
        },
        DemoEvent {
            id: id(0x204),
            artist: Some(artist_seventeen),
            venue: venue_bluesquare,
            layout: Some(SMALL_THEATER),
            section_prices: &[],
            title: "세븐틴 팬미팅 〈CARAT LAND〉",
            description: "SEVENTEEN fan meeting CARAT LAND.",
            sale_opens_in: d(7),
            sale_closes_in: d(59),
            starts_in: d(60),
            hours: 2,
            ticket_types: &[],
        },
        DemoEvent {
            id: id(0x205),
            artist: Some(artist_newjeans),
            venue: venue_sejong,
            layout: Some(LARGE_THEATER),
            section_prices: &[],
            title: "뉴진스 콘서트 〈Bunnies Camp〉",
            description: "NewJeans concert Bunnies Camp.",
            sale_opens_in: d(10),
            sale_closes_in: d(74),
            starts_in: d(75),
            hours: 3,
            ticket_types: &[],
        },
        DemoEvent {
            id: id(0x206),
            artist: None,
            venue: venue_bluesquare,
            layout: Some(SMALL_THEATER),
            section_prices: &[("VIP", 170_000)],
            title: "뮤지컬 〈오페라의 유령〉",
            description: "The Phantom of the Opera, Korean production.",
            sale_opens_in: d(5),
            sale_closes_in: d(89),
            starts_in: d(90),
            hours: 3,
            ticket_types: &[],
        },
        DemoEvent {
            id: id(0x207),
            artist: Some(artist_newjeans),
            venue: venue_bluesquare,
            layout: Some(SMALL_THEATER),
            section_prices: &[],
            title: "뉴진스 팬미팅 〈대기열 데모〉",
            description: "NewJeans fan meeting: waiting-room demo (edge queue, 2 fans at a time).",
            sale_opens_in: -h(1),
            sale_closes_in: d(19),
            starts_in: d(20),
            hours: 2,
            ticket_types: &[],
        },
        DemoEvent {
            id: id(0x208),
            artist: Some(artist_seventeen),
            venue: venue_yes24,
            layout: None,
            section_prices: &[],
            title: "세븐틴 스탠딩 〈오리진 대기열 데모〉",
            description: "SEVENTEEN standing show: origin-only queue demo (arrival order).",
            sale_opens_in: -h(1),
            sale_closes_in: d(24),
            starts_in: d(25),
            hours: 2,
            ticket_types: &[("스탠딩", "Standing", 99_000, 300)],
        },
        DemoEvent {
            id: id(0x209),
            artist: Some(artist_iu),
            venue: venue_bluesquare,
            layout: Some(SMALL_THEATER),
            section_prices: &[("VIP", 154_000)],
            title: "아이유 팬클럽 선예매 〈멤버십 데모〉",
            description: "IU: fan-club presale. 다이아몬드·골드 회원 선예매 중, 일반 예매는 이틀 뒤. \
                          DIAMOND and GOLD members book now; everyone else in two days.",
            sale_opens_in: -h(2),
            sale_closes_in: d(33),
            starts_in: d(34),
            hours: 2,
            ticket_types: &[],
        },
    ];

    let layouts: BTreeMap<String, Uuid> = builtin_layouts()
        .into_iter()
        .map(|l| (l.name, l.id))
        .collect();
    for e in &events {
        seed_event(db, now, promoter_id, e, &layouts).await?;
    }

    Ok(DemoCatalog {
        artist_iu,
        artist_bts,
        artist_seventeen,
        artist_zico,
        artist_newjeans,
        venue_bluesquare,
        venue_sejong,
        venue_jamsil,
        venue_yes24,
        event_on_sale_seated: events[0].id,
        event_upcoming_presale: events[1].id,
        event_standing: events[2].id,
        events_upcoming: events[3..6].iter().map(|e| e.id).collect(),
        event_queued_edge: events[6].id,
        event_queued_origin: events[7].id,
        event_member_presale: events[8].id,
    })
}

async fn artist(
    db: &PgPool,
    now: DateTime<Utc>,
    name: &str,
    name_en: &str,
    aliases: &[&str],
    bio: &str,
) -> anyhow::Result<Uuid> {
    // `DO UPDATE` (a no-op write) so RETURNING yields the id on re-runs too.
    sqlx::query_scalar(
        "INSERT INTO artists (id, name, name_en, aliases, bio, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $6)
         ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name
         RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(name)
    .bind(name_en)
    .bind(aliases.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    .bind(bio)
    .bind(now)
    .fetch_one(db)
    .await
    .with_context(|| format!("seeding artist {name}"))
}

async fn venue(
    db: &PgPool,
    now: DateTime<Utc>,
    id: Uuid,
    name: &str,
    address: &str,
    city: &str,
) -> anyhow::Result<Uuid> {
    sqlx::query(
        "INSERT INTO venues (id, name, address, city, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(id)
    .bind(name)
    .bind(address)
    .bind(city)
    .bind(now)
    .execute(db)
    .await
    .with_context(|| format!("seeding venue {name}"))?;
    Ok(id)
}

async fn seed_event(
    db: &PgPool,
    now: DateTime<Utc>,
    promoter_id: Uuid,
    e: &DemoEvent,
    layouts: &BTreeMap<String, Uuid>,
) -> anyhow::Result<()> {
    let mut tx = db.begin().await?;
    // Serialise concurrent seeders on this event id, then skip it if it exists.
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
        .bind(e.id)
        .execute(&mut *tx)
        .await?;
    let exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM events WHERE id = $1)")
        .bind(e.id)
        .fetch_one(&mut *tx)
        .await?;
    if exists {
        return Ok(());
    }
    let seat_layout_id = e
        .layout
        .map(|name| {
            layouts
                .get(name)
                .copied()
                .ok_or_else(|| anyhow!("no shipped layout {name}"))
        })
        .transpose()?;
    let layout = match seat_layout_id {
        Some(l) => Some(
            layout_config(&mut *tx, l)
                .await
                .map_err(|err| anyhow!("loading layout {l}: {err}"))?
                .ok_or_else(|| anyhow!("layout {l} is missing"))?,
        ),
        None => None,
    };
    let starts_at = now + e.starts_in;
    let new = NewEvent {
        promoter_id,
        artist_id: e.artist,
        venue_id: e.venue,
        seat_layout_id,
        layout,
        section_prices: e
            .section_prices
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        title: e.title.to_owned(),
        description: e.description.to_owned(),
        poster_url: None,
        starts_at,
        ends_at: Some(starts_at + Duration::hours(e.hours)),
        sale_opens_at: now + e.sale_opens_in,
        sale_closes_at: now + e.sale_closes_in,
        max_tickets_per_user: 4,
        ticket_types: e
            .ticket_types
            .iter()
            .map(|(name, description, price, qty)| NewTicketType {
                name: (*name).to_owned(),
                description: (*description).to_owned(),
                price: *price,
                total_quantity: *qty,
                sort_order: None,
            })
            .collect(),
    };
    insert_event(&mut tx, e.id, &new, now)
        .await
        .map_err(|err| anyhow!("seeding event {}: {err}", e.title))?;
    tx.commit().await?;
    Ok(())
}
