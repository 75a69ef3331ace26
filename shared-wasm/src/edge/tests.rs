//! Unit tests of the edge logic against an in-memory [`Host`] with a settable clock.

use super::*;
use crate::queue;
use crate::rules::{EdgeRules, Method as QueueMethod, Mode};
use crate::token::{AccessClaims, EntryClaims, KeySet, Role, RulesClaims, SigningKey};
use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;

const NOW_S: i64 = 1_800_000_000;

/// Polls a future whose every await is immediately ready (the fake host never waits).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// The simplest correct host: a map, a clock, a counter for "randomness".
struct FakeHost {
    events: RefCell<HashMap<Uuid, EventState>>,
    now_ms: Cell<i64>,
    rng: Cell<u64>,
    fail: Cell<bool>,
    /// Counters and claims, as the Cloudflare object keeps them.
    memory: RefCell<limits::Memory>,
    /// Answer `may_have_state` from the pushed events (as the Cloudflare registry does)
    /// instead of always `true`.
    gatekeep: Cell<bool>,
    /// Events each storage call was about, in order.
    touched: RefCell<Vec<Uuid>>,
}

impl FakeHost {
    fn new() -> Self {
        FakeHost {
            events: RefCell::new(HashMap::new()),
            now_ms: Cell::new(NOW_S * 1000),
            rng: Cell::new(1),
            fail: Cell::new(false),
            memory: RefCell::new(limits::Memory::new()),
            gatekeep: Cell::new(false),
            touched: RefCell::new(Vec::new()),
        }
    }

    fn touch(&self, event: Uuid) -> Result<(), HostError> {
        self.touched.borrow_mut().push(event);
        self.check()
    }

    fn check(&self) -> Result<(), HostError> {
        if self.fail.get() {
            Err(HostError("down".into()))
        } else {
            Ok(())
        }
    }
}

impl Host for FakeHost {
    async fn snapshot(&self, event: Uuid) -> Result<Option<EventState>, HostError> {
        self.touch(event)?;
        Ok(self.events.borrow().get(&event).cloned())
    }

    async fn observe(&self, event: Uuid) -> Result<Option<EventState>, HostError> {
        self.touch(event)?;
        let mut map = self.events.borrow_mut();
        Ok(map.get_mut(&event).map(|s| {
            s.observe(self.now_ms.get());
            s.clone()
        }))
    }

    async fn join(&self, event: Uuid) -> Result<Option<JoinResult>, HostError> {
        self.touch(event)?;
        let mut map = self.events.borrow_mut();
        Ok(map.get_mut(&event).map(|s| JoinResult {
            seq: s.join(self.now_ms.get()),
            state: s.clone(),
        }))
    }

    async fn push_rules(
        &self,
        event: Uuid,
        push: RulesPush,
    ) -> Result<Result<EventState, PushRejected>, HostError> {
        self.check()?;
        let mut map = self.events.borrow_mut();
        let current = map.get(&event).cloned();
        Ok(
            state::apply_push(current, push, self.now_ms.get()).inspect(|s| {
                map.insert(event, s.clone());
            }),
        )
    }

    async fn hit(&self, event: Uuid, key: &str, until_ms: i64) -> Result<u64, HostError> {
        self.touch(event)?;
        let key = format!("{event}/{key}");
        Ok(self
            .memory
            .borrow_mut()
            .hit(&key, until_ms, self.now_ms.get()))
    }

    async fn claim_once(&self, event: Uuid, key: &str, until_ms: i64) -> Result<bool, HostError> {
        self.touch(event)?;
        let key = format!("{event}/{key}");
        Ok(self
            .memory
            .borrow_mut()
            .claim(&key, until_ms, self.now_ms.get()))
    }

    async fn may_have_state(&self, event: Uuid) -> Result<bool, HostError> {
        self.check()?;
        Ok(!self.gatekeep.get() || self.events.borrow().contains_key(&event))
    }

    fn now_ms(&self) -> i64 {
        self.now_ms.get()
    }

    fn random(&self) -> [u8; 16] {
        let n = self.rng.get();
        self.rng.set(n + 1);
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&queue::poll::mix64(n).to_le_bytes());
        out[8..].copy_from_slice(&queue::poll::mix64(!n).to_le_bytes());
        out
    }
}

struct World {
    host: FakeHost,
    edge: Edge,
    origin: SigningKey,
    event: Uuid,
}

fn key(kid: &str, b: u8) -> SigningKey {
    SigningKey::from_seed(kid, [b; 32]).expect("key")
}

impl World {
    fn new() -> Self {
        let origin = key("origin-1", 1);
        let edge_key = key("edge-1", 2);
        let config = EdgeConfig::from_vars(|k| match k {
            "EDGE_SIGNING_KEY" => Some(token::format_key_spec("edge-1", &[2; 32])),
            "ORIGIN_PUBLIC_KEYS" => Some(origin.public_key().to_string()),
            "COOKIE_SECURE" => Some("false".into()),
            _ => None,
        })
        .expect("config");
        assert_eq!(config.edge_key.kid(), edge_key.kid());
        World {
            host: FakeHost::new(),
            edge: Edge::new(config),
            origin,
            event: Uuid::from_u128(0x0190_b7d4_5a6e_7c3a_9f00_3e1f_2d4c_5b6a),
        }
    }

    fn rules(&self, version: u64) -> EdgeRules {
        let mut r = EdgeRules::default_for(self.event, NOW_S - 600);
        r.version = version;
        r.new_users_per_minute = 60;
        r
    }

    fn rules_token(&self, rules: &EdgeRules, seed: Option<&queue::Seed>) -> String {
        token::sign(
            &self.origin,
            &RulesClaims {
                evt: rules.event_id,
                rules: rules.clone(),
                event_name: Some("IU <Live> & \"Friends\"".into()),
                draw_seed: seed.map(queue::seed_to_hex),
                iat: NOW_S,
                exp: NOW_S + 300,
            },
        )
    }

    fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Outcome {
        self.send_from("203.0.113.9", method, target, headers, body)
    }

