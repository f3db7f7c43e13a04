// SPDX-License-Identifier: Apache-2.0
//! Fault injection: RabbitMQ restarted while calls and casts are in flight. Runs a private
//! node (so the shared one stays up for other tests) through the helper script that
//! `scripts/test-env/rabbitmq.sh` exports as `FERROSTACK_TEST_RABBITMQ_NODE`.

use ferrostack_amqp::{AmqpBus, AmqpConfig};
use ferrostack_core::bus::{Bus, BusError, DeliveryKind, Message};
use ferrostack_core::testing::env_prerequisite;
use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A private RabbitMQ node, stopped and removed on drop.
struct Node {
    script: String,
    dir: tempfile::TempDir,
    port: u16,
}

impl Node {
    fn run(&self, args: &[&str]) {
        let st = Command::new("bash").arg(&self.script).args(args).status().expect("run script");
        assert!(st.success(), "rabbitmq-node.sh {args:?} failed");
    }
    fn dir(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }
    fn start(&self) {
        self.run(&["start", self.dir(), &self.port.to_string()]);
    }
    fn stop(&self) {
        self.run(&["stop", self.dir()]);
    }
    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(&self.script).args(["stop", self.dir()]).status();
    }
}

/// Three consecutive free ports (AMQP, distribution, epmd).
fn free_ports() -> u16 {
    loop {
        let p = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        if p < 65000 && (1..3).all(|i| std::net::TcpListener::bind(("127.0.0.1", p + i)).is_ok()) {
            return p;
        }
    }
}

