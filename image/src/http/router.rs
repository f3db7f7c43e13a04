// SPDX-License-Identifier: Apache-2.0
//! The Glance v2 router over any [`ImageApi`].

// Helpers return a ready `Response` as their error so handlers can return it at once.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use ferrostack_core::RequestContext;
use ferrostack_core::error::ErrorKind;
use ferrostack_core::http::{
    ApiError, Ctx, DEFAULT_BODY_LIMIT, ErrorStyle, VersionDoc, body_limit, multiple_choices,
    parse_json, with_error_style,
};
use ferrostack_core::id::ImageId;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};

use crate::api::{CreateImage, ImageApi, ListQuery, PatchOp};
use crate::error::ImageError;
use crate::store::ByteStream;
use crate::types::{Image, ImageStatus, Member, MemberStatus, Visibility};

type Api = Arc<dyn ImageApi>;

/// The JSON-patch media types Glance accepts on `PATCH /v2/images/{id}`.
pub const PATCH_MEDIA_TYPES: &[&str] = &[
    "application/openstack-images-v2.1-json-patch",
    "application/openstack-images-v2.0-json-patch",
];

/// The Glance v2 router.
pub fn router(api: Arc<dyn ImageApi>) -> Router {
    let r = Router::new()
        .route("/", get(versions))
        .route("/versions", get(versions))
        .route("/v2/images", get(list_images).post(create_image))
        .route("/v2/images/{id}", get(show_image).patch(update_image).delete(delete_image))
        .route("/v2/images/{id}/file", put(upload).get(download))
        .route("/v2/images/{id}/stage", put(stage))
        .route("/v2/images/{id}/import", post(import))
        .route("/v2/images/{id}/tasks", get(image_tasks))
        .route("/v2/info/import", get(import_info))
        .route("/v2/images/{id}/tags/{tag}", put(add_tag).delete(remove_tag))
        .route("/v2/images/{id}/actions/deactivate", post(deactivate))
        .route("/v2/images/{id}/actions/reactivate", post(reactivate))
        .route("/v2/images/{id}/members", get(list_members).post(add_member))
        .route(
            "/v2/images/{id}/members/{member}",
            get(show_member).put(update_member).delete(remove_member),
        )
        .route("/v2/schemas/{name}", get(schema))
        .layer(body_limit(DEFAULT_BODY_LIMIT))
        .with_state(api);
    with_error_style(r, ErrorStyle::Glance)
}

fn err(e: ImageError) -> Response {
    let mut a = ApiError::from_error(&e);
    if a.kind == ErrorKind::Internal || a.kind == ErrorKind::Unavailable {
        tracing::error!(error = %ferrostack_core::http::error_chain(&e), "image request failed");
    } else {
        a.message = e.to_string();
    }
    a.into_response()
}

fn api_err(kind: ErrorKind, msg: impl Into<String>) -> Response {
    ApiError::new(kind, msg).into_response()
}

/// 204 when the operation is done, else its error.
fn no_content<T>(r: Result<T, ImageError>) -> Response {
    match r {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => err(e),
    }
}

/// The image's document when the operation returns it, else its error.
fn image_json(r: Result<Image, ImageError>) -> Response {
    match r {
        Ok(img) => Json(img.to_json()).into_response(),
        Err(e) => err(e),
    }
}

fn unsupported_media(msg: &str) -> Response {
    let body = json!({"code": "415 Unsupported Media Type", "title": "Unsupported Media Type",
        "message": msg});
    (StatusCode::UNSUPPORTED_MEDIA_TYPE, Json(body)).into_response()
}

fn image_id(s: &str) -> Result<ImageId, Response> {
    // Glance answers 404 for ids that are not UUIDs (clients then look the name up).
    s.parse().map_err(|_| err(ImageError::NotFound(s.to_owned())))
}

macro_rules! tri {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(r) => return r,
        }
    };
}

async fn versions(headers: HeaderMap, OriginalUri(uri): OriginalUri) -> Response {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let path = uri.path().trim_end_matches('/');
    let base = path.strip_suffix("/versions").unwrap_or(path);
    let mk = |id: &str, status: &str| VersionDoc {
        id: id.into(),
        status: status.into(),
        version: String::new(),
        min_version: String::new(),
        updated: "2024-01-01T00:00:00Z".into(),
        href: format!("http://{host}{base}/v2/"),
        media_type: "application/vnd.openstack.image".into(),
    };
    multiple_choices(&[mk("v2.16", "CURRENT"), mk("v2.0", "SUPPORTED")], false)
}

