//! The test harness: [`TestApp::spawn`] and friends.
//!
//! Isolation: every app gets a fresh database `urr_t_<unix>_<random>`, created from a
//! template database that holds the migrated schema (created once per schema version,
//! under an advisory lock so parallel test processes do not race), and a Redis key
//! prefix `t:<random>:`. Dropping the [`TestApp`] stops the server and drops the
//! database; databases left by killed runs are swept when the next run starts.
//!
//! Servers: `URR_TEST_DATABASE_URL` (an admin connection, default
//! `postgres://postgres@127.0.0.1:5432/postgres`) and `URR_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`). `cargo xtask test` sets both, starting private servers when
//! the default ones are not reachable.
#![allow(dead_code)]

use rand::RngCore;
use reqwest::{Client, Method, Response, StatusCode};
use serde::Serialize;
use serde_json::Value;
use shared_wasm::token::Role;
use shared_wasm::token::{SigningKey, format_key_spec};
use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection, PgPool};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use tokio::sync::{OnceCell, oneshot};
use urr_origin::config::Vars;
use urr_origin::{AppState, Application, Config};
use uuid::Uuid;

pub fn admin_url() -> String {
    std::env::var("URR_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

pub fn redis_url() -> String {
    std::env::var("URR_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn db_url(name: &str) -> String {
    let opts = PgConnectOptions::from_str(&admin_url()).expect("URR_TEST_DATABASE_URL parses");
    opts.database(name).to_url_lossy().to_string()
}

async fn admin() -> PgConnection {
    PgConnection::connect(&admin_url()).await.unwrap_or_else(|e| {
        panic!(
            "cannot reach Postgres at {} ({e}); run the tests with `cargo xtask test`, which starts one",
            admin_url()
        )
    })
}

/// The template database for the current migrations, created once.
async fn template() -> &'static str {
    static NAME: OnceCell<String> = OnceCell::const_new();
    NAME.get_or_init(|| async {
        let mut hash: u64 = 0xcbf29ce484222325;
        for m in urr_origin::app::MIGRATOR.iter() {
            for b in m.checksum.iter().chain(m.version.to_le_bytes().iter()) {
                hash = (hash ^ u64::from(*b)).wrapping_mul(0x100000001b3);
            }
        }
        let name = format!("urr_tpl_{hash:016x}");
        let mut conn = admin().await;
        conn.execute("SELECT pg_advisory_lock(727272)")
            .await
            .expect("lock");
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(&name)
                .fetch_one(&mut conn)
                .await
                .expect("query pg_database");
        if !exists {
            let building = format!("{name}_build");
            conn.execute(format!(r#"DROP DATABASE IF EXISTS "{building}""#).as_str())
                .await
                .expect("drop");
            conn.execute(format!(r#"CREATE DATABASE "{building}""#).as_str())
                .await
                .expect("create template");
            let pool = PgPool::connect(&db_url(&building))
                .await
                .expect("connect template");
            urr_origin::app::MIGRATOR
                .run(&pool)
                .await
                .expect("migrate template");
            pool.close().await;
            // A closed pool's backends may still be exiting; the rename needs them gone.
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
            )
            .bind(&building)
            .execute(&mut conn)
            .await
            .expect("terminate template sessions");
            conn.execute(format!(r#"ALTER DATABASE "{building}" RENAME TO "{name}""#).as_str())
                .await
                .expect("rename template");
            sweep_stale(&mut conn).await;
        }
        conn.execute("SELECT pg_advisory_unlock(727272)")
            .await
            .expect("unlock");
        name
    })
    .await
}

/// Drops test databases older than two hours (left by killed runs) and old templates.
async fn sweep_stale(conn: &mut PgConnection) {
    let names: Vec<String> =
        sqlx::query_scalar("SELECT datname FROM pg_database WHERE datname LIKE 'urr_t\\_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    for name in names {
        let ts = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse::<i64>().ok())
            .unwrap_or(0);
        if now - ts > 7200 {
            let _ = conn
                .execute(format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#).as_str())
                .await;
        }
    }
}

pub fn random_key(kid: &str) -> (SigningKey, String) {
    let mut seed = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut seed);
    let spec = format_key_spec(kid, &seed);
    (SigningKey::parse(&spec).expect("valid key"), spec)
}

/// A running origin with its own database and Redis prefix.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The metrics listener (`URR_METRICS_ADDR`, port 0 in tests); `None` when a test
    /// turned it off.
    pub metrics_addr: Option<SocketAddr>,
    pub state: AppState,
    pub client: Client,
    /// The edge's signing key; its public half is in `URR_EDGE_PUBLIC_KEYS`.
    pub edge_key: SigningKey,
    pub db_name: String,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

/// A user created directly in the database, with a fresh access token.
#[derive(Debug, Clone)]
pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub role: Role,
    pub token: String,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    /// Spawns with `URR_*` overrides on top of the test defaults.
    pub async fn spawn_with(overrides: &[(&str, &str)]) -> TestApp {
        let template = template().await;
        let db_name = format!(
            "urr_t_{}_{}",
            chrono::Utc::now().timestamp(),
            Uuid::new_v4().simple()
        );
        let mut conn = admin().await;
        conn.execute(format!(r#"CREATE DATABASE "{db_name}" TEMPLATE "{template}""#).as_str())
            .await
            .expect("create test database");
        conn.close().await.ok();

        let (_, origin_spec) = random_key("origin-test");
        let (edge_key, _) = random_key("edge-test");
        let mut vars: HashMap<String, String> = [
            ("URR_HTTP_ADDR", "127.0.0.1:0".to_owned()),
            ("URR_METRICS_ADDR", "127.0.0.1:0".to_owned()),
            // Tests pay with Toss test keys (against the fake).
            ("URR_TOSS_ALLOW_TEST", "true".to_owned()),
            ("URR_DATABASE_URL", db_url(&db_name)),
            ("URR_DATABASE_MAX_CONNECTIONS", "40".to_owned()),
            ("URR_MIGRATE_ON_START", "false".to_owned()),
            ("URR_REDIS_URL", redis_url()),
            (
                "URR_REDIS_PREFIX",
                format!("t:{}:", Uuid::new_v4().simple()),
            ),
            ("URR_ORIGIN_SIGNING_KEY", origin_spec),
            ("URR_EDGE_PUBLIC_KEYS", edge_key.public_key().to_string()),
            ("URR_COOKIE_SECURE", "false".to_owned()),
            ("URR_ARGON2_MEMORY_KIB", "1024".to_owned()),
            ("URR_ARGON2_ITERATIONS", "1".to_owned()),
            ("URR_BACKGROUND_JOBS", "false".to_owned()),
            ("URR_LOG", "warn".to_owned()),
            (
                "URR_UPLOADS_STORE",
                std::env::temp_dir()
                    .join(format!("urr-uploads-{}", Uuid::new_v4().simple()))
                    .display()
                    .to_string(),
            ),
            // Tests edit events and book at once; production keeps the row 1 s.
            ("URR_EVENT_CACHE_TTL_MS", "0".to_owned()),
            // Off: many tests make one account try bypass after bypass within a second,
            // and the 5,000-joiner race should not pay an extra Redis round trip per
            // join on a loaded 2-core CI machine. The per-account limits have their own
            // test, which turns them on.
            ("URR_RATE_RESERVATIONS_PER_USER_PER_SEC", "0".to_owned()),
            ("URR_RATE_QUEUE_JOINS_PER_USER_PER_SEC", "0".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        for (k, v) in overrides {
            vars.insert((*k).to_owned(), (*v).to_owned());
        }
        let config = Config::from_vars(&Vars::from_map(&vars)).expect("test config");
        if std::env::var("URR_TEST_LOG").is_ok() {
            urr_origin::telemetry::init_tracing(&config);
        }
        let app = Application::build(config).await.expect("build app");
        let addr = app.local_addr();
        let metrics_addr = app.metrics_addr();
        let state = app.state().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = stopped.await;
            })
            .await
            .expect("server runs");
        });
        TestApp {
            addr,
            metrics_addr,
            state,
            client: Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .pool_max_idle_per_host(64)
                .build()
                .expect("client"),
            edge_key,
            db_name,
            stop: Some(stop),
            server: Some(server),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// The Prometheus page from the metrics listener.
    pub async fn metrics(&self) -> String {
        let addr = self.metrics_addr.expect("this app has a metrics listener");
        self.client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .expect("GET /metrics")
            .text()
            .await
            .expect("metrics text")
    }

    pub fn db(&self) -> &PgPool {
        &self.state.db
    }

    /// A request builder for `method path`, with a bearer token when given.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut r = self.client.request(method, self.url(path));
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        r
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token)
            .send()
            .await
            .expect("GET")
    }

    pub async fn post<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        token: Option<&str>,
    ) -> Response {
        self.request(Method::POST, path, token)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    pub async fn put<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        token: Option<&str>,
    ) -> Response {
        self.request(Method::PUT, path, token)
            .json(body)
            .send()
            .await
            .expect("PUT")
    }

    pub async fn patch<B: Serialize + ?Sized>(
        &self,
        path: &str,
        body: &B,
        token: Option<&str>,
    ) -> Response {
        self.request(Method::PATCH, path, token)
            .json(body)
            .send()
            .await
            .expect("PATCH")
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::DELETE, path, token)
            .send()
            .await
            .expect("DELETE")
    }

    /// Inserts a user with `role` (no usable password) and signs an access token for it.
    pub async fn create_user(&self, role: Role) -> TestUser {
        let id = Uuid::new_v4();
        let email = format!("{}-{}@test.urr", role.as_str(), id.simple());
        let now = self.state.clock.now();
        // With its `user.registered` event, as the app writes it (statistics count it).
        sqlx::query(
            "WITH u AS (
               INSERT INTO users (id, email, password_hash, display_name, role, created_at, updated_at)
               VALUES ($1, $2, NULL, $3, $4, $5, $5) RETURNING id, role, created_at)
             INSERT INTO outbox (id, topic, aggregate_id, payload, created_at)
             SELECT gen_random_uuid(), 'user.registered', u.id,
                    jsonb_build_object('user_id', u.id, 'role', u.role, 'via', 'password'), u.created_at
             FROM u",
        )
        .bind(id)
        .bind(&email)
        .bind(format!("Test {}", role.as_str()))
        .bind(role.as_str())
        .bind(now)
        .execute(self.db())
        .await
        .expect("insert user");
        let (token, _) = urr_origin::auth::issue_access_token(&self.state, id, role, None);
        TestUser {
            id,
            email,
            role,
            token,
        }
    }

    /// The same user with an access token valid at the app's current (maybe advanced)
    /// clock.
    pub fn refresh_token(&self, user: TestUser) -> TestUser {
        let (token, _) =
            urr_origin::auth::issue_access_token(&self.state, user.id, user.role, None);
        TestUser { token, ..user }
    }

    /// Every Redis key under this app's prefix.
    pub async fn redis_keys(&self) -> Vec<String> {
        let mut c = self.state.redis.conn();
        let pattern = format!("{}*", self.state.redis.prefix());
        redis::cmd("KEYS")
            .arg(pattern)
            .query_async(&mut c)
            .await
            .expect("KEYS")
    }

    /// Deletes every key under this app's prefix: "Redis was flushed", for this app only.
    pub async fn flush_redis(&self) {
        let keys = self.redis_keys().await;
        if !keys.is_empty() {
            let mut c = self.state.redis.conn();
            let _: () = redis::cmd("DEL")
                .arg(keys)
                .query_async(&mut c)
                .await
                .expect("DEL");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        let db_name = self.db_name.clone();
        let redis = self.state.redis.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                // Not `pool.close().await`: a connection used just before the drop is
                // returned to the pool by a task on the test's runtime, which is blocked
                // in this `drop`, so waiting for it can hang. DROP ... WITH (FORCE) ends
                // whatever is still open, and the pool is dropped with the app state.
                if let Ok(mut conn) = PgConnection::connect(&admin_url()).await {
                    let _ = conn
                        .execute(
                            format!(r#"DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)"#).as_str(),
                        )
                        .await;
                }
                if let Ok(client) = redis::Client::open(redis_url())
                    && let Ok(mut c) = client.get_multiplexed_async_connection().await
                {
                    let pattern = format!("{}*", redis.prefix());
                    let keys: Vec<String> = redis::cmd("KEYS")
                        .arg(pattern)
                        .query_async(&mut c)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> =
                            redis::cmd("DEL").arg(keys).query_async(&mut c).await;
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Reads a response as JSON, panicking with the body when it is not.
pub async fn json(res: Response) -> Value {
    let status = res.status();
    let text = res.text().await.expect("body");
    serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("status {status}, body is not JSON: {text}"))
}

/// Asserts `res` is problem+json with `status` and `code`; returns the body.
pub async fn assert_problem(res: Response, status: StatusCode, code: &str) -> Value {
    let got = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = json(res).await;
    assert_eq!(got, status, "unexpected status; body: {body}");
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type {ct}; body: {body}"
    );
    assert_eq!(body["code"], code, "unexpected code; body: {body}");
    assert_eq!(
        body["status"],
        status.as_u16(),
        "status member; body: {body}"
    );
    body
}

impl TestApp {
    /// How many rows `table` holds (to check that refused requests wrote nothing).
    pub async fn count_rows(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(self.db())
            .await
            .expect("count rows")
    }

    /// How many domain events of `topic` the outbox holds.
    pub async fn outbox_count(&self, topic: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE topic = $1")
            .bind(topic)
            .fetch_one(self.db())
            .await
            .expect("count outbox rows")
    }

    /// A raw request: `body` sent as is, with `content_type` when given.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        let mut r = self.request(Method::POST, path, None).body(body);
        if let Some(ct) = content_type {
            r = r.header("content-type", ct);
        }
        r.send().await.expect("POST")
    }
}

/// Every `Set-Cookie` header of `res`, as text.
pub fn set_cookies(res: &Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}
