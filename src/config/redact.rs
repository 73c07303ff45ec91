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

/// Whether the Redis client takes a URL: `redis://`, `rediss://` (TLS),
/// `redis+unix://`, a comma-separated list of those (cluster seed nodes), or
/// `redis+sentinel://host:port[,host:port…]/master[/db]` (`rediss+sentinel://`).
/// Which of these the mode allows is checked with the other settings.
pub fn check_redis_url(url: &str) -> Result<(), String> {
    if url.contains("+sentinel://") {
        return crate::guard::redis::sentinel_target(url, &[], "").map(drop);
    }
    for node in url.split(',') {
        redis::Client::open(node.trim()).map(drop).map_err(|error| {
            format!("not a Redis URL ({error}); expected redis://[user:password@]host:port[/db] or rediss://…")
        })?;
    }
    Ok(())
}

/// The URL with any password replaced, for `cookieguard check` and logs:
/// `redis://user:***@host` and `redis+unix:///path?pass=***`.
pub fn redact_redis_url(url: &str) -> String {
    if url.contains("+sentinel://") {
        // One authority for every sentinel: `user:***@h1:p1,h2:p2`.
        return redact_one(url);
    }
    url.split(',').map(redact_one).collect::<Vec<_>>().join(",")
}

fn redact_one(url: &str) -> String {
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
