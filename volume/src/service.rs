// SPDX-License-Identifier: Apache-2.0
//! [`VolumeApi`] and its local implementation [`VolumeService`].
//!
//! Every state change is one store transaction whose conditions pin the documents it read
//! (the volume, its quota usage, the attachment), so two concurrent requests can never both
//! move a volume out of the same state: the loser re-reads and is refused with Cinder's
//! message. Backend calls happen between transactions, bracketed by transitional statuses
//! (`creating`, `extending`, `deleting`, ...), and every failure leaves either the previous
//! state or Cinder's error status, never a half-written record.

use crate::VolumeError;
use crate::backend::{BackendSnapshot, BackendVolume, DiskFormat, GIB, VolumeBackend};
use crate::image::{ImageSink, ImageSource, NewImage};
use crate::policy::{authorize, is_admin};
use crate::scheduler::{BackendState, select_backend};
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::error::BoxError;
use ferrostack_core::id::{ImageId, ProjectId, ServerId, SnapshotId, VolumeId};
use ferrostack_core::store::{Collection, Condition, Op, Store, Txn};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

const MAX_RETRIES: usize = 256;
const TYPE_NAMES: &str = "volume/type-names/";

/// A request to create a volume (`POST /volumes`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateVolume {
    /// Display name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Size in GiB; defaults to the source's size.
    pub size_gb: Option<u64>,
    /// Volume type name or id; defaults to the source's type or `__DEFAULT__`.
    pub volume_type: Option<String>,
    /// Create from this snapshot.
    pub snapshot_id: Option<SnapshotId>,
    /// Clone this volume.
    pub source_volid: Option<VolumeId>,
    /// Fill from this image.
    pub image_id: Option<ImageId>,
    /// Allow several attachments at once (also implied by the type's `multiattach` spec).
    pub multiattach: bool,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// Availability zone; must be the service's zone when given.
    pub availability_zone: Option<String>,
}

/// Filters of `GET /volumes` and `GET /snapshots`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Exact name.
    pub name: Option<String>,
    /// Exact status (wire spelling).
    pub status: Option<String>,
    /// Admins only: every project's resources (`all_tenants`).
    pub all_projects: bool,
    /// Only resources after this id in the listing order.
    pub marker: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// A change to a volume or snapshot (`PUT`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateVolume {
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New metadata (replaces the old).
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `os-retype`'s `migration_policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MigrationPolicy {
    /// Refuse if the new type needs another backend (Cinder's default).
    #[default]
    Never,
    /// Move the data to a backend of the same kind that fits the new type.
    OnDemand,
}

/// A request to upload a volume to an image (`os-volume_upload_image`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadToImage {
    /// The image name.
    pub image_name: String,
    /// `raw` or `qcow2`.
    pub disk_format: DiskFormat,
    /// `bare`.
    pub container_format: String,
    /// Allow uploading an in-use volume.
    pub force: bool,
}

/// The result of an upload.
#[derive(Debug, Clone, PartialEq)]
pub struct UploadedImage {
    /// The new image.
    pub image_id: ImageId,
    /// Its name.
    pub image_name: String,
    /// Its disk format.
    pub disk_format: DiskFormat,
    /// Its container format.
    pub container_format: String,
    /// The volume after the upload.
    pub volume: Volume,
}

/// Changes to a project's quota limits; `None` leaves a limit unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QuotaUpdate {
    /// Volumes.
    pub volumes: Option<i64>,
    /// GiB.
    pub gigabytes: Option<i64>,
    /// Snapshots.
    pub snapshots: Option<i64>,
    /// Largest volume.
    pub per_volume_gigabytes: Option<i64>,
}

/// A request to create a volume type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateVolumeType {
    /// Unique name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Public (default) or private.
    pub is_public: bool,
    /// Extra specs.
    pub extra_specs: BTreeMap<String, String>,
}

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

/// Cinder's operations. Every method authorizes with Cinder's default policy and scopes to
/// the caller's project (other projects' resources are "not found" unless the caller is an
/// admin).
#[async_trait::async_trait]
pub trait VolumeApi: Send + Sync + std::fmt::Debug + 'static {
    /// Creates a volume (blank, from a snapshot, a volume or an image).
    async fn create_volume(
        &self,
        ctx: &RequestContext,
        req: CreateVolume,
    ) -> Result<Volume, VolumeError>;
    /// A volume.
    async fn get_volume(&self, ctx: &RequestContext, id: &VolumeId) -> Result<Volume, VolumeError>;
    /// Volumes, newest first.
    async fn list_volumes(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Volume>, VolumeError>;
    /// Renames, describes, sets metadata.
    async fn update_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        change: UpdateVolume,
    ) -> Result<Volume, VolumeError>;
    /// Deletes a volume (refused while attached or with snapshots).
    async fn delete_volume(&self, ctx: &RequestContext, id: &VolumeId) -> Result<(), VolumeError>;
    /// Grows a volume (online when in-use).
    async fn extend_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        new_size_gb: u64,
    ) -> Result<Volume, VolumeError>;
    /// Changes a volume's type.
    async fn retype_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        new_type: &str,
        policy: MigrationPolicy,
    ) -> Result<Volume, VolumeError>;
    /// Uploads a volume to a new image.
    async fn upload_to_image(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        req: UploadToImage,
    ) -> Result<UploadedImage, VolumeError>;

    /// Takes a snapshot (`force` allows in-use volumes).
    async fn create_snapshot(
        &self,
        ctx: &RequestContext,
        volume_id: &VolumeId,
        name: Option<String>,
        description: Option<String>,
        force: bool,
    ) -> Result<Snapshot, VolumeError>;
    /// A snapshot.
    async fn get_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
    ) -> Result<Snapshot, VolumeError>;
    /// Snapshots, newest first.
    async fn list_snapshots(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Snapshot>, VolumeError>;
    /// Renames or describes a snapshot.
    async fn update_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
        change: UpdateVolume,
    ) -> Result<Snapshot, VolumeError>;
    /// Deletes a snapshot.
    async fn delete_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
    ) -> Result<(), VolumeError>;

    /// Volume types visible to the caller.
    async fn list_types(&self, ctx: &RequestContext) -> Result<Vec<VolumeType>, VolumeError>;
    /// A volume type by id or name.
    async fn get_type(
        &self,
        ctx: &RequestContext,
        id_or_name: &str,
    ) -> Result<VolumeType, VolumeError>;
    /// Creates a volume type (admin).
    async fn create_type(
        &self,
        ctx: &RequestContext,
        req: CreateVolumeType,
    ) -> Result<VolumeType, VolumeError>;
    /// Sets extra specs of a type (admin).
    async fn set_type_extra_specs(
        &self,
        ctx: &RequestContext,
        id: &VolumeTypeId,
        specs: BTreeMap<String, String>,
    ) -> Result<VolumeType, VolumeError>;
    /// Deletes a type (admin; refused while volumes use it).
    async fn delete_type(&self, ctx: &RequestContext, id: &VolumeTypeId)
    -> Result<(), VolumeError>;

    /// Reserves a volume for `instance` (attachment `reserved`, volume `reserved`); with a
    /// connector, continues as [`VolumeApi::update_attachment`].
    async fn create_attachment(
        &self,
        ctx: &RequestContext,
        volume_id: &VolumeId,
        instance: Option<ServerId>,
        connector: Option<Connector>,
        mode: Option<String>,
    ) -> Result<Attachment, VolumeError>;
    /// Exports the volume for the connector and returns the attachment with its connection
    /// info (attachment and volume `attaching`).
    async fn update_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
        connector: Connector,
    ) -> Result<Attachment, VolumeError>;
    /// Marks the attachment `attached` and the volume `in-use`.
    async fn complete_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Attachment, VolumeError>;
    /// Removes the attachment (terminating the connection and export if there is one) and
    /// returns the volume's remaining attachments.
    async fn delete_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Vec<Attachment>, VolumeError>;
    /// An attachment.
    async fn get_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Attachment, VolumeError>;
    /// Attachments visible to the caller, optionally of one volume.
    async fn list_attachments(
        &self,
        ctx: &RequestContext,
        volume_id: Option<&VolumeId>,
        all_projects: bool,
    ) -> Result<Vec<Attachment>, VolumeError>;

    /// A project's quota limits.
    async fn get_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<(QuotaLimits, QuotaUsage), VolumeError>;
    /// The default quota limits.
    fn default_quotas(&self) -> QuotaLimits;
    /// Changes a project's quota limits (admin).
    async fn update_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        change: QuotaUpdate,
    ) -> Result<QuotaLimits, VolumeError>;
}

