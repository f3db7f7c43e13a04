// SPDX-License-Identifier: Apache-2.0
//! The tier tree and Swift's replica plan (weighted, wanted, target replicanths and the
//! required overload), computed per tier as in Swift's `RingBuilder`.

use std::collections::BTreeMap;

use super::device::Device;
use crate::error::{ObjectStoreError, Result};

/// Number of tier levels below the root: region, zone, server (ip), device.
pub(crate) const LEVELS: usize = 4;

/// A node of the tier tree. Level 0 is a region, 3 a device.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) children: Vec<usize>,
    pub(crate) n_devices: usize,
    pub(crate) weighted: f64,
    pub(crate) wanted: f64,
    pub(crate) target: f64,
    pub(crate) dispersed: f64,
    /// Device id for level-3 nodes.
    pub(crate) dev: u32,
}

/// The tier tree of the weighted devices with per-tier replicanths.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// `levels[l]` lists node indices of level `l` (0..4); root is node 0 (level "-1").
    pub(crate) nodes: Vec<Node>,
    pub(crate) levels: [Vec<usize>; LEVELS],
    /// For each device id: its node at each level (usize::MAX when not in the tree).
    pub(crate) dev_path: Vec<[usize; LEVELS]>,
    pub(crate) required_overload: f64,
    pub(crate) effective_overload: f64,
}

#[derive(PartialEq, Eq, PartialOrd, Ord, Clone)]
enum Key {
    Int(u32),
    Str(String),
}

impl Plan {
    /// Builds the tree from the devices with positive weight and computes Swift's plan.
    pub(crate) fn build(devs: &[Option<Device>], replicas: f64, overload: f64) -> Result<Plan> {
        let live: Vec<&Device> = devs.iter().flatten().filter(|d| d.weight > 0.0).collect();
        if live.is_empty() {
            return Err(ObjectStoreError::Conflict("the ring has no weighted devices".into()));
        }
        if (live.len() as f64) < replicas {
            return Err(ObjectStoreError::Conflict(format!(
                "replica count {replicas} requires more than {} devices",
                live.len()
            )));
        }
        // Tree with children sorted as Swift sorts tier tuples.
        type Tree = BTreeMap<Key, BTreeMap<Key, BTreeMap<Key, BTreeMap<Key, u32>>>>;
        let mut tree: Tree = BTreeMap::new();
        for d in &live {
            tree.entry(Key::Int(d.region))
                .or_default()
                .entry(Key::Int(d.zone))
                .or_default()
                .entry(Key::Str(d.ip.clone()))
                .or_default()
                .insert(Key::Int(d.id), d.id);
        }
        let blank = Node {
            children: vec![],
            n_devices: 0,
            weighted: 0.0,
            wanted: 0.0,
            target: 0.0,
            dispersed: 0.0,
            dev: u32::MAX,
        };
        let mut nodes = vec![blank.clone()];
        let mut levels: [Vec<usize>; LEVELS] = Default::default();
        let mut dev_path = vec![[usize::MAX; LEVELS]; devs.len()];
        for zones in tree.values() {
            let r = nodes.len();
            nodes.push(blank.clone());
            nodes[0].children.push(r);
            levels[0].push(r);
            for servers in zones.values() {
                let z = nodes.len();
                nodes.push(blank.clone());
                nodes[r].children.push(z);
                levels[1].push(z);
                for ids in servers.values() {
                    let s = nodes.len();
                    nodes.push(blank.clone());
                    nodes[z].children.push(s);
                    levels[2].push(s);
                    for &id in ids.values() {
                        let d = nodes.len();
                        nodes.push(Node { dev: id, n_devices: 1, ..blank.clone() });
                        nodes[s].children.push(d);
                        levels[3].push(d);
                        dev_path[id as usize] = [r, z, s, d];
                    }
                }
            }
        }
        // Device counts up the tree.
        for l in (0..LEVELS - 1).rev() {
            for &n in &levels[l] {
                nodes[n].n_devices = nodes[n].children.iter().map(|&c| nodes[c].n_devices).sum();
            }
        }
        nodes[0].n_devices = levels[0].iter().map(|&c| nodes[c].n_devices).sum();

        // Weighted replicanths: by weight, devices capped at 1, excess redistributed.
        let total_w: f64 = live.iter().map(|d| d.weight).sum();
        let mut w: BTreeMap<u32, f64> =
            live.iter().map(|d| (d.id, (d.weight * replicas / total_w).min(1.0))).collect();
        let mut room: Vec<u32> =
            live.iter().filter(|d| d.weight * replicas / total_w < 1.0).map(|d| d.id).collect();
        for _ in 0..1000 {
            let remaining = replicas - w.values().sum::<f64>();
            if remaining < 1e-10 {
                break;
            }
            room.retain(|d| w[d] < 1.0);
            let s: f64 = room.iter().map(|d| w[d]).sum();
            if s <= 0.0 {
                break;
            }
            let rel = remaining / s;
            for d in &room {
                let v = w.get_mut(d).expect("device in map");
                *v = (*v * (rel + 1.0)).min(1.0);
            }
        }
        for &d in &levels[3] {
            nodes[d].weighted = w[&nodes[d].dev];
        }
        sum_up(&mut nodes, &levels, |n| &mut n.weighted);

        // Dispersed (max replicas with float bound): children share the parent's equally.
        nodes[0].dispersed = replicas;
        for l in 0..LEVELS {
            let parents: Vec<usize> = if l == 0 { vec![0] } else { levels[l - 1].clone() };
            for p in parents {
                let k = nodes[p].children.len() as f64;
                let share = nodes[p].dispersed / k;
                for c in nodes[p].children.clone() {
                    nodes[c].dispersed = if l == LEVELS - 1 { share.min(1.0) } else { share };
                }
            }
        }

        // Wanted: Swift's place_replicas.
        place(&mut nodes, 0, replicas)?;

        // Required overload and target.
        let mut required = 0.0f64;
        for &d in &levels[3] {
            let n = &nodes[d];
            if n.weighted > 0.0 {
                required = required.max((n.wanted - n.weighted) / n.weighted);
            }
        }
        let effective = if required <= 0.0 { 0.0 } else { overload.min(required) };
        for n in nodes.iter_mut() {
            n.target = if required <= 0.0 {
                n.wanted
            } else {
                n.weighted + (n.wanted - n.weighted) / required * effective
            };
        }
        Ok(Plan {
            nodes,
            levels,
            dev_path,
            required_overload: required,
            effective_overload: effective,
        })
    }
}

