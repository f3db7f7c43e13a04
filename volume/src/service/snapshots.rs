// SPDX-License-Identifier: Apache-2.0
//! Snapshots: create (counted against the `snapshots` and `gigabytes` quotas), show, list,
//! update, delete.

use super::owned;
use super::quotas::Delta;
use super::{VolumeService, bvol, check_text, now};
use crate::VolumeError;
use crate::api::{ListFilter, UpdateVolume};
use crate::backend::{BackendError, BackendSnapshot, BackendVolume};
use crate::policy::authorize;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{SnapshotId, VolumeId};
use ferrostack_core::store::Txn;
use ferrostack_core::store::retry::retry_txn;
use std::collections::BTreeMap;

pub(super) async fn create(
    svc: &VolumeService,
    ctx: &RequestContext,
    volume_id: &VolumeId,
    name: Option<String>,
    description: Option<String>,
    force: bool,
) -> Result<Snapshot, VolumeError> {
    let v = svc.visible_volume(ctx, volume_id).await?.value;
    authorize("volume:create_snapshot", ctx, &VolumeService::target(&v.project_id))?;
    check_text("name", &name, MAX_NAME_LEN)?;
    check_text("description", &description, MAX_DESCRIPTION_LEN)?;
    let (snap, vol) = retry_txn(&format!("volume {volume_id}"), || async {
        let cur = svc.visible_volume(ctx, volume_id).await?;
        let vol = &cur.value;
        let ok =
            vol.status == VolumeStatus::Available || (force && vol.status == VolumeStatus::InUse);
        if !ok {
            return Err(VolumeError::InvalidVolume(format!(
                "Volume {} status must be available, but current status is: {}.",
                vol.id, vol.status
            )));
        }
        let b = svc.backend_of(vol)?;
        if !b.capabilities().snapshots {
            return Err(VolumeError::InvalidVolume(format!(
                "the backend of volume {} does not support snapshots",
                vol.id
            )));
        }
        let (cond, op, _) = svc
            .usage_step(
                &vol.project_id,
                Delta { snapshots: 1, gigabytes: vol.size_gb as i64, volumes: 0 },
                true,
            )
            .await?;
        let snap = Snapshot {
            id: SnapshotId::new(),
            project_id: vol.project_id.clone(),
            user_id: ctx.user_id.clone(),
            volume_id: vol.id,
            name: name.clone(),
            description: description.clone(),
            size_gb: vol.size_gb,
            status: SnapshotStatus::Creating,
            metadata: BTreeMap::new(),
            created_at: now(),
            updated_at: None,
        };
        let mut touched = vol.clone();
        touched.updated_at = Some(now());
        let txn = Txn::new()
            .when(cond)
            .when(svc.volumes.unchanged(&vol.id.to_string(), cur.revision))
            .op(op)
            .op(svc.volumes.put_op(&vol.id.to_string(), &touched)?)
            .op(svc.snapshots.put_op(&snap.id.to_string(), &snap)?);
        Ok::<_, VolumeError>(
            svc.store.txn(txn).await?.is_committed().then_some((snap, vol.clone())),
        )
    })
    .await?;
    let b = svc.backend_of(&vol)?.clone();
    let bs = BackendSnapshot { id: snap.id, volume: bvol(&vol) };
    let outcome = b.create_snapshot(&bs).await;
    let status = if outcome.is_ok() { SnapshotStatus::Available } else { SnapshotStatus::Error };
    let saved = svc
        .snapshots
        .update_with::<VolumeError, _>(&snap.id.to_string(), |s| {
            s.status = status;
            s.updated_at = Some(now());
            Ok(())
        })
        .await?
        .value;
    if let Err(e) = outcome {
        tracing::warn!(snapshot = %snap.id, error = %ferrostack_core::http::error_chain(&e), "snapshot failed");
        if matches!(e, BackendError::NotSupported { .. } | BackendError::Invalid(_)) {
            return Err(VolumeService::backend_err(b.as_ref(), "create snapshot")(e));
        }
    }
    Ok(saved)
}

pub(super) async fn get(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &SnapshotId,
) -> Result<Snapshot, VolumeError> {
    let s = svc.visible_snapshot(ctx, id).await?.value;
    authorize("volume:get_snapshot", ctx, &VolumeService::target(&s.project_id))?;
    Ok(s)
}

pub(super) async fn list(
    svc: &VolumeService,
    ctx: &RequestContext,
    filter: &ListFilter,
) -> Result<Vec<Snapshot>, VolumeError> {
    owned::list(&svc.snapshots, ctx, filter, "volume:get_all_snapshots").await
}

pub(super) async fn update(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &SnapshotId,
    change: UpdateVolume,
) -> Result<Snapshot, VolumeError> {
    let s = svc.visible_snapshot(ctx, id).await?.value;
    authorize("volume:update_snapshot", ctx, &VolumeService::target(&s.project_id))?;
    owned::update(&svc.snapshots, &id.to_string(), &change).await
}

pub(super) async fn delete(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &SnapshotId,
) -> Result<(), VolumeError> {
    let s = svc.visible_snapshot(ctx, id).await?.value;
    authorize("volume:delete_snapshot", ctx, &VolumeService::target(&s.project_id))?;
    let snap = svc
        .snapshots
        .update_with::<VolumeError, _>(&id.to_string(), |s| {
            if !s.status.can_become(SnapshotStatus::Deleting) {
                return Err(VolumeError::InvalidSnapshot(format!(
                    "Snapshot status must be available or error or error_deleting, but current status is: {}.",
                    s.status.as_str()
                )));
            }
            s.status = SnapshotStatus::Deleting;
            s.updated_at = Some(now());
            Ok(())
        })
        .await?
        .value;
    let vol = svc.volumes.require(&snap.volume_id.to_string()).await?.value;
    let b = svc.backend_of(&vol)?.clone();
    let bs = BackendSnapshot {
        id: snap.id,
        volume: BackendVolume { id: vol.id, size_gb: snap.size_gb },
    };
    if let Err(e) = b.delete_snapshot(&bs).await {
        svc.snapshots
            .update_with::<VolumeError, _>(&id.to_string(), |s| {
                s.status = SnapshotStatus::ErrorDeleting;
                Ok(())
            })
            .await?;
        return Err(VolumeService::backend_err(b.as_ref(), "delete snapshot")(e));
    }
    retry_txn(&format!("snapshot {id}"), || async {
        let cur = svc.snapshots.require(&id.to_string()).await?;
        let (cond, op, _) = svc
            .usage_step(
                &snap.project_id,
                Delta { snapshots: -1, gigabytes: -(snap.size_gb as i64), volumes: 0 },
                false,
            )
            .await?;
        let txn = Txn::new()
            .when(cond)
            .when(svc.snapshots.unchanged(&id.to_string(), cur.revision))
            .op(op)
            .op(svc.snapshots.delete_op(&id.to_string()));
        Ok::<_, VolumeError>(svc.store.txn(txn).await?.is_committed().then_some(()))
    })
    .await
}
