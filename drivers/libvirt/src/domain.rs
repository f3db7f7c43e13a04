// SPDX-License-Identifier: Apache-2.0
//! The typed libvirt domain model: what Ferrostack's drivers put in a `<domain>`, each device
//! kind a type that renders itself (so the same value renders a whole domain at spawn and a
//! single device for live attach and detach).

use crate::xml::Elem;
use std::path::PathBuf;
use uuid::Uuid;

/// `<domain type=...>`: the libvirt driver that runs the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainType {
    /// QEMU with KVM acceleration.
    Kvm,
    /// QEMU with TCG (software emulation).
    Qemu,
    /// Xen through libxl.
    Xen,
}

impl DomainType {
    /// The XML value.
    pub fn as_str(self) -> &'static str {
        match self {
            DomainType::Kvm => "kvm",
            DomainType::Qemu => "qemu",
            DomainType::Xen => "xen",
        }
    }
}

/// The guest kind: how the guest is booted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestKind {
    /// A fully virtualised guest (QEMU, Xen HVM); `machine` like `q35` or `xenfv`.
    Hvm {
        /// The machine type.
        machine: Option<String>,
    },
    /// A Xen paravirtualised guest (`<type machine='xenpv'>linux</type>`).
    XenPv,
    /// A Xen PVH guest (`<type machine='xenpvh'>xenpvh</type>`).
    XenPvh,
}

/// A direct kernel boot (no bootloader).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectBoot {
    /// The kernel image.
    pub kernel: PathBuf,
    /// The initramfs.
    pub initrd: Option<PathBuf>,
    /// The kernel command line.
    pub cmdline: Option<String>,
}

/// `<os>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Os {
    /// The guest kind.
    pub kind: GuestKind,
    /// The architecture (`x86_64`).
    pub arch: String,
    /// Direct kernel boot, if any.
    pub direct: Option<DirectBoot>,
    /// `<boot dev=...>` order (`hd`, `cdrom`, `network`) when booting through firmware.
    pub boot: Vec<String>,
}

/// `<cpu mode=...>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CpuMode {
    /// `host-passthrough`: the host CPU as is (KVM).
    HostPassthrough,
    /// `host-model`: the closest named model plus host features.
    HostModel,
    /// `custom` with a named model (`Nehalem`).
    Custom(String),
    /// `maximum`: everything the accelerator can do (TCG).
    Maximum,
}

/// `<cpu>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cpu {
    /// The mode.
    pub mode: CpuMode,
    /// `(sockets, cores, threads)`.
    pub topology: Option<(u32, u32, u32)>,
}

/// What happens on a guest event (`<on_poweroff>` and friends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnEvent {
    /// Tear the domain down (it stays defined, shut off).
    Destroy,
    /// Restart it.
    Restart,
}

impl OnEvent {
    fn as_str(self) -> &'static str {
        match self {
            OnEvent::Destroy => "destroy",
            OnEvent::Restart => "restart",
        }
    }
}

/// A domain definition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    /// The libvirt driver.
    pub domain_type: DomainType,
    /// The unique name (`instance-<uuid>`).
    pub name: String,
    /// The UUID (the server id).
    pub uuid: Uuid,
    /// A human title (the server's display name).
    pub title: Option<String>,
    /// Memory in KiB.
    pub memory_kib: u64,
    /// vCPUs.
    pub vcpus: u32,
    /// Back memory with huge pages of this size in KiB (`hw:mem_page_size`).
    pub hugepages_kib: Option<u64>,
    /// vCPU pinning: `(vcpu, host cpuset)` (`hw:cpu_policy=dedicated`).
    pub vcpu_pins: Vec<(u32, String)>,
    /// The CPU model.
    pub cpu: Option<Cpu>,
    /// Boot.
    pub os: Os,
    /// `<features><acpi/><apic/></features>` (HVM only).
    pub acpi: bool,
    /// On guest poweroff.
    pub on_poweroff: OnEvent,
    /// On guest reboot.
    pub on_reboot: OnEvent,
    /// On guest crash.
    pub on_crash: OnEvent,
    /// Devices.
    pub devices: Devices,
}

