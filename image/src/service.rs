// SPDX-License-Identifier: Apache-2.0
//! The image service: [`ImageApi`] and its local implementation [`ImageService`].

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ImageId, ProjectId};
use ferrostack_core::policy::{Policy, RuleDefault};
use ferrostack_core::store::{Collection, Store, Txn, TxnOutcome};
use futures::StreamExt;
use md5::Digest as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::error::{ImageError, Result};
use crate::inspector::InspectWrapper;
use crate::store::{ByteStream, ImageStore};
use crate::types::*;
use crate::web_download::{Downloader, WebDownloadConfig};

/// The image property holding the running import task (Glance's import lock).
pub const IMPORT_TASK_PROPERTY: &str = "os_glance_import_task";

/// The image service's default policy rules, in oslo.policy's language (Glance's secure RBAC
/// defaults, simplified: visibility is enforced by the service itself).
pub const POLICY_DEFAULTS: &[RuleDefault] = &[
    RuleDefault::new("context_is_admin", "role:admin", "Administrators", &[]),
    RuleDefault::new(
        "project_member",
        "rule:context_is_admin or (role:member and project_id:%(owner)s)",
        "Members of the owning project",
        &[],
    ),
    RuleDefault::new(
        "reader",
        "rule:context_is_admin or role:reader or role:member",
        "Anyone who can read",
        &[],
    ),
    RuleDefault::new("add_image", "rule:project_member", "Create an image", &[]),
    RuleDefault::new("get_image", "rule:reader", "Show a visible image", &[]),
    RuleDefault::new("get_images", "rule:reader", "List visible images", &[]),
    RuleDefault::new("modify_image", "rule:project_member", "Update an image", &[]),
    RuleDefault::new("delete_image", "rule:project_member", "Delete an image", &[]),
    RuleDefault::new("upload_image", "rule:project_member", "Upload image data", &[]),
    RuleDefault::new("download_image", "rule:reader", "Download image data", &[]),
    RuleDefault::new("publicize_image", "rule:context_is_admin", "Make an image public", &[]),
    RuleDefault::new("communitize_image", "rule:project_member", "Make an image community", &[]),
    RuleDefault::new("deactivate", "rule:context_is_admin", "Deactivate an image", &[]),
    RuleDefault::new("reactivate", "rule:context_is_admin", "Reactivate an image", &[]),
    RuleDefault::new("add_member", "rule:project_member", "Share an image", &[]),
    RuleDefault::new("delete_member", "rule:project_member", "Unshare an image", &[]),
    RuleDefault::new("get_members", "rule:reader", "List an image's members", &[]),
    RuleDefault::new(
        "modify_member",
        "rule:context_is_admin or project_id:%(member_id)s",
        "Accept or reject a shared image",
        &[],
    ),
];

/// Service settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ImageConfig {
    /// Largest image in bytes (Glance's `image_size_cap`, default 1 TiB).
    pub image_size_cap: u64,
    /// Images per project (`None`: unlimited).
    pub image_count_total: Option<u64>,
    /// Bytes of image data per project (`None`: unlimited).
    pub image_size_total: Option<u64>,
    /// Refuse uploads whose content does not match `disk_format` or fails the safety checks
    /// (Glance's `require_image_format_match`, default true).
    pub require_image_format_match: bool,
    /// The `web-download` import method; disabled until
    /// `web_download.import_filtering_opts.allowed_hosts` names at least one host.
    pub web_download: WebDownloadConfig,
}

impl Default for ImageConfig {
    fn default() -> Self {
        ImageConfig {
            image_size_cap: 1 << 40,
            image_count_total: None,
            image_size_total: None,
            require_image_format_match: true,
            web_download: WebDownloadConfig::default(),
        }
    }
}

/// Filters of [`ImageApi::list`].
#[derive(Debug, Clone, Default)]
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

/// One operation of a JSON patch (`application/openstack-images-v2.1-json-patch`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchOp {
    /// `add`, `replace` or `remove`.
    pub op: String,
    /// `/name`, `/tags`, `/my_property`, ...
    pub path: String,
    /// The new value (absent for `remove`).
    #[serde(default)]
    pub value: Option<Value>,
}

