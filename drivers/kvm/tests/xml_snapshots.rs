// SPDX-License-Identifier: Apache-2.0
//! Snapshots of the domain XML the KVM driver renders, one per device kind, each validated
//! against libvirt's schema with `virt-xml-validate`. `UPDATE_SNAPSHOTS=1` rewrites them.

use ferrostack_compute::conformance::minimal_spec;
use ferrostack_compute::hypervisor::{
    BlockDevice, CachedImage, ConfigDrive, ConfigDriveFormat, InstanceSpec,
};
use ferrostack_compute::types::Vif;
use ferrostack_core::id::{ImageId, NetworkId, PortId, ServerId, VolumeId};
use ferrostack_kvm::{KvmDriver, VirtType};
use ferrostack_libvirt::domain::DirectBoot;
use ferrostack_libvirt::testing::{assert_snapshot, have_validator, validate_domain_xml};
use std::collections::BTreeMap;
use std::path::Path;
use uuid::Uuid;

fn spec(n: u128) -> InstanceSpec {
    let mut s = minimal_spec("snap <&'\"> test");
    s.id = ServerId(Uuid::from_u128(0x1000 + n));
    s.flavor.ram_mb = 256;
    s
}

fn volume(n: u128, dev: &str, ty: &str, conn: serde_json::Value) -> BlockDevice {
    BlockDevice {
        volume_id: VolumeId(Uuid::from_u128(0x2000 + n)),
        device: dev.into(),
        driver_volume_type: ty.into(),
        connection: conn,
        boot_index: None,
    }
}

fn vif(n: u128, ty: &str, details: &[(&str, &str)]) -> Vif {
    Vif {
        port_id: PortId(Uuid::from_u128(0x3000 + n)),
        network_id: NetworkId(Uuid::from_u128(0x4000 + n)),
        network_name: "net".into(),
        mac: format!("fa:16:3e:00:00:{n:02x}"),
        fixed_ips: vec![],
        vif_type: ty.into(),
        details: details.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        created_by_compute: true,
    }
}

fn cases() -> Vec<(&'static str, InstanceSpec)> {
    let mut out = Vec::new();
    out.push(("kvm-minimal.xml", spec(1)));

    let mut s = spec(2);
    s.image = Some(CachedImage {
        image_id: ImageId(Uuid::from_u128(9)),
        path: "/var/lib/ferrostack/images/cirros.qcow2".into(),
        disk_format: "qcow2".into(),
        size: 1 << 20,
    });
    out.push(("kvm-qcow2-root.xml", s));

    let mut s = spec(3);
    s.block_devices = vec![
        volume(
            1,
            "/dev/vdb",
            "local",
            serde_json::json!({"device_path": "/var/lib/volumes/v1.img"}),
        ),
        volume(2, "/dev/vdc", "local", serde_json::json!({"device_path": "/dev/vg0/volume-2"})),
        volume(
            3,
            "/dev/vdd",
            "iscsi",
            serde_json::json!({
            "target_iqn": "iqn.2010-10.org.openstack:volume-3", "target_portal": "192.0.2.10:3260",
            "target_lun": 1, "auth_method": "CHAP", "auth_username": "chap-user",
            "secret_uuid": "5a5a5a5a-0000-4000-8000-000000000003"}),
        ),
        volume(
            4,
            "/dev/vde",
            "rbd",
            serde_json::json!({
            "name": "volumes/volume-4", "hosts": ["192.0.2.1", "192.0.2.2"], "ports": ["6789", 6789],
            "auth_username": "cinder", "secret_uuid": "5a5a5a5a-0000-4000-8000-000000000004"}),
        ),
    ];
    out.push(("kvm-volumes.xml", s));

    let mut s = spec(4);
    s.vifs = vec![
        vif(1, "bridge", &[]),
        vif(2, "ovs", &[("bridge_name", "br-int"), ("mtu", "1450")]),
        vif(3, "tap", &[("mtu", "9000")]),
    ];
    out.push(("kvm-interfaces.xml", s));

    let mut s = spec(5);
    s.config_drive = Some(ConfigDrive::render(&s, ConfigDriveFormat::ConfigDriveV2));
    out.push(("kvm-config-drive.xml", s));

    let mut s = spec(6);
    s.flavor.vcpus = 4;
    s.flavor.extra_specs = BTreeMap::from([
        ("hw:mem_page_size".to_string(), "2MB".to_string()),
        ("hw:cpu_policy".to_string(), "dedicated".to_string()),
        ("ferrostack:cpu_pin_set".to_string(), "2,3,4,5".to_string()),
        ("hw:cpu_sockets".to_string(), "1".to_string()),
        ("hw:cpu_cores".to_string(), "2".to_string()),
        ("hw:cpu_threads".to_string(), "2".to_string()),
    ]);
    out.push(("kvm-hugepages-pinning.xml", s));
    out
}

