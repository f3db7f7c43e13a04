// SPDX-License-Identifier: Apache-2.0
//! The Nova v2.1 REST API over any [`ComputeApi`]: [`router`] serves `/` (versions),
//! `/v2.1` and the servers, flavors, keypairs, volume attachments, interfaces, server groups,
//! availability zones, limits and quota sets resources, with microversions 2.1 to
//! [`MAX_MICROVERSION`] and Nova's fault bodies. The facade mounts it at `/compute` behind
//! the identity middleware, which puts a [`RequestContext`] in the request extensions;
//! requests without one get a 401.

use crate::error::ComputeError;
use crate::hypervisor::RebootKind;
use crate::service::{ComputeApi, CreateGroup, CreateServer, ServerFilter};
use crate::types::{
    Flavor, GroupPolicy, Keypair, KeypairType, NetworkRequest, QuotaLimits, Server, ServerGroup,
    Vif, VolumeAttachment,
};
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use ferrostack_core::RequestContext;
use ferrostack_core::error::ErrorKind;
use ferrostack_core::http::{ApiError, JsonBody, VersionDoc};
use ferrostack_core::id::{ImageId, NetworkId, PortId, ProjectId, ServerId, VolumeId};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The newest microversion served.
pub const MAX_MICROVERSION: Microversion = Microversion(2, 79);
/// The oldest microversion served.
pub const MIN_MICROVERSION: Microversion = Microversion(2, 1);
/// Request body limit (Nova's `max_request_body_size` is 112 KiB).
pub const BODY_LIMIT: usize = 256 * 1024;

/// A negotiated microversion `(major, minor)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Microversion(pub u16, pub u16);

impl Microversion {
    /// Whether this is at least `2.minor`.
    pub fn at_least(self, minor: u16) -> bool {
        self >= Microversion(2, minor)
    }
}

impl std::fmt::Display for Microversion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

/// Parses the requested microversion from `OpenStack-API-Version: compute X` or
/// `X-OpenStack-Nova-API-Version: X`; absent means 2.1, `latest` the maximum.
pub fn negotiate(headers: &HeaderMap) -> Result<Microversion, ApiError> {
    let mut requested: Option<String> = None;
    if let Some(v) = headers.get("openstack-api-version").and_then(|v| v.to_str().ok()) {
        for part in v.split(',') {
            let mut it = part.split_whitespace();
            if it.next().is_some_and(|s| s.eq_ignore_ascii_case("compute")) {
                requested = it.next().map(str::to_owned);
            }
        }
    }
    if requested.is_none() {
        requested = headers
            .get("x-openstack-nova-api-version")
            .and_then(|v| v.to_str().ok())
            .map(|s| s.trim().to_owned());
    }
    let Some(req) = requested else { return Ok(MIN_MICROVERSION) };
    if req.eq_ignore_ascii_case("latest") {
        return Ok(MAX_MICROVERSION);
    }
    let bad = || {
        ApiError::bad_request(format!(
            "Invalid API version request: {}",
            ferrostack_core::id::truncate_for_message(&req)
        ))
    };
    let (maj, min) = req.split_once('.').ok_or_else(bad)?;
    let mv = Microversion(maj.parse().map_err(|_| bad())?, min.parse().map_err(|_| bad())?);
    if mv < MIN_MICROVERSION || mv > MAX_MICROVERSION {
        return Err(ApiError::new(ErrorKind::NotSupported, format!(
            "Version {mv} is not supported by the API. Minimum is {MIN_MICROVERSION} and maximum is {MAX_MICROVERSION}."
        )).with_type("406"));
    }
    Ok(mv)
}

async fn microversion_layer(mut req: Request, next: Next) -> Response {
    let mv = match negotiate(req.headers()) {
        Ok(mv) => mv,
        Err(e) if e.error_type.as_deref() == Some("406") => {
            return (
                StatusCode::NOT_ACCEPTABLE,
                Json(json!({"computeFault": {"code": 406, "message": e.message}})),
            )
                .into_response();
        }
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(mv);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("compute {mv}")) {
        h.insert("openstack-api-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&mv.to_string()) {
        h.insert("x-openstack-nova-api-version", v);
    }
    h.insert(
        header::VARY,
        HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
    );
    resp
}

async fn require_context(req: Request, next: Next) -> Response {
    if req.extensions().get::<RequestContext>().is_none() {
        return ApiError::new(
            ErrorKind::Unauthenticated,
            "The request you have made requires authentication.",
        )
        .into_response();
    }
    next.run(req).await
}

type Api = Arc<dyn ComputeApi>;
type R = Result<Response, ApiError>;

fn err(e: ComputeError) -> ApiError {
    match &e {
        // Nova answers over-quota on create and actions with 403 Forbidden.
        ComputeError::QuotaExceeded { .. } => ApiError::new(ErrorKind::Forbidden, e.to_string()),
        _ => ApiError::from_error(&e),
    }
}

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

fn ts(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

fn ts_micro(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

fn parse_uuid<T: std::str::FromStr>(s: &str, what: &'static str) -> Result<T, ApiError> {
    s.parse().map_err(|_| {
        err(ComputeError::NotFound { what, id: ferrostack_core::id::truncate_for_message(s) })
    })
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::bad_request(msg)
}

fn obj<'a>(v: &'a Value, key: &str) -> Result<&'a Map<String, Value>, ApiError> {
    v.get(key)
        .and_then(Value::as_object)
        .ok_or_else(|| bad(format!("Invalid input for field/attribute {key}.")))
}

fn opt_str(o: &Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(bad(format!("Invalid input for field/attribute {key}."))),
    }
}

fn str_map(o: &Map<String, Value>, key: &str) -> Result<BTreeMap<String, String>, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                _ => Err(bad(format!("Invalid input for field/attribute {key}."))),
            })
            .collect(),
        Some(_) => Err(bad(format!("Invalid input for field/attribute {key}."))),
    }
}

/// An IP address field, normalized as Nova stores it (`::babe:dc0c:1602`); invalid is a 400.
fn ip_field<T: std::str::FromStr + std::fmt::Display>(
    o: &Map<String, Value>,
    key: &str,
) -> Result<Option<String>, ApiError> {
    match opt_str(o, key)? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => s
            .parse::<T>()
            .map(|ip| Some(ip.to_string()))
            .map_err(|_| bad(format!("Invalid input for field/attribute {key}."))),
    }
}

fn count(o: &Map<String, Value>, key: &str) -> Result<u32, ApiError> {
    match o.get(key) {
        None | Some(Value::Null) => Ok(1),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .filter(|n| *n >= 1 && *n <= 1000)
            .map(|n| n as u32)
            .ok_or_else(|| bad(format!("Invalid input for field/attribute {key}."))),
    }
}

