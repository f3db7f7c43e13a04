// SPDX-License-Identifier: Apache-2.0
//! The compute conformance suite against libvirt's in-process test driver.

use ferrostack_compute::hypervisor::Hypervisor;
use ferrostack_kvm::{KvmDriver, VirtType};

/// `test:///default` is one shared state per process and libtest runs tests as threads:
/// each test names its domains with its own prefix so `list` sees only its own.
fn driver(test: &str, vt: VirtType, dir: &std::path::Path) -> KvmDriver {
    let prefix = format!("instance-{test}-");
    KvmDriver::new("test:///default", vt, dir).configure(|c| c.name_prefix = prefix)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvm_driver_passes_the_conformance_suite_on_the_test_driver() {
    let dir = tempfile::tempdir().unwrap();
    for vt in [VirtType::Kvm, VirtType::Qemu] {
        let kvm = driver("conformance", vt, dir.path()).build();
        ferrostack_compute::conformance::run_all(&kvm).await;
        assert!(kvm.list().await.unwrap().is_empty(), "the suite cleans up");
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no instance directory left");
}

/// A qcow2 overlay on the cached image at spawn, and a snapshot of it through `qemu-img` with
/// explicit formats (on the test driver: the disk work is real, the guest is not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spawn_makes_an_overlay_and_snapshot_copies_it() {
    let have = std::process::Command::new("qemu-img").arg("--version").output().is_ok();
    if !ferrostack_core::testing::prerequisite(
        have,
        "spawn_makes_an_overlay_and_snapshot_copies_it",
        "qemu-img",
        "apt-get install qemu-utils",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.qcow2");
    let st = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&base)
        .arg("16M")
        .status()
        .unwrap();
    assert!(st.success());
    let kvm =
        KvmDriver::new("test:///default", VirtType::Qemu, dir.path().join("instances")).build();
    let mut spec = ferrostack_compute::conformance::minimal_spec("overlay");
    spec.flavor.disk_gb = 1;
    spec.image = Some(ferrostack_compute::hypervisor::CachedImage {
        image_id: ferrostack_core::id::ImageId::new(),
        path: base.clone(),
        disk_format: "qcow2".into(),
        size: 16 << 20,
    });
    kvm.spawn(&spec).await.expect("spawn");
    let disk = dir.path().join("instances").join(spec.id.to_string()).join("disk");
    let info = std::process::Command::new("qemu-img")
        .args(["info", "-U", "--output=json", "-f", "qcow2"])
        .arg(&disk)
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["backing-filename"], base.display().to_string(), "an overlay on the base");
    assert_eq!(info["backing-filename-format"], "qcow2");
    assert_eq!(info["virtual-size"], 1u64 << 30, "grown to the flavor's root disk");

    let dest = dir.path().join("snap.qcow2");
    let snaps = kvm.snapshots().expect("snapshots");
    assert_eq!(snaps.snapshot(spec.id, &dest).await.expect("snapshot"), "qcow2");
    assert!(dest.exists());
    assert_eq!(
        kvm.info(spec.id).await.unwrap().power_state,
        ferrostack_compute::types::PowerState::Running,
        "a snapshot keeps the power state"
    );
    kvm.destroy(spec.id).await.unwrap();
    assert!(!disk.exists(), "destroy removes the local disk");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_sink_once_per_change() {
    use ferrostack_compute::hypervisor::{ChannelSink, LifecycleEvent};
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let kvm = driver("events", VirtType::Qemu, dir.path())
        .event_sink(std::sync::Arc::new(ChannelSink(tx)))
        .build();
    let spec = ferrostack_compute::conformance::minimal_spec("events");
    let id = spec.id;
    kvm.spawn(&spec).await.unwrap();
    kvm.power_off(id).await.unwrap();
    kvm.power_off(id).await.unwrap();
    kvm.power_on(id).await.unwrap();
    kvm.destroy(id).await.unwrap();
    let mut got = Vec::new();
    while let Ok((eid, ev)) = rx.try_recv() {
        if eid == id {
            got.push(ev);
        }
    }
    use LifecycleEvent::*;
    assert_eq!(got, vec![Started, Stopped, Started, Stopped]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_spawns_of_one_id_create_one_domain() {
    let dir = tempfile::tempdir().unwrap();
    let kvm = driver("race", VirtType::Qemu, dir.path()).build();
    let spec = ferrostack_compute::conformance::minimal_spec("race");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (kvm, spec) = (kvm.clone(), spec.clone());
            tokio::spawn(async move { kvm.spawn(&spec).await })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert_eq!(
                ferrostack_core::error::Classify::kind(&e),
                ferrostack_core::error::ErrorKind::AlreadyExists
            ),
        }
    }
    assert_eq!(ok, 1, "exactly one spawn wins");
    assert_eq!(kvm.list().await.unwrap().len(), 1);
    kvm.destroy(spec.id).await.unwrap();
}

/// A change the driver did not make (here: a pause through the raw connection) reaches the
/// sink through libvirt's lifecycle events, with the state poller turned off.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libvirt_lifecycle_events_reach_the_sink_without_polling() {
    use ferrostack_compute::hypervisor::{ChannelSink, LifecycleEvent};
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let kvm = driver("libvirt-events", VirtType::Qemu, dir.path())
        .poll_interval(std::time::Duration::ZERO)
        .event_sink(std::sync::Arc::new(ChannelSink(tx)))
        .build();
    let spec = ferrostack_compute::conformance::minimal_spec("libvirt-events");
    let id = spec.id;
    kvm.spawn(&spec).await.unwrap();
    assert_eq!(rx.recv().await, Some((id, LifecycleEvent::Started)));
    let name = format!("instance-libvirt-events-{id}");
    kvm.connection()
        .call(move |c| {
            let d = virt_domain_lookup(c, &name);
            d.suspend()
                .map(|_| ())
                .map_err(|e| ferrostack_libvirt::LibvirtError::from_virt("pause", e))
        })
        .await
        .unwrap();
    let ev = tokio::time::timeout(std::time::Duration::from_secs(30), rx.recv()).await;
    assert_eq!(ev.expect("an event within the deadline"), Some((id, LifecycleEvent::Paused)));
    kvm.destroy(id).await.unwrap();
}

fn virt_domain_lookup(c: &virt::connect::Connect, name: &str) -> virt::domain::Domain {
    virt::domain::Domain::lookup_by_name(c, name).expect("lookup")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_report_has_cpus_memory_disk_model_and_versions() {
    let dir = tempfile::tempdir().unwrap();
    let kvm = driver("report", VirtType::Qemu, dir.path()).build();
    let r = kvm.host_report().await.expect("report");
    assert!(r.resources.vcpus > 0 && r.resources.memory_mb > 0, "{r:?}");
    assert!(r.resources.disk_gb > 0, "the state dir's file system: {r:?}");
    assert!(!r.cpu_model.is_empty() && !r.hypervisor_version.is_empty(), "{r:?}");
    assert!(r.libvirt_version.starts_with(|c: char| c.is_ascii_digit()), "{r:?}");
    assert_eq!(kvm.resources().await.unwrap(), r.resources);
}
