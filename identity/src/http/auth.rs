// SPDX-License-Identifier: Apache-2.0
//! `X-Auth-Token` → [`RequestContext`].

use crate::api::IdentityApi;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferrostack_core::RequestContext;
use ferrostack_core::http::{ApiError, RequestId};
use std::sync::Arc;

/// The state of [`auth_middleware`]: where tokens are validated.
#[derive(Debug, Clone)]
pub struct AuthState {
    /// Validates tokens: the local [`crate::IdentityService`] (Fernet keys, no store read on
    /// the hot path) or a remote client.
    pub api: Arc<dyn IdentityApi>,
}

/// Middleware: validates `X-Auth-Token` and stores the caller's [`RequestContext`] in the
/// request's extensions. An invalid token is a 401 here; a request without a token goes on
/// without a context, and every handler that needs a caller takes core's
/// [`Ctx`](ferrostack_core::http::Ctx), which answers 401 for it. So the public endpoints of
/// each service (version documents, Glance's import info, Keystone's token issue) stay public
/// and no service needs a second layer.
pub async fn auth_middleware(
    State(st): State<AuthState>,
    mut req: Request,
    next: Next,
) -> Response {
    let token =
        req.headers().get(super::X_AUTH_TOKEN).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.0.clone())
        .unwrap_or_else(RequestContext::new_request_id);
    if let Some(t) = token {
        match st.api.context_for_token(&t, &request_id).await {
            Ok(ctx) => {
                req.extensions_mut().insert(ctx);
            }
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    next.run(req).await
}

/// Wraps `router` with [`auth_middleware`]: the one authentication layer of every service
/// (identity's own router and the ones the facade mounts: compute, image, volume, network).
pub fn authenticate<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    api: Arc<dyn IdentityApi>,
) -> axum::Router<S> {
    router.layer(axum::middleware::from_fn_with_state(AuthState { api }, auth_middleware))
}

/// The caller's [`RequestContext`] as an axum extractor (401 when the request had no valid
/// token; `Option<Ctx>` for public endpoints): core's, shared by every service's router, and
/// re-exported here for code that names identity's.
pub use ferrostack_core::http::Ctx;
