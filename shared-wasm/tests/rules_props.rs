//! Property tests for `shared_wasm::rules`: valid rules validate and survive JSON, each
//! targeted mutation is refused naming exactly the broken field, versions order, phases
//! advance, and protected paths cannot be dodged by spelling.

use proptest::prelude::*;
use shared_wasm::queue::{ServingAnchor, seed_commitment};
use shared_wasm::rules::{
    Challenge, EdgeRules, MAX_UNIX_SECS, Method, Mode, Phase, PresaleOpening, PresaleTier,
    RuleError, WaitingRoomTemplate,
};
use uuid::Uuid;

fn event_id() -> impl Strategy<Value = Uuid> {
    (1u128..).prop_map(Uuid::from_u128)
}

fn title() -> impl Strategy<Value = String> {
    "[가-힣A-Za-z0-9][가-힣A-Za-z0-9 !.,'-]{0,60}"
}

fn message() -> impl Strategy<Value = String> {
    "[가-힣A-Za-z0-9][가-힣A-Za-z0-9 !.,]{0,80}(\n[가-힣A-Za-z0-9 .]{0,40}){0,4}"
}

fn logo_url() -> impl Strategy<Value = String> {
    prop_oneof![
        "https://[a-z]{1,12}\\.[a-z]{2,4}(/[a-z0-9_-]{1,10}){0,3}(\\.png)?",
        "/[a-z0-9]{1,10}(/[a-z0-9._-]{1,10}){0,3}",
    ]
}

fn template() -> impl Strategy<Value = WaitingRoomTemplate> {
    (
        title(),
        title(),
        message(),
        message(),
        prop::option::of("#[0-9a-fA-F]{6}"),
        prop::option::of(logo_url()),
        prop::option::of("<main><h1>[a-z ]{1,40}</h1></main>"),
    )
        .prop_map(
            |(title_ko, title_en, message_ko, message_en, brand_color, logo_url, custom_html)| {
                WaitingRoomTemplate {
                    title_ko,
                    title_en,
                    message_ko,
                    message_en,
                    brand_color,
                    logo_url,
                    custom_html,
                }
            },
        )
}

/// A valid pattern: 1-6 segments, optionally a trailing `/`, optionally a trailing `*`.
/// Built from sampled segments rather than a regex: generation is the bulk of these
/// tests' time in an unoptimised build.
fn path_pattern() -> impl Strategy<Value = String> {
    const SEGMENTS: &[&str] = &[
        "api",
        "v1",
        "events",
        "holds",
        "reservations",
        "0190b7d4-5a6e",
        "seats",
        "a",
        "b-c",
        "x_y",
        "42",
    ];
    (
        prop::collection::vec(prop::sample::select(SEGMENTS), 1..=6),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(segments, slash, star)| {
            let mut p = String::new();
            for s in segments {
                p.push('/');
                p.push_str(s);
            }
            if slash {
                p.push('/');
            }
            if star {
                p.push('*');
            }
            p
        })
}

/// Rules that satisfy every validation rule.
fn valid_rules() -> impl Strategy<Value = EdgeRules> {
    let modes = prop_oneof![
        Just(Mode::Queue),
        Just(Mode::Passthrough),
        Just(Mode::Reject),
        Just(Mode::Maintenance),
    ];
    let methods = prop_oneof![Just(Method::Fifo), Just(Method::Random)];
    (
        (event_id(), 1u64..=u64::MAX, modes, methods),
        (
            1_000_000_000i64..2_000_000_000,
            prop::option::of(1i64..=30 * 86_400),
            prop::option::of(1i64..=30 * 86_400),
        ),
        (1u32..=1_000_000, 1u32..=1_000_000, 60u32..=3_600),
        prop::collection::vec(path_pattern(), 0..=32),
        template(),
        any::<[u8; 32]>(),
        any::<bool>(),
    )
        .prop_map(
            |(
                (event_id, version, mode, method),
                (sale_opens_at, pre_lead, close_after),
                (new_users_per_minute, max_active, active_slot_secs),
                protected_paths,
                template,
                seed,
                commit_anyway,
            )| {
                let random = method == Method::Random;
                let pre_lead = if random {
                    pre_lead.or(Some(300))
                } else {
                    pre_lead
                };
                EdgeRules {
                    event_id,
                    version,
                    mode,
                    method,
                    prequeue_opens_at: pre_lead.map(|lead| sale_opens_at - lead),
                    sale_opens_at,
                    sale_closes_at: close_after.map(|after| sale_opens_at + after),
                    new_users_per_minute,
                    max_active,
                    active_slot_secs,
                    protected_paths,
                    template,
                    draw_seed_commitment: (random || commit_anyway).then(|| seed_commitment(&seed)),
                    join_limit_per_ip_per_min: version as u32 % 200,
                    challenge: if version % 2 == 0 {
                        Challenge::Pow
                    } else {
                        Challenge::None
                    },
                    pow_difficulty: (version % 25) as u8,
                    presale: if version % 3 == 0 {
                        [
                            (PresaleTier::Diamond, 0),
                            (PresaleTier::Gold, 3_600),
                            (PresaleTier::Silver, 86_400),
                            (PresaleTier::Bronze, 172_800),
                        ]
                        .into_iter()
                        .map(|(tier, after)| PresaleOpening {
                            tier,
                            opens_at: sale_opens_at + after,
                        })
                        .collect()
                    } else {
                        Vec::new()
                    },
                }
            },
        )
}

