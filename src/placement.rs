// SPDX-License-Identifier: Apache-2.0
//! [`ScheduledPlacement`]: compute's [`Placement`] with host selection by
//! `ferrostack-scheduler`'s [`FilterScheduler`] (Nova's default filters and weighers) and
//! claims by compute's [`StorePlacement`] (compare-and-swap in the store, hard server-group
//! rules checked inside the claim transaction).
//!
//! Per claim, the scheduler's [`HostTable`] is rebuilt from the hosts' records in the store,
//! so any number of controllers can share the store and each decision sees every claim that
//! landed before it. The scheduler ranks the hosts; the claim is then attempted on the chosen
//! host, then on each alternate, so a host lost to a concurrent claim never over-commits it:
//! the claim refuses and the next candidate is tried, and when every candidate is gone the
//! request is scheduled again without the refused hosts. Requests in a server group go to the
//! store's claim directly, whose transaction sees every member's host (the scheduler's table
//! here carries no instances).

use ferrostack_compute::error::ComputeError;
use ferrostack_compute::placement::{
    Allocation, ClaimRequest, HostRecord, Placement, PlacementConfig, Resources, StorePlacement,
};
use ferrostack_core::id::ServerId;
use ferrostack_core::store::Store;
use ferrostack_scheduler::types::Flavor;
use ferrostack_scheduler::{
    FilterScheduler, HostReport, HostTable, LocalClaims, RequestSpec, Scheduler, SchedulerError,
};
use std::sync::Arc;

/// Compute placement ranked by the filter scheduler (see the module docs).
#[derive(Debug)]
pub struct ScheduledPlacement {
    claims: StorePlacement,
    scheduler: std::sync::Mutex<FilterScheduler>,
}

impl ScheduledPlacement {
    /// Nova's default filters and weighers over claims in `store`.
    pub fn new(store: Arc<dyn Store>, config: PlacementConfig) -> Self {
        Self::with_scheduler(store, config, FilterScheduler::nova_default())
    }

    /// A configured scheduler (filters, weighers, multipliers, subset size) over claims in
    /// `store`.
    pub fn with_scheduler(
        store: Arc<dyn Store>,
        config: PlacementConfig,
        scheduler: FilterScheduler,
    ) -> Self {
        ScheduledPlacement {
            claims: StorePlacement::new(store, config),
            scheduler: std::sync::Mutex::new(scheduler),
        }
    }

    /// The hosts in the scheduler's preference order for `req`, best first.
    fn rank(&self, hosts: &[HostRecord], req: &ClaimRequest) -> Result<Vec<String>, ComputeError> {
        let mut table = HostTable::new();
        for h in hosts
            .iter()
            .filter(|h| req.availability_zone.as_ref().is_none_or(|az| *az == h.availability_zone))
        {
            let report = HostReport {
                host: h.name.clone(),
                nodename: h.name.clone(),
                uuid: h.name.clone(),
                vcpus: u32::try_from(h.total.vcpus).unwrap_or(u32::MAX),
                memory_mb: h.total.ram_mb,
                local_gb: h.total.disk_gb,
                cpu_allocation_ratio: h.cpu_ratio,
                ram_allocation_ratio: h.ram_ratio,
                disk_allocation_ratio: h.disk_ratio,
                disabled: h.disabled,
                up: h.up,
                ..HostReport::default()
            };
            let idx = table.upsert_host(report).map_err(scheduler_error)?;
            table.set_usage(idx, h.used);
        }
        let spec = RequestSpec {
            flavor: Flavor {
                name: "claim".into(),
                vcpus: u32::try_from(req.resources.vcpus).unwrap_or(u32::MAX),
                memory_mb: req.resources.ram_mb,
                root_gb: req.resources.disk_gb,
                ..Flavor::default()
            },
            instance_uuids: vec![req.server.to_string()],
            ignore_hosts: req.ignore_hosts.clone(),
            ..RequestSpec::default()
        };
        let mut scheduler = self.scheduler.lock().unwrap_or_else(|e| e.into_inner());
        let selection = scheduler
            .select_destinations(&mut table, &spec, &mut LocalClaims::default())
            .map_err(scheduler_error)?;
        Ok(selection
            .into_iter()
            .flat_map(|s| std::iter::once(s.host).chain(s.alternates))
            .collect())
    }
}

fn scheduler_error(e: SchedulerError) -> ComputeError {
    match e {
        SchedulerError::NoValidHost { .. } => {
            ComputeError::NoValidHost("There are not enough hosts available.".into())
        }
        e => ComputeError::Internal(format!("scheduler: {e}")),
    }
}

#[async_trait::async_trait]
impl Placement for ScheduledPlacement {
    async fn report(
        &self,
        host: &str,
        az: &str,
        total: Resources,
        up: bool,
    ) -> Result<(), ComputeError> {
        self.claims.report(host, az, total, up).await
    }

    async fn claim(&self, req: &ClaimRequest) -> Result<Allocation, ComputeError> {
        if let Some(existing) = self.claims.allocation(req.server).await? {
            return Ok(existing);
        }
        if req.group.is_some() {
            // Server-group policies, hard and soft, are decided inside the store's claim
            // transaction, which sees every member's host; the scheduler's table here
            // carries no instances.
            return self.claims.claim(req).await;
        }
        let hosts = self.claims.hosts().await?;
        let mut refused: Vec<String> = Vec::new();
        // Each round either claims or refuses at least one more host, so this ends.
        loop {
            let mut round = req.clone();
            round.ignore_hosts.extend(refused.iter().cloned());
            for host in self.rank(&hosts, &round)? {
                // Claim on exactly this host: every other one is ignored for this attempt.
                let only = ClaimRequest {
                    ignore_hosts: hosts
                        .iter()
                        .map(|h| h.name.clone())
                        .filter(|n| *n != host)
                        .collect(),
                    ..req.clone()
                };
                match self.claims.claim(&only).await {
                    Ok(a) => return Ok(a),
                    // The claim re-reads the host and refuses only when the request no
                    // longer fits there (a concurrent claim took the room): try the next.
                    Err(ComputeError::NoValidHost(_)) => refused.push(host),
                    Err(e) => return Err(e),
                }
            }
        }
    }

    async fn release(&self, server: ServerId) -> Result<bool, ComputeError> {
        self.claims.release(server).await
    }

    async fn resize(&self, server: ServerId, to: Resources) -> Result<(), ComputeError> {
        self.claims.resize(server, to).await
    }

    async fn allocation(&self, server: ServerId) -> Result<Option<Allocation>, ComputeError> {
        self.claims.allocation(server).await
    }

    async fn hosts(&self) -> Result<Vec<HostRecord>, ComputeError> {
        self.claims.hosts().await
    }
}
