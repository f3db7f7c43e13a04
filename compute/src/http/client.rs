// SPDX-License-Identifier: Apache-2.0
//! [`Client`]: [`ComputeApi`] over Nova's v2.1 REST API, at microversion 2.79.
//!
//! It speaks to this crate's [`router`](super::router) or to a real Nova. Everything the API
//! shows comes back; what Nova's API does not expose is left empty in the returned records and
//! listed here so nobody relies on it:
//! - `Server`: the flavor's `id` (2.47+ embeds the flavor without it), interface port and
//!   network ids (`addresses` carries names, MACs and IPs; [`ComputeApi::attach_interface`]
//!   returns full ids), attachment ids of volumes, the requested networks and volumes,
//!   `key_data`, `old_flavor`, the admin password; `host`, `user_data`, `reservation_id` and
//!   `launch_index` for non-admin callers.
//! - `Keypair::created_at` of a just-created keypair is the client's clock.
//! - `Vif` of an attached interface: `network_name`, `vif_type` and `details`.
//!
//! Servers created together come back in the order the list call returns them.

use super::MICROVERSIONS;
use crate::api::{
    AttachVolume, AvailabilityZone, ComputeApi, CreateGroup, CreateImage, CreateKeypair,
    CreateServer, CreateServerBody, RebuildServer, ServerAction, ServerFilter, UpdateServer,
};
use crate::error::ComputeError;
use crate::hypervisor::RebootKind;
use crate::types::{
    AttachmentId, Fault, Flavor, GroupPolicy, Keypair, KeypairType, PowerState, QuotaLimits,
    QuotaUsage, Server, ServerGroup, ServerGroupId, TaskState, Vif, VmState, VolumeAttachment,
};
use axum::http::{HeaderName, HeaderValue, Method};
use ferrostack_core::RequestContext;
use ferrostack_core::http::client::{
    Body, Query, ServiceClient, TokenSource, decode, encode_segment,
};
use ferrostack_core::id::{ImageId, NetworkId, PortId, ProjectId, ServerId, UserId, VolumeId};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// A remote compute API (see the module docs).
#[derive(Debug, Clone)]
pub struct Client {
    http: ServiceClient,
}

impl Client {
    /// A client of the compute API at `base_url` (its root, e.g.
    /// `http://127.0.0.1:8774/compute`; `/v2.1` is appended), sending
    /// `OpenStack-API-Version: compute 2.79`. Calls use the context's token.
    pub fn new(base_url: impl Into<String>) -> Self {
        let base = format!("{}/v2.1", base_url.into().trim_end_matches('/'));
        let version = HeaderValue::from_str(&format!("compute {}", MICROVERSIONS.max))
            .unwrap_or_else(|_| HeaderValue::from_static("compute 2.79"));
        let http = ServiceClient::new(base)
            .with_header(HeaderName::from_static("openstack-api-version"), version);
        Client { http }
    }

    /// Uses `tokens` for contexts that carry no token.
    pub fn with_token_source(mut self, tokens: Arc<dyn TokenSource>) -> Self {
        self.http = self.http.with_token_source(tokens);
        self
    }

    async fn get<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
    ) -> Result<T, ComputeError> {
        Ok(self.http.get(ctx, path).await?)
    }

    async fn post<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        path: &str,
        body: &impl serde::Serialize,
    ) -> Result<T, ComputeError> {
        Ok(self.http.post(ctx, path, body).await?)
    }

    /// `POST /servers/{id}/action`; the answer's body is ignored.
    async fn action(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        action: &ServerAction,
    ) -> Result<(), ComputeError> {
        let body = Body::json(action)?;
        self.http.send(ctx, Method::POST, &format!("/servers/{id}/action"), Some(body)).await?;
        Ok(())
    }

    /// `POST /servers/{id}/action`, the answer decoded from JSON.
    async fn action_json<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        action: &ServerAction,
    ) -> Result<T, ComputeError> {
        let body = Body::json(action)?;
        let path = format!("/servers/{id}/action");
        Ok(decode(self.http.send(ctx, Method::POST, &path, Some(body)).await?).await?)
    }
}

// ------------------------------------------------------------------------------------------
// Views back into records

fn bad_view(what: &str) -> ComputeError {
    ComputeError::Internal(format!("the compute API answered an unreadable {what}"))
}

