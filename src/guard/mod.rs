//! Guard memory: which session values belong to which generation, and which
//! generations an update has superseded ([`memory`]); where that memory lives,
//! this process or Redis shared by replicas ([`store`], [`redis`]); and the
//! [`Decider`] that asks it between the two halves of the pure decision.
//! Depends on [`crate::session`] and [`crate::policy`] only.

pub mod memory;
pub mod query;
pub mod redis;
pub mod store;

use std::sync::Arc;
use std::time::SystemTime;

use http::{HeaderMap, StatusCode};

pub use memory::{Guard, GuardState};
pub use query::GuardQuery;
pub use redis::{RedisGuard, RedisMode, RedisSettings};
pub use store::GuardStore;

use crate::policy::{Decision, Examined, Policy, RequestFacts, Verdict};
use crate::session::SessionWrite;

/// The decision and the guard memory it consults (every mode; strip mode
/// asks it about authoritative writes only).
#[derive(Debug)]
pub struct Decider {
    pub policy: Policy,
    /// Shared so that a configuration reload keeps what it remembers.
    pub store: Arc<GuardStore>,
}

impl Decider {
    /// The decision on a response's session cookies, with guard memory's
    /// verdict when it has a say (a Redis store answers over the network).
    pub async fn decide(
        &self,
        facts: &RequestFacts,
        status: StatusCode,
        headers: &mut HeaderMap,
    ) -> Decision {
        let Some((examined, query)) = self.examine(facts, status, headers) else {
            return Decision::NO_SESSION_COOKIE;
        };
        let verdict = match query {
            Some(query) => {
                let verdict = self.store.judge(query).await;
                if let Some(anchor) = Self::anchor_query(&examined) {
                    self.store.judge(anchor).await;
                }
                Some(verdict)
            }
            None => None,
        };
        self.finish(examined, verdict, headers)
    }

    /// A sign-out of a session kept in several cookies ends the session as
    /// a request that carried only its first cookie holds it, too (a second
    /// record, at sign-outs only; a delete always passes, so its verdict
    /// says nothing).
    fn anchor_query(examined: &Examined) -> Option<GuardQuery> {
        Some(GuardQuery {
            authoritative: true,
            request: Some(examined.anchor()?),
            write: SessionWrite::Delete,
        })
    }

    /// [`Decider::decide`] without waiting: the memory store answers at once;
    /// a Redis store cannot, and its verdict counts as unavailable.
    pub fn decide_now(
        &self,
        facts: &RequestFacts,
        status: StatusCode,
        headers: &mut HeaderMap,
    ) -> Decision {
        let Some((examined, query)) = self.examine(facts, status, headers) else {
            return Decision::NO_SESSION_COOKIE;
        };
        let verdict = query.map(|query| {
            let verdict = self.store.judge_now(query);
            if let Some(anchor) = Self::anchor_query(&examined) {
                self.store.judge_now(anchor);
            }
            verdict
        });
        self.finish(examined, verdict, headers)
    }

    /// The first half of the decision and, with guard memory, its question.
    fn examine(
        &self,
        facts: &RequestFacts,
        status: StatusCode,
        headers: &mut HeaderMap,
    ) -> Option<(Examined, Option<GuardQuery>)> {
        let now = SystemTime::now();
        let examined = self
            .store
            .examine(&self.policy, facts, status, headers, now)?;
        // A token no secret opens (forged, or a wrong secret) is never
        // remembered: floods of forged cookies cost guard memory nothing.
        let query = (!examined.token_unreadable())
            .then(|| GuardStore::query(&examined))
            .flatten();
        Some((examined, query))
    }

    fn finish(
        &self,
        examined: Examined,
        verdict: Option<Verdict>,
        headers: &mut HeaderMap,
    ) -> Decision {
        let changed_claims = examined.changed_claims().to_vec();
        let token_unreadable = examined.token_unreadable();
        let profile = Some(examined.profile());
        let store_failure = match verdict {
            Some(Verdict::Unavailable(failure)) => Some(failure),
            _ => None,
        };
        Decision {
            outcome: self.policy.finish(examined, verdict, headers),
            profile,
            changed_claims,
            token_unreadable,
            store_failure,
        }
    }
}
