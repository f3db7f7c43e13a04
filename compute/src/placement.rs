// SPDX-License-Identifier: Apache-2.0
//! [`Placement`]: the narrow consumer trait compute needs from the scheduler (host reports,
//! select-and-claim, release), and [`StorePlacement`], a built-in implementation whose claims
//! are compare-and-swap transactions in the [`Store`], so concurrent creates never
//! over-commit a host and hard server-group policies hold under races.
//!
//! The facade can adapt `ferrostack-scheduler`'s `FilterScheduler` to this trait instead.

use crate::error::ComputeError;
use crate::types::ServerGroupId;
use ferrostack_core::id::ServerId;
use ferrostack_core::placement::GroupPolicy;
use ferrostack_core::store::retry::retry_txn;
use ferrostack_core::store::{Condition, Store, StoreExt, Txn, TxnOutcome};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use ferrostack_core::placement::Resources;

/// A host as the placement service knows it: capacity, usage and liveness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostRecord {
    /// Host name.
    pub name: String,
    /// Availability zone.
    pub availability_zone: String,
    /// Total capacity.
    pub total: Resources,
    /// Claimed.
    pub used: Resources,
    /// Instances claimed here.
    pub instances: u64,
    /// Reporting (its service is running).
    pub up: bool,
    /// Disabled by an operator.
    pub disabled: bool,
    /// CPU allocation ratio.
    pub cpu_ratio: f64,
    /// RAM allocation ratio.
    pub ram_ratio: f64,
    /// Disk allocation ratio.
    pub disk_ratio: f64,
}

impl HostRecord {
    /// Whether `r` fits next to what is claimed.
    pub fn fits(&self, r: Resources) -> bool {
        let lim = |total: u64, ratio: f64| (total as f64 * ratio).floor() as u64;
        self.used.vcpus + r.vcpus <= lim(self.total.vcpus, self.cpu_ratio)
            && self.used.ram_mb + r.ram_mb <= lim(self.total.ram_mb, self.ram_ratio)
            && self.used.disk_gb + r.disk_gb <= lim(self.total.disk_gb, self.disk_ratio)
    }
}

/// The claim of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocation {
    /// The host.
    pub host: String,
    /// The resources.
    pub resources: Resources,
    /// The server group, when the claim counted against a hard policy.
    pub group: Option<ServerGroupId>,
}

/// A request to place one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRequest {
    /// The instance.
    pub server: ServerId,
    /// What it needs.
    pub resources: Resources,
    /// Required availability zone.
    pub availability_zone: Option<String>,
    /// Server group and policy.
    pub group: Option<(ServerGroupId, GroupPolicy, Option<u32>)>,
    /// Hosts to avoid (reschedules).
    pub ignore_hosts: Vec<String>,
}

/// What compute needs from the scheduler.
///
/// # Contract
/// * `claim` picks a host that is up, enabled, in the requested zone, satisfies the group
///   policy and fits, and records the allocation atomically: concurrent claims never exceed a
///   host's capacity. No host is [`ComputeError::NoValidHost`]. Claiming twice for the same
///   server is [`ComputeError::AlreadyExists`].
/// * `release` frees a server's allocation; unknown servers are `Ok(false)`.
/// * `resize` changes an allocation in place on its host or fails with `NoValidHost`.
#[async_trait::async_trait]
pub trait Placement: Send + Sync + std::fmt::Debug {
    /// Records a host's capacity and liveness.
    async fn report(
        &self,
        host: &str,
        az: &str,
        total: Resources,
        up: bool,
    ) -> Result<(), ComputeError>;
    /// Selects a host and claims resources on it.
    async fn claim(&self, req: &ClaimRequest) -> Result<Allocation, ComputeError>;
    /// Frees a server's allocation.
    async fn release(&self, server: ServerId) -> Result<bool, ComputeError>;
    /// Changes the resources of a server's allocation on its host.
    async fn resize(&self, server: ServerId, to: Resources) -> Result<(), ComputeError>;
    /// A server's allocation.
    async fn allocation(&self, server: ServerId) -> Result<Option<Allocation>, ComputeError>;
    /// Every host.
    async fn hosts(&self) -> Result<Vec<HostRecord>, ComputeError>;
}

