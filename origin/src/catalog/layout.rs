//! Seat layouts: the JSON template, its validation, and turning it into seats.
//!
//! A layout is a list of sections, each a rectangle of `rows × seats_per_row` seats with
//! one grade and one price. Rows are labelled `start_row, start_row + 1, …` unless the
//! section lists explicit `row_labels` (e.g. `["A", "B", "C"]`). Creating an event with
//! a layout copies it into `seats` once ([`generate_seats`]); layouts themselves never
//! change after import, so an event's seats cannot drift from what was sold.
//!
//! The three shipped layouts live in `layouts/*.json` and are inserted by the migration
//! `0002_catalog.sql`; [`ensure_builtin_layouts`] re-inserts any that are missing (for
//! databases whose rows were deleted by hand) and the integration tests check that the
//! migration and the JSON files agree.

use super::validate::Checks;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use std::collections::{BTreeMap, HashSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// Rows and seats per row of one section: `1..=MAX_ROWS` / `1..=MAX_SEATS_PER_ROW`.
pub const MAX_ROWS: i64 = 200;
pub const MAX_SEATS_PER_ROW: i64 = 200;
/// Seats of one layout.
pub const MAX_LAYOUT_SEATS: i64 = 100_000;
/// Sections of one layout.
pub const MAX_SECTIONS: usize = 100;

/// `seat_layouts.config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LayoutConfig {
    pub sections: Vec<SectionConfig>,
}

/// One rectangular block of seats with one grade and price.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionConfig {
    /// Unique within the layout; first part of every seat label ("VIP-1-3").
    pub name: String,
    /// Price class (VIP, R, S, ...); defaults to the section name. Several sections may
    /// share a grade, and an event may override prices per section or per grade.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<String>,
    pub rows: i64,
    pub seats_per_row: i64,
    /// KRW.
    pub price: i64,
    /// Number of the first row when rows are numbered; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_row: Option<i64>,
    /// Explicit row labels, one per row, instead of numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_labels: Option<Vec<String>>,
}

impl SectionConfig {
    pub fn grade(&self) -> &str {
        self.grade.as_deref().unwrap_or(&self.name)
    }

    /// Label of row `i` (0-based).
    pub fn row_label(&self, i: i64) -> String {
        match &self.row_labels {
            Some(labels) => usize::try_from(i)
                .ok()
                .and_then(|i| labels.get(i))
                .cloned()
                .unwrap_or_else(|| (i + 1).to_string()),
            None => (self.start_row.unwrap_or(1) + i).to_string(),
        }
    }

    pub fn seat_count(&self) -> i64 {
        self.rows.saturating_mul(self.seats_per_row)
    }
}

impl LayoutConfig {
    pub fn total_seats(&self) -> i64 {
        self.sections.iter().map(SectionConfig::seat_count).sum()
    }

    /// Records every broken rule under `prefix` (e.g. `config`): 1..=100 sections with
    /// unique names, rows and seats per row within 1..=200, prices within 0..=10,000,000
    /// KRW, row labels consistent with `rows`, and at most 100,000 seats in total.
    pub fn check(&self, prefix: &str, c: &mut Checks) {
        let field = format!("{prefix}.sections");
        if self.sections.is_empty() {
            c.add(&field, "must list at least one section");
        }
        if self.sections.len() > MAX_SECTIONS {
            c.add(&field, format!("must list at most {MAX_SECTIONS} sections"));
        }
        let mut names = HashSet::new();
        for (i, s) in self.sections.iter().enumerate() {
            let f = |name: &str| format!("{field}[{i}].{name}");
            let name = c.required_text(&f("name"), &s.name, 50);
            if name != s.name {
                c.add(f("name"), "must not start or end with whitespace");
            }
            if !name.is_empty() && !names.insert(name.to_lowercase()) {
                c.add(f("name"), "must be unique within the layout");
            }
            if let Some(g) = &s.grade {
                let g2 = c.required_text(&f("grade"), g, 50);
                if &g2 != g {
                    c.add(f("grade"), "must not start or end with whitespace");
                }
            }
            c.range(&f("rows"), s.rows, 1, MAX_ROWS);
            c.range(&f("seats_per_row"), s.seats_per_row, 1, MAX_SEATS_PER_ROW);
            c.price(&f("price"), s.price);
            if let Some(start) = s.start_row {
                c.range(&f("start_row"), start, 1, 10_000);
            }
            if let Some(labels) = &s.row_labels {
                if i64::try_from(labels.len()).ok() != Some(s.rows) {
                    c.add(f("row_labels"), "must have exactly one label per row");
                }
                let mut seen = HashSet::new();
                for (j, l) in labels.iter().enumerate() {
                    let lf = format!("{field}[{i}].row_labels[{j}]");
                    let l2 = c.required_text(&lf, l, 10);
                    if &l2 != l {
                        c.add(&lf, "must not start or end with whitespace");
                    } else if !l.is_empty() && !seen.insert(l.as_str()) {
                        c.add(&lf, "must be unique within the section");
                    }
                }
            }
        }
        let total: i64 = self
            .sections
            .iter()
            .map(|s| s.rows.clamp(0, MAX_ROWS) * s.seats_per_row.clamp(0, MAX_SEATS_PER_ROW))
            .sum();
        if total > MAX_LAYOUT_SEATS {
            c.add(
                &field,
                format!("has {total} seats; a layout holds at most {MAX_LAYOUT_SEATS}"),
            );
        }
    }
}

