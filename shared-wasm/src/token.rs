//! Ed25519-signed compact tokens (JWS compact serialisation, `alg = EdDSA`).
//!
//! Every credential that crosses a trust boundary in URR is one of these:
//!
//! | kind     | issued by           | signed with | bound to            | lifetime             |
//! |----------|---------------------|-------------|---------------------|----------------------|
//! | `ticket` | edge, on join       | edge key    | event, visitor      | until the sale ends  |
//! | `pass`   | edge, when served   | edge key    | event, visitor, pos | 10 min, used once    |
//! | `entry`  | origin tier 2       | origin key  | event, user         | 10 min, renewed      |
//! | `access` | origin auth         | origin key  | user, role          | 30 min               |
//! | `rules`  | origin, on change   | origin key  | event               | minutes (push only)  |
//!
//! Rules every verifier applies, in this order, so that the error names the first thing
//! that is wrong:
//! 1. the token is at most [`Kind::max_len`] bytes ([`MAX_TOKEN_LEN`], or
//!    [`MAX_RULES_TOKEN_LEN`] for rules documents) and is a well-formed JWS;
//! 2. the header says `alg = EdDSA` (so `none`, `HS256` and friends never reach a key);
//! 3. the header's `kid` names a key of the verifier's [`KeySet`]: a set, so keys rotate
//!    without downtime (sign with the new key, keep the old public key until its tokens
//!    have expired);
//! 4. the signature verifies;
//! 5. the claims' `typ` is the kind the caller asked for: a pass is never an entry token,
//!    an access token is never anything else;
//! 6. `exp` is in the future and `iat` not in the future, both with
//!    [`CLOCK_SKEW_SECS`] of slack for clocks that disagree a little;
//! 7. for event-bound kinds, [`verify_for_event`] checks the event.
//!
//! The caller passes `now` (Unix seconds): nothing in this crate reads a clock.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::fmt;
use uuid::Uuid;

/// Slack allowed between the signer's and the verifier's clocks, in seconds.
pub const CLOCK_SKEW_SECS: i64 = 30;

/// Longest token any verifier will look at. Ours are ~300 bytes; this bounds the work an
/// attacker can make us do with a huge header.
pub const MAX_TOKEN_LEN: usize = 2048;

/// Longest rules token: a rules document may carry up to 64 KiB of custom HTML, which
/// base64url inflates by a third, plus the rest of the document.
pub const MAX_RULES_TOKEN_LEN: usize = 128 * 1024;

/// What a token is for. Serialised as the `typ` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Tier-1 queue ticket: a visitor's place in the edge queue.
    Ticket,
    /// Tier-1 pass: proof that the edge served this visitor at a position.
    Pass,
    /// Tier-2 entry token: this user may book for this event now.
    Entry,
    /// Origin access token (login session).
    Access,
    /// Payload of an issued ticket's QR code.
    Qr,
    /// A per-event rules document pushed from the origin to the edges.
    Rules,
}

impl Kind {
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Ticket => "ticket",
            Kind::Pass => "pass",
            Kind::Entry => "entry",
            Kind::Access => "access",
            Kind::Qr => "qr",
            Kind::Rules => "rules",
        }
    }

    /// Longest token of this kind a verifier looks at.
    pub const fn max_len(self) -> usize {
        match self {
            Kind::Rules => MAX_RULES_TOKEN_LEN,
            _ => MAX_TOKEN_LEN,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A claims type: its kind is fixed at compile time, so `verify::<EntryClaims>` can only
/// ever return an entry token.
pub trait Claims: Serialize + DeserializeOwned {
    const KIND: Kind;
    /// `exp`, Unix seconds.
    fn expires_at(&self) -> i64;
    /// `iat`, Unix seconds.
    fn issued_at(&self) -> i64;
}

/// Claims that name the event they are valid for.
pub trait EventBound {
    fn event_id(&self) -> Uuid;
}

/// Tier-1 queue ticket, handed out by the edge on join.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketClaims {
    /// Event id.
    pub evt: Uuid,
    /// Visitor id chosen by the edge (never by the client).
    pub sub: String,
    /// Join sequence number, 1-based. In FIFO mode it is the position; in random mode
    /// the position is a keyed permutation of it.
    pub seq: u64,
    pub iat: i64,
    pub exp: i64,
}

/// Tier-1 pass: the edge served this visitor; tier 2 orders users by `pos`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassClaims {
    pub evt: Uuid,
    pub sub: String,
    /// Tier-1 position; the origin's tier-2 score (never a client-supplied number).
    pub pos: u64,
    /// Unique id; the origin consumes each pass once.
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// Tier-2 entry token: the bearer (user `sub`) may book for event `evt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryClaims {
    pub evt: Uuid,
    pub sub: Uuid,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
}