#[derive(Debug, Clone, Copy, Default)]
struct Delta {
    volumes: i64,
    gigabytes: i64,
    snapshots: i64,
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
    ) -> Result<ferrostack_core::store::Versioned<Volume>, VolumeError> {
        match self.volumes.get(&id.to_string()).await? {
            Some(v) if Self::visible(ctx, &v.value.project_id) => Ok(v),
            _ => Err(VolumeError::volume_not_found(id)),
        }
    }

    async fn visible_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
    ) -> Result<ferrostack_core::store::Versioned<Snapshot>, VolumeError> {
        match self.snapshots.get(&id.to_string()).await? {
            Some(v) if Self::visible(ctx, &v.value.project_id) => Ok(v),
            _ => Err(VolumeError::snapshot_not_found(id)),
        }
    }

    async fn visible_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<ferrostack_core::store::Versioned<Attachment>, VolumeError> {
        match self.attachments.get(&id.to_string()).await? {
            Some(v) if Self::visible(ctx, &v.value.project_id) => Ok(v),
            _ => Err(VolumeError::attachment_not_found(id)),
        }
    }

    async fn limits(&self, project: &ProjectId) -> Result<QuotaLimits, VolumeError> {
        Ok(self.quotas.get(project.as_str()).await?.map(|v| v.value).unwrap_or(self.default_quota))
    }

    /// Reads `project`'s usage, checks `d` against its limits when `enforce`, and returns the
    /// condition pinning the usage read and the op writing the new usage.
    async fn usage_step(
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

    async fn check_per_volume(&self, project: &ProjectId, size: u64) -> Result<(), VolumeError> {
        let l = self.limits(project).await?;
        if l.per_volume_gigabytes >= 0 && size as i64 > l.per_volume_gigabytes {
            return Err(VolumeError::QuotaExceeded(format!(
                "Requested volume size {size}G is larger than maximum allowed limit {}G.",
                l.per_volume_gigabytes
            )));
        }
        Ok(())
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

    async fn default_type(&self) -> Result<VolumeType, VolumeError> {
        if let Some(t) = self.type_by_name(DEFAULT_TYPE_NAME).await? {
            return Ok(t);
        }
        let t = VolumeType {
            id: VolumeTypeId::new(),
            name: DEFAULT_TYPE_NAME.into(),
            description: Some("Default Volume Type".into()),
            is_public: true,
            extra_specs: BTreeMap::new(),
        };
        match self.insert_type(&t).await {
            Ok(()) => Ok(t),
            Err(VolumeError::AlreadyExists(_)) => self
                .type_by_name(DEFAULT_TYPE_NAME)
                .await?
                .ok_or_else(|| VolumeError::Conflict("the default volume type is changing".into())),
            Err(e) => Err(e),
        }
    }

    async fn insert_type(&self, t: &VolumeType) -> Result<(), VolumeError> {
        let index = format!("{TYPE_NAMES}{}", t.name);
        let txn = Txn::new()
            .when(Condition::absent(&index))
            .when(self.types.absent(&t.id.to_string()))
            .put(&index, t.id.to_string().into_bytes())
            .op(self.types.put_op(&t.id.to_string(), t)?);
        if self.store.txn(txn).await?.is_committed() {
            Ok(())
        } else {
            Err(VolumeError::AlreadyExists(format!("Volume Type {} already exists.", t.name)))
        }
    }

    async fn type_by_name(&self, name: &str) -> Result<Option<VolumeType>, VolumeError> {
        if name.is_empty() || name.len() > 255 || name.contains('\0') {
            return Ok(None);
        }
        let Some(kv) = self.store.get(&format!("{TYPE_NAMES}{name}")).await? else {
            return Ok(None);
        };
        let id = String::from_utf8_lossy(&kv.value).into_owned();
        Ok(self.types.get(&id).await?.map(|v| v.value))
    }

    async fn resolve_type(&self, id_or_name: &str) -> Result<VolumeType, VolumeError> {
        if let Ok(id) = id_or_name.parse::<VolumeTypeId>()
            && let Some(t) = self.types.get(&id.to_string()).await?
        {
            return Ok(t.value);
        }
        if id_or_name == DEFAULT_TYPE_NAME {
            return self.default_type().await;
        }
        self.type_by_name(id_or_name).await?.ok_or_else(|| VolumeError::NotFound {
            kind: "Volume type with name",
            id: ferrostack_core::id::truncate_for_message(id_or_name),
        })
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
                Err(e) => tracing::warn!(backend = b.name(), error = %e, "capacity report failed"),
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

    async fn fill_volume(
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
            VolumeSource::Image { id } => {
                let images = self.images.as_ref().ok_or_else(|| {
                    VolumeError::NotSupported("no image service is configured".into())
                })?;
                let meta = images.image(ctx, id).await?;
                let format =
                    meta.disk_format.as_deref().and_then(DiskFormat::parse).ok_or_else(|| {
                        VolumeError::InvalidInput("unsupported disk format".into())
                    })?;
                b.create_volume(&bv)
                    .await
                    .map_err(Self::backend_err(b.as_ref(), "create volume"))?;
                self.transition(
                    &vol.id,
                    &[VolumeStatus::Creating],
                    VolumeStatus::Downloading,
                    |_| {},
                )
                .await?;
                let data = images.download(ctx, id).await?;
                b.copy_image_to_volume(&bv, format, data)
                    .await
                    .map_err(Self::backend_err(b.as_ref(), "copy the image to the volume"))
            }
        }
    }

    async fn run_create(&self, ctx: &RequestContext, vol: Volume) -> Result<Volume, VolumeError> {
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

    async fn attachment_rollback(
        b: &Arc<dyn VolumeBackend>,
        bv: &BackendVolume,
        id: &AttachmentId,
        connector: &Connector,
    ) {
        if let Err(e) = b.terminate_connection(bv, id, connector).await {
            tracing::error!(attachment = %id, error = %e, "rollback: terminate_connection failed");
        }
        if let Err(e) = b.remove_export(bv, id).await {
            tracing::error!(attachment = %id, error = %e, "rollback: remove_export failed; export leaked");
        }
    }

    async fn copy_between(
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

#[async_trait::async_trait]
impl VolumeApi for VolumeService {
    async fn create_volume(
        &self,
        ctx: &RequestContext,
        req: CreateVolume,
    ) -> Result<Volume, VolumeError> {
        let project = Self::caller_project(ctx)?;
        authorize("volume:create", ctx, &Self::target(&project))?;
        check_text("name", &req.name, MAX_NAME_LEN)?;
        check_text("description", &req.description, MAX_DESCRIPTION_LEN)?;
        check_metadata(&req.metadata)?;
        if let Some(az) = &req.availability_zone
            && *az != self.availability_zone
        {
            return Err(VolumeError::InvalidInput(format!(
                "Availability zone '{}' is invalid.",
                ferrostack_core::id::truncate_for_message(az)
            )));
        }
        let sources =
            [req.snapshot_id.is_some(), req.source_volid.is_some(), req.image_id.is_some()]
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
            let snap = self.visible_snapshot(ctx, sid).await?.value;
            if snap.status != SnapshotStatus::Available {
                return Err(VolumeError::InvalidSnapshot(
                    "Originating snapshot status must be one of 'available' values".into(),
                ));
            }
            let src = self.volumes.require(&snap.volume_id.to_string()).await?.value;
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
            let src = self.visible_volume(ctx, vid).await?.value;
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
            authorize("volume:create_from_image", ctx, &Self::target(&project))?;
            let images = self.images.as_ref().ok_or_else(|| {
                VolumeError::NotSupported("creating volumes from images is not configured".into())
            })?;
            let meta = images.image(ctx, iid).await?;
            if meta.status != "active" {
                return Err(VolumeError::InvalidInput(format!("Image {iid} is not active.")));
            }
            let fmt = meta.disk_format.clone().unwrap_or_default();
            if DiskFormat::parse(&fmt).is_none() {
                return Err(VolumeError::InvalidInput(format!(
                    "Image {iid} has disk format {fmt:?}; only raw and qcow2 can be copied to volumes."
                )));
            }
            let image_gb = meta.size.unwrap_or(0).div_ceil(GIB).max(1);
            if let Some(s) = req.size_gb {
                if fmt == "raw" && s < image_gb {
                    return Err(VolumeError::InvalidInput(format!(
                        "Size of specified image {image_gb}GB is larger than volume size {s}GB."
                    )));
                }
                if s < meta.min_disk {
                    return Err(VolumeError::InvalidInput(format!(
                        "Volume size {s}GB cannot be smaller than the image minDisk size {}GB.",
                        meta.min_disk
                    )));
                }
            }
            min_size = meta.min_disk.max(if fmt == "raw" { image_gb } else { 1 });
            bootable = true;
            image_metadata.insert("image_id".into(), iid.to_string());
            image_metadata.insert("image_name".into(), meta.name.clone());
            image_metadata.insert("disk_format".into(), fmt);
            if let Some(c) = &meta.container_format {
                image_metadata.insert("container_format".into(), c.clone());
            }
            image_metadata.insert("min_disk".into(), meta.min_disk.to_string());
            image_metadata.insert("size".into(), meta.size.unwrap_or(0).to_string());
            source = VolumeSource::Image { id: *iid };
        } else if req.size_gb.is_none() {
            return Err(VolumeError::InvalidInput(
                "Size must be specified when creating a volume without a source".into(),
            ));
        }
        let size = req.size_gb.unwrap_or(min_size);
        let vtype = match (&req.volume_type, inherited_type) {
            (Some(t), _) => self.resolve_type(t).await?,
            (None, Some(id)) => match self.types.get(&id.to_string()).await? {
                Some(t) => t.value,
                None => self.default_type().await?,
            },
            (None, None) => self.default_type().await?,
        };
        let multiattach = req.multiattach || vtype.wants_multiattach();
        if multiattach {
            authorize("volume:multiattach", ctx, &Self::target(&project))?;
        }
        self.check_per_volume(&project, size).await?;

        // Backend: the source's, or the scheduler's pick.
        let backend = match pinned_backend {
            Some(name) => {
                let b = self.backend(&name)?;
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
                let states = self.backend_states().await;
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
            availability_zone: self.availability_zone.clone(),
            created_at: now(),
            updated_at: None,
            image_metadata,
        };
        for _ in 0..MAX_RETRIES {
            let (cond, op, _) = self
                .usage_step(
                    &project,
                    Delta { volumes: 1, gigabytes: size as i64, snapshots: 0 },
                    true,
                )
                .await?;
            let mut txn = Txn::new()
                .when(cond)
                .when(self.volumes.absent(&vol.id.to_string()))
                .op(op)
                .op(self.volumes.put_op(&vol.id.to_string(), &vol)?);
            // A snapshot or source volume must still be there when the copy is recorded.
            match &vol.source {
                VolumeSource::Snapshot { id } => {
                    txn = txn.when(Condition::exists(self.snapshots.key(&id.to_string())))
                }
                VolumeSource::Volume { id } => {
                    txn = txn.when(Condition::exists(self.volumes.key(&id.to_string())))
                }
                _ => {}
            }
            if self.store.txn(txn).await?.is_committed() {
                if vol.backend.is_none() {
                    tracing::warn!(volume = %vol.id, "no valid backend was found");
                    return Ok(vol);
                }
                let errored = vol_with_error(&vol);
                return self.run_create(ctx, vol).await.or_else(|e| match e {
                    // The record is in `error`, as Cinder leaves it; the API still answers 202.
                    VolumeError::Backend { .. } => Ok(errored),
                    other => Err(other),
                });
            }
        }
        Err(VolumeError::Conflict("too many concurrent changes; retry".into()))
    }

    async fn get_volume(&self, ctx: &RequestContext, id: &VolumeId) -> Result<Volume, VolumeError> {
        let v = self.visible_volume(ctx, id).await?.value;
        authorize("volume:get", ctx, &Self::target(&v.project_id))?;
        Ok(v)
    }

    async fn list_volumes(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Volume>, VolumeError> {
        let all = filter.all_projects && is_admin(ctx);
        let project = ctx.project_id().cloned();
        if let Some(p) = &project {
            authorize("volume:get_all", ctx, &Self::target(p))?;
        } else if !all {
            return Err(VolumeError::Forbidden("volume:get_all".into()));
        }
        let mut items: Vec<Volume> = self
            .volumes
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|v| all || Some(&v.project_id) == project.as_ref())
            .filter(|v| filter.name.as_ref().is_none_or(|n| v.name.as_ref() == Some(n)))
            .filter(|v| filter.status.as_ref().is_none_or(|s| v.status.as_str() == s))
            .collect();
        items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(Self::listed(items, filter, |v| v.id.to_string()))
    }

    async fn update_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        change: UpdateVolume,
    ) -> Result<Volume, VolumeError> {
        let v = self.visible_volume(ctx, id).await?.value;
        authorize("volume:update", ctx, &Self::target(&v.project_id))?;
        check_text("name", &change.name, MAX_NAME_LEN)?;
        check_text("description", &change.description, MAX_DESCRIPTION_LEN)?;
        if let Some(m) = &change.metadata {
            check_metadata(m)?;
        }
        Ok(self
            .volumes
            .update_with::<VolumeError, _>(&id.to_string(), |v| {
                if let Some(n) = &change.name {
                    v.name = Some(n.clone());
                }
                if let Some(d) = &change.description {
                    v.description = Some(d.clone());
                }
                if let Some(m) = &change.metadata {
                    v.metadata = m.clone();
                }
                v.updated_at = Some(now());
                Ok(())
            })
            .await?
            .value)
    }

    async fn delete_volume(&self, ctx: &RequestContext, id: &VolumeId) -> Result<(), VolumeError> {
        let v = self.visible_volume(ctx, id).await?.value;
        authorize("volume:delete", ctx, &Self::target(&v.project_id))?;
        const DELETABLE: [VolumeStatus; 3] =
            [VolumeStatus::Available, VolumeStatus::Error, VolumeStatus::ErrorExtending];
        let mut marked = None;
        for _ in 0..MAX_RETRIES {
            let cur = self.visible_volume(ctx, id).await?;
            let snaps = self.volume_snapshots(id).await?;
            let attached = !self.live_attachments(id).await?.is_empty();
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
                .when(self.volumes.unchanged(&id.to_string(), cur.revision))
                .op(self.volumes.put_op(&id.to_string(), &next)?);
            if self.store.txn(txn).await?.is_committed() {
                marked = Some(next);
                break;
            }
        }
        let Some(vol) = marked else {
            return Err(VolumeError::Conflict("too many concurrent changes; retry".into()));
        };
        if vol.backend.is_some() {
            let b = self.backend_of(&vol)?.clone();
            if let Err(e) = b.delete_volume(&bvol(&vol)).await {
                self.force_status(id, VolumeStatus::ErrorDeleting).await?;
                return Err(Self::backend_err(b.as_ref(), "delete volume")(e));
            }
        }
        for _ in 0..MAX_RETRIES {
            let cur = self.volumes.require(&id.to_string()).await?;
            let (cond, op, _) = self
                .usage_step(
                    &vol.project_id,
                    Delta { volumes: -1, gigabytes: -(cur.value.size_gb as i64), snapshots: 0 },
                    false,
                )
                .await?;
            let txn = Txn::new()
                .when(cond)
                .when(self.volumes.unchanged(&id.to_string(), cur.revision))
                .op(op)
                .op(self.volumes.delete_op(&id.to_string()));
            if self.store.txn(txn).await?.is_committed() {
                return Ok(());
            }
        }
        Err(VolumeError::Conflict("too many concurrent changes; retry".into()))
    }

    async fn extend_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        new_size_gb: u64,
    ) -> Result<Volume, VolumeError> {
        let v = self.visible_volume(ctx, id).await?.value;
        let online = v.status == VolumeStatus::InUse;
        authorize(
            if online { "volume:extend_attached_volume" } else { "volume:extend" },
            ctx,
            &Self::target(&v.project_id),
        )?;
        if new_size_gb > MAX_SIZE_GB {
            return Err(VolumeError::InvalidInput(format!(
                "Volume size '{new_size_gb}' must be an integer and greater than 0"
            )));
        }
        let mut prior = None;
        for _ in 0..MAX_RETRIES {
            let cur = self.visible_volume(ctx, id).await?;
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
            let b = self.backend_of(vol)?;
            if vol.status == VolumeStatus::InUse {
                if !b.capabilities().online_extend {
                    return Err(VolumeError::InvalidVolume(format!(
                        "the backend of volume {} cannot extend attached volumes",
                        vol.id
                    )));
                }
                if self.notifier.is_none() {
                    return Err(VolumeError::InvalidVolume(
                        "extending an attached volume needs a compute service to notify".into(),
                    ));
                }
            }
            self.check_per_volume(&vol.project_id, new_size_gb).await?;
            let delta = (new_size_gb - vol.size_gb) as i64;
            let (cond, op, _) = self
                .usage_step(&vol.project_id, Delta { gigabytes: delta, ..Delta::default() }, true)
                .await?;
            let mut next = vol.clone();
            next.status = VolumeStatus::Extending;
            next.updated_at = Some(now());
            let txn = Txn::new()
                .when(cond)
                .when(self.volumes.unchanged(&id.to_string(), cur.revision))
                .op(op)
                .op(self.volumes.put_op(&id.to_string(), &next)?);
            if self.store.txn(txn).await?.is_committed() {
                prior = Some(vol.clone());
                break;
            }
        }
        let Some(old) = prior else {
            return Err(VolumeError::Conflict("too many concurrent changes; retry".into()));
        };
        let b = self.backend_of(&old)?.clone();
        let back = old.status;
        if let Err(e) = b.extend_volume(&bvol(&old), new_size_gb).await {
            // Give the GiB back, as Cinder rolls back the reservation, and record the error.
            for _ in 0..MAX_RETRIES {
                let cur = self.volumes.require(&id.to_string()).await?;
                let (cond, op, _) = self
                    .usage_step(
                        &old.project_id,
                        Delta {
                            gigabytes: -((new_size_gb - old.size_gb) as i64),
                            ..Delta::default()
                        },
                        false,
                    )
                    .await?;
                let mut next = cur.value.clone();
                next.status = VolumeStatus::ErrorExtending;
                let txn = Txn::new()
                    .when(cond)
                    .when(self.volumes.unchanged(&id.to_string(), cur.revision))
                    .op(op)
                    .op(self.volumes.put_op(&id.to_string(), &next)?);
                if self.store.txn(txn).await?.is_committed() {
                    break;
                }
            }
            return Err(Self::backend_err(b.as_ref(), "extend volume")(e));
        }
        let vol = self
            .transition(id, &[VolumeStatus::Extending], back, |v| v.size_gb = new_size_gb)
            .await?;
        if back == VolumeStatus::InUse
            && let Some(n) = &self.notifier
        {
            let servers: Vec<ServerId> =
                self.live_attachments(id).await?.iter().filter_map(|a| a.instance_uuid).collect();
            if let Err(e) = n.volume_extended(id, &servers, new_size_gb).await {
                tracing::error!(volume = %id, error = %e, "the hypervisor was not told about the extend");
            }
        }
        Ok(vol)
    }

    async fn retype_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        new_type: &str,
        policy: MigrationPolicy,
    ) -> Result<Volume, VolumeError> {
        let v = self.visible_volume(ctx, id).await?.value;
        authorize("volume:retype", ctx, &Self::target(&v.project_id))?;
        let t = self.resolve_type(new_type).await?;
        if t.id == v.volume_type_id {
            return Err(VolumeError::InvalidInput(
                "Retype requires a different volume type.".into(),
            ));
        }
        let cur = self.backend_of(&v)?.clone();
        let states = self.backend_states().await;
        let here = states.iter().find(|s| s.name == cur.name());
        let fits_here = here.is_some_and(|s| crate::scheduler::capabilities_filter(s, &t));
        if t.wants_multiattach() && !cur.capabilities().multiattach && fits_here {
            return Err(VolumeError::InvalidVolumeType("the backend cannot multiattach".into()));
        }
        if fits_here {
            return self
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
        let dst_backend = self.backend(&target)?.clone();
        let old =
            self.transition(id, &[VolumeStatus::Available], VolumeStatus::Retyping, |_| {}).await?;
        let new_id = BackendVolume { id: old.id, size_gb: old.size_gb };
        if let Err(e) = self.copy_between(&cur, &bvol(&old), &dst_backend, &new_id).await {
            self.transition(id, &[VolumeStatus::Retyping], VolumeStatus::Available, |_| {}).await?;
            return Err(e);
        }
        let vol = self
            .transition(id, &[VolumeStatus::Retyping], VolumeStatus::Available, |v| {
                v.volume_type_id = t.id;
                v.volume_type_name = t.name.clone();
                v.backend = Some(target.clone());
            })
            .await?;
        if let Err(e) = cur.delete_volume(&bvol(&old)).await {
            tracing::error!(volume = %id, error = %e, "retype: the old copy could not be deleted");
        }
        Ok(vol)
    }

    async fn upload_to_image(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        req: UploadToImage,
    ) -> Result<UploadedImage, VolumeError> {
        let v = self.visible_volume(ctx, id).await?.value;
        authorize(
            "volume_extension:volume_actions:upload_image",
            ctx,
            &Self::target(&v.project_id),
        )?;
        if req.image_name.is_empty() || req.image_name.chars().count() > 255 {
            return Err(VolumeError::InvalidInput("image_name must be 1 to 255 characters".into()));
        }
        let sink = self.sink.clone().ok_or_else(|| {
            VolumeError::NotSupported("uploading to images is not configured".into())
        })?;
        let allowed: &[VolumeStatus] = if req.force {
            &[VolumeStatus::Available, VolumeStatus::InUse]
        } else {
            &[VolumeStatus::Available]
        };
        let before = self.transition(id, allowed, VolumeStatus::Uploading, |_| {}).await?;
        let attached = self
            .live_attachments(id)
            .await?
            .iter()
            .any(|a| a.attach_status == AttachStatus::Attached);
        let back = if attached { VolumeStatus::InUse } else { VolumeStatus::Available };
        let result = async {
            let b = self.backend_of(&before)?.clone();
            let mut props = BTreeMap::new();
            props.insert("volume_id".into(), id.to_string());
            let image = sink
                .create(
                    ctx,
                    &NewImage {
                        name: req.image_name.clone(),
                        disk_format: req.disk_format.as_str().into(),
                        container_format: req.container_format.clone(),
                        properties: props,
                    },
                )
                .await?;
            let data = b
                .copy_volume_to_image(&bvol(&before), req.disk_format)
                .await
                .map_err(Self::backend_err(b.as_ref(), "read the volume"))?;
            sink.upload(ctx, &image.id, data).await?;
            Ok::<_, VolumeError>(image.id)
        }
        .await;
        let vol = self.transition(id, &[VolumeStatus::Uploading], back, |_| {}).await?;
        let image_id = result?;
        Ok(UploadedImage {
            image_id,
            image_name: req.image_name,
            disk_format: req.disk_format,
            container_format: req.container_format,
            volume: vol,
        })
    }

    async fn create_snapshot(
        &self,
        ctx: &RequestContext,
        volume_id: &VolumeId,
        name: Option<String>,
        description: Option<String>,
        force: bool,
    ) -> Result<Snapshot, VolumeError> {
        let v = self.visible_volume(ctx, volume_id).await?.value;
        authorize("volume:create_snapshot", ctx, &Self::target(&v.project_id))?;
        check_text("name", &name, MAX_NAME_LEN)?;
        check_text("description", &description, MAX_DESCRIPTION_LEN)?;
        let mut created = None;
        for _ in 0..MAX_RETRIES {
            let cur = self.visible_volume(ctx, volume_id).await?;
            let vol = &cur.value;
            let ok = vol.status == VolumeStatus::Available
                || (force && vol.status == VolumeStatus::InUse);
            if !ok {
                return Err(VolumeError::InvalidVolume(format!(
                    "Volume {} status must be available, but current status is: {}.",
                    vol.id, vol.status
                )));
            }
            let b = self.backend_of(vol)?;
            if !b.capabilities().snapshots {
                return Err(VolumeError::InvalidVolume(format!(
                    "the backend of volume {} does not support snapshots",
                    vol.id
                )));
            }
            let (cond, op, _) = self
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
                .when(self.volumes.unchanged(&vol.id.to_string(), cur.revision))
                .op(op)
                .op(self.volumes.put_op(&vol.id.to_string(), &touched)?)
                .op(self.snapshots.put_op(&snap.id.to_string(), &snap)?);
            if self.store.txn(txn).await?.is_committed() {
                created = Some((snap, vol.clone()));
                break;
            }
        }
        let Some((snap, vol)) = created else {
            return Err(VolumeError::Conflict("too many concurrent changes; retry".into()));
        };
        let b = self.backend_of(&vol)?.clone();
        let bs = BackendSnapshot { id: snap.id, volume: bvol(&vol) };
        let outcome = b.create_snapshot(&bs).await;
        let status =
            if outcome.is_ok() { SnapshotStatus::Available } else { SnapshotStatus::Error };
        let saved = self
            .snapshots
            .update_with::<VolumeError, _>(&snap.id.to_string(), |s| {
                s.status = status;
                s.updated_at = Some(now());
                Ok(())
            })
            .await?
            .value;
        if let Err(e) = outcome {
            tracing::warn!(snapshot = %snap.id, error = %e, "snapshot failed");
            if matches!(
                e,
                crate::backend::BackendError::NotSupported { .. }
                    | crate::backend::BackendError::Invalid(_)
            ) {
                return Err(Self::backend_err(b.as_ref(), "create snapshot")(e));
            }
        }
        Ok(saved)
    }

    async fn get_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
    ) -> Result<Snapshot, VolumeError> {
        let s = self.visible_snapshot(ctx, id).await?.value;
        authorize("volume:get_snapshot", ctx, &Self::target(&s.project_id))?;
        Ok(s)
    }

    async fn list_snapshots(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Snapshot>, VolumeError> {
        let all = filter.all_projects && is_admin(ctx);
        let project = ctx.project_id().cloned();
        if let Some(p) = &project {
            authorize("volume:get_all_snapshots", ctx, &Self::target(p))?;
        } else if !all {
            return Err(VolumeError::Forbidden("volume:get_all_snapshots".into()));
        }
        let mut items: Vec<Snapshot> = self
            .snapshots
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|v| all || Some(&v.project_id) == project.as_ref())
            .filter(|v| filter.name.as_ref().is_none_or(|n| v.name.as_ref() == Some(n)))
            .filter(|v| filter.status.as_ref().is_none_or(|s| v.status.as_str() == s))
            .collect();
        items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        Ok(Self::listed(items, filter, |v| v.id.to_string()))
    }

    async fn update_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
        change: UpdateVolume,
    ) -> Result<Snapshot, VolumeError> {
        let s = self.visible_snapshot(ctx, id).await?.value;
        authorize("volume:update_snapshot", ctx, &Self::target(&s.project_id))?;
        check_text("name", &change.name, MAX_NAME_LEN)?;
        check_text("description", &change.description, MAX_DESCRIPTION_LEN)?;
        if let Some(m) = &change.metadata {
            check_metadata(m)?;
        }
        Ok(self
            .snapshots
            .update_with::<VolumeError, _>(&id.to_string(), |s| {
                if let Some(n) = &change.name {
                    s.name = Some(n.clone());
                }
                if let Some(d) = &change.description {
                    s.description = Some(d.clone());
                }
                if let Some(m) = &change.metadata {
                    s.metadata = m.clone();
                }
                s.updated_at = Some(now());
                Ok(())
            })
            .await?
            .value)
    }

    async fn delete_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
    ) -> Result<(), VolumeError> {
        let s = self.visible_snapshot(ctx, id).await?.value;
        authorize("volume:delete_snapshot", ctx, &Self::target(&s.project_id))?;
        let snap = self
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
        let vol = self.volumes.require(&snap.volume_id.to_string()).await?.value;
        let b = self.backend_of(&vol)?.clone();
        let bs = BackendSnapshot {
            id: snap.id,
            volume: BackendVolume { id: vol.id, size_gb: snap.size_gb },
        };
        if let Err(e) = b.delete_snapshot(&bs).await {
            self.snapshots
                .update_with::<VolumeError, _>(&id.to_string(), |s| {
                    s.status = SnapshotStatus::ErrorDeleting;
                    Ok(())
                })
                .await?;
            return Err(Self::backend_err(b.as_ref(), "delete snapshot")(e));
        }
        for _ in 0..MAX_RETRIES {
            let cur = self.snapshots.require(&id.to_string()).await?;
            let (cond, op, _) = self
                .usage_step(
                    &snap.project_id,
                    Delta { snapshots: -1, gigabytes: -(snap.size_gb as i64), volumes: 0 },
                    false,
                )
                .await?;
            let txn = Txn::new()
                .when(cond)
                .when(self.snapshots.unchanged(&id.to_string(), cur.revision))
                .op(op)
                .op(self.snapshots.delete_op(&id.to_string()));
            if self.store.txn(txn).await?.is_committed() {
                return Ok(());
            }
        }
        Err(VolumeError::Conflict("too many concurrent changes; retry".into()))
    }

    async fn list_types(&self, ctx: &RequestContext) -> Result<Vec<VolumeType>, VolumeError> {
        authorize("volume_extension:type_get", ctx, &json!({}))?;
        self.default_type().await?;
        let admin = is_admin(ctx);
        Ok(self
            .types
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|t| admin || t.is_public)
            .collect())
    }

    async fn get_type(
        &self,
        ctx: &RequestContext,
        id_or_name: &str,
    ) -> Result<VolumeType, VolumeError> {
        authorize("volume_extension:type_get", ctx, &json!({}))?;
        let t = if id_or_name == "default" {
            self.default_type().await?
        } else {
            self.resolve_type(id_or_name).await.map_err(|_| VolumeError::NotFound {
                kind: "Volume type",
                id: ferrostack_core::id::truncate_for_message(id_or_name),
            })?
        };
        if !t.is_public && !is_admin(ctx) {
            return Err(VolumeError::NotFound { kind: "Volume type", id: t.id.to_string() });
        }
        Ok(t)
    }

    async fn create_type(
        &self,
        ctx: &RequestContext,
        req: CreateVolumeType,
    ) -> Result<VolumeType, VolumeError> {
        authorize("volume_extension:types_manage", ctx, &json!({}))?;
        let name = req.name.trim();
        if name.is_empty() || name.chars().count() > 255 || name.contains('\0') {
            return Err(VolumeError::InvalidInput("Volume type name can not be empty.".into()));
        }
        check_text("description", &req.description, MAX_DESCRIPTION_LEN)?;
        check_metadata(&req.extra_specs)?;
        let t = VolumeType {
            id: VolumeTypeId::new(),
            name: name.to_owned(),
            description: req.description,
            is_public: req.is_public,
            extra_specs: req.extra_specs,
        };
        self.insert_type(&t).await?;
        Ok(t)
    }

    async fn set_type_extra_specs(
        &self,
        ctx: &RequestContext,
        id: &VolumeTypeId,
        specs: BTreeMap<String, String>,
    ) -> Result<VolumeType, VolumeError> {
        authorize("volume_extension:types_manage", ctx, &json!({}))?;
        check_metadata(&specs)?;
        let r = self
            .types
            .update_with::<VolumeError, _>(&id.to_string(), |t| {
                t.extra_specs.extend(specs.clone());
                Ok(())
            })
            .await;
        match r {
            Ok(v) => Ok(v.value),
            Err(VolumeError::Store(ferrostack_core::store::StoreError::NotFound(_))) => {
                Err(VolumeError::NotFound { kind: "Volume type", id: id.to_string() })
            }
            Err(e) => Err(e),
        }
    }

    async fn delete_type(
        &self,
        ctx: &RequestContext,
        id: &VolumeTypeId,
    ) -> Result<(), VolumeError> {
        authorize("volume_extension:types_manage", ctx, &json!({}))?;
        let t = self
            .types
            .get(&id.to_string())
            .await?
            .ok_or_else(|| VolumeError::NotFound { kind: "Volume type", id: id.to_string() })?;
        if t.value.name == DEFAULT_TYPE_NAME {
            return Err(VolumeError::InvalidVolumeType(
                "the default volume type cannot be deleted".into(),
            ));
        }
        let in_use = self.volumes.list_all().await?.iter().any(|v| v.value.volume_type_id == *id);
        if in_use {
            return Err(VolumeError::InvalidVolumeType(
                "Target volume type is still in use.".into(),
            ));
        }
        let txn = Txn::new()
            .when(self.types.unchanged(&id.to_string(), t.revision))
            .op(self.types.delete_op(&id.to_string()))
            .delete(format!("{TYPE_NAMES}{}", t.value.name));
        if self.store.txn(txn).await?.is_committed() {
            Ok(())
        } else {
            Err(VolumeError::Conflict("the volume type changed concurrently; retry".into()))
        }
    }

    async fn create_attachment(
        &self,
        ctx: &RequestContext,
        volume_id: &VolumeId,
        instance: Option<ServerId>,
        connector: Option<Connector>,
        mode: Option<String>,
    ) -> Result<Attachment, VolumeError> {
        let v = self.visible_volume(ctx, volume_id).await?.value;
        authorize("volume:attachment_create", ctx, &Self::target(&v.project_id))?;
        let mode = mode.unwrap_or_else(|| "rw".into());
        if mode != "rw" && mode != "ro" {
            return Err(VolumeError::InvalidInput(format!(
                "Invalid attach mode {:?}, must be 'rw' or 'ro'.",
                ferrostack_core::id::truncate_for_message(&mode)
            )));
        }
        let mut created = None;
        for _ in 0..MAX_RETRIES {
            let cur = self.visible_volume(ctx, volume_id).await?;
            let vol = &cur.value;
            let expected: &[VolumeStatus] = if vol.multiattach {
                &[VolumeStatus::Available, VolumeStatus::InUse, VolumeStatus::Downloading]
            } else {
                &[VolumeStatus::Available, VolumeStatus::Downloading]
            };
            let live = self.live_attachments(volume_id).await?;
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
                .when(self.volumes.unchanged(&vol.id.to_string(), cur.revision))
                .when(self.attachments.absent(&att.id.to_string()))
                .op(self.volumes.put_op(&vol.id.to_string(), &next)?)
                .op(self.attachments.put_op(&att.id.to_string(), &att)?);
            if self.store.txn(txn).await?.is_committed() {
                created = Some(att);
                break;
            }
        }
        let Some(att) = created else {
            return Err(VolumeError::Conflict("too many concurrent changes; retry".into()));
        };
        match connector {
            Some(c) => self.update_attachment(ctx, &att.id, c).await,
            None => Ok(att),
        }
    }

    async fn update_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
        connector: Connector,
    ) -> Result<Attachment, VolumeError> {
        let att = self.visible_attachment(ctx, id).await?.value;
        authorize("volume:attachment_update", ctx, &Self::target(&att.project_id))?;
        if !att.attach_status.can_become(AttachStatus::Attaching) {
            return Err(VolumeError::InvalidInput(format!(
                "Invalid attachment: attachment {id} is {}.",
                att.attach_status.as_str()
            )));
        }
        let vol = self.volumes.require(&att.volume_id.to_string()).await?.value;
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
            let others = self.live_attachments(&vol.id).await?;
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
        let b = self.backend_of(&vol)?.clone();
        let bv = bvol(&vol);
        // Backend export + connection info, undone completely on any failure.
        b.create_export(&bv, id, &connector)
            .await
            .map_err(Self::backend_err(b.as_ref(), "create export"))?;
        let info = match b.initialize_connection(&bv, id, &connector).await {
            Ok(info) => info,
            Err(e) => {
                Self::attachment_rollback(&b, &bv, id, &connector).await;
                return Err(Self::backend_err(b.as_ref(), "initialize connection")(e));
            }
        };
        for _ in 0..MAX_RETRIES {
            let (Some(a), Some(v)) = (
                self.attachments.get(&id.to_string()).await?,
                self.volumes.get(&att.volume_id.to_string()).await?,
            ) else {
                Self::attachment_rollback(&b, &bv, id, &connector).await;
                return Err(VolumeError::attachment_not_found(id));
            };
            if !a.value.attach_status.can_become(AttachStatus::Attaching) {
                Self::attachment_rollback(&b, &bv, id, &connector).await;
                return Err(VolumeError::Conflict(format!(
                    "attachment {id} changed to {} concurrently",
                    a.value.attach_status.as_str()
                )));
            }
            let mut na = a.value.clone();
            na.attach_status = AttachStatus::Attaching;
            na.attached_host = connector.host.clone();
            na.mountpoint =
                connector.extra.get("mountpoint").and_then(|m| m.as_str()).map(str::to_owned);
            na.connector = Some(connector.clone());
            na.connection_info = Some(info.clone());
            let mut nv = v.value.clone();
            nv.status = VolumeStatus::Attaching;
            nv.updated_at = Some(now());
            let txn = Txn::new()
                .when(self.attachments.unchanged(&id.to_string(), a.revision))
                .when(self.volumes.unchanged(&v.value.id.to_string(), v.revision))
                .op(self.attachments.put_op(&id.to_string(), &na)?)
                .op(self.volumes.put_op(&v.value.id.to_string(), &nv)?);
            if self.store.txn(txn).await?.is_committed() {
                return Ok(na);
            }
        }
        Self::attachment_rollback(&b, &bv, id, &connector).await;
        Err(VolumeError::Conflict("too many concurrent changes; retry".into()))
    }

    async fn complete_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Attachment, VolumeError> {
        let att = self.visible_attachment(ctx, id).await?.value;
        authorize("volume:attachment_complete", ctx, &Self::target(&att.project_id))?;
        for _ in 0..MAX_RETRIES {
            let a = self.visible_attachment(ctx, id).await?;
            if a.value.attach_status == AttachStatus::Attached {
                return Ok(a.value);
            }
            if a.value.attach_status != AttachStatus::Attaching {
                return Err(VolumeError::InvalidInput(format!(
                    "Invalid attachment: attachment {id} must be attaching to complete, but is {}.",
                    a.value.attach_status.as_str()
                )));
            }
            let v = self.volumes.require(&a.value.volume_id.to_string()).await?;
            let mut na = a.value.clone();
            na.attach_status = AttachStatus::Attached;
            na.attach_time = Some(now());
            let mut nv = v.value.clone();
            nv.status = VolumeStatus::InUse;
            nv.updated_at = Some(now());
            let txn = Txn::new()
                .when(self.attachments.unchanged(&id.to_string(), a.revision))
                .when(self.volumes.unchanged(&v.value.id.to_string(), v.revision))
                .op(self.attachments.put_op(&id.to_string(), &na)?)
                .op(self.volumes.put_op(&v.value.id.to_string(), &nv)?);
            if self.store.txn(txn).await?.is_committed() {
                return Ok(na);
            }
        }
        Err(VolumeError::Conflict("too many concurrent changes; retry".into()))
    }

    async fn delete_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Vec<Attachment>, VolumeError> {
        let att = self.visible_attachment(ctx, id).await?.value;
        authorize("volume:attachment_delete", ctx, &Self::target(&att.project_id))?;
        if let Some(connector) = &att.connector {
            // Tear down the connection first; the records change only once it is gone.
            let a = self
                .attachments
                .update_with::<VolumeError, _>(&id.to_string(), |a| {
                    a.attach_status = AttachStatus::Detaching;
                    Ok(())
                })
                .await?
                .value;
            let _ = a;
            let v = self.volumes.require(&att.volume_id.to_string()).await?.value;
            let b = self.backend_of(&v)?.clone();
            let bv = bvol(&v);
            let torn = match b.terminate_connection(&bv, id, connector).await {
                Ok(()) => b
                    .remove_export(&bv, id)
                    .await
                    .map_err(Self::backend_err(b.as_ref(), "remove export")),
                Err(e) => Err(Self::backend_err(b.as_ref(), "terminate connection")(e)),
            };
            if let Err(e) = torn {
                self.attachments
                    .update_with::<VolumeError, _>(&id.to_string(), |a| {
                        a.attach_status = AttachStatus::ErrorDetaching;
                        Ok(())
                    })
                    .await?;
                return Err(e);
            }
        }
        for _ in 0..MAX_RETRIES {
            let Some(a) = self.attachments.get(&id.to_string()).await? else {
                return Err(VolumeError::attachment_not_found(id));
            };
            let v = self.volumes.require(&a.value.volume_id.to_string()).await?;
            let remaining: Vec<Attachment> = self
                .live_attachments(&v.value.id)
                .await?
                .into_iter()
                .filter(|x| x.id != *id)
                .collect();
            let mut nv = v.value.clone();
            nv.status = status_from_attachments(remaining.iter().map(|x| x.attach_status));
            nv.updated_at = Some(now());
            let txn = Txn::new()
                .when(self.attachments.unchanged(&id.to_string(), a.revision))
                .when(self.volumes.unchanged(&v.value.id.to_string(), v.revision))
                .op(self.attachments.delete_op(&id.to_string()))
                .op(self.volumes.put_op(&v.value.id.to_string(), &nv)?);
            if self.store.txn(txn).await?.is_committed() {
                return Ok(remaining);
            }
        }
        Err(VolumeError::Conflict("too many concurrent changes; retry".into()))
    }

    async fn get_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Attachment, VolumeError> {
        let a = self.visible_attachment(ctx, id).await?.value;
        authorize("volume:attachment_get", ctx, &Self::target(&a.project_id))?;
        Ok(a)
    }

    async fn list_attachments(
        &self,
        ctx: &RequestContext,
        volume_id: Option<&VolumeId>,
        all_projects: bool,
    ) -> Result<Vec<Attachment>, VolumeError> {
        let all = all_projects && is_admin(ctx);
        let project = ctx.project_id().cloned();
        if let Some(p) = &project {
            authorize("volume:attachment_get", ctx, &Self::target(p))?;
        } else if !all {
            return Err(VolumeError::Forbidden("volume:attachment_get".into()));
        }
        Ok(self
            .attachments
            .list_all()
            .await?
            .into_iter()
            .map(|v| v.value)
            .filter(|a| all || Some(&a.project_id) == project.as_ref())
            .filter(|a| volume_id.is_none_or(|v| a.volume_id == *v))
            .collect())
    }

    async fn get_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<(QuotaLimits, QuotaUsage), VolumeError> {
        authorize("volume_extension:quotas:show", ctx, &Self::target(project))?;
        let usage = self.usage.get(project.as_str()).await?.map(|v| v.value).unwrap_or_default();
        Ok((self.limits(project).await?, usage))
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
        authorize("volume_extension:quotas:update", ctx, &Self::target(project))?;
        let usage = self.usage.get(project.as_str()).await?.map(|v| v.value).unwrap_or_default();
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
        for _ in 0..MAX_RETRIES {
            let cur = self.quotas.get(project.as_str()).await?;
            let mut l = cur.as_ref().map(|v| v.value).unwrap_or(self.default_quota);
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
                Some(v) => self.quotas.unchanged(project.as_str(), v.revision),
                None => self.quotas.absent(project.as_str()),
            };
            let txn = Txn::new().when(cond).op(self.quotas.put_op(project.as_str(), &l)?);
            if self.store.txn(txn).await?.is_committed() {
                return Ok(l);
            }
        }
        Err(VolumeError::Conflict("too many concurrent changes; retry".into()))
    }
}

fn vol_with_error(v: &Volume) -> Volume {
    let mut v = v.clone();
    v.status = VolumeStatus::Error;
    v
}
