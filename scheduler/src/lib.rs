// SPDX-License-Identifier: Apache-2.0
//! # ferrostack-scheduler: Nova's filter scheduler
//!
//! Chooses compute hosts for instances exactly as Nova 34's filter scheduler does, at a
//! tiny fraction of its cost, and claims them atomically so that any number of scheduler
//! workers can run side by side without over-committing a host.
//!
//! ## Design
//!
//! * **Host state built for scanning.** [`HostTable`] keeps the numbers every request reads
//!   (usage, free RAM/disk, counters, ratios) in parallel columns, 181 bytes per host;
//!   names, CPU info and other cold data sit apart. Hosts sharing a set of aggregates share one
//!   [`host::AggregateSet`], so aggregate filters and weight multipliers run once per set.
//!   Instances are indexed by UUID to their host, which answers group and hint questions.
//!   The table is updated incrementally: [`HostTable::upsert_host`] when a host reports,
//!   [`HostTable::set_usage`]/[`HostTable::add_usage`] as claims land.
//! * **Sync plugin traits.** [`HostFilter`] and [`HostWeigher`] are synchronous, object-safe
//!   traits over a borrowed [`host::HostRef`]. Every Nova 34 filter and weigher is here
//!   ([`filters`], [`weighers`]), plus the legacy RamFilter, CoreFilter, DiskFilter and
//!   AvailabilityZoneFilter.
//! * **Nova's decisions, bit for bit.** [`FilterScheduler`] runs the placement-style capacity
//!   pre-filter (allocation ratios, reserved amounts, `max_unit`), then per instance: filters
//!   (once-per-request filters only for the first), weighers with Nova's normalisation and
//!   per-aggregate multipliers summed in Nova's order, the chosen host (with
//!   `host_subset_size` and shuffling from an injectable RNG), the claim loop that moves to
//!   the next host on refusal, and consumption on the winner; then alternates. Weight ties
//!   are broken by the previous round's rank, like Python's stable sort, without sorting the
//!   whole list: rounds are compared lexicographically and only the few best hosts are
//!   ordered.
//! * **Parallel rounds with bit-identical results.** With [`SchedulerConfig::threads`] > 1,
//!   host lists of at least [`SchedulerConfig::parallel_threshold`] hosts are cut into one
//!   ascending chunk per thread. Each chunk is filtered, weighed and clamped on its own
//!   thread and reports its normalisation bounds; the bounds are merged in chunk order (the
//!   values one Python `min()`/`max()` scan finds, NaNs included); then each chunk sums its
//!   hosts' normalised weights in weigher order and writes them into its own range of the
//!   round's weight column. The capacity pre-filter and the best-`m` selection are split
//!   the same way. Per host the arithmetic is the serial one, so decisions do not depend on
//!   the thread count. The phases are a few hundred microseconds long, so the workers
//!   (`pool`, the crate's one `unsafe`: a borrowed job handed to threads that finish
//!   with it before the call returns) yield-spin between phases instead of sleeping:
//!   waking a sleeping vCPU cost more than a phase on the machines this was measured on.
//! * **Claims.** [`Claimer`] is the seam: [`LocalClaims`] for one process. Claims shared by
//!   many workers live in one store-backed claim store, compute's `StorePlacement`
//!   (`ferrostack_compute::placement`), where every claim is a compare-and-swap on the
//!   host's record; `tests/no_overcommit.rs` drives several workers through it.
//! * **Legacy schedulers.** [`ChanceScheduler`] and [`SimpleScheduler`].
//!
//! The [`io`] module reads the equivalence harness's `cluster.json`/`requests.jsonl` and
//! writes `decisions.jsonl`; the facade's `schedule` example is a thin wrapper over it.
//!
//! ## Example
//!
//! ```
//! use ferrostack_scheduler::{
//!     FilterScheduler, HostReport, HostTable, LocalClaims, RequestSpec, Scheduler,
//! };
//! use ferrostack_scheduler::types::Flavor;
//!
//! let mut hosts = HostTable::new();
//! for (name, ram) in [("big", 65536), ("small", 16384)] {
//!     hosts.upsert_host(HostReport {
//!         host: name.into(),
//!         uuid: format!("uuid-{name}"),
//!         vcpus: 16,
//!         memory_mb: ram,
//!         local_gb: 500,
//!         ..HostReport::default()
//!     })?;
//! }
//! let spec = RequestSpec {
//!     flavor: Flavor { name: "m1.small".into(), vcpus: 1, memory_mb: 2048, root_gb: 20, ..Flavor::default() },
//!     instance_uuids: vec!["vm-1".into()],
//!     ..RequestSpec::default()
//! };
//! let mut sched = FilterScheduler::nova_default();
//! let sel = sched.select_destinations(&mut hosts, &spec, &mut LocalClaims::default())?;
//! // The RAM weigher spreads: the host with more free RAM wins; the other is the alternate.
//! assert_eq!(sel[0].host, "big");
//! assert_eq!(sel[0].alternates, vec!["small".to_string()]);
//! assert_eq!(hosts.usage(0).memory_mb, 2048);
//! # Ok::<(), ferrostack_scheduler::SchedulerError>(())
//! ```

pub mod error;
pub mod filters;
pub mod host;
pub mod io;
pub mod ops;
mod pool;
pub mod scheduler;
pub mod testing;
pub mod types;
pub mod weighers;

pub use error::SchedulerError;
pub use filters::{FilterContext, HostFilter};
pub use host::{HostReport, HostTable};
pub use scheduler::{
    ChanceScheduler, Claimer, FilterScheduler, LocalClaims, Scheduler, SchedulerConfig,
    SimpleScheduler, release_selection,
};
pub use types::{RequestSpec, Resources, Selection};
pub use weighers::HostWeigher;
