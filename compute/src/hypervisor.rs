// SPDX-License-Identifier: Apache-2.0
//! The [`Hypervisor`] trait: what a virtualisation driver (KVM, Xen, the fake) must do on one
//! host, with optional capabilities as sub-traits and lifecycle events through an
//! [`EventSink`].
//!
//! ```text
//!             ComputeHost ──InstanceSpec──▶ dyn Hypervisor ──▶ libvirt / xl / fake
//!                  ▲                              │
//!                  └──── EventSink ◀── LifecycleEvent (started, stopped, ...)
//!   optional: console() -> Arc<dyn Console>, snapshots() -> Arc<dyn Snapshots>,
//!             live_migration() -> Arc<dyn LiveMigration>
//! ```

use crate::error::ComputeError;
use crate::types::{Flavor, PowerState, Vif};
use ferrostack_core::id::{ImageId, ServerId, VolumeId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

/// What a driver supports, replacing Nova's `capabilities` dict of flags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Capabilities {
    /// Volumes can be attached to a running instance.
    pub hot_attach_volume: bool,
    /// Interfaces can be attached to a running instance.
    pub hot_attach_interface: bool,
    /// Snapshots of a running instance (see [`Hypervisor::snapshots`]).
    pub snapshots: bool,
    /// Live migration (see [`Hypervisor::live_migration`]).
    pub live_migration: bool,
    /// A console URL can be produced (see [`Hypervisor::console`]).
    pub console: bool,
    /// The driver can pause and unpause.
    pub pause: bool,
    /// Disk formats the driver boots from (`raw`, `qcow2`).
    pub disk_formats: Vec<String>,
    /// Config drive formats the driver can attach.
    pub config_drive: Vec<ConfigDriveFormat>,
}

impl Default for Capabilities {
    fn default() -> Self {
        Capabilities {
            hot_attach_volume: false,
            hot_attach_interface: false,
            snapshots: false,
            live_migration: false,
            console: false,
            pause: false,
            disk_formats: vec!["raw".into()],
            config_drive: Vec::new(),
        }
    }
}

impl Capabilities {
    /// Every capability on, with raw and qcow2 disks and both config drive formats.
    pub fn all() -> Self {
        Capabilities {
            hot_attach_volume: true,
            hot_attach_interface: true,
            snapshots: true,
            live_migration: false,
            console: true,
            pause: true,
            disk_formats: vec!["raw".into(), "qcow2".into()],
            config_drive: vec![ConfigDriveFormat::NoCloud, ConfigDriveFormat::ConfigDriveV2],
        }
    }
}

/// The format of a config drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigDriveFormat {
    /// cloud-init NoCloud (`cidata` label; `meta-data`, `user-data`, `network-config`).
    NoCloud,
    /// OpenStack ConfigDrive v2 (`config-2` label; `openstack/latest/meta_data.json`, ...).
    ConfigDriveV2,
}

/// A config drive's content: files by path, rendered by [`ConfigDrive::files`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigDrive {
    /// The format.
    pub format: ConfigDriveFormat,
    /// The volume label (`cidata` or `config-2`).
    pub label: String,
    /// Relative path -> content.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl ConfigDrive {
    /// Renders the drive for `spec` in `format` (instance id, hostname, keys, user data,
    /// metadata), as cloud-init's NoCloud and OpenStack datasources read it.
    pub fn render(spec: &InstanceSpec, format: ConfigDriveFormat) -> ConfigDrive {
        let mut files = BTreeMap::new();
        let hostname = hostname_of(&spec.name);
        match format {
            ConfigDriveFormat::NoCloud => {
                let mut meta = format!("instance-id: {}\nlocal-hostname: {}\n", spec.id, hostname);
                if !spec.public_keys.is_empty() {
                    meta.push_str("public-keys:\n");
                    for k in spec.public_keys.values() {
                        meta.push_str(&format!(
                            "  - {}\n",
                            serde_json::to_string(k).unwrap_or_default()
                        ));
                    }
                }
                files.insert("meta-data".into(), meta.into_bytes());
                files.insert("user-data".into(), spec.user_data.clone().unwrap_or_default());
                ConfigDrive { format, label: "cidata".into(), files }
            }
            ConfigDriveFormat::ConfigDriveV2 => {
                let meta = serde_json::json!({
                    "uuid": spec.id.to_string(),
                    "name": spec.name,
                    "hostname": hostname,
                    "availability_zone": spec.availability_zone,
                    "public_keys": spec.public_keys,
                    "meta": spec.metadata,
                    "launch_index": 0,
                });
                let net = serde_json::json!({
                    "links": spec.vifs.iter().map(|v| serde_json::json!({
                        "id": v.port_id.to_string(), "type": v.vif_type,
                        "ethernet_mac_address": v.mac, "vif_id": v.port_id.to_string(),
                    })).collect::<Vec<_>>(),
                    "networks": [], "services": [],
                });
                files.insert(
                    "openstack/latest/meta_data.json".into(),
                    serde_json::to_vec(&meta).unwrap_or_default(),
                );
                files.insert(
                    "openstack/latest/network_data.json".into(),
                    serde_json::to_vec(&net).unwrap_or_default(),
                );
                if let Some(ud) = &spec.user_data {
                    files.insert("openstack/latest/user_data".into(), ud.clone());
                }
                ConfigDrive { format, label: "config-2".into(), files }
            }
        }
    }
}

