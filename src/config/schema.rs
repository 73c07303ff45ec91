//! The configuration's schema: every section and key, their defaults (the
//! shipped profiles' own), and the checks a value gets when a file is read. Unknown keys are errors, so a typo never passes silently.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use super::profiles::MovedRoute;
use super::redact::{redacted_redis_url, redis_url};
use super::secrets::ProfileSecrets;
use super::values::{BasePath, Upstream};
use crate::guard::RedisMode;
use crate::policy::{AllowRule, Mode};
use crate::session::profile;

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Where `next start` listens by default.
pub const DEFAULT_UPSTREAM: &str = "http://127.0.0.1:3000";
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
pub const DEFAULT_UPDATE_HEADER: &str = "x-cookieguard-update";

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
    /// How `redis_url` is reached: one server, Redis Cluster (seed nodes,
    /// comma-separated), or a primary found through Sentinel.
    pub redis_mode: RedisMode,
    /// `rediss://`: a PEM file of the CA(s) to trust instead of the system's
    /// roots (a private CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_ca_file: Option<PathBuf>,
    /// `rediss://` with mutual TLS: the client certificate chain (PEM)…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_cert_file: Option<PathBuf>,
    /// …and its private key (PEM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_key_file: Option<PathBuf>,
    /// Sentinel mode without a `redis+sentinel://` URL: the sentinels,
    /// `"host:port"`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sentinel: Vec<String>,
    /// The name the sentinels know the primary by.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sentinel_master: String,
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
            redis_mode: RedisMode::Single,
            redis_ca_file: None,
            redis_cert_file: None,
            redis_key_file: None,
            sentinel: Vec::new(),
            sentinel_master: String::new(),
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
    /// The session libraries cookieguard recognises, by profile id; every
    /// shipped profile when absent.
    #[serde(deserialize_with = "profile_ids", default = "default_profiles")]
    pub profiles: Vec<String>,
    /// Exact base names of the Auth.js session cookie, for an app that
    /// renamed it (`cookies.sessionToken.name`); `name.0`, `name.1`, … match
    /// automatically. Absent: the profile's own names.
    #[serde(
        deserialize_with = "cookie_names",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub cookies: Option<Vec<String>>,
    /// Exact base names of any profile's session cookie, by profile id, for
    /// an app that renamed it (Auth0's `session.cookie.name`). Absent: each
    /// profile's own.
    #[serde(
        deserialize_with = "profile_cookie_names",
        default,
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub profile_cookies: BTreeMap<String, Vec<String>>,
    /// A file with the app's secret (`AUTH_SECRET` / `NEXTAUTH_SECRET`), one
    /// per line, newest first. Without it the environment is looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_file: Option<PathBuf>,
    /// Claims that change on every encode and never make a change, for every
    /// profile. Absent: each profile's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volatile_claims: Option<Vec<String>>,
    /// The secrets found, per profile; not a file key (`check` prints `***`
    /// and the source).
    #[serde(skip)]
    pub secrets: ProfileSecrets,
    /// Routes the app moved with a library's environment variables; read
    /// from the environment, not a file key (`check` prints them).
    #[serde(skip)]
    pub moved_routes: Vec<MovedRoute>,
}

fn default_profiles() -> Vec<String> {
    profile::shipped_ids()
        .into_iter()
        .map(String::from)
        .collect()
}

impl Default for Session {
    fn default() -> Self {
        Self {
            profiles: default_profiles(),
            cookies: None,
            profile_cookies: BTreeMap::new(),
            secret_file: None,
            volatile_claims: None,
            secrets: ProfileSecrets::default(),
            moved_routes: Vec::new(),
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
    /// Time a client has to send its request headers (slowloris guard):
    /// from the accept for a connection's first request, from its first
    /// byte for later ones.
    #[serde(with = "positive_duration")]
    pub client_header: Duration,
    /// How long a keep-alive connection may wait for its next request, from
    /// the end of the previous response. Longer than the idle time of the
    /// connection pools in front (nginx 60 s, Caddy 2 min), so they always
    /// close an idle connection first.
    #[serde(with = "positive_duration")]
    pub client_idle: Duration,
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
            client_idle: Duration::from_secs(150),
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

/// The file as written: what is absent takes its default.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub(super) listen: Option<SocketAddr>,
    pub(super) upstream: Option<Upstream>,
    pub(super) mode: Option<Mode>,
    pub(super) base_path: Option<BasePath>,
    pub(super) log_format: Option<LogFormat>,
    pub(super) access_log: Option<bool>,
    pub(super) admin_listen: Option<SocketAddr>,
    #[serde(default, deserialize_with = "positive_count")]
    pub(super) max_connections: Option<usize>,
    pub(super) threads: Option<usize>,
    pub(super) trusted_proxies: Option<Vec<IpNet>>,
    pub(super) session: Option<Session>,
    pub(super) timeouts: Option<Timeouts>,
    pub(super) guard: Option<GuardSettings>,
    pub(super) allow: Option<Vec<AllowRule>>,
}

fn profile_ids<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    use serde::de::Error;
    let ids = Vec::<String>::deserialize(d)?;
    if ids.is_empty() {
        return Err(D::Error::custom(format!(
            "name at least one profile (an empty list would guard nothing); shipped: {}",
            profile::shipped_ids().join(", ")
        )));
    }
    for (i, id) in ids.iter().enumerate() {
        if profile::find(id).is_none() {
            return Err(D::Error::custom(format!(
                "unknown profile `{id}`; shipped: {}",
                profile::shipped_ids().join(", ")
            )));
        }
        if ids[..i].contains(id) {
            return Err(D::Error::custom(format!("profile `{id}` is named twice")));
        }
    }
    Ok(ids)
}

fn profile_cookie_names<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    use serde::de::Error;
    let by_profile = BTreeMap::<String, Vec<String>>::deserialize(d)?;
    for (id, names) in &by_profile {
        if profile::find(id).is_none() {
            return Err(D::Error::custom(format!(
                "unknown profile `{id}`; shipped: {}",
                profile::shipped_ids().join(", ")
            )));
        }
        check_cookie_names(names).map_err(|e| D::Error::custom(format!("`{id}`: {e}")))?;
    }
    Ok(by_profile)
}

fn cookie_names<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let names = Vec::<String>::deserialize(d)?;
    check_cookie_names(&names).map_err(serde::de::Error::custom)?;
    Ok(Some(names))
}

/// At least one name, each an RFC 6265 cookie-name (an HTTP token).
fn check_cookie_names(names: &[String]) -> Result<(), String> {
    if names.is_empty() {
        return Err("name at least one session cookie (an empty list would guard nothing)".into());
    }
    for name in names {
        let token = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b));
        if !token {
            return Err(format!("`{name}` is not a valid cookie name"));
        }
    }
    Ok(())
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
