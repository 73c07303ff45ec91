//! Guard mode's memory: which session values belong to which generation, and
//! which generations an authoritative write (update, sign-in, sign-out) has
//! superseded. A refresh whose request carried a value of a superseded
//! generation is a stale write; every other refresh passes, so NextAuth's
//! sliding expiry keeps working.
//!
//! Only keyed hashes of values are kept, never values. Entries need to outlive
//! the longest request only, so they expire after `ttl` (the upstream response
//! timeout plus a margin), and a hard cap evicts the least recently used, so
//! memory stays bounded under any load: 157 bytes of heap per remembered
//! value with its generation, 15 MiB at the default cap of 100,000
//! (`cargo bench --bench decision` prints the figure). No I/O: time comes in
//! as an argument.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::policy::Verdict;
use crate::session::{SessionHash, SessionWrite};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct GenerationId(u64);

#[derive(Debug)]
struct ValueEntry {
    generation: GenerationId,
    touched: Instant,
}

#[derive(Debug)]
struct Generation {
    superseded: bool,
    /// Superseded by a sign-out (an authoritative delete): a write from a
    /// request of this generation, or of one an update led here from, would
    /// sign the user back in.
    signed_out: bool,
    /// The generation the latest authoritative write from this one started.
    latest_child: Option<GenerationId>,
    touched: Instant,
}

#[derive(Debug)]
pub struct GuardState {
    values: LruCache<SessionHash, ValueEntry>,
    generations: LruCache<GenerationId, Generation>,
    next_generation: u64,
    capacity: usize,
    ttl: Duration,
}

impl GuardState {
    pub fn new(capacity: usize, ttl: Duration) -> GuardState {
        GuardState {
            // Unbounded maps with a cap enforced here: `LruCache::new` would
            // allocate the whole capacity up front.
            values: LruCache::unbounded(),
            generations: LruCache::unbounded(),
            next_generation: 0,
            capacity: capacity.max(1),
            ttl,
        }
    }

    /// Remembered session values.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// An authoritative write: supersedes the request's generation (and what
    /// earlier writes from it started), and starts a generation for the value
    /// it sets. [`Verdict::Stale`] when the request's generation had already
    /// been superseded (a change from a request older than an update),
    /// [`Verdict::SignedOut`] when a sign-out ended it; the write is recorded
    /// all the same, as the latest (the decision strips a signed-out write
    /// that sets a session, and then nothing it set is ever sent back).
    pub fn record_update(
        &mut self,
        request: Option<SessionHash>,
        write: SessionWrite,
        now: Instant,
    ) -> Verdict {
        self.expire(now);
        let mut verdict = Verdict::Pass;
        let sign_out = write == SessionWrite::Delete;
        let parent = request.map(|hash| {
            let generation = self.generation_of(hash, now);
            verdict = self.verdict_for(generation);
            self.touch(hash, generation, now);
            self.supersede(generation, sign_out);
            generation
        });
        if let SessionWrite::Set(value) = write {
            let child = self.new_generation(now);
            self.remember(value, child, now);
            if let Some(parent) = parent
                && let Some(record) = self.generations.get_mut(&parent)
            {
                record.latest_child = Some(child);
            }
        }
        self.enforce_capacity();
        verdict
    }

    /// A refresh: passes unless its request's session was superseded. A value
    /// that passes joins its request's generation.
    pub fn judge_refresh(
        &mut self,
        hash: SessionHash,
        write: SessionWrite,
        now: Instant,
    ) -> Verdict {
        self.expire(now);
        let generation = self.generation_of(hash, now);
        let verdict = self.verdict_for(generation);
        if verdict == Verdict::Pass {
            self.touch(hash, generation, now);
            if let SessionWrite::Set(value) = write {
                self.remember(value, generation, now);
            }
        }
        self.enforce_capacity();
        verdict
    }

    /// What a write from a request of `generation` is: signed out when a
    /// sign-out ended it or the chain of updates it led to; stale when an
    /// update superseded it; else current.
    fn verdict_for(&self, generation: GenerationId) -> Verdict {
        let Some(record) = self.generations.peek(&generation) else {
            return Verdict::Pass;
        };
        if !record.superseded {
            return Verdict::Pass;
        }
        let mut next = Some(generation);
        while let Some(id) = next {
            let Some(record) = self.generations.peek(&id) else {
                break;
            };
            if record.signed_out {
                return Verdict::SignedOut;
            }
            // Children are always newer, so the chain cannot loop.
            next = record.latest_child.filter(|child| child.0 > id.0);
        }
        Verdict::Stale
    }

