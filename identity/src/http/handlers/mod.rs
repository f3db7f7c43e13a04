// SPDX-License-Identifier: Apache-2.0
//! The route handlers: request parsing, one [`IdentityApi`] call each, Keystone's bodies.

mod catalog;
pub mod credentials;
mod projects;
mod roles;
mod tokens;
mod users;

pub use catalog::*;
pub use projects::*;
pub use roles::*;
pub use tokens::*;
pub use users::*;

use super::render;
use super::{ApiState, Ctx, X_SUBJECT_TOKEN};
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

/// A `200` Keystone collection at `/v3/{path}`: `{key: [view(item), ..], "links": ..}`.
fn collection<T>(
    st: &ApiState,
    key: &str,
    path: &str,
    items: &[T],
    view: impl Fn(&str, &T) -> Value,
) -> Response {
    let items: Vec<Value> = items.iter().map(|x| view(&st.base, x)).collect();
    let mut body = Map::new();
    body.insert(key.to_owned(), Value::Array(items));
    body.insert("links".to_owned(), list_links(st, path));
    ok(StatusCode::OK, Value::Object(body))
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

fn default_domain(ctx: &ferrostack_core::RequestContext) -> DomainId {
    match &ctx.scope {
        ferrostack_core::context::Scope::Domain { id, .. } => id.clone(),
        _ => DomainId::default_domain(),
    }
}

fn with_subject(mut resp: Response, token: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(token) {
        resp.headers_mut().insert(X_SUBJECT_TOKEN, v);
    }
    resp
}
