// SPDX-License-Identifier: Apache-2.0
//! Differential test: our format inspector against oslo.utils' `format_inspector` (what Glance
//! runs on uploads) on a corpus built with `qemu-img create/convert` for every format, plus
//! hand-crafted hostile images. Needs `qemu-img` and the venv of `scripts/test-env/oslo-utils.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrostack_core::testing::{prerequisite, venv_python};
use ferrostack_image::inspector::{InspectWrapper, Safety};

/// Renders oslo.utils' verdict the way `Verdict`'s `Display` renders ours.
const ORACLE: &str = r#"
import sys
from oslo_utils.imageutils import format_inspector as fi
for path in sys.argv[1:]:
    with open(path, 'rb') as f:
        w = fi.InspectWrapper(f)
        while w.read(65536):
            pass
        w.close()
    try:
        fmts = w.formats
    except Exception:
        print(path + '\terror'); continue
    parts = []
    for i in sorted(fmts, key=lambda i: i.NAME):
        try:
            vs = i.virtual_size
            vs = str(vs) if 0 <= vs < 2**64 else 'error'
        except Exception:
            vs = 'error'
        try:
            i.safety_check(); s = 'safe'
        except fi.SafetyCheckFailed as e:
            s = 'failed=' + ','.join(sorted(e.failures.keys()))
        except fi.ImageFormatError:
            s = 'unusable'
        parts.append('%s:%s:%s' % (i.NAME, vs, s))
    print(path + '\t' + ';'.join(parts))
"#;

fn qemu_img(args: &[&str]) {
    let out = Command::new("qemu-img").args(args).output().expect("run qemu-img");
    assert!(out.status.success(), "qemu-img {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

fn ours(path: &Path) -> String {
    use std::io::Read;
    let mut f = std::fs::File::open(path).unwrap();
    let mut w = InspectWrapper::new();
    // Odd read sizes on purpose: the verdict must not depend on chunking.
    let mut buf = vec![0u8; 7919];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        w.feed(&buf[..n]);
    }
    w.finish().to_string()
}

fn patch(path: &Path, at: u64, bytes: &[u8]) {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(at)).unwrap();
    f.write_all(bytes).unwrap();
}

fn replace_in_file(path: &Path, from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let mut data = std::fs::read(path).unwrap();
    let at = data.windows(from.len()).position(|w| w == from).expect("pattern present");
    data[at..at + from.len()].copy_from_slice(to);
    std::fs::write(path, data).unwrap();
}

fn mbr(parts: &[(u8, u8, [u8; 3], u32)]) -> Vec<u8> {
    let mut d = vec![0u8; 64 * 1024];
    for (i, (boot, ostype, chs, lba)) in parts.iter().enumerate() {
        let p = 446 + 16 * i;
        d[p] = *boot;
        d[p + 1..p + 4].copy_from_slice(chs);
        d[p + 4] = *ostype;
        d[p + 8..p + 12].copy_from_slice(&lba.to_le_bytes());
        d[p + 12..p + 16].copy_from_slice(&100u32.to_le_bytes());
    }
    d[510] = 0x55;
    d[511] = 0xAA;
    d
}

fn iso(extra_mbr: bool) -> Vec<u8> {
    let mut d = if extra_mbr { mbr(&[(0x80, 0x17, [0, 1, 0], 0)]) } else { vec![0u8; 64 * 1024] };
    d.resize(40 * 1024, 0);
    let h = 32 * 1024;
    d[h] = 1;
    d[h + 1..h + 6].copy_from_slice(b"CD001");
    d[h + 80..h + 84].copy_from_slice(&20u32.to_le_bytes());
    d[h + 128..h + 130].copy_from_slice(&2048u16.to_le_bytes());
    d
}

