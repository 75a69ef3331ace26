//! The little HTTP the edge logic needs, independent of any platform's types.
//!
//! A platform converts its request into a [`Request`] with [`Request::new`], which is
//! where untrusted input is **bounded before anything parses it**: the request target
//! may be at most [`MAX_TARGET_LEN`] bytes (else 414), and the edge keeps only the
//! headers it reads ([`READ_HEADERS`]), each at most [`MAX_HEADER_LEN`] bytes (else 431).
//! Everything else (the body, other headers) stays with the platform, which streams it
//! to the origin when the answer is "proxy".
//!
//! Answers are [`Response`]s: a status, headers and a byte body, which the platform
//! turns back into its own type. Errors are RFC 9457 problem documents with the same
//! shape as the origin's (`{type, title, status, code, detail}`, content type
//! `application/problem+json`), so clients handle edge and origin errors alike.
//!
//! ```
//! use shared_wasm::edge::http::Request;
//! let req = Request::new("GET", "/vwr/x/status?lang=en", [("Cookie", "a=1; urr_ticket=t")])
//!     .expect("small request");
//! assert_eq!(req.cookie("urr_ticket"), Some("t"));
//! assert_eq!(req.query_param("lang"), Some("en"));
//! let too_long = "x".repeat(10_000);
//! let refused = Request::new("GET", "/", [("x-entry-token", too_long.as_str())]).unwrap_err();
//! assert_eq!(refused.status, 431);
//! ```

use serde::Serialize;
use serde_json::{Map, Value};

/// Longest request target (path and query) the edge looks at.
pub const MAX_TARGET_LEN: usize = 4_096;
/// Longest value of any header the edge reads (cookies included).
pub const MAX_HEADER_LEN: usize = 8_192;
/// Largest request body the edge reads: a rules push (a rules token plus slack).
pub const MAX_BODY_LEN: usize = crate::token::MAX_RULES_TOKEN_LEN + 1_024;

/// `application/problem+json`.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The headers [`Request::new`] keeps (lowercase). All others are ignored by the edge
/// logic and only forwarded when proxying.
pub const READ_HEADERS: [&str; 12] = [
    "accept",
    "accept-language",
    "cookie",
    "x-entry-token",
    "x-queue-ticket",
    "x-request-id",
    "content-type",
    // Where a join comes from (see [`cross_site`]).
    "host",
    "origin",
    "sec-fetch-site",
    // A join's proof of work (see `super::pow`).
    "x-pow-challenge",
    "x-pow-solution",
];

/// Request headers the platforms never forward to the origin.
///
/// - Connection-level (hop-by-hop) fields: a proxy must not pass them on (RFC 9110,
///   section 7.6.1), and WASI HTTP refuses some of them outright. `host` belongs to the
///   connection too: the platform sets the origin's.
/// - Every claim a client could make about its own address. The edge sets its own word
///   instead: [`crate::client_ip::HEADER`], MACed, which the origin verifies, and
///   `x-forwarded-for` / `x-real-ip` for logs. A client's copy of `urr-client-ip` is
///   never passed on, so only the edge can attest an address.
pub const DROP_REQUEST_HEADERS: [&str; 20] = [
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "transfer-encoding",
    "upgrade",
    "te",
    "trailer",
    "http2-settings",
    crate::client_ip::HEADER,
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "client-ip",
    "x-original-forwarded-for",
];

/// Prefixes of request headers never forwarded: the ones the platforms add for
/// themselves (`cf-connecting-ip`, `cf-ray`, `spin-client-addr`, `spin-full-url`, ...)
/// and the whole `x-forwarded-*` family (`-for`, `-host`, `-proto`, `-port`, ...), which
/// only a proxy may write.
pub const DROP_REQUEST_PREFIXES: [&str; 3] = ["cf-", "spin-", "x-forwarded-"];

/// Origin response headers not copied back to the client: the hop-by-hop ones. The
/// client's connection is the platform's, which writes its own.
pub const DROP_RESPONSE_HEADERS: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "transfer-encoding",
    "upgrade",
    "trailer",
    "http2-settings",
];

