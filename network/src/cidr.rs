// SPDX-License-Identifier: Apache-2.0
//! IP prefixes and address arithmetic for IPv4 and IPv6, on `u128` so that both families share
//! one code path.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// An IP version, as Neutron numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpVersion {
    /// IPv4.
    V4,
    /// IPv6.
    V6,
}

impl IpVersion {
    /// `4` or `6`.
    pub fn number(self) -> u8 {
        match self {
            IpVersion::V4 => 4,
            IpVersion::V6 => 6,
        }
    }
    /// The address width in bits.
    pub fn bits(self) -> u8 {
        match self {
            IpVersion::V4 => 32,
            IpVersion::V6 => 128,
        }
    }
    /// The version of `addr`.
    pub fn of(addr: &IpAddr) -> Self {
        match addr {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }
    /// Neutron's ethertype name (`IPv4`, `IPv6`).
    pub fn ethertype(self) -> &'static str {
        match self {
            IpVersion::V4 => "IPv4",
            IpVersion::V6 => "IPv6",
        }
    }
}

/// An address as a number (IPv4 in the low 32 bits).
pub fn to_u128(addr: &IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u32::from(*a) as u128,
        IpAddr::V6(a) => u128::from(*a),
    }
}

/// The address `n` of `version` (IPv4 takes the low 32 bits).
pub fn from_u128(version: IpVersion, n: u128) -> IpAddr {
    match version {
        IpVersion::V4 => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpVersion::V6 => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// Why a prefix did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Not `address/length` with a valid address and length.
    #[error("'{0}' is not a valid IP subnet")]
    Invalid(String),
    /// Host bits are set: `192.168.0.1/24`.
    #[error("'{given}' isn't a recommended CIDR, use '{canonical}' instead")]
    NotCanonical {
        /// What was given.
        given: String,
        /// The network address form.
        canonical: String,
    },
}

/// An IP prefix (`10.0.0.0/24`, `fd00::/64`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    addr: IpAddr,
    len: u8,
}

impl Cidr {
    /// The prefix of `addr` with length `len`, host bits cleared; `None` if `len` is too long.
    pub fn new(addr: IpAddr, len: u8) -> Option<Self> {
        let v = IpVersion::of(&addr);
        if len > v.bits() {
            return None;
        }
        let net = to_u128(&addr) & mask(v, len);
        Some(Cidr { addr: from_u128(v, net), len })
    }

    /// The single-address prefix of `addr` (`/32` or `/128`).
    pub fn host(addr: IpAddr) -> Self {
        let len = IpVersion::of(&addr).bits();
        Cidr { addr, len }
    }

    /// Parses `addr/len` strictly: host bits must be zero. A bare address is a host prefix.
    pub fn parse_strict(s: &str) -> Result<Self, CidrError> {
        let c = Self::parse_loose(s)?;
        let (addr, _) = split(s).ok_or_else(|| CidrError::Invalid(short(s)))?;
        if addr != c.addr {
            return Err(CidrError::NotCanonical { given: short(s), canonical: c.to_string() });
        }
        Ok(c)
    }

    /// Parses `addr/len`, clearing host bits. A bare address is a host prefix.
    pub fn parse_loose(s: &str) -> Result<Self, CidrError> {
        let (addr, len) = split(s).ok_or_else(|| CidrError::Invalid(short(s)))?;
        Cidr::new(addr, len).ok_or_else(|| CidrError::Invalid(short(s)))
    }

    /// The network address.
    pub fn network(&self) -> IpAddr {
        self.addr
    }
    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.len
    }
    /// The IP version.
    pub fn version(&self) -> IpVersion {
        IpVersion::of(&self.addr)
    }
    /// The first address as a number.
    pub fn first(&self) -> u128 {
        to_u128(&self.addr)
    }
    /// The last address as a number (the IPv4 broadcast address).
    pub fn last(&self) -> u128 {
        self.first() | !mask(self.version(), self.len) & full(self.version())
    }
    /// Whether `addr` is inside the prefix.
    pub fn contains(&self, addr: &IpAddr) -> bool {
        IpVersion::of(addr) == self.version() && {
            let n = to_u128(addr);
            n >= self.first() && n <= self.last()
        }
    }
    /// Whether the two prefixes share an address.
    pub fn overlaps(&self, other: &Cidr) -> bool {
        self.version() == other.version()
            && self.first() <= other.last()
            && other.first() <= self.last()
    }
    /// Whether `other` lies entirely inside `self`.
    pub fn covers(&self, other: &Cidr) -> bool {
        self.version() == other.version()
            && self.first() <= other.first()
            && other.last() <= self.last()
    }
}

fn full(v: IpVersion) -> u128 {
    match v {
        IpVersion::V4 => u32::MAX as u128,
        IpVersion::V6 => u128::MAX,
    }
}

fn mask(v: IpVersion, len: u8) -> u128 {
    let bits = v.bits();
    if len == 0 { 0 } else { (full(v) >> (bits - len)) << (bits - len) & full(v) }
}

fn short(s: &str) -> String {
    ferrostack_core::id::truncate_for_message(s)
}

fn split(s: &str) -> Option<(IpAddr, u8)> {
    if s.len() > 64 {
        return None;
    }
    match s.split_once('/') {
        Some((a, l)) => {
            if l.is_empty() || l.len() > 3 || !l.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            Some((IpAddr::from_str(a).ok()?, l.parse().ok()?))
        }
        None => {
            let a = IpAddr::from_str(s).ok()?;
            Some((a, IpVersion::of(&a).bits()))
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl fmt::Debug for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Cidr({self})")
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, CidrError> {
        Cidr::parse_strict(s)
    }
}

impl Serialize for Cidr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Cidr::parse_loose(&s).map_err(serde::de::Error::custom)
    }
}

/// The modified EUI-64 address of `mac` in the /64 `prefix` (IPv6 SLAAC).
pub fn eui64(prefix: &Cidr, mac: &[u8; 6]) -> Option<IpAddr> {
    if prefix.version() != IpVersion::V6 || prefix.prefix_len() > 64 {
        return None;
    }
    let iid: u64 =
        u64::from_be_bytes([mac[0] ^ 0x02, mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]]);
    Some(from_u128(IpVersion::V6, prefix.first() | iid as u128))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_compares_prefixes() {
        let a: Cidr = "192.168.0.0/24".parse().unwrap();
        assert_eq!(a.last(), to_u128(&"192.168.0.255".parse().unwrap()));
        assert!(a.contains(&"192.168.0.7".parse().unwrap()));
        assert!(!a.contains(&"192.168.1.0".parse().unwrap()));
        assert!(matches!("192.168.0.1/24".parse::<Cidr>(), Err(CidrError::NotCanonical { .. })));
        assert!("192.168.0.0/33".parse::<Cidr>().is_err());
        assert!("garbage".parse::<Cidr>().is_err());
        assert!("10.0.0.0/+8".parse::<Cidr>().is_err());
        let b: Cidr = "192.168.0.128/25".parse().unwrap();
        assert!(a.overlaps(&b) && a.covers(&b) && !b.covers(&a));
        let v6: Cidr = "fd00::/64".parse().unwrap();
        assert!(!a.overlaps(&v6));
        assert_eq!(Cidr::parse_loose("0.0.0.0/0").unwrap().last(), u32::MAX as u128);
        let mac = [0xfa, 0x16, 0x3e, 0x01, 0x02, 0x03];
        assert_eq!(eui64(&v6, &mac).unwrap().to_string(), "fd00::f816:3eff:fe01:203");
    }
}
