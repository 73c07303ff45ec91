//! Configuration: the TOML schema, the profiles in effect with their
//! defaults, layering (built-in defaults < file < environment < flags) and
//! validation.
//!
//! Every error in a file names the file, the line and column, and the key, so
//! a bad config is fixed without guesswork; nothing listens before the whole
//! configuration is valid.

mod error;
mod profiles;
mod redact;
mod schema;
pub mod secrets;
mod values;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use http::HeaderName;
use ipnet::IpNet;
use serde::Serialize;

pub use error::ConfigError;
use error::{locate_key, parse_file};
pub use profiles::{MovedRoute, ProfileInEffect, resolve_moved_routes};
pub use redact::{check_redis_url, redact_redis_url};
use schema::FileConfig;
pub use schema::{
    DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS, DEFAULT_UPDATE_HEADER, DEFAULT_UPSTREAM,
    GUARD_TTL_MARGIN, GuardSettings, LogFormat, Session, StoreKind, Timeouts,
};
pub use values::{BasePath, Upstream, UpstreamError};

pub use crate::guard::RedisMode;
use crate::guard::redis::RedisTls;
use crate::guard::{Decider, Guard, GuardStore, RedisGuard, RedisSettings};
use crate::policy::{AllowRule, Mode, Policy};
use crate::session::profile;

