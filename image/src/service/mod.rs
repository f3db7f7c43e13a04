// SPDX-License-Identifier: Apache-2.0
//! [`ImageService`], the local implementation of [`ImageApi`].
//!
//! | file | what |
//! |---|---|
//! | `mod.rs` | the service, its settings and policy, record loading/saving and quota usage |
//! | `images.rs` | image records: create, show, list, JSON-patch update, delete, tags, (de)activation |
//! | `data.rs` | image data: upload, stage, `glance-direct` import, download; hashing and inspection |
//! | `web_import.rs` | the `web-download` import method and its tasks |
//! | `members.rs` | sharing: members of `shared` images |

use std::sync::Arc;

use ferrostack_core::RequestContext;
use ferrostack_core::id::{ImageId, ProjectId};
use ferrostack_core::policy::{Policy, RuleDefault};
use ferrostack_core::store::retry::retry_txn;
use ferrostack_core::store::{Collection, Store, Txn, TxnOutcome};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::api::{CreateImage, ImageApi, ListQuery, PatchOp};
use crate::error::{ImageError, Result};
use crate::store::{ByteStream, ImageStore};
use crate::types::*;
use crate::web_download::{Downloader, WebDownloadConfig};

mod data;
mod images;
mod members;
mod web_import;

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

fn is_admin(ctx: &RequestContext) -> bool {
    ctx.has_role("admin")
}

/// The policy target of an image.
fn target(img: &Image) -> Value {
    let owner = img.owner.as_ref().map(|o| o.as_str().to_owned());
    json!({"owner": owner, "project_id": owner, "visibility": img.visibility.as_str()})
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

    /// A visible image and its revision; invisible images are not found.
    async fn load(&self, ctx: &RequestContext, id: &ImageId) -> Result<(Image, u64)> {
        let v = self
            .images
            .get(&id.to_string())
            .await?
            .filter(|v| Self::can_see(ctx, &v.value))
            .ok_or_else(|| ImageError::NotFound(id.to_string()))?;
        Ok((v.value, v.revision))
    }

    /// Writes `img` if its record is still at `rev`.
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
        let (base, check) = (&base, &check);
        retry_txn(&format!("the image usage of project {pid}"), move || async move {
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
                TxnOutcome::Committed { .. } => Ok(Some(true)),
                // One of the caller's conditions failed: that is the caller's to handle.
                TxnOutcome::Failed { condition } if condition < n_base => Ok(Some(false)),
                // Only the usage record raced: count again.
                TxnOutcome::Failed { .. } => Ok(None),
            }
        })
        .await
    }
}

#[async_trait::async_trait]
impl ImageApi for ImageService {
    async fn create(&self, ctx: &RequestContext, req: CreateImage) -> Result<Image> {
        self.create_image(ctx, req).await
    }

    async fn get(&self, ctx: &RequestContext, id: &ImageId) -> Result<Image> {
        self.show_image(ctx, id).await
    }

    async fn list(&self, ctx: &RequestContext, q: &ListQuery) -> Result<Vec<Image>> {
        self.list_images(ctx, q).await
    }

    async fn update(&self, ctx: &RequestContext, id: &ImageId, ops: Vec<PatchOp>) -> Result<Image> {
        self.update_image(ctx, id, &ops).await
    }

    async fn delete(&self, ctx: &RequestContext, id: &ImageId) -> Result<()> {
        self.delete_image(ctx, id).await
    }

    async fn upload(&self, ctx: &RequestContext, id: &ImageId, data: ByteStream) -> Result<Image> {
        self.upload_data(ctx, id, data).await
    }

    async fn stage(&self, ctx: &RequestContext, id: &ImageId, data: ByteStream) -> Result<()> {
        self.stage_data(ctx, id, data).await
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
        self.import_staged(ctx, id, method).await
    }

    async fn import_methods(&self, _ctx: &RequestContext) -> Result<Vec<String>> {
        let mut m = vec!["glance-direct".to_owned()];
        if self.downloader.is_some() {
            m.push("web-download".to_owned());
        }
        Ok(m)
    }

    async fn tasks(&self, ctx: &RequestContext, id: &ImageId) -> Result<Vec<ImportTask>> {
        self.import_tasks(ctx, id).await
    }

    async fn download(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<Option<(Image, ByteStream)>> {
        self.download_data(ctx, id).await
    }

    async fn set_active(&self, ctx: &RequestContext, id: &ImageId, active: bool) -> Result<()> {
        self.set_image_active(ctx, id, active).await
    }

    async fn tag(&self, ctx: &RequestContext, id: &ImageId, tag: &str, add: bool) -> Result<()> {
        self.tag_image(ctx, id, tag, add).await
    }

    async fn members(&self, ctx: &RequestContext, id: &ImageId) -> Result<(Image, Vec<Member>)> {
        self.list_members(ctx, id).await
    }

    async fn add_member(&self, ctx: &RequestContext, id: &ImageId, member: &str) -> Result<Member> {
        self.share(ctx, id, member).await
    }

    async fn update_member(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        member: &str,
        status: MemberStatus,
    ) -> Result<Member> {
        self.answer_share(ctx, id, member, status).await
    }

    async fn remove_member(&self, ctx: &RequestContext, id: &ImageId, member: &str) -> Result<()> {
        self.unshare(ctx, id, member).await
    }
}
