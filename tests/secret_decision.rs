//! The decision with the app's secret, on tokens minted by the real next-auth
//! v4 and @auth/core (v5) packages (`tests/fixtures/tokens/`): the claims
//! decide between a change and a refresh, whatever the route or the shape.

use std::collections::HashMap;

use cookieguard::config::Config;
use cookieguard::policy::{
    Authority, Change, Decision, Mode, Outcome, Policy, RequestFacts, SessionReading, StripReason,
};
use cookieguard::session::profile::Profile as _;
use cookieguard::session::profile::authjs::AuthJs;
use cookieguard::session::token::{Secret, TokenReader};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, StatusCode};

const FIXTURES: &str = include_str!("fixtures/tokens/tokens.json");
const V4_SECRET: &str = "test-secret-v4-do-not-use";
const V5_SECRET: &str = "test-secret-v5-do-not-use";
const V5_OLD_SECRET: &str = "test-secret-v5-old-do-not-use";

fn tokens() -> HashMap<String, String> {
    let fixtures: serde_json::Value = serde_json::from_str(FIXTURES).unwrap();
    fixtures["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|case| {
            (
                case["id"].as_str().unwrap().to_owned(),
                case["token"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn policy(mode: Mode, secrets: &[&str]) -> Policy {
    let mut policy = Config {
        mode,
        ..Config::default()
    }
    .policy();
    let names: Vec<String> = AuthJs
        .cookie_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
    policy.reading = Some(SessionReading::new(
        TokenReader::new(&secrets, &names),
        vec!["iat".into(), "exp".into(), "jti".into()],
    ));
    policy
}

/// `name=token` request cookie, `POST` or `GET`, optionally a server action.
fn request(policy: &Policy, method: &str, cookie: &str, action: bool) -> RequestFacts {
    let mut headers = HeaderMap::new();
    headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    if action {
        headers.insert("next-action", HeaderValue::from_static("7f1c3e"));
    }
    policy.inspect(
        &method.parse().unwrap(),
        &"/account".parse().unwrap(),
        &headers,
    )
}

fn response(lines: &[String]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.append(SET_COOKIE, HeaderValue::from_static("theme=dark; Path=/"));
    for line in lines {
        headers.append(SET_COOKIE, HeaderValue::from_str(line).unwrap());
    }
    headers
}

fn line(name: &str, token: &str) -> String {
    format!("{name}={token}; Path=/; Expires=Tue, 21 Oct 2036 07:28:00 GMT; HttpOnly; SameSite=Lax")
}

/// Examines and finishes without guard memory, returning the claims too.
fn decide(
    policy: &Policy,
    facts: &RequestFacts,
    lines: &[String],
) -> (Outcome, Vec<String>, bool, usize) {
    let mut headers = response(lines);
    let examined = policy
        .examine(
            facts,
            StatusCode::OK,
            &mut headers,
            std::time::SystemTime::now(),
        )
        .unwrap();
    let claims = examined.changed_claims().to_vec();
    let unreadable = examined.token_unreadable();
    let outcome = policy.finish(examined, None, &mut headers);
    let kept = headers.get_all(SET_COOKIE).iter().count();
    (outcome, claims, unreadable, kept)
}

const V5: &str = "authjs.session-token";
const V4: &str = "next-auth.session-token";

#[test]
fn v5_same_claims_is_a_refresh_and_a_changed_claim_is_a_change() {
    let t = tokens();
    let p = policy(Mode::Strip, &[V5_SECRET]);
    let facts = request(&p, "GET", &format!("{V5}={}", t["v5-refresh-a"]), false);
    let (outcome, claims, unreadable, kept) = decide(&p, &facts, &[line(V5, &t["v5-refresh-b"])]);
    assert_eq!(
        outcome,
        Outcome::Stripped {
            cookies: 1,
            reason: StripReason::RouteNotAllowed
        }
    );
    assert!(claims.is_empty() && !unreadable);
    assert_eq!(kept, 1, "only theme=dark is left");

    let (outcome, claims, _, kept) = decide(&p, &facts, &[line(V5, &t["v5-role-changed"])]);
    assert_eq!(
        outcome,
        Outcome::Allowed {
            by: Authority::Change(Change::Claims),
            cookies: 1
        }
    );
    assert_eq!(claims, ["role"]);
    assert_eq!(kept, 2);
}

#[test]
fn v5_update_action_without_middleware_is_a_change_with_the_secret() {
    // One session line, like any refresh: only the claims tell.
    let t = tokens();
    let p = policy(Mode::Strip, &[V5_SECRET]);
    let facts = request(&p, "POST", &format!("{V5}={}", t["v5-refresh-a"]), true);
    let (outcome, claims, _, _) = decide(&p, &facts, &[line(V5, &t["v5-role-changed"])]);
    assert_eq!(
        outcome,
        Outcome::Allowed {
            by: Authority::Change(Change::Claims),
            cookies: 1
        }
    );
    assert_eq!(claims, ["role"]);
}

#[test]
fn with_the_secret_the_claims_win_over_the_shape() {
    // Two different values from a server action, but the browser ends with
    // the request's claims: a refresh (an auth()-wrapped action, say).
    let t = tokens();
    let p = policy(Mode::Strip, &[V5_SECRET]);
    let facts = request(&p, "POST", &format!("{V5}={}", t["v5-refresh-a"]), true);
    let lines = [
        line(V5, &t["v5-role-changed"]),
        line(V5, &t["v5-refresh-b"]),
    ];
    let (outcome, _, unreadable, _) = decide(&p, &facts, &lines);
    assert_eq!(
        outcome,
        Outcome::Stripped {
            cookies: 2,
            reason: StripReason::RouteNotAllowed
        }
    );
    assert!(!unreadable);
}

#[test]
fn v4_custom_update_route_is_a_change_with_the_secret_and_a_refresh_without() {
    // Seed 002: a custom route deletes the cookie, encodes a new token and
    // sets it; no Next-Action, no allow rule.
    let t = tokens();
    let lines = [
        format!("{V4}=; Max-Age=0; Path=/"),
        line(V4, &t["v4-prefs-changed"]),
    ];
    let cookie = format!("{V4}={}", t["v4-refresh-a"]);
    let with = policy(Mode::Strip, &[V4_SECRET]);
    let (outcome, claims, _, _) = decide(&with, &request(&with, "POST", &cookie, false), &lines);
    assert_eq!(
        outcome,
        Outcome::Allowed {
            by: Authority::Change(Change::Claims),
            cookies: 2
        }
    );
    assert_eq!(claims, ["prefs"]);

    let mut without = with;
    without.reading = None;
    let facts = request(&without, "POST", &cookie, false);
    let (outcome, _, _, _) = decide(&without, &facts, &lines);
    assert_eq!(
        outcome,
        Outcome::Stripped {
            cookies: 2,
            reason: StripReason::RouteNotAllowed
        },
        "the documented limit of the secret-less rules"
    );
}

#[test]
fn rotated_secrets_open_old_tokens() {
    let t = tokens();
    let p = policy(Mode::Strip, &[V5_SECRET, V5_OLD_SECRET]);
    let facts = request(
        &p,
        "GET",
        &format!("{V5}={}", t["v5-rotated-old-secret"]),
        false,
    );
    let (outcome, _, unreadable, _) = decide(&p, &facts, &[line(V5, &t["v5-refresh-a"])]);
    assert!(!unreadable);
    assert!(
        matches!(outcome, Outcome::Stripped { .. } | Outcome::Allowed { .. }),
        "{outcome:?}"
    );
    // Only the new secret: the old token is unreadable, the shape decides.
    let p = policy(Mode::Strip, &[V5_SECRET]);
    let facts = request(
        &p,
        "GET",
        &format!("{V5}={}", t["v5-rotated-old-secret"]),
        false,
    );
    let (outcome, _, unreadable, _) = decide(&p, &facts, &[line(V5, &t["v5-refresh-a"])]);
    assert!(unreadable);
    assert_eq!(
        outcome,
        Outcome::Stripped {
            cookies: 1,
            reason: StripReason::RouteNotAllowed
        }
    );
}

#[test]
fn a_wrong_secret_falls_back_to_the_shape_rules() {
    let t = tokens();
    let p = policy(Mode::Strip, &["test-secret-wrong-do-not-use"]);
    let cookie = format!("{V5}={}", t["v5-refresh-a"]);
    // Refresh shape: stripped, and the unreadable token is reported.
    let (outcome, _, unreadable, _) = decide(
        &p,
        &request(&p, "GET", &cookie, false),
        &[line(V5, &t["v5-refresh-b"])],
    );
    assert!(unreadable);
    assert!(matches!(outcome, Outcome::Stripped { .. }));
    // Server-action update shape: still passes.
    let lines = [
        line(V5, &t["v5-refresh-b"]),
        line(V5, &t["v5-role-changed"]),
    ];
    let (outcome, _, unreadable, _) = decide(&p, &request(&p, "POST", &cookie, true), &lines);
    assert!(unreadable);
    assert_eq!(
        outcome,
        Outcome::Allowed {
            by: Authority::Change(Change::ActionWrite),
            cookies: 2
        }
    );
}

#[test]
fn chunked_tokens_are_joined_before_reading() {
    let t = tokens();
    let big = &t["v5-large"];
    assert!(big.len() > 4000);
    let (first, second) = big.split_at(big.len() / 2);
    let p = policy(Mode::Strip, &[V5_SECRET]);
    let facts = request(
        &p,
        "GET",
        &format!("{V5}.1={second}; {V5}.0={first}"),
        false,
    );
    // The response rewrites the same token whole (and deletes the chunks):
    // identical claims, a refresh.
    let lines = [
        format!("{V5}.0=; Max-Age=0; Path=/"),
        format!("{V5}.1=; Max-Age=0; Path=/"),
        line(V5, big),
    ];
    let (outcome, _, unreadable, _) = decide(&p, &facts, &lines);
    assert!(!unreadable);
    assert_eq!(
        outcome,
        Outcome::Stripped {
            cookies: 3,
            reason: StripReason::RouteNotAllowed
        }
    );
    // Against a small token of other claims: a change.
    let facts = request(&p, "GET", &format!("{V5}={}", t["v5-role-changed"]), false);
    // NextAuth deletes the cookies the request carried, then writes chunks.
    let chunked = [
        format!("{V5}=; Max-Age=0; Path=/"),
        format!("{V5}.0={first}; Path=/"),
        format!("{V5}.1={second}; Path=/"),
    ];
    let (outcome, claims, unreadable, _) = decide(&p, &facts, &chunked);
    assert!(!unreadable);
    assert!(matches!(
        outcome,
        Outcome::Allowed {
            by: Authority::Change(Change::Claims),
            ..
        }
    ));
    assert!(!claims.is_empty());
}

/// Guard mode with the secret: a change by a custom route supersedes the
/// session a slow request carried.
#[test]
fn guard_mode_records_a_change_read_with_the_secret() {
    let t = tokens();
    let mut decider = Config {
        mode: Mode::Guard,
        ..Config::default()
    }
    .decider();
    decider.policy = policy(Mode::Guard, &[V5_SECRET]);
    let old = format!("{V5}={}", t["v5-refresh-a"]);
    let slow = request(&decider.policy, "GET", &old, false);
    let update = request(&decider.policy, "POST", &old, false);
    let mut headers = response(&[line(V5, &t["v5-role-changed"])]);
    let Decision {
        outcome,
        changed_claims,
        ..
    } = decider.decide_now(&update, StatusCode::OK, &mut headers);
    assert_eq!(
        outcome,
        Outcome::Allowed {
            by: Authority::Change(Change::Claims),
            cookies: 1
        }
    );
    assert_eq!(changed_claims, ["role"]);
    let mut headers = response(&[line(V5, &t["v5-refresh-b"])]);
    assert_eq!(
        decider
            .decide_now(&slow, StatusCode::OK, &mut headers)
            .outcome,
        Outcome::Stripped {
            cookies: 1,
            reason: StripReason::Stale
        }
    );
}

/// Guard mode with the secret: a cookie no secret opens (forged, or a wrong
/// secret) is never remembered, so a flood of forged sessions costs guard
/// memory nothing; its refresh is stripped (the safe side), and a sign-out
/// still passes.
#[test]
fn guard_mode_never_remembers_a_token_no_secret_opens() {
    let t = tokens();
    let mut decider = Config {
        mode: Mode::Guard,
        ..Config::default()
    }
    .decider();
    decider.policy = policy(Mode::Guard, &[V5_SECRET]);
    let remembered = |decider: &cookieguard::guard::Decider| match &*decider.store {
        cookieguard::guard::GuardStore::Memory(guard) => guard.lock().len(),
        _ => unreachable!("a memory store"),
    };
    for i in 0..1000 {
        let forged = format!("{V5}=eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..forged{i}.x.y");
        // The app deletes a cookie it cannot read: a sign-out, which passes.
        let facts = request(&decider.policy, "GET", &forged, false);
        let mut headers = response(&[format!("{V5}=; Max-Age=0; Path=/")]);
        let decision = decider.decide_now(&facts, StatusCode::OK, &mut headers);
        assert_eq!(
            decision.outcome,
            Outcome::Allowed {
                by: Authority::Change(Change::SignOut),
                cookies: 1
            }
        );
        assert!(decision.token_unreadable);
        // Written back as if it were a session: a refresh nobody can judge.
        let mut headers = response(&[line(V5, &format!("forged-copy-{i}"))]);
        let decision = decider.decide_now(&facts, StatusCode::OK, &mut headers);
        assert_eq!(
            decision.outcome,
            Outcome::Stripped {
                cookies: 1,
                reason: StripReason::UnreadableToken
            }
        );
    }
    assert_eq!(remembered(&decider), 0);
    // A real session is remembered as before.
    let facts = request(
        &decider.policy,
        "GET",
        &format!("{V5}={}", t["v5-refresh-a"]),
        false,
    );
    let mut headers = response(&[line(V5, &t["v5-refresh-b"])]);
    assert_eq!(
        decider
            .decide_now(&facts, StatusCode::OK, &mut headers)
            .outcome,
        Outcome::Refreshed { cookies: 1 }
    );
    assert_eq!(remembered(&decider), 2);
}
