// SPDX-License-Identifier: Apache-2.0
//! Server actions: stop, start, reboot, resize (confirm, revert), rebuild, snapshot and the
//! consoles. Each checks Nova's allowed states, moves the server into its task state in one
//! compare-and-swap, and casts the work to the server's host.

use super::{ALLOW_REBOOT_TASKS, ComputeService, CreateImage, RebuildServer};
use crate::error::ComputeError;
use crate::hypervisor::RebootKind;
use crate::rpc::HostRequest;
use crate::types::{Server, TaskState, VmState};
use ferrostack_core::RequestContext;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::{ImageId, ServerId};

pub(super) async fn stop(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
) -> Result<(), ComputeError> {
    let me = svc;
    me.visible(ctx, id, "os_compute_api:servers:stop").await?;
    let s = me
        .begin(id, "stop", &[VmState::Active, VmState::Error], &[None], TaskState::PoweringOff)
        .await?;
    me.dispatch(ctx, &s, HostRequest::StopInstance { server: id }).await
}

pub(super) async fn start(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
) -> Result<(), ComputeError> {
    let me = svc;
    me.visible(ctx, id, "os_compute_api:servers:start").await?;
    let s = me.begin(id, "start", &[VmState::Stopped], &[None], TaskState::PoweringOn).await?;
    me.dispatch(ctx, &s, HostRequest::StartInstance { server: id }).await
}

pub(super) async fn reboot(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
    kind: RebootKind,
) -> Result<(), ComputeError> {
    let me = svc;
    me.visible(ctx, id, "os_compute_api:servers:reboot").await?;
    let s = match kind {
        RebootKind::Soft => {
            me.begin(id, "reboot", &[VmState::Active], &[None], TaskState::Rebooting).await?
        }
        RebootKind::Hard => {
            me.begin(
                id,
                "reboot",
                &[
                    VmState::Active,
                    VmState::Stopped,
                    VmState::Paused,
                    VmState::Suspended,
                    VmState::Error,
                ],
                ALLOW_REBOOT_TASKS,
                TaskState::RebootingHard,
            )
            .await?
        }
    };
    me.dispatch(ctx, &s, HostRequest::RebootInstance { server: id, kind }).await
}

pub(super) async fn resize(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
    flavor_ref: &str,
) -> Result<(), ComputeError> {
    let me = svc;
    let cur = me.visible(ctx, id, "os_compute_api:servers:resize").await?;
    let flavor = me.flavor(flavor_ref).await.map_err(|_| {
        ComputeError::Invalid(format!(
            "Flavor {} could not be found.",
            ferrostack_core::id::truncate_for_message(flavor_ref)
        ))
    })?;
    if flavor.id == cur.flavor.id {
        return Err(ComputeError::Invalid("When resizing, instances must change flavor!".into()));
    }
    if flavor.disk_gb < cur.flavor.disk_gb && cur.image_id.is_some() {
        return Err(ComputeError::Invalid("Resize error: Unable to resize disk down.".into()));
    }
    let project = cur.project_id.clone();
    let (limits, usage) =
        (me.deps.db.limits(&project).await?, me.deps.db.usage_of(&project).await?);
    let dc = i64::from(flavor.vcpus) - i64::from(cur.flavor.vcpus);
    if limits.cores >= 0 && dc > 0 && usage.cores + dc > limits.cores {
        return Err(ComputeError::QuotaExceeded {
            resource: "cores",
            requested: dc,
            used: usage.cores,
            limit: limits.cores,
        });
    }
    let s = me
        .begin(id, "resize", &[VmState::Active, VmState::Stopped], &[None], TaskState::ResizePrep)
        .await?;
    me.dispatch(ctx, &s, HostRequest::ResizeInstance { server: id, flavor }).await
}

pub(super) async fn confirm_resize(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
) -> Result<(), ComputeError> {
    let me = svc;
    me.visible(ctx, id, "os_compute_api:servers:confirm_resize").await?;
    let s = me
        .begin(id, "confirmResize", &[VmState::Resized], &[None], TaskState::ResizeConfirming)
        .await?;
    me.dispatch(ctx, &s, HostRequest::ConfirmResize { server: id }).await
}

