// SPDX-License-Identifier: Apache-2.0
//! The compute conformance suite against libvirt's in-process test driver.

use ferrostack_compute::hypervisor::Hypervisor;
use ferrostack_kvm::{KvmDriver, VirtType};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kvm_driver_passes_the_conformance_suite_on_the_test_driver() {
    let dir = tempfile::tempdir().unwrap();
    for vt in [VirtType::Kvm, VirtType::Qemu] {
        let kvm = KvmDriver::new("test:///default", vt, dir.path()).build();
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
