//! The fake's memory: payments and their state machine, plus the shared handle that
//! guards it.
//!
//! Everything lives in one [`Store`] behind one `std::sync::Mutex`. That is simple and
//! race-free: every API call takes the lock, reads the clock once, applies its rules
//! and releases the lock before any `.await` (delays and webhook sends happen outside).
//!
//! A payment is a [`Record`]: the [`Payment`] object exactly as the API shows it, plus
//! the private facts the rules need (when the customer authenticated, when the last
//! cancel ran, how often confirm and cancel actually executed). Payments are indexed by
//! paymentKey and by orderId; one orderId may have several payments (a customer who
//! opened the widget twice), and "the" payment of an order is the approved one if any,
//! else the newest.
//!
//! Time limits are enforced lazily and completely: every lock acquisition first expires
//! what is due ([`Store::expire_due`]), so a READY payment older than 30 minutes or an
//! IN_PROGRESS payment older than 10 minutes is `EXPIRED` the moment anyone looks,
//! including the webhook ticker.

use crate::clock::FakeClock;
use crate::error::TossError;
use crate::faults::{FaultBook, Plan};
use crate::idempotency::IdempotencyStore;
use crate::model::{API_VERSION, Cancel, Card, Failure, Link, Payment, PaymentStatus, TEST_MID};
use crate::webhook::Outbox;
use crate::{FakeConfig, Quirks};
use chrono::{DateTime, Duration, FixedOffset};
use rand::Rng as _;
use rand::distributions::{Alphanumeric, DistString as _};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::{Notify, watch};
use url::Url;

/// How long a READY payment waits for the customer to authenticate.
pub fn ready_window() -> Duration {
    Duration::minutes(30)
}

/// How long an IN_PROGRESS payment waits for the merchant's confirm.
pub fn confirm_window() -> Duration {
    Duration::minutes(10)
}

/// Two cancels of one paymentKey closer than this: the second is refused.
pub fn consecutive_cancel_window() -> Duration {
    Duration::seconds(1)
}

/// What a successful widget authentication carries: the order the merchant created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// 6–64 characters of `[A-Za-z0-9_-]`.
    pub order_id: String,
    /// Integer KRW, at least 1.
    pub amount: i64,
    pub order_name: String,
    /// `isPartialCancelable` of the payment (default `true`).
    pub partial_cancelable: bool,
}

impl Authorization {
    pub fn new(order_id: impl Into<String>, amount: i64, order_name: impl Into<String>) -> Self {
        Authorization {
            order_id: order_id.into(),
            amount,
            order_name: order_name.into(),
            partial_cancelable: true,
        }
    }

    /// The checks the widget SDK applies before it shows anything.
    pub fn validate(&self) -> Result<(), TossError> {
        if !is_valid_order_id(&self.order_id) {
            return Err(TossError::invalid_request(
                "orderId는 영문 대소문자, 숫자, 특수문자(-, _)로 이루어진 6자 이상 64자 이하 문자열이어야 합니다.",
            ));
        }
        if self.amount < 1 {
            return Err(TossError::invalid_request("amount는 1 이상이어야 합니다."));
        }
        if self.order_name.trim().is_empty() || self.order_name.chars().count() > 100 {
            return Err(TossError::invalid_request(
                "orderName은 1자 이상 100자 이하여야 합니다.",
            ));
        }
        Ok(())
    }
}

/// The orderId rule of the widget: `[A-Za-z0-9_-]{6,64}`.
pub fn is_valid_order_id(order_id: &str) -> bool {
    (6..=64).contains(&order_id.len())
        && order_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Money and executions of one orderId, over all its payments: the numbers behind
/// "charged exactly once" checks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLedger {
    pub order_id: String,
    /// What `GET /v1/payments/orders/{orderId}` would answer.
    pub payment: Option<Payment>,
    /// Every paymentKey created for this orderId, oldest first.
    pub payment_keys: Vec<String>,
    /// Sum of the approved payments' `totalAmount`.
    pub captured_amount: i64,
    /// Sum of every `cancelAmount`.
    pub refunded_amount: i64,
    /// Confirms that actually approved a payment (a replay or an error does not count).
    pub confirm_executions: u32,
    /// Cancels that actually refunded money.
    pub cancel_executions: u32,
}

/// A validated confirm body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConfirmRequest {
    pub payment_key: String,
    pub order_id: String,
    pub amount: i64,
}

