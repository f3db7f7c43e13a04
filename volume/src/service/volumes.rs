// SPDX-License-Identifier: Apache-2.0
//! Volumes: create (blank, from a snapshot, a volume or an image), show, list, update,
//! delete, extend (offline and online) and retype (in place or by migration).

use super::owned;
use super::quotas::Delta;
use super::{VolumeService, bvol, check_metadata, check_text, images, now, or_str, vol_with_error};
use crate::VolumeError;
use crate::api::{CreateVolume, ListFilter, MigrationPolicy, UpdateVolume};
use crate::backend::{BackendSnapshot, BackendVolume, DiskFormat, VolumeBackend};
use crate::policy::authorize;
use crate::scheduler::{BackendState, select_backend};
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ServerId, VolumeId};
use ferrostack_core::store::retry::retry_txn;
use ferrostack_core::store::{Condition, Txn};
use std::collections::BTreeMap;
use std::sync::Arc;

pub(super) async fn create(
    svc: &VolumeService,
    ctx: &RequestContext,
    req: CreateVolume,
) -> Result<Volume, VolumeError> {
    let project = VolumeService::caller_project(ctx)?;
    authorize("volume:create", ctx, &VolumeService::target(&project))?;
    check_text("name", &req.name, MAX_NAME_LEN)?;
    check_text("description", &req.description, MAX_DESCRIPTION_LEN)?;
    check_metadata(&req.metadata)?;
    if let Some(az) = &req.availability_zone
        && *az != svc.availability_zone
    {
        return Err(VolumeError::InvalidInput(format!(
            "Availability zone '{}' is invalid.",
            ferrostack_core::id::truncate_for_message(az)
        )));
    }
    let sources = [req.snapshot_id.is_some(), req.source_volid.is_some(), req.image_id.is_some()]
        .iter()
        .filter(|x| **x)
        .count();
    if sources > 1 {
        return Err(VolumeError::InvalidInput(
            "only one of snapshot_id, source_volid and imageRef may be given".into(),
        ));
    }
    if let Some(s) = req.size_gb
        && (s == 0 || s > MAX_SIZE_GB)
    {
        return Err(VolumeError::InvalidInput(format!(
            "Volume size '{s}' must be an integer and greater than 0"
        )));
    }
    // The source decides the default size, type and backend.
    let mut source = VolumeSource::Blank;
    let mut min_size = 1u64;
    let mut pinned_backend: Option<String> = None;
    let mut inherited_type: Option<VolumeTypeId> = None;
    let mut image_metadata = BTreeMap::new();
    let mut bootable = false;
    if let Some(sid) = &req.snapshot_id {
        let snap = svc.visible_snapshot(ctx, sid).await?.value;
        if snap.status != SnapshotStatus::Available {
            return Err(VolumeError::InvalidSnapshot(
                "Originating snapshot status must be one of 'available' values".into(),
            ));
        }
        let src = svc.volumes.require(&snap.volume_id.to_string()).await?.value;
        if let Some(s) = req.size_gb
            && s < snap.size_gb
        {
            return Err(VolumeError::InvalidInput(format!(
                "Volume size '{s}'GB cannot be smaller than the snapshot size {}GB. They must be >= original snapshot size.",
                snap.size_gb
            )));
        }
        min_size = snap.size_gb;
        pinned_backend = src.backend.clone();
        inherited_type = Some(src.volume_type_id);
        bootable = src.bootable;
        image_metadata = src.image_metadata.clone();
        source = VolumeSource::Snapshot { id: *sid };
    } else if let Some(vid) = &req.source_volid {
        let src = svc.visible_volume(ctx, vid).await?.value;
        if !matches!(src.status, VolumeStatus::Available | VolumeStatus::InUse) {
            return Err(VolumeError::InvalidVolume(format!(
                "Unable to clone volumes that are in {} state.",
                src.status
            )));
        }
        if let Some(s) = req.size_gb
            && s < src.size_gb
        {
            return Err(VolumeError::InvalidInput(format!(
                "Volume size '{s}'GB cannot be smaller than original volume size {}GB. They must be >= original volume size.",
                src.size_gb
            )));
        }
        min_size = src.size_gb;
        pinned_backend = src.backend.clone();
        inherited_type = Some(src.volume_type_id);
        bootable = src.bootable;
        image_metadata = src.image_metadata.clone();
        source = VolumeSource::Volume { id: *vid };
    } else if let Some(iid) = &req.image_id {
        let from = images::check_source(svc, ctx, &project, iid, req.size_gb).await?;
        min_size = from.min_size;
        bootable = true;
        image_metadata = from.image_metadata;
        source = VolumeSource::Image { id: *iid };
    } else if req.size_gb.is_none() {
        return Err(VolumeError::InvalidInput(
            "Size must be specified when creating a volume without a source".into(),
        ));
    }
    let size = req.size_gb.unwrap_or(min_size);
    let vtype = match (&req.volume_type, inherited_type) {
        (Some(t), _) => svc.resolve_type(t).await?,
        (None, Some(id)) => match svc.types.get(&id.to_string()).await? {
            Some(t) => t.value,
            None => svc.default_type().await?,
        },
        (None, None) => svc.default_type().await?,
    };
    let multiattach = req.multiattach || vtype.wants_multiattach();
    if multiattach {
        authorize("volume:multiattach", ctx, &VolumeService::target(&project))?;
    }
    svc.check_per_volume(&project, size).await?;

    // Backend: the source's, or the scheduler's pick.
    let backend = match pinned_backend {
        Some(name) => {
            let b = svc.backend(&name)?;
            let caps = b.capabilities();
            let supported = match source {
                VolumeSource::Snapshot { .. } => caps.snapshots,
                VolumeSource::Volume { .. } => caps.clones,
                _ => true,
            };
            if !supported {
                return Err(VolumeError::NotSupported(format!(
                    "the backend of the source does not support {}",
                    if matches!(source, VolumeSource::Snapshot { .. }) {
                        "volumes from snapshots"
                    } else {
                        "clones"
                    }
                )));
            }
            if multiattach && !caps.multiattach {
                return Err(VolumeError::InvalidVolumeType(
                    "the source's backend does not support multiattach".into(),
                ));
            }
            Some(name)
        }
        None => {
            let mut t = vtype.clone();
            if multiattach {
                t.extra_specs.insert("multiattach".into(), "<is> True".into());
            }
            let states = svc.backend_states().await;
            select_backend(&states, &t, size).map(|i| states[i].name.clone())
        }
    };
    let vol = Volume {
        id: VolumeId::new(),
        project_id: project.clone(),
        user_id: ctx.user_id.clone(),
        name: req.name,
        description: req.description,
        size_gb: size,
        status: if backend.is_some() { VolumeStatus::Creating } else { VolumeStatus::Error },
        volume_type_id: vtype.id,
        volume_type_name: vtype.name.clone(),
        backend,
        source,
        multiattach,
        bootable,
        metadata: req.metadata,
        availability_zone: svc.availability_zone.clone(),
        created_at: now(),
        updated_at: None,
        image_metadata,
    };
    retry_txn(&format!("the quota usage of project {project}"), || async {
        let (cond, op, _) = svc
            .usage_step(&project, Delta { volumes: 1, gigabytes: size as i64, snapshots: 0 }, true)
            .await?;
        let mut txn = Txn::new()
            .when(cond)
            .when(svc.volumes.absent(&vol.id.to_string()))
            .op(op)
            .op(svc.volumes.put_op(&vol.id.to_string(), &vol)?);
        // A snapshot or source volume must still be there when the copy is recorded.
        match &vol.source {
            VolumeSource::Snapshot { id } => {
                txn = txn.when(Condition::exists(svc.snapshots.key(&id.to_string())))
            }
            VolumeSource::Volume { id } => {
                txn = txn.when(Condition::exists(svc.volumes.key(&id.to_string())))
            }
            _ => {}
        }
        Ok::<_, VolumeError>(svc.store.txn(txn).await?.is_committed().then_some(()))
    })
    .await?;
    if vol.backend.is_none() {
        tracing::warn!(volume = %vol.id, "no valid backend was found");
        return Ok(vol);
    }
    let errored = vol_with_error(&vol);
    svc.run_create(ctx, vol).await.or_else(|e| match e {
        // The record is in `error`, as Cinder leaves it; the API still answers 202.
        VolumeError::Backend { .. } => Ok(errored),
        other => Err(other),
    })
}

