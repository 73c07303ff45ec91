//! Guard mode's memory in Redis, shared by every replica, so an update
//! through one replica makes a stale refresh through another one stale.
//!
//! The entries are those of [`crate::guard::memory::GuardState`], with the same
//! meaning and the same expiry (`PX`): `{prefix}:v:{hash}` names a session
//! value's generation, `{prefix}:g:{id}` says whether a generation was
//! superseded and which generation an update started from it, and
//! `{prefix}:next` numbers generations. One Lua script does a whole record or
//! judgement atomically, so a response costs one round trip (`EVALSHA`), and
//! only a response that writes a session costs one at all.
//!
//! Three ways to reach it ([`RedisMode`]): one server (or a primary behind a
//! fixed address), Redis Cluster (every key of a deployment carries one hash
//! tag, so a script's keys share a slot; see docs/redis.md, "Redis Cluster"), and
//! Sentinel (the primary is asked of the sentinels, and again after an error,
//! so a failover is followed). `rediss://` connects with rustls: the system's
//! roots, or a private CA, and optionally a client certificate.
//!
//! Redis being slow or down never fails a request: after a bounded wait a
//! refresh counts as stale and is stripped (the user loses one expiry
//! extension, never an update), an update passes unrecorded, and the outage
//! is logged once when it starts and once when it ends.

mod connect;
mod script;
mod settings;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use redis::RedisResult;
use tracing::{info, warn};

use connect::{
    Backend, Connection, Connector, Managed, cluster, connection_config, is_tls_error,
    not_reachable_at_start, sentinel, single, single_client,
};
use script::{SCRIPT, hex};
pub use settings::{RedisMode, RedisSettings, RedisTls, SentinelTarget, sentinel_target};

use crate::guard::query::GuardQuery;
use crate::policy::{StoreFailure, Verdict};
use crate::session::{SessionWrite, SharedHasher};

pub struct RedisGuard {
    settings: RedisSettings,
    backend: Backend,
    script: redis::Script,
    /// `KEYS[1]` and `ARGV[5]`: the prefix, hash-tagged in cluster mode.
    key_prefix: String,
    next_key: String,
    ttl_ms: String,
    /// Single mode with TLS: the client, for one direct connection attempt
    /// at start that reports a refused certificate.
    probe: Option<redis::Client>,
    hasher: SharedHasher,
    /// Set while Redis is unavailable, so an outage is logged once.
    unavailable: Arc<AtomicBool>,
}

impl std::fmt::Debug for RedisGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("RedisGuard")
            .field("prefix", &self.settings.prefix)
            .field("mode", &self.settings.mode)
            .finish_non_exhaustive()
    }
}

impl Drop for RedisGuard {
    fn drop(&mut self) {
        if let Backend::Managed(managed) = &self.backend {
            managed.closed.store(true, Ordering::Relaxed);
            managed.wake.notify_one();
        }
    }
}

impl RedisGuard {
    /// A store that connects in the background and reconnects by itself; it
    /// does not wait for Redis, so cookieguard starts (and serves) while
    /// Redis is down or its certificate is refused. Must be called inside a
    /// Tokio runtime. Errs only on a URL the client does not take.
    pub fn new(settings: RedisSettings) -> RedisResult<RedisGuard> {
        let unavailable = Arc::new(AtomicBool::new(false));
        let script = redis::Script::new(SCRIPT);
        let key_prefix = settings.key_prefix();
        let mut probe = None;
        let backend = match settings.tls.certificates() {
            Err(reason) => Backend::Unusable(reason),
            Ok(certificates) => match settings.mode {
                RedisMode::Single => {
                    let client = single_client(&settings, certificates)?;
                    if settings.url.starts_with("rediss://") {
                        probe = Some(client.clone());
                    }
                    Backend::Single(single(client)?)
                }
                RedisMode::Cluster => Backend::Managed(Managed::start(
                    Connector::Cluster(Box::new(cluster(&settings, certificates)?)),
                    &script,
                    &key_prefix,
                    &unavailable,
                )),
                RedisMode::Sentinel => Backend::Managed(Managed::start(
                    Connector::Sentinel(Box::new(sentinel(&settings, certificates)?)),
                    &script,
                    &key_prefix,
                    &unavailable,
                )),
            },
        };
        let guard = RedisGuard {
            ttl_ms: settings.ttl.as_millis().to_string(),
            next_key: format!("{key_prefix}:next"),
            key_prefix,
            settings,
            backend,
            probe,
            script,
            hasher: SharedHasher::default(),
            unavailable,
        };
        guard.warm_up();
        Ok(guard)
    }

