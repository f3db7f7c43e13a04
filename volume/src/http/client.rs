// SPDX-License-Identifier: Apache-2.0
//! [`Client`]: [`VolumeApi`] over Cinder's v3 REST API (the JSON [`super::router`] serves, or
//! a real Cinder's).

use super::router::MICROVERSIONS;
use crate::VolumeError;
use crate::api::{
    CreateVolume, CreateVolumeType, ListFilter, MigrationPolicy, QuotaUpdate, UpdateVolume,
    UploadToImage, UploadedImage, VolumeApi,
};
use crate::backend::DiskFormat;
use crate::types::*;
use axum::http::{HeaderName, HeaderValue, Method};
use ferrostack_core::RequestContext;
use ferrostack_core::http::OPENSTACK_API_VERSION;
use ferrostack_core::http::client::{Query, ServiceClient, decode, encode_segment};
use ferrostack_core::id::{ImageId, ProjectId, ServerId, SnapshotId, UserId, VolumeId};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, HashMap};
use time::OffsetDateTime;

/// A remote Cinder: every [`VolumeApi`] method is one or a few calls to the v3 API under
/// `/v3/{project_id}` (the caller's project), sent with `OpenStack-API-Version: volume 3.60`
/// (the highest version [`super::router`] serves) and the context's token.
///
/// Cinder's JSON leaves out a few fields of the Rust types; the client fills them as follows:
///
/// * a [`Volume`]'s `volume_type_id` is looked up by the type's name (Cinder shows the id only
///   from 3.63); `backend` is read from `os-vol-host-attr:host`, which only admins see (else
///   `None`); `source` is `Image` when `volume_image_metadata` names an image and no snapshot
///   or source volume is given;
/// * an [`Attachment`]'s `project_id` is its volume's; `connector`, `mountpoint` and
///   `attached_host` are known only in the answers of calls that sent the connector
///   (`create_attachment` with one, `update_attachment`), else `None`;
/// * timestamps have Cinder's microsecond precision;
/// * [`VolumeApi::default_quotas`] is synchronous: it returns the limits fetched by
///   [`Client::connect`] (or set with [`Client::with_default_quotas`]); a client made with
///   [`Client::new`] answers Cinder's stock defaults ([`QuotaLimits::default`]).
///
/// Calls whose Cinder answer is partial (create, update, the volume actions, `os-complete`)
/// read the resource back, so what they return is what a `get` returns.
#[derive(Debug, Clone)]
pub struct Client {
    http: ServiceClient,
    default_quotas: QuotaLimits,
}

