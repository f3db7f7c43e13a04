// SPDX-License-Identifier: Apache-2.0
//! Host weighers: the [`HostWeigher`] trait and Nova 34's thirteen weighers.
//!
//! Nova's `get_weighed_objects`, which [`crate::FilterScheduler`] reproduces bit for bit:
//! for each weigher in the configured order, `raw` is clamped to `[minval, maxval]`, then
//! normalised with `lo = minval` (or the minimum raw) and `hi = maxval` (or the maximum raw)
//! to `(raw − lo) / (hi − lo)`, or 0 for every host when `lo == hi`; the host's total weight
//! gets `multiplier(host) × normalised` added. The multiplier is the minimum of the host's
//! aggregates' `<option>` metadata parsed as floats, else the configured value.

use crate::filters::FilterContext;
use crate::host::{AggregateSet, HostRef, HostTable};
use crate::types::GroupPolicy;
use std::collections::BTreeMap;
use std::fmt::Debug;

/// A host weigher (Nova's `BaseHostWeigher`).
///
/// # Contract
/// * `weigh` is a pure function of the host's state and the request: no I/O, no panics.
/// * `weight_multiplier` depends only on the host's aggregates (the scheduler caches it per
///   aggregate set).
/// * `weigh_all` must write exactly `weigh` for each host, in order; overrides only make it
///   faster.
pub trait HostWeigher: Send + Sync + Debug {
    /// Nova's class name (`RAMWeigher`).
    fn name(&self) -> &'static str;
    /// Lower clamp and normalisation bound (`None`: the minimum raw value).
    fn minval(&self) -> Option<f64> {
        None
    }
    /// Upper clamp and normalisation bound (`None`: the maximum raw value).
    fn maxval(&self) -> Option<f64> {
        None
    }
    /// The multiplier for hosts in these aggregates.
    fn weight_multiplier(&self, aggs: &AggregateSet) -> f64;
    /// The raw weight of `host` (before clamping).
    fn weigh(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> f64;
    /// Raw weights of `hosts` into `out` (cleared first).
    fn weigh_all(
        &self,
        table: &HostTable,
        ctx: &FilterContext<'_>,
        hosts: &[u32],
        out: &mut Vec<f64>,
    ) {
        out.clear();
        out.extend(hosts.iter().map(|&i| self.weigh(table.host(i as usize), ctx)));
    }
    /// Whether every host gets the same raw weight for this request (the weigher can then
    /// be skipped: it adds `multiplier × 0`).
    fn is_constant(&self, _ctx: &FilterContext<'_>) -> bool {
        false
    }
}

macro_rules! column_weigher {
    ($(#[$doc:meta])* $ty:ident, $name:literal, $opt:literal, $default:expr, $minval:expr,
     |$t:ident, $i:ident| $raw:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $ty {
            /// The configured multiplier (aggregate metadata may override it per host).
            pub multiplier: f64,
        }
        impl Default for $ty {
            fn default() -> Self {
                $ty { multiplier: $default }
            }
        }
        impl HostWeigher for $ty {
            fn name(&self) -> &'static str {
                $name
            }
            fn minval(&self) -> Option<f64> {
                $minval
            }
            fn weight_multiplier(&self, aggs: &AggregateSet) -> f64 {
                aggs.weight_multiplier($opt, self.multiplier)
            }
            fn weigh(&self, host: HostRef<'_>, _: &FilterContext<'_>) -> f64 {
                let $t = host.table;
                let $i = host.idx;
                $raw
            }
            fn weigh_all(
                &self,
                table: &HostTable,
                _: &FilterContext<'_>,
                hosts: &[u32],
                out: &mut Vec<f64>,
            ) {
                let $t = table;
                out.clear();
                out.extend(hosts.iter().map(|&h| {
                    let $i = h as usize;
                    $raw
                }));
            }
        }
    };
}

column_weigher!(
    /// RAMWeigher: free RAM (`ram_weight_multiplier`, 1.0; negative stacks).
    RamWeigher, "RAMWeigher", "ram_weight_multiplier", 1.0, Some(0.0),
    |t, i| t.free_ram_mb[i] as f64
);
column_weigher!(
    /// CPUWeigher: `vcpus_total × cpu_allocation_ratio − vcpus_used`.
    CpuWeigher, "CPUWeigher", "cpu_weight_multiplier", 1.0, Some(0.0),
    |t, i| f64::from(t.vcpus_total[i]) * t.cpu_ratio[i] - t.vcpus_used[i] as f64
);
column_weigher!(
    /// DiskWeigher: free disk MiB.
    DiskWeigher, "DiskWeigher", "disk_weight_multiplier", 1.0, Some(0.0),
    |t, i| t.free_disk_mb[i] as f64
);
column_weigher!(
    /// IoOpsWeigher: I/O operations (`io_ops_weight_multiplier`, −1.0).
    IoOpsWeigher, "IoOpsWeigher", "io_ops_weight_multiplier", -1.0, Some(0.0),
    |t, i| f64::from(t.num_io_ops[i])
);
column_weigher!(
    /// PCIWeigher: `100 − min(free PCI devices, 99)`.
    PciWeigher, "PCIWeigher", "pci_weight_multiplier", 1.0, None,
    |t, i| f64::from(100 - t.free_pci[i].min(99))
);
column_weigher!(
    /// HypervisorVersionWeigher: the hypervisor version.
    HypervisorVersionWeigher, "HypervisorVersionWeigher",
    "hypervisor_version_weight_multiplier", 1.0, None,
    |t, i| t.hv_version[i] as f64
);
column_weigher!(
    /// NumInstancesWeigher: instances on the host (`num_instances_weight_multiplier`, 0.0).
    NumInstancesWeigher, "NumInstancesWeigher", "num_instances_weight_multiplier", 0.0, None,
    |t, i| f64::from(t.num_instances[i])
);

/// BuildFailureWeigher: recent failed builds, with the multiplier negated
/// (`build_failure_weight_multiplier`, 1e6).
#[derive(Debug, Clone)]
pub struct BuildFailureWeigher {
    /// The configured multiplier.
    pub multiplier: f64,
}

impl Default for BuildFailureWeigher {
    fn default() -> Self {
        BuildFailureWeigher { multiplier: 1_000_000.0 }
    }
}

impl HostWeigher for BuildFailureWeigher {
    fn name(&self) -> &'static str {
        "BuildFailureWeigher"
    }
    fn weight_multiplier(&self, aggs: &AggregateSet) -> f64 {
        -aggs.weight_multiplier("build_failure_weight_multiplier", self.multiplier)
    }
    fn weigh(&self, host: HostRef<'_>, _: &FilterContext<'_>) -> f64 {
        f64::from(host.failed_builds())
    }
}

