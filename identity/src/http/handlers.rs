// SPDX-License-Identifier: Apache-2.0
//! The route handlers: request parsing, one [`IdentityApi`] call each, Keystone's bodies.

pub mod credentials;

use super::render;
use super::{ApiState, Ctx, X_AUTH_TOKEN, X_SUBJECT_TOKEN};
use crate::api::*;
use crate::types::*;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ferrostack_core::http::{ApiError, JsonBody};
use ferrostack_core::id::{DomainId, GroupId, ProjectId, RoleId, UserId};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

type R = Result<Response, ApiError>;
type Q = Query<HashMap<String, String>>;

fn ok(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

fn e(err: crate::IdentityError) -> ApiError {
    ApiError::from(err)
}

fn flag(q: &HashMap<String, String>, key: &str) -> bool {
    q.get(key).is_some_and(|v| !matches!(v.as_str(), "0" | "false" | "False" | "no"))
}

fn list_links(st: &ApiState, path: &str) -> Value {
    json!({"self": format!("{}/v3/{path}", st.base), "previous": null, "next": null})
}

/// The object under `key` of a body, or 400.
fn section<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>, ApiError> {
    body.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| bad(format!("Invalid input for field '{key}': a JSON object is required.")))
}

fn opt_str(m: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("Invalid input for field '{key}': it must be a string."))),
    }
}

fn req_str(m: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    opt_str(m, key)?.ok_or_else(|| bad(format!("Invalid input for field '{key}': it is required.")))
}

fn opt_bool(m: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(bad(format!("Invalid input for field '{key}': it must be a boolean."))),
    }
}

fn opt_tags(m: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
    match m.get("tags") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| {
                t.as_str().map(str::to_owned).ok_or_else(|| bad("Invalid input for field 'tags'."))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad("Invalid input for field 'tags'.")),
    }
}

fn parse<T: std::str::FromStr>(field: &str, s: &str) -> Result<T, ApiError> {
    s.parse().map_err(|_| bad(format!("Invalid input for field '{field}'.")))
}

/// Parses an id from the URL; an unparsable one cannot exist, so 404.
fn path_id<T: std::str::FromStr>(kind: &'static str, s: &str) -> Result<T, ApiError> {
    s.parse().map_err(|_| e(crate::IdentityError::not_found(kind, s)))
}

fn filter_of(q: &HashMap<String, String>) -> Result<ListFilter, ApiError> {
    Ok(ListFilter {
        name: q.get("name").cloned(),
        domain_id: q.get("domain_id").cloned(),
        enabled: match q.get("enabled").map(String::as_str) {
            None => None,
            Some("0" | "false" | "False" | "no") => Some(false),
            Some(_) => Some(true),
        },
        parent_id: q.get("parent_id").cloned(),
    })
}

// ----- versions -----

fn version_json(st: &ApiState) -> Value {
    json!({
        "id": "v3.14",
        "status": "stable",
        "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{}/v3/", st.base)}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}],
    })
}

pub async fn versions(State(st): State<ApiState>) -> Response {
    ok(StatusCode::MULTIPLE_CHOICES, json!({"versions": {"values": [version_json(&st)]}}))
}

pub async fn version(State(st): State<ApiState>) -> Response {
    ok(StatusCode::OK, json!({"version": version_json(&st)}))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}

// ----- auth -----

fn domain_ref(v: &Value) -> Result<DomainRef, ApiError> {
    let m = v.as_object().ok_or_else(|| bad("Invalid input for field 'domain'."))?;
    if let Some(id) = opt_str(m, "id")? {
        Ok(DomainRef::Id(id))
    } else if let Some(name) = opt_str(m, "name")? {
        Ok(DomainRef::Name(name))
    } else {
        Err(bad("Expecting to find id or name in domain."))
    }
}

