// SPDX-License-Identifier: Apache-2.0
//! Compute resources: Nova's state model (`vm_state`, `task_state`, `power_state` and the API
//! `status` derived from them), flavors, keypairs, server groups, quotas, aggregates and the
//! server record.

use ferrostack_core::id::{ImageId, NetworkId, PortId, ProjectId, ServerId, UserId, VolumeId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use time::OffsetDateTime;

ferrostack_core::define_id!(
    /// A Nova server group.
    ServerGroupId
);
ferrostack_core::define_id!(
    /// A Cinder attachment (the 3.44 attachment API's id).
    AttachmentId
);

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v),+
        }
        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$v),+];
            /// The string Nova uses.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$v => $s),+ }
            }
            /// Parses Nova's string.
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$v),)+ _ => None }
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// `nova/compute/vm_states.py`: the stable state of an instance.
    VmState {
        /// Being built.
        Building = "building",
        /// Running (or at least launched and not stopped).
        Active = "active",
        /// Paused in memory.
        Paused = "paused",
        /// Suspended to disk.
        Suspended = "suspended",
        /// Powered off by the API.
        Stopped = "stopped",
        /// In rescue mode.
        Rescued = "rescued",
        /// Resized, waiting for confirm or revert.
        Resized = "resized",
        /// Soft-deleted (reclaimable).
        SoftDeleted = "soft-delete",
        /// Deleted.
        Deleted = "deleted",
        /// In error.
        Error = "error",
        /// Shelved.
        Shelved = "shelved",
        /// Shelved and offloaded from its host.
        ShelvedOffloaded = "shelved_offloaded",
    }
);

string_enum!(
    /// `nova/compute/task_states.py`: the operation in progress, if any.
    TaskState {
        /// Waiting for a host.
        Scheduling = "scheduling",
        /// Attaching block devices.
        BlockDeviceMapping = "block_device_mapping",
        /// Allocating network ports.
        Networking = "networking",
        /// Spawning on the hypervisor.
        Spawning = "spawning",
        /// Snapshot in progress.
        ImageSnapshot = "image_snapshot",
        /// Snapshot requested.
        ImageSnapshotPending = "image_snapshot_pending",
        /// Snapshot waiting to upload.
        ImagePendingUpload = "image_pending_upload",
        /// Snapshot uploading.
        ImageUploading = "image_uploading",
        /// Changing the admin password.
        UpdatingPassword = "updating_password",
        /// Resize: preparing.
        ResizePrep = "resize_prep",
        /// Resize: migrating.
        ResizeMigrating = "resize_migrating",
        /// Resize: migrated.
        ResizeMigrated = "resize_migrated",
        /// Resize: finishing.
        ResizeFinish = "resize_finish",
        /// Resize: reverting.
        ResizeReverting = "resize_reverting",
        /// Resize: confirming.
        ResizeConfirming = "resize_confirming",
        /// Soft reboot requested.
        Rebooting = "rebooting",
        /// Soft reboot pending.
        RebootPending = "reboot_pending",
        /// Soft reboot started.
        RebootStarted = "reboot_started",
        /// Hard reboot requested.
        RebootingHard = "rebooting_hard",
        /// Hard reboot pending.
        RebootPendingHard = "reboot_pending_hard",
        /// Hard reboot started.
        RebootStartedHard = "reboot_started_hard",
        /// Pausing.
        Pausing = "pausing",
        /// Unpausing.
        Unpausing = "unpausing",
        /// Suspending.
        Suspending = "suspending",
        /// Resuming.
        Resuming = "resuming",
        /// Powering off.
        PoweringOff = "powering-off",
        /// Powering on.
        PoweringOn = "powering-on",
        /// Entering rescue.
        Rescuing = "rescuing",
        /// Leaving rescue.
        Unrescuing = "unrescuing",
        /// Rebuilding.
        Rebuilding = "rebuilding",
        /// Rebuild: block devices.
        RebuildBlockDeviceMapping = "rebuild_block_device_mapping",
        /// Rebuild: spawning.
        RebuildSpawning = "rebuild_spawning",
        /// Live-migrating.
        Migrating = "migrating",
        /// Deleting.
        Deleting = "deleting",
        /// Soft-deleting.
        SoftDeleting = "soft-deleting",
        /// Restoring from soft-delete.
        Restoring = "restoring",
        /// Shelving.
        Shelving = "shelving",
        /// Shelving: image pending upload.
        ShelvingImagePendingUpload = "shelving_image_pending_upload",
        /// Shelving: image uploading.
        ShelvingImageUploading = "shelving_image_uploading",
        /// Shelving: offloading.
        ShelvingOffloading = "shelving_offloading",
        /// Unshelving.
        Unshelving = "unshelving",
    }
);

