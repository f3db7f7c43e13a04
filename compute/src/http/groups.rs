// SPDX-License-Identifier: Apache-2.0
//! `/os-server-groups`: `policies` (a list of one) before 2.64, `policy` and `rules` since.

use super::views::group_view;
use super::{Call, R, bad, err, parse_body, parse_id};
use crate::api::CreateGroup;
use crate::types::GroupPolicy;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ferrostack_core::http::JsonBody;
use serde::Deserialize;
use serde_json::{Value, json};

/// `GET /os-server-groups`.
pub(super) async fn list(Call { api, ctx, mv, .. }: Call) -> R {
    let g = api.list_groups(&ctx).await.map_err(err)?;
    let list: Vec<Value> = g.iter().map(|g| group_view(g, mv)).collect();
    Ok(Json(json!({ "server_groups": list })).into_response())
}

/// `GET /os-server-groups/{id}`.
pub(super) async fn show(Call { api, ctx, mv, .. }: Call, Path(id): Path<String>) -> R {
    let id = parse_id(&id, "Instance group")?;
    let g = api.get_group(&ctx, id).await.map_err(err)?;
    Ok(Json(json!({"server_group": group_view(&g, mv)})).into_response())
}

#[derive(Deserialize)]
struct CreateBody {
    server_group: CreateFields,
}

#[derive(Deserialize)]
struct CreateFields {
    name: String,
    #[serde(default)]
    policy: Option<String>,
    #[serde(default)]
    policies: Option<Vec<String>>,
    #[serde(default)]
    rules: Option<Rules>,
}

#[derive(Deserialize)]
struct Rules {
    #[serde(default)]
    max_server_per_host: Option<u32>,
}

/// `POST /os-server-groups`.
pub(super) async fn create(Call { api, ctx, mv, .. }: Call, JsonBody(body): JsonBody<Value>) -> R {
    let CreateBody { server_group: b } = parse_body(body, "server_group")?;
    let (policy, max_server_per_host) = if mv.at_least(2, 64) {
        let p = b
            .policy
            .as_deref()
            .and_then(GroupPolicy::parse)
            .ok_or_else(|| bad("Invalid input for field/attribute policy."))?;
        (p, b.rules.and_then(|r| r.max_server_per_host))
    } else {
        let p = b
            .policies
            .filter(|l| l.len() == 1)
            .and_then(|l| GroupPolicy::parse(&l[0]))
            .ok_or_else(|| bad("Invalid input for field/attribute policies."))?;
        if !mv.at_least(2, 15)
            && matches!(p, GroupPolicy::SoftAffinity | GroupPolicy::SoftAntiAffinity)
        {
            return Err(bad("Invalid input for field/attribute policies."));
        }
        (p, None)
    };
    let req = CreateGroup { name: b.name, policy, max_server_per_host };
    let g = api.create_group(&ctx, req).await.map_err(err)?;
    Ok(Json(json!({"server_group": group_view(&g, mv)})).into_response())
}

/// `DELETE /os-server-groups/{id}`.
pub(super) async fn delete(Call { api, ctx, .. }: Call, Path(id): Path<String>) -> R {
    let id = parse_id(&id, "Instance group")?;
    api.delete_group(&ctx, id).await.map_err(err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
