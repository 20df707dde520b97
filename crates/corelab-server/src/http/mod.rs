//! The HTTP side of `corelab serve`: the REST API under `/api/v1` ([`api`]), DICOMweb under
//! `/dicomweb/{trial}` ([`dicomweb`]), login and sessions ([`auth`]), errors as problem+json
//! ([`problem`]) and the OpenAPI document ([`openapi`]). Nodes keep no state of their own:
//! sessions, throttling counts and everything else live in the store, so several nodes can serve
//! one installation behind a load balancer.

pub mod api;
pub mod auth;
pub mod dicomweb;
pub mod exports;
pub mod openapi;
pub mod problem;
pub mod reads;
pub mod tls;
pub mod ui;
pub mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use corelab_ingest::Ingestor;
use corelab_store::Store;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The installation.
    pub store: Arc<Store>,
    /// The ingest pipeline (STOW-RS), the same as DIMSE and import use.
    pub ingestor: Arc<Ingestor>,
    /// A password hash no password matches quickly: an unknown user's login costs as much as a
    /// known one's.
    pub dummy_hash: String,
    /// The largest STOW-RS request accepted, in bytes.
    pub max_upload_bytes: usize,
    /// The built web UI served under `/` ([`ui::locate`]), if any.
    pub ui_dir: Option<std::path::PathBuf>,
}

impl AppState {
    /// State over `store`, with an ingest pipeline recording `actor`.
    pub fn new(store: Arc<Store>, actor: &str) -> Result<Self, String> {
        let ingestor = Arc::new(Ingestor::new(store.clone(), actor));
        let dummy_hash = auth::hash_password(&auth::new_secret()?)?;
        Ok(Self {
            store,
            ingestor,
            dummy_hash,
            max_upload_bytes: 2 << 30,
            ui_dir: ui::locate(None),
        })
    }
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let limit = state.max_upload_bytes;
    let ui =
        ui::routes(state.ui_dir.as_deref()).layer(axum::middleware::from_fn(problem::no_route));
    Router::new()
        .merge(api::routes())
        .merge(views::routes())
        .merge(reads::routes())
        .merge(exports::routes())
        .merge(dicomweb::routes())
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::map_response(problem::problem_bodies))
        .with_state(state)
        .merge(ui)
}

/// Serves `router(state)` on `listener` until the task is dropped.
pub async fn serve(listener: tokio::net::TcpListener, state: AppState) -> std::io::Result<()> {
    axum::serve(listener, router(state)).await
}

/// `?limit=&offset=` of a list.
#[derive(Clone, Copy, Debug, Deserialize, utoipa::IntoParams)]
pub struct PageQuery {
    /// At most this many items (1–1000; 100 when absent).
    pub limit: Option<i64>,
    /// After skipping this many.
    pub offset: Option<i64>,
}

impl PageQuery {
    /// The limit, bounded.
    pub fn limit(&self) -> i64 {
        self.limit.unwrap_or(100).clamp(1, 1000)
    }

    /// The offset, at least 0.
    pub fn offset(&self) -> i64 {
        self.offset.unwrap_or(0).max(0)
    }

    /// One page of `items` (a list the store returned whole).
    pub fn page<T: Serialize>(&self, items: Vec<T>) -> Page<T> {
        let total = items.len() as i64;
        let items = items
            .into_iter()
            .skip(self.offset() as usize)
            .take(self.limit() as usize)
            .collect();
        Page {
            items,
            limit: self.limit(),
            offset: self.offset(),
            total,
        }
    }
}

/// One page of a list.
#[derive(Clone, Debug, Serialize)]
pub struct Page<T> {
    /// The items.
    pub items: Vec<T>,
    /// The limit applied.
    pub limit: i64,
    /// The offset applied.
    pub offset: i64,
    /// How many there are in all.
    pub total: i64,
}
