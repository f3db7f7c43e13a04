// SPDX-License-Identifier: Apache-2.0
//! `POST /servers/{id}/action`: one [`ServerAction`] per request.

use super::views::server_view;
use super::{Call, R, err, parse_body, parse_id};
use crate::api::ServerAction;
use crate::error::ComputeError;
use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use ferrostack_core::http::JsonBody;
use ferrostack_core::id::ServerId;
use serde_json::{Value, json};

/// Keys of the server view that the basic view (rebuild before 2.75) leaves out.
fn basic_view_omits(k: &str) -> bool {
    k.starts_with("OS-EXT-")
        || k.starts_with("OS-SRV-USG")
        || matches!(
            k,
            "config_drive"
                | "key_name"
                | "os-extended-volumes:volumes_attached"
                | "security_groups"
        )
}

/// `POST /servers/{id}/action`.
pub(super) async fn server_action(
    Call { api, ctx, mv, base }: Call,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let action: ServerAction = parse_body(body, "action")?;
    let accepted = || Ok(StatusCode::ACCEPTED.into_response());
    match action {
        ServerAction::Stop => {
            api.stop_server(&ctx, id).await.map_err(err)?;
            accepted()
        }
        ServerAction::Start => {
            api.start_server(&ctx, id).await.map_err(err)?;
            accepted()
        }
        ServerAction::GetConsoleOutput { length } => {
            let output = api.console_output(&ctx, id, length).await.map_err(err)?;
            Ok(Json(json!({ "output": output })).into_response())
        }
        ServerAction::Reboot(kind) => {
            api.reboot_server(&ctx, id, kind).await.map_err(err)?;
            accepted()
        }
        ServerAction::Resize { flavor_ref } => {
            api.resize_server(&ctx, id, &flavor_ref).await.map_err(err)?;
            accepted()
        }
        ServerAction::ConfirmResize => {
            api.confirm_resize(&ctx, id).await.map_err(err)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        ServerAction::RevertResize => {
            api.revert_resize(&ctx, id).await.map_err(err)?;
            accepted()
        }
        ServerAction::Rebuild(req) => {
            let s = api.rebuild_server(&ctx, id, req).await.map_err(err)?;
            let mut v = server_view(&s, mv, &base, ctx.has_role("admin"));
            if !mv.at_least(2, 75)
                && let Some(m) = v.as_object_mut()
            {
                // Before 2.75 the rebuild response is the basic view, without extensions.
                m.retain(|k, _| !basic_view_omits(k));
            }
            v["adminPass"] = json!(uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
            Ok((StatusCode::ACCEPTED, Json(json!({ "server": v }))).into_response())
        }
        ServerAction::CreateImage(req) => {
            let image = api.create_image(&ctx, id, req).await.map_err(err)?;
            let mut resp = if mv.at_least(2, 45) {
                (StatusCode::ACCEPTED, Json(json!({"image_id": image.to_string()}))).into_response()
            } else {
                StatusCode::ACCEPTED.into_response()
            };
            if let Ok(v) = HeaderValue::from_str(&format!("{base}/images/{image}")) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
        ServerAction::GetConsole { protocol, console_type } => {
            let url = api.console_url(&ctx, id, protocol.as_str()).await.map_err(err)?;
            Ok(Json(json!({"console": {"type": console_type, "url": url}})).into_response())
        }
        ServerAction::NotImplemented(name) => {
            Err(err(ComputeError::NotSupported(format!("action {name}"))))
        }
    }
}
