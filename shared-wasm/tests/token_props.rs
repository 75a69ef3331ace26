//! Property tests for `shared_wasm::token`: whatever the claims, a token only ever
//! verifies as exactly what it was signed as.

use proptest::prelude::*;
use shared_wasm::token::{
    self, AccessClaims, CLOCK_SKEW_SECS, EntryClaims, KeySet, Kind, MAX_RULES_TOKEN_LEN,
    MAX_TOKEN_LEN, PassClaims, Role, RulesClaims, SigningKey, TicketClaims, TokenError,
};
use uuid::Uuid;

const NOW: i64 = 1_800_000_000;

fn signing(kid: &str, seed: u8) -> SigningKey {
    SigningKey::from_seed(kid, [seed; 32]).expect("valid key")
}

fn uuid_strategy() -> impl Strategy<Value = Uuid> {
    any::<u128>().prop_map(Uuid::from_u128)
}

#[derive(Debug, Clone)]
struct Common {
    evt: Uuid,
    user: Uuid,
    visitor: String,
    n: u64,
    iat: i64,
    ttl: i64,
}

fn common() -> impl Strategy<Value = Common> {
    (
        uuid_strategy(),
        uuid_strategy(),
        "[a-z0-9]{1,24}",
        1u64..10_000_000,
        (NOW - 600)..=NOW,
        (CLOCK_SKEW_SECS + 601)..86_400,
    )
        .prop_map(|(evt, user, visitor, n, iat, ttl)| Common {
            evt,
            user,
            visitor,
            n,
            iat,
            ttl,
        })
}

/// One token of each kind from the same inputs.
fn all_kinds(key: &SigningKey, c: &Common) -> Vec<(Kind, String)> {
    let exp = c.iat + c.ttl;
    vec![
        (
            Kind::Ticket,
            token::sign(
                key,
                &TicketClaims {
                    evt: c.evt,
                    sub: c.visitor.clone(),
                    seq: c.n,
                    iat: c.iat,
                    exp,
                },
            ),
        ),
        (
            Kind::Pass,
            token::sign(
                key,
                &PassClaims {
                    evt: c.evt,
                    sub: c.visitor.clone(),
                    pos: c.n,
                    jti: format!("j{}", c.n),
                    iat: c.iat,
                    exp,
                },
            ),
        ),
        (
            Kind::Entry,
            token::sign(
                key,
                &EntryClaims {
                    evt: c.evt,
                    sub: c.user,
                    jti: format!("j{}", c.n),
                    iat: c.iat,
                    exp,
                },
            ),
        ),
        (
            Kind::Access,
            token::sign(
                key,
                &AccessClaims {
                    sub: c.user,
                    role: Role::Fan,
                    jti: format!("j{}", c.n),
                    iat: c.iat,
                    exp,
                    sid: None,
                },
            ),
        ),
    ]
}

/// Verifies `t` as every kind; returns which kinds accepted it.
fn accepted_as(keys: &KeySet, t: &str, now: i64) -> Vec<Kind> {
    let mut ok = Vec::new();
    if token::verify::<TicketClaims>(keys, t, now).is_ok() {
        ok.push(Kind::Ticket);
    }
    if token::verify::<PassClaims>(keys, t, now).is_ok() {
        ok.push(Kind::Pass);
    }
    if token::verify::<EntryClaims>(keys, t, now).is_ok() {
        ok.push(Kind::Entry);
    }
    if token::verify::<AccessClaims>(keys, t, now).is_ok() {
        ok.push(Kind::Access);
    }
    ok
}

