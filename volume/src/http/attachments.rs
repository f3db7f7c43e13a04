// SPDX-License-Identifier: Apache-2.0
//! `/attachments` (3.27+): create, list, show, update with a connector, delete, `os-complete`
//! (3.44+).

use super::body::{AttachmentAction, AttachmentBody, parse};
use super::router::{AppState, check_project, err, need, parse_id, parse_list_query};
use super::views::{attachment_summary, attachment_view};
use crate::VolumeError;
use crate::types::*;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferrostack_core::RequestContext;
use ferrostack_core::http::{ApiError, Ctx, JsonBody, Microversion};
use ferrostack_core::id::VolumeId;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The attachment id in a path, once the project and the microversion (3.`minor`) are right.
fn attachment_id(
    ctx: &RequestContext,
    project: &str,
    mv: Microversion,
    minor: u16,
    id: &str,
) -> Result<AttachmentId, ApiError> {
    check_project(ctx, project)?;
    need(mv, minor)?;
    parse_id(id, VolumeError::attachment_not_found)
}

pub(super) async fn create_attachment(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    need(mv, 27)?;
    let AttachmentBody { attachment: f } = parse(body)?;
    let volume_id = f.volume_uuid.or(f.volume_id).ok_or_else(|| {
        ApiError::bad_request("Invalid input received: 'volume_uuid' is a required property")
    })?;
    let (instance, connector, mode) = (f.instance_uuid, f.connector, f.mode);
    if mode.is_some() && !mv.at_least(3, 54) {
        return Err(ApiError::bad_request(
            "Invalid input received: mode requires microversion 3.54",
        ));
    }
    let a =
        s.api.create_attachment(&ctx, &volume_id, instance, connector, mode).await.map_err(err)?;
    Ok(Json(json!({ "attachment": attachment_view(&a) })).into_response())
}

/// `GET /{project}/attachments` (`DETAIL = false`) and `/{project}/attachments/detail` (`DETAIL = true`).
pub(super) async fn list_attachments<const DETAIL: bool>(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    need(mv, 27)?;
    let filter = parse_list_query(&q)?;
    let volume = match q.get("volume_id") {
        Some(v) => match v.parse::<VolumeId>() {
            Ok(id) => Some(id),
            Err(_) => return Ok(Json(json!({ "attachments": [] })).into_response()),
        },
        None => None,
    };
    let atts =
        s.api.list_attachments(&ctx, volume.as_ref(), filter.all_projects).await.map_err(err)?;
    let items: Vec<Value> = atts
        .iter()
        .map(|a| if DETAIL { attachment_view(a) } else { attachment_summary(a) })
        .collect();
    Ok(Json(json!({ "attachments": items })).into_response())
}

pub(super) async fn show_attachment(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = attachment_id(&ctx, &project, mv, 27, &id)?;
    let a = s.api.get_attachment(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({ "attachment": attachment_view(&a) })).into_response())
}

pub(super) async fn update_attachment(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let id = attachment_id(&ctx, &project, mv, 27, &id)?;
    let AttachmentBody { attachment: f } = parse(body)?;
    let connector = f.connector.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: 'connector' is a required property")
    })?;
    let a = s.api.update_attachment(&ctx, &id, connector).await.map_err(err)?;
    Ok(Json(json!({ "attachment": attachment_view(&a) })).into_response())
}

pub(super) async fn delete_attachment(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = attachment_id(&ctx, &project, mv, 27, &id)?;
    let remaining = s.api.delete_attachment(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({ "attachments": remaining.iter().map(attachment_view).collect::<Vec<_>>() }))
        .into_response())
}

pub(super) async fn attachment_action(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let id = attachment_id(&ctx, &project, mv, 44, &id)?;
    let AttachmentAction::Complete(_) = parse(body)?;
    s.api.complete_attachment(&ctx, &id).await.map_err(err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
