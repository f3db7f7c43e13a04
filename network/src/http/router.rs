// SPDX-License-Identifier: Apache-2.0
//! [`router`]: the Neutron v2.0 REST API over any [`NetworkApi`].
//!
//! [`router`] serves `/` (versions) and `/v2.0/...`; the facade mounts it at `/network`.
//! Errors render as `{"NeutronError": {"type", "message", "detail"}}`. Lists support
//! attribute filters (`?name=x&shared=true`, repeated keys meaning "any of",
//! `fixed_ips=ip_address=...`), `fields=` selection, `sort_key`/`sort_dir`, and `limit`/`marker`
//! pagination with `<collection>_links`.
//!
//! The caller is the [`RequestContext`](ferrostack_core::RequestContext) the identity layer put in the request extensions,
//! taken by core's [`Ctx`] extractor; a request without one is answered 401.

use crate::api::NetworkApi;
use crate::error::NetworkError;
use crate::types::*;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use ferrostack_core::http::{
    ApiError, Ctx, DEFAULT_BODY_LIMIT, ErrorStyle, JsonBody, body_limit, with_error_style,
};
use ferrostack_core::id::ProjectId;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use std::cmp::Ordering;
use std::sync::Arc;

type Api = Arc<dyn NetworkApi>;
type Q = Query<Vec<(String, String)>>;
type R = Result<Response, ApiError>;

/// The API version Neutron serves.
pub const API_VERSION: &str = "v2.0";

/// Extensions advertised by `GET /v2.0/extensions`: (alias, name, description). Only what is
/// served: each alias stands for a route of [`router`] or an attribute of [`crate::types`]
/// (`tests/api.rs` checks each against a rendered resource).
pub const EXTENSIONS: &[(&str, &str, &str)] = &[
    ("allowed-address-pairs", "Allowed Address Pairs", "Provides allowed address pairs"),
    ("binding", "Port Binding", "Expose port bindings of a virtual port to external application"),
    (
        "external-net",
        "Neutron external network",
        "Adds external network attribute to network resource.",
    ),
    (
        "ext-gw-mode",
        "Neutron L3 Configurable external gateway mode",
        "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway",
    ),
    ("extraroute", "Neutron Extra Route", "Extra routes configuration for L3 router"),
    ("net-mtu", "Network MTU", "Provides MTU attribute for a network resource."),
    ("port-security", "Port Security", "Provides port security"),
    ("provider", "Provider Network", "Expose mapping of virtual networks to physical networks"),
    ("quotas", "Quota management support", "Expose functions for quotas management per project"),
    (
        "quota_details",
        "Quota details management support",
        "Expose functions for quotas usage statistics per project",
    ),
    (
        "router",
        "Neutron L3 Router",
        "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.",
    ),
    ("security-group", "security-group", "The security groups extension."),
    (
        "stateful-security-group",
        "Stateful security group",
        "Indicates if the security group is stateful or not",
    ),
    (
        "standard-attr-description",
        "standard-attr-description",
        "Extension to add descriptions to standard attributes",
    ),
    (
        "standard-attr-revisions",
        "Resource revision numbers",
        "This extension will display the revision number of neutron resources.",
    ),
    (
        "standard-attr-timestamp",
        "Resource timestamps",
        "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
    ),
];

/// The Neutron API over `api`: `/` and `/v2.0/...`.
pub fn router(api: Api) -> Router {
    let v2 = Router::new()
        .route("/", get(v2_root))
        .route("/extensions", get(list_extensions))
        .route("/extensions/{alias}", get(show_extension))
        .route("/networks", get(list_networks).post(create_network))
        .route("/networks/{id}", get(show_network).put(update_network).delete(delete_network))
        .route("/subnets", get(list_subnets).post(create_subnet))
        .route("/subnets/{id}", get(show_subnet).put(update_subnet).delete(delete_subnet))
        .route("/ports", get(list_ports).post(create_port))
        .route("/ports/{id}", get(show_port).put(update_port).delete(delete_port))
        .route("/routers", get(list_routers).post(create_router))
        .route("/routers/{id}", get(show_router).put(update_router).delete(delete_router))
        .route("/routers/{id}/add_router_interface", put(add_interface))
        .route("/routers/{id}/remove_router_interface", put(remove_interface))
        .route("/floatingips", get(list_fips).post(create_fip))
        .route("/floatingips/{id}", get(show_fip).put(update_fip).delete(delete_fip))
        .route("/security-groups", get(list_sgs).post(create_sg))
        .route("/security-groups/{id}", get(show_sg).put(update_sg).delete(delete_sg))
        .route("/security-group-rules", get(list_rules).post(create_rule))
        .route("/security-group-rules/{id}", get(show_rule).delete(delete_rule))
        .route("/quotas", get(list_quotas))
        .route("/quotas/{project}", get(show_quota).put(update_quota).delete(delete_quota))
        .route("/quotas/{project}/default", get(default_quota))
        .route("/quotas/{project}/details.json", get(quota_details))
        .route("/quotas/{project}/details", get(quota_details))
        .with_state(api);
    let r = Router::new().route("/", get(versions)).nest("/v2.0", v2);
    with_error_style(r, ErrorStyle::Neutron).layer(body_limit(DEFAULT_BODY_LIMIT))
}

fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get("host").and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

async fn versions(headers: HeaderMap) -> Response {
    let href = format!("{}/network/v2.0/", base_url(&headers));
    Json(json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": href}]}]}))
        .into_response()
}

async fn v2_root() -> Response {
    let resources: Vec<Value> = [
        "network",
        "subnet",
        "port",
        "router",
        "floatingip",
        "security_group",
        "security_group_rule",
        "quota",
    ]
    .iter()
    .map(|r| json!({"name": r, "collection": format!("{r}s").replace('_', "-"), "links": []}))
    .collect();
    Json(json!({"resources": resources})).into_response()
}

async fn list_extensions() -> Response {
    let list: Vec<Value> = EXTENSIONS.iter().map(|(a, n, d)| ext_json(a, n, d)).collect();
    Json(json!({"extensions": list})).into_response()
}

fn ext_json(alias: &str, name: &str, description: &str) -> Value {
    json!({"alias": alias, "name": name, "description": description, "updated": "2013-01-01T00:00:00-00:00", "links": []})
}

async fn show_extension(Path(alias): Path<String>) -> R {
    EXTENSIONS
        .iter()
        .find(|(a, _, _)| *a == alias)
        .map(|(a, n, d)| Json(json!({"extension": ext_json(a, n, d)})).into_response())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Extension with alias {} does not exist",
                ferrostack_core::id::truncate_for_message(&alias)
            ))
            .with_type("ExtensionNotFound")
        })
}

// ----- rendering ---------------------------------------------------------------------------

/// Extra attributes real Neutron renders that our types do not carry.
fn extras(kind: &str, v: &mut Map<String, Value>) {
    let add: &[(&str, Value)] = match kind {
        "network" => &[
            ("ipv4_address_scope", Value::Null),
            ("ipv6_address_scope", Value::Null),
            ("is_default", Value::Bool(false)),
            ("l2_adjacency", Value::Bool(true)),
            ("qos_policy_id", Value::Null),
            ("dns_domain", Value::Null),
        ],
        "port" => &[
            ("dns_name", Value::Null),
            ("qos_policy_id", Value::Null),
            ("qos_network_policy_id", Value::Null),
            ("propagate_uplink_status", Value::Bool(false)),
            ("ip_allocation", Value::Null),
        ],
        "floatingip" => &[
            ("port_details", Value::Null),
            ("qos_policy_id", Value::Null),
            ("port_forwardings", Value::Array(Vec::new())),
            ("dns_name", Value::Null),
            ("dns_domain", Value::Null),
        ],
        "router" => &[("flavor_id", Value::Null), ("external_gateways", Value::Array(Vec::new()))],
        "subnet" => &[("dns_publish_fixed_ip", Value::Bool(false))],
        "security_group" => &[("shared", Value::Bool(false))],
        _ => &[],
    };
    for (k, val) in add {
        v.entry(k.to_string()).or_insert_with(|| val.clone());
    }
    if kind == "router"
        && let Some(Value::Object(gw)) = v.get_mut("external_gateway_info")
    {
        gw.entry("enable_snat").or_insert(Value::Bool(true));
    }
}

fn render<T: Serialize>(kind: &str, item: &T) -> Result<Value, ApiError> {
    let mut v = serde_json::to_value(item).map_err(|e| {
        ApiError::from_error(&NetworkError::Store(ferrostack_core::store::StoreError::Encode(e)))
    })?;
    if let Value::Object(m) = &mut v {
        extras(kind, m);
    }
    Ok(v)
}

