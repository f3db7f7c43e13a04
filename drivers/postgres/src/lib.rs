// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-postgres: the Store on PostgreSQL
//!
//! [`PostgresStore`] is a [`ferrostack_core::store::Store`] for multi-host deployments: every
//! process of the control plane points at the same PostgreSQL database and sees one
//! linearizable key-value store with revisions and compare-and-swap transactions. It passes the
//! same conformance suite as the embedded stores (`ferrostack_core::store::conformance`).
//!
//! ## Schema
//!
//! | table | content |
//! |---|---|
//! | `ferrostack_kv` | `key text COLLATE "C" PRIMARY KEY, value bytea, create_revision, mod_revision, version` |
//! | `ferrostack_meta` | one row: the store `revision` (also the commit lock) |
//! | `ferrostack_migrations` | applied schema versions |
//!
//! and one PL/pgSQL function, `ferrostack_txn`, that evaluates a transaction's conditions and
//! applies its writes in one statement (one round trip, one implicit transaction).
//!
//! `COLLATE "C"` makes the primary key's btree order bytewise, which is the order the `Store`
//! contract requires for UTF-8 keys, whatever the database's default collation. A prefix
//! listing is an index range scan, `key >= prefix AND key > start_after AND key < prefix_end`
//! ([`ferrostack_core::store::prefix_end`]), `ORDER BY key LIMIT n + 1`; never `LIKE`.
//!
//! **Migrations** are versioned, applied in order inside one transaction under an advisory
//! lock (so many processes may start at once), and recorded in `ferrostack_migrations`.
//! A database with a newer schema than this build knows is refused rather than misread.
//! [`PostgresConfig::migrate`] turns automatic migration off for deployments that migrate
//! out of band.
//!
//! ## Isolation and revisions
//!
//! Sessions run at READ COMMITTED. A writing transaction first locks the single
//! `ferrostack_meta` row `FOR UPDATE`; that lock is the commit lock. While it is held, no other
//! writer can commit, and every following statement takes a fresh snapshot that contains
//! every earlier commit. So conditions are evaluated against the state at commit time, the
//! revision grows by exactly one per committed writing transaction with no gaps (a failed
//! condition releases the lock without incrementing), and revision order is commit order.
//! Read-only transactions take the same row `FOR SHARE`, so their conditions see one
//! consistent state. `get`, `list` and `revision` are single statements, each reading one
//! snapshot taken after every acknowledged commit: reads are linearizable across connections
//! and processes.
//!
//! Writers are serialised on one row. For a control plane (hundreds of writes per second at
//! most) that is the right trade: simple, obviously correct, and one round trip per write.
//!
//! ## Connections, retries and errors
//!
//! A small built-in pool keeps up to [`PostgresConfig::pool_size`] connections, each with its
//! statements prepared once; closed connections are dropped and replaced on the next use.
//!
//! * Reads (`get`, `list`, `revision`) are retried on any connection failure, with exponential
//!   backoff (20 ms doubling to 1 s) for up to [`PostgresConfig::retry_for`].
//! * A transaction is retried only when it certainly did not commit: no connection could be
//!   opened (nothing was sent), or the server answered with an error that aborts the
//!   statement (serialization failure `40001`, deadlock `40P01`, shutdown `57P01`..`57P03`,
//!   connection exceptions `08xxx`, insufficient resources `53xxx`).
//! * When the connection drops while a transaction is in flight, the outcome is unknown and
//!   the transaction is **not** retried: the call fails with
//!   [`StoreError::Unavailable`]. Callers
//!   that retry use conditions that make the retry safe (as `Collection` does).
//! * Any other database error is [`StoreError::Backend`].
//!
//! Every transaction is one statement in autocommit mode, so dropping a `txn` future commits
//! all of it or nothing.
//!
//! ## Change notifications
//!
//! `ferrostack_txn` ends every writing transaction with `pg_notify('ferrostack_commits',
//! '{"revision": r, "keys": [...]}')` (the key list is left out when it would not fit in
//! a notification). [`PostgresStore::watch`] listens on a dedicated connection and yields a
//! [`Change`] per commit, in commit order, and a `keys: None` change after reconnecting.
//!
//! TLS is not built in: use it on loopback or on a private network, or through a local TLS
//! tunnel (pgbouncer, stunnel).
//!
//! ## Example
//!
//! ```no_run
//! use ferrostack_core::store::{Store, StoreExt};
//! use ferrostack_postgres::PostgresStore;
//!
//! # async fn demo() -> Result<(), ferrostack_core::store::StoreError> {
//! let store = PostgresStore::connect("postgres://ferrostack@127.0.0.1:5432/ferrostack").await?;
//! let rev = store.put("compute/servers/42", b"{}".to_vec()).await?;
//! assert_eq!(store.get("compute/servers/42").await?.unwrap().mod_revision, rev);
//! # Ok(()) }
//! ```

