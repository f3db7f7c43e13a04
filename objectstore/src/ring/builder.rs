// SPDX-License-Identifier: Apache-2.0
//! The mutable side of the ring: devices, weights, and the rebalance that computes the
//! replica → partition → device table.
//!
//! # Algorithm
//!
//! 1. **Plan.** Swift's replica plan gives every tier (region, zone, server, device) a target
//!    in replicanths from weights, full dispersion and `overload` (private module `plan`).
//! 2. **Integer targets.** Targets become integer part-replica counts top-down: each tier's
//!    integer is split among its children as `floor` or `ceil` of their share, so every device
//!    ends within one part-replica of its target, and the rounding is *sticky*: children that
//!    already hold the `ceil` keep it, so a rebalance moves as little as possible.
//! 3. **Per-partition limits.** A tier holding `N` part-replicas over `P` partitions may hold at
//!    most `ceil(N / P)` replicas of one partition: full dispersion whenever the plan allows it.
//! 4. **Gather** part-replicas that must move: new replica slots, slots on removed devices, and
//!    partitions over a tier limit.
//! 5. **Place** them. On a new ring, greedily: walk down the tier tree into the child with
//!    the most unfilled part-replicas that the partition may still use. On a rebalance, a
//!    max-flow first (private module `flow`): slots grouped by the servers of the partition's
//!    other replicas, edges to the servers below target that the group may use; so a slot
//!    with few choices is not crowded out by one with many. What the flow cannot place goes
//!    the greedy way, with a swap (one extra move) when nothing below target fits.
//! 6. **Balance** in rounds of a max-flow from devices above target, through candidate
//!    part-replicas (a random sample, a few per unit of excess; one move per partition), to
//!    devices below target: direct moves first, then chains through devices at target when
//!    direct moves cannot finish. A partition that already moved in this rebalance may move
//!    the same replica again (still one changed cell). Greedy moves and swaps finish the rest.
//!
//! Movement is checked against the exact minimum, an integer program over the whole table
//! solved by `scripts/ring/min_moves.py` (tests `ring_movement_exact.rs` and
//! `ring_builder.rs`): one rebalance after adding or removing a device moves at most 1.02x
//! the minimum (most checked cases move exactly the minimum), while every device ends within
//! one part-replica of the plan.
//!
//! As in Swift, a partition moves at most one replica per rebalance (except replicas on
//! removed devices) and only after `min_part_hours`.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::device::{Device, NewDevice};
use super::flow::Flow;
use super::format::RingData;
use super::lookup::{PathHasher, Ring};
use super::plan::{LEVELS, Plan};
use crate::error::{ObjectStoreError, Result};

const NONE: u32 = u32::MAX;

/// Progress of a rebalance, reported to the callback of [`RingBuilder::rebalance_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// What is being done: `plan`, `place`, `flow` (one report per balancing round), then
    /// `balance`, whose report with `done == total` is the last of a rebalance.
    pub stage: &'static str,
    /// Work done in this stage.
    pub done: u64,
    /// Total work in this stage.
    pub total: u64,
}

/// What a rebalance did.
#[derive(Debug, Clone, PartialEq)]
pub struct RebalanceReport {
    /// Part-replicas whose device changed (slots that appeared or disappeared not included).
    pub moved: usize,
    /// Replica slots that were created or dropped by a replica count change.
    pub resized: usize,
    /// Swift's balance: max |parts / weight target − 1| over devices, in percent.
    pub balance: f64,
    /// Devices removed from the builder by this rebalance.
    pub removed_devices: usize,
    /// Part-replicas that could not reach their target because of `min_part_hours` or the
    /// one-replica-per-partition rule; another rebalance after `min_part_hours` finishes.
    pub unfinished: usize,
}

/// Dispersion of the current assignment.
#[derive(Debug, Clone, PartialEq)]
pub struct DispersionReport {
    /// Percentage of partitions whose replicas are in distinct regions (as far as the number
    /// of regions allows), then zones, servers and devices.
    pub distinct_pct: [f64; LEVELS],
    /// Part-replicas in a tier above the plan's per-partition maximum (Swift's "at risk").
    pub at_risk: usize,
}

/// Balance by weight versus full dispersion, as two plans an operator can choose from.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanReport {
    /// The smallest overload that gives full dispersion (Swift's `get_required_overload`).
    pub required_overload: f64,
    /// The overload in effect (`min(overload, required_overload)`).
    pub effective_overload: f64,
    /// Whether weights and dispersion conflict (`required_overload > 0`).
    pub conflict: bool,
    /// With `overload = 0`: the worst device's deviation from its weight share (0) and the
    /// share of partitions that cannot have one replica per region/zone/server.
    pub weight_plan_undispersed_pct: f64,
    /// With `overload = required_overload`: the worst device's deviation from its weight
    /// share, in percent (the price of full dispersion).
    pub dispersed_plan_max_overweight_pct: f64,
}

/// A mutable ring builder compatible with Swift's `RingBuilder` semantics.
#[derive(Debug, Clone)]
pub struct RingBuilder {
    part_power: u32,
    replicas: f64,
    min_part_hours: u8,
    overload: f64,
    devs: Vec<Option<Device>>,
    removed: Vec<u32>,
    r2p2d: Vec<Vec<u32>>,
    last_part_moves: Vec<u8>,
    last_part_moves_epoch: u64,
    version: u64,
    next_part_power: Option<u32>,
    seed: u64,
    dev_id_bytes: u8,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

impl RingBuilder {
    /// A new builder with `2^part_power` partitions (`0..=32`; at most 26 is practical here),
    /// `replicas >= 1` (fractional allowed) and `min_part_hours`.
    pub fn new(part_power: u32, replicas: f64, min_part_hours: u8) -> Result<RingBuilder> {
        if part_power > 32 {
            return Err(ObjectStoreError::invalid_input("part_power must be at most 32"));
        }
        if !(replicas.is_finite() && replicas >= 1.0) {
            return Err(ObjectStoreError::invalid_input("replicas must be >= 1"));
        }
        Ok(RingBuilder {
            part_power,
            replicas,
            min_part_hours,
            overload: 0.0,
            devs: vec![],
            removed: vec![],
            r2p2d: vec![],
            last_part_moves: vec![],
            last_part_moves_epoch: 0,
            version: 0,
            next_part_power: None,
            seed: 1,
            dev_id_bytes: 2,
        })
    }

    /// Partition power.
    pub fn part_power(&self) -> u32 {
        self.part_power
    }

    /// Number of partitions.
    pub fn parts(&self) -> usize {
        1usize << self.part_power
    }

    /// Replica count.
    pub fn replicas(&self) -> f64 {
        self.replicas
    }

    /// `min_part_hours`.
    pub fn min_part_hours(&self) -> u8 {
        self.min_part_hours
    }

    /// The overload factor (0.1 = 10 %).
    pub fn overload(&self) -> f64 {
        self.overload
    }

    /// The change counter.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Devices by id (holes are `None`).
    pub fn devices(&self) -> &[Option<Device>] {
        &self.devs
    }

    /// The replica → partition → device table (`u32::MAX` marks an unassigned slot, which a
    /// rebalanced builder never has).
    pub fn table(&self) -> &[Vec<u32>] {
        &self.r2p2d
    }

    /// Seed of the random choices of the next rebalance (default 1; deterministic).
    pub fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
    }

