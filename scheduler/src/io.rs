// SPDX-License-Identifier: Apache-2.0
//! Reading the equivalence harness's inputs (`cluster.json`, `requests.jsonl` from
//! `synth.py`) and writing its outputs (`decisions.jsonl`, `summary.json`), and the `schedule`
//! command line built on them.
//!
//! The replay follows the harness's fixed semantics: capacity candidates in cluster order,
//! touched hosts re-synced between requests, instances and group membership recorded after
//! a successful request, claims rolled back after a failed one.

use crate::error::SchedulerError;
use crate::host::{Aggregate, HostReport, HostTable};
use crate::scheduler::{
    Claimer, DEFAULT_FILTERS, EXTENDED_FILTERS, FilterScheduler, LocalClaims, Scheduler,
    SchedulerConfig, filters_by_name,
};
use crate::types::{Flavor, GroupPolicy, Hints, RequestSpec, ServerGroup};
use crate::weighers::default_weighers;
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Deserialize)]
struct SynthHost {
    host: String,
    #[serde(default)]
    nodename: Option<String>,
    uuid: String,
    cell_uuid: String,
    #[serde(default)]
    host_ip: Option<String>,
    vcpus: u32,
    vcpus_used: i64,
    memory_mb: u64,
    reserved_host_memory_mb: u64,
    used_ram_mb: i64,
    local_gb: u64,
    used_disk_gb: i64,
    cpu_allocation_ratio: f64,
    ram_allocation_ratio: f64,
    disk_allocation_ratio: f64,
    #[serde(default)]
    io_workload: u32,
    #[serde(default)]
    failed_builds: u32,
    #[serde(default)]
    hypervisor_type: String,
    #[serde(default)]
    hypervisor_version: u64,
    #[serde(default)]
    supported_instances: Vec<Vec<String>>,
    #[serde(default)]
    cpu_info: Value,
    #[serde(default)]
    disabled: bool,
    #[serde(default = "yes")]
    up: bool,
    #[serde(default)]
    instances: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize)]
