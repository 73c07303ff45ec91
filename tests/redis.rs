//! Guard mode's Redis store against a real `redis-server` started on a free
//! port: the same verdicts as the in-memory store, replicas sharing what they
//! remember, and Redis stopped, silent and restarted under a running proxy.

mod common;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::nextauth::*;
use common::redis::*;
use common::*;
use cookieguard::config::{Config, StoreKind};
use cookieguard::guard::{GuardStore, RedisGuard, RedisSettings};
use cookieguard::policy::Mode;
use http::StatusCode;

fn redis_store(redis: &RedisServer, prefix: &str, ttl: Duration) -> GuardStore {
    GuardStore::Redis(Box::new(
        // Generous timeout: these tests are about verdicts, not speed.
        RedisGuard::new(RedisSettings::new(
            redis.url(),
            prefix,
            ttl,
            Duration::from_secs(2),
        ))
        .unwrap(),
    ))
}

#[tokio::test]
async fn redis_gives_the_verdicts_of_the_memory_store() {
    let redis = RedisServer::start();
    same_verdicts_as_memory(|prefix| redis_store(&redis, prefix, Duration::from_secs(60))).await;
}

#[tokio::test]
async fn redis_entries_expire_and_stale_lookups_do_not_extend_them() {
    let redis = RedisServer::start();
    let ttl = Duration::from_millis(1000);
    let store = redis_store(&redis, "expiry", ttl);
    let started = Instant::now();
    assert_eq!(store.judge(query(true, Some(0), Some(1))).await, PASS);
    for _ in 0..3 {
        assert_eq!(store.judge(query(false, Some(0), Some(2))).await, STALE);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert!(
        started.elapsed() < ttl,
        "the machine is too slow for this test"
    );
    tokio::time::sleep(ttl.saturating_sub(started.elapsed()) + Duration::from_millis(300)).await;
    // The update is forgotten: V0's refreshes pass again (expiry slides).
    assert_eq!(store.judge(query(false, Some(0), Some(2))).await, PASS);
    // Nothing lives without an expiry but the generation counter.
    let mut connection = ::redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let keys: Vec<String> = ::redis::cmd("KEYS")
        .arg("expiry:*")
        .query_async(&mut connection)
        .await
        .unwrap();
    for key in keys.iter().filter(|key| *key != "expiry:next") {
        let ttl_ms: i64 = ::redis::cmd("PTTL")
            .arg(key)
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(ttl_ms > 0 && ttl_ms <= 1000, "{key}: PTTL {ttl_ms}");
    }
}

fn redis_config(redis_url: &str, prefix: &str) -> impl FnOnce(&mut Config) {
    let redis_url = redis_url.to_owned();
    let prefix = prefix.to_owned();
    move |config: &mut Config| {
        config.mode = Mode::Guard;
        config.guard.store = StoreKind::Redis;
        config.guard.redis_url = redis_url;
        config.guard.redis_prefix = prefix;
        config.guard.redis_timeout = Duration::from_secs(2);
        config.admin_listen = Some("127.0.0.1:0".parse().unwrap());
    }
}

#[tokio::test]
async fn replicas_sharing_redis_strip_a_stale_refresh_after_an_update_elsewhere() {
    let redis = RedisServer::start();
    let a = setup_with(redis_config(&redis.url(), "replicas")).await;
    let b = setup_with(redis_config(&redis.url(), "replicas")).await;
    // A request leaves through B with V0; the update goes through A.
    let stale = refresh_finishing_after_an_update(&b, &a).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(stale.write, Write::Nothing, "B would revert A's update");
    // The new session is current on both replicas: its refreshes slide.
    assert_eq!(written(refresh(&b, "V1", "V1a", None)).await, set("V1a"));
    assert_eq!(written(refresh(&a, "V1a", "V1b", None)).await, set("V1b"));

    // The control: replicas with memory stores let the stale write through.
    let a = setup(Mode::Guard).await;
    let b = setup(Mode::Guard).await;
    let stale = refresh_finishing_after_an_update(&b, &a).await;
    assert_eq!(stale.write, set("V0-stale"));
}

#[tokio::test]
async fn in_strip_mode_a_sign_out_through_one_replica_holds_on_the_other() {
    let redis = RedisServer::start();
    let strip = |config: &mut Config| {
        redis_config(&redis.url(), "strip-signout")(config);
        config.mode = Mode::Strip;
    };
    let a = setup_with(strip).await;
    let b = setup_with(strip).await;
    // A slow update on the library's own route leaves through B; the user
    // signs out through A; the update answers last.
    let release = b.gates.hold("U");
    let slow_update = update(&b, "V0", "V0-updated", Some("U"));
    arrived(&b, "U").await;
    let out = done(send(
        &a,
        http::Method::POST,
        "/api/auth/signout",
        Some("V0"),
        &[("x-delete", "1")],
    ))
    .await;
    assert_eq!(out.write, Write::Delete);
    release.send(()).unwrap();
    assert_eq!(
        done(slow_update).await.write,
        Write::Nothing,
        "B would sign the user back in"
    );
}

#[tokio::test]
async fn redis_down_never_fails_a_request_and_guarding_resumes_when_it_is_back() {
    logs();
    let mut redis = RedisServer::start();
    let s = setup_with(|config| {
        redis_config(&redis.url(), "outage")(config);
        config.guard.redis_timeout = Duration::from_millis(200);
    })
    .await;
    assert_eq!(written(refresh(&s, "V0", "V0a", None)).await, set("V0a"));

    redis.stop();
    for _ in 0..3 {
        let refreshed = done(refresh(&s, "V0a", "V0b", None)).await;
        assert_eq!(refreshed.status, StatusCode::OK);
        assert_eq!(
            refreshed.write,
            Write::Nothing,
            "stripped as stale while Redis is down"
        );
    }
    let updated = done(update(&s, "V0a", "V1", None)).await;
    assert_eq!(updated.status, StatusCode::OK);
    assert_eq!(updated.write, set("V1"), "an update always passes");
    // Refused connections are errors; waits on a reconnection in progress
    // are timeouts.
    let metrics = metrics_text(&s).await;
    assert_eq!(store_errors(&metrics), 4, "{metrics}");
    assert_eq!(
        warnings_about("outage"),
        1,
        "one warning per outage, not one per request"
    );

    redis.restart();
    within("guarding to resume", async {
        while done(refresh(&s, "W0", "W0a", None)).await.write != set("W0a") {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    // The restarted Redis is empty: V0 is new to it.
    let stale = refresh_finishing_after_an_update(&s, &s).await;
    assert_eq!(stale.write, Write::Nothing);
    assert_eq!(recoveries_of("outage"), 1);
}

#[tokio::test]
async fn the_connection_and_script_are_ready_before_the_first_request() {
    // Otherwise the first responses after a start would wait for a connect
    // and a NOSCRIPT round trip, longer than the default 5 ms.
    let redis = RedisServer::start();
    let _proxy = setup_with(redis_config(&redis.url(), "warm")).await;
    let mut connection = ::redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    within("the script to be loaded without any request", async {
        loop {
            let info: String = ::redis::cmd("INFO")
                .arg("memory")
                .query_async(&mut connection)
                .await
                .unwrap();
            if info.contains("number_of_cached_scripts:1") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn a_silent_redis_costs_a_bounded_wait_then_the_refresh_is_stripped() {
    // Accepts connections and never answers, like a Redis stuck on a slow command.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/0", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        let connections: Vec<_> = silent.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(30));
        drop(connections);
    });
    let s = setup_with(|config| {
        redis_config(&url, "silent")(config);
        config.guard.redis_timeout = Duration::from_millis(50);
    })
    .await;
    let update = done(update(&s, "V0", "V1", None)).await;
    assert_eq!((update.status, update.write), (StatusCode::OK, set("V1")));
    let refreshed = done(refresh(&s, "V1", "V1a", None)).await;
    assert_eq!(
        (refreshed.status, refreshed.write),
        (StatusCode::OK, Write::Nothing)
    );
    let metrics = metrics_text(&s).await;
    assert!(
        metrics.contains("cookieguard_guard_store_errors_total{kind=\"timeout\"} 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("reason=\"store unavailable\""),
        "{metrics}"
    );
    drop(held);
}

/// The sum of `cookieguard_guard_store_errors_total` over its kinds.
fn store_errors(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("cookieguard_guard_store_errors_total"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn metrics_text(s: &Setup) -> String {
    let admin = s.proxy.admin.expect("the admin listener is on");
    let response = client()
        .get(format!("http://{admin}/metrics").parse().unwrap())
        .await
        .unwrap();
    body_text(response).await
}

/// Log lines of this test binary, captured from the first call on.
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Arc::clone(&buffer);
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_writer(move || LogWriter(Arc::clone(&writer)))
            .init();
        buffer
    })
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn log_lines_about(prefix: &str, needle: &str) -> usize {
    let text = String::from_utf8_lossy(&logs().lock().unwrap()).into_owned();
    text.lines()
        .filter(|line| line.contains(&format!("prefix={prefix}")) && line.contains(needle))
        .count()
}

fn warnings_about(prefix: &str) -> usize {
    log_lines_about(prefix, "Redis unavailable")
}

fn recoveries_of(prefix: &str) -> usize {
    log_lines_about(prefix, "Redis answers again")
}

/// Not a check: the figures `bash bench/redis.sh` reports (Redis memory per
/// remembered value, time per verdict on loopback). Run with `--ignored`.
#[tokio::test]
#[ignore = "measurement, run by bench/redis.sh"]
async fn redis_store_cost() {
    const VALUES: u64 = 20_000;
    let redis = RedisServer::start();
    let store = redis_store(&redis, "cost", Duration::from_secs(90));
    let mut connection = ::redis::Client::open(redis.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let used = |info: String| -> u64 {
        info.lines()
            .find_map(|line| line.strip_prefix("used_memory:"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    let info = || ::redis::cmd("INFO").arg("memory").clone();
    let before = used(info().query_async(&mut connection).await.unwrap());
    // Each user: a refresh remembers two values of one generation.
    let started = Instant::now();
    for n in 0..VALUES / 2 {
        let verdict = store
            .judge(query(false, Some(n * 2), Some(n * 2 + 1)))
            .await;
        assert_eq!(verdict, PASS);
    }
    let refresh_time = started.elapsed() / (VALUES / 2) as u32;
    let after = used(info().query_async(&mut connection).await.unwrap());
    let started = Instant::now();
    for n in 0..VALUES / 2 {
        store
            .judge(query(true, Some(n * 2 + 1), Some(1_000_000 + n)))
            .await;
    }
    let update_time = started.elapsed() / (VALUES / 2) as u32;
    println!(
        "redis store: {} bytes of Redis memory per remembered value (a value key plus its share of a generation), {VALUES} values",
        (after - before) / VALUES
    );
    println!(
        "redis store, sequential on loopback: {:.1} µs per refresh verdict, {:.1} µs per recorded update",
        refresh_time.as_secs_f64() * 1e6,
        update_time.as_secs_f64() * 1e6
    );
}
