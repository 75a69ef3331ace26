//! A small typed client for the calls most tests make, so a test reads as the fan's
//! steps: join the queue, hold, pay at the Toss fake, confirm, cancel. Each call
//! returns the raw response where the test checks the answer, or the parsed result
//! where it only needs the call to succeed (and asserts that it did).

use crate::helpers::{TestApp, TestUser, json};
use reqwest::{Method, Response, StatusCode};
use serde_json::{Value, json};
use toss_fake::{FakeConfig, TossFake};
use uuid::Uuid;

/// An origin and the Toss fake it talks to.
pub struct Env {
    pub app: TestApp,
    pub fake: TossFake,
}

/// Test defaults: short Toss timeouts so failure paths are quick.
const DEFAULTS: &[(&str, &str)] = &[
    ("URR_TOSS_TIMEOUT_MS", "2000"),
    ("URR_TOSS_GET_TIMEOUT_MS", "2000"),
    ("URR_TOSS_BUDGET_MS", "4000"),
    ("URR_TOSS_SECRET_KEY", toss_fake::DOCS_SECRET_KEY),
];

pub async fn spawn_env(overrides: &[(&str, &str)]) -> Env {
    spawn_env_with(FakeConfig::for_tests(), overrides).await
}

pub async fn spawn_env_with(config: FakeConfig, overrides: &[(&str, &str)]) -> Env {
    let fake = TossFake::start("127.0.0.1:0".parse().expect("addr"), config)
        .await
        .expect("toss fake starts");
    let base = fake.base_url();
    let mut vars: Vec<(&str, &str)> = vec![("URR_TOSS_BASE_URL", base.as_str())];
    vars.extend_from_slice(DEFAULTS);
    vars.extend_from_slice(overrides);
    let app = TestApp::spawn_with(&vars).await;
    Env { app, fake }
}

/// A reservation as the API returned it (201), with its order.
pub struct Held {
    pub id: Uuid,
    pub order_id: String,
    pub amount: i64,
    pub order_name: String,
}

pub async fn hold(app: &TestApp, user: &TestUser, event: Uuid, body: Value) -> Held {
    held_from(app.fan(user).reserve(event, &body).await).await
}

/// The reservation of a 201 answer, with its order.
pub async fn held_from(res: Response) -> Held {
    assert_eq!(res.status(), StatusCode::CREATED);
    let body = json(res).await;
    Held {
        id: body["id"].as_str().expect("id").parse().expect("uuid"),
        order_id: body["order"]["order_id"]
            .as_str()
            .expect("order")
            .to_owned(),
        amount: body["order"]["amount"].as_i64().expect("amount"),
        order_name: body["order"]["order_name"]
            .as_str()
            .expect("name")
            .to_owned(),
    }
}

pub async fn hold_seats(app: &TestApp, user: &TestUser, event: Uuid, seats: &[Uuid]) -> Held {
    hold(app, user, event, json!({ "seat_ids": seats })).await
}

pub async fn hold_standing(app: &TestApp, user: &TestUser, event: Uuid, tt: Uuid, q: i64) -> Held {
    hold(
        app,
        user,
        event,
        json!({ "items": [{ "ticket_type_id": tt, "quantity": q }] }),
    )
    .await
}

pub async fn confirm(
    app: &TestApp,
    user: &TestUser,
    payment_key: &str,
    order_id: &str,
    amount: i64,
) -> Response {
    app.post(
        "/api/v1/payments/confirm",
        &json!({ "paymentKey": payment_key, "orderId": order_id, "amount": amount }),
        Some(&user.token),
    )
    .await
}

/// The widget step: the fan authenticates at Toss for this order.
pub async fn authorize(fake: &TossFake, held: &Held) -> String {
    fake.authorize(&held.order_id, held.amount, &held.order_name)
        .await
}

