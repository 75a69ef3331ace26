//! The waiting-room page a promoter's rules would produce, for the rules editor's live
//! preview: the same [`page::render`] the live room uses, fed with the rules being
//! edited and a sample visitor instead of stored state. What the promoter sees is what
//! fans will see, because there is no second renderer to drift apart.

use super::page::{self, Lang, PageInput, PageKind};
use super::state::{EventState, RulesPush, Standing};
use crate::queue::eta_seconds;
use crate::rules::{EdgeRules, Phase};

/// Which page of the room to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviewPage {
    /// The join button (a visitor without a ticket, room open).
    Join,
    /// A visitor waiting in line ([`SAMPLE_POSITION`], [`SAMPLE_AHEAD`] ahead).
    Queue,
    /// Before the room opens.
    NotOpen,
}

/// The sample visitor's queue position on the [`PreviewPage::Queue`] page.
pub const SAMPLE_POSITION: u64 = 12_345;
/// People ahead of the sample visitor.
pub const SAMPLE_AHEAD: u64 = 12_000;

/// Renders `which` under `rules` in `lang` at `now_ms`. `nonce` is the CSP nonce of
/// the response (see [`page::csp`]).
pub fn render(
    rules: EdgeRules,
    event_name: Option<String>,
    lang: Lang,
    which: PreviewPage,
    now_ms: i64,
    nonce: &str,
) -> String {
    let state = EventState::first(RulesPush {
        rules,
        event_name,
        draw_seed: None,
    });
    let rules = &state.rules;
    let standing = Standing {
        event_id: rules.event_id,
        phase: Phase::Open,
        mode: rules.mode,
        seq: SAMPLE_POSITION,
        position: Some(SAMPLE_POSITION),
        serving: SAMPLE_POSITION - SAMPLE_AHEAD,
        ahead: Some(SAMPLE_AHEAD),
        eta_seconds: eta_seconds(SAMPLE_AHEAD, f64::from(rules.new_users_per_minute)),
        poll_after_ms: 60_000,
        rules_version: rules.version,
        sale_opens_at: rules.sale_opens_at,
        served: false,
        pass: None,
        pass_url: None,
    };
    let opens_at = rules.prequeue_opens_at.unwrap_or(rules.sale_opens_at);
    let kind = match which {
        PreviewPage::Join => PageKind::Join { challenge: None },
        PreviewPage::Queue => PageKind::Queue(&standing),
        PreviewPage::NotOpen => PageKind::NotOpen { opens_at },
    };
    page::render(&PageInput {
        event: rules.event_id,
        lang,
        state: Some(&state),
        kind,
        now_ms,
        nonce,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn rules() -> EdgeRules {
        let mut r = EdgeRules::default_for(Uuid::from_u128(7), 1_900_000_000);
        r.template.title_ko = "우리 콘서트 대기실".into();
        r.template.title_en = "Our concert room".into();
        r
    }

    #[test]
    fn shows_the_promoters_title_in_each_language() {
        let ko = render(rules(), None, Lang::Ko, PreviewPage::Queue, 0, "n");
        let en = render(rules(), None, Lang::En, PreviewPage::Queue, 0, "n");
        assert!(ko.contains("우리 콘서트 대기실"), "{ko}");
        assert!(en.contains("Our concert room"), "{en}");
        assert!(!en.contains("우리 콘서트 대기실"));
    }

    #[test]
    fn the_join_page_carries_the_promoters_title_too() {
        let html = render(rules(), None, Lang::Ko, PreviewPage::Join, 0, "n");
        assert!(html.contains("우리 콘서트 대기실"), "{html}");
    }

    #[test]
    fn the_queue_page_shows_the_sample_position() {
        let html = render(rules(), None, Lang::En, PreviewPage::Queue, 0, "n");
        assert!(html.contains("12,345"), "{html}");
    }

    #[test]
    fn the_join_and_not_open_pages_show_the_presale_by_tier() {
        use crate::rules::{PresaleOpening, PresaleTier};
        let mut r = rules();
        // 1,900,000,000 = 2030-03-17T17:46:40Z = 2030-03-18 02:46 KST.
        r.presale = vec![
            PresaleOpening {
                tier: PresaleTier::Diamond,
                opens_at: 1_900_000_000,
            },
            PresaleOpening {
                tier: PresaleTier::Bronze,
                opens_at: 1_900_000_000 + 48 * 3_600,
            },
        ];
        for which in [PreviewPage::Join, PreviewPage::NotOpen] {
            let ko = render(r.clone(), None, Lang::Ko, which, 0, "n");
            assert!(ko.contains("멤버십 등급별 예매 시작"), "{ko}");
            assert!(
                ko.contains("<dt>다이아몬드</dt><dd><time datetime=\"2030-03-18T02:46:40+09:00\">"),
                "{ko}"
            );
            assert!(
                ko.contains("<dt>일반 예매</dt><dd><time datetime=\"2030-03-20T02:46:40+09:00\">"),
                "{ko}"
            );
            let en = render(r.clone(), None, Lang::En, which, 0, "n");
            assert!(en.contains("Booking opens by membership tier"), "{en}");
            assert!(en.contains("<dt>DIAMOND</dt>"), "{en}");
        }
        // Without a presale the section is absent.
        let plain = render(rules(), None, Lang::En, PreviewPage::Join, 0, "n");
        assert!(!plain.contains("membership tier"));
    }

    #[test]
    fn texts_are_escaped() {
        let mut r = rules();
        r.template.title_en = "<script>x</script>".into();
        let html = render(r, None, Lang::En, PreviewPage::Join, 0, "n");
        assert!(!html.contains("<script>x</script>"));
    }
}
