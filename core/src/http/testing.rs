// SPDX-License-Identifier: Apache-2.0
//! Test helpers for REST APIs (features `http` + `testing`): a fake auth layer and a loopback
//! server, so that a service's conformance suite can run through its `http::Client` against
//! its router without an identity service.

use super::RequestId;
use super::context::unauthenticated;
use crate::context::RequestContext;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// A **fake** authentication layer for tests: a fixed table from token strings to contexts.
///
/// A request whose `X-Auth-Token` is in the table gets that context (with `auth_token` set
/// and the request's id); an unknown token is a 401; a request without a token gets no
/// context (handlers taking [`super::Ctx`] answer 401). Deployments use identity's layer.
#[derive(Debug, Clone, Default)]
pub struct StaticTokens {
    tokens: Arc<HashMap<String, RequestContext>>,
}

impl StaticTokens {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `token` standing for `ctx`.
    pub fn with(mut self, token: impl Into<String>, ctx: RequestContext) -> Self {
        Arc::make_mut(&mut self.tokens).insert(token.into(), ctx);
        self
    }

    /// `ctx` with `auth_token = token`, registered: what a test passes to a client so that
    /// the server sees `ctx` again.
    pub fn register(
        &mut self,
        token: impl Into<String>,
        mut ctx: RequestContext,
    ) -> RequestContext {
        let token = token.into();
        ctx.auth_token = Some(token.clone());
        Arc::make_mut(&mut self.tokens).insert(token, ctx.clone());
        ctx
    }

    /// Wraps `router` with this table as its authentication.
    pub fn layer<S: Clone + Send + Sync + 'static>(
        &self,
        router: axum::Router<S>,
    ) -> axum::Router<S> {
        let tokens = self.tokens.clone();
        router.layer(axum::middleware::from_fn(move |req: Request, next: Next| {
            let tokens = tokens.clone();
            async move { authenticate(&tokens, req, next).await }
        }))
    }
}

async fn authenticate(
    tokens: &HashMap<String, RequestContext>,
    mut req: Request,
    next: Next,
) -> Response {
    let token = req.headers().get("x-auth-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(token) = token {
        let Some(ctx) = tokens.get(&token) else { return unauthenticated().into_response() };
        let mut ctx = ctx.clone();
        ctx.auth_token = Some(token);
        if let Some(id) = req.extensions().get::<RequestId>() {
            ctx.request_id = id.0.clone();
        }
        req.extensions_mut().insert(ctx);
    }
    next.run(req).await
}

/// A router served on `127.0.0.1:0` until dropped.
#[derive(Debug)]
pub struct Served {
    /// `http://127.0.0.1:PORT` (no trailing `/`).
    pub base_url: String,
    /// The bound address.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `router` on a free loopback port.
pub async fn serve(router: axum::Router) -> std::io::Result<Served> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "test server stopped");
        }
    });
    Ok(Served { base_url: format!("http://{addr}"), addr, task })
}