    fn send_from(
        &self,
        ip: &str,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Outcome {
        let req = Request::new(method, target, headers.iter().copied())
            .expect("bounded")
            .with_client_ip(Some(ip.into()));
        let route = self.edge.route(&req);
        block_on(
            self.edge
                .handle(&self.host, &req, route, body.map(str::as_bytes)),
        )
    }

    fn call(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        match self.send(method, target, headers, body) {
            Outcome::Respond(r) => r,
            Outcome::Proxy { .. } => panic!("{method} {target} was proxied"),
        }
    }

    fn push(&self, rules: &EdgeRules) -> Response {
        let t = self.rules_token(rules, None);
        self.call(
            "PUT",
            &format!("/__urr/rules/{}", self.event),
            &[],
            Some(&t),
        )
    }

    fn join(&self) -> (Value, String) {
        let r = self.call("POST", &format!("/vwr/{}/join", self.event), &[], None);
        assert_eq!(r.status, 201, "{}", r.text());
        let v: Value = serde_json::from_slice(&r.body).expect("json");
        let cookie = r.header("set-cookie").expect("cookie").to_owned();
        (v, cookie)
    }

    fn status(&self, ticket: &str) -> Response {
        self.call(
            "GET",
            &format!("/vwr/{}/status", self.event),
            &[("x-queue-ticket", ticket)],
            None,
        )
    }

    fn entry(&self, event: Uuid, exp: i64) -> String {
        token::sign(
            &self.origin,
            &EntryClaims {
                evt: event,
                sub: Uuid::from_u128(9),
                jti: "j".into(),
                iat: NOW_S - 10,
                exp,
            },
        )
    }
}

fn json(r: &Response) -> Value {
    serde_json::from_slice(&r.body).expect("json body")
}

fn code(r: &Response) -> String {
    assert_eq!(
        r.header("content-type"),
        Some(http::PROBLEM_JSON),
        "{}",
        r.text()
    );
    json(r)["code"].as_str().unwrap_or_default().to_owned()
}

#[test]
fn join_status_and_pass() {
    let w = World::new();
    assert_eq!(w.push(&w.rules(1)).status, 200);
    let (joined, cookie) = w.join();
    assert!(cookie.starts_with(&format!("urr_ticket_{}=", w.event.simple())));
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/")
    );
    assert!(!cookie.contains("Secure"), "COOKIE_SECURE=false");
    assert_eq!(joined["position"], 1);
    let ticket = joined["ticket"].as_str().expect("ticket").to_owned();

    // The sale opened 10 minutes ago at 60/min with nobody waiting: one slot of credit,
    // so the first joiner passes at once.
    let s = w.status(&ticket);
    assert_eq!(s.status, 200);
    let v = json(&s);
    assert_eq!(v["position"], 1);
    assert_eq!(v["served"], true);
    assert_eq!(v["rules_version"], 1);
    let pass = v["pass"].as_str().expect("pass");
    let keys = KeySet::new([w.edge.config.edge_key.public_key()]).expect("keys");
    let claims =
        token::verify_for_event::<PassClaims>(&keys, pass, w.event, NOW_S).expect("pass verifies");
    assert_eq!(claims.pos, 1);
    assert_eq!(claims.exp - claims.iat, 600);
    assert!(s.header("set-cookie").is_some_and(|c| {
        c.starts_with(&format!("urr_pass_{}=", w.event.simple())) && c.contains("HttpOnly")
    }));

    // The cookie works as well as the header, and the same ticket re-joins in place.
    let via_cookie = w.call(
        "GET",
        &format!("/vwr/{}/status", w.event),
        &[(
            "cookie",
            &format!("other=1; urr_ticket_{}={ticket}", w.event.simple()),
        )],
        None,
    );
    assert_eq!(via_cookie.status, 200);
    let again = w.call(
        "POST",
        &format!("/vwr/{}/join", w.event),
        &[("x-queue-ticket", &ticket)],
        None,
    );
    assert_eq!(again.status, 200);
    assert_eq!(json(&again)["seq"], 1);

    // The second joiner waits a second.
    let (second, _) = w.join();
    let t2 = second["ticket"].as_str().expect("ticket");
    let v = json(&w.status(t2));
    assert_eq!(v["position"], 2);
    assert_eq!(v["served"], false);
    assert_eq!(v["ahead"], 0);
    assert_eq!(v["eta_seconds"], 1);
    assert!(v.get("pass").is_none());
    w.host.now_ms.set(NOW_S * 1000 + 1_000);
    assert_eq!(json(&w.status(t2))["served"], true);
}

#[test]
fn status_refuses_missing_forged_and_foreign_tickets() {
    let w = World::new();
    w.push(&w.rules(1));
    let status = format!("/vwr/{}/status", w.event);
    let r = w.call("GET", &status, &[], None);
    assert_eq!((r.status, code(&r).as_str()), (401, "TICKET_REQUIRED"));
    let r = w.status("garbage");
    assert_eq!((r.status, code(&r).as_str()), (400, "TOKEN_MALFORMED"));
    // A ticket signed by the origin key (wrong signer, unknown kid for the edge).
    let forged = token::sign(
        &w.origin,
        &TicketClaims {
            evt: w.event,
            sub: "x".into(),
            seq: 1,
            iat: NOW_S,
            exp: NOW_S + 600,
        },
    );
    assert_eq!(code(&w.status(&forged)), "TOKEN_UNKNOWN_KEY");
    // A genuine ticket of another event.
    let other = Uuid::from_u128(77);
    let foreign = token::sign(
        &w.edge.config.edge_key,
        &TicketClaims {
            evt: other,
            sub: "x".into(),
            seq: 1,
            iat: NOW_S,
            exp: NOW_S + 600,
        },
    );
    assert_eq!(code(&w.status(&foreign)), "TOKEN_WRONG_EVENT");
    // Unknown event.
    let r = w.call(
        "GET",
        &format!("/vwr/{other}/status"),
        &[("x-queue-ticket", &foreign)],
        None,
    );
    assert_eq!(
        (r.status, code(&r).as_str()),
        (404, "WAITING_ROOM_NOT_FOUND")
    );
}

