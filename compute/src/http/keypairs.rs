// SPDX-License-Identifier: Apache-2.0
//! `/os-keypairs`.

use super::views::keypair_view;
use super::{Call, R, bad, err, parse_body, ts_micro};
use crate::api::CreateKeypair;
use crate::types::KeypairType;
use axum::Json;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ferrostack_core::http::JsonBody;
use serde::Deserialize;
use serde_json::{Value, json};

/// `GET /os-keypairs`.
pub(super) async fn list(Call { api, ctx, mv, .. }: Call) -> R {
    let k = api.list_keypairs(&ctx).await.map_err(err)?;
    let list: Vec<Value> =
        k.iter().map(|k| json!({"keypair": keypair_view(k, mv, false)})).collect();
    Ok(Json(json!({ "keypairs": list })).into_response())
}

/// `GET /os-keypairs/{name}`.
pub(super) async fn show(Call { api, ctx, mv, .. }: Call, Path(name): Path<String>) -> R {
    let k = api.get_keypair(&ctx, &name).await.map_err(err)?;
    let mut v = keypair_view(&k, mv, true);
    v["created_at"] = json!(ts_micro(k.created_at));
    v["deleted"] = json!(false);
    v["deleted_at"] = Value::Null;
    v["updated_at"] = Value::Null;
    v["id"] = json!(1);
    Ok(Json(json!({ "keypair": v })).into_response())
}

#[derive(Deserialize)]
struct CreateBody {
    keypair: CreateFields,
}

#[derive(Deserialize)]
struct CreateFields {
    name: String,
    #[serde(default)]
    public_key: Option<String>,
    #[serde(rename = "type", default)]
    key_type: Option<String>,
}

/// `POST /os-keypairs`: imports `public_key`, or generates a key pair.
pub(super) async fn create(Call { api, ctx, mv, .. }: Call, JsonBody(body): JsonBody<Value>) -> R {
    let CreateBody { keypair: b } = parse_body(body, "keypair")?;
    let key_type = match b.key_type.as_deref() {
        None | Some("ssh") => KeypairType::Ssh,
        Some("x509") if mv.at_least(2, 2) => KeypairType::X509,
        _ => return Err(bad("Invalid input for field/attribute type.")),
    };
    let req = CreateKeypair { name: b.name, public_key: b.public_key, key_type };
    let k = api.create_keypair(&ctx, req).await.map_err(err)?;
    let status = if mv.at_least(2, 2) { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"keypair": keypair_view(&k, mv, true)}))).into_response())
}

/// `DELETE /os-keypairs/{name}`.
pub(super) async fn delete(Call { api, ctx, mv, .. }: Call, Path(name): Path<String>) -> R {
    api.delete_keypair(&ctx, &name).await.map_err(err)?;
    Ok(if mv.at_least(2, 2) { StatusCode::NO_CONTENT } else { StatusCode::ACCEPTED }
        .into_response())
}
