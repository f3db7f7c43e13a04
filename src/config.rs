// SPDX-License-Identifier: Apache-2.0
//! The typed configuration of a [`crate::Cloud`], with embedded defaults.
//!
//! Everything has a default, so an empty file (or no file) gives a working single-host cloud:
//! SQLite state in the data directory, the in-process bus, the API on `127.0.0.1:8770`.
//!
//! ```toml
//! # minicloud.toml: every key is optional
//! listen = "127.0.0.1:8770"
//! public_url = "http://127.0.0.1:8770"   # what the catalog advertises; default from `listen`
//! region = "RegionOne"
//! store = "sqlite"                       # "sqlite", "sqlite:///path/state.db", "memory",
//!                                        # or "postgres://user@host/db" (feature `postgres`)
//! bus = "local"                          # "local" or "amqp://host:5672/%2f" (feature `amqp`)
//!
//! [compute]
//! hypervisor = "fake"                    # or "kvm" (feature `kvm`): libvirt with QEMU/KVM
//! libvirt_uri = "qemu:///system"         # kvm only
//! virt_type = "kvm"                      # kvm only: "kvm", or "qemu" for TCG emulation
//! kernel = "/srv/guest/vmlinuz"          # kvm only, optional: boot this kernel directly
//! initrd = "/srv/guest/initrd.cpio.gz"   #   with this initramfs
//! cmdline = "console=ttyS0"              #   and this command line
//!
//! [network]
//! data_plane = "fake"                    # or "linux" (feature `linuxnet`): bridges, nftables,
//!                                        # router and DHCP namespaces, dnsmasq; needs root
//! prefix = "fs"                          # linux only: prefix of everything it creates
//! host_netns = "lab"                     # linux only, optional: bridges live in this netns
//! dhcp_server = "dnsmasq"                # linux only: "dnsmasq" or "kea"
//! state_dir = "/var/lib/ferrostack/net"  # linux only; default DATA_DIR/linuxnet
//! physical_interfaces = { public = "eth1" }  # linux only: uplinks of flat/VLAN networks
//!
//! [identity.ldap]                        # one domain's users and groups from LDAP (read-only);
//! domain = "ldap"                        #   every key of `ferrostack_identity::ldap::LdapConfig`
//! url = "ldap://127.0.0.1:389"           #   (Keystone's `[ldap]` option names)
//! user = "cn=admin,dc=example,dc=org"
//! password = "secret"
//! suffix = "dc=example,dc=org"
//!
//! [image.store]                          # default: files in DATA_DIR/images
//! type = "swift"                         # any Swift API with tempauth (`SwiftStoreConfig`)
//! auth_url = "http://127.0.0.1:8080/auth/v1.0"
//! user = "service:glance"
//! key = "secret"
//!
//! [image.web_download.import_filtering_opts]
//! allowed_hosts = ["images.example.org"] # web-download stays off until hosts are listed
//! ```

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Where the control plane keeps its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    /// `MemoryStore`: nothing survives a restart (tests, demos).
    Memory,
    /// `SqliteStore` at this path; relative paths are relative to the data directory.
    Sqlite(String),
    /// `PostgresStore` at this URL (feature `postgres`).
    Postgres(String),
}

/// How services talk to each other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BusConfig {
    /// The in-process bus: every service in this process.
    Local,
    /// RabbitMQ at this URL (feature `amqp`).
    Amqp(String),
}

/// Which hypervisor the embedded compute host drives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum HypervisorConfig {
    /// `FakeHypervisor`: instances are records with a simulated power state.
    #[default]
    Fake,
    /// The libvirt QEMU/KVM driver (feature `kvm`).
    Kvm(KvmConfig),
}

/// The libvirt QEMU/KVM driver's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvmConfig {
    /// The libvirt connection URI.
    pub libvirt_uri: String,
    /// `kvm` (hardware virtualisation) or `qemu` (TCG emulation).
    pub virt_type: String,
    /// Direct kernel boot: the kernel, its initramfs and command line, instead of booting
    /// the image's own boot loader.
    pub kernel: Option<PathBuf>,
    /// The initramfs for `kernel`.
    pub initrd: Option<PathBuf>,
    /// The kernel command line for `kernel`.
    pub cmdline: Option<String>,
}