#[test]
fn the_guard() {
    let w = World::new();
    let holds = format!("/api/v1/events/{}/holds", w.event);
    // No rules: proxied without a token, the origin decides.
    assert!(matches!(
        w.send("POST", &holds, &[], None),
        Outcome::Proxy { .. }
    ));
    w.push(&w.rules(1));

    let deny = |headers: &[(&str, &str)]| -> String {
        let r = w.call("POST", &holds, headers, None);
        assert_eq!(r.status, 403, "{}", r.text());
        code(&r)
    };
    assert_eq!(deny(&[]), "ENTRY_TOKEN_REQUIRED");
    assert_eq!(deny(&[("x-entry-token", "not.a.token")]), "TOKEN_MALFORMED");
    let valid = w.entry(w.event, NOW_S + 600);
    let forged = token::sign(
        &key("origin-1", 99),
        &EntryClaims {
            evt: w.event,
            sub: Uuid::nil(),
            jti: "j".into(),
            iat: NOW_S,
            exp: NOW_S + 600,
        },
    );
    assert_eq!(deny(&[("x-entry-token", &forged)]), "TOKEN_BAD_SIGNATURE");
    assert_eq!(
        deny(&[("x-entry-token", &w.entry(Uuid::from_u128(5), NOW_S + 600))]),
        "TOKEN_WRONG_EVENT"
    );
    assert_eq!(
        deny(&[("x-entry-token", &w.entry(w.event, NOW_S - 100))]),
        "TOKEN_EXPIRED"
    );
    let access = token::sign(
        &w.origin,
        &AccessClaims {
            sub: Uuid::nil(),
            role: Role::Admin,
            jti: "j".into(),
            iat: NOW_S,
            exp: NOW_S + 600,
            sid: None,
        },
    );
    assert_eq!(deny(&[("x-entry-token", &access)]), "TOKEN_WRONG_TYPE");
    let pass = token::sign(
        &w.edge.config.edge_key,
        &PassClaims {
            evt: w.event,
            sub: "v".into(),
            pos: 1,
            jti: "j".into(),
            iat: NOW_S,
            exp: NOW_S + 600,
        },
    );
    // A pass is edge-signed: its kid is unknown to the origin key set.
    assert_eq!(deny(&[("x-entry-token", &pass)]), "TOKEN_UNKNOWN_KEY");

    match w.send(
        "POST",
        &holds,
        &[("x-entry-token", &valid), ("x-request-id", "abc-1")],
        None,
    ) {
        Outcome::Proxy { headers } => {
            assert!(headers.contains(&("x-request-id".into(), "abc-1".into())));
            assert!(headers.contains(&("x-forwarded-for".into(), "203.0.113.9".into())));
        }
        other => panic!("valid token refused: {other:?}"),
    }
    // The cookie works too, and an upper-case id is the same event.
    let upper = format!(
        "/api/v1/events/{}/reservations",
        w.event.to_string().to_uppercase()
    );
    let cookie = format!("urr_entry_{}={valid}", w.event.simple());
    assert!(matches!(
        w.send("POST", &upper, &[("cookie", &cookie)], None),
        Outcome::Proxy { .. }
    ));
    // Another event's cookie is not this event's; the legacy unscoped name still reads.
    let other = format!("urr_entry_{}={valid}", Uuid::from_u128(5).simple());
    assert_eq!(
        code(&w.call("POST", &upper, &[("cookie", &other)], None)),
        "ENTRY_TOKEN_REQUIRED"
    );
    assert!(matches!(
        w.send(
            "POST",
            &upper,
            &[("cookie", &format!("urr_entry={valid}"))],
            None
        ),
        Outcome::Proxy { .. }
    ));
    assert_eq!(w.call("POST", &upper, &[], None).status, 403);

    // Pages are redirected to the waiting room instead.
    let mut r = w.rules(2);
    r.protected_paths.push(format!("/events/{}/book*", w.event));
    w.push(&r);
    let page = w.call("GET", &format!("/events/{}/book/seats", w.event), &[], None);
    assert_eq!(page.status, 302);
    assert_eq!(
        page.header("location"),
        Some(format!("/e/{}", w.event).as_str())
    );
    // Unguarded paths of the event go through; a request id is generated.
    match w.send("GET", &format!("/api/v1/events/{}", w.event), &[], None) {
        Outcome::Proxy { headers } => {
            let id = &headers
                .iter()
                .find(|(k, _)| k == "x-request-id")
                .expect("id")
                .1;
            assert!(Uuid::parse_str(id).is_ok());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn room_stats_answer_only_the_origin() {
    let w = World::new();
    let url = format!("/__urr/stats/{}", w.event);
    let token = w.rules_token(&w.rules(1), None);
    // No room yet.
    let r = w.call("POST", &url, &[], Some(&token));
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(w.push(&w.rules(1)).status, 200);
    w.join();
    w.join();
    let r = w.call("POST", &url, &[], Some(&token));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = json(&r);
    assert_eq!(
        (v["issued"].as_u64(), v["version"].as_u64()),
        (Some(2), Some(1))
    );
    assert!(v["serving"].as_u64().is_some_and(|s| s <= 2));
    // Anyone else: no token, a fan's token, another event's rules token.
    let r = w.call("POST", &url, &[], Some(""));
    assert_eq!((r.status, code(&r).as_str()), (401, "TOKEN_REQUIRED"));
    let r = w.call("POST", &url, &[], Some(&w.entry(w.event, NOW_S + 60)));
    assert_eq!(code(&r), "TOKEN_WRONG_TYPE");
    let mut other = w.rules(1);
    other.event_id = Uuid::from_u128(3);
    let r = w.call("POST", &url, &[], Some(&w.rules_token(&other, None)));
    assert_eq!((r.status, code(&r).as_str()), (422, "RULES_EVENT_MISMATCH"));
}

#[test]
fn rules_push_is_verified_and_ordered() {
    let w = World::new();
    let url = format!("/__urr/rules/{}", w.event);
    assert_eq!(w.push(&w.rules(5)).status, 200);
    let r = w.push(&w.rules(4));
    assert_eq!(
        (r.status, code(&r).as_str()),
        (409, "RULES_VERSION_NOT_NEWER")
    );
    assert_eq!(json(&r)["current_version"], 5);
    assert_eq!(w.push(&w.rules(5)).status, 409);
    // Signed by someone else with the origin's kid.
    let forged = token::sign(
        &key("origin-1", 42),
        &RulesClaims {
            evt: w.event,
            rules: w.rules(9),
            event_name: None,
            draw_seed: None,
            iat: NOW_S,
            exp: NOW_S + 60,
        },
    );
    let r = w.call("PUT", &url, &[], Some(&forged));
    assert_eq!((r.status, code(&r).as_str()), (403, "TOKEN_BAD_SIGNATURE"));
    // An entry token is not a rules token.
    let r = w.call("PUT", &url, &[], Some(&w.entry(w.event, NOW_S + 60)));
    assert_eq!(code(&r), "TOKEN_WRONG_TYPE");
    // Another event's rules on this event's path.
    let mut other = w.rules(9);
    other.event_id = Uuid::from_u128(3);
    let r = w.call("PUT", &url, &[], Some(&w.rules_token(&other, None)));
    assert_eq!((r.status, code(&r).as_str()), (422, "RULES_EVENT_MISMATCH"));
    // Invalid rules.
    let mut bad = w.rules(9);
    bad.max_active = 0;
    let r = w.call("PUT", &url, &[], Some(&w.rules_token(&bad, None)));
    assert_eq!((r.status, code(&r).as_str()), (422, "RULES_INVALID"));
    assert_eq!(json(&r)["errors"][0]["field"], "max_active");
    // Garbage and oversize bodies.
    assert_eq!(w.call("PUT", &url, &[], Some("garbage")).status, 400);
    assert_eq!(w.call("PUT", &url, &[], None).status, 413);
    // None of that changed the stored version.
    assert_eq!(w.host.events.borrow()[&w.event].rules.version, 5);
}

#[test]
fn modes() {
    let w = World::new();
    let mut r = w.rules(1);
    r.mode = Mode::Maintenance;
    w.push(&r);
    let join = format!("/vwr/{}/join", w.event);
    let m = w.call("POST", &join, &[], None);
    assert_eq!((m.status, code(&m).as_str()), (503, "MAINTENANCE"));
    assert_eq!(m.header("retry-after"), Some("60"));
    let page = w.call("GET", &format!("/e/{}", w.event), &[], None);
    assert_eq!(page.status, 503);
    assert_eq!(page.header("retry-after"), Some("60"));
    let holds = format!("/api/v1/events/{}/holds", w.event);
    let valid = w.entry(w.event, NOW_S + 600);
    assert_eq!(
        w.call("POST", &holds, &[("x-entry-token", &valid)], None)
            .status,
        503
    );

    r.version = 2;
    r.mode = Mode::Reject;
    w.push(&r);
    let j = w.call("POST", &join, &[], None);
    assert_eq!((j.status, code(&j).as_str()), (403, "EVENT_NOT_AVAILABLE"));
    let page = w.call("GET", &format!("/e/{}", w.event), &[], None);
    assert_eq!(page.status, 403);
    assert!(
        !page.text().contains("http-equiv=\"refresh\""),
        "reject pages do not refresh"
    );

    r.version = 3;
    r.mode = Mode::Passthrough;
    r.new_users_per_minute = 1;
    w.push(&r);
    for _ in 0..5 {
        w.join();
    }
    let (last, _) = w.join();
    let v = json(&w.status(last["ticket"].as_str().expect("ticket")));
    assert_eq!(v["served"], true);
    assert!(v["pass"].is_string());
    // Passthrough keeps the guard.
    assert_eq!(w.call("POST", &holds, &[], None).status, 403);
    assert!(matches!(
        w.send("POST", &holds, &[("x-entry-token", &valid)], None),
        Outcome::Proxy { .. }
    ));
}

#[test]
fn random_draw_from_prequeue_to_publication() {
    let w = World::new();
    let seed = [7u8; 32];
    let mut r = w.rules(1);
    r.method = QueueMethod::Random;
    r.prequeue_opens_at = Some(NOW_S - 60);
    r.sale_opens_at = NOW_S + 600;
    r.new_users_per_minute = 1_000_000;
    r.draw_seed_commitment = Some(queue::seed_commitment(&seed));
    assert_eq!(w.push(&r).status, 200);
    let tickets: Vec<String> = (0..20)
        .map(|_| {
            let (v, _) = w.join();
            assert_eq!(v["position"], Value::Null);
            v["ticket"].as_str().expect("ticket").to_owned()
        })
        .collect();
    let v = json(&w.status(&tickets[0]));
    assert_eq!(v["phase"], "pre_queue");
    assert_eq!(v["position"], Value::Null);
    let draw = w.call("GET", &format!("/vwr/{}/draw", w.event), &[], None);
    assert_eq!(
        (draw.status, code(&draw).as_str()),
        (404, "DRAW_NOT_PUBLISHED")
    );
    let page = w.call(
        "GET",
        &format!("/e/{}?lang=en", w.event),
        &[("x-queue-ticket", &tickets[0])],
        None,
    );
    assert!(
        page.text()
            .contains("You are in the pre-queue. The draw happens at"),
        "{}",
        page.text()
    );

    // A wrong seed is refused; then version 2 opens the sale and reveals the seed.
    r.version = 2;
    r.sale_opens_at = NOW_S - 1;
    let url = format!("/__urr/rules/{}", w.event);
    let bad = w.call("PUT", &url, &[], Some(&w.rules_token(&r, Some(&[8u8; 32]))));
    assert_eq!(code(&bad), "DRAW_SEED_MISMATCH");
    assert_eq!(
        w.call("PUT", &url, &[], Some(&w.rules_token(&r, Some(&seed))))
            .status,
        200
    );

    let publication: queue::DrawPublication = serde_json::from_slice(
        &w.call("GET", &format!("/vwr/{}/draw", w.event), &[], None)
            .body,
    )
    .expect("publication");
    assert_eq!(publication.n_pre, 20);
    let seed_back = publication
        .verified_seed()
        .expect("seed matches commitment");
    let mut seen = Vec::new();
    for t in &tickets {
        let v = json(&w.status(t));
        let keys = KeySet::new([w.edge.config.edge_key.public_key()]).expect("keys");
        let seq = token::verify::<TicketClaims>(&keys, t, NOW_S)
            .expect("ticket")
            .seq;
        let expected = queue::position_for(QueueMethod::Random, seq, Some(20), Some(&seed_back));
        assert_eq!(v["position"].as_u64(), expected);
        seen.push(expected.expect("drawn"));
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=20).collect::<Vec<_>>());
    // Late arrivals queue behind the pre-queue.
    let (late, _) = w.join();
    assert_eq!(late["position"], 21);
}

#[test]
fn the_page_and_json_mode() {
    let w = World::new();
    let mut r = w.rules(1);
    r.new_users_per_minute = 1;
    r.template.custom_html = Some("<script>alert(1)</script><p onclick=\"x\">hi</p>".into());
    r.template.brand_color = Some("#ff5a1f".into());
    w.push(&r);
    w.join(); // Someone ahead, so the page shows a waiting visitor.
    let (joined, _) = w.join();
    let ticket = joined["ticket"].as_str().expect("ticket");
    let page = w.call(
        "GET",
        &format!("/e/{}", w.event),
        &[
            ("accept-language", "ko-KR,ko;q=0.9"),
            ("x-queue-ticket", ticket),
        ],
        None,
    );
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.starts_with("<!doctype html>\n<html lang=\"ko\">"));
    assert!(html.contains("aria-live=\"polite\""));
    assert!(html.contains("<noscript><meta http-equiv=\"refresh\""));
    assert!(html.contains("IU &lt;Live&gt; &amp; &quot;Friends&quot;"));
    assert!(!html.contains("IU <Live>"));
    assert!(html.contains("<iframe sandbox=\"\""));
    assert!(html.contains("srcdoc=\"&lt;script&gt;alert(1)&lt;/script&gt;&lt;p onclick=&quot;x&quot;&gt;hi&lt;/p&gt;\""));
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("내 순서") && html.contains("?lang=en"));
    assert!(html.contains(&format!("/vwr/{}/status", w.event)));
    let csp = page.header("content-security-policy").expect("csp");
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .expect("nonce");
    assert!(html.contains(&format!("<script nonce=\"{nonce}\">")));
    assert!(csp.contains("form-action 'self'") && !csp.contains("unsafe-eval"));
    assert_eq!(
        html.matches("<script").count(),
        html.matches(&format!("<script nonce=\"{nonce}\">")).count(),
        "every script carries the nonce"
    );

    let en = w
        .call(
            "GET",
            &format!("/e/{}?lang=en", w.event),
            &[("x-queue-ticket", ticket)],
            None,
        )
        .text();
    assert!(en.contains("<html lang=\"en\">") && en.contains("Your place in line"));
    assert!(
        en.contains("hreflang=\"ko\">한국어</a>"),
        "the switch names the other language"
    );

    let j = w.call(
        "GET",
        &format!("/e/{}", w.event),
        &[("accept", "application/json"), ("x-queue-ticket", ticket)],
        None,
    );
    assert_eq!(j.header("content-type"), Some("application/json"));
    let v = json(&j);
    assert_eq!(v["position"], 2);
    for field in [
        "serving",
        "ahead",
        "eta_seconds",
        "poll_after_ms",
        "rules_version",
    ] {
        assert!(v.get(field).is_some(), "{field} missing");
    }
    // JSON without a ticket: join first (the page never joins).
    let j = w.call(
        "GET",
        &format!("/e/{}", w.event),
        &[("accept", "application/json")],
        None,
    );
    assert_eq!((j.status, code(&j).as_str()), (401, "TICKET_REQUIRED"));

    // Unknown event: a 404 page, or a problem in JSON mode.
    let other = Uuid::from_u128(1234);
    assert_eq!(w.call("GET", &format!("/e/{other}"), &[], None).status, 404);
    let j = w.call(
        "GET",
        &format!("/e/{other}"),
        &[("accept", "application/json")],
        None,
    );
    assert_eq!(code(&j), "WAITING_ROOM_NOT_FOUND");
}

