// SPDX-License-Identifier: Apache-2.0
//! Test doubles and the public conformance suite.
//!
//! * [`FakeVolumeBackend`]: an in-memory [`VolumeBackend`] with configurable capabilities and
//!   failure injection per operation. It keeps data (sparsely), so it passes the conformance
//!   suite; it is a test double, not a driver.
//! * [`conformance`]: the suite every `VolumeBackend` implementation must pass (the file
//!   backend here; LVM and Ceph drivers, when they are written, in their own crates).
//! * [`api_conformance`]: the suite every [`VolumeApi`](crate::VolumeApi) implementation must
//!   pass, run against the local [`VolumeService`](crate::VolumeService) and against
//!   [`http::Client`](crate::http::Client) over the served router (`tests/conformance.rs`).

use crate::backend::{
    BackendError, BackendSnapshot, BackendVolume, ByteStream, Capabilities, CapacityGb,
    CapacityReport, DiskFormat, GIB, VolumeBackend,
};
use crate::types::{AttachmentId, ConnectionInfo, Connector};
use bytes::Bytes;
use ferrostack_core::error::BoxError;
use ferrostack_core::id::{SnapshotId, VolumeId};
use futures::StreamExt;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;

pub mod api_conformance;

const CHUNK: usize = 1024 * 1024;

#[derive(Debug, Default)]
struct FakeState {
    volumes: HashMap<VolumeId, (u64, Vec<u8>)>,
    snapshots: HashMap<SnapshotId, (u64, Vec<u8>)>,
    exports: HashMap<VolumeId, BTreeSet<AttachmentId>>,
    connections: HashSet<AttachmentId>,
    fail: HashSet<&'static str>,
    calls: Vec<&'static str>,
}

/// An in-memory volume backend for tests and examples.
///
/// Volume contents are kept as the written prefix (zeros beyond it are implicit), so
/// multi-GiB volumes cost nothing. [`FakeVolumeBackend::fail_on`] makes the named operation
/// fail with [`BackendError::Injected`] until [`FakeVolumeBackend::clear_failures`].
#[derive(Debug)]
pub struct FakeVolumeBackend {
    name: String,
    caps: Capabilities,
    total_gb: u64,
    state: Mutex<FakeState>,
}

impl FakeVolumeBackend {
    /// A fake backend named `name` with every capability and `total_gb` of thin capacity.
    pub fn new(name: &str, total_gb: u64) -> Self {
        FakeVolumeBackend {
            name: name.into(),
            caps: Capabilities {
                thin_provisioning: true,
                thick_provisioning: false,
                snapshots: true,
                clones: true,
                online_extend: true,
                multiattach: true,
            },
            total_gb,
            state: Mutex::new(FakeState::default()),
        }
    }

    /// The same with other capabilities.
    pub fn with_capabilities(mut self, caps: Capabilities) -> Self {
        self.caps = caps;
        self
    }

    /// Makes operation `op` (a method name, e.g. `"initialize_connection"`) fail.
    pub fn fail_on(&self, op: &'static str) {
        self.lock().fail.insert(op);
    }

    /// Stops injecting failures.
    pub fn clear_failures(&self) {
        self.lock().fail.clear();
    }

    /// The operations called so far, in order.
    pub fn calls(&self) -> Vec<&'static str> {
        self.lock().calls.clone()
    }

    /// How many volumes exist.
    pub fn volume_count(&self) -> usize {
        self.lock().volumes.len()
    }

    /// How many exports exist over all volumes.
    pub fn export_count(&self) -> usize {
        self.lock().exports.values().map(BTreeSet::len).sum()
    }

    /// Whether volume `id` exists.
    pub fn has_volume(&self, id: &VolumeId) -> bool {
        self.lock().volumes.contains_key(id)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn enter(
        &self,
        op: &'static str,
    ) -> Result<std::sync::MutexGuard<'_, FakeState>, BackendError> {
        let mut s = self.lock();
        s.calls.push(op);
        if s.fail.contains(op) {
            return Err(BackendError::Injected { op });
        }
        Ok(s)
    }

    fn unsupported(op: &'static str) -> BackendError {
        BackendError::NotSupported { backend: "fake", op }
    }
}

