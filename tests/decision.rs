//! The decision's table of cases: which session `Set-Cookie` lines survive a
//! response, by route, status, mode and what the write does to the session.
//! Pure: no server, no clock beyond `Policy::apply`'s.

use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};

use cookieguard::policy::{
    AllowRule, Authority, Change, Decision, Mode, Outcome, Policy, RequestFacts, Route, StripReason,
};
use cookieguard::session::SessionCookieNames;

const DEFAULT_NAMES: [&str; 4] = [
    "next-auth.session-token",
    "__Secure-next-auth.session-token",
    "authjs.session-token",
    "__Secure-authjs.session-token",
];

fn names() -> SessionCookieNames {
    SessionCookieNames::new(DEFAULT_NAMES)
}

fn policy(mode: Mode) -> Policy {
    let rule = |methods: &[&str], path: &str| AllowRule {
        methods: Some(methods.iter().map(|m| m.parse().unwrap()).collect()),
        path: path.parse().unwrap(),
        query: vec![],
        headers: vec![],
    };
    Policy {
        update_header: None,
        reading: None,
        session: names(),
        allow_profiles: vec![],
        allow: vec![
            rule(&["POST"], "/api/auth/session"),
            rule(&["GET", "POST"], "/api/auth/callback/*"),
            rule(&["POST"], "/api/auth/signout"),
        ],
        mode,
    }
}

fn headers(set_cookies: &[&[u8]]) -> HeaderMap {
    let mut map = HeaderMap::new();
    map.insert(
        HeaderName::from_static("x-before"),
        HeaderValue::from_static("1"),
    );
    for value in set_cookies {
        map.append(SET_COOKIE, HeaderValue::from_bytes(value).unwrap());
    }
    map.insert(
        HeaderName::from_static("x-after"),
        HeaderValue::from_static("2"),
    );
    map
}

fn set_cookies(map: &HeaderMap) -> Vec<&[u8]> {
    map.get_all(SET_COOKIE)
        .iter()
        .map(HeaderValue::as_bytes)
        .collect()
}

/// A request that carries a session (`REQ`) under every default name,
/// so a response's session write is a refresh unless it changes the
/// session by its shape.
fn route(policy: &Policy, method: &str, uri: &str) -> RequestFacts {
    let cookie = DEFAULT_NAMES.map(|name| format!("{name}=REQ")).join("; ");
    let mut request = HeaderMap::new();
    request.insert(http::header::COOKIE, cookie.parse().unwrap());
    policy.inspect(&method.parse().unwrap(), &uri.parse().unwrap(), &request)
}

#[test]
fn strips_on_routes_that_are_not_allowed() {
    let p = policy(Mode::Strip);
    let mut map = headers(&[
        b"theme=dark; Path=/",
        b"next-auth.session-token=OLD; Path=/; Expires=Tue, 21 Oct 2036 07:28:00 GMT; HttpOnly; SameSite=Lax",
        b"next-auth.csrf-token=abc; Path=/",
        b"app=1",
    ]);
    let outcome = p.apply(&route(&p, "GET", "/api/data"), StatusCode::OK, &mut map);
    assert_eq!(
        outcome,
        Outcome::Stripped {
            cookies: 1,
            reason: StripReason::RouteNotAllowed
        }
    );
    assert_eq!(
        set_cookies(&map),
        [
            &b"theme=dark; Path=/"[..],
            b"next-auth.csrf-token=abc; Path=/",
            b"app=1"
        ]
    );
    assert_eq!(map["x-before"], "1");
    assert_eq!(map["x-after"], "2");
}

#[test]
fn passes_on_allowed_routes() {
    let p = policy(Mode::Strip);
    let cases = [
        ("POST", "/api/auth/session", 0),
        ("GET", "/api/auth/callback/github?code=x&state=y", 1),
        ("POST", "/api/auth/callback/credentials", 1),
        ("POST", "/api/auth/signout", 2),
    ];
    for (method, uri, rule) in cases {
        let original: &[&[u8]] = &[
            b"authjs.session-token=OLD; Path=/",
            b"theme=dark",
            b"authjs.session-token=NEW; Path=/",
        ];
        let mut map = headers(original);
        let outcome = p.apply(&route(&p, method, uri), StatusCode::OK, &mut map);
        assert_eq!(
            outcome,
            Outcome::Allowed {
                by: Authority::Rule(rule),
                cookies: 2
            },
            "{method} {uri}"
        );
        assert_eq!(set_cookies(&map), original, "{method} {uri}");
    }
}

