//! The behaviour every session profile must show, run for each shipped one
//! (as `object_store` runs one suite against every backend): valid names and
//! routes, chunks that join and look-alikes that do not, no panic on any
//! value, and the decision's promises through the real policy: a refresh on
//! another route is stripped, the profile's own routes, a sign-in and a
//! sign-out pass whole, and a cookie no profile knows is never touched.
//!
//! A new profile joins `SHIPPED` and adds its sample value to `sample`.
//! Then a made-up second profile that shares a cookie name shows the two
//! things one profile alone cannot: values tell shared names apart, and a
//! profile's own route speaks for its own cookies only.

use cookieguard::config::{BasePath, Config};
use cookieguard::policy::{Authority, Change, Mode, Outcome, Policy, StripReason};
use cookieguard::session::SessionCookieNames;
use cookieguard::session::profile::{
    self, ChunkScheme, Opener, Profile, RouteSpec, SHIPPED, ShapeRules,
};
use cookieguard::session::token::Secret;
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue, Method, StatusCode};

/// A value of the profile's session cookie as the library writes it (its
/// recogniser must accept it); opaque where the name alone decides.
fn sample(profile: &dyn Profile) -> &'static str {
    match profile.id() {
        "authjs" => "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..aXY.Y3Q.dGFn",
        "auth0" => "eyJlbmMiOiJBMjU2R0NNIiwiYWxnIjoiZGlyIn0..aXY.Y3Q.dGFn",
        "better-auth" => "c3VwZXJzZWNyZXR0b2tlbg.c2lnbmF0dXJl%3D",
        id => panic!("profile `{id}` has no sample value in tests/profiles.rs"),
    }
}

/// The policy of a configuration with this profile alone.
fn policy(profile: &dyn Profile, mode: Mode) -> Policy {
    let config = Config::from_toml(
        &format!(
            "mode = \"{}\"\n[session]\nprofiles = [\"{}\"]\n",
            mode.as_str(),
            profile.id()
        ),
        std::path::Path::new("profiles.toml"),
    )
    .unwrap();
    config.policy()
}

/// A path that a route pattern matches: `*` and `**` filled in.
fn concrete(pattern: &str) -> String {
    pattern.replace("**", "x/y").replace('*', "x")
}

fn response(lines: &[String]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in lines {
        map.append(SET_COOKIE, HeaderValue::from_str(line).unwrap());
    }
    map
}

fn set_cookies(map: &HeaderMap) -> Vec<String> {
    map.get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect()
}

#[test]
fn ids_names_and_variables_are_well_formed() {
    let mut ids = Vec::new();
    for profile in SHIPPED {
        let id = profile.id();
        assert!(
            !id.is_empty()
                && id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "id `{id}`"
        );
        assert!(!ids.contains(&id), "id `{id}` twice");
        ids.push(id);
        assert_eq!(profile::find(id).map(|p| p.id()), Some(id));
        assert!(!profile.name().is_empty(), "{id}");
        assert!(!profile.cookie_names().is_empty(), "{id}: no cookie names");
        for name in profile.cookie_names() {
            let token = name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
            assert!(
                token && !name.is_empty(),
                "{id}: `{name}` is no cookie name"
            );
        }
        for variable in profile.secret_variables() {
            assert!(
                variable
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{id}: `{variable}`"
            );
        }
        assert!(profile.sign_in_prefix().starts_with('/'), "{id}");
        for moves in profile.route_variables() {
            assert!(
                moves
                    .variable
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'),
                "{id}: `{}`",
                moves.variable
            );
            assert!(
                profile.routes().iter().any(|r| r.path == moves.route),
                "{id}: {} moves `{}`, which is none of its routes",
                moves.variable,
                moves.route
            );
        }
    }
}