/// Allocation ratios and other knobs of [`StorePlacement`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacementConfig {
    /// CPU allocation ratio (Nova's initial 4.0).
    pub cpu_ratio: f64,
    /// RAM allocation ratio (Nova's initial 1.0).
    pub ram_ratio: f64,
    /// Disk allocation ratio.
    pub disk_ratio: f64,
}

impl Default for PlacementConfig {
    fn default() -> Self {
        PlacementConfig { cpu_ratio: 4.0, ram_ratio: 1.0, disk_ratio: 1.0 }
    }
}

const HOSTS: &str = "compute/placement/hosts/";
const ALLOCS: &str = "compute/placement/allocations/";
const GROUPS: &str = "compute/placement/groups/";

/// The built-in placement over a [`Store`] (see the module docs).
#[derive(Debug, Clone)]
pub struct StorePlacement {
    store: Arc<dyn Store>,
    config: PlacementConfig,
}

impl StorePlacement {
    /// Placement over `store`.
    pub fn new(store: Arc<dyn Store>, config: PlacementConfig) -> Self {
        StorePlacement { store, config }
    }
}

fn enc<T: Serialize>(v: &T) -> Result<Vec<u8>, ComputeError> {
    serde_json::to_vec(v).map_err(|source| ComputeError::Codec { what: "placement", source })
}
fn dec<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, ComputeError> {
    serde_json::from_slice(b).map_err(|source| ComputeError::Codec { what: "placement", source })
}

#[async_trait::async_trait]
impl Placement for StorePlacement {
    async fn report(
        &self,
        host: &str,
        az: &str,
        total: Resources,
        up: bool,
    ) -> Result<(), ComputeError> {
        let key = &format!("{HOSTS}{host}");
        retry_txn(&format!("host {host}"), || async move {
            let cur = self.store.get(key).await?;
            let (rec, cond) = match &cur {
                Some(kv) => {
                    let mut r: HostRecord = dec(&kv.value)?;
                    r.total = total;
                    r.up = up;
                    r.availability_zone = az.into();
                    (r, Condition::mod_revision(key, kv.mod_revision))
                }
                None => (
                    HostRecord {
                        name: host.into(),
                        availability_zone: az.into(),
                        total,
                        used: Resources::default(),
                        instances: 0,
                        up,
                        disabled: false,
                        cpu_ratio: self.config.cpu_ratio,
                        ram_ratio: self.config.ram_ratio,
                        disk_ratio: self.config.disk_ratio,
                    },
                    Condition::absent(key),
                ),
            };
            let txn = Txn::new().when(cond).put(key, enc(&rec)?);
            Ok(self.store.txn(txn).await?.is_committed().then_some(()))
        })
        .await
    }

