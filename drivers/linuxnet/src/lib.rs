// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-linuxnet: the Linux data plane
#![allow(missing_docs)]
pub mod config;
pub mod dhcp;
mod driver;
pub mod error;
pub mod iptables;
pub mod l3;
mod names;
mod netlink;
pub mod nft;
pub mod reconcile;
pub use dhcp::{hosts_file, opts_file, server_address};
pub use l3::nat_table;
pub use reconcile::{DesiredState, ReconcileReport};

pub use config::{LinuxNetConfig, PortKind};
pub use driver::LinuxNet;
pub use error::LinuxNetError;
