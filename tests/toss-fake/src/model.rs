//! The wire shapes: the Payment object, the error object and the webhook event.
//!
//! These types are what a Toss client sees, so they follow Toss's JSON exactly:
//! camelCase names, money as JSON **numbers** (KRW integers), timestamps as ISO-8601
//! with a `+09:00` offset and no fraction (`2024-02-13T12:18:14+09:00`), and every
//! sub-object a client may read present, `null` when unused. The fake stores these
//! structs as its state and serialises them as-is, so what the inspection API shows is
//! byte-for-byte what the HTTP API would answer.
//!
//! The sub-objects the fake never fills (virtual account, transfer, easy pay, ...) are
//! typed as `Option<serde_json::Value>`: always `None`, serialised as `null`.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The core API version every Payment carries.
pub const API_VERSION: &str = "2022-11-16";

/// Merchant id of the Toss documentation test merchant.
pub const TEST_MID: &str = "tvivarepublica";

/// The life cycle of a payment (Toss's `Payment.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PaymentStatus {
    /// Created by the widget, customer not yet authenticated (30-minute limit).
    Ready,
    /// Authenticated, waiting for the merchant's confirm (10-minute limit).
    InProgress,
    /// Virtual account issued, no deposit yet (never produced by the fake).
    WaitingForDeposit,
    /// Approved: money taken.
    Done,
    /// Fully refunded (terminal).
    Canceled,
    /// Partly refunded, `balanceAmount > 0`.
    PartialCanceled,
    /// Approval failed (terminal).
    Aborted,
    /// Not confirmed (or not authenticated) in time (terminal).
    Expired,
}

impl PaymentStatus {
    /// The status as it appears on the wire, e.g. `"IN_PROGRESS"`.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Ready => "READY",
            PaymentStatus::InProgress => "IN_PROGRESS",
            PaymentStatus::WaitingForDeposit => "WAITING_FOR_DEPOSIT",
            PaymentStatus::Done => "DONE",
            PaymentStatus::Canceled => "CANCELED",
            PaymentStatus::PartialCanceled => "PARTIAL_CANCELED",
            PaymentStatus::Aborted => "ABORTED",
            PaymentStatus::Expired => "EXPIRED",
        }
    }
}

/// The Payment object of Toss API version 2022-11-16.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// Always [`API_VERSION`].
    pub version: String,
    pub payment_key: String,
    /// `NORMAL` (the fake never produces `BILLING` or `BRANDPAY`).
    #[serde(rename = "type")]
    pub kind: String,
    pub order_id: String,
    pub order_name: String,
    pub m_id: String,
    pub currency: String,
    /// Korean method label (`"카드"`); `null` before approval.
    pub method: Option<String>,
    /// The authorised amount; never changes.
    pub total_amount: i64,
    /// What can still be cancelled.
    pub balance_amount: i64,
    pub status: PaymentStatus,
    #[serde(with = "kst_seconds")]
    pub requested_at: DateTime<FixedOffset>,
    #[serde(with = "kst_seconds_opt")]
    pub approved_at: Option<DateTime<FixedOffset>>,
    pub use_escrow: bool,
    /// Changes on every approval or cancel; `null` before approval.
    pub last_transaction_key: Option<String>,
    pub supplied_amount: i64,
    pub vat: i64,
    pub culture_expense: bool,
    pub tax_free_amount: i64,
    pub tax_exemption_amount: i64,
    /// `null` until the first cancel, then one element per cancel.
    pub cancels: Option<Vec<Cancel>>,
    pub is_partial_cancelable: bool,
    /// Filled once a card payment is approved.
    pub card: Option<Card>,
    pub virtual_account: Option<Value>,
    pub transfer: Option<Value>,
    pub mobile_phone: Option<Value>,
    pub gift_certificate: Option<Value>,
    pub cash_receipt: Option<Value>,
    pub cash_receipts: Option<Value>,
    pub discount: Option<Value>,
    pub easy_pay: Option<Value>,
    pub country: String,
    /// Why the payment failed (`EXPIRED_PAYMENT`, `REJECT_CARD_PAYMENT`), else `null`.
    pub failure: Option<Failure>,
    pub receipt: Option<Link>,
    pub checkout: Option<Link>,
    /// Virtual accounts only; `null` here.
    pub secret: Option<String>,
    pub metadata: Option<Value>,
}

/// The `card` sub-object of an approved card payment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Card {
    pub amount: i64,
    pub issuer_code: String,
    pub acquirer_code: String,
    /// Masked card number.
    pub number: String,
    pub installment_plan_months: u32,
    pub approve_no: String,
    pub use_card_point: bool,
    /// `신용 | 체크 | 기프트 | 미확인`.
    pub card_type: String,
    /// `개인 | 법인 | 미확인`.
    pub owner_type: String,
    /// `READY | REQUESTED | COMPLETED | CANCEL_REQUESTED | CANCELED`.
    pub acquire_status: String,
    pub is_interest_free: bool,
    /// `BUYER | CARD_COMPANY | MERCHANT`; `null` for a lump-sum payment.
    pub interest_payer: Option<String>,
}

/// One element of `cancels[]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cancel {
    pub cancel_amount: i64,
    pub cancel_reason: String,
    pub tax_free_amount: i64,
    pub tax_exemption_amount: i64,
    /// The balance left after this cancel.
    pub refundable_amount: i64,
    pub easy_pay_discount_amount: i64,
    #[serde(with = "kst_seconds")]
    pub canceled_at: DateTime<FixedOffset>,
    pub transaction_key: String,
    pub receipt_key: Option<String>,
    /// Always `"DONE"`.
    pub cancel_status: String,
    pub cancel_request_id: Option<String>,
}

/// `failure` of a payment: the code and message of why it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub code: String,
    pub message: String,
}

/// `receipt` / `checkout`: an object with one `url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub url: String,
}

/// The body of every error response: `{"code": "...", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: String,
    pub message: String,
}

/// The `PAYMENT_STATUS_CHANGED` webhook body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookEvent {
    /// Always `"PAYMENT_STATUS_CHANGED"`.
    pub event_type: String,
    /// Local Korean time with microseconds and **no offset**, e.g.
    /// `2026-11-27T12:34:56.123456`.
    pub created_at: String,
    /// The payment right after the change.
    pub data: Payment,
}

impl Payment {
    /// Recomputes `suppliedAmount` and `vat` from the balance: VAT is a rounded
    /// eleventh of the taxable part, the supplied amount the rest.
    pub(crate) fn recompute_tax(&mut self) {
        let taxable = (self.balance_amount - self.tax_free_amount).max(0);
        self.vat = (2 * taxable + 11) / 22;
        self.supplied_amount = taxable - self.vat;
    }
}

/// `+09:00` timestamps without fraction, as Toss prints them.
pub(crate) mod kst_seconds {
    use chrono::{DateTime, FixedOffset};
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) const FORMAT: &str = "%Y-%m-%dT%H:%M:%S%:z";

    pub fn serialize<S: Serializer>(t: &DateTime<FixedOffset>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&t.with_timezone(&crate::clock::kst()).format(FORMAT))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<FixedOffset>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// [`kst_seconds`] for an optional timestamp (`null` when absent).
pub(crate) mod kst_seconds_opt {
    use chrono::{DateTime, FixedOffset};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        t: &Option<DateTime<FixedOffset>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::kst_seconds::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|text| DateTime::parse_from_rfc3339(&text).map_err(serde::de::Error::custom))
            .transpose()
    }
}