/// `<devices>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Devices {
    /// The device model binary (`/usr/bin/qemu-system-x86_64`).
    pub emulator: Option<PathBuf>,
    /// Disks and CD-ROMs.
    pub disks: Vec<Disk>,
    /// Controllers (virtio-scsi, spare PCIe root ports for hotplug).
    pub controllers: Vec<Controller>,
    /// Network interfaces.
    pub interfaces: Vec<Interface>,
    /// Serial ports.
    pub serials: Vec<Serial>,
    /// Consoles.
    pub consoles: Vec<Console>,
    /// Remote displays.
    pub graphics: Vec<Graphics>,
    /// `<memballoon model=...>` (`virtio`, `xen`, `none`).
    pub memballoon: Option<String>,
}

/// `device=` of a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskDevice {
    /// A hard disk.
    Disk,
    /// A CD-ROM (the config drive).
    Cdrom,
}

/// Authentication for a network disk (`<auth>` with a libvirt secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskAuth {
    /// The user (`cinder`).
    pub username: String,
    /// The secret type (`ceph`, `iscsi`).
    pub secret_type: String,
    /// The libvirt secret's UUID.
    pub secret_uuid: String,
}

/// Where a disk's data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskSource {
    /// A file (an image, a qcow2 overlay, a file volume, the config drive ISO).
    File(PathBuf),
    /// A host block device (LVM, a logged-in iSCSI LUN).
    Block(PathBuf),
    /// A network disk (`rbd`, `iscsi`) served by QEMU's own client.
    Network {
        /// `rbd` or `iscsi`.
        protocol: String,
        /// `pool/volume` for RBD, `iqn/lun` for iSCSI.
        name: String,
        /// Monitor or portal hosts with their ports.
        hosts: Vec<(String, Option<u16>)>,
        /// Authentication.
        auth: Option<DiskAuth>,
    },
}

impl DiskSource {
    fn kind(&self) -> &'static str {
        match self {
            DiskSource::File(_) => "file",
            DiskSource::Block(_) => "block",
            DiskSource::Network { .. } => "network",
        }
    }
}

/// A disk or CD-ROM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disk {
    /// Disk or CD-ROM.
    pub device: DiskDevice,
    /// The data.
    pub source: DiskSource,
    /// `<driver name=...>`: `qemu` for QEMU, `phy`/`qemu`/absent for Xen.
    pub driver_name: Option<String>,
    /// The format (`raw`, `qcow2`), always explicit: never probed.
    pub format: Option<String>,
    /// The cache mode (`none`, `writeback`).
    pub cache: Option<String>,
    /// The guest device name (`vda`, `sdz`, `xvdb`).
    pub target_dev: String,
    /// The bus (`virtio`, `scsi`, `sata`, `xen`).
    pub target_bus: String,
    /// Read-only.
    pub readonly: bool,
    /// The serial the guest sees (the volume id).
    pub serial: Option<String>,
}

impl Disk {
    /// The `<disk>` element.
    pub fn to_elem(&self) -> Elem {
        let device = match self.device {
            DiskDevice::Disk => "disk",
            DiskDevice::Cdrom => "cdrom",
        };
        let mut e = Elem::new("disk").attr("type", self.source.kind()).attr("device", device);
        if self.driver_name.is_some() || self.format.is_some() || self.cache.is_some() {
            e = e.child(
                Elem::new("driver")
                    .attr_opt("name", self.driver_name.as_ref())
                    .attr_opt("type", self.format.as_ref())
                    .attr_opt("cache", self.cache.as_ref()),
            );
        }
        let (source, auth) = match &self.source {
            DiskSource::File(p) => (Elem::new("source").attr("file", p.display()), None),
            DiskSource::Block(p) => (Elem::new("source").attr("dev", p.display()), None),
            DiskSource::Network { protocol, name, hosts, auth } => {
                let s = Elem::new("source").attr("protocol", protocol).attr("name", name).children(
                    hosts
                        .iter()
                        .map(|(h, p)| Elem::new("host").attr("name", h).attr_opt("port", *p)),
                );
                let a = auth.as_ref().map(|a| {
                    Elem::new("auth").attr("username", &a.username).child(
                        Elem::new("secret")
                            .attr("type", &a.secret_type)
                            .attr("uuid", &a.secret_uuid),
                    )
                });
                (s, a)
            }
        };
        e = e
            .child_opt(auth)
            .child(source)
            .child(Elem::new("target").attr("dev", &self.target_dev).attr("bus", &self.target_bus));
        if self.readonly {
            e = e.child(Elem::new("readonly"));
        }
        e.child_opt(self.serial.as_ref().map(|s| Elem::new("serial").text(s)))
    }
}

/// A controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controller {
    /// `scsi`, `pci`.
    pub kind: String,
    /// `virtio-scsi`, `pcie-root`, `pcie-root-port`.
    pub model: String,
    /// The index among controllers of its type (libvirt assigns one when `None`).
    pub index: Option<u32>,
}

