// SPDX-License-Identifier: Apache-2.0
//! Role assignments: the effective roles of a user on a target (direct, through groups,
//! inherited, implied), grants and `/v3/role_assignments`.

use super::*;

impl IdentityService {
    pub(super) async fn user_group_ids(&self, user: &str) -> Result<Vec<GroupId>> {
        let prefix = format!("{PREFIX}user_groups/{}/", esc(user));
        let mut out = Vec::new();
        for kv in self.store.list_all(&prefix).await? {
            if let Ok(g) = String::from_utf8(kv.value).unwrap_or_default().parse() {
                out.push(g);
            }
        }
        if let Some(l) = &self.ldap
            && out.is_empty()
            && self.users.get(user).await?.is_none()
        {
            out.extend(l.user_groups(user).await?.unwrap_or_default().into_iter().map(|g| g.id));
        }
        Ok(out)
    }

    pub(super) async fn actor_assignments(&self, actor: &Actor) -> Result<Vec<Assignment>> {
        let prefix = match actor {
            Actor::User(u) => format!("{PREFIX}assignments/user/{}/", esc(u.as_str())),
            Actor::Group(g) => format!("{PREFIX}assignments/group/{}/", esc(g.as_str())),
        };
        let mut out = Vec::new();
        for kv in self.store.list_all(&prefix).await? {
            if let Ok(a) = serde_json::from_slice::<Assignment>(&kv.value) {
                out.push(a);
            }
        }
        Ok(out)
    }

    pub(super) async fn ancestors(&self, project: &Project) -> Result<Vec<ProjectId>> {
        let mut out = Vec::new();
        let mut cur = project.parent_id.clone();
        while let Some(p) = cur {
            if out.len() > 64 || out.contains(&p) {
                break;
            }
            cur = self.projects.get(p.as_str()).await?.and_then(|v| v.value.parent_id);
            out.push(p);
        }
        Ok(out)
    }

