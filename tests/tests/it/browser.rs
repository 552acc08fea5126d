//! Browser-facing checks through the real server: the WebSocket upgrade checks `Origin` (same
//! origin by default; the public URL and an allow-list when configured; no `Origin` for clients
//! that are not browsers), every response carries the security headers, and invite links keep
//! their join code in the fragment, which browsers never send to a server.

use plenary_tests::{Client, TestServer};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error as WsError;

/// Opens a WebSocket with `origin` (if any) and returns the HTTP status of the upgrade.
async fn upgrade_status(server: &TestServer, origin: Option<&str>) -> u16 {
    let mut request = server.ws_url().into_client_request().unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(WsError::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("upgrade failed without an HTTP answer: {e}"),
    }
}

/// The security headers every response must carry, whatever its route and status.
fn assert_security_headers(what: &str, headers: &reqwest::header::HeaderMap) {
    let get = |name: &str| {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{what}: no {name} header"))
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(get("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(get("referrer-policy"), "no-referrer", "{what}");
    assert_eq!(get("x-frame-options"), "DENY", "{what}");
    assert!(
        get("content-security-policy").contains("frame-ancestors 'none'"),
        "{what}"
    );
    assert_eq!(get("cross-origin-opener-policy"), "same-origin", "{what}");
    assert_eq!(get("cross-origin-resource-policy"), "same-origin", "{what}");
    assert!(get("permissions-policy").contains("camera=()"), "{what}");
}

#[tokio::test]
async fn websocket_upgrades_from_other_origins_are_refused() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let own = format!("http://{}", server.addr);
    assert_eq!(
        upgrade_status(&server, None).await,
        101,
        "no Origin: not a browser"
    );
    assert_eq!(
        upgrade_status(&server, Some(&own)).await,
        101,
        "same origin"
    );
    for evil in [
        "http://evil.example",
        "https://evil.example",
        "null",
        "http://127.0.0.1:1",
        "garbage",
    ] {
        assert_eq!(
            upgrade_status(&server, Some(evil)).await,
            403,
            "{evil} must not open a socket"
        );
    }
    // A refused upgrade changed nothing: a same-origin client still says hello and gets a view.
    let created = server.create_workshop("Origins").await?;
    let client = Client::connect(&server.ws_url(), &created.token).await?;
    assert_eq!(client.view.title, "Origins");
    Ok(())
}

#[tokio::test]
async fn configured_origins_replace_same_origin() -> anyhow::Result<()> {
    let server = TestServer::start_with(|c| {
        c.public_url = Some("https://plenary.example/".into());
        c.allowed_origins = vec!["https://co-trainer.example:8443".into()];
    })
    .await;
    let own = format!("http://{}", server.addr);
    assert_eq!(
        upgrade_status(&server, Some("https://plenary.example")).await,
        101
    );
    assert_eq!(
        upgrade_status(&server, Some("https://co-trainer.example:8443")).await,
        101
    );
    assert_eq!(
        upgrade_status(&server, Some("https://co-trainer.example")).await,
        403,
        "another port is another origin"
    );
    assert_eq!(
        upgrade_status(&server, Some("http://plenary.example")).await,
        403,
        "another scheme is another origin"
    );
    assert_eq!(
        upgrade_status(&server, Some(&own)).await,
        403,
        "configured origins replace the same-origin default"
    );
    assert_eq!(upgrade_status(&server, None).await, 101);
    // The public URL is HTTPS: every response tells browsers to stay on HTTPS.
    let res = reqwest::get(server.url("/healthz")).await?;
    assert_eq!(
        res.headers()
            .get("strict-transport-security")
            .map(|v| v.to_str().unwrap().to_owned()),
        Some("max-age=31536000".into())
    );
    // Invite links name the public URL and keep the code in the fragment.
    let res = reqwest::Client::new()
        .post(server.url("/api/workshops"))
        .json(&serde_json::json!({ "title": "Links", "facilitator_name": "Fran" }))
        .send()
        .await?;
    let body: serde_json::Value = res.json().await?;
    let link = body["join_link"].as_str().unwrap();
    assert_eq!(
        link,
        format!(
            "https://plenary.example/#join={}",
            body["join_code"].as_str().unwrap()
        )
    );
    Ok(())
}

#[tokio::test]
async fn every_response_carries_the_security_headers() -> anyhow::Result<()> {
    let server = TestServer::start().await;
    let http = reqwest::Client::new();
    let created = server.create_workshop("Headers").await?;
    let responses = vec![
        ("the page", http.get(server.url("/")).send().await?),
        (
            "a module",
            http.get(server.url("/js/main.js")).send().await?,
        ),
        (
            "a missing file",
            http.get(server.url("/nope.js")).send().await?,
        ),
        ("healthz", http.get(server.url("/healthz")).send().await?),
        (
            "a summary",
            http.get(server.url(&format!("/api/workshops/{}", created.workshop_id)))
                .bearer_auth(&created.token)
                .send()
                .await?,
        ),
        (
            "a refused summary",
            http.get(server.url(&format!("/api/workshops/{}", created.workshop_id)))
                .send()
                .await?,
        ),
        (
            "a bad join",
            http.post(server.url("/api/join"))
                .body("not json")
                .send()
                .await?,
        ),
        (
            "a refused upgrade",
            http.get(server.url("/ws"))
                .header("origin", "http://evil.example")
                .header("connection", "upgrade")
                .header("upgrade", "websocket")
                .header("sec-websocket-version", "13")
                .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
                .send()
                .await?,
        ),
    ];
    let mut statuses = Vec::new();
    for (what, res) in &responses {
        assert_security_headers(what, res.headers());
        assert!(
            res.headers().get("strict-transport-security").is_none(),
            "{what}: no HSTS without an HTTPS public URL"
        );
        statuses.push(res.status().as_u16());
    }
    assert_eq!(statuses, vec![200, 200, 404, 200, 200, 401, 415, 403]);
    // API answers carry tokens and codes: never cached.
    for i in [4, 5, 6] {
        assert_eq!(
            responses[i].1.headers()["cache-control"].to_str()?,
            "no-store",
            "{}",
            responses[i].0
        );
    }
    // The page keeps its own, stricter policy for scripts; the API allows nothing at all.
    let page_csp = responses[0].1.headers()["content-security-policy"].to_str()?;
    assert!(page_csp.contains("script-src 'self'"), "{page_csp}");
    let api_csp = responses[4].1.headers()["content-security-policy"].to_str()?;
    assert!(api_csp.starts_with("default-src 'none'"), "{api_csp}");
    // Invite links keep the code in the fragment, which no request carries.
    let res = http
        .post(server.url("/api/workshops"))
        .json(&serde_json::json!({ "title": "Links", "facilitator_name": "Fran" }))
        .send()
        .await?;
    let body: serde_json::Value = res.json().await?;
    assert!(
        body["join_link"].as_str().unwrap().contains("/#join="),
        "{body}"
    );
    assert!(body["observer_link"].as_str().unwrap().contains("/#join="));
    Ok(())
}