mod pool;
mod schema;
mod watch;

pub use watch::{Change, Watch};

use async_trait::async_trait;
use ferrostack_core::error::BoxError;
use ferrostack_core::store::{
    Check, KeyValue, ListOptions, ListPage, Op, Revision, Store, StoreError, Txn, TxnOutcome,
    prefix_end,
};
use pool::{Conn, Pool};
use std::fmt;
use std::time::{Duration, Instant};
use tokio_postgres::Row;

const NAME: &str = "postgres";

/// How to reach and use the database.
#[derive(Clone)]
pub struct PostgresConfig {
    /// A libpq-style URL or key/value string: `postgres://user:password@host:port/dbname`.
    pub url: String,
    /// The most connections this store opens at once. Default 8.
    pub pool_size: usize,
    /// How long opening one connection may take. Default 5 s.
    pub connect_timeout: Duration,
    /// How long an operation keeps retrying while the database is unreachable (only where a
    /// retry is safe, see the crate documentation). Default 30 s.
    pub retry_for: Duration,
    /// Whether [`PostgresStore::with_config`] creates and migrates the schema. Default true.
    pub migrate: bool,
}

impl PostgresConfig {
    /// The defaults for `url`.
    pub fn new(url: impl Into<String>) -> Self {
        PostgresConfig {
            url: url.into(),
            pool_size: 8,
            connect_timeout: Duration::from_secs(5),
            retry_for: Duration::from_secs(30),
            migrate: true,
        }
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("url", &redact(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry_for", &self.retry_for)
            .field("migrate", &self.migrate)
            .finish()
    }
}

/// The URL with its password, if any, replaced by `***`.
fn redact(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.rsplit_once('@')
            && let Some((user, _password)) = userinfo.split_once(':')
        {
            return format!("{scheme}://{user}:***@{host}");
        }
        return url.to_owned();
    }
    // key=value form
    url.split_whitespace()
        .map(|kv| if kv.starts_with("password=") { "password=***" } else { kv })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A [`Store`] on PostgreSQL. Cheap to share behind an `Arc`; all handles on one database,
/// in any process, see one store.
pub struct PostgresStore {
    pool: Pool,
    config: PostgresConfig,
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore").field("config", &self.config).finish_non_exhaustive()
    }
}

fn unavailable(e: impl Into<BoxError>) -> StoreError {
    StoreError::Unavailable { store: NAME, source: e.into() }
}

fn backend(e: impl Into<BoxError>) -> StoreError {
    StoreError::Backend { store: NAME, source: e.into() }
}

/// The schema is newer than this build.
#[derive(Debug, thiserror::Error)]
#[error("the database schema is at version {found}, newer than the {known} this build knows")]
struct SchemaTooNew {
    found: i32,
    known: i32,
}

impl PostgresStore {
    /// Connects with [`PostgresConfig::new`]`(url)`, creating or migrating the schema.
    ///
    /// # Errors
    ///
    /// [`StoreError::Backend`] for an invalid URL or a schema newer than this build;
    /// [`StoreError::Unavailable`] when the database cannot be reached within
    /// [`PostgresConfig::retry_for`].
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::with_config(PostgresConfig::new(url)).await
    }

