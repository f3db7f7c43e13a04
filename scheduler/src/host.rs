// SPDX-License-Identifier: Apache-2.0
//! Host state in a layout built for scanning.
//!
//! [`HostTable`] keeps what every filter and weigher reads on every request in parallel
//! columns (struct of arrays, 181 bytes per host, see [`HostTable::hot_bytes_per_host`]),
//! and the rarely read parts (names, CPU info, supported instances, stats) in a cold
//! per-host record. Hosts that belong to the same set of aggregates share one
//! [`AggregateSet`], so aggregate-based filters and weight multipliers are evaluated once per
//! set and request instead of once per host. Instances are indexed by UUID to their host,
//! which answers group and hint questions in O(instances named by the request).
//!
//! Two kinds of numbers are kept per host:
//!
//! * **usage** (`used_*`): what is allocated on the host, the placement view; claims change
//!   it ([`HostTable::add_usage`]);
//! * **the HostState view** (`vcpus_used`, `free_ram_mb`, `free_disk_mb`, `num_instances`,
//!   `num_io_ops`): what filters and weighers see. It is derived from usage
//!   ([`HostTable::resync`]) and consumed in place during one multi-create request, exactly
//!   like Nova's `HostState.consume_from_request`.

use crate::error::SchedulerError;
use crate::ops::py_float;
use crate::types::Resources;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One host aggregate.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    /// Aggregate id.
    pub id: i64,
    /// Aggregate name.
    pub name: String,
    /// Metadata (`ssd=true`, `filter_tenant_id=a,b`, `cpu_weight_multiplier=2.0`, ...).
    pub metadata: BTreeMap<String, String>,
}

/// The aggregates one or more hosts belong to, with their metadata pre-merged.
#[derive(Debug, Clone, Default)]
pub struct AggregateSet {
    /// Indexes into [`HostTable::aggregates`], ascending.
    pub members: Vec<u32>,
    /// Nova's `aggregate_metadata_get_by_host`: key → union of comma-split, stripped values.
    pub merged: BTreeMap<String, BTreeSet<String>>,
    /// The raw metadata of each aggregate, in `members` order.
    pub raw: Vec<BTreeMap<String, String>>,
}

impl AggregateSet {
    /// Nova's `aggregate_values_from_key`: the raw values of `key` over the aggregates.
    pub fn values(&self, key: &str) -> BTreeSet<&str> {
        self.raw.iter().filter_map(|m| m.get(key).map(String::as_str)).collect()
    }

    /// Nova's `get_weight_multiplier`: the minimum of the aggregates' `key` values parsed as
    /// floats, or `default` when there is none or one does not parse.
    pub fn weight_multiplier(&self, key: &str, default: f64) -> f64 {
        let vals = self.values(key);
        if vals.is_empty() {
            return default;
        }
        let mut out: Option<f64> = None;
        for v in vals {
            let Some(x) = py_float(v) else {
                return default;
            };
            // Python's min(): keeps the first unless a later one is strictly smaller.
            out = Some(match out {
                None => x,
                Some(m) if x < m => x,
                Some(m) => m,
            });
        }
        out.unwrap_or(default)
    }

    /// Nova's `validate_num_values(..., cast_to=int)` over the raw values of `key`: the
    /// minimum, or `default` when there is none or one is not an integer.
    pub fn min_int(&self, key: &str, default: i64) -> i64 {
        let vals = self.values(key);
        if vals.is_empty() {
            return default;
        }
        let mut out = i64::MAX;
        for v in vals {
            match crate::ops::py_int(v) {
                Some(x) => out = out.min(x),
                None => return default,
            }
        }
        out
    }

    /// Like [`AggregateSet::min_int`] with floats (`cast_to=float`).
    pub fn min_float(&self, key: &str, default: f64) -> f64 {
        self.weight_multiplier(key, default)
    }
}