/// Account roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Fan,
    Promoter,
    /// Door staff: checks tickets in at the events a promoter assigned them to.
    Staff,
    Admin,
}

impl Role {
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Fan => "fan",
            Role::Promoter => "promoter",
            Role::Staff => "staff",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "fan" => Some(Role::Fan),
            "staff" => Some(Role::Staff),
            "promoter" => Some(Role::Promoter),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// Origin access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub role: Role,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// The login session (refresh-token family) the token was issued for; revoking the
    /// session (logout, role change) refuses its access tokens within seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}

/// Payload of a ticket's QR code: checked at the venue door with the origin public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QrClaims {
    pub evt: Uuid,
    /// Ticket id.
    pub tid: Uuid,
    /// Human-readable ticket code printed under the QR code.
    pub code: String,
    pub iat: i64,
    pub exp: i64,
}

/// A rules document signed by the origin for the edges (`PUT /__urr/rules/{event}`).
///
/// The edge verifies it with the **origin** public key set, then checks that `evt`
/// equals both the event in the path and `rules.event_id`, validates the rules and
/// keeps them only if they are newer than what it has (see [`crate::edge`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RulesClaims {
    pub evt: Uuid,
    pub rules: crate::rules::EdgeRules,
    /// The event's display name for the waiting page (at most 200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    /// The random draw's seed (64 hex digits), revealed to the edge with a push at or
    /// before the opening; it must match `rules.draw_seed_commitment`. The edge
    /// publishes it only once the sale is open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draw_seed: Option<String>,
    pub iat: i64,
    pub exp: i64,
}

macro_rules! impl_claims {
    ($ty:ty, $kind:expr) => {
        impl Claims for $ty {
            const KIND: Kind = $kind;
            fn expires_at(&self) -> i64 {
                self.exp
            }
            fn issued_at(&self) -> i64 {
                self.iat
            }
        }
    };
}

impl_claims!(TicketClaims, Kind::Ticket);
impl_claims!(PassClaims, Kind::Pass);
impl_claims!(EntryClaims, Kind::Entry);
impl_claims!(AccessClaims, Kind::Access);
impl_claims!(QrClaims, Kind::Qr);
impl_claims!(RulesClaims, Kind::Rules);

macro_rules! impl_event_bound {
    ($($ty:ty),*) => {$(
        impl EventBound for $ty {
            fn event_id(&self) -> Uuid {
                self.evt
            }
        }
    )*};
}

impl_event_bound!(TicketClaims, PassClaims, EntryClaims, QrClaims, RulesClaims);

/// Why a token was refused. [`TokenError::code`] is stable and ends up in problem+json.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("token is malformed")]
    Malformed,
    #[error("token algorithm is not EdDSA")]
    Algorithm,
    #[error("token is signed with an unknown key")]
    UnknownKey,
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token is a {found} token, expected {expected}")]
    WrongKind { expected: Kind, found: Kind },
    #[error("token has expired")]
    Expired,
    #[error("token is issued in the future")]
    NotYetValid,
    #[error("token is for another event")]
    WrongEvent,
}

impl TokenError {
    pub const fn code(&self) -> &'static str {
        match self {
            TokenError::Malformed => "TOKEN_MALFORMED",
            TokenError::Algorithm => "TOKEN_ALGORITHM",
            TokenError::UnknownKey => "TOKEN_UNKNOWN_KEY",
            TokenError::BadSignature => "TOKEN_BAD_SIGNATURE",
            TokenError::WrongKind { .. } => "TOKEN_WRONG_TYPE",
            TokenError::Expired => "TOKEN_EXPIRED",
            TokenError::NotYetValid => "TOKEN_NOT_YET_VALID",
            TokenError::WrongEvent => "TOKEN_WRONG_EVENT",
        }
    }
}

/// A key specification could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key spec must look like `<kid>:<base64url 32 bytes>`")]
    Format,
    #[error("key id must be 1-32 characters of A-Z, a-z, 0-9, `-`, `_`")]
    Kid,
    #[error("key material must be 32 bytes of unpadded base64url")]
    Material,
    #[error("key set is empty")]
    Empty,
    #[error("key id `{0}` appears twice in the key set")]
    DuplicateKid(String),
}

fn check_kid(kid: &str) -> Result<(), KeyError> {
    let ok = (1..=32).contains(&kid.len())
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok { Ok(()) } else { Err(KeyError::Kid) }
}

