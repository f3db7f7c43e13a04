// SPDX-License-Identifier: Apache-2.0
//! Backend selection with Cinder's semantics: the capabilities filter (volume type extra
//! specs against a backend's capabilities), the capacity filter
//! (`cinder/scheduler/filters/capacity_filter.py`) and the capacity weigher
//! (`cinder/scheduler/weights/capacity.py`, with the default multiplier 1.0: spread).

use crate::backend::{Capabilities, CapacityGb, CapacityReport};
use crate::types::{VolumeType, is_true_spec};

/// What the scheduler knows about one backend.
#[derive(Debug, Clone, PartialEq)]
pub struct BackendState {
    /// The backend's name (`volume_backend_name`).
    pub name: String,
    /// Its kind.
    pub kind: &'static str,
    /// Its capabilities.
    pub capabilities: Capabilities,
    /// Its last capacity report.
    pub capacity: CapacityReport,
}

/// Whether the volume type's extra specs are satisfied by the backend (Cinder's
/// `CapabilitiesFilter`): `volume_backend_name` must equal the backend's name; unscoped
/// and `capabilities:`-scoped keys must name a capability the backend reports with an equal
/// value; keys with another scope (`provisioning:type`, `qos:...`) are not capabilities and
/// are skipped.
pub fn capabilities_filter(state: &BackendState, vtype: &VolumeType) -> bool {
    let caps = &state.capabilities;
    for (key, want) in &vtype.extra_specs {
        let key = key.strip_prefix("capabilities:").unwrap_or(key);
        if key.contains(':') {
            continue;
        }
        let have = match key {
            "volume_backend_name" => {
                if want.trim() != state.name {
                    return false;
                }
                continue;
            }
            "storage_protocol" | "vendor_name" | "driver_version" => continue,
            "multiattach" => caps.multiattach,
            "thin_provisioning_support" => caps.thin_provisioning,
            "thick_provisioning_support" => caps.thick_provisioning,
            "online_extend_support" => caps.online_extend,
            _ => return false,
        };
        if is_true_spec(want) != have {
            return false;
        }
    }
    true
}

/// Whether the backend has room for `requested_gb` (Cinder's `CapacityFilter`). `thick` is
/// whether the type asks for `provisioning:type` `thick`.
pub fn capacity_filter(state: &BackendState, requested_gb: u64, thick: bool) -> bool {
    let c = &state.capacity;
    let free_space = match c.free_gb {
        CapacityGb::Infinite | CapacityGb::Unknown => return true,
        CapacityGb::Known(f) => f,
    };
    let reserved = f64::from(c.reserved_percentage) / 100.0;
    let total = match c.total_gb {
        CapacityGb::Infinite | CapacityGb::Unknown => return reserved == 0.0,
        CapacityGb::Known(t) => t,
    };
    if total <= 0.0 {
        return false;
    }
    let requested = requested_gb as f64;
    let free = free_space - (total * reserved).floor();
    let thin = !thick;
    if thin && state.capabilities.thin_provisioning && c.max_over_subscription_ratio >= 1.0 {
        let provisioned_ratio = (c.provisioned_gb + requested) / total;
        if provisioned_ratio > c.max_over_subscription_ratio {
            return false;
        }
        return free * c.max_over_subscription_ratio >= requested;
    } else if thin && state.capabilities.thin_provisioning {
        return false;
    }
    free >= requested
}

/// The capacity weigher's raw weight: the virtual free capacity
/// (`utils.calculate_virtual_free_capacity`), or -1 for `infinite`/`unknown` capacity.
pub fn capacity_weight(state: &BackendState, thick: bool) -> f64 {
    let c = &state.capacity;
    let (CapacityGb::Known(total), CapacityGb::Known(free)) = (c.total_gb, c.free_gb) else {
        return -1.0;
    };
    let reserved = f64::from(c.reserved_percentage) / 100.0;
    if !thick && state.capabilities.thin_provisioning {
        total * c.max_over_subscription_ratio - c.provisioned_gb - (total * reserved).floor()
    } else {
        free - (total * reserved).floor()
    }
}

/// Normalises weights to 0..1 as Cinder's weight handler does (all 0 when they are equal).
pub fn normalize(weights: &[f64]) -> Vec<f64> {
    let (min, max) = weights
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), w| (lo.min(*w), hi.max(*w)));
    let range = max - min;
    if weights.is_empty() || range == 0.0 || !range.is_finite() {
        return vec![0.0; weights.len()];
    }
    weights.iter().map(|w| (w - min) / range).collect()
}