// ------------------------------------------------------------------------------------------
// Views

/// The server's addresses by network name. `extended` adds the `OS-EXT-IPS` type and MAC
/// (the server view); the `ips` resource shows only version and address, as Nova's does.
fn address_map(s: &Server, extended: bool) -> BTreeMap<String, Vec<Value>> {
    let mut addresses: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for v in &s.vifs {
        let e = addresses.entry(v.network_name.clone()).or_default();
        for ip in &v.fixed_ips {
            let mut a = json!({ "version": if ip.contains(':') { 6 } else { 4 }, "addr": ip });
            if extended {
                a["OS-EXT-IPS:type"] = json!("fixed");
                a["OS-EXT-IPS-MAC:mac_addr"] = json!(v.mac);
            }
            e.push(a);
        }
    }
    addresses
}

fn server_view(s: &Server, mv: Microversion, base: &str, admin: bool) -> Value {
    let addresses = address_map(s, true);
    let image = match s.image_id {
        Some(i) => {
            json!({"id": i.to_string(), "links": [{"rel": "bookmark", "href": format!("{base}/images/{i}")}]})
        }
        None => json!(""),
    };
    let flavor = if mv.at_least(47) {
        let mut f = json!({
            "vcpus": s.flavor.vcpus, "ram": s.flavor.ram_mb, "disk": s.flavor.disk_gb,
            "ephemeral": s.flavor.ephemeral_gb, "swap": s.flavor.swap_mb,
            "original_name": s.flavor.name,
        });
        if admin || mv.at_least(47) {
            f["extra_specs"] = json!(s.flavor.extra_specs);
        }
        f
    } else {
        json!({"id": s.flavor.id, "links": [{"rel": "bookmark", "href": format!("{base}/flavors/{}", s.flavor.id)}]})
    };
    let host_id = match &s.host {
        Some(h) => {
            use md5::Digest;
            // Nova hashes project id + host (sha224); any opaque per-project digest works.
            let d = md5::Md5::digest(format!("{}{}", s.project_id.as_str(), h).as_bytes());
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        }
        None => String::new(),
    };
    let volumes: Vec<Value> = s
        .volumes
        .iter()
        .map(|a| {
            if mv.at_least(3) {
                json!({"id": a.volume_id.to_string(), "delete_on_termination": a.delete_on_termination})
            } else {
                json!({"id": a.volume_id.to_string()})
            }
        })
        .collect();
    let mut v = json!({
        "id": s.id.to_string(),
        "name": s.name,
        "status": s.status(),
        "tenant_id": s.project_id.as_str(),
        "user_id": s.user_id.as_str(),
        "metadata": s.metadata,
        "hostId": host_id,
        "image": image,
        "flavor": flavor,
        "created": ts(s.created_at),
        "updated": ts(s.updated_at),
        "addresses": addresses,
        "accessIPv4": s.access_ipv4.clone().unwrap_or_default(),
        "accessIPv6": s.access_ipv6.clone().unwrap_or_default(),
        "links": links(base, "servers", &s.id.to_string()),
        "OS-DCF:diskConfig": "MANUAL",
        "progress": s.progress,
        "OS-EXT-AZ:availability_zone": s.availability_zone.clone().unwrap_or_else(|| if s.host.is_some() { "nova".into() } else { String::new() }),
        "config_drive": if s.config_drive { "True" } else { "" },
        "key_name": s.key_name,
        "OS-SRV-USG:launched_at": s.launched_at.map(ts_micro),
        "OS-SRV-USG:terminated_at": Value::Null,
        "OS-EXT-STS:task_state": s.task_state.map(|t| t.as_str()),
        "OS-EXT-STS:vm_state": s.vm_state.as_str(),
        "OS-EXT-STS:power_state": s.power_state.code(),
        "os-extended-volumes:volumes_attached": volumes,
        "security_groups": if s.vifs.is_empty() { json!([]) } else { json!([{"name": "default"}]) },
    });
    if admin {
        v["OS-EXT-SRV-ATTR:host"] = json!(s.host);
        v["OS-EXT-SRV-ATTR:hypervisor_hostname"] = json!(s.host);
        v["OS-EXT-SRV-ATTR:instance_name"] = json!(format!("instance-{}", &s.id.simple()[..8]));
        if mv.at_least(3) {
            v["OS-EXT-SRV-ATTR:reservation_id"] = json!(s.reservation_id);
            v["OS-EXT-SRV-ATTR:launch_index"] = json!(s.launch_index);
            v["OS-EXT-SRV-ATTR:hostname"] = json!(crate::hypervisor::hostname_of(&s.name));
            v["OS-EXT-SRV-ATTR:kernel_id"] = json!("");
            v["OS-EXT-SRV-ATTR:ramdisk_id"] = json!("");
            v["OS-EXT-SRV-ATTR:root_device_name"] = json!("/dev/vda");
            v["OS-EXT-SRV-ATTR:user_data"] = json!(s.user_data);
        }
    }
    if mv.at_least(9) {
        v["locked"] = json!(s.locked);
    }
    if mv.at_least(19) {
        v["description"] = json!(s.description);
    }
    if mv.at_least(26) {
        v["tags"] = json!([]);
    }
    if mv.at_least(63) {
        v["trusted_image_certificates"] = Value::Null;
    }
    if mv.at_least(73) {
        v["locked_reason"] = Value::Null;
    }
    if mv.at_least(71) {
        v["server_groups"] = json!(s.server_group.map(|g| vec![g.to_string()]).unwrap_or_default());
    }
    if let Some(f) = &s.fault
        && matches!(s.status(), "ERROR" | "DELETED")
    {
        v["fault"] = json!({"code": f.code, "created": ts(f.created), "message": f.message});
    }
    v
}

fn flavor_view(f: &Flavor, mv: Microversion, base: &str, detail: bool) -> Value {
    let mut v = json!({"id": f.id, "name": f.name, "links": links(base, "flavors", &f.id)});
    if mv.at_least(55) {
        v["description"] = json!(f.description);
    }
    if detail {
        v["ram"] = json!(f.ram_mb);
        v["vcpus"] = json!(f.vcpus);
        v["disk"] = json!(f.disk_gb);
        v["swap"] = if f.swap_mb == 0 && !mv.at_least(75) { json!("") } else { json!(f.swap_mb) };
        v["OS-FLV-EXT-DATA:ephemeral"] = json!(f.ephemeral_gb);
        v["OS-FLV-DISABLED:disabled"] = json!(f.disabled);
        v["os-flavor-access:is_public"] = json!(f.is_public);
        v["rxtx_factor"] = json!(f.rxtx_factor);
        if mv.at_least(61) {
            v["extra_specs"] = json!(f.extra_specs);
        }
    }
    v
}

