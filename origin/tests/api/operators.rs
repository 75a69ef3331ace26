//! The operator's tools: the audit log of every admin and promoter change, door staff,
//! disabled accounts.

use crate::client::{hold_seats, pay, spawn_env};
use crate::fixtures::{EventSpec, create_event};
use crate::helpers::{TestApp, TestUser, assert_problem, json};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_wasm::token::Role;
use uuid::Uuid;

async fn audit(app: &TestApp, admin: &TestUser, query: &str) -> Value {
    let res = app
        .get(&format!("/api/v1/admin/audit{query}"), Some(&admin.token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    json(res).await
}

fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["action"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_admin_and_promoter_change_is_in_the_audit_log_with_its_request() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let fan = app.create_user(Role::Fan).await;

    // An admin makes a venue, renames it, deletes it; changes a role.
    let res = app
        .request(reqwest::Method::POST, "/api/v1/venues", Some(&admin.token))
        .header("x-request-id", "req-venue-1")
        .json(&json!({"name": "Olympic Hall", "address": "424 Olympic-ro", "city": "Seoul"}))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::CREATED);
    let venue = json(res).await["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/venues/{venue}");
    let res = app
        .patch(&path, &json!({"name": "KSPO Dome"}), Some(&admin.token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(
        app.delete(&path, Some(&admin.token)).await.status(),
        StatusCode::NO_CONTENT
    );
    let res = app
        .patch(
            &format!("/api/v1/admin/users/{}", fan.id),
            &json!({"role": "promoter"}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // A change that fails writes nothing: a venue that does not exist.
    let missing = format!("/api/v1/venues/{}", Uuid::new_v4());
    let res = app
        .patch(&missing, &json!({"name": "x"}), Some(&admin.token))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    let page = audit(&app, &admin, "").await;
    assert_eq!(
        actions(&page),
        [
            "user.updated",
            "venue.deleted",
            "venue.updated",
            "venue.created"
        ],
        "newest first, the failed change absent"
    );
    let created = &page["items"][3];
    assert_eq!(created["actor"]["id"], admin.id.to_string());
    assert_eq!(created["actor"]["role"], "admin");
    assert_eq!(created["request_id"], "req-venue-1");
    assert_eq!(created["after"]["name"], "Olympic Hall");
    let renamed = &page["items"][2];
    assert_eq!(
        renamed["before"],
        json!({"name": "Olympic Hall"}),
        "only what changed"
    );
    assert_eq!(renamed["after"], json!({"name": "KSPO Dome"}));
    assert!(
        renamed["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty()),
        "the origin's own id"
    );
    let role = &page["items"][0];
    assert_eq!(role["resource_type"], "user");
    assert_eq!(role["resource_id"], fan.id.to_string());
    assert_eq!(
        (
            role["before"]["role"].as_str(),
            role["after"]["role"].as_str()
        ),
        (Some("fan"), Some("promoter"))
    );

    // Filters and pages.
    let page = audit(&app, &admin, &format!("?resource=venue:{venue}")).await;
    assert_eq!(actions(&page).len(), 3);
    let page = audit(&app, &admin, "?resource=user").await;
    assert_eq!(actions(&page), ["user.updated"]);
    let page = audit(&app, &admin, &format!("?actor={}", fan.id)).await;
    assert!(actions(&page).is_empty());
    let first = audit(&app, &admin, "?limit=3").await;
    assert_eq!(actions(&first).len(), 3);
    let cursor = first["next_cursor"].as_str().expect("more");
    let rest = audit(&app, &admin, &format!("?limit=3&cursor={cursor}")).await;
    assert_eq!(actions(&rest), ["venue.created"]);

    // Only admins; bad filters are 400.
    let fan = app.create_user(Role::Fan).await;
    assert_problem(
        app.get("/api/v1/admin/audit", Some(&fan.token)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;
    for bad in ["?resource=:x", "?actor=someone", "?cursor=zzz", "?limit=0"] {
        let res = app
            .get(&format!("/api/v1/admin/audit{bad}"), Some(&admin.token))
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }

    // A promoter's event edit and cancellation, and an admin's post moderation.
    let ev = create_event(&app, EventSpec::on_sale(&app).seats(2)).await;
    let res = app
        .patch(
            &format!("/api/v1/events/{}", ev.id),
            &json!({"title": "New title"}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "{}",
        res.text().await.unwrap_or_default()
    );
    let res = app
        .post(
            &format!("/api/v1/events/{}/cancel", ev.id),
            &json!({}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = audit(&app, &admin, &format!("?resource=event:{}", ev.id)).await;
    assert_eq!(actions(&page), ["event.cancelled", "event.updated"]);
    assert_eq!(page["items"][1]["after"]["title"], "New title");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn staff_check_tickets_in_only_where_they_are_assigned() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let admin = app.create_user(Role::Admin).await;
    let staff = app.create_user(Role::Staff).await;
    let outsider = app.create_user(Role::Promoter).await;
    let fan = app.create_user(Role::Fan).await;
    let here = create_event(app, EventSpec::on_sale(app).seats(4)).await;
    let there = create_event(app, EventSpec::on_sale(app).seats(4)).await;
    let held = hold_seats(app, &fan, here.id, &here.seats[..2]).await;
    let paid = pay(&env, &fan, &held).await;
    let qr = |i: usize| paid["tickets"][i]["qr"].as_str().expect("qr").to_owned();
    let check_in = |event: Uuid, qr: String, who: &TestUser| {
        let token = who.token.clone();
        async move {
            app.post(
                &format!("/api/v1/events/{event}/check-ins"),
                &json!({ "qr": qr }),
                Some(&token),
            )
            .await
        }
    };
    let assign = |event: Uuid, user: Uuid| format!("/api/v1/events/{event}/staff/{user}");

    // Not assigned yet: refused, and nothing checked in.
    assert_problem(
        check_in(here.id, qr(0), &staff).await,
        StatusCode::FORBIDDEN,
        "NOT_ASSIGNED",
    )
    .await;

    // Only the event's promoter or an admin assigns, and only staff accounts.
    assert_problem(
        app.put(
            &assign(here.id, staff.id),
            &json!({}),
            Some(&outsider.token),
        )
        .await,
        StatusCode::FORBIDDEN,
        "NOT_EVENT_OWNER",
    )
    .await;
    assert_problem(
        app.put(&assign(here.id, fan.id), &json!({}), Some(&admin.token))
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "NOT_STAFF",
    )
    .await;
    assert_problem(
        app.put(
            &assign(here.id, Uuid::new_v4()),
            &json!({}),
            Some(&admin.token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "USER_NOT_FOUND",
    )
    .await;
    let by_email = format!("/api/v1/events/{}/staff", here.id);
    assert_problem(
        app.post(
            &by_email,
            &json!({"email": "nobody@example.com"}),
            Some(&admin.token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "USER_NOT_FOUND",
    )
    .await;
    let res = app
        .post(
            &by_email,
            &json!({"email": staff.email.to_uppercase()}),
            Some(&admin.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    for _ in 0..2 {
        let res = app
            .put(&assign(here.id, staff.id), &json!({}), Some(&admin.token))
            .await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(json(res).await["items"][0]["user_id"], staff.id.to_string());
    }
    let mine = json(app.get("/api/v1/me/door-events", Some(&staff.token)).await).await;
    assert_eq!(mine["items"][0]["event_id"], here.id.to_string());
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(1));

    // Assigned: this event's door, and its void list; not another event's.
    let res = check_in(here.id, qr(0), &staff).await;
    assert_eq!(res.status(), StatusCode::OK);
    let res = app
        .get(
            &format!("/api/v1/events/{}/void-tickets", here.id),
            Some(&staff.token),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_problem(
        check_in(there.id, qr(1), &staff).await,
        StatusCode::FORBIDDEN,
        "NOT_ASSIGNED",
    )
    .await;
    // Nothing else of the event: no figures, no edits.
    assert_problem(
        app.get(
            &format!("/api/v1/events/{}/stats", here.id),
            Some(&staff.token),
        )
        .await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;

    // Taken off the door: refused again.
    let res = app
        .delete(&assign(here.id, staff.id), Some(&admin.token))
        .await;
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_problem(
        check_in(here.id, qr(1), &staff).await,
        StatusCode::FORBIDDEN,
        "NOT_ASSIGNED",
    )
    .await;
    let page = json(
        app.get(
            &format!("/api/v1/admin/audit?resource=event:{}", here.id),
            Some(&admin.token),
        )
        .await,
    )
    .await;
    assert_eq!(
        actions(&page),
        ["event.staff_removed", "event.staff_assigned"]
    );
}

#[tokio::test]
async fn a_disabled_account_cannot_sign_in_and_its_sessions_end_at_once() {
    let app = TestApp::spawn().await;
    let admin = app.create_user(Role::Admin).await;
    let (email, password) = ("door@example.com", "correct horse battery");
    let res = app
        .post(
            "/api/v1/auth/register",
            &json!({"email": email, "password": password, "display_name": "Door"}),
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = json(res).await;
    let token = body["access_token"].as_str().expect("access").to_owned();
    let id = body["user"]["id"].as_str().expect("id").to_owned();
    assert_eq!(
        app.get("/api/v1/me", Some(&token)).await.status(),
        StatusCode::OK
    );

    let path = format!("/api/v1/admin/users/{id}");
    let res = app
        .patch(&path, &json!({"disabled": true}), Some(&admin.token))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(json(res).await["disabled_at"].is_string());

    // The session it had ends; signing in is refused, but only for the right password.
    assert_problem(
        app.get("/api/v1/me", Some(&token)).await,
        StatusCode::UNAUTHORIZED,
        "TOKEN_REVOKED",
    )
    .await;
    let login = |pw: &str| {
        let body = json!({"email": email, "password": pw});
        let app = &app;
        async move { app.post("/api/v1/auth/login", &body, None).await }
    };
    assert_problem(
        login(password).await,
        StatusCode::FORBIDDEN,
        "ACCOUNT_DISABLED",
    )
    .await;
    assert_problem(
        login("wrong password!").await,
        StatusCode::UNAUTHORIZED,
        "INVALID_CREDENTIALS",
    )
    .await;

    // Enabled again: signing in works.
    let res = app
        .patch(&path, &json!({"disabled": false}), Some(&admin.token))
        .await;
    assert_eq!(json(res).await["disabled_at"], Value::Null);
    assert_eq!(login(password).await.status(), StatusCode::OK);

    // Nobody disables themselves; an empty change is refused; both changes are logged.
    assert_problem(
        app.patch(
            &format!("/api/v1/admin/users/{}", admin.id),
            &json!({"disabled": true}),
            Some(&admin.token),
        )
        .await,
        StatusCode::CONFLICT,
        "OWN_ROLE",
    )
    .await;
    assert_eq!(
        app.patch(&path, &json!({}), Some(&admin.token))
            .await
            .status(),
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let page = json(
        app.get(
            &format!("/api/v1/admin/audit?resource=user:{id}"),
            Some(&admin.token),
        )
        .await,
    )
    .await;
    assert_eq!(actions(&page), ["user.enabled", "user.disabled"]);
    // Staff is a role an admin can give.
    let res = app
        .patch(&path, &json!({"role": "staff"}), Some(&admin.token))
        .await;
    assert_eq!(json(res).await["role"], "staff");
}
