//! What one exchange does to the browser's session: the token the request
//! carried, and the token the browser holds once it has applied the
//! response's session `Set-Cookie` lines in order (a later line for the same
//! name wins; `Max-Age=0` deletes), each with its chunks joined. Plus one
//! fact about the shape: whether the response wrote the same cookie twice
//! with different values, which is what two writers look like (Auth.js
//! middleware's copy of the old session, then the handler's own write).

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::time::SystemTime;

use http::HeaderMap;
use http::header::SET_COOKIE;

use super::names::{SessionCookieNames, set_cookie_value};
use super::profile::CompoundValue;
use super::values::{RequestCookies, SessionHash, SessionWrite, fields, hash_token, is_deletion};

/// A session token: its cookie family (the index of its base name) and its
/// value, chunks joined in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token<'a> {
    pub base: usize,
    pub value: Cow<'a, [u8]>,
}

/// The browser's session before and after one exchange.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange<'a> {
    /// The session the request carried.
    pub before: Option<Token<'a>>,
    /// The session the browser holds after the response.
    pub after: Option<Token<'a>>,
    /// The cookie family the exchange follows (the one written last).
    pub family: usize,
    /// How many session `Set-Cookie` lines the response carries.
    pub lines: usize,
    /// The families the response writes, a bit each (family 63 and above
    /// share the last bit).
    pub families: u64,
    /// The response wrote one session cookie name more than once, with
    /// different values (or a delete and a value).
    pub rewritten: bool,
    /// The session is kept in several cookies: `before` and `after` are
    /// [`CompoundValue`]s.
    pub compound: bool,
}

/// One session `Set-Cookie` line: where it sits in its family, its value,
/// and whether it deletes.
struct Line<'a> {
    base: usize,
    position: u64,
    value: &'a [u8],
    deletes: bool,
}

/// Reads an exchange; `None` when the response writes no session cookie.
/// The family followed is the one the response writes last.
pub fn read_exchange<'a>(
    names: &SessionCookieNames,
    cookies: &'a RequestCookies,
    headers: &'a HeaderMap,
    now: SystemTime,
) -> Option<Exchange<'a>> {
    let mut lines: Vec<Line<'a>> = Vec::new();
    for value in headers.get_all(SET_COOKIE) {
        let bytes = value.as_bytes();
        if let Some((base, position)) = names.locate_set_cookie(bytes) {
            lines.push(Line {
                base,
                position,
                value: set_cookie_value(bytes),
                deletes: is_deletion(bytes, now),
            });
        }
    }
    let families = lines
        .iter()
        .fold(0u64, |mask, line| mask | 1 << line.base.min(63));
    let base = lines
        .iter()
        .rev()
        .find(|line| !line.deletes)
        .or(lines.last())?
        .base;
    let rewritten = lines.iter().enumerate().any(|(i, line)| {
        lines[i + 1..].iter().any(|later| {
            (later.base, later.position) == (line.base, line.position)
                && (later.deletes, later.value) != (line.deletes, line.value)
        })
    });

    // The families whose cookies make up the session: the one written last,
    // or every family of its profile when the profile keeps one session in
    // several cookies (Better Auth's token and cache).
    let members = names.session_families(base);
    let first = members.start;
    let mut held: Vec<(usize, u64, &'a [u8])> = Vec::new();
    for header in cookies.values() {
        for pair in fields(header.as_bytes(), b';') {
            let Some(eq) = memchr::memchr(b'=', pair) else {
                continue;
            };
            let value = pair[eq + 1..].trim_ascii();
            if let Some((b, position)) = names.locate(pair[..eq].trim_ascii(), value)
                && members.contains(&b)
                && !held.iter().any(|&(f, p, _)| (f, p) == (b, position))
            {
                held.push((b, position, value));
            }
        }
    }
    let before = join(first, members.len(), &mut held);
    for line in lines.iter().filter(|line| members.contains(&line.base)) {
        held.retain(|&(family, position, _)| (family, position) != (line.base, line.position));
        if !line.deletes {
            held.push((line.base, line.position, line.value));
        }
    }
    let after = join(first, members.len(), &mut held);
    Some(Exchange {
        before,
        after,
        family: first,
        lines: lines.len(),
        families,
        rewritten,
        compound: members.len() > 1,
    })
}

