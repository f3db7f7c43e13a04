// SPDX-License-Identifier: Apache-2.0
//! [`VolumeService`]: the local implementation of [`VolumeApi`].
//!
//! Every state change is one store transaction whose conditions pin the documents it read
//! (the volume, its quota usage, the attachment), so two concurrent requests can never both
//! move a volume out of the same state: the loser re-reads and is refused with Cinder's
//! message. Backend calls happen between transactions, bracketed by transitional statuses
//! (`creating`, `extending`, `deleting`, ...), and every failure leaves either the previous
//! state or Cinder's error status, never a half-written record.
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | [`VolumeService`], its constructor and builders, the helpers every resource uses |
//! | `volumes.rs` | create (blank, from a snapshot or volume), show, list, update, delete, extend, retype |
//! | `images.rs` | create-from-image checks and copy, upload-to-image |
//! | `snapshots.rs` | snapshots |
//! | `types.rs` | volume types and the `__DEFAULT__` type |
//! | `attachments.rs` | the 3.27+ attachment flow |
//! | `quotas.rs` | limits, usage accounting, quota changes |

mod attachments;
mod images;
mod owned;
mod quotas;
mod snapshots;
#[cfg(test)]
mod tests;
mod types;
mod volumes;

pub use crate::api::{
    CreateVolume, CreateVolumeType, ListFilter, MigrationPolicy, QuotaUpdate, UpdateVolume,
    UploadToImage, UploadedImage, VolumeApi,
};

use crate::VolumeError;
use crate::backend::{BackendVolume, VolumeBackend};
use crate::image::{ImageSink, ImageSource};
use crate::policy::is_admin;
use crate::scheduler::BackendState;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::error::BoxError;
use ferrostack_core::id::{ProjectId, ServerId, SnapshotId, VolumeId};
use ferrostack_core::store::{Collection, Store, Versioned};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Told when an attached volume grew, so the hypervisor can resize the guest's disk (Nova's
/// `volume-extended` external event).
///
/// # Contract
///
/// Called after the backend grew the volume, once per online extend, with the servers of the
/// volume's live attachments; errors are logged, the extend stays done.
#[async_trait::async_trait]
pub trait ExtendNotifier: Send + Sync + std::fmt::Debug + 'static {
    /// The volume now has `new_size_gb` GiB.
    async fn volume_extended(
        &self,
        volume: &VolumeId,
        servers: &[ServerId],
        new_size_gb: u64,
    ) -> Result<(), BoxError>;
}

/// The local implementation of [`VolumeApi`] over a [`Store`] and [`VolumeBackend`]s.
#[derive(Debug)]
pub struct VolumeService {
    store: Arc<dyn Store>,
    volumes: Collection<Volume>,
    snapshots: Collection<Snapshot>,
    attachments: Collection<Attachment>,
    types: Collection<VolumeType>,
    quotas: Collection<QuotaLimits>,
    usage: Collection<QuotaUsage>,
    backends: Vec<Arc<dyn VolumeBackend>>,
    images: Option<Arc<dyn ImageSource>>,
    sink: Option<Arc<dyn ImageSink>>,
    notifier: Option<Arc<dyn ExtendNotifier>>,
    default_quota: QuotaLimits,
    availability_zone: String,
}

fn now() -> time::OffsetDateTime {
    ferrostack_core::time::now()
}

fn or_str(items: &[VolumeStatus]) -> String {
    items.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" or ")
}

fn check_text(field: &str, v: &Option<String>, max: usize) -> Result<(), VolumeError> {
    if let Some(s) = v
        && s.chars().count() > max
    {
        return Err(VolumeError::InvalidInput(format!(
            "{field} has {} characters, more than {max}",
            s.chars().count()
        )));
    }
    Ok(())
}

fn check_metadata(m: &BTreeMap<String, String>) -> Result<(), VolumeError> {
    if m.len() > 128 {
        return Err(VolumeError::InvalidInput("too many metadata items".into()));
    }
    for (k, v) in m {
        if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
            return Err(VolumeError::InvalidInput(
                "metadata keys must be 1 to 255 characters and values at most 255".into(),
            ));
        }
    }
    Ok(())
}

