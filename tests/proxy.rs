//! The proxy end to end: a real upstream, the real server, real clients.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use cookieguard::policy::Mode;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const SESSION: &str = "next-auth.session-token=SECRET-SESSION-VALUE; Path=/; Expires=Tue, 21 Oct 2036 07:28:00 GMT; HttpOnly; SameSite=Lax";
const THEME: &str = "theme=dark; Path=/";
const CSRF: &str = "next-auth.csrf-token=csrf123%7Chash; Path=/; HttpOnly; SameSite=Lax";

/// An upstream that sets three cookies around a session cookie, like NextAuth does.
async fn cookie_upstream() -> std::net::SocketAddr {
    start_upstream(|_request| async {
        Response::builder()
            .header("x-app", "1")
            .header("set-cookie", THEME)
            .header("set-cookie", SESSION)
            .header("set-cookie", CSRF)
            .body(full("hello"))
            .unwrap()
    })
    .await
}

/// The browser's session, so a session cookie in the response is a refresh
/// (a request without one would make it a sign-in, which always passes).
const REQUEST_SESSION: &str = "next-auth.session-token=OLD-SESSION; authjs.session-token=OLD; __Secure-authjs.session-token=OLD";

/// A request from a signed-in browser.
async fn send(method: Method, url: &str) -> Response<Incoming> {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .header("cookie", REQUEST_SESSION)
        .body(full(""))
        .unwrap();
    within("request", client().request(request)).await.unwrap()
}

#[tokio::test]
async fn strips_the_session_cookie_on_other_routes_and_keeps_everything_else() {
    let proxy = start_proxy(config_for(cookie_upstream().await)).await;
    for (method, path) in [
        (Method::GET, "/"),
        (Method::GET, "/api/auth/session"),
        (Method::POST, "/api/data?x=1"),
        (Method::POST, "/api/auth/session/../csrf"),
        (Method::GET, "/auth/session"),
        (Method::POST, "/auth/csrf"),
    ] {
        let response = send(method.clone(), &proxy.url(path)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            set_cookies(response.headers()),
            [THEME, CSRF],
            "{method} {path}"
        );
        assert_eq!(response.headers()["x-app"], "1");
        assert_eq!(body_text(response).await, "hello");
    }
}

#[tokio::test]
async fn passes_the_session_cookie_on_allowed_routes_in_order() {
    let proxy = start_proxy(config_for(cookie_upstream().await)).await;
    for (method, path) in [
        (Method::POST, "/api/auth/session"),
        (Method::GET, "/api/auth/callback/github?code=1"),
        (Method::POST, "/api/auth/callback/credentials"),
        (Method::POST, "/api/auth/signout"),
        // Auth.js on SvelteKit, Express, or Next with basePath "/auth": no
        // configuration needed.
        (Method::POST, "/auth/session"),
        (Method::POST, "/auth/callback/credentials"),
        (Method::POST, "/auth/signout"),
    ] {
        let response = send(method.clone(), &proxy.url(path)).await;
        assert_eq!(
            set_cookies(response.headers()),
            [THEME, SESSION, CSRF],
            "{method} {path}"
        );
        assert_eq!(body_text(response).await, "hello");
    }
}

#[tokio::test]
async fn report_mode_removes_nothing() {
    let mut config = config_for(cookie_upstream().await);
    config.mode = Mode::Report;
    let proxy = start_proxy(config).await;
    let response = send(Method::GET, &proxy.url("/")).await;
    assert_eq!(set_cookies(response.headers()), [THEME, SESSION, CSRF]);
}

