//! `EventQueue`: the Durable Object that owns one event's waiting-room state.
//!
//! One object per event, addressed by name (the event id), so every join of an event
//! lands on the same single-threaded object. The state ([`EventState`]: rules and
//! counter) is kept in memory and written through to the object's SQLite-backed storage
//! under one key. Each operation mutates the in-memory copy **synchronously** (no
//! `await` between reading and changing it) and then awaits the write; the runtime's
//! output gate holds the answer until the write is durable. So operations on one event
//! are atomic and ordered, which is exactly what `shared_wasm::edge::state` asks of a
//! platform.
//!
//! The object is internal: only the worker reaches it, through its binding, with these
//! requests (bodies and answers are JSON):
//!
//! | request          | body        | answer                                      |
//! |------------------|-------------|---------------------------------------------|
//! | `GET /snapshot`  | –           | `EventState` or `null`                      |
//! | `POST /observe`  | –           | `EventState` or `null` (n_pre frozen if due) |
//! | `POST /join`     | –           | `JoinResult` or `null`                      |
//! | `POST /push`     | `RulesPush` | `{"Ok": EventState}` or `{"Err": PushRejected}` |
//! | `POST /report`   | `{"max_seq": n}` | `EventState` or `null` (raises `issued`) |
//! | `POST /hit`      | `{"key", "until_ms"}` | the counter's new value (join limit)    |
//! | `POST /claim`    | `{"key", "until_ms"}` | `true` the first time (proof of work)   |
//!
//! Counters and claims live in the object's memory only ([`limits::Memory`]): an
//! evicted object forgets them, which can only let a client in early, never lock one
//! out, and keeps every join free of an extra storage write.
//!
//! # The registry
//!
//! The object named [`REGISTRY`] plays a third role: the list of events that have a
//! waiting room ([`Registry`], stored durably under its own key). The worker
//! writes it before applying a push (`POST /registry/add`, `{"event", "until_ms"}`)
//! and reads it (`GET /registry/list` → event ids) before it addresses any event
//! object, so a URL with a random event id never creates an object.
//!
//! # Join shards (`QUEUE_SHARDS` = K > 1)
//!
//! The same class also serves as a **join counter** when named `"{event}#{shard}"`: its
//! only state is a count. `POST /count` (`ShardInfo` body) increments it and answers
//! `n`; the worker turns that into the strided sequence
//! [`state::sharded_seq`]`(n, shard, K)`, unique across shards. The counter then reports
//! its highest sequence to the event object (`/report`) from an alarm at most
//! [`REPORT_EVERY_MS`] later, so the event object sees one request per shard per
//! interval instead of one per join. Until a report lands, `serving` is clamped by the
//! older `issued`: newcomers wait up to that much longer, nobody passes early.

use serde::{Deserialize, Serialize};
use shared_wasm::edge::JoinResult;
use shared_wasm::edge::known::Registry;
use shared_wasm::edge::limits;
use shared_wasm::edge::state::{self, EventState, RulesPush};
use std::cell::{Cell, RefCell};
use std::time::Duration;
use uuid::Uuid;
use worker::{Date, Env, Method, Request, RequestInit, Response, Result, State, durable_object};

const KEY: &str = "state";
const SHARD_KEY: &str = "shard";
const REGISTRY_KEY: &str = "registry";

/// Name of the object that lists the events with a waiting room.
pub const REGISTRY: &str = "urr:registry";

/// A `/hit` or `/claim` request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Keyed {
    pub key: String,
    pub until_ms: i64,
}

/// A `/registry/add` request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Registration {
    pub event: Uuid,
    pub until_ms: Option<i64>,
}

/// How often a join counter reports its highest sequence to the event object.
pub const REPORT_EVERY_MS: u64 = 200;

/// Which counter a `/count` request is for (sent by the worker on every sharded join).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardInfo {
    pub event: Uuid,
    pub shard: u64,
    pub shards: u64,
}

/// A join counter's stored state.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Shard {
    info: ShardInfo,
    count: u64,
    /// Highest sequence already reported to the event object.
    reported: u64,
}

