//! The invariants a run must end with, read from the stores and the Toss fake after the
//! last fan is done, never from what the fans believe:
//!
//! * `double_sold`: seats with more than one valid ticket, plus standing tickets beyond
//!   their type's quantity;
//! * `over_admitted`: tier-2 active slots beyond the event's capacity, from the peaks the
//!   admission script records atomically with each admission;
//! * `lost_payments`: payments the Toss fake holds as done whose reservation is not
//!   confirmed with its tickets (a charge with neither tickets nor a refund);
//! * `kendall_tau`: per event, how well tier-2 admission order follows queue position
//!   (arrival order, or the published draw for a random draw).

use anyhow::Result;
use serde_json::Value;
use sqlx::PgPool;
use std::collections::BTreeMap;
use uuid::Uuid;

pub async fn double_sold(db: &PgPool, events: &[Uuid]) -> Result<i64> {
    let seats: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (
           SELECT seat_id FROM tickets
           WHERE event_id = ANY($1) AND seat_id IS NOT NULL AND status = 'valid'
           GROUP BY seat_id HAVING count(*) > 1) d",
    )
    .bind(events)
    .fetch_one(db)
    .await?;
    let standing: i64 = sqlx::query_scalar(
        "SELECT COALESCE(sum(GREATEST(0, sold - tt.total_quantity)), 0)::bigint FROM (
           SELECT ticket_type_id, count(*) AS sold FROM tickets
           WHERE event_id = ANY($1) AND ticket_type_id IS NOT NULL AND status = 'valid'
           GROUP BY ticket_type_id) s
         JOIN ticket_types tt ON tt.id = s.ticket_type_id",
    )
    .bind(events)
    .fetch_one(db)
    .await?;
    Ok(seats + standing)
}

pub async fn tickets_sold(db: &PgPool, events: &[Uuid]) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM tickets WHERE event_id = ANY($1) AND status = 'valid'",
    )
    .bind(events)
    .fetch_one(db)
    .await?)
}

/// Tier-2 admissions the statistics copied so far (to wait for the last copy).
pub async fn admissions_counted(db: &PgPool, events: &[Uuid]) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(sum(admitted), 0)::bigint FROM stats_queue_minutes WHERE event_id = ANY($1)",
    )
    .bind(events)
    .fetch_one(db)
    .await?)
}

/// Sum over events of the highest tier-2 active count above the event's capacity.
pub async fn over_admitted(db: &PgPool, events: &[Uuid]) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COALESCE(sum(GREATEST(0, m.peak - (q.rules->>'max_active')::int)), 0)::bigint
         FROM (SELECT event_id, max(active_peak) AS peak FROM stats_queue_minutes
               WHERE event_id = ANY($1) GROUP BY event_id) m
         JOIN event_queues q ON q.event_id = m.event_id",
    )
    .bind(events)
    .fetch_one(db)
    .await?)
}

/// The peak tier-2 active count per event (for the report).
pub async fn active_peaks(db: &PgPool, events: &[Uuid]) -> Result<BTreeMap<Uuid, i32>> {
    let rows: Vec<(Uuid, i32)> = sqlx::query_as(
        "SELECT event_id, max(active_peak) FROM stats_queue_minutes WHERE event_id = ANY($1)
         GROUP BY event_id",
    )
    .bind(events)
    .fetch_all(db)
    .await?;
    Ok(rows.into_iter().collect())
}

/// The reservation behind a Toss order id (`ord_<32 hex>`).
fn reservation_of(order_id: &str) -> Option<Uuid> {
    Uuid::try_parse(order_id.strip_prefix("ord_")?).ok()
}

/// Payments done at the fake (not cancelled) whose reservation has no confirmed
/// tickets; also returns how many payments the fake holds as done.
pub async fn lost_payments(db: &PgPool, toss_payments: &Value) -> Result<(i64, i64)> {
    let done: Vec<Uuid> = toss_payments
        .as_array()
        .map(|all| {
            all.iter()
                .filter(|p| p["status"] == "DONE")
                .filter_map(|p| reservation_of(p["orderId"].as_str()?))
                .collect()
        })
        .unwrap_or_default();
    let settled: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM reservations r
         WHERE r.id = ANY($1) AND r.status = 'confirmed'
           AND (SELECT count(*) FROM tickets t WHERE t.reservation_id = r.id AND t.status = 'valid')
               = r.ticket_count",
    )
    .bind(&done)
    .fetch_one(db)
    .await?;
    Ok((done.len() as i64 - settled, done.len() as i64))
}

/// Kendall's tau between queue position and admission time, in O(n log n): pairs in
/// the same order count +1, pairs in opposite order −1, over all pairs. `None` with
/// fewer than two admissions.
pub fn kendall_tau(admissions: &[(u64, f64)]) -> Option<f64> {
    let n = admissions.len();
    if n < 2 {
        return None;
    }
    let mut by_position = admissions.to_vec();
    by_position.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let mut times: Vec<f64> = by_position.iter().map(|(_, t)| *t).collect();
    let discordant = inversions(&mut times);
    let pairs = (n as f64) * (n as f64 - 1.0) / 2.0;
    Some(1.0 - 2.0 * discordant as f64 / pairs)
}

/// Pairs `i < j` with `v[i] > v[j]`, counted by merge sort (sorts `v`).
fn inversions(v: &mut [f64]) -> u64 {
    let n = v.len();
    if n < 2 {
        return 0;
    }
    let mid = n / 2;
    let mut count = inversions(&mut v[..mid]) + inversions(&mut v[mid..]);
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, mid);
    while i < mid && j < n {
        if v[j] < v[i] {
            count += (mid - i) as u64;
            merged.push(v[j]);
            j += 1;
        } else {
            merged.push(v[i]);
            i += 1;
        }
    }
    merged.extend_from_slice(&v[i..mid]);
    merged.extend_from_slice(&v[j..]);
    v.copy_from_slice(&merged);
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tau_is_one_in_order_minus_one_reversed_and_counts_swaps() {
        let ordered: Vec<(u64, f64)> = (0..100).map(|i| (i, i as f64)).collect();
        assert_eq!(kendall_tau(&ordered), Some(1.0));
        let reversed: Vec<(u64, f64)> = (0..100).map(|i| (i, -(i as f64))).collect();
        assert_eq!(kendall_tau(&reversed), Some(-1.0));
        // One adjacent swap among 4: 1 of 6 pairs discordant → 1 − 2/6.
        let swapped = [(0, 0.0), (1, 2.0), (2, 1.0), (3, 3.0)];
        let tau = kendall_tau(&swapped).unwrap_or_default();
        assert!((tau - (1.0 - 2.0 / 6.0)).abs() < 1e-12, "{tau}");
        assert_eq!(kendall_tau(&[(1, 1.0)]), None);
    }

    #[test]
    fn order_ids_name_their_reservation() {
        let id = Uuid::new_v4();
        assert_eq!(reservation_of(&format!("ord_{}", id.simple())), Some(id));
        assert_eq!(reservation_of("nope"), None);
    }
}
