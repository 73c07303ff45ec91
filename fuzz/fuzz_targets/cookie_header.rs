//! Request `Cookie` headers as guard mode reads them: never panics, and a
//! session value hashes the same however it is chunked.
#![no_main]

use std::hash::RandomState;
use std::time::SystemTime;

use cookieguard::session::{RequestCookies, SessionCookieNames, SessionHash, read_exchange};
use http::header::{COOKIE, SET_COOKIE};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// The hash of the session the request carries, as guard mode takes it from
/// an exchange (here, a response that signs the user out).
fn request_session(
    names: &SessionCookieNames,
    cookies: &RequestCookies,
    hasher: &RandomState,
) -> Option<SessionHash> {
    let mut response = HeaderMap::new();
    response.insert(
        SET_COOKIE,
        HeaderValue::from_static("next-auth.session-token=; Max-Age=0"),
    );
    read_exchange(names, cookies, &response, SystemTime::now())?
        .hashes(hasher)
        .0
}

fuzz_target!(|data: &[u8]| {
    let names = SessionCookieNames::new(["next-auth.session-token", "authjs.session-token"]);
    let hasher = RandomState::new();
    let mut headers = HeaderMap::new();
    for part in data.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(part) {
            headers.append(COOKIE, value);
        }
    }
    let _ = request_session(&names, &RequestCookies::from_headers(&headers), &hasher);

    // The same token, whole and in two chunks, hashes alike.
    let token: Vec<u8> = data.iter().copied().filter(|b| b.is_ascii_alphanumeric()).collect();
    if token.is_empty() {
        return;
    }
    let (a, b) = token.split_at(token.len() / 2);
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).unwrap();
    let whole = format!("next-auth.session-token={}", text(&token));
    let chunked = format!("next-auth.session-token.1={}; next-auth.session-token.0={}", text(b), text(a));
    let hash = |cookie: &str| {
        let mut map = HeaderMap::new();
        map.insert(COOKIE, HeaderValue::from_str(cookie).unwrap());
        request_session(&names, &RequestCookies::from_headers(&map), &hasher)
    };
    assert_eq!(hash(&whole), hash(&chunked));
});
