//! The Auth0 profile on session cookies minted by `@auth0/nextjs-auth0`'s own
//! `encrypt()` and `setChunkedCookie()` (`tests/fixtures/auth0/`): the tokens
//! open with `AUTH0_SECRET` and no other, the SDK's writes (a rolling write
//! with its five part deletions, a chunked write, a logout) are read as one
//! family, the decision tells an update from a roll with and without the
//! secret, and names other libraries share are left alone. Then the promise
//! that holds in every mode: after a logout, no response that left with the
//! signed-out session sets it again, however authoritative its route.

use std::path::Path;

use cookieguard::config::Config;
use cookieguard::config::resolve_moved_routes;
use cookieguard::config::secrets::resolve_profiles;
use cookieguard::guard::Decider;
use cookieguard::policy::{Authority, Change, Decision, Mode, Outcome, RequestFacts, StripReason};
use cookieguard::session::profile::auth0::Auth0;
use cookieguard::session::profile::{self, Profile as _};
use cookieguard::session::token::{DirGcmReader, Secret, TokenError, is_dir_gcm_jwe};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::Value;

const FIXTURES: &str = include_str!("fixtures/auth0/auth0.json");

struct Fixtures(Value);

impl Fixtures {
    fn load() -> Fixtures {
        Fixtures(serde_json::from_str(FIXTURES).unwrap())
    }

    fn secret(&self) -> &str {
        self.0["secret"].as_str().unwrap()
    }

    fn case(&self, id: &str) -> &Value {
        self.0["cases"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no case {id}"))
    }

    fn token(&self, id: &str) -> &str {
        self.case(id)["token"].as_str().unwrap()
    }

    fn write(&self, id: &str) -> Vec<String> {
        self.0["writes"][id]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_str().unwrap().to_owned())
            .collect()
    }
}

fn reader(secret: &str) -> DirGcmReader {
    DirGcmReader::new(&[Secret::new(secret)], b"", b"JWE CEK")
}

#[test]
fn the_sdks_tokens_open_with_its_secret_and_no_other() {
    let f = Fixtures::load();
    let right = reader(f.secret());
    let wrong = reader(f.0["wrong_secret"].as_str().unwrap());
    for case in f.0["cases"].as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let token = case["token"].as_bytes_of();
        assert!(is_dir_gcm_jwe(token), "{id}: recognised");
        let claims = right.read(token).unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(
            Value::Object(claims.into_map()),
            case["claims"],
            "{id}: the claims the SDK's decrypt() gave"
        );
        assert_eq!(wrong.read(token), Err(TokenError::NoSecretOpens), "{id}");
    }
    // The profile's own opener, as the configuration builds it.
    let opener = Auth0.opener(&[Secret::new(f.secret())], &["__session".to_owned()]);
    assert!(opener.open(0, f.token("signed-in").as_bytes()).is_ok());
}

#[test]
fn a_roll_changes_exp_only_an_update_and_a_token_refresh_change_claims() {
    let f = Fixtures::load();
    let r = reader(f.secret());
    let open = |id: &str| r.read(f.token(id).as_bytes()).unwrap();
    let volatile = Auth0.volatile_claims();
    let signed_in = open("signed-in");
    assert!(open("rolled").changed(&signed_in, volatile).is_empty());
    assert_ne!(open("rolled").exp(), signed_in.exp());
    assert_eq!(open("updated").changed(&signed_in, volatile), ["user"]);
    assert_eq!(
        open("token-refreshed").changed(&signed_in, volatile),
        ["tokenSet"]
    );
}

trait AsBytesOf {
    fn as_bytes_of(&self) -> &[u8];
}

impl AsBytesOf for Value {
    fn as_bytes_of(&self) -> &[u8] {
        self.as_str().unwrap().as_bytes()
    }
}

/// The default configuration (every shipped profile) in `mode`, with
/// `AUTH0_SECRET` in the environment or not.
fn decider(mode: Mode, secret: Option<&str>) -> Decider {
    decider_with(mode, secret, &[])
}

