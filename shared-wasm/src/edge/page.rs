//! The waiting-room page, in Korean and English.
//!
//! # What a fan sees
//!
//! One small HTML document per answer, built from the event's [`WaitingRoomTemplate`]
//! (title, message, brand colour, logo) and the visitor's [`Standing`]: event name,
//! position, people ahead, estimated wait, when the numbers were last updated and when
//! the sale opens. Times are shown in Korea Standard Time (UTC+9, no daylight saving),
//! the time zone of the sales, and also given machine-readably in `<time datetime>`.
//!
//! # Language
//!
//! `?lang=ko` or `?lang=en` wins; otherwise the first of `ko`/`en` in `Accept-Language`
//! (by q-value); otherwise Korean. The page links to the other language.
//!
//! # Accessibility
//!
//! Semantic landmarks (`<main>`, one `<h1>`, a `<dl>` of numbers), `lang` on `<html>`,
//! a polite `aria-live` region that announces position updates as one sentence, dark
//! text on a white background (contrast ratio above 12:1; the promoter's brand colour
//! is only used for a decorative bar, never for text), no motion, and system fonts at
//! the user's size.
//!
//! # Joining
//!
//! Showing the page takes nothing: a visitor without a ticket sees the room with a join
//! button, a plain HTML form that posts to `/vwr/{event_id}/join` (the edge answers with
//! a redirect back here and the ticket cookie). With JavaScript the page's script posts
//! the same join with `fetch` instead, after solving the proof of work when the rules
//! ask for one ([`POW_JS`]; such rooms need JavaScript and say so in `<noscript>`).
//!
//! # Without JavaScript, and with it
//!
//! Without JavaScript the waiting page reloads itself with `<meta http-equiv="refresh">` at the
//! advised poll interval (inside `<noscript>`, so it stops once the script runs). With
//! JavaScript, a tiny inline script (allowed by a per-response CSP nonce) polls
//! `/vwr/{event_id}/status` at the advised `poll_after_ms`, swaps the numbers in place
//! and, when a pass arrives, announces it and forwards to the pass URL. The pass itself
//! travels in an HttpOnly cookie, never through the script (a script-readable pass
//! would leak to any injected script or shared browser).
//!
//! # Untrusted text
//!
//! Every variable is HTML-escaped. The promoter's `custom_html` is rendered inside an
//! `<iframe sandbox srcdoc="...">` with an empty sandbox: no scripts, no forms, no
//! top-level navigation, a unique origin (so no cookies). The page's own status block
//! stays outside the frame, so custom HTML can neither hide nor fake the position. The
//! logo is shown only for an `https://` URL or a root-relative path (what the rules
//! validation allows), escaped into the attribute; it is an image, so at most a GET,
//! and no GET has side effects here. The [`csp`] allows only the page's own nonce'd
//! script, form posts to this site, and `fetch` to this site.

use uuid::Uuid;

use super::http::Request;
use super::page_texts::{Texts, texts};
use super::pow::Issued;
use super::state::{EventState, Standing};
use crate::rules::{Phase, PresaleTier, WaitingRoomTemplate};

/// Page language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Ko,
    En,
}

