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
//! Redis being slow or down never fails a request: after a bounded wait a
//! refresh counts as stale and is stripped (the user loses one expiry
//! extension, never an update), an update passes unrecorded, and the outage
//! is logged once when it starts and once when it ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tracing::{info, warn};

use super::store::GuardQuery;
use crate::policy::{StoreFailure, Verdict};
use crate::session::{SessionHash, SessionWrite, SharedHasher};

/// `ARGV`: operation (`u` record an update, `r` judge a refresh), the
/// request's session hash, the written hash (empty: a delete), the TTL in
/// milliseconds, the key prefix. Returns 1 for stale (for an update: its
/// request's generation was already superseded), 0 otherwise. Mirrors
/// `GuardState::record_update` and `GuardState::judge_refresh` step by step.
const SCRIPT: &str = r#"
local op, request, write, ttl, prefix = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
local function vkey(h) return prefix .. ':v:' .. h end
local function gkey(g) return prefix .. ':g:' .. g end

local function new_generation()
  local g = tostring(redis.call('INCR', prefix .. ':next'))
  redis.call('SET', gkey(g), 'L', 'PX', ttl)
  return g
end

-- A value never seen starts its own live generation (an empty store logs
-- nobody out); looking a value up does not extend its life.
local function generation_of(h)
  local g = redis.call('GET', vkey(h))
  if g then
    if redis.call('EXISTS', gkey(g)) == 0 then
      redis.call('SET', gkey(g), 'L', 'PX', ttl)
    end
    return g
  end
  g = new_generation()
  redis.call('SET', vkey(h), g, 'PX', ttl)
  return g
end

local function touch(h, g)
  redis.call('PEXPIRE', vkey(h), ttl)
  redis.call('PEXPIRE', gkey(g), ttl)
end

if op == 'r' then
  local g = generation_of(request)
  local record = redis.call('GET', gkey(g))
  if record and string.sub(record, 1, 1) == 'S' then
    return 1
  end
  touch(request, g)
  if write ~= '' then
    redis.call('SET', vkey(write), g, 'PX', ttl)
  end
  return 0
end

local parent = false
local stale = 0
if request ~= '' then
  parent = generation_of(request)
  local before = redis.call('GET', gkey(parent))
  if before and string.sub(before, 1, 1) == 'S' then stale = 1 end
  touch(request, parent)
  -- Supersede the generation and the chain later updates started from it.
  local id = parent
  while id do
    local record = redis.call('GET', gkey(id))
    if not record then break end
    local child = string.match(record, ':(%d+)$')
    redis.call('SET', gkey(id), 'S' .. string.sub(record, 2), 'KEEPTTL')
    if child and tonumber(child) > tonumber(id) then id = child else id = false end
  end
end
if write ~= '' then
  local child = new_generation()
  redis.call('SET', vkey(write), child, 'PX', ttl)
  if parent then
    local record = redis.call('GET', gkey(parent))
    if record then
      redis.call('SET', gkey(parent), string.sub(record, 1, 1) .. ':' .. child, 'KEEPTTL')
    end
  end
end
return stale
"#;

/// The Redis store's settings, as the configuration gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisSettings {
    /// `redis://[user:password@]host:port[/db]` or `redis+unix:///path`.
    pub url: String,
    /// Every key starts with `{prefix}:`, so several deployments can share
    /// one Redis.
    pub prefix: String,
    /// How long an entry outlives its last use.
    pub ttl: Duration,
    /// The longest a response waits for Redis.
    pub timeout: Duration,
}

pub struct RedisGuard {
    settings: RedisSettings,
    connection: ConnectionManager,
    script: redis::Script,
    ttl_ms: String,
    hasher: SharedHasher,
    /// Set while Redis is unavailable, so an outage is logged once.
    unavailable: Arc<AtomicBool>,
}

impl std::fmt::Debug for RedisGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password.
        f.debug_struct("RedisGuard")
            .field("prefix", &self.settings.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisGuard {
    /// A store that connects on first use and reconnects by itself; it does
    /// not wait for Redis, so cookieguard starts (and serves) while Redis is
    /// down. Must be called inside a Tokio runtime.
    pub fn new(settings: RedisSettings) -> redis::RedisResult<RedisGuard> {
        let client = redis::Client::open(settings.url.as_str())?;
        let config = ConnectionManagerConfig::new()
            // Reconnect attempts: quick first, at most a second apart, so
            // guarding resumes about a second after Redis is back.
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_secs(1))
            .set_connection_timeout(Some(Duration::from_secs(1)))
            // The wait per response is bounded by `timeout`, not here.
            .set_response_timeout(None);
        let connection = ConnectionManager::new_lazy_with_config(client, config)?;
        let guard = RedisGuard {
            ttl_ms: settings.ttl.as_millis().to_string(),
            settings,
            connection,
            script: redis::Script::new(SCRIPT),
            hasher: SharedHasher::default(),
            unavailable: Arc::new(AtomicBool::new(false)),
        };
        guard.warm_up();
        Ok(guard)
    }

    /// Connects and loads the script now, in the background: otherwise the
    /// first responses would wait for the connection and a `NOSCRIPT` round
    /// trip, longer than a few milliseconds, and be stripped.
    fn warm_up(&self) {
        let mut connection = self.connection.clone();
        let script = self.script.clone();
        let unavailable = Arc::clone(&self.unavailable);
        let prefix = self.settings.prefix.clone();
        tokio::spawn(async move {
            match script.prepare_invoke().load_async(&mut connection).await {
                Ok(_) => info!(%prefix, "guard store: connected to Redis"),
                Err(error) => {
                    if !unavailable.swap(true, Ordering::Relaxed) {
                        warn!(%prefix, %error, "guard store: Redis not reachable at start; cookieguard serves, strips refreshes as stale and connects when Redis answers");
                    }
                }
            }
        });
    }

    pub fn hasher(&self) -> &SharedHasher {
        &self.hasher
    }

    pub fn same_place(&self, other: &RedisGuard) -> bool {
        self.settings.url == other.settings.url && self.settings.prefix == other.settings.prefix
    }

    /// Records an update or judges a refresh in Redis, waiting at most the
    /// configured timeout.
    pub async fn judge(&self, query: GuardQuery) -> Verdict {
        let op = if query.authoritative {
            "u"
        } else if query.request.is_none() {
            // Nothing to look up: only authoritative routes create sessions.
            return Verdict::NoRequestSession;
        } else {
            "r"
        };
        let mut invocation = self.script.prepare_invoke();
        invocation
            .arg(op)
            .arg(query.request.map(hex).unwrap_or_default())
            .arg(match query.write {
                SessionWrite::Set(hash) => hex(hash),
                SessionWrite::Delete => String::new(),
            })
            .arg(&self.ttl_ms)
            .arg(&self.settings.prefix);
        let mut connection = self.connection.clone();
        let answer = tokio::time::timeout(
            self.settings.timeout,
            invocation.invoke_async::<i64>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok(stale)) => {
                self.answered();
                if stale == 1 {
                    Verdict::Stale
                } else {
                    Verdict::Pass
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
        if !self.unavailable.swap(true, Ordering::Relaxed) {
            warn!(
                prefix = %self.settings.prefix,
                ?failure,
                timeout = ?self.settings.timeout,
                %error,
                "guard store: Redis unavailable; refreshes are stripped as stale and updates pass unrecorded until it answers"
            );
        }
    }
}

fn hex(hash: SessionHash) -> String {
    format!("{:016x}", hash.0)
}
