// SPDX-License-Identifier: Apache-2.0
//! End to end: the unmodified `openstack` CLI (venv-osc, `scripts/test-env/openstackclient.sh`)
//! against the `minicloud` example, with the `clouds.yaml` it writes:
//!
//! * identity: token issue, catalog list, project create/list/delete, user create, role add,
//!   role assignment list;
//! * the other embedded services, through the catalog: image create/show/list/save/set/delete
//!   (checksums equal to md5sum and sha512sum, saved bytes equal to the uploaded ones), volume
//!   create from that image (block storage reading Glance through the facade's adapter), network and
//!   subnet create;
//! * compute, as a new user would try it: `server create --wait` on the fake hypervisor with
//!   an image, a network and a flavor, list, stop/start/reboot, add and remove a volume,
//!   snapshot to an image, delete.

mod common;

use common::{openstack, openstack_bin, openstack_raw, start};
use serde_json::Value;
use std::time::{Duration, Instant};

#[test]
fn openstack_cli_against_minicloud() {
    let Some(bin) = openstack_bin("openstack_cli_against_minicloud") else { return };
    let dir = tempfile::tempdir().unwrap();
    let _cloud = start(dir.path());
    let clouds = dir.path().join("clouds.yaml");
    let os = |args: &[&str]| openstack(&bin, &clouds, args);

    let token = os(&["token", "issue"]);
    assert!(token["id"].as_str().is_some_and(|t| t.len() > 100), "{token}");
    let catalog = os(&["catalog", "list"]);
    assert!(catalog.as_array().unwrap().iter().any(|s| s["Type"] == "identity"), "{catalog}");
    let project = os(&["project", "create", "demo"]);
    assert_eq!(project["name"], "demo");
    let names: Vec<String> = os(&["project", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"demo".to_owned()) && names.contains(&"admin".to_owned()));
    assert_eq!(os(&["user", "create", "--password", "alicepw", "alice"])["name"], "alice");
    // `role add` prints nothing.
    openstack_raw(
        &bin,
        &clouds,
        &["role", "add", "--project", "demo", "--user", "alice", "member"],
    );
    let rows = os(&["role", "assignment", "list", "--project", "demo", "--names"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["Role"], "member");
    assert_eq!(rows[0]["User"], "alice@Default");
    openstack_raw(&bin, &clouds, &["project", "delete", "demo"]);
    assert!(!os(&["project", "list"]).as_array().unwrap().iter().any(|p| p["Name"] == "demo"));
}

#[test]
fn openstack_cli_uses_the_embedded_image_volume_and_network_services() {
    let test = "openstack_cli_uses_the_embedded_image_volume_and_network_services";
    let Some(bin) = openstack_bin(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let _cloud = start(dir.path());
    let clouds = dir.path().join("clouds.yaml");
    let os = |args: &[&str]| openstack(&bin, &clouds, args);

    let types: Vec<String> = os(&["catalog", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Type"].as_str().unwrap().to_owned())
        .collect();
    for t in ["identity", "image", "block-storage", "network"] {
        assert!(types.iter().any(|x| x == t), "{t} missing from the catalog: {types:?}");
    }

    // A raw image of 3 MiB and a bit, so the volume made from it needs its whole first GiB.
    let file = dir.path().join("disk.raw");
    let data: Vec<u8> = (0..(3 << 20) + 123u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let file = file.to_str().unwrap();
    let image = os(&[
        "image",
        "create",
        "--file",
        file,
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "disk",
    ]);
    assert_eq!(image["status"], "active", "{image}");
    assert_eq!(image["size"], data.len() as u64);
    let listed = os(&["image", "list"]);
    assert!(listed.as_array().unwrap().iter().any(|i| i["Name"] == "disk"), "{listed}");
    // Glance's checksums are coreutils' md5sum and sha512sum of the bytes.
    let sum = |tool: &str| {
        let out = std::process::Command::new(tool).arg(file).output().unwrap();
        String::from_utf8(out.stdout).unwrap().split_whitespace().next().unwrap().to_owned()
    };
    assert_eq!(image["checksum"], sum("md5sum"), "{image}");
    // OSC files the os_hash fields under properties.
    assert_eq!(image["properties"]["os_hash_algo"], "sha512", "{image}");
    assert_eq!(image["properties"]["os_hash_value"], sum("sha512sum"), "{image}");
    let saved = dir.path().join("saved.raw");
    let run = |args: &[&str]| openstack_raw(&bin, &clouds, args);
    run(&["image", "save", "--file", saved.to_str().unwrap(), "disk"]);
    assert!(std::fs::read(&saved).unwrap() == data, "image save returned other bytes");
    run(&["image", "set", "--property", "os_distro=cirros", "disk"]);
    let shown = os(&["image", "show", "disk"]);
    assert_eq!(shown["properties"]["os_distro"], "cirros", "{shown}");

    let volume = os(&["volume", "create", "--size", "1", "--image", "disk", "fromimage"]);
    assert_eq!(volume["status"], "available", "{volume}");
    let shown = os(&["volume", "show", "fromimage"]);
    assert_eq!(shown["size"], 1);
    // The image's bytes landed at the start of the volume's file in the data directory.
    let id = volume["id"].as_str().unwrap();
    let path = dir.path().join("volumes").join(format!("volume-{id}.raw"));
    let mut head = vec![0; data.len()];
    use std::io::Read;
    std::fs::File::open(&path).unwrap().read_exact(&mut head).unwrap();
    assert!(head == data, "the volume does not start with the image's bytes");

    let network = os(&["network", "create", "private"]);
    assert_eq!(network["status"], "ACTIVE", "{network}");
    let subnet = os(&[
        "subnet",
        "create",
        "--network",
        "private",
        "--subnet-range",
        "10.0.0.0/24",
        "private-v4",
    ]);
    assert_eq!(subnet["cidr"], "10.0.0.0/24", "{subnet}");

    // The volume holds its own copy: the image can go.
    run(&["image", "delete", "disk"]);
    let listed = os(&["image", "list"]);
    assert!(!listed.as_array().unwrap().iter().any(|i| i["Name"] == "disk"), "{listed}");
    assert_eq!(os(&["volume", "show", "fromimage"])["status"], "available");
}

/// Polls `openstack server show` until `field` equals `want`, panicking after a minute with
/// the last state seen.
fn wait_for(os: &dyn Fn(&[&str]) -> Value, kind: &str, name: &str, field: &str, want: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let shown = os(&[kind, "show", name]);
        if shown[field] == want {
            return;
        }
        assert!(Instant::now() < deadline, "{kind} {name} never reached {field}={want}: {shown}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn openstack_cli_runs_a_server_through_its_lifecycle() {
    let test = "openstack_cli_runs_a_server_through_its_lifecycle";
    let Some(bin) = openstack_bin(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let _cloud = start(dir.path());
    let clouds = dir.path().join("clouds.yaml");
    let os = |args: &[&str]| openstack(&bin, &clouds, args);
    let run = |args: &[&str]| openstack_raw(&bin, &clouds, args);

    let catalog = os(&["catalog", "list"]);
    assert!(catalog.as_array().unwrap().iter().any(|s| s["Type"] == "compute"), "{catalog}");

    let file = dir.path().join("boot.raw");
    std::fs::write(&file, vec![0x5a; 1 << 20]).unwrap();
    let image = os(&[
        "image",
        "create",
        "--file",
        file.to_str().unwrap(),
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "boot",
    ]);
    assert_eq!(image["status"], "active", "{image}");
    os(&["network", "create", "private"]);
    os(&["subnet", "create", "--network", "private", "--subnet-range", "10.0.0.0/24", "v4"]);

    let server = os(&[
        "server",
        "create",
        "--image",
        "boot",
        "--flavor",
        "m1.tiny",
        "--network",
        "private",
        "--wait",
        "vm1",
    ]);
    assert_eq!(server["status"], "ACTIVE", "{server}");
    // Nova's power state RUNNING is 1.
    assert_eq!(server["OS-EXT-STS:power_state"], 1, "{server}");
    let addresses = server["addresses"].to_string();
    assert!(addresses.contains("private") && addresses.contains("10.0.0."), "{server}");
    // The port compute made is Neutron's, owned by the server and bound to its host.
    let id = server["id"].as_str().unwrap();
    let ports = os(&["port", "list", "--server", id]);
    assert_eq!(ports.as_array().unwrap().len(), 1, "{ports}");
    // The image reached the host's cache through Glance.
    let cached = dir.path().join("compute/host1/image-cache");
    let cached: Vec<_> = std::fs::read_dir(&cached).unwrap().flatten().collect();
    assert!(!cached.is_empty(), "nothing in the host's image cache");

    let listed = os(&["server", "list"]);
    let row = listed.as_array().unwrap().iter().find(|s| s["Name"] == "vm1").cloned();
    assert_eq!(row.expect("vm1 listed")["Status"], "ACTIVE");

    run(&["server", "stop", "vm1"]);
    wait_for(&os, "server", "vm1", "status", "SHUTOFF");
    run(&["server", "start", "vm1"]);
    wait_for(&os, "server", "vm1", "status", "ACTIVE");
    run(&["server", "reboot", "vm1"]);
    wait_for(&os, "server", "vm1", "status", "ACTIVE");
    let console = run(&["console", "log", "show", "vm1"]);
    assert!(console.contains(&format!("fake console of {id}")), "{console}");

    assert_eq!(os(&["volume", "create", "--size", "1", "data"])["status"], "available");
    run(&["server", "add", "volume", "vm1", "data"]);
    wait_for(&os, "volume", "data", "status", "in-use");
    let attached = os(&["volume", "show", "data"])["attachments"].clone();
    assert_eq!(attached[0]["server_id"], id, "{attached}");
    // The device compute chose reaches Cinder as the connector's mountpoint.
    assert_eq!(attached[0]["device"], "/dev/vdb", "{attached}");
    run(&["server", "remove", "volume", "vm1", "data"]);
    wait_for(&os, "volume", "data", "status", "available");

    let snap = os(&["server", "image", "create", "--name", "vm1-snap", "--wait", "vm1"]);
    assert_eq!(snap["status"], "active", "{snap}");
    let shown = os(&["image", "show", "vm1-snap"]);
    assert_eq!(shown["status"], "active", "{shown}");
    wait_for(&os, "server", "vm1", "status", "ACTIVE");

    run(&["server", "delete", "--wait", "vm1"]);
    assert!(!os(&["server", "list"]).as_array().unwrap().iter().any(|s| s["Name"] == "vm1"));
    // The port compute created went with the server; the volume and snapshot stay.
    let left = os(&["port", "list", "--device-owner", "compute:nova"]);
    assert!(left.as_array().unwrap().is_empty(), "{left}");
    assert_eq!(os(&["volume", "show", "data"])["status"], "available");
}
