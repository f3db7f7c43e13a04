// SPDX-License-Identifier: Apache-2.0
//! The Cinder v3 REST API over any [`VolumeApi`].
//!
//! [`router`] serves, relative to its mount point (the facade mounts it at `/volume`; the
//! catalog entry is type `block-storage` (alias `volumev3`) with URL
//! `<public>/volume/v3/$(project_id)s`):
//!
//! * `GET /` (300, `{"versions": [...]}`) and `GET /v3/` (`{"version": {...}}`): discovery,
//!   microversions 3.0 to [`MAX_MICROVERSION`];
//! * `/v3/{project_id}/volumes` (+ `/detail`, `?name=`, `?status=`, `?all_tenants=`,
//!   `limit`/`marker`), `/volumes/{id}` (GET, PUT, DELETE), `/volumes/{id}/action`
//!   (`os-extend`, `os-volume_upload_image`, `os-retype`);
//! * `/snapshots` (+ `/detail`), `/snapshots/{id}`;
//! * `/types`, `/types/{id}` (`default` too), `/types/{id}/extra_specs`;
//! * `/attachments` (3.27+, + `/detail`), `/attachments/{id}` (GET, PUT with a connector,
//!   DELETE), `/attachments/{id}/action` (`os-complete`, 3.44+);
//! * `/os-quota-sets/{project}` (GET with `?usage=True`, PUT) and `/defaults`.
//!
//! The caller's [`RequestContext`] must be in the request extensions (identity's auth layer
//! puts it there); without it the answer is 401. Errors use Cinder's body style
//! (`{"itemNotFound": {"code": 404, "message": ...}}`) and Cinder's messages.

use crate::VolumeError;
use crate::backend::DiskFormat;
use crate::service::{
    CreateVolume, CreateVolumeType, ListFilter, MigrationPolicy, QuotaUpdate, UpdateVolume,
    UploadToImage, VolumeApi,
};
use crate::types::*;
use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, request::Parts};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use ferrostack_core::RequestContext;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::http::{
    ApiError, ErrorStyle, JsonBody, VersionDoc, body_limit, with_error_style,
};
use ferrostack_core::id::{ImageId, ProjectId, ServerId, SnapshotId, VolumeId};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use time::OffsetDateTime;

/// The highest microversion served.
pub const MAX_MICROVERSION: u16 = 60;
/// The header carrying the microversion.
pub const API_VERSION_HEADER: &str = "openstack-api-version";

#[derive(Clone)]
struct AppState {
    api: Arc<dyn VolumeApi>,
}

/// The negotiated microversion's minor number (3.x).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Microversion(pub u16);

/// The request's [`RequestContext`], or a 401.
#[derive(Debug, Clone)]
struct Ctx(RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<RequestContext>().cloned().map(Ctx).ok_or_else(|| {
            ApiError::new(
                ErrorKind::Unauthenticated,
                "The request you have made requires authentication.",
            )
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Microversion {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Ok(parts.extensions.get::<Microversion>().copied().unwrap_or(Microversion(0)))
    }
}

fn err(e: VolumeError) -> ApiError {
    match &e {
        VolumeError::Backend { source, .. } if e.kind() != ErrorKind::Internal => {
            ApiError::new(e.kind(), format!("{e}: {source}"))
        }
        _ => ApiError::from_error(&e),
    }
}

fn fmt_time(t: OffsetDateTime) -> String {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]"
    );
    t.to_offset(time::UtcOffset::UTC).format(&f).unwrap_or_default()
}

fn fmt_opt(t: Option<OffsetDateTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(fmt_time(t)))
}

fn version_doc(mv_max: u16) -> VersionDoc {
    VersionDoc {
        id: "v3.0".into(),
        status: "CURRENT".into(),
        version: format!("3.{mv_max}"),
        min_version: "3.0".into(),
        updated: "2023-08-31T00:00:00Z".into(),
        href: "v3/".into(),
        media_type: "application/vnd.openstack.volume".into(),
    }
}

/// Parses `OpenStack-API-Version: volume 3.x` into the minor number; `None` when absent.
pub fn parse_microversion(header: &str) -> Result<Option<u16>, String> {
    for part in header.split(',') {
        let mut it = part.split_whitespace();
        let (Some(service), Some(ver)) = (it.next(), it.next()) else { continue };
        if !service.eq_ignore_ascii_case("volume") {
            continue;
        }
        if ver.eq_ignore_ascii_case("latest") {
            return Ok(Some(MAX_MICROVERSION));
        }
        let (major, minor) =
            ver.split_once('.').ok_or_else(|| format!("Invalid API version request: {ver:?}"))?;
        let major: u16 =
            major.parse().map_err(|_| format!("Invalid API version request: {ver:?}"))?;
        let minor: u16 =
            minor.parse().map_err(|_| format!("Invalid API version request: {ver:?}"))?;
        if major != 3 || minor > MAX_MICROVERSION {
            return Err(format!(
                "Version {major}.{minor} is not supported by the API. Minimum is 3.0 and maximum is 3.{MAX_MICROVERSION}."
            ));
        }
        return Ok(Some(minor));
    }
    Ok(None)
}