fn keypair_view(k: &Keypair, mv: Microversion, full: bool) -> Value {
    let mut v = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
    if mv.at_least(2) {
        v["type"] = json!(k.key_type);
    }
    if full {
        v["user_id"] = json!(k.user_id.as_str());
    }
    if let Some(private_key) = &k.private_key {
        v["private_key"] = json!(private_key);
    }
    v
}

fn group_view(g: &ServerGroup, mv: Microversion) -> Value {
    let mut v = json!({
        "id": g.id.to_string(),
        "name": g.name,
        "members": g.members.iter().map(|m| m.to_string()).collect::<Vec<_>>(),
    });
    if mv.at_least(64) {
        v["policy"] = json!(g.policy.as_str());
        v["rules"] = match g.max_server_per_host {
            Some(n) => json!({"max_server_per_host": n}),
            None => json!({}),
        };
    } else {
        v["policies"] = json!([g.policy.as_str()]);
        v["metadata"] = json!({});
    }
    if mv.at_least(13) {
        v["project_id"] = json!(g.project_id.as_str());
        v["user_id"] = json!(g.user_id.as_str());
    }
    v
}

fn attachment_view(a: &VolumeAttachment, server: ServerId, mv: Microversion) -> Value {
    let mut v = json!({
        "id": a.volume_id.to_string(),
        "volumeId": a.volume_id.to_string(),
        "serverId": server.to_string(),
        "device": a.device,
    });
    if mv.at_least(70) {
        v["tag"] = json!(a.tag);
    }
    if mv.at_least(79) {
        v["delete_on_termination"] = json!(a.delete_on_termination);
    }
    v
}

fn interface_view(v: &Vif, mv: Microversion) -> Value {
    let mut o = json!({
        "port_id": v.port_id.to_string(),
        "net_id": v.network_id.to_string(),
        "mac_addr": v.mac,
        "port_state": "ACTIVE",
        "fixed_ips": v.fixed_ips.iter().map(|ip| json!({"ip_address": ip, "subnet_id": ""})).collect::<Vec<_>>(),
    });
    if mv.at_least(70) {
        o["tag"] = Value::Null;
    }
    o
}

// ------------------------------------------------------------------------------------------
// Handlers

async fn versions(headers: HeaderMap) -> Response {
    let base = base_url(&headers);
    // Nova lists the legacy v2.0 first (clients and tempest expect it), then v2.1.
    Json(json!({"versions": [v20_doc(&base).to_json(), version_doc(&base).to_json()]}))
        .into_response()
}

fn v20_doc(base: &str) -> VersionDoc {
    VersionDoc {
        id: "v2.0".into(),
        status: "SUPPORTED".into(),
        version: String::new(),
        min_version: String::new(),
        updated: "2011-01-21T11:33:21Z".into(),
        href: format!("{base}/v2/"),
        media_type: "application/vnd.openstack.compute".into(),
    }
}

/// The v2.0 version document (the legacy API itself is not served).
async fn version_v20(headers: HeaderMap) -> Response {
    Json(v20_doc(&base_url(&headers)).single()).into_response()
}

fn version_doc(base: &str) -> VersionDoc {
    VersionDoc {
        id: "v2.1".into(),
        status: "CURRENT".into(),
        version: MAX_MICROVERSION.to_string(),
        min_version: MIN_MICROVERSION.to_string(),
        updated: "2013-07-23T11:33:21Z".into(),
        href: format!("{base}/v2.1/"),
        media_type: "application/vnd.openstack.compute".into(),
    }
}

async fn version(headers: HeaderMap) -> Response {
    Json(version_doc(&base_url(&headers)).single()).into_response()
}

async fn list_servers(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
    detail: bool,
) -> R {
    let bool_q = |k: &str| {
        q.get(k).is_some_and(|v| {
            matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "t" | "on" | "")
        })
    };
    let changes_since = match q.get("changes-since").or_else(|| q.get("changes_since")) {
        Some(s) => Some(
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
                .map_err(|_| bad("Invalid input for query parameters changes-since."))?,
        ),
        None => None,
    };
    let f = ServerFilter {
        name: q.get("name").cloned(),
        status: q.get("status").cloned(),
        flavor: q.get("flavor").cloned(),
        image: q.get("image").cloned(),
        host: q.get("host").cloned(),
        all_tenants: bool_q("all_tenants"),
        project_id: q
            .get("project_id")
            .or_else(|| q.get("tenant_id"))
            .cloned()
            .filter(|_| bool_q("all_tenants")),
        reservation_id: q.get("reservation_id").cloned(),
        changes_since,
    };
    let mut servers = api.list_servers(&ctx, &f).await.map_err(err)?;
    if let Some(m) = q.get("marker") {
        let pos = servers.iter().position(|s| s.id.to_string() == *m).ok_or_else(|| {
            bad(format!("marker [{}] not found", ferrostack_core::id::truncate_for_message(m)))
        })?;
        servers.drain(..=pos);
    }
    let limit = match q.get("limit") {
        Some(l) => {
            Some(l.parse::<usize>().map_err(|_| bad("Invalid input for query parameters limit."))?)
        }
        None => None,
    };
    let more = limit.is_some_and(|l| servers.len() > l);
    if let Some(l) = limit {
        servers.truncate(l);
    }
    let base = base_url(&headers);
    let admin = ctx.has_role("admin");
    let list: Vec<Value> = servers
        .iter()
        .map(|s| if detail { server_view(s, mv, &base, admin) } else { json!({"id": s.id.to_string(), "name": s.name, "links": links(&base, "servers", &s.id.to_string())}) })
        .collect();
    let mut body = json!({"servers": list});
    if more && let Some(last) = servers.last() {
        let path = if detail { "servers/detail" } else { "servers" };
        body["servers_links"] = json!([{"rel": "next", "href": format!("{base}/v2.1/{path}?limit={}&marker={}", limit.unwrap_or(0), last.id)}]);
    }
    Ok(Json(body).into_response())
}

async fn servers_index(
    s: State<Api>,
    c: Extension<RequestContext>,
    m: Extension<Microversion>,
    h: HeaderMap,
    q: Query<HashMap<String, String>>,
) -> R {
    list_servers(s, c, m, h, q, false).await
}

async fn servers_detail(
    s: State<Api>,
    c: Extension<RequestContext>,
    m: Extension<Microversion>,
    h: HeaderMap,
    q: Query<HashMap<String, String>>,
) -> R {
    list_servers(s, c, m, h, q, true).await
}

