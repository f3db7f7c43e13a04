// SPDX-License-Identifier: Apache-2.0
//! The [`VolumeBackend`] trait: what a storage driver (file, LVM, Ceph RBD) does for Cinder.

use crate::types::{AttachmentId, ConnectionInfo, Connector};
use bytes::Bytes;
use ferrostack_core::error::{BoxError, Classify, ErrorKind};
use ferrostack_core::id::{SnapshotId, VolumeId};
use futures::stream::BoxStream;
use serde::{Deserialize, Serialize};

/// A stream of bytes: image contents flowing into or out of a volume.
pub type ByteStream = BoxStream<'static, Result<Bytes, BoxError>>;

/// One GiB in bytes.
pub const GIB: u64 = 1024 * 1024 * 1024;

/// What a backend can do, as typed flags (Cinder reports the same as stats dictionary keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Volumes take space only as they are written (`thin_provisioning_support`).
    pub thin_provisioning: bool,
    /// Volumes can be fully allocated (`thick_provisioning_support`).
    pub thick_provisioning: bool,
    /// [`VolumeBackend::create_snapshot`] and [`VolumeBackend::create_volume_from_snapshot`].
    pub snapshots: bool,
    /// [`VolumeBackend::create_cloned_volume`].
    pub clones: bool,
    /// [`VolumeBackend::extend_volume`] while the volume is exported to a consumer.
    pub online_extend: bool,
    /// More than one export of a volume at a time.
    pub multiattach: bool,
}

/// A capacity figure that a backend may not know (Cinder's `'infinite'` and `'unknown'`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CapacityGb {
    /// A number of GiB.
    Known(f64),
    /// No limit (`'infinite'`).
    Infinite,
    /// The backend cannot tell (`'unknown'`).
    Unknown,
}

/// A backend's capacity report, with the fields Cinder's capacity filter and weigher use.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CapacityReport {
    /// Total physical capacity.
    pub total_gb: CapacityGb,
    /// Free physical capacity.
    pub free_gb: CapacityGb,
    /// Sum of the sizes of the volumes and snapshots provisioned (`provisioned_capacity_gb`).
    pub provisioned_gb: f64,
    /// Percentage of the total kept free (`reserved_percentage`).
    pub reserved_percentage: u8,
    /// How far thin provisioning may over-subscribe the total (`max_over_subscription_ratio`).
    pub max_over_subscription_ratio: f64,
}

/// A volume as a backend sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendVolume {
    /// The volume's id; backends derive their names from it (`volume-<id>`).
    pub id: VolumeId,
    /// Its size in GiB.
    pub size_gb: u64,
}

/// A snapshot as a backend sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendSnapshot {
    /// The snapshot's id.
    pub id: SnapshotId,
    /// The volume it is of.
    pub volume: BackendVolume,
}

/// The formats image data can take when it enters or leaves a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskFormat {
    /// Raw bytes.
    Raw,
    /// QEMU copy-on-write v2.
    Qcow2,
}

impl DiskFormat {
    /// Glance's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DiskFormat::Raw => "raw",
            DiskFormat::Qcow2 => "qcow2",
        }
    }
    /// Parses Glance's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "raw" => Some(DiskFormat::Raw),
            "qcow2" => Some(DiskFormat::Qcow2),
            _ => None,
        }
    }
}

/// What went wrong in a backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The volume, snapshot or export does not exist on the backend.
    #[error("{what} not found on the backend")]
    NotFound {
        /// What was looked for (`volume-<id>`).
        what: String,
    },
    /// The backend lacks the capability.
    #[error("the {backend} backend does not support {op}")]
    NotSupported {
        /// The backend kind.
        backend: &'static str,
        /// The operation.
        op: &'static str,
    },
    /// Not enough space.
    #[error("the {backend} backend has no space for {needed_gb} GiB")]
    NoSpace {
        /// The backend kind.
        backend: &'static str,
        /// How much was asked.
        needed_gb: u64,
    },
    /// The request cannot be honoured (bad connector, image larger than the volume, unsafe
    /// image).
    #[error("{0}")]
    Invalid(String),
    /// Image data handed to the backend is not what its format says (`qemu-img` cannot read
    /// it as that format); the tool's failure is the source.
    #[error("the image data is not valid {format}")]
    InvalidImage {
        /// The claimed format.
        format: &'static str,
        /// Why it was refused.
        #[source]
        source: Box<BackendError>,
    },
    /// A fault injected by a test backend.
    #[error("injected failure in {op}")]
    Injected {
        /// The operation that failed.
        op: &'static str,
    },
    /// The backend's tools or service failed.
    #[error("the {backend} backend failed to {op}")]
    Failed {
        /// The backend kind.
        backend: &'static str,
        /// The operation.
        op: &'static str,
        /// The cause.
        #[source]
        source: BoxError,
    },
}

impl Classify for BackendError {
    fn kind(&self) -> ErrorKind {
        match self {
            BackendError::NotFound { .. } => ErrorKind::NotFound,
            BackendError::NotSupported { .. } => ErrorKind::NotSupported,
            BackendError::NoSpace { .. } => ErrorKind::QuotaExceeded,
            BackendError::Invalid(_) | BackendError::InvalidImage { .. } => ErrorKind::InvalidInput,
            BackendError::Injected { .. } | BackendError::Failed { .. } => ErrorKind::Internal,
        }
    }
}

