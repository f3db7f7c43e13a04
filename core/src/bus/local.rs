// SPDX-License-Identifier: Apache-2.0
//! [`LocalBus`]: the in-process bus on tokio channels.

use super::{
    Bus, BusError, Delivery, DeliveryKind, Message, Replier, Reply, Subscription, validate_topic,
};
use futures::Stream;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

#[derive(Debug)]
struct Subscriber {
    id: u64,
    tx: mpsc::UnboundedSender<Delivery>,
}

#[derive(Debug, Default)]
struct Topic {
    subscribers: Vec<Subscriber>,
    next: usize,
}

#[derive(Debug, Default)]
struct Registry {
    topics: HashMap<String, Topic>,
    next_id: u64,
}

/// An in-process [`Bus`]: subscribers are tokio channels, calls are oneshot replies.
///
/// Cheap to clone; clones share the same topics. Calls and casts go round-robin over a
/// topic's live subscribers. A subscriber that dropped its [`Subscription`] is skipped and
/// forgotten; calls queued to it fail with [`BusError::NoReply`].
#[derive(Debug, Clone, Default)]
pub struct LocalBus {
    registry: Arc<Mutex<Registry>>,
}

impl LocalBus {
    /// A bus with no subscribers.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hands `delivery` to one live subscriber of `topic`, round-robin.
    fn send_one(&self, topic: &str, mut delivery: Delivery) -> Result<(), BusError> {
        let mut reg = self.lock();
        let Some(t) = reg.topics.get_mut(topic) else {
            return Err(BusError::NoSubscribers(topic.to_owned()));
        };
        while !t.subscribers.is_empty() {
            let i = t.next % t.subscribers.len();
            match t.subscribers[i].tx.send(delivery) {
                Ok(()) => {
                    t.next = i + 1;
                    return Ok(());
                }
                Err(mpsc::error::SendError(back)) => {
                    delivery = back;
                    t.subscribers.remove(i);
                }
            }
        }
        reg.topics.remove(topic);
        Err(BusError::NoSubscribers(topic.to_owned()))
    }
}

#[derive(Debug)]
struct OneshotReplier(oneshot::Sender<Reply>);

#[async_trait::async_trait]
impl Replier for OneshotReplier {
    async fn send(self: Box<Self>, reply: Reply) -> Result<(), BusError> {
        // The caller may have timed out and gone; that is not the replier's error.
        let _ = self.0.send(reply);
        Ok(())
    }
}

/// The receiving end of one subscription; unsubscribes on drop.
struct LocalStream {
    rx: mpsc::UnboundedReceiver<Delivery>,
    topic: String,
    id: u64,
    bus: LocalBus,
}

impl Stream for LocalStream {
    type Item = Delivery;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Delivery>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for LocalStream {
    fn drop(&mut self) {
        let mut reg = self.bus.lock();
        if let Some(t) = reg.topics.get_mut(&self.topic) {
            t.subscribers.retain(|s| s.id != self.id);
            if t.subscribers.is_empty() {
                reg.topics.remove(&self.topic);
            }
        }
    }
}

#[async_trait::async_trait]
impl Bus for LocalBus {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn call(
        &self,
        topic: &str,
        msg: Message,
        timeout: Duration,
    ) -> Result<serde_json::Value, BusError> {
        validate_topic(topic)?;
        let method = msg.method.clone();
        let (tx, rx) = oneshot::channel();
        let delivery = Delivery::new(msg, DeliveryKind::Call, Some(Box::new(OneshotReplier(tx))));
        self.send_one(topic, delivery)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(remote))) => Err(BusError::Remote(remote)),
            Ok(Err(_dropped)) => Err(BusError::NoReply { topic: topic.to_owned(), method }),
            Err(_elapsed) => Err(BusError::Timeout { topic: topic.to_owned(), method, timeout }),
        }
    }

    async fn cast(&self, topic: &str, msg: Message) -> Result<(), BusError> {
        validate_topic(topic)?;
        self.send_one(topic, Delivery::new(msg, DeliveryKind::Cast, None))
    }

    async fn fanout(&self, topic: &str, msg: Message) -> Result<(), BusError> {
        validate_topic(topic)?;
        let mut reg = self.lock();
        if let Some(t) = reg.topics.get_mut(topic) {
            t.subscribers.retain(|s| {
                s.tx.send(Delivery::new(msg.clone(), DeliveryKind::Fanout, None)).is_ok()
            });
            if t.subscribers.is_empty() {
                reg.topics.remove(topic);
            }
        }
        Ok(())
    }

    async fn subscribe(&self, topic: &str) -> Result<Subscription, BusError> {
        validate_topic(topic)?;
        let (tx, rx) = mpsc::unbounded_channel();
        let id = {
            let mut reg = self.lock();
            reg.next_id += 1;
            let id = reg.next_id;
            reg.topics.entry(topic.to_owned()).or_default().subscribers.push(Subscriber { id, tx });
            id
        };
        let stream = LocalStream { rx, topic: topic.to_owned(), id, bus: self.clone() };
        Ok(Subscription::new(topic, stream))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::conformance;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn local_bus_passes_the_conformance_suite() {
        conformance::run_all(Arc::new(LocalBus::new())).await;
    }
}
