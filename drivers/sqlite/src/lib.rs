// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-sqlite: placeholder