/// ServerGroupSoftAffinityWeigher (`soft-affinity`: + members on the host) and
/// ServerGroupSoftAntiAffinityWeigher (`soft-anti-affinity`: − members on the host).
#[derive(Debug, Clone)]
pub struct SoftAffinityWeigher {
    /// Which policy this weigher serves.
    pub anti: bool,
    /// The configured multiplier (1.0).
    pub multiplier: f64,
}

impl SoftAffinityWeigher {
    /// ServerGroupSoftAffinityWeigher.
    pub fn affinity() -> Self {
        SoftAffinityWeigher { anti: false, multiplier: 1.0 }
    }
    /// ServerGroupSoftAntiAffinityWeigher.
    pub fn anti_affinity() -> Self {
        SoftAffinityWeigher { anti: true, multiplier: 1.0 }
    }
    fn active(&self, ctx: &FilterContext<'_>) -> bool {
        let want =
            if self.anti { GroupPolicy::SoftAntiAffinity } else { GroupPolicy::SoftAffinity };
        ctx.spec.group.as_ref().is_some_and(|g| g.policy == want)
    }
}

impl HostWeigher for SoftAffinityWeigher {
    fn name(&self) -> &'static str {
        if self.anti {
            "ServerGroupSoftAntiAffinityWeigher"
        } else {
            "ServerGroupSoftAffinityWeigher"
        }
    }
    fn weight_multiplier(&self, aggs: &AggregateSet) -> f64 {
        let opt = if self.anti {
            "soft_anti_affinity_weight_multiplier"
        } else {
            "soft_affinity_weight_multiplier"
        };
        aggs.weight_multiplier(opt, self.multiplier)
    }
    fn weigh(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> f64 {
        if !self.active(ctx) {
            return 0.0;
        }
        let n = f64::from(ctx.members_on(host.idx));
        if self.anti { -n } else { n }
    }
    fn is_constant(&self, ctx: &FilterContext<'_>) -> bool {
        !self.active(ctx)
    }
}

/// CrossCellWeigher: for cross-cell moves, +1 in the preferred cell and −1 elsewhere
/// (`cross_cell_move_weight_multiplier`, 1e6); 0 otherwise.
#[derive(Debug, Clone)]
pub struct CrossCellWeigher {
    /// The configured multiplier.
    pub multiplier: f64,
    /// The preferred cell of a cross-cell move, if this is one.
    pub preferred_cell: Option<String>,
}

impl Default for CrossCellWeigher {
    fn default() -> Self {
        CrossCellWeigher { multiplier: 1_000_000.0, preferred_cell: None }
    }
}

impl HostWeigher for CrossCellWeigher {
    fn name(&self) -> &'static str {
        "CrossCellWeigher"
    }
    fn weight_multiplier(&self, aggs: &AggregateSet) -> f64 {
        aggs.weight_multiplier("cross_cell_move_weight_multiplier", self.multiplier)
    }
    fn weigh(&self, host: HostRef<'_>, _: &FilterContext<'_>) -> f64 {
        match &self.preferred_cell {
            None => 0.0,
            Some(c) if *c == host.info().report.cell_uuid => 1.0,
            Some(_) => -1.0,
        }
    }
    fn is_constant(&self, _: &FilterContext<'_>) -> bool {
        self.preferred_cell.is_none()
    }
}

