// SPDX-License-Identifier: Apache-2.0
//! `/v3/users` (with password changes, a user's projects and groups) and `/v3/groups` (with membership).

use super::*;

// ----- users -----

pub async fn create_user(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "user")?;
    let u = User {
        id: UserId::new(),
        name: req_str(m, "name")?,
        domain_id: match opt_str(m, "domain_id")? {
            Some(d) => parse("domain_id", &d)?,
            None => default_domain(&ctx),
        },
        enabled: opt_bool(m, "enabled")?.unwrap_or(true),
        default_project_id: opt_str(m, "default_project_id")?
            .map(|p| parse("default_project_id", &p))
            .transpose()?,
        description: opt_str(m, "description")?.unwrap_or_default(),
        email: opt_str(m, "email")?,
        password: None,
        failed_auth_count: 0,
        failed_auth_at: None,
        options: m.get("options").and_then(Value::as_object).cloned().unwrap_or_default(),
    };
    let u = st.api.create_user(&ctx, u, opt_str(m, "password")?).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"user": render::user(&st.base, &u)})))
}

pub async fn get_user(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    let u = st.api.get_user(&ctx, &id).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"user": render::user(&st.base, &u)})))
}

pub async fn list_users(State(st): State<ApiState>, Ctx(ctx): Ctx, Query(q): Q) -> R {
    let us = st.api.list_users(&ctx, &filter_of(&q)?).await.map_err(e)?;
    Ok(collection(&st, "users", "users", &us, render::user))
}

pub async fn update_user(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "user")?;
    let patch = UserPatch {
        name: opt_str(m, "name")?,
        description: opt_str(m, "description")?,
        enabled: opt_bool(m, "enabled")?,
        default_project_id: if m.contains_key("default_project_id") {
            Some(
                opt_str(m, "default_project_id")?
                    .map(|p| parse("default_project_id", &p))
                    .transpose()?,
            )
        } else {
            None
        },
        email: if m.contains_key("email") { Some(opt_str(m, "email")?) } else { None },
        password: opt_str(m, "password")?,
    };
    let u = st.api.update_user(&ctx, &id, patch).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"user": render::user(&st.base, &u)})))
}

pub async fn delete_user(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    st.api.delete_user(&ctx, &id).await.map_err(e)?;
    Ok(no_content())
}

pub async fn list_user_projects(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> R {
    let ps = st.api.list_user_projects(&ctx, &id).await.map_err(e)?;
    Ok(collection(&st, "projects", &format!("users/{id}/projects"), &ps, render::project))
}

pub async fn list_user_groups(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> R {
    let gs = st.api.list_groups_for_user(&ctx, &id).await.map_err(e)?;
    Ok(collection(&st, "groups", &format!("users/{id}/groups"), &gs, render::group))
}

pub async fn change_password(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "user")?;
    let original = req_str(m, "original_password")?;
    let new = req_str(m, "password")?;
    st.api.change_password(&ctx, &id, &original, &new).await.map_err(e)?;
    Ok(no_content())
}

// ----- groups -----

pub async fn create_group(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "group")?;
    let g = Group {
        id: GroupId::new(),
        name: req_str(m, "name")?,
        domain_id: match opt_str(m, "domain_id")? {
            Some(d) => parse("domain_id", &d)?,
            None => default_domain(&ctx),
        },
        description: opt_str(m, "description")?.unwrap_or_default(),
    };
    let g = st.api.create_group(&ctx, g).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"group": render::group(&st.base, &g)})))
}

pub async fn get_group(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    let g = st.api.get_group(&ctx, &id).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"group": render::group(&st.base, &g)})))
}

pub async fn list_groups(State(st): State<ApiState>, Ctx(ctx): Ctx, Query(q): Q) -> R {
    let gs = st.api.list_groups(&ctx, &filter_of(&q)?).await.map_err(e)?;
    Ok(collection(&st, "groups", "groups", &gs, render::group))
}

pub async fn update_group(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "group")?;
    let patch = NamePatch { name: opt_str(m, "name")?, description: opt_str(m, "description")? };
    let g = st.api.update_group(&ctx, &id, patch).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"group": render::group(&st.base, &g)})))
}

pub async fn delete_group(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    st.api.delete_group(&ctx, &id).await.map_err(e)?;
    Ok(no_content())
}

pub async fn list_group_users(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> R {
    let us = st.api.list_users_in_group(&ctx, &id).await.map_err(e)?;
    Ok(collection(&st, "users", &format!("groups/{id}/users"), &us, render::user))
}

pub async fn add_member(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path((g, u)): Path<(String, String)>,
) -> R {
    st.api.add_user_to_group(&ctx, &g, &u).await.map_err(e)?;
    Ok(no_content())
}

pub async fn check_member(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path((g, u)): Path<(String, String)>,
) -> R {
    st.api.check_user_in_group(&ctx, &g, &u).await.map_err(e)?;
    Ok(no_content())
}

pub async fn remove_member(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path((g, u)): Path<(String, String)>,
) -> R {
    st.api.remove_user_from_group(&ctx, &g, &u).await.map_err(e)?;
    Ok(no_content())
}
