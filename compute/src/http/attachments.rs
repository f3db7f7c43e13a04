// SPDX-License-Identifier: Apache-2.0
//! `/servers/{id}/os-volume_attachments` and `/servers/{id}/os-interface`.

use super::views::{attachment_view, interface_view};
use super::{Call, R, bad, err, parse_body, parse_id};
use crate::api::AttachVolume;
use crate::error::ComputeError;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ferrostack_core::http::{ApiError, JsonBody};
use ferrostack_core::id::{NetworkId, PortId, ServerId, VolumeId};
use serde::Deserialize;
use serde_json::{Value, json};

/// The member of a server's `items` that `hit` picks: a 404 naming `what` and `id` when none.
fn find<'a, T>(
    items: &'a [T],
    hit: impl Fn(&T) -> bool,
    what: &'static str,
    id: impl std::fmt::Display,
) -> Result<&'a T, ApiError> {
    items
        .iter()
        .find(|i| hit(i))
        .ok_or_else(|| err(ComputeError::NotFound { what, id: id.to_string() }))
}

/// An optional id in a request body; one that does not parse is a 400 naming `field`.
fn field_id<T: std::str::FromStr>(v: Option<&str>, field: &str) -> Result<Option<T>, ApiError> {
    v.map(|v| v.parse().map_err(|_| bad(format!("Invalid input for field/attribute {field}."))))
        .transpose()
}

/// `GET /servers/{id}/os-volume_attachments`.
pub(super) async fn list_volumes(Call { api, ctx, mv, .. }: Call, Path(id): Path<String>) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    let list: Vec<Value> = s.volumes.iter().map(|a| attachment_view(a, id, mv)).collect();
    Ok(Json(json!({ "volumeAttachments": list })).into_response())
}

/// `GET /servers/{id}/os-volume_attachments/{volume}`.
pub(super) async fn show_volume(
    Call { api, ctx, mv, .. }: Call,
    Path((id, vol)): Path<(String, String)>,
) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let vol: VolumeId = parse_id(&vol, "Volume attachment")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    let a = find(&s.volumes, |a| a.volume_id == vol, "Volume attachment", vol)?;
    Ok(Json(json!({"volumeAttachment": attachment_view(a, id, mv)})).into_response())
}

#[derive(Deserialize)]
struct AttachVolumeBody {
    #[serde(rename = "volumeAttachment")]
    attachment: AttachVolumeFields,
}

#[derive(Deserialize)]
struct AttachVolumeFields {
    #[serde(rename = "volumeId")]
    volume_id: String,
    #[serde(default)]
    device: Option<String>,
    #[serde(default)]
    delete_on_termination: Option<bool>,
}

/// `POST /servers/{id}/os-volume_attachments`.
pub(super) async fn attach_volume(
    Call { api, ctx, mv, .. }: Call,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let AttachVolumeBody { attachment: a } = parse_body(body, "volumeAttachment")?;
    let volume: VolumeId =
        a.volume_id.parse().map_err(|_| bad("Invalid input for field/attribute volumeId."))?;
    let req = AttachVolume {
        volume,
        device: a.device,
        delete_on_termination: mv.at_least(2, 79) && a.delete_on_termination.unwrap_or(false),
    };
    let a = api.attach_volume(&ctx, id, req).await.map_err(err)?;
    Ok(Json(json!({"volumeAttachment": attachment_view(&a, id, mv)})).into_response())
}

/// `DELETE /servers/{id}/os-volume_attachments/{volume}`.
pub(super) async fn detach_volume(
    Call { api, ctx, .. }: Call,
    Path((id, vol)): Path<(String, String)>,
) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let vol: VolumeId = parse_id(&vol, "Volume attachment")?;
    api.detach_volume(&ctx, id, vol).await.map_err(err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `GET /servers/{id}/os-interface`.
pub(super) async fn list_interfaces(Call { api, ctx, mv, .. }: Call, Path(id): Path<String>) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    let list: Vec<Value> = s.vifs.iter().map(|v| interface_view(v, mv)).collect();
    Ok(Json(json!({ "interfaceAttachments": list })).into_response())
}

/// `GET /servers/{id}/os-interface/{port}`.
pub(super) async fn show_interface(
    Call { api, ctx, mv, .. }: Call,
    Path((id, port)): Path<(String, String)>,
) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let port: PortId = parse_id(&port, "Port")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    let v = find(&s.vifs, |v| v.port_id == port, "Port", port)?;
    Ok(Json(json!({"interfaceAttachment": interface_view(v, mv)})).into_response())
}

#[derive(Deserialize)]
struct AttachInterfaceBody {
    #[serde(rename = "interfaceAttachment")]
    attachment: AttachInterfaceFields,
}

#[derive(Deserialize)]
struct AttachInterfaceFields {
    #[serde(default)]
    net_id: Option<String>,
    #[serde(default)]
    port_id: Option<String>,
}

/// `POST /servers/{id}/os-interface`.
pub(super) async fn attach_interface(
    Call { api, ctx, mv, .. }: Call,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let AttachInterfaceBody { attachment: a } = parse_body(body, "interfaceAttachment")?;
    let net: Option<NetworkId> = field_id(a.net_id.as_deref(), "net_id")?;
    let port: Option<PortId> = field_id(a.port_id.as_deref(), "port_id")?;
    let v = api.attach_interface(&ctx, id, net, port).await.map_err(err)?;
    Ok(Json(json!({"interfaceAttachment": interface_view(&v, mv)})).into_response())
}

/// `DELETE /servers/{id}/os-interface/{port}`.
pub(super) async fn detach_interface(
    Call { api, ctx, .. }: Call,
    Path((id, port)): Path<(String, String)>,
) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let port: PortId = parse_id(&port, "Port")?;
    api.detach_interface(&ctx, id, port).await.map_err(err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}
