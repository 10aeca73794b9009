//! The agent console: a single page (`web/`, built with esbuild) that talks grpc-web to this
//! same port. Its bundle is embedded at compile time, so the binary needs no files beside it;
//! `--console-dir` serves a directory instead while the console is being worked on.
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::path::PathBuf;
use std::sync::Arc;

/// The bundle's files: (name, content type, embedded bytes).
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "index.html",
        "text/html; charset=utf-8",
        include_bytes!("../../web/dist/index.html"),
    ),
    (
        "console.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../web/dist/console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        include_bytes!("../../web/dist/console.css"),
    ),
];

/// Routes `/` and the bundle's files; `dir` (when set) is read at each request instead.
pub fn router(dir: Option<PathBuf>) -> axum::Router {
    axum::Router::new()
        .route(
            "/",
            get(|state| file(state, Path("index.html".to_string()))),
        )
        .route("/{name}", get(file))
        .with_state(Arc::new(dir))
}

async fn file(State(dir): State<Arc<Option<PathBuf>>>, Path(name): Path<String>) -> Response {
    let Some((name, content_type, embedded)) = FILES.iter().find(|(n, _, _)| *n == name) else {
        return crate::transport::rest::not_found().into_response();
    };
    let body = match dir.as_ref() {
        Some(dir) => match tokio::fs::read(dir.join(name)).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, name, "console file unreadable");
                return StatusCode::NOT_FOUND.into_response();
            }
        },
        None => embedded.to_vec(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}