impl Client {
    /// A client of the Cinder whose API root (where `GET /` lists the versions) is
    /// `base_url`, e.g. `http://127.0.0.1:8776` or the facade's `http://host:port/volume`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Client::with_service_client(ServiceClient::new(base_url))
    }

    /// A client over `http` (for its token source, HTTP client or headers); the microversion
    /// header is added.
    pub fn with_service_client(http: ServiceClient) -> Self {
        let version = HeaderValue::from_str(&format!("volume {}", MICROVERSIONS.max))
            .unwrap_or_else(|_| HeaderValue::from_static("volume 3.0"));
        Client {
            http: http.with_header(HeaderName::from_static(OPENSTACK_API_VERSION), version),
            default_quotas: QuotaLimits::default(),
        }
    }

    /// [`Client::with_service_client`], then fetches the default quotas once (as `ctx`).
    ///
    /// # Errors
    ///
    /// The defaults cannot be read (no token, service down, not project-scoped).
    pub async fn connect(http: ServiceClient, ctx: &RequestContext) -> Result<Self, VolumeError> {
        let mut client = Client::with_service_client(http);
        let project = project_of(ctx)?;
        let path = format!("/v3/{project}/os-quota-sets/{project}/defaults");
        let body: QuotaSetBody = client.http.get(ctx, &path).await?;
        client.default_quotas = body.quota_set.limits();
        Ok(client)
    }

    /// Answers `limits` from [`VolumeApi::default_quotas`].
    pub fn with_default_quotas(mut self, limits: QuotaLimits) -> Self {
        self.default_quotas = limits;
        self
    }

    fn path(ctx: &RequestContext, rest: &str) -> Result<String, VolumeError> {
        Ok(format!("/v3/{}{rest}", project_of(ctx)?))
    }

    async fn type_ids(
        &self,
        ctx: &RequestContext,
        names: impl Iterator<Item = &str>,
    ) -> Result<HashMap<String, VolumeTypeId>, VolumeError> {
        let mut out = HashMap::new();
        for name in names {
            if !out.contains_key(name) {
                let t = self.get_type(ctx, name).await?;
                out.insert(name.to_owned(), t.id);
            }
        }
        Ok(out)
    }

    async fn volumes_from(
        &self,
        ctx: &RequestContext,
        views: Vec<VolumeView>,
    ) -> Result<Vec<Volume>, VolumeError> {
        let ids = self.type_ids(ctx, views.iter().map(|v| v.volume_type.as_str())).await?;
        views
            .into_iter()
            .map(|v| {
                let type_id = ids.get(&v.volume_type).copied().ok_or_else(|| {
                    VolumeError::NotFound { kind: "Volume type", id: v.volume_type.clone() }
                })?;
                v.into_volume(ctx, type_id)
            })
            .collect()
    }

    async fn volume_action(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        body: Value,
    ) -> Result<(), VolumeError> {
        let path = Self::path(ctx, &format!("/volumes/{id}/action"))?;
        Ok(self.http.post_no_content(ctx, &path, &body).await?)
    }

    async fn attachments_from(
        &self,
        ctx: &RequestContext,
        views: Vec<AttachmentView>,
        sent: Option<&Connector>,
    ) -> Result<Vec<Attachment>, VolumeError> {
        let mut projects: HashMap<VolumeId, ProjectId> = HashMap::new();
        let mut out = Vec::with_capacity(views.len());
        for v in views {
            let project = match projects.get(&v.volume_id) {
                Some(p) => p.clone(),
                None => {
                    let p = self.get_volume(ctx, &v.volume_id).await?.project_id;
                    projects.insert(v.volume_id, p.clone());
                    p
                }
            };
            out.push(v.into_attachment(project, sent)?);
        }
        Ok(out)
    }
}

fn project_of(ctx: &RequestContext) -> Result<ProjectId, VolumeError> {
    ctx.project_id()
        .cloned()
        .ok_or_else(|| VolumeError::InvalidInput("a project-scoped token is required".into()))
}

fn bad_body(what: &'static str) -> VolumeError {
    VolumeError::RemoteAnswer(what)
}

fn parse_time(s: &str) -> Result<OffsetDateTime, VolumeError> {
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );
    time::PrimitiveDateTime::parse(s.trim_end_matches('Z'), &f)
        .map(time::PrimitiveDateTime::assume_utc)
        .or_else(|_| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339))
        .map_err(|_| bad_body("timestamp"))
}

fn parse_opt_time(s: &Option<String>) -> Result<Option<OffsetDateTime>, VolumeError> {
    s.as_deref().map(parse_time).transpose()
}

// ---- wire types: what Cinder's views carry ------------------------------------------------

#[derive(Debug, Deserialize)]
struct VolumeBody {
    volume: VolumeView,
}

#[derive(Debug, Deserialize)]
struct VolumesBody {
    volumes: Vec<VolumeView>,
}

#[derive(Debug, Deserialize)]
struct VolumeView {
    id: VolumeId,
    name: Option<String>,
    description: Option<String>,
    status: String,
    size: u64,
    availability_zone: String,
    created_at: String,
    updated_at: Option<String>,
    volume_type: String,
    snapshot_id: Option<SnapshotId>,
    source_volid: Option<VolumeId>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    bootable: String,
    multiattach: bool,
    user_id: UserId,
    #[serde(rename = "os-vol-tenant-attr:tenant_id")]
    tenant_id: Option<ProjectId>,
    #[serde(rename = "os-vol-host-attr:host")]
    host: Option<String>,
    #[serde(default)]
    volume_image_metadata: BTreeMap<String, String>,
}

