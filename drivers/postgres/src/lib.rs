// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-postgres: the Store on PostgreSQL
//!
//! A [`ferrostack_core::store::Store`] for multi-host deployments, passing the same conformance
//! suite as the embedded stores.
//!
//! **Status:** not built yet (tracked by the PostgreSQL/RabbitMQ issue).
