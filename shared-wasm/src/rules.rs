//! Per-event waiting-room rules: the one document the origin pushes to every edge.
//!
//! A promoter edits these in the dashboard; the origin validates them, bumps `version`
//! and pushes the JSON to the Cloudflare Durable Object and the Spin Redis keys of the
//! event (no hand-edited files, no redeploy). The edge validates again on receipt, because a rules document is input
//! like any other, and keeps the newest version it has seen ([`EdgeRules::is_newer_than`]):
//! pushes may arrive out of order, and an older version must never overwrite a newer
//! one.
//!
//! # JSON
//!
//! snake_case field names, lowercase snake_case enum values, unknown fields refused
//! (a typo such as `new_user_per_minute` is an error, not a silently ignored setting).
//! Optional fields may be omitted or `null`; they are omitted when serialising. Times are
//! **Unix seconds**, like token claims.
//!
//! ```json
//! {
//!   "event_id": "0190b7d4-5a6e-7c3a-9f00-3e1f2d4c5b6a",
//!   "version": 3,
//!   "mode": "queue",
//!   "method": "random",
//!   "prequeue_opens_at": 1800000000,
//!   "sale_opens_at": 1800001800,
//!   "sale_closes_at": 1800086400,
//!   "new_users_per_minute": 600,
//!   "max_active": 1000,
//!   "active_slot_secs": 600,
//!   "protected_paths": ["/api/v1/events/0190b7d4-5a6e-7c3a-9f00-3e1f2d4c5b6a/holds*"],
//!   "template": {
//!     "title_ko": "대기열에 입장했습니다",
//!     "title_en": "You are in the queue",
//!     "message_ko": "순서가 되면 자동으로 이동합니다.",
//!     "message_en": "You will be let in automatically when it is your turn.",
//!     "brand_color": "#ff5a1f"
//!   },
//!   "draw_seed_commitment": "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
//! }
//! ```
//!
//! # Modes and methods
//!
//! * [`Mode::Queue`]: the waiting room is on; [`Method`] decides the order.
//! * [`Mode::Passthrough`]: no queue, everyone goes straight in (counters still count).
//! * [`Mode::Reject`]: a static "sold out / not available" page, nobody is let in and
//!   nobody polls.
//! * [`Mode::Maintenance`]: a "back soon" page; like reject but temporary, so clients
//!   may retry.
//! * [`Method::Fifo`]: position = join order. [`Method::Random`]: everyone in the
//!   pre-queue is shuffled at the opening (see [`crate::queue::draw`]), which is why it
//!   requires a pre-queue and a published seed commitment.
//!
//! # Phases
//!
//! [`EdgeRules::phase`] places `now` on the sale's timeline:
//!
//! ```text
//!   Closed        PreQueue              Open                    Ended
//! ─────────────┼────────────────────┼──────────────────────┼──────────────►
//!      prequeue_opens_at      sale_opens_at          sale_closes_at
//! ```
//!
//! Without a pre-queue the room goes from `Closed` straight to `Open`; without a closing
//! time it never ends. The opening is also the first serving anchor
//! ([`EdgeRules::opening_anchor`]).

use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

use crate::queue::ServingAnchor;

/// Smallest and largest `new_users_per_minute`. `0` pauses admissions: nobody new is
/// served at the edge or admitted to tier 2 until a later version raises it.
pub const RATE_RANGE: std::ops::RangeInclusive<u32> = 0..=1_000_000;
/// Smallest and largest `max_active` (tier-2 capacity).
pub const MAX_ACTIVE_RANGE: std::ops::RangeInclusive<u32> = 1..=1_000_000;
/// Smallest and largest `active_slot_secs`: 1 minute to 1 hour.
pub const ACTIVE_SLOT_SECS_RANGE: std::ops::RangeInclusive<u32> = 60..=3_600;
/// Most protected path patterns per event.
pub const MAX_PROTECTED_PATHS: usize = 32;
/// Longest protected path pattern, in bytes.
pub const MAX_PATH_LEN: usize = 200;
/// Longest title, in characters (not bytes: Korean is 3 bytes a character in UTF-8).
pub const MAX_TITLE_CHARS: usize = 120;
/// Longest message, in characters.
pub const MAX_MESSAGE_CHARS: usize = 2_000;
/// Largest custom HTML, in bytes (64 KiB).
pub const MAX_CUSTOM_HTML_BYTES: usize = 64 * 1024;
/// Longest logo URL, in bytes.
pub const MAX_LOGO_URL_LEN: usize = 2_048;
/// Default `join_limit_per_ip_per_min`: generous, because carrier-grade NAT puts many
/// fans behind one address.
pub const DEFAULT_JOIN_LIMIT_PER_IP_PER_MIN: u32 = 60;
/// Largest `join_limit_per_ip_per_min` (0 turns the limit off).
pub const MAX_JOIN_LIMIT_PER_IP_PER_MIN: u32 = 1_000_000;
/// Largest `pow_difficulty`, in leading zero bits: about 16 million hashes on average,
/// some seconds of a phone's CPU.
pub const MAX_POW_DIFFICULTY: u8 = 24;
/// Default `pow_difficulty`: about 65,000 hashes, well under a second in a browser.
pub const DEFAULT_POW_DIFFICULTY: u8 = 16;
/// Latest accepted Unix time: 9999-12-31T23:59:59Z. Keeps `seconds × 1000` far from
/// overflow and catches milliseconds passed where seconds were meant.
pub const MAX_UNIX_SECS: i64 = 253_402_300_799;

