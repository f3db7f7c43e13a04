// SPDX-License-Identifier: Apache-2.0
//! `/flavors` and `/flavors/{id}/os-extra_specs`.

use super::views::flavor_view;
use super::{Call, R, bad, err, parse_body};
use crate::error::ComputeError;
use crate::types::Flavor;
use axum::Json;
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use ferrostack_core::http::JsonBody;
use ferrostack_core::id::truncate_for_message;
use serde::Deserialize;
use serde::de::{self, Deserializer, Error as _, Unexpected};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};

/// `GET /flavors` (`DETAIL` false) and `GET /flavors/detail` (`DETAIL` true).
pub(super) async fn list<const DETAIL: bool>(
    Call { api, ctx, mv, base }: Call,
    Query(q): Query<HashMap<String, String>>,
) -> R {
    let mut flavors = api.list_flavors(&ctx).await.map_err(err)?;
    if let Some(v) = q.get("is_public") {
        match v.to_ascii_lowercase().as_str() {
            "none" => {}
            "false" | "0" | "no" => flavors.retain(|f| !f.is_public),
            _ => flavors.retain(|f| f.is_public),
        }
    } else {
        flavors.retain(|f| f.is_public);
    }
    if let Some(r) = q.get("minRam") {
        let r: u64 = r
            .parse()
            .map_err(|_| bad(format!("Invalid minRam filter [{}]", truncate_for_message(r))))?;
        flavors.retain(|f| f.ram_mb >= r);
    }
    if let Some(d) = q.get("minDisk") {
        let d: u64 = d
            .parse()
            .map_err(|_| bad(format!("Invalid minDisk filter [{}]", truncate_for_message(d))))?;
        flavors.retain(|f| f.disk_gb >= d);
    }
    if let Some(m) = q.get("marker") {
        let pos = flavors
            .iter()
            .position(|f| f.id == *m)
            .ok_or_else(|| bad(format!("marker [{}] not found", truncate_for_message(m))))?;
        flavors.drain(..=pos);
    }
    if let Some(l) = q.get("limit") {
        flavors.truncate(l.parse().map_err(|_| bad("Invalid input for query parameters limit."))?);
    }
    Ok(Json(json!({"flavors": flavors.iter().map(|f| flavor_view(f, mv, &base, DETAIL)).collect::<Vec<_>>()})).into_response())
}

/// `GET /flavors/{id}`.
pub(super) async fn show(Call { api, ctx, mv, base }: Call, Path(id): Path<String>) -> R {
    let f = api.get_flavor(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({"flavor": flavor_view(&f, mv, &base, true)})).into_response())
}

#[derive(Deserialize)]
struct CreateBody {
    flavor: CreateFields,
}

/// Nova's flavor-create body.
#[derive(Deserialize)]
struct CreateFields {
    name: String,
    #[serde(default, deserialize_with = "flavor_id")]
    id: Option<String>,
    #[serde(deserialize_with = "uint")]
    ram: u64,
    #[serde(deserialize_with = "uint")]
    vcpus: u64,
    #[serde(deserialize_with = "uint")]
    disk: u64,
    #[serde(rename = "OS-FLV-EXT-DATA:ephemeral", default, deserialize_with = "opt_uint")]
    ephemeral: Option<u64>,
    #[serde(default, deserialize_with = "swap")]
    swap: Option<u64>,
    #[serde(default)]
    rxtx_factor: Option<f64>,
    #[serde(rename = "os-flavor-access:is_public", default)]
    is_public: Option<bool>,
    #[serde(default)]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrNum {
    S(String),
    N(serde_json::Number),
}

fn not_an_integer<E: de::Error>() -> E {
    E::invalid_type(Unexpected::Other("value"), &"a non-negative integer")
}

/// A non-negative integer, or a string holding one (Nova accepts both).
fn uint<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match StrOrNum::deserialize(d).map_err(|_| not_an_integer::<D::Error>())? {
        StrOrNum::N(n) => n.as_u64(),
        StrOrNum::S(s) => s.parse().ok(),
    }
    .ok_or_else(not_an_integer)
}

fn opt_uint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    struct W(#[serde(deserialize_with = "uint")] u64);
    Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
}

/// `swap`: an integer, or `""` for none.
fn swap<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<StrOrNum>::deserialize(d).map_err(|_| not_an_integer::<D::Error>())? {
        None => Ok(None),
        Some(StrOrNum::S(s)) if s.is_empty() => Ok(Some(0)),
        Some(StrOrNum::S(s)) => s.parse().map(Some).map_err(|_| not_an_integer()),
        Some(StrOrNum::N(n)) => n.as_u64().map(Some).ok_or_else(not_an_integer),
    }
}

