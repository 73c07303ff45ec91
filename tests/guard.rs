//! Guard mode through the real proxy, with the interleavings driven
//! deterministically: the test upstream holds each response until the test
//! releases it, so completion order is chosen, not raced.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::*;
use cookieguard::decision::Mode;
use http::{Method, Request, Response, StatusCode};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const NAME: &str = "next-auth.session-token";

/// Responses the upstream holds until released, by the request's `x-hold` id.
#[derive(Clone, Default)]
struct Gates(Arc<Mutex<HashMap<String, oneshot::Receiver<()>>>>);

impl Gates {
    fn hold(&self, id: &str) -> oneshot::Sender<()> {
        let (release, wait) = oneshot::channel();
        self.0.lock().unwrap().insert(id.to_owned(), wait);
        release
    }

    fn take(&self, id: &str) -> Option<oneshot::Receiver<()>> {
        self.0.lock().unwrap().remove(id)
    }
}

/// An upstream that behaves like NextAuth as far as cookies go: it answers
/// with the session value the request asks for in `x-respond-with`.
async fn nextauth_like_upstream(gates: Gates) -> std::net::SocketAddr {
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

struct Setup {
    gates: Gates,
    proxy: ProxyHandle,
}

async fn setup(mode: Mode) -> Setup {
    let gates = Gates::default();
    let upstream = nextauth_like_upstream(gates.clone()).await;
    let mut config = config_for(upstream);
    config.mode = mode;
    Setup {
        gates,
        proxy: start_proxy(config).await,
    }
}

/// What a response did to the browser's session cookie: the last session line wins.
#[derive(Debug, PartialEq, Eq)]
enum Write {
    Nothing,
    Set(String),
    Delete,
}

struct Sent {
    status: StatusCode,
    write: Write,
    session_lines: usize,
    marker_seen: bool,
}

/// Sends a request carrying `holding` as the browser's session value.
fn send(
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
fn session_request(
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

fn refresh(s: &Setup, holding: &str, respond_with: &str, hold: Option<&str>) -> JoinHandle<Sent> {
    session_request(s, Method::GET, holding, respond_with, hold)
}

fn update(s: &Setup, holding: &str, respond_with: &str, hold: Option<&str>) -> JoinHandle<Sent> {
    session_request(s, Method::POST, holding, respond_with, hold)
}

async fn done(task: JoinHandle<Sent>) -> Sent {
    within("response", task).await.unwrap()
}

/// What the response did to the browser's session cookie.
async fn written(task: JoinHandle<Sent>) -> Write {
    done(task).await.write
}

fn set(value: &str) -> Write {
    Write::Set(value.to_owned())
}

/// The upstream has the request (it is waiting at its gate) once the gate is
/// gone from the map.
async fn arrived(setup: &Setup, id: &str) {
    within("request at upstream", async {
        while setup.gates.0.lock().unwrap().contains_key(id) {
            tokio::task::yield_now().await;
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_refresh_completing_before_the_update_passes() {
    let s = setup(Mode::Guard).await;
    assert_eq!(written(refresh(&s, "V0", "V0a", None)).await, set("V0a"));
    assert_eq!(written(update(&s, "V0a", "V1", None)).await, set("V1"));
    assert_eq!(written(refresh(&s, "V1", "V1a", None)).await, set("V1a"));
}

#[tokio::test]
async fn a_refresh_completing_after_the_update_is_stripped() {
    let s = setup(Mode::Guard).await;
    let release = s.gates.hold("A");
    let a = refresh(&s, "V0", "V0-stale", Some("A"));
    arrived(&s, "A").await;
    assert_eq!(written(update(&s, "V0", "V1", None)).await, set("V1"));
    release.send(()).unwrap();
    let a = done(a).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.write,
        Write::Nothing,
        "the stale refresh would revert the update"
    );
}

#[tokio::test]
async fn a_chain_of_refreshes_before_the_update_is_one_generation() {
    let s = setup(Mode::Guard).await;
    let release = s.gates.hold("A");
    let a = refresh(&s, "V0", "V0-from-A", Some("A"));
    arrived(&s, "A").await;
    assert_eq!(written(refresh(&s, "V0", "V0a", None)).await, set("V0a"));
    assert_eq!(written(update(&s, "V0a", "V1", None)).await, set("V1"));
    release.send(()).unwrap();
    assert_eq!(done(a).await.write, Write::Nothing);
}

#[tokio::test]
async fn two_concurrent_updates_both_pass_and_the_later_wins() {
    let s = setup(Mode::Guard).await;
    let (release_1, release_2, release_r) =
        (s.gates.hold("U1"), s.gates.hold("U2"), s.gates.hold("R"));
    let u1 = update(&s, "V0", "V1", Some("U1"));
    let u2 = update(&s, "V0", "V2", Some("U2"));
    arrived(&s, "U1").await;
    arrived(&s, "U2").await;
    release_1.send(()).unwrap();
    assert_eq!(done(u1).await.write, Write::Set("V1".into()));
    // The browser holds V1 for a moment; a request leaves with it.
    let r = refresh(&s, "V1", "V1a", Some("R"));
    arrived(&s, "R").await;
    release_2.send(()).unwrap();
    assert_eq!(done(u2).await.write, Write::Set("V2".into()));
    release_r.send(()).unwrap();
    assert_eq!(
        done(r).await.write,
        Write::Nothing,
        "V1's refresh would revert to V1"
    );
    assert_eq!(written(refresh(&s, "V2", "V2a", None)).await, set("V2a"));
}

#[tokio::test]
async fn a_lost_update_response_never_logs_the_user_out() {
    let s = setup(Mode::Guard).await;
    // The update reached the app, but the browser never saw its answer and still holds V0.
    let _lost = done(update(&s, "V0", "V1", None)).await;
    let after = done(refresh(&s, "V0", "V0a", None)).await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(
        after.write,
        Write::Nothing,
        "V0 stays in the browser: no delete, no revert"
    );
}

#[tokio::test]
async fn a_restarted_proxy_passes_refreshes_of_sessions_it_never_saw() {
    let first = setup(Mode::Guard).await;
    done(update(&first, "V0", "V1", None)).await;
    let restarted = setup(Mode::Guard).await;
    assert_eq!(
        written(refresh(&restarted, "V1", "V1a", None)).await,
        set("V1a")
    );
    assert_eq!(
        written(refresh(&restarted, "V0", "V0a", None)).await,
        set("V0a")
    );
}

#[tokio::test]
async fn refreshes_slide_in_guard_mode_and_are_stripped_in_strip_mode() {
    let guard = setup(Mode::Guard).await;
    let strip = setup(Mode::Strip).await;
    assert_eq!(
        written(refresh(&guard, "V0", "V0a", None)).await,
        set("V0a")
    );
    assert_eq!(
        done(refresh(&strip, "V0", "V0a", None)).await.write,
        Write::Nothing
    );
}

#[tokio::test]
async fn without_a_session_in_the_request_only_sign_in_sets_one() {
    let s = setup(Mode::Guard).await;
    let page = done(send(
        &s,
        Method::GET,
        "/",
        None,
        &[("x-respond-with", "NEW")],
    ))
    .await;
    assert_eq!(page.write, Write::Nothing);
    let sign_in = done(send(
        &s,
        Method::POST,
        "/api/auth/callback/credentials",
        None,
        &[("x-respond-with", "NEW")],
    ))
    .await;
    assert_eq!(sign_in.write, Write::Set("NEW".into()));
    assert_eq!(written(refresh(&s, "NEW", "NEWa", None)).await, set("NEWa"));
}

#[tokio::test]
async fn deletes_pass_for_live_sessions_and_not_for_stale_ones() {
    let s = setup(Mode::Guard).await;
    let live = done(send(
        &s,
        Method::GET,
        "/api/auth/session",
        Some("BROKEN"),
        &[("x-delete", "1")],
    ))
    .await;
    assert_eq!(live.write, Write::Delete);
    done(update(&s, "V0", "V1", None)).await;
    let stale = done(send(
        &s,
        Method::GET,
        "/api/auth/session",
        Some("V0"),
        &[("x-delete", "1")],
    ))
    .await;
    assert_eq!(stale.write, Write::Nothing);
}

#[tokio::test]
async fn sign_out_cannot_be_undone_by_a_request_that_left_before_it() {
    let s = setup(Mode::Guard).await;
    let release = s.gates.hold("A");
    let a = refresh(&s, "V0", "V0a", Some("A"));
    arrived(&s, "A").await;
    let out = done(send(
        &s,
        Method::POST,
        "/api/auth/signout",
        Some("V0"),
        &[("x-delete", "1")],
    ))
    .await;
    assert_eq!(out.write, Write::Delete);
    release.send(()).unwrap();
    assert_eq!(done(a).await.write, Write::Nothing);
}

#[tokio::test]
async fn the_update_header_makes_any_route_authoritative_and_never_reaches_the_client() {
    let s = setup(Mode::Guard).await;
    let release = s.gates.hold("A");
    let a = refresh(&s, "V0", "V0a", Some("A"));
    arrived(&s, "A").await;
    let custom = done(send(
        &s,
        Method::POST,
        "/api/account/switch-company",
        Some("V0"),
        &[("x-respond-with", "V1"), ("x-mark-update", "1")],
    ))
    .await;
    assert_eq!(custom.write, Write::Set("V1".into()));
    assert!(!custom.marker_seen);
    release.send(()).unwrap();
    assert_eq!(done(a).await.write, Write::Nothing);

    // Strip mode honours the marker too.
    let strip = setup(Mode::Strip).await;
    let marked = done(send(
        &strip,
        Method::GET,
        "/x",
        Some("V0"),
        &[("x-respond-with", "V1"), ("x-mark-update", "1")],
    ))
    .await;
    assert_eq!(marked.write, Write::Set("V1".into()));
    assert!(!marked.marker_seen);
}

#[tokio::test]
async fn duplicate_session_lines_collapse_to_the_last() {
    let s = setup(Mode::Guard).await;
    let answer = done(update_with_duplicate(&s)).await;
    assert_eq!(answer.write, Write::Set("NEW".into()));
    assert_eq!(answer.session_lines, 1);
    // The new value is current: its refresh passes.
    assert_eq!(written(refresh(&s, "NEW", "NEWa", None)).await, set("NEWa"));
}

fn update_with_duplicate(s: &Setup) -> JoinHandle<Sent> {
    send(
        s,
        Method::POST,
        "/api/auth/session",
        Some("OLD"),
        &[("x-duplicate-old", "OLD"), ("x-respond-with", "NEW")],
    )
}

#[tokio::test]
async fn report_mode_passes_everything() {
    let s = setup(Mode::Report).await;
    let release = s.gates.hold("A");
    let a = refresh(&s, "V0", "V0-stale", Some("A"));
    arrived(&s, "A").await;
    done(update(&s, "V0", "V1", None)).await;
    release.send(()).unwrap();
    assert_eq!(done(a).await.write, Write::Set("V0-stale".into()));
    let duplicate = done(update_with_duplicate(&s)).await;
    assert_eq!(duplicate.session_lines, 2);
}
