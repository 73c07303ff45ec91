//! The command line: flags, `COOKIEGUARD_*` environment variables (a flag
//! wins over its variable, a variable over the config file), and the
//! `check` subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;
use tracing::{error, info};

use crate::config::{Config, ConfigError, LogFormat, Overrides, RedisMode, StoreKind, Upstream};
use crate::ops::{logging, signals};
use crate::policy::Mode;
use crate::proxy::server;

const ABOUT: &str = "Reverse proxy for Next.js and other Node apps that keep the session in a cookie (NextAuth/Auth.js, Auth0, Better Auth): stale session cookies no longer revert an update or undo a sign-out";

const LONG_ABOUT: &str = "\
Reverse proxy for Next.js and other Node apps that keep the session in a
cookie: NextAuth/Auth.js (JWT sessions), Auth0 (@auth0/nextjs-auth0 v4),
Better Auth (its cookie cache).

These libraries re-send the session cookie on many responses. A request that
left before a session update or a sign-out and finishes after it writes the
OLD session back into the browser. cookieguard sits in front of the app and
removes those stale writes. A write that changes the session (sign-in,
update, sign-out, by the library's routes, server actions or custom routes)
always passes; a refresh of the request's own session is removed outside the
routes allowed to change the session. Everything else passes through untouched.

With the app's secret (AUTH_SECRET / NEXTAUTH_SECRET, AUTH0_SECRET or
BETTER_AUTH_SECRET in cookieguard's environment, or --session-secret-file)
sessions are read and every change is recognised by its claims; without it,
by its shape or its readable value (docs/modes.md). In every mode, no
response in flight signs a user back in after a sign-out.

With no configuration it listens on 127.0.0.1:8080, forwards to `next start`
on http://127.0.0.1:3000 and recognises every shipped session library
(profile): Auth.js / NextAuth (routes at /api/auth and /auth), Auth0 (/auth),
Better Auth (/api/auth). A cookie no profile recognises is never touched
(docs/profiles.md).";

const AFTER_HELP: &str = "\
Examples:
  cookieguard                                   run on the embedded defaults
  cookieguard --upstream http://127.0.0.1:3000 --listen 0.0.0.0:8080
  cookieguard --config cookieguard.toml --mode report
  cookieguard check --config cookieguard.toml   validate and print the effective config
  cookieguard explain --method POST --path /api/auth/session
                                                which rule matches, what happens to the session cookie
  cookieguard healthcheck --admin-listen 127.0.0.1:9901

Log level: RUST_LOG (default info), e.g. RUST_LOG=cookieguard=debug.
Config reference: config/cookieguard.toml and docs/configuration.md in the source tree.";

#[derive(Debug, Parser)]
#[command(name = "cookieguard", version, about = ABOUT, long_about = LONG_ABOUT, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct Settings {
    /// TOML config file; without one the embedded NextAuth defaults apply
    #[arg(
        short,
        long,
        env = "COOKIEGUARD_CONFIG",
        value_name = "FILE",
        global = true
    )]
    pub config: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "COOKIEGUARD_LISTEN", value_name = "ADDR", global = true)]
    pub listen: Option<SocketAddr>,
    /// The Next.js server, an http:// origin [default: http://127.0.0.1:3000]
    #[arg(long, env = "COOKIEGUARD_UPSTREAM", value_name = "URL", global = true)]
    pub upstream: Option<Upstream>,
    /// What to do with refreshes of the session (changes always pass) [default: strip]
    #[arg(long, env = "COOKIEGUARD_MODE", value_enum, global = true)]
    pub mode: Option<Mode>,
    /// Log line format [default: text]
    #[arg(long, env = "COOKIEGUARD_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
    /// Worker threads; 0 = one per CPU core [default: 1]
    #[arg(long, env = "COOKIEGUARD_THREADS", value_name = "N", global = true)]
    pub threads: Option<usize>,
    /// Admin listener for /healthz, /readyz and /metrics [default: off]
    #[arg(
        long,
        env = "COOKIEGUARD_ADMIN_LISTEN",
        value_name = "ADDR",
        global = true
    )]
    pub admin_listen: Option<SocketAddr>,
    /// Where guard mode remembers sessions [default: memory]
    #[arg(long, env = "COOKIEGUARD_GUARD_STORE", value_enum, global = true)]
    pub guard_store: Option<StoreKind>,
    /// Redis for `--guard-store redis`, e.g. redis://:password@redis:6379/0
    #[arg(
        long,
        env = "COOKIEGUARD_REDIS_URL",
        value_name = "URL",
        value_parser = redis_url,
        hide_env_values = true,
        global = true
    )]
    pub redis_url: Option<String>,
    /// How the Redis store reaches Redis: one server, Redis Cluster, or Sentinel [default: single]
    #[arg(long, env = "COOKIEGUARD_REDIS_MODE", value_enum, global = true)]
    pub redis_mode: Option<RedisMode>,
    /// rediss://: PEM file of the CA(s) to trust instead of the system roots
    #[arg(
        long,
        env = "COOKIEGUARD_REDIS_CA_FILE",
        value_name = "FILE",
        global = true
    )]
    pub redis_ca_file: Option<PathBuf>,
    /// rediss:// with mutual TLS: the client certificate (PEM); needs --redis-key-file
    #[arg(
        long,
        env = "COOKIEGUARD_REDIS_CERT_FILE",
        value_name = "FILE",
        global = true
    )]
    pub redis_cert_file: Option<PathBuf>,
    /// rediss:// with mutual TLS: the client certificate's private key (PEM)
    #[arg(
        long,
        env = "COOKIEGUARD_REDIS_KEY_FILE",
        value_name = "FILE",
        global = true
    )]
    pub redis_key_file: Option<PathBuf>,
    /// File with the app's AUTH_SECRET / NEXTAUTH_SECRET (one per line, newest first), to read session tokens; without it COOKIEGUARD_SESSION_SECRET, then [session] secret_file, then AUTH_SECRET(_1.._3) / NEXTAUTH_SECRET are used
    #[arg(
        long,
        env = "COOKIEGUARD_SESSION_SECRET_FILE",
        value_name = "FILE",
        global = true
    )]
    pub session_secret_file: Option<PathBuf>,
}

