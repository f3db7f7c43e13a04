// SPDX-License-Identifier: Apache-2.0
//! Host filters: the [`HostFilter`] trait and every Nova 34 filter, plus the legacy
//! RamFilter, CoreFilter, DiskFilter (and their aggregate variants) and AvailabilityZoneFilter.
//!
//! Filters are pure predicates over one host and the request; their order does not change the
//! result. Filters whose answer depends only on a host's aggregates evaluate once per
//! [`crate::host::AggregateSet`] and request ([`HostFilter::filter`] overrides).

use crate::host::{AggregateSet, HostRef, HostTable};
use crate::ops::{
    canonical_arch, canonical_hv_type, canonical_vm_mode, py_float_str, spec_match,
    version_predicate_ok,
};
use crate::types::{GroupPolicy, RequestSpec};
use serde_json::Value;
use std::collections::BTreeSet;
use std::fmt::Debug;

/// What a filter sees of the request being scheduled: the spec, which instance of a
/// multi-create is being placed, and the group state as it evolves during the request.
#[derive(Debug)]
pub struct FilterContext<'a> {
    /// The request.
    pub spec: &'a RequestSpec,
    /// Index of the instance being placed (0 for the first).
    pub index: usize,
    /// The instance being placed.
    pub instance_uuid: &'a str,
    /// Group members per host (dense, one entry per host; empty without a group).
    pub members_on_host: &'a [u32],
    /// Instances placed earlier in this request with a group (`host.instances[uuid]` stubs).
    pub placed: &'a [(String, u32)],
    /// Group hosts known to the table (indices), growing during the request.
    pub group_hosts: &'a [u32],
    /// Whether the group's host list is non-empty (it may name hosts this table lacks).
    pub group_hosts_nonempty: bool,
}

impl FilterContext<'_> {
    /// Whether instance `uuid` is on host `idx` (indexed, or placed earlier in this request).
    pub fn instance_on_host(&self, table: &HostTable, uuid: &str, idx: usize) -> bool {
        table.instance_host(uuid) == Some(idx)
            || self.placed.iter().any(|(u, h)| u == uuid && *h as usize == idx)
    }

    /// `|host.instances ∩ group.members|`.
    pub fn members_on(&self, idx: usize) -> u32 {
        self.members_on_host.get(idx).copied().unwrap_or(0)
    }
}

/// A host filter (Nova's `BaseHostFilter`).
///
/// # Contract
/// * `host_passes` is a pure function of the host's state and the context: no I/O, no
///   allocation on the common path, no panics on any input (malformed extra specs or hints
///   make hosts fail, never the process).
/// * `filter` must keep exactly the hosts for which `host_passes` is true, **in order**; the
///   default does that, and overrides only make it faster.
/// * Filters with `run_filter_once_per_request` are skipped for the second and later
///   instances of a multi-create; only filters with `run_on_rebuild` run for rebuilds.
pub trait HostFilter: Send + Sync + Debug {
    /// Nova's class name (`ComputeFilter`).
    fn name(&self) -> &'static str;
    /// Skip this filter for instances after the first of a request.
    fn run_filter_once_per_request(&self) -> bool {
        false
    }
    /// Run this filter for rebuilds.
    fn run_on_rebuild(&self) -> bool {
        false
    }
    /// Whether `host` can take the instance.
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool;
    /// Keeps the hosts (indices into `table`) that pass, in order.
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        hosts.retain(|&i| self.host_passes(table.host(i as usize), ctx));
    }
}

/// Keeps the hosts whose aggregate set passes `f`, evaluating `f` once per set.
fn retain_by_agg_set(table: &HostTable, hosts: &mut Vec<u32>, f: impl Fn(&AggregateSet) -> bool) {
    let memo: Vec<bool> = table.agg_sets.iter().map(f).collect();
    hosts.retain(|&i| memo[table.agg_set[i as usize] as usize]);
}

// ------------------------------------------------------------------ service state

/// ComputeFilter: the service is enabled and up.
#[derive(Debug, Default, Clone)]
pub struct ComputeFilter;

impl HostFilter for ComputeFilter {
    fn name(&self) -> &'static str {
        "ComputeFilter"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn host_passes(&self, host: HostRef<'_>, _: &FilterContext<'_>) -> bool {
        !host.disabled() && host.up()
    }
    fn filter(&self, table: &HostTable, _: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        hosts.retain(|&i| table.flags[i as usize] == 0);
    }
}

/// AllHostsFilter: every host passes.
#[derive(Debug, Default, Clone)]
pub struct AllHostsFilter;

impl HostFilter for AllHostsFilter {
    fn name(&self) -> &'static str {
        "AllHostsFilter"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn host_passes(&self, _: HostRef<'_>, _: &FilterContext<'_>) -> bool {
        true
    }
    fn filter(&self, _: &HostTable, _: &FilterContext<'_>, _: &mut Vec<u32>) {}
}

// ------------------------------------------------------------------ host attributes

/// A HostState attribute by Nova's name, as JSON (`None` when the host has no such attribute).
/// `cpu_info` is a JSON **string**, as in Nova.
pub fn host_attribute(host: HostRef<'_>, name: &str) -> Option<Value> {
    let t = host.table;
    let i = host.idx;
    let r = &host.info().report;
    Some(match name {
        "host" => Value::from(r.host.clone()),
        "nodename" | "hypervisor_hostname" => Value::from(r.nodename.clone()),
        "uuid" => Value::from(r.uuid.clone()),
        "cell_uuid" => Value::from(r.cell_uuid.clone()),
        "host_ip" => Value::from(r.host_ip.clone()?),
        "hypervisor_type" => Value::from(r.hypervisor_type.clone()),
        "hypervisor_version" => Value::from(t.hv_version[i]),
        "cpu_info" => Value::from(host.info().cpu_info_json.clone()),
        "vcpus_total" => Value::from(t.vcpus_total[i]),
        "vcpus_used" => Value::from(t.vcpus_used[i]),
        "free_ram_mb" => Value::from(t.free_ram_mb[i]),
        "free_disk_mb" => Value::from(t.free_disk_mb[i]),
        "total_usable_ram_mb" => Value::from(t.memory_mb[i]),
        "total_usable_disk_gb" => Value::from(t.local_gb[i]),
        "disk_mb_used" => Value::from(t.used[i][2] * 1024),
        "num_instances" => Value::from(t.num_instances[i]),
        "num_io_ops" => Value::from(t.num_io_ops[i]),
        "failed_builds" => Value::from(t.failed_builds[i]),
        "cpu_allocation_ratio" => Value::from(t.cpu_ratio[i]),
        "ram_allocation_ratio" => Value::from(t.ram_ratio[i]),
        "disk_allocation_ratio" => Value::from(t.disk_ratio[i]),
        "supported_instances" => serde_json::to_value(&r.supported_instances).ok()?,
        "stats" => serde_json::to_value(&r.stats).ok()?,
        "metrics" => serde_json::to_value(&r.metrics).ok()?,
        "service" => serde_json::json!({"disabled": r.disabled, "up": r.up}),
        _ => return None,
    })
}

/// Python's `str()` of a JSON value (`True`, `4.0`, `{'a': 1}`).
pub fn py_str(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => py_repr(other),
    }
}