/// Widget + confirm, expecting success; returns the confirm answer.
pub async fn pay(env: &Env, user: &TestUser, held: &Held) -> Value {
    let key = authorize(&env.fake, held).await;
    let res = confirm(&env.app, user, &key, &held.order_id, held.amount).await;
    let status = res.status();
    let body = json(res).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// Pays an order answered by any API (`{order_id, order_name, amount}`: a membership,
/// a resale purchase), expecting success; returns the confirm answer.
pub async fn pay_order(env: &Env, user: &TestUser, order: &Value) -> Value {
    let held = Held {
        id: Uuid::nil(),
        order_id: order["order_id"].as_str().expect("order_id").to_owned(),
        amount: order["amount"].as_i64().expect("amount"),
        order_name: order["order_name"].as_str().expect("order_name").to_owned(),
    };
    pay(env, user, &held).await
}

/// One user's view of the API.
pub struct Fan<'a> {
    app: &'a TestApp,
    user: &'a TestUser,
}

impl TestApp {
    /// Calls made as `user`.
    pub fn fan<'a>(&'a self, user: &'a TestUser) -> Fan<'a> {
        Fan { app: self, user }
    }
}

impl Fan<'_> {
    /// `POST /events/{event}/reservations` with `body`, as sent.
    pub async fn reserve(&self, event: Uuid, body: &Value) -> Response {
        self.app
            .post(
                &format!("/api/v1/events/{event}/reservations"),
                body,
                Some(&self.user.token),
            )
            .await
    }

    /// `POST /events/{event}/reservations` with `body` under an `Idempotency-Key`.
    pub async fn reserve_with_key(&self, event: Uuid, key: &str, body: &Value) -> Response {
        self.app
            .request(
                Method::POST,
                &format!("/api/v1/events/{event}/reservations"),
                Some(&self.user.token),
            )
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await
            .expect("send")
    }

    /// `GET /reservations/{id}`.
    pub async fn reservation(&self, id: impl std::fmt::Display) -> Response {
        self.app
            .get(
                &format!("/api/v1/reservations/{id}"),
                Some(&self.user.token),
            )
            .await
    }

    /// `DELETE /reservations/{id}`: gives up an unpaid hold.
    pub async fn release(&self, id: impl std::fmt::Display) -> Response {
        self.app
            .delete(
                &format!("/api/v1/reservations/{id}"),
                Some(&self.user.token),
            )
            .await
    }

    /// `POST /reservations/{id}/cancel`: cancels, refunding under the policy if paid.
    pub async fn cancel(&self, id: impl std::fmt::Display) -> Response {
        self.app
            .post(
                &format!("/api/v1/reservations/{id}/cancel"),
                &json!({}),
                Some(&self.user.token),
            )
            .await
    }

    /// `POST /admin/reservations/{id}/refund` (the user must be an admin).
    pub async fn refund(&self, id: impl std::fmt::Display) -> Response {
        self.app
            .post(
                &format!("/api/v1/admin/reservations/{id}/refund"),
                &json!({}),
                Some(&self.user.token),
            )
            .await
    }

    /// `POST /events/{event}/queue/join`, with the edge's pass when given.
    pub async fn join(&self, event: Uuid, pass: Option<&str>) -> Response {
        let body = match pass {
            Some(p) => json!({ "pass": p }),
            None => json!({}),
        };
        self.app
            .post(
                &format!("/api/v1/events/{event}/queue/join"),
                &body,
                Some(&self.user.token),
            )
            .await
    }

    /// `GET /events/{event}/queue/status`.
    pub async fn queue_status(&self, event: Uuid) -> Response {
        self.app
            .get(
                &format!("/api/v1/events/{event}/queue/status"),
                Some(&self.user.token),
            )
            .await
    }

    /// `GET /me/tickets` with an optional query string (`"limit=3"`).
    pub async fn tickets(&self, query: &str) -> Response {
        let path = if query.is_empty() {
            "/api/v1/me/tickets".to_owned()
        } else {
            format!("/api/v1/me/tickets?{query}")
        };
        self.app.get(&path, Some(&self.user.token)).await
    }
}