/// A DNS-safe hostname from a display name (Nova's `sanitize_hostname`, simplified).
pub fn hostname_of(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c.to_ascii_lowercase() } else { '-' })
        .collect();
    out.truncate(63);
    let out = out.trim_matches('-').to_string();
    if out.is_empty() { "server".into() } else { out }
}

/// The boot image as cached on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedImage {
    /// The image.
    pub image_id: ImageId,
    /// The cached file.
    pub path: PathBuf,
    /// Its disk format, as inspected (`raw`, `qcow2`); drivers must pass it explicitly to
    /// tools (`qemu-img -f`), never probe.
    pub disk_format: String,
    /// Size in bytes.
    pub size: u64,
}

/// A block device attached at spawn or later, with the connection info the volume service
/// returned for this host's connector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDevice {
    /// The volume.
    pub volume_id: VolumeId,
    /// The guest device name (`/dev/vdb`).
    pub device: String,
    /// `driver_volume_type` (`file`, `iscsi`, `rbd`).
    pub driver_volume_type: String,
    /// The driver-specific `data` of the connection info.
    pub connection: serde_json::Value,
    /// Boot from this device.
    pub boot_index: Option<u32>,
}

/// Everything a driver needs to create an instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceSpec {
    /// The instance (the domain's UUID).
    pub id: ServerId,
    /// The display name.
    pub name: String,
    /// The flavor (vCPUs, RAM, disks, extra specs).
    pub flavor: Flavor,
    /// The boot image in the host cache; `None` when booting from a volume.
    pub image: Option<CachedImage>,
    /// Block devices with connection info.
    pub block_devices: Vec<BlockDevice>,
    /// Network interfaces with their VIF details.
    pub vifs: Vec<Vif>,
    /// Instance metadata.
    pub metadata: BTreeMap<String, String>,
    /// User data (decoded).
    pub user_data: Option<Vec<u8>>,
    /// SSH public keys by name.
    pub public_keys: BTreeMap<String, String>,
    /// The availability zone.
    pub availability_zone: Option<String>,
    /// The config drive to attach, if any.
    pub config_drive: Option<ConfigDrive>,
}

/// What the driver reports about an instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// The instance.
    pub id: ServerId,
    /// Its power state.
    pub power_state: PowerState,
    /// vCPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
}

/// What a host offers, reported to the scheduler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostResources {
    /// vCPUs.
    pub vcpus: u32,
    /// Memory in MiB.
    pub memory_mb: u64,
    /// Local disk in GiB.
    pub disk_gb: u64,
}

/// The reboot kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RebootKind {
    /// ACPI reboot of the guest.
    Soft,
    /// Power cycle.
    Hard,
}

/// A lifecycle event (Nova's `virtevent.LifecycleEvent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LifecycleEvent {
    /// The instance started.
    Started,
    /// The instance stopped.
    Stopped,
    /// Paused.
    Paused,
    /// Resumed.
    Resumed,
    /// Suspended.
    Suspended,
    /// Crashed.
    Crashed,
}

/// Where a driver sends lifecycle events (Nova's `VirtAPI`/`emit_event`), given at
/// construction: never a back-reference to the host.
///
/// # Contract
/// `emit` must not block: implementations queue the event.
pub trait EventSink: Send + Sync + std::fmt::Debug {
    /// Delivers an event for instance `id`.
    fn emit(&self, id: ServerId, event: LifecycleEvent);
}

/// An [`EventSink`] over a tokio unbounded channel.
#[derive(Debug, Clone)]
pub struct ChannelSink(pub tokio::sync::mpsc::UnboundedSender<(ServerId, LifecycleEvent)>);

impl EventSink for ChannelSink {
    fn emit(&self, id: ServerId, event: LifecycleEvent) {
        let _ = self.0.send((id, event));
    }
}

/// A sink that drops events.
#[derive(Debug, Clone, Copy, Default)]
pub struct NullSink;

impl EventSink for NullSink {
    fn emit(&self, _: ServerId, _: LifecycleEvent) {}
}

