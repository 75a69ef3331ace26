//! Writing holds to Postgres, with group commit.
//!
//! Every reservation is one atomic statement ([`insert_one`]). Under a stampede most of
//! Postgres' time per reservation is not the rows but the statement around them:
//! protocol messages, executor start-up for five data-modifying steps, snapshot,
//! commit record and WAL flush. So concurrent holds share a statement.
//!
//! **Group commit** ([`HoldWriter`]): a request queues its hold and waits. At most
//! `URR_BOOKING_WRITERS` batches are in flight; whoever gets a free writer slot takes
//! everything queued (up to `URR_BOOKING_BATCH`) and writes it. An idle origin therefore
//! writes each hold alone, at once (no timer, no added latency); a busy one writes them
//! in groups whose size follows the load, the way Postgres groups WAL flushes.
//!
//! **All or nothing per reservation, still.** A batch is one statement, so it commits
//! every hold in it or none. If anything refuses (a seat taken in the meantime, a limit,
//! sold-out stock, an idempotency key used before, a deadlock), the batch rolls back and
//! each of its holds is written again alone, which gives each request its exact
//! refusal. Batches are only formed where that is rare: one event, distinct users,
//! distinct seats. The Redis filter in front already turned away the hopeless requests.
//!
//! A batch runs on its own task: a client hanging up never cancels a statement whose
//! outcome other requests are waiting for.

use super::request::Line;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{Semaphore, oneshot};
use tracing::Instrument;
use uuid::Uuid;

/// A reservation about to be written: everything the statement needs, priced.
#[derive(Debug)]
pub struct NewReservation {
    pub id: Uuid,
    pub event_title: String,
    pub user_id: Uuid,
    pub event_id: Uuid,
    pub lines: Vec<Line>,
    pub fence: i64,
    pub expires_at: DateTime<Utc>,
    pub now: DateTime<Utc>,
    pub limit: i64,
    pub idempotency_key: Option<String>,
    pub digest: Vec<u8>,
}

impl NewReservation {
    fn ticket_count(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity).sum()
    }

    fn amount(&self) -> i64 {
        self.lines.iter().map(|l| l.quantity * l.unit_price).sum()
    }

    /// The `reservation.created` outbox payload.
    fn created_event(&self) -> serde_json::Value {
        serde_json::json!({
            "reservation_id": self.id,
            "event_id": self.event_id,
            "user_id": self.user_id,
            "amount": self.amount(),
            "ticket_count": self.ticket_count(),
            "seat_ids": self.lines.iter().filter_map(|l| l.seat_id).collect::<Vec<_>>(),
            "ticket_types": self.lines.iter().filter_map(|l| Some(serde_json::json!({
                "ticket_type_id": l.ticket_type_id?,
                "quantity": l.quantity,
            }))).collect::<Vec<_>>(),
            "expires_at": self.expires_at,
        })
    }
}

/// Why Postgres refused a reservation.
#[derive(Debug)]
pub enum Refusal {
    /// The Idempotency-Key was used before.
    SameKey,
    /// The user has an identical pending reservation.
    Duplicate,
    SeatTaken,
    SoldOut,
    Limit,
    /// Lost a deadlock or serialization race three times in a row: too much
    /// contention right now (each run sees the previous winner's result).
    Contention,
    /// The store failed (connection, timeout) or the writer lost the hold.
    Failed(WriteError),
}

/// Why a hold could not be written at all (as opposed to a [`Refusal`] of the request).
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the hold writer {0}")]
    Writer(&'static str),
}

fn refusal(e: sqlx::Error) -> Refusal {
    if let sqlx::Error::Database(db) = &e {
        match (db.code().as_deref(), db.constraint()) {
            (_, Some("reservation_items_live_seat")) => return Refusal::SeatTaken,
            (_, Some("reservations_idempotency")) => return Refusal::SameKey,
            (_, Some("reservations_pending_identical")) => return Refusal::Duplicate,
            (Some("UR001"), _) if db.message() == "LIMIT" => return Refusal::Limit,
            (Some("UR001"), _) if db.message() == "SOLD_OUT" => return Refusal::SoldOut,
            // Deadlock or serialization failure: another transaction won a race on the
            // same rows; running again sees its result.
            (Some("40P01" | "40001"), _) => return Refusal::Contention,
            _ => {}
        }
    }
    Refusal::Failed(e.into())
}

