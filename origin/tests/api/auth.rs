//! Auth: registration, login, refresh rotation and reuse detection, logout, access
//! token checks, rate limits, Google sign-in against a local issuer, and bad input.

use crate::helpers::{TestApp, assert_problem, json, random_key, set_cookies};
use axum::http::header;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::future::join_all;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use shared_wasm::token::{self, AccessClaims, EntryClaims, PassClaims, Role};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use uuid::Uuid;

const REGISTER: &str = "/api/v1/auth/register";
const LOGIN: &str = "/api/v1/auth/login";
const REFRESH: &str = "/api/v1/auth/refresh";
const LOGOUT: &str = "/api/v1/auth/logout";
const GOOGLE: &str = "/api/v1/auth/google";
const GOOGLE_NONCE: &str = "/api/v1/auth/google/nonce";
const ME: &str = "/api/v1/me";
const PASSWORD: &str = "correct horse battery";

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

async fn register(app: &TestApp, email: &str) -> Response {
    app.post(
        REGISTER,
        &json!({"email": email, "password": PASSWORD, "display_name": "Ann"}),
        None,
    )
    .await
}

async fn login(app: &TestApp, email: &str, password: &str) -> Response {
    app.post(LOGIN, &json!({"email": email, "password": password}), None)
        .await
}

/// The `urr_refresh` Set-Cookie header of `res`.
fn refresh_set_cookie(res: &Response) -> Option<String> {
    set_cookies(res)
        .into_iter()
        .find(|c| c.starts_with("urr_refresh="))
}

/// The refresh token a response set, panicking when it set none.
fn refresh_token(res: &Response) -> String {
    let c = refresh_set_cookie(res).expect("a urr_refresh cookie");
    let value = c
        .trim_start_matches("urr_refresh=")
        .split(';')
        .next()
        .unwrap_or("")
        .to_owned();
    assert!(!value.is_empty(), "empty refresh cookie: {c}");
    value
}