pub(super) async fn get(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &VolumeId,
) -> Result<Volume, VolumeError> {
    let v = svc.visible_volume(ctx, id).await?.value;
    authorize("volume:get", ctx, &VolumeService::target(&v.project_id))?;
    Ok(v)
}

pub(super) async fn list(
    svc: &VolumeService,
    ctx: &RequestContext,
    filter: &ListFilter,
) -> Result<Vec<Volume>, VolumeError> {
    owned::list(&svc.volumes, ctx, filter, "volume:get_all").await
}

pub(super) async fn update(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &VolumeId,
    change: UpdateVolume,
) -> Result<Volume, VolumeError> {
    let v = svc.visible_volume(ctx, id).await?.value;
    authorize("volume:update", ctx, &VolumeService::target(&v.project_id))?;
    owned::update(&svc.volumes, &id.to_string(), &change).await
}

pub(super) async fn delete(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &VolumeId,
) -> Result<(), VolumeError> {
    let v = svc.visible_volume(ctx, id).await?.value;
    authorize("volume:delete", ctx, &VolumeService::target(&v.project_id))?;
    const DELETABLE: [VolumeStatus; 3] =
        [VolumeStatus::Available, VolumeStatus::Error, VolumeStatus::ErrorExtending];
    let vol = retry_txn(&format!("volume {id}"), || async {
        let cur = svc.visible_volume(ctx, id).await?;
        let snaps = svc.volume_snapshots(id).await?;
        let attached = !svc.live_attachments(id).await?.is_empty();
        if !DELETABLE.contains(&cur.value.status) || attached || !snaps.is_empty() {
            return Err(VolumeError::InvalidVolume(format!(
                "Volume status must be {} and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.",
                or_str(&[VolumeStatus::Available, VolumeStatus::Error,])
                    + " or error_restoring or error_extending or error_managing"
            )));
        }
        let mut next = cur.value.clone();
        next.status = VolumeStatus::Deleting;
        next.updated_at = Some(now());
        let txn = Txn::new()
            .when(svc.volumes.unchanged(&id.to_string(), cur.revision))
            .op(svc.volumes.put_op(&id.to_string(), &next)?);
        Ok::<_, VolumeError>(svc.store.txn(txn).await?.is_committed().then_some(next))
    })
    .await?;
    if vol.backend.is_some() {
        let b = svc.backend_of(&vol)?.clone();
        if let Err(e) = b.delete_volume(&bvol(&vol)).await {
            svc.force_status(id, VolumeStatus::ErrorDeleting).await?;
            return Err(VolumeService::backend_err(b.as_ref(), "delete volume")(e));
        }
    }
    retry_txn(&format!("volume {id}"), || async {
        let cur = svc.volumes.require(&id.to_string()).await?;
        let (cond, op, _) = svc
            .usage_step(
                &vol.project_id,
                Delta { volumes: -1, gigabytes: -(cur.value.size_gb as i64), snapshots: 0 },
                false,
            )
            .await?;
        let txn = Txn::new()
            .when(cond)
            .when(svc.volumes.unchanged(&id.to_string(), cur.revision))
            .op(op)
            .op(svc.volumes.delete_op(&id.to_string()));
        Ok::<_, VolumeError>(svc.store.txn(txn).await?.is_committed().then_some(()))
    })
    .await
}