impl Exchange<'_> {
    /// The session the request carried and what the response writes, hashed
    /// for guard memory: from the tokens this exchange already joined, so a
    /// response's session lines are read once. A token hashes the same
    /// whether it came whole or in chunks.
    pub fn hashes(&self, hasher: &impl BuildHasher) -> (Option<SessionHash>, SessionWrite) {
        let request = self.before.as_ref().map(|token| token.hash(hasher));
        let write = match &self.after {
            Some(token) => SessionWrite::Set(token.hash(hasher)),
            None => SessionWrite::Delete,
        };
        (request, write)
    }
}

impl Exchange<'_> {
    /// For a sign-out of a session kept in several cookies whose request
    /// carried more than its first (Better Auth's token with its cache): the
    /// hash of that first cookie alone, the form in which a request that
    /// left when the browser held nothing else carries the same session.
    /// Guard memory ends it too, so that such a request cannot set the
    /// session again either.
    pub fn anchor_hash(&self, hasher: &impl BuildHasher) -> Option<SessionHash> {
        if !self.compound || self.after.is_some() {
            return None;
        }
        let before = self.before.as_ref()?;
        let mut parts = CompoundValue::parts(&before.value);
        let (index, first) = parts.next()?;
        parts.next()?;
        let mut anchor = CompoundValue::default();
        anchor.push(index, first.iter().copied());
        Some(hash_token(hasher, before.base, &anchor.into_bytes()))
    }
}

impl Token<'_> {
    /// The token's hash under `hasher`: its family, then its bytes.
    pub fn hash(&self, hasher: &impl BuildHasher) -> SessionHash {
        hash_token(hasher, self.base, &self.value)
    }
}