fn parse_auth(body: &Value) -> Result<AuthRequest, ApiError> {
    let auth = section(body, "auth")?;
    let identity = auth
        .get("identity")
        .and_then(Value::as_object)
        .ok_or_else(|| bad("Expecting to find identity in auth."))?;
    let methods: Vec<&str> = identity
        .get("methods")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("Expecting to find methods in identity."))?
        .iter()
        .map(|m| m.as_str().ok_or_else(|| bad("Invalid input for field 'methods'.")))
        .collect::<Result<_, _>>()?;
    let method = if methods.contains(&"application_credential") {
        let ac = identity
            .get("application_credential")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("Expecting to find application_credential in identity."))?;
        if auth.get("scope").is_some() {
            return Err(ApiError::new(
                ferrostack_core::ErrorKind::Unauthenticated,
                "Error authenticating with application credential: Application credentials cannot request a scope.",
            ));
        }
        let secret = opt_str(ac, "secret")?.unwrap_or_default();
        let credential = if let Some(id) = opt_str(ac, "id")? {
            AppCredRef::Id(id)
        } else if let Some(name) = opt_str(ac, "name")? {
            let u = ac
                .get("user")
                .and_then(Value::as_object)
                .ok_or_else(|| bad("Expecting to find user in application credential."))?;
            let user = if let Some(id) = opt_str(u, "id")? {
                UserRef::Id(id)
            } else {
                let name = opt_str(u, "name")?
                    .ok_or_else(|| bad("Expecting to find id or name in user."))?;
                let d = u.get("domain").ok_or_else(|| bad("Expecting to find domain in user."))?;
                UserRef::Name { name, domain: domain_ref(d)? }
            };
            AppCredRef::Name { name, user }
        } else {
            return Err(bad("Expecting to find name or ID in application credential."));
        };
        AuthMethod::ApplicationCredential { credential, secret }
    } else if methods.contains(&"password") {
        let pw = identity
            .get("password")
            .and_then(|p| p.get("user"))
            .and_then(Value::as_object)
            .ok_or_else(|| bad("Expecting to find user in password."))?;
        let password = req_str(pw, "password")?;
        let user = if let Some(id) = opt_str(pw, "id")? {
            UserRef::Id(id)
        } else {
            let name =
                opt_str(pw, "name")?.ok_or_else(|| bad("Expecting to find id or name in user."))?;
            let domain =
                pw.get("domain").ok_or_else(|| bad("Expecting to find domain in user."))?;
            UserRef::Name { name, domain: domain_ref(domain)? }
        };
        AuthMethod::Password { user, password }
    } else if methods.contains(&"token") {
        let id = identity
            .get("token")
            .and_then(Value::as_object)
            .ok_or_else(|| bad("Expecting to find token in identity."))?;
        AuthMethod::Token(req_str(id, "id")?)
    } else {
        return Err(ApiError::new(
            ferrostack_core::ErrorKind::Unauthenticated,
            "Attempted to authenticate with an unsupported method.",
        ));
    };
    let scope = match auth.get("scope") {
        None | Some(Value::Null) => ScopeRequest::Default,
        Some(Value::String(s)) if s == "unscoped" => ScopeRequest::Unscoped,
        Some(Value::Object(s)) => {
            if let Some(p) = s.get("project") {
                let m = p.as_object().ok_or_else(|| bad("Invalid input for field 'project'."))?;
                if let Some(id) = opt_str(m, "id")? {
                    ScopeRequest::Project(ProjectRef::Id(id))
                } else {
                    let name = opt_str(m, "name")?
                        .ok_or_else(|| bad("Expecting to find id or name in project."))?;
                    let d = m
                        .get("domain")
                        .ok_or_else(|| bad("Expecting to find domain in project."))?;
                    ScopeRequest::Project(ProjectRef::Name { name, domain: domain_ref(d)? })
                }
            } else if let Some(d) = s.get("domain") {
                ScopeRequest::Domain(domain_ref(d)?)
            } else if let Some(sys) = s.get("system") {
                if sys.get("all") == Some(&Value::Bool(true)) {
                    ScopeRequest::System
                } else {
                    return Err(bad("Invalid input for field 'system'."));
                }
            } else if s.contains_key("OS-TRUST:trust") {
                return Err(ApiError::new(
                    ferrostack_core::ErrorKind::NotSupported,
                    "Trusts are not supported.",
                ));
            } else {
                return Err(bad("Invalid input for field 'scope'."));
            }
        }
        Some(_) => return Err(bad("Invalid input for field 'scope'.")),
    };
    Ok(AuthRequest { method, scope })
}