/// A block storage driver.
///
/// The control plane ([`crate::VolumeService`]) owns all state: statuses, quotas, which
/// attachments exist. A backend only manages bytes and exports, named after ids it is given,
/// so a backend can be replaced or restarted without losing anything but data it holds.
/// The method set follows `cinder/interface/volume_driver.py`.
///
/// # Contract
///
/// * **Names.** Every object is identified by the id it is created with; a backend never
///   invents ids. Creating an object that already exists fails with [`BackendError::Invalid`]
///   and leaves it unchanged.
/// * **Sizes.** A new volume reads as `size_gb` GiB of zeros (or of its source's data followed
///   by zeros when the source is smaller). [`Self::extend_volume`] keeps the data.
/// * **Idempotent removal.** [`Self::delete_volume`], [`Self::delete_snapshot`],
///   [`Self::remove_export`] and [`Self::terminate_connection`] succeed when the object is
///   already gone, so the control plane can retry after a crash.
/// * **No partial objects.** When a create method fails, nothing is left behind: the
///   control plane may retry with the same id.
/// * **Snapshots are independent of later writes.** Data read from a snapshot (through
///   [`Self::create_volume_from_snapshot`]) is the volume's data at snapshot time.
/// * **Exports.** [`Self::create_export`] makes the volume reachable for one attachment;
///   [`Self::initialize_connection`] returns how a consumer with `connector` reaches it;
///   [`Self::exports`] lists the live exports, so that leaks are observable.
/// * **Capabilities are honest.** A method whose [`Capabilities`] flag is false returns
///   [`BackendError::NotSupported`] without side effects.
/// * The conformance suite [`crate::testing::conformance`] checks all of this; every
///   implementation must pass it.
///
/// # Errors
///
/// [`BackendError::NotFound`] for unknown objects, [`BackendError::NotSupported`] for missing
/// capabilities, [`BackendError::NoSpace`], [`BackendError::Invalid`] for requests that can
/// never succeed, [`BackendError::Failed`] for failures of the underlying tools.
///
/// # Cancellation
///
/// Dropping a future may leave a half-made object only in the backend's scratch space; the
/// named object either exists completely or not at all.
#[async_trait::async_trait]
pub trait VolumeBackend: Send + Sync + std::fmt::Debug + 'static {
    /// The backend's name (Cinder's `volume_backend_name`), unique in a deployment.
    fn name(&self) -> &str;
    /// The backend's kind (`"file"`, `"lvm"`, `"rbd"`, `"fake"`); retype moves volumes only
    /// between backends of the same kind.
    fn kind(&self) -> &'static str;
    /// What the backend can do.
    fn capabilities(&self) -> Capabilities;
    /// Current capacity.
    async fn capacity(&self) -> Result<CapacityReport, BackendError>;

    /// Creates a blank volume.
    async fn create_volume(&self, vol: &BackendVolume) -> Result<(), BackendError>;
    /// Deletes a volume (succeeds if it does not exist).
    async fn delete_volume(&self, vol: &BackendVolume) -> Result<(), BackendError>;
    /// Grows a volume to `new_size_gb`, keeping its data.
    async fn extend_volume(
        &self,
        vol: &BackendVolume,
        new_size_gb: u64,
    ) -> Result<(), BackendError>;
    /// Takes a snapshot.
    async fn create_snapshot(&self, snap: &BackendSnapshot) -> Result<(), BackendError>;
    /// Deletes a snapshot (succeeds if it does not exist).
    async fn delete_snapshot(&self, snap: &BackendSnapshot) -> Result<(), BackendError>;
    /// Creates `vol` (at least as large as the snapshot) with the snapshot's data.
    async fn create_volume_from_snapshot(
        &self,
        vol: &BackendVolume,
        snap: &BackendSnapshot,
    ) -> Result<(), BackendError>;
    /// Creates `vol` (at least as large as `src`) with `src`'s data.
    async fn create_cloned_volume(
        &self,
        vol: &BackendVolume,
        src: &BackendVolume,
    ) -> Result<(), BackendError>;
    /// Overwrites an existing volume with image data in `format`.
    ///
    /// The image's virtual size must fit the volume ([`BackendError::Invalid`] otherwise);
    /// images that reference other files (qcow2 backing or data files) are refused.
    async fn copy_image_to_volume(
        &self,
        vol: &BackendVolume,
        format: DiskFormat,
        data: ByteStream,
    ) -> Result<(), BackendError>;
    /// Streams the volume's contents in `format`.
    async fn copy_volume_to_image(
        &self,
        vol: &BackendVolume,
        format: DiskFormat,
    ) -> Result<ByteStream, BackendError>;

    /// Exports the volume for `attachment`.
    async fn create_export(
        &self,
        vol: &BackendVolume,
        attachment: &AttachmentId,
        connector: &Connector,
    ) -> Result<(), BackendError>;
    /// How the consumer described by `connector` reaches the exported volume.
    async fn initialize_connection(
        &self,
        vol: &BackendVolume,
        attachment: &AttachmentId,
        connector: &Connector,
    ) -> Result<ConnectionInfo, BackendError>;
    /// Revokes the consumer's access (succeeds if it had none).
    async fn terminate_connection(
        &self,
        vol: &BackendVolume,
        attachment: &AttachmentId,
        connector: &Connector,
    ) -> Result<(), BackendError>;
    /// Removes the export for `attachment` (succeeds if there is none).
    async fn remove_export(
        &self,
        vol: &BackendVolume,
        attachment: &AttachmentId,
    ) -> Result<(), BackendError>;
    /// The attachments the volume is currently exported for.
    async fn exports(&self, vol: &BackendVolume) -> Result<Vec<AttachmentId>, BackendError>;
}
