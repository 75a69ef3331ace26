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
//!
//! # What a platform implements
//!
//! [`Host`]: four storage calls and two primitives. `join`, `observe` and `push_rules`
//! must each run **atomically per event** around the pure functions
//! [`state::EventState::join`], [`state::EventState::observe`] and [`state::apply_push`]
//! (see [`state`] for the exact semantics and a Redis mapping); `snapshot` may return a
//! copy cached for about a second, which is what keeps status polls off the storage.
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
//! ([`http::forward_request_header`]).

pub mod http;
pub mod known;
pub mod limits;
pub mod page;
pub mod pow;
pub mod route;
pub mod state;

use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::rules::{Challenge, EdgeRules};
use crate::token::{self, KeySet, PassClaims, RulesClaims, SigningKey, TicketClaims, TokenError};
use http::{CookiePolicy, MAX_BODY_LEN, Method, Request, Response};
use page::{Lang, PageInput, PageKind};
use route::Route;
use state::{EventState, JoinRefused, PushRejected, RulesPush, Standing};

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
    /// [`http::forward_request_header`] refuses, setting these (replacing any the client
    /// sent with the same names): `x-request-id`, the client address as
    /// `x-forwarded-for` / `x-real-ip` (for logs), and, when a proxy secret is
    /// configured, the attested address in `urr-client-ip`.
    Proxy { headers: Vec<(String, String)> },
}

/// The edge's configuration (from the platform's variables and secrets).
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Signs tickets and passes.
    pub edge_key: SigningKey,
    /// Verifies tickets: the edge key plus any previous edge keys still honoured.
    pub edge_keys: KeySet,
    /// Verifies entry tokens and rules pushes.
    pub origin_keys: KeySet,
    pub cookies: CookiePolicy,
    /// Where the page sends a served visitor; `{event_id}` is replaced.
    pub pass_path: String,
    /// MACs the client address for the origin (`urr-client-ip`); `None`: not configured,
    /// no attestation is sent.
    pub proxy_secret: Option<Secret>,
    /// MACs proof-of-work challenges; derived from the edge key.
    pub pow_secret: Secret,
}

/// Secret bytes, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

/// Shortest `EDGE_PROXY_SECRET` accepted, in bytes (the origin's lower bound; generate
/// 32).
pub const MIN_PROXY_SECRET_LEN: usize = 16;

/// Default [`EdgeConfig::pass_path`].
pub const DEFAULT_PASS_PATH: &str = "/events/{event_id}/enter";

