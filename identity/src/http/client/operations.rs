// SPDX-License-Identifier: Apache-2.0
//! [`IdentityApi`] over HTTP: each operation's Keystone request, and the typed answer parsed
//! from its response.

use super::*;
use serde::de::DeserializeOwned;

fn filter_query<'a>(mut call: Call<'a>, f: &ListFilter) -> Call<'a> {
    if let Some(n) = &f.name {
        call = call.query("name", n.clone());
    }
    if let Some(d) = &f.domain_id {
        call = call.query("domain_id", d.clone());
    }
    if let Some(e) = f.enabled {
        call = call.query("enabled", if e { "true" } else { "false" });
    }
    if let Some(p) = &f.parent_id {
        call = call.query("parent_id", p.clone());
    }
    call
}

/// Adds the `Some` fields of a patch to a JSON object.
fn patch_obj(fields: Vec<(&str, Option<Value>)>) -> Value {
    Value::Object(fields.into_iter().filter_map(|(k, v)| v.map(|v| (k.to_owned(), v))).collect())
}

/// The path of a grant (`projects/{p}/users/{u}/roles[/{r}]`, with the `OS-INHERIT` and
/// system forms), without the role when `role` is `None`.
pub(super) fn grant_path(
    actor: &Actor,
    target: &Target,
    inherited: bool,
    role: Option<&str>,
) -> Vec<String> {
    let (actor_kind, actor_id) = match actor {
        Actor::User(u) => ("users", u.as_str()),
        Actor::Group(g) => ("groups", g.as_str()),
    };
    let mut p: Vec<String> = Vec::new();
    let inherited = inherited && !matches!(target, Target::System);
    if inherited {
        p.push("OS-INHERIT".into());
    }
    match target {
        Target::Project(id) => p.extend(["projects".into(), id.to_string()]),
        Target::Domain(id) => p.extend(["domains".into(), id.to_string()]),
        Target::System => p.push("system".into()),
    }
    p.extend([actor_kind.into(), actor_id.into(), "roles".into()]);
    if let Some(r) = role {
        p.push(r.into());
    }
    if inherited {
        p.push("inherited_to_projects".into());
    }
    p
}

fn grant_call(method: Method, g: &Assignment) -> Call<'static> {
    let path = grant_path(&g.actor, &g.target, g.inherited, Some(g.role_id.as_str()));
    let mut call = Call::new(method, &[]).kind("role assignment");
    call.not_found.1 = g.role_id.to_string();
    call.path = path;
    call
}

/// A Keystone collection: `one` names a member (the body key and the not-found kind),
/// `many` the collection (the path and the list key).
#[derive(Clone, Copy)]
struct Res {
    one: &'static str,
    many: &'static str,
}

const DOMAINS: Res = Res { one: "domain", many: "domains" };
const PROJECTS: Res = Res { one: "project", many: "projects" };
const USERS: Res = Res { one: "user", many: "users" };
const GROUPS: Res = Res { one: "group", many: "groups" };
const ROLES: Res = Res { one: "role", many: "roles" };
const REGIONS: Res = Res { one: "region", many: "regions" };
const SERVICES: Res = Res { one: "service", many: "services" };
const ENDPOINTS: Res = Res { one: "endpoint", many: "endpoints" };

