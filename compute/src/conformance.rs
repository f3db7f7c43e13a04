// SPDX-License-Identifier: Apache-2.0
//! The public conformance suite every [`Hypervisor`] implementation must pass (the fake here;
//! the KVM and Xen drivers in their crates). Each function panics with a message naming the
//! broken rule.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let hv = ferrostack_compute::fake::FakeHypervisor::default();
//! ferrostack_compute::conformance::run_all(&hv).await;
//! # });
//! ```

use crate::error::ComputeError;
use crate::hypervisor::{BlockDevice, Hypervisor, InstanceSpec, RebootKind};
use crate::types::{Flavor, PowerState, Vif};
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::{NetworkId, PortId, ServerId, VolumeId};
use std::collections::BTreeMap;

/// A small spec with no image, disks or interfaces; drivers that need a bootable image can
/// fill `image` before spawning.
pub fn minimal_spec(name: &str) -> InstanceSpec {
    InstanceSpec {
        id: ServerId::new(),
        name: name.into(),
        flavor: Flavor::new("c1", "conformance", 64, 1, 0),
        image: None,
        block_devices: Vec::new(),
        vifs: Vec::new(),
        metadata: BTreeMap::new(),
        user_data: None,
        public_keys: BTreeMap::new(),
        availability_zone: None,
        config_drive: None,
    }
}

fn kind(r: Result<impl std::fmt::Debug, ComputeError>) -> Option<ErrorKind> {
    r.err().map(|e| e.kind())
}

/// Spawn, info, list, power off/on, reboot, destroy, and the idempotence rules.
pub async fn lifecycle(hv: &dyn Hypervisor) {
    let spec = minimal_spec("conformance-lifecycle");
    let id = spec.id;
    let info = hv.spawn(&spec).await.expect("spawn must succeed");
    assert_eq!(info.id, id, "spawn reports the spawned id");
    assert_eq!(info.power_state, PowerState::Running, "a spawned instance runs");
    assert_eq!(
        kind(hv.spawn(&spec).await),
        Some(ErrorKind::AlreadyExists),
        "spawning an existing id is AlreadyExists"
    );
    assert!(hv.list().await.expect("list").iter().any(|i| i.id == id), "list shows it");
    hv.power_off(id).await.expect("power_off");
    assert_eq!(hv.info(id).await.expect("info").power_state, PowerState::Shutdown);
    hv.power_off(id).await.expect("power_off of a stopped instance is Ok");
    hv.power_on(id).await.expect("power_on");
    assert_eq!(hv.info(id).await.expect("info").power_state, PowerState::Running);
    hv.power_on(id).await.expect("power_on of a running instance is Ok");
    hv.reboot(id, RebootKind::Soft).await.expect("soft reboot");
    hv.reboot(id, RebootKind::Hard).await.expect("hard reboot");
    assert_eq!(hv.info(id).await.expect("info").power_state, PowerState::Running);
    hv.destroy(id).await.expect("destroy");
    assert_eq!(kind(hv.info(id).await), Some(ErrorKind::NotFound), "info after destroy");
    assert!(!hv.list().await.expect("list").iter().any(|i| i.id == id), "list after destroy");
    hv.destroy(id).await.expect("destroy of an unknown instance is Ok");
    assert_eq!(kind(hv.power_on(ServerId::new()).await), Some(ErrorKind::NotFound));
}

/// Attach and detach of volumes and interfaces, when the driver says it can.
pub async fn attachments(hv: &dyn Hypervisor) {
    let caps = hv.capabilities().clone();
    let spec = minimal_spec("conformance-attach");
    let id = spec.id;
    hv.spawn(&spec).await.expect("spawn");
    let dev = BlockDevice {
        volume_id: VolumeId::new(),
        device: "/dev/vdb".into(),
        driver_volume_type: "file".into(),
        // Real drivers need the path the volume service hands out; the fake ignores it.
        connection: serde_json::json!({"device_path": "/var/lib/ferrostack/conformance/volume.img"}),
        boot_index: None,
    };
    if caps.hot_attach_volume {
        hv.attach_volume(id, &dev).await.expect("attach_volume");
        hv.detach_volume(id, dev.volume_id).await.expect("detach_volume");
        assert!(hv.detach_volume(id, dev.volume_id).await.is_err(), "double detach fails");
    } else {
        assert_eq!(kind(hv.attach_volume(id, &dev).await), Some(ErrorKind::NotSupported));
    }
    let vif = Vif {
        port_id: PortId::new(),
        network_id: NetworkId::new(),
        network_name: "net".into(),
        mac: "fa:16:3e:00:00:01".into(),
        fixed_ips: vec!["10.0.0.5".into()],
        vif_type: "tap".into(),
        details: BTreeMap::new(),
        created_by_compute: true,
    };
    if caps.hot_attach_interface {
        hv.attach_interface(id, &vif).await.expect("attach_interface");
        hv.detach_interface(id, vif.port_id).await.expect("detach_interface");
    }
    if caps.console {
        let console = hv.console().expect("capabilities.console implies console()");
        assert!(!console.console_url(id, "vnc").await.expect("vnc url").is_empty());
    } else {
        assert!(hv.console().is_none(), "console() without the capability");
    }
    if caps.snapshots {
        assert!(hv.snapshots().is_some(), "capabilities.snapshots implies snapshots()");
    }
    assert_eq!(caps.live_migration, hv.live_migration().is_some());
    hv.destroy(id).await.expect("destroy");
}

/// Runs every check.
pub async fn run_all(hv: &dyn Hypervisor) {
    lifecycle(hv).await;
    attachments(hv).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::{FakeHypervisor, FakeOp};

    #[tokio::test]
    async fn fake_hypervisor_passes_the_conformance_suite() {
        let hv = FakeHypervisor::default();
        run_all(&hv).await;
        assert_eq!(hv.domain_count(), 0, "the suite cleans up");
    }

    #[tokio::test]
    async fn injected_failures_fail_exactly_that_many_calls() {
        let hv = FakeHypervisor::default();
        hv.fail_next(FakeOp::Spawn, 1);
        let spec = minimal_spec("x");
        assert_eq!(kind(hv.spawn(&spec).await), Some(ErrorKind::Internal));
        assert_eq!(hv.domain_count(), 0, "a failed spawn leaves nothing");
        hv.spawn(&spec).await.unwrap();
        assert_eq!(hv.domain_count(), 1);
    }

    #[tokio::test]
    async fn events_reach_the_sink() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let hv = FakeHypervisor::default()
            .with_event_sink(std::sync::Arc::new(crate::hypervisor::ChannelSink(tx)));
        let spec = minimal_spec("ev");
        hv.spawn(&spec).await.unwrap();
        hv.power_off(spec.id).await.unwrap();
        assert_eq!(rx.recv().await, Some((spec.id, crate::hypervisor::LifecycleEvent::Started)));
        assert_eq!(rx.recv().await, Some((spec.id, crate::hypervisor::LifecycleEvent::Stopped)));
    }
}
