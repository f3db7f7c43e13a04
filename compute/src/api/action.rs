// SPDX-License-Identifier: Apache-2.0
//! [`ServerAction`]: the bodies of `POST /servers/{id}/action`.

use super::{CreateImage, RebuildServer, nova};
use crate::hypervisor::RebootKind;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

/// `POST /servers/{id}/action`: Nova's one-key action bodies (`{"os-stop": null}`,
/// `{"reboot": {"type": "HARD"}}`, `{"resize": {"flavorRef": "2"}}`, ...).
///
/// [`ServerAction::NotImplemented`] holds the actions Nova has that this crate does not
/// build (the router answers them with 501); an unknown key is refused as
/// `There is no such action`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerAction {
    /// `os-stop`.
    Stop,
    /// `os-start`.
    Start,
    /// `reboot`.
    Reboot(RebootKind),
    /// `resize`.
    Resize {
        /// The new flavor.
        flavor_ref: String,
    },
    /// `confirmResize`.
    ConfirmResize,
    /// `revertResize`.
    RevertResize,
    /// `rebuild`.
    Rebuild(RebuildServer),
    /// `createImage`.
    CreateImage(CreateImage),
    /// `os-getConsoleOutput`: the last `length` lines (all with `None`).
    GetConsoleOutput {
        /// Lines.
        length: Option<u32>,
    },
    /// `os-getVNCConsole`, `os-getSPICEConsole`, `os-getSerialConsole` (legacy consoles).
    GetConsole {
        /// `vnc`, `spice` or `serial`.
        protocol: ConsoleProtocol,
        /// The console type asked for (`novnc`, `spice-html5`, `serial`).
        console_type: String,
    },
    /// An action Nova has and this crate does not build (the action's key).
    NotImplemented(String),
}

/// A legacy console action's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsoleProtocol {
    /// `os-getVNCConsole`.
    Vnc,
    /// `os-getSPICEConsole`.
    Spice,
    /// `os-getSerialConsole`.
    Serial,
}

impl ConsoleProtocol {
    /// `vnc`, `spice`, `serial`.
    pub fn as_str(self) -> &'static str {
        match self {
            ConsoleProtocol::Vnc => "vnc",
            ConsoleProtocol::Spice => "spice",
            ConsoleProtocol::Serial => "serial",
        }
    }

    fn action(self) -> &'static str {
        match self {
            ConsoleProtocol::Vnc => "os-getVNCConsole",
            ConsoleProtocol::Spice => "os-getSPICEConsole",
            ConsoleProtocol::Serial => "os-getSerialConsole",
        }
    }
}

/// Nova actions this crate answers with 501 Not Implemented.
pub const NOT_IMPLEMENTED_ACTIONS: &[&str] = &[
    "addFloatingIp",
    "removeFloatingIp",
    "addSecurityGroup",
    "removeSecurityGroup",
    "pause",
    "unpause",
    "suspend",
    "resume",
    "lock",
    "unlock",
    "shelve",
    "unshelve",
    "rescue",
    "unrescue",
    "migrate",
    "os-migrateLive",
    "evacuate",
    "changePassword",
];

const NO_SUCH_ACTION: &str = "There is no such action";

impl ServerAction {
    /// The action's key in Nova's body.
    pub fn name(&self) -> &str {
        match self {
            ServerAction::Stop => "os-stop",
            ServerAction::Start => "os-start",
            ServerAction::Reboot(_) => "reboot",
            ServerAction::Resize { .. } => "resize",
            ServerAction::ConfirmResize => "confirmResize",
            ServerAction::RevertResize => "revertResize",
            ServerAction::Rebuild(_) => "rebuild",
            ServerAction::CreateImage(_) => "createImage",
            ServerAction::GetConsoleOutput { .. } => "os-getConsoleOutput",
            ServerAction::GetConsole { protocol, .. } => protocol.action(),
            ServerAction::NotImplemented(n) => n,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct RebootArgs {
    #[serde(rename = "type", deserialize_with = "nova::reboot_kind")]
    kind: RebootKind,
}

#[derive(Serialize, Deserialize)]
struct ResizeArgs {
    #[serde(rename = "flavorRef", deserialize_with = "nova::flavor_ref_arg")]
    flavor_ref: String,
}

#[derive(Serialize, Deserialize, Default)]
struct ConsoleOutputArgs {
    #[serde(
        default,
        deserialize_with = "nova::console_length",
        skip_serializing_if = "Option::is_none"
    )]
    length: Option<u32>,
}

#[derive(Serialize, Deserialize, Default)]
struct ConsoleArgs {
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    console_type: Option<String>,
}

/// Any JSON, ignored; serialized as `null` (the argument of `{"os-stop": null}`).
struct NoArgs;

impl Serialize for NoArgs {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for NoArgs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        IgnoredAny::deserialize(d).map(|_| NoArgs)
    }
}

/// Arguments that may be `null` (read as the defaults) or an object.
fn args_or_default<'de, A, T>(map: &mut A) -> Result<T, A::Error>
where
    A: MapAccess<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(map.next_value::<Option<T>>()?.unwrap_or_default())
}

