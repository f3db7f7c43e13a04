// SPDX-License-Identifier: Apache-2.0
//! Swift's ring file formats (`.ring.gz`): v1 (JSON header + 2-byte device ids) and v2
//! (named, checksummed sections with 2- or 4-byte device ids), both gzip'd.
//!
//! Ring files are untrusted input: every size is checked against [`LoadLimits`] before
//! anything is allocated for it, and any inconsistency is an [`ObjectStoreError::InvalidRing`].

use std::io::Read;
use std::path::Path;

use flate2::{Compress, Compression, Crc, FlushCompress};
use serde_json::{Map, Value, json};
use sha2::Digest;

use super::device::Device;
use crate::error::{ObjectStoreError, Result};

/// Ring file format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RingFormat {
    /// Swift's classic format: JSON header, then `u16` arrays in the header's byte order.
    V1,
    /// Swift >= 2.36: indexed sections (`swift/ring/metadata`, `swift/ring/devices`,
    /// `swift/ring/assignments`) with sha256 checksums; device ids of 2 or 4 bytes.
    V2,
}

/// Bounds applied while loading a ring file, so that a corrupt or hostile file is rejected
/// before it can cause a large allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadLimits {
    /// Largest accepted partition power (default 24; Swift allows up to 32).
    pub max_part_power: u32,
    /// Largest accepted number of replica arrays (default 64).
    pub max_replica_arrays: usize,
    /// Largest accepted decompressed file size in bytes (default 256 MiB).
    pub max_decompressed_bytes: u64,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits { max_part_power: 24, max_replica_arrays: 64, max_decompressed_bytes: 256 << 20 }
    }
}

/// The serialisable content of a ring: devices, the replica → partition → device table and
/// the partition shift. This is Swift's `RingData`.
#[derive(Debug, Clone, PartialEq)]
pub struct RingData {
    /// Devices indexed by id; `None` marks a hole left by a removed device.
    pub devs: Vec<Option<Device>>,
    /// One array per replica (the last may be shorter for fractional replica counts), each
    /// mapping a partition to a device id.
    pub replica2part2dev: Vec<Vec<u32>>,
    /// `32 - part_power`.
    pub part_shift: u32,
    /// Set while a partition power increase is in progress.
    pub next_part_power: Option<u32>,
    /// The builder's change counter, if recorded.
    pub version: Option<u64>,
    /// Width of device ids in the v2 format (2 or 4). v1 always uses 2.
    pub dev_id_bytes: u8,
}

impl RingData {
    /// The partition power (`32 - part_shift`).
    pub fn part_power(&self) -> u32 {
        32 - self.part_shift
    }

    /// Number of partitions.
    pub fn partition_count(&self) -> usize {
        1usize << self.part_power()
    }

    /// The (possibly fractional) replica count, as Swift's `calc_replica_count`.
    pub fn replica_count(&self) -> f64 {
        match self.replica2part2dev.as_slice() {
            [] => 0.0,
            [first, .., last] => {
                (self.replica2part2dev.len() - 1) as f64 + last.len() as f64 / first.len() as f64
            }
            [_] => 1.0,
        }
    }

    /// Checks the internal consistency every loaded or built ring must have: array sizes,
    /// device ids that exist, ids equal to indices.
    pub fn validate(&self) -> Result<()> {
        if self.part_shift > 32 {
            return Err(bad(format!("part_shift {} > 32", self.part_shift)));
        }
        if self.dev_id_bytes != 2 && self.dev_id_bytes != 4 {
            return Err(bad(format!("dev_id_bytes {} is not 2 or 4", self.dev_id_bytes)));
        }
        for (i, d) in self.devs.iter().enumerate() {
            if let Some(d) = d
                && d.id as usize != i
            {
                return Err(bad(format!("device at index {i} has id {}", d.id)));
            }
            if let Some(d) = d
                && !(d.weight.is_finite() && d.weight >= 0.0)
            {
                return Err(bad(format!("device {i} has weight {}", d.weight)));
            }
        }
        let parts = self.partition_count();
        let n = self.replica2part2dev.len();
        for (r, row) in self.replica2part2dev.iter().enumerate() {
            if row.len() > parts || (r + 1 < n && row.len() != parts) || row.is_empty() {
                return Err(bad(format!(
                    "replica array {r} has {} entries for {parts} partitions",
                    row.len()
                )));
            }
            for &id in row {
                if self.devs.get(id as usize).is_none_or(|d| d.is_none()) {
                    return Err(bad(format!("replica array {r} names missing device {id}")));
                }
            }
        }
        Ok(())
    }