/// A validated cancel body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CancelRequest {
    pub cancel_reason: String,
    pub cancel_amount: Option<i64>,
    pub tax_free_amount: i64,
    pub refundable_amount: Option<i64>,
}

/// Where the widget stand-in sends the customer back.
#[derive(Debug, Clone)]
pub(crate) struct WidgetReturn {
    pub success_url: Url,
    pub fail_url: Url,
}

/// One payment: what the API shows plus what the rules need.
#[derive(Debug, Clone)]
struct Record {
    payment: Payment,
    created_at: DateTime<FixedOffset>,
    authenticated_at: Option<DateTime<FixedOffset>>,
    last_cancel_at: Option<DateTime<FixedOffset>>,
    confirm_executions: u32,
    cancel_executions: u32,
    widget: Option<WidgetReturn>,
}

/// All state of one fake.
#[derive(Debug)]
pub(crate) struct Store {
    records: HashMap<String, Record>,
    by_order: HashMap<String, Vec<String>>,
    pub idempotency: IdempotencyStore,
    pub faults: FaultBook,
    pub outbox: Outbox,
    quirks: Quirks,
}

impl Store {
    fn new(quirks: Quirks, webhooks: bool) -> Self {
        Store {
            records: HashMap::new(),
            by_order: HashMap::new(),
            idempotency: IdempotencyStore::default(),
            faults: FaultBook::default(),
            outbox: Outbox::new(webhooks),
            quirks,
        }
    }

    /// Forgets every payment, key, fault and webhook.
    pub fn reset(&mut self) {
        self.records.clear();
        self.by_order.clear();
        self.idempotency.clear();
        self.faults.clear();
        self.outbox.clear();
    }

    /// Creates a payment in `READY` (widget page shown) or `IN_PROGRESS` (customer
    /// authenticated). The caller validated `auth`.
    pub fn create(
        &mut self,
        auth: &Authorization,
        status: PaymentStatus,
        widget: Option<WidgetReturn>,
        now: DateTime<FixedOffset>,
    ) -> Payment {
        let payment_key = new_payment_key(now);
        let mut payment = Payment {
            version: API_VERSION.to_owned(),
            payment_key: payment_key.clone(),
            kind: "NORMAL".to_owned(),
            order_id: auth.order_id.clone(),
            order_name: auth.order_name.clone(),
            m_id: TEST_MID.to_owned(),
            currency: "KRW".to_owned(),
            method: None,
            total_amount: auth.amount,
            balance_amount: auth.amount,
            status,
            requested_at: now,
            approved_at: None,
            use_escrow: false,
            last_transaction_key: None,
            supplied_amount: 0,
            vat: 0,
            culture_expense: false,
            tax_free_amount: 0,
            tax_exemption_amount: 0,
            cancels: None,
            is_partial_cancelable: auth.partial_cancelable,
            card: None,
            virtual_account: None,
            transfer: None,
            mobile_phone: None,
            gift_certificate: None,
            cash_receipt: None,
            cash_receipts: None,
            discount: None,
            easy_pay: None,
            country: "KR".to_owned(),
            failure: None,
            receipt: None,
            checkout: Some(Link {
                url: format!("https://api.tosspayments.com/v1/payments/{payment_key}/checkout"),
            }),
            secret: None,
            metadata: None,
        };
        payment.recompute_tax();
        let record = Record {
            payment: payment.clone(),
            created_at: now,
            authenticated_at: (status == PaymentStatus::InProgress).then_some(now),
            last_cancel_at: None,
            confirm_executions: 0,
            cancel_executions: 0,
            widget,
        };
        self.records.insert(payment_key.clone(), record);
        self.by_order
            .entry(auth.order_id.clone())
            .or_default()
            .push(payment_key);
        payment
    }

    /// The widget's "pay" step: `READY` → `IN_PROGRESS` (pressing Pay twice is
    /// harmless). Returns the payment as it now stands, whatever its status (an expired
    /// READY payment stays `EXPIRED`), and where the widget sends the customer.
    pub fn authenticate(
        &mut self,
        payment_key: &str,
        now: DateTime<FixedOffset>,
    ) -> Result<(Payment, Option<WidgetReturn>), TossError> {
        let Some(rec) = self.records.get_mut(payment_key) else {
            return Err(TossError::not_found_payment());
        };
        if rec.payment.status == PaymentStatus::Ready {
            rec.payment.status = PaymentStatus::InProgress;
            rec.authenticated_at = Some(now);
        }
        Ok((rec.payment.clone(), rec.widget.clone()))
    }

