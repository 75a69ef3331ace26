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
//!
//! # Why not a JWT library
//!
//! These functions run on every status poll at the edge and every request at the
//! origin, so they do the minimum: keys are parsed once (the Ed25519 signing key and
//! each verifying key are kept decoded, never rebuilt from PKCS#8 or DER per call), the
//! encoded header of each signing key is computed once, a token's header and payload are
//! each decoded and parsed exactly once, and nothing is cloned between the envelope
//! checks and the claims. The format is plain JWS compact serialisation, so any JWT
//! library reads and writes the same tokens (the tests cross-check with
//! `jsonwebtoken`).

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, Verifier};
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
    signing: ed25519_dalek::SigningKey,
    /// `base64url({"typ":"JWT","alg":"EdDSA","kid":…})`, the same for every token.
    header_b64: String,
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
        let header = serde_json::to_vec(&HeaderOut {
            typ: "JWT",
            alg: "EdDSA",
            kid,
        })
        .map_err(|_| KeyError::Material)?;
        Ok(SigningKey {
            kid: kid.to_owned(),
            header_b64: URL_SAFE_NO_PAD.encode(header),
            public: secret.verifying_key().to_bytes(),
            signing: secret,
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
    keys: Vec<(PublicKey, ed25519_dalek::VerifyingKey)>,
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
        let mut set: Vec<(PublicKey, ed25519_dalek::VerifyingKey)> = Vec::new();
        for key in keys {
            if set.iter().any(|(k, _)| k.kid == key.kid) {
                return Err(KeyError::DuplicateKid(key.kid));
            }
            // Decompressed once here, not on every verification.
            let verifying = ed25519_dalek::VerifyingKey::from_bytes(&key.bytes)
                .map_err(|_| KeyError::Material)?;
            set.push((key, verifying));
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

    fn verifying_key(&self, kid: &str) -> Option<&ed25519_dalek::VerifyingKey> {
        self.keys.iter().find(|(k, _)| k.kid == kid).map(|(_, v)| v)
    }
}

#[derive(Serialize)]
struct Signed<'a, C> {
    typ: Kind,
    #[serde(flatten)]
    claims: &'a C,
}

#[derive(Serialize)]
struct HeaderOut<'a> {
    typ: &'a str,
    alg: &'a str,
    kid: &'a str,
}

#[derive(Deserialize)]
struct HeaderIn {
    alg: String,
    kid: Option<String>,
}

/// Signs `claims` as a token of kind `C::KIND` with `key`.
pub fn sign<C: Claims>(key: &SigningKey, claims: &C) -> String {
    let signed = Signed {
        typ: C::KIND,
        claims,
    };
    // Serialising can only fail for claims that are not plain data; every claims type
    // is a struct of strings, numbers and ids.
    let payload = serde_json::to_vec(&signed).expect("claims serialise to JSON");
    let mut token = String::with_capacity(key.header_b64.len() + payload.len() * 4 / 3 + 92);
    token.push_str(&key.header_b64);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
    let signature = key.signing.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(signature.to_bytes(), &mut token);
    token
}

/// The three parts of a compact JWS, split without decoding anything.
fn parts(token: &str) -> Option<(&str, &str, &str)> {
    let (signing_input, signature) = token.rsplit_once('.')?;
    let (header, payload) = signing_input.split_once('.')?;
    Some((header, payload, signature))
}

fn header_of(header_b64: &str) -> Result<HeaderIn, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(header_b64)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// The `kid` of a token's header, read without verifying anything. Use it only on a
/// token that [`verify`] has accepted (e.g. to keep apart what several keys issued).
pub fn key_id(token: &str) -> Option<String> {
    header_of(parts(token)?.0).ok()?.kid
}

