//! Header hygiene between client and upstream: hop-by-hop headers (RFC 9110
//! §7.6.1), the forwarding headers NextAuth builds its URLs from, and
//! recognising an upgrade request before its `Connection` header is removed.

use std::net::IpAddr;

use http::header::{CONNECTION, HOST, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE, TRAILER};
use http::header::{TRANSFER_ENCODING, UPGRADE};
use http::{HeaderMap, HeaderName, HeaderValue};

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");
const HOP_BY_HOP_COUNT: usize = 9;

/// Headers that describe one connection and never travel past a proxy.
static HOP_BY_HOP: [HeaderName; HOP_BY_HOP_COUNT] = [
    CONNECTION,
    KEEP_ALIVE,
    PROXY_CONNECTION,
    PROXY_AUTHENTICATE,
    PROXY_AUTHORIZATION,
    TE,
    TRAILER,
    TRANSFER_ENCODING,
    UPGRADE,
];

/// The comma-separated tokens of every `Connection` header, trimmed.
fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|token| !token.is_empty())
}

/// Removes hop-by-hop headers, including every header that `Connection` names.
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names finds which of the nine are present: most
    // messages carry one (`Connection`) or none, and a removal costs a hash
    // of the name and a probe, nine of them per message otherwise.
    let mut present = [false; HOP_BY_HOP_COUNT];
    for name in headers.keys() {
        // A `match` on the text compiles to a switch on the length: cheaper
        // than comparing each name with nine `HeaderName`s.
        let index = match name.as_str() {
            "connection" => 0,
            "keep-alive" => 1,
            "proxy-connection" => 2,
            "proxy-authenticate" => 3,
            "proxy-authorization" => 4,
            "te" => 5,
            "trailer" => 6,
            "transfer-encoding" => 7,
            "upgrade" => 8,
            _ => continue,
        };
        present[index] = true;
    }
    if present == [false; HOP_BY_HOP_COUNT] {
        return;
    }
    if present[0] {
        // Most peers send only `keep-alive`, `close` or `upgrade`, which name
        // no header beyond the standard set: no allocation for them.
        let named: Vec<HeaderName> = connection_tokens(headers)
            .filter(|token| !is_standard_connection_token(token))
            .filter_map(|token| HeaderName::from_bytes(token).ok())
            .collect();
        for name in named {
            // `Connection: host` must not make the request lose its Host.
            if name != HOST {
                headers.remove(&name);
            }
        }
    }
    for (name, present) in HOP_BY_HOP.iter().zip(present) {
        if present {
            headers.remove(name);
        }
    }
}

fn is_standard_connection_token(token: &[u8]) -> bool {
    token.eq_ignore_ascii_case(b"close")
        || HOP_BY_HOP
            .iter()
            .any(|name| token.eq_ignore_ascii_case(name.as_str().as_bytes()))
}

/// The protocol an HTTP/1.1 request asks to upgrade to: `Connection` lists the
/// `upgrade` token (among others: Firefox sends `keep-alive, Upgrade`) and an
/// `Upgrade` header is present.
pub fn requested_upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    let asks = connection_tokens(headers).any(|token| token.eq_ignore_ascii_case(b"upgrade"));
    if !asks {
        return None;
    }
    headers.get(UPGRADE).cloned()
}

/// Whether the upstream's `Upgrade` answer names the protocol the client asked for.
pub fn upgrade_accepted(requested: &HeaderValue, response: &HeaderMap) -> bool {
    let Some(answered) = response.get(UPGRADE) else {
        return false;
    };
    let first_token = |value: &HeaderValue| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .next()
            .map(<[u8]>::trim_ascii)
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    let offered: Vec<Vec<u8>> = requested
        .as_bytes()
        .split(|&b| b == b',')
        .map(|t| t.trim_ascii().to_ascii_lowercase())
        .collect();
    offered.contains(&first_token(answered))
}

/// Puts back the headers that carry an upgrade after hop-by-hop removal.
pub fn set_upgrade(headers: &mut HeaderMap, protocol: HeaderValue) {
    headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(UPGRADE, protocol);
}