fn not_found(what: &str, id: impl std::fmt::Display) -> BackendError {
    BackendError::NotFound { what: format!("{what}-{id}") }
}

/// Whether `data` is all zeros (memcmp-backed, fast in debug builds too).
pub fn is_zero(data: &[u8]) -> bool {
    static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];
    data.chunks(ZEROS.len()).all(|c| c == &ZEROS[..c.len()])
}

/// Streams `data` followed by zeros up to `total` bytes.
fn zero_padded(data: Vec<u8>, total: u64) -> ByteStream {
    let data = Bytes::from(data);
    futures::stream::unfold(0u64, move |pos| {
        let data = data.clone();
        async move {
            if pos >= total {
                return None;
            }
            let n = (total - pos).min(CHUNK as u64);
            let mut chunk = vec![0u8; n as usize];
            let dlen = data.len() as u64;
            if pos < dlen {
                let end = (pos + n).min(dlen);
                chunk[..(end - pos) as usize].copy_from_slice(&data[pos as usize..end as usize]);
            }
            Some((Ok::<Bytes, BoxError>(Bytes::from(chunk)), pos + n))
        }
    })
    .boxed()
}

#[async_trait::async_trait]
impl VolumeBackend for FakeVolumeBackend {
    fn name(&self) -> &str {
        &self.name
    }
    fn kind(&self) -> &'static str {
        "fake"
    }
    fn capabilities(&self) -> Capabilities {
        self.caps
    }
    async fn capacity(&self) -> Result<CapacityReport, BackendError> {
        let s = self.enter("capacity")?;
        let provisioned: u64 = s.volumes.values().map(|v| v.0).sum::<u64>()
            + s.snapshots.values().map(|v| v.0).sum::<u64>();
        let used: u64 = s.volumes.values().map(|v| v.1.len() as u64).sum::<u64>();
        Ok(CapacityReport {
            total_gb: CapacityGb::Known(self.total_gb as f64),
            free_gb: CapacityGb::Known(self.total_gb as f64 - used as f64 / GIB as f64),
            provisioned_gb: provisioned as f64,
            reserved_percentage: 0,
            max_over_subscription_ratio: 20.0,
        })
    }
    async fn create_volume(&self, vol: &BackendVolume) -> Result<(), BackendError> {
        let mut s = self.enter("create_volume")?;
        if s.volumes.contains_key(&vol.id) {
            return Err(BackendError::Invalid(format!("volume-{} exists", vol.id)));
        }
        s.volumes.insert(vol.id, (vol.size_gb, Vec::new()));
        Ok(())
    }
    async fn delete_volume(&self, vol: &BackendVolume) -> Result<(), BackendError> {
        let mut s = self.enter("delete_volume")?;
        s.volumes.remove(&vol.id);
        s.exports.remove(&vol.id);
        Ok(())
    }
    async fn extend_volume(
        &self,
        vol: &BackendVolume,
        new_size_gb: u64,
    ) -> Result<(), BackendError> {
        let mut s = self.enter("extend_volume")?;
        let exported = s.exports.get(&vol.id).is_some_and(|e| !e.is_empty());
        if exported && !self.caps.online_extend {
            return Err(Self::unsupported("online extend"));
        }
        let v = s.volumes.get_mut(&vol.id).ok_or_else(|| not_found("volume", vol.id))?;
        if new_size_gb < v.0 {
            return Err(BackendError::Invalid("volumes cannot shrink".into()));
        }
        v.0 = new_size_gb;
        Ok(())
    }
    async fn create_snapshot(&self, snap: &BackendSnapshot) -> Result<(), BackendError> {
        if !self.caps.snapshots {
            return Err(Self::unsupported("snapshots"));
        }
        let mut s = self.enter("create_snapshot")?;
        let v =
            s.volumes.get(&snap.volume.id).ok_or_else(|| not_found("volume", snap.volume.id))?;
        let copy = v.clone();
        if s.snapshots.contains_key(&snap.id) {
            return Err(BackendError::Invalid(format!("snapshot-{} exists", snap.id)));
        }
        s.snapshots.insert(snap.id, copy);
        Ok(())
    }
    async fn delete_snapshot(&self, snap: &BackendSnapshot) -> Result<(), BackendError> {
        let mut s = self.enter("delete_snapshot")?;
        s.snapshots.remove(&snap.id);
        Ok(())
    }
    async fn create_volume_from_snapshot(
        &self,
        vol: &BackendVolume,
        snap: &BackendSnapshot,
    ) -> Result<(), BackendError> {
        if !self.caps.snapshots {
            return Err(Self::unsupported("snapshots"));
        }
        let mut s = self.enter("create_volume_from_snapshot")?;
        let (size, data) =
            s.snapshots.get(&snap.id).cloned().ok_or_else(|| not_found("snapshot", snap.id))?;
        if vol.size_gb < size {
            return Err(BackendError::Invalid("volume smaller than snapshot".into()));
        }
        if s.volumes.contains_key(&vol.id) {
            return Err(BackendError::Invalid(format!("volume-{} exists", vol.id)));
        }
        s.volumes.insert(vol.id, (vol.size_gb, data));
        Ok(())
    }
    async fn create_cloned_volume(
        &self,
        vol: &BackendVolume,
        src: &BackendVolume,
    ) -> Result<(), BackendError> {
        if !self.caps.clones {
            return Err(Self::unsupported("clones"));
        }
        let mut s = self.enter("create_cloned_volume")?;
        let (size, data) =
            s.volumes.get(&src.id).cloned().ok_or_else(|| not_found("volume", src.id))?;
        if vol.size_gb < size {
            return Err(BackendError::Invalid("volume smaller than its source".into()));
        }
        if s.volumes.contains_key(&vol.id) {
            return Err(BackendError::Invalid(format!("volume-{} exists", vol.id)));
        }
        s.volumes.insert(vol.id, (vol.size_gb, data));
        Ok(())
    }
    async fn copy_image_to_volume(
        &self,
        vol: &BackendVolume,
        format: DiskFormat,
        mut data: ByteStream,
    ) -> Result<(), BackendError> {
        drop(self.enter("copy_image_to_volume")?);
        if format != DiskFormat::Raw {
            return Err(Self::unsupported("qcow2 images"));
        }
        let size = {
            let s = self.lock();
            s.volumes.get(&vol.id).map(|v| v.0).ok_or_else(|| not_found("volume", vol.id))?
        };
        // Kept sparsely: zero chunks are counted, not stored.
        let mut buf = Vec::new();
        let mut zeros = 0u64;
        while let Some(chunk) = data.next().await {
            let chunk = chunk.map_err(|source| BackendError::Failed {
                backend: "fake",
                op: "read image data",
                source,
            })?;
            if buf.len() as u64 + zeros + chunk.len() as u64 > size * GIB {
                return Err(BackendError::Invalid(format!(
                    "image is larger than the {size} GiB volume"
                )));
            }
            if is_zero(&chunk) {
                zeros += chunk.len() as u64;
                continue;
            }
            buf.resize(buf.len() + zeros as usize, 0);
            zeros = 0;
            buf.extend_from_slice(&chunk);
        }
        let mut s = self.lock();
        let v = s.volumes.get_mut(&vol.id).ok_or_else(|| not_found("volume", vol.id))?;
        while buf.last() == Some(&0) {
            buf.pop();
        }
        v.1 = buf;
        Ok(())
    }
    async fn copy_volume_to_image(
        &self,
        vol: &BackendVolume,
        format: DiskFormat,
    ) -> Result<ByteStream, BackendError> {
        let s = self.enter("copy_volume_to_image")?;
        if format != DiskFormat::Raw {
            return Err(Self::unsupported("qcow2 images"));
        }
        let (size, data) =
            s.volumes.get(&vol.id).cloned().ok_or_else(|| not_found("volume", vol.id))?;
        Ok(zero_padded(data, size * GIB))
    }
    async fn create_export(
        &self,
        vol: &BackendVolume,
        attachment: &AttachmentId,
        _connector: &Connector,
    ) -> Result<(), BackendError> {
        let mut s = self.enter("create_export")?;
        if !s.volumes.contains_key(&vol.id) {
            return Err(not_found("volume", vol.id));
        }
        let exports = s.exports.entry(vol.id).or_default();
        if !self.caps.multiattach && exports.iter().any(|a| a != attachment) {
            return Err(Self::unsupported("multiattach"));
        }
        exports.insert(*attachment);
        Ok(())
    }
    async fn initialize_connection(
        &self,
        vol: &BackendVolume,
        attachment: &AttachmentId,
        connector: &Connector,
    ) -> Result<ConnectionInfo, BackendError> {
        let mut s = self.enter("initialize_connection")?;
        if !s.exports.get(&vol.id).is_some_and(|e| e.contains(attachment)) {
            return Err(BackendError::Invalid(format!("volume-{} is not exported", vol.id)));
        }
        if connector.host.as_deref().is_none_or(str::is_empty) {
            return Err(BackendError::Invalid("the connector has no host".into()));
        }
        s.connections.insert(*attachment);
        let mut data = serde_json::Map::new();
        data.insert("volume_id".into(), vol.id.to_string().into());
        data.insert("name".into(), format!("fake/volume-{}", vol.id).into());
        Ok(ConnectionInfo { driver_volume_type: "fake".into(), data })
    }
    async fn terminate_connection(
        &self,
        _vol: &BackendVolume,
        attachment: &AttachmentId,
        _connector: &Connector,
    ) -> Result<(), BackendError> {
        let mut s = self.enter("terminate_connection")?;
        s.connections.remove(attachment);
        Ok(())
    }
    async fn remove_export(
        &self,
        vol: &BackendVolume,
        attachment: &AttachmentId,
    ) -> Result<(), BackendError> {
        let mut s = self.enter("remove_export")?;
        if let Some(e) = s.exports.get_mut(&vol.id) {
            e.remove(attachment);
            if e.is_empty() {
                s.exports.remove(&vol.id);
            }
        }
        Ok(())
    }
    async fn exports(&self, vol: &BackendVolume) -> Result<Vec<AttachmentId>, BackendError> {
        let s = self.enter("exports")?;
        Ok(s.exports.get(&vol.id).map(|e| e.iter().copied().collect()).unwrap_or_default())
    }
}

