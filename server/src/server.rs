//! The accept loop: routes, start-up and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::auth::Auth;
use crate::backend::Backend;
use crate::cluster::Redis;
use crate::config::Config;
use crate::sqlite::{self, SqliteStore};
use crate::state::AppState;
use crate::store::{Loaded, Store};
use crate::{api, web, ws};

/// Largest JSON body the REST API accepts.
const MAX_BODY_BYTES: usize = 16 * 1024;
/// How long shutdown waits, after the drain, for the store's last commit and checkpoint and
/// for the Redis tasks (the units in deploy/ give the whole stop 15 s: 5 s of drain, this, and
/// a second for what the drain's end aborts).
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

pub fn router(app: AppState) -> Router {
    let hsts = app
        .0
        .config
        .public_url
        .as_deref()
        .is_some_and(|u| u.trim().to_ascii_lowercase().starts_with("https://"));
    Router::new()
        .route("/", get(web::index))
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .route("/api/workshops", post(api::create_workshop))
        .route("/api/workshops/{id}", get(api::summary))
        .route("/api/join", post(api::join))
        .route("/ws", get(ws::upgrade))
        .route("/{*path}", get(web::asset))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(
            hsts,
            crate::security::headers,
        ))
        .with_state(app)
}

/// Prepares the data dir, the secret and the store, and reads back what the store holds.
pub fn open(config: &Config) -> anyhow::Result<(Auth, Arc<dyn Store>, Loaded)> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        anyhow::anyhow!("cannot create data dir {}: {e}", config.data_dir.display())
    })?;
    let auth = Auth::load(config.secret.as_deref(), &config.data_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot read or create the secret in {}: {e}",
            config.data_dir.display()
        )
    })?;
    let options = sqlite::Options {
        sync: config.sync,
        max_mib: config.max_db_mib,
        ..sqlite::Options::default()
    };
    let store = SqliteStore::open(&config.data_dir, options).map_err(|e| anyhow::anyhow!("{e}"))?;
    let loaded = store.load().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((auth, Arc::new(store), loaded))
}

/// Serves on `listener` until `shutdown` is cancelled, then tells every client to reconnect and
/// waits (at most the drain timeout) for connections and rooms to finish.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    crate::security::OriginPolicy::check_config(&config).map_err(anyhow::Error::msg)?;
    let drain = Duration::from_millis(config.drain_timeout_ms);
    let app = match config.redis_url.clone() {
        None => {
            let (auth, store, loaded) = open(&config)?;
            let app = AppState::new(config, auth, Backend::Local(store), shutdown.clone());
            let (workshops, rooms) = app.restore(loaded)?;
            info!(
                workshops,
                rooms,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "state restored"
            );
            app
        }
        Some(url) => {
            let node = config
                .node_id
                .clone()
                .unwrap_or_else(|| format!("n-{}", crate::state::random_id(8)));
            let redis = Redis::connect(&url, node.clone(), shutdown.clone())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let auth = match &config.secret {
                Some(s) => Auth::new(s.as_bytes()),
                None => Auth::new(&redis.secret().await.map_err(|e| anyhow::anyhow!("{e}"))?),
            };
            info!(%node, redis = %url, "multi-node mode");
            AppState::new(config, auth, Backend::Cluster(redis), shutdown.clone())
        }
    };
    let tracker = app.0.tracker.clone();
    let backend = app.0.backend.clone();
    let drain_expired = app.0.drain_expired.clone();
    info!(addr = %listener.local_addr()?, "plenary listening");
    // Small frames go out at once: without TCP_NODELAY a second frame in a row waits for the
    // first one's ACK (Nagle plus delayed ACK, about 40 ms).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let serve = axum::serve(listener, router(app))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    serve.await?;
    tracker.close();
    if tokio::time::timeout(drain, tracker.wait()).await.is_err() {
        warn!(
            remaining = tracker.len(),
            "drain timeout: closing remaining connections"
        );
        // Writers still stuck on a socket are aborted, and their connections end with them.
        drain_expired.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), tracker.wait()).await;
    }
    // Then what runs beside the connections and rooms: the store's threads (after a last
    // commit and checkpoint) and, with several nodes, the Redis reader and health tasks (they
    // end on `shutdown`).
    if tokio::time::timeout(STOP_TIMEOUT, backend.close())
        .await
        .is_err()
    {
        warn!("the store or the Redis tasks did not stop in time");
    }
    info!("plenary stopped");
    Ok(())
}
