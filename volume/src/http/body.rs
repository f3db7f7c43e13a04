// SPDX-License-Identifier: Apache-2.0
//! Cinder's request bodies as typed serde structs, and [`parse`], which turns a body into one
//! of them with the messages Cinder gives for bad input.
//!
//! Each field that Cinder validates is read through a `deserialize_with` function that knows
//! the field's name, so that its error names the field and shows the value as Cinder does
//! ("Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1").
//! An absent or `null` optional field is `None`.

use crate::types::{Connector, MAX_DESCRIPTION_LEN, MAX_NAME_LEN, MAX_SIZE_GB};
use ferrostack_core::http::ApiError;
use ferrostack_core::id::truncate_for_message;
use serde::de::{DeserializeOwned, Error as _, IgnoredAny};
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::BTreeMap;

/// Parses `body` into `T`. A body that is not a JSON object reads as `{}` (so a missing root
/// key is reported as such); serde's errors become Cinder's messages.
pub(super) fn parse<T: DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    let body = if body.is_object() { body } else { Value::Object(Default::default()) };
    serde_json::from_value(body).map_err(|e| ApiError::bad_request(message(&e.to_string())))
}

/// Cinder's message for a serde error message.
fn message(e: &str) -> String {
    let quoted = |prefix: &str| {
        e.strip_prefix(prefix).and_then(|rest| rest.split('`').next()).map(truncate_for_message)
    };
    if let Some(field) = quoted("missing field `") {
        format!("Invalid input received: '{field}' is a required property")
    } else if let Some(action) = quoted("unknown variant `") {
        format!("There is no such action: {action}")
    } else if let Some(field) = quoted("duplicate field `") {
        format!("Invalid input received: '{field}' is given more than once")
    } else if e.starts_with("Invalid ") {
        // One of ours (see the field readers below): already in Cinder's words.
        e.to_owned()
    } else {
        "Malformed request body".to_owned()
    }
}

fn invalid(field: &str, v: &Value, why: &str) -> String {
    let shown = truncate_for_message(&v.to_string());
    format!("Invalid input for field/attribute {field}. Value: {shown}. {why}")
}

// ---- field readers ---------------------------------------------------------------------------

fn value<'de, D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
    Value::deserialize(d)
}

fn string<'de, D: Deserializer<'de>>(
    d: D,
    key: &str,
    max: usize,
) -> Result<Option<String>, D::Error> {
    match value(d)? {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= max => Ok(Some(s)),
        v @ Value::String(_) => {
            Err(D::Error::custom(invalid(key, &v, &format!("is too long (maximum {max})"))))
        }
        v => Err(D::Error::custom(invalid(key, &v, "is not of type 'string'"))),
    }
}

fn boolean<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<Option<bool>, D::Error> {
    match value(d)? {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(Some(true)),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(Some(false)),
            _ => Err(D::Error::custom(format!(
                "Invalid value '{}' for {key}.",
                truncate_for_message(&s)
            ))),
        },
        v => Err(D::Error::custom(invalid(key, &v, "is not of type 'boolean'"))),
    }
}

fn size<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<Option<u64>, D::Error> {
    let v = value(d)?;
    let bad = |why: String| D::Error::custom(invalid(key, &v, &why));
    let n: i128 = match &v {
        Value::Null => return Ok(None),
        Value::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => i128::from(i),
            (None, Some(u)) => i128::from(u),
            (None, None) => return Err(bad(format!("{n} is not of type 'integer', 'string'"))),
        },
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i128>().unwrap_or(i128::MAX)
        }
        Value::String(s) => {
            return Err(bad(format!("'{}' does not match '^[0-9]+$'", truncate_for_message(s))));
        }
        _ => return Err(bad("is not of type 'integer', 'string'".into())),
    };
    if n < 1 {
        return Err(bad(format!("{n} is less than the minimum of 1")));
    }
    if n > i128::from(MAX_SIZE_GB) {
        return Err(bad(format!("{n} is greater than the maximum of {MAX_SIZE_GB}")));
    }
    Ok(Some(n as u64))
}