impl VolumeView {
    fn into_volume(
        self,
        ctx: &RequestContext,
        volume_type_id: VolumeTypeId,
    ) -> Result<Volume, VolumeError> {
        let source = match (self.snapshot_id, self.source_volid) {
            (Some(id), _) => VolumeSource::Snapshot { id },
            (None, Some(id)) => VolumeSource::Volume { id },
            (None, None) => match self
                .volume_image_metadata
                .get("image_id")
                .and_then(|i| i.parse::<ImageId>().ok())
            {
                Some(id) => VolumeSource::Image { id },
                None => VolumeSource::Blank,
            },
        };
        // `ferrostack@<backend>#<pool>`, Cinder's host@backend#pool.
        let backend = self.host.as_deref().map(|h| {
            let h = h.split_once('@').map_or(h, |(_, rest)| rest);
            h.split_once('#').map_or(h, |(b, _)| b).to_owned()
        });
        Ok(Volume {
            id: self.id,
            project_id: match self.tenant_id {
                Some(p) => p,
                None => project_of(ctx)?,
            },
            user_id: self.user_id,
            name: self.name,
            description: self.description,
            size_gb: self.size,
            status: VolumeStatus::parse(&self.status).ok_or_else(|| bad_body("volume status"))?,
            volume_type_id,
            volume_type_name: self.volume_type,
            backend,
            source,
            multiattach: self.multiattach,
            bootable: self.bootable.eq_ignore_ascii_case("true"),
            metadata: self.metadata,
            availability_zone: self.availability_zone,
            created_at: parse_time(&self.created_at)?,
            updated_at: parse_opt_time(&self.updated_at)?,
            image_metadata: self.volume_image_metadata,
        })
    }
}

#[derive(Debug, Deserialize)]
struct SnapshotBody {
    snapshot: SnapshotView,
}

#[derive(Debug, Deserialize)]
struct SnapshotsBody {
    snapshots: Vec<SnapshotView>,
}

#[derive(Debug, Deserialize)]
struct SnapshotView {
    id: SnapshotId,
    name: Option<String>,
    description: Option<String>,
    volume_id: VolumeId,
    status: String,
    size: u64,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
    created_at: String,
    updated_at: Option<String>,
    user_id: UserId,
    #[serde(rename = "os-extended-snapshot-attributes:project_id")]
    project_id: ProjectId,
}

impl SnapshotView {
    fn into_snapshot(self) -> Result<Snapshot, VolumeError> {
        Ok(Snapshot {
            id: self.id,
            project_id: self.project_id,
            user_id: self.user_id,
            volume_id: self.volume_id,
            name: self.name,
            description: self.description,
            size_gb: self.size,
            status: SnapshotStatus::parse(&self.status)
                .ok_or_else(|| bad_body("snapshot status"))?,
            metadata: self.metadata,
            created_at: parse_time(&self.created_at)?,
            updated_at: parse_opt_time(&self.updated_at)?,
        })
    }
}

#[derive(Debug, Deserialize)]
struct TypeBody {
    volume_type: TypeView,
}

#[derive(Debug, Deserialize)]
struct TypesBody {
    volume_types: Vec<TypeView>,
}

#[derive(Debug, Deserialize)]
struct TypeView {
    id: VolumeTypeId,
    name: String,
    description: Option<String>,
    is_public: bool,
    #[serde(default)]
    extra_specs: BTreeMap<String, String>,
}

impl From<TypeView> for VolumeType {
    fn from(t: TypeView) -> Self {
        VolumeType {
            id: t.id,
            name: t.name,
            description: t.description,
            is_public: t.is_public,
            extra_specs: t.extra_specs,
        }
    }
}

#[derive(Debug, Deserialize)]
struct AttachmentBody {
    attachment: AttachmentView,
}

#[derive(Debug, Deserialize)]
struct AttachmentsBody {
    attachments: Vec<AttachmentView>,
}

#[derive(Debug, Deserialize)]
struct AttachmentView {
    id: AttachmentId,
    status: String,
    instance: Option<ServerId>,
    volume_id: VolumeId,
    attached_at: Option<String>,
    detached_at: Option<String>,
    attach_mode: String,
    connection_info: Option<Map<String, Value>>,
}

