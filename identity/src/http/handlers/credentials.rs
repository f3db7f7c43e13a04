// SPDX-License-Identifier: Apache-2.0
//! Handlers of application credentials, `/v3/credentials`, `OS-EC2` and `/v3/ec2tokens`.

use super::super::render;
use super::super::{ApiState, Ctx};
use super::{
    R, bad, collection, e, no_content, ok, opt_bool, opt_str, req_str, section, with_subject,
};
use crate::api::{AppCredCreate, CredentialCreate, CredentialFilter, RoleRef};
use crate::ec2::SignedRequest;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use ferrostack_core::ErrorKind;
use ferrostack_core::http::{ApiError, JsonBody};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};

const APP_CRED_FIELDS: &[&str] = &[
    "id",
    "name",
    "description",
    "secret",
    "expires_at",
    "project_id",
    "roles",
    "unrestricted",
    "access_rules",
    "system",
];

fn parse_app_cred(body: &Value) -> Result<AppCredCreate, ApiError> {
    if let Some(k) =
        body.as_object().and_then(|o| o.keys().find(|k| *k != "application_credential"))
    {
        return Err(bad(format!("Additional properties are not allowed ('{k}' was unexpected)")));
    }
    let m = section(body, "application_credential")?;
    if let Some(k) = m.keys().find(|k| !APP_CRED_FIELDS.contains(&k.as_str())) {
        return Err(bad(format!("Additional properties are not allowed ('{k}' was unexpected)")));
    }
    if m.get("access_rules").and_then(Value::as_array).is_some_and(|a| !a.is_empty()) {
        return Err(bad("Invalid input for field 'access_rules': access rules are not supported."));
    }
    let expires_at = match opt_str(m, "expires_at")? {
        None => None,
        Some(s) => Some(
            crate::ec2::parse_timestamp(&s)
                .ok_or_else(|| bad("Invalid input for field 'expires_at'."))?,
        ),
    };
    let roles = match m.get("roles") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|r| {
                let o = r.as_object().filter(|o| o.len() == 1);
                match o.map(|o| o.iter().next()) {
                    Some(Some((k, Value::String(v)))) if k == "id" => Ok(RoleRef::Id(v.clone())),
                    Some(Some((k, Value::String(v)))) if k == "name" => {
                        Ok(RoleRef::Name(v.clone()))
                    }
                    _ => Err(bad("Invalid input for field 'roles'.")),
                }
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("Invalid input for field 'roles'.")),
    };
    Ok(AppCredCreate {
        name: req_str(m, "name")?,
        description: opt_str(m, "description")?,
        secret: opt_str(m, "secret")?,
        roles,
        expires_at,
        unrestricted: opt_bool(m, "unrestricted")?.unwrap_or(false),
    })
}

pub async fn create_app_cred(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let req = parse_app_cred(&body)?;
    let c = st.api.create_application_credential(&ctx, &user, req).await.map_err(e)?;
    Ok(ok(
        StatusCode::CREATED,
        json!({"application_credential": render::application_credential(&st.base, &c)}),
    ))
}

pub async fn list_app_creds(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> R {
    let cs = st
        .api
        .list_application_credentials(&ctx, &user, q.get("name").map(String::as_str))
        .await
        .map_err(e)?;
    Ok(collection(
        &st,
        "application_credentials",
        &format!("users/{user}/application_credentials"),
        &cs,
        render::application_credential,
    ))
}

pub async fn get_app_cred(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path((user, id)): Path<(String, String)>,
) -> R {
    let c = st.api.get_application_credential(&ctx, &user, &id).await.map_err(e)?;
    Ok(ok(
        StatusCode::OK,
        json!({"application_credential": render::application_credential(&st.base, &c)}),
    ))
}

pub async fn delete_app_cred(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path((user, id)): Path<(String, String)>,
) -> R {
    st.api.delete_application_credential(&ctx, &user, &id).await.map_err(e)?;
    Ok(no_content())
}

// ----- /v3/credentials -----

pub async fn create_credential(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "credential")?;
    let req = CredentialCreate {
        user_id: req_str(m, "user_id")?,
        project_id: opt_str(m, "project_id")?,
        credential_type: req_str(m, "type")?,
        blob: req_str(m, "blob")?,
    };
    let c = st.api.create_credential(&ctx, req).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"credential": render::credential(&st.base, &c)})))
}

