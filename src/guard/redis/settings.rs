//! The Redis store's settings, as the configuration gives them: the URL and
//! mode (single, Cluster, Sentinel), TLS files, and reading a Sentinel URL.

use std::path::PathBuf;
use std::time::Duration;

use redis::{ClientTlsConfig, IntoConnectionInfo, TlsCertificates};

use serde::{Deserialize, Serialize};

/// How the Redis store reaches Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum RedisMode {
    /// One server (or a primary behind one address)
    #[default]
    Single,
    /// Redis Cluster: `redis_url` lists seed nodes, comma-separated
    Cluster,
    /// A primary found (and found again after a failover) through Sentinel
    Sentinel,
}

/// The Redis store's settings, as the configuration gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]`, `rediss://…` (TLS) or
    /// `redis+unix:///path`; in cluster mode one or more seed nodes separated
    /// by commas; in sentinel mode `redis+sentinel://host:port[,…]/master[/db]`
    /// (`rediss+sentinel://` for TLS), or empty with `sentinels`.
    pub url: String,
    /// Every key starts with `{prefix}:`, so several deployments can share
    /// one Redis.
    pub prefix: String,
    /// How long an entry outlives its last use.
    pub ttl: Duration,
    /// The longest a response waits for Redis.
    pub timeout: Duration,
    pub mode: RedisMode,
    pub tls: RedisTls,
    /// Sentinel mode without a `redis+sentinel://` URL: the sentinels' `host:port`.
    pub sentinels: Vec<String>,
    /// The name the sentinels monitor the primary by.
    pub sentinel_master: String,
}

impl RedisSettings {
    /// One server, system TLS roots.
    pub fn new(
        url: impl Into<String>,
        prefix: impl Into<String>,
        ttl: Duration,
        timeout: Duration,
    ) -> Self {
        RedisSettings {
            url: url.into(),
            prefix: prefix.into(),
            ttl,
            timeout,
            mode: RedisMode::Single,
            tls: RedisTls::default(),
            sentinels: Vec::new(),
            sentinel_master: String::new(),
        }
    }

    /// The prefix as keys carry it: in cluster mode wrapped in a hash tag
    /// (`{cookieguard}`), unless it has one already, so that every key of
    /// this deployment lives in one slot.
    pub fn key_prefix(&self) -> String {
        if self.mode == RedisMode::Cluster && !has_hash_tag(&self.prefix) {
            format!("{{{}}}", self.prefix)
        } else {
            self.prefix.clone()
        }
    }
}

/// Whether Redis Cluster hashes only part of `key` (a non-empty `{…}`).
fn has_hash_tag(key: &str) -> bool {
    key.find('{')
        .and_then(|open| key[open + 1..].find('}'))
        .is_some_and(|length| length > 0)
}

/// Files for `rediss://`: a private CA instead of the system's roots, and a
/// client certificate with its key for mutual TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedisTls {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

impl RedisTls {
    fn is_default(&self) -> bool {
        *self == RedisTls::default()
    }

    /// The files' contents, as the client takes them; `None` when no file is
    /// named (system roots, no client certificate).
    pub fn certificates(&self) -> Result<Option<TlsCertificates>, String> {
        if self.is_default() {
            return Ok(None);
        }
        let read = |path: &PathBuf, what: &str| {
            std::fs::read(path)
                .map_err(|error| format!("cannot read {what} {}: {error}", path.display()))
        };
        let root_cert = self
            .ca_file
            .as_ref()
            .map(|path| read(path, "redis_ca_file"))
            .transpose()?;
        let client_tls = match (&self.cert_file, &self.key_file) {
            (Some(cert), Some(key)) => Some(ClientTlsConfig {
                client_cert: read(cert, "redis_cert_file")?,
                client_key: read(key, "redis_key_file")?,
            }),
            (None, None) => None,
            _ => return Err("redis_cert_file and redis_key_file go together".to_owned()),
        };
        Ok(Some(TlsCertificates {
            client_tls,
            root_cert,
        }))
    }
}

/// Where the sentinels are and what they watch, from a
/// `redis+sentinel://[user:password@]host:port[,host:port…]/master[/db]` URL
/// or from `sentinels` and `sentinel_master` (with `url`, if any, giving the
/// credentials, database and scheme).
pub struct SentinelTarget {
    pub sentinels: Vec<String>,
    pub master: String,
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
}

/// Parses the sentinel settings; the error never repeats the URL.
pub fn sentinel_target(
    url: &str,
    sentinels: &[String],
    master: &str,
) -> Result<SentinelTarget, String> {
    if let Some((scheme, rest)) = url
        .split_once("://")
        .filter(|(scheme, _)| scheme.ends_with("+sentinel"))
    {
        let tls = match scheme {
            "redis+sentinel" => false,
            "rediss+sentinel" => true,
            _ => return Err("expected redis+sentinel:// or rediss+sentinel://".to_owned()),
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (user_info, hosts) = match authority.rsplit_once('@') {
            Some((user_info, hosts)) => (Some(user_info), hosts),
            None => (None, authority),
        };
        let mut parts = path.trim_start_matches('/').split('/');
        let master = parts.next().unwrap_or_default();
        if master.is_empty() {
            return Err(
                "name the primary: redis+sentinel://host:port[,host:port]/master[/db]".to_owned(),
            );
        }
        let db = match parts.next() {
            None | Some("") => 0,
            Some(db) => db
                .parse()
                .map_err(|_| "the database must be a number".to_owned())?,
        };
        let (username, password) = split_user_info(user_info);
        let sentinels: Vec<String> = hosts.split(',').map(str::to_owned).collect();
        check_sentinels(&sentinels)?;
        return Ok(SentinelTarget {
            sentinels,
            master: master.to_owned(),
            tls,
            username,
            password,
            db,
        });
    }
    if sentinels.is_empty() || master.is_empty() {
        return Err("sentinel mode needs `redis_url = \"redis+sentinel://host:port[,…]/master\"` or `sentinel` and `sentinel_master`".to_owned());
    }
    check_sentinels(sentinels)?;
    let (tls, username, password, db) = if url.is_empty() {
        (false, None, None, 0)
    } else {
        let info = url
            .into_connection_info()
            .map_err(|error| format!("not a Redis URL ({error})"))?;
        let settings = info.redis_settings();
        (
            matches!(info.addr(), redis::ConnectionAddr::TcpTls { .. }),
            settings.username().map(str::to_owned),
            settings.password().map(str::to_owned),
            settings.db(),
        )
    };
    Ok(SentinelTarget {
        sentinels: sentinels.to_vec(),
        master: master.to_owned(),
        tls,
        username,
        password,
        db,
    })
}

fn split_user_info(user_info: Option<&str>) -> (Option<String>, Option<String>) {
    let decode = |text: &str| {
        percent_encoding::percent_decode_str(text)
            .decode_utf8_lossy()
            .into_owned()
    };
    match user_info {
        None => (None, None),
        Some(info) => match info.split_once(':') {
            Some((user, password)) => (
                (!user.is_empty()).then(|| decode(user)),
                Some(decode(password)),
            ),
            None => ((!info.is_empty()).then(|| decode(info)), None),
        },
    }
}

fn check_sentinels(sentinels: &[String]) -> Result<(), String> {
    for sentinel in sentinels {
        let port = sentinel
            .rsplit_once(':')
            .and_then(|(host, port)| (!host.is_empty()).then_some(port)?.parse::<u16>().ok());
        if port.is_none() {
            return Err(format!(
                "`{sentinel}` is not a sentinel address like \"sentinel-1:26379\""
            ));
        }
    }
    Ok(())
}
