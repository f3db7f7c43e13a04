// SPDX-License-Identifier: Apache-2.0
//! The image service's API: the [`ImageApi`] trait and its typed requests.
//!
//! Two implementations exist: [`ImageService`](crate::ImageService), the local service, and
//! [`http::Client`](crate::http::Client), which speaks Glance v2 to a remote endpoint (ours or
//! a real Glance). [`testing::run_api_conformance`](crate::testing::run_api_conformance) runs
//! the same checks against both.

use std::collections::BTreeMap;

use ferrostack_core::RequestContext;
use ferrostack_core::id::{ImageId, ProjectId};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::{ImageError, Result};
use crate::store::ByteStream;
use crate::types::{
    Image, ImageStatus, ImportTask, MAX_STRING, Member, MemberStatus, READ_ONLY, RESERVED,
    Visibility,
};

/// The image service's operations, each on behalf of a caller.
///
/// # Contract
///
/// * **Visibility.** An image the caller may not see (another project's `private` image, a
///   `shared` image the caller is not a member of) is [`ImageError::NotFound`] for every
///   operation, as in Glance; it is never listed.
/// * **Authorisation.** Changing an image needs a member role in the owning project (or
///   admin); making an image `public`, deactivating and reactivating need admin. Refusals are
///   [`ErrorKind::Forbidden`](ferrostack_core::error::ErrorKind::Forbidden).
/// * **Lifecycle.** Images are created `queued`. [`upload`](ImageApi::upload) moves a `queued`
///   image to `active` with its `size`, md5 `checksum` and sha512 `os_hash_value`;
///   [`stage`](ImageApi::stage) then [`import`](ImageApi::import) with `glance-direct` does the
///   same in two steps. A refused or broken upload leaves the image `queued`, never half
///   `active`. Data of the wrong format (for `container_format=bare`) is
///   [`ImageError::BadImageData`].
/// * **Data** is streamed in both directions: no implementation holds a whole image in memory.
/// * **Errors** classify through [`Classify`](ferrostack_core::error::Classify): not found,
///   invalid input, forbidden, conflict (a state that forbids the operation, a lost race),
///   quota exceeded. A remote implementation reports the same kinds with the server's message.
#[async_trait::async_trait]
pub trait ImageApi: Send + Sync + std::fmt::Debug {
    /// Creates a `queued` image.
    async fn create(&self, ctx: &RequestContext, req: CreateImage) -> Result<Image>;
    /// Shows a visible image.
    async fn get(&self, ctx: &RequestContext, id: &ImageId) -> Result<Image>;
    /// Lists visible images, newest first.
    async fn list(&self, ctx: &RequestContext, q: &ListQuery) -> Result<Vec<Image>>;
    /// Applies a JSON patch (all operations or none).
    async fn update(&self, ctx: &RequestContext, id: &ImageId, ops: Vec<PatchOp>) -> Result<Image>;
    /// Deletes an image and its data.
    async fn delete(&self, ctx: &RequestContext, id: &ImageId) -> Result<()>;
    /// Uploads the data of a `queued` image from a stream.
    async fn upload(&self, ctx: &RequestContext, id: &ImageId, data: ByteStream) -> Result<Image>;
    /// Stages data for the interoperable import (`queued` → `uploading`).
    async fn stage(&self, ctx: &RequestContext, id: &ImageId, data: ByteStream) -> Result<()>;
    /// Imports data with `method`: `glance-direct` inspects and hashes the staged data, then
    /// activates the image; `web-download` checks `uri` against the import filter, moves the
    /// image to `importing` and downloads in the background (see [`ImageApi::tasks`]).
    async fn import(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        method: &str,
        uri: Option<&str>,
    ) -> Result<Image>;
    /// The import methods enabled (for `/v2/info/import`).
    async fn import_methods(&self, ctx: &RequestContext) -> Result<Vec<String>>;
    /// The import tasks of a visible image, oldest first.
    async fn tasks(&self, ctx: &RequestContext, id: &ImageId) -> Result<Vec<ImportTask>>;
    /// Streams the data of an image; `None` when it has none.
    async fn download(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<Option<(Image, ByteStream)>>;
    /// `active` → `deactivated` (or back with `active = true`).
    async fn set_active(&self, ctx: &RequestContext, id: &ImageId, active: bool) -> Result<()>;
    /// Adds (`add = true`) or removes a tag.
    async fn tag(&self, ctx: &RequestContext, id: &ImageId, tag: &str, add: bool) -> Result<()>;
    /// The image's members (all of them for the owner, the caller's own entry for a member).
    async fn members(&self, ctx: &RequestContext, id: &ImageId) -> Result<(Image, Vec<Member>)>;
    /// Shares a `shared` image with a project.
    async fn add_member(&self, ctx: &RequestContext, id: &ImageId, member: &str) -> Result<Member>;
    /// The member accepts or rejects.
    async fn update_member(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        member: &str,
        status: MemberStatus,
    ) -> Result<Member>;
    /// Unshares.
    async fn remove_member(&self, ctx: &RequestContext, id: &ImageId, member: &str) -> Result<()>;
}

/// Filters of [`ImageApi::list`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListQuery {
    /// Exact name.
    pub name: Option<String>,
    /// Only this visibility (`community` images are listed only when asked for).
    pub visibility: Option<Visibility>,
    /// Only this status.
    pub status: Option<ImageStatus>,
    /// Only these ids (`id=in:a,b`).
    pub ids: Option<Vec<ImageId>>,
    /// Only images owned by this project.
    pub owner: Option<String>,
    /// Images after this id.
    pub marker: Option<ImageId>,
    /// At most this many.
    pub limit: Option<usize>,
}