fn string_map<'de, D: Deserializer<'de>>(
    d: D,
    key: &str,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    match value(d)? {
        Value::Null => Ok(None),
        Value::Object(o) => o
            .into_iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k, s)),
                other => {
                    Err(D::Error::custom(invalid(key, &other, "metadata values must be strings")))
                }
            })
            .collect::<Result<_, _>>()
            .map(Some),
        v => Err(D::Error::custom(invalid(key, &v, "is not of type 'object'"))),
    }
}

fn uuid<'de, D: Deserializer<'de>, T: std::str::FromStr>(
    d: D,
    key: &str,
) -> Result<Option<T>, D::Error> {
    match string(d, key, 255)? {
        None => Ok(None),
        Some(s) => s.parse::<T>().map(Some).map_err(|_| {
            D::Error::custom(invalid(key, &Value::String(s.clone()), "is not a 'uuid'"))
        }),
    }
}

fn integer<'de, D: Deserializer<'de>>(d: D, key: &str) -> Result<Option<i64>, D::Error> {
    let v = value(d)?;
    match &v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse::<i64>().ok(),
        _ => None,
    }
    .map(Some)
    .ok_or_else(|| D::Error::custom(invalid(key, &v, "is not an integer")))
}

/// The object under a root key (`{"volume": {..}}`); another JSON type is Cinder's
/// "is not of type 'object'". `null` reads as `{}` when `null_is_empty` (action arguments).
fn object<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
    key: &str,
    null_is_empty: bool,
) -> Result<T, D::Error> {
    match value(d)? {
        v @ Value::Object(_) => serde_json::from_value(v).map_err(D::Error::custom),
        Value::Null if null_is_empty => {
            serde_json::from_value(Value::Object(Default::default())).map_err(D::Error::custom)
        }
        v => Err(D::Error::custom(invalid(key, &v, "is not of type 'object'"))),
    }
}

/// `fn $name(d) -> Result<$ty, _>` reading the field `$key` with `$reader` (and its extra args).
macro_rules! readers {
    ($($name:ident: $ty:ty = $reader:ident($key:literal $(, $arg:expr)*);)*) => {$(
        fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
            $reader(d, $key $(, $arg)*)
        }
    )*};
}

readers! {
    name: Option<String> = string("name", MAX_NAME_LEN);
    description: Option<String> = string("description", MAX_DESCRIPTION_LEN);
    image_ref: Option<String> = string("imageRef", 255);
    volume_type: Option<String> = string("volume_type", 255);
    availability_zone: Option<String> = string("availability_zone", 255);
    image_name: Option<String> = string("image_name", 255);
    disk_format: Option<String> = string("disk_format", 32);
    container_format: Option<String> = string("container_format", 32);
    new_type: Option<String> = string("new_type", 255);
    migration_policy: Option<String> = string("migration_policy", 32);
    mode: Option<String> = string("mode", 8);
    type_name: Option<String> = string("name", 255);
    multiattach: Option<bool> = boolean("multiattach");
    force: Option<bool> = boolean("force");
    is_public: Option<bool> = boolean("is_public");
    access_is_public: Option<bool> = boolean("os-volume-type-access:is_public");
    size_gb: Option<u64> = size("size");
    new_size: Option<u64> = size("new_size");
    metadata: Option<BTreeMap<String, String>> = string_map("metadata");
    extra_specs: Option<BTreeMap<String, String>> = string_map("extra_specs");
    snapshot_id: Option<ferrostack_core::id::SnapshotId> = uuid("snapshot_id");
    source_volid: Option<ferrostack_core::id::VolumeId> = uuid("source_volid");
    volume_id: Option<ferrostack_core::id::VolumeId> = uuid("volume_id");
    volume_uuid: Option<ferrostack_core::id::VolumeId> = uuid("volume_uuid");
    instance_uuid: Option<ferrostack_core::id::ServerId> = uuid("instance_uuid");
    quota_volumes: Option<i64> = integer("volumes");
    quota_gigabytes: Option<i64> = integer("gigabytes");
    quota_snapshots: Option<i64> = integer("snapshots");
    quota_per_volume_gigabytes: Option<i64> = integer("per_volume_gigabytes");
    volume_root: VolumeFields = object("volume", false);
    snapshot_root: SnapshotFields = object("snapshot", false);
    type_root: VolumeTypeFields = object("volume_type", false);
    attachment_root: AttachmentFields = object("attachment", false);
    quota_root: QuotaSetFields = object("quota_set", false);
    extend_args: ExtendArgs = object("os-extend", true);
    upload_args: UploadImageArgs = object("os-volume_upload_image", true);
    retype_args: RetypeArgs = object("os-retype", true);
}

