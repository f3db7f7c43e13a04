// SPDX-License-Identifier: Apache-2.0
//! IPAM: the free-address search and the plans that reserve fixed IPs (one `absent`
//! condition per address key, so no address is handed out twice).

use super::{Allocation, NetworkService, Plan, Tag, ipam_key, ipam_prefix, target};
use crate::cidr::{IpVersion, eui64, from_u128, to_u128};
use crate::error::{NetworkError, Result};
use crate::policy::authorize;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::SubnetId;
use ferrostack_core::store::{Condition, StoreExt, Versioned};
use std::collections::{BTreeSet, HashSet};
use std::net::IpAddr;

pub(super) fn parse_ip(s: &str) -> Result<IpAddr> {
    s.parse().map_err(|_| {
        NetworkError::invalid(format!(
            "'{}' is not a valid IP address",
            ferrostack_core::id::truncate_for_message(s)
        ))
    })
}

/// The addresses of a subnet IPAM may hand out, as number ranges.
pub(super) fn pool_ranges(s: &Subnet) -> Vec<(u128, u128)> {
    s.allocation_pools.iter().map(|p| (to_u128(&p.start), to_u128(&p.end))).collect()
}

/// Up to `n` free addresses from the pools, lowest first.
pub fn free_candidates(pools: &[(u128, u128)], allocated: &BTreeSet<u128>, n: usize) -> Vec<u128> {
    let mut out = Vec::new();
    for &(start, end) in pools {
        let mut cur = start;
        let mut taken = allocated.range(start..=end).peekable();
        while cur <= end && out.len() < n {
            match taken.peek() {
                Some(&&t) if t == cur => {
                    taken.next();
                }
                _ => out.push(cur),
            }
            if cur == u128::MAX {
                break;
            }
            cur += 1;
        }
        if out.len() >= n {
            break;
        }
    }
    out
}

impl NetworkService {
    pub(super) async fn allocated(&self, subnet: &SubnetId) -> Result<BTreeSet<u128>> {
        let prefix = ipam_prefix(subnet);
        Ok(self
            .store
            .list_all(&prefix)
            .await?
            .iter()
            .filter_map(|kv| u128::from_str_radix(&kv.key[prefix.len()..], 16).ok())
            .collect())
    }

    /// Picks a free address of `subnet` (random among the lowest free ones, to spread
    /// concurrent creators) and reserves it in `plan`. `None` when the pools are exhausted.
    pub(super) async fn plan_auto_ip(
        &self,
        plan: &mut Plan,
        subnet: &Subnet,
        owner: &str,
        avoid: &HashSet<IpAddr>,
    ) -> Result<Option<IpAddr>> {
        let mut taken = self.allocated(&subnet.id).await?;
        taken.extend(avoid.iter().map(to_u128));
        let free = free_candidates(&pool_ranges(subnet), &taken, 16);
        if free.is_empty() {
            return Ok(None);
        }
        let ip = from_u128(subnet.cidr.version(), free[rand::random_range(0..free.len())]);
        self.reserve_ip(plan, subnet, ip, owner, Tag::Retry)?;
        Ok(Some(ip))
    }

    pub(super) fn reserve_ip(
        &self,
        plan: &mut Plan,
        subnet: &Subnet,
        ip: IpAddr,
        owner: &str,
        tag: Tag,
    ) -> Result<()> {
        let key = ipam_key(&subnet.id, &ip);
        plan.when(Condition::absent(&key), tag);
        plan.put(key, &Allocation { owner: owner.to_owned(), ip })
    }