async fn microversion(mut req: Request, next: Next) -> Response {
    let header =
        req.headers().get(API_VERSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let minor = match header.as_deref().map(parse_microversion) {
        None | Some(Ok(None)) => 0,
        Some(Ok(Some(m))) => m,
        Some(Err(msg)) => {
            let status = if msg.starts_with("Version") {
                StatusCode::NOT_ACCEPTABLE
            } else {
                StatusCode::BAD_REQUEST
            };
            let fault =
                if status == StatusCode::NOT_ACCEPTABLE { "notAcceptable" } else { "badRequest" };
            return (status, Json(json!({ fault: { "code": status.as_u16(), "message": msg } })))
                .into_response();
        }
    };
    req.extensions_mut().insert(Microversion(minor));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&format!("volume 3.{minor}")) {
        resp.headers_mut().insert(API_VERSION_HEADER, v);
        resp.headers_mut().insert("vary", HeaderValue::from_static(API_VERSION_HEADER));
    }
    resp
}

/// The Cinder v3 router. See the [module documentation](self).
pub fn router(api: Arc<dyn VolumeApi>) -> Router {
    let v3 = Router::new()
        .route("/volumes", get(list_volumes_summary).post(create_volume))
        .route("/volumes/detail", get(list_volumes_detail))
        .route("/volumes/{id}", get(show_volume).put(update_volume).delete(delete_volume))
        .route("/volumes/{id}/action", post(volume_action))
        .route("/snapshots", get(list_snapshots_summary).post(create_snapshot))
        .route("/snapshots/detail", get(list_snapshots_detail))
        .route("/snapshots/{id}", get(show_snapshot).put(update_snapshot).delete(delete_snapshot))
        .route("/types", get(list_types).post(create_type))
        .route("/types/{id}", get(show_type).delete(delete_type))
        .route("/types/{id}/extra_specs", get(show_extra_specs).post(set_extra_specs))
        .route("/attachments", get(list_attachments_summary).post(create_attachment))
        .route("/attachments/detail", get(list_attachments_detail))
        .route(
            "/attachments/{id}",
            get(show_attachment).put(update_attachment).delete(delete_attachment),
        )
        .route("/attachments/{id}/action", post(attachment_action))
        .route("/os-quota-sets/{target}", get(show_quotas).put(update_quotas))
        .route("/os-quota-sets/{target}/defaults", get(default_quotas))
        .layer(axum::middleware::from_fn(microversion));
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
    ferrostack_core::http::multiple_choices(&[version_doc(MAX_MICROVERSION)], false)
}

async fn version() -> Response {
    Json(version_doc(MAX_MICROVERSION).single()).into_response()
}

// ---- input helpers -------------------------------------------------------------------------

fn invalid(field: &str, v: &Value, why: &str) -> ApiError {
    let shown = ferrostack_core::id::truncate_for_message(&v.to_string());
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {shown}. {why}"
    ))
}

fn root<'a>(body: &'a Value, key: &str) -> Result<&'a Map<String, Value>, ApiError> {
    match body.get(key) {
        Some(Value::Object(m)) => Ok(m),
        Some(other) => Err(invalid(key, other, "is not of type 'object'")),
        None => Err(ApiError::bad_request(format!(
            "Invalid input received: '{key}' is a required property"
        ))),
    }
}

fn opt_str(m: &Map<String, Value>, key: &str, max: usize) -> Result<Option<String>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() <= max => Ok(Some(s.clone())),
        Some(v @ Value::String(_)) => Err(invalid(key, v, &format!("is too long (maximum {max})"))),
        Some(v) => Err(invalid(key, v, "is not of type 'string'")),
    }
}

fn opt_bool(m: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" | "t" | "y" => Ok(Some(true)),
            "false" | "0" | "no" | "off" | "f" | "n" => Ok(Some(false)),
            _ => Err(ApiError::bad_request(format!(
                "Invalid value '{}' for {key}.",
                ferrostack_core::id::truncate_for_message(s)
            ))),
        },
        Some(v) => Err(invalid(key, v, "is not of type 'boolean'")),
    }
}