async fn list_images(
    State(api): State<Api>,
    Ctx(c): Ctx,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let mut q = ListQuery::default();
    for (k, v) in &params {
        match k.as_str() {
            "name" => q.name = Some(v.clone()),
            "visibility" if v != "all" => {
                q.visibility = Some(tri!(Visibility::parse(v).ok_or_else(|| api_err(
                    ErrorKind::InvalidInput,
                    format!("Invalid visibility value: {v}")
                ))))
            }
            "status" => {
                let s: ImageStatus = tri!(
                    serde_json::from_value(Value::String(v.clone()))
                        .map_err(|_| api_err(ErrorKind::InvalidInput, "Invalid status value"))
                );
                q.status = Some(s);
            }
            "owner" => q.owner = Some(v.clone()),
            "id" => {
                let list = v.strip_prefix("in:").unwrap_or(v);
                q.ids = Some(list.split(',').filter_map(|s| s.trim().parse().ok()).collect());
            }
            "marker" => q.marker = Some(tri!(image_id(v))),
            "limit" => {
                q.limit = Some(tri!(v.parse::<usize>().map_err(|_| api_err(
                    ErrorKind::InvalidInput,
                    "limit param must be an integer"
                ))))
            }
            _ => {}
        }
    }
    let limit = q.limit;
    match api.list(&c, &q).await {
        Ok(images) => {
            let mut body = json!({
                "images": images.iter().map(|i| i.to_json()).collect::<Vec<_>>(),
                "first": "/v2/images",
                "schema": "/v2/schemas/images",
            });
            if let (Some(l), Some(last)) = (limit, images.last())
                && images.len() == l
            {
                body["next"] = json!(format!("/v2/images?marker={}&limit={l}", last.id));
            }
            Json(body).into_response()
        }
        Err(e) => err(e),
    }
}

async fn create_image(State(api): State<Api>, Ctx(c): Ctx, body: Bytes) -> Response {
    let v: Value = tri!(parse_json(&body).map_err(IntoResponse::into_response));
    let Value::Object(map) = v else {
        return api_err(ErrorKind::InvalidInput, "The request body must be a JSON object");
    };
    let req = tri!(CreateImage::from_json(map).map_err(err));
    match api.create(&c, req).await {
        Ok(img) => (StatusCode::CREATED, Json(img.to_json())).into_response(),
        Err(e) => err(e),
    }
}

async fn show_image(State(api): State<Api>, Ctx(c): Ctx, Path(id): Path<String>) -> Response {
    let id = tri!(image_id(&id));
    image_json(api.get(&c, &id).await)
}

async fn update_image(
    State(api): State<Api>,
    Ctx(c): Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let id = tri!(image_id(&id));
    let ct = headers.get(header::CONTENT_TYPE).and_then(|h| h.to_str().ok()).unwrap_or("");
    let ct = ct.split(';').next().unwrap_or("").trim();
    if !PATCH_MEDIA_TYPES.contains(&ct) {
        return unsupported_media(&format!(
            "Unsupported Content-Type '{ct}'; use {}",
            PATCH_MEDIA_TYPES[0]
        ));
    }
    let ops: Vec<PatchOp> = tri!(parse_json(&body).map_err(IntoResponse::into_response));
    image_json(api.update(&c, &id, ops).await)
}

async fn delete_image(State(api): State<Api>, Ctx(c): Ctx, Path(id): Path<String>) -> Response {
    let id = tri!(image_id(&id));
    no_content(api.delete(&c, &id).await)
}

/// The image and the data of `PUT /v2/images/{id}/file` or `/stage`: the body is sent as
/// `application/octet-stream` (or with no type at all).
fn image_data(
    id: &str,
    headers: &HeaderMap,
    body: Body,
) -> Result<(ImageId, ByteStream), Response> {
    let id = image_id(id)?;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|h| h.to_str().ok());
    if let Some(ct) = ct
        && ct.split(';').next().unwrap_or("").trim() != "application/octet-stream"
    {
        return Err(unsupported_media("image data must be sent as application/octet-stream"));
    }
    let stream =
        body.into_data_stream().map_err(|e| ImageError::UploadInterrupted(Box::new(e))).boxed();
    Ok((id, stream))
}