    async fn claim(&self, req: &ClaimRequest) -> Result<Allocation, ComputeError> {
        let alloc_key = &format!("{ALLOCS}{}", req.server);
        retry_txn(&format!("placement of instance {}", req.server), || async move {
            let hosts = self.store.list_all(HOSTS).await?;
            let group_kv = match &req.group {
                Some((gid, _, _)) => self.store.get(&format!("{GROUPS}{gid}")).await?,
                None => None,
            };
            let members: BTreeMap<String, u64> = match &group_kv {
                Some(kv) => dec(&kv.value)?,
                None => BTreeMap::new(),
            };
            let mut candidates: Vec<(HostRecord, u64)> = Vec::new();
            for kv in &hosts {
                let h: HostRecord = dec(&kv.value)?;
                if !h.up || h.disabled || req.ignore_hosts.contains(&h.name) {
                    continue;
                }
                if let Some(az) = &req.availability_zone
                    && &h.availability_zone != az
                {
                    continue;
                }
                if !h.fits(req.resources) {
                    continue;
                }
                let here = members.get(&h.name).copied().unwrap_or(0);
                if let Some((_, policy, max)) = &req.group {
                    match policy {
                        GroupPolicy::Affinity if members.values().any(|n| *n > 0) && here == 0 => {
                            continue;
                        }
                        GroupPolicy::AntiAffinity if here >= u64::from(max.unwrap_or(1)) => {
                            continue;
                        }
                        _ => {}
                    }
                }
                candidates.push((h, kv.mod_revision));
            }
            // Weigh: soft policies first, then the most free RAM (Nova's RAMWeigher spreads),
            // then the name for determinism.
            let soft = req.group.as_ref().map(|(_, p, _)| *p);
            candidates.sort_by(|(a, _), (b, _)| {
                let key = |h: &HostRecord| -> (i64, i64) {
                    let here = members.get(&h.name).copied().unwrap_or(0) as i64;
                    let g = match soft {
                        Some(GroupPolicy::SoftAffinity) => -here,
                        Some(GroupPolicy::SoftAntiAffinity) => here,
                        _ => 0,
                    };
                    let free = (h.total.ram_mb as f64 * h.ram_ratio) as i64 - h.used.ram_mb as i64;
                    (g, -free)
                };
                key(a).cmp(&key(b)).then_with(|| a.name.cmp(&b.name))
            });
            let Some((host, rev)) = candidates.into_iter().next() else {
                return Err(ComputeError::NoValidHost(
                    "There are not enough hosts available.".into(),
                ));
            };
            let mut updated = host.clone();
            updated.used = updated.used + req.resources;
            updated.instances += 1;
            let hard_group = req.group.as_ref().filter(|(_, p, _)| p.is_hard());
            let alloc = Allocation {
                host: host.name.clone(),
                resources: req.resources,
                group: req.group.as_ref().map(|(g, _, _)| *g),
            };
            let host_key = format!("{HOSTS}{}", host.name);
            let mut txn = Txn::new()
                .when(Condition::mod_revision(&host_key, rev))
                .when(Condition::absent(alloc_key))
                .put(&host_key, enc(&updated)?)
                .put(alloc_key, enc(&alloc)?);
            if let Some((gid, _, _)) = &req.group {
                let gkey = format!("{GROUPS}{gid}");
                txn = match (&group_kv, hard_group) {
                    (Some(kv), Some(_)) => {
                        txn.when(Condition::mod_revision(&gkey, kv.mod_revision))
                    }
                    (None, Some(_)) => txn.when(Condition::absent(&gkey)),
                    _ => txn,
                };
                let mut m = members.clone();
                *m.entry(host.name.clone()).or_insert(0) += 1;
                txn = txn.put(&gkey, enc(&m)?);
            }
            match self.store.txn(txn).await? {
                TxnOutcome::Committed { .. } => Ok(Some(alloc)),
                _ if self.store.get(alloc_key).await?.is_some() => {
                    Err(ComputeError::AlreadyExists(format!(
                        "instance {} already has an allocation",
                        req.server
                    )))
                }
                _ => Ok(None),
            }
        })
        .await
    }

    async fn release(&self, server: ServerId) -> Result<bool, ComputeError> {
        let alloc_key = &format!("{ALLOCS}{server}");
        retry_txn(&format!("placement of instance {server}"), || async move {
            let Some(akv) = self.store.get(alloc_key).await? else { return Ok(Some(false)) };
            let alloc: Allocation = dec(&akv.value)?;
            let host_key = format!("{HOSTS}{}", alloc.host);
            let mut txn = Txn::new()
                .when(Condition::mod_revision(alloc_key, akv.mod_revision))
                .delete(alloc_key);
            if let Some(hkv) = self.store.get(&host_key).await? {
                let mut h: HostRecord = dec(&hkv.value)?;
                h.used = h.used.saturating_sub(alloc.resources);
                h.instances = h.instances.saturating_sub(1);
                txn = txn
                    .when(Condition::mod_revision(&host_key, hkv.mod_revision))
                    .put(&host_key, enc(&h)?);
            }
            if let Some(gid) = alloc.group {
                let gkey = format!("{GROUPS}{gid}");
                if let Some(gkv) = self.store.get(&gkey).await? {
                    let mut m: BTreeMap<String, u64> = dec(&gkv.value)?;
                    if let Some(n) = m.get_mut(&alloc.host) {
                        *n = n.saturating_sub(1);
                        if *n == 0 {
                            m.remove(&alloc.host);
                        }
                    }
                    txn = txn
                        .when(Condition::mod_revision(&gkey, gkv.mod_revision))
                        .put(&gkey, enc(&m)?);
                }
            }
            Ok(self.store.txn(txn).await?.is_committed().then_some(true))
        })
        .await
    }

