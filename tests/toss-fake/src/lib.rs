//! # toss-fake: a contract-faithful Toss Payments fake
//!
//! URR takes money through Toss Payments. The real API cannot be called from tests (no
//! network, no way to make it fail on demand, minutes-long time limits), so this crate
//! plays Toss: an HTTP server that speaks the four calls our client uses, with the
//! rules, error codes, time limits and failure modes of `docs/toss-payments.md` and
//! the module docs here. The origin's Toss client is tested against it over
//! real HTTP, and `cargo xtask dev` runs it when no Toss keys are configured.
//!
//! ## The API it fakes
//!
//! | call | path | |
//! |---|---|---|
//! | confirm | `POST /v1/payments/confirm` | `{paymentKey, orderId, amount}` → Payment `DONE` |
//! | get by key | `GET /v1/payments/{paymentKey}` | → Payment |
//! | get by order | `GET /v1/payments/orders/{orderId}` | → Payment |
//! | cancel | `POST /v1/payments/{paymentKey}/cancel` | `{cancelReason, cancelAmount?}` → Payment |
//!
//! All four need `Authorization: Basic base64("<secretKey>:")` (module `auth`); the two
//! POSTs honour `Idempotency-Key` (module `idempotency`). Errors are
//! `{"code", "message"}` ([`TossError`]).
//!
//! ## How a payment gets there
//!
//! In production the customer authenticates in Toss's widget and the browser lands on
//! our success URL with a `paymentKey`. The fake offers three stand-ins:
//! [`TossFake::authorize`] (Rust tests), `POST /v1/__test/authorize` (any test), and a
//! tiny widget page `GET /v1/__test/widget?...` with Pay / Cancel buttons that redirect
//! exactly like the real widget (demos, browser tests). See the `admin` module.
//!
//! ## Making time pass and things fail
//!
//! - The clock ([`FakeClock`]) is real time plus an offset, or frozen
//!   ([`FakeConfig::frozen_clock`]); [`TossFake::advance_clock`] moves it. Every time
//!   rule reads it: READY 30 min, confirm 10 min, consecutive cancels 1 s, idempotency
//!   keys 15 days, webhook retries 1 min … 4096 min.
//! - Faults ([`Fault`], [`FaultKind`]) make calls slow, fail, decline, or **take effect
//!   and lose the response** (the connection is cut after the commit). Arm them with
//!   [`TossFake::set_fault`] or `POST /v1/__test/faults`, or put a trigger in the
//!   request: in the `orderId`, `FAULT_<NAME>` hits every confirm of that order and
//!   `CANCELFAULT_<NAME>` every cancel; in a `cancelReason`, `FAULT_<NAME>` hits that
//!   cancel. `<NAME>` is `DELAY_<ms>`, `LATE_<ms>` (delay after commit), `500`, `DROP`,
//!   `PROVIDER`, `REJECT`, `SESSION` or `NOTCANCELABLE`; e.g. `ord_FAULT_DROP_42`.
//!
//! ## Test endpoints
//!
//! Under `/v1/__test/` (no auth): `authorize`, the `widget` page and its
//! `widget/{paymentKey}/pay` form, `clock` and `clock/advance`, `faults`
//! (GET/POST/DELETE), `payments`, `orders/{orderId}` (ledger), `webhooks` and
//! `webhooks/deliver`, `reset`. Shapes are in the `admin` module and the crate README.
//!
//! ## Looking inside
//!
//! [`TossFake::ledger`] gives, per orderId, the captured and refunded money and how
//! often confirm and cancel really executed: the numbers behind "the customer was
//! charged exactly once". Webhook deliveries and their attempts are recorded too.
//!
//! ## Example
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use toss_fake::{FakeConfig, Fault, FaultKind, Op, TossFake};
//!
//! let fake = TossFake::start("127.0.0.1:0".parse()?, FakeConfig::for_tests()).await?;
//! let payment_key = fake.authorize("ord_0001", 15_000, "콘서트 R석 1매").await;
//! fake.set_fault(Fault::new(FaultKind::CommitThenDrop).on(Op::Confirm));
//! // ... point the client at fake.base_url(), confirm, see the connection drop ...
//! assert_eq!(fake.confirm_executions("ord_0001"), 1);
//! fake.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! ## Modules
//!
//! `model` (wire types), `error` (error object), `auth` (Basic auth), `idempotency`,
//! `faults`, `store` (payment state machine and shared state), `webhook`, `conn`
//! (connections that can be cut), `routes` (the Toss API), `admin` (`/v1/__test/…`),
//! `clock`.