impl Serialize for ServerAction {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        let name = self.name();
        match self {
            ServerAction::Stop
            | ServerAction::Start
            | ServerAction::ConfirmResize
            | ServerAction::RevertResize
            | ServerAction::NotImplemented(_) => m.serialize_entry(name, &NoArgs)?,
            ServerAction::Reboot(kind) => m.serialize_entry(name, &RebootArgs { kind: *kind })?,
            ServerAction::Resize { flavor_ref } => {
                m.serialize_entry(name, &ResizeArgs { flavor_ref: flavor_ref.clone() })?
            }
            ServerAction::Rebuild(r) => m.serialize_entry(name, r)?,
            ServerAction::CreateImage(c) => m.serialize_entry(name, c)?,
            ServerAction::GetConsoleOutput { length } => {
                m.serialize_entry(name, &ConsoleOutputArgs { length: *length })?
            }
            ServerAction::GetConsole { console_type, .. } => {
                m.serialize_entry(name, &ConsoleArgs { console_type: Some(console_type.clone()) })?
            }
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for ServerAction {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ServerAction;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object with one action")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ServerAction, A::Error> {
                let no_such = || de::Error::custom(NO_SUCH_ACTION);
                let key: String = map.next_key()?.ok_or_else(no_such)?;
                let action = match key.as_str() {
                    "os-stop" => map.next_value::<NoArgs>().map(|_| ServerAction::Stop)?,
                    "os-start" => map.next_value::<NoArgs>().map(|_| ServerAction::Start)?,
                    "reboot" => ServerAction::Reboot(map.next_value::<RebootArgs>()?.kind),
                    "resize" => ServerAction::Resize {
                        flavor_ref: map.next_value::<ResizeArgs>()?.flavor_ref,
                    },
                    "confirmResize" => {
                        map.next_value::<NoArgs>().map(|_| ServerAction::ConfirmResize)?
                    }
                    "revertResize" => {
                        map.next_value::<NoArgs>().map(|_| ServerAction::RevertResize)?
                    }
                    "rebuild" => ServerAction::Rebuild(map.next_value()?),
                    "createImage" => ServerAction::CreateImage(map.next_value()?),
                    "os-getConsoleOutput" => ServerAction::GetConsoleOutput {
                        length: args_or_default::<_, ConsoleOutputArgs>(&mut map)?.length,
                    },
                    "os-getVNCConsole" | "os-getSPICEConsole" | "os-getSerialConsole" => {
                        let protocol = match key.as_str() {
                            "os-getVNCConsole" => ConsoleProtocol::Vnc,
                            "os-getSPICEConsole" => ConsoleProtocol::Spice,
                            _ => ConsoleProtocol::Serial,
                        };
                        let args: ConsoleArgs = args_or_default(&mut map)?;
                        ServerAction::GetConsole {
                            protocol,
                            console_type: args.console_type.unwrap_or_else(|| "novnc".into()),
                        }
                    }
                    k if NOT_IMPLEMENTED_ACTIONS.contains(&k) => {
                        map.next_value::<NoArgs>()?;
                        ServerAction::NotImplemented(key)
                    }
                    _ => return Err(no_such()),
                };
                if map.next_key::<IgnoredAny>()?.is_some() {
                    return Err(no_such());
                }
                Ok(action)
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[test]
    fn actions_round_trip_through_nova_bodies() {
        let cases = [
            (json!({"os-stop": null}), ServerAction::Stop),
            (json!({"reboot": {"type": "HARD"}}), ServerAction::Reboot(RebootKind::Hard)),
            (
                json!({"resize": {"flavorRef": "2"}}),
                ServerAction::Resize { flavor_ref: "2".into() },
            ),
            (json!({"confirmResize": null}), ServerAction::ConfirmResize),
            (
                json!({"createImage": {"name": "snap", "metadata": {"k": "v"}}}),
                ServerAction::CreateImage(CreateImage {
                    name: "snap".into(),
                    metadata: BTreeMap::from([("k".into(), "v".into())]),
                }),
            ),
            (
                json!({"os-getConsoleOutput": {"length": 5}}),
                ServerAction::GetConsoleOutput { length: Some(5) },
            ),
            (json!({"pause": null}), ServerAction::NotImplemented("pause".into())),
        ];
        for (body, want) in cases {
            let got: ServerAction = serde_json::from_value(body.clone()).unwrap();
            assert_eq!(got, want, "{body}");
            assert_eq!(serde_json::to_value(&got).unwrap(), body);
        }
        // Lenient where Nova is: lower-case reboot types, numeric flavor refs, string lengths.
        let a: ServerAction = serde_json::from_value(json!({"reboot": {"type": "soft"}})).unwrap();
        assert_eq!(a, ServerAction::Reboot(RebootKind::Soft));
        let a: ServerAction = serde_json::from_value(json!({"resize": {"flavorRef": 3}})).unwrap();
        assert_eq!(a, ServerAction::Resize { flavor_ref: "3".into() });
        let a: ServerAction =
            serde_json::from_value(json!({"os-getConsoleOutput": {"length": "-1"}})).unwrap();
        assert_eq!(a, ServerAction::GetConsoleOutput { length: None });
        for bad in [
            json!({"frobnicate": {}}),
            json!({"os-stop": null, "os-start": null}),
            json!({}),
            json!({"reboot": {"type": "sideways"}}),
            json!({"os-getConsoleOutput": {"length": -2}}),
            json!({"os-getConsoleOutput": {"length": 1.5}}),
        ] {
            assert!(serde_json::from_value::<ServerAction>(bad.clone()).is_err(), "{bad}");
        }
    }
}
