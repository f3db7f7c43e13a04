// SPDX-License-Identifier: Apache-2.0
//! [`FileBackend`]: volumes as sparse raw or qcow2 files in a directory, the embedded default.
//!
//! Every image operation runs `qemu-img` with an explicit `-f` through a
//! [`CommandRunner`], so a guest-written header can never change how a file is interpreted.
//!
//! Layout of the directory:
//!
//! | file | what |
//! |---|---|
//! | `volume-<id>.raw` / `volume-<id>.qcow2` | the volume |
//! | `volume-<vid>.snap-<sid>.raw` | a raw snapshot: a sparse copy |
//! | `volume-<vid>.snap-<sid>.qcow2` | a qcow2 snapshot: a frozen member of the volume's backing chain |
//! | `exports/volume-<id>/<attachment>` | one marker per export (survives restarts) |
//! | `.tmp-*` | scratch files, renamed into place only when complete |
//!
//! **qcow2 snapshots** use backing chains as Cinder's remotefs drivers do: taking snapshot S
//! renames the active file to `volume-V.snap-S.qcow2` and creates a new empty active file
//! backed by it. Deleting S merges its data into its child with a safe `qemu-img rebase` onto
//! S's own backing file, then removes S. Volumes made from snapshots or clones are flattened
//! copies (`qemu-img convert`), independent of their source.
//!
//! Consumers reach volumes with `driver_volume_type` `local` and `data.device_path`.

use crate::backend::{
    BackendError, BackendSnapshot, BackendVolume, ByteStream, Capabilities, CapacityGb,
    CapacityReport, DiskFormat, GIB, VolumeBackend,
};
use crate::types::{AttachmentId, ConnectionInfo, Connector};
use bytes::Bytes;
use ferrostack_core::command::{Command, CommandError, CommandRunner};
use ferrostack_core::error::BoxError;
use ferrostack_core::id::VolumeId;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KIND: &str = "file";
const LONG: Duration = Duration::from_secs(3600);

/// The format of a [`FileBackend`]'s volume files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// Sparse raw files: thin, shareable by several consumers (multiattach).
    #[default]
    Raw,
    /// qcow2 files with backing-chain snapshots.
    Qcow2,
}

impl FileFormat {
    fn ext(self) -> &'static str {
        match self {
            FileFormat::Raw => "raw",
            FileFormat::Qcow2 => "qcow2",
        }
    }
}

/// Configuration of a [`FileBackend`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBackendConfig {
    /// The backend name (`volume_backend_name`).
    pub name: String,
    /// The directory holding the files (created if missing).
    pub directory: PathBuf,
    /// Raw (default) or qcow2.
    #[serde(default)]
    pub format: FileFormat,
    /// Cap on the capacity reported, GiB; the file system's size when absent.
    #[serde(default)]
    pub capacity_gb: Option<u64>,
    /// `reserved_percentage` (default 0).
    #[serde(default)]
    pub reserved_percentage: u8,
    /// `max_over_subscription_ratio` (default 20, as Cinder).
    #[serde(default = "default_ratio")]
    pub max_over_subscription_ratio: f64,
}

fn default_ratio() -> f64 {
    20.0
}

impl FileBackendConfig {
    /// A configuration with defaults.
    pub fn new(name: impl Into<String>, directory: impl Into<PathBuf>, format: FileFormat) -> Self {
        FileBackendConfig {
            name: name.into(),
            directory: directory.into(),
            format,
            capacity_gb: None,
            reserved_percentage: 0,
            max_over_subscription_ratio: default_ratio(),
        }
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), BackendError> {
        if self.name.is_empty() {
            return Err(BackendError::Invalid("the backend name is empty".into()));
        }
        if self.reserved_percentage > 100 {
            return Err(BackendError::Invalid("reserved_percentage exceeds 100".into()));
        }
        if self.max_over_subscription_ratio.is_nan() || self.max_over_subscription_ratio < 1.0 {
            return Err(BackendError::Invalid("max_over_subscription_ratio must be >= 1".into()));
        }
        Ok(())
    }
}

/// Volumes as files; see the [module documentation](self).
#[derive(Debug)]
pub struct FileBackend {
    cfg: FileBackendConfig,
    runner: Arc<dyn CommandRunner>,
}