    /// The assignments of `user` (directly and through groups) that apply to `target`,
    /// including inherited ones from parents and the owning domain.
    pub(super) async fn applicable(
        &self,
        user: &UserId,
        target: &Target,
    ) -> Result<Vec<(Assignment, Option<GroupId>)>> {
        let mut actors = vec![(Actor::User(user.clone()), None)];
        for g in self.user_group_ids(user.as_str()).await? {
            actors.push((Actor::Group(g.clone()), Some(g)));
        }
        let (parents, domain) = match target {
            Target::Project(p) => match self.projects.get(p.as_str()).await? {
                Some(v) => (self.ancestors(&v.value).await?, Some(v.value.domain_id)),
                None => return Ok(Vec::new()),
            },
            _ => (Vec::new(), None),
        };
        let mut out = Vec::new();
        for (actor, via) in actors {
            for a in self.actor_assignments(&actor).await? {
                let applies = if a.inherited {
                    match &a.target {
                        Target::Project(p) => parents.contains(p),
                        Target::Domain(d) => domain.as_ref() == Some(d),
                        Target::System => false,
                    }
                } else {
                    &a.target == target
                };
                if applies {
                    out.push((a, via.clone()));
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn expand_implied(&self, ids: BTreeSet<RoleId>) -> Result<Vec<Role>> {
        let rules = self.implied.list_all().await?;
        let mut all = ids.clone();
        let mut frontier: Vec<RoleId> = ids.into_iter().collect();
        while let Some(r) = frontier.pop() {
            for rule in rules.iter().filter(|x| x.value.prior_role_id == r) {
                if all.insert(rule.value.implied_role_id.clone()) {
                    frontier.push(rule.value.implied_role_id.clone());
                }
            }
        }
        let mut out = Vec::new();
        for id in all {
            if let Some(r) = self.roles.get(id.as_str()).await? {
                out.push(r.value);
            }
        }
        Ok(out)
    }

    pub(super) async fn effective_roles(
        &self,
        user: &UserId,
        target: &Target,
    ) -> Result<Vec<Role>> {
        let ids =
            self.applicable(user, target).await?.into_iter().map(|(a, _)| a.role_id).collect();
        self.expand_implied(ids).await
    }

    pub(super) async fn delete_assignments<F: Fn(&Assignment) -> bool + Send>(
        &self,
        f: F,
    ) -> Result<()> {
        for a in self.assignments.list_all().await? {
            if f(&a.value) {
                self.assignments.delete(&a.id).await?;
            }
        }
        self.changed();
        Ok(())
    }

    pub(super) async fn grant_target_no_role(&self, g: &Assignment) -> Result<Value> {
        let mut t = json!({});
        match &g.actor {
            Actor::User(u) => {
                let u = self.user(u.as_str()).await?;
                t["user"] = json!({"id": u.id, "domain_id": u.domain_id});
            }
            Actor::Group(gid) => {
                let g = self.group(gid.as_str()).await?;
                t["group"] = json!({"id": g.id, "domain_id": g.domain_id});
            }
        }
        match &g.target {
            Target::Project(p) => {
                let p = self.project(p.as_str()).await?;
                t["project"] = json!({"id": p.id, "domain_id": p.domain_id});
                t["domain_id"] = json!(p.domain_id);
            }
            Target::Domain(d) => {
                let d = self.domain(d.as_str()).await?;
                t["domain"] = json!({"id": d.id});
                t["domain_id"] = json!(d.id);
            }
            Target::System => {}
        }
        Ok(json!({"target": t.clone(), "domain_id": t["domain_id"]}))
    }

    pub(super) async fn grant_target(&self, g: &Assignment) -> Result<Value> {
        let mut t = self.grant_target_no_role(g).await?;
        let r = self.role(g.role_id.as_str()).await?;
        t["target"]["role"] = json!({"id": r.id, "name": r.name, "domain_id": r.domain_id});
        Ok(t)
    }

    pub(super) async fn describe(
        &self,
        a: Assignment,
        via: Option<GroupId>,
    ) -> Result<AssignmentView> {
        let role_name =
            self.roles.get(a.role_id.as_str()).await?.map(|r| r.value.name).unwrap_or_default();
        let dom_name = |id: String| async move {
            let name = self
                .domains
                .get(&id)
                .await
                .ok()
                .flatten()
                .map(|d| d.value.name)
                .unwrap_or_default();
            (id, name)
        };
        let (actor_name, actor_domain) = match &a.actor {
            Actor::User(u) => match self.user(u.as_str()).await {
                Ok(u) => (u.name, dom_name(u.domain_id.to_string()).await),
                Err(_) => (String::new(), (String::new(), String::new())),
            },
            Actor::Group(g) => match self.group(g.as_str()).await {
                Ok(g) => (g.name, dom_name(g.domain_id.to_string()).await),
                Err(_) => (String::new(), (String::new(), String::new())),
            },
        };
        let (target_name, target_domain) = match &a.target {
            Target::Project(p) => match self.projects.get(p.as_str()).await? {
                Some(p) => (p.value.name, Some(dom_name(p.value.domain_id.to_string()).await)),
                None => (String::new(), None),
            },
            Target::Domain(d) => (dom_name(d.to_string()).await.1, None),
            Target::System => ("all".to_owned(), None),
        };
        Ok(AssignmentView {
            assignment: a,
            role_name,
            actor_name,
            actor_domain,
            target_name,
            target_domain,
            via_group: via,
        })
    }

    pub(super) async fn grant_create(&self, ctx: &RequestContext, grant: Assignment) -> Result<()> {
        let target = self.grant_target(&grant).await?;
        self.authorize("identity:create_grant", ctx, &target)?;
        self.assignments
            .store()
            .put(
                &format!("{PREFIX}assignments/{}", assignment_key(&grant)),
                serde_json::to_vec(&grant).map_err(|e| {
                    IdentityError::Store(ferrostack_core::store::StoreError::Encode(e))
                })?,
            )
            .await?;
        self.changed();
        Ok(())
    }

    pub(super) async fn grant_revoke(&self, ctx: &RequestContext, grant: Assignment) -> Result<()> {
        let target = self.grant_target(&grant).await?;
        self.authorize("identity:revoke_grant", ctx, &target)?;
        if !self.assignments.delete(&assignment_key(&grant)).await? {
            return Err(IdentityError::not_found("role assignment", grant.role_id.as_str()));
        }
        let mut ev = Self::blank_event();
        if let Actor::User(u) = &grant.actor {
            ev.user_id = Some(u.clone());
        }
        match &grant.target {
            Target::Project(p) => ev.project_id = Some(p.clone()),
            Target::Domain(d) if !grant.inherited => ev.domain_id = Some(d.clone()),
            _ => {}
        }
        self.revoke(ev).await
    }

    pub(super) async fn grant_check(&self, ctx: &RequestContext, grant: Assignment) -> Result<()> {
        let target = self.grant_target(&grant).await?;
        self.authorize("identity:check_grant", ctx, &target)?;
        match self.assignments.get(&assignment_key(&grant)).await? {
            Some(_) => Ok(()),
            None => Err(IdentityError::not_found("role assignment", grant.role_id.as_str())),
        }
    }

    pub(super) async fn grant_list(
        &self,
        ctx: &RequestContext,
        actor: Actor,
        target: Target,
        inherited: bool,
    ) -> Result<Vec<Role>> {
        let probe = Assignment {
            actor: actor.clone(),
            target: target.clone(),
            role_id: "probe".parse().map_err(|_| IdentityError::Validation("bad role".into()))?,
            inherited,
        };
        let t = self.grant_target_no_role(&probe).await?;
        self.authorize("identity:list_grants", ctx, &t)?;
        let mut out = Vec::new();
        for a in self.actor_assignments(&actor).await? {
            if a.target == target
                && a.inherited == inherited
                && let Some(r) = self.roles.get(a.role_id.as_str()).await?
            {
                out.push(r.value);
            }
        }
        Ok(out)
    }

    pub(super) async fn assignment_list(
        &self,
        ctx: &RequestContext,
        q: &AssignmentQuery,
    ) -> Result<Vec<AssignmentView>> {
        self.authorize(
            "identity:list_role_assignments",
            ctx,
            &json!({"target": {"domain_id": q.domain_id}, "domain_id": q.domain_id}),
        )?;
        let all: Vec<Assignment> =
            self.assignments.list_all().await?.into_iter().map(|v| v.value).collect();
        let mut rows: Vec<(Assignment, Option<GroupId>)> = Vec::new();
        if q.effective {
            // Expand group assignments into their members, and inherited assignments onto the
            // projects below their target; drop the inherited originals.
            for a in &all {
                let users: Vec<(UserId, Option<GroupId>)> = match &a.actor {
                    Actor::User(u) => vec![(u.clone(), None)],
                    Actor::Group(g) => self
                        .group_member_ids(g.as_str())
                        .await?
                        .into_iter()
                        .map(|u| (u, Some(g.clone())))
                        .collect(),
                };
                let targets: Vec<Target> = if a.inherited {
                    let mut t = Vec::new();
                    for p in self.projects.list_all().await? {
                        let applies = match &a.target {
                            Target::Domain(d) => &p.value.domain_id == d,
                            Target::Project(pid) => self.ancestors(&p.value).await?.contains(pid),
                            Target::System => false,
                        };
                        if applies {
                            t.push(Target::Project(p.value.id));
                        }
                    }
                    t
                } else {
                    vec![a.target.clone()]
                };
                for (u, via) in &users {
                    for t in &targets {
                        rows.push((
                            Assignment {
                                actor: Actor::User(u.clone()),
                                target: t.clone(),
                                role_id: a.role_id.clone(),
                                inherited: false,
                            },
                            via.clone(),
                        ));
                    }
                }
            }
        } else {
            rows = all.into_iter().map(|a| (a, None)).collect();
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for (a, via) in rows {
            let keep = q.user_id.as_ref().is_none_or(|u| a.actor == Actor::User(u.clone()))
                && q.group_id.as_ref().is_none_or(|g| a.actor == Actor::Group(g.clone()))
                && q.project_id.as_ref().is_none_or(|p| a.target == Target::Project(p.clone()))
                && q.domain_id.as_ref().is_none_or(|d| a.target == Target::Domain(d.clone()))
                && (!q.system || a.target == Target::System)
                && q.role_id.as_ref().is_none_or(|r| &a.role_id == r)
                && q.inherited.is_none_or(|i| a.inherited == i);
            if !keep || !seen.insert((a.clone(), via.clone())) {
                continue;
            }
            out.push(self.describe(a, via).await?);
        }
        Ok(out)
    }
}
