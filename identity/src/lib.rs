// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-identity: Keystone v3
//!
//! (crate documentation is written at the end of this file's module list)

pub mod error;
pub mod fernet;
pub mod msgpack;
pub mod password;
pub mod token;
pub mod types;

pub use error::IdentityError;