fn size_value(key: &str, v: &Value) -> Result<Option<u64>, ApiError> {
    let n: i128 = match v {
        Value::Null => return Ok(None),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i128::from(i),
            None if n.as_u64().is_some() => i128::from(n.as_u64().unwrap_or(u64::MAX)),
            None => {
                return Err(invalid(key, v, &format!("{n} is not of type 'integer', 'string'")));
            }
        },
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i128>().unwrap_or(i128::MAX)
        }
        Value::String(s) => {
            return Err(invalid(
                key,
                v,
                &format!(
                    "'{}' does not match '^[0-9]+$'",
                    ferrostack_core::id::truncate_for_message(s)
                ),
            ));
        }
        _ => return Err(invalid(key, v, "is not of type 'integer', 'string'")),
    };
    if n < 1 {
        return Err(invalid(key, v, &format!("{n} is less than the minimum of 1")));
    }
    if n > i128::from(MAX_SIZE_GB) {
        return Err(invalid(key, v, &format!("{n} is greater than the maximum of {MAX_SIZE_GB}")));
    }
    Ok(Some(n as u64))
}

fn opt_metadata(
    m: &Map<String, Value>,
    key: &str,
) -> Result<Option<BTreeMap<String, String>>, ApiError> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                other => Err(invalid(key, other, "metadata values must be strings")),
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(v) => Err(invalid(key, v, "is not of type 'object'")),
    }
}

fn uuid_field<T: std::str::FromStr>(
    m: &Map<String, Value>,
    key: &str,
) -> Result<Option<T>, ApiError> {
    match opt_str(m, key, 255)? {
        None => Ok(None),
        Some(s) => s
            .parse::<T>()
            .map(Some)
            .map_err(|_| invalid(key, &Value::String(s.clone()), "is not a 'uuid'")),
    }
}

fn check_project(ctx: &RequestContext, project: &str) -> Result<(), ApiError> {
    if ctx.project_id().map(ProjectId::as_str) != Some(project) {
        return Err(ApiError::bad_request("Malformed request url"));
    }
    Ok(())
}