/// `2026-12-07T22:49:09Z` (or with a fraction / offset), or Nova's offset-less
/// `2026-12-07T22:49:09.123456` (UTC).
fn parse_time(s: &str) -> Option<OffsetDateTime> {
    use time::format_description::well_known::Rfc3339;
    OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(&format!("{s}Z"), &Rfc3339))
        .ok()
}

fn empty_is_none(s: Option<String>) -> Option<String> {
    s.filter(|s| !s.is_empty())
}

#[derive(Deserialize)]
struct FlavorView {
    id: String,
    name: String,
    #[serde(default)]
    ram: u64,
    #[serde(default)]
    vcpus: u32,
    #[serde(default)]
    disk: u64,
    #[serde(default)]
    swap: Value,
    #[serde(rename = "OS-FLV-EXT-DATA:ephemeral", default)]
    ephemeral: u64,
    #[serde(rename = "OS-FLV-DISABLED:disabled", default)]
    disabled: bool,
    #[serde(rename = "os-flavor-access:is_public", default = "yes")]
    is_public: bool,
    #[serde(default = "one")]
    rxtx_factor: f64,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    extra_specs: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn one() -> f64 {
    1.0
}

impl From<FlavorView> for Flavor {
    fn from(v: FlavorView) -> Self {
        Flavor {
            id: v.id,
            name: v.name,
            ram_mb: v.ram,
            vcpus: v.vcpus,
            disk_gb: v.disk,
            ephemeral_gb: v.ephemeral,
            swap_mb: v.swap.as_u64().unwrap_or(0),
            rxtx_factor: v.rxtx_factor,
            is_public: v.is_public,
            disabled: v.disabled,
            description: v.description,
            extra_specs: v.extra_specs,
        }
    }
}

/// The flavor embedded in a server (2.47+).
#[derive(Deserialize, Default)]
struct EmbeddedFlavor {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    original_name: String,
    #[serde(default)]
    ram: u64,
    #[serde(default)]
    vcpus: u32,
    #[serde(default)]
    disk: u64,
    #[serde(default)]
    ephemeral: u64,
    #[serde(default)]
    swap: u64,
    #[serde(default)]
    extra_specs: BTreeMap<String, String>,
}

#[derive(Deserialize)]
struct Address {
    addr: String,
    #[serde(rename = "OS-EXT-IPS-MAC:mac_addr", default)]
    mac: String,
}

#[derive(Deserialize)]
struct AttachedVolume {
    id: VolumeId,
    #[serde(default)]
    delete_on_termination: bool,
}

#[derive(Deserialize)]
struct FaultView {
    code: u16,
    message: String,
    created: String,
}

#[derive(Deserialize)]
struct ServerView {
    id: ServerId,
    name: String,
    #[serde(default)]
    description: Option<String>,
    tenant_id: ProjectId,
    user_id: UserId,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    image: Value,
    #[serde(default)]
    flavor: EmbeddedFlavor,
    created: String,
    updated: String,
    #[serde(default)]
    addresses: BTreeMap<String, Vec<Address>>,
    #[serde(rename = "accessIPv4", default)]
    access_ipv4: Option<String>,
    #[serde(rename = "accessIPv6", default)]
    access_ipv6: Option<String>,
    #[serde(default)]
    progress: u8,
    #[serde(rename = "OS-EXT-AZ:availability_zone", default)]
    availability_zone: Option<String>,
    #[serde(default)]
    config_drive: Value,
    #[serde(default)]
    key_name: Option<String>,
    #[serde(rename = "OS-SRV-USG:launched_at", default)]
    launched_at: Option<String>,
    #[serde(rename = "OS-EXT-STS:task_state", default)]
    task_state: Option<String>,
    #[serde(rename = "OS-EXT-STS:vm_state")]
    vm_state: String,
    #[serde(rename = "OS-EXT-STS:power_state", default)]
    power_state: Option<PowerState>,
    #[serde(rename = "os-extended-volumes:volumes_attached", default)]
    volumes: Vec<AttachedVolume>,
    #[serde(rename = "OS-EXT-SRV-ATTR:host", default)]
    host: Option<String>,
    #[serde(rename = "OS-EXT-SRV-ATTR:reservation_id", default)]
    reservation_id: Option<String>,
    #[serde(rename = "OS-EXT-SRV-ATTR:launch_index", default)]
    launch_index: Option<u32>,
    #[serde(rename = "OS-EXT-SRV-ATTR:user_data", default)]
    user_data: Option<String>,
    #[serde(default)]
    locked: bool,
    #[serde(default)]
    server_groups: Vec<ServerGroupId>,
    #[serde(default)]
    fault: Option<FaultView>,
}

impl TryFrom<ServerView> for Server {
    type Error = ComputeError;

