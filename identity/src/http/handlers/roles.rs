// SPDX-License-Identifier: Apache-2.0
//! `/v3/roles`, implied roles, grants on projects, domains and the system, `/v3/role_assignments`.

use super::*;

// ----- roles -----

pub async fn create_role(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "role")?;
    let r = Role {
        id: RoleId::new(),
        name: req_str(m, "name")?,
        domain_id: opt_str(m, "domain_id")?.map(|d| parse("domain_id", &d)).transpose()?,
        description: opt_str(m, "description")?.unwrap_or_default(),
    };
    let r = st.api.create_role(&ctx, r).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"role": render::role(&st.base, &r)})))
}

pub async fn get_role(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    let r = st.api.get_role(&ctx, &id).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"role": render::role(&st.base, &r)})))
}

pub async fn list_roles(State(st): State<ApiState>, Ctx(ctx): Ctx, Query(q): Q) -> R {
    let rs = st.api.list_roles(&ctx, &filter_of(&q)?).await.map_err(e)?;
    Ok(collection(&st, "roles", "roles", &rs, render::role))
}

pub async fn update_role(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "role")?;
    let patch = NamePatch { name: opt_str(m, "name")?, description: opt_str(m, "description")? };
    let r = st.api.update_role(&ctx, &id, patch).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"role": render::role(&st.base, &r)})))
}

pub async fn delete_role(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    st.api.delete_role(&ctx, &id).await.map_err(e)?;
    Ok(no_content())
}

fn implied_json(st: &ApiState, prior: &Role, implied: &[Role]) -> Value {
    let brief = |r: &Role| json!({"id": r.id, "name": r.name, "links": {"self": format!("{}/v3/roles/{}", st.base, r.id)}});
    json!({"prior_role": brief(prior), "implies": implied.iter().map(brief).collect::<Vec<_>>()})
}

pub async fn create_implied(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path((p, i)): Path<(String, String)>,
) -> R {
    st.api.create_implied_role(&ctx, &p, &i).await.map_err(e)?;
    let prior = st.api.get_role(&ctx, &p).await.map_err(e)?;
    let implied = st.api.get_role(&ctx, &i).await.map_err(e)?;
    let mut v = implied_json(&st, &prior, std::slice::from_ref(&implied));
    v["implies"] = v["implies"][0].clone();
    Ok(ok(StatusCode::CREATED, json!({"role_inference": v})))
}

pub async fn check_implied(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path((p, i)): Path<(String, String)>,
) -> R {
    let rules = st.api.list_implied_roles(&ctx).await.map_err(e)?;
    if rules.iter().any(|r| r.prior_role_id.as_str() == p && r.implied_role_id.as_str() == i) {
        Ok(no_content())
    } else {
        Err(e(crate::IdentityError::not_found("implied role", format!("{p} -> {i}"))))
    }
}

pub async fn delete_implied(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path((p, i)): Path<(String, String)>,
) -> R {
    st.api.delete_implied_role(&ctx, &p, &i).await.map_err(e)?;
    Ok(no_content())
}

pub async fn list_implied(State(st): State<ApiState>, Ctx(ctx): Ctx) -> R {
    let rules = st.api.list_implied_roles(&ctx).await.map_err(e)?;
    let roles = st.api.list_roles(&ctx, &ListFilter::default()).await.map_err(e)?;
    let by_id: HashMap<&str, &Role> = roles.iter().map(|r| (r.id.as_str(), r)).collect();
    let mut grouped: Vec<(&Role, Vec<Role>)> = Vec::new();
    for rule in &rules {
        let (Some(p), Some(i)) =
            (by_id.get(rule.prior_role_id.as_str()), by_id.get(rule.implied_role_id.as_str()))
        else {
            continue;
        };
        match grouped.iter_mut().find(|(x, _)| x.id == p.id) {
            Some((_, v)) => v.push((*i).clone()),
            None => grouped.push((p, vec![(*i).clone()])),
        }
    }
    let v: Vec<Value> = grouped.iter().map(|(p, i)| implied_json(&st, p, i)).collect();
    Ok(ok(
        StatusCode::OK,
        json!({"role_inferences": v, "links": list_links(&st, "role_inferences")}),
    ))
}