/// A membership tier, as the waiting room names it in a presale schedule.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PresaleTier {
    Diamond,
    Gold,
    Silver,
    /// Everyone else: the general sale.
    Bronze,
}

/// When one tier may book (shown on the waiting page; the origin enforces it).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PresaleOpening {
    pub tier: PresaleTier,
    /// Unix seconds.
    pub opens_at: i64,
}

/// Whether the waiting room is in front of the event at all.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Queue,
    Passthrough,
    Reject,
    Maintenance,
}

/// How queue positions are ordered.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// First come, first served: position = join sequence.
    Fifo,
    /// The pre-queue is shuffled at the opening; later arrivals follow FIFO.
    Random,
}

/// What a visitor must do before joining, besides asking from the room's own page.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Challenge {
    /// Nothing.
    #[default]
    None,
    /// Solve a proof-of-work puzzle of `pow_difficulty` bits (see `edge::pow`).
    Pow,
}

fn default_join_limit() -> u32 {
    DEFAULT_JOIN_LIMIT_PER_IP_PER_MIN
}

fn is_default_join_limit(v: &u32) -> bool {
    *v == DEFAULT_JOIN_LIMIT_PER_IP_PER_MIN
}

fn default_pow_difficulty() -> u8 {
    DEFAULT_POW_DIFFICULTY
}

fn is_default_pow_difficulty(v: &u8) -> bool {
    *v == DEFAULT_POW_DIFFICULTY
}

fn is_no_challenge(c: &Challenge) -> bool {
    *c == Challenge::None
}

/// Where a moment lies on the sale's timeline (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Before the pre-queue (or, without one, before the sale) opens.
    Closed,
    /// The pre-queue is open: visitors join, nobody is let through yet.
    PreQueue,
    /// The sale is open: positions are served at the rules' rate.
    Open,
    /// The sale has closed.
    Ended,
}

/// The waiting page's texts and branding, in Korean and English.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WaitingRoomTemplate {
    pub title_ko: String,
    pub title_en: String,
    pub message_ko: String,
    pub message_en: String,
    /// `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand_color: Option<String>,
    /// `https://...` or root-relative `/...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Replaces the default page body. Rendered in a sandboxed frame by the edge; here
    /// only its size is checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_html: Option<String>,
}

