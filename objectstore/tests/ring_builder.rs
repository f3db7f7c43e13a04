// SPDX-License-Identifier: Apache-2.0
//! Properties of the ring builder on random topologies: balance, dispersion, movement,
//! determinism; and robustness of the ring file parser.

use ferrostack_objectstore::ring::{
    LoadLimits, NewDevice, PathHasher, Ring, RingBuilder, RingData, RingFormat,
};
use proptest::prelude::*;

/// A topology: regions × zones × servers × disks with per-server weights.
#[derive(Debug, Clone)]
struct Topo {
    servers: Vec<(u32, u32, u32, u32, f64)>, // region, zone, server, disks, weight
}

impl Topo {
    fn devices(&self) -> Vec<NewDevice> {
        let mut v = vec![];
        for &(r, z, s, disks, w) in &self.servers {
            for d in 0..disks {
                v.push(NewDevice::new(r, z, &format!("10.{r}.{z}.{s}"), 6200, &format!("d{d}"), w));
            }
        }
        v
    }
}

/// Random topologies of three regions carrying the same weight, so that a fully dispersed,
/// weight-balanced layout of three replicas exists.
fn balanced_topo() -> impl Strategy<Value = Topo> {
    (3u32..=3, 1u32..=3, 1u32..=3, 1u32..=3, proptest::collection::vec(1u32..=4, 9)).prop_map(
        |(regions, zones, servers, disks, ws)| {
            let mut t = Topo { servers: vec![] };
            for r in 1..=regions {
                let mut i = 0;
                for z in 1..=zones {
                    for s in 1..=servers {
                        // Same multiset of server weights in every region, rotated.
                        let w = ws[((i + r as usize) % (zones * servers) as usize) % ws.len()]
                            as f64
                            * 1000.0;
                        t.servers.push((r, z, s, disks, w));
                        i += 1;
                    }
                }
            }
            t
        },
    )
}

/// Balanced topologies with at least two zones per region and two servers per zone.
fn spread_topo() -> impl Strategy<Value = Topo> {
    balanced_topo().prop_filter("at least 2 zones x 2 servers", |t| {
        t.servers.iter().any(|s| s.1 >= 2) && t.servers.iter().any(|s| s.2 >= 2)
    })
}

/// Any topology (weights may conflict with dispersion).
fn any_topo() -> impl Strategy<Value = Topo> {
    proptest::collection::vec((1u32..=3, 1u32..=3, 1u32..=3, 1u32..=3, 1u32..=4), 2..12).prop_map(
        |v| {
            let mut t = Topo { servers: vec![] };
            for (r, z, s, disks, w) in v {
                if !t.servers.iter().any(|x| (x.0, x.1, x.2) == (r, z, s)) {
                    t.servers.push((r, z, s, disks, w as f64 * 1000.0));
                }
            }
            t
        },
    )
}

fn build(t: &Topo, pp: u32, replicas: f64, seed: u64) -> Option<RingBuilder> {
    let devs = t.devices();
    if (devs.len() as f64) < replicas {
        return None;
    }
    let mut b = RingBuilder::new(pp, replicas, 1).unwrap();
    b.set_seed(seed);
    for d in devs {
        b.add_dev(d).unwrap();
    }
    b.rebalance().unwrap();
    Some(b)
}

/// Every device holds within one part-replica of its weight share, when that share is
/// possible at all (no device needs more than one replica of every partition) and weights do
/// not conflict with dispersion.
fn assert_weight_balanced(b: &RingBuilder) {
    assert_plan_balanced(b);
    if b.required_overload().unwrap() > 1e-9 {
        return;
    }
    let counts = b.part_counts();
    if b.weight_targets().iter().any(|&t| t > b.parts() as f64) {
        return;
    }
    for (i, t) in b.weight_targets().iter().enumerate() {
        if b.devices()[i].is_some() {
            assert!(
                (counts[i] as f64 - t).abs() <= 1.0 + 1e-9,
                "device {i}: {} part-replicas, weight target {t:.2}",
                counts[i]
            );
        }
    }
}

