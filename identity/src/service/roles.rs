// SPDX-License-Identifier: Apache-2.0
//! Roles and implied roles (role inference rules).

use super::*;

impl IdentityService {
    pub(super) async fn role_create(&self, ctx: &RequestContext, role: Role) -> Result<Role> {
        self.authorize("identity:create_role", ctx, &json!({"target": {"role": role}}))?;
        validate_name("role", &role.name)?;
        let scope = role.domain_id.as_ref().map_or("-".to_owned(), |d| d.to_string());
        self.insert_named(&self.roles, "role", role.id.as_str(), &scope, &role.name, &role).await?;
        Ok(role)
    }

    pub(super) async fn role_get(&self, ctx: &RequestContext, id: &str) -> Result<Role> {
        self.authorize("identity:get_role", ctx, &json!({"target": {"role": {"id": id}}}))?;
        self.role(id).await
    }

    pub(super) async fn role_list(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Role>> {
        self.authorize(
            "identity:list_roles",
            ctx,
            &json!({"target": {"domain_id": filter.domain_id}}),
        )?;
        self.list_filtered(&self.roles, |r| {
            filter.name.as_deref().is_none_or(|n| n == r.name)
                && filter.domain_id.as_deref() == r.domain_id.as_ref().map(|d| d.as_str())
        })
        .await
    }

    pub(super) async fn role_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: NamePatch,
    ) -> Result<Role> {
        let cur = self.roles.get(id).await?.ok_or_else(|| IdentityError::not_found("role", id))?;
        self.authorize("identity:update_role", ctx, &json!({"target": {"role": cur.value}}))?;
        let mut r = cur.value.clone();
        if let Some(n) = patch.name {
            validate_name("role", &n)?;
            r.name = n;
        }
        if let Some(x) = patch.description {
            r.description = x;
        }
        let scope = r.domain_id.as_ref().map_or("-".to_owned(), |d| d.to_string());
        self.replace_named(
            &self.roles,
            "role",
            id,
            cur.revision,
            &scope,
            &cur.value.name,
            &r.name,
            &r,
        )
        .await?;
        Ok(r)
    }

    pub(super) async fn role_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let cur = self.roles.get(id).await?.ok_or_else(|| IdentityError::not_found("role", id))?;
        self.authorize("identity:delete_role", ctx, &json!({"target": {"role": cur.value}}))?;
        let rid = cur.value.id.clone();
        // Keystone deletes the application credentials of every user holding the role on a
        // project (REMOVE_APP_CREDS_FOR_USER).
        for a in self.assignments.list_all().await? {
            if let (Actor::User(u), Target::Project(p)) = (&a.value.actor, &a.value.target)
                && a.value.role_id == rid
            {
                self.delete_app_creds_of(u.as_str(), Some(p)).await?;
            }
        }
        self.delete_assignments(|a| a.role_id == rid).await?;
        for rule in self.implied.list_all().await? {
            if rule.value.prior_role_id == rid || rule.value.implied_role_id == rid {
                self.implied.delete(&rule.id).await?;
            }
        }
        let scope = cur.value.domain_id.as_ref().map_or("-".to_owned(), |d| d.to_string());
        self.store
            .txn(Txn::new().op(self.roles.delete_op(id)).delete(Self::name_key(
                "role",
                &scope,
                &cur.value.name,
            )))
            .await?;
        self.changed();
        Ok(())
    }

    pub(super) async fn implied_role_create(
        &self,
        ctx: &RequestContext,
        prior: &str,
        implied: &str,
    ) -> Result<ImpliedRole> {
        self.authorize("identity:create_implied_role", ctx, &json!({}))?;
        let p = self.role(prior).await?;
        let i = self.role(implied).await?;
        if p.id == i.id {
            return Err(IdentityError::Validation("A role cannot imply itself.".into()));
        }
        let rule = ImpliedRole { prior_role_id: p.id, implied_role_id: i.id };
        let key = format!("{}/{}", esc(prior), esc(implied));
        match self.implied.create(&key, &rule).await {
            Ok(_) | Err(ferrostack_core::store::StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.changed();
        Ok(rule)
    }

    pub(super) async fn implied_role_delete(
        &self,
        ctx: &RequestContext,
        prior: &str,
        implied: &str,
    ) -> Result<()> {
        self.authorize("identity:delete_implied_role", ctx, &json!({}))?;
        if !self.implied.delete(&format!("{}/{}", esc(prior), esc(implied))).await? {
            return Err(IdentityError::not_found("implied role", format!("{prior} -> {implied}")));
        }
        self.changed();
        Ok(())
    }

    pub(super) async fn implied_role_list(&self, ctx: &RequestContext) -> Result<Vec<ImpliedRole>> {
        self.authorize("identity:list_implied_roles", ctx, &json!({}))?;
        Ok(self.implied.list_all().await?.into_iter().map(|v| v.value).collect())
    }
}