    /// The generation of a value; a value never seen starts its own, live
    /// one (so an empty state, after a restart, logs nobody out). Finding a
    /// value does not extend its life: a superseded generation must be
    /// forgotten `ttl` after the update, however often stale requests ask.
    fn generation_of(&mut self, hash: SessionHash, now: Instant) -> GenerationId {
        if let Some(generation) = self.values.peek(&hash).map(|entry| entry.generation) {
            if !self.generations.contains(&generation) {
                // Evicted under load: the value counts as live, never as stale.
                self.generations.put(generation, live(now));
            }
            return generation;
        }
        let generation = self.new_generation(now);
        self.remember(hash, generation, now);
        generation
    }

    /// Marks a value and its generation as just used.
    fn touch(&mut self, hash: SessionHash, generation: GenerationId, now: Instant) {
        if let Some(entry) = self.values.get_mut(&hash) {
            entry.touched = now;
        }
        if let Some(record) = self.generations.get_mut(&generation) {
            record.touched = now;
        }
    }

    fn new_generation(&mut self, now: Instant) -> GenerationId {
        let id = GenerationId(self.next_generation);
        self.next_generation += 1;
        self.generations.put(id, live(now));
        id
    }

    fn remember(&mut self, hash: SessionHash, generation: GenerationId, now: Instant) {
        self.values.put(
            hash,
            ValueEntry {
                generation,
                touched: now,
            },
        );
    }

    /// Marks a generation and the chain of generations later writes started
    /// from it as superseded (by a sign-out: `sign_out`): the browser keeps
    /// the last authoritative write.
    fn supersede(&mut self, generation: GenerationId, sign_out: bool) {
        let mut next = Some(generation);
        while let Some(id) = next {
            next = self.generations.peek_mut(&id).and_then(|record| {
                record.superseded = true;
                record.signed_out |= sign_out;
                // Children are always newer, so the chain cannot loop.
                record.latest_child.filter(|child| child.0 > id.0)
            });
        }
    }

    fn expire(&mut self, now: Instant) {
        let ttl = self.ttl;
        let expired = |touched: Instant| now.saturating_duration_since(touched) > ttl;
        while self
            .values
            .peek_lru()
            .is_some_and(|(_, e)| expired(e.touched))
        {
            self.values.pop_lru();
        }
        while self
            .generations
            .peek_lru()
            .is_some_and(|(_, g)| expired(g.touched))
        {
            self.generations.pop_lru();
        }
    }

    fn enforce_capacity(&mut self) {
        while self.values.len() > self.capacity {
            self.values.pop_lru();
        }
        while self.generations.len() > self.capacity {
            self.generations.pop_lru();
        }
    }
}

fn live(now: Instant) -> Generation {
    Generation {
        superseded: false,
        signed_out: false,
        latest_child: None,
        touched: now,
    }
}

/// The in-memory store: state behind a lock held for a few map operations
/// per response that carries a session cookie, and the per-process hash key.
#[derive(Debug)]
pub struct Guard {
    pub state: Mutex<GuardState>,
    /// aHash with random per-process keys: keyed like SipHash, so values
    /// cannot be recovered or their hashes predicted, and several times
    /// faster over 4 KiB token chunks.
    pub hasher: ahash::RandomState,
}

impl Guard {
    pub fn new(capacity: usize, ttl: Duration) -> Guard {
        Guard {
            state: Mutex::new(GuardState::new(capacity, ttl)),
            hasher: ahash::RandomState::new(),
        }
    }

    pub fn lock(&self) -> std::sync::MutexGuard<'_, GuardState> {
        // A panic elsewhere while holding the lock leaves a usable state.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(90);

    fn v(n: u64) -> SessionHash {
        SessionHash(n)
    }

    fn set(n: u64) -> SessionWrite {
        SessionWrite::Set(v(n))
    }

    struct Clock(Instant);

    impl Clock {
        fn now(&self) -> Instant {
            self.0
        }
        fn advance(&mut self, by: Duration) {
            self.0 += by;
        }
    }

