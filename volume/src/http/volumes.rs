// SPDX-License-Identifier: Apache-2.0
//! `/volumes`: create, list, show, update, delete, and the actions `os-extend`,
//! `os-volume_upload_image` and `os-retype`.

use super::body::{
    ExtendArgs, RetypeArgs, UploadImageArgs, VolumeAction, VolumeBody, VolumeFields, parse,
};
use super::router::{AppState, check_project, err, parse_list_query, path_id};
use super::views::{fmt_opt, link, volume_view};
use crate::VolumeError;
use crate::api::{CreateVolume, MigrationPolicy, UpdateVolume, UploadToImage};
use crate::backend::DiskFormat;
use crate::types::*;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ferrostack_core::RequestContext;
use ferrostack_core::http::{ApiError, Ctx, JsonBody, Microversion};
use ferrostack_core::id::{ImageId, VolumeId};
use serde_json::{Value, json};
use std::collections::HashMap;

/// `{"volume": ..}` for `v` with its attachments (`extended`: see [`volume_view`]).
async fn one_volume(
    s: &AppState,
    ctx: &RequestContext,
    v: &Volume,
    mv: Microversion,
    extended: bool,
) -> Result<Response, ApiError> {
    let atts = s.api.list_attachments(ctx, Some(&v.id), true).await.map_err(err)?;
    Ok(Json(json!({ "volume": volume_view(v, &atts, crate::policy::is_admin(ctx), mv, extended) }))
        .into_response())
}

pub(super) async fn create_volume(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let VolumeBody { volume: f } = parse(body)?;
    if let Some(unsupported) = f.unsupported() {
        return Err(ApiError::bad_request(format!(
            "Invalid input received: {unsupported} is not supported"
        )));
    }
    let image_id = match f.image_ref {
        None => None,
        Some(i) => Some(i.parse::<ImageId>().map_err(|_| {
            err(VolumeError::NotFound {
                kind: "Image",
                id: ferrostack_core::id::truncate_for_message(&i),
            })
        })?),
    };
    let req = CreateVolume {
        name: f.name,
        description: f.description,
        size_gb: f.size,
        volume_type: f.volume_type,
        snapshot_id: f.snapshot_id,
        source_volid: f.source_volid,
        image_id,
        multiattach: f.multiattach.unwrap_or(false),
        metadata: f.metadata.unwrap_or_default(),
        availability_zone: f.availability_zone,
    };
    let v = s.api.create_volume(&ctx, req).await.map_err(err)?;
    let admin = crate::policy::is_admin(&ctx);
    Ok((StatusCode::ACCEPTED, Json(json!({ "volume": volume_view(&v, &[], admin, mv, false) })))
        .into_response())
}

/// `GET /{project}/volumes` (`DETAIL = false`) and `/{project}/volumes/detail` (`DETAIL = true`).
pub(super) async fn list_volumes<const DETAIL: bool>(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let filter = parse_list_query(&q)?;
    let vols = s.api.list_volumes(&ctx, &filter).await.map_err(err)?;
    if !DETAIL {
        let items: Vec<Value> = vols
            .iter()
            .map(|v| json!({"id": v.id.to_string(), "name": v.name, "links": link(v.project_id.as_str(), "volumes", &v.id.to_string())}))
            .collect();
        return Ok(Json(json!({ "volumes": items })).into_response());
    }
    let atts = s.api.list_attachments(&ctx, None, filter.all_projects).await.map_err(err)?;
    let admin = crate::policy::is_admin(&ctx);
    let items: Vec<Value> = vols.iter().map(|v| volume_view(v, &atts, admin, mv, true)).collect();
    Ok(Json(json!({ "volumes": items })).into_response())
}

pub(super) async fn show_volume(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: VolumeId = path_id(&ctx, &project, &id, VolumeError::volume_not_found)?;
    let v = s.api.get_volume(&ctx, &id).await.map_err(err)?;
    one_volume(&s, &ctx, &v, mv, true).await
}

