//! Reaching Redis: one server through the connection manager, a Cluster
//! through the cluster client, or the primary Sentinel names (asked again
//! after an error, so a failover is followed); TLS with rustls. Connections
//! are made in the background: a request never waits for one longer than
//! the store's bounded wait.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use redis::aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{AsyncConnectionConfig, IntoConnectionInfo, RedisResult, TlsCertificates, TlsMode};
use tokio::sync::Notify;
use tracing::{info, warn};

use super::settings::{RedisSettings, sentinel_target};

/// How the store reaches Redis.
pub(super) enum Backend {
    /// One address: the connection manager reconnects to it by itself.
    Single(ConnectionManager),
    /// Cluster and Sentinel: a connection a background task makes, and for
    /// Sentinel remakes (asking the sentinels again) after an error.
    Managed(Arc<Managed>),
    /// Settings that can never connect (an unreadable certificate): every
    /// verdict is unavailable, as with Redis down.
    Unusable(String),
}

pub(super) struct Managed {
    connection: ArcSwapOption<Connection>,
    /// Woken after an error (re-resolve) or when the store is dropped.
    pub(super) wake: Arc<Notify>,
    pub(super) closed: AtomicBool,
}

pub(super) enum Connection {
    Cluster(ClusterConnection),
    Plain(MultiplexedConnection),
}

/// What the background task connects with.
pub(super) enum Connector {
    Cluster(Box<ClusterClient>),
    Sentinel(Box<SentinelClient>),
}

impl Connector {
    pub(super) async fn connect(&mut self) -> RedisResult<Connection> {
        match self {
            Connector::Cluster(client) => {
                let config = redis::cluster::ClusterConfig::new()
                    .set_connection_timeout(Duration::from_secs(1))
                    .set_response_timeout(Duration::from_secs(5));
                client
                    .get_async_connection_with_config(config)
                    .await
                    .map(Connection::Cluster)
            }
            Connector::Sentinel(sentinel) => {
                let client = sentinel.async_get_client().await?;
                client
                    .get_multiplexed_async_connection_with_config(&connection_config())
                    .await
                    .map(Connection::Plain)
            }
        }
    }
}

pub(super) fn connection_config() -> AsyncConnectionConfig {
    AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        // The wait per response is bounded by `timeout`, not here.
        .set_response_timeout(None)
}

/// The start-up warning: a refused certificate is told apart from a Redis
/// that is simply not there yet.
pub(super) fn not_reachable_at_start(
    unavailable: &AtomicBool,
    prefix: &str,
    error: &redis::RedisError,
) {
    let text = error.to_string();
    // A refused certificate is a setting to fix: always said, even when a
    // request already found Redis unavailable.
    let already = unavailable.swap(true, Ordering::Relaxed);
    if is_tls_error(&text) {
        warn!(%prefix, %error, "guard store: TLS with Redis failed (certificate not trusted, wrong host name, or client certificate refused; see guard.redis_ca_file, redis_cert_file, redis_key_file); cookieguard serves, strips refreshes as stale and lets updates pass unrecorded, and retries");
    } else if !already {
        warn!(%prefix, %error, "guard store: Redis not reachable at start; cookieguard serves, strips refreshes as stale and connects when Redis answers");
    }
}