fn py_repr(v: &Value) -> String {
    match v {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.to_string()
            } else if let Some(u) = n.as_u64() {
                u.to_string()
            } else {
                py_float_str(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
        Value::Array(a) => format!("[{}]", a.iter().map(py_repr).collect::<Vec<_>>().join(", ")),
        Value::Object(o) => format!(
            "{{{}}}",
            o.iter().map(|(k, v)| format!("'{k}': {}", py_repr(v))).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// ComputeCapabilitiesFilter: every `capabilities:a:b` extra spec (and every unscoped key the
/// host has as an attribute or stat) matches the host with `extra_specs_ops`.
#[derive(Debug, Default, Clone)]
pub struct ComputeCapabilitiesFilter;

/// A borrowed HostState attribute (no allocation on the filter's hot path).
#[derive(Debug, Clone, Copy)]
enum Attr<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    /// A JSON document kept as a JSON string in Nova (`cpu_info`): walking into it decodes.
    JsonString(&'a Value, &'a str),
}

/// HostState attributes the capabilities filter can read, resolved once per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttrId {
    Host,
    Nodename,
    Uuid,
    CellUuid,
    HostIp,
    HypervisorType,
    HypervisorVersion,
    CpuInfo,
    VcpusTotal,
    VcpusUsed,
    FreeRamMb,
    FreeDiskMb,
    TotalUsableRamMb,
    TotalUsableDiskGb,
    NumInstances,
    NumIoOps,
    FailedBuilds,
    CpuAllocationRatio,
    RamAllocationRatio,
    DiskAllocationRatio,
}

fn attr_id(name: &str) -> Option<AttrId> {
    use AttrId::*;
    Some(match name {
        "host" => Host,
        "nodename" | "hypervisor_hostname" => Nodename,
        "uuid" => Uuid,
        "cell_uuid" => CellUuid,
        "host_ip" => HostIp,
        "hypervisor_type" => HypervisorType,
        "hypervisor_version" => HypervisorVersion,
        "cpu_info" => CpuInfo,
        "vcpus_total" => VcpusTotal,
        "vcpus_used" => VcpusUsed,
        "free_ram_mb" => FreeRamMb,
        "free_disk_mb" => FreeDiskMb,
        "total_usable_ram_mb" => TotalUsableRamMb,
        "total_usable_disk_gb" => TotalUsableDiskGb,
        "num_instances" => NumInstances,
        "num_io_ops" => NumIoOps,
        "failed_builds" => FailedBuilds,
        "cpu_allocation_ratio" => CpuAllocationRatio,
        "ram_allocation_ratio" => RamAllocationRatio,
        "disk_allocation_ratio" => DiskAllocationRatio,
        _ => return None,
    })
}

fn attr_get(host: HostRef<'_>, id: AttrId) -> Option<Attr<'_>> {
    use AttrId::*;
    let t = host.table;
    let i = host.idx;
    let info = host.info();
    let r = &info.report;
    Some(match id {
        Host => Attr::Str(&r.host),
        Nodename => Attr::Str(&r.nodename),
        Uuid => Attr::Str(&r.uuid),
        CellUuid => Attr::Str(&r.cell_uuid),
        HostIp => Attr::Str(r.host_ip.as_deref()?),
        HypervisorType => Attr::Str(&r.hypervisor_type),
        HypervisorVersion => Attr::Int(t.hv_version[i] as i64),
        CpuInfo => Attr::JsonString(&r.cpu_info, &info.cpu_info_json),
        VcpusTotal => Attr::Int(i64::from(t.vcpus_total[i])),
        VcpusUsed => Attr::Int(t.vcpus_used[i]),
        FreeRamMb => Attr::Int(t.free_ram_mb[i]),
        FreeDiskMb => Attr::Int(t.free_disk_mb[i]),
        TotalUsableRamMb => Attr::Int(t.memory_mb[i] as i64),
        TotalUsableDiskGb => Attr::Int(t.local_gb[i] as i64),
        NumInstances => Attr::Int(i64::from(t.num_instances[i])),
        NumIoOps => Attr::Int(i64::from(t.num_io_ops[i])),
        FailedBuilds => Attr::Int(i64::from(t.failed_builds[i])),
        CpuAllocationRatio => Attr::Float(t.cpu_ratio[i]),
        RamAllocationRatio => Attr::Float(t.ram_ratio[i]),
        DiskAllocationRatio => Attr::Float(t.disk_ratio[i]),
    })
}

/// One extra spec the capabilities filter checks, pre-split once per request.
#[derive(Debug)]
struct CapSpec<'a> {
    scope: Vec<&'a str>,
    attr: Option<AttrId>,
    unscoped: bool,
    req: std::borrow::Cow<'a, str>,
}

impl ComputeCapabilitiesFilter {
    fn compile(spec: &RequestSpec) -> Vec<CapSpec<'_>> {
        let mut out = Vec::new();
        for (key, req) in &spec.flavor.extra_specs {
            if key == "hw:maxphysaddr_bits" {
                out.push(CapSpec {
                    attr: Some(AttrId::CpuInfo),
                    scope: vec!["cpu_info", "maxphysaddr", "bits"],
                    unscoped: false,
                    req: format!(">= {req}").into(),
                });
                continue;
            }
            let parts: Vec<&str> = key.split(':').collect();
            if parts.len() == 1 {
                out.push(CapSpec {
                    attr: attr_id(parts[0]),
                    scope: parts,
                    unscoped: true,
                    req: req.as_str().into(),
                });
            } else if parts[0] == "capabilities" {
                out.push(CapSpec {
                    attr: attr_id(parts[1]),
                    scope: parts[1..].to_vec(),
                    unscoped: false,
                    req: req.as_str().into(),
                });
            }
        }
        out
    }

    fn check(host: HostRef<'_>, specs: &[CapSpec<'_>]) -> bool {
        Self::check_memo(host, specs, &mut [])
    }

    /// `memo[k]` remembers `(capability text, matched)` pairs of spec `k` (a few distinct
    /// values cover most clusters: hypervisor types, versions, CPU vendors).
    fn check_memo(
        host: HostRef<'_>,
        specs: &[CapSpec<'_>],
        memo: &mut [Vec<(String, bool)>],
    ) -> bool {
        use std::borrow::Cow;
        for (k, cs) in specs.iter().enumerate() {
            let first = cs.scope.first().copied().unwrap_or("");
            let stats = &host.info().report.stats;
            let attr = cs.attr.and_then(|a| attr_get(host, a));
            if cs.unscoped && attr.is_none() && !stats.contains_key(first) {
                continue;
            }
            let base = match attr {
                Some(a) => a,
                None => match stats.get(first) {
                    Some(s) => Attr::Str(s),
                    None => return false,
                },
            };
            let text: Cow<'_, str> = if cs.scope.len() == 1 {
                match base {
                    Attr::Str(s) => s.into(),
                    Attr::Int(x) => x.to_string().into(),
                    Attr::Float(x) => py_float_str(x).into(),
                    Attr::JsonString(_, s) => s.into(),
                }
            } else {
                // Walk into dicts; a JSON string on the way is decoded (Nova's jsonutils.loads).
                let mut cur: Cow<'_, Value> = match base {
                    Attr::JsonString(v, _) => Cow::Borrowed(v),
                    Attr::Str(s) => match serde_json::from_str::<Value>(s) {
                        Ok(v) => Cow::Owned(v),
                        Err(_) => return false,
                    },
                    Attr::Int(_) | Attr::Float(_) => return false,
                };
                for part in &cs.scope[1..] {
                    if let Value::String(s) = cur.as_ref() {
                        match serde_json::from_str::<Value>(s) {
                            Ok(v) => cur = Cow::Owned(v),
                            Err(_) => return false,
                        }
                    }
                    cur = match cur {
                        Cow::Borrowed(Value::Object(o)) => match o.get(*part) {
                            Some(v) if !v.is_null() => Cow::Borrowed(v),
                            _ => return false,
                        },
                        Cow::Owned(Value::Object(mut o)) => match o.remove(*part) {
                            Some(v) if !v.is_null() => Cow::Owned(v),
                            _ => return false,
                        },
                        _ => return false,
                    };
                }
                match cur {
                    Cow::Borrowed(Value::String(s)) => Cow::Borrowed(s.as_str()),
                    other => Cow::Owned(py_str(&other)),
                }
            };
            let ok = match memo.get_mut(k) {
                Some(m) => match m.iter().find(|(t, _)| *t == *text) {
                    Some(&(_, ok)) => ok,
                    None => {
                        let ok = spec_match(&text, &cs.req);
                        if m.len() < 16 {
                            m.push((text.into_owned(), ok));
                        }
                        ok
                    }
                },
                None => spec_match(&text, &cs.req),
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// Whether the host satisfies every relevant extra spec.
    pub fn satisfies(host: HostRef<'_>, spec: &RequestSpec) -> bool {
        Self::check(host, &Self::compile(spec))
    }
}

impl HostFilter for ComputeCapabilitiesFilter {
    fn name(&self) -> &'static str {
        "ComputeCapabilitiesFilter"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        Self::satisfies(host, ctx.spec)
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        if ctx.spec.flavor.extra_specs.is_empty() {
            return;
        }
        let relevant = ctx.spec.flavor.extra_specs.keys().any(|k| {
            k.starts_with("capabilities:") || !k.contains(':') || k == "hw:maxphysaddr_bits"
        });
        if !relevant {
            return;
        }
        let specs = Self::compile(ctx.spec);
        let is_static = |a: Option<AttrId>| {
            matches!(a, Some(AttrId::HypervisorType | AttrId::HypervisorVersion | AttrId::CpuInfo))
        };
        let (stat, dynamic): (Vec<CapSpec<'_>>, Vec<CapSpec<'_>>) =
            specs.into_iter().partition(|cs| is_static(cs.attr));
        let mut memo = vec![Vec::new(); dynamic.len()];
        // Specs over hypervisor type/version and CPU info: once per distinct host kind.
        let mut kinds: Vec<Vec<(u64, bool)>> = vec![Vec::new(); table.static_caps_count()];
        hosts.retain(|&i| {
            let i = i as usize;
            if !stat.is_empty() {
                let slot = &mut kinds[table.static_caps[i] as usize];
                let hv = table.hv_version[i];
                let ok = match slot.iter().find(|(v, _)| *v == hv) {
                    Some(&(_, ok)) => ok,
                    None => {
                        let ok = Self::check(table.host(i), &stat);
                        slot.push((hv, ok));
                        ok
                    }
                };
                if !ok {
                    return false;
                }
            }
            dynamic.is_empty() || Self::check_memo(table.host(i), &dynamic, &mut memo)
        });
    }
}

/// ImagePropertiesFilter: the image's architecture, hypervisor type and VM mode appear in one
/// of the host's `supported_instances` triples (and the requested hypervisor version and
/// `hw_maxphysaddr_bits` are satisfied).
#[derive(Debug, Default, Clone)]
pub struct ImagePropertiesFilter {
    /// `image_properties_default_architecture`.
    pub default_architecture: Option<String>,
}

impl ImagePropertiesFilter {
    fn checked(&self, spec: &RequestSpec) -> [Option<String>; 3] {
        let p = &spec.image_props;
        let arch = p.get("hw_architecture").or(self.default_architecture.as_ref());
        let nonempty = |s: Option<&String>| s.filter(|s| !s.is_empty()).cloned();
        [
            nonempty(arch).map(|a| canonical_arch(&a)),
            nonempty(p.get("img_hv_type")).map(|a| canonical_hv_type(&a)),
            nonempty(p.get("hw_vm_mode")).map(|a| canonical_vm_mode(&a)),
        ]
    }

    fn passes(&self, host: HostRef<'_>, spec: &RequestSpec, checked: &[Option<String>; 3]) -> bool {
        if checked.iter().all(Option::is_none) {
            return true;
        }
        let r = &host.info().report;
        if r.supported_instances.is_empty() {
            return false;
        }
        let hv = host.hypervisor_version();
        for supp in &r.supported_instances {
            let all = checked.iter().flatten().all(|p| supp.iter().any(|s| s == p));
            if !all {
                continue;
            }
            let version_ok = match spec.image_props.get("img_hv_requested_version") {
                Some(vr) if hv != 0 && !vr.is_empty() => version_predicate_ok(vr, hv),
                _ => true,
            };
            if !version_ok {
                continue;
            }
            let bits_ok = match spec.image_props.get("hw_maxphysaddr_bits") {
                Some(b) if !b.is_empty() => {
                    let have = r
                        .cpu_info
                        .get("maxphysaddr")
                        .and_then(|m| m.get("bits"))
                        .and_then(Value::as_f64)
                        .unwrap_or(0.0);
                    match b.trim().parse::<f64>() {
                        _ if have == 0.0 => true,
                        Ok(want) => have >= want,
                        Err(_) => false,
                    }
                }
                _ => true,
            };
            if bits_ok {
                return true;
            }
        }
        false
    }
}

impl HostFilter for ImagePropertiesFilter {
    fn name(&self) -> &'static str {
        "ImagePropertiesFilter"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn run_on_rebuild(&self) -> bool {
        true
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        let checked = self.checked(ctx.spec);
        self.passes(host, ctx.spec, &checked)
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        let checked = self.checked(ctx.spec);
        if checked.iter().all(Option::is_none) {
            return;
        }
        if ctx.spec.image_props.get("hw_maxphysaddr_bits").is_some_and(|b| !b.is_empty()) {
            hosts.retain(|&i| self.passes(table.host(i as usize), ctx.spec, &checked));
            return;
        }
        // Without hw_maxphysaddr_bits the answer depends only on the host's
        // supported_instances and hypervisor version: evaluate each pair once.
        let mut memo: Vec<Vec<(u64, bool)>> = vec![Vec::new(); table.supported_sets.len()];
        hosts.retain(|&i| {
            let i = i as usize;
            let slot = &mut memo[table.supported[i] as usize];
            let hv = table.hv_version[i];
            if let Some(&(_, ok)) = slot.iter().find(|(v, _)| *v == hv) {
                return ok;
            }
            let ok = self.passes(table.host(i), ctx.spec, &checked);
            slot.push((hv, ok));
            ok
        });
    }
}

// ------------------------------------------------------------------ server groups

/// ServerGroupAntiAffinityFilter: fewer than `max_server_per_host` group members on the host.
#[derive(Debug, Default, Clone)]
pub struct ServerGroupAntiAffinityFilter;

impl HostFilter for ServerGroupAntiAffinityFilter {
    fn name(&self) -> &'static str {
        "ServerGroupAntiAffinityFilter"
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        let Some(g) = &ctx.spec.group else {
            return true;
        };
        if g.policy != GroupPolicy::AntiAffinity {
            return true;
        }
        if ctx.instance_on_host(host.table, ctx.instance_uuid, host.idx) {
            return true;
        }
        ctx.members_on(host.idx) < g.max_server_per_host
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        match &ctx.spec.group {
            Some(g) if g.policy == GroupPolicy::AntiAffinity => {
                hosts.retain(|&i| self.host_passes(table.host(i as usize), ctx))
            }
            _ => {}
        }
    }
}