mod admin;
mod auth;
mod clock;
mod conn;
mod error;
mod faults;
mod idempotency;
mod model;
mod routes;
mod store;
mod webhook;

pub use auth::ACCEPTED_KEY_PREFIXES;
pub use clock::{FakeClock, KST};
pub use error::TossError;
pub use faults::{Fault, FaultKind, FaultSpec, Op};
pub use idempotency::MAX_KEY_LEN as MAX_IDEMPOTENCY_KEY_LEN;
pub use model::{
    API_VERSION, Cancel, Card, ErrorBody, Failure, Link, Payment, PaymentStatus, TEST_MID,
    WebhookEvent,
};
pub use store::{Authorization, OrderLedger, is_valid_order_id};
pub use webhook::{DeliveryState, EVENT_TYPE, RETRY_MINUTES, WebhookAttempt, WebhookDelivery};

use anyhow::Context as _;
use axum::http::StatusCode;
use std::net::SocketAddr;
use std::sync::Arc;
use store::Shared;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The widget secret key Toss publishes in its docs; the default accepted key.
pub const DOCS_SECRET_KEY: &str = "test_gsk_docs_OaPz8L5KdmQXkzRz3y47BMw6";

/// How the fake behaves where the contract marks Toss's behaviour as uncertain. The
/// defaults are the contract's best guesses; a client must work with either setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quirks {
    /// Status of `UNAUTHORIZED_KEY` (default 401).
    pub unauthorized_key_status: StatusCode,
    /// Status of `IDEMPOTENT_REQUEST_PROCESSING` (default 409).
    pub idempotent_processing_status: StatusCode,
    /// Code of a confirm whose orderId or amount differs from the authenticated payment
    /// (always 400; default `INVALID_REQUEST`).
    pub amount_mismatch_code: String,
    /// Cancel of a `CANCELED` payment answers 400 `ALREADY_CANCELED_PAYMENT` instead of
    /// 403 `NOT_CANCELABLE_PAYMENT` (default `false`).
    pub already_canceled_as_400: bool,
    /// 404 code of `GET /v1/payments/orders/{orderId}` for an unknown order
    /// (`NOT_FOUND_PAYMENT` by default, or `NOT_FOUND`).
    pub unknown_order_code: String,
    /// Store 4xx responses under their Idempotency-Key and replay them (default `false`:
    /// only 2xx are replayed, a retry after an error executes again). 5xx,
    /// `FORBIDDEN_CONSECUTIVE_REQUEST` and `IDEMPOTENT_REQUEST_PROCESSING` are never
    /// stored.
    pub replay_error_responses: bool,
}

impl Default for Quirks {
    fn default() -> Self {
        Quirks {
            unauthorized_key_status: StatusCode::UNAUTHORIZED,
            idempotent_processing_status: StatusCode::CONFLICT,
            amount_mismatch_code: "INVALID_REQUEST".to_owned(),
            already_canceled_as_400: false,
            unknown_order_code: "NOT_FOUND_PAYMENT".to_owned(),
            replay_error_responses: false,
        }
    }
}

/// Everything the fake is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeConfig {
    /// Accepted secret keys: `test_sk_…` (API) and `test_gsk_…` (widget) keys only;
    /// [`TossFake::start`] refuses anything else, `live_` keys in particular.
    pub secret_keys: Vec<String>,
    /// Where `PAYMENT_STATUS_CHANGED` webhooks go; `None`: no webhooks. (Real Toss sends
    /// none for `_docs_` keys; the fake sends them for every key.)
    pub webhook_url: Option<String>,
    /// Deliver webhooks from a background worker (default `true`). Turn off to drive
    /// every attempt with [`TossFake::deliver_due_webhooks`].
    pub auto_deliver_webhooks: bool,
    /// Freeze the clock at start-up; it then moves only through
    /// [`TossFake::advance_clock`] (default `false`: real time plus offset).
    pub frozen_clock: bool,
    pub quirks: Quirks,
}