fn split_spec(spec: &str) -> Result<(&str, [u8; 32]), KeyError> {
    let (kid, material) = spec.trim().split_once(':').ok_or(KeyError::Format)?;
    check_kid(kid)?;
    let bytes = URL_SAFE_NO_PAD
        .decode(material)
        .map_err(|_| KeyError::Material)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::Material)?;
    Ok((kid, bytes))
}

/// Formats `kid:base64url(bytes)`, the spec string that [`SigningKey::parse`] and
/// [`PublicKey::parse`] read back.
pub fn format_key_spec(kid: &str, bytes: &[u8; 32]) -> String {
    format!("{kid}:{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A private Ed25519 key with its key id. Only its owner holds it: the edge its edge key,
/// the origin its origin key.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    encoding: EncodingKey,
    public: [u8; 32],
    /// HMAC-SHA256(seed, "urr/derive/v1"): the root of [`SigningKey::derive_secret`], so
    /// the seed itself is not kept beside the encoding key.
    derive_root: [u8; 32],
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Builds a key from a 32-byte Ed25519 seed.
    pub fn from_seed(kid: &str, seed: [u8; 32]) -> Result<Self, KeyError> {
        check_kid(kid)?;
        let secret = ed25519_dalek::SigningKey::from_bytes(&seed);
        let der = secret.to_pkcs8_der().map_err(|_| KeyError::Material)?;
        Ok(SigningKey {
            kid: kid.to_owned(),
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            public: secret.verifying_key().to_bytes(),
            derive_root: hmac_sha256(&seed, b"urr/derive/v1"),
        })
    }

    /// A 32-byte symmetric secret for `context`, derived from this key's seed (HMAC-SHA256):
    /// the edge MACs short-lived values it hands out and takes back (proof-of-work
    /// challenges) without a second configured secret. Different contexts give
    /// independent secrets; nobody without the private key can compute them.
    pub fn derive_secret(&self, context: &str) -> [u8; 32] {
        hmac_sha256(&self.derive_root, context.as_bytes())
    }

    /// Parses `kid:base64url(seed)`.
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let (kid, seed) = split_spec(spec)?;
        Self::from_seed(kid, seed)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey {
            kid: self.kid.clone(),
            bytes: self.public,
        }
    }
}

fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    m.update(message);
    m.finalize().into_bytes().into()
}

/// A public Ed25519 key with its key id; the `Display` form is the spec string.
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    kid: String,
    bytes: [u8; 32],
}

impl PublicKey {
    /// Parses `kid:base64url(public key)`.
    pub fn parse(spec: &str) -> Result<Self, KeyError> {
        let (kid, bytes) = split_spec(spec)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::Material)?;
        Ok(PublicKey {
            kid: kid.to_owned(),
            bytes,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_key_spec(&self.kid, &self.bytes))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// The public keys a verifier trusts, by key id.
#[derive(Clone)]
pub struct KeySet {
    keys: Vec<(PublicKey, DecodingKey)>,
}

impl fmt::Debug for KeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(k, _)| k.kid()))
            .finish()
    }
}

impl KeySet {
    pub fn new(keys: impl IntoIterator<Item = PublicKey>) -> Result<Self, KeyError> {
        let mut set: Vec<(PublicKey, DecodingKey)> = Vec::new();
        for key in keys {
            if set.iter().any(|(k, _)| k.kid == key.kid) {
                return Err(KeyError::DuplicateKid(key.kid));
            }
            let decoding = DecodingKey::from_ed_der(&key.bytes);
            set.push((key, decoding));
        }
        if set.is_empty() {
            return Err(KeyError::Empty);
        }
        Ok(KeySet { keys: set })
    }

    /// Parses a comma-separated list of `kid:base64url(public key)`.
    pub fn parse(list: &str) -> Result<Self, KeyError> {
        let keys = list
            .split(',')
            .filter(|s| !s.trim().is_empty())
            .map(PublicKey::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(keys)
    }

    pub fn keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.iter().map(|(k, _)| k)
    }

    /// The comma-separated spec string, readable by [`KeySet::parse`].
    pub fn to_spec(&self) -> String {
        self.keys()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    fn decoding_key(&self, kid: &str) -> Option<&DecodingKey> {
        self.keys.iter().find(|(k, _)| k.kid == kid).map(|(_, d)| d)
    }
}

#[derive(Serialize)]
struct Signed<'a, C> {
    typ: Kind,
    #[serde(flatten)]
    claims: &'a C,
}

/// Signs `claims` as a token of kind `C::KIND` with `key`.
pub fn sign<C: Claims>(key: &SigningKey, claims: &C) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    let signed = Signed {
        typ: C::KIND,
        claims,
    };
    // Encoding can only fail on a bad key or claims that do not serialise; the key was
    // checked when it was built and every claims type is plain data.
    jsonwebtoken::encode(&header, &signed, &key.encoding)
        .expect("EdDSA signing with a validated key cannot fail")
}

