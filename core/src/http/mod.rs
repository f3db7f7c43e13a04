// SPDX-License-Identifier: Apache-2.0
//! axum plumbing shared by every Ferrostack REST API (feature `http`).
//!
//! * [`ApiError`]: any crate error, classified by [`ErrorKind`], rendered in the error body
//!   shape of the service that serves it ([`ErrorStyle`]) by the [`error_style`] middleware.
//!   Handlers just return `Result<_, ApiError>`; the router picks the shape once.
//! * [`request_id`]: gives every request an OpenStack request id (`req-<uuid>`), stores it as a
//!   [`RequestId`] extension and echoes it in `X-Openstack-Request-Id` (and `X-Compute-Request-Id`
//!   for Nova clients).
//! * [`JsonBody`]: JSON extraction that turns malformed JSON, wrong types and oversized bodies
//!   into a 400 or 413 with a useful message, never a panic or a 500.
//! * [`body_limit`]: the request body size limit.
//! * [`VersionDoc`]: the version documents clients discover endpoints and microversions with.
//! * [`Ctx`]: the authenticated caller as an extractor (an auth layer puts the
//!   [`crate::RequestContext`] into the request's extensions).
//! * [`Microversion`], [`MicroversionRange`], [`with_microversions`]: microversion negotiation.
//! * [`client`] (feature `client`): the base of every service's remote `http::Client`.
//! * `testing` (feature `testing`): a fake token table and a loopback server for tests.

#[cfg(feature = "client")]
pub mod client;
mod context;
pub mod microversion;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use context::{Ctx, unauthenticated};
pub use microversion::{
    Microversion, MicroversionRange, OPENSTACK_API_VERSION, negotiate_microversion,
    with_microversions,
};

use crate::error::{Classify, ErrorKind};
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// `X-Openstack-Request-Id`.
pub static X_OPENSTACK_REQUEST_ID: HeaderName = HeaderName::from_static("x-openstack-request-id");
/// `X-Compute-Request-Id` (Nova's older name, still read by novaclient).
pub static X_COMPUTE_REQUEST_ID: HeaderName = HeaderName::from_static("x-compute-request-id");

/// The error body shape of an OpenStack service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ErrorStyle {
    /// Nova and Cinder: `{"itemNotFound": {"code": 404, "message": "..."}}`.
    #[default]
    Nova,
    /// Keystone: `{"error": {"code": 404, "title": "Not Found", "message": "..."}}`.
    Keystone,
    /// Glance: `{"code": "404 Not Found", "title": "Not Found", "message": "..."}`... wrapped
    /// as webob does for JSON clients.
    Glance,
    /// Neutron: `{"NeutronError": {"type": "NetworkNotFound", "message": "...", "detail": ""}}`.
    Neutron,
    /// Swift: a short plain-text body.
    Swift,
}

/// An error as an API returns it: a kind, a message safe to show the caller, and for Neutron
/// the exception type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct ApiError {
    /// The class of the error, which decides the status code.
    pub kind: ErrorKind,
    /// The message shown to the caller. Never includes internal details for `Internal` errors.
    pub message: String,
    /// Neutron's exception type (`"NetworkNotFound"`); defaults from the kind.
    pub error_type: Option<String>,
}

impl ApiError {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError { kind, message: message.into(), error_type: None }
    }
    /// A 400.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, message)
    }
    /// A 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    /// A 403.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Forbidden, message)
    }
    /// A 409.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Conflict, message)
    }
    /// Sets Neutron's exception type name.
    pub fn with_type(mut self, t: impl Into<String>) -> Self {
        self.error_type = Some(t.into());
        self
    }

    /// Builds an API error from any classified error. Internal errors are logged with their
    /// full source chain and shown to the caller as a generic message, so nothing about the
    /// host, paths or backends leaks.
    pub fn from_error<E: Classify + std::error::Error>(e: &E) -> Self {
        let kind = e.kind();
        if kind == ErrorKind::Internal {
            tracing::error!(error = %error_chain(e), "internal error");
            Self::new(
                kind,
                "The server has either erred or is incapable of performing the requested operation.",
            )
        } else {
            Self::new(kind, e.to_string())
        }
    }

    /// The body of this error in `style`.
    pub fn body(&self, style: ErrorStyle) -> Value {
        let code = self.kind.http_status();
        match style {
            ErrorStyle::Nova => {
                json!({ self.kind.fault_name(): { "code": code, "message": self.message } })
            }
            ErrorStyle::Keystone => {
                json!({ "error": { "code": code, "title": self.kind.title(), "message": self.message } })
            }
            ErrorStyle::Glance => json!({
                "code": format!("{code} {}", self.kind.title()),
                "title": self.kind.title(),
                "message": self.message,
            }),
            ErrorStyle::Neutron => json!({ "NeutronError": {
                "type": self.error_type.clone().unwrap_or_else(|| neutron_default_type(self.kind).into()),
                "message": self.message,
                "detail": "",
            }}),
            ErrorStyle::Swift => Value::String(self.message.clone()),
        }
    }

    /// The full response in `style`.
    pub fn to_response(&self, style: ErrorStyle) -> Response {
        let status = StatusCode::from_u16(self.kind.http_status())
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self.body(style) {
            Value::String(text) => {
                let html = format!(
                    "<html><h1>{}</h1><p>{}</p></html>",
                    self.kind.title(),
                    html_escape(&text)
                );
                (status, [(header::CONTENT_TYPE, "text/html; charset=UTF-8")], html).into_response()
            }
            body => (status, axum::Json(body)).into_response(),
        }
    }
}