/// A flavor id: a string or a number; absent or `null` to generate one.
fn flavor_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<StrOrNum>::deserialize(d)
        .map_err(|_| D::Error::invalid_type(Unexpected::Other("value"), &"a string"))?
    {
        None => Ok(None),
        Some(StrOrNum::S(s)) => Ok(Some(s)),
        Some(StrOrNum::N(n)) => Ok(Some(n.to_string())),
    }
}

/// `POST /flavors` (admin).
pub(super) async fn create(
    Call { api, ctx, mv, base }: Call,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let CreateBody { flavor: b } = parse_body(body, "flavor")?;
    let id = b.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let vcpus =
        u32::try_from(b.vcpus).map_err(|_| bad("Invalid input for field/attribute vcpus."))?;
    let mut f = Flavor::new(&id, &b.name, b.ram, vcpus, b.disk);
    f.ephemeral_gb = b.ephemeral.unwrap_or(0);
    f.swap_mb = b.swap.unwrap_or(0);
    if let Some(r) = b.rxtx_factor {
        f.rxtx_factor = r;
    }
    if let Some(p) = b.is_public {
        f.is_public = p;
    }
    if mv.at_least(2, 55) {
        f.description = b.description;
    }
    let f = api.create_flavor(&ctx, f).await.map_err(err)?;
    Ok(Json(json!({"flavor": flavor_view(&f, mv, &base, true)})).into_response())
}

/// `DELETE /flavors/{id}` (admin).
pub(super) async fn delete(Call { api, ctx, .. }: Call, Path(id): Path<String>) -> R {
    api.delete_flavor(&ctx, &id).await.map_err(err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `GET /flavors/{id}/os-extra_specs`.
pub(super) async fn list_extra_specs(Call { api, ctx, .. }: Call, Path(id): Path<String>) -> R {
    let f = api.get_flavor(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({"extra_specs": f.extra_specs})).into_response())
}

#[derive(Deserialize)]
struct ExtraSpecsBody {
    #[serde(deserialize_with = "spec_map")]
    extra_specs: BTreeMap<String, String>,
}

/// A map of strings; anything else is refused as an invalid `extra_specs`.
fn spec_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    BTreeMap::<String, String>::deserialize(d)
        .map_err(|_| D::Error::custom("Invalid input for field/attribute extra_specs."))
}

/// `POST /flavors/{id}/os-extra_specs` (admin).
pub(super) async fn set_extra_specs(
    Call { api, ctx, .. }: Call,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let ExtraSpecsBody { extra_specs } = parse_body(body, "extra_specs")?;
    if extra_specs.is_empty() {
        return Err(bad("Invalid input for field/attribute extra_specs."));
    }
    let set = api.set_extra_specs(&ctx, &id, extra_specs).await.map_err(err)?;
    Ok(Json(json!({ "extra_specs": set })).into_response())
}

/// `GET /flavors/{id}/os-extra_specs/{key}`.
pub(super) async fn show_extra_spec(
    Call { api, ctx, .. }: Call,
    Path((id, key)): Path<(String, String)>,
) -> R {
    let f = api.get_flavor(&ctx, &id).await.map_err(err)?;
    let v = f.extra_specs.get(&key).ok_or_else(|| {
        err(ComputeError::NotFound { what: "Flavor extra spec", id: key.clone() })
    })?;
    Ok(Json(json!({ key: v })).into_response())
}

/// `PUT /flavors/{id}/os-extra_specs/{key}` (admin): the body is `{key: value}`.
pub(super) async fn update_extra_spec(
    Call { api, ctx, .. }: Call,
    Path((id, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let one: BTreeMap<String, Value> = serde_json::from_value(body)
        .ok()
        .filter(|m: &BTreeMap<String, Value>| m.len() == 1)
        .ok_or_else(|| bad("Request body contains too many items"))?;
    let v = one
        .get(&key)
        .and_then(Value::as_str)
        .ok_or_else(|| bad("Request body and URI mismatch"))?;
    let set = api
        .set_extra_specs(&ctx, &id, BTreeMap::from([(key.clone(), v.to_owned())]))
        .await
        .map_err(err)?;
    Ok(Json(json!(set)).into_response())
}

/// `DELETE /flavors/{id}/os-extra_specs/{key}` (admin).
pub(super) async fn delete_extra_spec(
    Call { api, ctx, .. }: Call,
    Path((id, key)): Path<(String, String)>,
) -> R {
    api.unset_extra_spec(&ctx, &id, &key).await.map_err(err)?;
    Ok(StatusCode::OK.into_response())
}
