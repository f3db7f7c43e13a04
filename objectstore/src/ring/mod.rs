// SPDX-License-Identifier: Apache-2.0
//! # The consistent-hash ring
//!
//! Swift's ring, split as Swift splits it:
//!
//! * [`Ring`]: the immutable lookup table (share it as `Arc<Ring>`; swap the `Arc` to reload).
//!   A path's partition is the top `part_power` bits of `md5(prefix + "/" + path + suffix)`;
//!   [`Ring::primaries`] gives its devices and [`Ring::handoffs`] the handoff devices in exactly
//!   the order of Swift's `get_more_nodes`. [`Ring::lookup_batch`] hashes many names at once
//!   (four md5 chains interleaved), and [`HashMode::NativeXxh3`] is a faster, non-Swift hash.
//! * [`RingData`]: the ring file content; reads and writes Swift's `.ring.gz` formats v1 and v2
//!   ([`RingFormat`]), so rings move freely between Swift and Ferrostack.
//! * [`RingBuilder`]: devices, weights, overload, `min_part_hours`, fractional replicas,
//!   partition power increase, and a rebalance that reaches every device's target within one
//!   part-replica with the minimum number of moves (see [`builder`]).
//!
//! ```
//! use ferrostack_objectstore::ring::{NewDevice, PathHasher, RingBuilder, RingData, RingFormat};
//!
//! let mut b = RingBuilder::new(10, 3.0, 1)?;
//! for region in 1..=3 {
//!     for server in 1..=2 {
//!         let ip = format!("10.{region}.0.{server}");
//!         b.add_dev(NewDevice::new(region, 1, &ip, 6200, "sdb", 4000.0))?;
//!     }
//! }
//! let report = b.rebalance()?;
//! assert!(report.balance < 1.0);
//!
//! // Every partition has one replica per region.
//! assert_eq!(b.dispersion()?.distinct_pct[0], 100.0);
//!
//! // Write Swift's file format and read it back.
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("object.ring.gz");
//! b.ring_data().save(&path, RingFormat::V1)?;
//! let ring = ferrostack_objectstore::ring::Ring::load(&path, PathHasher::swift("startcap", "endcap"))?;
//! let part = ring.partition_of_path(b"AUTH_test/c/o");
//! assert_eq!(ring.primaries(part).as_slice().len(), 3);
//! let handoffs: Vec<u32> = ring.handoffs(part).take(2).collect();
//! assert_eq!(handoffs.len(), 2);
//! # Ok::<(), ferrostack_objectstore::ObjectStoreError>(())
//! ```

pub mod builder;
#[cfg(feature = "cli")]
pub mod cli;
mod device;
mod flow;
mod format;
mod lookup;
mod md5x4;
mod plan;

pub use builder::{DispersionReport, PlanReport, Progress, RebalanceReport, RingBuilder};
pub use device::{Device, NewDevice};
pub use format::{LoadLimits, RingData, RingFormat};
pub use lookup::{BatchLookup, Handoffs, HashMode, PathHasher, Primaries, Ring};
