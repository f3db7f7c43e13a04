// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-objectstore: Swift
//!
//! Swift's object storage as a library. Built so far:
//!
//! | module | what it gives |
//! |---|---|
//! | [`ring`] | the consistent-hash ring: [`ring::Ring`] (immutable lookups, identical to Swift's), [`ring::RingBuilder`] (rebalance), Swift's `.ring.gz` formats v1 and v2 |
//!
//! Storage servers, the proxy and the replicator come later.
//!
//! ## Features
//!
//! | feature | what it adds |
//! |---|---|
//! | `cli` | `ring::cli`: the `ring` command-line tool (clap, indicatif) behind `examples/ring.rs` |
//!
//! ## Design
//!
//! The ring is split like Swift's: a mutable builder computes a partition → device table
//! offline, and an immutable [`ring::Ring`] serves O(1) lookups from it on every request.
//! Ring files are interchangeable with Swift's in both directions, so a Swift cluster's rings
//! can be served by Ferrostack and the other way round.
//!
//! ```
//! use ferrostack_objectstore::ring::{NewDevice, PathHasher, RingBuilder};
//!
//! let mut b = RingBuilder::new(8, 3.0, 1)?;
//! for zone in 1..=4 {
//!     b.add_dev(NewDevice::new(1, zone, &format!("10.0.0.{zone}"), 6200, "sdb", 100.0))?;
//! }
//! b.rebalance()?;
//! let ring = b.ring(PathHasher::swift("prefix", "suffix"));
//! let (part, nodes) = ring.get_nodes("AUTH_test", Some("photos"), Some("cat.jpg"))?;
//! assert_eq!(nodes.len(), 3);
//! assert!(part < 256);
//! # Ok::<(), ferrostack_objectstore::ObjectStoreError>(())
//! ```

pub mod error;
pub mod ring;

pub use error::{ObjectStoreError, Result};