/// One event's waiting-room rules (see the module docs for the JSON form).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeRules {
    pub event_id: Uuid,
    /// Starts at 1, bumped by the origin on every change; newer wins.
    pub version: u64,
    pub mode: Mode,
    pub method: Method,
    /// Unix seconds; required for [`Method::Random`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prequeue_opens_at: Option<i64>,
    /// Unix seconds. The first serving anchor.
    pub sale_opens_at: i64,
    /// Unix seconds; `None`: the sale does not end by itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_closes_at: Option<i64>,
    /// Tier-1 serving rate: positions let through per minute.
    pub new_users_per_minute: u32,
    /// Tier-2 capacity: users holding an active booking slot at once.
    pub max_active: u32,
    /// Lifetime of a tier-2 active slot, in seconds (a fixed window: polling does not
    /// extend it).
    pub active_slot_secs: u32,
    /// Paths that need an entry token for this event. Case-sensitive; one trailing `*`
    /// makes a pattern a prefix match. See [`EdgeRules::path_is_protected`].
    pub protected_paths: Vec<String>,
    pub template: WaitingRoomTemplate,
    /// Hex SHA-256 of the draw seed (64 lowercase hex digits); required for
    /// [`Method::Random`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw_seed_commitment: Option<String>,
    /// Most tier-1 joins one client address may make per minute for this event (IPv6:
    /// per /64); beyond it the edge answers 429. `0` turns the limit off. Default 60.
    /// Omitted from the JSON when default, so older edges keep accepting the rules.
    #[serde(
        default = "default_join_limit",
        skip_serializing_if = "is_default_join_limit"
    )]
    pub join_limit_per_ip_per_min: u32,
    /// Whether joining needs a solved proof-of-work challenge. Default `none`.
    #[serde(default, skip_serializing_if = "is_no_challenge")]
    pub challenge: Challenge,
    /// Leading zero bits the proof of work needs, `0..=24`; used when `challenge` is
    /// `pow`. Default 16.
    #[serde(
        default = "default_pow_difficulty",
        skip_serializing_if = "is_default_pow_difficulty"
    )]
    pub pow_difficulty: u8,
    /// The event's presale by membership tier, highest first, for the page to show.
    /// The origin fills it from the event's schedule (whatever a client sends); empty
    /// when the event has no presale, and then omitted from the JSON.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub presale: Vec<PresaleOpening>,
}

/// One thing wrong with a rules document: the field path (`template.title_ko`,
/// `protected_paths[2]`) and what is wrong with it, ready for a problem+json body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct RuleError {
    pub field: String,
    pub message: String,
}

/// Collects errors in field order.
struct Errors(Vec<RuleError>);

impl Errors {
    fn push(&mut self, field: impl fmt::Display, message: impl Into<String>) {
        self.0.push(RuleError {
            field: field.to_string(),
            message: message.into(),
        });
    }

    fn check(&mut self, ok: bool, field: impl fmt::Display, message: impl Into<String>) {
        if !ok {
            self.push(field, message);
        }
    }
}

impl EdgeRules {
    /// Sensible rules for a new event: version 1, queue mode, FIFO, 600 new users per
    /// minute, 1,000 active, 10-minute slots, the event's hold and reservation routes
    /// protected, bilingual default texts. They validate.
    pub fn default_for(event_id: Uuid, sale_opens_at: i64) -> Self {
        EdgeRules {
            event_id,
            version: 1,
            mode: Mode::Queue,
            method: Method::Fifo,
            prequeue_opens_at: None,
            sale_opens_at,
            sale_closes_at: None,
            new_users_per_minute: 600,
            max_active: 1_000,
            active_slot_secs: 600,
            protected_paths: vec![
                format!("/api/v1/events/{event_id}/holds*"),
                format!("/api/v1/events/{event_id}/reservations*"),
            ],
            template: WaitingRoomTemplate {
                title_ko: "대기열에 입장했습니다".into(),
                title_en: "You are in the queue".into(),
                message_ko: "많은 분들이 동시에 접속하고 있습니다. 순서가 되면 자동으로 \
                             예매 페이지로 이동합니다. 새로고침해도 순서는 유지됩니다."
                    .into(),
                message_en: "Many fans are arriving at once. When it is your turn you will \
                             be taken to booking automatically. Reloading keeps your place."
                    .into(),
                brand_color: None,
                logo_url: None,
                custom_html: None,
            },
            draw_seed_commitment: None,
            join_limit_per_ip_per_min: DEFAULT_JOIN_LIMIT_PER_IP_PER_MIN,
            challenge: Challenge::None,
            pow_difficulty: DEFAULT_POW_DIFFICULTY,
            presale: Vec::new(),
        }
    }

