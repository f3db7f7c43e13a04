// SPDX-License-Identifier: Apache-2.0
//! Claims in the [`Store`]: many scheduler workers, one truth, no over-commit.
//!
//! Each host's usage is one record, `scheduler/usage/<node uuid>` (JSON [`Resources`]), and
//! each allocation one record, `scheduler/allocations/<instance uuid>`. A claim reads the
//! usage record, checks placement's capacity rule against **it** (not against the worker's
//! possibly stale table), and commits `usage + request` together with the allocation in one
//! transaction conditioned on the usage record's `mod_revision` being unchanged (and the
//! allocation being absent). A lost race is retried on fresh usage; a refusal for capacity
//! refreshes the worker's table and the scheduler's claim loop moves on to the next host,
//! like Nova's on a 409 from Placement. Because every write to a host's usage is a
//! compare-and-swap on the previous value, the usage can never exceed capacity, however many
//! workers claim at once.
//!
//! [`Store`] is asynchronous and the scheduler's hot path is not: [`StoreClaims`] drives the
//! store's futures to completion on the calling thread. Call the scheduler from a blocking
//! context (a plain thread or `tokio::task::spawn_blocking`), never from inside an async task.

use crate::error::SchedulerError;
use crate::host::HostTable;
use crate::scheduler::Claimer;
use crate::types::Resources;
use ferrostack_core::store::{Condition, Store, Txn, TxnOutcome};
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Runs a future to completion on this thread (parking while it is pending).
pub fn block_on<F: Future>(f: F) -> F::Output {
    struct ThreadWaker(std::thread::Thread);
    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        match f.as_mut().poll(&mut cx) {
            Poll::Ready(v) => return v,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// The store key of a host's usage.
pub fn usage_key(node_uuid: &str) -> String {
    format!("scheduler/usage/{node_uuid}")
}

/// The store key of an instance's allocation.
pub fn allocation_key(instance_uuid: &str) -> String {
    format!("scheduler/allocations/{instance_uuid}")
}

/// An allocation record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Allocation {
    /// Host name.
    pub host: String,
    /// Node (resource provider) UUID.
    pub node_uuid: String,
    /// Amounts.
    pub resources: Resources,
}

/// Counters of a [`StoreClaims`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClaimStats {
    /// Claims committed.
    pub committed: u64,
    /// Claims refused because the host lacked capacity (the scheduler moved on).
    pub refused: u64,
    /// Compare-and-swap conflicts (another worker wrote the host's usage first); each was
    /// retried on fresh usage.
    pub conflicts: u64,
    /// Claims abandoned after `max_retries` conflicts in a row.
    pub gave_up: u64,
    /// Releases committed.
    pub released: u64,
}

/// Store-backed [`Claimer`].
#[derive(Debug, Clone)]
pub struct StoreClaims {
    store: Arc<dyn Store>,
    /// Conflicts tolerated per claim before moving to the next host.
    pub max_retries: u32,
    /// Counters.
    pub stats: ClaimStats,
}

fn decode_usage(bytes: &[u8]) -> Result<Resources, SchedulerError> {
    serde_json::from_slice(bytes)
        .map_err(|e| SchedulerError::InvalidInput(format!("corrupt usage record: {e}")))
}

fn encode<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, SchedulerError> {
    serde_json::to_vec(v).map_err(|e| SchedulerError::InvalidInput(e.to_string()))
}

/// Placement's rule on explicit usage.
fn fits(table: &HostTable, idx: usize, used: &Resources, r: &Resources) -> bool {
    let cap = table.cap[idx];
    let max_unit = [
        i64::from(table.vcpus_total[idx]),
        table.memory_mb[idx] as i64,
        table.local_gb[idx] as i64,
    ];
    let u = [used.vcpu, used.memory_mb, used.disk_gb];
    let a = [r.vcpu, r.memory_mb, r.disk_gb];
    (0..3).all(|k| a[k] == 0 || (a[k] <= max_unit[k] && (u[k] + a[k]) as f64 <= cap[k]))
}

