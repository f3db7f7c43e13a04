// SPDX-License-Identifier: Apache-2.0
//! Nova's v2.1 REST API: [`router`] serves any [`ComputeApi`], [`Client`] is a [`ComputeApi`]
//! over a remote endpoint.
//!
//! [`router`] serves `/` (versions), `/v2.1` and the servers (with actions, addresses, remote
//! consoles, volume attachments and interfaces), flavors (with extra specs), keypairs,
//! server groups, availability zones, limits and quota sets resources, with microversions
//! 2.1 to 2.79 ([`MICROVERSIONS`]) and Nova's fault bodies. The facade mounts it at
//! `/compute` behind the identity middleware, which puts a
//! [`RequestContext`](ferrostack_core::RequestContext) in the request extensions; requests
//! without one get a 401.
//!
//! | file | what |
//! |---|---|
//! | `router.rs` | the routes, version documents, microversion negotiation |
//! | `servers.rs` | servers, addresses, remote consoles |
//! | `actions.rs` | `POST /servers/{id}/action` over [`crate::api::ServerAction`] |
//! | `attachments.rs` | `os-volume_attachments`, `os-interface` |
//! | `flavors.rs`, `keypairs.rs`, `groups.rs`, `quotas.rs` | the other resources |
//! | `views.rs` | the JSON views, by microversion |
//! | `client.rs` | [`Client`] |
//!
//! Handlers take typed bodies: [`parse_body`] deserializes them and words serde's refusals as
//! Nova does (`Invalid input for field/attribute name.`, `... 'name' is a required property`).

mod actions;
mod attachments;
mod client;
mod flavors;
mod groups;
mod keypairs;
mod quotas;
mod router;
mod servers;
mod views;

pub use client::Client;
pub use router::router;

use crate::api::ComputeApi;
use crate::error::ComputeError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use axum::response::Response;
use ferrostack_core::error::ErrorKind;
use ferrostack_core::http::{ApiError, Ctx, Microversion, MicroversionRange};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

/// The microversions served: `compute` 2.1 to 2.79, also read from the legacy
/// `X-OpenStack-Nova-API-Version` header.
pub static MICROVERSIONS: MicroversionRange = MicroversionRange {
    service: "compute",
    legacy_header: Some("x-openstack-nova-api-version"),
    min: Microversion::new(2, 1),
    max: Microversion::new(2, 79),
};

/// Request body limit (Nova's `max_request_body_size` is 112 KiB).
pub const BODY_LIMIT: usize = 256 * 1024;

type Api = Arc<dyn ComputeApi>;
type R = Result<Response, ApiError>;

/// A compute error as Nova answers it.
fn err(e: ComputeError) -> ApiError {
    match &e {
        // Nova answers over-quota on create and actions with 403 Forbidden.
        ComputeError::QuotaExceeded { .. } => ApiError::new(ErrorKind::Forbidden, e.to_string()),
        _ => ApiError::from_error(&e),
    }
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

/// The public base URL of the API as the caller reached it (`.../compute`).
fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()).unwrap_or("http");
    let prefix =
        headers.get("x-forwarded-prefix").and_then(|h| h.to_str().ok()).unwrap_or("/compute");
    format!("{proto}://{host}{}", prefix.trim_end_matches('/'))
}

fn links(base: &str, kind: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{base}/v2.1/{kind}/{id}")},
        {"rel": "bookmark", "href": format!("{base}/{kind}/{id}")},
    ])
}

/// Nova's form of a keypair's `created_at`: microseconds, no offset
/// (`2030-01-01T00:00:00.000000`).
fn ts_micro(t: time::OffsetDateTime) -> String {
    let mut s = ferrostack_core::time::keystone_format(t);
    s.pop(); // the `Z`
    s
}

/// What every handler starts from: the API, the authenticated caller ([`Ctx`]: a 401 without
/// one), the negotiated microversion (extracted in that order) and the public base URL.
struct Call {
    api: Api,
    ctx: Ctx,
    mv: Microversion,
    /// The API's public base URL as the caller reached it ([`base_url`]).
    base: String,
}

impl FromRequestParts<Api> for Call {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &Api) -> Result<Self, ApiError> {
        let ctx = Ctx::from_request_parts(parts, api).await?;
        let mv = Microversion::from_request_parts(parts, api).await?;
        Ok(Call { api: api.clone(), ctx, mv, base: base_url(&parts.headers) })
    }
}

