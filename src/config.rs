//! Configuration: the TOML schema, the embedded NextAuth defaults, layering
//! (built-in defaults < file < environment < flags) and validation.
//!
//! Every error in a file names the file, the line and column, and the key, so
//! a bad config is fixed without guesswork; nothing listens before the whole
//! configuration is valid.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use http::uri::{Authority, Scheme};
use http::{HeaderName, Method, Uri};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::decision::{Mode, Policy, SessionCookieNames};
use crate::guard::Guard;
use crate::guard_redis::{RedisGuard, RedisSettings};
use crate::guard_store::GuardStore;
use crate::routes::{AllowRule, PathPattern};

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Where `next start` listens by default.
pub const DEFAULT_UPSTREAM: &str = "http://127.0.0.1:3000";
/// NextAuth v4 and next-auth v5 mount their routes here.
pub const DEFAULT_BASE_PATH: &str = "/api/auth";
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
pub const DEFAULT_UPDATE_HEADER: &str = "x-cookieguard-update";
/// v4 and v5 session cookie names, plain and with the `__Secure-` prefix used on https.
pub const DEFAULT_SESSION_COOKIES: [&str; 4] = [
    "next-auth.session-token",
    "__Secure-next-auth.session-token",
    "authjs.session-token",
    "__Secure-authjs.session-token",
];

/// The effective configuration, every default filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    pub listen: SocketAddr,
    pub upstream: Upstream,
    pub mode: Mode,
    pub base_path: BasePath,
    pub log_format: LogFormat,
    /// One log line per request (method, path without query, status, duration).
    pub access_log: bool,
    /// Health, readiness and metrics endpoints; off when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_listen: Option<SocketAddr>,
    /// Client connections served at once; further ones wait in the listen backlog.
    pub max_connections: usize,
    /// Worker threads: 1 runs everything on one thread; 0 means one per CPU core.
    pub threads: usize,
    /// Peers (load balancers, TLS terminators) whose `X-Forwarded-*` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    pub session: Session,
    pub timeouts: Timeouts,
    pub guard: GuardSettings,
    pub allow: Vec<AllowRule>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GuardSettings {
    /// Where guard mode remembers sessions: this process, or Redis shared by
    /// every replica.
    pub store: StoreKind,
    /// The Redis server when `store = "redis"`, e.g. `redis://redis:6379/0`;
    /// a password is better given in `COOKIEGUARD_REDIS_URL` than in a file.
    #[serde(
        deserialize_with = "redis_url",
        serialize_with = "redacted_redis_url",
        skip_serializing_if = "String::is_empty"
    )]
    pub redis_url: String,
    /// The longest a response waits for Redis; past it a refresh is stripped
    /// as stale (never an update lost) and the request goes on.
    #[serde(with = "positive_duration")]
    pub redis_timeout: Duration,
    /// Prefix of every Redis key, so deployments can share a Redis.
    pub redis_prefix: String,
    /// Most session values guard mode remembers in memory (least recently
    /// used go first). Redis entries are bounded by their expiry instead.
    pub max_entries: usize,
    /// A response header by which the app marks a response as an authoritative
    /// session write (any mode); removed before the response reaches the
    /// client. Empty: no marker.
    #[serde(deserialize_with = "optional_header_name")]
    pub update_header: String,
}

/// Where guard mode keeps what it remembers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// In this process: for a single replica
    #[default]
    Memory,
    /// In Redis (`guard.redis_url`), shared by every replica
    Redis,
}

impl Default for GuardSettings {
    fn default() -> Self {
        Self {
            store: StoreKind::Memory,
            redis_url: String::new(),
            redis_timeout: Duration::from_millis(5),
            redis_prefix: "cookieguard".to_owned(),
            max_entries: 100_000,
            update_header: DEFAULT_UPDATE_HEADER.to_owned(),
        }
    }
}

/// Guard entries must outlive the slowest request; the margin covers the time
/// between a request's arrival and its forwarding.
pub const GUARD_TTL_MARGIN: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    /// Exact base names; `name.0`, `name.1`, … match automatically.
    #[serde(deserialize_with = "cookie_names")]
    pub cookies: Vec<String>,
}