fn neutron_default_type(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidInput => "HTTPBadRequest",
        ErrorKind::NotFound => "HTTPNotFound",
        ErrorKind::AlreadyExists | ErrorKind::Conflict => "HTTPConflict",
        ErrorKind::Unauthenticated => "HTTPUnauthorized",
        ErrorKind::Forbidden => "HTTPForbidden",
        ErrorKind::QuotaExceeded => "OverQuota",
        ErrorKind::NotSupported => "HTTPNotImplemented",
        ErrorKind::NotAcceptable => "HTTPNotAcceptable",
        _ => "HTTPInternalServerError",
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// `e` and its sources, joined with `": "`.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

impl IntoResponse for ApiError {
    /// Renders in the default (Nova) style and attaches the error so that an [`error_style`]
    /// layer can re-render it in its service's style.
    fn into_response(self) -> Response {
        let mut resp = self.to_response(ErrorStyle::default());
        resp.extensions_mut().insert(self);
        resp
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        ApiError::from_error(&e)
    }
}

/// Middleware re-rendering every [`ApiError`] response in `style`. Install it on a service's
/// router with `axum::middleware::from_fn(move |req, next| error_style(style, req, next))`,
/// or use [`with_error_style`].
pub async fn error_style(style: ErrorStyle, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    match resp.extensions().get::<ApiError>() {
        Some(err) if style != ErrorStyle::default() => {
            let mut styled = err.to_response(style);
            for (k, v) in resp.headers() {
                if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
                    styled.headers_mut().insert(k.clone(), v.clone());
                }
            }
            styled
        }
        _ => resp,
    }
}

/// Wraps `router` so that its errors render in `style`.
pub fn with_error_style<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    style: ErrorStyle,
) -> axum::Router<S> {
    router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
        error_style(style, req, next)
    }))
}

/// The request id of the current request, set by [`request_id`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// Middleware assigning each request a `req-<uuid>` id, available to handlers as a
/// [`RequestId`] extension and returned in `X-Openstack-Request-Id` and `X-Compute-Request-Id`.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = crate::RequestContext::new_request_id();
    req.extensions_mut().insert(RequestId(id.clone()));
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert(X_OPENSTACK_REQUEST_ID.clone(), v.clone());
        resp.headers_mut().insert(X_COMPUTE_REQUEST_ID.clone(), v);
    }
    resp
}

/// The default request body limit: 1 MiB, like Nova's `max_request_body_size` is 112 KiB and
/// Keystone's 112 KiB; APIs that take bulk data (image upload) set their own.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// A layer limiting request bodies to `max` bytes; [`JsonBody`] turns an oversized body into a
/// 413.
pub fn body_limit(max: usize) -> axum::extract::DefaultBodyLimit {
    axum::extract::DefaultBodyLimit::max(max)
}

/// A JSON request body of type `T`. Rejections are [`ApiError`]s: 400 with the parser's
/// message for malformed JSON or wrong field types, 413 for an oversized body.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(rejection) => {
                let status = rejection.status();
                return Err(if status == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(ErrorKind::QuotaExceeded, "Request is too large.")
                } else {
                    ApiError::bad_request(format!(
                        "Could not read the request body: {}",
                        rejection.body_text()
                    ))
                });
            }
        };
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses `bytes` as `T` with the error messages of [`JsonBody`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "The request body is empty; a JSON document is required.",
        ));
    }
    // serde_json refuses nesting deeper than 128 levels, so hostile input cannot overflow
    // the stack; its messages name the position and never echo more than a token.
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            ApiError::bad_request(format!("Invalid input for the request body: {e}"))
        }
        _ => ApiError::bad_request(format!("Malformed JSON in the request body: {e}")),
    })
}

/// One entry of a version document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionDoc {
    /// `"v3.14"`, `"v2.1"`, `"v2.0"`.
    pub id: String,
    /// `"CURRENT"`, `"SUPPORTED"`, `"DEPRECATED"`, `"stable"` (Keystone).
    pub status: String,
    /// The newest microversion, or `""` without microversions.
    pub version: String,
    /// The oldest microversion, or `""`.
    pub min_version: String,
    /// When the version last changed.
    pub updated: String,
    /// The URL of this version's root.
    pub href: String,
    /// The media type base, e.g. `application/vnd.openstack.compute`.
    pub media_type: String,
}