    /// Expires every READY payment older than 30 minutes and every IN_PROGRESS payment
    /// authenticated more than 10 minutes ago.
    pub fn expire_due(&mut self, now: DateTime<FixedOffset>) {
        let due: Vec<String> = self
            .records
            .iter()
            .filter(|(_, r)| match r.payment.status {
                PaymentStatus::Ready => now - r.created_at > ready_window(),
                PaymentStatus::InProgress => r
                    .authenticated_at
                    .is_some_and(|t| now - t > confirm_window()),
                _ => false,
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in due {
            self.expire(&key, now);
        }
    }

    fn expire(&mut self, payment_key: &str, now: DateTime<FixedOffset>) {
        if let Some(rec) = self.records.get_mut(payment_key) {
            rec.payment.status = PaymentStatus::Expired;
            rec.payment.failure = Some(Failure {
                code: "EXPIRED_PAYMENT".to_owned(),
                message: "결제가 만료되었습니다. 다시 시도해주세요.".to_owned(),
            });
            let snapshot = rec.payment.clone();
            self.outbox.enqueue(&snapshot, now);
        }
    }

    /// `POST /v1/payments/confirm` after authentication, body validation and the
    /// "fail before work" faults.
    pub fn confirm(
        &mut self,
        req: &ConfirmRequest,
        plan: &Plan,
        now: DateTime<FixedOffset>,
    ) -> Result<Payment, TossError> {
        let Some(rec) = self.records.get(&req.payment_key) else {
            return Err(TossError::not_found_payment());
        };
        match rec.payment.status {
            PaymentStatus::InProgress => {}
            PaymentStatus::Expired => return Err(TossError::not_found_payment_session()),
            PaymentStatus::Ready => {
                return Err(TossError::invalid_request(
                    "구매자 인증이 완료되지 않은 결제입니다.",
                ));
            }
            _ => return Err(TossError::already_processed_payment()),
        }
        if rec.payment.order_id != req.order_id || rec.payment.total_amount != req.amount {
            return Err(TossError::new(
                axum::http::StatusCode::BAD_REQUEST,
                self.quirks.amount_mismatch_code.clone(),
                "결제 금액 또는 주문번호가 인증된 결제와 일치하지 않습니다.",
            ));
        }
        let order_already_paid = self
            .order_records(&req.order_id)
            .any(|r| r.payment.approved_at.is_some());
        if order_already_paid {
            return Err(TossError::already_processed_payment());
        }
        if plan.session_not_found {
            self.expire(&req.payment_key, now);
            return Err(TossError::not_found_payment_session());
        }
        let Some(rec) = self.records.get_mut(&req.payment_key) else {
            return Err(TossError::not_found_payment());
        };
        if plan.reject_card {
            let err = TossError::reject_card_payment();
            rec.payment.status = PaymentStatus::Aborted;
            rec.payment.failure = Some(Failure {
                code: err.code.to_string(),
                message: err.message.to_string(),
            });
            let snapshot = rec.payment.clone();
            self.outbox.enqueue(&snapshot, now);
            return Err(err);
        }
        let transaction_key = new_transaction_key();
        let p = &mut rec.payment;
        p.status = PaymentStatus::Done;
        p.method = Some("카드".to_owned());
        p.approved_at = Some(now);
        p.last_transaction_key = Some(transaction_key.clone());
        p.receipt = Some(Link {
            url: format!(
                "https://dashboard.tosspayments.com/receipt/redirection?transactionId={transaction_key}&ref=PX"
            ),
        });
        p.card = Some(Card {
            amount: p.total_amount,
            issuer_code: "71".to_owned(),
            acquirer_code: "71".to_owned(),
            number: "43301234****123*".to_owned(),
            installment_plan_months: 0,
            approve_no: format!("{:08}", rand::thread_rng().gen_range(0..100_000_000)),
            use_card_point: false,
            card_type: "신용".to_owned(),
            owner_type: "개인".to_owned(),
            acquire_status: "READY".to_owned(),
            is_interest_free: false,
            interest_payer: None,
        });
        p.recompute_tax();
        rec.confirm_executions += 1;
        let snapshot = rec.payment.clone();
        self.outbox.enqueue(&snapshot, now);
        Ok(snapshot)
    }

    /// `POST /v1/payments/{paymentKey}/cancel` after authentication, body validation and
    /// the "fail before work" faults.
    pub fn cancel(
        &mut self,
        payment_key: &str,
        req: &CancelRequest,
        plan: &Plan,
        now: DateTime<FixedOffset>,
    ) -> Result<Payment, TossError> {
        let quirks = self.quirks.clone();
        let Some(rec) = self.records.get_mut(payment_key) else {
            return Err(TossError::not_found_payment());
        };
        if rec
            .last_cancel_at
            .is_some_and(|t| now - t <= consecutive_cancel_window())
        {
            return Err(TossError::forbidden_consecutive_request());
        }
        match rec.payment.status {
            PaymentStatus::Done | PaymentStatus::PartialCanceled => {}
            PaymentStatus::Canceled => {
                return Err(if quirks.already_canceled_as_400 {
                    TossError::already_canceled_payment()
                } else {
                    TossError::not_cancelable_payment()
                });
            }
            _ => return Err(TossError::not_cancelable_payment()),
        }
        if plan.not_cancelable {
            return Err(TossError::not_cancelable_payment());
        }
        let balance = rec.payment.balance_amount;
        if req.refundable_amount.is_some_and(|r| r != balance) {
            return Err(TossError::not_matches_refundable_amount());
        }
        let amount = req.cancel_amount.unwrap_or(balance);
        if amount > balance {
            return Err(TossError::not_cancelable_amount());
        }
        if amount < balance && !rec.payment.is_partial_cancelable {
            return Err(TossError::not_allowed_partial_refund());
        }
        if req.tax_free_amount > amount {
            return Err(TossError::invalid_request(
                "taxFreeAmount는 cancelAmount보다 클 수 없습니다.",
            ));
        }
        let transaction_key = new_transaction_key();
        let p = &mut rec.payment;
        p.balance_amount = balance - amount;
        p.status = if p.balance_amount == 0 {
            PaymentStatus::Canceled
        } else {
            PaymentStatus::PartialCanceled
        };
        p.last_transaction_key = Some(transaction_key.clone());
        p.cancels.get_or_insert_with(Vec::new).push(Cancel {
            cancel_amount: amount,
            cancel_reason: req.cancel_reason.clone(),
            tax_free_amount: req.tax_free_amount,
            tax_exemption_amount: 0,
            refundable_amount: p.balance_amount,
            easy_pay_discount_amount: 0,
            canceled_at: now,
            transaction_key,
            receipt_key: Some(new_transaction_key()),
            cancel_status: "DONE".to_owned(),
            cancel_request_id: Some(uuid::Uuid::new_v4().to_string()),
        });
        if let Some(card) = p.card.as_mut()
            && p.status == PaymentStatus::Canceled
        {
            card.acquire_status = "CANCELED".to_owned();
        }
        p.recompute_tax();
        rec.last_cancel_at = Some(now);
        rec.cancel_executions += 1;
        let snapshot = rec.payment.clone();
        self.outbox.enqueue(&snapshot, now);
        Ok(snapshot)
    }

    pub fn by_key(&self, payment_key: &str) -> Option<&Payment> {
        self.records.get(payment_key).map(|r| &r.payment)
    }

    /// The payment of an order: the approved one if any, else the newest.
    pub fn by_order(&self, order_id: &str) -> Option<&Payment> {
        let records: Vec<&Record> = self.order_records(order_id).collect();
        records
            .iter()
            .rev()
            .find(|r| r.payment.approved_at.is_some())
            .or_else(|| records.last())
            .map(|r| &r.payment)
    }

    /// The orderId of a payment, for fault matching.
    pub fn order_of(&self, payment_key: &str) -> Option<String> {
        self.by_key(payment_key).map(|p| p.order_id.clone())
    }

    pub fn ledger(&self, order_id: &str) -> OrderLedger {
        let records: Vec<&Record> = self.order_records(order_id).collect();
        OrderLedger {
            order_id: order_id.to_owned(),
            payment: self.by_order(order_id).cloned(),
            payment_keys: records
                .iter()
                .map(|r| r.payment.payment_key.clone())
                .collect(),
            captured_amount: records
                .iter()
                .filter(|r| r.payment.approved_at.is_some())
                .map(|r| r.payment.total_amount)
                .sum(),
            refunded_amount: records
                .iter()
                .flat_map(|r| r.payment.cancels.iter().flatten())
                .map(|c| c.cancel_amount)
                .sum(),
            confirm_executions: records.iter().map(|r| r.confirm_executions).sum(),
            cancel_executions: records.iter().map(|r| r.cancel_executions).sum(),
        }
    }

    /// Every payment, oldest first.
    pub fn payments(&self) -> Vec<Payment> {
        let mut all: Vec<&Record> = self.records.values().collect();
        all.sort_by_key(|r| (r.created_at, r.payment.payment_key.clone()));
        all.into_iter().map(|r| r.payment.clone()).collect()
    }

    fn order_records<'a>(&'a self, order_id: &str) -> impl Iterator<Item = &'a Record> + 'a {
        self.by_order
            .get(order_id)
            .into_iter()
            .flatten()
            .filter_map(|k| self.records.get(k))
    }
}

/// `tgen_` + request time + random letters, like widget payment keys (≤ 200 chars).
fn new_payment_key(now: DateTime<FixedOffset>) -> String {
    format!(
        "tgen_{}{}",
        now.format("%Y%m%d%H%M%S"),
        Alphanumeric.sample_string(&mut rand::thread_rng(), 10)
    )
}

/// 32 upper-case hex digits, like Toss transaction keys.
fn new_transaction_key() -> String {
    uuid::Uuid::new_v4().simple().to_string().to_uppercase()
}

/// The state every request handler and the [`crate::TossFake`] handle share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub config: FakeConfig,
    pub clock: FakeClock,
    store: Mutex<Store>,
    /// For webhook deliveries (no proxy: the receiver is usually on loopback).
    pub http: reqwest::Client,
    /// Wakes the webhook worker when something became due.
    pub webhook_wake: Notify,
    /// One delivery run at a time (worker and `deliver_due_webhooks` may race).
    pub webhook_run: tokio::sync::Mutex<()>,
    /// API calls currently executing (after auth and the idempotency claim).
    pub in_flight: watch::Sender<usize>,
    /// Webhook attempts recorded so far (a test can await "the attempt is recorded").
    pub webhook_attempts: watch::Sender<usize>,
}