/// The body of `POST /v2/images`: Glance's create request.
///
/// Every field is optional. Besides the named attributes, any other key is a free-form
/// string property ([`CreateImage::properties`]), unless Glance reserves it: read-only
/// attributes (`status`, `size`, ...), `deleted`/`location` and `os_glance*` are refused with
/// [`ImageError::Forbidden`].
///
/// Parsing a JSON body ([`CreateImage::from_json`], also its `Deserialize`) checks the JSON
/// types of the values; the service checks the rest (lengths, formats, limits, policy), so a
/// request built in code is validated the same way.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CreateImage {
    /// The id to create the image with (a new one if absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<ImageId>,
    /// The display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Who can see it (`shared` if absent, as Glance's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visibility: Option<Visibility>,
    /// One of [`DISK_FORMATS`](crate::types::DISK_FORMATS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disk_format: Option<String>,
    /// One of [`CONTAINER_FORMATS`](crate::types::CONTAINER_FORMATS).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_format: Option<String>,
    /// Minimum disk in GiB to boot it (at most `i32::MAX`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_disk: Option<u64>,
    /// Minimum RAM in MiB to boot it (at most `i32::MAX`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_ram: Option<u64>,
    /// Deletion is refused while set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protected: Option<bool>,
    /// Hidden from default listings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_hidden: Option<bool>,
    /// Tags (duplicates collapse; at most [`MAX_TAGS`](crate::types::MAX_TAGS)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// The owning project, admin only: `Some(None)` creates an image without an owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Option<ProjectId>>,
    /// Free-form string properties (`hw_disk_bus`, `os_distro`, ...).
    #[serde(flatten)]
    pub properties: BTreeMap<String, String>,
}

impl CreateImage {
    /// A request for an image called `name` with both formats set.
    pub fn new(name: impl Into<String>, disk_format: &str, container_format: &str) -> Self {
        CreateImage {
            name: Some(name.into()),
            disk_format: Some(disk_format.to_owned()),
            container_format: Some(container_format.to_owned()),
            ..CreateImage::default()
        }
    }

    /// Adds a free-form property.
    pub fn property(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// Parses Glance's create body, in key order, with Glance's refusals: a value of the
    /// wrong JSON type is [`ImageError::Invalid`]; a reserved or read-only key is
    /// [`ImageError::Forbidden`] whatever its value.
    pub fn from_json(body: Map<String, Value>) -> Result<CreateImage> {
        let mut req = CreateImage::default();
        for (key, value) in body {
            match key.as_str() {
                "id" => {
                    req.id = match value {
                        Value::Null => None,
                        v => Some(
                            json_string("id", v)?
                                .parse()
                                .map_err(|_| ImageError::Invalid("id must be a UUID".into()))?,
                        ),
                    }
                }
                "name" => req.name = json_opt_string("name", value)?,
                "visibility" => {
                    req.visibility = Some(
                        value
                            .as_str()
                            .and_then(Visibility::parse)
                            .ok_or_else(|| ImageError::Invalid("invalid visibility".into()))?,
                    )
                }
                "protected" => req.protected = Some(json_bool("protected", &value)?),
                "os_hidden" => req.os_hidden = Some(json_bool("os_hidden", &value)?),
                "min_disk" => req.min_disk = Some(json_int("min_disk", &value)?),
                "min_ram" => req.min_ram = Some(json_int("min_ram", &value)?),
                "tags" => {
                    let Value::Array(items) = value else {
                        return Err(ImageError::Invalid("tags must be a list".into()));
                    };
                    req.tags = Some(
                        items.into_iter().map(|t| json_string("tag", t)).collect::<Result<_>>()?,
                    );
                }
                "disk_format" => req.disk_format = json_opt_string("disk_format", value)?,
                "container_format" => {
                    req.container_format = json_opt_string("container_format", value)?
                }
                "owner" => {
                    req.owner = Some(match json_opt_string("owner", value)? {
                        None => None,
                        Some(s) => Some(
                            s.parse().map_err(|_| ImageError::Invalid("invalid owner".into()))?,
                        ),
                    })
                }
                _ => {
                    check_property_name(&key)?;
                    let v = json_string(&key, value)?;
                    req.properties.insert(key, v);
                }
            }
        }
        Ok(req)
    }
}

impl<'de> Deserialize<'de> for CreateImage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let body = Map::deserialize(d)?;
        CreateImage::from_json(body).map_err(serde::de::Error::custom)
    }
}