/// `nova/compute/power_state.py`: what the hypervisor reports, as Nova's integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PowerState {
    /// 0: no domain, or not known yet ("pending").
    #[default]
    NoState,
    /// 1: running.
    Running,
    /// 3: paused.
    Paused,
    /// 4: shut down.
    Shutdown,
    /// 6: crashed.
    Crashed,
    /// 7: suspended.
    Suspended,
}

impl PowerState {
    /// Nova's integer.
    pub const fn code(self) -> u8 {
        match self {
            PowerState::NoState => 0,
            PowerState::Running => 1,
            PowerState::Paused => 3,
            PowerState::Shutdown => 4,
            PowerState::Crashed => 6,
            PowerState::Suspended => 7,
        }
    }
    /// From Nova's integer; unknown values are `NoState`.
    pub const fn from_code(code: u8) -> Self {
        match code {
            1 => PowerState::Running,
            3 => PowerState::Paused,
            4 => PowerState::Shutdown,
            6 => PowerState::Crashed,
            7 => PowerState::Suspended,
            _ => PowerState::NoState,
        }
    }
}

impl Serialize for PowerState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.code())
    }
}

impl<'de> Deserialize<'de> for PowerState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(PowerState::from_code(u8::deserialize(d)?))
    }
}

/// The API `status` of a server from its `vm_state` and `task_state`
/// (`nova/api/openstack/common.py` `_STATE_MAP`).
pub fn server_status(vm: VmState, task: Option<TaskState>) -> &'static str {
    use TaskState as T;
    let rebuild =
        matches!(task, Some(T::Rebuilding | T::RebuildBlockDeviceMapping | T::RebuildSpawning));
    let resize = matches!(
        task,
        Some(T::ResizePrep | T::ResizeMigrating | T::ResizeMigrated | T::ResizeFinish)
    );
    match vm {
        VmState::Active => match task {
            Some(T::Rebooting | T::RebootPending | T::RebootStarted) => "REBOOT",
            Some(T::RebootingHard | T::RebootPendingHard | T::RebootStartedHard) => "HARD_REBOOT",
            Some(T::UpdatingPassword) => "PASSWORD",
            Some(T::Migrating) => "MIGRATING",
            _ if rebuild => "REBUILD",
            _ if resize => "RESIZE",
            _ => "ACTIVE",
        },
        VmState::Building => "BUILD",
        VmState::Stopped => match task {
            _ if resize => "RESIZE",
            _ if rebuild => "REBUILD",
            _ => "SHUTOFF",
        },
        VmState::Resized => match task {
            Some(T::ResizeReverting) => "REVERT_RESIZE",
            _ => "VERIFY_RESIZE",
        },
        VmState::Paused => match task {
            Some(T::Migrating) => "MIGRATING",
            _ => "PAUSED",
        },
        VmState::Suspended => "SUSPENDED",
        VmState::Rescued => "RESCUE",
        VmState::Error => {
            if rebuild {
                "REBUILD"
            } else {
                "ERROR"
            }
        }
        VmState::Deleted => "DELETED",
        VmState::SoftDeleted => "SOFT_DELETED",
        VmState::Shelved => "SHELVED",
        VmState::ShelvedOffloaded => "SHELVED_OFFLOADED",
    }
}