impl Lang {
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ko => "ko",
            Lang::En => "en",
        }
    }

    /// `?lang=`, then `Accept-Language`, then Korean.
    pub fn negotiate(req: &Request) -> Lang {
        match req.query_param("lang") {
            Some("ko") => return Lang::Ko,
            Some("en") => return Lang::En,
            _ => {}
        }
        let Some(header) = req.header("accept-language") else {
            return Lang::Ko;
        };
        let mut best: Option<(u32, Lang)> = None;
        for item in header.split(',').take(20) {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| p.trim().strip_prefix("q="))
                .and_then(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            let q = (q.clamp(0.0, 1.0) * 1000.0) as u32;
            let lang = match tag.split('-').next() {
                Some("ko") => Lang::Ko,
                Some("en") => Lang::En,
                _ => continue,
            };
            if q > 0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, lang));
            }
        }
        best.map_or(Lang::Ko, |(_, l)| l)
    }

    fn other(self) -> Lang {
        match self {
            Lang::Ko => Lang::En,
            Lang::En => Lang::Ko,
        }
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON that is safe inside a `<script>` element (no `</script>`, no `<!--`).
fn script_json(v: &serde_json::Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// `(YYYY-MM-DD, HH:MM, ISO 8601)` of Unix seconds in KST (UTC+9).
pub fn kst(unix_s: i64) -> (String, String, String) {
    let t = unix_s.saturating_add(9 * 3600);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let (h, mi, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{h:02}:{mi:02}"),
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}+09:00"),
    )
}

/// A wait in words: "약 3분" / "about 3 min".
pub fn format_eta(lang: Lang, secs: Option<u64>) -> String {
    let Some(secs) = secs else {
        return texts(lang).calculating.to_owned();
    };
    let mins = secs.div_ceil(60);
    match (lang, secs) {
        (Lang::Ko, 0..=59) => "1분 미만".into(),
        (Lang::En, 0..=59) => "under a minute".into(),
        (Lang::Ko, _) if mins < 60 => format!("약 {mins}분"),
        (Lang::En, _) if mins < 60 => format!("about {mins} min"),
        (Lang::Ko, _) => format!("약 {}시간 {}분", mins / 60, mins % 60),
        (Lang::En, _) => format!("about {} h {} min", mins / 60, mins % 60),
    }
}

/// Digits with thousands separators (both languages use commas).
pub fn group(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What the page is about.
pub enum PageKind<'a> {
    /// Waiting, pre-queue, or served (with the standing).
    Queue(&'a Standing),
    /// Open for joining and the visitor has no ticket: the join button, and the
    /// proof-of-work challenge when the rules ask for one.
    Join {
        challenge: Option<&'a Issued>,
    },
    /// Not open yet; nobody joined.
    NotOpen {
        opens_at: i64,
    },
    Rejected,
    Maintenance,
    Ended,
    NotFound,
}

/// Inputs of [`render`].
pub struct PageInput<'a> {
    pub event: Uuid,
    pub lang: Lang,
    pub state: Option<&'a EventState>,
    pub kind: PageKind<'a>,
    pub now_ms: i64,
    /// Per-response CSP nonce (base64url, letters and digits only).
    pub nonce: &'a str,
}

/// The page's `Content-Security-Policy`, for the same nonce: only the page's own
/// script runs (no inline handlers, no `eval`), forms and `fetch` go to this site only,
/// images come from this site or `https:`, the promoter's frame is a sandboxed
/// `srcdoc` (no `frame-src` source allows anything else), and nobody frames the page.
pub fn csp(nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; \
         img-src 'self' https:; connect-src 'self'; base-uri 'none'; form-action 'self'; \
         frame-src 'none'; frame-ancestors 'none'"
    )
}