    /// Loads a `.ring.gz` file (v1 or v2) with default [`LoadLimits`].
    pub fn load(path: impl AsRef<Path>) -> Result<RingData> {
        Self::load_with_limits(path, LoadLimits::default())
    }

    /// Loads a `.ring.gz` file (v1 or v2).
    pub fn load_with_limits(path: impl AsRef<Path>, limits: LoadLimits) -> Result<RingData> {
        let path = path.as_ref();
        let f = std::fs::File::open(path)
            .map_err(|source| ObjectStoreError::Io { path: path.display().to_string(), source })?;
        Self::from_reader(std::io::BufReader::new(f), limits)
    }

    /// Parses a gzip'd ring from any reader.
    pub fn from_reader(reader: impl Read, limits: LoadLimits) -> Result<RingData> {
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(reader)
            .take(limits.max_decompressed_bytes.saturating_add(1))
            .read_to_end(&mut raw)
            .map_err(|e| ObjectStoreError::invalid_ring(format!("gzip: {e}")))?;
        if raw.len() as u64 > limits.max_decompressed_bytes {
            return Err(ObjectStoreError::invalid_ring(format!(
                "decompressed ring exceeds {} bytes",
                limits.max_decompressed_bytes
            )));
        }
        Self::from_decompressed(&raw, limits)
    }

    /// Parses the decompressed content of a ring file.
    pub fn from_decompressed(raw: &[u8], limits: LoadLimits) -> Result<RingData> {
        if raw.len() < 6 || &raw[..4] != b"R1NG" {
            return Err(bad("bad magic (not a Swift ring file)"));
        }
        let version = u16::from_be_bytes([raw[4], raw[5]]);
        let data = match version {
            1 => parse_v1(&raw[6..], limits)?,
            2 => parse_v2(raw, limits)?,
            v => return Err(bad(format!("unsupported ring format version {v}"))),
        };
        data.validate()?;
        Ok(data)
    }

    /// Writes the ring to `path` atomically (temporary file + rename) in `format`.
    pub fn save(&self, path: impl AsRef<Path>, format: RingFormat) -> Result<()> {
        let path = path.as_ref();
        let bytes = self.to_bytes(format)?;
        let io = |source| ObjectStoreError::Io { path: path.display().to_string(), source };
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
    }

    /// Serialises the ring (gzip'd) in `format`.
    pub fn to_bytes(&self, format: RingFormat) -> Result<Vec<u8>> {
        self.validate()?;
        match format {
            RingFormat::V1 => self.to_v1(),
            RingFormat::V2 => Ok(self.to_v2()),
        }
    }

    fn devs_json(&self) -> Value {
        Value::Array(
            self.devs
                .iter()
                .map(|d| match d {
                    Some(d) => serde_json::to_value(d).unwrap_or(Value::Null),
                    None => Value::Null,
                })
                .collect(),
        )
    }

    fn to_v1(&self) -> Result<Vec<u8>> {
        if self.devs.len() > 0xffff {
            return Err(ObjectStoreError::Conflict(
                "ring format v1 only supports device ids below 65535; use v2".into(),
            ));
        }
        let mut hdr = Map::new();
        hdr.insert("devs".into(), self.devs_json());
        hdr.insert("part_shift".into(), json!(self.part_shift));
        hdr.insert("replica_count".into(), json!(self.replica2part2dev.len()));
        hdr.insert("byteorder".into(), json!("little"));
        if let Some(v) = self.version {
            hdr.insert("version".into(), json!(v));
        }
        if let Some(n) = self.next_part_power {
            hdr.insert("next_part_power".into(), json!(n));
        }
        let text = serde_json::to_vec(&Value::Object(hdr))
            .map_err(|e| ObjectStoreError::invalid_input(e.to_string()))?;
        let mut plain = Vec::with_capacity(
            10 + text.len() + self.replica2part2dev.iter().map(|r| r.len() * 2).sum::<usize>(),
        );
        plain.extend_from_slice(b"R1NG\x00\x01");
        plain.extend_from_slice(&(text.len() as u32).to_be_bytes());
        plain.extend_from_slice(&text);
        for row in &self.replica2part2dev {
            for &id in row {
                plain.extend_from_slice(&(id as u16).to_le_bytes());
            }
        }
        let mut w = GzWriter::new();
        w.write(&plain);
        Ok(w.finish())
    }

