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