#[derive(Deserialize)]
struct Report {
    max_seq: u64,
}

/// The object name of counter `shard` of `event`.
pub fn shard_name(event: Uuid, shard: u64) -> String {
    format!("{event}#{shard}")
}

#[durable_object]
pub struct EventQueue {
    state: State,
    env: Env,
    /// `None`: not loaded yet; `Some(None)`: loaded, no rules pushed.
    cached: RefCell<Option<Option<EventState>>>,
    /// Join-counter role: loaded lazily.
    shard: RefCell<Option<Shard>>,
    alarm_set: Cell<bool>,
    /// Join-limit counters and proof-of-work claims (memory only).
    limits: RefCell<limits::Memory>,
    /// Registry role: loaded lazily.
    registry: RefCell<Option<Registry>>,
}

impl EventQueue {
    async fn load(&self) -> Result<Option<EventState>> {
        if let Some(s) = self.cached.borrow().as_ref() {
            return Ok(s.clone());
        }
        let stored = self.state.storage().get::<EventState>(KEY).await?;
        // Another request may have loaded (and changed) it while we awaited.
        let mut cached = self.cached.borrow_mut();
        Ok(cached.get_or_insert(stored).clone())
    }

    async fn store(&self, s: &EventState) -> Result<()> {
        self.state.storage().put(KEY, s).await
    }

    /// Runs `op` on the loaded state atomically and stores the result when it returns
    /// `true`.
    async fn update<T>(&self, op: impl FnOnce(&mut Option<EventState>) -> (T, bool)) -> Result<T> {
        self.load().await?;
        let (out, changed, snapshot) = {
            let mut cached = self.cached.borrow_mut();
            let slot = cached.get_or_insert(None);
            let (out, changed) = op(slot);
            (out, changed, slot.clone())
        };
        if changed && let Some(s) = &snapshot {
            self.store(s).await?;
        }
        Ok(out)
    }
}

fn now_ms() -> i64 {
    i64::try_from(Date::now().as_millis()).unwrap_or(i64::MAX)
}

impl EventQueue {
    async fn registry(&self) -> Result<Registry> {
        if let Some(r) = self.registry.borrow().as_ref() {
            return Ok(r.clone());
        }
        let stored = self
            .state
            .storage()
            .get::<Registry>(REGISTRY_KEY)
            .await?
            .unwrap_or_default();
        let mut slot = self.registry.borrow_mut();
        Ok(slot.get_or_insert(stored).clone())
    }

    /// `/registry/add`: records the event (and drops expired ones), stored before the
    /// answer.
    async fn register(&self, r: Registration) -> Result<()> {
        self.registry().await?;
        let snapshot = {
            let mut slot = self.registry.borrow_mut();
            let reg = slot.get_or_insert_with(Registry::default);
            let added = reg.add(r.event, r.until_ms);
            let pruned = reg.prune(now_ms());
            (added || pruned).then(|| reg.clone())
        };
        if let Some(reg) = snapshot {
            self.state.storage().put(REGISTRY_KEY, &reg).await?;
        }
        Ok(())
    }

    /// `/count`: the next join of this counter.
    async fn count(&self, info: ShardInfo) -> Result<u64> {
        if self.shard.borrow().is_none() {
            let stored = self.state.storage().get::<Shard>(SHARD_KEY).await?;
            let mut slot = self.shard.borrow_mut();
            if slot.is_none() {
                *slot = Some(stored.unwrap_or(Shard {
                    info,
                    count: 0,
                    reported: 0,
                }));
            }
        }
        let snapshot = {
            let mut slot = self.shard.borrow_mut();
            let Some(shard) = slot.as_mut() else {
                return Err(worker::Error::RustError("shard state missing".into()));
            };
            shard.count += 1;
            *shard
        };
        self.state.storage().put(SHARD_KEY, snapshot).await?;
        if !self.alarm_set.replace(true) {
            self.state
                .storage()
                .set_alarm(Duration::from_millis(REPORT_EVERY_MS))
                .await?;
        }
        Ok(snapshot.count)
    }