struct SynthAggregate {
    id: i64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    #[serde(default)]
    hosts: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct SynthGroup {
    uuid: String,
    policy: String,
    #[serde(default)]
    rules: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct SynthCluster {
    hosts: Vec<SynthHost>,
    #[serde(default)]
    aggregates: Vec<SynthAggregate>,
    #[serde(default)]
    groups: Vec<SynthGroup>,
}

#[derive(Debug, Deserialize)]
struct SynthFlavor {
    #[serde(default)]
    name: String,
    vcpus: u32,
    memory_mb: u64,
    #[serde(default)]
    root_gb: u64,
    #[serde(default)]
    ephemeral_gb: u64,
    #[serde(default)]
    swap: u64,
    #[serde(default)]
    extra_specs: BTreeMap<String, Value>,
}

#[derive(Debug, Deserialize)]
struct SynthRequest {
    id: Value,
    flavor: SynthFlavor,
    #[serde(default)]
    image_props: BTreeMap<String, Value>,
    #[serde(default)]
    project_id: String,
    instance_uuids: Vec<String>,
    #[serde(default)]
    group: Option<String>,
    #[serde(default)]
    hints: BTreeMap<String, Value>,
}

/// A server group as the replay keeps it between requests.
#[derive(Debug, Clone)]
pub struct GroupState {
    /// Policy.
    pub policy: GroupPolicy,
    /// `max_server_per_host`.
    pub max_server_per_host: u32,
    /// Members placed so far.
    pub members: Vec<String>,
    /// Hosts of the members, without repeats, in placement order.
    pub hosts: Vec<String>,
}

/// A loaded cluster: hosts in a [`HostTable`] and the server groups.
#[derive(Debug)]
pub struct Cluster {
    /// The hosts.
    pub table: HostTable,
    /// Groups by UUID.
    pub groups: HashMap<String, GroupState>,
}

/// One request of `requests.jsonl`, ready to schedule.
#[derive(Debug, Clone)]
pub struct Request {
    /// The request id, echoed in `decisions.jsonl`.
    pub id: Value,
    /// The spec (its group is filled in from [`Cluster::groups`] at scheduling time).
    pub spec: RequestSpec,
    /// The group UUID, if any.
    pub group: Option<String>,
}

fn invalid(msg: impl Into<String>) -> SchedulerError {
    SchedulerError::InvalidInput(msg.into())
}

fn value_str(v: &Value) -> String {
    crate::filters::py_str(v)
}

impl Cluster {
    /// Parses `cluster.json`.
    pub fn from_json(text: &str) -> Result<Cluster, SchedulerError> {
        let c: SynthCluster =
            serde_json::from_str(text).map_err(|e| invalid(format!("cluster.json: {e}")))?;
        let mut table = HostTable::new();
        for h in c.hosts {
            let report = HostReport {
                nodename: h.nodename.unwrap_or_else(|| h.host.clone()),
                host: h.host,
                uuid: h.uuid,
                cell_uuid: h.cell_uuid,
                host_ip: h.host_ip,
                vcpus: h.vcpus,
                memory_mb: h.memory_mb,
                reserved_host_memory_mb: h.reserved_host_memory_mb,
                local_gb: h.local_gb,
                reserved_host_disk_gb: 0,
                cpu_allocation_ratio: h.cpu_allocation_ratio,
                ram_allocation_ratio: h.ram_allocation_ratio,
                disk_allocation_ratio: h.disk_allocation_ratio,
                io_workload: h.io_workload,
                failed_builds: h.failed_builds,
                hypervisor_type: h.hypervisor_type,
                hypervisor_version: h.hypervisor_version,
                supported_instances: h.supported_instances,
                cpu_info: h.cpu_info,
                disabled: h.disabled,
                up: h.up,
                ..HostReport::default()
            };
            let name = report.host.clone();
            if table.index_of(&name).is_some() {
                return Err(invalid(format!("host {name} appears twice")));
            }
            let idx = table.upsert_host(report)?;
            // Nova's dumps are signed; kept as they are (the view is resynced below).
            table.used[idx] = [h.vcpus_used, h.used_ram_mb, h.used_disk_gb];
            for iu in &h.instances {
                table.add_instance(iu, idx);
            }
            table.resync(idx);
        }
        for a in c.aggregates {
            table.set_aggregate(
                Aggregate { id: a.id, name: a.name, metadata: a.metadata },
                &a.hosts,
            )?;
        }
        let mut groups = HashMap::new();
        for g in c.groups {
            let policy = GroupPolicy::parse(&g.policy).ok_or_else(|| {
                invalid(format!("group {}: unknown policy {:?}", g.uuid, g.policy))
            })?;
            let max = match g.rules.get("max_server_per_host") {
                None => 1,
                Some(v) => {
                    let s = value_str(v);
                    crate::ops::py_int(&s).and_then(|x| u32::try_from(x).ok()).ok_or_else(|| {
                        invalid(format!("group {}: max_server_per_host {s:?}", g.uuid))
                    })?
                }
            };
            groups.insert(
                g.uuid,
                GroupState {
                    policy,
                    max_server_per_host: max,
                    members: Vec::new(),
                    hosts: Vec::new(),
                },
            );
        }
        Ok(Cluster { table, groups })
    }

    /// Reads `cluster.json` from a file.
    pub fn load(path: &Path) -> Result<Cluster, SchedulerError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        Cluster::from_json(&text)
    }

    /// The spec of `req` with its group's current state filled in.
    pub fn spec_for(&self, req: &Request) -> Result<RequestSpec, SchedulerError> {
        let mut spec = req.spec.clone();
        if let Some(g) = &req.group {
            let gs = self.groups.get(g).ok_or_else(|| invalid(format!("unknown group {g}")))?;
            let mut members: HashSet<String> = gs.members.iter().cloned().collect();
            members.extend(spec.instance_uuids.iter().cloned());
            spec.group = Some(ServerGroup {
                uuid: g.clone(),
                policy: gs.policy,
                max_server_per_host: gs.max_server_per_host,
                members,
                hosts: gs.hosts.clone(),
            });
        }
        Ok(spec)
    }

    /// Records a successful request in its group.
    pub fn record_group(&mut self, req: &Request, hosts: &[String]) {
        if let Some(gs) = req.group.as_ref().and_then(|g| self.groups.get_mut(g)) {
            gs.members.extend(req.spec.instance_uuids.iter().cloned());
            for h in hosts {
                if !gs.hosts.contains(h) {
                    gs.hosts.push(h.clone());
                }
            }
        }
    }
}

fn uuid_list(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().map(value_str).collect(),
        Value::Null => Vec::new(),
        other => vec![value_str(other)],
    }
}