    /// Connects with `config`. Checks that the database is reachable (retrying for
    /// [`PostgresConfig::retry_for`]) and, if [`PostgresConfig::migrate`], migrates the schema.
    ///
    /// # Errors
    ///
    /// As [`PostgresStore::connect`].
    pub async fn with_config(config: PostgresConfig) -> Result<Self, StoreError> {
        let mut pg: tokio_postgres::Config = config.url.parse().map_err(backend)?;
        pg.connect_timeout(config.connect_timeout);
        if pg.get_application_name().is_none() {
            pg.application_name("ferrostack");
        }
        let deadline = Instant::now() + config.retry_for;
        let mut backoff = Backoff::new();
        let mut client = loop {
            match Pool::open_raw(&pg).await {
                Ok(c) => break c,
                Err(e) if e.as_db_error().is_some() && !retryable_db(&e) => return Err(backend(e)),
                Err(e) if Instant::now() + backoff.peek() > deadline => return Err(unavailable(e)),
                Err(e) => {
                    tracing::debug!(error = %e, "postgres not reachable yet");
                    backoff.sleep().await;
                }
            }
        };
        if config.migrate {
            match schema::migrate(&mut client).await {
                Ok(from) if from != schema::latest_version() => {
                    tracing::info!(from, to = schema::latest_version(), "postgres schema migrated");
                }
                Ok(_) => {}
                Err(schema::MigrateError::TooNew { found, known }) => {
                    return Err(backend(SchemaTooNew { found, known }));
                }
                Err(schema::MigrateError::Db(e)) => return Err(classify(e).into_error()),
            }
        }
        drop(client);
        let pool = Pool::new(pg, config.pool_size);
        Ok(PostgresStore { pool, config })
    }

    /// The configuration in use.
    pub fn config(&self) -> &PostgresConfig {
        &self.config
    }

    /// Notifications of every committed write transaction from now on, from any process, in
    /// commit order (`LISTEN ferrostack_commits` on a dedicated connection). After the watch
    /// connection is lost and re-established, a [`Change`] with `keys: None` says that
    /// changes may have been missed.
    ///
    /// # Errors
    ///
    /// [`StoreError::Unavailable`] when the database cannot be reached.
    pub async fn watch(&self) -> Result<Watch, StoreError> {
        watch::start(self.pool.config().clone(), Duration::from_secs(1))
            .await
            .map_err(|e| classify(e).into_error())
    }

    /// The schema version this build creates.
    pub fn schema_version() -> i32 {
        schema::latest_version()
    }

    /// Runs `req`, retrying where that is safe (see the crate documentation).
    async fn run(&self, req: &Request<'_>) -> Result<Response, StoreError> {
        let idempotent = !matches!(req, Request::Txn { .. });
        let deadline = Instant::now() + self.config.retry_for;
        let mut backoff = Backoff::new();
        loop {
            let failure = match self.pool.get(self.config.connect_timeout).await {
                Ok(conn) => match execute(&conn, req).await {
                    Ok(resp) => return Ok(resp),
                    Err(e) => classify(e),
                },
                Err(e) => Failure::Retryable(e.into()),
            };
            let source = match failure {
                Failure::Fatal(e) => return Err(backend(e)),
                Failure::Unknown(e) if !idempotent => {
                    return Err(unavailable(OutcomeUnknown(e)));
                }
                Failure::Retryable(e) | Failure::Unknown(e) => e,
            };
            if Instant::now() + backoff.peek() > deadline {
                return Err(unavailable(source));
            }
            tracing::debug!(error = %source, "postgres operation failed, retrying");
            backoff.sleep().await;
        }
    }
}

