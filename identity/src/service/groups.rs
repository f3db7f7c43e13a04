// SPDX-License-Identifier: Apache-2.0
//! Groups and their membership.

use super::*;

impl IdentityService {
    pub(super) async fn group_create(&self, ctx: &RequestContext, group: Group) -> Result<Group> {
        self.authorize("identity:create_group", ctx, &json!({"target": {"group": group}}))?;
        if self.ldap_for(&group.domain_id).is_some() {
            return Err(IdentityError::ReadOnly);
        }
        validate_name("group", &group.name)?;
        self.domain(group.domain_id.as_str()).await.map_err(|_| {
            IdentityError::Validation(format!("Could not find domain: {}.", group.domain_id))
        })?;
        let scope = group.domain_id.to_string();
        self.insert_named(&self.groups, "group", group.id.as_str(), &scope, &group.name, &group)
            .await?;
        Ok(group)
    }

    pub(super) async fn group_get(&self, ctx: &RequestContext, id: &str) -> Result<Group> {
        let g = self.group(id).await;
        let target = match &g {
            Ok(g) => json!({"target": {"group": g}}),
            Err(_) => json!({"target": {"group": {"id": id}}}),
        };
        self.authorize("identity:get_group", ctx, &target)?;
        g
    }

    pub(super) async fn group_list(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Group>> {
        self.authorize(
            "identity:list_groups",
            ctx,
            &json!({"target": {"domain_id": Self::list_domain(ctx, filter)}}),
        )?;
        let Some(filter) = self.driver_list_filter(ctx, filter) else {
            return Ok(Vec::new());
        };
        let keep = |g: &Group| matches(&filter, &g.name, Some(g.domain_id.as_str()), None);
        match &self.ldap {
            Some(l) if filter.domain_id.as_deref() == Some(l.domain_id().as_str()) => {
                Ok(l.list_groups().await?.into_iter().filter(|g| keep(g)).collect())
            }
            _ => self.list_filtered(&self.groups, keep).await,
        }
    }

    pub(super) async fn group_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: NamePatch,
    ) -> Result<Group> {
        let Some(cur) = self.groups.get(id).await? else {
            let g = self.group(id).await?;
            self.authorize("identity:update_group", ctx, &json!({"target": {"group": g}}))?;
            return Err(IdentityError::ReadOnly);
        };
        self.authorize("identity:update_group", ctx, &json!({"target": {"group": cur.value}}))?;
        let mut g = cur.value.clone();
        if let Some(n) = patch.name {
            validate_name("group", &n)?;
            g.name = n;
        }
        if let Some(x) = patch.description {
            g.description = x;
        }
        let scope = g.domain_id.to_string();
        self.replace_named(
            &self.groups,
            "group",
            id,
            cur.revision,
            &scope,
            &cur.value.name,
            &g.name,
            &g,
        )
        .await?;
        Ok(g)
    }

