// SPDX-License-Identifier: Apache-2.0
//! Deserializers of the request types that answer with Nova's messages for what they refuse.

use crate::hypervisor::RebootKind;
use crate::types::ServerGroupId;
use ferrostack_core::id::ImageId;
use serde::Deserialize;
use serde::de::{self, Deserializer};
use std::collections::BTreeMap;
use std::fmt;

fn bad<E: de::Error>(field: &str) -> E {
    E::custom(format!("Invalid input for field/attribute {field}."))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrNum {
    S(String),
    N(serde_json::Number),
}

pub(super) fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match StrOrNum::deserialize(d) {
        Ok(StrOrNum::S(s)) => Ok(s),
        Ok(StrOrNum::N(n)) => Ok(n.to_string()),
        Err(_) => Err(de::Error::custom(
            "Invalid input for field/attribute server. 'flavorRef' is a required property",
        )),
    }
}

pub(super) fn flavor_ref_arg<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match StrOrNum::deserialize(d) {
        Ok(StrOrNum::S(s)) => Ok(s),
        Ok(StrOrNum::N(n)) => Ok(n.to_string()),
        Err(_) => Err(bad("flavorRef")),
    }
}

fn parse_image_ref<E: de::Error>(s: &str) -> Result<ImageId, E> {
    let id = s.rsplit('/').next().unwrap_or(s);
    id.parse().map_err(|_| E::custom("Invalid imageRef provided."))
}

pub(super) fn image_ref<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ImageId>, D::Error> {
    match Option::<String>::deserialize(d).map_err(|_| bad::<D::Error>("imageRef"))? {
        Some(s) if !s.is_empty() => parse_image_ref(&s).map(Some),
        _ => Ok(None),
    }
}

pub(super) fn required_image_ref<'de, D: Deserializer<'de>>(d: D) -> Result<ImageId, D::Error> {
    let s = String::deserialize(d).map_err(|_| bad::<D::Error>("imageRef"))?;
    parse_image_ref(&s)
}

/// A map of strings; anything else is `Invalid input for field/attribute metadata.`
pub(super) fn metadata<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    Option::<BTreeMap<String, String>>::deserialize(d)
        .map(Option::unwrap_or_default)
        .map_err(|_| bad("metadata"))
}

pub(super) fn config_drive<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum B {
        B(bool),
        S(String),
    }
    match Option::<B>::deserialize(d).map_err(|_| bad::<D::Error>("config_drive"))? {
        None => Ok(false),
        Some(B::B(b)) => Ok(b),
        Some(B::S(s)) => {
            Ok(matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "t" | "on"))
        }
    }
}

pub(super) fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.filter(|s| !s.is_empty()))
}

fn count<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<Option<u32>, D::Error> {
    let n = match Option::<StrOrNum>::deserialize(d).map_err(|_| bad::<D::Error>(field))? {
        None => return Ok(None),
        Some(StrOrNum::N(n)) => n.as_u64(),
        Some(StrOrNum::S(s)) => s.parse().ok(),
    };
    n.filter(|n| (1..=1000).contains(n)).map(|n| Some(n as u32)).ok_or_else(|| bad(field))
}

pub(super) fn min_count<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    Ok(count(d, "min_count")?.unwrap_or(1))
}

pub(super) fn max_count<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    count(d, "max_count")
}

fn ip<'de, D: Deserializer<'de>, T: std::str::FromStr + fmt::Display>(
    d: D,
    field: &str,
) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d).map_err(|_| bad::<D::Error>(field))? {
        None => Ok(None),
        Some(s) if s.is_empty() => Ok(None),
        Some(s) => s.parse::<T>().map(|ip| Some(ip.to_string())).map_err(|_| bad(field)),
    }
}

pub(super) fn ipv4<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    ip::<D, std::net::Ipv4Addr>(d, "accessIPv4")
}

pub(super) fn ipv6<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    ip::<D, std::net::Ipv6Addr>(d, "accessIPv6")
}

pub(super) fn group<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ServerGroupId>, D::Error> {
    match Option::<String>::deserialize(d).map_err(|_| bad::<D::Error>("group"))? {
        None => Ok(None),
        Some(g) => g.parse().map(Some).map_err(|_| {
            de::Error::custom(format!(
                "Invalid input for field/attribute group. Value: {}",
                ferrostack_core::id::truncate_for_message(&g)
            ))
        }),
    }
}

pub(super) fn reboot_kind<'de, D: Deserializer<'de>>(d: D) -> Result<RebootKind, D::Error> {
    match Option::<String>::deserialize(d).ok().flatten().map(|s| s.to_ascii_uppercase()) {
        Some(s) if s == "SOFT" => Ok(RebootKind::Soft),
        Some(s) if s == "HARD" => Ok(RebootKind::Hard),
        _ => Err(bad("type")),
    }
}

/// `length`: the last N lines; null or -1 for everything; integers or integer strings.
pub(super) fn console_length<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let n = match Option::<StrOrNum>::deserialize(d).map_err(|_| bad::<D::Error>("length"))? {
        None => return Ok(None),
        Some(StrOrNum::N(n)) => n.as_i64(),
        Some(StrOrNum::S(s)) => s.trim().parse::<i64>().ok(),
    };
    match n {
        Some(-1) => Ok(None),
        Some(n) if (0..=i64::from(u32::MAX)).contains(&n) => Ok(Some(n as u32)),
        _ => Err(bad("length")),
    }
}