    /// Alarm of a join counter: report the highest sequence to the event object.
    async fn report(&self) -> Result<()> {
        self.alarm_set.set(false);
        let Some(shard) = self.state.storage().get::<Shard>(SHARD_KEY).await? else {
            return Ok(());
        };
        let max_seq = state::sharded_seq(shard.count, shard.info.shard, shard.info.shards);
        if max_seq <= shard.reported {
            return Ok(());
        }
        let ns = self.env.durable_object("EVENT_QUEUE")?;
        let stub = ns.id_from_name(&shard.info.event.to_string())?.get_stub()?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post)
            .with_body(Some(format!("{{\"max_seq\":{max_seq}}}").into()));
        let req = Request::new_with_init("https://event-queue/report", &init)?;
        let resp = stub.fetch_with_request(req).await?;
        if resp.status_code() != 200 {
            // Failing the alarm makes the runtime retry it.
            return Err(worker::Error::RustError(format!(
                "event object refused the report ({})",
                resp.status_code()
            )));
        }
        let updated = {
            let mut slot = self.shard.borrow_mut();
            let s = slot.get_or_insert(shard);
            s.reported = s.reported.max(max_seq);
            *s
        };
        self.state.storage().put(SHARD_KEY, updated).await
    }
}

impl worker::DurableObject for EventQueue {
    fn new(state: State, env: Env) -> Self {
        EventQueue {
            state,
            env,
            cached: RefCell::new(None),
            shard: RefCell::new(None),
            alarm_set: Cell::new(false),
            limits: RefCell::new(limits::Memory::new()),
            registry: RefCell::new(None),
        }
    }

    async fn alarm(&self) -> Result<Response> {
        self.report().await?;
        Response::ok("reported")
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match path.as_str() {
            "/snapshot" => Response::from_json(&self.load().await?),
            "/observe" => {
                let s = self
                    .update(|slot| match slot {
                        Some(s) => {
                            let changed = s.observe(now_ms());
                            (Some(s.clone()), changed)
                        }
                        None => (None, false),
                    })
                    .await?;
                Response::from_json(&s)
            }
            "/join" => {
                let r = self
                    .update(|slot| match slot {
                        Some(s) => {
                            let seq = s.join(now_ms());
                            let changed = seq.is_ok();
                            (
                                Some(JoinResult {
                                    seq,
                                    state: s.clone(),
                                }),
                                changed,
                            )
                        }
                        None => (None, false),
                    })
                    .await?;
                Response::from_json(&r)
            }
            "/push" => {
                let push: RulesPush = req.json().await?;
                let r = self
                    .update(
                        |slot| match state::apply_push(slot.clone(), push, now_ms()) {
                            Ok(s) => {
                                *slot = Some(s.clone());
                                (Ok(s), true)
                            }
                            Err(e) => (Err(e), false),
                        },
                    )
                    .await?;
                Response::from_json(&r)
            }
            "/report" => {
                let report: Report = req.json().await?;
                let s = self
                    .update(|slot| match slot {
                        Some(s) => {
                            let changed = s.report_issued(report.max_seq, now_ms());
                            (Some(s.clone()), changed)
                        }
                        None => (None, false),
                    })
                    .await?;
                Response::from_json(&s)
            }
            "/count" => {
                let info: ShardInfo = req.json().await?;
                Response::from_json(&self.count(info).await?)
            }
            "/hit" => {
                let k: Keyed = req.json().await?;
                let n = self.limits.borrow_mut().hit(&k.key, k.until_ms, now_ms());
                Response::from_json(&n)
            }
            "/claim" => {
                let k: Keyed = req.json().await?;
                let first = self.limits.borrow_mut().claim(&k.key, k.until_ms, now_ms());
                Response::from_json(&first)
            }
            "/registry/add" => {
                let r: Registration = req.json().await?;
                self.register(r).await?;
                Response::from_json(&true)
            }
            "/registry/list" => {
                let list = self.registry().await?.list(now_ms());
                Response::from_json(&list)
            }
            _ => Response::error("no such object route", 404),
        }
    }
}