/// Showing the room takes no place, however often and by whom; the join button is a
/// form posting to the join route, in both languages; the promoter's logo URL is escaped
/// and only of the allowed shapes.
#[test]
fn the_page_offers_a_join_and_takes_nothing() {
    let w = World::new();
    let mut r = w.rules(1);
    r.template.logo_url = Some("/img/logo.png?a=1&b=2".into());
    w.push(&r);
    for lang in ["ko", "en"] {
        for _ in 0..3 {
            let page = w.call("GET", &format!("/e/{}?lang={lang}", w.event), &[], None);
            assert_eq!(page.status, 200);
            assert!(page.header("set-cookie").is_none(), "no ticket handed out");
            let html = page.text();
            assert!(html.contains(&format!(
                "<form id=\"join\" method=\"post\" action=\"/vwr/{}/join?lang={lang}\">",
                w.event
            )));
            let button = if lang == "ko" {
                "대기열 입장하기"
            } else {
                "Join the queue"
            };
            assert!(html.contains(button), "{lang}: {html}");
            assert!(html.contains("src=\"/img/logo.png?a=1&amp;b=2\""));
            assert!(!html.contains("x-pow-solution\"]") || html.contains("urrPow"));
        }
    }
    assert_eq!(w.host.events.borrow()[&w.event].counter.issued, 0);
    // A cross-site image of the page is just another GET.
    let img = w.call(
        "GET",
        &format!("/e/{}", w.event),
        &[("sec-fetch-site", "cross-site"), ("accept", "image/*")],
        None,
    );
    assert_eq!(img.status, 200);
    assert_eq!(w.host.events.borrow()[&w.event].counter.issued, 0);
    // A stored logo URL of a shape the validation refuses is not rendered.
    let mut state = w.host.events.borrow()[&w.event].clone();
    state.rules.template.logo_url = Some("javascript:alert(1)".into());
    let html = page::render(&page::PageInput {
        event: w.event,
        lang: page::Lang::En,
        state: Some(&state),
        kind: page::PageKind::Join { challenge: None },
        now_ms: NOW_S * 1000,
        nonce: "n",
    });
    assert!(!html.contains("javascript:") && !html.contains("<img"));
}

