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

use shared_wasm::edge::JoinResult;
use shared_wasm::edge::state::{self, EventState, RulesPush};
use std::cell::RefCell;
use worker::{Date, Env, Request, Response, Result, State, durable_object};

const KEY: &str = "state";

#[durable_object]
pub struct EventQueue {
    state: State,
    /// `None`: not loaded yet; `Some(None)`: loaded, no rules pushed.
    cached: RefCell<Option<Option<EventState>>>,
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

impl worker::DurableObject for EventQueue {
    fn new(state: State, _env: Env) -> Self {
        EventQueue {
            state,
            cached: RefCell::new(None),
        }
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
            _ => Response::error("no such object route", 404),
        }
    }
}