proptest! {
    #[test]
    fn a_token_verifies_as_its_own_kind_only(c in common()) {
        let key = signing("k1", 1);
        let keys = KeySet::new([key.public_key()]).expect("set");
        for (kind, t) in all_kinds(&key, &c) {
            prop_assert_eq!(accepted_as(&keys, &t, NOW), vec![kind]);
        }
    }

    #[test]
    fn wrong_kind_is_named(c in common()) {
        let key = signing("k1", 1);
        let keys = KeySet::new([key.public_key()]).expect("set");
        let tokens = all_kinds(&key, &c);
        let pass = &tokens[1].1;
        prop_assert_eq!(
            token::verify::<EntryClaims>(&keys, pass, NOW).unwrap_err(),
            TokenError::WrongKind { expected: Kind::Entry, found: Kind::Pass }
        );
    }

    #[test]
    fn an_event_bound_token_never_verifies_for_another_event(c in common(), other in uuid_strategy()) {
        prop_assume!(other != c.evt);
        let key = signing("k1", 1);
        let keys = KeySet::new([key.public_key()]).expect("set");
        let tokens = all_kinds(&key, &c);
        let entry = &tokens[2].1;
        prop_assert!(token::verify_for_event::<EntryClaims>(&keys, entry, c.evt, NOW).is_ok());
        prop_assert_eq!(
            token::verify_for_event::<EntryClaims>(&keys, entry, other, NOW).unwrap_err(),
            TokenError::WrongEvent
        );
        let pass = &tokens[1].1;
        prop_assert_eq!(
            token::verify_for_event::<PassClaims>(&keys, pass, other, NOW).unwrap_err(),
            TokenError::WrongEvent
        );
    }

    #[test]
    fn any_tampered_byte_is_rejected(c in common(), pick in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let key = signing("k1", 1);
        let keys = KeySet::new([key.public_key()]).expect("set");
        for (_, t) in all_kinds(&key, &c) {
            let mut bytes = t.clone().into_bytes();
            let i = pick.index(bytes.len());
            bytes[i] ^= flip;
            // Flipping may produce invalid UTF-8; such a token cannot even be presented.
            if let Ok(tampered) = String::from_utf8(bytes) {
                prop_assume!(tampered != t);
                prop_assert!(accepted_as(&keys, &tampered, NOW).is_empty(), "tampered token accepted");
            }
        }
    }

    #[test]
    fn expired_tokens_are_rejected_beyond_the_skew(c in common(), late in 0i64..100_000) {
        let key = signing("k1", 1);
        let keys = KeySet::new([key.public_key()]).expect("set");
        let exp = c.iat + c.ttl;
        let after = exp + CLOCK_SKEW_SECS + late;
        for (_, t) in all_kinds(&key, &c) {
            prop_assert!(accepted_as(&keys, &t, after).is_empty());
        }
        let tokens = all_kinds(&key, &c);
        prop_assert_eq!(
            token::verify::<EntryClaims>(&keys, &tokens[2].1, after).unwrap_err(),
            TokenError::Expired
        );
        // Inside the skew window the token is still good.
        prop_assert!(token::verify::<EntryClaims>(&keys, &tokens[2].1, exp + CLOCK_SKEW_SECS - 1).is_ok());
    }

    #[test]
    fn unknown_kid_and_foreign_keys_are_rejected(c in common()) {
        let signer = signing("k1", 1);
        let tokens = all_kinds(&signer, &c);
        // Same kid, different key material: the signature fails.
        let impostor = KeySet::new([signing("k1", 2).public_key()]).expect("set");
        // Different kid: rejected before any signature check.
        let other_kid = KeySet::new([signing("k2", 1).public_key()]).expect("set");
        for (_, t) in &tokens {
            prop_assert_eq!(token::verify::<EntryClaims>(&impostor, t, NOW).unwrap_err(), TokenError::BadSignature);
            prop_assert_eq!(token::verify::<EntryClaims>(&other_kid, t, NOW).unwrap_err(), TokenError::UnknownKey);
        }
    }

    #[test]
    fn rotation_keeps_old_tokens_valid_while_the_old_key_is_in_the_set(c in common()) {
        let old = signing("2026a", 1);
        let new = signing("2026b", 2);
        let keys = KeySet::new([new.public_key(), old.public_key()]).expect("set");
        let from_old = all_kinds(&old, &c);
        let from_new = all_kinds(&new, &c);
        for ((kind, a), (_, b)) in from_old.iter().zip(&from_new) {
            prop_assert_eq!(accepted_as(&keys, a, NOW), vec![*kind]);
            prop_assert_eq!(accepted_as(&keys, b, NOW), vec![*kind]);
        }
        let only_new = KeySet::new([new.public_key()]).expect("set");
        prop_assert!(accepted_as(&only_new, &from_old[0].1, NOW).is_empty());
    }

    #[test]
    fn garbage_never_verifies(s in ".{0,400}") {
        let keys = KeySet::new([signing("k1", 1).public_key()]).expect("set");
        prop_assert!(accepted_as(&keys, &s, NOW).is_empty());
    }
}