#[test]
fn default_routes_do_not_allow_other_requests() {
    let p = policy(Mode::Strip);
    for (method, uri) in [
        ("GET", "/api/auth/session"),
        ("GET", "/api/auth/signout"),
        ("PUT", "/api/auth/session"),
        ("POST", "/api/auth/session/../csrf"),
        ("POST", "/api/auth/callback"),
        ("POST", "/api/auth/callback/a/b"),
        ("POST", "/api/auth/signin/credentials"),
        ("GET", "/"),
        ("POST", "/page-with-server-action"),
    ] {
        assert_eq!(
            route(&p, method, uri).route,
            Route::NOT_ALLOWED,
            "{method} {uri}"
        );
    }
}

#[test]
fn redirect_statuses_may_set_the_session() {
    let p = policy(Mode::Strip);
    for status in [200, 204, 302, 303, 307] {
        let mut map = headers(&[b"next-auth.session-token=NEW"]);
        let r = route(&p, "GET", "/api/auth/callback/github");
        let outcome = p.apply(&r, StatusCode::from_u16(status).unwrap(), &mut map);
        assert_eq!(
            outcome,
            Outcome::Allowed {
                by: Authority::Rule(1),
                cookies: 1
            },
            "{status}"
        );
    }
}

#[test]
fn error_statuses_on_allowed_routes_are_stripped() {
    let p = policy(Mode::Strip);
    for status in [400, 401, 403, 404, 500, 502] {
        let mut map = headers(&[b"authjs.session-token=OLD", b"theme=dark"]);
        let r = route(&p, "POST", "/api/auth/session");
        let outcome = p.apply(&r, StatusCode::from_u16(status).unwrap(), &mut map);
        assert_eq!(
            outcome,
            Outcome::Stripped {
                cookies: 1,
                reason: StripReason::ErrorStatus { rule: 0 }
            },
            "{status}"
        );
        assert_eq!(set_cookies(&map), [b"theme=dark"]);
    }
}

#[test]
fn chunk_family_is_stripped_whole() {
    let p = policy(Mode::Strip);
    let mut map = headers(&[
        b"next-auth.session-token.0=AAA; Path=/",
        b"next-auth.session-token.1=BBB; Path=/",
        b"next-auth.session-token.2=; Max-Age=0; Path=/",
        b"next-auth.session-token=; Max-Age=0; Path=/",
        b"other=1",
    ]);
    let outcome = p.apply(&route(&p, "GET", "/dashboard"), StatusCode::OK, &mut map);
    assert_eq!(
        outcome,
        Outcome::Stripped {
            cookies: 4,
            reason: StripReason::RouteNotAllowed
        }
    );
    assert_eq!(set_cookies(&map), [b"other=1"]);
}

#[test]
fn chunk_family_passes_whole() {
    let p = policy(Mode::Strip);
    let original: &[&[u8]] = &[
        b"next-auth.session-token.0=AAA; Path=/",
        b"other=1",
        b"next-auth.session-token.1=BBB; Path=/",
        b"next-auth.session-token.2=; Max-Age=0; Path=/",
    ];
    let mut map = headers(original);
    let outcome = p.apply(
        &route(&p, "POST", "/api/auth/session"),
        StatusCode::OK,
        &mut map,
    );
    assert_eq!(
        outcome,
        Outcome::Allowed {
            by: Authority::Rule(0),
            cookies: 3
        }
    );
    assert_eq!(set_cookies(&map), original);
}

