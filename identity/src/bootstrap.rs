// SPDX-License-Identifier: Apache-2.0
//! `keystone-manage bootstrap`: the minimum a new deployment needs, created idempotently.

use crate::api::IdentityApi;
use crate::error::{IdentityError, Result};
use crate::service::IdentityService;
use crate::types::*;
use ferrostack_core::RequestContext;
use ferrostack_core::id::{DomainId, ProjectId, RoleId, UserId};

/// What [`IdentityService::bootstrap`] creates.
#[derive(Clone, PartialEq, Eq)]
pub struct BootstrapOptions {
    /// The administrator's name (`admin`).
    pub admin_username: String,
    /// The administrator's password; set on every run (as `keystone-manage bootstrap` does).
    pub admin_password: String,
    /// The administrator's project (`admin`).
    pub admin_project: String,
    /// The region of the identity endpoints (`RegionOne`).
    pub region: String,
    /// The identity endpoint URL, including the version (`http://host/identity/v3`).
    pub identity_url: String,
}

impl std::fmt::Debug for BootstrapOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapOptions")
            .field("admin_username", &self.admin_username)
            .field("admin_password", &"<redacted>")
            .field("admin_project", &self.admin_project)
            .field("region", &self.region)
            .field("identity_url", &self.identity_url)
            .finish()
    }
}

/// The ids bootstrap ended up with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootstrapReport {
    /// The administrator.
    pub admin_user_id: UserId,
    /// The administrator's project.
    pub admin_project_id: ProjectId,
    /// The `admin` role.
    pub admin_role_id: RoleId,
}

fn ignore_dup<T>(r: Result<T>) -> Result<()> {
    match r {
        Ok(_) | Err(IdentityError::Duplicate { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

impl IdentityService {
    /// `keystone-manage bootstrap`: the default domain; roles `admin`, `member`, `reader`
    /// (admin implies member, member implies reader) and `service`; the admin project and user
    /// with the admin role on the project and on the system; the region; the identity service
    /// and its public, internal and admin endpoints. Safe to run on every start.
    ///
    /// # Errors
    ///
    /// Store failures.
    pub async fn bootstrap(&self, opts: &BootstrapOptions) -> Result<BootstrapReport> {
        let ctx = RequestContext::internal("bootstrap");
        let default = DomainId::try_from(self.config().default_domain_id.clone())
            .map_err(|e| IdentityError::Validation(e.to_string()))?;
        ignore_dup(
            self.create_domain(
                &ctx,
                Domain {
                    id: default.clone(),
                    name: "Default".into(),
                    description: "The default domain".into(),
                    enabled: true,
                    tags: Vec::new(),
                },
            )
            .await,
        )?;
        let mut role_ids = Vec::new();
        for name in ["admin", "member", "reader", "service"] {
            let id = match self.role_id_by_name(name).await? {
                Some(id) => id.parse().map_err(|_| IdentityError::not_found("role", &id))?,
                None => {
                    let r = Role {
                        id: RoleId::new(),
                        name: name.into(),
                        domain_id: None,
                        description: String::new(),
                    };
                    self.create_role(&ctx, r).await?.id
                }
            };
            role_ids.push(id);
        }
        self.create_implied_role(&ctx, role_ids[0].as_str(), role_ids[1].as_str()).await?;
        self.create_implied_role(&ctx, role_ids[1].as_str(), role_ids[2].as_str()).await?;
        let project_id =
            match self.project_id_by_name(default.as_str(), &opts.admin_project).await? {
                Some(id) => id.parse().map_err(|_| IdentityError::not_found("project", &id))?,
                None => {
                    let p = Project {
                        id: ProjectId::new(),
                        name: opts.admin_project.clone(),
                        domain_id: default.clone(),
                        parent_id: None,
                        description: "Bootstrap project for initializing the cloud.".into(),
                        enabled: true,
                        tags: Vec::new(),
                    };
                    self.create_project(&ctx, p).await?.id
                }
            };
        let user_id: UserId =
            match self.user_id_by_name(default.as_str(), &opts.admin_username).await? {
                Some(id) => {
                    self.set_password_internal(&id, &opts.admin_password).await?;
                    id.parse().map_err(|_| IdentityError::not_found("user", &id))?
                }
                None => {
                    let u = User {
                        default_project_id: Some(project_id.clone()),
                        ..User::new(opts.admin_username.clone(), default.clone())
                    };
                    self.create_user(&ctx, u, Some(opts.admin_password.clone())).await?.id
                }
            };
        for target in [Target::Project(project_id.clone()), Target::System] {
            self.create_grant(
                &ctx,
                Assignment {
                    actor: Actor::User(user_id.clone()),
                    target,
                    role_id: role_ids[0].clone(),
                    inherited: false,
                },
            )
            .await?;
        }
        let url = opts.identity_url.clone();
        self.register_service(
            "identity",
            "keystone",
            &opts.region,
            &[
                (Interface::Public, url.clone()),
                (Interface::Internal, url.clone()),
                (Interface::Admin, url),
            ],
        )
        .await?;
        Ok(BootstrapReport {
            admin_user_id: user_id,
            admin_project_id: project_id,
            admin_role_id: role_ids[0].clone(),
        })
    }

    /// Registers a service and its endpoints in the catalog, idempotently: the service is
    /// found by type and name (created if missing), and each interface's endpoint in `region`
    /// is created or its URL updated. Creates the region if needed. For the facade to publish
    /// the other services it mounts.
    ///
    /// # Errors
    ///
    /// Store failures, invalid URLs.
    pub async fn register_service(
        &self,
        service_type: &str,
        name: &str,
        region: &str,
        urls: &[(Interface, String)],
    ) -> Result<Service> {
        let ctx = RequestContext::internal("bootstrap");
        ignore_dup(
            self.create_region(
                &ctx,
                Region {
                    id: region.to_owned(),
                    description: String::new(),
                    parent_region_id: None,
                },
            )
            .await,
        )?;
        let existing = self
            .all_services()
            .await?
            .into_iter()
            .find(|s| s.service_type == service_type && s.name == name);
        let service = match existing {
            Some(s) => s,
            None => {
                let s = Service {
                    id: uuid::Uuid::new_v4().simple().to_string(),
                    service_type: service_type.to_owned(),
                    name: name.to_owned(),
                    description: String::new(),
                    enabled: true,
                };
                self.create_service(&ctx, s).await?
            }
        };
        let endpoints = self.all_endpoints().await?;
        for (interface, url) in urls {
            let found = endpoints.iter().find(|e| {
                e.service_id == service.id
                    && e.interface == *interface
                    && e.region_id.as_deref() == Some(region)
            });
            match found {
                Some(e) if &e.url == url => {}
                Some(e) => {
                    let patch =
                        crate::api::EndpointPatch { url: Some(url.clone()), ..Default::default() };
                    self.update_endpoint(&ctx, &e.id, patch).await?;
                }
                None => {
                    let e = Endpoint {
                        id: uuid::Uuid::new_v4().simple().to_string(),
                        service_id: service.id.clone(),
                        interface: *interface,
                        region_id: Some(region.to_owned()),
                        url: url.clone(),
                        enabled: true,
                    };
                    self.create_endpoint(&ctx, e).await?;
                }
            }
        }
        Ok(service)
    }
}
