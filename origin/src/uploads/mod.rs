//! Images for posters and artists: `POST /api/v1/uploads` (promoters, admins) and
//! `GET /media/{key}`.
//!
//! The body is the image itself (any `Content-Type`; the format is sniffed), at most
//! `URR_UPLOADS_MAX_BYTES` (5 MiB). It is checked and re-encoded by [`image`] (so no
//! metadata survives), then stored through the `object_store` crate: a local directory
//! by default, any S3-compatible bucket by configuration ([`UploadsConfig`]). Keys are
//! content addresses (`images/<sha-256>.<ext>`): uploading the same picture twice
//! stores it once, and a stored file never changes, so it is served as immutable.

mod config;
mod image;

pub use config::UploadsConfig;

use crate::auth::AuthUser;
use crate::http::{ApiError, ApiResult, Code};
use crate::state::AppState;
use anyhow::Context;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use object_store::ObjectStore;
use object_store::path::Path as StorePath;
use serde::Serialize;
use sha2::{Digest, Sha256};
use shared_wasm::token::Role;
use std::sync::Arc;
use utoipa::ToSchema;

/// Where images are kept.
pub struct Uploads {
    store: Arc<dyn ObjectStore>,
}

impl Uploads {
    pub fn new(config: &UploadsConfig) -> anyhow::Result<Uploads> {
        let store: Arc<dyn ObjectStore> = if config.store.contains("://") {
            let url = url::Url::parse(&config.store).context("URR_UPLOADS_STORE is not a URL")?;
            let opts: Vec<(String, String)> = std::env::vars()
                .filter(|(k, _)| k.starts_with("AWS_"))
                .map(|(k, v)| (k.to_ascii_lowercase(), v))
                .collect();
            let (store, prefix) = object_store::parse_url_opts(&url, opts)
                .context("URR_UPLOADS_STORE names no object store we can open")?;
            Arc::new(object_store::prefix::PrefixStore::new(store, prefix))
        } else {
            std::fs::create_dir_all(&config.store)
                .with_context(|| format!("URR_UPLOADS_STORE: cannot create {}", config.store))?;
            Arc::new(
                object_store::local::LocalFileSystem::new_with_prefix(&config.store)
                    .context("URR_UPLOADS_STORE is not a usable directory")?,
            )
        };
        Ok(Uploads { store })
    }
}

/// A stored image.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    /// Where to show it from (use it as a poster or artist `image_url`).
    pub url: String,
    pub key: String,
    pub content_type: String,
    pub width: u32,
    pub height: u32,
    /// Size of the stored (cleaned) file.
    pub bytes: usize,
}

crate::problems!(
    UploadProblems: [codes::AUTH],
    FORBIDDEN_ROLE, PAYLOAD_TOO_LARGE, IMAGE_UNSUPPORTED, IMAGE_INVALID, IMAGE_DIMENSIONS,
    UPLOADS_UNAVAILABLE,
);

/// Uploads an image (JPEG, PNG or WebP, at most 5 MiB, 16 to 8,000 pixels a side). The
/// body is the file itself. Metadata (EXIF, GPS, comments) is stripped.
#[utoipa::path(post, path = "/api/v1/uploads", tag = "catalog",
    request_body(content = Vec<u8>, content_type = "image/*", description = "The image file"),
    security(("bearer" = [])),
    responses((status = 201, body = Uploaded), UploadProblems))]
pub(crate) async fn upload(
    State(state): State<AppState>,
    user: AuthUser,
    body: Bytes,
) -> ApiResult<(StatusCode, axum::Json<Uploaded>)> {
    user.require(&[Role::Promoter, Role::Admin])?;
    if body.len() > state.config.uploads.max_bytes {
        return Err(ApiError::new(
            Code::PAYLOAD_TOO_LARGE,
            format!(
                "an image is at most {} bytes",
                state.config.uploads.max_bytes
            ),
        ));
    }
    let cleaned = tokio::task::spawn_blocking(move || image::clean(&body))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            let code = match e {
                image::Refused::Unsupported => Code::IMAGE_UNSUPPORTED,
                image::Refused::Invalid(_) => Code::IMAGE_INVALID,
                image::Refused::Dimensions { .. } => Code::IMAGE_DIMENSIONS,
            };
            ApiError::new(code, e.to_string())
        })?;
    let key = format!(
        "images/{:x}.{}",
        Sha256::digest(&cleaned.bytes),
        cleaned.extension()
    );
    let size = cleaned.bytes.len();
    let content_type = cleaned.content_type().to_owned();
    let (width, height) = (cleaned.width, cleaned.height);
    state
        .uploads
        .store
        .put(&StorePath::from(key.as_str()), cleaned.bytes.into())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "storing an upload failed");
            ApiError::new(
                Code::UPLOADS_UNAVAILABLE,
                "the image store is unavailable; try again shortly",
            )
            .with_retry_after(5)
        })?;
    metrics::counter!("urr_uploads_total").increment(1);
    tracing::info!(user = %user.id, %key, bytes = size, "image uploaded");
    Ok((
        StatusCode::CREATED,
        axum::Json(Uploaded {
            url: format!("{}/{key}", state.config.uploads.public_base),
            key,
            content_type,
            width,
            height,
            bytes: size,
        }),
    ))
}

/// `GET /media/images/<sha-256>.<ext>`: a stored image, cached forever (its name is
/// its content).
pub(crate) async fn media(
    State(state): State<AppState>,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Response {
    let not_found = || ApiError::new(Code::NOT_FOUND, "No such image").into_response();
    // Only names we make: hex digest and one of our extensions, nothing else.
    let Some((digest, ext)) = name.split_once('.') else {
        return not_found();
    };
    let format = match ext {
        "jpg" => ::image::ImageFormat::Jpeg,
        "png" => ::image::ImageFormat::Png,
        "webp" => ::image::ImageFormat::WebP,
        _ => return not_found(),
    };
    if digest.len() != 64 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return not_found();
    }
    let path = StorePath::from(format!("images/{name}"));
    let bytes = match state.uploads.store.get(&path).await {
        Ok(r) => r.bytes().await,
        Err(object_store::Error::NotFound { .. }) => return not_found(),
        Err(e) => Err(e),
    };
    match bytes {
        Ok(b) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(image::content_type(format)),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            b,
        )
            .into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "reading an upload failed");
            ApiError::new(Code::UPLOADS_UNAVAILABLE, "the image store is unavailable")
                .into_response()
        }
    }
}

/// Largest body the upload route reads at all (the configured limit, checked in the
/// handler, is at most this).
const BODY_CAP: usize = 50 * 1024 * 1024 + 1024;

pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    // Only the upload route takes large bodies; every other route keeps the small
    // JSON limit.
    utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(upload))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_CAP))
        .route("/media/images/{name}", axum::routing::get(media))
}