/// For every partition and tier: replicas in the tier <= ceil(the tier's weight share).
fn assert_dispersed_as_weights_allow(b: &RingBuilder) {
    let devs: Vec<_> = b.devices().iter().flatten().cloned().collect();
    let total: f64 = devs.iter().map(|d| d.weight).sum();
    let r = b.replicas();
    type Key = (u32, u32, String, u32);
    let key = |d: &ferrostack_objectstore::ring::Device, l: usize| -> Key {
        match l {
            0 => (d.region, 0, String::new(), 0),
            1 => (d.region, d.zone, String::new(), 0),
            2 => (d.region, d.zone, d.ip.clone(), 0),
            _ => (d.region, d.zone, d.ip.clone(), d.id + 1),
        }
    };
    // Replicanths by weight, a device capped at one replica of a partition (the excess goes
    // to the others in proportion to their weights).
    let mut dev_share: Vec<f64> = devs.iter().map(|d| d.weight / total * r).collect();
    for _ in 0..devs.len() {
        let capped: f64 = dev_share.iter().filter(|&&x| x >= 1.0).count() as f64;
        let free_w: f64 = dev_share.iter().filter(|&&x| x < 1.0).sum();
        let rest = r - capped;
        if dev_share.iter().all(|&x| x <= 1.0) && (free_w - rest).abs() < 1e-9 {
            break;
        }
        dev_share = dev_share
            .iter()
            .map(|&x| if x >= 1.0 { 1.0 } else { (x * rest / free_w).min(1.0) })
            .collect();
    }
    let mut share = std::collections::HashMap::<(usize, Key), f64>::new();
    for (d, s) in devs.iter().zip(&dev_share) {
        for l in 0..4 {
            *share.entry((l, key(d, l))).or_default() += s;
        }
    }
    let table = b.table();
    for p in 0..b.parts() {
        let mut seen = std::collections::HashMap::<(usize, Key), u32>::new();
        for row in table {
            if let Some(&id) = row.get(p) {
                let d = b.devices()[id as usize].as_ref().unwrap();
                for l in 0..4 {
                    *seen.entry((l, key(d, l))).or_default() += 1;
                }
            }
        }
        for (k, n) in seen {
            let max = (share[&k].min(if k.0 == 3 { 1.0 } else { f64::MAX }) - 1e-3).ceil().max(1.0)
                as u32;
            assert!(n <= max, "partition {p}: {n} replicas in tier {k:?} (share {:.3})", share[&k]);
        }
    }
}

/// Every device holds within one part-replica of the plan's target (weights, dispersion and
/// overload combined, as Swift's replica plan).
fn assert_plan_balanced(b: &RingBuilder) {
    let counts = b.part_counts();
    let targets = b.targets().unwrap();
    for (i, d) in b.devices().iter().enumerate() {
        if d.is_some() {
            assert!(
                (counts[i] as i64 - targets[i] as i64).abs() <= 1,
                "device {i} has {} for target {}",
                counts[i],
                targets[i]
            );
        }
    }
}

/// One device removed from a rebalanced ring (part power 11, 3 replicas), then one rebalance.
struct Removal {
    b: RingBuilder,
    moved: usize,
    unfinished: usize,
    /// A lower bound of the part-replicas that must move: the removed device's, or more when
    /// the removal raises other devices' targets (every part-replica a device gains moves).
    lower_bound: usize,
}