fn with_subject(mut resp: Response, token: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(token) {
        resp.headers_mut().insert(X_SUBJECT_TOKEN, v);
    }
    resp
}

fn subject(headers: &HeaderMap) -> Result<String, ApiError> {
    headers
        .get(X_SUBJECT_TOKEN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| bad("Expecting to find X-Subject-Token in the request headers."))
}

pub async fn issue_token(State(st): State<ApiState>, q: Q, JsonBody(body): JsonBody<Value>) -> R {
    let req = parse_auth(&body)?;
    let info = st.api.authenticate(req).await.map_err(e)?;
    let body = render::token(&info, !q.contains_key("nocatalog"));
    Ok(with_subject(ok(StatusCode::CREATED, body), &info.token))
}

pub async fn validate_token(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    q: Q,
    headers: HeaderMap,
) -> R {
    let subject = subject(&headers)?;
    let info = st.api.validate_token(&ctx, &subject, flag(&q, "allow_expired")).await.map_err(e)?;
    let body = render::token(&info, !q.contains_key("nocatalog"));
    Ok(with_subject(ok(StatusCode::OK, body), &info.token))
}

pub async fn check_token(State(st): State<ApiState>, Ctx(ctx): Ctx, q: Q, headers: HeaderMap) -> R {
    let subject = subject(&headers)?;
    st.api.validate_token(&ctx, &subject, flag(&q, "allow_expired")).await.map_err(e)?;
    Ok(with_subject(StatusCode::OK.into_response(), &subject))
}

pub async fn revoke_token(State(st): State<ApiState>, Ctx(ctx): Ctx, headers: HeaderMap) -> R {
    let subject = subject(&headers)?;
    st.api.revoke_token(&ctx, &subject).await.map_err(e)?;
    Ok(no_content())
}

pub async fn auth_catalog(State(st): State<ApiState>, Ctx(ctx): Ctx) -> R {
    let c = st.api.auth_catalog(&ctx).await.map_err(e)?;
    Ok(ok(
        StatusCode::OK,
        json!({"catalog": render::catalog(&c), "links": list_links(&st, "auth/catalog")}),
    ))
}

pub async fn auth_projects(State(st): State<ApiState>, Ctx(ctx): Ctx) -> R {
    let ps = st.api.auth_projects(&ctx).await.map_err(e)?;
    let v: Vec<Value> = ps.iter().map(|p| render::project(&st.base, p)).collect();
    Ok(ok(StatusCode::OK, json!({"projects": v, "links": list_links(&st, "auth/projects")})))
}

pub async fn auth_domains(State(st): State<ApiState>, Ctx(ctx): Ctx) -> R {
    let ds = st.api.auth_domains(&ctx).await.map_err(e)?;
    let v: Vec<Value> = ds.iter().map(|d| render::domain(&st.base, d)).collect();
    Ok(ok(StatusCode::OK, json!({"domains": v, "links": list_links(&st, "auth/domains")})))
}

pub async fn auth_system(State(st): State<ApiState>, Ctx(ctx): Ctx) -> R {
    let sys = st.api.auth_system(&ctx).await.map_err(e)?;
    let v = if sys { json!([{"all": true}]) } else { json!([]) };
    Ok(ok(StatusCode::OK, json!({"system": v, "links": list_links(&st, "auth/system")})))
}

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
    let v: Vec<Value> = ds.iter().map(|d| render::domain(&st.base, d)).collect();
    Ok(ok(StatusCode::OK, json!({"domains": v, "links": list_links(&st, "domains")})))
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

