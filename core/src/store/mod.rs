// SPDX-License-Identifier: Apache-2.0
//! The control plane's state: a versioned key-value [`Store`] with compare-and-swap
//! transactions.
//!
//! The model is etcd's (and the Kubernetes API server's): every committed write gets the next
//! store-wide [`Revision`]; every key remembers the revision that created it and the one that
//! last modified it; a [`Txn`] applies several writes at once if and only if all of its
//! [`Condition`]s hold. On top of that, [`Collection`] stores typed JSON documents with
//! optimistic concurrency: read a [`Versioned`] value, change it, write it back only if nobody
//! else did in between ([`Collection::update_with`] retries for you).
//!
//! Keys are UTF-8 strings ordered bytewise. By convention they are `<service>/<kind>/<id>`, so
//! that a prefix lists one kind. Values are bytes; [`Collection`] uses JSON.
//!
//! Implementations: [`MemoryStore`] here (tests, examples), `SqliteStore` (embedded, durable,
//! `ferrostack-sqlite`), `PostgresStore` (multi-host, `ferrostack-postgres`). Every
//! implementation must pass `store::conformance` (feature `testing`).

mod collection;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod memory;
pub mod retry;

pub use collection::{Collection, Versioned};
pub use memory::MemoryStore;

use crate::error::{BoxError, Classify, ErrorKind};
use std::fmt::Debug;

/// A store-wide revision number. Starts at 0 for an empty store and grows by one with every
/// committed transaction that writes.
pub type Revision = u64;

/// The longest key a store must accept, in bytes.
pub const MAX_KEY_LEN: usize = 1024;
/// The largest value a store must accept, in bytes.
pub const MAX_VALUE_LEN: usize = 8 * 1024 * 1024;

/// A key with its value and its revisions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Vec<u8>,
    /// The revision of the transaction that created the key (since its last deletion).
    pub create_revision: Revision,
    /// The revision of the transaction that last wrote the key.
    pub mod_revision: Revision,
    /// How many times the key was written since it was created (1 after creation).
    pub version: u64,
}

/// Options for [`Store::list`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only keys strictly greater than this one (the last key of the previous page).
    pub start_after: Option<String>,
    /// At most this many keys; `None` means all.
    pub limit: Option<usize>,
}

/// One page of a prefix listing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListPage {
    /// The keys, in ascending bytewise order.
    pub items: Vec<KeyValue>,
    /// Whether more keys with the prefix follow the last one returned.
    pub more: bool,
    /// The store revision the listing reflects.
    pub revision: Revision,
}

/// What a [`Condition`] requires of its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The key exists.
    Exists,
    /// The key does not exist.
    Absent,
    /// The key exists and was last modified at exactly this revision.
    ModRevision(Revision),
    /// The key exists and has exactly this value.
    ValueEquals(Vec<u8>),
}

/// A precondition of a [`Txn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The key checked.
    pub key: String,
    /// What must hold.
    pub check: Check,
}

impl Condition {
    /// `key` must exist.
    pub fn exists(key: impl Into<String>) -> Self {
        Condition { key: key.into(), check: Check::Exists }
    }
    /// `key` must not exist.
    pub fn absent(key: impl Into<String>) -> Self {
        Condition { key: key.into(), check: Check::Absent }
    }
    /// `key` must have been last written at `revision`.
    pub fn mod_revision(key: impl Into<String>, revision: Revision) -> Self {
        Condition { key: key.into(), check: Check::ModRevision(revision) }
    }
    /// `key` must hold exactly `value`.
    pub fn value_equals(key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        Condition { key: key.into(), check: Check::ValueEquals(value.into()) }
    }

    /// Whether the condition holds for the current state of its key.
    pub fn holds(&self, current: Option<&KeyValue>) -> bool {
        match (&self.check, current) {
            (Check::Exists, c) => c.is_some(),
            (Check::Absent, c) => c.is_none(),
            (Check::ModRevision(r), Some(kv)) => kv.mod_revision == *r,
            (Check::ValueEquals(v), Some(kv)) => kv.value == *v,
            (_, None) => false,
        }
    }
}

/// A write in a [`Txn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Create or overwrite `key`.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: Vec<u8>,
    },
    /// Remove `key`; removing an absent key is not an error.
    Delete {
        /// The key.
        key: String,
    },
}

impl Op {
    /// The key the operation writes.
    pub fn key(&self) -> &str {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
}

/// A multi-key transaction: all `ops` are applied atomically if every condition holds,
/// otherwise nothing is written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// Preconditions, all of which must hold.
    pub conditions: Vec<Condition>,
    /// Writes applied in order if they do.
    pub ops: Vec<Op>,
}

impl Txn {
    /// An empty transaction.
    pub fn new() -> Self {
        Self::default()
    }
    /// Adds a condition.
    pub fn when(mut self, c: Condition) -> Self {
        self.conditions.push(c);
        self
    }
    /// Adds a put.
    pub fn put(mut self, key: impl Into<String>, value: impl Into<Vec<u8>>) -> Self {
        self.ops.push(Op::Put { key: key.into(), value: value.into() });
        self
    }
    /// Adds a delete.
    pub fn delete(mut self, key: impl Into<String>) -> Self {
        self.ops.push(Op::Delete { key: key.into() });
        self
    }
    /// Adds an operation built elsewhere (for example by [`Collection::put_op`]).
    pub fn op(mut self, op: Op) -> Self {
        self.ops.push(op);
        self
    }

