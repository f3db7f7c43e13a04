// SPDX-License-Identifier: Apache-2.0
//! The public conformance suite every [`Bus`] implementation must pass.
//!
//! Call [`run_all`] from a multi-threaded tokio test. Every check uses fresh random topic
//! names, so the suite can run against a shared broker.

use super::*;
use crate::ErrorKind;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn topic(test: &str) -> String {
    format!("conformance.{test}.{}", uuid::Uuid::new_v4().simple())
}

fn msg(method: &str, n: u64) -> Message {
    Message::new(method, &serde_json::json!({ "n": n })).unwrap()
}

/// How long the suite waits for deliveries that must arrive.
const PATIENCE: Duration = Duration::from_secs(20);

async fn next(sub: &mut Subscription) -> Delivery {
    tokio::time::timeout(PATIENCE, sub.next())
        .await
        .expect("a delivery that must arrive did not")
        .expect("the subscription ended")
}

/// Answers every call on `sub` with `{"echo": payload}`, or a remote `NotFound` for method
/// `"missing"`, until the subscription ends.
fn spawn_echo(mut sub: Subscription) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(d) = sub.next().await {
            let reply = if d.message.method == "missing" {
                Err(RemoteError { kind: ErrorKind::NotFound, message: "no such thing".into() })
            } else {
                Ok(serde_json::json!({ "echo": d.message.payload }))
            };
            d.reply(reply).await.unwrap();
        }
    })
}

/// Runs every check of the suite in turn.
pub async fn run_all(bus: Arc<dyn Bus>) {
    call_round_trip_and_remote_errors(&*bus).await;
    concurrent_calls_get_their_own_replies(&*bus).await;
    call_without_subscriber_fails_cleanly(&*bus).await;
    call_times_out(&*bus).await;
    dead_subscriber_is_a_clean_error(&*bus).await;
    casts_are_ordered_per_topic(&*bus).await;
    casts_are_shared_between_subscribers(&*bus).await;
    fanout_reaches_every_subscriber(&*bus).await;
    invalid_topics_are_refused(&*bus).await;
}

/// A call returns the subscriber's reply; a remote error keeps its kind.
pub async fn call_round_trip_and_remote_errors(bus: &dyn Bus) {
    let t = topic("call");
    let echo = spawn_echo(bus.subscribe(&t).await.unwrap());
    let reply = bus.call(&t, msg("ping", 7), PATIENCE).await.unwrap();
    assert_eq!(reply, serde_json::json!({"echo": {"n": 7}}));
    let err = bus.call(&t, msg("missing", 1), PATIENCE).await.unwrap_err();
    assert!(matches!(&err, BusError::Remote(r) if r.kind == ErrorKind::NotFound), "{err:?}");
    assert_eq!(crate::error::Classify::kind(&err), ErrorKind::NotFound);
    let typed: serde_json::Value =
        bus.call_typed(&t, "ping", &serde_json::json!({"n": 9}), PATIENCE).await.unwrap();
    assert_eq!(typed["echo"]["n"], 9);
    echo.abort();
}

/// Many calls in flight at once each get the reply to their own request.
pub async fn concurrent_calls_get_their_own_replies(bus: &dyn Bus) {
    let t = topic("concurrent");
    let echo1 = spawn_echo(bus.subscribe(&t).await.unwrap());
    let echo2 = spawn_echo(bus.subscribe(&t).await.unwrap());
    let calls = (0..50u64).map(|n| {
        let t = t.clone();
        async move { (n, bus.call(&t, msg("ping", n), PATIENCE).await) }
    });
    for (n, reply) in futures::future::join_all(calls).await {
        assert_eq!(reply.unwrap()["echo"]["n"], n, "reply to call {n} went elsewhere");
    }
    echo1.abort();
    echo2.abort();
}