/// Renders the page (see the module docs).
pub fn render(p: &PageInput<'_>) -> String {
    let t = texts(p.lang);
    let template = p.state.map(|s| &s.rules.template);
    let event_name = p.state.and_then(|s| s.event_name.as_deref());
    let (title, message): (String, String) = match (&p.kind, template) {
        (PageKind::Queue(st), _) if st.served => (t.your_turn.into(), t.your_turn_msg.into()),
        (PageKind::Queue(_), Some(tpl)) => localized(tpl, p.lang),
        (PageKind::Queue(_), None) => (t.keep_open.into(), String::new()),
        // The promoter's title is the room's name from the first page a fan sees.
        (PageKind::Join { .. }, Some(tpl)) => localized(tpl, p.lang),
        (PageKind::Join { .. }, None) => (t.join_title.into(), String::new()),
        (PageKind::NotOpen { .. }, _) => (t.not_open_title.into(), t.keep_open.into()),
        (PageKind::Rejected, _) => (t.rejected_title.into(), t.rejected_msg.into()),
        (PageKind::Maintenance, _) => (t.maintenance_title.into(), t.maintenance_msg.into()),
        (PageKind::Ended, _) => (t.ended_title.into(), t.ended_msg.into()),
        (PageKind::NotFound, _) => (t.not_found_title.into(), t.not_found_msg.into()),
    };

    // How soon the page reloads itself without JavaScript (None: never).
    let refresh_secs: Option<u32> = match &p.kind {
        PageKind::Queue(st) if st.served => None,
        PageKind::Queue(st) => Some(st.poll_after_ms.div_ceil(1000).max(1)),
        PageKind::NotOpen { opens_at } => {
            let until = opens_at.saturating_mul(1000).saturating_sub(p.now_ms);
            Some(u32::try_from((until / 1000).clamp(1, 60)).unwrap_or(60))
        }
        PageKind::Maintenance => Some(super::route::MAINTENANCE_RETRY_AFTER_SECS),
        _ => None,
    };

    let mut h = String::with_capacity(8 * 1024);
    let lang = p.lang.code();
    h.push_str("<!doctype html>\n<html lang=\"");
    h.push_str(lang);
    h.push_str("\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<meta name=\"robots\" content=\"noindex\">\n");
    if let Some(secs) = refresh_secs {
        h.push_str(&format!(
            "<noscript><meta http-equiv=\"refresh\" content=\"{secs}\"></noscript>\n"
        ));
    }
    if let PageKind::Queue(st) = &p.kind
        && st.served
        && let Some(url) = &st.pass_url
    {
        h.push_str(&format!(
            "<noscript><meta http-equiv=\"refresh\" content=\"2;url={}\"></noscript>\n",
            escape(url)
        ));
    }
    let page_title = match event_name {
        Some(name) => format!("{} · {}", title, name),
        None => title.clone(),
    };
    h.push_str(&format!("<title>{}</title>\n", escape(&page_title)));
    let accent = template
        .and_then(|t| t.brand_color.as_deref())
        .filter(|c| {
            c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
        })
        .unwrap_or("#1a56db");
    h.push_str(&format!(
        "<style>\n\
         :root{{color-scheme:light;--accent:{accent}}}\n\
         body{{margin:0;font-family:system-ui,-apple-system,\"Apple SD Gothic Neo\",\"Noto Sans KR\",sans-serif;\
         background:#fff;color:#1a1a1a;line-height:1.6}}\n\
         main{{max-width:36rem;margin:0 auto;padding:1.5rem 1rem 3rem;border-top:.5rem solid var(--accent)}}\n\
         h1{{font-size:1.6rem;margin:.5rem 0 1rem}}\n\
         .event{{font-size:1.05rem;color:#3d3d3d;margin:0}}\n\
         dl{{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem;margin:1.5rem 0}}\n\
         dt{{color:#3d3d3d}} dd{{margin:0;font-weight:700;font-variant-numeric:tabular-nums}}\n\
         .big{{font-size:2.2rem}}\n\
         a{{color:#0b3d91}} a:focus,button:focus{{outline:3px solid #0b3d91;outline-offset:2px}}\n\
         .btn{{display:inline-block;background:#0b3d91;color:#fff;padding:.75rem 1.25rem;border-radius:.4rem;text-decoration:none;font-weight:700}}\n\
         .note{{color:#3d3d3d;font-size:.95rem}}\n\
         iframe{{width:100%;min-height:12rem;border:1px solid #c8c8c8;border-radius:.4rem}}\n\
         .sr{{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}}\n\
         </style>\n</head>\n<body>\n<main>\n"
    ));
    // Language switch.
    let other = p.lang.other();
    h.push_str(&format!(
        "<p><a href=\"/e/{}?lang={}\" lang=\"{}\" hreflang=\"{}\">{}</a></p>\n",
        p.event,
        other.code(),
        other.code(),
        other.code(),
        t.switch_label
    ));
    if let Some(url) = template
        .and_then(|t| t.logo_url.as_deref())
        .filter(|u| safe_logo_url(u))
    {
        h.push_str(&format!(
            "<img src=\"{}\" alt=\"{}\" height=\"48\">\n",
            escape(url),
            escape(event_name.unwrap_or(""))
        ));
    }
    if let Some(name) = event_name {
        h.push_str(&format!("<p class=\"event\">{}</p>\n", escape(name)));
    }
    h.push_str(&format!("<h1 id=\"title\">{}</h1>\n", escape(&title)));
    if !message.is_empty() {
        h.push_str(&format!("<p id=\"message\">{}</p>\n", escape(&message)));
    }

    let (_, _, now_iso) = kst(p.now_ms.div_euclid(1000));
    let (_, now_hm, _) = kst(p.now_ms.div_euclid(1000));
    match &p.kind {
        PageKind::Queue(st) => {
            render_standing(&mut h, p, t, st, &now_iso, &now_hm);
        }
        PageKind::NotOpen { opens_at } => {
            let (d, hm, iso) = kst(*opens_at);
            h.push_str(&format!(
                "<dl>\n<dt>{}</dt><dd><time datetime=\"{iso}\">{d} {hm} {}</time></dd>\n</dl>\n",
                t.opens, t.kst
            ));
            render_presale(&mut h, p, t);
        }
        PageKind::Join { challenge } => {
            if let Some(opens_at) = p.state.map(|s| s.rules.sale_opens_at) {
                let (d, hm, iso) = kst(opens_at);
                h.push_str(&format!(
                    "<dl>\n<dt>{}</dt><dd><time datetime=\"{iso}\">{d} {hm} {}</time></dd>\n</dl>\n",
                    t.opens, t.kst
                ));
            }
            render_presale(&mut h, p, t);
            h.push_str(&format!("<p>{}</p>\n", t.join_intro));
            if challenge.is_some() {
                h.push_str(&format!("<noscript><p>{}</p></noscript>\n", t.needs_js));
            }
            h.push_str(&format!(
                "<form id=\"join\" method=\"post\" action=\"/vwr/{}/join?lang={lang}\">\n\
                 <button type=\"submit\" class=\"btn\">{}</button>\n</form>\n\
                 <p id=\"joinmsg\" class=\"note\" role=\"status\" aria-live=\"polite\"></p>\n",
                p.event, t.join_btn
            ));
        }
        _ => {}
    }

    if let Some(html) = template.and_then(|t| t.custom_html.as_deref()) {
        h.push_str(&format!(
            "<iframe sandbox=\"\" referrerpolicy=\"no-referrer\" title=\"{}\" srcdoc=\"{}\"></iframe>\n",
            t.promoter_frame,
            escape(html)
        ));
    }
    h.push_str("</main>\n");
    match &p.kind {
        PageKind::Queue(st) => render_script(&mut h, p, t, st),
        PageKind::Join { challenge } => render_join_script(&mut h, p, t, *challenge),
        _ => {}
    }
    h.push_str("</body>\n</html>\n");
    h
}