fn parse_list_query(q: &HashMap<String, String>) -> Result<ListFilter, ApiError> {
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

fn parse_id<T: std::str::FromStr>(
    s: &str,
    nf: impl FnOnce() -> VolumeError,
) -> Result<T, ApiError> {
    s.parse::<T>().map_err(|_| err(nf()))
}

fn need(mv: Microversion, minor: u16) -> Result<(), ApiError> {
    if mv.0 < minor {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    Ok(())
}

// ---- views ---------------------------------------------------------------------------------

fn link(project: &str, kind: &str, id: &str) -> Value {
    json!([{ "rel": "self", "href": format!("v3/{project}/{kind}/{id}") },
           { "rel": "bookmark", "href": format!("{project}/{kind}/{id}") }])
}

/// Cinder's volume view. `extended` adds what Cinder's API extensions add to show and detail
/// only (tenant attribute, image metadata, admin host attributes): create and update
/// responses do not carry them, and strict clients (tempest's schemas) refuse them there.
/// `volume_type_id` appears from microversion 3.63.
fn volume_view(
    v: &Volume,
    attachments: &[Attachment],
    admin: bool,
    mv: Microversion,
    extended: bool,
) -> Value {
    let atts: Vec<Value> = attachments
        .iter()
        .filter(|a| a.volume_id == v.id && a.attach_status == AttachStatus::Attached)
        .map(|a| {
            json!({
                "server_id": a.instance_uuid.map(|s| s.to_string()),
                "attachment_id": a.id.to_string(),
                "attached_at": fmt_opt(a.attach_time),
                "host_name": a.attached_host,
                "volume_id": v.id.to_string(),
                "device": a.mountpoint,
                "id": v.id.to_string(),
            })
        })
        .collect();
    let (snapshot_id, source_volid) = match &v.source {
        VolumeSource::Snapshot { id } => (Some(id.to_string()), None),
        VolumeSource::Volume { id } => (None, Some(id.to_string())),
        _ => (None, None),
    };
    let mut out = json!({
        "id": v.id.to_string(),
        "name": v.name,
        "description": v.description,
        "status": v.status.as_str(),
        "size": v.size_gb,
        "availability_zone": v.availability_zone,
        "created_at": fmt_time(v.created_at),
        "updated_at": fmt_opt(v.updated_at),
        "volume_type": v.volume_type_name,
        "snapshot_id": snapshot_id,
        "source_volid": source_volid,
        "metadata": v.metadata,
        "bootable": if v.bootable { "true" } else { "false" },
        "encrypted": false,
        "multiattach": v.multiattach,
        "replication_status": "disabled",
        "consistencygroup_id": null,
        "group_id": null,
        "migration_status": null,
        "shared_targets": false,
        "service_uuid": null,
        "user_id": v.user_id.as_str(),
        "attachments": atts,
        "links": link(v.project_id.as_str(), "volumes", &v.id.to_string()),
    });
    if mv.0 >= 63 {
        out["volume_type_id"] = json!(v.volume_type_id.to_string());
    }
    if !extended {
        return out;
    }
    out["os-vol-tenant-attr:tenant_id"] = json!(v.project_id.as_str());
    if !v.image_metadata.is_empty() {
        out["volume_image_metadata"] = json!(v.image_metadata);
    }
    if admin {
        out["os-vol-host-attr:host"] =
            json!(v.backend.as_ref().map(|b| format!("ferrostack@{b}#{b}")));
        out["os-vol-mig-status-attr:migstat"] = Value::Null;
    }
    out
}

fn snapshot_view(s: &Snapshot) -> Value {
    json!({
        "id": s.id.to_string(),
        "name": s.name,
        "description": s.description,
        "volume_id": s.volume_id.to_string(),
        "status": s.status.as_str(),
        "size": s.size_gb,
        "metadata": s.metadata,
        "created_at": fmt_time(s.created_at),
        "updated_at": fmt_opt(s.updated_at),
        "user_id": s.user_id.as_str(),
        "group_snapshot_id": null,
        "consumes_quota": true,
        "os-extended-snapshot-attributes:progress": if s.status == SnapshotStatus::Available { "100%" } else { "0%" },
        "os-extended-snapshot-attributes:project_id": s.project_id.as_str(),
    })
}

fn type_view(t: &VolumeType) -> Value {
    json!({
        "id": t.id.to_string(),
        "name": t.name,
        "description": t.description,
        "is_public": t.is_public,
        "os-volume-type-access:is_public": t.is_public,
        "extra_specs": t.extra_specs,
        "qos_specs_id": null,
    })
}

fn attachment_view(a: &Attachment) -> Value {
    json!({
        "id": a.id.to_string(),
        "status": a.attach_status.as_str(),
        "instance": a.instance_uuid.map(|s| s.to_string()),
        "volume_id": a.volume_id.to_string(),
        "attached_at": fmt_opt(a.attach_time),
        "detached_at": fmt_opt(a.detach_time),
        "attach_mode": a.attach_mode,
        "connection_info": a.connection_info.as_ref().map(|c| c.to_cinder_attachment_json(&a.id)),
    })
}

fn attachment_summary(a: &Attachment) -> Value {
    json!({
        "id": a.id.to_string(),
        "status": a.attach_status.as_str(),
        "instance": a.instance_uuid.map(|s| s.to_string()),
        "volume_id": a.volume_id.to_string(),
    })
}

// ---- volumes -------------------------------------------------------------------------------

async fn create_volume(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let m = root(&body, "volume")?;
    let size_gb = size_value("size", m.get("size").unwrap_or(&Value::Null))?;
    let name = match opt_str(m, "name", MAX_NAME_LEN)? {
        Some(n) => Some(n),
        None => opt_str(m, "display_name", MAX_NAME_LEN)?,
    };
    let description = match opt_str(m, "description", MAX_DESCRIPTION_LEN)? {
        Some(d) => Some(d),
        None => opt_str(m, "display_description", MAX_DESCRIPTION_LEN)?,
    };
    let image = match opt_str(m, "imageRef", 255)? {
        Some(i) => Some(i),
        None => opt_str(m, "image_id", 255)?,
    };
    let image_id = match image {
        None => None,
        Some(i) => Some(i.parse::<ImageId>().map_err(|_| {
            err(VolumeError::NotFound {
                kind: "Image",
                id: ferrostack_core::id::truncate_for_message(&i),
            })
        })?),
    };
    for unsupported in ["backup_id", "consistencygroup_id", "group_id", "source_replica"] {
        if m.get(unsupported).is_some_and(|v| !v.is_null()) {
            return Err(ApiError::bad_request(format!(
                "Invalid input received: {unsupported} is not supported"
            )));
        }
    }
    let req = CreateVolume {
        name,
        description,
        size_gb,
        volume_type: opt_str(m, "volume_type", 255)?,
        snapshot_id: uuid_field::<SnapshotId>(m, "snapshot_id")?,
        source_volid: uuid_field::<VolumeId>(m, "source_volid")?,
        image_id,
        multiattach: opt_bool(m, "multiattach")?.unwrap_or(false),
        metadata: opt_metadata(m, "metadata")?.unwrap_or_default(),
        availability_zone: opt_str(m, "availability_zone", 255)?,
    };
    let v = s.api.create_volume(&ctx, req).await.map_err(err)?;
    let admin = crate::policy::is_admin(&ctx);
    Ok((StatusCode::ACCEPTED, Json(json!({ "volume": volume_view(&v, &[], admin, mv, false) })))
        .into_response())
}

async fn list_volumes(
    s: &AppState,
    ctx: &RequestContext,
    project: &str,
    q: &HashMap<String, String>,
    detail: bool,
    mv: Microversion,
) -> Result<Response, ApiError> {
    check_project(ctx, project)?;
    let filter = parse_list_query(q)?;
    let vols = s.api.list_volumes(ctx, &filter).await.map_err(err)?;
    if !detail {
        let items: Vec<Value> = vols
            .iter()
            .map(|v| json!({"id": v.id.to_string(), "name": v.name, "links": link(v.project_id.as_str(), "volumes", &v.id.to_string())}))
            .collect();
        return Ok(Json(json!({ "volumes": items })).into_response());
    }
    let atts = s.api.list_attachments(ctx, None, filter.all_projects).await.map_err(err)?;
    let admin = crate::policy::is_admin(ctx);
    let items: Vec<Value> = vols.iter().map(|v| volume_view(v, &atts, admin, mv, true)).collect();
    Ok(Json(json!({ "volumes": items })).into_response())
}

async fn list_volumes_summary(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    list_volumes(&s, &ctx, &project, &q, false, mv).await
}

async fn list_volumes_detail(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    list_volumes(&s, &ctx, &project, &q, true, mv).await
}

async fn show_volume(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let id: VolumeId = parse_id(&id, || {
        VolumeError::volume_not_found(ferrostack_core::id::truncate_for_message(&id))
    })?;
    let v = s.api.get_volume(&ctx, &id).await.map_err(err)?;
    let atts = s.api.list_attachments(&ctx, Some(&id), true).await.map_err(err)?;
    Ok(Json(json!({ "volume": volume_view(&v, &atts, crate::policy::is_admin(&ctx), mv, true) }))
        .into_response())
}

async fn update_volume(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let id: VolumeId = parse_id(&id, || {
        VolumeError::volume_not_found(ferrostack_core::id::truncate_for_message(&id))
    })?;
    let m = root(&body, "volume")?;
    let change = UpdateVolume {
        name: match opt_str(m, "name", MAX_NAME_LEN)? {
            Some(n) => Some(n),
            None => opt_str(m, "display_name", MAX_NAME_LEN)?,
        },
        description: match opt_str(m, "description", MAX_DESCRIPTION_LEN)? {
            Some(d) => Some(d),
            None => opt_str(m, "display_description", MAX_DESCRIPTION_LEN)?,
        },
        metadata: opt_metadata(m, "metadata")?,
    };
    let v = s.api.update_volume(&ctx, &id, change).await.map_err(err)?;
    let atts = s.api.list_attachments(&ctx, Some(&id), true).await.map_err(err)?;
    Ok(Json(json!({ "volume": volume_view(&v, &atts, crate::policy::is_admin(&ctx), mv, false) }))
        .into_response())
}

async fn delete_volume(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let id: VolumeId = parse_id(&id, || {
        VolumeError::volume_not_found(ferrostack_core::id::truncate_for_message(&id))
    })?;
    s.api.delete_volume(&ctx, &id).await.map_err(err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

fn single_action(body: &Value) -> Result<(&str, &Value), ApiError> {
    match body {
        Value::Object(m) if m.len() == 1 => {
            let (k, v) =
                m.iter().next().ok_or_else(|| ApiError::bad_request("Malformed request body"))?;
            Ok((k.as_str(), v))
        }
        _ => Err(ApiError::bad_request("Malformed request body")),
    }
}

async fn volume_action(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let id: VolumeId = parse_id(&id, || {
        VolumeError::volume_not_found(ferrostack_core::id::truncate_for_message(&id))
    })?;
    let (action, args) = single_action(&body)?;
    let empty = Map::new();
    let m = match args {
        Value::Object(m) => m,
        Value::Null => &empty,
        other => return Err(invalid(action, other, "is not of type 'object'")),
    };
    match action {
        "os-extend" => {
            let new_size = size_value("new_size", m.get("new_size").unwrap_or(&Value::Null))?
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Invalid input received: 'new_size' is a required property",
                    )
                })?;
            let v = s.api.get_volume(&ctx, &id).await.map_err(err)?;
            if v.status == VolumeStatus::InUse && mv.0 < 42 {
                return Err(err(VolumeError::InvalidVolume(format!(
                    "Volume {id} status must be available, but current status is: in-use. Extending an attached volume needs microversion 3.42."
                ))));
            }
            s.api.extend_volume(&ctx, &id, new_size).await.map_err(err)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        "os-volume_upload_image" => {
            let image_name = opt_str(m, "image_name", 255)?.ok_or_else(|| {
                ApiError::bad_request("Invalid input received: 'image_name' is a required property")
            })?;
            let disk_format = match opt_str(m, "disk_format", 32)? {
                None => DiskFormat::Raw,
                Some(f) => DiskFormat::parse(&f).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid disk-format '{}' specified. Allowed disk-formats are raw, qcow2.",
                        ferrostack_core::id::truncate_for_message(&f)
                    ))
                })?,
            };
            let container_format =
                opt_str(m, "container_format", 32)?.unwrap_or_else(|| "bare".into());
            if container_format != "bare" {
                return Err(ApiError::bad_request(format!(
                    "Invalid container-format '{}' specified. Allowed container-formats are bare.",
                    ferrostack_core::id::truncate_for_message(&container_format)
                )));
            }
            let force = opt_bool(m, "force")?.unwrap_or(false);
            let up = s
                .api
                .upload_to_image(
                    &ctx,
                    &id,
                    UploadToImage { image_name, disk_format, container_format, force },
                )
                .await
                .map_err(err)?;
            let v = &up.volume;
            Ok((
                StatusCode::ACCEPTED,
                Json(json!({ "os-volume_upload_image": {
                    "id": v.id.to_string(),
                    "updated_at": fmt_opt(v.updated_at),
                    "status": v.status.as_str(),
                    "display_description": v.description,
                    "size": v.size_gb,
                    "volume_type": { "id": v.volume_type_id.to_string(), "name": v.volume_type_name },
                    "image_id": up.image_id.to_string(),
                    "container_format": up.container_format,
                    "disk_format": up.disk_format.as_str(),
                    "image_name": up.image_name,
                }})),
            )
                .into_response())
        }
        "os-retype" => {
            let new_type = opt_str(m, "new_type", 255)?.ok_or_else(|| {
                ApiError::bad_request("Invalid input received: 'new_type' is a required property")
            })?;
            let policy = match opt_str(m, "migration_policy", 32)?.as_deref() {
                None | Some("never") => MigrationPolicy::Never,
                Some("on-demand") => MigrationPolicy::OnDemand,
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input received: migration_policy must be 'never' or 'on-demand', not '{}'",
                        ferrostack_core::id::truncate_for_message(other)
                    )));
                }
            };
            s.api.retype_volume(&ctx, &id, &new_type, policy).await.map_err(err)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        other => Err(ApiError::bad_request(format!(
            "There is no such action: {}",
            ferrostack_core::id::truncate_for_message(other)
        ))),
    }
}

