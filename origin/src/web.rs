//! The web app (`frontend/`, built by Vite into `URR_WEB_DIR`) served at `/`.
//!
//! - `/assets/*`: Vite's content-hashed files, cached for a year as `immutable` (a new
//!   build has new names, so nothing stale is ever served from a cache);
//! - the app's own pages (`/`, `/events/…`, `/checkout/…`, `/payment/…`, `/me/…`,
//!   `/artists…`, `/transfers…`, `/community…`, `/news`, `/door`, `/login`, `/register`, `/promoter…`, `/admin…`): `index.html`, `no-cache`, and the
//!   browser-side router draws the page. Every other unknown path stays a JSON 404, so
//!   a typo in an API path never answers 200 with HTML;
//! - other files at the build's top level (icons, `robots.txt`): as files, cached a
//!   little while.
//!
//! The waiting room (`/e/…`, `/vwr/…`) is the edge's, never the origin's.
//! When the folder has no `index.html` (an API-only deployment, or the tests), no
//! route is added.

use crate::state::AppState;
use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::path::Path;
use tower_http::services::{ServeDir, ServeFile};
use tower_http::set_header::SetResponseHeaderLayer;

/// The app's page routes (react-router's), each answered with `index.html`.
pub const PAGE_ROUTES: &[&str] = &[
    "/",
    "/events/{*rest}",
    "/checkout/{*rest}",
    "/payment/{*rest}",
    "/me/{*rest}",
    "/artists",
    "/artists/{*rest}",
    "/transfers",
    "/transfers/{*rest}",
    "/community",
    "/community/{*rest}",
    "/news",
    "/door",
    "/login",
    "/register",
    "/promoter",
    "/promoter/{*rest}",
    "/admin",
    "/admin/{*rest}",
];

/// The page's Content-Security-Policy: our own scripts, plus Toss's payment widget and
/// Google's sign-in button, which load from their hosts.
const CSP: &str = "default-src 'self'; \
    script-src 'self' https://js.tosspayments.com https://accounts.google.com/gsi/client; \
    style-src 'self' 'unsafe-inline' https://accounts.google.com/gsi/style; \
    img-src 'self' https: data:; \
    connect-src 'self' https://*.tosspayments.com https://accounts.google.com/gsi/; \
    frame-src 'self' https://*.tosspayments.com https://accounts.google.com/gsi/; \
    object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// The web app's routes, or `None` when `dir` holds no built app.
pub fn router(dir: &Path) -> Option<Router<AppState>> {
    let index = match std::fs::read(dir.join("index.html")) {
        Ok(bytes) => Bytes::from(bytes),
        Err(_) => {
            tracing::info!(dir = %dir.display(), "no web app built there; serving the API only");
            return None;
        }
    };
    let page = move || {
        let index = index.clone();
        async move { page_response(index) }
    };
    let mut router = Router::new();
    for path in PAGE_ROUTES {
        router = router.route(path, get(page.clone()));
    }
    let assets = ServeDir::new(dir.join("assets")).precompressed_gzip();
    router = router.nest_service(
        "/assets",
        tower::ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            ))
            .service(assets),
    );
    for file in top_level_files(dir) {
        let route = format!("/{file}");
        router = router.route_service(
            &route,
            tower::ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=3600"),
                ))
                .service(ServeFile::new(dir.join(&file))),
        );
    }
    Some(router)
}

fn page_response(index: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "same-origin"),
        ],
        index,
    )
        .into_response()
}

/// Plain files next to `index.html` (not folders, not the index itself), with names
/// that are safe as one path segment.
fn top_level_files(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n != "index.html")
        .filter(|n| {
            n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        })
        .collect();
    names.sort();
    names
}
