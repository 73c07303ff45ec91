//! Session cookie names: which cookies hold the session, how a chunked
//! token's parts (`name.0`, `name.1`, …) line up, and which cookie a
//! `Set-Cookie` line sets. The ground every other layer stands on.

use http::HeaderValue;

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

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_NAMES: [&str; 4] = [
        "next-auth.session-token",
        "__Secure-next-auth.session-token",
        "authjs.session-token",
        "__Secure-authjs.session-token",
    ];

    fn names() -> SessionCookieNames {
        SessionCookieNames::new(DEFAULT_NAMES)
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
}