// ---- snapshots -----------------------------------------------------------------------------

async fn create_snapshot(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let m = root(&body, "snapshot")?;
    let volume_id = uuid_field::<VolumeId>(m, "volume_id")?.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: 'volume_id' is a required property")
    })?;
    let name = match opt_str(m, "name", MAX_NAME_LEN)? {
        Some(n) => Some(n),
        None => opt_str(m, "display_name", MAX_NAME_LEN)?,
    };
    let description = match opt_str(m, "description", MAX_DESCRIPTION_LEN)? {
        Some(d) => Some(d),
        None => opt_str(m, "display_description", MAX_DESCRIPTION_LEN)?,
    };
    let force = opt_bool(m, "force")?.unwrap_or(false);
    let snap =
        s.api.create_snapshot(&ctx, &volume_id, name, description, force).await.map_err(err)?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "snapshot": snapshot_view(&snap) }))).into_response())
}

async fn list_snapshots(
    s: &AppState,
    ctx: &RequestContext,
    project: &str,
    q: &HashMap<String, String>,
    detail: bool,
) -> Result<Response, ApiError> {
    check_project(ctx, project)?;
    let filter = parse_list_query(q)?;
    let mut snaps = s.api.list_snapshots(ctx, &filter).await.map_err(err)?;
    if let Some(vid) = q.get("volume_id") {
        snaps.retain(|x| x.volume_id.to_string() == *vid);
    }
    let items: Vec<Value> = snaps
        .iter()
        .map(|x| {
            if detail {
                snapshot_view(x)
            } else {
                let mut v = snapshot_view(x);
                if let Value::Object(o) = &mut v {
                    o.retain(|k, _| !k.starts_with("os-extended"));
                }
                v
            }
        })
        .collect();
    Ok(Json(json!({ "snapshots": items })).into_response())
}

