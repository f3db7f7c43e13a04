// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-network: Neutron
//!
//! Networks with segmentation, subnets, ports, IPAM that never double-allocates, routers,
//! floating IPs and security groups; the backend traits (`NetworkBackend`, `Firewall`,
//! `L3Backend`, `DhcpBackend`) that data-plane drivers implement; and the Neutron v2.0 REST API.
//!
//! **Status:** not built yet (tracked by the networking issue). This crate exists so the shape of
//! the workspace is visible; it exports nothing.