impl Default for Session {
    fn default() -> Self {
        Self {
            cookies: DEFAULT_SESSION_COOKIES.map(String::from).to_vec(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Timeouts {
    /// TCP connect to the upstream; past it the client gets a 502.
    #[serde(with = "positive_duration")]
    pub connect: Duration,
    /// From sending the request to the upstream's response headers; past it, 504.
    #[serde(with = "positive_duration")]
    pub response: Duration,
    /// Longest silence between two pieces of an upstream response body; past
    /// it the response is aborted (like nginx's `proxy_read_timeout`).
    #[serde(with = "positive_duration")]
    pub body_idle: Duration,
    /// Idle pooled upstream connections are closed after this. Keep it below
    /// Node's 5 s keep-alive timeout so Next.js never closes one under us.
    #[serde(with = "positive_duration")]
    pub pool_idle: Duration,
    /// Time a client has to send its request headers (slowloris guard).
    #[serde(with = "positive_duration")]
    pub client_header: Duration,
    /// On SIGTERM/SIGINT, how long in-flight requests may take to finish.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            response: Duration::from_secs(60),
            body_idle: Duration::from_secs(60),
            pool_idle: Duration::from_secs(4),
            client_header: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log pipelines.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        let base_path = BasePath::default();
        Self {
            listen: DEFAULT_LISTEN.parse().expect("default listen address"),
            upstream: DEFAULT_UPSTREAM.parse().expect("default upstream"),
            mode: Mode::default(),
            allow: base_path.default_allow(),
            base_path,
            log_format: LogFormat::default(),
            access_log: false,
            admin_listen: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            threads: 1,
            trusted_proxies: Vec::new(),
            session: Session::default(),
            timeouts: Timeouts::default(),
            guard: GuardSettings::default(),
        }
    }
}

/// Values given on the command line or in the environment; they win over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub upstream: Option<Upstream>,
    pub mode: Option<Mode>,
    pub log_format: Option<LogFormat>,
    pub admin_listen: Option<SocketAddr>,
    pub threads: Option<usize>,
    pub guard_store: Option<StoreKind>,
    pub redis_url: Option<String>,
}

/// The file as written: what is absent takes its default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<SocketAddr>,
    upstream: Option<Upstream>,
    mode: Option<Mode>,
    base_path: Option<BasePath>,
    log_format: Option<LogFormat>,
    access_log: Option<bool>,
    admin_listen: Option<SocketAddr>,
    #[serde(default, deserialize_with = "positive_count")]
    max_connections: Option<usize>,
    threads: Option<usize>,
    trusted_proxies: Option<Vec<IpNet>>,
    session: Option<Session>,
    timeouts: Option<Timeouts>,
    guard: Option<GuardSettings>,
    allow: Option<Vec<AllowRule>>,
}

impl Config {
    /// Builds the effective configuration from an optional file and overrides.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let source = match file {
            None => None,
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                        path: path.to_owned(),
                        source,
                    })?,
                )
            }
        };
        let from_file = match (file, &source) {
            (Some(path), Some(source)) => parse_file(source, path)?,
            _ => FileConfig::default(),
        };
        let mut config = Config::from(from_file);
        config.apply(overrides);
        config.check_combination(file.zip(source.as_deref()))?;
        Ok(config)
    }

    /// Parses TOML text; `origin` only names the source in errors.
    pub fn from_toml(source: &str, origin: &Path) -> Result<Config, ConfigError> {
        let config = Config::from(parse_file(source, origin)?);
        config.check_combination(Some((origin, source)))?;
        Ok(config)
    }

    fn apply(&mut self, overrides: &Overrides) {
        if let Some(listen) = overrides.listen {
            self.listen = listen;
        }
        if let Some(upstream) = &overrides.upstream {
            self.upstream = upstream.clone();
        }
        if let Some(mode) = overrides.mode {
            self.mode = mode;
        }
        if let Some(log_format) = overrides.log_format {
            self.log_format = log_format;
        }
        if let Some(admin_listen) = overrides.admin_listen {
            self.admin_listen = Some(admin_listen);
        }
        if let Some(threads) = overrides.threads {
            self.threads = threads;
        }
        if let Some(store) = overrides.guard_store {
            self.guard.store = store;
        }
        if let Some(url) = &overrides.redis_url {
            self.guard.redis_url = url.clone();
        }
    }

    /// Checks between settings that may come from different layers.
    fn check_combination(&self, file: Option<(&Path, &str)>) -> Result<(), ConfigError> {
        if self.guard.store == StoreKind::Redis && self.guard.redis_url.is_empty() {
            let message = "`store = \"redis\"` needs `guard.redis_url` (or COOKIEGUARD_REDIS_URL / --redis-url)".to_owned();
            return Err(
                match file.and_then(|(path, source)| {
                    locate_key(source, "guard", "store").map(|(line, column)| (path, line, column))
                }) {
                    Some((path, line, column)) => ConfigError::Invalid {
                        path: path.to_owned(),
                        line,
                        column,
                        key: Some("guard.store".to_owned()),
                        message,
                    },
                    None => ConfigError::Setting(message),
                },
            );
        }
        Ok(())
    }

    /// The effective configuration as TOML, as `cookieguard check` prints it.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the configuration always serialises")
    }

    /// The decision this configuration describes. With a Redis store, call
    /// it inside a Tokio runtime (the connection manager starts there).
    pub fn policy(&self) -> Policy {
        let guard = matches!(self.mode, Mode::Guard | Mode::Report).then(|| {
            let ttl = self.timeouts.response + GUARD_TTL_MARGIN;
            Arc::new(match self.guard.store {
                StoreKind::Memory => GuardStore::Memory(Guard::new(self.guard.max_entries, ttl)),
                StoreKind::Redis => GuardStore::Redis(Box::new(
                    RedisGuard::new(RedisSettings {
                        url: self.guard.redis_url.clone(),
                        prefix: self.guard.redis_prefix.clone(),
                        ttl,
                        timeout: self.guard.redis_timeout,
                    })
                    .expect("the Redis URL was validated when the config was read"),
                )),
            })
        });
        Policy {
            session: SessionCookieNames::new(self.session.cookies.iter().cloned()),
            allow: self.allow.clone(),
            mode: self.mode,
            update_header: (!self.guard.update_header.is_empty()).then(|| {
                HeaderName::from_bytes(self.guard.update_header.as_bytes())
                    .expect("validated when the config was read")
            }),
            guard,
        }
    }
}

