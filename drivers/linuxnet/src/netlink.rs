// SPDX-License-Identifier: Apache-2.0
//! Links, addresses and routes through `rtnetlink`, in any network namespace.
//!
//! A netlink socket belongs to the namespace it was opened in, whichever thread uses it later.
//! [`Netlink::open`] therefore opens the socket on a short-lived dedicated thread that first
//! `setns(2)`s into `/run/netns/<name>`; the thread ends right after, so no tokio worker ever
//! changes namespace, and the socket keeps working from the runtime.

use crate::error::LinuxNetError;
use futures::TryStreamExt;
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{BridgeVlanInfoFlags, LinkAttribute, LinkMessage};
use rtnetlink::{Handle, LinkBridge, LinkBridgeVlan, LinkUnspec, LinkVeth, LinkVxlan};
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

/// Where `ip netns` keeps its namespaces.
pub(crate) const NETNS_DIR: &str = "/run/netns";

const ENODEV: i32 = 19;
const EEXIST: i32 = 17;
const ENOENT: i32 = 2;
const ESRCH: i32 = 3;
const EADDRNOTAVAIL: i32 = 99;

/// What the driver needs to know about a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub index: u32,
    pub name: String,
    pub controller: Option<u32>,
    pub mtu: Option<u32>,
    pub mac: Option<Vec<u8>>,
}

fn code(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => Some(-m.raw_code()),
        _ => None,
    }
}

fn link_from(m: LinkMessage) -> Link {
    let mut l =
        Link { index: m.header.index, name: String::new(), controller: None, mtu: None, mac: None };
    for a in m.attributes {
        match a {
            LinkAttribute::IfName(n) => l.name = n,
            LinkAttribute::Controller(c) => l.controller = Some(c),
            LinkAttribute::Mtu(v) => l.mtu = Some(v),
            LinkAttribute::Address(a) => l.mac = Some(a),
            _ => {}
        }
    }
    l
}

