// SPDX-License-Identifier: Apache-2.0
//! The embedded defaults: [`Cloud::mount_embedded`] assembles every service minicloud serves.

use crate::compute_mount::{ImagesForCompute, NetworksForCompute, VolumesForCompute};
use crate::{AdminCredentials, Cloud, CloudError};
use crate::{DataPlaneConfig, HypervisorConfig};
use ferrostack_compute::fake::FakeHypervisor;
use ferrostack_compute::hypervisor::Hypervisor;
use ferrostack_compute::local::{LocalCompute, Ports};
use ferrostack_identity::{IdentityApi, IdentityService};
use ferrostack_image::{ImageConfig, ImageService};
use ferrostack_network::testing::FakeBackend;
use ferrostack_network::{Backends, NetworkConfig, NetworkService};
use ferrostack_volume::VolumeService;
use std::sync::Arc;

/// The services [`Cloud::mount_embedded`] mounted, for callers that want to drive them
/// in-process as well.
#[derive(Debug, Clone)]
pub struct EmbeddedServices {
    /// Keystone, also validating every other service's tokens.
    pub identity: Arc<IdentityService>,
    /// Glance, with image data in `DATA_DIR/images`.
    pub image: Arc<ImageService>,
    /// Neutron. Its data plane is the fake backend by default, which records the intended
    /// state; `[network] data_plane = "linux"` (feature `linuxnet`) realises it with Linux
    /// bridges, nftables and namespaces, reconciled with the Store on every start.
    pub network: Arc<NetworkService>,
    /// Cinder, with volumes as sparse files in `DATA_DIR/volumes` and images through Glance.
    pub volume: Arc<VolumeService>,
    /// Nova: a controller and one host, `host1`, whose hypervisor is the configured one: the
    /// fake by default (instances are records with a simulated power state), or libvirt's
    /// QEMU/KVM driver (`[compute] hypervisor = "kvm"`, feature `kvm`) for real guests.
    pub compute: Arc<LocalCompute>,
}

fn service_error(
    service: &'static str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> CloudError {
    CloudError::Service { service, source: Box::new(e) }
}

impl Cloud {
    /// Mounts every service on the embedded defaults, behind Keystone's token validation:
    /// identity at `/identity` (bootstrapped with `admin`), images at `/image` (files in the
    /// data directory), block storage at `/volume` (sparse files in the data directory, images
    /// through Glance), networking at `/network` (no data plane), compute at `/compute` (one
    /// host with the fake hypervisor), and publishes them all in
    /// the catalog. This is what `minicloud` serves.
    ///
    /// # Errors
    ///
    /// A service could not start (unusable data directory, failing store).
    pub async fn mount_embedded(
        &mut self,
        admin: &AdminCredentials,
    ) -> Result<EmbeddedServices, CloudError> {
        let identity =
            self.mount_identity(admin).await.map_err(|e| service_error("identity", e))?;
        let validator: Arc<dyn IdentityApi> = identity.clone();
        let image = self
            .image_service(ImageConfig {
                web_download: self.config().web_download.clone(),
                ..ImageConfig::default()
            })
            .map_err(|e| service_error("image", e))?;
        self.mount_image(validator.clone(), image.clone());
        let image_store = match &self.config().image_store {
            Some(ferrostack_image::StoreConfig::Swift(swift)) => {
                format!("swift (container {:?} via {})", swift.container, swift.auth_url)
            }
            Some(ferrostack_image::StoreConfig::Filesystem { dir }) => {
                format!("files in {}", dir.display())
            }
            Some(_) => "another image store".to_owned(),
            None => format!("files in {}", self.data_dir().join("images").display()),
        };
        self.record_driver("image store", image_store);
        let backend = self.default_volume_backend().map_err(|e| service_error("volume", e))?;
        let volume_dir = self.data_dir().join("volumes");
        self.record_driver(
            "volume backend",
            format!("file (sparse raw in {})", volume_dir.display()),
        );
        let images = Arc::new(crate::bridges::ImagesForVolumes(image.clone()));
        let volume = self
            .volume_service(vec![backend])
            .with_image_source(images.clone())
            .with_image_sink(images);
        let volume = self.mount_volume(validator.clone(), volume);
        let network = self.embedded_network(validator.clone()).await?;
        let data_plane = match &self.config().data_plane {
            DataPlaneConfig::Fake => {
                "fake (records the intended state; no packets move)".to_owned()
            }
            DataPlaneConfig::Linux(l) => format!(
                "linux (bridges, nftables, namespaces; prefix {:?}{})",
                l.prefix,
                l.host_netns.as_deref().map(|n| format!(", in netns {n}")).unwrap_or_default()
            ),
        };
        self.record_driver("data plane", data_plane);
        let ports = Ports {
            images: Arc::new(ImagesForCompute(image.clone())),
            volumes: Arc::new(VolumesForCompute(volume.clone())),
            networks: Arc::new(NetworksForCompute(network.clone())),
        };
        let hypervisor = self.embedded_hypervisor("host1")?;
        let described = match &self.config().hypervisor {
            HypervisorConfig::Fake => "fake on host1 (no guests run)".to_owned(),
            HypervisorConfig::Kvm(k) => {
                format!("kvm on host1 ({}, virt_type {})", k.libvirt_uri, k.virt_type)
            }
        };
        self.record_driver("hypervisor", described);
        let hosts = vec![("host1".to_string(), hypervisor)];
        let compute =
            self.start_compute(ports, hosts).await.map_err(|e| service_error("compute", e))?;
        let compute = Arc::new(compute);
        self.mount_compute(validator, compute.clone());
        self.register_catalog(&identity).await.map_err(|e| service_error("identity", e))?;
        Ok(EmbeddedServices { identity, image, network, volume, compute })
    }
}