impl Default for FakeConfig {
    fn default() -> Self {
        FakeConfig {
            secret_keys: vec![DOCS_SECRET_KEY.to_owned()],
            webhook_url: None,
            auto_deliver_webhooks: true,
            frozen_clock: false,
            quirks: Quirks::default(),
        }
    }
}

impl FakeConfig {
    /// The defaults with a frozen clock: nothing time-based happens unless the test
    /// advances the clock.
    pub fn for_tests() -> Self {
        FakeConfig {
            frozen_clock: true,
            ..FakeConfig::default()
        }
    }

    fn validate(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.secret_keys.is_empty(), "no secret key configured");
        for key in &self.secret_keys {
            auth::check_configurable_key(key).map_err(anyhow::Error::msg)?;
        }
        if let Some(url) = &self.webhook_url {
            let parsed = url::Url::parse(url).with_context(|| format!("webhook URL {url:?}"))?;
            anyhow::ensure!(
                matches!(parsed.scheme(), "http" | "https"),
                "webhook URL {url:?} is not http(s)"
            );
        }
        for status in [
            self.quirks.unauthorized_key_status,
            self.quirks.idempotent_processing_status,
        ] {
            anyhow::ensure!(
                status.is_client_error(),
                "quirk status {status} is not a 4xx"
            );
        }
        Ok(())
    }
}

/// A running fake: its address, clock, fault switches and inspection.
///
/// Dropping it stops the server too; [`TossFake::shutdown`] also waits for it.
#[derive(Debug)]
pub struct TossFake {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<()>>,
    worker: Option<JoinHandle<()>>,
}

