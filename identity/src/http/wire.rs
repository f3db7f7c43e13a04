// SPDX-License-Identifier: Apache-2.0
//! Keystone's JSON, read back into the crate's types (the inverse of [`super::render`]), for
//! [`super::Client`]. Lenient where Keystone is (`null` descriptions, missing optional
//! fields), strict where a wrong value would mislead (ids, expiry): anything unreadable is a
//! clean [`IdentityError::Remote`], never a panic.

use crate::api::{AppCredRef, ScopeRequest, TokenAppCred, TokenInfo, TokenScope, UserRef};
use crate::api::{AssignmentView, AuthMethod, AuthRequest, DomainRef, ProjectRef};
use crate::error::{IdentityError, Result};
use crate::token::{PayloadScope, TokenPayload};
use crate::types::*;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// A malformed answer of the remote endpoint.
pub(crate) fn bad_response(what: impl std::fmt::Display) -> IdentityError {
    IdentityError::remote(format!("invalid response from the identity service: {what}"))
}

/// [`bad_response`] caused by a decoding error.
pub(crate) fn bad_response_from(
    what: impl std::fmt::Display,
    source: impl std::error::Error + Send + Sync + 'static,
) -> IdentityError {
    IdentityError::remote_from(
        format!("invalid response from the identity service: {what}"),
        source,
    )
}

/// `v` with `null` members removed (recursively in objects), so that serde defaults apply
/// where Keystone writes `null`.
fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), strip_nulls(x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// One resource from its JSON object.
pub(crate) fn resource<T: DeserializeOwned>(what: &str, v: &Value) -> Result<T> {
    if !v.is_object() {
        return Err(bad_response(format!("{what} is not an object")));
    }
    serde_json::from_value(strip_nulls(v)).map_err(|e| bad_response_from(what, e))
}

/// The object under `key` of a response body.
pub(crate) fn member<'a>(body: &'a Value, key: &str) -> Result<&'a Value> {
    body.get(key).ok_or_else(|| bad_response(format!("missing '{key}'")))
}

/// The resource under `key` (`{"project": {...}}`).
pub(crate) fn one<T: DeserializeOwned>(body: &Value, key: &str) -> Result<T> {
    resource(key, member(body, key)?)
}

/// The list under `key` (`{"projects": [...]}`).
pub(crate) fn many<T: DeserializeOwned>(body: &Value, key: &str) -> Result<Vec<T>> {
    member(body, key)?
        .as_array()
        .ok_or_else(|| bad_response(format!("'{key}' is not a list")))?
        .iter()
        .map(|v| resource(key, v))
        .collect()
}

/// Keystone reports a top-level project's domain as its `parent_id`; the crate says `None`.
pub(crate) fn fix_project(mut p: Project) -> Project {
    if p.parent_id.as_ref().is_some_and(|x| x.as_str() == p.domain_id.as_str()) {
        p.parent_id = None;
    }
    p
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for k in path {
        cur = cur.get(k)?;
    }
    cur.as_str()
}

fn req_str<'a>(v: &'a Value, path: &[&str]) -> Result<&'a str> {
    str_at(v, path).ok_or_else(|| bad_response(format!("missing '{}'", path.join("."))))
}

fn id<T: std::str::FromStr>(v: &Value, path: &[&str]) -> Result<T> {
    req_str(v, path)?.parse().map_err(|_| bad_response(format!("invalid '{}'", path.join("."))))
}

fn time_at(v: &Value, key: &str) -> Result<time::OffsetDateTime> {
    ferrostack_core::time::parse(req_str(v, &[key])?)
        .ok_or_else(|| bad_response(format!("invalid '{key}'")))
}

fn domain_brief(v: &Value) -> Result<Domain> {
    Ok(Domain {
        id: id(v, &["id"])?,
        name: str_at(v, &["name"]).unwrap_or_default().to_owned(),
        description: String::new(),
        enabled: true,
        tags: Vec::new(),
    })
}

#[derive(serde::Deserialize)]
struct WireEndpoint {
    #[serde(default)]
    id: String,
    #[serde(default)]
    interface: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    region_id: Option<String>,
    #[serde(default)]
    url: String,
}

