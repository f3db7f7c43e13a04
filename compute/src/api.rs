// SPDX-License-Identifier: Apache-2.0
//! [`ComputeApi`]: compute's operations (Nova's API), and the typed requests they take.
//!
//! Two implementations exist: [`crate::service::ComputeService`], the local controller, and
//! [`crate::http::Client`], which speaks Nova's REST API to a remote endpoint (ours or a real
//! Nova). [`crate::testing::run_api_conformance`] runs against both.
//!
//! The request types that have a Nova body of the same shape ([`CreateServer`] inside
//! [`CreateServerBody`], [`ServerAction`]) serialize to and deserialize from exactly that body,
//! so the router parses them and the client sends them without a second mapping. Their
//! deserializers report Nova's messages (`Invalid input for field/attribute ...`) for the
//! values they refuse.

use crate::error::ComputeError;
use crate::hypervisor::RebootKind;
pub use crate::types::NetworkRequest;
use crate::types::{
    Flavor, GroupPolicy, Keypair, KeypairType, QuotaLimits, QuotaUsage, Server, ServerGroup,
    ServerGroupId, Vif, VolumeAttachment,
};
use ferrostack_core::RequestContext;
use ferrostack_core::id::{ImageId, NetworkId, PortId, ProjectId, ServerId, VolumeId};
use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use time::OffsetDateTime;

