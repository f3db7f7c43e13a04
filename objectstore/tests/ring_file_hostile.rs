// SPDX-License-Identifier: Apache-2.0
//! Hostile ring files: arbitrary bytes, gzip'd garbage, Swift's legacy pickle rings, JSON
//! headers with values of the wrong type or range, deep nesting and truncations must give an
//! error, never a panic, a hang or a huge allocation. A file that does load must give a
//! [`Ring`] whose lookups work. (A proptest stands in for a `cargo fuzz` target, which needs
//! nightly; `ring_builder.rs` also flips bytes of valid v1/v2 files.)

use std::io::Write;

use ferrostack_objectstore::ring::{LoadLimits, PathHasher, Ring, RingData};
use proptest::prelude::*;
use serde_json::{Value, json};

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(raw).unwrap();
    enc.finish().unwrap()
}

fn small_limits() -> LoadLimits {
    LoadLimits { max_part_power: 12, max_replica_arrays: 8, max_decompressed_bytes: 1 << 20 }
}

/// Loads `raw` (decompressed and gzip'd); when it loads, the ring must answer lookups.
fn exercise(raw: &[u8]) {
    for data in [
        RingData::from_decompressed(raw, small_limits()),
        RingData::from_reader(&gzip(raw)[..], small_limits()),
    ] {
        let Ok(data) = data else { continue };
        let Ok(ring) = Ring::new(data, PathHasher::swift("p", "s")) else { continue };
        for name in ["a/c/o", "AUTH_x/y/z", ""] {
            let part = ring.partition_of_path(name.as_bytes());
            let _ = ring.primaries(part).as_slice().len();
            let _ = ring.handoffs(part).take(16).count();
        }
    }
}

/// A v1 file: magic, version 1, header length, header JSON, then `tail` as the table.
fn v1(header: &Value, tail: &[u8]) -> Vec<u8> {
    let text = serde_json::to_vec(header).unwrap();
    let mut raw = b"R1NG\x00\x01".to_vec();
    raw.extend_from_slice(&(text.len() as u32).to_be_bytes());
    raw.extend_from_slice(&text);
    raw.extend_from_slice(tail);
    raw
}

/// JSON values that a hostile header might carry in any field.
fn hostile_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (-40i64..80).prop_map(Value::from),
        any::<f64>()
            .prop_filter("json numbers are finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(json!([])),
        Just(json!({})),
        Just(json!("little")),
        Just(json!("big")),
    ]
}

fn hostile_dev() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        (
            0u32..6,
            hostile_value(),
            hostile_value(),
            hostile_value(),
            hostile_value(),
            hostile_value()
        )
            .prop_map(|(id, region, zone, weight, ip, port)| {
                json!({"id": id, "region": region, "zone": zone, "weight": weight, "ip": ip,
                       "port": port, "device": "sdb"})
            }),
        (0u32..6, 1u32..4, 1u32..4, 0.0f64..10.0).prop_map(|(id, r, z, w)| {
            json!({"id": id, "region": r, "zone": z, "weight": w, "ip": "10.0.0.1",
                   "port": 6200, "device": "sdb"})
        }),
        hostile_value(),
    ]
}

proptest! {
    #![proptest_config(ferrostack_core::testing::proptest_config(256))]

    #[test]
    fn arbitrary_bytes_are_errors_not_panics(mut raw in proptest::collection::vec(any::<u8>(), 0..600), v in 0u16..4) {
        exercise(&raw);
        // The same bytes behind a valid magic and version.
        let mut with_magic = b"R1NG".to_vec();
        with_magic.extend_from_slice(&v.to_be_bytes());
        with_magic.append(&mut raw);
        exercise(&with_magic);
        // Not gzip at all.
        let _ = RingData::from_reader(&with_magic[..], small_limits());
    }

    #[test]
    fn hostile_v1_headers_are_errors_not_panics(
        devs in proptest::collection::vec(hostile_dev(), 0..6),
        part_shift in hostile_value(),
        replica_count in hostile_value(),
        byteorder in hostile_value(),
        next_part_power in hostile_value(),
        extra in hostile_value(),
        tail in proptest::collection::vec(0u8..6, 0..64),
        table_parts in 0usize..5,
    ) {
        let header = json!({"devs": devs, "part_shift": part_shift, "replica_count": replica_count,
            "byteorder": byteorder, "next_part_power": next_part_power, "version": extra});
        exercise(&v1(&header, &tail));
        // Plausible sizes with hostile devices: 2^k partitions of u16 ids below 6.
        let parts = 1usize << table_parts;
        let table: Vec<u8> = (0..3 * parts).flat_map(|i| ((i % 6) as u16).to_le_bytes()).collect();
        let header = json!({"devs": devs, "part_shift": 32 - table_parts, "replica_count": 3,
            "byteorder": "little"});
        exercise(&v1(&header, &table));
        // The header as the whole devices list, and a header that is not an object.
        exercise(&v1(&json!([header]), &table));
        exercise(&v1(&extra, &table));
    }
}

#[test]
fn swift_legacy_pickle_rings_are_rejected() {
    // Swift's pre-1.7 rings were a gzip'd pickle of a dict (protocol 2): not supported.
    let pickle = b"\x80\x02}q\x00(U\x04devsq\x01]q\x02U\npart_shiftq\x03K\x10u.";
    let err = RingData::from_reader(&gzip(pickle)[..], LoadLimits::default()).unwrap_err();
    assert!(err.to_string().contains("magic"), "{err}");
}

#[test]
fn deeply_nested_and_oversized_json_is_rejected() {
    // serde_json's recursion limit turns deep nesting into an error, not a stack overflow.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut raw = b"R1NG\x00\x01".to_vec();
    raw.extend_from_slice(&(deep.len() as u32).to_be_bytes());
    raw.extend_from_slice(deep.as_bytes());
    assert!(RingData::from_decompressed(&raw, LoadLimits::default()).is_err());
    // Numbers beyond f64 and u64.
    let header = br#"{"devs":[{"id":0,"region":1,"zone":1,"weight":1e999,"ip":"a","port":1,"device":"d"}],"part_shift":31,"replica_count":1,"byteorder":"little"}"#;
    let mut raw = b"R1NG\x00\x01".to_vec();
    raw.extend_from_slice(&(header.len() as u32).to_be_bytes());
    raw.extend_from_slice(header);
    raw.extend_from_slice(&[0, 0, 0, 0]);
    assert!(RingData::from_decompressed(&raw, LoadLimits::default()).is_err());
    // A replica count that would need far more table than the file has.
    let header = json!({"devs": [null], "part_shift": 8, "replica_count": 1_000_000u64,
        "byteorder": "little"});
    assert!(RingData::from_decompressed(&v1(&header, &[]), LoadLimits::default()).is_err());
    // A big-endian table is accepted like Swift's, a middle-endian one is not.
    let dev = json!({"id": 0, "region": 1, "zone": 1, "weight": 1.0, "ip": "a", "port": 1,
        "device": "d"});
    let ok = json!({"devs": [dev], "part_shift": 31, "replica_count": 1, "byteorder": "big"});
    assert!(RingData::from_decompressed(&v1(&ok, &[0, 0, 0, 0]), LoadLimits::default()).is_ok());
    let bad = json!({"devs": [dev], "part_shift": 31, "replica_count": 1, "byteorder": "middle"});
    assert!(RingData::from_decompressed(&v1(&bad, &[0, 0, 0, 0]), LoadLimits::default()).is_err());
}