fn default_domain(ctx: &ferrostack_core::RequestContext) -> DomainId {
    match &ctx.scope {
        ferrostack_core::context::Scope::Domain { id, .. } => id.clone(),
        _ => DomainId::default_domain(),
    }
}

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
    let v: Vec<Value> = ps.iter().map(|p| render::project(&st.base, p)).collect();
    Ok(ok(StatusCode::OK, json!({"projects": v, "links": list_links(&st, "projects")})))
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
    let v: Vec<Value> = us.iter().map(|u| render::user(&st.base, u)).collect();
    Ok(ok(StatusCode::OK, json!({"users": v, "links": list_links(&st, "users")})))
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
    let v: Vec<Value> = ps.iter().map(|p| render::project(&st.base, p)).collect();
    Ok(ok(
        StatusCode::OK,
        json!({"projects": v, "links": list_links(&st, &format!("users/{id}/projects"))}),
    ))
}

pub async fn list_user_groups(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> R {
    let gs = st.api.list_groups_for_user(&ctx, &id).await.map_err(e)?;
    let v: Vec<Value> = gs.iter().map(|g| render::group(&st.base, g)).collect();
    Ok(ok(
        StatusCode::OK,
        json!({"groups": v, "links": list_links(&st, &format!("users/{id}/groups"))}),
    ))
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
    let v: Vec<Value> = gs.iter().map(|g| render::group(&st.base, g)).collect();
    Ok(ok(StatusCode::OK, json!({"groups": v, "links": list_links(&st, "groups")})))
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
    let v: Vec<Value> = us.iter().map(|u| render::user(&st.base, u)).collect();
    Ok(ok(
        StatusCode::OK,
        json!({"users": v, "links": list_links(&st, &format!("groups/{id}/users"))}),
    ))
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
    let v: Vec<Value> = rs.iter().map(|r| render::role(&st.base, r)).collect();
    Ok(ok(StatusCode::OK, json!({"roles": v, "links": list_links(&st, "roles")})))
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

// ----- regions, services, endpoints -----

pub async fn create_region(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "region")?;
    let r = Region {
        id: opt_str(m, "id")?.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()),
        description: opt_str(m, "description")?.unwrap_or_default(),
        parent_region_id: opt_str(m, "parent_region_id")?,
    };
    let r = st.api.create_region(&ctx, r).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"region": render::region(&st.base, &r)})))
}

pub async fn get_region(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    let r = st.api.get_region(&ctx, &id).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"region": render::region(&st.base, &r)})))
}

pub async fn list_regions(State(st): State<ApiState>, Ctx(ctx): Ctx) -> R {
    let rs = st.api.list_regions(&ctx).await.map_err(e)?;
    let v: Vec<Value> = rs.iter().map(|r| render::region(&st.base, r)).collect();
    Ok(ok(StatusCode::OK, json!({"regions": v, "links": list_links(&st, "regions")})))
}

pub async fn update_region(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "region")?;
    let patch = RegionPatch {
        description: opt_str(m, "description")?,
        parent_region_id: if m.contains_key("parent_region_id") {
            Some(opt_str(m, "parent_region_id")?)
        } else {
            None
        },
    };
    let r = st.api.update_region(&ctx, &id, patch).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"region": render::region(&st.base, &r)})))
}

pub async fn delete_region(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    st.api.delete_region(&ctx, &id).await.map_err(e)?;
    Ok(no_content())
}

pub async fn create_service(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "service")?;
    let s = Service {
        id: uuid::Uuid::new_v4().simple().to_string(),
        service_type: req_str(m, "type")?,
        name: opt_str(m, "name")?.unwrap_or_default(),
        description: opt_str(m, "description")?.unwrap_or_default(),
        enabled: opt_bool(m, "enabled")?.unwrap_or(true),
    };
    let s = st.api.create_service(&ctx, s).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"service": render::service(&st.base, &s)})))
}

