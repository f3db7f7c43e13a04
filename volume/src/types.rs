// SPDX-License-Identifier: Apache-2.0
//! Cinder's resources: volumes, snapshots, volume types, attachments, quotas, and the status
//! machines that decide which transitions are legal.

use ferrostack_core::id::{ProjectId, ServerId, SnapshotId, UserId, VolumeId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

ferrostack_core::define_id!(
    /// A Cinder volume attachment (the 3.27+ attachment API).
    AttachmentId
);
ferrostack_core::define_id!(
    /// A Cinder volume type.
    VolumeTypeId
);

/// The largest volume size accepted, in GiB: Cinder's `db.MAX_INT`.
pub const MAX_SIZE_GB: u64 = 0x7FFF_FFFF;
/// The longest name or description accepted, in characters (Cinder's column sizes).
pub const MAX_NAME_LEN: usize = 255;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_LEN: usize = 255;
/// The name of the volume type used when a request names none (Cinder's `__DEFAULT__`).
pub const DEFAULT_TYPE_NAME: &str = "__DEFAULT__";

/// A volume's `status`, with Cinder's spelling (`cinder/objects/fields.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VolumeStatus {
    /// Being created on a backend.
    Creating,
    /// Ready and not attached.
    Available,
    /// Being deleted.
    Deleting,
    /// Creation or an operation failed.
    Error,
    /// Deletion failed.
    #[serde(rename = "error_deleting")]
    ErrorDeleting,
    /// Extending failed; the volume keeps its old size.
    #[serde(rename = "error_extending")]
    ErrorExtending,
    /// Reserved by an attachment that has no connector yet.
    Reserved,
    /// An attachment is connecting.
    Attaching,
    /// Attached to at least one consumer.
    InUse,
    /// An attachment is being removed.
    Detaching,
    /// Being filled from an image.
    Downloading,
    /// Being uploaded to an image.
    Uploading,
    /// Moving to another volume type.
    Retyping,
    /// Growing.
    Extending,
    /// Administratively unavailable.
    Maintenance,
}

impl VolumeStatus {
    /// The wire spelling (`"in-use"`, `"error_deleting"`).
    pub fn as_str(self) -> &'static str {
        match self {
            VolumeStatus::Creating => "creating",
            VolumeStatus::Available => "available",
            VolumeStatus::Deleting => "deleting",
            VolumeStatus::Error => "error",
            VolumeStatus::ErrorDeleting => "error_deleting",
            VolumeStatus::ErrorExtending => "error_extending",
            VolumeStatus::Reserved => "reserved",
            VolumeStatus::Attaching => "attaching",
            VolumeStatus::InUse => "in-use",
            VolumeStatus::Detaching => "detaching",
            VolumeStatus::Downloading => "downloading",
            VolumeStatus::Uploading => "uploading",
            VolumeStatus::Retyping => "retyping",
            VolumeStatus::Extending => "extending",
            VolumeStatus::Maintenance => "maintenance",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }

    /// Whether Cinder's state machine allows moving from `self` to `to`.
    ///
    /// The table follows the transitions `cinder/volume/api.py` and `manager.py` make with
    /// conditional updates; anything else is refused with [`crate::VolumeError::InvalidVolume`].
    pub fn can_become(self, to: VolumeStatus) -> bool {
        use VolumeStatus::*;
        match (self, to) {
            (Creating, Available | Error | Downloading) => true,
            (Downloading, Available | Error | Reserved) => true,
            (
                Available,
                Deleting | Reserved | Attaching | Extending | Uploading | Retyping | Maintenance,
            ) => true,
            (Error | ErrorExtending | ErrorDeleting, Deleting) => true,
            (Error | ErrorExtending, Available) => false,
            (Reserved, Attaching | Available | InUse | Reserved | Detaching) => true,
            (Attaching, InUse | Available | Reserved | Attaching | Detaching) => true,
            (InUse, Reserved | Attaching | Detaching | Extending | Uploading | Available) => true,
            (Detaching, Available | InUse | Reserved | Attaching | Detaching) => true,
            (Extending, Available | InUse | ErrorExtending) => true,
            (Uploading, Available | InUse | Error) => true,
            (Retyping, Available | Error) => true,
            (Deleting, ErrorDeleting) => true,
            (Maintenance, Available) => true,
            _ => false,
        }
    }
}