#[test]
fn routes_are_valid_at_every_base_path_and_do_not_overlap_between_profiles() {
    for profile in SHIPPED {
        for base in profile.base_paths() {
            let base = BasePath::try_from(base.to_string())
                .unwrap_or_else(|e| panic!("{}: {e}", profile.id()));
            let rules = base.rules(profile.routes());
            assert_eq!(rules.len(), profile.routes().len());
            for (rule, route) in rules.iter().zip(profile.routes()) {
                assert!(rule.path.as_str().ends_with(route.path), "{}", profile.id());
            }
        }
    }
    // A path of one profile's route is no route of another's (or a write of
    // the one could be taken for the other's authoritative write).
    for a in SHIPPED {
        for b in SHIPPED.iter().filter(|b| b.id() != a.id()) {
            for base_a in a.base_paths() {
                for route in a.routes() {
                    let path = format!("{base_a}{}", concrete(route.path));
                    let uri: http::Uri = path.parse().unwrap();
                    for base_b in b.base_paths() {
                        let rules = BasePath::try_from(base_b.to_string())
                            .unwrap()
                            .rules(b.routes());
                        for method in route.methods.unwrap_or(&[Method::GET, Method::POST]) {
                            assert!(
                                !rules
                                    .iter()
                                    .any(|r| r.matches(method, &uri, &HeaderMap::new())),
                                "{} route {path} is also a {} route",
                                a.id(),
                                b.id()
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn names_chunks_and_look_alikes() {
    for profile in SHIPPED {
        let names = SessionCookieNames::from_profiles([(
            *profile,
            profile
                .cookie_names()
                .iter()
                .map(|n| n.to_string())
                .collect(),
        )]);
        for (family, name) in profile.cookie_names().iter().enumerate() {
            assert_eq!(names.position(name.as_bytes()), Some((family, 0)), "{name}");
            let scheme = profile.chunks();
            let parts: Vec<String> = (0..3).map(|i| scheme.part_name(name, i)).collect();
            for (i, part) in parts.iter().enumerate() {
                assert_eq!(
                    names.position(part.as_bytes()),
                    Some((family, i as u64 + 1)),
                    "{part}"
                );
            }
            let separator = profile.chunks().separator();
            for look_alike in [
                format!("{name}x"),
                format!("{name}{separator}"),
                format!("{name}{separator}x"),
                format!("{name}{separator}1a"),
                format!("{name}{separator}-1"),
                format!("x{name}"),
                name.to_uppercase(),
            ] {
                if profile.cookie_names().contains(&look_alike.as_str()) {
                    continue;
                }
                assert_eq!(names.position(look_alike.as_bytes()), None, "{look_alike}");
            }
        }
    }
}

#[test]
fn a_name_two_profiles_share_is_told_apart_by_value() {
    for a in SHIPPED {
        for b in SHIPPED.iter().filter(|b| b.id() != a.id()) {
            for name in a.cookie_names() {
                if b.cookie_names().contains(name) {
                    assert!(
                        a.recogniser().is_some() && b.recogniser().is_some(),
                        "`{name}` is both {}'s and {}'s: each needs a recogniser",
                        a.id(),
                        b.id()
                    );
                }
            }
        }
    }
}

#[test]
fn no_value_panics_the_recogniser_or_the_opener() {
    let garbage: Vec<Vec<u8>> = vec![
        b"x".to_vec(),
        b"....".to_vec(),
        b"e30.e30.e30.e30.e30".to_vec(),
        b"eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..AAAA.AAAA.AAAA".to_vec(),
        b"base64-!!!".to_vec(),
        b"Fe26.2**a*b*c*d*e*f".to_vec(),
        b"%7B%22a%22%3A1%7D.c2ln".to_vec(),
        vec![0xff; 300],
        vec![b'A'; 300_000],
    ];
    for profile in SHIPPED {
        let names: Vec<String> = profile
            .cookie_names()
            .iter()
            .map(|n| n.to_string())
            .collect();
        let opener = profile.opener(&[Secret::new("not the app's secret")], &names);
        for value in &garbage {
            if let Some(recognises) = profile.recogniser() {
                let _ = recognises(value);
            }
            for cookie in 0..names.len() + 1 {
                assert!(opener.open(cookie, value).is_err(), "{}", profile.id());
            }
        }
        if let Some(recognises) = profile.recogniser() {
            assert!(
                recognises(sample(*profile).as_bytes()),
                "{}: its own sample",
                profile.id()
            );
        }
    }
}

#[test]
fn the_decision_keeps_its_promises_for_every_profile() {
    for profile in SHIPPED {
        let id = profile.id();
        let name = profile.cookie_names()[0];
        let value = sample(*profile);
        let strip = policy(*profile, Mode::Strip);
        let with_session = {
            let mut request = HeaderMap::new();
            request.insert(
                COOKIE,
                format!("{name}={value}; theme=dark").parse().unwrap(),
            );
            request
        };
        let refresh = [
            "theme=light; Path=/".to_owned(),
            format!("{name}={value}x; Path=/; HttpOnly"),
            "unknown.session=1; Path=/".to_owned(),
        ];

        // A refresh on a route that is none of the profile's: stripped, and
        // only the session line.
        let facts = strip.inspect(&Method::GET, &"/dashboard".parse().unwrap(), &with_session);
        let mut headers = response(&refresh);
        assert_eq!(
            strip.apply(&facts, StatusCode::OK, &mut headers),
            Outcome::Stripped {
                cookies: 1,
                reason: StripReason::RouteNotAllowed
            },
            "{id}"
        );
        assert_eq!(
            set_cookies(&headers),
            [refresh[0].clone(), refresh[2].clone()],
            "{id}"
        );

        // The same write on each of its own routes, at each base path: passes whole.
        for base in profile.base_paths() {
            for route in profile.routes() {
                let path = format!("{base}{}", concrete(route.path));
                let method = route.methods.map_or(Method::POST, |m| m[0].clone());
                let facts = strip.inspect(&method, &path.parse().unwrap(), &with_session);
                let mut headers = response(&refresh);
                let outcome = strip.apply(&facts, StatusCode::OK, &mut headers);
                assert!(
                    matches!(
                        outcome,
                        Outcome::Allowed {
                            by: Authority::Rule(_),
                            cookies: 1
                        }
                    ),
                    "{id} {method} {path}: {outcome:?}"
                );
                assert_eq!(set_cookies(&headers), refresh, "{id} {path}");
            }
        }

        // A sign-in (no session before) and a sign-out, on any route, in every mode.
        for mode in [Mode::Strip, Mode::Guard] {
            let p = policy(*profile, mode);
            let signed_out = HeaderMap::new();
            let facts = p.inspect(&Method::POST, &"/anywhere".parse().unwrap(), &signed_out);
            let sign_in = [format!("{name}={value}; Path=/")];
            let mut headers = response(&sign_in);
            assert_eq!(
                p.apply(&facts, StatusCode::OK, &mut headers),
                Outcome::Allowed {
                    by: Authority::Change(Change::SignIn),
                    cookies: 1
                },
                "{id} {mode:?}"
            );
            assert_eq!(set_cookies(&headers), sign_in);
            let facts = p.inspect(&Method::POST, &"/anywhere".parse().unwrap(), &with_session);
            let sign_out = [format!("{name}=; Path=/; Max-Age=0")];
            let mut headers = response(&sign_out);
            assert_eq!(
                p.apply(&facts, StatusCode::OK, &mut headers),
                Outcome::Allowed {
                    by: Authority::Change(Change::SignOut),
                    cookies: 1
                },
                "{id} {mode:?}"
            );
            assert_eq!(set_cookies(&headers), sign_out);
        }
    }
}

/// A made-up library that shares Auth.js's v5 cookie name, told apart by
/// values that start with `other:`, with one route of its own.
#[derive(Debug)]
struct Other;

fn other_value(value: &[u8]) -> bool {
    value.starts_with(b"other:")
}

impl Profile for Other {
    fn id(&self) -> &'static str {
        "other"
    }
    fn name(&self) -> &'static str {
        "Other"
    }
    fn cookie_names(&self) -> &'static [&'static str] {
        &["shared.session"]
    }
    fn chunks(&self) -> ChunkScheme {
        ChunkScheme::DotIndex
    }
    fn recogniser(&self) -> Option<fn(&[u8]) -> bool> {
        Some(other_value)
    }
    fn base_paths(&self) -> &'static [&'static str] {
        &["/other"]
    }
    fn routes(&self) -> &'static [RouteSpec] {
        &[RouteSpec {
            methods: Some(&[Method::POST]),
            path: "/save",
            purpose: "save",
        }]
    }
    fn sign_in_prefix(&self) -> &'static str {
        "/login"
    }
    fn secret_variables(&self) -> &'static [&'static str] {
        &[]
    }
    fn volatile_claims(&self) -> &'static [&'static str] {
        &[]
    }
    fn opener(&self, _: &[Secret], _: &[String]) -> Box<dyn Opener> {
        unreachable!("no secret in these tests")
    }
    fn shape_rules(&self) -> ShapeRules {
        ShapeRules::default()
    }
}