/// Picks the backend for a `size_gb` volume of type `vtype`: filters by capabilities and
/// capacity, weighs by free capacity (multiplier 1.0), and returns the index of the winner
/// in `states` (the first of equals), or `None` when no backend passes.
pub fn select_backend(states: &[BackendState], vtype: &VolumeType, size_gb: u64) -> Option<usize> {
    let thick = vtype.extra_specs.get("provisioning:type").is_some_and(|v| v.trim() == "thick");
    let passing: Vec<usize> = (0..states.len())
        .filter(|&i| capabilities_filter(&states[i], vtype))
        .filter(|&i| capacity_filter(&states[i], size_gb, thick))
        .collect();
    let raw: Vec<f64> = passing.iter().map(|&i| capacity_weight(&states[i], thick)).collect();
    let norm = normalize(&raw);
    let mut best: Option<(usize, f64)> = None;
    for (k, &i) in passing.iter().enumerate() {
        if best.is_none_or(|(_, w)| norm[k] > w) {
            best = Some((i, norm[k]));
        }
    }
    best.map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::VolumeTypeId;
    use std::collections::BTreeMap;

    fn state(name: &str, total: f64, free: f64, provisioned: f64, thin: bool) -> BackendState {
        BackendState {
            name: name.into(),
            kind: "fake",
            capabilities: Capabilities {
                thin_provisioning: thin,
                thick_provisioning: !thin,
                snapshots: true,
                clones: true,
                online_extend: false,
                multiattach: false,
            },
            capacity: CapacityReport {
                total_gb: CapacityGb::Known(total),
                free_gb: CapacityGb::Known(free),
                provisioned_gb: provisioned,
                reserved_percentage: 0,
                max_over_subscription_ratio: 1.0,
            },
        }
    }

    fn vtype(specs: &[(&str, &str)]) -> VolumeType {
        VolumeType {
            id: VolumeTypeId::new(),
            name: "t".into(),
            description: None,
            is_public: true,
            extra_specs: specs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    #[test]
    fn capacity_filter_matches_cinder_cases() {
        // Thick: free 100 of 500, reserved 10% -> 50 usable.
        let mut s = state("a", 500.0, 100.0, 0.0, false);
        s.capacity.reserved_percentage = 10;
        assert!(capacity_filter(&s, 50, false));
        assert!(!capacity_filter(&s, 51, false));
        // Thin with ratio 2: provisioned 400 + 200 over total 500 = 1.2 <= 2, free 100*2 >= 200.
        let mut t = state("b", 500.0, 100.0, 400.0, true);
        t.capacity.max_over_subscription_ratio = 2.0;
        assert!(capacity_filter(&t, 200, false));
        assert!(!capacity_filter(&t, 201, false));
        // Over the subscription ratio.
        assert!(!capacity_filter(&t, 601, false));
        // Thin backend, thick type: plain free-space check.
        assert!(!capacity_filter(&t, 101, true));
        // Thin support with a ratio below 1 is invalid.
        t.capacity.max_over_subscription_ratio = 0.5;
        assert!(!capacity_filter(&t, 1, false));
        // Unknown free passes; unknown total passes only without reserve.
        let mut u = state("c", 0.0, 0.0, 0.0, false);
        u.capacity.free_gb = CapacityGb::Unknown;
        assert!(capacity_filter(&u, 1000, false));
        u.capacity.free_gb = CapacityGb::Known(10.0);
        u.capacity.total_gb = CapacityGb::Infinite;
        assert!(capacity_filter(&u, 1000, false));
        u.capacity.reserved_percentage = 5;
        assert!(!capacity_filter(&u, 1, false));
    }

    #[test]
    fn weigher_spreads_and_type_pins() {
        let states = vec![state("a", 100.0, 20.0, 0.0, false), state("b", 100.0, 60.0, 0.0, false)];
        assert_eq!(select_backend(&states, &vtype(&[]), 10), Some(1));
        assert_eq!(select_backend(&states, &vtype(&[]), 61), None);
        assert_eq!(select_backend(&states, &vtype(&[("volume_backend_name", "a")]), 10), Some(0));
        assert_eq!(select_backend(&states, &vtype(&[("multiattach", "<is> True")]), 1), None);
        assert_eq!(select_backend(&states, &vtype(&[("provisioning:type", "thin")]), 1), Some(1));
        assert_eq!(select_backend(&states, &vtype(&[("no_such_capability", "x")]), 1), None);
        // Unknown capacity weighs -1: a known backend with any free space wins.
        let mut unknown = state("u", 0.0, 0.0, 0.0, false);
        unknown.capacity.free_gb = CapacityGb::Unknown;
        let states = vec![unknown, state("k", 10.0, 1.0, 0.0, false)];
        assert_eq!(select_backend(&states, &vtype(&[]), 1), Some(1));
        assert_eq!(normalize(&[3.0, 3.0]), vec![0.0, 0.0]);
    }
}