/// Joining is a POST from the room's own site: other sites' pages are refused, the room's
/// form gets a redirect with the ticket cookie, API clients (no Origin, no
/// Sec-Fetch-Site) get JSON.
#[test]
fn joins_come_from_the_rooms_own_site() {
    let w = World::new();
    w.push(&w.rules(1));
    let join = format!("/vwr/{}/join", w.event);
    let host = ("host", "edge.example");
    for headers in [
        vec![host, ("origin", "https://evil.example")],
        vec![host, ("origin", "null")],
        vec![host, ("sec-fetch-site", "cross-site")],
        vec![host, ("sec-fetch-site", "same-site")],
        vec![
            host,
            ("sec-fetch-site", "same-origin"),
            ("origin", "https://edge.example.evil.example"),
        ],
    ] {
        let r = w.call("POST", &join, &headers, None);
        assert_eq!(
            (r.status, code(&r).as_str()),
            (403, "CROSS_SITE_JOIN"),
            "{headers:?}"
        );
    }
    assert_eq!(w.host.events.borrow()[&w.event].counter.issued, 0);

    // The room's own form (no JavaScript).
    let form = w.call(
        "POST",
        &format!("{join}?lang=en"),
        &[
            host,
            ("origin", "https://edge.example"),
            ("sec-fetch-site", "same-origin"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "text/html,application/xhtml+xml"),
        ],
        None,
    );
    assert_eq!(form.status, 303, "{}", form.text());
    assert_eq!(
        form.header("location"),
        Some(format!("/e/{}?lang=en", w.event).as_str())
    );
    let cookie = form.header("set-cookie").expect("ticket cookie");
    let name = format!("urr_ticket_{}", w.event.simple());
    assert!(cookie.starts_with(&format!("{name}=")), "{cookie}");
    let pair = cookie.split(';').next().expect("pair");
    // Back on the page with the cookie: the standing, no second place.
    let page = w.call(
        "GET",
        &format!("/e/{}?lang=en", w.event),
        &[("cookie", pair)],
        None,
    );
    assert!(
        page.text().contains("It is your turn") && !page.text().contains("id=\"join\""),
        "{}",
        page.text()
    );
    let again = w.call(
        "POST",
        &join,
        &[
            host,
            ("origin", "https://edge.example:443"),
            ("content-type", "application/x-www-form-urlencoded"),
            ("cookie", pair),
        ],
        None,
    );
    assert_eq!(again.status, 303);
    assert_eq!(w.host.events.borrow()[&w.event].counter.issued, 1);

    // The page's script (same origin, fetch with JSON) and an API client.
    let script = w.call(
        "POST",
        &join,
        &[
            ("host", "127.0.0.1:8787"),
            ("origin", "http://127.0.0.1:8787"),
            ("sec-fetch-site", "same-origin"),
            ("accept", "application/json"),
        ],
        None,
    );
    assert_eq!(script.status, 201, "{}", script.text());
    assert_eq!(w.call("POST", &join, &[], None).status, 201);
    assert_eq!(w.host.events.borrow()[&w.event].counter.issued, 3);
}

