//! Allow rules: which requests are allowed to change the session.
//!
//! A rule matches on the request method, the normalised path, required query
//! parameters and required headers. Matching is pure (no I/O) and allocates
//! only when the path needs normalising (percent-escapes or dot segments).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use http::{HeaderMap, HeaderName, Method, Uri};
use serde::{Deserialize, Serialize};

/// One `[[allow]]` entry, validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    /// `None` allows any method.
    #[serde(
        default,
        with = "methods_serde",
        skip_serializing_if = "Option::is_none"
    )]
    pub methods: Option<Vec<Method>>,
    pub path: PathPattern,
    /// Query parameter names that must be present (any value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<String>,
    /// Request header names that must be present (any value).
    #[serde(default, with = "headers_serde", skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<HeaderName>,
}

/// The first reason a request does not match a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mismatch<'a> {
    Method,
    Path,
    MissingQuery(&'a str),
    MissingHeader(&'a HeaderName),
}

impl AllowRule {
    /// The methods the rule takes, as `check` and `explain` print them.
    pub fn methods_text(&self) -> String {
        self.methods
            .as_ref()
            .map(|m| m.iter().map(Method::as_str).collect::<Vec<_>>().join("|"))
            .unwrap_or_else(|| "any method".to_owned())
    }

    /// One line: methods, path, and what must be present.
    pub fn summary(&self) -> String {
        let mut text = format!("{} {}", self.methods_text(), self.path);
        for name in &self.query {
            text.push_str(&format!(" ?{name}"));
        }
        for name in &self.headers {
            text.push_str(&format!(" [{name}]"));
        }
        text
    }

    /// Whether a request with these facts matches the rule.
    pub fn matches(&self, method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
        self.first_mismatch(method, uri, headers).is_none()
    }

    /// Why a request does not match (checked cheapest first), or `None` when it does.
    pub fn first_mismatch(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
    ) -> Option<Mismatch<'_>> {
        if let Some(methods) = &self.methods
            && !methods.contains(method)
        {
            return Some(Mismatch::Method);
        }
        if let Some(name) = self
            .headers
            .iter()
            .find(|name| !headers.contains_key(*name))
        {
            return Some(Mismatch::MissingHeader(name));
        }
        if !self.query.is_empty() {
            let query = uri.query().unwrap_or("");
            if let Some(name) = self.query.iter().find(|name| !query_has(query, name)) {
                return Some(Mismatch::MissingQuery(name));
            }
        }
        if !self.path.matches(uri.path()) {
            return Some(Mismatch::Path);
        }
        None
    }
}

/// Whether a raw query string carries a parameter with this name.
fn query_has(query: &str, wanted: &str) -> bool {
    query
        .split('&')
        .map(|pair| pair.split_once('=').map_or(pair, |(name, _)| name))
        .any(|name| {
            if name.contains(['%', '+']) {
                let spaced = name.replace('+', " ");
                percent_encoding::percent_decode_str(&spaced).collect::<Vec<u8>>()
                    == wanted.as_bytes()
            } else {
                name == wanted
            }
        })
}

/// A path pattern: literal segments, `*` for exactly one segment, and a final
/// `**` for any rest (including nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PathPattern {
    source: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    One,
    Rest,
}

/// Why a path pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("path pattern `{0}` must start with `/`")]
    NotAbsolute(String),
    #[error("path pattern `{0}`: `**` may only be the last segment")]
    RestNotLast(String),
    #[error("path pattern `{0}`: `*` must be a whole segment (`/a/*/b`), not part of one")]
    PartialWildcard(String),
    #[error("path pattern `{0}`: `.` and `..` segments never match a normalised path")]
    DotSegment(String),
    #[error("path pattern `{0}`: `?` and `#` do not belong in a path; use `query` for parameters")]
    QueryInPath(String),
}

impl FromStr for PathPattern {
    type Err = PatternError;