#[derive(Debug, Deserialize)]
struct QemuInfo {
    #[serde(rename = "virtual-size")]
    virtual_size: u64,
    #[serde(rename = "backing-filename")]
    backing_filename: Option<String>,
    #[serde(rename = "full-backing-filename")]
    full_backing_filename: Option<String>,
    #[serde(rename = "format-specific")]
    format_specific: Option<serde_json::Value>,
}

fn failed(op: &'static str) -> impl FnOnce(CommandError) -> BackendError {
    move |e| BackendError::Failed { backend: KIND, op, source: Box::new(e) }
}

fn io(op: &'static str) -> impl FnOnce(std::io::Error) -> BackendError {
    move |e| BackendError::Failed { backend: KIND, op, source: Box::new(e) }
}

async fn exists(p: &Path) -> bool {
    tokio::fs::try_exists(p).await.unwrap_or(false)
}

async fn remove_if_exists(p: &Path) -> Result<(), BackendError> {
    match tokio::fs::remove_file(p).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io("remove a file")(e)),
    }
}

/// Removes a scratch file when dropped unless disarmed.
struct Scratch(Option<PathBuf>);

impl Scratch {
    fn path(&self) -> &Path {
        self.0.as_deref().unwrap_or(Path::new(""))
    }
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl FileBackend {
    /// A backend over `cfg.directory` (created if missing), running `qemu-img` with `runner`.
    pub fn new(
        cfg: FileBackendConfig,
        runner: Arc<dyn CommandRunner>,
    ) -> Result<Self, BackendError> {
        cfg.validate()?;
        std::fs::create_dir_all(cfg.directory.join("exports"))
            .map_err(io("create the directory"))?;
        Ok(FileBackend { cfg, runner })
    }

    fn ext(&self) -> &'static str {
        self.cfg.format.ext()
    }