    async fn resize(&self, server: ServerId, to: Resources) -> Result<(), ComputeError> {
        let alloc_key = &format!("{ALLOCS}{server}");
        retry_txn(&format!("placement of instance {server}"), || async move {
            let akv = self.store.get(alloc_key).await?.ok_or_else(|| {
                ComputeError::Conflict(format!("instance {server} has no allocation"))
            })?;
            let mut alloc: Allocation = dec(&akv.value)?;
            let host_key = format!("{HOSTS}{}", alloc.host);
            let hkv = self
                .store
                .get(&host_key)
                .await?
                .ok_or_else(|| ComputeError::NoValidHost("the host is gone".into()))?;
            let mut h: HostRecord = dec(&hkv.value)?;
            h.used = h.used.saturating_sub(alloc.resources);
            if !h.fits(to) {
                return Err(ComputeError::NoValidHost(format!(
                    "host {} has not enough free resources for the new flavor",
                    h.name
                )));
            }
            h.used = h.used + to;
            alloc.resources = to;
            let txn = Txn::new()
                .when(Condition::mod_revision(alloc_key, akv.mod_revision))
                .when(Condition::mod_revision(&host_key, hkv.mod_revision))
                .put(alloc_key, enc(&alloc)?)
                .put(&host_key, enc(&h)?);
            Ok(self.store.txn(txn).await?.is_committed().then_some(()))
        })
        .await
    }

    async fn allocation(&self, server: ServerId) -> Result<Option<Allocation>, ComputeError> {
        match self.store.get(&format!("{ALLOCS}{server}")).await? {
            Some(kv) => Ok(Some(dec(&kv.value)?)),
            None => Ok(None),
        }
    }

    async fn hosts(&self) -> Result<Vec<HostRecord>, ComputeError> {
        self.store.list_all(HOSTS).await?.iter().map(|kv| dec(&kv.value)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrostack_core::store::MemoryStore;

    /// Reports `n` hosts `h0`, `h1`, ... of capacity `total`, up, in zone `nova`.
    async fn report_hosts(p: &StorePlacement, n: usize, total: Resources) {
        for i in 0..n {
            p.report(&format!("h{i}"), "nova", total, true).await.unwrap();
        }
    }

    fn res(v: u64, r: u64) -> Resources {
        Resources { vcpus: v, ram_mb: r, disk_gb: 1 }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_claims_never_overcommit() {
        let p = Arc::new(StorePlacement::new(
            Arc::new(MemoryStore::new()),
            PlacementConfig { cpu_ratio: 1.0, ram_ratio: 1.0, disk_ratio: 1.0 },
        ));
        report_hosts(&p, 3, Resources { vcpus: 4, ram_mb: 4096, disk_gb: 100 }).await;
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let p = p.clone();
            tasks.push(tokio::spawn(async move {
                p.claim(&ClaimRequest {
                    server: ServerId::new(),
                    resources: res(1, 512),
                    availability_zone: None,
                    group: None,
                    ignore_hosts: vec![],
                })
                .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(_) => ok += 1,
                Err(ComputeError::NoValidHost(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
        assert_eq!(ok, 12, "3 hosts x 4 vcpus");
        for h in p.hosts().await.unwrap() {
            assert!(h.used.vcpus <= 4 && h.used.ram_mb <= 4096, "{h:?}");
        }
    }

    #[tokio::test]
    async fn anti_affinity_spreads_and_release_frees() {
        let p = StorePlacement::new(Arc::new(MemoryStore::new()), PlacementConfig::default());
        report_hosts(&p, 2, Resources { vcpus: 8, ram_mb: 8192, disk_gb: 100 }).await;
        let g = ServerGroupId::new();
        let mk = |s| ClaimRequest {
            server: s,
            resources: res(1, 512),
            availability_zone: None,
            group: Some((g, GroupPolicy::AntiAffinity, None)),
            ignore_hosts: vec![],
        };
        let (a, b, c) = (ServerId::new(), ServerId::new(), ServerId::new());
        let ha = p.claim(&mk(a)).await.unwrap().host;
        let hb = p.claim(&mk(b)).await.unwrap().host;
        assert_ne!(ha, hb);
        assert!(matches!(p.claim(&mk(c)).await, Err(ComputeError::NoValidHost(_))));
        assert!(p.release(a).await.unwrap());
        assert!(!p.release(a).await.unwrap());
        assert_eq!(p.claim(&mk(c)).await.unwrap().host, ha);
        let hosts = p.hosts().await.unwrap();
        assert_eq!(hosts.iter().map(|h| h.instances).sum::<u64>(), 2);
    }
}