fn build_corpus(dir: &Path) -> Vec<PathBuf> {
    let p = |n: &str| dir.join(n);
    let s = |q: &PathBuf| q.to_str().unwrap().to_owned();
    let mut files = Vec::new();

    // A raw source with recognisable content, converted to every format qemu-img writes.
    let mut src = vec![0u8; 3 * 1024 * 1024];
    for (i, b) in src.iter_mut().enumerate().step_by(4093) {
        *b = (i % 251) as u8 + 1;
    }
    std::fs::write(p("src.raw"), &src).unwrap();
    files.push(p("src.raw"));
    for (name, fmt, opts) in [
        ("c.qcow2", "qcow2", ""),
        ("c-v2.qcow2", "qcow2", "compat=0.10"),
        ("c.vhd", "vpc", ""),
        ("c-fixed.vhd", "vpc", "subformat=fixed"),
        ("c.vhdx", "vhdx", ""),
        ("c.vdi", "vdi", ""),
        ("c.qed", "qed", ""),
        ("c-sparse.vmdk", "vmdk", "subformat=monolithicSparse"),
        ("c-stream.vmdk", "vmdk", "subformat=streamOptimized"),
    ] {
        let out = p(name);
        let mut args = vec!["convert", "-f", "raw", "-O", fmt];
        if !opts.is_empty() {
            args.extend(["-o", opts]);
        }
        let (a, b) = (s(&p("src.raw")), s(&out));
        args.extend([a.as_str(), b.as_str()]);
        qemu_img(&args);
        files.push(out);
    }
    // Empty images created directly.
    for (name, fmt, size) in [
        ("e.qcow2", "qcow2", "64M"),
        ("e.vhdx", "vhdx", "1G"),
        ("e.vdi", "vdi", "8M"),
        ("e.vhd", "vpc", "8M"),
        ("e-sparse.vmdk", "vmdk", "8M"),
        ("e.raw", "raw", "1M"),
    ] {
        let out = p(name);
        qemu_img(&["create", "-q", "-f", fmt, &s(&out), size]);
        files.push(out);
    }
    // LUKS (v1), and the same header claiming version 2.
    let luks = p("e.luks");
    qemu_img(&[
        "create",
        "-q",
        "--object",
        "secret,id=s0,data=abc",
        "-f",
        "luks",
        "-o",
        "key-secret=s0,iter-time=10",
        &s(&luks),
        "1M",
    ]);
    files.push(luks.clone());
    let luks2 = p("v2.luks");
    std::fs::copy(&luks, &luks2).unwrap();
    patch(&luks2, 6, &2u16.to_be_bytes());
    files.push(luks2);

    // Hostile qcow2: backing file, external data file, unknown incompatible feature, version 1.
    let backing = p("backing.qcow2");
    qemu_img(&["create", "-q", "-f", "qcow2", "-b", &s(&p("src.raw")), "-F", "raw", &s(&backing)]);
    files.push(backing);
    let datafile = p("datafile.qcow2");
    qemu_img(&[
        "create",
        "-q",
        "-f",
        "qcow2",
        "-o",
        &format!("data_file={}", s(&p("datafile.raw"))),
        &s(&datafile),
        "1M",
    ]);
    files.push(datafile);
    let unknown = p("unknown-feature.qcow2");
    std::fs::copy(p("e.qcow2"), &unknown).unwrap();
    patch(&unknown, 0x48 + 7, &[0x10]);
    files.push(unknown);
    let v1 = p("v1.qcow2");
    std::fs::copy(p("e.qcow2"), &v1).unwrap();
    patch(&v1, 4, &1u32.to_be_bytes());
    files.push(v1);

    // Hostile vmdk: flat extent pointing at /etc, a descriptor-only monolithicFlat, a broken
    // stream footer, a wrong descriptor location, a text file claiming a createType.
    let etc = p("etc-extent.vmdk");
    std::fs::copy(p("e-sparse.vmdk"), &etc).unwrap();
    replace_in_file(
        &etc,
        b"RW 16384 SPARSE \"e-sparse.vmdk\"",
        b"RW 16384 FLAT \"/etc/passwd\"    ",
    );
    files.push(etc);
    let flat = p("flat.vmdk");
    qemu_img(&["create", "-q", "-f", "vmdk", "-o", "subformat=monolithicFlat", &s(&flat), "1M"]);
    files.push(flat);
    let twogb = p("twogb.vmdk");
    std::fs::copy(p("e-sparse.vmdk"), &twogb).unwrap();
    replace_in_file(&twogb, b"createType=\"monolithicSparse\"", b"createType=\"monolithicFlat\"  ");
    files.push(twogb);
    let footer = p("bad-footer.vmdk");
    std::fs::copy(p("c-stream.vmdk"), &footer).unwrap();
    let len = std::fs::metadata(&footer).unwrap().len();
    patch(&footer, len - 512 + 12, &[1]);
    files.push(footer);
    // The grain directory "at the end": the footer and end-of-stream markers are then checked.
    let gd_end = p("gd-at-end.vmdk");
    std::fs::copy(p("c-sparse.vmdk"), &gd_end).unwrap();
    patch(&gd_end, 56, &u64::MAX.to_le_bytes());
    files.push(gd_end);
    let descloc = p("desc-location.vmdk");
    std::fs::copy(p("e-sparse.vmdk"), &descloc).unwrap();
    patch(&descloc, 28, &2u64.to_le_bytes());
    files.push(descloc);
    let garbage = p("garbage-line.vmdk");
    std::fs::copy(p("e-sparse.vmdk"), &garbage).unwrap();
    replace_in_file(&garbage, b"# Extent description", b"whatever description");
    files.push(garbage);
    std::fs::write(p("text.raw"), b"hello\ncreateType=\"monolithicSparse\"\nRW 1 SPARSE \"x\"\n")
        .unwrap();
    files.push(p("text.raw"));
    let mut texty = b"just a text file without any vmdk marker\n".repeat(2000);
    texty.extend_from_slice(b"\xff");
    std::fs::write(p("text2.raw"), texty).unwrap();
    files.push(p("text2.raw"));

    // Partition tables and ISOs.
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("gpt-good.gpt", mbr(&[(0, 0xEE, [0, 2, 0], 1)])),
        ("gpt-extra.gpt", mbr(&[(0, 0xEE, [0, 2, 0], 1), (0, 0x83, [0, 1, 0], 2048)])),
        ("gpt-badlba.gpt", mbr(&[(0, 0xEE, [0, 2, 0], 7)])),
        ("mbr-good.gpt", mbr(&[(0x80, 0x83, [0, 1, 0], 2048)])),
        ("mbr-badboot.gpt", mbr(&[(0x12, 0x83, [0, 1, 0], 2048)])),
        ("mbr-empty.gpt", mbr(&[])),
        ("plain.iso", iso(false)),
        ("hybrid.iso", iso(true)),
    ];
    for (name, data) in cases {
        std::fs::write(p(name), data).unwrap();
        files.push(p(name));
    }
    // Tiny and truncated files.
    std::fs::write(p("empty.raw"), b"").unwrap();
    files.push(p("empty.raw"));
    std::fs::write(p("magic-only.qcow2"), b"QFI\xfb\0\0\0\x03").unwrap();
    files.push(p("magic-only.qcow2"));
    let trunc = std::fs::read(p("c.vhdx")).unwrap();
    std::fs::write(p("trunc.vhdx"), &trunc[..200 * 1024]).unwrap();
    files.push(p("trunc.vhdx"));
    let trunc = std::fs::read(p("c-stream.vmdk")).unwrap();
    std::fs::write(p("trunc.vmdk"), &trunc[..1000]).unwrap();
    files.push(p("trunc.vmdk"));
    files
}

