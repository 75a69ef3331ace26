//! Consuming the event streams: consumer groups, crash recovery, exactly-once effect.
//!
//! A consumer (stats, notifications, ...) is a Redis consumer *group* per purpose and a
//! consumer *name* per process. [`Consumer::poll_once`] does, in order:
//!
//! 1. its own **pending** entries (`XREADGROUP ... 0`): what it read but never
//!    acknowledged before it crashed or was restarted under the same name;
//! 2. **stale** entries of other consumers of the group (`XAUTOCLAIM` after
//!    [`Consumer::min_idle`]): what a process that never came back had read;
//! 3. **new** entries (`XREADGROUP ... >`).
//!
//! Each entry is applied with [`Consumer::apply`]: one Postgres transaction that inserts
//! `(consumer group, event id)` into `processed_events` and, only if that row is new,
//! runs the [`Handler`] on the same transaction. Then the entry is `XACK`ed. A crash
//! before the commit leaves the entry pending and nothing applied: it is applied on
//! redelivery. A crash after the commit but before the ack redelivers an entry whose id
//! is already recorded: it is skipped and acknowledged. A relay that published an event
//! twice produces two entries with one id: the second is skipped. So every event takes
//! effect exactly once, as long as the handler's effect lives in Postgres.
//!
//! A handler error rolls its transaction back and leaves the entry pending; the next
//! poll retries it (the other entries go on). Entries that cannot be parsed at all are
//! logged and acknowledged: no retry can ever fix them.

use super::{Topic, stream_key};
use crate::state::AppState;
use crate::store::Redis;
use chrono::{DateTime, Utc};
use redis::Value;
use serde_json::Value as Json;
use sqlx::{PgConnection, PgPool};
use std::future::Future;
use std::time::Duration;
use uuid::Uuid;

/// An event as a consumer receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub id: Uuid,
    pub topic: Topic,
    pub aggregate_id: Uuid,
    pub occurred_at: DateTime<Utc>,
    /// Outbox sequence number (insertion order).
    pub seq: i64,
    pub payload: Json,
}

/// One stream entry handed to this consumer.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub stream: String,
    pub entry_id: String,
    /// `None`: the entry could not be parsed (or was trimmed away while pending).
    pub event: Option<Event>,
}

/// What a consumer does with an event, inside the transaction that also records the
/// event as processed. Return an error to retry it later.
pub trait Handler: Sync {
    fn handle(
        &self,
        conn: &mut PgConnection,
        event: &Event,
    ) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// How [`Consumer::apply`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The handler ran and its transaction committed.
    Done,
    /// This consumer group had already processed the event.
    Duplicate,
    /// Nothing to apply (malformed or trimmed entry).
    Skipped,
}

/// Counts of one [`Consumer::poll_once`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PollStats {
    pub applied: usize,
    pub duplicates: usize,
    pub skipped: usize,
    pub failed: usize,
}

impl PollStats {
    /// Entries that were handled and acknowledged.
    pub fn acked(&self) -> usize {
        self.applied + self.duplicates + self.skipped
    }
}

/// How far behind a consumer group is (see [`Consumer::backlog`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    pub lag: u64,
    pub pending: u64,
}

/// A member of a consumer group reading some topics.
#[derive(Clone)]
pub struct Consumer {
    redis: Redis,
    db: PgPool,
    group: String,
    name: String,
    topics: Vec<Topic>,
    /// Pending entries of other members idle this long are taken over.
    pub min_idle: Duration,
}

