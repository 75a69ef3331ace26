//! One fan: a small state machine on its own keep-alive connection to the edge.
//!
//! ```text
//! join at the edge ─► poll as poll_after_ms says ─► pass ─► log in ─► tier-2 join
//!   │ (some give up)                                            │
//!   ▼                                                           ▼
//! leave                      poll until admitted ─► seats or standing ─► hold
//!                                                     (some retry with the same key)
//!                                      (some let the hold lapse) ◄─┤
//!                            Toss authorize (own process) ─► confirm ─► tickets ─► leave
//! ```
//!
//! Every request is timed under its [`Phase`]; anything the scenario did not expect is
//! counted and its first body kept ([`Recorder::surprise`]).

use super::client::{Conn, Reply};
use super::record::{Phase, Recorder};
use anyhow::{Context, Result};
use rand::rngs::StdRng as SmallRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// What a fan came for.
#[derive(Debug, Clone)]
pub enum Goods {
    /// Pick seats off the event's seat map.
    Seats,
    /// A quantity of this standing ticket type.
    Standing { ticket_type: Uuid },
}

#[derive(Debug, Clone)]
pub struct EventPlan {
    pub id: Uuid,
    pub title: String,
    pub goods: Goods,
    pub random_draw: bool,
    /// Share of the fans who want this event.
    pub weight: u32,
    /// `(queue position, seconds since start when admitted by tier 2)` per admitted fan.
    pub admissions: Arc<Mutex<Vec<(u64, f64)>>>,
}

/// How fans behave, as fractions of them.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    pub give_up_at_edge: f64,
    pub give_up_in_tier2: f64,
    pub let_hold_lapse: f64,
    pub retry_same_key: f64,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            give_up_at_edge: 0.05,
            give_up_in_tier2: 0.02,
            let_hold_lapse: 0.04,
            retry_same_key: 0.03,
        }
    }
}

pub struct Scenario {
    pub edge: SocketAddr,
    /// The Toss fake's base URL (fans "pay" there directly, as in Toss's window).
    pub toss: String,
    pub toss_http: reqwest::Client,
    pub password: String,
    pub events: Vec<EventPlan>,
    pub behaviour: Behaviour,
    pub rec: Arc<Recorder>,
    /// See `Options::client_ip_header`.
    pub client_ip_header: Option<String>,
}

impl Scenario {
    fn event_for(&self, rng: &mut SmallRng) -> &EventPlan {
        let total: u32 = self.events.iter().map(|e| e.weight).sum();
        let mut pick = rng.gen_range(0..total.max(1));
        for e in &self.events {
            if pick < e.weight {
                return e;
            }
            pick -= e.weight;
        }
        &self.events[0]
    }
}

/// The e-mail of pre-provisioned fan `i`.
pub fn email(i: u64) -> String {
    format!("fan{i}@load.urr")
}

/// Waits as the server asked, kept within 0.1–10 s.
async fn pause(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms.clamp(100, 10_000))).await;
}

struct Fan<'s> {
    s: &'s Scenario,
    /// This fan's address, for [`Scenario::client_ip_header`].
    address: String,
    conn: Conn,
    rng: SmallRng,
    event: &'s EventPlan,
    access: String,
    entry: String,
}

/// Moves a gauge from one stage to the next for the fan's lifetime.
struct Stage<'r>(&'r std::sync::atomic::AtomicI64);

impl<'r> Stage<'r> {
    fn enter(g: &'r std::sync::atomic::AtomicI64) -> Self {
        g.fetch_add(1, Ordering::Relaxed);
        Stage(g)
    }
}