/// Rules with arbitrary values, valid or not: JSON must carry them unchanged either way.
fn any_rules() -> impl Strategy<Value = EdgeRules> {
    (
        valid_rules(),
        (
            any::<u128>(),
            any::<u64>(),
            any::<i64>(),
            any::<Option<i64>>(),
        ),
        (any::<u32>(), any::<u32>(), any::<u32>()),
        prop::collection::vec(any::<String>(), 0..40),
        (
            any::<String>(),
            any::<Option<String>>(),
            any::<Option<String>>(),
        ),
    )
        .prop_map(
            |(mut r, (id, v, open, pre), (rate, active, slot), paths, (t, color, html))| {
                r.event_id = Uuid::from_u128(id);
                r.version = v;
                r.sale_opens_at = open;
                r.prequeue_opens_at = pre;
                r.new_users_per_minute = rate;
                r.max_active = active;
                r.active_slot_secs = slot;
                r.protected_paths = paths;
                r.template.title_ko = t;
                r.template.brand_color = color;
                r.template.custom_html = html;
                r
            },
        )
}

/// Breaks exactly one rule of valid rules `r`; returns the field that must be named.
fn mutate(r: &mut EdgeRules, which: usize, pick: usize) -> String {
    let choose = |options: &[&str]| options[pick % options.len()].to_owned();
    let path_slot = |r: &mut EdgeRules, bad: String| -> String {
        if r.protected_paths.is_empty() {
            r.protected_paths.push(bad);
            "protected_paths[0]".into()
        } else {
            let i = pick % r.protected_paths.len();
            r.protected_paths[i] = bad;
            format!("protected_paths[{i}]")
        }
    };
    match which {
        0 => {
            r.event_id = Uuid::nil();
            "event_id".into()
        }
        1 => {
            r.version = 0;
            "version".into()
        }
        2 => {
            r.new_users_per_minute = 1_000_001 + pick as u32 % 1000;
            "new_users_per_minute".into()
        }
        3 => {
            r.max_active = if pick.is_multiple_of(2) { 0 } else { u32::MAX };
            "max_active".into()
        }
        4 => {
            r.active_slot_secs = if pick.is_multiple_of(2) { 59 } else { 3_601 };
            "active_slot_secs".into()
        }
        5 => {
            r.sale_closes_at = Some(r.sale_opens_at - i64::try_from(pick % 1_000).unwrap_or(0));
            "sale_closes_at".into()
        }
        6 => {
            r.prequeue_opens_at = Some(r.sale_opens_at + i64::try_from(pick % 1_000).unwrap_or(0));
            "prequeue_opens_at".into()
        }
        7 => {
            r.method = Method::Random;
            r.draw_seed_commitment = Some(seed_commitment(&[1; 32]));
            r.prequeue_opens_at = None;
            "prequeue_opens_at".into()
        }
        8 => {
            r.method = Method::Random;
            r.prequeue_opens_at = Some(r.sale_opens_at - 600);
            r.draw_seed_commitment = None;
            "draw_seed_commitment".into()
        }
        9 => {
            let good = seed_commitment(&[2; 32]);
            r.draw_seed_commitment = Some(match pick % 3 {
                0 => good.to_uppercase(),
                1 => good[1..].to_owned(),
                _ => format!("{}z", &good[1..]),
            });
            "draw_seed_commitment".into()
        }
        10 => {
            r.protected_paths = (0..33).map(|i| format!("/p/{i}")).collect();
            "protected_paths".into()
        }
        11 => {
            let bad = choose(&[
                "api/v1/x",
                "",
                "/a*/b",
                "/a/**",
                "*",
                "/a/{id}/holds",
                "/a/../b",
                "/a//b",
                "/./a",
                "/a b",
                "/a?x=1",
                "/a#f",
                "/a%2Fb",
                "/tab\there",
            ]);
            path_slot(r, bad)
        }
        12 => path_slot(r, format!("/{}", "a".repeat(200))),
        13 => {
            r.template.title_ko = choose(&["", "   ", "\n"]);
            "template.title_ko".into()
        }
        14 => {
            r.template.title_en = choose(&["x\u{7}", "two\nlines"]);
            if pick.is_multiple_of(2) {
                r.template.title_en = "T".repeat(121);
            }
            "template.title_en".into()
        }
        15 => {
            r.template.message_ko = "가".repeat(2_001);
            "template.message_ko".into()
        }
        16 => {
            r.template.message_en = choose(&["", " \n\t ", "bell\u{7}"]);
            "template.message_en".into()
        }
        17 => {
            r.template.brand_color = Some(choose(&["#12345g", "123456", "#fff", "#1234567", ""]));
            "template.brand_color".into()
        }
        18 => {
            r.template.logo_url = Some(choose(&[
                "http://cdn.example.com/logo.png",
                "//evil.example.com/x.png",
                "javascript:alert(1)",
                "https:///logo.png",
                "https://user@evil.example.com/",
                "logo.png",
                "/logo.png\" onerror=\"x",
                "",
            ]));
            "template.logo_url".into()
        }
        19 => {
            r.template.custom_html = Some(if pick.is_multiple_of(2) {
                "x".repeat(64 * 1024 + 1)
            } else {
                "  ".into()
            });
            "template.custom_html".into()
        }
        20 => {
            r.method = Method::Fifo;
            r.prequeue_opens_at = None;
            r.sale_closes_at = None;
            r.sale_opens_at = if pick.is_multiple_of(2) {
                -1
            } else {
                MAX_UNIX_SECS + 1
            };
            "sale_opens_at".into()
        }
        21 => {
            r.join_limit_per_ip_per_min = 1_000_001 + pick as u32 % 1000;
            "join_limit_per_ip_per_min".into()
        }
        22 => {
            r.pow_difficulty = 25 + (pick % 200) as u8;
            "pow_difficulty".into()
        }
        _ => unreachable!("mutation index out of range"),
    }
}

