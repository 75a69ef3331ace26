//! Everything the edge workers do, independent of the platform they run on.
//!
//! The Cloudflare worker and the Spin component are thin glue around this module: they
//! turn their request into an [`http::Request`], ask [`Edge::route`] what it is, read
//! the body when the route needs one, call [`Edge::handle`] with a [`Host`] (their
//! storage, clock and randomness), and then either send the [`Outcome::Respond`]
//! answer or forward the request to the origin with the [`Outcome::Proxy`] headers.
//!
//! ```text
//!  platform request ──► http::Request::new (bounds) ──► Edge::route ──► Route
//!                                                                        │
//!        ┌───────────────────────────────────────────────────────────────┘
//!        ▼
//!  Edge::handle(host, req, route, body) ──► Outcome::Respond(Response)  → send it
//!        │  reads/writes per-event state            Outcome::Proxy{headers} → fetch ORIGIN_URL
//!        ▼  through the Host trait
//!  Host::{snapshot, observe, join, push_rules, hit, claim_once, may_have_state, now_ms, random}
//! ```
//!
//! | module    | what                                                                      |
//! |-----------|---------------------------------------------------------------------------|
//! | [`http`]  | bounded request view, responses, problem+json, cookies                    |
//! | [`route`] | the route table, which event a path belongs to, the entry-token guard     |
//! | [`state`] | the per-event state, its three atomic operations, a visitor's standing    |
//! | [`page`]  | the bilingual, accessible waiting page                                    |
//! | [`pow`]   | the optional proof-of-work challenge in front of a join                   |
//! | [`limits`]| per-client join limits and one-time claims (keys, in-memory store)        |
//! | [`known`] | which events have a waiting room (Cloudflare: no object per random id)    |
//! | [`redis`] | the state's key layout and scripts for hosts that keep it in Redis        |
//!
//! # What a platform implements
//!
//! [`Host`]: seven storage calls and two primitives. `join`, `observe` and `push_rules`
//! must each run **atomically per event** around the pure functions
//! [`state::EventState::join`], [`state::EventState::observe`] and [`state::apply_push`]
//! (see [`state`] for the exact semantics and a Redis mapping); `snapshot` may return a
//! copy cached for about a second, which is what keeps status polls off the storage.
//! `hit` (a counter that expires) and `claim_once` (a mark that expires) must be atomic
//! per key ([`limits`] has the keys and an in-memory implementation). `may_have_state`
//! may say "certainly no state" so that nothing else is asked for that event (see
//! [`known`]); its default always says "maybe".
//!
//! # Keys
//!
//! The edge signs tickets and passes with its own key ([`EdgeConfig::edge_key`]) and
//! verifies tickets with the edge key set; it verifies entry tokens and rules pushes
//! with the **origin's public** keys only. It holds no origin private key, so a
//! compromised edge cannot mint entry tokens.
//!
//! # Joining is an explicit act
//!
//! `GET /e/{event}` has no side effects: without a ticket it shows the room with a join
//! button. Only `POST /vwr/{event}/join` takes a place, and only when the request does
//! not come from another site ([`http::cross_site`]: `Sec-Fetch-Site`, `Origin`), so
//! neither an `<img>` nor a form on someone else's page (nor the promoter's own
//! template) can make a fan's browser join anything. Then, in this order: the room must
//! accept joins, the proof of work must verify when the rules ask for one ([`pow`]),
//! and the client address must be within `join_limit_per_ip_per_min` ([`limits`],
//! 429 beyond it). A form post (no JavaScript) is answered `303` back to the page with
//! the ticket cookie; API clients get the JSON.
//!
//! # Tokens and cookies
//!
//! Cookies are scoped **per event by name** (`<name>_<event id as 32 hex digits>`,
//! Path=/), so a fan waiting in two rooms keeps both places, and the same cookie
//! reaches the room's page, its `/vwr/` routes, the pass URL and the origin's
//! `/api/v1/events/{event}/...` routes.
//!
//! * join → a `ticket` (edge-signed: event, visitor id, join sequence), set as the
//!   [`ticket_cookie`] (HttpOnly, SameSite=Lax, Path=/, Secure unless disabled for
//!   local HTTP) and returned in the JSON for API clients, who send it back in
//!   `X-Queue-Ticket`. The unscoped `urr_ticket` of earlier versions is still read when
//!   it holds a ticket of the event asked about.
//! * status, once served → a `pass` (edge-signed: event, visitor, position, random
//!   `jti`, 10 minutes), in the JSON and as the HttpOnly [`pass_cookie`]; the page
//!   forwards to [`EdgeConfig::pass_path`] where tier 2 consumes it. A visitor who
//!   polls again gets a fresh pass for the same position; tier 2 admits each
//!   `(event, position)` once.
//! * the origin sets the entry token as [`route::entry_cookie`]; the guard reads it.
//!
//! # The client address towards the origin
//!
//! Every proxied request carries the edge's attestation of the client address
//! ([`crate::client_ip`], header `urr-client-ip`, MACed with `EDGE_PROXY_SECRET`), and
//! never the client's own copy of that header or of any forwarding header
//! ([`http::HeaderFilter`], the one rule both platforms apply).

