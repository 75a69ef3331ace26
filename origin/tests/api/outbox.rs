//! The outbox: events written with their change, relayed to Redis Streams at least
//! once, applied exactly once by consumers that crash and restart.

use crate::client::{hold_seats, hold_standing, pay, spawn_env};
use crate::fixtures::{EventSpec, create_event, create_fans};
use crate::helpers::TestApp;
use chrono::Duration;
use sqlx::PgConnection;
use std::collections::HashSet;
use urr_origin::booking;
use urr_origin::outbox::{self, Topic, stream_key};
use urr_origin::outbox::{Applied, Consumer, Event, Handler};
use uuid::Uuid;

/// A consumer whose effect is a row per event (no unique key, so a second apply would
/// show as a duplicate row). It "crashes" (fails) on one chosen event.
struct Recorder {
    crash_on: Option<Uuid>,
}

impl Handler for Recorder {
    async fn handle(&self, conn: &mut PgConnection, event: &Event) -> anyhow::Result<()> {
        sqlx::query("INSERT INTO test_consumed (event_id, topic) VALUES ($1, $2)")
            .bind(event.id)
            .bind(event.topic.as_str())
            .execute(&mut *conn)
            .await?;
        if self.crash_on == Some(event.id) {
            anyhow::bail!("consumer crashed half-way");
        }
        Ok(())
    }
}

const OK: Recorder = Recorder { crash_on: None };

async fn stream_len(app: &TestApp) -> i64 {
    let mut c = app.state.redis.conn();
    let mut total = 0;
    for t in Topic::ALL {
        let n: i64 = redis::cmd("XLEN")
            .arg(stream_key(&app.state.redis, t))
            .query_async(&mut c)
            .await
            .expect("XLEN");
        total += n;
    }
    total
}

async fn pending(app: &TestApp, group: &str) -> i64 {
    let mut c = app.state.redis.conn();
    let mut total = 0;
    for t in Topic::ALL {
        let reply: redis::Value = redis::cmd("XPENDING")
            .arg(stream_key(&app.state.redis, t))
            .arg(group)
            .query_async(&mut c)
            .await
            .expect("XPENDING");
        if let redis::Value::Array(parts) = reply
            && let Some(redis::Value::Int(n)) = parts.first()
        {
            total += n;
        }
    }
    total
}

/// Polls until a poll acknowledges nothing.
async fn drain(app: &TestApp, consumer: &Consumer) -> (usize, usize) {
    let (mut applied, mut duplicates) = (0, 0);
    for _ in 0..100 {
        let s = consumer
            .poll_once(&OK, 10, app.state.clock.now())
            .await
            .expect("poll");
        assert_eq!(s.failed, 0);
        applied += s.applied;
        duplicates += s.duplicates;
        if s.acked() == 0 {
            return (applied, duplicates);
        }
    }
    panic!("the consumer never drained");
}

