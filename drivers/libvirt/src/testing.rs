// SPDX-License-Identifier: Apache-2.0
//! Test helpers for the drivers' XML: schema validation with libvirt's `virt-xml-validate`
//! and snapshot files.

use std::path::Path;

/// Whether `virt-xml-validate` is installed.
pub fn have_validator() -> bool {
    std::process::Command::new("virt-xml-validate")
        .arg("--help")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Validates a domain XML against libvirt's schema (`virt-xml-validate FILE domain`);
/// `Err` carries the validator's output.
pub fn validate_domain_xml(xml: &str) -> Result<(), String> {
    let dir = tempfile_dir()?;
    let f = dir.join("domain.xml");
    std::fs::write(&f, xml).map_err(|e| e.to_string())?;
    let out = std::process::Command::new("virt-xml-validate")
        .arg(&f)
        .arg("domain")
        .output()
        .map_err(|e| format!("virt-xml-validate: {e}"));
    let _ = std::fs::remove_dir_all(&dir);
    let out = out?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn tempfile_dir() -> Result<std::path::PathBuf, String> {
    let d = std::env::temp_dir().join(format!("ferrostack-xml-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&d).map_err(|e| e.to_string())?;
    Ok(d)
}

/// Compares `actual` with the snapshot `dir/name`. Panics with both texts on a difference.
///
/// With `UPDATE_SNAPSHOTS=1` the snapshot is (re)written instead. A missing snapshot is
/// written on a developer machine (commit it), but fails under CI (`CI` set): a snapshot
/// test never writes its own expectation where nobody reviews it.
pub fn assert_snapshot(dir: &Path, name: &str, actual: &str) {
    let p = dir.join(name);
    let update = std::env::var_os("UPDATE_SNAPSHOTS").is_some();
    if !update && !p.exists() && std::env::var_os("CI").is_some() {
        panic!(
            "snapshot {} is missing; run the test locally (or with UPDATE_SNAPSHOTS=1), review \
             and commit it",
            p.display()
        );
    }
    if update || !p.exists() {
        std::fs::create_dir_all(dir).expect("snapshot dir");
        std::fs::write(&p, actual).expect("write snapshot");
        return;
    }
    let expected = std::fs::read_to_string(&p).expect("read snapshot");
    assert_eq!(
        expected,
        actual,
        "snapshot {} differs (UPDATE_SNAPSHOTS=1 rewrites it)",
        p.display()
    );
}
