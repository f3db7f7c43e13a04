// SPDX-License-Identifier: Apache-2.0
//! The public conformance suite of [`IdentityApi`]: one run through the local
//! [`crate::IdentityService`] and one through [`crate::http::Client`] against the served
//! router prove that the client is complete (`tests/conformance.rs`). Any other
//! implementation (a cache in front of a remote Keystone, say) can run it too.
//!
//! Every check panics with a message naming the broken rule.

use crate::api::{
    AssignmentQuery, AuthMethod, AuthRequest, DomainRef, IdentityApi, ListFilter, ProjectPatch,
    ProjectRef, ScopeRequest, UserRef,
};
use crate::error::IdentityError;
use crate::types::{Actor, Assignment, Project, Target, User};
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::{DomainId, ProjectId};

fn kind<T: std::fmt::Debug>(what: &str, r: Result<T, IdentityError>) -> ErrorKind {
    match r {
        Ok(v) => panic!("{what}: expected an error, got {v:?}"),
        Err(e) => e.kind(),
    }
}

/// A password authentication of `user` in the default domain.
pub fn password(user: &str, password: &str, scope: ScopeRequest) -> AuthRequest {
    AuthRequest {
        method: AuthMethod::Password {
            user: UserRef::Name { name: user.into(), domain: DomainRef::Id("default".into()) },
            password: password.into(),
        },
        scope,
    }
}