/// The connection dropped while a transaction was in flight.
#[derive(Debug, thiserror::Error)]
#[error("connection lost while the transaction was in flight; it may or may not have committed")]
struct OutcomeUnknown(#[source] BoxError);

/// Exponential backoff: 20 ms doubling up to 1 s.
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(Duration::from_millis(20))
    }
    fn peek(&self) -> Duration {
        self.0
    }
    async fn sleep(&mut self) {
        tokio::time::sleep(self.0).await;
        self.0 = (self.0 * 2).min(Duration::from_secs(1));
    }
}

/// How a failed request may be handled.
enum Failure {
    /// The request was not executed: retrying is safe.
    Retryable(BoxError),
    /// The connection broke while the request was in flight: it may have been executed.
    Unknown(BoxError),
    /// Retrying cannot help.
    Fatal(BoxError),
}

impl Failure {
    fn into_error(self) -> StoreError {
        match self {
            Failure::Retryable(e) | Failure::Unknown(e) => unavailable(e),
            Failure::Fatal(e) => backend(e),
        }
    }
}

/// Server errors after which the statement certainly did not commit and may be retried.
fn retryable_db(e: &tokio_postgres::Error) -> bool {
    let Some(code) = e.code() else { return false };
    let code = code.code();
    matches!(code, "40001" | "40P01") || ["08", "53", "57"].iter().any(|c| code.starts_with(c))
}

fn classify(e: tokio_postgres::Error) -> Failure {
    if e.as_db_error().is_some() {
        if retryable_db(&e) { Failure::Retryable(e.into()) } else { Failure::Fatal(e.into()) }
    } else if e.is_closed()
        || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>())
    {
        Failure::Unknown(e.into())
    } else {
        Failure::Fatal(e.into())
    }
}

