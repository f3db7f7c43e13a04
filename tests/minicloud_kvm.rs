// SPDX-License-Identifier: Apache-2.0
//! `openstack server create` through minicloud configured with the libvirt QEMU/KVM driver
//! boots a real guest: the payload kernel and initramfs (`scripts/guest/build-payload.sh`)
//! under TCG (`virt_type = "qemu"`: this host's KVM cannot run a stock kernel), on the
//! libvirtd that `scripts/test-env/libvirt.sh` starts. The server reaches ACTIVE, the guest's
//! marker appears in its console log (`openstack console log show`), and deleting the server removes the domain. The
//! server boots from a volume: the driver's direct kernel boot applies to instances without
//! an image-backed root disk.
#![cfg(feature = "kvm")]

#[allow(dead_code)]
mod common;

use common::{openstack, openstack_bin, openstack_raw, start_with_config};
use ferrostack_core::testing::{cache_dir, env_prerequisite, prerequisite};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The guest prints this once its init runs.
const MARKER: &str = "@@GUEST-UP@@";

#[test]
fn openstack_server_create_boots_a_real_guest_through_the_kvm_driver() {
    let test = "openstack_server_create_boots_a_real_guest_through_the_kvm_driver";
    let how = "scripts/test-env/libvirt.sh starts libvirtd and builds the payload";
    let Some(uri) = env_prerequisite("FERROSTACK_TEST_LIBVIRT_URI", test, how) else { return };
    let payload = std::env::var_os("FERROSTACK_TEST_GUEST_PAYLOAD")
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir().join("guest-payload"));
    if !prerequisite(payload.join("vmlinuz").exists(), test, "the guest payload", how) {
        return;
    }
    let Some(osc) = openstack_bin(test) else { return };

    // QEMU runs as an unprivileged user: what it opens must be in traversable directories.
    let dir = tempfile::Builder::new().prefix("ferrostack-minicloud-kvm").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for f in ["vmlinuz", "initrd.cpio.gz"] {
        std::fs::copy(payload.join(f), dir.path().join(f)).unwrap();
    }
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("minicloud.toml");
    std::fs::write(
        &config,
        format!(
            "[compute]\nhypervisor = \"kvm\"\nlibvirt_uri = \"{uri}\"\nvirt_type = \"qemu\"\n\
             kernel = \"{k}\"\ninitrd = \"{i}\"\ncmdline = \"console=ttyS0 panic=-1 quiet\"\n",
            k = dir.path().join("vmlinuz").display(),
            i = dir.path().join("initrd.cpio.gz").display(),
        ),
    )
    .unwrap();
    let _cloud = start_with_config(&data, Some(&config));
    let clouds = data.join("clouds.yaml");
    let os = |args: &[&str]| openstack(&osc, &clouds, args);

    // The root disk is a volume (a raw file of the embedded block storage, attached through
    // Cinder's attachment flow); the configured kernel and initramfs boot the guest.
    let volume = os(&["volume", "create", "--size", "1", "root"]);
    assert_eq!(volume["status"], "available", "{volume}");
    let server = os(&[
        "server", "create", "--volume", "root", "--flavor", "m1.tiny", "--nic", "none", "--wait",
        "guest",
    ]);
    assert_eq!(server["status"], "ACTIVE", "{server}");
    assert_eq!(server["OS-EXT-STS:power_state"], 1, "{server}");
    let id = server["id"].as_str().unwrap().to_owned();
    let domain = format!("instance-{id}");
    let _cleanup = DomainCleanup(uri.clone(), domain.clone());
    let listed = std::process::Command::new("virsh")
        .args(["-q", "-c", &uri, "list", "--name"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains(&domain), "libvirt has no {domain}");

    // The marker, through Nova's console-output API (`openstack console log show`), which
    // reads the serial console log libvirt writes.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let text = openstack_raw(&osc, &clouds, &["console", "log", "show", "guest"]);
        if text.contains(MARKER) {
            break;
        }
        assert!(Instant::now() < deadline, "no {MARKER} in the console log:\n{text}");
        std::thread::sleep(Duration::from_millis(500));
    }

    openstack_raw(&osc, &clouds, &["server", "delete", "--wait", "guest"]);
    let listed = std::process::Command::new("virsh")
        .args(["-q", "-c", &uri, "list", "--all", "--name"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&listed.stdout).contains(&domain),
        "the domain outlived its server"
    );
}

/// Removes the domain if the test fails half-way (libvirtd keeps persistent domains).
struct DomainCleanup(String, String);

impl Drop for DomainCleanup {
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