    pub(super) async fn group_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let Some(cur) = self.groups.get(id).await? else {
            let g = self.group(id).await?;
            self.authorize("identity:delete_group", ctx, &json!({"target": {"group": g}}))?;
            return Err(IdentityError::ReadOnly);
        };
        self.authorize("identity:delete_group", ctx, &json!({"target": {"group": cur.value}}))?;
        let gid = cur.value.id.clone();
        self.delete_assignments(|a| a.actor == Actor::Group(gid.clone())).await?;
        let members = self.store.list_all(&format!("{PREFIX}members/{}/", esc(id))).await?;
        for kv in members {
            let user = String::from_utf8(kv.value).unwrap_or_default();
            self.store
                .txn(Txn::new().delete(kv.key).delete(format!(
                    "{PREFIX}user_groups/{}/{}",
                    esc(&user),
                    esc(id)
                )))
                .await?;
            if let Ok(u) = user.parse::<UserId>() {
                self.revoke(RevocationEvent { user_id: Some(u), ..Self::blank_event() }).await?;
            }
        }
        let txn = Txn::new().op(self.groups.delete_op(id)).delete(Self::name_key(
            "group",
            cur.value.domain_id.as_str(),
            &cur.value.name,
        ));
        self.store.txn(txn).await?;
        self.changed();
        Ok(())
    }

    /// Authorizes `action` on `user`'s membership of `group` (both must exist) and returns the
    /// user; a membership either side of which lives in LDAP is read-only.
    async fn authorize_membership_change(
        &self,
        action: &str,
        ctx: &RequestContext,
        group: &str,
        user: &str,
    ) -> Result<User> {
        let g = self.group(group).await?;
        self.authorize(action, ctx, &json!({"target": {"group": g, "user": {"id": user}}}))?;
        let u = self.user(user).await?;
        if self.ldap_for(&g.domain_id).is_some() || self.ldap_for(&u.domain_id).is_some() {
            return Err(IdentityError::ReadOnly);
        }
        Ok(u)
    }

    pub(super) async fn group_add_user(
        &self,
        ctx: &RequestContext,
        group: &str,
        user: &str,
    ) -> Result<()> {
        self.authorize_membership_change("identity:add_user_to_group", ctx, group, user).await?;
        self.store
            .txn(
                Txn::new()
                    .put(
                        format!("{PREFIX}members/{}/{}", esc(group), esc(user)),
                        user.as_bytes().to_vec(),
                    )
                    .put(
                        format!("{PREFIX}user_groups/{}/{}", esc(user), esc(group)),
                        group.as_bytes().to_vec(),
                    ),
            )
            .await?;
        self.changed();
        Ok(())
    }

    pub(super) async fn group_remove_user(
        &self,
        ctx: &RequestContext,
        group: &str,
        user: &str,
    ) -> Result<()> {
        let u = self
            .authorize_membership_change("identity:remove_user_from_group", ctx, group, user)
            .await?;
        let key = format!("{PREFIX}members/{}/{}", esc(group), esc(user));
        let txn = Txn::new().when(Condition::exists(&key)).delete(&key).delete(format!(
            "{PREFIX}user_groups/{}/{}",
            esc(user),
            esc(group)
        ));
        if !self.store.txn(txn).await?.is_committed() {
            return Err(IdentityError::not_found("membership", format!("{user} in {group}")));
        }
        self.revoke(RevocationEvent { user_id: Some(u.id), ..Self::blank_event() }).await
    }

    pub(super) async fn group_check_user(
        &self,
        ctx: &RequestContext,
        group: &str,
        user: &str,
    ) -> Result<()> {
        let g = self.group(group).await?;
        self.authorize(
            "identity:check_user_in_group",
            ctx,
            &json!({"target": {"group": g, "user": {"id": user}}}),
        )?;
        self.user(user).await?;
        if self.ldap_for(&g.domain_id).is_some() {
            return match self.group_member_ids(group).await?.iter().any(|m| m.as_str() == user) {
                true => Ok(()),
                false => Err(IdentityError::not_found("membership", format!("{user} in {group}"))),
            };
        }
        match self.store.get(&format!("{PREFIX}members/{}/{}", esc(group), esc(user))).await? {
            Some(_) => Ok(()),
            None => Err(IdentityError::not_found("membership", format!("{user} in {group}"))),
        }
    }

    pub(super) async fn group_list_users(
        &self,
        ctx: &RequestContext,
        group: &str,
    ) -> Result<Vec<User>> {
        let g = self.group(group).await?;
        self.authorize("identity:list_users_in_group", ctx, &json!({"target": {"group": g}}))?;
        if let Some(l) = self.ldap_for(&g.domain_id) {
            return Ok(l.group_members(group).await?.unwrap_or_default());
        }
        let mut out = Vec::new();
        for kv in self.store.list_all(&format!("{PREFIX}members/{}/", esc(group))).await? {
            if let Some(u) =
                self.users.get(&String::from_utf8(kv.value).unwrap_or_default()).await?
            {
                out.push(u.value);
            }
        }
        Ok(out)
    }

    pub(super) async fn group_list_for_user(
        &self,
        ctx: &RequestContext,
        user: &str,
    ) -> Result<Vec<Group>> {
        let u = self.user(user).await?;
        self.authorize(
            "identity:list_groups_for_user",
            ctx,
            &json!({"user_id": user, "target": {"user": {"id": u.id, "domain_id": u.domain_id}}}),
        )?;
        if let Some(l) = self.ldap_for(&u.domain_id) {
            return Ok(l.user_groups(user).await?.unwrap_or_default());
        }
        let mut out = Vec::new();
        for g in self.user_group_ids(user).await? {
            if let Some(g) = self.groups.get(g.as_str()).await? {
                out.push(g.value);
            }
        }
        Ok(out)
    }
}
