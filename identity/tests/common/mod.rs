// SPDX-License-Identifier: Apache-2.0
//! Shared setup of the identity integration tests.
#![allow(dead_code)]

use ferrostack_core::store::MemoryStore;
use ferrostack_identity::password::{HashParams, PasswordHashAlgorithm};
use ferrostack_identity::{BootstrapOptions, IdentityConfig, IdentityService};
use std::sync::Arc;

pub const ADMIN_PASSWORD: &str = "s3cret-admin";

/// A bootstrapped service on a MemoryStore with a fresh key repository (removed with the
/// returned TempDir) and cheap password hashing.
pub async fn service(public_url: &str) -> (Arc<IdentityService>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = IdentityConfig {
        key_repository: dir.path().join("fernet-keys"),
        password_hashing: HashParams {
            algorithm: PasswordHashAlgorithm::Bcrypt,
            bcrypt_cost: 4,
            ..HashParams::default()
        },
        public_url: public_url.to_owned(),
        lockout_failure_attempts: Some(5),
        ..IdentityConfig::default()
    };
    let svc = IdentityService::new(Arc::new(MemoryStore::new()), config).await.unwrap();
    svc.bootstrap(&BootstrapOptions {
        admin_username: "admin".into(),
        admin_password: ADMIN_PASSWORD.into(),
        admin_project: "admin".into(),
        region: "RegionOne".into(),
        identity_url: format!("{public_url}/v3"),
    })
    .await
    .unwrap();
    (Arc::new(svc), dir)
}
