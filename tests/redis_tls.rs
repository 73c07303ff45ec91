//! The Redis guard store over TLS (`rediss://`, rustls) against a real
//! `redis-server --tls-port` with certificates made by the test: a private CA,
//! mutual TLS, and a CA that does not match (fail-safe, one clear warning).

mod common;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::redis::*;
use cookieguard::guard::redis::RedisTls;
use cookieguard::guard::{GuardStore, RedisGuard, RedisSettings};
use cookieguard::policy::{StoreFailure, Verdict};

fn tls_store(server: &RedisServer, prefix: &str, tls: RedisTls) -> GuardStore {
    let mut settings = RedisSettings::new(
        server.url(),
        prefix,
        Duration::from_secs(60),
        Duration::from_secs(2),
    );
    settings.tls = tls;
    GuardStore::Redis(Box::new(RedisGuard::new(settings).unwrap()))
}

#[tokio::test]
async fn tls_with_a_private_ca_gives_the_verdicts_of_the_memory_store() {
    let certs = TestCerts::new();
    let redis = RedisServer::start_tls(&certs, false);
    assert!(redis.url().starts_with("rediss://"));
    same_verdicts_as_memory(|prefix| {
        tls_store(
            &redis,
            prefix,
            RedisTls {
                ca_file: Some(certs.path("ca.pem")),
                ..RedisTls::default()
            },
        )
    })
    .await;
}

#[tokio::test]
async fn mutual_tls_with_a_client_certificate() {
    let certs = TestCerts::new();
    let redis = RedisServer::start_tls(&certs, true);
    same_verdicts_as_memory(|prefix| {
        tls_store(
            &redis,
            prefix,
            RedisTls {
                ca_file: Some(certs.path("ca.pem")),
                cert_file: Some(certs.path("client.pem")),
                key_file: Some(certs.path("client.key")),
            },
        )
    })
    .await;
    // Without the client certificate the server refuses: fail-safe.
    let store = tls_store(
        &redis,
        "no-client-cert",
        RedisTls {
            ca_file: Some(certs.path("ca.pem")),
            ..RedisTls::default()
        },
    );
    assert!(matches!(
        store.judge(query(false, Some(1), Some(2))).await,
        Verdict::Unavailable(_)
    ));
}

#[tokio::test]
async fn a_wrong_ca_is_fail_safe_with_a_clear_warning() {
    logs();
    let certs = TestCerts::new();
    let other = TestCerts::new();
    let redis = RedisServer::start_tls(&certs, false);
    let store = tls_store(
        &redis,
        "wrong-ca",
        RedisTls {
            ca_file: Some(other.path("ca.pem")),
            ..RedisTls::default()
        },
    );
    // The system roots do not know the test CA either.
    let system = tls_store(&redis, "system-roots", RedisTls::default());
    for store in [&store, &system] {
        // An update passes unrecorded; a refresh is stripped (Unavailable).
        for authoritative in [true, false] {
            // Refused handshakes are errors; waits on a reconnection in
            // progress are timeouts.
            assert!(matches!(
                store.judge(query(authoritative, Some(1), Some(2))).await,
                Verdict::Unavailable(_)
            ));
        }
    }
    common::within("the start-up warning", async {
        while !logged("wrong-ca", "TLS with Redis failed") {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    let text = log_text();
    let warning = text
        .lines()
        .find(|line| line.contains("prefix=wrong-ca") && line.contains("TLS with Redis failed"))
        .unwrap();
    assert!(warning.contains("WARN"), "{warning}");
    assert!(
        warning.to_lowercase().contains("certificate"),
        "names the cause: {warning}"
    );
    assert!(logged("system-roots", "TLS with Redis failed"), "{text}");
}

#[tokio::test]
async fn an_unreadable_ca_file_is_fail_safe_not_a_crash() {
    let certs = TestCerts::new();
    let redis = RedisServer::start_tls(&certs, false);
    let store = tls_store(
        &redis,
        "missing-ca",
        RedisTls {
            ca_file: Some(certs.path("nonexistent.pem")),
            ..RedisTls::default()
        },
    );
    assert_eq!(
        store.judge(query(false, Some(1), Some(2))).await,
        Verdict::Unavailable(StoreFailure::Error)
    );
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

fn log_text() -> String {
    String::from_utf8_lossy(&logs().lock().unwrap()).into_owned()
}

fn logged(prefix: &str, needle: &str) -> bool {
    log_text()
        .lines()
        .any(|line| line.contains(&format!("prefix={prefix}")) && line.contains(needle))
}
