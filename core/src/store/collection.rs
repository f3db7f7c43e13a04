// SPDX-License-Identifier: Apache-2.0
//! [`Collection`]: typed JSON documents in a [`Store`] with optimistic concurrency.

use super::{Condition, KeyValue, ListOptions, Op, Revision, Store, StoreError, Txn, TxnOutcome};
use serde::{Serialize, de::DeserializeOwned};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

/// How many times [`Collection::update_with`] retries after losing a race before it gives up
/// with [`StoreError::Conflict`]. Each lost race means another writer made progress, so this
/// bound is only reached under pathological contention.
pub const MAX_UPDATE_ATTEMPTS: usize = 10_000;

/// A value read from a [`Collection`] with the revision that last wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    /// The id within the collection.
    pub id: String,
    /// The value.
    pub value: T,
    /// The revision of the write that produced `value`; pass it back to update or delete only
    /// if nobody changed the value since.
    pub revision: Revision,
}

/// Typed documents of one kind, stored as JSON under a key prefix.
///
/// Cloning is cheap (an `Arc` and a string).
pub struct Collection<T> {
    store: Arc<dyn Store>,
    prefix: String,
    _marker: PhantomData<fn() -> T>,
}

impl<T> Clone for Collection<T> {
    fn clone(&self) -> Self {
        Collection { store: self.store.clone(), prefix: self.prefix.clone(), _marker: PhantomData }
    }
}