mod config;
pub mod http;
mod join;
pub mod known;
pub mod limits;
pub mod page;
mod page_texts;
pub mod pow;
pub mod preview;
pub mod redis;
pub mod route;
mod serve;
pub mod state;

use serde::Serialize;
use serde_json::{Map, json};
use uuid::Uuid;

use crate::token::{self, PassClaims, TicketClaims, TokenError};
use http::{Method, Request, Response};
use route::Route;
use state::{EventState, JoinRefused, PushRejected, RulesPush, Standing};

pub use config::{DEFAULT_PASS_PATH, EdgeConfig, MIN_PROXY_SECRET_LEN, Secret};

/// The unscoped ticket cookie of earlier versions: still read (see the module docs),
/// never set.
pub const LEGACY_TICKET_COOKIE: &str = "urr_ticket";
/// Header an API client may send its ticket in instead.
pub const TICKET_HEADER: &str = "x-queue-ticket";

/// The cookie holding `event`'s queue ticket: `urr_ticket_<event id, 32 hex>`.
pub fn ticket_cookie(event: Uuid) -> String {
    format!("urr_ticket_{}", event.simple())
}

/// The cookie holding `event`'s pass once served: `urr_pass_<event id, 32 hex>`.
pub fn pass_cookie(event: Uuid) -> String {
    format!("urr_pass_{}", event.simple())
}
/// Lifetime of a pass.
pub const PASS_TTL_SECS: i64 = 600;
/// Lifetime of a ticket when the sale has no closing time: a day after the opening.
pub const TICKET_TTL_SECS: i64 = 24 * 3600;

/// Storage, clock and randomness of a platform (see the module docs).
///
/// `async fn` in a public trait: the futures are not required to be `Send`, which is
/// what single-threaded wasm platforms need.
#[allow(async_fn_in_trait)]
pub trait Host {
    /// The event's state, possibly a copy up to ~1 s old; `None`: no rules pushed.
    async fn snapshot(&self, event: Uuid) -> Result<Option<EventState>, HostError>;
    /// Atomically: load, [`EventState::observe`] at the storage's `now`, store if changed;
    /// returns the fresh state.
    async fn observe(&self, event: Uuid) -> Result<Option<EventState>, HostError>;
    /// Atomically: load, [`EventState::join`] at the storage's `now`, store on success;
    /// returns the outcome and the state after it. `None`: no rules pushed.
    async fn join(&self, event: Uuid) -> Result<Option<JoinResult>, HostError>;
    /// Atomically: load, [`state::apply_push`] at the storage's `now`, store on success.
    async fn push_rules(
        &self,
        event: Uuid,
        push: RulesPush,
    ) -> Result<Result<EventState, PushRejected>, HostError>;
    /// Atomically: adds one to the counter `key` of `event` (created at 0, forgotten at
    /// `until_ms`, unix ms) and returns its new value. Used for the per-client join
    /// limit ([`limits`]).
    async fn hit(&self, event: Uuid, key: &str, until_ms: i64) -> Result<u64, HostError>;
    /// Atomically: records `key` of `event` until `until_ms` (unix ms); `true` the first
    /// time, `false` while a record is held. Used to spend a proof of work once.
    async fn claim_once(&self, event: Uuid, key: &str, until_ms: i64) -> Result<bool, HostError>;
    /// Whether storage may hold state for `event` at all; `false` means certainly not,
    /// and the edge then treats the event as one without rules **without calling any
    /// other storage operation for it** (see [`known`]). Platforms whose reads of an
    /// absent event cost nothing keep the default, `true`.
    async fn may_have_state(&self, event: Uuid) -> Result<bool, HostError> {
        let _ = event;
        Ok(true)
    }
    /// Unix milliseconds.
    fn now_ms(&self) -> i64;
    /// 16 random bytes from a cryptographically secure source.
    fn random(&self) -> [u8; 16];
}

/// What [`Host::join`] returns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, Serialize)]
pub struct JoinResult {
    pub seq: Result<u64, JoinRefused>,
    pub state: EventState,
}

/// A storage failure; answered with 503.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostError(pub String);