/// ServerGroupAffinityFilter: with an `affinity` group that already has hosts, only those.
#[derive(Debug, Default, Clone)]
pub struct ServerGroupAffinityFilter;

impl HostFilter for ServerGroupAffinityFilter {
    fn name(&self) -> &'static str {
        "ServerGroupAffinityFilter"
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        let Some(g) = &ctx.spec.group else {
            return true;
        };
        if g.policy != GroupPolicy::Affinity || !ctx.group_hosts_nonempty {
            return true;
        }
        ctx.group_hosts.contains(&(host.idx as u32))
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        match &ctx.spec.group {
            Some(g) if g.policy == GroupPolicy::Affinity && ctx.group_hosts_nonempty => {
                hosts.retain(|&i| self.host_passes(table.host(i as usize), ctx))
            }
            _ => {}
        }
    }
}

// ------------------------------------------------------------------ aggregates

/// AggregateInstanceExtraSpecsFilter: flavor keys `aggregate_instance_extra_specs:K` and
/// unscoped keys `K` must be in the host's aggregate metadata with a matching value.
#[derive(Debug, Default, Clone)]
pub struct AggregateInstanceExtraSpecsFilter;

impl AggregateInstanceExtraSpecsFilter {
    fn set_passes(set: &AggregateSet, spec: &RequestSpec) -> bool {
        for (key, req) in &spec.flavor.extra_specs {
            let k = match key.split_once(':') {
                Some((scope, k)) => {
                    if scope != "aggregate_instance_extra_specs" {
                        continue;
                    }
                    k
                }
                None => key.as_str(),
            };
            let Some(vals) = set.merged.get(k) else {
                return false;
            };
            if vals.is_empty() || !vals.iter().any(|v| spec_match(v, req)) {
                return false;
            }
        }
        true
    }
}

