//! Floods of forged session values: the memory store stays within
//! `max_entries`; Redis grows with the flood's rate times the entries' TTL,
//! and an ignored measurement prints how much.

mod common;

use std::time::{Duration, Instant};

use common::redis::*;
use cookieguard::guard::{GuardState, GuardStore, RedisGuard, RedisSettings};
use cookieguard::session::{SessionHash, SessionWrite};

#[test]
fn a_million_forged_values_keep_the_memory_store_within_max_entries() {
    const MAX_ENTRIES: usize = 100_000;
    let mut state = GuardState::new(MAX_ENTRIES, Duration::from_secs(90));
    let now = Instant::now();
    for n in 0..1_000_000u64 {
        // A refresh carrying a value never seen, writing another one.
        state.judge_refresh(
            SessionHash(n),
            SessionWrite::Set(SessionHash(u64::MAX - n)),
            now,
        );
        if n % 100_000 == 0 {
            assert!(state.len() <= MAX_ENTRIES, "{} after {n}", state.len());
        }
    }
    assert!(state.len() <= MAX_ENTRIES, "{}", state.len());
}

/// Not a check: keys and `used_memory` after N forged refreshes, each a
/// session value Redis never saw writing another one. Run with
/// `cargo test --release --test redis_flood -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement"]
async fn redis_memory_after_a_flood_of_forged_values() {
    const FORGED: u64 = 100_000;
    let redis = RedisServer::start();
    let store = GuardStore::Redis(Box::new(
        RedisGuard::new(RedisSettings::new(
            redis.url(),
            "flood",
            Duration::from_secs(90),
            Duration::from_secs(5),
        ))
        .unwrap(),
    ));
    let info = |section: &str| redis_cli(&["-p", &redis.port().to_string(), "INFO", section]);
    let field = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}:")))
            .and_then(|value| value.trim().parse().ok())
            .unwrap_or(0)
    };
    let before = field(&info("memory"), "used_memory");
    let started = Instant::now();
    for batch in 0..FORGED / 100 {
        let calls = (0..100).map(|i| {
            let n = batch * 100 + i;
            store.judge(query(false, Some(n), Some(u64::MAX - n)))
        });
        for verdict in futures_util::future::join_all(calls).await {
            assert_eq!(verdict, PASS);
        }
    }
    let elapsed = started.elapsed();
    let keys: u64 = redis_cli(&["-p", &redis.port().to_string(), "DBSIZE"])
        .trim()
        .parse()
        .unwrap();
    let after = field(&info("memory"), "used_memory");
    println!(
        "redis flood: {FORGED} forged refreshes in {:.1} s ({:.0}/s): {keys} keys ({:.1} per forged value), used_memory +{} bytes ({:.0} bytes per forged value); all expire after the TTL (90 s here)",
        elapsed.as_secs_f64(),
        FORGED as f64 / elapsed.as_secs_f64(),
        keys as f64 / FORGED as f64,
        after - before,
        (after - before) as f64 / FORGED as f64,
    );
}