fn select_fields(v: Value, fields: &[String]) -> Value {
    if fields.is_empty() {
        return v;
    }
    match v {
        Value::Object(m) => {
            Value::Object(m.into_iter().filter(|(k, _)| fields.iter().any(|f| f == k)).collect())
        }
        other => other,
    }
}

fn fields_of(q: &[(String, String)]) -> Vec<String> {
    q.iter()
        .filter(|(k, _)| k == "fields")
        .flat_map(|(_, v)| v.split(',').map(str::to_owned))
        .collect()
}

fn one<T: Serialize>(kind: &str, item: &T, q: &[(String, String)], status: StatusCode) -> R {
    let v = select_fields(render(kind, item)?, &fields_of(q));
    Ok((status, Json(json!({ kind: v }))).into_response())
}

const RESERVED: &[&str] = &["fields", "limit", "marker", "page_reverse", "sort_key", "sort_dir"];

fn value_matches(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Bool(b) => {
            want.eq_ignore_ascii_case(if *b { "true" } else { "false" })
                || (want == "1" && *b)
                || (want == "0" && !*b)
        }
        Value::Number(n) => n.to_string() == want,
        Value::Null => want.is_empty() || want == "None" || want == "null",
        Value::Array(items) => items.iter().any(|i| value_matches(i, want)),
        Value::Object(_) => false,
    }
}

/// Whether `item` passes the query's attribute filters.
fn passes(item: &Map<String, Value>, q: &[(String, String)]) -> bool {
    let mut keys: Vec<&str> =
        q.iter().map(|(k, _)| k.as_str()).filter(|k| !RESERVED.contains(k)).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().all(|k| {
        let wanted: Vec<&str> =
            q.iter().filter(|(kk, _)| kk == k).map(|(_, v)| v.as_str()).collect();
        if k == "fixed_ips" {
            let ips = item.get("fixed_ips").and_then(Value::as_array).cloned().unwrap_or_default();
            return wanted.iter().all(|w| {
                let Some((attr, val)) = w.split_once('=') else { return true };
                ips.iter().any(|ip| ip.get(attr).is_some_and(|x| value_matches(x, val)))
            });
        }
        match item.get(k) {
            // Filters on attributes the resource does not have are ignored, as Neutron does.
            None => true,
            Some(v) => wanted.iter().any(|w| value_matches(v, w)),
        }
    })
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        _ => a.to_string().cmp(&b.to_string()),
    }
}

