// SPDX-License-Identifier: Apache-2.0
//! `AmqpBus` against a real RabbitMQ (started by `scripts/test-env/rabbitmq.sh`).

use ferrostack_amqp::AmqpBus;
use ferrostack_core::bus::{Bus, BusError, Message, conformance};
use ferrostack_core::testing::env_prerequisite;
use std::sync::Arc;
use std::time::Duration;

fn url(test: &str) -> Option<String> {
    env_prerequisite(
        "FERROSTACK_TEST_AMQP_URL",
        test,
        "run scripts/test.sh, which starts RabbitMQ on loopback",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn amqp_bus_passes_the_conformance_suite() {
    let Some(url) = url("amqp_bus_passes_the_conformance_suite") else { return };
    let bus = AmqpBus::connect(&url).await.unwrap();
    assert_eq!(bus.name(), "amqp");
    conformance::run_all(Arc::new(bus)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn separate_connections_talk_through_the_broker() {
    let Some(url) = url("separate_connections_talk_through_the_broker") else { return };
    // Caller and subscriber on different connections, as on different hosts.
    let server = AmqpBus::connect(&url).await.unwrap();
    let client = AmqpBus::connect(&url).await.unwrap();
    let topic = format!("compute.host-{}", uuid::Uuid::new_v4().simple());
    let mut sub = server.subscribe(&topic).await.unwrap();
    tokio::spawn(async move {
        while let Some(d) = sub.next().await {
            let v = d.message.version.clone();
            let _ = d.reply(Ok(serde_json::json!({ "version": v }))).await;
        }
    });
    let msg = Message::new("ping", &1).unwrap().with_version("1.7");
    let reply = client.call(&topic, msg, Duration::from_secs(10)).await.unwrap();
    assert_eq!(reply["version"], "1.7", "the message version travels on the wire");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_messages_are_dead_lettered_not_redelivered() {
    let Some(url) = url("poison_messages_are_dead_lettered") else { return };
    let prefix = format!("poison{}", uuid::Uuid::new_v4().simple());
    let mut cfg = ferrostack_amqp::AmqpConfig::new(&url);
    cfg.prefix = prefix.clone();
    let bus = AmqpBus::with_config(cfg).await.unwrap();
    let topic = "poison.topic";
    let mut sub = bus.subscribe(topic).await.unwrap();

    // A raw client publishes garbage, then a call without a reply address, then a good cast.
    use lapin::options::{BasicGetOptions, BasicPublishOptions};
    let conn =
        lapin::Connection::connect(&url, lapin::ConnectionProperties::default()).await.unwrap();
    let ch = conn.create_channel().await.unwrap();
    let publish = |body: Vec<u8>| {
        let ch = ch.clone();
        let exchange = prefix.clone();
        async move {
            ch.basic_publish(
                exchange.as_str().into(),
                topic.into(),
                BasicPublishOptions::default(),
                &body,
                lapin::BasicProperties::default(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
    };
    publish(b"not json".to_vec()).await;
    let call = serde_json::json!({"kind": "call", "message": {"method": "m", "version": "1.0", "payload": 1}});
    publish(serde_json::to_vec(&call).unwrap()).await;
    bus.cast(topic, Message::new("good", &2).unwrap()).await.unwrap();

    // Only the good message reaches the subscriber...
    let d = tokio::time::timeout(Duration::from_secs(20), sub.next()).await.unwrap().unwrap();
    assert_eq!(d.message.method, "good");
    assert!(tokio::time::timeout(Duration::from_millis(500), sub.next()).await.is_err());
    // ...and the two bad ones wait in the dead-letter queue, once each.
    let dead = format!("{prefix}.dead-letters");
    let mut bodies = Vec::new();
    for _ in 0..50 {
        match ch.basic_get(dead.as_str().into(), BasicGetOptions { no_ack: true }).await.unwrap() {
            Some(m) => bodies.push(m.delivery.data.clone()),
            None if bodies.len() >= 2 => break,
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(bodies.len(), 2, "both poison messages dead-lettered exactly once");
    assert_eq!(bodies[0], b"not json");
    for q in [dead.clone(), format!("{prefix}.topic.{topic}")] {
        let _ = ch.queue_delete(q.as_str().into(), Default::default()).await;
    }
    for ex in [prefix.clone(), format!("{prefix}.fanout"), format!("{prefix}.dead")] {
        let _ = ch.exchange_delete(ex.as_str().into(), Default::default()).await;
    }
    let _ = conn.close(200, "done".into()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_broker_is_a_clean_unavailable_error() {
    let mut cfg = ferrostack_amqp::AmqpConfig::new("amqp://guest:guest@127.0.0.1:1/%2f");
    cfg.connect_wait = Duration::from_millis(300);
    let err = AmqpBus::with_config(cfg).await.unwrap_err();
    assert!(matches!(err, BusError::Unavailable { .. }), "{err:?}");
    let err = AmqpBus::connect("amqps://127.0.0.1:1/%2f").await.unwrap_err();
    assert!(matches!(err, BusError::Unavailable { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_bus_ends_its_subscriptions() {
    let Some(url) = url("dropping_the_bus_ends_its_subscriptions") else { return };
    let bus = AmqpBus::connect(&url).await.unwrap();
    let topic = format!("drop.{}", uuid::Uuid::new_v4().simple());
    let mut sub = bus.subscribe(&topic).await.unwrap();
    drop(bus);
    let end = tokio::time::timeout(Duration::from_secs(20), sub.next()).await;
    assert!(matches!(end, Ok(None)), "the stream must end when the bus is gone");
}