/// Verifies `token` as a `C` (see the module docs for the checks, in order).
pub fn verify<C: Claims>(keys: &KeySet, token: &str, now: i64) -> Result<C, TokenError> {
    if token.len() > C::KIND.max_len() || token.bytes().filter(|b| *b == b'.').count() != 2 {
        return Err(TokenError::Malformed);
    }
    let (header_b64, payload_b64, signature_b64) = parts(token).ok_or(TokenError::Malformed)?;
    let header = header_of(header_b64)?;
    if header.alg != "EdDSA" {
        return Err(TokenError::Algorithm);
    }
    let kid = header.kid.ok_or(TokenError::UnknownKey)?;
    let key = keys.verifying_key(&kid).ok_or(TokenError::UnknownKey)?;
    let mut signature = [0u8; 64];
    match URL_SAFE_NO_PAD.decode_slice(signature_b64, &mut signature) {
        Ok(64) => {}
        _ => return Err(TokenError::Malformed),
    }
    let signing_input = &token[..header_b64.len() + 1 + payload_b64.len()];
    key.verify(
        signing_input.as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&signature),
    )
    .map_err(|_| TokenError::BadSignature)?;

    let payload = URL_SAFE_NO_PAD
        .decode(payload_b64)
        .map_err(|_| TokenError::Malformed)?;
    let claims: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|_| TokenError::Malformed)?;
    let field = |name: &str| claims.get(name).ok_or(TokenError::Malformed);
    let typ = Kind::deserialize(field("typ")?).map_err(|_| TokenError::Malformed)?;
    let exp = field("exp")?.as_i64().ok_or(TokenError::Malformed)?;
    let iat = field("iat")?.as_i64().ok_or(TokenError::Malformed)?;
    if typ != C::KIND {
        return Err(TokenError::WrongKind {
            expected: C::KIND,
            found: typ,
        });
    }
    if exp <= now - CLOCK_SKEW_SECS {
        return Err(TokenError::Expired);
    }
    if iat > now + CLOCK_SKEW_SECS {
        return Err(TokenError::NotYetValid);
    }
    C::deserialize(claims).map_err(|_| TokenError::Malformed)
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
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    use jsonwebtoken::{Algorithm, EncodingKey, Header};

    fn key(kid: &str, byte: u8) -> SigningKey {
        SigningKey::from_seed(kid, [byte; 32]).expect("valid key")
    }

    #[test]
    fn tokens_are_plain_jws_that_a_jwt_library_reads_and_writes() {
        let k = key("k1", 7);
        let keys = KeySet::new([k.public_key()]).expect("keys");
        let claims = EntryClaims {
            evt: Uuid::from_u128(1),
            sub: Uuid::from_u128(2),
            jti: "j".into(),
            iat: 1_000,
            exp: 2_000,
        };
        // Ours, read by jsonwebtoken.
        let ours = sign(&k, &claims);
        let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        validation.validate_exp = false;
        validation.required_spec_claims.clear();
        let theirs_view = jsonwebtoken::decode::<serde_json::Value>(
            &ours,
            &jsonwebtoken::DecodingKey::from_ed_der(k.public_key().bytes()),
            &validation,
        )
        .expect("a JWT library verifies our token");
        assert_eq!(theirs_view.claims["typ"], "entry");
        assert_eq!(theirs_view.header.kid.as_deref(), Some("k1"));
        assert_eq!(key_id(&ours).as_deref(), Some("k1"));
        // Theirs, verified by us.
        let der = ed25519_dalek::SigningKey::from_bytes(&[7; 32])
            .to_pkcs8_der()
            .expect("pkcs8");
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some("k1".into());
        let theirs = jsonwebtoken::encode(
            &header,
            &Signed {
                typ: Kind::Entry,
                claims: &claims,
            },
            &EncodingKey::from_ed_der(der.as_bytes()),
        )
        .expect("encode");
        assert_eq!(
            verify::<EntryClaims>(&keys, &theirs, 1_500),
            Ok(claims.clone())
        );
        assert_eq!(verify::<EntryClaims>(&keys, &ours, 1_500), Ok(claims));
        // A flipped signature bit, a payload swapped under the signature, truncation.
        let mut bad = ours.clone().into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(bad).expect("ascii");
        assert_eq!(
            verify::<EntryClaims>(&keys, &bad, 1_500),
            Err(TokenError::BadSignature)
        );
        let (h, _, sig) = parts(&ours).expect("parts");
        let forged_payload = URL_SAFE_NO_PAD.encode(br#"{"typ":"entry","iat":1000,"exp":9999}"#);
        let swapped = format!("{h}.{forged_payload}.{sig}");
        assert_eq!(
            verify::<EntryClaims>(&keys, &swapped, 1_500),
            Err(TokenError::BadSignature)
        );
        let short = &ours[..ours.len() - 10];
        assert_eq!(
            verify::<EntryClaims>(&keys, short, 1_500),
            Err(TokenError::Malformed)
        );
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
        // `none` is read as what it is: the wrong algorithm.
        assert_eq!(
            verify::<AccessClaims>(&keys, &none, 0).unwrap_err(),
            TokenError::Algorithm
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
