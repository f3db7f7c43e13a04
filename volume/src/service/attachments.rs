// SPDX-License-Identifier: Apache-2.0
//! The attachment flow of Cinder 3.27+: reserve, update with a connector (export and
//! connection info), complete, delete (terminate and remove the export).

use super::{VolumeService, bvol, now, or_str};
use crate::VolumeError;
use crate::api::VolumeApi;
use crate::backend::{BackendVolume, VolumeBackend};
use crate::policy::{authorize, is_admin};
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ServerId, VolumeId};
use ferrostack_core::store::Txn;
use ferrostack_core::store::retry::retry_txn;
use std::sync::Arc;

pub(super) async fn create(
    svc: &VolumeService,
    ctx: &RequestContext,
    volume_id: &VolumeId,
    instance: Option<ServerId>,
    connector: Option<Connector>,
    mode: Option<String>,
) -> Result<Attachment, VolumeError> {
    let v = svc.visible_volume(ctx, volume_id).await?.value;
    authorize("volume:attachment_create", ctx, &VolumeService::target(&v.project_id))?;
    let mode = mode.unwrap_or_else(|| "rw".into());
    if mode != "rw" && mode != "ro" {
        return Err(VolumeError::InvalidInput(format!(
            "Invalid attach mode {:?}, must be 'rw' or 'ro'.",
            ferrostack_core::id::truncate_for_message(&mode)
        )));
    }
    let att = retry_txn(&format!("volume {volume_id}"), || async {
        let cur = svc.visible_volume(ctx, volume_id).await?;
        let vol = &cur.value;
        let expected: &[VolumeStatus] = if vol.multiattach {
            &[VolumeStatus::Available, VolumeStatus::InUse, VolumeStatus::Downloading]
        } else {
            &[VolumeStatus::Available, VolumeStatus::Downloading]
        };
        let live = svc.live_attachments(volume_id).await?;
        let ok = expected.contains(&vol.status)
            || (!vol.multiattach
                && instance.is_some()
                && !live.is_empty()
                && live.iter().all(|a| a.instance_uuid == instance));
        if !ok {
            return Err(VolumeError::InvalidVolume(format!(
                "Volume {} status must be {}",
                vol.id,
                or_str(expected)
            )));
        }
        let att = Attachment {
            id: AttachmentId::new(),
            volume_id: vol.id,
            project_id: vol.project_id.clone(),
            instance_uuid: instance,
            attach_status: AttachStatus::Reserved,
            attach_mode: mode.clone(),
            connector: None,
            connection_info: None,
            mountpoint: None,
            attached_host: None,
            attach_time: None,
            detach_time: None,
        };
        let mut next = vol.clone();
        if expected.contains(&vol.status) {
            next.status = VolumeStatus::Reserved;
        }
        next.updated_at = Some(now());
        let txn = Txn::new()
            .when(svc.volumes.unchanged(&vol.id.to_string(), cur.revision))
            .when(svc.attachments.absent(&att.id.to_string()))
            .op(svc.volumes.put_op(&vol.id.to_string(), &next)?)
            .op(svc.attachments.put_op(&att.id.to_string(), &att)?);
        Ok::<_, VolumeError>(svc.store.txn(txn).await?.is_committed().then_some(att))
    })
    .await?;
    match connector {
        Some(c) => svc.update_attachment(ctx, &att.id, c).await,
        None => Ok(att),
    }
}