fn redis_url(url: &str) -> Result<String, String> {
    crate::config::check_redis_url(url).map(|()| url.to_owned())
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and print the effective configuration (defaults filled in) as TOML
    Check,
    /// Probe /healthz on the admin listener; exit 0 when healthy, 1 otherwise (for container HEALTHCHECKs)
    Healthcheck,
    /// Show which allow rule a request matches and what happens to a session cookie in its response
    Explain {
        /// Request method
        #[arg(long, default_value = "GET")]
        method: String,
        /// Request path, with the query if it matters (e.g. "/api/x?companyId=1")
        #[arg(long)]
        path: String,
        /// A request header the request carries (repeatable), e.g. --header next-action
        #[arg(long = "header", value_name = "NAME")]
        headers: Vec<String>,
    },
}

/// Why the binary stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Usage(String),
    #[error("unhealthy: {0}")]
    Unhealthy(String),
}

impl Settings {
    fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            upstream: self.upstream.clone(),
            mode: self.mode,
            log_format: self.log_format,
            admin_listen: self.admin_listen,
            threads: self.threads,
            guard_store: self.guard_store,
            redis_url: self.redis_url.clone(),
            redis_mode: self.redis_mode,
            redis_ca_file: self.redis_ca_file.clone(),
            redis_cert_file: self.redis_cert_file.clone(),
            redis_key_file: self.redis_key_file.clone(),
            session_secret_file: self.session_secret_file.clone(),
        }
    }
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    let config = Config::load(cli.settings.config.as_deref(), &cli.settings.overrides())?;
    let settings = cli.settings;
    match cli.command {
        Some(Command::Check) => {
            println!("# cookieguard effective configuration (defaults filled in)");
            print!("{}", config.to_toml());
            println!("# session secret: {}", config.session.secrets.describe());
            println!(
                "# the profiles in effect ([session] profiles; every shipped one by default):"
            );
            for profile in config.profiles() {
                print!("{}", profile.describe(config.allow.is_none()));
            }
            Ok(())
        }
        Some(Command::Healthcheck) => healthcheck(&config),
        Some(Command::Explain {
            method,
            path,
            headers,
        }) => {
            print!("{}", explain_request(&config, &method, &path, &headers)?);
            Ok(())
        }
        None => serve(config, settings),
    }
}