pub(super) fn is_tls_error(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    [
        "certificate",
        "tls",
        "handshake",
        "unknownissuer",
        "peer sent",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

impl Managed {
    /// The connection, once the background task has made one (the caller
    /// bounds the wait).
    pub(super) async fn connected(&self) -> Arc<Connection> {
        loop {
            if let Some(connection) = self.connection.load_full() {
                return connection;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    pub(super) fn start(
        mut connector: Connector,
        script: &redis::Script,
        key_prefix: &str,
        unavailable: &Arc<AtomicBool>,
    ) -> Arc<Managed> {
        let managed = Arc::new(Managed {
            connection: ArcSwapOption::empty(),
            wake: Arc::new(Notify::new()),
            closed: AtomicBool::new(false),
        });
        let weak = Arc::downgrade(&managed);
        let wake = Arc::clone(&managed.wake);
        let script = script.clone();
        let prefix = key_prefix.to_owned();
        let unavailable = Arc::clone(unavailable);
        tokio::spawn(async move {
            let mut first = true;
            loop {
                let Some(managed) = weak.upgrade() else {
                    return;
                };
                if managed.closed.load(Ordering::Relaxed) {
                    return;
                }
                let connected = match connector.connect().await {
                    Ok(connection) => {
                        let loaded = match &connection {
                            Connection::Cluster(c) => {
                                script.prepare_invoke().load_async(&mut c.clone()).await
                            }
                            Connection::Plain(c) => {
                                script.prepare_invoke().load_async(&mut c.clone()).await
                            }
                        };
                        loaded.map(|_| connection)
                    }
                    Err(error) => Err(error),
                };
                match connected {
                    Ok(connection) => {
                        managed.connection.store(Some(Arc::new(connection)));
                        if first {
                            info!(%prefix, "guard store: connected to Redis");
                        }
                        first = false;
                        // Sleep until a verdict fails (or the store goes),
                        // then ask again: at most every 250 ms.
                        drop(managed);
                        wake.notified().await;
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                    Err(error) => {
                        if first {
                            not_reachable_at_start(&unavailable, &prefix, &error);
                            first = false;
                        }
                        drop(managed);
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
            }
        });
        managed
    }
}

pub(super) fn single_client(
    settings: &RedisSettings,
    certificates: Option<TlsCertificates>,
) -> RedisResult<redis::Client> {
    match certificates {
        Some(certificates) => redis::Client::build_with_tls(settings.url.as_str(), certificates),
        None => redis::Client::open(settings.url.as_str()),
    }
}

pub(super) fn single(client: redis::Client) -> RedisResult<ConnectionManager> {
    let config = ConnectionManagerConfig::new()
        // Reconnect attempts: quick first, at most a second apart, so
        // guarding resumes about a second after Redis is back.
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_secs(1))
        .set_connection_timeout(Some(Duration::from_secs(1)))
        // The wait per response is bounded by `timeout`, not here.
        .set_response_timeout(None);
    ConnectionManager::new_lazy_with_config(client, config)
}

pub(super) fn cluster(
    settings: &RedisSettings,
    certificates: Option<TlsCertificates>,
) -> RedisResult<ClusterClient> {
    let nodes: Vec<&str> = settings.url.split(',').map(str::trim).collect();
    let mut builder = ClusterClientBuilder::new(nodes)
        .connection_timeout(Duration::from_secs(1))
        .retries(3)
        .min_retry_wait(10)
        .max_retry_wait(200);
    if let Some(certificates) = certificates {
        builder = builder.certs(certificates);
    }
    builder.build()
}

pub(super) fn sentinel(
    settings: &RedisSettings,
    certificates: Option<TlsCertificates>,
) -> RedisResult<SentinelClient> {
    let invalid = |message: String| {
        redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "sentinel settings",
            message,
        ))
    };
    let target = sentinel_target(
        &settings.url,
        &settings.sentinels,
        &settings.sentinel_master,
    )
    .map_err(invalid)?;
    let scheme = if target.tls { "rediss" } else { "redis" };
    let addresses = target
        .sentinels
        .iter()
        .map(|address| {
            Ok(format!("{scheme}://{address}")
                .into_connection_info()?
                .addr()
                .clone())
        })
        .collect::<RedisResult<Vec<_>>>()?;
    let mut builder =
        SentinelClientBuilder::new(addresses, &target.master, SentinelServerType::Master)?
            .set_client_to_redis_db(target.db);
    if let Some(username) = &target.username {
        builder = builder.set_client_to_redis_username(username);
    }
    if let Some(password) = &target.password {
        builder = builder.set_client_to_redis_password(password);
    }
    if target.tls {
        builder = builder
            .set_client_to_redis_tls_mode(TlsMode::Secure)
            .set_client_to_sentinel_tls_mode(TlsMode::Secure);
        if let Some(certificates) = certificates {
            builder = builder
                .set_client_to_redis_certificates(certificates.clone())
                .set_client_to_sentinel_certificates(certificates);
        }
    }
    builder.build()
}