/// The seats of one event, as parallel columns ready for one `INSERT … SELECT FROM
/// UNNEST(…)`: one round trip and one statement for 4,900 seats instead of 4,900.
#[derive(Debug, Default)]
pub struct SeatColumns {
    pub id: Vec<Uuid>,
    pub section: Vec<String>,
    pub grade: Vec<String>,
    pub row_label: Vec<String>,
    pub number: Vec<i32>,
    pub label: Vec<String>,
    pub price: Vec<i64>,
    pub position: Vec<i32>,
}

impl SeatColumns {
    pub fn len(&self) -> usize {
        self.id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.id.is_empty()
    }
}

/// The effective price of `section`: an override keyed by section name wins over one
/// keyed by grade, which wins over the layout price.
pub fn section_price(section: &SectionConfig, overrides: &BTreeMap<String, i64>) -> i64 {
    overrides
        .get(&section.name)
        .or_else(|| overrides.get(section.grade()))
        .copied()
        .unwrap_or(section.price)
}

/// Expands a (validated) layout into seats in layout order: section by section, row by
/// row, seat 1..=seats_per_row. `position` is that running order, so the seat map is
/// stable whatever order Postgres returns rows in.
pub fn generate_seats(layout: &LayoutConfig, overrides: &BTreeMap<String, i64>) -> SeatColumns {
    let total = usize::try_from(layout.total_seats()).unwrap_or(0);
    let mut s = SeatColumns {
        id: Vec::with_capacity(total),
        section: Vec::with_capacity(total),
        grade: Vec::with_capacity(total),
        row_label: Vec::with_capacity(total),
        number: Vec::with_capacity(total),
        label: Vec::with_capacity(total),
        price: Vec::with_capacity(total),
        position: Vec::with_capacity(total),
    };
    let mut position: i32 = 0;
    for section in &layout.sections {
        let price = section_price(section, overrides);
        for r in 0..section.rows {
            let row = section.row_label(r);
            for n in 1..=section.seats_per_row {
                let n = i32::try_from(n).unwrap_or(i32::MAX);
                s.id.push(Uuid::now_v7());
                s.section.push(section.name.clone());
                s.grade.push(section.grade().to_owned());
                s.label.push(format!("{}-{}-{}", section.name, row, n));
                s.row_label.push(row.clone());
                s.number.push(n);
                s.price.push(price);
                s.position.push(position);
                position += 1;
            }
        }
    }
    s
}

/// Inserts `seats` for `event_id` in one statement.
pub async fn insert_seats(
    conn: &mut sqlx::PgConnection,
    event_id: Uuid,
    seats: &SeatColumns,
) -> Result<u64, sqlx::Error> {
    if seats.is_empty() {
        return Ok(0);
    }
    let done = sqlx::query(
        "INSERT INTO seats (id, event_id, section, grade, row_label, number, label, price, position)
         SELECT id, $1, section, grade, row_label, number, label, price, position
         FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::text[],
                     $8::int8[], $9::int4[])
              AS s(id, section, grade, row_label, number, label, price, position)",
    )
    .bind(event_id)
    .bind(&seats.id)
    .bind(&seats.section)
    .bind(&seats.grade)
    .bind(&seats.row_label)
    .bind(&seats.number)
    .bind(&seats.label)
    .bind(&seats.price)
    .bind(&seats.position)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected())
}

/// A layout shipped with the origin (`layouts/*.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuiltinLayout {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub total_seats: i64,
    pub config: LayoutConfig,
}

/// Name of the shipped 265-seat theater layout.
pub const SMALL_THEATER: &str = "small_theater";
/// Name of the shipped 1,250-seat theater layout.
pub const LARGE_THEATER: &str = "large_theater";
/// Name of the shipped 4,900-seat stadium layout.
pub const SPORTS_STADIUM: &str = "sports_stadium";

const BUILTIN_JSON: [&str; 3] = [
    include_str!("layouts/small_theater.json"),
    include_str!("layouts/large_theater.json"),
    include_str!("layouts/sports_stadium.json"),
];

