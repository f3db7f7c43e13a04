// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-ovs: Open vSwitch
//!
//! A `NetworkBackend` (from `ferrostack-network`) over Open vSwitch: OVSDB for bridges and
//! ports, OpenFlow for the pipeline.
//!
//! **Status:** not built yet.
