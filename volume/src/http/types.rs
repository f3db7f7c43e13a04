// SPDX-License-Identifier: Apache-2.0
//! `/types`: list, show, create, delete, extra specs.

use super::body::{ExtraSpecsBody, VolumeTypeBody, parse};
use super::router::{AppState, check_project, err, path_id};
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
    let VolumeTypeBody { volume_type: f } = parse(body)?;
    let name = f.name.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: 'name' is a required property")
    })?;
    let req = CreateVolumeType {
        name,
        description: f.description,
        is_public: f.access_is_public.or(f.is_public).unwrap_or(true),
        extra_specs: f.extra_specs.unwrap_or_default(),
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
    if !body.is_object() {
        return Err(ApiError::bad_request("Malformed request body"));
    }
    let ExtraSpecsBody { extra_specs } = parse(body)?;
    let specs = extra_specs.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: 'extra_specs' is a required property")
    })?;
    let t = s.api.set_type_extra_specs(&ctx, &id, specs.clone()).await.map_err(err)?;
    let shown: BTreeMap<&String, &String> =
        t.extra_specs.iter().filter(|(k, _)| specs.contains_key(*k)).collect();
    Ok(Json(json!({ "extra_specs": shown })).into_response())
}