async fn consumed(app: &TestApp) -> (i64, i64) {
    sqlx::query_as("SELECT count(*), count(DISTINCT event_id) FROM test_consumed")
        .fetch_one(app.db())
        .await
        .expect("query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_reaches_a_crashing_consumer_exactly_once() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    sqlx::query("CREATE TABLE test_consumed (event_id uuid NOT NULL, topic text NOT NULL)")
        .execute(app.db())
        .await
        .expect("table");

    // Every topic, from the real flows.
    let event = create_event(
        app,
        EventSpec::on_sale(app)
            .seats(10)
            .standing("Standing", 30_000, 10)
            .limit(10),
    )
    .await;
    let fans = create_fans(app, 3).await;
    let paid = hold_seats(app, &fans[0], event.id, &event.seats[..1]).await;
    pay(&env, &fans[0], &paid).await;
    let refunded = hold_standing(app, &fans[1], event.id, event.ticket_types[0], 2).await;
    pay(&env, &fans[1], &refunded).await;
    let res = app.fan(&fans[1]).cancel(refunded.id).await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let cancelled = hold_seats(app, &fans[2], event.id, &event.seats[1..2]).await;
    let res = app.fan(&fans[2]).release(cancelled.id).await;
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    hold_seats(app, &fans[2], event.id, &event.seats[2..3]).await;
    app.state.clock.advance(Duration::seconds(301));
    assert_eq!(booking::sweep(&app.state).await.expect("sweep"), 1);

    let topics: Vec<(String, i64)> =
        sqlx::query_as("SELECT topic, count(*) FROM outbox GROUP BY topic ORDER BY topic")
            .fetch_all(app.db())
            .await
            .expect("query");
    assert_eq!(
        topics,
        vec![
            ("payment.confirmed".to_owned(), 2),
            ("payment.refunded".to_owned(), 1),
            ("reservation.cancelled".to_owned(), 2),
            ("reservation.created".to_owned(), 4),
            ("reservation.expired".to_owned(), 1),
            ("ticket.issued".to_owned(), 3),
            // Three fans and the promoter the fixture event was made by.
            ("user.registered".to_owned(), 4),
        ]
    );
    let total: i64 = topics.iter().map(|(_, n)| n).sum();

    // Two relays at once (two replicas): every row published, none twice.
    let (a, b) = tokio::join!(outbox::relay(&app.state), outbox::relay(&app.state));
    assert_eq!((a.expect("relay") + b.expect("relay")) as i64, total);
    assert_eq!(stream_len(app).await, total);
    assert_eq!(app.count_rows("outbox WHERE published_at IS NULL").await, 0);
    // A relay that died after XADD but before its commit: those rows go out again.
    sqlx::query(
        "UPDATE outbox SET published_at = NULL WHERE seq IN (SELECT seq FROM outbox ORDER BY seq LIMIT 2)",
    )
    .execute(app.db())
    .await
    .expect("unpublish");
    assert_eq!(outbox::relay(&app.state).await.expect("relay"), 2);
    assert_eq!(stream_len(app).await, total + 2);

    // A consumer reads a batch, applies and acks two, applies a third but dies before
    // acking it, and dies in the middle of a fourth.
    let c1 = Consumer::new(&app.state, "stats-test", "c1", &Topic::ALL);
    c1.ensure_groups().await.expect("groups");
    let batch = c1.read_new(3).await.expect("read");
    assert!(batch.len() >= 4, "{}", batch.len());
    let now = app.state.clock.now();
    for d in &batch[..2] {
        assert_eq!(c1.apply(d, &OK, now).await.expect("apply"), Applied::Done);
        c1.ack(d).await.expect("ack");
    }
    assert_eq!(
        c1.apply(&batch[2], &OK, now).await.expect("apply"),
        Applied::Done
    );
    let victim = batch[3].event.as_ref().expect("event").id;
    let crashing = Recorder {
        crash_on: Some(victim),
    };
    assert!(c1.apply(&batch[3], &crashing, now).await.is_err());
    drop(c1);

    // It restarts under the same name: its pending entries first, then the rest.
    let c1 = Consumer::new(&app.state, "stats-test", "c1", &Topic::ALL);
    c1.ensure_groups().await.expect("groups");
    let (applied, duplicates) = drain(app, &c1).await;
    assert_eq!(applied as i64, total - 3);
    // The entry applied before the crash, and the two published twice.
    assert_eq!(duplicates, 3);
    assert_eq!(
        consumed(app).await,
        (total, total),
        "each event applied once"
    );
    let missing: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox o WHERE NOT EXISTS (SELECT 1 FROM test_consumed c WHERE c.event_id = o.id)",
    )
    .fetch_one(app.db())
    .await
    .expect("query");
    assert_eq!(missing, 0);
    assert_eq!(pending(app, "stats-test").await, 0);

    // Another group gets everything too, on its own.
    sqlx::query("TRUNCATE test_consumed")
        .execute(app.db())
        .await
        .expect("truncate");
    let audit = Consumer::new(&app.state, "audit", "a1", &Topic::ALL);
    audit.ensure_groups().await.expect("groups");
    let (applied, duplicates) = drain(app, &audit).await;
    assert_eq!((applied as i64, duplicates), (total, 2));
    assert_eq!(consumed(app).await, (total, total));

    // A member that read and never came back: another member takes its entries over.
    hold_seats(app, &fans[0], event.id, &event.seats[4..5]).await;
    assert_eq!(outbox::relay(&app.state).await.expect("relay"), 1);
    let dead = Consumer::new(&app.state, "stats-test", "c3", &Topic::ALL);
    assert_eq!(dead.read_new(10).await.expect("read").len(), 1);
    drop(dead);
    let mut heir = Consumer::new(&app.state, "stats-test", "c4", &Topic::ALL);
    heir.min_idle = std::time::Duration::ZERO;
    let s = heir
        .poll_once(&OK, 10, app.state.clock.now())
        .await
        .expect("poll");
    assert_eq!(s.applied, 1, "{s:?}");
    assert_eq!(pending(app, "stats-test").await, 0);
    let processed: HashSet<Uuid> =
        sqlx::query_scalar("SELECT event_id FROM processed_events WHERE consumer = 'stats-test'")
            .fetch_all(app.db())
            .await
            .expect("query")
            .into_iter()
            .collect();
    assert_eq!(processed.len() as i64, total + 1);
}