impl HostFilter for AggregateInstanceExtraSpecsFilter {
    fn name(&self) -> &'static str {
        "AggregateInstanceExtraSpecsFilter"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        Self::set_passes(host.aggregates(), ctx.spec)
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        if ctx.spec.flavor.extra_specs.is_empty() {
            return;
        }
        retain_by_agg_set(table, hosts, |s| Self::set_passes(s, ctx.spec));
    }
}

/// AggregateMultiTenancyIsolation: aggregates with `filter_tenant_id*` keys only take those
/// projects.
#[derive(Debug, Default, Clone)]
pub struct AggregateMultiTenancyIsolation;

impl AggregateMultiTenancyIsolation {
    fn set_passes(set: &AggregateSet, project: &str) -> bool {
        let mut any = false;
        for (k, vals) in &set.merged {
            if k.starts_with("filter_tenant_id") {
                if vals.contains(project) {
                    return true;
                }
                any |= !vals.is_empty();
            }
        }
        !any
    }
}

impl HostFilter for AggregateMultiTenancyIsolation {
    fn name(&self) -> &'static str {
        "AggregateMultiTenancyIsolation"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        Self::set_passes(host.aggregates(), &ctx.spec.project_id)
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        retain_by_agg_set(table, hosts, |s| Self::set_passes(s, &ctx.spec.project_id));
    }
}

