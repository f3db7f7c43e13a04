// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-amqp: the Bus on RabbitMQ
//!
//! [`AmqpBus`] is a [`ferrostack_core::bus::Bus`] over AMQP 0-9-1 (RabbitMQ, with
//! [lapin](https://docs.rs/lapin)), so that the services of one cloud can run as separate
//! processes on separate hosts. It passes the same conformance suite as the in-process
//! `LocalBus` (`ferrostack_core::bus::conformance`).
//!
//! ## Topology
//!
//! With the default prefix `ferrostack` (see [`AmqpConfig::prefix`]):
//!
//! | object | type | durable | purpose |
//! |---|---|---|---|
//! | `ferrostack` | topic exchange | yes | calls and casts, routing key = topic |
//! | `ferrostack.fanout` | topic exchange | yes | fanouts, routing key = topic |
//! | `ferrostack.dead` | fanout exchange | yes | dead letters |
//! | `ferrostack.dead-letters` | queue | yes | where dead letters wait for an operator |
//! | `ferrostack.topic.<topic>` | queue | yes | the work queue of a topic, shared by its subscribers |
//! | server-named, one per subscription | queue | no (exclusive, auto-delete) | that subscriber's fanouts |
//! | `ferrostack.reply.<uuid>` | queue | no (exclusive) | replies to this bus handle's calls |
//!
//! Topic names are validated by [`ferrostack_core::bus::validate_topic`], which excludes the
//! topic-exchange wildcards `*` and `#`, so a binding matches exactly one topic.
//!
//! **Durable where it matters.** Casts are fire-and-forget, so they must not vanish: a topic's
//! work queue is durable, casts are published persistent (`delivery_mode` 2) with **publisher
//! confirms**, and `cast` returns only once the broker has taken responsibility for the
//! message (confirmed, or returned as unroutable: then [`BusError::NoSubscribers`]). A
//! confirmed cast survives a broker restart. Calls are transient: the caller waits with a
//! timeout, and each request carries a per-message TTL equal to that timeout, so a request
//! nobody picked up in time is discarded by the broker instead of being executed late.
//! Fanout and reply queues live and die with their subscriber or caller.
//!
//! A work queue expires ([`AmqpConfig::queue_expiry`], `x-expires`) once it has had no
//! consumer for that long. Until then, casts to a topic whose subscribers are all gone wait in
//! the queue for the next subscriber (as oslo.messaging does), and calls time out; a topic
//! that was never subscribed (or whose queue expired) makes `call` and `cast` fail at once
//! with [`BusError::NoSubscribers`] (mandatory publishing). Every process using one broker
//! must use the same [`AmqpConfig::queue_expiry`], since RabbitMQ refuses to redeclare a
//! queue with different arguments.
//!
//! ## Delivery guarantees and poison messages
//!
//! Subscribers acknowledge each message as soon as it arrives, before handing it to the
//! application: delivery is **at most once**, as the `Bus` contract requires, and a call is
//! never executed twice. A message the broker delivers again (`redelivered`, because the
//! connection dropped before the acknowledgement got through) may already have been handed
//! over, so it is **rejected without requeueing**, which dead-letters it to
//! `ferrostack.dead-letters`. Messages that cannot be decoded, and calls without a reply
//! address, are dead-lettered too. Nothing is redelivered forever.
//!
//! ## Calls
//!
//! Each bus handle has one reply queue with a fixed name. A call publishes the request
//! (mandatory, confirmed) with `reply_to` and a random `correlation_id`, then waits for the
//! reply with that id, all within the call's timeout. A subscriber that drops a call without
//! answering sends a "no reply" marker, so the caller fails at once with
//! [`BusError::NoReply`]. Replies are JSON `{"ok": value}`, `{"err": {kind, message}}` or
//! `{"no_reply": null}`; requests are JSON `{"kind": "call"|"cast"|"fanout", "message":
//! {"method", "version", "payload"}}`: the message version travels on the wire.
//!
//! ## Reconnection
//!
//! A supervisor task owns the connection. When it drops (broker restart, network failure) the
//! supervisor reconnects with exponential backoff (50 ms doubling up to
//! [`AmqpConfig::max_backoff`]) and re-declares the whole topology: exchanges, the reply
//! queue (same name, so replies to calls made before the failure still arrive), and every
//! live subscription's queues, bindings and consumers (and re-attaches, every 250 ms, any
//! subscription whose channel the broker closed). Subscriptions keep their stream and simply
//! resume. While disconnected, operations wait for the connection up to
//! [`AmqpConfig::connect_wait`] (a call: up to its timeout) and then fail with
//! [`BusError::Unavailable`]. A cast whose connection dropped before the confirm arrived
//! is not re-sent (it may have been delivered): it fails with `Unavailable`. A call in the
//! same situation keeps waiting for a reply, so it either succeeds or times out.
//!
//! TLS is not built in (`amqps://` is refused): use the bus on loopback or a private network.
//!
//! ## Example
//!
//! ```no_run
//! use ferrostack_amqp::AmqpBus;
//! use ferrostack_core::bus::{Bus, Message};
//! use std::time::Duration;
//!
//! # async fn demo() -> Result<(), ferrostack_core::bus::BusError> {
//! let bus = AmqpBus::connect("amqp://guest:guest@127.0.0.1:5672/%2f").await?;
//! let mut sub = bus.subscribe("compute.host1").await?;
//! tokio::spawn(async move {
//!     while let Some(d) = sub.next().await {
//!         let answer = serde_json::json!({ "pong": d.message.payload });
//!         let _ = d.reply(Ok(answer)).await;
//!     }
//! });
//! let msg = Message::new("ping", &serde_json::json!({ "n": 1 }))?;
//! let reply = bus.call("compute.host1", msg, Duration::from_secs(5)).await?;
//! assert_eq!(reply["pong"]["n"], 1);
//! # Ok(()) }
//! ```