    /// Plans the fixed IPs of a new port.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn plan_fixed_ips(
        &self,
        plan: &mut Plan,
        ctx: &RequestContext,
        net: &Network,
        subnets: &[Versioned<Subnet>],
        req: Option<&[FixedIpRequest]>,
        mac: &[u8; 6],
        owner: &str,
        net_owner_ok: bool,
    ) -> Result<Vec<FixedIp>> {
        let mut out: Vec<FixedIp> = Vec::new();
        let find = |id: &SubnetId| subnets.iter().find(|s| &s.value.id == id).map(|s| &s.value);
        match req {
            None => {
                let mut got_v4 = false;
                let mut got_v6 = false;
                let mut any_v4 = false;
                for s in subnets.iter().map(|s| &s.value) {
                    if s.is_auto_address() {
                        if let Some(ip) = eui64(&s.cidr, mac) {
                            self.reserve_ip(plan, s, ip, owner, Tag::IpInUse(ip, s.id))?;
                            out.push(FixedIp { subnet_id: s.id, ip_address: ip });
                        }
                        continue;
                    }
                    let v4 = s.cidr.version() == IpVersion::V4;
                    any_v4 |= v4;
                    if (v4 && got_v4) || (!v4 && got_v6) {
                        continue;
                    }
                    if let Some(ip) = self.plan_auto_ip(plan, s, owner, &HashSet::new()).await? {
                        out.push(FixedIp { subnet_id: s.id, ip_address: ip });
                        if v4 { got_v4 = true } else { got_v6 = true }
                    }
                }
                if (any_v4 && !got_v4) || (!subnets.is_empty() && out.is_empty()) {
                    return Err(NetworkError::conflict(
                        "IpAddressGenerationFailure",
                        format!("No more IP addresses available on network {}.", net.id),
                    ));
                }
            }
            Some(list) => {
                if list.len() > self.config.max_fixed_ips_per_port {
                    return Err(NetworkError::invalid(
                        "Exceeded maximum amount of fixed ips per port.",
                    ));
                }
                let mut chosen: HashSet<IpAddr> = HashSet::new();
                for r in list {
                    let explicit_ip = r.ip_address.as_deref().map(parse_ip).transpose()?;
                    let subnet = match (&r.subnet_id, explicit_ip) {
                        (Some(id), _) => find(id).ok_or_else(|| {
                            NetworkError::invalid(format!(
                                "Failed to create port on network {}, because fixed_ips included invalid subnet {id}",
                                net.id
                            ))
                        })?,
                        (None, Some(ip)) => subnets
                            .iter()
                            .map(|s| &s.value)
                            .find(|s| s.cidr.contains(&ip))
                            .ok_or_else(|| {
                                NetworkError::invalid(format!(
                                    "IP address {ip} is not a valid IP for any of the subnets on the specified network."
                                ))
                            })?,
                        (None, None) => {
                            return Err(NetworkError::invalid("Exceeded maximum amount of fixed ips per port."));
                        }
                    };
                    match explicit_ip {
                        Some(ip) => {
                            if !net_owner_ok {
                                authorize(
                                    "create_port:fixed_ips:ip_address",
                                    ctx,
                                    &target(&net.project_id),
                                )?;
                            }
                            let n = to_u128(&ip);
                            let c = &subnet.cidr;
                            let reserved_v4 = c.version() == IpVersion::V4
                                && c.prefix_len() < 31
                                && (n == c.first() || n == c.last());
                            if !c.contains(&ip) || reserved_v4 {
                                return Err(NetworkError::invalid(format!(
                                    "IP address {ip} is not a valid IP for the specified subnet."
                                )));
                            }
                            if !chosen.insert(ip) {
                                return Err(NetworkError::invalid(format!(
                                    "Duplicate IP address '{ip}'"
                                )));
                            }
                            self.reserve_ip(plan, subnet, ip, owner, Tag::IpInUse(ip, subnet.id))?;
                            out.push(FixedIp { subnet_id: subnet.id, ip_address: ip });
                        }
                        None => {
                            let ip = if subnet.is_auto_address() {
                                let ip = eui64(&subnet.cidr, mac)
                                    .ok_or_else(|| NetworkError::invalid("SLAAC needs a /64"))?;
                                self.reserve_ip(
                                    plan,
                                    subnet,
                                    ip,
                                    owner,
                                    Tag::IpInUse(ip, subnet.id),
                                )?;
                                Some(ip)
                            } else {
                                self.plan_auto_ip(plan, subnet, owner, &chosen).await?
                            };
                            let ip = ip.ok_or_else(|| {
                                NetworkError::conflict(
                                    "IpAddressGenerationFailure",
                                    format!(
                                        "No more IP addresses available on network {}.",
                                        net.id
                                    ),
                                )
                            })?;
                            chosen.insert(ip);
                            out.push(FixedIp { subnet_id: subnet.id, ip_address: ip });
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    pub(super) async fn network_subnets(&self, net: &Network) -> Result<Vec<Versioned<Subnet>>> {
        let mut out = Vec::new();
        for id in &net.subnets {
            if let Some(s) = self.subnets.get(&id.to_string()).await? {
                out.push(s);
            }
        }
        Ok(out)
    }
}