impl From<FileConfig> for Config {
    fn from(file: FileConfig) -> Self {
        let defaults = Config::default();
        let base_path = file.base_path.unwrap_or(defaults.base_path);
        Config {
            listen: file.listen.unwrap_or(defaults.listen),
            upstream: file.upstream.unwrap_or(defaults.upstream),
            mode: file.mode.unwrap_or(defaults.mode),
            allow: file.allow.unwrap_or_else(|| base_path.default_allow()),
            base_path,
            log_format: file.log_format.unwrap_or(defaults.log_format),
            access_log: file.access_log.unwrap_or(defaults.access_log),
            admin_listen: file.admin_listen.or(defaults.admin_listen),
            max_connections: file.max_connections.unwrap_or(defaults.max_connections),
            threads: file.threads.unwrap_or(defaults.threads),
            trusted_proxies: file.trusted_proxies.unwrap_or(defaults.trusted_proxies),
            session: file.session.unwrap_or(defaults.session),
            timeouts: file.timeouts.unwrap_or(defaults.timeouts),
            guard: file.guard.unwrap_or(defaults.guard),
        }
    }
}

fn parse_file(source: &str, path: &Path) -> Result<FileConfig, ConfigError> {
    toml::from_str(source).map_err(|error| ConfigError::at(path, source, &error))
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Settings that do not fit together, not all from the file.
    #[error("{0}")]
    Setting(String),
    #[error("{}:{line}:{column}: {}{message}", path.display(), key.as_ref().map(|k| format!("`{k}`: ")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        /// Dotted key path, e.g. `timeouts.connect` or `allow[1].path`.
        key: Option<String>,
        message: String,
    },
}