    fn fmt(&self) -> &'static str {
        self.cfg.format.ext()
    }

    fn volume_path(&self, id: &VolumeId) -> PathBuf {
        self.cfg.directory.join(format!("volume-{id}.{}", self.ext()))
    }

    fn snapshot_name(&self, snap: &BackendSnapshot) -> String {
        format!("volume-{}.snap-{}.{}", snap.volume.id, snap.id, self.ext())
    }

    fn snapshot_path(&self, snap: &BackendSnapshot) -> PathBuf {
        self.cfg.directory.join(self.snapshot_name(snap))
    }

    fn export_dir(&self, id: &VolumeId) -> PathBuf {
        self.cfg.directory.join("exports").join(format!("volume-{id}"))
    }

    fn scratch(&self, ext: &str) -> Scratch {
        Scratch(Some(self.cfg.directory.join(format!(".tmp-{}.{ext}", uuid::Uuid::new_v4()))))
    }

    async fn qemu_img(
        &self,
        op: &'static str,
        args: &[&std::ffi::OsStr],
    ) -> Result<String, BackendError> {
        let cmd = Command::new("qemu-img").args(args.iter().copied()).timeout(LONG);
        let out = self.runner.run(&cmd).await.map_err(failed(op))?;
        Ok(out.stdout_str())
    }

    async fn info(&self, path: &Path, fmt: &str) -> Result<QemuInfo, BackendError> {
        let out = self
            .qemu_img(
                "inspect an image",
                &[
                    "info".as_ref(),
                    "-U".as_ref(),
                    "-f".as_ref(),
                    fmt.as_ref(),
                    "--output=json".as_ref(),
                    path.as_os_str(),
                ],
            )
            .await?;
        serde_json::from_str(&out).map_err(|e| BackendError::Failed {
            backend: KIND,
            op: "parse qemu-img info",
            source: Box::new(e),
        })
    }

    async fn create_file(&self, path: &Path, size_gb: u64) -> Result<(), BackendError> {
        let size = format!("{size_gb}G");
        self.qemu_img(
            "create a volume file",
            &[
                "create".as_ref(),
                "-f".as_ref(),
                self.fmt().as_ref(),
                path.as_os_str(),
                size.as_ref(),
            ],
        )
        .await
        .map(drop)
    }

    async fn resize(&self, path: &Path, size_gb: u64) -> Result<(), BackendError> {
        let size = format!("{size_gb}G");
        self.qemu_img(
            "resize a volume file",
            &[
                "resize".as_ref(),
                "-f".as_ref(),
                self.fmt().as_ref(),
                path.as_os_str(),
                size.as_ref(),
            ],
        )
        .await
        .map(drop)
    }

    /// Copies `src` (in the backend's format, flattening any backing chain) into a new file
    /// `dst` of `size_gb`, atomically.
    async fn copy_to_new(&self, src: &Path, dst: &Path, size_gb: u64) -> Result<(), BackendError> {
        if exists(dst).await {
            return Err(BackendError::Invalid(format!("{} exists", dst.display())));
        }
        if !exists(src).await {
            return Err(BackendError::NotFound { what: src.display().to_string() });
        }
        let tmp = self.scratch(self.ext());
        self.qemu_img(
            "copy a volume",
            &[
                "convert".as_ref(),
                "-U".as_ref(),
                "-f".as_ref(),
                self.fmt().as_ref(),
                "-O".as_ref(),
                self.fmt().as_ref(),
                src.as_os_str(),
                tmp.path().as_os_str(),
            ],
        )
        .await?;
        let info = self.info(tmp.path(), self.fmt()).await?;
        if info.virtual_size > size_gb * GIB {
            return Err(BackendError::Invalid("the new volume is smaller than its source".into()));
        }
        if info.virtual_size < size_gb * GIB {
            self.resize(tmp.path(), size_gb).await?;
        }
        tokio::fs::rename(tmp.path(), dst).await.map_err(io("rename a volume file"))?;
        tmp.disarm();
        Ok(())
    }

    async fn exported(&self, id: &VolumeId) -> bool {
        match tokio::fs::read_dir(self.export_dir(id)).await {
            Ok(mut rd) => matches!(rd.next_entry().await, Ok(Some(_))),
            Err(_) => false,
        }
    }

    /// The files of volume `id` (active and snapshots) that have `target` as backing file.
    async fn children_of(
        &self,
        id: &VolumeId,
        target: &Path,
    ) -> Result<Vec<PathBuf>, BackendError> {
        let prefix = format!("volume-{id}.");
        let mut out = Vec::new();
        let mut rd =
            tokio::fs::read_dir(&self.cfg.directory).await.map_err(io("list the directory"))?;
        while let Some(e) = rd.next_entry().await.map_err(io("list the directory"))? {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with(&prefix) || e.path() == target {
                continue;
            }
            let info = self.info(&e.path(), "qcow2").await?;
            let backing = info
                .full_backing_filename
                .map(PathBuf::from)
                .or_else(|| info.backing_filename.map(|b| self.cfg.directory.join(b)));
            if backing.as_deref() == Some(target) {
                out.push(e.path());
            }
        }
        Ok(out)
    }

    fn total_bytes(meta: &std::fs::Metadata) -> u64 {
        use std::os::unix::fs::MetadataExt;
        meta.blocks() * 512
    }
}

/// Reads the virtual size from a qcow2 header (big-endian u64 at offset 24).
async fn qcow2_virtual_size(p: &Path) -> Option<u64> {
    let mut f = tokio::fs::File::open(p).await.ok()?;
    let mut h = [0u8; 32];
    f.read_exact(&mut h).await.ok()?;
    (&h[..4] == b"QFI\xfb").then(|| u64::from_be_bytes(h[24..32].try_into().unwrap_or([0; 8])))
}

fn stream_file(path: PathBuf, scratch: Scratch) -> ByteStream {
    futures::stream::unfold(
        (None::<tokio::fs::File>, Some(scratch), path),
        |(file, scratch, path)| async move {
            scratch.as_ref()?;
            let mut file = match file {
                Some(f) => f,
                None => match tokio::fs::File::open(&path).await {
                    Ok(f) => f,
                    Err(e) => {
                        return Some((Err::<Bytes, BoxError>(Box::new(e)), (None, None, path)));
                    }
                },
            };
            let mut buf = vec![0u8; 1024 * 1024];
            let mut filled = 0;
            while filled < buf.len() {
                match file.read(&mut buf[filled..]).await {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) => return Some((Err(Box::new(e) as BoxError), (None, None, path))),
                }
            }
            if filled == 0 {
                return None;
            }
            buf.truncate(filled);
            Some((Ok(Bytes::from(buf)), (Some(file), scratch, path)))
        },
    )
    .boxed()
}