    /// Changes `min_part_hours`.
    pub fn set_min_part_hours(&mut self, hours: u8) {
        self.min_part_hours = hours;
    }

    /// Sets the overload: how much more than its weight share a device may get so that
    /// partitions are dispersed over failure domains (Swift's `set_overload`).
    pub fn set_overload(&mut self, overload: f64) -> Result<()> {
        if !(overload.is_finite() && overload >= 0.0) {
            return Err(ObjectStoreError::invalid_input("overload must be >= 0"));
        }
        self.overload = overload;
        Ok(())
    }

    /// Changes the replica count (fractional allowed); the next rebalance resizes the table.
    pub fn set_replicas(&mut self, replicas: f64) -> Result<()> {
        if !(replicas.is_finite() && replicas >= 1.0) {
            return Err(ObjectStoreError::invalid_input("replicas must be >= 1"));
        }
        self.replicas = replicas;
        self.version += 1;
        Ok(())
    }

    /// Adds a device; returns its id (the lowest free id unless one is given).
    pub fn add_dev(&mut self, dev: NewDevice) -> Result<u32> {
        if !(dev.weight.is_finite() && dev.weight >= 0.0) {
            return Err(ObjectStoreError::invalid_input("weight must be finite and >= 0"));
        }
        let id = match dev.id {
            Some(id) => id,
            None => self.devs.iter().position(Option::is_none).unwrap_or(self.devs.len()) as u32,
        };
        if id == u32::MAX || id as usize > (1 << 24) {
            return Err(ObjectStoreError::invalid_input(format!("device id {id} too large")));
        }
        if self.devs.get(id as usize).is_some_and(Option::is_some) {
            return Err(ObjectStoreError::Conflict(format!("duplicate device id {id}")));
        }
        if self.removed.contains(&id) {
            return Err(ObjectStoreError::Conflict(format!(
                "device id {id} is being removed; rebalance first"
            )));
        }
        while self.devs.len() <= id as usize {
            self.devs.push(None);
        }
        if id >= 0xffff {
            self.dev_id_bytes = 4;
        }
        self.devs[id as usize] = Some(dev.into_device(id));
        self.version += 1;
        Ok(id)
    }

    fn dev_mut(&mut self, id: u32) -> Result<&mut Device> {
        self.devs
            .get_mut(id as usize)
            .and_then(Option::as_mut)
            .ok_or_else(|| ObjectStoreError::invalid_input(format!("no device {id}")))
    }

    /// Sets a device's weight.
    pub fn set_dev_weight(&mut self, id: u32, weight: f64) -> Result<()> {
        if !(weight.is_finite() && weight >= 0.0) {
            return Err(ObjectStoreError::invalid_input("weight must be finite and >= 0"));
        }
        self.dev_mut(id)?.weight = weight;
        self.version += 1;
        Ok(())
    }

    /// Marks a device for removal: its weight becomes 0 and the next rebalance moves all its
    /// part-replicas away (ignoring `min_part_hours`) and drops it.
    pub fn remove_dev(&mut self, id: u32) -> Result<()> {
        self.dev_mut(id)?.weight = 0.0;
        if !self.removed.contains(&id) {
            self.removed.push(id);
        }
        self.version += 1;
        Ok(())
    }

    /// Marks every partition as movable now (Swift's `pretend_min_part_hours_passed`).
    pub fn pretend_min_part_hours_passed(&mut self) {
        self.last_part_moves.iter_mut().for_each(|h| *h = 0xff);
        self.last_part_moves_epoch = 0;
    }

    /// Starts a partition power increase (Swift's `prepare_increase_partition_power`).
    pub fn prepare_increase_partition_power(&mut self) -> Result<()> {
        if self.part_power >= 32 {
            return Err(ObjectStoreError::Conflict("part power is already 32".into()));
        }
        self.next_part_power = Some(self.part_power + 1);
        self.version += 1;
        Ok(())
    }

    /// Doubles the partitions: partition `p` becomes `2p` and `2p + 1` on the same devices,
    /// so no data moves (Swift's `increase_partition_power`). Needs
    /// [`RingBuilder::prepare_increase_partition_power`] first.
    pub fn increase_partition_power(&mut self) -> Result<()> {
        if self.next_part_power != Some(self.part_power + 1) {
            return Err(ObjectStoreError::Conflict(
                "prepare_increase_partition_power first".into(),
            ));
        }
        for row in &mut self.r2p2d {
            *row = row.iter().flat_map(|&d| [d, d]).collect();
        }
        self.last_part_moves = self.last_part_moves.iter().flat_map(|&h| [h, h]).collect();
        self.part_power += 1;
        self.version += 1;
        Ok(())
    }

    /// Ends a partition power increase (clears `next_part_power`).
    pub fn finish_increase_partition_power(&mut self) {
        self.next_part_power = None;
        self.version += 1;
    }

    /// The ring data as Swift's `get_ring` (without builder-only state).
    pub fn ring_data(&self) -> RingData {
        RingData {
            devs: self.devs.clone(),
            replica2part2dev: self.r2p2d.clone(),
            part_shift: 32 - self.part_power,
            next_part_power: self.next_part_power,
            version: Some(self.version),
            dev_id_bytes: self.dev_id_bytes,
        }
    }

    /// An immutable [`Ring`] of the current assignment.
    ///
    /// # Panics
    /// If the builder has never been rebalanced (there is no table yet).
    pub fn ring(&self, hasher: PathHasher) -> Ring {
        Ring::new(self.ring_data(), hasher).expect("a rebalanced builder yields a valid ring")
    }

    /// Rebuilds a builder from ring data (for example a Swift ring file), so that it can be
    /// changed and rebalanced. `min_part_hours` starts as passed.
    pub fn from_ring_data(data: &RingData, min_part_hours: u8) -> Result<RingBuilder> {
        data.validate()?;
        let mut b =
            RingBuilder::new(data.part_power(), data.replica_count().max(1.0), min_part_hours)?;
        b.devs = data.devs.clone();
        b.r2p2d = data.replica2part2dev.clone();
        b.last_part_moves = vec![0xff; data.partition_count()];
        b.version = data.version.unwrap_or(0);
        b.next_part_power = data.next_part_power;
        b.dev_id_bytes = data.dev_id_bytes;
        Ok(b)
    }

    /// Part-replica counts per device id.
    pub fn part_counts(&self) -> Vec<usize> {
        let mut c = vec![0usize; self.devs.len()];
        for row in &self.r2p2d {
            for &d in row {
                if d != NONE {
                    c[d as usize] += 1;
                }
            }
        }
        c
    }

    /// Fractional weight targets (part-replicas) per device id: `weight / Σ weight × slots`.
    pub fn weight_targets(&self) -> Vec<f64> {
        let total_w: f64 = self.devs.iter().flatten().map(|d| d.weight).sum();
        let slots: usize = self.desired_lengths().iter().sum();
        self.devs
            .iter()
            .map(|d| match d {
                Some(d) if total_w > 0.0 => d.weight / total_w * slots as f64,
                _ => 0.0,
            })
            .collect()
    }