fn bvol(v: &Volume) -> BackendVolume {
    BackendVolume { id: v.id, size_gb: v.size_gb }
}

impl VolumeService {
    /// A service over `store` with `backends` (at least one), in availability zone `nova`
    /// (Cinder's default) with Cinder's default quotas.
    pub fn new(store: Arc<dyn Store>, backends: Vec<Arc<dyn VolumeBackend>>) -> Self {
        VolumeService {
            volumes: Collection::new(store.clone(), "volume/volumes/"),
            snapshots: Collection::new(store.clone(), "volume/snapshots/"),
            attachments: Collection::new(store.clone(), "volume/attachments/"),
            types: Collection::new(store.clone(), "volume/types/"),
            quotas: Collection::new(store.clone(), "volume/quotas/"),
            usage: Collection::new(store.clone(), "volume/usage/"),
            store,
            backends,
            images: None,
            sink: None,
            notifier: None,
            default_quota: QuotaLimits::default(),
            availability_zone: "nova".into(),
        }
    }

    /// Uses `source` for create-from-image.
    pub fn with_image_source(mut self, source: Arc<dyn ImageSource>) -> Self {
        self.images = Some(source);
        self
    }

    /// Uses `sink` for upload-to-image.
    pub fn with_image_sink(mut self, sink: Arc<dyn ImageSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Tells `notifier` about online extends.
    pub fn with_extend_notifier(mut self, notifier: Arc<dyn ExtendNotifier>) -> Self {
        self.notifier = Some(notifier);
        self
    }

    /// Uses `limits` as the default quotas.
    pub fn with_default_quotas(mut self, limits: QuotaLimits) -> Self {
        self.default_quota = limits;
        self
    }

    /// The availability zone reported for volumes.
    pub fn with_availability_zone(mut self, az: impl Into<String>) -> Self {
        self.availability_zone = az.into();
        self
    }

    fn backend(&self, name: &str) -> Result<&Arc<dyn VolumeBackend>, VolumeError> {
        self.backends
            .iter()
            .find(|b| b.name() == name)
            .ok_or_else(|| VolumeError::InvalidVolume(format!("backend {name} is not configured")))
    }

    fn backend_of(&self, v: &Volume) -> Result<&Arc<dyn VolumeBackend>, VolumeError> {
        let name = v
            .backend
            .as_deref()
            .ok_or_else(|| VolumeError::InvalidVolume(format!("volume {} has no backend", v.id)))?;
        self.backend(name)
    }

    fn backend_err(
        b: &dyn VolumeBackend,
        op: &'static str,
    ) -> impl FnOnce(crate::backend::BackendError) -> VolumeError {
        let backend = b.name().to_owned();
        move |source| VolumeError::Backend { backend, op, source }
    }

    fn visible(ctx: &RequestContext, project: &ProjectId) -> bool {
        is_admin(ctx) || ctx.project_id() == Some(project)
    }

    fn target(project: &ProjectId) -> serde_json::Value {
        json!({ "project_id": project.as_str() })
    }

    fn caller_project(ctx: &RequestContext) -> Result<ProjectId, VolumeError> {
        ctx.project_id()
            .cloned()
            .ok_or_else(|| VolumeError::InvalidInput("a project-scoped token is required".into()))
    }

    async fn visible_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
    ) -> Result<Versioned<Volume>, VolumeError> {
        match self.volumes.get(&id.to_string()).await? {
            Some(v) if Self::visible(ctx, &v.value.project_id) => Ok(v),
            _ => Err(VolumeError::volume_not_found(id)),
        }
    }