/// A hypervisor driver: creates, inspects and destroys instances on one host.
///
/// # Contract
/// * `spawn` of an id that already exists is [`ComputeError::AlreadyExists`]; a failed
///   `spawn` leaves no domain behind.
/// * `destroy` of an unknown instance is `Ok(())` (idempotent, so rollback can always call it).
/// * `info` of an unknown instance is [`ComputeError::NotFound`].
/// * `power_off` of a stopped instance and `power_on` of a running one are `Ok(())`.
/// * `list` returns every instance the driver manages on this host, including ones the
///   control plane does not know (the reconciler relies on it).
/// * State changes are reported to the [`EventSink`] given at construction.
/// * Unsupported operations return [`ComputeError::NotSupported`], never panic.
///
/// # Errors
/// Driver failures are [`ComputeError::Hypervisor`] with the cause as `source()`.
///
/// # Cancellation
/// Dropping a future of `spawn` may leave a partly created domain; the next `destroy` of the
/// same id removes it.
#[async_trait::async_trait]
pub trait Hypervisor: Send + Sync + std::fmt::Debug + 'static {
    /// A short driver name for logs and errors (`"fake"`, `"kvm"`).
    fn name(&self) -> &'static str;
    /// What the driver supports.
    fn capabilities(&self) -> &Capabilities;
    /// The host's total resources.
    async fn resources(&self) -> Result<HostResources, ComputeError>;
    /// Creates and starts an instance.
    async fn spawn(&self, spec: &InstanceSpec) -> Result<InstanceInfo, ComputeError>;
    /// Stops and removes an instance and its local disks.
    async fn destroy(&self, id: ServerId) -> Result<(), ComputeError>;
    /// Powers an instance off.
    async fn power_off(&self, id: ServerId) -> Result<(), ComputeError>;
    /// Powers an instance on.
    async fn power_on(&self, id: ServerId) -> Result<(), ComputeError>;
    /// Reboots an instance.
    async fn reboot(&self, id: ServerId, kind: RebootKind) -> Result<(), ComputeError>;
    /// Reports an instance.
    async fn info(&self, id: ServerId) -> Result<InstanceInfo, ComputeError>;
    /// Every instance on this host.
    async fn list(&self) -> Result<Vec<InstanceInfo>, ComputeError>;
    /// Attaches a block device to an existing instance.
    async fn attach_volume(&self, id: ServerId, device: &BlockDevice) -> Result<(), ComputeError>;
    /// Detaches a volume.
    async fn detach_volume(&self, id: ServerId, volume: VolumeId) -> Result<(), ComputeError>;
    /// Plugs an interface into an existing instance.
    async fn attach_interface(&self, id: ServerId, vif: &Vif) -> Result<(), ComputeError>;
    /// Unplugs an interface.
    async fn detach_interface(
        &self,
        id: ServerId,
        port: ferrostack_core::id::PortId,
    ) -> Result<(), ComputeError>;
    /// The console capability, if supported.
    fn console(&self) -> Option<Arc<dyn Console>>;
    /// The snapshot capability, if supported.
    fn snapshots(&self) -> Option<Arc<dyn Snapshots>>;
    /// The live migration capability, if supported.
    fn live_migration(&self) -> Option<Arc<dyn LiveMigration>>;
}

/// Remote consoles.
///
/// # Contract
/// Returns a URL a browser or client can open for `protocol` (`vnc`, `spice`, `serial`), or
/// [`ComputeError::NotSupported`] for other protocols.
#[async_trait::async_trait]
pub trait Console: Send + Sync + std::fmt::Debug {
    /// A console URL.
    async fn console_url(&self, id: ServerId, protocol: &str) -> Result<String, ComputeError>;

    /// The guest's serial console output so far: the last `lines` lines, or all of it with
    /// `None` ([`console_tail`] does the cutting). An unknown instance is
    /// [`ComputeError::NotFound`]; drivers that keep no console log answer
    /// [`ComputeError::NotSupported`] (the default).
    async fn console_output(
        &self,
        id: ServerId,
        lines: Option<u32>,
    ) -> Result<String, ComputeError> {
        let _ = (id, lines);
        Err(ComputeError::NotSupported("console output".into()))
    }
}

/// The last `lines` lines of `text` (all of it with `None`), as Nova's `get_console_output`
/// cuts a console log; invalid UTF-8 is replaced, never an error.
pub fn console_tail(text: &[u8], lines: Option<u32>) -> String {
    let text = String::from_utf8_lossy(text);
    match lines {
        None => text.into_owned(),
        Some(n) => {
            let all: Vec<&str> = text.split_inclusive('\n').collect();
            all[all.len().saturating_sub(n as usize)..].concat()
        }
    }
}

/// Disk snapshots of instances.
///
/// # Contract
/// Writes a point-in-time copy of the root disk to `dest` and returns its disk format; the
/// instance keeps its power state.
#[async_trait::async_trait]
pub trait Snapshots: Send + Sync + std::fmt::Debug {
    /// Snapshots the root disk.
    async fn snapshot(&self, id: ServerId, dest: &std::path::Path) -> Result<String, ComputeError>;
}

/// Live migration between hosts.
///
/// # Contract
/// On success the instance runs on `dest_host` and no longer on this host.
#[async_trait::async_trait]
pub trait LiveMigration: Send + Sync + std::fmt::Debug {
    /// Migrates `id` to `dest_host`.
    async fn live_migrate(&self, id: ServerId, dest_host: &str) -> Result<(), ComputeError>;
}