impl AttachmentView {
    fn into_attachment(
        self,
        project_id: ProjectId,
        sent: Option<&Connector>,
    ) -> Result<Attachment, VolumeError> {
        let attach_status = serde_json::from_value::<AttachStatus>(Value::String(self.status))
            .map_err(|_| bad_body("attachment status"))?;
        // Cinder flattens `data` into the top level next to `driver_volume_type` and
        // `attachment_id`; put it back.
        let connection_info = match self.connection_info {
            None => None,
            Some(mut m) => {
                m.remove("attachment_id");
                let driver = match m.remove("driver_volume_type") {
                    Some(Value::String(d)) => d,
                    _ => return Err(bad_body("connection info")),
                };
                Some(ConnectionInfo { driver_volume_type: driver, data: m })
            }
        };
        let connector = sent.cloned();
        Ok(Attachment {
            id: self.id,
            volume_id: self.volume_id,
            project_id,
            instance_uuid: self.instance,
            attach_status,
            attach_mode: self.attach_mode,
            mountpoint: connector
                .as_ref()
                .and_then(|c| c.extra.get("mountpoint"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            attached_host: connector.as_ref().and_then(|c| c.host.clone()),
            connector,
            connection_info,
            attach_time: parse_opt_time(&self.attached_at)?,
            detach_time: parse_opt_time(&self.detached_at)?,
        })
    }
}

#[derive(Debug, Deserialize)]
struct QuotaSetBody {
    quota_set: QuotaSetView,
}

/// A quota set, either plain limits or `{limit, in_use, ...}` items (`?usage=True`).
#[derive(Debug, Deserialize)]
struct QuotaSetView {
    volumes: QuotaItem,
    gigabytes: QuotaItem,
    snapshots: QuotaItem,
    per_volume_gigabytes: QuotaItem,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum QuotaItem {
    Limit(i64),
    Detail { limit: i64, in_use: u64 },
}

impl QuotaItem {
    fn limit(&self) -> i64 {
        match self {
            QuotaItem::Limit(l) | QuotaItem::Detail { limit: l, .. } => *l,
        }
    }
    fn in_use(&self) -> u64 {
        match self {
            QuotaItem::Limit(_) => 0,
            QuotaItem::Detail { in_use, .. } => *in_use,
        }
    }
}

impl QuotaSetView {
    fn limits(&self) -> QuotaLimits {
        QuotaLimits {
            volumes: self.volumes.limit(),
            gigabytes: self.gigabytes.limit(),
            snapshots: self.snapshots.limit(),
            per_volume_gigabytes: self.per_volume_gigabytes.limit(),
        }
    }
    fn usage(&self) -> QuotaUsage {
        QuotaUsage {
            volumes: self.volumes.in_use(),
            gigabytes: self.gigabytes.in_use(),
            snapshots: self.snapshots.in_use(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct UploadBody {
    #[serde(rename = "os-volume_upload_image")]
    upload: UploadView,
}

#[derive(Debug, Deserialize)]
struct UploadView {
    image_id: ImageId,
    image_name: String,
    disk_format: String,
    container_format: String,
}

fn list_query(filter: &ListFilter) -> Query {
    Query::new()
        .push_opt("name", filter.name.as_deref())
        .push_opt("status", filter.status.as_deref())
        .push_opt("all_tenants", filter.all_projects.then_some(1))
        .push_opt("marker", filter.marker.as_deref())
        .push_opt("limit", filter.limit)
}

#[async_trait::async_trait]
impl VolumeApi for Client {
    async fn create_volume(
        &self,
        ctx: &RequestContext,
        req: CreateVolume,
    ) -> Result<Volume, VolumeError> {
        let mut v = Map::new();
        let mut put = |k: &str, x: Value| {
            if !x.is_null() {
                v.insert(k.to_owned(), x);
            }
        };
        put("name", json!(req.name));
        put("description", json!(req.description));
        put("size", json!(req.size_gb));
        put("volume_type", json!(req.volume_type));
        put("snapshot_id", json!(req.snapshot_id.map(|i| i.to_string())));
        put("source_volid", json!(req.source_volid.map(|i| i.to_string())));
        put("imageRef", json!(req.image_id.map(|i| i.to_string())));
        put("availability_zone", json!(req.availability_zone));
        if req.multiattach {
            put("multiattach", json!(true));
        }
        if !req.metadata.is_empty() {
            put("metadata", json!(req.metadata));
        }
        let path = Self::path(ctx, "/volumes")?;
        let created: VolumeBody = self.http.post(ctx, &path, &json!({ "volume": v })).await?;
        self.get_volume(ctx, &created.volume.id).await
    }

    async fn get_volume(&self, ctx: &RequestContext, id: &VolumeId) -> Result<Volume, VolumeError> {
        let body: VolumeBody =
            self.http.get(ctx, &Self::path(ctx, &format!("/volumes/{id}"))?).await?;
        let mut vols = self.volumes_from(ctx, vec![body.volume]).await?;
        vols.pop().ok_or_else(|| bad_body("volume"))
    }

    async fn list_volumes(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Volume>, VolumeError> {
        let path = Self::path(ctx, &format!("/volumes/detail{}", list_query(filter).finish()))?;
        let body: VolumesBody = self.http.get(ctx, &path).await?;
        self.volumes_from(ctx, body.volumes).await
    }

    async fn update_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        change: UpdateVolume,
    ) -> Result<Volume, VolumeError> {
        let body = json!({ "volume": update_body(&change) });
        let _: VolumeBody =
            self.http.put(ctx, &Self::path(ctx, &format!("/volumes/{id}"))?, &body).await?;
        self.get_volume(ctx, id).await
    }

    async fn delete_volume(&self, ctx: &RequestContext, id: &VolumeId) -> Result<(), VolumeError> {
        Ok(self.http.delete(ctx, &Self::path(ctx, &format!("/volumes/{id}"))?).await?)
    }

    async fn extend_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        new_size_gb: u64,
    ) -> Result<Volume, VolumeError> {
        self.volume_action(ctx, id, json!({ "os-extend": { "new_size": new_size_gb } })).await?;
        self.get_volume(ctx, id).await
    }

    async fn retype_volume(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        new_type: &str,
        policy: MigrationPolicy,
    ) -> Result<Volume, VolumeError> {
        let policy = match policy {
            MigrationPolicy::Never => "never",
            MigrationPolicy::OnDemand => "on-demand",
        };
        let body = json!({ "os-retype": { "new_type": new_type, "migration_policy": policy } });
        self.volume_action(ctx, id, body).await?;
        self.get_volume(ctx, id).await
    }

    async fn upload_to_image(
        &self,
        ctx: &RequestContext,
        id: &VolumeId,
        req: UploadToImage,
    ) -> Result<UploadedImage, VolumeError> {
        let body = json!({ "os-volume_upload_image": {
            "image_name": req.image_name,
            "disk_format": req.disk_format.as_str(),
            "container_format": req.container_format,
            "force": req.force,
        }});
        let path = Self::path(ctx, &format!("/volumes/{id}/action"))?;
        let up: UploadBody = self.http.post(ctx, &path, &body).await?;
        Ok(UploadedImage {
            image_id: up.upload.image_id,
            image_name: up.upload.image_name,
            disk_format: DiskFormat::parse(&up.upload.disk_format)
                .ok_or_else(|| bad_body("disk format"))?,
            container_format: up.upload.container_format,
            volume: self.get_volume(ctx, id).await?,
        })
    }

    async fn create_snapshot(
        &self,
        ctx: &RequestContext,
        volume_id: &VolumeId,
        name: Option<String>,
        description: Option<String>,
        force: bool,
    ) -> Result<Snapshot, VolumeError> {
        let body = json!({ "snapshot": {
            "volume_id": volume_id.to_string(),
            "name": name,
            "description": description,
            "force": force,
        }});
        let snap: SnapshotBody =
            self.http.post(ctx, &Self::path(ctx, "/snapshots")?, &body).await?;
        snap.snapshot.into_snapshot()
    }

    async fn get_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
    ) -> Result<Snapshot, VolumeError> {
        let snap: SnapshotBody =
            self.http.get(ctx, &Self::path(ctx, &format!("/snapshots/{id}"))?).await?;
        snap.snapshot.into_snapshot()
    }

    async fn list_snapshots(
        &self,
        ctx: &RequestContext,
        filter: &ListFilter,
    ) -> Result<Vec<Snapshot>, VolumeError> {
        let path = Self::path(ctx, &format!("/snapshots/detail{}", list_query(filter).finish()))?;
        let body: SnapshotsBody = self.http.get(ctx, &path).await?;
        body.snapshots.into_iter().map(SnapshotView::into_snapshot).collect()
    }

    async fn update_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
        change: UpdateVolume,
    ) -> Result<Snapshot, VolumeError> {
        let body = json!({ "snapshot": update_body(&change) });
        let snap: SnapshotBody =
            self.http.put(ctx, &Self::path(ctx, &format!("/snapshots/{id}"))?, &body).await?;
        snap.snapshot.into_snapshot()
    }

    async fn delete_snapshot(
        &self,
        ctx: &RequestContext,
        id: &SnapshotId,
    ) -> Result<(), VolumeError> {
        Ok(self.http.delete(ctx, &Self::path(ctx, &format!("/snapshots/{id}"))?).await?)
    }

    async fn list_types(&self, ctx: &RequestContext) -> Result<Vec<VolumeType>, VolumeError> {
        let body: TypesBody = self.http.get(ctx, &Self::path(ctx, "/types")?).await?;
        Ok(body.volume_types.into_iter().map(VolumeType::from).collect())
    }

    async fn get_type(
        &self,
        ctx: &RequestContext,
        id_or_name: &str,
    ) -> Result<VolumeType, VolumeError> {
        let path = Self::path(ctx, &format!("/types/{}", encode_segment(id_or_name)))?;
        let body: TypeBody = self.http.get(ctx, &path).await?;
        Ok(body.volume_type.into())
    }

    async fn create_type(
        &self,
        ctx: &RequestContext,
        req: CreateVolumeType,
    ) -> Result<VolumeType, VolumeError> {
        let body = json!({ "volume_type": {
            "name": req.name,
            "description": req.description,
            "os-volume-type-access:is_public": req.is_public,
            "extra_specs": req.extra_specs,
        }});
        let t: TypeBody = self.http.post(ctx, &Self::path(ctx, "/types")?, &body).await?;
        Ok(t.volume_type.into())
    }

    async fn set_type_extra_specs(
        &self,
        ctx: &RequestContext,
        id: &VolumeTypeId,
        specs: BTreeMap<String, String>,
    ) -> Result<VolumeType, VolumeError> {
        let path = Self::path(ctx, &format!("/types/{id}/extra_specs"))?;
        let _: Value = self.http.post(ctx, &path, &json!({ "extra_specs": specs })).await?;
        self.get_type(ctx, &id.to_string()).await
    }

    async fn delete_type(
        &self,
        ctx: &RequestContext,
        id: &VolumeTypeId,
    ) -> Result<(), VolumeError> {
        Ok(self.http.delete(ctx, &Self::path(ctx, &format!("/types/{id}"))?).await?)
    }

    async fn create_attachment(
        &self,
        ctx: &RequestContext,
        volume_id: &VolumeId,
        instance: Option<ServerId>,
        connector: Option<Connector>,
        mode: Option<String>,
    ) -> Result<Attachment, VolumeError> {
        let mut a = Map::new();
        a.insert("volume_uuid".into(), json!(volume_id.to_string()));
        if let Some(i) = instance {
            a.insert("instance_uuid".into(), json!(i.to_string()));
        }
        if let Some(c) = &connector {
            a.insert(
                "connector".into(),
                serde_json::to_value(c).map_err(|_| {
                    VolumeError::InvalidInput("the connector cannot be sent as JSON".into())
                })?,
            );
        }
        if let Some(m) = mode {
            a.insert("mode".into(), json!(m));
        }
        let body: AttachmentBody = self
            .http
            .post(ctx, &Self::path(ctx, "/attachments")?, &json!({ "attachment": a }))
            .await?;
        let mut out = self.attachments_from(ctx, vec![body.attachment], connector.as_ref()).await?;
        out.pop().ok_or_else(|| bad_body("attachment"))
    }

    async fn update_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
        connector: Connector,
    ) -> Result<Attachment, VolumeError> {
        let path = Self::path(ctx, &format!("/attachments/{id}"))?;
        let body: AttachmentBody =
            self.http.put(ctx, &path, &json!({ "attachment": { "connector": connector } })).await?;
        let mut out = self.attachments_from(ctx, vec![body.attachment], Some(&connector)).await?;
        out.pop().ok_or_else(|| bad_body("attachment"))
    }

    async fn complete_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Attachment, VolumeError> {
        let path = Self::path(ctx, &format!("/attachments/{id}/action"))?;
        self.http.post_no_content(ctx, &path, &json!({ "os-complete": null })).await?;
        self.get_attachment(ctx, id).await
    }

    async fn delete_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Vec<Attachment>, VolumeError> {
        let path = Self::path(ctx, &format!("/attachments/{id}"))?;
        let resp = self.http.send(ctx, Method::DELETE, &path, None).await?;
        let body: AttachmentsBody = decode(resp).await?;
        self.attachments_from(ctx, body.attachments, None).await
    }

    async fn get_attachment(
        &self,
        ctx: &RequestContext,
        id: &AttachmentId,
    ) -> Result<Attachment, VolumeError> {
        let body: AttachmentBody =
            self.http.get(ctx, &Self::path(ctx, &format!("/attachments/{id}"))?).await?;
        let mut out = self.attachments_from(ctx, vec![body.attachment], None).await?;
        out.pop().ok_or_else(|| bad_body("attachment"))
    }

    async fn list_attachments(
        &self,
        ctx: &RequestContext,
        volume_id: Option<&VolumeId>,
        all_projects: bool,
    ) -> Result<Vec<Attachment>, VolumeError> {
        let q = Query::new()
            .push_opt("volume_id", volume_id)
            .push_opt("all_tenants", all_projects.then_some(1))
            .finish();
        let body: AttachmentsBody =
            self.http.get(ctx, &Self::path(ctx, &format!("/attachments/detail{q}"))?).await?;
        self.attachments_from(ctx, body.attachments, None).await
    }

    async fn get_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
    ) -> Result<(QuotaLimits, QuotaUsage), VolumeError> {
        let path = Self::path(ctx, &format!("/os-quota-sets/{project}?usage=True"))?;
        let body: QuotaSetBody = self.http.get(ctx, &path).await?;
        Ok((body.quota_set.limits(), body.quota_set.usage()))
    }

    fn default_quotas(&self) -> QuotaLimits {
        self.default_quotas
    }

    async fn update_quotas(
        &self,
        ctx: &RequestContext,
        project: &ProjectId,
        change: QuotaUpdate,
    ) -> Result<QuotaLimits, VolumeError> {
        let mut q = Map::new();
        for (k, v) in [
            ("volumes", change.volumes),
            ("gigabytes", change.gigabytes),
            ("snapshots", change.snapshots),
            ("per_volume_gigabytes", change.per_volume_gigabytes),
        ] {
            if let Some(v) = v {
                q.insert(k.into(), json!(v));
            }
        }
        let path = Self::path(ctx, &format!("/os-quota-sets/{project}"))?;
        let body: QuotaSetBody = self.http.put(ctx, &path, &json!({ "quota_set": q })).await?;
        Ok(body.quota_set.limits())
    }
}

fn update_body(change: &UpdateVolume) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(n) = &change.name {
        m.insert("name".into(), json!(n));
    }
    if let Some(d) = &change.description {
        m.insert("description".into(), json!(d));
    }
    if let Some(md) = &change.metadata {
        m.insert("metadata".into(), json!(md));
    }
    m
}
