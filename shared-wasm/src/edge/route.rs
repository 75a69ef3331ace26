//! The route table and the entry-token guard.
//!
//! # Routes
//!
//! | method       | path                        | what                                         |
//! |--------------|-----------------------------|----------------------------------------------|
//! | `GET`/`HEAD` | `/e/{event_id}`             | the waiting page (status JSON with `Accept: application/json`) |
//! | `POST`       | `/vwr/{event_id}/join`      | join the queue → `{ticket, position}`        |
//! | `GET`        | `/vwr/{event_id}/status`    | where am I → `{position, serving, ahead, ...}` |
//! | `GET`        | `/vwr/{event_id}/draw`      | the random draw's publication, once open     |
//! | `GET`        | `/vwr/{event_id}/challenge` | a proof-of-work challenge (rules `challenge: pow`) |
//! | `PUT`        | `/__urr/rules/{event_id}`   | rules push from the origin (body: a rules token) |
//! | any          | anything else               | proxied to the origin, through the guard     |
//!
//! A malformed event id on an edge route is a 400 problem (`INVALID_EVENT_ID`), a wrong
//! method a 405, and `/__urr/...` is never proxied. Neither is `/metrics` (and
//! everything below it): the origin's Prometheus endpoint is for the operators'
//! network, and through the edge it answers 404 problem+json.
//!
//! # Which event a proxied request belongs to
//!
//! Taking "the first UUID after `/reservations/`" as the event would read a reservation
//! id on `/api/reservations/{id}` as one. Here exactly two path shapes name an
//! event, and only in the segment right after `events`:
//!
//! * `/api/v1/events/{event_id}/...`: API paths; a refused guard answers 403 problem+json;
//! * `/events/{event_id}/...`: pages; a refused guard answers `302 /e/{event_id}`.
//!
//! The id is parsed as a UUID (any spelling the origin's router accepts: upper case,
//! braces, no hyphens) and the path is rebuilt with its canonical lower-case form
//! before the rules' `protected_paths` are matched, so `/api/v1/events/{ID}/holds`
//! cannot slip past a rule written for `/api/v1/events/{id}/holds*`.
//!
//! # Guarded paths
//!
//! Always, for an event with rules: `/api/v1/events/{event_id}/reservations` and
//! `/api/v1/events/{event_id}/holds` (and everything below them). In addition, every
//! path the event's rules list in `protected_paths`. A malformed id on those two API
//! shapes is refused (400) instead of being forwarded unchecked.
//!
//! # The guard decision ([`guard`])
//!
//! For a guarded path of an event **with** rules:
//!
//! * mode `maintenance`: 503 (`MAINTENANCE`, `Retry-After`); `reject`: 403
//!   (`EVENT_NOT_AVAILABLE`). Nobody is let through, token or not.
//! * modes `queue` and `passthrough`: the entry token from the `X-Entry-Token` header, or
//!   else the event's `urr_entry_<event id, 32 hex>` cookie ([`entry_cookie`]; the
//!   unscoped `urr_entry` of older origins is read last), must verify with the **origin** public key set as an
//!   `entry` token (`typ`), for this event, unexpired. The refusal names the first check
//!   that failed: `ENTRY_TOKEN_REQUIRED`, `TOKEN_MALFORMED`, `TOKEN_ALGORITHM`,
//!   `TOKEN_UNKNOWN_KEY`, `TOKEN_BAD_SIGNATURE`, `TOKEN_WRONG_TYPE`, `TOKEN_EXPIRED`,
//!   `TOKEN_NOT_YET_VALID`, `TOKEN_WRONG_EVENT`.
//!
//! Passthrough keeps the guard: in passthrough the edge hands out passes at once (no
//! waiting), but tier 2 still turns passes into entry tokens and the origin requires
//! them on the same routes; letting tokenless requests through would only move the
//! refusal to the origin.
//!
//! For an event **without** rules (nothing pushed: the event has no waiting room, or
//! the push has not arrived yet) the edge proxies everything and lets the origin decide.
//! Requiring an entry token there would lock everybody out of events that never had a
//! queue, since only a queue's pass leads to an entry token.

use uuid::Uuid;

use super::http::{Method, Request, Response};
use crate::rules::{EdgeRules, Mode, normalize_path};
use crate::token::{self, EntryClaims, KeySet};

/// The unscoped entry cookie older origins set; read only when the event's own cookie
/// is absent.
pub const LEGACY_ENTRY_COOKIE: &str = "urr_entry";

