// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-amqp: the Bus on RabbitMQ
//!
//! A [`ferrostack_core::bus::Bus`] over AMQP 0-9-1 (RabbitMQ), passing the same conformance suite
//! as the in-process bus.
//!
//! **Status:** not built yet (tracked by the PostgreSQL/RabbitMQ issue).
