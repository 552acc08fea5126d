//! The web client, embedded in the binary so that one binary serves everything.

use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};

/// No inline script, no third-party origins.
pub const CSP: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

const INDEX: &str = include_str!("../../web-client/index.html");

/// `GET /`
pub async fn index() -> Response {
    let mut response = Html(INDEX).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
