//! `POST /api/v1/events/{event_id}/edge-rules/preview`: the waiting-room page that
//! rules being edited would show, rendered by the edge's own page code
//! (`shared_wasm::edge::preview`), for the promoter console's live preview. Nothing is
//! stored or pushed.

use super::rules::check_rules;
use crate::auth::AuthUser;
use crate::catalog::authorize_event_manager;
use crate::http::{ApiError, ApiResult, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use shared_wasm::edge::page::{Lang, csp};
use shared_wasm::edge::preview::{self, PreviewPage};
use shared_wasm::queue::seed_commitment;
use shared_wasm::rules::{EdgeRules, Method};
use utoipa::ToSchema;
use uuid::Uuid;

/// Which page to render.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PreviewPageName {
    /// The join button.
    Join,
    /// A sample fan waiting in line (position 12,345, 12,000 ahead).
    #[default]
    Queue,
    /// Before the room opens.
    NotOpen,
}

#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PreviewLang {
    #[default]
    Ko,
    En,
}

/// `POST /edge-rules/preview` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// The rules as they would be PUT (checked the same way; `version` is not).
    pub rules: EdgeRules,
    #[serde(default)]
    pub lang: PreviewLang,
    #[serde(default)]
    pub page: PreviewPageName,
}

crate::problems!(
    PreviewProblems: [codes::AUTH, codes::JSON_BODY, codes::PATH],
    FORBIDDEN_ROLE, NOT_EVENT_OWNER, EVENT_NOT_FOUND, RULES_EVENT_MISMATCH,
);

/// The waiting-room page these rules would show (HTML, as the edge renders it). For
/// the rules editor's preview: show it in a sandboxed frame; its script does not run
/// there, so the page is the one a fan sees before any update.
#[utoipa::path(post, path = "/api/v1/events/{event_id}/edge-rules/preview", tag = "queue",
    params(("event_id" = Uuid, Path, description = "Event id")),
    request_body = PreviewRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The page", content_type = "text/html", body = String),
        PreviewProblems))]
pub(super) async fn preview_rules(
    State(state): State<AppState>,
    user: AuthUser,
    Path(event_id): Path<Uuid>,
    Json(body): Json<PreviewRequest>,
) -> ApiResult<Response> {
    let event = authorize_event_manager(&state.db, &user, event_id).await?;
    let mut rules = body.rules;
    if rules.event_id != event_id {
        return Err(ApiError::new(
            crate::http::Code::RULES_EVENT_MISMATCH,
            format!("rules.event_id must be {event_id}, the event of the path"),
        ));
    }
    // The server sets the draw's commitment on save; any commitment passes the check.
    rules.draw_seed_commitment =
        (rules.method == Method::Random).then(|| seed_commitment(&[0; 32]));
    rules.version = rules.version.max(1);
    check_rules(&rules)?;
    let lang = match body.lang {
        PreviewLang::Ko => Lang::Ko,
        PreviewLang::En => Lang::En,
    };
    let page = match body.page {
        PreviewPageName::Join => PreviewPage::Join,
        PreviewPageName::Queue => PreviewPage::Queue,
        PreviewPageName::NotOpen => PreviewPage::NotOpen,
    };
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    let html = preview::render(
        rules,
        Some(event.title),
        lang,
        page,
        state.clock.unix_ms(),
        &nonce,
    );
    let mut resp = axum::response::Html(html).into_response();
    let headers = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp(&nonce)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(resp)
}