/// The event's presale by tier, when it has one: fans learn before queueing that they
/// may have to wait for their tier's window (the origin refuses earlier bookings).
fn render_presale(h: &mut String, p: &PageInput<'_>, t: &Texts) {
    let Some(rules) = p.state.map(|s| &s.rules).filter(|r| !r.presale.is_empty()) else {
        return;
    };
    h.push_str(&format!(
        "<section aria-labelledby=\"presale\">\n<h2 id=\"presale\">{}</h2>\n<p class=\"note\">{}</p>\n<dl>\n",
        t.presale_title, t.presale_note
    ));
    for w in &rules.presale {
        let label = match w.tier {
            PresaleTier::Diamond => t.tiers[0],
            PresaleTier::Gold => t.tiers[1],
            PresaleTier::Silver => t.tiers[2],
            PresaleTier::Bronze => t.tiers[3],
        };
        let (d, hm, iso) = kst(w.opens_at);
        h.push_str(&format!(
            "<dt>{label}</dt><dd><time datetime=\"{iso}\">{d} {hm} {}</time></dd>\n",
            t.kst
        ));
    }
    h.push_str("</dl>\n</section>\n");
}

/// The shapes of logo URL the rules validation allows, checked again at rendering (a
/// stored state may predate a stricter validation): `https://host/...` or `/path`.
fn safe_logo_url(url: &str) -> bool {
    let shape = url
        .strip_prefix("https://")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/'))
        || (url.starts_with('/') && !url.starts_with("//"));
    shape
        && !url.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '\\')
        })
}

