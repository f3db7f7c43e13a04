// SPDX-License-Identifier: Apache-2.0
//! Projects (with hierarchy): CRUD and the projects a user has roles on.

use super::*;

impl IdentityService {
    pub(super) async fn user_projects(&self, user: &UserId) -> Result<Vec<Project>> {
        let mut out = Vec::new();
        for p in self.projects.list_all().await? {
            let p = p.value;
            if p.enabled
                && !self.effective_roles(user, &Target::Project(p.id.clone())).await?.is_empty()
            {
                out.push(p);
            }
        }
        Ok(out)
    }

    pub(super) fn delete_project_tree<'a>(
        &'a self,
        ctx: &'a RequestContext,
        id: &'a ProjectId,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>> {
        Box::pin(async move {
            let children =
                self.list_filtered(&self.projects, |p| p.parent_id.as_ref() == Some(id)).await?;
            for c in children {
                self.delete_project_tree(ctx, &c.id).await?;
            }
            match self.delete_project(ctx, id.as_str()).await {
                Ok(()) | Err(IdentityError::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }

    pub(super) async fn project_create(
        &self,
        ctx: &RequestContext,
        mut project: Project,
    ) -> Result<Project> {
        if let Some(parent) = &project.parent_id
            && parent.as_str() == project.domain_id.as_str()
        {
            project.parent_id = None;
        }
        self.authorize("identity:create_project", ctx, &json!({"target": {"project": project}}))?;
        validate_name("project", &project.name)?;
        self.domain(project.domain_id.as_str()).await.map_err(|_| {
            IdentityError::Validation(format!("Could not find domain: {}.", project.domain_id))
        })?;
        if let Some(parent) = &project.parent_id {
            let p = self.project(parent.as_str()).await.map_err(|_| {
                IdentityError::Validation(format!("Could not find parent project: {parent}."))
            })?;
            if p.domain_id != project.domain_id {
                return Err(IdentityError::Validation(
                    "A project's parent must be in the same domain.".into(),
                ));
            }
        }
        let scope = project.domain_id.to_string();
        self.insert_named(
            &self.projects,
            "project",
            project.id.as_str(),
            &scope,
            &project.name,
            &project,
        )
        .await?;
        Ok(project)
    }

    pub(super) async fn project_get(&self, ctx: &RequestContext, id: &str) -> Result<Project> {
        let p = self.project(id).await;
        let target = match &p {
            Ok(p) => json!({"target": {"project": p}}),
            Err(_) => json!({"target": {"project": {"id": id}}}),
        };
        self.authorize("identity:get_project", ctx, &target)?;
        p
    }

    pub(super) async fn project_list(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Project>> {
        self.authorize(
            "identity:list_projects",
            ctx,
            &json!({"target": {"domain_id": Self::list_domain(ctx, filter)}}),
        )?;
        // A domain reader only sees their own domain.
        let own_domain = match (&ctx.scope, ctx.has_role("admin")) {
            (Scope::Domain { id, .. }, false) => Some(id.to_string()),
            _ => None,
        };
        self.list_filtered(&self.projects, |p| {
            matches(filter, &p.name, Some(p.domain_id.as_str()), Some(p.enabled))
                && filter.parent_id.as_deref().is_none_or(|x| {
                    p.parent_id.as_ref().map_or(p.domain_id.as_str() == x, |pp| pp.as_str() == x)
                })
                && own_domain.as_deref().is_none_or(|d| d == p.domain_id.as_str())
        })
        .await
    }

    pub(super) async fn project_update(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: ProjectPatch,
    ) -> Result<Project> {
        let cur =
            self.projects.get(id).await?.ok_or_else(|| IdentityError::not_found("project", id))?;
        self.authorize("identity:update_project", ctx, &json!({"target": {"project": cur.value}}))?;
        let mut p = cur.value.clone();
        if let Some(n) = patch.name {
            validate_name("project", &n)?;
            p.name = n;
        }
        if let Some(x) = patch.description {
            p.description = x;
        }
        if let Some(x) = patch.enabled {
            p.enabled = x;
        }
        if let Some(x) = patch.tags {
            p.tags = x;
        }
        let scope = p.domain_id.to_string();
        self.replace_named(
            &self.projects,
            "project",
            id,
            cur.revision,
            &scope,
            &cur.value.name,
            &p.name,
            &p,
        )
        .await?;
        if cur.value.enabled && !p.enabled {
            self.revoke(RevocationEvent { project_id: Some(p.id.clone()), ..Self::blank_event() })
                .await?;
        }
        Ok(p)
    }

    pub(super) async fn project_delete(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        let cur =
            self.projects.get(id).await?.ok_or_else(|| IdentityError::not_found("project", id))?;
        self.authorize("identity:delete_project", ctx, &json!({"target": {"project": cur.value}}))?;
        let children = self
            .list_filtered(&self.projects, |p| {
                p.parent_id.as_ref().is_some_and(|x| x.as_str() == id)
            })
            .await?;
        if !children.is_empty() {
            return Err(IdentityError::NotAllowed(
                "Cannot delete the project since it is not a leaf in the hierarchy.".into(),
            ));
        }
        let pid = cur.value.id.clone();
        self.delete_assignments(|a| a.target == Target::Project(pid.clone())).await?;
        self.delete_app_creds_on_project(&pid).await?;
        self.delete_credentials_where(|c| c.project_id.as_ref() == Some(&pid)).await?;
        let txn = Txn::new()
            .when(self.projects.unchanged(id, cur.revision))
            .op(self.projects.delete_op(id))
            .delete(Self::name_key("project", cur.value.domain_id.as_str(), &cur.value.name));
        if !self.store.txn(txn).await?.is_committed() {
            return Err(IdentityError::Conflict(
                "the project was changed concurrently; retry".into(),
            ));
        }
        self.revoke(RevocationEvent { project_id: Some(pid), ..Self::blank_event() }).await
    }

    pub(super) async fn project_list_for_user(
        &self,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<Vec<Project>> {
        let u = self.user(user_id).await?;
        self.authorize(
            "identity:list_user_projects",
            ctx,
            &json!({"user_id": user_id, "target": {"user": u}}),
        )?;
        self.user_projects(&u.id).await
    }
}
