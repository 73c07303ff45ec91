//! Configuration: the TOML schema, the embedded NextAuth defaults, layering
//! (built-in defaults < file < environment < flags) and validation.
//!
//! Every error in a file names the file, the line and column, and the key, so
//! a bad config is fixed without guesswork; nothing listens before the whole
//! configuration is valid.

mod error;
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
pub use redact::{check_redis_url, redact_redis_url};
use schema::FileConfig;
pub use schema::{
    DEFAULT_BASE_PATH, DEFAULT_LISTEN, DEFAULT_MAX_CONNECTIONS, DEFAULT_SESSION_COOKIES,
    DEFAULT_UPDATE_HEADER, DEFAULT_UPSTREAM, GUARD_TTL_MARGIN, GuardSettings, LogFormat, Session,
    StoreKind, Timeouts,
};
pub use values::{BasePath, Upstream, UpstreamError};

use crate::guard::{Decider, Guard, GuardStore, RedisGuard, RedisSettings};
use crate::policy::{AllowRule, Mode, Policy, SessionReading};
use crate::session::SessionCookieNames;
use crate::session::token::TokenReader;

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
        config.session.secrets = secrets::resolve(
            overrides.session_secret_file.as_deref(),
            config.session.secret_file.as_deref(),
            |name| std::env::var(name).ok(),
        )?;
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

    /// The pure decision this configuration describes.
    pub fn policy(&self) -> Policy {
        Policy {
            session: SessionCookieNames::new(self.session.cookies.iter().cloned()),
            allow: self.allow.clone(),
            mode: self.mode,
            update_header: (!self.guard.update_header.is_empty()).then(|| {
                HeaderName::from_bytes(self.guard.update_header.as_bytes())
                    .expect("validated when the config was read")
            }),
            // Keys are derived here, once per secret and cookie name.
            reading: (!self.session.secrets.is_empty()).then(|| {
                SessionReading::new(
                    TokenReader::new(&self.session.secrets.secrets, &self.session.cookies),
                    self.session.volatile_claims.clone(),
                )
            }),
        }
    }

    /// Guard memory, in guard and report modes. With a Redis store, call it
    /// inside a Tokio runtime (the connection manager starts there).
    pub fn guard_store(&self) -> Option<Arc<GuardStore>> {
        matches!(self.mode, Mode::Guard | Mode::Report).then(|| {
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

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../config/cookieguard.toml");

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
