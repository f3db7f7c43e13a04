// SPDX-License-Identifier: Apache-2.0
//! Token issue and validation, to compare with Keystone's formatter
//! (`identity/benches/keystone_fernet.py` runs the same operations on the same kind of key
//! repository).
//!
//! ```text
//! cargo bench -p ferrostack-identity --bench tokens
//! ```

use criterion::{Criterion, criterion_group, criterion_main};
use ferrostack_core::store::MemoryStore;
use ferrostack_identity::api::{
    AuthMethod, AuthRequest, DomainRef, ProjectRef, ScopeRequest, UserRef,
};
use ferrostack_identity::fernet::KeyRepository;
use ferrostack_identity::password::HashParams;
use ferrostack_identity::token::{PayloadScope, TokenFormatter, TokenPayload, new_audit_id};
use ferrostack_identity::{BootstrapOptions, IdentityApi, IdentityConfig, IdentityService};
use std::hint::black_box;
use std::sync::Arc;

fn formatter_benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let repo = KeyRepository::new(dir.path().join("keys"), 3);
    repo.setup().unwrap();
    repo.rotate().unwrap();
    let f = TokenFormatter::new(repo.load().unwrap(), "default");
    let payload = TokenPayload {
        user_id: "0123456789abcdef0123456789abcdef".into(),
        methods: vec!["password".into()],
        scope: PayloadScope::Project("fedcba9876543210fedcba9876543210".into()),
        expires_at: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
        audit_ids: vec![new_audit_id()],
        issued_at: time::OffsetDateTime::now_utc(),
    };
    let token = f.issue(&payload).unwrap();
    c.bench_function("identity/token/issue", |b| b.iter(|| f.issue(black_box(&payload)).unwrap()));
    c.bench_function("identity/token/validate", |b| b.iter(|| f.read(black_box(&token)).unwrap()));
}

fn service_benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (svc, token) = rt.block_on(async {
        let config = IdentityConfig {
            key_repository: dir.path().join("keys"),
            password_hashing: HashParams { bcrypt_cost: 4, ..HashParams::default() },
            ..IdentityConfig::default()
        };
        let svc = IdentityService::new(Arc::new(MemoryStore::new()), config).await.unwrap();
        svc.bootstrap(&BootstrapOptions {
            admin_username: "admin".into(),
            admin_password: "pw".into(),
            admin_project: "admin".into(),
            region: "RegionOne".into(),
            identity_url: "http://127.0.0.1:5000/v3".into(),
        })
        .await
        .unwrap();
        let d = || DomainRef::Id("default".into());
        let t = svc
            .authenticate(AuthRequest {
                method: AuthMethod::Password {
                    user: UserRef::Name { name: "admin".into(), domain: d() },
                    password: "pw".into(),
                },
                scope: ScopeRequest::Project(ProjectRef::Name {
                    name: "admin".into(),
                    domain: d(),
                }),
            })
            .await
            .unwrap();
        (svc, t.token)
    });
    // The auth layer's path: crypto, expiry, revocation, cached roles. No store read.
    c.bench_function("identity/token/context_for_token", |b| {
        b.iter(|| rt.block_on(svc.context_for_token(black_box(&token), "req-bench")).unwrap())
    });
}

criterion_group!(benches, formatter_benches, service_benches);
criterion_main!(benches);