/// The image service's operations, each on behalf of a caller.
#[async_trait::async_trait]
pub trait ImageApi: Send + Sync + std::fmt::Debug {
    /// Creates a `queued` image from Glance's create body.
    async fn create(&self, ctx: &RequestContext, body: Map<String, Value>) -> Result<Image>;
    /// Shows a visible image.
    async fn get(&self, ctx: &RequestContext, id: &ImageId) -> Result<Image>;
    /// Lists visible images.
    async fn list(&self, ctx: &RequestContext, q: &ListQuery) -> Result<Vec<Image>>;
    /// Applies a JSON patch.
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
    fn import_methods(&self) -> Vec<&'static str>;
    /// The import tasks of a visible image, oldest first.
    async fn tasks(&self, ctx: &RequestContext, id: &ImageId) -> Result<Vec<ImportTask>>;
    /// Streams the data of an image; `None` when it has none.
    async fn download(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<Option<(Image, ByteStream)>>;
    /// `active` → `deactivated` (or back with `reactivate = true`).
    async fn set_active(&self, ctx: &RequestContext, id: &ImageId, active: bool) -> Result<()>;
    /// Adds (`add = true`) or removes a tag.
    async fn tag(&self, ctx: &RequestContext, id: &ImageId, tag: &str, add: bool) -> Result<()>;
    /// The image's members.
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

/// A project's image usage, kept in the same transactions as the images it counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct Usage {
    count: u64,
    bytes: u64,
}

/// The local image service over a record [`Store`] and an [`ImageStore`].
#[derive(Debug, Clone)]
pub struct ImageService {
    images: Collection<Image>,
    usage: Collection<Usage>,
    data: Arc<dyn ImageStore>,
    policy: Arc<Policy>,
    config: ImageConfig,
    downloader: Option<Downloader>,
}

const MAX_RETRIES: usize = 1000;

fn is_admin(ctx: &RequestContext) -> bool {
    ctx.has_role("admin")
}

fn target(img: &Image) -> Value {
    let owner = img.owner.as_ref().map(|o| o.as_str().to_owned());
    json!({"owner": owner, "project_id": owner, "visibility": img.visibility.as_str()})
}

fn string_value(key: &str, v: &Value) -> Result<String> {
    match v {
        Value::String(s) if s.len() <= MAX_STRING => Ok(s.clone()),
        Value::String(_) => Err(ImageError::Invalid(format!("{key} is longer than 255"))),
        _ => Err(ImageError::Invalid(format!("{key} must be a string"))),
    }
}

fn int_value(key: &str, v: &Value) -> Result<u64> {
    v.as_u64()
        .filter(|n| *n <= i32::MAX as u64)
        .ok_or_else(|| ImageError::Invalid(format!("{key} must be a non-negative integer")))
}

fn bool_value(key: &str, v: &Value) -> Result<bool> {
    v.as_bool().ok_or_else(|| ImageError::Invalid(format!("{key} must be a boolean")))
}

fn tags_value(v: &Value) -> Result<Vec<String>> {
    let arr = v.as_array().ok_or_else(|| ImageError::Invalid("tags must be a list".into()))?;
    let mut tags: Vec<String> = Vec::new();
    for t in arr {
        let t = string_value("tag", t)?;
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ImageError::OverLimit("too many tags".into()));
    }
    Ok(tags)
}

fn format_value(key: &str, v: &Value, allowed: &[&str]) -> Result<Option<String>> {
    if v.is_null() {
        return Ok(None);
    }
    let s = string_value(key, v)?;
    if !allowed.contains(&s.as_str()) {
        return Err(ImageError::Invalid(format!("invalid {key} '{s}'")));
    }
    Ok(Some(s))
}

