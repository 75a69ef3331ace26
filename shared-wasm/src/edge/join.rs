//! Joining a room: the proof-of-work challenge, the per-address join limit, the join.

use serde_json::{Map, json};
use uuid::Uuid;

use crate::rules::{Challenge, EdgeRules};
use http::{Request, Response};
use state::Standing;

use super::*;

impl Edge {
    /// A fresh proof-of-work challenge for `event` under `rules`.
    pub(super) fn issue_challenge<H: Host>(
        &self,
        host: &H,
        event: Uuid,
        rules: &EdgeRules,
    ) -> pow::Issued {
        pow::issue(
            &self.config.pow_secret.0,
            event,
            rules.pow_difficulty,
            host.now_ms().div_euclid(1000),
            host.random(),
        )
    }

    /// `GET /vwr/{event}/challenge`.
    pub(super) async fn challenge<H: Host>(&self, host: &H, event: Uuid) -> Response {
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
    pub(super) fn check_pow<H: Host>(
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
    pub(super) async fn over_join_limit<H: Host>(
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
    pub(super) fn page_url(req: &Request, event: Uuid) -> String {
        match req.query_param("lang") {
            Some(l @ ("ko" | "en")) => format!("/e/{event}?lang={l}"),
            _ => format!("/e/{event}"),
        }
    }

    pub(super) async fn join<H: Host>(&self, host: &H, req: &Request, event: Uuid) -> Response {
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
