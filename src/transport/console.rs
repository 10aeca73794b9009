//! The agent console: a single page (`web/`, built with esbuild) that talks grpc-web to this
//! same port. Its bundle is embedded at compile time, so the binary needs no files beside it;
//! `--console-dir` serves a directory instead while the console is being worked on.
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::path::PathBuf;
use std::sync::Arc;

/// The bundle's files; the first is the page served at `/`.
const FILES: &[File] = &[
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

/// Routes `/` and each of the bundle's files by name; `dir` (when set) is read at each
/// request instead of the embedded bundle.
pub fn router(dir: Option<PathBuf>) -> axum::Router {
    let dir = Arc::new(dir);
    let mut router = axum::Router::new();
    for (path, entry) in std::iter::once(("/".to_string(), &FILES[0]))
        .chain(FILES.iter().map(|entry| (format!("/{}", entry.0), entry)))
    {
        let dir = dir.clone();
        router = router.route(&path, get(move || file(dir, entry)));
    }
    router
}

/// One file of the bundle: (name, content type, embedded bytes).
type File = (&'static str, &'static str, &'static [u8]);

async fn file(dir: Arc<Option<PathBuf>>, entry: &'static File) -> Response {
    let (name, content_type, embedded) = *entry;
    let body = match dir.as_ref() {
        Some(dir) => match tokio::fs::read(dir.join(name)).await {
            Ok(bytes) => bytes,
            Err(error) => {
                tracing::warn!(%error, name, "console file unreadable");
                return crate::transport::rest::not_found();
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