#[derive(serde::Deserialize)]
struct WireEntry {
    #[serde(default)]
    id: String,
    #[serde(rename = "type", default)]
    service_type: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    endpoints: Vec<WireEndpoint>,
}

/// A catalog (`[{"type", "endpoints": [...]}, ...]`).
pub(crate) fn catalog(v: &Value) -> Result<Vec<CatalogEntry>> {
    let entries: Vec<WireEntry> = serde_json::from_value(strip_catalog_nulls(v))
        .map_err(|e| bad_response_from("catalog", e))?;
    Ok(entries
        .into_iter()
        .map(|e| CatalogEntry {
            id: e.id,
            service_type: e.service_type,
            name: e.name,
            endpoints: e
                .endpoints
                .into_iter()
                .map(|x| CatalogEndpoint {
                    id: x.id,
                    interface: x.interface,
                    region: x.region.clone().or_else(|| x.region_id.clone()),
                    region_id: x.region_id.or(x.region),
                    url: x.url,
                })
                .collect(),
        })
        .collect())
}

fn strip_catalog_nulls(v: &Value) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(strip_catalog_nulls).collect()),
        Value::Object(_) => {
            let mut o = strip_nulls(v);
            if let Some(eps) = o.get_mut("endpoints") {
                *eps = strip_catalog_nulls(eps);
            }
            o
        }
        other => other.clone(),
    }
}

/// `{"token": {...}}` of `POST`/`GET /v3/auth/tokens` into a [`TokenInfo`].
pub(crate) fn token_info(token: String, body: &Value) -> Result<TokenInfo> {
    let t = member(body, "token")?;
    if !t.is_object() {
        return Err(bad_response("'token' is not an object"));
    }
    let user_id: ferrostack_core::id::UserId = id(t, &["user", "id"])?;
    let user_domain = domain_brief(member(member(t, "user")?, "domain")?)?;
    let expires_at = time_at(t, "expires_at")?;
    let issued_at = time_at(t, "issued_at").unwrap_or(expires_at);
    let methods: Vec<String> = match t.get("methods") {
        Some(Value::Array(a)) => a.iter().filter_map(|m| m.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let audit_ids: Vec<String> = match t.get("audit_ids") {
        Some(Value::Array(a)) => a.iter().filter_map(|m| m.as_str().map(str::to_owned)).collect(),
        _ => Vec::new(),
    };
    let (scope, payload_scope) = if let Some(p) = t.get("project").filter(|p| p.is_object()) {
        let domain = domain_brief(member(p, "domain")?)?;
        let project = Project {
            id: id(p, &["id"])?,
            name: str_at(p, &["name"]).unwrap_or_default().to_owned(),
            domain_id: domain.id.clone(),
            parent_id: None,
            description: String::new(),
            enabled: true,
            tags: Vec::new(),
        };
        let ps = match str_at(t, &["application_credential", "id"]) {
            Some(ac) => PayloadScope::ApplicationCredential {
                project_id: project.id.to_string(),
                app_cred_id: ac.to_owned(),
            },
            None => PayloadScope::Project(project.id.to_string()),
        };
        (TokenScope::Project { project, domain }, ps)
    } else if let Some(d) = t.get("domain").filter(|d| d.is_object()) {
        let d = domain_brief(d)?;
        let ps = PayloadScope::Domain(d.id.to_string());
        (TokenScope::Domain(d), ps)
    } else if t.get("system").and_then(|s| s.get("all")) == Some(&Value::Bool(true)) {
        (TokenScope::System, PayloadScope::System("all".into()))
    } else {
        (TokenScope::Unscoped, PayloadScope::Unscoped)
    };
    let roles = match t.get("roles") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|r| {
                Ok(Role {
                    id: id(r, &["id"])?,
                    name: req_str(r, &["name"])?.to_owned(),
                    domain_id: None,
                    description: String::new(),
                })
            })
            .collect::<Result<Vec<_>>>()?,
        Some(_) => return Err(bad_response("'roles' is not a list")),
    };
    let catalog = match t.get("catalog") {
        None | Some(Value::Null) => Vec::new(),
        Some(c) => catalog(c)?,
    };
    let user = User {
        id: user_id.clone(),
        ..User::new(str_at(t, &["user", "name"]).unwrap_or_default(), user_domain.id.clone())
    };
    Ok(TokenInfo {
        token,
        payload: TokenPayload {
            user_id: user_id.to_string(),
            methods,
            scope: payload_scope,
            expires_at,
            audit_ids,
            issued_at,
        },
        user,
        user_domain,
        scope,
        roles,
        catalog,
        application_credential: t.get("application_credential").filter(|a| a.is_object()).map(
            |a| TokenAppCred {
                id: str_at(a, &["id"]).unwrap_or_default().to_owned(),
                name: str_at(a, &["name"]).unwrap_or_default().to_owned(),
                restricted: a.get("restricted").and_then(Value::as_bool).unwrap_or(true),
            },
        ),
    })
}