/// The cookie that may carry `event`'s entry token (the header wins): one name per
/// event, so a fan admitted to two events keeps both tokens. The origin sets it.
pub fn entry_cookie(event: Uuid) -> String {
    format!("urr_entry_{}", event.simple())
}
/// Header that may carry the entry token.
pub const ENTRY_HEADER: &str = "x-entry-token";
/// Seconds a maintenance answer asks clients to wait.
pub const MAINTENANCE_RETRY_AFTER_SECS: u32 = 60;

/// What a request is, decided from its method and path alone (no state read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Page(Uuid),
    Join(Uuid),
    Status(Uuid),
    Draw(Uuid),
    Challenge(Uuid),
    PushRules(Uuid),
    /// The room's tier-1 counters, for the origin's live view: `POST /__urr/stats/{id}`
    /// with the origin's rules token as the body (a POST because the token carries the
    /// whole rules document, too large for a header the edge reads).
    RoomStats(Uuid),
    /// Forward to the origin; `event` when the path belongs to one (then the guard runs).
    Proxy(Option<EventPath>),
    /// Refused before any state is read.
    Refuse(Response),
}

impl Route {
    /// Whether the platform must read the body (bounded by
    /// [`super::http::MAX_BODY_LEN`]) before calling [`super::Edge::handle`].
    pub fn needs_body(&self) -> bool {
        matches!(self, Route::PushRules(_) | Route::RoomStats(_))
    }

    /// The event the route is about, if any.
    pub fn event(&self) -> Option<Uuid> {
        match self {
            Route::Page(e)
            | Route::Join(e)
            | Route::Status(e)
            | Route::Draw(e)
            | Route::Challenge(e)
            | Route::PushRules(e)
            | Route::RoomStats(e) => Some(*e),
            Route::Proxy(p) => p.as_ref().map(|p| p.event),
            Route::Refuse(_) => None,
        }
    }
}

/// A proxied path that names an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPath {
    pub event: Uuid,
    /// The normalised path with the event id in canonical form (what rules match).
    pub canonical: String,
    /// `/api/...` (problem answers) rather than a page (redirect answers).
    pub api: bool,
    /// One of the always-guarded API shapes (`reservations`, `holds`).
    pub default_guarded: bool,
}

/// Sub-resources of `/api/v1/events/{event_id}/` that are always guarded.
pub const DEFAULT_GUARDED: [&str; 2] = ["reservations", "holds"];

fn invalid_id(raw: &str) -> Response {
    let shown: String = raw.chars().take(64).collect();
    Response::problem(
        400,
        "INVALID_EVENT_ID",
        format!("`{shown}` is not an event id (a UUID)"),
    )
}

fn method_not_allowed(allow: &str) -> Response {
    Response::problem(
        405,
        "METHOD_NOT_ALLOWED",
        format!("this path accepts {allow} only"),
    )
    .with_header("allow", allow)
}

fn parse_event(raw: &str) -> Result<Uuid, Response> {
    if raw.len() > 45 {
        return Err(invalid_id(raw));
    }
    Uuid::parse_str(raw).map_err(|_| invalid_id(raw))
}

