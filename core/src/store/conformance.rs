// SPDX-License-Identifier: Apache-2.0
//! The public conformance suite every [`Store`] implementation must pass.
//!
//! Call [`run_all`] from a multi-threaded tokio test of your implementation:
//!
//! ```ignore
//! #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
//! async fn my_store_conforms() {
//!     ferrostack_core::store::conformance::run_all(Arc::new(MyStore::open(..))).await;
//! }
//! ```
//!
//! Every check works under its own random key prefix, so the suite can run against a shared,
//! persistent database without cleaning it first, and several runs can share one store.
//! Checks panic with a message naming what broke.

use super::*;
use std::sync::Arc;

fn scope(test: &str) -> String {
    format!("conformance/{}/{}/", uuid::Uuid::new_v4().simple(), test)
}

/// Runs every check of the suite in turn.
pub async fn run_all(store: Arc<dyn Store>) {
    basic_crud(&*store).await;
    revisions(&*store).await;
    conditions(&*store).await;
    transactions_are_all_or_nothing(&*store).await;
    listing_and_pagination(&*store).await;
    limits(&*store).await;
    concurrent_increments(store.clone(), 8, 500).await;
    concurrent_creates_have_one_winner(store.clone()).await;
    conflicting_transactions_never_both_commit(store.clone()).await;
    concurrent_transfers_conserve_the_total(store.clone()).await;
}

/// Put, get, overwrite, delete.
pub async fn basic_crud(store: &dyn Store) {
    let p = scope("crud");
    let k = format!("{p}a");
    assert_eq!(store.get(&k).await.unwrap(), None, "a fresh key must be absent");
    let r1 = store.put(&k, b"one".to_vec()).await.unwrap();
    let kv = store.get(&k).await.unwrap().expect("put key must be readable");
    assert_eq!(kv.value, b"one");
    assert_eq!(kv.key, k);
    let r2 = store.put(&k, b"two".to_vec()).await.unwrap();
    assert!(r2 > r1, "each write must get a higher revision");
    assert_eq!(store.get(&k).await.unwrap().unwrap().value, b"two");
    assert!(matches!(store.create(&k, b"x".to_vec()).await, Err(StoreError::AlreadyExists(_))));
    assert!(store.delete(&k).await.unwrap(), "delete of an existing key reports it existed");
    assert!(!store.delete(&k).await.unwrap(), "delete of an absent key reports it did not");
    assert_eq!(store.get(&k).await.unwrap(), None);
    store.create(&k, Vec::new()).await.unwrap();
    assert_eq!(
        store.get(&k).await.unwrap().unwrap().value,
        Vec::<u8>::new(),
        "empty values are values"
    );
}

/// Store and key revisions follow the contract.
pub async fn revisions(store: &dyn Store) {
    let p = scope("revisions");
    let (a, b) = (format!("{p}a"), format!("{p}b"));
    let before = store.revision().await.unwrap();
    let out = store.txn(Txn::new().put(&a, b"1".to_vec()).put(&b, b"1".to_vec())).await.unwrap();
    let TxnOutcome::Committed { revision: r1 } = out else {
        panic!("unconditional txn must commit")
    };
    assert!(r1 > before);
    let ka = store.get(&a).await.unwrap().unwrap();
    let kb = store.get(&b).await.unwrap().unwrap();
    assert_eq!((ka.create_revision, ka.mod_revision, ka.version), (r1, r1, 1));
    assert_eq!(kb.mod_revision, r1, "writes of one txn share its revision");
    let r2 = store.put(&a, b"2".to_vec()).await.unwrap();
    assert!(r2 > r1);
    let ka = store.get(&a).await.unwrap().unwrap();
    assert_eq!((ka.create_revision, ka.mod_revision, ka.version), (r1, r2, 2));
    assert!(store.revision().await.unwrap() >= r2);
    // A read-only transaction does not advance the revision.
    let now = store.revision().await.unwrap();
    let out = store.txn(Txn::new().when(Condition::exists(&a))).await.unwrap();
    assert!(out.is_committed());
    if let TxnOutcome::Committed { revision } = out {
        assert!(revision >= r2 && revision <= store.revision().await.unwrap());
    }
    assert!(store.revision().await.unwrap() >= now);
    // Delete and re-create starts a new life.
    store.delete(&a).await.unwrap();
    let r3 = store.put(&a, b"3".to_vec()).await.unwrap();
    let ka = store.get(&a).await.unwrap().unwrap();
    assert_eq!((ka.create_revision, ka.version), (r3, 1), "re-creation resets version");
}