    fn try_from(v: ServerView) -> Result<Self, ComputeError> {
        let time = |s: &str| parse_time(s).ok_or_else(|| bad_view("server timestamp"));
        let f = v.flavor;
        let flavor = Flavor {
            id: f.id.unwrap_or_default(),
            name: f.original_name,
            ram_mb: f.ram,
            vcpus: f.vcpus,
            disk_gb: f.disk,
            ephemeral_gb: f.ephemeral,
            swap_mb: f.swap,
            extra_specs: f.extra_specs,
            ..Flavor::new("", "", 0, 0, 0)
        };
        let vifs = v
            .addresses
            .into_iter()
            .flat_map(|(network_name, addrs)| {
                let mut by_mac: BTreeMap<String, Vec<String>> = BTreeMap::new();
                for a in addrs {
                    by_mac.entry(a.mac).or_default().push(a.addr);
                }
                by_mac.into_iter().map(move |(mac, fixed_ips)| Vif {
                    port_id: PortId::from(uuid::Uuid::nil()),
                    network_id: NetworkId::from(uuid::Uuid::nil()),
                    network_name: network_name.clone(),
                    mac,
                    fixed_ips,
                    vif_type: String::new(),
                    details: BTreeMap::new(),
                    created_by_compute: false,
                })
            })
            .collect();
        let fault = match v.fault {
            Some(f) => Some(Fault { code: f.code, message: f.message, created: time(&f.created)? }),
            None => None,
        };
        Ok(Server {
            id: v.id,
            name: v.name,
            description: v.description,
            project_id: v.tenant_id,
            user_id: v.user_id,
            flavor,
            old_flavor: None,
            image_id: v.image.get("id").and_then(Value::as_str).and_then(|s| s.parse().ok()),
            vm_state: VmState::parse(&v.vm_state).ok_or_else(|| bad_view("vm_state"))?,
            task_state: v.task_state.as_deref().and_then(TaskState::parse),
            power_state: v.power_state.unwrap_or_default(),
            host: v.host,
            availability_zone: empty_is_none(v.availability_zone),
            key_name: v.key_name,
            key_data: None,
            metadata: v.metadata,
            user_data: v.user_data,
            config_drive: v.config_drive.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"))
                || v.config_drive.as_bool() == Some(true),
            requested_networks: Vec::new(),
            requested_volumes: Vec::new(),
            vifs,
            volumes: v
                .volumes
                .into_iter()
                .map(|a| VolumeAttachment {
                    volume_id: a.id,
                    attachment_id: AttachmentId::from(uuid::Uuid::nil()),
                    device: String::new(),
                    delete_on_termination: a.delete_on_termination,
                    tag: None,
                })
                .collect(),
            server_group: v.server_groups.first().copied(),
            reservation_id: v.reservation_id.unwrap_or_default(),
            launch_index: v.launch_index.unwrap_or(0),
            access_ipv4: empty_is_none(v.access_ipv4),
            access_ipv6: empty_is_none(v.access_ipv6),
            admin_pass: None,
            progress: v.progress,
            locked: v.locked,
            fault,
            created_at: time(&v.created)?,
            updated_at: time(&v.updated)?,
            launched_at: v.launched_at.as_deref().and_then(parse_time),
        })
    }
}

#[derive(Deserialize)]
struct OneServer {
    server: ServerView,
}

#[derive(Deserialize)]
struct Servers {
    servers: Vec<ServerView>,
}

#[derive(Deserialize)]
struct KeypairView {
    name: String,
    public_key: String,
    fingerprint: String,
    #[serde(rename = "type", default)]
    key_type: KeypairType,
    #[serde(default)]
    user_id: Option<UserId>,
    #[serde(default)]
    created_at: Option<String>,
    #[serde(default)]
    private_key: Option<String>,
}

impl KeypairView {
    fn into_keypair(self, ctx: &RequestContext) -> Keypair {
        Keypair {
            name: self.name,
            user_id: self.user_id.unwrap_or_else(|| ctx.user_id.clone()),
            public_key: self.public_key,
            fingerprint: self.fingerprint,
            key_type: self.key_type,
            created_at: self
                .created_at
                .as_deref()
                .and_then(parse_time)
                .unwrap_or_else(OffsetDateTime::now_utc),
            private_key: self.private_key,
        }
    }
}

#[derive(Deserialize)]
struct GroupView {
    id: ServerGroupId,
    name: String,
    #[serde(default)]
    members: Vec<ServerId>,
    policy: String,
    #[serde(default)]
    rules: GroupRules,
    project_id: ProjectId,
    user_id: UserId,
}

#[derive(Deserialize, Default)]
struct GroupRules {
    #[serde(default)]
    max_server_per_host: Option<u32>,
}

impl TryFrom<GroupView> for ServerGroup {
    type Error = ComputeError;