impl Request {
    /// Parses one line of `requests.jsonl`.
    pub fn from_json(line: &str) -> Result<Request, SchedulerError> {
        let r: SynthRequest =
            serde_json::from_str(line).map_err(|e| invalid(format!("request: {e}")))?;
        if r.instance_uuids.is_empty() {
            return Err(invalid(format!("request {} has no instance_uuids", r.id)));
        }
        let hint = |k: &str| r.hints.get(k).map(uuid_list).unwrap_or_default();
        let hint_str = |k: &str| r.hints.get(k).map(value_str);
        let spec = RequestSpec {
            flavor: Flavor {
                name: r.flavor.name,
                vcpus: r.flavor.vcpus,
                memory_mb: r.flavor.memory_mb,
                root_gb: r.flavor.root_gb,
                ephemeral_gb: r.flavor.ephemeral_gb,
                swap_mb: r.flavor.swap,
                extra_specs: r
                    .flavor
                    .extra_specs
                    .iter()
                    .map(|(k, v)| (k.clone(), value_str(v)))
                    .collect(),
            },
            image_props: r.image_props.iter().map(|(k, v)| (k.clone(), value_str(v))).collect(),
            project_id: r.project_id,
            instance_uuids: r.instance_uuids,
            group: None,
            hints: Hints {
                same_host: hint("same_host"),
                different_host: hint("different_host"),
                build_near_host_ip: hint_str("build_near_host_ip"),
                cidr: hint_str("cidr"),
                query: hint_str("query"),
            },
            ..RequestSpec::default()
        };
        Ok(Request { id: r.id, spec, group: r.group })
    }

    /// Reads `requests.jsonl`.
    pub fn load_all(path: &Path) -> Result<Vec<Request>, SchedulerError> {
        let f =
            std::fs::File::open(path).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        let mut out = Vec::new();
        for (n, line) in std::io::BufReader::new(f).lines().enumerate() {
            let line = line.map_err(|e| invalid(format!("{}: {e}", path.display())))?;
            if line.trim().is_empty() {
                continue;
            }
            out.push(
                Request::from_json(&line).map_err(|e| invalid(format!("line {}: {e}", n + 1)))?,
            );
        }
        Ok(out)
    }
}

