//! The decision: which `Set-Cookie` headers of a response survive.
//!
//! Synchronous and free of I/O. The proxy asks [`Policy::inspect`] about the
//! request before forwarding it (the request is consumed by then) and
//! [`Policy::apply`] about the response headers. A response's session cookies
//! are one family: all of them pass or all of them go, because NextAuth
//! writes a chunked token together with `Max-Age=0` deletes of unused
//! chunks, and a partial strip would leave the browser with a broken session.
//!
//! Responses of allowed routes (and responses the upstream marks with the
//! update header) are authoritative writes. Strip mode removes every other
//! session write; guard mode removes only stale ones (see [`crate::guard`]).

use std::sync::Arc;

use http::header::{Entry, SET_COOKIE};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use serde::{Deserialize, Serialize};

use crate::guard::Verdict;
use crate::guard_store::{GuardQuery, GuardStore};
use crate::routes::AllowRule;
use crate::session::{self, RequestCookies};

/// What to do with session cookies on responses of routes that are not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Remove session Set-Cookie headers on routes that may not set them
    #[default]
    Strip,
    /// Remove only stale session writes: those of requests that left before an update; refreshes pass, so expiry slides
    Guard,
    /// Remove nothing; log what strip and guard would remove
    Report,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Strip => "strip",
            Mode::Guard => "guard",
            Mode::Report => "report",
        }
    }
}

/// The configured session cookie base names. A cookie is a session cookie when
/// its name equals a base name or is a base name plus `.` and digits (a chunk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionCookieNames {
    names: Vec<String>,
}

impl SessionCookieNames {
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            names: names.into_iter().map(Into::into).collect(),
        }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether a cookie name (as bytes, exactly as on the wire) is a session cookie.
    pub fn matches(&self, cookie_name: &[u8]) -> bool {
        self.position(cookie_name).is_some()
    }

    /// Where a session cookie sits in its family: the index of its base name
    /// and its order (the plain name is 0, chunk `.N` is N + 1).
    pub fn position(&self, cookie_name: &[u8]) -> Option<(usize, u64)> {
        self.names
            .iter()
            .enumerate()
            .find_map(
                |(base_index, base)| match cookie_name.strip_prefix(base.as_bytes())? {
                    [] => Some((base_index, 0)),
                    [b'.', digits @ ..]
                        if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) =>
                    {
                        let index = digits.iter().fold(0u64, |n, d| {
                            n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                        });
                        Some((base_index, index.saturating_add(1)))
                    }
                    _ => None,
                },
            )
    }

    /// Whether a `Set-Cookie` header value sets a session cookie.
    pub fn is_session_set_cookie(&self, value: &HeaderValue) -> bool {
        self.matches(set_cookie_name(value.as_bytes()))
    }
}

/// The name of the cookie a `Set-Cookie` value sets, following RFC 6265 §5.2:
/// the text before the first `=` of the part before the first `;`, with
/// surrounding white space removed. A value without `=` sets a nameless cookie.
pub fn set_cookie_name(value: &[u8]) -> &[u8] {
    // One scan that stops at the end of the name: a `;` before any `=` means
    // a nameless cookie. (Looking for the first `;` first scans the whole
    // value: ~4 KiB per chunk of a chunked session token.)
    match memchr::memchr2(b'=', b';', value) {
        Some(end) if value[end] == b'=' => value[..end].trim_ascii(),
        _ => &[],
    }
}

/// The whole decision: session names, allow rules, mode and guard memory.
#[derive(Debug)]
pub struct Policy {
    pub session: SessionCookieNames,
    pub allow: Vec<AllowRule>,
    pub mode: Mode,
    /// A response header by which the upstream marks a response as an
    /// authoritative session write; removed before the response goes out.
    pub update_header: Option<HeaderName>,
    /// Generation memory, in guard and report modes; shared so that a
    /// configuration reload keeps what it remembers.
    pub guard: Option<Arc<GuardStore>>,
}