/// AggregateTypeAffinityFilter: aggregates with `instance_type` only take those flavors.
#[derive(Debug, Default, Clone)]
pub struct AggregateTypeAffinityFilter;

impl AggregateTypeAffinityFilter {
    fn set_passes(set: &AggregateSet, flavor: &str) -> bool {
        let vals = set.values("instance_type");
        if vals.is_empty() {
            return true;
        }
        vals.iter().any(|v| v.split(',').any(|x| x.trim() == flavor))
    }
}

impl HostFilter for AggregateTypeAffinityFilter {
    fn name(&self) -> &'static str {
        "AggregateTypeAffinityFilter"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        Self::set_passes(host.aggregates(), &ctx.spec.flavor.name)
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        retain_by_agg_set(table, hosts, |s| Self::set_passes(s, &ctx.spec.flavor.name));
    }
}

/// AggregateImagePropertiesIsolation: for each aggregate key (optionally only those in a
/// namespace) that the image has as a property, the property must be one of the values.
#[derive(Debug, Clone)]
pub struct AggregateImagePropertiesIsolation {
    /// `aggregate_image_properties_isolation_namespace`.
    pub namespace: Option<String>,
    /// `aggregate_image_properties_isolation_separator` (`.`).
    pub separator: String,
}

impl Default for AggregateImagePropertiesIsolation {
    fn default() -> Self {
        AggregateImagePropertiesIsolation { namespace: None, separator: ".".into() }
    }
}

impl AggregateImagePropertiesIsolation {
    fn set_passes(&self, set: &AggregateSet, spec: &RequestSpec) -> bool {
        let prefix = self
            .namespace
            .as_ref()
            .filter(|n| !n.is_empty())
            .map(|n| format!("{n}{}", self.separator));
        for (key, options) in &set.merged {
            if let Some(p) = &prefix
                && !key.starts_with(p.as_str())
            {
                continue;
            }
            if let Some(prop) = spec.image_props.get(key)
                && !prop.is_empty()
                && !options.contains(prop)
            {
                return false;
            }
        }
        true
    }
}

impl HostFilter for AggregateImagePropertiesIsolation {
    fn name(&self) -> &'static str {
        "AggregateImagePropertiesIsolation"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn run_on_rebuild(&self) -> bool {
        true
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        self.set_passes(host.aggregates(), ctx.spec)
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        retain_by_agg_set(table, hosts, |s| self.set_passes(s, ctx.spec));
    }
}

/// AvailabilityZoneFilter (legacy, removed from Nova): the host's aggregate
/// `availability_zone` contains the requested zone, or the host has none and the zone is the
/// default one.
#[derive(Debug, Clone)]
pub struct AvailabilityZoneFilter {
    /// `default_availability_zone` (`nova`).
    pub default_availability_zone: String,
}

impl Default for AvailabilityZoneFilter {
    fn default() -> Self {
        AvailabilityZoneFilter { default_availability_zone: "nova".into() }
    }
}

impl AvailabilityZoneFilter {
    fn set_passes(&self, set: &AggregateSet, az: &str) -> bool {
        match set.merged.get("availability_zone") {
            Some(zones) => zones.contains(az),
            None => az == self.default_availability_zone,
        }
    }
}

impl HostFilter for AvailabilityZoneFilter {
    fn name(&self) -> &'static str {
        "AvailabilityZoneFilter"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        match ctx.spec.availability_zone.as_deref() {
            None | Some("") => true,
            Some(az) => self.set_passes(host.aggregates(), az),
        }
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        if let Some(az) = ctx.spec.availability_zone.as_deref().filter(|a| !a.is_empty()) {
            retain_by_agg_set(table, hosts, |s| self.set_passes(s, az));
        }
    }
}

// ------------------------------------------------------------------ isolation, hints

/// IsolatedHostsFilter: isolated images only on isolated hosts, and (when restricted)
/// isolated hosts only for isolated images.
#[derive(Debug, Clone, Default)]
pub struct IsolatedHostsFilter {
    /// `isolated_hosts`.
    pub isolated_hosts: BTreeSet<String>,
    /// `isolated_images`.
    pub isolated_images: BTreeSet<String>,
    /// `restrict_isolated_hosts_to_isolated_images` (Nova default true).
    pub restrict_isolated_hosts_to_isolated_images: bool,
}

impl HostFilter for IsolatedHostsFilter {
    fn name(&self) -> &'static str {
        "IsolatedHostsFilter"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn run_on_rebuild(&self) -> bool {
        true
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        let host_isolated = self.isolated_hosts.contains(host.name());
        if self.isolated_images.is_empty() {
            return !self.restrict_isolated_hosts_to_isolated_images || !host_isolated;
        }
        let image_isolated =
            ctx.spec.image_id.as_ref().is_some_and(|i| self.isolated_images.contains(i));
        if self.restrict_isolated_hosts_to_isolated_images {
            image_isolated == host_isolated
        } else {
            !image_isolated || host_isolated
        }
    }
}

/// SameHostFilter: with hint `same_host`, the host holds one of those instances.
#[derive(Debug, Default, Clone)]
pub struct SameHostFilter;

fn hint_hosts(table: &HostTable, ctx: &FilterContext<'_>, uuids: &[String]) -> Vec<u32> {
    let mut out: Vec<u32> =
        uuids.iter().filter_map(|u| table.instance_host(u)).map(|h| h as u32).collect();
    for (u, h) in ctx.placed {
        if uuids.contains(u) {
            out.push(*h);
        }
    }
    out
}

impl HostFilter for SameHostFilter {
    fn name(&self) -> &'static str {
        "SameHostFilter"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        let u = &ctx.spec.hints.same_host;
        u.is_empty() || hint_hosts(host.table, ctx, u).contains(&(host.idx as u32))
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        let u = &ctx.spec.hints.same_host;
        if !u.is_empty() {
            let hh = hint_hosts(table, ctx, u);
            hosts.retain(|i| hh.contains(i));
        }
    }
}