#[test]
fn a_token_from_the_future_is_rejected() {
    let key = signing("k1", 1);
    let keys = KeySet::new([key.public_key()]).expect("set");
    let t = token::sign(
        &key,
        &EntryClaims {
            evt: Uuid::nil(),
            sub: Uuid::nil(),
            jti: "j".into(),
            iat: NOW + CLOCK_SKEW_SECS + 1,
            exp: NOW + 600,
        },
    );
    assert_eq!(
        token::verify::<EntryClaims>(&keys, &t, NOW).unwrap_err(),
        TokenError::NotYetValid
    );
}

#[test]
fn oversized_tokens_are_rejected_unparsed() {
    let keys = KeySet::new([signing("k1", 1).public_key()]).expect("set");
    let huge = format!("{}.{}.{}", "a".repeat(2000), "b".repeat(2000), "c");
    assert_eq!(
        token::verify::<EntryClaims>(&keys, &huge, NOW).unwrap_err(),
        TokenError::Malformed
    );
}

fn rules_token(key: &SigningKey, c: &Common) -> String {
    let mut rules = shared_wasm::rules::EdgeRules::default_for(c.evt, c.iat + 3_600);
    rules.version = c.n;
    token::sign(
        key,
        &RulesClaims {
            evt: c.evt,
            rules,
            event_name: Some(format!("event {}", c.visitor)),
            draw_seed: None,
            iat: c.iat,
            exp: c.iat + c.ttl,
        },
    )
}

proptest! {
    /// A rules token (signed with the origin key, like entry and access tokens) is only
    /// ever a rules token, and no other kind ever passes as one.
    #[test]
    fn a_rules_token_verifies_as_rules_only_and_vice_versa(c in common()) {
        let key = signing("origin", 1);
        let keys = KeySet::new([key.public_key()]).expect("set");
        let rules = rules_token(&key, &c);
        prop_assert!(accepted_as(&keys, &rules, NOW).is_empty());
        prop_assert_eq!(
            token::verify::<EntryClaims>(&keys, &rules, NOW).unwrap_err(),
            TokenError::WrongKind { expected: Kind::Entry, found: Kind::Rules }
        );
        let claims = token::verify_for_event::<RulesClaims>(&keys, &rules, c.evt, NOW).expect("rules verify");
        prop_assert_eq!(claims.rules.version, c.n);
        for (kind, t) in all_kinds(&key, &c) {
            prop_assert_eq!(
                token::verify::<RulesClaims>(&keys, &t, NOW).unwrap_err(),
                TokenError::WrongKind { expected: Kind::Rules, found: kind }
            );
        }
    }
}

#[test]
fn rules_tokens_may_be_large_but_not_unbounded() {
    let key = signing("origin", 1);
    let keys = KeySet::new([key.public_key()]).expect("set");
    let evt = Uuid::from_u128(7);
    let mut rules = shared_wasm::rules::EdgeRules::default_for(evt, NOW);
    rules.template.custom_html = Some("<p>x</p>".repeat(8_000));
    let claims = RulesClaims {
        evt,
        rules,
        event_name: None,
        draw_seed: None,
        iat: NOW,
        exp: NOW + 300,
    };
    let t = token::sign(&key, &claims);
    assert!(t.len() > MAX_TOKEN_LEN);
    assert_eq!(token::verify::<RulesClaims>(&keys, &t, NOW), Ok(claims));
    let huge = format!("{}.{}.c", "a".repeat(MAX_RULES_TOKEN_LEN), "b");
    assert_eq!(
        token::verify::<RulesClaims>(&keys, &huge, NOW).unwrap_err(),
        TokenError::Malformed
    );
}