pub(super) async fn extend(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &VolumeId,
    new_size_gb: u64,
) -> Result<Volume, VolumeError> {
    let v = svc.visible_volume(ctx, id).await?.value;
    let online = v.status == VolumeStatus::InUse;
    authorize(
        if online { "volume:extend_attached_volume" } else { "volume:extend" },
        ctx,
        &VolumeService::target(&v.project_id),
    )?;
    if new_size_gb > MAX_SIZE_GB {
        return Err(VolumeError::InvalidInput(format!(
            "Volume size '{new_size_gb}' must be an integer and greater than 0"
        )));
    }
    let old = retry_txn(&format!("volume {id}"), || async {
        let cur = svc.visible_volume(ctx, id).await?;
        let vol = &cur.value;
        if !matches!(vol.status, VolumeStatus::Available | VolumeStatus::InUse) {
            return Err(VolumeError::InvalidVolume(format!(
                "Volume {} status must be available or in-use, but current status is: {}.",
                vol.id, vol.status
            )));
        }
        if new_size_gb <= vol.size_gb {
            return Err(VolumeError::InvalidInput(format!(
                "New size for extend must be greater than current size. (current: {}, extended: {new_size_gb}).",
                vol.size_gb
            )));
        }
        let b = svc.backend_of(vol)?;
        if vol.status == VolumeStatus::InUse {
            if !b.capabilities().online_extend {
                return Err(VolumeError::InvalidVolume(format!(
                    "the backend of volume {} cannot extend attached volumes",
                    vol.id
                )));
            }
            if svc.notifier.is_none() {
                return Err(VolumeError::InvalidVolume(
                    "extending an attached volume needs a compute service to notify".into(),
                ));
            }
        }
        svc.check_per_volume(&vol.project_id, new_size_gb).await?;
        let delta = (new_size_gb - vol.size_gb) as i64;
        let (cond, op, _) = svc
            .usage_step(&vol.project_id, Delta { gigabytes: delta, ..Delta::default() }, true)
            .await?;
        let mut next = vol.clone();
        next.status = VolumeStatus::Extending;
        next.updated_at = Some(now());
        let txn = Txn::new()
            .when(cond)
            .when(svc.volumes.unchanged(&id.to_string(), cur.revision))
            .op(op)
            .op(svc.volumes.put_op(&id.to_string(), &next)?);
        Ok::<_, VolumeError>(svc.store.txn(txn).await?.is_committed().then_some(vol.clone()))
    })
    .await?;
    let b = svc.backend_of(&old)?.clone();
    let back = old.status;
    if let Err(e) = b.extend_volume(&bvol(&old), new_size_gb).await {
        // Give the GiB back, as Cinder rolls back the reservation, and record the error.
        let recorded = retry_txn(&format!("volume {id}"), || async {
            let cur = svc.volumes.require(&id.to_string()).await?;
            let (cond, op, _) = svc
                .usage_step(
                    &old.project_id,
                    Delta { gigabytes: -((new_size_gb - old.size_gb) as i64), ..Delta::default() },
                    false,
                )
                .await?;
            let mut next = cur.value.clone();
            next.status = VolumeStatus::ErrorExtending;
            let txn = Txn::new()
                .when(cond)
                .when(svc.volumes.unchanged(&id.to_string(), cur.revision))
                .op(op)
                .op(svc.volumes.put_op(&id.to_string(), &next)?);
            Ok::<_, VolumeError>(svc.store.txn(txn).await?.is_committed().then_some(()))
        })
        .await;
        if let Err(failure) = recorded {
            tracing::error!(volume = %id, error = %ferrostack_core::http::error_chain(&failure), "the failed extend could not be recorded");
        }
        return Err(VolumeService::backend_err(b.as_ref(), "extend volume")(e));
    }
    let vol =
        svc.transition(id, &[VolumeStatus::Extending], back, |v| v.size_gb = new_size_gb).await?;
    if back == VolumeStatus::InUse
        && let Some(n) = &svc.notifier
    {
        let servers: Vec<ServerId> =
            svc.live_attachments(id).await?.iter().filter_map(|a| a.instance_uuid).collect();
        if let Err(e) = n.volume_extended(id, &servers, new_size_gb).await {
            tracing::error!(volume = %id, error = %ferrostack_core::http::error_chain(&*e), "the hypervisor was not told about the extend");
        }
    }
    Ok(vol)
}