use async_trait::async_trait;
use ferrostack_core::bus::{
    Bus, BusError, Delivery, DeliveryKind, Message, RemoteError, Replier, Reply, Subscription,
    validate_topic,
};
use ferrostack_core::error::BoxError;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicRejectOptions,
    ConfirmSelectOptions, ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

const NAME: &str = "amqp";

/// How to reach and use the broker.
#[derive(Clone)]
pub struct AmqpConfig {
    /// `amqp://user:password@host:port/vhost` (the vhost URL-encoded: `%2f` is `/`).
    pub url: String,
    /// Prefix of every exchange and queue name. Default `ferrostack`.
    pub prefix: String,
    /// How long a topic's work queue outlives its last subscriber (`x-expires`). Must be the
    /// same in every process on the broker. Default 30 minutes.
    pub queue_expiry: Duration,
    /// How long `cast`, `fanout`, `subscribe` and replies wait for a connection while the
    /// broker is unreachable, and how long [`AmqpBus::with_config`] tries to connect.
    /// Default 10 s.
    pub connect_wait: Duration,
    /// The longest pause between reconnection attempts. Default 5 s.
    pub max_backoff: Duration,
}

impl AmqpConfig {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        AmqpConfig {
            url: url.into(),
            prefix: "ferrostack".into(),
            queue_expiry: Duration::from_secs(30 * 60),
            connect_wait: Duration::from_secs(10),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl fmt::Debug for AmqpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpConfig")
            .field("url", &redact(&self.url))
            .field("prefix", &self.prefix)
            .field("queue_expiry", &self.queue_expiry)
            .field("connect_wait", &self.connect_wait)
            .field("max_backoff", &self.max_backoff)
            .finish()
    }
}

/// The URL with its password, if any, replaced by `***`.
fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((userinfo, host)) = rest.rsplit_once('@')
        && let Some((user, _password)) = userinfo.split_once(':')
    {
        return format!("{scheme}://{user}:***@{host}");
    }
    url.to_owned()
}

fn unavailable(e: impl Into<BoxError>) -> BusError {
    BusError::Unavailable { bus: NAME, source: e.into() }
}

