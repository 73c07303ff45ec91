//! A NextAuth-like upstream for guard-mode tests: it sets the session value
//! each request asks for, and holds responses at gates the test releases, so
//! completion order is chosen, not raced.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use cookieguard::config::Config;
use cookieguard::policy::Mode;
use http::{Method, Request, Response, StatusCode};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::*;

pub const NAME: &str = "next-auth.session-token";

/// Responses the upstream holds until released, by the request's `x-hold` id.
#[derive(Clone, Default)]
pub struct Gates(Arc<Mutex<HashMap<String, oneshot::Receiver<()>>>>);

impl Gates {
    pub fn hold(&self, id: &str) -> oneshot::Sender<()> {
        let (release, wait) = oneshot::channel();
        self.0.lock().unwrap().insert(id.to_owned(), wait);
        release
    }

    pub fn take(&self, id: &str) -> Option<oneshot::Receiver<()>> {
        self.0.lock().unwrap().remove(id)
    }
}

/// An upstream that behaves like NextAuth as far as cookies go: it answers
/// with the session value the request asks for in `x-respond-with`.
pub async fn nextauth_like_upstream(gates: Gates) -> std::net::SocketAddr {
    start_upstream(move |request| {
        let gates = gates.clone();
        async move {
            let header = |name: &str| request.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            if let Some(wait) = header("x-hold").and_then(|id| gates.take(&id)) {
                let _ = wait.await;
            }
            let mut response = Response::builder().header("set-cookie", "theme=dark; Path=/");
            if let Some(old) = header("x-duplicate-old") {
                response = response.header("set-cookie", format!("{NAME}={old}; Path=/; HttpOnly"));
            }
            if let Some(value) = header("x-respond-with") {
                response = response.header(
                    "set-cookie",
                    format!("{NAME}={value}; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT; HttpOnly; SameSite=Lax"),
                );
            }
            if header("x-delete").is_some() {
                response = response.header("set-cookie", format!("{NAME}=; Max-Age=0; Path=/"));
            }
            if header("x-mark-update").is_some() {
                response = response.header("x-cookieguard-update", "1");
            }
            response.body(full("ok")).unwrap()
        }
    })
    .await
}

/// A proxy in front of a NextAuth-like upstream whose responses the test
/// holds and releases. Several `Setup`s may share one upstream (replicas).
pub struct Setup {
    pub gates: Gates,
    pub proxy: ProxyHandle,
}

pub async fn setup(mode: Mode) -> Setup {
    setup_with(|config| config.mode = mode).await
}

pub async fn setup_with(configure: impl FnOnce(&mut Config)) -> Setup {
    let gates = Gates::default();
    let upstream = nextauth_like_upstream(gates.clone()).await;
    let mut config = config_for(upstream);
    configure(&mut config);
    Setup {
        gates,
        proxy: start_proxy(config).await,
    }
}

/// What a response did to the browser's session cookie: the last session line wins.
#[derive(Debug, PartialEq, Eq)]
pub enum Write {
    Nothing,
    Set(String),
    Delete,
}

pub struct Sent {
    pub status: StatusCode,
    pub write: Write,
    pub session_lines: usize,
    pub marker_seen: bool,
}

/// Sends a request carrying `holding` as the browser's session value.
pub fn send(
    setup: &Setup,
    method: Method,
    path: &str,
    holding: Option<&str>,
    headers: &[(&str, &str)],
) -> JoinHandle<Sent> {
    let mut request = Request::builder().method(method).uri(setup.proxy.url(path));
    if let Some(value) = holding {
        request = request.header("cookie", format!("theme=dark; {NAME}={value}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(full("")).unwrap();
    tokio::spawn(async move {
        let response = within("request", client().request(request)).await.unwrap();
        let status = response.status();
        let marker_seen = response.headers().contains_key("x-cookieguard-update");
        let lines: Vec<String> = set_cookies(response.headers())
            .into_iter()
            .filter(|line| line.starts_with(&format!("{NAME}=")))
            .map(str::to_owned)
            .collect();
        let write = match lines.last() {
            None => Write::Nothing,
            Some(line) if line.contains("Max-Age=0") => Write::Delete,
            Some(line) => Write::Set(line[NAME.len() + 1..line.find(';').unwrap()].to_owned()),
        };
        let body = body_text(response).await;
        assert_eq!(body, "ok");
        Sent {
            status,
            write,
            session_lines: lines.len(),
            marker_seen,
        }
    })
}

/// `GET /api/auth/session` (a refresh) or `POST` (an update) carrying
/// `holding`, answered with `respond_with`, optionally held at gate `hold`.
pub fn session_request(
    setup: &Setup,
    method: Method,
    holding: &str,
    respond_with: &str,
    hold: Option<&str>,
) -> JoinHandle<Sent> {
    let mut headers = vec![("x-respond-with", respond_with)];
    if let Some(id) = hold {
        headers.push(("x-hold", id));
    }
    send(setup, method, "/api/auth/session", Some(holding), &headers)
}

pub fn refresh(
    s: &Setup,
    holding: &str,
    respond_with: &str,
    hold: Option<&str>,
) -> JoinHandle<Sent> {
    session_request(s, Method::GET, holding, respond_with, hold)
}

pub fn update(
    s: &Setup,
    holding: &str,
    respond_with: &str,
    hold: Option<&str>,
) -> JoinHandle<Sent> {
    session_request(s, Method::POST, holding, respond_with, hold)
}

pub async fn done(task: JoinHandle<Sent>) -> Sent {
    within("response", task).await.unwrap()
}

/// What the response did to the browser's session cookie.
pub async fn written(task: JoinHandle<Sent>) -> Write {
    done(task).await.write
}

pub fn set(value: &str) -> Write {
    Write::Set(value.to_owned())
}

/// The upstream has the request (it is waiting at its gate) once the gate is
/// gone from the map.
pub async fn arrived(setup: &Setup, id: &str) {
    within("request at upstream", async {
        while setup.gates.0.lock().unwrap().contains_key(id) {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await;
}

/// The race cookieguard exists for: a refresh leaves through `refresh_via`
/// holding V0, an update V0 → V1 completes through `update_via`, then the
/// refresh answers with V0-stale. Returns what the refresh did.
pub async fn refresh_finishing_after_an_update(refresh_via: &Setup, update_via: &Setup) -> Sent {
    let release = refresh_via.gates.hold("late");
    let late = refresh(refresh_via, "V0", "V0-stale", Some("late"));
    arrived(refresh_via, "late").await;
    assert_eq!(
        written(update(update_via, "V0", "V1", None)).await,
        set("V1")
    );
    release.send(()).unwrap();
    done(late).await
}
