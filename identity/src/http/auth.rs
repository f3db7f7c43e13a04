// SPDX-License-Identifier: Apache-2.0
//! `X-Auth-Token` → [`RequestContext`].

use crate::api::IdentityApi;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ferrostack_core::RequestContext;
use ferrostack_core::http::{ApiError, RequestId, unauthenticated};
use std::sync::Arc;

/// The state of [`auth_middleware`]: where tokens are validated, and whether a request
/// without a valid token is refused (`true` for every service but identity, whose token and
/// version endpoints are public).
#[derive(Debug, Clone)]
pub struct AuthState {
    /// Validates tokens: the local [`crate::IdentityService`] (Fernet keys, no store read on
    /// the hot path) or a remote client.
    pub api: Arc<dyn IdentityApi>,
    /// Refuse requests without a valid token with 401.
    pub required: bool,
}

/// Middleware: validates `X-Auth-Token` and stores the caller's [`RequestContext`] in the
/// request's extensions. An invalid token is always 401; a missing one is 401 only when
/// `required`.
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
    match token {
        Some(t) => match st.api.context_for_token(&t, &request_id).await {
            Ok(ctx) => {
                req.extensions_mut().insert(ctx);
            }
            Err(e) => return ApiError::from(e).into_response(),
        },
        None if st.required => return unauthenticated().into_response(),
        None => {}
    }
    next.run(req).await
}

/// Wraps `router` with [`auth_middleware`].
pub fn with_auth<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    api: Arc<dyn IdentityApi>,
    required: bool,
) -> axum::Router<S> {
    router.layer(axum::middleware::from_fn_with_state(AuthState { api, required }, auth_middleware))
}

/// Wraps another service's `router` so that every request needs a valid token: the layer the
/// facade stacks over compute, image, volume, network and object storage.
pub fn require_auth<S: Clone + Send + Sync + 'static>(
    router: axum::Router<S>,
    api: Arc<dyn IdentityApi>,
) -> axum::Router<S> {
    with_auth(router, api, true)
}

/// The caller's [`RequestContext`] as an axum extractor (401 when the request had no valid
/// token; `Option<Ctx>` for public endpoints): core's, shared by every service's router, and
/// re-exported here for code that names identity's.
pub use ferrostack_core::http::Ctx;