fn list<T: Serialize>(
    kind: &str,
    collection: &str,
    items: Vec<T>,
    q: &[(String, String)],
    headers: &HeaderMap,
    path: &str,
) -> R {
    let mut rendered: Vec<Map<String, Value>> = Vec::new();
    for i in &items {
        if let Value::Object(m) = render(kind, i)?
            && passes(&m, q)
        {
            rendered.push(m);
        }
    }
    let keys: Vec<&str> =
        q.iter().filter(|(k, _)| k == "sort_key").map(|(_, v)| v.as_str()).collect();
    let dirs: Vec<&str> =
        q.iter().filter(|(k, _)| k == "sort_dir").map(|(_, v)| v.as_str()).collect();
    if dirs.len() > keys.len() {
        return Err(ApiError::bad_request("The number of sort_keys and sort_dirs must be same")
            .with_type("BadRequest"));
    }
    for d in &dirs {
        if *d != "asc" && *d != "desc" {
            return Err(ApiError::bad_request(format!(
                "{} is invalid value for sort_dir",
                ferrostack_core::id::truncate_for_message(d)
            ))
            .with_type("InvalidInput"));
        }
    }
    if !keys.is_empty() {
        if let Some(first) = rendered.first()
            && let Some(bad) = keys.iter().find(|k| !first.contains_key(**k))
        {
            return Err(ApiError::bad_request(format!(
                "{} is an invalid attribute for sort_key",
                ferrostack_core::id::truncate_for_message(bad)
            ))
            .with_type("BadRequest"));
        }
        rendered.sort_by(|a, b| {
            for (i, k) in keys.iter().enumerate() {
                let o = cmp_values(
                    a.get(*k).unwrap_or(&Value::Null),
                    b.get(*k).unwrap_or(&Value::Null),
                );
                let o = if dirs.get(i) == Some(&"desc") { o.reverse() } else { o };
                if o != Ordering::Equal {
                    return o;
                }
            }
            Ordering::Equal
        });
    }
    let limit = match q.iter().find(|(k, _)| k == "limit") {
        Some((_, v)) => match v.parse::<usize>() {
            Ok(0) => None,
            Ok(n) => Some(n),
            Err(_) => {
                return Err(ApiError::bad_request(format!(
                    "Bad limit request: Limit must be an integer 0 or greater and not '{}'.",
                    ferrostack_core::id::truncate_for_message(v)
                ))
                .with_type("BadRequest"));
            }
        },
        None => None,
    };
    let marker = q.iter().find(|(k, _)| k == "marker").map(|(_, v)| v.clone());
    let start = match &marker {
        Some(m) => {
            match rendered.iter().position(|i| i.get("id").and_then(Value::as_str) == Some(m)) {
                Some(p) => p + 1,
                None => {
                    return Err(ApiError::not_found(format!(
                        "Marker {} could not be found.",
                        ferrostack_core::id::truncate_for_message(m)
                    ))
                    .with_type("NotFound"));
                }
            }
        }
        None => 0,
    };
    let total = rendered.len();
    let end = limit.map_or(total, |l| start.saturating_add(l).min(total));
    let fields = fields_of(q);
    let page: Vec<Value> = rendered[start.min(total)..end]
        .iter()
        .map(|m| select_fields(Value::Object(m.clone()), &fields))
        .collect();
    let mut body = Map::new();
    body.insert(collection.to_string(), Value::Array(page));
    if let Some(l) = limit {
        let mut links = Vec::new();
        if end < total
            && let Some(last) = rendered[end - 1].get("id").and_then(Value::as_str)
        {
            let mut qs: Vec<String> = q
                .iter()
                .filter(|(k, _)| k != "marker")
                .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
                .collect();
            if !q.iter().any(|(k, _)| k == "limit") {
                qs.push(format!("limit={l}"));
            }
            qs.push(format!("marker={last}"));
            links.push(json!({"rel": "next", "href": format!("{}{path}?{}", base_url(headers), qs.join("&"))}));
        }
        body.insert(format!("{collection}_links"), Value::Array(links));
    }
    Ok(Json(Value::Object(body)).into_response())
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn body<T: DeserializeOwned>(v: Value, key: &str) -> Result<T, ApiError> {
    let Value::Object(mut m) = v else {
        return Err(ApiError::bad_request("Body contains invalid data").with_type("HTTPBadRequest"));
    };
    let inner = m.remove(key).ok_or_else(|| {
        ApiError::bad_request(format!("Unable to find '{key}' in request body"))
            .with_type("HTTPBadRequest")
    })?;
    if !inner.is_object() {
        return Err(ApiError::bad_request(format!("Invalid input for {key}: must be an object"))
            .with_type("HTTPBadRequest"));
    }
    serde_json::from_value(inner).map_err(|e| {
        let msg = e.to_string();
        let msg = if let Some(rest) = msg.strip_prefix("unknown field `") {
            format!("Unrecognized attribute(s) '{}'", rest.split('`').next().unwrap_or(""))
        } else {
            format!("Invalid input for operation: {msg}.")
        };
        ApiError::bad_request(msg).with_type("HTTPBadRequest")
    })
}

fn id_or_404<T: std::str::FromStr>(s: &str, kind: &'static str) -> Result<T, ApiError> {
    s.parse::<T>().map_err(|_| {
        ApiError::from(NetworkError::not_found(kind, ferrostack_core::id::truncate_for_message(s)))
    })
}

fn no_content() -> R {
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn path_of(req_path: &str) -> String {
    req_path.to_owned()
}

macro_rules! crud {
    ($kind:literal, $coll:literal, $path:literal, $id:ty, $idkind:literal,
     $list:ident, $create:ident, $show:ident, $update:ident, $delete:ident,
     $api_list:ident, $api_create:ident, $api_get:ident, $api_update:ident, $api_delete:ident,
     $create_ty:ty, $update_ty:ty) => {
        async fn $list(
            State(api): State<Api>,
            Ctx(ctx): Ctx,
            Query(q): Q,
            headers: HeaderMap,
        ) -> R {
            let items = api.$api_list(&ctx).await?;
            list($kind, $coll, items, &q, &headers, &path_of(concat!("/network/v2.0/", $path)))
        }
        async fn $create(State(api): State<Api>, Ctx(ctx): Ctx, JsonBody(v): JsonBody<Value>) -> R {
            let req: $create_ty = body(v, $kind)?;
            let item = api.$api_create(&ctx, req).await?;
            one($kind, &item, &[], StatusCode::CREATED)
        }
        async fn $show(
            State(api): State<Api>,
            Ctx(ctx): Ctx,
            Path(id): Path<String>,
            Query(q): Q,
        ) -> R {
            let id: $id = id_or_404(&id, $idkind)?;
            let item = api.$api_get(&ctx, id).await?;
            one($kind, &item, &q, StatusCode::OK)
        }
        async fn $update(
            State(api): State<Api>,
            Ctx(ctx): Ctx,
            Path(id): Path<String>,
            JsonBody(v): JsonBody<Value>,
        ) -> R {
            let id: $id = id_or_404(&id, $idkind)?;
            let req: $update_ty = body(v, $kind)?;
            let item = api.$api_update(&ctx, id, req).await?;
            one($kind, &item, &[], StatusCode::OK)
        }
        async fn $delete(State(api): State<Api>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
            let id: $id = id_or_404(&id, $idkind)?;
            api.$api_delete(&ctx, id).await?;
            no_content()
        }
    };
}

crud!(
    "network",
    "networks",
    "networks",
    ferrostack_core::id::NetworkId,
    "network",
    list_networks,
    create_network,
    show_network,
    update_network,
    delete_network,
    list_networks,
    create_network,
    get_network,
    update_network,
    delete_network,
    NetworkCreate,
    NetworkUpdate
);
crud!(
    "subnet",
    "subnets",
    "subnets",
    ferrostack_core::id::SubnetId,
    "subnet",
    list_subnets,
    create_subnet,
    show_subnet,
    update_subnet,
    delete_subnet,
    list_subnets,
    create_subnet,
    get_subnet,
    update_subnet,
    delete_subnet,
    SubnetCreate,
    SubnetUpdate
);
crud!(
    "port",
    "ports",
    "ports",
    ferrostack_core::id::PortId,
    "port",
    list_ports,
    create_port,
    show_port,
    update_port,
    delete_port,
    list_ports,
    create_port,
    get_port,
    update_port,
    delete_port,
    PortCreate,
    PortUpdate
);
crud!(
    "router",
    "routers",
    "routers",
    ferrostack_core::id::RouterId,
    "router",
    list_routers,
    create_router,
    show_router,
    update_router,
    delete_router,
    list_routers,
    create_router,
    get_router,
    update_router,
    delete_router,
    RouterCreate,
    RouterUpdate
);
crud!(
    "floatingip",
    "floatingips",
    "floatingips",
    FloatingIpId,
    "floatingip",
    list_fips,
    create_fip,
    show_fip,
    update_fip,
    delete_fip,
    list_floatingips,
    create_floatingip,
    get_floatingip,
    update_floatingip,
    delete_floatingip,
    FloatingIpCreate,
    FloatingIpUpdate
);
crud!(
    "security_group",
    "security_groups",
    "security-groups",
    SecurityGroupId,
    "security_group",
    list_sgs,
    create_sg,
    show_sg,
    update_sg,
    delete_sg,
    list_security_groups,
    create_security_group,
    get_security_group,
    update_security_group,
    delete_security_group,
    SecurityGroupCreate,
    SecurityGroupUpdate
);

async fn list_rules(State(api): State<Api>, Ctx(ctx): Ctx, Query(q): Q, headers: HeaderMap) -> R {
    let items = api.list_security_group_rules(&ctx).await?;
    list(
        "security_group_rule",
        "security_group_rules",
        items,
        &q,
        &headers,
        "/network/v2.0/security-group-rules",
    )
}
async fn create_rule(State(api): State<Api>, Ctx(ctx): Ctx, JsonBody(v): JsonBody<Value>) -> R {
    let req: SecurityGroupRuleCreate = body(v, "security_group_rule")?;
    let item = api.create_security_group_rule(&ctx, req).await?;
    one("security_group_rule", &item, &[], StatusCode::CREATED)
}
async fn show_rule(
    State(api): State<Api>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    Query(q): Q,
) -> R {
    let id: SecurityGroupRuleId = id_or_404(&id, "security_group_rule")?;
    let item = api.get_security_group_rule(&ctx, id).await?;
    one("security_group_rule", &item, &q, StatusCode::OK)
}
async fn delete_rule(State(api): State<Api>, Ctx(ctx): Ctx, Path(id): Path<String>) -> R {
    let id: SecurityGroupRuleId = id_or_404(&id, "security_group_rule")?;
    api.delete_security_group_rule(&ctx, id).await?;
    no_content()
}

/// The router and the bare (unwrapped) [`InterfaceRequest`] of
/// `PUT /v2.0/routers/{id}/{add,remove}_router_interface`.
fn interface_args(
    id: &str,
    v: Value,
) -> Result<(ferrostack_core::id::RouterId, InterfaceRequest), ApiError> {
    let id = id_or_404(id, "router")?;
    let req = serde_json::from_value(v).map_err(|e| {
        ApiError::bad_request(format!("Invalid input for operation: {e}."))
            .with_type("HTTPBadRequest")
    })?;
    Ok((id, req))
}

async fn add_interface(
    State(api): State<Api>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(v): JsonBody<Value>,
) -> R {
    let (id, req) = interface_args(&id, v)?;
    Ok(Json(api.add_router_interface(&ctx, id, req).await?).into_response())
}

async fn remove_interface(
    State(api): State<Api>,
    Ctx(ctx): Ctx,
    Path(id): Path<String>,
    JsonBody(v): JsonBody<Value>,
) -> R {
    let (id, req) = interface_args(&id, v)?;
    Ok(Json(api.remove_router_interface(&ctx, id, req).await?).into_response())
}

fn project_of(s: &str) -> Result<ProjectId, ApiError> {
    ProjectId::try_from(s.to_owned())
        .map_err(|_| ApiError::bad_request("Invalid project id").with_type("HTTPBadRequest"))
}

fn quota_json(project: &ProjectId, q: &QuotaSet) -> Value {
    let mut v = serde_json::to_value(q).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("project_id".into(), Value::String(project.to_string()));
        m.insert("tenant_id".into(), Value::String(project.to_string()));
    }
    v
}

async fn list_quotas(State(api): State<Api>, Ctx(ctx): Ctx) -> R {
    let items: Vec<Value> =
        api.list_quotas(&ctx).await?.iter().map(|(p, q)| quota_json(p, q)).collect();
    Ok(Json(json!({"quotas": items})).into_response())
}

async fn show_quota(State(api): State<Api>, Ctx(ctx): Ctx, Path(p): Path<String>) -> R {
    let p = project_of(&p)?;
    let q = api.get_quota(&ctx, &p).await?;
    Ok(Json(json!({"quota": serde_json::to_value(q).unwrap_or(Value::Null)})).into_response())
}

async fn default_quota(State(api): State<Api>, Ctx(ctx): Ctx, Path(p): Path<String>) -> R {
    let p = project_of(&p)?;
    // Defaults are visible to whoever may read the project's quota.
    api.get_quota(&ctx, &p).await?;
    Ok(Json(json!({"quota": QuotaSet::default()})).into_response())
}

async fn quota_details(State(api): State<Api>, Ctx(ctx): Ctx, Path(p): Path<String>) -> R {
    let p = project_of(&p)?;
    let details = api.get_quota_details(&ctx, &p).await?;
    let mut m = Map::new();
    for (r, d) in details {
        m.insert(r.as_str().into(), serde_json::to_value(d).unwrap_or(Value::Null));
    }
    Ok(Json(json!({"quota": m})).into_response())
}

async fn update_quota(
    State(api): State<Api>,
    Ctx(ctx): Ctx,
    Path(p): Path<String>,
    JsonBody(v): JsonBody<Value>,
) -> R {
    let p = project_of(&p)?;
    let req: QuotaUpdate = body(v, "quota")?;
    let q = api.update_quota(&ctx, &p, req).await?;
    Ok(Json(json!({"quota": q})).into_response())
}

async fn delete_quota(State(api): State<Api>, Ctx(ctx): Ctx, Path(p): Path<String>) -> R {
    let p = project_of(&p)?;
    api.delete_quota(&ctx, &p).await?;
    no_content()
}
