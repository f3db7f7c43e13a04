// SPDX-License-Identifier: Apache-2.0
//! [`LocalCompute`]: the in-process wiring used by minicloud and tests: one controller and
//! any number of hosts on one bus, sharing one store. Multi-process deployments run the
//! same [`ComputeHost`] and [`ComputeService`] with a network bus and store instead.

use crate::db::ComputeDb;
use crate::error::ComputeError;
use crate::host::{ComputeHost, HostConfig, HostDeps, HostHandle};
use crate::hypervisor::Hypervisor;
use crate::placement::{Placement, PlacementConfig, StorePlacement};
use crate::ports::{ImagePort, NetworkPort, VolumePort};
use crate::service::ComputeService;
use ferrostack_core::bus::Bus;
use ferrostack_core::store::Store;
use std::sync::Arc;

/// The services compute uses, for [`LocalCompute::start`].
#[derive(Debug, Clone)]
pub struct Ports {
    /// Images.
    pub images: Arc<dyn ImagePort>,
    /// Volumes.
    pub volumes: Arc<dyn VolumePort>,
    /// Networks.
    pub networks: Arc<dyn NetworkPort>,
}

/// A controller plus hosts in this process.
#[derive(Debug)]
pub struct LocalCompute {
    /// The controller; it implements [`crate::api::ComputeApi`] (serve it with
    /// [`crate::http::router`]).
    pub service: Arc<ComputeService>,
    /// Running hosts.
    pub hosts: Vec<HostHandle>,
    /// The deps hosts share.
    pub deps: HostDeps,
}

impl LocalCompute {
    /// Starts a controller and one host per `(config, hypervisor)` on `bus`, with
    /// [`StorePlacement`] over `store`, and seeds Nova's default flavors.
    pub async fn start(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        ports: Ports,
        placement: PlacementConfig,
        hosts: Vec<(HostConfig, Arc<dyn Hypervisor>)>,
    ) -> Result<Self, ComputeError> {
        let placement: Arc<dyn Placement> = Arc::new(StorePlacement::new(store.clone(), placement));
        Self::start_with_placement(store, bus, ports, placement, hosts).await
    }

    /// Like [`LocalCompute::start`], with any [`Placement`] (for example one that ranks hosts
    /// with `ferrostack-scheduler`'s filter scheduler before claiming).
    pub async fn start_with_placement(
        store: Arc<dyn Store>,
        bus: Arc<dyn Bus>,
        ports: Ports,
        placement: Arc<dyn Placement>,
        hosts: Vec<(HostConfig, Arc<dyn Hypervisor>)>,
    ) -> Result<Self, ComputeError> {
        let db = ComputeDb::new(store);
        let base = HostDeps {
            db,
            bus,
            hypervisor: Arc::new(crate::fake::FakeHypervisor::default()),
            placement,
            images: ports.images,
            volumes: ports.volumes,
            networks: ports.networks,
        };
        let mut handles = Vec::new();
        for (cfg, hv) in hosts {
            let deps = HostDeps { hypervisor: hv, ..base.clone() };
            handles.push(Arc::new(ComputeHost::new(cfg, deps)).start().await?);
        }
        let service = Arc::new(ComputeService::new(base.clone()));
        service.seed_default_flavors().await?;
        Ok(LocalCompute { service, hosts: handles, deps: base })
    }

    /// The host called `name`.
    pub fn host(&self, name: &str) -> Option<&Arc<ComputeHost>> {
        self.hosts.iter().map(|h| h.host()).find(|h| h.name() == name)
    }
}