impl std::fmt::Display for VolumeStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An attachment's `attach_status` (and a volume's aggregate `attach_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachStatus {
    /// Created without a connector.
    Reserved,
    /// Has a connector and connection info; the consumer is connecting.
    Attaching,
    /// The consumer confirmed with `os-complete`.
    Attached,
    /// Being removed.
    Detaching,
    /// Removed.
    Detached,
    /// Connecting failed.
    ErrorAttaching,
    /// Removal failed.
    ErrorDetaching,
    /// Deleted.
    Deleted,
}

impl AttachStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AttachStatus::Reserved => "reserved",
            AttachStatus::Attaching => "attaching",
            AttachStatus::Attached => "attached",
            AttachStatus::Detaching => "detaching",
            AttachStatus::Detached => "detached",
            AttachStatus::ErrorAttaching => "error_attaching",
            AttachStatus::ErrorDetaching => "error_detaching",
            AttachStatus::Deleted => "deleted",
        }
    }

    /// Whether an attachment may move from `self` to `to`.
    pub fn can_become(self, to: AttachStatus) -> bool {
        use AttachStatus::*;
        match (self, to) {
            (Reserved, Attaching | Deleted | ErrorAttaching) => true,
            // Updating again with a new connector (Nova does so on resize/migration).
            (Attaching, Attaching | Attached | ErrorAttaching | Detaching | Deleted) => true,
            (Attached, Attaching | Detaching | Deleted) => true,
            (Detaching, Detached | Deleted | ErrorDetaching) => true,
            (ErrorAttaching, Attaching | Deleted) => true,
            (ErrorDetaching, Detaching | Deleted) => true,
            (Detached, Deleted) => true,
            _ => false,
        }
    }

    /// The volume status an attachment in this state implies when it is the "most attached"
    /// of a volume's attachments (Cinder's `volume_detached` priority: attached, attaching,
    /// detaching, reserved).
    pub fn volume_status(self) -> Option<VolumeStatus> {
        match self {
            AttachStatus::Attached => Some(VolumeStatus::InUse),
            AttachStatus::Attaching => Some(VolumeStatus::Attaching),
            AttachStatus::Detaching => Some(VolumeStatus::Detaching),
            AttachStatus::Reserved => Some(VolumeStatus::Reserved),
            _ => None,
        }
    }

    fn priority(self) -> u8 {
        match self {
            AttachStatus::Attached => 4,
            AttachStatus::Attaching => 3,
            AttachStatus::Detaching => 2,
            AttachStatus::Reserved => 1,
            _ => 0,
        }
    }
}

/// The status a volume takes given the states of its remaining (live) attachments:
/// `available` when none is left, else the status of the highest-priority one.
pub fn status_from_attachments<I: IntoIterator<Item = AttachStatus>>(live: I) -> VolumeStatus {
    live.into_iter()
        .filter(|s| s.priority() > 0)
        .max_by_key(|s| s.priority())
        .and_then(AttachStatus::volume_status)
        .unwrap_or(VolumeStatus::Available)
}

/// A snapshot's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotStatus {
    /// Being taken.
    Creating,
    /// Ready.
    Available,
    /// Being deleted.
    Deleting,
    /// Taking it failed.
    Error,
    /// Deleting it failed.
    ErrorDeleting,
}

impl SnapshotStatus {
    /// The wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotStatus::Creating => "creating",
            SnapshotStatus::Available => "available",
            SnapshotStatus::Deleting => "deleting",
            SnapshotStatus::Error => "error",
            SnapshotStatus::ErrorDeleting => "error_deleting",
        }
    }

    /// Whether a snapshot may move from `self` to `to`.
    pub fn can_become(self, to: SnapshotStatus) -> bool {
        use SnapshotStatus::*;
        matches!(
            (self, to),
            (Creating, Available | Error)
                | (Available | Error | ErrorDeleting, Deleting)
                | (Deleting, ErrorDeleting)
        )
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
    }
}

/// Where a volume's first bytes came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum VolumeSource {
    /// An empty (zeroed, sparse) volume.
    Blank,
    /// A copy of a snapshot.
    Snapshot {
        /// The snapshot.
        id: SnapshotId,
    },
    /// A clone of another volume.
    Volume {
        /// The source volume.
        id: VolumeId,
    },
    /// An image's contents, fetched through [`crate::image::ImageSource`].
    Image {
        /// The image id.
        id: ferrostack_core::id::ImageId,
    },
}

/// A Cinder volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Volume {
    /// The id.
    pub id: VolumeId,
    /// The owning project.
    pub project_id: ProjectId,
    /// The user who created it.
    pub user_id: UserId,
    /// The display name (may be empty).
    pub name: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// Size in GiB.
    pub size_gb: u64,
    /// Status.
    pub status: VolumeStatus,
    /// The volume type.
    pub volume_type_id: VolumeTypeId,
    /// The volume type's name, denormalised for the API.
    pub volume_type_name: String,
    /// The backend holding the volume (Cinder's `host`), once scheduled.
    pub backend: Option<String>,
    /// Where the data came from.
    pub source: VolumeSource,
    /// Whether more than one attachment may be live at once.
    pub multiattach: bool,
    /// Whether it can be booted from (set when created from an image).
    pub bootable: bool,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// The availability zone.
    pub availability_zone: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
    /// Image properties copied from the source image (`volume_image_metadata`).
    pub image_metadata: BTreeMap<String, String>,
}

/// A Cinder snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The id.
    pub id: SnapshotId,
    /// The owning project.
    pub project_id: ProjectId,
    /// The user who took it.
    pub user_id: UserId,
    /// The volume it was taken of.
    pub volume_id: VolumeId,
    /// The display name.
    pub name: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// The volume's size when taken, GiB.
    pub size_gb: u64,
    /// Status.
    pub status: SnapshotStatus,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339::option")]
    pub updated_at: Option<OffsetDateTime>,
}

/// A volume type: a name and extra specs that map volumes to backends.
///
/// `volume_backend_name` pins a backend by name; `multiattach` (`"<is> True"`) requires a
/// backend with the multiattach capability; `provisioning:type` (`thin`/`thick`) changes the
/// capacity filter's arithmetic, as in Cinder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeType {
    /// The id.
    pub id: VolumeTypeId,
    /// The unique name.
    pub name: String,
    /// The description.
    pub description: Option<String>,
    /// Whether every project may use it.
    pub is_public: bool,
    /// Extra specs.
    pub extra_specs: BTreeMap<String, String>,
}

impl VolumeType {
    /// Whether the type's extra specs ask for multiattach (`multiattach: "<is> True"`).
    pub fn wants_multiattach(&self) -> bool {
        self.extra_specs.get("multiattach").is_some_and(|v| is_true_spec(v))
    }
}

/// Whether an extra-spec value means true (`"<is> True"`, `"True"`, `"true"`).
pub fn is_true_spec(v: &str) -> bool {
    let v = v.trim();
    let v = v.strip_prefix("<is>").map(str::trim).unwrap_or(v);
    v.eq_ignore_ascii_case("true")
}

pub use ferrostack_core::attach::{ConnectionInfo, Connector};

/// The flat form Cinder's attachment API returns for [`ConnectionInfo`].
pub trait CinderConnectionInfo {
    /// `data` merged into the top level next to `driver_volume_type` and `attachment_id`;
    /// Nova puts `data` back.
    fn to_cinder_attachment_json(&self, attachment: &AttachmentId) -> serde_json::Value;
}

impl CinderConnectionInfo for ConnectionInfo {
    fn to_cinder_attachment_json(&self, attachment: &AttachmentId) -> serde_json::Value {
        let mut m = self.data.clone();
        m.insert("driver_volume_type".into(), self.driver_volume_type.clone().into());
        m.insert("attachment_id".into(), attachment.to_string().into());
        serde_json::Value::Object(m)
    }
}

/// An attachment (`/v3/{project}/attachments`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// The id.
    pub id: AttachmentId,
    /// The volume.
    pub volume_id: VolumeId,
    /// The project owning the volume.
    pub project_id: ProjectId,
    /// The consuming server (`instance_uuid`).
    pub instance_uuid: Option<ServerId>,
    /// Status.
    pub attach_status: AttachStatus,
    /// `"rw"` or `"ro"`.
    pub attach_mode: String,
    /// The connector the consumer sent, once updated.
    pub connector: Option<Connector>,
    /// What the backend returned for that connector.
    pub connection_info: Option<ConnectionInfo>,
    /// The device name the consumer reported (`mountpoint`).
    pub mountpoint: Option<String>,
    /// The consumer host.
    pub attached_host: Option<String>,
    /// When it became attached.
    #[serde(with = "time::serde::rfc3339::option")]
    pub attach_time: Option<OffsetDateTime>,
    /// When it was detached.
    #[serde(with = "time::serde::rfc3339::option")]
    pub detach_time: Option<OffsetDateTime>,
}

/// Quota limits of a project (`-1` means unlimited, as in Cinder).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaLimits {
    /// Number of volumes.
    pub volumes: i64,
    /// Total GiB of volumes and snapshots.
    pub gigabytes: i64,
    /// Number of snapshots.
    pub snapshots: i64,
    /// Largest single volume, GiB.
    pub per_volume_gigabytes: i64,
}

impl Default for QuotaLimits {
    /// Cinder's defaults: 10 volumes, 1000 GiB, 10 snapshots, no per-volume limit.
    fn default() -> Self {
        QuotaLimits { volumes: 10, gigabytes: 1000, snapshots: 10, per_volume_gigabytes: -1 }
    }
}

/// What a project uses. Kept in one store document per project and changed in the same
/// transaction as the resources it counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct QuotaUsage {
    /// Volumes, in any status.
    pub volumes: u64,
    /// GiB of volumes and snapshots.
    pub gigabytes: u64,
    /// Snapshots.
    pub snapshots: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_use_cinders_spelling() {
        assert_eq!(serde_json::to_value(VolumeStatus::InUse).unwrap(), "in-use");
        assert_eq!(serde_json::to_value(VolumeStatus::ErrorDeleting).unwrap(), "error_deleting");
        assert_eq!(VolumeStatus::parse("error_extending"), Some(VolumeStatus::ErrorExtending));
        assert_eq!(VolumeStatus::parse("bogus"), None);
        assert_eq!(serde_json::to_value(AttachStatus::ErrorAttaching).unwrap(), "error_attaching");
        for s in ["creating", "available", "in-use", "error_deleting", "downloading"] {
            assert_eq!(VolumeStatus::parse(s).unwrap().as_str(), s);
        }
    }

    #[test]
    fn illegal_transitions_are_refused() {
        use VolumeStatus::*;
        assert!(Available.can_become(Reserved));
        assert!(!InUse.can_become(Deleting));
        assert!(!Creating.can_become(InUse));
        assert!(!Deleting.can_become(Available));
        assert!(Reserved.can_become(Attaching));
        assert!(!AttachStatus::Detached.can_become(AttachStatus::Attached));
        assert!(!SnapshotStatus::Deleting.can_become(SnapshotStatus::Available));
    }

    #[test]
    fn volume_status_follows_the_most_attached_attachment() {
        use AttachStatus::*;
        assert_eq!(status_from_attachments([]), VolumeStatus::Available);
        assert_eq!(status_from_attachments([Reserved, Attached]), VolumeStatus::InUse);
        assert_eq!(status_from_attachments([Reserved, Attaching]), VolumeStatus::Attaching);
        assert_eq!(status_from_attachments([Detached, Deleted]), VolumeStatus::Available);
    }

    #[test]
    fn connection_info_is_flattened_like_cinder() {
        let mut data = serde_json::Map::new();
        data.insert("device_path".into(), "/x".into());
        let ci = ConnectionInfo { driver_volume_type: "local".into(), data };
        let id = AttachmentId::new();
        let v = ci.to_cinder_attachment_json(&id);
        assert_eq!(v["device_path"], "/x");
        assert_eq!(v["driver_volume_type"], "local");
        assert_eq!(v["attachment_id"], id.to_string());
    }

    #[test]
    fn extra_spec_booleans() {
        assert!(is_true_spec("<is> True"));
        assert!(is_true_spec("true"));
        assert!(!is_true_spec("<is> False"));
    }
}