fn sum_up(nodes: &mut [Node], levels: &[Vec<usize>; LEVELS], f: impl Fn(&mut Node) -> &mut f64) {
    for l in (0..LEVELS - 1).rev() {
        for &n in &levels[l] {
            let s: f64 = nodes[n].children.clone().iter().map(|&c| *f(&mut nodes[c])).sum();
            *f(&mut nodes[n]) = s;
        }
    }
    let s: f64 = levels[0].iter().map(|&c| *f(&mut nodes[c])).sum();
    *f(&mut nodes[0]) = s;
}

fn place(nodes: &mut Vec<Node>, tier: usize, replicanths: f64) -> Result<()> {
    if replicanths > nodes[tier].n_devices as f64 + 1e-9 {
        return Err(ObjectStoreError::Conflict(format!(
            "more replicanths ({replicanths}) than devices ({}) in a tier",
            nodes[tier].n_devices
        )));
    }
    nodes[tier].wanted = replicanths;
    let subs = nodes[tier].children.clone();
    if subs.is_empty() {
        return Ok(());
    }
    let min = |n: &Node| n.dispersed.floor();
    let max = |n: &Node| n.dispersed.ceil();
    let mut to_place = vec![0.0f64; subs.len()];
    let mut remaining = replicanths;
    let mut spread: Vec<usize> = (0..subs.len()).collect();
    let mut device_limited = false;
    for _ in 0..10_000 {
        let wsum: f64 = spread.iter().map(|&i| nodes[subs[i]].weighted).sum();
        let rel = if wsum > 0.0 { remaining / wsum } else { 0.0 };
        for &i in &spread {
            let n = &nodes[subs[i]];
            let mut r = to_place[i] + n.weighted * rel;
            if r < min(n) {
                r = min(n);
            } else if r > max(n) && !device_limited {
                r = max(n);
            }
            if r > n.n_devices as f64 {
                r = n.n_devices as f64;
            }
            to_place[i] = r;
        }
        remaining = replicanths - to_place.iter().sum::<f64>();
        if remaining < -1e-10 {
            spread = (0..subs.len()).filter(|&i| to_place[i] > min(&nodes[subs[i]])).collect();
        } else if remaining > 1e-10 {
            spread = (0..subs.len())
                .filter(|&i| {
                    let n = &nodes[subs[i]];
                    (n.n_devices as f64) > to_place[i] && to_place[i] < max(n)
                })
                .collect();
            if spread.is_empty() {
                device_limited = true;
                spread = (0..subs.len())
                    .filter(|&i| to_place[i] < nodes[subs[i]].n_devices as f64)
                    .collect();
            }
        } else {
            break;
        }
        if spread.is_empty() {
            break;
        }
    }
    for (i, &c) in subs.iter().enumerate() {
        place(nodes, c, to_place[i])?;
    }
    Ok(())
}
