// SPDX-License-Identifier: Apache-2.0
//! DHCP (placeholder while the driver is assembled).

/// A running DHCP server.
#[derive(Debug)]
pub(crate) struct Server;