impl Removal {
    /// `None` when the topology is too small or a device would have to hold every partition
    /// after the removal (the minimum then depends on the cap redistribution).
    fn run(t: &Topo, pick: usize, seed: u64) -> Option<Removal> {
        let mut b = build(t, 11, 3.0, seed)?;
        let n = b.devices().iter().flatten().count();
        if n <= 3 {
            return None;
        }
        b.pretend_min_part_hours_passed();
        let id = b.devices().iter().flatten().nth(pick % n).unwrap().id;
        let before = b.part_counts();
        let had = before[id as usize];
        let table0 = b.table().to_vec();
        b.remove_dev(id).unwrap();
        let total_w: f64 = b.devices().iter().flatten().map(|d| d.weight).sum();
        if b.devices().iter().flatten().any(|d| d.weight / total_w * 3.0 >= 1.0 - 1e-9) {
            return None;
        }
        let r = b.rebalance().unwrap();
        assert!(b.devices()[id as usize].is_none());
        let gains: usize =
            b.targets().unwrap().iter().zip(&before).map(|(t, c)| t.saturating_sub(*c)).sum();
        if let Some(path) = std::env::var_os("FERROSTACK_RING_REMOVAL_DUMP") {
            // Input of scripts/ring/min_moves.py (the exact minimum, offline).
            let layout: Vec<_> = (0..before.len())
                .map(|i| {
                    let d = t.devices().into_iter().nth(i).unwrap();
                    (d.region, d.zone, d.ip, d.weight)
                })
                .collect();
            let json = serde_json::json!({"layout": layout, "rm": id, "before": table0,
                "targets": b.targets().unwrap(), "moved": r.moved, "seed": seed, "pick": pick});
            std::fs::write(path, json.to_string()).unwrap();
        }
        Some(Removal { b, moved: r.moved, unfinished: r.unfinished, lower_bound: had.max(gains) })
    }

    /// The most a single rebalance may move.
    ///
    /// `lower_bound` is not the minimum when the removal raises a tier's per-partition limit
    /// (a region that held one replica of every partition may now hold two of some): the new
    /// second replica must then go to another zone than the first, which the removed
    /// device's partitions cannot always offer, so other replicas move too. The exact minimum
    /// is an integer program (`scripts/ring/min_moves.py` solves it with HiGHS): over 1000
    /// random topologies it was up to 1.21x `lower_bound` (1098 for 910), 1.25x on the
    /// widest case seen in more than 10,000 (pinned in
    /// `removal_with_the_widest_gap_to_the_lower_bound_moves_near_the_minimum`), and the
    /// builder moved exactly that minimum on every case checked (the 30 worst by this ratio
    /// and 20 at random of 1000, and both pinned cases). `ring_movement_exact.rs` and the
    /// pinned tests check <= 1.02x the exact minimum in CI; this bound only leaves room for
    /// the gap between `lower_bound` and the minimum, so it catches gross excess only.
    fn max_moves(&self) -> usize {
        (1.35 * self.lower_bound as f64).max(self.lower_bound as f64 + 1.0) as usize
    }

    /// When the removal changes what other devices must hold, one replica per partition per
    /// rebalance may need more rounds, as in Swift.
    fn finish(&mut self) {
        for _ in 0..4 {
            if self.unfinished == 0 {
                break;
            }
            self.b.pretend_min_part_hours_passed();
            self.unfinished = self.b.rebalance().unwrap().unfinished;
        }
    }
}

fn min_moves_for_add(b: &RingBuilder, new_id: u32) -> usize {
    b.weight_targets()[new_id as usize].floor() as usize
}