/// Group commit of holds; see the module docs.
pub struct HoldWriter {
    queue: Mutex<VecDeque<Queued>>,
    writers: Arc<Semaphore>,
    max_batch: usize,
    next_ticket: AtomicU64,
    stats: Stats,
}

struct Queued {
    ticket: u64,
    hold: Arc<NewReservation>,
    done: oneshot::Sender<Result<(), Refusal>>,
}

/// Counters of what the writer did, for tests and metrics.
#[derive(Default)]
pub struct Stats {
    /// Statements that wrote more than one hold and committed.
    pub batches: AtomicU64,
    /// Holds written by those statements.
    pub batched_holds: AtomicU64,
    /// Batches that were refused and written again hold by hold.
    pub batches_split: AtomicU64,
}

impl HoldWriter {
    pub fn new(writers: usize, max_batch: usize) -> HoldWriter {
        HoldWriter {
            queue: Mutex::new(VecDeque::new()),
            writers: Arc::new(Semaphore::new(writers.max(1))),
            max_batch: max_batch.max(1),
            next_ticket: AtomicU64::new(0),
            stats: Stats::default(),
        }
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Writes `hold`, alone or with whatever else is queued; resolves with its own
    /// outcome.
    pub async fn write(
        self: &Arc<Self>,
        db: &PgPool,
        hold: Arc<NewReservation>,
    ) -> Result<(), Refusal> {
        let (done, mut outcome) = oneshot::channel();
        let ticket = self.next_ticket.fetch_add(1, Ordering::Relaxed);
        self.lock().push_back(Queued { ticket, hold, done });
        let _unqueue = Unqueue {
            writer: self,
            ticket,
        };
        tokio::select! {
            biased;
            res = &mut outcome => return flatten(res),
            permit = self.writers.clone().acquire_owned() => {
                let permit = permit.map_err(|_| Refusal::Failed(WriteError::Writer("is shut down")))?;
                let batch = {
                    let mut queue = self.lock();
                    if queue.iter().any(|q| q.ticket == ticket) {
                        let n = queue.len().min(self.max_batch);
                        // Our own hold may sit beyond the first `max_batch`; take it too.
                        let mut batch: Vec<Queued> = queue.drain(..n).collect();
                        if let Some(i) = queue.iter().position(|q| q.ticket == ticket) {
                            batch.extend(queue.remove(i));
                        }
                        batch
                    } else {
                        Vec::new()
                    }
                };
                if !batch.is_empty() {
                    let writer = Arc::clone(self);
                    let db = db.clone();
                    // The batch carries this request's span, so its statements and
                    // errors are logged under the request that started it.
                    tokio::spawn(
                        async move {
                            writer.write_batch(&db, batch).await;
                            drop(permit);
                        }
                        .instrument(tracing::Span::current()),
                    );
                }
            }
        }
        flatten(outcome.await)
    }

    /// Holds queued now (not yet taken by a writer).
    pub fn queued(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Queued>> {
        // A panic while holding this lock cannot leave the queue half-changed (push,
        // drain and remove are single operations), so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Splits `batch` into groups that may share a statement, and writes them.
    async fn write_batch(&self, db: &PgPool, batch: Vec<Queued>) {
        let groups = group(batch);
        let writes = groups.into_iter().map(|g| self.write_group(db, g));
        futures::future::join_all(writes).await;
    }

    async fn write_group(&self, db: &PgPool, group: Vec<Queued>) {
        metrics::histogram!("booking_holds_per_statement").record(group.len() as f64);
        if group.len() > 1 {
            let holds: Vec<&NewReservation> = group.iter().map(|q| q.hold.as_ref()).collect();
            match insert_many(db, &holds).await {
                Ok(()) => {
                    self.stats.batches.fetch_add(1, Ordering::Relaxed);
                    self.stats
                        .batched_holds
                        .fetch_add(group.len() as u64, Ordering::Relaxed);
                    for q in group {
                        let _ = q.done.send(Ok(()));
                    }
                    return;
                }
                Err(e) => {
                    self.stats.batches_split.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("booking_write_batches_split_total").increment(1);
                    tracing::debug!(error = %e, size = group.len(), "batch refused; writing its holds one by one");
                }
            }
        }
        let alone = group.into_iter().map(|q| async move {
            let res = insert_one_with_retry(db, &q.hold).await;
            let _ = q.done.send(res);
        });
        futures::future::join_all(alone).await;
    }
}

/// Takes a queued hold back out if its request goes away before a writer took it (the
/// client hung up): nobody would hear the outcome, and it must not be written later by
/// some other request's batch. Once taken, the hold is written whatever happens.
struct Unqueue<'a> {
    writer: &'a HoldWriter,
    ticket: u64,
}

impl Drop for Unqueue<'_> {
    fn drop(&mut self) {
        let mut queue = self.writer.lock();
        if let Some(i) = queue.iter().position(|q| q.ticket == self.ticket) {
            queue.remove(i);
        }
    }
}

fn flatten(res: Result<Result<(), Refusal>, oneshot::error::RecvError>) -> Result<(), Refusal> {
    res.unwrap_or_else(|_| Err(Refusal::Failed(WriteError::Writer("dropped a hold"))))
}

/// Greedy grouping: a hold joins the first group of its event and limit that has none
/// of its user or seats; otherwise it starts a group. Holds that would certainly
/// collide inside one statement never share it.
fn group(batch: Vec<Queued>) -> Vec<Vec<Queued>> {
    struct Group {
        event: Uuid,
        limit: i64,
        users: HashSet<Uuid>,
        seats: HashSet<Uuid>,
        holds: Vec<Queued>,
    }
    let mut groups: Vec<Group> = Vec::new();
    for q in batch {
        let h = &q.hold;
        let seats: Vec<Uuid> = h.lines.iter().filter_map(|l| l.seat_id).collect();
        let fits = |g: &Group| {
            g.event == h.event_id
                && g.limit == h.limit
                && !g.users.contains(&h.user_id)
                && !seats.iter().any(|s| g.seats.contains(s))
        };
        match groups.iter_mut().find(|g| fits(g)) {
            Some(g) => {
                g.users.insert(h.user_id);
                g.seats.extend(seats);
                g.holds.push(q);
            }
            None => groups.push(Group {
                event: h.event_id,
                limit: h.limit,
                users: HashSet::from([h.user_id]),
                seats: seats.into_iter().collect(),
                holds: vec![q],
            }),
        }
    }
    groups.into_iter().map(|g| g.holds).collect()
}

/// [`insert_one`], run again (up to three times) when it lost a deadlock.
pub async fn insert_one_with_retry(db: &PgPool, r: &NewReservation) -> Result<(), Refusal> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match insert_one(db, r).await {
            Err(Refusal::Contention) if attempt < 3 => continue,
            other => return other,
        }
    }
}