#[test]
fn verdicts_equal_oslo_utils() {
    let qemu = Command::new("qemu-img").arg("--version").output().is_ok();
    if !prerequisite(qemu, "verdicts_equal_oslo_utils", "qemu-img", "apt-get install qemu-utils") {
        return;
    }
    let Some(python) = venv_python("oslo-utils") else {
        prerequisite(
            false,
            "verdicts_equal_oslo_utils",
            "venv-oslo-utils",
            "scripts/test-env/oslo-utils.sh",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let files = build_corpus(dir.path());
    let out =
        Command::new(python).arg("-c").arg(ORACLE).args(&files).output().expect("run oslo.utils");
    assert!(out.status.success(), "oracle failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let mut mismatches = Vec::new();
    let mut table = Vec::new();
    for line in text.lines() {
        let (path, theirs) = line.split_once('\t').unwrap();
        let mine = ours(Path::new(path));
        let name = Path::new(path).file_name().unwrap().to_string_lossy().into_owned();
        table.push(format!("{name:24} {mine}"));
        if mine != theirs {
            mismatches.push(format!("{name}: ours {mine:?} oslo {theirs:?}"));
        }
    }
    println!("{}", table.join("\n"));
    assert_eq!(table.len(), files.len());
    assert!(mismatches.is_empty(), "verdicts differ:\n{}", mismatches.join("\n"));
}

#[test]
fn hostile_images_are_rejected_for_their_declared_format() {
    let qemu = Command::new("qemu-img").arg("--version").output().is_ok();
    if !prerequisite(qemu, "hostile_images_are_rejected", "qemu-img", "apt-get install qemu-utils")
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    build_corpus(dir.path());
    let verdict = |n: &str| {
        let mut w = InspectWrapper::new();
        w.feed(&std::fs::read(dir.path().join(n)).unwrap());
        w.finish()
    };
    for (file, declared) in [
        ("backing.qcow2", "qcow2"),
        ("datafile.qcow2", "qcow2"),
        ("unknown-feature.qcow2", "qcow2"),
        ("etc-extent.vmdk", "vmdk"),
        ("flat.vmdk", "vmdk"),
        ("gd-at-end.vmdk", "vmdk"),
        ("src.raw", "qcow2"),
        ("c.qcow2", "raw"),
        ("c.qed", "qed"),
        ("v2.luks", "luks"),
    ] {
        let v = verdict(file);
        assert!(v.check(declared).is_err(), "{file} as {declared} was accepted: {v}");
    }
    for (file, declared) in [
        ("c.qcow2", "qcow2"),
        ("c-sparse.vmdk", "vmdk"),
        ("c-stream.vmdk", "vmdk"),
        ("c.vhdx", "vhdx"),
        ("c.vhd", "vhd"),
        ("c.vdi", "vdi"),
        ("src.raw", "raw"),
        ("e.luks", "luks"),
        ("hybrid.iso", "iso"),
    ] {
        let v = verdict(file);
        assert!(v.check(declared).is_ok(), "{file} as {declared} was refused: {v}");
    }
    let v = verdict("c.qcow2");
    assert_eq!(v.report("qcow2").unwrap().virtual_size, Ok(3 * 1024 * 1024));
    assert!(matches!(v.report("qcow2").unwrap().safety, Safety::Safe));
}