/// DifferentHostFilter: with hint `different_host`, the host holds none of those instances.
#[derive(Debug, Default, Clone)]
pub struct DifferentHostFilter;

impl HostFilter for DifferentHostFilter {
    fn name(&self) -> &'static str {
        "DifferentHostFilter"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        let u = &ctx.spec.hints.different_host;
        u.is_empty() || !hint_hosts(host.table, ctx, u).contains(&(host.idx as u32))
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        let u = &ctx.spec.hints.different_host;
        if !u.is_empty() {
            let hh = hint_hosts(table, ctx, u);
            hosts.retain(|i| !hh.contains(i));
        }
    }
}

/// SimpleCIDRAffinityFilter: with hint `build_near_host_ip`, the host IP is in
/// `build_near_host_ip` + `cidr` (default `/24`). IPv4 only; an unparsable hint fails every
/// host.
#[derive(Debug, Default, Clone)]
pub struct SimpleCidrAffinityFilter;

fn parse_v4(s: &str) -> Option<u32> {
    s.trim().parse::<std::net::Ipv4Addr>().ok().map(u32::from)
}

impl HostFilter for SimpleCidrAffinityFilter {
    fn name(&self) -> &'static str {
        "SimpleCIDRAffinityFilter"
    }
    fn run_filter_once_per_request(&self) -> bool {
        true
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        let Some(addr) = ctx.spec.hints.build_near_host_ip.as_deref().filter(|a| !a.is_empty())
        else {
            return true;
        };
        let cidr = ctx.spec.hints.cidr.as_deref().unwrap_or("/24");
        let (Some(net), Some(bits)) =
            (parse_v4(addr), cidr.strip_prefix('/').and_then(|b| b.parse::<u32>().ok()))
        else {
            return false;
        };
        if bits > 32 {
            return false;
        }
        let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
        match host.info().report.host_ip.as_deref().and_then(parse_v4) {
            Some(ip) => ip & mask == net & mask,
            None => false,
        }
    }
}

// ------------------------------------------------------------------ counters

/// NumInstancesFilter (and AggregateNumInstancesFilter with `from_aggregates`): fewer than
/// `max_instances_per_host` instances.
#[derive(Debug, Clone)]
pub struct NumInstancesFilter {
    /// `max_instances_per_host` (50).
    pub max_instances_per_host: i64,
    /// Take the minimum of the aggregates' `max_instances_per_host` when present.
    pub from_aggregates: bool,
}

impl Default for NumInstancesFilter {
    fn default() -> Self {
        NumInstancesFilter { max_instances_per_host: 50, from_aggregates: false }
    }
}

impl HostFilter for NumInstancesFilter {
    fn name(&self) -> &'static str {
        if self.from_aggregates { "AggregateNumInstancesFilter" } else { "NumInstancesFilter" }
    }
    fn host_passes(&self, host: HostRef<'_>, _: &FilterContext<'_>) -> bool {
        let max = if self.from_aggregates {
            host.aggregates().min_int("max_instances_per_host", self.max_instances_per_host)
        } else {
            self.max_instances_per_host
        };
        i64::from(host.num_instances()) < max
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        if self.from_aggregates {
            hosts.retain(|&i| self.host_passes(table.host(i as usize), ctx));
        } else {
            let max = self.max_instances_per_host;
            hosts.retain(|&i| i64::from(table.num_instances[i as usize]) < max);
        }
    }
}

/// IoOpsFilter (and AggregateIoOpsFilter with `from_aggregates`): fewer than
/// `max_io_ops_per_host` I/O-heavy operations.
#[derive(Debug, Clone)]
pub struct IoOpsFilter {
    /// `max_io_ops_per_host` (8).
    pub max_io_ops_per_host: i64,
    /// Take the minimum of the aggregates' `max_io_ops_per_host` when present.
    pub from_aggregates: bool,
}

impl Default for IoOpsFilter {
    fn default() -> Self {
        IoOpsFilter { max_io_ops_per_host: 8, from_aggregates: false }
    }
}

impl HostFilter for IoOpsFilter {
    fn name(&self) -> &'static str {
        if self.from_aggregates { "AggregateIoOpsFilter" } else { "IoOpsFilter" }
    }
    fn host_passes(&self, host: HostRef<'_>, _: &FilterContext<'_>) -> bool {
        let max = if self.from_aggregates {
            host.aggregates().min_int("max_io_ops_per_host", self.max_io_ops_per_host)
        } else {
            self.max_io_ops_per_host
        };
        i64::from(host.num_io_ops()) < max
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        if self.from_aggregates {
            hosts.retain(|&i| self.host_passes(table.host(i as usize), ctx));
        } else {
            let max = self.max_io_ops_per_host;
            hosts.retain(|&i| i64::from(table.num_io_ops[i as usize]) < max);
        }
    }
}

// ------------------------------------------------------------------ metrics, json

/// MetricsFilter: the host reports every metric named in `[metrics] weight_setting`.
#[derive(Debug, Clone, Default)]
pub struct MetricsFilter {
    /// Metric names required.
    pub required: Vec<String>,
}

impl HostFilter for MetricsFilter {
    fn name(&self) -> &'static str {
        "MetricsFilter"
    }
    fn host_passes(&self, host: HostRef<'_>, _: &FilterContext<'_>) -> bool {
        let m = &host.info().report.metrics;
        self.required.iter().all(|k| m.contains_key(k))
    }
}

/// JsonFilter: the `query` hint, a JSON expression (`["and", [">=", "$free_ram_mb", 1024],
/// ...]`) over HostState attributes, holds. An unparsable query or unknown operator fails
/// every host.
#[derive(Debug, Default, Clone)]
pub struct JsonFilter;

#[derive(Debug, Clone, PartialEq)]
enum Jv {
    Bool(bool),
    Num(f64),
    Str(String),
    List(Vec<Jv>),
    Other(Value),
}