/// Outcome and timings of a replay.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// `ferrostack-rust`.
    pub r#impl: String,
    /// Scenario name.
    pub scenario: String,
    /// Hosts.
    pub hosts: usize,
    /// Requests replayed.
    pub requests: usize,
    /// Instances placed.
    pub instances_placed: usize,
    /// Requests that failed.
    pub requests_failed: usize,
    /// Wall-clock percentiles of `select_destinations`, milliseconds.
    pub sched_ms_p50: f64,
    /// p90.
    pub sched_ms_p90: f64,
    /// p99.
    pub sched_ms_p99: f64,
    /// Max.
    pub sched_ms_max: f64,
    /// CPU-time percentiles of one request (`CLOCK_THREAD_CPUTIME_ID`), milliseconds.
    pub cpu_ms_p50: f64,
    /// p90.
    pub cpu_ms_p90: f64,
    /// p99.
    pub cpu_ms_p99: f64,
    /// Requests per second of scheduling time.
    pub requests_per_s: f64,
    /// Requests per CPU-second of the scheduling thread.
    pub requests_per_cpu_s: f64,
    /// Process CPU-time percentiles of one request (`CLOCK_PROCESS_CPUTIME_ID`: the
    /// scheduling thread plus any filtering threads), milliseconds.
    pub proc_cpu_ms_p50: f64,
    /// p99.
    pub proc_cpu_ms_p99: f64,
    /// Requests per CPU-second of the whole process (all threads).
    pub requests_per_proc_cpu_s: f64,
    /// Hot state bytes per host.
    pub hot_bytes_per_host: usize,
    /// Resident memory growth while loading the cluster, per host (bytes; includes cold
    /// data and the instance index; 0 when unavailable).
    pub rss_bytes_per_host_loaded: f64,
    /// Threads used for filtering.
    pub threads: usize,
}

/// CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`), nanoseconds.
pub fn thread_cpu_clock_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// CPU time of the whole process, all threads (`CLOCK_PROCESS_CPUTIME_ID`), nanoseconds.
pub fn process_cpu_clock_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Resident set size in bytes (`/proc/self/statm`).
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// The percentile `p` (0–100) of `xs` with linear interpolation, as the harness computes it.
pub fn percentile(xs: &[f64], p: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let k = (v.len() - 1) as f64 * p / 100.0;
    let f = k as usize;
    let c = (f + 1).min(v.len() - 1);
    v[f] + (v[c] - v[f]) * (k - f as f64)
}

/// Replays `reqs` against `cluster` with `sched`, writing one decision line per request to
/// `out`. Returns the summary (its memory fields are zero; the caller fills them).
pub fn replay(
    cluster: &mut Cluster,
    reqs: &[Request],
    sched: &mut dyn Scheduler,
    claims: &mut dyn Claimer,
    out: &mut dyn Write,
    scenario: &str,
) -> Result<Summary, SchedulerError> {
    let mut lat = Vec::with_capacity(reqs.len());
    let mut cpu = Vec::with_capacity(reqs.len());
    let mut pcpu = Vec::with_capacity(reqs.len());
    let (mut placed, mut failed) = (0usize, 0usize);

    let io_err = |e: std::io::Error| invalid(format!("writing decisions: {e}"));
    for req in reqs {
        let spec = cluster.spec_for(req)?;
        let p0 = process_cpu_clock_ns();
        let c0 = thread_cpu_clock_ns();
        let t0 = Instant::now();
        let result = sched.select_destinations(&mut cluster.table, &spec, claims);
        lat.push(t0.elapsed().as_secs_f64());
        cpu.push(thread_cpu_clock_ns().saturating_sub(c0) as f64 / 1e9);
        pcpu.push(process_cpu_clock_ns().saturating_sub(p0) as f64 / 1e9);
        let line = match result {
            Ok(sels) => {
                placed += sels.len();
                let hosts: Vec<String> = sels.iter().map(|s| s.host.clone()).collect();
                cluster.record_group(req, &hosts);
                let rows: Vec<Vec<String>> = sels
                    .iter()
                    .map(|s| {
                        std::iter::once(s.host.clone())
                            .chain(s.alternates.iter().cloned())
                            .collect()
                    })
                    .collect();
                serde_json::json!({"id": req.id, "ok": true, "hosts": rows})
            }
            Err(SchedulerError::NoValidHost { .. }) => {
                failed += 1;
                serde_json::json!({"id": req.id, "ok": false, "hosts": []})
            }
            Err(e) => return Err(e),
        };
        writeln!(out, "{line}").map_err(io_err)?;
    }
    let cpu_s: f64 = cpu.iter().sum();
    let pcpu_s: f64 = pcpu.iter().sum();
    let total: f64 = lat.iter().sum();
    // Seconds to milliseconds, kept to 0.1 µs.
    let ms = |x: f64| (x * 1e7).round() / 1e4;
    Ok(Summary {
        r#impl: "ferrostack-rust".into(),
        scenario: scenario.into(),
        hosts: cluster.table.len(),
        requests: reqs.len(),
        instances_placed: placed,
        requests_failed: failed,
        sched_ms_p50: ms(percentile(&lat, 50.0)),
        sched_ms_p90: ms(percentile(&lat, 90.0)),
        sched_ms_p99: ms(percentile(&lat, 99.0)),
        sched_ms_max: ms(lat.iter().copied().fold(0.0, f64::max)),
        cpu_ms_p50: ms(percentile(&cpu, 50.0)),
        cpu_ms_p90: ms(percentile(&cpu, 90.0)),
        cpu_ms_p99: ms(percentile(&cpu, 99.0)),
        requests_per_s: if total > 0.0 { (reqs.len() as f64 / total).round() } else { 0.0 },
        requests_per_cpu_s: if cpu_s > 0.0 { (reqs.len() as f64 / cpu_s).round() } else { 0.0 },
        proc_cpu_ms_p50: ms(percentile(&pcpu, 50.0)),
        proc_cpu_ms_p99: ms(percentile(&pcpu, 99.0)),
        requests_per_proc_cpu_s: if pcpu_s > 0.0 {
            (reqs.len() as f64 / pcpu_s).round()
        } else {
            0.0
        },
        hot_bytes_per_host: HostTable::hot_bytes_per_host(),
        rss_bytes_per_host_loaded: 0.0,
        threads: 1,
    })
}

