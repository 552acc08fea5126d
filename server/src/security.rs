//! Browser-facing defences: which web pages may open a WebSocket to this server (the `Origin`
//! check), and the security headers every response carries.
//!
//! Tokens travel in the hello message and `Authorization` headers, never in cookies, so another
//! site cannot ride on a participant's session by itself. The origin check keeps pages of other
//! sites from opening sockets from a participant's browser at all (a script that holds a token
//! can still connect without a browser, and is checked by its token). With a public URL it also
//! stops DNS rebinding, which same-origin mode (comparing `Origin` with `Host`) cannot.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::Config;

/// Which `Origin`s may open a WebSocket.
#[derive(Debug, Clone)]
pub struct OriginPolicy {
    /// Allowed origins, normalized (`scheme://host[:port]`, lower case). Empty: same origin only.
    allowed: Vec<String>,
}

/// `scheme://host[:port]` of a URL or origin, lower case, without a path, a trailing slash or
/// the scheme's default port (`https://a:443` is `https://a`, as browsers write it).
fn origin_of(url: &str) -> Option<String> {
    let url = url.trim().to_ascii_lowercase();
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = match scheme {
        "https" | "wss" => host.strip_suffix(":443").unwrap_or(host),
        "http" | "ws" => host.strip_suffix(":80").unwrap_or(host),
        _ => host,
    };
    if scheme.is_empty() || host.is_empty() {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

/// The `Host` header as an origin's host part: lower case, without the default port of
/// `scheme`.
fn host_of(host: &str, scheme: &str) -> String {
    let host = host.to_ascii_lowercase();
    let default = if matches!(scheme, "https" | "wss") {
        ":443"
    } else {
        ":80"
    };
    host.strip_suffix(default)
        .map(str::to_owned)
        .unwrap_or(host)
}

impl OriginPolicy {
    /// Refuses a configuration whose origins do not parse, rather than falling back to
    /// same-origin mode without a word: `--allowed-origins` entries must be `http(s)://host[:port]`.
    pub fn check_config(config: &Config) -> Result<(), String> {
        for entry in config
            .public_url
            .iter()
            .chain(config.allowed_origins.iter())
        {
            let ok = origin_of(entry)
                .is_some_and(|o| o.starts_with("http://") || o.starts_with("https://"));
            if !ok {
                return Err(format!(
                    "{entry:?} is not an origin: write http://host[:port] or https://host[:port]"
                ));
            }
        }
        Ok(())
    }

    /// The public URL's origin plus every `--allowed-origins` entry.
    pub fn from_config(config: &Config) -> OriginPolicy {
        let allowed = config
            .public_url
            .iter()
            .chain(config.allowed_origins.iter())
            .filter_map(|u| origin_of(u))
            .collect();
        OriginPolicy { allowed }
    }

    /// Whether a WebSocket upgrade with these headers may proceed. No `Origin` (a client that is
    /// not a browser: the load generator, a script) passes; a browser's must be allowed, or, when
    /// nothing is configured, name the host the request was sent to (same origin).
    pub fn check(&self, headers: &HeaderMap) -> Result<(), String> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(());
        };
        let origin = origin.to_str().unwrap_or_default();
        let refused = || Err(format!("origin {origin:?} may not open a WebSocket here"));
        let Some(normalized) = origin_of(origin) else {
            // "null" (a sandboxed frame, a file) or garbage.
            return refused();
        };
        if !self.allowed.is_empty() {
            return if self.allowed.contains(&normalized) {
                Ok(())
            } else {
                refused()
            };
        }
        let Some((scheme, origin_host)) = normalized.split_once("://") else {
            return refused();
        };
        let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
        match host {
            Some(host) if host_of(host, scheme) == origin_host => Ok(()),
            _ => refused(),
        }
    }
}

/// Headers every response gets unless it set its own: no sniffing, no referrer, no framing, no
/// cross-origin embedding or opener, no powerful browser features; HSTS when the public URL is
/// HTTPS. Responses that are not the web client (the API, errors) also get a CSP that allows
/// nothing, and API answers (tokens, join codes) are never cached.
pub async fn headers(State(hsts): State<bool>, request: Request, next: Next) -> Response {
    let api = request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    if api && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let defaults: [(HeaderName, &'static str); 7] = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'",
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("cross-origin-resource-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
        ),
    ];
    for (name, value) in defaults {
        if !h.contains_key(&name) {
            h.insert(name, HeaderValue::from_static(value));
        }
    }
    if hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn same_origin_by_default() {
        let p = OriginPolicy { allowed: vec![] };
        assert!(p.check(&headers(None, "a.example:8080")).is_ok());
        assert!(p
            .check(&headers(Some("http://a.example:8080"), "a.example:8080"))
            .is_ok());
        assert!(p
            .check(&headers(Some("https://A.Example:8080"), "a.example:8080"))
            .is_ok());
        assert!(p
            .check(&headers(Some("http://evil.example"), "a.example:8080"))
            .is_err());
        assert!(p
            .check(&headers(Some("http://a.example:9090"), "a.example:8080"))
            .is_err());
        assert!(p.check(&headers(Some("null"), "a.example:8080")).is_err());
        // Default ports are implied on either side.
        assert!(p
            .check(&headers(Some("https://a.example"), "a.example:443"))
            .is_ok());
        assert!(p
            .check(&headers(Some("http://a.example"), "a.example"))
            .is_ok());
    }

    #[test]
    fn origins_that_do_not_parse_stop_the_server() {
        let mut config = Config::for_tests("/nonexistent");
        config.allowed_origins = vec!["https://ok.example:8443".into()];
        assert!(OriginPolicy::check_config(&config).is_ok());
        for bad in [
            "plenary.example",
            "wss://plenary.example",
            "*.example",
            "https://",
        ] {
            config.allowed_origins = vec![bad.into()];
            assert!(OriginPolicy::check_config(&config).is_err(), "{bad}");
        }
        config.allowed_origins = vec![];
        config.public_url = Some("plenary.example".into());
        assert!(OriginPolicy::check_config(&config).is_err());
    }

    #[test]
    fn configured_origins_only() {
        let p = OriginPolicy {
            allowed: vec![origin_of("https://plenary.example/app/").unwrap()],
        };
        assert!(p
            .check(&headers(Some("https://plenary.example"), "internal:8080"))
            .is_ok());
        assert!(p
            .check(&headers(Some("http://plenary.example"), "plenary.example"))
            .is_err());
        assert!(p
            .check(&headers(Some("http://internal:8080"), "internal:8080"))
            .is_err());
        let explicit = OriginPolicy {
            allowed: vec![origin_of("https://plenary.example:443").unwrap()],
        };
        assert!(explicit
            .check(&headers(Some("https://plenary.example"), "x"))
            .is_ok());
    }
}