#[tokio::test]
async fn error_answers_of_allowed_routes_cannot_set_the_session() {
    let upstream = start_upstream(|_| async {
        Response::builder()
            .status(400)
            .header("set-cookie", "authjs.session-token=OLD; Path=/")
            .header("set-cookie", THEME)
            .body(full("bad csrf"))
            .unwrap()
    })
    .await;
    let proxy = start_proxy(config_for(upstream)).await;
    let response = send(Method::POST, &proxy.url("/api/auth/session")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(set_cookies(response.headers()), [THEME]);
    assert_eq!(body_text(response).await, "bad csrf");
}

#[tokio::test]
async fn large_chunked_session_headers_pass_whole_or_go_whole() {
    let chunk = "A".repeat(3_933);
    let lines: Vec<String> = (0..9)
        .map(|i| format!("__Secure-authjs.session-token.{i}={chunk}; Path=/; Secure; HttpOnly"))
        .chain(["__Secure-authjs.session-token.9=; Max-Age=0; Path=/".to_owned()])
        .collect();
    let expected = lines.clone();
    let upstream = start_upstream(move |_| {
        let lines = lines.clone();
        async move {
            let mut response = Response::builder().header("set-cookie", THEME);
            for line in &lines {
                response = response.header("set-cookie", line.as_str());
            }
            response.body(full("ok")).unwrap()
        }
    })
    .await;
    let proxy = start_proxy(config_for(upstream)).await;

    let allowed = send(Method::POST, &proxy.url("/api/auth/session")).await;
    let mut want = vec![THEME];
    want.extend(expected.iter().map(String::as_str));
    assert_eq!(set_cookies(allowed.headers()), want);
    assert!(want.iter().map(|l| l.len()).sum::<usize>() > 32 * 1024);

    let other = send(Method::GET, &proxy.url("/dashboard")).await;
    assert_eq!(set_cookies(other.headers()), [THEME]);
}

#[tokio::test]
async fn forwards_host_and_forwarding_headers_and_drops_hop_by_hop() {
    let upstream = start_upstream(|request| async move {
        let mut seen: Vec<String> = request
            .headers()
            .iter()
            .map(|(name, value)| format!("{name}: {}", value.to_str().unwrap()))
            .collect();
        seen.sort();
        seen.insert(
            0,
            format!(
                "{} {} {:?}",
                request.method(),
                request.uri(),
                request.version()
            ),
        );
        Response::builder()
            .header("connection", "x-upstream-private")
            .header("x-upstream-private", "1")
            .header("keep-alive", "timeout=5")
            .body(full(seen.join("\n")))
            .unwrap()
    })
    .await;
    let proxy = start_proxy(config_for(upstream)).await;
    let request = Request::builder()
        .method(Method::POST)
        .uri(proxy.url("/api/x?a=1"))
        .header("host", "app.example.com")
        .header("connection", "x-private")
        .header("x-private", "secret")
        .header("proxy-authorization", "Basic eA==")
        .header("x-forwarded-for", "6.6.6.6")
        .header("x-forwarded-proto", "https")
        .header("te", "trailers")
        .body(full("body"))
        .unwrap();
    let response = within("request", client().request(request)).await.unwrap();
    assert!(!response.headers().contains_key("x-upstream-private"));
    assert!(!response.headers().contains_key("keep-alive"));
    assert_eq!(
        body_text(response).await,
        "POST /api/x?a=1 HTTP/1.1\n\
         content-length: 4\n\
         host: app.example.com\n\
         x-forwarded-for: 127.0.0.1\n\
         x-forwarded-host: app.example.com\n\
         x-forwarded-proto: http"
    );
}

#[tokio::test]
async fn http2_clients_get_a_host_header_from_the_authority() {
    let upstream = start_upstream(|request| async move {
        let host = request.headers().get_all("host").iter().count().to_string()
            + " "
            + request.headers()["host"].to_str().unwrap();
        Response::builder()
            .header("set-cookie", SESSION)
            .header("set-cookie", THEME)
            .body(full(host))
            .unwrap()
    })
    .await;
    let proxy = start_proxy(config_for(upstream)).await;
    let response = within(
        "h2 request",
        h2_client().request(
            Request::get(proxy.url("/page"))
                .header("cookie", REQUEST_SESSION)
                .body(full(""))
                .unwrap(),
        ),
    )
    .await
    .unwrap();
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(set_cookies(response.headers()), [THEME]);
    assert_eq!(body_text(response).await, format!("1 {}", proxy.addr));
}

/// Sends raw bytes and returns everything the proxy answers until it closes.
async fn raw_exchange(proxy: &ProxyHandle, request: &str) -> String {
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    within("raw answer", stream.read_to_end(&mut answer))
        .await
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn never_an_open_proxy() {
    let upstream = target_and_host_upstream().await;
    let proxy = start_proxy(config_for(upstream)).await;

    let absolute = raw_exchange(
        &proxy,
        "GET http://example.org/secret?q=1 HTTP/1.1\r\nHost: example.org\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(absolute.starts_with("HTTP/1.1 200 OK\r\n"), "{absolute}");
    assert!(
        absolute.ends_with("\r\n\r\n/secret?q=1 host=example.org"),
        "{absolute}"
    );

    let connect = raw_exchange(
        &proxy,
        "CONNECT example.org:443 HTTP/1.1\r\nHost: example.org:443\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        connect.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
        "{connect}"
    );
    assert!(connect.ends_with("CONNECT is not supported: cookieguard is a reverse proxy\n"));
}

#[tokio::test]
async fn http_1_0_upstream_answers_in_the_clients_version() {
    let upstream = start_raw_upstream(
        b"HTTP/1.0 200 OK\r\nSet-Cookie: authjs.session-token=OLD\r\nSet-Cookie: a=1\r\nContent-Length: 2\r\n\r\nok",
    )
    .await;
    let proxy = start_proxy(config_for(upstream)).await;
    let answer = raw_exchange(
        &proxy,
        &format!(
            "GET / HTTP/1.1\r\nHost: a\r\nCookie: {REQUEST_SESSION}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\r\nset-cookie: a=1\r\n"), "{answer}");
    assert!(!answer.contains("session-token"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nok"), "{answer}");
}

#[tokio::test]
async fn odd_set_cookie_bytes_from_the_upstream_pass_byte_for_byte() {
    let upstream = start_raw_upstream(
        b"HTTP/1.1 200 OK\r\nSet-Cookie: caf\xc3\xa9=\xff\xfe; Path=/\r\nSet-Cookie: ;;\r\nSet-Cookie: next-auth.session-token=\x80\r\nSet-Cookie: nameless\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    )
    .await;
    let proxy = start_proxy(config_for(upstream)).await;
    let response = send(Method::GET, &proxy.url("/")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookies: Vec<&[u8]> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.as_bytes())
        .collect();
    assert_eq!(
        cookies,
        [&b"caf\xc3\xa9=\xff\xfe; Path=/"[..], b";;", b"nameless"]
    );
    assert_eq!(body_text(response).await, "ok");
}

/// A deterministic byte pattern that a shifted or dropped chunk cannot match.
fn pattern_byte(index: u64) -> u8 {
    (index.wrapping_mul(2_654_435_761) >> 13) as u8
}

#[tokio::test]
async fn large_bodies_stream_byte_exact_both_ways() {
    const SIZE: u64 = 48 * 1024 * 1024;
    const CHUNK: u64 = 64 * 1024;
    // The upstream streams the request body straight back.
    let upstream =
        start_upstream(|request| async move { Response::new(request.into_body().boxed()) }).await;
    let proxy = start_proxy(config_for(upstream)).await;

    let chunks = futures_util::stream::iter((0..SIZE / CHUNK).map(|n| {
        let bytes: Vec<u8> = (n * CHUNK..(n + 1) * CHUNK).map(pattern_byte).collect();
        Ok::<_, hyper::Error>(Frame::data(Bytes::from(bytes)))
    }));
    let request = Request::builder()
        .method(Method::PUT)
        .uri(proxy.url("/upload"))
        .body(BodyExt::boxed(StreamBody::new(chunks)))
        .unwrap();
    let response = within("echo", client().request(request)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let mut body = response.into_body();
    let mut offset = 0u64;
    while let Some(frame) = within("body frame", body.frame()).await {
        let frame = frame.unwrap();
        let Some(data) = frame.data_ref() else {
            continue;
        };
        for (i, byte) in data.iter().enumerate() {
            assert_eq!(
                *byte,
                pattern_byte(offset + i as u64),
                "byte {}",
                offset + i as u64
            );
        }
        offset += data.len() as u64;
    }
    assert_eq!(offset, SIZE);
}

#[tokio::test]
async fn websocket_echo_through_the_proxy() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut socket = tokio_tungstenite::accept_async(stream).await.unwrap();
                while let Some(Ok(message)) = socket.next().await {
                    if message.is_text() || message.is_binary() {
                        socket.send(message).await.unwrap();
                    }
                }
            });
        }
    });
    let proxy = start_proxy(config_for(upstream)).await;

    let stream = TcpStream::connect(proxy.addr).await.unwrap();
    let url = format!("ws://{}/_next/webpack-hmr", proxy.addr);
    let (mut socket, response) = within(
        "websocket handshake",
        tokio_tungstenite::client_async(url, stream),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    for text in ["hello", "second message", &"x".repeat(100_000)] {
        socket.send(text.into()).await.unwrap();
        let echo = within("echo", socket.next()).await.unwrap().unwrap();
        assert_eq!(echo.into_text().unwrap().as_str(), text);
    }
    socket.close(None).await.unwrap();
}

#[tokio::test]
async fn websocket_upgrade_with_firefox_connection_header() {
    let upstream = start_upstream(|mut request| async move {
        let upgraded = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            let mut io = hyper_util::rt::TokioIo::new(upgraded.await.unwrap());
            let mut buffer = [0u8; 5];
            io.read_exact(&mut buffer).await.unwrap();
            io.write_all(&buffer).await.unwrap();
        });
        Response::builder()
            .status(101)
            .header("connection", "upgrade")
            .header("upgrade", "websocket")
            .body(full(""))
            .unwrap()
    })
    .await;
    let proxy = start_proxy(config_for(upstream)).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream
        .write_all(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        within("101 head", stream.read_exact(&mut byte))
            .await
            .unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    stream.write_all(b"ping!").await.unwrap();
    let mut echo = [0u8; 5];
    within("echo", stream.read_exact(&mut echo)).await.unwrap();
    assert_eq!(&echo, b"ping!");
}

#[tokio::test]
async fn unreachable_upstream_is_a_502_and_the_proxy_keeps_serving() {
    // A port that was just free: nothing listens there.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let proxy = start_proxy(config_for(closed)).await;
    for _ in 0..2 {
        let response = send(Method::GET, &proxy.url("/")).await;
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            body_text(response).await,
            "502 Bad Gateway: upstream unreachable\n"
        );
    }
}