    /// Swift's `get_balance`: the worst device's deviation from its weight share, in percent.
    pub fn balance(&self) -> f64 {
        let counts = self.part_counts();
        let targets = self.weight_targets();
        let mut worst = 0.0f64;
        for d in self.devs.iter().flatten() {
            let i = d.id as usize;
            let b = if d.weight <= 0.0 {
                if counts[i] > 0 { 999.99 } else { 0.0 }
            } else {
                100.0 * (counts[i] as f64 / targets[i] - 1.0)
            };
            worst = worst.max(b.abs());
        }
        worst
    }

    /// Swift's `get_required_overload`.
    pub fn required_overload(&self) -> Result<f64> {
        Ok(Plan::build(&self.devs, self.replicas, self.overload)?.required_overload)
    }

    /// The integer part-replica target of each device id for the current weights and
    /// overload (what a rebalance aims for), given the current assignment.
    pub fn targets(&self) -> Result<Vec<usize>> {
        let plan = Plan::build(&self.devs, self.replicas, self.overload)?;
        let t = Targets::new(
            &plan,
            &self.part_counts(),
            self.desired_lengths().iter().sum(),
            self.parts(),
        );
        Ok(self.devs.iter().enumerate().map(|(i, _)| t.dev_target(&plan, i)).collect())
    }

    /// Weight balance versus dispersion: whether they conflict and what each choice costs.
    pub fn plan_report(&self) -> Result<PlanReport> {
        let plan = Plan::build(&self.devs, self.replicas, self.overload)?;
        let weighted = Plan::build(&self.devs, self.replicas, 0.0)?;
        let dispersed = Plan::build(&self.devs, self.replicas, f64::INFINITY)?;
        // Partitions that cannot be spread under the weight plan: for each tier, the share of
        // partitions needing more replicas there than the dispersed plan's maximum allows.
        let mut undispersed = 0.0f64;
        for l in 0..LEVELS {
            for &n in &weighted.levels[l] {
                let t = weighted.nodes[n].weighted;
                let max = dispersed.nodes[n].wanted.ceil();
                if t > max + 1e-9 {
                    undispersed = undispersed.max(t - max);
                }
            }
        }
        let mut over = 0.0f64;
        for &n in &dispersed.levels[3] {
            let node = &dispersed.nodes[n];
            if node.weighted > 0.0 {
                over = over.max(100.0 * (node.wanted / node.weighted - 1.0));
            }
        }
        Ok(PlanReport {
            required_overload: plan.required_overload,
            effective_overload: plan.effective_overload,
            conflict: plan.required_overload > 1e-9,
            weight_plan_undispersed_pct: 100.0 * undispersed.min(1.0),
            dispersed_plan_max_overweight_pct: over,
        })
    }

    /// How well partitions are spread over failure domains.
    pub fn dispersion(&self) -> Result<DispersionReport> {
        let plan = Plan::build(&self.devs, self.replicas, self.overload)?;
        let parts = self.parts();
        let mut ok = [0usize; LEVELS];
        let mut at_risk = 0usize;
        let maxes = tier_maxes(
            &plan,
            &Targets::new(&plan, &self.part_counts(), self.desired_lengths().iter().sum(), parts),
            parts,
        );
        let n_tiers = [
            plan.levels[0].len(),
            plan.levels[1].len(),
            plan.levels[2].len(),
            plan.levels[3].len(),
        ];
        let mut ids = Vec::with_capacity(self.r2p2d.len());
        for p in 0..parts {
            ids.clear();
            ids.extend(self.r2p2d.iter().filter_map(|r| r.get(p)).copied().filter(|&d| d != NONE));
            for l in 0..LEVELS {
                let mut tiers: Vec<usize> = ids
                    .iter()
                    .map(|&d| {
                        plan.dev_path.get(d as usize).map_or(usize::MAX - d as usize, |x| x[l])
                    })
                    .collect();
                tiers.sort_unstable();
                let distinct = {
                    let mut t = tiers.clone();
                    t.dedup();
                    t.len()
                };
                if distinct >= ids.len().min(n_tiers[l]) {
                    ok[l] += 1;
                }
                let mut i = 0;
                while i < tiers.len() {
                    let mut j = i;
                    while j < tiers.len() && tiers[j] == tiers[i] {
                        j += 1;
                    }
                    if tiers[i] < plan.nodes.len() {
                        at_risk += (j - i).saturating_sub(maxes[tiers[i]] as usize);
                    }
                    i = j;
                }
            }
        }
        Ok(DispersionReport { distinct_pct: ok.map(|k| 100.0 * k as f64 / parts as f64), at_risk })
    }

    fn desired_lengths(&self) -> Vec<usize> {
        let parts = self.parts();
        let whole = self.replicas.trunc() as usize;
        let frac = self.replicas.fract();
        let mut v = vec![parts; whole];
        let extra = (parts as f64 * frac) as usize;
        if extra > 0 {
            v.push(extra);
        }
        v
    }

    fn update_last_part_moves(&mut self) {
        let now = now_secs();
        let hours = now.saturating_sub(self.last_part_moves_epoch) / 3600;
        if hours > 0 {
            let h = hours.min(255) as u8;
            for m in &mut self.last_part_moves {
                *m = m.saturating_add(h);
            }
        }
        self.last_part_moves_epoch = now;
    }

    /// Rebalances (see the module docs).
    pub fn rebalance(&mut self) -> Result<RebalanceReport> {
        self.rebalance_with(&mut |_| {})
    }