/// The shipped layouts, parsed from the embedded JSON.
///
/// # Panics
/// Never at run time: the files are compiled in and a unit test parses and validates
/// every one of them.
pub fn builtin_layouts() -> Vec<BuiltinLayout> {
    BUILTIN_JSON
        .iter()
        .map(|text| serde_json::from_str(text).expect("shipped layout JSON is valid"))
        .collect()
}

/// Inserts the shipped layouts that are missing (by name); returns how many it inserted.
/// Idempotent and safe to run from several replicas at once. The migration already
/// inserts them, so on a migrated database this is a no-op; the demo seeder calls it
/// anyway so it never depends on how the database was prepared.
pub async fn ensure_builtin_layouts(db: &PgPool, now: DateTime<Utc>) -> anyhow::Result<u64> {
    let mut inserted = 0;
    for l in builtin_layouts() {
        let config = serde_json::to_value(&l.config)?;
        inserted += sqlx::query(
            "INSERT INTO seat_layouts (id, name, description, total_seats, config, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT DO NOTHING",
        )
        .bind(l.id)
        .bind(&l.name)
        .bind(&l.description)
        .bind(i32::try_from(l.total_seats)?)
        .bind(config)
        .bind(now)
        .execute(db)
        .await?
        .rows_affected();
    }
    Ok(inserted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_layouts_are_valid_and_sized_as_documented() {
        let layouts = builtin_layouts();
        let sizes: Vec<_> = layouts
            .iter()
            .map(|l| (l.name.as_str(), l.total_seats))
            .collect();
        assert_eq!(
            sizes,
            [
                (SMALL_THEATER, 265),
                (LARGE_THEATER, 1250),
                (SPORTS_STADIUM, 4900)
            ]
        );
        for l in &layouts {
            let mut c = Checks::new();
            l.config.check("config", &mut c);
            assert!(c.is_empty(), "{}: {c:?}", l.name);
            assert_eq!(l.config.total_seats(), l.total_seats, "{}", l.name);
            let seats = generate_seats(&l.config, &BTreeMap::new());
            assert_eq!(seats.len() as i64, l.total_seats);
            let labels: HashSet<_> = seats.label.iter().collect();
            assert_eq!(labels.len(), seats.len(), "labels are unique");
        }
    }

    #[test]
    fn seats_follow_layout_order_labels_and_overrides() {
        let layout: LayoutConfig = serde_json::from_value(serde_json::json!({
            "sections": [
                {"name": "VIP", "rows": 2, "seats_per_row": 2, "price": 100},
                {"name": "Balcony", "grade": "R", "rows": 2, "seats_per_row": 1, "price": 50,
                 "row_labels": ["A", "B"]},
                {"name": "Side", "grade": "R", "rows": 1, "seats_per_row": 1, "price": 50,
                 "start_row": 7}
            ]
        }))
        .expect("layout");
        let overrides = BTreeMap::from([("R".to_owned(), 60), ("Side".to_owned(), 70)]);
        let s = generate_seats(&layout, &overrides);
        assert_eq!(
            s.label,
            [
                "VIP-1-1",
                "VIP-1-2",
                "VIP-2-1",
                "VIP-2-2",
                "Balcony-A-1",
                "Balcony-B-1",
                "Side-7-1"
            ]
        );
        assert_eq!(s.price, [100, 100, 100, 100, 60, 60, 70]);
        assert_eq!(s.grade[4], "R");
        assert_eq!(s.position, [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn bad_layouts_name_each_field() {
        let layout: LayoutConfig = serde_json::from_value(serde_json::json!({
            "sections": [
                {"name": "A", "rows": 0, "seats_per_row": 201, "price": -1},
                {"name": "a", "rows": 2, "seats_per_row": 1, "price": 1, "row_labels": ["X"]}
            ]
        }))
        .expect("layout");
        let mut c = Checks::new();
        layout.check("config", &mut c);
        for f in [
            "config.sections[0].rows",
            "config.sections[0].seats_per_row",
            "config.sections[0].price",
            "config.sections[1].name",
            "config.sections[1].row_labels",
        ] {
            assert!(c.has(f), "{f} missing in {c:?}");
        }
        let huge: LayoutConfig = serde_json::from_value(serde_json::json!({
            "sections": (0..3).map(|i| serde_json::json!(
                {"name": format!("S{i}"), "rows": 200, "seats_per_row": 200, "price": 1}))
                .collect::<Vec<_>>()
        }))
        .expect("layout");
        let mut c = Checks::new();
        huge.check("config", &mut c);
        assert!(c.has("config.sections"), "{c:?}");
    }
}