/// What a compute node reports about itself (the parts of Nova's `ComputeNode` and service
/// record the scheduler uses).
#[derive(Debug, Clone, PartialEq)]
pub struct HostReport {
    /// Service host name.
    pub host: String,
    /// Hypervisor node name.
    pub nodename: String,
    /// Compute node UUID (its resource provider).
    pub uuid: String,
    /// Cell UUID.
    pub cell_uuid: String,
    /// Host IP address.
    pub host_ip: Option<String>,
    /// Physical CPUs.
    pub vcpus: u32,
    /// RAM in MiB.
    pub memory_mb: u64,
    /// RAM reserved for the host, MiB.
    pub reserved_host_memory_mb: u64,
    /// Local disk in GiB.
    pub local_gb: u64,
    /// Disk reserved for the host, GiB.
    pub reserved_host_disk_gb: u64,
    /// CPU allocation ratio.
    pub cpu_allocation_ratio: f64,
    /// RAM allocation ratio.
    pub ram_allocation_ratio: f64,
    /// Disk allocation ratio.
    pub disk_allocation_ratio: f64,
    /// Current I/O-heavy operations (`io_workload` stat).
    pub io_workload: u32,
    /// Consecutive failed builds.
    pub failed_builds: u32,
    /// Hypervisor type (`QEMU`).
    pub hypervisor_type: String,
    /// Hypervisor version in Nova's integer form (`7002000`).
    pub hypervisor_version: u64,
    /// `(arch, hv_type, vm_mode)` triples.
    pub supported_instances: Vec<Vec<String>>,
    /// CPU info document.
    pub cpu_info: serde_json::Value,
    /// Service disabled by an operator.
    pub disabled: bool,
    /// Service is up (reporting in time and not forced down).
    pub up: bool,
    /// Free PCI devices (PCIWeigher).
    pub free_pci_devs: u32,
    /// Extra stats (ComputeCapabilitiesFilter falls back to them).
    pub stats: BTreeMap<String, String>,
    /// Metrics (MetricsFilter, MetricsWeigher).
    pub metrics: BTreeMap<String, f64>,
}

impl Default for HostReport {
    fn default() -> Self {
        HostReport {
            host: String::new(),
            nodename: String::new(),
            uuid: String::new(),
            cell_uuid: String::new(),
            host_ip: None,
            vcpus: 0,
            memory_mb: 0,
            reserved_host_memory_mb: 0,
            local_gb: 0,
            reserved_host_disk_gb: 0,
            cpu_allocation_ratio: 4.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            io_workload: 0,
            failed_builds: 0,
            hypervisor_type: "QEMU".into(),
            hypervisor_version: 0,
            supported_instances: Vec::new(),
            cpu_info: serde_json::Value::Null,
            disabled: false,
            up: true,
            free_pci_devs: 0,
            stats: BTreeMap::new(),
            metrics: BTreeMap::new(),
        }
    }
}

/// Cold per-host data: read only by some filters, for some requests.
#[derive(Debug, Clone)]
pub struct HostInfo {
    /// The last report.
    pub report: HostReport,
    /// `cpu_info` serialised as Nova stores it (a JSON string).
    pub cpu_info_json: String,
    /// Aggregate ids the host belongs to.
    pub aggregate_ids: BTreeSet<i64>,
}

/// Flag bit: the service is disabled.
pub const FLAG_DISABLED: u8 = 1;
/// Flag bit: the service is down.
pub const FLAG_DOWN: u8 = 2;