    /// [`RingBuilder::rebalance`] with a progress callback.
    pub fn rebalance_with(
        &mut self,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<RebalanceReport> {
        let parts = self.parts();
        // Removed devices: drop them from the tree before planning.
        let mut devs_for_plan = self.devs.clone();
        for &id in &self.removed {
            devs_for_plan[id as usize] = None;
        }
        let plan = Plan::build(&devs_for_plan, self.replicas, self.overload)?;
        let first = self.r2p2d.is_empty();
        self.update_last_part_moves();
        if self.last_part_moves.len() != parts {
            self.last_part_moves = vec![0xff; parts];
        }
        let mut rng = rand::rngs::SmallRng::seed_from_u64(self.seed);
        let mut moved_now = vec![0u64; parts.div_ceil(64)];
        let mut resized = 0usize;

        // 1. Replica count changes.
        let desired = self.desired_lengths();
        while self.r2p2d.len() > desired.len() {
            resized += self.r2p2d.pop().map_or(0, |r| r.len());
        }
        for (r, &len) in desired.iter().enumerate() {
            if r == self.r2p2d.len() {
                self.r2p2d.push(vec![]);
            }
            let row = &mut self.r2p2d[r];
            if row.len() > len {
                resized += row.len() - len;
                row.truncate(len);
            } else if row.len() < len {
                resized += len - row.len();
                row.resize(len, NONE);
            }
        }

        let before = if first { vec![] } else { self.r2p2d.clone() };

        // 2. Slots on removed devices.
        let mut removed_mask = vec![false; self.devs.len()];
        for &id in &self.removed {
            removed_mask[id as usize] = true;
        }
        let mut unassigned: Vec<(u32, u8, u32)> = vec![]; // (part, replica, old dev)
        let in_plan = |d: u32| plan.dev_path.get(d as usize).is_some_and(|x| x[3] != usize::MAX);
        for (r, row) in self.r2p2d.iter_mut().enumerate() {
            if first {
                break; // every slot is empty; placed in a random partition order below
            }
            for (p, d) in row.iter_mut().enumerate() {
                if *d == NONE {
                    unassigned.push((p as u32, r as u8, NONE));
                } else if removed_mask.get(*d as usize).copied().unwrap_or(true)
                    || self.devs.get(*d as usize).is_none_or(|x| x.is_none())
                {
                    unassigned.push((p as u32, r as u8, *d));
                    moved_now[p / 64] |= 1 << (p % 64);
                    *d = NONE;
                } else if !in_plan(*d)
                    && moved_now[p / 64] & (1 << (p % 64)) == 0
                    && self.last_part_moves[p] >= self.min_part_hours
                {
                    // A zero-weight device drains as fast as min_part_hours allows.
                    unassigned.push((p as u32, r as u8, *d));
                    moved_now[p / 64] |= 1 << (p % 64);
                    *d = NONE;
                }
            }
        }
        let removed_devices = self.removed.len();
        for id in std::mem::take(&mut self.removed) {
            self.devs[id as usize] = None;
        }

        let mut st =
            State::new(&plan, &self.r2p2d, parts, desired.iter().sum(), self.seed ^ 0x5eed);
        progress(Progress { stage: "plan", done: 1, total: 1 });

        // 3. Dispersion: partitions over a tier limit give up one replica (the one on the
        //    most over-target device), if they may move.
        if !first {
            for p in 0..parts {
                if moved_now[p / 64] & (1 << (p % 64)) != 0
                    || self.last_part_moves[p] < self.min_part_hours
                {
                    continue;
                }
                let mut worst: Option<(i64, usize)> = None;
                for r in 0..self.r2p2d.len() {
                    let Some(&d) = self.r2p2d[r].get(p) else { continue };
                    if d == NONE || !in_plan(d) {
                        continue;
                    }
                    let path = plan.dev_path[d as usize];
                    let over = (0..LEVELS).any(|l| {
                        st.count_in_part(&plan, &self.r2p2d, p, l, path[l]) > st.max[path[l]]
                    });
                    if over {
                        let excess = st.count[path[3]] as i64 - st.target[path[3]] as i64;
                        if worst.is_none_or(|(e, _)| excess > e) {
                            worst = Some((excess, r));
                        }
                    }
                }
                if let Some((_, r)) = worst {
                    let d = self.r2p2d[r][p];
                    st.remove(&plan, d);
                    self.r2p2d[r][p] = NONE;
                    unassigned.push((p as u32, r as u8, d));
                    moved_now[p / 64] |= 1 << (p % 64);
                }
            }
        }

        // 4. Place unassigned slots.
        let mut moved = 0usize;
        if first {
            // All replicas of a partition together, partitions in order (cache friendly); the
            // weighted random tier choice keeps the table free of periodic structure, which
            // keeps Swift's handoff walk short.
            let rows = self.r2p2d.len();
            for (i, p) in (0..parts as u32).enumerate() {
                for r in 0..rows {
                    if (p as usize) < self.r2p2d[r].len() {
                        self.place_slot(&plan, &mut st, p as usize, r, first, &mut moved_now);
                    }
                }
                if i % 65536 == 0 {
                    progress(Progress { stage: "place", done: i as u64, total: parts as u64 });
                }
            }
            progress(Progress { stage: "place", done: parts as u64, total: parts as u64 });
        } else {
            // As many slots as possible straight onto servers that need part-replicas (a
            // max-flow), the rest greedily (with a swap when nothing below target fits).
            let mut unassigned = self.place_by_flow(&plan, &mut st, &unassigned);
            unassigned.shuffle(&mut rng);
            let total = unassigned.len() as u64;
            for (i, &(p, r, _)) in unassigned.iter().enumerate() {
                moved +=
                    self.place_slot(&plan, &mut st, p as usize, r as usize, first, &mut moved_now);
                if i % 65536 == 0 {
                    progress(Progress { stage: "place", done: i as u64, total });
                }
            }
            progress(Progress { stage: "place", done: total, total });
        }

        // 5. Balance: move excess part-replicas from over-target to under-target devices,
        //    first as many direct moves as a max-flow finds, then greedily with swaps.
        {
            // Rounds, because a partition moves once: moves the flow planned for two replicas
            // of one partition are redone without it.
            // Candidates are sampled (a few per unit of excess) for speed; when that finds
            // nothing, every movable partition is a candidate.
            let mut per_excess = 8;
            for _ in 0..40 {
                let done = self.balance_by_flow(
                    &plan,
                    &mut st,
                    &before,
                    per_excess,
                    &mut moved_now,
                    &mut rng,
                );
                progress(Progress { stage: "flow", done: done as u64, total: done as u64 });
                if done == 0 {
                    if per_excess == usize::MAX {
                        break;
                    }
                    per_excess = usize::MAX;
                }
            }
        }
        let mut unfinished = 0usize;
        {
            let mut donors: Vec<usize> =
                plan.levels[3].iter().copied().filter(|&n| st.count[n] > st.target[n]).collect();
            if !donors.is_empty() {
                let mut slots_of: Vec<Vec<(u32, u8)>> = vec![vec![]; plan.nodes.len()];
                for (r, row) in self.r2p2d.iter().enumerate() {
                    for (p, &d) in row.iter().enumerate() {
                        if d == NONE || !in_plan(d) {
                            continue;
                        }
                        let n = plan.dev_path[d as usize][3];
                        if st.count[n] > st.target[n] {
                            slots_of[n].push((p as u32, r as u8));
                        }
                    }
                }
                donors.sort_by_key(|&n| std::cmp::Reverse(st.count[n] - st.target[n]));
                let nd = donors.len() as u64;
                for (k, &n) in donors.iter().enumerate() {
                    let mut slots = std::mem::take(&mut slots_of[n]);
                    slots.shuffle(&mut rng);
                    let dev = plan.nodes[n].dev;
                    let mut swap_failures = 0;
                    // Direct moves first; two-move swaps only for what is left.
                    for (pass, (p, r)) in
                        slots.iter().map(|&x| (0, x)).chain(slots.iter().map(|&x| (1, x)))
                    {
                        if st.count[n] <= st.target[n] {
                            break;
                        }
                        let (p, r) = (p as usize, r as usize);
                        if !first
                            && (moved_now[p / 64] & (1 << (p % 64)) != 0
                                || self.last_part_moves[p] < self.min_part_hours)
                        {
                            continue;
                        }
                        self.r2p2d[r][p] = NONE;
                        st.remove(&plan, dev);
                        match st.find(&plan, &self.r2p2d, p, true) {
                            Some(to) => {
                                self.r2p2d[r][p] = to;
                                st.add(&plan, to);
                                moved += 1;
                                self.last_part_moves[p] = 0;
                                moved_now[p / 64] |= 1 << (p % 64);
                            }
                            None if pass == 1 && swap_failures < 4 => {
                                match self.swap_for(&plan, &mut st, p, first, &mut moved_now) {
                                    Some(e) => {
                                        // Two moves: p's replica to e, and one of e's to a
                                        // device below target.
                                        self.r2p2d[r][p] = e;
                                        st.add(&plan, e);
                                        moved += 2;
                                        self.last_part_moves[p] = 0;
                                        moved_now[p / 64] |= 1 << (p % 64);
                                    }
                                    None => {
                                        swap_failures += 1;
                                        self.r2p2d[r][p] = dev;
                                        st.add(&plan, dev);
                                    }
                                }
                            }
                            None => {
                                self.r2p2d[r][p] = dev;
                                st.add(&plan, dev);
                            }
                        }
                    }
                    unfinished += st.count[n].saturating_sub(st.target[n]);
                    if k % 16 == 0 {
                        progress(Progress { stage: "balance", done: k as u64, total: nd });
                    }
                }
                progress(Progress { stage: "balance", done: nd, total: nd });
            } else {
                progress(Progress { stage: "balance", done: 1, total: 1 });
            }
        }
        // Count changed cells exactly (the running count above includes cells that moved back).
        let _ = moved;
        let moved = before
            .iter()
            .zip(&self.r2p2d)
            .map(|(a, b)| a.iter().zip(b).filter(|(x, y)| **x != NONE && x != y).count())
            .sum::<usize>();
        self.version += 1;
        let balance = self.balance();
        Ok(RebalanceReport { moved, resized, balance, removed_devices, unfinished })
    }
}

impl RingBuilder {
    /// Places empty slots on servers below target with a max-flow over (slot class, server)
    /// pairs, where a slot class is the set of servers the partition's other replicas are
    /// on: the most slots that can land without an extra move do. Returns the slots left.
    fn place_by_flow(
        &mut self,
        plan: &Plan,
        st: &mut State,
        slots: &[(u32, u8, u32)],
    ) -> Vec<(u32, u8, u32)> {
        let servers: Vec<usize> =
            plan.levels[2].iter().copied().filter(|&s| st.need[s] > 0).collect();
        if slots.is_empty() || servers.is_empty() {
            return slots.to_vec();
        }
        let server_path = |s: usize| -> [usize; 3] {
            let dev = plan.nodes[plan.nodes[s].children[0]].dev;
            let p = plan.dev_path[dev as usize];
            [p[0], p[1], p[2]]
        };
        let spaths: Vec<[usize; 3]> = servers.iter().map(|&s| server_path(s)).collect();
        // Group slots by the servers of the partition's other replicas.
        let mut classes: std::collections::HashMap<Vec<usize>, Vec<usize>> = Default::default();
        let mut others = Vec::with_capacity(self.r2p2d.len());
        for (i, &(p, _, _)) in slots.iter().enumerate() {
            others.clear();
            for row in &self.r2p2d {
                if let Some(&d) = row.get(p as usize)
                    && d != NONE
                    && plan.dev_path.get(d as usize).is_some_and(|x| x[3] != usize::MAX)
                {
                    others.push(plan.dev_path[d as usize][2]);
                }
            }
            others.sort_unstable();
            classes.entry(others.clone()).or_default().push(i);
        }
        let mut classes: Vec<(Vec<usize>, Vec<usize>)> = classes.into_iter().collect();
        classes.sort_unstable();
        let (src, sink) = (0, 1);
        let n_nodes = 2 + classes.len() + servers.len();
        let mut g = Flow::new(n_nodes);
        let server_node = |k: usize| 2 + classes.len() + k;
        for (k, &s) in servers.iter().enumerate() {
            g.edge(server_node(k), sink, st.need[s] as u64);
        }
        let mut edges: Vec<Vec<(usize, usize)>> = vec![vec![]; classes.len()]; // (edge, server k)
        for (c, (key, members)) in classes.iter().enumerate() {
            g.edge(src, 2 + c, members.len() as u64);
            // A tier node's count among the other replicas, from their server nodes.
            let count = |node: usize, l: usize| {
                key.iter().filter(|&&o| server_path(o)[l] == node).count() as u32
            };
            for (k, path) in spaths.iter().enumerate() {
                if (0..3).all(|l| count(path[l], l) < st.max[path[l]]) {
                    edges[c].push((g.edge(2 + c, server_node(k), members.len() as u64), k));
                }
            }
        }
        if g.max_flow(src, sink) == 0 {
            return slots.to_vec();
        }
        let mut placed = vec![false; slots.len()];
        for (c, (_, members)) in classes.iter().enumerate() {
            let mut next = 0;
            for &(e, k) in &edges[c] {
                let mut f = g.flow(e);
                let server = servers[k];
                let path = spaths[k];
                while f > 0 && next < members.len() {
                    let i = members[next];
                    next += 1;
                    f -= 1;
                    let (p, r, _) = slots[i];
                    let (p, r) = (p as usize, r as usize);
                    // Re-check the tier limits (a partition may have had two empty slots).
                    let fits = (0..3).all(|l| {
                        st.count_in_part(plan, &self.r2p2d, p, l, path[l]) < st.max[path[l]]
                    });
                    if !fits {
                        continue;
                    }
                    if let Some(d) = st.find_below(plan, &self.r2p2d, p, server, 3) {
                        self.r2p2d[r][p] = d;
                        st.add(plan, d);
                        self.last_part_moves[p] = 0;
                        placed[i] = true;
                    }
                }
            }
        }
        slots.iter().zip(&placed).filter(|(_, p)| !**p).map(|(s, _)| *s).collect()
    }