async fn create_server(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let o = obj(&body, "server")?;
    let name = opt_str(o, "name")?.ok_or_else(|| {
        bad("Invalid input for field/attribute server. 'name' is a required property")
    })?;
    let flavor_ref = match o.get("flavorRef") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return Err(bad(
                "Invalid input for field/attribute server. 'flavorRef' is a required property",
            ));
        }
    };
    let image_ref = match opt_str(o, "imageRef")? {
        Some(s) if !s.is_empty() => {
            let id = s.rsplit('/').next().unwrap_or(&s);
            Some(id.parse::<ImageId>().map_err(|_| bad("Invalid imageRef provided."))?)
        }
        _ => None,
    };
    let networks = match o.get("networks") {
        None | Some(Value::Null) => {
            if mv.at_least(37) {
                return Err(bad(
                    "Invalid input for field/attribute server. 'networks' is a required property",
                ));
            }
            Vec::new()
        }
        Some(Value::String(s)) if (s == "auto" || s == "none") && mv.at_least(37) => Vec::new(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|n| {
                let n = n
                    .as_object()
                    .ok_or_else(|| bad("Invalid input for field/attribute networks."))?;
                let network_id = match opt_str(n, "uuid")? {
                    Some(u) => Some(u.parse::<NetworkId>().map_err(|_| {
                        bad(format!(
                            "Bad networks format: network uuid is not in proper format ({})",
                            ferrostack_core::id::truncate_for_message(&u)
                        ))
                    })?),
                    None => None,
                };
                let port_id = match opt_str(n, "port")? {
                    Some(p) => Some(
                        p.parse::<PortId>()
                            .map_err(|_| bad("Invalid input for field/attribute port."))?,
                    ),
                    None => None,
                };
                if network_id.is_none() && port_id.is_none() {
                    return Err(bad("Bad network format: missing 'uuid' or 'port'"));
                }
                Ok(NetworkRequest { network_id, port_id, fixed_ip: opt_str(n, "fixed_ip")? })
            })
            .collect::<Result<Vec<_>, ApiError>>()?,
        Some(_) => return Err(bad("Invalid input for field/attribute networks.")),
    };
    let mut volumes = Vec::new();
    if let Some(bdms) = o.get("block_device_mapping_v2") {
        let list = bdms
            .as_array()
            .ok_or_else(|| bad("Invalid input for field/attribute block_device_mapping_v2."))?;
        for b in list {
            let b = b
                .as_object()
                .ok_or_else(|| bad("Invalid input for field/attribute block_device_mapping_v2."))?;
            match opt_str(b, "source_type")?.as_deref() {
                Some("volume") => {
                    let u = opt_str(b, "uuid")?
                        .ok_or_else(|| bad("Block Device Mapping is Invalid: missing uuid."))?;
                    volumes.push(
                        u.parse::<VolumeId>()
                            .map_err(|_| bad("Block Device Mapping is Invalid: invalid uuid."))?,
                    );
                }
                Some("image") if opt_str(b, "destination_type")?.as_deref() != Some("volume") => {}
                other => {
                    return Err(err(ComputeError::NotSupported(format!(
                        "block device source_type {other:?}"
                    ))));
                }
            }
        }
    }
    let config_drive = match o.get("config_drive") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => {
            matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "t" | "on")
        }
        _ => return Err(bad("Invalid input for field/attribute config_drive.")),
    };
    let group = match body.get("os:scheduler_hints").and_then(|h| h.get("group")) {
        None | Some(Value::Null) => None,
        Some(Value::String(g)) => Some(g.parse().map_err(|_| {
            bad(format!(
                "Invalid input for field/attribute group. Value: {}",
                ferrostack_core::id::truncate_for_message(g)
            ))
        })?),
        _ => return Err(bad("Invalid input for field/attribute group.")),
    };
    let min_count = count(o, "min_count")?;
    let max_count = count(o, "max_count")?.max(min_count);
    if o.get("max_count").is_some() && count(o, "max_count")? < min_count {
        return Err(bad("min_count must be <= max_count"));
    }
    let req = CreateServer {
        name,
        description: opt_str(o, "description")?,
        flavor_ref,
        image_ref,
        networks,
        volumes,
        key_name: opt_str(o, "key_name")?,
        metadata: str_map(o, "metadata")?,
        user_data: opt_str(o, "user_data")?,
        config_drive,
        availability_zone: opt_str(o, "availability_zone")?.filter(|z| !z.is_empty()),
        group,
        min_count,
        max_count,
        admin_pass: opt_str(o, "adminPass")?,
        access_ipv4: ip_field::<std::net::Ipv4Addr>(o, "accessIPv4")?,
        access_ipv6: ip_field::<std::net::Ipv6Addr>(o, "accessIPv6")?,
    };
    let admin_pass = req
        .admin_pass
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    let return_reservation =
        o.get("return_reservation_id").and_then(Value::as_bool).unwrap_or(false);
    let servers = api.create_servers(&ctx, req).await.map_err(err)?;
    let base = base_url(&headers);
    if return_reservation {
        let r = servers.first().map(|s| s.reservation_id.clone()).unwrap_or_default();
        return Ok((StatusCode::ACCEPTED, Json(json!({"reservation_id": r}))).into_response());
    }
    let s =
        servers.first().ok_or_else(|| err(ComputeError::Internal("no server created".into())))?;
    let body = json!({"server": {
        "id": s.id.to_string(),
        "links": links(&base, "servers", &s.id.to_string()),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": "default"}],
        "adminPass": admin_pass,
    }});
    let mut resp = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("{base}/v2.1/servers/{}", s.id)) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    Ok(resp)
}

async fn show_server(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    Ok(Json(json!({"server": server_view(&s, mv, &base_url(&headers), ctx.has_role("admin"))}))
        .into_response())
}

/// `GET /servers/{id}/ips`.
async fn server_ips(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    Ok(Json(json!({ "addresses": address_map(&s, false) })).into_response())
}

/// `GET /servers/{id}/ips/{network}`: one network's addresses, 404 when the server has none
/// on it.
async fn server_ips_by_network(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, network)): Path<(String, String)>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    let mut all = address_map(&s, false);
    match all.remove(&network) {
        Some(ips) => Ok(Json(json!({ network: ips })).into_response()),
        None => Err(ApiError::not_found("Network could not be found")),
    }
}

async fn update_server(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let o = obj(&body, "server")?;
    let name = opt_str(o, "name")?;
    let description = if mv.at_least(19) && o.contains_key("description") {
        Some(opt_str(o, "description")?)
    } else {
        None
    };
    let s = api.update_server(&ctx, id, name, description).await.map_err(err)?;
    Ok(Json(json!({"server": server_view(&s, mv, &base_url(&headers), ctx.has_role("admin"))}))
        .into_response())
}

