//! Wiring: connect the stores, build the router, serve until told to stop.

use crate::clock::Clock;
use crate::config::Config;
use crate::http::ApiError;
use crate::http::Code;
use crate::openapi::ApiDoc;
use crate::state::AppState;
use crate::store::Redis;
use crate::workers::Workers;
use crate::{
    auth, booking, catalog, community, console, health, http, lifecycle, memberships, openapi,
    outbox, payments, queue, resale, stats, tickets, uploads,
};
use anyhow::{Context, Result};
use axum::{Extension, Router};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

/// The migrations under `origin/migrations`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Opens the pool lazily so the origin starts (and reports not-ready) while Postgres is
/// down instead of crash-looping.
pub fn connect_db(config: &Config) -> Result<PgPool> {
    PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy(&config.database_url)
        .context("URR_DATABASE_URL is not a valid Postgres URL")
}

/// Every route of the API with its OpenAPI document.
/// Every API route with its OpenAPI description.
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(openapi::router())
        .merge(health::router())
        .merge(auth::router())
        .merge(uploads::router())
        .merge(catalog::router())
        .merge(booking::router())
        .merge(payments::router())
        .merge(queue::router())
        .merge(tickets::router())
        .merge(lifecycle::router())
        .merge(memberships::router())
        .merge(community::router())
        .merge(resale::router())
        .merge(stats::router())
        .merge(console::router())
}

/// The OpenAPI document the origin serves at `/api/v1/openapi.json`, without starting
/// anything (`urr-origin openapi` prints it; the web app's client is generated from it).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let (_, doc) = split_api();
    doc
}

fn split_api() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (api, mut doc) = api_routes().split_for_parts();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    http::codes::add_server_codes(&mut doc);
    openapi::unique_operation_ids(&mut doc);
    (api, doc)
}

pub fn router(state: AppState) -> Router {
    let (api, doc) = split_api();
    let config = state.config.clone();
    let api = if config.check_declared_errors {
        let declared = Arc::new(http::codes::Declared::from_doc(&doc));
        api.route_layer(axum::middleware::from_fn_with_state(
            declared,
            http::codes::check_declared,
        ))
    } else {
        api
    };
    let api = match crate::web::router(&config.web_dir) {
        Some(web) => api.merge(web),
        None => api,
    };
    let router = api
        .fallback(|| async { ApiError::new(Code::NOT_FOUND, "No such resource") })
        .layer(Extension(Arc::new(doc)))
        .with_state(state);
    http::middleware::wrap(router, &config)
}

/// Starts the background jobs of every module.
fn start_workers(state: &AppState) -> Workers {
    let mut workers = Workers::new();
    booking::start_workers(state, &mut workers);
    payments::start_workers(state, &mut workers);
    queue::start_workers(state, &mut workers);
    outbox::start_workers(state, &mut workers);
    memberships::start_workers(state, &mut workers);
    resale::start_workers(state, &mut workers);
    stats::start_workers(state, &mut workers);
    let s = state.clone();
    workers.every("auth_refresh_purge", Duration::from_secs(3600), move || {
        let s = s.clone();
        async move {
            auth::purge_expired_refresh_tokens(&s.db, s.clock.now()).await?;
            let keep = s.config.auth.access_ttl;
            auth::purge_revocations(&s.db, s.clock.now(), keep).await?;
            Ok(())
        }
    });
    workers
}

/// Jobs every replica runs for itself, even with `URR_BACKGROUND_JOBS=false`: folding
/// metric samples (memory stays flat with nobody scraping) and keeping its view of
/// revoked sessions fresh (logout and role changes take effect within a second
/// everywhere).
fn start_replica_workers(state: &AppState) -> Workers {
    let mut workers = Workers::new();
    // Histogram samples wait in the recorder until they are folded into buckets; a
    // replica nobody scrapes would keep every one of them.
    workers.every("metrics_upkeep", Duration::from_secs(5), || async {
        crate::telemetry::prometheus().run_upkeep();
        Ok(())
    });
    let s = state.clone();
    workers.every("auth_revocation_sync", Duration::from_secs(1), move || {
        let s = s.clone();
        async move {
            s.auth.revocations.sync(&s.db, s.clock.now()).await?;
            Ok(())
        }
    });
    workers
}

