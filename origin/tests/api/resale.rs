//! Resale at face value: listing, the market, buying through the Toss fake, the ticket
//! moving (the seller's QR refused at the door), payouts, the race for one listing and
//! the refund of a buyer who lost it.

use crate::client::{Env, confirm, hold_seats, pay, pay_order, spawn_env};
use crate::fixtures::{
    EventFixture, EventSpec, create_artist, create_event, create_fans, give_artist, make_member,
};
use crate::helpers::{TestApp, TestUser, assert_problem, json};
use chrono::{DateTime, Duration, Utc};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_wasm::token::Role;
use std::time::Duration as StdDuration;
use toss_fake::{Fault, FaultKind, Op};
use urr_origin::payments;
use uuid::Uuid;

/// A seated artist event whose show is in 30 days, open to everyone now.
async fn artist_event(app: &TestApp, artist: Uuid) -> EventFixture {
    let mut spec = EventSpec::on_sale(app).seats(10).limit(4);
    spec.sale_closes_at = app.state.clock.now() + Duration::days(29);
    let ev = create_event(app, spec).await;
    sqlx::query("UPDATE events SET starts_at = $2 WHERE id = $1")
        .bind(ev.id)
        .bind(app.state.clock.now() + Duration::days(30))
        .execute(app.db())
        .await
        .expect("show time");
    give_artist(app, ev.id, artist, Some([0, 0, 0, 0])).await;
    ev
}

/// Buys one seat; returns (reservation id, the ticket).
async fn buy_seat(env: &Env, fan: &TestUser, ev: &EventFixture, seat: usize) -> (Uuid, Value) {
    let held = hold_seats(&env.app, fan, ev.id, &ev.seats[seat..seat + 1]).await;
    let paid = pay(env, fan, &held).await;
    (held.id, paid["tickets"][0].clone())
}

async fn list(app: &TestApp, fan: &TestUser, ticket: &Value, body: Value) -> reqwest::Response {
    app.post(
        &format!(
            "/api/v1/tickets/{}/transfer-listing",
            ticket["id"].as_str().expect("id")
        ),
        &body,
        Some(&fan.token),
    )
    .await
}

async fn purchase(app: &TestApp, fan: &TestUser, listing: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/transfer-listings/{listing}/purchase"),
        &json!({}),
        Some(&fan.token),
    )
    .await
}