    fn to_v2(&self) -> Vec<u8> {
        let dev_id_bytes = self.dev_id_bytes.max(if self.devs.len() > 0xffff { 4 } else { 2 });
        let mut w = GzWriter::new();
        // The magic is stored uncompressed, as Swift does, so `file` recognises it.
        w.write_stored(b"R1NG\x00\x02");
        w.flush();
        let mut meta = Map::new();
        meta.insert("part_shift".into(), json!(self.part_shift));
        meta.insert("dev_id_bytes".into(), json!(dev_id_bytes));
        meta.insert("replica_count".into(), json!(self.replica_count()));
        meta.insert("version".into(), json!(self.version));
        if let Some(n) = self.next_part_power {
            meta.insert("next_part_power".into(), json!(n));
        }
        let mut index = Map::new();
        let meta = serde_json::to_vec(&Value::Object(meta)).unwrap_or_default();
        w.section(&mut index, "swift/ring/metadata", |w| w.write_blob(&meta));
        let devs = serde_json::to_vec(&self.devs_json()).unwrap_or_default();
        w.section(&mut index, "swift/ring/devices", |w| w.write_blob(&devs));
        w.section(&mut index, "swift/ring/assignments", |w| {
            let total: usize = self.replica2part2dev.iter().map(|r| r.len()).sum();
            w.write(&((total * dev_id_bytes as usize) as u64).to_be_bytes());
            let mut buf = Vec::with_capacity(1 << 16);
            for row in &self.replica2part2dev {
                for &id in row {
                    if dev_id_bytes == 2 {
                        buf.extend_from_slice(&(id as u16).to_be_bytes());
                    } else {
                        buf.extend_from_slice(&id.to_be_bytes());
                    }
                    if buf.len() >= 1 << 16 {
                        w.write(&buf);
                        buf.clear();
                    }
                }
            }
            w.write(&buf);
        });
        // The index, then its uncompressed and compressed offsets as 18-byte stored chunks.
        let ustart = w.tell();
        let cstart = w.compressed_tell();
        let index = serde_json::to_vec(&Value::Object(index)).unwrap_or_default();
        w.write_blob(&index);
        w.flush();
        w.write_stored(&ustart.to_be_bytes());
        w.write_empty_stored();
        w.write_stored(&cstart.to_be_bytes());
        w.write_empty_stored();
        w.finish()
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| ObjectStoreError::invalid_ring(format!("{what}: bad JSON: {e}")))
}

fn parse_devs(v: Value) -> Result<Vec<Option<Device>>> {
    let Value::Array(items) = v else {
        return Err(ObjectStoreError::invalid_ring("devs is not a list"));
    };
    items
        .into_iter()
        .map(|item| {
            if item.is_null() {
                return Ok(None);
            }
            let mut d: Device = serde_json::from_value(item)
                .map_err(|e| ObjectStoreError::invalid_ring(format!("device: {e}")))?;
            if d.replication_ip.is_empty() {
                d.replication_ip = d.ip.clone();
            }
            if d.replication_port == 0 {
                d.replication_port = d.port;
            }
            Ok(Some(d))
        })
        .collect()
}

fn get_u64(m: &Map<String, Value>, key: &str) -> Result<Option<u64>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| ObjectStoreError::invalid_ring(format!("{key} is not an integer"))),
    }
}

fn check_shift(part_shift: Option<u64>, limits: LoadLimits) -> Result<u32> {
    let s = part_shift.ok_or_else(|| ObjectStoreError::invalid_ring("part_shift missing"))?;
    if s > 32 || 32 - s > limits.max_part_power as u64 {
        return Err(ObjectStoreError::invalid_ring(format!(
            "part_shift {s} out of range (max part power {})",
            limits.max_part_power
        )));
    }
    Ok(s as u32)
}

fn parse_v1(rest: &[u8], limits: LoadLimits) -> Result<RingData> {
    if rest.len() < 4 {
        return Err(bad("truncated v1 header"));
    }
    let json_len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
    let rest = &rest[4..];
    if json_len > rest.len() {
        return Err(bad("truncated v1 JSON header"));
    }
    let mut hdr: Map<String, Value> = parse_json(&rest[..json_len], "v1 header")?;
    let table = &rest[json_len..];
    let part_shift = check_shift(get_u64(&hdr, "part_shift")?, limits)?;
    let replicas = get_u64(&hdr, "replica_count")?.ok_or_else(|| bad("replica_count missing"))?;
    if replicas as usize > limits.max_replica_arrays {
        return Err(bad(format!("replica_count {replicas} too large")));
    }
    let big = match hdr.get("byteorder").and_then(Value::as_str) {
        Some("big") => true,
        Some("little") | None => false,
        Some(o) => return Err(bad(format!("unknown byteorder {o:?}"))),
    };
    let parts = 1usize << (32 - part_shift);
    if !table.len().is_multiple_of(2) {
        return Err(bad("odd number of bytes in the v1 partition table"));
    }
    let entries = table.len() / 2;
    let expected_max = replicas as usize * parts;
    if entries > expected_max || (replicas > 0 && entries <= (replicas as usize - 1) * parts) {
        return Err(bad(format!(
            "v1 table has {entries} entries; {replicas} replica arrays of {parts} expected"
        )));
    }
    let mut r2p2d = Vec::with_capacity(replicas as usize);
    for chunk in table.chunks(parts * 2) {
        r2p2d.push(
            chunk
                .chunks_exact(2)
                .map(|b| {
                    if big {
                        u16::from_be_bytes([b[0], b[1]]) as u32
                    } else {
                        u16::from_le_bytes([b[0], b[1]]) as u32
                    }
                })
                .collect(),
        );
    }
    let devs = parse_devs(hdr.remove("devs").unwrap_or(Value::Array(vec![])))?;
    Ok(RingData {
        devs,
        replica2part2dev: r2p2d,
        part_shift,
        next_part_power: get_u64(&hdr, "next_part_power")?.map(|v| v as u32),
        version: get_u64(&hdr, "version")?,
        dev_id_bytes: 2,
    })
}