    fn setup() -> (GuardState, Clock) {
        (GuardState::new(1000, TTL), Clock(Instant::now()))
    }

    #[test]
    fn refresh_completing_before_the_update_passes() {
        let (mut g, t) = setup();
        assert_eq!(g.judge_refresh(v(0), set(1), t.now()), Verdict::Pass);
        g.record_update(Some(v(1)), set(2), t.now());
        assert_eq!(g.judge_refresh(v(2), set(3), t.now()), Verdict::Pass);
    }

    #[test]
    fn refresh_completing_after_the_update_is_stale() {
        let (mut g, t) = setup();
        // A leaves with V0; the update C carries V0 and completes first.
        g.record_update(Some(v(0)), set(1), t.now());
        assert_eq!(g.judge_refresh(v(0), set(10), t.now()), Verdict::Stale);
        // The stale value was not remembered: a request carrying it is unknown, so live.
        assert_eq!(g.judge_refresh(v(1), set(11), t.now()), Verdict::Pass);
    }

    #[test]
    fn a_chain_of_refreshes_before_the_update_is_one_generation() {
        let (mut g, t) = setup();
        // A leaves with V0. Refresh B turns V0 into V0a. Update C carries V0a.
        assert_eq!(g.judge_refresh(v(0), set(1), t.now()), Verdict::Pass);
        assert_eq!(g.judge_refresh(v(1), set(2), t.now()), Verdict::Pass);
        g.record_update(Some(v(2)), set(100), t.now());
        // A finishes last: stale.
        assert_eq!(g.judge_refresh(v(0), set(3), t.now()), Verdict::Stale);
        assert_eq!(g.judge_refresh(v(1), set(4), t.now()), Verdict::Stale);
        assert_eq!(g.judge_refresh(v(100), set(101), t.now()), Verdict::Pass);
        assert_eq!(g.judge_refresh(v(101), set(102), t.now()), Verdict::Pass);
    }

    #[test]
    fn two_concurrent_updates_both_pass_and_the_later_one_wins() {
        let (mut g, t) = setup();
        g.record_update(Some(v(0)), set(1), t.now());
        g.record_update(Some(v(0)), set(2), t.now());
        // The browser keeps V2; a request that left with V1 in between is stale.
        assert_eq!(g.judge_refresh(v(1), set(3), t.now()), Verdict::Stale);
        assert_eq!(g.judge_refresh(v(2), set(4), t.now()), Verdict::Pass);
    }

    #[test]
    fn a_late_write_from_an_old_generation_supersedes_what_came_after() {
        let (mut g, t) = setup();
        g.record_update(Some(v(0)), set(1), t.now());
        g.record_update(Some(v(1)), set(2), t.now());
        // An update that left with V0 completes last: the browser holds V3.
        g.record_update(Some(v(0)), set(3), t.now());
        assert_eq!(g.judge_refresh(v(2), set(9), t.now()), Verdict::Stale);
        assert_eq!(g.judge_refresh(v(3), set(4), t.now()), Verdict::Pass);
    }

    #[test]
    fn a_lost_update_response_leaves_the_old_session_stale_not_logged_out() {
        let (mut g, t) = setup();
        // The update reached the app (recorded), but its response never reached
        // the browser, which still holds V0: its refreshes are stale and stripped,
        // so the browser keeps V0 (valid until its expiry); nobody is logged out.
        g.record_update(Some(v(0)), set(1), t.now());
        assert_eq!(g.judge_refresh(v(0), set(2), t.now()), Verdict::Stale);
        // Its next update starts a fresh generation.
        g.record_update(Some(v(0)), set(3), t.now());
        assert_eq!(g.judge_refresh(v(3), set(4), t.now()), Verdict::Pass);
    }

    #[test]
    fn empty_state_after_a_restart_passes_everything_with_a_session() {
        let (mut g, t) = setup();
        assert_eq!(g.judge_refresh(v(42), set(43), t.now()), Verdict::Pass);
        assert_eq!(
            g.judge_refresh(v(7), SessionWrite::Delete, t.now()),
            Verdict::Pass
        );
    }