async fn check_in(app: &TestApp, staff: &TestUser, event: Uuid, qr: &str) -> reqwest::Response {
    app.post(
        &format!("/api/v1/events/{event}/check-ins"),
        &json!({ "qr": qr }),
        Some(&staff.token),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_resells_at_face_value_the_ticket_moves_and_the_seller_is_owed() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let artist = create_artist(app).await;
    let ev = artist_event(app, artist).await;
    let fans = create_fans(app, 3).await;
    let (seller, buyer, outsider) = (&fans[0], &fans[1], &fans[2]);
    make_member(app, seller.id, artist, 600).await; // GOLD: 5 %
    make_member(app, buyer.id, artist, 0).await;
    let (reservation, ticket) = buy_seat(&env, seller, &ev, 0).await;
    let face = ticket["price"].as_i64().expect("price");

    // No scalping; not someone else's ticket; not without a membership.
    let p = assert_problem(
        list(app, seller, &ticket, json!({"price": face + 1})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "VALIDATION_FAILED",
    )
    .await;
    assert!(p.to_string().contains("face value"), "{p}");
    assert_problem(
        list(app, buyer, &ticket, json!({})).await,
        StatusCode::NOT_FOUND,
        "TICKET_NOT_FOUND",
    )
    .await;
    let res = list(app, seller, &ticket, json!({"price": face})).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let listing = json(res).await;
    assert_eq!(listing["status"], "listed");
    assert_eq!(listing["price"], face);
    assert_eq!(listing["fee_percent"], 5);
    assert_eq!(listing["fee"], face * 5 / 100);
    assert_eq!(listing["total"], face);
    assert_eq!(listing["payout"], face - face * 5 / 100);
    let cutoff: DateTime<Utc> = listing["expires_at"]
        .as_str()
        .expect("t")
        .parse()
        .expect("time");
    let starts: DateTime<Utc> = ticket["starts_at"]
        .as_str()
        .expect("t")
        .parse()
        .expect("time");
    assert_eq!(cutoff, starts - Duration::hours(24));
    let id = listing["id"].as_str().expect("id").to_owned();
    assert_problem(
        list(app, seller, &ticket, json!({})).await,
        StatusCode::CONFLICT,
        "TICKET_NOT_LISTABLE",
    )
    .await;
    // A listed ticket's booking cannot be refunded.
    assert_problem(
        app.fan(seller).cancel(reservation).await,
        StatusCode::CONFLICT,
        "TICKET_LISTED",
    )
    .await;

    // The market, by event and by artist.
    for q in [format!("event_id={}", ev.id), format!("artist_id={artist}")] {
        let page = json(
            app.get(&format!("/api/v1/transfer-listings?{q}"), None)
                .await,
        )
        .await;
        assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{q}");
        assert_eq!(page["items"][0]["id"], id.as_str());
    }
    let page = json(
        app.get(
            &format!("/api/v1/transfer-listings?event_id={}", Uuid::new_v4()),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(page["items"], json!([]));

    assert_problem(
        purchase(app, seller, &id).await,
        StatusCode::CONFLICT,
        "OWN_LISTING",
    )
    .await;
    assert_problem(
        purchase(app, outsider, &id).await,
        StatusCode::FORBIDDEN,
        "MEMBERSHIP_REQUIRED",
    )
    .await;
    let res = purchase(app, buyer, &id).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let bought = json(res).await;
    let order = &bought["order"];
    assert!(
        order["order_id"]
            .as_str()
            .expect("order")
            .starts_with("rsl_")
    );
    assert_eq!(order["amount"], face);
    // Asking again: the same hold.
    let again = purchase(app, buyer, &id).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(json(again).await["order"]["order_id"], order["order_id"]);
    // The seller cannot pull it from under a paying buyer.
    assert_problem(
        app.delete(
            &format!("/api/v1/transfer-listings/{id}"),
            Some(&seller.token),
        )
        .await,
        StatusCode::CONFLICT,
        "LISTING_RESERVED",
    )
    .await;

    let paid = pay_order(&env, buyer, order).await;
    assert_eq!(paid["payment"]["kind"], "resale");
    let new_ticket = &paid["tickets"][0];
    assert_eq!(paid["tickets"].as_array().map(Vec::len), Some(1));
    assert_eq!(new_ticket["owner_id"], buyer.id.to_string());
    assert_eq!(new_ticket["label"], ticket["label"]);
    assert_ne!(new_ticket["code"], ticket["code"]);
    assert_ne!(new_ticket["id"], ticket["id"]);

    // At the door: the seller's QR is refused, the buyer's admits.
    let staff = app.create_user(Role::Admin).await;
    let old_qr = ticket["qr"].as_str().expect("qr");
    assert_problem(
        check_in(app, &staff, ev.id, old_qr).await,
        StatusCode::CONFLICT,
        "TICKET_VOID",
    )
    .await;
    let res = check_in(app, &staff, ev.id, new_ticket["qr"].as_str().expect("qr")).await;
    assert!(res.status().is_success(), "{}", res.status());
    // The seller's booking no longer lists the buyer's ticket, and stays unrefundable.
    let seller_view = json(app.fan(seller).reservation(reservation).await).await;
    assert!(
        !seller_view
            .to_string()
            .contains(new_ticket["code"].as_str().expect("code"))
    );
    assert_problem(
        app.fan(seller).cancel(reservation).await,
        StatusCode::CONFLICT,
        "TICKET_LISTED",
    )
    .await;

    // The listing is sold; the payout is owed, then paid by an admin.
    let mine = json(
        app.get("/api/v1/me/transfer-listings", Some(&seller.token))
            .await,
    )
    .await;
    assert_eq!(mine["items"][0]["status"], "sold");
    let payouts = json(app.get("/api/v1/me/payouts", Some(&seller.token)).await).await;
    let payout = &payouts["items"][0];
    assert_eq!(payout["amount"], face - face * 5 / 100);
    assert_eq!(payout["status"], "pending");
    let pid = payout["id"].as_str().expect("id");
    let path = format!("/api/v1/admin/payouts/{pid}/paid");
    assert_problem(
        app.post(&path, &json!({}), Some(&seller.token)).await,
        StatusCode::FORBIDDEN,
        "FORBIDDEN_ROLE",
    )
    .await;
    let admin = app.create_user(Role::Admin).await;
    let pending = json(
        app.get("/api/v1/admin/payouts?status=pending", Some(&admin.token))
            .await,
    )
    .await;
    assert_eq!(pending["items"].as_array().map(Vec::len), Some(1));
    let res = app.post(&path, &json!({}), Some(&admin.token)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(json(res).await["status"], "paid");
    assert_problem(
        app.post(&path, &json!({}), Some(&admin.token)).await,
        StatusCode::CONFLICT,
        "PAYOUT_NOT_PENDING",
    )
    .await;
    assert_eq!(app.outbox_count("resale.listed").await, 1);
    assert_eq!(app.outbox_count("resale.sold").await, 1);
    // The buyer's payments history names the resale.
    let history = json(app.get("/api/v1/me/payments", Some(&buyer.token)).await).await;
    assert_eq!(history["items"][0]["kind"], "resale");
    assert_eq!(history["items"][0]["event_id"], ev.id.to_string());
    // Sold: nobody else can buy it.
    assert_problem(
        purchase(app, outsider, &id).await,
        StatusCode::CONFLICT,
        "LISTING_UNAVAILABLE",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_buyers_race_for_one_listing_and_exactly_one_holds_it() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let artist = create_artist(app).await;
    let ev = artist_event(app, artist).await;
    let fans = create_fans(app, 21).await;
    for f in &fans {
        make_member(app, f.id, artist, 0).await;
    }
    let (seller, buyers) = fans.split_first().expect("fans");
    let (_, ticket) = buy_seat(&env, seller, &ev, 0).await;
    let listing = json(list(app, seller, &ticket, json!({})).await).await;
    let id = listing["id"].as_str().expect("id");

    let answers = join_all(buyers.iter().map(|b| purchase(app, b, id))).await;
    let mut winners = Vec::new();
    for (b, res) in buyers.iter().zip(answers) {
        match res.status() {
            StatusCode::CREATED => winners.push((b, json(res).await)),
            StatusCode::CONFLICT => {
                let p = json(res).await;
                assert_eq!(p["code"], "LISTING_RESERVED", "{p}");
                assert!(p["held_until"].is_string());
            }
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(winners.len(), 1, "exactly one buyer holds the listing");
    let (winner, order) = &winners[0];
    // Every buyer pays at once; only the holder's payment is taken.
    let mut keys = Vec::new();
    for b in buyers {
        let k = env
            .fake
            .authorize(
                order["order"]["order_id"].as_str().expect("o"),
                order["order"]["amount"].as_i64().expect("a"),
                "r",
            )
            .await;
        keys.push((b, k));
    }
    let results = join_all(keys.iter().map(|(b, k)| {
        confirm(
            app,
            b,
            k,
            order["order"]["order_id"].as_str().expect("o"),
            order["order"]["amount"].as_i64().expect("a"),
        )
    }))
    .await;
    let ok = results
        .iter()
        .filter(|r| r.status() == StatusCode::OK)
        .count();
    assert_eq!(ok, 1, "one confirm succeeds");
    let owners: Vec<Uuid> =
        sqlx::query_scalar("SELECT user_id FROM tickets WHERE resale_of IS NOT NULL")
            .fetch_all(app.db())
            .await
            .expect("tickets");
    assert_eq!(owners, [winner.id]);
    let charged = env
        .fake
        .ledger(order["order"]["order_id"].as_str().expect("o"))
        .captured_amount;
    assert_eq!(
        charged,
        order["order"]["amount"].as_i64().expect("a"),
        "charged once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_buyer_whose_payment_lands_after_losing_the_listing_is_refunded_in_full() {
    let env = spawn_env(&[
        ("URR_TOSS_TIMEOUT_MS", "200"),
        ("URR_TOSS_BUDGET_MS", "1000"),
        ("URR_TOSS_MAX_ATTEMPTS", "1"),
    ])
    .await;
    let app = &env.app;
    let artist = create_artist(app).await;
    let ev = artist_event(app, artist).await;
    let fans = create_fans(app, 3).await;
    for f in &fans {
        make_member(app, f.id, artist, 0).await;
    }
    let (seller, slow, fast) = (&fans[0], &fans[1], &fans[2]);
    let (_, ticket) = buy_seat(&env, seller, &ev, 0).await;
    let listing = json(list(app, seller, &ticket, json!({})).await).await;
    let id = listing["id"].as_str().expect("id").to_owned();

    let res = purchase(app, slow, &id).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let slow_order = json(res).await["order"].clone();
    let slow_id = slow_order["order_id"].as_str().expect("o").to_owned();
    let amount = slow_order["amount"].as_i64().expect("a");
    // The slow buyer's confirm is stuck in the network for 4 s.
    env.fake.set_fault(
        Fault::new(FaultKind::Delay(StdDuration::from_millis(4000)))
            .on(Op::Confirm)
            .for_order(&slow_id),
    );
    let key = env.fake.authorize(&slow_id, amount, "r").await;
    assert_problem(
        confirm(app, slow, &key, &slow_id, amount).await,
        StatusCode::BAD_GATEWAY,
        "PAYMENT_PROVIDER_UNAVAILABLE",
    )
    .await;
    // While that payment is in flight the listing stays held, even past the hold.
    app.state.clock.advance(Duration::minutes(6));
    let fast = app.refresh_token(fast.clone());
    assert_problem(
        purchase(app, &fast, &id).await,
        StatusCode::CONFLICT,
        "LISTING_RESERVED",
    )
    .await;
    // The reconciler sees the lapsed hold, never confirms it, marks it failed ...
    app.state.clock.advance(Duration::minutes(1));
    let stats = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(stats.failed, 1, "{stats:?}");
    // ... and the next buyer gets the listing and pays.
    let fast = app.refresh_token(fast.clone());
    let res = purchase(app, &fast, &id).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let fast_order = json(res).await["order"].clone();
    let paid = pay_order(&env, &fast, &fast_order).await;
    assert_eq!(paid["tickets"][0]["owner_id"], fast.id.to_string());

    // The stuck confirm lands: the slow buyer is charged for a ticket that is gone.
    env.fake.wait_idle().await;
    assert_eq!(env.fake.ledger(&slow_id).captured_amount, amount);
    app.state.clock.advance(Duration::minutes(1));
    let stats = payments::reconcile_once(&app.state)
        .await
        .expect("reconcile");
    assert_eq!(stats.refunded, 1, "{stats:?}");
    assert_eq!(
        env.fake.ledger(&slow_id).refunded_amount,
        amount,
        "refunded in full"
    );
    let tickets: i64 = sqlx::query_scalar("SELECT count(*) FROM tickets WHERE order_id = $1")
        .bind(&slow_id)
        .fetch_one(app.db())
        .await
        .expect("count");
    assert_eq!(tickets, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn listings_stop_at_the_cutoff_expire_and_can_be_withdrawn() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let ev = create_event(app, {
        let mut s = EventSpec::on_sale(app).seats(10).limit(4);
        s.sale_closes_at = app.state.clock.now() + Duration::days(2);
        s
    })
    .await;
    sqlx::query("UPDATE events SET starts_at = $2 WHERE id = $1")
        .bind(ev.id)
        .bind(app.state.clock.now() + Duration::days(3))
        .execute(app.db())
        .await
        .expect("show time");
    let fans = create_fans(app, 2).await;
    let (seller, buyer) = (&fans[0], &fans[1]);
    let (_, t1) = buy_seat(&env, seller, &ev, 0).await;
    let (_, t2) = buy_seat(&env, seller, &ev, 1).await;
    // No artist: no membership needed, and the fee is 10 %.
    let a = json(list(app, seller, &t1, json!({"price": 10_000})).await).await;
    assert_eq!(a["fee_percent"], 10);
    assert_eq!(a["fee"], 1_000);
    let b = json(list(app, seller, &t2, json!({})).await).await;
    let (a_id, b_id) = (a["id"].as_str().expect("id"), b["id"].as_str().expect("id"));

    // Withdrawn: off the market; a stranger cannot withdraw.
    assert_problem(
        app.delete(
            &format!("/api/v1/transfer-listings/{a_id}"),
            Some(&buyer.token),
        )
        .await,
        StatusCode::NOT_FOUND,
        "LISTING_NOT_FOUND",
    )
    .await;
    let res = app
        .delete(
            &format!("/api/v1/transfer-listings/{a_id}"),
            Some(&seller.token),
        )
        .await;
    assert_eq!(json(res).await["status"], "withdrawn");
    assert_problem(
        purchase(app, buyer, a_id).await,
        StatusCode::CONFLICT,
        "LISTING_UNAVAILABLE",
    )
    .await;
    // Relisting the withdrawn ticket works.
    assert_eq!(
        list(app, seller, &t1, json!({})).await.status(),
        StatusCode::CREATED
    );

    // Past the cut-off: nothing can be bought or listed, and the job closes listings.
    app.state
        .clock
        .advance(Duration::days(2) + Duration::minutes(1));
    let (seller, buyer) = (
        app.refresh_token(seller.clone()),
        app.refresh_token(buyer.clone()),
    );
    assert_problem(
        purchase(app, &buyer, b_id).await,
        StatusCode::CONFLICT,
        "LISTING_CUTOFF_PASSED",
    )
    .await;
    let page = json(
        app.get(
            &format!("/api/v1/transfer-listings?event_id={}", ev.id),
            None,
        )
        .await,
    )
    .await;
    assert_eq!(page["items"], json!([]));
    let mine = json(
        app.get("/api/v1/me/transfer-listings", Some(&seller.token))
            .await,
    )
    .await;
    assert!(
        mine["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|l| l["status"] != "listed")
    );
    let closed = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM transfer_listings WHERE status = 'listed'",
    )
    .fetch_one(app.db())
    .await
    .expect("count");
    assert_eq!(closed, 2, "the job has not run yet");
    let _ = urr_origin::resale::expire_due(&app.state)
        .await
        .expect("job");
    let listed = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM transfer_listings WHERE status = 'listed'",
    )
    .fetch_one(app.db())
    .await
    .expect("count");
    assert_eq!(listed, 0);
    assert_eq!(app.outbox_count("resale.closed").await, 3);
    // The listed ticket expired; relisting is refused after the cut-off.
    assert_problem(
        list(app, &seller, &t2, json!({})).await,
        StatusCode::CONFLICT,
        "LISTING_CUTOFF_PASSED",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelling_the_event_refunds_resale_buyers_and_cancels_unpaid_payouts() {
    let env = spawn_env(&[]).await;
    let app = &env.app;
    let artist = create_artist(app).await;
    let ev = artist_event(app, artist).await;
    let fans = create_fans(app, 2).await;
    let (seller, buyer) = (&fans[0], &fans[1]);
    make_member(app, seller.id, artist, 0).await;
    make_member(app, buyer.id, artist, 0).await;
    let (reservation, ticket) = buy_seat(&env, seller, &ev, 0).await;
    let listing = json(list(app, seller, &ticket, json!({})).await).await;
    let bought = json(purchase(app, buyer, listing["id"].as_str().expect("id")).await).await;
    let paid = pay_order(&env, buyer, &bought["order"]).await;
    let new_ticket = paid["tickets"][0]["id"].as_str().expect("id").to_owned();

    let admin = app.create_user(Role::Admin).await;
    let res = app
        .post(
            &format!("/api/v1/events/{}/cancel", ev.id),
            &json!({"reason": "storm"}),
            Some(&admin.token),
        )
        .await;
    assert!(
        res.status().is_success(),
        "{}",
        res.text().await.unwrap_or_default()
    );
    for _ in 0..3 {
        payments::reconcile_once(&app.state)
            .await
            .expect("reconcile");
    }
    let resale_order = bought["order"]["order_id"].as_str().expect("o");
    assert_eq!(
        env.fake.ledger(resale_order).refunded_amount,
        bought["order"]["amount"].as_i64().expect("a")
    );
    let seller_order = format!("ord_{}", reservation.simple());
    assert!(env.fake.ledger(&seller_order).refunded_amount > 0);
    let status: String = sqlx::query_scalar("SELECT status FROM tickets WHERE id = $1::uuid")
        .bind(&new_ticket)
        .fetch_one(app.db())
        .await
        .expect("ticket");
    assert_eq!(status, "void");
    let payout: String = sqlx::query_scalar("SELECT status FROM payouts")
        .fetch_one(app.db())
        .await
        .expect("payout");
    assert_eq!(payout, "cancelled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ticket_whose_refund_is_under_way_cannot_be_listed() {
    let env = spawn_env(&[("URR_TOSS_MAX_ATTEMPTS", "1")]).await;
    let app = &env.app;
    let artist = create_artist(app).await;
    let ev = artist_event(app, artist).await;
    let seller = &create_fans(app, 1).await[0];
    make_member(app, seller.id, artist, 0).await;
    let (reservation, ticket) = buy_seat(&env, seller, &ev, 0).await;
    // Toss fails the cancel: the refund is requested, the money not back yet.
    env.fake
        .set_fault(Fault::new(FaultKind::InternalError).on(Op::Cancel).always());
    let res = app.fan(seller).cancel(reservation).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    // The ticket is still valid until the money is back, but it is not for sale.
    let status: String = sqlx::query_scalar("SELECT status FROM tickets WHERE id = $1::uuid")
        .bind(ticket["id"].as_str().expect("id"))
        .fetch_one(app.db())
        .await
        .expect("ticket");
    assert_eq!(status, "valid");
    let p = assert_problem(
        list(app, seller, &ticket, json!({})).await,
        StatusCode::CONFLICT,
        "TICKET_NOT_LISTABLE",
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap_or("").contains("refunded"),
        "{p}"
    );
    assert_eq!(app.count_rows("transfer_listings").await, 0);
}
