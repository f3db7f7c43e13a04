// SPDX-License-Identifier: Apache-2.0
//! Domains: CRUD; deleting one deletes what it holds.

use super::*;

impl IdentityService {
    pub(super) async fn domain_create(
        &self,
        ctx: &RequestContext,
        domain: Domain,
    ) -> Result<Domain> {
        self.authorize("identity:create_domain", ctx, &json!({"target": {"domain": domain}}))?;
        validate_name("domain", &domain.name)?;
        self.insert_named(&self.domains, "domain", domain.id.as_str(), "-", &domain.name, &domain)
            .await?;
        Ok(domain)
    }

    pub(super) async fn domain_get(&self, ctx: &RequestContext, id: &str) -> Result<Domain> {
        let d = self.domain(id).await;
        let target = match &d {
            Ok(d) => json!({"target": {"domain": d}}),
            Err(_) => json!({"target": {"domain": {"id": id}}}),
        };
        self.authorize("identity:get_domain", ctx, &target)?;
        d
    }

    pub(super) async fn domain_list(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Domain>> {
        self.authorize("identity:list_domains", ctx, &json!({}))?;
        self.list_filtered(&self.domains, |d| {
            matches(filter, &d.name, None, Some(d.enabled)) && filter.domain_id.is_none()
        })
        .await
    }

    pub(super) async fn domain_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: DomainPatch,
    ) -> Result<Domain> {
        let cur =
            self.domains.get(id).await?.ok_or_else(|| IdentityError::not_found("domain", id))?;
        self.authorize("identity:update_domain", ctx, &json!({"target": {"domain": cur.value}}))?;
        let mut d = cur.value.clone();
        if let Some(n) = patch.name {
            validate_name("domain", &n)?;
            d.name = n;
        }
        if let Some(x) = patch.description {
            d.description = x;
        }
        if let Some(x) = patch.enabled {
            d.enabled = x;
        }
        if let Some(x) = patch.tags {
            d.tags = x;
        }
        self.replace_named(
            &self.domains,
            "domain",
            id,
            cur.revision,
            "-",
            &cur.value.name,
            &d.name,
            &d,
        )
        .await?;
        if cur.value.enabled && !d.enabled {
            self.revoke(RevocationEvent { domain_id: Some(d.id.clone()), ..Self::blank_event() })
                .await?;
        }
        Ok(d)
    }

    pub(super) async fn domain_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let cur =
            self.domains.get(id).await?.ok_or_else(|| IdentityError::not_found("domain", id))?;
        self.authorize("identity:delete_domain", ctx, &json!({"target": {"domain": cur.value}}))?;
        if cur.value.enabled {
            return Err(IdentityError::NotAllowed(
                "Cannot delete a domain that is enabled, please disable it first.".into(),
            ));
        }
        if id == self.config.default_domain_id {
            return Err(IdentityError::NotAllowed("Cannot delete the default domain.".into()));
        }
        let internal = RequestContext::internal("identity");
        for p in self.list_filtered(&self.projects, |p| p.domain_id.as_str() == id).await? {
            // children first
            let _ = self.delete_project_tree(&internal, &p.id).await;
        }
        for u in self.list_filtered(&self.users, |u| u.domain_id.as_str() == id).await? {
            self.delete_user(&internal, u.id.as_str()).await?;
        }
        for g in self.list_filtered(&self.groups, |g| g.domain_id.as_str() == id).await? {
            self.delete_group(&internal, g.id.as_str()).await?;
        }
        self.delete_assignments(|a| a.target == Target::Domain(cur.value.id.clone())).await?;
        let txn = Txn::new()
            .when(self.domains.unchanged(id, cur.revision))
            .op(self.domains.delete_op(id))
            .delete(Self::name_key("domain", "-", &cur.value.name));
        self.store.txn(txn).await?;
        self.changed();
        Ok(())
    }
}