/// [`decider`] with more of the app's environment variables.
fn decider_with(mode: Mode, secret: Option<&str>, env: &[(&str, &str)]) -> Decider {
    let mut config = Config::from_toml(
        &format!("mode = \"{}\"\n", mode.as_str()),
        Path::new("auth0.toml"),
    )
    .unwrap();
    let profiles: Vec<_> = profile::SHIPPED.to_vec();
    config.session.secrets = resolve_profiles(None, None, &profiles, |name| {
        (name == "AUTH0_SECRET")
            .then(|| secret.map(str::to_owned))
            .flatten()
    })
    .unwrap();
    config.session.moved_routes = resolve_moved_routes(&profiles, |name| {
        env.iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    config.decider()
}

fn request(decider: &Decider, method: Method, path: &str, cookie: &str) -> RequestFacts {
    let mut headers = HeaderMap::new();
    if !cookie.is_empty() {
        headers.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
    }
    decider
        .policy
        .inspect(&method, &path.parse().unwrap(), &headers)
}

/// Other cookies around the session lines, to show they pass untouched.
fn response(lines: &[String]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.append(SET_COOKIE, HeaderValue::from_static("theme=dark; Path=/"));
    for line in lines {
        headers.append(SET_COOKIE, HeaderValue::from_str(line).unwrap());
    }
    headers.append(
        SET_COOKIE,
        HeaderValue::from_static("__txn_abc=t; Path=/; HttpOnly"),
    );
    headers
}

fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

fn decide(decider: &Decider, facts: &RequestFacts, headers: &mut HeaderMap) -> Decision {
    decider.decide_now(facts, StatusCode::OK, headers)
}

const OTHERS: [&str; 2] = ["theme=dark; Path=/", "__txn_abc=t; Path=/; HttpOnly"];

#[test]
fn a_rolling_write_is_one_family_stripped_whole_in_strip_mode_and_passed_in_guard_mode() {
    let f = Fixtures::load();
    let cookie = format!("__session={}; theme=dark", f.token("signed-in"));
    let rolling = f.write("rolling");
    assert_eq!(rolling.len(), 6, "__session and five part deletions");
    for secret in [Some(f.secret()), None] {
        let strip = decider(Mode::Strip, secret);
        let facts = request(&strip, Method::GET, "/dashboard", &cookie);
        let mut headers = response(&rolling);
        let decision = decide(&strip, &facts, &mut headers);
        assert_eq!(
            decision.outcome,
            Outcome::Stripped {
                cookies: 6,
                reason: StripReason::RouteNotAllowed
            },
            "secret {}",
            secret.is_some()
        );
        assert_eq!(set_cookies(&headers), OTHERS);

        let guard = decider(Mode::Guard, secret);
        let facts = request(&guard, Method::GET, "/dashboard", &cookie);
        let mut headers = response(&rolling);
        assert_eq!(
            decide(&guard, &facts, &mut headers).outcome,
            Outcome::Refreshed { cookies: 6 }
        );
        assert_eq!(set_cookies(&headers).len(), 8);
    }
}

#[test]
fn update_session_anywhere_is_a_change_with_the_secret_and_by_its_second_write_without() {
    let f = Fixtures::load();
    let cookie = format!("__session={}", f.token("signed-in"));
    let updated = format!(
        "__session={}; Path=/; Max-Age=86400; HttpOnly; SameSite=lax",
        f.token("updated")
    );
    // The route handler's write alone (a route the middleware does not cover).
    let alone = [updated.clone()];
    // The middleware's roll, then the handler's write: what Next.js sends.
    let mut after_roll = f.write("rolling");
    after_roll.push(updated);
    for mode in [Mode::Strip, Mode::Guard] {
        for lines in [&alone[..], &after_roll[..]] {
            // A fresh memory each time: the same update twice would be a
            // stale change the second time.
            let with_secret = decider(mode, Some(f.secret()));
            let facts = request(&with_secret, Method::POST, "/api/profile", &cookie);
            let mut headers = response(lines);
            let decision = decide(&with_secret, &facts, &mut headers);
            assert!(
                matches!(
                    decision.outcome,
                    Outcome::Allowed {
                        by: Authority::Change(Change::Claims),
                        ..
                    }
                ),
                "{mode:?}: {:?}",
                decision.outcome
            );
            assert_eq!(decision.changed_claims, ["user"]);
        }

        let without = decider(mode, None);
        let facts = request(&without, Method::POST, "/api/profile", &cookie);
        let mut headers = response(&after_roll);
        assert!(
            matches!(
                decide(&without, &facts, &mut headers).outcome,
                Outcome::Allowed {
                    by: Authority::Change(Change::SecondWrite),
                    ..
                }
            ),
            "{mode:?}"
        );
        // Guard mode sends the browser the last write of each name only.
        let sent = set_cookies(&headers);
        assert!(
            sent.iter()
                .any(|l| l.starts_with(&format!("__session={}", f.token("updated"))))
        );
    }
    // Without the secret, a lone write on a route the middleware does not
    // cover looks like any roll: strip mode removes it (docs/auth0.md).
    let strip = decider(Mode::Strip, None);
    let facts = request(&strip, Method::POST, "/api/profile", &cookie);
    let mut headers = response(&alone);
    assert!(matches!(
        decide(&strip, &facts, &mut headers).outcome,
        Outcome::Stripped { .. }
    ));
}

#[test]
fn a_chunked_write_joins_its_parts_and_a_logout_deletes_them_all() {
    let f = Fixtures::load();
    let cookie = format!("__session={}", f.token("signed-in"));
    let chunked = f.write("chunked");
    assert!(chunked[0].starts_with("__session__0="));
    let strip = decider(Mode::Strip, Some(f.secret()));
    let facts = request(&strip, Method::POST, "/api/profile", &cookie);
    let mut headers = response(&chunked);
    let decision = decide(&strip, &facts, &mut headers);
    assert_eq!(
        decision.outcome,
        Outcome::Allowed {
            by: Authority::Change(Change::Claims),
            cookies: chunked.len()
        }
    );
    assert_eq!(decision.changed_claims, ["user"]);
    assert_eq!(set_cookies(&headers).len(), chunked.len() + 2);

    // The chunked session, carried back in parts, rolled: stripped whole.
    let parts: Vec<String> = chunked
        .iter()
        .filter(|l| !l.contains("Max-Age=0"))
        .map(|l| l.split(';').next().unwrap().to_owned())
        .collect();
    assert_eq!(parts.len(), 3);
    let facts = request(&strip, Method::GET, "/dashboard", &parts.join("; "));
    let mut headers = response(&chunked);
    assert_eq!(
        decide(&strip, &facts, &mut headers).outcome,
        Outcome::Stripped {
            cookies: chunked.len(),
            reason: StripReason::RouteNotAllowed
        }
    );

    for (path, by) in [
        ("/auth/logout", None),
        ("/somewhere", Some(Authority::Change(Change::SignOut))),
    ] {
        let facts = request(&strip, Method::GET, path, &parts.join("; "));
        let mut headers = response(&f.write("logout"));
        let outcome = decide(&strip, &facts, &mut headers).outcome;
        match by {
            Some(by) => assert_eq!(outcome, Outcome::Allowed { by, cookies: 6 }),
            None => assert!(matches!(
                outcome,
                Outcome::Allowed {
                    by: Authority::Rule(_),
                    cookies: 6
                }
            )),
        }
        assert_eq!(set_cookies(&headers).len(), 8);
    }
}

#[test]
fn other_libraries_session_cookies_are_never_touched() {
    // Clerk's __session (a JWS) and React Router's (signed JSON): neither is
    // a dir + A256GCM JWE, so neither is Auth0's.
    let clerk = "eyJhbGciOiJSUzI1NiIsImtpZCI6Imluc18xIn0.eyJzdWIiOiJ1c2VyXzEifQ.c2ln";
    let react_router = "eyJ1c2VySWQiOiIxIn0%3D.dn0v2Z3bS1rZ2ZfZ1Zq3Q0K1y5F1mJxH8eQm2aL9pCk";
    assert!(!is_dir_gcm_jwe(clerk.as_bytes()));
    assert!(!is_dir_gcm_jwe(react_router.as_bytes()));
    for mode in [Mode::Strip, Mode::Guard] {
        let d = decider(mode, None);
        for value in [clerk, react_router] {
            let facts = request(&d, Method::GET, "/dashboard", &format!("__session={value}"));
            let line = format!("__session={value}x; Path=/; HttpOnly");
            let mut headers = response(std::slice::from_ref(&line));
            assert_eq!(
                decide(&d, &facts, &mut headers).outcome,
                Outcome::NoSessionCookie
            );
            assert_eq!(set_cookies(&headers)[1], line);
        }
    }
}

#[test]
fn after_a_logout_no_response_in_flight_sets_the_session_again_in_any_mode() {
    let f = Fixtures::load();
    let cookie = format!("__session={}", f.token("signed-in"));
    let refreshed = format!(
        "__session={}; Path=/; Max-Age=86400; HttpOnly; SameSite=lax",
        f.token("token-refreshed")
    );
    for mode in [Mode::Strip, Mode::Guard] {
        for secret in [Some(f.secret()), None] {
            let d = decider(mode, secret);
            let what = format!("{mode:?}, secret {}", secret.is_some());
            // A token refresh leaves with the session, the user logs out, the
            // refresh answers last: on the SDK's own route, it would pass.
            let slow = request(&d, Method::GET, "/auth/access-token", &cookie);
            let logout = request(&d, Method::GET, "/auth/logout", &cookie);
            let mut headers = response(&f.write("logout"));
            assert!(
                matches!(
                    decide(&d, &logout, &mut headers).outcome,
                    Outcome::Allowed { .. }
                ),
                "{what}"
            );
            let mut headers = response(std::slice::from_ref(&refreshed));
            assert_eq!(
                decide(&d, &slow, &mut headers).outcome,
                Outcome::Stripped {
                    cookies: 1,
                    reason: StripReason::SignedOut
                },
                "{what}"
            );
            assert_eq!(set_cookies(&headers), OTHERS, "{what}");
            // A roll in flight: stripped too.
            let roll = request(&d, Method::GET, "/dashboard", &cookie);
            let mut headers = response(&f.write("rolling"));
            assert!(
                matches!(
                    decide(&d, &roll, &mut headers).outcome,
                    Outcome::Stripped { .. }
                ),
                "{what}"
            );
            // Signing in again works.
            let sign_in = request(&d, Method::GET, "/auth/callback?code=x", "");
            let mut headers = response(&[format!(
                "__session={}; Path=/; Max-Age=86400; HttpOnly",
                f.token("updated")
            )]);
            assert!(
                matches!(
                    decide(&d, &sign_in, &mut headers).outcome,
                    Outcome::Allowed { .. }
                ),
                "{what}"
            );
        }
    }
}

#[test]
fn a_route_the_app_moved_with_the_sdks_variable_is_the_sdks_route() {
    let f = Fixtures::load();
    let cookie = format!("__session={}", f.token("signed-in"));
    let refreshed = [format!(
        "__session={}; Path=/; Max-Age=86400; HttpOnly; SameSite=lax",
        f.token("token-refreshed")
    )];
    // Without the secret a token refresh is one write, like a roll: only
    // the route tells it apart.
    for (env, stripped) in [
        (&[][..], true),
        (
            &[("NEXT_PUBLIC_ACCESS_TOKEN_ROUTE", "/api/token")][..],
            false,
        ),
    ] {
        let d = decider_with(Mode::Strip, None, env);
        let facts = request(&d, Method::GET, "/api/token", &cookie);
        let mut headers = response(&refreshed);
        let outcome = decide(&d, &facts, &mut headers).outcome;
        assert_eq!(
            matches!(outcome, Outcome::Stripped { .. }),
            stripped,
            "{env:?}: {outcome:?}"
        );
    }
}
