// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-kvm: KVM/QEMU through libvirt
//!
//! A `Hypervisor` (from `ferrostack-compute`) that renders a typed libvirt domain description
//! and drives QEMU (`virt_type` kvm or qemu) through libvirt.
//!
//! **Status:** not built yet (tracked by the hypervisor-drivers issue).
