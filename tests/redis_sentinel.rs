//! The Redis guard store through Sentinel: a primary, a replica and three
//! `redis-sentinel`s on free ports; the primary is killed, and guarding
//! resumes on the promoted replica (fail-safe verdicts in between).

mod common;

use std::time::{Duration, Instant};

use common::redis::*;
use cookieguard::guard::redis::RedisMode;
use cookieguard::guard::{GuardStore, RedisGuard, RedisSettings};
use cookieguard::policy::Verdict;

fn cli(port: u16, args: &[&str]) -> String {
    let port = port.to_string();
    let mut all = vec!["-h", "127.0.0.1", "-p", &port];
    all.extend_from_slice(args);
    redis_cli(&all)
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn guarding_resumes_on_the_promoted_replica_after_a_failover() {
    // No 5 s wait before the replica's first sync.
    let mut primary = RedisServer::start_with(false, &["--repl-diskless-sync-delay", "0"]);
    let primary_port = primary.port().to_string();
    let replica = RedisServer::start_with(false, &["--replicaof", "127.0.0.1", &primary_port]);
    let sentinels: Vec<Sentinel> = (0..3)
        .map(|_| Sentinel::start(primary.addr, "cg"))
        .collect();
    // The sentinels know the replica and each other (quorum 2).
    for sentinel in &sentinels {
        let port = sentinel.addr.port();
        wait_until("sentinels to meet", Duration::from_secs(30), || {
            cli(port, &["SENTINEL", "replicas", "cg"]).contains(&replica.port().to_string())
                && cli(port, &["SENTINEL", "sentinels", "cg"])
                    .matches("127.0.0.1")
                    .count()
                    >= 2
        });
    }
    let hosts: Vec<String> = sentinels.iter().map(|s| s.addr.to_string()).collect();
    let mut settings = RedisSettings::new(
        format!("redis+sentinel://{}/cg/0", hosts.join(",")),
        "failover",
        Duration::from_secs(60),
        Duration::from_millis(200),
    );
    settings.mode = RedisMode::Sentinel;
    let store = GuardStore::Redis(Box::new(RedisGuard::new(settings).unwrap()));

    assert_eq!(store.judge(query(true, Some(0), Some(1))).await, PASS);
    assert_eq!(store.judge(query(false, Some(0), Some(2))).await, STALE);
    // Replicated before the primary goes.
    wait_until(
        "the replica to have the update",
        Duration::from_secs(20),
        || cli(primary.port(), &["WAIT", "1", "500"]).trim() == "1",
    );

    primary.stop();
    let killed = Instant::now();
    let mut unavailable = 0;
    let verdict = loop {
        let verdict = store.judge(query(false, Some(0), Some(2))).await;
        match verdict {
            Verdict::Unavailable(_) => unavailable += 1,
            other => break other,
        }
        assert!(
            killed.elapsed() < Duration::from_secs(30),
            "guarding did not resume"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let window = killed.elapsed();
    // The promoted replica had the update: the old value is still stale.
    assert_eq!(verdict, STALE);
    assert_eq!(store.judge(query(false, Some(1), Some(3))).await, PASS);
    assert!(unavailable > 0, "the failover window is fail-safe");
    assert!(cli(replica.port(), &["ROLE"]).starts_with("master"));
    println!(
        "sentinel failover: guarding resumed {window:?} after the primary was killed ({unavailable} fail-safe verdicts in between)"
    );
}
