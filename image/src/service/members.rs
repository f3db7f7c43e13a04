// SPDX-License-Identifier: Apache-2.0
//! Sharing: the members of `shared` images.

use ferrostack_core::RequestContext;
use ferrostack_core::id::ImageId;
use serde_json::json;
use time::OffsetDateTime;

use super::{ImageService, is_admin, target};
use crate::error::{ImageError, Result};
use crate::types::*;

impl ImageService {
    pub(super) async fn list_members(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
    ) -> Result<(Image, Vec<Member>)> {
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

    pub(super) async fn share(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        member: &str,
    ) -> Result<Member> {
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

    pub(super) async fn answer_share(
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

    pub(super) async fn unshare(
        &self,
        ctx: &RequestContext,
        id: &ImageId,
        member: &str,
    ) -> Result<()> {
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