enum Request<'a> {
    Get(&'a str),
    List { prefix: &'a str, opts: &'a ListOptions },
    Txn { txn: &'a Txn },
    Revision,
}

enum Response {
    Get(Option<KeyValue>),
    List(ListPage),
    Txn(TxnOutcome),
    Revision(Revision),
}

fn rev(v: i64) -> Revision {
    // Revisions and versions are written by this crate and never negative.
    u64::try_from(v).unwrap_or_default()
}

/// A `ferrostack_kv` row whose first column is at `at`.
fn key_value(row: &Row, at: usize) -> Result<Option<KeyValue>, tokio_postgres::Error> {
    let key: Option<String> = row.try_get(at)?;
    let Some(key) = key else { return Ok(None) };
    Ok(Some(KeyValue {
        key,
        value: row.try_get(at + 1)?,
        create_revision: rev(row.try_get(at + 2)?),
        mod_revision: rev(row.try_get(at + 3)?),
        version: rev(row.try_get(at + 4)?),
    }))
}

async fn execute(conn: &Conn, req: &Request<'_>) -> Result<Response, tokio_postgres::Error> {
    let c = &conn.client;
    let s = &conn.stmts;
    match *req {
        Request::Get(key) => {
            let row = c.query_opt(&s.get, &[&key]).await?;
            Ok(Response::Get(match row {
                Some(row) => key_value(&row, 0)?,
                None => None,
            }))
        }
        Request::Revision => {
            let row = c.query_one(&s.revision, &[]).await?;
            Ok(Response::Revision(rev(row.try_get(0)?)))
        }
        Request::List { prefix, opts } => {
            if opts.limit == Some(0) {
                let row = c.query_one(&s.revision, &[]).await?;
                let revision = rev(row.try_get(0)?);
                return Ok(Response::List(ListPage { items: Vec::new(), more: false, revision }));
            }
            let after = opts.start_after.as_deref().unwrap_or("");
            // One more than asked, to tell whether more keys follow.
            let limit: Option<i64> =
                opts.limit.map(|l| i64::try_from(l).unwrap_or(i64::MAX - 1).saturating_add(1));
            let rows = match prefix_end(prefix) {
                Some(end) => c.query(&s.list_bounded, &[&prefix, &after, &limit, &end]).await?,
                None => c.query(&s.list_unbounded, &[&prefix, &after, &limit]).await?,
            };
            let mut revision = 0;
            let mut items = Vec::with_capacity(rows.len());
            for row in &rows {
                revision = rev(row.try_get(0)?);
                if let Some(kv) = key_value(row, 1)? {
                    items.push(kv);
                }
            }
            let more = opts.limit.is_some_and(|l| items.len() > l);
            if let Some(l) = opts.limit {
                items.truncate(l);
            }
            Ok(Response::List(ListPage { items, more, revision }))
        }
        Request::Txn { txn } => {
            let n = txn.conditions.len();
            let mut c_keys = Vec::with_capacity(n);
            let mut c_kinds = Vec::with_capacity(n);
            let mut c_revs = Vec::with_capacity(n);
            let mut c_vals: Vec<Option<&[u8]>> = Vec::with_capacity(n);
            for cond in &txn.conditions {
                c_keys.push(cond.key.as_str());
                let (kind, r, v): (i16, Option<i64>, Option<&[u8]>) = match &cond.check {
                    Check::Exists => (0, None, None),
                    Check::Absent => (1, None, None),
                    // A revision beyond i64 can never match; -1 never matches either.
                    Check::ModRevision(r) => (2, Some(i64::try_from(*r).unwrap_or(-1)), None),
                    Check::ValueEquals(v) => (3, None, Some(v.as_slice())),
                };
                c_kinds.push(kind);
                c_revs.push(r);
                c_vals.push(v);
            }
            let mut o_keys = Vec::with_capacity(txn.ops.len());
            let mut o_vals: Vec<Option<&[u8]>> = Vec::with_capacity(txn.ops.len());
            for op in &txn.ops {
                o_keys.push(op.key());
                o_vals.push(match op {
                    Op::Put { value, .. } => Some(value.as_slice()),
                    Op::Delete { .. } => None,
                });
            }
            let row = c
                .query_one(&s.txn, &[&c_keys, &c_kinds, &c_revs, &c_vals, &o_keys, &o_vals])
                .await?;
            let failed: Option<i32> = row.try_get(0)?;
            let revision: Option<i64> = row.try_get(1)?;
            Ok(Response::Txn(match (failed, revision) {
                (Some(i), _) => {
                    TxnOutcome::Failed { condition: usize::try_from(i).unwrap_or_default() }
                }
                (None, r) => TxnOutcome::Committed { revision: rev(r.unwrap_or_default()) },
            }))
        }
    }
}

#[async_trait]
impl Store for PostgresStore {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        match self.run(&Request::Get(key)).await? {
            Response::Get(kv) => Ok(kv),
            _ => Err(backend("unexpected response")),
        }
    }

    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListPage, StoreError> {
        match self.run(&Request::List { prefix, opts }).await? {
            Response::List(page) => Ok(page),
            _ => Err(backend("unexpected response")),
        }
    }

    async fn txn(&self, txn: Txn) -> Result<TxnOutcome, StoreError> {
        txn.validate()?;
        match self.run(&Request::Txn { txn: &txn }).await? {
            Response::Txn(out) => Ok(out),
            _ => Err(backend("unexpected response")),
        }
    }

    async fn revision(&self) -> Result<Revision, StoreError> {
        match self.run(&Request::Revision).await? {
            Response::Revision(r) => Ok(r),
            _ => Err(backend("unexpected response")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_debug_output() {
        let c = PostgresConfig::new("postgres://nova:s3cret@db:5432/nova");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cret"), "{dbg}");
        assert!(dbg.contains("nova:***@db:5432/nova"), "{dbg}");
        assert_eq!(redact("host=db password=s3cret user=x"), "host=db password=*** user=x");
        assert_eq!(redact("postgres://db/nova"), "postgres://db/nova");
    }
}