impl EdgeConfig {
    /// Reads the configuration from variables:
    ///
    /// | variable             | required | meaning                                        |
    /// |----------------------|----------|------------------------------------------------|
    /// | `EDGE_SIGNING_KEY`   | yes      | `kid:base64url(seed)`, the edge's private key   |
    /// | `ORIGIN_PUBLIC_KEYS` | yes      | `kid:base64url(pub),...`, the origin's keys     |
    /// | `EDGE_PUBLIC_KEYS`   | no       | previous edge public keys still accepted for tickets |
    /// | `COOKIE_SECURE`      | no       | `false` drops `Secure` (plain-HTTP development); default `true` |
    /// | `PASS_PATH`          | no       | default `/events/{event_id}/enter`              |
    /// | `EDGE_PROXY_SECRET`  | no       | base64url (no padding) of ≥ 16 random bytes (32 generated), shared with the origin's `URR_EDGE_PROXY_SECRETS`; unset: no `urr-client-ip` |
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let signing = get("EDGE_SIGNING_KEY").ok_or("EDGE_SIGNING_KEY is not set")?;
        let edge_key = SigningKey::parse(&signing).map_err(|e| format!("EDGE_SIGNING_KEY: {e}"))?;
        let origin = get("ORIGIN_PUBLIC_KEYS").ok_or("ORIGIN_PUBLIC_KEYS is not set")?;
        let origin_keys = KeySet::parse(&origin).map_err(|e| format!("ORIGIN_PUBLIC_KEYS: {e}"))?;
        let mut edge_public = vec![edge_key.public_key()];
        if let Some(extra) = get("EDGE_PUBLIC_KEYS").filter(|s| !s.trim().is_empty()) {
            let extra = KeySet::parse(&extra).map_err(|e| format!("EDGE_PUBLIC_KEYS: {e}"))?;
            edge_public.extend(extra.keys().filter(|k| k.kid() != edge_key.kid()).cloned());
        }
        let edge_keys = KeySet::new(edge_public).map_err(|e| format!("edge keys: {e}"))?;
        let secure = !matches!(
            get("COOKIE_SECURE").as_deref().map(str::trim),
            Some("false" | "0" | "no")
        );
        let pass_path = get("PASS_PATH")
            .filter(|p| p.starts_with('/') && !p.starts_with("//"))
            .unwrap_or_else(|| DEFAULT_PASS_PATH.to_owned());
        let proxy_secret = match get("EDGE_PROXY_SECRET").filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(text) => {
                use base64::Engine;
                let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(text.trim().trim_end_matches('='))
                    .ok()
                    .filter(|b| b.len() >= MIN_PROXY_SECRET_LEN)
                    .ok_or_else(|| {
                        format!(
                            "EDGE_PROXY_SECRET must be base64url of at least \
                             {MIN_PROXY_SECRET_LEN} bytes"
                        )
                    })?;
                Some(Secret(bytes))
            }
        };
        let pow_secret = Secret(edge_key.derive_secret(pow::SECRET_CONTEXT).to_vec());
        Ok(EdgeConfig {
            edge_key,
            edge_keys,
            origin_keys,
            cookies: CookiePolicy { secure },
            pass_path,
            proxy_secret,
            pow_secret,
        })
    }
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

    /// A fresh proof-of-work challenge for `event` under `rules`.
    fn issue_challenge<H: Host>(&self, host: &H, event: Uuid, rules: &EdgeRules) -> pow::Issued {
        pow::issue(
            &self.config.pow_secret.0,
            event,
            rules.pow_difficulty,
            host.now_ms().div_euclid(1000),
            host.random(),
        )
    }

    /// `GET /vwr/{event}/challenge`.
    async fn challenge<H: Host>(&self, host: &H, event: Uuid) -> Response {
        match self.current(host, event).await {
            Err(e) => storage_unavailable(&e),
            Ok(None) => no_room(event),
            Ok(Some(state)) if state.rules.challenge == Challenge::Pow => {
                let issued = self.issue_challenge(host, event, &state.rules);
                Response::json(200, &json!({ "required": true, "pow": issued }))
            }
            Ok(Some(_)) => Response::json(200, &json!({ "required": false })),
        }
    }

    /// The proof of work of a join, checked with one hash and no storage; the refusal
    /// carries a fresh challenge so a client can retry at once.
    fn check_pow<H: Host>(
        &self,
        host: &H,
        req: &Request,
        event: Uuid,
        rules: &EdgeRules,
    ) -> Result<pow::Verified, Response> {
        let refuse = |code: &str, detail: String| {
            let issued = self.issue_challenge(host, event, rules);
            let mut extra = Map::new();
            extra.insert("pow".into(), json!(issued));
            Response::problem_with(403, code, detail, extra)
        };
        let (Some(challenge), Some(solution)) = (
            req.header(pow::CHALLENGE_HEADER),
            req.header(pow::SOLUTION_HEADER),
        ) else {
            return Err(refuse(
                "POW_REQUIRED",
                format!(
                    "this waiting room asks for a proof of work: solve `pow.challenge` and send \
                     it in {} and the counter in {}",
                    pow::CHALLENGE_HEADER,
                    pow::SOLUTION_HEADER
                ),
            ));
        };
        pow::verify(
            &self.config.pow_secret.0,
            challenge.trim(),
            solution,
            event,
            rules.pow_difficulty,
            host.now_ms().div_euclid(1000),
        )
        .map_err(|e| refuse("POW_INVALID", format!("proof of work refused: {e}")))
    }

    /// The per-client join limit: `Some(429)` beyond it.
    async fn over_join_limit<H: Host>(
        &self,
        host: &H,
        req: &Request,
        event: Uuid,
        rules: &EdgeRules,
    ) -> Option<Response> {
        let limit = u64::from(rules.join_limit_per_ip_per_min);
        let ip = req.client_ip.as_deref()?;
        if limit == 0 {
            return None;
        }
        let now_ms = host.now_ms();
        let (key, until_ms) = limits::join_counter(&limits::client_bucket(ip), now_ms);
        match host.hit(event, &key, until_ms).await {
            Err(e) => Some(storage_unavailable(&e)),
            Ok(n) if n > limit => {
                let retry = u64::try_from((until_ms - now_ms).max(1))
                    .unwrap_or(1)
                    .div_ceil(1000);
                let mut extra = Map::new();
                extra.insert("retry_after_secs".into(), json!(retry));
                extra.insert("limit_per_min".into(), json!(limit));
                Some(
                    Response::problem_with(
                        429,
                        "RATE_LIMITED",
                        format!(
                            "too many joins from your network address for this event \
                             ({limit} a minute); try again in {retry} s"
                        ),
                        extra,
                    )
                    .with_header("retry-after", retry.to_string()),
                )
            }
            Ok(_) => None,
        }
    }

    /// Where a join from the room's own form goes back to: the page, in the form's
    /// language.
    fn page_url(req: &Request, event: Uuid) -> String {
        match req.query_param("lang") {
            Some(l @ ("ko" | "en")) => format!("/e/{event}?lang={l}"),
            _ => format!("/e/{event}"),
        }
    }

    async fn join<H: Host>(&self, host: &H, req: &Request, event: Uuid) -> Response {
        if let Some(why) = http::cross_site(req) {
            return Response::problem(
                403,
                "CROSS_SITE_JOIN",
                format!("join from the waiting room's own page at /e/{event}: {why}"),
            );
        }
        let form = is_form_post(req);
        let now_s = host.now_ms().div_euclid(1000);
        // Already in the queue: the same ticket again (reloading keeps the place).
        if let Some(Ok((claims, raw))) = self.ticket(req, event, now_s) {
            if form {
                let cookie = self.config.cookies.set(
                    &ticket_cookie(event),
                    &raw,
                    claims.exp.saturating_sub(now_s),
                );
                return Response::see_other(&Self::page_url(req, event))
                    .with_header("set-cookie", cookie);
            }
            return match self.current(host, event).await {
                Err(e) => storage_unavailable(&e),
                Ok(None) => no_room(event),
                Ok(Some(state)) => {
                    let (st, _) = self.standing(host, &state, event, &claims);
                    Response::json(
                        200,
                        &Joined {
                            event_id: event,
                            ticket: raw,
                            seq: claims.seq,
                            position: st.position,
                            poll_after_ms: st.poll_after_ms,
                        },
                    )
                }
            };
        }
        let state = match self.current(host, event).await {
            Err(e) => return storage_unavailable(&e),
            Ok(None) => return no_room(event),
            Ok(Some(s)) => s,
        };
        if let Err(r) = state.may_join(host.now_ms()) {
            return refusal(r);
        }
        let work = if state.rules.challenge == Challenge::Pow {
            match self.check_pow(host, req, event, &state.rules) {
                Ok(v) => Some(v),
                Err(refused) => return refused,
            }
        } else {
            None
        };
        if let Some(limited) = self.over_join_limit(host, req, event, &state.rules).await {
            return limited;
        }
        if let Some(v) = work {
            // Spent once: the claim outlives the challenge (plus the verifier's skew).
            let until_ms = v.expires_at.saturating_add(60).saturating_mul(1000);
            match host
                .claim_once(event, &format!("pow:{}", v.nonce), until_ms)
                .await
            {
                Err(e) => return storage_unavailable(&e),
                Ok(false) => {
                    let issued = self.issue_challenge(host, event, &state.rules);
                    let mut extra = Map::new();
                    extra.insert("pow".into(), json!(issued));
                    return Response::problem_with(
                        403,
                        "POW_INVALID",
                        "proof of work refused: this challenge was already spent",
                        extra,
                    );
                }
                Ok(true) => {}
            }
        }
        match host.join(event).await {
            Err(e) => storage_unavailable(&e),
            Ok(None) => no_room(event),
            Ok(Some(JoinResult { seq: Err(r), .. })) => refusal(r),
            Ok(Some(JoinResult {
                seq: Ok(seq),
                state,
            })) => {
                let now_ms = host.now_ms();
                let (_, ticket, max_age) =
                    self.mint_ticket(&state, event, seq, host.random(), now_ms.div_euclid(1000));
                let cookie = self
                    .config
                    .cookies
                    .set(&ticket_cookie(event), &ticket, max_age);
                if form {
                    return Response::see_other(&Self::page_url(req, event))
                        .with_header("set-cookie", cookie);
                }
                let jitter = u64::from_le_bytes(host.random()[..8].try_into().unwrap_or([0; 8]));
                let st = Standing::compute(&state, event, seq, now_ms, jitter);
                Response::json(
                    201,
                    &Joined {
                        event_id: event,
                        ticket: ticket.clone(),
                        seq,
                        position: st.position,
                        poll_after_ms: st.poll_after_ms,
                    },
                )
                .with_header("set-cookie", cookie)
            }
        }
    }

    async fn status<H: Host>(&self, host: &H, req: &Request, event: Uuid) -> Response {
        let now_ms = host.now_ms();
        let claims = match self.ticket(req, event, now_ms.div_euclid(1000)) {
            None => {
                return Response::problem(
                    401,
                    "TICKET_REQUIRED",
                    format!("no queue ticket: join first with POST /vwr/{event}/join"),
                );
            }
            Some(Err(e)) => return token_refusal(&e, "queue ticket"),
            Some(Ok((claims, _))) => claims,
        };
        let state = match self.current(host, event).await {
            Err(e) => return storage_unavailable(&e),
            Ok(None) => return no_room(event),
            Ok(Some(s)) => s,
        };
        if let Err(r) = closed_for_status(&state, now_ms) {
            return refusal(r);
        }
        let (st, cookie) = self.standing(host, &state, event, &claims);
        let r = Response::json(200, &st);
        match cookie {
            Some(c) => r.with_header("set-cookie", c),
            None => r,
        }
    }

    async fn draw<H: Host>(&self, host: &H, event: Uuid) -> Response {
        match self.current(host, event).await {
            Err(e) => storage_unavailable(&e),
            Ok(None) => no_room(event),
            Ok(Some(state)) => match state.draw_publication(host.now_ms()) {
                Some(p) => Response::json(200, &p),
                None => {
                    let mut extra = Map::new();
                    extra.insert("commitment".into(), json!(state.rules.draw_seed_commitment));
                    Response::problem_with(
                        404,
                        "DRAW_NOT_PUBLISHED",
                        "no draw has been published for this event (yet)",
                        extra,
                    )
                }
            },
        }
    }

    async fn push<H: Host>(&self, host: &H, event: Uuid, body: Option<&[u8]>) -> Response {
        let Some(body) = body else {
            return Response::problem(
                413,
                "BODY_TOO_LARGE",
                format!("a rules push is at most {MAX_BODY_LEN} bytes"),
            );
        };
        let Ok(text) = std::str::from_utf8(body) else {
            return Response::problem(400, "TOKEN_MALFORMED", "the body is not a rules token");
        };
        let now_s = host.now_ms().div_euclid(1000);
        let claims =
            match token::verify::<RulesClaims>(&self.config.origin_keys, text.trim(), now_s) {
                Ok(c) => c,
                Err(e) => return token_refusal(&e, "rules token"),
            };
        if claims.evt != event || claims.rules.event_id != event {
            return Response::problem(
                422,
                "RULES_EVENT_MISMATCH",
                format!("the rules are for another event than {event}"),
            );
        }
        if let Err(errors) = claims.rules.validate() {
            let mut extra = Map::new();
            extra.insert("errors".into(), json!(errors));
            return Response::problem_with(
                422,
                "RULES_INVALID",
                "the rules do not validate",
                extra,
            );
        }
        if let Some(name) = &claims.event_name {
            let n = name.chars().count();
            if n == 0 || n > state::MAX_EVENT_NAME_CHARS || name.chars().any(char::is_control) {
                return Response::problem(
                    422,
                    "RULES_INVALID",
                    "event_name must be 1-200 characters without control characters",
                );
            }
        }
        let draw_seed = match &claims.draw_seed {
            None => None,
            Some(hex_seed) => {
                let ok = crate::queue::seed_from_hex(hex_seed)
                    .zip(claims.rules.draw_seed_commitment.as_deref())
                    .is_some_and(|(seed, commitment)| crate::queue::verify_seed(&seed, commitment));
                if !ok {
                    return Response::problem(
                        422,
                        "DRAW_SEED_MISMATCH",
                        "draw_seed does not match the rules' draw_seed_commitment",
                    );
                }
                Some(hex_seed.to_ascii_lowercase())
            }
        };
        let version = claims.rules.version;
        let push = RulesPush {
            rules: claims.rules,
            event_name: claims.event_name,
            draw_seed,
        };
        match host.push_rules(event, push).await {
            Err(e) => storage_unavailable(&e),
            Ok(Ok(_)) => Response::json(
                200,
                &json!({ "event_id": event, "version": version, "applied": true }),
            ),
            Ok(Err(PushRejected::NotNewer { current_version })) => {
                let mut extra = Map::new();
                extra.insert("current_version".into(), Value::from(current_version));
                Response::problem_with(
                    409,
                    "RULES_VERSION_NOT_NEWER",
                    format!(
                        "version {version} is not newer than the stored version {current_version}"
                    ),
                    extra,
                )
            }
        }
    }

    async fn page<H: Host>(&self, host: &H, req: &Request, event: Uuid) -> Response {
        let lang = Lang::negotiate(req);
        let json = req.wants_json();
        let nonce = hex(&host.random());
        let now_ms = host.now_ms();
        let page = |status: u16, state: Option<&EventState>, kind: PageKind<'_>| -> Response {
            let html = page::render(&PageInput {
                event,
                lang,
                state,
                kind,
                now_ms,
                nonce: &nonce,
            });
            Response::html(status, html)
                .with_header("content-security-policy", page::csp(&nonce))
                .with_header("x-content-type-options", "nosniff")
                .with_header("referrer-policy", "same-origin")
                .with_header("content-language", lang.code())
        };
        let state = match self.current(host, event).await {
            Err(e) => return storage_unavailable(&e),
            Ok(None) if json => return no_room(event),
            Ok(None) => return page(404, None, PageKind::NotFound),
            Ok(Some(s)) => s,
        };
        if let Err(r) = closed_for_status(&state, now_ms) {
            if json {
                return refusal(r);
            }
            return match r {
                JoinRefused::Rejected => page(403, Some(&state), PageKind::Rejected),
                JoinRefused::Maintenance => page(503, Some(&state), PageKind::Maintenance)
                    .with_header(
                        "retry-after",
                        route::MAINTENANCE_RETRY_AFTER_SECS.to_string(),
                    ),
                JoinRefused::Ended => page(410, Some(&state), PageKind::Ended),
                JoinRefused::NotOpen { opens_at } => {
                    page(200, Some(&state), PageKind::NotOpen { opens_at })
                }
            };
        }
        // Nothing here takes a place: without a ticket the page offers to join.
        let claims = match self.ticket(req, event, now_ms.div_euclid(1000)) {
            Some(Ok((claims, _))) => claims,
            Some(Err(e)) if json => return token_refusal(&e, "queue ticket"),
            None if json => {
                return Response::problem(
                    401,
                    "TICKET_REQUIRED",
                    format!("no queue ticket: join first with POST /vwr/{event}/join"),
                );
            }
            _ => {
                return match state.may_join(now_ms) {
                    Ok(()) => {
                        let challenge = (state.rules.challenge == Challenge::Pow)
                            .then(|| self.issue_challenge(host, event, &state.rules));
                        page(
                            200,
                            Some(&state),
                            PageKind::Join {
                                challenge: challenge.as_ref(),
                            },
                        )
                    }
                    Err(JoinRefused::NotOpen { opens_at }) => {
                        page(200, Some(&state), PageKind::NotOpen { opens_at })
                    }
                    Err(JoinRefused::Rejected) => page(403, Some(&state), PageKind::Rejected),
                    Err(JoinRefused::Maintenance) => page(503, Some(&state), PageKind::Maintenance),
                    Err(JoinRefused::Ended) => page(410, Some(&state), PageKind::Ended),
                };
            }
        };
        let (st, pass_cookie) = self.standing(host, &state, event, &claims);
        let r = if json {
            Response::json(200, &st)
        } else {
            page(200, Some(&state), PageKind::Queue(&st))
        };
        match pass_cookie {
            Some(c) => r.with_header("set-cookie", c),
            None => r,
        }
    }
}

/// Whether a join comes from a browser form (answered with a redirect to the page)
/// rather than from a script or an API client (answered with JSON).
fn is_form_post(req: &Request) -> bool {
    let form_body = req.header("content-type").is_some_and(|t| {
        let t = t.trim().to_ascii_lowercase();
        t.starts_with("application/x-www-form-urlencoded") || t.starts_with("multipart/form-data")
    });
    let wants_html = req
        .header("accept")
        .is_some_and(|a| a.to_ascii_lowercase().contains("text/html"));
    !req.wants_json() && (form_body || wants_html)
}

/// Status reads refuse in modes and phases where nobody waits: reject, maintenance,
/// ended; and, for queue mode, before the room opens.
fn closed_for_status(state: &EventState, now_ms: i64) -> Result<(), JoinRefused> {
    match state.may_join(now_ms) {
        Err(JoinRefused::NotOpen { .. }) if state.counter.issued > 0 => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests;