/// A response's decision between [`Policy::examine`] and [`Policy::finish`]:
/// what the guard is asked, and what the rest of the decision already knows.
#[derive(Debug, Clone, Copy)]
pub struct Examined {
    cookies: usize,
    authority: Option<Authority>,
    strip_reason: Option<StripReason>,
    /// The guard's question, when there is a guard and a session write.
    pub query: Option<GuardQuery>,
}

/// Which allow rule (by index) a request matched, if any. Cheap to carry from
/// the request to its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route(Option<usize>);

impl Route {
    pub const NOT_ALLOWED: Route = Route(None);

    pub fn rule(self) -> Option<usize> {
        self.0
    }
}

/// What the response's decision needs to know about its request.
#[derive(Debug, Clone)]
pub struct RequestFacts {
    pub route: Route,
    /// The request's `Cookie` headers; kept only when a guard needs them.
    pub cookies: RequestCookies,
}

impl From<Route> for RequestFacts {
    fn from(route: Route) -> Self {
        RequestFacts {
            route,
            cookies: RequestCookies::default(),
        }
    }
}

/// What made a session write authoritative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// The request matched this allow rule (by index).
    Rule(usize),
    /// The upstream marked the response with the update header.
    Marker,
}

/// What happened to a response's session cookies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The response sets no session cookie.
    NoSessionCookie,
    /// An authoritative write passed.
    Allowed { by: Authority, cookies: usize },
    /// Guard mode: a refresh of a current session passed (expiry slides).
    Refreshed { cookies: usize },
    /// Session cookies were removed.
    Stripped { cookies: usize, reason: StripReason },
    /// Report mode: nothing was removed; what strip and guard mode would have
    /// removed, and why (`None`: that mode would have let them pass).
    WouldStrip {
        cookies: usize,
        strip: Option<StripReason>,
        guard: Option<StripReason>,
    },
}

/// Why session cookies were (or would have been) removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StripReason {
    /// No allow rule matches the request.
    RouteNotAllowed,
    /// The route is allowed, but the response is an error (4xx/5xx): Auth.js
    /// middleware puts the old token even on a rejected update.
    ErrorStatus { rule: usize },
    /// Guard: the request's session was superseded by an update.
    Stale,
    /// Guard: the request carried no session, and only authoritative routes create one.
    NoRequestSession,
    /// Guard: the shared store did not answer in time. Stripping is the safe
    /// side: the user loses one expiry extension, never an update.
    StoreUnavailable,
}

impl StripReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StripReason::RouteNotAllowed => "route not allowed",
            StripReason::ErrorStatus { .. } => "allowed route answered with an error status",
            StripReason::Stale => "stale: the request's session was superseded by an update",
            StripReason::NoRequestSession => "no session in the request",
            StripReason::StoreUnavailable => "guard store unavailable: treated as stale",
        }
    }
}

