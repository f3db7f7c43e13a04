// SPDX-License-Identifier: Apache-2.0
//! Timestamps in the forms OpenStack APIs print.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The current UTC time.
pub fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

/// Keystone's form, microseconds and `Z`: `2030-01-01T00:00:00.000000Z`.
pub fn keystone_format(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Nova's and Neutron's form, whole seconds and `Z`: `2030-01-01T00:00:00Z`.
pub fn seconds_format(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses an RFC 3339 timestamp, or the naive ISO 8601 form without an offset that some
/// OpenStack services print (taken as UTC).
pub fn parse(s: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(s, &Rfc3339) {
        return Some(t);
    }
    let with_z = format!("{s}Z");
    OffsetDateTime::parse(&with_z, &Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn formats_like_openstack() {
        let t = datetime!(2030-01-02 03:04:05.678901 UTC);
        assert_eq!(keystone_format(t), "2030-01-02T03:04:05.678901Z");
        assert_eq!(seconds_format(t), "2030-01-02T03:04:05Z");
        assert_eq!(parse("2030-01-02T03:04:05.678901Z"), Some(t));
        assert_eq!(parse("2030-01-02T03:04:05.678901"), Some(t));
        assert_eq!(parse("yesterday"), None);
    }
}