fn connector<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Connector>, D::Error> {
    match value(d)? {
        Value::Null => Ok(None),
        v @ Value::Object(_) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| D::Error::custom(invalid("connector", &v, &e.to_string()))),
        v => Err(D::Error::custom(invalid("connector", &v, "is not of type 'object'"))),
    }
}

/// What an ignored-but-refused field (`backup_id`, ..) is: present when not `null`.
type Refused = Option<IgnoredAny>;

// ---- bodies ----------------------------------------------------------------------------------

/// `POST /volumes` and `PUT /volumes/{id}`: `{"volume": {..}}`.
#[derive(Deserialize)]
pub(super) struct VolumeBody {
    #[serde(deserialize_with = "volume_root")]
    pub volume: VolumeFields,
}

/// The fields of a volume's create or update (update reads name, description, metadata).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct VolumeFields {
    #[serde(alias = "display_name", deserialize_with = "name")]
    pub name: Option<String>,
    #[serde(alias = "display_description", deserialize_with = "description")]
    pub description: Option<String>,
    #[serde(deserialize_with = "size_gb")]
    pub size: Option<u64>,
    #[serde(rename = "imageRef", alias = "image_id", deserialize_with = "image_ref")]
    pub image_ref: Option<String>,
    #[serde(deserialize_with = "volume_type")]
    pub volume_type: Option<String>,
    #[serde(deserialize_with = "snapshot_id")]
    pub snapshot_id: Option<ferrostack_core::id::SnapshotId>,
    #[serde(deserialize_with = "source_volid")]
    pub source_volid: Option<ferrostack_core::id::VolumeId>,
    #[serde(deserialize_with = "multiattach")]
    pub multiattach: Option<bool>,
    #[serde(deserialize_with = "metadata")]
    pub metadata: Option<BTreeMap<String, String>>,
    #[serde(deserialize_with = "availability_zone")]
    pub availability_zone: Option<String>,
    pub backup_id: Refused,
    pub consistencygroup_id: Refused,
    pub group_id: Refused,
    pub source_replica: Refused,
}

impl VolumeFields {
    /// The first field given that this service does not support.
    pub fn unsupported(&self) -> Option<&'static str> {
        [
            ("backup_id", &self.backup_id),
            ("consistencygroup_id", &self.consistencygroup_id),
            ("group_id", &self.group_id),
            ("source_replica", &self.source_replica),
        ]
        .into_iter()
        .find_map(|(k, v)| v.is_some().then_some(k))
    }
}

/// `POST /volumes/{id}/action`: one action and its arguments.
#[derive(Deserialize)]
pub(super) enum VolumeAction {
    /// `os-extend`.
    #[serde(rename = "os-extend", deserialize_with = "extend_args")]
    Extend(ExtendArgs),
    /// `os-volume_upload_image`.
    #[serde(rename = "os-volume_upload_image", deserialize_with = "upload_args")]
    UploadImage(UploadImageArgs),
    /// `os-retype`.
    #[serde(rename = "os-retype", deserialize_with = "retype_args")]
    Retype(RetypeArgs),
}

/// `os-extend`'s arguments.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct ExtendArgs {
    #[serde(deserialize_with = "new_size")]
    pub new_size: Option<u64>,
}