/// Why the bus could not do something; the source of [`BusError::Unavailable`].
#[derive(Debug, thiserror::Error)]
enum AmqpError {
    #[error("no connection to the broker within {0:?}")]
    NoConnection(Duration),
    #[error("the broker refused the message (nack)")]
    Nacked,
    #[error("connection lost before the broker confirmed the message; it may have been delivered")]
    Unconfirmed(#[source] lapin::Error),
    #[error("broker operation failed")]
    Broker(#[source] lapin::Error),
    #[error("invalid AMQP URL (TLS is not supported)")]
    Url,
}

/// A request on the wire.
#[derive(Debug, Serialize, Deserialize)]
struct WireRequest {
    kind: DeliveryKind,
    message: Message,
}

/// A reply on the wire.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireReply {
    Ok(serde_json::Value),
    Err(RemoteError),
    NoReply(()),
}

/// One established connection with its publishing channel.
struct Live {
    conn: Connection,
    publish: Channel,
    generation: u64,
}

impl Live {
    fn usable(&self) -> bool {
        self.conn.status().connected() && self.publish.status().connected()
    }
}

/// One subscription, re-attached after every reconnection.
struct SubEntry {
    topic: String,
    tx: mpsc::UnboundedSender<Delivery>,
    closed: AtomicBool,
    /// The generation of the connection the consumers run on, and their channel.
    attached: tokio::sync::Mutex<Option<(u64, Channel)>>,
}

struct Shared {
    config: AmqpConfig,
    names: Names,
    live: watch::Sender<Option<Arc<Live>>>,
    pending: Mutex<HashMap<String, oneshot::Sender<WireReply>>>,
    subs: Mutex<HashMap<u64, Arc<SubEntry>>>,
    next_sub: AtomicU64,
}

/// Exchange and queue names.
struct Names {
    exchange: String,
    fanout: String,
    dead_exchange: String,
    dead_queue: String,
    reply_queue: String,
    prefix: String,
}

impl Names {
    fn new(prefix: &str) -> Self {
        Names {
            exchange: prefix.to_owned(),
            fanout: format!("{prefix}.fanout"),
            dead_exchange: format!("{prefix}.dead"),
            dead_queue: format!("{prefix}.dead-letters"),
            reply_queue: format!("{prefix}.reply.{}", uuid::Uuid::new_v4().simple()),
            prefix: prefix.to_owned(),
        }
    }

    /// The work queue of `topic`; AMQP names are at most 255 bytes.
    fn work_queue(&self, topic: &str) -> String {
        let name = format!("{}.topic.{topic}", self.prefix);
        if name.len() <= 255 {
            return name;
        }
        // Stable across processes: FNV-1a of the topic, plus a readable head.
        let hash = topic.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        let head: String = topic.chars().take(160).collect();
        format!("{}.topic.{hash:016x}.{head}", self.prefix)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Stops the supervisor and closes the connection when the last handle goes.
struct Guard {
    shared: Arc<Shared>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.supervisor.abort();
        // Ends every subscription's stream once its consumers stop with the connection.
        lock(&self.shared.subs).clear();
        if let Some(live) = self.shared.live.send_replace(None)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            rt.spawn(async move {
                let _ = live.conn.close(200, "bus dropped".into()).await;
            });
        }
    }
}

/// A [`Bus`] on RabbitMQ. Cheap to clone; clones share one connection, reply queue and
/// supervisor. The connection closes when the last clone (and the last subscription) is gone.
#[derive(Clone)]
pub struct AmqpBus {
    shared: Arc<Shared>,
    _guard: Arc<Guard>,
}

impl fmt::Debug for AmqpBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpBus")
            .field("config", &self.shared.config)
            .field("reply_queue", &self.shared.names.reply_queue)
            .finish_non_exhaustive()
    }
}

impl AmqpBus {
    /// Connects with [`AmqpConfig::new`]`(url)`.
    ///
    /// # Errors
    ///
    /// [`BusError::Unavailable`] when the URL is invalid or the broker cannot be reached and
    /// set up within [`AmqpConfig::connect_wait`].
    pub async fn connect(url: &str) -> Result<Self, BusError> {
        Self::with_config(AmqpConfig::new(url)).await
    }