fn explain_request(
    config: &Config,
    method: &str,
    path: &str,
    headers: &[String],
) -> Result<String, CliError> {
    let method = http::Method::from_bytes(method.as_bytes())
        .map_err(|_| CliError::Usage(format!("`{method}` is not an HTTP method")))?;
    let uri: http::Uri = path
        .parse()
        .ok()
        .filter(|uri: &http::Uri| uri.path().starts_with('/') && uri.authority().is_none())
        .ok_or_else(|| {
            CliError::Usage(format!(
                "`{path}` is not a request path like /api/auth/session"
            ))
        })?;
    let mut map = http::HeaderMap::new();
    for name in headers {
        let name = http::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| CliError::Usage(format!("`{name}` is not a header name")))?;
        map.insert(name, http::HeaderValue::from_static("1"));
    }
    Ok(crate::explain::explain(config, &method, &uri, &map))
}

/// GET /healthz on the admin listener with a plain blocking socket: the
/// container image needs no curl.
fn healthcheck(config: &Config) -> Result<(), CliError> {
    use std::io::{Read, Write};
    let Some(mut addr) = config.admin_listen else {
        return Err(CliError::Unhealthy(
            "admin_listen is not set, so there is no /healthz to probe".to_owned(),
        ));
    };
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let timeout = Duration::from_secs(3);
    let unhealthy =
        |what: &str, error: std::io::Error| CliError::Unhealthy(format!("{what} {addr}: {error}"));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| unhealthy("cannot connect to", e))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| unhealthy("socket", e))?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(|e| unhealthy("socket", e))?;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .map_err(|e| unhealthy("cannot send to", e))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| unhealthy("no answer from", e))?;
    let status_line = answer.split(|&b| b == b'\r').next().unwrap_or_default();
    if status_line.starts_with(b"HTTP/1.1 200 ") {
        println!("healthy: {addr}/healthz answered 200");
        Ok(())
    } else {
        Err(CliError::Unhealthy(format!(
            "{addr}/healthz answered {:?}",
            String::from_utf8_lossy(status_line)
        )))
    }
}

fn serve(config: Config, settings: Settings) -> Result<(), CliError> {
    logging::init(config.log_format);
    // One thread by default: measured with bench/run.sh it costs about 40% less
    // CPU per request than a work-stealing pool on a small machine, and one
    // thread serves tens of thousands of requests per second, far more than
    // the single-threaded Node.js server behind it.
    let mut runtime = match config.threads {
        1 => tokio::runtime::Builder::new_current_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if threads > 1 {
                builder.worker_threads(threads);
            }
            builder
        }
    };
    let runtime = runtime.enable_all().build().map_err(CliError::Runtime)?;
    let result = runtime.block_on(async {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| CliError::Bind {
                addr: config.listen,
                source,
            })?;
        let listen = listener.local_addr().unwrap_or(config.listen);
        let admin = match config.admin_listen {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| CliError::Bind { addr, source })?,
            ),
            None => None,
        };
        let admin_listen = admin.as_ref().and_then(|l| l.local_addr().ok());
        info!(
            %listen,
            admin_listen = admin_listen.map(tracing::field::display),
            upstream = %config.upstream,
            mode = %config.mode.as_str(),
            allow_rules = config.allow_rules().0.len(),
            profiles = %config.session.profiles.join(", "),
            session_secret = %config.session.secrets.describe(),
            "cookieguard listening"
        );
        for profile in config.profiles() {
            if profile.secrets.is_empty() {
                info!(
                    profile = profile.profile.id(),
                    "no session secret for this profile ({}, COOKIEGUARD_SESSION_SECRET or --session-secret-file): sign-in, sign-out and updates on its own routes are recognised by their shape, but a server-action update in an app without middleware, or a custom update route, needs the secret (or an allow rule) to pass",
                    profile.profile.secret_variables().join(", ")
                );
            }
        }
        // SIGHUP re-reads the same file, environment and flags; a bad file is
        // reported and the running configuration stays.
        let (reloads, received) = tokio::sync::mpsc::channel(1);
        let overrides = settings.overrides();
        tokio::spawn(signals::on_hangup(move || {
            match Config::load(settings.config.as_deref(), &overrides) {
                Ok(config) => {
                    let _ = reloads.try_send(config);
                }
                Err(error) => {
                    error!(%error, "configuration reload rejected; the running configuration stays")
                }
            }
        }));
        server::run(listener, admin, config, received, signals::shutdown()).await;
        Ok(())
    });
    // Upgraded connections are not drained; do not let them hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if result.is_ok() {
        info!("stopped");
    }
    result
}
