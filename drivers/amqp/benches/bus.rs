// SPDX-License-Identifier: Apache-2.0
//! Bus call round trip and confirmed cast, in-process (`LocalBus`) against RabbitMQ on
//! loopback (`AmqpBus`, caller and subscriber on separate connections). The RabbitMQ part needs
//! `FERROSTACK_TEST_AMQP_URL` (`scripts/test-env/rabbitmq.sh` starts a node); without it only
//! the in-process bus runs.
//!
//! ```text
//! FERROSTACK_TEST_AMQP_URL='amqp://guest:guest@127.0.0.1:PORT/%2f' \
//!     cargo bench -p ferrostack-amqp --bench bus
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use ferrostack_amqp::AmqpBus;
use ferrostack_core::bus::{Bus, LocalBus, Message};
use std::sync::Arc;
use std::time::Duration;

fn bench_bus(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    name: &str,
    caller: Arc<dyn Bus>,
    server: Arc<dyn Bus>,
) {
    let topic = format!("bench.{}", uuid::Uuid::new_v4().simple());
    let mut sub = rt.block_on(server.subscribe(&topic)).unwrap();
    let echo = rt.spawn(async move {
        while let Some(d) = sub.next().await {
            let payload = d.message.payload.clone();
            let _ = d.reply(Ok(payload)).await;
        }
    });
    let msg = Message::new("echo", &serde_json::json!({ "n": 1, "host": "compute-1" })).unwrap();
    let mut g = c.benchmark_group(format!("bus/{name}"));
    g.bench_function("call_round_trip", |b| {
        b.to_async(rt).iter(|| async {
            caller.call(&topic, msg.clone(), Duration::from_secs(10)).await.unwrap()
        })
    });
    g.bench_function("cast", |b| {
        b.to_async(rt).iter(|| async { caller.cast(&topic, msg.clone()).await.unwrap() })
    });
    g.finish();
    echo.abort();
}

fn benches(c: &mut Criterion) {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let local = Arc::new(LocalBus::new());
    bench_bus(c, &rt, "local", local.clone(), local);
    match std::env::var("FERROSTACK_TEST_AMQP_URL") {
        Ok(url) if !url.is_empty() => {
            let caller = rt.block_on(AmqpBus::connect(&url)).unwrap();
            let server = rt.block_on(AmqpBus::connect(&url)).unwrap();
            bench_bus(c, &rt, "amqp", Arc::new(caller), Arc::new(server));
        }
        _ => eprintln!("SKIPPED bus/amqp: FERROSTACK_TEST_AMQP_URL is not set"),
    }
}

criterion_group!(bus_benches, benches);
criterion_main!(bus_benches);