impl Controller {
    /// The `<controller>` element.
    pub fn to_elem(&self) -> Elem {
        Elem::new("controller")
            .attr("type", &self.kind)
            .attr_opt("index", self.index)
            .attr("model", &self.model)
    }
}

/// How an interface reaches the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterfaceKind {
    /// A tap device plugged into a Linux bridge (or an OVS bridge with a virtualport).
    Bridge {
        /// The bridge.
        bridge: String,
    },
    /// A plain tap device the network backend plugs itself (`vif_type` `tap`).
    Ethernet,
}

/// A network interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// How it is connected.
    pub kind: InterfaceKind,
    /// The MAC address.
    pub mac: String,
    /// `<virtualport type='openvswitch'>` with this `interfaceid` (the Neutron port id).
    pub ovs_interface_id: Option<String>,
    /// The device model (`virtio`); `None` for Xen's netfront.
    pub model: Option<String>,
    /// The MTU.
    pub mtu: Option<u32>,
    /// The host tap device name (`tap<port id prefix>`).
    pub target_dev: Option<String>,
    /// A Xen hotplug script (`vif-bridge`).
    pub script: Option<String>,
}

impl Interface {
    /// The `<interface>` element.
    pub fn to_elem(&self) -> Elem {
        let kind = match &self.kind {
            InterfaceKind::Bridge { .. } => "bridge",
            InterfaceKind::Ethernet => "ethernet",
        };
        let mut e = Elem::new("interface")
            .attr("type", kind)
            .child(Elem::new("mac").attr("address", &self.mac));
        if let InterfaceKind::Bridge { bridge } = &self.kind {
            e = e.child(Elem::new("source").attr("bridge", bridge));
        }
        if let Some(id) = &self.ovs_interface_id {
            e = e.child(
                Elem::new("virtualport")
                    .attr("type", "openvswitch")
                    .child(Elem::new("parameters").attr("interfaceid", id)),
            );
        }
        e.child_opt(self.target_dev.as_ref().map(|d| Elem::new("target").attr("dev", d)))
            .child_opt(self.script.as_ref().map(|s| Elem::new("script").attr("path", s)))
            .child_opt(self.model.as_ref().map(|m| Elem::new("model").attr("type", m)))
            .child_opt(self.mtu.map(|m| Elem::new("mtu").attr("size", m)))
    }
}

/// A character device backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CharSource {
    /// A pseudo terminal, optionally also logged to a file (through virtlogd).
    Pty {
        /// The log file.
        log: Option<PathBuf>,
    },
    /// Output to a file only.
    File(PathBuf),
}

fn char_elem(name: &str, src: &CharSource) -> Elem {
    match src {
        CharSource::Pty { log } => Elem::new(name).attr("type", "pty").child_opt(
            log.as_ref().map(|l| Elem::new("log").attr("file", l.display()).attr("append", "on")),
        ),
        CharSource::File(p) => Elem::new(name)
            .attr("type", "file")
            .child(Elem::new("source").attr("path", p.display()).attr("append", "on")),
    }
}

/// A serial port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Serial {
    /// The backend.
    pub source: CharSource,
    /// The port.
    pub port: u32,
}

impl Serial {
    /// The `<serial>` element.
    pub fn to_elem(&self) -> Elem {
        char_elem("serial", &self.source).child(Elem::new("target").attr("port", self.port))
    }
}

/// A console.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Console {
    /// The backend.
    pub source: CharSource,
    /// `serial` (an alias of serial port 0) or `xen` (Xen's PV console).
    pub target_type: String,
}

impl Console {
    /// The `<console>` element.
    pub fn to_elem(&self) -> Elem {
        char_elem("console", &self.source)
            .child(Elem::new("target").attr("type", &self.target_type).attr("port", 0))
    }
}

/// A remote display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Graphics {
    /// `vnc` or `spice`.
    pub protocol: String,
    /// The listen address.
    pub listen: String,
    /// A fixed port; `None` lets libvirt pick one (`autoport`).
    pub port: Option<u16>,
}

impl Graphics {
    /// The `<graphics>` element.
    pub fn to_elem(&self) -> Elem {
        let e = Elem::new("graphics").attr("type", &self.protocol);
        let e = match self.port {
            Some(p) => e.attr("port", p).attr("autoport", "no"),
            None => e.attr("autoport", "yes"),
        };
        e.attr("listen", &self.listen)
            .child(Elem::new("listen").attr("type", "address").attr("address", &self.listen))
    }
}

