// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-sqlite: the embedded, durable [`Store`]
//!
//! [`SqliteStore`] keeps Ferrostack's control-plane state in one SQLite file. It is the default
//! store of `minicloud` and of any single-host deployment: no server to run, state survives
//! restarts, and several processes on one host may open the same file.
//!
//! ## Design
//!
//! * **Schema.** One `WITHOUT ROWID` table `kv(key TEXT PRIMARY KEY, value BLOB,
//!   create_revision, mod_revision, version)` and a one-row `store_meta` holding the store
//!   revision. SQLite compares `TEXT` with the `BINARY` collation, i.e. `memcmp` of UTF-8,
//!   which is exactly the bytewise order the [`Store`] contract asks for, and the primary key
//!   index serves prefix listings as range scans (`key >= prefix AND key < prefix_end`), never
//!   `LIKE`. The schema version lives in `PRAGMA user_version`; [`SqliteStore::open`] migrates
//!   older files forward and refuses files from a newer Ferrostack.
//! * **Transactions.** Every [`Store::txn`] is one `BEGIN IMMEDIATE` transaction: it takes
//!   SQLite's write lock before reading the conditions, so conditions are checked against the
//!   latest committed state and no other writer (in this or another process) can interleave.
//!   The revision counter is bumped inside the same transaction.
//! * **Durability.** The journal is in WAL mode with `synchronous = FULL` by default: a
//!   committed transaction survives a power cut. [`Durability::Normal`] trades the last
//!   transactions before a power cut (never consistency) for fewer fsyncs.
//! * **Async.** rusqlite is synchronous; every call runs on tokio's blocking pool with the
//!   connection behind a mutex. A dropped future cannot interrupt a transaction half way:
//!   the blocking task runs to its `COMMIT` or `ROLLBACK`.
//!
//! ## Example
//!
//! ```
//! use ferrostack_core::store::{Store, StoreExt};
//! use ferrostack_sqlite::SqliteStore;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteStore::open(dir.path().join("state.db")).unwrap();
//! store.put("compute/servers/a", b"{}".to_vec()).await.unwrap();
//! assert_eq!(store.get("compute/servers/a").await.unwrap().unwrap().version, 1);
//! # });
//! ```