async fn upload(
    State(api): State<Api>,
    Ctx(c): Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (id, stream) = tri!(image_data(&id, &headers, body));
    no_content(api.upload(&c, &id, stream).await)
}

async fn stage(
    State(api): State<Api>,
    Ctx(c): Ctx,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let (id, stream) = tri!(image_data(&id, &headers, body));
    no_content(api.stage(&c, &id, stream).await)
}

/// The import methods every deployment enables; `web-download` is added by
/// [`ImageApi::import_methods`] when its host allow-list is configured.
pub const IMPORT_METHODS: &[&str] = &["glance-direct"];

async fn import_info(State(api): State<Api>, Ctx(c): Ctx) -> Response {
    match api.import_methods(&c).await {
        Ok(methods) => Json(json!({"import-methods": {
            "description": "Import methods available.",
            "type": "array",
            "value": methods,
        }}))
        .into_response(),
        Err(e) => err(e),
    }
}

async fn image_tasks(State(api): State<Api>, Ctx(c): Ctx, Path(id): Path<String>) -> Response {
    let id = tri!(image_id(&id));
    match api.tasks(&c, &id).await {
        Ok(tasks) => {
            let tasks: Vec<Value> = tasks.iter().map(|t| t.to_json()).collect();
            Json(json!({"tasks": tasks})).into_response()
        }
        Err(e) => err(e),
    }
}

async fn import(
    State(api): State<Api>,
    Ctx(c): Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let id = tri!(image_id(&id));
    let v: Value = tri!(parse_json(&body).map_err(IntoResponse::into_response));
    let Some(method) = v.pointer("/method/name").and_then(Value::as_str) else {
        return api_err(ErrorKind::InvalidInput, "the request body needs method.name");
    };
    let uri = match v.pointer("/method/uri") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => Some(u.as_str()),
        Some(_) => return api_err(ErrorKind::InvalidInput, "method.uri must be a string"),
    };
    match api.import(&c, &id, method, uri).await {
        Ok(_) => StatusCode::ACCEPTED.into_response(),
        Err(e) => err(e),
    }
}

async fn download(State(api): State<Api>, Ctx(c): Ctx, Path(id): Path<String>) -> Response {
    let id = tri!(image_id(&id));
    match api.download(&c, &id).await {
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Ok(Some((img, stream))) => {
            let mut resp = Body::from_stream(stream).into_response();
            let h = resp.headers_mut();
            h.insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/octet-stream"),
            );
            if let Some(size) = img.size {
                h.insert(header::CONTENT_LENGTH, size.into());
            }
            if let Some(md5) = img.checksum.as_deref().and_then(|s| s.parse().ok()) {
                h.insert("content-md5", md5);
            }
            resp
        }
        Err(e) => err(e),
    }
}

async fn tag_op(api: Api, c: RequestContext, id: String, tag: String, add: bool) -> Response {
    let id = tri!(image_id(&id));
    no_content(api.tag(&c, &id, &tag, add).await)
}