/// One operation of a JSON patch (`application/openstack-images-v2.1-json-patch`), on one
/// attribute: `path` is a JSON pointer of one segment (`/name`, `/tags`, `/hw_disk_bus`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PatchOp {
    /// Sets an attribute or adds a property.
    Add {
        /// The attribute.
        path: String,
        /// Its new value.
        value: PatchValue,
    },
    /// Sets an attribute or an existing property.
    Replace {
        /// The attribute.
        path: String,
        /// Its new value.
        value: PatchValue,
    },
    /// Removes a property.
    Remove {
        /// The property.
        path: String,
    },
}

impl PatchOp {
    /// `add` of a string value.
    pub fn add(path: impl Into<String>, value: impl Into<PatchValue>) -> Self {
        PatchOp::Add { path: path.into(), value: value.into() }
    }

    /// `replace` of a value.
    pub fn replace(path: impl Into<String>, value: impl Into<PatchValue>) -> Self {
        PatchOp::Replace { path: path.into(), value: value.into() }
    }

    /// `remove` of a property.
    pub fn remove(path: impl Into<String>) -> Self {
        PatchOp::Remove { path: path.into() }
    }

    /// The JSON pointer the operation applies to.
    pub fn path(&self) -> &str {
        match self {
            PatchOp::Add { path, .. }
            | PatchOp::Replace { path, .. }
            | PatchOp::Remove { path } => path,
        }
    }
}

/// The values an image attribute can take in a patch: strings (names, formats, visibility,
/// properties), non-negative integers (`min_disk`, `min_ram`), booleans (`protected`,
/// `os_hidden`) and lists of strings (`tags`). Other JSON values are refused when parsing, as
/// Glance refuses them for every attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PatchValue {
    /// A boolean.
    Bool(bool),
    /// A non-negative integer.
    Int(u64),
    /// A string.
    String(String),
    /// A list of strings.
    Strings(Vec<String>),
}

impl From<&str> for PatchValue {
    fn from(s: &str) -> Self {
        PatchValue::String(s.to_owned())
    }
}

impl From<String> for PatchValue {
    fn from(s: String) -> Self {
        PatchValue::String(s)
    }
}

impl From<bool> for PatchValue {
    fn from(b: bool) -> Self {
        PatchValue::Bool(b)
    }
}

impl From<u64> for PatchValue {
    fn from(n: u64) -> Self {
        PatchValue::Int(n)
    }
}

impl From<Vec<String>> for PatchValue {
    fn from(v: Vec<String>) -> Self {
        PatchValue::Strings(v)
    }
}

impl PatchValue {
    /// The value of a JSON patch operation, or why it cannot be one.
    fn from_json(v: Value) -> std::result::Result<PatchValue, String> {
        Ok(match v {
            Value::Bool(b) => PatchValue::Bool(b),
            Value::String(s) => PatchValue::String(s),
            Value::Number(n) => PatchValue::Int(
                n.as_u64().ok_or("a number in a patch must be a non-negative integer")?,
            ),
            Value::Array(items) => PatchValue::Strings(
                items
                    .into_iter()
                    .map(|i| match i {
                        Value::String(s) => Ok(s),
                        _ => Err("a list in a patch must hold strings"),
                    })
                    .collect::<std::result::Result<_, _>>()?,
            ),
            Value::Null => return Err("a patch value cannot be null".into()),
            Value::Object(_) => return Err("a patch value cannot be an object".into()),
        })
    }
}

impl<'de> Deserialize<'de> for PatchOp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error;
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Raw {
            op: String,
            path: String,
            #[serde(default)]
            value: Option<Value>,
        }
        let raw = Raw::deserialize(d)?;
        let value = |v: Option<Value>| match v {
            None | Some(Value::Null) => {
                Err(D::Error::custom(format!("'{}' needs a value", raw.op)))
            }
            Some(v) => PatchValue::from_json(v).map_err(D::Error::custom),
        };
        match raw.op.as_str() {
            "add" => Ok(PatchOp::Add { value: value(raw.value.clone())?, path: raw.path }),
            "replace" => Ok(PatchOp::Replace { value: value(raw.value.clone())?, path: raw.path }),
            "remove" => match raw.value {
                None | Some(Value::Null) => Ok(PatchOp::Remove { path: raw.path }),
                Some(_) => Err(D::Error::custom("remove takes no value")),
            },
            other => Err(D::Error::custom(format!("unsupported op '{other}'"))),
        }
    }
}

