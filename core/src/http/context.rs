// SPDX-License-Identifier: Apache-2.0
//! [`Ctx`]: the caller's [`RequestContext`] as an axum extractor.
//!
//! Authentication is layered, not imported: an auth layer (identity's token middleware in a
//! deployment, [`super::testing::StaticTokens`] in tests) validates `X-Auth-Token` and puts the
//! caller's [`RequestContext`] into the request's extensions. Handlers of every service take
//! [`Ctx`] (401 when no layer put a context there) or `Option<Ctx>` for the few public
//! endpoints (version documents, Glance's import info).

use super::ApiError;
use crate::context::RequestContext;
use crate::error::ErrorKind;
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::request::Parts;
use std::convert::Infallible;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Ctx(pub RequestContext);

impl std::ops::Deref for Ctx {
    type Target = RequestContext;
    fn deref(&self) -> &RequestContext {
        &self.0
    }
}

/// The 401 every service answers for a request without a valid token.
pub fn unauthenticated() -> ApiError {
    ApiError::new(ErrorKind::Unauthenticated, "The request you have made requires authentication.")
}

impl<S: Send + Sync> FromRequestParts<S> for Ctx {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<RequestContext>().cloned().map(Ctx).ok_or_else(unauthenticated)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Ctx {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Option<Self>, Infallible> {
        Ok(parts.extensions.get::<RequestContext>().cloned().map(Ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::extract::Request;
    use axum::routing::get;
    use tower::ServiceExt;

    async fn who(Ctx(ctx): Ctx) -> String {
        ctx.user_name
    }
    async fn maybe(c: Option<Ctx>) -> String {
        c.map(|c| c.0.user_name).unwrap_or_else(|| "anonymous".into())
    }

    #[tokio::test]
    async fn a_missing_context_is_a_401_and_optional_contexts_are_none() {
        let app = Router::new().route("/who", get(who)).route("/maybe", get(maybe));
        let resp =
            app.clone().oneshot(Request::get("/who").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), 401);
        let resp = app.oneshot(Request::get("/maybe").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"anonymous");
    }

    #[tokio::test]
    async fn a_context_in_the_extensions_reaches_the_handler() {
        let ctx = RequestContext::internal("test");
        let app = Router::new().route("/who", get(who));
        let mut req = Request::get("/who").body(Body::empty()).unwrap();
        req.extensions_mut().insert(ctx);
        let resp = app.oneshot(req).await.unwrap();
        assert_eq!(resp.status(), 200);
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        assert_eq!(&body[..], b"ferrostack-test");
    }
}