/// Compute's operations (Nova's API), each taking the caller's context.
///
/// # Contract
///
/// Every implementation, local or remote, behaves the same way:
/// - **Authorization**: every method checks the caller against compute's policy
///   ([`crate::policy`]); a refused caller gets [`ComputeError::Forbidden`]. Flavor management
///   and quota updates need `admin`.
/// - **Visibility**: another project's server, server group or private flavor is reported as
///   [`ComputeError::NotFound`] (never `Forbidden`), unless the caller is an admin.
/// - **Validation**: a malformed request, an unknown flavor or image on create, or a value out
///   of Nova's ranges is [`ComputeError::Invalid`] (HTTP 400) and changes nothing.
/// - **State**: an action the server's `vm_state`/`task_state` forbids is
///   [`ComputeError::InvalidState`] (409) and changes nothing.
/// - **Asynchrony**: creates and actions return once accepted (Nova's 202); the server then
///   moves through its task states. Callers poll [`ComputeApi::get_server`] for the outcome.
/// - **Atomicity**: a failed call leaves no partial record behind: quota usage, server group
///   membership and server records are written in one transaction.
#[async_trait::async_trait]
pub trait ComputeApi: Send + Sync + fmt::Debug {
    /// Creates `min_count..=max_count` servers; returns them in BUILD.
    async fn create_servers(
        &self,
        ctx: &RequestContext,
        req: CreateServer,
    ) -> Result<Vec<Server>, ComputeError>;
    /// Lists servers, newest first.
    async fn list_servers(
        &self,
        ctx: &RequestContext,
        f: &ServerFilter,
    ) -> Result<Vec<Server>, ComputeError>;
    /// Shows a server.
    async fn get_server(&self, ctx: &RequestContext, id: ServerId) -> Result<Server, ComputeError>;
    /// Renames or re-describes a server.
    async fn update_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        req: UpdateServer,
    ) -> Result<Server, ComputeError>;
    /// Deletes a server.
    async fn delete_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError>;
    /// Stops.
    async fn stop_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError>;
    /// Starts.
    async fn start_server(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError>;
    /// Reboots.
    async fn reboot_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        kind: RebootKind,
    ) -> Result<(), ComputeError>;
    /// Resizes to a flavor.
    async fn resize_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        flavor_ref: &str,
    ) -> Result<(), ComputeError>;
    /// Confirms a resize.
    async fn confirm_resize(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError>;
    /// Reverts a resize.
    async fn revert_resize(&self, ctx: &RequestContext, id: ServerId) -> Result<(), ComputeError>;
    /// Rebuilds from an image.
    async fn rebuild_server(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        req: RebuildServer,
    ) -> Result<Server, ComputeError>;
    /// Snapshots to a new image; returns its id.
    async fn create_image(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        req: CreateImage,
    ) -> Result<ImageId, ComputeError>;
    /// Attaches a volume.
    async fn attach_volume(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        req: AttachVolume,
    ) -> Result<VolumeAttachment, ComputeError>;
    /// Detaches a volume.
    async fn detach_volume(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        volume: VolumeId,
    ) -> Result<(), ComputeError>;
    /// Attaches an interface (a new port on `network`, or an existing `port`).
    async fn attach_interface(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        network: Option<NetworkId>,
        port: Option<PortId>,
    ) -> Result<Vif, ComputeError>;
    /// Detaches an interface.
    async fn detach_interface(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        port: PortId,
    ) -> Result<(), ComputeError>;
    /// A console URL (`vnc`, `spice`, `serial`).
    async fn console_url(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        protocol: &str,
    ) -> Result<String, ComputeError>;
    /// The serial console output: the last `lines` lines, all with `None`.
    async fn console_output(
        &self,
        ctx: &RequestContext,
        id: ServerId,
        lines: Option<u32>,
    ) -> Result<String, ComputeError>;
    /// Flavors visible to the caller (public ones; every one for an admin).
    async fn list_flavors(&self, ctx: &RequestContext) -> Result<Vec<Flavor>, ComputeError>;
    /// A flavor.
    async fn get_flavor(&self, ctx: &RequestContext, id: &str) -> Result<Flavor, ComputeError>;
    /// Creates a flavor (admin).
    async fn create_flavor(
        &self,
        ctx: &RequestContext,
        flavor: Flavor,
    ) -> Result<Flavor, ComputeError>;
    /// Deletes a flavor (admin).
    async fn delete_flavor(&self, ctx: &RequestContext, id: &str) -> Result<(), ComputeError>;
    /// Sets extra specs (admin); returns the ones set.
    async fn set_extra_specs(
        &self,
        ctx: &RequestContext,
        id: &str,
        specs: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ComputeError>;
    /// Unsets an extra spec (admin).
    async fn unset_extra_spec(
        &self,
        ctx: &RequestContext,
        id: &str,
        key: &str,
    ) -> Result<(), ComputeError>;
    /// The caller's keypairs.
    async fn list_keypairs(&self, ctx: &RequestContext) -> Result<Vec<Keypair>, ComputeError>;
    /// A keypair of the caller.
    async fn get_keypair(&self, ctx: &RequestContext, name: &str) -> Result<Keypair, ComputeError>;
    /// Imports a keypair, or generates one when `public_key` is `None` (the answer then holds
    /// the private key, which is never shown again).
    async fn create_keypair(
        &self,
        ctx: &RequestContext,
        req: CreateKeypair,
    ) -> Result<Keypair, ComputeError>;
    /// Deletes a keypair.
    async fn delete_keypair(&self, ctx: &RequestContext, name: &str) -> Result<(), ComputeError>;
    /// The caller's project's server groups.
    async fn list_groups(&self, ctx: &RequestContext) -> Result<Vec<ServerGroup>, ComputeError>;
    /// A server group.
    async fn get_group(
        &self,
        ctx: &RequestContext,
        id: ServerGroupId,
    ) -> Result<ServerGroup, ComputeError>;
    /// Creates a server group.
    async fn create_group(
        &self,
        ctx: &RequestContext,
        req: CreateGroup,
    ) -> Result<ServerGroup, ComputeError>;
    /// Deletes a server group.
    async fn delete_group(
        &self,
        ctx: &RequestContext,
        id: ServerGroupId,
    ) -> Result<(), ComputeError>;
    /// A project's limits and usage.
    async fn quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<(QuotaLimits, QuotaUsage), ComputeError>;
    /// Sets a project's limits (admin).
    async fn set_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        limits: QuotaLimits,
    ) -> Result<QuotaLimits, ComputeError>;
    /// Availability zones and whether each has a host up.
    async fn availability_zones(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<AvailabilityZone>, ComputeError>;
}

// ------------------------------------------------------------------------------------------
// Servers

/// Nova's `POST /servers` body: `{"server": {...}, "os:scheduler_hints": {...}}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateServerBody {
    /// The server.
    pub server: CreateServer,
    /// Scheduler hints (outside `server`, as Nova has them).
    #[serde(
        rename = "os:scheduler_hints",
        alias = "OS-SCH-HNT:scheduler_hints",
        default,
        skip_serializing_if = "SchedulerHints::is_empty"
    )]
    pub scheduler_hints: SchedulerHints,
}

impl From<CreateServerBody> for CreateServer {
    fn from(b: CreateServerBody) -> Self {
        CreateServer { scheduler_hints: b.scheduler_hints, ..b.server }
    }
}

impl From<CreateServer> for CreateServerBody {
    fn from(mut s: CreateServer) -> Self {
        let scheduler_hints = std::mem::take(&mut s.scheduler_hints);
        CreateServerBody { server: s, scheduler_hints }
    }
}