    fn try_from(g: GroupView) -> Result<Self, ComputeError> {
        Ok(ServerGroup {
            id: g.id,
            name: g.name,
            policy: GroupPolicy::parse(&g.policy).ok_or_else(|| bad_view("server group policy"))?,
            max_server_per_host: g.rules.max_server_per_host,
            members: g.members,
            project_id: g.project_id,
            user_id: g.user_id,
        })
    }
}

#[derive(Deserialize)]
struct QuotaItem {
    limit: i64,
    #[serde(default)]
    in_use: i64,
}

#[derive(Deserialize)]
struct QuotaDetail {
    instances: QuotaItem,
    cores: QuotaItem,
    ram: QuotaItem,
    key_pairs: QuotaItem,
    metadata_items: QuotaItem,
    server_groups: QuotaItem,
    server_group_members: QuotaItem,
}

#[derive(Deserialize, serde::Serialize)]
struct QuotaSet {
    instances: i64,
    cores: i64,
    ram: i64,
    key_pairs: i64,
    metadata_items: i64,
    server_groups: i64,
    server_group_members: i64,
}

impl From<QuotaSet> for QuotaLimits {
    fn from(q: QuotaSet) -> Self {
        QuotaLimits {
            instances: q.instances,
            cores: q.cores,
            ram: q.ram,
            key_pairs: q.key_pairs,
            server_groups: q.server_groups,
            server_group_members: q.server_group_members,
            metadata_items: q.metadata_items,
        }
    }
}

/// The value under `key` of a response, decoded (the serde error kept as the cause).
fn wrapped<T: DeserializeOwned>(mut v: Value, key: &str) -> Result<T, ComputeError> {
    serde_json::from_value(v.get_mut(key).map(Value::take).unwrap_or_default())
        .map_err(ComputeError::codec("compute API response"))
}

// ------------------------------------------------------------------------------------------

#[async_trait::async_trait]
impl ComputeApi for Client {
    async fn create_servers(
        &self,
        ctx: &RequestContext,
        req: CreateServer,
    ) -> Result<Vec<Server>, ComputeError> {
        let mut body = CreateServerBody::from(req);
        body.server.return_reservation_id = true;
        let r: Value = self.post(ctx, "/servers", &body).await?;
        let reservation = r
            .get("reservation_id")
            .and_then(Value::as_str)
            .ok_or_else(|| bad_view("create response"))?
            .to_owned();
        let f = ServerFilter { reservation_id: Some(reservation), ..Default::default() };
        let mut servers = self.list_servers(ctx, &f).await?;
        servers.sort_by_key(|s| (s.launch_index, s.name.clone()));
        Ok(servers)
    }

    async fn list_servers(
        &self,
        ctx: &RequestContext,
        f: &ServerFilter,
    ) -> Result<Vec<Server>, ComputeError> {
        use time::format_description::well_known::Rfc3339;
        let changes_since = match f.changes_since {
            Some(t) => Some(t.format(&Rfc3339).map_err(|_| bad_view("timestamp"))?),
            None => None,
        };
        let q = Query::new()
            .push_opt("name", f.name.as_deref())
            .push_opt("status", f.status.as_deref())
            .push_opt("flavor", f.flavor.as_deref())
            .push_opt("image", f.image.as_deref())
            .push_opt("host", f.host.as_deref())
            .push_opt("all_tenants", f.all_tenants.then_some("true"))
            .push_opt("project_id", f.project_id.as_deref())
            .push_opt("reservation_id", f.reservation_id.as_deref())
            .push_opt("changes-since", changes_since)
            .finish();
        let list: Servers = self.get(ctx, &format!("/servers/detail{q}")).await?;
        list.servers.into_iter().map(Server::try_from).collect()
    }

