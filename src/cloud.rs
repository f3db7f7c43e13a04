// SPDX-License-Identifier: Apache-2.0
//! [`Cloud`]: a control plane assembled from a [`CloudConfig`].

use crate::config::{BusConfig, CloudConfig, StoreConfig};
use axum::Router;
use axum::response::IntoResponse;
use axum::routing::get;
use ferrostack_core::bus::{Bus, LocalBus};
use ferrostack_core::store::{Collection, MemoryStore, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What can go wrong assembling or running a cloud.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CloudError {
    /// The configuration asks for a driver this build does not include.
    #[error("{what} needs the `{feature}` feature of the ferrostack crate")]
    FeatureMissing {
        /// The configured driver.
        what: String,
        /// The cargo feature to enable.
        feature: &'static str,
    },
    /// The data directory could not be prepared.
    #[error("could not prepare {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state store could not be opened.
    #[error("could not open the state store")]
    Store(#[source] ferrostack_core::BoxError),
    /// The message bus could not be reached.
    #[error("could not connect to the message bus")]
    Bus(#[source] ferrostack_core::BoxError),
    /// A service could not be assembled.
    #[error("could not start the {service} service")]
    Service {
        /// The service (`"identity"`, `"image"`, ...).
        service: &'static str,
        /// The cause.
        #[source]
        source: ferrostack_core::BoxError,
    },
}

impl From<StoreError> for CloudError {
    fn from(e: StoreError) -> Self {
        CloudError::Store(Box::new(e))
    }
}

/// One API a cloud serves: its catalog type, the path it is mounted at, and its router.
#[derive(Debug, Clone)]
pub struct ServiceMount {
    /// The catalog type (`"identity"`, `"compute"`, ...).
    pub service_type: &'static str,
    /// The catalog name (`"keystone"`, `"nova"`, ...).
    pub name: &'static str,
    /// The path prefix under the public URL (`"/identity"`).
    pub path: &'static str,
    /// The endpoint URL suffix advertised in the catalog, after the prefix (`"/v3"`).
    pub endpoint_suffix: &'static str,
}

/// The credentials of the bootstrap administrator, as written to `clouds.yaml` and `openrc`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminCredentials {
    /// The user name (`admin`).
    pub username: String,
    /// The password.
    pub password: String,
    /// The project (`admin`).
    pub project_name: String,
}

impl std::fmt::Debug for AdminCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("project_name", &self.project_name)
            .finish()
    }
}

/// Where [`Cloud::write_client_files`] put the client configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFiles {
    /// `DIR/clouds.yaml` (cloud name `minicloud`).
    pub clouds_yaml: PathBuf,
    /// `DIR/openrc`.
    pub openrc: PathBuf,
}

/// A control plane: the shared store and bus, and the services mounted on one HTTP router.
#[derive(Debug, Clone)]
pub struct Cloud {
    config: CloudConfig,
    data_dir: PathBuf,
    store: Arc<dyn Store>,
    bus: Arc<dyn Bus>,
    mounts: Vec<ServiceMount>,
    routers: Vec<(&'static str, Router)>,
    drivers: Vec<RunningDriver>,
}

/// One driver a mounted service really runs on, as [`Cloud::drivers`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunningDriver {
    /// What it drives: `"hypervisor"`, `"data plane"`, `"volume backend"`, `"image store"`.
    pub role: &'static str,
    /// Which driver and where, e.g. `"kvm (qemu:///system, virt_type qemu)"`.
    pub description: String,
}

impl Cloud {
    /// Opens the store and bus named by `config`, with state under `data_dir` (created if
    /// missing).
    pub async fn open(config: CloudConfig, data_dir: impl AsRef<Path>) -> Result<Self, CloudError> {
        let data_dir = data_dir.as_ref().to_path_buf();
        std::fs::create_dir_all(&data_dir)
            .map_err(|source| CloudError::Io { path: data_dir.clone(), source })?;
        let store = open_store(&config.store, &data_dir).await?;
        let bus = open_bus(&config.bus).await?;
        Ok(Cloud {
            config,
            data_dir,
            store,
            bus,
            mounts: Vec::new(),
            routers: Vec::new(),
            drivers: Vec::new(),
        })
    }

