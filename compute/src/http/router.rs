// SPDX-License-Identifier: Apache-2.0
//! The routes of Nova's v2.1 API and its version documents.

use super::{
    Api, BODY_LIMIT, MICROVERSIONS, actions, attachments, base_url, flavors, groups, keypairs,
    quotas, servers,
};
use axum::Json;
use axum::Router;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ferrostack_core::http::{ApiError, VersionDoc, with_microversions};
use serde_json::json;

/// The Nova v2.1 router over `api` (see the module docs).
pub fn router(api: Api) -> Router {
    let v21 = Router::new()
        .route("/servers", get(servers::list::<false>).post(servers::create))
        .route("/servers/detail", get(servers::list::<true>))
        .route("/servers/{id}", get(servers::show).put(servers::update).delete(servers::delete))
        .route("/servers/{id}/action", post(actions::server_action))
        .route("/servers/{id}/ips", get(servers::ips))
        .route("/servers/{id}/ips/{network}", get(servers::ips_by_network))
        .route("/servers/{id}/remote-consoles", post(servers::remote_console))
        .route(
            "/servers/{id}/os-volume_attachments",
            get(attachments::list_volumes).post(attachments::attach_volume),
        )
        .route(
            "/servers/{id}/os-volume_attachments/{vol}",
            get(attachments::show_volume).delete(attachments::detach_volume),
        )
        .route(
            "/servers/{id}/os-interface",
            get(attachments::list_interfaces).post(attachments::attach_interface),
        )
        .route(
            "/servers/{id}/os-interface/{port}",
            get(attachments::show_interface).delete(attachments::detach_interface),
        )
        .route("/flavors", get(flavors::list::<false>).post(flavors::create))
        .route("/flavors/detail", get(flavors::list::<true>))
        .route("/flavors/{id}", get(flavors::show).delete(flavors::delete))
        .route(
            "/flavors/{id}/os-extra_specs",
            get(flavors::list_extra_specs).post(flavors::set_extra_specs),
        )
        .route(
            "/flavors/{id}/os-extra_specs/{key}",
            get(flavors::show_extra_spec)
                .put(flavors::update_extra_spec)
                .delete(flavors::delete_extra_spec),
        )
        .route("/os-keypairs", get(keypairs::list).post(keypairs::create))
        .route("/os-keypairs/{name}", get(keypairs::show).delete(keypairs::delete))
        .route("/os-server-groups", get(groups::list).post(groups::create))
        .route("/os-server-groups/{id}", get(groups::show).delete(groups::delete))
        .route("/os-availability-zone", get(quotas::availability_zones))
        .route("/limits", get(quotas::limits))
        .route("/os-quota-sets/{project}", get(quotas::show).put(quotas::update))
        .route("/os-quota-sets/{project}/detail", get(quotas::detail))
        .with_state(api);
    let v21 = Router::new()
        .route("/", get(version))
        .merge(v21)
        .fallback(|| async { ApiError::not_found("The resource could not be found.") });
    Router::new()
        .route("/", get(versions))
        .route("/v2.1/", get(version))
        .route("/v2", get(version_v20))
        .route("/v2/", get(version_v20))
        .nest("/v2.1", with_microversions(v21, &MICROVERSIONS))
        .layer(ferrostack_core::http::body_limit(BODY_LIMIT))
        .layer(axum::middleware::from_fn(ferrostack_core::http::request_id))
}

async fn versions(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    // Nova lists the legacy v2.0 first (clients and tempest expect it), then v2.1.
    Json(json!({"versions": [v20_doc(&base).to_json(), version_doc(&base).to_json()]}))
        .into_response()
}

fn v20_doc(base: &str) -> VersionDoc {
    VersionDoc {
        id: "v2.0".into(),
        status: "SUPPORTED".into(),
        version: String::new(),
        min_version: String::new(),
        updated: "2011-01-21T11:33:21Z".into(),
        href: format!("{base}/v2/"),
        media_type: "application/vnd.openstack.compute".into(),
    }
}

/// The v2.0 version document (the legacy API itself is not served).
async fn version_v20(headers: HeaderMap) -> Response {
    Json(v20_doc(&base_url(&headers)).single()).into_response()
}

fn version_doc(base: &str) -> VersionDoc {
    VersionDoc {
        id: "v2.1".into(),
        status: "CURRENT".into(),
        version: MICROVERSIONS.max.to_string(),
        min_version: MICROVERSIONS.min.to_string(),
        updated: "2013-07-23T11:33:21Z".into(),
        href: format!("{base}/v2.1/"),
        media_type: "application/vnd.openstack.compute".into(),
    }
}

async fn version(headers: HeaderMap) -> Response {
    Json(version_doc(&base_url(&headers)).single()).into_response()
}