    /// Checks every key and value against the store limits. Stores call this before applying.
    pub fn validate(&self) -> Result<(), StoreError> {
        for c in &self.conditions {
            validate_key(&c.key)?;
        }
        for op in &self.ops {
            validate_key(op.key())?;
            if let Op::Put { key, value } = op
                && value.len() > MAX_VALUE_LEN
            {
                return Err(StoreError::ValueTooLarge { key: key.clone(), size: value.len() });
            }
        }
        Ok(())
    }
}

/// The result of [`Store::txn`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// Every condition held and the writes were applied at `revision` (the current revision,
    /// unchanged, when the transaction had no writes).
    Committed {
        /// The revision of the writes.
        revision: Revision,
    },
    /// The condition at this index did not hold; nothing was written.
    Failed {
        /// Index into [`Txn::conditions`] of the first condition that failed.
        condition: usize,
    },
}

impl TxnOutcome {
    /// Whether the transaction committed.
    pub fn is_committed(&self) -> bool {
        matches!(self, TxnOutcome::Committed { .. })
    }
}

/// Checks a key: non-empty, at most [`MAX_KEY_LEN`] bytes, no NUL.
pub fn validate_key(key: &str) -> Result<(), StoreError> {
    let reason = if key.is_empty() {
        "empty"
    } else if key.len() > MAX_KEY_LEN {
        "longer than 1024 bytes"
    } else if key.contains('\0') {
        "contains NUL"
    } else {
        return Ok(());
    };
    Err(StoreError::InvalidKey { key: crate::id::truncate_for_message(key), reason })
}

