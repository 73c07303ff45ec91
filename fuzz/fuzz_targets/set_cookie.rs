//! `Set-Cookie` lines: name extraction, family position, deletion parsing,
//! and the whole decision in every mode. Must never panic; in strip mode no
//! non-session line may be lost.
#![no_main]

use std::time::SystemTime;

use cookieguard::config::Config;
use cookieguard::policy::Mode;
use cookieguard::session::{is_deletion, set_cookie_name};
use http::header::SET_COOKIE;
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = is_deletion(data, SystemTime::now());
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            headers.append(SET_COOKIE, value);
        }
    }
    for mode in [Mode::Strip, Mode::Guard, Mode::Report] {
        let decider = Config { mode, ..Config::default() }.decider();
        let policy = &decider.policy;
        let _ = policy.session.position(set_cookie_name(data));
        let uri = Uri::from_static("/dashboard");
        let facts = policy.inspect(&Method::GET, &uri, &HeaderMap::new());
        let mut map = headers.clone();
        decider.decide_now(&facts, StatusCode::OK, &mut map);
        if mode == Mode::Strip {
            let kept = |m: &HeaderMap| {
                m.get_all(SET_COOKIE)
                    .iter()
                    .filter(|v| !policy.session.matches(set_cookie_name(v.as_bytes())))
                    .count()
            };
            assert_eq!(kept(&headers), kept(&map));
        }
    }
});