/// Proptest settings: `cases` random cases from a fixed seed, so CI is deterministic.
/// `PROPTEST_CASES` and `PROPTEST_RNG_SEED` override both for wider local runs, e.g.
/// `PROPTEST_CASES=2000 PROPTEST_RNG_SEED=$RANDOM cargo test -p ferrostack-objectstore`.
fn config(cases: u32) -> ProptestConfig {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    ProptestConfig {
        cases: env("PROPTEST_CASES").map_or(cases, |c| c as u32),
        rng_seed: proptest::test_runner::RngSeed::Fixed(env("PROPTEST_RNG_SEED").unwrap_or(3)),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(24))]

    #[test]
    fn balanced_topologies_are_balanced_and_dispersed(t in balanced_topo(), seed in 0u64..1000) {
        let Some(b) = build(&t, 10, 3.0, seed) else { return Ok(()) };
        if b.required_overload().unwrap() < 1e-9 {
            assert_weight_balanced(&b);
        }
        assert_dispersed_as_weights_allow(&b);
        let regions = t.servers.iter().map(|s| s.0).max().unwrap();
        if regions >= 3 {
            prop_assert_eq!(b.dispersion().unwrap().distinct_pct[0], 100.0);
        }
    }

    #[test]
    fn any_topology_reaches_plan_targets(t in any_topo(), seed in 0u64..1000) {
        let Some(b) = build(&t, 9, 3.0, seed) else { return Ok(()) };
        // Every device within one part-replica of the plan, on any topology.
        assert_plan_balanced(&b);
        if b.required_overload().unwrap() < 1e-9 {
            assert_dispersed_as_weights_allow(&b);
        }
    }

    #[test]
    fn adding_one_device_moves_the_minimum(t in spread_topo(), w in 1u32..=4, seed in 0u64..1000) {
        let Some(mut b) = build(&t, 11, 3.0, seed) else { return Ok(()) };
        b.pretend_min_part_hours_passed();
        let before: Vec<Vec<u32>> = b.table().to_vec();
        let before_counts = b.part_counts();
        let id = b.add_dev(NewDevice::new(1, 1, "10.1.1.99", 6200, "new", w as f64 * 1000.0)).unwrap();
        let r = b.rebalance().unwrap();
        let changed: usize = before.iter().zip(b.table()).map(|(a, c)| a.iter().zip(c).filter(|(x, y)| x != y).count()).sum();
        prop_assert_eq!(changed, r.moved);
        // A lower bound of the minimum: every part-replica a device gains moves (the new
        // device's share, and more when the addition raises other devices' targets). One
        // rebalance moves at most 1.02x that. Over 1000 random inputs the worst was 1.007x
        // (618 for 614), and on the 15 worst the exact minimum (scripts/ring/min_moves.py)
        // equals this bound.
        let gains: usize = b.targets().unwrap().iter().enumerate()
            .map(|(i, t)| t.saturating_sub(before_counts.get(i).copied().unwrap_or(0))).sum();
        let min = gains.max(min_moves_for_add(&b, id));
        prop_assert!(r.moved as f64 <= (1.02 * min as f64).max(min as f64 + 1.0),
            "moved {} for a minimum of {}", r.moved, min);
        assert_plan_balanced(&b);
        if b.required_overload().unwrap() < 1e-9 {
            assert_dispersed_as_weights_allow(&b);
        }
    }

    #[test]
    fn removing_one_device_moves_only_its_part_replicas(t in spread_topo(), pick in 0usize..1000, seed in 0u64..1000) {
        let Some(mut rm) = Removal::run(&t, pick, seed) else { return Ok(()) };
        // See `Removal::max_moves` for why this is a ratio to a lower bound of the minimum.
        prop_assert!(rm.moved <= rm.max_moves(),
            "moved {} for a lower bound of {}", rm.moved, rm.lower_bound);
        rm.finish();
        assert_plan_balanced(&rm.b);
    }

    #[test]
    fn rebalance_is_deterministic(t in any_topo(), seed in 0u64..1000) {
        let (Some(a), Some(b)) = (build(&t, 8, 3.0, seed), build(&t, 8, 3.0, seed)) else { return Ok(()) };
        prop_assert_eq!(a.table(), b.table());
    }

    #[test]
    fn corrupt_ring_files_are_errors_not_panics(flips in proptest::collection::vec((0usize..4000, any::<u8>()), 1..8), cut in 0usize..4000, v2 in any::<bool>()) {
        let t = Topo { servers: vec![(1, 1, 1, 2, 1000.0), (1, 2, 1, 2, 1000.0), (2, 1, 1, 2, 1000.0)] };
        let b = build(&t, 6, 3.0, 1).unwrap();
        let fmt = if v2 { RingFormat::V2 } else { RingFormat::V1 };
        let good = b.ring_data().to_bytes(fmt).unwrap();
        // Corrupt the decompressed content (the gzip CRC would catch most raw flips).
        let mut raw = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&good[..]), &mut raw).unwrap();
        for (i, x) in &flips {
            let n = raw.len();
            raw[i % n] ^= x;
        }
        let _ = RingData::from_decompressed(&raw, LoadLimits::default());
        let _ = RingData::from_decompressed(&raw[..cut.min(raw.len())], LoadLimits::default());
        let mut gz = good.clone();
        for (i, x) in &flips {
            let n = gz.len();
            gz[i % n] ^= x;
        }
        let _ = RingData::from_reader(&gz[..], LoadLimits::default());
    }
}