use ferrostack_core::store::{
    KeyValue, ListOptions, ListPage, Op, Revision, Store, StoreError, Txn, TxnOutcome, prefix_end,
    validate_key,
};
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The schema version this crate writes.
const SCHEMA_VERSION: i64 = 1;

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous = FULL`: every commit is on disk when `txn` returns (the default).
    #[default]
    Full,
    /// `synchronous = NORMAL`: commits survive a crash of the process, but the last few may be
    /// lost in a power cut. The database is never corrupted.
    Normal,
}

/// Errors opening a SQLite store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// SQLite refused an operation.
    #[error("sqlite error on {path}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// SQLite's error.
        #[source]
        source: rusqlite::Error,
    },
    /// The file was written by a newer Ferrostack.
    #[error("{path} has schema version {found}, newer than the supported {supported}")]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// The version in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
}

impl ferrostack_core::error::Classify for SqliteError {
    fn kind(&self) -> ferrostack_core::ErrorKind {
        ferrostack_core::ErrorKind::Unavailable
    }
}

/// A [`Store`] in a SQLite database file. Cheap to clone; clones share one connection.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

fn backend(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ) =>
        {
            StoreError::Unavailable { store: "sqlite", source: Box::new(e) }
        }
        _ => StoreError::Backend { store: "sqlite", source: Box::new(e) },
    }
}

fn row_to_kv(row: &rusqlite::Row<'_>) -> rusqlite::Result<KeyValue> {
    Ok(KeyValue {
        key: row.get(0)?,
        value: row.get(1)?,
        create_revision: row.get::<_, i64>(2)? as Revision,
        mod_revision: row.get::<_, i64>(3)? as Revision,
        version: row.get::<_, i64>(4)? as u64,
    })
}

const SELECT_KV: &str = "SELECT key, value, create_revision, mod_revision, version FROM kv";

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` with [`Durability::Full`].
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::open_with(path, Durability::Full)
    }

    /// Opens (creating if needed) the database at `path`.
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self, SqliteError> {
        let path = path.as_ref().to_path_buf();
        let err = |source| SqliteError::Sqlite { path: path.clone(), source };
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(Duration::from_secs(10)).map_err(err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(err)?;
        let sync = match durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync).map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(err)?;
        Self::migrate(&conn).map_err(|e| match e {
            MigrateError::Sqlite(source) => SqliteError::Sqlite { path: path.clone(), source },
            MigrateError::Newer(found) => {
                SqliteError::NewerSchema { path: path.clone(), found, supported: SCHEMA_VERSION }
            }
        })?;
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)), path })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn migrate(conn: &Connection) -> Result<(), MigrateError> {
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(MigrateError::Newer(version));
        }
        if version < 1 {
            conn.execute_batch(
                "BEGIN IMMEDIATE;
                 CREATE TABLE IF NOT EXISTS kv (
                     key TEXT PRIMARY KEY NOT NULL,
                     value BLOB NOT NULL,
                     create_revision INTEGER NOT NULL,
                     mod_revision INTEGER NOT NULL,
                     version INTEGER NOT NULL
                 ) WITHOUT ROWID;
                 CREATE TABLE IF NOT EXISTS store_meta (
                     id INTEGER PRIMARY KEY CHECK (id = 0),
                     revision INTEGER NOT NULL
                 );
                 INSERT OR IGNORE INTO store_meta (id, revision) VALUES (0, 0);
                 PRAGMA user_version = 1;
                 COMMIT;",
            )?;
        }
        Ok(())
    }

    /// Runs `f` with the connection on the blocking pool.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| StoreError::Backend { store: "sqlite", source: Box::new(e) })?
    }
}

enum MigrateError {
    Sqlite(rusqlite::Error),
    Newer(i64),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sqlite(e)
    }
}

fn current_revision(conn: &Connection) -> rusqlite::Result<Revision> {
    conn.query_row("SELECT revision FROM store_meta WHERE id = 0", [], |r| r.get::<_, i64>(0))
        .map(|r| r as Revision)
}

fn get_kv(conn: &Connection, key: &str) -> rusqlite::Result<Option<KeyValue>> {
    conn.prepare_cached(&format!("{SELECT_KV} WHERE key = ?1"))?
        .query_row([key], row_to_kv)
        .optional()
}

