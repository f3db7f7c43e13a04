// SPDX-License-Identifier: Apache-2.0
//! Server groups (affinity, anti-affinity and their soft forms, `max_server_per_host`).
//! Membership is written with the servers (see `servers.rs`); hard policies are enforced by
//! the placement claim.

use super::{ComputeService, CreateGroup};
use crate::db::ComputeDb;
use crate::error::ComputeError;
use crate::types::{GroupPolicy, ServerGroup, ServerGroupId};
use ferrostack_core::RequestContext;
use ferrostack_core::id::ServerId;

pub(super) async fn list(
    svc: &ComputeService,
    ctx: &RequestContext,
) -> Result<Vec<ServerGroup>, ComputeError> {
    let p = ComputeService::caller_project(ctx)?;
    svc.authz("os_compute_api:os-server-groups:index", ctx, &p)?;
    Ok(svc
        .deps
        .db
        .groups
        .list_all()
        .await?
        .into_iter()
        .map(|g| g.value)
        .filter(|g| g.project_id == p)
        .collect())
}

pub(super) async fn get(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerGroupId,
) -> Result<ServerGroup, ComputeError> {
    let g = svc
        .deps
        .db
        .groups
        .get(&id.to_string())
        .await?
        .ok_or(ComputeError::NotFound { what: "Instance group", id: id.to_string() })?
        .value;
    if !ctx.has_role("admin") && ctx.project_id() != Some(&g.project_id) {
        return Err(ComputeError::NotFound { what: "Instance group", id: id.to_string() });
    }
    svc.authz("os_compute_api:os-server-groups:show", ctx, &g.project_id)?;
    Ok(g)
}

pub(super) async fn create(
    svc: &ComputeService,
    ctx: &RequestContext,
    req: CreateGroup,
) -> Result<ServerGroup, ComputeError> {
    let p = ComputeService::caller_project(ctx)?;
    svc.authz("os_compute_api:os-server-groups:create", ctx, &p)?;
    if req.name.trim().is_empty() || req.name.len() > 255 {
        return Err(ComputeError::Invalid("Invalid input for field/attribute name.".into()));
    }
    if req.max_server_per_host.is_some() && req.policy != GroupPolicy::AntiAffinity {
        return Err(ComputeError::Invalid(
            "Only anti-affinity policy supports max_server_per_host rule.".into(),
        ));
    }
    if req.max_server_per_host == Some(0) {
        return Err(ComputeError::Invalid(
            "Invalid input for field/attribute max_server_per_host.".into(),
        ));
    }
    let db = &svc.deps.db;
    let limit = db.limits(&p).await?.server_groups;
    if limit >= 0 && list(svc, ctx).await?.len() as i64 >= limit {
        return Err(ComputeError::Forbidden("Quota exceeded, too many server groups.".into()));
    }
    let g = ServerGroup {
        id: ServerGroupId::new(),
        name: req.name,
        policy: req.policy,
        max_server_per_host: req.max_server_per_host,
        members: Vec::new(),
        project_id: p,
        user_id: ctx.user_id.clone(),
    };
    db.create_unique(&db.groups, &g.id.to_string(), &g, "Server group").await?;
    Ok(g)
}

pub(super) async fn delete(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerGroupId,
) -> Result<(), ComputeError> {
    let g = get(svc, ctx, id).await?;
    svc.authz("os_compute_api:os-server-groups:delete", ctx, &g.project_id)?;
    svc.deps.db.groups.delete(&id.to_string()).await?;
    Ok(())
}

impl ComputeDb {
    /// Removes servers from a group (rollback of a failed create).
    pub async fn update_group_remove(
        &self,
        gid: ServerGroupId,
        ids: &[ServerId],
    ) -> Result<(), ComputeError> {
        self.groups
            .update_with::<ComputeError, _>(&gid.to_string(), |g| {
                g.members.retain(|m| !ids.contains(m));
                Ok(())
            })
            .await?;
        Ok(())
    }
}