impl TossFake {
    /// Binds `addr` (`127.0.0.1:0` for a random port) and serves until shut down.
    pub async fn start(addr: SocketAddr, config: FakeConfig) -> anyhow::Result<TossFake> {
        config.validate()?;
        let clock = if config.frozen_clock {
            FakeClock::frozen()
        } else {
            FakeClock::running()
        };
        let auto_deliver = config.webhook_url.is_some() && config.auto_deliver_webhooks;
        let shared = Shared::new(config, clock)?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        let addr = listener.local_addr()?;
        let app = routes::router(Arc::clone(&shared))
            .into_make_service_with_connect_info::<conn::ConnHandle>();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let served = axum::serve(conn::KillableListener::new(listener), app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "toss fake stopped serving");
            }
        });
        let worker = auto_deliver.then(|| tokio::spawn(webhook::run_worker(Arc::clone(&shared))));
        tracing::info!(%addr, "toss fake listening");
        Ok(TossFake {
            shared,
            addr,
            stop: Some(stop),
            server: Some(server),
            worker,
        })
    }

    /// `http://127.0.0.1:PORT`, the base URL to give a Toss client.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The fake clock's "now" (Korean time).
    pub fn now(&self) -> chrono::DateTime<chrono::FixedOffset> {
        self.shared.clock.now()
    }

    /// Moves the fake clock forward; expirations and webhook retries that became due
    /// happen at once.
    pub fn advance_clock(&self, by: chrono::Duration) {
        self.shared.advance_clock(by);
    }

    /// Plays a successful widget authentication: creates an `IN_PROGRESS` payment and
    /// returns its paymentKey, as the success redirect would carry it.
    ///
    /// # Panics
    /// If the order is invalid (orderId not `[A-Za-z0-9_-]{6,64}`, amount < 1, empty
    /// name): a bug in the test. Use [`TossFake::try_authorize`] to test those.
    pub async fn authorize(&self, order_id: &str, amount: i64, order_name: &str) -> String {
        self.try_authorize(Authorization::new(order_id, amount, order_name))
            .await
            .unwrap_or_else(|e| panic!("authorize({order_id:?}, {amount}): {e}"))
    }

    /// [`TossFake::authorize`] with every option, refusing invalid orders.
    pub async fn try_authorize(&self, auth: Authorization) -> Result<String, TossError> {
        self.shared.authorize(&auth).map(|p| p.payment_key)
    }

    /// Arms a fault rule (see [`Fault`]).
    pub fn set_fault(&self, fault: Fault) {
        self.shared.with_store(|s, _| s.faults.push(fault));
    }

    /// Disarms every fault rule (trigger substrings are not rules and stay active).
    pub fn clear_faults(&self) {
        self.shared.with_store(|s, _| s.faults.clear());
    }

    /// The armed fault rules with their remaining counts.
    pub fn faults(&self) -> Vec<Fault> {
        self.shared.with_store(|s, _| s.faults.list())
    }

    /// What `GET /v1/payments/orders/{orderId}` would answer.
    pub fn payment(&self, order_id: &str) -> Option<Payment> {
        self.shared.with_store(|s, _| s.by_order(order_id).cloned())
    }

    /// What `GET /v1/payments/{paymentKey}` would answer.
    pub fn payment_by_key(&self, payment_key: &str) -> Option<Payment> {
        self.shared
            .with_store(|s, _| s.by_key(payment_key).cloned())
    }

    /// Every payment, oldest first.
    pub fn payments(&self) -> Vec<Payment> {
        self.shared.with_store(|s, _| s.payments())
    }

    /// Money and executions of one order.
    pub fn ledger(&self, order_id: &str) -> OrderLedger {
        self.shared.with_store(|s, _| s.ledger(order_id))
    }

    /// Confirms of this order that actually approved a payment.
    pub fn confirm_executions(&self, order_id: &str) -> u32 {
        self.ledger(order_id).confirm_executions
    }

    /// Cancels of this order that actually refunded money.
    pub fn cancel_executions(&self, order_id: &str) -> u32 {
        self.ledger(order_id).cancel_executions
    }

    /// Every webhook delivery with its attempts.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.shared.with_store(|s, _| s.outbox.list())
    }

    /// Sends every webhook delivery that is due on the fake clock, once, and returns the
    /// attempts made (empty when nothing is due or no webhook URL is configured).
    pub async fn deliver_due_webhooks(&self) -> Vec<WebhookAttempt> {
        webhook::deliver_due(&self.shared).await
    }

    /// Webhook attempts recorded so far, over all deliveries.
    pub fn webhook_attempt_count(&self) -> usize {
        *self.shared.webhook_attempts.borrow()
    }

    /// Waits until at least `n` webhook attempts have been made *and recorded* (the
    /// receiver may see a POST before the fake has noted its answer; advance the clock
    /// only after this, or the retry is scheduled from the later time).
    pub async fn wait_webhook_attempts(&self, n: usize) {
        let mut rx = self.shared.webhook_attempts.subscribe();
        let _ = rx.wait_for(|made| *made >= n).await;
    }

    /// API calls executing right now (all four calls; delayed ones included; replays
    /// and refused calls never count).
    pub fn in_flight(&self) -> usize {
        *self.shared.in_flight.borrow()
    }

    /// Waits until at least `n` API calls are executing: "the first request has
    /// arrived", without sleeping.
    pub async fn wait_in_flight(&self, n: usize) {
        let mut rx = self.shared.in_flight.subscribe();
        let _ = rx.wait_for(|running| *running >= n).await;
    }

    /// Waits until no API call is executing (e.g. a delayed call the client gave up on
    /// has finished its work).
    pub async fn wait_idle(&self) {
        let mut rx = self.shared.in_flight.subscribe();
        let _ = rx.wait_for(|running| *running == 0).await;
    }

    /// Forgets every payment, idempotency key, fault rule and webhook; keeps the clock.
    pub fn reset(&self) {
        self.shared.with_store(|s, _| s.reset());
    }

    /// Stops accepting, lets running requests finish (at most 5 s), stops the webhook
    /// worker.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(worker) = self.worker.take() {
            worker.abort();
        }
        if let Some(mut server) = self.server.take()
            && tokio::time::timeout(std::time::Duration::from_secs(5), &mut server)
                .await
                .is_err()
        {
            server.abort();
        }
    }
}

impl Drop for TossFake {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(worker) = self.worker.take() {
            worker.abort();
        }
    }
}