pub(super) async fn retype(
    svc: &VolumeService,
    ctx: &RequestContext,
    id: &VolumeId,
    new_type: &str,
    policy: MigrationPolicy,
) -> Result<Volume, VolumeError> {
    let v = svc.visible_volume(ctx, id).await?.value;
    authorize("volume:retype", ctx, &VolumeService::target(&v.project_id))?;
    let t = svc.resolve_type(new_type).await?;
    if t.id == v.volume_type_id {
        return Err(VolumeError::InvalidInput("Retype requires a different volume type.".into()));
    }
    let cur = svc.backend_of(&v)?.clone();
    let states = svc.backend_states().await;
    let here = states.iter().find(|s| s.name == cur.name());
    let fits_here = here.is_some_and(|s| crate::scheduler::capabilities_filter(s, &t));
    if t.wants_multiattach() && !cur.capabilities().multiattach && fits_here {
        return Err(VolumeError::InvalidVolumeType("the backend cannot multiattach".into()));
    }
    if fits_here {
        return svc
            .transition(id, &[VolumeStatus::Available, VolumeStatus::InUse], v.status, |v| {
                v.volume_type_id = t.id;
                v.volume_type_name = t.name.clone();
                v.multiattach = v.multiattach || t.wants_multiattach();
            })
            .await;
    }
    if policy == MigrationPolicy::Never {
        return Err(VolumeError::InvalidVolume(
            "Retype needs volume migration but migration policy is 'never'.".into(),
        ));
    }
    // Migration: only between backends of the same kind, only when not attached.
    let same_kind: Vec<BackendState> =
        states.into_iter().filter(|s| s.kind == cur.kind() && s.name != cur.name()).collect();
    let target = select_backend(&same_kind, &t, v.size_gb)
        .map(|i| same_kind[i].name.clone())
        .ok_or_else(|| {
            VolumeError::NoValidBackend(format!(
                "No {} backend fits volume type {}.",
                cur.kind(),
                t.name
            ))
        })?;
    let dst_backend = svc.backend(&target)?.clone();
    let old =
        svc.transition(id, &[VolumeStatus::Available], VolumeStatus::Retyping, |_| {}).await?;
    let new_id = BackendVolume { id: old.id, size_gb: old.size_gb };
    if let Err(e) = svc.copy_between(&cur, &bvol(&old), &dst_backend, &new_id).await {
        svc.transition(id, &[VolumeStatus::Retyping], VolumeStatus::Available, |_| {}).await?;
        return Err(e);
    }
    let vol = svc
        .transition(id, &[VolumeStatus::Retyping], VolumeStatus::Available, |v| {
            v.volume_type_id = t.id;
            v.volume_type_name = t.name.clone();
            v.backend = Some(target.clone());
        })
        .await?;
    if let Err(e) = cur.delete_volume(&bvol(&old)).await {
        tracing::error!(volume = %id, error = %ferrostack_core::http::error_chain(&e), "retype: the old copy could not be deleted");
    }
    Ok(vol)
}