    /// Moves from devices above target to devices below, chosen by a max-flow over devices
    /// and candidate part-replicas (one move per partition), so that one donor's choice does
    /// not take the partition another donor needed. With `per_excess` finite, only direct
    /// moves from a sample of the donors' part-replicas (`per_excess` per unit of excess);
    /// with `usize::MAX`, every movable part-replica of every device, so chains of moves
    /// through devices at target are found too (when direct moves cannot finish). Returns the
    /// number of moves made.
    fn balance_by_flow(
        &mut self,
        plan: &Plan,
        st: &mut State,
        before: &[Vec<u32>],
        per_excess: usize,
        moved_now: &mut [u64],
        rng: &mut rand::rngs::SmallRng,
    ) -> usize {
        let chains = per_excess == usize::MAX;
        let first = before.is_empty();
        let leaves = &plan.levels[3];
        let excess: Vec<usize> =
            leaves.iter().map(|&n| st.count[n].saturating_sub(st.target[n])).collect();
        let need: Vec<usize> =
            leaves.iter().map(|&n| st.target[n].saturating_sub(st.count[n])).collect();
        if excess.iter().all(|&e| e == 0) || need.iter().all(|&e| e == 0) {
            return 0;
        }
        let mut leaf_idx = vec![usize::MAX; plan.nodes.len()];
        for (k, &n) in leaves.iter().enumerate() {
            leaf_idx[n] = k;
        }
        // Receivers: devices below target (and, for chains, every device).
        let receivers: Vec<usize> = (0..leaves.len()).filter(|&k| chains || need[k] > 0).collect();
        let parts = self.parts();
        let start = rng.random_range(0..parts.max(1));
        let mut per_dev = vec![0usize; leaves.len()];
        let quota = |k: usize| per_excess.saturating_mul(excess[k] + 1);
        // Direct mode: stop scanning once every donor has its sample.
        let mut open = (0..leaves.len()).filter(|&k| excess[k] > 0).count();
        let mut cands: Vec<(u32, u8, usize)> = vec![]; // (part, replica, device k)
        for i in 0..parts {
            if !chains && open == 0 {
                break;
            }
            let p = (start + i) % parts;
            // A partition that already moved in this rebalance may only move the same
            // replica again (to another device: still one changed cell); others only after
            // min_part_hours.
            let moved = moved_now[p / 64] & (1 << (p % 64)) != 0;
            if !first && !moved && self.last_part_moves[p] < self.min_part_hours {
                continue;
            }
            for (r, row) in self.r2p2d.iter().enumerate() {
                let Some(&d) = row.get(p) else { continue };
                if moved && before.get(r).and_then(|b| b.get(p)).is_none_or(|&o| o == d) {
                    continue;
                }
                if d == NONE || plan.dev_path.get(d as usize).is_none_or(|x| x[3] == usize::MAX) {
                    continue;
                }
                let k = leaf_idx[plan.dev_path[d as usize][3]];
                if !chains && (excess[k] == 0 || per_dev[k] >= quota(k)) {
                    continue;
                }
                per_dev[k] += 1;
                if !chains && per_dev[k] == quota(k) {
                    open -= 1;
                }
                cands.push((p as u32, r as u8, k));
            }
            if cands.len().saturating_mul(receivers.len()) > 20_000_000 {
                return 0;
            }
        }
        if cands.is_empty() {
            return 0;
        }
        let (src, sink) = (0, 1);
        let dnode = |k: usize| 2 + k;
        let cnode = |c: usize| 2 + leaves.len() + c;
        let mut g = Flow::new(2 + leaves.len() + cands.len());
        for k in 0..leaves.len() {
            if excess[k] > 0 {
                g.edge(src, dnode(k), excess[k] as u64);
            }
            if need[k] > 0 {
                g.edge(dnode(k), sink, need[k] as u64);
            }
        }
        let paths: Vec<[usize; LEVELS]> =
            leaves.iter().map(|&n| plan.dev_path[plan.nodes[n].dev as usize]).collect();
        let mut out: Vec<Vec<(usize, usize)>> = vec![vec![]; cands.len()];
        let mut others: Vec<[usize; LEVELS]> = Vec::with_capacity(self.r2p2d.len());
        for (c, &(p, r, k)) in cands.iter().enumerate() {
            g.edge(dnode(k), cnode(c), 1);
            others.clear();
            for (rr, row) in self.r2p2d.iter().enumerate() {
                if rr == r as usize {
                    continue;
                }
                if let Some(&d) = row.get(p as usize)
                    && d != NONE
                    && let Some(path) = plan.dev_path.get(d as usize)
                    && path[3] != usize::MAX
                {
                    others.push(*path);
                }
            }
            for &j in &receivers {
                if j == k {
                    continue;
                }
                let np = &paths[j];
                let ok = (0..LEVELS).all(|l| {
                    let n = others.iter().filter(|o| o[l] == np[l]).count() as u32;
                    n < st.max[np[l]]
                });
                if ok {
                    out[c].push((g.edge(cnode(c), dnode(j), 1), j));
                }
            }
        }
        if g.max_flow(src, sink) == 0 {
            return 0;
        }
        let mut done = 0;
        let mut touched = vec![0u64; moved_now.len()];
        for (c, &(p, r, k)) in cands.iter().enumerate() {
            let Some(&(_, j)) = out[c].iter().find(|&&(e, _)| g.flow(e) > 0) else { continue };
            let (p, r) = (p as usize, r as usize);
            if touched[p / 64] & (1 << (p % 64)) != 0 {
                continue; // one move per partition: another replica of it already moved
            }
            touched[p / 64] |= 1 << (p % 64);
            let from = plan.nodes[leaves[k]].dev;
            let to = plan.nodes[leaves[j]].dev;
            self.r2p2d[r][p] = to;
            st.remove(plan, from);
            st.add(plan, to);
            self.last_part_moves[p] = 0;
            if !first {
                moved_now[p / 64] |= 1 << (p % 64);
            }
            done += 1;
        }
        done
    }