impl Shared {
    pub fn new(config: FakeConfig, clock: FakeClock) -> anyhow::Result<Arc<Shared>> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        let store = Store::new(config.quirks.clone(), config.webhook_url.is_some());
        Ok(Arc::new(Shared {
            config,
            clock,
            store: Mutex::new(store),
            http,
            webhook_wake: Notify::new(),
            webhook_run: tokio::sync::Mutex::new(()),
            in_flight: watch::channel(0).0,
            webhook_attempts: watch::channel(0).0,
        }))
    }

    /// Runs `f` on the store at the fake "now", after expiring what is due. Wakes the
    /// webhook worker when `f` (or the expiry) queued an event.
    pub fn with_store<R>(&self, f: impl FnOnce(&mut Store, DateTime<FixedOffset>) -> R) -> R {
        let now = self.clock.now();
        let mut store = self.lock();
        store.expire_due(now);
        let result = f(&mut store, now);
        let wake = store.outbox.take_dirty();
        drop(store);
        if wake {
            self.webhook_wake.notify_one();
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        // A panic while holding the lock cannot leave the store half-updated in a way
        // that matters for a test double; keep serving.
        self.store
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A successful widget authentication: a new `IN_PROGRESS` payment.
    pub fn authorize(&self, auth: &Authorization) -> Result<Payment, TossError> {
        auth.validate()?;
        Ok(self.with_store(|s, now| s.create(auth, PaymentStatus::InProgress, None, now)))
    }

    /// Moves the clock, then applies what became due (expirations now, webhook retries
    /// on the worker's next run).
    pub fn advance_clock(&self, by: Duration) {
        self.clock.advance(by);
        self.with_store(|_, _| ());
        self.webhook_wake.notify_one();
    }

    /// Counts one running execution until the guard drops.
    pub fn enter_flight(self: &Arc<Self>) -> FlightGuard {
        self.in_flight.send_modify(|n| *n += 1);
        FlightGuard {
            shared: Arc::clone(self),
        }
    }
}

/// Decrements the in-flight count on drop, also when the execution panicked.
pub(crate) struct FlightGuard {
    shared: Arc<Shared>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.shared
            .in_flight
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}
