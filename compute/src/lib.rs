// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-compute: Nova
//!
//! The instance lifecycle (vm_state, task_state, power_state as Nova models them), flavors,
//! keypairs, quotas, server groups; the controller (`ComputeService`) and the per-host manager
//! (`ComputeHost`) that builds instances from ports, volumes and images and talks to the
//! controller over the [`ferrostack_core::bus::Bus`]; the `Hypervisor` trait that the KVM and
//! Xen drivers implement; and the Nova v2.1 REST API.
//!
//! **Status:** not built yet (tracked by the compute issue). This crate exists so the shape of
//! the workspace is visible; it exports nothing.
