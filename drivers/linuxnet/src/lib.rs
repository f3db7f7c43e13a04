// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-linuxnet: the Linux data plane
//!
//! Linux bridges (VLAN filtering, VXLAN), nftables security groups, one network namespace per
//! router with NAT, and dnsmasq DHCP, implementing the backend traits of `ferrostack-network`.
//!
//! **Status:** not built yet (tracked by the Linux data plane issue).