/// A call or cast to a topic nobody subscribes to fails without waiting for the timeout.
pub async fn call_without_subscriber_fails_cleanly(bus: &dyn Bus) {
    let t = topic("nobody");
    let started = Instant::now();
    let err = bus.call(&t, msg("ping", 1), Duration::from_secs(30)).await.unwrap_err();
    assert!(matches!(err, BusError::NoSubscribers(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(29), "must not wait for the timeout");
    assert!(matches!(bus.cast(&t, msg("ping", 1)).await, Err(BusError::NoSubscribers(_))));
    bus.fanout(&t, msg("ping", 1)).await.expect("fanout to nobody is not an error");
}

/// A subscriber that holds a call without answering makes the caller time out.
pub async fn call_times_out(bus: &dyn Bus) {
    let t = topic("slow");
    let mut sub = bus.subscribe(&t).await.unwrap();
    let holder = tokio::spawn(async move {
        let d = next(&mut sub).await;
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(d);
    });
    let err = bus.call(&t, msg("ping", 1), Duration::from_millis(300)).await.unwrap_err();
    assert!(matches!(err, BusError::Timeout { .. }), "{err:?}");
    holder.abort();
}

/// A subscriber that drops a call, or goes away, is an error for the caller, not a hang.
pub async fn dead_subscriber_is_a_clean_error(bus: &dyn Bus) {
    let t = topic("dead");
    let mut sub = bus.subscribe(&t).await.unwrap();
    let dropper = tokio::spawn(async move {
        let d = next(&mut sub).await;
        drop(d);
        drop(sub);
    });
    let err = bus.call(&t, msg("ping", 1), Duration::from_secs(5)).await.unwrap_err();
    assert!(
        matches!(err, BusError::NoReply { .. } | BusError::Timeout { .. }),
        "a dropped call must fail cleanly: {err:?}"
    );
    dropper.await.unwrap();
    // The subscriber is gone: a later call fails cleanly too. Brokers that cancel consumers
    // asynchronously may still hand it to the departing subscriber, which answers NoReply.
    let err = bus.call(&t, msg("ping", 2), Duration::from_secs(5)).await.unwrap_err();
    assert!(
        matches!(
            err,
            BusError::NoSubscribers(_) | BusError::NoReply { .. } | BusError::Timeout { .. }
        ),
        "a call to a topic whose subscriber left must fail cleanly: {err:?}"
    );
}

/// Casts from one sender reach a single subscriber in order.
pub async fn casts_are_ordered_per_topic(bus: &dyn Bus) {
    let t = topic("order");
    let mut sub = bus.subscribe(&t).await.unwrap();
    for n in 0..200 {
        bus.cast(&t, msg("seq", n)).await.unwrap();
    }
    for n in 0..200u64 {
        let d = next(&mut sub).await;
        assert_eq!(d.kind, DeliveryKind::Cast);
        assert!(!d.expects_reply());
        assert_eq!(d.message.payload["n"], n, "casts arrived out of order");
    }
}

/// Subscribers of one topic compete: each cast is delivered exactly once in total.
pub async fn casts_are_shared_between_subscribers(bus: &dyn Bus) {
    let t = topic("shared");
    let subs = vec![bus.subscribe(&t).await.unwrap(), bus.subscribe(&t).await.unwrap()];
    const N: u64 = 100;
    for n in 0..N {
        bus.cast(&t, msg("work", n)).await.unwrap();
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    for mut sub in subs {
        let tx = tx.clone();
        tasks.push(tokio::spawn(async move {
            while let Some(d) = sub.next().await {
                tx.send(d.message.payload["n"].as_u64().unwrap()).unwrap();
            }
        }));
    }
    let mut seen = Vec::new();
    while seen.len() < N as usize {
        let n =
            tokio::time::timeout(PATIENCE, rx.recv()).await.expect("casts went missing").unwrap();
        seen.push(n);
    }
    // Nothing more arrives: no cast was delivered twice.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), rx.recv()).await.is_err(),
        "duplicate delivery"
    );
    seen.sort_unstable();
    assert_eq!(seen, (0..N).collect::<Vec<_>>());
    for t in tasks {
        t.abort();
    }
}

/// A fanout reaches every subscriber of the topic once.
pub async fn fanout_reaches_every_subscriber(bus: &dyn Bus) {
    let t = topic("fanout");
    let mut subs = Vec::new();
    for _ in 0..3 {
        subs.push(bus.subscribe(&t).await.unwrap());
    }
    bus.fanout(&t, msg("hello", 1)).await.unwrap();
    for sub in &mut subs {
        let d = next(sub).await;
        assert_eq!(d.kind, DeliveryKind::Fanout);
        assert_eq!(d.message.method, "hello");
    }
    for sub in &mut subs {
        assert!(
            tokio::time::timeout(Duration::from_millis(200), sub.next()).await.is_err(),
            "a fanout was delivered twice"
        );
    }
}

/// Empty, overlong and wildcard topics are refused.
pub async fn invalid_topics_are_refused(bus: &dyn Bus) {
    for bad in ["", "a b", "compute.*", "topic#", &"x".repeat(256)] {
        assert!(matches!(bus.subscribe(bad).await, Err(BusError::InvalidTopic(_))), "{bad:?}");
        assert!(
            matches!(bus.cast(bad, msg("m", 0)).await, Err(BusError::InvalidTopic(_))),
            "{bad:?}"
        );
    }
}
