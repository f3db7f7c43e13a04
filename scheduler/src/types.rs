// SPDX-License-Identifier: Apache-2.0
//! What a scheduling request asks for ([`RequestSpec`]) and what it gets back ([`Selection`]).

use std::collections::{BTreeMap, HashSet};

/// The flavor part of a request (Nova's `Flavor`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Flavor {
    /// Flavor name (`m1.small`); AggregateTypeAffinityFilter matches on it.
    pub name: String,
    /// Virtual CPUs.
    pub vcpus: u32,
    /// RAM in MiB.
    pub memory_mb: u64,
    /// Root disk in GiB.
    pub root_gb: u64,
    /// Ephemeral disk in GiB.
    pub ephemeral_gb: u64,
    /// Swap in MiB.
    pub swap_mb: u64,
    /// Extra specs (`capabilities:...`, `aggregate_instance_extra_specs:...`, `hw:...`).
    pub extra_specs: BTreeMap<String, String>,
}

pub use ferrostack_core::placement::{GroupPolicy, Resources};

/// The server group of a request, as the scheduler sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerGroup {
    /// Group UUID.
    pub uuid: String,
    /// Policy.
    pub policy: GroupPolicy,
    /// `rules.max_server_per_host` (anti-affinity; 1 when absent).
    pub max_server_per_host: u32,
    /// Instance UUIDs of the group, **including** this request's instances (Nova-API adds
    /// them before scheduling).
    pub members: HashSet<String>,
    /// Host names the group's instances are on.
    pub hosts: Vec<String>,
}

/// Scheduler hints (`os:scheduler_hints`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hints {
    /// `same_host`: instance UUIDs; the host must hold one of them.
    pub same_host: Vec<String>,
    /// `different_host`: instance UUIDs; the host must hold none of them.
    pub different_host: Vec<String>,
    /// `build_near_host_ip` (SimpleCIDRAffinityFilter).
    pub build_near_host_ip: Option<String>,
    /// `cidr` (SimpleCIDRAffinityFilter), for example `/24`.
    pub cidr: Option<String>,
    /// `query` (JsonFilter), a JSON document.
    pub query: Option<String>,
}

/// What one `select_destinations` call asks for (Nova's `RequestSpec`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestSpec {
    /// The flavor.
    pub flavor: Flavor,
    /// Image properties (`hw_architecture`, `img_hv_type`, ...), as strings.
    pub image_props: BTreeMap<String, String>,
    /// Project (tenant) id.
    pub project_id: String,
    /// One UUID per instance to place (multi-create when more than one).
    pub instance_uuids: Vec<String>,
    /// The server group, if any.
    pub group: Option<ServerGroup>,
    /// Scheduler hints.
    pub hints: Hints,
    /// Availability zone requested (legacy AvailabilityZoneFilter).
    pub availability_zone: Option<String>,
    /// Boot from volume: the root disk is not taken from the host.
    pub boot_from_volume: bool,
    /// Whether this is a rebuild (only filters with `run_on_rebuild` run).
    pub is_rebuild: bool,
    /// Image id (IsolatedHostsFilter).
    pub image_id: Option<String>,
    /// Hosts never to choose (ChanceScheduler's `ignore_hosts`).
    pub ignore_hosts: Vec<String>,
}

impl RequestSpec {
    /// The placement request of the flavor: `DISK_GB` = root (0 when booting from volume) +
    /// ephemeral + ⌈swap/1024⌉.
    pub fn resources(&self) -> Resources {
        let f = &self.flavor;
        let root = if self.boot_from_volume { 0 } else { f.root_gb };
        Resources {
            vcpus: u64::from(f.vcpus),
            ram_mb: f.memory_mb,
            disk_gb: root + f.ephemeral_gb + f.swap_mb.div_ceil(1024),
        }
    }
}

/// One instance's destination: the chosen (and claimed) host plus alternates for reschedules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The instance.
    pub instance_uuid: String,
    /// Chosen host name.
    pub host: String,
    /// Chosen host's node UUID (its resource provider).
    pub node_uuid: String,
    /// Cell of the chosen host.
    pub cell_uuid: String,
    /// What was claimed on the chosen host (release it with the scheduler's `release`).
    pub claimed: Resources,
    /// Alternate host names, best first (not claimed).
    pub alternates: Vec<String>,
}