/// `join_limit_per_ip_per_min` per client address (IPv6 per /64) and event, in fixed
/// minutes: 429 with Retry-After beyond it, others unaffected, and a new minute starts
/// afresh. 0 turns it off.
#[test]
fn joins_are_limited_per_client_address() {
    let w = World::new();
    let mut r = w.rules(1);
    r.join_limit_per_ip_per_min = 3;
    w.push(&r);
    // 10 s into a minute.
    w.host.now_ms.set((NOW_S / 60 * 60 + 10) * 1000);
    let join = format!("/vwr/{}/join", w.event);
    let from = |ip: &str| match w.send_from(ip, "POST", &join, &[], None) {
        Outcome::Respond(r) => r,
        Outcome::Proxy { .. } => panic!("proxied"),
    };
    for _ in 0..3 {
        assert_eq!(from("198.51.100.1").status, 201);
    }
    let limited = from("198.51.100.1");
    assert_eq!(
        (limited.status, code(&limited).as_str()),
        (429, "RATE_LIMITED")
    );
    assert_eq!(limited.header("retry-after"), Some("50"));
    assert_eq!(json(&limited)["retry_after_secs"], 50);
    assert_eq!(from("198.51.100.2").status, 201, "another address");
    for i in 0..3 {
        assert_eq!(from(&format!("2001:db8:0:1::{i}")).status, 201);
    }
    assert_eq!(from("2001:db8:0:1::99").status, 429, "same /64");
    assert_eq!(from("2001:db8:0:2::1").status, 201, "another /64");
    // Refused joins took no place.
    assert_eq!(w.host.events.borrow()[&w.event].counter.issued, 8);
    // The next minute.
    w.host.now_ms.set(w.host.now_ms.get() + 50_000);
    assert_eq!(from("198.51.100.1").status, 201);
    // Off.
    r.version = 2;
    r.join_limit_per_ip_per_min = 0;
    w.push(&r);
    for _ in 0..10 {
        assert_eq!(from("198.51.100.7").status, 201);
    }
}

/// `challenge: pow`: the page and `GET /vwr/{event}/challenge` hand out a challenge; a
/// join without a solution, with a wrong one, another event's, an expired one or a
/// spent one is refused (each refusal carrying a fresh challenge); a solved one joins.
#[test]
fn proof_of_work() {
    let w = World::new();
    let mut r = w.rules(1);
    r.challenge = crate::rules::Challenge::Pow;
    r.pow_difficulty = 8;
    w.push(&r);
    let join = format!("/vwr/{}/join", w.event);
    let page = w.call("GET", &format!("/e/{}", w.event), &[], None).text();
    assert!(page.contains("urrPow(") && page.contains("\"difficulty\":8"));
    assert!(page.contains("<noscript><p>"), "says it needs JavaScript");

    let c = w.call("GET", &format!("/vwr/{}/challenge", w.event), &[], None);
    assert_eq!(c.status, 200);
    let v = json(&c);
    assert_eq!(v["required"], true);
    assert_eq!(v["pow"]["difficulty"], 8);
    assert_eq!(v["pow"]["algorithm"], "sha256-leading-zero-bits");
    let challenge = v["pow"]["challenge"]
        .as_str()
        .expect("challenge")
        .to_owned();

    let r = w.call("POST", &join, &[], None);
    assert_eq!((r.status, code(&r).as_str()), (403, "POW_REQUIRED"));
    assert!(json(&r)["pow"]["challenge"].is_string());
    let solution = pow::solve(&challenge, 8);
    let wrong = (0..)
        .find(|n| pow::leading_zero_bits(&challenge, *n) < 8)
        .expect("a wrong counter");
    let attempt = |ch: &str, n: u64| {
        w.call(
            "POST",
            &join,
            &[("x-pow-challenge", ch), ("x-pow-solution", &n.to_string())],
            None,
        )
    };
    let r = attempt(&challenge, wrong);
    assert_eq!((r.status, code(&r).as_str()), (403, "POW_INVALID"));
    assert!(json(&r)["pow"]["challenge"].is_string());
    // Another event's challenge, solved.
    let foreign = pow::issue(
        &w.edge.config.pow_secret.0,
        Uuid::from_u128(77),
        8,
        NOW_S,
        [3; 16],
    );
    let r = attempt(&foreign.challenge, pow::solve(&foreign.challenge, 8));
    assert_eq!(code(&r), "POW_INVALID");
    assert!(
        json(&r)["detail"]
            .as_str()
            .unwrap_or("")
            .contains("another event")
    );
    assert_eq!(w.host.events.borrow()[&w.event].counter.issued, 0);

    let ok = attempt(&challenge, solution);
    assert_eq!(ok.status, 201, "{}", ok.text());
    let replay = attempt(&challenge, solution);
    assert_eq!(code(&replay), "POW_INVALID");
    assert!(
        json(&replay)["detail"]
            .as_str()
            .unwrap_or("")
            .contains("already spent")
    );
    assert_eq!(w.host.events.borrow()[&w.event].counter.issued, 1);

    // Expired after two minutes.
    let late = json(&w.call("GET", &format!("/vwr/{}/challenge", w.event), &[], None));
    let late = late["pow"]["challenge"]
        .as_str()
        .expect("challenge")
        .to_owned();
    w.host
        .now_ms
        .set(w.host.now_ms.get() + (pow::CHALLENGE_TTL_SECS + 1) * 1000);
    let r = attempt(&late, pow::solve(&late, 8));
    assert!(
        json(&r)["detail"]
            .as_str()
            .unwrap_or("")
            .contains("expired")
    );
    // Without the challenge rule, none is asked for.
    let mut plain = w.rules(2);
    plain.challenge = crate::rules::Challenge::None;
    w.push(&plain);
    let v = json(&w.call("GET", &format!("/vwr/{}/challenge", w.event), &[], None));
    assert_eq!(v["required"], false);
    assert_eq!(w.call("POST", &join, &[], None).status, 201);
}