impl Cloud {
    /// Mounts the networking service on the configured data plane; a Linux data plane is
    /// reconciled with the Store first (what exists and is wanted is adopted, what is missing
    /// created, leftovers with the prefix removed).
    async fn embedded_network(
        &mut self,
        validator: Arc<dyn IdentityApi>,
    ) -> Result<Arc<NetworkService>, CloudError> {
        match self.config().data_plane.clone() {
            DataPlaneConfig::Fake => Ok(self.mount_network(
                validator,
                NetworkConfig::default(),
                Backends::all(Arc::new(FakeBackend::new())),
            )),
            DataPlaneConfig::Linux(linux) => self.linux_network(validator, &linux).await,
        }
    }

    #[cfg(feature = "linuxnet")]
    async fn linux_network(
        &mut self,
        validator: Arc<dyn IdentityApi>,
        cfg: &crate::LinuxDataPlaneConfig,
    ) -> Result<Arc<NetworkService>, CloudError> {
        use ferrostack_core::command::SystemRunner;
        use ferrostack_linuxnet::{DhcpServer, LinuxNet, LinuxNetConfig, PortKind};
        let config = LinuxNetConfig {
            prefix: cfg.prefix.clone(),
            host_netns: cfg.host_netns.clone(),
            physical_interfaces: cfg.physical_interfaces.clone(),
            state_dir: cfg.state_dir.clone().unwrap_or_else(|| self.data_dir().join("linuxnet")),
            dhcp_server: if cfg.dhcp_server == "kea" {
                DhcpServer::Kea
            } else {
                DhcpServer::Dnsmasq
            },
            // libvirt creates the taps of real guests; fake instances get veth pairs.
            port_kind: match self.config().hypervisor {
                HypervisorConfig::Kvm(_) => PortKind::Hypervisor,
                HypervisorConfig::Fake => PortKind::Veth,
            },
            ..LinuxNetConfig::default()
        };
        let driver = Arc::new(
            LinuxNet::new(config, Arc::new(SystemRunner::new()))
                .map_err(|e| service_error("network", e))?,
        );
        let network =
            self.mount_network(validator, NetworkConfig::default(), Backends::all(driver.clone()));
        let desired = network.desired_state(None).await.map_err(|e| service_error("network", e))?;
        let report = driver.reconcile(&desired).await.map_err(|e| service_error("network", e))?;
        tracing::info!(
            kept = report.kept.len(),
            removed = report.removed.len(),
            "linux data plane reconciled"
        );
        Ok(network)
    }

    #[cfg(not(feature = "linuxnet"))]
    async fn linux_network(
        &mut self,
        _validator: Arc<dyn IdentityApi>,
        _cfg: &crate::LinuxDataPlaneConfig,
    ) -> Result<Arc<NetworkService>, CloudError> {
        Err(service_error(
            "network",
            crate::ConfigError::Invalid {
                key: "network.data_plane",
                reason: "\"linux\" needs ferrostack built with the `linuxnet` feature".into(),
            },
        ))
    }

    /// The hypervisor the configuration asks for, for the embedded host `host`.
    fn embedded_hypervisor(&self, host: &str) -> Result<Arc<dyn Hypervisor>, CloudError> {
        match &self.config().hypervisor {
            HypervisorConfig::Fake => Ok(Arc::new(FakeHypervisor::default())),
            HypervisorConfig::Kvm(kvm) => self.kvm_hypervisor(host, kvm),
        }
    }

    #[cfg(feature = "kvm")]
    fn kvm_hypervisor(
        &self,
        host: &str,
        cfg: &crate::KvmConfig,
    ) -> Result<Arc<dyn Hypervisor>, CloudError> {
        use ferrostack_kvm::{KvmDriver, VirtType};
        let virt_type: VirtType = cfg.virt_type.parse().map_err(|reason: String| {
            service_error(
                "compute",
                crate::ConfigError::Invalid { key: "compute.virt_type", reason },
            )
        })?;
        let state = self.data_dir().join("compute").join(host).join("instances");
        let mut driver = KvmDriver::new(&cfg.libvirt_uri, virt_type, state);
        if let Some(kernel) = &cfg.kernel {
            driver = driver.direct_boot(ferrostack_libvirt::domain::DirectBoot {
                kernel: kernel.clone(),
                initrd: cfg.initrd.clone(),
                cmdline: cfg.cmdline.clone(),
            });
        }
        Ok(Arc::new(driver.build()))
    }

    #[cfg(not(feature = "kvm"))]
    fn kvm_hypervisor(
        &self,
        _host: &str,
        _cfg: &crate::KvmConfig,
    ) -> Result<Arc<dyn Hypervisor>, CloudError> {
        Err(service_error(
            "compute",
            crate::ConfigError::Invalid {
                key: "compute.hypervisor",
                reason: "\"kvm\" needs ferrostack built with the `kvm` feature".into(),
            },
        ))
    }
}