/// The smallest string greater than every string starting with `prefix`, or `None` when no
/// such string exists (empty prefix, or all `char::MAX`). Useful for range scans.
pub fn prefix_end(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let mut next = last as u32 + 1;
        if (0xD800..=0xDFFF).contains(&next) {
            next = 0xE000;
        }
        if let Some(c) = char::from_u32(next) {
            chars.push(c);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// Everything that can go wrong in a store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The key does not exist.
    #[error("{0:?} not found")]
    NotFound(String),
    /// The key already exists.
    #[error("{0:?} already exists")]
    AlreadyExists(String),
    /// A compare-and-swap lost against a concurrent writer.
    #[error("concurrent update of {0:?}")]
    Conflict(String),
    /// The key is not acceptable.
    #[error("invalid key {key:?}: {reason}")]
    InvalidKey {
        /// The key, truncated.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// The value exceeds [`MAX_VALUE_LEN`].
    #[error("value of {key:?} is {size} bytes, more than the store accepts")]
    ValueTooLarge {
        /// The key.
        key: String,
        /// The value's size.
        size: usize,
    },
    /// A stored value could not be decoded as the collection's type.
    #[error("value of {key:?} could not be decoded")]
    Decode {
        /// The key.
        key: String,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A value could not be encoded.
    #[error("value could not be encoded")]
    Encode(#[source] serde_json::Error),
    /// The backing service cannot be reached; retrying later may work.
    #[error("the {store} store is unavailable")]
    Unavailable {
        /// The store's name.
        store: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
    /// The backing service failed.
    #[error("the {store} store failed")]
    Backend {
        /// The store's name.
        store: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

impl Classify for StoreError {
    fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound(_) => ErrorKind::NotFound,
            StoreError::AlreadyExists(_) => ErrorKind::AlreadyExists,
            StoreError::Conflict(_) => ErrorKind::Conflict,
            StoreError::InvalidKey { .. } => ErrorKind::InvalidInput,
            StoreError::ValueTooLarge { .. } => ErrorKind::QuotaExceeded,
            StoreError::Decode { .. } | StoreError::Encode(_) | StoreError::Backend { .. } => {
                ErrorKind::Internal
            }
            StoreError::Unavailable { .. } => ErrorKind::Unavailable,
        }
    }
}

/// A versioned key-value store with compare-and-swap transactions.
///
/// # Contract
///
/// * **Revisions.** The store revision starts at 0 and grows by exactly one with each committed
///   transaction that has at least one write, even if the write changes nothing (a delete of an
///   absent key). All writes of one transaction share its revision. A key's `create_revision`
///   is the revision that created it (after a delete, the next put creates it anew, with
///   `version` 1); its `mod_revision` is the revision of its last write.
/// * **Atomicity.** [`Store::txn`] applies all its writes or none. Conditions are evaluated
///   against the state at commit time, never a stale snapshot: two transactions that each check
///   a key the other writes can never both commit.
/// * **Linearizability.** A `get` or `list` that starts after a `txn` returned `Committed`
///   observes its writes, from any handle on the same store (any connection, any process).
/// * **Listing.** [`Store::list`] returns keys starting with the prefix in ascending bytewise
///   order, honouring `start_after` and `limit`, with `more` telling whether keys remain.
///   A `limit` of `Some(0)` returns no items.
/// * **Limits.** Keys of up to [`MAX_KEY_LEN`] bytes without NUL and values of up to
///   [`MAX_VALUE_LEN`] bytes are accepted; anything else is rejected before any write with
///   [`StoreError::InvalidKey`] or [`StoreError::ValueTooLarge`].
/// * **Durability.** Durable stores keep every committed write across a restart of the process
///   or the host. [`MemoryStore`] is not durable.
///
/// # Errors
///
/// Backend failures are [`StoreError::Unavailable`] (retryable: connection lost, database
/// restarting) or [`StoreError::Backend`]. A transaction whose outcome is unknown (the
/// connection dropped after sending the commit) is reported as `Unavailable`; callers that
/// retry must use conditions that make the retry safe.
///
/// # Cancellation
///
/// Dropping a `txn` future before it completes either commits the whole transaction or
/// nothing; it never applies part of it.
#[async_trait::async_trait]
pub trait Store: Send + Sync + Debug + 'static {
    /// A short name for logs and errors (`"memory"`, `"sqlite"`, `"postgres"`).
    fn name(&self) -> &'static str;

    /// The current value of `key` with its revisions, or `None`.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>, StoreError>;

    /// Keys starting with `prefix`, in order, paged by `opts`.
    async fn list(&self, prefix: &str, opts: &ListOptions) -> Result<ListPage, StoreError>;

    /// Applies `txn` atomically if all its conditions hold.
    async fn txn(&self, txn: Txn) -> Result<TxnOutcome, StoreError>;

    /// The current store revision.
    async fn revision(&self) -> Result<Revision, StoreError>;
}

/// Conveniences over any [`Store`], as one-condition transactions.
#[async_trait::async_trait]
pub trait StoreExt: Store {
    /// Creates or overwrites `key`; returns the revision of the write.
    async fn put(&self, key: &str, value: Vec<u8>) -> Result<Revision, StoreError> {
        match self.txn(Txn::new().put(key, value)).await? {
            TxnOutcome::Committed { revision } => Ok(revision),
            TxnOutcome::Failed { .. } => Err(StoreError::Conflict(key.to_owned())),
        }
    }

    /// Creates `key`, failing with [`StoreError::AlreadyExists`] if it exists.
    async fn create(&self, key: &str, value: Vec<u8>) -> Result<Revision, StoreError> {
        let txn = Txn::new().when(Condition::absent(key)).put(key, value);
        match self.txn(txn).await? {
            TxnOutcome::Committed { revision } => Ok(revision),
            TxnOutcome::Failed { .. } => Err(StoreError::AlreadyExists(key.to_owned())),
        }
    }

    /// Overwrites `key` only if it was last written at `expected`; otherwise
    /// [`StoreError::Conflict`] (or [`StoreError::NotFound`] if it is gone).
    async fn compare_and_put(
        &self,
        key: &str,
        expected: Revision,
        value: Vec<u8>,
    ) -> Result<Revision, StoreError> {
        let txn = Txn::new().when(Condition::mod_revision(key, expected)).put(key, value);
        match self.txn(txn).await? {
            TxnOutcome::Committed { revision } => Ok(revision),
            TxnOutcome::Failed { .. } => match self.get(key).await? {
                None => Err(StoreError::NotFound(key.to_owned())),
                Some(_) => Err(StoreError::Conflict(key.to_owned())),
            },
        }
    }

    /// Deletes `key`; returns whether it existed.
    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let txn = Txn::new().when(Condition::exists(key)).delete(key);
        Ok(self.txn(txn).await?.is_committed())
    }

    /// Every key under `prefix`, following pages of 1000 keys.
    async fn list_all(&self, prefix: &str) -> Result<Vec<KeyValue>, StoreError> {
        let mut out = Vec::new();
        let mut opts = ListOptions { start_after: None, limit: Some(1000) };
        loop {
            let page = self.list(prefix, &opts).await?;
            let more = page.more;
            out.extend(page.items);
            if !more {
                return Ok(out);
            }
            opts.start_after = out.last().map(|kv| kv.key.clone());
        }
    }
}

impl<S: Store + ?Sized> StoreExt for S {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_the_first_key_after_the_prefix() {
        assert_eq!(prefix_end("a/").as_deref(), Some("a0"));
        assert_eq!(prefix_end(""), None);
        let p = format!("x{}", char::MAX);
        assert_eq!(prefix_end(&p).as_deref(), Some("y"));
        assert_eq!(prefix_end("\u{D7FF}").as_deref(), Some("\u{E000}"));
    }

    #[test]
    fn keys_are_validated() {
        assert!(validate_key("a").is_ok());
        assert!(validate_key("").is_err());
        assert!(validate_key("a\0b").is_err());
        assert!(validate_key(&"k".repeat(MAX_KEY_LEN + 1)).is_err());
        let big = Txn::new().put("k", vec![0; MAX_VALUE_LEN + 1]);
        assert!(matches!(big.validate(), Err(StoreError::ValueTooLarge { .. })));
    }
}
