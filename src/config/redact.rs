//! Redis URLs: checked when read, and never shown with their password
//! (`cookieguard check` and logs print `***` in its place).

use serde::Deserialize;

/// A Redis URL the client accepts, checked when the file is read (the
/// message never repeats the URL: it may hold a password).
pub(super) fn redis_url<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<String, D::Error> {
    let url = String::deserialize(deserializer)?;
    if url.is_empty() {
        return Ok(url);
    }
    check_redis_url(&url).map_err(serde::de::Error::custom)?;
    Ok(url)
}

/// Whether the Redis client takes a URL; TLS (`rediss://`) is not built in.
pub fn check_redis_url(url: &str) -> Result<(), String> {
    if url.starts_with("rediss://") {
        return Err("rediss:// (TLS) is not supported by this build; use redis:// on a private network or a TLS sidecar".to_owned());
    }
    redis::Client::open(url).map(drop).map_err(|error| {
        format!("not a Redis URL ({error}); expected redis://[user:password@]host:port[/db]")
    })
}

/// The URL with any password replaced, for `cookieguard check` and logs:
/// `redis://user:***@host` and `redis+unix:///path?pass=***`.
pub fn redact_redis_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let mut redacted = match head.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((user_info, host)) => {
                    let user = user_info.split(':').next().unwrap_or_default();
                    format!("{scheme}://{user}:***@{host}{path}")
                }
                None => head.to_owned(),
            }
        }
        None => head.to_owned(),
    };
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some(("pass" | "password", _)) => {
                    format!("{}=***", pair.split('=').next().unwrap_or_default())
                }
                _ => pair.to_owned(),
            })
            .collect();
        redacted.push('?');
        redacted.push_str(&pairs.join("&"));
    }
    redacted
}

pub(super) fn redacted_redis_url<S: serde::Serializer>(
    url: &str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_redis_url(url))
}