async fn delete_server(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    api.delete_server(&ctx, id).await.map_err(err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn server_action(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    headers: HeaderMap,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let o =
        body.as_object().filter(|o| o.len() == 1).ok_or_else(|| bad("There is no such action"))?;
    let (action, args) = o.iter().next().ok_or_else(|| bad("There is no such action"))?;
    let accepted = || Ok(StatusCode::ACCEPTED.into_response());
    match action.as_str() {
        "os-stop" => {
            api.stop_server(&ctx, id).await.map_err(err)?;
            accepted()
        }
        "os-start" => {
            api.start_server(&ctx, id).await.map_err(err)?;
            accepted()
        }
        "os-getConsoleOutput" => {
            // `length`: the last N lines; absent, null or -1 for everything; Nova accepts
            // integers and integer strings.
            let lines = match args.get("length") {
                None | Some(Value::Null) => None,
                Some(v) => {
                    let n = match v {
                        Value::Number(n) => n.as_i64(),
                        Value::String(s) => s.trim().parse::<i64>().ok(),
                        _ => None,
                    };
                    match n {
                        Some(-1) => None,
                        Some(n) if (0..=i64::from(u32::MAX)).contains(&n) => Some(n as u32),
                        _ => return Err(bad("Invalid input for field/attribute length.")),
                    }
                }
            };
            let output = api.console_output(&ctx, id, lines).await.map_err(err)?;
            Ok(Json(json!({ "output": output })).into_response())
        }
        "reboot" => {
            let kind = match args
                .get("type")
                .and_then(Value::as_str)
                .map(str::to_ascii_uppercase)
                .as_deref()
            {
                Some("SOFT") => RebootKind::Soft,
                Some("HARD") => RebootKind::Hard,
                _ => return Err(bad("Invalid input for field/attribute type.")),
            };
            api.reboot_server(&ctx, id, kind).await.map_err(err)?;
            accepted()
        }
        "resize" => {
            let f = match args.get("flavorRef") {
                Some(Value::String(s)) => s.clone(),
                Some(Value::Number(n)) => n.to_string(),
                _ => return Err(bad("Invalid input for field/attribute flavorRef.")),
            };
            api.resize_server(&ctx, id, &f).await.map_err(err)?;
            accepted()
        }
        "confirmResize" => {
            api.confirm_resize(&ctx, id).await.map_err(err)?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        "revertResize" => {
            api.revert_resize(&ctx, id).await.map_err(err)?;
            accepted()
        }
        "rebuild" => {
            let a = args
                .as_object()
                .ok_or_else(|| bad("Invalid input for field/attribute rebuild."))?;
            let img = opt_str(a, "imageRef")?.ok_or_else(|| {
                bad("Invalid input for field/attribute rebuild. 'imageRef' is a required property")
            })?;
            let img: ImageId = img
                .rsplit('/')
                .next()
                .unwrap_or(&img)
                .parse()
                .map_err(|_| bad("Invalid imageRef provided."))?;
            let s = api.rebuild_server(&ctx, id, img, opt_str(a, "name")?).await.map_err(err)?;
            let mut v = server_view(&s, mv, &base_url(&headers), ctx.has_role("admin"));
            if !mv.at_least(75)
                && let Some(m) = v.as_object_mut()
            {
                // Before 2.75 the rebuild response is the basic view, without extensions.
                m.retain(|k, _| {
                    !k.starts_with("OS-EXT-")
                        && !k.starts_with("OS-SRV-USG")
                        && !matches!(
                            k.as_str(),
                            "config_drive"
                                | "key_name"
                                | "os-extended-volumes:volumes_attached"
                                | "security_groups"
                        )
                });
            }
            v["adminPass"] = json!(uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
            Ok((StatusCode::ACCEPTED, Json(json!({"server": v}))).into_response())
        }
        "createImage" => {
            let a = args
                .as_object()
                .ok_or_else(|| bad("Invalid input for field/attribute createImage."))?;
            let name = opt_str(a, "name")?.ok_or_else(|| {
                bad("Invalid input for field/attribute createImage. 'name' is a required property")
            })?;
            let image =
                api.create_image(&ctx, id, &name, str_map(a, "metadata")?).await.map_err(err)?;
            let base = base_url(&headers);
            let mut resp = if mv.at_least(45) {
                (StatusCode::ACCEPTED, Json(json!({"image_id": image.to_string()}))).into_response()
            } else {
                StatusCode::ACCEPTED.into_response()
            };
            if let Ok(v) = HeaderValue::from_str(&format!("{base}/images/{image}")) {
                resp.headers_mut().insert(header::LOCATION, v);
            }
            Ok(resp)
        }
        "os-getVNCConsole" | "os-getSPICEConsole" | "os-getSerialConsole" => {
            let proto = match action.as_str() {
                "os-getVNCConsole" => "vnc",
                "os-getSPICEConsole" => "spice",
                _ => "serial",
            };
            let t = args.get("type").and_then(Value::as_str).unwrap_or("novnc").to_owned();
            let url = api.console_url(&ctx, id, proto).await.map_err(err)?;
            Ok(Json(json!({"console": {"type": t, "url": url}})).into_response())
        }
        "addFloatingIp"
        | "removeFloatingIp"
        | "addSecurityGroup"
        | "removeSecurityGroup"
        | "pause"
        | "unpause"
        | "suspend"
        | "resume"
        | "lock"
        | "unlock"
        | "shelve"
        | "unshelve"
        | "rescue"
        | "unrescue"
        | "migrate"
        | "os-migrateLive"
        | "evacuate"
        | "changePassword" => Err(err(ComputeError::NotSupported(format!("action {action}")))),
        _ => Err(bad("There is no such action")),
    }
}

async fn remote_console(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let rc = obj(&body, "remote_console")?;
    let protocol = opt_str(rc, "protocol")?
        .ok_or_else(|| bad("Invalid input for field/attribute protocol."))?;
    let t = opt_str(rc, "type")?.unwrap_or_default();
    let url = api.console_url(&ctx, id, &protocol).await.map_err(err)?;
    Ok(Json(json!({"remote_console": {"protocol": protocol, "type": t, "url": url}}))
        .into_response())
}

async fn list_attachments(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    Ok(Json(json!({"volumeAttachments": s.volumes.iter().map(|a| attachment_view(a, id, mv)).collect::<Vec<_>>()})).into_response())
}

async fn show_attachment(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    Path((id, vol)): Path<(String, String)>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let vol: VolumeId = parse_uuid(&vol, "Volume attachment")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    let a = s.volumes.iter().find(|a| a.volume_id == vol).ok_or_else(|| {
        err(ComputeError::NotFound { what: "Volume attachment", id: vol.to_string() })
    })?;
    Ok(Json(json!({"volumeAttachment": attachment_view(a, id, mv)})).into_response())
}

async fn create_attachment(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let o = obj(&body, "volumeAttachment")?;
    let vol = opt_str(o, "volumeId")?.ok_or_else(|| {
        bad("Invalid input for field/attribute volumeAttachment. 'volumeId' is a required property")
    })?;
    let vol: VolumeId =
        vol.parse().map_err(|_| bad("Invalid input for field/attribute volumeId."))?;
    let dot = if mv.at_least(79) {
        o.get("delete_on_termination").and_then(Value::as_bool).unwrap_or(false)
    } else {
        false
    };
    let a = api.attach_volume(&ctx, id, vol, opt_str(o, "device")?, dot).await.map_err(err)?;
    Ok(Json(json!({"volumeAttachment": attachment_view(&a, id, mv)})).into_response())
}

async fn delete_attachment(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, vol)): Path<(String, String)>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let vol: VolumeId = parse_uuid(&vol, "Volume attachment")?;
    api.detach_volume(&ctx, id, vol).await.map_err(err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn list_interfaces(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    Ok(Json(json!({"interfaceAttachments": s.vifs.iter().map(|v| interface_view(v, mv)).collect::<Vec<_>>()})).into_response())
}

async fn show_interface(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    Path((id, port)): Path<(String, String)>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let port: PortId = parse_uuid(&port, "Port")?;
    let s = api.get_server(&ctx, id).await.map_err(err)?;
    let v = s
        .vifs
        .iter()
        .find(|v| v.port_id == port)
        .ok_or_else(|| err(ComputeError::NotFound { what: "Port", id: port.to_string() }))?;
    Ok(Json(json!({"interfaceAttachment": interface_view(v, mv)})).into_response())
}

async fn create_interface(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let o = obj(&body, "interfaceAttachment")?;
    let net = match opt_str(o, "net_id")? {
        Some(n) => Some(
            n.parse::<NetworkId>().map_err(|_| bad("Invalid input for field/attribute net_id."))?,
        ),
        None => None,
    };
    let port = match opt_str(o, "port_id")? {
        Some(p) => Some(
            p.parse::<PortId>().map_err(|_| bad("Invalid input for field/attribute port_id."))?,
        ),
        None => None,
    };
    let v = api.attach_interface(&ctx, id, net, port).await.map_err(err)?;
    Ok(Json(json!({"interfaceAttachment": interface_view(&v, mv)})).into_response())
}

async fn delete_interface(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, port)): Path<(String, String)>,
) -> R {
    let id: ServerId = parse_uuid(&id, "Instance")?;
    let port: PortId = parse_uuid(&port, "Port")?;
    api.detach_interface(&ctx, id, port).await.map_err(err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn list_flavors_any(
    api: Api,
    ctx: RequestContext,
    mv: Microversion,
    headers: HeaderMap,
    q: HashMap<String, String>,
    detail: bool,
) -> R {
    let mut flavors = api.list_flavors(&ctx).await.map_err(err)?;
    if let Some(v) = q.get("is_public") {
        match v.to_ascii_lowercase().as_str() {
            "none" => {}
            "false" | "0" | "no" => flavors.retain(|f| !f.is_public),
            _ => flavors.retain(|f| f.is_public),
        }
    } else {
        flavors.retain(|f| f.is_public);
    }
    if let Some(r) = q.get("minRam") {
        let r: u64 = r.parse().map_err(|_| {
            bad(format!("Invalid minRam filter [{}]", ferrostack_core::id::truncate_for_message(r)))
        })?;
        flavors.retain(|f| f.ram_mb >= r);
    }
    if let Some(d) = q.get("minDisk") {
        let d: u64 = d.parse().map_err(|_| {
            bad(format!(
                "Invalid minDisk filter [{}]",
                ferrostack_core::id::truncate_for_message(d)
            ))
        })?;
        flavors.retain(|f| f.disk_gb >= d);
    }
    if let Some(m) = q.get("marker") {
        let pos = flavors.iter().position(|f| f.id == *m).ok_or_else(|| {
            bad(format!("marker [{}] not found", ferrostack_core::id::truncate_for_message(m)))
        })?;
        flavors.drain(..=pos);
    }
    if let Some(l) = q.get("limit") {
        flavors.truncate(l.parse().map_err(|_| bad("Invalid input for query parameters limit."))?);
    }
    let base = base_url(&headers);
    Ok(Json(json!({"flavors": flavors.iter().map(|f| flavor_view(f, mv, &base, detail)).collect::<Vec<_>>()})).into_response())
}

async fn flavors_index(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> R {
    list_flavors_any(api, ctx, mv, headers, q, false).await
}

async fn flavors_detail(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> R {
    list_flavors_any(api, ctx, mv, headers, q, true).await
}

async fn show_flavor(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> R {
    let f = api.get_flavor(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({"flavor": flavor_view(&f, mv, &base_url(&headers), true)})).into_response())
}

async fn create_flavor(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let o = obj(&body, "flavor")?;
    let int = |k: &str, required: bool| -> Result<u64, ApiError> {
        match o.get(k) {
            None | Some(Value::Null) if !required => Ok(0),
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .ok_or_else(|| bad(format!("Invalid input for field/attribute {k}."))),
            None => Err(bad(format!(
                "Invalid input for field/attribute flavor. '{k}' is a required property"
            ))),
        }
    };
    let name = opt_str(o, "name")?.ok_or_else(|| {
        bad("Invalid input for field/attribute flavor. 'name' is a required property")
    })?;
    let id = match o.get("id") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => return Err(bad("Invalid input for field/attribute id.")),
    };
    let mut f = Flavor::new(
        &id,
        &name,
        int("ram", true)?,
        u32::try_from(int("vcpus", true)?)
            .map_err(|_| bad("Invalid input for field/attribute vcpus."))?,
        int("disk", true)?,
    );
    f.ephemeral_gb = int("OS-FLV-EXT-DATA:ephemeral", false)?;
    f.swap_mb = match o.get("swap") {
        Some(Value::String(s)) if s.is_empty() => 0,
        _ => int("swap", false)?,
    };
    if let Some(r) = o.get("rxtx_factor") {
        f.rxtx_factor =
            r.as_f64().ok_or_else(|| bad("Invalid input for field/attribute rxtx_factor."))?;
    }
    if let Some(p) = o.get("os-flavor-access:is_public") {
        f.is_public = p
            .as_bool()
            .ok_or_else(|| bad("Invalid input for field/attribute os-flavor-access:is_public."))?;
    }
    if mv.at_least(55) {
        f.description = opt_str(o, "description")?;
    }
    let f = api.create_flavor(&ctx, f).await.map_err(err)?;
    Ok(Json(json!({"flavor": flavor_view(&f, mv, &base_url(&headers), true)})).into_response())
}

async fn delete_flavor(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> R {
    api.delete_flavor(&ctx, &id).await.map_err(err)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

async fn list_extra_specs(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> R {
    let f = api.get_flavor(&ctx, &id).await.map_err(err)?;
    Ok(Json(json!({"extra_specs": f.extra_specs})).into_response())
}

async fn set_extra_specs(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let o =
        body.as_object().ok_or_else(|| bad("Invalid input for field/attribute extra_specs."))?;
    let specs = str_map(o, "extra_specs")?;
    if specs.is_empty() {
        return Err(bad("Invalid input for field/attribute extra_specs."));
    }
    let set = api.set_extra_specs(&ctx, &id, specs).await.map_err(err)?;
    Ok(Json(json!({"extra_specs": set})).into_response())
}

async fn show_extra_spec(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, key)): Path<(String, String)>,
) -> R {
    let f = api.get_flavor(&ctx, &id).await.map_err(err)?;
    let v = f.extra_specs.get(&key).ok_or_else(|| {
        err(ComputeError::NotFound { what: "Flavor extra spec", id: key.clone() })
    })?;
    Ok(Json(json!({ key: v })).into_response())
}

async fn update_extra_spec(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, key)): Path<(String, String)>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let o = body
        .as_object()
        .filter(|o| o.len() == 1)
        .ok_or_else(|| bad("Request body contains too many items"))?;
    let v =
        o.get(&key).and_then(Value::as_str).ok_or_else(|| bad("Request body and URI mismatch"))?;
    let set = api
        .set_extra_specs(&ctx, &id, BTreeMap::from([(key.clone(), v.to_owned())]))
        .await
        .map_err(err)?;
    Ok(Json(json!(set)).into_response())
}

async fn delete_extra_spec(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, key)): Path<(String, String)>,
) -> R {
    api.unset_extra_spec(&ctx, &id, &key).await.map_err(err)?;
    Ok(StatusCode::OK.into_response())
}

async fn list_keypairs(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
) -> R {
    let k = api.list_keypairs(&ctx).await.map_err(err)?;
    Ok(Json(json!({"keypairs": k.iter().map(|k| json!({"keypair": keypair_view(k, mv, false)})).collect::<Vec<_>>()})).into_response())
}

async fn show_keypair(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    Path(name): Path<String>,
) -> R {
    let k = api.get_keypair(&ctx, &name).await.map_err(err)?;
    let mut v = keypair_view(&k, mv, true);
    v["created_at"] = json!(ts_micro(k.created_at));
    v["deleted"] = json!(false);
    v["deleted_at"] = Value::Null;
    v["updated_at"] = Value::Null;
    v["id"] = json!(1);
    Ok(Json(json!({"keypair": v})).into_response())
}

async fn create_keypair(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let o = obj(&body, "keypair")?;
    let name = opt_str(o, "name")?.ok_or_else(|| {
        bad("Invalid input for field/attribute keypair. 'name' is a required property")
    })?;
    let kt = match opt_str(o, "type")?.as_deref() {
        None | Some("ssh") => KeypairType::Ssh,
        Some("x509") if mv.at_least(2) => KeypairType::X509,
        _ => return Err(bad("Invalid input for field/attribute type.")),
    };
    let k = api.create_keypair(&ctx, &name, opt_str(o, "public_key")?, kt).await.map_err(err)?;
    let status = if mv.at_least(2) { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, Json(json!({"keypair": keypair_view(&k, mv, true)}))).into_response())
}

async fn delete_keypair(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    Path(name): Path<String>,
) -> R {
    api.delete_keypair(&ctx, &name).await.map_err(err)?;
    Ok(if mv.at_least(2) { StatusCode::NO_CONTENT } else { StatusCode::ACCEPTED }.into_response())
}

async fn list_groups(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
) -> R {
    let g = api.list_groups(&ctx).await.map_err(err)?;
    Ok(Json(json!({"server_groups": g.iter().map(|g| group_view(g, mv)).collect::<Vec<_>>()}))
        .into_response())
}

async fn show_group(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> R {
    let id = parse_uuid(&id, "Instance group")?;
    let g = api.get_group(&ctx, id).await.map_err(err)?;
    Ok(Json(json!({"server_group": group_view(&g, mv)})).into_response())
}

async fn create_group(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let o = obj(&body, "server_group")?;
    let name = opt_str(o, "name")?.ok_or_else(|| {
        bad("Invalid input for field/attribute server_group. 'name' is a required property")
    })?;
    let (policy, max) = if mv.at_least(64) {
        let p = opt_str(o, "policy")?
            .and_then(|p| GroupPolicy::parse(&p))
            .ok_or_else(|| bad("Invalid input for field/attribute policy."))?;
        let max = match o.get("rules").and_then(|r| r.get("max_server_per_host")) {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| bad("Invalid input for field/attribute max_server_per_host."))?,
            ),
        };
        (p, max)
    } else {
        let list = o
            .get("policies")
            .and_then(Value::as_array)
            .filter(|l| l.len() == 1)
            .ok_or_else(|| bad("Invalid input for field/attribute policies."))?;
        let p = list[0]
            .as_str()
            .and_then(GroupPolicy::parse)
            .ok_or_else(|| bad("Invalid input for field/attribute policies."))?;
        if !mv.at_least(15)
            && matches!(p, GroupPolicy::SoftAffinity | GroupPolicy::SoftAntiAffinity)
        {
            return Err(bad("Invalid input for field/attribute policies."));
        }
        (p, None)
    };
    let g = api
        .create_group(&ctx, CreateGroup { name, policy, max_server_per_host: max })
        .await
        .map_err(err)?;
    Ok(Json(json!({"server_group": group_view(&g, mv)})).into_response())
}

