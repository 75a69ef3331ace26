//! Fault switches: make the next call(s) fail the way Toss can fail.
//!
//! A client is only as good as its handling of the bad days: a slow answer, a 5xx, a
//! declined card, and worst of all a call that **took effect but whose response was
//! lost**. Each is a [`FaultKind`]. There are two ways to arm one:
//!
//! 1. **Rules** ([`Fault`]), set with `TossFake::set_fault` or `POST /v1/__test/faults`:
//!    "the next confirm of order `ord_1` answers 500", "every cancel drops the
//!    connection". A rule matches an operation ([`Op`], or any) and an orderId (or any),
//!    and fires a number of times (once by default) or until cleared.
//! 2. **Trigger substrings** in the request itself, for black-box tests that cannot reach
//!    the fake's admin API (the pattern existing open-source payment mocks use). They fire
//!    on **every** matching call:
//!    - in the `orderId`, `FAULT_<NAME>` affects the **confirm** of that order and
//!      `CANCELFAULT_<NAME>` affects its **cancels** (e.g. `ord_FAULT_DROP_42`,
//!      `ord_CANCELFAULT_500_7`);
//!    - in the `cancelReason`, `FAULT_<NAME>` affects that cancel.
//!
//!    `<NAME>` is one of `DELAY_<ms>`, `LATE_<ms>`, `500`, `DROP`, `PROVIDER`, `REJECT`,
//!    `SESSION`, `NOTCANCELABLE` (see [`FaultKind`] for what each does).
//!
//! Faults never apply to idempotent replays: a stored response is answered before any
//! fault is looked at, exactly as a retry with the same key would be answered by Toss.
//!
//! All faults of one call are folded into a [`Plan`], which the request pipeline
//! consults at fixed points: delay before work, fail before work, replace the outcome,
//! delay after commit, drop the connection.

use crate::error::TossError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The operations of the Toss API a fault can target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Op {
    /// `POST /v1/payments/confirm`
    Confirm,
    /// `POST /v1/payments/{paymentKey}/cancel`
    Cancel,
    /// `GET /v1/payments/{paymentKey}` and `GET /v1/payments/orders/{orderId}`
    Get,
}

/// One way a call can go wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// Wait this long (real time) **before** doing anything; the request stays in flight
    /// (a duplicate with the same Idempotency-Key gets `IDEMPOTENT_REQUEST_PROCESSING`).
    /// Trigger `DELAY_<ms>`.
    Delay(Duration),
    /// Apply the effect, then wait this long before answering: the client times out
    /// although the payment changed. Trigger `LATE_<ms>`.
    DelayAfterCommit(Duration),
    /// 500 `FAILED_INTERNAL_SYSTEM_PROCESSING`, nothing changed. Trigger `500`.
    InternalError,
    /// Apply the effect (and store the Idempotency-Key response), then close the
    /// connection without answering. Trigger `DROP`.
    CommitThenDrop,
    /// 400 `PROVIDER_ERROR`, nothing changed. Trigger `PROVIDER`.
    ProviderError,
    /// Confirm only: 403 `REJECT_CARD_PAYMENT`; the payment ends `ABORTED` with that
    /// failure. Trigger `REJECT`.
    RejectCard,
    /// Confirm only: 404 `NOT_FOUND_PAYMENT_SESSION`; the payment ends `EXPIRED`, as if
    /// the 10-minute window had passed. Trigger `SESSION`.
    SessionNotFound,
    /// Cancel only: 403 `NOT_CANCELABLE_PAYMENT`, nothing changed. Trigger
    /// `NOTCANCELABLE`.
    NotCancelable,
}

impl FaultKind {
    /// Whether this kind means anything for `op` (a card decline does not for a cancel).
    pub fn applies_to(self, op: Op) -> bool {
        match self {
            FaultKind::RejectCard | FaultKind::SessionNotFound => op == Op::Confirm,
            FaultKind::NotCancelable => op == Op::Cancel,
            _ => true,
        }
    }
}

