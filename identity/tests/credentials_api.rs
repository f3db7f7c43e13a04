// SPDX-License-Identifier: Apache-2.0
//! Application credentials, `/v3/credentials`, `OS-EC2` and `/v3/ec2tokens` through the
//! router, with Keystone's status codes.

mod common;

use common::Resp;

use axum::Router;
use axum::http::{Method, StatusCode};
use ferrostack_core::store::StoreExt;
use ferrostack_identity::IdentityService;
use ferrostack_identity::ec2::{self, SignedRequest};
use ferrostack_identity::http::router;
use serde_json::{Value, json};
use std::sync::Arc;

const BASE: &str = "http://127.0.0.1:9/identity";

struct Api {
    app: Router,
    svc: Arc<IdentityService>,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn new() -> Self {
        let (svc, dir) = common::service(BASE).await;
        Api { app: router(svc.clone(), BASE), svc, _dir: dir }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.call_subject(method, path, token, None, body).await
    }

    async fn call_subject(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        subject: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        common::request(&self.app, method, path, token, subject, body).await
    }

    async fn auth(&self, auth: Value) -> Resp {
        self.call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": auth}))).await
    }

    async fn password_token(&self, user: &str, password: &str, project: &str) -> String {
        let r = self
            .auth(json!({
                "identity": {"methods": ["password"], "password": {"user": {
                    "name": user, "domain": {"id": "default"}, "password": password}}},
                "scope": {"project": {"name": project, "domain": {"id": "default"}}},
            }))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.subject.unwrap()
    }

    async fn app_cred_token(&self, id: &str, secret: &str) -> Resp {
        self.auth(json!({"identity": {"methods": ["application_credential"],
            "application_credential": {"id": id, "secret": secret}}}))
            .await
    }

