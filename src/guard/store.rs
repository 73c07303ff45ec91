//! Where guard mode keeps its memory: in this process ([`Guard`]), or in
//! Redis, shared by every replica ([`RedisGuard`]). The decision asks both the
//! same question, a [`GuardQuery`], and gets the same kind of answer, a
//! [`Verdict`]; only Redis needs a round trip to give it.

use std::time::{Instant, SystemTime};

use http::HeaderMap;

use super::memory::Guard;
use super::query::GuardQuery;
use super::redis::RedisGuard;
use crate::policy::{StoreFailure, Verdict};
use crate::session::{self, RequestCookies, SessionCookieNames, SessionHash, SessionWrite};

#[derive(Debug)]
pub enum GuardStore {
    Memory(Guard),
    // Boxed: the BLAKE3 hasher state makes it 2 KiB.
    Redis(Box<RedisGuard>),
}

impl GuardStore {
    /// The query for a response, with the session values hashed the way this
    /// store keys them; `None` when the response writes no session.
    pub fn query(
        &self,
        names: &SessionCookieNames,
        cookies: &RequestCookies,
        headers: &HeaderMap,
        authoritative: bool,
        now: SystemTime,
    ) -> Option<GuardQuery> {
        let (request, write) = match self {
            GuardStore::Memory(guard) => hashes(names, cookies, headers, now, &guard.hasher)?,
            GuardStore::Redis(redis) => hashes(names, cookies, headers, now, redis.hasher())?,
        };
        Some(GuardQuery {
            authoritative,
            request,
            write,
        })
    }

    /// Records an authoritative write or judges a refresh.
    pub async fn judge(&self, query: GuardQuery) -> Verdict {
        match self {
            GuardStore::Memory(_) => self.judge_now(query),
            // Boxed: the Redis client's future is several KiB, and hyper keeps
            // room for a request's whole future in every idle connection.
            GuardStore::Redis(redis) => Box::pin(redis.judge(query)).await,
        }
    }

    /// [`GuardStore::judge`] without waiting: the memory store answers; a
    /// Redis store cannot, and its verdict is unavailable.
    pub fn judge_now(&self, query: GuardQuery) -> Verdict {
        let GuardStore::Memory(guard) = self else {
            return Verdict::Unavailable(StoreFailure::Timeout);
        };
        let now = Instant::now();
        let mut state = guard.lock();
        if query.authoritative {
            state.record_update(query.request, query.write, now)
        } else {
            state.judge_refresh(query.request, query.write, now)
        }
    }

    /// Whether a reloaded configuration can keep this store (and what it
    /// remembers): memory stays memory; Redis stays the same Redis keyspace.
    pub fn same_place(&self, other: &GuardStore) -> bool {
        match (self, other) {
            (GuardStore::Memory(_), GuardStore::Memory(_)) => true,
            (GuardStore::Redis(a), GuardStore::Redis(b)) => a.same_place(b),
            _ => false,
        }
    }
}

/// The request's and the response's session, hashed before any lock is taken
/// or any byte goes to Redis.
fn hashes(
    names: &SessionCookieNames,
    cookies: &RequestCookies,
    headers: &HeaderMap,
    now: SystemTime,
    hasher: &impl std::hash::BuildHasher,
) -> Option<(Option<SessionHash>, SessionWrite)> {
    let write = session::response_write(names, headers, now, hasher)?;
    let request = session::request_session(names, cookies, hasher);
    Some((request, write))
}
