// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-identity: Keystone v3
//!
//! Users, projects, domains, groups, roles and role assignments kept in a
//! [`ferrostack_core::store::Store`]; password hashes compatible with Keystone's stored formats;
//! Fernet tokens byte-compatible with Keystone's formatter, validated without a store read;
//! the service catalog; an LDAP identity backend; the Keystone v3 REST API; and the token
//! validation layer that turns `X-Auth-Token` into a [`ferrostack_core::RequestContext`] for
//! every other service's router.
//!
//! **Status:** not built yet (tracked by the identity issue). This crate exists so the shape of
//! the workspace is visible; it exports nothing.