/// Which data plane realises the embedded networking service's networks, ports, routers and
/// DHCP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DataPlaneConfig {
    /// `FakeBackend`: the intended state is recorded, no packets move.
    #[default]
    Fake,
    /// The Linux data plane (feature `linuxnet`): Linux bridges, nftables security groups,
    /// one namespace per router and per DHCP server.
    Linux(LinuxDataPlaneConfig),
}

/// The Linux data plane's settings (see `ferrostack_linuxnet::LinuxNetConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxDataPlaneConfig {
    /// Prefix of every device, namespace, table and file it creates.
    pub prefix: String,
    /// The namespace the bridges live in; `None` is minicloud's own.
    pub host_netns: Option<String>,
    /// `dnsmasq` or `kea`.
    pub dhcp_server: String,
    /// Where DHCP files live; `None` is `DATA_DIR/linuxnet`.
    pub state_dir: Option<PathBuf>,
    /// Physical network name to uplink interface.
    pub physical_interfaces: std::collections::BTreeMap<String, String>,
}

/// A configuration value that is not acceptable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The TOML could not be parsed or has unknown keys.
    #[error("invalid configuration")]
    Parse(#[source] toml::de::Error),
    /// The file could not be read.
    #[error("could not read {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A value has the right type but is not acceptable.
    #[error("invalid value for `{key}`: {reason}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// Why.
        reason: String,
    },
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    listen: Option<String>,
    public_url: Option<String>,
    region: Option<String>,
    store: Option<String>,
    bus: Option<String>,
    compute: Option<RawCompute>,
    network: Option<RawNetwork>,
    identity: Option<RawIdentity>,
    image: Option<RawImage>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawIdentity {
    ldap: Option<ferrostack_identity::ldap::LdapConfig>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawImage {
    store: Option<ferrostack_image::StoreConfig>,
    web_download: Option<ferrostack_image::WebDownloadConfig>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    data_plane: Option<String>,
    prefix: Option<String>,
    host_netns: Option<String>,
    dhcp_server: Option<String>,
    state_dir: Option<PathBuf>,
    physical_interfaces: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCompute {
    hypervisor: Option<String>,
    libvirt_uri: Option<String>,
    virt_type: Option<String>,
    kernel: Option<PathBuf>,
    initrd: Option<PathBuf>,
    cmdline: Option<String>,
}

/// The configuration of a [`crate::Cloud`].
#[derive(Debug, Clone, PartialEq)]
pub struct CloudConfig {
    /// The address the API listens on.
    pub listen: SocketAddr,
    /// The base URL clients reach the API at, without a trailing slash.
    pub public_url: String,
    /// The region name in the catalog.
    pub region: String,
    /// The state store.
    pub store: StoreConfig,
    /// The message bus.
    pub bus: BusConfig,
    /// The embedded compute host's hypervisor.
    pub hypervisor: HypervisorConfig,
    /// The embedded networking service's data plane.
    pub data_plane: DataPlaneConfig,
    /// A domain whose users and groups come from an LDAP directory.
    pub identity_ldap: Option<ferrostack_identity::ldap::LdapConfig>,
    /// Where image data lives; `None` is files in `DATA_DIR/images`.
    pub image_store: Option<ferrostack_image::StoreConfig>,
    /// The `web-download` import method (off until allowed hosts are listed).
    pub web_download: ferrostack_image::WebDownloadConfig,
}

/// The default listen address of minicloud.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8770";

impl Default for CloudConfig {
    fn default() -> Self {
        let listen: SocketAddr = DEFAULT_LISTEN.parse().expect("the default address is valid");
        CloudConfig {
            public_url: format!("http://{listen}"),
            listen,
            region: "RegionOne".into(),
            store: StoreConfig::Sqlite("state.db".into()),
            bus: BusConfig::Local,
            hypervisor: HypervisorConfig::Fake,
            data_plane: DataPlaneConfig::Fake,
            identity_ldap: None,
            image_store: None,
            web_download: ferrostack_image::WebDownloadConfig::default(),
        }
    }
}

impl CloudConfig {
    /// Parses a TOML document; absent keys take their defaults.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(ConfigError::Parse)?;
        let mut cfg = CloudConfig::default();
        if let Some(listen) = raw.listen {
            cfg.set_listen(&listen)?;
        }
        if let Some(url) = raw.public_url {
            cfg.set_public_url(&url)?;
        }
        if let Some(region) = raw.region {
            if region.is_empty() || region.len() > 255 {
                return Err(ConfigError::Invalid {
                    key: "region",
                    reason: "must be 1 to 255 characters".into(),
                });
            }
            cfg.region = region;
        }
        if let Some(store) = raw.store {
            cfg.store = parse_store(&store)?;
        }
        if let Some(bus) = raw.bus {
            cfg.bus = parse_bus(&bus)?;
        }
        if let Some(compute) = raw.compute {
            cfg.hypervisor = parse_compute(compute)?;
        }
        if let Some(network) = raw.network {
            cfg.data_plane = parse_network(network)?;
        }
        if let Some(identity) = raw.identity {
            if let Some(ldap) = &identity.ldap {
                ldap.validate().map_err(|e| ConfigError::Invalid {
                    key: "identity.ldap",
                    reason: e.to_string(),
                })?;
            }
            cfg.identity_ldap = identity.ldap;
        }
        if let Some(image) = raw.image {
            cfg.image_store = image.store;
            cfg.web_download = image.web_download.unwrap_or_default();
        }
        Ok(cfg)
    }

    /// Reads and parses a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.display().to_string(), source })?;
        Self::from_toml(&text)
    }

    /// Sets the listen address; the public URL follows it unless it was set explicitly to
    /// something else.
    pub fn set_listen(&mut self, listen: &str) -> Result<(), ConfigError> {
        let addr: SocketAddr = listen.parse().map_err(|e| ConfigError::Invalid {
            key: "listen",
            reason: format!("{listen:?} is not an address:port ({e})"),
        })?;
        if self.public_url == format!("http://{}", self.listen) {
            self.public_url = format!("http://{addr}");
        }
        self.listen = addr;
        Ok(())
    }

    /// Sets the public URL.
    pub fn set_public_url(&mut self, url: &str) -> Result<(), ConfigError> {
        let trimmed = url.trim_end_matches('/');
        if !(trimmed.starts_with("http://") || trimmed.starts_with("https://"))
            || trimmed.len() <= "https://".len()
        {
            return Err(ConfigError::Invalid {
                key: "public_url",
                reason: format!("{url:?} is not an http(s) URL"),
            });
        }
        self.public_url = trimmed.to_owned();
        Ok(())
    }
}