/// The vm_states an API `status` filter selects (Nova's `task_and_vm_state_from_status`,
/// simplified to vm_states). Unknown statuses select nothing.
pub fn vm_states_for_status(status: &str) -> Vec<VmState> {
    VmState::ALL
        .iter()
        .copied()
        .filter(|vm| {
            let upper = status.to_ascii_uppercase();
            server_status(*vm, None) == upper
                || (upper == "REBOOT" || upper == "HARD_REBOOT" || upper == "RESIZE")
                    && *vm == VmState::Active
        })
        .collect()
}

/// A flavor: the size of an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flavor {
    /// The flavor id (Nova's `flavorid`, a string: `"1"`, or a UUID).
    pub id: String,
    /// The unique name (`m1.tiny`).
    pub name: String,
    /// Memory in MiB.
    pub ram_mb: u64,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// Root disk in GiB.
    pub disk_gb: u64,
    /// Ephemeral disk in GiB.
    pub ephemeral_gb: u64,
    /// Swap in MiB (0 = none).
    pub swap_mb: u64,
    /// RX/TX factor.
    pub rxtx_factor: f64,
    /// Visible to every project.
    pub is_public: bool,
    /// Disabled flavors cannot be used for new servers.
    pub disabled: bool,
    /// Free-form description (2.55).
    pub description: Option<String>,
    /// Extra specs (`hw:cpu_policy`, `aggregate_instance_extra_specs:*`, ...).
    pub extra_specs: BTreeMap<String, String>,
}

impl Flavor {
    /// What a server of this flavor claims from its host: its vCPUs, its RAM and its root plus
    /// ephemeral disk.
    pub fn resources(&self) -> crate::placement::Resources {
        crate::placement::Resources {
            vcpus: u64::from(self.vcpus),
            ram_mb: self.ram_mb,
            disk_gb: self.disk_gb + self.ephemeral_gb,
        }
    }

    /// A public flavor with no extra specs.
    pub fn new(id: &str, name: &str, ram_mb: u64, vcpus: u32, disk_gb: u64) -> Self {
        Flavor {
            id: id.into(),
            name: name.into(),
            ram_mb,
            vcpus,
            disk_gb,
            ephemeral_gb: 0,
            swap_mb: 0,
            rxtx_factor: 1.0,
            is_public: true,
            disabled: false,
            description: None,
            extra_specs: BTreeMap::new(),
        }
    }

    /// Nova's default flavors (`m1.tiny` .. `m1.xlarge`, ids `"1"`..`"5"`).
    pub fn defaults() -> Vec<Flavor> {
        vec![
            Flavor::new("1", "m1.tiny", 512, 1, 1),
            Flavor::new("2", "m1.small", 2048, 1, 20),
            Flavor::new("3", "m1.medium", 4096, 2, 40),
            Flavor::new("4", "m1.large", 8192, 4, 80),
            Flavor::new("5", "m1.xlarge", 16384, 8, 160),
        ]
    }

    /// Validates sizes and names as Nova's flavor-create schema does.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.trim().is_empty() || self.name.len() > 255 {
            return Err("Invalid input for field/attribute name.".into());
        }
        if self.id.is_empty() || self.id.len() > 255 {
            return Err("Invalid input for field/attribute id.".into());
        }
        if self.ram_mb == 0 || self.ram_mb > i32::MAX as u64 {
            return Err("Invalid input for field/attribute ram.".into());
        }
        if self.vcpus == 0 || self.vcpus > i32::MAX as u32 {
            return Err("Invalid input for field/attribute vcpus.".into());
        }
        if self.disk_gb > i32::MAX as u64 || self.ephemeral_gb > i32::MAX as u64 {
            return Err("Invalid input for field/attribute disk.".into());
        }
        let rx = self.rxtx_factor;
        if !(rx.is_finite() && rx > 0.0) {
            return Err("Invalid input for field/attribute rxtx_factor.".into());
        }
        for (k, v) in &self.extra_specs {
            validate_spec(k, v)?;
        }
        Ok(())
    }
}