/// One reservation as ONE statement (one round trip, atomic by itself):
///
/// 1. `quota`: the per-user limit, a conditional upsert on the user's row, so
///    concurrent requests of one user serialise there and cannot both slip under;
/// 2. `stock`: standing stock, conditional decrements that can never go below zero;
/// 3. `res`, `items`: the reservation and its live items; the partial unique index on
///    live seats refuses a seat that is already live elsewhere;
/// 4. `event`: its `reservation.created` outbox row.
///
/// If the limit or the stock refuses, `urr_refuse` raises SQLSTATE UR001 and the whole
/// statement, including the steps that did succeed, rolls back.
async fn insert_one(db: &PgPool, r: &NewReservation) -> Result<(), Refusal> {
    let stock_ids: Vec<Uuid> = r.lines.iter().filter_map(|l| l.ticket_type_id).collect();
    let stock_qty: Vec<i32> = r
        .lines
        .iter()
        .filter(|l| l.ticket_type_id.is_some())
        .map(|l| l.quantity as i32)
        .collect();
    let items = ItemColumns::of(&[r]);
    sqlx::query(
        "WITH quota AS (
             INSERT INTO user_event_tickets AS u (user_id, event_id, tickets) VALUES ($1, $2, $3)
             ON CONFLICT (user_id, event_id) DO UPDATE SET tickets = u.tickets + EXCLUDED.tickets
                 WHERE u.tickets + EXCLUDED.tickets <= $4
             RETURNING u.tickets
         ), stock AS (
             UPDATE ticket_types t
             SET available_quantity = t.available_quantity - x.q, version = t.version + 1, updated_at = $10
             FROM UNNEST($5::uuid[], $6::int[]) AS x(id, q)
             WHERE t.id = x.id AND t.event_id = $2 AND t.available_quantity >= x.q
               AND EXISTS (SELECT 1 FROM quota)
             RETURNING t.id
         ), res AS (
             INSERT INTO reservations (id, user_id, event_id, status, amount, ticket_count, fence,
                                       expires_at, idempotency_key, request_hash, created_at, updated_at)
             SELECT $7, $1, $2, 'pending', $8, $3, $9, $11, $12, $13, $10, $10
             WHERE EXISTS (SELECT 1 FROM quota)
               AND (SELECT count(*) FROM stock) = cardinality($5::uuid[])
             RETURNING id
         ), items AS (
             INSERT INTO reservation_items (id, reservation_id, event_id, seat_id, ticket_type_id,
                                            label, quantity, unit_price)
             SELECT x.i, res.id, $2, x.s, x.t, x.l, x.q, x.p
             FROM res, UNNEST($14::uuid[], $15::uuid[], $16::uuid[], $17::text[], $18::int[], $19::bigint[])
                  AS x(i, s, t, l, q, p)
             RETURNING 1
         ), event AS (
             -- The `reservation.created` outbox row: written if and only if the
             -- reservation is (a data-modifying CTE runs even when nothing reads it).
             INSERT INTO outbox (id, topic, aggregate_id, payload, created_at)
             SELECT $20, 'reservation.created', res.id, $21, $10 FROM res
         )
         SELECT CASE
             WHEN NOT EXISTS (SELECT 1 FROM quota) THEN urr_refuse('LIMIT')
             WHEN (SELECT count(*) FROM stock) <> cardinality($5::uuid[]) THEN urr_refuse('SOLD_OUT')
             ELSE (SELECT count(*) FROM items)::int
         END",
    )
    .bind(r.user_id)
    .bind(r.event_id)
    .bind(r.ticket_count() as i32)
    .bind(r.limit as i32)
    .bind(&stock_ids)
    .bind(&stock_qty)
    .bind(r.id)
    .bind(r.amount())
    .bind(r.fence)
    .bind(r.now)
    .bind(r.expires_at)
    .bind(r.idempotency_key.as_deref())
    .bind(&r.digest)
    .bind(&items.ids)
    .bind(&items.seats)
    .bind(&items.types)
    .bind(&items.labels)
    .bind(&items.quantities)
    .bind(&items.prices)
    .bind(Uuid::now_v7())
    .bind(r.created_event())
    .execute(db)
    .await
    .map_err(refusal)?;
    Ok(())
}