/// Decides the route of `req` (see the module docs).
pub fn route(req: &Request) -> Route {
    let path = normalize_path(&req.path);
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let m = req.method;
    match segments.as_slice() {
        ["e", id] => match parse_event(id) {
            Err(r) => Route::Refuse(r),
            Ok(e) if matches!(m, Method::Get | Method::Head) => Route::Page(e),
            Ok(_) => Route::Refuse(method_not_allowed("GET, HEAD")),
        },
        ["vwr", id, action] => {
            let e = match parse_event(id) {
                Ok(e) => e,
                Err(r) => return Route::Refuse(r),
            };
            match (*action, m) {
                ("join", Method::Post) => Route::Join(e),
                ("join", _) => Route::Refuse(method_not_allowed("POST")),
                ("status", Method::Get | Method::Head) => Route::Status(e),
                ("draw", Method::Get | Method::Head) => Route::Draw(e),
                ("challenge", Method::Get | Method::Head) => Route::Challenge(e),
                ("status" | "draw" | "challenge", _) => {
                    Route::Refuse(method_not_allowed("GET, HEAD"))
                }
                _ => Route::Refuse(not_found()),
            }
        }
        ["vwr", ..] | ["e", ..] => Route::Refuse(not_found()),
        ["__urr", "rules", id] => match parse_event(id) {
            Err(r) => Route::Refuse(r),
            Ok(e) if m == Method::Put => Route::PushRules(e),
            Ok(_) => Route::Refuse(method_not_allowed("PUT")),
        },
        ["__urr", "stats", id] => match parse_event(id) {
            Err(r) => Route::Refuse(r),
            Ok(e) if m == Method::Post => Route::RoomStats(e),
            Ok(_) => Route::Refuse(method_not_allowed("POST")),
        },
        ["__urr", ..] | ["metrics", ..] => Route::Refuse(not_found()),
        ["api", "v1", "events", id, rest @ ..] => {
            let default_guarded = rest.first().is_some_and(|s| DEFAULT_GUARDED.contains(s));
            match Uuid::parse_str(id) {
                Ok(event) if id.len() <= 45 => Route::Proxy(Some(EventPath {
                    event,
                    canonical: canonical(&segments, 3, event),
                    api: true,
                    default_guarded,
                })),
                _ if default_guarded => Route::Refuse(invalid_id(id)),
                _ => Route::Proxy(None),
            }
        }
        ["events", id, ..] => match Uuid::parse_str(id) {
            Ok(event) if id.len() <= 45 => Route::Proxy(Some(EventPath {
                event,
                canonical: canonical(&segments, 1, event),
                api: false,
                default_guarded: false,
            })),
            _ => Route::Proxy(None),
        },
        _ => Route::Proxy(None),
    }
}

fn not_found() -> Response {
    Response::problem(404, "NOT_FOUND", "no such edge route")
}

/// The normalised path with segment `at` replaced by the canonical event id.
fn canonical(segments: &[&str], at: usize, event: Uuid) -> String {
    let id = event.to_string();
    let mut out = String::new();
    for (i, s) in segments.iter().enumerate() {
        out.push('/');
        out.push_str(if i == at { &id } else { s });
    }
    out
}

/// The entry token a request presents for `event`: `X-Entry-Token`, else the event's
/// cookie, else the legacy unscoped one.
pub fn entry_token(req: &Request, event: Uuid) -> Option<&str> {
    req.header(ENTRY_HEADER)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .or_else(|| req.cookie(&entry_cookie(event)).filter(|t| !t.is_empty()))
        .or_else(|| req.cookie(LEGACY_ENTRY_COOKIE).filter(|t| !t.is_empty()))
}

/// Whether `path` is guarded for an event with `rules` (see the module docs).
pub fn is_guarded(path: &EventPath, rules: &EdgeRules) -> bool {
    path.default_guarded || rules.path_is_protected(&path.canonical)
}