impl ConfigError {
    fn at(path: &Path, source: &str, error: &toml::de::Error) -> ConfigError {
        let offset = error.span().map_or(0, |span| span.start).min(source.len());
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        ConfigError::Invalid {
            path: path.to_owned(),
            line,
            column,
            key: key_at(source, offset),
            message: error.message().trim_end().to_owned(),
        }
    }
}

/// Where `key` is set inside `[table]`: its line and column.
fn locate_key(source: &str, table: &str, key: &str) -> Option<(usize, usize)> {
    let mut current = String::new();
    for (index, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            current = trimmed
                .trim_matches(|c| c == '[' || c == ']' || c == ' ')
                .to_owned();
        } else if current == table
            && let Some((name, _)) = trimmed.split_once('=')
            && name.trim() == key
        {
            return Some((index + 1, line.len() - trimmed.len() + 1));
        }
    }
    None
}

/// A Redis URL the client accepts, checked when the file is read (the
/// message never repeats the URL: it may hold a password).
fn redis_url<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
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

fn redacted_redis_url<S: serde::Serializer>(url: &str, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&redact_redis_url(url))
}

/// The dotted key whose line holds `offset`: the nearest `key =` at or above
/// it inside the current table, prefixed with the table (`allow[N]` for the
/// N-th array-of-tables entry).
fn key_at(source: &str, offset: usize) -> Option<String> {
    let mut table: Option<String> = None;
    let mut array_counts: Vec<(String, usize)> = Vec::new();
    let mut key: Option<String> = None;
    let mut line_start = 0;
    for line in source.split_inclusive('\n') {
        if line_start > offset {
            break;
        }
        line_start += line.len();
        let trimmed = line.trim();
        if let Some(name) = trimmed
            .strip_prefix("[[")
            .and_then(|r| r.split("]]").next())
        {
            let name = name.trim().to_owned();
            let index = match array_counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count - 1
                }
                None => {
                    array_counts.push((name.clone(), 1));
                    0
                }
            };
            table = Some(format!("{name}[{index}]"));
            key = None;
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = Some(name.trim().to_owned());
            key = None;
        } else if let Some((name, _)) = trimmed.split_once('=') {
            let name = name.trim();
            let bare = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"'));
            if bare && !name.is_empty() {
                key = Some(name.trim_matches('"').to_owned());
            }
        }
    }
    match (table, key) {
        (Some(table), Some(key)) => Some(format!("{table}.{key}")),
        (table, key) => key.or(table),
    }
}

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

/// Where the NextAuth routes are mounted; moves the default allow rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BasePath(String);

impl Default for BasePath {
    fn default() -> Self {
        BasePath(DEFAULT_BASE_PATH.to_owned())
    }
}

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

impl BasePath {
    /// The routes NextAuth uses to change the session: update, sign-in
    /// callbacks (credentials, OAuth, email, WebAuthn) and sign-out.
    pub fn default_allow(&self) -> Vec<AllowRule> {
        let rule = |methods: &[Method], suffix: &str| AllowRule {
            methods: Some(methods.to_vec()),
            path: PathPattern::from_str(&format!("{}{suffix}", self.0))
                .expect("a validated base path makes valid patterns"),
            query: Vec::new(),
            headers: Vec::new(),
        };
        vec![
            rule(&[Method::POST], "/session"),
            rule(&[Method::GET, Method::POST], "/callback/*"),
            rule(&[Method::POST], "/signout"),
        ]
    }
}

fn cookie_names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    use serde::de::Error;
    let names = Vec::<String>::deserialize(d)?;
    if names.is_empty() {
        return Err(D::Error::custom(
            "name at least one session cookie (an empty list would guard nothing)",
        ));
    }
    for name in &names {
        // RFC 6265 cookie-name is an HTTP token.
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
        if !token {
            return Err(D::Error::custom(format!(
                "`{name}` is not a valid cookie name"
            )));
        }
    }
    Ok(names)
}

