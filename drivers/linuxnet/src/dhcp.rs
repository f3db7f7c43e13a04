// SPDX-License-Identifier: Apache-2.0
//! DHCP: one server (dnsmasq, or ISC Kea with [`DhcpServer::Kea`]) per network, in its own namespace `<prefix>-dhcp-<network>`, on a veth
//! leg into the network's bridge.
//!
//! * Host entries (`mac,ip,hostname`) and per-subnet options (router, DNS servers, classless
//!   static routes) are files written atomically (temporary file + `rename`) and picked up
//!   by `SIGHUP`, so adding a port never restarts the server. A change of subnets (ranges)
//!   restarts it.
//! * dnsmasq serves only the addresses listed (`static` ranges): IPAM stays the authority.
//! * dnsmasq needs an address in each subnet it serves. The service's
//!   [`DhcpSubnet`](ferrostack_network::backend::DhcpSubnet) carries no DHCP-port address, so
//!   the server takes the **last usable address** of each IPv4 subnet; allocation pools must
//!   leave it out (see the crate docs). IPv6 subnets are not served (SLAAC needs no server).

use crate::config::DhcpServer;
use crate::driver::{LinuxNet, State};
use crate::error::LinuxNetError;
use crate::names::{self, Role};
use crate::netlink::Netlink;
use ferrostack_core::id::NetworkId;
use ferrostack_network::backend::{BackendError, DhcpBackend, DhcpNetwork};
use ferrostack_network::cidr::{self, Cidr, IpVersion};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A dnsmasq the driver started (or found running after a restart).
#[derive(Debug)]
pub(crate) struct Server {
    pub pid: i32,
    pub args: Vec<String>,
}

/// The address the DHCP server uses in `c`: the last usable IPv4 address.
pub fn server_address(c: &Cidr) -> Option<Ipv4Addr> {
    if c.version() != IpVersion::V4 || c.prefix_len() > 30 {
        return None;
    }
    match cidr::from_u128(IpVersion::V4, c.last() - 1) {
        IpAddr::V4(a) => Some(a),
        IpAddr::V6(_) => None,
    }
}

fn mask(len: u8) -> Ipv4Addr {
    Ipv4Addr::from(if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len)) })
}

/// The hosts file: one `mac,ip,hostname` line per IPv4 host entry.
pub fn hosts_file(net: &DhcpNetwork) -> String {
    let mut s = String::new();
    for h in &net.hosts {
        if let IpAddr::V4(ip) = h.ip_address {
            let name: String = h
                .hostname
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(63)
                .collect();
            let _ = writeln!(s, "{},{ip},{name}", h.mac_address.to_ascii_lowercase());
        }
    }
    s
}

/// The options file: router, DNS and classless routes per subnet tag.
pub fn opts_file(net: &DhcpNetwork) -> String {
    let mut s = String::new();
    for (i, sub) in net.subnets.iter().enumerate() {
        if sub.cidr.version() != IpVersion::V4 {
            continue;
        }
        match sub.gateway {
            Some(IpAddr::V4(g)) => {
                let _ = writeln!(s, "tag:s{i},option:router,{g}");
            }
            // No gateway: an empty router option stops dnsmasq offering itself.
            _ => {
                let _ = writeln!(s, "tag:s{i},option:router");
            }
        }
        let dns: Vec<String> =
            sub.dns_nameservers.iter().filter(|d| d.is_ipv4()).map(|d| d.to_string()).collect();
        if !dns.is_empty() {
            let _ = writeln!(s, "tag:s{i},option:dns-server,{}", dns.join(","));
        }
        let mut routes: Vec<String> = sub
            .host_routes
            .iter()
            .filter(|r| r.destination.version() == IpVersion::V4 && r.nexthop.is_ipv4())
            .map(|r| format!("{},{}", r.destination, r.nexthop))
            .collect();
        if !routes.is_empty() {
            // Clients that take classless routes ignore the router option (RFC 3442).
            if let Some(IpAddr::V4(g)) = sub.gateway {
                routes.push(format!("0.0.0.0/0,{g}"));
            }
            let _ = writeln!(s, "tag:s{i},option:classless-static-route,{}", routes.join(","));
        }
    }
    s
}

fn write_atomic(path: &Path, data: &str) -> Result<(), LinuxNetError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, data)
        .map_err(|e| LinuxNetError::io(format!("write {}", tmp.display()), e))?;
    std::fs::rename(&tmp, path)
        .map_err(|e| LinuxNetError::io(format!("rename {}", path.display()), e))
}

fn alive(pid: i32, program: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| c.split(|b| *b == 0).next().is_some_and(|p| p.ends_with(program.as_bytes())))
}

fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok().and_then(|p| p.trim().parse().ok())
}

/// SIGTERM, up to a second of grace, then SIGKILL.
async fn stop(pid: i32) {
    signal(pid, rustix::process::Signal::TERM);
    for _ in 0..50 {
        if !Path::new(&format!("/proc/{pid}")).exists() || zombie(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    signal(pid, rustix::process::Signal::KILL);
}

fn zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().is_some_and(|r| r.trim_start().starts_with('Z')))
}