async fn add_tag(
    State(api): State<Api>,
    Ctx(c): Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> Response {
    tag_op(api, c, id, tag, true).await
}

async fn remove_tag(
    State(api): State<Api>,
    Ctx(c): Ctx,
    Path((id, tag)): Path<(String, String)>,
) -> Response {
    tag_op(api, c, id, tag, false).await
}

async fn set_active(api: Api, c: RequestContext, id: String, active: bool) -> Response {
    let id = tri!(image_id(&id));
    no_content(api.set_active(&c, &id, active).await)
}

async fn deactivate(State(api): State<Api>, Ctx(c): Ctx, Path(id): Path<String>) -> Response {
    set_active(api, c, id, false).await
}

async fn reactivate(State(api): State<Api>, Ctx(c): Ctx, Path(id): Path<String>) -> Response {
    set_active(api, c, id, true).await
}

async fn list_members(State(api): State<Api>, Ctx(c): Ctx, Path(id): Path<String>) -> Response {
    let id = tri!(image_id(&id));
    match api.members(&c, &id).await {
        Ok((img, members)) => Json(json!({
            "members": members.iter().map(|m| img.member_json(m)).collect::<Vec<_>>(),
            "schema": "/v2/schemas/members",
        }))
        .into_response(),
        Err(e) => err(e),
    }
}

async fn show_member(
    State(api): State<Api>,
    Ctx(c): Ctx,
    Path((id, member)): Path<(String, String)>,
) -> Response {
    let id = tri!(image_id(&id));
    match api.members(&c, &id).await {
        Ok((img, members)) => match members.iter().find(|m| m.member_id == member) {
            Some(m) => Json(img.member_json(m)).into_response(),
            None => err(ImageError::MemberNotFound { image: id.to_string(), member }),
        },
        Err(e) => err(e),
    }
}

/// The string `key` of a JSON object body.
fn body_field(body: &[u8], key: &str) -> Result<String, Response> {
    let v: Value = parse_json(body).map_err(IntoResponse::into_response)?;
    v.get(key).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| {
        api_err(ErrorKind::InvalidInput, format!("the request body needs a string '{key}'"))
    })
}

/// A membership as Glance answers it: the member with its image's details.
async fn member_answer(
    api: &Api,
    c: &RequestContext,
    id: &ImageId,
    m: Result<Member, ImageError>,
) -> Response {
    let m = tri!(m.map_err(err));
    let img = tri!(api.get(c, id).await.map_err(err));
    Json(img.member_json(&m)).into_response()
}

async fn add_member(
    State(api): State<Api>,
    Ctx(c): Ctx,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let id = tri!(image_id(&id));
    let member = tri!(body_field(&body, "member"));
    let m = api.add_member(&c, &id, &member).await;
    member_answer(&api, &c, &id, m).await
}

async fn update_member(
    State(api): State<Api>,
    Ctx(c): Ctx,
    Path((id, member)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    let id = tri!(image_id(&id));
    let status = tri!(body_field(&body, "status"));
    let Some(status) = MemberStatus::parse(&status) else {
        return api_err(ErrorKind::InvalidInput, format!("invalid member status '{status}'"));
    };
    let m = api.update_member(&c, &id, &member, status).await;
    member_answer(&api, &c, &id, m).await
}

async fn remove_member(
    State(api): State<Api>,
    Ctx(c): Ctx,
    Path((id, member)): Path<(String, String)>,
) -> Response {
    let id = tri!(image_id(&id));
    no_content(api.remove_member(&c, &id, &member).await)
}

async fn schema(Path(name): Path<String>) -> Response {
    let image = || {
        let mut props = Map::new();
        for (k, t) in [
            ("id", "string"),
            ("name", "string"),
            ("status", "string"),
            ("visibility", "string"),
            ("protected", "boolean"),
            ("os_hidden", "boolean"),
            ("owner", "string"),
            ("disk_format", "string"),
            ("container_format", "string"),
            ("min_disk", "integer"),
            ("min_ram", "integer"),
            ("size", "integer"),
            ("virtual_size", "integer"),
            ("checksum", "string"),
            ("os_hash_algo", "string"),
            ("os_hash_value", "string"),
            ("tags", "array"),
            ("created_at", "string"),
            ("updated_at", "string"),
            ("self", "string"),
            ("file", "string"),
            ("schema", "string"),
        ] {
            props.insert(k.into(), json!({"type": t}));
        }
        json!({"name": "image", "properties": props, "additionalProperties": {"type": "string"}})
    };
    let member = || {
        json!({"name": "member", "properties": {
            "image_id": {"type": "string"}, "member_id": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
            "created_at": {"type": "string"}, "updated_at": {"type": "string"},
            "schema": {"type": "string"}}})
    };
    let body = match name.as_str() {
        "image" => image(),
        "images" => json!({"name": "images", "properties": {
            "images": {"type": "array", "items": image()},
            "schema": {"type": "string"}, "first": {"type": "string"}, "next": {"type": "string"}}}),
        "member" => member(),
        "members" => json!({"name": "members", "properties": {
            "members": {"type": "array", "items": member()}, "schema": {"type": "string"}}}),
        _ => return api_err(ErrorKind::NotFound, format!("no schema {name}")),
    };
    Json(body).into_response()
}
