//! End to end through the real pieces: the Cloudflare worker under `wrangler dev` in
//! front of the real origin (its own Postgres database and Redis prefix).
//!
//! A promoter sets the event's rules at the origin, which pushes them to the edge; a fan
//! joins the waiting room at the edge, is served and receives a pass, joins tier 2 at
//! the origin through the edge, receives an entry token, and books a seat through the
//! edge, whose guard checks the entry token before the origin sees the request.

use anyhow::{Context, Result, bail, ensure};
use edge_conformance::cloudflare::Cloudflare;
use edge_conformance::{Platform, Vars};
use rand::RngCore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shared_wasm::token::{SigningKey, format_key_spec};
use sqlx::{Connection, Executor, PgConnection};
use std::time::Duration;
use urr_origin::config::Vars as OriginVars;
use urr_origin::{Application, Config};

fn admin_url() -> String {
    std::env::var("URR_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn redis_url() -> String {
    std::env::var("URR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn key(kid: &str) -> Result<(SigningKey, String)> {
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    Ok((
        SigningKey::from_seed(kid, seed)?,
        format_key_spec(kid, &seed),
    ))
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A throw-away database, dropped when this goes.
struct Database {
    name: String,
}

impl Database {
    async fn create() -> Result<Database> {
        let name = format!("urr_e2e_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url())
            .await
            .with_context(|| format!("Postgres at {} (run `cargo xtask test`)", admin_url()))?;
        admin
            .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
            .await?;
        Ok(Database { name })
    }

    fn url(&self) -> String {
        let base = admin_url();
        match base.rsplit_once('/') {
            Some((server, _)) => format!("{server}/{}", self.name),
            None => format!("{base}/{}", self.name),
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime; use a fresh thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let mut admin = PgConnection::connect(&admin_url()).await?;
                admin
                    .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                    .await?;
                anyhow::Ok(())
            })
        })
        .join();
    }
}

async fn json_of(r: reqwest::Response, want: StatusCode, what: &str) -> Result<Value> {
    let status = r.status();
    let text = r.text().await?;
    ensure!(
        status == want,
        "{what}: expected {want}, got {status}: {text}"
    );
    serde_json::from_str(&text).with_context(|| format!("{what}: not JSON: {text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fan_goes_from_edge_waiting_room_to_a_seat() -> Result<()> {
    let db = Database::create().await?;
    let (edge_key, edge_spec) = key("edge-e2e")?;
    let (_, origin_spec) = key("origin-e2e")?;
    let edge_port = free_port()?;
    let proxy_secret = {
        use base64::Engine;
        let mut secret = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut secret);
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    };
    let edge = format!("http://127.0.0.1:{edge_port}");

    // The origin, knowing where the edge will be.
    let prefix = format!("e2e:{}:", uuid::Uuid::new_v4().simple());
    let env: Vec<(&str, String)> = vec![
        ("URR_HTTP_ADDR", "127.0.0.1:0".into()),
        ("URR_METRICS_ADDR", "127.0.0.1:0".into()),
        ("URR_TOSS_ALLOW_TEST", "true".into()),
        ("URR_DATABASE_URL", db.url()),
        ("URR_DATABASE_MAX_CONNECTIONS", "10".into()),
        ("URR_REDIS_URL", redis_url()),
        ("URR_REDIS_PREFIX", prefix),
        ("URR_ORIGIN_SIGNING_KEY", origin_spec),
        ("URR_EDGE_PUBLIC_KEYS", edge_key.public_key().to_string()),
        ("URR_EDGE_URLS", edge.clone()),
        ("URR_EDGE_PROXY_SECRETS", proxy_secret.clone()),
        ("URR_COOKIE_SECURE", "false".into()),
        ("URR_ARGON2_MEMORY_KIB", "1024".into()),
        ("URR_ARGON2_ITERATIONS", "1".into()),
        ("URR_LOG", "warn".into()),
    ];
    let map: std::collections::HashMap<String, String> =
        env.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    let config = Config::from_vars(&OriginVars::from_map(&map))?;
    let app = Application::build(config.clone()).await?;
    let origin = format!("http://{}", app.local_addr());
    let state = app.state().clone();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let demo = urr_origin::demo::seed(&state.db, &state.clock, &config, "e2e-password").await?;
    let event = demo.catalog.event_queued_edge;

    // The edge in front of it.
    let mut vars = Vars::default();
    vars.0.insert("EDGE_SIGNING_KEY".into(), edge_spec);
    vars.0.insert(
        "ORIGIN_PUBLIC_KEYS".into(),
        state.config.keys.origin_public.to_spec(),
    );
    vars.0.insert("ORIGIN_URL".into(), origin.clone());
    vars.0.insert("COOKIE_SECURE".into(), "false".into());
    vars.0
        .insert("EDGE_PROXY_SECRET".into(), proxy_secret.clone());
    let platform = Cloudflare {
        port: Some(edge_port),
        ..Cloudflare::new()
    };
    let _running = platform.start(&vars).await?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .no_proxy()
        .build()?;

    // Everything below goes through the edge.
    let login = |email: &'static str| {
        let http = http.clone();
        let edge = edge.clone();
        async move {
            let r = http
                .post(format!("{edge}/api/v1/auth/login"))
                .json(&json!({ "email": email, "password": "e2e-password" }))
                .send()
                .await?;
            let v = json_of(r, StatusCode::OK, "login").await?;
            v["access_token"]
                .as_str()
                .map(str::to_owned)
                .context("login answer has an access_token")
        }
    };
    let promoter = login("promoter@urr.local").await?;
    let fan = login("fan1@urr.local").await?;

    // 1. The promoter's rules reach the edge (the PUT answers with the edge's ack).
    let r = http
        .get(format!("{edge}/api/v1/events/{event}/edge-rules"))
        .bearer_auth(&promoter)
        .send()
        .await?;
    let current = json_of(r, StatusCode::OK, "get rules").await?;
    let mut rules = current["rules"].clone();
    let version = current["version"].as_u64().context("version")? + 1;
    rules["version"] = json!(version);
    rules["template"]["message_en"] = json!("End-to-end waiting room");
    let r = http
        .put(format!("{edge}/api/v1/events/{event}/edge-rules"))
        .bearer_auth(&promoter)
        .json(&json!({ "rules": rules, "edge_tier": true }))
        .send()
        .await?;
    let put = json_of(r, StatusCode::OK, "put rules").await?;
    let acked = put["deliveries"][0]["acked_version"].as_u64();
    ensure!(
        acked == Some(version),
        "the edge did not acknowledge v{version}: {put}"
    );

    // 2. The waiting room page is rendered at the edge with the promoter's text (the
    //    isolate may serve its ~1 s old snapshot first: poll, with a deadline). Showing
    //    it takes no place: it offers the join button.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let page = http
            .get(format!("{edge}/e/{event}"))
            .header("accept-language", "en")
            .send()
            .await?;
        ensure!(
            page.status() == StatusCode::OK,
            "waiting room page: {}",
            page.status()
        );
        if page.text().await?.contains("End-to-end waiting room") {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the page never showed the pushed template title"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // 3. Join tier 1 and poll until served: the pass.
    let r = http.post(format!("{edge}/vwr/{event}/join")).send().await?;
    let joined = json_of(r, StatusCode::CREATED, "edge join").await?;
    let ticket = joined["ticket"].as_str().context("ticket")?.to_owned();
    let mut pass = None;
    for _ in 0..50 {
        let r = http
            .get(format!("{edge}/vwr/{event}/status"))
            .header("x-queue-ticket", &ticket)
            .send()
            .await?;
        let s = json_of(r, StatusCode::OK, "edge status").await?;
        if let Some(p) = s["pass"].as_str() {
            pass = Some(p.to_owned());
            break;
        }
        let wait = s["poll_after_ms"].as_u64().unwrap_or(1000).min(2000);
        tokio::time::sleep(Duration::from_millis(wait)).await;
    }
    let pass = pass.context("never served at the edge")?;

    // 4. Booking without an entry token is stopped at the edge.
    let seats = json_of(
        http.get(format!("{edge}/api/v1/events/{event}/seats"))
            .send()
            .await?,
        StatusCode::OK,
        "seat map",
    )
    .await?;
    let seat = seats["seats"]
        .as_array()
        .and_then(|s| s.first())
        .and_then(|s| {
            s["seat_id"]
                .as_str()
                .or(s["id"].as_str())
                .map(str::to_owned)
        })
        .with_context(|| format!("no seat in the seat map: {seats}"))?;
    let r = http
        .post(format!("{edge}/api/v1/events/{event}/reservations"))
        .bearer_auth(&fan)
        .json(&json!({ "seat_ids": [seat] }))
        .send()
        .await?;
    ensure!(
        r.status() == StatusCode::FORBIDDEN,
        "unguarded: {}",
        r.status()
    );

    // 5. Tier 2 with the pass: admitted (the line is empty), entry token.
    let r = http
        .post(format!("{edge}/api/v1/events/{event}/queue/join"))
        .bearer_auth(&fan)
        .json(&json!({ "pass": pass }))
        .send()
        .await?;
    let admitted = json_of(r, StatusCode::CREATED, "tier-2 join").await?;
    ensure!(admitted["state"] == "admitted", "not admitted: {admitted}");
    let entry = admitted["entry_token"].as_str().context("entry token")?;

    // 6. The seat, through the edge's guard and the origin's.
    let r = http
        .post(format!("{edge}/api/v1/events/{event}/reservations"))
        .bearer_auth(&fan)
        .header("x-entry-token", entry)
        .json(&json!({ "seat_ids": [seat] }))
        .send()
        .await?;
    let reservation = json_of(r, StatusCode::CREATED, "reservation").await?;
    ensure!(
        reservation["order"]["amount"].as_i64().unwrap_or(0) > 0,
        "a reservation with its order: {reservation}"
    );

    let _ = stop.send(());
    match tokio::time::timeout(Duration::from_secs(20), server).await {
        Ok(Ok(Ok(()))) => Ok(()),
        Ok(Ok(Err(e))) => Err(e),
        Ok(Err(e)) => bail!("origin task: {e}"),
        Err(_) => bail!("origin did not stop"),
    }
}