pub(super) async fn update_volume(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let id: VolumeId = path_id(&ctx, &project, &id, VolumeError::volume_not_found)?;
    let VolumeBody { volume: VolumeFields { name, description, metadata, .. } } = parse(body)?;
    let change = UpdateVolume { name, description, metadata };
    let v = s.api.update_volume(&ctx, &id, change).await.map_err(err)?;
    one_volume(&s, &ctx, &v, mv, false).await
}

pub(super) async fn delete_volume(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id: VolumeId = path_id(&ctx, &project, &id, VolumeError::volume_not_found)?;
    s.api.delete_volume(&ctx, &id).await.map_err(err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

pub(super) async fn volume_action(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let id: VolumeId = path_id(&ctx, &project, &id, VolumeError::volume_not_found)?;
    match parse::<VolumeAction>(body)? {
        VolumeAction::Extend(ExtendArgs { new_size }) => {
            let new_size = new_size.ok_or_else(|| {
                ApiError::bad_request("Invalid input received: 'new_size' is a required property")
            })?;
            let v = s.api.get_volume(&ctx, &id).await.map_err(err)?;
            if v.status == VolumeStatus::InUse && !mv.at_least(3, 42) {
                return Err(err(VolumeError::InvalidVolume(format!(
                    "Volume {id} status must be available, but current status is: in-use. Extending an attached volume needs microversion 3.42."
                ))));
            }
            s.api.extend_volume(&ctx, &id, new_size).await.map_err(err)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        VolumeAction::UploadImage(UploadImageArgs {
            image_name,
            disk_format,
            container_format,
            force,
        }) => {
            let image_name = image_name.ok_or_else(|| {
                ApiError::bad_request("Invalid input received: 'image_name' is a required property")
            })?;
            let disk_format = match disk_format {
                None => DiskFormat::Raw,
                Some(f) => DiskFormat::parse(&f).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid disk-format '{}' specified. Allowed disk-formats are raw, qcow2.",
                        ferrostack_core::id::truncate_for_message(&f)
                    ))
                })?,
            };
            let container_format = container_format.unwrap_or_else(|| "bare".into());
            if container_format != "bare" {
                return Err(ApiError::bad_request(format!(
                    "Invalid container-format '{}' specified. Allowed container-formats are bare.",
                    ferrostack_core::id::truncate_for_message(&container_format)
                )));
            }
            let force = force.unwrap_or(false);
            let up = s
                .api
                .upload_to_image(
                    &ctx,
                    &id,
                    UploadToImage { image_name, disk_format, container_format, force },
                )
                .await
                .map_err(err)?;
            let v = &up.volume;
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "os-volume_upload_image": {
                    "id": v.id.to_string(),
                    "updated_at": fmt_opt(v.updated_at),
                    "status": v.status.as_str(),
                    "display_description": v.description,
                    "size": v.size_gb,
                    "volume_type": { "id": v.volume_type_id.to_string(), "name": v.volume_type_name },
                    "image_id": up.image_id.to_string(),
                    "container_format": up.container_format,
                    "disk_format": up.disk_format.as_str(),
                    "image_name": up.image_name,
                }})),
            )
                .into_response())
        }
        VolumeAction::Retype(RetypeArgs { new_type, migration_policy }) => {
            let new_type = new_type.ok_or_else(|| {
                ApiError::bad_request("Invalid input received: 'new_type' is a required property")
            })?;
            let policy = match migration_policy.as_deref() {
                None | Some("never") => MigrationPolicy::Never,
                Some("on-demand") => MigrationPolicy::OnDemand,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input received: migration_policy must be 'never' or 'on-demand', not '{}'",
                        ferrostack_core::id::truncate_for_message(other)
                    )));
                }
            };
            s.api.retype_volume(&ctx, &id, &new_type, policy).await.map_err(err)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
    }
}