impl VolumeService {
    pub(super) async fn fill_volume(
        &self,
        ctx: &RequestContext,
        vol: &Volume,
        b: &Arc<dyn VolumeBackend>,
    ) -> Result<(), VolumeError> {
        let bv = bvol(vol);
        match &vol.source {
            VolumeSource::Blank => {
                b.create_volume(&bv).await.map_err(Self::backend_err(b.as_ref(), "create volume"))
            }
            VolumeSource::Snapshot { id } => {
                let snap = self.snapshots.require(&id.to_string()).await?.value;
                let src = self.volumes.require(&snap.volume_id.to_string()).await?.value;
                let bs = BackendSnapshot {
                    id: snap.id,
                    volume: BackendVolume { id: src.id, size_gb: snap.size_gb },
                };
                b.create_volume_from_snapshot(&bv, &bs)
                    .await
                    .map_err(Self::backend_err(b.as_ref(), "create a volume from a snapshot"))
            }
            VolumeSource::Volume { id } => {
                let src = self.volumes.require(&id.to_string()).await?.value;
                b.create_cloned_volume(&bv, &bvol(&src))
                    .await
                    .map_err(Self::backend_err(b.as_ref(), "clone a volume"))
            }
            VolumeSource::Image { id } => images::copy_to_volume(self, ctx, vol, b, id).await,
        }
    }

    pub(super) async fn run_create(
        &self,
        ctx: &RequestContext,
        vol: Volume,
    ) -> Result<Volume, VolumeError> {
        let Some(bname) = vol.backend.clone() else { return Ok(vol) };
        let b = self.backend(&bname)?.clone();
        match self.fill_volume(ctx, &vol, &b).await {
            Ok(()) => {
                self.transition(
                    &vol.id,
                    &[VolumeStatus::Creating, VolumeStatus::Downloading],
                    VolumeStatus::Available,
                    |_| {},
                )
                .await
            }
            Err(e) => {
                tracing::warn!(volume = %vol.id, error = %ferrostack_core::http::error_chain(&e), "volume creation failed");
                self.force_status(&vol.id, VolumeStatus::Error).await?;
                Err(e)
            }
        }
    }

    pub(super) async fn copy_between(
        &self,
        from: &Arc<dyn VolumeBackend>,
        src: &BackendVolume,
        to: &Arc<dyn VolumeBackend>,
        dst: &BackendVolume,
    ) -> Result<(), VolumeError> {
        to.create_volume(dst).await.map_err(Self::backend_err(to.as_ref(), "create volume"))?;
        let result = async {
            let data = from
                .copy_volume_to_image(src, DiskFormat::Raw)
                .await
                .map_err(Self::backend_err(from.as_ref(), "read the volume"))?;
            to.copy_image_to_volume(dst, DiskFormat::Raw, data)
                .await
                .map_err(Self::backend_err(to.as_ref(), "write the volume"))
        }
        .await;
        if result.is_err() {
            let _ = to.delete_volume(dst).await;
        }
        result
    }
}