/// A fault rule: which calls it hits and how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    /// `None`: any of the four API calls the kind applies to.
    pub op: Option<Op>,
    /// `None`: any order.
    pub order_id: Option<String>,
    /// How many more calls it hits; `None`: until cleared.
    pub remaining: Option<u32>,
}

impl Fault {
    /// A fault that hits the next call of any operation it applies to, once.
    pub fn new(kind: FaultKind) -> Self {
        Fault {
            kind,
            op: None,
            order_id: None,
            remaining: Some(1),
        }
    }

    /// Only calls of `op`.
    pub fn on(mut self, op: Op) -> Self {
        self.op = Some(op);
        self
    }

    /// Only calls about `order_id`.
    pub fn for_order(mut self, order_id: impl Into<String>) -> Self {
        self.order_id = Some(order_id.into());
        self
    }

    /// Hits `n` calls instead of one.
    pub fn times(mut self, n: u32) -> Self {
        self.remaining = Some(n);
        self
    }

    /// Hits every matching call until the faults are cleared.
    pub fn always(mut self) -> Self {
        self.remaining = None;
        self
    }

    fn matches(&self, op: Op, order_id: Option<&str>) -> bool {
        self.kind.applies_to(op)
            && self.op.is_none_or(|o| o == op)
            && self
                .order_id
                .as_deref()
                .is_none_or(|want| order_id == Some(want))
    }
}

/// The armed fault rules.
#[derive(Debug, Default)]
pub(crate) struct FaultBook {
    rules: Vec<Fault>,
}

impl FaultBook {
    pub fn push(&mut self, fault: Fault) {
        if fault.remaining != Some(0) {
            self.rules.push(fault);
        }
    }

    pub fn clear(&mut self) {
        self.rules.clear();
    }

    pub fn list(&self) -> Vec<Fault> {
        self.rules.clone()
    }

    /// The kinds of every rule matching this call, each rule used up once.
    pub fn take(&mut self, op: Op, order_id: Option<&str>) -> Vec<FaultKind> {
        let mut hit = Vec::new();
        for rule in self.rules.iter_mut().filter(|r| r.matches(op, order_id)) {
            hit.push(rule.kind);
            if let Some(n) = rule.remaining.as_mut() {
                *n = n.saturating_sub(1);
            }
        }
        self.rules.retain(|r| r.remaining != Some(0));
        hit
    }
}

/// The faults a call carries in its `orderId` and `cancelReason` (see the module docs).
pub(crate) fn triggers(op: Op, order_id: &str, cancel_reason: Option<&str>) -> Vec<FaultKind> {
    let mut kinds: Vec<FaultKind> = scan(order_id)
        .into_iter()
        .filter(|(for_cancel, _)| match op {
            Op::Confirm => !for_cancel,
            Op::Cancel => *for_cancel,
            Op::Get => false,
        })
        .map(|(_, kind)| kind)
        .collect();
    if op == Op::Cancel {
        kinds.extend(
            cancel_reason
                .map(scan)
                .unwrap_or_default()
                .into_iter()
                .map(|(_, k)| k),
        );
    }
    kinds.retain(|k| k.applies_to(op));
    kinds
}

/// Every `FAULT_<NAME>` token in `text`, flagged when written `CANCELFAULT_<NAME>`.
fn scan(text: &str) -> Vec<(bool, FaultKind)> {
    const MARK: &str = "FAULT_";
    text.match_indices(MARK)
        .filter_map(|(at, _)| {
            let for_cancel = text[..at].ends_with("CANCEL");
            parse_name(&text[at + MARK.len()..]).map(|kind| (for_cancel, kind))
        })
        .collect()
}

