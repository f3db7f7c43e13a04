// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-network: Neutron
pub mod cidr;
pub mod error;
pub mod policy;
pub mod secgroup;
pub mod types;