/// Auth.js (plain `authjs.session-token`) and `Other` together; the Auth.js
/// routes at /auth, Other's at /other, each owned by its profile.
fn two_profiles() -> Policy {
    let authjs = profile::find("authjs").unwrap();
    let session = SessionCookieNames::from_profiles([
        (authjs, vec!["authjs.session-token".to_owned()]),
        (&Other as &dyn Profile, vec!["shared.session".to_owned()]),
    ]);
    let mut allow = BasePath::try_from("/auth".to_owned())
        .unwrap()
        .rules(authjs.routes());
    let mut allow_profiles = vec![Some(0); allow.len()];
    allow.extend(
        BasePath::try_from("/other".to_owned())
            .unwrap()
            .rules(Other.routes()),
    );
    allow_profiles.push(Some(1));
    Policy {
        session,
        allow,
        allow_profiles,
        mode: Mode::Strip,
        update_header: None,
        reading: None,
    }
}

#[test]
fn a_shared_name_is_a_session_cookie_only_with_its_profiles_value() {
    let p = two_profiles();
    let mut request = HeaderMap::new();
    request.insert(COOKIE, "shared.session=other:old".parse().unwrap());
    let facts = p.inspect(&Method::GET, &"/page".parse().unwrap(), &request);
    // Another library's value under the shared name: not ours, never touched.
    let mut headers = response(&["shared.session=clerk.jws.value; Path=/".to_owned()]);
    assert_eq!(
        p.apply(&facts, StatusCode::OK, &mut headers),
        Outcome::NoSessionCookie
    );
    assert_eq!(
        set_cookies(&headers),
        ["shared.session=clerk.jws.value; Path=/"]
    );
    // Other's value: a refresh on a route that is not Other's, stripped.
    let mut headers = response(&["shared.session=other:new; Path=/".to_owned()]);
    assert!(matches!(
        p.apply(&facts, StatusCode::OK, &mut headers),
        Outcome::Stripped { cookies: 1, .. }
    ));
    assert!(set_cookies(&headers).is_empty());
}

