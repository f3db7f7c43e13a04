// SPDX-License-Identifier: Apache-2.0
//! IdentityService behaviour that the REST tests cannot reach directly: expiry and
//! `allow_expired`, key rotation, the auth layer's cache invalidation, password change.

mod common;

use ferrostack_core::RequestContext;
use ferrostack_identity::api::*;
use ferrostack_identity::token::{TokenPayload, new_audit_id};
use ferrostack_identity::{IdentityApi, IdentityError};
use time::{Duration, OffsetDateTime};

fn password(user: &str, pw: &str, scope: ScopeRequest) -> AuthRequest {
    AuthRequest {
        method: AuthMethod::Password {
            user: UserRef::Name { name: user.into(), domain: DomainRef::Id("default".into()) },
            password: pw.into(),
        },
        scope,
    }
}

fn admin_project() -> ScopeRequest {
    ScopeRequest::Project(ProjectRef::Name {
        name: "admin".into(),
        domain: DomainRef::Name("Default".into()),
    })
}

#[tokio::test]
async fn expired_tokens_validate_only_with_allow_expired() {
    let (svc, _dir) = common::service("http://127.0.0.1:9/identity").await;
    let admin =
        svc.authenticate(password("admin", common::ADMIN_PASSWORD, admin_project())).await.unwrap();
    let ctx = svc.context_for_token(&admin.token, "req-1").await.unwrap();
    let mut p: TokenPayload = admin.payload.clone();
    p.expires_at = OffsetDateTime::now_utc() - Duration::hours(1);
    p.audit_ids = vec![new_audit_id()];
    let expired = svc.formatter().issue(&p).unwrap();
    assert!(matches!(
        svc.validate_token(&ctx, &expired, false).await,
        Err(IdentityError::TokenNotFound)
    ));
    let info = svc.validate_token(&ctx, &expired, true).await.unwrap();
    assert_eq!(info.payload.expires_at, p.expires_at.replace_nanosecond(0).unwrap());
    assert!(matches!(
        svc.context_for_token(&expired, "req-2").await,
        Err(IdentityError::InvalidToken { .. })
    ));
    // Beyond the allow-expired window (two days by default) it is gone for good.
    p.expires_at = OffsetDateTime::now_utc() - Duration::days(3);
    let ancient = svc.formatter().issue(&p).unwrap();
    assert!(svc.validate_token(&ctx, &ancient, true).await.is_err());
}

#[tokio::test]
async fn rotation_keeps_tokens_of_secondary_keys_valid() {
    let (svc, _dir) = common::service("http://127.0.0.1:9/identity").await;
    let before =
        svc.authenticate(password("admin", common::ADMIN_PASSWORD, admin_project())).await.unwrap();
    svc.rotate_keys().await.unwrap(); // 3 keys: the old primary is now a secondary
    assert!(svc.context_for_token(&before.token, "r").await.is_ok());
    svc.rotate_keys().await.unwrap(); // the old primary falls out (max_active_keys = 3)
    assert!(svc.context_for_token(&before.token, "r").await.is_err());
    let after =
        svc.authenticate(password("admin", common::ADMIN_PASSWORD, admin_project())).await.unwrap();
    assert!(svc.context_for_token(&after.token, "r").await.is_ok());
}

#[tokio::test]
async fn role_changes_reach_cached_contexts() {
    let (svc, _dir) = common::service("http://127.0.0.1:9/identity").await;
    let internal = RequestContext::internal("test");
    let admin =
        svc.authenticate(password("admin", common::ADMIN_PASSWORD, admin_project())).await.unwrap();
    let ctx = svc.context_for_token(&admin.token, "r").await.unwrap();
    assert!(ctx.has_role("admin"));
    // A new role implied by admin shows up in the next context of the same token.
    let extra = svc
        .create_role(
            &internal,
            ferrostack_identity::types::Role {
                id: ferrostack_core::id::RoleId::new(),
                name: "auditor".into(),
                domain_id: None,
                description: String::new(),
            },
        )
        .await
        .unwrap();
    let admin_role = svc
        .list_roles(&internal, &ListFilter { name: Some("admin".into()), ..Default::default() })
        .await
        .unwrap();
    svc.create_implied_role(&internal, admin_role[0].id.as_str(), extra.id.as_str()).await.unwrap();
    let ctx = svc.context_for_token(&admin.token, "r").await.unwrap();
    assert!(ctx.has_role("auditor"), "{:?}", ctx.roles);
}

#[tokio::test]
async fn password_change_needs_the_original_and_revokes_tokens() {
    let (svc, _dir) = common::service("http://127.0.0.1:9/identity").await;
    let admin =
        svc.authenticate(password("admin", common::ADMIN_PASSWORD, admin_project())).await.unwrap();
    let ctx = svc.context_for_token(&admin.token, "r").await.unwrap();
    let uid = admin.user.id.to_string();
    let wrong = svc.change_password(&ctx, &uid, "not-it", "new-pw").await;
    assert!(matches!(wrong, Err(IdentityError::Unauthorized { .. })));
    svc.change_password(&ctx, &uid, common::ADMIN_PASSWORD, "new-pw").await.unwrap();
    assert!(svc.context_for_token(&admin.token, "r").await.is_err());
    assert!(
        svc.authenticate(password("admin", common::ADMIN_PASSWORD, admin_project())).await.is_err()
    );
    assert!(svc.authenticate(password("admin", "new-pw", ScopeRequest::Unscoped)).await.is_ok());
}
