//! Properties of the decision over generated headers and paths (proptest):
//! it never removes a cookie that is not a session cookie, never keeps a
//! session cookie on a route that is not allowed in strip mode, and never
//! panics, whatever bytes arrive.

use cookieguard::config::Config;
use cookieguard::policy::{Authority, Change, Mode, Outcome, Policy, normalise_path};
use cookieguard::session::profile::Profile as _;
use cookieguard::session::set_cookie_name;
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use proptest::prelude::*;

fn policy(mode: Mode) -> Policy {
    Config {
        mode,
        ..Config::default()
    }
    .policy()
}

/// Cookie names near the session names: exact, chunks, look-alikes, others.
fn cookie_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("next-auth.session-token".to_owned()),
        Just("__Secure-authjs.session-token".to_owned()),
        (0u32..20).prop_map(|i| format!("next-auth.session-token.{i}")),
        Just("next-auth.session-token-extra".to_owned()),
        Just("next-auth.csrf-token".to_owned()),
        Just("authjs.session-token.x".to_owned()),
        "[a-zA-Z0-9_.-]{0,30}",
    ]
}

/// `Set-Cookie` values: well-formed lines and arbitrary bytes.
fn set_cookie_line() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (
            cookie_name(),
            "[ -:<-~]{0,40}",
            "(; [A-Za-z-]{1,10}(=[ -:<-~]{0,20})?){0,4}"
        )
            .prop_map(
                |(name, value, attributes)| format!("{name}={value}{attributes}").into_bytes()
            ),
        proptest::collection::vec(any::<u8>(), 0..80),
    ]
}

fn headers(lines: &[Vec<u8>]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            map.append(SET_COOKIE, value);
        }
    }
    map
}

fn lines(map: &HeaderMap) -> Vec<Vec<u8>> {
    map.get_all(SET_COOKIE)
        .iter()
        .map(|v| v.as_bytes().to_vec())
        .collect()
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::POST),
        Just(Method::PUT),
        Just(Method::DELETE)
    ]
}

fn path() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("/api/auth/session".to_owned()),
        Just("/api/auth/callback/credentials".to_owned()),
        Just("/api/auth/signout".to_owned()),
        "(/(api|auth|session|callback|\\.|\\.\\.|%2e%2e|%2F|[a-z]{1,5})){0,6}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn never_removes_other_cookies_and_never_keeps_unallowed_session_cookies(
        input in proptest::collection::vec(set_cookie_line(), 0..8),
        method in method(),
        path in path(),
        status in 100u16..600,
    ) {
        let strip = policy(Mode::Strip);
        let mut map = headers(&input);
        let before = lines(&map);
        let Ok(uri) = path.parse::<Uri>() else { return Ok(()) };
        // A signed-in browser: a session under every default name, so no
        // write can be a sign-in.
        let mut request = HeaderMap::new();
        let cookie = cookieguard::session::profile::authjs::AuthJs.cookie_names().iter().map(|n| format!("{n}=REQ")).collect::<Vec<_>>().join("; ");
        request.insert(http::header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        let facts = strip.inspect(&method, &uri, &request);
        let status = StatusCode::from_u16(status).unwrap();
        let outcome = strip.apply(&facts, status, &mut map);
        let after = lines(&map);
        let is_session = |line: &Vec<u8>| strip.session.matches(set_cookie_name(line));

        // Other cookies: all kept, in order.
        let others_before: Vec<_> = before.iter().filter(|l| !is_session(l)).collect();
        let others_after: Vec<_> = after.iter().filter(|l| !is_session(l)).collect();
        prop_assert_eq!(others_before, others_after);

        // Allowed: a rule matched that speaks for these cookies (a rule of
        // the configuration, or Auth.js's own; another profile's own route,
        // Auth0's `/auth/callback` say, speaks for its cookies only).
        let speaks = facts.route.rule().is_some_and(|rule| {
            strip.allow_profiles.get(rule).copied().flatten().is_none_or(|owner| owner == 0)
        });
        let allowed = speaks && (status.is_success() || status.is_redirection());
        if allowed {
            prop_assert_eq!(&before, &after);
        } else if after.iter().any(is_session) {
            // Only a sign-out (the browser is left without a session) passes
            // outside the allowed routes here, and it passes whole.
            prop_assert_eq!(outcome, Outcome::Allowed { by: Authority::Change(Change::SignOut), cookies: before.iter().filter(|l| is_session(l)).count() });
            prop_assert_eq!(&before, &after);
        }
        if !before.iter().any(is_session) {
            prop_assert_eq!(outcome, Outcome::NoSessionCookie);
        }
    }

    #[test]
    fn guard_and_report_never_panic_and_report_removes_nothing(
        input in proptest::collection::vec(set_cookie_line(), 0..8),
        cookie in proptest::collection::vec(any::<u8>(), 0..120),
        method in method(),
        path in path(),
    ) {
        for mode in [Mode::Guard, Mode::Report] {
            let decider = Config { mode, ..Config::default() }.decider();
            let mut request = HeaderMap::new();
            if let Ok(value) = HeaderValue::from_bytes(&cookie) {
                request.insert(http::header::COOKIE, value);
            }
            let Ok(uri) = path.parse::<Uri>() else { return Ok(()) };
            let facts = decider.policy.inspect(&method, &uri, &request);
            let mut map = headers(&input);
            let before = lines(&map);
            decider.decide_now(&facts, StatusCode::OK, &mut map);
            if mode == Mode::Report {
                prop_assert_eq!(before, lines(&map));
            }
        }
    }

    #[test]
    fn normalised_paths_have_no_dot_segments(raw in "(/(\\.|\\.\\.|%2e|%2E|%2e%2e|[a-z%]{0,4})){0,8}") {
        let normalised = normalise_path(&raw);
        let text = String::from_utf8_lossy(&normalised);
        prop_assert!(text.starts_with('/') || raw.is_empty() || !raw.starts_with('/'), "{}", text);
        for segment in text.split('/') {
            prop_assert!(segment != "." && segment != "..", "{} -> {}", raw, text);
        }
    }
}