/// The create, show, list, update and delete calls every collection answers the same way.
impl Client {
    /// `POST /v3/{many}` with `{one: member}`: the created member.
    async fn create_in<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        res: Res,
        member: Value,
    ) -> Result<T> {
        let call =
            Call::new(Method::POST, &[res.many]).kind(res.one).body(json!({res.one: member}));
        wire::one(&self.get(ctx, call).await?, res.one)
    }

    /// `GET /v3/{many}/{id}`.
    async fn show_in<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        res: Res,
        id: &str,
    ) -> Result<T> {
        wire::one(
            &self.get(ctx, Call::new(Method::GET, &[res.many, id]).kind(res.one)).await?,
            res.one,
        )
    }

    /// `GET /v3/{many}`, with the filter's query when there is one.
    async fn list_in<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        res: Res,
        filter: Option<&ListFilter>,
    ) -> Result<Vec<T>> {
        let mut call = Call::new(Method::GET, &[res.many]);
        if let Some(f) = filter {
            call = filter_query(call, f);
        }
        wire::many(&self.get(ctx, call).await?, res.many)
    }

    /// `PATCH /v3/{many}/{id}` with `{one: the Some fields}`: the updated member.
    async fn update_in<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        res: Res,
        id: &str,
        fields: Vec<(&str, Option<Value>)>,
    ) -> Result<T> {
        let body = json!({res.one: patch_obj(fields)});
        let call = Call::new(Method::PATCH, &[res.many, id]).kind(res.one).body(body);
        wire::one(&self.get(ctx, call).await?, res.one)
    }

    /// `DELETE /v3/{many}/{id}`.
    async fn delete_in(&self, ctx: &RequestContext, res: Res, id: &str) -> Result<()> {
        self.unit(ctx, Call::new(Method::DELETE, &[res.many, id]).kind(res.one)).await
    }
}

#[async_trait::async_trait]
impl IdentityApi for Client {
    async fn authenticate(&self, req: AuthRequest) -> Result<TokenInfo> {
        self.issue(&req, true).await
    }

    async fn context_for_token(&self, token: &str, request_id: &str) -> Result<RequestContext> {
        if token.is_empty() || token.len() > 8192 {
            return Err(IdentityError::InvalidToken { reason: "malformed token" });
        }
        header(token)?;
        let key = key_of(token);
        let finish = |c: &RequestContext| RequestContext {
            request_id: request_id.to_owned(),
            auth_token: Some(token.to_owned()),
            ..c.clone()
        };
        if let Some(c) = self.cached(&key) {
            return c.map(|c| finish(&c));
        }
        let cell = {
            let mut map = self.inner.inflight.lock().unwrap_or_else(|e| e.into_inner());
            // Checked again under the lock: a leader inserts into the cache before it leaves
            // the in-flight map, so a caller never misses both.
            if let Some(c) = self.cached(&key) {
                return c.map(|c| finish(&c));
            }
            map.entry(key).or_default().clone()
        };
        let _guard = InflightGuard { inner: &self.inner, key, cell: cell.clone() };
        let shared =
            cell.get_or_init(|| async { self.remote_context(token).await.map_err(Arc::new) }).await;
        match shared {
            Ok(c) => Ok(finish(c)),
            Err(e) => Err(duplicate(e)),
        }
    }

    async fn validate_token(
        &self,
        ctx: &RequestContext,
        subject: &str,
        allow_expired: bool,
    ) -> Result<TokenInfo> {
        header(subject).map_err(|_| IdentityError::TokenNotFound)?;
        let caller = self.caller(ctx).await?;
        self.fetch_token(&caller, subject, allow_expired, true).await
    }

    async fn revoke_token(&self, ctx: &RequestContext, subject: &str) -> Result<()> {
        header(subject).map_err(|_| IdentityError::TokenNotFound)?;
        let caller = self.caller(ctx).await?;
        let mut call = Call::new(Method::DELETE, &["auth", "tokens"]).token(&caller);
        call.subject = Some(subject);
        let r = self.send(call).await;
        self.forget_token(subject);
        match r {
            Err(IdentityError::NotFound { .. }) => Err(IdentityError::TokenNotFound),
            other => other.map(drop),
        }
    }

    async fn auth_catalog(&self, ctx: &RequestContext) -> Result<Vec<CatalogEntry>> {
        let body = self.get(ctx, Call::new(Method::GET, &["auth", "catalog"])).await?;
        wire::catalog(wire::member(&body, "catalog")?)
    }

