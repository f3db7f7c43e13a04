// SPDX-License-Identifier: Apache-2.0
//! RPC between services: the [`Bus`].
//!
//! The model is oslo.messaging's, as Nova uses it between its API, conductor, scheduler and
//! compute hosts:
//!
//! * a **topic** names a service, or one host of it (`compute`, `compute.host1`);
//! * [`Bus::call`] sends a request to **one** subscriber of the topic and waits for its reply,
//!   with a timeout;
//! * [`Bus::cast`] sends to **one** subscriber and does not wait;
//! * [`Bus::fanout`] sends to **every** subscriber of the topic;
//! * subscribers of one topic compete for calls and casts (work queue) and all receive fanouts.
//!
//! A [`Message`] carries a method name, a version (`"1.0"`: receivers reject majors they do
//! not know, so hosts and controllers can be upgraded one at a time) and a JSON payload.
//!
//! Implementations: [`LocalBus`] (in-process, tokio channels) here and `AmqpBus`
//! (`ferrostack-amqp`, RabbitMQ). Both pass `bus::conformance` (feature `testing`).

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod local;

pub use local::LocalBus;

use crate::error::{BoxError, Classify, ErrorKind};
use futures::Stream;
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A request on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The operation (`"build_instance"`).
    pub method: String,
    /// The message version, `"<major>.<minor>"`.
    pub version: String,
    /// The arguments.
    pub payload: serde_json::Value,
}

impl Message {
    /// A version 1.0 message with `payload` serialized to JSON.
    pub fn new(method: impl Into<String>, payload: &impl Serialize) -> Result<Self, BusError> {
        Ok(Message {
            method: method.into(),
            version: "1.0".into(),
            payload: serde_json::to_value(payload).map_err(|e| BusError::Encode(Box::new(e)))?,
        })
    }

    /// Sets the version.
    pub fn with_version(mut self, version: impl Into<String>) -> Self {
        self.version = version.into();
        self
    }

    /// Decodes the payload as `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, RemoteError> {
        serde_json::from_value(self.payload.clone()).map_err(|e| RemoteError {
            kind: ErrorKind::InvalidInput,
            message: format!("bad payload for {}: {e}", self.method),
        })
    }
}

/// How a [`Delivery`] was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryKind {
    /// A call: the sender waits for [`Delivery::reply`].
    Call,
    /// A cast to one subscriber.
    Cast,
    /// A fanout to every subscriber.
    Fanout,
}

/// An error a subscriber returns to a caller, carried over the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct RemoteError {
    /// The class of the failure on the remote side.
    pub kind: ErrorKind,
    /// The remote side's message.
    pub message: String,
}

/// What a subscriber answers to a call.
pub type Reply = Result<serde_json::Value, RemoteError>;

/// Sends the reply of one call back to its caller. Implemented by each bus.
#[async_trait::async_trait]
pub trait Replier: Send + Sync + fmt::Debug {
    /// Sends `reply`; consumes the replier so a call is answered at most once.
    async fn send(self: Box<Self>, reply: Reply) -> Result<(), BusError>;
}

/// A message received by a subscriber.
#[derive(Debug)]
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// How it was sent.
    pub kind: DeliveryKind,
    replier: Option<Box<dyn Replier>>,
}

impl Delivery {
    /// Builds a delivery; `replier` must be `Some` exactly for calls.
    pub fn new(message: Message, kind: DeliveryKind, replier: Option<Box<dyn Replier>>) -> Self {
        Delivery { message, kind, replier }
    }

    /// Answers a call. For casts and fanouts this does nothing and returns `Ok`.
    /// Dropping a call's delivery without replying makes the caller fail with
    /// [`BusError::NoReply`] (or time out, on buses that cannot tell).
    pub async fn reply(mut self, reply: Reply) -> Result<(), BusError> {
        match self.replier.take() {
            Some(r) => r.send(reply).await,
            None => Ok(()),
        }
    }

    /// Whether the sender waits for a reply.
    pub fn expects_reply(&self) -> bool {
        self.replier.is_some()
    }
}

/// A stream of [`Delivery`]s for one topic. Dropping it unsubscribes.
pub struct Subscription {
    topic: String,
    inner: Pin<Box<dyn Stream<Item = Delivery> + Send>>,
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription").field("topic", &self.topic).finish()
    }
}

impl Subscription {
    /// Wraps a bus's delivery stream.
    pub fn new(
        topic: impl Into<String>,
        inner: impl Stream<Item = Delivery> + Send + 'static,
    ) -> Self {
        Subscription { topic: topic.into(), inner: Box::pin(inner) }
    }

    /// The topic subscribed to.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The next delivery, or `None` once the bus is gone.
    pub async fn next(&mut self) -> Option<Delivery> {
        futures::StreamExt::next(&mut self.inner).await
    }
}

impl Stream for Subscription {
    type Item = Delivery;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        self.inner.as_mut().poll_next(cx)
    }
}

