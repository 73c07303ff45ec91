//! The Better Auth profile on `Set-Cookie` lines a real `betterAuth()`
//! answered (`tests/fixtures/better-auth/`: email and password, the memory
//! adapter, the cookie cache on), for each cache strategy: the token and
//! the cache are read as one session with no secret, a cache filled for a
//! browser that held the token alone is no change, `update-user` is a change
//! wherever it lands, a stale cache is stripped, and a sign-out passes.

use std::path::Path;

use cookieguard::config::Config;
use cookieguard::config::secrets::resolve_profiles;
use cookieguard::guard::Decider;
use cookieguard::policy::{Authority, Change, Mode, Outcome, RequestFacts, StripReason};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

const FIXTURES: &str = include_str!("fixtures/better-auth/better-auth.json");

fn fixtures() -> Value {
    serde_json::from_str(FIXTURES).unwrap()
}

/// The exchange `id` of a strategy: the request's cookies and the lines.
fn exchange<'a>(strategy: &'a Value, id: &str) -> (&'a str, Vec<String>) {
    let e = strategy["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .unwrap_or_else(|| panic!("no exchange {id}"));
    (
        e["cookie"].as_str().unwrap(),
        e["set_cookie"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect(),
    )
}

/// The default configuration (every shipped profile, no secret) in `mode`.
fn decider(mode: Mode) -> Decider {
    decider_with(mode, None)
}

/// [`decider`] with `BETTER_AUTH_SECRET` in the environment, or not.
fn decider_with(mode: Mode, secret: Option<&str>) -> Decider {
    let mut config = Config::from_toml(
        &format!("mode = \"{}\"\n", mode.as_str()),
        Path::new("better-auth.toml"),
    )
    .unwrap();
    let profiles: Vec<_> = cookieguard::session::profile::SHIPPED.to_vec();
    config.session.secrets = resolve_profiles(None, None, &profiles, |name| {
        (name == "BETTER_AUTH_SECRET")
            .then(|| secret.map(str::to_owned))
            .flatten()
    })
    .unwrap();
    config.decider()
}

fn request(d: &Decider, method: Method, path: &str, cookie: &str) -> RequestFacts {
    let mut headers = HeaderMap::new();
    if !cookie.is_empty() {
        headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    }
    if path == "/settings" {
        headers.insert("next-action", HeaderValue::from_static("7f00"));
    }
    d.policy.inspect(&method, &path.parse().unwrap(), &headers)
}

fn decide(d: &Decider, facts: &RequestFacts, lines: &[String]) -> (Outcome, usize) {
    let mut headers = HeaderMap::new();
    headers.append(SET_COOKIE, HeaderValue::from_static("theme=dark; Path=/"));
    for line in lines {
        headers.append(SET_COOKIE, HeaderValue::from_str(line).unwrap());
    }
    let outcome = d.decide_now(facts, StatusCode::OK, &mut headers).outcome;
    (outcome, headers.get_all(SET_COOKIE).iter().count())
}

const STRATEGIES: [&str; 3] = ["compact", "jwt", "jwe"];

#[test]
fn sign_up_and_sign_out_pass_whole_in_every_mode() {
    let f = fixtures();
    for name in STRATEGIES {
        let s = &f["strategies"][name];
        for mode in [Mode::Strip, Mode::Guard] {
            let d = decider(mode);
            let (cookie, lines) = exchange(s, "sign-up");
            for path in ["/api/auth/sign-up/email", "/somewhere"] {
                let facts = request(&d, Method::POST, path, cookie);
                let (outcome, kept) = decide(&d, &facts, &lines);
                assert!(
                    matches!(outcome, Outcome::Allowed { cookies: 2, .. }),
                    "{name} {mode:?} {path}: {outcome:?}"
                );
                assert_eq!(kept, 3);
            }
            let (cookie, lines) = exchange(s, "sign-out");
            let facts = request(&d, Method::POST, "/elsewhere", cookie);
            let (outcome, kept) = decide(&d, &facts, &lines);
            assert_eq!(
                outcome,
                Outcome::Allowed {
                    by: Authority::Change(Change::SignOut),
                    cookies: 3
                },
                "{name} {mode:?}"
            );
            // Guard mode sends one of the two identical cache deletes;
            // dont_remember (no session cookie) passes in every mode.
            let expected = if mode == Mode::Guard {
                lines.len()
            } else {
                lines.len() + 1
            };
            assert_eq!(kept, expected, "{name} {mode:?}");
        }
    }
}

#[test]
fn a_cache_filled_for_the_token_alone_is_a_refresh() {
    let f = fixtures();
    for name in STRATEGIES {
        let s = &f["strategies"][name];
        let (cookie, lines) = exchange(s, "fill");
        assert!(!cookie.contains("session_data"));
        let strip = decider(Mode::Strip);
        let facts = request(&strip, Method::GET, "/api/auth/get-session", cookie);
        assert_eq!(
            decide(&strip, &facts, &lines),
            (
                Outcome::Stripped {
                    cookies: 1,
                    reason: StripReason::RouteNotAllowed
                },
                1
            ),
            "{name}"
        );
        let guard = decider(Mode::Guard);
        let facts = request(&guard, Method::GET, "/api/auth/get-session", cookie);
        assert_eq!(
            decide(&guard, &facts, &lines),
            (Outcome::Refreshed { cookies: 1 }, 2),
            "{name}"
        );
    }
}

#[test]
fn update_user_is_a_change_anywhere_when_the_cache_is_readable() {
    let f = fixtures();
    for name in STRATEGIES {
        let s = &f["strategies"][name];
        let (cookie, lines) = exchange(s, "update");
        let strip = decider(Mode::Strip);
        // Its own route, with no reading needed.
        let facts = request(&strip, Method::POST, "/api/auth/update-user", cookie);
        assert!(matches!(
            decide(&strip, &facts, &lines).0,
            Outcome::Allowed {
                by: Authority::Rule(_),
                ..
            }
        ));
        // The same write from a server action (nextCookies()): read without
        // the secret, its user differs. A jwe cache is sealed: without the
        // secret it looks like a refresh; with it, it opens. (A fresh memory
        // each time: the same update twice would be a stale change.)
        let secret = f["secret"].as_str().unwrap();
        for with_secret in [false, true] {
            let strip = decider_with(Mode::Strip, with_secret.then_some(secret));
            let facts = request(&strip, Method::POST, "/settings", cookie);
            let (outcome, _) = decide(&strip, &facts, &lines);
            if name == "jwe" && !with_secret {
                assert!(matches!(outcome, Outcome::Stripped { .. }), "{outcome:?}");
            } else {
                assert_eq!(
                    outcome,
                    Outcome::Allowed {
                        by: Authority::Change(Change::Claims),
                        cookies: 2
                    },
                    "{name}, secret {with_secret}"
                );
            }
        }
    }
}

#[test]
fn a_stale_cache_written_after_update_user_is_stripped_in_guard_mode() {
    let f = fixtures();
    for name in STRATEGIES {
        let s = &f["strategies"][name];
        let before = s["before_update"].as_str().unwrap();
        let (_, stale_lines) = exchange(s, "sign-up");
        let guard = decider(Mode::Guard);
        // A page leaves with the session before the update...
        let slow = request(&guard, Method::GET, "/api/auth/get-session", before);
        // ...the update lands...
        let (cookie, lines) = exchange(s, "update");
        let facts = request(&guard, Method::POST, "/api/auth/update-user", cookie);
        assert!(matches!(
            decide(&guard, &facts, &lines).0,
            Outcome::Allowed { .. }
        ));
        // ...and the page answers with the old session (its token and the
        // old cache, as sign-up wrote them): stale.
        let (outcome, kept) = decide(&guard, &slow, &stale_lines);
        assert_eq!(
            outcome,
            Outcome::Stripped {
                cookies: 2,
                reason: StripReason::Stale
            },
            "{name}"
        );
        assert_eq!(kept, 1);
    }
}

#[test]
fn a_jwe_cache_opens_with_the_secret_and_a_wrong_one_is_no_failed_request() {
    use cookieguard::session::profile::{Profile as _, better_auth::BetterAuth};
    use cookieguard::session::token::{Secret, TokenError};
    let f = fixtures();
    let s = &f["strategies"]["jwe"];
    let (_, lines) = exchange(s, "sign-up");
    let data = lines
        .iter()
        .find(|l| l.starts_with("better-auth.session_data="))
        .unwrap();
    let value = &data["better-auth.session_data=".len()..data.find(';').unwrap()];
    let compound = format!("2={value}\0");
    let names: Vec<String> = BetterAuth
        .cookie_names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let right = BetterAuth.opener(&[Secret::new(f["secret"].as_str().unwrap())], &names);
    let claims = right.open(0, compound.as_bytes()).unwrap();
    assert_eq!(claims.get("user").unwrap()["name"], "Ada");
    let wrong = BetterAuth.opener(&[Secret::new("not the app's")], &names);
    assert_eq!(
        wrong.open(0, compound.as_bytes()),
        Err(TokenError::NoSecretOpens)
    );
    let none = BetterAuth.opener(&[], &names);
    assert_eq!(
        none.open(0, compound.as_bytes()),
        Err(TokenError::NeedsSecret)
    );
}

#[test]
fn after_a_sign_out_a_request_that_carried_the_token_alone_cannot_set_it_again() {
    let f = fixtures();
    for name in STRATEGIES {
        let s = &f["strategies"][name];
        // The browser held the token alone (its cache had expired) when a
        // slow request left; then a cache filled in, then the user signed
        // out; the slow request answers last, with the token and a cache.
        let (token_only, _) = exchange(s, "fill");
        let (signed_in, sign_out) = exchange(s, "sign-out");
        let (_, stale) = exchange(s, "sign-up");
        for (mode, path) in [
            (Mode::Guard, "/api/auth/get-session"),
            (Mode::Strip, "/api/auth/update-user"),
        ] {
            let d = decider(mode);
            let slow = request(&d, Method::POST, path, token_only);
            let out = request(&d, Method::POST, "/api/auth/sign-out", signed_in);
            assert!(matches!(
                decide(&d, &out, &sign_out).0,
                Outcome::Allowed { .. }
            ));
            assert_eq!(
                decide(&d, &slow, &stale),
                (
                    Outcome::Stripped {
                        cookies: 2,
                        reason: StripReason::SignedOut
                    },
                    1
                ),
                "{name} {mode:?}"
            );
        }
    }
}