    /// Checks every rule and reports every violation (not just the first), each naming
    /// its field, so a dashboard can mark all bad inputs at once.
    pub fn validate(&self) -> Result<(), Vec<RuleError>> {
        let mut e = Errors(Vec::new());

        e.check(
            !self.event_id.is_nil(),
            "event_id",
            "must not be the nil UUID",
        );
        e.check(self.version >= 1, "version", "must be at least 1");

        let time_ok = |t: i64| (0..=MAX_UNIX_SECS).contains(&t);
        const TIME_MSG: &str = "must be Unix seconds between 1970 and 9999";
        if let Some(pre) = self.prequeue_opens_at {
            if !time_ok(pre) {
                e.push("prequeue_opens_at", TIME_MSG);
            } else if pre >= self.sale_opens_at {
                e.push("prequeue_opens_at", "must be before sale_opens_at");
            }
        }
        e.check(time_ok(self.sale_opens_at), "sale_opens_at", TIME_MSG);
        if let Some(close) = self.sale_closes_at {
            if !time_ok(close) {
                e.push("sale_closes_at", TIME_MSG);
            } else if close <= self.sale_opens_at {
                e.push("sale_closes_at", "must be after sale_opens_at");
            }
        }
        if self.method == Method::Random {
            e.check(
                self.prequeue_opens_at.is_some(),
                "prequeue_opens_at",
                "random method needs a pre-queue before the sale opens",
            );
            e.check(
                self.draw_seed_commitment.is_some(),
                "draw_seed_commitment",
                "random method needs the draw seed commitment published in advance",
            );
        }

        e.check(
            RATE_RANGE.contains(&self.new_users_per_minute),
            "new_users_per_minute",
            "must be between 1 and 1000000",
        );
        e.check(
            MAX_ACTIVE_RANGE.contains(&self.max_active),
            "max_active",
            "must be between 1 and 1000000",
        );
        e.check(
            ACTIVE_SLOT_SECS_RANGE.contains(&self.active_slot_secs),
            "active_slot_secs",
            "must be between 60 and 3600",
        );

        e.check(
            self.join_limit_per_ip_per_min <= MAX_JOIN_LIMIT_PER_IP_PER_MIN,
            "join_limit_per_ip_per_min",
            "must be between 0 (off) and 1000000",
        );
        e.check(
            self.pow_difficulty <= MAX_POW_DIFFICULTY,
            "pow_difficulty",
            format!("must be between 0 and {MAX_POW_DIFFICULTY} bits"),
        );

        e.check(
            self.protected_paths.len() <= MAX_PROTECTED_PATHS,
            "protected_paths",
            format!("at most {MAX_PROTECTED_PATHS} paths"),
        );
        for (i, p) in self.protected_paths.iter().enumerate() {
            if let Err(msg) = check_path_pattern(p) {
                e.push(format_args!("protected_paths[{i}]"), msg);
            }
        }

        self.template.check(&mut e);

        e.check(
            self.presale.len() <= 4,
            "presale",
            "at most one opening per tier (4)",
        );
        for (i, w) in self.presale.iter().enumerate() {
            e.check(
                time_ok(w.opens_at),
                format_args!("presale[{i}].opens_at"),
                TIME_MSG,
            );
            if let Some(prev) = i.checked_sub(1).and_then(|j| self.presale.get(j)) {
                e.check(
                    prev.opens_at <= w.opens_at && prev.tier != w.tier,
                    format_args!("presale[{i}]"),
                    "one opening per tier, in time order",
                );
            }
        }

        if let Some(c) = &self.draw_seed_commitment {
            e.check(
                c.len() == 64 && c.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')),
                "draw_seed_commitment",
                "must be 64 lowercase hex digits (SHA-256 of the seed)",
            );
        }

        if e.0.is_empty() { Ok(()) } else { Err(e.0) }
    }

    /// Whether these rules should replace `other`: same event and a higher version.
    /// Rules for a different event never replace each other.
    pub fn is_newer_than(&self, other: &EdgeRules) -> bool {
        self.event_id == other.event_id && self.version > other.version
    }

    /// The sale's phase at `now_s` (Unix seconds). Boundaries belong to the later phase:
    /// at exactly `sale_opens_at` the sale is open.
    pub fn phase(&self, now_s: i64) -> Phase {
        if self.sale_closes_at.is_some_and(|close| now_s >= close) {
            Phase::Ended
        } else if now_s >= self.sale_opens_at {
            Phase::Open
        } else if self.prequeue_opens_at.is_some_and(|pre| now_s >= pre) {
            Phase::PreQueue
        } else {
            Phase::Closed
        }
    }

    /// The first serving anchor: nothing served at `sale_opens_at`.
    pub fn opening_anchor(&self) -> ServingAnchor {
        ServingAnchor::opening(self.sale_opens_at)
    }