/// A create request for one or many servers: the `server` object of Nova's body, plus the
/// scheduler hints that travel beside it (see [`CreateServerBody`]).
///
/// Accepted and not acted on (as documented in the crate docs): `security_groups` (every port
/// gets the network's default group), `tags`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CreateServer {
    /// Name.
    pub name: String,
    /// Description (2.19).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Flavor id (or a URL ending in it).
    #[serde(rename = "flavorRef", deserialize_with = "nova::string_or_number")]
    pub flavor_ref: String,
    /// Image (None for boot from volume).
    #[serde(
        rename = "imageRef",
        default,
        deserialize_with = "nova::image_ref",
        skip_serializing_if = "Option::is_none"
    )]
    pub image_ref: Option<ImageId>,
    /// Networks and ports.
    #[serde(default, skip_serializing_if = "Networks::is_unspecified")]
    pub networks: Networks,
    /// Block devices (`source_type` `volume` attaches a volume, the first boots when there is
    /// no image; `image` to `local` is the image disk itself).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub block_device_mapping_v2: Vec<BlockDeviceMapping>,
    /// Security groups (accepted; ports get the default group).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<SecurityGroupRef>,
    /// Keypair name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_name: Option<String>,
    /// Metadata.
    #[serde(
        default,
        deserialize_with = "nova::metadata",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub metadata: BTreeMap<String, String>,
    /// Base64 user data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// Config drive.
    #[serde(default, deserialize_with = "nova::config_drive")]
    pub config_drive: bool,
    /// Availability zone (an empty string means none).
    #[serde(
        default,
        deserialize_with = "nova::non_empty",
        skip_serializing_if = "Option::is_none"
    )]
    pub availability_zone: Option<String>,
    /// Minimum count (1 when absent; 0 means 1).
    #[serde(
        default = "one",
        deserialize_with = "nova::min_count",
        skip_serializing_if = "at_most_one"
    )]
    pub min_count: u32,
    /// Maximum count (`min_count` when absent).
    #[serde(
        default,
        deserialize_with = "nova::max_count",
        skip_serializing_if = "Option::is_none"
    )]
    pub max_count: Option<u32>,
    /// Admin password.
    #[serde(rename = "adminPass", default, skip_serializing_if = "Option::is_none")]
    pub admin_pass: Option<String>,
    /// Access IPv4 (normalized; an empty string means none).
    #[serde(
        rename = "accessIPv4",
        default,
        deserialize_with = "nova::ipv4",
        skip_serializing_if = "Option::is_none"
    )]
    pub access_ipv4: Option<String>,
    /// Access IPv6 (normalized, `::babe:dc0c:1602`).
    #[serde(
        rename = "accessIPv6",
        default,
        deserialize_with = "nova::ipv6",
        skip_serializing_if = "Option::is_none"
    )]
    pub access_ipv6: Option<String>,
    /// Tags (2.52; accepted, not stored).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Answer with the reservation id instead of the first server (HTTP only; the service
    /// ignores it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub return_reservation_id: bool,
    /// Scheduler hints (serialized beside `server`, see [`CreateServerBody`]).
    #[serde(skip)]
    pub scheduler_hints: SchedulerHints,
}

fn one() -> u32 {
    1
}

fn at_most_one(n: &u32) -> bool {
    *n <= 1
}

impl CreateServer {
    /// The volumes to attach at boot: the `volume` sources of the block device mappings.
    ///
    /// # Errors
    ///
    /// A mapping without a valid volume uuid is `Invalid`; a source compute cannot boot from
    /// (`snapshot`, `blank`, an image to a new volume) is `NotSupported`.
    pub fn volumes(&self) -> Result<Vec<VolumeId>, ComputeError> {
        let mut out = Vec::new();
        for b in &self.block_device_mapping_v2 {
            match b.source_type.as_deref() {
                Some("volume") => {
                    let u = b.uuid.as_deref().ok_or_else(|| {
                        ComputeError::Invalid(
                            "Block Device Mapping is Invalid: missing uuid.".into(),
                        )
                    })?;
                    out.push(u.parse().map_err(|_| {
                        ComputeError::Invalid(
                            "Block Device Mapping is Invalid: invalid uuid.".into(),
                        )
                    })?);
                }
                Some("image") if b.destination_type.as_deref() != Some("volume") => {}
                other => {
                    return Err(ComputeError::NotSupported(format!(
                        "block device source_type {other:?}"
                    )));
                }
            }
        }
        Ok(out)
    }