fn snapshots() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"))
}

#[test]
fn domain_xml_snapshots_validate_against_libvirts_schema() {
    let validate = ferrostack_core::testing::prerequisite(
        have_validator(),
        "domain_xml_snapshots_validate_against_libvirts_schema",
        "virt-xml-validate",
        "scripts/test-env/libvirt.sh installs libvirt-clients",
    );
    for (vt, suffix) in [(VirtType::Kvm, ""), (VirtType::Qemu, "-tcg")] {
        let kvm = KvmDriver::new("test:///default", vt, "/var/lib/ferrostack/instances")
            .emulator("/usr/bin/qemu-system-x86_64")
            .direct_boot(DirectBoot {
                kernel: "/var/lib/ferrostack/payload/vmlinuz".into(),
                initrd: Some("/var/lib/ferrostack/payload/initrd.cpio.gz".into()),
                cmdline: Some("console=ttyS0 panic=-1".into()),
            })
            .poll_interval(std::time::Duration::ZERO)
            .build();
        for (name, spec) in cases() {
            if !suffix.is_empty() && name != "kvm-minimal.xml" {
                continue;
            }
            let xml = kvm.render_domain(&spec).expect("render");
            let file = name.replace(".xml", &format!("{suffix}.xml"));
            assert_snapshot(snapshots(), &file, &xml);
            if validate {
                validate_domain_xml(&xml)
                    .unwrap_or_else(|e| panic!("{file} is invalid: {e}\n{xml}"));
            }
        }
    }
}

#[test]
fn spice_display_snapshot() {
    let kvm = KvmDriver::new("test:///default", VirtType::Kvm, "/var/lib/ferrostack/instances")
        .graphics(Some(("spice".into(), "127.0.0.1".into())))
        .poll_interval(std::time::Duration::ZERO)
        .build();
    let xml = kvm.render_domain(&spec(11)).expect("render");
    assert_snapshot(snapshots(), "kvm-spice.xml", &xml);
    if have_validator() {
        validate_domain_xml(&xml).unwrap_or_else(|e| panic!("kvm-spice.xml is invalid: {e}"));
    }
}

#[test]
fn hostile_input_is_refused_before_libvirt_sees_it() {
    let kvm = KvmDriver::new("test:///default", VirtType::Qemu, "/var/lib/ferrostack/instances")
        .poll_interval(std::time::Duration::ZERO)
        .build();
    let bad = [
        ("device", volume(1, "/dev/../etc", "local", serde_json::json!({"device_path": "/x"}))),
        ("relative", volume(1, "/dev/vdb", "local", serde_json::json!({"device_path": "x.img"}))),
        ("missing", volume(1, "/dev/vdb", "local", serde_json::json!({}))),
        (
            "format",
            volume(
                1,
                "/dev/vdb",
                "local",
                serde_json::json!({"device_path": "/x", "format": "vmdk'"}),
            ),
        ),
        ("type", volume(1, "/dev/vdb", "nfs", serde_json::json!({}))),
    ];
    for (what, bd) in bad {
        let mut s = spec(7);
        s.block_devices = vec![bd];
        assert!(kvm.render_domain(&s).is_err(), "{what} must be refused");
    }
    for v in [
        vif(1, "bridge", &[("bridge_name", "br0; rm -rf /")]),
        vif(1, "tap", &[("mtu", "0")]),
        vif(1, "macvtap", &[]),
        Vif { mac: "zz:16:3e:00:00:01".into(), ..vif(1, "tap", &[]) },
    ] {
        let mut s = spec(8);
        s.vifs = vec![v];
        assert!(kvm.render_domain(&s).is_err(), "{:?} must be refused", s.vifs[0]);
    }
    let mut s = spec(9);
    s.flavor.vcpus = 3;
    s.flavor.extra_specs.insert("hw:cpu_cores".into(), "2".into());
    assert!(kvm.render_domain(&s).is_err(), "a topology that does not give the vCPUs");
    let mut s = spec(10);
    s.flavor.ram_mb = u64::MAX;
    assert!(kvm.render_domain(&s).is_err(), "memory overflow");
    let mut s = spec(10);
    s.flavor.vcpus = u32::MAX;
    assert!(kvm.render_domain(&s).is_err(), "absurd vCPU count");
    let mut s = spec(10);
    s.flavor.extra_specs.insert("hw:mem_page_size".into(), "huge'><x/>".into());
    assert!(kvm.render_domain(&s).is_err(), "unknown page size");
    let mut s = spec(10);
    s.flavor.extra_specs.insert("hw:cpu_policy".into(), "dedicated".into());
    assert!(kvm.render_domain(&s).is_err(), "pinning without a CPU set");
}