/// Refuses property names Glance keeps for itself.
pub(crate) fn check_property_name(key: &str) -> Result<()> {
    if READ_ONLY.contains(&key) {
        return Err(ImageError::Forbidden(format!("Attribute '{key}' is read-only.")));
    }
    if RESERVED.contains(&key) || key.starts_with("os_glance") {
        return Err(ImageError::Forbidden(format!("Attribute '{key}' is reserved.")));
    }
    if key.is_empty() || key.len() > MAX_STRING {
        return Err(ImageError::Invalid("invalid property name".into()));
    }
    Ok(())
}

fn json_string(key: &str, v: Value) -> Result<String> {
    match v {
        Value::String(s) => Ok(s),
        _ => Err(ImageError::Invalid(format!("{key} must be a string"))),
    }
}

fn json_opt_string(key: &str, v: Value) -> Result<Option<String>> {
    match v {
        Value::Null => Ok(None),
        v => json_string(key, v).map(Some),
    }
}

fn json_int(key: &str, v: &Value) -> Result<u64> {
    v.as_u64().ok_or_else(|| ImageError::Invalid(format!("{key} must be a non-negative integer")))
}

fn json_bool(key: &str, v: &Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| ImageError::Invalid(format!("{key} must be a boolean")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_body_parses_typed_and_refuses_like_glance() {
        let body = json!({"name": "n", "disk_format": "raw", "container_format": "bare",
            "min_disk": 1, "tags": ["a"], "hw_disk_bus": "scsi", "id": null, "visibility": "private"});
        let req = CreateImage::from_json(body.as_object().unwrap().clone()).unwrap();
        assert_eq!(req.name.as_deref(), Some("n"));
        assert_eq!(req.min_disk, Some(1));
        assert_eq!(req.visibility, Some(Visibility::Private));
        assert_eq!(req.properties["hw_disk_bus"], "scsi");
        // The typed request serialises back to the same body (without the null id).
        let mut back = serde_json::to_value(&req).unwrap();
        back.as_object_mut().unwrap().insert("id".into(), Value::Null);
        assert_eq!(back, body);

        for (body, forbidden) in [
            (json!({"name": 5}), false),
            (json!({"min_ram": -1}), false),
            (json!({"tags": "a"}), false),
            (json!({"visibility": "everyone"}), false),
            (json!({"id": "not-a-uuid"}), false),
            (json!({"prop": 1}), false),
            (json!({"status": "active"}), true),
            (json!({"size": 1}), true),
            (json!({"os_glance_x": "y"}), true),
            (json!({"deleted": "y"}), true),
        ] {
            let e = CreateImage::from_json(body.as_object().unwrap().clone()).unwrap_err();
            assert_eq!(matches!(e, ImageError::Forbidden(_)), forbidden, "{body}: {e}");
            assert_eq!(matches!(e, ImageError::Invalid(_)), !forbidden, "{body}: {e}");
        }
    }

    #[test]
    fn patch_ops_parse_typed() {
        let ops: Vec<PatchOp> = serde_json::from_value(json!([
            {"op": "add", "path": "/a", "value": "b"},
            {"op": "replace", "path": "/tags", "value": ["x", "y"]},
            {"op": "replace", "path": "/protected", "value": true},
            {"op": "replace", "path": "/min_ram", "value": 5},
            {"op": "remove", "path": "/a"},
        ]))
        .unwrap();
        assert_eq!(ops[0], PatchOp::add("/a", "b"));
        assert_eq!(ops[1], PatchOp::replace("/tags", vec!["x".to_owned(), "y".to_owned()]));
        assert_eq!(ops[2], PatchOp::replace("/protected", true));
        assert_eq!(ops[3], PatchOp::replace("/min_ram", 5u64));
        assert_eq!(ops[4], PatchOp::remove("/a"));
        let back = serde_json::to_value(&ops).unwrap();
        assert_eq!(back[1], json!({"op": "replace", "path": "/tags", "value": ["x", "y"]}));
        assert_eq!(back[4], json!({"op": "remove", "path": "/a"}));
        for bad in [
            json!({"op": "add", "path": "/a"}),
            json!({"op": "add", "path": "/a", "value": null}),
            json!({"op": "add", "path": "/a", "value": {"x": 1}}),
            json!({"op": "add", "path": "/a", "value": 1.5}),
            json!({"op": "remove", "path": "/a", "value": "x"}),
            json!({"op": "test", "path": "/a", "value": "x"}),
            json!({"op": "add", "path": "/a", "value": "x", "extra": 1}),
        ] {
            assert!(serde_json::from_value::<PatchOp>(bad.clone()).is_err(), "{bad}");
        }
    }
}