    /// A mapping that attaches `volume` (boot index 0 when it is the first).
    pub fn with_volume(mut self, volume: VolumeId) -> Self {
        let boot_index = self.block_device_mapping_v2.is_empty().then_some(0);
        self.block_device_mapping_v2.push(BlockDeviceMapping {
            source_type: Some("volume".into()),
            destination_type: Some("volume".into()),
            uuid: Some(volume.to_string()),
            boot_index,
            ..Default::default()
        });
        self
    }
}

/// The `networks` of a create request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Networks {
    /// Not given (allowed before 2.37): no interfaces.
    #[default]
    Unspecified,
    /// `"auto"` (2.37): Nova would allocate a network; this deployment attaches none.
    Auto,
    /// `"none"` (2.37): no interfaces.
    None,
    /// Explicit networks and ports.
    List(Vec<NetworkRequest>),
}

impl Networks {
    /// Whether the request left `networks` out.
    pub fn is_unspecified(&self) -> bool {
        matches!(self, Networks::Unspecified)
    }

    /// The explicit requests (empty for `auto`, `none` and unspecified).
    pub fn requests(&self) -> &[NetworkRequest] {
        match self {
            Networks::List(l) => l,
            _ => &[],
        }
    }
}

impl From<Vec<NetworkRequest>> for Networks {
    fn from(l: Vec<NetworkRequest>) -> Self {
        Networks::List(l)
    }
}

/// One element of `networks` as Nova writes it (`uuid`, `port`, `fixed_ip`).
#[derive(Serialize, Deserialize)]
struct WireNetwork {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    port: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fixed_ip: Option<String>,
}

impl TryFrom<WireNetwork> for NetworkRequest {
    type Error = String;

    fn try_from(n: WireNetwork) -> Result<Self, String> {
        let network_id = match n.uuid {
            Some(u) => Some(u.parse::<NetworkId>().map_err(|_| {
                format!(
                    "Bad networks format: network uuid is not in proper format ({})",
                    ferrostack_core::id::truncate_for_message(&u)
                )
            })?),
            None => None,
        };
        let port_id = match n.port {
            Some(p) => Some(
                p.parse::<PortId>()
                    .map_err(|_| "Invalid input for field/attribute port.".to_owned())?,
            ),
            None => None,
        };
        if network_id.is_none() && port_id.is_none() {
            return Err("Bad network format: missing 'uuid' or 'port'".into());
        }
        Ok(NetworkRequest { network_id, port_id, fixed_ip: n.fixed_ip })
    }
}

impl Serialize for Networks {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Networks::Unspecified => s.serialize_none(),
            Networks::Auto => s.serialize_str("auto"),
            Networks::None => s.serialize_str("none"),
            Networks::List(l) => s.collect_seq(l.iter().map(|n| WireNetwork {
                uuid: n.network_id.map(|i| i.to_string()),
                port: n.port_id.map(|i| i.to_string()),
                fixed_ip: n.fixed_ip.clone(),
            })),
        }
    }
}

impl<'de> Deserialize<'de> for Networks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Networks;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("\"auto\", \"none\" or a list of networks")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Networks, E> {
                Ok(Networks::Unspecified)
            }
            fn visit_none<E: de::Error>(self) -> Result<Networks, E> {
                Ok(Networks::Unspecified)
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Networks, E> {
                match s {
                    "auto" => Ok(Networks::Auto),
                    "none" => Ok(Networks::None),
                    _ => Err(E::invalid_value(de::Unexpected::Str(s), &self)),
                }
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Networks, A::Error> {
                let mut out = Vec::new();
                while let Some(n) = seq.next_element::<WireNetwork>()? {
                    out.push(NetworkRequest::try_from(n).map_err(de::Error::custom)?);
                }
                Ok(Networks::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// One `block_device_mapping_v2` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDeviceMapping {
    /// `volume`, `image`, `snapshot` or `blank`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_type: Option<String>,
    /// `volume` or `local`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_type: Option<String>,
    /// The source's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// Boot order (0 boots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_index: Option<i32>,
    /// Size of a new volume in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_size: Option<u64>,
    /// The guest device name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// Delete the volume with the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_on_termination: Option<bool>,
}

/// A security group named in a create request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupRef {
    /// Its name (or id).
    pub name: String,
}

/// Scheduler hints. Only `group` is acted on; others are accepted and ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SchedulerHints {
    /// The server group the servers join.
    #[serde(default, deserialize_with = "nova::group", skip_serializing_if = "Option::is_none")]
    pub group: Option<ServerGroupId>,
}

impl SchedulerHints {
    /// Whether no hint is set.
    pub fn is_empty(&self) -> bool {
        self.group.is_none()
    }
}

/// List filters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerFilter {
    /// Substring of the name.
    pub name: Option<String>,
    /// API status.
    pub status: Option<String>,
    /// Flavor id.
    pub flavor: Option<String>,
    /// Image id.
    pub image: Option<String>,
    /// Host (admin).
    pub host: Option<String>,
    /// Every project (admin).
    pub all_tenants: bool,
    /// A project (admin, with `all_tenants`).
    pub project_id: Option<String>,
    /// Reservation id.
    pub reservation_id: Option<String>,
    /// Changed since.
    pub changes_since: Option<OffsetDateTime>,
}

