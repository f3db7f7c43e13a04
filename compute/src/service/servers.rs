// SPDX-License-Identifier: Apache-2.0
//! Servers: create (validation, quotas and records in one transaction, scheduling in a
//! background task), list, show, update and delete.

use super::{ComputeService, CreateServer, ServerFilter, UpdateServer, keypair_key};
use crate::error::ComputeError;
use crate::host::release_resources;
use crate::placement::ClaimRequest;
use crate::policy::authorize;
use crate::rpc::HostRequest;
use crate::types::{Server, TaskState, VmState};
use base64::Engine;
use ferrostack_core::RequestContext;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::ServerId;
use serde_json::json;
use time::OffsetDateTime;

/// Claims a host for `s` and sends it the build; on failure the server goes to ERROR with
/// the fault.
async fn schedule(svc: ComputeService, ctx: RequestContext, s: Server) {
    let group = match s.server_group {
        Some(g) => match svc.deps.db.groups.get(&g.to_string()).await {
            Ok(Some(v)) => Some((g, v.value.policy, v.value.max_server_per_host)),
            _ => None,
        },
        None => None,
    };
    let req = ClaimRequest {
        server: s.id,
        resources: s.flavor.resources(),
        availability_zone: s.availability_zone.clone(),
        group,
        ignore_hosts: Vec::new(),
    };
    let result = async {
        let alloc = svc.deps.placement.claim(&req).await?;
        // The server may have been deleted while it was scheduled.
        let host = alloc.host.clone();
        let upd = svc
            .deps
            .db
            .update_server(s.id, |r| {
                if r.vm_state != VmState::Building || r.task_state != Some(TaskState::Scheduling) {
                    return Err(ComputeError::Conflict("no longer scheduling".into()));
                }
                r.host = Some(host.clone());
                Ok(())
            })
            .await;
        if let Err(e) = upd {
            let _ = svc.deps.placement.release(s.id).await;
            return Err(e);
        }
        if let Err(e) =
            svc.cast(&ctx, &alloc.host, HostRequest::BuildInstance { server: s.id }).await
        {
            let _ = svc.deps.placement.release(s.id).await;
            return Err(e);
        }
        Ok(())
    }
    .await;
    if let Err(e) = result {
        let f = crate::types::Fault {
            code: e.kind().http_status(),
            message: e.to_string(),
            created: OffsetDateTime::now_utc(),
        };
        let _ = svc
            .deps
            .db
            .update_server(s.id, |r| {
                if r.vm_state == VmState::Building {
                    r.vm_state = VmState::Error;
                    r.task_state = None;
                    r.fault = Some(f.clone());
                }
                Ok(())
            })
            .await;
    }
}

/// `create_servers`: the records now, scheduling in background tasks.
pub(super) async fn create(
    svc: &ComputeService,
    ctx: &RequestContext,
    req: CreateServer,
) -> Result<Vec<Server>, ComputeError> {
    let servers = prepare(svc, ctx, req).await?;
    for s in &servers {
        tokio::spawn(schedule(svc.clone(), ctx.clone(), s.clone()));
    }
    Ok(servers)
}