    /// Places one empty slot; returns the number of extra moves (a swap).
    fn place_slot(
        &mut self,
        plan: &Plan,
        st: &mut State,
        p: usize,
        r: usize,
        first: bool,
        moved_now: &mut [u64],
    ) -> usize {
        let mut extra = 0;
        let d = match st.find(plan, &self.r2p2d, p, true) {
            Some(d) => d,
            None => match self.swap_for(plan, st, p, first, moved_now) {
                Some(d) => {
                    extra = 1;
                    d
                }
                None => st.find_relaxed(plan, &self.r2p2d, p),
            },
        };
        self.r2p2d[r][p] = d;
        st.add(plan, d);
        self.last_part_moves[p] = 0;
        extra
    }

    /// When no under-target device may take a replica of `p`: find a partition `q` with a
    /// replica on a device `e` that `p` may use, move that replica of `q` to an under-target
    /// device, and give `e` to `p` (one extra move). Returns `e`, counted as holding one less.
    fn swap_for(
        &mut self,
        plan: &Plan,
        st: &mut State,
        p: usize,
        first: bool,
        moved_now: &mut [u64],
    ) -> Option<u32> {
        let parts = self.parts();
        let start = st.rng.random_range(0..parts);
        for k in 0..parts {
            let q = (start + k) % parts;
            if q == p
                || (!first
                    && (moved_now[q / 64] & (1 << (q % 64)) != 0
                        || self.last_part_moves[q] < self.min_part_hours))
            {
                continue;
            }
            for r in 0..self.r2p2d.len() {
                let Some(&e) = self.r2p2d[r].get(q) else { continue };
                if e == NONE || plan.dev_path.get(e as usize).is_none_or(|x| x[3] == usize::MAX) {
                    continue;
                }
                let path = plan.dev_path[e as usize];
                let allowed = (0..LEVELS)
                    .all(|l| st.count_in_part(plan, &self.r2p2d, p, l, path[l]) < st.max[path[l]]);
                if !allowed {
                    continue;
                }
                self.r2p2d[r][q] = NONE;
                st.remove(plan, e);
                if let Some(u) = st.find(plan, &self.r2p2d, q, true) {
                    self.r2p2d[r][q] = u;
                    st.add(plan, u);
                    self.last_part_moves[q] = 0;
                    moved_now[q / 64] |= 1 << (q % 64);
                    return Some(e);
                }
                self.r2p2d[r][q] = e;
                st.add(plan, e);
            }
        }
        None
    }
}

/// Integer targets per tier node.
struct Targets {
    target: Vec<usize>,
}

impl Targets {
    fn new(plan: &Plan, dev_counts: &[usize], slots: usize, _parts: usize) -> Targets {
        let n = plan.nodes.len();
        // Current counts per node.
        let mut cur = vec![0usize; n];
        for &d in &plan.levels[3] {
            let c = dev_counts.get(plan.nodes[d].dev as usize).copied().unwrap_or(0);
            for &a in &plan.dev_path[plan.nodes[d].dev as usize] {
                cur[a] += c;
            }
            cur[0] += c;
        }
        let total_target: f64 = plan.levels[0].iter().map(|&c| plan.nodes[c].target).sum();
        let scale = if total_target > 0.0 { slots as f64 / total_target } else { 0.0 };
        let mut target = vec![0usize; n];
        target[0] = slots;
        let mut stack = vec![0usize];
        while let Some(t) = stack.pop() {
            let kids = &plan.nodes[t].children;
            if kids.is_empty() {
                continue;
            }
            let m = target[t];
            let f: Vec<f64> = kids
                .iter()
                .map(|&c| {
                    let x = plan.nodes[c].target * scale;
                    if (x - x.round()).abs() < 1e-6 { x.round() } else { x }
                })
                .collect();
            let mut give: Vec<usize> = f.iter().map(|x| x.floor() as usize).collect();
            let mut rem = m as i64 - give.iter().sum::<usize>() as i64;
            let mut order: Vec<usize> = (0..kids.len()).filter(|&i| f[i].fract() > 0.0).collect();
            // Sticky: children already holding at least the ceil keep it; then by fraction.
            order.sort_by(|&a, &b| {
                let ha = cur[kids[a]] as f64 >= f[a].ceil();
                let hb = cur[kids[b]] as f64 >= f[b].ceil();
                hb.cmp(&ha)
                    .then(
                        f[b].fract()
                            .partial_cmp(&f[a].fract())
                            .unwrap_or(std::cmp::Ordering::Equal),
                    )
                    .then(a.cmp(&b))
            });
            for &i in &order {
                if rem <= 0 {
                    break;
                }
                give[i] += 1;
                rem -= 1;
            }
            // Rounding noise: spread any rest over the largest children (never expected).
            let mut i = 0;
            while rem > 0 && !kids.is_empty() {
                give[i % kids.len()] += 1;
                rem -= 1;
                i += 1;
            }
            while rem < 0 {
                let Some(j) = (0..kids.len()).filter(|&j| give[j] > 0).max_by_key(|&j| give[j])
                else {
                    break;
                };
                give[j] -= 1;
                rem += 1;
            }
            for (i, &c) in kids.iter().enumerate() {
                target[c] = give[i];
                stack.push(c);
            }
        }
        Targets { target }
    }

