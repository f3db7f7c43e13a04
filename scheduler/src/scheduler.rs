// SPDX-License-Identifier: Apache-2.0
//! The schedulers: [`FilterScheduler`] (Nova's), [`ChanceScheduler`] and [`SimpleScheduler`]
//! (legacy), and the [`Claimer`] seam through which every choice is claimed.

use crate::error::SchedulerError;
use crate::filters::{FilterContext, HostFilter, filter_by_name};
use crate::host::HostTable;
use crate::pool::SpinPool;
use crate::types::{RequestSpec, Resources, Selection};
use crate::weighers::{HostWeigher, default_weighers};
use rand::Rng;
use rand::seq::SliceRandom;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};

/// Makes and releases resource claims on hosts (Nova's `claim_resources` against Placement).
///
/// # Contract
/// * `claim` returns `Ok(true)` when `res` is now allocated to `instance_uuid` on `host`,
///   `Ok(false)` when the host cannot take it (capacity, or it lost every retry of a
///   concurrent update); the scheduler then tries the next host. `Err` aborts the request.
/// * Implementations keep `table`'s usage of the host in step with what they know (after a
///   success, and after a refusal when they learned fresher usage), so the next decisions see
///   it.
/// * `release` undoes a successful claim and is idempotent.
pub trait Claimer: fmt::Debug {
    /// Tries to allocate `res` on `host` for `instance_uuid`.
    fn claim(
        &mut self,
        table: &mut HostTable,
        host: usize,
        instance_uuid: &str,
        res: &Resources,
    ) -> Result<bool, SchedulerError>;
    /// Releases the allocation of `instance_uuid` on `host`.
    fn release(
        &mut self,
        table: &mut HostTable,
        host: usize,
        instance_uuid: &str,
        res: &Resources,
    ) -> Result<(), SchedulerError>;
}

/// Claims against the usage kept in the [`HostTable`] itself (one scheduler, one process):
/// Placement's capacity check, then the usage is added.
#[derive(Debug, Default, Clone)]
pub struct LocalClaims {
    /// Claims refused for capacity.
    pub refused: u64,
}

impl Claimer for LocalClaims {
    fn claim(
        &mut self,
        table: &mut HostTable,
        host: usize,
        _: &str,
        res: &Resources,
    ) -> Result<bool, SchedulerError> {
        if !table.fits(host, res) {
            self.refused += 1;
            return Ok(false);
        }
        table.add_usage(host, res, 1);
        Ok(true)
    }
    fn release(
        &mut self,
        table: &mut HostTable,
        host: usize,
        _: &str,
        res: &Resources,
    ) -> Result<(), SchedulerError> {
        table.add_usage(host, res, -1);
        Ok(())
    }
}

/// A scheduler: picks, claims and returns one destination per instance of a request.
///
/// # Contract
/// * On success, returns one [`Selection`] per `spec.instance_uuids` entry, in order; every
///   chosen host was claimed through `claims`, and the instances are recorded in `table`.
/// * On failure (`NoValidHost` or an error), every claim made for the request was released
///   and `table` is as before, except for usage refreshed by the claimer.
/// * Release a selection whose build failed with [`release_selection`].
pub trait Scheduler: Send + fmt::Debug {
    /// Chooses destinations for every instance of `spec`.
    fn select_destinations(
        &mut self,
        table: &mut HostTable,
        spec: &RequestSpec,
        claims: &mut dyn Claimer,
    ) -> Result<Vec<Selection>, SchedulerError>;
}

/// Releases the claim of a selection (for example when the build failed) and forgets the
/// instance.
pub fn release_selection(
    table: &mut HostTable,
    sel: &Selection,
    claims: &mut dyn Claimer,
) -> Result<(), SchedulerError> {
    let Some(host) = table.index_of(&sel.host) else {
        return Ok(());
    };
    claims.release(table, host, &sel.instance_uuid, &sel.claimed)?;
    table.remove_instance(&sel.instance_uuid);
    table.resync(host);
    table.resync_stale();
    Ok(())
}

/// Options of [`FilterScheduler`] (Nova's `[filter_scheduler]` and `[scheduler]` groups).
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// `host_subset_size`: choose randomly among this many best hosts (1: deterministic).
    pub host_subset_size: usize,
    /// `shuffle_best_same_weighed_hosts`.
    pub shuffle_best_same_weighed_hosts: bool,
    /// `max_attempts`: each instance gets `max_attempts − 1` alternates.
    pub max_attempts: usize,
    /// `max_placement_results`: keep only this many capacity candidates, in host order
    /// (0: no limit).
    pub placement_limit: usize,
    /// Threads used to filter and weigh large host lists (1: none).
    pub threads: usize,
    /// Minimum number of hosts before `threads` are used.
    pub parallel_threshold: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            host_subset_size: 1,
            shuffle_best_same_weighed_hosts: false,
            max_attempts: 3,
            placement_limit: 0,
            threads: 1,
            parallel_threshold: 4096,
        }
    }
}

/// Nova's `default` filter list: ComputeFilter, ComputeCapabilitiesFilter,
/// ImagePropertiesFilter, ServerGroupAntiAffinityFilter, ServerGroupAffinityFilter.
pub const DEFAULT_FILTERS: &[&str] = &[
    "ComputeFilter",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
];

/// The `extended` filter list of the equivalence harness.
pub const EXTENDED_FILTERS: &[&str] = &[
    "ComputeFilter",
    "AggregateInstanceExtraSpecsFilter",
    "AggregateMultiTenancyIsolation",
    "ComputeCapabilitiesFilter",
    "ImagePropertiesFilter",
    "NumInstancesFilter",
    "IoOpsFilter",
    "SameHostFilter",
    "DifferentHostFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
    "PciPassthroughFilter",
];

/// Builds filters from Nova class names.
pub fn filters_by_name(names: &[&str]) -> Result<Vec<Box<dyn HostFilter>>, SchedulerError> {
    names
        .iter()
        .map(|n| {
            filter_by_name(n).ok_or_else(|| SchedulerError::UnknownPlugin {
                what: "filter",
                name: (*n).to_string(),
            })
        })
        .collect()
}