fn domain_ref(d: &DomainRef) -> Value {
    match d {
        DomainRef::Id(id) => json!({"id": id}),
        DomainRef::Name(name) => json!({"name": name}),
    }
}

/// The body of `POST /v3/auth/tokens` for `req`.
pub(crate) fn auth_body(req: &AuthRequest) -> Value {
    let identity = match &req.method {
        AuthMethod::Password { user, password } => {
            let mut u = match user {
                UserRef::Id(id) => json!({"id": id}),
                UserRef::Name { name, domain } => {
                    json!({"name": name, "domain": domain_ref(domain)})
                }
            };
            u["password"] = json!(password);
            json!({"methods": ["password"], "password": {"user": u}})
        }
        AuthMethod::Token(t) => json!({"methods": ["token"], "token": {"id": t}}),
        AuthMethod::ApplicationCredential { credential, secret } => {
            let mut c = match credential {
                AppCredRef::Id(id) => json!({"id": id}),
                AppCredRef::Name { name, user } => {
                    let u = match user {
                        UserRef::Id(id) => json!({"id": id}),
                        UserRef::Name { name, domain } => {
                            json!({"name": name, "domain": domain_ref(domain)})
                        }
                    };
                    json!({"name": name, "user": u})
                }
            };
            c["secret"] = json!(secret);
            json!({"methods": ["application_credential"], "application_credential": c})
        }
    };
    let mut auth = json!({ "identity": identity });
    match &req.scope {
        ScopeRequest::Default => {}
        ScopeRequest::Unscoped => auth["scope"] = json!("unscoped"),
        ScopeRequest::Project(ProjectRef::Id(id)) => auth["scope"] = json!({"project": {"id": id}}),
        ScopeRequest::Project(ProjectRef::Name { name, domain }) => {
            auth["scope"] = json!({"project": {"name": name, "domain": domain_ref(domain)}})
        }
        ScopeRequest::Domain(d) => auth["scope"] = json!({"domain": domain_ref(d)}),
        ScopeRequest::System => auth["scope"] = json!({"system": {"all": true}}),
    }
    json!({ "auth": auth })
}

fn name_domain(v: &Value) -> (String, String) {
    (
        str_at(v, &["domain", "id"]).unwrap_or_default().to_owned(),
        str_at(v, &["domain", "name"]).unwrap_or_default().to_owned(),
    )
}

/// One row of `GET /v3/role_assignments?include_names`.
pub(crate) fn assignment(v: &Value) -> Result<AssignmentView> {
    let (actor, actor_v) = if let Some(u) = v.get("user").filter(|u| u.is_object()) {
        (Actor::User(id(u, &["id"])?), u)
    } else if let Some(g) = v.get("group").filter(|g| g.is_object()) {
        (Actor::Group(id(g, &["id"])?), g)
    } else {
        return Err(bad_response("role assignment without user or group"));
    };
    let scope = member(v, "scope")?;
    let (target, target_name, target_domain) = if let Some(p) =
        scope.get("project").filter(|p| p.is_object())
    {
        let d = p.get("domain").is_some().then(|| name_domain(p));
        (Target::Project(id(p, &["id"])?), str_at(p, &["name"]).unwrap_or_default().to_owned(), d)
    } else if let Some(d) = scope.get("domain").filter(|d| d.is_object()) {
        (Target::Domain(id(d, &["id"])?), str_at(d, &["name"]).unwrap_or_default().to_owned(), None)
    } else if scope.get("system").is_some() {
        (Target::System, String::new(), None)
    } else {
        return Err(bad_response("role assignment without a known scope"));
    };
    let via_group = str_at(v, &["links", "membership"])
        .and_then(|href| href.split("/groups/").nth(1))
        .and_then(|rest| rest.split('/').next())
        .and_then(|g| g.parse().ok());
    Ok(AssignmentView {
        assignment: Assignment {
            actor,
            target,
            role_id: id(v, &["role", "id"])?,
            inherited: scope.get("OS-INHERIT:inherited_to").is_some(),
        },
        role_name: str_at(v, &["role", "name"]).unwrap_or_default().to_owned(),
        actor_name: str_at(actor_v, &["name"]).unwrap_or_default().to_owned(),
        actor_domain: name_domain(actor_v),
        target_name,
        target_domain,
        via_group,
    })
}