fn parse_store(s: &str) -> Result<StoreConfig, ConfigError> {
    match s {
        "memory" => Ok(StoreConfig::Memory),
        "sqlite" => Ok(StoreConfig::Sqlite("state.db".into())),
        _ if s.starts_with("sqlite://") => {
            let path = &s["sqlite://".len()..];
            if path.is_empty() {
                return Err(ConfigError::Invalid {
                    key: "store",
                    reason: "empty sqlite path".into(),
                });
            }
            Ok(StoreConfig::Sqlite(path.to_owned()))
        }
        _ if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
            Ok(StoreConfig::Postgres(s.to_owned()))
        }
        _ => Err(ConfigError::Invalid {
            key: "store",
            reason: format!(
                "{s:?}: expected \"sqlite\", \"sqlite://PATH\", \"memory\" or \"postgres://...\""
            ),
        }),
    }
}

fn parse_bus(s: &str) -> Result<BusConfig, ConfigError> {
    match s {
        "local" => Ok(BusConfig::Local),
        _ if s.starts_with("amqp://") || s.starts_with("amqps://") => {
            Ok(BusConfig::Amqp(s.to_owned()))
        }
        _ => Err(ConfigError::Invalid {
            key: "bus",
            reason: format!("{s:?}: expected \"local\" or \"amqp://...\""),
        }),
    }
}

