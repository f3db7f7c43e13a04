// SPDX-License-Identifier: Apache-2.0
//! Image records: create, show, list, JSON-patch update, delete, tags and (de)activation.

use std::collections::BTreeMap;

use ferrostack_core::RequestContext;
use ferrostack_core::id::{ImageId, ProjectId};
use ferrostack_core::store::Txn;
use ferrostack_core::store::retry::retry_txn;
use serde_json::json;
use time::OffsetDateTime;

use super::{ImageService, is_admin, target};
use crate::api::{CreateImage, ListQuery, PatchOp, PatchValue, check_property_name};
use crate::error::{ImageError, Result};
use crate::types::*;

/// The attributes a patch may set that are not free-form properties.
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

fn checked_string(key: &str, s: String) -> Result<String> {
    if s.len() > MAX_STRING {
        return Err(ImageError::Invalid(format!("{key} is longer than 255")));
    }
    Ok(s)
}

fn checked_int(key: &str, n: u64) -> Result<u64> {
    if n > i32::MAX as u64 {
        return Err(ImageError::Invalid(format!("{key} must be a non-negative integer")));
    }
    Ok(n)
}

fn checked_tags(given: Vec<String>) -> Result<Vec<String>> {
    let mut tags: Vec<String> = Vec::new();
    for t in given {
        let t = checked_string("tag", t)?;
        if !tags.contains(&t) {
            tags.push(t);
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(ImageError::OverLimit("too many tags".into()));
    }
    Ok(tags)
}

fn checked_format(key: &str, v: Option<String>, allowed: &[&str]) -> Result<Option<String>> {
    let Some(s) = v else { return Ok(None) };
    let s = checked_string(key, s)?;
    if !allowed.contains(&s.as_str()) {
        return Err(ImageError::Invalid(format!("invalid {key} '{s}'")));
    }
    Ok(Some(s))
}

fn wrong_type(key: &str, what: &str) -> ImageError {
    ImageError::Invalid(format!("{key} must be {what}"))
}

impl ImageService {
    fn set_visibility(&self, ctx: &RequestContext, img: &mut Image, v: Visibility) -> Result<()> {
        match v {
            Visibility::Public => self.authorize("publicize_image", ctx, &target(img))?,
            Visibility::Community => self.authorize("communitize_image", ctx, &target(img))?,
            _ => {}
        }
        img.visibility = v;
        Ok(())
    }

    fn set_owner(ctx: &RequestContext, img: &mut Image, owner: Option<ProjectId>) -> Result<()> {
        if !is_admin(ctx) {
            return Err(ImageError::Forbidden("Attribute 'owner' is read-only.".into()));
        }
        img.owner = owner;
        Ok(())
    }

    fn set_property(img: &mut Image, key: &str, value: String) -> Result<()> {
        check_property_name(key)?;
        let v = checked_string(key, value)?;
        img.properties.insert(key.to_owned(), v);
        if img.properties.len() > MAX_PROPERTIES {
            return Err(ImageError::OverLimit("too many image properties".into()));
        }
        Ok(())
    }

    /// Sets one attribute from a patch value, with Glance's type and permission checks.
    fn apply_patch_value(
        &self,
        ctx: &RequestContext,
        img: &mut Image,
        key: &str,
        value: &PatchValue,
    ) -> Result<()> {
        let string = |what: &str| match value {
            PatchValue::String(s) => Ok(s.clone()),
            _ => Err(wrong_type(key, what)),
        };
        match key {
            "name" => img.name = Some(checked_string(key, string("a string")?)?),
            "visibility" => {
                let v = match value {
                    PatchValue::String(s) => Visibility::parse(s),
                    _ => None,
                };
                let v = v.ok_or_else(|| ImageError::Invalid("invalid visibility".into()))?;
                self.set_visibility(ctx, img, v)?;
            }
            "protected" | "os_hidden" => {
                let PatchValue::Bool(b) = *value else {
                    return Err(wrong_type(key, "a boolean"));
                };
                if key == "protected" { img.protected = b } else { img.os_hidden = b }
            }
            "min_disk" | "min_ram" => {
                let PatchValue::Int(n) = *value else {
                    return Err(wrong_type(key, "a non-negative integer"));
                };
                let n = checked_int(key, n)?;
                if key == "min_disk" { img.min_disk = n } else { img.min_ram = n }
            }
            "tags" => {
                let PatchValue::Strings(tags) = value else {
                    return Err(ImageError::Invalid("tags must be a list".into()));
                };
                img.tags = checked_tags(tags.clone())?;
            }
            "disk_format" | "container_format" => {
                if img.status != ImageStatus::Queued {
                    return Err(ImageError::Forbidden(format!(
                        "Attribute {key} can be only replaced for a queued image."
                    )));
                }
                let allowed = if key == "disk_format" { DISK_FORMATS } else { CONTAINER_FORMATS };
                let v = checked_format(key, Some(string("a string")?), allowed)?;
                if key == "disk_format" { img.disk_format = v } else { img.container_format = v }
            }
            "owner" => {
                if !is_admin(ctx) {
                    return Err(ImageError::Forbidden("Attribute 'owner' is read-only.".into()));
                }
                let owner = checked_string(key, string("a string")?)?
                    .parse()
                    .map_err(|_| ImageError::Invalid("invalid owner".into()))?;
                Self::set_owner(ctx, img, Some(owner))?;
            }
            _ => {
                check_property_name(key)?;
                Self::set_property(img, key, string("a string")?)?;
            }
        }
        Ok(())
    }

    pub(super) async fn create_image(
        &self,
        ctx: &RequestContext,
        req: CreateImage,
    ) -> Result<Image> {
        let now = OffsetDateTime::now_utc();
        let mut img = Image {
            id: req.id.unwrap_or_else(ImageId::new),
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
        // In the order Glance's body keys sort, so a body with several faults reports the same
        // one as before the request was typed.
        img.container_format =
            checked_format("container_format", req.container_format, CONTAINER_FORMATS)?;
        img.disk_format = checked_format("disk_format", req.disk_format, DISK_FORMATS)?;
        if let Some(n) = req.min_disk {
            img.min_disk = checked_int("min_disk", n)?;
        }
        if let Some(n) = req.min_ram {
            img.min_ram = checked_int("min_ram", n)?;
        }
        img.name = req.name.map(|n| checked_string("name", n)).transpose()?;
        if let Some(b) = req.os_hidden {
            img.os_hidden = b;
        }
        if let Some(owner) = req.owner {
            Self::set_owner(ctx, &mut img, owner)?;
        }
        if let Some(b) = req.protected {
            img.protected = b;
        }
        if let Some(tags) = req.tags {
            img.tags = checked_tags(tags)?;
        }
        if let Some(v) = req.visibility {
            self.set_visibility(ctx, &mut img, v)?;
        }
        for (k, v) in req.properties {
            if CORE.contains(&k.as_str()) || k == "id" {
                return Err(ImageError::Invalid(format!("{k} is not a free-form property")));
            }
            Self::set_property(&mut img, &k, v)?;
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

    pub(super) async fn show_image(&self, ctx: &RequestContext, id: &ImageId) -> Result<Image> {
        let (img, _) = self.load(ctx, id).await?;
        self.authorize("get_image", ctx, &target(&img))?;
        Ok(img)
    }

    pub(super) async fn list_images(
        &self,
        ctx: &RequestContext,
        q: &ListQuery,
    ) -> Result<Vec<Image>> {
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

    /// Applies `ops` to a copy of `img`, all or nothing.
    fn apply_patch(&self, ctx: &RequestContext, img: &mut Image, ops: &[PatchOp]) -> Result<()> {
        for op in ops {
            let path = op.path().strip_prefix('/').ok_or_else(|| {
                ImageError::Invalid(format!("invalid JSON pointer '{}'", op.path()))
            })?;
            if path.contains('/') || path.is_empty() {
                return Err(ImageError::Invalid(format!("invalid path '{}'", op.path())));
            }
            let key = path.replace("~1", "/").replace("~0", "~");
            match op {
                PatchOp::Add { value, .. } | PatchOp::Replace { value, .. } => {
                    if !CORE.contains(&key.as_str()) {
                        check_property_name(&key)?;
                        let exists = img.properties.contains_key(&key);
                        if matches!(op, PatchOp::Replace { .. }) && !exists {
                            return Err(ImageError::Conflict(format!(
                                "Property {key} does not exist."
                            )));
                        }
                    }
                    self.apply_patch_value(ctx, img, &key, value)?;
                }
                PatchOp::Remove { .. } => {
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
            }
        }
        img.updated_at = OffsetDateTime::now_utc();
        Ok(())
    }

    pub(super) async fn update_image(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        ops: &[PatchOp],
    ) -> Result<Image> {
        retry_txn(&format!("image {id}"), || async move {
            let (mut img, rev) = self.load(ctx, id).await?;
            self.authorize("modify_image", ctx, &target(&img))?;
            self.apply_patch(ctx, &mut img, ops)?;
            match self.save(&img, rev).await {
                // Another writer changed the image since it was read: patch it afresh.
                Err(ImageError::Conflict(_)) => Ok(None),
                r => r.map(|_| Some(img)),
            }
        })
        .await
    }

    pub(super) async fn delete_image(&self, ctx: &RequestContext, id: &ImageId) -> Result<()> {
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

    pub(super) async fn set_image_active(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        active: bool,
    ) -> Result<()> {
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

    pub(super) async fn tag_image(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        tag: &str,
        add: bool,
    ) -> Result<()> {
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
}