fn parse_name(rest: &str) -> Option<FaultKind> {
    let millis = |digits: &str| -> Option<Duration> {
        let end = digits
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(digits.len());
        digits[..end].parse().ok().map(Duration::from_millis)
    };
    let fixed = [
        ("NOTCANCELABLE", FaultKind::NotCancelable),
        ("PROVIDER", FaultKind::ProviderError),
        ("REJECT", FaultKind::RejectCard),
        ("SESSION", FaultKind::SessionNotFound),
        ("DROP", FaultKind::CommitThenDrop),
        ("500", FaultKind::InternalError),
    ];
    if let Some((_, kind)) = fixed.iter().find(|(name, _)| rest.starts_with(name)) {
        return Some(*kind);
    }
    if let Some(digits) = rest.strip_prefix("DELAY_") {
        return millis(digits).map(FaultKind::Delay);
    }
    if let Some(digits) = rest.strip_prefix("LATE_") {
        return millis(digits).map(FaultKind::DelayAfterCommit);
    }
    None
}

/// Everything the faults of one call ask the request pipeline to do.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Plan {
    pub delay: Option<Duration>,
    pub delay_after_commit: Option<Duration>,
    /// Answer this instead of doing the work (500 or `PROVIDER_ERROR`).
    pub fail: Option<TossError>,
    pub reject_card: bool,
    pub session_not_found: bool,
    pub not_cancelable: bool,
    pub drop_connection: bool,
}

impl Plan {
    pub fn from_kinds(kinds: impl IntoIterator<Item = FaultKind>) -> Self {
        let mut plan = Plan::default();
        for kind in kinds {
            match kind {
                FaultKind::Delay(d) => plan.delay = Some(plan.delay.unwrap_or_default() + d),
                FaultKind::DelayAfterCommit(d) => {
                    plan.delay_after_commit = Some(plan.delay_after_commit.unwrap_or_default() + d)
                }
                FaultKind::InternalError => {
                    plan.fail = Some(TossError::failed_internal_system_processing())
                }
                FaultKind::ProviderError => {
                    plan.fail.get_or_insert_with(TossError::provider_error);
                }
                FaultKind::CommitThenDrop => plan.drop_connection = true,
                FaultKind::RejectCard => plan.reject_card = true,
                FaultKind::SessionNotFound => plan.session_not_found = true,
                FaultKind::NotCancelable => plan.not_cancelable = true,
            }
        }
        plan
    }
}

/// The wire form of a [`Fault`] for `POST /v1/__test/faults` and its listing.
///
/// ```json
/// {"kind": "COMMIT_THEN_DROP", "op": "CONFIRM", "orderId": "ord_1", "times": 1}
/// {"kind": "DELAY", "ms": 3000}
/// {"kind": "INTERNAL_ERROR", "op": "CANCEL", "always": true}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// `DELAY | DELAY_AFTER_COMMIT | INTERNAL_ERROR | COMMIT_THEN_DROP | PROVIDER_ERROR |
    /// REJECT_CARD | SESSION_NOT_FOUND | NOT_CANCELABLE`
    pub kind: String,
    /// Milliseconds, for the two delays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<u64>,
    #[serde(default)]
    pub op: Option<Op>,
    #[serde(default)]
    pub order_id: Option<String>,
    /// How many calls it hits (default 1).
    #[serde(default)]
    pub times: Option<u32>,
    /// Hits every matching call until cleared (overrides `times`).
    #[serde(default)]
    pub always: bool,
}

impl TryFrom<FaultSpec> for Fault {
    type Error = String;

    fn try_from(spec: FaultSpec) -> Result<Self, String> {
        let ms = || {
            spec.ms
                .map(Duration::from_millis)
                .ok_or_else(|| format!("{} needs `ms`", spec.kind))
        };
        let kind = match spec.kind.as_str() {
            "DELAY" => FaultKind::Delay(ms()?),
            "DELAY_AFTER_COMMIT" => FaultKind::DelayAfterCommit(ms()?),
            "INTERNAL_ERROR" => FaultKind::InternalError,
            "COMMIT_THEN_DROP" => FaultKind::CommitThenDrop,
            "PROVIDER_ERROR" => FaultKind::ProviderError,
            "REJECT_CARD" => FaultKind::RejectCard,
            "SESSION_NOT_FOUND" => FaultKind::SessionNotFound,
            "NOT_CANCELABLE" => FaultKind::NotCancelable,
            other => return Err(format!("unknown fault kind {other:?}")),
        };
        Ok(Fault {
            kind,
            op: spec.op,
            order_id: spec.order_id,
            remaining: if spec.always {
                None
            } else {
                Some(spec.times.unwrap_or(1))
            },
        })
    }
}