fn parse_compute(raw: RawCompute) -> Result<HypervisorConfig, ConfigError> {
    let invalid = |key, reason: &str| ConfigError::Invalid { key, reason: reason.into() };
    match raw.hypervisor.as_deref().unwrap_or("fake") {
        "fake" => {
            if raw.libvirt_uri.is_some() || raw.virt_type.is_some() || raw.kernel.is_some() {
                return Err(invalid("compute", "libvirt settings need hypervisor = \"kvm\""));
            }
            Ok(HypervisorConfig::Fake)
        }
        "kvm" => {
            let virt_type = raw.virt_type.unwrap_or_else(|| "kvm".into());
            if virt_type != "kvm" && virt_type != "qemu" {
                return Err(invalid("compute.virt_type", "expected \"kvm\" or \"qemu\""));
            }
            if raw.kernel.is_none() && (raw.initrd.is_some() || raw.cmdline.is_some()) {
                return Err(invalid("compute.kernel", "initrd and cmdline need a kernel"));
            }
            Ok(HypervisorConfig::Kvm(KvmConfig {
                libvirt_uri: raw.libvirt_uri.unwrap_or_else(|| "qemu:///system".into()),
                virt_type,
                kernel: raw.kernel,
                initrd: raw.initrd,
                cmdline: raw.cmdline,
            }))
        }
        other => Err(ConfigError::Invalid {
            key: "compute.hypervisor",
            reason: format!("{other:?}: expected \"fake\" or \"kvm\""),
        }),
    }
}