impl Drop for Stage<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs fan `i` to the end. Errors are counted, never propagated: one fan's trouble
/// must not stop the run.
pub async fn run(s: &Scenario, i: u64) {
    let mut rng = SmallRng::seed_from_u64(0x5eed ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let event = s.event_for(&mut rng);
    let address = super::client::fan_address(i);
    let mut fan = Fan {
        s,
        address: address.to_string(),
        conn: Conn::new(address, s.edge),
        rng,
        event,
        access: String::new(),
        entry: String::new(),
    };
    s.rec.counts.connection_opened();
    if let Err(e) = fan.go(i).await {
        s.rec.surprise(&format!("error: {e:#}"), 0, b"");
    }
    fan.conn.close();
    s.rec.counts.connection_closed();
    s.rec.counts.done.fetch_add(1, Ordering::Relaxed);
}

impl Fan<'_> {
    async fn call(
        &mut self,
        phase: Phase,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Result<Reply> {
        let t = Instant::now();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if let Some(h) = &self.s.client_ip_header {
            all.push((h.as_str(), self.address.as_str()));
        }
        match self.conn.send(method, path, &all, body).await {
            Ok(r) => {
                self.s.rec.request(phase, t, Some(r.status));
                Ok(r)
            }
            Err(e) => {
                self.s.rec.request(phase, t, None);
                Err(e)
            }
        }
    }

    async fn go(&mut self, i: u64) -> Result<()> {
        let t = Instant::now();
        let connected = self.conn.connect().await;
        self.s
            .rec
            .request(Phase::Connect, t, connected.as_ref().ok().map(|_| 200));
        connected?;
        let Some((position, pass)) = self.wait_at_edge().await? else {
            return Ok(());
        };
        self.s.rec.counts.passes.fetch_add(1, Ordering::Relaxed);
        self.log_in(i).await?;
        if !self.wait_in_tier2(&pass, position).await? {
            return Ok(());
        }
        let _booking = Stage::enter(&self.s.rec.counts.booking);
        self.book().await?;
        // Done with the slot: free it for the next fan.
        let ev = self.event.id;
        let auth = format!("Bearer {}", self.access);
        let _ = self
            .call(
                Phase::QueueJoin,
                "POST",
                &format!("/api/v1/events/{ev}/queue/leave"),
                &[("authorization", &auth)],
                None,
            )
            .await;
        Ok(())
    }

    /// Joins the edge's room and polls until served; `None` when the fan gave up.
    async fn wait_at_edge(&mut self) -> Result<Option<(u64, String)>> {
        let _stage = Stage::enter(&self.s.rec.counts.at_edge);
        let ev = self.event.id;
        let mut attempts = 0;
        let joined = loop {
            let r = self
                .call(
                    Phase::EdgeJoin,
                    "POST",
                    &format!("/vwr/{ev}/join"),
                    &[],
                    Some(&json!({})),
                )
                .await?;
            if r.status == 201 {
                break r.json();
            }
            attempts += 1;
            if (r.status == 503 || r.status == 429) && attempts < 5 {
                pause(r.retry_after.unwrap_or(1) * 1000).await;
                continue;
            }
            self.s.rec.surprise("edge join", r.status, &r.body);
            return Ok(None);
        };
        self.s.rec.counts.joined.fetch_add(1, Ordering::Relaxed);
        let ticket = joined["ticket"].as_str().context("ticket")?.to_owned();
        let mut wait = joined["poll_after_ms"].as_u64().unwrap_or(1000);
        let give_up = self.rng.gen_bool(self.s.behaviour.give_up_at_edge);
        let give_up_after = self.rng.gen_range(1..6);
        let mut polls = 0;
        loop {
            pause(wait).await;
            if give_up && polls >= give_up_after {
                self.s.rec.counts.gave_up.fetch_add(1, Ordering::Relaxed);
                return Ok(None);
            }
            polls += 1;
            let r = self
                .call(
                    Phase::EdgePoll,
                    "GET",
                    &format!("/vwr/{ev}/status"),
                    &[("x-queue-ticket", &ticket)],
                    None,
                )
                .await?;
            if r.status != 200 {
                self.s.rec.surprise("edge status", r.status, &r.body);
                wait = r.retry_after.unwrap_or(1) * 1000;
                continue;
            }
            let st = r.json();
            if let (Some(pass), Some(position)) = (st["pass"].as_str(), st["position"].as_u64()) {
                return Ok(Some((position, pass.to_owned())));
            }
            wait = st["poll_after_ms"].as_u64().unwrap_or(1000);
        }
    }

    async fn log_in(&mut self, i: u64) -> Result<()> {
        let body = json!({ "email": email(i), "password": self.s.password });
        for _ in 0..3 {
            let r = self
                .call(Phase::Login, "POST", "/api/v1/auth/login", &[], Some(&body))
                .await?;
            if r.status == 200 {
                self.access = r.json()["access_token"]
                    .as_str()
                    .context("access_token")?
                    .to_owned();
                return Ok(());
            }
            self.s.rec.surprise("login", r.status, &r.body);
            pause(r.retry_after.unwrap_or(1) * 1000).await;
        }
        anyhow::bail!("could not log in")
    }

    /// Takes the pass to tier 2 and polls until admitted; `false` when the fan gave up.
    async fn wait_in_tier2(&mut self, pass: &str, position: u64) -> Result<bool> {
        let _stage = Stage::enter(&self.s.rec.counts.in_tier2);
        let ev = self.event.id;
        let auth = format!("Bearer {}", self.access);
        let headers = [("authorization", auth.as_str())];
        let mut r = self
            .call(
                Phase::QueueJoin,
                "POST",
                &format!("/api/v1/events/{ev}/queue/join"),
                &headers,
                Some(&json!({ "pass": pass })),
            )
            .await?;
        let give_up = self.rng.gen_bool(self.s.behaviour.give_up_in_tier2);
        loop {
            if !(200..300).contains(&r.status) {
                self.s.rec.surprise("tier-2", r.status, &r.body);
                if r.status == 429 || r.status == 503 {
                    pause(r.retry_after.unwrap_or(1) * 1000).await;
                    r = self.tier2_status(&auth).await?;
                    continue;
                }
                return Ok(false);
            }
            let st = r.json();
            if st["state"] == "admitted" {
                self.entry = st["entry_token"]
                    .as_str()
                    .context("entry_token")?
                    .to_owned();
                let t = self.s.rec.start.elapsed().as_secs_f64();
                if let Ok(mut a) = self.event.admissions.lock() {
                    a.push((position, t));
                }
                self.s.rec.counts.admitted.fetch_add(1, Ordering::Relaxed);
                return Ok(true);
            }
            if st["state"] != "waiting" {
                self.s.rec.surprise("tier-2 state", r.status, &r.body);
                return Ok(false);
            }
            if give_up {
                self.s.rec.counts.gave_up.fetch_add(1, Ordering::Relaxed);
                return Ok(false);
            }
            pause(st["poll_after_ms"].as_u64().unwrap_or(1000)).await;
            r = self.tier2_status(&auth).await?;
        }
    }

    /// One tier-2 status poll.
    async fn tier2_status(&mut self, auth: &str) -> Result<Reply> {
        let path = format!("/api/v1/events/{}/queue/status", self.event.id);
        self.call(
            Phase::QueuePoll,
            "GET",
            &path,
            &[("authorization", auth)],
            None,
        )
        .await
    }

    /// What to ask for: seat ids off the map, or a standing quantity. `None`: nothing
    /// left that this fan wants.
    async fn choose(&mut self) -> Result<Option<Value>> {
        let want = if self.rng.gen_bool(0.6) { 1 } else { 2 };
        match &self.event.goods {
            Goods::Standing { ticket_type } => Ok(Some(
                json!({ "items": [{ "ticket_type_id": ticket_type, "quantity": want }] }),
            )),
            Goods::Seats => {
                let ev = self.event.id;
                let r = self
                    .call(
                        Phase::Seats,
                        "GET",
                        &format!("/api/v1/events/{ev}/seats"),
                        &[],
                        None,
                    )
                    .await?;
                if r.status != 200 {
                    self.s.rec.surprise("seat map", r.status, &r.body);
                    return Ok(None);
                }
                // Typed and borrowed: a stadium's map is half a megabyte.
                #[derive(serde::Deserialize)]
                struct Seat<'a> {
                    #[serde(borrow)]
                    id: &'a str,
                    #[serde(borrow)]
                    status: &'a str,
                }
                #[derive(serde::Deserialize)]
                struct Map<'a> {
                    #[serde(borrow)]
                    seats: Vec<Seat<'a>>,
                }
                let map: Map = serde_json::from_slice(&r.body).context("seat map")?;
                let free: Vec<&str> = map
                    .seats
                    .iter()
                    .filter(|s| s.status == "available")
                    .map(|s| s.id)
                    .collect();
                if free.is_empty() {
                    return Ok(None);
                }
                let picked: Vec<&str> =
                    free.choose_multiple(&mut self.rng, want).copied().collect();
                Ok(Some(json!({ "seat_ids": picked })))
            }
        }
    }

    async fn book(&mut self) -> Result<()> {
        let ev = self.event.id;
        let auth = format!("Bearer {}", self.access);
        let entry = self.entry.clone();
        let mut held = None;
        for _ in 0..4 {
            let Some(body) = self.choose().await? else {
                break;
            };
            let key = Uuid::new_v4().simple().to_string();
            let headers = [
                ("authorization", auth.as_str()),
                ("x-entry-token", entry.as_str()),
                ("idempotency-key", key.as_str()),
            ];
            let path = format!("/api/v1/events/{ev}/reservations");
            let r = self
                .call(Phase::Hold, "POST", &path, &headers, Some(&body))
                .await?;
            match r.status {
                201 => {
                    let first = r.json();
                    if self.rng.gen_bool(self.s.behaviour.retry_same_key) {
                        // A double click, or a retry after a lost answer.
                        self.s
                            .rec
                            .counts
                            .idempotent_retries
                            .fetch_add(1, Ordering::Relaxed);
                        let again = self
                            .call(Phase::Hold, "POST", &path, &headers, Some(&body))
                            .await?;
                        if again.status != 201
                            || again.json()["order"]["order_id"] != first["order"]["order_id"]
                        {
                            self.s
                                .rec
                                .counts
                                .idempotency_mismatches
                                .fetch_add(1, Ordering::Relaxed);
                            self.s
                                .rec
                                .surprise("idempotent retry", again.status, &again.body);
                        }
                    }
                    held = Some(first);
                    break;
                }
                409 | 422 => {
                    // Taken or sold out meanwhile: look again (seats) or stop (standing).
                    if matches!(self.event.goods, Goods::Standing { .. }) {
                        break;
                    }
                }
                429 => pause(r.retry_after.unwrap_or(1) * 1000).await,
                _ => {
                    self.s.rec.surprise("hold", r.status, &r.body);
                    return Ok(());
                }
            }
        }
        let Some(held) = held else {
            self.s.rec.counts.sold_out.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        if self.rng.gen_bool(self.s.behaviour.let_hold_lapse) {
            self.s
                .rec
                .counts
                .lapsed_holds
                .fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        self.pay(&held, &auth).await
    }

    async fn pay(&mut self, held: &Value, auth: &str) -> Result<()> {
        let order_id = held["order"]["order_id"]
            .as_str()
            .context("order_id")?
            .to_owned();
        let amount = held["order"]["amount"].as_i64().context("amount")?;
        let t = Instant::now();
        let authorized = self
            .s
            .toss_http
            .post(format!("{}/v1/__test/authorize", self.s.toss))
            .json(&json!({ "orderId": order_id, "amount": amount }))
            .send()
            .await;
        let payment_key = match authorized {
            Ok(r) => {
                let status = r.status().as_u16();
                self.s.rec.request(Phase::Authorize, t, Some(status));
                let v: Value = r.json().await.unwrap_or(Value::Null);
                match v["paymentKey"].as_str() {
                    Some(k) if status == 200 => k.to_owned(),
                    _ => {
                        self.s
                            .rec
                            .surprise("toss authorize", status, v.to_string().as_bytes());
                        return Ok(());
                    }
                }
            }
            Err(e) => {
                self.s.rec.request(Phase::Authorize, t, None);
                return Err(e.into());
            }
        };
        let body = json!({ "paymentKey": payment_key, "orderId": order_id, "amount": amount });
        let entry = self.entry.clone();
        let headers = [("authorization", auth), ("x-entry-token", entry.as_str())];
        let mut confirmed = false;
        for _ in 0..3 {
            let r = self
                .call(
                    Phase::Confirm,
                    "POST",
                    "/api/v1/payments/confirm",
                    &headers,
                    Some(&body),
                )
                .await?;
            if r.status == 200 {
                confirmed = true;
                break;
            }
            self.s.rec.surprise("confirm", r.status, &r.body);
            if r.status != 429 && r.status < 500 {
                break;
            }
            pause(r.retry_after.unwrap_or(1) * 1000).await;
        }
        if !confirmed {
            return Ok(());
        }
        self.s.rec.counts.paid.fetch_add(1, Ordering::Relaxed);
        let want = held["ticket_count"].as_u64().unwrap_or(1);
        let r = self
            .call(
                Phase::Tickets,
                "GET",
                "/api/v1/me/tickets",
                &[("authorization", auth)],
                None,
            )
            .await?;
        let ev = self.event.id.to_string();
        let got = r.json()["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .filter(|t| t["event_id"] == ev.as_str())
                    .count() as u64
            })
            .unwrap_or(0);
        self.s
            .rec
            .counts
            .tickets_seen
            .fetch_add(got, Ordering::Relaxed);
        if got < want {
            self.s
                .rec
                .counts
                .tickets_missing
                .fetch_add(want - got, Ordering::Relaxed);
            self.s.rec.surprise("tickets", r.status, &r.body);
        }
        Ok(())
    }
}
