// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-linuxnet: the Linux data plane
#![allow(missing_docs)]
pub mod config;
mod dhcp;
mod driver;
pub mod error;
mod names;
mod netlink;
pub mod nft;

pub use config::{LinuxNetConfig, PortKind};
pub use driver::LinuxNet;
pub use error::LinuxNetError;