#[test]
fn ring_files_round_trip_in_both_formats() {
    let t =
        Topo { servers: vec![(1, 1, 1, 3, 1000.0), (1, 2, 1, 3, 2000.0), (2, 1, 1, 2, 1500.0)] };
    let mut b = build(&t, 8, 2.5, 3).unwrap();
    b.prepare_increase_partition_power().unwrap();
    let data = b.ring_data();
    for fmt in [RingFormat::V1, RingFormat::V2] {
        let bytes = data.to_bytes(fmt).unwrap();
        let back = RingData::from_reader(&bytes[..], LoadLimits::default()).unwrap();
        assert_eq!(back, data, "{fmt:?}");
    }
}

#[test]
fn hostile_headers_are_rejected_before_allocating() {
    // A v1 header claiming part power 32 and 200 replicas.
    let hdr = br#"{"devs":[],"part_shift":0,"replica_count":200,"byteorder":"little"}"#;
    let mut raw = b"R1NG\x00\x01".to_vec();
    raw.extend_from_slice(&(hdr.len() as u32).to_be_bytes());
    raw.extend_from_slice(hdr);
    let err = RingData::from_decompressed(&raw, LoadLimits::default()).unwrap_err();
    assert!(err.to_string().contains("part_shift"), "{err}");
    // A JSON length beyond the data.
    let mut raw = b"R1NG\x00\x01".to_vec();
    raw.extend_from_slice(&u32::MAX.to_be_bytes());
    assert!(RingData::from_decompressed(&raw, LoadLimits::default()).is_err());
    // A gzip stream larger than the limit.
    let big = vec![0u8; 1 << 20];
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut enc, &big).unwrap();
    let gz = enc.finish().unwrap();
    let limits = LoadLimits { max_decompressed_bytes: 1000, ..LoadLimits::default() };
    assert!(RingData::from_reader(&gz[..], limits).unwrap_err().to_string().contains("exceeds"));
}

#[test]
fn partition_power_increase_keeps_every_name_on_its_devices() {
    let t =
        Topo { servers: vec![(1, 1, 1, 2, 1000.0), (1, 2, 1, 2, 1000.0), (2, 1, 1, 2, 1000.0)] };
    let mut b = build(&t, 8, 3.0, 1).unwrap();
    let h = PathHasher::swift("startcap", "endcap");
    let before = b.ring(h.clone());
    b.prepare_increase_partition_power().unwrap();
    b.increase_partition_power().unwrap();
    b.finish_increase_partition_power();
    let after = b.ring(h);
    assert_eq!(after.part_power(), 9);
    for i in 0..2000 {
        let name = format!("AUTH_a/c/o{i}");
        let p0 = before.partition_of_path(name.as_bytes());
        let p1 = after.partition_of_path(name.as_bytes());
        assert_eq!(p1 >> 1, p0);
        assert_eq!(before.primaries(p0), after.primaries(p1), "{name}");
    }
}