    async fn auth_projects(&self, ctx: &RequestContext) -> Result<Vec<Project>> {
        let body = self.get(ctx, Call::new(Method::GET, &["auth", "projects"])).await?;
        Ok(wire::many(&body, "projects")?.into_iter().map(wire::fix_project).collect())
    }

    async fn auth_domains(&self, ctx: &RequestContext) -> Result<Vec<Domain>> {
        let body = self.get(ctx, Call::new(Method::GET, &["auth", "domains"])).await?;
        wire::many(&body, "domains")
    }

    async fn auth_system(&self, ctx: &RequestContext) -> Result<bool> {
        let body = self.get(ctx, Call::new(Method::GET, &["auth", "system"])).await?;
        match wire::member(&body, "system")? {
            Value::Array(a) => Ok(a.iter().any(|s| s.get("all") == Some(&Value::Bool(true)))),
            _ => Err(bad_response("'system' is not a list")),
        }
    }

    async fn create_domain(&self, ctx: &RequestContext, domain: Domain) -> Result<Domain> {
        let member = json!({
            "name": domain.name, "description": domain.description, "enabled": domain.enabled,
            "tags": domain.tags,
        });
        self.create_in(ctx, DOMAINS, member).await
    }

    async fn get_domain(&self, ctx: &RequestContext, id: &str) -> Result<Domain> {
        self.show_in(ctx, DOMAINS, id).await
    }

