// SPDX-License-Identifier: Apache-2.0
//! `http::Client` against the real identity HTTP server on loopback (and against hostile fake
//! endpoints): authentication, remote validation giving the same context as local
//! validation, revocation and the validation cache, single-flight, CRUD, and clean errors for
//! unreachable, slow and misbehaving endpoints.
#![cfg(feature = "client")]

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use ferrostack_core::RequestContext;
use ferrostack_core::error::{Classify, ErrorKind};
use ferrostack_core::id::{DomainId, ProjectId};
use ferrostack_identity::api::*;
use ferrostack_identity::http::{Client, ClientConfig, Ctx, authenticate, router};
use ferrostack_identity::token::{TokenPayload, new_audit_id};
use ferrostack_identity::types::Project;
use ferrostack_identity::{IdentityApi, IdentityError, IdentityService};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tower::ServiceExt;

/// The identity REST API served on 127.0.0.1:0 under `/identity`.
struct Server {
    url: String,
    svc: Arc<IdentityService>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/identity", listener.local_addr().unwrap());
    let (svc, dir) = common::service(&url).await;
    let app = Router::new().nest("/identity", router(svc.clone(), url.clone()));
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Server { url, svc, task, _dir: dir }
}

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

fn admin() -> AuthRequest {
    password("admin", common::ADMIN_PASSWORD, admin_project())
}

fn client(url: &str, service: Option<AuthRequest>, cache: Duration) -> Client {
    Client::new(ClientConfig {
        service_auth: service,
        token_cache_time: cache,
        ..ClientConfig::new(format!("{url}/v3"))
    })
    .unwrap()
}

fn kind<T: std::fmt::Debug>(r: Result<T, IdentityError>) -> ErrorKind {
    r.expect_err("expected an error").kind()
}

#[tokio::test]
async fn remote_context_equals_the_local_one() {
    let s = server().await;
    let plain = client(&s.url, None, Duration::from_secs(300));
    let info = plain.authenticate(admin()).await.unwrap();
    assert!(!info.catalog.is_empty(), "the token carries the catalog");
    assert!(info.roles.iter().any(|r| r.name == "admin"));
    let local = s.svc.context_for_token(&info.token, "req-1").await.unwrap();
    // Validated with itself (no service credentials) and with a service token.
    let remote = plain.context_for_token(&info.token, "req-1").await.unwrap();
    assert_eq!(remote, local);
    assert_eq!(remote.auth_token, local.auth_token);
    let with_service = client(&s.url, Some(admin()), Duration::from_secs(300));
    let remote = with_service.context_for_token(&info.token, "req-1").await.unwrap();
    assert_eq!(remote, local);
    // A cached answer carries this request's id.
    let again = with_service.context_for_token(&info.token, "req-2").await.unwrap();
    assert_eq!(again.request_id, "req-2");
    assert_eq!(with_service.remote_validations(), 1);

    // validate_token mirrors the local service, catalog included.
    let v = plain.validate_token(&local, &info.token, false).await.unwrap();
    let l = s.svc.validate_token(&local, &info.token, false).await.unwrap();
    // Tokens carry ids and names, not descriptions: compare what the wire has.
    let brief = |s: &TokenScope| match s {
        TokenScope::Project { project, domain } => {
            format!("{}/{}/{}/{}", project.id, project.name, domain.id, domain.name)
        }
        other => format!("{other:?}"),
    };
    assert_eq!(brief(&v.scope), brief(&l.scope));
    assert_eq!(
        (&v.user.id, &v.user.name, &v.user_domain.id),
        (&l.user.id, &l.user.name, &l.user_domain.id)
    );
    assert_eq!(
        v.roles.iter().map(|r| &r.id).collect::<Vec<_>>(),
        l.roles.iter().map(|r| &r.id).collect::<Vec<_>>()
    );
    assert_eq!(v.payload.expires_at, l.payload.expires_at);
    assert_eq!(v.payload.audit_ids, l.payload.audit_ids);
    assert_eq!(v.catalog, l.catalog);
    assert_eq!(plain.auth_catalog(&local).await.unwrap(), l.catalog);
    assert!(plain.auth_system(&local).await.is_ok());
    let projects = plain.auth_projects(&local).await.unwrap();
    assert!(projects.iter().any(|p| p.name == "admin" && p.parent_id.is_none()));
}

