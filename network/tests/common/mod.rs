// SPDX-License-Identifier: Apache-2.0
//! Shared helpers: a service on a MemoryStore with the fake backend, and a request helper that
//! plays the identity layer by putting a `RequestContext` in the request extensions.
#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ProjectId, UserId};
use ferrostack_core::store::MemoryStore;
use ferrostack_network::testing::FakeBackend;
use ferrostack_network::{Backends, NetworkApi, NetworkConfig, NetworkService};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use tower::ServiceExt;

pub struct Env {
    pub app: Router,
    pub service: Arc<NetworkService>,
    pub fake: Arc<FakeBackend>,
    pub store: Arc<MemoryStore>,
}

pub fn env_with(config: NetworkConfig) -> Env {
    let store = Arc::new(MemoryStore::new());
    let fake = Arc::new(FakeBackend::new());
    let service = Arc::new(NetworkService::new(store.clone(), config, Backends::all(fake.clone())));
    let api: Arc<dyn NetworkApi> = service.clone();
    Env { app: ferrostack_network::http::router(api), service, fake, store }
}

pub fn env() -> Env {
    env_with(NetworkConfig::default())
}

pub fn member(project: &ProjectId) -> RequestContext {
    RequestContext::for_project(UserId::new(), project.clone(), &["member", "reader"])
}

pub fn admin() -> RequestContext {
    RequestContext::for_project(
        UserId::new(),
        ProjectId::try_from("admin-project".to_string()).unwrap(),
        &["admin", "member", "reader"],
    )
}

pub async fn call(
    app: &Router,
    ctx: Option<&RequestContext>,
    method: &str,
    uri: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    call_raw(app, ctx, method, uri, body.map(|b| b.to_string())).await
}

pub async fn call_raw(
    app: &Router,
    ctx: Option<&RequestContext>,
    method: &str,
    uri: &str,
    body: Option<String>,
) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri).header("host", "127.0.0.1:9696");
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let mut req = req.body(body.map(Body::from).unwrap_or_else(Body::empty)).unwrap();
    if let Some(c) = ctx {
        req.extensions_mut().insert(c.clone());
    }
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    (status, v)
}

/// `GET uri` as `ctx`.
pub async fn get(app: &Router, ctx: &RequestContext, uri: &str) -> (StatusCode, Value) {
    call(app, Some(ctx), "GET", uri, None).await
}

/// `DELETE uri` as `ctx`.
pub async fn delete(app: &Router, ctx: &RequestContext, uri: &str) -> (StatusCode, Value) {
    call(app, Some(ctx), "DELETE", uri, None).await
}

/// `POST uri` with a JSON body as `ctx`.
pub async fn post(
    app: &Router,
    ctx: &RequestContext,
    uri: &str,
    body: Value,
) -> (StatusCode, Value) {
    call(app, Some(ctx), "POST", uri, Some(body)).await
}

/// `PUT uri` with a JSON body as `ctx`.
pub async fn put(
    app: &Router,
    ctx: &RequestContext,
    uri: &str,
    body: Value,
) -> (StatusCode, Value) {
    call(app, Some(ctx), "PUT", uri, Some(body)).await
}

/// `POST uri` with `{key: body}` as `ctx`, which must answer 201: the new resource's id.
pub async fn create(
    app: &Router,
    ctx: &RequestContext,
    uri: &str,
    key: &str,
    body: Value,
) -> String {
    let (s, v) = post(app, ctx, uri, serde_json::json!({ key: body })).await;
    assert_eq!(s, StatusCode::CREATED, "POST {uri}: {v}");
    v[key]["id"].as_str().expect("an id").to_owned()
}
