// SPDX-License-Identifier: Apache-2.0
//! Neutron in the facade: [`Cloud::mount_network`].

use crate::{Cloud, ServiceMount};
use ferrostack_identity::IdentityApi;
use ferrostack_network::{Backends, NetworkConfig, NetworkService};
use std::sync::Arc;

/// Where networking is mounted. The catalog URL has no version: the SDK appends `v2.0`.
pub const NETWORK_MOUNT: ServiceMount = ServiceMount {
    service_type: "network",
    name: "neutron",
    path: "/network",
    endpoint_suffix: "",
};

impl Cloud {
    /// Mounts Neutron v2.0 at `/network` behind identity's token validation, with state in the
    /// cloud's store and `backends` as the data plane (for a cloud without one,
    /// `Backends::all(Arc::new(ferrostack_network::testing::FakeBackend::new()))` records the
    /// intended state). Call `Cloud::register_catalog` afterwards to publish the endpoint.
    pub fn mount_network(
        &mut self,
        identity: Arc<dyn IdentityApi>,
        config: NetworkConfig,
        backends: Backends,
    ) -> Arc<NetworkService> {
        let service = Arc::new(NetworkService::new(self.store().clone(), config, backends));
        let router = ferrostack_identity::http::authenticate(
            ferrostack_network::http::router(service.clone()),
            identity,
        );
        self.mount(NETWORK_MOUNT, router);
        service
    }
}
