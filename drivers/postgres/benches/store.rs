// SPDX-License-Identifier: Apache-2.0
//! Store get / put / two-key compare-and-swap transaction, embedded (memory, SQLite) against
//! PostgreSQL on loopback. The PostgreSQL part needs `FERROSTACK_TEST_POSTGRES_URL`
//! (`scripts/test-env/postgres.sh` starts a server); without it only the embedded stores run.
//!
//! ```text
//! FERROSTACK_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/postgres \
//!     cargo bench -p ferrostack-postgres --bench store
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use ferrostack_core::store::{Condition, MemoryStore, Store, StoreExt, Txn};
use ferrostack_postgres::PostgresStore;
use ferrostack_sqlite::{Durability, SqliteStore};
use std::sync::Arc;

fn bench_store(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, store: Arc<dyn Store>) {
    let p = format!("bench/{}/", uuid::Uuid::new_v4().simple());
    let (a, b) = (format!("{p}a"), format!("{p}b"));
    let value = vec![7u8; 256];
    rt.block_on(async {
        store.put(&a, value.clone()).await.unwrap();
        store.put(&b, value.clone()).await.unwrap();
    });
    let mut g = c.benchmark_group(format!("store/{name}"));
    g.bench_function("get", |bench| {
        bench.to_async(rt).iter(|| async { store.get(&a).await.unwrap().unwrap() })
    });
    g.bench_function("put", |bench| {
        bench.to_async(rt).iter(|| async { store.put(&a, value.clone()).await.unwrap() })
    });
    g.bench_function("txn_cas_2_keys", |bench| {
        bench.to_async(rt).iter(|| async {
            let ra = store.get(&a).await.unwrap().unwrap().mod_revision;
            let rb = store.get(&b).await.unwrap().unwrap().mod_revision;
            let txn = Txn::new()
                .when(Condition::mod_revision(&a, ra))
                .when(Condition::mod_revision(&b, rb))
                .put(&a, value.clone())
                .put(&b, value.clone());
            assert!(store.txn(txn).await.unwrap().is_committed());
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    bench_store(c, &rt, "memory", Arc::new(MemoryStore::new()));
    let dir = tempfile::tempdir().unwrap();
    for (label, durability) in
        [("sqlite_full", Durability::Full), ("sqlite_normal", Durability::Normal)]
    {
        let s = SqliteStore::open_with(dir.path().join(format!("{label}.db")), durability).unwrap();
        bench_store(c, &rt, label, Arc::new(s));
    }
    match std::env::var("FERROSTACK_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => {
            let store = rt.block_on(PostgresStore::connect(&url)).unwrap();
            bench_store(c, &rt, "postgres", Arc::new(store));
        }
        _ => eprintln!("SKIPPED store/postgres: FERROSTACK_TEST_POSTGRES_URL is not set"),
    }
}

criterion_group!(store_benches, benches);
criterion_main!(store_benches);