fn parse_network(raw: RawNetwork) -> Result<DataPlaneConfig, ConfigError> {
    match raw.data_plane.as_deref().unwrap_or("fake") {
        "fake" => {
            if raw.prefix.is_some()
                || raw.host_netns.is_some()
                || raw.dhcp_server.is_some()
                || raw.state_dir.is_some()
                || raw.physical_interfaces.is_some()
            {
                return Err(ConfigError::Invalid {
                    key: "network",
                    reason: "data-plane settings need data_plane = \"linux\"".into(),
                });
            }
            Ok(DataPlaneConfig::Fake)
        }
        "linux" => {
            let dhcp_server = raw.dhcp_server.unwrap_or_else(|| "dnsmasq".into());
            if dhcp_server != "dnsmasq" && dhcp_server != "kea" {
                return Err(ConfigError::Invalid {
                    key: "network.dhcp_server",
                    reason: format!("{dhcp_server:?}: expected \"dnsmasq\" or \"kea\""),
                });
            }
            Ok(DataPlaneConfig::Linux(LinuxDataPlaneConfig {
                prefix: raw.prefix.unwrap_or_else(|| "fs".into()),
                host_netns: raw.host_netns,
                dhcp_server,
                state_dir: raw.state_dir,
                physical_interfaces: raw.physical_interfaces.unwrap_or_default(),
            }))
        }
        other => Err(ConfigError::Invalid {
            key: "network.data_plane",
            reason: format!("{other:?}: expected \"fake\" or \"linux\""),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_config_gives_the_embedded_defaults() {
        let cfg = CloudConfig::from_toml("").unwrap();
        assert_eq!(cfg, CloudConfig::default());
        assert_eq!(cfg.public_url, "http://127.0.0.1:8770");
        assert_eq!(cfg.store, StoreConfig::Sqlite("state.db".into()));
    }

    #[test]
    fn parses_drivers_and_refuses_junk() {
        let cfg = CloudConfig::from_toml(
            "listen = \"127.0.0.1:9000\"\nstore = \"postgres://u@localhost/fs\"\nbus = \"amqp://localhost\"",
        )
        .unwrap();
        assert_eq!(cfg.public_url, "http://127.0.0.1:9000");
        assert_eq!(cfg.store, StoreConfig::Postgres("postgres://u@localhost/fs".into()));
        assert_eq!(cfg.bus, BusConfig::Amqp("amqp://localhost".into()));
        assert!(CloudConfig::from_toml("stor = \"memory\"").is_err(), "unknown keys are errors");
        assert!(CloudConfig::from_toml("store = \"mysql://x\"").is_err());
        assert!(CloudConfig::from_toml("listen = \"nowhere\"").is_err());
        assert!(CloudConfig::from_toml("public_url = \"ftp://x\"").is_err());
        assert!(CloudConfig::from_toml("region = \"\"").is_err());
    }

    #[test]
    fn compute_section_chooses_the_hypervisor() {
        let cfg = CloudConfig::from_toml(
            "[compute]\nhypervisor = \"kvm\"\nvirt_type = \"qemu\"\nkernel = \"/k\"\ninitrd = \"/i\"",
        )
        .unwrap();
        let HypervisorConfig::Kvm(kvm) = cfg.hypervisor else { panic!("not kvm") };
        assert_eq!(kvm.libvirt_uri, "qemu:///system");
        assert_eq!(kvm.virt_type, "qemu");
        assert_eq!(kvm.kernel, Some(PathBuf::from("/k")));
        assert!(CloudConfig::from_toml("[compute]\nhypervisor = \"xen3\"").is_err());
        assert!(
            CloudConfig::from_toml("[compute]\nhypervisor = \"kvm\"\nvirt_type = \"hvf\"").is_err()
        );
        assert!(CloudConfig::from_toml("[compute]\nlibvirt_uri = \"qemu:///system\"").is_err());
        assert!(
            CloudConfig::from_toml("[compute]\nhypervisor = \"kvm\"\ninitrd = \"/i\"").is_err()
        );
        assert!(CloudConfig::from_toml("[compute]\nhypervsor = \"kvm\"").is_err());
    }

    #[test]
    fn network_section_chooses_the_data_plane() {
        let cfg = CloudConfig::from_toml(
            "[network]\ndata_plane = \"linux\"\nprefix = \"mc\"\nhost_netns = \"lab\"\n\
             physical_interfaces = { public = \"eth1\" }",
        )
        .unwrap();
        let DataPlaneConfig::Linux(l) = cfg.data_plane else { panic!("not linux") };
        assert_eq!((l.prefix.as_str(), l.host_netns.as_deref()), ("mc", Some("lab")));
        assert_eq!(l.dhcp_server, "dnsmasq");
        assert_eq!(l.physical_interfaces["public"], "eth1");
        assert_eq!(CloudConfig::from_toml("").unwrap().data_plane, DataPlaneConfig::Fake);
        for bad in [
            "[network]\ndata_plane = \"ovs\"",
            "[network]\nprefix = \"mc\"",
            "[network]\ndata_plane = \"linux\"\ndhcp_server = \"isc\"",
            "[network]\ndata_plane = \"linux\"\nprefx = \"mc\"",
        ] {
            assert!(CloudConfig::from_toml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn identity_and_image_sections_reach_the_services_configs() {
        let cfg = CloudConfig::from_toml(
            "[identity.ldap]\ndomain = \"ldap\"\nurl = \"ldap://127.0.0.1:3389\"\n\
             suffix = \"dc=example,dc=org\"\n\
             [image.store]\ntype = \"swift\"\nauth_url = \"http://127.0.0.1:8080/auth/v1.0\"\n\
             user = \"svc:glance\"\nkey = \"k\"\n\
             [image.web_download.import_filtering_opts]\nallowed_hosts = [\"images.example.org\"]",
        )
        .unwrap();
        assert_eq!(cfg.identity_ldap.as_ref().map(|l| l.domain.as_str()), Some("ldap"));
        assert!(matches!(cfg.image_store, Some(ferrostack_image::StoreConfig::Swift(_))));
        assert_eq!(
            cfg.web_download.import_filtering_opts.allowed_hosts,
            vec!["images.example.org".to_string()]
        );
        for bad in [
            "[identity.ldap]\nurl = \"ldaps://x\"",
            "[identity.ldapp]\nurl = \"ldap://x\"",
            "[image.store]\ntype = \"s3\"",
        ] {
            assert!(CloudConfig::from_toml(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn explicit_public_url_is_kept_when_listen_changes() {
        let cfg = CloudConfig::from_toml(
            "public_url = \"https://cloud.example/\"\nlisten = \"127.0.0.1:9000\"",
        )
        .unwrap();
        assert_eq!(cfg.public_url, "https://cloud.example");
    }
}