/// Validates one extra spec (Nova: key 1..255 chars of `[\w.: -]`, value up to 255).
pub fn validate_spec(key: &str, value: &str) -> Result<(), String> {
    let key_ok = !key.is_empty()
        && key.len() <= 255
        && key.chars().all(|c| c.is_alphanumeric() || "_.: -".contains(c));
    if !key_ok || value.len() > 255 {
        return Err(format!(
            "Invalid input for field/attribute extra_specs. Value: {}",
            ferrostack_core::id::truncate_for_message(key)
        ));
    }
    Ok(())
}

/// The kind of a keypair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KeypairType {
    /// An SSH public key.
    #[default]
    Ssh,
    /// An X.509 certificate.
    X509,
}

/// A keypair: a named public key of a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Keypair {
    /// The name, unique per user.
    pub name: String,
    /// The owner.
    pub user_id: UserId,
    /// The public key (OpenSSH format).
    pub public_key: String,
    /// The MD5 fingerprint, `aa:bb:...`, as Nova computes it.
    pub fingerprint: String,
    /// ssh or x509.
    #[serde(rename = "type")]
    pub key_type: KeypairType,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The private key (OpenSSH format), only in the answer to the request that generated
    /// it: never stored, so it cannot be shown again.
    #[serde(skip)]
    pub private_key: Option<String>,
}

/// Validates a keypair name as Nova does (1..255 characters: letters, digits, `_- .@`).
pub fn validate_keypair_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > 255 || name.trim() != name {
        return Err("Keypair data is invalid: Keypair name must be string and between 1 and 255 characters long".into());
    }
    if !name.chars().all(|c| c.is_alphanumeric() || "_- .@".contains(c)) {
        return Err("Keypair data is invalid: Keypair name contains unsafe characters".into());
    }
    Ok(())
}

/// The MD5 fingerprint of an OpenSSH public key line (`ssh-ed25519 AAAA... comment`), as
/// `aa:bb:..`; `Err` if it is not a parseable public key.
pub fn ssh_fingerprint(public_key: &str) -> Result<String, String> {
    use base64::Engine;
    use md5::Digest;
    let invalid = || "Keypair data is invalid: failed to generate fingerprint".to_string();
    let mut parts = public_key.split_whitespace();
    let algo = parts.next().ok_or_else(invalid)?;
    let blob = parts.next().ok_or_else(invalid)?;
    let known = [
        "ssh-rsa",
        "ssh-dss",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    ];
    if !known.contains(&algo) {
        return Err(invalid());
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(blob).map_err(|_| invalid())?;
    // The blob starts with the length-prefixed algorithm name.
    if bytes.len() < 4 {
        return Err(invalid());
    }
    let n = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    if bytes.get(4..4 + n) != Some(algo.as_bytes()) {
        return Err(invalid());
    }
    let digest = md5::Md5::digest(&bytes);
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

pub use ferrostack_core::placement::GroupPolicy;

/// A server group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerGroup {
    /// The id.
    pub id: ServerGroupId,
    /// The name.
    pub name: String,
    /// The policy.
    pub policy: GroupPolicy,
    /// `max_server_per_host` for anti-affinity (2.64 rules).
    pub max_server_per_host: Option<u32>,
    /// The members.
    pub members: Vec<ServerId>,
    /// The owning project.
    pub project_id: ProjectId,
    /// The creating user.
    pub user_id: UserId,
}

/// Per-project compute quotas (`-1` = unlimited).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaLimits {
    /// Instances.
    pub instances: i64,
    /// vCPUs.
    pub cores: i64,
    /// RAM in MiB.
    pub ram: i64,
    /// Keypairs per user.
    pub key_pairs: i64,
    /// Server groups.
    pub server_groups: i64,
    /// Members per server group.
    pub server_group_members: i64,
    /// Metadata items per server.
    pub metadata_items: i64,
}

impl Default for QuotaLimits {
    /// Nova's defaults.
    fn default() -> Self {
        QuotaLimits {
            instances: 10,
            cores: 20,
            ram: 51200,
            key_pairs: 100,
            server_groups: 10,
            server_group_members: 10,
            metadata_items: 128,
        }
    }
}

