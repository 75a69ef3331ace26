//! The relay: outbox rows → Redis Streams, at least once.
//!
//! One batch is one Postgres transaction:
//!
//! 1. claim the oldest unpublished rows with `FOR UPDATE SKIP LOCKED` (another replica's
//!    relay skips them and takes the next batch);
//! 2. `XADD` each to its topic's stream, pipelined, with the event id as a field;
//! 3. stamp them `published_at` and commit.
//!
//! If Redis fails in step 2 the transaction rolls back and the rows stay unpublished for
//! the next tick. If the process dies after step 2 but before the commit, the rows are
//! published again by the next relay: consumers see a duplicate entry with the same
//! event id, and [`super::consumer`] skips it.

use super::{Topic, stream_key};
use crate::state::AppState;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

#[derive(sqlx::FromRow)]
struct Row {
    seq: i64,
    id: Uuid,
    topic: String,
    aggregate_id: Uuid,
    payload: Value,
    created_at: DateTime<Utc>,
}

/// Publishes one batch; returns how many rows it published.
pub async fn relay_once(state: &AppState) -> anyhow::Result<usize> {
    let cfg = &state.config.outbox;
    let mut tx = state.db.begin().await?;
    let rows = sqlx::query_as::<_, Row>(
        "SELECT seq, id, topic, aggregate_id, payload, created_at FROM outbox
         WHERE published_at IS NULL
         ORDER BY seq
         LIMIT $1
         FOR UPDATE SKIP LOCKED",
    )
    .bind(i64::from(cfg.batch))
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mut pipe = redis::pipe();
    for r in &rows {
        let Some(topic) = Topic::parse(&r.topic) else {
            // The table's CHECK constraint makes this unreachable; skip rather than
            // block the stream behind one bad row.
            tracing::error!(seq = r.seq, topic = %r.topic, "outbox row with an unknown topic");
            continue;
        };
        pipe.cmd("XADD")
            .arg(stream_key(&state.redis, topic))
            .arg("MAXLEN")
            .arg("~")
            .arg(cfg.stream_maxlen)
            .arg("*")
            .arg("id")
            .arg(r.id.to_string())
            .arg("topic")
            .arg(topic.as_str())
            .arg("aggregate_id")
            .arg(r.aggregate_id.to_string())
            .arg("occurred_at")
            .arg(r.created_at.to_rfc3339())
            .arg("seq")
            .arg(r.seq)
            .arg("payload")
            .arg(r.payload.to_string());
    }
    let _: Vec<String> = pipe.query_async(&mut state.redis.conn()).await?;
    let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
    sqlx::query("UPDATE outbox SET published_at = $2 WHERE seq = ANY($1)")
        .bind(&seqs)
        .bind(state.clock.now())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    metrics::counter!("outbox_published_total").increment(rows.len() as u64);
    Ok(rows.len())
}

/// Publishes batches until one comes back short; returns the total.
pub async fn relay(state: &AppState) -> anyhow::Result<usize> {
    let batch = state.config.outbox.batch as usize;
    let mut total = 0;
    loop {
        let n = relay_once(state).await?;
        total += n;
        if n < batch {
            return Ok(total);
        }
    }
}

/// Deletes published outbox rows and processed-event records older than the retention.
/// Consumers must not lag behind by more than the retention (a week by default).
pub async fn purge(state: &AppState) -> anyhow::Result<u64> {
    let retention = chrono::Duration::from_std(state.config.outbox.retention)?;
    let before = state.clock.now() - retention;
    let a = sqlx::query("DELETE FROM outbox WHERE published_at < $1")
        .bind(before)
        .execute(&state.db)
        .await?
        .rows_affected();
    let b = sqlx::query("DELETE FROM processed_events WHERE processed_at < $1")
        .bind(before)
        .execute(&state.db)
        .await?
        .rows_affected();
    Ok(a + b)
}
