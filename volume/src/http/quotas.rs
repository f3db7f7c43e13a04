// SPDX-License-Identifier: Apache-2.0
//! `/os-quota-sets`: show (with usage), defaults, update.

use super::body::{QuotaSetBody, QuotaSetFields, parse};
use super::router::{AppState, check_project, err};
use super::views::quota_json;
use crate::api::QuotaUpdate;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use ferrostack_core::http::{ApiError, Ctx, JsonBody};
use ferrostack_core::id::ProjectId;
use serde_json::Value;
use std::collections::HashMap;

pub(super) fn quota_target(target: &str) -> Result<ProjectId, ApiError> {
    target
        .parse::<ProjectId>()
        .map_err(|_| ApiError::bad_request("Invalid input received: invalid project id"))
}

pub(super) async fn show_quotas(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, target)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let tp = quota_target(&target)?;
    let (limits, usage) = s.api.get_quotas(&ctx, &tp).await.map_err(err)?;
    let with_usage = q.get("usage").is_some_and(|u| u.eq_ignore_ascii_case("true"));
    Ok(Json(quota_json(&target, &limits, with_usage.then_some(&usage))).into_response())
}

pub(super) async fn default_quotas(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, target)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    quota_target(&target)?;
    Ok(Json(quota_json(&target, &s.api.default_quotas(), None)).into_response())
}

pub(super) async fn update_quotas(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, target)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let tp = quota_target(&target)?;
    let QuotaSetBody {
        quota_set: QuotaSetFields { volumes, gigabytes, snapshots, per_volume_gigabytes, other, .. },
    } = parse(body)?;
    let change = QuotaUpdate { volumes, gigabytes, snapshots, per_volume_gigabytes };
    let bad: Vec<&str> = other.keys().map(String::as_str).collect();
    if !bad.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Bad key(s) in quota set: {}",
            ferrostack_core::id::truncate_for_message(&bad.join(", "))
        )));
    }
    let l = s.api.update_quotas(&ctx, &tp, change).await.map_err(err)?;
    Ok(Json(quota_json(&target, &l, None)).into_response())
}