/// Sets the forwarding headers. From an untrusted peer the client's own
/// `X-Forwarded-*` values are replaced: anyone could have written them. From a
/// trusted proxy (a load balancer or TLS terminator in `trusted_proxies`) the
/// chain it built is extended with its address, and the protocol and host it
/// saw are kept, so NextAuth sees `https` behind TLS termination.
///
/// `peer` is the peer's address as a header value, made once per connection
/// by [`forwarded_for`].
pub fn set_forwarded(
    headers: &mut HeaderMap,
    peer: &HeaderValue,
    host: Option<&HeaderValue>,
    peer_is_trusted: bool,
) {
    let forwarded_for = peer_is_trusted
        .then(|| extended_chain(headers, peer))
        .flatten()
        .unwrap_or_else(|| peer.clone());
    headers.insert(X_FORWARDED_FOR, forwarded_for);
    if !(peer_is_trusted && headers.contains_key(X_FORWARDED_PROTO)) {
        headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static("http"));
    }
    if !(peer_is_trusted && headers.contains_key(X_FORWARDED_HOST)) {
        match host {
            Some(host) => headers.insert(X_FORWARDED_HOST, host.clone()),
            None => headers.remove(X_FORWARDED_HOST),
        };
    }
}

/// A peer's address as an `X-Forwarded-For` value.
pub fn forwarded_for(peer: IpAddr) -> HeaderValue {
    HeaderValue::try_from(canonical_ip(peer).to_string())
        .expect("an IP address is a valid header value")
}

/// The `X-Forwarded-For` chain a trusted proxy sent, with its own address appended.
fn extended_chain(headers: &HeaderMap, peer: &HeaderValue) -> Option<HeaderValue> {
    let peer = peer.to_str().ok()?;
    let earlier: Vec<&str> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .collect();
    if earlier.is_empty() {
        return None;
    }
    HeaderValue::try_from(format!("{}, {peer}", earlier.join(", "))).ok()
}