/// The proof-of-work solver the join script runs (also run by the tests under Node, to
/// prove it finds what [`super::pow::verify`] accepts). Defines:
///
/// * `urrPowPrepare(challenge)`: the message buffer (challenge bytes, 8 counter bytes,
///   SHA-256 padding), built once;
/// * `urrPowSearch(prepared, bits, from, count)`: the first counter in
///   `from..from+count` whose `SHA-256(challenge ‖ counter as u64 big-endian)` starts
///   with `bits` zero bits, or -1 (difficulties are at most 24, so the first 32-bit word
///   decides);
/// * `urrPow(challenge, bits, done)`: searches in slices of 20,000 so the page stays
///   responsive, then calls `done(counter)`.
pub const POW_JS: &str = r#"var urrK=[0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2];
var urrW=new Int32Array(64);
function urrH0(b){var H=[0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19],w=urrW,i,o;
for(o=0;o<b.length;o+=64){for(i=0;i<16;i++)w[i]=b[o+4*i]<<24|b[o+4*i+1]<<16|b[o+4*i+2]<<8|b[o+4*i+3];
for(i=16;i<64;i++){var x=w[i-15],y=w[i-2];w[i]=w[i-16]+((x>>>7|x<<25)^(x>>>18|x<<14)^(x>>>3))+w[i-7]+((y>>>17|y<<15)^(y>>>19|y<<13)^(y>>>10))|0;}
var a=H[0],c1=H[1],c=H[2],d=H[3],e=H[4],f=H[5],g=H[6],h=H[7];
for(i=0;i<64;i++){var t1=h+((e>>>6|e<<26)^(e>>>11|e<<21)^(e>>>25|e<<7))+(e&f^~e&g)+urrK[i]+w[i]|0;
var t2=((a>>>2|a<<30)^(a>>>13|a<<19)^(a>>>22|a<<10))+(a&c1^a&c^c1&c)|0;h=g;g=f;f=e;e=d+t1|0;d=c;c=c1;c1=a;a=t1+t2|0;}
H[0]=H[0]+a|0;H[1]=H[1]+c1|0;H[2]=H[2]+c|0;H[3]=H[3]+d|0;H[4]=H[4]+e|0;H[5]=H[5]+f|0;H[6]=H[6]+g|0;H[7]=H[7]+h|0;}
return H[0]>>>0;}
function urrPowPrepare(ch){var n=ch.length+8,L=(n+9+63>>6)<<6,b=new Uint8Array(L),i;for(i=0;i<ch.length;i++)b[i]=ch.charCodeAt(i)&255;
b[n]=0x80;var bits=n*8;b[L-4]=bits>>>24&255;b[L-3]=bits>>>16&255;b[L-2]=bits>>>8&255;b[L-1]=bits&255;return {b:b,off:ch.length};}
function urrPowSearch(p,bits,from,count){var b=p.b,o=p.off,k,hi,lo;for(k=from;k<from+count;k++){hi=Math.floor(k/4294967296);lo=k>>>0;
b[o]=hi>>>24&255;b[o+1]=hi>>>16&255;b[o+2]=hi>>>8&255;b[o+3]=hi&255;b[o+4]=lo>>>24&255;b[o+5]=lo>>>16&255;b[o+6]=lo>>>8&255;b[o+7]=lo&255;
if(Math.clz32(urrH0(b))>=bits)return k;}return -1;}
function urrPow(ch,bits,done){var p=urrPowPrepare(ch),k=0;(function step(){var r=urrPowSearch(p,bits,k,20000);if(r>=0){done(r);return;}k+=20000;setTimeout(step,0);})();}
"#;

fn render_join_script(h: &mut String, p: &PageInput<'_>, t: &Texts, challenge: Option<&Issued>) {
    let cfg = serde_json::json!({
        "join": format!("/vwr/{}/join", p.event),
        "page": format!("/e/{}?lang={}", p.event, p.lang.code()),
        "pow": challenge.map(|c| serde_json::json!({
            "challenge": c.challenge,
            "difficulty": c.difficulty,
        })),
        "t": {
            "joining": t.joining,
            "working": t.pow_working,
            "failed": t.join_failed,
            "limited": t.rate_limited,
        }
    });
    h.push_str(&format!("<script nonce=\"{}\">\n", p.nonce));
    h.push_str(POW_JS);
    h.push_str(&format!(
        "(function(){{\n\
var c={};\n\
var f=document.getElementById('join'),m=document.getElementById('joinmsg');if(!f)return;\n\
var btn=f.querySelector('button');\n\
function say(s){{if(m)m.textContent=s;}}\n\
function fail(r){{say(r&&r.status===429?c.t.limited:c.t.failed);if(btn)btn.disabled=false;}}\n\
function go(w,retried){{var h={{accept:'application/json'}};\n\
function send(){{fetch(c.join,{{method:'POST',credentials:'same-origin',cache:'no-store',headers:h}})\
.then(function(r){{if(r.ok){{location.assign(c.page);return;}}\
return r.json().then(function(j){{if(!retried&&j.pow&&(j.code==='POW_INVALID'||j.code==='POW_REQUIRED')){{go(j.pow,true);return;}}fail(r);}},function(){{fail(r);}});}})\
.catch(function(){{fail(null);}});}}\n\
if(w){{say(c.t.working);urrPow(w.challenge,w.difficulty,function(n){{h['x-pow-challenge']=w.challenge;h['x-pow-solution']=String(n);send();}});}}else{{send();}}}}\n\
f.addEventListener('submit',function(e){{e.preventDefault();if(btn)btn.disabled=true;say(c.t.joining);go(c.pow,false);}});\n\
}})();\n</script>\n",
        script_json(&cfg)
    ));
}