async fn list_snapshots_summary(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    list_snapshots(&s, &ctx, &project, &q, false).await
}

async fn list_snapshots_detail(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    list_snapshots(&s, &ctx, &project, &q, true).await
}

async fn show_snapshot(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let id: SnapshotId = parse_id(&id, || {
        VolumeError::snapshot_not_found(ferrostack_core::id::truncate_for_message(&id))
    })?;
    let snap = s.api.get_snapshot(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({ "snapshot": snapshot_view(&snap) })).into_response())
}

async fn update_snapshot(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let id: SnapshotId = parse_id(&id, || {
        VolumeError::snapshot_not_found(ferrostack_core::id::truncate_for_message(&id))
    })?;
    let m = root(&body, "snapshot")?;
    let change = UpdateVolume {
        name: opt_str(m, "name", MAX_NAME_LEN)?,
        description: opt_str(m, "description", MAX_DESCRIPTION_LEN)?,
        metadata: opt_metadata(m, "metadata")?,
    };
    let snap = s.api.update_snapshot(&ctx, &id, change).await.map_err(err)?;
    Ok(Json(json!({ "snapshot": snapshot_view(&snap) })).into_response())
}

async fn delete_snapshot(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let id: SnapshotId = parse_id(&id, || {
        VolumeError::snapshot_not_found(ferrostack_core::id::truncate_for_message(&id))
    })?;
    s.api.delete_snapshot(&ctx, &id).await.map_err(err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

// ---- types ---------------------------------------------------------------------------------

async fn list_types(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(project): Path<String>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let types = s.api.list_types(&ctx).await.map_err(err)?;
    Ok(Json(json!({ "volume_types": types.iter().map(type_view).collect::<Vec<_>>() }))
        .into_response())
}

async fn show_type(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let t = s.api.get_type(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({ "volume_type": type_view(&t) })).into_response())
}

async fn create_type(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let m = root(&body, "volume_type")?;
    let name = opt_str(m, "name", 255)?.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: 'name' is a required property")
    })?;
    let is_public = match opt_bool(m, "os-volume-type-access:is_public")? {
        Some(b) => b,
        None => opt_bool(m, "is_public")?.unwrap_or(true),
    };
    let req = CreateVolumeType {
        name,
        description: opt_str(m, "description", MAX_DESCRIPTION_LEN)?,
        is_public,
        extra_specs: opt_metadata(m, "extra_specs")?.unwrap_or_default(),
    };
    let t = s.api.create_type(&ctx, req).await.map_err(err)?;
    Ok(Json(json!({ "volume_type": type_view(&t) })).into_response())
}