/// Runs the suite against `api`, acting as the bootstrap admin (`admin_user` with
/// `admin_password`, admin of project `admin_project`): projects (hierarchy, filters,
/// update, delete rules), users with passwords, role grants and assignments, tokens of a new
/// user with their scope and roles, policy denials and authentication failures. It creates
/// and deletes its own resources, named with a random suffix, so it can run against a shared
/// deployment.
pub async fn run_api_conformance(
    api: &dyn IdentityApi,
    admin_user: &str,
    admin_password: &str,
    admin_project: &str,
) {
    let admin = password(
        admin_user,
        admin_password,
        ScopeRequest::Project(ProjectRef::Name {
            name: admin_project.into(),
            domain: DomainRef::Id("default".into()),
        }),
    );
    let info = api.authenticate(admin).await.expect("the admin authenticates");
    let ctx = api.context_for_token(&info.token, "req-conformance").await.expect("admin context");
    assert!(ctx.has_role("admin"), "the admin token carries the admin role: {:?}", ctx.roles);
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..8];

    // Projects: create, duplicates refused, hierarchy, filters, update, delete rules.
    let blank = Project {
        id: ProjectId::new(),
        name: format!("conf-{tag}"),
        domain_id: DomainId::default_domain(),
        parent_id: None,
        description: "conformance".into(),
        enabled: true,
        tags: vec!["t1".into()],
    };
    let p = api.create_project(&ctx, blank.clone()).await.expect("create_project");
    assert_eq!((p.name.as_str(), p.description.as_str()), (blank.name.as_str(), "conformance"));
    assert_eq!(p.tags, vec!["t1".to_owned()]);
    assert_eq!(api.get_project(&ctx, p.id.as_str()).await.expect("get_project"), p);
    assert_eq!(
        kind("a duplicate project", api.create_project(&ctx, blank.clone()).await),
        ErrorKind::Conflict
    );
    let child = api
        .create_project(
            &ctx,
            Project {
                id: ProjectId::new(),
                name: format!("conf-{tag}-child"),
                parent_id: Some(p.id.clone()),
                ..blank.clone()
            },
        )
        .await
        .expect("create a child project");
    assert_eq!(child.parent_id.as_ref(), Some(&p.id));
    let found = api
        .list_projects(
            &ctx,
            &ListFilter { name: Some(blank.name.clone()), ..ListFilter::default() },
        )
        .await
        .expect("list_projects by name");
    assert_eq!(found, vec![p.clone()], "the name filter finds exactly the project");
    let updated = api
        .update_project(
            &ctx,
            p.id.as_str(),
            ProjectPatch { description: Some("new".into()), ..ProjectPatch::default() },
        )
        .await
        .expect("update_project");
    assert_eq!(updated.description, "new");
    assert_eq!(
        kind("deleting a project with children", api.delete_project(&ctx, p.id.as_str()).await),
        ErrorKind::Forbidden
    );
    api.delete_project(&ctx, child.id.as_str()).await.expect("delete the child");
    api.delete_project(&ctx, p.id.as_str()).await.expect("delete the parent");
    assert_eq!(
        kind("a deleted project", api.get_project(&ctx, p.id.as_str()).await),
        ErrorKind::NotFound
    );
    assert_eq!(
        kind("an id naming another route", api.get_project(&ctx, "../users").await),
        ErrorKind::NotFound
    );

    // A user with a role on a project, seen through role assignments, then their token.
    let project = api
        .create_project(
            &ctx,
            Project { id: ProjectId::new(), name: format!("conf-{tag}-work"), ..blank.clone() },
        )
        .await
        .expect("create the work project");
    let name = format!("conf-{tag}-bob");
    let user = User {
        email: Some("bob@example.invalid".into()),
        ..User::new(name.clone(), DomainId::default_domain())
    };
    let bob = api.create_user(&ctx, user, Some("bob-pw-123".into())).await.expect("create_user");
    assert_eq!(bob.email.as_deref(), Some("bob@example.invalid"));
    assert_eq!(api.get_user(&ctx, bob.id.as_str()).await.expect("get_user").name, name);
    let member = api
        .list_roles(&ctx, &ListFilter { name: Some("member".into()), ..ListFilter::default() })
        .await
        .expect("list_roles")
        .pop()
        .expect("the member role exists");
    let grant = Assignment {
        actor: Actor::User(bob.id.clone()),
        target: Target::Project(project.id.clone()),
        role_id: member.id.clone(),
        inherited: false,
    };
    assert_eq!(
        kind("a grant not made yet", api.check_grant(&ctx, grant.clone()).await),
        ErrorKind::NotFound
    );
    api.create_grant(&ctx, grant.clone()).await.expect("create_grant");
    api.check_grant(&ctx, grant.clone()).await.expect("check_grant");
    let rows = api
        .list_role_assignments(
            &ctx,
            &AssignmentQuery { user_id: Some(bob.id.clone()), ..AssignmentQuery::default() },
        )
        .await
        .expect("list_role_assignments");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].role_name, "member");

    let scope = ScopeRequest::Project(ProjectRef::Id(project.id.to_string()));
    let token = api.authenticate(password(&name, "bob-pw-123", scope)).await.expect("bob logs in");
    let bob_ctx = api.context_for_token(&token.token, "req-bob").await.expect("bob's context");
    assert_eq!(bob_ctx.project_id(), Some(&project.id));
    assert!(bob_ctx.has_role("member") && !bob_ctx.has_role("admin"), "{:?}", bob_ctx.roles);
    assert_eq!(
        kind("a member listing users", api.list_users(&bob_ctx, &ListFilter::default()).await),
        ErrorKind::Forbidden
    );
    assert_eq!(
        kind(
            "a wrong password",
            api.authenticate(password(&name, "wrong", ScopeRequest::Default)).await
        ),
        ErrorKind::Unauthenticated
    );
    assert_eq!(
        kind("a bogus token", api.context_for_token("not-a-token", "req-x").await),
        ErrorKind::Unauthenticated
    );

    // Revoking the grant takes the role away from new tokens; deleting the user ends them.
    api.revoke_grant(&ctx, grant.clone()).await.expect("revoke_grant");
    assert_eq!(kind("a revoked grant", api.check_grant(&ctx, grant).await), ErrorKind::NotFound);
    api.delete_user(&ctx, bob.id.as_str()).await.expect("delete_user");
    assert_eq!(
        kind("a deleted user", api.get_user(&ctx, bob.id.as_str()).await),
        ErrorKind::NotFound
    );
    let refused =
        kind("a deleted user's token", api.context_for_token(&token.token, "req-y").await);
    assert!(
        matches!(refused, ErrorKind::NotFound | ErrorKind::Unauthenticated),
        "a deleted user's token is refused, not {refused:?}"
    );
    api.delete_project(&ctx, project.id.as_str()).await.expect("delete the work project");
}
