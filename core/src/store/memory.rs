// SPDX-License-Identifier: Apache-2.0
//! [`MemoryStore`]: the in-process store for tests and examples.

use super::{KeyValue, ListOptions, ListPage, Op, Revision, Store, StoreError, Txn, TxnOutcome};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Mutex;

#[derive(Debug, Default)]
struct State {
    revision: Revision,
    data: BTreeMap<String, KeyValue>,
}

/// A [`Store`] in a `BTreeMap` behind a mutex. Not durable: its state lives as long as the
/// value. Cheap to create, so each test can have its own.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl MemoryStore {
    /// An empty store at revision 0.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-written (every mutation is
        // applied after all checks), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Applies `txn` to an in-memory map: the shared semantics of [`MemoryStore`] and of stores
/// that keep a cache. Returns the outcome; the map and revision change only on commit.
pub(crate) fn apply_txn(
    data: &mut BTreeMap<String, KeyValue>,
    revision: &mut Revision,
    txn: Txn,
) -> TxnOutcome {
    for (i, c) in txn.conditions.iter().enumerate() {
        if !c.holds(data.get(&c.key)) {
            return TxnOutcome::Failed { condition: i };
        }
    }
    if txn.ops.is_empty() {
        return TxnOutcome::Committed { revision: *revision };
    }
    *revision += 1;
    let rev = *revision;
    for op in txn.ops {
        match op {
            Op::Put { key, value } => match data.get_mut(&key) {
                Some(kv) => {
                    kv.value = value;
                    kv.mod_revision = rev;
                    kv.version += 1;
                }
                None => {
                    data.insert(
                        key.clone(),
                        KeyValue {
                            key,
                            value,
                            create_revision: rev,
                            mod_revision: rev,
                            version: 1,
                        },
                    );
                }
            },
            Op::Delete { key } => {
                data.remove(&key);
            }
        }
    }
    TxnOutcome::Committed { revision: rev }
}

#[async_trait::async_trait]
impl Store for MemoryStore {
    fn name(&self) -> &'static str {
        "memory"
    }

    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError> {
        super::validate_key(key)?;
        Ok(self.lock().data.get(key).cloned())
    }

    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListPage, StoreError> {
        let state = self.lock();
        let lower = match &opts.start_after {
            Some(after) if after.as_str() >= prefix => Bound::Excluded(after.clone()),
            _ => Bound::Included(prefix.to_owned()),
        };
        let limit = opts.limit.unwrap_or(usize::MAX);
        let mut iter =
            state.data.range((lower, Bound::Unbounded)).take_while(|(k, _)| k.starts_with(prefix));
        let items: Vec<KeyValue> = iter.by_ref().take(limit).map(|(_, v)| v.clone()).collect();
        let more = iter.next().is_some();
        Ok(ListPage { items, more, revision: state.revision })
    }

    async fn txn(&self, txn: Txn) -> Result<TxnOutcome, StoreError> {
        txn.validate()?;
        let mut state = self.lock();
        let State { revision, data } = &mut *state;
        Ok(apply_txn(data, revision, txn))
    }

    async fn revision(&self) -> Result<Revision, StoreError> {
        Ok(self.lock().revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::conformance;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_passes_the_conformance_suite() {
        conformance::run_all(Arc::new(MemoryStore::new())).await;
    }
}