    #[test]
    fn deletes_pass_when_live_and_are_stale_when_superseded() {
        let (mut g, t) = setup();
        assert_eq!(
            g.judge_refresh(v(0), SessionWrite::Delete, t.now()),
            Verdict::Pass
        );
        g.record_update(Some(v(0)), set(1), t.now());
        assert_eq!(
            g.judge_refresh(v(0), SessionWrite::Delete, t.now()),
            Verdict::Stale
        );
    }

    #[test]
    fn sign_in_and_sign_out() {
        let (mut g, t) = setup();
        g.record_update(None, set(1), t.now());
        assert_eq!(g.judge_refresh(v(1), set(2), t.now()), Verdict::Pass);
        g.record_update(Some(v(2)), SessionWrite::Delete, t.now());
        // A request that left before sign-out cannot sign the user back in.
        assert_eq!(g.judge_refresh(v(1), set(3), t.now()), Verdict::SignedOut);
    }

    #[test]
    fn a_sign_out_ends_the_chain_of_updates_behind_it() {
        let (mut g, t) = setup();
        // v0 -> update -> v1 -> sign-out.
        assert_eq!(g.record_update(Some(v(0)), set(1), t.now()), Verdict::Pass);
        assert_eq!(
            g.record_update(Some(v(1)), SessionWrite::Delete, t.now()),
            Verdict::Pass
        );
        // Requests that left with v0 or v1: neither a refresh nor a change
        // (an update, an OAuth token refresh) may set the session again.
        assert_eq!(g.judge_refresh(v(0), set(2), t.now()), Verdict::SignedOut);
        assert_eq!(g.judge_refresh(v(1), set(3), t.now()), Verdict::SignedOut);
        assert_eq!(
            g.record_update(Some(v(0)), set(4), t.now()),
            Verdict::SignedOut
        );
        // A stale delete is still a sign-out; a new sign-in (no session in
        // its request) starts afresh, and its refreshes pass.
        assert_eq!(
            g.record_update(Some(v(1)), SessionWrite::Delete, t.now()),
            Verdict::SignedOut
        );
        assert_eq!(g.record_update(None, set(5), t.now()), Verdict::Pass);
        assert_eq!(g.judge_refresh(v(5), set(6), t.now()), Verdict::Pass);
        // An update alone (no sign-out) leaves older requests merely stale.
        assert_eq!(g.record_update(Some(v(5)), set(7), t.now()), Verdict::Pass);
        assert_eq!(g.judge_refresh(v(6), set(8), t.now()), Verdict::Stale);
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let (mut g, mut t) = setup();
        g.record_update(Some(v(0)), set(1), t.now());
        assert_eq!(g.len(), 2);
        t.advance(TTL + Duration::from_secs(1));
        // Forgotten: a value that old passes as unknown (its request timed out long ago).
        assert_eq!(g.judge_refresh(v(0), set(2), t.now()), Verdict::Pass);
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn stale_lookups_do_not_keep_a_superseded_generation_alive() {
        // After a lost update response the browser keeps V0; once the update is
        // `ttl` old, V0's refreshes pass again and its expiry slides.
        let (mut g, mut t) = setup();
        g.record_update(Some(v(0)), set(1), t.now());
        for _ in 0..9 {
            t.advance(TTL / 10);
            assert_eq!(g.judge_refresh(v(0), set(2), t.now()), Verdict::Stale);
        }
        t.advance(TTL / 10 + Duration::from_secs(1));
        assert_eq!(g.judge_refresh(v(0), set(2), t.now()), Verdict::Pass);
    }

    #[test]
    fn live_values_in_use_live_on() {
        let (mut g, mut t) = setup();
        g.record_update(None, set(1), t.now());
        for _ in 0..5 {
            t.advance(TTL / 2);
            assert_eq!(g.judge_refresh(v(1), set(1), t.now()), Verdict::Pass);
        }
        t.advance(TTL / 2);
        g.record_update(Some(v(1)), set(2), t.now());
        assert_eq!(g.judge_refresh(v(1), set(3), t.now()), Verdict::Stale);
    }

    #[test]
    fn memory_is_capped() {
        let mut g = GuardState::new(100, TTL);
        let t = Instant::now();
        for n in 0..10_000 {
            g.judge_refresh(v(n * 2), set(n * 2 + 1), t);
            g.record_update(Some(v(n * 2 + 1)), set(1_000_000 + n), t);
        }
        assert!(g.len() <= 100);
        assert!(g.generations.len() <= 100);
    }
}