    /// Whether a request for `path` needs an entry token for this event.
    ///
    /// The path is normalised before matching, so spelling tricks cannot slip past a
    /// rule: the query and fragment are cut off, escaped unreserved characters (`%41` for
    /// `A`) are decoded, empty and `.` segments dropped and `..` resolved, and a trailing
    /// `/` ignored. Then a pattern without `*` must equal the path, and `prefix*` matches
    /// every path starting with `prefix` (`/a/*` also covers `/a` itself). Matching is
    /// case-sensitive, as the origin's router is. This is the edge's guard; the origin
    /// checks entry tokens on the same routes itself.
    pub fn path_is_protected(&self, path: &str) -> bool {
        let path = normalize_path(path);
        self.protected_paths
            .iter()
            .any(|pattern| match pattern.strip_suffix('*') {
                Some(prefix) => {
                    path.starts_with(prefix)
                        || (path.len() + 1 == prefix.len()
                            && prefix.ends_with('/')
                            && prefix.starts_with(path.as_str()))
                }
                None => normalize_path(pattern) == path,
            })
    }
}

impl WaitingRoomTemplate {
    fn check(&self, e: &mut Errors) {
        for (field, value) in [("title_ko", &self.title_ko), ("title_en", &self.title_en)] {
            if let Err(msg) = check_text(value, MAX_TITLE_CHARS, false) {
                e.push(format_args!("template.{field}"), msg);
            }
        }
        for (field, value) in [
            ("message_ko", &self.message_ko),
            ("message_en", &self.message_en),
        ] {
            if let Err(msg) = check_text(value, MAX_MESSAGE_CHARS, true) {
                e.push(format_args!("template.{field}"), msg);
            }
        }
        if let Some(color) = &self.brand_color {
            let b = color.as_bytes();
            e.check(
                b.len() == 7 && b[0] == b'#' && b[1..].iter().all(u8::is_ascii_hexdigit),
                "template.brand_color",
                "must look like #rrggbb",
            );
        }
        if let Some(url) = &self.logo_url
            && let Err(msg) = check_logo_url(url)
        {
            e.push("template.logo_url", msg);
        }
        if let Some(html) = &self.custom_html {
            if html.trim().is_empty() {
                e.push("template.custom_html", "must not be empty when set");
            } else if html.len() > MAX_CUSTOM_HTML_BYTES {
                e.push("template.custom_html", "must be at most 64 KiB");
            }
        }
    }
}

fn check_text(value: &str, max_chars: usize, multiline: bool) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err("must not be empty".into());
    }
    if value.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    let bad_control = value
        .chars()
        .any(|c| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t')));
    if bad_control {
        return Err(if multiline {
            "must not contain control characters other than newlines and tabs".into()
        } else {
            "must be a single line without control characters".into()
        });
    }
    Ok(())
}

fn check_logo_url(url: &str) -> Result<(), &'static str> {
    if url.len() > MAX_LOGO_URL_LEN {
        return Err("must be at most 2048 bytes");
    }
    // It lands in an HTML attribute: no whitespace, quotes, angle brackets, backslashes.
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '\\'))
    {
        return Err("must not contain whitespace, quotes, angle brackets or backslashes");
    }
    if let Some(rest) = url.strip_prefix("https://") {
        let host = rest.split(['/', '?', '#']).next().unwrap_or("");
        if host.is_empty() || host.contains('@') {
            return Err("must name a host after https://");
        }
        return Ok(());
    }
    if url.starts_with('/') && !url.starts_with("//") {
        return Ok(());
    }
    Err("must be an https:// URL or a root-relative path starting with /")
}

/// Checks one `protected_paths` pattern.
fn check_path_pattern(p: &str) -> Result<(), String> {
    if !p.starts_with('/') {
        return Err("must start with /".into());
    }
    if p.len() > MAX_PATH_LEN {
        return Err(format!("must be at most {MAX_PATH_LEN} characters"));
    }
    if p.find('*').is_some_and(|i| i != p.len() - 1) {
        return Err("only a single trailing * wildcard is allowed".into());
    }
    if p.chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '%'))
    {
        return Err("must be a plain path: no whitespace, ?, # or % escapes".into());
    }
    // A literal `{id}` never matches a real request: the route would silently be open.
    if p.contains(['{', '}']) {
        return Err("must be a concrete path: write the event id itself, not {id}".into());
    }
    let body = p.strip_suffix('*').unwrap_or(p);
    if body.split('/').any(|s| s == "." || s == "..") || body.contains("//") {
        return Err("must be normalised: no //, /./ or /../ segments".into());
    }
    Ok(())
}

