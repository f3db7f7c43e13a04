// SPDX-License-Identifier: Apache-2.0
//! Fault injection: PostgreSQL restarted (cleanly and by a crash) in the middle of a write
//! workload. Runs a private server (so the shared one stays up for other tests) through the
//! helper script that `scripts/test-env/postgres.sh` exports as `FERROSTACK_TEST_POSTGRES_NODE`.

use ferrostack_core::store::{Store, StoreError, StoreExt};
use ferrostack_core::testing::env_prerequisite;
use ferrostack_postgres::{PostgresConfig, PostgresStore};
use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A private PostgreSQL server, stopped and removed on drop.
struct Node {
    script: String,
    dir: tempfile::TempDir,
    port: u16,
}

impl Node {
    fn run(&self, args: &[&str]) {
        let st = Command::new("bash")
            .arg(&self.script)
            .args(args)
            .status()
            .expect("run postgres-node.sh");
        assert!(st.success(), "postgres-node.sh {args:?} failed");
    }
    fn dir(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }
    fn start(&self) {
        self.run(&["start", self.dir(), &self.port.to_string()]);
    }
    fn stop(&self, mode: &str) {
        self.run(&["stop", self.dir(), mode]);
    }
    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ =
            Command::new("bash").arg(&self.script).args(["stop", self.dir(), "immediate"]).status();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

const WRITERS: u64 = 4;
const PER_WRITER: u64 = 150;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restarted_mid_workload_loses_no_acknowledged_write() {
    let Some(script) = env_prerequisite(
        "FERROSTACK_TEST_POSTGRES_NODE",
        "postgres_restarted_mid_workload",
        "run scripts/test.sh, which exports the PostgreSQL helper script",
    ) else {
        return;
    };
    let dir = tempfile::Builder::new().prefix("ferrostack-pg-restart").tempdir().unwrap();
    let node = Node { script, dir, port: free_port() };
    node.start();
    let mut cfg = PostgresConfig::new(node.url());
    cfg.retry_for = Duration::from_secs(60);
    cfg.pool_size = 4;
    let store = Arc::new(PostgresStore::with_config(cfg).await.unwrap());
    let counter = "fault/counter";
    store.create(counter, b"0".to_vec()).await.unwrap();

    // A watcher rides through the restarts too.
    let mut watch = store.watch().await.unwrap();
    let watcher = tokio::spawn(async move {
        let mut changes = Vec::new();
        while let Some(c) = watch.next().await {
            let done = c.keys.as_ref().is_some_and(|k| k.iter().any(|k| k == "fault/done"));
            changes.push(c);
            if done {
                break;
            }
        }
        changes
    });

    let progress = Arc::new(AtomicU64::new(0));
    let acked_incs = Arc::new(AtomicU64::new(0));
    let unknown_incs = Arc::new(AtomicU64::new(0));
    let unknown_creates = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (s, progress) = (store.clone(), progress.clone());
        let (acked_incs, unknown_incs, unknown_creates) =
            (acked_incs.clone(), unknown_incs.clone(), unknown_creates.clone());
        writers.push(tokio::spawn(async move {
            let mut acked = BTreeSet::new();
            for i in 0..PER_WRITER {
                let key = format!("fault/w{w}/{i:04}");
                let value = format!("{w}-{i}").into_bytes();
                let mut in_doubt = false;
                loop {
                    match s.create(&key, value.clone()).await {
                        Ok(_) => break,
                        // Our earlier attempt committed after all: the retry proves it.
                        Err(StoreError::AlreadyExists(_)) if in_doubt => break,
                        Err(StoreError::Unavailable { .. }) => {
                            in_doubt = true;
                            unknown_creates.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("create {key}: {e:?}"),
                    }
                }
                acked.insert(key);
                // A compare-and-swap increment of the shared counter.
                loop {
                    let kv = match s.get(counter).await {
                        Ok(kv) => kv.unwrap(),
                        Err(StoreError::Unavailable { .. }) => continue,
                        Err(e) => panic!("{e:?}"),
                    };
                    let n: u64 = std::str::from_utf8(&kv.value).unwrap().parse().unwrap();
                    match s
                        .compare_and_put(counter, kv.mod_revision, (n + 1).to_string().into())
                        .await
                    {
                        Ok(_) => {
                            acked_incs.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Err(StoreError::Conflict(_)) => {}
                        Err(StoreError::Unavailable { .. }) => {
                            // Unknown outcome: do not retry this increment blindly.
                            unknown_incs.fetch_add(1, Ordering::Relaxed);
                            break;
                        }
                        Err(e) => panic!("{e:?}"),
                    }
                }
                progress.fetch_add(1, Ordering::Relaxed);
            }
            acked
        }));
    }

    // Restart twice while the writers run: a clean fast shutdown, then a crash.
    let total = WRITERS * PER_WRITER;
    let mut marks = Vec::new();
    for (mode, at) in [("fast", total / 4), ("immediate", total / 2)] {
        while progress.load(Ordering::Relaxed) < at {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let before = progress.load(Ordering::Relaxed);
        tokio::task::block_in_place(|| {
            node.stop(mode);
            std::thread::sleep(Duration::from_millis(300));
            node.start();
        });
        marks.push((mode, before));
    }
    let mut acked = BTreeSet::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert_eq!(progress.load(Ordering::Relaxed), total, "clients recovered and finished");

    // The watcher saw commits in order, and was told when it may have missed some.
    store.put("fault/done", Vec::new()).await.unwrap();
    let changes = tokio::time::timeout(Duration::from_secs(60), watcher).await.unwrap().unwrap();
    let resyncs = changes.iter().filter(|c| c.keys.is_none()).count();
    assert!(resyncs >= 1, "a watch that lost its connection must say so");
    let revs: Vec<u64> = changes.iter().filter(|c| c.keys.is_some()).map(|c| c.revision).collect();
    assert!(revs.windows(2).all(|w| w[0] < w[1]), "changes out of order");

    // Every acknowledged write is there, with its value; nothing else is.
    let fresh = PostgresStore::connect(&node.url()).await.unwrap();
    let listed = fresh.list_all("fault/w").await.unwrap();
    let keys: BTreeSet<String> = listed.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(keys, acked, "an acknowledged create was lost, or a phantom appeared");
    for kv in &listed {
        let (w, i) = kv.key["fault/w".len()..].split_once('/').unwrap();
        let i: u64 = i.parse().unwrap();
        assert_eq!(kv.value, format!("{w}-{i}").into_bytes());
        assert_eq!(kv.version, 1, "a create was applied twice");
    }
    let n: u64 = std::str::from_utf8(&fresh.get(counter).await.unwrap().unwrap().value)
        .unwrap()
        .parse()
        .unwrap();
    let (ok, unknown) = (acked_incs.load(Ordering::Relaxed), unknown_incs.load(Ordering::Relaxed));
    assert!(
        ok <= n && n <= ok + unknown,
        "counter {n}: {ok} acknowledged increments, {unknown} with unknown outcome"
    );
    assert!(fresh.revision().await.unwrap() >= total + ok);
    eprintln!(
        "restarts at {marks:?}: {total} creates acknowledged, {} in doubt and resolved; \
         counter {n} = {ok} acknowledged + {} of {unknown} in doubt; watcher: {} changes, \
         {resyncs} resyncs",
        unknown_creates.load(Ordering::Relaxed),
        n - ok,
        changes.len()
    );
}