pub async fn list_credentials(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Query(q): Query<HashMap<String, String>>,
) -> R {
    let filter = CredentialFilter {
        user_id: q.get("user_id").cloned(),
        credential_type: q.get("type").cloned(),
    };
    let cs = st.api.list_credentials(&ctx, &filter).await.map_err(e)?;
    Ok(collection(&st, "credentials", "credentials", &cs, render::credential))
}

pub async fn get_credential(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> R {
    let c = st.api.get_credential(&ctx, &id).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"credential": render::credential(&st.base, &c)})))
}

pub async fn update_credential(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = section(&body, "credential")?;
    if let Some(k) = m.keys().find(|k| *k != "blob") {
        return Err(bad(format!("Additional properties are not allowed ('{k}' was unexpected)")));
    }
    let blob = req_str(m, "blob")?;
    let c = st.api.update_credential(&ctx, &id, blob).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"credential": render::credential(&st.base, &c)})))
}

pub async fn delete_credential(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
) -> R {
    st.api.delete_credential(&ctx, &id).await.map_err(e)?;
    Ok(no_content())
}

// ----- OS-EC2 -----

pub async fn create_ec2(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path(user): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let m = body.as_object().ok_or_else(|| bad("Invalid input: a JSON object is required."))?;
    let tenant = opt_str(m, "tenant_id")?.unwrap_or_default();
    let c = st.api.create_ec2_credential(&ctx, &user, &tenant).await.map_err(e)?;
    Ok(ok(StatusCode::CREATED, json!({"credential": render::ec2_credential(&st.base, &c)})))
}

pub async fn list_ec2(State(st): State<ApiState>, Ctx(ctx): Ctx, Path(user): Path<String>) -> R {
    let cs = st.api.list_ec2_credentials(&ctx, &user).await.map_err(e)?;
    Ok(collection(
        &st,
        "credentials",
        &format!("users/{user}/credentials/OS-EC2"),
        &cs,
        render::ec2_credential,
    ))
}

pub async fn get_ec2(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path((user, access)): Path<(String, String)>,
) -> R {
    let c = st.api.get_ec2_credential(&ctx, &user, &access).await.map_err(e)?;
    Ok(ok(StatusCode::OK, json!({"credential": render::ec2_credential(&st.base, &c)})))
}

pub async fn delete_ec2(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    Path((user, access)): Path<(String, String)>,
) -> R {
    st.api.delete_ec2_credential(&ctx, &user, &access).await.map_err(e)?;
    Ok(no_content())
}

// ----- POST /v3/ec2tokens -----

/// Python's `str()` of a JSON scalar, as keystoneclient's signer renders parameter values.
fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Null => "None".into(),
        other => other.to_string(),
    }
}

fn str_map(m: &Map<String, Value>, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(o)) => Ok(o.iter().map(|(k, v)| (k.clone(), py_str(v))).collect()),
        Some(_) => Err(bad(format!("Invalid input for field '{key}'."))),
    }
}

fn parse_signed(body: &Value) -> Result<SignedRequest, ApiError> {
    let empty = match body {
        Value::Null => true,
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if empty {
        return Err(bad("request must include a request body"));
    }
    let creds = ["credentials", "credential", "ec2Credentials"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_object).filter(|o| !o.is_empty()));
    let Some(c) = creds else {
        return Err(ApiError::new(ErrorKind::Unauthenticated, "EC2 Signature not supplied."));
    };
    let text = |k: &str| c.get(k).map(py_str).unwrap_or_default();
    if !c.contains_key("access") {
        return Err(ApiError::new(ErrorKind::Unauthenticated, "EC2 Signature not supplied."));
    }
    Ok(SignedRequest {
        access: text("access"),
        signature: c.get("signature").filter(|v| !v.is_null()).map(py_str),
        host: text("host"),
        verb: text("verb"),
        path: text("path"),
        params: str_map(c, "params")?,
        headers: str_map(c, "headers")?,
        body_hash: text("body_hash"),
    })
}

pub async fn ec2_tokens(
    State(st): State<ApiState>,
    Ctx(ctx): Ctx,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let req = parse_signed(&body)?;
    let info = st.api.ec2_authenticate(&ctx, req).await.map_err(e)?;
    Ok(with_subject(ok(StatusCode::OK, render::token(&info, true)), &info.token))
}