/// Each kind of condition.
pub async fn conditions(store: &dyn Store) {
    let p = scope("conditions");
    let k = format!("{p}k");
    let missing = format!("{p}missing");
    let rev = store.put(&k, b"v".to_vec()).await.unwrap();
    let cases = [
        (Condition::exists(&k), true),
        (Condition::exists(&missing), false),
        (Condition::absent(&missing), true),
        (Condition::absent(&k), false),
        (Condition::mod_revision(&k, rev), true),
        (Condition::mod_revision(&k, rev + 1), false),
        (Condition::mod_revision(&missing, 0), false),
        (Condition::value_equals(&k, b"v".to_vec()), true),
        (Condition::value_equals(&k, b"w".to_vec()), false),
        (Condition::value_equals(&missing, b"v".to_vec()), false),
    ];
    for (i, (cond, expect)) in cases.into_iter().enumerate() {
        let marker = format!("{p}marker{i}");
        let out =
            store.txn(Txn::new().when(cond.clone()).put(&marker, b"x".to_vec())).await.unwrap();
        assert_eq!(out.is_committed(), expect, "condition {cond:?}");
        assert_eq!(store.get(&marker).await.unwrap().is_some(), expect, "write of {cond:?}");
    }
    // The failing condition's index is reported.
    let out = store
        .txn(Txn::new().when(Condition::exists(&k)).when(Condition::exists(&missing)))
        .await
        .unwrap();
    assert_eq!(out, TxnOutcome::Failed { condition: 1 });
}

/// A transaction whose condition fails writes nothing; one that commits writes everything.
pub async fn transactions_are_all_or_nothing(store: &dyn Store) {
    let p = scope("atomic");
    let keys: Vec<String> = (0..5).map(|i| format!("{p}k{i}")).collect();
    store.put(&keys[0], b"old".to_vec()).await.unwrap();
    let mut txn = Txn::new().when(Condition::absent(&keys[0]));
    for k in &keys {
        txn = txn.put(k, b"new".to_vec());
    }
    assert!(!store.txn(txn).await.unwrap().is_committed());
    assert_eq!(store.get(&keys[0]).await.unwrap().unwrap().value, b"old");
    for k in &keys[1..] {
        assert_eq!(store.get(k).await.unwrap(), None, "failed txn must write nothing");
    }
    // Puts and deletes together, later ops win over earlier ones on the same key.
    let txn = Txn::new()
        .put(&keys[1], b"a".to_vec())
        .put(&keys[2], b"b".to_vec())
        .delete(&keys[0])
        .put(&keys[3], b"first".to_vec())
        .put(&keys[3], b"second".to_vec())
        .delete(&keys[4]);
    assert!(store.txn(txn).await.unwrap().is_committed());
    assert_eq!(store.get(&keys[0]).await.unwrap(), None);
    assert_eq!(store.get(&keys[1]).await.unwrap().unwrap().value, b"a");
    assert_eq!(store.get(&keys[3]).await.unwrap().unwrap().value, b"second");
    // An invalid op anywhere rejects the whole transaction before writing.
    let bad = Txn::new().put(&keys[1], b"changed".to_vec()).put("", b"x".to_vec());
    assert!(matches!(store.txn(bad).await, Err(StoreError::InvalidKey { .. })));
    assert_eq!(store.get(&keys[1]).await.unwrap().unwrap().value, b"a");
}