/// The random source of a scheduler (`host_subset_size > 1`, shuffling, ChanceScheduler).
pub type SchedulerRng = Box<dyn rand::RngCore + Send>;

fn default_rng() -> SchedulerRng {
    use rand::SeedableRng;
    Box::new(rand::rngs::StdRng::seed_from_u64(0x5eed))
}

/// One filter-and-weigh round of a request: survivors and their weights, and the host chosen.
#[derive(Debug, Default)]
struct Round {
    hosts: Vec<u32>,
    chosen: u32,
    shuffled: Option<HashMap<u32, u32>>,
    /// Every host with the round's highest weight (`None`: some weight is NaN).
    best: Option<Vec<u32>>,
}

/// Per-request mutable state that filters and weighers see through [`FilterContext`].
#[derive(Debug, Default)]
struct ReqState {
    members_on_host: Vec<u32>,
    placed: Vec<(String, u32)>,
    group_hosts: Vec<u32>,
    group_hosts_nonempty: bool,
}

/// Nova's filter scheduler: placement pre-filter, filters, weighers, claims, multi-create
/// with consumption between instances, alternates.
///
/// The decisions are Nova 34's, bit for bit, for the same hosts in the same order (see the
/// crate docs). The full sorted host list of each round is never materialised: a round's
/// order is "chosen host first, then by weight descending, ties in the previous round's
/// order", so the scheduler keeps every round's weights and compares hosts lexicographically
/// over the rounds, and only the few best hosts are ever ordered.
pub struct FilterScheduler {
    filters: Vec<Box<dyn HostFilter>>,
    weighers: Vec<Box<dyn HostWeigher>>,
    /// Options.
    pub config: SchedulerConfig,
    rng: SchedulerRng,
    // scratch, reused across requests
    weights: Vec<Vec<f64>>,
    mult: Vec<Vec<f64>>,
    mult_generation: Option<(u64, usize)>,
    mult_nonfinite: Vec<bool>,
    mult_uniform: Vec<Option<f64>>,
    chunks: Vec<ChunkOut>,
    /// Host lists of finished requests' rounds, reused (a 10k-host list is 40 KB).
    spare_hosts: Vec<Vec<u32>>,
    workers: Option<Workers>,
}

