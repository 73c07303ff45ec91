//! Path normalisation and pattern matching: never panics, normalised paths
//! have no dot segments, and normalising twice changes nothing when the
//! first pass left no escapes.
#![no_main]

use cookieguard::policy::{PathPattern, normalise_path};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let (pattern, path) = text.split_once('\n').unwrap_or((text, "/"));
    let normalised = normalise_path(path);
    if path.starts_with('/') {
        for segment in normalised.split(|&b| b == b'/') {
            assert!(segment != b"." && segment != b"..", "{path:?}");
        }
        if let Ok(once) = std::str::from_utf8(&normalised)
            && !once.contains('%')
        {
            assert_eq!(normalise_path(once).as_ref(), normalised.as_ref());
        }
    }
    if let Ok(pattern) = pattern.parse::<PathPattern>() {
        let _ = pattern.matches(path);
    }
});