/// Whether a client's request header (any case) may be forwarded to the origin, by the
/// fixed lists alone. Proxies use [`HeaderFilter`], which also drops the fields the
/// request's `Connection` header names.
pub fn forward_request_header(name: &str) -> bool {
    let name = name.trim().to_ascii_lowercase();
    !DROP_REQUEST_HEADERS.contains(&name.as_str())
        && !DROP_REQUEST_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// Whether an origin response header (any case) may be copied back to the client, by the
/// fixed list alone. Proxies use [`HeaderFilter`].
pub fn forward_response_header(name: &str) -> bool {
    !DROP_RESPONSE_HEADERS.contains(&name.trim().to_ascii_lowercase().as_str())
}

/// The one forwarding rule both platforms apply when proxying, for one message.
///
/// Besides the fixed lists, a message's `Connection` header may name more fields that
/// belong to that connection only (`Connection: close, x-session-hint`); a proxy must
/// drop those too (RFC 9110, section 7.6.1). Build the filter from the message's
/// `Connection` values, then ask [`HeaderFilter::forwards`] for each field:
///
/// ```
/// use shared_wasm::edge::http::HeaderFilter;
/// let f = HeaderFilter::request(["keep-alive, X-Session-Hint"]);
/// assert!(!f.forwards("x-session-hint"));
/// assert!(!f.forwards("X-Forwarded-For"));
/// assert!(f.forwards("authorization"));
/// ```
#[derive(Debug, Clone)]
pub struct HeaderFilter {
    response: bool,
    /// Field names the message's `Connection` header listed (lowercase).
    nominated: Vec<String>,
}

impl HeaderFilter {
    /// For a client's request on its way to the origin; `connection` holds the values
    /// of every `Connection` header of the request.
    pub fn request<'a>(connection: impl IntoIterator<Item = &'a str>) -> Self {
        Self::new(false, connection)
    }

    /// For the origin's response on its way back to the client; `connection` holds the
    /// values of every `Connection` header of the response.
    pub fn response<'a>(connection: impl IntoIterator<Item = &'a str>) -> Self {
        Self::new(true, connection)
    }

    fn new<'a>(response: bool, connection: impl IntoIterator<Item = &'a str>) -> Self {
        let nominated = connection
            .into_iter()
            .flat_map(|v| v.split(','))
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect();
        Self {
            response,
            nominated,
        }
    }

    /// Whether the field `name` (any case) is passed on.
    pub fn forwards(&self, name: &str) -> bool {
        let fixed = if self.response {
            forward_response_header(name)
        } else {
            forward_request_header(name)
        };
        fixed
            && !self
                .nominated
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name.trim()))
    }
}

/// Request methods the edge distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    /// Anything else (`DELETE`, `PATCH`, `OPTIONS`, ...): only ever proxied.
    Other,
}

impl Method {
    pub fn parse(s: &str) -> Method {
        match s {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            _ => Method::Other,
        }
    }
}

/// A bounded view of an incoming request (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path as sent (not normalised), always starting with `/`.
    pub path: String,
    /// The query without `?`; empty when there is none.
    pub query: String,
    /// Kept headers, lowercase names; repeated headers are joined.
    headers: Vec<(&'static str, String)>,
    /// The client's address as the platform saw it (never taken from a header the
    /// client could set).
    pub client_ip: Option<String>,
    /// The authority of an absolute request target (`host:port`), if one was given:
    /// what [`Request::host`] falls back to without a `Host` header.
    authority: Option<String>,
}

impl Request {
    /// Builds a request from a method, a target (`/path?query`, or an absolute URL whose
    /// scheme and authority are dropped) and the raw headers.
    ///
    /// Refuses with a ready problem response: a target over [`MAX_TARGET_LEN`] (414), a
    /// read header over [`MAX_HEADER_LEN`] (431, also when repeated copies add up).
    pub fn new<'a>(
        method: &str,
        target: &str,
        headers: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Request, Response> {
        if target.len() > MAX_TARGET_LEN {
            return Err(Response::problem(
                414,
                "URI_TOO_LONG",
                format!("the request target is longer than {MAX_TARGET_LEN} bytes"),
            ));
        }
        let (authority, target) = split_origin(target);
        let target = target.split('#').next().unwrap_or("");
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, q),
            None => (target, ""),
        };
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        let mut kept: Vec<(&'static str, String)> = Vec::new();
        for (name, value) in headers {
            let Some(known) = READ_HEADERS
                .iter()
                .find(|k| k.eq_ignore_ascii_case(name.trim()))
            else {
                continue;
            };
            let sep = if *known == "cookie" { "; " } else { ", " };
            match kept.iter_mut().find(|(k, _)| k == known) {
                Some((_, existing)) => {
                    if existing.len() + sep.len() + value.len() > MAX_HEADER_LEN {
                        return Err(header_too_large(known));
                    }
                    existing.push_str(sep);
                    existing.push_str(value);
                }
                None => {
                    if value.len() > MAX_HEADER_LEN {
                        return Err(header_too_large(known));
                    }
                    kept.push((known, value.to_owned()));
                }
            }
        }
        Ok(Request {
            method: Method::parse(method),
            path,
            query: query.to_owned(),
            headers: kept,
            client_ip: None,
            authority: authority
                .filter(|a| !a.is_empty() && a.len() <= 255)
                .map(str::to_ascii_lowercase),
        })
    }

    /// The host the client addressed (`host[:port]`, lower case): the `Host` header,
    /// else the authority of an absolute target.
    pub fn host(&self) -> Option<String> {
        self.header("host")
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .or_else(|| self.authority.clone())
    }

    /// Sets the client address the platform observed.
    pub fn with_client_ip(mut self, ip: Option<String>) -> Self {
        self.client_ip = ip.filter(|ip| ip.len() <= 64);
        self
    }

    /// A kept header's value (`name` in lowercase, one of [`READ_HEADERS`]).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first cookie called `name`, trimmed (RFC 6265 `name=value; name=value`).
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.header("cookie")?.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k.trim() == name).then(|| v.trim().trim_matches('"'))
        })
    }

    /// The first query parameter called `name` (not percent-decoded: the edge reads only
    /// plain ASCII values such as `lang=en`).
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then_some(v)
        })
    }

    /// Whether the client asked for JSON rather than a page: `Accept` names
    /// `application/json` and not `text/html` (browsers send `text/html` first).
    pub fn wants_json(&self) -> bool {
        self.header("accept").is_some_and(|a| {
            let a = a.to_ascii_lowercase();
            a.contains("application/json") && !a.contains("text/html")
        })
    }

    /// The path and query, as sent (for proxying).
    pub fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