impl std::fmt::Display for HostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send this answer.
    Respond(Response),
    /// Forward the request to the origin without the headers
    /// [`http::HeaderFilter::request`] refuses, setting these (replacing any the client
    /// sent with the same names): `x-request-id`, the client address as
    /// `x-forwarded-for` / `x-real-ip` (for logs), and, when a proxy secret is
    /// configured, the attested address in `urr-client-ip`.
    Proxy { headers: Vec<(String, String)> },
}

/// The edge logic, configured.
#[derive(Debug, Clone)]
pub struct Edge {
    pub config: EdgeConfig,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn storage_unavailable(e: &HostError) -> Response {
    Response::problem(
        503,
        "EDGE_STORAGE_UNAVAILABLE",
        format!("the waiting room's storage did not answer ({e}); retry shortly"),
    )
    .with_header("retry-after", "1")
}

fn no_room(event: Uuid) -> Response {
    Response::problem(
        404,
        "WAITING_ROOM_NOT_FOUND",
        format!("event {event} has no waiting room"),
    )
}

fn refusal(r: JoinRefused) -> Response {
    match r {
        JoinRefused::Rejected => Response::problem(
            403,
            "EVENT_NOT_AVAILABLE",
            "the waiting room is not accepting visitors",
        ),
        JoinRefused::Maintenance => Response::problem(
            503,
            "MAINTENANCE",
            "the waiting room is under maintenance; try again shortly",
        )
        .with_header(
            "retry-after",
            route::MAINTENANCE_RETRY_AFTER_SECS.to_string(),
        ),
        JoinRefused::NotOpen { opens_at } => {
            let mut extra = Map::new();
            extra.insert("opens_at".into(), json!(opens_at));
            Response::problem_with(
                409,
                "WAITING_ROOM_NOT_OPEN",
                "the waiting room is not open yet",
                extra,
            )
        }
        JoinRefused::Ended => Response::problem(410, "SALE_ENDED", "the sale has ended"),
    }
}

fn token_refusal(e: &TokenError, what: &str) -> Response {
    let status = if *e == TokenError::Malformed {
        400
    } else {
        403
    };
    Response::problem(status, e.code(), format!("{what} refused: {e}"))
}

/// The join answer.
#[derive(Debug, Clone, Serialize)]
struct Joined {
    event_id: Uuid,
    ticket: String,
    seq: u64,
    position: Option<u64>,
    poll_after_ms: u32,
}

impl Edge {
    pub fn new(config: EdgeConfig) -> Self {
        Edge { config }
    }

    /// What `req` is (no state read). See [`route`].
    pub fn route(&self, req: &Request) -> Route {
        route::route(req)
    }

    /// Answers `req` (see the module docs). `body` is the request body when
    /// [`Route::needs_body`] (the platform reads at most [`MAX_BODY_LEN`] bytes and
    /// passes `None` if there were more).
    pub async fn handle<H: Host>(
        &self,
        host: &H,
        req: &Request,
        route: Route,
        body: Option<&[u8]>,
    ) -> Outcome {
        let respond = |r: Response| {
            let r = if req.method == Method::Head {
                Response {
                    body: Vec::new(),
                    ..r
                }
            } else {
                r
            };
            Outcome::Respond(r)
        };
        match route {
            Route::Refuse(r) => respond(r),
            Route::Page(e) => respond(self.page(host, req, e).await),
            Route::Join(e) => respond(self.join(host, req, e).await),
            Route::Status(e) => respond(self.status(host, req, e).await),
            Route::Draw(e) => respond(self.draw(host, e).await),
            Route::Challenge(e) => respond(self.challenge(host, e).await),
            Route::PushRules(e) => respond(self.push(host, e, body).await),
            Route::RoomStats(e) => respond(self.room_stats(host, e, body).await),
            Route::Proxy(None) => self.proxy(host, req),
            Route::Proxy(Some(path)) => {
                let rules = match self.snapshot(host, path.event).await {
                    Ok(state) => state.map(|s| s.rules),
                    // Fail closed on the routes that always need a token.
                    Err(e) if path.default_guarded => return respond(storage_unavailable(&e)),
                    Err(_) => None,
                };
                let now_s = host.now_ms().div_euclid(1000);
                match route::guard(req, &path, rules.as_ref(), &self.config.origin_keys, now_s) {
                    Some(refused) => respond(refused),
                    None => self.proxy(host, req),
                }
            }
        }
    }

