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
//!  Host::{snapshot, observe, join, push_rules, now_ms, random}
//! ```
//!
//! | module    | what                                                                      |
//! |-----------|---------------------------------------------------------------------------|
//! | [`http`]  | bounded request view, responses, problem+json, cookies                    |
//! | [`route`] | the route table, which event a path belongs to, the entry-token guard     |
//! | [`state`] | the per-event state, its three atomic operations, a visitor's standing    |
//! | [`page`]  | the bilingual, accessible waiting page                                    |
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
//! # Tokens and cookies
//!
//! * join → a `ticket` (edge-signed: event, visitor id, join sequence), set as the
//!   `urr_ticket` cookie (HttpOnly, SameSite=Lax, Path=/, Secure unless disabled for
//!   local HTTP) and returned in the JSON for API clients, who send it back in
//!   `X-Queue-Ticket`.
//! * status, once served → a `pass` (edge-signed: event, visitor, position, random
//!   `jti`, 10 minutes), in the JSON and as the HttpOnly `urr_pass` cookie; the page
//!   forwards to [`EdgeConfig::pass_path`] where tier 2 consumes it. A visitor who
//!   polls again gets a fresh pass for the same position; tier 2 admits each
//!   `(event, position)` once.

pub mod http;
pub mod page;
pub mod route;
pub mod state;

use serde::Serialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::token::{self, KeySet, PassClaims, RulesClaims, SigningKey, TicketClaims, TokenError};
use http::{CookiePolicy, MAX_BODY_LEN, Method, Request, Response};
use page::{Lang, PageInput, PageKind};
use route::Route;
use state::{EventState, JoinRefused, PushRejected, RulesPush, Standing};

/// Cookie holding the queue ticket.
pub const TICKET_COOKIE: &str = "urr_ticket";
/// Header an API client may send its ticket in instead.
pub const TICKET_HEADER: &str = "x-queue-ticket";
/// Cookie holding the pass once served.
pub const PASS_COOKIE: &str = "urr_pass";
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
    /// Forward the request unchanged to the origin, setting these headers (replacing any
    /// the client sent with the same names): `x-request-id`, and the client address as
    /// `x-forwarded-for` / `x-real-ip`.
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
}

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
        Ok(EdgeConfig {
            edge_key,
            edge_keys,
            origin_keys,
            cookies: CookiePolicy { secure },
            pass_path,
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
            Route::PushRules(e) => respond(self.push(host, e, body).await),
            Route::Proxy(None) => self.proxy(host, req),
            Route::Proxy(Some(path)) => {
                let rules = match host.snapshot(path.event).await {
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
        }
        Outcome::Proxy { headers }
    }

    fn pass_url(&self, event: Uuid) -> String {
        self.config
            .pass_path
            .replace("{event_id}", &event.to_string())
    }

    /// The ticket a request presents (`X-Queue-Ticket`, else the cookie), verified for
    /// `event`. `None` when there is none.
    fn ticket(
        &self,
        req: &Request,
        event: Uuid,
        now_s: i64,
    ) -> Option<Result<(TicketClaims, String), TokenError>> {
        let raw = req
            .header(TICKET_HEADER)
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .or_else(|| req.cookie(TICKET_COOKIE).filter(|t| !t.is_empty()))?;
        Some(
            token::verify_for_event::<TicketClaims>(&self.config.edge_keys, raw, event, now_s)
                .map(|c| (c, raw.to_owned())),
        )
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
            cookie = Some(self.config.cookies.set(PASS_COOKIE, &pass, PASS_TTL_SECS));
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
        match host.snapshot(event).await? {
            Some(s) if s.needs_observe(host.now_ms()) => host.observe(event).await,
            other => Ok(other),
        }
    }

    async fn join<H: Host>(&self, host: &H, req: &Request, event: Uuid) -> Response {
        let now_s = host.now_ms().div_euclid(1000);
        // Already in the queue: the same ticket again (reloading keeps the place).
        if let Some(Ok((claims, raw))) = self.ticket(req, event, now_s) {
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
                .with_header(
                    "set-cookie",
                    self.config.cookies.set(TICKET_COOKIE, &ticket, max_age),
                )
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
        // The visitor's ticket, or a new one: the page joins on first visit so that it
        // works without JavaScript (HEAD never joins).
        let mut set_ticket = None;
        let (claims, state) = match self.ticket(req, event, now_ms.div_euclid(1000)) {
            Some(Ok((claims, _))) => (claims, state),
            // HEAD (link checkers, prefetchers) must not take a place in the queue.
            _ if req.method == Method::Head => {
                return Response::html(200, String::new())
                    .with_header("content-language", lang.code());
            }
            _ => match host.join(event).await {
                Err(e) => return storage_unavailable(&e),
                Ok(None) if json => return no_room(event),
                Ok(None) => return page(404, None, PageKind::NotFound),
                Ok(Some(JoinResult { seq: Err(r), state })) => {
                    return match r {
                        _ if json => refusal(r),
                        JoinRefused::NotOpen { opens_at } => {
                            page(200, Some(&state), PageKind::NotOpen { opens_at })
                        }
                        JoinRefused::Rejected => page(403, Some(&state), PageKind::Rejected),
                        JoinRefused::Maintenance => page(503, Some(&state), PageKind::Maintenance),
                        JoinRefused::Ended => page(410, Some(&state), PageKind::Ended),
                    };
                }
                Ok(Some(JoinResult {
                    seq: Ok(seq),
                    state,
                })) => {
                    let (claims, ticket, max_age) = self.mint_ticket(
                        &state,
                        event,
                        seq,
                        host.random(),
                        now_ms.div_euclid(1000),
                    );
                    set_ticket = Some(self.config.cookies.set(TICKET_COOKIE, &ticket, max_age));
                    (claims, state)
                }
            },
        };
        let (st, pass_cookie) = self.standing(host, &state, event, &claims);
        let mut r = if json {
            Response::json(200, &st)
        } else {
            page(200, Some(&state), PageKind::Queue(&st))
        };
        for c in [set_ticket, pass_cookie].into_iter().flatten() {
            r = r.with_header("set-cookie", c);
        }
        r
    }
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
