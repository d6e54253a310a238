//! Access to the dashboard and JSON API of a real collector process, through a plain
//! HTTP/1.1 client: the token (header, or once in a page's URL for a cookie) and the
//! security headers on every answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::dashboard::{get, http, Dashboard, TOKEN};

#[tokio::test]
async fn access_needs_the_token_and_the_cookie_flow_works() {
    let d = Dashboard::start();
    let health = http(d.web, "GET", "/healthz", &[], "").await;
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    for target in ["/api/overview", "/metrics", "/metrics/detail"] {
        let r = http(d.web, "GET", target, &[], "").await;
        assert_eq!(r.status, 401, "{target}");
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
        assert!(r.body.starts_with("{\"error\":"), "{}", r.body);
    }
    let wrong = http(
        d.web,
        "GET",
        "/api/overview",
        &[("Authorization", "Bearer nope")],
        "",
    )
    .await;
    assert_eq!(wrong.status, 401);
    let page = http(d.web, "GET", "/gaps", &[], "").await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("the collector printed"), "{}", page.body);
    assert_eq!(
        http(d.web, "GET", "/?token=wrong", &[], "").await.status,
        401
    );

    let login = http(
        d.web,
        "GET",
        &format!("/gaps?severity=gap&token={TOKEN}"),
        &[],
        "",
    )
    .await;
    assert_eq!(login.status, 303);
    assert_eq!(login.header("location"), Some("/gaps?severity=gap"));
    let cookie = login.header("set-cookie").unwrap().to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    let pair = cookie.split(';').next().unwrap();
    let page = http(d.web, "GET", "/gaps?severity=gap", &[("Cookie", pair)], "").await;
    assert_eq!(page.status, 200, "{}", page.body);
    // The token in a URL is for pages only.
    let api = http(
        d.web,
        "GET",
        &format!("/api/overview?token={TOKEN}"),
        &[],
        "",
    )
    .await;
    assert_eq!(api.status, 401);
}

#[tokio::test]
async fn every_answer_has_the_security_headers() {
    let d = Dashboard::start();
    for (target, authed) in [
        ("/", true),
        ("/api/overview", true),
        ("/api/gaps", false),
        ("/nowhere", true),
    ] {
        let r = match authed {
            true => get(d.web, target).await,
            false => http(d.web, "GET", target, &[], "").await,
        };
        let csp = r.header("content-security-policy").unwrap_or_default();
        assert!(
            csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
            "{target}: {csp}"
        );
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{target}"
        );
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{target}");
        assert_eq!(r.header("referrer-policy"), Some("no-referrer"), "{target}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{target}");
    }
    let page = get(d.web, "/").await;
    let css = page
        .body
        .split("href=\"/assets/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let asset = http(d.web, "GET", &format!("/assets/{css}"), &[], "").await;
    assert_eq!(asset.status, 200);
    assert!(asset
        .header("cache-control")
        .unwrap()
        .contains("max-age=31536000"));
    assert!(!page.body.contains("<script>"), "no inline script");
}
