// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-lvm: LVM volumes
//!
//! A `VolumeBackend` (from `ferrostack-volume`) over LVM logical volumes (thick and thin),
//! driven through `lvm` subcommands with JSON reports, exported over iSCSI with tgt.
//!
//! **Status:** not built yet.