pub struct Application {
    listener: TcpListener,
    /// `URR_METRICS_ADDR`: Prometheus only, apart from the API.
    metrics_listener: Option<TcpListener>,
    state: AppState,
}

impl Application {
    /// Connects, migrates (unless `URR_MIGRATE_ON_START=false`) and binds the listener.
    pub async fn build(config: Config) -> Result<Application> {
        Self::build_with_clock(config, Clock::system()).await
    }

    /// [`Application::build`] with a given clock (tests move time with it).
    pub async fn build_with_clock(config: Config, clock: Clock) -> Result<Application> {
        // Install the metrics recorder before anything records.
        crate::telemetry::prometheus();
        let db = connect_db(&config)?;
        if config.migrate_on_start {
            MIGRATOR
                .run(&db)
                .await
                .context("running database migrations")?;
        }
        let redis = Redis::connect(
            &config.redis_url,
            &config.redis_prefix,
            config.redis_response_timeout,
        )
        .context("URR_REDIS_URL is not a valid Redis URL")?;
        let payments = payments::Payments::new(&config.payments)?;
        let queue = queue::Queue::new(&config)?;
        let listener = http::listener::bind(config.http_addr)
            .with_context(|| format!("binding {}", config.http_addr))?;
        let metrics_listener = match config.metrics_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding URR_METRICS_ADDR {addr}"))?,
            ),
            None => None,
        };
        let booking = booking::Booking::new(&config.booking, Arc::new(payments::InFlight));
        let auth = auth::Auth::new(&config.auth);
        let uploads = uploads::Uploads::new(&config.uploads)?;
        let catalog = catalog::Catalog::new(
            config.booking.event_cache_ttl,
            Arc::new(queue::Modes),
            Arc::new(memberships::Windows),
        );
        let state = AppState {
            config: Arc::new(config),
            db,
            redis,
            clock,
            booking: Arc::new(booking),
            catalog: Arc::new(catalog),
            payments: Arc::new(payments),
            queue: Arc::new(queue),
            auth: Arc::new(auth),
            uploads: Arc::new(uploads),
        };
        Ok(Application {
            listener,
            metrics_listener,
            state,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The metrics listener's address; `None` when `URR_METRICS_ADDR` is empty.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests and stops the
    /// background jobs.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        let workers = if self.state.config.background_jobs {
            Some(start_workers(&self.state))
        } else {
            None
        };
        let replica_workers = start_replica_workers(&self.state);
        let app = router(self.state.clone());
        tracing::info!(addr = %self.local_addr(), "origin listening");
        // One shutdown signal for both listeners.
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let stop_tx = Arc::new(stop_tx);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let metrics = self.metrics_listener.map(|listener| {
            tracing::info!(addr = ?listener.local_addr().ok(), "metrics listening");
            tokio::spawn(
                axum::serve(listener, health::metrics_router())
                    .with_graceful_shutdown(stopped(stop_rx.clone()))
                    .into_future(),
            )
        });
        let api_stopped = stopped(stop_rx);
        let on_signal = stop_tx.clone();
        tokio::spawn(async move {
            shutdown.await;
            let _ = on_signal.send(true);
        });
        let limits = http::serve::ConnLimits {
            header_read: self.state.config.http_header_read_timeout,
            drain: self.state.config.http_drain,
        };
        http::serve::serve(
            http::listener::Accepting(self.listener),
            app,
            limits,
            api_stopped,
        )
        .await;
        // The metrics listener stops with the API's.
        let _ = stop_tx.send(true);
        if let Some(m) = metrics {
            match m.await {
                Ok(Err(e)) => tracing::warn!(error = %e, "metrics listener failed"),
                Err(e) => tracing::warn!(error = %e, "metrics listener task failed"),
                Ok(Ok(())) => {}
            }
        }
        if let Some(w) = workers {
            w.shutdown().await;
        }
        replica_workers.shutdown().await;
        self.state.db.close().await;
        tracing::info!("origin stopped");
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