    /// Admin token, and a user `alice` with `member` on project `demo`; returns
    /// (admin token, alice's id, demo's id, alice's demo token).
    async fn setup(&self) -> (String, String, String, String) {
        let admin = self.password_token("admin", common::ADMIN_PASSWORD, "admin").await;
        let r = self
            .call(
                Method::POST,
                "/v3/projects",
                Some(&admin),
                Some(json!({"project": {"name": "demo"}})),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let demo = r.body["project"]["id"].as_str().unwrap().to_owned();
        let r = self
            .call(
                Method::POST,
                "/v3/users",
                Some(&admin),
                Some(json!({"user": {"name": "alice", "password": "alicepw"}})),
            )
            .await;
        let alice = r.body["user"]["id"].as_str().unwrap().to_owned();
        let member = self.role_id(&admin, "member").await;
        let r = self
            .call(
                Method::PUT,
                &format!("/v3/projects/{demo}/users/{alice}/roles/{member}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
        let tok = self.password_token("alice", "alicepw", "demo").await;
        (admin, alice, demo, tok)
    }

    async fn role_id(&self, admin: &str, name: &str) -> String {
        let r = self.call(Method::GET, &format!("/v3/roles?name={name}"), Some(admin), None).await;
        r.body["roles"][0]["id"].as_str().unwrap().to_owned()
    }
}

fn names(roles: &Value) -> Vec<String> {
    let mut v: Vec<String> =
        roles.as_array().unwrap().iter().map(|r| r["name"].as_str().unwrap().to_owned()).collect();
    v.sort();
    v
}

#[tokio::test]
async fn application_credential_lifecycle() {
    let api = Api::new().await;
    let (admin, alice, demo, tok) = api.setup().await;
    let coll = format!("/v3/users/{alice}/application_credentials");

    // Create with all of the token's roles (member and the reader it implies).
    let r = api
        .call(
            Method::POST,
            &coll,
            Some(&tok),
            Some(json!({"application_credential": {
            "name": "ci", "description": "for CI"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ac = &r.body["application_credential"];
    let (id, secret) =
        (ac["id"].as_str().unwrap().to_owned(), ac["secret"].as_str().unwrap().to_owned());
    assert_eq!(secret.len(), 86, "64 random bytes, base64url without padding");
    assert_eq!(ac["project_id"], demo.as_str());
    assert_eq!(ac["unrestricted"], false);
    assert_eq!(names(&ac["roles"]), vec!["member", "reader"]);
    // The secret is stored hashed, never in clear.
    let raw = api.svc.store().list_all("identity/app_creds/").await.unwrap();
    assert_eq!(raw.len(), 1);
    assert!(!String::from_utf8_lossy(&raw[0].value).contains(&secret));

    // Same name again: 409. Show and list never show the secret.
    let r = api
        .call(
            Method::POST,
            &coll,
            Some(&tok),
            Some(json!({"application_credential": {"name": "ci"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = api.call(Method::GET, &format!("{coll}/{id}"), Some(&tok), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body["application_credential"].get("secret").is_none());
    let r = api.call(Method::GET, &format!("{coll}?name=ci"), Some(&tok), None).await;
    assert_eq!(r.body["application_credentials"].as_array().unwrap().len(), 1);
    let r = api.call(Method::GET, &format!("{coll}?name=other"), Some(&tok), None).await;
    assert_eq!(r.body["application_credentials"].as_array().unwrap().len(), 0);

    // Authenticate by id: a token scoped to demo with the credential's roles.
    let r = api.app_cred_token(&id, &secret).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let t = &r.body["token"];
    assert_eq!(t["methods"], json!(["application_credential"]));
    assert_eq!(t["project"]["id"], demo.as_str());
    assert_eq!(t["application_credential"], json!({"id": id, "name": "ci", "restricted": true}));
    assert_eq!(names(&t["roles"]), vec!["member", "reader"]);
    let ac_token = r.subject.unwrap();
    let r =
        api.call_subject(Method::GET, "/v3/auth/tokens", Some(&admin), Some(&ac_token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["token"]["application_credential"]["id"], id.as_str());

    // By name and owner.
    let r = api
        .auth(json!({"identity": {"methods": ["application_credential"], "application_credential": {
            "name": "ci", "secret": secret, "user": {"name": "alice", "domain": {"name": "Default"}}}}}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Wrong secret, unknown name: 401; unknown id: 404 (as Keystone); asking for a scope: 401.
    assert_eq!(api.app_cred_token(&id, "wrong").await.status, StatusCode::UNAUTHORIZED);
    let r = api
        .auth(
            json!({"identity": {"methods": ["application_credential"], "application_credential": {
            "name": "nope", "secret": secret, "user": {"id": alice}}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = api.app_cred_token("0123456789abcdef0123456789abcdef", &secret).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = api
        .auth(json!({"identity": {"methods": ["application_credential"],
            "application_credential": {"id": id, "secret": secret}},
            "scope": {"project": {"id": demo}}}))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = api.auth(json!({"identity": {"methods": ["application_credential"], "application_credential": {"secret": "x"}}})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    // A restricted credential's token may read but not create or delete credentials, nor be
    // exchanged for another token.
    let r = api.call(Method::GET, &coll, Some(&ac_token), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = api
        .call(
            Method::POST,
            &coll,
            Some(&ac_token),
            Some(json!({"application_credential": {"name": "x"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = api.call(Method::DELETE, &format!("{coll}/{id}"), Some(&ac_token), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = api.auth(json!({"identity": {"methods": ["token"], "token": {"id": ac_token}}})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // An unrestricted one may create another.
    let r = api
        .call(Method::POST, &coll, Some(&tok), Some(json!({"application_credential": {
            "name": "free", "unrestricted": true, "secret": "chosen-secret", "roles": [{"name": "reader"}]}})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["application_credential"]["secret"], "chosen-secret");
    assert_eq!(names(&r.body["application_credential"]["roles"]), vec!["reader"]);
    let free = r.body["application_credential"]["id"].as_str().unwrap().to_owned();
    let free_token = api.app_cred_token(&free, "chosen-secret").await.subject.unwrap();
    let r = api
        .call(
            Method::POST,
            &coll,
            Some(&free_token),
            Some(json!({"application_credential": {"name": "child"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(names(&r.body["application_credential"]["roles"]), vec!["reader"]);

    // Roles outside the token, bad input, someone else's path: 400, 400, 403; no token: 401.
    let r = api
        .call(
            Method::POST,
            &coll,
            Some(&tok),
            Some(json!({"application_credential": {"name": "y", "roles": [{"name": "admin"}]}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    for bad in [
        json!({"application_credential": {"name": ""}}),
        json!({"application_credential": {"name": "z", "bogus": 1}}),
        json!({"application_credential": {"name": "z", "roles": [{"id": "a", "name": "b"}]}}),
        json!({"application_credential": {"name": "z", "expires_at": "not a date"}}),
        json!({"application_credential": {"name": "z", "expires_at": "2001-01-01T00:00:00"}}),
        json!({"application_credential": {"name": "z", "access_rules": [{"service": "compute", "path": "/", "method": "GET"}]}}),
        json!({"application_credential": "z"}),
    ] {
        let r = api.call(Method::POST, &coll, Some(&tok), Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        assert!(r.body["error"]["code"] == 400, "{}", r.body);
    }
    let admin_id = api.call(Method::GET, "/v3/users?name=admin", Some(&admin), None).await.body["users"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = api
        .call(
            Method::POST,
            &format!("/v3/users/{admin_id}/application_credentials"),
            Some(&tok),
            Some(json!({"application_credential": {"name": "q"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = api
        .call(
            Method::GET,
            &format!("/v3/users/{admin_id}/application_credentials"),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(api.call(Method::GET, &coll, None, None).await.status, StatusCode::UNAUTHORIZED);
    // An administrator sees alice's credentials.
    let r = api.call(Method::GET, &coll, Some(&admin), None).await;
    assert_eq!(r.body["application_credentials"].as_array().unwrap().len(), 3);

    // Losing the member role: the credential's tokens keep only what the user still holds
    // (reader came with member, so nothing): they stop validating and no new ones are issued.
    let member = api.role_id(&admin, "member").await;
    let r = api
        .call(
            Method::DELETE,
            &format!("/v3/projects/{demo}/users/{alice}/roles/{member}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r =
        api.call_subject(Method::GET, "/v3/auth/tokens", Some(&admin), Some(&ac_token), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert_eq!(api.app_cred_token(&id, &secret).await.status, StatusCode::UNAUTHORIZED);
    let reader = api.role_id(&admin, "reader").await;
    api.call(
        Method::PUT,
        &format!("/v3/projects/{demo}/users/{alice}/roles/{reader}"),
        Some(&admin),
        None,
    )
    .await;
    let r = api.app_cred_token(&id, &secret).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(names(&r.body["token"]["roles"]), vec!["reader"]);
    let ac_token = r.subject.unwrap();

    // Deleting it: its tokens stop validating; it is gone.
    let r = api.call(Method::DELETE, &format!("{coll}/{id}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r =
        api.call_subject(Method::GET, "/v3/auth/tokens", Some(&admin), Some(&ac_token), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::GET, &format!("{coll}/{id}"), Some(&admin), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.call(Method::DELETE, &format!("{coll}/{id}"), Some(&admin), None).await.status,
        StatusCode::NOT_FOUND
    );

    // Deleting the user deletes the rest, and their name index.
    let r = api.call(Method::DELETE, &format!("/v3/users/{alice}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(api.svc.store().list_all("identity/app_creds/").await.unwrap().is_empty());
    assert!(
        api.svc
            .store()
            .list_all("identity/names/application_credential/")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(api.app_cred_token(&free, "chosen-secret").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn expired_application_credentials_do_not_authenticate() {
    let api = Api::new().await;
    let (_admin, alice, _demo, tok) = api.setup().await;
    let soon = time::OffsetDateTime::now_utc() + time::Duration::seconds(2);
    let r = api
        .call(Method::POST, &format!("/v3/users/{alice}/application_credentials"), Some(&tok), Some(json!({"application_credential": {
            "name": "short", "secret": "s", "expires_at": ferrostack_core::time::keystone_format(soon)}})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["application_credential"]["id"].as_str().unwrap().to_owned();
    let r = api.app_cred_token(&id, "s").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // The token does not outlive the credential (CVE-2022-2447).
    let exp = r.body["token"]["expires_at"].as_str().unwrap();
    let exp =
        time::OffsetDateTime::parse(exp, &time::format_description::well_known::Rfc3339).unwrap();
    assert!(exp <= soon, "{exp} > {soon}");
    // Wait until it has expired (no upper bound is asserted).
    while time::OffsetDateTime::now_utc() <= soon + time::Duration::seconds(1) {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(api.app_cred_token(&id, "s").await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn credentials_are_encrypted_and_owned() {
    let api = Api::new().await;
    let (admin, alice, demo, tok) = api.setup().await;
    let blob = json!({"access": "AKIA-test", "secret": "very-secret-key"}).to_string();
    let r = api
        .call(
            Method::POST,
            "/v3/credentials",
            Some(&admin),
            Some(json!({"credential": {
            "type": "ec2", "user_id": alice, "project_id": demo, "blob": blob}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["credential"]["id"].as_str().unwrap().to_owned();
    assert_eq!(id, ec2::credential_id("AKIA-test"));
    assert_eq!(r.body["credential"]["blob"], blob.as_str());
    // Encrypted at rest with the credential key repository next to the token keys.
    let raw = api.svc.store().list_all("identity/credentials/").await.unwrap();
    assert_eq!(raw.len(), 1);
    assert!(!String::from_utf8_lossy(&raw[0].value).contains("very-secret-key"));
    assert!(api._dir.path().join("credential-keys").join("0").exists());
    // Same access key again: 409.
    let r = api
        .call(
            Method::POST,
            "/v3/credentials",
            Some(&admin),
            Some(json!({"credential": {
            "type": "ec2", "user_id": alice, "project_id": demo, "blob": blob}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);

    // Alice sees and manages her own; a cert credential of admin's is invisible to her.
    let r = api
        .call(Method::POST, "/v3/credentials", Some(&admin), Some(json!({"credential": {
            "type": "cert", "user_id": api.call(Method::GET, "/v3/users?name=admin", Some(&admin), None).await.body["users"][0]["id"], "blob": "PEM"}})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let cert = r.body["credential"]["id"].as_str().unwrap().to_owned();
    assert_eq!(cert.len(), 32);
    let r = api.call(Method::GET, "/v3/credentials", Some(&tok), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["credentials"].as_array().unwrap().len(), 1);
    let r = api.call(Method::GET, "/v3/credentials", Some(&admin), None).await;
    assert_eq!(r.body["credentials"].as_array().unwrap().len(), 2);
    let r = api.call(Method::GET, "/v3/credentials?type=cert", Some(&admin), None).await;
    assert_eq!(r.body["credentials"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.call(Method::GET, &format!("/v3/credentials/{cert}"), Some(&tok), None).await.status,
        StatusCode::FORBIDDEN
    );
    let r = api.call(Method::GET, &format!("/v3/credentials/{id}"), Some(&tok), None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["credential"]["blob"], blob.as_str());

    // PATCH only the blob; scope keys of an ec2 blob cannot change.
    let new_blob = json!({"access": "AKIA-test", "secret": "rotated"}).to_string();
    let r = api
        .call(
            Method::PATCH,
            &format!("/v3/credentials/{id}"),
            Some(&tok),
            Some(json!({"credential": {"blob": new_blob}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        api.call(Method::GET, &format!("/v3/credentials/{id}"), Some(&tok), None).await.body["credential"]
            ["blob"],
        new_blob.as_str()
    );
    let r = api
        .call(
            Method::PATCH,
            &format!("/v3/credentials/{id}"),
            Some(&tok),
            Some(json!({"credential": {"blob": new_blob, "user_id": "x"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = api
        .call(Method::PATCH, &format!("/v3/credentials/{id}"), Some(&tok), Some(json!({"credential": {"blob": json!({"access": "AKIA-test", "trust_id": "t"}).to_string()}})))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Bad input: 400; unknown: 404 for an admin.
    for bad in [
        json!({"credential": {"type": "ec2", "user_id": alice, "blob": blob}}),
        json!({"credential": {"type": "ec2", "user_id": alice, "project_id": demo, "blob": "not json"}}),
        json!({"credential": {"type": "ec2", "user_id": alice, "project_id": demo, "blob": "{\"secret\": \"x\"}"}}),
        json!({"credential": {"type": "ec2", "user_id": alice, "project_id": demo, "blob": {"access": "x"}}}),
        json!({"credential": {"user_id": alice, "blob": "x"}}),
        json!({"nothing": 1}),
    ] {
        let r = api.call(Method::POST, "/v3/credentials", Some(&admin), Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }
    assert_eq!(
        api.call(Method::GET, "/v3/credentials/nope", Some(&admin), None).await.status,
        StatusCode::NOT_FOUND
    );

    // Delete; deleting the user removes the rest.
    assert_eq!(
        api.call(Method::DELETE, &format!("/v3/credentials/{id}"), Some(&tok), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(Method::DELETE, &format!("/v3/credentials/{id}"), Some(&admin), None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = api
        .call(
            Method::POST,
            &format!("/v3/users/{alice}/credentials/OS-EC2"),
            Some(&tok),
            Some(json!({"tenant_id": demo})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    api.call(Method::DELETE, &format!("/v3/users/{alice}"), Some(&admin), None).await;
    assert_eq!(
        api.svc.store().list_all("identity/credentials/").await.unwrap().len(),
        1,
        "only admin's cert is left"
    );
}

fn sign_v2(secret: &str, access: &str) -> SignedRequest {
    let mut req = SignedRequest {
        access: access.into(),
        host: "127.0.0.1:8773".into(),
        verb: "GET".into(),
        path: "/".into(),
        ..SignedRequest::default()
    };
    for (k, v) in [
        ("Action", "DescribeInstances"),
        ("AWSAccessKeyId", access),
        ("SignatureVersion", "2"),
        ("SignatureMethod", "HmacSHA256"),
        ("Timestamp", &ferrostack_core::time::keystone_format(time::OffsetDateTime::now_utc())),
    ] {
        req.params.insert(k.into(), v.into());
    }
    req.signature = Some(ec2::signature(secret, &req).unwrap());
    req
}

fn ec2_body(r: &SignedRequest) -> Value {
    json!({"credentials": {"access": r.access, "signature": r.signature, "host": r.host,
        "verb": r.verb, "path": r.path, "params": r.params, "headers": r.headers, "body_hash": r.body_hash}})
}

#[tokio::test]
async fn ec2_credentials_and_tokens() {
    let api = Api::new().await;
    let (admin, alice, demo, tok) = api.setup().await;
    let coll = format!("/v3/users/{alice}/credentials/OS-EC2");
    let r = api.call(Method::POST, &coll, Some(&tok), Some(json!({"tenant_id": demo}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let c = &r.body["credential"];
    let (access, secret) =
        (c["access"].as_str().unwrap().to_owned(), c["secret"].as_str().unwrap().to_owned());
    assert_eq!(c["tenant_id"], demo.as_str());
    assert_eq!(c["user_id"], alice.as_str());
    assert_eq!(c["links"]["self"], format!("{BASE}/v3/users/{alice}/credentials/OS-EC2/{access}"));
    let r = api.call(Method::GET, &coll, Some(&tok), None).await;
    assert_eq!(r.body["credentials"].as_array().unwrap().len(), 1);
    let r = api.call(Method::GET, &format!("{coll}/{access}"), Some(&tok), None).await;
    assert_eq!(r.body["credential"]["secret"], secret.as_str());
    // It is also a /v3/credentials credential with Keystone's id.
    let r = api
        .call(
            Method::GET,
            &format!("/v3/credentials/{}", ec2::credential_id(&access)),
            Some(&tok),
            None,
        )
        .await;
    assert_eq!(r.body["credential"]["type"], "ec2");
    // Unknown project: 404; unknown access key: 404.
    let r = api.call(Method::POST, &coll, Some(&tok), Some(json!({"tenant_id": "nope"}))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::GET, &format!("{coll}/nope"), Some(&tok), None).await.status,
        StatusCode::NOT_FOUND
    );

    // ec2tokens: a correct signature gives a token scoped to the credential's project.
    let req = sign_v2(&secret, &access);
    let r = api.call(Method::POST, "/v3/ec2tokens", Some(&admin), Some(ec2_body(&req))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["token"]["methods"], json!(["ec2credential"]));
    assert_eq!(r.body["token"]["project"]["id"], demo.as_str());
    assert_eq!(r.body["token"]["user"]["id"], alice.as_str());
    let ec2_token = r.subject.unwrap();
    // An EC2-derived token is delegated: no rescoping, no credential management.
    let r = api.auth(json!({"identity": {"methods": ["token"], "token": {"id": ec2_token}}})).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        api.call(Method::GET, &coll, Some(&ec2_token), None).await.status,
        StatusCode::FORBIDDEN
    );

    // Wrong secret, tampered parameter, missing signature: 401.
    let r = api
        .call(
            Method::POST,
            "/v3/ec2tokens",
            Some(&admin),
            Some(ec2_body(&sign_v2("wrong", &access))),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let mut tampered = req.clone();
    tampered.params.insert("Action".into(), "TerminateInstances".into());
    let r = api.call(Method::POST, "/v3/ec2tokens", Some(&admin), Some(ec2_body(&tampered))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let mut unsigned = req.clone();
    unsigned.signature = None;
    let r = api.call(Method::POST, "/v3/ec2tokens", Some(&admin), Some(ec2_body(&unsigned))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // An old timestamp: 401.
    let mut old = req.clone();
    old.params.insert("Timestamp".into(), "2001-01-01T00:00:00Z".into());
    old.signature = Some(ec2::signature(&secret, &old).unwrap());
    let r = api.call(Method::POST, "/v3/ec2tokens", Some(&admin), Some(ec2_body(&old))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // The far future does not overflow (and is not expired).
    let mut future = req.clone();
    future.params.insert("Timestamp".into(), "9999-12-31T23:59:59Z".into());
    future.signature = Some(ec2::signature(&secret, &future).unwrap());
    let r = api.call(Method::POST, "/v3/ec2tokens", Some(&admin), Some(ec2_body(&future))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Unknown access key: 404; empty body: 400; no access: 401; not a service: 403; no token: 401.
    let r = api
        .call(
            Method::POST,
            "/v3/ec2tokens",
            Some(&admin),
            Some(ec2_body(&sign_v2(&secret, "unknown"))),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::POST, "/v3/ec2tokens", Some(&admin), Some(json!({}))).await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        api.call(
            Method::POST,
            "/v3/ec2tokens",
            Some(&admin),
            Some(json!({"credentials": {"signature": "x"}}))
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.call(Method::POST, "/v3/ec2tokens", Some(&tok), Some(ec2_body(&req))).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        api.call(Method::POST, "/v3/ec2tokens", None, Some(ec2_body(&req))).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Deleted: gone, and no more tokens.
    assert_eq!(
        api.call(Method::DELETE, &format!("{coll}/{access}"), Some(&tok), None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call(Method::GET, &format!("{coll}/{access}"), Some(&tok), None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = api.call(Method::POST, "/v3/ec2tokens", Some(&admin), Some(ec2_body(&req))).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn disabling_the_owner_or_deleting_the_role_deletes_application_credentials() {
    let api = Api::new().await;
    let (admin, alice, demo, tok) = api.setup().await;
    let coll = format!("/v3/users/{alice}/application_credentials");
    let create = |name: &'static str| {
        let (api, coll, tok) = (&api, coll.clone(), tok.clone());
        async move {
            let r = api
                .call(
                    Method::POST,
                    &coll,
                    Some(&tok),
                    Some(json!({"application_credential": {"name": name}})),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        }
    };
    create("one").await;
    let count = || async {
        api.call(Method::GET, &coll, Some(&admin), None).await.body["application_credentials"]
            .as_array()
            .unwrap()
            .len()
    };
    assert_eq!(count().await, 1);
    // Disabling alice deletes it (Keystone's callback on user disable).
    let r = api
        .call(
            Method::PATCH,
            &format!("/v3/users/{alice}"),
            Some(&admin),
            Some(json!({"user": {"enabled": false}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(count().await, 0);
    api.call(
        Method::PATCH,
        &format!("/v3/users/{alice}"),
        Some(&admin),
        Some(json!({"user": {"enabled": true}})),
    )
    .await;

    // Deleting a role alice holds on demo deletes her credentials on demo.
    let r = api
        .call(Method::POST, "/v3/roles", Some(&admin), Some(json!({"role": {"name": "extra"}})))
        .await;
    let extra = r.body["role"]["id"].as_str().unwrap().to_owned();
    api.call(
        Method::PUT,
        &format!("/v3/projects/{demo}/users/{alice}/roles/{extra}"),
        Some(&admin),
        None,
    )
    .await;
    // Disabling revoked alice's tokens up to this second (Keystone's whole-second events):
    // the new token must be issued in a later second.
    let revoked_at = time::OffsetDateTime::now_utc().unix_timestamp();
    while time::OffsetDateTime::now_utc().unix_timestamp() <= revoked_at {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let tok = api.password_token("alice", "alicepw", "demo").await;
    let r = api
        .call(
            Method::POST,
            &coll,
            Some(&tok),
            Some(json!({"application_credential": {"name": "two", "roles": [{"name": "member"}]}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(count().await, 1);
    let r = api.call(Method::DELETE, &format!("/v3/roles/{extra}"), Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(count().await, 0);
}