fn positive_count<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    match usize::deserialize(d)? {
        0 => Err(serde::de::Error::custom("must be at least 1")),
        n => Ok(Some(n)),
    }
}

fn optional_header_name<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let name = String::deserialize(d)?;
    if name.is_empty() {
        return Ok(name);
    }
    HeaderName::from_bytes(name.as_bytes())
        .map(|header| header.as_str().to_owned())
        .map_err(|_| serde::de::Error::custom(format!("`{name}` is not a valid header name")))
}

/// humantime durations (`"4s"`, `"500ms"`, `"1m"`) that must not be zero.
mod positive_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        use serde::de::Error;
        let text = String::deserialize(d)?;
        let duration = humantime::parse_duration(&text).map_err(|e| {
            D::Error::custom(format!(
                "`{text}` is not a duration like \"5s\" or \"500ms\": {e}"
            ))
        })?;
        if duration.is_zero() {
            return Err(D::Error::custom("must be longer than zero"));
        }
        Ok(duration)
    }

    pub fn serialize<S: Serializer>(duration: &Duration, s: S) -> Result<S::Ok, S::Error> {
        humantime_serde::serialize(duration, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../config/cookieguard.toml");

    fn parse(source: &str) -> Result<Config, String> {
        Config::from_toml(source, Path::new("test.toml")).map_err(|e| e.to_string())
    }

    /// The admin port is the one place the shipped file (and the container
    /// image, which uses it) differs from the embedded defaults: off by
    /// default so several instances on one host never fight over a port.
    fn shipped_defaults() -> Config {
        Config {
            admin_listen: Some("127.0.0.1:9901".parse().unwrap()),
            ..Config::default()
        }
    }

    #[test]
    fn shipped_file_equals_compiled_in_defaults() {
        assert_eq!(parse(SHIPPED).unwrap(), shipped_defaults());
    }

    #[test]
    fn shipped_file_sets_every_key() {
        let shipped: toml::Table = toml::from_str(SHIPPED).unwrap();
        let effective: toml::Table = toml::from_str(&shipped_defaults().to_toml()).unwrap();
        assert_eq!(shipped, effective);
    }

    #[test]
    fn empty_file_is_the_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn effective_config_round_trips() {
        let config = parse(
            r#"
            listen = "0.0.0.0:9000"
            upstream = "http://app:3000"
            mode = "report"
            [[allow]]
            path = "/x/**"
            query = ["q"]
            headers = ["Next-Action"]
            "#,
        )
        .unwrap();
        assert_eq!(parse(&config.to_toml()).unwrap(), config);
        assert!(config.to_toml().contains("headers = [\"next-action\"]"));
    }

    #[test]
    fn base_path_moves_the_default_rules() {
        let config = parse("base_path = \"/auth/\"").unwrap();
        let paths: Vec<&str> = config.allow.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(
            paths,
            ["/auth/session", "/auth/callback/*", "/auth/signout"]
        );
        assert_eq!(String::from(config.base_path), "/auth");
        let root = parse("base_path = \"/\"").unwrap();
        let paths: Vec<&str> = root.allow.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/session", "/callback/*", "/signout"]);
    }

    #[test]
    fn allow_list_in_file_replaces_the_defaults() {
        let config = parse("[[allow]]\npath = \"/only\"\n").unwrap();
        assert_eq!(config.allow.len(), 1);
        assert_eq!(config.allow[0].methods, None);
    }

    #[test]
    fn overrides_win() {
        let mut config = parse("listen = \"127.0.0.1:1\"\nmode = \"report\"").unwrap();
        config.apply(&Overrides {
            listen: Some("127.0.0.1:2".parse().unwrap()),
            upstream: Some("http://10.0.0.1:80".parse().unwrap()),
            mode: Some(Mode::Strip),
            log_format: Some(LogFormat::Json),
            admin_listen: Some("127.0.0.1:3".parse().unwrap()),
            threads: Some(0),
            ..Overrides::default()
        });
        assert_eq!(config.threads, 0);
        assert_eq!(config.admin_listen.unwrap().port(), 3);
        assert_eq!(config.listen.port(), 2);
        assert_eq!(config.upstream.to_string(), "http://10.0.0.1:80");
        assert_eq!(config.mode, Mode::Strip);
        assert_eq!(config.log_format, LogFormat::Json);
    }

    #[test]
    fn errors_name_line_column_and_key() {
        let cases: &[(&str, &str)] = &[
            (
                "lisen = \"x\"",
                "test.toml:1:1: `lisen`: unknown field `lisen`",
            ),
            (
                "listen = \"nope\"",
                "test.toml:1:10: `listen`: invalid socket address syntax",
            ),
            (
                "\nupstream = \"https://a:1\"",
                "test.toml:2:12: `upstream`: `https://a:1`: only http:// upstreams are supported",
            ),
            (
                "upstream = \"http://a:1/app\"",
                "test.toml:1:12: `upstream`: `http://a:1/app`: the upstream is an origin",
            ),
            (
                "mode = \"guardx\"",
                "test.toml:1:8: `mode`: unknown variant `guardx`, expected one of `strip`, `guard`, `report`",
            ),
            (
                "[guard]\nupdate_header = \"a b\"",
                "test.toml:2:17: `guard.update_header`: `a b` is not a valid header name",
            ),
            (
                "[guard]\nmax_entries = -1",
                "test.toml:2:15: `guard.max_entries`: invalid value: integer `-1`",
            ),
            (
                "[session]\ncookies = []",
                "test.toml:2:11: `session.cookies`: name at least one session cookie",
            ),
            (
                "[session]\ncookies = [\n  \"ok\",\n  \"bad;name\"\n]",
                "test.toml:2:11: `session.cookies`: `bad;name` is not a valid cookie name",
            ),
            (
                "[session]\ncookie = [\"a\"]",
                "test.toml:2:1: `session.cookie`: unknown field `cookie`",
            ),
            (
                "[timeouts]\nconnect = \"0s\"",
                "test.toml:2:11: `timeouts.connect`: must be longer than zero",
            ),
            (
                "[timeouts]\nresponse = \"soon\"",
                "test.toml:2:12: `timeouts.response`: `soon` is not a duration",
            ),
            (
                "[timeouts]\nresponse = 5",
                "test.toml:2:12: `timeouts.response`: invalid type: integer `5`, expected a string",
            ),
            (
                "[[allow]]\npath = \"/a\"\n[[allow]]\npath = \"/b/**/c\"",
                "test.toml:4:8: `allow[1].path`: path pattern `/b/**/c`: `**` may only be the last segment",
            ),
            (
                "[[allow]]\npath = \"/a\"\nmethods = [\"post\"]",
                "test.toml:3:11: `allow[0].methods`: method `post`: HTTP methods are case-sensitive; write `POST`",
            ),
            (
                "[[allow]]\nmethods = [\"POST\"]",
                "test.toml:1:1: `allow[0]`: missing field `path`",
            ),
            (
                "[[allow]]\npath = \"/a\"\nheaders = [\"bad header\"]",
                "test.toml:3:11: `allow[0].headers`: `bad header` is not a valid header name",
            ),
            (
                "[[allow]]\npath = \"/a\"\nmethod = [\"POST\"]",
                "test.toml:3:1: `allow[0].method`: unknown field `method`",
            ),
            (
                "max_connections = 0",
                "test.toml:1:19: `max_connections`: must be at least 1",
            ),
            (
                "trusted_proxies = [\"10.0.0.0/33\"]",
                "test.toml:1:20: `trusted_proxies`: invalid IP address syntax",
            ),
            (
                "base_path = \"api/auth\"",
                "test.toml:1:13: `base_path`: base path `api/auth` must start with `/`",
            ),
            ("listen = ", "test.toml:1:10: `listen`: "),
            (
                "[guard]\nstore = \"disk\"",
                "test.toml:2:9: `guard.store`: unknown variant `disk`, expected `memory` or `redis`",
            ),
            (
                "mode = \"guard\"\n[guard]\n  store = \"redis\"",
                "test.toml:3:3: `guard.store`: `store = \"redis\"` needs `guard.redis_url`",
            ),
            (
                "[guard]\nredis_url = \"http://r:6379\"",
                "test.toml:2:13: `guard.redis_url`: not a Redis URL",
            ),
            (
                "[guard]\nredis_url = \"rediss://r:6379\"",
                "test.toml:2:13: `guard.redis_url`: rediss:// (TLS) is not supported",
            ),
            (
                "[guard]\nredis_timeout = \"0ms\"",
                "test.toml:2:17: `guard.redis_timeout`: must be longer than zero",
            ),
        ];
        for (source, expected) in cases {
            let error = parse(source).unwrap_err();
            assert!(
                error.starts_with(expected),
                "for {source:?}\n got: {error}\nwant: {expected}"
            );
        }
    }

    #[test]
    fn redis_store_from_file_or_environment() {
        let config =
            parse("[guard]\nstore = \"redis\"\nredis_url = \"redis://127.0.0.1:6390/2\"").unwrap();
        assert_eq!(config.guard.store, StoreKind::Redis);
        assert_eq!(config.guard.redis_url, "redis://127.0.0.1:6390/2");
        let from_flags = Config::load(
            None,
            &Overrides {
                guard_store: Some(StoreKind::Redis),
                redis_url: Some("redis://:pw@r:6379".to_owned()),
                ..Overrides::default()
            },
        )
        .unwrap();
        assert_eq!(from_flags.guard.redis_url, "redis://:pw@r:6379");
        let missing = Config::load(
            None,
            &Overrides {
                guard_store: Some(StoreKind::Redis),
                ..Overrides::default()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            missing.starts_with("`store = \"redis\"` needs `guard.redis_url`"),
            "{missing}"
        );
    }

    #[test]
    fn printed_config_hides_redis_passwords() {
        for (url, shown) in [
            ("redis://r:6379/0", "redis://r:6379/0"),
            ("redis://:s3cret@r:6379/0", "redis://:***@r:6379/0"),
            ("redis://user:s3cret@r:6379", "redis://user:***@r:6379"),
            ("redis://user@r:6379", "redis://user:***@r:6379"),
            (
                "redis+unix:///run/redis.sock?db=1&pass=s3cret",
                "redis+unix:///run/redis.sock?db=1&pass=***",
            ),
        ] {
            assert_eq!(redact_redis_url(url), shown);
        }
        let config = parse("[guard]\nredis_url = \"redis://:s3cret@r:6379\"").unwrap();
        let printed = config.to_toml();
        assert!(
            printed.contains("redis_url = \"redis://:***@r:6379\""),
            "{printed}"
        );
        assert!(!printed.contains("s3cret"));
    }

    #[test]
    fn unreadable_file_is_named() {
        let error = Config::load(
            Some(Path::new("/nonexistent/cg.toml")),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("cannot read config file /nonexistent/cg.toml: "),
            "{error}"
        );
    }

    #[test]
    fn upstream_urls() {
        for good in [
            "http://127.0.0.1:3000",
            "http://app:3000/",
            "http://[::1]:3000",
            "http://app",
        ] {
            assert!(good.parse::<Upstream>().is_ok(), "{good}");
        }
        for bad in [
            "127.0.0.1:3000",
            "ftp://a",
            "http://a/b",
            "http://a?x",
            "http://u@a",
            "",
            "http://",
        ] {
            assert!(bad.parse::<Upstream>().is_err(), "{bad}");
        }
        let upstream: Upstream = "http://app:3000/".parse().unwrap();
        assert_eq!(upstream.to_string(), "http://app:3000");
        assert_eq!(upstream.authority().port_u16(), Some(3000));
    }
}
