// SPDX-License-Identifier: Apache-2.0
//! From Ferrostack's [`InstanceSpec`] to a [`Domain`]: the host configuration
//! ([`DriverConfig`], chosen by the KVM or Xen crate), the flavor's memory, vCPUs and extra
//! specs, the local disks, volumes by connection type, and interfaces by VIF type.

use crate::domain::*;
use crate::error::LibvirtError;
use ferrostack_compute::hypervisor::{BlockDevice, InstanceSpec};
use ferrostack_compute::types::Vif;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How a driver shapes its domains; the KVM and Xen crates fill it in.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    /// The driver name in logs and errors (`kvm`, `xen`).
    pub driver_name: &'static str,
    /// The libvirt URI.
    pub uri: String,
    /// The domain type.
    pub domain_type: DomainType,
    /// The guest kind.
    pub guest: GuestKind,
    /// Per-instance files (disks, console logs, config drives) go to `state_dir/<uuid>/`.
    pub state_dir: PathBuf,
    /// Domain names are `<name_prefix><uuid>`; only such domains are listed.
    pub name_prefix: String,
    /// The device model binary.
    pub emulator: Option<PathBuf>,
    /// The CPU mode.
    pub cpu: Option<CpuMode>,
    /// Kernel, initramfs and command line for instances without an image (an operator
    /// setting: never taken from tenant input).
    pub direct_boot: Option<DirectBoot>,
    /// The disk bus (`virtio`, `xen`).
    pub disk_bus: String,
    /// The guest device prefix for that bus (`vd`, `xvd`).
    pub disk_prefix: String,
    /// The config drive's bus and device (`scsi` + CD-ROM, or `xen` + read-only disk).
    pub config_drive_bus: String,
    /// Attach the config drive as a CD-ROM (else a read-only disk).
    pub config_drive_cdrom: bool,
    /// The NIC model (`virtio`; `None` for Xen's netfront).
    pub nic_model: Option<String>,
    /// The console target type (`serial` on QEMU, `xen` for Xen PV consoles).
    pub console_target: String,
    /// Log the serial console to `console.log` in the instance directory.
    pub console_log: bool,
    /// Remote display protocol (`vnc`, `spice`) and listen address.
    pub graphics: Option<(String, String)>,
    /// Spare PCIe root ports for live attach (q35 only).
    pub spare_pcie_ports: u32,
    /// `<memballoon model>`.
    pub memballoon: Option<String>,
    /// How long `power_off` waits for an ACPI shutdown before pulling the plug.
    pub shutdown_timeout: Duration,
    /// How often the state watcher polls libvirt for changes the driver did not make.
    pub poll_interval: Duration,
    /// `qemu-img`.
    pub qemu_img: PathBuf,
    /// `genisoimage` (config drives).
    pub genisoimage: PathBuf,
}

impl DriverConfig {
    /// The domain name of instance `id`.
    pub fn domain_name(&self, id: &uuid::Uuid) -> String {
        format!("{}{}", self.name_prefix, id.hyphenated())
    }

    /// The instance directory.
    pub fn instance_dir(&self, id: &uuid::Uuid) -> PathBuf {
        self.state_dir.join(id.hyphenated().to_string())
    }
}

/// The local files `spawn` created for an instance.
#[derive(Debug, Clone, Default)]
pub struct LocalFiles {
    /// The root disk (a qcow2 overlay on the cached image) with its format.
    pub root_disk: Option<(PathBuf, String)>,
    /// The config drive ISO.
    pub config_drive: Option<PathBuf>,
    /// The serial console log.
    pub console_log: Option<PathBuf>,
}

/// Nova-style extra specs this builder understands.
fn hugepages_kib(spec: &InstanceSpec) -> Result<Option<u64>, LibvirtError> {
    let Some(v) = spec.flavor.extra_specs.get("hw:mem_page_size") else { return Ok(None) };
    let kib = match v.to_ascii_lowercase().as_str() {
        "small" | "4" | "4kb" | "4k" => return Ok(None),
        "large" | "2048" | "2mb" | "2m" => 2048,
        "1gb" | "1g" | "1048576" => 1_048_576,
        other => {
            return Err(LibvirtError::Invalid(format!(
                "hw:mem_page_size {other:?} is not one of small, large, 2MB, 1GB"
            )));
        }
    };
    Ok(Some(kib))
}