    async fn visible_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
    ) -> Result<Versioned<Snapshot>, VolumeError> {
        match self.snapshots.get(&id.to_string()).await? {
            Some(v) if Self::visible(ctx, &v.value.project_id) => Ok(v),
            _ => Err(VolumeError::snapshot_not_found(id)),
        }
    }

    async fn visible_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Versioned<Attachment>, VolumeError> {
        match self.attachments.get(&id.to_string()).await? {
            Some(v) if Self::visible(ctx, &v.value.project_id) => Ok(v),
            _ => Err(VolumeError::attachment_not_found(id)),
        }
    }

    /// Moves volume `id` to `to` if its status is in `from` (empty: any), applying `change`.
    async fn transition(
        &self,
        id: &VolumeId,
        from: &[VolumeStatus],
        to: VolumeStatus,
        change: impl Fn(&mut Volume) + Send + Sync,
    ) -> Result<Volume, VolumeError> {
        let updated = self
            .volumes
            .update_with::<VolumeError, _>(&id.to_string(), |v| {
                if !from.is_empty() && !from.contains(&v.status) {
                    return Err(VolumeError::InvalidVolume(format!(
                        "Volume {} status must be {}, but current status is: {}.",
                        v.id,
                        or_str(from),
                        v.status
                    )));
                }
                if v.status != to && !v.status.can_become(to) {
                    return Err(VolumeError::InvalidVolume(format!(
                        "Volume {} cannot go from {} to {}.",
                        v.id, v.status, to
                    )));
                }
                v.status = to;
                v.updated_at = Some(now());
                change(v);
                Ok(())
            })
            .await?;
        Ok(updated.value)
    }

    /// Sets a status without the legality check (recording an outcome, e.g. `error`).
    async fn force_status(&self, id: &VolumeId, to: VolumeStatus) -> Result<Volume, VolumeError> {
        Ok(self
            .volumes
            .update_with::<VolumeError, _>(&id.to_string(), |v| {
                v.status = to;
                v.updated_at = Some(now());
                Ok(())
            })
            .await?
            .value)
    }

    async fn backend_states(&self) -> Vec<BackendState> {
        let mut out = Vec::new();
        for b in &self.backends {
            match b.capacity().await {
                Ok(capacity) => out.push(BackendState {
                    name: b.name().to_owned(),
                    kind: b.kind(),
                    capabilities: b.capabilities(),
                    capacity,
                }),
                Err(e) => {
                    tracing::warn!(backend = b.name(), error = %ferrostack_core::http::error_chain(&e), "capacity report failed")
                }
            }
        }
        out
    }

    async fn live_attachments(&self, volume: &VolumeId) -> Result<Vec<Attachment>, VolumeError> {
        Ok(self
            .attachments
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|a| a.volume_id == *volume)
            .collect())
    }

    async fn volume_snapshots(&self, volume: &VolumeId) -> Result<Vec<Snapshot>, VolumeError> {
        Ok(self
            .snapshots
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|s| s.volume_id == *volume)
            .collect())
    }

    fn listed<T>(mut items: Vec<T>, filter: &ListFilter, id: impl Fn(&T) -> String) -> Vec<T> {
        if let Some(m) = &filter.marker
            && let Some(pos) = items.iter().position(|x| id(x) == *m)
        {
            items.drain(..=pos);
        }
        if let Some(l) = filter.limit {
            items.truncate(l);
        }
        items
    }
}

fn vol_with_error(v: &Volume) -> Volume {
    let mut v = v.clone();
    v.status = VolumeStatus::Error;
    v
}