impl Jv {
    fn truthy(&self) -> bool {
        match self {
            Jv::Bool(b) => *b,
            Jv::Num(n) => *n != 0.0,
            Jv::Str(s) => !s.is_empty(),
            Jv::List(l) => !l.is_empty(),
            Jv::Other(v) => match v {
                Value::Object(o) => !o.is_empty(),
                Value::Array(a) => !a.is_empty(),
                _ => false,
            },
        }
    }
    fn from_value(v: Value) -> Option<Jv> {
        Some(match v {
            Value::Null => return None,
            Value::Bool(b) => Jv::Bool(b),
            Value::Number(n) => Jv::Num(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => Jv::Str(s),
            other => Jv::Other(other),
        })
    }
    fn cmp(&self, other: &Jv) -> Option<std::cmp::Ordering> {
        let num = |j: &Jv| match j {
            Jv::Num(n) => Some(*n),
            Jv::Bool(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        };
        match (self, other) {
            (Jv::Str(a), Jv::Str(b)) => Some(a.cmp(b)),
            _ => num(self)?.partial_cmp(&num(other)?),
        }
    }
}

impl JsonFilter {
    fn eval(query: &Value, host: HostRef<'_>) -> Result<Jv, ()> {
        let Value::Array(items) = query else {
            return Ok(Jv::Bool(true));
        };
        let Some(Value::String(cmd)) = items.first() else {
            return if items.is_empty() { Ok(Jv::Bool(true)) } else { Err(()) };
        };
        let mut args = Vec::new();
        for a in &items[1..] {
            let v = match a {
                Value::Array(_) => Some(Self::eval(a, host)?),
                Value::String(s) if s.is_empty() => None,
                Value::String(s) => match s.strip_prefix('$') {
                    None => Some(Jv::Str(s.clone())),
                    Some(path) => {
                        let mut parts = path.split('.');
                        let first = parts.next().unwrap_or("");
                        let mut obj = host_attribute(host, first);
                        for p in parts {
                            obj = match obj {
                                Some(Value::Object(o)) => o.get(p).cloned(),
                                _ => None,
                            };
                        }
                        obj.and_then(Jv::from_value)
                    }
                },
                other => Jv::from_value(other.clone()),
            };
            if let Some(v) = v {
                args.push(v);
            }
        }
        let compare = |f: fn(std::cmp::Ordering) -> bool| -> Jv {
            if args.len() < 2 {
                return Jv::Bool(false);
            }
            Jv::Bool(args[1..].iter().all(|b| args[0].cmp(b).is_some_and(f)))
        };
        Ok(match cmd.as_str() {
            "=" => {
                if args.len() < 2 {
                    Jv::Bool(false)
                } else {
                    Jv::Bool(args[1..].iter().all(|b| {
                        args[0] == *b || args[0].cmp(b) == Some(std::cmp::Ordering::Equal)
                    }))
                }
            }
            "<" => compare(|o| o.is_lt()),
            ">" => compare(|o| o.is_gt()),
            "<=" => compare(|o| o.is_le()),
            ">=" => compare(|o| o.is_ge()),
            "in" => {
                if args.len() < 2 {
                    Jv::Bool(false)
                } else {
                    Jv::Bool(args[1..].iter().any(|b| {
                        args[0] == *b || args[0].cmp(b) == Some(std::cmp::Ordering::Equal)
                    }))
                }
            }
            "not" => Jv::List(args.iter().map(|a| Jv::Bool(!a.truthy())).collect()),
            "or" => Jv::Bool(args.iter().any(Jv::truthy)),
            "and" => Jv::Bool(args.iter().all(Jv::truthy)),
            _ => return Err(()),
        })
    }
}

impl HostFilter for JsonFilter {
    fn name(&self) -> &'static str {
        "JsonFilter"
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        let Some(q) = ctx.spec.hints.query.as_deref().filter(|q| !q.is_empty()) else {
            return true;
        };
        let Ok(query) = serde_json::from_str::<Value>(q) else {
            return false;
        };
        match Self::eval(&query, host) {
            Ok(Jv::List(l)) => l.iter().any(Jv::truthy),
            Ok(v) => v.truthy(),
            Err(()) => false,
        }
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        let Some(q) = ctx.spec.hints.query.as_deref().filter(|q| !q.is_empty()) else {
            return;
        };
        let Ok(query) = serde_json::from_str::<Value>(q) else {
            hosts.clear();
            return;
        };
        hosts.retain(|&i| match Self::eval(&query, table.host(i as usize)) {
            Ok(Jv::List(l)) => l.iter().any(Jv::truthy),
            Ok(v) => v.truthy(),
            Err(()) => false,
        });
    }
}

// ------------------------------------------------------------------ NUMA, PCI

/// NUMATopologyFilter. Ferrostack's host model carries no NUMA topology yet, so this passes
/// every host for requests without NUMA extra specs (as Nova does) and fails every host for
/// requests that ask for one (`hw:numa_nodes`, `hw:cpu_policy=dedicated`, `hw:mem_page_size`),
/// as Nova does for hosts that report no topology.
#[derive(Debug, Default, Clone)]
pub struct NumaTopologyFilter;

fn wants_numa(spec: &RequestSpec) -> bool {
    let es = &spec.flavor.extra_specs;
    es.contains_key("hw:numa_nodes")
        || es.get("hw:cpu_policy").is_some_and(|p| p == "dedicated")
        || es.contains_key("hw:mem_page_size")
        || spec.image_props.contains_key("hw_numa_nodes")
}

impl HostFilter for NumaTopologyFilter {
    fn name(&self) -> &'static str {
        "NUMATopologyFilter"
    }
    fn host_passes(&self, _: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        !wants_numa(ctx.spec)
    }
}

/// PciPassthroughFilter: requests without `pci_passthrough:alias` pass; with an alias
/// `name:count[,name:count]`, the host needs that many free devices in total (the host model
/// has one pool).
#[derive(Debug, Default, Clone)]
pub struct PciPassthroughFilter;

fn pci_request_count(spec: &RequestSpec) -> Option<u64> {
    let alias = spec.flavor.extra_specs.get("pci_passthrough:alias")?;
    let mut total = 0u64;
    for part in alias.split(',') {
        let count = part.split_once(':').map(|(_, c)| c.trim()).unwrap_or("1");
        total += count.parse::<u64>().unwrap_or(u64::MAX / 4);
    }
    Some(total)
}

impl HostFilter for PciPassthroughFilter {
    fn name(&self) -> &'static str {
        "PciPassthroughFilter"
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        match pci_request_count(ctx.spec) {
            None => true,
            Some(n) => u64::from(host.table.free_pci[host.idx]) >= n,
        }
    }
    fn filter(&self, table: &HostTable, ctx: &FilterContext<'_>, hosts: &mut Vec<u32>) {
        if let Some(n) = pci_request_count(ctx.spec) {
            hosts.retain(|&i| u64::from(table.free_pci[i as usize]) >= n);
        }
    }
}

