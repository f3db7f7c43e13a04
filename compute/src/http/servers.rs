// SPDX-License-Identifier: Apache-2.0
//! `/servers`: list (with Nova's filters, marker and limit), create, show, update, delete,
//! addresses and remote consoles.

use super::views::{address_map, server_view};
use super::{Call, R, bad, err, links, parse_body, parse_id, query_bool};
use crate::api::{CreateServer, CreateServerBody, Networks, ServerFilter, UpdateServer};
use crate::error::ComputeError;
use axum::Json;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::IntoResponse;
use ferrostack_core::http::{ApiError, JsonBody};
use ferrostack_core::id::{ServerId, truncate_for_message};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;

/// `GET /servers` (`DETAIL` false) and `GET /servers/detail` (`DETAIL` true).
pub(super) async fn list<const DETAIL: bool>(
    Call { api, ctx, mv, base }: Call,
    Query(q): Query<HashMap<String, String>>,
) -> R {
    let changes_since = match q.get("changes-since").or_else(|| q.get("changes_since")) {
        Some(s) => Some(
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| bad("Invalid input for query parameters changes-since."))?,
        ),
        None => None,
    };
    let all_tenants = query_bool(q.get("all_tenants"));
    let f = ServerFilter {
        name: q.get("name").cloned(),
        status: q.get("status").cloned(),
        flavor: q.get("flavor").cloned(),
        image: q.get("image").cloned(),
        host: q.get("host").cloned(),
        all_tenants,
        project_id: q
            .get("project_id")
            .or_else(|| q.get("tenant_id"))
            .cloned()
            .filter(|_| all_tenants),
        reservation_id: q.get("reservation_id").cloned(),
        changes_since,
    };
    let mut servers = api.list_servers(&ctx, &f).await.map_err(err)?;
    if let Some(m) = q.get("marker") {
        let pos = servers
            .iter()
            .position(|s| s.id.to_string() == *m)
            .ok_or_else(|| bad(format!("marker [{}] not found", truncate_for_message(m))))?;
        servers.drain(..=pos);
    }
    let limit = match q.get("limit") {
        Some(l) => {
            Some(l.parse::<usize>().map_err(|_| bad("Invalid input for query parameters limit."))?)
        }
        None => None,
    };
    let more = limit.is_some_and(|l| servers.len() > l);
    if let Some(l) = limit {
        servers.truncate(l);
    }
    let admin = ctx.has_role("admin");
    let list: Vec<Value> = servers
        .iter()
        .map(|s| {
            if DETAIL {
                server_view(s, mv, &base, admin)
            } else {
                json!({"id": s.id.to_string(), "name": s.name, "links": links(&base, "servers", &s.id.to_string())})
            }
        })
        .collect();
    let mut body = json!({ "servers": list });
    if more && let Some(last) = servers.last() {
        let path = if DETAIL { "servers/detail" } else { "servers" };
        body["servers_links"] = json!([{"rel": "next", "href": format!("{base}/v2.1/{path}?limit={}&marker={}", limit.unwrap_or(0), last.id)}]);
    }
    Ok(Json(body).into_response())
}

/// `POST /servers`.
pub(super) async fn create(
    Call { api, ctx, mv, base }: Call,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let req: CreateServer = parse_body::<CreateServerBody>(body, "server")?.into();
    match req.networks {
        Networks::Unspecified if mv.at_least(2, 37) => {
            return Err(bad(
                "Invalid input for field/attribute server. 'networks' is a required property",
            ));
        }
        Networks::Auto | Networks::None if !mv.at_least(2, 37) => {
            return Err(bad("Invalid input for field/attribute networks."));
        }
        _ => {}
    }
    let admin_pass = req
        .admin_pass
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    let return_reservation = req.return_reservation_id;
    let servers = api.create_servers(&ctx, req).await.map_err(err)?;
    if return_reservation {
        let r = servers.first().map(|s| s.reservation_id.clone()).unwrap_or_default();
        return Ok((StatusCode::ACCEPTED, Json(json!({"reservation_id": r}))).into_response());
    }
    let s =
        servers.first().ok_or_else(|| err(ComputeError::Internal("no server created".into())))?;
    let body = json!({"server": {
        "id": s.id.to_string(),
        "links": links(&base, "servers", &s.id.to_string()),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": "default"}],
        "adminPass": admin_pass,
    }});
    let mut resp = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{base}/v2.1/servers/{}", s.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

/// `GET /servers/{id}`.
pub(super) async fn show(Call { api, ctx, mv, base }: Call, Path(id): Path<String>) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    Ok(Json(json!({"server": server_view(&s, mv, &base, ctx.has_role("admin"))})).into_response())
}

/// `GET /servers/{id}/ips`.
pub(super) async fn ips(Call { api, ctx, .. }: Call, Path(id): Path<String>) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    Ok(Json(json!({ "addresses": address_map(&s, false) })).into_response())
}

/// `GET /servers/{id}/ips/{network}`: one network's addresses, 404 when the server has none
/// on it.
pub(super) async fn ips_by_network(
    Call { api, ctx, .. }: Call,
    Path((id, network)): Path<(String, String)>,
) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    let mut all = address_map(&s, false);
    match all.remove(&network) {
        Some(ips) => Ok(Json(json!({ network: ips })).into_response()),
        None => Err(ApiError::not_found("Network could not be found")),
    }
}

/// `PUT /servers/{id}` body.
#[derive(Deserialize)]
struct UpdateBody {
    server: UpdateFields,
}

#[derive(Deserialize)]
struct UpdateFields {
    #[serde(default)]
    name: Option<String>,
    /// Present (even `null`) or absent.
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PUT /servers/{id}`.
pub(super) async fn update(
    Call { api, ctx, mv, base }: Call,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let UpdateBody { server } = parse_body(body, "server")?;
    let req = UpdateServer {
        name: server.name,
        description: server.description.filter(|_| mv.at_least(2, 19)),
    };
    let s = api.update_server(&ctx, id, req).await.map_err(err)?;
    Ok(Json(json!({"server": server_view(&s, mv, &base, ctx.has_role("admin"))})).into_response())
}

/// `DELETE /servers/{id}`.
pub(super) async fn delete(Call { api, ctx, .. }: Call, Path(id): Path<String>) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    api.delete_server(&ctx, id).await.map_err(err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /servers/{id}/remote-consoles` body.
#[derive(Deserialize)]
struct RemoteConsoleBody {
    remote_console: RemoteConsole,
}

#[derive(Deserialize)]
struct RemoteConsole {
    #[serde(default)]
    protocol: Option<String>,
    #[serde(rename = "type", default)]
    console_type: Option<String>,
}

/// `POST /servers/{id}/remote-consoles` (2.6).
pub(super) async fn remote_console(
    Call { api, ctx, .. }: Call,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let id: ServerId = parse_id(&id, "Instance")?;
    let RemoteConsoleBody { remote_console: rc } = parse_body(body, "remote_console")?;
    let protocol = rc.protocol.ok_or_else(|| bad("Invalid input for field/attribute protocol."))?;
    let url = api.console_url(&ctx, id, &protocol).await.map_err(err)?;
    Ok(Json(json!({"remote_console": {
        "protocol": protocol, "type": rc.console_type.unwrap_or_default(), "url": url,
    }}))
    .into_response())
}
