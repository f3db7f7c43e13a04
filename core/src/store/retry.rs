// SPDX-License-Identifier: Apache-2.0
//! [`retry_txn`]: the one loop for optimistic transactions.
//!
//! Services read what they need, build a [`super::Txn`] whose conditions say "nothing I read
//! has changed", and commit. When another writer wins the race the transaction fails and the
//! whole read-decide-write step must run again. Every such step in Ferrostack goes through
//! [`retry_txn`], so that they share one bound, one backoff and one conflict count:
//!
//! * the first attempts follow each other at once (a conflict is usually a single racing
//!   writer), later ones sleep a random time under a cap that doubles per attempt (so a crowd
//!   of writers on one key spreads out instead of colliding in lock-step);
//! * after [`RetryPolicy::max_attempts`] losses the caller gets [`Contention`], a 409 that
//!   tells the client to try again;
//! * every lost race is counted ([`conflicts_total`]) and logged at debug level.
//!
//! ```
//! use ferrostack_core::store::{MemoryStore, Store, StoreExt, Txn, Condition, StoreError};
//! use ferrostack_core::store::retry::{retry_txn, Contention};
//! # #[derive(Debug)] enum MyError { Store(StoreError), Busy(Contention) }
//! # impl From<StoreError> for MyError { fn from(e: StoreError) -> Self { MyError::Store(e) } }
//! # impl From<Contention> for MyError { fn from(e: Contention) -> Self { MyError::Busy(e) } }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let store = MemoryStore::new();
//! store.put("counter", b"0".to_vec()).await.unwrap();
//! let next: u64 = retry_txn("the counter", || async {
//!     let cur = store.get("counter").await?.expect("exists");
//!     let n: u64 = String::from_utf8_lossy(&cur.value).parse().unwrap_or(0) + 1;
//!     let txn = Txn::new()
//!         .when(Condition::mod_revision("counter", cur.mod_revision))
//!         .put("counter", n.to_string().into_bytes());
//!     // `None`: another writer won; read again.
//!     Ok::<_, MyError>(store.txn(txn).await?.is_committed().then_some(n))
//! })
//! .await
//! .unwrap();
//! assert_eq!(next, 1);
//! # });
//! ```

use crate::error::{Classify, ErrorKind};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

static CONFLICTS: AtomicU64 = AtomicU64::new(0);
static EXHAUSTED: AtomicU64 = AtomicU64::new(0);

/// Lost races (transactions that failed their conditions) since the process started.
pub fn conflicts_total() -> u64 {
    CONFLICTS.load(Ordering::Relaxed)
}

/// Steps that gave up with [`Contention`] since the process started.
pub fn exhausted_total() -> u64 {
    EXHAUSTED.load(Ordering::Relaxed)
}

/// How hard [`retry_txn_with`] tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts before giving up (at least 1).
    pub max_attempts: u32,
    /// Attempts that follow a loss at once, before sleeping starts.
    pub immediate: u32,
    /// The cap of the first sleep; doubles per further attempt.
    pub base_backoff: Duration,
    /// The largest cap.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// 100 attempts; 3 at once, then random sleeps under 100 µs, 200 µs, ... up to 20 ms.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 100,
            immediate: 3,
            base_backoff: Duration::from_micros(100),
            max_backoff: Duration::from_millis(20),
        }
    }
}

/// A step lost its race [`RetryPolicy::max_attempts`] times: the resource is too busy. A 409:
/// the client should try again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is being changed concurrently; please try again")]
pub struct Contention {
    /// What was being changed, for the message (`"port 1234"`).
    pub what: String,
    /// How many attempts were made.
    pub attempts: u32,
}

impl Classify for Contention {
    fn kind(&self) -> ErrorKind {
        ErrorKind::Conflict
    }
}

/// Runs `attempt` until it returns `Ok(Some(_))` (committed) or an error, with the
/// [`RetryPolicy::default`]; `Ok(None)` means the transaction lost a race and the step runs
/// again. `what` names the resource in the [`Contention`] error.
pub async fn retry_txn<T, E, F, Fut>(what: &str, attempt: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
    E: From<Contention>,
{
    retry_txn_with(RetryPolicy::default(), what, attempt).await
}

/// [`retry_txn`] with an explicit policy.
pub async fn retry_txn_with<T, E, F, Fut>(
    policy: RetryPolicy,
    what: &str,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, E>>,
    E: From<Contention>,
{
    let max = policy.max_attempts.max(1);
    for n in 1..=max {
        if let Some(done) = attempt().await? {
            return Ok(done);
        }
        CONFLICTS.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(what, attempt = n, "optimistic transaction lost a race; retrying");
        if n == max {
            break;
        }
        if n <= policy.immediate {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(backoff(&policy, n - policy.immediate)).await;
        }
    }
    EXHAUSTED.fetch_add(1, Ordering::Relaxed);
    tracing::warn!(what, attempts = max, "optimistic transaction gave up");
    Err(Contention { what: what.to_owned(), attempts: max }.into())
}

/// A random sleep under `base * 2^(k-1)`, capped.
fn backoff(policy: &RetryPolicy, k: u32) -> Duration {
    let cap = policy
        .base_backoff
        .saturating_mul(1u32.checked_shl(k.saturating_sub(1).min(20)).unwrap_or(u32::MAX))
        .min(policy.max_backoff);
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX).max(1);
    Duration::from_nanos(jitter() % nanos)
}

/// A cheap per-call pseudo-random number (not for secrets).
fn jitter() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(CONFLICTS.load(Ordering::Relaxed));
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[derive(Debug, PartialEq)]
    enum E {
        Busy(Contention),
        Other,
    }
    impl From<Contention> for E {
        fn from(c: Contention) -> Self {
            E::Busy(c)
        }
    }

    #[tokio::test]
    async fn retries_until_committed_and_counts_the_losses() {
        let calls = AtomicU32::new(0);
        let before = conflicts_total();
        let r: Result<u32, E> = retry_txn("thing", || async {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok((n == 5).then_some(n))
        })
        .await;
        assert_eq!(r, Ok(5));
        assert!(conflicts_total() >= before + 4);
    }

    #[tokio::test]
    async fn gives_up_with_a_409_after_the_bound() {
        let calls = AtomicU32::new(0);
        let policy = RetryPolicy { max_attempts: 7, ..RetryPolicy::default() };
        let r: Result<(), E> = retry_txn_with(policy, "port 1", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(None)
        })
        .await;
        let Err(E::Busy(c)) = r else { panic!("{r:?}") };
        assert_eq!(c.attempts, 7);
        assert_eq!(calls.load(Ordering::SeqCst), 7);
        assert_eq!(c.kind(), ErrorKind::Conflict);
        assert!(c.to_string().starts_with("port 1 is being changed concurrently"));
    }

    #[tokio::test]
    async fn errors_stop_at_once() {
        let calls = AtomicU32::new(0);
        let r: Result<(), E> = retry_txn("x", || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(E::Other)
        })
        .await;
        assert_eq!(r, Err(E::Other));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        let p = RetryPolicy::default();
        for k in 1..200 {
            assert!(backoff(&p, k) <= p.max_backoff);
        }
        assert!(backoff(&p, 1) <= p.base_backoff);
    }
}
