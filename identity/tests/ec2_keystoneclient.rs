// SPDX-License-Identifier: Apache-2.0
//! Differential test of EC2 signatures against keystoneclient's `Ec2Signer`, the signer
//! Keystone's `/v3/ec2tokens` itself uses (venv-keystone, `scripts/test-env/keystone.sh`):
//! every case signed by Python is accepted by our `/v3/ec2tokens`, and our signer computes the
//! same bytes.

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use ferrostack_core::testing::{cache_dir, prerequisite};
use ferrostack_identity::ec2::{self, SignedRequest};
use ferrostack_identity::http::router;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use tower::ServiceExt;

const BASE: &str = "http://127.0.0.1:9/identity";

fn python_sign(python: &std::path::Path, cases: &Value) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ec2_signer.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(cases.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "signer failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Value>(&out.stdout).unwrap().as_array().unwrap().clone()
}

async fn call(app: &Router, token: &str, body: Value) -> (StatusCode, Value) {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v3/ec2tokens")
        .header("x-auth-token", token)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn to_signed(c: &Value) -> SignedRequest {
    let map = |k: &str| {
        c.get(k)
            .and_then(Value::as_object)
            .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect())
            .unwrap_or_default()
    };
    let s = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
    SignedRequest {
        access: s("access"),
        signature: c.get("signature").and_then(Value::as_str).map(str::to_owned),
        host: s("host"),
        verb: s("verb"),
        path: s("path"),
        params: map("params"),
        headers: map("headers"),
        body_hash: s("body_hash"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ec2_signatures_match_keystoneclient() {
    let python = cache_dir().join("venv-keystone").join("bin").join("python");
    if !prerequisite(
        python.exists(),
        "ec2_signatures_match_keystoneclient",
        "keystoneclient (venv-keystone)",
        "run scripts/test-env/keystone.sh",
    ) {
        return;
    }
    let (svc, _dir) = common::service(BASE).await;
    let app = router(svc.clone(), BASE);
    // Admin token (ec2tokens is for services and administrators) and an EC2 credential.
    let auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": common::ADMIN_PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
    let req = Request::builder()
        .method(Method::POST)
        .uri("/v3/auth/tokens")
        .header("content-type", "application/json")
        .body(Body::from(auth.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let admin = resp.headers()["x-subject-token"].to_str().unwrap().to_owned();
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let tok: Value = serde_json::from_slice(&bytes).unwrap();
    let (user, project) = (&tok["token"]["user"]["id"], &tok["token"]["project"]["id"]);
    let r = Request::builder()
        .method(Method::POST)
        .uri(format!("/v3/users/{}/credentials/OS-EC2", user.as_str().unwrap()))
        .header("x-auth-token", &admin)
        .header("content-type", "application/json")
        .body(Body::from(json!({"tenant_id": project}).to_string()))
        .unwrap();
    let bytes =
        app.clone().oneshot(r).await.unwrap().into_body().collect().await.unwrap().to_bytes();
    let cred: Value = serde_json::from_slice(&bytes).unwrap();
    let access = cred["credential"]["access"].as_str().unwrap().to_owned();
    let secret = cred["credential"]["secret"].as_str().unwrap().to_owned();

    let now = time::OffsetDateTime::now_utc();
    let iso = ferrostack_core::time::keystone_format(now);
    let amz = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let day = &amz[..8];
    let body_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    let cases = [
        // v2, the EC2 API's usual form, with characters that need quoting.
        json!({"access": access, "host": "127.0.0.1:8773", "verb": "GET", "path": "/services/Cloud/",
            "params": {"Action": "DescribeInstances", "AWSAccessKeyId": access, "SignatureVersion": "2",
                "SignatureMethod": "HmacSHA256", "Timestamp": iso, "Filter.1.Name": "tag:x y/z",
                "Filter.1.Value.1": "é+&=~"}}),
        // v2 POST signed without the port (accepted on retry without it).
        json!({"access": access, "host": "ec2.example.com", "verb": "POST", "path": "/",
            "params": {"Action": "RunInstances", "SignatureVersion": "2", "Timestamp": iso}}),
        // v4 in the Authorization header.
        json!({"access": access, "host": "127.0.0.1:8773", "verb": "GET", "path": "/",
            "params": {"Action": "DescribeRegions", "Version": "2016-11-15"},
            "headers": {"Host": "127.0.0.1:8773", "X-Amz-Date": amz,
                "Authorization": format!("AWS4-HMAC-SHA256 Credential={access}/{day}/RegionOne/ec2/aws4_request, SignedHeaders=host;x-amz-date, Signature=x")},
            "body_hash": body_hash}),
        // v4 POST (no query string signed), extra unsigned header.
        json!({"access": access, "host": "127.0.0.1:8773", "verb": "POST", "path": "/",
            "params": {"Action": "DescribeRegions"},
            "headers": {"Host": "127.0.0.1:8773", "X-Amz-Date": amz, "Content-Type": "application/x-www-form-urlencoded",
                "Authorization": format!("AWS4-HMAC-SHA256 Credential={access}/{day}/RegionOne/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=x")},
            "body_hash": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}),
        // v4 in query parameters (a presigned URL).
        json!({"access": access, "host": "127.0.0.1:8773", "verb": "GET", "path": "/bucket/key",
            "params": {"X-Amz-Algorithm": "AWS4-HMAC-SHA256", "X-Amz-Credential": format!("{access}/{day}/RegionOne/s3/aws4_request"),
                "X-Amz-Date": amz, "X-Amz-Expires": "300", "X-Amz-SignedHeaders": "host"},
            "headers": {"Host": "127.0.0.1:8773"}, "body_hash": "UNSIGNED-PAYLOAD"}),
    ];
    let signed: Vec<Value> =
        cases.iter().map(|c| json!({"secret": secret, "credentials": c})).collect();
    let theirs = python_sign(&python, &json!(signed));
    let wrong: Vec<Value> =
        cases.iter().map(|c| json!({"secret": "not-the-secret", "credentials": c})).collect();
    let wrong = python_sign(&python, &json!(wrong));
    for (i, (case, sig)) in cases.iter().zip(&theirs).enumerate() {
        let sig = sig.as_str().unwrap_or_else(|| panic!("case {i}: {sig}"));
        let mut ours = to_signed(case);
        // The second case signs without the port but is sent with it.
        let mut sent = case.clone();
        if i == 1 {
            sent["host"] = json!("ec2.example.com:8773");
        }
        assert_eq!(ec2::signature(&secret, &ours).unwrap(), sig, "case {i}");
        ours.signature = Some(sig.to_owned());
        assert!(ec2::verify(&secret, &ours), "case {i}");
        sent["signature"] = json!(sig);
        let (status, body) = call(&app, &admin, json!({"credentials": sent})).await;
        assert_eq!(status, StatusCode::OK, "case {i}: {body}");
        assert_eq!(body["token"]["methods"], json!(["ec2credential"]));
        assert_eq!(&body["token"]["project"]["id"], project);
        let mut bad = case.clone();
        bad["signature"] = wrong[i].clone();
        let (status, body) = call(&app, &admin, json!({"ec2Credentials": bad})).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "case {i}: {body}");
    }
}