fn localized(tpl: &WaitingRoomTemplate, lang: Lang) -> (String, String) {
    match lang {
        Lang::Ko => (tpl.title_ko.clone(), tpl.message_ko.clone()),
        Lang::En => (tpl.title_en.clone(), tpl.message_en.clone()),
    }
}

fn render_standing(
    h: &mut String,
    p: &PageInput<'_>,
    t: &Texts,
    st: &Standing,
    now_iso: &str,
    now_hm: &str,
) {
    let position = st.position.map_or_else(|| t.pending.to_owned(), group);
    let ahead = st.ahead.map_or_else(|| "–".to_owned(), group);
    let eta = format_eta(p.lang, st.eta_seconds);
    let (open_d, open_hm, open_iso) = kst(st.sale_opens_at);
    // One sentence for screen readers, announced politely when it changes.
    let summary = match p.lang {
        Lang::Ko => format!("내 순서 {position}, 앞에 {ahead}명, 예상 대기 {eta}."),
        Lang::En => format!("Place {position}, {ahead} ahead, estimated wait {eta}."),
    };
    h.push_str(&format!(
        "<p id=\"live\" class=\"sr\" aria-live=\"polite\" aria-atomic=\"true\">{}</p>\n",
        escape(&summary)
    ));
    if st.served {
        if let Some(url) = &st.pass_url {
            h.push_str(&format!(
                "<p><a id=\"continue\" class=\"btn\" href=\"{}\">{}</a></p>\n",
                escape(url),
                t.continue_btn
            ));
        }
        return;
    }
    if st.phase == Phase::PreQueue || st.position.is_none() {
        let draw = match p.lang {
            Lang::Ko => format!(
                "사전 대기열에 입장했습니다. 추첨은 {open_d} {open_hm} {}에 진행됩니다.",
                t.kst
            ),
            Lang::En => format!(
                "You are in the pre-queue. The draw happens at {open_hm} {} on {open_d}.",
                t.kst
            ),
        };
        if st.position.is_none() {
            h.push_str(&format!("<p id=\"prequeue\">{}</p>\n", escape(&draw)));
        }
    }
    h.push_str("<dl>\n");
    h.push_str(&format!(
        "<dt>{}</dt><dd id=\"pos\" class=\"big\">{}</dd>\n",
        t.position,
        escape(&position)
    ));
    h.push_str(&format!(
        "<dt>{}</dt><dd id=\"ahead\">{}</dd>\n",
        t.ahead,
        escape(&ahead)
    ));
    h.push_str(&format!(
        "<dt>{}</dt><dd id=\"eta\">{}</dd>\n",
        t.eta,
        escape(&eta)
    ));
    h.push_str(&format!(
        "<dt>{}</dt><dd><time id=\"updated\" datetime=\"{now_iso}\">{now_hm} {}</time></dd>\n",
        t.updated, t.kst
    ));
    h.push_str(&format!(
        "<dt>{}</dt><dd><time datetime=\"{open_iso}\">{open_d} {open_hm} {}</time></dd>\n",
        t.opens, t.kst
    ));
    h.push_str("</dl>\n");
    h.push_str(&format!("<p class=\"note\">{}</p>\n", t.keep_open));
}