/// Options of the `schedule` command.
#[derive(Debug, Clone)]
pub struct CliArgs {
    /// `--cluster cluster.json` (or `--data DIR` for both files).
    pub cluster: PathBuf,
    /// `--requests requests.jsonl`.
    pub requests: PathBuf,
    /// `--scenario default|extended`.
    pub scenario: String,
    /// `--out DIR`.
    pub out: PathBuf,
    /// `--max-requests N` (0: all).
    pub max_requests: usize,
    /// Scheduler options (`--host-subset-size`, `--max-attempts`, `--placement-limit`,
    /// `--threads`).
    pub config: SchedulerConfig,
    /// `--repeat N`: replay N times from a fresh load and keep the fastest summary.
    pub repeat: usize,
}

/// Usage text of the `schedule` command.
pub const USAGE: &str = "usage: schedule (--cluster cluster.json --requests requests.jsonl | --data DIR) \
--scenario default|extended --out DIR [--max-requests N] [--host-subset-size N] [--max-attempts N] \
[--placement-limit N] [--threads N] [--repeat N]";

impl CliArgs {
    /// Parses command-line arguments (without the program name).
    pub fn parse(args: &[String]) -> Result<CliArgs, SchedulerError> {
        let mut cluster = None;
        let mut requests = None;
        let mut out = None;
        let mut scenario = "default".to_string();
        let mut max_requests = 0;
        let mut repeat = 1;
        let mut config = SchedulerConfig::default();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut val =
                || it.next().cloned().ok_or_else(|| invalid(format!("{a} needs a value\n{USAGE}")));
            let num = |s: String| {
                s.parse::<usize>().map_err(|_| invalid(format!("{a}: not a number: {s}")))
            };
            match a.as_str() {
                "--cluster" => cluster = Some(PathBuf::from(val()?)),
                "--requests" => requests = Some(PathBuf::from(val()?)),
                "--data" => {
                    let d = PathBuf::from(val()?);
                    cluster = Some(d.join("cluster.json"));
                    requests = Some(d.join("requests.jsonl"));
                }
                "--scenario" => scenario = val()?,
                "--out" => out = Some(PathBuf::from(val()?)),
                "--max-requests" => max_requests = num(val()?)?,
                "--host-subset-size" => config.host_subset_size = num(val()?)?,
                "--max-attempts" => config.max_attempts = num(val()?)?,
                "--placement-limit" => config.placement_limit = num(val()?)?,
                "--threads" => config.threads = num(val()?)?,
                "--repeat" => repeat = num(val()?)?.max(1),
                "-h" | "--help" => return Err(invalid(USAGE)),
                other => return Err(invalid(format!("unknown argument {other}\n{USAGE}"))),
            }
        }
        let need = |x: Option<PathBuf>, what: &str| {
            x.ok_or_else(|| invalid(format!("{what} is required\n{USAGE}")))
        };
        Ok(CliArgs {
            cluster: need(cluster, "--cluster")?,
            requests: need(requests, "--requests")?,
            out: need(out, "--out")?,
            scenario,
            max_requests,
            config,
            repeat,
        })
    }
}