/// Prefix listing is ordered, bounded by the prefix, and pages without gaps or repeats.
pub async fn listing_and_pagination(store: &dyn Store) {
    let p = scope("list");
    let dir = format!("{p}dir/");
    let mut names: Vec<String> = (0..25).map(|i| format!("{dir}item{i:03}")).collect();
    names.push(format!("{dir}\u{e9}t\u{e9}"));
    names.push(format!("{dir}Zebra"));
    names.push(format!("{dir}zz%_*"));
    for n in &names {
        store.put(n, n.as_bytes().to_vec()).await.unwrap();
    }
    // Neighbours outside the prefix must never appear.
    store.put(&format!("{p}dir0"), b"x".to_vec()).await.unwrap();
    store.put(&format!("{p}dir"), b"x".to_vec()).await.unwrap();
    store.put(&format!("{p}di"), b"x".to_vec()).await.unwrap();
    let mut expected = names.clone();
    expected.sort(); // bytewise for UTF-8 strings
    let all = store.list(&dir, &ListOptions::default()).await.unwrap();
    let got: Vec<String> = all.items.iter().map(|kv| kv.key.clone()).collect();
    assert_eq!(got, expected, "listing must be bytewise ordered and bounded by the prefix");
    assert!(!all.more);
    assert!(all.items.iter().all(|kv| kv.value == kv.key.as_bytes()));
    for page_size in [1usize, 3, 7, 28, 100] {
        let mut opts = ListOptions { start_after: None, limit: Some(page_size) };
        let mut seen = Vec::new();
        loop {
            let page = store.list(&dir, &opts).await.unwrap();
            assert!(page.items.len() <= page_size);
            seen.extend(page.items.iter().map(|kv| kv.key.clone()));
            if !page.more {
                break;
            }
            assert_eq!(page.items.len(), page_size, "a page with more after it is full");
            opts.start_after = seen.last().cloned();
        }
        assert_eq!(seen, expected, "pages of {page_size}");
    }
    let zero = store.list(&dir, &ListOptions { start_after: None, limit: Some(0) }).await.unwrap();
    assert!(zero.items.is_empty());
    // start_after before the prefix starts at the prefix; after every key gives nothing.
    let from_before =
        store.list(&dir, &ListOptions { start_after: Some(p.clone()), limit: None }).await.unwrap();
    assert_eq!(from_before.items.len(), expected.len());
    let past_end = format!("{dir}\u{10FFFF}");
    let none =
        store.list(&dir, &ListOptions { start_after: Some(past_end), limit: None }).await.unwrap();
    assert!(none.items.is_empty() && !none.more);
    assert!(
        store
            .list(&format!("{p}nothing/"), &ListOptions::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    // LIKE/GLOB metacharacters in a prefix are literal.
    let meta = store.list(&format!("{dir}zz%"), &ListOptions::default()).await.unwrap();
    assert_eq!(meta.items.len(), 1);
    assert!(
        store.list(&format!("{dir}z_"), &ListOptions::default()).await.unwrap().items.is_empty()
    );
    assert_eq!(store.list_all(&dir).await.unwrap().len(), expected.len());
}

/// Invalid keys and oversized values are refused; large valid values round-trip.
pub async fn limits(store: &dyn Store) {
    let p = scope("limits");
    assert!(matches!(store.put("", b"x".to_vec()).await, Err(StoreError::InvalidKey { .. })));
    assert!(matches!(
        store.put(&format!("{p}a\0b"), b"x".to_vec()).await,
        Err(StoreError::InvalidKey { .. })
    ));
    let long = format!("{p}{}", "k".repeat(MAX_KEY_LEN));
    assert!(matches!(store.put(&long, b"x".to_vec()).await, Err(StoreError::InvalidKey { .. })));
    let k = format!("{p}big");
    assert!(matches!(
        store.put(&k, vec![7; MAX_VALUE_LEN + 1]).await,
        Err(StoreError::ValueTooLarge { .. })
    ));
    assert_eq!(store.get(&k).await.unwrap(), None);
    let value: Vec<u8> = (0..(1 << 20)).map(|i: u32| (i * 31 % 251) as u8).collect();
    store.put(&k, value.clone()).await.unwrap();
    assert_eq!(store.get(&k).await.unwrap().unwrap().value, value, "1 MiB binary value round trip");
    let max_key = format!("{p}{}", "m".repeat(MAX_KEY_LEN - p.len()));
    store.put(&max_key, b"ok".to_vec()).await.unwrap();
    assert_eq!(store.get(&max_key).await.unwrap().unwrap().value, b"ok");
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
struct Counter {
    n: u64,
}

/// `tasks` tasks each increment one counter `per_task` times through
/// [`Collection::update_with`]; no increment may be lost.
pub async fn concurrent_increments(store: Arc<dyn Store>, tasks: usize, per_task: usize) {
    let p = scope("counter");
    let counters: Collection<Counter> = Collection::new(store, p);
    counters.create("c", &Counter { n: 0 }).await.unwrap();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let c = counters.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..per_task {
                c.update_with::<StoreError, _>("c", |v| {
                    v.n += 1;
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
    let got = counters.require("c").await.unwrap();
    assert_eq!(got.value.n, (tasks * per_task) as u64, "lost updates under concurrency");
}

/// Many tasks race to create one key; exactly one wins.
pub async fn concurrent_creates_have_one_winner(store: Arc<dyn Store>) {
    let p = scope("create-race");
    for round in 0..10 {
        let key = format!("{p}k{round}");
        let mut handles = Vec::new();
        for t in 0..16u8 {
            let s = store.clone();
            let key = key.clone();
            handles.push(tokio::spawn(async move { s.create(&key, vec![t]).await.is_ok() }));
        }
        let mut winners = 0;
        for h in handles {
            winners += usize::from(h.await.unwrap());
        }
        assert_eq!(winners, 1, "exactly one create of {key} may succeed");
    }
}

/// Transactions that check the revisions of two keys and write both: every commit is
/// serialised, so the number of commits equals the number of writes each key saw.
pub async fn conflicting_transactions_never_both_commit(store: Arc<dyn Store>) {
    let p = scope("txn-race");
    let (a, b) = (format!("{p}a"), format!("{p}b"));
    store.put(&a, b"0".to_vec()).await.unwrap();
    store.put(&b, b"0".to_vec()).await.unwrap();
    let mut handles = Vec::new();
    for t in 0..8u8 {
        let (s, a, b) = (store.clone(), a.clone(), b.clone());
        handles.push(tokio::spawn(async move {
            let mut commits = 0u64;
            for _ in 0..50 {
                let ra = s.get(&a).await.unwrap().unwrap().mod_revision;
                let rb = s.get(&b).await.unwrap().unwrap().mod_revision;
                let txn = Txn::new()
                    .when(Condition::mod_revision(&a, ra))
                    .when(Condition::mod_revision(&b, rb))
                    .put(&a, vec![t])
                    .put(&b, vec![t]);
                if s.txn(txn).await.unwrap().is_committed() {
                    commits += 1;
                }
            }
            commits
        }));
    }
    let mut commits = 0;
    for h in handles {
        commits += h.await.unwrap();
    }
    let ka = store.get(&a).await.unwrap().unwrap();
    let kb = store.get(&b).await.unwrap().unwrap();
    assert_eq!(ka.version - 1, commits, "a commit was lost or applied twice");
    assert_eq!(kb.version - 1, commits);
    assert_eq!(ka.value, kb.value, "both keys must hold the last committer's value");
    assert!(commits >= 1);
}

/// Concurrent "transfers" between accounts, each a two-key compare-and-swap: the total is
/// conserved, which fails if any transaction is applied partially.
pub async fn concurrent_transfers_conserve_the_total(store: Arc<dyn Store>) {
    let p = scope("transfers");
    let accounts: Vec<String> = (0..4).map(|i| format!("{p}acct{i}")).collect();
    for a in &accounts {
        store.put(a, 100u64.to_string().into_bytes()).await.unwrap();
    }
    let parse = |kv: &KeyValue| -> u64 { std::str::from_utf8(&kv.value).unwrap().parse().unwrap() };
    let mut handles = Vec::new();
    for t in 0..6usize {
        let (s, accounts) = (store.clone(), accounts.clone());
        handles.push(tokio::spawn(async move {
            for i in 0..40usize {
                let from = &accounts[(t + i) % accounts.len()];
                let to = &accounts[(t + i + 1) % accounts.len()];
                loop {
                    let kf = s.get(from).await.unwrap().unwrap();
                    let kt = s.get(to).await.unwrap().unwrap();
                    let (vf, vt) = (parse(&kf), parse(&kt));
                    let amount = vf.min(3);
                    let txn = Txn::new()
                        .when(Condition::mod_revision(from, kf.mod_revision))
                        .when(Condition::mod_revision(to, kt.mod_revision))
                        .put(from, (vf - amount).to_string().into_bytes())
                        .put(to, (vt + amount).to_string().into_bytes());
                    if s.txn(txn).await.unwrap().is_committed() {
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let mut total = 0;
    for a in &accounts {
        total += parse(&store.get(a).await.unwrap().unwrap());
    }
    assert_eq!(total, 400, "money was created or destroyed: a transaction applied partially");
}