/// A fan waiting in two rooms keeps both places: each event's ticket (and pass) lives
/// in a cookie of its own, so joining the second room does not overwrite the first.
#[test]
fn each_event_keeps_its_own_place() {
    let w = World::new();
    let a = w.event;
    let b = Uuid::from_u128(0xb);
    w.push(&w.rules(1));
    let mut rb = w.rules(1);
    rb.event_id = b;
    let pushed = w.call(
        "PUT",
        &format!("/__urr/rules/{b}"),
        &[],
        Some(&w.rules_token(&rb, None)),
    );
    assert_eq!(pushed.status, 200);
    let mut jar: Vec<String> = Vec::new();
    let join = |event: Uuid, jar: &mut Vec<String>| {
        let r = w.call(
            "POST",
            &format!("/vwr/{event}/join"),
            &[("cookie", &jar.join("; "))],
            None,
        );
        assert_eq!(r.status, 201, "{}", r.text());
        let pair = r
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .expect("cookie")
            .to_owned();
        let name = pair.split('=').next().unwrap_or("").to_owned();
        jar.retain(|c| !c.starts_with(&format!("{name}=")));
        jar.push(pair);
        json(&r)["seq"].as_u64().expect("seq")
    };
    // Somebody else first in B, so the fan's places differ: A 1, B 2.
    w.call("POST", &format!("/vwr/{b}/join"), &[], None);
    assert_eq!(join(a, &mut jar), 1);
    assert_eq!(join(b, &mut jar), 2);
    assert_eq!(jar.len(), 2, "two cookies: {jar:?}");
    let cookies = jar.join("; ");
    for (event, seq) in [(a, 1), (b, 2)] {
        let s = w.call(
            "GET",
            &format!("/vwr/{event}/status"),
            &[("cookie", &cookies)],
            None,
        );
        assert_eq!(json(&s)["seq"], seq, "{}", s.text());
    }
}

/// Proxied requests carry the edge's MACed word for the client address; without a
/// configured secret, none (and the glue strips any the client sent).
#[test]
fn proxied_requests_carry_the_attested_client_address() {
    let mut w = World::new();
    let headers_of = |w: &World| match w.send("GET", "/api/v1/events", &[], None) {
        Outcome::Proxy { headers } => headers,
        other => panic!("{other:?}"),
    };
    assert!(
        !headers_of(&w)
            .iter()
            .any(|(k, _)| k == crate::client_ip::HEADER)
    );
    let secret = [5u8; 32];
    w.edge.config.proxy_secret = Some(Secret(secret.to_vec()));
    let headers = headers_of(&w);
    let (_, attested) = headers
        .iter()
        .find(|(k, _)| k == crate::client_ip::HEADER)
        .expect("attested");
    assert_eq!(
        crate::client_ip::verify(&[&secret[..]], attested, NOW_S),
        Ok("203.0.113.9".to_owned())
    );
    // The glue's filter never forwards a client's own claims.
    for h in [
        "urr-client-ip",
        "URR-Client-IP",
        "x-forwarded-for",
        "cf-connecting-ip",
        "spin-client-addr",
        "forwarded",
        "host",
    ] {
        assert!(!http::forward_request_header(h), "{h}");
    }
    assert!(http::forward_request_header("authorization"));
    // Configuration.
    let base = |extra: Option<&str>| {
        let origin = key("origin-1", 1);
        EdgeConfig::from_vars(|k| match k {
            "EDGE_SIGNING_KEY" => Some(token::format_key_spec("edge-1", &[2; 32])),
            "ORIGIN_PUBLIC_KEYS" => Some(origin.public_key().to_string()),
            "EDGE_PROXY_SECRET" => extra.map(str::to_owned),
            _ => None,
        })
    };
    assert!(base(None).expect("ok").proxy_secret.is_none());
    let enc = "BQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQU";
    assert_eq!(
        base(Some(enc)).expect("ok").proxy_secret,
        Some(Secret(secret.to_vec()))
    );
    assert!(base(Some("short")).is_err());
    assert!(base(Some("not base64 at all!")).is_err());
    assert!(
        !format!("{:?}", base(Some(enc))).contains("5, 5"),
        "secrets are not shown"
    );
}

