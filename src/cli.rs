//! The command line: flags, `COOKIEGUARD_*` environment variables (a flag
//! wins over its variable, a variable over the config file), and the
//! `check` subcommand.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio::net::TcpListener;
use tracing::info;

use crate::config::{Config, ConfigError, LogFormat, Overrides, Upstream};
use crate::decision::Mode;
use crate::{logging, server, signals};

const ABOUT: &str = "Reverse proxy for Next.js + NextAuth/Auth.js that keeps stale session cookies from reverting session updates";

const LONG_ABOUT: &str = "\
Reverse proxy for Next.js + NextAuth/Auth.js (JWT sessions).

NextAuth re-sends the session cookie on many responses. A request that left
before a session update() and finishes after it writes the OLD session back
into the browser. cookieguard sits in front of the app and removes session
Set-Cookie headers from every response except those of the routes allowed to
change the session (update, sign-in callbacks, sign-out). Everything else
passes through untouched.

With no configuration it listens on 127.0.0.1:8080, forwards to `next start`
on http://127.0.0.1:3000 and uses the NextAuth defaults (base path /api/auth).";

const AFTER_HELP: &str = "\
Examples:
  cookieguard                                   run on the embedded NextAuth defaults
  cookieguard --upstream http://127.0.0.1:3000 --listen 0.0.0.0:8080
  cookieguard --config cookieguard.toml --mode report
  cookieguard check --config cookieguard.toml   validate and print the effective config

Log level: RUST_LOG (default info), e.g. RUST_LOG=cookieguard=debug.
Config reference: config/cookieguard.toml in the source tree.";

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
    /// What to do with session cookies on routes that may not set them [default: strip]
    #[arg(long, env = "COOKIEGUARD_MODE", value_enum, global = true)]
    pub mode: Option<Mode>,
    /// Log line format [default: text]
    #[arg(long, env = "COOKIEGUARD_LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<LogFormat>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Validate the configuration and print the effective configuration (defaults filled in) as TOML
    Check,
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
}

impl Settings {
    fn overrides(&self) -> Overrides {
        Overrides {
            listen: self.listen,
            upstream: self.upstream.clone(),
            mode: self.mode,
            log_format: self.log_format,
        }
    }
}

pub fn run(cli: Cli) -> Result<(), CliError> {
    let config = Config::load(cli.settings.config.as_deref(), &cli.settings.overrides())?;
    match cli.command {
        Some(Command::Check) => {
            println!("# cookieguard effective configuration (defaults filled in)");
            print!("{}", config.to_toml());
            Ok(())
        }
        None => serve(config),
    }
}

fn serve(config: Config) -> Result<(), CliError> {
    logging::init(config.log_format);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let result = runtime.block_on(async {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| CliError::Bind {
                addr: config.listen,
                source,
            })?;
        let listen = listener.local_addr().unwrap_or(config.listen);
        info!(
            %listen,
            upstream = %config.upstream,
            mode = %config.mode.as_str(),
            allow_rules = config.allow.len(),
            "cookieguard listening"
        );
        server::run(listener, config, signals::shutdown()).await;
        Ok(())
    });
    // Upgraded connections are not drained; do not let them hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    if result.is_ok() {
        info!("stopped");
    }
    result
}
