// SPDX-License-Identifier: Apache-2.0
//! The immutable lookup side of the ring: name → partition → primary and handoff devices.

use std::collections::HashMap;
use std::path::Path;

use md5::Digest;

use super::device::Device;
use super::format::{LoadLimits, RingData};
use super::md5x4;
use crate::error::{ObjectStoreError, Result};

/// Which hash maps a path to a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashMode {
    /// `md5(prefix + "/" + path + suffix)`, exactly as Swift's `hash_path`: rings and answers
    /// are interchangeable with Swift's.
    SwiftMd5,
    /// xxh3-64 over the same bytes: several times faster, but **not** Swift-compatible (the
    /// same name lands on a different partition). Use only in all-Ferrostack deployments.
    NativeXxh3,
}

/// Hashes `account/container/object` paths to the 32-bit key whose top `part_power` bits are
/// the partition. Holds the cluster's secret prefix and suffix (`swift.conf [swift-hash]`).
#[derive(Clone, PartialEq, Eq)]
pub struct PathHasher {
    prefix: Vec<u8>,
    suffix: Vec<u8>,
    mode: HashMode,
}

impl std::fmt::Debug for PathHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The prefix and suffix are cluster secrets: do not print them.
        f.debug_struct("PathHasher").field("mode", &self.mode).finish_non_exhaustive()
    }
}

const STACK_BUF: usize = 192;

impl PathHasher {
    /// Swift-compatible hashing with `HASH_PATH_PREFIX` and `HASH_PATH_SUFFIX`.
    pub fn swift(prefix: impl AsRef<[u8]>, suffix: impl AsRef<[u8]>) -> Self {
        Self::with_mode(prefix, suffix, HashMode::SwiftMd5)
    }

    /// Hashing with an explicit [`HashMode`].
    pub fn with_mode(prefix: impl AsRef<[u8]>, suffix: impl AsRef<[u8]>, mode: HashMode) -> Self {
        PathHasher { prefix: prefix.as_ref().to_vec(), suffix: suffix.as_ref().to_vec(), mode }
    }

    /// The hash mode.
    pub fn mode(&self) -> HashMode {
        self.mode
    }

    /// The key of an already joined path `account[/container[/object]]` (no leading slash).
    #[inline]
    pub fn key_joined(&self, path: &[u8]) -> u32 {
        let n = self.prefix.len() + 1 + path.len() + self.suffix.len();
        if n <= STACK_BUF {
            let mut buf = [0u8; STACK_BUF];
            let p = self.prefix.len();
            buf[..p].copy_from_slice(&self.prefix);
            buf[p] = b'/';
            buf[p + 1..p + 1 + path.len()].copy_from_slice(path);
            buf[p + 1 + path.len()..n].copy_from_slice(&self.suffix);
            self.key_of_message(&buf[..n])
        } else {
            let mut buf = Vec::with_capacity(n);
            buf.extend_from_slice(&self.prefix);
            buf.push(b'/');
            buf.extend_from_slice(path);
            buf.extend_from_slice(&self.suffix);
            self.key_of_message(&buf)
        }
    }

    #[inline]
    fn key_of_message(&self, msg: &[u8]) -> u32 {
        match self.mode {
            HashMode::SwiftMd5 => {
                let d = md5::Md5::digest(msg);
                u32::from_be_bytes([d[0], d[1], d[2], d[3]])
            }
            HashMode::NativeXxh3 => (xxhash_rust::xxh3::xxh3_64(msg) >> 32) as u32,
        }
    }

    /// The key of `account`, `account/container` or `account/container/object`, joining the
    /// non-empty components as Swift's `hash_path` does.
    ///
    /// # Errors
    /// An object without a container is rejected, as in Swift.
    pub fn key(&self, account: &str, container: Option<&str>, object: Option<&str>) -> Result<u32> {
        let container = container.filter(|c| !c.is_empty());
        let object = object.filter(|o| !o.is_empty());
        if object.is_some() && container.is_none() {
            return Err(ObjectStoreError::invalid_input(
                "container is required if object is given",
            ));
        }
        let mut path = String::with_capacity(account.len() + 64);
        path.push_str(account);
        for part in [container, object].into_iter().flatten() {
            path.push('/');
            path.push_str(part);
        }
        Ok(self.key_joined(path.as_bytes()))
    }

