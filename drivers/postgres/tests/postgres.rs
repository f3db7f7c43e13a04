// SPDX-License-Identifier: Apache-2.0
//! `PostgresStore` against a real PostgreSQL 15 (started by `scripts/test-env/postgres.sh`).

use ferrostack_core::store::{
    KeyValue, ListOptions, ListPage, Revision, Store, StoreError, StoreExt, Txn, TxnOutcome,
    conformance,
};
use ferrostack_core::testing::env_prerequisite;
use ferrostack_postgres::{PostgresConfig, PostgresStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

const HOW: &str = "run scripts/test.sh, which starts PostgreSQL 15 on loopback";

fn url(test: &str) -> Option<String> {
    env_prerequisite("FERROSTACK_TEST_POSTGRES_URL", test, HOW)
}

/// A fresh database on the shared server, dropped when the guard goes.
struct TempDb {
    admin: tokio_postgres::Client,
    name: String,
    url: String,
}

impl TempDb {
    async fn new(base: &str) -> TempDb {
        let (admin, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let name = format!("ferrostack_test_{}", uuid::Uuid::new_v4().simple());
        admin.batch_execute(&format!("CREATE DATABASE {name}")).await.unwrap();
        let (prefix, _) = base.rsplit_once('/').unwrap();
        TempDb { admin, url: format!("{prefix}/{name}"), name }
    }

    /// A fresh database whose default collation is ICU `en-US`, which does not sort bytewise
    /// (`'Zebra' > 'item'`).
    async fn new_icu(base: &str) -> TempDb {
        let (admin, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let name = format!("ferrostack_test_{}", uuid::Uuid::new_v4().simple());
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' \
                 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.utf8'"
            ))
            .await
            .unwrap();
        let (prefix, _) = base.rsplit_once('/').unwrap();
        TempDb { admin, url: format!("{prefix}/{name}"), name }
    }

    async fn drop_db(self) {
        self.admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_store_passes_the_conformance_suite() {
    let Some(url) = url("postgres_store_passes_the_conformance_suite") else { return };
    let store = PostgresStore::connect(&url).await.unwrap();
    assert_eq!(store.name(), "postgres");
    conformance::run_all(Arc::new(store)).await;
}

/// A store that sends each operation to the next of several stores, each with one connection:
/// the conformance suite's concurrency checks then run over separate connections.
#[derive(Debug)]
struct Spread {
    stores: Vec<PostgresStore>,
    next: AtomicUsize,
}

impl Spread {
    fn pick(&self) -> &PostgresStore {
        &self.stores[self.next.fetch_add(1, Ordering::Relaxed) % self.stores.len()]
    }
}

#[async_trait::async_trait]
impl Store for Spread {
    fn name(&self) -> &'static str {
        "spread"
    }
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        self.pick().get(key).await
    }
    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListPage, StoreError> {
        self.pick().list(prefix, opts).await
    }
    async fn txn(&self, txn: Txn) -> Result<TxnOutcome, StoreError> {
        self.pick().txn(txn).await
    }
    async fn revision(&self) -> Result<Revision, StoreError> {
        self.pick().revision().await
    }
}

async fn single_connection_stores(url: &str, n: usize) -> Vec<PostgresStore> {
    let mut stores = Vec::new();
    for _ in 0..n {
        let mut cfg = PostgresConfig::new(url);
        cfg.pool_size = 1;
        stores.push(PostgresStore::with_config(cfg).await.unwrap());
    }
    stores
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_connections_compare_and_swap_one_key_without_losing_an_increment() {
    let Some(url) = url("eight_connections_compare_and_swap") else { return };
    let stores = single_connection_stores(&url, 8).await;
    let key = format!("cas/{}/counter", uuid::Uuid::new_v4().simple());
    stores[0].create(&key, b"0".to_vec()).await.unwrap();
    const PER_CLIENT: u64 = 200;
    let stores: Vec<Arc<PostgresStore>> = stores.into_iter().map(Arc::new).collect();
    let mut tasks = Vec::new();
    for s in &stores {
        let (s, key) = (s.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            for _ in 0..PER_CLIENT {
                loop {
                    let kv = s.get(&key).await.unwrap().unwrap();
                    let n: u64 = std::str::from_utf8(&kv.value).unwrap().parse().unwrap();
                    match s.compare_and_put(&key, kv.mod_revision, (n + 1).to_string().into()).await
                    {
                        Ok(_) => break,
                        Err(StoreError::Conflict(_)) => conflicts += 1,
                        Err(e) => panic!("{e:?}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let kv = stores[0].get(&key).await.unwrap().unwrap();
    assert_eq!(kv.value, (8 * PER_CLIENT).to_string().into_bytes(), "lost or doubled increments");
    assert_eq!(kv.version, 8 * PER_CLIENT + 1);
    eprintln!("8 clients x {PER_CLIENT} CAS increments: exact, {conflicts} conflicts retried");

    // The suite's own concurrency checks, with every operation on a different connection.
    let spread: Arc<dyn Store> =
        Arc::new(Spread { stores: single_connection_stores(&url, 8).await, next: 0.into() });
    conformance::concurrent_increments(spread.clone(), 8, 100).await;
    conformance::conflicting_transactions_never_both_commit(spread.clone()).await;
    conformance::concurrent_transfers_conserve_the_total(spread.clone()).await;
    conformance::concurrent_creates_have_one_winner(spread).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_conflicting_transactions_on_separate_connections_never_both_commit() {
    let Some(url) = url("two_conflicting_transactions") else { return };
    let stores = single_connection_stores(&url, 2).await;
    let p = format!("conflict/{}/", uuid::Uuid::new_v4().simple());
    let (a, b) = (format!("{p}a"), format!("{p}b"));
    for round in 0..100u32 {
        let ra = stores[0].put(&a, round.to_string().into()).await.unwrap();
        let rb = stores[0].put(&b, round.to_string().into()).await.unwrap();
        // Each transaction checks both keys and writes one of them.
        let t1 = Txn::new()
            .when(ferrostack_core::store::Condition::mod_revision(&a, ra))
            .when(ferrostack_core::store::Condition::mod_revision(&b, rb))
            .put(&a, b"t1".to_vec());
        let t2 = Txn::new()
            .when(ferrostack_core::store::Condition::mod_revision(&a, ra))
            .when(ferrostack_core::store::Condition::mod_revision(&b, rb))
            .put(&b, b"t2".to_vec());
        let (o1, o2) = tokio::join!(stores[0].txn(t1), stores[1].txn(t2));
        let (o1, o2) = (o1.unwrap(), o2.unwrap());
        assert!(
            o1.is_committed() != o2.is_committed(),
            "round {round}: exactly one must commit: {o1:?} {o2:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_is_migrated_once_and_newer_schemas_are_refused() {
    let Some(url) = url("schema_is_migrated_once") else { return };
    let db = TempDb::new(&url).await;
    // Several processes starting at once migrate one at a time.
    let (s1, s2, s3) = tokio::join!(
        PostgresStore::connect(&db.url),
        PostgresStore::connect(&db.url),
        PostgresStore::connect(&db.url)
    );
    let (s1, s2, _s3) = (s1.unwrap(), s2.unwrap(), s3.unwrap());
    let r = s1.put("k", b"v".to_vec()).await.unwrap();
    assert_eq!(r, 1, "a fresh store starts at revision 0");
    assert_eq!(s2.get("k").await.unwrap().unwrap().mod_revision, 1);
    let (c, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    let rows = c.query("SELECT version FROM ferrostack_migrations ORDER BY version", &[]).await;
    let versions: Vec<i32> = rows.unwrap().iter().map(|r| r.get(0)).collect();
    let expected: Vec<i32> = (1..=PostgresStore::schema_version()).collect();
    assert_eq!(versions, expected);
    // A schema from the future is refused, not misread.
    c.execute("INSERT INTO ferrostack_migrations (version, description) VALUES (999, 'x')", &[])
        .await
        .unwrap();
    let err = PostgresStore::connect(&db.url).await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
    assert!(format!("{:?}", err).contains("999"), "{err:?}");
    drop((s1, s2, _s3, c));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefix_listing_is_an_index_range_scan() {
    let Some(url) = url("prefix_listing_is_an_index_range_scan") else { return };
    let _store = PostgresStore::connect(&url).await.unwrap();
    let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(conn);
    // The planner may prefer a sequential scan of a tiny table; forbid that so the plan shows
    // whether the bounds can drive the index at all (a LIKE could not).
    c.batch_execute("SET enable_seqscan = off; SET enable_bitmapscan = off").await.unwrap();
    let stmt = "EXPLAIN SELECT * FROM ferrostack_kv WHERE key >= 'a/' AND key > 'a/b' \
                AND key < 'a0' ORDER BY key LIMIT 11";
    let plan: Vec<String> = c.query(stmt, &[]).await.unwrap().iter().map(|r| r.get(0)).collect();
    let plan = plan.join("\n");
    assert!(plan.contains("Index Scan using ferrostack_kv_pkey"), "{plan}");
    assert!(plan.contains("Index Cond") && plan.contains("< 'a0'"), "{plan}");
    assert!(!plan.contains("Sort"), "the index order must be the listing order: {plan}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_database_is_a_clean_unavailable_error() {
    // Needs no server: nothing listens on port 1 of loopback.
    let mut cfg = PostgresConfig::new("postgres://postgres@127.0.0.1:1/postgres");
    cfg.retry_for = std::time::Duration::from_millis(200);
    let err = PostgresStore::with_config(cfg).await.unwrap_err();
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    let err = PostgresStore::connect("postgres://[bad").await.unwrap_err();
    assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_see_every_commit_in_order() {
    let Some(url) = url("watchers_see_every_commit_in_order") else { return };
    let db = TempDb::new(&url).await;
    let writer = PostgresStore::connect(&db.url).await.unwrap();
    let other = PostgresStore::connect(&db.url).await.unwrap();
    let mut watch = other.watch().await.unwrap();
    let r1 = writer.put("w/a", b"1".to_vec()).await.unwrap();
    let out =
        writer.txn(Txn::new().put("w/b", b"2".to_vec()).delete("w/a").put("w/b", b"3".to_vec()));
    let TxnOutcome::Committed { revision: r2 } = out.await.unwrap() else { panic!() };
    // A failed or read-only transaction notifies nothing.
    let failed =
        Txn::new().when(ferrostack_core::store::Condition::absent("w/b")).put("w/c", b"x".to_vec());
    assert!(!writer.txn(failed).await.unwrap().is_committed());
    let r3 = writer.put("w/c", b"4".to_vec()).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..3 {
        let c = tokio::time::timeout(std::time::Duration::from_secs(10), watch.next()).await;
        got.push(c.expect("a change notification").expect("the watch runs"));
    }
    let expected = vec![
        ferrostack_postgres::Change { revision: r1, keys: Some(vec!["w/a".into()]) },
        ferrostack_postgres::Change { revision: r2, keys: Some(vec!["w/a".into(), "w/b".into()]) },
        ferrostack_postgres::Change { revision: r3, keys: Some(vec!["w/c".into()]) },
    ];
    assert_eq!(got, expected);
    drop((watch, writer, other));
    db.drop_db().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_is_bytewise_whatever_the_database_collation() {
    let Some(url) = url("listing_is_bytewise_whatever_the_database_collation") else { return };
    let db = TempDb::new_icu(&url).await;
    let store = PostgresStore::connect(&db.url).await.unwrap();
    {
        let (c, conn) = tokio_postgres::connect(&db.url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let row = c.query_one("SELECT 'Zebra' < 'item'", &[]).await.unwrap();
        assert!(!row.get::<_, bool>(0), "the database's own collation is not bytewise");
    }
    conformance::listing_and_pagination(&store).await;
    drop(store);
    db.drop_db().await;
}
