//! `PAYMENT_STATUS_CHANGED` webhooks with Toss's retry schedule, on the fake clock.
//!
//! Every status change of a payment (DONE, PARTIAL_CANCELED, CANCELED, ABORTED,
//! EXPIRED) queues one **delivery** in the [`Outbox`], with the payment as it was right
//! after the change. The fake does not notify the creation of a payment or the
//! customer's authentication (READY, IN_PROGRESS): the contract does not say whether
//! Toss does, and a client must not depend on it.
//!
//! A delivery is an HTTP POST of a [`WebhookEvent`] to the configured URL. Only a
//! **200** counts as delivered; anything else (another status, a refused connection, a
//! timeout) is a failed attempt, and the next attempt becomes due 1, 4, 16, 64, 256,
//! 1024 and 4096 minutes after the previous one (7 retries, 8 attempts in all), after
//! which the delivery is given up. "Due" is measured on the **fake** clock: a test
//! advances the clock by 4 minutes and the next retry is due at once.
//!
//! Due deliveries go out when [`deliver_due`] runs: from the background worker (woken
//! when something is queued or the clock moves, plus a 1-second real-time tick), or from
//! `TossFake::deliver_due_webhooks` / `POST /v1/__test/webhooks/deliver` in tests that
//! want each attempt under their control (`FakeConfig::auto_deliver_webhooks = false`).
//! Every attempt is recorded for inspection.

use crate::model::{Payment, PaymentStatus, WebhookEvent, kst_seconds, kst_seconds_opt};
use crate::store::Shared;
use chrono::{DateTime, Duration, FixedOffset};
use serde::Serialize;
use std::sync::Arc;

/// The event type of every webhook the fake sends.
pub const EVENT_TYPE: &str = "PAYMENT_STATUS_CHANGED";

/// Minutes from one failed attempt to the next.
pub const RETRY_MINUTES: [i64; 7] = [1, 4, 16, 64, 256, 1024, 4096];

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeliveryState {
    /// Waiting for its next attempt (`nextAttemptAt`).
    Pending,
    /// Answered 200.
    Delivered,
    /// Failed 8 times; Toss would now e-mail the merchant.
    GaveUp,
}

/// One POST of one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAttempt {
    pub delivery_id: u64,
    /// 1 for the first try, 2 for the first retry, ...
    pub number: u32,
    /// Fake-clock time of the attempt.
    #[serde(with = "kst_seconds")]
    pub at: DateTime<FixedOffset>,
    /// The receiver's status, if it answered.
    pub http_status: Option<u16>,
    /// Why no status came back (connection refused, timeout, ...).
    pub error: Option<String>,
}

/// One event to deliver, with its history.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    pub id: u64,
    pub payment_key: String,
    pub order_id: String,
    /// The status the event announces.
    pub status: PaymentStatus,
    /// The exact JSON body every attempt sends.
    pub body: String,
    pub state: DeliveryState,
    #[serde(with = "kst_seconds_opt")]
    pub next_attempt_at: Option<DateTime<FixedOffset>>,
    pub attempts: Vec<WebhookAttempt>,
}

/// The queue of deliveries (inside the store, under its lock).
#[derive(Debug)]
pub(crate) struct Outbox {
    enabled: bool,
    deliveries: Vec<WebhookDelivery>,
    next_id: u64,
    /// Something became due since the last look.
    dirty: bool,
}

impl Outbox {
    /// An outbox that queues only when a webhook URL is configured.
    pub fn new(enabled: bool) -> Self {
        Outbox {
            enabled,
            deliveries: Vec::new(),
            next_id: 1,
            dirty: false,
        }
    }

    /// Queues the event for `payment`'s new status, due now.
    pub fn enqueue(&mut self, payment: &Payment, now: DateTime<FixedOffset>) {
        if !self.enabled {
            return;
        }
        let event = WebhookEvent {
            event_type: EVENT_TYPE.to_owned(),
            created_at: now
                .with_timezone(&crate::clock::kst())
                .format("%Y-%m-%dT%H:%M:%S%.6f")
                .to_string(),
            data: payment.clone(),
        };
        let body = serde_json::to_string(&event).unwrap_or_default();
        self.deliveries.push(WebhookDelivery {
            id: self.next_id,
            payment_key: payment.payment_key.clone(),
            order_id: payment.order_id.clone(),
            status: payment.status,
            body,
            state: DeliveryState::Pending,
            next_attempt_at: Some(now),
            attempts: Vec::new(),
        });
        self.next_id += 1;
        self.dirty = true;
    }

    /// Returns and clears the "something new" flag.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// `(id, body)` of every delivery whose next attempt is due, oldest first.
    pub fn due(&self, now: DateTime<FixedOffset>) -> Vec<(u64, String)> {
        self.deliveries
            .iter()
            .filter(|d| {
                d.state == DeliveryState::Pending && d.next_attempt_at.is_some_and(|t| t <= now)
            })
            .map(|d| (d.id, d.body.clone()))
            .collect()
    }

