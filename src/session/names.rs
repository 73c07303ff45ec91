//! Session cookie names: which cookies hold the session, how a chunked
//! token's parts (`name.0`, `name.1`, …) line up, and which cookie a
//! `Set-Cookie` line sets. The ground every other layer stands on.

use http::HeaderValue;

use super::profile::{self, ChunkScheme, Profile};

/// The session cookie families in effect: every base name of every profile,
/// numbered in order. A cookie is a session cookie when its name is a base
/// name or one of its parts (chunks), and, for a profile that shares its
/// names with other libraries, its value has the profile's shape.
#[derive(Debug, Clone)]
pub struct SessionCookieNames {
    names: Vec<String>,
    families: Vec<Family>,
    profiles: Vec<&'static dyn Profile>,
}

#[derive(Debug, Clone, Copy)]
struct Family {
    /// Index into `profiles`.
    profile: usize,
    /// The base name's index among its profile's names.
    cookie: usize,
    chunks: ChunkScheme,
    recogniser: Option<fn(&[u8]) -> bool>,
}

impl SessionCookieNames {
    /// Base names of the profile an app renames its cookie in
    /// ([`profile::renamable`]: Auth.js), as `[session] cookies` gives them.
    pub fn new<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<String> = names.into_iter().map(Into::into).collect();
        Self::from_profiles([(profile::renamable(), names)])
    }

    /// The families of these profiles, each with its base names, in order.
    pub fn from_profiles<I>(profiles: I) -> Self
    where
        I: IntoIterator<Item = (&'static dyn Profile, Vec<String>)>,
    {
        let mut out = SessionCookieNames {
            names: Vec::new(),
            families: Vec::new(),
            profiles: Vec::new(),
        };
        for (index, (profile, names)) in profiles.into_iter().enumerate() {
            out.profiles.push(profile);
            for (cookie, name) in names.into_iter().enumerate() {
                out.names.push(name);
                out.families.push(Family {
                    profile: index,
                    cookie,
                    chunks: profile.chunks(),
                    recogniser: profile.recogniser(),
                });
            }
        }
        out
    }

    /// Every base name, in family order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The profiles in effect, in order.
    pub fn profiles(&self) -> &[&'static dyn Profile] {
        &self.profiles
    }

    /// The index (into [`Self::profiles`]) of a family's profile.
    pub fn profile_of(&self, family: usize) -> usize {
        self.families.get(family).map_or(0, |f| f.profile)
    }

    /// The families that hold one session together with `family`: itself,
    /// or every family of its profile when that profile keeps its session in
    /// several cookies ([`Profile::compound`]). Consecutive: a profile's
    /// families are numbered together.
    pub fn session_families(&self, family: usize) -> std::ops::Range<usize> {
        let Some(of) = self.families.get(family) else {
            return family..family + 1;
        };
        if !self.profiles[of.profile].compound() {
            return family..family + 1;
        }
        let start = family - of.cookie;
        let len = self.families[start..]
            .iter()
            .take_while(|f| f.profile == of.profile)
            .count();
        start..start + len
    }

    /// A family's index among its own profile's base names.
    pub fn cookie_of(&self, family: usize) -> usize {
        self.families.get(family).map_or(0, |f| f.cookie)
    }

    /// Whether a cookie name (as bytes, exactly as on the wire) is a session
    /// cookie by its name alone.
    pub fn matches(&self, cookie_name: &[u8]) -> bool {
        self.position(cookie_name).is_some()
    }

    /// Where a session cookie sits by its name: the index of its family and
    /// its order (the plain name is 0, chunk `.N` is N + 1).
    pub fn position(&self, cookie_name: &[u8]) -> Option<(usize, u64)> {
        self.names
            .iter()
            .zip(&self.families)
            .enumerate()
            .find_map(|(index, (base, family))| {
                Some((index, family.chunks.position(base.as_bytes(), cookie_name)?))
            })
    }

    /// [`Self::position`] for a cookie whose value is known: a family whose
    /// profile shares its base name with other libraries claims a cookie of
    /// that name only when the value has its shape (an empty value, a
    /// deletion, by name). Its parts (`name.N`, `name__N`) are claimed by
    /// name: they hold the middle of a value, and the other libraries that
    /// use the base name write no parts of it.
    pub fn locate(&self, cookie_name: &[u8], value: &[u8]) -> Option<(usize, u64)> {
        let (index, position) = self.position(cookie_name)?;
        match self.families[index].recogniser {
            Some(recognises) if position == 0 && !value.is_empty() && !recognises(value) => None,
            _ => Some((index, position)),
        }
    }

    /// Where the cookie a `Set-Cookie` line sets sits, if it is a session cookie.
    pub fn locate_set_cookie(&self, line: &[u8]) -> Option<(usize, u64)> {
        let name = set_cookie_name(line);
        let (index, position) = self.position(name)?;
        if position != 0 || self.families[index].recogniser.is_none() {
            return Some((index, position));
        }
        self.locate(name, set_cookie_value(line))
    }

    /// Whether a `Set-Cookie` header value sets a session cookie.
    pub fn is_session_set_cookie(&self, value: &HeaderValue) -> bool {
        self.locate_set_cookie(value.as_bytes()).is_some()
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

/// The value of a `Set-Cookie` line: after the first `=` of its first part.
pub fn set_cookie_value(line: &[u8]) -> &[u8] {
    let pair = match memchr::memchr(b';', line) {
        Some(end) => &line[..end],
        None => line,
    };
    match memchr::memchr(b'=', pair) {
        Some(eq) => pair[eq + 1..].trim_ascii(),
        None => pair.trim_ascii(),
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
    fn cookie_values_from_set_cookie() {
        let cases: &[(&[u8], &[u8])] = &[
            (b"a=b", b"b"),
            (b"a= b ; Path=/", b"b"),
            (b"a=; Max-Age=0", b""),
            (b"a=b=c; x=y", b"b=c"),
            (b"nameless", b"nameless"),
            (b"", b""),
        ];
        for (line, value) in cases {
            assert_eq!(
                set_cookie_value(line),
                *value,
                "{:?}",
                String::from_utf8_lossy(line)
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
