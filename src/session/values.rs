//! Session cookie values, as guard mode sees them: a request's `Cookie`
//! headers, what a `Set-Cookie` line sets and whether it deletes, and the
//! keyed hash a token (chunks joined, see [`super::exchange`]) is reduced to,
//! so the same token compares equal on both sides and no value is ever kept.

use std::hash::{BuildHasher, Hasher};
use std::time::SystemTime;

use http::HeaderValue;
use http::header::{COOKIE, SET_COOKIE};

use super::names::{SessionCookieNames, set_cookie_name};

/// A 64-bit hash of a canonical session value. In memory, the hash is keyed
/// with random per-process keys (aHash, `Guard::hasher`): hashes mean nothing
/// outside the process. In a shared store every replica must compute the same
/// hash, so it is [`SharedHasher`]'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SessionHash(pub u64);

/// The session hash replicas agree on: BLAKE3 in key-derivation mode with a
/// fixed context, truncated to 64 bits. aHash cannot serve here: its output
/// differs between CPUs (AES-NI or not) and crate versions. BLAKE3 gives the
/// same digest on every platform, is one-way (a shared store holds no value
/// that leads back to a token), and hashes a 4 KiB chunk in about a
/// microsecond.
#[derive(Debug, Clone)]
pub struct SharedHasher(blake3::Hasher);

impl Default for SharedHasher {
    fn default() -> Self {
        SharedHasher(blake3::Hasher::new_derive_key(
            "cookieguard 2026-11 session value v1",
        ))
    }
}

impl BuildHasher for SharedHasher {
    type Hasher = SharedHasherState;

    fn build_hasher(&self) -> SharedHasherState {
        SharedHasherState(self.0.clone())
    }
}

pub struct SharedHasherState(blake3::Hasher);

impl Hasher for SharedHasherState {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        let digest = self.0.finalize();
        let mut first = [0; 8];
        first.copy_from_slice(&digest.as_bytes()[..8]);
        u64::from_le_bytes(first)
    }
}

/// The request's `Cookie` header values, kept (cheap reference-counted
/// clones) until the response shows whether they are needed. The first sits
/// inline: a browser sends one `Cookie` header (HTTP/1.1), so keeping it
/// allocates nothing; HTTP/2 clients may split it, and the rest go to a Vec.
#[derive(Debug, Clone, Default)]
pub struct RequestCookies {
    first: Option<HeaderValue>,
    rest: Vec<HeaderValue>,
}

impl RequestCookies {
    pub fn from_headers(headers: &http::HeaderMap) -> RequestCookies {
        let mut values = headers.get_all(COOKIE).iter();
        RequestCookies {
            first: values.next().cloned(),
            rest: values.cloned().collect(),
        }
    }

    /// Every value, in order.
    pub(super) fn values(&self) -> impl Iterator<Item = &HeaderValue> {
        self.first.iter().chain(&self.rest)
    }
}

/// Hashes one token of family `base` (its chunks joined): a marker byte,
/// the family as a fixed-width little-endian number (the bytes must not
/// depend on the platform when replicas share hashes), then the value.
pub(super) fn hash_token(hasher: &impl BuildHasher, base: usize, value: &[u8]) -> SessionHash {
    let mut state = hasher.build_hasher();
    state.write(&[0xff]);
    state.write(&(base as u64).to_le_bytes());
    state.write(value);
    SessionHash(state.finish())
}