#[derive(Default)]
struct Seen {
    executions: HashMap<u64, u32>,
    casts: Vec<u64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rabbitmq_restarted_with_calls_and_casts_in_flight() {
    let Some(script) = env_prerequisite(
        "FERROSTACK_TEST_RABBITMQ_NODE",
        "rabbitmq_restarted_with_calls_and_casts_in_flight",
        "run scripts/test.sh, which exports the RabbitMQ helper script",
    ) else {
        return;
    };
    let dir = tempfile::Builder::new().prefix("ferrostack-mq-restart").tempdir().unwrap();
    let node = Node { script, dir, port: free_ports() };
    tokio::task::block_in_place(|| node.start());
    let config = || {
        let mut c = AmqpConfig::new(node.url());
        c.connect_wait = Duration::from_secs(120);
        c.max_backoff = Duration::from_millis(500);
        c
    };
    // Subscriber and sender on separate connections, as on separate hosts.
    let server = AmqpBus::with_config(config()).await.unwrap();
    let client = Arc::new(AmqpBus::with_config(config()).await.unwrap());
    let topic = "conductor.fault";
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut sub = server.subscribe(topic).await.unwrap();
    let seen2 = seen.clone();
    let subscriber = tokio::spawn(async move {
        while let Some(d) = sub.next().await {
            let id = d.message.payload["id"].as_u64().unwrap();
            match d.kind {
                DeliveryKind::Call => {
                    *seen2.lock().unwrap().executions.entry(id).or_default() += 1;
                    let _ = d.reply(Ok(serde_json::json!({ "id": id }))).await;
                }
                _ => seen2.lock().unwrap().casts.push(id),
            }
        }
    });

    let stop = Arc::new(AtomicBool::new(false));
    let restarted = Arc::new(AtomicBool::new(false));
    let calls_ok_after = Arc::new(AtomicU64::new(0));
    let calls_ok = Arc::new(AtomicU64::new(0));
    let casts_ok = Arc::new(AtomicU64::new(0));
    let caller = {
        let (c, stop, restarted) = (client.clone(), stop.clone(), restarted.clone());
        let (ok_after, ok) = (calls_ok_after.clone(), calls_ok.clone());
        tokio::spawn(async move {
            let (mut acked, mut failed) = (Vec::new(), Vec::<(u64, String)>::new());
            let mut id = 0u64;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                let after = restarted.load(Ordering::Relaxed);
                let msg = Message::new("exec", &serde_json::json!({ "id": id })).unwrap();
                match c.call(topic, msg, Duration::from_secs(2)).await {
                    Ok(v) => {
                        assert_eq!(v["id"], id, "a reply went to the wrong call");
                        acked.push(id);
                        ok.fetch_add(1, Ordering::Relaxed);
                        if after {
                            ok_after.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Err(e @ (BusError::Timeout { .. } | BusError::Unavailable { .. })) => {
                        failed.push((id, e.to_string()));
                    }
                    Err(e) => panic!("call {id} failed uncleanly: {e:?}"),
                }
            }
            (acked, failed)
        })
    };
    let caster = {
        let (c, stop, ok) = (client.clone(), stop.clone(), casts_ok.clone());
        tokio::spawn(async move {
            let (mut confirmed, mut unknown) = (BTreeSet::new(), BTreeSet::new());
            let mut id = 0u64;
            while !stop.load(Ordering::Relaxed) {
                id += 1;
                let msg = Message::new("note", &serde_json::json!({ "id": id })).unwrap();
                match c.cast(topic, msg).await {
                    Ok(()) => {
                        confirmed.insert(id);
                        ok.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(BusError::Unavailable { .. }) => {
                        unknown.insert(id);
                    }
                    Err(e) => panic!("cast {id} failed uncleanly: {e:?}"),
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            (confirmed, unknown)
        })
    };

    let wait_for = |counter: Arc<AtomicU64>, n: u64| async move {
        for _ in 0..6000 {
            if counter.load(Ordering::Relaxed) >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("no progress: {} of {n}", counter.load(Ordering::Relaxed));
    };
    wait_for(calls_ok.clone(), 20).await;
    wait_for(casts_ok.clone(), 20).await;
    let before = (calls_ok.load(Ordering::Relaxed), casts_ok.load(Ordering::Relaxed));
    tokio::task::block_in_place(|| {
        node.stop();
        node.start();
    });
    restarted.store(true, Ordering::Relaxed);
    // Subscribers resume and calls succeed again after the reconnection.
    wait_for(calls_ok_after.clone(), 20).await;
    wait_for(casts_ok.clone(), before.1 + 20).await;
    stop.store(true, Ordering::Relaxed);
    let (acked, failed) = caller.await.unwrap();
    let (confirmed, unknown) = caster.await.unwrap();
    assert!(server.connection_generation() >= 2 && client.connection_generation() >= 2);

    // Let confirmed casts still queued drain, then read the dead letters.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let dead: BTreeSet<u64> = loop {
        let received: BTreeSet<u64> = seen.lock().unwrap().casts.iter().copied().collect();
        let dead = dead_lettered_ids(&node.url()).await;
        if confirmed.iter().all(|id| received.contains(id) || dead.contains(id))
            || tokio::time::Instant::now() > deadline
        {
            break dead;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    subscriber.abort();
    let seen = seen.lock().unwrap();

    // No call executed twice; every acknowledged call executed exactly once.
    assert!(seen.executions.values().all(|&n| n == 1), "a call was executed twice");
    for id in &acked {
        assert_eq!(seen.executions.get(id), Some(&1), "acknowledged call {id}");
    }
    // No cast delivered twice; every confirmed cast delivered, or dead-lettered because the
    // connection dropped before its acknowledgement reached the broker.
    let received: BTreeSet<u64> = seen.casts.iter().copied().collect();
    assert_eq!(received.len(), seen.casts.len(), "a cast was delivered twice");
    let lost: Vec<_> =
        confirmed.iter().filter(|id| !received.contains(id) && !dead.contains(id)).collect();
    assert!(lost.is_empty(), "confirmed casts lost: {lost:?}");
    assert!(received.iter().all(|id| confirmed.contains(id) || unknown.contains(id)));
    eprintln!(
        "calls: {} ok ({} after the restart), {} failed cleanly {:?}; casts: {} confirmed, \
         {} unknown, {} received, {} dead-lettered",
        acked.len(),
        calls_ok_after.load(Ordering::Relaxed),
        failed.len(),
        failed.iter().map(|(_, e)| e.split(' ').next().unwrap_or("")).collect::<BTreeSet<_>>(),
        confirmed.len(),
        unknown.len(),
        received.len(),
        dead.len()
    );
}

/// The ids of the casts in the dead-letter queue (peeked and requeued).
async fn dead_lettered_ids(url: &str) -> BTreeSet<u64> {
    use lapin::options::{BasicGetOptions, BasicNackOptions};
    let conn =
        lapin::Connection::connect(url, lapin::ConnectionProperties::default()).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let mut ids = BTreeSet::new();
    while let Some(m) =
        ch.basic_get("ferrostack.dead-letters".into(), BasicGetOptions::default()).await.unwrap()
    {
        let v: serde_json::Value = serde_json::from_slice(&m.delivery.data).unwrap();
        if !ids.insert(v["message"]["payload"]["id"].as_u64().unwrap()) {
            break;
        }
    }
    // Closing the channel requeues everything peeked.
    let _ = ch.basic_nack(0, BasicNackOptions { multiple: true, requeue: true }).await;
    let _ = conn.close(200, "done".into()).await;
    ids
}