    async fn list_domains(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<Domain>> {
        self.list_in(ctx, DOMAINS, Some(filter)).await
    }

    async fn update_domain(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: DomainPatch,
    ) -> Result<Domain> {
        let fields = vec![
            ("name", patch.name.map(Value::from)),
            ("description", patch.description.map(Value::from)),
            ("enabled", patch.enabled.map(Value::from)),
            ("tags", patch.tags.map(Value::from)),
        ];
        self.update_in(ctx, DOMAINS, id, fields).await
    }

    async fn delete_domain(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.delete_in(ctx, DOMAINS, id).await
    }

    async fn create_project(&self, ctx: &RequestContext, project: Project) -> Result<Project> {
        let mut p = json!({
            "name": project.name, "domain_id": project.domain_id, "description": project.description,
            "enabled": project.enabled, "tags": project.tags,
        });
        if let Some(parent) = &project.parent_id {
            p["parent_id"] = json!(parent);
        }
        self.create_in(ctx, PROJECTS, p).await.map(wire::fix_project)
    }

    async fn get_project(&self, ctx: &RequestContext, id: &str) -> Result<Project> {
        self.show_in(ctx, PROJECTS, id).await.map(wire::fix_project)
    }

    async fn list_projects(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Project>> {
        Ok(self
            .list_in(ctx, PROJECTS, Some(filter))
            .await?
            .into_iter()
            .map(wire::fix_project)
            .collect())
    }

    async fn update_project(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: ProjectPatch,
    ) -> Result<Project> {
        let fields = vec![
            ("name", patch.name.map(Value::from)),
            ("description", patch.description.map(Value::from)),
            ("enabled", patch.enabled.map(Value::from)),
            ("tags", patch.tags.map(Value::from)),
        ];
        self.update_in(ctx, PROJECTS, id, fields).await.map(wire::fix_project)
    }

    async fn delete_project(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.delete_in(ctx, PROJECTS, id).await
    }

    async fn list_user_projects(
        &self,
        ctx: &RequestContext,
        user_id: &str,
    ) -> Result<Vec<Project>> {
        let r = self
            .get(ctx, Call::new(Method::GET, &["users", user_id, "projects"]).kind("user"))
            .await?;
        Ok(wire::many(&r, "projects")?.into_iter().map(wire::fix_project).collect())
    }

    async fn create_user(
        &self,
        ctx: &RequestContext,
        user: User,
        password: Option<String>,
    ) -> Result<User> {
        let mut u = json!({
            "name": user.name, "domain_id": user.domain_id, "enabled": user.enabled,
            "options": user.options,
        });
        if let Some(p) = &user.default_project_id {
            u["default_project_id"] = json!(p);
        }
        if !user.description.is_empty() {
            u["description"] = json!(user.description);
        }
        if let Some(e) = &user.email {
            u["email"] = json!(e);
        }
        if let Some(p) = password {
            u["password"] = json!(p);
        }
        self.create_in(ctx, USERS, u).await
    }

    async fn get_user(&self, ctx: &RequestContext, id: &str) -> Result<User> {
        self.show_in(ctx, USERS, id).await
    }

    async fn list_users(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<User>> {
        self.list_in(ctx, USERS, Some(filter)).await
    }

    async fn update_user(&self, ctx: &RequestContext, id: &str, patch: UserPatch) -> Result<User> {
        let fields = vec![
            ("name", patch.name.map(Value::from)),
            ("description", patch.description.map(Value::from)),
            ("enabled", patch.enabled.map(Value::from)),
            ("default_project_id", patch.default_project_id.map(|p| json!(p))),
            ("email", patch.email.map(|e| json!(e))),
            ("password", patch.password.map(Value::from)),
        ];
        self.update_in(ctx, USERS, id, fields).await
    }

    async fn delete_user(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.delete_in(ctx, USERS, id).await
    }

    async fn change_password(
        &self,
        ctx: &RequestContext,
        id: &str,
        original: &str,
        new: &str,
    ) -> Result<()> {
        let body = json!({"user": {"original_password": original, "password": new}});
        let mut call = Call::new(Method::POST, &["users", id, "password"]).kind("user").body(body);
        let token = ctx.auth_token.clone();
        if let Some(t) = &token {
            call = call.token(t);
        }
        self.send(call).await.map(drop)
    }

    async fn create_group(&self, ctx: &RequestContext, group: Group) -> Result<Group> {
        let member = json!({
            "name": group.name, "domain_id": group.domain_id, "description": group.description,
        });
        self.create_in(ctx, GROUPS, member).await
    }

    async fn get_group(&self, ctx: &RequestContext, id: &str) -> Result<Group> {
        self.show_in(ctx, GROUPS, id).await
    }

    async fn list_groups(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<Group>> {
        self.list_in(ctx, GROUPS, Some(filter)).await
    }

    async fn update_group(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: NamePatch,
    ) -> Result<Group> {
        let fields = vec![
            ("name", patch.name.map(Value::from)),
            ("description", patch.description.map(Value::from)),
        ];
        self.update_in(ctx, GROUPS, id, fields).await
    }

    async fn delete_group(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.delete_in(ctx, GROUPS, id).await
    }

    async fn add_user_to_group(&self, ctx: &RequestContext, group: &str, user: &str) -> Result<()> {
        self.unit(
            ctx,
            Call::new(Method::PUT, &["groups", group, "users", user]).kind("group member"),
        )
        .await
    }

    async fn remove_user_from_group(
        &self,
        ctx: &RequestContext,
        group: &str,
        user: &str,
    ) -> Result<()> {
        self.unit(
            ctx,
            Call::new(Method::DELETE, &["groups", group, "users", user]).kind("group member"),
        )
        .await
    }

    async fn check_user_in_group(
        &self,
        ctx: &RequestContext,
        group: &str,
        user: &str,
    ) -> Result<()> {
        self.unit(
            ctx,
            Call::new(Method::HEAD, &["groups", group, "users", user]).kind("group member"),
        )
        .await
    }

    async fn list_users_in_group(&self, ctx: &RequestContext, group: &str) -> Result<Vec<User>> {
        let r = self
            .get(ctx, Call::new(Method::GET, &["groups", group, "users"]).kind("group"))
            .await?;
        wire::many(&r, "users")
    }

    async fn list_groups_for_user(&self, ctx: &RequestContext, user: &str) -> Result<Vec<Group>> {
        let r =
            self.get(ctx, Call::new(Method::GET, &["users", user, "groups"]).kind("user")).await?;
        wire::many(&r, "groups")
    }

    async fn create_role(&self, ctx: &RequestContext, role: Role) -> Result<Role> {
        let mut r = json!({"name": role.name, "description": role.description});
        if let Some(d) = &role.domain_id {
            r["domain_id"] = json!(d);
        }
        self.create_in(ctx, ROLES, r).await
    }

    async fn get_role(&self, ctx: &RequestContext, id: &str) -> Result<Role> {
        self.show_in(ctx, ROLES, id).await
    }

    async fn list_roles(&self, ctx: &RequestContext, filter: &ListFilter) -> Result<Vec<Role>> {
        self.list_in(ctx, ROLES, Some(filter)).await
    }

    async fn update_role(&self, ctx: &RequestContext, id: &str, patch: NamePatch) -> Result<Role> {
        let fields = vec![
            ("name", patch.name.map(Value::from)),
            ("description", patch.description.map(Value::from)),
        ];
        self.update_in(ctx, ROLES, id, fields).await
    }

    async fn delete_role(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.delete_in(ctx, ROLES, id).await
    }

    async fn create_implied_role(
        &self,
        ctx: &RequestContext,
        prior: &str,
        implied: &str,
    ) -> Result<ImpliedRole> {
        self.unit(ctx, Call::new(Method::PUT, &["roles", prior, "implies", implied]).kind("role"))
            .await?;
        let parse = |s: &str| s.parse().map_err(|_| IdentityError::not_found("role", s));
        Ok(ImpliedRole { prior_role_id: parse(prior)?, implied_role_id: parse(implied)? })
    }

    async fn delete_implied_role(
        &self,
        ctx: &RequestContext,
        prior: &str,
        implied: &str,
    ) -> Result<()> {
        self.unit(
            ctx,
            Call::new(Method::DELETE, &["roles", prior, "implies", implied]).kind("implied role"),
        )
        .await
    }

    async fn list_implied_roles(&self, ctx: &RequestContext) -> Result<Vec<ImpliedRole>> {
        let r = self.get(ctx, Call::new(Method::GET, &["role_inferences"])).await?;
        wire::implied_roles(&r)
    }

    async fn create_grant(&self, ctx: &RequestContext, grant: Assignment) -> Result<()> {
        self.unit(ctx, grant_call(Method::PUT, &grant)).await
    }

    async fn revoke_grant(&self, ctx: &RequestContext, grant: Assignment) -> Result<()> {
        self.unit(ctx, grant_call(Method::DELETE, &grant)).await
    }

    async fn check_grant(&self, ctx: &RequestContext, grant: Assignment) -> Result<()> {
        self.unit(ctx, grant_call(Method::HEAD, &grant)).await
    }

    async fn list_grants(
        &self,
        ctx: &RequestContext,
        actor: Actor,
        target: Target,
        inherited: bool,
    ) -> Result<Vec<Role>> {
        let mut call = Call::new(Method::GET, &[]).kind("role assignment");
        call.path = grant_path(&actor, &target, inherited, None);
        let r = self.get(ctx, call).await?;
        wire::many(&r, "roles")
    }

    async fn list_role_assignments(
        &self,
        ctx: &RequestContext,
        query: &AssignmentQuery,
    ) -> Result<Vec<AssignmentView>> {
        let mut call = Call::new(Method::GET, &["role_assignments"]).query("include_names", "true");
        if let Some(u) = &query.user_id {
            call = call.query("user.id", u.to_string());
        }
        if let Some(g) = &query.group_id {
            call = call.query("group.id", g.to_string());
        }
        if let Some(p) = &query.project_id {
            call = call.query("scope.project.id", p.to_string());
        }
        if let Some(d) = &query.domain_id {
            call = call.query("scope.domain.id", d.to_string());
        }
        if query.system {
            call = call.query("scope.system", "all");
        }
        if let Some(r) = &query.role_id {
            call = call.query("role.id", r.to_string());
        }
        if query.inherited == Some(true) {
            call = call.query("scope.OS-INHERIT:inherited_to", "projects");
        }
        if query.effective {
            call = call.query("effective", "true");
        }
        let r = self.get(ctx, call).await?;
        wire::member(&r, "role_assignments")?
            .as_array()
            .ok_or_else(|| bad_response("'role_assignments' is not a list"))?
            .iter()
            .map(wire::assignment)
            .collect()
    }

    async fn create_region(&self, ctx: &RequestContext, region: Region) -> Result<Region> {
        let member = json!({
            "id": region.id, "description": region.description,
            "parent_region_id": region.parent_region_id,
        });
        self.create_in(ctx, REGIONS, member).await
    }

    async fn get_region(&self, ctx: &RequestContext, id: &str) -> Result<Region> {
        self.show_in(ctx, REGIONS, id).await
    }

    async fn list_regions(&self, ctx: &RequestContext) -> Result<Vec<Region>> {
        self.list_in(ctx, REGIONS, None).await
    }

    async fn update_region(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: RegionPatch,
    ) -> Result<Region> {
        let fields = vec![
            ("description", patch.description.map(Value::from)),
            ("parent_region_id", patch.parent_region_id.map(|p| json!(p))),
        ];
        self.update_in(ctx, REGIONS, id, fields).await
    }

    async fn delete_region(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.delete_in(ctx, REGIONS, id).await
    }

    async fn create_service(&self, ctx: &RequestContext, service: Service) -> Result<Service> {
        let member = json!({
            "type": service.service_type, "name": service.name,
            "description": service.description, "enabled": service.enabled,
        });
        self.create_in(ctx, SERVICES, member).await
    }

    async fn get_service(&self, ctx: &RequestContext, id: &str) -> Result<Service> {
        self.show_in(ctx, SERVICES, id).await
    }

    async fn list_services(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Service>> {
        self.list_in(ctx, SERVICES, Some(filter)).await
    }

    async fn update_service(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: ServicePatch,
    ) -> Result<Service> {
        let fields = vec![
            ("type", patch.service_type.map(Value::from)),
            ("name", patch.name.map(Value::from)),
            ("description", patch.description.map(Value::from)),
            ("enabled", patch.enabled.map(Value::from)),
        ];
        self.update_in(ctx, SERVICES, id, fields).await
    }

    async fn delete_service(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.delete_in(ctx, SERVICES, id).await
    }

    async fn create_endpoint(&self, ctx: &RequestContext, endpoint: Endpoint) -> Result<Endpoint> {
        let member = json!({
            "service_id": endpoint.service_id, "interface": endpoint.interface.as_str(),
            "region_id": endpoint.region_id, "url": endpoint.url, "enabled": endpoint.enabled,
        });
        self.create_in(ctx, ENDPOINTS, member).await
    }

    async fn get_endpoint(&self, ctx: &RequestContext, id: &str) -> Result<Endpoint> {
        self.show_in(ctx, ENDPOINTS, id).await
    }

    async fn list_endpoints(&self, ctx: &RequestContext) -> Result<Vec<Endpoint>> {
        self.list_in(ctx, ENDPOINTS, None).await
    }

    async fn update_endpoint(
        &self,
        ctx: &RequestContext,
        id: &str,
        patch: EndpointPatch,
    ) -> Result<Endpoint> {
        let fields = vec![
            ("service_id", patch.service_id.map(Value::from)),
            ("interface", patch.interface.map(|i| Value::from(i.as_str()))),
            ("url", patch.url.map(Value::from)),
            ("region_id", patch.region_id.map(|r| json!(r))),
            ("enabled", patch.enabled.map(Value::from)),
        ];
        self.update_in(ctx, ENDPOINTS, id, fields).await
    }

    async fn delete_endpoint(&self, ctx: &RequestContext, id: &str) -> Result<()> {
        self.delete_in(ctx, ENDPOINTS, id).await
    }
}