#[test]
fn report_mode_removes_nothing() {
    let p = policy(Mode::Report);
    let original: &[&[u8]] = &[b"a=1", b"__Secure-authjs.session-token=OLD; Secure", b"b=2"];
    let mut map = headers(original);
    let outcome = p.apply(&route(&p, "GET", "/"), StatusCode::OK, &mut map);
    assert_eq!(
        outcome,
        Outcome::WouldStrip {
            cookies: 1,
            strip: Some(StripReason::RouteNotAllowed),
            guard: None,
        }
    );
    assert_eq!(set_cookies(&map), original);
}

#[test]
fn responses_without_session_cookies_are_untouched() {
    let p = policy(Mode::Strip);
    for original in [
        &[][..],
        &[&b"a=1"[..], b"b=2; Expires=Tue, 21 Oct 2036 07:28:00 GMT"][..],
    ] {
        let mut map = headers(original);
        let before = map.clone();
        let outcome = p.apply(&route(&p, "GET", "/"), StatusCode::OK, &mut map);
        assert_eq!(outcome, Outcome::NoSessionCookie);
        assert_eq!(map, before);
    }
}

#[test]
fn odd_header_values_never_panic_and_non_session_values_pass_byte_for_byte() {
    let p = policy(Mode::Strip);
    let odd: &[&[u8]] = &[
        b"",
        b";;;",
        b"=",
        b"==",
        b"\xff\xfe\xfd=\x80",
        b"a=\x80\x81; Path=\xff",
        b"  ",
        b"next-auth.session-token",
        b"\tnext-auth.session-tokenx=1",
    ];
    let mut input: Vec<&[u8]> = odd.to_vec();
    input.push(b" next-auth.session-token = OLD ");
    let mut map = headers(&input);
    let outcome = p.apply(&route(&p, "GET", "/"), StatusCode::OK, &mut map);
    assert_eq!(
        outcome,
        Outcome::Stripped {
            cookies: 1,
            reason: StripReason::RouteNotAllowed
        }
    );
    assert_eq!(set_cookies(&map), odd);
}

#[test]
fn several_lines_for_one_name_keep_their_order_when_allowed() {
    let p = policy(Mode::Strip);
    let original: &[&[u8]] = &[
        b"authjs.session-token=MIDDLEWARE-OLD; Path=/",
        b"authjs.session-token=HANDLER-NEW; Path=/",
    ];
    let mut map = headers(original);
    p.apply(
        &route(&p, "POST", "/api/auth/session"),
        StatusCode::OK,
        &mut map,
    );
    assert_eq!(set_cookies(&map), original);
}

#[test]
fn large_headers_pass() {
    let p = policy(Mode::Strip);
    let token = "x".repeat(3_900);
    let lines: Vec<String> = (0..9)
        .map(|i| format!("next-auth.session-token.{i}={token}; Path=/; HttpOnly"))
        .collect();
    let bytes: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    let mut map = headers(&bytes);
    let outcome = p.apply(
        &route(&p, "POST", "/api/auth/session"),
        StatusCode::OK,
        &mut map,
    );
    assert_eq!(
        outcome,
        Outcome::Allowed {
            by: Authority::Rule(0),
            cookies: 9
        }
    );
    assert_eq!(set_cookies(&map), bytes);
    let outcome = p.apply(&route(&p, "GET", "/"), StatusCode::OK, &mut map);
    assert_eq!(
        outcome,
        Outcome::Stripped {
            cookies: 9,
            reason: StripReason::RouteNotAllowed
        }
    );
    assert!(set_cookies(&map).is_empty());
}

#[test]
fn rules_with_query_and_header_requirements() {
    let mut p = policy(Mode::Strip);
    p.allow = vec![AllowRule {
        methods: None,
        path: "/api/company/*/switch".parse().unwrap(),
        query: vec!["companyId".into()],
        headers: vec![HeaderName::from_static("next-action")],
    }];
    let mut with_header = HeaderMap::new();
    with_header.insert("next-action", HeaderValue::from_static("abc"));
    let uri: Uri = "/api/company/7/switch?companyId=7".parse().unwrap();
    assert_eq!(p.route(&Method::POST, &uri, &with_header).rule(), Some(0));
    assert_eq!(
        p.route(&Method::POST, &uri, &HeaderMap::new()),
        Route::NOT_ALLOWED
    );
    let no_query: Uri = "/api/company/7/switch".parse().unwrap();
    assert_eq!(
        p.route(&Method::POST, &no_query, &with_header),
        Route::NOT_ALLOWED
    );
}

