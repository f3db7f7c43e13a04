// SPDX-License-Identifier: Apache-2.0
//! A streaming disk-image format inspector with Glance's verdicts.
//!
//! The inspector is fed an upload stream chunk by chunk ([`InspectWrapper::feed`]), keeps only the
//! few regions of the file each format needs (bounded: at most about 1.3 MiB in total, whatever
//! the image size), and when the stream ends reports
//!
//! * which formats the content matches ([`Verdict::formats`]; `raw` when nothing else matches),
//! * each matching format's virtual size, and
//! * each matching format's safety checks ([`Safety`]): qcow2 backing file, external data file
//!   (CVE-2024-32498) and unknown incompatible features; vmdk sub-format, descriptor syntax and
//!   extents pointing at host paths (CVE-2022-47951), footer and end-of-stream markers; the
//!   protective MBR of gpt; the luks version; qed is recognised but banned.
//!
//! The semantics follow oslo.utils' `format_inspector` (the module Glance runs on every upload)
//! down to its quirks, so that both reach the same verdict on the same bytes: each format
//! declares *capture regions* (offset and length, optionally a minimum length, or "the last N
//! bytes"), regions are filled from the stream, and a format may add regions once earlier ones
//! are known. The differential test `tests/inspector_differential.rs` checks equality against
//! oslo.utils on a corpus built with `qemu-img` plus hand-crafted hostile images.
//!
//! The stream is re-cut into [`CHUNK_SIZE`] blocks before inspection, so the verdict does not
//! depend on how the network happened to split the upload.
//!
//! ```
//! use ferrostack_image::inspector::{InspectWrapper, Safety};
//!
//! let mut header = vec![0u8; 512];
//! header[..4].copy_from_slice(b"QFI\xfb");
//! header[7] = 3; // version 3
//! header[8..16].copy_from_slice(&0x200u64.to_be_bytes()); // a backing file!
//! let mut w = InspectWrapper::new();
//! w.feed(&header);
//! let verdict = w.finish();
//! assert_eq!(verdict.formats().unwrap(), vec!["qcow2"]);
//! let qcow = verdict.report("qcow2").unwrap();
//! assert_eq!(qcow.safety, Safety::Failed(vec!["backing_file".into()]));
//! ```

use std::fmt;

/// The block size the stream is re-cut into before inspection (Glance reads 64 KiB chunks).
pub const CHUNK_SIZE: usize = 64 * 1024;

/// The formats the inspector knows, in oslo.utils' order.
pub const ALL_FORMATS: [&str; 10] =
    ["raw", "qcow2", "vhd", "vhdx", "vmdk", "vdi", "qed", "iso", "gpt", "luks"];

/// Why a format's inspector gave up on the stream, or why a property cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(pub String);

fn ferr(msg: impl Into<String>) -> FormatError {
    FormatError(msg.into())
}

/// The outcome of one format's safety checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Safety {
    /// Every check passed.
    Safe,
    /// These checks failed (names as oslo.utils reports them, sorted).
    Failed(Vec<String>),
    /// The checks could not run: the data is incomplete or does not match the format.
    Unusable(String),
}

impl Safety {
    /// Whether every check passed.
    pub fn is_safe(&self) -> bool {
        matches!(self, Safety::Safe)
    }
}

// ---------------------------------------------------------------------------------------------
// Capture regions.

#[derive(Debug, Clone)]
struct Region {
    serial: u64,
    name: &'static str,
    offset: u64,
    length: u64,
    min_length: Option<u64>,
    data: Vec<u8>,
    /// An "end" region keeps the last `length` bytes of the stream.
    end: bool,
    finished: bool,
}

impl Region {
    fn complete(&self) -> bool {
        let have = self.data.len() as u64;
        let base = match self.min_length {
            Some(m) => m <= have,
            None => self.length == have,
        };
        if self.end { base && self.finished } else { base }
    }

    /// Feeds `chunk`, which ends at stream position `pos`.
    fn capture(&mut self, chunk: &[u8], pos: u64) {
        let len = chunk.len() as u64;
        let read_start = pos - len;
        if self.end {
            self.data.extend_from_slice(chunk);
            let keep = self.length as usize;
            if self.data.len() > keep {
                self.data.drain(..self.data.len() - keep);
            }
            self.offset = pos - self.data.len() as u64;
            return;
        }
        let region_end = self.offset.saturating_add(self.length);
        if (read_start <= self.offset && self.offset <= pos)
            || (self.offset <= read_start && read_start <= region_end)
        {
            let lead =
                if read_start < self.offset { (self.offset - read_start) as usize } else { 0 };
            let room = (self.length as usize).saturating_sub(self.data.len());
            let take = chunk.len().saturating_sub(lead).min(room);
            self.data
                .extend_from_slice(&chunk[lead.min(chunk.len())..lead.min(chunk.len()) + take]);
        }
    }
}

