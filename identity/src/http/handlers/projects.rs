// SPDX-License-Identifier: Apache-2.0
//! `/v3/domains` and `/v3/projects`.

use super::*;

// ----- domains -----

pub async fn create_domain(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "domain")?;
    let id = match opt_str(m, "explicit_domain_id")? {
        Some(id) => parse("explicit_domain_id", &id)?,
        None => DomainId::new(),
    };
    let d = Domain {
        id,
        name: req_str(m, "name")?,
        description: opt_str(m, "description")?.unwrap_or_default(),
        enabled: opt_bool(m, "enabled")?.unwrap_or(true),
        tags: opt_tags(m)?.unwrap_or_default(),
    };
    let d = st.api.create_domain(&ctx, d).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"domain": render::domain(&st.base, &d)})))
}

pub async fn get_domain(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    let d = st.api.get_domain(&ctx, &id).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"domain": render::domain(&st.base, &d)})))
}

pub async fn list_domains(State(st): State<ApiState>, Ctx(ctx): Ctx, Query(q): Q) -> R {
    let ds = st.api.list_domains(&ctx, &filter_of(&q)?).await.map_err(e)?;
    Ok(collection(&st, "domains", "domains", &ds, render::domain))
}

pub async fn update_domain(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "domain")?;
    let patch = DomainPatch {
        name: opt_str(m, "name")?,
        description: opt_str(m, "description")?,
        enabled: opt_bool(m, "enabled")?,
        tags: opt_tags(m)?,
    };
    let d = st.api.update_domain(&ctx, &id, patch).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"domain": render::domain(&st.base, &d)})))
}

pub async fn delete_domain(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    st.api.delete_domain(&ctx, &id).await.map_err(e)?;
    Ok(no_content())
}

// ----- projects -----

pub async fn create_project(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "project")?;
    if opt_bool(m, "is_domain")? == Some(true) {
        return Err(ApiError::new(
            ferrostack_core::ErrorKind::NotSupported,
            "Projects acting as domains are not supported.",
        ));
    }
    let parent_id: Option<ProjectId> =
        opt_str(m, "parent_id")?.map(|p| parse("parent_id", &p)).transpose()?;
    let domain_id = match opt_str(m, "domain_id")? {
        Some(d) => parse("domain_id", &d)?,
        None => match &parent_id {
            Some(p) => {
                st.api
                    .get_project(&ctx, p.as_str())
                    .await
                    .map_err(|_| bad(format!("Could not find parent project: {p}.")))?
                    .domain_id
            }
            None => default_domain(&ctx),
        },
    };
    let p = Project {
        id: ProjectId::new(),
        name: req_str(m, "name")?,
        domain_id,
        parent_id,
        description: opt_str(m, "description")?.unwrap_or_default(),
        enabled: opt_bool(m, "enabled")?.unwrap_or(true),
        tags: opt_tags(m)?.unwrap_or_default(),
    };
    let p = st.api.create_project(&ctx, p).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"project": render::project(&st.base, &p)})))
}

pub async fn get_project(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    let p = st.api.get_project(&ctx, &id).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"project": render::project(&st.base, &p)})))
}

pub async fn list_projects(State(st): State<ApiState>, Ctx(ctx): Ctx, Query(q): Q) -> R {
    let ps = st.api.list_projects(&ctx, &filter_of(&q)?).await.map_err(e)?;
    Ok(collection(&st, "projects", "projects", &ps, render::project))
}

pub async fn update_project(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "project")?;
    if m.contains_key("domain_id") || m.contains_key("parent_id") {
        let cur = st.api.get_project(&ctx, &id).await.map_err(e)?;
        let same_domain = opt_str(m, "domain_id")?.is_none_or(|d| d == cur.domain_id.as_str());
        if !same_domain {
            return Err(bad("Update of `domain_id` is not allowed."));
        }
        if m.contains_key("parent_id") {
            return Err(bad("Update of `parent_id` is not allowed."));
        }
    }
    let patch = ProjectPatch {
        name: opt_str(m, "name")?,
        description: opt_str(m, "description")?,
        enabled: opt_bool(m, "enabled")?,
        tags: opt_tags(m)?,
    };
    let p = st.api.update_project(&ctx, &id, patch).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"project": render::project(&st.base, &p)})))
}

pub async fn delete_project(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> R {
    st.api.delete_project(&ctx, &id).await.map_err(e)?;
    Ok(no_content())
}
