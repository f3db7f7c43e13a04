// SPDX-License-Identifier: Apache-2.0
//! The Keystone v3 REST API over any [`IdentityApi`], and the token validation middleware
//! other services' routers use.
//!
//! * [`router`] serves `/` (300, version list), `/v3`, `/v3/auth/*`, domains, projects, users,
//!   groups, roles, grants, role assignments, regions, services, endpoints, application
//!   credentials, credentials, `OS-EC2` and `/v3/ec2tokens` with Keystone's
//!   bodies, status codes and `{"error": {...}}` error shape. Mount it under the prefix its
//!   `public_url` names (`/identity`).
//! * [`authenticate`] / [`auth_middleware`] validate `X-Auth-Token` into a
//!   [`RequestContext`] request extension; [`Ctx`] extracts it (401 when absent).
//! * [`Client`] (feature `client`, on by default) implements [`IdentityApi`] against a remote
//!   Keystone v3 endpoint, so the same layer validates tokens remotely, with a service token
//!   and a bounded validation cache; see [`client`].

mod auth;
#[cfg(feature = "client")]
pub mod client;
mod handlers;
pub mod render;
#[cfg(feature = "client")]
mod wire;

#[cfg(feature = "client")]
pub use client::{Client, ClientConfig};

pub use auth::{AuthState, Ctx, auth_middleware, authenticate};

use crate::api::IdentityApi;
use axum::Router;
use axum::routing::{get, post, put};
use ferrostack_core::RequestContext;
use ferrostack_core::http::{ErrorStyle, body_limit, request_id, with_error_style};
use std::sync::Arc;

/// Keystone's header carrying the caller's token.
pub const X_AUTH_TOKEN: &str = "x-auth-token";
/// Keystone's header carrying the token being issued, validated or revoked.
pub const X_SUBJECT_TOKEN: &str = "x-subject-token";

/// Shared state of the identity router.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The identity operations.
    pub api: Arc<dyn IdentityApi>,
    /// The external URL of the identity API without the version
    /// (`http://127.0.0.1:8770/identity`), for version documents and links.
    pub base: String,
}

