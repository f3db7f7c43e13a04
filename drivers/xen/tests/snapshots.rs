// SPDX-License-Identifier: Apache-2.0
//! Snapshots of the Xen driver's domain XML (validated with `virt-xml-validate`) and `xl`
//! configs for PV, PVH and HVM guests with disks, a config drive and NICs.

use ferrostack_compute::conformance::minimal_spec;
use ferrostack_compute::hypervisor::{BlockDevice, ConfigDrive, ConfigDriveFormat, InstanceSpec};
use ferrostack_compute::types::Vif;
use ferrostack_core::id::{NetworkId, PortId, ServerId, VolumeId};
use ferrostack_libvirt::domain::DirectBoot;
use ferrostack_libvirt::testing::{assert_snapshot, have_validator, validate_domain_xml};
use ferrostack_xen::{XenDriver, XenGuest, xl};
use std::path::Path;
use uuid::Uuid;

fn spec() -> InstanceSpec {
    let mut s = minimal_spec("xen-guest");
    s.id = ServerId(Uuid::from_u128(0x5000));
    s.flavor.ram_mb = 256;
    s.block_devices = vec![
        BlockDevice {
            volume_id: VolumeId(Uuid::from_u128(0x5001)),
            device: "/dev/vdb".into(),
            driver_volume_type: "local".into(),
            connection: serde_json::json!({"device_path": "/dev/vg0/volume-1"}),
            boot_index: None,
        },
        BlockDevice {
            volume_id: VolumeId(Uuid::from_u128(0x5002)),
            device: "/dev/xvdc".into(),
            driver_volume_type: "file".into(),
            connection: serde_json::json!({"device_path": "/var/lib/volumes/v2.img"}),
            boot_index: None,
        },
    ];
    s.vifs = vec![
        Vif {
            port_id: PortId(Uuid::from_u128(0x5003)),
            network_id: NetworkId(Uuid::from_u128(0x5004)),
            network_name: "net".into(),
            mac: "00:16:3e:11:22:33".into(),
            fixed_ips: vec![],
            vif_type: "bridge".into(),
            details: [("bridge_name".to_string(), "xenbr0".to_string())].into(),
            created_by_compute: true,
        },
        Vif {
            port_id: PortId(Uuid::from_u128(0x5005)),
            network_id: NetworkId(Uuid::from_u128(0x5006)),
            network_name: "net2".into(),
            mac: "00:16:3e:11:22:34".into(),
            fixed_ips: vec![],
            vif_type: "ovs".into(),
            details: [("mtu".to_string(), "1450".to_string())].into(),
            created_by_compute: true,
        },
    ];
    s.config_drive = Some(ConfigDrive::render(&s, ConfigDriveFormat::ConfigDriveV2));
    s
}

fn driver(guest: XenGuest) -> XenDriver {
    XenDriver::new("test:///default", guest, "/var/lib/ferrostack/instances")
        .direct_boot(DirectBoot {
            kernel: "/var/lib/ferrostack/payload/vmlinuz".into(),
            initrd: Some("/var/lib/ferrostack/payload/initrd.cpio.gz".into()),
            cmdline: Some("console=hvc0 panic=-1".into()),
        })
        .poll_interval(std::time::Duration::ZERO)
}

#[test]
fn xen_domain_xml_and_xl_config_snapshots() {
    let validate = ferrostack_core::testing::prerequisite(
        have_validator(),
        "xen_domain_xml_and_xl_config_snapshots",
        "virt-xml-validate",
        "scripts/test-env/libvirt.sh installs libvirt-clients",
    );
    let dir = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"));
    for (guest, name) in [(XenGuest::Pv, "pv"), (XenGuest::Pvh, "pvh"), (XenGuest::Hvm, "hvm")] {
        let b = driver(guest);
        let cfg = xl::render_spec(b.config(), &spec()).expect("xl");
        assert_snapshot(dir, &format!("xen-{name}.xl"), &cfg);
        let xml = b.build().render_domain(&spec()).expect("xml");
        assert_snapshot(dir, &format!("xen-{name}.xml"), &xml);
        if validate {
            validate_domain_xml(&xml).unwrap_or_else(|e| panic!("xen-{name}.xml: {e}\n{xml}"));
        }
    }
}

#[test]
fn xl_refuses_values_its_syntax_cannot_carry() {
    let b = driver(XenGuest::Pv);
    let mut s = spec();
    s.block_devices[1].connection =
        serde_json::json!({"device_path": "/var/x',target=/etc/shadow"});
    assert!(matches!(xl::render_spec(b.config(), &s), Err(xl::XlError::BadValue { .. })));
    let mut s = spec();
    s.block_devices[0].driver_volume_type = "rbd".into();
    s.block_devices[0].connection = serde_json::json!({"name": "volumes/v"});
    assert!(matches!(xl::render_spec(b.config(), &s), Err(xl::XlError::Unsupported(_))));
}
