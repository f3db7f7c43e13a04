// SPDX-License-Identifier: Apache-2.0
//! Image records with Glance v2 semantics.

use std::collections::BTreeMap;

use ferrostack_core::id::{ImageId, ProjectId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// An image's status (`glance/domain/__init__.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageStatus {
    /// Created, no data yet.
    Queued,
    /// Data is being uploaded.
    Saving,
    /// Data is being staged for an import.
    Uploading,
    /// An import is running.
    Importing,
    /// Data is available.
    Active,
    /// An upload failed irrecoverably.
    Killed,
    /// Deleted, data not yet scrubbed.
    PendingDelete,
    /// Gone.
    Deleted,
    /// Data download is blocked by an administrator.
    Deactivated,
}

impl ImageStatus {
    /// The status as Glance spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageStatus::Queued => "queued",
            ImageStatus::Saving => "saving",
            ImageStatus::Uploading => "uploading",
            ImageStatus::Importing => "importing",
            ImageStatus::Active => "active",
            ImageStatus::Killed => "killed",
            ImageStatus::PendingDelete => "pending_delete",
            ImageStatus::Deleted => "deleted",
            ImageStatus::Deactivated => "deactivated",
        }
    }

    /// Whether Glance allows moving from `self` to `to` (`valid_state_targets`).
    pub fn can_become(self, to: ImageStatus) -> bool {
        use ImageStatus::*;
        let targets: &[ImageStatus] = match self {
            Queued => &[Saving, Uploading, Importing, Active, Deleted],
            Saving => &[Active, Killed, Deleted, Queued],
            Uploading => &[Importing, Queued, Deleted],
            Importing => &[Active, Deleted, Queued],
            Active => &[PendingDelete, Deleted, Deactivated],
            Killed => &[Deleted],
            PendingDelete => &[Deleted, Active],
            Deleted => &[],
            Deactivated => &[Active, Deleted],
        };
        targets.contains(&to)
    }
}

/// Who can see an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Everyone.
    Public,
    /// The owner only.
    Private,
    /// The owner and the image's members.
    Shared,
    /// Everyone, but listed only on request.
    Community,
}

impl Visibility {
    /// Parses Glance's spelling.
    pub fn parse(s: &str) -> Option<Visibility> {
        Some(match s {
            "public" => Visibility::Public,
            "private" => Visibility::Private,
            "shared" => Visibility::Shared,
            "community" => Visibility::Community,
            _ => return None,
        })
    }

    /// Glance's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::Public => "public",
            Visibility::Private => "private",
            Visibility::Shared => "shared",
            Visibility::Community => "community",
        }
    }
}

/// A member's acceptance of a shared image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Offered, not answered.
    Pending,
    /// Accepted: listed for the member.
    Accepted,
    /// Refused.
    Rejected,
}

impl MemberStatus {
    /// Parses Glance's spelling.
    pub fn parse(s: &str) -> Option<MemberStatus> {
        Some(match s {
            "pending" => MemberStatus::Pending,
            "accepted" => MemberStatus::Accepted,
            "rejected" => MemberStatus::Rejected,
            _ => return None,
        })
    }
}

/// A project an image is shared with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The member project.
    pub member_id: String,
    /// Its answer.
    pub status: MemberStatus,
    /// When the membership was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Disk formats Glance accepts (`glance/common/config.py` plus `gpt`).
pub const DISK_FORMATS: &[&str] =
    &["ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso", "ploop", "gpt"];
/// Container formats Glance accepts.
pub const CONTAINER_FORMATS: &[&str] =
    &["ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed"];

/// Attributes a client may never write (Glance answers 403).
pub const READ_ONLY: &[&str] = &[
    "id",
    "status",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "created_at",
    "updated_at",
    "file",
    "self",
    "schema",
    "direct_url",
    "locations",
    "stores",
];
/// Attributes Glance reserves (not writable as free-form properties).
pub const RESERVED: &[&str] = &["deleted", "deleted_at", "location"];

/// Longest accepted name, tag or property value (Glance's column sizes).
pub const MAX_STRING: usize = 255;
/// At most this many free-form properties per image (Glance's `image_property_quota`).
pub const MAX_PROPERTIES: usize = 128;
/// At most this many tags per image (Glance's `image_tag_quota`).
pub const MAX_TAGS: usize = 128;

/// An image record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// The id.
    pub id: ImageId,
    /// A display name (not unique).
    pub name: Option<String>,
    /// The lifecycle status.
    pub status: ImageStatus,
    /// Who can see it.
    pub visibility: Visibility,
    /// Deletion is refused while set.
    pub protected: bool,
    /// Hidden from default listings.
    pub os_hidden: bool,
    /// The owning project.
    pub owner: Option<ProjectId>,
    /// The disk format.
    pub disk_format: Option<String>,
    /// The container format.
    pub container_format: Option<String>,
    /// Minimum disk in GiB to boot it.
    pub min_disk: u64,
    /// Minimum RAM in MiB to boot it.
    pub min_ram: u64,
    /// Bytes of data.
    pub size: Option<u64>,
    /// The virtual disk size the format declares.
    pub virtual_size: Option<u64>,
    /// MD5 of the data (legacy).
    pub checksum: Option<String>,
    /// The multihash algorithm (`sha512`).
    pub os_hash_algo: Option<String>,
    /// The multihash of the data.
    pub os_hash_value: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Free-form properties, stored and echoed.
    pub properties: BTreeMap<String, String>,
    /// Projects the image is shared with.
    pub members: Vec<Member>,
    /// Creation time.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last change.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Glance prints whole seconds with `Z`, as core's `seconds_format` does.