    /// Connects with `config`, declares the topology and starts the supervisor that keeps
    /// the connection up.
    ///
    /// # Errors
    ///
    /// As [`AmqpBus::connect`].
    pub async fn with_config(config: AmqpConfig) -> Result<Self, BusError> {
        if !config.url.starts_with("amqp://") {
            return Err(unavailable(AmqpError::Url));
        }
        let (live_tx, _) = watch::channel(None);
        let shared = Arc::new(Shared {
            names: Names::new(&config.prefix),
            config,
            live: live_tx,
            pending: Mutex::new(HashMap::new()),
            subs: Mutex::new(HashMap::new()),
            next_sub: AtomicU64::new(0),
        });
        let deadline = Instant::now() + shared.config.connect_wait;
        let mut backoff = Duration::from_millis(50);
        let first = loop {
            match establish(&shared, 1).await {
                Ok(live) => break live,
                Err(e) if Instant::now() + backoff > deadline => return Err(unavailable(e)),
                Err(e) => {
                    tracing::debug!(error = %e, "broker not reachable yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(shared.config.max_backoff);
                }
            }
        };
        let supervisor = tokio::spawn(supervise(shared.clone(), first));
        let guard = Arc::new(Guard { shared: shared.clone(), supervisor });
        // Wait until the supervisor has published the first connection.
        shared.wait_live(Instant::now() + shared.config.connect_wait).await?;
        Ok(AmqpBus { shared, _guard: guard })
    }

    /// The configuration in use.
    pub fn config(&self) -> &AmqpConfig {
        &self.shared.config
    }

    /// How many times the connection was (re)established; 1 until the first failure.
    pub fn connection_generation(&self) -> u64 {
        self.shared.live.borrow().as_ref().map_or(0, |l| l.generation)
    }
}

fn table(entries: &[(&str, AMQPValue)]) -> FieldTable {
    let mut t = FieldTable::default();
    for (k, v) in entries {
        t.insert(ShortString::from(*k), v.clone());
    }
    t
}

/// Connects and declares the fixed topology (exchanges, dead letters, reply queue and its
/// consumer).
async fn establish(shared: &Arc<Shared>, generation: u64) -> Result<Live, AmqpError> {
    let n = &shared.names;
    let props = ConnectionProperties::default()
        .with_connection_name(LongString::from(format!("ferrostack-{}", std::process::id())));
    let conn = Connection::connect(&shared.config.url, props).await.map_err(AmqpError::Broker)?;
    let setup = async {
        let ch = conn.create_channel().await?;
        let durable = ExchangeDeclareOptions { durable: true, ..Default::default() };
        for ex in [&n.exchange, &n.fanout] {
            ch.exchange_declare(
                ex.as_str().into(),
                lapin::ExchangeKind::Topic,
                durable,
                FieldTable::default(),
            )
            .await?;
        }
        ch.exchange_declare(
            n.dead_exchange.as_str().into(),
            lapin::ExchangeKind::Fanout,
            durable,
            FieldTable::default(),
        )
        .await?;
        let dq = QueueDeclareOptions { durable: true, ..Default::default() };
        ch.queue_declare(n.dead_queue.as_str().into(), dq, FieldTable::default()).await?;
        ch.queue_bind(
            n.dead_queue.as_str().into(),
            n.dead_exchange.as_str().into(),
            "".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
        let rq = QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
        ch.queue_declare(n.reply_queue.as_str().into(), rq, FieldTable::default()).await?;
        let no_ack = BasicConsumeOptions { no_ack: true, ..Default::default() };
        let replies = ch
            .basic_consume(
                n.reply_queue.as_str().into(),
                format!("reply-{generation}").into(),
                no_ack,
                FieldTable::default(),
            )
            .await?;
        let publish = conn.create_channel().await?;
        publish.confirm_select(ConfirmSelectOptions::default()).await?;
        Ok::<_, lapin::Error>((ch, replies, publish))
    };
    let (reply_channel, mut replies, publish) = match setup.await {
        Ok(x) => x,
        Err(e) => {
            let _ = conn.close(200, "setup failed".into()).await;
            return Err(AmqpError::Broker(e));
        }
    };
    let weak = Arc::downgrade(shared);
    tokio::spawn(async move {
        // Keeps the reply channel open as long as its consumer runs.
        let _reply_channel = reply_channel;
        while let Some(Ok(d)) = replies.next().await {
            let Some(shared) = weak.upgrade() else { break };
            let Some(corr) = d.properties.correlation_id() else { continue };
            let Ok(reply) = serde_json::from_slice::<WireReply>(&d.data) else {
                tracing::warn!(correlation_id = corr.as_str(), "undecodable reply dropped");
                continue;
            };
            if let Some(tx) = lock(&shared.pending).remove(corr.as_str()) {
                let _ = tx.send(reply);
            }
        }
    });
    Ok(Live { conn, publish, generation })
}

/// Keeps a connection up: publishes it, re-attaches subscriptions, waits for it to fail,
/// reconnects with backoff.
async fn supervise(shared: Arc<Shared>, first: Live) {
    let mut next = Some(first);
    let mut generation = 1;
    let mut backoff = Duration::from_millis(50);
    loop {
        let live = match next.take() {
            Some(l) => l,
            None => match establish(&shared, generation + 1).await {
                Ok(l) => {
                    generation += 1;
                    tracing::info!(generation, "reconnected to the broker");
                    backoff = Duration::from_millis(50);
                    l
                }
                Err(e) => {
                    tracing::debug!(error = %e, ?backoff, "reconnecting to the broker failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(shared.config.max_backoff);
                    continue;
                }
            },
        };
        let live = Arc::new(live);
        let mut events = live.conn.events_listener();
        shared.live.send_replace(Some(live.clone()));
        // Re-attach every subscription now, and on every tick those that failed to (a no-op
        // for the attached ones), until the connection fails.
        loop {
            let subs: Vec<Arc<SubEntry>> = lock(&shared.subs).values().cloned().collect();
            for sub in subs {
                if let Err(e) = attach(&shared, &live, &sub).await {
                    tracing::warn!(topic = sub.topic, error = %e, "re-subscribing failed");
                }
            }
            tokio::select! {
                ev = events.next() => match ev {
                    Some(lapin::Event::Error(e)) => {
                        tracing::warn!(error = %e, "broker connection failed");
                        break;
                    }
                    None => break,
                    Some(_) => {}
                },
                _ = tokio::time::sleep(Duration::from_millis(250)) => {}
            }
            if !live.usable() {
                break;
            }
        }
        shared.live.send_replace(None);
        let _ = live.conn.close(200, "reconnecting".into()).await;
    }
}

/// Declares `sub`'s queues and bindings on `live` and starts its consumers, unless that is
/// done already.
async fn attach(shared: &Arc<Shared>, live: &Live, sub: &Arc<SubEntry>) -> Result<(), AmqpError> {
    let mut slot = sub.attached.lock().await;
    if sub.closed.load(Ordering::Acquire) {
        return Ok(());
    }
    // Attached, on this connection, on a channel the broker has not closed.
    if slot.as_ref().is_some_and(|(g, ch)| *g == live.generation && ch.status().connected()) {
        return Ok(());
    }
    let n = &shared.names;
    let dlx = ("x-dead-letter-exchange", AMQPValue::LongString(n.dead_exchange.as_str().into()));
    let expires = i64::try_from(shared.config.queue_expiry.as_millis()).unwrap_or(i64::MAX);
    let ch = live.conn.create_channel().await.map_err(AmqpError::Broker)?;
    let result = async {
        let work = n.work_queue(&sub.topic);
        let args = table(&[dlx.clone(), ("x-expires", AMQPValue::LongLongInt(expires))]);
        let durable = QueueDeclareOptions { durable: true, ..Default::default() };
        ch.queue_declare(work.as_str().into(), durable, args).await?;
        ch.queue_bind(
            work.as_str().into(),
            n.exchange.as_str().into(),
            sub.topic.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
        let private =
            QueueDeclareOptions { exclusive: true, auto_delete: true, ..Default::default() };
        let fq = ch.queue_declare("".into(), private, table(std::slice::from_ref(&dlx))).await?;
        ch.queue_bind(
            fq.name().clone(),
            n.fanout.as_str().into(),
            sub.topic.as_str().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let c1 = ch
            .basic_consume(
                work.as_str().into(),
                format!("work-{tag}").into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let c2 = ch
            .basic_consume(
                fq.name().clone(),
                format!("fanout-{tag}").into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok::<_, lapin::Error>((c1, c2))
    }
    .await;
    let (c1, c2) = match result {
        Ok(c) => c,
        Err(e) => {
            let _ = ch.close(200, "subscribe failed".into()).await;
            return Err(AmqpError::Broker(e));
        }
    };
    for consumer in [c1, c2] {
        tokio::spawn(pump(Arc::downgrade(shared), consumer, sub.tx.clone()));
    }
    *slot = Some((live.generation, ch));
    Ok(())
}

/// Moves deliveries from one consumer into a subscription's stream, acknowledging each on
/// receipt and dead-lettering what must not be handed over.
async fn pump(
    shared: std::sync::Weak<Shared>,
    mut consumer: lapin::Consumer,
    tx: mpsc::UnboundedSender<Delivery>,
) {
    while let Some(next) = consumer.next().await {
        let d = match next {
            Ok(d) => d,
            Err(e) => {
                tracing::debug!(error = %e, "consumer ended");
                break;
            }
        };
        let Some(shared) = shared.upgrade() else { break };
        if tx.is_closed() {
            // The subscription is gone while its consumer is being cancelled. A fanout was
            // meant for it alone: drop it. A work-queue message belongs to the topic: put it
            // back as a fresh message (not flagged redelivered, so not dead-lettered) for
            // another subscriber, and only then acknowledge this copy.
            if d.exchange.as_str() == shared.names.exchange {
                let deadline = Instant::now() + shared.config.connect_wait;
                let back = shared
                    .publish(
                        d.exchange.as_str(),
                        d.routing_key.as_str(),
                        &d.data,
                        d.properties.clone(),
                        false,
                        deadline,
                    )
                    .await;
                if !matches!(back, Ok(Confirmation::Ack(_))) {
                    // Left unacknowledged: the broker requeues it when the channel closes.
                    break;
                }
            }
            let _ = d.acker.ack(BasicAckOptions::default()).await;
            continue;
        }
        let decoded = serde_json::from_slice::<WireRequest>(&d.data);
        let reply_to = d.properties.reply_to().as_ref().map(|s| s.as_str().to_owned());
        let corr = d.properties.correlation_id().as_ref().map(|s| s.as_str().to_owned());
        let reason = match (&decoded, d.redelivered) {
            (_, true) => Some("redelivered: it may already have been handed over"),
            (Err(_), _) => Some("undecodable"),
            (Ok(w), _)
                if w.kind == DeliveryKind::Call && (reply_to.is_none() || corr.is_none()) =>
            {
                Some("call without reply_to or correlation_id")
            }
            _ => None,
        };
        if let Some(reason) = reason {
            tracing::warn!(routing_key = d.routing_key.as_str(), reason, "message dead-lettered");
            let _ = d.acker.reject(BasicRejectOptions { requeue: false }).await;
            continue;
        }
        if let Err(e) = d.acker.ack(BasicAckOptions::default()).await {
            // Not acknowledged: the broker will redeliver it flagged, and it will be
            // dead-lettered then. Do not hand it over now.
            tracing::debug!(error = %e, "ack failed");
            break;
        }
        let Ok(wire) = decoded else { continue };
        let replier: Option<Box<dyn Replier>> = match (wire.kind, reply_to, corr) {
            (DeliveryKind::Call, Some(reply_to), Some(corr)) => Some(Box::new(AmqpReplier {
                shared: shared.clone(),
                target: Some((reply_to, corr)),
            })),
            _ => None,
        };
        if tx.send(Delivery::new(wire.message, wire.kind, replier)).is_err() {
            break;
        }
    }
}

/// Sends one call's reply; sends "no reply" if dropped unanswered.
struct AmqpReplier {
    shared: Arc<Shared>,
    target: Option<(String, String)>,
}

impl fmt::Debug for AmqpReplier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AmqpReplier").field("target", &self.target).finish_non_exhaustive()
    }
}

async fn send_reply(
    shared: &Shared,
    reply_to: &str,
    corr: &str,
    reply: &WireReply,
) -> Result<(), BusError> {
    let body = serde_json::to_vec(reply).map_err(|e| BusError::Encode(Box::new(e)))?;
    let props = BasicProperties::default()
        .with_correlation_id(corr.into())
        .with_content_type("application/json".into())
        .with_delivery_mode(1);
    let deadline = Instant::now() + shared.config.connect_wait;
    match shared.publish("", reply_to, &body, props, false, deadline).await? {
        Confirmation::Nack(_) => Err(unavailable(AmqpError::Nacked)),
        _ => Ok(()),
    }
}

#[async_trait]
impl Replier for AmqpReplier {
    async fn send(mut self: Box<Self>, reply: Reply) -> Result<(), BusError> {
        let Some((reply_to, corr)) = self.target.take() else { return Ok(()) };
        let wire = match reply {
            Ok(v) => WireReply::Ok(v),
            Err(e) => WireReply::Err(e),
        };
        send_reply(&self.shared, &reply_to, &corr, &wire).await
    }
}

impl Drop for AmqpReplier {
    fn drop(&mut self) {
        if let Some((reply_to, corr)) = self.target.take()
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let shared = self.shared.clone();
            rt.spawn(async move {
                let _ = send_reply(&shared, &reply_to, &corr, &WireReply::NoReply(())).await;
            });
        }
    }
}

/// Why a publish failed.
enum PublishError {
    /// Not sent: no connection in time.
    NotSent(AmqpError),
    /// Sent, but the connection failed before the broker confirmed it.
    Unconfirmed(lapin::Error),
}

impl From<PublishError> for BusError {
    fn from(e: PublishError) -> BusError {
        match e {
            PublishError::NotSent(e) => unavailable(e),
            PublishError::Unconfirmed(e) => unavailable(AmqpError::Unconfirmed(e)),
        }
    }
}

impl From<PublishError> for AmqpError {
    fn from(e: PublishError) -> AmqpError {
        match e {
            PublishError::NotSent(e) => e,
            PublishError::Unconfirmed(e) => AmqpError::Unconfirmed(e),
        }
    }
}

impl Shared {
    /// The current connection, waiting for the supervisor until `deadline`.
    async fn wait_live(&self, deadline: Instant) -> Result<Arc<Live>, BusError> {
        let mut rx = self.live.subscribe();
        loop {
            if let Some(l) = rx.borrow_and_update().clone()
                && l.usable()
            {
                return Ok(l);
            }
            if Instant::now() >= deadline {
                return Err(unavailable(AmqpError::NoConnection(self.config.connect_wait)));
            }
            // Wake on a change, and poll as well: a connection can become unusable before
            // the supervisor notices and replaces it.
            let poll = deadline.min(Instant::now() + Duration::from_millis(50));
            let _ = tokio::time::timeout_at(poll, rx.changed()).await;
        }
    }

    /// Publishes with confirmation. Retries only while nothing was sent.
    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        props: BasicProperties,
        mandatory: bool,
        deadline: Instant,
    ) -> Result<Confirmation, PublishError> {
        loop {
            let live = self.wait_live(deadline).await.map_err(|_| {
                PublishError::NotSent(AmqpError::NoConnection(self.config.connect_wait))
            })?;
            let opts = BasicPublishOptions { mandatory, ..Default::default() };
            let confirm = match live
                .publish
                .basic_publish(exchange.into(), routing_key.into(), opts, body, props.clone())
                .await
            {
                Ok(c) => c,
                Err(e) => {
                    // Refused before sending (the channel is not usable): wait for the
                    // supervisor to replace the connection, then try again.
                    tracing::debug!(error = %e, "publish refused, waiting for a new connection");
                    if Instant::now() >= deadline {
                        return Err(PublishError::NotSent(AmqpError::Broker(e)));
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            return confirm.await.map_err(PublishError::Unconfirmed);
        }
    }
}

fn encode(kind: DeliveryKind, message: Message) -> Result<Vec<u8>, BusError> {
    serde_json::to_vec(&WireRequest { kind, message }).map_err(|e| BusError::Encode(Box::new(e)))
}

/// Removes a pending call when the call ends, however it ends.
struct PendingGuard<'a> {
    shared: &'a Shared,
    corr: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        lock(&self.shared.pending).remove(&self.corr);
    }
}

/// The receiving end of one subscription; unsubscribes on drop.
struct SubStream {
    rx: mpsc::UnboundedReceiver<Delivery>,
    id: u64,
    shared: Arc<Shared>,
}

impl futures::Stream for SubStream {
    type Item = Delivery;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Delivery>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for SubStream {
    fn drop(&mut self) {
        // Gone already when the bus was dropped first (its connection is closed then).
        let Some(entry) = lock(&self.shared.subs).remove(&self.id) else { return };
        entry.closed.store(true, Ordering::Release);
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move {
                if let Some((_, ch)) = entry.attached.lock().await.take() {
                    let _ = ch.close(200, "unsubscribed".into()).await;
                }
            });
        }
    }
}

#[async_trait]
impl Bus for AmqpBus {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn call(
        &self,
        topic: &str,
        msg: Message,
        timeout: Duration,
    ) -> Result<serde_json::Value, BusError> {
        validate_topic(topic)?;
        let method = msg.method.clone();
        let body = encode(DeliveryKind::Call, msg)?;
        let shared = &*self.shared;
        let corr = uuid::Uuid::new_v4().simple().to_string();
        let (tx, rx) = oneshot::channel();
        lock(&shared.pending).insert(corr.clone(), tx);
        let _guard = PendingGuard { shared, corr: corr.clone() };
        let deadline = Instant::now() + timeout;
        let ttl = timeout.as_millis().max(1).to_string();
        let props = BasicProperties::default()
            .with_reply_to(shared.names.reply_queue.as_str().into())
            .with_correlation_id(corr.as_str().into())
            .with_expiration(ttl.into())
            .with_content_type("application/json".into())
            .with_delivery_mode(1);
        let exchange = shared.names.exchange.as_str();
        let exchange_call = async {
            match shared.publish(exchange, topic, &body, props, true, deadline).await {
                Ok(Confirmation::Ack(Some(_)) | Confirmation::Nack(Some(_))) => {
                    return Err(BusError::NoSubscribers(topic.to_owned()));
                }
                Ok(Confirmation::Nack(None)) => return Err(unavailable(AmqpError::Nacked)),
                Ok(_) => {}
                Err(PublishError::NotSent(e)) => return Err(unavailable(e)),
                // Maybe routed: the reply queue keeps its name across reconnections, so wait.
                Err(PublishError::Unconfirmed(e)) => {
                    tracing::debug!(error = %e, "call sent but not confirmed; waiting for a reply");
                }
            }
            match rx.await {
                Ok(WireReply::Ok(v)) => Ok(v),
                Ok(WireReply::Err(e)) => Err(BusError::Remote(e)),
                Ok(WireReply::NoReply(())) | Err(_) => {
                    Err(BusError::NoReply { topic: topic.to_owned(), method: method.clone() })
                }
            }
        };
        match tokio::time::timeout_at(deadline, exchange_call).await {
            Ok(r) => r,
            Err(_) => Err(BusError::Timeout { topic: topic.to_owned(), method, timeout }),
        }
    }

    async fn cast(&self, topic: &str, msg: Message) -> Result<(), BusError> {
        validate_topic(topic)?;
        let body = encode(DeliveryKind::Cast, msg)?;
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(2);
        let shared = &*self.shared;
        let deadline = Instant::now() + shared.config.connect_wait;
        match shared.publish(&shared.names.exchange, topic, &body, props, true, deadline).await? {
            Confirmation::Ack(Some(_)) | Confirmation::Nack(Some(_)) => {
                Err(BusError::NoSubscribers(topic.to_owned()))
            }
            Confirmation::Nack(None) => Err(unavailable(AmqpError::Nacked)),
            _ => Ok(()),
        }
    }

    async fn fanout(&self, topic: &str, msg: Message) -> Result<(), BusError> {
        validate_topic(topic)?;
        let body = encode(DeliveryKind::Fanout, msg)?;
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_delivery_mode(1);
        let shared = &*self.shared;
        let deadline = Instant::now() + shared.config.connect_wait;
        match shared.publish(&shared.names.fanout, topic, &body, props, false, deadline).await? {
            Confirmation::Nack(_) => Err(unavailable(AmqpError::Nacked)),
            _ => Ok(()),
        }
    }

    async fn subscribe(&self, topic: &str) -> Result<Subscription, BusError> {
        validate_topic(topic)?;
        let shared = &self.shared;
        let (tx, rx) = mpsc::unbounded_channel();
        let id = shared.next_sub.fetch_add(1, Ordering::Relaxed);
        let entry = Arc::new(SubEntry {
            topic: topic.to_owned(),
            tx,
            closed: AtomicBool::new(false),
            attached: tokio::sync::Mutex::new(None),
        });
        lock(&shared.subs).insert(id, entry.clone());
        // From here on the stream unsubscribes on drop, including on the error paths below.
        let stream = SubStream { rx, id, shared: shared.clone() };
        let deadline = Instant::now() + shared.config.connect_wait;
        loop {
            let live = shared.wait_live(deadline).await?;
            match attach(shared, &live, &entry).await {
                Ok(()) => break,
                Err(e) if Instant::now() >= deadline => return Err(unavailable(e)),
                Err(e) => {
                    tracing::debug!(error = %e, "subscribe failed, retrying");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        Ok(Subscription::new(topic, stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_debug_output() {
        let dbg = format!("{:?}", AmqpConfig::new("amqp://nova:s3cret@mq:5672/openstack"));
        assert!(!dbg.contains("s3cret") && dbg.contains("nova:***@mq:5672"), "{dbg}");
    }

    #[test]
    fn queue_names_fit_in_an_amqp_short_string() {
        let n = Names::new("ferrostack");
        assert_eq!(n.work_queue("compute.host1"), "ferrostack.topic.compute.host1");
        let long = "x".repeat(255);
        let q = n.work_queue(&long);
        assert!(q.len() <= 255, "{}", q.len());
        assert_ne!(q, n.work_queue(&"x".repeat(254)), "distinct topics, distinct queues");
        assert_eq!(q, Names::new("ferrostack").work_queue(&long), "stable across processes");
    }

    #[test]
    fn wire_formats_keep_the_message_version() {
        let m = Message::new("build", &serde_json::json!({"a": 1})).unwrap().with_version("2.3");
        let body = encode(DeliveryKind::Cast, m.clone()).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["message"]["version"], "2.3");
        assert_eq!(v["kind"], "cast");
        let back: WireRequest = serde_json::from_slice(&body).unwrap();
        assert_eq!(back.message, m);
        let r = serde_json::to_value(WireReply::NoReply(())).unwrap();
        assert_eq!(r, serde_json::json!({"no_reply": null}));
    }
}
