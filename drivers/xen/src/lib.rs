// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-xen: Xen through libvirt's libxl driver and `xl`
//!
//! A `Hypervisor` (from `ferrostack-compute`) for Xen PV, PVH and HVM guests, sharing the domain
//! model with the KVM driver.
//!
//! **Status:** not built yet (tracked by the hypervisor-drivers issue).