impl StoreClaims {
    /// Claims in `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        StoreClaims { store, max_retries: 16, stats: ClaimStats::default() }
    }

    /// Writes every host's usage from `table` into the store where none is recorded yet
    /// (the first worker seeds; later ones find the records and keep them).
    pub fn seed(&self, table: &HostTable) -> Result<(), SchedulerError> {
        for i in 0..table.len() {
            let key = usage_key(&table.info[i].report.uuid);
            let txn = Txn::new().when(Condition::absent(&key)).put(&key, encode(&table.usage(i))?);
            block_on(self.store.txn(txn))?;
        }
        Ok(())
    }

    /// Reads every host's usage from the store into `table` (a periodic full refresh).
    pub fn refresh(&self, table: &mut HostTable) -> Result<(), SchedulerError> {
        for i in 0..table.len() {
            if let Some(kv) = block_on(self.store.get(&usage_key(&table.info[i].report.uuid)))? {
                table.set_usage(i, decode_usage(&kv.value)?);
            }
        }
        Ok(())
    }

    /// The usage of a host as the store has it.
    pub fn usage(&self, node_uuid: &str) -> Result<Option<Resources>, SchedulerError> {
        match block_on(self.store.get(&usage_key(node_uuid)))? {
            Some(kv) => Ok(Some(decode_usage(&kv.value)?)),
            None => Ok(None),
        }
    }
}

impl Claimer for StoreClaims {
    fn claim(
        &mut self,
        table: &mut HostTable,
        host: usize,
        instance_uuid: &str,
        res: &Resources,
    ) -> Result<bool, SchedulerError> {
        let node = table.info[host].report.uuid.clone();
        let ukey = usage_key(&node);
        let akey = allocation_key(instance_uuid);
        for _ in 0..=self.max_retries {
            let kv = block_on(self.store.get(&ukey))?;
            let (used, cond) = match &kv {
                Some(kv) => {
                    (decode_usage(&kv.value)?, Condition::mod_revision(&ukey, kv.mod_revision))
                }
                None => (Resources::default(), Condition::absent(&ukey)),
            };
            if !fits(table, host, &used, res) {
                self.stats.refused += 1;
                table.set_usage_deferred(host, used);
                return Ok(false);
            }
            let new = Resources {
                vcpu: used.vcpu + res.vcpu,
                memory_mb: used.memory_mb + res.memory_mb,
                disk_gb: used.disk_gb + res.disk_gb,
            };
            let alloc = Allocation {
                host: table.info[host].report.host.clone(),
                node_uuid: node.clone(),
                resources: *res,
            };
            let txn = Txn::new()
                .when(cond)
                .when(Condition::absent(&akey))
                .put(&ukey, encode(&new)?)
                .put(&akey, encode(&alloc)?);
            match block_on(self.store.txn(txn))? {
                TxnOutcome::Committed { .. } => {
                    self.stats.committed += 1;
                    table.set_usage_deferred(host, new);
                    return Ok(true);
                }
                TxnOutcome::Failed { condition: 1 } => {
                    return Err(SchedulerError::InvalidInput(format!(
                        "instance {instance_uuid} already has an allocation"
                    )));
                }
                TxnOutcome::Failed { .. } => self.stats.conflicts += 1,
            }
        }
        self.stats.gave_up += 1;
        Ok(false)
    }

    fn release(
        &mut self,
        table: &mut HostTable,
        host: usize,
        instance_uuid: &str,
        _res: &Resources,
    ) -> Result<(), SchedulerError> {
        let akey = allocation_key(instance_uuid);
        loop {
            let Some(akv) = block_on(self.store.get(&akey))? else {
                return Ok(());
            };
            let alloc: Allocation = serde_json::from_slice(&akv.value)
                .map_err(|e| SchedulerError::InvalidInput(format!("corrupt allocation: {e}")))?;
            let ukey = usage_key(&alloc.node_uuid);
            let Some(ukv) = block_on(self.store.get(&ukey))? else {
                return Err(SchedulerError::InvalidInput(format!(
                    "no usage record for {}",
                    alloc.node_uuid
                )));
            };
            let used = decode_usage(&ukv.value)?;
            let r = alloc.resources;
            let new = Resources {
                vcpu: used.vcpu - r.vcpu,
                memory_mb: used.memory_mb - r.memory_mb,
                disk_gb: used.disk_gb - r.disk_gb,
            };
            let txn = Txn::new()
                .when(Condition::mod_revision(&ukey, ukv.mod_revision))
                .when(Condition::mod_revision(&akey, akv.mod_revision))
                .put(&ukey, encode(&new)?)
                .delete(&akey);
            if block_on(self.store.txn(txn))?.is_committed() {
                self.stats.released += 1;
                let idx = table.index_of(&alloc.host).unwrap_or(host);
                table.set_usage_deferred(idx, new);
                return Ok(());
            }
            self.stats.conflicts += 1;
        }
    }
}