/// `os-volume_upload_image`'s arguments.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct UploadImageArgs {
    #[serde(deserialize_with = "image_name")]
    pub image_name: Option<String>,
    #[serde(deserialize_with = "disk_format")]
    pub disk_format: Option<String>,
    #[serde(deserialize_with = "container_format")]
    pub container_format: Option<String>,
    #[serde(deserialize_with = "force")]
    pub force: Option<bool>,
}

/// `os-retype`'s arguments.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RetypeArgs {
    #[serde(deserialize_with = "new_type")]
    pub new_type: Option<String>,
    #[serde(deserialize_with = "migration_policy")]
    pub migration_policy: Option<String>,
}

/// `POST /snapshots` and `PUT /snapshots/{id}`: `{"snapshot": {..}}`.
#[derive(Deserialize)]
pub(super) struct SnapshotBody {
    #[serde(deserialize_with = "snapshot_root")]
    pub snapshot: SnapshotFields,
}

/// A snapshot's create or update fields.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct SnapshotFields {
    #[serde(deserialize_with = "volume_id")]
    pub volume_id: Option<ferrostack_core::id::VolumeId>,
    #[serde(alias = "display_name", deserialize_with = "name")]
    pub name: Option<String>,
    #[serde(alias = "display_description", deserialize_with = "description")]
    pub description: Option<String>,
    #[serde(deserialize_with = "force")]
    pub force: Option<bool>,
    #[serde(deserialize_with = "metadata")]
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `POST /types`: `{"volume_type": {..}}`.
#[derive(Deserialize)]
pub(super) struct VolumeTypeBody {
    #[serde(deserialize_with = "type_root")]
    pub volume_type: VolumeTypeFields,
}

/// A volume type's create fields.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct VolumeTypeFields {
    #[serde(deserialize_with = "type_name")]
    pub name: Option<String>,
    #[serde(deserialize_with = "description")]
    pub description: Option<String>,
    #[serde(rename = "os-volume-type-access:is_public", deserialize_with = "access_is_public")]
    pub access_is_public: Option<bool>,
    #[serde(deserialize_with = "is_public")]
    pub is_public: Option<bool>,
    #[serde(deserialize_with = "extra_specs")]
    pub extra_specs: Option<BTreeMap<String, String>>,
}

/// `POST /types/{id}/extra_specs`: `{"extra_specs": {..}}`.
#[derive(Deserialize)]
pub(super) struct ExtraSpecsBody {
    #[serde(default, deserialize_with = "extra_specs")]
    pub extra_specs: Option<BTreeMap<String, String>>,
}

/// `POST /attachments` and `PUT /attachments/{id}`: `{"attachment": {..}}`.
#[derive(Deserialize)]
pub(super) struct AttachmentBody {
    #[serde(deserialize_with = "attachment_root")]
    pub attachment: AttachmentFields,
}

/// An attachment's create or update fields (`volume_id` is the older `volume_uuid`).
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct AttachmentFields {
    #[serde(deserialize_with = "volume_uuid")]
    pub volume_uuid: Option<ferrostack_core::id::VolumeId>,
    #[serde(deserialize_with = "volume_id")]
    pub volume_id: Option<ferrostack_core::id::VolumeId>,
    #[serde(deserialize_with = "instance_uuid")]
    pub instance_uuid: Option<ferrostack_core::id::ServerId>,
    #[serde(deserialize_with = "connector")]
    pub connector: Option<Connector>,
    #[serde(deserialize_with = "mode")]
    pub mode: Option<String>,
}

/// `POST /attachments/{id}/action`.
#[derive(Deserialize)]
pub(super) enum AttachmentAction {
    /// `os-complete` (its argument is ignored).
    #[serde(rename = "os-complete")]
    Complete(IgnoredAny),
}

/// `PUT /os-quota-sets/{target}`: `{"quota_set": {..}}`.
#[derive(Deserialize)]
pub(super) struct QuotaSetBody {
    #[serde(deserialize_with = "quota_root")]
    pub quota_set: QuotaSetFields,
}