    fn dev_target(&self, plan: &Plan, dev: usize) -> usize {
        plan.dev_path.get(dev).map_or(0, |p| if p[3] == usize::MAX { 0 } else { self.target[p[3]] })
    }
}

fn tier_maxes(plan: &Plan, t: &Targets, parts: usize) -> Vec<u32> {
    (0..plan.nodes.len())
        .map(|n| {
            let x = t.target[n] as f64 / parts as f64;
            let m = (x - 1e-9).ceil().max(0.0) as u32;
            if t.target[n] > 0 { m.max(1) } else { 0 }
        })
        .collect()
}

/// Mutable counters of a rebalance.
struct State {
    target: Vec<usize>,
    count: Vec<usize>,
    /// Sum over devices below of max(0, target − count).
    need: Vec<usize>,
    max: Vec<u32>,
    tried: Vec<bool>,
    tried_list: Vec<usize>,
    rng: rand::rngs::SmallRng,
}

impl State {
    fn new(plan: &Plan, table: &[Vec<u32>], parts: usize, slots: usize, seed: u64) -> State {
        let n = plan.nodes.len();
        let mut dev_counts = vec![0usize; plan.dev_path.len()];
        for row in table {
            for &d in row {
                if d != NONE && (d as usize) < dev_counts.len() {
                    dev_counts[d as usize] += 1;
                }
            }
        }
        let t = Targets::new(plan, &dev_counts, slots, parts);
        let max = tier_maxes(plan, &t, parts);
        let mut count = vec![0usize; n];
        for &d in &plan.levels[3] {
            let c = dev_counts[plan.nodes[d].dev as usize];
            for &a in &plan.dev_path[plan.nodes[d].dev as usize] {
                count[a] += c;
            }
            count[0] += c;
        }
        let mut need = vec![0usize; n];
        for &d in &plan.levels[3] {
            let k = t.target[d].saturating_sub(count[d]);
            for &a in &plan.dev_path[plan.nodes[d].dev as usize] {
                if a != d {
                    need[a] += k;
                }
            }
            need[d] = k;
            need[0] += k;
        }
        State {
            target: t.target,
            count,
            need,
            max,
            tried: vec![false; n],
            tried_list: vec![],
            rng: rand::rngs::SmallRng::seed_from_u64(seed),
        }
    }

    fn change(&mut self, plan: &Plan, dev: u32, add: bool) {
        let path = plan.dev_path[dev as usize];
        let leaf = path[3];
        let before = self.target[leaf].saturating_sub(self.count[leaf]);
        if add {
            self.count[leaf] += 1;
        } else {
            self.count[leaf] -= 1;
        }
        let after = self.target[leaf].saturating_sub(self.count[leaf]);
        for &a in path[..3].iter().chain(std::iter::once(&0usize)) {
            if add {
                self.count[a] += 1;
            } else {
                self.count[a] -= 1;
            }
            self.need[a] = self.need[a] + after - before;
        }
        self.need[leaf] = after;
    }

    fn add(&mut self, plan: &Plan, dev: u32) {
        self.change(plan, dev, true)
    }

    fn remove(&mut self, plan: &Plan, dev: u32) {
        self.change(plan, dev, false)
    }

    #[inline]
    fn count_in_part(
        &self,
        plan: &Plan,
        table: &[Vec<u32>],
        p: usize,
        level: usize,
        node: usize,
    ) -> u32 {
        let mut k = 0;
        for row in table {
            if let Some(&d) = row.get(p)
                && d != NONE
                && plan.dev_path[d as usize][level] == node
            {
                k += 1;
            }
        }
        k
    }

    /// A device for a new replica of partition `p`: walks down into the child with the most
    /// unfilled part-replicas that `p` may still use. With `need_only`, only devices below
    /// their target qualify.
    fn find(&mut self, plan: &Plan, table: &[Vec<u32>], p: usize, need_only: bool) -> Option<u32> {
        let r = self.descend(plan, table, p, 0, 0, need_only);
        for &x in &self.tried_list {
            self.tried[x] = false;
        }
        self.tried_list.clear();
        r
    }

    /// A device below target under tier node `node` (of level `level - 1`) for a new
    /// replica of partition `p`; the tiers above `node` are not checked.
    fn find_below(
        &mut self,
        plan: &Plan,
        table: &[Vec<u32>],
        p: usize,
        node: usize,
        level: usize,
    ) -> Option<u32> {
        let r = self.descend(plan, table, p, node, level, true);
        for &x in &self.tried_list {
            self.tried[x] = false;
        }
        self.tried_list.clear();
        r
    }

    fn descend(
        &mut self,
        plan: &Plan,
        table: &[Vec<u32>],
        p: usize,
        parent: usize,
        level: usize,
        need_only: bool,
    ) -> Option<u32> {
        let kids = &plan.nodes[parent].children;
        loop {
            let mut best: Option<usize> = None;
            if need_only {
                // Weighted random choice by unfilled part-replicas: exact targets, and no
                // correlation between the zones a partition uses in different regions.
                let total: usize = kids
                    .iter()
                    .filter(|&&c| !self.tried[c] && self.max[c] > 0)
                    .map(|&c| self.need[c])
                    .sum();
                if total > 0 {
                    let mut x = self.rng.random_range(0..total);
                    for &c in kids.iter() {
                        if self.tried[c] || self.max[c] == 0 {
                            continue;
                        }
                        if x < self.need[c] {
                            best = Some(c);
                            break;
                        }
                        x -= self.need[c];
                    }
                }
            } else {
                for &c in kids.iter() {
                    if self.tried[c] || self.max[c] == 0 {
                        continue;
                    }
                    // Least over-full first.
                    let key = |n: usize| self.count[n] as f64 / (self.target[n] as f64 + 1.0);
                    if best.is_none_or(|b| key(c) < key(b)) {
                        best = Some(c);
                    }
                }
            }
            let c = best?;
            self.tried[c] = true;
            self.tried_list.push(c);
            if self.count_in_part(plan, table, p, level, c) >= self.max[c] {
                continue;
            }
            if level == LEVELS - 1 {
                return Some(plan.nodes[c].dev);
            }
            if let Some(d) = self.descend(plan, table, p, c, level + 1, need_only) {
                return Some(d);
            }
        }
    }