#[derive(Deserialize)]
struct Envelope {
    typ: Kind,
    iat: i64,
    exp: i64,
}

/// Verifies `token` as a `C` (see the module docs for the checks, in order).
/// The `kid` of a token's header, read without verifying anything. Use it only on a
/// token that [`verify`] has accepted (e.g. to keep apart what several keys issued).
pub fn key_id(token: &str) -> Option<String> {
    jsonwebtoken::decode_header(token).ok()?.kid
}

pub fn verify<C: Claims>(keys: &KeySet, token: &str, now: i64) -> Result<C, TokenError> {
    if token.len() > C::KIND.max_len() || token.bytes().filter(|b| *b == b'.').count() != 2 {
        return Err(TokenError::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != Algorithm::EdDSA {
        return Err(TokenError::Algorithm);
    }
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    let key = keys.decoding_key(&kid).ok_or(TokenError::UnknownKey)?;

    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let data =
        jsonwebtoken::decode::<serde_json::Value>(token, key, &validation).map_err(|e| match e
            .kind()
        {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::BadSignature,
            _ => TokenError::Malformed,
        })?;

    let envelope: Envelope =
        serde_json::from_value(data.claims.clone()).map_err(|_| TokenError::Malformed)?;
    if envelope.typ != C::KIND {
        return Err(TokenError::WrongKind {
            expected: C::KIND,
            found: envelope.typ,
        });
    }
    if envelope.exp <= now - CLOCK_SKEW_SECS {
        return Err(TokenError::Expired);
    }
    if envelope.iat > now + CLOCK_SKEW_SECS {
        return Err(TokenError::NotYetValid);
    }
    serde_json::from_value(data.claims).map_err(|_| TokenError::Malformed)
}

/// [`verify`], then checks that the token names `event`.
pub fn verify_for_event<C: Claims + EventBound>(
    keys: &KeySet,
    token: &str,
    event: Uuid,
    now: i64,
) -> Result<C, TokenError> {
    let claims = verify::<C>(keys, token, now)?;
    if claims.event_id() != event {
        return Err(TokenError::WrongEvent);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kid: &str, byte: u8) -> SigningKey {
        SigningKey::from_seed(kid, [byte; 32]).expect("valid key")
    }

    #[test]
    fn key_specs_round_trip() {
        let k = key("k1", 7);
        let spec = k.public_key().to_string();
        assert_eq!(PublicKey::parse(&spec).expect("parses"), k.public_key());
        let private = format_key_spec("k1", &[7; 32]);
        assert_eq!(
            SigningKey::parse(&private).expect("parses").public_key(),
            k.public_key()
        );
        assert!(matches!(SigningKey::parse("k1"), Err(KeyError::Format)));
    }

    #[test]
    fn bad_specs_are_refused() {
        assert_eq!(PublicKey::parse("nokid").unwrap_err(), KeyError::Format);
        assert_eq!(PublicKey::parse("bad kid:AAAA").unwrap_err(), KeyError::Kid);
        assert_eq!(PublicKey::parse("k:AAAA").unwrap_err(), KeyError::Material);
        assert_eq!(KeySet::parse("").unwrap_err(), KeyError::Empty);
        let p = key("k", 1).public_key().to_string();
        assert_eq!(
            KeySet::parse(&format!("{p},{p}")).unwrap_err(),
            KeyError::DuplicateKid("k".into())
        );
    }

    #[test]
    fn alg_none_and_hs256_are_refused_before_any_key_lookup() {
        let keys = KeySet::new([key("k", 1).public_key()]).expect("set");
        let claims = r#"{"typ":"access","sub":"00000000-0000-0000-0000-000000000000","role":"admin","jti":"x","iat":0,"exp":99999999999}"#;
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k"}"#),
            URL_SAFE_NO_PAD.encode(claims)
        );
        assert_eq!(
            verify::<AccessClaims>(&keys, &none, 0).unwrap_err(),
            TokenError::Malformed
        );
        let hs = jsonwebtoken::encode(
            &Header {
                kid: Some("k".into()),
                ..Header::new(Algorithm::HS256)
            },
            &serde_json::from_str::<serde_json::Value>(claims).expect("json"),
            &EncodingKey::from_secret(b"guessable"),
        )
        .expect("hs256");
        assert_eq!(
            verify::<AccessClaims>(&keys, &hs, 0).unwrap_err(),
            TokenError::Algorithm
        );
    }
}