/// The limits to change; `id`/`tenant_id` are ignored, any other key is refused.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct QuotaSetFields {
    #[serde(deserialize_with = "quota_volumes")]
    pub volumes: Option<i64>,
    #[serde(deserialize_with = "quota_gigabytes")]
    pub gigabytes: Option<i64>,
    #[serde(deserialize_with = "quota_snapshots")]
    pub snapshots: Option<i64>,
    #[serde(deserialize_with = "quota_per_volume_gigabytes")]
    pub per_volume_gigabytes: Option<i64>,
    pub id: Option<IgnoredAny>,
    pub tenant_id: Option<IgnoredAny>,
    /// Keys that are not quotas.
    #[serde(flatten)]
    pub other: BTreeMap<String, IgnoredAny>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn error<T: DeserializeOwned>(body: Value) -> String {
        match parse::<T>(body) {
            Ok(_) => panic!("should be refused"),
            Err(e) => e.message,
        }
    }

    #[test]
    fn legacy_names_are_aliases() {
        let VolumeBody { volume: f } = parse(json!({"volume": {
            "display_name": "a", "display_description": "b", "image_id": "i", "size": "2"
        }}))
        .unwrap();
        assert_eq!(
            (f.name.as_deref(), f.description.as_deref(), f.image_ref.as_deref(), f.size),
            (Some("a"), Some("b"), Some("i"), Some(2))
        );
        let SnapshotBody { snapshot: f } =
            parse(json!({"snapshot": {"display_name": "s", "force": "yes"}})).unwrap();
        assert_eq!((f.name.as_deref(), f.force), (Some("s"), Some(true)));
    }

    #[test]
    fn errors_use_cinders_messages() {
        assert_eq!(
            error::<VolumeBody>(json!([1, 2])),
            "Invalid input received: 'volume' is a required property"
        );
        assert_eq!(
            error::<VolumeBody>(json!({"volume": "x"})),
            "Invalid input for field/attribute volume. Value: \"x\". is not of type 'object'"
        );
        assert_eq!(
            error::<VolumeBody>(json!({"volume": {"size": 0}})),
            "Invalid input for field/attribute size. Value: 0. 0 is less than the minimum of 1"
        );
        assert_eq!(
            error::<VolumeBody>(json!({"volume": {"name": 7}})),
            "Invalid input for field/attribute name. Value: 7. is not of type 'string'"
        );
        assert_eq!(
            error::<VolumeAction>(json!({"os-frobnicate": {}})),
            "There is no such action: os-frobnicate"
        );
        assert_eq!(error::<VolumeAction>(json!({"a": 1, "b": 2})), "Malformed request body");
        assert_eq!(
            error::<VolumeAction>(json!({"os-extend": 3})),
            "Invalid input for field/attribute os-extend. Value: 3. is not of type 'object'"
        );
        assert_eq!(
            error::<QuotaSetBody>(json!({"quota_set": {"volumes": "many"}})),
            "Invalid input for field/attribute volumes. Value: \"many\". is not an integer"
        );
    }

    #[test]
    fn actions_and_quota_sets_parse() {
        let VolumeAction::Extend(ExtendArgs { new_size }) =
            parse(json!({"os-extend": {"new_size": 3}})).unwrap()
        else {
            panic!("os-extend")
        };
        assert_eq!(new_size, Some(3));
        assert!(matches!(
            parse(json!({"os-retype": null})).unwrap(),
            VolumeAction::Retype(RetypeArgs { new_type: None, .. })
        ));
        let QuotaSetBody { quota_set: q } =
            parse(json!({"quota_set": {"volumes": "4", "id": "p", "bogus": 1}})).unwrap();
        assert_eq!(q.volumes, Some(4));
        assert_eq!(q.other.keys().collect::<Vec<_>>(), ["bogus"]);
        assert!(parse::<AttachmentAction>(json!({"os-complete": null})).is_ok());
    }
}