/// An rtnetlink connection bound to one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens a connection in namespace `netns` (`None`: this process's namespace).
    pub async fn open(netns: Option<&str>) -> Result<Self, LinuxNetError> {
        let rt = tokio::runtime::Handle::current();
        let path = netns.map(|n| PathBuf::from(NETNS_DIR).join(n));
        let shown = netns.unwrap_or("(own)").to_owned();
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name("linuxnet-netns".into())
            .spawn(move || {
                let res = (|| -> std::io::Result<Handle> {
                    if let Some(p) = path {
                        let f = std::fs::File::open(&p)?;
                        rustix::thread::move_into_link_name_space(
                            std::os::fd::AsFd::as_fd(&f),
                            Some(rustix::thread::LinkNameSpaceType::Network),
                        )?;
                    }
                    let _entered = rt.enter();
                    let (conn, handle, _) = rtnetlink::new_connection()?;
                    rt.spawn(conn);
                    Ok(handle)
                })();
                let _ = tx.send(res);
            })
            .map_err(|e| LinuxNetError::io("spawning the netns thread", e))?;
        let handle = rx
            .await
            .map_err(|_| {
                LinuxNetError::io(
                    format!("opening netlink in {shown}"),
                    std::io::Error::other("thread died"),
                )
            })?
            .map_err(|e| LinuxNetError::io(format!("opening netlink in {shown}"), e))?;
        Ok(Netlink { handle })
    }

    /// The link called `name`, if any.
    pub async fn link(&self, name: &str) -> Result<Option<Link>, LinuxNetError> {
        let mut s = self.handle.link().get().match_name(name.to_owned()).execute();
        match s.try_next().await {
            Ok(m) => Ok(m.map(link_from)),
            Err(e) if code(&e) == Some(ENODEV) => Ok(None),
            Err(e) => Err(LinuxNetError::netlink(format!("get link {name}"), e)),
        }
    }

    /// Every link of the namespace.
    pub async fn links(&self) -> Result<Vec<Link>, LinuxNetError> {
        let mut s = self.handle.link().get().execute();
        let mut out = Vec::new();
        while let Some(m) =
            s.try_next().await.map_err(|e| LinuxNetError::netlink("dump links", e))?
        {
            out.push(link_from(m));
        }
        Ok(out)
    }

    async fn add(&self, what: &str, msg: LinkMessage) -> Result<(), LinuxNetError> {
        match self.handle.link().add(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if code(&e) == Some(EEXIST) => Ok(()),
            Err(e) => Err(LinuxNetError::netlink(format!("add {what}"), e)),
        }
    }

    async fn set(&self, what: String, msg: LinkMessage) -> Result<(), LinuxNetError> {
        self.handle.link().set(msg).execute().await.map_err(|e| LinuxNetError::netlink(what, e))
    }

    /// Creates a bridge unless it exists; sets its MTU and brings it up.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        mtu: Option<u32>,
        vlan_filtering: bool,
    ) -> Result<Link, LinuxNetError> {
        if self.link(name).await?.is_none() {
            let mut b = LinkBridge::new(name)
                .stp_state(netlink_packet_route::link::BridgeStpState::Disabled)
                .forward_delay(0);
            if vlan_filtering {
                b = b.vlan_filtering(true).vlan_default_pvid(0);
            }
            self.add(name, b.build()).await?;
        }
        self.up(name, mtu).await
    }

    /// Creates a VXLAN device unless it exists, and brings it up.
    #[allow(clippy::too_many_arguments)]
    pub async fn ensure_vxlan(
        &self,
        name: &str,
        vni: u32,
        port: u16,
        local: Option<std::net::Ipv4Addr>,
        group: Option<std::net::Ipv4Addr>,
        mtu: Option<u32>,
    ) -> Result<Link, LinuxNetError> {
        if self.link(name).await?.is_none() {
            let mut b = LinkVxlan::new(name, vni).port(port).learning(true);
            if let Some(l) = local {
                b = b.local(l);
            }
            if let Some(g) = group {
                b = b.group(g);
            }
            self.add(name, b.build()).await?;
        }
        self.up(name, mtu).await
    }

    /// Creates a veth pair unless `name` exists.
    pub async fn ensure_veth(&self, name: &str, peer: &str) -> Result<(), LinuxNetError> {
        if self.link(name).await?.is_none() {
            self.add(name, LinkVeth::new(name, peer).build()).await?;
        }
        Ok(())
    }

    /// Sets the MTU (when given) and brings `name` up; returns the link.
    pub async fn up(&self, name: &str, mtu: Option<u32>) -> Result<Link, LinuxNetError> {
        let l = self
            .link(name)
            .await?
            .ok_or_else(|| LinuxNetError::NotFound(format!("link {name}")))?;
        let mut b = LinkUnspec::new_with_index(l.index).up();
        if let Some(m) = mtu {
            b = b.mtu(m);
        }
        self.set(format!("set {name} up"), b.build()).await?;
        Ok(l)
    }

    /// Sets the MAC address of `index`.
    pub async fn set_mac(&self, index: u32, mac: [u8; 6]) -> Result<(), LinuxNetError> {
        let msg = LinkUnspec::new_with_index(index).address(mac.to_vec()).build();
        self.set(format!("set mac of {index}"), msg).await
    }

    /// Makes `index` a port of bridge `controller`.
    pub async fn set_controller(&self, index: u32, controller: u32) -> Result<(), LinuxNetError> {
        let msg = LinkUnspec::new_with_index(index).controller(controller).build();
        self.set(format!("enslave {index} to {controller}"), msg).await
    }

    /// Moves `index` into namespace `netns` (an `ip netns` name).
    pub async fn move_to(&self, index: u32, netns: &str) -> Result<(), LinuxNetError> {
        let p = PathBuf::from(NETNS_DIR).join(netns);
        let f = std::fs::File::open(&p)
            .map_err(|e| LinuxNetError::io(format!("open {}", p.display()), e))?;
        let msg = LinkUnspec::new_with_index(index).setns_by_fd(f.as_raw_fd()).build();
        let r = self.set(format!("move {index} to {netns}"), msg).await;
        drop(f);
        r
    }

    /// Deletes the link called `name`; a missing link is fine.
    pub async fn delete(&self, name: &str) -> Result<(), LinuxNetError> {
        let Some(l) = self.link(name).await? else { return Ok(()) };
        match self.handle.link().del(l.index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if code(&e) == Some(ENODEV) => Ok(()),
            Err(e) => Err(LinuxNetError::netlink(format!("delete {name}"), e)),
        }
    }

    /// Makes bridge port `index` an access port of VLAN `vid` (PVID, untagged).
    pub async fn access_vlan(&self, index: u32, vid: u16) -> Result<(), LinuxNetError> {
        let msg = LinkBridgeVlan::new(index)
            .vlan(vid, BridgeVlanInfoFlags::Pvid | BridgeVlanInfoFlags::Untagged)
            .build();
        self.set(format!("vlan {vid} on {index}"), msg).await
    }

    /// Lets bridge port `index` carry VLAN `vid` tagged (a trunk).
    pub async fn trunk_vlan(&self, index: u32, vid: u16) -> Result<(), LinuxNetError> {
        let msg = LinkBridgeVlan::new(index).vlan(vid, BridgeVlanInfoFlags::empty()).build();
        self.set(format!("trunk vlan {vid} on {index}"), msg).await
    }

    /// Makes the addresses of `index` exactly `want` (link-local IPv6 addresses are kept).
    pub async fn converge_addresses(
        &self,
        index: u32,
        want: &[(IpAddr, u8)],
    ) -> Result<(), LinuxNetError> {
        let mut s = self.handle.address().get().set_link_index_filter(index).execute();
        let mut stale = Vec::new();
        let mut have = Vec::new();
        while let Some(m) =
            s.try_next().await.map_err(|e| LinuxNetError::netlink("dump addresses", e))?
        {
            if m.header.index != index {
                continue;
            }
            let Some(a) = address_of(&m) else { continue };
            if let IpAddr::V6(v6) = a
                && v6.segments()[0] & 0xffc0 == 0xfe80
            {
                continue;
            }
            if want.contains(&(a, m.header.prefix_len)) {
                have.push((a, m.header.prefix_len));
            } else {
                stale.push(m);
            }
        }
        for m in stale {
            match self.handle.address().del(m).execute().await {
                Ok(()) => {}
                Err(e) if matches!(code(&e), Some(EADDRNOTAVAIL)) => {}
                Err(e) => return Err(LinuxNetError::netlink("delete address", e)),
            }
        }
        for (a, len) in want {
            if have.contains(&(*a, *len)) {
                continue;
            }
            match self.handle.address().add(index, *a, *len).execute().await {
                Ok(()) => {}
                Err(e) if code(&e) == Some(EEXIST) => {}
                Err(e) => return Err(LinuxNetError::netlink(format!("add address {a}/{len}"), e)),
            }
        }
        Ok(())
    }

    /// Adds or replaces the route to `dest/len` via `gateway` (a default route when `len` is 0).
    pub async fn replace_route(
        &self,
        dest: IpAddr,
        len: u8,
        gateway: IpAddr,
    ) -> Result<(), LinuxNetError> {
        let msg = match (dest, gateway) {
            (IpAddr::V4(d), IpAddr::V4(g)) => {
                rtnetlink::RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                    .destination_prefix(d, len)
                    .gateway(g)
                    .build()
            }
            (IpAddr::V6(d), IpAddr::V6(g)) => {
                rtnetlink::RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                    .destination_prefix(d, len)
                    .gateway(g)
                    .build()
            }
            _ => {
                return Err(LinuxNetError::Invalid(format!(
                    "route {dest}/{len} via {gateway}: mixed families"
                )));
            }
        };
        self.handle
            .route()
            .add(msg)
            .replace()
            .execute()
            .await
            .map_err(|e| LinuxNetError::netlink(format!("route {dest}/{len} via {gateway}"), e))
    }

    /// Deletes the route to `dest/len`; a missing route is fine.
    pub async fn delete_route(&self, dest: IpAddr, len: u8) -> Result<(), LinuxNetError> {
        let msg = match dest {
            IpAddr::V4(d) => rtnetlink::RouteMessageBuilder::<std::net::Ipv4Addr>::new()
                .destination_prefix(d, len)
                .build(),
            IpAddr::V6(d) => rtnetlink::RouteMessageBuilder::<std::net::Ipv6Addr>::new()
                .destination_prefix(d, len)
                .build(),
        };
        match self.handle.route().del(msg).execute().await {
            Ok(()) => Ok(()),
            Err(e) if matches!(code(&e), Some(ESRCH) | Some(ENOENT)) => Ok(()),
            Err(e) => Err(LinuxNetError::netlink(format!("delete route {dest}/{len}"), e)),
        }
    }
}

fn address_of(m: &AddressMessage) -> Option<IpAddr> {
    let mut local = None;
    let mut addr = None;
    for a in &m.attributes {
        match a {
            AddressAttribute::Local(l) => local = Some(*l),
            AddressAttribute::Address(l) => addr = Some(*l),
            _ => {}
        }
    }
    local.or(addr)
}

/// Whether `e` is the kernel refusing an operation it was built without (`EOPNOTSUPP`).
pub(crate) fn not_supported(e: &LinuxNetError) -> bool {
    matches!(e, LinuxNetError::Netlink { source, .. } if code(source) == Some(95))
}

/// Parses `aa:bb:cc:dd:ee:ff`.
pub(crate) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *b = u8::from_str_radix(p, 16).ok()?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(out)
}

/// Whether namespace `name` exists.
pub(crate) fn netns_exists(name: &str) -> bool {
    PathBuf::from(NETNS_DIR).join(name).exists()
}