fn be_u64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

/// Returns the payload of the length-prefixed blob at `start`, which must end at `end`.
fn blob_at(raw: &[u8], start: u64, end: Option<u64>) -> Result<&[u8]> {
    let start = usize::try_from(start).map_err(|_| bad("offset out of range"))?;
    if start.checked_add(8).is_none_or(|e| e > raw.len()) {
        return Err(bad("section offset beyond the end of the file"));
    }
    let len = be_u64(&raw[start..]);
    let stop = (start as u64 + 8).checked_add(len).ok_or_else(|| bad("bad section length"))?;
    if stop > raw.len() as u64 || end.is_some_and(|e| e != stop) {
        return Err(bad("inconsistent section size"));
    }
    Ok(&raw[start + 8..stop as usize])
}

fn parse_v2(raw: &[u8], limits: LoadLimits) -> Result<RingData> {
    if raw.len() < 6 + 16 {
        return Err(bad("truncated v2 ring"));
    }
    let index_start = be_u64(&raw[raw.len() - 16..]);
    let index_bytes = blob_at(raw, index_start, None)?;
    let index: Map<String, Value> = parse_json(index_bytes, "v2 index")?;
    let section = |name: &str| -> Result<&[u8]> {
        let entry = index
            .get(name)
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("section {name} missing from the index")))?;
        if entry.len() != 6 {
            return Err(bad(format!("index entry for {name} malformed")));
        }
        let ustart = entry[1].as_u64().ok_or_else(|| bad("index offset not an integer"))?;
        let uend = entry[3].as_u64().ok_or_else(|| bad("index offset not an integer"))?;
        let payload = blob_at(raw, ustart, Some(uend))?;
        let start = ustart as usize;
        let whole = &raw[start..start + 8 + payload.len()];
        let method = entry[4].as_str().unwrap_or("");
        let want = entry[5].as_str().unwrap_or("");
        let got = match method {
            "sha256" => hex_lower(&sha2::Sha256::digest(whole)),
            "md5" => hex_lower(&md5::Md5::digest(whole)),
            m => return Err(bad(format!("unsupported checksum method {m:?} for {name}"))),
        };
        if got != want {
            return Err(bad(format!("checksum mismatch in section {name}")));
        }
        Ok(payload)
    };
    let meta: Map<String, Value> = parse_json(section("swift/ring/metadata")?, "v2 metadata")?;
    let devs = parse_devs(parse_json(section("swift/ring/devices")?, "v2 devices")?)?;
    let part_shift = check_shift(get_u64(&meta, "part_shift")?, limits)?;
    let dev_id_bytes = get_u64(&meta, "dev_id_bytes")?.unwrap_or(2);
    if dev_id_bytes != 2 && dev_id_bytes != 4 {
        return Err(bad(format!("dev_id_bytes {dev_id_bytes} not supported")));
    }
    let table = section("swift/ring/assignments")?;
    let w = dev_id_bytes as usize;
    let parts = 1usize << (32 - part_shift);
    if !table.len().is_multiple_of(w) {
        return Err(bad("partition table size is not a multiple of the id width"));
    }
    if table.len() / w > limits.max_replica_arrays * parts {
        return Err(bad("too many replica arrays"));
    }
    let r2p2d = table
        .chunks(parts * w)
        .map(|row| {
            row.chunks_exact(w)
                .map(|b| if w == 2 { u16::from_be_bytes([b[0], b[1]]) as u32 } else { be_u32(b) })
                .collect()
        })
        .collect();
    Ok(RingData {
        devs,
        replica2part2dev: r2p2d,
        part_shift,
        next_part_power: get_u64(&meta, "next_part_power")?.map(|v| v as u32),
        version: get_u64(&meta, "version")?,
        dev_id_bytes: dev_id_bytes as u8,
    })
}

fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A gzip writer that controls deflate flushes the way Swift's `RingWriter` does: every
/// section starts at a full-flush boundary with a fresh compressor, so a reader can seek to
/// it and inflate from there.
struct GzWriter {
    out: Vec<u8>,
    crc: Crc,
    total: u64,
    comp: Compress,
    dirty: bool,
}

impl GzWriter {
    fn new() -> Self {
        // gzip header: magic, deflate, no flags, Swift's fixed mtime, xfl 2, OS unknown.
        let mut out = vec![0x1f, 0x8b, 8, 0];
        out.extend_from_slice(&1_300_507_380u32.to_le_bytes());
        out.extend_from_slice(&[2, 255]);
        GzWriter {
            out,
            crc: Crc::new(),
            total: 0,
            comp: Compress::new(Compression::best(), false),
            dirty: false,
        }
    }

    fn run(&mut self, mut input: &[u8], flush: FlushCompress) {
        loop {
            if self.out.capacity() - self.out.len() < (1 << 16) {
                self.out.reserve(input.len() / 2 + (1 << 16));
            }
            let before_in = self.comp.total_in();
            let status = self.comp.compress_vec(input, &mut self.out, flush);
            let consumed = (self.comp.total_in() - before_in) as usize;
            input = &input[consumed..];
            let room_left = self.out.capacity() > self.out.len();
            if status.is_err() || (input.is_empty() && room_left) {
                break;
            }
        }
    }

    fn write(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.crc.update(data);
        self.total += data.len() as u64;
        self.dirty = true;
        self.run(data, FlushCompress::None);
    }

    fn write_blob(&mut self, data: &[u8]) {
        self.write(&(data.len() as u64).to_be_bytes());
        self.write(data);
    }

    /// Full flush; the next data starts a fresh deflate stream at a byte boundary.
    fn flush(&mut self) {
        if self.dirty {
            self.run(&[], FlushCompress::Full);
            self.comp = Compress::new(Compression::best(), false);
            self.dirty = false;
        }
    }

    /// Writes `data` as one stored (uncompressed) deflate block; must follow a flush.
    fn write_stored(&mut self, data: &[u8]) {
        self.flush();
        self.crc.update(data);
        self.total += data.len() as u64;
        let len = data.len() as u16;
        self.out.push(0);
        self.out.extend_from_slice(&len.to_le_bytes());
        self.out.extend_from_slice(&(!len).to_le_bytes());
        self.out.extend_from_slice(data);
    }

    fn write_empty_stored(&mut self) {
        self.out.extend_from_slice(&[0, 0, 0, 0xff, 0xff]);
    }

    fn tell(&mut self) -> u64 {
        self.flush();
        self.total
    }

    fn compressed_tell(&mut self) -> u64 {
        self.flush();
        self.out.len() as u64
    }

    fn section(
        &mut self,
        index: &mut Map<String, Value>,
        name: &str,
        body: impl FnOnce(&mut SectionWriter<'_>),
    ) {
        let cstart = self.compressed_tell();
        let ustart = self.tell();
        let mut s = SectionWriter { w: self, hash: sha2::Sha256::new() };
        body(&mut s);
        let hash = hex_lower(&s.hash.finalize());
        let cend = self.compressed_tell();
        let uend = self.tell();
        index.insert(name.into(), json!([cstart, ustart, cend, uend, "sha256", hash]));
    }

    fn finish(mut self) -> Vec<u8> {
        self.flush();
        // Final empty stored block, then CRC32 and ISIZE.
        self.out.extend_from_slice(&[1, 0, 0, 0xff, 0xff]);
        let crc = self.crc.sum();
        self.out.extend_from_slice(&crc.to_le_bytes());
        self.out.extend_from_slice(&(self.total as u32).to_le_bytes());
        self.out
    }
}

struct SectionWriter<'a> {
    w: &'a mut GzWriter,
    hash: sha2::Sha256,
}

impl SectionWriter<'_> {
    fn write(&mut self, data: &[u8]) {
        self.hash.update(data);
        self.w.write(data);
    }
    fn write_blob(&mut self, data: &[u8]) {
        self.write(&(data.len() as u64).to_be_bytes());
        self.write(data);
    }
}

fn bad(msg: impl Into<String>) -> ObjectStoreError {
    ObjectStoreError::InvalidRing(msg.into())
}