#[tokio::test]
async fn system_and_domain_scopes_match_too() {
    let s = server().await;
    let c = client(&s.url, Some(admin()), Duration::from_secs(300));
    for scope in [ScopeRequest::System, ScopeRequest::Domain(DomainRef::Id("default".into()))] {
        let Ok(info) =
            c.authenticate(password("admin", common::ADMIN_PASSWORD, scope.clone())).await
        else {
            // bootstrap may not grant this scope; only compare what both sides issue.
            continue;
        };
        let local = s.svc.context_for_token(&info.token, "r").await.unwrap();
        assert_eq!(c.context_for_token(&info.token, "r").await.unwrap(), local, "{scope:?}");
    }
    let info = c
        .authenticate(password("admin", common::ADMIN_PASSWORD, ScopeRequest::System))
        .await
        .unwrap();
    assert!(c.context_for_token(&info.token, "r").await.unwrap().is_system_scoped());
}

#[tokio::test]
async fn bad_expired_and_revoked_tokens_are_refused() {
    let s = server().await;
    let uncached = client(&s.url, Some(admin()), Duration::ZERO);
    let cached = client(&s.url, Some(admin()), Duration::from_secs(300));
    for bad in ["garbage", "gAAAAABnotreallyafernettoken", "a\nb", ""] {
        assert_eq!(
            kind(uncached.context_for_token(bad, "r").await),
            ErrorKind::Unauthenticated,
            "{bad:?}"
        );
    }
    assert_eq!(
        kind(uncached.context_for_token(&"x".repeat(100_000), "r").await),
        ErrorKind::Unauthenticated
    );

    let info = uncached.authenticate(admin()).await.unwrap();
    let admin_ctx = uncached.context_for_token(&info.token, "r").await.unwrap();
    let mut p: TokenPayload = info.payload.clone();
    p.expires_at = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    p.audit_ids = vec![new_audit_id()];
    let expired = s.svc.formatter().issue(&p).unwrap();
    assert_eq!(kind(uncached.context_for_token(&expired, "r").await), ErrorKind::Unauthenticated);
    assert!(matches!(
        uncached.validate_token(&admin_ctx, &expired, false).await,
        Err(IdentityError::TokenNotFound)
    ));
    let v = uncached.validate_token(&admin_ctx, &expired, true).await.unwrap();
    assert_eq!(v.payload.audit_ids, p.audit_ids);

    // A user token, revoked through the client: refused at once, cached or not.
    let user = uncached.authenticate(admin()).await.unwrap();
    cached.context_for_token(&user.token, "r").await.unwrap();
    uncached.context_for_token(&user.token, "r").await.unwrap();
    cached.revoke_token(&admin_ctx, &user.token).await.unwrap();
    assert_eq!(
        kind(uncached.context_for_token(&user.token, "r").await),
        ErrorKind::Unauthenticated
    );
    assert_eq!(kind(cached.context_for_token(&user.token, "r").await), ErrorKind::Unauthenticated);
    assert!(matches!(
        cached.revoke_token(&admin_ctx, &user.token).await,
        Err(IdentityError::TokenNotFound)
    ));

    // Revoked elsewhere: the cache keeps trusting it until its TTL (documented), forget_token
    // or a zero TTL make the endpoint authoritative.
    let other = uncached.authenticate(admin()).await.unwrap();
    cached.context_for_token(&other.token, "r").await.unwrap();
    s.svc.revoke_token(&admin_ctx, &other.token).await.unwrap();
    assert!(cached.context_for_token(&other.token, "r").await.is_ok());
    assert_eq!(
        kind(uncached.context_for_token(&other.token, "r").await),
        ErrorKind::Unauthenticated
    );
    cached.forget_token(&other.token);
    assert_eq!(kind(cached.context_for_token(&other.token, "r").await), ErrorKind::Unauthenticated);
}

#[tokio::test]
async fn concurrent_validations_of_one_token_make_one_remote_call() {
    let s = server().await;
    let c = Arc::new(client(&s.url, Some(admin()), Duration::from_secs(300)));
    let info = c.authenticate(admin()).await.unwrap();
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let c = c.clone();
            let t = info.token.clone();
            tokio::spawn(async move { c.context_for_token(&t, &format!("req-{i}")).await })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let ctx = t.await.unwrap().unwrap();
        assert_eq!(ctx.request_id, format!("req-{i}"));
        assert!(ctx.has_role("admin"));
    }
    assert_eq!(c.remote_validations(), 1);
    // Concurrent invalid tokens are refused to every caller.
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let c = c.clone();
            tokio::spawn(async move { c.context_for_token("not-a-token", "r").await })
        })
        .collect();
    for t in tasks {
        assert_eq!(kind(t.await.unwrap()), ErrorKind::Unauthenticated);
    }
    let calls = c.remote_validations();
    assert_eq!(calls, 2, "one call for the valid token, one for the invalid one");
    // The rejection is cached too: asking again costs no remote call.
    assert_eq!(kind(c.context_for_token("not-a-token", "r").await), ErrorKind::Unauthenticated);
    assert_eq!(c.remote_validations(), calls);
}