// ------------------------------------------------------------------ legacy resource filters

/// RamFilter (legacy; AggregateRamFilter with `from_aggregates`): no self over-commit, and
/// `total × ratio − (total − free) ≥ requested`.
#[derive(Debug, Default, Clone)]
pub struct RamFilter {
    /// Take the minimum aggregate `ram_allocation_ratio` when present.
    pub from_aggregates: bool,
}

impl HostFilter for RamFilter {
    fn name(&self) -> &'static str {
        if self.from_aggregates { "AggregateRamFilter" } else { "RamFilter" }
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        let req = ctx.spec.flavor.memory_mb as f64;
        let total = host.total_usable_ram_mb() as f64;
        if total < req {
            return false;
        }
        let mut ratio = host.ram_allocation_ratio();
        if self.from_aggregates {
            ratio = host.aggregates().min_float("ram_allocation_ratio", ratio);
        }
        let limit = total * ratio;
        let used = total - host.free_ram_mb() as f64;
        limit - used >= req
    }
}

/// CoreFilter (legacy; AggregateCoreFilter with `from_aggregates`): hosts reporting no vCPUs
/// pass; otherwise no self over-commit and `total × ratio − used ≥ requested`.
#[derive(Debug, Default, Clone)]
pub struct CoreFilter {
    /// Take the minimum aggregate `cpu_allocation_ratio` when present.
    pub from_aggregates: bool,
}

impl HostFilter for CoreFilter {
    fn name(&self) -> &'static str {
        if self.from_aggregates { "AggregateCoreFilter" } else { "CoreFilter" }
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        let total = host.vcpus_total();
        if total == 0 {
            return true;
        }
        let req = ctx.spec.flavor.vcpus;
        if req > total {
            return false;
        }
        let mut ratio = host.cpu_allocation_ratio();
        if self.from_aggregates {
            ratio = host.aggregates().min_float("cpu_allocation_ratio", ratio);
        }
        let free = f64::from(total) * ratio - host.vcpus_used() as f64;
        free >= f64::from(req)
    }
}

/// DiskFilter (legacy; AggregateDiskFilter with `from_aggregates`): in MiB,
/// `1024 × (root + ephemeral) + swap`, no self over-commit and
/// `total × ratio − (total − free) ≥ requested`.
#[derive(Debug, Default, Clone)]
pub struct DiskFilter {
    /// Take the minimum aggregate `disk_allocation_ratio` when present.
    pub from_aggregates: bool,
}

impl HostFilter for DiskFilter {
    fn name(&self) -> &'static str {
        if self.from_aggregates { "AggregateDiskFilter" } else { "DiskFilter" }
    }
    fn host_passes(&self, host: HostRef<'_>, ctx: &FilterContext<'_>) -> bool {
        let f = &ctx.spec.flavor;
        let req = (1024 * (f.root_gb + f.ephemeral_gb) + f.swap_mb) as f64;
        let total = (host.total_usable_disk_gb() * 1024) as f64;
        if total < req {
            return false;
        }
        let mut ratio = host.disk_allocation_ratio();
        if self.from_aggregates {
            ratio = host.aggregates().min_float("disk_allocation_ratio", ratio);
        }
        let limit = total * ratio;
        let used = total - host.free_disk_mb() as f64;
        limit - used >= req
    }
}

/// A filter by Nova's class name, with default options (`None` for unknown names).
pub fn filter_by_name(name: &str) -> Option<Box<dyn HostFilter>> {
    Some(match name {
        "ComputeFilter" => Box::new(ComputeFilter),
        "AllHostsFilter" => Box::new(AllHostsFilter),
        "ComputeCapabilitiesFilter" => Box::new(ComputeCapabilitiesFilter),
        "ImagePropertiesFilter" => Box::new(ImagePropertiesFilter::default()),
        "ServerGroupAntiAffinityFilter" => Box::new(ServerGroupAntiAffinityFilter),
        "ServerGroupAffinityFilter" => Box::new(ServerGroupAffinityFilter),
        "AggregateInstanceExtraSpecsFilter" => Box::new(AggregateInstanceExtraSpecsFilter),
        "AggregateMultiTenancyIsolation" => Box::new(AggregateMultiTenancyIsolation),
        "AggregateTypeAffinityFilter" => Box::new(AggregateTypeAffinityFilter),
        "AggregateImagePropertiesIsolation" => {
            Box::new(AggregateImagePropertiesIsolation::default())
        }
        "AvailabilityZoneFilter" => Box::new(AvailabilityZoneFilter::default()),
        "IsolatedHostsFilter" => Box::new(IsolatedHostsFilter {
            restrict_isolated_hosts_to_isolated_images: true,
            ..Default::default()
        }),
        "SameHostFilter" => Box::new(SameHostFilter),
        "DifferentHostFilter" => Box::new(DifferentHostFilter),
        "SimpleCIDRAffinityFilter" => Box::new(SimpleCidrAffinityFilter),
        "NumInstancesFilter" => Box::new(NumInstancesFilter::default()),
        "AggregateNumInstancesFilter" => {
            Box::new(NumInstancesFilter { from_aggregates: true, ..Default::default() })
        }
        "IoOpsFilter" => Box::new(IoOpsFilter::default()),
        "AggregateIoOpsFilter" => {
            Box::new(IoOpsFilter { from_aggregates: true, ..Default::default() })
        }
        "MetricsFilter" => Box::new(MetricsFilter::default()),
        "JsonFilter" => Box::new(JsonFilter),
        "NUMATopologyFilter" => Box::new(NumaTopologyFilter),
        "PciPassthroughFilter" => Box::new(PciPassthroughFilter),
        "RamFilter" => Box::new(RamFilter::default()),
        "AggregateRamFilter" => Box::new(RamFilter { from_aggregates: true }),
        "CoreFilter" => Box::new(CoreFilter::default()),
        "AggregateCoreFilter" => Box::new(CoreFilter { from_aggregates: true }),
        "DiskFilter" => Box::new(DiskFilter::default()),
        "AggregateDiskFilter" => Box::new(DiskFilter { from_aggregates: true }),
        _ => return None,
    })
}
