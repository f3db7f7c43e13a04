// SPDX-License-Identifier: Apache-2.0
//! Change notifications: `LISTEN ferrostack_commits` on a dedicated connection.

use ferrostack_core::store::Revision;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

/// The notification channel `ferrostack_txn` notifies on.
const CHANNEL: &str = "ferrostack_commits";

/// A committed write transaction, as reported by [`crate::PostgresStore::watch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The revision of the transaction, or, when `keys` is `None` after a reconnection, the
    /// store revision when the watch resumed.
    pub revision: Revision,
    /// The keys the transaction wrote (put or deleted), sorted and without duplicates; `None`
    /// when they are unknown (too many to list in one notification, or notifications may have
    /// been missed while the watch reconnected): re-read what you watch.
    pub keys: Option<Vec<String>>,
}

#[derive(serde::Deserialize)]
struct Note {
    revision: i64,
    keys: Option<Vec<String>>,
}

/// A stream of [`Change`]s, in commit order. Dropping it stops listening.
#[derive(Debug)]
pub struct Watch {
    rx: mpsc::Receiver<Change>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    /// The next change; `None` only if the watch task stopped.
    pub async fn next(&mut self) -> Option<Change> {
        self.rx.recv().await
    }
}

impl futures::Stream for Watch {
    type Item = Change;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Change>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub(crate) async fn start(
    config: tokio_postgres::Config,
    max_backoff: Duration,
) -> Result<Watch, tokio_postgres::Error> {
    let (tx, rx) = mpsc::channel(1024);
    // The first connection is made here, so that a watch that returns is listening.
    let first = listen(&config).await?;
    let task = tokio::spawn(run(config, first, tx, max_backoff));
    Ok(Watch { rx, task })
}

type Listening = (
    tokio_postgres::Client,
    tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
);

async fn listen(config: &tokio_postgres::Config) -> Result<Listening, tokio_postgres::Error> {
    let (client, mut conn) = config.connect(NoTls).await?;
    let sql = format!("LISTEN {CHANNEL}");
    {
        // Drive the connection while LISTEN runs; notifications cannot arrive before it.
        let listen = client.batch_execute(&sql);
        tokio::pin!(listen);
        loop {
            tokio::select! {
                r = &mut listen => { r?; break; }
                m = std::future::poll_fn(|cx| conn.poll_message(cx)) => match m {
                    Some(Err(e)) => return Err(e),
                    None => break,
                    Some(Ok(_)) => {}
                }
            }
        }
    }
    Ok((client, conn))
}

async fn run(
    config: tokio_postgres::Config,
    first: Listening,
    tx: mpsc::Sender<Change>,
    max_backoff: Duration,
) {
    let mut current = Some(first);
    let mut backoff = Duration::from_millis(20);
    loop {
        let (client, mut conn) = match current.take() {
            Some(c) => c,
            None => match listen(&config).await {
                Ok((client, mut conn)) => {
                    backoff = Duration::from_millis(20);
                    // Changes committed while we were away are unknown: say so.
                    let rev = {
                        let q = client.query_one("SELECT revision FROM ferrostack_meta", &[]);
                        tokio::pin!(q);
                        loop {
                            tokio::select! {
                                r = &mut q => break r.ok().map(|row| row.get::<_, i64>(0)),
                                m = std::future::poll_fn(|cx| conn.poll_message(cx)) => {
                                    if !matches!(m, Some(Ok(_))) { break None; }
                                }
                            }
                        }
                    };
                    let Some(rev) = rev else { continue };
                    let resync =
                        Change { revision: u64::try_from(rev).unwrap_or_default(), keys: None };
                    if tx.send(resync).await.is_err() {
                        return;
                    }
                    (client, conn)
                }
                Err(e) => {
                    tracing::debug!(error = %e, "watch reconnect failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(max_backoff);
                    continue;
                }
            },
        };
        loop {
            match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) if n.channel() == CHANNEL => {
                    let change = match serde_json::from_str::<Note>(n.payload()) {
                        Ok(note) => Change {
                            revision: u64::try_from(note.revision).unwrap_or_default(),
                            keys: note.keys.map(|mut k| {
                                k.sort_unstable();
                                k
                            }),
                        },
                        Err(e) => {
                            tracing::warn!(error = %e, "undecodable commit notification");
                            continue;
                        }
                    };
                    if tx.send(change).await.is_err() {
                        return;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "watch connection lost");
                    break;
                }
                None => break,
            }
        }
        drop(client);
    }
}