/// The region bookkeeping every format shares.
#[derive(Debug, Clone, Default)]
struct Regions {
    list: Vec<Region>,
    next_serial: u64,
}

impl Regions {
    fn add(&mut self, name: &'static str, offset: u64, length: u64, min_length: Option<u64>) {
        // Formats never re-add a live region (checked by callers with `has`).
        self.next_serial += 1;
        self.list.push(Region {
            serial: self.next_serial,
            name,
            offset,
            length,
            min_length,
            data: Vec::new(),
            end: false,
            finished: false,
        });
    }

    fn add_end(&mut self, name: &'static str, length: u64) {
        self.add(name, length, length, None);
        if let Some(r) = self.list.last_mut() {
            r.end = true;
        }
    }

    fn has(&self, name: &str) -> bool {
        self.list.iter().any(|r| r.name == name)
    }

    fn get(&self, name: &str) -> Option<&Region> {
        self.list.iter().find(|r| r.name == name)
    }

    fn get_mut(&mut self, name: &str) -> Option<&mut Region> {
        self.list.iter_mut().find(|r| r.name == name)
    }

    fn data(&self, name: &str) -> &[u8] {
        self.get(name).map(|r| r.data.as_slice()).unwrap_or(&[])
    }

    fn complete(&self, name: &str) -> bool {
        self.get(name).is_some_and(Region::complete)
    }

    fn delete(&mut self, name: &str) {
        self.list.retain(|r| r.name != name);
    }

    fn all_complete(&self) -> bool {
        self.list.iter().all(Region::complete)
    }
}

// ---------------------------------------------------------------------------------------------
// Little helpers over byte slices (None when too short, as Python's struct.error).

fn be_u32(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}
fn be_u64(d: &[u8], at: usize) -> Option<u64> {
    d.get(at..at + 8).map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8])))
}
fn le_u16(d: &[u8], at: usize) -> Option<u16> {
    d.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]))
}
fn le_u32(d: &[u8], at: usize) -> Option<u32> {
    d.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}
