// SPDX-License-Identifier: Apache-2.0
//! Keystone in the facade: [`Cloud::mount_identity`] and [`Cloud::register_catalog`].

use crate::{AdminCredentials, Cloud, ServiceMount};
use ferrostack_identity::types::Interface;
use ferrostack_identity::{BootstrapOptions, IdentityConfig, IdentityError, IdentityService};
use std::sync::Arc;

/// Where identity is mounted.
pub const IDENTITY_MOUNT: ServiceMount = ServiceMount {
    service_type: "identity",
    name: "keystone",
    path: "/identity",
    endpoint_suffix: "/v3",
};

impl Cloud {
    /// Mounts Keystone v3 at `/identity`: Fernet keys in `DATA_DIR/fernet-keys` (created on
    /// first start), state in the cloud's store, and `keystone-manage bootstrap` with `admin`
    /// (the default domain, the admin/member/reader roles, the admin project and user, the
    /// region and the identity endpoints). Services mounted before are registered in the
    /// catalog; call [`Cloud::register_catalog`] again after mounting more.
    ///
    /// The returned service validates tokens for the other services' routers
    /// (`ferrostack::identity::http::authenticate(router, identity.clone())`).
    ///
    /// # Errors
    ///
    /// An unusable key repository or a failing store.
    pub async fn mount_identity(
        &mut self,
        admin: &AdminCredentials,
    ) -> Result<Arc<IdentityService>, IdentityError> {
        let public = format!("{}{}", self.config().public_url, IDENTITY_MOUNT.path);
        let config = IdentityConfig {
            key_repository: self.data_dir().join("fernet-keys"),
            public_url: public.clone(),
            region: self.config().region.clone(),
            ldap: self.config().identity_ldap.clone(),
            ..IdentityConfig::default()
        };
        let identity = Arc::new(IdentityService::new(self.store().clone(), config).await?);
        identity
            .bootstrap(&BootstrapOptions {
                admin_username: admin.username.clone(),
                admin_password: admin.password.clone(),
                admin_project: admin.project_name.clone(),
                region: self.config().region.clone(),
                identity_url: format!("{public}{}", IDENTITY_MOUNT.endpoint_suffix),
            })
            .await?;
        self.register_catalog(&identity).await?;
        self.mount(IDENTITY_MOUNT, ferrostack_identity::http::router(identity.clone(), public));
        Ok(identity)
    }

    /// Publishes every mounted service (but identity, which bootstrap registers) in the
    /// identity catalog with its public, internal and admin endpoints. Idempotent.
    ///
    /// # Errors
    ///
    /// A failing store.
    pub async fn register_catalog(&self, identity: &IdentityService) -> Result<(), IdentityError> {
        for m in self.mounts().iter().filter(|m| m.service_type != "identity") {
            let url = self.endpoint_url(m);
            let urls = [Interface::Public, Interface::Internal, Interface::Admin]
                .map(|i| (i, url.clone()));
            identity.register_service(m.service_type, m.name, &self.config().region, &urls).await?;
        }
        Ok(())
    }
}
