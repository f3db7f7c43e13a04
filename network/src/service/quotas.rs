// SPDX-License-Identifier: Apache-2.0
//! Quotas: limits, usage counters (CAS) and the quota API.

use super::{NetworkService, Plan, Tag, target, usage_key};
use crate::api::NetworkApi;
use crate::api::QuotaDetail;
use crate::error::{NetworkError, Result};
use crate::policy::{allowed, authorize};
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::ProjectId;
use ferrostack_core::store::retry::retry_txn;
use ferrostack_core::store::{Condition, Op};
use serde_json::json;

impl NetworkService {
    pub(super) async fn limits(&self, p: &ProjectId) -> Result<QuotaSet> {
        Ok(self
            .quotas
            .get(p.as_str())
            .await?
            .map(|v| v.value)
            .unwrap_or(self.config.default_quotas))
    }

    /// Adds a usage change to `plan` (CAS on the counter), failing with `OverQuota` when an
    /// increase would pass the limit.
    pub(super) async fn usage(
        &self,
        plan: &mut Plan,
        p: &ProjectId,
        r: Resource,
        delta: i64,
        check: bool,
    ) -> Result<()> {
        if delta == 0 {
            return Ok(());
        }
        let key = usage_key(p, r);
        let cur = self.store.get(&key).await?;
        let used: i64 = cur
            .as_ref()
            .and_then(|kv| std::str::from_utf8(&kv.value).ok()?.parse().ok())
            .unwrap_or(0);
        if check && delta > 0 {
            let limit = r.limit(&self.limits(p).await?);
            if limit >= 0 && used + delta > limit {
                return Err(NetworkError::OverQuota(r.as_str()));
            }
        }
        match &cur {
            Some(kv) => plan.when(Condition::mod_revision(&key, kv.mod_revision), Tag::Retry),
            None => plan.when(Condition::absent(&key), Tag::Retry),
        }
        plan.op(Op::Put { key, value: (used + delta).max(0).to_string().into_bytes() });
        Ok(())
    }

    pub(super) async fn used(&self, p: &ProjectId, r: Resource) -> Result<i64> {
        Ok(self
            .store
            .get(&usage_key(p, r))
            .await?
            .and_then(|kv| std::str::from_utf8(&kv.value).ok()?.parse().ok())
            .unwrap_or(0))
    }
}

pub(super) async fn get_quota(
    svc: &NetworkService,
    ctx: &RequestContext,
    project: &ProjectId,
) -> Result<QuotaSet> {
    if !allowed("get_quota", ctx, &target(project)) {
        return Err(NetworkError::Forbidden("rule:get_quota".into()));
    }
    svc.limits(project).await
}

pub(super) async fn get_quota_details(
    svc: &NetworkService,
    ctx: &RequestContext,
    project: &ProjectId,
) -> Result<Vec<(Resource, QuotaDetail)>> {
    let limits = svc.get_quota(ctx, project).await?;
    let mut out = Vec::new();
    for r in Resource::ALL {
        out.push((
            r,
            QuotaDetail { limit: r.limit(&limits), used: svc.used(project, r).await?, reserved: 0 },
        ));
    }
    Ok(out)
}

pub(super) async fn list_quotas(
    svc: &NetworkService,
    ctx: &RequestContext,
) -> Result<Vec<(ProjectId, QuotaSet)>> {
    authorize("admin_only", ctx, &json!({}))?;
    let mut out = Vec::new();
    for v in svc.quotas.list_all().await? {
        if let Ok(p) = ProjectId::try_from(v.id.clone()) {
            out.push((p, v.value));
        }
    }
    Ok(out)
}

pub(super) async fn update_quota(
    svc: &NetworkService,
    ctx: &RequestContext,
    project: &ProjectId,
    req: QuotaUpdate,
) -> Result<QuotaSet> {
    authorize("update_quota", ctx, &target(project))?;
    for v in Resource::ALL.into_iter().filter_map(|r| req.limit(r)) {
        if v < -1 {
            return Err(NetworkError::invalid(format!("'{v}' should be non-negative")));
        }
    }
    retry_txn(&format!("the quota of project {project}"), || async {
        let cur = svc.quotas.get(project.as_str()).await?;
        let mut q = cur.as_ref().map(|v| v.value).unwrap_or(svc.config.default_quotas);
        for r in Resource::ALL {
            if let Some(v) = req.limit(r) {
                *r.limit_mut(&mut q) = v;
            }
        }
        let ok = match cur {
            Some(c) => svc.quotas.update(project.as_str(), c.revision, &q).await.is_ok(),
            None => svc.quotas.create(project.as_str(), &q).await.is_ok(),
        };
        if ok {
            return Ok(Some(q));
        }
        Ok(None)
    })
    .await
}

pub(super) async fn delete_quota(
    svc: &NetworkService,
    ctx: &RequestContext,
    project: &ProjectId,
) -> Result<()> {
    authorize("delete_quota", ctx, &target(project))?;
    svc.quotas.delete(project.as_str()).await?;
    Ok(())
}