#[test]
fn a_profiles_own_route_speaks_for_its_own_cookies_only() {
    let p = two_profiles();
    let mut request = HeaderMap::new();
    request.insert(
        COOKIE,
        "authjs.session-token=A; shared.session=other:old"
            .parse()
            .unwrap(),
    );
    // Other's route: Other's refresh passes, Auth.js's is stripped.
    let facts = p.inspect(&Method::POST, &"/other/save".parse().unwrap(), &request);
    let mut headers = response(&["shared.session=other:new; Path=/".to_owned()]);
    assert!(matches!(
        p.apply(&facts, StatusCode::OK, &mut headers),
        Outcome::Allowed {
            by: Authority::Rule(3),
            ..
        }
    ));
    let mut headers = response(&["authjs.session-token=A2; Path=/".to_owned()]);
    assert_eq!(
        p.apply(&facts, StatusCode::OK, &mut headers),
        Outcome::Stripped {
            cookies: 1,
            reason: StripReason::RouteNotAllowed
        }
    );
    // Auth.js's update route: the other way round.
    let facts = p.inspect(&Method::POST, &"/auth/session".parse().unwrap(), &request);
    let mut headers = response(&["authjs.session-token=A2; Path=/".to_owned()]);
    assert!(matches!(
        p.apply(&facts, StatusCode::OK, &mut headers),
        Outcome::Allowed {
            by: Authority::Rule(0),
            ..
        }
    ));
    let mut headers = response(&["shared.session=other:new; Path=/".to_owned()]);
    assert!(matches!(
        p.apply(&facts, StatusCode::OK, &mut headers),
        Outcome::Stripped { .. }
    ));
    // Other has no server-action rule: a rewrite by an action is a refresh.
    let mut action = request.clone();
    action.insert("next-action", "1".parse().unwrap());
    let facts = p.inspect(&Method::POST, &"/page".parse().unwrap(), &action);
    let mut headers = response(&[
        "shared.session=other:copy; Path=/".to_owned(),
        "shared.session=other:new; Path=/".to_owned(),
    ]);
    assert!(matches!(
        p.apply(&facts, StatusCode::OK, &mut headers),
        Outcome::Stripped { cookies: 2, .. }
    ));
}