    /// Keys of many joined paths at once. In md5 mode, single-block messages are hashed four at
    /// a time with an interleaved md5, which is faster than one at a time.
    pub fn keys_joined<P: AsRef<[u8]>>(&self, paths: &[P], out: &mut Vec<u32>) {
        out.clear();
        out.reserve(paths.len());
        if self.mode != HashMode::SwiftMd5 {
            out.extend(paths.iter().map(|p| self.key_joined(p.as_ref())));
            return;
        }
        let fixed = self.prefix.len() + 1 + self.suffix.len();
        let mut i = 0;
        while i < paths.len() {
            let group = &paths[i..paths.len().min(i + 4)];
            if group.len() == 4
                && group.iter().all(|p| fixed + p.as_ref().len() <= md5x4::MAX_ONE_BLOCK)
            {
                let mut blocks = [[0u8; 64]; 4];
                for (b, p) in blocks.iter_mut().zip(group) {
                    md5x4::fill_block(b, &[&self.prefix, b"/", p.as_ref(), &self.suffix]);
                }
                out.extend(md5x4::first_words_be(&blocks));
            } else {
                out.extend(group.iter().map(|p| self.key_joined(p.as_ref())));
            }
            i += group.len();
        }
    }
}

/// An immutable, `Arc`-shareable ring: Swift's `Ring` with O(1) lookups.
///
/// ```
/// use ferrostack_objectstore::ring::{NewDevice, PathHasher, RingBuilder};
/// let mut b = RingBuilder::new(8, 3.0, 1).unwrap();
/// for z in 1..=3 {
///     b.add_dev(NewDevice::new(1, z, &format!("10.0.0.{z}"), 6200, "sdb", 100.0)).unwrap();
/// }
/// b.rebalance().unwrap();
/// let ring = b.ring(PathHasher::swift("startcap", "endcap"));
/// let (part, devs) = ring.get_nodes("AUTH_test", Some("c"), Some("o")).unwrap();
/// assert!(part < 256);
/// assert_eq!(devs.len(), 3);
/// ```
#[derive(Debug, Clone)]
pub struct Ring {
    data: RingData,
    hasher: PathHasher,
    part_shift: u32,
    // Dense tier indices per device id (u32::MAX for holes), for the handoff walk.
    dev_region: Vec<u32>,
    dev_zone: Vec<u32>,
    dev_ip: Vec<u32>,
    n_regions: usize,
    n_zones: usize,
    n_ips: usize,
    n_assigned: usize,
}

/// The primary device ids of one partition, without duplicates, in replica order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Primaries {
    ids: [u32; Primaries::CAP],
    len: u8,
}

impl Primaries {
    /// Largest replica count served without allocation by [`Ring::primaries`].
    pub const CAP: usize = 15;

    /// The ids.
    pub fn as_slice(&self) -> &[u32] {
        &self.ids[..self.len as usize]
    }
}

impl Ring {
    /// Wraps validated ring data with the hasher of the cluster.
    pub fn new(data: RingData, hasher: PathHasher) -> Result<Ring> {
        data.validate()?;
        if data.replica2part2dev.is_empty() {
            return Err(ObjectStoreError::invalid_ring("ring has no partition assignments"));
        }
        if data.replica2part2dev.len() > Primaries::CAP {
            return Err(ObjectStoreError::invalid_ring(format!(
                "{} replicas; at most {} supported",
                data.replica2part2dev.len(),
                Primaries::CAP
            )));
        }
        let n = data.devs.len();
        let (mut dev_region, mut dev_zone, mut dev_ip) =
            (vec![u32::MAX; n], vec![u32::MAX; n], vec![u32::MAX; n]);
        let mut regions = HashMap::new();
        let mut zones = HashMap::new();
        let mut ips = HashMap::new();
        for d in data.devs.iter().flatten() {
            let i = d.id as usize;
            let next = regions.len() as u32;
            dev_region[i] = *regions.entry(d.region).or_insert(next);
            let next = zones.len() as u32;
            dev_zone[i] = *zones.entry((d.region, d.zone)).or_insert(next);
            let next = ips.len() as u32;
            dev_ip[i] = *ips.entry((d.region, d.zone, d.ip.clone())).or_insert(next);
        }
        // As Swift's _update_bookkeeping: only devices with assignments count.
        let mut has_parts = vec![false; n];
        for row in &data.replica2part2dev {
            for &id in row {
                has_parts[id as usize] = true;
            }
        }
        let mut r = vec![false; regions.len()];
        let mut z = vec![false; zones.len()];
        let mut s = vec![false; ips.len()];
        let mut n_assigned = 0;
        for (i, &has) in has_parts.iter().enumerate() {
            if has {
                n_assigned += 1;
                r[dev_region[i] as usize] = true;
                z[dev_zone[i] as usize] = true;
                s[dev_ip[i] as usize] = true;
            }
        }
        let count = |v: &[bool]| v.iter().filter(|x| **x).count();
        Ok(Ring {
            part_shift: data.part_shift,
            n_regions: count(&r),
            n_zones: count(&z),
            n_ips: count(&s),
            n_assigned,
            dev_region,
            dev_zone,
            dev_ip,
            data,
            hasher,
        })
    }