impl VersionDoc {
    /// The entry as OpenStack renders it: `{"id", "status", "version", "min_version",
    /// "updated", "links": [{"rel": "self", "href"}], "media-types": [...]}`.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "status": self.status,
            "version": self.version,
            "min_version": self.min_version,
            "updated": self.updated,
            "links": [{ "rel": "self", "href": self.href }],
            "media-types": [{
                "base": "application/json",
                "type": format!("{}+json;version={}", self.media_type,
                    self.id.trim_start_matches('v').split('.').next().unwrap_or("1")),
            }],
        })
    }

    /// `{"version": {...}}`, the document at a version's root.
    pub fn single(&self) -> Value {
        json!({ "version": self.to_json() })
    }
}

/// A 300 Multiple Choices response listing versions, with `wrapped` choosing Keystone's
/// `{"versions": {"values": [...]}}` over the `{"versions": [...]}` of the others.
pub fn multiple_choices(docs: &[VersionDoc], wrapped: bool) -> Response {
    let list: Vec<Value> = docs.iter().map(VersionDoc::to_json).collect();
    let body = if wrapped {
        json!({ "versions": { "values": list } })
    } else {
        json!({ "versions": list })
    };
    (StatusCode::MULTIPLE_CHOICES, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::{get, post};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Thing {
        name: String,
        size: u32,
    }

    async fn create(JsonBody(t): JsonBody<Thing>) -> Result<String, ApiError> {
        if t.size == 0 {
            return Err(ApiError::not_found("no thing of size 0").with_type("ThingNotFound"));
        }
        Ok(t.name)
    }

    fn app(style: ErrorStyle) -> Router {
        let r = Router::new().route("/things", post(create)).route("/", get(|| async { "ok" }));
        with_error_style(r, style)
            .layer(body_limit(64))
            .layer(axum::middleware::from_fn(request_id))
    }

    async fn send(style: ErrorStyle, body: &'static str) -> (StatusCode, Value, Option<String>) {
        let req = Request::post("/things")
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let resp = app(style).oneshot(req).await.unwrap();
        let status = resp.status();
        let rid =
            resp.headers().get(&X_OPENSTACK_REQUEST_ID).map(|v| v.to_str().unwrap().to_owned());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null), rid)
    }

    #[tokio::test]
    async fn malformed_json_is_a_400_with_a_message() {
        let (status, body, rid) = send(ErrorStyle::Nova, "{\"name\": ").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["badRequest"]["message"].as_str().unwrap().contains("Malformed JSON"));
        assert!(rid.unwrap().starts_with("req-"));
        let (status, body, _) = send(ErrorStyle::Nova, r#"{"name": "a", "size": -1}"#).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["badRequest"]["message"].as_str().unwrap().contains("Invalid input"));
        let (status, _, _) = send(ErrorStyle::Nova, "").await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn oversized_bodies_are_413() {
        let big: &'static str = Box::leak(
            format!("{{\"name\": \"{}\", \"size\": 1}}", "x".repeat(100)).into_boxed_str(),
        );
        let (status, body, _) = send(ErrorStyle::Keystone, big).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(body["error"]["code"], 413);
    }

    #[tokio::test]
    async fn errors_render_in_each_service_style() {
        let body = r#"{"name": "a", "size": 0}"#;
        let (_, nova, _) = send(ErrorStyle::Nova, body).await;
        assert_eq!(nova["itemNotFound"]["code"], 404);
        let (_, ks, _) = send(ErrorStyle::Keystone, body).await;
        assert_eq!(ks["error"]["title"], "Not Found");
        let (_, neutron, _) = send(ErrorStyle::Neutron, body).await;
        assert_eq!(neutron["NeutronError"]["type"], "ThingNotFound");
        let (_, glance, _) = send(ErrorStyle::Glance, body).await;
        assert_eq!(glance["code"], "404 Not Found");
    }

    #[test]
    fn internal_errors_do_not_leak_details() {
        let e = crate::store::StoreError::Backend {
            store: "sqlite",
            source: "disk /var/secret full".into(),
        };
        let api = ApiError::from(e);
        assert_eq!(api.kind, ErrorKind::Internal);
        assert!(!api.message.contains("secret"));
    }

    #[test]
    fn version_documents_have_the_fields_clients_read() {
        let doc = VersionDoc {
            id: "v2.1".into(),
            status: "CURRENT".into(),
            version: "2.79".into(),
            min_version: "2.1".into(),
            updated: "2013-07-23T11:33:21Z".into(),
            href: "http://127.0.0.1/compute/v2.1/".into(),
            media_type: "application/vnd.openstack.compute".into(),
        };
        let v = doc.single();
        assert_eq!(v["version"]["links"][0]["rel"], "self");
        assert_eq!(
            v["version"]["media-types"][0]["type"],
            "application/vnd.openstack.compute+json;version=2"
        );
        assert_eq!(multiple_choices(&[doc], true).status(), StatusCode::MULTIPLE_CHOICES);
    }
}