    /// The headers to set when forwarding to the origin.
    fn proxy<H: Host>(&self, host: &H, req: &Request) -> Outcome {
        let request_id = req
            .header("x-request-id")
            .filter(|id| {
                (1..=128).contains(&id.len())
                    && id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
            })
            .map(str::to_owned)
            .unwrap_or_else(|| {
                uuid::Builder::from_random_bytes(host.random())
                    .into_uuid()
                    .to_string()
            });
        let mut headers = vec![("x-request-id".to_owned(), request_id)];
        if let Some(ip) = &req.client_ip {
            headers.push(("x-forwarded-for".into(), ip.clone()));
            headers.push(("x-real-ip".into(), ip.clone()));
            if let Some(secret) = &self.config.proxy_secret {
                let now_s = host.now_ms().div_euclid(1000);
                headers.push((
                    crate::client_ip::HEADER.into(),
                    crate::client_ip::attest(&secret.0, ip, now_s),
                ));
            }
        }
        Outcome::Proxy { headers }
    }

    /// The event's state for a read, without touching storage for events that certainly
    /// have none ([`Host::may_have_state`]).
    async fn snapshot<H: Host>(
        &self,
        host: &H,
        event: Uuid,
    ) -> Result<Option<EventState>, HostError> {
        if !host.may_have_state(event).await? {
            return Ok(None);
        }
        host.snapshot(event).await
    }

    fn pass_url(&self, event: Uuid) -> String {
        self.config
            .pass_path
            .replace("{event_id}", &event.to_string())
    }

    /// The ticket a request presents (`X-Queue-Ticket`, else the event's cookie, else
    /// the legacy unscoped cookie if it holds a valid ticket of this event), verified for
    /// `event`. `None` when there is none.
    fn ticket(
        &self,
        req: &Request,
        event: Uuid,
        now_s: i64,
    ) -> Option<Result<(TicketClaims, String), TokenError>> {
        let verify = |raw: &str| {
            token::verify_for_event::<TicketClaims>(&self.config.edge_keys, raw, event, now_s)
                .map(|c| (c, raw.to_owned()))
        };
        let raw = req
            .header(TICKET_HEADER)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .or_else(|| req.cookie(&ticket_cookie(event)).filter(|t| !t.is_empty()));
        match raw {
            Some(raw) => Some(verify(raw)),
            None => req
                .cookie(LEGACY_TICKET_COOKIE)
                .filter(|t| !t.is_empty())
                .map(verify)
                .filter(Result::is_ok),
        }
    }

    /// Signs a new ticket; returns its claims, the token and its lifetime in seconds.
    fn mint_ticket(
        &self,
        state: &EventState,
        event: Uuid,
        seq: u64,
        visitor: [u8; 16],
        now_s: i64,
    ) -> (TicketClaims, String, i64) {
        let exp = state
            .rules
            .sale_closes_at
            .unwrap_or_else(|| {
                state
                    .rules
                    .sale_opens_at
                    .max(now_s)
                    .saturating_add(TICKET_TTL_SECS)
            })
            .max(now_s + 3_600);
        let claims = TicketClaims {
            evt: event,
            sub: hex(&visitor),
            seq,
            iat: now_s,
            exp,
        };
        let token = token::sign(&self.config.edge_key, &claims);
        (claims, token, exp - now_s)
    }

    /// The standing of a ticket holder, with a pass when served. Returns the standing and
    /// the `Set-Cookie` for the pass, if any.
    fn standing<H: Host>(
        &self,
        host: &H,
        state: &EventState,
        event: Uuid,
        ticket: &TicketClaims,
    ) -> (Standing, Option<String>) {
        let now_ms = host.now_ms();
        let jitter = u64::from_le_bytes(host.random()[..8].try_into().unwrap_or([0; 8]));
        let mut st = Standing::compute(state, event, ticket.seq, now_ms, jitter);
        let mut cookie = None;
        if st.served
            && let Some(pos) = st.position
        {
            let now_s = now_ms.div_euclid(1000);
            let pass = token::sign(
                &self.config.edge_key,
                &PassClaims {
                    evt: event,
                    sub: ticket.sub.clone(),
                    pos,
                    jti: hex(&host.random()),
                    iat: now_s,
                    exp: now_s + PASS_TTL_SECS,
                },
            );
            cookie = Some(
                self.config
                    .cookies
                    .set(&pass_cookie(event), &pass, PASS_TTL_SECS),
            );
            st.pass = Some(pass);
            st.pass_url = Some(self.pass_url(event));
        }
        (st, cookie)
    }

    /// Loads a snapshot and, if the sale opened but the pre-queue is not frozen in it,
    /// freezes it atomically first.
    async fn current<H: Host>(
        &self,
        host: &H,
        event: Uuid,
    ) -> Result<Option<EventState>, HostError> {
        match self.snapshot(host, event).await? {
            Some(s) if s.needs_observe(host.now_ms()) => host.observe(event).await,
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests;