#[async_trait::async_trait]
impl VolumeBackend for FileBackend {
    fn name(&self) -> &str {
        &self.cfg.name
    }

    fn kind(&self) -> &'static str {
        KIND
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            thin_provisioning: true,
            thick_provisioning: false,
            snapshots: true,
            clones: true,
            online_extend: false,
            multiattach: self.cfg.format == FileFormat::Raw,
        }
    }

    async fn capacity(&self) -> Result<CapacityReport, BackendError> {
        let cmd = Command::new("df")
            .args(["--output=size,avail", "-B1"])
            .arg(self.cfg.directory.as_os_str())
            .timeout(Duration::from_secs(30));
        let out = self.runner.run(&cmd).await.map_err(failed("measure the file system"))?;
        let text = out.stdout_str();
        let nums: Vec<u64> = text
            .lines()
            .nth(1)
            .map(|l| l.split_whitespace().filter_map(|n| n.parse().ok()).collect())
            .unwrap_or_default();
        let (fs_total, fs_free) = match nums.as_slice() {
            [t, f] => (*t as f64 / GIB as f64, *f as f64 / GIB as f64),
            _ => (f64::NAN, f64::NAN),
        };
        let mut provisioned = 0u64;
        let mut allocated = 0u64;
        let mut rd =
            tokio::fs::read_dir(&self.cfg.directory).await.map_err(io("list the directory"))?;
        while let Some(e) = rd.next_entry().await.map_err(io("list the directory"))? {
            let name = e.file_name().to_string_lossy().into_owned();
            if !name.starts_with("volume-") {
                continue;
            }
            let Ok(meta) = e.metadata().await else { continue };
            allocated += Self::total_bytes(&meta);
            provisioned += match self.cfg.format {
                FileFormat::Raw => meta.len(),
                FileFormat::Qcow2 => qcow2_virtual_size(&e.path()).await.unwrap_or(0),
            };
        }
        let (total, free) = if fs_total.is_nan() {
            (CapacityGb::Unknown, CapacityGb::Unknown)
        } else {
            match self.cfg.capacity_gb {
                Some(cap) => {
                    let cap = cap as f64;
                    let used = allocated as f64 / GIB as f64;
                    (
                        CapacityGb::Known(cap.min(fs_total)),
                        CapacityGb::Known((cap - used).max(0.0).min(fs_free)),
                    )
                }
                None => (CapacityGb::Known(fs_total), CapacityGb::Known(fs_free)),
            }
        };
        Ok(CapacityReport {
            total_gb: total,
            free_gb: free,
            provisioned_gb: provisioned as f64 / GIB as f64,
            reserved_percentage: self.cfg.reserved_percentage,
            max_over_subscription_ratio: self.cfg.max_over_subscription_ratio,
        })
    }

    async fn create_volume(&self, vol: &BackendVolume) -> Result<(), BackendError> {
        let path = self.volume_path(&vol.id);
        if exists(&path).await {
            return Err(BackendError::Invalid(format!("volume-{} exists", vol.id)));
        }
        let tmp = self.scratch(self.ext());
        self.create_file(tmp.path(), vol.size_gb).await?;
        tokio::fs::rename(tmp.path(), &path).await.map_err(io("rename a volume file"))?;
        tmp.disarm();
        Ok(())
    }

    async fn delete_volume(&self, vol: &BackendVolume) -> Result<(), BackendError> {
        remove_if_exists(&self.volume_path(&vol.id)).await?;
        match tokio::fs::remove_dir_all(self.export_dir(&vol.id)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io("remove exports")(e)),
        }
    }

    async fn extend_volume(
        &self,
        vol: &BackendVolume,
        new_size_gb: u64,
    ) -> Result<(), BackendError> {
        let path = self.volume_path(&vol.id);
        if !exists(&path).await {
            return Err(BackendError::NotFound { what: format!("volume-{}", vol.id) });
        }
        if self.exported(&vol.id).await {
            return Err(BackendError::NotSupported { backend: KIND, op: "online extend" });
        }
        let info = self.info(&path, self.fmt()).await?;
        if new_size_gb * GIB < info.virtual_size {
            return Err(BackendError::Invalid("volumes cannot shrink".into()));
        }
        self.resize(&path, new_size_gb).await
    }

    async fn create_snapshot(&self, snap: &BackendSnapshot) -> Result<(), BackendError> {
        let active = self.volume_path(&snap.volume.id);
        let target = self.snapshot_path(snap);
        if !exists(&active).await {
            return Err(BackendError::NotFound { what: format!("volume-{}", snap.volume.id) });
        }
        if exists(&target).await {
            return Err(BackendError::Invalid(format!("snapshot-{} exists", snap.id)));
        }
        if self.exported(&snap.volume.id).await {
            return Err(BackendError::NotSupported {
                backend: KIND,
                op: "snapshots of attached volumes (needs hypervisor-assisted snapshots)",
            });
        }
        match self.cfg.format {
            FileFormat::Raw => {
                let tmp = self.scratch("raw");
                self.qemu_img(
                    "copy a volume",
                    &[
                        "convert".as_ref(),
                        "-f".as_ref(),
                        "raw".as_ref(),
                        "-O".as_ref(),
                        "raw".as_ref(),
                        active.as_os_str(),
                        tmp.path().as_os_str(),
                    ],
                )
                .await?;
                tokio::fs::rename(tmp.path(), &target).await.map_err(io("rename a snapshot"))?;
                tmp.disarm();
            }
            FileFormat::Qcow2 => {
                // The active file becomes the frozen snapshot; a new overlay becomes active.
                tokio::fs::rename(&active, &target).await.map_err(io("rename the active file"))?;
                let tmp = self.scratch("qcow2");
                let backing = self.snapshot_name(snap);
                let made = self
                    .qemu_img(
                        "create an overlay",
                        &[
                            "create".as_ref(),
                            "-f".as_ref(),
                            "qcow2".as_ref(),
                            "-b".as_ref(),
                            backing.as_ref(),
                            "-F".as_ref(),
                            "qcow2".as_ref(),
                            tmp.path().as_os_str(),
                        ],
                    )
                    .await;
                let placed = match made {
                    Ok(_) => tokio::fs::rename(tmp.path(), &active)
                        .await
                        .map_err(io("rename the overlay")),
                    Err(e) => Err(e),
                };
                if let Err(e) = placed {
                    let _ = tokio::fs::rename(&target, &active).await;
                    return Err(e);
                }
                tmp.disarm();
            }
        }
        Ok(())
    }

    async fn delete_snapshot(&self, snap: &BackendSnapshot) -> Result<(), BackendError> {
        let target = self.snapshot_path(snap);
        if !exists(&target).await {
            return Ok(());
        }
        if self.cfg.format == FileFormat::Qcow2 {
            let own = self.info(&target, "qcow2").await?;
            let children = self.children_of(&snap.volume.id, &target).await?;
            if !children.is_empty() && self.exported(&snap.volume.id).await {
                return Err(BackendError::NotSupported {
                    backend: KIND,
                    op: "deleting snapshots of attached volumes",
                });
            }
            for child in children {
                // Safe rebase: copies into the child whatever it read through the snapshot.
                let mut args: Vec<&std::ffi::OsStr> =
                    vec!["rebase".as_ref(), "-f".as_ref(), "qcow2".as_ref(), "-b".as_ref()];
                let new_backing = own.backing_filename.clone().unwrap_or_default();
                args.push(new_backing.as_ref());
                if !new_backing.is_empty() {
                    args.push("-F".as_ref());
                    args.push("qcow2".as_ref());
                }
                args.push(child.as_os_str());
                self.qemu_img("merge a snapshot into its child", &args).await?;
            }
        }
        remove_if_exists(&target).await
    }

    async fn create_volume_from_snapshot(
        &self,
        vol: &BackendVolume,
        snap: &BackendSnapshot,
    ) -> Result<(), BackendError> {
        let src = self.snapshot_path(snap);
        if !exists(&src).await {
            return Err(BackendError::NotFound { what: format!("snapshot-{}", snap.id) });
        }
        self.copy_to_new(&src, &self.volume_path(&vol.id), vol.size_gb).await
    }

    async fn create_cloned_volume(
        &self,
        vol: &BackendVolume,
        src: &BackendVolume,
    ) -> Result<(), BackendError> {
        self.copy_to_new(&self.volume_path(&src.id), &self.volume_path(&vol.id), vol.size_gb).await
    }

    async fn copy_image_to_volume(
        &self,
        vol: &BackendVolume,
        format: DiskFormat,
        mut data: ByteStream,
    ) -> Result<(), BackendError> {
        let path = self.volume_path(&vol.id);
        if !exists(&path).await {
            return Err(BackendError::NotFound { what: format!("volume-{}", vol.id) });
        }
        let current = self.info(&path, self.fmt()).await?;
        let image = self.scratch("img");
        {
            let mut f =
                tokio::fs::File::create(image.path()).await.map_err(io("write image data"))?;
            let mut written = 0u64;
            let limit = current.virtual_size.saturating_add(64 * 1024 * 1024);
            while let Some(chunk) = data.next().await {
                let chunk = chunk.map_err(|source| BackendError::Failed {
                    backend: KIND,
                    op: "read image data",
                    source,
                })?;
                written += chunk.len() as u64;
                if format == DiskFormat::Raw && written > current.virtual_size || written > limit {
                    return Err(BackendError::Invalid(format!(
                        "the image is larger than the {} GiB volume",
                        current.virtual_size / GIB
                    )));
                }
                f.write_all(&chunk).await.map_err(io("write image data"))?;
            }
            f.flush().await.map_err(io("write image data"))?;
        }
        let info = self.info(image.path(), format.as_str()).await.map_err(|source| {
            BackendError::InvalidImage { format: format.as_str(), source: Box::new(source) }
        })?;
        if info.backing_filename.is_some() {
            return Err(BackendError::Invalid("images with a backing file are refused".into()));
        }
        if info
            .format_specific
            .as_ref()
            .and_then(|f| f.get("data"))
            .and_then(|d| d.get("data-file"))
            .is_some()
        {
            return Err(BackendError::Invalid(
                "images with an external data file are refused".into(),
            ));
        }
        if info.virtual_size > current.virtual_size {
            return Err(BackendError::Invalid(format!(
                "the image's virtual size {} exceeds the volume's {} bytes",
                info.virtual_size, current.virtual_size
            )));
        }
        let out = self.scratch(self.ext());
        self.qemu_img(
            "convert the image",
            &[
                "convert".as_ref(),
                "-f".as_ref(),
                format.as_str().as_ref(),
                "-O".as_ref(),
                self.fmt().as_ref(),
                image.path().as_os_str(),
                out.path().as_os_str(),
            ],
        )
        .await?;
        if info.virtual_size < current.virtual_size {
            let size = current.virtual_size.to_string();
            self.qemu_img(
                "resize a volume file",
                &[
                    "resize".as_ref(),
                    "-f".as_ref(),
                    self.fmt().as_ref(),
                    out.path().as_os_str(),
                    size.as_ref(),
                ],
            )
            .await?;
        }
        tokio::fs::rename(out.path(), &path).await.map_err(io("replace the volume file"))?;
        out.disarm();
        Ok(())
    }

    async fn copy_volume_to_image(
        &self,
        vol: &BackendVolume,
        format: DiskFormat,
    ) -> Result<ByteStream, BackendError> {
        let path = self.volume_path(&vol.id);
        if !exists(&path).await {
            return Err(BackendError::NotFound { what: format!("volume-{}", vol.id) });
        }
        let tmp = self.scratch(format.as_str());
        self.qemu_img(
            "convert the volume",
            &[
                "convert".as_ref(),
                "-U".as_ref(),
                "-f".as_ref(),
                self.fmt().as_ref(),
                "-O".as_ref(),
                format.as_str().as_ref(),
                path.as_os_str(),
                tmp.path().as_os_str(),
            ],
        )
        .await?;
        let p = tmp.path().to_path_buf();
        Ok(stream_file(p, tmp))
    }

    async fn create_export(
        &self,
        vol: &BackendVolume,
        attachment: &AttachmentId,
        _connector: &Connector,
    ) -> Result<(), BackendError> {
        if !exists(&self.volume_path(&vol.id)).await {
            return Err(BackendError::NotFound { what: format!("volume-{}", vol.id) });
        }
        let dir = self.export_dir(&vol.id);
        let existing = self.exports(vol).await?;
        if !self.capabilities().multiattach && existing.iter().any(|a| a != attachment) {
            return Err(BackendError::NotSupported {
                backend: KIND,
                op: "multiattach of qcow2 volumes",
            });
        }
        tokio::fs::create_dir_all(&dir).await.map_err(io("create an export"))?;
        tokio::fs::write(dir.join(attachment.to_string()), b"")
            .await
            .map_err(io("create an export"))
    }

    async fn initialize_connection(
        &self,
        vol: &BackendVolume,
        attachment: &AttachmentId,
        connector: &Connector,
    ) -> Result<ConnectionInfo, BackendError> {
        if !exists(&self.export_dir(&vol.id).join(attachment.to_string())).await {
            return Err(BackendError::Invalid(format!("volume-{} is not exported", vol.id)));
        }
        let path = self.volume_path(&vol.id);
        let path = tokio::fs::canonicalize(&path).await.map_err(io("resolve the volume path"))?;
        let mut data = serde_json::Map::new();
        data.insert("device_path".into(), path.display().to_string().into());
        data.insert("format".into(), self.fmt().into());
        data.insert("volume_id".into(), vol.id.to_string().into());
        data.insert(
            "access_mode".into(),
            connector.mode.clone().unwrap_or_else(|| "rw".into()).into(),
        );
        Ok(ConnectionInfo { driver_volume_type: "local".into(), data })
    }

    async fn terminate_connection(
        &self,
        _vol: &BackendVolume,
        _attachment: &AttachmentId,
        _connector: &Connector,
    ) -> Result<(), BackendError> {
        // Local files need no per-consumer access control; the export marker is the state.
        Ok(())
    }

    async fn remove_export(
        &self,
        vol: &BackendVolume,
        attachment: &AttachmentId,
    ) -> Result<(), BackendError> {
        let dir = self.export_dir(&vol.id);
        remove_if_exists(&dir.join(attachment.to_string())).await?;
        let _ = tokio::fs::remove_dir(&dir).await; // only succeeds when empty
        Ok(())
    }

    async fn exports(&self, vol: &BackendVolume) -> Result<Vec<AttachmentId>, BackendError> {
        let mut out = Vec::new();
        let mut rd = match tokio::fs::read_dir(self.export_dir(&vol.id)).await {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io("list exports")(e)),
        };
        while let Some(e) = rd.next_entry().await.map_err(io("list exports"))? {
            if let Ok(id) = e.file_name().to_string_lossy().parse::<AttachmentId>() {
                out.push(id);
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::conformance;
    use ferrostack_core::command::SystemRunner;
    use ferrostack_core::error::{Classify, ErrorKind};

    fn qemu_img_available() -> bool {
        let ok = std::process::Command::new("qemu-img")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        ferrostack_core::testing::prerequisite(
            ok,
            "file backend",
            "qemu-img",
            "apt-get install qemu-utils",
        )
    }

    fn backend(dir: &Path, format: FileFormat) -> FileBackend {
        FileBackend::new(FileBackendConfig::new("file", dir, format), Arc::new(SystemRunner::new()))
            .unwrap()
    }

    async fn assert_clean(dir: &Path) {
        let mut left = Vec::new();
        let mut rd = tokio::fs::read_dir(dir).await.unwrap();
        while let Some(e) = rd.next_entry().await.unwrap() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n != "exports" {
                left.push(n);
            }
        }
        assert!(left.is_empty(), "files left behind: {left:?}");
    }

    /// The backend conformance suite over a `format` file backend, which leaves no file behind.
    async fn run_conformance(format: FileFormat) {
        if !qemu_img_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let b = backend(dir.path(), format);
        conformance::run_all(&b).await;
        assert_clean(dir.path()).await;
    }

    #[tokio::test]
    async fn raw_file_backend_passes_the_conformance_suite() {
        run_conformance(FileFormat::Raw).await;
    }

    #[tokio::test]
    async fn qcow2_file_backend_passes_the_conformance_suite() {
        run_conformance(FileFormat::Qcow2).await;
    }

    #[tokio::test]
    async fn qcow2_snapshot_chains_merge_on_delete() {
        if !qemu_img_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let b = backend(dir.path(), FileFormat::Qcow2);
        let v = BackendVolume { id: VolumeId::new(), size_gb: 1 };
        b.create_volume(&v).await.unwrap();
        let one = vec![1u8; 4096];
        let img =
            |d: Vec<u8>| futures::stream::iter(vec![Ok::<_, BoxError>(Bytes::from(d))]).boxed();
        b.copy_image_to_volume(&v, DiskFormat::Raw, img(one.clone())).await.unwrap();
        let s1 = BackendSnapshot { id: ferrostack_core::id::SnapshotId::new(), volume: v };
        let s2 = BackendSnapshot { id: ferrostack_core::id::SnapshotId::new(), volume: v };
        b.create_snapshot(&s1).await.unwrap();
        b.create_snapshot(&s2).await.unwrap();
        // Chain: active -> s2 -> s1. The active file is an overlay of s2.
        let info = b.info(&b.volume_path(&v.id), "qcow2").await.unwrap();
        assert_eq!(info.backing_filename.as_deref(), Some(b.snapshot_name(&s2).as_str()));
        // Deleting s1 (the base) merges it into s2; the volume still reads the data.
        b.delete_snapshot(&s1).await.unwrap();
        assert!(!b.snapshot_path(&s1).exists());
        conformance::assert_contents(&b, &v, &one).await;
        let from = BackendVolume { id: VolumeId::new(), size_gb: 1 };
        b.create_volume_from_snapshot(&from, &s2).await.unwrap();
        conformance::assert_contents(&b, &from, &one).await;
        b.delete_snapshot(&s2).await.unwrap();
        conformance::assert_contents(&b, &v, &one).await;
        let info = b.info(&b.volume_path(&v.id), "qcow2").await.unwrap();
        assert_eq!(info.backing_filename, None, "the chain is fully merged");
        b.delete_volume(&v).await.unwrap();
        b.delete_volume(&from).await.unwrap();
        assert_clean(dir.path()).await;
    }

    #[tokio::test]
    async fn hostile_images_are_refused() {
        if !qemu_img_available() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let b = backend(dir.path(), FileFormat::Raw);
        let v = BackendVolume { id: VolumeId::new(), size_gb: 1 };
        b.create_volume(&v).await.unwrap();
        // A qcow2 image whose backing file is a host file.
        let scratch = tempfile::tempdir().unwrap();
        let evil = scratch.path().join("evil.qcow2");
        let st = std::process::Command::new("qemu-img")
            .args(["create", "-f", "qcow2", "-b", "/etc/hostname", "-F", "raw"])
            .arg(&evil)
            .arg("1M")
            .output()
            .unwrap();
        assert!(st.status.success(), "{}", String::from_utf8_lossy(&st.stderr));
        let data = std::fs::read(&evil).unwrap();
        let s = futures::stream::iter(vec![Ok::<_, BoxError>(Bytes::from(data))]).boxed();
        let err = b.copy_image_to_volume(&v, DiskFormat::Qcow2, s).await.unwrap_err();
        assert!(matches!(err, BackendError::Invalid(ref m) if m.contains("backing")), "{err}");
        // A qcow2 image larger than the volume.
        let big = scratch.path().join("big.qcow2");
        std::process::Command::new("qemu-img")
            .args(["create", "-f", "qcow2"])
            .arg(&big)
            .arg("2G")
            .output()
            .unwrap();
        let data = std::fs::read(&big).unwrap();
        let s = futures::stream::iter(vec![Ok::<_, BoxError>(Bytes::from(data))]).boxed();
        assert!(matches!(
            b.copy_image_to_volume(&v, DiskFormat::Qcow2, s).await,
            Err(BackendError::Invalid(_))
        ));
        // Garbage claimed to be qcow2.
        let s = futures::stream::iter(vec![Ok::<_, BoxError>(Bytes::from_static(b"not an image"))])
            .boxed();
        let err = b.copy_image_to_volume(&v, DiskFormat::Qcow2, s).await.unwrap_err();
        assert!(matches!(err, BackendError::InvalidImage { format: "qcow2", .. }), "{err}");
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(std::error::Error::source(&err).is_some(), "qemu-img's failure is kept");
        conformance::assert_contents(&b, &v, &[]).await;
        b.delete_volume(&v).await.unwrap();
        assert_clean(dir.path()).await;
    }
}