/// `PUT /servers/{id}`: what to change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateServer {
    /// A new name.
    pub name: Option<String>,
    /// A new description (`Some(None)` clears it; 2.19).
    pub description: Option<Option<String>>,
}

/// A rebuild (`{"rebuild": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebuildServer {
    /// The image to rebuild from (or a URL ending in its id).
    #[serde(rename = "imageRef", deserialize_with = "nova::required_image_ref")]
    pub image: ImageId,
    /// A new name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A snapshot (`{"createImage": {...}}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateImage {
    /// The image name.
    pub name: String,
    /// Image properties.
    #[serde(
        default,
        deserialize_with = "nova::metadata",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub metadata: BTreeMap<String, String>,
}

/// A volume attachment request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachVolume {
    /// The volume.
    pub volume: VolumeId,
    /// The guest device (chosen when `None`).
    pub device: Option<String>,
    /// Delete the volume with the server (2.79).
    pub delete_on_termination: bool,
}

/// A keypair create or import request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateKeypair {
    /// The name, unique per user.
    pub name: String,
    /// The public key to import; generated when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// ssh or x509 (2.2).
    #[serde(rename = "type", default)]
    pub key_type: KeypairType,
}

/// A server group create request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateGroup {
    /// Name.
    pub name: String,
    /// Policy.
    pub policy: GroupPolicy,
    /// `max_server_per_host` (anti-affinity only).
    pub max_server_per_host: Option<u32>,
}

/// An availability zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailabilityZone {
    /// Its name.
    pub name: String,
    /// Whether an enabled host in it is up.
    pub available: bool,
}

mod action;
mod nova;

pub use action::{ConsoleProtocol, NOT_IMPLEMENTED_ACTIONS, ServerAction};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn create_bodies_parse_as_nova_writes_them() {
        let net = NetworkId::new();
        let body = json!({
            "server": {
                "name": "vm", "flavorRef": 1, "imageRef": format!("http://x/images/{}", ImageId::new()),
                "networks": [{"uuid": net.to_string(), "fixed_ip": "10.0.0.5"}],
                "min_count": "2", "config_drive": "true", "accessIPv6": "0:0:0:0:0:0:0:1",
                "availability_zone": "", "security_groups": [{"name": "default"}],
            },
            "os:scheduler_hints": {"group": ServerGroupId::new().to_string()},
        });
        let req: CreateServer = serde_json::from_value::<CreateServerBody>(body).unwrap().into();
        assert_eq!(req.flavor_ref, "1");
        assert!(req.image_ref.is_some() && req.config_drive && req.scheduler_hints.group.is_some());
        assert_eq!(req.min_count, 2);
        assert_eq!(req.max_count, None);
        assert_eq!(req.access_ipv6.as_deref(), Some("::1"));
        assert_eq!(req.availability_zone, None);
        assert_eq!(req.networks.requests()[0].network_id, Some(net));
        // And back: the client sends what the router reads.
        let again = serde_json::to_value(CreateServerBody::from(req.clone())).unwrap();
        let back: CreateServer = serde_json::from_value::<CreateServerBody>(again).unwrap().into();
        assert_eq!(back, req);
        let auto: CreateServerBody = serde_json::from_value(
            json!({"server": {"name": "a", "flavorRef": "1", "networks": "auto"}}),
        )
        .unwrap();
        assert_eq!(auto.server.networks, Networks::Auto);
        for bad in [
            json!({"server": {"name": 42, "flavorRef": "1"}}),
            json!({"server": {"name": "x", "flavorRef": "1", "min_count": -3}}),
            json!({"server": {"name": "x", "flavorRef": "1", "imageRef": "not-a-uuid"}}),
            json!({"server": {"name": "x", "flavorRef": "1", "networks": [{"fixed_ip": "1.2.3.4"}]}}),
            json!({"server": {"name": "x", "flavorRef": "1", "metadata": {"a": 1}}}),
        ] {
            assert!(serde_json::from_value::<CreateServerBody>(bad.clone()).is_err(), "{bad}");
        }
    }
}
