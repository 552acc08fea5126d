//! The web client, embedded in the binary so that one binary serves everything.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use include_dir::{include_dir, Dir};

/// No inline script or style, no third-party origins.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Everything under `web-client/`, except test and tooling files (see [`servable`]).
static CLIENT: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/../web-client");

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Only the client itself is served: not its tests, node_modules, package files or docs.
fn servable(path: &str) -> bool {
    !path
        .split('/')
        .any(|part| part.starts_with('.') || part == "node_modules" || part == "test")
        && !path.starts_with("package")
        && !path.ends_with(".md")
}

fn file(path: &str) -> Response {
    let Some(file) = CLIENT.get_file(path).filter(|_| servable(path)) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut response = file.contents().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(path)),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// `GET /`
pub async fn index() -> Response {
    file("index.html")
}

/// `GET /{*path}`: the client's modules, styles and assets.
pub async fn asset(Path(path): Path<String>) -> Response {
    file(&path)
}
