//! Serving a room: status polls, the random draw, rules pushes from the origin, the page.

use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::rules::Challenge;
use crate::token::{self, RulesClaims};
use http::{MAX_BODY_LEN, Request, Response};
use page::{Lang, PageInput, PageKind};
use state::{EventState, JoinRefused, PushRejected, RulesPush};

use super::*;

impl Edge {
    pub(super) async fn status<H: Host>(&self, host: &H, req: &Request, event: Uuid) -> Response {
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

    pub(super) async fn draw<H: Host>(&self, host: &H, event: Uuid) -> Response {
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

    pub(super) async fn push<H: Host>(
        &self,
        host: &H,
        event: Uuid,
        body: Option<&[u8]>,
    ) -> Response {
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

    /// The room's tier-1 counters for the origin: how many joined (`issued`) and how
    /// far the serving counter stands now. Only the origin may ask: the body must be a
    /// rules token it signed for this event (the one it pushes), so nobody else can
    /// watch a sale's progress from here.
    pub(super) async fn room_stats<H: Host>(
        &self,
        host: &H,
        event: Uuid,
        body: Option<&[u8]>,
    ) -> Response {
        let now_ms = host.now_ms();
        let Some(text) = body.and_then(|b| std::str::from_utf8(b).ok()) else {
            return Response::problem(400, "TOKEN_MALFORMED", "the body is not a rules token");
        };
        if text.trim().is_empty() {
            return Response::problem(401, "TOKEN_REQUIRED", "a rules token is required");
        }
        match token::verify::<RulesClaims>(
            &self.config.origin_keys,
            text.trim(),
            now_ms.div_euclid(1000),
        ) {
            Err(e) => return token_refusal(&e, "rules token"),
            Ok(c) if c.evt != event => {
                return Response::problem(
                    422,
                    "RULES_EVENT_MISMATCH",
                    format!("the token is for another event than {event}"),
                );
            }
            Ok(_) => {}
        }
        match self.current(host, event).await {
            Err(e) => storage_unavailable(&e),
            Ok(None) => no_room(event),
            Ok(Some(state)) => Response::json(
                200,
                &json!({
                    "event_id": event,
                    "version": state.rules.version,
                    "issued": state.counter.issued,
                    "serving": state.serving(now_ms),
                    "at_ms": now_ms,
                }),
            ),
        }
    }

    pub(super) async fn page<H: Host>(&self, host: &H, req: &Request, event: Uuid) -> Response {
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

/// Status reads refuse in modes and phases where nobody waits: reject, maintenance,
/// ended; and, for queue mode, before the room opens.
fn closed_for_status(state: &EventState, now_ms: i64) -> Result<(), JoinRefused> {
    match state.may_join(now_ms) {
        Err(JoinRefused::NotOpen { .. }) if state.counter.issued > 0 => Ok(()),
        other => other,
    }
}