pub(super) async fn revert_resize(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
) -> Result<(), ComputeError> {
    let me = svc;
    me.visible(ctx, id, "os_compute_api:servers:revert_resize").await?;
    let s = me
        .begin(id, "revertResize", &[VmState::Resized], &[None], TaskState::ResizeReverting)
        .await?;
    me.dispatch(ctx, &s, HostRequest::RevertResize { server: id }).await
}

pub(super) async fn rebuild(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
    req: RebuildServer,
) -> Result<Server, ComputeError> {
    let RebuildServer { image, name } = req;
    let me = svc;
    me.visible(ctx, id, "os_compute_api:servers:rebuild").await?;
    let meta = me.deps.images.image(ctx, image).await.map_err(|e| match e.kind() {
        ErrorKind::NotFound => ComputeError::Invalid(format!("Image {image} could not be found.")),
        _ => e,
    })?;
    if meta.status != "active" {
        return Err(ComputeError::Invalid(format!("Image {image} is not active.")));
    }
    let s = me
        .begin(
            id,
            "rebuild",
            &[VmState::Active, VmState::Stopped, VmState::Error],
            &[None],
            TaskState::Rebuilding,
        )
        .await?;
    if let Some(n) = name {
        me.deps
            .db
            .update_server(id, |r| {
                r.name = n.clone();
                Ok(())
            })
            .await?;
    }
    me.dispatch(ctx, &s, HostRequest::RebuildInstance { server: id, image: Some(image) }).await?;
    me.deps.db.server(id).await.map(|v| v.value)
}

pub(super) async fn create_image(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
    req: CreateImage,
) -> Result<ImageId, ComputeError> {
    let CreateImage { name, metadata } = req;
    let name = name.as_str();
    let me = svc;
    me.visible(ctx, id, "os_compute_api:servers:create_image").await?;
    if name.trim().is_empty() || name.len() > 255 {
        return Err(ComputeError::Invalid("Invalid input for field/attribute name.".into()));
    }
    let s = me
        .begin(
            id,
            "createImage",
            &[VmState::Active, VmState::Stopped, VmState::Paused, VmState::Suspended],
            &[None],
            TaskState::ImageSnapshotPending,
        )
        .await?;
    let image = match me.deps.images.create_snapshot(ctx, name, id, &metadata).await {
        Ok(i) => i,
        Err(e) => {
            me.abort(id).await;
            return Err(e);
        }
    };
    if let Err(e) = me.dispatch(ctx, &s, HostRequest::SnapshotInstance { server: id, image }).await
    {
        let _ = me.deps.images.delete_image(ctx, image).await;
        return Err(e);
    }
    Ok(image)
}

pub(super) async fn console_url(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
    protocol: &str,
) -> Result<String, ComputeError> {
    let me = svc;
    let s = me.visible(ctx, id, "os_compute_api:os-remote-consoles").await?;
    if s.vm_state != VmState::Active {
        return Err(ComputeError::Conflict(format!("Instance {id} is not ready.")));
    }
    let host = s.host.clone().unwrap_or_default();
    let v = me
        .call(ctx, &host, HostRequest::ConsoleUrl { server: id, protocol: protocol.into() })
        .await?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}

pub(super) async fn console_output(
    svc: &ComputeService,
    ctx: &RequestContext,
    id: ServerId,
    lines: Option<u32>,
) -> Result<String, ComputeError> {
    let me = svc;
    let s = me.visible(ctx, id, "os_compute_api:os-console-output").await?;
    // Nova's InstanceNotReady: nothing to read before a host runs it.
    let Some(host) = s.host.clone().filter(|_| s.vm_state != VmState::Building) else {
        return Err(ComputeError::Conflict(format!("Instance {id} is not ready.")));
    };
    let v = me.call(ctx, &host, HostRequest::ConsoleOutput { server: id, lines }).await?;
    Ok(v.as_str().unwrap_or_default().to_owned())
}