/// The hosts one scheduler knows, as columns. Index `i` is the host's position in
/// registration order ("cluster order", which breaks weight ties).
#[derive(Debug, Clone, Default)]
pub struct HostTable {
    names: HashMap<String, u32>,
    /// Cold data.
    pub info: Vec<HostInfo>,
    // --- hot columns ---
    /// [`FLAG_DISABLED`] | [`FLAG_DOWN`].
    pub flags: Vec<u8>,
    /// Cell index (into [`HostTable::cells`]).
    pub cell: Vec<u32>,
    /// Aggregate set index (into [`HostTable::agg_sets`]).
    pub agg_set: Vec<u32>,
    /// Physical CPUs.
    pub vcpus_total: Vec<u32>,
    /// CPU allocation ratio.
    pub cpu_ratio: Vec<f64>,
    /// RAM allocation ratio.
    pub ram_ratio: Vec<f64>,
    /// Disk allocation ratio.
    pub disk_ratio: Vec<f64>,
    /// Total RAM, MiB.
    pub memory_mb: Vec<u64>,
    /// Reserved RAM, MiB.
    pub reserved_mb: Vec<u64>,
    /// Total disk, GiB.
    pub local_gb: Vec<u64>,
    /// Reserved disk, GiB.
    pub reserved_gb: Vec<u64>,
    /// Placement capacity `(total − reserved) × ratio`, per class.
    pub cap: Vec<[f64; 3]>,
    /// Placement usage per class (`VCPU`, `MEMORY_MB`, `DISK_GB`).
    pub used: Vec<[i64; 3]>,
    /// Instances on the host (truth).
    pub instance_count: Vec<u32>,
    /// `io_workload` as reported.
    pub io_workload: Vec<u32>,
    /// HostState view: vCPUs used.
    pub vcpus_used: Vec<i64>,
    /// HostState view: free RAM, MiB (may be negative with over-commit).
    pub free_ram_mb: Vec<i64>,
    /// HostState view: free disk, MiB.
    pub free_disk_mb: Vec<i64>,
    /// HostState view: instances.
    pub num_instances: Vec<u32>,
    /// HostState view: I/O operations.
    pub num_io_ops: Vec<u32>,
    /// Failed builds.
    pub failed_builds: Vec<u32>,
    /// Hypervisor version.
    pub hv_version: Vec<u64>,
    /// Free PCI devices.
    pub free_pci: Vec<u32>,
    /// Interned `supported_instances` list (index into [`HostTable::supported_sets`]).
    pub supported: Vec<u32>,
    /// Interned `(hypervisor_type, cpu_info)` pair: hosts with equal ids answer
    /// capability questions about those attributes alike.
    pub static_caps: Vec<u32>,
    // --- shared tables ---
    /// Cell UUIDs.
    pub cells: Vec<String>,
    /// Aggregates.
    pub aggregates: Vec<Aggregate>,
    /// Distinct aggregate memberships.
    pub agg_sets: Vec<AggregateSet>,
    /// Distinct `supported_instances` lists.
    pub supported_sets: Vec<Vec<Vec<String>>>,
    supported_index: HashMap<Vec<Vec<String>>, u32>,
    static_caps_index: HashMap<(String, String), u32>,
    agg_set_index: HashMap<Vec<u32>, u32>,
    /// Instance UUID → host index.
    instances: HashMap<String, u32>,
    /// Bumped on every aggregate change (caches keyed on aggregate sets check it).
    pub aggregate_generation: u64,
    stale: Vec<u32>,
}

/// A borrowed view of one host, what [`crate::HostFilter`]s and [`crate::HostWeigher`]s see.
#[derive(Debug, Clone, Copy)]
pub struct HostRef<'a> {
    /// The table.
    pub table: &'a HostTable,
    /// The host's index.
    pub idx: usize,
}

impl HostTable {
    /// An empty table.
    pub fn new() -> Self {
        let mut t = HostTable::default();
        t.agg_sets.push(AggregateSet::default());
        t.agg_set_index.insert(Vec::new(), 0);
        t
    }

    /// Number of distinct `(hypervisor_type, cpu_info)` pairs.
    pub fn static_caps_count(&self) -> usize {
        self.static_caps_index.len()
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.flags.len()
    }

    /// Whether there are no hosts.
    pub fn is_empty(&self) -> bool {
        self.flags.is_empty()
    }

