//! Where guard mode keeps its memory: in this process ([`Guard`]), or in
//! Redis, shared by every replica ([`RedisGuard`]). The decision asks both the
//! same question, a [`GuardQuery`], and gets the same kind of answer, a
//! [`Verdict`]; only Redis needs a round trip to give it.

use std::time::{Instant, SystemTime};

use http::{HeaderMap, StatusCode};

use super::memory::Guard;
use super::query::GuardQuery;
use super::redis::RedisGuard;
use crate::policy::{Examined, Policy, RequestFacts, StoreFailure, Verdict};

#[derive(Debug)]
pub enum GuardStore {
    Memory(Guard),
    // Boxed: the BLAKE3 hasher state makes it 2 KiB.
    Redis(Box<RedisGuard>),
}

impl GuardStore {
    /// The first half of the decision, with the session values hashed the
    /// way this store keys them (in the same reading of the session lines).
    pub fn examine(
        &self,
        policy: &Policy,
        request: &RequestFacts,
        status: StatusCode,
        headers: &mut HeaderMap,
        now: SystemTime,
    ) -> Option<Examined> {
        match self {
            GuardStore::Memory(guard) => {
                policy.examine_hashed(request, status, headers, now, Some(&guard.hasher))
            }
            GuardStore::Redis(redis) => {
                policy.examine_hashed(request, status, headers, now, Some(redis.hasher()))
            }
        }
    }

    /// The query for an examined response; `None` when it has no hashes.
    pub fn query(examined: &Examined) -> Option<GuardQuery> {
        let (request, write) = examined.hashes()?;
        Some(GuardQuery {
            authoritative: examined.authoritative(),
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
        match (query.authoritative, query.request) {
            (false, Some(request)) => state.judge_refresh(request, query.write, now),
            // A write for a request without a session creates one: a
            // sign-in, recorded like any authoritative write, never judged.
            (true, _) | (false, None) => state.record_update(query.request, query.write, now),
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