fn header_too_large(name: &str) -> Response {
    Response::problem(
        431,
        "HEADER_TOO_LARGE",
        format!("the {name} header is longer than {MAX_HEADER_LEN} bytes"),
    )
}

/// `https://host:port/path?q` → (`host:port`, `/path?q`); a target that is already a
/// path is returned as is, without an authority.
fn split_origin(target: &str) -> (Option<&str>, &str) {
    if target.starts_with('/') {
        return (None, target);
    }
    match target.split_once("://") {
        Some((_, rest)) => match rest.find(['/', '?']) {
            Some(i) => (Some(&rest[..i]), &rest[i..]),
            None => (Some(rest), "/"),
        },
        None => (None, target),
    }
}

/// Why a request does not come from the edge's own pages, if it does not: the browser
/// says it is cross-site (`Sec-Fetch-Site` other than `same-origin` or `none`), or its
/// `Origin` names another host than the one addressed. Requests without either header
/// (API clients, old browsers) pass: they cannot be forged from another site's page,
/// because every browser that runs such a page sends at least one of the two on a POST.
pub fn cross_site(req: &Request) -> Option<&'static str> {
    if let Some(site) = req.header("sec-fetch-site") {
        let site = site.trim().to_ascii_lowercase();
        if site != "same-origin" && site != "none" {
            return Some("the browser reports a request from another site (Sec-Fetch-Site)");
        }
    }
    if let Some(origin) = req.header("origin") {
        let origin = origin.trim().to_ascii_lowercase();
        let from = origin
            .split_once("://")
            .map(|(scheme, authority)| without_default_port(scheme, authority));
        let to = req.host();
        let same = match (from, to) {
            (Some(from), Some(to)) => {
                from == to.as_str()
                    || from == without_default_port("http", &to)
                    || from == without_default_port("https", &to)
            }
            _ => false,
        };
        if !same {
            return Some("the request's Origin is not this site");
        }
    }
    None
}

fn without_default_port<'a>(scheme: &str, authority: &'a str) -> &'a str {
    let authority = authority.trim_end_matches('/');
    match scheme {
        "http" => authority.strip_suffix(":80").unwrap_or(authority),
        "https" => authority.strip_suffix(":443").unwrap_or(authority),
        _ => authority,
    }
}

