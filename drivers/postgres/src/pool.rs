// SPDX-License-Identifier: Apache-2.0
//! A small connection pool: a semaphore bounding the connections, a stack of idle ones, each
//! with its statements prepared once.

use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::{Client, NoTls, Statement};

/// The statements every operation uses, prepared once per connection.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) get: Statement,
    pub(crate) list_bounded: Statement,
    pub(crate) list_unbounded: Statement,
    pub(crate) txn: Statement,
    pub(crate) revision: Statement,
}

const KV_COLUMNS: &str = "k.key, k.value, k.create_revision, k.mod_revision, k.version";

/// One open connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) client: Client,
    pub(crate) stmts: Statements,
}

/// Why no connection could be handed out. Nothing was sent, so retrying is always safe.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectError {
    /// Connecting or preparing failed.
    #[error("cannot connect to postgresql")]
    Postgres(#[source] tokio_postgres::Error),
    /// Connecting took too long.
    #[error("connecting to postgresql timed out after {0:?}")]
    TimedOut(Duration),
}

#[derive(Debug)]
pub(crate) struct Pool {
    config: tokio_postgres::Config,
    idle: Mutex<Vec<Conn>>,
    permits: Semaphore,
}

impl Pool {
    pub(crate) fn new(config: tokio_postgres::Config, size: usize) -> Self {
        Pool { config, idle: Mutex::new(Vec::new()), permits: Semaphore::new(size.max(1)) }
    }

    /// The connection configuration.
    pub(crate) fn config(&self) -> &tokio_postgres::Config {
        &self.config
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Conn>> {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Opens a connection outside the pool (migrations) and spawns its I/O task.
    pub(crate) async fn open_raw(
        config: &tokio_postgres::Config,
    ) -> Result<Client, tokio_postgres::Error> {
        let (client, connection) = config.connect(NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "postgres connection ended");
            }
        });
        // The commit lock in `ferrostack_txn` relies on per-statement snapshots.
        client
            .batch_execute(
                "SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED",
            )
            .await?;
        Ok(client)
    }

    async fn open(&self) -> Result<Conn, tokio_postgres::Error> {
        let client = Self::open_raw(&self.config).await?;
        let list = |upper: &str| {
            format!(
                "SELECT m.revision, {KV_COLUMNS} FROM ferrostack_meta m LEFT JOIN LATERAL (
                     SELECT * FROM ferrostack_kv
                     WHERE key >= $1 AND key > $2 {upper}
                     ORDER BY key LIMIT $3) k ON true
                 ORDER BY k.key"
            )
        };
        let stmts = Statements {
            get: client
                .prepare(&format!("SELECT {KV_COLUMNS} FROM ferrostack_kv k WHERE k.key = $1"))
                .await?,
            list_bounded: client.prepare(&list("AND key < $4")).await?,
            list_unbounded: client.prepare(&list("")).await?,
            txn: client
                .prepare(
                    "SELECT failed_at, committed_revision FROM ferrostack_txn(
                         $1::text[], $2::int2[], $3::int8[], $4::bytea[], $5::text[], $6::bytea[])",
                )
                .await?,
            revision: client.prepare("SELECT revision FROM ferrostack_meta").await?,
        };
        Ok(Conn { client, stmts })
    }

    /// A live connection: an idle one, or a new one when none is idle.
    pub(crate) async fn get(&self, timeout: Duration) -> Result<Pooled<'_>, ConnectError> {
        // The semaphore is never closed, so acquiring only waits.
        let permit = self.permits.acquire().await.ok();
        loop {
            let Some(conn) = self.idle().pop() else { break };
            if !conn.client.is_closed() {
                return Ok(Pooled { conn: Some(conn), pool: self, _permit: permit });
            }
        }
        let conn = match tokio::time::timeout(timeout, self.open()).await {
            Ok(r) => r.map_err(ConnectError::Postgres)?,
            Err(_) => return Err(ConnectError::TimedOut(timeout)),
        };
        Ok(Pooled { conn: Some(conn), pool: self, _permit: permit })
    }
}

/// A connection on loan; goes back to the pool on drop if it is still open.
#[derive(Debug)]
pub(crate) struct Pooled<'a> {
    conn: Option<Conn>,
    pool: &'a Pool,
    _permit: Option<SemaphorePermit<'a>>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn.as_ref().expect("present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take()
            && !conn.client.is_closed()
        {
            self.pool.idle().push(conn);
        }
    }
}