    /// Index of host `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.names.get(name).map(|&i| i as usize)
    }

    /// A view of host `idx`.
    pub fn host(&self, idx: usize) -> HostRef<'_> {
        HostRef { table: self, idx }
    }

    /// Bytes of hot (scanned) state per host: the sum of the column element sizes.
    pub fn hot_bytes_per_host() -> usize {
        use std::mem::size_of;
        size_of::<u8>()
            + 2 * size_of::<u32>()
            + size_of::<u32>()
            + 3 * size_of::<f64>()
            + 4 * size_of::<u64>()
            + size_of::<[f64; 3]>()
            + size_of::<[i64; 3]>()
            + 2 * size_of::<u32>()
            + 3 * size_of::<i64>()
            + 3 * size_of::<u32>()
            + size_of::<u64>()
            + 3 * size_of::<u32>()
    }

    fn cell_index(&mut self, cell: &str) -> u32 {
        if let Some(i) = self.cells.iter().position(|c| c == cell) {
            return i as u32;
        }
        self.cells.push(cell.to_string());
        (self.cells.len() - 1) as u32
    }

    /// Adds a host, or replaces the report of a known one (usage and instances are kept).
    /// Returns its index.
    pub fn upsert_host(&mut self, r: HostReport) -> Result<usize, SchedulerError> {
        if r.host.is_empty() {
            return Err(SchedulerError::InvalidInput("host name is empty".into()));
        }
        for (what, x) in [
            ("cpu_allocation_ratio", r.cpu_allocation_ratio),
            ("ram_allocation_ratio", r.ram_allocation_ratio),
            ("disk_allocation_ratio", r.disk_allocation_ratio),
        ] {
            if !x.is_finite() || x < 0.0 {
                return Err(SchedulerError::InvalidInput(format!("{what} of {} is {x}", r.host)));
            }
        }
        let cell = self.cell_index(&r.cell_uuid);
        let cpu_info_json = match &r.cpu_info {
            serde_json::Value::Null => String::new(),
            v => v.to_string(),
        };
        let cap = [
            f64::from(r.vcpus) * r.cpu_allocation_ratio,
            (r.memory_mb.saturating_sub(r.reserved_host_memory_mb)) as f64 * r.ram_allocation_ratio,
            (r.local_gb.saturating_sub(r.reserved_host_disk_gb)) as f64 * r.disk_allocation_ratio,
        ];
        let idx = match self.names.get(&r.host) {
            Some(&i) => i as usize,
            None => {
                let i = self.flags.len();
                self.names.insert(r.host.clone(), i as u32);
                self.flags.push(0);
                self.cell.push(0);
                self.agg_set.push(0);
                self.vcpus_total.push(0);
                self.cpu_ratio.push(0.0);
                self.ram_ratio.push(0.0);
                self.disk_ratio.push(0.0);
                self.memory_mb.push(0);
                self.reserved_mb.push(0);
                self.local_gb.push(0);
                self.reserved_gb.push(0);
                self.cap.push([0.0; 3]);
                self.used.push([0; 3]);
                self.instance_count.push(0);
                self.io_workload.push(0);
                self.vcpus_used.push(0);
                self.free_ram_mb.push(0);
                self.free_disk_mb.push(0);
                self.num_instances.push(0);
                self.num_io_ops.push(0);
                self.failed_builds.push(0);
                self.hv_version.push(0);
                self.free_pci.push(0);
                self.supported.push(0);
                self.static_caps.push(0);
                self.info.push(HostInfo {
                    report: HostReport::default(),
                    cpu_info_json: String::new(),
                    aggregate_ids: BTreeSet::new(),
                });
                i
            }
        };
        self.flags[idx] = (u8::from(r.disabled) * FLAG_DISABLED) | (u8::from(!r.up) * FLAG_DOWN);
        self.cell[idx] = cell;
        self.vcpus_total[idx] = r.vcpus;
        self.cpu_ratio[idx] = r.cpu_allocation_ratio;
        self.ram_ratio[idx] = r.ram_allocation_ratio;
        self.disk_ratio[idx] = r.disk_allocation_ratio;
        self.memory_mb[idx] = r.memory_mb;
        self.reserved_mb[idx] = r.reserved_host_memory_mb;
        self.local_gb[idx] = r.local_gb;
        self.reserved_gb[idx] = r.reserved_host_disk_gb;
        self.cap[idx] = cap;
        self.io_workload[idx] = r.io_workload;
        self.failed_builds[idx] = r.failed_builds;
        self.hv_version[idx] = r.hypervisor_version;
        self.free_pci[idx] = r.free_pci_devs;
        self.supported[idx] = match self.supported_index.get(&r.supported_instances) {
            Some(&s) => s,
            None => {
                let s = self.supported_sets.len() as u32;
                self.supported_sets.push(r.supported_instances.clone());
                self.supported_index.insert(r.supported_instances.clone(), s);
                s
            }
        };
        let caps_key = (r.hypervisor_type.clone(), cpu_info_json.clone());
        let next = self.static_caps_index.len() as u32;
        self.static_caps[idx] = *self.static_caps_index.entry(caps_key).or_insert(next);
        self.info[idx].cpu_info_json = cpu_info_json;
        self.info[idx].report = r;
        self.resync(idx);
        Ok(idx)
    }

    /// Sets the placement usage of a host (for example after reading it from the store).
    pub fn set_usage(&mut self, idx: usize, used: Resources) {
        self.used[idx] = amounts(&used);
        self.resync(idx);
    }

    /// Sets a host's usage without touching its HostState view now (a request may be
    /// consuming it); the view is resynced by [`HostTable::resync_stale`], which the
    /// schedulers call when a request ends.
    pub fn set_usage_deferred(&mut self, idx: usize, used: Resources) {
        self.used[idx] = amounts(&used);
        self.stale.push(idx as u32);
    }

    /// Resyncs the view of hosts whose usage changed with [`HostTable::set_usage_deferred`].
    pub fn resync_stale(&mut self) {
        let stale = std::mem::take(&mut self.stale);
        for &h in &stale {
            self.resync(h as usize);
        }
        self.stale = stale;
        self.stale.clear();
    }

    /// Adds `r` (negated when `sign` is −1) to a host's usage (the view is not resynced).
    pub fn add_usage(&mut self, idx: usize, r: &Resources, sign: i64) {
        let (u, a) = (&mut self.used[idx], amounts(r));
        for k in 0..3 {
            u[k] += sign * a[k];
        }
    }

    /// The host's current usage (a class whose recorded usage is negative reads as 0).
    pub fn usage(&self, idx: usize) -> Resources {
        let [vcpus, ram_mb, disk_gb] = self.used[idx].map(|v| u64::try_from(v).unwrap_or(0));
        Resources { vcpus, ram_mb, disk_gb }
    }

    /// Placement's check: for every class with a non-zero amount, `amount ≤ max_unit` (the
    /// class total) and `used + amount ≤ (total − reserved) × ratio`.
    #[inline]
    pub fn fits(&self, idx: usize, r: &Resources) -> bool {
        let max_unit = [
            i64::from(self.vcpus_total[idx]),
            self.memory_mb[idx] as i64,
            self.local_gb[idx] as i64,
        ];
        fits_in(&self.used[idx], &self.cap[idx], max_unit, r)
    }

    /// Appends to `out` the hosts of `range` (ascending) that pass [`HostTable::fits`]:
    /// the same check as a scan over the columns, without per-host bounds checks.
    pub fn push_fitting(&self, r: &Resources, range: std::ops::Range<usize>, out: &mut Vec<u32>) {
        let cols = self.used[range.clone()]
            .iter()
            .zip(&self.cap[range.clone()])
            .zip(&self.vcpus_total[range.clone()])
            .zip(self.memory_mb[range.clone()].iter().zip(&self.local_gb[range.clone()]));
        for (i, (((u, c), &vcpus), (&mem, &disk))) in range.zip(cols) {
            if fits_in(u, c, [i64::from(vcpus), mem as i64, disk as i64], r) {
                out.push(i as u32);
            }
        }
    }

    /// Recomputes the HostState view of host `idx` from its usage and instances (Nova
    /// rebuilds HostState from the compute node on every request).
    pub fn resync(&mut self, idx: usize) {
        let u = self.used[idx];
        self.vcpus_used[idx] = u[0];
        self.free_ram_mb[idx] = self.memory_mb[idx] as i64 - self.reserved_mb[idx] as i64 - u[1];
        self.free_disk_mb[idx] = (self.local_gb[idx] as i64 - u[2]) * 1024;
        self.num_instances[idx] = self.instance_count[idx];
        self.num_io_ops[idx] = self.io_workload[idx];
    }

    /// Nova's `HostState.consume_from_request` on the view of host `idx`.
    pub fn consume(&mut self, idx: usize, flavor: &crate::types::Flavor) {
        self.free_ram_mb[idx] -= flavor.memory_mb as i64;
        self.free_disk_mb[idx] -= ((flavor.root_gb + flavor.ephemeral_gb) * 1024) as i64;
        self.vcpus_used[idx] += i64::from(flavor.vcpus);
        self.num_instances[idx] += 1;
        self.num_io_ops[idx] += 1;
    }

    /// Records that instance `uuid` lives on host `idx`.
    pub fn add_instance(&mut self, uuid: &str, idx: usize) {
        if let Some(old) = self.instances.insert(uuid.to_string(), idx as u32) {
            self.instance_count[old as usize] -= 1;
        }
        self.instance_count[idx] += 1;
    }

    /// Forgets instance `uuid`. Returns the host it was on.
    pub fn remove_instance(&mut self, uuid: &str) -> Option<usize> {
        let idx = self.instances.remove(uuid)? as usize;
        self.instance_count[idx] -= 1;
        Some(idx)
    }

    /// The host instance `uuid` is on.
    pub fn instance_host(&self, uuid: &str) -> Option<usize> {
        self.instances.get(uuid).map(|&i| i as usize)
    }

    /// Number of instances indexed.
    pub fn instance_total(&self) -> usize {
        self.instances.len()
    }

    /// Estimated heap bytes of the instance index: the hash table's buckets (key, value and
    /// one control byte each) and the UUID strings' buffers.
    pub fn instance_index_heap_bytes(&self) -> usize {
        let bucket = std::mem::size_of::<(String, u32)>() + 1;
        self.instances.capacity() * bucket
            + self.instances.keys().map(String::capacity).sum::<usize>()
    }

    /// Adds or replaces an aggregate with its member hosts (unknown host names are an error).
    pub fn set_aggregate(
        &mut self,
        agg: Aggregate,
        hosts: &[String],
    ) -> Result<(), SchedulerError> {
        let mut idxs = Vec::with_capacity(hosts.len());
        for h in hosts {
            idxs.push(self.index_of(h).ok_or_else(|| {
                SchedulerError::InvalidInput(format!("aggregate {} names unknown host {h}", agg.id))
            })?);
        }
        let id = agg.id;
        match self.aggregates.iter().position(|a| a.id == id) {
            Some(p) => self.aggregates[p] = agg,
            None => self.aggregates.push(agg),
        }
        for info in &mut self.info {
            info.aggregate_ids.remove(&id);
        }
        for &i in &idxs {
            self.info[i].aggregate_ids.insert(id);
        }
        self.rebuild_agg_sets();
        Ok(())
    }

    fn rebuild_agg_sets(&mut self) {
        self.agg_sets.clear();
        self.agg_set_index.clear();
        self.agg_sets.push(AggregateSet::default());
        self.agg_set_index.insert(Vec::new(), 0);
        let pos: HashMap<i64, u32> =
            self.aggregates.iter().enumerate().map(|(i, a)| (a.id, i as u32)).collect();
        for h in 0..self.len() {
            let mut key: Vec<u32> =
                self.info[h].aggregate_ids.iter().filter_map(|id| pos.get(id).copied()).collect();
            key.sort_unstable();
            let set = match self.agg_set_index.get(&key) {
                Some(&s) => s,
                None => {
                    let mut merged: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
                    let mut raw = Vec::new();
                    for &a in &key {
                        let md = &self.aggregates[a as usize].metadata;
                        for (k, v) in md {
                            merged
                                .entry(k.clone())
                                .or_default()
                                .extend(v.split(',').map(|x| x.trim().to_string()));
                        }
                        raw.push(md.clone());
                    }
                    let s = self.agg_sets.len() as u32;
                    self.agg_sets.push(AggregateSet { members: key.clone(), merged, raw });
                    self.agg_set_index.insert(key, s);
                    s
                }
            };
            self.agg_set[h] = set;
        }
        self.aggregate_generation += 1;
    }
}