    /// Connects and loads the script now, in the background: otherwise the
    /// first responses would wait for the connection and a `NOSCRIPT` round
    /// trip, longer than a few milliseconds, and be stripped.
    fn warm_up(&self) {
        let prefix = self.settings.prefix.clone();
        match &self.backend {
            Backend::Single(connection) => {
                let mut connection = connection.clone();
                let probe = self.probe.clone();
                let script = self.script.clone();
                let unavailable = Arc::clone(&self.unavailable);
                tokio::spawn(async move {
                    // The connection manager retries a refused handshake by
                    // itself, hiding why; one direct attempt tells.
                    if let Some(client) = probe
                        && let Err(error) = client
                            .get_multiplexed_async_connection_with_config(&connection_config())
                            .await
                    {
                        not_reachable_at_start(&unavailable, &prefix, &error);
                        return;
                    }
                    match script.prepare_invoke().load_async(&mut connection).await {
                        Ok(_) => info!(%prefix, "guard store: connected to Redis"),
                        Err(error) => not_reachable_at_start(&unavailable, &prefix, &error),
                    }
                });
            }
            // Its task connects and loads the script.
            Backend::Managed(_) => {}
            Backend::Unusable(reason) => {
                self.unavailable.store(true, Ordering::Relaxed);
                warn!(%prefix, %reason, "guard store: cannot use the Redis TLS files; cookieguard serves, strips refreshes as stale and lets updates pass unrecorded; fix the files and restart or reload");
            }
        }
    }

    pub fn hasher(&self) -> &SharedHasher {
        &self.hasher
    }

    pub fn same_place(&self, other: &RedisGuard) -> bool {
        let (a, b) = (&self.settings, &other.settings);
        a.url == b.url
            && a.prefix == b.prefix
            && a.mode == b.mode
            && a.tls == b.tls
            && a.sentinels == b.sentinels
            && a.sentinel_master == b.sentinel_master
    }

    /// Records an update or judges a refresh in Redis, waiting at most the
    /// configured timeout.
    pub async fn judge(&self, query: GuardQuery) -> Verdict {
        // A write for a request without a session creates one (a sign-in):
        // recorded like an update, never judged.
        let op = if query.authoritative || query.request.is_none() {
            "u"
        } else {
            "r"
        };
        let mut invocation = self.script.key(&self.next_key);
        invocation
            .arg(op)
            .arg(query.request.map(hex).unwrap_or_default())
            .arg(match query.write {
                SessionWrite::Set(hash) => hex(hash),
                SessionWrite::Delete => String::new(),
            })
            .arg(&self.ttl_ms)
            .arg(&self.key_prefix);
        let answer = tokio::time::timeout(self.settings.timeout, async {
            match &self.backend {
                Backend::Single(connection) => {
                    invocation
                        .invoke_async::<i64>(&mut connection.clone())
                        .await
                }
                Backend::Managed(managed) => match &*managed.connected().await {
                    Connection::Cluster(connection) => {
                        invocation
                            .invoke_async::<i64>(&mut connection.clone())
                            .await
                    }
                    Connection::Plain(connection) => {
                        invocation
                            .invoke_async::<i64>(&mut connection.clone())
                            .await
                    }
                },
                Backend::Unusable(reason) => Err(redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "unusable TLS files",
                    reason.clone(),
                ))),
            }
        })
        .await;
        match answer {
            Ok(Ok(verdict)) => {
                self.answered();
                match verdict {
                    1 => Verdict::Stale,
                    2 => Verdict::SignedOut,
                    _ => Verdict::Pass,
                }
            }
            Ok(Err(error)) => {
                self.failed(StoreFailure::Error, &error);
                Verdict::Unavailable(StoreFailure::Error)
            }
            Err(_) => {
                self.failed(StoreFailure::Timeout, &"no answer in time");
                Verdict::Unavailable(StoreFailure::Timeout)
            }
        }
    }

    fn answered(&self) {
        if self.unavailable.load(Ordering::Relaxed)
            && self.unavailable.swap(false, Ordering::Relaxed)
        {
            info!(prefix = %self.settings.prefix, "guard store: Redis answers again; guarding resumed");
        }
    }

    fn failed(&self, failure: StoreFailure, error: &dyn std::fmt::Display) {
        if let Backend::Managed(managed) = &self.backend {
            // Sentinel: the primary may have moved; ask again.
            managed.wake.notify_one();
        }
        if !self.unavailable.swap(true, Ordering::Relaxed) {
            let tls = is_tls_error(&error.to_string());
            warn!(
                prefix = %self.settings.prefix,
                tls,
                ?failure,
                timeout = ?self.settings.timeout,
                %error,
                "guard store: Redis unavailable; refreshes are stripped as stale and updates pass unrecorded until it answers"
            );
        }
    }
}
