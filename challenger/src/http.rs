//! A node's HTTP surface for operators: `/metrics` (Prometheus text), the dispute explorer page
//! at `/` and its data at `/api/explorer`, `/api/claims` and `/api/disputes`. `gavel watch
//! --http`, `gavel serve --listen` (merged with the inference API) and `gavel devnet --http` all
//! serve it.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::explorer::Shared;

/// The explorer page (one file, no build step).
pub const EXPLORER_HTML: &str = include_str!("explorer.html");

async fn page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], EXPLORER_HTML)
}

async fn metrics() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], crate::metrics::render())
}

fn read(s: &Shared) -> serde_json::Value {
    s.read().unwrap_or_else(|e| e.into_inner()).clone()
}

async fn explorer(State(s): State<Shared>) -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Json(read(&s)))
}

async fn claims(State(s): State<Shared>) -> Json<serde_json::Value> {
    Json(read(&s)["claims"].clone())
}

async fn disputes(State(s): State<Shared>) -> Json<serde_json::Value> {
    Json(read(&s)["disputes"].clone())
}

/// The routes, reading the explorer's latest picture from `shared`.
pub fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/metrics", get(metrics))
        .route("/api/explorer", get(explorer))
        .route("/api/claims", get(claims))
        .route("/api/disputes", get(disputes))
        .with_state(shared)
}

/// Binds `addr` (an error naming it if it is taken) and serves `app` in a task; returns the bound
/// address (a port of 0 picks a free one).
pub async fn spawn(addr: SocketAddr, app: Router) -> Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "HTTP server");
        }
    });
    Ok((local, task))
}
