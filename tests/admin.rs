//! The admin listener over real HTTP: health, readiness, metrics after known
//! traffic; and the `healthcheck` and `explain` commands of the real binary.

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;
use http::{Method, Request, Response, StatusCode};

const BIN: &str = env!("CARGO_BIN_EXE_cookieguard");

async fn get(url: String) -> (StatusCode, String) {
    let response = within("admin request", client().get(url.parse().unwrap()))
        .await
        .unwrap();
    let status = response.status();
    (status, body_text(response).await)
}

fn with_admin(mut config: cookieguard::config::Config) -> cookieguard::config::Config {
    config.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    config
}

async fn session_upstream() -> std::net::SocketAddr {
    start_upstream(|request| async move {
        if request.uri().path() == "/slow" {
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
        Response::builder()
            .header("set-cookie", "next-auth.session-token=SECRET; Path=/")
            .header("set-cookie", "theme=dark")
            .body(full("ok"))
            .unwrap()
    })
    .await
}

#[tokio::test]
async fn health_readiness_and_unknown_paths() {
    let proxy = start_proxy(with_admin(config_for(session_upstream().await))).await;
    let admin = proxy.admin.unwrap();
    assert_eq!(
        get(format!("http://{admin}/healthz")).await,
        (StatusCode::OK, "ok\n".into())
    );
    assert_eq!(
        get(format!("http://{admin}/readyz")).await,
        (StatusCode::OK, "ready\n".into())
    );
    let (status, body) = get(format!("http://{admin}/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, "not found: try /healthz, /readyz or /metrics\n");
}

#[tokio::test]
async fn readiness_fails_when_the_upstream_is_down() {
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = start_proxy(with_admin(config_for(closed))).await;
    let admin = proxy.admin.unwrap();
    assert_eq!(
        get(format!("http://{admin}/healthz")).await.0,
        StatusCode::OK
    );
    assert_eq!(
        get(format!("http://{admin}/readyz")).await,
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream unreachable\n".into()
        )
    );
}

#[tokio::test]
async fn readiness_fails_while_draining() {
    let mut proxy = start_proxy(with_admin(config_for(session_upstream().await))).await;
    let admin = proxy.admin.unwrap();
    let url = proxy.url("/slow");
    let in_flight = tokio::spawn(async move { client().get(url.parse().unwrap()).await.unwrap() });
    tokio::time::sleep(Duration::from_millis(100)).await;
    proxy.begin_shutdown();
    // Until the drain ends the admin listener still answers, out of rotation.
    let mut answer = get(format!("http://{admin}/readyz")).await;
    for _ in 0..50 {
        if answer.1 == "draining\n" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        answer = get(format!("http://{admin}/readyz")).await;
    }
    assert_eq!(
        answer,
        (StatusCode::SERVICE_UNAVAILABLE, "draining\n".into())
    );
    assert_eq!(
        within("in flight", in_flight).await.unwrap().status(),
        StatusCode::OK
    );
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn metrics_count_known_traffic() {
    let proxy = start_proxy(with_admin(config_for(session_upstream().await))).await;
    let admin = proxy.admin.unwrap();
    // The last request carries no session: the session the response
    // creates is a sign-in, which passes on any route.
    for (method, path, cookie) in [
        (Method::GET, "/", "next-auth.session-token=OLD"),
        (Method::GET, "/page", "next-auth.session-token=OLD"),
        (
            Method::POST,
            "/api/auth/session",
            "next-auth.session-token=OLD",
        ),
        (Method::CONNECT, "/", ""),
        (Method::GET, "/welcome", "theme=dark"),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(proxy.url(path))
            .header("cookie", cookie)
            .body(full(""))
            .unwrap();
        let response = within("request", client().request(request)).await.unwrap();
        body_text(response).await;
    }
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let broken = start_proxy(with_admin(config_for(closed))).await;
    let response = within("request", client().get(broken.url("/").parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);

    let (status, text) = get(format!("http://{admin}/metrics")).await;
    assert_eq!(status, StatusCode::OK);
    let expect = [
        ("cookieguard_requests_total{class=\"2xx\"}", 4.0),
        ("cookieguard_requests_total{class=\"4xx\"}", 1.0),
        ("cookieguard_requests_total{class=\"5xx\"}", 0.0),
        (
            "cookieguard_session_cookie_responses_total{action=\"stripped\",reason=\"route not allowed\",rule=\"\"}",
            2.0,
        ),
        (
            "cookieguard_session_cookie_responses_total{action=\"passed\",reason=\"allowed route\",rule=\"0\"}",
            1.0,
        ),
        (
            "cookieguard_session_cookie_responses_total{action=\"passed\",reason=\"sign-in\",rule=\"\"}",
            1.0,
        ),
        ("cookieguard_session_tokens_unreadable_total", 0.0),
        // Every session response above is Auth.js's.
        (
            "cookieguard_session_profile_responses_total{profile=\"authjs\"}",
            4.0,
        ),
        ("cookieguard_upstream_response_seconds_count", 4.0),
    ];
    for (series, value) in expect {
        assert_eq!(metric(&text, series), Some(value), "{series} in\n{text}");
    }
    assert!(
        text.contains("# TYPE cookieguard_active_connections gauge"),
        "{text}"
    );
    assert!(!text.contains("SECRET"));

    let (_, broken_text) = get(format!("http://{}/metrics", broken.admin.unwrap())).await;
    assert_eq!(
        metric(
            &broken_text,
            "cookieguard_upstream_errors_total{kind=\"connect\"}"
        ),
        Some(1.0),
        "{broken_text}"
    );
    assert_eq!(
        metric(&broken_text, "cookieguard_requests_total{class=\"5xx\"}"),
        Some(1.0)
    );
}

#[tokio::test]
async fn healthcheck_command_exit_codes() {
    let proxy = start_proxy(with_admin(config_for(session_upstream().await))).await;
    let admin = proxy.admin.unwrap().to_string();
    let healthy = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["healthcheck", "--admin-listen", &admin])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(healthy.status.code(), Some(0), "{healthy:?}");
    assert!(String::from_utf8_lossy(&healthy.stdout).starts_with("healthy: "));

    let nothing = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let down = tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(["healthcheck", "--admin-listen", &nothing])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&down.stderr)
            .starts_with("cookieguard: error: unhealthy: cannot connect to")
    );

    let unset = Command::new(BIN)
        .arg("healthcheck")
        .env_remove("COOKIEGUARD_ADMIN_LISTEN")
        .output()
        .unwrap();
    assert_eq!(unset.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&unset.stderr),
        "cookieguard: error: unhealthy: admin_listen is not set, so there is no /healthz to probe\n"
    );
}

