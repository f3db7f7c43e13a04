// SPDX-License-Identifier: Apache-2.0
//! The Keystone v3 REST API, driven in-process through the router.

mod common;

use common::Resp;

use axum::Router;
use axum::http::{Method, StatusCode};
use ferrostack_identity::http::router;
use serde_json::{Value, json};

const BASE: &str = "http://127.0.0.1:9/identity";

struct Api {
    app: Router,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn new() -> Self {
        let (svc, dir) = common::service(BASE).await;
        Api { app: router(svc, BASE), _dir: dir }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        subject: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        common::request(&self.app, method, path, token, subject, body).await
    }

    async fn password_token(&self, user: &str, password: &str, scope: Value) -> Resp {
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}}}});
        if !scope.is_null() {
            auth["scope"] = scope;
        }
        self.call(Method::POST, "/v3/auth/tokens", None, None, Some(json!({"auth": auth}))).await
    }

    async fn admin_token(&self) -> String {
        let r = self
            .password_token(
                "admin",
                common::ADMIN_PASSWORD,
                json!({"project": {"name": "admin", "domain": {"name": "Default"}}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.subject.unwrap()
    }
}

#[tokio::test]
async fn version_documents_use_the_public_url() {
    let api = Api::new().await;
    let r = api.call(Method::GET, "/", None, None, None).await;
    assert_eq!(r.status, StatusCode::MULTIPLE_CHOICES);
    assert_eq!(r.body["versions"]["values"][0]["links"][0]["href"], format!("{BASE}/v3/"));
    let r = api.call(Method::GET, "/v3", None, None, None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["version"]["status"], "stable");
    assert_eq!(
        r.body["version"]["media-types"][0]["type"],
        "application/vnd.openstack.identity-v3+json"
    );
}

#[tokio::test]
async fn password_token_project_scoped_has_roles_and_catalog() {
    let api = Api::new().await;
    let r = api
        .password_token(
            "admin",
            common::ADMIN_PASSWORD,
            json!({"project": {"name": "admin", "domain": {"id": "default"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let t = &r.body["token"];
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["project"]["name"], "admin");
    assert_eq!(t["project"]["domain"]["id"], "default");
    assert_eq!(t["user"]["name"], "admin");
    let roles: Vec<&str> =
        t["roles"].as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap()).collect();
    for want in ["admin", "member", "reader"] {
        assert!(roles.contains(&want), "{roles:?}");
    }
    let cat = t["catalog"].as_array().unwrap();
    let identity = cat.iter().find(|s| s["type"] == "identity").unwrap();
    assert_eq!(identity["endpoints"].as_array().unwrap().len(), 3);
    assert_eq!(identity["endpoints"][0]["url"], format!("{BASE}/v3"));
    assert_eq!(t["audit_ids"].as_array().unwrap()[0].as_str().unwrap().len(), 22);
    assert!(t["expires_at"].as_str().unwrap().ends_with('Z'));
    let token = r.subject.unwrap();
    assert!(!token.ends_with('='));

    // ?nocatalog, validation, HEAD, catalog, revocation.
    let r =
        api.call(Method::GET, "/v3/auth/tokens?nocatalog", Some(&token), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["token"].get("catalog").is_none());
    let r = api.call(Method::HEAD, "/v3/auth/tokens", Some(&token), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = api.call(Method::GET, "/v3/auth/catalog", Some(&token), None, None).await;
    assert_eq!(r.body["catalog"][0]["type"], "identity");
    let r = api.call(Method::DELETE, "/v3/auth/tokens", Some(&token), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let admin = api.admin_token().await;
    let r = api.call(Method::GET, "/v3/auth/tokens", Some(&admin), Some(&token), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = api.call(Method::GET, "/v3/projects", Some(&token), None, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn every_scope_form() {
    let api = Api::new().await;
    // Default scope: admin's default project.
    let r = api.password_token("admin", common::ADMIN_PASSWORD, Value::Null).await;
    assert_eq!(r.body["token"]["project"]["name"], "admin", "{}", r.body);
    let r = api.password_token("admin", common::ADMIN_PASSWORD, json!("unscoped")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.body["token"].get("roles").is_none() && r.body["token"].get("catalog").is_none());
    let unscoped = r.subject.unwrap();
    let r =
        api.password_token("admin", common::ADMIN_PASSWORD, json!({"system": {"all": true}})).await;
    assert_eq!(r.body["token"]["system"], json!({"all": true}), "{}", r.body);
    // Domain scope needs a role on the domain.
    let admin = api.admin_token().await;
    let r = api
        .password_token("admin", common::ADMIN_PASSWORD, json!({"domain": {"id": "default"}}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let roles = api.call(Method::GET, "/v3/roles?name=admin", Some(&admin), None, None).await;
    let role_id = roles.body["roles"][0]["id"].as_str().unwrap().to_owned();
    let me = api.call(Method::GET, "/v3/users?name=admin", Some(&admin), None, None).await;
    let uid = me.body["users"][0]["id"].as_str().unwrap().to_owned();
    let r = api
        .call(
            Method::PUT,
            &format!("/v3/domains/default/users/{uid}/roles/{role_id}"),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api
        .password_token("admin", common::ADMIN_PASSWORD, json!({"domain": {"name": "Default"}}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["domain"]["id"], "default");
    // Token method: rescope the unscoped token to the project.
    let body = json!({"auth": {"identity": {"methods": ["token"], "token": {"id": unscoped}}, "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let r = api.call(Method::POST, "/v3/auth/tokens", None, None, Some(body)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["methods"], json!(["token", "password"]));
    assert_eq!(r.body["token"]["audit_ids"].as_array().unwrap().len(), 2);
    let r = api.call(Method::GET, "/v3/auth/projects", Some(&unscoped), None, None).await;
    assert_eq!(r.body["projects"][0]["name"], "admin");
    let r = api.call(Method::GET, "/v3/auth/domains", Some(&unscoped), None, None).await;
    assert_eq!(r.body["domains"][0]["id"], "default");
    let r = api.call(Method::GET, "/v3/auth/system", Some(&unscoped), None, None).await;
    assert_eq!(r.body["system"], json!([{"all": true}]));
}

#[tokio::test]
async fn crud_grants_and_assignments_as_the_cli_does_them() {
    let api = Api::new().await;
    let admin = api.admin_token().await;
    let r = api
        .call(
            Method::POST,
            "/v3/projects",
            Some(&admin),
            None,
            Some(json!({"project": {"name": "demo", "enabled": true}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let pid = r.body["project"]["id"].as_str().unwrap().to_owned();
    assert_eq!(r.body["project"]["parent_id"], "default");
    let r = api
        .call(
            Method::POST,
            "/v3/projects",
            Some(&admin),
            None,
            Some(json!({"project": {"name": "demo"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.body["error"]["code"], 409);
    let r = api.call(Method::GET, "/v3/projects/demo", Some(&admin), None, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.body["error"]["title"], "Not Found");
    let r = api.call(Method::GET, "/v3/projects?name=demo", Some(&admin), None, None).await;
    assert_eq!(r.body["projects"].as_array().unwrap().len(), 1);
    let r = api
        .call(
            Method::POST,
            "/v3/users",
            Some(&admin),
            None,
            Some(json!({"user": {"name": "alice", "password": "alicepw", "domain_id": "default"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.body["user"].get("password").is_none());
    let uid = r.body["user"]["id"].as_str().unwrap().to_owned();
    let r = api.call(Method::GET, "/v3/roles?name=member", Some(&admin), None, None).await;
    let member = r.body["roles"][0]["id"].as_str().unwrap().to_owned();
    // alice cannot scope to demo until granted a role.
    let scope = json!({"project": {"id": pid}});
    assert_eq!(
        api.password_token("alice", "alicepw", scope.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let r = api
        .call(
            Method::PUT,
            &format!("/v3/projects/{pid}/users/{uid}/roles/{member}"),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = api
        .call(
            Method::HEAD,
            &format!("/v3/projects/{pid}/users/{uid}/roles/{member}"),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api.password_token("alice", "alicepw", scope.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let alice = r.subject.unwrap();
    let names: Vec<&str> = r.body["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"member") && names.contains(&"reader") && !names.contains(&"admin"));
    // A member may not create projects or list users.
    let r = api
        .call(
            Method::POST,
            "/v3/projects",
            Some(&alice),
            None,
            Some(json!({"project": {"name": "x"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api.call(Method::GET, "/v3/users", Some(&alice), None, None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // alice validates her own token, and lists her projects.
    let r = api.call(Method::GET, "/v3/auth/tokens", Some(&alice), Some(&alice), None).await;
    assert_eq!(r.status, StatusCode::OK);
    let r =
        api.call(Method::GET, &format!("/v3/users/{uid}/projects"), Some(&alice), None, None).await;
    assert_eq!(r.body["projects"][0]["name"], "demo");
    // Assignments with names.
    let r = api
        .call(
            Method::GET,
            &format!("/v3/role_assignments?user.id={uid}&include_names"),
            Some(&admin),
            None,
            None,
        )
        .await;
    let rows = r.body["role_assignments"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{}", r.body);
    assert_eq!(rows[0]["role"]["name"], "member");
    assert_eq!(rows[0]["scope"]["project"]["name"], "demo");
    assert_eq!(rows[0]["user"]["name"], "alice");
    // Group grants show up as effective user assignments.
    let r = api
        .call(
            Method::POST,
            "/v3/groups",
            Some(&admin),
            None,
            Some(json!({"group": {"name": "devs"}})),
        )
        .await;
    let gid = r.body["group"]["id"].as_str().unwrap().to_owned();
    let r = api
        .call(Method::PUT, &format!("/v3/groups/{gid}/users/{uid}"), Some(&admin), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api.call(Method::GET, "/v3/roles?name=reader", Some(&admin), None, None).await;
    let reader = r.body["roles"][0]["id"].as_str().unwrap().to_owned();
    let r = api
        .call(
            Method::PUT,
            &format!(
                "/v3/OS-INHERIT/domains/default/groups/{gid}/roles/{reader}/inherited_to_projects"
            ),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = api
        .call(
            Method::GET,
            &format!("/v3/role_assignments?effective&user.id={uid}"),
            Some(&admin),
            None,
            None,
        )
        .await;
    let rows = r.body["role_assignments"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|a| a["role"]["id"] == reader.as_str() && a["links"]["membership"].is_string()),
        "{}",
        r.body
    );
    // Revoking the grant revokes alice's project token.
    let r = api
        .call(
            Method::DELETE,
            &format!("/v3/projects/{pid}/users/{uid}/roles/{member}"),
            Some(&admin),
            None,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = api.call(Method::GET, "/v3/auth/tokens", Some(&admin), Some(&alice), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // Projects with children cannot be deleted; leaves can.
    let r = api
        .call(
            Method::POST,
            "/v3/projects",
            Some(&admin),
            None,
            Some(json!({"project": {"name": "child", "parent_id": pid}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let child = r.body["project"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        api.call(Method::DELETE, &format!("/v3/projects/{pid}"), Some(&admin), None, None)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.call(Method::DELETE, &format!("/v3/projects/{child}"), Some(&admin), None, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(Method::DELETE, &format!("/v3/projects/{pid}"), Some(&admin), None, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(Method::GET, &format!("/v3/projects/{pid}"), Some(&admin), None, None)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn bad_input_gets_keystone_codes_without_leaks() {
    let api = Api::new().await;
    // Wrong password and unknown user: the same 401 body.
    let a = api.password_token("admin", "wrong", Value::Null).await;
    let b = api.password_token("nobody", "wrong", Value::Null).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body, b.body);
    assert_eq!(a.body["error"]["message"], "The request you have made requires authentication.");
    // Malformed bodies are 400.
    for body in [
        json!({}),
        json!({"auth": {}}),
        json!({"auth": {"identity": {"methods": ["password"]}}}),
        json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "admin", "password": "x"}}}}}),
    ] {
        let r = api.call(Method::POST, "/v3/auth/tokens", None, None, Some(body.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
    }
    let r = api.call(Method::POST, "/v3/auth/tokens", None, None, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Tampered and garbage tokens are 401 for callers and 404 as subjects.
    let admin = api.admin_token().await;
    let mut t = admin.clone().into_bytes();
    let i = t.len() / 2;
    t[i] = if t[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(t).unwrap();
    for bad in [tampered.as_str(), "garbage", ""] {
        let r = api.call(Method::GET, "/v3/projects", Some(bad), None, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
        let r = api.call(Method::GET, "/v3/auth/tokens", Some(&admin), Some(bad), None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{bad}");
    }
    // No token at all on a protected route.
    assert_eq!(
        api.call(Method::GET, "/v3/users", None, None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Wrong field types.
    let r = api
        .call(
            Method::POST,
            "/v3/projects",
            Some(&admin),
            None,
            Some(json!({"project": {"name": "x", "enabled": "yes"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = api
        .call(Method::POST, "/v3/users", Some(&admin), None, Some(json!({"user": {"name": ""}})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn disabled_users_and_projects_lose_their_tokens() {
    let api = Api::new().await;
    let admin = api.admin_token().await;
    let r = api
        .call(
            Method::POST,
            "/v3/users",
            Some(&admin),
            None,
            Some(json!({"user": {"name": "bob", "password": "bobpw"}})),
        )
        .await;
    let uid = r.body["user"]["id"].as_str().unwrap().to_owned();
    let r = api.password_token("bob", "bobpw", json!("unscoped")).await;
    let bob = r.subject.unwrap();
    let r = api
        .call(
            Method::PATCH,
            &format!("/v3/users/{uid}"),
            Some(&admin),
            None,
            Some(json!({"user": {"enabled": false}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        api.call(Method::GET, "/v3/auth/projects", Some(&bob), None, None).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.password_token("bob", "bobpw", Value::Null).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Lockout after 5 failures (configured), even with the right password afterwards.
    api.call(
        Method::PATCH,
        &format!("/v3/users/{uid}"),
        Some(&admin),
        None,
        Some(json!({"user": {"enabled": true}})),
    )
    .await;
    for _ in 0..5 {
        assert_eq!(
            api.password_token("bob", "nope", Value::Null).await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        api.password_token("bob", "bobpw", Value::Null).await.status,
        StatusCode::UNAUTHORIZED
    );
}
