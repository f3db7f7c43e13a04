// SPDX-License-Identifier: Apache-2.0
//! A real guest (the payload from `scripts/guest/build-payload.sh`) booted through the KVM
//! driver under TCG (`virt_type` qemu) on the libvirtd `scripts/test-env/libvirt.sh` starts:
//! marker, config drive, live volume and interface attach and detach, stop, start, soft and
//! hard reboot, destroy, and the lifecycle events.

use ferrostack_compute::conformance::minimal_spec;
use ferrostack_compute::hypervisor::{
    BlockDevice, ChannelSink, ConfigDrive, ConfigDriveFormat, Hypervisor, LifecycleEvent,
    RebootKind,
};
use ferrostack_compute::types::PowerState;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::VolumeId;
use ferrostack_kvm::{KvmDriver, VirtType};
use ferrostack_libvirt::domain::DirectBoot;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Waits (up to a generous deadline: TCG on a loaded 2-core box is slow) until `log` holds
/// `n` lines containing `marker`; returns the log.
async fn wait_for(log: &Path, marker: &str, n: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let text = String::from_utf8_lossy(&std::fs::read(log).unwrap_or_default()).into_owned();
        if text.lines().filter(|l| l.contains(marker)).count() >= n {
            return text;
        }
        assert!(
            Instant::now() < deadline && !text.contains("@@NO-CONFIG-DRIVE@@"),
            "no {n}x {marker:?} in {}:\n{text}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Removes the domain if the test fails half-way (libvirtd keeps persistent domains).
struct Cleanup(String, String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for verb in ["destroy", "undefine"] {
            let _ = std::process::Command::new("virsh")
                .args(["-q", "-c", &self.0, verb, &self.1])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}

fn payload() -> Option<PathBuf> {
    let dir = std::env::var_os("FERROSTACK_TEST_GUEST_PAYLOAD")
        .map(PathBuf::from)
        .unwrap_or_else(|| ferrostack_core::testing::cache_dir().join("guest-payload"));
    dir.join("vmlinuz").exists().then_some(dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_guest_boots_reads_its_config_drive_and_follows_the_lifecycle() {
    let test = "a_real_guest_boots_reads_its_config_drive_and_follows_the_lifecycle";
    let how = "scripts/test-env/libvirt.sh starts libvirtd and builds the payload";
    let Some(uri) =
        ferrostack_core::testing::env_prerequisite("FERROSTACK_TEST_LIBVIRT_URI", test, how)
    else {
        return;
    };
    let payload = payload();
    if !ferrostack_core::testing::prerequisite(payload.is_some(), test, "the guest payload", how) {
        return;
    }
    let payload = payload.unwrap_or_default();
    // QEMU runs as an unprivileged user: everything it opens lives in a traversable directory.
    let dir = tempfile::Builder::new().prefix("ferrostack-kvm-boot").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in ["vmlinuz", "initrd.cpio.gz"] {
        std::fs::copy(payload.join(f), dir.path().join(f)).unwrap();
    }
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let kvm = KvmDriver::new(&uri, VirtType::Qemu, dir.path().join("instances"))
        .direct_boot(DirectBoot {
            kernel: dir.path().join("vmlinuz"),
            initrd: Some(dir.path().join("initrd.cpio.gz")),
            cmdline: Some("console=ttyS0 panic=-1 quiet".into()),
        })
        .shutdown_timeout(Duration::from_secs(120))
        .event_sink(Arc::new(ChannelSink(tx)))
        .build();

    let mut spec = minimal_spec("boot-test");
    spec.flavor.ram_mb = 256;
    spec.config_drive = Some(ConfigDrive::render(&spec, ConfigDriveFormat::ConfigDriveV2));
    let id = spec.id;
    let log = kvm.console_log_path(id);

    let _cleanup = Cleanup(uri.clone(), format!("instance-{id}"));
    let info = kvm.spawn(&spec).await.expect("spawn");
    assert_eq!(info.power_state, PowerState::Running);
    let text = wait_for(&log, "@@WATCHING@@", 1).await;
    assert!(text.contains("@@GUEST-UP@@"), "{text}");
    assert!(text.contains(&format!("uuid={id}")), "the guest read its own id: {text}");

    // A file volume, attached live: the guest sees a new disk, then sees it go.
    let vol = dir.path().join("volume.img");
    std::fs::File::create(&vol).unwrap().set_len(8 << 20).unwrap();
    let bd = BlockDevice {
        volume_id: VolumeId::new(),
        device: "/dev/vdb".into(),
        driver_volume_type: "local".into(),
        connection: serde_json::json!({"device_path": vol.display().to_string()}),
        boot_index: None,
    };
    kvm.attach_volume(id, &bd).await.expect("attach");
    // The guest names disks in probe order (the hot-plugged one is its first virtio disk).
    let text = wait_for(&log, "@@BLOCK-ADDED@@ vd", 1).await;
    let line = text.lines().find(|l| l.contains("@@BLOCK-ADDED@@ vd")).unwrap_or_default();
    assert!(line.ends_with("sectors=16384"), "an 8 MiB disk: {line}");
    let name = line.split_whitespace().nth(1).unwrap_or_default().to_string();
    kvm.detach_volume(id, bd.volume_id).await.expect("detach");
    wait_for(&log, &format!("@@BLOCK-REMOVED@@ {name}"), 1).await;
    assert_eq!(kvm.detach_volume(id, bd.volume_id).await.unwrap_err().kind(), ErrorKind::NotFound);

    // A tap interface, plugged live: the guest sees a NIC with its MAC and MTU, then loses it.
    let vif = ferrostack_compute::types::Vif {
        port_id: ferrostack_core::id::PortId::new(),
        network_id: ferrostack_core::id::NetworkId::new(),
        network_name: "net".into(),
        mac: "fa:16:3e:12:34:56".into(),
        fixed_ips: vec![],
        vif_type: "tap".into(),
        details: [("mtu".to_string(), "1400".to_string())].into(),
        created_by_compute: true,
    };
    kvm.attach_interface(id, &vif).await.expect("attach interface");
    let text = wait_for(&log, "@@NIC-ADDED@@", 1).await;
    let line = text.lines().find(|l| l.contains("@@NIC-ADDED@@")).unwrap_or_default();
    assert!(line.ends_with("mac=fa:16:3e:12:34:56 mtu=1400"), "{line}");
    let nic = line.split_whitespace().nth(1).unwrap_or_default().to_string();
    kvm.detach_interface(id, vif.port_id).await.expect("detach interface");
    wait_for(&log, &format!("@@NIC-REMOVED@@ {nic}"), 1).await;

    // Stop through ACPI (the guest sees the power button), start, soft and hard reboot.
    kvm.power_off(id).await.expect("power off");
    assert_eq!(kvm.info(id).await.unwrap().power_state, PowerState::Shutdown);
    wait_for(&log, "@@ACPI-POWER-BUTTON@@", 1).await;
    kvm.power_on(id).await.expect("power on");
    wait_for(&log, "@@GUEST-UP@@", 2).await;
    wait_for(&log, "@@CONFIG-DRIVE@@", 2).await;
    kvm.reboot(id, RebootKind::Soft).await.expect("soft reboot");
    wait_for(&log, "@@GUEST-UP@@", 3).await;
    wait_for(&log, "@@CONFIG-DRIVE@@", 3).await;
    kvm.reboot(id, RebootKind::Hard).await.expect("hard reboot");
    wait_for(&log, "@@GUEST-UP@@", 4).await;
    assert_eq!(kvm.info(id).await.unwrap().power_state, PowerState::Running);

    let console = kvm.console().unwrap();
    assert!(console.console_url(id, "vnc").await.unwrap().starts_with("vnc://127.0.0.1:"));
    assert!(console.console_url(id, "serial").await.unwrap().starts_with("pty:///dev/pts/"));

    kvm.destroy(id).await.expect("destroy");
    assert_eq!(kvm.info(id).await.unwrap_err().kind(), ErrorKind::NotFound);
    assert!(!dir.path().join("instances").join(id.to_string()).exists(), "instance dir removed");

    let mut events = Vec::new();
    while let Ok((eid, ev)) = rx.try_recv() {
        if eid == id {
            events.push(ev);
        }
    }
    assert_eq!(events.first(), Some(&LifecycleEvent::Started), "{events:?}");
    assert!(events.contains(&LifecycleEvent::Stopped), "{events:?}");
    assert_eq!(events.last(), Some(&LifecycleEvent::Stopped), "{events:?}");
}