    fn from_str(source: &str) -> Result<Self, Self::Err> {
        let owned = || source.to_owned();
        let Some(rest) = source.strip_prefix('/') else {
            return Err(PatternError::NotAbsolute(owned()));
        };
        if source.contains(['?', '#']) {
            return Err(PatternError::QueryInPath(owned()));
        }
        let parts: Vec<&str> = rest.split('/').collect();
        let mut segments = Vec::with_capacity(parts.len());
        for (index, part) in parts.iter().enumerate() {
            let segment = match *part {
                "**" if index + 1 == parts.len() => Segment::Rest,
                "**" => return Err(PatternError::RestNotLast(owned())),
                "*" => Segment::One,
                "." | ".." => return Err(PatternError::DotSegment(owned())),
                literal if literal.contains('*') => {
                    return Err(PatternError::PartialWildcard(owned()));
                }
                literal => {
                    // Patterns compare against decoded paths, so decode them too.
                    let decoded = percent_encoding::percent_decode_str(literal).decode_utf8_lossy();
                    Segment::Literal(decoded.into_owned())
                }
            };
            segments.push(segment);
        }
        Ok(Self {
            source: source.to_owned(),
            segments,
        })
    }
}

impl TryFrom<String> for PathPattern {
    type Error = PatternError;

    fn try_from(source: String) -> Result<Self, Self::Error> {
        source.parse()
    }
}

impl From<PathPattern> for String {
    fn from(pattern: PathPattern) -> String {
        pattern.source
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl PathPattern {
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether a raw request path (as received, before decoding) matches.
    pub fn matches(&self, raw_path: &str) -> bool {
        let path = normalise_path(raw_path);
        let Some(rest) = path.strip_prefix(b"/") else {
            return false;
        };
        let mut segments = rest.split(|&b| b == b'/');
        for expected in &self.segments {
            match expected {
                Segment::Rest => return true,
                Segment::One => match segments.next() {
                    Some(segment) if !segment.is_empty() => {}
                    _ => return false,
                },
                Segment::Literal(literal) => match segments.next() {
                    Some(segment) if segment == literal.as_bytes() => {}
                    _ => return false,
                },
            }
        }
        segments.next().is_none()
    }
}

/// Percent-decodes a path and removes dot segments (RFC 3986 §5.2.4), so that
/// `/api/auth/session/../x` and `/api/auth/%73ession` are judged by what they
/// name. Borrows the input when there is nothing to do, which is the common case.
pub fn normalise_path(raw: &str) -> Cow<'_, [u8]> {
    let has_escape = raw.contains('%');
    let has_dots = raw
        .split('/')
        .any(|segment| segment == "." || segment == "..");
    if !has_escape && !has_dots {
        return Cow::Borrowed(raw.as_bytes());
    }
    let decoded: Cow<'_, [u8]> = percent_encoding::percent_decode_str(raw).into();
    Cow::Owned(remove_dot_segments(&decoded))
}

fn remove_dot_segments(path: &[u8]) -> Vec<u8> {
    let rest = path.strip_prefix(b"/").unwrap_or(path);
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut ends_in_directory = false;
    for segment in rest.split(|&b| b == b'/') {
        ends_in_directory = false;
        match segment {
            b"." => ends_in_directory = true,
            b".." => {
                kept.pop();
                ends_in_directory = true;
            }
            other => kept.push(other),
        }
    }
    let mut out = Vec::with_capacity(path.len() + 1);
    for segment in &kept {
        out.push(b'/');
        out.extend_from_slice(segment);
    }
    if ends_in_directory || out.is_empty() {
        out.push(b'/');
    }
    out
}

/// `methods = ["GET", "POST"]`: HTTP method tokens, case-sensitive as in HTTP.
mod methods_serde {
    use http::Method;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Method>>, D::Error> {
        let names = Vec::<String>::deserialize(d)?;
        if names.is_empty() {
            return Err(D::Error::custom(
                "an empty method list matches nothing; leave `methods` out to allow any method",
            ));
        }
        names
            .iter()
            .map(|name| {
                if name.bytes().any(|b| b.is_ascii_lowercase()) {
                    return Err(D::Error::custom(format!(
                        "method `{name}`: HTTP methods are case-sensitive; write `{}`",
                        name.to_ascii_uppercase()
                    )));
                }
                Method::from_bytes(name.as_bytes())
                    .map_err(|_| D::Error::custom(format!("`{name}` is not an HTTP method token")))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    pub fn serialize<S: Serializer>(
        methods: &Option<Vec<Method>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        let names = methods.iter().flatten().map(Method::as_str);
        s.collect_seq(names)
    }
}

/// `headers = ["next-action"]`: request header names, matched case-insensitively.
mod headers_serde {
    use http::HeaderName;
    use serde::de::Error;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<HeaderName>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|name| {
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| D::Error::custom(format!("`{name}` is not a valid header name")))
            })
            .collect()
    }