/// Everything that can go wrong on the bus.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BusError {
    /// Nobody subscribes to the topic of a call or cast.
    #[error("no subscriber for topic {0:?}")]
    NoSubscribers(String),
    /// The call got no reply in time.
    #[error("call {method} on {topic:?} timed out after {timeout:?}")]
    Timeout {
        /// The topic.
        topic: String,
        /// The method.
        method: String,
        /// The timeout that elapsed.
        timeout: Duration,
    },
    /// The subscriber went away without replying.
    #[error("call {method} on {topic:?} got no reply: the subscriber went away")]
    NoReply {
        /// The topic.
        topic: String,
        /// The method.
        method: String,
    },
    /// The subscriber answered with an error.
    #[error("remote error")]
    Remote(#[source] RemoteError),
    /// The topic name is not acceptable.
    #[error("invalid topic {0:?}")]
    InvalidTopic(String),
    /// A message could not be encoded or decoded.
    #[error("message could not be encoded")]
    Encode(#[source] BoxError),
    /// The broker is unreachable; retrying later may work.
    #[error("the {bus} bus is unavailable")]
    Unavailable {
        /// The bus's name.
        bus: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

impl Classify for BusError {
    fn kind(&self) -> ErrorKind {
        match self {
            BusError::NoSubscribers(_)
            | BusError::NoReply { .. }
            | BusError::Unavailable { .. } => ErrorKind::Unavailable,
            BusError::Timeout { .. } => ErrorKind::Timeout,
            BusError::Remote(e) => e.kind,
            BusError::InvalidTopic(_) => ErrorKind::InvalidInput,
            BusError::Encode(_) => ErrorKind::Internal,
        }
    }
}

/// Checks a topic name: 1 to 255 bytes of ASCII letters, digits, `.`, `-`, `_`.
pub fn validate_topic(topic: &str) -> Result<(), BusError> {
    let ok = !topic.is_empty()
        && topic.len() <= 255
        && topic.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
    if ok { Ok(()) } else { Err(BusError::InvalidTopic(crate::id::truncate_for_message(topic))) }
}

/// A message bus for RPC between services.
///
/// # Contract
///
/// * [`Bus::call`] delivers the message to exactly one live subscriber of `topic` and returns
///   its [`Delivery::reply`]; a remote error comes back as [`BusError::Remote`] with its kind.
///   It fails with [`BusError::NoSubscribers`] when nobody subscribes, [`BusError::NoReply`]
///   when the subscriber drops the delivery (buses that cannot detect this time out instead),
///   and [`BusError::Timeout`] when `timeout` elapses; it never waits longer than `timeout`
///   plus scheduling slack.
/// * [`Bus::cast`] delivers to exactly one live subscriber, at most once; it fails with
///   [`BusError::NoSubscribers`] when nobody subscribes.
/// * [`Bus::fanout`] delivers to every subscriber of `topic` at the time of sending; no
///   subscriber is not an error.
/// * **Ordering.** Messages sent by one sender to one topic are delivered to a given subscriber
///   in the order sent.
/// * A subscription only receives messages sent after [`Bus::subscribe`] returned.
///
/// # Cancellation
///
/// Dropping a `call` future abandons the call: the subscriber may still run it, and its reply
/// is discarded.
#[async_trait::async_trait]
pub trait Bus: Send + Sync + fmt::Debug + 'static {
    /// A short name for logs and errors (`"local"`, `"amqp"`).
    fn name(&self) -> &'static str;

    /// Sends `msg` to one subscriber of `topic` and waits up to `timeout` for the reply.
    async fn call(
        &self,
        topic: &str,
        msg: Message,
        timeout: Duration,
    ) -> Result<serde_json::Value, BusError>;

    /// Sends `msg` to one subscriber of `topic` without waiting for it to be handled.
    async fn cast(&self, topic: &str, msg: Message) -> Result<(), BusError>;

    /// Sends `msg` to every subscriber of `topic`.
    async fn fanout(&self, topic: &str, msg: Message) -> Result<(), BusError>;

    /// Subscribes to `topic`: competing for its calls and casts, receiving all its fanouts.
    async fn subscribe(&self, topic: &str) -> Result<Subscription, BusError>;
}

/// Typed conveniences over any [`Bus`].
#[async_trait::async_trait]
pub trait BusExt: Bus {
    /// Calls `method` with `request` serialized as JSON and decodes the reply as `R`.
    async fn call_typed<Q, R>(
        &self,
        topic: &str,
        method: &str,
        request: &Q,
        timeout: Duration,
    ) -> Result<R, BusError>
    where
        Q: Serialize + Sync,
        R: DeserializeOwned,
    {
        let reply = self.call(topic, Message::new(method, request)?, timeout).await?;
        serde_json::from_value(reply).map_err(|e| BusError::Encode(Box::new(e)))
    }

    /// Casts `method` with `request` serialized as JSON.
    async fn cast_typed<Q: Serialize + Sync>(
        &self,
        topic: &str,
        method: &str,
        request: &Q,
    ) -> Result<(), BusError> {
        self.cast(topic, Message::new(method, request)?).await
    }
}

impl<B: Bus + ?Sized> BusExt for B {}
