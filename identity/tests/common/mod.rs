// SPDX-License-Identifier: Apache-2.0
//! Shared setup of the identity integration tests.
#![allow(dead_code)]

use ferrostack_core::RequestContext;
use ferrostack_core::id::{DomainId, ProjectId};
use ferrostack_core::store::MemoryStore;
use ferrostack_identity::api::ListFilter;
use ferrostack_identity::password::{HashParams, PasswordHashAlgorithm};
use ferrostack_identity::types::{Actor, Assignment, Project, Target, User};
use ferrostack_identity::{BootstrapOptions, IdentityApi, IdentityConfig, IdentityService};
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

/// Creates `demo1`..`demo4`, each a `member` of its own project (password `secret`), and
/// returns them as tempest's pre-provisioned `accounts.yaml`.
pub async fn member_accounts(svc: &IdentityService) -> String {
    let ctx = RequestContext::internal("tempest");
    let member = svc
        .list_roles(&ctx, &ListFilter { name: Some("member".into()), ..Default::default() })
        .await
        .unwrap()
        .remove(0);
    let mut accounts = String::new();
    for i in 1..=4 {
        let name = format!("demo{i}");
        let p = svc
            .create_project(
                &ctx,
                Project {
                    id: ProjectId::new(),
                    name: name.clone(),
                    domain_id: DomainId::default_domain(),
                    parent_id: None,
                    description: String::new(),
                    enabled: true,
                    tags: Vec::new(),
                },
            )
            .await
            .unwrap();
        let u = svc
            .create_user(
                &ctx,
                User {
                    default_project_id: Some(p.id.clone()),
                    ..User::new(name.clone(), DomainId::default_domain())
                },
                Some("secret".into()),
            )
            .await
            .unwrap();
        svc.create_grant(
            &ctx,
            Assignment {
                actor: Actor::User(u.id),
                target: Target::Project(p.id),
                role_id: member.id.clone(),
                inherited: false,
            },
        )
        .await
        .unwrap();
        accounts.push_str(&format!(
            "- username: {name}\n  project_name: {name}\n  password: secret\n  domain_name: Default\n  roles: [member]\n"
        ));
    }
    accounts
}