async fn delete_type(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let id: VolumeTypeId = parse_id(&id, || VolumeError::NotFound {
        kind: "Volume type",
        id: ferrostack_core::id::truncate_for_message(&id),
    })?;
    s.api.delete_type(&ctx, &id).await.map_err(err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn show_extra_specs(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let t = s.api.get_type(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({ "extra_specs": t.extra_specs })).into_response())
}

async fn set_extra_specs(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let id: VolumeTypeId = parse_id(&id, || VolumeError::NotFound {
        kind: "Volume type",
        id: ferrostack_core::id::truncate_for_message(&id),
    })?;
    let Value::Object(m) = &body else {
        return Err(ApiError::bad_request("Malformed request body"));
    };
    let specs = opt_metadata(m, "extra_specs")?.ok_or_else(|| {
        ApiError::bad_request("Invalid input received: 'extra_specs' is a required property")
    })?;
    let t = s.api.set_type_extra_specs(&ctx, &id, specs.clone()).await.map_err(err)?;
    let shown: BTreeMap<&String, &String> =
        t.extra_specs.iter().filter(|(k, _)| specs.contains_key(*k)).collect();
    Ok(Json(json!({ "extra_specs": shown })).into_response())
}

// ---- attachments ---------------------------------------------------------------------------

fn parse_connector(v: &Value) -> Result<Option<Connector>, ApiError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(_) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| invalid("connector", v, &e.to_string())),
        other => Err(invalid("connector", other, "is not of type 'object'")),
    }
}

async fn create_attachment(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    need(mv, 27)?;
    let m = root(&body, "attachment")?;
    let volume_id = match uuid_field::<VolumeId>(m, "volume_uuid")? {
        Some(v) => v,
        None => uuid_field::<VolumeId>(m, "volume_id")?.ok_or_else(|| {
            ApiError::bad_request("Invalid input received: 'volume_uuid' is a required property")
        })?,
    };
    let instance = uuid_field::<ServerId>(m, "instance_uuid")?;
    let connector = parse_connector(m.get("connector").unwrap_or(&Value::Null))?;
    let mode = opt_str(m, "mode", 8)?;
    if mode.is_some() && mv.0 < 54 {
        return Err(ApiError::bad_request(
            "Invalid input received: mode requires microversion 3.54",
        ));
    }
    let a =
        s.api.create_attachment(&ctx, &volume_id, instance, connector, mode).await.map_err(err)?;
    Ok(Json(json!({ "attachment": attachment_view(&a) })).into_response())
}

async fn list_attachments(
    s: &AppState,
    ctx: &RequestContext,
    project: &str,
    mv: Microversion,
    q: &HashMap<String, String>,
    detail: bool,
) -> Result<Response, ApiError> {
    check_project(ctx, project)?;
    need(mv, 27)?;
    let filter = parse_list_query(q)?;
    let volume = match q.get("volume_id") {
        Some(v) => match v.parse::<VolumeId>() {
            Ok(id) => Some(id),
            Err(_) => return Ok(Json(json!({ "attachments": [] })).into_response()),
        },
        None => None,
    };
    let atts =
        s.api.list_attachments(ctx, volume.as_ref(), filter.all_projects).await.map_err(err)?;
    let items: Vec<Value> = atts
        .iter()
        .map(|a| if detail { attachment_view(a) } else { attachment_summary(a) })
        .collect();
    Ok(Json(json!({ "attachments": items })).into_response())
}