#[test]
fn min_part_hours_holds_partitions_that_moved_recently() {
    let t =
        Topo { servers: vec![(1, 1, 1, 2, 1000.0), (1, 2, 1, 2, 1000.0), (1, 3, 1, 2, 1000.0)] };
    let mut b = build(&t, 8, 3.0, 1).unwrap();
    // Just rebalanced: nothing may move for min_part_hours, except off removed devices.
    b.add_dev(NewDevice::new(1, 4, "10.1.4.1", 6200, "d0", 1000.0)).unwrap();
    let r = b.rebalance().unwrap();
    assert_eq!(r.moved, 0);
    assert!(r.unfinished > 0);
    b.pretend_min_part_hours_passed();
    let r = b.rebalance().unwrap();
    assert!(r.moved > 0);
    assert_weight_balanced(&b);
}

#[test]
fn native_mode_is_consistent_and_differs_from_md5() {
    let t =
        Topo { servers: vec![(1, 1, 1, 2, 1000.0), (1, 2, 1, 2, 1000.0), (2, 1, 1, 2, 1000.0)] };
    let b = build(&t, 12, 3.0, 1).unwrap();
    let md5 = b.ring(PathHasher::swift("p", "s"));
    let native = Ring::new(
        b.ring_data(),
        PathHasher::with_mode("p", "s", ferrostack_objectstore::ring::HashMode::NativeXxh3),
    )
    .unwrap();
    let names: Vec<String> = (0..1000).map(|i| format!("AUTH_a/cont/obj{i}")).collect();
    let mut batch = Default::default();
    native.lookup_batch(&names, &mut batch);
    let mut differs = 0;
    for (i, n) in names.iter().enumerate() {
        assert_eq!(batch.parts[i], native.partition_of_path(n.as_bytes()));
        differs += usize::from(
            native.partition_of_path(n.as_bytes()) != md5.partition_of_path(n.as_bytes()),
        );
    }
    assert!(differs > 900, "native hash should differ from md5, differs for {differs}");
    // Batch md5 equals one-at-a-time md5, including names too long for one md5 block.
    let mut names2 = names.clone();
    names2.push(format!("AUTH_a/cont/{}", "x".repeat(200)));
    md5.lookup_batch(&names2, &mut batch);
    for (i, n) in names2.iter().enumerate() {
        assert_eq!(batch.parts[i], md5.partition_of_path(n.as_bytes()), "{n}");
    }
    let par = md5.lookup_batch_parallel(&names2, 2);
    assert_eq!(par.iter().map(|x| x.0).collect::<Vec<_>>(), batch.parts);
}

/// The 120-device layout of Swift's benchmark (3 regions x 4 zones x 2 servers x 5 disks,
/// same weight multiset per region): one rebalance after adding or removing one device moves
/// at most 1.02x the minimum, and the ring stays balanced and dispersed.
#[test]
fn one_device_changes_on_swift_benchmark_layout() {
    let ws = [8000.0, 12000.0, 4000.0, 16000.0, 8000.0, 12000.0, 16000.0, 4000.0];
    let mut t = Topo { servers: vec![] };
    for r in 1..=3u32 {
        let mut i = r as usize;
        for z in 1..=4u32 {
            for s in 1..=2u32 {
                t.servers.push((r, z, s, 5, ws[i % ws.len()]));
                i += 1;
            }
        }
    }
    let base = build(&t, 14, 3.0, 7).unwrap();
    assert_weight_balanced(&base);
    assert_eq!(base.dispersion().unwrap().distinct_pct, [100.0; 4]);

    let mut add = base.clone();
    add.pretend_min_part_hours_passed();
    let id = add.add_dev(NewDevice::new(1, 1, "10.1.1.250", 6200, "new", 12000.0)).unwrap();
    let r = add.rebalance().unwrap();
    let min = min_moves_for_add(&add, id);
    assert!(r.moved as f64 <= 1.02 * min as f64, "add: moved {} for a minimum of {min}", r.moved);
    assert_weight_balanced(&add);

    let mut rm = base.clone();
    rm.pretend_min_part_hours_passed();
    let had = rm.part_counts()[5];
    rm.remove_dev(5).unwrap();
    let r = rm.rebalance().unwrap();
    assert!(
        r.moved as f64 <= 1.02 * had as f64,
        "remove: moved {} for a minimum of {had}",
        r.moved
    );
    assert_weight_balanced(&rm);
}