/// Registers `email` and returns (access token, refresh token, user id).
async fn session(app: &TestApp, email: &str) -> (String, String, Uuid) {
    let res = register(app, email).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let refresh = refresh_token(&res);
    let body = json(res).await;
    let id = body["user"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("user id");
    (
        body["access_token"].as_str().expect("token").to_owned(),
        refresh,
        id,
    )
}

/// `POST /refresh` the way a browser does it: the cookie, no body.
async fn refresh_with_cookie(app: &TestApp, token: &str) -> Response {
    app.request(Method::POST, REFRESH, None)
        .header(header::COOKIE, format!("urr_refresh={token}"))
        .send()
        .await
        .expect("refresh")
}

async fn logout_with_cookie(app: &TestApp, token: &str) -> Response {
    app.request(Method::POST, LOGOUT, None)
        .header(header::COOKIE, format!("urr_refresh={token}"))
        .send()
        .await
        .expect("logout")
}

async fn me_status(app: &TestApp, access: &str) -> StatusCode {
    app.get(ME, Some(access)).await.status()
}

// ---------------------------------------------------------------------------------------
// Register, login, me, refresh, logout
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn register_login_me_refresh_logout_flow() {
    let app = TestApp::spawn().await;

    let res = app
        .post(
            REGISTER,
            &json!({"email": "  Ann@Example.COM ", "password": PASSWORD,
                    "display_name": " Ann Lee ", "phone": "+82 10-1234-5678"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let register_refresh = refresh_token(&res);
    let body = json(res).await;
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 1800);
    assert_eq!(body["user"]["email"], "ann@example.com");
    assert_eq!(body["user"]["display_name"], "Ann Lee");
    assert_eq!(body["user"]["role"], "fan");
    assert!(
        body.get("refresh_token").is_none(),
        "refresh token only in the cookie"
    );

    // Login with other casing finds the same account.
    let res = login(&app, "ANN@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
    let refresh1 = refresh_token(&res);
    let body = json(res).await;
    let access1 = body["access_token"].as_str().expect("access").to_owned();
    assert_eq!(body["user"]["email"], "ann@example.com");

    let me = json(app.get(ME, Some(&access1)).await).await;
    assert_eq!(me["email"], "ann@example.com");
    assert_eq!(me["phone"], "+82 10-1234-5678");
    assert_eq!(me["role"], "fan");
    assert_eq!(me["has_password"], true);
    assert_eq!(me["google_linked"], false);
    assert!(me["created_at"].is_string());
    let id = me["id"].as_str().expect("id").to_owned();

    let res = refresh_with_cookie(&app, &refresh1).await;
    assert_eq!(res.status(), StatusCode::OK);
    let refresh2 = refresh_token(&res);
    assert_ne!(refresh2, refresh1);
    let body = json(res).await;
    assert_eq!(body["user"]["id"], id.as_str());
    let access2 = body["access_token"].as_str().expect("access").to_owned();
    assert_ne!(access2, access1);
    assert_eq!(me_status(&app, &access2).await, StatusCode::OK);

    let res = logout_with_cookie(&app, &refresh2).await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    let cleared = refresh_set_cookie(&res).expect("logout clears the cookie");
    assert!(cleared.starts_with("urr_refresh=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert!(cleared.contains("Path=/api/v1/auth"), "{cleared}");

    // The logged-out session is dead...
    let res = refresh_with_cookie(&app, &refresh2).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    // ...but logout ended only that session, not the one from registration.
    let res = refresh_with_cookie(&app, &register_refresh).await;
    assert_eq!(res.status(), StatusCode::OK);

    // Logout is idempotent, with or without a token.
    assert_eq!(
        logout_with_cookie(&app, &refresh2).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = app
        .request(Method::POST, LOGOUT, None)
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn duplicate_email_is_409_whatever_the_casing() {
    let app = TestApp::spawn().await;
    assert_eq!(
        register(&app, "bob@example.com").await.status(),
        StatusCode::CREATED
    );
    assert_problem(
        register(&app, " BOB@Example.com").await,
        StatusCode::CONFLICT,
        "EMAIL_TAKEN",
    )
    .await;
    assert_eq!(app.count_rows("users").await, 1);
    assert_eq!(app.count_rows("refresh_tokens").await, 1);
}

#[tokio::test]
async fn concurrent_registrations_of_one_email_create_one_account() {
    let app = TestApp::spawn().await;
    let results = join_all((0..8).map(|_| register(&app, "race@example.com"))).await;
    let created = results
        .iter()
        .filter(|r| r.status() == StatusCode::CREATED)
        .count();
    let taken = results
        .iter()
        .filter(|r| r.status() == StatusCode::CONFLICT)
        .count();
    assert_eq!((created, taken), (1, 7));
    assert_eq!(app.count_rows("users").await, 1);
}

#[tokio::test]
async fn registration_fields_are_validated_and_nothing_is_written() {
    let app = TestApp::spawn().await;
    let body = assert_problem(
        app.post(
            REGISTER,
            &json!({"email": "not-an-email", "password": "short",
                    "display_name": "   ", "phone": "call me maybe"}),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["email", "password", "display_name", "phone"]);

    let too_long = "x".repeat(129);
    let body = assert_problem(
        app.post(
            REGISTER,
            &json!({"email": "a@example.com", "password": too_long, "display_name": "A"}),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "password");
    let body = assert_problem(
        app.post(
            REGISTER,
            &json!({"email": "a@example.com", "password": PASSWORD, "display_name": "n".repeat(101)}),
            None,
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "display_name");
    assert_eq!(app.count_rows("users").await, 0);
    assert_eq!(app.count_rows("refresh_tokens").await, 0);
}

#[tokio::test]
async fn login_failures_are_indistinguishable() {
    let app = TestApp::spawn().await;
    register(&app, "carol@example.com").await;
    let google_only = app.create_user(Role::Fan).await; // no password

    let mut details = Vec::new();
    for (email, password) in [
        ("carol@example.com", "wrong password"),
        ("nobody@example.com", PASSWORD),
        (google_only.email.as_str(), PASSWORD),
        ("", PASSWORD),
        ("carol@example.com", ""),
    ] {
        let res = login(&app, email, password).await;
        assert!(
            refresh_set_cookie(&res).is_none(),
            "no cookie on failed login"
        );
        let body = assert_problem(res, StatusCode::UNAUTHORIZED, "INVALID_CREDENTIALS").await;
        details.push(body["detail"].clone());
    }
    assert!(details.windows(2).all(|w| w[0] == w[1]), "{details:?}");
    // Only registration made a session.
    assert_eq!(app.count_rows("refresh_tokens").await, 1);
    assert_eq!(
        login(&app, "carol@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    let metrics = app.metrics().await;
    for outcome in ["invalid_credentials", "success"] {
        let series = format!(r#"auth_logins_total{{outcome="{outcome}"}}"#);
        assert!(metrics.contains(&series), "{series} missing");
    }
}

#[tokio::test]
async fn create_user_makes_accounts_that_can_log_in() {
    let app = TestApp::spawn().await;
    let params = urr_origin::auth::PasswordParams::from_config(&app.state.config.auth);
    let id = urr_origin::auth::create_user(
        app.db(),
        &app.state.clock,
        params,
        "Admin@URR.dev",
        "admin password",
        "Admin",
        Role::Admin,
    )
    .await
    .expect("create admin");
    let res = login(&app, "admin@urr.dev", "admin password").await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json(res).await;
    assert_eq!(body["user"]["id"], id.to_string());
    assert_eq!(body["user"]["role"], "admin");
    let claims: AccessClaims = token::verify(
        &app.state.config.keys.origin_public,
        body["access_token"].as_str().expect("token"),
        app.state.clock.unix(),
    )
    .expect("valid access token");
    assert_eq!(claims.role, Role::Admin);

    let again = urr_origin::auth::create_user(
        app.db(),
        &app.state.clock,
        params,
        "admin@urr.dev",
        "another password",
        "Admin 2",
        Role::Promoter,
    )
    .await;
    assert!(
        matches!(again, Err(urr_origin::auth::CreateUserError::EmailTaken)),
        "{again:?}"
    );
    let bad = urr_origin::auth::create_user(
        app.db(),
        &app.state.clock,
        params,
        "x",
        "short",
        "",
        Role::Fan,
    )
    .await;
    assert!(
        matches!(bad, Err(urr_origin::auth::CreateUserError::Invalid(ref e)) if e.len() == 3),
        "{bad:?}"
    );
}

#[tokio::test]
async fn login_upgrades_hashes_made_with_old_parameters() {
    let app = TestApp::spawn().await;
    let old = urr_origin::auth::PasswordParams {
        memory_kib: 512,
        iterations: 1,
    };
    urr_origin::auth::create_user(
        app.db(),
        &app.state.clock,
        old,
        "old@example.com",
        PASSWORD,
        "Old",
        Role::Fan,
    )
    .await
    .expect("create");
    assert_eq!(
        login(&app, "old@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
    let hash: String =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE email = 'old@example.com'")
            .fetch_one(app.db())
            .await
            .expect("hash");
    assert!(hash.contains("m=1024,t=1"), "{hash}");
    assert_eq!(
        login(&app, "old@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn me_of_a_deleted_account_is_404() {
    let app = TestApp::spawn().await;
    let (access, refresh, id) = session(&app, "gone@example.com").await;
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(app.db())
        .await
        .expect("delete");
    assert_problem(
        app.get(ME, Some(&access)).await,
        StatusCode::NOT_FOUND,
        "USER_NOT_FOUND",
    )
    .await;
    // Its sessions went with it.
    assert_problem(
        refresh_with_cookie(&app, &refresh).await,
        StatusCode::UNAUTHORIZED,
        "REFRESH_INVALID",
    )
    .await;
}

// ---------------------------------------------------------------------------------------
// Refresh rotation and reuse detection
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn every_refresh_rotates_and_uses_the_old_token_up() {
    let app = TestApp::spawn().await;
    let (_, first, _) = session(&app, "rot@example.com").await;
    let mut seen = vec![first.clone()];
    let mut current = first;
    for _ in 0..3 {
        let res = refresh_with_cookie(&app, &current).await;
        assert_eq!(res.status(), StatusCode::OK);
        let next = refresh_token(&res);
        assert!(!seen.contains(&next), "refresh token repeated");
        seen.push(next.clone());
        current = next;
    }
    // Non-browser clients send the token as JSON.
    let res = app
        .post(REFRESH, &json!({"refresh_token": current}), None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let last = refresh_token(&res);

    // One family, every token but the newest used up.
    let rows: Vec<(Option<chrono::DateTime<chrono::Utc>>, Uuid)> =
        sqlx::query_as("SELECT used_at, family_id FROM refresh_tokens ORDER BY issued_at, id")
            .fetch_all(app.db())
            .await
            .expect("rows");
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().all(|(_, f)| *f == rows[0].1), "one family");
    assert_eq!(rows.iter().filter(|(u, _)| u.is_none()).count(), 1);
    // The token is stored hashed, never in the clear.
    let stored: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM refresh_tokens WHERE token_hash = convert_to($1, 'UTF8')",
    )
    .bind(&last)
    .fetch_one(app.db())
    .await
    .expect("count");
    assert_eq!(stored, 0);
}

#[tokio::test]
async fn replaying_a_used_token_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let (_, t1, _) = session(&app, "victim@example.com").await;
    // Another device, another family: must survive.
    let other = refresh_token(&login(&app, "victim@example.com", PASSWORD).await);

    let res = refresh_with_cookie(&app, &t1).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t2 = refresh_token(&res);
    let res = refresh_with_cookie(&app, &t2).await;
    assert_eq!(res.status(), StatusCode::OK);
    let t3 = refresh_token(&res);

    // The thief replays t1.
    let res = refresh_with_cookie(&app, &t1).await;
    let cleared = refresh_set_cookie(&res).expect("a dead token's cookie is cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_problem(res, StatusCode::UNAUTHORIZED, "REFRESH_REUSED").await;

    // The family's newest token, never used, is dead too.
    assert_problem(
        refresh_with_cookie(&app, &t3).await,
        StatusCode::UNAUTHORIZED,
        "REFRESH_REUSED",
    )
    .await;
    assert_problem(
        app.post(REFRESH, &json!({"refresh_token": t2}), None).await,
        StatusCode::UNAUTHORIZED,
        "REFRESH_REUSED",
    )
    .await;
    assert_eq!(
        refresh_with_cookie(&app, &other).await.status(),
        StatusCode::OK
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("auth_refresh_reuse_detected_total"),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"auth_refreshes_total{outcome="reused"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn concurrent_refreshes_with_one_token_let_at_most_one_through() {
    let app = TestApp::spawn().await;
    let (_, token, _) = session(&app, "race@example.com").await;
    let results = join_all((0..16).map(|_| refresh_with_cookie(&app, &token))).await;
    let mut ok = Vec::new();
    let mut codes = Vec::new();
    for res in results {
        if res.status() == StatusCode::OK {
            ok.push(refresh_token(&res));
        } else {
            codes.push(json(res).await["code"].as_str().unwrap_or("").to_owned());
        }
    }
    assert_eq!(ok.len(), 1, "exactly one refresh wins; others: {codes:?}");
    assert!(codes.iter().all(|c| c == "REFRESH_REUSED"), "{codes:?}");
    // No second successor was minted: the original plus the winner's token.
    assert_eq!(app.count_rows("refresh_tokens").await, 2);
    // The losers were replays of a used token, so the winner's token is revoked too.
    assert_eq!(
        refresh_with_cookie(&app, &ok[0]).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn unknown_missing_and_expired_refresh_tokens_are_refused() {
    let app = TestApp::spawn().await;
    let (_, token, _) = session(&app, "exp@example.com").await;

    let forged = URL_SAFE_NO_PAD.encode([7u8; 32]);
    assert_problem(
        refresh_with_cookie(&app, &forged).await,
        StatusCode::UNAUTHORIZED,
        "REFRESH_INVALID",
    )
    .await;
    assert_problem(
        refresh_with_cookie(&app, "garbage").await,
        StatusCode::UNAUTHORIZED,
        "REFRESH_INVALID",
    )
    .await;
    // An access token is not a refresh token either.
    let (access, ..) = session(&app, "exp2@example.com").await;
    assert_problem(
        app.post(REFRESH, &json!({"refresh_token": access}), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "REFRESH_INVALID",
    )
    .await;
    let res = app
        .request(Method::POST, REFRESH, None)
        .send()
        .await
        .expect("refresh");
    assert_problem(res, StatusCode::UNAUTHORIZED, "REFRESH_MISSING").await;
    // Unknown tokens never start a family.
    assert_eq!(app.count_rows("refresh_tokens").await, 2);

    app.state
        .clock
        .advance(chrono::Duration::days(7) + chrono::Duration::seconds(1));
    assert_problem(
        refresh_with_cookie(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "REFRESH_EXPIRED",
    )
    .await;
    assert_eq!(app.count_rows("refresh_tokens").await, 2);
}

#[tokio::test]
async fn refresh_reads_the_current_role() {
    let app = TestApp::spawn().await;
    let (access, refresh, id) = session(&app, "promo@example.com").await;
    sqlx::query("UPDATE users SET role = 'promoter' WHERE id = $1")
        .bind(id)
        .execute(app.db())
        .await
        .expect("promote");
    let res = refresh_with_cookie(&app, &refresh).await;
    let body = json(res).await;
    assert_eq!(body["user"]["role"], "promoter");
    let keys = &app.state.config.keys.origin_public;
    let now = app.state.clock.unix();
    let new: AccessClaims =
        token::verify(keys, body["access_token"].as_str().expect("token"), now).expect("new");
    let old: AccessClaims = token::verify(keys, &access, now).expect("old");
    assert_eq!((old.role, new.role), (Role::Fan, Role::Promoter));
    assert_eq!(new.sub, id);
}

// ---------------------------------------------------------------------------------------
// Access tokens
// ---------------------------------------------------------------------------------------

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn only_valid_access_tokens_pass() {
    let app = TestApp::spawn().await;
    let (access, refresh, id) = session(&app, "tok@example.com").await;
    let origin_key = &app.state.config.keys.origin_signing;
    let now = app.state.clock.unix();
    let check = |token: String, code: &'static str| {
        let app = &app;
        async move {
            assert_problem(
                app.get(ME, Some(&token)).await,
                StatusCode::UNAUTHORIZED,
                code,
            )
            .await;
        }
    };

    assert_eq!(me_status(&app, &access).await, StatusCode::OK);
    check(refresh.clone(), "TOKEN_MALFORMED").await;

    let entry = token::sign(
        origin_key,
        &EntryClaims {
            evt: Uuid::new_v4(),
            sub: id,
            jti: "e1".into(),
            iat: now,
            exp: now + 600,
        },
    );
    check(entry, "TOKEN_WRONG_TYPE").await;
    let pass = PassClaims {
        evt: Uuid::new_v4(),
        sub: id.to_string(),
        pos: 1,
        jti: "p1".into(),
        iat: now,
        exp: now + 600,
    };
    check(token::sign(origin_key, &pass), "TOKEN_WRONG_TYPE").await;
    // A real pass is signed by the edge, whose key the access verifier does not trust.
    check(token::sign(&app.edge_key, &pass), "TOKEN_UNKNOWN_KEY").await;

    // Forged: claims changed under the original signature.
    let parts: Vec<&str> = access.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    claims["role"] = json!("admin");
    check(
        format!("{}.{}.{}", parts[0], b64(&claims), parts[2]),
        "TOKEN_BAD_SIGNATURE",
    )
    .await;

    let admin = AccessClaims {
        sub: id,
        role: Role::Admin,
        jti: "x".into(),
        iat: now,
        exp: now + 600,
        sid: None,
    };
    let (rogue, _) = random_key("rogue");
    check(token::sign(&rogue, &admin), "TOKEN_UNKNOWN_KEY").await;
    let (impostor, _) = random_key(origin_key.kid());
    check(token::sign(&impostor, &admin), "TOKEN_BAD_SIGNATURE").await;

    let mut claims_json = serde_json::to_value(&admin).expect("json");
    claims_json["typ"] = json!("access");
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT", "kid": origin_key.kid()})),
        b64(&claims_json)
    );
    // `alg: none` is named for what it is.
    check(none, "TOKEN_ALGORITHM").await;
    let hs = jsonwebtoken::encode(
        &Header {
            kid: Some(origin_key.kid().to_owned()),
            ..Header::new(Algorithm::HS256)
        },
        &claims_json,
        &EncodingKey::from_secret(b"the public key is not a secret"),
    )
    .expect("hs256");
    check(hs, "TOKEN_ALGORITHM").await;

    assert_problem(
        app.get(ME, None).await,
        StatusCode::UNAUTHORIZED,
        "AUTH_REQUIRED",
    )
    .await;
    let res = app
        .request(Method::GET, ME, None)
        .header(header::AUTHORIZATION, format!("Basic {access}"))
        .send()
        .await
        .expect("get");
    assert_problem(res, StatusCode::UNAUTHORIZED, "TOKEN_MALFORMED").await;

    // Still valid within 30 min + 30 s of skew (a few seconds of slack for the real
    // time this test takes), expired after.
    app.state
        .clock
        .advance(chrono::Duration::seconds(1800 + 25));
    assert_eq!(me_status(&app, &access).await, StatusCode::OK);
    app.state.clock.advance(chrono::Duration::seconds(10));
    check(access, "TOKEN_EXPIRED").await;
}

// ---------------------------------------------------------------------------------------
// Cookies
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn refresh_cookie_attributes() {
    let app = TestApp::spawn_with(&[("URR_COOKIE_SECURE", "true")]).await;
    let res = register(&app, "cookie@example.com").await;
    let c = refresh_set_cookie(&res).expect("cookie");
    for attr in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/api/v1/auth",
        "Secure",
        "Max-Age=604800",
    ] {
        assert!(c.split("; ").any(|a| a == attr), "{attr} missing in {c}");
    }
    let token = refresh_token(&res);
    let res = refresh_with_cookie(&app, &token).await;
    let c = refresh_set_cookie(&res).expect("cookie");
    assert!(c.contains("Secure") && c.contains("HttpOnly"), "{c}");
    let c = refresh_set_cookie(&logout_with_cookie(&app, &refresh_token(&res)).await)
        .expect("clearing cookie");
    assert!(c.contains("Secure") && c.contains("Max-Age=0"), "{c}");

    // Plain-http development turns Secure off.
    let app = TestApp::spawn().await;
    let c = refresh_set_cookie(&register(&app, "cookie@example.com").await).expect("cookie");
    assert!(!c.contains("Secure"), "{c}");
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );
}

// ---------------------------------------------------------------------------------------
// Rate limits
// ---------------------------------------------------------------------------------------

/// Moves the clock to the start of a rate-limit window (60 s by default), so a test's
/// attempts cannot straddle two windows.
fn start_of_window(app: &TestApp) {
    let window = i64::try_from(app.state.config.auth.rate_window.as_secs()).expect("small");
    let into = app.state.clock.unix().rem_euclid(window);
    app.state
        .clock
        .advance(chrono::Duration::seconds(window - into));
}

fn retry_after(res: &Response) -> u64 {
    res.headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After header")
}

#[tokio::test]
async fn login_is_limited_per_ip() {
    let app = TestApp::spawn_with(&[
        ("URR_RATE_LOGIN_PER_IP", "3"),
        ("URR_RATE_LOGIN_PER_ACCOUNT", "100"),
    ])
    .await;
    start_of_window(&app);
    register(&app, "dave@example.com").await;
    for i in 0..3 {
        let res = login(&app, &format!("guess{i}@example.com"), "nope nope").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    // Over the limit even with the right password.
    let res = login(&app, "dave@example.com", PASSWORD).await;
    let wait = retry_after(&res);
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    // Forwarded headers are never believed: a spoofed one changes nothing.
    let res = app
        .request(Method::POST, LOGIN, None)
        .header("x-forwarded-for", "203.0.113.9")
        .json(&json!({"email": "dave@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("login");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);

    // The window frees after Retry-After.
    app.state.clock.advance(chrono::Duration::seconds(
        i64::try_from(wait).expect("small"),
    ));
    assert_eq!(
        login(&app, "dave@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

/// The secret the test edge MACs client IPs with (`URR_EDGE_PROXY_SECRETS`).
const EDGE_PROXY_SECRET: &[u8] = b"test-edge-proxy-secret-32-bytes!";

fn edge_proxy_secrets() -> String {
    URL_SAFE_NO_PAD.encode(EDGE_PROXY_SECRET)
}

/// A login as the edge forwards it: the client IP attested with the shared secret.
async fn login_from(app: &TestApp, ip: &str, email: &str, password: &str) -> Response {
    let attestation = shared_wasm::client_ip::attest(EDGE_PROXY_SECRET, ip, app.state.clock.unix());
    app.request(Method::POST, LOGIN, None)
        .header(shared_wasm::client_ip::HEADER, attestation)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login")
}

async fn login_with_header(app: &TestApp, name: &str, value: &str) -> Response {
    app.request(Method::POST, LOGIN, None)
        .header(name, value)
        .json(&json!({"email": "x@example.com", "password": "p"}))
        .send()
        .await
        .expect("login")
}

#[tokio::test]
async fn login_is_limited_per_account_across_ips() {
    let app = TestApp::spawn_with(&[
        ("URR_RATE_LOGIN_PER_IP", "100"),
        ("URR_RATE_LOGIN_PER_ACCOUNT", "2"),
        ("URR_EDGE_PROXY_SECRETS", &edge_proxy_secrets()),
    ])
    .await;
    start_of_window(&app);
    register(&app, "erin@example.com").await;
    register(&app, "frank@example.com").await;
    for ip in ["198.51.100.1", "198.51.100.2"] {
        let res = login_from(&app, ip, "Erin@example.com", "guess guess").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    }
    let res = login_from(&app, "198.51.100.3", "erin@example.com", PASSWORD).await;
    assert!(retry_after(&res) >= 1);
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    // Other accounts are not affected.
    let res = login_from(&app, "198.51.100.3", "frank@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_edge_attested_ip_is_the_client_ip() {
    let app = TestApp::spawn_with(&[
        ("URR_RATE_LOGIN_PER_IP", "1"),
        ("URR_RATE_LOGIN_PER_ACCOUNT", "100"),
        ("URR_EDGE_PROXY_SECRETS", &edge_proxy_secrets()),
    ])
    .await;
    start_of_window(&app);
    let a = login_from(&app, "192.0.2.1", "x@example.com", "p").await;
    assert_eq!(a.status(), StatusCode::UNAUTHORIZED);
    let a = login_from(&app, "192.0.2.1", "x@example.com", "p").await;
    assert_eq!(a.status(), StatusCode::TOO_MANY_REQUESTS);
    // Another fan behind the same edge has their own budget.
    let b = login_from(&app, "192.0.2.2", "x@example.com", "p").await;
    assert_eq!(b.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn forged_forwarded_headers_and_attestations_count_as_the_peer() {
    let app = TestApp::spawn_with(&[
        ("URR_RATE_LOGIN_PER_IP", "2"),
        ("URR_RATE_LOGIN_PER_ACCOUNT", "100"),
        ("URR_EDGE_PROXY_SECRETS", &edge_proxy_secrets()),
    ])
    .await;
    start_of_window(&app);
    let now = app.state.clock.unix();
    // Each claims a different address; all of them are the same peer (127.0.0.1), so
    // the third attempt is over the per-IP limit of 2.
    let forged =
        shared_wasm::client_ip::attest(b"not-the-edge-secret-at-all-12345", "192.0.2.7", now);
    let stale = shared_wasm::client_ip::attest(EDGE_PROXY_SECRET, "192.0.2.8", now - 3_600);
    let a = login_with_header(&app, "x-forwarded-for", "192.0.2.5").await;
    assert_eq!(a.status(), StatusCode::UNAUTHORIZED);
    let b = login_with_header(&app, shared_wasm::client_ip::HEADER, &forged).await;
    assert_eq!(b.status(), StatusCode::UNAUTHORIZED);
    let c = login_with_header(&app, shared_wasm::client_ip::HEADER, &stale).await;
    assert_problem(c, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    let d = login_with_header(&app, "x-real-ip", "192.0.2.9").await;
    assert_problem(d, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
}

#[tokio::test]
async fn a_full_hashing_gate_answers_busy_and_changes_nothing() {
    let app = TestApp::spawn_with(&[
        ("URR_PASSWORD_HASH_CONCURRENCY", "2"),
        ("URR_PASSWORD_HASH_QUEUE_MS", "0"),
    ])
    .await;
    register(&app, "gate@example.com").await;
    let gate = app.state.auth.password_gate.slots().clone();
    let held = gate.acquire_many(2).await.expect("fill the gate");
    let res = login(&app, "gate@example.com", PASSWORD).await;
    assert_eq!(retry_after(&res), 1);
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "BUSY").await;
    let res = register(&app, "gate2@example.com").await;
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "BUSY").await;
    assert_eq!(app.count_rows("users").await, 1);
    assert_eq!(
        app.count_rows("refresh_tokens").await,
        1,
        "no session started"
    );
    drop(held);
    assert_eq!(
        login(&app, "gate@example.com", PASSWORD).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_login_flood_is_bounded_by_the_gate() {
    // 40 concurrent logins through a gate of one slot that waits 0 ms: every answer is
    // a verdict or BUSY, never an error, and at least one of each happens.
    let app = TestApp::spawn_with(&[
        ("URR_PASSWORD_HASH_CONCURRENCY", "1"),
        ("URR_PASSWORD_HASH_QUEUE_MS", "0"),
        ("URR_RATE_LOGIN_PER_IP", "0"),
        ("URR_RATE_LOGIN_PER_ACCOUNT", "0"),
    ])
    .await;
    register(&app, "flood@example.com").await;
    let answers = join_all((0..40).map(|_| login(&app, "flood@example.com", PASSWORD))).await;
    let busy = answers
        .iter()
        .filter(|r| r.status() == StatusCode::SERVICE_UNAVAILABLE)
        .count();
    let ok = answers
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    assert_eq!(busy + ok, 40, "only 200 or 503");
    assert!(ok >= 1 && busy >= 1, "ok {ok}, busy {busy}");
}

#[tokio::test]
async fn logout_revokes_the_sessions_access_token_on_every_replica() {
    let app = TestApp::spawn().await;
    register(&app, "leave@example.com").await;
    let res = login(&app, "leave@example.com", PASSWORD).await;
    let refresh = refresh_token(&res);
    let access = json(res).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    // A second session of the same account stays valid.
    let other = json(login(&app, "leave@example.com", PASSWORD).await).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    // Another replica that has already seen (and cached) the token.
    let replica = urr_origin::auth::Revocations::new(std::time::Duration::from_secs(1_830));
    replica
        .sync(app.db(), app.state.clock.now())
        .await
        .expect("sync");
    let user: Uuid = json(app.get(ME, Some(&access)).await).await["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let sid = |t: &str| {
        token::verify::<AccessClaims>(
            &app.state.config.keys.origin_public,
            t,
            app.state.clock.unix(),
        )
        .expect("claims")
        .sid
    };
    let (access_sid, other_sid) = (sid(&access), sid(&other));
    assert!(access_sid.is_some(), "access tokens name their session");
    assert_ne!(access_sid, other_sid);
    assert!(!replica.is_revoked(user, Role::Fan, access_sid));

    let res = app
        .request(Method::POST, LOGOUT, None)
        .header(header::COOKIE, format!("urr_refresh={refresh}"))
        .send()
        .await
        .expect("logout");
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    // This replica refuses it at once ...
    let body = assert_problem(
        app.get(ME, Some(&access)).await,
        StatusCode::UNAUTHORIZED,
        "TOKEN_REVOKED",
    )
    .await;
    assert!(body["detail"].as_str().is_some());
    assert_eq!(app.get(ME, Some(&other)).await.status(), StatusCode::OK);
    // ... and the other replica at its next sync (every second).
    replica
        .sync(app.db(), app.state.clock.now())
        .await
        .expect("sync");
    assert!(replica.is_revoked(user, Role::Fan, access_sid));
    assert!(!replica.is_revoked(user, Role::Fan, other_sid));
    // Once every token of the session has expired, the revocation is forgotten.
    app.state.clock.advance(chrono::Duration::seconds(1_900));
    replica
        .sync(app.db(), app.state.clock.now())
        .await
        .expect("sync");
    assert!(!replica.is_revoked(user, Role::Fan, access_sid));
}

#[tokio::test]
async fn a_role_change_refuses_tokens_with_the_old_role_until_refreshed() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    register(&app, "riley@example.com").await;
    let res = login(&app, "riley@example.com", PASSWORD).await;
    let refresh = refresh_token(&res);
    let body = json(res).await;
    let access = body["access_token"].as_str().expect("token").to_owned();
    let id = body["user"]["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/admin/users/{id}");

    // Only admins, never their own role, only known roles and accounts.
    let fan = app.create_user(Role::Fan).await;
    assert_problem(
        app.patch(&path, &json!({"role": "admin"}), Some(&fan.token))
            .await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;
    assert_problem(
        app.patch(
            &format!("/api/v1/admin/users/{}", admin.id),
            &json!({"role": "fan"}),
            Some(&admin.token),
        )
        .await,
        StatusCode::CONFLICT,
        "OWN_ROLE",
    )
    .await;
    assert_eq!(
        app.patch(&path, &json!({"role": "overlord"}), Some(&admin.token))
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_problem(
        app.patch(
            &format!("/api/v1/admin/users/{}", Uuid::new_v4()),
            &json!({"role": "fan"}),
            Some(&admin.token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "USER_NOT_FOUND",
    )
    .await;
    assert_eq!(app.get(ME, Some(&access)).await.status(), StatusCode::OK);

    let res = app
        .patch(&path, &json!({"role": "promoter"}), Some(&admin.token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["role"], "promoter");
    // The fan-role token is refused at once; the silent refresh gets a promoter token.
    assert_problem(
        app.get(ME, Some(&access)).await,
        StatusCode::UNAUTHORIZED,
        "TOKEN_REVOKED",
    )
    .await;
    let res = refresh_with_cookie(&app, &refresh).await;
    assert_eq!(res.status(), StatusCode::OK);
    let fresh = json(res).await["access_token"]
        .as_str()
        .expect("token")
        .to_owned();
    let me = json(app.get(ME, Some(&fresh)).await).await;
    assert_eq!(me["role"], "promoter");
}

#[tokio::test]
async fn registration_is_limited_per_ip() {
    let app = TestApp::spawn_with(&[("URR_RATE_REGISTER_PER_IP", "2")]).await;
    start_of_window(&app);
    for i in 0..2 {
        assert_eq!(
            register(&app, &format!("r{i}@example.com")).await.status(),
            StatusCode::CREATED
        );
    }
    let res = register(&app, "r2@example.com").await;
    assert!(retry_after(&res) >= 1);
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    assert_eq!(app.count_rows("users").await, 2);
}

#[tokio::test]
async fn rate_limits_fail_open_when_redis_is_down() {
    let app = TestApp::spawn_with(&[
        ("URR_REDIS_URL", "redis://127.0.0.1:1"),
        ("URR_RATE_LOGIN_PER_IP", "1"),
        ("URR_RATE_LOGIN_PER_ACCOUNT", "1"),
        ("URR_RATE_REGISTER_PER_IP", "1"),
    ])
    .await;
    assert_eq!(
        register(&app, "open@example.com").await.status(),
        StatusCode::CREATED
    );
    assert_eq!(
        register(&app, "open2@example.com").await.status(),
        StatusCode::CREATED
    );
    for _ in 0..3 {
        assert_eq!(
            login(&app, "open@example.com", PASSWORD).await.status(),
            StatusCode::OK
        );
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("auth_rate_limit_errors_total"),
        "the failure is counted"
    );
}

// ---------------------------------------------------------------------------------------
// Google sign-in against a local issuer
// ---------------------------------------------------------------------------------------

const CLIENT_ID: &str = "urr-test.apps.googleusercontent.com";
const ISSUER: &str = "https://accounts.google.com";
const GOOD_KID: &str = "google-test-1";
const OTHER_KID: &str = "google-test-2";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

fn public_jwk(fixture_key: &str, kid: &str) -> Value {
    let all: Value =
        serde_json::from_slice(&fixture("google_test_keys.public.json")).expect("fixture json");
    json!({
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": kid,
        "n": all[fixture_key]["n"], "e": all[fixture_key]["e"],
    })
}

/// A stand-in for Google: serves a JWKS and signs ID tokens with the fixture keys.
struct LocalIssuer {
    addr: SocketAddr,
    jwks: Arc<RwLock<Value>>,
    fetches: Arc<AtomicUsize>,
    good: EncodingKey,
    other: EncodingKey,
}

impl LocalIssuer {
    async fn start() -> LocalIssuer {
        let jwks = Arc::new(RwLock::new(
            json!({"keys": [public_jwk("google_test_key", GOOD_KID)]}),
        ));
        let fetches = Arc::new(AtomicUsize::new(0));
        let (j, f) = (jwks.clone(), fetches.clone());
        let router = axum::Router::new().route(
            "/oauth2/v3/certs",
            axum::routing::get(move || {
                let (j, f) = (j.clone(), f.clone());
                async move {
                    f.fetch_add(1, Ordering::SeqCst);
                    let body = j.read().expect("jwks lock").clone();
                    (
                        [(header::CACHE_CONTROL, "public, max-age=3600")],
                        axum::Json(body),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind issuer");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        LocalIssuer {
            addr,
            jwks,
            fetches,
            good: EncodingKey::from_rsa_der(&fixture("google_test_key.der")),
            other: EncodingKey::from_rsa_der(&fixture("google_other_key.der")),
        }
    }

    fn jwks_url(&self) -> String {
        format!("http://{}/oauth2/v3/certs", self.addr)
    }

    async fn app(&self) -> TestApp {
        TestApp::spawn_with(&[
            ("URR_GOOGLE_CLIENT_ID", CLIENT_ID),
            ("URR_GOOGLE_JWKS_URL", &self.jwks_url()),
        ])
        .await
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Claims of a valid ID token for `sub` / `email` at `now`.
    fn claims(sub: &str, email: &str, now: i64) -> Value {
        json!({
            "iss": ISSUER, "aud": CLIENT_ID, "azp": CLIENT_ID,
            "sub": sub, "email": email, "email_verified": true,
            "name": "Grace Hopper", "picture": "https://example.com/g.png",
            "iat": now, "exp": now + 3600,
        })
    }

    fn sign_with(&self, claims: &Value, kid: &str, key: &EncodingKey) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, key).expect("sign RS256")
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_with(claims, GOOD_KID, &self.good)
    }
}

/// `claims` with a fresh nonce from `app` (unless they name one already).
async fn with_nonce(app: &TestApp, claims: &Value) -> Value {
    let mut claims = claims.clone();
    if claims.get("nonce").is_none() {
        let res = app.post(GOOGLE_NONCE, &json!({}), None).await;
        assert_eq!(res.status(), StatusCode::CREATED);
        claims["nonce"] = json(res).await["nonce"].clone();
    }
    claims
}

impl LocalIssuer {
    /// Signs `claims` with a fresh nonce and signs in with them.
    async fn sign_in(&self, app: &TestApp, claims: &Value) -> Response {
        google_sign_in(app, &self.sign(&with_nonce(app, claims).await)).await
    }
}

async fn google_sign_in(app: &TestApp, credential: &str) -> Response {
    app.post(GOOGLE, &json!({"credential": credential}), None)
        .await
}

#[tokio::test]
async fn google_sign_in_creates_an_account_then_finds_it() {
    let issuer = LocalIssuer::start().await;
    let app = issuer.app().await;
    let now = app.state.clock.unix();
    let claims = LocalIssuer::claims("g-100", "Grace@Example.com", now);

    let res = issuer.sign_in(&app, &claims).await;
    assert_eq!(res.status(), StatusCode::OK);
    let refresh = refresh_token(&res);
    let body = json(res).await;
    let user = &body["user"];
    assert_eq!(user["email"], "grace@example.com");
    assert_eq!(user["display_name"], "Grace Hopper");
    assert_eq!(user["role"], "fan");
    assert_eq!(user["has_password"], false);
    assert_eq!(user["google_linked"], true);
    let id = user["id"].clone();
    assert_eq!(
        me_status(&app, body["access_token"].as_str().expect("token")).await,
        StatusCode::OK
    );
    assert_eq!(
        refresh_with_cookie(&app, &refresh).await.status(),
        StatusCode::OK
    );

    let res = issuer.sign_in(&app, &claims).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["user"]["id"], id);
    assert_eq!(app.count_rows("users").await, 1);
    // The key set was fetched once and then served from the cache.
    assert_eq!(issuer.fetches(), 1);

    // A Google-only account cannot log in with a password.
    assert_problem(
        login(&app, "grace@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;
}

#[tokio::test]
async fn google_refuses_bad_id_tokens() {
    let issuer = LocalIssuer::start().await;
    let app = issuer.app().await;
    let now = app.state.clock.unix();
    let valid = LocalIssuer::claims("g-200", "h@example.com", now);
    let with = |key: &str, value: Value| {
        let mut c = valid.clone();
        c[key] = value;
        c
    };

    let cases: Vec<(String, StatusCode, &str, &str)> = vec![
        (
            issuer.sign(&with(
                "aud",
                json!("someone-else.apps.googleusercontent.com"),
            )),
            StatusCode::UNAUTHORIZED,
            "GOOGLE_TOKEN_INVALID",
            "audience",
        ),
        (
            issuer.sign(&with("iss", json!("https://evil.example.com"))),
            StatusCode::UNAUTHORIZED,
            "GOOGLE_TOKEN_INVALID",
            "issuer",
        ),
        (
            issuer.sign(&with("exp", json!(now - 60))),
            StatusCode::UNAUTHORIZED,
            "GOOGLE_TOKEN_EXPIRED",
            "expired",
        ),
        (
            issuer.sign(&with("email_verified", json!(false))),
            StatusCode::UNAUTHORIZED,
            "GOOGLE_EMAIL_UNVERIFIED",
            "email_unverified",
        ),
        (
            issuer.sign_with(&valid, "no-such-kid", &issuer.good),
            StatusCode::UNAUTHORIZED,
            "GOOGLE_TOKEN_INVALID",
            "unknown_key",
        ),
        (
            // Right kid, wrong private key.
            issuer.sign_with(&valid, GOOD_KID, &issuer.other),
            StatusCode::UNAUTHORIZED,
            "GOOGLE_TOKEN_INVALID",
            "signature",
        ),
        (
            jsonwebtoken::encode(
                &Header {
                    kid: Some(GOOD_KID.into()),
                    ..Header::new(Algorithm::HS256)
                },
                &valid,
                &EncodingKey::from_secret(b"secret"),
            )
            .expect("hs256"),
            StatusCode::UNAUTHORIZED,
            "GOOGLE_TOKEN_INVALID",
            "algorithm",
        ),
        (
            "not.a.jwt".to_owned(),
            StatusCode::UNAUTHORIZED,
            "GOOGLE_TOKEN_INVALID",
            "malformed",
        ),
    ];
    for (credential, status, code, reason) in cases {
        let body = assert_problem(google_sign_in(&app, &credential).await, status, code).await;
        assert_eq!(body["reason"], reason, "{body}");
    }
    // A token issued in the future.
    let body = assert_problem(
        google_sign_in(&app, &issuer.sign(&with("iat", json!(now + 600)))).await,
        StatusCode::UNAUTHORIZED,
        "GOOGLE_TOKEN_INVALID",
    )
    .await;
    assert_eq!(body["reason"], "not_yet_valid");
    assert_eq!(app.count_rows("users").await, 0);
    assert_eq!(app.count_rows("refresh_tokens").await, 0);

    // The same token that was valid an hour and a minute ago is now expired.
    let token = issuer.sign(&with_nonce(&app, &valid).await);
    assert_eq!(google_sign_in(&app, &token).await.status(), StatusCode::OK);
    app.state
        .clock
        .advance(chrono::Duration::seconds(3600 + 31));
    assert_problem(
        google_sign_in(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "GOOGLE_TOKEN_EXPIRED",
    )
    .await;
}

#[tokio::test]
async fn google_links_an_existing_password_account_by_verified_email() {
    let issuer = LocalIssuer::start().await;
    let app = issuer.app().await;
    let (_, old_refresh, id) = session(&app, "ivy@example.com").await;
    let now = app.state.clock.unix();

    // Unverified Google email: no link, nothing changes.
    let mut unverified = LocalIssuer::claims("g-300", "IVY@example.com", now);
    unverified["email_verified"] = json!(false);
    assert_problem(
        issuer.sign_in(&app, &unverified).await,
        StatusCode::UNAUTHORIZED,
        "GOOGLE_EMAIL_UNVERIFIED",
    )
    .await;
    let linked: Option<String> = sqlx::query_scalar("SELECT google_sub FROM users WHERE id = $1")
        .bind(id)
        .fetch_one(app.db())
        .await
        .expect("user");
    assert_eq!(linked, None);

    let verified = LocalIssuer::claims("g-300", "IVY@example.com", now);
    let res = issuer.sign_in(&app, &verified).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body = json(res).await;
    assert_eq!(body["user"]["id"], id.to_string());
    assert_eq!(body["user"]["google_linked"], true);
    // The email was never proven for the password account: its password is dropped, so
    // whoever registered the address first cannot keep a way in.
    assert_eq!(body["user"]["has_password"], false);
    assert_eq!(app.count_rows("users").await, 1);
    // Sessions from before the link, when the email was unproven, are ended.
    assert_eq!(
        refresh_with_cookie(&app, &old_refresh).await.status(),
        StatusCode::UNAUTHORIZED
    );
    // The pre-link password no longer works; Google does.
    assert_problem(
        login(&app, "ivy@example.com", PASSWORD).await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;
    let res = issuer.sign_in(&app, &verified).await;
    assert_eq!(json(res).await["user"]["id"], id.to_string());

    // Another Google account with the same email cannot take the account over.
    let intruder = LocalIssuer::claims("g-999", "ivy@example.com", now);
    assert_problem(
        issuer.sign_in(&app, &intruder).await,
        StatusCode::CONFLICT,
        "GOOGLE_ACCOUNT_CONFLICT",
    )
    .await;
}

#[tokio::test]
async fn google_keys_are_refetched_for_a_new_kid_but_not_on_every_request() {
    let issuer = LocalIssuer::start().await;
    let app = issuer.app().await;
    let now = app.state.clock.unix();
    let claims = LocalIssuer::claims("g-400", "kim@example.com", now);
    assert_eq!(issuer.sign_in(&app, &claims).await.status(), StatusCode::OK);
    assert_eq!(issuer.fetches(), 1);

    // Google rotates: a token with a new kid arrives before we know the key.
    let rotated = issuer.sign_with(&with_nonce(&app, &claims).await, OTHER_KID, &issuer.other);
    issuer
        .jwks
        .write()
        .expect("jwks lock")
        .as_object_mut()
        .and_then(|o| o.get_mut("keys"))
        .and_then(Value::as_array_mut)
        .expect("keys")
        .push(public_jwk("google_other_key", OTHER_KID));
    // Just fetched: unknown kids do not trigger a refetch yet.
    let body = assert_problem(
        google_sign_in(&app, &rotated).await,
        StatusCode::UNAUTHORIZED,
        "GOOGLE_TOKEN_INVALID",
    )
    .await;
    assert_eq!(body["reason"], "unknown_key");
    assert_eq!(issuer.fetches(), 1);

    app.state.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(
        google_sign_in(&app, &rotated).await.status(),
        StatusCode::OK
    );
    assert_eq!(issuer.fetches(), 2);
    // Made-up kids cost at most one fetch per interval.
    let bogus = issuer.sign_with(&claims, "made-up", &issuer.good);
    for _ in 0..3 {
        assert_eq!(
            google_sign_in(&app, &bogus).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(issuer.fetches(), 2);

    // After the cache TTL (max-age 3600) the set is fetched again.
    app.state.clock.advance(chrono::Duration::seconds(3600));
    let fresh = LocalIssuer::claims("g-400", "kim@example.com", app.state.clock.unix());
    assert_eq!(issuer.sign_in(&app, &fresh).await.status(), StatusCode::OK);
    assert_eq!(issuer.fetches(), 3);
}

#[tokio::test]
async fn google_is_404_when_off_and_503_when_keys_are_unreachable() {
    let app = TestApp::spawn().await;
    assert_problem(
        google_sign_in(&app, "x.y.z").await,
        StatusCode::NOT_FOUND,
        "GOOGLE_DISABLED",
    )
    .await;

    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let app = TestApp::spawn_with(&[
        ("URR_GOOGLE_CLIENT_ID", CLIENT_ID),
        ("URR_GOOGLE_JWKS_URL", &format!("http://{closed}/certs")),
    ])
    .await;
    let issuer_keys = EncodingKey::from_rsa_der(&fixture("google_test_key.der"));
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(GOOD_KID.into());
    let token = jsonwebtoken::encode(
        &header,
        &LocalIssuer::claims("g-500", "z@example.com", app.state.clock.unix()),
        &issuer_keys,
    )
    .expect("sign");
    let res = google_sign_in(&app, &token).await;
    assert!(res.headers().contains_key("retry-after"));
    assert_problem(res, StatusCode::SERVICE_UNAVAILABLE, "GOOGLE_UNAVAILABLE").await;
}

// ---------------------------------------------------------------------------------------
// Bad input
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn bad_input_on_every_auth_route_is_a_4xx_problem_and_writes_nothing() {
    let issuer = LocalIssuer::start().await;
    let app = issuer.app().await;
    let json_ct = Some("application/json");
    let huge = format!(r#"{{"email":"{}"}}"#, "a".repeat(70 * 1024));

    // (route, valid-looking body with a wrong type, body with an unknown field,
    //  body with a missing field)
    let routes = [
        (
            REGISTER,
            json!({"email": 1, "password": PASSWORD, "display_name": "A"}),
            json!({"email": "a@example.com", "password": PASSWORD, "display_name": "A", "role": "admin"}),
            json!({"email": "a@example.com", "password": PASSWORD}),
        ),
        (
            LOGIN,
            json!({"email": "a@example.com", "password": ["x"]}),
            json!({"email": "a@example.com", "password": PASSWORD, "remember": true}),
            json!({"email": "a@example.com"}),
        ),
        (
            GOOGLE,
            json!({"credential": 42}),
            json!({"credential": "x", "nonce": "n"}),
            json!({}),
        ),
        (
            REFRESH,
            json!({"refresh_token": null}),
            json!({"refresh_token": "x", "user_id": 1}),
            json!({"token": "x"}),
        ),
        (
            LOGOUT,
            json!({"refresh_token": false}),
            json!({"refresh_token": "x", "all": true}),
            json!({"everything": true}),
        ),
    ];
    for (route, wrong_type, unknown, missing) in routes {
        let ctx = |what: &str| format!("{route}: {what}");
        let res = app.post_raw(route, json_ct, "{oops").await;
        assert_eq!(
            res.status(),
            StatusCode::BAD_REQUEST,
            "{}",
            ctx("malformed")
        );
        assert_problem(res, StatusCode::BAD_REQUEST, "MALFORMED_JSON").await;
        for (what, body) in [
            ("wrong type", wrong_type),
            ("unknown field", unknown),
            ("missing field", missing),
        ] {
            let res = app.post(route, &body, None).await;
            assert_eq!(
                res.status(),
                StatusCode::UNPROCESSABLE_ENTITY,
                "{}",
                ctx(what)
            );
            let problem =
                assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY").await;
            assert!(
                problem["errors"][0]["field"].is_string(),
                "{}: {problem}",
                ctx(what)
            );
        }
        let res = app.post_raw(route, json_ct, huge.clone()).await;
        assert_eq!(
            res.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            ctx("huge")
        );
        assert_problem(res, StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE").await;
        let res = app.post_raw(route, Some("text/plain"), "email=a").await;
        assert_problem(
            res,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
        )
        .await;
        let res = app.post_raw(route, json_ct, "[]").await;
        assert_problem(res, StatusCode::UNPROCESSABLE_ENTITY, "INVALID_BODY").await;

        // An empty body: a missing body for routes that need one; "no token" for the
        // cookie routes, where browsers send no body at all.
        let res = app.post_raw(route, json_ct, "").await;
        match route {
            REFRESH => {
                assert_problem(res, StatusCode::UNAUTHORIZED, "REFRESH_MISSING").await;
            }
            LOGOUT => assert_eq!(res.status(), StatusCode::NO_CONTENT),
            _ => {
                assert_problem(res, StatusCode::BAD_REQUEST, "MALFORMED_JSON").await;
                let res = app.post_raw(route, None, "").await;
                assert_problem(
                    res,
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UNSUPPORTED_MEDIA_TYPE",
                )
                .await;
            }
        }
    }
    assert_problem(
        app.request(Method::PUT, LOGIN, None)
            .send()
            .await
            .expect("put"),
        StatusCode::METHOD_NOT_ALLOWED,
        "METHOD_NOT_ALLOWED",
    )
    .await;
    assert_eq!(app.count_rows("users").await, 0);
    assert_eq!(app.count_rows("refresh_tokens").await, 0);
    assert_eq!(issuer.fetches(), 0, "bad input never reaches the verifier");
}

#[tokio::test]
async fn openapi_documents_the_auth_routes() {
    let app = TestApp::spawn().await;
    let doc = json(app.get("/api/v1/openapi.json", None).await).await;
    for (path, method) in [
        (REGISTER, "post"),
        (LOGIN, "post"),
        (REFRESH, "post"),
        (LOGOUT, "post"),
        (GOOGLE, "post"),
        (ME, "get"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["tags"][0], "auth", "{path}");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses
                .values()
                .any(|r| r["content"].get("application/problem+json").is_some()),
            "{path} documents no problem response"
        );
    }
}

#[tokio::test]
async fn google_sign_in_needs_a_nonce_we_issued_and_uses_it_up() {
    let issuer = LocalIssuer::start().await;
    let app = issuer.app().await;
    let now = app.state.clock.unix();
    let claims = LocalIssuer::claims("g-600", "nonce@example.com", now);
    // No nonce at all, and a nonce we never issued.
    let mut made_up = claims.clone();
    made_up["nonce"] = json!("made-up");
    for credential in [issuer.sign(&claims), issuer.sign(&made_up)] {
        assert_problem(
            google_sign_in(&app, &credential).await,
            StatusCode::UNAUTHORIZED,
            "GOOGLE_NONCE_INVALID",
        )
        .await;
    }
    assert_eq!(app.count_rows("users").await, 0);
    // A good one works once; the captured token replayed is refused.
    let token = issuer.sign(&with_nonce(&app, &claims).await);
    assert_eq!(google_sign_in(&app, &token).await.status(), StatusCode::OK);
    assert_problem(
        google_sign_in(&app, &token).await,
        StatusCode::UNAUTHORIZED,
        "GOOGLE_NONCE_INVALID",
    )
    .await;
    assert_eq!(app.count_rows("refresh_tokens").await, 1);
    // Nonces are not handed out when Google sign-in is off.
    let off = TestApp::spawn().await;
    assert_problem(
        off.post(GOOGLE_NONCE, &json!({}), None).await,
        StatusCode::NOT_FOUND,
        "GOOGLE_DISABLED",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admins_search_accounts_by_name_email_and_role() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let promoter = app.create_user(Role::Promoter).await;
    let fans = crate::fixtures::create_fans(&app, 3).await;
    let get = |query: &str| {
        let path = format!("/api/v1/admin/users?{query}");
        let token = admin.token.clone();
        let app = &app;
        async move { json(app.get(&path, Some(&token)).await).await }
    };
    let promoters = get("role=promoter").await;
    let ids: Vec<&str> = promoters["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|u| u["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, [promoter.id.to_string()]);
    let by_email = get(&format!("q={}", &fans[1].email[..12].to_uppercase())).await;
    assert_eq!(by_email["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(by_email["items"][0]["email"], fans[1].email.as_str());
    // `%` is a character to find, not a wildcard.
    assert_eq!(get("q=%25").await["items"], serde_json::json!([]));
    // Paging, newest first, two at a time, over every fan.
    let first = get("role=fan&limit=2").await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(2));
    let cursor = first["next_cursor"].as_str().expect("more");
    let rest = get(&format!("role=fan&limit=2&cursor={cursor}")).await;
    assert_eq!(rest["items"].as_array().map(Vec::len), Some(1));
    assert_problem(
        app.get("/api/v1/admin/users", Some(&fans[0].token)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;
    assert_problem(
        app.get("/api/v1/admin/users?role=emperor", Some(&admin.token))
            .await,
        StatusCode::BAD_REQUEST,
        "INVALID_QUERY",
    )
    .await;
}
