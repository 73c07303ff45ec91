//! Keep-alive client connections: an idle one is parked (hyper's connection
//! and buffers released, the socket kept) and served again by a fresh one
//! when bytes arrive. Nothing may be lost or cut at the hand-over: bytes that
//! arrive while it parks, a request split across it, pipelined requests,
//! upgrades, smuggling shapes. `client_idle` and `client_header` each keep
//! their own job, and the drain closes parked connections at once.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::*;
use http::Response;
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Answers `<method> <path> body=<body>` for every request.
async fn echo_upstream() -> SocketAddr {
    start_upstream(|request| async move {
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let text = format!("{method} {path} body={}", String::from_utf8_lossy(&body));
        Response::new(full(text))
    })
    .await
}

fn with_admin(mut config: cookieguard::config::Config) -> cookieguard::config::Config {
    config.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    config
}

/// The proxy's `cookieguard_<name>` gauge.
async fn gauge(proxy: &ProxyHandle, name: &str) -> i64 {
    let url = format!("http://{}/metrics", proxy.admin.unwrap());
    let response = within("scrape", client().get(url.parse().unwrap()))
        .await
        .unwrap();
    let text = body_text(response).await;
    let series = format!("cookieguard_{name} ");
    text.lines()
        .find_map(|line| line.strip_prefix(&series))
        .unwrap_or_else(|| panic!("no {series} in the scrape:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// Waits (bounded) until `idle_connections` reads `expected`.
async fn until_idle(proxy: &ProxyHandle, expected: i64) {
    within("idle_connections", async {
        while gauge(proxy, "idle_connections").await != expected {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// Reads one response (head and `Content-Length` body) and returns it without
/// its `date` line, the only part that changes between runs.
async fn read_response(stream: &mut TcpStream) -> String {
    within("response", async {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |n| n.trim().parse().unwrap());
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).await.unwrap();
        without_date(&head) + &String::from_utf8(body).unwrap()
    })
    .await
}

fn without_date(text: &str) -> String {
    text.split_inclusive("\r\n")
        .filter(|line| !line.starts_with("date: "))
        .collect()
}

/// The answer of [`echo_upstream`] through the proxy, byte for byte.
fn ok(text: &str) -> String {
    format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{text}",
        text.len()
    )
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n")
}

/// Everything the proxy sends until it closes the connection.
async fn rest(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    within("close", stream.read_to_end(&mut answer))
        .await
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn an_idle_connection_is_parked_and_serves_its_next_request() {
    let proxy = start_proxy(with_admin(config_for(echo_upstream().await))).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    for round in 0..3 {
        stream
            .write_all(get(&format!("/{round}")).as_bytes())
            .await
            .unwrap();
        assert_eq!(
            read_response(&mut stream).await,
            ok(&format!("GET /{round} body="))
        );
        until_idle(&proxy, 1).await;
        assert_eq!(gauge(&proxy, "active_connections").await, 1);
    }
    drop(stream);
    until_idle(&proxy, 0).await;
    within("active_connections back to 0", async {
        while gauge(&proxy, "active_connections").await != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_request_split_across_parking_is_served_whole() {
    let proxy = start_proxy(with_admin(config_for(echo_upstream().await))).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(get("/first").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, ok("GET /first body="));
    until_idle(&proxy, 1).await;

    // The first bytes wake the parked connection; the rest follows later.
    stream.write_all(b"POST /second HT").await.unwrap();
    until_idle(&proxy, 0).await;
    stream
        .write_all(b"TP/1.1\r\nHost: a\r\nContent-")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    stream.write_all(b"Length: 5\r\n\r\nhel").await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    stream.write_all(b"lo").await.unwrap();
    assert_eq!(
        read_response(&mut stream).await,
        ok("POST /second body=hello")
    );
    until_idle(&proxy, 1).await;
}

#[tokio::test]
async fn bytes_read_ahead_when_a_connection_parks_are_served_next() {
    let proxy = start_proxy(with_admin(config_for(echo_upstream().await))).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    // Two whole requests and the start of a third in one write: hyper reads
    // all of it, answers two, and goes idle holding the third's first bytes.
    let batch = format!("{}{}GET /th", get("/one"), get("/two"));
    stream.write_all(batch.as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, ok("GET /one body="));
    assert_eq!(read_response(&mut stream).await, ok("GET /two body="));
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream
        .write_all(b"ree HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(read_response(&mut stream).await, ok("GET /three body="));
    until_idle(&proxy, 1).await;
}

#[tokio::test]
async fn pipelined_requests_are_answered_in_order_before_and_after_parking() {
    let proxy = start_proxy(with_admin(config_for(echo_upstream().await))).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    for round in 0..2 {
        let batch = format!(
            "{}POST /b{round} HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz{}",
            get(&format!("/a{round}")),
            get(&format!("/c{round}"))
        );
        stream.write_all(batch.as_bytes()).await.unwrap();
        assert_eq!(
            read_response(&mut stream).await,
            ok(&format!("GET /a{round} body="))
        );
        assert_eq!(
            read_response(&mut stream).await,
            ok(&format!("POST /b{round} body=xyz"))
        );
        assert_eq!(
            read_response(&mut stream).await,
            ok(&format!("GET /c{round} body="))
        );
        until_idle(&proxy, 1).await;
    }
}

#[tokio::test]
async fn requests_that_race_the_parking_are_never_lost() {
    // An idle connection is parked after 10 ms. Each request here follows
    // the previous answer after 0 to 14 ms, whole or in two writes, so its
    // bytes meet the connection at every point of going idle, parking and
    // being parked. All of them are answered, exactly once.
    let proxy = start_proxy(config_for(echo_upstream().await)).await;
    let mut connections = Vec::new();
    for client in 0..4u64 {
        let addr = proxy.addr;
        connections.push(tokio::spawn(async move {
            let mut stream = TcpStream::connect(addr).await.unwrap();
            for n in 0..60u64 {
                let pause = (n * 7 + client * 3) % 15;
                if pause > 0 {
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
                let request = get(&format!("/{client}/{n}"));
                if n % 2 == 0 {
                    stream.write_all(request.as_bytes()).await.unwrap();
                } else {
                    let (a, b) = request.split_at(7);
                    stream.write_all(a.as_bytes()).await.unwrap();
                    tokio::task::yield_now().await;
                    stream.write_all(b.as_bytes()).await.unwrap();
                }
                assert_eq!(
                    read_response(&mut stream).await,
                    ok(&format!("GET /{client}/{n} body="))
                );
            }
        }));
    }
    for connection in connections {
        within("client", connection).await.unwrap();
    }
}

#[tokio::test]
async fn client_idle_closes_a_connection_waiting_for_its_next_request() {
    let mut config = config_for(echo_upstream().await);
    config.timeouts.client_idle = Duration::from_millis(200);
    let proxy = start_proxy(config).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(get("/").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, ok("GET / body="));
    // Nothing more is sent: the proxy closes the connection, sending nothing.
    assert_eq!(rest(&mut stream).await, "");
}

#[tokio::test]
async fn client_header_does_not_limit_the_wait_between_requests() {
    let mut config = config_for(echo_upstream().await);
    config.timeouts.client_header = Duration::from_millis(200);
    let proxy = start_proxy(config).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(get("/a").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, ok("GET /a body="));
    // Idle for longer than client_header: still open (client_idle decides).
    tokio::time::sleep(Duration::from_millis(600)).await;
    stream.write_all(get("/b").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, ok("GET /b body="));
}

#[tokio::test]
async fn client_idle_does_not_limit_a_request_head_under_way() {
    let mut config = with_admin(config_for(echo_upstream().await));
    config.timeouts.client_idle = Duration::from_millis(200);
    config.timeouts.client_header = Duration::from_secs(30);
    let proxy = start_proxy(config).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(get("/a").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, ok("GET /a body="));
    until_idle(&proxy, 1).await;
    // The head starts within client_idle and takes longer than it to finish.
    stream.write_all(b"GET /b HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    stream.write_all(b"Host: a\r\n\r\n").await.unwrap();
    assert_eq!(read_response(&mut stream).await, ok("GET /b body="));
}

#[tokio::test]
async fn a_slow_head_on_a_reused_connection_is_cut_by_client_header() {
    let mut config = with_admin(config_for(echo_upstream().await));
    config.timeouts.client_header = Duration::from_millis(300);
    let proxy = start_proxy(config).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(get("/a").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, ok("GET /a body="));
    until_idle(&proxy, 1).await;
    // Slowloris on the second request: the head never ends.
    stream
        .write_all(b"GET /b HTTP/1.1\r\nHost: a\r\n")
        .await
        .unwrap();
    let answer = rest(&mut stream).await;
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 408"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn a_connection_that_never_sends_a_byte_is_closed_after_client_header() {
    let mut config = config_for(echo_upstream().await);
    config.timeouts.client_header = Duration::from_millis(200);
    let proxy = start_proxy(config).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    assert_eq!(rest(&mut stream).await, "");
}

#[tokio::test]
async fn smuggling_shapes_are_refused_on_a_reused_connection_too() {
    let proxy = start_proxy(with_admin(config_for(echo_upstream().await))).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(get("/a").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, ok("GET /a body="));
    until_idle(&proxy, 1).await;
    stream
        .write_all(
            b"POST /b HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .await
        .unwrap();
    let answer = without_date(&rest(&mut stream).await);
    // Refused, or framed by Transfer-Encoding alone and the connection closed.
    if !answer.starts_with("HTTP/1.1 400 Bad Request\r\n") {
        assert_eq!(
            answer,
            "HTTP/1.1 200 OK\r\ncontent-length: 16\r\nconnection: close\r\n\r\nPOST /b body=abc"
        );
    }

    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(get("/a").as_bytes()).await.unwrap();
    assert_eq!(read_response(&mut stream).await, ok("GET /a body="));
    until_idle(&proxy, 1).await;
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "x".repeat(1024 * 1024)
    );
    // The proxy may close before reading all of it.
    let _ = stream.write_all(huge.as_bytes()).await;
    let answer = rest(&mut stream).await;
    assert!(
        answer.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{answer:?}"
    );
}

#[tokio::test]
async fn an_upgrade_after_parking_works() {
    let upstream = start_upstream(|mut request| async move {
        if request.headers().get("upgrade").is_none() {
            return Response::new(full("plain"));
        }
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
    let proxy = start_proxy(with_admin(config_for(upstream))).await;
    let mut stream = TcpStream::connect(proxy.addr).await.unwrap();
    stream.write_all(get("/").as_bytes()).await.unwrap();
    assert_eq!(
        read_response(&mut stream).await,
        "HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nplain"
    );
    until_idle(&proxy, 1).await;
    stream
        .write_all(
            b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
        )
        .await
        .unwrap();
    assert_eq!(
        read_response(&mut stream).await,
        "HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n"
    );
    stream.write_all(b"ping!").await.unwrap();
    let mut echo = [0u8; 5];
    within("echo", stream.read_exact(&mut echo)).await.unwrap();
    assert_eq!(&echo, b"ping!");
}

#[tokio::test]
async fn the_drain_closes_parked_connections_at_once_and_finishes_busy_ones() {
    let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let (finish_tx, finish_rx) = tokio::sync::watch::channel(false);
    let upstream = start_upstream(move |request| {
        let started = started_tx.clone();
        let mut finish = finish_rx.clone();
        async move {
            if request.uri().path() == "/slow" {
                let _ = started.send(());
                let _ = finish.wait_for(|go| *go).await;
            }
            Response::new(full("done"))
        }
    })
    .await;
    let mut config = with_admin(config_for(upstream));
    // Longer than `within` waits: the drain must not wait for the grace.
    config.timeouts.shutdown_grace = Duration::from_secs(120);
    let mut proxy = start_proxy(config).await;

    let mut idle = TcpStream::connect(proxy.addr).await.unwrap();
    idle.write_all(get("/").as_bytes()).await.unwrap();
    assert_eq!(
        read_response(&mut idle).await,
        "HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ndone"
    );
    until_idle(&proxy, 1).await;
    let mut busy = TcpStream::connect(proxy.addr).await.unwrap();
    busy.write_all(get("/slow").as_bytes()).await.unwrap();
    within("slow request upstream", started_rx.recv())
        .await
        .unwrap();

    proxy.begin_shutdown();
    // The parked connection closes at once, without a byte.
    assert_eq!(rest(&mut idle).await, "");
    // The busy one finishes its exchange, then closes.
    finish_tx.send(true).unwrap();
    assert_eq!(
        without_date(&rest(&mut busy).await),
        "HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\ndone"
    );
    within("server drain", &mut proxy.task).await.unwrap();
}

#[tokio::test]
async fn http2_connections_are_served_and_drained() {
    let mut proxy = start_proxy(config_for(echo_upstream().await)).await;
    let client = h2_client();
    for n in 0..3 {
        let response = within(
            "h2 request",
            client.get(proxy.url(&format!("/h2/{n}")).parse().unwrap()),
        )
        .await
        .unwrap();
        assert_eq!(response.version(), http::Version::HTTP_2);
        assert_eq!(body_text(response).await, format!("GET /h2/{n} body="));
    }
    proxy.begin_shutdown();
    within("server drain", &mut proxy.task).await.unwrap();
}
