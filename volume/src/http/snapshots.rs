// SPDX-License-Identifier: Apache-2.0
//! `/snapshots`: create, list, show, update, delete.

use super::body::{SnapshotBody, SnapshotFields, parse};
use super::router::{AppState, check_project, err, parse_list_query, path_id};
use super::views::snapshot_view;
use crate::VolumeError;
use crate::api::UpdateVolume;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferrostack_core::http::{ApiError, Ctx, JsonBody};
use ferrostack_core::id::SnapshotId;
use serde_json::{Value, json};
use std::collections::HashMap;

pub(super) async fn create_snapshot(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let SnapshotBody { snapshot: f } = parse(body)?;
    let volume_id = f.volume_id.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: 'volume_id' is a required property")
    })?;
    let (name, description, force) = (f.name, f.description, f.force.unwrap_or(false));
    let snap =
        s.api.create_snapshot(&ctx, &volume_id, name, description, force).await.map_err(err)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "snapshot": snapshot_view(&snap) }))).into_response())
}

/// `GET /{project}/snapshots` (`DETAIL = false`) and `/{project}/snapshots/detail` (`DETAIL = true`).
pub(super) async fn list_snapshots<const DETAIL: bool>(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let filter = parse_list_query(&q)?;
    let mut snaps = s.api.list_snapshots(&ctx, &filter).await.map_err(err)?;
    if let Some(vid) = q.get("volume_id") {
        snaps.retain(|x| x.volume_id.to_string() == *vid);
    }
    let items: Vec<Value> = snaps
        .iter()
        .map(|x| {
            if DETAIL {
                snapshot_view(x)
            } else {
                let mut v = snapshot_view(x);
                if let Value::Object(o) = &mut v {
                    o.retain(|k, _| !k.starts_with("os-extended"));
                }
                v
            }
        })
        .collect();
    Ok(Json(json!({ "snapshots": items })).into_response())
}

pub(super) async fn show_snapshot(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: SnapshotId = path_id(&ctx, &project, &id, VolumeError::snapshot_not_found)?;
    let snap = s.api.get_snapshot(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({ "snapshot": snapshot_view(&snap) })).into_response())
}

pub(super) async fn update_snapshot(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let id: SnapshotId = path_id(&ctx, &project, &id, VolumeError::snapshot_not_found)?;
    let SnapshotBody { snapshot: SnapshotFields { name, description, metadata, .. } } =
        parse(body)?;
    let change = UpdateVolume { name, description, metadata };
    let snap = s.api.update_snapshot(&ctx, &id, change).await.map_err(err)?;
    Ok(Json(json!({ "snapshot": snapshot_view(&snap) })).into_response())
}

pub(super) async fn delete_snapshot(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: SnapshotId = path_id(&ctx, &project, &id, VolumeError::snapshot_not_found)?;
    s.api.delete_snapshot(&ctx, &id).await.map_err(err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}
