// SPDX-License-Identifier: Apache-2.0
//! The placement vocabulary compute and the scheduler share: what an instance needs from a
//! host ([`Resources`]) and how a server group spreads its members ([`GroupPolicy`]).
//!
//! Plain data, defined once here so that compute's claims, the filter scheduler and the
//! facade that joins them speak the same types with no mapping between them. The serde forms
//! are the ones compute has always stored (host records and allocations in the
//! [`Store`](crate::store::Store)) and Nova prints: `{"vcpus": 2, "ram_mb": 2048,
//! "disk_gb": 20}` and `"anti-affinity"`.

use serde::{Deserialize, Serialize};

/// Amounts of the three standard resource classes (placement's `VCPU`, `MEMORY_MB`,
/// `DISK_GB`) that a claim takes or a host offers.
///
/// ```
/// use ferrostack_core::placement::Resources;
///
/// let host = Resources { vcpus: 8, ram_mb: 16384, disk_gb: 100 };
/// let vm = Resources { vcpus: 2, ram_mb: 4096, disk_gb: 20 };
/// assert_eq!(host.saturating_sub(vm) + vm, host);
/// assert_eq!(vm.saturating_sub(host), Resources::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Resources {
    /// Virtual CPUs (`VCPU`).
    pub vcpus: u64,
    /// RAM in MiB (`MEMORY_MB`).
    pub ram_mb: u64,
    /// Disk in GiB (`DISK_GB`).
    pub disk_gb: u64,
}

impl Resources {
    /// `self − other` per class, stopping at zero (a release never drives usage negative).
    pub fn saturating_sub(self, other: Resources) -> Resources {
        Resources {
            vcpus: self.vcpus.saturating_sub(other.vcpus),
            ram_mb: self.ram_mb.saturating_sub(other.ram_mb),
            disk_gb: self.disk_gb.saturating_sub(other.disk_gb),
        }
    }
}

impl std::ops::Add for Resources {
    type Output = Resources;

    fn add(self, o: Resources) -> Resources {
        Resources {
            vcpus: self.vcpus + o.vcpus,
            ram_mb: self.ram_mb + o.ram_mb,
            disk_gb: self.disk_gb + o.disk_gb,
        }
    }
}

/// A server group's policy (Nova's `InstanceGroup.policy`), serialized as Nova's string.
///
/// ```
/// use ferrostack_core::placement::GroupPolicy;
///
/// assert_eq!(GroupPolicy::parse("soft-anti-affinity"), Some(GroupPolicy::SoftAntiAffinity));
/// assert_eq!(GroupPolicy::AntiAffinity.as_str(), "anti-affinity");
/// assert_eq!(GroupPolicy::parse("spread"), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GroupPolicy {
    /// Every member on the same host.
    Affinity,
    /// Every member on a different host (at most `max_server_per_host` per host).
    AntiAffinity,
    /// Prefer the hosts that already hold members (a weigher, never a refusal).
    SoftAffinity,
    /// Prefer the hosts that hold no member (a weigher, never a refusal).
    SoftAntiAffinity,
}

impl GroupPolicy {
    /// Every policy, in Nova's order.
    pub const ALL: [GroupPolicy; 4] = [
        GroupPolicy::Affinity,
        GroupPolicy::AntiAffinity,
        GroupPolicy::SoftAffinity,
        GroupPolicy::SoftAntiAffinity,
    ];

    /// Nova's name of the policy.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupPolicy::Affinity => "affinity",
            GroupPolicy::AntiAffinity => "anti-affinity",
            GroupPolicy::SoftAffinity => "soft-affinity",
            GroupPolicy::SoftAntiAffinity => "soft-anti-affinity",
        }
    }

    /// Parses Nova's name; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether the policy refuses hosts (`affinity`, `anti-affinity`) rather than only
    /// ranking them.
    pub fn is_hard(self) -> bool {
        matches!(self, GroupPolicy::Affinity | GroupPolicy::AntiAffinity)
    }
}

impl std::fmt::Display for GroupPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_forms_are_the_stored_ones() {
        let r = Resources { vcpus: 2, ram_mb: 2048, disk_gb: 20 };
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, r#"{"vcpus":2,"ram_mb":2048,"disk_gb":20}"#);
        assert_eq!(serde_json::from_str::<Resources>(&json).unwrap(), r);
        for p in GroupPolicy::ALL {
            let json = serde_json::to_string(&p).unwrap();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
            assert_eq!(serde_json::from_str::<GroupPolicy>(&json).unwrap(), p);
            assert_eq!(GroupPolicy::parse(p.as_str()), Some(p));
        }
    }
}