/// The Keystone v3 API. Requests carrying `X-Auth-Token` get a [`RequestContext`]; errors
/// render in Keystone's shape; bodies are limited to 112 KiB, Keystone's
/// `max_request_body_size`.
pub fn router(api: Arc<dyn IdentityApi>, public_url: impl Into<String>) -> Router {
    let base = public_url.into().trim_end_matches('/').to_owned();
    let state = ApiState { api: api.clone(), base };
    use handlers as h;
    let mut r = Router::new()
        .route("/", get(h::versions))
        .route("/v3", get(h::version))
        .route("/v3/", get(h::version))
        .route(
            "/v3/auth/tokens",
            post(h::issue_token)
                .get(h::validate_token)
                .head(h::check_token)
                .delete(h::revoke_token),
        )
        .route("/v3/auth/catalog", get(h::auth_catalog))
        .route("/v3/auth/projects", get(h::auth_projects))
        .route("/v3/auth/domains", get(h::auth_domains))
        .route("/v3/auth/system", get(h::auth_system))
        .route("/v3/domains", get(h::list_domains).post(h::create_domain))
        .route(
            "/v3/domains/{id}",
            get(h::get_domain).patch(h::update_domain).delete(h::delete_domain),
        )
        .route("/v3/projects", get(h::list_projects).post(h::create_project))
        .route(
            "/v3/projects/{id}",
            get(h::get_project).patch(h::update_project).delete(h::delete_project),
        )
        .route("/v3/users", get(h::list_users).post(h::create_user))
        .route("/v3/users/{id}", get(h::get_user).patch(h::update_user).delete(h::delete_user))
        .route("/v3/users/{id}/projects", get(h::list_user_projects))
        .route("/v3/users/{id}/groups", get(h::list_user_groups))
        .route("/v3/users/{id}/password", post(h::change_password))
        .route("/v3/groups", get(h::list_groups).post(h::create_group))
        .route("/v3/groups/{id}", get(h::get_group).patch(h::update_group).delete(h::delete_group))
        .route("/v3/groups/{id}/users", get(h::list_group_users))
        .route(
            "/v3/groups/{gid}/users/{uid}",
            put(h::add_member).head(h::check_member).get(h::check_member).delete(h::remove_member),
        )
        .route("/v3/roles", get(h::list_roles).post(h::create_role))
        .route("/v3/roles/{id}", get(h::get_role).patch(h::update_role).delete(h::delete_role))
        .route(
            "/v3/roles/{prior}/implies/{implied}",
            put(h::create_implied)
                .head(h::check_implied)
                .get(h::check_implied)
                .delete(h::delete_implied),
        )
        .route("/v3/role_inferences", get(h::list_implied))
        .route("/v3/role_assignments", get(h::list_assignments))
        .route("/v3/regions", get(h::list_regions).post(h::create_region))
        .route(
            "/v3/regions/{id}",
            get(h::get_region).patch(h::update_region).delete(h::delete_region),
        )
        .route("/v3/services", get(h::list_services).post(h::create_service))
        .route(
            "/v3/services/{id}",
            get(h::get_service).patch(h::update_service).delete(h::delete_service),
        )
        .route("/v3/endpoints", get(h::list_endpoints).post(h::create_endpoint))
        .route(
            "/v3/endpoints/{id}",
            get(h::get_endpoint).patch(h::update_endpoint).delete(h::delete_endpoint),
        );
    // Application credentials, credentials, OS-EC2 and EC2 tokens.
    {
        use handlers::credentials as c;
        r = r
            .route(
                "/v3/users/{id}/application_credentials",
                get(c::list_app_creds).post(c::create_app_cred),
            )
            .route(
                "/v3/users/{id}/application_credentials/{acid}",
                get(c::get_app_cred).delete(c::delete_app_cred),
            )
            .route("/v3/credentials", get(c::list_credentials).post(c::create_credential))
            .route(
                "/v3/credentials/{id}",
                get(c::get_credential).patch(c::update_credential).delete(c::delete_credential),
            )
            .route("/v3/users/{id}/credentials/OS-EC2", get(c::list_ec2).post(c::create_ec2))
            .route(
                "/v3/users/{id}/credentials/OS-EC2/{access}",
                get(c::get_ec2).delete(c::delete_ec2),
            )
            .route("/v3/ec2tokens", post(c::ec2_tokens));
    }
    for (target, actor) in
        [("projects", "users"), ("projects", "groups"), ("domains", "users"), ("domains", "groups")]
    {
        for inherited in [false, true] {
            let (list, one) = if inherited {
                (
                    format!(
                        "/v3/OS-INHERIT/{target}/{{tid}}/{actor}/{{aid}}/roles/inherited_to_projects"
                    ),
                    format!(
                        "/v3/OS-INHERIT/{target}/{{tid}}/{actor}/{{aid}}/roles/{{rid}}/inherited_to_projects"
                    ),
                )
            } else {
                (
                    format!("/v3/{target}/{{tid}}/{actor}/{{aid}}/roles"),
                    format!("/v3/{target}/{{tid}}/{actor}/{{aid}}/roles/{{rid}}"),
                )
            };
            let g = h::GrantKind { target, actor, inherited };
            r = r.route(&list, get(h::list_grants_for(g)));
            r = r.route(
                &one,
                put(h::grant_for(g, h::GrantOp::Create))
                    .head(h::grant_for(g, h::GrantOp::Check))
                    .get(h::grant_for(g, h::GrantOp::Check))
                    .delete(h::grant_for(g, h::GrantOp::Revoke)),
            );
        }
    }
    for actor in ["users", "groups"] {
        let g = h::GrantKind { target: "system", actor, inherited: false };
        r = r.route(&format!("/v3/system/{actor}/{{aid}}/roles"), get(h::list_grants_for(g)));
        r = r.route(
            &format!("/v3/system/{actor}/{{aid}}/roles/{{rid}}"),
            put(h::grant_for(g, h::GrantOp::Create))
                .head(h::grant_for(g, h::GrantOp::Check))
                .get(h::grant_for(g, h::GrantOp::Check))
                .delete(h::grant_for(g, h::GrantOp::Revoke)),
        );
    }
    let r = r.fallback(h::not_found).with_state(state);
    let r = with_error_style(r, ErrorStyle::Keystone);
    authenticate(r, api).layer(body_limit(112 * 1024)).layer(axum::middleware::from_fn(request_id))
}

/// The context of a request, if the auth middleware put one there.
pub fn context_of(req: &axum::extract::Request) -> Option<&RequestContext> {
    req.extensions().get::<RequestContext>()
}