fn apply(conn: &mut Connection, txn: Txn) -> rusqlite::Result<TxnOutcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for (i, c) in txn.conditions.iter().enumerate() {
        if !c.holds(get_kv(&tx, &c.key)?.as_ref()) {
            // Dropping `tx` rolls back; nothing was written.
            return Ok(TxnOutcome::Failed { condition: i });
        }
    }
    let revision = current_revision(&tx)?;
    if txn.ops.is_empty() {
        return Ok(TxnOutcome::Committed { revision });
    }
    let rev = revision + 1;
    tx.prepare_cached("UPDATE store_meta SET revision = ?1 WHERE id = 0")?.execute([rev as i64])?;
    for op in txn.ops {
        match op {
            Op::Put { key, value } => {
                tx.prepare_cached(
                    "INSERT INTO kv (key, value, create_revision, mod_revision, version)
                     VALUES (?1, ?2, ?3, ?3, 1)
                     ON CONFLICT (key) DO UPDATE SET
                        value = excluded.value,
                        mod_revision = excluded.mod_revision,
                        version = kv.version + 1",
                )?
                .execute(params![key, value, rev as i64])?;
            }
            Op::Delete { key } => {
                tx.prepare_cached("DELETE FROM kv WHERE key = ?1")?.execute([key])?;
            }
        }
    }
    tx.commit()?;
    Ok(TxnOutcome::Committed { revision: rev })
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        validate_key(key)?;
        let key = key.to_owned();
        self.with_conn(move |c| get_kv(c, &key).map_err(backend)).await
    }

    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListPage, StoreError> {
        let prefix = prefix.to_owned();
        let opts = opts.clone();
        self.with_conn(move |c| {
            let tx = c.transaction().map_err(backend)?; // one snapshot for items and revision
            let lower = match opts.start_after {
                Some(after) if after >= prefix => after,
                _ => String::new(),
            };
            let upper = prefix_end(&prefix);
            let limit =
                opts.limit.map_or(-1, |l| l.saturating_add(1).min(i64::MAX as usize) as i64);
            let items = {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "{SELECT_KV} WHERE key >= ?1 AND key > ?2 AND (?3 IS NULL OR key < ?3)
                         ORDER BY key LIMIT ?4"
                    ))
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![prefix, lower, upper, limit], row_to_kv)
                    .map_err(backend)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(backend)?
            };
            let revision = current_revision(&tx).map_err(backend)?;
            let mut items = items;
            let more = match opts.limit {
                Some(l) if items.len() > l => {
                    items.truncate(l);
                    true
                }
                _ => false,
            };
            Ok(ListPage { items, more, revision })
        })
        .await
    }

    async fn txn(&self, txn: Txn) -> Result<TxnOutcome, StoreError> {
        txn.validate()?;
        self.with_conn(move |c| apply(c, txn).map_err(backend)).await
    }

    async fn revision(&self) -> Result<Revision, StoreError> {
        self.with_conn(|c| current_revision(c).map_err(backend)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrostack_core::store::{Collection, StoreExt, conformance};

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_store_passes_the_conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("state.db")).unwrap();
        conformance::run_all(Arc::new(store)).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_handles_on_one_file_see_each_other_and_never_lose_updates() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let a = SqliteStore::open(&path).unwrap();
        let b = SqliteStore::open(&path).unwrap();
        a.put("k", b"from a".to_vec()).await.unwrap();
        assert_eq!(b.get("k").await.unwrap().unwrap().value, b"from a");
        // Separate connections (as separate processes would have) racing on one counter.
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Counter {
            n: u64,
        }
        let on_a: Collection<Counter> = Collection::new(Arc::new(a.clone()), "counters/");
        let on_b: Collection<Counter> = Collection::new(Arc::new(b.clone()), "counters/");
        on_a.create("c", &Counter { n: 0 }).await.unwrap();
        let mut handles = Vec::new();
        for coll in [on_a.clone(), on_b.clone(), on_a.clone(), on_b.clone()] {
            handles.push(tokio::spawn(async move {
                for _ in 0..100 {
                    coll.update_with::<StoreError, _>("c", |c| {
                        c.n += 1;
                        Ok(())
                    })
                    .await
                    .unwrap();
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(on_b.require("c").await.unwrap().value.n, 400);
        let ra = a.revision().await.unwrap();
        assert_eq!(ra, b.revision().await.unwrap());
    }

    #[tokio::test]
    async fn state_survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        let rev = {
            let s = SqliteStore::open(&path).unwrap();
            s.put("a/1", b"one".to_vec()).await.unwrap();
            s.put("a/2", b"two".to_vec()).await.unwrap()
        };
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.revision().await.unwrap(), rev);
        assert_eq!(s.list_all("a/").await.unwrap().len(), 2);
        let next = s.put("a/3", b"three".to_vec()).await.unwrap();
        assert_eq!(next, rev + 1, "revisions continue after a restart");
    }

    #[test]
    fn refuses_a_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.db");
        drop(SqliteStore::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        assert!(matches!(
            SqliteStore::open(&path),
            Err(SqliteError::NewerSchema { found: 99, .. })
        ));
    }
}