#[test]
fn first_matching_rule_is_reported() {
    let mut p = policy(Mode::Strip);
    p.allow.push(AllowRule {
        methods: None,
        path: "/**".parse().unwrap(),
        query: vec![],
        headers: vec![],
    });
    assert_eq!(route(&p, "POST", "/api/auth/session").route.rule(), Some(0));
    assert_eq!(route(&p, "GET", "/anything").route.rule(), Some(3));
}

/// A request with optional `Cookie` and extra headers, as the browser sends it.
fn request(
    policy: &Policy,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    extra: &[(&str, &str)],
) -> RequestFacts {
    let mut map = HeaderMap::new();
    if let Some(cookie) = cookie {
        map.insert(http::header::COOKIE, cookie.parse().unwrap());
    }
    for (name, value) in extra {
        map.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    policy.inspect(&method.parse().unwrap(), &uri.parse().unwrap(), &map)
}

const ACTION: &[(&str, &str)] = &[("next-action", "7f1c3e"), ("accept", "text/x-component")];
const V5_COPY: &[u8] = b"authjs.session-token=COPY; Path=/; Expires=Tue, 21 Oct 2036 07:28:00 GMT; HttpOnly; SameSite=Lax";
const V5_NEW: &[u8] = b"authjs.session-token=NEW; Path=/; Expires=Tue, 21 Oct 2036 07:28:00 GMT; HttpOnly; SameSite=lax";
const V5_DELETE: &[u8] = b"authjs.session-token=; Max-Age=0; Path=/; HttpOnly; SameSite=Lax";

/// Name, method, request cookie, request headers, response session lines,
/// and the change they make (`None`: a refresh).
type ShapeCase = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [(&'static str, &'static str)],
    &'static [&'static [u8]],
    Option<Change>,
);

/// The shapes measured on Next.js 16 + next-auth 5 (NEXTAUTH-FACTS), without
/// the secret: what each mode does with them.
#[test]
fn v5_server_action_shapes_without_the_secret() {
    const SIGNED_IN: Option<&str> = Some("authjs.session-token=OLD");
    let cases: &[ShapeCase] = &[
        (
            "update action",
            "POST",
            SIGNED_IN,
            ACTION,
            &[V5_COPY, V5_NEW],
            Some(Change::ActionWrite),
        ),
        (
            "sign-out action",
            "POST",
            SIGNED_IN,
            ACTION,
            &[V5_COPY, V5_DELETE],
            Some(Change::SignOut),
        ),
        (
            "sign-in action, signed out",
            "POST",
            None,
            ACTION,
            &[V5_NEW],
            Some(Change::SignIn),
        ),
        (
            "sign-in action, signed in",
            "POST",
            SIGNED_IN,
            ACTION,
            &[V5_COPY, V5_NEW],
            Some(Change::ActionWrite),
        ),
        (
            "ordinary action",
            "POST",
            SIGNED_IN,
            ACTION,
            &[V5_COPY],
            None,
        ),
        (
            "auth()-wrapped route",
            "GET",
            SIGNED_IN,
            &[],
            &[V5_COPY, V5_NEW],
            None,
        ),
        (
            "auth()-wrapped POST route",
            "POST",
            SIGNED_IN,
            &[],
            &[V5_COPY, V5_NEW],
            None,
        ),
        ("page", "GET", SIGNED_IN, &[], &[V5_COPY], None),
        (
            "next-action on a GET",
            "GET",
            SIGNED_IN,
            ACTION,
            &[V5_COPY, V5_NEW],
            None,
        ),
    ];
    for mode in [Mode::Strip, Mode::Guard, Mode::Report] {
        let p = policy(mode);
        for &(name, method, cookie, extra, lines, change) in cases {
            let facts = request(&p, method, "/account", cookie, extra);
            let mut map = headers(lines);
            let outcome = p.apply(&facts, StatusCode::OK, &mut map);
            match (change, mode) {
                (Some(change), _) => {
                    assert_eq!(
                        outcome,
                        Outcome::Allowed {
                            by: Authority::Change(change),
                            cookies: lines.len()
                        },
                        "{name}, {mode:?}"
                    );
                    // Guard mode sends only the last line per name (the one
                    // the browser keeps); the others pass them all, in order.
                    let expected = if mode == Mode::Guard {
                        &lines[lines.len() - 1..]
                    } else {
                        lines
                    };
                    assert_eq!(set_cookies(&map), expected, "{name}, {mode:?}");
                }
                (None, Mode::Strip) => {
                    assert_eq!(
                        outcome,
                        Outcome::Stripped {
                            cookies: lines.len(),
                            reason: StripReason::RouteNotAllowed
                        },
                        "{name}"
                    );
                    assert!(set_cookies(&map).is_empty(), "{name}");
                }
                (None, Mode::Report) => assert!(
                    matches!(outcome, Outcome::WouldStrip { .. }),
                    "{name}: {outcome:?}"
                ),
                // Guard without memory (apply): the refresh passes.
                (None, Mode::Guard) => assert_eq!(
                    outcome,
                    Outcome::Refreshed {
                        cookies: lines.len()
                    },
                    "{name}"
                ),
            }
        }
    }
}