async fn delete_group(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> R {
    let id = parse_uuid(&id, "Instance group")?;
    api.delete_group(&ctx, id).await.map_err(err)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn availability_zones(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
) -> R {
    let z = api.availability_zones(&ctx).await.map_err(err)?;
    Ok(Json(json!({"availabilityZoneInfo": z.iter().map(|(n, up)| json!({"zoneName": n, "zoneState": {"available": up}, "hosts": Value::Null})).collect::<Vec<_>>()})).into_response())
}

async fn limits(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
) -> R {
    let project = ctx
        .project_id()
        .cloned()
        .ok_or_else(|| err(ComputeError::Forbidden("a project-scoped token is required".into())))?;
    let (l, u) = api.quotas(&ctx, &project).await.map_err(err)?;
    let groups = api.list_groups(&ctx).await.map(|g| g.len()).unwrap_or(0);
    let mut abs = json!({
        "maxTotalInstances": l.instances, "maxTotalCores": l.cores, "maxTotalRAMSize": l.ram,
        "maxServerMeta": l.metadata_items, "maxTotalKeypairs": l.key_pairs,
        "maxServerGroups": l.server_groups, "maxServerGroupMembers": l.server_group_members,
        "totalInstancesUsed": u.instances, "totalCoresUsed": u.cores, "totalRAMUsed": u.ram,
        "totalServerGroupsUsed": groups,
    });
    if !mv.at_least(57) {
        abs["maxImageMeta"] = json!(128);
        abs["maxPersonality"] = json!(5);
        abs["maxPersonalitySize"] = json!(10240);
    }
    if !mv.at_least(36) {
        for k in ["maxSecurityGroups", "maxSecurityGroupRules", "maxTotalFloatingIps"] {
            abs[k] = json!(-1);
        }
        for k in ["totalSecurityGroupsUsed", "totalFloatingIpsUsed"] {
            abs[k] = json!(0);
        }
    }
    Ok(Json(json!({"limits": {"rate": [], "absolute": abs}})).into_response())
}

fn quota_view(project: &str, l: &QuotaLimits, mv: Microversion) -> Value {
    let mut v = json!({
        "id": project, "instances": l.instances, "cores": l.cores, "ram": l.ram,
        "key_pairs": l.key_pairs, "metadata_items": l.metadata_items,
        "server_groups": l.server_groups, "server_group_members": l.server_group_members,
    });
    if !mv.at_least(57) {
        v["injected_files"] = json!(5);
        v["injected_file_content_bytes"] = json!(10240);
        v["injected_file_path_bytes"] = json!(255);
    }
    if !mv.at_least(36) {
        for k in ["fixed_ips", "floating_ips", "security_groups", "security_group_rules"] {
            v[k] = json!(-1);
        }
    }
    v
}

async fn show_quotas(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    Path(project): Path<String>,
) -> R {
    let p = ProjectId::try_from(project.clone()).map_err(|_| bad("Invalid project id."))?;
    let (l, _) = api.quotas(&ctx, &p).await.map_err(err)?;
    Ok(Json(json!({"quota_set": quota_view(&project, &l, mv)})).into_response())
}

async fn update_quotas(
    State(api): State<Api>,
    Extension(ctx): Extension<RequestContext>,
    Extension(mv): Extension<Microversion>,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> R {
    let p = ProjectId::try_from(project.clone()).map_err(|_| bad("Invalid project id."))?;
    let o = obj(&body, "quota_set")?;
    let (mut l, _) = api.quotas(&ctx, &p).await.map_err(err)?;
    for (k, v) in o {
        let n = v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
        let slot = match k.as_str() {
            "instances" => &mut l.instances,
            "cores" => &mut l.cores,
            "ram" => &mut l.ram,
            "key_pairs" => &mut l.key_pairs,
            "metadata_items" => &mut l.metadata_items,
            "server_groups" => &mut l.server_groups,
            "server_group_members" => &mut l.server_group_members,
            "force" => continue,
            _ => {
                return Err(bad(format!(
                    "Invalid input for field/attribute quota_set. Additional properties are not allowed ('{}' was unexpected)",
                    ferrostack_core::id::truncate_for_message(k)
                )));
            }
        };
        *slot = n.ok_or_else(|| bad(format!("Invalid input for field/attribute {k}.")))?;
    }
    let l = api.set_quotas(&ctx, &p, l).await.map_err(err)?;
    let mut v = quota_view(&project, &l, mv);
    if let Some(m) = v.as_object_mut() {
        m.remove("id");
    }
    Ok(Json(json!({"quota_set": v})).into_response())
}

/// The Nova v2.1 router over `api` (see the module docs).
pub fn router(api: Arc<dyn ComputeApi>) -> Router {
    let v21 = Router::new()
        .route("/servers", get(servers_index).post(create_server))
        .route("/servers/detail", get(servers_detail))
        .route("/servers/{id}", get(show_server).put(update_server).delete(delete_server))
        .route("/servers/{id}/action", post(server_action))
        .route("/servers/{id}/ips", get(server_ips))
        .route("/servers/{id}/ips/{network}", get(server_ips_by_network))
        .route("/servers/{id}/remote-consoles", post(remote_console))
        .route("/servers/{id}/os-volume_attachments", get(list_attachments).post(create_attachment))
        .route(
            "/servers/{id}/os-volume_attachments/{vol}",
            get(show_attachment).delete(delete_attachment),
        )
        .route("/servers/{id}/os-interface", get(list_interfaces).post(create_interface))
        .route("/servers/{id}/os-interface/{port}", get(show_interface).delete(delete_interface))
        .route("/flavors", get(flavors_index).post(create_flavor))
        .route("/flavors/detail", get(flavors_detail))
        .route("/flavors/{id}", get(show_flavor).delete(delete_flavor))
        .route("/flavors/{id}/os-extra_specs", get(list_extra_specs).post(set_extra_specs))
        .route(
            "/flavors/{id}/os-extra_specs/{key}",
            get(show_extra_spec).put(update_extra_spec).delete(delete_extra_spec),
        )
        .route("/os-keypairs", get(list_keypairs).post(create_keypair))
        .route("/os-keypairs/{name}", get(show_keypair).delete(delete_keypair))
        .route("/os-server-groups", get(list_groups).post(create_group))
        .route("/os-server-groups/{id}", get(show_group).delete(delete_group))
        .route("/os-availability-zone", get(availability_zones))
        .route("/limits", get(limits))
        .route("/os-quota-sets/{project}", get(show_quotas).put(update_quotas))
        .route("/os-quota-sets/{project}/detail", get(show_quotas))
        .layer(axum::middleware::from_fn(require_context))
        .with_state(api);
    let v21 = Router::new()
        .route("/", get(version))
        .merge(v21)
        .fallback(|| async { ApiError::not_found("The resource could not be found.") })
        .layer(axum::middleware::from_fn(microversion_layer));
    Router::new()
        .route("/", get(versions))
        .route("/v2.1/", get(version))
        .route("/v2", get(version_v20))
        .route("/v2/", get(version_v20))
        .nest("/v2.1", v21)
        .layer(ferrostack_core::http::body_limit(BODY_LIMIT))
        .layer(axum::middleware::from_fn(ferrostack_core::http::request_id))
}
