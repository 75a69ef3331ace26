//! Artist boards, comments, reports, moderation and news, with the points they earn.

use crate::fixtures::{create_artist, create_fans, make_member};
use crate::helpers::{TestApp, TestUser, assert_problem, json};
use chrono::Duration;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_wasm::token::Role;
use uuid::Uuid;

async fn post(app: &TestApp, fan: &TestUser, artist: Uuid, title: &str) -> Value {
    let res = app
        .post(
            &format!("/api/v1/artists/{artist}/posts"),
            &json!({"title": title, "body": format!("{title}: 본문입니다.\n둘째 줄")}),
            Some(&fan.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    json(res).await
}

async fn points(app: &TestApp, user: Uuid) -> i32 {
    sqlx::query_scalar("SELECT points FROM memberships WHERE user_id = $1")
        .bind(user)
        .fetch_one(app.db())
        .await
        .expect("points")
}

fn titles(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["title"].as_str().expect("title").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_board_with_posts_comments_views_reports_and_moderation() {
    let app = TestApp::spawn().await;
    let artist = create_artist(&app).await;
    let fans = create_fans(&app, 3).await;
    let (author, reader, other) = (&fans[0], &fans[1], &fans[2]);
    make_member(&app, author.id, artist, 0).await;
    make_member(&app, reader.id, artist, 0).await;
    let admin = app.create_user(Role::Admin).await;

    let first = post(&app, author, artist, "첫 글").await;
    let second = post(&app, author, artist, "둘째 글").await;
    assert_eq!(first["author"]["display_name"], "Fan");
    assert!(
        !first.to_string().contains("@test.urr"),
        "no email: {first}"
    );
    assert_eq!(points(&app, author.id).await, 60);
    let id = first["id"].as_str().expect("id").to_owned();
    // An admin pins the first: it leads the board.
    let res = app
        .patch(
            &format!("/api/v1/admin/posts/{id}"),
            &json!({"pinned": true}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_problem(
        app.patch(
            &format!("/api/v1/admin/posts/{id}"),
            &json!({"pinned": true}),
            Some(&reader.token),
        )
        .await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;
    let board = json(
        app.get(&format!("/api/v1/artists/{artist}/posts"), None)
            .await,
    )
    .await;
    assert_eq!(titles(&board), ["첫 글", "둘째 글"]);
    assert_eq!(board["items"][0]["pinned"], true);

    // Views: once per signed-in viewer and Korean day; anonymous reads count nothing.
    let view = |who: Option<&TestUser>| {
        let path = format!("/api/v1/posts/{id}");
        let token = who.map(|u| u.token.clone());
        let app = &app;
        async move { json(app.get(&path, token.as_deref()).await).await["view_count"].as_i64() }
    };
    assert_eq!(view(Some(reader)).await, Some(1));
    assert_eq!(view(Some(reader)).await, Some(1));
    assert_eq!(view(None).await, Some(1));
    assert_eq!(view(Some(other)).await, Some(2));
    app.state.clock.advance(Duration::days(1));
    let reader = &app.refresh_token(reader.clone());
    let admin = &app.refresh_token(admin.clone());
    assert_eq!(view(Some(reader)).await, Some(3));

    // Only the author edits.
    let path = format!("/api/v1/posts/{id}");
    assert_problem(
        app.patch(&path, &json!({"title": "가로채기"}), Some(&reader.token))
            .await,
        StatusCode::FORBIDDEN,
        "NOT_AUTHOR",
    )
    .await;
    let author = &app.refresh_token(author.clone());
    let res = app
        .patch(
            &path,
            &json!({"title": "첫 글 (수정)"}),
            Some(&author.token),
        )
        .await;
    assert_eq!(json(res).await["title"], "첫 글 (수정)");

    // Comments, oldest first, counted on the post; the commenter earns 10.
    for body in ["하나", "둘", "셋"] {
        let res = app
            .post(
                &format!("{path}/comments"),
                &json!({"body": body}),
                Some(&reader.token),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
    }
    let thread = json(app.get(&format!("{path}/comments?limit=2"), None).await).await;
    let bodies: Vec<&str> = thread["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["body"].as_str().expect("b"))
        .collect();
    assert_eq!(bodies, ["하나", "둘"]);
    let cursor = thread["next_cursor"].as_str().expect("more");
    let rest = json(
        app.get(&format!("{path}/comments?cursor={cursor}"), None)
            .await,
    )
    .await;
    assert_eq!(rest["items"][0]["body"], "셋");
    assert_eq!(json(app.get(&path, None).await).await["comment_count"], 3);
    assert_eq!(points(&app, reader.id).await, 30);
    // Deleting a comment: the count and the points go back.
    let comment = thread["items"][0]["id"].as_str().expect("id");
    assert_problem(
        app.delete(&format!("/api/v1/comments/{comment}"), Some(&author.token))
            .await,
        StatusCode::FORBIDDEN,
        "NOT_AUTHOR",
    )
    .await;
    let res = app
        .delete(&format!("/api/v1/comments/{comment}"), Some(&reader.token))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(json(app.get(&path, None).await).await["comment_count"], 2);
    assert_eq!(points(&app, reader.id).await, 20);

    // Reports: once per fan. Hidden posts: only the author and admins see them.
    let reports = format!("{path}/reports");
    let reason = json!({"reason": "광고"});
    let res = app.post(&reports, &reason, Some(&reader.token)).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let again = app.post(&reports, &reason, Some(&reader.token)).await;
    assert_problem(again, StatusCode::CONFLICT, "ALREADY_REPORTED").await;
    let res = app
        .patch(
            &format!("/api/v1/admin/posts/{id}"),
            &json!({"hidden": true}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(json(res).await["hidden"], true);
    assert_problem(
        app.get(&path, Some(&reader.token)).await,
        StatusCode::NOT_FOUND,
        "POST_NOT_FOUND",
    )
    .await;
    assert_eq!(
        app.get(&path, Some(&author.token)).await.status(),
        StatusCode::OK
    );
    let board = json(
        app.get(&format!("/api/v1/artists/{artist}/posts"), None)
            .await,
    )
    .await;
    assert_eq!(titles(&board), ["둘째 글"]);

    // Deleting a post (an admin may) takes its points back.
    let second_id = second["id"].as_str().expect("id");
    let res = app
        .delete(&format!("/api/v1/posts/{second_id}"), Some(&admin.token))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(points(&app, author.id).await, 30);
    assert_problem(
        app.get(&format!("/api/v1/posts/{second_id}"), None).await,
        StatusCode::NOT_FOUND,
        "POST_NOT_FOUND",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn post_points_are_capped_and_bad_input_writes_nothing() {
    let app = TestApp::spawn().await;
    let artist = create_artist(&app).await;
    let fan = &create_fans(&app, 1).await[0];
    make_member(&app, fan.id, artist, 0).await;
    for i in 0..4 {
        post(&app, fan, artist, &format!("글 {i}")).await;
    }
    // 30 each, at most 90 a day: the fourth earns nothing.
    assert_eq!(points(&app, fan.id).await, 90);

    let path = format!("/api/v1/artists/{artist}/posts");
    let before = app.count_rows("posts").await;
    for (body, field) in [
        (json!({"title": "", "body": "x"}), "title"),
        (json!({"title": "x".repeat(201), "body": "x"}), "title"),
        (json!({"title": "ok", "body": "a\u{0}b"}), "body"),
        (json!({"title": "ok", "body": "x".repeat(10_001)}), "body"),
    ] {
        let p = assert_problem(
            app.post(&path, &body, Some(&fan.token)).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_FAILED",
        )
        .await;
        assert!(p.to_string().contains(field), "{p}");
    }
    assert_problem(
        app.post(
            &path,
            &json!({"title": "a", "body": "b", "author_id": Uuid::new_v4()}),
            Some(&fan.token),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "INVALID_BODY",
    )
    .await;
    assert_problem(
        app.post(
            &format!("/api/v1/artists/{}/posts", Uuid::new_v4()),
            &json!({"title": "a", "body": "b"}),
            Some(&fan.token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "ARTIST_NOT_FOUND",
    )
    .await;
    assert_problem(
        app.post(&path, &json!({"title": "a", "body": "b"}), None)
            .await,
        StatusCode::UNAUTHORIZED,
        "AUTH_REQUIRED",
    )
    .await;
    assert_eq!(app.count_rows("posts").await, before);
    // Four posts and the attempt on an unknown artist make five this minute: the
    // next is over the per-account limit.
    let sixth = json!({"title": "여섯째", "body": "b"});
    let res = app.post(&path, &sixth, Some(&fan.token)).await;
    assert_problem(res, StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED").await;
    assert_eq!(app.count_rows("posts").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn news_is_written_by_admins_and_pinned_first() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let fan = &create_fans(&app, 1).await[0];
    let write = |title: &str, pinned: bool| {
        let body = json!({"title": title, "body": "공지 내용", "pinned": pinned});
        let app = &app;
        let token = admin.token.clone();
        async move { json(app.post("/api/v1/news", &body, Some(&token)).await).await }
    };
    let old = write("점검 안내", false).await;
    write("공연 취소 안내", true).await;
    write("새 기능", false).await;
    let page = json(app.get("/api/v1/news", None).await).await;
    assert_eq!(titles(&page), ["공연 취소 안내", "새 기능", "점검 안내"]);
    assert_problem(
        app.post(
            "/api/v1/news",
            &json!({"title": "x", "body": "y"}),
            Some(&fan.token),
        )
        .await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;
    let path = format!("/api/v1/news/{}", old["id"].as_str().expect("id"));
    let res = app
        .patch(&path, &json!({"pinned": true}), Some(&admin.token))
        .await;
    assert_eq!(json(res).await["pinned"], true);
    assert_eq!(
        app.delete(&path, Some(&admin.token)).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_problem(
        app.get(&path, None).await,
        StatusCode::NOT_FOUND,
        "NEWS_NOT_FOUND",
    )
    .await;
}