    /// Loads a Swift `.ring.gz` (v1 or v2).
    pub fn load(path: impl AsRef<Path>, hasher: PathHasher) -> Result<Ring> {
        Ring::new(RingData::load_with_limits(path, LoadLimits::default())?, hasher)
    }

    /// The ring's data (devices and table).
    pub fn data(&self) -> &RingData {
        &self.data
    }

    /// The hasher.
    pub fn hasher(&self) -> &PathHasher {
        &self.hasher
    }

    /// Partition power.
    pub fn part_power(&self) -> u32 {
        32 - self.part_shift
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> usize {
        self.data.partition_count()
    }

    /// The device with `id`, if any.
    pub fn device(&self, id: u32) -> Option<&Device> {
        self.data.devs.get(id as usize).and_then(Option::as_ref)
    }

    /// The partition of a 32-bit path key.
    #[inline]
    pub fn partition_of_key(&self, key: u32) -> u32 {
        // part_shift may be 32 (part power 0): shifting a u32 by 32 is not allowed.
        ((key as u64) >> self.part_shift) as u32
    }

    /// The partition of a joined path `account[/container[/object]]`.
    #[inline]
    pub fn partition_of_path(&self, path: &[u8]) -> u32 {
        self.partition_of_key(self.hasher.key_joined(path))
    }

    /// Swift's `get_part`.
    pub fn partition(
        &self,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> Result<u32> {
        Ok(self.partition_of_key(self.hasher.key(account, container, object)?))
    }

    /// The primary device ids of `part` in replica order without duplicates (Swift's
    /// `_get_part_nodes`). `part` must be below [`Ring::partition_count`].
    #[inline]
    pub fn primaries(&self, part: u32) -> Primaries {
        let mut p = Primaries { ids: [0; Primaries::CAP], len: 0 };
        let part = part as usize;
        for row in &self.data.replica2part2dev {
            if let Some(&id) = row.get(part)
                && !p.as_slice().contains(&id)
            {
                p.ids[p.len as usize] = id;
                p.len += 1;
            }
        }
        p
    }

    /// Swift's `get_nodes`: the partition and its primary devices.
    pub fn get_nodes(
        &self,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> Result<(u32, Vec<&Device>)> {
        let part = self.partition(account, container, object)?;
        let devs =
            self.primaries(part).as_slice().iter().filter_map(|&id| self.device(id)).collect();
        Ok((part, devs))
    }

    /// Swift's `get_more_nodes`: handoff device ids for `part`, in exactly Swift's order.
    pub fn handoffs(&self, part: u32) -> Handoffs<'_> {
        Handoffs::new(self, part)
    }

    /// Looks up many joined paths: fills `out` with each path's partition and primaries.
    pub fn lookup_batch<P: AsRef<[u8]>>(&self, paths: &[P], out: &mut BatchLookup) {
        self.hasher.keys_joined(paths, &mut out.keys);
        out.parts.clear();
        out.primaries.clear();
        out.parts.reserve(paths.len());
        out.primaries.reserve(paths.len());
        for &k in &out.keys {
            let part = self.partition_of_key(k);
            out.parts.push(part);
            out.primaries.push(self.primaries(part));
        }
    }

    /// [`Ring::lookup_batch`] split over `threads` scoped threads (the ring is shared, not
    /// copied). Results are in input order.
    pub fn lookup_batch_parallel<P: AsRef<[u8]> + Sync>(
        &self,
        paths: &[P],
        threads: usize,
    ) -> Vec<(u32, Primaries)> {
        let threads = threads.max(1);
        let chunk = paths.len().div_ceil(threads).max(1);
        std::thread::scope(|s| {
            let handles: Vec<_> = paths
                .chunks(chunk)
                .map(|c| {
                    s.spawn(move || {
                        let mut b = BatchLookup::default();
                        self.lookup_batch(c, &mut b);
                        b.parts.into_iter().zip(b.primaries).collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        })
    }
}

/// Reusable output buffers of [`Ring::lookup_batch`].
#[derive(Debug, Clone, Default)]
pub struct BatchLookup {
    keys: Vec<u32>,
    /// Partition of each path.
    pub parts: Vec<u32>,
    /// Primary device ids of each path.
    pub primaries: Vec<Primaries>,
}

struct Bits {
    words: Vec<u64>,
    count: usize,
}

impl Bits {
    fn new(n: usize) -> Self {
        Bits { words: vec![0; n.div_ceil(64).max(1)], count: 0 }
    }
    #[inline]
    fn has(&self, i: u32) -> bool {
        self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }
    #[inline]
    fn insert(&mut self, i: u32) {
        let w = &mut self.words[(i / 64) as usize];
        let b = 1u64 << (i % 64);
        if *w & b == 0 {
            *w |= b;
            self.count += 1;
        }
    }
}

/// The handoff order of Swift's `Ring.get_more_nodes`, as an iterator of device ids.
///
/// Four sweeps over the partitions `start, start+inc, ...` (wrapping), where `start` is the
/// top bits of `md5(str(part))` and `inc = max(1, parts / 65536)`: first devices in unused
/// regions, then unused zones, then unused servers, then any unused device.
pub struct Handoffs<'a> {
    ring: &'a Ring,
    used: Bits,
    regions: Bits,
    zones: Bits,
    ips: Bits,
    sweep: u8,
    started: bool,
    start: usize,
    inc: usize,
    phase: u8,
    next_hp: usize,
    cur: Option<usize>,
    r: usize,
}

impl std::fmt::Debug for Handoffs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handoffs").field("sweep", &self.sweep).field("cur", &self.cur).finish()
    }
}

impl<'a> Handoffs<'a> {
    fn new(ring: &'a Ring, part: u32) -> Self {
        let n = ring.data.devs.len();
        let mut h = Handoffs {
            ring,
            used: Bits::new(n),
            regions: Bits::new(ring.dev_region.len()),
            zones: Bits::new(ring.dev_zone.len()),
            ips: Bits::new(ring.dev_ip.len()),
            sweep: 0,
            started: false,
            start: 0,
            inc: 1,
            phase: 0,
            next_hp: 0,
            cur: None,
            r: 0,
        };
        for &id in ring.primaries(part).as_slice() {
            let i = id as usize;
            h.used.insert(id);
            h.regions.insert(ring.dev_region[i]);
            h.zones.insert(ring.dev_zone[i]);
            h.ips.insert(ring.dev_ip[i]);
        }
        let parts = ring.partition_count();
        let digest = md5::Md5::digest(part.to_string().as_bytes());
        let key = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
        h.start = ring.partition_of_key(key) as usize;
        h.inc = (parts / 65536).max(1);
        h
    }

    fn hit_all(&self) -> bool {
        let r = self.ring;
        match self.sweep {
            0 => self.regions.count == r.n_regions,
            1 => self.zones.count == r.n_zones,
            2 => self.ips.count == r.n_ips,
            _ => self.used.count == r.n_assigned,
        }
    }

    /// The partition sequence: `range(start, parts, inc)` then
    /// `range(inc - ((parts - start) % inc), start, inc)`.
    fn next_seq(&mut self) -> Option<usize> {
        let parts = self.ring.partition_count();
        if self.phase == 0 {
            if self.next_hp < parts {
                let v = self.next_hp;
                self.next_hp += self.inc;
                return Some(v);
            }
            self.phase = 1;
            self.next_hp = self.inc - ((parts - self.start) % self.inc);
        }
        if self.next_hp < self.start {
            let v = self.next_hp;
            self.next_hp += self.inc;
            return Some(v);
        }
        None
    }
}

impl Iterator for Handoffs<'_> {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let ring = self.ring;
        let table = &ring.data.replica2part2dev;
        loop {
            if self.sweep >= 4 {
                return None;
            }
            if !self.started {
                if self.hit_all() {
                    self.sweep += 1;
                    continue;
                }
                self.started = true;
                self.phase = 0;
                self.next_hp = self.start;
                self.cur = self.next_seq();
                self.r = 0;
            }
            let Some(hp) = self.cur else {
                self.sweep += 1;
                self.started = false;
                continue;
            };
            if self.r >= table.len() {
                self.cur = self.next_seq();
                self.r = 0;
                continue;
            }
            let row = &table[self.r];
            self.r += 1;
            let Some(&id) = row.get(hp) else { continue };
            if self.used.has(id) {
                continue;
            }
            let i = id as usize;
            let (reg, zone, ip) = (ring.dev_region[i], ring.dev_zone[i], ring.dev_ip[i]);
            let take = match self.sweep {
                0 => !self.regions.has(reg),
                1 => !self.zones.has(zone),
                2 => !self.ips.has(ip),
                _ => true,
            };
            if !take {
                continue;
            }
            self.used.insert(id);
            if self.sweep == 0 {
                self.regions.insert(reg);
            }
            if self.sweep <= 1 {
                self.zones.insert(zone);
            }
            if self.sweep <= 2 {
                self.ips.insert(ip);
            }
            if self.hit_all() {
                self.sweep += 1;
                self.started = false;
            }
            return Some(id);
        }
    }
}