pub(super) async fn update(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &AttachmentId,
    connector: Connector,
) -> Result<Attachment, VolumeError> {
    let att = svc.visible_attachment(ctx, id).await?.value;
    authorize("volume:attachment_update", ctx, &VolumeService::target(&att.project_id))?;
    if !att.attach_status.can_become(AttachStatus::Attaching) {
        return Err(VolumeError::InvalidInput(format!(
            "Invalid attachment: attachment {id} is {}.",
            att.attach_status.as_str()
        )));
    }
    let vol = svc.volumes.require(&att.volume_id.to_string()).await?.value;
    if !matches!(
        vol.status,
        VolumeStatus::Reserved
            | VolumeStatus::Attaching
            | VolumeStatus::InUse
            | VolumeStatus::Detaching
    ) {
        return Err(VolumeError::InvalidVolume(format!(
            "Volume {} status must be reserved or attaching or in-use, but current status is: {}.",
            vol.id, vol.status
        )));
    }
    if !vol.multiattach {
        let others = svc.live_attachments(&vol.id).await?;
        if others.iter().any(|a| {
            a.id != *id
                && matches!(a.attach_status, AttachStatus::Attached | AttachStatus::Attaching)
        }) {
            return Err(VolumeError::InvalidVolume(format!(
                "Volume {} is already attached and is not multiattach.",
                vol.id
            )));
        }
    }
    let b = svc.backend_of(&vol)?.clone();
    let bv = bvol(&vol);
    // Backend export + connection info, undone completely on any failure.
    b.create_export(&bv, id, &connector)
        .await
        .map_err(VolumeService::backend_err(b.as_ref(), "create export"))?;
    let info = match b.initialize_connection(&bv, id, &connector).await {
        Ok(info) => info,
        Err(e) => {
            VolumeService::attachment_rollback(&b, &bv, id, &connector).await;
            return Err(VolumeService::backend_err(b.as_ref(), "initialize connection")(e));
        }
    };
    // Record it; on any failure (a concurrent delete, contention, the store) the export goes.
    let recorded = retry_txn(&format!("attachment {id}"), || async {
        let (Some(a), Some(v)) = (
            svc.attachments.get(&id.to_string()).await?,
            svc.volumes.get(&att.volume_id.to_string()).await?,
        ) else {
            return Err(VolumeError::attachment_not_found(id));
        };
        if !a.value.attach_status.can_become(AttachStatus::Attaching) {
            return Err(VolumeError::Conflict(format!(
                "attachment {id} changed to {} concurrently",
                a.value.attach_status.as_str()
            )));
        }
        let mut na = a.value.clone();
        na.attach_status = AttachStatus::Attaching;
        na.attached_host = connector.host.clone();
        na.mountpoint = connector.mountpoint.clone();
        na.connector = Some(connector.clone());
        na.connection_info = Some(info.clone());
        let mut nv = v.value.clone();
        nv.status = VolumeStatus::Attaching;
        nv.updated_at = Some(now());
        let txn = Txn::new()
            .when(svc.attachments.unchanged(&id.to_string(), a.revision))
            .when(svc.volumes.unchanged(&v.value.id.to_string(), v.revision))
            .op(svc.attachments.put_op(&id.to_string(), &na)?)
            .op(svc.volumes.put_op(&v.value.id.to_string(), &nv)?);
        Ok::<_, VolumeError>(svc.store.txn(txn).await?.is_committed().then_some(na))
    })
    .await;
    if recorded.is_err() {
        VolumeService::attachment_rollback(&b, &bv, id, &connector).await;
    }
    recorded
}

pub(super) async fn complete(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &AttachmentId,
) -> Result<Attachment, VolumeError> {
    let att = svc.visible_attachment(ctx, id).await?.value;
    authorize("volume:attachment_complete", ctx, &VolumeService::target(&att.project_id))?;
    retry_txn(&format!("attachment {id}"), || async {
        let a = svc.visible_attachment(ctx, id).await?;
        if a.value.attach_status == AttachStatus::Attached {
            return Ok(Some(a.value));
        }
        if a.value.attach_status != AttachStatus::Attaching {
            return Err(VolumeError::InvalidInput(format!(
                "Invalid attachment: attachment {id} must be attaching to complete, but is {}.",
                a.value.attach_status.as_str()
            )));
        }
        let v = svc.volumes.require(&a.value.volume_id.to_string()).await?;
        let mut na = a.value.clone();
        na.attach_status = AttachStatus::Attached;
        na.attach_time = Some(now());
        let mut nv = v.value.clone();
        nv.status = VolumeStatus::InUse;
        nv.updated_at = Some(now());
        let txn = Txn::new()
            .when(svc.attachments.unchanged(&id.to_string(), a.revision))
            .when(svc.volumes.unchanged(&v.value.id.to_string(), v.revision))
            .op(svc.attachments.put_op(&id.to_string(), &na)?)
            .op(svc.volumes.put_op(&v.value.id.to_string(), &nv)?);
        Ok::<_, VolumeError>(svc.store.txn(txn).await?.is_committed().then_some(na))
    })
    .await
}

