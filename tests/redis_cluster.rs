//! The Redis guard store against a real three-node Redis Cluster on free
//! ports: the memory store's verdicts, every key of a deployment in one slot,
//! and a slot moved to another node under a running store (MOVED followed).

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::redis::*;
use cookieguard::guard::redis::RedisMode;
use cookieguard::guard::{GuardStore, RedisGuard, RedisSettings};

struct Cluster {
    nodes: Vec<RedisServer>,
}

impl Cluster {
    /// Three primaries, the slots spread by `redis-cli --cluster create`.
    fn start() -> Cluster {
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start_cluster_node()).collect();
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addrs.iter().map(String::as_str));
        args.push("--cluster-yes");
        redis_cli(&args);
        let cluster = Cluster { nodes };
        let deadline = Instant::now() + Duration::from_secs(20);
        for node in &cluster.nodes {
            while !cluster
                .cli(node.addr, &["CLUSTER", "INFO"])
                .contains("cluster_state:ok")
            {
                assert!(Instant::now() < deadline, "the cluster did not form");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        cluster
    }

    fn cli(&self, node: SocketAddr, args: &[&str]) -> String {
        let port = node.port().to_string();
        let mut all = vec!["-h", "127.0.0.1", "-p", &port];
        all.extend_from_slice(args);
        redis_cli(&all)
    }

    fn seeds(&self) -> String {
        self.nodes
            .iter()
            .take(2)
            .map(|n| format!("redis://{}", n.addr))
            .collect::<Vec<_>>()
            .join(",")
    }

    fn store(&self, prefix: &str) -> GuardStore {
        let mut settings = RedisSettings::new(
            self.seeds(),
            prefix,
            Duration::from_secs(60),
            Duration::from_secs(2),
        );
        settings.mode = RedisMode::Cluster;
        GuardStore::Redis(Box::new(RedisGuard::new(settings).unwrap()))
    }

    /// How many keys each node holds.
    fn keys_per_node(&self) -> Vec<u64> {
        self.nodes
            .iter()
            .map(|n| self.cli(n.addr, &["DBSIZE"]).trim().parse().unwrap())
            .collect()
    }

    fn slot_of(&self, key: &str) -> u16 {
        self.cli(self.nodes[0].addr, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .unwrap()
    }

    /// Moves `slot` and its keys from the node holding it to another one,
    /// the way `redis-cli --cluster reshard` does, and returns (from, to).
    fn move_slot(&self, slot: u16) -> (usize, usize) {
        let slot_text = slot.to_string();
        let from = (0..3)
            .find(|&i| {
                self.cli(
                    self.nodes[i].addr,
                    &["CLUSTER", "COUNTKEYSINSLOT", &slot_text],
                )
                .trim()
                    != "0"
            })
            .expect("a node holds the slot's keys");
        let to = (from + 1) % 3;
        let id = |i: usize| {
            self.cli(self.nodes[i].addr, &["CLUSTER", "MYID"])
                .trim()
                .to_owned()
        };
        let (from_id, to_id) = (id(from), id(to));
        let (source, target) = (self.nodes[from].addr, self.nodes[to].addr);
        self.cli(
            target,
            &["CLUSTER", "SETSLOT", &slot_text, "IMPORTING", &from_id],
        );
        self.cli(
            source,
            &["CLUSTER", "SETSLOT", &slot_text, "MIGRATING", &to_id],
        );
        let keys = self.cli(source, &["CLUSTER", "GETKEYSINSLOT", &slot_text, "10000"]);
        let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
        let port = target.port().to_string();
        let mut migrate = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
        migrate.extend(keys.iter().copied());
        self.cli(source, &migrate);
        for node in &self.nodes {
            self.cli(
                node.addr,
                &["CLUSTER", "SETSLOT", &slot_text, "NODE", &to_id],
            );
        }
        (from, to)
    }
}

#[tokio::test]
async fn cluster_gives_the_verdicts_of_the_memory_store() {
    let cluster = Cluster::start();
    // Each scenario has its prefix, hence its slot: they spread over the nodes.
    same_verdicts_as_memory(|prefix| cluster.store(prefix)).await;
    let spread = cluster.keys_per_node();
    assert!(
        spread.iter().filter(|&&keys| keys > 0).count() >= 2,
        "{spread:?}"
    );
}

#[tokio::test]
async fn one_deployment_lives_in_one_slot_and_follows_it_when_it_moves() {
    let cluster = Cluster::start();
    let store = cluster.store("moving");
    assert_eq!(store.judge(query(true, Some(0), Some(1))).await, PASS);
    for n in 0..200 {
        assert_eq!(
            store
                .judge(query(false, Some(10 + n), Some(1000 + n)))
                .await,
            PASS
        );
    }
    // Every key carries the hash tag {moving}: all on one node.
    let per_node = cluster.keys_per_node();
    assert_eq!(
        per_node.iter().filter(|&&keys| keys > 0).count(),
        1,
        "{per_node:?}"
    );
    let slot = cluster.slot_of("{moving}:next");

    let (from, to) = cluster.move_slot(slot);
    let per_node = cluster.keys_per_node();
    assert_eq!(per_node[from], 0, "{per_node:?}");
    // The store's next call meets MOVED, follows it, and finds what it
    // remembered on the new node.
    assert_eq!(store.judge(query(false, Some(0), Some(2))).await, STALE);
    assert_eq!(store.judge(query(false, Some(1), Some(3))).await, PASS);
    assert_eq!(cluster.keys_per_node()[from], 0);
    assert!(cluster.keys_per_node()[to] > 0);
}