#[tokio::test]
async fn a_revoked_service_token_is_renewed() {
    let s = server().await;
    let c = client(&s.url, Some(admin()), Duration::ZERO);
    let first = c.authenticate(admin()).await.unwrap();
    c.context_for_token(&first.token, "r").await.unwrap();
    let internal = RequestContext::internal("test");
    // Revokes every admin token issued so far, the client's service token included.
    let revoke_all = || async {
        let admin_user = first.user.id.to_string();
        for enabled in [false, true] {
            let patch = UserPatch { enabled: Some(enabled), ..UserPatch::default() };
            s.svc.update_user(&internal, &admin_user, patch).await.unwrap();
        }
        // Tokens are compared to revocations in whole seconds: a new token in the same second
        // as the revocation would be revoked too, so wait for the next second.
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        while time::OffsetDateTime::now_utc().unix_timestamp() == now {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    // A call made with a token-less context renews the refused service token and retries.
    revoke_all().await;
    assert!(!c.list_projects(&internal, &ListFilter::default()).await.unwrap().is_empty());
    // So does a validation.
    revoke_all().await;
    assert_eq!(kind(c.context_for_token(&first.token, "r").await), ErrorKind::Unauthenticated);
    let fresh = c.authenticate(admin()).await.unwrap();
    let ctx = c.context_for_token(&fresh.token, "r").await.unwrap();
    assert_eq!(ctx.user_id, first.user.id);
}

#[tokio::test]
async fn crud_through_the_client() {
    let s = server().await;
    let c = client(&s.url, Some(admin()), Duration::from_secs(300));
    let info = c.authenticate(admin()).await.unwrap();
    let ctx = c.context_for_token(&info.token, "r").await.unwrap();
    let blank = Project {
        id: ProjectId::new(),
        name: "demo".into(),
        domain_id: DomainId::default_domain(),
        parent_id: None,
        description: "remote".into(),
        enabled: true,
        tags: vec!["t1".into()],
    };
    let p = c.create_project(&ctx, blank.clone()).await.unwrap();
    assert_eq!(
        (p.name.as_str(), p.description.as_str(), p.parent_id.as_ref()),
        ("demo", "remote", None)
    );
    assert_eq!(s.svc.get_project(&ctx, p.id.as_str()).await.unwrap(), p);
    assert_eq!(kind(c.create_project(&ctx, blank.clone()).await), ErrorKind::Conflict);
    let child = c
        .create_project(
            &ctx,
            Project { name: "child".into(), parent_id: Some(p.id.clone()), ..blank.clone() },
        )
        .await
        .unwrap();
    assert_eq!(child.parent_id.as_ref(), Some(&p.id));
    let found = c
        .list_projects(&ctx, &ListFilter { name: Some("demo".into()), ..ListFilter::default() })
        .await
        .unwrap();
    assert_eq!(found, vec![p.clone()]);
    let all = c.list_projects(&ctx, &ListFilter::default()).await.unwrap();
    assert!(all.len() >= 3);
    let p2 = c
        .update_project(
            &ctx,
            p.id.as_str(),
            ProjectPatch { description: Some("new".into()), ..ProjectPatch::default() },
        )
        .await
        .unwrap();
    assert_eq!(p2.description, "new");
    // Deleting a project with children is refused (403 from Keystone's ForbiddenNotSecurity).
    assert_eq!(kind(c.delete_project(&ctx, p.id.as_str()).await), ErrorKind::Forbidden);
    c.delete_project(&ctx, child.id.as_str()).await.unwrap();
    c.delete_project(&ctx, p.id.as_str()).await.unwrap();
    assert!(matches!(
        c.get_project(&ctx, p.id.as_str()).await,
        Err(IdentityError::NotFound { kind: "project", .. })
    ));
    // Path segments are encoded: no way to reach another route through an id.
    assert_eq!(kind(c.get_project(&ctx, "../users").await), ErrorKind::NotFound);

    // A user with a role on a project, seen through role assignments, then a token of theirs.
    let project =
        c.create_project(&ctx, Project { name: "work".into(), ..blank.clone() }).await.unwrap();
    let user = ferrostack_identity::types::User {
        email: Some("bob@example.invalid".into()),
        ..ferrostack_identity::types::User::new("bob", DomainId::default_domain())
    };
    let bob = c.create_user(&ctx, user, Some("bob-pw-123".into())).await.unwrap();
    assert_eq!(bob.email.as_deref(), Some("bob@example.invalid"));
    let member = c
        .list_roles(&ctx, &ListFilter { name: Some("member".into()), ..ListFilter::default() })
        .await
        .unwrap()
        .pop()
        .unwrap();
    let grant = ferrostack_identity::types::Assignment {
        actor: ferrostack_identity::types::Actor::User(bob.id.clone()),
        target: ferrostack_identity::types::Target::Project(project.id.clone()),
        role_id: member.id.clone(),
        inherited: false,
    };
    assert_eq!(kind(c.check_grant(&ctx, grant.clone()).await), ErrorKind::NotFound);
    c.create_grant(&ctx, grant.clone()).await.unwrap();
    c.check_grant(&ctx, grant.clone()).await.unwrap();
    let rows = c
        .list_role_assignments(
            &ctx,
            &AssignmentQuery { user_id: Some(bob.id.clone()), ..AssignmentQuery::default() },
        )
        .await
        .unwrap();
    let local = s
        .svc
        .list_role_assignments(
            &ctx,
            &AssignmentQuery { user_id: Some(bob.id.clone()), ..AssignmentQuery::default() },
        )
        .await
        .unwrap();
    assert_eq!(rows, local);
    assert_eq!(rows[0].role_name, "member");
    let scope = ScopeRequest::Project(ProjectRef::Id(project.id.to_string()));
    let bob_token = c.authenticate(password("bob", "bob-pw-123", scope)).await.unwrap();
    let bob_ctx = c.context_for_token(&bob_token.token, "r").await.unwrap();
    assert_eq!(bob_ctx.project_id(), Some(&project.id));
    assert!(bob_ctx.has_role("member") && !bob_ctx.has_role("admin"));
    // Policy denials come back as 403.
    assert_eq!(kind(c.list_users(&bob_ctx, &ListFilter::default()).await), ErrorKind::Forbidden);
    assert_eq!(
        kind(c.authenticate(password("bob", "wrong", ScopeRequest::Default)).await),
        ErrorKind::Unauthenticated
    );
    // A context without a token acts with the service token; without one it is refused.
    let internal = RequestContext::internal("test");
    assert!(c.get_user(&internal, bob.id.as_str()).await.is_ok());
    let anonymous = client(&s.url, None, Duration::ZERO);
    assert_eq!(
        kind(anonymous.get_user(&internal, bob.id.as_str()).await),
        ErrorKind::Unauthenticated
    );
    c.delete_user(&ctx, bob.id.as_str()).await.unwrap();
    c.delete_project(&ctx, project.id.as_str()).await.unwrap();
    assert_eq!(kind(c.get_user(&ctx, bob.id.as_str()).await), ErrorKind::NotFound);
}

async fn body_text(resp: axum::response::Response) -> (StatusCode, String) {
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn another_service_behind_the_auth_layer_validates_remotely() {
    let s = server().await;
    let c = client(&s.url, Some(admin()), Duration::from_secs(300));
    let token = c.authenticate(admin()).await.unwrap().token;
    let app: Router = authenticate(
        Router::new().route(
            "/whoami",
            axum::routing::get(|Ctx(ctx): Ctx| async move {
                format!(
                    "{} {}",
                    ctx.user_name,
                    ctx.project_id().map(|p| p.to_string()).unwrap_or_default()
                )
            }),
        ),
        Arc::new(c),
    );
    let call = |token: Option<&str>| {
        let mut r = Request::builder().uri("/whoami");
        if let Some(t) = token {
            r = r.header("x-auth-token", t);
        }
        app.clone().oneshot(r.body(Body::empty()).unwrap())
    };
    let (status, text) = body_text(call(Some(&token)).await.unwrap()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert!(text.starts_with("admin "), "{text}");
    assert_eq!(call(None).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(call(Some("bogus")).await.unwrap().status(), StatusCode::UNAUTHORIZED);

    // The identity endpoint going away is a 503 for uncached tokens, not a 401.
    let dead = dead_url().await;
    let app: Router = authenticate(
        Router::new().route("/x", axum::routing::get(|| async { "ok" })),
        Arc::new(client(&dead, None, Duration::from_secs(300))),
    );
    let req =
        Request::builder().uri("/x").header("x-auth-token", &token).body(Body::empty()).unwrap();
    let (status, text) = body_text(app.oneshot(req).await.unwrap()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{text}");
}

/// A loopback URL nothing listens on.
async fn dead_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}/identity")
}

#[tokio::test]
async fn an_unreachable_endpoint_is_identity_unavailable() {
    let dead = dead_url().await;
    let c = client(&dead, Some(admin()), Duration::from_secs(300));
    let e = c.context_for_token("some-token", "r").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("identity unavailable"), "{e}");
    // The transport error is kept as the cause, not flattened into the message.
    assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    let e = c.authenticate(admin()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(std::error::Error::source(&e).is_some(), "{e:?}");
    let e =
        c.list_projects(&RequestContext::internal("t"), &ListFilter::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
}

/// A fake "Keystone" answering junk: which junk depends on the first path segment.
async fn hostile() -> (String, tokio::task::JoinHandle<()>) {
    use axum::http::header::{CONTENT_TYPE, HeaderName};
    let subject = HeaderName::from_static("x-subject-token");
    let app = Router::new().fallback(move |req: Request<Body>| {
        let subject = subject.clone();
        async move {
            let mode =
                req.uri().path().trim_start_matches('/').split('/').next().unwrap_or("").to_owned();
            let json = [(CONTENT_TYPE, "application/json")];
            match mode.as_str() {
                "badjson" => {
                    (StatusCode::CREATED, [(subject, "tok")], json, "{\"token\": {").into_response()
                }
                "html" => (StatusCode::OK, [(CONTENT_TYPE, "text/html")], "<html>hi</html>")
                    .into_response(),
                "huge" => (StatusCode::OK, json, "[".repeat(64 * 1024)).into_response(),
                "shape" => (
                    StatusCode::CREATED,
                    [(subject, "tok")],
                    json,
                    r#"{"token": {"user": 5}, "projects": "x"}"#,
                )
                    .into_response(),
                "nosubject" => (StatusCode::CREATED, json, r#"{"token": {}}"#).into_response(),
                "err500" => (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    [(CONTENT_TYPE, "text/html")],
                    "<h1>oops</h1>",
                )
                    .into_response(),
                "redirect" => (
                    StatusCode::FOUND,
                    [(axum::http::header::LOCATION, "http://127.0.0.1:9/steal")],
                    "",
                )
                    .into_response(),
                "errjson" => {
                    (StatusCode::CONFLICT, json, "{\"error\": {\"message\": 42}}").into_response()
                }
                _ => StatusCode::IM_A_TEAPOT.into_response(),
            }
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, task)
}

/// A raw TCP "server": `chunked` streams an endless chunked body, `silent` never answers.
async fn raw(mode: &'static str) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else { return };
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                if mode == "silent" {
                    let _ = sock.read(&mut buf).await;
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                }
                let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nx-subject-token: t\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 8192, "[".repeat(8192));
                while sock.write_all(chunk.as_bytes()).await.is_ok() {}
            });
        }
    });
    (base, task)
}

#[tokio::test]
async fn hostile_endpoints_give_clean_errors() {
    let (base, task) = hostile().await;
    let ctx = RequestContext::for_project(
        ferrostack_core::id::UserId::new(),
        ProjectId::new(),
        &["admin"],
    );
    let ctx = RequestContext { auth_token: Some("caller".into()), ..ctx };
    let make = |mode: &str| {
        Client::new(ClientConfig {
            max_response_bytes: 16 * 1024,
            ..ClientConfig::new(format!("{base}/{mode}"))
        })
        .unwrap()
    };
    for mode in ["badjson", "html", "huge", "shape", "nosubject", "err500", "redirect", "teapot"] {
        let c = make(mode);
        let e = c.authenticate(admin()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{mode}: {e}");
        let e = c.context_for_token("tok", "r").await.unwrap_err();
        assert!(
            matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Unauthenticated),
            "{mode}: {e}"
        );
        let e = c.list_projects(&ctx, &ListFilter::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable, "{mode}: {e}");
    }
    // Error bodies that are not Keystone's shape still map by status.
    let e = make("errjson").get_domain(&ctx, "d").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
    task.abort();

    let (base, task) = raw("chunked").await;
    let c = Client::new(ClientConfig { max_response_bytes: 64 * 1024, ..ClientConfig::new(base) })
        .unwrap();
    let e = c.authenticate(admin()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("larger than"), "{e}");
    task.abort();

    let (base, task) = raw("silent").await;
    let c = Client::new(ClientConfig {
        timeout: Duration::from_millis(300),
        ..ClientConfig::new(base)
    })
    .unwrap();
    let e = c.context_for_token("tok", "r").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(e.to_string().contains("did not answer"), "{e}");
    task.abort();
}