#[test]
fn explain_command() {
    let output = Command::new(BIN)
        .args(["explain", "--method", "POST", "--path", "/api/auth/session"])
        .env_remove("COOKIEGUARD_CONFIG")
        .env_remove("COOKIEGUARD_MODE")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.starts_with("request: POST /api/auth/session\nmode: strip\n"),
        "{text}"
    );
    assert!(
        text.contains("allow rule #0 (authjs): POST /api/auth/session  -> MATCHES\n"),
        "{text}"
    );
    assert!(
        text.contains("\nprofiles: authjs (Auth.js / NextAuth), auth0 (@auth0/nextjs-auth0 v4), better-auth (Better Auth)\n"),
        "{text}"
    );

    let guard = Command::new(BIN)
        .args(["explain", "--mode", "guard", "--path", "/dashboard?x=1"])
        .env_remove("COOKIEGUARD_CONFIG")
        .output()
        .unwrap();
    let text = String::from_utf8(guard.stdout).unwrap();
    assert!(
        text.starts_with("request: GET /dashboard?x=1\nmode: guard\n"),
        "{text}"
    );
    assert!(
        text.contains("  * guard:  passes when the request's session is current"),
        "{text}"
    );

    let bad = Command::new(BIN)
        .args(["explain", "--path", "dashboard"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&bad.stderr),
        "cookieguard: error: `dashboard` is not a request path like /api/auth/session\n"
    );
}
