// SPDX-License-Identifier: Apache-2.0
//! Newtype ids.
//!
//! Every id is its own type, so a `VolumeId` can never be passed where a `ServerId` is expected.
//! Ids serialize as strings. There are two families:
//!
//! * **Resource ids** ([`define_id!`](crate::define_id)): servers, images, volumes, networks, ... are UUIDs, rendered
//!   hyphenated and lowercase as Nova, Glance, Cinder and Neutron render them. Parsing also accepts
//!   the 32-hex-digit simple form.
//! * **Identity ids** ([`define_string_id!`](crate::define_string_id)): domains, projects, users, groups and roles are
//!   opaque strings of 1 to 64 characters, because Keystone's are: the default domain is
//!   `"default"`, an LDAP user's id is whatever the directory says, and projects created by
//!   Keystone are 32 hex digits without hyphens. Keeping them as strings means a token from any
//!   Keystone renders the same project id everywhere (policy checks, Swift's `AUTH_<project>`).

/// Defines a UUID newtype id with `new()` (random v4), `Display`, `FromStr`, serde as a string,
/// and conversions from and to [`uuid::Uuid`].
///
/// ```
/// ferrostack_core::define_id!(
///     /// The id of a widget.
///     WidgetId
/// );
/// let id = WidgetId::new();
/// let parsed: WidgetId = id.to_string().parse().unwrap();
/// assert_eq!(id, parsed);
/// ```
#[macro_export]
macro_rules! define_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub ::uuid::Uuid);

        impl $name {
            /// A new random (version 4) id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(::uuid::Uuid::new_v4())
            }

            /// The underlying UUID.
            pub const fn as_uuid(&self) -> &::uuid::Uuid {
                &self.0
            }

            /// The 32-hex-digit form without hyphens, as Keystone stores user and project ids.
            pub fn simple(&self) -> String {
                self.0.simple().to_string()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::id::InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                // Only the hyphenated and simple forms; no braces or URNs from user input.
                let ok_len = s.len() == 36 || s.len() == 32;
                match (ok_len, ::uuid::Uuid::try_parse(s)) {
                    (true, Ok(u)) => Ok(Self(u)),
                    _ => Err($crate::id::InvalidId { kind: stringify!($name), value: $crate::id::truncate_for_message(s) }),
                }
            }
        }

        impl From<::uuid::Uuid> for $name {
            fn from(u: ::uuid::Uuid) -> Self {
                Self(u)
            }
        }

        impl From<$name> for ::uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0.hyphenated())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(::serde::de::Error::custom)
            }
        }
    };
}

/// A string that is not a valid id of the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {value:?} is not a UUID")]
pub struct InvalidId {
    /// The id type that was expected (`"ServerId"`).
    pub kind: &'static str,
    /// The offending input, cut to a length safe to echo back in an error message.
    pub value: String,
}

impl crate::error::Classify for InvalidId {
    fn kind(&self) -> crate::ErrorKind {
        crate::ErrorKind::InvalidInput
    }
}

/// Cuts user input to at most 64 characters so error messages never echo huge payloads.
#[doc(hidden)]
pub fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 64;
    if s.chars().count() <= MAX {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(MAX).collect();
        out.push('…');
        out
    }
}

