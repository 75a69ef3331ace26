//! The OpenAPI 3.1 document, assembled from the `#[utoipa::path]` annotations of every
//! handler as the routers are merged (see `app::router`), served at
//! `/api/v1/openapi.json`. A route cannot exist without being documented: routers are
//! built with `utoipa_axum::routes!`, which registers the handler and its docs together.

use crate::http::{FieldError, Problem};
use axum::Extension;
use std::sync::Arc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "URR origin API",
        description = "Flash-sale ticketing: auth, catalog, booking, queue, payments. \
                       Errors are RFC 9457 problem+json with a stable `code`."
    ),
    components(schemas(Problem, FieldError)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT (EdDSA)")
                    .build(),
            ),
        );
    }
}

pub fn router<S: Clone + Send + Sync + 'static>() -> OpenApiRouter<S> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// This document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "ops",
    responses((status = 200, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json(
    Extension(doc): Extension<Arc<utoipa::openapi::OpenApi>>,
) -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json((*doc).clone())
}

/// Gives every operation a unique `operationId` made of its method and path
/// (`get_events_event_id`, `post_events_event_id_reservations`). utoipa names operations
/// after their handler functions, and several modules have a `get` or a `list`; the
/// specification requires unique ids, and client generators key operations by them.
pub fn unique_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    for (path, item) in doc.paths.paths.iter_mut() {
        let slug: String = path
            .trim_start_matches("/api/v1")
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.trim_matches(|c| c == '{' || c == '}')
                    .replace(['-', '.'], "_")
            })
            .collect::<Vec<_>>()
            .join("_");
        let ops = [
            ("get", item.get.as_mut()),
            ("put", item.put.as_mut()),
            ("post", item.post.as_mut()),
            ("delete", item.delete.as_mut()),
            ("patch", item.patch.as_mut()),
        ];
        for (method, op) in ops {
            if let Some(op) = op {
                op.operation_id = Some(if slug.is_empty() {
                    method.to_owned()
                } else {
                    format!("{method}_{slug}")
                });
            }
        }
    }
}