impl<T> fmt::Debug for Collection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Collection")
            .field("store", &self.store.name())
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl<T> Collection<T>
where
    T: Serialize + DeserializeOwned + Send + Sync,
{
    /// A collection of documents stored under `prefix` (conventionally ending in `/`).
    pub fn new(store: Arc<dyn Store>, prefix: impl Into<String>) -> Self {
        Collection { store, prefix: prefix.into(), _marker: PhantomData }
    }

    /// The store the collection lives in.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The key of document `id`.
    pub fn key(&self, id: &str) -> String {
        format!("{}{}", self.prefix, id)
    }

    fn decode(&self, kv: KeyValue) -> Result<Versioned<T>, StoreError> {
        let value = serde_json::from_slice(&kv.value)
            .map_err(|source| StoreError::Decode { key: kv.key.clone(), source })?;
        let id = kv.key[self.prefix.len()..].to_owned();
        Ok(Versioned { id, value, revision: kv.mod_revision })
    }

    fn encode(value: &T) -> Result<Vec<u8>, StoreError> {
        serde_json::to_vec(value).map_err(StoreError::Encode)
    }

    /// Document `id`, or `None`.
    pub async fn get(&self, id: &str) -> Result<Option<Versioned<T>>, StoreError> {
        match self.store.get(&self.key(id)).await? {
            Some(kv) => self.decode(kv).map(Some),
            None => Ok(None),
        }
    }

    /// Document `id`, or [`StoreError::NotFound`].
    pub async fn require(&self, id: &str) -> Result<Versioned<T>, StoreError> {
        self.get(id).await?.ok_or_else(|| StoreError::NotFound(self.key(id)))
    }

    /// Creates document `id`; [`StoreError::AlreadyExists`] if it exists.
    pub async fn create(&self, id: &str, value: &T) -> Result<Revision, StoreError> {
        let key = self.key(id);
        let txn = Txn::new().when(Condition::absent(&key)).put(&key, Self::encode(value)?);
        match self.store.txn(txn).await? {
            TxnOutcome::Committed { revision } => Ok(revision),
            TxnOutcome::Failed { .. } => Err(StoreError::AlreadyExists(key)),
        }
    }

    /// Writes `value` over document `id` only if it is still at `expected` revision.
    /// [`StoreError::Conflict`] if someone else wrote it, [`StoreError::NotFound`] if it is gone.
    pub async fn update(
        &self,
        id: &str,
        expected: Revision,
        value: &T,
    ) -> Result<Revision, StoreError> {
        let key = self.key(id);
        let txn = Txn::new()
            .when(Condition::mod_revision(&key, expected))
            .put(&key, Self::encode(value)?);
        match self.store.txn(txn).await? {
            TxnOutcome::Committed { revision } => Ok(revision),
            TxnOutcome::Failed { .. } => match self.store.get(&key).await? {
                Some(_) => Err(StoreError::Conflict(key)),
                None => Err(StoreError::NotFound(key)),
            },
        }
    }

    /// Read-modify-write of document `id`, retried while concurrent writers win the race.
    ///
    /// `change` may run several times, each time on a fresh copy; it returns `Err` to abort
    /// (for example when the document is in the wrong state), and the error is returned
    /// unchanged. A missing document is `E::from(StoreError::NotFound)`.
    pub async fn update_with<E, F>(&self, id: &str, mut change: F) -> Result<Versioned<T>, E>
    where
        E: From<StoreError>,
        F: FnMut(&mut T) -> Result<(), E> + Send,
    {
        for _ in 0..MAX_UPDATE_ATTEMPTS {
            let mut current = self.require(id).await?;
            change(&mut current.value)?;
            match self.update(id, current.revision, &current.value).await {
                Ok(revision) => {
                    current.revision = revision;
                    return Ok(current);
                }
                Err(StoreError::Conflict(_)) => tokio::task::yield_now().await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::Conflict(self.key(id)).into())
    }

    /// Deletes document `id`; returns whether it existed.
    pub async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let key = self.key(id);
        let txn = Txn::new().when(Condition::exists(&key)).delete(&key);
        Ok(self.store.txn(txn).await?.is_committed())
    }

    /// Deletes document `id` only if it is still at `expected` revision.
    pub async fn delete_if(&self, id: &str, expected: Revision) -> Result<(), StoreError> {
        let key = self.key(id);
        let txn = Txn::new().when(Condition::mod_revision(&key, expected)).delete(&key);
        match self.store.txn(txn).await? {
            TxnOutcome::Committed { .. } => Ok(()),
            TxnOutcome::Failed { .. } => match self.store.get(&key).await? {
                Some(_) => Err(StoreError::Conflict(key)),
                None => Err(StoreError::NotFound(key)),
            },
        }
    }

    /// One page of documents, in id order. `opts.start_after` is an id, not a key.
    pub async fn list(&self, opts: &ListOptions) -> Result<(Vec<Versioned<T>>, bool), StoreError> {
        let store_opts = ListOptions {
            start_after: opts.start_after.as_deref().map(|id| self.key(id)),
            limit: opts.limit,
        };
        let page = self.store.list(&self.prefix, &store_opts).await?;
        let items = page.items.into_iter().map(|kv| self.decode(kv)).collect::<Result<_, _>>()?;
        Ok((items, page.more))
    }

    /// Every document, in id order.
    pub async fn list_all(&self) -> Result<Vec<Versioned<T>>, StoreError> {
        let mut out: Vec<Versioned<T>> = Vec::new();
        let mut opts = ListOptions { start_after: None, limit: Some(1000) };
        loop {
            let (items, more) = self.list(&opts).await?;
            out.extend(items);
            if !more {
                return Ok(out);
            }
            opts.start_after = out.last().map(|v| v.id.clone());
        }
    }

    /// An [`Op`] writing `value` as document `id`, for multi-key [`Txn`]s.
    pub fn put_op(&self, id: &str, value: &T) -> Result<Op, StoreError> {
        Ok(Op::Put { key: self.key(id), value: Self::encode(value)? })
    }

    /// An [`Op`] deleting document `id`, for multi-key [`Txn`]s.
    pub fn delete_op(&self, id: &str) -> Op {
        Op::Delete { key: self.key(id) }
    }

    /// A [`Condition`] that document `id` is still at `revision`.
    pub fn unchanged(&self, id: &str, revision: Revision) -> Condition {
        Condition::mod_revision(self.key(id), revision)
    }

    /// A [`Condition`] that document `id` does not exist.
    pub fn absent(&self, id: &str) -> Condition {
        Condition::absent(self.key(id))
    }
}