pub(super) async fn delete(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &AttachmentId,
) -> Result<Vec<Attachment>, VolumeError> {
    let att = svc.visible_attachment(ctx, id).await?.value;
    authorize("volume:attachment_delete", ctx, &VolumeService::target(&att.project_id))?;
    if let Some(connector) = &att.connector {
        // Tear down the connection first; the records change only once it is gone.
        let a = svc
            .attachments
            .update_with::<VolumeError, _>(&id.to_string(), |a| {
                a.attach_status = AttachStatus::Detaching;
                Ok(())
            })
            .await?
            .value;
        let _ = a;
        let v = svc.volumes.require(&att.volume_id.to_string()).await?.value;
        let b = svc.backend_of(&v)?.clone();
        let bv = bvol(&v);
        let torn = match b.terminate_connection(&bv, id, connector).await {
            Ok(()) => b
                .remove_export(&bv, id)
                .await
                .map_err(VolumeService::backend_err(b.as_ref(), "remove export")),
            Err(e) => Err(VolumeService::backend_err(b.as_ref(), "terminate connection")(e)),
        };
        if let Err(e) = torn {
            svc.attachments
                .update_with::<VolumeError, _>(&id.to_string(), |a| {
                    a.attach_status = AttachStatus::ErrorDetaching;
                    Ok(())
                })
                .await?;
            return Err(e);
        }
    }
    retry_txn(&format!("attachment {id}"), || async {
        let Some(a) = svc.attachments.get(&id.to_string()).await? else {
            return Err(VolumeError::attachment_not_found(id));
        };
        let v = svc.volumes.require(&a.value.volume_id.to_string()).await?;
        let remaining: Vec<Attachment> =
            svc.live_attachments(&v.value.id).await?.into_iter().filter(|x| x.id != *id).collect();
        let mut nv = v.value.clone();
        nv.status = status_from_attachments(remaining.iter().map(|x| x.attach_status));
        nv.updated_at = Some(now());
        let txn = Txn::new()
            .when(svc.attachments.unchanged(&id.to_string(), a.revision))
            .when(svc.volumes.unchanged(&v.value.id.to_string(), v.revision))
            .op(svc.attachments.delete_op(&id.to_string()))
            .op(svc.volumes.put_op(&v.value.id.to_string(), &nv)?);
        Ok::<_, VolumeError>(svc.store.txn(txn).await?.is_committed().then_some(remaining))
    })
    .await
}

pub(super) async fn get(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &AttachmentId,
) -> Result<Attachment, VolumeError> {
    let a = svc.visible_attachment(ctx, id).await?.value;
    authorize("volume:attachment_get", ctx, &VolumeService::target(&a.project_id))?;
    Ok(a)
}

pub(super) async fn list(
    svc: &VolumeService,
    ctx: &RequestContext,
    volume_id: Option<&VolumeId>,
    all_projects: bool,
) -> Result<Vec<Attachment>, VolumeError> {
    let all = all_projects && is_admin(ctx);
    let project = ctx.project_id().cloned();
    if let Some(p) = &project {
        authorize("volume:attachment_get", ctx, &VolumeService::target(p))?;
    } else if !all {
        return Err(VolumeError::Forbidden("volume:attachment_get".into()));
    }
    Ok(svc
        .attachments
        .list_all()
        .await?
        .into_iter()
        .map(|v| v.value)
        .filter(|a| all || Some(&a.project_id) == project.as_ref())
        .filter(|a| volume_id.is_none_or(|v| a.volume_id == *v))
        .collect())
}

impl VolumeService {
    pub(super) async fn attachment_rollback(
        b: &Arc<dyn VolumeBackend>,
        bv: &BackendVolume,
        id: &AttachmentId,
        connector: &Connector,
    ) {
        if let Err(e) = b.terminate_connection(bv, id, connector).await {
            tracing::error!(attachment = %id, error = %ferrostack_core::http::error_chain(&e), "rollback: terminate_connection failed");
        }
        if let Err(e) = b.remove_export(bv, id).await {
            tracing::error!(attachment = %id, error = %ferrostack_core::http::error_chain(&e), "rollback: remove_export failed; export leaked");
        }
    }
}