fn vcpu_pins(spec: &InstanceSpec) -> Result<Vec<(u32, String)>, LibvirtError> {
    if spec.flavor.extra_specs.get("hw:cpu_policy").map(String::as_str) != Some("dedicated") {
        return Ok(Vec::new());
    }
    // The host CPUs to pin to: `hw:cpu_dedicated_set` style list, one per vCPU, in order.
    let Some(set) = spec.flavor.extra_specs.get("ferrostack:cpu_pin_set") else {
        return Err(LibvirtError::Invalid(
            "hw:cpu_policy=dedicated needs ferrostack:cpu_pin_set (the host CPUs, one per vCPU)"
                .into(),
        ));
    };
    let cpus: Vec<u32> = set
        .split(',')
        .map(|c| c.trim().parse::<u32>())
        .collect::<Result<_, _>>()
        .map_err(|_| LibvirtError::Invalid(format!("bad CPU list {set:?}")))?;
    if cpus.len() < spec.flavor.vcpus as usize {
        return Err(LibvirtError::Invalid(format!(
            "{} vCPUs but only {} host CPUs in ferrostack:cpu_pin_set",
            spec.flavor.vcpus,
            cpus.len()
        )));
    }
    Ok((0..spec.flavor.vcpus).map(|v| (v, cpus[v as usize].to_string())).collect())
}

fn topology(spec: &InstanceSpec) -> Result<Option<(u32, u32, u32)>, LibvirtError> {
    let get = |k: &str| -> Result<Option<u32>, LibvirtError> {
        spec.flavor
            .extra_specs
            .get(k)
            .map(|v| v.parse::<u32>().map_err(|_| LibvirtError::Invalid(format!("bad {k} {v:?}"))))
            .transpose()
    };
    let (s, c, t) = (get("hw:cpu_sockets")?, get("hw:cpu_cores")?, get("hw:cpu_threads")?);
    if s.is_none() && c.is_none() && t.is_none() {
        return Ok(None);
    }
    let (s, c, t) = (s.unwrap_or(1), c.unwrap_or(1), t.unwrap_or(1));
    if s.checked_mul(c).and_then(|x| x.checked_mul(t)) != Some(spec.flavor.vcpus) {
        return Err(LibvirtError::Invalid(format!(
            "CPU topology {s}x{c}x{t} does not give {} vCPUs",
            spec.flavor.vcpus
        )));
    }
    Ok(Some((s, c, t)))
}

/// The guest device name on `cfg`'s bus for a requested name like `/dev/vdb`: the letters
/// after the prefix are kept, the prefix follows the bus.
pub fn target_dev(cfg: &DriverConfig, requested: &str) -> Result<String, LibvirtError> {
    let name = requested.strip_prefix("/dev/").unwrap_or(requested);
    let letters = ["xvd", "vd", "sd", "hd"]
        .iter()
        .find_map(|p| name.strip_prefix(p))
        .filter(|l| (1..=2).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()))
        .ok_or_else(|| {
            LibvirtError::Invalid(format!("invalid device name {requested:?} (expected /dev/vdb)"))
        })?;
    Ok(format!("{}{letters}", cfg.disk_prefix))
}

fn str_field<'a>(data: &'a serde_json::Value, k: &str) -> Option<&'a str> {
    data.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty())
}

