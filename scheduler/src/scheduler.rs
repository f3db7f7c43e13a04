// SPDX-License-Identifier: Apache-2.0
//! The schedulers: [`FilterScheduler`] (Nova's), [`ChanceScheduler`] and [`SimpleScheduler`]
//! (legacy), and the [`Claimer`] seam through which every choice is claimed.

use crate::error::SchedulerError;
use crate::filters::{FilterContext, HostFilter, filter_by_name};
use crate::host::HostTable;
use crate::types::{RequestSpec, Resources, Selection};
use crate::weighers::{HostWeigher, default_weighers};
use rand::Rng;
use rand::seq::SliceRandom;
use std::collections::HashMap;
use std::fmt;

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

    /// Filters `input` for round `index` and weighs the survivors into `weights[round]`.
    fn filter_and_weigh(
        &self,
        table: &HostTable,
        ctx: &FilterContext<'_>,
        input: Vec<u32>,
        wout: &mut [f64],
    ) -> Vec<u32> {
        let first = ctx.index == 0;
        let active: Vec<&dyn HostFilter> = self
            .filters
            .iter()
            .filter(|f| first || !f.run_filter_once_per_request())
            .filter(|f| !ctx.spec.is_rebuild || f.run_on_rebuild())
            .map(|f| f.as_ref())
            .collect();
        let threads = self.config.threads.max(1);
        if threads > 1 && input.len() >= self.config.parallel_threshold {
            return self.filter_and_weigh_parallel(table, ctx, input, wout, &active, threads);
        }
        let mut hosts = input;
        for f in &active {
            if hosts.is_empty() {
                break;
            }
            f.filter(table, ctx, &mut hosts);
        }
        if hosts.is_empty() {
            return hosts;
        }
        let tot = self.weigh(table, ctx, &hosts, None);
        for (&h, &w) in hosts.iter().zip(&tot) {
            wout[h as usize] = w;
        }
        hosts
    }

    /// Nova's `get_weighed_objects` minus the sort: total weight per host, aligned with
    /// `hosts`. `pre` holds the raw weights the parallel path computed, per chunk of `hosts`
    /// in order (chunk `c`'s `raws[wi]` covers that chunk's hosts), so they are used in
    /// place, without gathering them into one column.
    fn weigh(
        &self,
        table: &HostTable,
        ctx: &FilterContext<'_>,
        hosts: &[u32],
        mut pre: Option<&mut [Chunk]>,
    ) -> Vec<f64> {
        let n = hosts.len();
        let mut tot = vec![0.0; n];
        if n <= 1 {
            return tot;
        }
        let mut raw = Vec::with_capacity(if pre.is_some() { 0 } else { n });
        for (wi, w) in self.weighers.iter().enumerate() {
            let uniform = self.mult_uniform[wi];
            if uniform == Some(0.0) {
                // 0 × a finite normalised weight adds ±0: the weigher is off.
                continue;
            }
            let (minval, maxval) = (w.minval(), w.maxval());
            if minval.is_none() && maxval.is_none() && w.is_constant(ctx) {
                if self.mult_nonfinite[wi] {
                    for (j, &h) in hosts.iter().enumerate() {
                        tot[j] += self.mult[wi][table.agg_set[h as usize] as usize] * 0.0;
                    }
                }
                continue;
            }
            let mut segs: Vec<&mut [f64]> = match pre.as_deref_mut() {
                Some(parts) => parts.iter_mut().map(|(_, r)| r[wi].as_mut_slice()).collect(),
                None => {
                    w.weigh_all(table, ctx, hosts, &mut raw);
                    vec![raw.as_mut_slice()]
                }
            };
            let (lo, hi) = clamp_and_bounds(&mut segs, minval, maxval);
            if lo == hi {
                if self.mult_nonfinite[wi] {
                    for (j, &h) in hosts.iter().enumerate() {
                        tot[j] += self.mult[wi][table.agg_set[h as usize] as usize] * 0.0;
                    }
                }
                continue;
            }
            let range = hi - lo;
            let mut off = 0;
            for seg in &segs {
                let t = &mut tot[off..off + seg.len()];
                match uniform {
                    Some(m) => {
                        for (t, &r) in t.iter_mut().zip(seg.iter()) {
                            *t += m * ((r - lo) / range);
                        }
                    }
                    None => {
                        let mult = &self.mult[wi];
                        for ((t, &r), &h) in
                            t.iter_mut().zip(seg.iter()).zip(&hosts[off..off + seg.len()])
                        {
                            *t += mult[table.agg_set[h as usize] as usize] * ((r - lo) / range);
                        }
                    }
                }
                off += seg.len();
            }
        }
        tot
    }

    fn filter_and_weigh_parallel(
        &self,
        table: &HostTable,
        ctx: &FilterContext<'_>,
        input: Vec<u32>,
        wout: &mut [f64],
        active: &[&dyn HostFilter],
        threads: usize,
    ) -> Vec<u32> {
        let chunk = input.len().div_ceil(threads);
        let nw = self.weighers.len();
        let weighers = &self.weighers;
        let uniform = &self.mult_uniform;
        // Phase 1: filter each chunk and compute raw weights.
        let parts: Vec<Chunk> = std::thread::scope(|s| {
            let handles: Vec<_> = input
                .chunks(chunk)
                .map(|c| {
                    s.spawn(move || {
                        let mut hosts = c.to_vec();
                        for f in active {
                            if hosts.is_empty() {
                                break;
                            }
                            f.filter(table, ctx, &mut hosts);
                        }
                        let mut raws = vec![Vec::new(); nw];
                        for (wi, w) in weighers.iter().enumerate() {
                            // The weighers `weigh` skips need no raw weights.
                            if uniform[wi] == Some(0.0)
                                || (w.minval().is_none()
                                    && w.maxval().is_none()
                                    && w.is_constant(ctx))
                            {
                                continue;
                            }
                            w.weigh_all(table, ctx, &hosts, &mut raws[wi]);
                        }
                        (hosts, raws)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_default()).collect()
        });
        let mut parts = parts;
        let hosts: Vec<u32> = parts.iter().flat_map(|(h, _)| h.iter().copied()).collect();
        let tot = self.weigh(table, ctx, &hosts, Some(&mut parts));
        for (&h, &w) in hosts.iter().zip(&tot) {
            wout[h as usize] = w;
        }
        hosts
    }
}

/// One chunk of the parallel path: its surviving hosts and their raw weights per weigher.
type Chunk = (Vec<u32>, Vec<Vec<f64>>);

/// Nova's clamp to `[minval, maxval]` and the normalisation bounds, in one pass over the
/// raw weights, given as consecutive segments of the host list.
fn clamp_and_bounds(
    segs: &mut [&mut [f64]],
    minval: Option<f64>,
    maxval: Option<f64>,
) -> (f64, f64) {
    let first = match segs.iter().find_map(|s| s.first()) {
        Some(&x) => x,
        None => return (0.0, 0.0),
    };
    let clamp = |r: &mut f64| {
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
    };
    let mut f = first;
    clamp(&mut f);
    let (mut lo, mut hi) = (f, f);
    for seg in segs.iter_mut() {
        for r in seg.iter_mut() {
            clamp(r);
            // Python min()/max(): replace only on strict comparison.
            if *r < lo {
                lo = *r;
            }
            if *r > hi {
                hi = *r;
            }
        }
    }
    (minval.unwrap_or(lo), maxval.unwrap_or(hi))
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

/// The first `m` hosts of round `r` in sorted order, skipping `skip`.
fn top_m(
    rounds: &[Round],
    weights: &[Vec<f64>],
    r: usize,
    m: usize,
    skip: Option<u32>,
) -> Vec<u32> {
    let mut buf: Vec<u32> = Vec::with_capacity(m + 1);
    if m == 0 {
        return buf;
    }
    for &h in &rounds[r].hosts {
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
            let top = top_m(rounds, &self.weights, r, 1, None)[0];
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
        let cands = top_m(rounds, &self.weights, r, subset, None);
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
        let res = Resources::of(spec);
        let n = table.len();
        self.refresh_multipliers(table);
        // Placement pre-filter: capacity candidates in host order.
        let limit =
            if self.config.placement_limit == 0 { usize::MAX } else { self.config.placement_limit };
        let ignore: Vec<usize> =
            spec.ignore_hosts.iter().filter_map(|h| table.index_of(h)).collect();
        let mut cands: Vec<u32> = Vec::with_capacity(n.min(limit));
        for i in 0..n {
            if table.fits(i, &res) {
                cands.push(i as u32);
                if cands.len() >= limit {
                    break;
                }
            }
        }
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
        let mut input = cands;
        let num_alts = self.config.max_attempts.saturating_sub(1);
        let mut chosen_hosts: Vec<u32> = Vec::with_capacity(k);
        for (i, iu) in spec.instance_uuids.iter().enumerate() {
            let survivors = {
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
                let s = self.filter_and_weigh(table, &ctx, input, &mut w);
                self.weights[i] = w;
                s
            };
            if survivors.is_empty() {
                return Err(SchedulerError::NoValidHost {
                    reason: format!("no host passed the filters for instance {}", i + 1),
                });
            }
            rounds.push(Round { hosts: survivors, chosen: 0, shuffled: None });
            self.choose(&mut rounds, i);
            // Claim loop: the chosen host first, then the sorted list.
            let chosen = rounds[i].chosen;
            let mut got = None;
            if claims.claim(table, chosen as usize, iu, &res)? {
                got = Some(chosen);
            } else {
                let m = (k + num_alts + 4).min(rounds[i].hosts.len());
                let prefix = top_m(&rounds, &self.weights, i, m, Some(chosen));
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
            input = rounds[i].hosts.clone();
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
            let survivors = self.filter_and_weigh(table, &ctx, input, &mut w);
            self.weights[k] = w;
            rounds.push(Round { hosts: survivors, chosen: 0, shuffled: None });
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
            alt_order.extend(top_m(&rounds, &self.weights, alt_round, m, Some(chosen)));
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
        let res = Resources::of(spec);
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
        let res = Resources::of(spec);
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