impl fmt::Debug for FilterScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FilterScheduler")
            .field("filters", &self.filters.iter().map(|x| x.name()).collect::<Vec<_>>())
            .field("weighers", &self.weighers.iter().map(|x| x.name()).collect::<Vec<_>>())
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl FilterScheduler {
    /// A scheduler with these filters and weighers (in order).
    pub fn new(
        filters: Vec<Box<dyn HostFilter>>,
        weighers: Vec<Box<dyn HostWeigher>>,
        config: SchedulerConfig,
    ) -> Self {
        FilterScheduler {
            filters,
            weighers,
            config,
            rng: default_rng(),
            weights: Vec::new(),
            mult: Vec::new(),
            mult_generation: None,
            mult_nonfinite: Vec::new(),
            mult_uniform: Vec::new(),
            chunks: Vec::new(),
            spare_hosts: Vec::new(),
            workers: None,
        }
    }

    /// Nova 34's defaults: [`DEFAULT_FILTERS`] and all thirteen weighers.
    pub fn nova_default() -> Self {
        let filters = filters_by_name(DEFAULT_FILTERS).unwrap_or_default();
        FilterScheduler::new(filters, default_weighers(), SchedulerConfig::default())
    }

    /// Replaces the random source (for `host_subset_size > 1` and shuffling).
    pub fn with_rng(mut self, rng: SchedulerRng) -> Self {
        self.rng = rng;
        self
    }

    /// The filters, in order.
    pub fn filters(&self) -> &[Box<dyn HostFilter>] {
        &self.filters
    }

    fn refresh_multipliers(&mut self, table: &HostTable) {
        let key = (table.aggregate_generation, table.agg_sets.len());
        if self.mult_generation == Some(key) && self.mult.len() == self.weighers.len() {
            return;
        }
        self.mult = self
            .weighers
            .iter()
            .map(|w| table.agg_sets.iter().map(|s| w.weight_multiplier(s)).collect())
            .collect();
        self.mult_nonfinite =
            self.mult.iter().map(|m| m.iter().any(|x: &f64| !x.is_finite())).collect();
        self.mult_uniform = self
            .mult
            .iter()
            .map(|m| match m.first() {
                Some(&x) if x.is_finite() && m.iter().all(|y| y.to_bits() == x.to_bits()) => {
                    Some(x)
                }
                _ => None,
            })
            .collect();
        self.mult_generation = Some(key);
    }

    /// Starts, resizes or stops the worker pool to match [`SchedulerConfig::threads`].
    fn update_workers(&mut self) {
        let threads = self.config.threads;
        match &mut self.workers {
            _ if threads <= 1 => self.workers = None,
            Some(w) if w.threads == threads => w.threshold = self.config.parallel_threshold,
            _ => self.workers = Workers::new(threads, self.config.parallel_threshold),
        }
    }

    /// Whether weigher `wi` needs raw weights this request (the others add ±0, or
    /// `multiplier × 0` when the multiplier is not finite).
    fn needs_raw(&self, wi: usize, ctx: &FilterContext<'_>) -> bool {
        let w = &self.weighers[wi];
        self.mult_uniform[wi] != Some(0.0)
            && !(w.minval().is_none() && w.maxval().is_none() && w.is_constant(ctx))
    }

    /// Filters `input` (ascending host indices) for round `ctx.index` and weighs the
    /// survivors into `wout` (dense by host). Returns the round: the survivors, ascending,
    /// and the hosts that share the highest weight.
    ///
    /// The list is cut into one chunk per thread (one chunk below
    /// [`SchedulerConfig::parallel_threshold`]). Phase 1, per chunk: filters, raw weights,
    /// clamping and the chunk's bounds. Then the bounds are merged in chunk order (the same
    /// values a single pass finds). Phase 2, per chunk: normalised, multiplied weights summed
    /// in weigher order and written to the chunk's own range of `wout`. Both phases run on
    /// the worker pool; the arithmetic per host is the serial one, so the weights are
    /// bit-identical for any number of threads.
    fn filter_and_weigh(
        &mut self,
        table: &HostTable,
        ctx: &FilterContext<'_>,
        input: &[u32],
        wout: &mut [f64],
    ) -> Round {
        let first = ctx.index == 0;
        let active: Vec<&dyn HostFilter> = self
            .filters
            .iter()
            .filter(|f| first || !f.run_filter_once_per_request())
            .filter(|f| !ctx.spec.is_rebuild || f.run_on_rebuild())
            .map(|f| f.as_ref())
            .collect();
        debug_assert!(input.windows(2).all(|w| w[0] < w[1]), "round input must ascend");
        let nw = self.weighers.len();
        let needs: Vec<bool> = (0..nw).map(|wi| self.needs_raw(wi, ctx)).collect();
        let workers = Workers::for_len(self.workers.as_ref(), input.len());
        let threads = workers.map_or(1, |w| w.threads);
        let chunk_len = input.len().div_ceil(threads).max(1);
        // As many chunks as `input.chunks(chunk_len)` yields (it can be fewer than the
        // threads), every one of them refilled below: none may keep a previous round's hosts.
        let parts = input.len().div_ceil(chunk_len);
        let mut chunks = std::mem::take(&mut self.chunks);
        chunks.truncate(parts);
        chunks.resize_with(parts, ChunkOut::default);
        // Phase 1: filters, raw weights, clamping, per-chunk bounds.
        {
            let weighers = &self.weighers;
            let mut slots: Vec<(&mut ChunkOut, &[u32])> =
                chunks.iter_mut().zip(input.chunks(chunk_len)).collect();
            on_workers(workers, &mut slots, |_, (out, part)| {
                out.hosts.clear();
                out.hosts.extend_from_slice(part);
                for f in &active {
                    if out.hosts.is_empty() {
                        break;
                    }
                    f.filter(table, ctx, &mut out.hosts);
                }
                out.raws.resize_with(nw, Vec::new);
                out.bounds.clear();
                out.bounds.resize(nw, RunBounds::default());
                if out.hosts.is_empty() {
                    return;
                }
                for (wi, w) in weighers.iter().enumerate() {
                    if needs[wi] {
                        w.weigh_all(table, ctx, &out.hosts, &mut out.raws[wi]);
                        out.bounds[wi] =
                            clamp_and_bounds(&mut out.raws[wi], w.minval(), w.maxval());
                    }
                }
            });
        }
        let survivors: usize = chunks.iter().map(|c| c.hosts.len()).sum();
        // Nova's normalisation per weigher, from the merged bounds.
        let contributions: Vec<Contribution> = (0..nw)
            .map(|wi| {
                let w = &self.weighers[wi];
                let zero = if self.mult_nonfinite[wi] {
                    Contribution::Zero
                } else {
                    Contribution::Nothing
                };
                if survivors <= 1 || self.mult_uniform[wi] == Some(0.0) {
                    return Contribution::Nothing;
                }
                if !needs[wi] {
                    return zero;
                }
                let (lo, hi) =
                    round_bounds(chunks.iter().map(|c| c.bounds[wi])).unwrap_or((0.0, 0.0));
                let (lo, hi) = (w.minval().unwrap_or(lo), w.maxval().unwrap_or(hi));
                if lo == hi { zero } else { Contribution::Normalised { lo, range: hi - lo } }
            })
            .collect();
        // Phase 2: totals, written to each chunk's own range of `wout`.
        {
            let mult = &self.mult;
            let uniform = &self.mult_uniform;
            let mut slots: Vec<(&mut ChunkOut, &mut [f64], usize)> = Vec::with_capacity(parts);
            let mut rest: &mut [f64] = wout;
            let mut base = 0usize;
            let mut parts_iter = chunks.iter_mut().zip(input.chunks(chunk_len)).peekable();
            while let Some((out, _)) = parts_iter.next() {
                let end = parts_iter.peek().map_or(base + rest.len(), |(_, p)| p[0] as usize);
                let (mine, tail) = std::mem::take(&mut rest).split_at_mut(end - base);
                slots.push((out, mine, base));
                rest = tail;
                base = end;
            }
            on_workers(workers, &mut slots, |_, (out, wslice, base)| {
                out.tot.clear();
                out.tot.resize(out.hosts.len(), 0.0);
                // Block by block, so that a block's totals stay in L1 while every weigher adds
                // to them (per host the sum is still in weigher order).
                const BLOCK: usize = 512;
                for start in (0..out.hosts.len()).step_by(BLOCK) {
                    let end = (start + BLOCK).min(out.hosts.len());
                    let (tot, hosts) = (&mut out.tot[start..end], &out.hosts[start..end]);
                    for (wi, c) in contributions.iter().enumerate() {
                        let m = &mult[wi];
                        match *c {
                            Contribution::Nothing => {}
                            Contribution::Zero => {
                                for (t, &h) in tot.iter_mut().zip(hosts) {
                                    *t += m[table.agg_set[h as usize] as usize] * 0.0;
                                }
                            }
                            Contribution::Normalised { lo, range } => {
                                let raw = &out.raws[wi][start..end];
                                match uniform[wi] {
                                    Some(m) => {
                                        for (t, &r) in tot.iter_mut().zip(raw) {
                                            *t += m * ((r - lo) / range);
                                        }
                                    }
                                    None => {
                                        for ((t, &r), &h) in tot.iter_mut().zip(raw).zip(hosts) {
                                            *t += m[table.agg_set[h as usize] as usize]
                                                * ((r - lo) / range);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                out.best.clear();
                out.nan = false;
                let mut best_w = f64::NEG_INFINITY;
                for (&h, &t) in out.hosts.iter().zip(&out.tot) {
                    wslice[h as usize - *base] = t;
                    if t > best_w {
                        best_w = t;
                        out.best.clear();
                    }
                    if t == best_w {
                        out.best.push(h);
                    }
                    out.nan |= t.is_nan();
                }
            });
        }
        let mut hosts = self.spare_hosts.pop().unwrap_or_default();
        hosts.clear();
        hosts.reserve(survivors);
        for c in &chunks {
            hosts.extend_from_slice(&c.hosts);
        }
        // The hosts sharing the highest total, for the usual `host_subset_size = 1` pick.
        let best = if chunks.iter().any(|c| c.nan) {
            None
        } else {
            let top = chunks
                .iter()
                .filter_map(|c| c.best.first().map(|&h| wout[h as usize]))
                .fold(f64::NEG_INFINITY, f64::max);
            Some(
                chunks
                    .iter()
                    .filter(|c| c.best.first().is_some_and(|&h| wout[h as usize] == top))
                    .flat_map(|c| c.best.iter().copied())
                    .collect(),
            )
        };
        self.chunks = chunks;
        Round { hosts, chosen: 0, shuffled: None, best }
    }

    /// The placement pre-filter: hosts with capacity for `res`, in host order, at most
    /// `limit`, split over the workers for large tables.
    fn capacity_candidates(&self, table: &HostTable, res: &Resources, limit: usize) -> Vec<u32> {
        let n = table.len();
        let workers = Workers::for_len(self.workers.as_ref(), n).filter(|_| limit == usize::MAX);
        let Some(w) = workers else {
            let mut cands: Vec<u32> = Vec::with_capacity(n.min(limit));
            if limit == usize::MAX {
                table.push_fitting(res, 0..n, &mut cands);
                return cands;
            }
            for i in 0..n {
                if table.fits(i, res) {
                    cands.push(i as u32);
                    if cands.len() >= limit {
                        break;
                    }
                }
            }
            return cands;
        };
        let step = n.div_ceil(w.threads);
        let mut slots: Vec<(usize, Vec<u32>)> =
            (0..n).step_by(step).map(|s| (s, Vec::new())).collect();
        on_workers(Some(w), &mut slots, |_, (start, out)| {
            table.push_fitting(res, *start..(*start + step).min(n), out);
        });
        let mut cands = Vec::with_capacity(slots.iter().map(|(_, c)| c.len()).sum());
        for (_, c) in &slots {
            cands.extend_from_slice(c);
        }
        cands
    }
}

/// The worker pool of the parallel path: `threads − 1` spinning workers
/// ([`crate::pool`]); the calling thread takes the first chunk of every phase itself.
#[derive(Debug)]
struct Workers {
    pool: SpinPool,
    threads: usize,
    /// [`SchedulerConfig::parallel_threshold`]: shorter lists stay on the calling thread.
    threshold: usize,
}

impl Workers {
    fn new(threads: usize, threshold: usize) -> Option<Workers> {
        let pool = SpinPool::new(threads - 1)?;
        Some(Workers { pool, threads, threshold })
    }

    /// The workers, if a list of `len` hosts is long enough to split.
    fn for_len(this: Option<&Workers>, len: usize) -> Option<&Workers> {
        this.filter(|w| len >= w.threshold)
    }
}

/// Runs `f(i, &mut slots[i])` for every slot: slot 0 on the calling thread, the others on
/// `workers` (all on the calling thread without workers); returns when all are done.
fn on_workers<T: Send>(
    workers: Option<&Workers>,
    slots: &mut [T],
    f: impl Fn(usize, &mut T) + Sync,
) {
    match workers {
        Some(w) if slots.len() > 1 => {
            let cells: Vec<Mutex<&mut T>> = slots.iter_mut().map(Mutex::new).collect();
            w.pool.run(cells.len(), &|i| {
                let mut slot = cells[i].lock().unwrap_or_else(PoisonError::into_inner);
                f(i, &mut slot);
            });
        }
        _ => {
            for (i, slot) in slots.iter_mut().enumerate() {
                f(i, slot);
            }
        }
    }
}

/// What one chunk of a round's host list produced (scratch, reused across rounds).
#[derive(Debug, Default)]
struct ChunkOut {
    /// The chunk's survivors of the filters, ascending.
    hosts: Vec<u32>,
    /// Clamped raw weights per weigher, aligned with `hosts` (stale for weighers that need
    /// none this round).
    raws: Vec<Vec<f64>>,
    /// Per weigher: the [`bounds`] of the chunk's clamped raw weights.
    bounds: Vec<RunBounds>,
    /// Total weights, aligned with `hosts`.
    tot: Vec<f64>,
    /// The chunk's hosts with the highest total, in order (empty if a total is NaN).
    best: Vec<u32>,
    /// Whether a total is NaN (then the best hosts are found by [`top_m`] instead).
    nan: bool,
}

/// How one weigher adds to a round's totals.
#[derive(Debug, Clone, Copy)]
enum Contribution {
    /// ±0 for every host: skipped.
    Nothing,
    /// `multiplier × 0`, kept because a non-finite multiplier makes it NaN.
    Zero,
    /// `multiplier × (raw − lo) / range`.
    Normalised { lo: f64, range: f64 },
}

/// Nova's clamp to `[minval, maxval]` in place, and the [`bounds`] of the clamped values.
fn clamp_and_bounds(raw: &mut [f64], minval: Option<f64>, maxval: Option<f64>) -> RunBounds {
    if minval.is_some() || maxval.is_some() {
        for r in raw.iter_mut() {
            // Python max(weight, minval) / min(weight, maxval): keep the weight unless the
            // bound is strictly beyond it.
            if let Some(mn) = minval
                && mn > *r
            {
                *r = mn;
            }
            if let Some(mx) = maxval
                && mx < *r
            {
                *r = mx;
            }
        }
    }
    bounds(raw)
}

/// What Python's `min()`/`max()` need to know of a run of raw weights: the lowest and
/// highest value that is not NaN (`None`: there is none), and whether the run starts with
/// a NaN. `min()` keeps its first value unless a later one is strictly smaller, so a leading
/// NaN sticks and later NaNs are skipped: the bounds of consecutive runs are therefore the
/// first run's `(NaN, NaN)` if it starts with NaN, else the merge of the non-NaN bounds
/// (see [`round_bounds`]), whichever way the list was cut.
///
/// Without NaNs the scan runs in four independent lanes whose results are then merged:
/// the same values (only the sign of an equal zero may differ, which no later step can
/// observe: it is subtracted from raw weights and added to totals that start at +0), in a
/// quarter of the dependent comparisons.
fn bounds(raw: &[f64]) -> RunBounds {
    let Some(&first) = raw.first() else {
        return RunBounds { finite: None, leading_nan: false };
    };
    if raw.iter().fold(false, |nan, r| nan | r.is_nan()) {
        let finite = raw.iter().filter(|r| !r.is_nan()).map(|&r| (r, r));
        let mut finite = finite.peekable();
        let finite = finite.peek().is_some().then(|| merge_bounds(finite));
        return RunBounds { finite, leading_nan: first.is_nan() };
    }
    let (mut lo, mut hi) = ([first; 4], [first; 4]);
    let mut quads = raw.chunks_exact(4);
    for q in &mut quads {
        for k in 0..4 {
            lo[k] = if q[k] < lo[k] { q[k] } else { lo[k] };
            hi[k] = if q[k] > hi[k] { q[k] } else { hi[k] };
        }
    }
    let tail = quads.remainder().iter().map(|&r| (r, r));
    RunBounds { finite: Some(merge_bounds(lo.into_iter().zip(hi).chain(tail))), leading_nan: false }
}

/// See [`bounds`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct RunBounds {
    finite: Option<(f64, f64)>,
    leading_nan: bool,
}

/// The bounds of a whole round from its runs in order (`None`: no values).
fn round_bounds(runs: impl Iterator<Item = RunBounds>) -> Option<(f64, f64)> {
    let mut runs = runs.filter(|r| r.finite.is_some() || r.leading_nan).peekable();
    if runs.peek()?.leading_nan {
        return Some((f64::NAN, f64::NAN));
    }
    Some(merge_bounds(runs.filter_map(|r| r.finite)))
}

/// Folds (lowest, highest) pairs the way one strict left-to-right scan would.
fn merge_bounds(mut it: impl Iterator<Item = (f64, f64)>) -> (f64, f64) {
    let Some((mut lo, mut hi)) = it.next() else {
        return (0.0, 0.0);
    };
    for (l, h) in it {
        if l < lo {
            lo = l;
        }
        if h > hi {
            hi = h;
        }
    }
    (lo, hi)
}

/// Round order: whether host `a` comes before host `b` in round `r`'s weight-sorted list
/// (before the chosen host is moved to the front).
fn before(rounds: &[Round], weights: &[Vec<f64>], r: usize, a: u32, b: u32) -> bool {
    let mut r = r;
    loop {
        let (wa, wb) = (weights[r][a as usize], weights[r][b as usize]);
        if wa > wb {
            return true;
        }
        if wa < wb {
            return false;
        }
        if let Some(sh) = &rounds[r].shuffled
            && let (Some(pa), Some(pb)) = (sh.get(&a), sh.get(&b))
        {
            return pa < pb;
        }
        if r == 0 {
            return a < b;
        }
        r -= 1;
        let c = rounds[r].chosen;
        if a == c {
            return true;
        }
        if b == c {
            return false;
        }
    }
}

/// The first `m` hosts of round `r` in sorted order, skipping `skip`. Large rounds are
/// split over `workers`: the best `m` of each chunk, then the best `m` of those (the order
/// is total, so this is the same answer).
fn top_m(
    workers: Option<&Workers>,
    rounds: &[Round],
    weights: &[Vec<f64>],
    r: usize,
    m: usize,
    skip: Option<u32>,
) -> Vec<u32> {
    let hosts = &rounds[r].hosts;
    let Some(w) =
        Workers::for_len(workers, hosts.len()).filter(|w| m > 0 && hosts.len() > 4 * m * w.threads)
    else {
        return top_m_of(rounds, weights, r, m, skip, hosts.iter().copied());
    };
    let mut slots: Vec<(&[u32], Vec<u32>)> =
        hosts.chunks(hosts.len().div_ceil(w.threads)).map(|c| (c, Vec::new())).collect();
    on_workers(Some(w), &mut slots, |_, (part, best)| {
        *best = top_m_of(rounds, weights, r, m, skip, part.iter().copied());
    });
    top_m_of(rounds, weights, r, m, skip, slots.iter().flat_map(|(_, b)| b.iter().copied()))
}

/// The first `m` of `hosts` in round `r`'s order, skipping `skip`.
fn top_m_of(
    rounds: &[Round],
    weights: &[Vec<f64>],
    r: usize,
    m: usize,
    skip: Option<u32>,
    hosts: impl Iterator<Item = u32>,
) -> Vec<u32> {
    let mut buf: Vec<u32> = Vec::with_capacity(m + 1);
    if m == 0 {
        return buf;
    }
    for h in hosts {
        if Some(h) == skip {
            continue;
        }
        if buf.len() == m {
            let last = buf[m - 1];
            let (wh, wl) = (weights[r][h as usize], weights[r][last as usize]);
            if wh < wl || (wh == wl && !before(rounds, weights, r, h, last)) {
                continue;
            }
            buf.pop();
        }
        let mut pos = buf.len();
        while pos > 0 && before(rounds, weights, r, h, buf[pos - 1]) {
            pos -= 1;
        }
        buf.insert(pos, h);
    }
    buf
}

/// Round `r`'s full order: the chosen host, then the rest sorted.
fn full_order(rounds: &[Round], weights: &[Vec<f64>], r: usize) -> Vec<u32> {
    let chosen = rounds[r].chosen;
    let mut rest: Vec<u32> = rounds[r].hosts.iter().copied().filter(|&h| h != chosen).collect();
    rest.sort_by(|&a, &b| {
        if before(rounds, weights, r, a, b) {
            std::cmp::Ordering::Less
        } else if before(rounds, weights, r, b, a) {
            std::cmp::Ordering::Greater
        } else {
            std::cmp::Ordering::Equal
        }
    });
    let mut out = Vec::with_capacity(rest.len() + 1);
    out.push(chosen);
    out.extend(rest);
    out
}

impl FilterScheduler {
    /// Picks round `r`'s chosen host (Nova's `_get_sorted_hosts` tail: optional shuffle of the
    /// best equally weighed hosts, then a random pick among the best `host_subset_size`).
    fn choose(&mut self, rounds: &mut [Round], r: usize) {
        if self.config.shuffle_best_same_weighed_hosts && rounds[r].hosts.len() > 1 {
            let top = top_m(self.workers.as_ref(), rounds, &self.weights, r, 1, None)[0];
            let tw = self.weights[r][top as usize];
            let mut best: Vec<u32> = rounds[r]
                .hosts
                .iter()
                .copied()
                .filter(|&h| self.weights[r][h as usize] == tw)
                .collect();
            best.shuffle(&mut self.rng);
            rounds[r].shuffled =
                Some(best.iter().enumerate().map(|(i, &h)| (h, i as u32)).collect());
        }
        let subset = self.config.host_subset_size.max(1);
        if subset == 1
            && rounds[r].shuffled.is_none()
            && let Some(best) = &rounds[r].best
            && let Some(&first) = best.first()
        {
            // Every host with the highest weight is here: the first in round order wins.
            let w = &self.weights;
            rounds[r].chosen = best[1..]
                .iter()
                .fold(first, |b, &h| if before(rounds, w, r, h, b) { h } else { b });
            return;
        }
        let cands = top_m(self.workers.as_ref(), rounds, &self.weights, r, subset, None);
        rounds[r].chosen =
            if cands.len() == 1 { cands[0] } else { cands[self.rng.random_range(0..cands.len())] };
    }

    fn run(
        &mut self,
        table: &mut HostTable,
        spec: &RequestSpec,
        claims: &mut dyn Claimer,
        touched: &mut Vec<u32>,
        claimed: &mut Vec<(u32, Resources)>,
    ) -> Result<Vec<Selection>, SchedulerError> {
        let k = spec.instance_uuids.len();
        let res = spec.resources();
        let n = table.len();
        self.refresh_multipliers(table);
        // Placement pre-filter: capacity candidates in host order.
        let limit =
            if self.config.placement_limit == 0 { usize::MAX } else { self.config.placement_limit };
        let ignore: Vec<usize> =
            spec.ignore_hosts.iter().filter_map(|h| table.index_of(h)).collect();
        self.update_workers();
        let mut cands = self.capacity_candidates(table, &res, limit);
        if !ignore.is_empty() {
            cands.retain(|&i| !ignore.contains(&(i as usize)));
        }
        if cands.is_empty() {
            return Err(SchedulerError::NoValidHost { reason: "no host has capacity".into() });
        }
        // Group state.
        let mut st = ReqState::default();
        if let Some(g) = &spec.group {
            st.members_on_host = vec![0; n];
            for m in &g.members {
                if let Some(h) = table.instance_host(m) {
                    st.members_on_host[h] += 1;
                }
            }
            st.group_hosts =
                g.hosts.iter().filter_map(|h| table.index_of(h)).map(|h| h as u32).collect();
            st.group_hosts_nonempty = !g.hosts.is_empty();
        }
        let rounds_needed = k + usize::from(k > 1);
        while self.weights.len() < rounds_needed {
            self.weights.push(Vec::new());
        }
        for w in self.weights.iter_mut().take(rounds_needed) {
            if w.len() < n {
                w.resize(n, 0.0);
            }
        }
        let mut rounds: Vec<Round> = Vec::with_capacity(rounds_needed);
        let num_alts = self.config.max_attempts.saturating_sub(1);
        let mut chosen_hosts: Vec<u32> = Vec::with_capacity(k);
        for (i, iu) in spec.instance_uuids.iter().enumerate() {
            let round = {
                let ctx = FilterContext {
                    spec,
                    index: i,
                    instance_uuid: iu,
                    members_on_host: &st.members_on_host,
                    placed: &st.placed,
                    group_hosts: &st.group_hosts,
                    group_hosts_nonempty: st.group_hosts_nonempty,
                };
                let mut w = std::mem::take(&mut self.weights[i]);
                let input = if i == 0 { &cands } else { &rounds[i - 1].hosts };
                let s = self.filter_and_weigh(table, &ctx, input, &mut w);
                self.weights[i] = w;
                s
            };
            if round.hosts.is_empty() {
                return Err(SchedulerError::NoValidHost {
                    reason: format!("no host passed the filters for instance {}", i + 1),
                });
            }
            rounds.push(round);
            self.choose(&mut rounds, i);
            // Claim loop: the chosen host first, then the sorted list.
            let chosen = rounds[i].chosen;
            let mut got = None;
            if claims.claim(table, chosen as usize, iu, &res)? {
                got = Some(chosen);
            } else {
                let m = (k + num_alts + 4).min(rounds[i].hosts.len());
                let prefix =
                    top_m(self.workers.as_ref(), &rounds, &self.weights, i, m, Some(chosen));
                for &h in &prefix {
                    if claims.claim(table, h as usize, iu, &res)? {
                        got = Some(h);
                        break;
                    }
                }
                if got.is_none() && prefix.len() + 1 < rounds[i].hosts.len() {
                    let full = full_order(&rounds, &self.weights, i);
                    for &h in &full[prefix.len() + 1..] {
                        if claims.claim(table, h as usize, iu, &res)? {
                            got = Some(h);
                            break;
                        }
                    }
                }
            }
            let Some(h) = got else {
                return Err(SchedulerError::NoValidHost {
                    reason: format!("no host could be claimed for instance {}", i + 1),
                });
            };
            claimed.push((h, res));
            touched.push(h);
            chosen_hosts.push(h);
            table.consume(h as usize, &spec.flavor);
            if let Some(g) = &spec.group {
                st.placed.push((iu.clone(), h));
                st.group_hosts.push(h);
                st.group_hosts_nonempty = true;
                if g.members.contains(iu) {
                    st.members_on_host[h as usize] += 1;
                }
            }
        }
        // Alternates.
        let mut alt_round = k - 1;
        if k > 1 && num_alts > 0 {
            let ctx = FilterContext {
                spec,
                index: k - 1,
                instance_uuid: &spec.instance_uuids[k - 1],
                members_on_host: &st.members_on_host,
                placed: &st.placed,
                group_hosts: &st.group_hosts,
                group_hosts_nonempty: st.group_hosts_nonempty,
            };
            let mut w = std::mem::take(&mut self.weights[k]);
            let input = &rounds[k - 1].hosts;
            let round = self.filter_and_weigh(table, &ctx, input, &mut w);
            self.weights[k] = w;
            rounds.push(round);
            alt_round = k;
            if !rounds[k].hosts.is_empty() {
                self.choose(&mut rounds, k);
            }
        }
        let mut alt_order: Vec<u32> = Vec::new();
        if num_alts > 0 && !rounds[alt_round].hosts.is_empty() {
            let m = (k + num_alts).min(rounds[alt_round].hosts.len());
            let chosen = rounds[alt_round].chosen;
            alt_order.push(chosen);
            alt_order.extend(top_m(
                self.workers.as_ref(),
                &rounds,
                &self.weights,
                alt_round,
                m,
                Some(chosen),
            ));
        }
        let mut out = Vec::with_capacity(k);
        for (i, &h) in chosen_hosts.iter().enumerate() {
            let cell = table.cell[h as usize];
            let mut alts = Vec::new();
            let pick = |order: &[u32], alts: &mut Vec<String>| {
                for &a in order {
                    if alts.len() >= num_alts {
                        break;
                    }
                    if table.cell[a as usize] == cell && !chosen_hosts.contains(&a) {
                        alts.push(table.info[a as usize].report.host.clone());
                    }
                }
            };
            pick(&alt_order, &mut alts);
            if alts.len() < num_alts && alt_order.len() < rounds[alt_round].hosts.len() {
                alts.clear();
                let full = full_order(&rounds, &self.weights, alt_round);
                pick(&full, &mut alts);
            }
            let r = &table.info[h as usize].report;
            out.push(Selection {
                instance_uuid: spec.instance_uuids[i].clone(),
                host: r.host.clone(),
                node_uuid: r.uuid.clone(),
                cell_uuid: r.cell_uuid.clone(),
                claimed: res,
                alternates: alts,
            });
        }
        for r in rounds {
            if self.spare_hosts.len() < 8 {
                self.spare_hosts.push(r.hosts);
            }
        }
        Ok(out)
    }
}

impl Scheduler for FilterScheduler {
    fn select_destinations(
        &mut self,
        table: &mut HostTable,
        spec: &RequestSpec,
        claims: &mut dyn Claimer,
    ) -> Result<Vec<Selection>, SchedulerError> {
        if spec.instance_uuids.is_empty() {
            return Err(SchedulerError::InvalidInput("request has no instances".into()));
        }
        let mut touched = Vec::new();
        let mut claimed = Vec::new();
        let result = self.run(table, spec, claims, &mut touched, &mut claimed);
        finish(table, spec, claims, result, &touched, &claimed)
    }
}

/// Records the instances of a successful request, or releases its claims; then resyncs the
/// touched hosts' view from their usage.
fn finish(
    table: &mut HostTable,
    spec: &RequestSpec,
    claims: &mut dyn Claimer,
    result: Result<Vec<Selection>, SchedulerError>,
    touched: &[u32],
    claimed: &[(u32, Resources)],
) -> Result<Vec<Selection>, SchedulerError> {
    let result = match result {
        Ok(sels) => {
            for s in &sels {
                if let Some(h) = table.index_of(&s.host) {
                    table.add_instance(&s.instance_uuid, h);
                }
            }
            Ok(sels)
        }
        Err(e) => {
            let mut first_err = None;
            for (i, (h, r)) in claimed.iter().enumerate() {
                if let Err(e2) = claims.release(table, *h as usize, &spec.instance_uuids[i], r) {
                    first_err.get_or_insert(e2);
                }
            }
            Err(first_err.unwrap_or(e))
        }
    };
    for &h in touched {
        table.resync(h as usize);
    }
    table.resync_stale();
    result
}

/// The legacy ChanceScheduler (deprecated in Pike): per instance, a random host whose service
/// is up and enabled, not in `ignore_hosts`. It checks no resources itself, but its choices
/// are claimed like every other scheduler's, so a host that cannot take the instance is
/// dropped and another drawn.
pub struct ChanceScheduler {
    rng: SchedulerRng,
}

impl fmt::Debug for ChanceScheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChanceScheduler").finish_non_exhaustive()
    }
}

impl ChanceScheduler {
    /// With this random source.
    pub fn new(rng: SchedulerRng) -> Self {
        ChanceScheduler { rng }
    }
}

impl Default for ChanceScheduler {
    fn default() -> Self {
        ChanceScheduler::new(default_rng())
    }
}

impl Scheduler for ChanceScheduler {
    fn select_destinations(
        &mut self,
        table: &mut HostTable,
        spec: &RequestSpec,
        claims: &mut dyn Claimer,
    ) -> Result<Vec<Selection>, SchedulerError> {
        if spec.instance_uuids.is_empty() {
            return Err(SchedulerError::InvalidInput("request has no instances".into()));
        }
        let res = spec.resources();
        let mut touched = Vec::new();
        let mut claimed = Vec::new();
        let mut run = || -> Result<Vec<Selection>, SchedulerError> {
            let mut out = Vec::new();
            for iu in &spec.instance_uuids {
                let mut hosts: Vec<u32> = (0..table.len() as u32)
                    .filter(|&h| {
                        table.flags[h as usize] == 0
                            && !spec
                                .ignore_hosts
                                .iter()
                                .any(|x| *x == table.info[h as usize].report.host)
                    })
                    .collect();
                let mut got = None;
                while !hosts.is_empty() {
                    let pick = self.rng.random_range(0..hosts.len());
                    let h = hosts[pick];
                    if claims.claim(table, h as usize, iu, &res)? {
                        got = Some(h);
                        break;
                    }
                    hosts.swap_remove(pick);
                }
                let Some(h) = got else {
                    return Err(SchedulerError::NoValidHost {
                        reason: "no host could be claimed".into(),
                    });
                };
                claimed.push((h, res));
                touched.push(h);
                table.consume(h as usize, &spec.flavor);
                let r = &table.info[h as usize].report;
                out.push(Selection {
                    instance_uuid: iu.clone(),
                    host: r.host.clone(),
                    node_uuid: r.uuid.clone(),
                    cell_uuid: r.cell_uuid.clone(),
                    claimed: res,
                    alternates: Vec::new(),
                });
            }
            Ok(out)
        };
        let result = run();
        finish(table, spec, claims, result, &touched, &claimed)
    }
}

/// The legacy SimpleScheduler (Diablo/Essex): hosts sorted by vCPUs in use, ascending (ties
/// in host order); if the least loaded host cannot take `vcpus` more within `max_cores`,
/// NoValidHost at once; otherwise the first host whose service is up and enabled. Isolated
/// images go only to isolated hosts, and skip the core check when
/// `skip_isolated_core_check`.
#[derive(Debug, Clone)]
pub struct SimpleScheduler {
    /// `max_cores` (16).
    pub max_cores: i64,
    /// `isolated_images`.
    pub isolated_images: Vec<String>,
    /// `isolated_hosts`.
    pub isolated_hosts: Vec<String>,
    /// `skip_isolated_core_check` (true).
    pub skip_isolated_core_check: bool,
}

impl Default for SimpleScheduler {
    fn default() -> Self {
        SimpleScheduler {
            max_cores: 16,
            isolated_images: Vec::new(),
            isolated_hosts: Vec::new(),
            skip_isolated_core_check: true,
        }
    }
}

impl Scheduler for SimpleScheduler {
    fn select_destinations(
        &mut self,
        table: &mut HostTable,
        spec: &RequestSpec,
        claims: &mut dyn Claimer,
    ) -> Result<Vec<Selection>, SchedulerError> {
        if spec.instance_uuids.is_empty() {
            return Err(SchedulerError::InvalidInput("request has no instances".into()));
        }
        let res = spec.resources();
        let in_isolation = spec.image_id.as_ref().is_some_and(|i| self.isolated_images.contains(i));
        let check_cores = !in_isolation || !self.skip_isolated_core_check;
        let mut touched = Vec::new();
        let mut claimed = Vec::new();
        let mut run = || -> Result<Vec<Selection>, SchedulerError> {
            let mut out = Vec::new();
            for iu in &spec.instance_uuids {
                let mut order: Vec<u32> = (0..table.len() as u32).collect();
                order.sort_by_key(|&h| table.vcpus_used[h as usize]);
                let mut got = None;
                for h in order {
                    let r = &table.info[h as usize].report;
                    if in_isolation && !self.isolated_hosts.contains(&r.host) {
                        continue;
                    }
                    if check_cores
                        && table.vcpus_used[h as usize] + i64::from(spec.flavor.vcpus)
                            > self.max_cores
                    {
                        return Err(SchedulerError::NoValidHost {
                            reason: "not enough allocatable CPU cores remaining".into(),
                        });
                    }
                    if table.flags[h as usize] == 0 && claims.claim(table, h as usize, iu, &res)? {
                        got = Some(h);
                        break;
                    }
                }
                let Some(h) = got else {
                    return Err(SchedulerError::NoValidHost { reason: "no host is up".into() });
                };
                claimed.push((h, res));
                touched.push(h);
                table.consume(h as usize, &spec.flavor);
                let r = &table.info[h as usize].report;
                out.push(Selection {
                    instance_uuid: iu.clone(),
                    host: r.host.clone(),
                    node_uuid: r.uuid.clone(),
                    cell_uuid: r.cell_uuid.clone(),
                    claimed: res,
                    alternates: Vec::new(),
                });
            }
            Ok(out)
        };
        let result = run();
        finish(table, spec, claims, result, &touched, &claimed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    /// Python's `min()`/`max()` over the list, one strict comparison at a time.
    fn python_min_max(raw: &[f64]) -> Option<(f64, f64)> {
        let (&first, rest) = raw.split_first()?;
        let (mut lo, mut hi) = (first, first);
        for &r in rest {
            if r < lo {
                lo = r;
            }
            if r > hi {
                hi = r;
            }
        }
        Some((lo, hi))
    }

    fn same(a: f64, b: f64) -> bool {
        a == b || (a.is_nan() && b.is_nan())
    }

    #[test]
    fn lane_bounds_equal_a_strict_scan_including_nan_and_signed_zeros() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let pool = [0.0, -0.0, 1.0, -1.0, 2.5, f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 1e-300];
        for len in 0..40 {
            for _ in 0..300 {
                let raw: Vec<f64> = (0..len)
                    .map(|_| {
                        if rng.random_bool(0.3) {
                            pool[rng.random_range(0..pool.len())]
                        } else {
                            rng.random_range(-5.0..5.0)
                        }
                    })
                    .collect();
                let want = python_min_max(&raw);
                let got = round_bounds(std::iter::once(bounds(&raw)));
                let cut = if len > 1 { rng.random_range(1..len) } else { 0 };
                let split = round_bounds([bounds(&raw[..cut]), bounds(&raw[cut..])].into_iter());
                for (what, got) in [("whole", got), ("split", split)] {
                    match (got, want) {
                        (None, None) => {}
                        (Some((a, b)), Some((c, d))) => {
                            assert!(
                                same(a, c) && same(b, d),
                                "{what} {raw:?} cut {cut}: {a} {b} vs {c} {d}"
                            )
                        }
                        _ => panic!("{what} {raw:?}: {got:?} vs {want:?}"),
                    }
                }
            }
        }
    }
}