/// The filter list of a scenario name (`default`, `extended`, or a comma-separated list of
/// filter class names).
pub fn scenario_filters(scenario: &str) -> Result<Vec<Box<dyn crate::HostFilter>>, SchedulerError> {
    match scenario {
        "default" => filters_by_name(DEFAULT_FILTERS),
        "extended" => filters_by_name(EXTENDED_FILTERS),
        list => filters_by_name(&list.split(',').map(str::trim).collect::<Vec<_>>()),
    }
}

/// Runs the `schedule` command: loads the inputs, replays them, writes
/// `OUT/decisions.jsonl` and `OUT/summary.json`, and returns the summary.
pub fn run_cli(args: &CliArgs) -> Result<Summary, SchedulerError> {
    let mut reqs = Request::load_all(&args.requests)?;
    if args.max_requests > 0 {
        reqs.truncate(args.max_requests);
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| invalid(format!("{}: {e}", args.out.display())))?;
    let mut best: Option<Summary> = None;
    for _ in 0..args.repeat {
        let rss0 = rss_bytes();
        let mut cluster = Cluster::load(&args.cluster)?;
        let rss1 = rss_bytes();
        let mut sched = FilterScheduler::new(
            scenario_filters(&args.scenario)?,
            default_weighers(),
            args.config.clone(),
        );
        let mut claims = LocalClaims::default();
        let path = args.out.join("decisions.jsonl");
        let f = std::fs::File::create(&path)
            .map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        let mut w = std::io::BufWriter::new(f);
        let mut s = replay(&mut cluster, &reqs, &mut sched, &mut claims, &mut w, &args.scenario)?;
        w.flush().map_err(|e| invalid(format!("{}: {e}", path.display())))?;
        s.threads = args.config.threads.max(1);
        if let (Some(a), Some(b)) = (rss0, rss1)
            && !cluster.table.is_empty()
        {
            {
                s.rss_bytes_per_host_loaded =
                    (b.saturating_sub(a) as f64 / cluster.table.len() as f64).round();
            }
        }
        // Memory growth is only seen by the first load (later loads reuse freed pages).
        if let Some(b) = &best {
            s.rss_bytes_per_host_loaded =
                s.rss_bytes_per_host_loaded.max(b.rss_bytes_per_host_loaded);
        }
        if best.as_ref().is_none_or(|b| s.sched_ms_p50 < b.sched_ms_p50) {
            best = Some(s);
        } else if let Some(b) = &mut best {
            b.rss_bytes_per_host_loaded = s.rss_bytes_per_host_loaded;
        }
    }
    let s = best.ok_or_else(|| invalid("nothing replayed"))?;
    let path = args.out.join("summary.json");
    let text = serde_json::to_string_pretty(&s).map_err(|e| invalid(e.to_string()))?;
    std::fs::write(&path, text).map_err(|e| invalid(format!("{}: {e}", path.display())))?;
    Ok(s)
}