// ----- grants -----

/// Which grant route a handler serves.
#[derive(Debug, Clone, Copy)]
pub struct GrantKind {
    pub target: &'static str,
    pub actor: &'static str,
    pub inherited: bool,
}

/// What a grant route does.
#[derive(Debug, Clone, Copy)]
pub enum GrantOp {
    Create,
    Check,
    Revoke,
}

fn grant_parts(
    k: GrantKind,
    params: &HashMap<String, String>,
) -> Result<(Actor, Target), ApiError> {
    let get = |n: &str| params.get(n).cloned().unwrap_or_default();
    let actor = match k.actor {
        "users" => Actor::User(path_id("user", &get("aid"))?),
        _ => Actor::Group(path_id("group", &get("aid"))?),
    };
    let target = match k.target {
        "projects" => Target::Project(path_id("project", &get("tid"))?),
        "domains" => Target::Domain(path_id("domain", &get("tid"))?),
        _ => Target::System,
    };
    Ok((actor, target))
}

type GrantFut = std::pin::Pin<Box<dyn std::future::Future<Output = R> + Send>>;

pub fn grant_for(
    k: GrantKind,
    op: GrantOp,
) -> impl Fn(State<ApiState>, Ctx, Path<HashMap<String, String>>) -> GrantFut
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(st): State<ApiState>, Ctx(ctx): Ctx, Path(params): Path<HashMap<String, String>>| {
        Box::pin(async move {
            let (actor, target) = grant_parts(k, &params)?;
            let role_id = path_id("role", params.get("rid").map_or("", String::as_str))?;
            let g = Assignment { actor, target, role_id, inherited: k.inherited };
            match op {
                GrantOp::Create => st.api.create_grant(&ctx, g).await,
                GrantOp::Check => st.api.check_grant(&ctx, g).await,
                GrantOp::Revoke => st.api.revoke_grant(&ctx, g).await,
            }
            .map_err(e)?;
            Ok(no_content())
        }) as GrantFut
    }
}

pub fn list_grants_for(
    k: GrantKind,
) -> impl Fn(State<ApiState>, Ctx, Path<HashMap<String, String>>) -> GrantFut
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(st): State<ApiState>, Ctx(ctx): Ctx, Path(params): Path<HashMap<String, String>>| {
        Box::pin(async move {
            let (actor, target) = grant_parts(k, &params)?;
            let roles = st.api.list_grants(&ctx, actor, target, k.inherited).await.map_err(e)?;
            let v: Vec<Value> = roles.iter().map(|r| render::role(&st.base, r)).collect();
            Ok(ok(
                StatusCode::OK,
                json!({"roles": v, "links": {"self": null, "previous": null, "next": null}}),
            ))
        }) as GrantFut
    }
}

pub async fn list_assignments(State(st): State<ApiState>, Ctx(ctx): Ctx, Query(q): Q) -> R {
    let query = AssignmentQuery {
        user_id: q.get("user.id").map(|x| parse("user.id", x)).transpose()?,
        group_id: q.get("group.id").map(|x| parse("group.id", x)).transpose()?,
        project_id: q.get("scope.project.id").map(|x| parse("scope.project.id", x)).transpose()?,
        domain_id: q.get("scope.domain.id").map(|x| parse("scope.domain.id", x)).transpose()?,
        system: q.contains_key("scope.system"),
        role_id: q.get("role.id").map(|x| parse("role.id", x)).transpose()?,
        inherited: q.contains_key("scope.OS-INHERIT:inherited_to").then_some(true),
        effective: q.contains_key("effective") && flag(&q, "effective"),
    };
    if query.effective && query.group_id.is_some() {
        return Err(bad(
            "Combining effective and group filter will always result in an empty list.",
        ));
    }
    let rows = st.api.list_role_assignments(&ctx, &query).await.map_err(e)?;
    let names = flag(&q, "include_names");
    let v: Vec<Value> = rows.iter().map(|a| render::assignment(&st.base, a, names)).collect();
    Ok(ok(
        StatusCode::OK,
        json!({"role_assignments": v, "links": list_links(&st, "role_assignments")}),
    ))
}
