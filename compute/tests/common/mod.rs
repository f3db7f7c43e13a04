// SPDX-License-Identifier: Apache-2.0
//! Shared test environment: a LocalCompute on MemoryStore + LocalBus with fake ports.
#![allow(dead_code, missing_docs)]

use ferrostack_compute::api::{ComputeApi, CreateServer};
use ferrostack_compute::error::ComputeError;
use ferrostack_compute::fake::FakeHypervisor;
use ferrostack_compute::host::HostConfig;
use ferrostack_compute::hypervisor::{HostResources, Hypervisor};
use ferrostack_compute::local::{LocalCompute, Ports};
use ferrostack_compute::placement::PlacementConfig;
use ferrostack_compute::ports::{FakeImages, FakeNetworks, FakeVolumes};
use ferrostack_compute::types::{NetworkRequest, Server, VmState};
use ferrostack_core::RequestContext;
use ferrostack_core::bus::LocalBus;
use ferrostack_core::id::{ImageId, NetworkId, ProjectId, ServerId, UserId};
use ferrostack_core::store::MemoryStore;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug)]
pub struct Env {
    pub compute: LocalCompute,
    pub hvs: Vec<FakeHypervisor>,
    pub images: FakeImages,
    pub volumes: FakeVolumes,
    pub networks: FakeNetworks,
    pub image: ImageId,
    pub net: NetworkId,
    pub ctx: RequestContext,
    pub _dir: tempfile::TempDir,
}

pub async fn env_with(hosts: usize, res: HostResources, tweak: impl Fn(&mut HostConfig)) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let images = FakeImages::new();
    let volumes = FakeVolumes::new();
    let networks = FakeNetworks::new();
    let image = images.add("cirros", "qcow2", b"QFI\xfbfake image".to_vec());
    let net = networks.add_network("private");
    let mut hvs = Vec::new();
    let mut list: Vec<(HostConfig, Arc<dyn Hypervisor>)> = Vec::new();
    for i in 0..hosts {
        let hv = FakeHypervisor::new(res.clone());
        let mut cfg = HostConfig::new(&format!("host{i}"), dir.path().join(format!("cache{i}")));
        tweak(&mut cfg);
        hvs.push(hv.clone());
        list.push((cfg, Arc::new(hv)));
    }
    let compute = LocalCompute::start(
        Arc::new(MemoryStore::new()),
        Arc::new(LocalBus::new()),
        Ports {
            images: Arc::new(images.clone()),
            volumes: Arc::new(volumes.clone()),
            networks: Arc::new(networks.clone()),
        },
        PlacementConfig { cpu_ratio: 1.0, ram_ratio: 1.0, disk_ratio: 1.0 },
        list,
    )
    .await
    .unwrap();
    let ctx = RequestContext::for_project(UserId::new(), ProjectId::new(), &["member", "reader"]);
    Env { compute, hvs, images, volumes, networks, image, net, ctx, _dir: dir }
}

pub async fn env(hosts: usize) -> Env {
    env_with(hosts, HostResources { vcpus: 8, memory_mb: 16384, disk_gb: 200 }, |_| {}).await
}

impl Env {
    pub fn api(&self) -> &dyn ComputeApi {
        &*self.compute.service
    }

    pub fn request(&self, name: &str) -> CreateServer {
        CreateServer {
            name: name.into(),
            flavor_ref: "1".into(),
            image_ref: Some(self.image),
            networks: vec![NetworkRequest { network_id: Some(self.net), ..Default::default() }]
                .into(),
            min_count: 1,
            ..Default::default()
        }
    }

    pub async fn create(&self, name: &str) -> Server {
        let s = self.api().create_servers(&self.ctx, self.request(name)).await.unwrap().remove(0);
        self.wait_settled(s.id).await
    }

    /// Waits until the server has no task and is not building (or is gone).
    pub async fn wait_settled(&self, id: ServerId) -> Server {
        for _ in 0..2000 {
            match self.compute.service.db().server(id).await {
                Ok(s) if s.value.task_state.is_none() && s.value.vm_state != VmState::Building => {
                    return s.value;
                }
                Ok(_) => {}
                Err(e) => panic!("server {id} vanished: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("server {id} did not settle");
    }

    pub async fn wait_gone(&self, id: ServerId) {
        for _ in 0..2000 {
            if matches!(
                self.compute.service.db().server(id).await,
                Err(ComputeError::NotFound { .. })
            ) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("server {id} was not deleted");
    }

    pub async fn claims(&self) -> u64 {
        self.compute.deps.placement.hosts().await.unwrap().iter().map(|h| h.instances).sum()
    }

    pub fn domains(&self) -> usize {
        self.hvs.iter().map(|h| h.domain_count()).sum()
    }
}
