// SPDX-License-Identifier: Apache-2.0
//! Quota sets and availability zones.

use super::{AvailabilityZone, ComputeService};
use crate::error::ComputeError;
use crate::policy::authorize;
use crate::types::{QuotaLimits, QuotaUsage};
use ferrostack_core::RequestContext;
use ferrostack_core::id::ProjectId;
use serde_json::json;
use std::collections::BTreeMap;

pub(super) async fn show(
    svc: &ComputeService,
    ctx: &RequestContext,
    project: &ProjectId,
) -> Result<(QuotaLimits, QuotaUsage), ComputeError> {
    svc.authz("os_compute_api:os-quota-sets:show", ctx, project)?;
    Ok((svc.deps.db.limits(project).await?, svc.deps.db.usage_of(project).await?))
}

pub(super) async fn set(
    svc: &ComputeService,
    ctx: &RequestContext,
    project: &ProjectId,
    limits: QuotaLimits,
) -> Result<QuotaLimits, ComputeError> {
    authorize(
        &svc.policy,
        "os_compute_api:os-quota-sets:update",
        ctx,
        &json!({"project_id": project.as_str()}),
    )?;
    for v in [
        limits.instances,
        limits.cores,
        limits.ram,
        limits.key_pairs,
        limits.server_groups,
        limits.server_group_members,
        limits.metadata_items,
    ] {
        if v < -1 {
            return Err(ComputeError::Invalid("Quota limit must be -1 or greater.".into()));
        }
    }
    let db = &svc.deps.db;
    let key = project.as_str();
    let txn = ferrostack_core::store::Txn::new().op(db.quotas.put_op(key, &limits)?);
    db.store.txn(txn).await?;
    Ok(limits)
}

pub(super) async fn availability_zones(
    svc: &ComputeService,
    ctx: &RequestContext,
) -> Result<Vec<AvailabilityZone>, ComputeError> {
    authorize(&svc.policy, "os_compute_api:os-availability-zone:list", ctx, &json!({}))?;
    let mut zones: BTreeMap<String, bool> = BTreeMap::new();
    for h in svc.deps.placement.hosts().await? {
        let e = zones.entry(h.availability_zone.clone()).or_insert(false);
        *e |= h.up && !h.disabled;
    }
    Ok(zones.into_iter().map(|(name, available)| AvailabilityZone { name, available }).collect())
}