    /// The drivers the mounted services run on, in the order they were started (filled by
    /// [`Cloud::mount_embedded`]; integrators mounting their own services add theirs with
    /// [`Cloud::record_driver`]).
    pub fn drivers(&self) -> &[RunningDriver] {
        &self.drivers
    }

    /// Records that a mounted service runs on `description` in `role`.
    pub fn record_driver(&mut self, role: &'static str, description: impl Into<String>) {
        self.drivers.push(RunningDriver { role, description: description.into() });
    }

    /// The configuration.
    pub fn config(&self) -> &CloudConfig {
        &self.config
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The state store every service shares.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The message bus every service shares.
    pub fn bus(&self) -> &Arc<dyn Bus> {
        &self.bus
    }

    /// The services mounted so far.
    pub fn mounts(&self) -> &[ServiceMount] {
        &self.mounts
    }

    /// Serves `router` under `mount.path` and lists it in the index (and, once identity is
    /// mounted, in the catalog). The router sees paths relative to the mount point.
    pub fn mount(&mut self, mount: ServiceMount, router: Router) {
        self.routers.push((mount.path, router));
        self.mounts.push(mount);
    }

    /// The URL of a mounted service's endpoint, as the catalog advertises it.
    pub fn endpoint_url(&self, mount: &ServiceMount) -> String {
        format!("{}{}{}", self.config.public_url, mount.path, mount.endpoint_suffix)
    }

    /// The keystone v3 auth URL clients use.
    pub fn auth_url(&self) -> String {
        format!("{}/identity/v3", self.config.public_url)
    }

    /// Creates the bootstrap administrator on first start and returns its credentials; on
    /// later starts returns the stored ones. A `password` given on a later start replaces the
    /// stored one.
    pub async fn bootstrap_admin(
        &self,
        password: Option<String>,
    ) -> Result<AdminCredentials, CloudError> {
        let records: Collection<AdminCredentials> =
            Collection::new(self.store.clone(), "ferrostack/bootstrap/");
        let creds = match (records.get("admin").await?, password) {
            (Some(existing), None) => existing.value,
            (existing, password) => {
                let creds = AdminCredentials {
                    username: "admin".into(),
                    password: password.unwrap_or_else(generate_password),
                    project_name: "admin".into(),
                };
                match existing {
                    Some(e) => {
                        records.update("admin", e.revision, &creds).await?;
                    }
                    None => {
                        records.create("admin", &creds).await?;
                    }
                }
                creds
            }
        };
        Ok(creds)
    }

    /// Writes `clouds.yaml` (cloud `minicloud`) and `openrc` into the data directory, readable
    /// only by the owner since they hold the password.
    pub fn write_client_files(&self, creds: &AdminCredentials) -> Result<ClientFiles, CloudError> {
        let clouds_yaml = self.data_dir.join("clouds.yaml");
        let openrc = self.data_dir.join("openrc");
        let yaml = format!(
            "# Written by Ferrostack minicloud.\n\
             # OS_CLIENT_CONFIG_FILE={path} OS_CLOUD=minicloud openstack token issue\n\
             clouds:\n  minicloud:\n    auth:\n      auth_url: {auth}\n      username: {user}\n      \
             password: {pw}\n      project_name: {project}\n      user_domain_name: Default\n      \
             project_domain_name: Default\n    region_name: {region}\n    interface: public\n    \
             identity_api_version: 3\n",
            path = clouds_yaml.display(),
            auth = self.auth_url(),
            user = yaml_quote(&creds.username),
            pw = yaml_quote(&creds.password),
            project = yaml_quote(&creds.project_name),
            region = yaml_quote(&self.config.region),
        );
        let rc = format!(
            "# Written by Ferrostack minicloud. Use: source {path}\n\
             export OS_AUTH_URL={auth}\nexport OS_IDENTITY_API_VERSION=3\n\
             export OS_USERNAME={user}\nexport OS_PASSWORD={pw}\nexport OS_PROJECT_NAME={project}\n\
             export OS_USER_DOMAIN_NAME=Default\nexport OS_PROJECT_DOMAIN_NAME=Default\n\
             export OS_REGION_NAME={region}\nexport OS_INTERFACE=public\n",
            path = openrc.display(),
            auth = shell_quote(&self.auth_url()),
            user = shell_quote(&creds.username),
            pw = shell_quote(&creds.password),
            project = shell_quote(&creds.project_name),
            region = shell_quote(&self.config.region),
        );
        write_private(&clouds_yaml, &yaml)?;
        write_private(&openrc, &rc)?;
        Ok(ClientFiles { clouds_yaml, openrc })
    }

    /// The HTTP router serving every mounted service, plus `/` listing them.
    ///
    /// A mount point with a trailing slash (`/identity/`, which tempest and some clients ask
    /// for) is served as the mount point itself: axum's `nest` would not route it.
    pub fn router(&self) -> Router {
        let index = self.index_document();
        let mut inner = Router::new().route("/", get(move || async move { axum::Json(index) }));
        for (path, service) in &self.routers {
            inner = inner.nest(path, service.clone());
        }
        let inner = inner.fallback(|| async {
            ferrostack_core::http::ApiError::not_found("The resource could not be found.")
                .into_response()
        });
        let slashed: Vec<String> = self.routers.iter().map(|(p, _)| format!("{p}/")).collect();
        let normalised =
            tower::ServiceExt::map_request(inner, move |req: axum::extract::Request| {
                strip_mount_slash(req, &slashed)
            });
        Router::new()
            .fallback_service(normalised)
            .layer(axum::middleware::from_fn(ferrostack_core::http::request_id))
    }

    /// The document served at `/`: what this cloud serves and where.
    pub fn index_document(&self) -> serde_json::Value {
        let services: Vec<serde_json::Value> = self
            .mounts
            .iter()
            .map(|m| {
                serde_json::json!({
                    "type": m.service_type,
                    "name": m.name,
                    "url": self.endpoint_url(m),
                })
            })
            .collect();
        serde_json::json!({
            "name": "ferrostack",
            "version": env!("CARGO_PKG_VERSION"),
            "region": self.config.region,
            "auth_url": self.auth_url(),
            "services": services,
        })
    }
}

async fn open_store(cfg: &StoreConfig, data_dir: &Path) -> Result<Arc<dyn Store>, CloudError> {
    match cfg {
        StoreConfig::Memory => Ok(Arc::new(MemoryStore::new())),
        #[cfg(feature = "sqlite")]
        StoreConfig::Sqlite(path) => {
            let path = data_dir.join(path);
            let store = ferrostack_sqlite::SqliteStore::open(&path)
                .map_err(|e| CloudError::Store(Box::new(e)))?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "sqlite"))]
        StoreConfig::Sqlite(path) => {
            let _ = data_dir;
            Err(CloudError::FeatureMissing {
                what: format!("store sqlite://{path}"),
                feature: "sqlite",
            })
        }
        #[cfg(feature = "postgres")]
        StoreConfig::Postgres(url) => {
            let store = ferrostack_postgres::PostgresStore::connect(url).await?;
            Ok(Arc::new(store))
        }
        #[cfg(not(feature = "postgres"))]
        StoreConfig::Postgres(_) => Err(CloudError::FeatureMissing {
            what: "store postgres://...".into(),
            feature: "postgres",
        }),
    }
}

