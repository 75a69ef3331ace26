//! Image uploads: sniffed, checked, cleaned of metadata, stored, served.

use crate::helpers::{TestApp, TestUser, assert_problem, json};
use image::{DynamicImage, ImageFormat};
use reqwest::StatusCode;
use serde_json::Value;
use shared_wasm::token::Role;
use std::io::Cursor;

fn encoded(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let img = DynamicImage::new_rgb8(w, h);
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

/// A JPEG with an EXIF segment carrying a "GPS position" right after the SOI marker.
fn jpeg_with_exif(secret: &str) -> Vec<u8> {
    let plain = encoded(64, 48, ImageFormat::Jpeg);
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(secret.as_bytes());
    let len = u16::try_from(payload.len() + 2).expect("small");
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&plain[2..]);
    out
}

async fn upload(
    app: &TestApp,
    who: Option<&TestUser>,
    bytes: Vec<u8>,
    ct: &str,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/api/v1/uploads"))
        .header("content-type", ct)
        .body(bytes);
    if let Some(u) = who {
        req = req.bearer_auth(&u.token);
    }
    req.send().await.expect("upload")
}

#[tokio::test]
async fn images_are_sniffed_cleaned_stored_and_served() {
    let app = TestApp::spawn().await;
    let promoter = app.create_user(Role::Promoter).await;
    let fan = app.create_user(Role::Fan).await;

    // A JPEG carrying EXIF: stored and served without it.
    let secret = "GPS 37.5665N 126.9780E";
    let original = jpeg_with_exif(secret);
    assert!(
        original
            .windows(secret.len())
            .any(|w| w == secret.as_bytes())
    );
    let res = upload(
        &app,
        Some(&promoter),
        original.clone(),
        "application/octet-stream",
    )
    .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let stored: Value = json(res).await;
    assert_eq!(stored["content_type"], "image/jpeg");
    assert_eq!(
        (stored["width"].as_u64(), stored["height"].as_u64()),
        (Some(64), Some(48))
    );
    let url = stored["url"].as_str().expect("url").to_owned();
    assert!(
        url.starts_with("/media/images/") && url.ends_with(".jpg"),
        "{url}"
    );
    let res = app.client.get(app.url(&url)).send().await.expect("get");
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap_or("")
            .contains("immutable")
    );
    let served = res.bytes().await.expect("bytes");
    assert!(
        !served.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "EXIF stripped"
    );
    let img = image::load_from_memory(&served).expect("still an image");
    assert_eq!((img.width(), img.height()), (64, 48));

    // A PNG with bytes hidden after its end, declared as something else: the same.
    let mut png = encoded(32, 32, ImageFormat::Png);
    png.extend_from_slice(b"<script>alert(1)</script>");
    let res = upload(&app, Some(&promoter), png.clone(), "image/jpeg").await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let first: Value = json(res).await;
    assert_eq!(first["content_type"], "image/png");
    let served = app
        .client
        .get(app.url(first["url"].as_str().expect("url")))
        .send()
        .await
        .expect("get");
    let served = served.bytes().await.expect("bytes");
    assert!(!served.windows(8).any(|w| w == b"<script>"));
    // The same picture twice is one stored file.
    let again: Value = json(upload(&app, Some(&promoter), png, "image/png").await).await;
    assert_eq!(again["key"], first["key"]);
    let webp = upload(
        &app,
        Some(&promoter),
        encoded(20, 20, ImageFormat::WebP),
        "image/webp",
    )
    .await;
    assert_eq!(webp.status(), StatusCode::CREATED);

    // Refused: other formats, damaged files, odd sizes, too large, fans, strangers.
    let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;".to_vec();
    assert_problem(
        upload(&app, Some(&promoter), gif, "image/gif").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "IMAGE_UNSUPPORTED",
    )
    .await;
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'/>".to_vec();
    assert_problem(
        upload(&app, Some(&promoter), svg, "image/png").await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "IMAGE_UNSUPPORTED",
    )
    .await;
    let truncated = encoded(64, 64, ImageFormat::Png)[..70].to_vec();
    assert_problem(
        upload(&app, Some(&promoter), truncated, "image/png").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IMAGE_INVALID",
    )
    .await;
    let tiny = encoded(4, 400, ImageFormat::Png);
    assert_problem(
        upload(&app, Some(&promoter), tiny, "image/png").await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "IMAGE_DIMENSIONS",
    )
    .await;
    let mut huge = encoded(64, 64, ImageFormat::Png);
    huge.resize(5 * 1024 * 1024 + 1, 0);
    assert_problem(
        upload(&app, Some(&promoter), huge, "image/png").await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
    )
    .await;
    let ok = encoded(64, 64, ImageFormat::Png);
    assert_problem(
        upload(&app, Some(&fan), ok.clone(), "image/png").await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;
    assert_eq!(
        upload(&app, None, ok, "image/png").await.status(),
        StatusCode::UNAUTHORIZED
    );

    // Only names the store made are served.
    for path in [
        "/media/images/../../etc/passwd",
        "/media/images/abc.jpg",
        &format!("/media/images/{}.gif", "a".repeat(64)),
        &format!("/media/images/{}.png", "b".repeat(64)),
    ] {
        let res = app.client.get(app.url(path)).send().await.expect("get");
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
    }
}