    /// When no device below target may take the partition: the least loaded allowed device,
    /// else any device not yet holding the partition.
    fn find_relaxed(&mut self, plan: &Plan, table: &[Vec<u32>], p: usize) -> u32 {
        if let Some(d) = self.find(plan, table, p, false) {
            return d;
        }
        let held: Vec<u32> = table.iter().filter_map(|r| r.get(p)).copied().collect();
        plan.levels[3]
            .iter()
            .map(|&n| plan.nodes[n].dev)
            .filter(|d| !held.contains(d))
            .min_by_key(|&d| self.count[plan.dev_path[d as usize][3]])
            .unwrap_or(plan.nodes[plan.levels[3][0]].dev)
    }
}

/// The builder file: gzip'd `FSRB` magic, a JSON header, then the table (u32 LE) and the
/// per-partition hours since the last move. Ferrostack's own format (Swift pickles its
/// builder); [`RingData`] is the interchange format.
mod file {
    use std::io::{Read, Write};

    use serde::{Deserialize, Serialize};

    use super::{NONE, RingBuilder};
    use crate::error::{ObjectStoreError, Result};
    use crate::ring::device::Device;

    #[derive(Serialize, Deserialize)]
    struct Header {
        part_power: u32,
        replicas: f64,
        min_part_hours: u8,
        overload: f64,
        devs: Vec<Option<Device>>,
        removed: Vec<u32>,
        row_lens: Vec<usize>,
        last_part_moves_epoch: u64,
        version: u64,
        next_part_power: Option<u32>,
        seed: u64,
        dev_id_bytes: u8,
    }

    const MAX_PART_POWER: u32 = 26;

    impl RingBuilder {
        /// Saves the builder (atomically: temporary file + rename).
        pub fn save(&self, path: impl AsRef<std::path::Path>) -> Result<()> {
            let path = path.as_ref();
            let io = |source| ObjectStoreError::Io { path: path.display().to_string(), source };
            let h = Header {
                part_power: self.part_power,
                replicas: self.replicas,
                min_part_hours: self.min_part_hours,
                overload: self.overload,
                devs: self.devs.clone(),
                removed: self.removed.clone(),
                row_lens: self.r2p2d.iter().map(Vec::len).collect(),
                last_part_moves_epoch: self.last_part_moves_epoch,
                version: self.version,
                next_part_power: self.next_part_power,
                seed: self.seed,
                dev_id_bytes: self.dev_id_bytes,
            };
            let json = serde_json::to_vec(&h)
                .map_err(|e| ObjectStoreError::invalid_input(e.to_string()))?;
            let tmp = path.with_extension("tmp-save");
            let f = std::fs::File::create(&tmp).map_err(io)?;
            let mut gz = flate2::write::GzEncoder::new(
                std::io::BufWriter::new(f),
                flate2::Compression::fast(),
            );
            let mut body = Vec::with_capacity(8 + json.len());
            body.extend_from_slice(b"FSRB");
            body.extend_from_slice(&(json.len() as u32).to_le_bytes());
            body.extend_from_slice(&json);
            gz.write_all(&body).map_err(io)?;
            let mut buf = Vec::with_capacity(1 << 16);
            for row in &self.r2p2d {
                for &d in row {
                    buf.extend_from_slice(&d.to_le_bytes());
                    if buf.len() >= 1 << 16 {
                        gz.write_all(&buf).map_err(io)?;
                        buf.clear();
                    }
                }
            }
            gz.write_all(&buf).map_err(io)?;
            gz.write_all(&self.last_part_moves).map_err(io)?;
            gz.finish().map_err(io)?.flush().map_err(io)?;
            std::fs::rename(&tmp, path).map_err(io)
        }

        /// Loads a builder saved by [`RingBuilder::save`]. The file is checked like a ring
        /// file: sizes are bounded before allocation and device ids must exist.
        pub fn load(path: impl AsRef<std::path::Path>) -> Result<RingBuilder> {
            let path = path.as_ref();
            let bad = |m: &str| ObjectStoreError::InvalidRing(format!("builder file: {m}"));
            let f = std::fs::File::open(path).map_err(|source| ObjectStoreError::Io {
                path: path.display().to_string(),
                source,
            })?;
            let mut gz = flate2::read::GzDecoder::new(std::io::BufReader::new(f));
            let mut head = [0u8; 8];
            gz.read_exact(&mut head).map_err(|_| bad("truncated"))?;
            if &head[..4] != b"FSRB" {
                return Err(bad("bad magic"));
            }
            let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as u64;
            let mut json = Vec::new();
            (&mut gz)
                .take(len.min(256 << 20))
                .read_to_end(&mut json)
                .map_err(|_| bad("truncated header"))?;
            if json.len() as u64 != len {
                return Err(bad("truncated header"));
            }
            let h: Header = serde_json::from_slice(&json).map_err(|e| bad(&e.to_string()))?;
            if h.part_power > MAX_PART_POWER || h.row_lens.len() > 64 {
                return Err(bad("part power or replica count out of range"));
            }
            let parts = 1usize << h.part_power;
            let mut b = RingBuilder::new(h.part_power, h.replicas, h.min_part_hours)?;
            b.set_overload(h.overload)?;
            for &l in &h.row_lens {
                if l > parts {
                    return Err(bad("replica array longer than the partition count"));
                }
                let mut raw = Vec::new();
                (&mut gz)
                    .take(4 * l as u64)
                    .read_to_end(&mut raw)
                    .map_err(|_| bad("truncated table"))?;
                if raw.len() != 4 * l {
                    return Err(bad("truncated table"));
                }
                let row: Vec<u32> = raw
                    .chunks_exact(4)
                    .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect();
                if row
                    .iter()
                    .any(|&d| d != NONE && h.devs.get(d as usize).is_none_or(|x| x.is_none()))
                {
                    return Err(bad("table names a missing device"));
                }
                b.r2p2d.push(row);
            }
            let mut lpm = Vec::new();
            if !b.r2p2d.is_empty() {
                (&mut gz).take(parts as u64).read_to_end(&mut lpm).map_err(|_| bad("truncated"))?;
                if lpm.len() != parts {
                    return Err(bad("truncated last_part_moves"));
                }
            }
            for (i, d) in h.devs.iter().enumerate() {
                if d.as_ref().is_some_and(|d| d.id as usize != i) {
                    return Err(bad("device id does not match its index"));
                }
            }
            b.devs = h.devs;
            b.removed = h
                .removed
                .into_iter()
                .filter(|&id| b.devs.get(id as usize).is_some_and(|d| d.is_some()))
                .collect();
            b.last_part_moves = lpm;
            b.last_part_moves_epoch = h.last_part_moves_epoch;
            b.version = h.version;
            b.next_part_power = h.next_part_power;
            b.seed = h.seed;
            b.dev_id_bytes = if h.dev_id_bytes == 4 { 4 } else { 2 };
            Ok(b)
        }
    }
}