const MUTATIONS: usize = 23;

fn fields(errors: &[RuleError]) -> Vec<&str> {
    errors.iter().map(|e| e.field.as_str()).collect()
}

proptest! {
    // Rules are structural: 128 cases per property cover the generators' combinations
    // (the mutation property alone meets each of its 21 mutations about six times).
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn valid_rules_validate(r in valid_rules()) {
        prop_assert_eq!(r.validate(), Ok(()));
    }

    #[test]
    fn valid_rules_survive_json(r in valid_rules()) {
        let json = serde_json::to_string(&r).expect("serialises");
        let back: EdgeRules = serde_json::from_str(&json).expect("parses");
        prop_assert_eq!(&back, &r);
        prop_assert_eq!(back.validate(), Ok(()));
    }

    #[test]
    fn any_rules_survive_json(r in any_rules()) {
        let json = serde_json::to_string(&r).expect("serialises");
        let back: EdgeRules = serde_json::from_str(&json).expect("parses");
        prop_assert_eq!(&back, &r);
        prop_assert_eq!(back.validate(), r.validate());
    }

    #[test]
    fn each_mutation_names_its_field(r in valid_rules(), which in 0..MUTATIONS, pick in any::<usize>()) {
        let mut broken = r.clone();
        let field = mutate(&mut broken, which, pick);
        let errors = broken.validate().expect_err("mutation must break validation");
        prop_assert_eq!(fields(&errors), vec![field.as_str()], "mutation {} on {:?}", which, broken);
        for e in &errors {
            prop_assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn unknown_fields_are_refused(r in valid_rules(), name in "[a-z_]{1,20}", nested in any::<bool>()) {
        let mut value = serde_json::to_value(&r).expect("serialises");
        let known = [
            "event_id", "version", "mode", "method", "prequeue_opens_at", "sale_opens_at",
            "sale_closes_at", "new_users_per_minute", "max_active", "active_slot_secs",
            "protected_paths", "template", "draw_seed_commitment", "title_ko", "title_en",
            "message_ko", "message_en", "brand_color", "logo_url", "custom_html",
        ];
        prop_assume!(!known.contains(&name.as_str()));
        let target = if nested { &mut value["template"] } else { &mut value };
        target.as_object_mut().expect("object").insert(name, serde_json::json!(1));
        prop_assert!(serde_json::from_value::<EdgeRules>(value).is_err());
    }

    #[test]
    fn versions_order_like_their_numbers(a in valid_rules(), va in any::<u64>(), vb in any::<u64>(), vc in any::<u64>()) {
        let with = |v: u64| EdgeRules { version: v, ..a.clone() };
        let (ra, rb, rc) = (with(va), with(vb), with(vc));
        prop_assert_eq!(ra.is_newer_than(&rb), va > vb);
        prop_assert!(!(ra.is_newer_than(&rb) && rb.is_newer_than(&ra)));
        prop_assert!(!ra.is_newer_than(&ra));
        if ra.is_newer_than(&rb) && rb.is_newer_than(&rc) {
            prop_assert!(ra.is_newer_than(&rc));
        }
        // Another event's rules never replace these, whatever the version.
        let other = EdgeRules { event_id: Uuid::from_u128(a.event_id.as_u128() ^ 1), version: u64::MAX, ..a.clone() };
        prop_assert!(!other.is_newer_than(&ra));
    }

    #[test]
    fn phases_only_move_forward(r in valid_rules(), t1 in 900_000_000i64..2_200_000_000, dt in 0i64..100_000_000) {
        let rank = |p: Phase| match p {
            Phase::Closed => 0,
            Phase::PreQueue => 1,
            Phase::Open => 2,
            Phase::Ended => 3,
        };
        prop_assert!(rank(r.phase(t1)) <= rank(r.phase(t1 + dt)));
        prop_assert_eq!(r.phase(r.sale_opens_at), if r.sale_closes_at == Some(r.sale_opens_at) { Phase::Ended } else { Phase::Open });
        prop_assert_eq!(r.phase(r.sale_opens_at - 1), if r.prequeue_opens_at.is_some() { Phase::PreQueue } else { Phase::Closed });
        if let Some(close) = r.sale_closes_at {
            prop_assert_eq!(r.phase(close), Phase::Ended);
        }
        prop_assert_eq!(r.opening_anchor(), ServingAnchor { served: 0, at_ms: r.sale_opens_at * 1000 });
    }

    #[test]
    fn protected_paths_cannot_be_dodged_by_spelling(r in valid_rules(), tail in "(/[a-z0-9]{1,8}){0,3}", pick in any::<prop::sample::Index>()) {
        prop_assume!(!r.protected_paths.is_empty());
        let pattern = &r.protected_paths[pick.index(r.protected_paths.len())];
        let path = match pattern.strip_suffix('*') {
            Some(prefix) => format!("{prefix}{tail}"),
            None => pattern.clone(),
        };
        prop_assert!(r.path_is_protected(&path), "{} should match {}", path, pattern);
        let respellings = [
            format!("{path}?page=2"),
            format!("{path}#top"),
            path.replacen('/', "//", 1),
            path.replacen('/', "/./", 1),
            format!("/zz/..{path}"),
            path.replacen('a', "%61", 1),
        ];
        for p in respellings {
            prop_assert!(r.path_is_protected(&p), "{} should match {}", p, pattern);
        }
    }
}

#[test]
fn every_mutation_variant_breaks_the_defaults() {
    // A deterministic sweep, so no mutation or bad-path variant depends on sampling.
    let fifo = EdgeRules::default_for(Uuid::from_u128(5), 1_800_000_000);
    let random = EdgeRules {
        method: Method::Random,
        prequeue_opens_at: Some(1_799_999_000),
        draw_seed_commitment: Some(seed_commitment(&[3; 32])),
        ..fifo.clone()
    };
    assert_eq!(random.validate(), Ok(()));
    for base in [fifo, random] {
        for which in 0..MUTATIONS {
            for pick in 0..14 {
                let mut broken = base.clone();
                let field = mutate(&mut broken, which, pick);
                let errors = broken
                    .validate()
                    .expect_err("mutation must break validation");
                assert_eq!(fields(&errors), [field.as_str()], "mutation {which}/{pick}");
            }
        }
    }
}

#[test]
fn defaults_validate_and_protect_the_booking_routes() {
    let id = Uuid::from_u128(0x0190_b7d4_5a6e_7c3a_9f00_3e1f_2d4c_5b6a);
    let r = EdgeRules::default_for(id, 1_800_000_000);
    assert_eq!(r.validate(), Ok(()));
    assert_eq!(r.method, Method::Fifo);
    assert_eq!(r.mode, Mode::Queue);
    assert!(r.path_is_protected(&format!("/api/v1/events/{id}/reservations")));
    assert!(r.path_is_protected(&format!("/api/v1/events/{id}/holds/abc")));
    assert!(!r.path_is_protected(&format!("/api/v1/events/{id}")));
    let other = Uuid::from_u128(7);
    assert!(!r.path_is_protected(&format!("/api/v1/events/{other}/reservations")));
}

#[test]
fn the_documented_example_parses_and_validates() {
    let json = r##"{
      "event_id": "0190b7d4-5a6e-7c3a-9f00-3e1f2d4c5b6a",
      "version": 3,
      "mode": "queue",
      "method": "random",
      "prequeue_opens_at": 1800000000,
      "sale_opens_at": 1800001800,
      "sale_closes_at": 1800086400,
      "new_users_per_minute": 600,
      "max_active": 1000,
      "active_slot_secs": 600,
      "protected_paths": ["/api/v1/events/0190b7d4-5a6e-7c3a-9f00-3e1f2d4c5b6a/holds*"],
      "template": {
        "title_ko": "대기열에 입장했습니다",
        "title_en": "You are in the queue",
        "message_ko": "순서가 되면 자동으로 이동합니다.",
        "message_en": "You will be let in automatically when it is your turn.",
        "brand_color": "#ff5a1f"
      },
      "draw_seed_commitment": "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
    }"##;
    let r: EdgeRules = serde_json::from_str(json).expect("parses");
    assert_eq!(r.validate(), Ok(()));
    assert_eq!(r.method, Method::Random);
    assert_eq!(r.phase(1_800_000_000), Phase::PreQueue);
    // Serialising omits absent options and keeps snake_case names and values.
    let out = serde_json::to_value(&r).expect("serialises");
    assert_eq!(out["mode"], "queue");
    assert_eq!(out["method"], "random");
    assert!(out["template"].get("logo_url").is_none());
    assert_eq!(
        serde_json::to_value(Phase::PreQueue).expect("phase"),
        "pre_queue"
    );
}

#[test]
fn missing_required_fields_and_bad_enums_are_refused() {
    let good = serde_json::to_value(EdgeRules::default_for(Uuid::from_u128(1), 1_800_000_000))
        .expect("serialises");
    for field in [
        "event_id",
        "version",
        "mode",
        "sale_opens_at",
        "protected_paths",
        "template",
    ] {
        let mut v = good.clone();
        v.as_object_mut().expect("object").remove(field);
        assert!(
            serde_json::from_value::<EdgeRules>(v).is_err(),
            "{field} is required"
        );
    }
    let mut v = good.clone();
    v["mode"] = "QUEUE".into();
    assert!(serde_json::from_value::<EdgeRules>(v).is_err());
    let mut v = good;
    v["method"] = "lottery".into();
    assert!(serde_json::from_value::<EdgeRules>(v).is_err());
}

#[test]
fn every_error_is_reported_at_once() {
    let mut r = EdgeRules::default_for(Uuid::nil(), 1_800_000_000);
    r.version = 0;
    r.max_active = 0;
    r.template.title_ko.clear();
    r.template.brand_color = Some("red".into());
    let errors = r.validate().expect_err("invalid");
    assert_eq!(
        fields(&errors),
        [
            "event_id",
            "version",
            "max_active",
            "template.title_ko",
            "template.brand_color"
        ]
    );
    assert_eq!(errors[1].to_string(), "version: must be at least 1");
}