/// Defines an opaque string id of 1 to 64 characters with no control characters (Keystone's
/// `VARCHAR(64)` id columns), with `Display`, `FromStr`, `AsRef<str>` and serde as a string.
///
/// ```
/// ferrostack_core::define_string_id!(
///     /// The id of a tenant-like thing.
///     TenantId
/// );
/// let id: TenantId = "default".parse().unwrap();
/// assert_eq!(id.as_str(), "default");
/// assert!("".parse::<TenantId>().is_err());
/// ```
#[macro_export]
macro_rules! define_string_id {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// A new random id in Keystone's form: 32 lowercase hex digits.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(::uuid::Uuid::new_v4().simple().to_string())
            }

            /// The id as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The id as 16 bytes when it is a UUID in simple or hyphenated form (Keystone packs
            /// such ids into Fernet payloads as raw bytes), `None` otherwise.
            pub fn as_uuid(&self) -> Option<::uuid::Uuid> {
                if self.0.len() == 32 || self.0.len() == 36 {
                    ::uuid::Uuid::try_parse(&self.0).ok()
                } else {
                    None
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::id::InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                if $crate::id::is_valid_string_id(s) {
                    Ok(Self(s.to_owned()))
                } else {
                    Err($crate::id::InvalidId { kind: stringify!($name), value: $crate::id::truncate_for_message(s) })
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = $crate::id::InvalidId;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                if $crate::id::is_valid_string_id(&s) {
                    Ok(Self(s))
                } else {
                    Err($crate::id::InvalidId { kind: stringify!($name), value: $crate::id::truncate_for_message(&s) })
                }
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <String as ::serde::Deserialize>::deserialize(d)?;
                Self::try_from(s).map_err(::serde::de::Error::custom)
            }
        }
    };
}

/// Whether `s` is acceptable as a string id: 1 to 64 characters, no control characters.
#[doc(hidden)]
pub fn is_valid_string_id(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= 64 && !s.chars().any(char::is_control)
}

define_string_id!(
    /// A Keystone domain (`"default"` for the default domain).
    DomainId
);
define_string_id!(
    /// A Keystone project (tenant).
    ProjectId
);
define_string_id!(
    /// A Keystone user.
    UserId
);
define_string_id!(
    /// A Keystone group.
    GroupId
);
define_string_id!(
    /// A Keystone role.
    RoleId
);

impl DomainId {
    /// The id of Keystone's default domain, `"default"`.
    pub fn default_domain() -> Self {
        Self("default".to_owned())
    }
}
define_id!(
    /// A Nova server (instance).
    ServerId
);
define_id!(
    /// A Glance image.
    ImageId
);
define_id!(
    /// A Cinder volume.
    VolumeId
);
define_id!(
    /// A Cinder snapshot.
    SnapshotId
);
define_id!(
    /// A Neutron network.
    NetworkId
);
define_id!(
    /// A Neutron subnet.
    SubnetId
);
define_id!(
    /// A Neutron port.
    PortId
);
define_id!(
    /// A Neutron router.
    RouterId
);
define_id!(
    /// An OpenStack request id (`req-<uuid>`).
    RequestUuid
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hyphenated_and_simple_forms_only() {
        let id = ServerId::new();
        assert_eq!(id.to_string().parse::<ServerId>().unwrap(), id);
        assert_eq!(id.simple().parse::<ServerId>().unwrap(), id);
        let braced = format!("{{{id}}}");
        assert!(braced.parse::<ServerId>().is_err());
        let err = "x".repeat(500).parse::<ServerId>().unwrap_err();
        assert!(err.value.chars().count() <= 65);
        assert_eq!(err.kind, "ServerId");
    }

    #[test]
    fn string_ids_accept_keystone_forms_and_refuse_junk() {
        let p = ProjectId::new();
        assert_eq!(p.as_str().len(), 32);
        assert!(p.as_uuid().is_some());
        assert_eq!(DomainId::default_domain().as_str(), "default");
        assert!(DomainId::default_domain().as_uuid().is_none());
        assert!("".parse::<UserId>().is_err());
        assert!("a\nb".parse::<UserId>().is_err());
        assert!("x".repeat(65).parse::<UserId>().is_err());
        assert!(serde_json::from_str::<UserId>("\"cn=alice\"").is_ok());
        assert!(serde_json::from_str::<UserId>("\"\"").is_err());
    }

    #[test]
    fn serde_round_trip_as_string() {
        let id = VolumeId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<VolumeId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<VolumeId>("\"nope\"").is_err());
        assert!(serde_json::from_str::<VolumeId>("42").is_err());
    }
}
