// SPDX-License-Identifier: Apache-2.0
//! `/limits`, `/os-quota-sets` and `/os-availability-zone`.

use super::views::quota_view;
use super::{Call, R, bad, err, parse_body};
use crate::error::ComputeError;
use axum::Json;
use axum::extract::Path;
use axum::response::IntoResponse;
use ferrostack_core::http::JsonBody;
use ferrostack_core::id::{ProjectId, truncate_for_message};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// `GET /os-availability-zone`.
pub(super) async fn availability_zones(Call { api, ctx, .. }: Call) -> R {
    let z = api.availability_zones(&ctx).await.map_err(err)?;
    Ok(Json(json!({"availabilityZoneInfo": z.iter().map(|z| json!({"zoneName": z.name, "zoneState": {"available": z.available}, "hosts": Value::Null})).collect::<Vec<_>>()})).into_response())
}

/// `GET /limits`.
pub(super) async fn limits(Call { api, ctx, mv, .. }: Call) -> R {
    let project = ctx
        .project_id()
        .cloned()
        .ok_or_else(|| err(ComputeError::Forbidden("a project-scoped token is required".into())))?;
    let (l, u) = api.quotas(&ctx, &project).await.map_err(err)?;
    let groups = api.list_groups(&ctx).await.map(|g| g.len()).unwrap_or(0);
    let mut abs = json!({
        "maxTotalInstances": l.instances, "maxTotalCores": l.cores, "maxTotalRAMSize": l.ram,
        "maxServerMeta": l.metadata_items, "maxTotalKeypairs": l.key_pairs,
        "maxServerGroups": l.server_groups, "maxServerGroupMembers": l.server_group_members,
        "totalInstancesUsed": u.instances, "totalCoresUsed": u.cores, "totalRAMUsed": u.ram,
        "totalServerGroupsUsed": groups,
    });
    if !mv.at_least(2, 57) {
        abs["maxImageMeta"] = json!(128);
        abs["maxPersonality"] = json!(5);
        abs["maxPersonalitySize"] = json!(10240);
    }
    if !mv.at_least(2, 36) {
        for k in ["maxSecurityGroups", "maxSecurityGroupRules", "maxTotalFloatingIps"] {
            abs[k] = json!(-1);
        }
        for k in ["totalSecurityGroupsUsed", "totalFloatingIpsUsed"] {
            abs[k] = json!(0);
        }
    }
    Ok(Json(json!({"limits": {"rate": [], "absolute": abs}})).into_response())
}

/// `GET /os-quota-sets/{project}` (and `/detail`).
pub(super) async fn show(Call { api, ctx, mv, .. }: Call, Path(project): Path<String>) -> R {
    let p = ProjectId::try_from(project.clone()).map_err(|_| bad("Invalid project id."))?;
    let (l, _) = api.quotas(&ctx, &p).await.map_err(err)?;
    Ok(Json(json!({"quota_set": quota_view(&project, &l, mv)})).into_response())
}

/// `GET /os-quota-sets/{project}/detail`: each resource's `limit`, `in_use` and `reserved`.
pub(super) async fn detail(Call { api, ctx, .. }: Call, Path(project): Path<String>) -> R {
    let p = ProjectId::try_from(project.clone()).map_err(|_| bad("Invalid project id."))?;
    let (l, u) = api.quotas(&ctx, &p).await.map_err(err)?;
    let item = |limit: i64, in_use: i64| json!({"limit": limit, "in_use": in_use, "reserved": 0});
    Ok(Json(json!({"quota_set": {
        "id": project,
        "instances": item(l.instances, u.instances),
        "cores": item(l.cores, u.cores),
        "ram": item(l.ram, u.ram),
        "key_pairs": item(l.key_pairs, 0),
        "metadata_items": item(l.metadata_items, 0),
        "server_groups": item(l.server_groups, 0),
        "server_group_members": item(l.server_group_members, 0),
    }}))
    .into_response())
}

#[derive(Deserialize)]
struct UpdateBody {
    quota_set: BTreeMap<String, QuotaValue>,
}

/// A limit: an integer or a string holding one (`force` is a boolean and ignored).
#[derive(Deserialize)]
#[serde(untagged)]
enum QuotaValue {
    N(i64),
    S(String),
    Other(serde::de::IgnoredAny),
}

/// `PUT /os-quota-sets/{project}` (admin).
pub(super) async fn update(
    Call { api, ctx, mv, .. }: Call,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let p = ProjectId::try_from(project.clone()).map_err(|_| bad("Invalid project id."))?;
    let UpdateBody { quota_set } = parse_body(body, "quota_set")?;
    let (mut l, _) = api.quotas(&ctx, &p).await.map_err(err)?;
    for (k, v) in quota_set {
        let slot = match k.as_str() {
            "instances" => &mut l.instances,
            "cores" => &mut l.cores,
            "ram" => &mut l.ram,
            "key_pairs" => &mut l.key_pairs,
            "metadata_items" => &mut l.metadata_items,
            "server_groups" => &mut l.server_groups,
            "server_group_members" => &mut l.server_group_members,
            "force" => continue,
            _ => {
                return Err(bad(format!(
                    "Invalid input for field/attribute quota_set. Additional properties are not allowed ('{}' was unexpected)",
                    truncate_for_message(&k)
                )));
            }
        };
        *slot = match v {
            QuotaValue::N(n) => Some(n),
            QuotaValue::S(s) => s.parse().ok(),
            QuotaValue::Other(_) => None,
        }
        .ok_or_else(|| bad(format!("Invalid input for field/attribute {k}.")))?;
    }
    let l = api.set_quotas(&ctx, &p, l).await.map_err(err)?;
    let mut v = quota_view(&project, &l, mv);
    if let Some(m) = v.as_object_mut() {
        m.remove("id");
    }
    Ok(Json(json!({ "quota_set": v })).into_response())
}
