// SPDX-License-Identifier: Apache-2.0
//! [`router`]: the routes, the microversion range, and what every handler shares (the error
//! mapping, the project check and the list query; request bodies are in `body`).

use super::{attachments, quotas, snapshots, types, volumes};
use crate::VolumeError;
use crate::api::{ListFilter, VolumeApi};
use crate::error::RemoteError;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferrostack_core::RequestContext;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::http::client::ClientError;
use ferrostack_core::http::{
    ApiError, ErrorStyle, Microversion, MicroversionRange, VersionDoc, body_limit,
    with_error_style, with_microversions,
};
use ferrostack_core::id::ProjectId;
use std::collections::HashMap;
use std::sync::Arc;

/// The microversions served: `volume` 3.0 to 3.60 (`OpenStack-API-Version: volume 3.x`; no
/// legacy header).
pub static MICROVERSIONS: MicroversionRange = MicroversionRange {
    service: "volume",
    legacy_header: None,
    min: Microversion::new(3, 0),
    max: Microversion::new(3, 60),
};

#[derive(Clone)]
pub(super) struct AppState {
    pub(super) api: Arc<dyn VolumeApi>,
}

pub(super) fn err(e: VolumeError) -> ApiError {
    match &e {
        // A remote Cinder's fault passes through as it was (a router over a `Client`).
        VolumeError::Remote(RemoteError(ClientError::Api(api))) => api.clone(),
        VolumeError::Backend { source, .. } if e.kind() != ErrorKind::Internal => {
            ApiError::new(e.kind(), format!("{e}: {source}"))
        }
        _ => ApiError::from_error(&e),
    }
}

fn version_doc(max: Microversion) -> VersionDoc {
    VersionDoc {
        id: "v3.0".into(),
        status: "CURRENT".into(),
        version: max.to_string(),
        min_version: "3.0".into(),
        updated: "2023-08-31T00:00:00Z".into(),
        href: "v3/".into(),
        media_type: "application/vnd.openstack.volume".into(),
    }
}

/// The Cinder v3 router. See the [module documentation](super).
pub fn router(api: Arc<dyn VolumeApi>) -> Router {
    let v3 = Router::new()
        .route("/volumes", get(volumes::list_volumes::<false>).post(volumes::create_volume))
        .route("/volumes/detail", get(volumes::list_volumes::<true>))
        .route(
            "/volumes/{id}",
            get(volumes::show_volume).put(volumes::update_volume).delete(volumes::delete_volume),
        )
        .route("/volumes/{id}/action", post(volumes::volume_action))
        .route(
            "/snapshots",
            get(snapshots::list_snapshots::<false>).post(snapshots::create_snapshot),
        )
        .route("/snapshots/detail", get(snapshots::list_snapshots::<true>))
        .route(
            "/snapshots/{id}",
            get(snapshots::show_snapshot)
                .put(snapshots::update_snapshot)
                .delete(snapshots::delete_snapshot),
        )
        .route("/types", get(types::list_types).post(types::create_type))
        .route("/types/{id}", get(types::show_type).delete(types::delete_type))
        .route("/types/{id}/extra_specs", get(types::show_extra_specs).post(types::set_extra_specs))
        .route(
            "/attachments",
            get(attachments::list_attachments::<false>).post(attachments::create_attachment),
        )
        .route("/attachments/detail", get(attachments::list_attachments::<true>))
        .route(
            "/attachments/{id}",
            get(attachments::show_attachment)
                .put(attachments::update_attachment)
                .delete(attachments::delete_attachment),
        )
        .route("/attachments/{id}/action", post(attachments::attachment_action))
        .route("/os-quota-sets/{target}", get(quotas::show_quotas).put(quotas::update_quotas))
        .route("/os-quota-sets/{target}/defaults", get(quotas::default_quotas));
    let v3 = with_microversions(v3, &MICROVERSIONS);
    let r = Router::new()
        .route("/", get(versions))
        .route("/v3", get(version))
        .route("/v3/", get(version))
        .nest("/v3/{project_id}", v3)
        .with_state(AppState { api });
    with_error_style(r, ErrorStyle::Nova)
        .layer(body_limit(ferrostack_core::http::DEFAULT_BODY_LIMIT))
}

async fn versions() -> Response {
    ferrostack_core::http::multiple_choices(&[version_doc(MICROVERSIONS.max)], false)
}

async fn version() -> Response {
    Json(version_doc(MICROVERSIONS.max).single()).into_response()
}

// ---- input helpers -------------------------------------------------------------------------

pub(super) fn check_project(ctx: &RequestContext, project: &str) -> Result<(), ApiError> {
    if ctx.project_id().map(ProjectId::as_str) != Some(project) {
        return Err(ApiError::bad_request("Malformed request url"));
    }
    Ok(())
}

pub(super) fn parse_list_query(q: &HashMap<String, String>) -> Result<ListFilter, ApiError> {
    let limit = match q.get("limit") {
        None => None,
        Some(l) => match l.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n as usize),
            Ok(_) => {
                return Err(ApiError::bad_request(
                    "Invalid input received: limit param must be positive",
                ));
            }
            Err(_) => {
                return Err(ApiError::bad_request(
                    "Invalid input received: limit param must be an integer",
                ));
            }
        },
    };
    let all = q
        .get("all_tenants")
        .map(|v| {
            !matches!(v.to_ascii_lowercase().as_str(), "0" | "false" | "f" | "no" | "n" | "off")
        })
        .unwrap_or(false);
    Ok(ListFilter {
        name: q.get("name").cloned(),
        status: q.get("status").cloned(),
        all_projects: all,
        marker: q.get("marker").cloned(),
        limit,
    })
}

/// The id in a `/{project}/<resource>/{id}` path: checks the project, then parses the id;
/// an unparsable id is `not_found` of its (truncated) text, as Cinder answers.
pub(super) fn path_id<T: std::str::FromStr>(
    ctx: &RequestContext,
    project: &str,
    id: &str,
    not_found: impl FnOnce(String) -> VolumeError,
) -> Result<T, ApiError> {
    check_project(ctx, project)?;
    parse_id(id, not_found)
}

/// Parses `id`; an unparsable one is `not_found` of its (truncated) text.
pub(super) fn parse_id<T: std::str::FromStr>(
    id: &str,
    not_found: impl FnOnce(String) -> VolumeError,
) -> Result<T, ApiError> {
    id.parse::<T>().map_err(|_| err(not_found(ferrostack_core::id::truncate_for_message(id))))
}

pub(super) fn need(mv: Microversion, minor: u16) -> Result<(), ApiError> {
    if !mv.at_least(3, minor) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    Ok(())
}