fn check_property_name(key: &str) -> Result<()> {
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

impl ImageService {
    /// A service persisting records in `store` and data in `data`, with the default policy.
    pub fn new(store: Arc<dyn Store>, data: Arc<dyn ImageStore>, config: ImageConfig) -> Self {
        let downloader = if config.web_download.import_filtering_opts.enabled() {
            match Downloader::new(&config.web_download) {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::error!(error = %e, "web-download disabled: no HTTP client");
                    None
                }
            }
        } else {
            None
        };
        ImageService {
            downloader,
            images: Collection::new(store.clone(), "image/images/"),
            usage: Collection::new(store, "image/usage/"),
            data,
            policy: Arc::new(Policy::new(POLICY_DEFAULTS)),
            config,
        }
    }

    /// Replaces the policy (e.g. the defaults with a deployment's overrides).
    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// The one place every authorisation goes through.
    fn authorize(&self, rule: &str, ctx: &RequestContext, target: &Value) -> Result<()> {
        Ok(self.policy.authorize(rule, ctx, target)?)
    }

    fn can_see(ctx: &RequestContext, img: &Image) -> bool {
        if is_admin(ctx) {
            return true;
        }
        let project = ctx.project_id();
        let owns = project.is_some() && img.owner.as_ref() == project;
        match img.visibility {
            Visibility::Public | Visibility::Community => true,
            Visibility::Private => owns,
            Visibility::Shared => {
                owns || project
                    .is_some_and(|p| img.members.iter().any(|m| m.member_id == p.as_str()))
            }
        }
    }

    async fn load(&self, ctx: &RequestContext, id: &ImageId) -> Result<(Image, u64)> {
        let v = self
            .images
            .get(&id.to_string())
            .await?
            .filter(|v| Self::can_see(ctx, &v.value))
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        Ok((v.value, v.revision))
    }

    async fn save(&self, img: &Image, rev: u64) -> Result<()> {
        match self.images.update(&img.id.to_string(), rev, img).await {
            Ok(_) => Ok(()),
            Err(ferrostack_core::store::StoreError::Conflict(_)) => {
                Err(ImageError::Conflict("the image was changed concurrently; retry".into()))
            }
            Err(ferrostack_core::store::StoreError::NotFound(_)) => {
                Err(ImageError::NotFound(img.id.to_string()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Commits `image_ops` together with a change of `project`'s usage, retrying while only the
    /// usage record raced. `check` sees the usage after the change and may refuse.
    async fn with_usage(
        &self,
        project: Option<&ProjectId>,
        delta_count: i64,
        delta_bytes: i64,
        base: Txn,
        check: impl Fn(&Usage) -> Result<()> + Send + Sync,
    ) -> Result<bool> {
        let Some(project) = project else {
            return Ok(self.images.store().txn(base).await?.is_committed());
        };
        let pid = project.as_str();
        for _ in 0..MAX_RETRIES {
            let current = self.usage.get(pid).await?;
            let mut u = current.as_ref().map(|v| v.value.clone()).unwrap_or_default();
            u.count = u.count.saturating_add_signed(delta_count);
            u.bytes = u.bytes.saturating_add_signed(delta_bytes);
            check(&u)?;
            let cond = match &current {
                Some(v) => self.usage.unchanged(pid, v.revision),
                None => self.usage.absent(pid),
            };
            let n_base = base.conditions.len();
            let txn = base.clone().when(cond).op(self.usage.put_op(pid, &u)?);
            match self.images.store().txn(txn).await? {
                TxnOutcome::Committed { .. } => return Ok(true),
                TxnOutcome::Failed { condition } if condition < n_base => return Ok(false),
                TxnOutcome::Failed { .. } => tokio::task::yield_now().await,
            }
        }
        Err(ImageError::Conflict("usage record contended; retry".into()))
    }

    fn apply_attribute(
        &self,
        ctx: &RequestContext,
        img: &mut Image,
        key: &str,
        value: &Value,
        creating: bool,
    ) -> Result<()> {
        match key {
            "name" => {
                img.name = if value.is_null() { None } else { Some(string_value(key, value)?) }
            }
            "visibility" => {
                let v = value
                    .as_str()
                    .and_then(Visibility::parse)
                    .ok_or_else(|| ImageError::Invalid("invalid visibility".into()))?;
                match v {
                    Visibility::Public => self.authorize("publicize_image", ctx, &target(img))?,
                    Visibility::Community => {
                        self.authorize("communitize_image", ctx, &target(img))?
                    }
                    _ => {}
                }
                img.visibility = v;
            }
            "protected" => img.protected = bool_value(key, value)?,
            "os_hidden" => img.os_hidden = bool_value(key, value)?,
            "min_disk" => img.min_disk = int_value(key, value)?,
            "min_ram" => img.min_ram = int_value(key, value)?,
            "tags" => img.tags = tags_value(value)?,
            "disk_format" | "container_format" => {
                if !creating && img.status != ImageStatus::Queued {
                    return Err(ImageError::Forbidden(format!(
                        "Attribute {key} can be only replaced for a queued image."
                    )));
                }
                let allowed = if key == "disk_format" { DISK_FORMATS } else { CONTAINER_FORMATS };
                let v = format_value(key, value, allowed)?;
                if key == "disk_format" { img.disk_format = v } else { img.container_format = v }
            }
            "owner" => {
                if !is_admin(ctx) {
                    return Err(ImageError::Forbidden("Attribute 'owner' is read-only.".into()));
                }
                img.owner = if value.is_null() {
                    None
                } else {
                    Some(
                        string_value(key, value)?
                            .parse()
                            .map_err(|_| ImageError::Invalid("invalid owner".into()))?,
                    )
                };
            }
            "id" if creating => {}
            _ => {
                check_property_name(key)?;
                let v = string_value(key, value)?;
                img.properties.insert(key.to_owned(), v);
                if img.properties.len() > MAX_PROPERTIES {
                    return Err(ImageError::OverLimit("too many image properties".into()));
                }
            }
        }
        Ok(())
    }

    async fn revert(&self, id: &ImageId, from: ImageStatus) {
        let r = self
            .images
            .update_with::<ImageError, _>(&id.to_string(), |img| {
                if img.status == from {
                    img.transition(ImageStatus::Queued)?;
                    img.properties.remove(IMPORT_TASK_PROPERTY);
                }
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(image = %id, error = %e, "could not return image to queued");
        }
    }

    /// A check of the running size against the size cap and the owner's byte quota.
    async fn upload_limit(&self, img: &Image) -> Result<impl Fn(u64) -> Result<()> + use<>> {
        let used = match img.owner.as_ref() {
            Some(p) => self.usage.get(p.as_str()).await?.map(|v| v.value.bytes).unwrap_or(0),
            None => 0,
        };
        let quota = self.config.image_size_total.map(|t| t.saturating_sub(used));
        let cap = self.config.image_size_cap;
        Ok(move |size: u64| {
            if size > cap {
                return Err(ImageError::OverLimit(format!(
                    "image exceeds the size cap of {cap} bytes"
                )));
            }
            if quota.is_some_and(|q| size > q) {
                return Err(ImageError::OverLimit(
                    "image storage quota of the project exceeded".into(),
                ));
            }
            Ok(())
        })
    }

    /// Streams `data` through the hashes and the format inspector (and into `writer`, which is
    /// committed only if everything passes, else aborted).
    async fn ingest(
        &self,
        img: &Image,
        mut data: ByteStream,
        mut writer: Option<Box<dyn crate::store::ImageWriter>>,
    ) -> Result<Digest> {
        let limit = self.upload_limit(img).await?;
        let mut md5 = md5::Md5::new();
        let mut sha = sha2::Sha512::new();
        let mut inspector = InspectWrapper::new();
        let mut size: u64 = 0;
        let outcome: Result<Option<u64>> = async {
            while let Some(chunk) = data.next().await {
                let chunk: Bytes = chunk?;
                size += chunk.len() as u64;
                limit(size)?;
                md5.update(&chunk);
                sha.update(&chunk);
                inspector.feed(&chunk);
                if let Some(w) = writer.as_mut() {
                    w.write(&chunk).await?;
                }
            }
            Ok(None)
        }
        .await;
        let outcome = outcome.and_then(|_| {
            let verdict = std::mem::take(&mut inspector).finish();
            if img.container_format.as_deref() != Some("bare") {
                return Ok(None);
            }
            let disk = img.disk_format.clone().unwrap_or_default();
            match verdict.check(&disk) {
                Ok(report) => Ok(report.virtual_size.clone().ok()),
                Err(rej) if self.config.require_image_format_match => {
                    Err(ImageError::BadImageData(rej))
                }
                Err(_) => Ok(None),
            }
        });
        match outcome {
            Ok(virtual_size) => {
                if let Some(w) = writer {
                    w.commit().await?;
                }
                Ok(Digest {
                    size,
                    checksum: hex::encode(md5.finalize()),
                    sha512: hex::encode(sha.finalize()),
                    virtual_size,
                })
            }
            Err(e) => {
                if let Some(w) = writer {
                    let _ = w.abort().await;
                }
                Err(e)
            }
        }
    }

    /// `from` → `active` with the digest, counting the bytes in the owner's usage in the same
    /// transaction. On a quota refusal the data is deleted and the image returns to `queued`.
    async fn activate(&self, id: &ImageId, from: ImageStatus, d: Digest) -> Result<Image> {
        let key = id.to_string();
        for _ in 0..MAX_RETRIES {
            let Some(cur) = self.images.get(&key).await? else {
                let _ = self.data.delete(id).await;
                return Err(ImageError::NotFound(key));
            };
            let mut img = cur.value;
            if img.status != from {
                let _ = self.data.delete(id).await;
                return Err(ImageError::Conflict("the image changed during the upload".into()));
            }
            img.transition(ImageStatus::Active)?;
            img.properties.remove(IMPORT_TASK_PROPERTY);
            img.size = Some(d.size);
            img.virtual_size = d.virtual_size;
            img.checksum = Some(d.checksum.clone());
            img.os_hash_algo = Some("sha512".into());
            img.os_hash_value = Some(d.sha512.clone());
            let base =
                Txn::new()
                    .when(self.images.unchanged(&key, cur.revision))
                    .op(self.images.put_op(&key, &img)?);
            let total = self.config.image_size_total;
            let committed = self
                .with_usage(img.owner.as_ref(), 0, d.size as i64, base, |u| match total {
                    Some(t) if u.bytes > t => Err(ImageError::OverLimit(
                        "image storage quota of the project exceeded".into(),
                    )),
                    _ => Ok(()),
                })
                .await;
            match committed {
                Ok(true) => return Ok(img),
                Ok(false) => continue,
                Err(e) => {
                    let _ = self.data.delete(id).await;
                    self.revert(id, from).await;
                    return Err(e);
                }
            }
        }
        Err(ImageError::Conflict("the image is being changed concurrently".into()))
    }
    fn tasks_of(&self, id: &ImageId) -> Collection<ImportTask> {
        Collection::new(self.images.store().clone(), format!("image/tasks/{id}/"))
    }

    /// `web-download`: checks, then `queued` → `importing` with a new task (one transaction),
    /// then downloads in the background.
    async fn web_download(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        uri: Option<&str>,
    ) -> Result<Image> {
        let Some(dl) = self.downloader.clone() else {
            return Err(ImageError::Invalid("Import method web-download is not enabled".into()));
        };
        let (mut img, rev) = self.load(ctx, id).await?;
        self.authorize("upload_image", ctx, &target(&img))?;
        if img.status != ImageStatus::Queued {
            return Err(ImageError::Conflict(
                "Image needs to be in 'queued' state to use 'web-download' method".into(),
            ));
        }
        if img.container_format.is_none() {
            return Err(ImageError::Conflict(
                "'container_format' needs to be set before import".into(),
            ));
        }
        if img.disk_format.is_none() {
            return Err(ImageError::Conflict("'disk_format' needs to be set before import".into()));
        }
        let uri = match uri {
            Some(u) if u.len() <= 2048 => u,
            Some(_) => return Err(ImageError::Invalid("uri is too long".into())),
            None => {
                return Err(ImageError::Invalid(
                    "'uri' needs to be set for web-download import method".into(),
                ));
            }
        };
        let url = dl.filter().check(uri)?;
        if img.properties.contains_key(IMPORT_TASK_PROPERTY) {
            return Err(ImageError::Conflict(format!(
                "New operation on image '{id}' is not permitted as prior operation is still in progress"
            )));
        }
        let now = OffsetDateTime::now_utc();
        let task = ImportTask {
            id: uuid::Uuid::new_v4().to_string(),
            image_id: *id,
            owner: ctx.project_id().map(|p| p.to_string()),
            user_id: Some(ctx.user_id.to_string()),
            request_id: Some(ctx.request_id.clone()).filter(|r| !r.is_empty()),
            status: TaskStatus::Processing,
            input: json!({"method": {"name": "web-download", "uri": uri}}),
            message: String::new(),
            created_at: now,
            updated_at: now,
        };
        img.transition(ImageStatus::Importing)?;
        img.properties.insert(IMPORT_TASK_PROPERTY.into(), task.id.clone());
        let key = id.to_string();
        let tasks = self.tasks_of(id);
        let txn = Txn::new()
            .when(self.images.unchanged(&key, rev))
            .when(tasks.absent(&task.id))
            .op(self.images.put_op(&key, &img)?)
            .op(tasks.put_op(&task.id, &task)?);
        if !self.images.store().txn(txn).await?.is_committed() {
            return Err(ImageError::Conflict("the image was changed concurrently; retry".into()));
        }
        let svc = self.clone();
        let image = img.clone();
        tokio::spawn(async move { svc.run_web_download(image, task, dl, url).await });
        Ok(img)
    }

    async fn run_web_download(
        self,
        img: Image,
        task: ImportTask,
        dl: Downloader,
        url: reqwest::Url,
    ) {
        let id = img.id;
        let outcome: std::result::Result<Image, String> = async {
            let stream = dl.open(url, self.config.image_size_cap).await?;
            let writer = self.data.begin(&id).await.map_err(|e| error_chain(&e))?;
            let digest =
                self.ingest(&img, stream, Some(writer)).await.map_err(|e| error_chain(&e))?;
            self.activate(&id, ImageStatus::Importing, digest).await.map_err(|e| error_chain(&e))
        }
        .await;
        let (status, message) = match outcome {
            Ok(_) => (TaskStatus::Success, String::new()),
            Err(msg) => {
                tracing::info!(image = %id, error = %msg, "web-download import failed");
                self.revert(&id, ImageStatus::Importing).await;
                (TaskStatus::Failure, msg)
            }
        };
        let r = self
            .tasks_of(&id)
            .update_with::<ImageError, _>(&task.id, |t| {
                t.status = status;
                t.message = message.clone();
                t.updated_at = OffsetDateTime::now_utc();
                Ok(())
            })
            .await;
        if let Err(e) = r {
            tracing::warn!(image = %id, error = %e, "could not record the import task's outcome");
        }
    }
}

/// An error and its causes on one line (import task messages).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

/// What streaming an image's data established.
#[derive(Debug, Clone)]
struct Digest {
    size: u64,
    checksum: String,
    sha512: String,
    virtual_size: Option<u64>,
}

const CORE: &[&str] = &[
    "name",
    "visibility",
    "protected",
    "os_hidden",
    "min_disk",
    "min_ram",
    "tags",
    "disk_format",
    "container_format",
    "owner",
];

#[async_trait::async_trait]
impl ImageApi for ImageService {
    async fn create(&self, ctx: &RequestContext, body: Map<String, Value>) -> Result<Image> {
        let now = OffsetDateTime::now_utc();
        let id = match body.get("id") {
            None | Some(Value::Null) => ImageId::new(),
            Some(v) => string_value("id", v)?
                .parse()
                .map_err(|_| ImageError::Invalid("id must be a UUID".into()))?,
        };
        let mut img = Image {
            id,
            name: None,
            status: ImageStatus::Queued,
            visibility: Visibility::Shared,
            protected: false,
            os_hidden: false,
            owner: ctx.project_id().cloned(),
            disk_format: None,
            container_format: None,
            min_disk: 0,
            min_ram: 0,
            size: None,
            virtual_size: None,
            checksum: None,
            os_hash_algo: None,
            os_hash_value: None,
            tags: Vec::new(),
            properties: BTreeMap::new(),
            members: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        self.authorize("add_image", ctx, &target(&img))?;
        for (k, v) in &body {
            self.apply_attribute(ctx, &mut img, k, v, true)?;
        }
        let key = img.id.to_string();
        let base = Txn::new().when(self.images.absent(&key)).op(self.images.put_op(&key, &img)?);
        let limit = self.config.image_count_total;
        let ok = self
            .with_usage(img.owner.as_ref(), 1, 0, base, |u| match limit {
                Some(l) if u.count > l => {
                    Err(ImageError::OverLimit(format!("image count quota of {l} exceeded")))
                }
                _ => Ok(()),
            })
            .await?;
        if !ok {
            return Err(ImageError::Conflict(format!("image {key} already exists")));
        }
        Ok(img)
    }

    async fn get(&self, ctx: &RequestContext, id: &ImageId) -> Result<Image> {
        let (img, _) = self.load(ctx, id).await?;
        self.authorize("get_image", ctx, &target(&img))?;
        Ok(img)
    }

    async fn list(&self, ctx: &RequestContext, q: &ListQuery) -> Result<Vec<Image>> {
        self.authorize("get_images", ctx, &json!({"owner": ctx.project_id().map(|p| p.as_str())}))?;
        let project = ctx.project_id();
        let mut out = Vec::new();
        for v in self.images.list_all().await? {
            let img = v.value;
            if !Self::can_see(ctx, &img) {
                continue;
            }
            let owns = project.is_some() && img.owner.as_ref() == project;
            let listed = match img.visibility {
                Visibility::Community => owns || q.visibility == Some(Visibility::Community),
                Visibility::Shared if !owns && !is_admin(ctx) => img.members.iter().any(|m| {
                    Some(m.member_id.as_str()) == project.map(|p| p.as_str())
                        && m.status == MemberStatus::Accepted
                }),
                _ => true,
            };
            let keep = listed
                && !(img.os_hidden && q.ids.is_none())
                && q.name.as_ref().is_none_or(|n| img.name.as_ref() == Some(n))
                && q.visibility.is_none_or(|vis| img.visibility == vis)
                && q.status.is_none_or(|s| img.status == s)
                && q.ids.as_ref().is_none_or(|ids| ids.contains(&img.id))
                && q.owner
                    .as_ref()
                    .is_none_or(|o| img.owner.as_ref().map(|p| p.as_str()) == Some(o));
            if keep {
                out.push(img);
            }
        }
        // Newest first, as Glance sorts by created_at desc, then id.
        out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        if let Some(m) = &q.marker {
            let pos = out
                .iter()
                .position(|i| &i.id == m)
                .ok_or_else(|| ImageError::Invalid(format!("marker {m} not found")))?;
            out.drain(..=pos);
        }
        if let Some(l) = q.limit {
            out.truncate(l);
        }
        Ok(out)
    }

    async fn update(&self, ctx: &RequestContext, id: &ImageId, ops: Vec<PatchOp>) -> Result<Image> {
        for _ in 0..MAX_RETRIES {
            let (mut img, rev) = self.load(ctx, id).await?;
            self.authorize("modify_image", ctx, &target(&img))?;
            for op in &ops {
                let path = op.path.strip_prefix('/').ok_or_else(|| {
                    ImageError::Invalid(format!("invalid JSON pointer '{}'", op.path))
                })?;
                if path.contains('/') || path.is_empty() {
                    return Err(ImageError::Invalid(format!("invalid path '{}'", op.path)));
                }
                let key = path.replace("~1", "/").replace("~0", "~");
                match op.op.as_str() {
                    "add" | "replace" => {
                        let value = op.value.as_ref().ok_or_else(|| {
                            ImageError::Invalid(format!("'{}' needs a value", op.op))
                        })?;
                        let core = CORE.contains(&key.as_str());
                        if !core {
                            check_property_name(&key)?;
                            let exists = img.properties.contains_key(&key);
                            if op.op == "replace" && !exists {
                                return Err(ImageError::Conflict(format!(
                                    "Property {key} does not exist."
                                )));
                            }
                        }
                        self.apply_attribute(ctx, &mut img, &key, value, false)?;
                    }
                    "remove" => {
                        if op.value.is_some() {
                            return Err(ImageError::Invalid("remove takes no value".into()));
                        }
                        if CORE.contains(&key.as_str()) || READ_ONLY.contains(&key.as_str()) {
                            return Err(ImageError::Forbidden(format!(
                                "Properties {key} cannot be deleted."
                            )));
                        }
                        check_property_name(&key)?;
                        if img.properties.remove(&key).is_none() {
                            return Err(ImageError::Conflict(format!(
                                "Property {key} does not exist."
                            )));
                        }
                    }
                    other => {
                        return Err(ImageError::Invalid(format!("unsupported op '{other}'")));
                    }
                }
            }
            img.updated_at = OffsetDateTime::now_utc();
            match self.save(&img, rev).await {
                Err(ImageError::Conflict(_)) => continue,
                r => return r.map(|_| img),
            }
        }
        Err(ImageError::Conflict("the image is being changed concurrently".into()))
    }

    async fn delete(&self, ctx: &RequestContext, id: &ImageId) -> Result<()> {
        let (img, rev) = self.load(ctx, id).await?;
        self.authorize("delete_image", ctx, &target(&img))?;
        if img.protected {
            return Err(ImageError::Forbidden(format!("Image {id} is protected")));
        }
        let key = id.to_string();
        let mut base =
            Txn::new().when(self.images.unchanged(&key, rev)).op(self.images.delete_op(&key));
        // The image's import tasks go with it (new ones cannot appear: creating one changes
        // the image, which the condition above guards).
        let tasks = self.tasks_of(id);
        for t in tasks.list_all().await? {
            base = base.op(tasks.delete_op(&t.value.id));
        }
        let bytes = if img.status == ImageStatus::Active || img.status == ImageStatus::Deactivated {
            img.size.unwrap_or(0) as i64
        } else {
            0
        };
        if !self.with_usage(img.owner.as_ref(), -1, -bytes, base, |_| Ok(())).await? {
            return Err(ImageError::Conflict("the image changed during deletion; retry".into()));
        }
        self.data.delete(id).await?;
        Ok(())
    }

    async fn upload(&self, ctx: &RequestContext, id: &ImageId, data: ByteStream) -> Result<Image> {
        let (mut img, rev) = self.load(ctx, id).await?;
        self.authorize("upload_image", ctx, &target(&img))?;
        if img.status != ImageStatus::Queued {
            return Err(ImageError::Conflict(format!(
                "Image status transition from {} to saving is not allowed",
                img.status.as_str()
            )));
        }
        img.transition(ImageStatus::Saving)?;
        self.save(&img, rev).await?;
        let writer = match self.data.begin(id).await {
            Ok(w) => w,
            Err(e) => {
                self.revert(id, ImageStatus::Saving).await;
                return Err(e);
            }
        };
        let digest = match self.ingest(&img, data, Some(writer)).await {
            Ok(d) => d,
            Err(e) => {
                self.revert(id, ImageStatus::Saving).await;
                return Err(e);
            }
        };
        self.activate(id, ImageStatus::Saving, digest).await
    }

    async fn stage(&self, ctx: &RequestContext, id: &ImageId, data: ByteStream) -> Result<()> {
        let (mut img, rev) = self.load(ctx, id).await?;
        self.authorize("upload_image", ctx, &target(&img))?;
        if img.status != ImageStatus::Queued {
            return Err(ImageError::Conflict(format!(
                "Image status transition from {} to uploading is not allowed",
                img.status.as_str()
            )));
        }
        img.transition(ImageStatus::Uploading)?;
        self.save(&img, rev).await?;
        let result: Result<u64> = async {
            let limit = self.upload_limit(&img).await?;
            let mut writer = self.data.begin(id).await?;
            let mut size = 0u64;
            let mut data = data;
            while let Some(chunk) = data.next().await {
                let step = match chunk {
                    Ok(c) => {
                        size += c.len() as u64;
                        match limit(size) {
                            Ok(()) => writer.write(&c).await,
                            Err(e) => Err(e),
                        }
                    }
                    Err(e) => Err(e),
                };
                if let Err(e) = step {
                    let _ = writer.abort().await;
                    return Err(e);
                }
            }
            writer.commit().await?;
            Ok(size)
        }
        .await;
        let size = match result {
            Ok(size) => size,
            Err(e) => {
                self.revert(id, ImageStatus::Uploading).await;
                return Err(e);
            }
        };
        let r = self
            .images
            .update_with::<ImageError, _>(&id.to_string(), |i| {
                if i.status != ImageStatus::Uploading {
                    return Err(ImageError::Conflict("the image changed during staging".into()));
                }
                i.size = Some(size);
                Ok(())
            })
            .await;
        if let Err(e) = r {
            let _ = self.data.delete(id).await;
            return Err(e);
        }
        Ok(())
    }

    async fn import(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        method: &str,
        uri: Option<&str>,
    ) -> Result<Image> {
        if method == "web-download" && self.downloader.is_some() {
            return self.web_download(ctx, id, uri).await;
        }
        let (mut img, rev) = self.load(ctx, id).await?;
        self.authorize("upload_image", ctx, &target(&img))?;
        if method != "glance-direct" {
            return Err(ImageError::Invalid(format!("Import method {method} is not enabled")));
        }
        if img.status != ImageStatus::Uploading || img.size.is_none() {
            return Err(ImageError::Conflict(format!(
                "Image {id} is not staged (status {})",
                img.status.as_str()
            )));
        }
        img.transition(ImageStatus::Importing)?;
        self.save(&img, rev).await?;
        let digest = async {
            let stream = self.data.open(id).await?;
            self.ingest(&img, stream, None).await
        }
        .await;
        let digest = match digest {
            Ok(d) => d,
            Err(e) => {
                let _ = self.data.delete(id).await;
                self.revert(id, ImageStatus::Importing).await;
                return Err(e);
            }
        };
        self.activate(id, ImageStatus::Importing, digest).await
    }

    fn import_methods(&self) -> Vec<&'static str> {
        let mut m = vec!["glance-direct"];
        if self.downloader.is_some() {
            m.push("web-download");
        }
        m
    }

    async fn tasks(&self, ctx: &RequestContext, id: &ImageId) -> Result<Vec<ImportTask>> {
        let (img, _) = self.load(ctx, id).await?;
        self.authorize("get_image", ctx, &target(&img))?;
        let mut tasks: Vec<ImportTask> =
            self.tasks_of(id).list_all().await?.into_iter().map(|v| v.value).collect();
        tasks.sort_by_key(|t| t.created_at);
        Ok(tasks)
    }

    async fn download(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<Option<(Image, ByteStream)>> {
        let (img, _) = self.load(ctx, id).await?;
        self.authorize("download_image", ctx, &target(&img))?;
        match img.status {
            ImageStatus::Active => {}
            ImageStatus::Deactivated if !is_admin(ctx) => {
                return Err(ImageError::Forbidden(
                    "The requested image has been deactivated. Image data download is forbidden."
                        .into(),
                ));
            }
            ImageStatus::Deactivated => {}
            _ => return Ok(None),
        }
        let stream = self.data.open(id).await?;
        Ok(Some((img, stream)))
    }

    async fn set_active(&self, ctx: &RequestContext, id: &ImageId, active: bool) -> Result<()> {
        let (mut img, rev) = self.load(ctx, id).await?;
        let rule = if active { "reactivate" } else { "deactivate" };
        self.authorize(rule, ctx, &target(&img))?;
        let to = if active { ImageStatus::Active } else { ImageStatus::Deactivated };
        if img.status == to {
            return Ok(());
        }
        if !matches!(img.status, ImageStatus::Active | ImageStatus::Deactivated) {
            return Err(ImageError::Forbidden(format!(
                "Not allowed to {rule} image in status '{}'",
                img.status.as_str()
            )));
        }
        img.transition(to)?;
        self.save(&img, rev).await
    }

    async fn tag(&self, ctx: &RequestContext, id: &ImageId, tag: &str, add: bool) -> Result<()> {
        let (mut img, rev) = self.load(ctx, id).await?;
        self.authorize("modify_image", ctx, &target(&img))?;
        if tag.is_empty() || tag.len() > MAX_STRING {
            return Err(ImageError::Invalid("invalid tag".into()));
        }
        if add {
            if img.tags.iter().any(|t| t == tag) {
                return Ok(());
            }
            if img.tags.len() >= MAX_TAGS {
                return Err(ImageError::OverLimit("too many tags".into()));
            }
            img.tags.push(tag.to_owned());
        } else {
            let before = img.tags.len();
            img.tags.retain(|t| t != tag);
            if img.tags.len() == before {
                return Err(ImageError::NotFound(format!("tag {tag}")));
            }
        }
        img.updated_at = OffsetDateTime::now_utc();
        self.save(&img, rev).await
    }

    async fn members(&self, ctx: &RequestContext, id: &ImageId) -> Result<(Image, Vec<Member>)> {
        let (img, _) = self.load(ctx, id).await?;
        self.authorize("get_members", ctx, &target(&img))?;
        if img.visibility != Visibility::Shared {
            return Err(ImageError::Forbidden("Only shared images have members.".into()));
        }
        let owns = ctx.project_id().is_some() && img.owner.as_ref() == ctx.project_id();
        let members = if owns || is_admin(ctx) {
            img.members.clone()
        } else {
            let me = ctx.project_id().map(|p| p.as_str().to_owned());
            img.members.iter().filter(|m| Some(&m.member_id) == me.as_ref()).cloned().collect()
        };
        Ok((img, members))
    }

    async fn add_member(&self, ctx: &RequestContext, id: &ImageId, member: &str) -> Result<Member> {
        let (mut img, rev) = self.load(ctx, id).await?;
        self.authorize("add_member", ctx, &target(&img))?;
        if img.visibility != Visibility::Shared {
            return Err(ImageError::Forbidden("Only shared images have members.".into()));
        }
        if member.is_empty() || member.len() > MAX_STRING {
            return Err(ImageError::Invalid("invalid member".into()));
        }
        if img.members.iter().any(|m| m.member_id == member) {
            return Err(ImageError::Conflict(format!("{member} is already a member")));
        }
        let now = OffsetDateTime::now_utc();
        let m = Member {
            member_id: member.to_owned(),
            status: MemberStatus::Pending,
            created_at: now,
            updated_at: now,
        };
        img.members.push(m.clone());
        self.save(&img, rev).await?;
        Ok(m)
    }

    async fn update_member(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        member: &str,
        status: MemberStatus,
    ) -> Result<Member> {
        let (mut img, rev) = self.load(ctx, id).await?;
        let t = json!({"member_id": member, "owner": img.owner.as_ref().map(|o| o.as_str())});
        self.authorize("modify_member", ctx, &t)?;
        let m = img.members.iter_mut().find(|m| m.member_id == member).ok_or_else(|| {
            ImageError::MemberNotFound { image: id.to_string(), member: member.to_owned() }
        })?;
        m.status = status;
        m.updated_at = OffsetDateTime::now_utc();
        let m = m.clone();
        self.save(&img, rev).await?;
        Ok(m)
    }

    async fn remove_member(&self, ctx: &RequestContext, id: &ImageId, member: &str) -> Result<()> {
        let (mut img, rev) = self.load(ctx, id).await?;
        self.authorize("delete_member", ctx, &target(&img))?;
        let before = img.members.len();
        img.members.retain(|m| m.member_id != member);
        if img.members.len() == before {
            return Err(ImageError::MemberNotFound {
                image: id.to_string(),
                member: member.to_owned(),
            });
        }
        self.save(&img, rev).await
    }
}