/// Events without rules never reach storage when the platform can tell (Cloudflare's
/// registry): no object per random id; pages, joins and the guard behave as for any
/// event without rules.
/// The one forwarding rule both platforms apply when proxying.
#[test]
fn the_forwarding_filter() {
    let req = http::HeaderFilter::request(None);
    // Hop-by-hop fields never cross the edge, in either direction.
    let hop_by_hop = [
        "Connection",
        "keep-alive",
        "Proxy-Connection",
        "proxy-authenticate",
        "proxy-authorization",
        "transfer-encoding",
        "upgrade",
        "trailer",
        "http2-settings",
    ];
    let res = http::HeaderFilter::response(None);
    for h in hop_by_hop {
        assert!(!req.forwards(h), "request {h}");
        assert!(!res.forwards(h), "response {h}");
    }
    assert!(!req.forwards("te"));
    // The platform sets the origin's Host.
    assert!(!req.forwards("host"));
    // No claim a client makes about its address reaches the origin; only the edge
    // attests one.
    for h in [
        "urr-client-ip",
        " URR-Client-IP ",
        "forwarded",
        "x-forwarded-for",
        "X-Forwarded-Host",
        "x-forwarded-proto",
        "x-forwarded-port",
        "x-real-ip",
        "true-client-ip",
        "x-client-ip",
        "x-cluster-client-ip",
        "fastly-client-ip",
        "client-ip",
        "x-original-forwarded-for",
        "cf-connecting-ip",
        "CF-IPCountry",
        "spin-client-addr",
        "spin-full-url",
    ] {
        assert!(!req.forwards(h), "{h}");
        assert!(!http::forward_request_header(h), "{h}");
    }
    // What the origin needs passes.
    for h in [
        "authorization",
        "cookie",
        "content-type",
        "content-length",
        "accept",
        "accept-language",
        "idempotency-key",
        "x-entry-token",
        "x-queue-ticket",
        "user-agent",
        "origin",
        "sec-fetch-site",
    ] {
        assert!(req.forwards(h), "{h}");
    }
    // The origin's answer keeps its own fields, cookies and caching included.
    for h in [
        "set-cookie",
        "content-type",
        "content-length",
        "cache-control",
        "retry-after",
        "location",
        "x-request-id",
    ] {
        assert!(res.forwards(h), "{h}");
    }
    // Fields a message's Connection header names belong to that hop only.
    let req = http::HeaderFilter::request(["keep-alive, X-Session-Hint", " ,x-other"]);
    assert!(!req.forwards("x-session-hint"));
    assert!(!req.forwards("X-Other"));
    assert!(req.forwards("authorization"));
    let res = http::HeaderFilter::response(Some("close, x-debug"));
    assert!(!res.forwards("X-Debug"));
    assert!(res.forwards("set-cookie"));
    // An empty Connection value names nothing.
    assert!(http::HeaderFilter::request([""]).forwards("authorization"));
}

#[test]
fn unknown_events_touch_no_storage() {
    let w = World::new();
    w.host.gatekeep.set(true);
    w.push(&w.rules(1));
    w.host.touched.borrow_mut().clear();
    let stranger = Uuid::from_u128(0x5eed);
    assert_eq!(
        w.call("GET", &format!("/e/{stranger}"), &[], None).status,
        404
    );
    for (method, path) in [
        ("POST", format!("/vwr/{stranger}/join")),
        ("GET", format!("/vwr/{stranger}/status")),
        ("GET", format!("/vwr/{stranger}/draw")),
        ("GET", format!("/vwr/{stranger}/challenge")),
    ] {
        let r = w.call(method, &path, &[("x-queue-ticket", "a.b.c")], None);
        assert!(matches!(r.status, 400 | 404), "{path}: {}", r.text());
    }
    for path in [
        format!("/api/v1/events/{stranger}/holds"),
        format!("/api/v1/events/{stranger}"),
        format!("/events/{stranger}/book"),
    ] {
        assert!(
            matches!(w.send("POST", &path, &[], None), Outcome::Proxy { .. }),
            "{path}"
        );
    }
    assert!(
        w.host.touched.borrow().is_empty(),
        "storage touched for {:?}",
        w.host.touched.borrow()
    );
    // The known event still is.
    w.join();
    assert!(w.host.touched.borrow().contains(&w.event));
}

#[test]
fn storage_failures_are_503_and_fail_closed_on_guarded_routes() {
    let w = World::new();
    w.push(&w.rules(1));
    w.host.fail.set(true);
    let r = w.call("POST", &format!("/vwr/{}/join", w.event), &[], None);
    assert_eq!(
        (r.status, code(&r).as_str()),
        (503, "EDGE_STORAGE_UNAVAILABLE")
    );
    let r = w.call(
        "POST",
        &format!("/api/v1/events/{}/holds", w.event),
        &[],
        None,
    );
    assert_eq!(r.status, 503);
    assert!(matches!(
        w.send("GET", &format!("/api/v1/events/{}", w.event), &[], None),
        Outcome::Proxy { .. }
    ));
}

#[test]
fn head_requests_never_join() {
    let w = World::new();
    w.push(&w.rules(1));
    let r = w.call("HEAD", &format!("/e/{}", w.event), &[], None);
    assert!(r.body.is_empty());
    assert_eq!(w.host.events.borrow()[&w.event].counter.issued, 0);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever the path, method, headers and body, the edge answers without
        /// panicking, and every answer it makes itself is well-formed.
        #[test]
        fn arbitrary_requests_never_panic(
            method in prop::sample::select(vec!["GET", "POST", "PUT", "HEAD", "DELETE"]),
            path in prop::sample::select(vec!["/e/", "/vwr/", "/__urr/rules/", "/api/v1/events/", "/events/", "/x/"]),
            id in prop_oneof![Just("0190b7d4-5a6e-7c3a-9f00-3e1f2d4c5b6a".to_owned()), "[ -~]{0,60}"],
            tail in prop::sample::select(vec!["", "/join", "/status", "/draw", "/holds", "/reservations/1"]),
            cookie in "[ -~]{0,200}",
            ticket in "[ -~]{0,300}",
            body in "[ -~]{0,300}",
        ) {
            let w = World::new();
            w.push(&w.rules(1));
            let target = format!("{path}{id}{tail}");
            let Ok(req) = Request::new(method, &target, [("cookie", cookie.as_str()), ("x-queue-ticket", ticket.as_str()), ("x-entry-token", ticket.as_str())]) else {
                return Ok(());
            };
            let route = w.edge.route(&req);
            let outcome = block_on(w.edge.handle(&w.host, &req, route, Some(body.as_bytes())));
            if let Outcome::Respond(r) = outcome {
                prop_assert!((200..600).contains(&r.status));
                if r.status >= 400 && method != "HEAD" && r.header("content-type") != Some("text/html; charset=utf-8") {
                    prop_assert_eq!(r.header("content-type"), Some(http::PROBLEM_JSON));
                }
            }
        }
    }
}
