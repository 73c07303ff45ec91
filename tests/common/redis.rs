//! Real `redis-server` processes on free loopback ports, for the Redis guard
//! store's tests: plain, TLS (certificates made here by rcgen), cluster nodes
//! and sentinels; started and stopped by the test, killed when dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use cookieguard::guard::{GuardQuery, GuardState, GuardStore};
use cookieguard::policy::Verdict;
use cookieguard::session::{SessionHash, SessionWrite};

pub struct RedisServer {
    pub addr: SocketAddr,
    child: Option<Child>,
    /// Arguments after the port ones (TLS files, cluster settings).
    extra: Vec<String>,
    /// Listens with TLS only (`--port 0 --tls-port`).
    tls: bool,
    /// Its working directory (cluster config), removed on drop.
    dir: TempDir,
}

/// A port the OS just handed out.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl RedisServer {
    /// Starts `redis-server` on a port the OS just handed out, without
    /// persistence, and waits until it answers.
    pub fn start() -> RedisServer {
        RedisServer::start_with(false, &[])
    }

    /// With TLS only, `certs`' server certificate, and client certificates
    /// checked when `mutual`.
    pub fn start_tls(certs: &TestCerts, mutual: bool) -> RedisServer {
        let dir = &certs.dir.0;
        let file = |name: &str| dir.join(name).display().to_string();
        RedisServer::start_with(
            true,
            &[
                "--tls-cert-file",
                &file("server.pem"),
                "--tls-key-file",
                &file("server.key"),
                "--tls-ca-cert-file",
                &file("ca.pem"),
                "--tls-auth-clients",
                if mutual { "yes" } else { "no" },
            ],
        )
    }

    /// A cluster node (`--cluster-enabled yes`), no slots yet.
    pub fn start_cluster_node() -> RedisServer {
        RedisServer::start_with(
            false,
            &[
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "2000",
            ],
        )
    }

    pub fn start_with(tls: bool, extra: &[&str]) -> RedisServer {
        let mut server = RedisServer {
            addr: SocketAddr::from(([127, 0, 0, 1], free_port())),
            child: None,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            tls,
            dir: TempDir::new("redis"),
        };
        server.restart();
        server
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls { "rediss" } else { "redis" };
        format!("{scheme}://{}/0", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Stops the server: its data is gone, like a Redis that crashed.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (stopping it first if running).
    pub fn restart(&mut self) {
        self.stop();
        let port = self.addr.port().to_string();
        let ports: Vec<&str> = if self.tls {
            vec!["--port", "0", "--tls-port", &port]
        } else {
            vec!["--port", &port]
        };
        let child = Command::new("redis-server")
            .current_dir(&self.dir.0)
            .args(["--bind", "127.0.0.1"])
            .args(ports)
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server is needed for these tests: apt-get install redis-server (.ci/run installs it)");
        self.child = Some(child);
        wait_for_port(self.addr, "redis-server");
    }
}

fn wait_for_port(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start on {addr}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `redis-sentinel` (redis-server --sentinel) watching `master` as `name`,
/// quick to decide: down after 1 s, a failover at most every 5 s.
pub struct Sentinel {
    pub addr: SocketAddr,
    child: Child,
    _dir: TempDir,
}

impl Sentinel {
    pub fn start(master: SocketAddr, name: &str) -> Sentinel {
        let dir = TempDir::new("sentinel");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let conf = dir.0.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {port}\nbind 127.0.0.1\nprotected-mode no\ndir {dir}\n\
                 sentinel monitor {name} {ip} {mport} 2\n\
                 sentinel down-after-milliseconds {name} 1000\n\
                 sentinel failover-timeout {name} 5000\n\
                 sentinel parallel-syncs {name} 1\n",
                port = addr.port(),
                dir = dir.0.display(),
                ip = master.ip(),
                mport = master.port(),
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("redis-server --sentinel");
        wait_for_port(addr, "redis-sentinel");
        Sentinel {
            addr,
            child,
            _dir: dir,
        }
    }
}

impl Drop for Sentinel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A directory under the system's temporary one, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "cookieguard-test-{what}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A CA, a server certificate for 127.0.0.1 and localhost, and a client
/// certificate, as PEM files in a temporary directory: `ca.pem`,
/// `server.pem`/`server.key`, `client.pem`/`client.key`.
pub struct TestCerts {
    pub dir: TempDir,
}

impl TestCerts {
    pub fn new() -> TestCerts {
        use rcgen::{
            BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose,
            IsCa, KeyPair,
        };
        let dir = TempDir::new("certs");
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "cookieguard test CA");
        let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.0.join(name), text).unwrap();
        write("ca.pem", ca.pem());
        for (name, names, usage) in [
            (
                "server",
                vec!["127.0.0.1".to_owned(), "localhost".to_owned()],
                ExtendedKeyUsagePurpose::ServerAuth,
            ),
            (
                "client",
                vec!["cookieguard".to_owned()],
                ExtendedKeyUsagePurpose::ClientAuth,
            ),
        ] {
            let key = KeyPair::generate().unwrap();
            let mut params = CertificateParams::new(names).unwrap();
            params.extended_key_usages = vec![usage];
            params.distinguished_name.push(DnType::CommonName, name);
            let cert = params.signed_by(&key, &ca).unwrap();
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        }
        TestCerts { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.0.join(name)
    }
}

/// Runs `redis-cli` with `args`, panicking on failure; its standard output.
pub fn redis_cli(args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(args)
        .output()
        .expect("redis-cli is needed: apt-get install redis-tools");
    assert!(
        output.status.success(),
        "redis-cli {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn path_str(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// One store per scenario (named by the prefix given), each giving the
/// in-memory store's verdicts step by step.
pub async fn same_verdicts_as_memory(store: impl Fn(&str) -> GuardStore) {
    for (index, (name, steps)) in scenarios().into_iter().enumerate() {
        let store = store(&format!("scenario{index}"));
        let mut memory = GuardState::new(1000, Duration::from_secs(60));
        for (at, step) in steps.into_iter().enumerate() {
            let now = Instant::now();
            match step {
                Update(request, write) => {
                    let q = query(true, request, write);
                    let in_memory = memory.record_update(q.request, q.write, now);
                    assert_eq!(store.judge(q).await, in_memory, "{name}, step {at}");
                }
                UpdateJudged(request, write, expected) => {
                    let q = query(true, request, write);
                    let in_memory = memory.record_update(q.request, q.write, now);
                    assert_eq!(in_memory, expected, "memory: {name}, step {at}");
                    assert_eq!(store.judge(q).await, expected, "redis: {name}, step {at}");
                }
                Refresh(request, write, expected) => {
                    let q = query(false, request, write);
                    // The memory store's own rule: a write without a
                    // request session is recorded as a sign-in.
                    let in_memory = match q.request {
                        Some(request) => memory.judge_refresh(request, q.write, now),
                        None => memory.record_update(None, q.write, now),
                    };
                    let in_redis = store.judge(q).await;
                    assert_eq!(in_memory, expected, "memory: {name}, step {at}");
                    assert_eq!(in_redis, expected, "redis: {name}, step {at}");
                }
            }
        }
    }
}

/// One step of a scenario: an update or a refresh of `request` writing
/// `write` (`None`: a delete), and for a refresh the verdict expected.
#[derive(Clone, Copy)]
pub enum Step {
    Update(Option<u64>, Option<u64>),
    /// An update whose verdict is checked too.
    UpdateJudged(Option<u64>, Option<u64>, Verdict),
    Refresh(Option<u64>, Option<u64>, Verdict),
}
pub use Step::{Refresh, Update, UpdateJudged};

pub const PASS: Verdict = Verdict::Pass;
pub const STALE: Verdict = Verdict::Stale;

/// The interleavings of the in-memory store's unit tests, as data.
pub fn scenarios() -> Vec<(&'static str, Vec<Step>)> {
    let n = Some;
    vec![
        (
            "refresh before the update passes",
            vec![
                Refresh(n(0), n(1), PASS),
                Update(n(1), n(2)),
                Refresh(n(2), n(3), PASS),
            ],
        ),
        (
            "refresh after the update is stale",
            vec![
                Update(n(0), n(1)),
                Refresh(n(0), n(10), STALE),
                Refresh(n(1), n(11), PASS),
            ],
        ),
        (
            "a chain of refreshes is one generation",
            vec![
                Refresh(n(0), n(1), PASS),
                Refresh(n(1), n(2), PASS),
                Update(n(2), n(100)),
                Refresh(n(0), n(3), STALE),
                Refresh(n(1), n(4), STALE),
                Refresh(n(100), n(101), PASS),
                Refresh(n(101), n(102), PASS),
            ],
        ),
        (
            "two concurrent updates: the later wins",
            vec![
                Update(n(0), n(1)),
                Update(n(0), n(2)),
                Refresh(n(1), n(3), STALE),
                Refresh(n(2), n(4), PASS),
            ],
        ),
        (
            "a late update from an old generation supersedes what came after",
            vec![
                Update(n(0), n(1)),
                Update(n(1), n(2)),
                Update(n(0), n(3)),
                Refresh(n(2), n(9), STALE),
                Refresh(n(3), n(4), PASS),
            ],
        ),
        (
            "a lost update response: stale, not logged out; the next update starts afresh",
            vec![
                Update(n(0), n(1)),
                Refresh(n(0), n(2), STALE),
                Update(n(0), n(3)),
                Refresh(n(3), n(4), PASS),
            ],
        ),
        (
            "an empty store passes everything with a session",
            vec![Refresh(n(42), n(43), PASS), Refresh(n(7), None, PASS)],
        ),
        (
            "a write without a request session is a sign-in, recorded, never judged",
            vec![
                Refresh(None, n(1), PASS),
                Refresh(None, None, PASS),
                Refresh(n(1), n(2), PASS),
            ],
        ),
        (
            "deletes pass when live and are stale when superseded",
            vec![
                Refresh(n(0), None, PASS),
                Update(n(0), n(1)),
                Refresh(n(0), None, STALE),
            ],
        ),
        (
            "sign-in and sign-out",
            vec![
                Update(None, n(1)),
                Refresh(n(1), n(2), PASS),
                Update(n(2), None),
                Refresh(n(1), n(3), Verdict::SignedOut),
            ],
        ),
        (
            "a sign-out ends the chain of updates behind it",
            vec![
                Update(n(0), n(1)),
                Update(n(1), None),
                Refresh(n(0), n(2), Verdict::SignedOut),
                Refresh(n(1), n(3), Verdict::SignedOut),
                UpdateJudged(n(0), n(4), Verdict::SignedOut),
                UpdateJudged(n(1), None, Verdict::SignedOut),
                UpdateJudged(None, n(5), PASS),
                Refresh(n(5), n(6), PASS),
                UpdateJudged(n(5), n(7), PASS),
                Refresh(n(6), n(8), STALE),
            ],
        ),
    ]
}

pub fn query(authoritative: bool, request: Option<u64>, write: Option<u64>) -> GuardQuery {
    GuardQuery {
        authoritative,
        request: request.map(SessionHash),
        write: write.map_or(SessionWrite::Delete, |n| SessionWrite::Set(SessionHash(n))),
    }
}