/// Canonical form of a request path for matching (see
/// [`EdgeRules::path_is_protected`]). Always starts with `/`; never ends with `/`
/// unless it is the root.
pub(crate) fn normalize_path(path: &str) -> String {
    let path = path.split(['?', '#']).next().unwrap_or("");
    let decoded = decode_unreserved(path);
    let mut segments: Vec<&str> = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len() + 1);
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// Decodes `%XX` escapes of unreserved characters (RFC 3986 §2.3: letters, digits,
/// `-._~`), which mean the same escaped or not. Other escapes (`%2F`, `%20`) stay.
fn decode_unreserved(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = |b: u8| char::from(b).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                let c = char::from(u8::try_from(h * 16 + l).unwrap_or(0));
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~') {
                    out.push(c);
                    i += 3;
                    continue;
                }
            }
        }
        // Copy one whole UTF-8 character.
        let ch_len = path[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&path[i..i + ch_len]);
        i += ch_len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> EdgeRules {
        EdgeRules::default_for(Uuid::from_u128(0xabc), 1_800_000_000)
    }

    #[test]
    fn defaults_validate() {
        assert_eq!(rules().validate(), Ok(()));
    }

    #[test]
    fn phases() {
        let mut r = rules();
        r.prequeue_opens_at = Some(1_799_999_000);
        r.sale_closes_at = Some(1_800_003_600);
        assert_eq!(r.phase(1_799_998_999), Phase::Closed);
        assert_eq!(r.phase(1_799_999_000), Phase::PreQueue);
        assert_eq!(r.phase(1_799_999_999), Phase::PreQueue);
        assert_eq!(r.phase(1_800_000_000), Phase::Open);
        assert_eq!(r.phase(1_800_003_599), Phase::Open);
        assert_eq!(r.phase(1_800_003_600), Phase::Ended);
        r.prequeue_opens_at = None;
        r.sale_closes_at = None;
        assert_eq!(r.phase(1_799_999_999), Phase::Closed);
        assert_eq!(r.phase(i64::MAX), Phase::Open);
    }

    #[test]
    fn normalisation() {
        assert_eq!(normalize_path(""), "/");
        assert_eq!(normalize_path("/"), "/");
        assert_eq!(normalize_path("//a///b/"), "/a/b");
        assert_eq!(normalize_path("/a/./b/../c?x=1#f"), "/a/c");
        assert_eq!(normalize_path("/../../a"), "/a");
        assert_eq!(normalize_path("/%61%2Fb%7e%"), "/a%2Fb~%");
        assert_eq!(normalize_path("/%6"), "/%6");
        assert_eq!(normalize_path("/한국/%41"), "/한국/A");
    }

    #[test]
    fn protected_paths_match_after_normalisation() {
        let r = rules();
        let id = r.event_id;
        for p in [
            format!("/api/v1/events/{id}/holds"),
            format!("/api/v1/events/{id}/holds/"),
            format!("/api/v1/events/{id}/holds/123"),
            format!("/api/v1/events/{id}/reservations?x=1"),
            format!("//api/v1/events/{id}/./reservations"),
            format!("/api/v1/events/{id}/x/../holds"),
            format!("/api/v1/%65vents/{id}/holds"),
        ] {
            assert!(r.path_is_protected(&p), "{p} should be protected");
        }
        for p in [
            "/api/v1/events".to_owned(),
            format!("/api/v1/events/{id}"),
            format!("/api/v1/events/{id}/seats"),
            format!("/API/v1/events/{id}/holds"),
            format!("/api/v1/events/{id}/hold"),
        ] {
            assert!(!r.path_is_protected(&p), "{p} should not be protected");
        }
    }

    #[test]
    fn exact_and_slash_star_patterns() {
        let mut r = rules();
        r.protected_paths = vec!["/checkout".into(), "/admin/*".into()];
        assert!(r.path_is_protected("/checkout"));
        assert!(r.path_is_protected("/checkout/"));
        assert!(!r.path_is_protected("/checkout/x"));
        assert!(r.path_is_protected("/admin"));
        assert!(r.path_is_protected("/admin/"));
        assert!(r.path_is_protected("/admin/users"));
        assert!(!r.path_is_protected("/administrator"));
    }
}