    pub fn serialize<S: Serializer>(headers: &[HeaderName], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(headers.iter().map(HeaderName::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(source: &str) -> PathPattern {
        source.parse().unwrap()
    }

    #[test]
    fn normalises_paths() {
        let cases: &[(&str, &str)] = &[
            ("/api/auth/session", "/api/auth/session"),
            ("/api/auth/session/../x", "/api/auth/x"),
            ("/api/auth/./session", "/api/auth/session"),
            ("/api/auth/%73ession", "/api/auth/session"),
            ("/api/auth/session/%2e%2e/x", "/api/auth/x"),
            ("/api/auth/session/%2E%2E", "/api/auth/"),
            ("/api%2Fauth%2Fsession", "/api/auth/session"),
            ("/..", "/"),
            ("/../../a", "/a"),
            ("/a/.", "/a/"),
            ("/a/%zz", "/a/%zz"),
            ("/a/%", "/a/%"),
            ("/", "/"),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                normalise_path(raw).as_ref(),
                expected.as_bytes(),
                "normalising {raw}"
            );
        }
    }

    #[test]
    fn plain_paths_are_borrowed() {
        assert!(matches!(
            normalise_path("/api/auth/session"),
            Cow::Borrowed(_)
        ));
        assert!(matches!(normalise_path("/a.b/..c/.d"), Cow::Borrowed(_)));
    }

    #[test]
    fn exact_patterns() {
        let p = pattern("/api/auth/session");
        assert!(p.matches("/api/auth/session"));
        assert!(p.matches("/api/auth/x/../session"));
        assert!(p.matches("/api/auth/%73ession"));
        assert!(!p.matches("/api/auth/session/"));
        assert!(!p.matches("/api/auth/session/x"));
        assert!(!p.matches("/api/auth/sessions"));
        assert!(!p.matches("/api/auth/Session"));
        assert!(!p.matches("/api/auth/session/../x"));
        assert!(!p.matches("/api/auth"));
        assert!(!p.matches("//api/auth/session"));
        assert!(!p.matches("api/auth/session"));
        assert!(!p.matches("*"));
        assert!(!p.matches(""));
    }

    #[test]
    fn one_segment_wildcard() {
        let p = pattern("/api/auth/callback/*");
        assert!(p.matches("/api/auth/callback/credentials"));
        assert!(p.matches("/api/auth/callback/github"));
        assert!(!p.matches("/api/auth/callback"));
        assert!(!p.matches("/api/auth/callback/"));
        assert!(!p.matches("/api/auth/callback/a/b"));
        assert!(!p.matches("/api/auth/callback/../session"));
        let middle = pattern("/a/*/c");
        assert!(middle.matches("/a/b/c"));
        assert!(!middle.matches("/a//c"));
        assert!(!middle.matches("/a/b/b/c"));
    }

    #[test]
    fn rest_wildcard() {
        let p = pattern("/api/auth/**");
        assert!(p.matches("/api/auth/"));
        assert!(p.matches("/api/auth/session"));
        assert!(p.matches("/api/auth/callback/github"));
        assert!(p.matches("/api/auth"));
        assert!(!p.matches("/api/authx"));
        assert!(!p.matches("/api/auth/../other"));
        let everything = pattern("/**");
        assert!(everything.matches("/"));
        assert!(everything.matches("/anything/at/all"));
    }

    #[test]
    fn encoded_literals_in_patterns() {
        let p = pattern("/caf%C3%A9");
        assert!(p.matches("/caf%c3%a9"));
        assert!(p.matches("/café"));
    }

    #[test]
    fn bad_patterns() {
        let cases: &[(&str, PatternError)] = &[
            ("api/auth", PatternError::NotAbsolute("api/auth".into())),
            ("", PatternError::NotAbsolute(String::new())),
            ("/**/x", PatternError::RestNotLast("/**/x".into())),
            ("/a*", PatternError::PartialWildcard("/a*".into())),
            ("/a/***", PatternError::PartialWildcard("/a/***".into())),
            ("/a/../b", PatternError::DotSegment("/a/../b".into())),
            ("/a?x=1", PatternError::QueryInPath("/a?x=1".into())),
        ];
        for (source, expected) in cases {
            assert_eq!(&source.parse::<PathPattern>().unwrap_err(), expected);
        }
    }

    fn rule(methods: Option<&[&str]>, path: &str, query: &[&str], headers: &[&str]) -> AllowRule {
        AllowRule {
            methods: methods.map(|m| m.iter().map(|m| m.parse().unwrap()).collect()),
            path: pattern(path),
            query: query.iter().map(|q| q.to_string()).collect(),
            headers: headers.iter().map(|h| h.parse().unwrap()).collect(),
        }
    }

    fn request(method: &str, uri: &str, headers: &[&str]) -> (Method, Uri, HeaderMap) {
        let mut map = HeaderMap::new();
        for name in headers {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                "1".parse().unwrap(),
            );
        }
        (method.parse().unwrap(), uri.parse().unwrap(), map)
    }

    #[test]
    fn rule_fields() {
        let r = rule(Some(&["POST"]), "/p", &["companyId"], &["next-action"]);
        let matches = |method, uri, headers: &[&str]| {
            let (m, u, h) = request(method, uri, headers);
            r.matches(&m, &u, &h)
        };
        assert!(matches("POST", "/p?companyId=3", &["next-action"]));
        assert!(matches("POST", "/p?a=1&companyId", &["Next-Action"]));
        assert!(matches("POST", "/p?company%49d=1", &["next-action"]));
        assert!(!matches("GET", "/p?companyId=3", &["next-action"]));
        assert!(!matches("post", "/p?companyId=3", &["next-action"]));
        assert!(!matches("POST", "/p?companyid=3", &["next-action"]));
        assert!(!matches("POST", "/p?xcompanyId=3", &["next-action"]));
        assert!(!matches("POST", "/p", &["next-action"]));
        assert!(!matches("POST", "/p?companyId=3", &[]));
        assert!(!matches("POST", "/q?companyId=3", &["next-action"]));
        // The query string is never confused with the path.
        assert!(!matches("POST", "/q?x=/p&companyId", &["next-action"]));
    }

    #[test]
    fn rule_without_methods_matches_any_method() {
        let r = rule(None, "/p", &[], &[]);
        for method in ["GET", "POST", "DELETE", "PATCH", "HEAD", "CUSTOM"] {
            let (m, u, h) = request(method, "/p", &[]);
            assert!(r.matches(&m, &u, &h), "{method}");
        }
    }

    #[test]
    fn absolute_form_uses_only_the_path() {
        let r = rule(Some(&["POST"]), "/api/auth/session", &[], &[]);
        let (m, u, h) = request("POST", "http://evil.example/api/auth/session", &[]);
        assert!(r.matches(&m, &u, &h));
        let (m, u, h) = request("POST", "http://evil.example/x?/api/auth/session", &[]);
        assert!(!r.matches(&m, &u, &h));
    }
}