impl Policy {
    /// Classifies a request; call before the request is forwarded.
    pub fn route(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> Route {
        Route(
            self.allow
                .iter()
                .position(|rule| rule.matches(method, uri, headers)),
        )
    }

    /// Everything the response's decision needs from the request.
    pub fn inspect(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> RequestFacts {
        RequestFacts {
            route: self.route(method, uri, headers),
            cookies: if self.guard.is_some() {
                RequestCookies::from_headers(headers)
            } else {
                RequestCookies::default()
            },
        }
    }

    /// The first half of a response's decision: removes the update marker,
    /// counts the session cookies and, when a guard has a say, hashes what it
    /// needs to know. `None`: the response sets no session cookie. Pass the
    /// result to [`Policy::finish`] with the guard's verdict on its query.
    pub fn examine(
        &self,
        request: &RequestFacts,
        status: StatusCode,
        headers: &mut HeaderMap,
    ) -> Option<Examined> {
        let marked = self
            .update_header
            .as_ref()
            .is_some_and(|name| headers.remove(name).is_some());
        let cookies = headers
            .get_all(SET_COOKIE)
            .iter()
            .filter(|value| self.session.is_session_set_cookie(value))
            .count();
        if cookies == 0 {
            return None;
        }
        let success = status.is_success() || status.is_redirection();
        let authority = match request.route.0 {
            _ if !success => None,
            _ if marked => Some(Authority::Marker),
            rule => rule.map(Authority::Rule),
        };
        let strip_reason = match (authority, request.route.0) {
            (Some(_), _) => None,
            (None, Some(rule)) => Some(StripReason::ErrorStatus { rule }),
            (None, None) => Some(StripReason::RouteNotAllowed),
        };
        let query = self.guard.as_ref().and_then(|guard| {
            guard.query(
                &self.session,
                &request.cookies,
                headers,
                authority.is_some(),
            )
        });
        Some(Examined {
            cookies,
            authority,
            strip_reason,
            query,
        })
    }

    /// The second half: decides the fate of the session cookies from the
    /// guard's verdict on [`Examined::query`] (`None` without a guard) and,
    /// unless in report mode, applies it. Other headers, and `Set-Cookie`
    /// lines for other cookies, keep their values and their order. In strip
    /// mode nothing is allocated unless something is removed.
    pub fn finish(
        &self,
        examined: Examined,
        verdict: Option<Verdict>,
        headers: &mut HeaderMap,
    ) -> Outcome {
        let Examined {
            cookies,
            authority,
            strip_reason,
            ..
        } = examined;
        let guard_reason = match verdict {
            None | Some(Verdict::Pass) => None,
            // An authoritative write always passes; the store only records it.
            Some(_) if authority.is_some() => None,
            Some(Verdict::Stale) => Some(StripReason::Stale),
            Some(Verdict::NoRequestSession) => Some(StripReason::NoRequestSession),
            Some(Verdict::Unavailable(_)) => Some(StripReason::StoreUnavailable),
        };
        match (self.mode, authority) {
            (Mode::Report, Some(by)) => Outcome::Allowed { by, cookies },
            (Mode::Report, None) => Outcome::WouldStrip {
                cookies,
                strip: strip_reason,
                guard: guard_reason,
            },
            (Mode::Strip, Some(by)) => Outcome::Allowed { by, cookies },
            (Mode::Guard, Some(by)) => {
                self.collapse_if_repeated(cookies, headers);
                Outcome::Allowed { by, cookies }
            }
            (Mode::Strip | Mode::Guard, None) => {
                let reason = if self.mode == Mode::Strip {
                    strip_reason
                } else {
                    guard_reason
                };
                match reason {
                    Some(reason) => {
                        self.strip(headers);
                        Outcome::Stripped { cookies, reason }
                    }
                    None => {
                        self.collapse_if_repeated(cookies, headers);
                        Outcome::Refreshed { cookies }
                    }
                }
            }
        }
    }

    /// The whole decision in one call, for guards that answer at once (the
    /// in-memory store; a Redis store needs [`GuardStore::judge`]'s round
    /// trip, so here its verdict counts as unavailable).
    pub fn apply(
        &self,
        request: &RequestFacts,
        status: StatusCode,
        headers: &mut HeaderMap,
    ) -> Outcome {
        let Some(examined) = self.examine(request, status, headers) else {
            return Outcome::NoSessionCookie;
        };
        let verdict = match (&self.guard, examined.query) {
            (Some(guard), Some(query)) => Some(guard.judge_now(query)),
            _ => None,
        };
        self.finish(examined, verdict, headers)
    }

    /// One session line (the usual refresh) cannot repeat a name: skip the
    /// scan and its allocations.
    fn collapse_if_repeated(&self, cookies: usize, headers: &mut HeaderMap) {
        if cookies > 1 {
            session::collapse_duplicates(&self.session, headers);
        }
    }

    fn strip(&self, headers: &mut HeaderMap) {
        const INLINE: usize = 8;
        let Entry::Occupied(mut entry) = headers.entry(SET_COOKIE) else {
            return;
        };
        // The lines to keep, in order. Cloning a HeaderValue is a reference
        // count increment; the first INLINE stay on the stack.
        let mut inline: [Option<HeaderValue>; INLINE] = [const { None }; INLINE];
        let mut spill = Vec::new();
        let kept = entry
            .iter()
            .filter(|value| !self.session.is_session_set_cookie(value));
        for (i, value) in kept.enumerate() {
            match inline.get_mut(i) {
                Some(slot) => *slot = Some(value.clone()),
                None => spill.push(value.clone()),
            }
        }
        let mut kept = inline.into_iter().flatten().chain(spill);
        match kept.next() {
            // `insert` drops every old value in place (no allocation, and the
            // header keeps its position); `append` adds the rest in order.
            Some(first) => {
                entry.insert(first);
                for value in kept {
                    entry.append(value);
                }
            }
            None => {
                entry.remove();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderName;

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
            guard: None,
            session: names(),
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

    fn route(policy: &Policy, method: &str, uri: &str) -> RequestFacts {
        policy.inspect(
            &method.parse().unwrap(),
            &uri.parse().unwrap(),
            &HeaderMap::new(),
        )
    }

    #[test]
    fn cookie_names_from_set_cookie() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a=b", b"a"),
            (b"a=b; Path=/; HttpOnly", b"a"),
            (b"  a  =b", b"a"),
            (b"a=", b"a"),
            (b"a=b=c", b"a"),
            (b"=b", b""),
            (b"nameless", b""),
            (b"nameless; a=b", b""),
            (b"", b""),
            (b";", b""),
            (b"a\tb=c", b"a\tb"),
            (b"\xff\xfe=v", b"\xff\xfe"),
            (
                b"next-auth.session-token=eyJ; Expires=Wed, 21 Oct 2026 07:28:00 GMT",
                b"next-auth.session-token",
            ),
        ];
        for (value, name) in cases {
            assert_eq!(
                set_cookie_name(value),
                *name,
                "{:?}",
                String::from_utf8_lossy(value)
            );
        }
    }

    #[test]
    fn session_names_and_chunks() {
        let n = names();
        for base in DEFAULT_NAMES {
            assert!(n.matches(base.as_bytes()), "{base}");
            for chunk in [".0", ".1", ".9", ".10", ".123"] {
                let name = format!("{base}{chunk}");
                assert!(n.matches(name.as_bytes()), "{name}");
            }
        }
    }

    #[test]
    fn look_alike_names_are_not_session_cookies() {
        let n = names();
        for name in [
            "next-auth.session-token-extra",
            "next-auth.session-token.",
            "next-auth.session-token.x",
            "next-auth.session-token.1a",
            "next-auth.session-token.-1",
            "next-auth.session-token..1",
            "next-auth.session-token.1.2",
            "next-auth.session-tokens",
            "next-auth.csrf-token",
            "__Host-next-auth.csrf-token",
            "next-auth.callback-url",
            "__Secure-next-auth.callback-url",
            "next-auth.pkce.code_verifier",
            "authjs.csrf-token",
            "authjs.callback-url",
            "authjs.challenge",
            "Next-Auth.Session-Token",
            "NEXT-AUTH.SESSION-TOKEN",
            "__secure-next-auth.session-token",
            "__Host-next-auth.session-token",
            "x-next-auth.session-token",
            "session-token",
            "next-auth",
            "",
            "theme",
        ] {
            assert!(!n.matches(name.as_bytes()), "{name}");
        }
    }

    #[test]
    fn custom_names() {
        let n = SessionCookieNames::new(["my.session"]);
        assert!(n.matches(b"my.session"));
        assert!(n.matches(b"my.session.3"));
        assert!(!n.matches(b"next-auth.session-token"));
        assert!(!n.matches(b"my.sessions"));
    }

    #[test]
    fn strips_on_routes_that_are_not_allowed() {
        let p = policy(Mode::Strip);
        let mut map = headers(&[
            b"theme=dark; Path=/",
            b"next-auth.session-token=OLD; Path=/; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly; SameSite=Lax",
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
            &[&b"a=1"[..], b"b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"][..],
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
}