/// An answer produced by the edge itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    /// Header names are lowercase; `set-cookie` may repeat.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// The problem document, identical in shape to the origin's.
#[derive(Debug, Clone, Serialize)]
struct Problem<'a> {
    #[serde(rename = "type")]
    kind: String,
    title: &'static str,
    status: u16,
    code: &'a str,
    detail: String,
    #[serde(flatten)]
    extra: Map<String, Value>,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A problem+json error with a stable `code` (SCREAMING_SNAKE_CASE).
    pub fn problem(status: u16, code: &str, detail: impl Into<String>) -> Self {
        Self::problem_with(status, code, detail, Map::new())
    }

    /// [`Response::problem`] with extension members (e.g. `errors`, `current_version`).
    pub fn problem_with(
        status: u16,
        code: &str,
        detail: impl Into<String>,
        extra: Map<String, Value>,
    ) -> Self {
        let problem = Problem {
            kind: format!(
                "https://urr.dev/problems/{}",
                code.to_ascii_lowercase().replace('_', "-")
            ),
            title: reason(status),
            status,
            code,
            detail: detail.into(),
            extra,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        Response {
            status,
            headers: vec![
                ("content-type".into(), PROBLEM_JSON.into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body,
        }
    }

    /// A JSON body (`application/json`, never cached).
    pub fn json<T: Serialize>(status: u16, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                headers: vec![
                    ("content-type".into(), "application/json".into()),
                    ("cache-control".into(), "no-store".into()),
                ],
                body,
            },
            Err(_) => Response::problem(500, "INTERNAL", "the answer could not be encoded"),
        }
    }

    /// An HTML page (`text/html; charset=utf-8`, never cached).
    pub fn html(status: u16, page: String) -> Self {
        Response {
            status,
            headers: vec![
                ("content-type".into(), "text/html; charset=utf-8".into()),
                ("cache-control".into(), "no-store".into()),
            ],
            body: page.into_bytes(),
        }
    }

    /// `303 See Other` to a same-site `location` (the answer to a form post).
    pub fn see_other(location: &str) -> Self {
        Response::new(303)
            .with_header("location", location)
            .with_header("cache-control", "no-store")
    }

    /// `302 Found` to a same-site `location`.
    pub fn redirect(location: &str) -> Self {
        Response::new(302)
            .with_header("location", location)
            .with_header("cache-control", "no-store")
    }

    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as UTF-8 text (lossy): for tests and logs.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Attributes of the cookies the edge sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookiePolicy {
    /// Add `Secure` (on everywhere but plain-HTTP local development).
    pub secure: bool,
}

impl CookiePolicy {
    /// `name=value; Path=/; HttpOnly; SameSite=Lax; Max-Age=..[; Secure]`. Values are
    /// tokens (base64url and dots), which need no quoting.
    pub fn set(&self, name: &str, value: &str, max_age_secs: i64) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!(
            "{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            max_age_secs.max(0)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_split_and_bounded() {
        let r = Request::new("GET", "https://edge.example:8443/e/x?lang=ko#frag", []).expect("ok");
        assert_eq!(r.path, "/e/x");
        assert_eq!(r.query, "lang=ko");
        assert_eq!(r.target(), "/e/x?lang=ko");
        let r = Request::new("GET", "http://host", []).expect("ok");
        assert_eq!(r.path, "/");
        let long = format!("/{}", "a".repeat(MAX_TARGET_LEN));
        assert_eq!(Request::new("GET", &long, []).unwrap_err().status, 414);
    }

    #[test]
    fn only_read_headers_are_kept_and_repeats_are_bounded() {
        let big = "x".repeat(5_000);
        let r = Request::new(
            "POST",
            "/",
            [
                ("X-Other", big.as_str()),
                ("Cookie", "a=1"),
                ("cookie", "b=2"),
            ],
        )
        .expect("ok");
        assert_eq!(r.header("x-other"), None);
        assert_eq!(r.cookie("b"), Some("2"));
        let err = Request::new(
            "GET",
            "/",
            [("cookie", big.as_str()), ("cookie", big.as_str())],
        )
        .unwrap_err();
        assert_eq!(err.status, 431);
        assert!(err.text().contains("HEADER_TOO_LARGE"));
    }

    #[test]
    fn json_negotiation() {
        let r = |a: &str| Request::new("GET", "/", [("accept", a)]).expect("ok");
        assert!(r("application/json").wants_json());
        assert!(!r("text/html,application/xhtml+xml,application/json;q=0.9").wants_json());
        assert!(!r("*/*").wants_json());
    }

    #[test]
    fn problems_have_the_origin_shape() {
        let p = Response::problem(403, "TOKEN_WRONG_TYPE", "nope");
        assert_eq!(p.header("content-type"), Some(PROBLEM_JSON));
        let v: Value = serde_json::from_slice(&p.body).expect("json");
        assert_eq!(v["type"], "https://urr.dev/problems/token-wrong-type");
        assert_eq!(v["title"], "Forbidden");
        assert_eq!(v["status"], 403);
        assert_eq!(v["code"], "TOKEN_WRONG_TYPE");
        assert_eq!(v["detail"], "nope");
    }

    #[test]
    fn cookies() {
        let set = CookiePolicy { secure: true }.set("urr_ticket", "a.b.c", 60);
        assert_eq!(
            set,
            "urr_ticket=a.b.c; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert!(
            !CookiePolicy { secure: false }
                .set("n", "v", -5)
                .contains("Secure")
        );
    }
}