fn render_script(h: &mut String, p: &PageInput<'_>, t: &Texts, st: &Standing) {
    let cfg = serde_json::json!({
        "status": format!("/vwr/{}/status", p.event),
        "lang": p.lang.code(),
        "poll": st.poll_after_ms,
        "served": st.served,
        "passUrl": st.pass_url,
        "t": {
            "pending": t.pending,
            "calculating": t.calculating,
            "yourTurn": t.your_turn,
            "yourTurnMsg": t.your_turn_msg,
            "kst": t.kst,
            "lt1": format_eta(p.lang, Some(1)),
            "min": match p.lang { Lang::Ko => "약 {m}분", Lang::En => "about {m} min" },
            "hm": match p.lang { Lang::Ko => "약 {h}시간 {m}분", Lang::En => "about {h} h {m} min" },
            "live": match p.lang {
                Lang::Ko => "내 순서 {p}, 앞에 {a}명, 예상 대기 {e}.",
                Lang::En => "Place {p}, {a} ahead, estimated wait {e}.",
            },
        }
    });
    h.push_str(&format!(
        "<script nonce=\"{}\">\n(function(){{\n\
var c={};\n\
function $(id){{return document.getElementById(id);}}\n\
function set(id,v){{var e=$(id);if(e)e.textContent=v;}}\n\
function n(x){{return x==null?null:Number(x).toLocaleString('en-US');}}\n\
function eta(s){{if(s==null)return c.t.calculating;if(s<60)return c.t.lt1;var m=Math.ceil(s/60);\
if(m<60)return c.t.min.replace('{{m}}',m);return c.t.hm.replace('{{h}}',Math.floor(m/60)).replace('{{m}}',m%60);}}\n\
function go(u){{set('title',c.t.yourTurn);set('live',c.t.yourTurn+'. '+c.t.yourTurnMsg);\
if(u)setTimeout(function(){{location.assign(u);}},1500);}}\n\
if(c.served){{go(c.passUrl);return;}}\n\
function tick(){{fetch(c.status,{{credentials:'same-origin',cache:'no-store',headers:{{accept:'application/json'}}}})\
.then(function(r){{if(!r.ok)throw new Error(r.status);return r.json();}})\
.then(function(s){{var p=s.position==null?c.t.pending:n(s.position);var a=s.ahead==null?'\\u2013':n(s.ahead);var e=eta(s.eta_seconds);\
set('pos',p);set('ahead',a);set('eta',e);\
var d=new Date(),k=new Date(d.getTime()+9*3600e3);var hm=k.toISOString().slice(11,16);\
var u=$('updated');if(u){{u.textContent=hm+' '+c.t.kst;u.setAttribute('datetime',d.toISOString());}}\
set('live',c.t.live.replace('{{p}}',p).replace('{{a}}',a).replace('{{e}}',e));\
if(s.pass){{go(s.pass_url);return;}}\
setTimeout(tick,Math.max(1000,s.poll_after_ms||5000));}})\
.catch(function(){{setTimeout(tick,5000);}});}}\n\
setTimeout(tick,Math.max(1000,c.poll));\n\
}})();\n</script>\n",
        p.nonce,
        script_json(&cfg)
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_negotiation() {
        let r = |target: &str, al: &str| {
            Request::new("GET", target, [("accept-language", al)]).expect("small")
        };
        assert_eq!(Lang::negotiate(&r("/e/x", "")), Lang::Ko);
        assert_eq!(Lang::negotiate(&r("/e/x", "en-US,en;q=0.9")), Lang::En);
        assert_eq!(
            Lang::negotiate(&r("/e/x", "fr, en;q=0.5, ko;q=0.8")),
            Lang::Ko
        );
        assert_eq!(Lang::negotiate(&r("/e/x?lang=en", "ko")), Lang::En);
        assert_eq!(Lang::negotiate(&r("/e/x?lang=xx", "en")), Lang::En);
        assert_eq!(Lang::negotiate(&r("/e/x", "en;q=0")), Lang::Ko);
    }

    #[test]
    fn kst_dates() {
        assert_eq!(
            kst(0),
            (
                "1970-01-01".into(),
                "09:00".into(),
                "1970-01-01T09:00:00+09:00".into()
            )
        );
        // 2026-11-27T11:00:00Z = 20:00 KST.
        assert_eq!(kst(1_795_777_200).1, "20:00");
        assert_eq!(kst(1_795_777_200).0, "2026-11-27");
        assert_eq!(kst(951_782_400).0, "2000-02-29"); // 2000-02-28T15:00Z + 9 h
    }

    #[test]
    fn escaping_and_numbers() {
        assert_eq!(
            escape("<b a='1'>&\"</b>"),
            "&lt;b a=&#39;1&#39;&gt;&amp;&quot;&lt;/b&gt;"
        );
        assert_eq!(group(0), "0");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(format_eta(Lang::En, Some(30)), "under a minute");
        assert_eq!(format_eta(Lang::Ko, Some(3_601)), "약 1시간 1분");
        assert_eq!(format_eta(Lang::En, None), "calculating");
        assert!(!script_json(&serde_json::json!("</script>")).contains('<'));
    }
}