pub mod conformance {
    //! The public conformance suite for [`VolumeBackend`] implementations.
    //!
    //! ```
    //! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    //! use ferrostack_volume::testing::{FakeVolumeBackend, conformance};
    //! conformance::run_all(&FakeVolumeBackend::new("fake", 100)).await;
    //! # });
    //! ```
    //!
    //! Every check creates its own objects with fresh ids and deletes them at the end, so the
    //! suite can run against a shared backend. Checks panic on failure, with a message naming
    //! the contract clause.

    use super::*;

    fn vol(size_gb: u64) -> BackendVolume {
        BackendVolume { id: VolumeId::new(), size_gb }
    }

    fn pattern(seed: u8, len: usize) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) | 1).collect()
    }

    fn raw(data: Vec<u8>) -> ByteStream {
        let chunks: Vec<Result<Bytes, BoxError>> =
            data.chunks(100_000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
        futures::stream::iter(chunks).boxed()
    }

    /// Reads `v` as raw and checks it is `prefix` followed by zeros, `v.size_gb` GiB in all.
    pub async fn assert_contents(b: &dyn VolumeBackend, v: &BackendVolume, prefix: &[u8]) {
        let mut s = b.copy_volume_to_image(v, DiskFormat::Raw).await.expect("read volume");
        static ZEROS: [u8; CHUNK] = [0; CHUNK];
        let mut pos = 0usize;
        while let Some(chunk) = s.next().await {
            let chunk = chunk.expect("volume data chunk");
            let mut off = 0usize;
            while off < chunk.len() {
                let at = pos + off;
                let n = (chunk.len() - off).min(CHUNK);
                let part = &chunk[off..off + n];
                // Compare with memcmp-backed slice equality: fast even in debug builds.
                let in_prefix = prefix.len().saturating_sub(at).min(n);
                assert!(
                    part[..in_prefix] == *prefix.get(at..at + in_prefix).unwrap_or(&[]),
                    "volume-{} differs from the expected data in bytes {at}..{}",
                    v.id,
                    at + in_prefix
                );
                assert!(
                    part[in_prefix..] == ZEROS[..n - in_prefix],
                    "volume-{} is not zero in bytes {}..{}",
                    v.id,
                    at + in_prefix,
                    at + n
                );
                off += n;
            }
            pos += chunk.len();
        }
        assert_eq!(pos as u64, v.size_gb * GIB, "volume-{} has the wrong size", v.id);
    }

    /// Runs every check.
    pub async fn run_all(b: &dyn VolumeBackend) {
        lifecycle(b).await;
        data_and_extend(b).await;
        snapshots(b).await;
        clones(b).await;
        exports(b).await;
    }

    /// Create, duplicate create, capacity, delete, idempotent delete.
    pub async fn lifecycle(b: &dyn VolumeBackend) {
        let cap = b.capacity().await.expect("capacity");
        if let (CapacityGb::Known(t), CapacityGb::Known(f)) = (cap.total_gb, cap.free_gb) {
            assert!(f <= t + 1e-9 && t >= 0.0, "free capacity exceeds total: {cap:?}");
        }
        let v = vol(1);
        b.create_volume(&v).await.expect("create volume");
        assert!(
            matches!(b.create_volume(&v).await, Err(BackendError::Invalid(_))),
            "creating an existing volume must fail with Invalid"
        );
        let after = b.capacity().await.expect("capacity");
        assert!(
            after.provisioned_gb >= cap.provisioned_gb + 1.0 - 1e-9,
            "provisioned capacity must count the new volume: {cap:?} -> {after:?}"
        );
        assert_contents(b, &v, &[]).await;
        b.delete_volume(&v).await.expect("delete volume");
        b.delete_volume(&v).await.expect("deleting a deleted volume must succeed");
        assert!(
            b.copy_volume_to_image(&v, DiskFormat::Raw).await.is_err(),
            "a deleted volume must not be readable"
        );
    }

    /// Image data in, read back; extend keeps it.
    pub async fn data_and_extend(b: &dyn VolumeBackend) {
        let v = vol(1);
        b.create_volume(&v).await.expect("create volume");
        let data = pattern(7, 3 * 1024 * 1024 + 17);
        b.copy_image_to_volume(&v, DiskFormat::Raw, raw(data.clone())).await.expect("write image");
        assert_contents(b, &v, &data).await;
        b.extend_volume(&v, 2).await.expect("extend");
        let v2 = BackendVolume { size_gb: 2, ..v };
        assert_contents(b, &v2, &data).await;
        b.delete_volume(&v2).await.expect("delete");
    }

    /// Snapshots keep the data of their time; volumes from snapshots get it.
    pub async fn snapshots(b: &dyn VolumeBackend) {
        let v = vol(1);
        let snap = BackendSnapshot { id: SnapshotId::new(), volume: v };
        if !b.capabilities().snapshots {
            b.create_volume(&v).await.expect("create volume");
            assert!(matches!(
                b.create_snapshot(&snap).await,
                Err(BackendError::NotSupported { .. })
            ));
            b.delete_volume(&v).await.expect("delete");
            return;
        }
        b.create_volume(&v).await.expect("create volume");
        let first = pattern(1, 2 * 1024 * 1024);
        b.copy_image_to_volume(&v, DiskFormat::Raw, raw(first.clone())).await.expect("write");
        b.create_snapshot(&snap).await.expect("create snapshot");
        let second = pattern(2, 1024 * 1024);
        b.copy_image_to_volume(&v, DiskFormat::Raw, raw(second.clone())).await.expect("rewrite");
        let from = vol(2);
        b.create_volume_from_snapshot(&from, &snap).await.expect("volume from snapshot");
        assert_contents(b, &from, &first).await;
        b.delete_volume(&from).await.expect("delete");
        b.delete_snapshot(&snap).await.expect("delete snapshot");
        b.delete_snapshot(&snap).await.expect("deleting a deleted snapshot must succeed");
        let mut s = b.copy_volume_to_image(&v, DiskFormat::Raw).await.expect("read");
        let head = s.next().await.expect("data").expect("chunk");
        assert_eq!(
            &head[..second.len().min(head.len())],
            &second[..second.len().min(head.len())],
            "deleting a snapshot must keep the volume's current data"
        );
        drop(s);
        b.delete_volume(&v).await.expect("delete");
    }

    /// Clones copy data and are independent.
    pub async fn clones(b: &dyn VolumeBackend) {
        if !b.capabilities().clones {
            return;
        }
        let src = vol(1);
        b.create_volume(&src).await.expect("create");
        let data = pattern(9, 1024 * 1024 + 3);
        b.copy_image_to_volume(&src, DiskFormat::Raw, raw(data.clone())).await.expect("write");
        let clone = vol(2);
        b.create_cloned_volume(&clone, &src).await.expect("clone");
        b.delete_volume(&src).await.expect("delete source");
        assert_contents(b, &clone, &data).await;
        b.delete_volume(&clone).await.expect("delete clone");
    }

    /// Exports are listed, connection info names a protocol, removal is idempotent.
    pub async fn exports(b: &dyn VolumeBackend) {
        let v = vol(1);
        b.create_volume(&v).await.expect("create");
        let a1 = AttachmentId::new();
        let connector = Connector {
            host: Some("conformance-host".into()),
            ip: Some("127.0.0.1".into()),
            ..Connector::default()
        };
        assert!(b.exports(&v).await.expect("exports").is_empty(), "a new volume has no export");
        b.create_export(&v, &a1, &connector).await.expect("export");
        let info = b.initialize_connection(&v, &a1, &connector).await.expect("connect");
        assert!(!info.driver_volume_type.is_empty(), "driver_volume_type must be set");
        assert_eq!(b.exports(&v).await.expect("exports"), vec![a1], "the export is listed");
        if b.capabilities().multiattach {
            let a2 = AttachmentId::new();
            b.create_export(&v, &a2, &connector).await.expect("second export");
            assert_eq!(b.exports(&v).await.expect("exports").len(), 2);
            b.remove_export(&v, &a2).await.expect("remove second export");
        }
        b.terminate_connection(&v, &a1, &connector).await.expect("terminate");
        b.terminate_connection(&v, &a1, &connector).await.expect("terminate is idempotent");
        b.remove_export(&v, &a1).await.expect("remove export");
        b.remove_export(&v, &a1).await.expect("remove_export is idempotent");
        assert!(b.exports(&v).await.expect("exports").is_empty(), "no export is left");
        b.delete_volume(&v).await.expect("delete");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fake_backend_passes_the_conformance_suite() {
        let b = FakeVolumeBackend::new("fake", 100);
        conformance::run_all(&b).await;
        assert_eq!(b.volume_count(), 0, "the suite cleans up");
        assert_eq!(b.export_count(), 0);
    }

    #[tokio::test]
    async fn injected_failures_fail_only_their_operation() {
        let b = FakeVolumeBackend::new("fake", 100);
        b.fail_on("create_export");
        let v = BackendVolume { id: VolumeId::new(), size_gb: 1 };
        b.create_volume(&v).await.unwrap();
        let err = b.create_export(&v, &AttachmentId::new(), &Connector::default()).await;
        assert!(matches!(err, Err(BackendError::Injected { op: "create_export" })));
        b.clear_failures();
        b.create_export(&v, &AttachmentId::new(), &Connector::default()).await.unwrap();
        assert_eq!(b.export_count(), 1);
    }
}