/// An IPv4 client on a dual-stack socket shows up as `::ffff:a.b.c.d`.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        headers
    }

    /// Names in sorted order: removal does not keep `HeaderMap`'s order.
    fn names(headers: &HeaderMap) -> Vec<&str> {
        let mut names: Vec<&str> = headers.keys().map(HeaderName::as_str).collect();
        names.sort_unstable();
        names
    }

    #[test]
    fn each_hop_by_hop_header_alone_is_removed() {
        for hop in &HOP_BY_HOP {
            let mut headers = map(&[(hop.as_str(), "x"), ("x-kept", "1")]);
            remove_hop_by_hop(&mut headers);
            assert_eq!(names(&headers), ["x-kept"], "{hop}");
        }
    }

    #[test]
    fn removes_standard_hop_by_hop_headers() {
        let mut headers = map(&[
            ("Connection", "close"),
            ("Keep-Alive", "timeout=5"),
            ("Proxy-Connection", "keep-alive"),
            ("Proxy-Authenticate", "Basic"),
            ("Proxy-Authorization", "Basic eA=="),
            ("TE", "trailers"),
            ("Trailer", "x-checksum"),
            ("Transfer-Encoding", "chunked"),
            ("Upgrade", "websocket"),
            ("Host", "app.example"),
            ("Set-Cookie", "a=1"),
            ("Content-Length", "3"),
        ]);
        remove_hop_by_hop(&mut headers);
        assert_eq!(names(&headers), ["content-length", "host", "set-cookie"]);
    }

    #[test]
    fn removes_headers_named_by_connection_in_any_case_and_spacing() {
        let mut headers = map(&[
            ("Connection", "keep-alive, X-Secret ,x-other"),
            ("Connection", "X-Third"),
            ("x-secret", "1"),
            ("X-Other", "2"),
            ("x-third", "3"),
            ("x-kept", "4"),
        ]);
        remove_hop_by_hop(&mut headers);
        assert_eq!(names(&headers), ["x-kept"]);
    }

    #[test]
    fn connection_cannot_remove_host_and_ignores_bad_tokens() {
        let mut headers = map(&[("Connection", "Host, bad token, , a:b"), ("Host", "a")]);
        headers.append(
            CONNECTION,
            HeaderValue::from_bytes(b"\xff\xfe, x-gone").unwrap(),
        );
        headers.insert("x-gone", HeaderValue::from_static("1"));
        remove_hop_by_hop(&mut headers);
        assert_eq!(names(&headers), ["host"]);
    }

    #[test]
    fn recognises_upgrade_requests() {
        let ws = |connection: &str| {
            requested_upgrade(&map(&[
                ("Connection", connection),
                ("Upgrade", "websocket"),
            ]))
        };
        assert_eq!(ws("Upgrade").unwrap(), "websocket");
        assert_eq!(ws("upgrade").unwrap(), "websocket");
        assert_eq!(ws("keep-alive, Upgrade").unwrap(), "websocket");
        assert!(ws("keep-alive").is_none());
        assert!(ws("upgraded").is_none());
        assert!(requested_upgrade(&map(&[("Connection", "upgrade")])).is_none());
        assert!(requested_upgrade(&map(&[("Upgrade", "websocket")])).is_none());
    }

    #[test]
    fn checks_the_upstream_upgrade_answer() {
        let requested = HeaderValue::from_static("websocket");
        assert!(upgrade_accepted(
            &requested,
            &map(&[("Upgrade", "WebSocket")])
        ));
        assert!(!upgrade_accepted(&requested, &map(&[("Upgrade", "h2c")])));
        assert!(!upgrade_accepted(&requested, &map(&[])));
        let several = HeaderValue::from_static("h2c, websocket");
        assert!(upgrade_accepted(
            &several,
            &map(&[("Upgrade", "websocket")])
        ));
    }

    #[test]
    fn forwarding_headers_replace_what_the_client_sent() {
        let mut headers = map(&[
            ("X-Forwarded-For", "6.6.6.6"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "evil.example"),
        ]);
        let host = HeaderValue::from_static("app.example:8080");
        set_forwarded(
            &mut headers,
            &forwarded_for("203.0.113.9".parse().unwrap()),
            Some(&host),
            false,
        );
        assert_eq!(headers["x-forwarded-for"], "203.0.113.9");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["x-forwarded-host"], "app.example:8080");
        assert_eq!(headers.len(), 3);
        set_forwarded(
            &mut headers,
            &forwarded_for("::ffff:10.1.2.3".parse().unwrap()),
            None,
            false,
        );
        assert_eq!(headers["x-forwarded-for"], "10.1.2.3");
        assert!(!headers.contains_key("x-forwarded-host"));
        set_forwarded(
            &mut headers,
            &forwarded_for("2001:db8::1".parse().unwrap()),
            None,
            false,
        );
        assert_eq!(headers["x-forwarded-for"], "2001:db8::1");
    }

    #[test]
    fn a_trusted_proxy_chain_is_extended_and_its_proto_and_host_kept() {
        let mut headers = map(&[
            ("X-Forwarded-For", "203.0.113.9"),
            ("X-Forwarded-For", "198.51.100.7"),
            ("X-Forwarded-Proto", "https"),
            ("X-Forwarded-Host", "app.example.com"),
        ]);
        let host = HeaderValue::from_static("internal:8080");
        set_forwarded(
            &mut headers,
            &forwarded_for("::ffff:10.0.0.2".parse().unwrap()),
            Some(&host),
            true,
        );
        assert_eq!(
            headers["x-forwarded-for"],
            "203.0.113.9, 198.51.100.7, 10.0.0.2"
        );
        assert_eq!(headers.get_all("x-forwarded-for").iter().count(), 1);
        assert_eq!(headers["x-forwarded-proto"], "https");
        assert_eq!(headers["x-forwarded-host"], "app.example.com");

        // A trusted proxy that sent nothing gets the same headers as anyone.
        let mut bare = HeaderMap::new();
        set_forwarded(
            &mut bare,
            &forwarded_for("10.0.0.2".parse().unwrap()),
            Some(&host),
            true,
        );
        assert_eq!(bare["x-forwarded-for"], "10.0.0.2");
        assert_eq!(bare["x-forwarded-proto"], "http");
        assert_eq!(bare["x-forwarded-host"], "internal:8080");
    }
}