/// The guard: `None` lets the request through to the origin, `Some(answer)` refuses it
/// (see the module docs for the rules).
pub fn guard(
    req: &Request,
    path: &EventPath,
    rules: Option<&EdgeRules>,
    origin_keys: &KeySet,
    now_s: i64,
) -> Option<Response> {
    let rules = rules?;
    if !is_guarded(path, rules) {
        return None;
    }
    let event = path.event;
    let refuse = |status: u16, code: &str, detail: String| -> Response {
        if path.api {
            Response::problem(status, code, detail)
        } else {
            Response::redirect(&format!("/e/{event}"))
        }
    };
    match rules.mode {
        Mode::Maintenance => {
            let r = refuse(
                503,
                "MAINTENANCE",
                "the event is under maintenance; try again shortly".into(),
            );
            return Some(if path.api {
                r.with_header("retry-after", MAINTENANCE_RETRY_AFTER_SECS.to_string())
            } else {
                r
            });
        }
        Mode::Reject => {
            return Some(refuse(
                403,
                "EVENT_NOT_AVAILABLE",
                "this event is not available".into(),
            ));
        }
        Mode::Queue | Mode::Passthrough => {}
    }
    let Some(token) = entry_token(req, event) else {
        return Some(refuse(
            403,
            "ENTRY_TOKEN_REQUIRED",
            format!(
                "this path needs an entry token for event {event}; join the queue at /e/{event}"
            ),
        ));
    };
    match token::verify_for_event::<EntryClaims>(origin_keys, token, event, now_s) {
        Ok(_) => None,
        Err(e) => Some(refuse(403, e.code(), format!("entry token refused: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVT: &str = "0190b7d4-5a6e-7c3a-9f00-3e1f2d4c5b6a";

    fn req(method: &str, path: &str) -> Request {
        Request::new(method, path, []).expect("small")
    }

    fn evt() -> Uuid {
        Uuid::parse_str(EVT).expect("uuid")
    }

    #[test]
    fn edge_routes() {
        assert_eq!(route(&req("GET", &format!("/e/{EVT}"))), Route::Page(evt()));
        assert_eq!(
            route(&req("GET", &format!("/e/{EVT}/?lang=en"))),
            Route::Page(evt())
        );
        assert_eq!(
            route(&req("POST", &format!("/vwr/{EVT}/join"))),
            Route::Join(evt())
        );
        assert_eq!(
            route(&req("GET", &format!("/vwr/{EVT}/status"))),
            Route::Status(evt())
        );
        assert_eq!(
            route(&req("GET", &format!("/vwr/{EVT}/draw"))),
            Route::Draw(evt())
        );
        assert_eq!(
            route(&req("PUT", &format!("/__urr/rules/{EVT}"))),
            Route::PushRules(evt())
        );
        assert!(route(&req("PUT", &format!("/__urr/rules/{EVT}"))).needs_body());
        assert_eq!(
            route(&req("GET", &format!("/vwr/{EVT}/challenge"))),
            Route::Challenge(evt())
        );
    }

    fn refused(r: Route) -> (u16, String) {
        match r {
            Route::Refuse(resp) => (resp.status, resp.text()),
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn bad_ids_and_methods_are_refused() {
        let (s, body) = refused(route(&req("GET", "/e/not-a-uuid")));
        assert_eq!(s, 400);
        assert!(body.contains("INVALID_EVENT_ID"));
        assert_eq!(refused(route(&req("POST", "/vwr/123/join"))).0, 400);
        assert_eq!(
            refused(route(&req("GET", &format!("/vwr/{EVT}/join")))).0,
            405
        );
        assert_eq!(refused(route(&req("POST", &format!("/e/{EVT}")))).0, 405);
        assert_eq!(
            refused(route(&req("GET", &format!("/__urr/rules/{EVT}")))).0,
            405
        );
        let stats = route(&req("POST", &format!("/__urr/stats/{EVT}")));
        assert_eq!(stats, Route::RoomStats(evt()));
        assert!(stats.needs_body());
        assert_eq!(
            refused(route(&req("GET", &format!("/__urr/stats/{EVT}")))).0,
            405
        );
        assert_eq!(refused(route(&req("GET", "/__urr/anything"))).0, 404);
        for metrics in [
            "/metrics",
            "/metrics/",
            "/metrics/x",
            "//metrics",
            "/%6detrics",
        ] {
            let (s, body) = refused(route(&req("GET", metrics)));
            assert_eq!(s, 404, "{metrics}");
            assert!(body.contains("NOT_FOUND"), "{metrics}");
        }
        assert_eq!(
            refused(route(&req("GET", &format!("/vwr/{EVT}/nope")))).0,
            404
        );
        assert_eq!(
            refused(route(&req("POST", "/api/v1/events/xyz/reservations"))).0,
            400
        );
        let long = "a".repeat(300);
        assert_eq!(refused(route(&req("GET", &format!("/e/{long}")))).0, 400);
    }

    #[test]
    fn event_paths_are_canonical() {
        let upper = EVT.to_uppercase();
        let Route::Proxy(Some(p)) = route(&req("POST", &format!("/api/v1/events/{upper}/holds/1")))
        else {
            panic!("event path")
        };
        assert_eq!(p.event, evt());
        assert_eq!(p.canonical, format!("/api/v1/events/{EVT}/holds/1"));
        assert!(p.api && p.default_guarded);
        let simple = EVT.replace('-', "");
        let Route::Proxy(Some(p)) = route(&req("GET", &format!("/events/{simple}/book"))) else {
            panic!("page path")
        };
        assert_eq!(p.canonical, format!("/events/{EVT}/book"));
        assert!(!p.api && !p.default_guarded);
        // A reservation id is not an event id.
        assert_eq!(
            route(&req("GET", &format!("/api/v1/reservations/{EVT}"))),
            Route::Proxy(None)
        );
        assert_eq!(route(&req("GET", "/api/v1/events")), Route::Proxy(None));
        assert_eq!(
            route(&req("GET", "/api/v1/events/search")),
            Route::Proxy(None)
        );
    }
}