    async fn get_server(&self, ctx: &RequestContext, id: ServerId) -> Result<Server, ComputeError> {
        let s: OneServer = self.get(ctx, &format!("/servers/{id}")).await?;
        s.server.try_into()
    }

    async fn update_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        req: UpdateServer,
    ) -> Result<Server, ComputeError> {
        let mut fields = serde_json::Map::new();
        if let Some(n) = req.name {
            fields.insert("name".into(), json!(n));
        }
        if let Some(d) = req.description {
            fields.insert("description".into(), json!(d));
        }
        let path = format!("/servers/{id}");
        let s: OneServer = self.http.put(ctx, &path, &json!({ "server": fields })).await?;
        s.server.try_into()
    }

    async fn delete_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        Ok(self.http.delete(ctx, &format!("/servers/{id}")).await?)
    }

    async fn stop_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        self.action(ctx, id, &ServerAction::Stop).await
    }

    async fn start_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        self.action(ctx, id, &ServerAction::Start).await
    }

    async fn reboot_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        kind: RebootKind,
    ) -> Result<(), ComputeError> {
        self.action(ctx, id, &ServerAction::Reboot(kind)).await
    }

    async fn resize_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        flavor_ref: &str,
    ) -> Result<(), ComputeError> {
        let a = ServerAction::Resize { flavor_ref: flavor_ref.to_owned() };
        self.action(ctx, id, &a).await
    }

    async fn confirm_resize(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        self.action(ctx, id, &ServerAction::ConfirmResize).await
    }

    async fn revert_resize(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError> {
        self.action(ctx, id, &ServerAction::RevertResize).await
    }

    async fn rebuild_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        req: RebuildServer,
    ) -> Result<Server, ComputeError> {
        let s: OneServer = self.action_json(ctx, id, &ServerAction::Rebuild(req)).await?;
        s.server.try_into()
    }

    async fn create_image(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        req: CreateImage,
    ) -> Result<ImageId, ComputeError> {
        let v: Value = self.action_json(ctx, id, &ServerAction::CreateImage(req)).await?;
        v.get("image_id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad_view("createImage response"))
    }

    async fn attach_volume(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        req: AttachVolume,
    ) -> Result<VolumeAttachment, ComputeError> {
        #[derive(Deserialize)]
        struct View {
            #[serde(rename = "volumeId")]
            volume_id: VolumeId,
            #[serde(default)]
            device: Option<String>,
            #[serde(default)]
            delete_on_termination: bool,
            #[serde(default)]
            tag: Option<String>,
        }
        let mut a = json!({"volumeId": req.volume.to_string()});
        if let Some(d) = req.device {
            a["device"] = json!(d);
        }
        if req.delete_on_termination {
            a["delete_on_termination"] = json!(true);
        }
        let path = format!("/servers/{id}/os-volume_attachments");
        let v: Value = self.post(ctx, &path, &json!({ "volumeAttachment": a })).await?;
        let v: View = wrapped(v, "volumeAttachment")?;
        Ok(VolumeAttachment {
            volume_id: v.volume_id,
            attachment_id: AttachmentId::from(uuid::Uuid::nil()),
            device: v.device.unwrap_or_default(),
            delete_on_termination: v.delete_on_termination,
            tag: v.tag,
        })
    }

    async fn detach_volume(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        volume: VolumeId,
    ) -> Result<(), ComputeError> {
        Ok(self.http.delete(ctx, &format!("/servers/{id}/os-volume_attachments/{volume}")).await?)
    }

    async fn attach_interface(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        network: Option<NetworkId>,
        port: Option<PortId>,
    ) -> Result<Vif, ComputeError> {
        #[derive(Deserialize)]
        struct Ip {
            ip_address: String,
        }
        #[derive(Deserialize)]
        struct View {
            port_id: PortId,
            net_id: NetworkId,
            #[serde(default)]
            mac_addr: String,
            #[serde(default)]
            fixed_ips: Vec<Ip>,
        }
        let mut a = serde_json::Map::new();
        if let Some(n) = network {
            a.insert("net_id".into(), json!(n.to_string()));
        }
        if let Some(p) = port {
            a.insert("port_id".into(), json!(p.to_string()));
        }
        let path = format!("/servers/{id}/os-interface");
        let v: Value = self.post(ctx, &path, &json!({ "interfaceAttachment": a })).await?;
        let v: View = wrapped(v, "interfaceAttachment")?;
        Ok(Vif {
            port_id: v.port_id,
            network_id: v.net_id,
            network_name: String::new(),
            mac: v.mac_addr,
            fixed_ips: v.fixed_ips.into_iter().map(|i| i.ip_address).collect(),
            vif_type: String::new(),
            details: BTreeMap::new(),
            created_by_compute: network.is_some(),
        })
    }

    async fn detach_interface(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        port: PortId,
    ) -> Result<(), ComputeError> {
        Ok(self.http.delete(ctx, &format!("/servers/{id}/os-interface/{port}")).await?)
    }

    async fn console_url(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        protocol: &str,
    ) -> Result<String, ComputeError> {
        let console_type = match protocol {
            "vnc" => "novnc",
            "spice" => "spice-html5",
            other => other,
        };
        let body = json!({"remote_console": {"protocol": protocol, "type": console_type}});
        let v: Value = self.post(ctx, &format!("/servers/{id}/remote-consoles"), &body).await?;
        v.pointer("/remote_console/url")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad_view("remote console"))
    }

    async fn console_output(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        lines: Option<u32>,
    ) -> Result<String, ComputeError> {
        let a = ServerAction::GetConsoleOutput { length: lines };
        let v: Value = self.action_json(ctx, id, &a).await?;
        v.get("output")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| bad_view("console output"))
    }

    async fn list_flavors(&self, ctx: &RequestContext) -> Result<Vec<Flavor>, ComputeError> {
        let v: Value = self.get(ctx, "/flavors/detail?is_public=none").await?;
        let list: Vec<FlavorView> = wrapped(v, "flavors")?;
        Ok(list.into_iter().map(Flavor::from).collect())
    }

    async fn get_flavor(&self, ctx: &RequestContext, id: &str) -> Result<Flavor, ComputeError> {
        let v: Value = self.get(ctx, &format!("/flavors/{}", encode_segment(id))).await?;
        Ok(wrapped::<FlavorView>(v, "flavor")?.into())
    }

    async fn create_flavor(
        &self,
        ctx: &RequestContext,
        flavor: Flavor,
    ) -> Result<Flavor, ComputeError> {
        let mut body = json!({
            "name": flavor.name, "id": flavor.id, "ram": flavor.ram_mb, "vcpus": flavor.vcpus,
            "disk": flavor.disk_gb, "OS-FLV-EXT-DATA:ephemeral": flavor.ephemeral_gb,
            "swap": flavor.swap_mb, "rxtx_factor": flavor.rxtx_factor,
            "os-flavor-access:is_public": flavor.is_public,
        });
        if let Some(d) = &flavor.description {
            body["description"] = json!(d);
        }
        let v: Value = self.post(ctx, "/flavors", &json!({ "flavor": body })).await?;
        let mut created: Flavor = wrapped::<FlavorView>(v, "flavor")?.into();
        if !flavor.extra_specs.is_empty() {
            let set = self.set_extra_specs(ctx, &created.id, flavor.extra_specs).await?;
            created.extra_specs.extend(set);
        }
        Ok(created)
    }

    async fn delete_flavor(&self, ctx: &RequestContext, id: &str) -> Result<(), ComputeError> {
        Ok(self.http.delete(ctx, &format!("/flavors/{}", encode_segment(id))).await?)
    }

    async fn set_extra_specs(
        &self,
        ctx: &RequestContext,
        id: &str,
        specs: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ComputeError> {
        let path = format!("/flavors/{}/os-extra_specs", encode_segment(id));
        let v: Value = self.post(ctx, &path, &json!({ "extra_specs": specs })).await?;
        wrapped(v, "extra_specs")
    }

    async fn unset_extra_spec(
        &self,
        ctx: &RequestContext,
        id: &str,
        key: &str,
    ) -> Result<(), ComputeError> {
        let path =
            format!("/flavors/{}/os-extra_specs/{}", encode_segment(id), encode_segment(key));
        Ok(self.http.delete(ctx, &path).await?)
    }

    async fn list_keypairs(&self, ctx: &RequestContext) -> Result<Vec<Keypair>, ComputeError> {
        #[derive(Deserialize)]
        struct Item {
            keypair: KeypairView,
        }
        let v: Value = self.get(ctx, "/os-keypairs").await?;
        let list: Vec<Item> = wrapped(v, "keypairs")?;
        Ok(list.into_iter().map(|i| i.keypair.into_keypair(ctx)).collect())
    }

    async fn get_keypair(&self, ctx: &RequestContext, name: &str) -> Result<Keypair, ComputeError> {
        let v: Value = self.get(ctx, &format!("/os-keypairs/{}", encode_segment(name))).await?;
        Ok(wrapped::<KeypairView>(v, "keypair")?.into_keypair(ctx))
    }

    async fn create_keypair(
        &self,
        ctx: &RequestContext,
        req: CreateKeypair,
    ) -> Result<Keypair, ComputeError> {
        let v: Value = self.post(ctx, "/os-keypairs", &json!({ "keypair": req })).await?;
        Ok(wrapped::<KeypairView>(v, "keypair")?.into_keypair(ctx))
    }

    async fn delete_keypair(&self, ctx: &RequestContext, name: &str) -> Result<(), ComputeError> {
        Ok(self.http.delete(ctx, &format!("/os-keypairs/{}", encode_segment(name))).await?)
    }

    async fn list_groups(&self, ctx: &RequestContext) -> Result<Vec<ServerGroup>, ComputeError> {
        let v: Value = self.get(ctx, "/os-server-groups").await?;
        let list: Vec<GroupView> = wrapped(v, "server_groups")?;
        list.into_iter().map(ServerGroup::try_from).collect()
    }

    async fn get_group(
        &self,
        ctx: &RequestContext,
        id: ServerGroupId,
    ) -> Result<ServerGroup, ComputeError> {
        let v: Value = self.get(ctx, &format!("/os-server-groups/{id}")).await?;
        wrapped::<GroupView>(v, "server_group")?.try_into()
    }

    async fn create_group(
        &self,
        ctx: &RequestContext,
        req: CreateGroup,
    ) -> Result<ServerGroup, ComputeError> {
        let mut g = json!({"name": req.name, "policy": req.policy.as_str()});
        if let Some(n) = req.max_server_per_host {
            g["rules"] = json!({ "max_server_per_host": n });
        }
        let v: Value = self.post(ctx, "/os-server-groups", &json!({ "server_group": g })).await?;
        wrapped::<GroupView>(v, "server_group")?.try_into()
    }

    async fn delete_group(
        &self,
        ctx: &RequestContext,
        id: ServerGroupId,
    ) -> Result<(), ComputeError> {
        Ok(self.http.delete(ctx, &format!("/os-server-groups/{id}")).await?)
    }

    async fn quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<(QuotaLimits, QuotaUsage), ComputeError> {
        let path = format!("/os-quota-sets/{}/detail", encode_segment(project.as_str()));
        let v: Value = self.get(ctx, &path).await?;
        let d: QuotaDetail = wrapped(v, "quota_set")?;
        let usage =
            QuotaUsage { instances: d.instances.in_use, cores: d.cores.in_use, ram: d.ram.in_use };
        let limits = QuotaLimits {
            instances: d.instances.limit,
            cores: d.cores.limit,
            ram: d.ram.limit,
            key_pairs: d.key_pairs.limit,
            server_groups: d.server_groups.limit,
            server_group_members: d.server_group_members.limit,
            metadata_items: d.metadata_items.limit,
        };
        Ok((limits, usage))
    }

    async fn set_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        limits: QuotaLimits,
    ) -> Result<QuotaLimits, ComputeError> {
        let body = QuotaSet {
            instances: limits.instances,
            cores: limits.cores,
            ram: limits.ram,
            key_pairs: limits.key_pairs,
            metadata_items: limits.metadata_items,
            server_groups: limits.server_groups,
            server_group_members: limits.server_group_members,
        };
        let path = format!("/os-quota-sets/{}", encode_segment(project.as_str()));
        let v: Value = self.http.put(ctx, &path, &json!({ "quota_set": body })).await?;
        Ok(wrapped::<QuotaSet>(v, "quota_set")?.into())
    }

    async fn availability_zones(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<AvailabilityZone>, ComputeError> {
        #[derive(Deserialize)]
        struct State {
            available: bool,
        }
        #[derive(Deserialize)]
        struct Zone {
            #[serde(rename = "zoneName")]
            name: String,
            #[serde(rename = "zoneState")]
            state: State,
        }
        let v: Value = self.get(ctx, "/os-availability-zone").await?;
        let list: Vec<Zone> = wrapped(v, "availabilityZoneInfo")?;
        Ok(list
            .into_iter()
            .map(|z| AvailabilityZone { name: z.name, available: z.state.available })
            .collect())
    }
}
