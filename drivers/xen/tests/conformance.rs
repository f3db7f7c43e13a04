// SPDX-License-Identifier: Apache-2.0
//! The compute conformance suite against libvirt's in-process test driver, for each Xen
//! guest kind.

use ferrostack_compute::hypervisor::Hypervisor;
use ferrostack_xen::{XenDriver, XenGuest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xen_driver_passes_the_conformance_suite_on_the_test_driver() {
    let dir = tempfile::tempdir().unwrap();
    for guest in [XenGuest::Pv, XenGuest::Pvh, XenGuest::Hvm] {
        // libvirt's test driver refuses hotplug on the xen disk bus (libxl does it; the
        // nested Xen run covers a real host), so the suite checks the NotSupported path.
        let xen = XenDriver::new("test:///default", guest, dir.path())
            .configure(|c| c.name_prefix = "instance-xen-conformance-".into())
            .build();
        let mut caps = xen.capabilities().clone();
        caps.hot_attach_volume = false;
        let xen = xen.with_capabilities(caps);
        ferrostack_compute::conformance::run_all(&xen).await;
        assert!(xen.list().await.unwrap().is_empty(), "the suite cleans up ({guest:?})");
    }
}
