//! Guard mode through the real proxy, with the interleavings driven
//! deterministically: the test upstream holds each response until the test
//! releases it, so completion order is chosen, not raced.

mod common;

use common::nextauth::*;
use cookieguard::policy::Mode;
use http::{Method, StatusCode};
use tokio::task::JoinHandle;

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
    let a = refresh_finishing_after_an_update(&s, &s).await;
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

/// A session created for a request that carried none is a sign-in on any
/// route: Auth.js v5 signs in with a server action, `POST <page>`.
#[tokio::test]
async fn a_session_created_for_a_request_without_one_is_a_sign_in_anywhere() {
    let s = setup(Mode::Guard).await;
    let page = done(send(
        &s,
        Method::POST,
        "/login",
        None,
        &[("x-respond-with", "FROM-ACTION"), ("next-action", "7f3a")],
    ))
    .await;
    assert_eq!(page.write, Write::Set("FROM-ACTION".into()));
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

/// A response that leaves the browser without a session is a sign-out and
/// passes, even from a request an update superseded: passing it can only
/// sign someone out, never leave them signed in.
#[tokio::test]
async fn deletes_pass_for_live_and_for_stale_sessions() {
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
    assert_eq!(stale.write, Write::Delete);
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
async fn after_a_sign_out_no_update_in_flight_signs_the_user_back_in() {
    after_a_sign_out_nothing_in_flight_signs_back_in(setup(Mode::Guard).await).await;
}

#[tokio::test]
async fn strip_mode_remembers_sign_outs_too() {
    after_a_sign_out_nothing_in_flight_signs_back_in(setup(Mode::Strip).await).await;
}

/// A slow update (its own route: authoritative) and a slow page that left
/// before an update the sign-out then ended: neither may set the session
/// once the user has signed out.
async fn after_a_sign_out_nothing_in_flight_signs_back_in(s: Setup) {
    let (release_u, release_a) = (s.gates.hold("U"), s.gates.hold("A"));
    let slow_update = update(&s, "V0", "V0-updated", Some("U"));
    let slow_page = refresh(&s, "V0", "V0a", Some("A"));
    arrived(&s, "U").await;
    arrived(&s, "A").await;
    assert_eq!(written(update(&s, "V0", "V1", None)).await, set("V1"));
    let out = done(send(
        &s,
        Method::POST,
        "/api/auth/signout",
        Some("V1"),
        &[("x-delete", "1")],
    ))
    .await;
    assert_eq!(out.write, Write::Delete);
    release_u.send(()).unwrap();
    let late_update = done(slow_update).await;
    assert_eq!(late_update.status, StatusCode::OK);
    assert_eq!(
        late_update.write,
        Write::Nothing,
        "the update would sign the user back in"
    );
    release_a.send(()).unwrap();
    assert_eq!(done(slow_page).await.write, Write::Nothing);
    // Signing in again works: the request carries no session.
    let again = done(send(
        &s,
        Method::POST,
        "/api/auth/callback/credentials",
        None,
        &[("x-respond-with", "V2")],
    ))
    .await;
    assert_eq!(again.write, Write::Set("V2".into()));
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

/// A server action's update (`POST <page>` with `Next-Action`: the
/// middleware's copy, then the action's write) is authoritative without an
/// allow rule; a slow ordinary action that left before it is stale.
#[tokio::test]
async fn an_update_by_server_action_supersedes_a_slow_action() {
    let s = setup(Mode::Guard).await;
    let release = s.gates.hold("slow");
    let slow = send(
        &s,
        Method::POST,
        "/account",
        Some("V0"),
        &[
            ("next-action", "slow"),
            ("x-respond-with", "V0-copy"),
            ("x-hold", "slow"),
        ],
    );
    arrived(&s, "slow").await;
    let update = done(send(
        &s,
        Method::POST,
        "/account",
        Some("V0"),
        &[
            ("next-action", "update"),
            ("x-duplicate-old", "V0-copy"),
            ("x-respond-with", "V1"),
        ],
    ))
    .await;
    assert_eq!(update.write, set("V1"));
    assert_eq!(
        update.session_lines, 1,
        "guard mode keeps the line the browser keeps"
    );
    release.send(()).unwrap();
    assert_eq!(done(slow).await.write, Write::Nothing);
}

/// A change from a request an update superseded (a `jwt` callback that
/// refreshed an OAuth token on a request that left before the update):
/// it passes, so nobody keeps a token the provider no longer accepts, and
/// it becomes the latest write: a later refresh from the update's session
/// is stale, so the browser's session does not flip back and forth.
#[tokio::test]
async fn a_change_from_a_superseded_request_passes_and_becomes_the_latest_write() {
    let s = setup(Mode::Guard).await;
    let (release_a, release_r) = (s.gates.hold("A"), s.gates.hold("R"));
    let a = send(
        &s,
        Method::POST,
        "/account",
        Some("V0"),
        &[
            ("next-action", "refresh-token"),
            ("x-duplicate-old", "V0-copy"),
            ("x-respond-with", "V0-with-new-token"),
            ("x-hold", "A"),
        ],
    );
    arrived(&s, "A").await;
    assert_eq!(written(update(&s, "V0", "V1", None)).await, set("V1"));
    let r = refresh(&s, "V1", "V1a", Some("R"));
    arrived(&s, "R").await;
    release_a.send(()).unwrap();
    assert_eq!(done(a).await.write, set("V0-with-new-token"));
    release_r.send(()).unwrap();
    assert_eq!(done(r).await.write, Write::Nothing);
    assert_eq!(
        written(refresh(&s, "V0-with-new-token", "V2a", None)).await,
        set("V2a")
    );
}