impl From<&Fault> for FaultSpec {
    fn from(fault: &Fault) -> Self {
        let (kind, ms) = match fault.kind {
            FaultKind::Delay(d) => ("DELAY", Some(d)),
            FaultKind::DelayAfterCommit(d) => ("DELAY_AFTER_COMMIT", Some(d)),
            FaultKind::InternalError => ("INTERNAL_ERROR", None),
            FaultKind::CommitThenDrop => ("COMMIT_THEN_DROP", None),
            FaultKind::ProviderError => ("PROVIDER_ERROR", None),
            FaultKind::RejectCard => ("REJECT_CARD", None),
            FaultKind::SessionNotFound => ("SESSION_NOT_FOUND", None),
            FaultKind::NotCancelable => ("NOT_CANCELABLE", None),
        };
        FaultSpec {
            kind: kind.to_owned(),
            ms: ms.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            op: fault.op,
            order_id: fault.order_id.clone(),
            times: fault.remaining,
            always: fault.remaining.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_id_triggers_split_confirm_and_cancel() {
        let order = "ord_FAULT_DROP_CANCELFAULT_500_x";
        assert_eq!(
            triggers(Op::Confirm, order, None),
            vec![FaultKind::CommitThenDrop]
        );
        assert_eq!(
            triggers(Op::Cancel, order, None),
            vec![FaultKind::InternalError]
        );
        assert!(triggers(Op::Get, order, None).is_empty());
    }

    #[test]
    fn cancel_reason_triggers_and_parameters() {
        assert_eq!(
            triggers(
                Op::Cancel,
                "ord_plain",
                Some("refund FAULT_LATE_250 FAULT_NOTCANCELABLE")
            ),
            vec![
                FaultKind::DelayAfterCommit(Duration::from_millis(250)),
                FaultKind::NotCancelable
            ]
        );
        assert_eq!(
            triggers(Op::Confirm, "ord_FAULT_DELAY_1500_a", None),
            vec![FaultKind::Delay(Duration::from_millis(1500))]
        );
        // A confirm-only kind in a cancel position does nothing.
        assert!(triggers(Op::Cancel, "ord_CANCELFAULT_REJECT", None).is_empty());
        assert!(triggers(Op::Confirm, "ord_FAULT_DELAY_x", None).is_empty());
    }

    #[test]
    fn rules_match_and_wear_out() {
        let mut book = FaultBook::default();
        book.push(
            Fault::new(FaultKind::InternalError)
                .on(Op::Confirm)
                .for_order("ord_a")
                .times(2),
        );
        book.push(Fault::new(FaultKind::RejectCard));
        assert!(book.take(Op::Confirm, Some("ord_b")) == vec![FaultKind::RejectCard]);
        assert!(book.take(Op::Cancel, Some("ord_a")).is_empty());
        assert_eq!(
            book.take(Op::Confirm, Some("ord_a")),
            vec![FaultKind::InternalError]
        );
        assert_eq!(
            book.take(Op::Confirm, Some("ord_a")),
            vec![FaultKind::InternalError]
        );
        assert!(book.take(Op::Confirm, Some("ord_a")).is_empty());
        assert!(book.list().is_empty());
    }

    #[test]
    fn specs_round_trip() {
        let spec: FaultSpec =
            serde_json::from_str(r#"{"kind":"DELAY","ms":20,"op":"GET","always":true}"#)
                .expect("valid spec");
        let fault = Fault::try_from(spec.clone()).expect("valid fault");
        assert_eq!(fault.kind, FaultKind::Delay(Duration::from_millis(20)));
        assert_eq!(fault.remaining, None);
        assert_eq!(FaultSpec::from(&fault).kind, "DELAY");
        assert!(Fault::try_from(FaultSpec { ms: None, ..spec }).is_err());
    }
}