/// What a project uses, kept in the store and changed in the same transaction as the servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct QuotaUsage {
    /// Instances.
    pub instances: i64,
    /// vCPUs.
    pub cores: i64,
    /// RAM in MiB.
    pub ram: i64,
}

/// A host aggregate (optionally exposed as an availability zone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Aggregate {
    /// Numeric id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// The availability zone it defines, if any.
    pub availability_zone: Option<String>,
    /// Member hosts.
    pub hosts: Vec<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
}

/// A fault recorded on a server in ERROR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// HTTP-ish code (500 for build failures).
    pub code: u16,
    /// Message.
    pub message: String,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// A network interface of a server, as the network service bound it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vif {
    /// The Neutron port.
    pub port_id: PortId,
    /// Its network.
    pub network_id: NetworkId,
    /// The network's name (for `addresses`).
    pub network_name: String,
    /// MAC address.
    pub mac: String,
    /// Fixed IPs.
    pub fixed_ips: Vec<String>,
    /// `ovs`, `bridge`, `tap`, ...
    pub vif_type: String,
    /// Backend details the hypervisor needs (bridge name, ...).
    pub details: BTreeMap<String, String>,
    /// Whether compute created the port (and so deletes it with the server).
    pub created_by_compute: bool,
}

/// A volume attached to a server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeAttachment {
    /// The volume.
    pub volume_id: VolumeId,
    /// The Cinder attachment.
    pub attachment_id: AttachmentId,
    /// The guest device (`/dev/vdb`).
    pub device: String,
    /// Delete the volume with the server.
    pub delete_on_termination: bool,
    /// Tag (2.49).
    pub tag: Option<String>,
}

/// What the user asked for on create, kept for rebuilds and rescheduling.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct NetworkRequest {
    /// A network to create a port on.
    pub network_id: Option<NetworkId>,
    /// An existing port to use.
    pub port_id: Option<PortId>,
    /// A requested fixed IP.
    pub fixed_ip: Option<String>,
}

/// The record of a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Server {
    /// The id.
    pub id: ServerId,
    /// The display name.
    pub name: String,
    /// Description (2.19).
    pub description: Option<String>,
    /// The owning project.
    pub project_id: ProjectId,
    /// The creating user.
    pub user_id: UserId,
    /// The flavor, as it was at create time (Nova embeds a copy).
    pub flavor: Flavor,
    /// The previous flavor during a resize.
    pub old_flavor: Option<Flavor>,
    /// The image (None for boot-from-volume).
    pub image_id: Option<ImageId>,
    /// vm_state.
    pub vm_state: VmState,
    /// task_state.
    pub task_state: Option<TaskState>,
    /// power_state.
    pub power_state: PowerState,
    /// The host it lives on.
    pub host: Option<String>,
    /// The availability zone.
    pub availability_zone: Option<String>,
    /// The keypair name.
    pub key_name: Option<String>,
    /// The keypair's public key, copied at create.
    pub key_data: Option<String>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
    /// Base64 user data.
    pub user_data: Option<String>,
    /// Whether a config drive was requested.
    pub config_drive: bool,
    /// Requested networks.
    pub requested_networks: Vec<NetworkRequest>,
    /// Block devices requested at boot (volume ids).
    pub requested_volumes: Vec<VolumeId>,
    /// Bound interfaces.
    pub vifs: Vec<Vif>,
    /// Attached volumes.
    pub volumes: Vec<VolumeAttachment>,
    /// The server group.
    pub server_group: Option<ServerGroupId>,
    /// Multi-create reservation id (`r-xxxxxxxx`).
    pub reservation_id: String,
    /// Position in a multi-create.
    pub launch_index: u32,
    /// Access IPv4.
    pub access_ipv4: Option<String>,
    /// Access IPv6.
    pub access_ipv6: Option<String>,
    /// The admin password (never returned after create).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_pass: Option<String>,
    /// Progress of an operation (0-100).
    pub progress: u8,
    /// Locked (2.73 reasons not tracked).
    pub locked: bool,
    /// The fault, in ERROR.
    pub fault: Option<Fault>,
    /// Created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Updated.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Launched.
    #[serde(with = "time::serde::rfc3339::option")]
    pub launched_at: Option<OffsetDateTime>,
}