/// The arguments (after the program) a running process was started with.
fn cmdline_args(pid: i32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let mut parts: Vec<String> = raw
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    if parts.is_empty() {
        return None;
    }
    parts.remove(0);
    Some(parts)
}

fn signal(pid: i32, sig: rustix::process::Signal) {
    if let Some(p) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(p, sig);
    }
}

impl LinuxNet {
    fn dhcp_dir(&self, id: NetworkId) -> PathBuf {
        self.cfg.state_dir.join(format!("dhcp-{}", id.0))
    }

    async fn stop_dhcp(&self, st: &mut State, id: NetworkId) -> Result<(), LinuxNetError> {
        let dir = self.dhcp_dir(id);
        let mut pids: Vec<i32> = st.dhcp.remove(&id).map(|s| s.pid).into_iter().collect();
        pids.extend(read_pid(&dir.join("pid")));
        pids.extend(read_pid(&dir.join("kea.kea-dhcp4.pid")));
        for pid in pids {
            if alive(pid, "dnsmasq") || alive(pid, "kea-dhcp4") {
                stop(pid).await;
            }
        }
        self.delete_netns(&names::dhcp_ns(&self.cfg.prefix, id)).await?;
        let nl = self.host(st).await?;
        nl.delete(&names::net_dev(&self.cfg.prefix, Role::DhcpHost, id)).await?;
        if let Some(legs) = st.pending_legs.get_mut(&id) {
            let h = names::net_dev(&self.cfg.prefix, Role::DhcpHost, id);
            legs.retain(|l| *l != h);
        }
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    pub(crate) async fn do_sync_dhcp(&self, net: &DhcpNetwork) -> Result<(), LinuxNetError> {
        let served: Vec<(usize, Cidr, Ipv4Addr)> = net
            .subnets
            .iter()
            .enumerate()
            .filter_map(|(i, s)| server_address(&s.cidr).map(|a| (i, s.cidr, a)))
            .collect();
        let mut st = self.lock().await;
        if served.is_empty() {
            return self.stop_dhcp(&mut st, net.network_id).await;
        }
        for h in &net.hosts {
            crate::netlink::parse_mac(&h.mac_address).ok_or_else(|| {
                LinuxNetError::Invalid(format!("mac address {:?}", h.mac_address))
            })?;
        }
        let p = self.cfg.prefix.clone();
        let id = net.network_id;
        let ns = names::dhcp_ns(&p, id);
        self.ensure_netns(&ns).await?;
        let host_end = names::net_dev(&p, Role::DhcpHost, id);
        let ns_end = names::net_dev(&p, Role::Dhcp, id);
        let inner = Netlink::open(Some(&ns)).await?;
        let nl = self.host(&mut st).await?;
        if inner.link(&ns_end).await?.is_none() {
            nl.delete(&host_end).await?;
            nl.ensure_veth(&host_end, &ns_end).await?;
            let l =
                nl.link(&ns_end).await?.ok_or_else(|| LinuxNetError::NotFound(ns_end.clone()))?;
            nl.move_to(l.index, &ns).await?;
        }
        self.attach_leg(&mut st, &nl, id, &host_end).await?;
        let mtu = st.networks.get(&id).map(|n| n.spec.mtu);
        let l = inner.up(&ns_end, mtu).await?;
        let want: Vec<(IpAddr, u8)> =
            served.iter().map(|(_, c, a)| (IpAddr::V4(*a), c.prefix_len())).collect();
        inner.converge_addresses(l.index, &want).await?;

        let dir = self.dhcp_dir(id);
        std::fs::create_dir_all(&dir)
            .map_err(|e| LinuxNetError::io(format!("create {}", dir.display()), e))?;
        let (program, args, env, pid_file) = match self.cfg.dhcp_server {
            DhcpServer::Dnsmasq => {
                write_atomic(&dir.join("hosts"), &hosts_file(net))?;
                write_atomic(&dir.join("opts"), &opts_file(net))?;
                let d = |f: &str| dir.join(f).display().to_string();
                let mut args = vec![
                    "--keep-in-foreground".to_string(),
                    "--conf-file=/dev/null".into(),
                    "--no-hosts".into(),
                    "--no-resolv".into(),
                    "--port=0".into(),
                    "--bind-interfaces".into(),
                    format!("--interface={ns_end}"),
                    "--except-interface=lo".into(),
                    "--dhcp-authoritative".into(),
                    format!("--dhcp-hostsfile={}", d("hosts")),
                    format!("--dhcp-optsfile={}", d("opts")),
                    format!("--dhcp-leasefile={}", d("leases")),
                    format!("--pid-file={}", d("pid")),
                    format!("--log-facility={}", d("log")),
                    "--log-dhcp".into(),
                ];
                for (i, c, _) in &served {
                    args.push(format!(
                        "--dhcp-range=set:s{i},{},static,{},{}s",
                        c.network(),
                        mask(c.prefix_len()),
                        self.cfg.dhcp_lease_seconds
                    ));
                }
                ("dnsmasq", args, Vec::new(), dir.join("pid"))
            }
            DhcpServer::Kea => {
                let conf = crate::kea::config(net, &ns_end, &dir, self.cfg.dhcp_lease_seconds);
                write_atomic(&dir.join("kea.json"), &conf.to_string())?;
                let d = dir.display().to_string();
                (
                    "kea-dhcp4",
                    vec!["-c".to_string(), dir.join("kea.json").display().to_string()],
                    vec![("KEA_PIDFILE_DIR", d.clone()), ("KEA_LOCKFILE_DIR", d)],
                    dir.join("kea.kea-dhcp4.pid"),
                )
            }
        };
        if let std::collections::btree_map::Entry::Vacant(e) = st.dhcp.entry(id) {
            // A server left by a previous run of the driver with the same configuration is
            // adopted rather than restarted (reconcile on start).
            if let Some(pid) = read_pid(&pid_file)
                && alive(pid, program)
                && cmdline_args(pid).as_deref() == Some(&args[..])
            {
                e.insert(Server { pid, args: args.clone() });
            }
        }
        if let Some(s) = st.dhcp.get(&id)
            && s.args == args
            && alive(s.pid, program)
        {
            // Both servers re-read their host and option data on SIGHUP.
            signal(s.pid, rustix::process::Signal::HUP);
            return Ok(());
        }
        // Start (or restart with the new subnets).
        if let Some(s) = st.dhcp.remove(&id) {
            stop(s.pid).await;
        }
        if let Some(pid) = read_pid(&pid_file)
            && alive(pid, program)
        {
            stop(pid).await;
        }
        let _ = std::fs::remove_file(&pid_file);
        let mut cmd = tokio::process::Command::new("ip");
        cmd.args(["netns", "exec", &ns, program]).args(&args);
        for (k, v) in &env {
            cmd.env(k, v);
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let mut child =
            cmd.spawn().map_err(|e| LinuxNetError::io(format!("spawn {program}"), e))?;
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        // Ready when it wrote its pid file; a bad configuration makes it exit at once.
        let mut ready = false;
        for _ in 0..250 {
            if pid_file.exists() {
                ready = true;
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = e.read_to_string(&mut err).await;
                }
                return Err(LinuxNetError::io(
                    program,
                    std::io::Error::other(format!("exited with {status}: {}", err.trim())),
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !ready {
            let _ = child.start_kill();
            return Err(LinuxNetError::io(program, std::io::Error::other("no pid file after 5 s")));
        }
        // Reap it whenever it ends.
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        st.dhcp.insert(id, Server { pid, args });
        Ok(())
    }

    pub(crate) async fn do_remove_dhcp(&self, id: NetworkId) -> Result<(), LinuxNetError> {
        let mut st = self.lock().await;
        self.stop_dhcp(&mut st, id).await
    }
}

#[async_trait::async_trait]
impl DhcpBackend for LinuxNet {
    fn name(&self) -> &'static str {
        "linuxnet-dnsmasq"
    }
    async fn sync_network(&self, network: &DhcpNetwork) -> Result<(), BackendError> {
        Ok(self.do_sync_dhcp(network).await?)
    }
    async fn remove_network(&self, id: NetworkId) -> Result<(), BackendError> {
        Ok(self.do_remove_dhcp(id).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrostack_core::id::SubnetId;
    use ferrostack_network::backend::{DhcpHost, DhcpSubnet};
    use ferrostack_network::types::HostRoute;

    #[test]
    fn files_carry_hosts_and_options_per_subnet() {
        let net = DhcpNetwork {
            network_id: NetworkId::new(),
            subnets: vec![DhcpSubnet {
                id: SubnetId::new(),
                cidr: "10.0.0.0/24".parse().unwrap(),
                gateway: Some("10.0.0.1".parse().unwrap()),
                dns_nameservers: vec!["10.0.0.2".parse().unwrap()],
                host_routes: vec![HostRoute {
                    destination: "172.16.0.0/16".parse().unwrap(),
                    nexthop: "10.0.0.3".parse().unwrap(),
                }],
            }],
            hosts: vec![DhcpHost {
                mac_address: "FA:16:3E:00:00:03".into(),
                ip_address: "10.0.0.5".parse().unwrap(),
                hostname: "host-10-0-0-5;rm".into(),
            }],
        };
        assert_eq!(hosts_file(&net), "fa:16:3e:00:00:03,10.0.0.5,host-10-0-0-5rm\n");
        let o = opts_file(&net);
        assert!(o.contains("tag:s0,option:router,10.0.0.1\n"), "{o}");
        assert!(o.contains("tag:s0,option:dns-server,10.0.0.2\n"));
        assert!(o.contains("classless-static-route,172.16.0.0/16,10.0.0.3,0.0.0.0/0,10.0.0.1"));
        assert_eq!(
            server_address(&"10.0.0.0/24".parse().unwrap()),
            Some("10.0.0.254".parse().unwrap())
        );
        assert_eq!(server_address(&"10.0.0.0/31".parse().unwrap()), None);
    }
}