/// Removes device `pick % 12` from a 12-server layout `(region, zone, server, weight)` and
/// checks one rebalance against the exact minimum computed offline by
/// `scripts/ring/min_moves.py` (HiGHS MILP on the same table): the builder moves exactly
/// `exact_min` (the claim of the pinned cases below; the general goal is <= 1.02x), never
/// below `relaxed_min` (the minimum with targets relaxed by +-1, which would mean the builder
/// broke a dispersion limit).
fn pinned_removal(
    layout: [(u32, u32, u32, f64); 12],
    pick: usize,
    seed: u64,
    lower_bound: usize,
    exact_min: usize,
    relaxed_min: usize,
) {
    let t = Topo { servers: layout.iter().map(|&(r, z, s, w)| (r, z, s, 1, w)).collect() };
    let rm = Removal::run(&t, pick, seed).unwrap();
    assert_eq!(rm.lower_bound, lower_bound);
    assert!(rm.moved >= relaxed_min, "moved {} is below the relaxed minimum", rm.moved);
    assert_eq!(rm.moved, exact_min, "moved {} for an exact minimum of {exact_min}", rm.moved);
    assert_eq!(rm.unfinished, 0);
    assert_plan_balanced(&rm.b);
    assert_dispersed_as_weights_allow(&rm.b);
    assert!(rm.moved <= rm.max_moves());
}

/// CI once failed `removing_one_device_moves_only_its_part_replicas` here ("moved 1289 for a
/// minimum of 1024"): removing a 4000 device from region 2 leaves it 0.6 replicas per
/// partition, so regions 1 and 3 must hold two replicas of some partitions, in different
/// zones. The removed device's 1024 part-replicas are a lower bound only; the exact minimum
/// under the plan's per-partition limits and one move per partition is 1193 (1189 with
/// targets relaxed by +-1); the builder moves exactly 1193 (a max-flow places the removed
/// device's part-replicas). Swift 2.38.3's builder moves 1536 in its first rebalance on this
/// layout and 2011 over six rebalances, still 0.9 % off balance.
#[test]
fn removal_raising_a_region_limit_moves_near_the_minimum() {
    let layout = [
        (1, 1, 1, 2000.0),
        (1, 1, 2, 4000.0),
        (1, 2, 1, 1000.0),
        (1, 2, 2, 1000.0),
        (2, 1, 1, 4000.0),
        (2, 1, 2, 1000.0),
        (2, 2, 1, 1000.0),
        (2, 2, 2, 2000.0),
        (3, 1, 1, 1000.0),
        (3, 1, 2, 1000.0),
        (3, 2, 1, 2000.0),
        (3, 2, 2, 4000.0),
    ];
    pinned_removal(layout, 748, 48, 1024, 1193, 1189);
}

/// The widest gap seen between the cheap lower bound and the exact minimum (1025 for 819,
/// 1.25x; found by PROPTEST_RNG_SEED=31337): removing a 4000 device from region 2 leaves it
/// 0.9 replicas per partition. The builder moves exactly 1025; Swift 2.38.3 moves 1229 in its
/// first rebalance (10 % off balance) and 1638 over six.
#[test]
fn removal_with_the_widest_gap_to_the_lower_bound_moves_near_the_minimum() {
    let layout = [
        (1, 1, 1, 4000.0),
        (1, 1, 2, 4000.0),
        (1, 2, 1, 1000.0),
        (1, 2, 2, 1000.0),
        (2, 1, 1, 4000.0),
        (2, 1, 2, 1000.0),
        (2, 2, 1, 1000.0),
        (2, 2, 2, 4000.0),
        (3, 1, 1, 1000.0),
        (3, 1, 2, 1000.0),
        (3, 2, 1, 4000.0),
        (3, 2, 2, 4000.0),
    ];
    pinned_removal(layout, 976, 122, 819, 1025, 1021);
}