#[async_trait::async_trait]
impl VolumeApi for VolumeService {
    async fn create_volume(
        &self,
        ctx: &RequestContext,
        req: CreateVolume,
    ) -> Result<Volume, VolumeError> {
        volumes::create(self, ctx, req).await
    }
    async fn get_volume(&self, ctx: &RequestContext, id: &VolumeId) -> Result<Volume, VolumeError> {
        volumes::get(self, ctx, id).await
    }
    async fn list_volumes(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Volume>, VolumeError> {
        volumes::list(self, ctx, filter).await
    }
    async fn update_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        change: UpdateVolume,
    ) -> Result<Volume, VolumeError> {
        volumes::update(self, ctx, id, change).await
    }
    async fn delete_volume(&self, ctx: &RequestContext, id: &VolumeId) -> Result<(), VolumeError> {
        volumes::delete(self, ctx, id).await
    }
    async fn extend_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        new_size_gb: u64,
    ) -> Result<Volume, VolumeError> {
        volumes::extend(self, ctx, id, new_size_gb).await
    }
    async fn retype_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        new_type: &str,
        policy: MigrationPolicy,
    ) -> Result<Volume, VolumeError> {
        volumes::retype(self, ctx, id, new_type, policy).await
    }
    async fn upload_to_image(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        req: UploadToImage,
    ) -> Result<UploadedImage, VolumeError> {
        images::upload(self, ctx, id, req).await
    }

    async fn create_snapshot(
        &self,
        ctx: &RequestContext,
        volume_id: &VolumeId,
        name: Option<String>,
        description: Option<String>,
        force: bool,
    ) -> Result<Snapshot, VolumeError> {
        snapshots::create(self, ctx, volume_id, name, description, force).await
    }
    async fn get_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
    ) -> Result<Snapshot, VolumeError> {
        snapshots::get(self, ctx, id).await
    }
    async fn list_snapshots(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Snapshot>, VolumeError> {
        snapshots::list(self, ctx, filter).await
    }
    async fn update_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
        change: UpdateVolume,
    ) -> Result<Snapshot, VolumeError> {
        snapshots::update(self, ctx, id, change).await
    }
    async fn delete_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
    ) -> Result<(), VolumeError> {
        snapshots::delete(self, ctx, id).await
    }

    async fn list_types(&self, ctx: &RequestContext) -> Result<Vec<VolumeType>, VolumeError> {
        types::list(self, ctx).await
    }
    async fn get_type(
        &self,
        ctx: &RequestContext,
        id_or_name: &str,
    ) -> Result<VolumeType, VolumeError> {
        types::get(self, ctx, id_or_name).await
    }
    async fn create_type(
        &self,
        ctx: &RequestContext,
        req: CreateVolumeType,
    ) -> Result<VolumeType, VolumeError> {
        types::create(self, ctx, req).await
    }
    async fn set_type_extra_specs(
        &self,
        ctx: &RequestContext,
        id: &VolumeTypeId,
        specs: BTreeMap<String, String>,
    ) -> Result<VolumeType, VolumeError> {
        types::set_extra_specs(self, ctx, id, specs).await
    }
    async fn delete_type(
        &self,
        ctx: &RequestContext,
        id: &VolumeTypeId,
    ) -> Result<(), VolumeError> {
        types::delete(self, ctx, id).await
    }

    async fn create_attachment(
        &self,
        ctx: &RequestContext,
        volume_id: &VolumeId,
        instance: Option<ServerId>,
        connector: Option<Connector>,
        mode: Option<String>,
    ) -> Result<Attachment, VolumeError> {
        attachments::create(self, ctx, volume_id, instance, connector, mode).await
    }
    async fn update_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
        connector: Connector,
    ) -> Result<Attachment, VolumeError> {
        attachments::update(self, ctx, id, connector).await
    }
    async fn complete_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Attachment, VolumeError> {
        attachments::complete(self, ctx, id).await
    }
    async fn delete_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Vec<Attachment>, VolumeError> {
        attachments::delete(self, ctx, id).await
    }
    async fn get_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Attachment, VolumeError> {
        attachments::get(self, ctx, id).await
    }
    async fn list_attachments(
        &self,
        ctx: &RequestContext,
        volume_id: Option<&VolumeId>,
        all_projects: bool,
    ) -> Result<Vec<Attachment>, VolumeError> {
        attachments::list(self, ctx, volume_id, all_projects).await
    }

    async fn get_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<(QuotaLimits, QuotaUsage), VolumeError> {
        quotas::get(self, ctx, project).await
    }
    fn default_quotas(&self) -> QuotaLimits {
        self.default_quota
    }
    async fn update_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        change: QuotaUpdate,
    ) -> Result<QuotaLimits, VolumeError> {
        quotas::update(self, ctx, project, change).await
    }
}