#[test]
fn a_sign_out_passes_whatever_the_status() {
    let p = policy(Mode::Strip);
    for status in [200, 303, 400, 500] {
        let facts = request(
            &p,
            "POST",
            "/api/auth/signout",
            Some("authjs.session-token=OLD"),
            &[],
        );
        let mut map = headers(&[V5_COPY, V5_DELETE]);
        let outcome = p.apply(&facts, StatusCode::from_u16(status).unwrap(), &mut map);
        let expected = if status < 400 {
            Outcome::Allowed {
                by: Authority::Rule(2),
                cookies: 2,
            }
        } else {
            Outcome::Allowed {
                by: Authority::Change(Change::SignOut),
                cookies: 2,
            }
        };
        assert_eq!(outcome, expected, "{status}");
    }
}

/// Guard mode with memory: an update by a server action supersedes the
/// session a slow ordinary action carried; the slow one's copy is stale.
#[test]
fn guard_mode_judges_a_slow_action_against_an_update_by_action() {
    let decider = cookieguard::config::Config {
        mode: Mode::Guard,
        ..Default::default()
    }
    .decider();
    let p = &decider.policy;
    let slow = request(
        p,
        "POST",
        "/account",
        Some("authjs.session-token=OLD"),
        ACTION,
    );
    let update = request(
        p,
        "POST",
        "/account",
        Some("authjs.session-token=OLD"),
        ACTION,
    );
    let mut update_lines = headers(&[V5_COPY, V5_NEW]);
    let Decision { outcome, .. } = decider.decide_now(&update, StatusCode::OK, &mut update_lines);
    assert_eq!(
        outcome,
        Outcome::Allowed {
            by: Authority::Change(Change::ActionWrite),
            cookies: 2
        }
    );
    assert_eq!(
        set_cookies(&update_lines),
        [V5_NEW],
        "guard mode keeps the last line per name"
    );
    let mut slow_lines = headers(&[b"authjs.session-token=SLOW-COPY; Path=/"]);
    let Decision { outcome, .. } = decider.decide_now(&slow, StatusCode::OK, &mut slow_lines);
    assert_eq!(
        outcome,
        Outcome::Stripped {
            cookies: 1,
            reason: StripReason::Stale
        }
    );
    // The browser now holds NEW: its refreshes pass.
    let next = request(p, "GET", "/", Some("authjs.session-token=NEW"), &[]);
    let mut next_lines = headers(&[b"authjs.session-token=NEW-COPY; Path=/"]);
    assert_eq!(
        decider
            .decide_now(&next, StatusCode::OK, &mut next_lines)
            .outcome,
        Outcome::Refreshed { cookies: 1 }
    );
}
