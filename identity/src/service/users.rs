// SPDX-License-Identifier: Apache-2.0
//! Users: CRUD, password changes, and the read-only LDAP domain's refusals.

use super::*;

impl IdentityService {
    /// A write to a user that is not in the store: 403 for a directory user (after the
    /// policy check, as Keystone's driver refuses only once the caller is authorised), 404
    /// for an unknown one.
    pub(super) async fn refuse_directory_user<T>(
        &self,
        rule: &str,
        ctx: &RequestContext,
        id: &str,
    ) -> Result<T> {
        let u = self.user(id).await?;
        self.authorize(
            rule,
            ctx,
            &json!({"target": {"user": {"id": u.id, "domain_id": u.domain_id}}}),
        )?;
        Err(IdentityError::ReadOnly)
    }

    /// The filter of a user or group listing with Keystone's domain-specific-driver rule
    /// (`_get_domain_id_for_list_request`): with an LDAP domain configured, a listing is
    /// about one domain, the `domain_id` filter's, else the token's domain (a domain-scoped
    /// token's, a project-scoped token's project's); system-scoped listings read the store
    /// only (Keystone's default driver). `None` when nothing can be listed (unscoped).
    /// Without LDAP the filter is unchanged.
    pub(super) fn driver_list_filter(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Option<ListFilter> {
        if self.ldap.is_none() || filter.domain_id.is_some() {
            return Some(filter.clone());
        }
        let domain = match &ctx.scope {
            Scope::Domain { id, .. } => id.to_string(),
            Scope::Project { domain_id, .. } => domain_id.to_string(),
            // The store's users of every domain but the directory's.
            Scope::System => return Some(filter.clone()),
            Scope::Unscoped => return None,
        };
        Some(ListFilter { domain_id: Some(domain), ..filter.clone() })
    }

    pub(super) async fn user_create(
        &self,
        ctx: &RequestContext,
        mut user: User,
        password: Option<String>,
    ) -> Result<User> {
        self.authorize("identity:create_user", ctx, &json!({"target": {"user": user}}))?;
        if self.ldap_for(&user.domain_id).is_some() {
            return Err(IdentityError::ReadOnly);
        }
        validate_name("user", &user.name)?;
        self.domain(user.domain_id.as_str()).await.map_err(|_| {
            IdentityError::Validation(format!("Could not find domain: {}.", user.domain_id))
        })?;
        user.password = match password {
            Some(pw) => Some(self.password_record_blocking(pw).await?),
            None => None,
        };
        let scope = user.domain_id.to_string();
        self.insert_named(&self.users, "user", user.id.as_str(), &scope, &user.name, &user).await?;
        Ok(user)
    }

    pub(super) async fn user_get(&self, ctx: &RequestContext, id: &str) -> Result<User> {
        let u = self.user(id).await;
        let target = match &u {
            Ok(u) => json!({"target": {"user": {"id": u.id, "domain_id": u.domain_id}}}),
            Err(_) => json!({"target": {"user": {"id": id}}}),
        };
        self.authorize("identity:get_user", ctx, &target)?;
        u
    }

    pub(super) async fn user_list(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<User>> {
        self.authorize(
            "identity:list_users",
            ctx,
            &json!({"target": {"domain_id": Self::list_domain(ctx, filter)}}),
        )?;
        let Some(filter) = self.driver_list_filter(ctx, filter) else {
            return Ok(Vec::new());
        };
        let keep =
            |u: &User| matches(&filter, &u.name, Some(u.domain_id.as_str()), Some(u.enabled));
        match &self.ldap {
            Some(l) if filter.domain_id.as_deref() == Some(l.domain_id().as_str()) => {
                Ok(l.list_users().await?.into_iter().filter(|u| keep(u)).collect())
            }
            _ => self.list_filtered(&self.users, keep).await,
        }
    }

    pub(super) async fn user_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: UserPatch,
    ) -> Result<User> {
        let Some(cur) = self.users.get(id).await? else {
            return self.refuse_directory_user("identity:update_user", ctx, id).await;
        };
        self.authorize(
            "identity:update_user",
            ctx,
            &json!({"target": {"user": {"id": cur.value.id, "domain_id": cur.value.domain_id}}}),
        )?;
        let mut u = cur.value.clone();
        if let Some(n) = patch.name {
            validate_name("user", &n)?;
            u.name = n;
        }
        if let Some(x) = patch.description {
            u.description = x;
        }
        if let Some(x) = patch.enabled {
            u.enabled = x;
        }
        if let Some(x) = patch.default_project_id {
            u.default_project_id = x;
        }
        if let Some(x) = patch.email {
            u.email = x;
        }
        let pw_changed = patch.password.is_some();
        if let Some(pw) = patch.password {
            u.password = Some(self.password_record_blocking(pw).await?);
            u.failed_auth_count = 0;
            u.failed_auth_at = None;
        }
        let scope = u.domain_id.to_string();
        self.replace_named(
            &self.users,
            "user",
            id,
            cur.revision,
            &scope,
            &cur.value.name,
            &u.name,
            &u,
        )
        .await?;
        if cur.value.enabled && !u.enabled {
            // Keystone deletes a disabled user's application credentials.
            self.delete_app_creds_of(id, None).await?;
        }
        if (cur.value.enabled && !u.enabled) || pw_changed {
            self.revoke(RevocationEvent { user_id: Some(u.id.clone()), ..Self::blank_event() })
                .await?;
        }
        Ok(u)
    }

    pub(super) async fn user_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let Some(cur) = self.users.get(id).await? else {
            return self.refuse_directory_user("identity:delete_user", ctx, id).await;
        };
        self.authorize(
            "identity:delete_user",
            ctx,
            &json!({"target": {"user": {"id": cur.value.id, "domain_id": cur.value.domain_id}}}),
        )?;
        let uid = cur.value.id.clone();
        self.delete_assignments(|a| a.actor == Actor::User(uid.clone())).await?;
        self.delete_app_creds_of(id, None).await?;
        self.delete_credentials_where(|c| c.user_id == uid).await?;
        for g in self.user_group_ids(id).await? {
            self.store
                .txn(
                    Txn::new()
                        .delete(format!("{PREFIX}members/{}/{}", esc(g.as_str()), esc(id)))
                        .delete(format!("{PREFIX}user_groups/{}/{}", esc(id), esc(g.as_str()))),
                )
                .await?;
        }
        let txn = Txn::new().op(self.users.delete_op(id)).delete(Self::name_key(
            "user",
            cur.value.domain_id.as_str(),
            &cur.value.name,
        ));
        self.store.txn(txn).await?;
        self.revoke(RevocationEvent { user_id: Some(uid), ..Self::blank_event() }).await
    }

    pub(super) async fn user_change_password(
        &self,
        ctx: &RequestContext,
        id: &str,
        original: &str,
        new: &str,
    ) -> Result<()> {
        self.authorize("identity:change_password", ctx, &json!({"user_id": id}))?;
        let u = self.user(id).await?;
        if self.ldap_for(&u.domain_id).is_some() {
            return Err(IdentityError::ReadOnly);
        }
        self.password_authenticate(&UserRef::Id(u.id.to_string()), original).await?;
        self.set_password_internal(id, new).await?;
        self.revoke(RevocationEvent { user_id: Some(u.id), ..Self::blank_event() }).await
    }
}