    /// Records an attempt made at `now` and schedules the next one.
    pub fn record(
        &mut self,
        id: u64,
        now: DateTime<FixedOffset>,
        outcome: Result<u16, String>,
    ) -> Option<WebhookAttempt> {
        let delivery = self.deliveries.iter_mut().find(|d| d.id == id)?;
        let number = u32::try_from(delivery.attempts.len() + 1).unwrap_or(u32::MAX);
        let (http_status, error) = match outcome {
            Ok(status) => (Some(status), None),
            Err(e) => (None, Some(e)),
        };
        let attempt = WebhookAttempt {
            delivery_id: id,
            number,
            at: now,
            http_status,
            error,
        };
        delivery.attempts.push(attempt.clone());
        if http_status == Some(200) {
            delivery.state = DeliveryState::Delivered;
            delivery.next_attempt_at = None;
        } else if let Some(minutes) = RETRY_MINUTES.get(delivery.attempts.len() - 1) {
            delivery.next_attempt_at = Some(now + Duration::minutes(*minutes));
        } else {
            delivery.state = DeliveryState::GaveUp;
            delivery.next_attempt_at = None;
        }
        Some(attempt)
    }

    pub fn list(&self) -> Vec<WebhookDelivery> {
        self.deliveries.clone()
    }

    pub fn clear(&mut self) {
        self.deliveries.clear();
    }
}

/// Sends every due delivery once and records the attempts. Returns the attempts made.
pub(crate) async fn deliver_due(shared: &Shared) -> Vec<WebhookAttempt> {
    let _one_run_at_a_time = shared.webhook_run.lock().await;
    let Some(url) = shared.config.webhook_url.as_deref() else {
        return Vec::new();
    };
    let due = shared.with_store(|s, now| s.outbox.due(now));
    let mut attempts = Vec::with_capacity(due.len());
    for (id, body) in due {
        let outcome = shared
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map(|res| res.status().as_u16())
            .map_err(|e| e.to_string());
        if let Some(attempt) = shared.with_store(|s, now| s.outbox.record(id, now, outcome)) {
            tracing::debug!(
                delivery = attempt.delivery_id,
                number = attempt.number,
                status = ?attempt.http_status,
                "webhook attempt"
            );
            attempts.push(attempt);
            shared.webhook_attempts.send_modify(|n| *n += 1);
        }
    }
    attempts
}

/// The background worker: delivers whenever woken, and every second (real time).
pub(crate) async fn run_worker(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shared.webhook_wake.notified() => {}
            _ = tick.tick() => {}
        }
        deliver_due(&shared).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use crate::model::API_VERSION;

    fn payment() -> Payment {
        let json = serde_json::json!({
            "version": API_VERSION, "paymentKey": "tgen_1", "type": "NORMAL", "orderId": "ord_123456",
            "orderName": "x", "mId": "m", "currency": "KRW", "method": null, "totalAmount": 1000,
            "balanceAmount": 1000, "status": "DONE", "requestedAt": "2026-01-01T00:00:00+09:00",
            "approvedAt": null, "useEscrow": false, "lastTransactionKey": null, "suppliedAmount": 909,
            "vat": 91, "cultureExpense": false, "taxFreeAmount": 0, "taxExemptionAmount": 0,
            "cancels": null, "isPartialCancelable": true, "card": null, "virtualAccount": null,
            "transfer": null, "mobilePhone": null, "giftCertificate": null, "cashReceipt": null,
            "cashReceipts": null, "discount": null, "easyPay": null, "country": "KR", "failure": null,
            "receipt": null, "checkout": null, "secret": null, "metadata": null
        });
        serde_json::from_value(json).expect("a valid payment")
    }

    #[test]
    fn retries_follow_the_schedule_then_give_up() {
        let clock = FakeClock::frozen();
        let mut outbox = Outbox::new(true);
        outbox.enqueue(&payment(), clock.now());
        assert!(outbox.take_dirty());
        let start = clock.now();
        for (i, minutes) in RETRY_MINUTES.iter().enumerate() {
            let due = outbox.due(clock.now());
            assert_eq!(due.len(), 1, "attempt {} is due", i + 1);
            outbox.record(due[0].0, clock.now(), Ok(500));
            clock.advance(Duration::minutes(*minutes) - Duration::seconds(1));
            assert!(outbox.due(clock.now()).is_empty(), "not due a second early");
            clock.advance(Duration::seconds(1));
        }
        let due = outbox.due(clock.now());
        outbox.record(due[0].0, clock.now(), Err("refused".into()));
        let delivery = &outbox.list()[0];
        assert_eq!(delivery.state, DeliveryState::GaveUp);
        assert_eq!(delivery.attempts.len(), 8);
        assert_eq!(
            clock.now() - start,
            Duration::minutes(RETRY_MINUTES.iter().sum())
        );
        assert!(outbox.due(clock.now() + Duration::days(30)).is_empty());
    }

    #[test]
    fn disabled_outbox_queues_nothing() {
        let mut outbox = Outbox::new(false);
        outbox.enqueue(&payment(), FakeClock::frozen().now());
        assert!(outbox.list().is_empty());
        assert!(!outbox.take_dirty());
    }
}
