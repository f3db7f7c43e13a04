// SPDX-License-Identifier: Apache-2.0
//! `/snapshots`: create, list, show, update, delete.

use super::router::{
    AppState, check_project, err, opt_bool, opt_metadata, opt_str, parse_list_query, path_id, root,
    uuid_field,
};
use super::views::snapshot_view;
use crate::VolumeError;
use crate::api::UpdateVolume;
use crate::types::*;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferrostack_core::http::{ApiError, Ctx, JsonBody};
use ferrostack_core::id::{SnapshotId, VolumeId};
use serde_json::{Value, json};
use std::collections::HashMap;

pub(super) async fn create_snapshot(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let m = root(&body, "snapshot")?;
    let volume_id = uuid_field::<VolumeId>(m, "volume_id")?.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: 'volume_id' is a required property")
    })?;
    let name = match opt_str(m, "name", MAX_NAME_LEN)? {
        Some(n) => Some(n),
        None => opt_str(m, "display_name", MAX_NAME_LEN)?,
    };
    let description = match opt_str(m, "description", MAX_DESCRIPTION_LEN)? {
        Some(d) => Some(d),
        None => opt_str(m, "display_description", MAX_DESCRIPTION_LEN)?,
    };
    let force = opt_bool(m, "force")?.unwrap_or(false);
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
    let m = root(&body, "snapshot")?;
    let change = UpdateVolume {
        name: opt_str(m, "name", MAX_NAME_LEN)?,
        description: opt_str(m, "description", MAX_DESCRIPTION_LEN)?,
        metadata: opt_metadata(m, "metadata")?,
    };
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