fn glance_time(t: OffsetDateTime) -> String {
    ferrostack_core::time::seconds_format(t)
}

impl Image {
    /// Moves to `to` if Glance allows it; also enforces that data-bearing states need both
    /// formats, and clears the data attributes when going back to `queued`.
    pub fn transition(&mut self, to: ImageStatus) -> Result<(), crate::ImageError> {
        if !self.status.can_become(to) {
            return Err(crate::ImageError::Conflict(format!(
                "image status transition from {} to {} is not allowed",
                self.status.as_str(),
                to.as_str()
            )));
        }
        let leaving_empty = matches!(self.status, ImageStatus::Queued | ImageStatus::Uploading);
        let to_data =
            matches!(to, ImageStatus::Saving | ImageStatus::Active | ImageStatus::Importing);
        if leaving_empty
            && to_data
            && (self.disk_format.is_none() || self.container_format.is_none())
        {
            return Err(crate::ImageError::Invalid(
                "Properties disk_format, container_format must be set prior to saving data.".into(),
            ));
        }
        if to == ImageStatus::Queued {
            self.size = None;
            self.virtual_size = None;
        }
        self.status = to;
        self.updated_at = OffsetDateTime::now_utc();
        Ok(())
    }

    /// The Glance v2 JSON representation.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (k, v) in &self.properties {
            m.insert(k.clone(), Value::String(v.clone()));
        }
        let id = self.id.to_string();
        let opt = |v: &Option<String>| v.clone().map(Value::String).unwrap_or(Value::Null);
        let num = |v: Option<u64>| v.map(Value::from).unwrap_or(Value::Null);
        m.insert("id".into(), Value::String(id.clone()));
        m.insert("name".into(), opt(&self.name));
        m.insert("status".into(), self.status.as_str().into());
        m.insert("visibility".into(), self.visibility.as_str().into());
        m.insert("protected".into(), self.protected.into());
        m.insert("os_hidden".into(), self.os_hidden.into());
        m.insert("owner".into(), opt(&self.owner.as_ref().map(|o| o.to_string())));
        m.insert("disk_format".into(), opt(&self.disk_format));
        m.insert("container_format".into(), opt(&self.container_format));
        m.insert("min_disk".into(), self.min_disk.into());
        m.insert("min_ram".into(), self.min_ram.into());
        m.insert("size".into(), num(self.size));
        m.insert("virtual_size".into(), num(self.virtual_size));
        m.insert("checksum".into(), opt(&self.checksum));
        m.insert("os_hash_algo".into(), opt(&self.os_hash_algo));
        m.insert("os_hash_value".into(), opt(&self.os_hash_value));
        m.insert("tags".into(), self.tags.clone().into());
        m.insert("created_at".into(), glance_time(self.created_at).into());
        m.insert("updated_at".into(), glance_time(self.updated_at).into());
        m.insert("self".into(), format!("/v2/images/{id}").into());
        m.insert("file".into(), format!("/v2/images/{id}/file").into());
        m.insert("schema".into(), "/v2/schemas/image".into());
        Value::Object(m)
    }

    /// Reads Glance v2's JSON of an image (what [`Image::to_json`] writes, or a real Glance's
    /// answer). String attributes that are not Glance's own become [`Image::properties`]; the
    /// members are not part of an image's JSON, so [`Image::members`] is empty.
    pub fn from_json(v: Value) -> Result<Image, serde_json::Error> {
        #[derive(Deserialize)]
        struct Doc {
            id: ImageId,
            name: Option<String>,
            status: ImageStatus,
            visibility: Visibility,
            #[serde(default)]
            protected: bool,
            #[serde(default)]
            os_hidden: bool,
            owner: Option<ProjectId>,
            disk_format: Option<String>,
            container_format: Option<String>,
            #[serde(default, deserialize_with = "null_as_zero")]
            min_disk: u64,
            #[serde(default, deserialize_with = "null_as_zero")]
            min_ram: u64,
            size: Option<u64>,
            virtual_size: Option<u64>,
            checksum: Option<String>,
            os_hash_algo: Option<String>,
            os_hash_value: Option<String>,
            #[serde(default)]
            tags: Vec<String>,
            #[serde(with = "time::serde::rfc3339")]
            created_at: OffsetDateTime,
            #[serde(with = "time::serde::rfc3339")]
            updated_at: OffsetDateTime,
            #[serde(flatten)]
            extra: BTreeMap<String, Value>,
        }
        fn null_as_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
            Ok(Option::<u64>::deserialize(d)?.unwrap_or(0))
        }
        let d: Doc = serde_json::from_value(v)?;
        let properties = d
            .extra
            .into_iter()
            .filter(|(k, _)| !READ_ONLY.contains(&k.as_str()) && !RESERVED.contains(&k.as_str()))
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k, s)),
                _ => None,
            })
            .collect();
        Ok(Image {
            id: d.id,
            name: d.name,
            status: d.status,
            visibility: d.visibility,
            protected: d.protected,
            os_hidden: d.os_hidden,
            owner: d.owner,
            disk_format: d.disk_format,
            container_format: d.container_format,
            min_disk: d.min_disk,
            min_ram: d.min_ram,
            size: d.size,
            virtual_size: d.virtual_size,
            checksum: d.checksum,
            os_hash_algo: d.os_hash_algo,
            os_hash_value: d.os_hash_value,
            tags: d.tags,
            properties,
            members: Vec::new(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        })
    }

    /// Reads the JSON of one member (what [`Image::member_json`] writes).
    pub fn member_from_json(v: Value) -> Result<Member, serde_json::Error> {
        serde_json::from_value(v)
    }

    /// The JSON of one member.
    pub fn member_json(&self, m: &Member) -> Value {
        serde_json::json!({
            "image_id": self.id.to_string(),
            "member_id": m.member_id,
            "status": match m.status {
                MemberStatus::Pending => "pending",
                MemberStatus::Accepted => "accepted",
                MemberStatus::Rejected => "rejected",
            },
            "created_at": glance_time(m.created_at),
            "updated_at": glance_time(m.updated_at),
            "schema": "/v2/schemas/member",
        })
    }
}

