//! Values with rules of their own: the upstream origin and the base path
//! of a session library's routes (which places its own allow rules).

use std::fmt;
use std::str::FromStr;

use http::uri::{Authority, Scheme};
use http::{Method, Uri};
use serde::{Deserialize, Serialize};

use crate::policy::{AllowRule, PathPattern};
use crate::session::profile::RouteSpec;

/// The upstream origin: `http://host:port`. Only plain HTTP; TLS ends in front
/// of cookieguard, and the app listens on a private address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    authority: Authority,
}

impl Upstream {
    pub fn authority(&self) -> &Authority {
        &self.authority
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("`{0}` is not a URL: {1}")]
    NotAUrl(String, http::uri::InvalidUri),
    #[error("`{0}` needs a scheme and a host, like http://127.0.0.1:3000")]
    Incomplete(String),
    #[error(
        "`{0}`: only http:// upstreams are supported (end TLS in front of cookieguard, not behind it)"
    )]
    NotHttp(String),
    #[error("`{0}`: the upstream is an origin; a path, query or user info is not allowed")]
    NotAnOrigin(String),
}

impl FromStr for Upstream {
    type Err = UpstreamError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let uri: Uri = text
            .parse()
            .map_err(|e| UpstreamError::NotAUrl(text.to_owned(), e))?;
        let (Some(scheme), Some(authority)) = (uri.scheme(), uri.authority()) else {
            return Err(UpstreamError::Incomplete(text.to_owned()));
        };
        if *scheme != Scheme::HTTP {
            return Err(UpstreamError::NotHttp(text.to_owned()));
        }
        let path_ok = matches!(uri.path(), "" | "/");
        if !path_ok || uri.query().is_some() || authority.as_str().contains('@') {
            return Err(UpstreamError::NotAnOrigin(text.to_owned()));
        }
        if authority.host().is_empty() {
            return Err(UpstreamError::Incomplete(text.to_owned()));
        }
        Ok(Upstream {
            authority: authority.clone(),
        })
    }
}

impl fmt::Display for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "http://{}", self.authority)
    }
}

impl Serialize for Upstream {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Upstream {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a session library's routes are mounted; moves its allow rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BasePath(String);

impl TryFrom<String> for BasePath {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let trimmed = text.trim_end_matches('/');
        if !text.starts_with('/') {
            return Err(format!("base path `{text}` must start with `/`"));
        }
        if text.contains(['*', '?', '#', '%']) || text.split('/').any(|s| s == "." || s == "..") {
            return Err(format!(
                "base path `{text}` must be a plain path like /api/auth (no wildcards, escapes, query or dot segments)"
            ));
        }
        Ok(BasePath(trimmed.to_owned()))
    }
}

impl From<BasePath> for String {
    fn from(base: BasePath) -> String {
        if base.0.is_empty() {
            "/".to_owned()
        } else {
            base.0
        }
    }
}

impl fmt::Display for BasePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "/" } else { &self.0 })
    }
}

impl BasePath {
    /// A library's routes under this base path, as allow rules.
    pub fn rules(&self, routes: &[RouteSpec]) -> Vec<AllowRule> {
        routes
            .iter()
            .map(|route| AllowRule {
                methods: route.methods.map(<[Method]>::to_vec),
                path: PathPattern::from_str(&format!("{}{}", self.0, route.path))
                    .expect("a validated base path makes valid patterns"),
                query: Vec::new(),
                headers: Vec::new(),
            })
            .collect()
    }
}