#[tokio::test]
async fn slow_upstream_is_a_504() {
    let upstream = start_upstream(|_| async {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Response::new(full("late"))
    })
    .await;
    let mut config = config_for(upstream);
    config.timeouts.response = Duration::from_millis(200);
    let proxy = start_proxy(config).await;
    let response = send(Method::GET, &proxy.url("/")).await;
    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        body_text(response).await,
        "504 Gateway Timeout: upstream did not answer in time\n"
    );
}

#[tokio::test]
async fn graceful_shutdown_finishes_the_request_in_flight() {
    let (started_tx, started_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let upstream = start_upstream(move |_| {
        let started = started_tx.clone();
        async move {
            let _ = started.send(());
            tokio::time::sleep(Duration::from_millis(500)).await;
            Response::builder()
                .header("set-cookie", SESSION)
                .body(full("finished"))
                .unwrap()
        }
    })
    .await;
    let mut proxy = start_proxy(config_for(upstream)).await;
    let url = proxy.url("/slow");
    let in_flight = tokio::spawn(async move { send(Method::GET, &url).await });
    let mut started_rx = started_rx;
    within("upstream start", started_rx.recv()).await.unwrap();

    proxy.begin_shutdown();
    let response = within("in-flight request", in_flight).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(set_cookies(response.headers()).is_empty());
    assert_eq!(body_text(response).await, "finished");
    within("server drain", &mut proxy.task).await.unwrap();
    assert!(
        TcpStream::connect(proxy.addr).await.is_err(),
        "still accepting after shutdown"
    );
}

#[tokio::test]
async fn upstream_connections_are_reused_across_requests_and_clients() {
    let (upstream, accepted) = start_counting_upstream(|request| async move {
        let status = match request.uri().path() {
            "/empty" => StatusCode::NO_CONTENT,
            _ => StatusCode::OK,
        };
        let body = if status == StatusCode::OK {
            "x".repeat(100_000)
        } else {
            String::new()
        };
        Response::builder().status(status).body(full(body)).unwrap()
    })
    .await;
    let proxy = start_proxy(config_for(upstream)).await;
    // One keep-alive client: bodies, an empty 204 and a HEAD, one after another.
    let keep_alive = client();
    for (method, path, status, length) in [
        (Method::GET, "/a", StatusCode::OK, 100_000),
        (Method::GET, "/empty", StatusCode::NO_CONTENT, 0),
        (Method::HEAD, "/a", StatusCode::OK, 0),
        (Method::GET, "/b", StatusCode::OK, 100_000),
    ] {
        let request = Request::builder()
            .method(method)
            .uri(proxy.url(path))
            .body(full(""))
            .unwrap();
        let response = keep_alive.request(request).await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(body_text(response).await.len(), length);
    }
    // New client connections, one after another, take the parked connection.
    for _ in 0..5 {
        let response = send(Method::GET, &proxy.url("/c")).await;
        assert_eq!(body_text(response).await.len(), 100_000);
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}