fn le_u64(d: &[u8], at: usize) -> Option<u64> {
    d.get(at..at + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
}
fn short() -> FormatError {
    ferr("structure truncated")
}

/// Python's `str.isspace()` on one ASCII character.
fn py_space(c: u8) -> bool {
    matches!(c, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ')
}

/// Python's `str.strip()` on ASCII text.
fn py_strip(s: &str) -> &str {
    s.trim_matches(|c: char| c.is_ascii() && py_space(c as u8))
}

/// The VMDK sparse header fields the checks use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SparseHeader {
    sig: [u8; 4],
    ver: u32,
    desc_sec: u64,
    desc_num: u64,
    gd_offset: u64,
}

fn sparse_header(d: &[u8], at: usize) -> Option<SparseHeader> {
    let h = d.get(at..at + 64)?;
    Some(SparseHeader {
        sig: [h[0], h[1], h[2], h[3]],
        ver: le_u32(h, 4)?,
        desc_sec: le_u64(h, 28)?,
        desc_num: le_u64(h, 36)?,
        gd_offset: le_u64(h, 56)?,
    })
}

/// Formats a Microsoft GUID from 16 bytes (mixed endian), upper case.
fn ms_guid(b: &[u8]) -> Option<String> {
    if b.len() < 16 {
        return None;
    }
    Some(format!(
        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        le_u32(b, 0)?,
        le_u16(b, 4)?,
        le_u16(b, 6)?,
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    ))
}

// ---------------------------------------------------------------------------------------------
// Per-format inspectors.

const VMDK_DESC_OFFSET: u64 = 0x200;
const VMDK_DESC_MAX: u64 = (1 << 20) - 1;
const VMDK_GD_AT_END: u64 = u64::MAX;
const VHDX_METAREGION: &str = "8B7CA206-4790-4B9A-B8FE-575F050F886E";
const VHDX_VIRTUAL_DISK_SIZE: &str = "2FA54224-CD1B-4876-B211-5DBED83BF4B8";
const VHDX_TABLE_MAX: u64 = 32 * 2048;

#[derive(Debug, Clone)]
enum Kind {
    Raw,
    Qcow2 { header_ok: bool, version: u32, size: u64 },
    Vhd,
    Vhdx,
    Vmdk { desc_text: Option<String>, vmdktype: Option<String>, footer_check: bool },
    Vdi,
    Qed,
    Iso,
    Gpt,
    Luks,
}

/// One format's inspector.
#[derive(Debug, Clone)]
struct Inspector {
    name: &'static str,
    kind: Kind,
    regions: Regions,
    total: u64,
    finished: bool,
    errored: bool,
}

impl Inspector {
    fn new(name: &'static str) -> Self {
        let mut r = Regions::default();
        let kind = match name {
            "qcow2" => {
                r.add("header", 0, 512, None);
                Kind::Qcow2 { header_ok: false, version: 0, size: 0 }
            }
            "vhd" => {
                r.add("header", 0, 512, None);
                Kind::Vhd
            }
            "vhdx" => {
                r.add("ident", 0, 32, None);
                r.add("header", 192 * 1024, 64 * 1024, None);
                Kind::Vhdx
            }
            "vmdk" => {
                r.add("header", 0, 512, Some(64));
                r.add("descriptor", 0, VMDK_DESC_MAX, Some(4));
                Kind::Vmdk { desc_text: None, vmdktype: None, footer_check: false }
            }
            "vdi" => {
                r.add("header", 0, 512, None);
                Kind::Vdi
            }
            "qed" => {
                r.add("header", 0, 512, None);
                Kind::Qed
            }
            "iso" => {
                r.add("system_area", 0, 32 * 1024, None);
                r.add("header", 32 * 1024, 2 * 1024, None);
                Kind::Iso
            }
            "gpt" => {
                r.add("mbr", 0, 512, None);
                Kind::Gpt
            }
            "luks" => {
                r.add("header", 0, 592, None);
                Kind::Luks
            }
            _ => Kind::Raw,
        };
        Inspector { name, kind, regions: r, total: 0, finished: false, errored: false }
    }

    fn eat_chunk(&mut self, chunk: &[u8]) -> Result<(), FormatError> {
        let pre: Vec<u64> = self.regions.list.iter().map(|r| r.serial).collect();
        let pre_complete: Vec<u64> =
            self.regions.list.iter().filter(|r| r.complete()).map(|r| r.serial).collect();
        self.total += chunk.len() as u64;
        let pos = self.total;
        for r in &mut self.regions.list {
            if r.end || !r.complete() {
                r.capture(chunk, pos);
            }
        }
        self.post_process()?;
        for r in &mut self.regions.list {
            if !pre.contains(&r.serial) && (r.end || !r.complete()) {
                r.capture(chunk, pos);
            }
        }
        let newly: Vec<&'static str> = self
            .regions
            .list
            .iter()
            .filter(|r| r.complete() && !pre_complete.contains(&r.serial))
            .map(|r| r.name)
            .collect();
        for name in newly {
            self.region_complete(name);
        }
        Ok(())
    }

    fn finish(&mut self) {
        self.finished = true;
        for r in &mut self.regions.list {
            if r.end {
                r.finished = true;
            }
        }
    }

    fn post_process(&mut self) -> Result<(), FormatError> {
        match &mut self.kind {
            Kind::Vhdx => {
                if self.regions.complete("header") && !self.regions.has("metadata") {
                    if let Some((off, len)) = vhdx_find_meta_region(self.regions.data("header"))? {
                        self.regions.add("metadata", off, len, None);
                    }
                } else if self.regions.has("metadata")
                    && !self.regions.has("vds")
                    && let Some((off, len)) = vhdx_find_meta_entry(&mut self.regions)?
                {
                    self.regions.add("vds", off, len, None);
                }
                Ok(())
            }
            Kind::Vmdk { footer_check, .. } => {
                if !self.regions.complete("header") {
                    return Ok(());
                }
                let data = self.regions.data("header");
                let h = sparse_header(data, 0).ok_or_else(short)?;
                let is_text = data.iter().all(|&c| (0x20..0x7f).contains(&c) || py_space(c));
                if &h.sig != b"KDMV" {
                    if is_text {
                        self.regions.delete("header");
                        return Ok(());
                    }
                    return Err(ferr("signature KDMV not found"));
                }
                if !(1..=3).contains(&h.ver) {
                    return Err(ferr("unsupported vmdk format version"));
                }
                if h.gd_offset == VMDK_GD_AT_END && !self.regions.has("footer") {
                    self.regions.add_end("footer", 1536);
                    *footer_check = true;
                }
                let desc_offset = (h.desc_sec as u128) * 512;
                let desc_size = ((h.desc_num as u128) * 512).min(VMDK_DESC_MAX as u128) as u64;
                if desc_offset != VMDK_DESC_OFFSET as u128 {
                    return Err(ferr("wrong descriptor location"));
                }
                if self.regions.get("descriptor").is_some_and(|r| r.offset == 0) {
                    self.regions.delete("descriptor");
                    self.regions.add("descriptor", VMDK_DESC_OFFSET, desc_size, None);
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn region_complete(&mut self, name: &str) {
        match &mut self.kind {
            Kind::Qcow2 { header_ok, version, size } => {
                let d = self.regions.data("header");
                if d.len() >= 32 && d.starts_with(b"QFI\xfb") {
                    *header_ok = true;
                    *version = be_u32(d, 4).unwrap_or(0);
                    *size = be_u64(d, 24).unwrap_or(0);
                } else {
                    *header_ok = false;
                    *version = 0;
                    *size = 0;
                }
            }
            Kind::Vmdk { desc_text, vmdktype, .. } if name == "descriptor" => {
                let mut d = self.regions.data("descriptor");
                if let Some(nul) = d.iter().position(|&c| c == 0) {
                    d = &d[..nul];
                }
                if !d.is_ascii() {
                    return;
                }
                let text = String::from_utf8_lossy(d).to_ascii_lowercase();
                let key = "createtype=\"";
                let t = match text.find(key) {
                    None => "formatnotfound".to_owned(),
                    Some(i) => {
                        let start = i + key.len();
                        // Python: find() gives -1 when absent, and text[start:-1] follows.
                        let end = text[start..].find('"').map(|e| start + e);
                        let diff = match end {
                            Some(e) => (e - start) as i64,
                            None => -1 - start as i64,
                        };
                        if diff < 64 {
                            let stop = end.unwrap_or(text.len().saturating_sub(1));
                            text.get(start..stop.max(start)).unwrap_or("").to_owned()
                        } else {
                            "formatnotfound".to_owned()
                        }
                    }
                };
                *desc_text = Some(text);
                *vmdktype = Some(t);
            }
            _ => {}
        }
    }

    /// Whether the content looks like this format. `Err` mirrors an exception in oslo.utils.
    fn format_match(&self) -> Result<bool, FormatError> {
        let r = &self.regions;
        Ok(match &self.kind {
            Kind::Raw => true,
            Kind::Qcow2 { header_ok, .. } => r.complete("header") && *header_ok,
            Kind::Vhd => r.data("header").starts_with(b"conectix"),
            Kind::Vhdx => r.data("ident").starts_with(b"vhdxfile"),
            Kind::Vmdk { vmdktype, .. } => {
                if r.has("header") {
                    r.data("header").starts_with(b"KDMV")
                } else {
                    match vmdktype {
                        Some(t) => t != "formatnotfound",
                        None => return Err(ferr("vmdk descriptor could not be decoded")),
                    }
                }
            }
            Kind::Vdi => {
                r.complete("header") && le_u32(r.data("header"), 0x40) == Some(0xBEDA_107F)
            }
            Kind::Qed => r.complete("header") && r.data("header").starts_with(b"QED\0"),
            Kind::Iso => {
                r.all_complete()
                    && matches!(r.data("header").get(1..6), Some(b"CD001" | b"NSR02" | b"NSR03"))
            }
            Kind::Gpt => {
                if !r.complete("mbr") {
                    return Ok(false);
                }
                let d = r.data("mbr");
                let is_fat = d[0x10] == 2 && d[0x15] == 0xF8;
                le_u16(d, 510) == Some(0xAA55) && !is_fat
            }
            Kind::Luks => r.data("header").get(..6) == Some(b"LUKS\xba\xbe"),
        })
    }

    fn virtual_size(&self) -> Result<u64, FormatError> {
        let r = &self.regions;
        match &self.kind {
            Kind::Raw => Ok(self.total),
            Kind::Qcow2 { size, .. } => Ok(*size),
            Kind::Vhd => {
                if !r.complete("header") || !self.format_match()? {
                    return Ok(0);
                }
                be_u64(r.data("header"), 40).ok_or_else(short)
            }
            Kind::Vhdx => match r.get("vds") {
                Some(v) if v.complete() => {
                    if v.data.len() != 8 {
                        return Err(ferr("vhdx virtual disk size entry has the wrong length"));
                    }
                    le_u64(&v.data, 0).ok_or_else(short)
                }
                _ => Ok(0),
            },
            Kind::Vmdk { desc_text, vmdktype, .. } => {
                if desc_text.as_deref().unwrap_or("").is_empty() {
                    return Ok(0);
                }
                if !matches!(vmdktype.as_deref(), Some("monolithicsparse" | "streamoptimized")) {
                    return Ok(0);
                }
                let h = r.get("header").ok_or_else(|| ferr("vmdk header missing"))?;
                if h.data.len() < 44 {
                    return Err(short());
                }
                let sectors = le_u64(&h.data, 12).ok_or_else(short)?;
                sectors.checked_mul(512).ok_or_else(|| ferr("vmdk size overflows"))
            }
            Kind::Vdi => {
                if !r.complete("header") || !self.format_match()? {
                    return Ok(0);
                }
                le_u64(r.data("header"), 0x170).ok_or_else(short)
            }
            Kind::Qed | Kind::Gpt => Ok(self.total),
            Kind::Iso => {
                if !r.all_complete() || !self.format_match()? {
                    return Ok(0);
                }
                let d = r.data("header");
                if d[0] != 1 {
                    return Ok(0);
                }
                let block = le_u16(d, 128).ok_or_else(short)? as u64;
                let space = le_u32(d, 80).ok_or_else(short)? as u64;
                Ok(space * block)
            }
            Kind::Luks => {
                let d = r.data("header");
                if d.len() < 168 {
                    return Err(short());
                }
                let payload = be_u32(d, 104).ok_or_else(short)? as u64;
                self.total
                    .checked_sub(payload * 512)
                    .ok_or_else(|| ferr("luks payload offset beyond the end of the image"))
            }
        }
    }

    /// Runs the safety checks; each returns `Err(reason)` on a violation.
    fn safety(&self) -> Safety {
        if !self.regions.all_complete() {
            return Safety::Unusable("incomplete file cannot be safety checked".into());
        }
        match self.format_match() {
            Ok(true) => {}
            _ => {
                return Safety::Unusable(format!(
                    "unable to safety check format {} because content does not match",
                    self.name
                ));
            }
        }
        let mut failed: Vec<String> = Vec::new();
        let mut check = |name: &str, res: Result<(), String>| {
            if res.is_err() {
                failed.push(name.to_owned());
            }
        };
        let r = &self.regions;
        match &self.kind {
            Kind::Raw | Kind::Vhd | Kind::Vhdx | Kind::Vdi | Kind::Iso => check("null", Ok(())),
            Kind::Qed => check("banned", Err("this file format is not allowed".into())),
            Kind::Qcow2 { version, .. } => {
                let d = r.data("header");
                check("backing_file", qcow_backing_file(d));
                check("data_file", qcow_data_file(d));
                check("unknown_features", qcow_unknown_features(d, *version));
            }
            Kind::Vmdk { desc_text, vmdktype, footer_check } => {
                check("descriptor", vmdk_check_descriptor(desc_text, vmdktype));
                if *footer_check {
                    check("footer", vmdk_check_footer(r.data("header"), r.data("footer")));
                }
            }
            Kind::Gpt => check("mbr", gpt_check_mbr(r.data("mbr"))),
            Kind::Luks => {
                let d = r.data("header");
                let v = d.get(6..8).map(|b| u16::from_be_bytes([b[0], b[1]]));
                check(
                    "version",
                    if v == Some(1) { Ok(()) } else { Err("luks version unsupported".into()) },
                );
                // No passphrase is configured, so the payload is not decrypted and there is no
                // inner format to check ("passphrase" and "inner_safety" pass, as in Glance).
                check("passphrase", Ok(()));
                check("inner_safety", Ok(()));
            }
        }
        if failed.is_empty() {
            Safety::Safe
        } else {
            failed.sort();
            Safety::Failed(failed)
        }
    }
}

fn qcow_backing_file(d: &[u8]) -> Result<(), String> {
    match be_u64(d, 8) {
        Some(0) => Ok(()),
        Some(_) => Err("image has a backing file".into()),
        None => Err("unexpected error".into()),
    }
}

fn qcow_data_file(d: &[u8]) -> Result<(), String> {
    // Incompatible features are a big-endian u64 at 0x48; bit 2 is "external data file".
    match d.get(0x48 + 7) {
        Some(b) if b & 0x04 != 0 => Err("image has data_file set".into()),
        Some(_) => Ok(()),
        None => Err("unexpected error".into()),
    }
}

fn qcow_unknown_features(d: &[u8], version: u32) -> Result<(), String> {
    if version == 2 {
        return Ok(());
    }
    if version != 3 {
        return Err("unsupported qcow2 version".into());
    }
    let f = be_u64(d, 0x48).ok_or("unexpected error")?;
    // Bits 0..=3 are known (dirty, corrupt, external data file, compression type).
    if f & !0x0F != 0 { Err("unknown qcow2 features found".into()) } else { Ok(()) }
}

fn vmdk_check_descriptor(
    desc_text: &Option<String>,
    vmdktype: &Option<String>,
) -> Result<(), String> {
    let text = desc_text.as_deref().unwrap_or("");
    if text.is_empty() {
        return Err("no descriptor found".into());
    }
    if !matches!(vmdktype.as_deref(), Some("monolithicsparse" | "streamoptimized")) {
        return Err("unsupported subformat".into());
    }
    let mut extents = Vec::new();
    for line in text.split('\n').map(py_strip) {
        if line.starts_with('#') || line.is_empty() || line.starts_with("ddb") {
            continue;
        }
        let key = line.split('=').next().unwrap_or("");
        if line.contains('=') && !key.contains(' ') {
            continue;
        }
        if matches!(line.split(' ').next(), Some("rw" | "rdonly" | "noaccess")) {
            extents.push(line);
            continue;
        }
        return Err("invalid vmdk descriptor data".into());
    }
    if extents.iter().any(|e| e.contains('/')) {
        return Err("invalid extent filenames found".into());
    }
    if extents.is_empty() {
        return Err("no extents found".into());
    }
    Ok(())
}

fn vmdk_check_footer(header: &[u8], footer: &[u8]) -> Result<(), String> {
    let h = sparse_header(header, 0).ok_or("unexpected error")?;
    let f = sparse_header(footer, 512).ok_or("unexpected error")?;
    if h.sig != f.sig {
        return Err("header and footer signature do not match".into());
    }
    if h.ver != f.ver {
        return Err("header and footer versions do not match".into());
    }
    if h.desc_sec != f.desc_sec || h.desc_num != f.desc_num {
        return Err("footer specifies a different descriptor than header".into());
    }
    if f.gd_offset == VMDK_GD_AT_END {
        return Err("footer indicates another footer".into());
    }
    let marker = |m: &[u8]| -> Option<(u64, u32, u32, bool)> {
        Some((
            le_u64(m, 0)?,
            le_u32(m, 8)?,
            le_u32(m, 12)?,
            m.get(16..512)?.iter().all(|&b| b == 0),
        ))
    };
    let (_, size, typ, zero) =
        marker(footer.get(..512).ok_or("unexpected error")?).ok_or("unexpected error")?;
    if size != 0 || typ != 3 || !zero {
        return Err("footer marker is invalid".into());
    }
    let tail = footer.get(footer.len().saturating_sub(512)..).ok_or("unexpected error")?;
    let (val, size, typ, zero) = marker(tail).ok_or("unexpected error")?;
    if val != 0 || size != 0 || typ != 0 || !zero {
        return Err("end-of-stream marker is invalid".into());
    }
    Ok(())
}

fn gpt_check_mbr(d: &[u8]) -> Result<(), String> {
    let mut valid = Vec::new();
    let mut found_gpt = false;
    for i in 0..4 {
        let p = d.get(446 + 16 * i..446 + 16 * i + 16).ok_or("unexpected error")?;
        let boot = p[0];
        let chs = (p[1], p[2], p[3]);
        let ostype = p[4];
        let start_lba = le_u32(p, 8).ok_or("unexpected error")?;
        if boot != 0 && boot != 0x80 {
            return Err(format!("mbr pte {i} has invalid boot flag"));
        }
        if ostype != 0 {
            valid.push(i);
        }
        if ostype == 0xEE {
            found_gpt = true;
            if chs != (0, 2, 0) {
                return Err("gpt mbr has invalid start chs".into());
            }
            if start_lba != 1 {
                return Err("gpt mbr has invalid start lba".into());
            }
        }
    }
    if found_gpt && valid != [0] {
        return Err("gpt mbr defines invalid extra partitions".into());
    }
    if valid.is_empty() {
        return Err("gpt mbr has no partitions defined".into());
    }
    Ok(())
}

fn vhdx_find_meta_region(h: &[u8]) -> Result<Option<(u64, u64)>, FormatError> {
    let sig = le_u32(h, 0).ok_or_else(short)?;
    let count = le_u32(h, 8).ok_or_else(short)?;
    if sig != 0x6967_6572 {
        return Err(ferr("vhdx region signature not found"));
    }
    if count >= 2048 {
        return Err(ferr("vhdx region count is over the limit 2047"));
    }
    for i in 0..count as usize {
        let at = 16 + i * 32;
        let entry = h.get(at..at + 32).ok_or_else(short)?;
        if ms_guid(&entry[..16]).as_deref() == Some(VHDX_METAREGION) {
            let off = le_u64(entry, 16).ok_or_else(short)?;
            return Ok(Some((off, 2048 * 32)));
        }
    }
    Ok(None)
}

fn vhdx_find_meta_entry(regions: &mut Regions) -> Result<Option<(u64, u64)>, FormatError> {
    let Some(meta) = regions.get("metadata") else { return Ok(None) };
    let buf = &meta.data;
    if buf.len() < 32 {
        return Ok(None);
    }
    if &buf[..8] != b"metadata" {
        return Err(ferr("invalid signature for vhdx metadata region"));
    }
    let count = le_u16(buf, 10).ok_or_else(short)? as usize;
    if buf.len() < 32 + count * 32 {
        return Ok(None);
    }
    if count >= 2048 {
        return Err(ferr("vhdx metadata item count is over the limit 2047"));
    }
    let base = meta.offset;
    let have = buf.len() as u64;
    for i in 0..count {
        let at = 32 + i * 32;
        if ms_guid(&buf[at..at + 16]).as_deref() == Some(VHDX_VIRTUAL_DISK_SIZE) {
            let item_off = le_u32(buf, at + 16).ok_or_else(short)? as u64;
            let item_len = (le_u32(buf, at + 20).ok_or_else(short)? as u64).min(VHDX_TABLE_MAX);
            if let Some(m) = regions.get_mut("metadata") {
                m.length = have;
            }
            return Ok(Some((base + item_off, item_len)));
        }
    }
    Ok(None)
}

// ---------------------------------------------------------------------------------------------
// The wrapper: every inspector on one stream.

/// Runs every format inspector over one stream. Feed it the bytes as they arrive, then call
/// [`InspectWrapper::finish`] for the [`Verdict`]. Memory stays bounded whatever the stream
/// length; no input makes it panic.
#[derive(Debug, Clone)]
pub struct InspectWrapper {
    inspectors: Vec<Inspector>,
    pending: Vec<u8>,
    total: u64,
}

impl Default for InspectWrapper {
    fn default() -> Self {
        Self::new()
    }
}

impl InspectWrapper {
    /// A wrapper running every inspector of [`ALL_FORMATS`].
    pub fn new() -> Self {
        InspectWrapper {
            inspectors: ALL_FORMATS.iter().map(|n| Inspector::new(n)).collect(),
            pending: Vec::with_capacity(CHUNK_SIZE),
            total: 0,
        }
    }

    /// Presents the next bytes of the stream.
    pub fn feed(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        while !data.is_empty() {
            let room = CHUNK_SIZE - self.pending.len();
            let take = room.min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() == CHUNK_SIZE {
                let block = std::mem::take(&mut self.pending);
                self.process(&block);
                self.pending = block;
                self.pending.clear();
            }
        }
    }

    /// How many bytes were fed so far.
    pub fn bytes_seen(&self) -> u64 {
        self.total
    }

    fn process(&mut self, block: &[u8]) {
        for i in self.inspectors.iter_mut().filter(|i| !i.errored) {
            if i.eat_chunk(block).is_err() {
                i.errored = true;
            }
        }
    }

    /// Ends the stream and returns the verdict.
    pub fn finish(mut self) -> Verdict {
        if !self.pending.is_empty() {
            let block = std::mem::take(&mut self.pending);
            self.process(&block);
        }
        for i in &mut self.inspectors {
            i.finish();
        }
        let mut matches = Vec::new();
        let mut error = None;
        for i in self.inspectors.iter().filter(|i| i.name != "raw") {
            match i.format_match() {
                Ok(true) => matches.push(i),
                Ok(false) => {}
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
        if matches.is_empty() && error.is_none() {
            matches.extend(self.inspectors.iter().filter(|i| i.name == "raw"));
        }
        let reports = matches
            .into_iter()
            .map(|i| FormatReport {
                format: i.name,
                virtual_size: i.virtual_size(),
                safety: i.safety(),
            })
            .collect();
        Verdict { reports, error, size: self.total }
    }
}

/// What the inspector found for one matching format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormatReport {
    /// The format's name (one of [`ALL_FORMATS`]).
    pub format: &'static str,
    /// The virtual disk size the format declares (`Err` when its structures are broken).
    pub virtual_size: Result<u64, FormatError>,
    /// The result of the format's safety checks.
    pub safety: Safety,
}

/// The inspector's conclusion about a whole stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    reports: Vec<FormatReport>,
    error: Option<FormatError>,
    size: u64,
}

/// Why an image is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// The content could not be classified.
    #[error("image content could not be inspected: {0}")]
    Uninspectable(String),
    /// The content matches several formats.
    #[error("image content matches several formats: {0}")]
    Ambiguous(String),
    /// The content is not the declared `disk_format`.
    #[error("image content is {detected}, not the declared disk_format {declared}")]
    Mismatch {
        /// The declared format.
        declared: String,
        /// The detected format.
        detected: String,
    },
    /// The content failed safety checks.
    #[error("image {format} failed safety checks: {checks}")]
    Unsafe {
        /// The detected format.
        format: String,
        /// What failed.
        checks: String,
    },
}

impl Verdict {
    /// The stream's length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The matching formats, sorted; `raw` alone when nothing else matched. `Err` when
    /// classification itself failed (oslo.utils raised).
    pub fn formats(&self) -> Result<Vec<&'static str>, FormatError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let mut v: Vec<_> = self.reports.iter().map(|r| r.format).collect();
        v.sort_unstable();
        Ok(v)
    }

    /// The report for `format`, if it matched.
    pub fn report(&self, format: &str) -> Option<&FormatReport> {
        self.reports.iter().find(|r| r.format == format)
    }

    /// Every matching format's report.
    pub fn reports(&self) -> &[FormatReport] {
        &self.reports
    }

    /// Glance's upload decision for an image declared as `disk_format`: the detected format must
    /// equal the declared one (an iso that also carries a partition table counts as iso; content
    /// that looks raw is accepted for formats the inspector cannot check, such as `ami`), and
    /// the detected format must pass its safety checks (a gpt table's checks are advisory, as
    /// with Glance's `gpt_safety_checks_nonfatal`). Returns the accepted format's report.
    pub fn check(&self, disk_format: &str) -> Result<&FormatReport, Rejection> {
        let formats = self.formats().map_err(|e| Rejection::Uninspectable(e.0))?;
        let chosen = if formats == ["gpt", "iso"] {
            "iso"
        } else if formats.len() > 1 {
            return Err(Rejection::Ambiguous(formats.join(",")));
        } else {
            formats[0]
        };
        let report =
            self.report(chosen).ok_or_else(|| Rejection::Uninspectable("no report".into()))?;
        let inspectable = ALL_FORMATS.contains(&disk_format);
        let matches = chosen == disk_format
            || (!inspectable && chosen == "raw")
            || (disk_format == "raw" && chosen == "gpt");
        if !matches {
            return Err(Rejection::Mismatch {
                declared: disk_format.to_owned(),
                detected: chosen.to_owned(),
            });
        }
        match &report.safety {
            Safety::Safe => Ok(report),
            Safety::Failed(_) if chosen == "gpt" => Ok(report),
            Safety::Failed(names) => {
                Err(Rejection::Unsafe { format: chosen.to_owned(), checks: names.join(",") })
            }
            Safety::Unusable(why) => {
                Err(Rejection::Unsafe { format: chosen.to_owned(), checks: why.clone() })
            }
        }
    }
}

impl fmt::Display for Verdict {
    /// A compact, stable rendering used by the differential test:
    /// `fmt:vsize:safety;...` or `error`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.error.is_some() {
            return f.write_str("error");
        }
        let mut reports: Vec<&FormatReport> = self.reports.iter().collect();
        reports.sort_by_key(|r| r.format);
        let parts: Vec<String> = reports
            .iter()
            .map(|r| {
                let vs = match &r.virtual_size {
                    Ok(v) => v.to_string(),
                    Err(_) => "error".into(),
                };
                let safety = match &r.safety {
                    Safety::Safe => "safe".to_owned(),
                    Safety::Failed(n) => format!("failed={}", n.join(",")),
                    Safety::Unusable(_) => "unusable".to_owned(),
                };
                format!("{}:{}:{}", r.format, vs, safety)
            })
            .collect();
        f.write_str(&parts.join(";"))
    }
}

/// Inspects a whole in-memory image (a convenience for tests and small inputs).
pub fn inspect_bytes(data: &[u8]) -> Verdict {
    let mut w = InspectWrapper::new();
    w.feed(data);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn qcow(version: u32, backing: u64, incompat: u64) -> Vec<u8> {
        let mut h = vec![0u8; 1024];
        h[..4].copy_from_slice(b"QFI\xfb");
        h[4..8].copy_from_slice(&version.to_be_bytes());
        h[8..16].copy_from_slice(&backing.to_be_bytes());
        h[24..32].copy_from_slice(&(1u64 << 30).to_be_bytes());
        h[0x48..0x50].copy_from_slice(&incompat.to_be_bytes());
        h
    }

    #[test]
    fn qcow2_checks() {
        let v = inspect_bytes(&qcow(3, 0, 0));
        assert_eq!(v.to_string(), "qcow2:1073741824:safe");
        assert!(v.check("qcow2").is_ok());
        assert!(matches!(v.check("raw"), Err(Rejection::Mismatch { .. })));
        let v = inspect_bytes(&qcow(3, 0x200, 0));
        assert_eq!(v.to_string(), "qcow2:1073741824:failed=backing_file");
        let v = inspect_bytes(&qcow(3, 0, 4));
        assert_eq!(v.to_string(), "qcow2:1073741824:failed=data_file");
        let v = inspect_bytes(&qcow(3, 0, 16));
        assert_eq!(v.to_string(), "qcow2:1073741824:failed=unknown_features");
        let v = inspect_bytes(&qcow(1, 0, 0));
        assert!(v.check("qcow2").is_err());
    }

    #[test]
    fn raw_declared_qcow2_is_a_mismatch() {
        let v = inspect_bytes(&[0u8; 4096]);
        assert_eq!(v.formats().unwrap(), vec!["raw"]);
        assert!(matches!(v.check("qcow2"), Err(Rejection::Mismatch { .. })));
        assert!(v.check("raw").is_ok());
        assert!(v.check("ami").is_ok());
    }

    #[test]
    fn short_and_empty_streams() {
        assert_eq!(inspect_bytes(&[]).to_string(), "raw:0:safe");
        assert_eq!(inspect_bytes(b"QFI").to_string(), "raw:3:safe");
    }

    proptest! {
        #![proptest_config(ferrostack_core::testing::proptest_config(48))]
        #[test]
        fn never_panics_and_ignores_chunking(
            data in proptest::collection::vec(any::<u8>(), 0..140_000),
            cuts in proptest::collection::vec(0usize..140_000, 0..8),
            magic in 0usize..6,
        ) {
            let mut data = data;
            let magics: [&[u8]; 6] = [b"QFI\xfb", b"KDMV", b"conectix", b"vhdxfile", b"LUKS\xba\xbe", b"QED\0"];
            if data.len() >= 8 { data[..magics[magic].len()].copy_from_slice(magics[magic]); }
            let whole = inspect_bytes(&data).to_string();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(data.len())).collect();
            cuts.sort_unstable();
            let mut w = InspectWrapper::new();
            let mut last = 0;
            for c in cuts { w.feed(&data[last..c]); last = c; }
            w.feed(&data[last..]);
            prop_assert_eq!(w.finish().to_string(), whole);
        }
    }
}