impl<'a> HostRef<'a> {
    /// The host's cold record.
    pub fn info(&self) -> &'a HostInfo {
        &self.table.info[self.idx]
    }
    /// Service host name.
    pub fn name(&self) -> &'a str {
        &self.table.info[self.idx].report.host
    }
    /// Service disabled.
    pub fn disabled(&self) -> bool {
        self.table.flags[self.idx] & FLAG_DISABLED != 0
    }
    /// Service up.
    pub fn up(&self) -> bool {
        self.table.flags[self.idx] & FLAG_DOWN == 0
    }
    /// The host's aggregates.
    pub fn aggregates(&self) -> &'a AggregateSet {
        &self.table.agg_sets[self.table.agg_set[self.idx] as usize]
    }
    /// vCPUs.
    pub fn vcpus_total(&self) -> u32 {
        self.table.vcpus_total[self.idx]
    }
    /// vCPUs used (view).
    pub fn vcpus_used(&self) -> i64 {
        self.table.vcpus_used[self.idx]
    }
    /// Free RAM MiB (view).
    pub fn free_ram_mb(&self) -> i64 {
        self.table.free_ram_mb[self.idx]
    }
    /// Free disk MiB (view).
    pub fn free_disk_mb(&self) -> i64 {
        self.table.free_disk_mb[self.idx]
    }
    /// Total usable RAM MiB (the node's `memory_mb`).
    pub fn total_usable_ram_mb(&self) -> u64 {
        self.table.memory_mb[self.idx]
    }
    /// Total usable disk GiB (the node's `local_gb`).
    pub fn total_usable_disk_gb(&self) -> u64 {
        self.table.local_gb[self.idx]
    }
    /// Instances (view).
    pub fn num_instances(&self) -> u32 {
        self.table.num_instances[self.idx]
    }
    /// I/O operations (view).
    pub fn num_io_ops(&self) -> u32 {
        self.table.num_io_ops[self.idx]
    }
    /// CPU allocation ratio.
    pub fn cpu_allocation_ratio(&self) -> f64 {
        self.table.cpu_ratio[self.idx]
    }
    /// RAM allocation ratio.
    pub fn ram_allocation_ratio(&self) -> f64 {
        self.table.ram_ratio[self.idx]
    }
    /// Disk allocation ratio.
    pub fn disk_allocation_ratio(&self) -> f64 {
        self.table.disk_ratio[self.idx]
    }
    /// Failed builds.
    pub fn failed_builds(&self) -> u32 {
        self.table.failed_builds[self.idx]
    }
    /// Hypervisor version.
    pub fn hypervisor_version(&self) -> u64 {
        self.table.hv_version[self.idx]
    }
    /// Cell index.
    pub fn cell(&self) -> u32 {
        self.table.cell[self.idx]
    }
}

/// `r` as the table's signed columns (VCPU, MEMORY_MB, DISK_GB); an amount beyond `i64::MAX`
/// (never a real one) reads as `i64::MAX`, which fits nowhere.
#[inline]
fn amounts(r: &Resources) -> [i64; 3] {
    [r.vcpus, r.ram_mb, r.disk_gb].map(|v| i64::try_from(v).unwrap_or(i64::MAX))
}

/// [`HostTable::fits`] on one host's numbers: usage, capacity and `max_unit` per class
/// (VCPU, MEMORY_MB, DISK_GB).
#[inline]
fn fits_in(used: &[i64; 3], cap: &[f64; 3], max_unit: [i64; 3], r: &Resources) -> bool {
    let amt = amounts(r);
    (0..3).all(|k| amt[k] == 0 || !(amt[k] > max_unit[k] || (used[k] + amt[k]) as f64 > cap[k]))
}