/// The effective configuration, every default filled in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Config {
    pub listen: SocketAddr,
    pub upstream: Upstream,
    pub mode: Mode,
    /// Pins where every profile's routes are mounted; absent: each profile's
    /// own base paths (Auth.js: `/api/auth` and `/auth`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub base_path: Option<BasePath>,
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
    /// The file's `[[allow]]` rules, for every profile; absent: each
    /// profile's own routes ([`Config::allow_rules`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<AllowRule>>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("default listen address"),
            upstream: DEFAULT_UPSTREAM.parse().expect("default upstream"),
            mode: Mode::default(),
            allow: None,
            base_path: None,
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
    pub redis_mode: Option<RedisMode>,
    pub redis_ca_file: Option<std::path::PathBuf>,
    pub redis_cert_file: Option<std::path::PathBuf>,
    pub redis_key_file: Option<std::path::PathBuf>,
    /// `--session-secret-file`: wins over every other source of the secret.
    pub session_secret_file: Option<std::path::PathBuf>,
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
        let in_effect: Vec<&'static dyn profile::Profile> = config
            .session
            .profiles
            .iter()
            .filter_map(|id| profile::find(id))
            .collect();
        config.session.secrets = secrets::resolve_profiles(
            overrides.session_secret_file.as_deref(),
            config.session.secret_file.as_deref(),
            &in_effect,
            |name| std::env::var(name).ok(),
        )?;
        config.session.moved_routes =
            profiles::resolve_moved_routes(&in_effect, |name| std::env::var(name).ok())?;
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
        if let Some(mode) = overrides.redis_mode {
            self.guard.redis_mode = mode;
        }
        for (file, setting) in [
            (&overrides.redis_ca_file, &mut self.guard.redis_ca_file),
            (&overrides.redis_cert_file, &mut self.guard.redis_cert_file),
            (&overrides.redis_key_file, &mut self.guard.redis_key_file),
        ] {
            if let Some(file) = file {
                *setting = Some(file.clone());
            }
        }
    }

    /// Checks between settings that may come from different layers.
    fn check_combination(&self, file: Option<(&Path, &str)>) -> Result<(), ConfigError> {
        let renamable = profile::renamable().id();
        if self.session.cookies.is_some() && self.session.profile_cookies.contains_key(renamable) {
            return Err(ConfigError::Setting(format!(
                "`session.cookies` and `session.profile_cookies.{renamable}` both name the {} cookies: keep one",
                profile::renamable().name()
            )));
        }
        let at = |key: &str, message: String| -> ConfigError {
            match file.and_then(|(path, source)| {
                locate_key(source, "guard", key).map(|(line, column)| (path, line, column))
            }) {
                Some((path, line, column)) => ConfigError::Invalid {
                    path: path.to_owned(),
                    line,
                    column,
                    key: Some(format!("guard.{key}")),
                    message,
                },
                None => ConfigError::Setting(format!("`guard.{key}`: {message}")),
            }
        };
        let guard = &self.guard;
        let sentinel_keys = !guard.sentinel.is_empty() || !guard.sentinel_master.is_empty();
        if self.guard.store == StoreKind::Redis
            && guard.redis_url.is_empty()
            && !(guard.redis_mode == RedisMode::Sentinel && sentinel_keys)
        {
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
        let url = guard.redis_url.as_str();
        let sentinel_url = url.contains("+sentinel://");
        match guard.redis_mode {
            RedisMode::Single if url.contains(',') || sentinel_url => {
                return Err(at(
                    "redis_url",
                    "one Redis URL in `redis_mode = \"single\"`; a list of nodes needs `redis_mode = \"cluster\"`, a redis+sentinel:// URL `redis_mode = \"sentinel\"`".to_owned(),
                ));
            }
            RedisMode::Cluster if sentinel_url || url.contains("redis+unix://") => {
                return Err(at(
                    "redis_url",
                    "cluster mode takes redis:// or rediss:// seed nodes, comma-separated"
                        .to_owned(),
                ));
            }
            RedisMode::Sentinel if self.guard.store == StoreKind::Redis => {
                let key = if sentinel_url || !sentinel_keys {
                    "redis_url"
                } else {
                    "sentinel"
                };
                crate::guard::redis::sentinel_target(url, &guard.sentinel, &guard.sentinel_master)
                    .map_err(|message| at(key, message))?;
            }
            _ => {}
        }
        if sentinel_keys && guard.redis_mode != RedisMode::Sentinel {
            return Err(at(
                if guard.sentinel.is_empty() {
                    "sentinel_master"
                } else {
                    "sentinel"
                },
                "only used with `redis_mode = \"sentinel\"`".to_owned(),
            ));
        }
        let tls_files = [
            ("redis_ca_file", &guard.redis_ca_file),
            ("redis_cert_file", &guard.redis_cert_file),
            ("redis_key_file", &guard.redis_key_file),
        ];
        for (key, path) in tls_files {
            let Some(path) = path else { continue };
            if !url.contains("rediss") {
                return Err(at(key, "only used with rediss:// (TLS) URLs".to_owned()));
            }
            match std::fs::read(path) {
                Err(error) => {
                    return Err(at(key, format!("cannot read {}: {error}", path.display())));
                }
                Ok(pem) if !pem.windows(11).any(|window| window == b"-----BEGIN ") => {
                    return Err(at(key, format!("{} is not a PEM file", path.display())));
                }
                Ok(_) => {}
            }
        }
        if guard.redis_cert_file.is_some() != guard.redis_key_file.is_some() {
            let key = if guard.redis_cert_file.is_some() {
                "redis_cert_file"
            } else {
                "redis_key_file"
            };
            return Err(at(
                key,
                "`redis_cert_file` and `redis_key_file` go together (mutual TLS)".to_owned(),
            ));
        }
        Ok(())
    }

    /// The effective configuration as TOML, as `cookieguard check` prints it.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("the configuration always serialises")
    }

    /// The pure decision this configuration describes.
    pub fn policy(&self) -> Policy {
        let session = self.session_cookie_names();
        let (allow, allow_profiles) = self.allow_rules();
        let reading = self.session_reading(&session);
        Policy {
            session,
            allow,
            allow_profiles,
            mode: self.mode,
            update_header: (!self.guard.update_header.is_empty()).then(|| {
                HeaderName::from_bytes(self.guard.update_header.as_bytes())
                    .expect("validated when the config was read")
            }),
            reading,
        }
    }

    /// Guard memory, in every mode: guard and report mode judge refreshes
    /// by it; strip mode records only authoritative writes in it, so that no
    /// change from a request a sign-out has ended since signs the user back
    /// in. With a Redis store, call it inside a Tokio runtime (the connection
    /// manager starts there).
    pub fn guard_store(&self) -> Arc<GuardStore> {
        let ttl = self.timeouts.response + GUARD_TTL_MARGIN;
        Arc::new(match self.guard.store {
            StoreKind::Memory => GuardStore::Memory(Guard::new(self.guard.max_entries, ttl)),
            StoreKind::Redis => GuardStore::Redis(Box::new(
                RedisGuard::new(RedisSettings {
                    url: self.guard.redis_url.clone(),
                    prefix: self.guard.redis_prefix.clone(),
                    ttl,
                    timeout: self.guard.redis_timeout,
                    mode: self.guard.redis_mode,
                    tls: RedisTls {
                        ca_file: self.guard.redis_ca_file.clone(),
                        cert_file: self.guard.redis_cert_file.clone(),
                        key_file: self.guard.redis_key_file.clone(),
                    },
                    sentinels: self.guard.sentinel.clone(),
                    sentinel_master: self.guard.sentinel_master.clone(),
                })
                .expect("the Redis URL was validated when the config was read"),
            )),
        })
    }

    /// The decision with its guard memory, as the proxy runs it.
    pub fn decider(&self) -> Decider {
        Decider {
            policy: self.policy(),
            store: self.guard_store(),
        }
    }
}

impl From<FileConfig> for Config {
    fn from(file: FileConfig) -> Self {
        let defaults = Config::default();
        Config {
            listen: file.listen.unwrap_or(defaults.listen),
            upstream: file.upstream.unwrap_or(defaults.upstream),
            mode: file.mode.unwrap_or(defaults.mode),
            allow: file.allow,
            base_path: file.base_path,
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

#[cfg(test)]
mod tests;