/// The items of some reservations as parallel arrays, for `UNNEST`.
#[derive(Default)]
struct ItemColumns {
    ids: Vec<Uuid>,
    reservations: Vec<Uuid>,
    seats: Vec<Option<Uuid>>,
    types: Vec<Option<Uuid>>,
    labels: Vec<String>,
    quantities: Vec<i32>,
    prices: Vec<i64>,
}

impl ItemColumns {
    fn of(holds: &[&NewReservation]) -> ItemColumns {
        let mut c = ItemColumns::default();
        for h in holds {
            for l in &h.lines {
                c.ids.push(Uuid::now_v7());
                c.reservations.push(h.id);
                c.seats.push(l.seat_id);
                c.types.push(l.ticket_type_id);
                c.labels.push(l.label.clone());
                c.quantities.push(l.quantity as i32);
                c.prices.push(l.unit_price);
            }
        }
        c
    }
}

/// Several reservations of one event (distinct users, distinct seats) as ONE
/// statement: the same steps as [`insert_one`] over arrays, with the standing stock
/// summed per ticket type first. If any user's limit or any type's stock refuses,
/// `urr_refuse` rolls the whole statement back; so does any unique violation. The
/// caller then writes each hold alone.
async fn insert_many(db: &PgPool, holds: &[&NewReservation]) -> Result<(), sqlx::Error> {
    let Some(first) = holds.first() else {
        return Ok(());
    };
    let now = holds.iter().map(|h| h.now).max().unwrap_or(first.now);
    let mut stock_ids = Vec::new();
    let mut stock_qty = Vec::new();
    for h in holds {
        for l in &h.lines {
            if let Some(t) = l.ticket_type_id {
                stock_ids.push(t);
                stock_qty.push(l.quantity as i32);
            }
        }
    }
    let items = ItemColumns::of(holds);
    sqlx::query(
        "WITH r AS (
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int[], $4::bigint[], $5::bigint[],
                                  $6::timestamptz[], $7::text[], $8::bytea[], $9::timestamptz[],
                                  $10::uuid[], $11::jsonb[])
                 AS r(id, user_id, tickets, amount, fence, expires_at, idempotency_key,
                      request_hash, created_at, outbox_id, payload)
         ), quota AS (
             INSERT INTO user_event_tickets AS u (user_id, event_id, tickets)
             SELECT user_id, $12, tickets FROM r
             ON CONFLICT (user_id, event_id) DO UPDATE SET tickets = u.tickets + EXCLUDED.tickets
                 WHERE u.tickets + EXCLUDED.tickets <= $13
             RETURNING 1
         ), wanted AS (
             SELECT id, sum(q)::int AS q FROM UNNEST($14::uuid[], $15::int[]) AS s(id, q) GROUP BY id
         ), stock AS (
             UPDATE ticket_types t
             SET available_quantity = t.available_quantity - w.q, version = t.version + 1, updated_at = $16
             FROM wanted w
             WHERE t.id = w.id AND t.event_id = $12 AND t.available_quantity >= w.q
             RETURNING 1
         ), res AS (
             INSERT INTO reservations (id, user_id, event_id, status, amount, ticket_count, fence,
                                       expires_at, idempotency_key, request_hash, created_at, updated_at)
             SELECT id, user_id, $12, 'pending', amount, tickets, fence, expires_at,
                    idempotency_key, request_hash, created_at, created_at
             FROM r
         ), items AS (
             INSERT INTO reservation_items (id, reservation_id, event_id, seat_id, ticket_type_id,
                                            label, quantity, unit_price)
             SELECT x.i, x.r, $12, x.s, x.t, x.l, x.q, x.p
             FROM UNNEST($17::uuid[], $18::uuid[], $19::uuid[], $20::uuid[], $21::text[],
                         $22::int[], $23::bigint[]) AS x(i, r, s, t, l, q, p)
         ), event AS (
             INSERT INTO outbox (id, topic, aggregate_id, payload, created_at)
             SELECT outbox_id, 'reservation.created', id, payload, created_at FROM r
         )
         SELECT CASE
             WHEN (SELECT count(*) FROM quota) <> cardinality($1::uuid[]) THEN urr_refuse('LIMIT')
             WHEN (SELECT count(*) FROM stock) <> (SELECT count(*) FROM wanted) THEN urr_refuse('SOLD_OUT')
             ELSE 0
         END",
    )
    .bind(holds.iter().map(|h| h.id).collect::<Vec<_>>())
    .bind(holds.iter().map(|h| h.user_id).collect::<Vec<_>>())
    .bind(holds.iter().map(|h| h.ticket_count() as i32).collect::<Vec<_>>())
    .bind(holds.iter().map(|h| h.amount()).collect::<Vec<_>>())
    .bind(holds.iter().map(|h| h.fence).collect::<Vec<_>>())
    .bind(holds.iter().map(|h| h.expires_at).collect::<Vec<_>>())
    .bind(
        holds
            .iter()
            .map(|h| h.idempotency_key.clone())
            .collect::<Vec<_>>(),
    )
    .bind(holds.iter().map(|h| h.digest.clone()).collect::<Vec<_>>())
    .bind(holds.iter().map(|h| h.now).collect::<Vec<_>>())
    .bind(holds.iter().map(|_| Uuid::now_v7()).collect::<Vec<_>>())
    .bind(holds.iter().map(|h| h.created_event()).collect::<Vec<_>>())
    .bind(first.event_id)
    .bind(first.limit as i32)
    .bind(&stock_ids)
    .bind(&stock_qty)
    .bind(now)
    .bind(&items.ids)
    .bind(&items.reservations)
    .bind(&items.seats)
    .bind(&items.types)
    .bind(&items.labels)
    .bind(&items.quantities)
    .bind(&items.prices)
    .execute(db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold(event: Uuid, user: Uuid, seats: &[Uuid], limit: i64) -> Arc<NewReservation> {
        let now = Utc::now();
        Arc::new(NewReservation {
            id: Uuid::now_v7(),
            event_title: "Concert".into(),
            user_id: user,
            event_id: event,
            lines: seats
                .iter()
                .map(|s| Line {
                    seat_id: Some(*s),
                    ticket_type_id: None,
                    label: "A-1".into(),
                    quantity: 1,
                    unit_price: 10_000,
                    available: 0,
                })
                .collect(),
            fence: 1,
            expires_at: now,
            now,
            limit,
            idempotency_key: None,
            digest: Vec::new(),
        })
    }

    fn queued(ticket: u64, hold: Arc<NewReservation>) -> Queued {
        Queued {
            ticket,
            hold,
            done: oneshot::channel().0,
        }
    }

    fn tickets(groups: &[Vec<Queued>]) -> Vec<Vec<u64>> {
        groups
            .iter()
            .map(|g| g.iter().map(|q| q.ticket).collect())
            .collect()
    }

    #[test]
    fn certain_collisions_never_share_a_statement() {
        let (e1, e2) = (Uuid::new_v4(), Uuid::new_v4());
        let (u1, u2, u3, u4) = (
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        let (s1, s2, s3) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let batch = vec![
            queued(0, hold(e1, u1, &[s1], 4)),
            queued(1, hold(e1, u2, &[s2], 4)),
            // The same user again: its per-user row would be updated twice.
            queued(2, hold(e1, u1, &[s3], 4)),
            // Seats already in the first group (s2) and the second (s3).
            queued(3, hold(e1, u3, &[s3, s2], 4)),
            // Another event, another limit.
            queued(4, hold(e2, u4, &[Uuid::new_v4()], 4)),
            queued(5, hold(e1, u4, &[Uuid::new_v4()], 2)),
            queued(6, hold(e1, u4, &[Uuid::new_v4()], 4)),
        ];
        assert_eq!(
            tickets(&group(batch)),
            vec![vec![0, 1, 6], vec![2], vec![3], vec![4], vec![5]]
        );
    }

    #[tokio::test]
    async fn a_hold_whose_request_went_away_is_never_written_later() {
        // Nothing is written here: every writer slot is taken, so holds only queue.
        let db = PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").expect("lazy pool");
        let writer = Arc::new(HoldWriter::new(1, 64));
        let _busy = writer.writers.clone().acquire_owned().await.expect("slot");
        let pending = writer.write(&db, hold(Uuid::new_v4(), Uuid::new_v4(), &[], 4));
        let mut pending = Box::pin(pending);
        assert!(futures::poll!(pending.as_mut()).is_pending());
        assert_eq!(writer.queued(), 1);
        drop(pending);
        assert_eq!(writer.queued(), 0, "an abandoned hold left the queue");
    }
}