/// A path id; one that does not parse is a 404 for `what`, as Nova answers.
fn parse_id<T: std::str::FromStr>(s: &str, what: &'static str) -> Result<T, ApiError> {
    s.parse().map_err(|_| {
        err(ComputeError::NotFound { what, id: ferrostack_core::id::truncate_for_message(s) })
    })
}

/// Deserializes a request body as `T`, wording refusals as Nova's schema validation does.
///
/// serde's own refusals (a wrong type, an unknown enum value, a missing field) become
/// `Invalid input for field/attribute <field>.` or `Invalid input for field/attribute
/// <parent>. '<field>' is a required property`, naming the innermost object key on the path
/// (`root` for the body itself); messages from this crate's deserializers pass through as
/// they are.
///
/// # Errors
///
/// A 400 [`ApiError`] with that message.
pub fn parse_body<T: DeserializeOwned>(body: Value, root: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(body).map_err(|e| {
        let keys: Vec<&str> = e
            .path()
            .iter()
            .filter_map(|s| match s {
                serde_path_to_error::Segment::Map { key } => Some(key.as_str()),
                _ => None,
            })
            .collect();
        bad(nova_message(&keys, &e.inner().to_string(), root))
    })
}

fn nova_message(keys: &[&str], msg: &str, root: &str) -> String {
    let field = keys.last().copied().unwrap_or(root);
    if let Some(rest) = msg.strip_prefix("missing field `") {
        if keys.is_empty() {
            return format!("Invalid input for field/attribute {root}.");
        }
        let missing = rest.trim_end_matches('`');
        return format!(
            "Invalid input for field/attribute {field}. '{missing}' is a required property"
        );
    }
    const SERDE: &[&str] =
        &["invalid type", "invalid value", "invalid length", "unknown variant", "expected"];
    if SERDE.iter().any(|p| msg.starts_with(p)) {
        return format!("Invalid input for field/attribute {field}.");
    }
    msg.to_owned()
}

/// Whether a query flag is set the way Nova reads booleans.
fn query_bool(v: Option<&String>) -> bool {
    v.is_some_and(|v| {
        matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "t" | "on" | "")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{CreateServerBody, ServerAction};

    fn message<T: DeserializeOwned + std::fmt::Debug>(body: Value, root: &str) -> String {
        parse_body::<T>(body, root).unwrap_err().message
    }

    #[test]
    fn refusals_are_worded_as_nova_does() {
        let m = message::<CreateServerBody>(
            json!({"server": {"name": 42, "flavorRef": "1"}}),
            "server",
        );
        assert_eq!(m, "Invalid input for field/attribute name.");
        let m = message::<CreateServerBody>(json!({"server": {"flavorRef": "1"}}), "server");
        assert_eq!(m, "Invalid input for field/attribute server. 'name' is a required property");
        let m = message::<CreateServerBody>(json!({"nothing": true}), "server");
        assert_eq!(m, "Invalid input for field/attribute server.");
        let m = message::<CreateServerBody>(json!([1, 2]), "server");
        assert_eq!(m, "Invalid input for field/attribute server.");
        let m = message::<CreateServerBody>(
            json!({"server": {"name": "x", "flavorRef": "1", "imageRef": "nope"}}),
            "server",
        );
        assert_eq!(m, "Invalid imageRef provided.");
        let m = message::<CreateServerBody>(
            json!({"server": {"name": "x", "flavorRef": "1", "networks": [{"fixed_ip": "1.2.3.4"}]}}),
            "server",
        );
        assert_eq!(m, "Bad network format: missing 'uuid' or 'port'");
        let m = message::<CreateServerBody>(
            json!({"server": {"name": "x", "flavorRef": "1", "networks": "everything"}}),
            "server",
        );
        assert_eq!(m, "Invalid input for field/attribute networks.");
        let m = message::<ServerAction>(json!({"rebuild": {}}), "action");
        assert_eq!(
            m,
            "Invalid input for field/attribute rebuild. 'imageRef' is a required property"
        );
        let m = message::<ServerAction>(json!({"reboot": {"type": "x"}}), "action");
        assert_eq!(m, "Invalid input for field/attribute type.");
        let m = message::<ServerAction>(json!({"frobnicate": null}), "action");
        assert_eq!(m, "There is no such action");
    }
}