/// Validates `req`, charges the quota and writes the server records (and group members).
async fn prepare(
    svc: &ComputeService,
    ctx: &RequestContext,
    req: CreateServer,
) -> Result<Vec<Server>, ComputeError> {
    let project = ComputeService::caller_project(ctx)?;
    svc.authz("os_compute_api:servers:create", ctx, &project)?;
    let bad = |m: String| ComputeError::Invalid(m);
    if req.name.trim().is_empty() || req.name.len() > 255 {
        return Err(bad("Invalid input for field/attribute name.".into()));
    }
    let min = req.min_count.max(1);
    if req.max_count.is_some_and(|m| m < min) {
        return Err(bad("min_count must be <= max_count".into()));
    }
    let max = req.max_count.unwrap_or(min).max(min);
    if max > 1000 {
        return Err(bad("Invalid input for field/attribute max_count.".into()));
    }
    let flavor = svc.flavor(&req.flavor_ref).await.map_err(|_| {
        bad(format!(
            "Flavor {} could not be found.",
            ferrostack_core::id::truncate_for_message(&req.flavor_ref)
        ))
    })?;
    if flavor.disabled {
        return Err(bad(format!("Flavor {} is disabled.", flavor.id)));
    }
    let volumes = req.volumes()?;
    let networks = req.networks.requests().to_vec();
    let group = req.scheduler_hints.group;
    match req.image_ref {
        Some(img) => {
            let meta = svc.deps.images.image(ctx, img).await.map_err(|e| match e.kind() {
                ErrorKind::NotFound => bad(format!("Image {img} could not be found.")),
                _ => e,
            })?;
            if meta.status != "active" {
                return Err(bad(format!("Image {img} is not active.")));
            }
            if meta.min_ram > flavor.ram_mb {
                return Err(bad("Flavor's memory is too small for requested image.".into()));
            }
            if meta.min_disk > flavor.disk_gb && flavor.disk_gb > 0 {
                return Err(bad("Flavor's disk is too small for requested image.".into()));
            }
        }
        None if volumes.is_empty() => {
            return Err(bad("Missing imageRef attribute".into()));
        }
        None => {}
    }
    for n in &networks {
        if let Some(net) = n.network_id {
            svc.deps.networks.network(ctx, net).await.map_err(|e| match e.kind() {
                ErrorKind::NotFound => bad(format!("Network {net} could not be found.")),
                _ => e,
            })?;
        }
    }
    if max > 1 && networks.iter().any(|n| n.port_id.is_some()) {
        return Err(bad("Unable to launch multiple instances with a single configured port ID. Please launch your instance one by one with different ports.".into()));
    }
    for v in &volumes {
        let meta = svc.deps.volumes.volume(ctx, *v).await.map_err(|e| match e.kind() {
            ErrorKind::NotFound => {
                bad(format!("Block Device Mapping is Invalid: failed to get volume {v}."))
            }
            _ => e,
        })?;
        if meta.status != "available" {
            return Err(bad(format!(
                "Block Device Mapping is Invalid: volume {v} status must be available."
            )));
        }
    }
    if !volumes.is_empty() && max > 1 {
        return Err(bad(
            "Block Device Mapping is Invalid: cannot attach one volume to several instances."
                .into(),
        ));
    }
    let key_data = match &req.key_name {
        Some(k) => {
            let kp = svc.deps.db.keypairs.get(&keypair_key(ctx, k)).await?;
            Some(kp.ok_or_else(|| bad("Invalid key_name provided.".into()))?.value.public_key)
        }
        None => None,
    };
    let limits = svc.deps.db.limits(&project).await?;
    if limits.metadata_items >= 0 && req.metadata.len() as i64 > limits.metadata_items {
        return Err(ComputeError::Forbidden("Quota exceeded for metadata_items".into()));
    }
    for (k, v) in &req.metadata {
        if k.is_empty() || k.len() > 255 || v.len() > 255 {
            return Err(bad("Invalid input for field/attribute metadata.".into()));
        }
    }
    if let Some(ud) = &req.user_data
        && (ud.len() > 65535 || base64::engine::general_purpose::STANDARD.decode(ud).is_err())
    {
        return Err(bad("User data needs to be valid base 64.".into()));
    }
    if let Some(az) = &req.availability_zone {
        let zones = svc.deps.placement.hosts().await?;
        if !zones.iter().any(|h| &h.availability_zone == az) {
            return Err(bad("The requested availability zone is not available".to_string()));
        }
    }
    if let Some(g) = group {
        let grp = svc.deps.db.groups.get(&g.to_string()).await?;
        match grp {
            Some(v) if v.value.project_id == project || ctx.has_role("admin") => {}
            _ => {
                return Err(bad(format!("Invalid input for field/attribute group. Value: {g}")));
            }
        }
    }
    let now = OffsetDateTime::now_utc();
    let reservation = format!("r-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    let servers: Vec<Server> = (0..max)
        .map(|i| Server {
            id: ServerId::new(),
            name: if max > 1 { format!("{}-{}", req.name, i + 1) } else { req.name.clone() },
            description: req.description.clone(),
            project_id: project.clone(),
            user_id: ctx.user_id.clone(),
            flavor: flavor.clone(),
            old_flavor: None,
            image_id: req.image_ref,
            vm_state: VmState::Building,
            task_state: Some(TaskState::Scheduling),
            power_state: crate::types::PowerState::NoState,
            host: None,
            availability_zone: req.availability_zone.clone(),
            key_name: req.key_name.clone(),
            key_data: key_data.clone(),
            metadata: req.metadata.clone(),
            user_data: req.user_data.clone(),
            config_drive: req.config_drive,
            requested_networks: networks.clone(),
            requested_volumes: volumes.clone(),
            vifs: Vec::new(),
            volumes: Vec::new(),
            server_group: group,
            reservation_id: reservation.clone(),
            launch_index: i,
            access_ipv4: req.access_ipv4.clone(),
            access_ipv6: req.access_ipv6.clone(),
            admin_pass: None,
            progress: 0,
            locked: false,
            fault: None,
            created_at: now,
            updated_at: now,
            launched_at: None,
        })
        .collect();
    if let Some(g) = group {
        // Members first: if the group is full nothing is created.
        let ids: Vec<ServerId> = servers.iter().map(|s| s.id).collect();
        svc.deps.db.add_group_members(g, &ids, limits.server_group_members).await?;
        if let Err(e) = svc.deps.db.create_servers(&servers).await {
            let _ = svc.deps.db.update_group_remove(g, &ids).await;
            return Err(e);
        }
    } else {
        svc.deps.db.create_servers(&servers).await?;
    }
    Ok(servers)
}

/// Deletes a server that has no (reachable) host.
async fn local_delete(
    svc: &ComputeService,
    ctx: &RequestContext,
    s: &Server,
) -> Result<(), ComputeError> {
    release_resources(&svc.deps, ctx, s).await;
    svc.deps.db.finish_delete(s.id).await?;
    Ok(())
}

pub(super) async fn list(
    svc: &ComputeService,
    ctx: &RequestContext,
    f: &ServerFilter,
) -> Result<Vec<Server>, ComputeError> {
    let me = svc;
    let project = ctx.project_id().cloned();
    let admin = ctx.has_role("admin");
    let all = f.all_tenants || f.project_id.is_some();
    if all {
        authorize(&me.policy, "os_compute_api:servers:index:get_all_tenants", ctx, &json!({}))?;
    } else {
        let p = ComputeService::caller_project(ctx)?;
        me.authz("os_compute_api:servers:index", ctx, &p)?;
    }
    let statuses = f.status.as_deref().map(|s| s.to_ascii_uppercase());
    let mut out: Vec<Server> = me
        .deps
        .db
        .all_servers()
        .await?
        .into_iter()
        .filter(|s| {
            if all {
                f.project_id.as_deref().is_none_or(|p| s.project_id.as_str() == p)
            } else {
                Some(&s.project_id) == project.as_ref()
            }
        })
        .filter(|s| f.name.as_deref().is_none_or(|n| s.name.contains(n)))
        .filter(|s| statuses.as_deref().is_none_or(|st| s.status() == st))
        .filter(|s| f.flavor.as_deref().is_none_or(|fl| s.flavor.id == fl))
        .filter(|s| {
            f.image
                .as_deref()
                .is_none_or(|i| s.image_id.map(|x| x.to_string()).as_deref() == Some(i))
        })
        .filter(|s| !admin || f.host.as_deref().is_none_or(|h| s.host.as_deref() == Some(h)))
        .filter(|s| f.reservation_id.as_deref().is_none_or(|r| s.reservation_id == r))
        .filter(|s| f.changes_since.is_none_or(|t| s.updated_at >= t))
        .collect();
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| b.id.cmp(&a.id)));
    Ok(out)
}