impl Consumer {
    /// `group`: the purpose (e.g. `stats`), shared by every replica; `name`: this
    /// process (e.g. host and pid), stable across restarts where possible.
    pub fn new(state: &AppState, group: &str, name: &str, topics: &[Topic]) -> Consumer {
        Consumer {
            redis: state.redis.clone(),
            db: state.db.clone(),
            group: group.to_owned(),
            name: name.to_owned(),
            topics: topics.to_vec(),
            min_idle: Duration::from_secs(60),
        }
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    fn keys(&self) -> Vec<String> {
        self.topics
            .iter()
            .map(|t| stream_key(&self.redis, *t))
            .collect()
    }

    /// Creates the group on every stream (and the stream itself) if missing. A new group
    /// starts at the beginning of the stream, so nothing published before is missed.
    pub async fn ensure_groups(&self) -> redis::RedisResult<()> {
        let mut c = self.redis.conn();
        for key in self.keys() {
            let created: redis::RedisResult<String> = redis::cmd("XGROUP")
                .arg("CREATE")
                .arg(&key)
                .arg(&self.group)
                .arg("0")
                .arg("MKSTREAM")
                .query_async(&mut c)
                .await;
            match created {
                Ok(_) => {}
                Err(e) if e.code() == Some("BUSYGROUP") => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    async fn read_group(&self, from: &str, count: usize) -> redis::RedisResult<Vec<Delivery>> {
        let keys = self.keys();
        let mut cmd = redis::cmd("XREADGROUP");
        cmd.arg("GROUP")
            .arg(&self.group)
            .arg(&self.name)
            .arg("COUNT")
            .arg(count)
            .arg("STREAMS");
        for k in &keys {
            cmd.arg(k);
        }
        for _ in &keys {
            cmd.arg(from);
        }
        let reply: Value = cmd.query_async(&mut self.redis.conn()).await?;
        Ok(parse_streams(&reply))
    }

    /// Entries this member read earlier and never acknowledged.
    pub async fn read_pending(&self, count: usize) -> redis::RedisResult<Vec<Delivery>> {
        self.read_group("0", count).await
    }

    /// Entries never delivered to any member of the group.
    pub async fn read_new(&self, count: usize) -> redis::RedisResult<Vec<Delivery>> {
        self.read_group(">", count).await
    }

    /// Takes over entries other members left pending for at least [`Self::min_idle`].
    pub async fn claim_stale(&self, count: usize) -> redis::RedisResult<Vec<Delivery>> {
        let mut out = Vec::new();
        let mut c = self.redis.conn();
        for key in self.keys() {
            let reply: Value = redis::cmd("XAUTOCLAIM")
                .arg(&key)
                .arg(&self.group)
                .arg(&self.name)
                .arg(self.min_idle.as_millis() as u64)
                .arg("0")
                .arg("COUNT")
                .arg(count)
                .query_async(&mut c)
                .await?;
            if let Value::Array(parts) = &reply
                && let Some(entries) = parts.get(1)
            {
                out.extend(parse_entries(&key, entries));
            }
        }
        Ok(out)
    }

    /// Applies one delivery exactly once for this group (see the module docs). Does not
    /// acknowledge it.
    pub async fn apply<H: Handler>(
        &self,
        delivery: &Delivery,
        handler: &H,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Applied> {
        let Some(event) = &delivery.event else {
            return Ok(Applied::Skipped);
        };
        let mut tx = self.db.begin().await?;
        let fresh = sqlx::query(
            "INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(&self.group)
        .bind(event.id)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            return Ok(Applied::Duplicate);
        }
        handler.handle(&mut tx, event).await?;
        tx.commit().await?;
        Ok(Applied::Done)
    }

    /// Acknowledges a delivery: the group will not see it again.
    pub async fn ack(&self, delivery: &Delivery) -> redis::RedisResult<()> {
        let _: i64 = redis::cmd("XACK")
            .arg(&delivery.stream)
            .arg(&self.group)
            .arg(&delivery.entry_id)
            .query_async(&mut self.redis.conn())
            .await?;
        Ok(())
    }

    /// How far behind the group is, summed over its streams: entries not yet delivered
    /// to any member (`lag`, per Redis 7's `XINFO GROUPS`) and entries delivered but not
    /// acknowledged (`pending`).
    pub async fn backlog(&self) -> redis::RedisResult<Backlog> {
        let mut out = Backlog::default();
        let mut c = self.redis.conn();
        for key in self.keys() {
            let reply: Value = redis::cmd("XINFO")
                .arg("GROUPS")
                .arg(&key)
                .query_async(&mut c)
                .await?;
            let Value::Array(groups) = reply else {
                continue;
            };
            for g in &groups {
                let fields: Vec<(String, &Value)> = match g {
                    Value::Array(flat) => flat
                        .chunks(2)
                        .filter_map(|kv| Some((text(kv.first()?)?, kv.get(1)?)))
                        .collect(),
                    Value::Map(pairs) => pairs
                        .iter()
                        .filter_map(|(k, v)| Some((text(k)?, v)))
                        .collect(),
                    _ => continue,
                };
                let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
                if get("name").and_then(text).as_deref() != Some(self.group.as_str()) {
                    continue;
                }
                let num = |v: Option<&Value>| match v {
                    Some(Value::Int(i)) => u64::try_from(*i).ok(),
                    _ => None,
                };
                out.pending += num(get("pending")).unwrap_or(0);
                out.lag += num(get("lag")).unwrap_or(0);
            }
        }
        Ok(out)
    }

    /// Pending, then stale, then new entries (up to `count` of each), each applied and
    /// acknowledged. Handler failures are counted and left pending.
    pub async fn poll_once<H: Handler>(
        &self,
        handler: &H,
        count: usize,
        now: DateTime<Utc>,
    ) -> anyhow::Result<PollStats> {
        let mut stats = PollStats::default();
        let mut batch = self.read_pending(count).await?;
        batch.extend(self.claim_stale(count).await?);
        batch.extend(self.read_new(count).await?);
        for d in &batch {
            match self.apply(d, handler, now).await {
                Ok(outcome) => {
                    match outcome {
                        Applied::Done => stats.applied += 1,
                        Applied::Duplicate => stats.duplicates += 1,
                        Applied::Skipped => {
                            tracing::error!(stream = %d.stream, entry = %d.entry_id, "unreadable event entry acknowledged without processing");
                            stats.skipped += 1;
                        }
                    }
                    self.ack(d).await?;
                }
                Err(e) => {
                    tracing::warn!(group = %self.group, entry = %d.entry_id, error = ?e, "event handler failed; it stays pending and is retried");
                    stats.failed += 1;
                }
            }
        }
        Ok(stats)
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        Value::Int(i) => Some(i.to_string()),
        _ => None,
    }
}

/// `XREADGROUP` reply: `[[stream, [[id, [k, v, ...]], ...]], ...]` (RESP2) or a map of
/// stream → entries (RESP3). Empty or nil: nothing.
fn parse_streams(reply: &Value) -> Vec<Delivery> {
    let mut out = Vec::new();
    match reply {
        Value::Array(streams) => {
            for s in streams {
                if let Value::Array(pair) = s
                    && let (Some(name), Some(entries)) = (pair.first().and_then(text), pair.get(1))
                {
                    out.extend(parse_entries(&name, entries));
                }
            }
        }
        Value::Map(pairs) => {
            for (name, entries) in pairs {
                if let Some(name) = text(name) {
                    out.extend(parse_entries(&name, entries));
                }
            }
        }
        _ => {}
    }
    out
}

/// `[[id, [k, v, ...] | nil], ...]`.
fn parse_entries(stream: &str, entries: &Value) -> Vec<Delivery> {
    let Value::Array(entries) = entries else {
        return Vec::new();
    };
    entries
        .iter()
        .filter_map(|e| {
            let Value::Array(parts) = e else { return None };
            let entry_id = parts.first().and_then(text)?;
            let event = parts.get(1).and_then(parse_fields);
            Some(Delivery {
                stream: stream.to_owned(),
                entry_id,
                event,
            })
        })
        .collect()
}

fn parse_fields(fields: &Value) -> Option<Event> {
    let pairs: Vec<(String, String)> = match fields {
        Value::Array(flat) => flat
            .chunks(2)
            .filter_map(|kv| Some((text(kv.first()?)?, text(kv.get(1)?)?)))
            .collect(),
        Value::Map(map) => map
            .iter()
            .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
            .collect(),
        _ => return None,
    };
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    Some(Event {
        id: get("id")?.parse().ok()?,
        topic: Topic::parse(get("topic")?)?,
        aggregate_id: get("aggregate_id")?.parse().ok()?,
        occurred_at: DateTime::parse_from_rfc3339(get("occurred_at")?)
            .ok()?
            .with_timezone(&Utc),
        seq: get("seq")?.parse().ok()?,
        payload: serde_json::from_str(get("payload")?).ok()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    #[test]
    fn parses_resp2_replies_and_tolerates_garbage() {
        let id = Uuid::now_v7();
        let agg = Uuid::new_v4();
        let fields = Value::Array(vec![
            bulk("id"),
            bulk(&id.to_string()),
            bulk("topic"),
            bulk("payment.confirmed"),
            bulk("aggregate_id"),
            bulk(&agg.to_string()),
            bulk("occurred_at"),
            bulk("2026-11-27T12:00:00+00:00"),
            bulk("seq"),
            bulk("7"),
            bulk("payload"),
            bulk(r#"{"amount":1000}"#),
        ]);
        let reply = Value::Array(vec![Value::Array(vec![
            bulk("s1"),
            Value::Array(vec![
                Value::Array(vec![bulk("1-0"), fields]),
                Value::Array(vec![bulk("2-0"), Value::Nil]),
                Value::Array(vec![
                    bulk("3-0"),
                    Value::Array(vec![bulk("id"), bulk("nope")]),
                ]),
            ]),
        ])]);
        let got = parse_streams(&reply);
        assert_eq!(got.len(), 3);
        let e = got[0].event.as_ref().expect("parsed");
        assert_eq!(e.id, id);
        assert_eq!(e.topic, Topic::PaymentConfirmed);
        assert_eq!(e.aggregate_id, agg);
        assert_eq!(e.seq, 7);
        assert_eq!(e.payload["amount"], 1000);
        assert!(got[1].event.is_none());
        assert!(got[2].event.is_none());
        assert!(parse_streams(&Value::Nil).is_empty());
    }
}