/// The disk for a volume, by `driver_volume_type`: `local`/`file` (a path: a block device
/// under `/dev`, else a file), `iscsi` (a host device path when the LUN is logged in, else
/// QEMU's iSCSI client), `rbd` (a network disk with a libvirt secret).
pub fn volume_disk(cfg: &DriverConfig, dev: &BlockDevice) -> Result<Disk, LibvirtError> {
    let data = &dev.connection;
    let qemu_driver = matches!(cfg.domain_type, DomainType::Kvm | DomainType::Qemu);
    let format = str_field(data, "format").unwrap_or("raw");
    if !matches!(format, "raw" | "qcow2") {
        return Err(LibvirtError::Invalid(format!("unsupported volume format {format:?}")));
    }
    let path_source = |p: &str| -> Result<DiskSource, LibvirtError> {
        let escapes =
            Path::new(p).components().any(|c| matches!(c, std::path::Component::ParentDir));
        if !p.starts_with('/') || escapes {
            return Err(LibvirtError::Invalid(format!("volume path {p:?} must be absolute")));
        }
        Ok(if p.starts_with("/dev/") {
            DiskSource::Block(p.into())
        } else {
            DiskSource::File(p.into())
        })
    };
    let source = match dev.driver_volume_type.as_str() {
        "local" | "file" => {
            let p = str_field(data, "device_path").or_else(|| str_field(data, "path")).ok_or_else(
                || LibvirtError::Invalid("connection info has no device_path".into()),
            )?;
            path_source(p)?
        }
        "iscsi" => {
            if let Some(p) = str_field(data, "device_path") {
                path_source(p)?
            } else {
                let iqn = str_field(data, "target_iqn")
                    .ok_or_else(|| LibvirtError::Invalid("iscsi without target_iqn".into()))?;
                let portal = str_field(data, "target_portal")
                    .ok_or_else(|| LibvirtError::Invalid("iscsi without target_portal".into()))?;
                let lun = data.get("target_lun").and_then(|v| v.as_u64()).unwrap_or(0);
                let (host, port) = match portal.rsplit_once(':') {
                    Some((h, p)) => (h.to_string(), p.parse::<u16>().ok()),
                    None => (portal.to_string(), None),
                };
                let auth = match (
                    str_field(data, "auth_method"),
                    str_field(data, "auth_username"),
                    str_field(data, "secret_uuid"),
                ) {
                    (Some("CHAP"), Some(u), Some(s)) => Some(DiskAuth {
                        username: u.into(),
                        secret_type: "iscsi".into(),
                        secret_uuid: s.into(),
                    }),
                    _ => None,
                };
                DiskSource::Network {
                    protocol: "iscsi".into(),
                    name: format!("{iqn}/{lun}"),
                    hosts: vec![(host, port)],
                    auth,
                }
            }
        }
        "rbd" => {
            let name = str_field(data, "name")
                .ok_or_else(|| LibvirtError::Invalid("rbd without name".into()))?;
            let hosts: Vec<String> = data
                .get("hosts")
                .and_then(|h| h.as_array())
                .map(|a| a.iter().filter_map(|v| v.as_str().map(String::from)).collect())
                .unwrap_or_default();
            let ports: Vec<Option<u16>> = data
                .get("ports")
                .and_then(|h| h.as_array())
                .map(|a| {
                    a.iter()
                        .map(|v| {
                            v.as_u64()
                                .and_then(|p| u16::try_from(p).ok())
                                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let auth = match (str_field(data, "auth_username"), str_field(data, "secret_uuid")) {
                (Some(u), Some(s)) => Some(DiskAuth {
                    username: u.into(),
                    secret_type: "ceph".into(),
                    secret_uuid: s.into(),
                }),
                _ => None,
            };
            DiskSource::Network {
                protocol: "rbd".into(),
                name: name.into(),
                hosts: hosts
                    .into_iter()
                    .enumerate()
                    .map(|(i, h)| (h, ports.get(i).copied().flatten()))
                    .collect(),
                auth,
            }
        }
        other => {
            return Err(LibvirtError::NotSupported(format!("volume connection type {other:?}")));
        }
    };
    let driver_name = match (&source, qemu_driver) {
        (_, true) => Some("qemu".to_string()),
        (DiskSource::Block(_), false) => Some("phy".to_string()),
        (_, false) => Some("qemu".to_string()),
    };
    let is_network = matches!(source, DiskSource::Network { .. });
    Ok(Disk {
        device: DiskDevice::Disk,
        source,
        driver_name,
        format: Some(format.into()),
        cache: if qemu_driver && !is_network { Some("none".into()) } else { None },
        target_dev: target_dev(cfg, &dev.device)?,
        target_bus: cfg.disk_bus.clone(),
        readonly: false,
        serial: if qemu_driver { Some(serial_of(&dev.volume_id.to_string())) } else { None },
    })
}

/// The serial a guest sees for a volume: its id, cut to virtio-blk's 20 bytes.
pub fn serial_of(volume_id: &str) -> String {
    volume_id.chars().take(20).collect()
}

fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split(':').collect();
    parts.len() == 6
        && parts.iter().all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn valid_ifname(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 15
        && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
}

/// The interface for a VIF: `bridge` (a Linux bridge, `details.bridge_name`, else Neutron's
/// `brq<network id>`), `ovs` (`details.bridge_name`, else `br-int`, with the port id as the
/// OVS `interface-id`), `tap`/`ethernet` (a tap device the network backend plugs).
pub fn vif_interface(cfg: &DriverConfig, vif: &Vif) -> Result<Interface, LibvirtError> {
    if !valid_mac(&vif.mac) {
        return Err(LibvirtError::Invalid(format!("invalid MAC address {:?}", vif.mac)));
    }
    let port = vif.port_id.to_string();
    let tap = format!("tap{}", &port[..11]);
    let bridge_of = |default: String| -> Result<String, LibvirtError> {
        let b = vif.details.get("bridge_name").cloned().unwrap_or(default);
        if valid_ifname(&b) {
            Ok(b)
        } else {
            Err(LibvirtError::Invalid(format!("invalid bridge name {b:?}")))
        }
    };
    let (kind, ovs) = match vif.vif_type.as_str() {
        "bridge" => {
            let net = vif.network_id.to_string();
            (InterfaceKind::Bridge { bridge: bridge_of(format!("brq{}", &net[..11]))? }, None)
        }
        "ovs" => {
            (InterfaceKind::Bridge { bridge: bridge_of("br-int".into())? }, Some(port.clone()))
        }
        "tap" | "ethernet" => (InterfaceKind::Ethernet, None),
        other => return Err(LibvirtError::NotSupported(format!("VIF type {other:?}"))),
    };
    let mtu = vif
        .details
        .get("mtu")
        .map(|m| {
            m.parse::<u32>()
                .ok()
                .filter(|m| (68..=65535).contains(m))
                .ok_or_else(|| LibvirtError::Invalid(format!("invalid MTU {m:?}")))
        })
        .transpose()?;
    let xen = cfg.domain_type == DomainType::Xen;
    Ok(Interface {
        kind,
        mac: vif.mac.to_ascii_lowercase(),
        ovs_interface_id: ovs,
        model: cfg.nic_model.clone(),
        mtu,
        target_dev: if xen { None } else { Some(tap) },
        script: if xen && vif.vif_type == "bridge" { Some("vif-bridge".into()) } else { None },
    })
}

/// The domain for `spec` with the local files `spawn` prepared.
pub fn build_domain(
    cfg: &DriverConfig,
    spec: &InstanceSpec,
    files: &LocalFiles,
) -> Result<Domain, LibvirtError> {
    let f = &spec.flavor;
    if f.vcpus == 0 || f.ram_mb == 0 {
        return Err(LibvirtError::Invalid("a flavor needs at least one vCPU and 1 MiB".into()));
    }
    // QEMU's and Xen's own ceilings are lower still; this keeps absurd values out of XML.
    if f.vcpus > 4096 {
        return Err(LibvirtError::Invalid(format!("{} vCPUs is more than 4096", f.vcpus)));
    }
    let memory_kib = f
        .ram_mb
        .checked_mul(1024)
        .ok_or_else(|| LibvirtError::Invalid(format!("{} MiB is too much memory", f.ram_mb)))?;
    let qemu = matches!(cfg.domain_type, DomainType::Kvm | DomainType::Qemu);
    let mut devices = Devices { emulator: cfg.emulator.clone(), ..Devices::default() };
    if let Some((path, format)) = &files.root_disk {
        devices.disks.push(Disk {
            device: DiskDevice::Disk,
            source: DiskSource::File(path.clone()),
            driver_name: Some("qemu".into()),
            format: Some(format.clone()),
            cache: if qemu { Some("none".into()) } else { None },
            target_dev: format!("{}a", cfg.disk_prefix),
            target_bus: cfg.disk_bus.clone(),
            readonly: false,
            serial: None,
        });
    }
    for bd in &spec.block_devices {
        let disk = volume_disk(cfg, bd)?;
        if devices.disks.iter().any(|d| d.target_dev == disk.target_dev) {
            return Err(LibvirtError::Invalid(format!("device {} is used twice", bd.device)));
        }
        devices.disks.push(disk);
    }
    if let Some(iso) = &files.config_drive {
        let scsi = cfg.config_drive_bus == "scsi";
        devices.disks.push(Disk {
            device: if cfg.config_drive_cdrom { DiskDevice::Cdrom } else { DiskDevice::Disk },
            source: DiskSource::File(iso.clone()),
            driver_name: Some("qemu".into()),
            format: Some("raw".into()),
            cache: None,
            target_dev: if scsi { "sda".into() } else { format!("{}z", cfg.disk_prefix) },
            target_bus: cfg.config_drive_bus.clone(),
            readonly: true,
            serial: None,
        });
        if scsi {
            devices.controllers.push(Controller {
                kind: "scsi".into(),
                model: "virtio-scsi".into(),
                index: None,
            });
        }
    }
    if qemu && matches!(&cfg.guest, GuestKind::Hvm { machine: Some(m) } if m.starts_with("q35")) {
        if cfg.spare_pcie_ports > 0 {
            devices.controllers.push(Controller {
                kind: "pci".into(),
                model: "pcie-root".into(),
                index: Some(0),
            });
        }
        for i in 0..cfg.spare_pcie_ports {
            devices.controllers.push(Controller {
                kind: "pci".into(),
                model: "pcie-root-port".into(),
                index: Some(i + 1),
            });
        }
    }
    for vif in &spec.vifs {
        devices.interfaces.push(vif_interface(cfg, vif)?);
    }
    let log = if cfg.console_log { files.console_log.clone() } else { None };
    if cfg.console_target == "serial" {
        devices.serials.push(Serial { source: CharSource::Pty { log }, port: 0 });
        devices
            .consoles
            .push(Console { source: CharSource::Pty { log: None }, target_type: "serial".into() });
    } else {
        devices.consoles.push(Console {
            source: CharSource::Pty { log: None },
            target_type: cfg.console_target.clone(),
        });
    }
    if let Some((protocol, listen)) = &cfg.graphics {
        devices.graphics.push(Graphics {
            protocol: protocol.clone(),
            listen: listen.clone(),
            port: None,
        });
    }
    devices.memballoon = cfg.memballoon.clone();
    let direct = if files.root_disk.is_none() { cfg.direct_boot.clone() } else { None };
    let boot = if direct.is_none() && files.root_disk.is_some() && qemu {
        vec!["hd".to_string()]
    } else {
        Vec::new()
    };
    Ok(Domain {
        domain_type: cfg.domain_type,
        name: cfg.domain_name(spec.id.as_uuid()),
        uuid: *spec.id.as_uuid(),
        title: Some(spec.name.chars().filter(|c| !c.is_control()).take(255).collect()),
        memory_kib,
        vcpus: f.vcpus,
        hugepages_kib: hugepages_kib(spec)?,
        vcpu_pins: vcpu_pins(spec)?,
        cpu: cfg.cpu.clone().map(|mode| Cpu { mode, topology: None }).map(|mut c| {
            c.topology = topology(spec).ok().flatten();
            c
        }),
        os: Os { kind: cfg.guest.clone(), arch: "x86_64".into(), direct, boot },
        acpi: true,
        on_poweroff: OnEvent::Destroy,
        on_reboot: OnEvent::Restart,
        on_crash: OnEvent::Destroy,
        devices,
    })
    .and_then(|d| {
        // Checked separately so a bad topology is an error, not silently dropped.
        topology(spec)?;
        Ok(d)
    })
}

/// Whether `p` is inside `dir` (no `..` escapes): paths from configuration only.
pub fn is_within(p: &Path, dir: &Path) -> bool {
    p.starts_with(dir) && !p.components().any(|c| matches!(c, std::path::Component::ParentDir))
}