/// The session's parts as one token: one family's parts in chunk order
/// (borrowed when whole), or, for a session of `families` families from
/// `first` on, each family present joined so and framed as a
/// [`CompoundValue`].
fn join<'a>(
    first: usize,
    families: usize,
    parts: &mut [(usize, u64, &'a [u8])],
) -> Option<Token<'a>> {
    if parts.is_empty() {
        return None;
    }
    parts.sort_by_key(|&(family, position, _)| (family, position));
    let value = match parts {
        [(_, _, value)] if families == 1 => Cow::Borrowed(*value),
        _ if families == 1 => Cow::Owned(
            parts
                .iter()
                .flat_map(|(_, _, value)| value.iter().copied())
                .collect(),
        ),
        _ => {
            let mut compound = CompoundValue::default();
            for family in first..first + families {
                let mut whole = parts
                    .iter()
                    .filter(|&&(f, _, _)| f == family)
                    .flat_map(|(_, _, value)| value.iter().copied())
                    .peekable();
                if whole.peek().is_some() {
                    compound.push(family - first, whole);
                }
            }
            Cow::Owned(compound.into_bytes())
        }
    };
    Some(Token { base: first, value })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http::HeaderValue;

    use super::*;

    fn names() -> SessionCookieNames {
        SessionCookieNames::new(["next-auth.session-token", "authjs.session-token"])
    }

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn exchange(
        cookie: &str,
        set_cookies: &[&str],
    ) -> Option<(Option<String>, Option<String>, bool)> {
        let mut request = HeaderMap::new();
        if !cookie.is_empty() {
            request.insert(http::header::COOKIE, HeaderValue::from_str(cookie).unwrap());
        }
        let cookies = RequestCookies::from_headers(&request);
        let mut response = HeaderMap::new();
        for line in set_cookies {
            response.append(SET_COOKIE, HeaderValue::from_str(line).unwrap());
        }
        let text = |t: Option<Token>| t.map(|t| String::from_utf8(t.value.into_owned()).unwrap());
        read_exchange(&names(), &cookies, &response, now())
            .map(|e| (text(e.before), text(e.after), e.rewritten))
    }

    fn some(s: &str) -> Option<String> {
        Some(s.to_owned())
    }

    #[test]
    fn no_session_line_is_no_exchange() {
        assert_eq!(exchange("authjs.session-token=A", &["theme=dark"]), None);
        assert_eq!(exchange("", &[]), None);
    }

    #[test]
    fn refresh_sign_in_and_sign_out() {
        assert_eq!(
            exchange(
                "a=1; authjs.session-token=OLD",
                &["authjs.session-token=NEW; Path=/"]
            ),
            Some((some("OLD"), some("NEW"), false))
        );
        assert_eq!(
            exchange("a=1", &["authjs.session-token=NEW; Path=/"]),
            Some((None, some("NEW"), false))
        );
        assert_eq!(
            exchange(
                "authjs.session-token=OLD",
                &["authjs.session-token=; Max-Age=0; Path=/"]
            ),
            Some((some("OLD"), None, false))
        );
    }

    #[test]
    fn two_writers_are_seen_and_the_last_wins() {
        // v5 update action: the middleware's copy, then the action's write.
        assert_eq!(
            exchange(
                "authjs.session-token=OLD",
                &[
                    "authjs.session-token=COPY; Path=/; SameSite=Lax",
                    "authjs.session-token=NEW; path=/; samesite=lax",
                ]
            ),
            Some((some("OLD"), some("NEW"), true))
        );
        // v5 sign-out action: the copy, then the delete.
        assert_eq!(
            exchange(
                "authjs.session-token=OLD",
                &[
                    "authjs.session-token=COPY",
                    "authjs.session-token=; Max-Age=0"
                ]
            ),
            Some((some("OLD"), None, true))
        );
        // The same line twice is one writer.
        assert_eq!(
            exchange(
                "authjs.session-token=OLD",
                &["authjs.session-token=X", "authjs.session-token=X"]
            ),
            Some((some("OLD"), some("X"), false))
        );
    }

    #[test]
    fn chunks_join_in_order_on_both_sides() {
        assert_eq!(
            exchange(
                "next-auth.session-token.1=DEF; next-auth.session-token.0=ABC",
                &[
                    "next-auth.session-token.0=GHI; Path=/",
                    "next-auth.session-token.1=JKL; Path=/",
                ]
            ),
            Some((some("ABCDEF"), some("GHIJKL"), false))
        );
        // Shrinking to one cookie: the unused chunks are deleted.
        assert_eq!(
            exchange(
                "next-auth.session-token.0=ABC; next-auth.session-token.1=DEF",
                &[
                    "next-auth.session-token.0=; Max-Age=0",
                    "next-auth.session-token.1=; Max-Age=0",
                    "next-auth.session-token=SMALL",
                ]
            ),
            Some((some("ABCDEF"), some("SMALL"), false))
        );
        // A response that deletes one unused chunk leaves the rest held.
        assert_eq!(
            exchange(
                "next-auth.session-token=WHOLE; next-auth.session-token.3=STRAY",
                &["next-auth.session-token.3=; Max-Age=0"]
            ),
            Some((some("WHOLESTRAY"), some("WHOLE"), false))
        );
    }

    #[test]
    fn a_session_in_several_cookies_is_read_as_one_compound_value() {
        use crate::session::profile::{CompoundValue, better_auth::BetterAuth};
        let profile: &'static dyn crate::session::profile::Profile = &BetterAuth;
        let names = SessionCookieNames::from_profiles([(
            profile,
            profile
                .cookie_names()
                .iter()
                .map(|n| n.to_string())
                .collect(),
        )]);
        let mut request = HeaderMap::new();
        request.insert(
            http::header::COOKIE,
            HeaderValue::from_static("better-auth.session_token=T.s; theme=x"),
        );
        let cookies = RequestCookies::from_headers(&request);
        let mut response = HeaderMap::new();
        for line in [
            "better-auth.session_data.1=EF",
            "better-auth.session_data.0=CD",
        ] {
            response.append(SET_COOKIE, HeaderValue::from_static(line));
        }
        let e = read_exchange(&names, &cookies, &response, now()).unwrap();
        let parts = |t: &Option<Token>| -> Vec<(usize, Vec<u8>)> {
            CompoundValue::parts(&t.as_ref().unwrap().value)
                .map(|(i, v)| (i, v.to_vec()))
                .collect()
        };
        // The token alone before; the token and the cache (parts joined) after.
        assert_eq!(parts(&e.before), [(0, b"T.s".to_vec())]);
        assert_eq!(
            parts(&e.after),
            [(0, b"T.s".to_vec()), (2, b"CDEF".to_vec())]
        );
        assert_eq!(e.family, 0, "the session is the profile's first family's");
    }

    #[test]
    fn the_family_written_is_the_one_followed() {
        assert_eq!(
            exchange(
                "next-auth.session-token=V4; authjs.session-token=V5",
                &["authjs.session-token=NEW5"]
            ),
            Some((some("V5"), some("NEW5"), false))
        );
    }
}
