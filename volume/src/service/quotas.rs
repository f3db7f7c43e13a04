// SPDX-License-Identifier: Apache-2.0
//! Quotas: limits per project (defaults when unset), usage kept in one document per project
//! and changed in the same transaction as the resources it counts, and limit changes.

use super::VolumeService;
use crate::VolumeError;
use crate::api::QuotaUpdate;
use crate::policy::authorize;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::ProjectId;
use ferrostack_core::store::retry::retry_txn;
use ferrostack_core::store::{Condition, Op, Txn};

#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Delta {
    pub(super) volumes: i64,
    pub(super) gigabytes: i64,
    pub(super) snapshots: i64,
}

pub(super) async fn get(
    svc: &VolumeService,
    ctx: &RequestContext,
    project: &ProjectId,
) -> Result<(QuotaLimits, QuotaUsage), VolumeError> {
    authorize("volume_extension:quotas:show", ctx, &VolumeService::target(project))?;
    let usage = svc.usage.get(project.as_str()).await?.map(|v| v.value).unwrap_or_default();
    Ok((svc.limits(project).await?, usage))
}

pub(super) async fn update(
    svc: &VolumeService,
    ctx: &RequestContext,
    project: &ProjectId,
    change: QuotaUpdate,
) -> Result<QuotaLimits, VolumeError> {
    authorize("volume_extension:quotas:update", ctx, &VolumeService::target(project))?;
    let usage = svc.usage.get(project.as_str()).await?.map(|v| v.value).unwrap_or_default();
    let checks = [
        ("volumes", change.volumes, usage.volumes),
        ("gigabytes", change.gigabytes, usage.gigabytes),
        ("snapshots", change.snapshots, usage.snapshots),
        ("per_volume_gigabytes", change.per_volume_gigabytes, 0),
    ];
    for (name, v, used) in checks {
        if let Some(v) = v {
            if v < -1 || v > i64::from(i32::MAX) {
                return Err(VolumeError::InvalidInput(format!(
                    "Quota value {v} for {name} must be -1 or between 0 and {}.",
                    i32::MAX
                )));
            }
            if v >= 0 && (v as u64) < used {
                return Err(VolumeError::InvalidInput(format!(
                    "Quota limit {v} for {name} must be greater than or equal to already used and reserved {used}."
                )));
            }
        }
    }
    retry_txn(&format!("the quotas of project {project}"), || async {
        let cur = svc.quotas.get(project.as_str()).await?;
        let mut l = cur.as_ref().map(|v| v.value).unwrap_or(svc.default_quota);
        if let Some(v) = change.volumes {
            l.volumes = v;
        }
        if let Some(v) = change.gigabytes {
            l.gigabytes = v;
        }
        if let Some(v) = change.snapshots {
            l.snapshots = v;
        }
        if let Some(v) = change.per_volume_gigabytes {
            l.per_volume_gigabytes = v;
        }
        let cond = match &cur {
            Some(v) => svc.quotas.unchanged(project.as_str(), v.revision),
            None => svc.quotas.absent(project.as_str()),
        };
        let txn = Txn::new().when(cond).op(svc.quotas.put_op(project.as_str(), &l)?);
        Ok::<_, VolumeError>(svc.store.txn(txn).await?.is_committed().then_some(l))
    })
    .await
}

impl VolumeService {
    pub(super) async fn limits(&self, project: &ProjectId) -> Result<QuotaLimits, VolumeError> {
        Ok(self.quotas.get(project.as_str()).await?.map(|v| v.value).unwrap_or(self.default_quota))
    }

    /// Reads `project`'s usage, checks `d` against its limits when `enforce`, and returns the
    /// condition pinning the usage read and the op writing the new usage.
    pub(super) async fn usage_step(
        &self,
        project: &ProjectId,
        d: Delta,
        enforce: bool,
    ) -> Result<(Condition, Op, QuotaUsage), VolumeError> {
        let key = project.as_str();
        let (cond, cur) = match self.usage.get(key).await? {
            Some(v) => (self.usage.unchanged(key, v.revision), v.value),
            None => (self.usage.absent(key), QuotaUsage::default()),
        };
        if enforce {
            let l = self.limits(project).await?;
            if d.gigabytes > 0
                && l.gigabytes >= 0
                && cur.gigabytes as i64 + d.gigabytes > l.gigabytes
            {
                return Err(VolumeError::QuotaExceeded(format!(
                    "Requested volume or snapshot exceeds allowed gigabytes quota. Requested {}G, quota is {}G and {}G has been consumed.",
                    d.gigabytes, l.gigabytes, cur.gigabytes
                )));
            }
            if d.volumes > 0 && l.volumes >= 0 && cur.volumes as i64 + d.volumes > l.volumes {
                return Err(VolumeError::QuotaExceeded(format!(
                    "Maximum number of volumes allowed ({}) exceeded for quota 'volumes'.",
                    l.volumes
                )));
            }
            if d.snapshots > 0
                && l.snapshots >= 0
                && cur.snapshots as i64 + d.snapshots > l.snapshots
            {
                return Err(VolumeError::QuotaExceeded(format!(
                    "Maximum number of snapshots allowed ({}) exceeded",
                    l.snapshots
                )));
            }
        }
        let apply = |v: u64, d: i64| -> u64 {
            if d >= 0 { v.saturating_add(d as u64) } else { v.saturating_sub(d.unsigned_abs()) }
        };
        let new = QuotaUsage {
            volumes: apply(cur.volumes, d.volumes),
            gigabytes: apply(cur.gigabytes, d.gigabytes),
            snapshots: apply(cur.snapshots, d.snapshots),
        };
        Ok((cond, self.usage.put_op(key, &new)?, new))
    }

    pub(super) async fn check_per_volume(
        &self,
        project: &ProjectId,
        size: u64,
    ) -> Result<(), VolumeError> {
        let l = self.limits(project).await?;
        if l.per_volume_gigabytes >= 0 && size as i64 > l.per_volume_gigabytes {
            return Err(VolumeError::QuotaExceeded(format!(
                "Requested volume size {size}G is larger than maximum allowed limit {}G.",
                l.per_volume_gigabytes
            )));
        }
        Ok(())
    }
}