async fn open_bus(cfg: &BusConfig) -> Result<Arc<dyn Bus>, CloudError> {
    match cfg {
        BusConfig::Local => Ok(Arc::new(LocalBus::new())),
        #[cfg(feature = "amqp")]
        BusConfig::Amqp(url) => {
            let bus = ferrostack_amqp::AmqpBus::connect(url)
                .await
                .map_err(|e| CloudError::Bus(Box::new(e)))?;
            Ok(Arc::new(bus))
        }
        #[cfg(not(feature = "amqp"))]
        BusConfig::Amqp(_) => {
            Err(CloudError::FeatureMissing { what: "bus amqp://...".into(), feature: "amqp" })
        }
    }
}

/// Rewrites `/mount/` (with its query) to `/mount` when `/mount/` is in `slashed`.
fn strip_mount_slash(
    mut req: axum::extract::Request,
    slashed: &[String],
) -> axum::extract::Request {
    let path = req.uri().path();
    if slashed.iter().any(|s| s == path) {
        let trimmed = &path[..path.len() - 1];
        let rebuilt = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = rebuilt.parse::<axum::http::Uri>() {
            *req.uri_mut() = uri;
        }
    }
    req
}

fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

/// A YAML double-quoted scalar.
fn yaml_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A POSIX shell single-quoted word.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn write_private(path: &Path, contents: &str) -> Result<(), CloudError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let io = |source| CloudError::Io { path: path.to_path_buf(), source };
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(contents.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bootstrap_is_stable_across_restarts_and_files_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = CloudConfig::default();
        let first = {
            let cloud = Cloud::open(cfg.clone(), dir.path()).await.unwrap();
            cloud.bootstrap_admin(None).await.unwrap()
        };
        assert_eq!(first.password.len(), 20);
        let cloud = Cloud::open(cfg, dir.path()).await.unwrap();
        assert_eq!(cloud.bootstrap_admin(None).await.unwrap(), first, "state must survive");
        let changed = cloud.bootstrap_admin(Some("n3w 'pass\"".into())).await.unwrap();
        assert_eq!(changed.password, "n3w 'pass\"");
        let files = cloud.write_client_files(&changed).unwrap();
        let yaml = std::fs::read_to_string(&files.clouds_yaml).unwrap();
        assert!(yaml.contains("password: \"n3w 'pass\\\"\""));
        assert!(yaml.contains("auth_url: http://127.0.0.1:8770/identity/v3"));
        let rc = std::fs::read_to_string(&files.openrc).unwrap();
        assert!(rc.contains("export OS_PASSWORD='n3w '\\''pass\"'"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&files.clouds_yaml).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "clouds.yaml must not be readable by others");
        }
    }

    #[tokio::test]
    async fn mount_points_answer_with_and_without_a_trailing_slash() {
        use tower::ServiceExt;
        let dir = tempfile::tempdir().unwrap();
        let mut cloud = Cloud::open(CloudConfig::default(), dir.path()).await.unwrap();
        let svc = Router::new().route("/", get(|| async { "root of svc" }));
        cloud.mount(
            ServiceMount { service_type: "x", name: "x", path: "/svc", endpoint_suffix: "" },
            svc,
        );
        for uri in ["/svc", "/svc/", "/svc/?a=b"] {
            let req = axum::extract::Request::get(uri).body(axum::body::Body::empty()).unwrap();
            let resp = cloud.router().oneshot(req).await.unwrap();
            assert_eq!(resp.status(), 200, "{uri}");
        }
        let req = axum::extract::Request::get("/nope/").body(axum::body::Body::empty()).unwrap();
        assert_eq!(cloud.router().oneshot(req).await.unwrap().status(), 404);
    }

    #[test]
    fn quoting_survives_hostile_strings() {
        assert_eq!(shell_quote("a'b"), "'a'\\''b'");
        assert_eq!(yaml_quote("a\"b\\c\nd"), "\"a\\\"b\\\\c\\nd\"");
    }
}