pub(super) async fn get(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
) -> Result<Server, ComputeError> {
    svc.visible(ctx, id, "os_compute_api:servers:show").await
}

pub(super) async fn update(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
    req: UpdateServer,
) -> Result<Server, ComputeError> {
    let UpdateServer { name, description } = req;
    svc.visible(ctx, id, "os_compute_api:servers:update").await?;
    if let Some(n) = &name
        && (n.trim().is_empty() || n.len() > 255)
    {
        return Err(ComputeError::Invalid("Invalid input for field/attribute name.".into()));
    }
    svc.deps
        .db
        .update_server(id, |s| {
            if let Some(n) = &name {
                s.name = n.clone();
            }
            if let Some(d) = &description {
                s.description = d.clone();
            }
            Ok(())
        })
        .await
}

pub(super) async fn delete(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
) -> Result<(), ComputeError> {
    let me = svc;
    let s = me.visible(ctx, id, "os_compute_api:servers:delete").await?;
    // Nova: no state check for delete. No host (still scheduling) or a host that is down
    // means a local delete.
    let host = match &s.host {
        Some(h) if me.host_is_up(h).await => h.clone(),
        _ => return local_delete(me, ctx, &s).await,
    };
    me.deps
        .db
        .update_server(id, |r| {
            r.task_state = Some(TaskState::Deleting);
            Ok(())
        })
        .await?;
    match me.cast(ctx, &host, HostRequest::TerminateInstance { server: id }).await {
        Ok(()) => Ok(()),
        Err(_) => local_delete(me, ctx, &s).await,
    }
}