/// MetricsWeigher: `Σ metric × ratio` over `[metrics] weight_setting`; a host lacking a
/// metric gets `weight_of_unavailable` (−10000) when that metric's ratio × multiplier is
/// non-zero.
#[derive(Debug, Clone)]
pub struct MetricsWeigher {
    /// `[metrics] weight_multiplier` (1.0).
    pub multiplier: f64,
    /// `[metrics] weight_setting`: `(metric, ratio)` in order.
    pub setting: Vec<(String, f64)>,
    /// `[metrics] weight_of_unavailable` (−10000.0).
    pub weight_of_unavailable: f64,
}

impl Default for MetricsWeigher {
    fn default() -> Self {
        MetricsWeigher { multiplier: 1.0, setting: Vec::new(), weight_of_unavailable: -10000.0 }
    }
}

impl HostWeigher for MetricsWeigher {
    fn name(&self) -> &'static str {
        "MetricsWeigher"
    }
    fn weight_multiplier(&self, aggs: &AggregateSet) -> f64 {
        aggs.weight_multiplier("metrics_weight_multiplier", self.multiplier)
    }
    fn weigh(&self, host: HostRef<'_>, _: &FilterContext<'_>) -> f64 {
        let metrics = &host.info().report.metrics;
        let mut value = 0.0;
        for (name, ratio) in &self.setting {
            match metrics.get(name) {
                Some(v) => value += v * ratio,
                None => {
                    if ratio * self.weight_multiplier(host.aggregates()) != 0.0 {
                        return self.weight_of_unavailable;
                    }
                }
            }
        }
        value
    }
    fn is_constant(&self, _: &FilterContext<'_>) -> bool {
        self.setting.is_empty()
    }
}

/// ImagePropertiesWeigher: how many properties of the existing instances on the host match
/// the request's image properties (`image_props_weight_multiplier`, 0.0 = off). The image
/// properties of existing instances are given per host name in `host_instance_props`.
#[derive(Debug, Clone, Default)]
pub struct ImagePropertiesWeigher {
    /// The configured multiplier (0.0 disables the weigher, as in Nova).
    pub multiplier: f64,
    /// `image_props_weight_setting`: per-property ratios (empty: every property counts 1).
    pub setting: BTreeMap<String, f64>,
    /// Image properties of the instances on each host.
    pub host_instance_props: BTreeMap<String, Vec<BTreeMap<String, String>>>,
}

impl HostWeigher for ImagePropertiesWeigher {
    fn name(&self) -> &'static str {
        "ImagePropertiesWeigher"
    }
    fn weight_multiplier(&self, aggs: &AggregateSet) -> f64 {
        aggs.weight_multiplier("image_props_weight_multiplier", self.multiplier)
    }
    fn weigh(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> f64 {
        if self.multiplier == 0.0 {
            return 0.0;
        }
        let Some(insts) = self.host_instance_props.get(host.name()) else {
            return 0.0;
        };
        let mut weight = 0.0;
        for (k, v) in &ctx.spec.image_props {
            let count = insts.iter().filter(|p| p.get(k) == Some(v)).count() as f64;
            if count == 0.0 {
                continue;
            }
            weight += if self.setting.is_empty() {
                count
            } else {
                self.setting.get(k).copied().unwrap_or(0.0) * count
            };
        }
        weight
    }
    fn is_constant(&self, _: &FilterContext<'_>) -> bool {
        self.multiplier == 0.0 || self.host_instance_props.is_empty()
    }
}

/// Nova 34's weighers with default options, in the fixed order the equivalence harness uses
/// (RAM, CPU, Disk, IoOps, PCI, SoftAffinity, SoftAntiAffinity, BuildFailure, CrossCell,
/// HypervisorVersion, NumInstances, Metrics, ImageProperties).
pub fn default_weighers() -> Vec<Box<dyn HostWeigher>> {
    vec![
        Box::new(RamWeigher::default()),
        Box::new(CpuWeigher::default()),
        Box::new(DiskWeigher::default()),
        Box::new(IoOpsWeigher::default()),
        Box::new(PciWeigher::default()),
        Box::new(SoftAffinityWeigher::affinity()),
        Box::new(SoftAffinityWeigher::anti_affinity()),
        Box::new(BuildFailureWeigher::default()),
        Box::new(CrossCellWeigher::default()),
        Box::new(HypervisorVersionWeigher::default()),
        Box::new(NumInstancesWeigher::default()),
        Box::new(MetricsWeigher::default()),
        Box::new(ImagePropertiesWeigher::default()),
    ]
}
