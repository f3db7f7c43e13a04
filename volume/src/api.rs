// SPDX-License-Identifier: Apache-2.0
//! [`VolumeApi`]: Cinder's operations as a Rust trait, and its typed requests and responses.
//!
//! Two implementations exist: [`crate::VolumeService`] (local, over a `Store` and
//! [`crate::VolumeBackend`]s) and [`crate::http::Client`] (Cinder's v3 REST API, ours or a real
//! Cinder). Both pass [`crate::testing::api_conformance`], so a consumer cannot tell them apart.

use crate::VolumeError;
use crate::backend::DiskFormat;
use crate::types::{
    Attachment, AttachmentId, Connector, QuotaLimits, QuotaUsage, Snapshot, Volume, VolumeType,
    VolumeTypeId,
};
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ImageId, ProjectId, ServerId, SnapshotId, VolumeId};
use std::collections::BTreeMap;

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

/// Cinder's operations.
///
/// # Contract
///
/// * **Authorization.** Every method authorizes the caller with Cinder's default policy
///   ([`crate::policy`]) and fails with [`ErrorKind::Forbidden`] when it does not allow the
///   operation (e.g. a `member` managing volume types or quotas, a `reader` creating volumes).
/// * **Scope.** Resources belong to the caller's project. Other projects' volumes, snapshots
///   and attachments are [`ErrorKind::NotFound`] (never `Forbidden`) and absent from lists,
///   unless the caller is an admin; `all_projects` in a [`ListFilter`] is honoured for admins
///   only. Private volume types are visible to admins only.
/// * **Errors** are [`VolumeError`]s whose [`Classify::kind`] is what a caller should branch on:
///   `NotFound` (no such or not visible), `InvalidInput` (malformed input, or a volume or
///   snapshot in a status that forbids the operation: Cinder answers 400 for both),
///   `Forbidden`, `Conflict` (a concurrent change won), `QuotaExceeded`, `AlreadyExists`
///   (a volume type name). The `Display` text is Cinder's fault message.
/// * **Statuses.** Volumes follow Cinder's state machine ([`crate::VolumeStatus::can_become`]);
///   a change is refused, not queued, when the volume is not in a status that allows it.
///   Operations return once the backend finished: `create_volume` returns an `available`
///   volume, or one in `error` when the backend failed (as Cinder's asynchronous create would
///   leave it; the call itself succeeds).
/// * **Quotas.** Volumes and snapshots count against the owning project's `volumes`,
///   `snapshots` and `gigabytes` limits in the same transaction that records them; deleting
///   gives the usage back. A request over a limit fails with `QuotaExceeded` and changes
///   nothing.
/// * **Attachments** follow Cinder's 3.27+ flow: [`create_attachment`](Self::create_attachment)
///   reserves, [`update_attachment`](Self::update_attachment) connects (returning connection
///   info), [`complete_attachment`](Self::complete_attachment) marks it attached (volume
///   `in-use`), [`delete_attachment`](Self::delete_attachment) disconnects. A volume that is not
///   multiattach has at most one connected attachment.
/// * **Fidelity over HTTP.** Some fields have no place in Cinder's JSON; a remote
///   implementation fills them as documented on [`crate::http::Client`]. Everything the
///   conformance suite asserts is carried exactly.
///
/// [`ErrorKind::Forbidden`]: ferrostack_core::error::ErrorKind::Forbidden
/// [`ErrorKind::NotFound`]: ferrostack_core::error::ErrorKind::NotFound
/// [`Classify::kind`]: ferrostack_core::error::Classify::kind
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
    /// The default quota limits (those of a project nobody changed). Synchronous: the local
    /// service knows them; [`crate::http::Client`] answers what it fetched when it connected.
    fn default_quotas(&self) -> QuotaLimits;
    /// Changes a project's quota limits (admin).
    async fn update_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        change: QuotaUpdate,
    ) -> Result<QuotaLimits, VolumeError>;
}