impl Server {
    /// The API status.
    pub fn status(&self) -> &'static str {
        server_status(self.vm_state, self.task_state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_map_matches_nova() {
        assert_eq!(server_status(VmState::Building, Some(TaskState::Spawning)), "BUILD");
        assert_eq!(server_status(VmState::Active, None), "ACTIVE");
        assert_eq!(server_status(VmState::Active, Some(TaskState::Rebooting)), "REBOOT");
        assert_eq!(
            server_status(VmState::Active, Some(TaskState::RebootStartedHard)),
            "HARD_REBOOT"
        );
        assert_eq!(server_status(VmState::Active, Some(TaskState::ResizePrep)), "RESIZE");
        assert_eq!(server_status(VmState::Active, Some(TaskState::Rebuilding)), "REBUILD");
        assert_eq!(server_status(VmState::Active, Some(TaskState::PoweringOff)), "ACTIVE");
        assert_eq!(server_status(VmState::Stopped, None), "SHUTOFF");
        assert_eq!(server_status(VmState::Stopped, Some(TaskState::ResizeMigrating)), "RESIZE");
        assert_eq!(server_status(VmState::Resized, None), "VERIFY_RESIZE");
        assert_eq!(
            server_status(VmState::Resized, Some(TaskState::ResizeReverting)),
            "REVERT_RESIZE"
        );
        assert_eq!(server_status(VmState::Error, None), "ERROR");
        assert_eq!(server_status(VmState::Error, Some(TaskState::RebuildSpawning)), "REBUILD");
        assert_eq!(server_status(VmState::SoftDeleted, None), "SOFT_DELETED");
        assert_eq!(server_status(VmState::Rescued, None), "RESCUE");
    }

    #[test]
    fn states_round_trip_as_nova_strings() {
        for s in VmState::ALL {
            let json = serde_json::to_string(s).unwrap();
            assert_eq!(json, format!("\"{}\"", s.as_str()));
            assert_eq!(VmState::parse(s.as_str()), Some(*s));
        }
        for t in TaskState::ALL {
            assert_eq!(TaskState::parse(t.as_str()), Some(*t));
        }
        assert_eq!(TaskState::PoweringOff.as_str(), "powering-off");
        assert_eq!(VmState::SoftDeleted.as_str(), "soft-delete");
        assert_eq!(serde_json::to_string(&PowerState::Shutdown).unwrap(), "4");
        assert_eq!(serde_json::from_str::<PowerState>("7").unwrap(), PowerState::Suspended);
    }

    #[test]
    fn fingerprints_are_md5_of_the_key_blob() {
        // blob = string "ssh-ed25519" + 32-byte key of zeros
        use base64::Engine;
        let mut blob = vec![0, 0, 0, 11];
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&[0, 0, 0, 32]);
        blob.extend_from_slice(&[0u8; 32]);
        let line = format!(
            "ssh-ed25519 {} me@host",
            base64::engine::general_purpose::STANDARD.encode(&blob)
        );
        let fp = ssh_fingerprint(&line).unwrap();
        assert_eq!(fp.len(), 47);
        assert!(ssh_fingerprint("ssh-rsa not-base64!").is_err());
        assert!(ssh_fingerprint(&line.replace("ssh-ed25519 ", "ssh-rsa ")).is_err());
        assert!(ssh_fingerprint("").is_err());
    }

    #[test]
    fn flavor_and_keypair_validation() {
        assert!(Flavor::new("1", "m1.tiny", 512, 1, 1).validate().is_ok());
        assert!(Flavor::new("1", "", 512, 1, 1).validate().is_err());
        assert!(Flavor::new("1", "x", 0, 1, 1).validate().is_err());
        assert!(validate_keypair_name("my key-1").is_ok());
        assert!(validate_keypair_name("bad/name").is_err());
        assert!(validate_keypair_name("").is_err());
        assert!(validate_spec("hw:cpu_policy", "dedicated").is_ok());
        assert!(validate_spec("bad\nkey", "x").is_err());
    }
}
