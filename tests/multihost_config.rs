// SPDX-License-Identifier: Apache-2.0
//! The facade's configuration selects the multi-host backends: `store = "postgres://..."` and
//! `bus = "amqp://..."` open the real PostgreSQL and RabbitMQ that `scripts/test.sh` starts.
#![cfg(all(feature = "postgres", feature = "amqp"))]

use ferrostack::core::bus::BusExt;
use ferrostack::core::store::StoreExt;
use ferrostack::core::testing::env_prerequisite;
use ferrostack::{Cloud, CloudConfig};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_selects_postgres_and_rabbitmq() {
    let test = "config_selects_postgres_and_rabbitmq";
    let how = "run scripts/test.sh, which starts PostgreSQL and RabbitMQ";
    let Some(pg) = env_prerequisite("FERROSTACK_TEST_POSTGRES_URL", test, how) else { return };
    let Some(amqp) = env_prerequisite("FERROSTACK_TEST_AMQP_URL", test, how) else { return };
    let toml = format!("store = {pg:?}\nbus = {amqp:?}\n");
    let config = CloudConfig::from_toml(&toml).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cloud = Cloud::open(config, dir.path()).await.unwrap();
    assert_eq!(cloud.store().name(), "postgres");
    assert_eq!(cloud.bus().name(), "amqp");

    let key = format!("facade-test/{}", uuid_like());
    cloud.store().put(&key, b"hello".to_vec()).await.unwrap();
    assert_eq!(cloud.store().get(&key).await.unwrap().unwrap().value, b"hello");

    let topic = format!("facade.test.{}", uuid_like());
    let mut sub = cloud.bus().subscribe(&topic).await.unwrap();
    let responder = tokio::spawn(async move {
        let d = sub.next().await.unwrap();
        let n = d.message.payload["n"].as_u64().unwrap();
        d.reply(Ok(serde_json::json!({ "double": n * 2 }))).await.unwrap();
    });
    let reply: serde_json::Value = cloud
        .bus()
        .call_typed(&topic, "double", &serde_json::json!({"n": 21}), Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(reply["double"], 42);
    responder.await.unwrap();
}

fn uuid_like() -> String {
    format!("{:x}{:x}", std::process::id(), rand_nanos())
}

fn rand_nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}
