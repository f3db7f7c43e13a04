// SPDX-License-Identifier: Apache-2.0
//! `/types`: list, show, create, delete, extra specs.

use super::router::{AppState, check_project, err, opt_bool, opt_metadata, opt_str, path_id, root};
use super::views::type_view;
use crate::VolumeError;
use crate::api::CreateVolumeType;
use crate::types::*;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferrostack_core::http::{ApiError, Ctx, JsonBody};
use serde_json::{Value, json};
use std::collections::BTreeMap;

fn type_not_found(id: String) -> VolumeError {
    VolumeError::NotFound { kind: "Volume type", id }
}

pub(super) async fn list_types(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let types = s.api.list_types(&ctx).await.map_err(err)?;
    Ok(Json(json!({ "volume_types": types.iter().map(type_view).collect::<Vec<_>>() }))
        .into_response())
}

pub(super) async fn show_type(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let t = s.api.get_type(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({ "volume_type": type_view(&t) })).into_response())
}

pub(super) async fn create_type(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let m = root(&body, "volume_type")?;
    let name = opt_str(m, "name", 255)?.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: 'name' is a required property")
    })?;
    let is_public = match opt_bool(m, "os-volume-type-access:is_public")? {
        Some(b) => b,
        None => opt_bool(m, "is_public")?.unwrap_or(true),
    };
    let req = CreateVolumeType {
        name,
        description: opt_str(m, "description", MAX_DESCRIPTION_LEN)?,
        is_public,
        extra_specs: opt_metadata(m, "extra_specs")?.unwrap_or_default(),
    };
    let t = s.api.create_type(&ctx, req).await.map_err(err)?;
    Ok(Json(json!({ "volume_type": type_view(&t) })).into_response())
}

pub(super) async fn delete_type(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: VolumeTypeId = path_id(&ctx, &project, &id, type_not_found)?;
    s.api.delete_type(&ctx, &id).await.map_err(err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub(super) async fn show_extra_specs(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let t = s.api.get_type(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({ "extra_specs": t.extra_specs })).into_response())
}

pub(super) async fn set_extra_specs(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let id: VolumeTypeId = path_id(&ctx, &project, &id, type_not_found)?;
    let Value::Object(m) = &body else {
        return Err(ApiError::bad_request("Malformed request body"));
    };
    let specs = opt_metadata(m, "extra_specs")?.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: 'extra_specs' is a required property")
    })?;
    let t = s.api.set_type_extra_specs(&ctx, &id, specs.clone()).await.map_err(err)?;
    let shown: BTreeMap<&String, &String> =
        t.extra_specs.iter().filter(|(k, _)| specs.contains_key(*k)).collect();
    Ok(Json(json!({ "extra_specs": shown })).into_response())
}