pub async fn get_service(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    let s = st.api.get_service(&ctx, &id).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"service": render::service(&st.base, &s)})))
}

pub async fn list_services(State(st): State<ApiState>, Ctx(ctx): Ctx, Query(q): Q) -> R {
    let mut ss = st.api.list_services(&ctx, &filter_of(&q)?).await.map_err(e)?;
    if let Some(t) = q.get("type") {
        ss.retain(|s| &s.service_type == t);
    }
    let v: Vec<Value> = ss.iter().map(|s| render::service(&st.base, s)).collect();
    Ok(ok(StatusCode::OK, json!({"services": v, "links": list_links(&st, "services")})))
}

pub async fn update_service(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "service")?;
    let patch = ServicePatch {
        service_type: opt_str(m, "type")?,
        name: opt_str(m, "name")?,
        description: opt_str(m, "description")?,
        enabled: opt_bool(m, "enabled")?,
    };
    let s = st.api.update_service(&ctx, &id, patch).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"service": render::service(&st.base, &s)})))
}

pub async fn delete_service(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> R {
    st.api.delete_service(&ctx, &id).await.map_err(e)?;
    Ok(no_content())
}

fn interface(s: &str) -> Result<Interface, ApiError> {
    Interface::parse(s).ok_or_else(|| {
        bad("Invalid input for field 'interface': must be public, internal or admin.")
    })
}

pub async fn create_endpoint(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "endpoint")?;
    let ep = Endpoint {
        id: uuid::Uuid::new_v4().simple().to_string(),
        service_id: req_str(m, "service_id")?,
        interface: interface(&req_str(m, "interface")?)?,
        region_id: match opt_str(m, "region_id")? {
            Some(r) => Some(r),
            None => opt_str(m, "region")?,
        },
        url: req_str(m, "url")?,
        enabled: opt_bool(m, "enabled")?.unwrap_or(true),
    };
    let ep = st.api.create_endpoint(&ctx, ep).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"endpoint": render::endpoint(&st.base, &ep)})))
}

pub async fn get_endpoint(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    let ep = st.api.get_endpoint(&ctx, &id).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"endpoint": render::endpoint(&st.base, &ep)})))
}

pub async fn list_endpoints(State(st): State<ApiState>, Ctx(ctx): Ctx, Query(q): Q) -> R {
    let mut eps = st.api.list_endpoints(&ctx).await.map_err(e)?;
    if let Some(s) = q.get("service_id") {
        eps.retain(|x| &x.service_id == s);
    }
    if let Some(i) = q.get("interface") {
        eps.retain(|x| x.interface.as_str() == i);
    }
    if let Some(r) = q.get("region_id") {
        eps.retain(|x| x.region_id.as_ref() == Some(r));
    }
    let v: Vec<Value> = eps.iter().map(|x| render::endpoint(&st.base, x)).collect();
    Ok(ok(StatusCode::OK, json!({"endpoints": v, "links": list_links(&st, "endpoints")})))
}

pub async fn update_endpoint(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "endpoint")?;
    let patch = EndpointPatch {
        service_id: opt_str(m, "service_id")?,
        interface: opt_str(m, "interface")?.map(|i| interface(&i)).transpose()?,
        url: opt_str(m, "url")?,
        region_id: if m.contains_key("region_id") { Some(opt_str(m, "region_id")?) } else { None },
        enabled: opt_bool(m, "enabled")?,
    };
    let ep = st.api.update_endpoint(&ctx, &id, patch).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"endpoint": render::endpoint(&st.base, &ep)})))
}

pub async fn delete_endpoint(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> R {
    st.api.delete_endpoint(&ctx, &id).await.map_err(e)?;
    Ok(no_content())
}

#[allow(dead_code)]
fn unused(_: &HeaderMap) -> &'static str {
    X_AUTH_TOKEN
}