/// The status of an import task (Glance's task statuses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskStatus {
    /// Created, not started.
    Pending,
    /// Running.
    Processing,
    /// Finished; the image is active.
    Success,
    /// Failed; [`ImportTask::message`] says why and the image went back to `queued`.
    Failure,
}

impl TaskStatus {
    /// Glance's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskStatus::Pending => "pending",
            TaskStatus::Processing => "processing",
            TaskStatus::Success => "success",
            TaskStatus::Failure => "failure",
        }
    }
}

/// An `api_image_import` task: one asynchronous import of an image, as listed by
/// `GET /v2/images/{id}/tasks`. While it runs, the image carries its id in the
/// `os_glance_import_task` property (Glance's import lock).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportTask {
    /// The task id.
    pub id: String,
    /// The image.
    pub image_id: ImageId,
    /// The project that asked.
    pub owner: Option<String>,
    /// The user that asked.
    pub user_id: Option<String>,
    /// The request that created it.
    pub request_id: Option<String>,
    /// The status.
    pub status: TaskStatus,
    /// The import request (`{"method": {...}}`).
    pub input: Value,
    /// Why it failed, or empty.
    pub message: String,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl ImportTask {
    /// Reads Glance's JSON of a task (what [`ImportTask::to_json`] writes).
    pub fn from_json(v: Value) -> Result<ImportTask, serde_json::Error> {
        #[derive(Deserialize)]
        struct Input {
            #[serde(default)]
            import_req: Value,
        }
        #[derive(Deserialize)]
        struct Doc {
            id: String,
            image_id: ImageId,
            owner: Option<String>,
            user_id: Option<String>,
            request_id: Option<String>,
            status: TaskStatus,
            input: Option<Input>,
            #[serde(default)]
            message: Option<String>,
            #[serde(with = "time::serde::rfc3339")]
            created_at: OffsetDateTime,
            #[serde(with = "time::serde::rfc3339")]
            updated_at: OffsetDateTime,
        }
        let d: Doc = serde_json::from_value(v)?;
        Ok(ImportTask {
            id: d.id,
            image_id: d.image_id,
            owner: d.owner,
            user_id: d.user_id,
            request_id: d.request_id,
            status: d.status,
            input: d.input.map(|i| i.import_req).unwrap_or(Value::Null),
            message: d.message.unwrap_or_default(),
            created_at: d.created_at,
            updated_at: d.updated_at,
        })
    }

    /// Glance's JSON of a task.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "type": "api_image_import",
            "status": self.status.as_str(),
            "owner": self.owner,
            "user_id": self.user_id,
            "request_id": self.request_id,
            "image_id": self.image_id.to_string(),
            "input": {"image_id": self.image_id.to_string(), "import_req": self.input, "backend": [Value::Null]},
            "result": if self.status == TaskStatus::Success {
                serde_json::json!({"image_id": self.image_id.to_string()})
            } else {
                Value::Null
            },
            "message": self.message,
            "expires_at": Value::Null,
            "created_at": glance_time(self.created_at),
            "updated_at": glance_time(self.updated_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_glance() {
        use ImageStatus::*;
        assert!(Queued.can_become(Saving));
        assert!(Saving.can_become(Queued));
        assert!(!Active.can_become(Queued));
        assert!(!Deleted.can_become(Active));
        assert!(Deactivated.can_become(Active));
        assert!(!Killed.can_become(Active));
    }
}