/// The inference rules of `GET /v3/role_inferences`, one per (prior, implied) pair.
pub(crate) fn implied_roles(body: &Value) -> Result<Vec<ImpliedRole>> {
    let list = member(body, "role_inferences")?
        .as_array()
        .ok_or_else(|| bad_response("'role_inferences' is not a list"))?;
    let mut out = Vec::new();
    for r in list {
        let prior: ferrostack_core::id::RoleId = id(r, &["prior_role", "id"])?;
        let implies = match r.get("implies") {
            Some(Value::Array(a)) => a.clone(),
            Some(o @ Value::Object(_)) => vec![o.clone()],
            _ => return Err(bad_response("role inference without 'implies'")),
        };
        for i in &implies {
            out.push(ImpliedRole {
                prior_role_id: prior.clone(),
                implied_role_id: id(i, &["id"])?,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_body_round_trips_through_render() {
        let body = json!({"token": {
            "methods": ["password"], "user": {"id": "u1", "name": "alice", "domain": {"id": "default", "name": "Default"}},
            "audit_ids": ["abc"], "expires_at": "2030-01-01T00:00:00.000000Z", "issued_at": "2029-12-31T23:00:00.000000Z",
            "project": {"id": "p1", "name": "demo", "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}],
            "catalog": [{"type": "compute", "endpoints": [{"url": "http://x", "interface": "public", "region": "R", "region_id": null}]}],
        }});
        let info = token_info("tok".into(), &body).unwrap();
        let again = super::super::render::token(&info, true);
        assert_eq!(again["token"]["project"], body["token"]["project"]);
        assert_eq!(again["token"]["roles"], body["token"]["roles"]);
        assert_eq!(again["token"]["expires_at"], body["token"]["expires_at"]);
        assert_eq!(info.catalog[0].endpoints[0].region_id.as_deref(), Some("R"));
        let ctx = info.context("req-1");
        assert_eq!(ctx.project_id().map(|p| p.as_str()), Some("p1"));
        assert!(ctx.has_role("reader") && !ctx.has_role("admin"));
    }

    #[test]
    fn hostile_token_bodies_are_clean_errors() {
        for body in [
            json!(null),
            json!({"token": 1}),
            json!({"token": {}}),
            json!({"token": {"user": {"id": "", "domain": {"id": "d"}}, "expires_at": "x"}}),
            json!({"token": {"user": {"id": "u", "domain": {"id": "d"}}, "expires_at": "2030-01-01T00:00:00Z", "roles": {}}}),
            json!({"token": {"user": {"id": "u", "domain": {"id": "d"}}, "expires_at": "2030-01-01T00:00:00Z", "catalog": "x"}}),
        ] {
            let e = token_info("t".into(), &body).unwrap_err();
            assert!(matches!(e, IdentityError::Remote { .. }), "{body}: {e:?}");
        }
    }

    #[test]
    fn nulls_fall_back_to_defaults_and_top_level_parents_are_none() {
        let p: Project = one(
            &json!({"project": {"id": "p", "name": "n", "domain_id": "d", "parent_id": "d", "description": null, "enabled": true}}),
            "project",
        )
        .unwrap();
        let p = fix_project(p);
        assert_eq!(p.parent_id, None);
        assert_eq!(p.description, "");
        let e = one::<Project>(&json!({"project": {"id": 5}}), "project").unwrap_err();
        assert!(matches!(e, IdentityError::Remote { .. }));
    }
}