impl Domain {
    /// The `<domain>` element.
    pub fn to_elem(&self) -> Elem {
        let mut d = Elem::new("domain")
            .attr("type", self.domain_type.as_str())
            .child(Elem::new("name").text(&self.name))
            .child(Elem::new("uuid").text(self.uuid.hyphenated()))
            .child_opt(self.title.as_ref().map(|t| Elem::new("title").text(t)))
            .child(Elem::new("memory").attr("unit", "KiB").text(self.memory_kib))
            .child(Elem::new("currentMemory").attr("unit", "KiB").text(self.memory_kib));
        if let Some(size) = self.hugepages_kib {
            d = d.child(
                Elem::new("memoryBacking").child(
                    Elem::new("hugepages")
                        .child(Elem::new("page").attr("size", size).attr("unit", "KiB")),
                ),
            );
        }
        d = d.child(Elem::new("vcpu").attr("placement", "static").text(self.vcpus));
        if !self.vcpu_pins.is_empty() {
            d = d.child(
                Elem::new("cputune").children(
                    self.vcpu_pins
                        .iter()
                        .map(|(v, set)| Elem::new("vcpupin").attr("vcpu", v).attr("cpuset", set)),
                ),
            );
        }
        d = d.child(self.os_elem());
        if self.acpi && matches!(self.os.kind, GuestKind::Hvm { .. }) {
            d = d.child(Elem::new("features").child(Elem::new("acpi")).child(Elem::new("apic")));
        }
        if let Some(cpu) = &self.cpu {
            let mut c = Elem::new("cpu");
            c = match &cpu.mode {
                CpuMode::HostPassthrough => c.attr("mode", "host-passthrough"),
                CpuMode::HostModel => c.attr("mode", "host-model"),
                CpuMode::Maximum => c.attr("mode", "maximum"),
                CpuMode::Custom(m) => c
                    .attr("mode", "custom")
                    .attr("match", "exact")
                    .child(Elem::new("model").attr("fallback", "forbid").text(m)),
            };
            if let Some((s, co, t)) = cpu.topology {
                c = c.child(
                    Elem::new("topology").attr("sockets", s).attr("cores", co).attr("threads", t),
                );
            }
            d = d.child(c);
        }
        d = d
            .child(Elem::new("on_poweroff").text(self.on_poweroff.as_str()))
            .child(Elem::new("on_reboot").text(self.on_reboot.as_str()))
            .child(Elem::new("on_crash").text(self.on_crash.as_str()));
        let dv = &self.devices;
        let devices = Elem::new("devices")
            .child_opt(dv.emulator.as_ref().map(|e| Elem::new("emulator").text(e.display())))
            .children(dv.disks.iter().map(Disk::to_elem))
            .children(dv.controllers.iter().map(Controller::to_elem))
            .children(dv.interfaces.iter().map(Interface::to_elem))
            .children(dv.serials.iter().map(Serial::to_elem))
            .children(dv.consoles.iter().map(Console::to_elem))
            .children(dv.graphics.iter().map(Graphics::to_elem))
            .child_opt(dv.memballoon.as_ref().map(|m| Elem::new("memballoon").attr("model", m)));
        d.child(devices)
    }

    fn os_elem(&self) -> Elem {
        let ty = match &self.os.kind {
            GuestKind::Hvm { machine } => Elem::new("type")
                .attr("arch", &self.os.arch)
                .attr_opt("machine", machine.as_ref())
                .text("hvm"),
            GuestKind::XenPv => {
                Elem::new("type").attr("arch", &self.os.arch).attr("machine", "xenpv").text("linux")
            }
            GuestKind::XenPvh => Elem::new("type")
                .attr("arch", &self.os.arch)
                .attr("machine", "xenpvh")
                .text("xenpvh"),
        };
        let mut os = Elem::new("os").child(ty);
        if let Some(b) = &self.os.direct {
            os = os
                .child(Elem::new("kernel").text(b.kernel.display()))
                .child_opt(b.initrd.as_ref().map(|i| Elem::new("initrd").text(i.display())))
                .child_opt(b.cmdline.as_ref().map(|c| Elem::new("cmdline").text(c)));
        }
        os.children(self.os.boot.iter().map(|b| Elem::new("boot").attr("dev", b)))
    }

    /// The domain XML.
    pub fn to_xml(&self) -> String {
        self.to_elem().render()
    }
}