/// The pieces of `bytes` between `separator`s, like `split`, but found with a
/// SIMD search: a session token chunk is 4 KiB of bytes to skip over.
pub fn fields(bytes: &[u8], separator: u8) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(bytes);
    std::iter::from_fn(move || {
        let current = rest?;
        match memchr::memchr(separator, current) {
            Some(at) => {
                rest = Some(&current[at + 1..]);
                Some(&current[..at])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// What a response's session `Set-Cookie` lines do to the browser's session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionWrite {
    /// Sets a new value (chunks joined); deletes of unused chunks may ride along.
    Set(SessionHash),
    /// Only deletes (`Max-Age=0` or an `Expires` in the past).
    Delete,
}

/// Whether a `Set-Cookie` line deletes its cookie: `Max-Age` of zero or less
/// (it wins over `Expires`, RFC 6265 §5.3), or an `Expires` in the past.
/// Attribute names are case-insensitive (Next's `cookies().set` writes them
/// differently from NextAuth).
pub fn is_deletion(line: &[u8], now: SystemTime) -> bool {
    let mut expires_past = false;
    for attribute in fields(line, b';').skip(1) {
        let (name, value) = match memchr::memchr(b'=', attribute) {
            Some(eq) => (
                attribute[..eq].trim_ascii(),
                attribute[eq + 1..].trim_ascii(),
            ),
            None => (attribute.trim_ascii(), &b""[..]),
        };
        if name.eq_ignore_ascii_case(b"max-age") {
            if let Some(seconds) = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse::<i64>().ok())
            {
                return seconds <= 0;
            }
        } else if name.eq_ignore_ascii_case(b"expires") {
            expires_past = std::str::from_utf8(value)
                .ok()
                .and_then(|v| httpdate::parse_http_date(v).ok())
                .is_some_and(|at| at <= now);
        }
    }
    expires_past
}

/// Removes all but the last `Set-Cookie` line for each session cookie name
/// (v5 server actions send the middleware's stale copy, then the new one).
/// Other lines keep their order. Returns how many lines were removed.
pub fn collapse_duplicates(names: &SessionCookieNames, headers: &mut http::HeaderMap) -> usize {
    let session_names: Vec<&[u8]> = headers
        .get_all(SET_COOKIE)
        .iter()
        .filter(|v| names.is_session_set_cookie(v))
        .map(|v| set_cookie_name(v.as_bytes()))
        .collect();
    let has_duplicates = session_names
        .iter()
        .enumerate()
        .any(|(i, name)| session_names[i + 1..].contains(name));
    if !has_duplicates {
        return 0;
    }
    let all: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
    let keep: Vec<bool> = all
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let name = set_cookie_name(value.as_bytes());
            !names.is_session_set_cookie(value)
                || !all[i + 1..]
                    .iter()
                    .any(|later| set_cookie_name(later.as_bytes()) == name)
        })
        .collect();
    headers.remove(SET_COOKIE);
    let mut removed = 0;
    for (value, keep) in all.into_iter().zip(keep) {
        if keep {
            headers.append(SET_COOKIE, value);
        } else {
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use std::hash::RandomState;
    use std::time::Duration;

    use http::HeaderMap;

    use super::*;

    fn names() -> SessionCookieNames {
        SessionCookieNames::new(["next-auth.session-token", "authjs.session-token"])
    }

    fn cookies(values: &[&str]) -> RequestCookies {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(COOKIE, HeaderValue::from_str(value).unwrap());
        }
        RequestCookies::from_headers(&headers)
    }

    fn set_cookies(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(SET_COOKIE, HeaderValue::from_str(line).unwrap());
        }
        headers
    }

    const NOW: Duration = Duration::from_secs(1_800_000_000);

    fn now() -> SystemTime {
        SystemTime::UNIX_EPOCH + NOW
    }

    /// The request's and the response's hashes, as guard mode takes them
    /// from the exchange; `None` when the response writes no session.
    fn hashes(
        n: &SessionCookieNames,
        request: &[&str],
        response: &[&str],
        hasher: &impl BuildHasher,
    ) -> Option<(Option<SessionHash>, SessionWrite)> {
        let cookies = cookies(request);
        let headers = set_cookies(response);
        super::super::exchange::read_exchange(n, &cookies, &headers, now())
            .map(|exchange| exchange.hashes(hasher))
    }

    /// The hash of the session a request carries (whatever the response writes).
    fn request_hash(
        n: &SessionCookieNames,
        request: &[&str],
        hasher: &impl BuildHasher,
    ) -> Option<SessionHash> {
        hashes(n, request, &["authjs.session-token=; Max-Age=0"], hasher)
            .and_then(|(request, _)| request)
            .or_else(|| {
                hashes(n, request, &["next-auth.session-token=; Max-Age=0"], hasher)
                    .and_then(|(request, _)| request)
            })
    }

    #[test]
    fn the_shared_hash_is_the_same_everywhere() {
        // Replicas on different CPUs and builds must agree: a fixed digest.
        let hasher = SharedHasher::default();
        let found = hashes(
            &names(),
            &["next-auth.session-token.0=abc; next-auth.session-token.1=def"],
            &[
                "next-auth.session-token=abcdef; Path=/",
                "next-auth.session-token.0=; Max-Age=0",
                "next-auth.session-token.1=; Max-Age=0",
            ],
            &hasher,
        );
        assert_eq!(
            found,
            Some((
                Some(SessionHash(GOLDEN)),
                SessionWrite::Set(SessionHash(GOLDEN))
            ))
        );
    }

    const GOLDEN: u64 = 0xf9fe_2b67_2dd9_3fe6;

    #[test]
    fn request_and_response_hash_the_same_token_equally_whole_or_chunked() {
        let hasher = RandomState::new();
        let n = names();
        let whole = request_hash(&n, &["a=1; next-auth.session-token=ABCDEF; b=2"], &hasher);
        let chunked = request_hash(
            &n,
            &[
                "next-auth.session-token.1=DEF",
                "x=1; next-auth.session-token.0=ABC",
            ],
            &hasher,
        );
        assert!(whole.is_some());
        assert_eq!(whole, chunked);
        let written = hashes(
            &n,
            &[],
            &[
                "next-auth.session-token.0=ABC; Path=/",
                "theme=dark",
                "next-auth.session-token.1=DEF; Path=/; Expires=Wed, 21 Oct 2037 07:28:00 GMT",
                "next-auth.session-token.2=; Max-Age=0; Path=/",
            ],
            &hasher,
        );
        assert_eq!(written, Some((None, SessionWrite::Set(whole.unwrap()))));
    }

    #[test]
    fn chunk_order_is_numeric() {
        let hasher = RandomState::new();
        let n = names();
        let parts: Vec<String> = (0..11)
            .map(|i| format!("next-auth.session-token.{i}=p{i}"))
            .collect();
        let mut reversed = parts.clone();
        reversed.reverse();
        let whole = format!(
            "next-auth.session-token={}",
            (0..11).map(|i| format!("p{i}")).collect::<String>()
        );
        let a = request_hash(&n, &[&parts.join("; ")], &hasher);
        let b = request_hash(&n, &[&reversed.join("; ")], &hasher);
        let c = request_hash(&n, &[&whole], &hasher);
        assert!(a.is_some());
        assert_eq!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn different_values_and_names_hash_differently() {
        let hasher = RandomState::new();
        let n = names();
        let a = request_hash(&n, &["next-auth.session-token=A"], &hasher);
        let b = request_hash(&n, &["next-auth.session-token=B"], &hasher);
        let c = request_hash(&n, &["authjs.session-token=A"], &hasher);
        assert!(a.is_some() && c.is_some());
        assert_ne!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn requests_without_a_session_have_none() {
        let hasher = RandomState::new();
        let n = names();
        for header in [
            &[][..],
            &["a=1; next-auth.csrf-token=x"],
            &["next-auth.session-token-x=1"],
            &["next-auth.session-token"],
        ] {
            assert_eq!(request_hash(&n, header, &hasher), None, "{header:?}");
        }
    }

    #[test]
    fn fields_split_like_split() {
        for input in [&b""[..], b";", b"a", b"a;b", b";a;;b;", b"=;=", b"x=1; y=2"] {
            let ours: Vec<&[u8]> = fields(input, b';').collect();
            let std: Vec<&[u8]> = input.split(|&b| b == b';').collect();
            assert_eq!(ours, std, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn deletions() {
        let t = now();
        for line in [
            "a=; Max-Age=0; Path=/",
            "a=; max-age=-1",
            "a=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT",
            "a=x; expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly",
            "a=x; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Max-Age=0",
        ] {
            assert!(is_deletion(line.as_bytes(), t), "{line}");
        }
        for line in [
            "a=x",
            "a=x; Max-Age=3600",
            "a=; Path=/",
            "a=x; Expires=Wed, 21 Oct 2037 07:28:00 GMT",
            "a=x; Expires=nonsense",
            "a=x; Max-Age=nonsense",
            "a=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60",
        ] {
            assert!(!is_deletion(line.as_bytes(), t), "{line}");
        }
    }

    #[test]
    fn a_response_of_only_deletes_is_a_delete() {
        let hasher = RandomState::new();
        let written = hashes(
            &names(),
            &["next-auth.session-token.0=A; next-auth.session-token.1=B"],
            &[
                "next-auth.session-token=; Max-Age=0; Path=/",
                "next-auth.session-token.0=; Max-Age=0",
                "next-auth.session-token.1=; Max-Age=0",
            ],
            &hasher,
        );
        assert_eq!(written.map(|(_, write)| write), Some(SessionWrite::Delete));
        assert_eq!(hashes(&names(), &[], &["a=1"], &hasher), None);
    }

    #[test]
    fn the_last_line_for_a_name_is_the_write() {
        let hasher = RandomState::new();
        let n = names();
        let both = hashes(
            &n,
            &["authjs.session-token=OLD"],
            &[
                "authjs.session-token=OLD; Path=/",
                "authjs.session-token=NEW; path=/; samesite=lax",
            ],
            &hasher,
        );
        let new = request_hash(&n, &["authjs.session-token=NEW"], &hasher);
        assert_eq!(both.map(|(_, write)| write), new.map(SessionWrite::Set));
    }

    #[test]
    fn collapses_duplicate_session_lines_to_the_last() {
        let n = names();
        let mut headers = set_cookies(&[
            "authjs.session-token=OLD; Path=/",
            "theme=dark",
            "theme=light",
            "authjs.session-token=NEW; Path=/",
            "next-auth.session-token.0=X",
        ]);
        assert_eq!(collapse_duplicates(&n, &mut headers), 1);
        let lines: Vec<&str> = headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(
            lines,
            [
                "theme=dark",
                "theme=light",
                "authjs.session-token=NEW; Path=/",
                "next-auth.session-token.0=X"
            ]
        );
        let before = headers.clone();
        assert_eq!(collapse_duplicates(&n, &mut headers), 0);
        assert_eq!(headers, before);
    }
}