async fn list_attachments_summary(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    list_attachments(&s, &ctx, &project, mv, &q, false).await
}

async fn list_attachments_detail(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path(project): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    list_attachments(&s, &ctx, &project, mv, &q, true).await
}

async fn show_attachment(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    need(mv, 27)?;
    let id: AttachmentId = parse_id(&id, || {
        VolumeError::attachment_not_found(ferrostack_core::id::truncate_for_message(&id))
    })?;
    let a = s.api.get_attachment(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({ "attachment": attachment_view(&a) })).into_response())
}

async fn update_attachment(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    need(mv, 27)?;
    let id: AttachmentId = parse_id(&id, || {
        VolumeError::attachment_not_found(ferrostack_core::id::truncate_for_message(&id))
    })?;
    let m = root(&body, "attachment")?;
    let connector =
        parse_connector(m.get("connector").unwrap_or(&Value::Null))?.ok_or_else(|| {
            ApiError::bad_request("Invalid input received: 'connector' is a required property")
        })?;
    let a = s.api.update_attachment(&ctx, &id, connector).await.map_err(err)?;
    Ok(Json(json!({ "attachment": attachment_view(&a) })).into_response())
}

async fn delete_attachment(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    need(mv, 27)?;
    let id: AttachmentId = parse_id(&id, || {
        VolumeError::attachment_not_found(ferrostack_core::id::truncate_for_message(&id))
    })?;
    let remaining = s.api.delete_attachment(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({ "attachments": remaining.iter().map(attachment_view).collect::<Vec<_>>() }))
        .into_response())
}

async fn attachment_action(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    mv: Microversion,
    Path((project, id)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    need(mv, 44)?;
    let id: AttachmentId = parse_id(&id, || {
        VolumeError::attachment_not_found(ferrostack_core::id::truncate_for_message(&id))
    })?;
    let (action, _) = single_action(&body)?;
    if action != "os-complete" {
        return Err(ApiError::bad_request(format!(
            "There is no such action: {}",
            ferrostack_core::id::truncate_for_message(action)
        )));
    }
    s.api.complete_attachment(&ctx, &id).await.map_err(err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

// ---- quotas --------------------------------------------------------------------------------

fn quota_json(target: &str, l: &QuotaLimits, usage: Option<&QuotaUsage>) -> Value {
    let item = |limit: i64, used: u64| match usage {
        Some(_) => json!({ "limit": limit, "in_use": used, "reserved": 0, "allocated": 0 }),
        None => json!(limit),
    };
    let u = usage.copied().unwrap_or_default();
    json!({ "quota_set": {
        "id": target,
        "volumes": item(l.volumes, u.volumes),
        "gigabytes": item(l.gigabytes, u.gigabytes),
        "snapshots": item(l.snapshots, u.snapshots),
        "per_volume_gigabytes": item(l.per_volume_gigabytes, 0),
    }})
}

fn quota_target(target: &str) -> Result<ProjectId, ApiError> {
    target
        .parse::<ProjectId>()
        .map_err(|_| ApiError::bad_request("Invalid input received: invalid project id"))
}

async fn show_quotas(
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

async fn default_quotas(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, target)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    quota_target(&target)?;
    Ok(Json(quota_json(&target, &s.api.default_quotas(), None)).into_response())
}

async fn update_quotas(
    State(s): State<AppState>,
    Ctx(ctx): Ctx,
    Path((project, target)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    check_project(&ctx, &project)?;
    let tp = quota_target(&target)?;
    let m = root(&body, "quota_set")?;
    let mut change = QuotaUpdate::default();
    let mut bad = Vec::new();
    for (k, v) in m {
        let slot = match k.as_str() {
            "volumes" => &mut change.volumes,
            "gigabytes" => &mut change.gigabytes,
            "snapshots" => &mut change.snapshots,
            "per_volume_gigabytes" => &mut change.per_volume_gigabytes,
            "id" | "tenant_id" => continue,
            _ => {
                bad.push(k.clone());
                continue;
            }
        };
        let n = match v {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse::<i64>().ok(),
            _ => None,
        }
        .ok_or_else(|| invalid(k, v, "is not an integer"))?;
        *slot = Some(n);
    }
    if !bad.is_empty() {
        return Err(ApiError::bad_request(format!(
            "Bad key(s) in quota set: {}",
            ferrostack_core::id::truncate_for_message(&bad.join(", "))
        )));
    }
    let l = s.api.update_quotas(&ctx, &tp, change).await.map_err(err)?;
    Ok(Json(quota_json(&target, &l, None)).into_response())
}
