// SPDX-License-Identifier: Apache-2.0
//! Differential test against Keystone's own Fernet formatter (venv-keystone, pinned by
//! `scripts/test-env/keystone.sh`): one key repository, tokens issued by each side validated
//! by the other, and the msgpack plaintexts compared byte for byte.

use ferrostack_core::testing::{cache_dir, prerequisite};
use ferrostack_identity::fernet::KeyRepository;
use ferrostack_identity::token::{self, PayloadScope, TokenFormatter, TokenPayload};
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use time::macros::datetime;

const USER: &str = "0123456789abcdef0123456789abcdef";
const PROJECT: &str = "fedcba9876543210fedcba9876543210";
const DOMAIN: &str = "aaaabbbbccccddddeeeeffff00001111";
const APP_CRED: &str = "1234567890abcdef1234567890abcdef";

fn keystone(python: &std::path::Path, req: &Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keystone_fernet.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(req.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "keystone helper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn cases() -> Vec<(Value, TokenPayload)> {
    let audit = vec!["AAECAwQFBgcICQoLDA0ODw".to_owned()];
    let expires = datetime!(2030-01-02 03:04:05 UTC);
    let mk = |scope: PayloadScope, methods: &[&str], user: &str| TokenPayload {
        user_id: user.into(),
        methods: methods.iter().map(|m| m.to_string()).collect(),
        scope,
        expires_at: expires,
        audit_ids: audit.clone(),
        issued_at: expires,
    };
    let spec = |version: u8, user: &str, methods: &[&str], extra: Value| {
        let mut v = json!({"version": version, "user_id": user, "methods": methods,
            "expires_at": "2030-01-02T03:04:05.000000Z", "audit_ids": audit});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    };
    vec![
        (spec(0, USER, &["password"], json!({})), mk(PayloadScope::Unscoped, &["password"], USER)),
        (
            spec(2, USER, &["token", "password"], json!({"project_id": PROJECT})),
            mk(PayloadScope::Project(PROJECT.into()), &["token", "password"], USER),
        ),
        (
            spec(2, "ldap-user", &["password"], json!({"project_id": "not-a-uuid"})),
            mk(PayloadScope::Project("not-a-uuid".into()), &["password"], "ldap-user"),
        ),
        (
            spec(1, USER, &["password"], json!({"domain_id": DOMAIN})),
            mk(PayloadScope::Domain(DOMAIN.into()), &["password"], USER),
        ),
        (
            spec(1, USER, &["password"], json!({"domain_id": "default"})),
            mk(PayloadScope::Domain("default".into()), &["password"], USER),
        ),
        (
            spec(8, USER, &["password"], json!({"system": "all"})),
            mk(PayloadScope::System("all".into()), &["password"], USER),
        ),
        // An application credential's token (version 9).
        (
            spec(
                9,
                USER,
                &["application_credential"],
                json!({"project_id": PROJECT, "app_cred_id": APP_CRED}),
            ),
            mk(
                PayloadScope::ApplicationCredential {
                    project_id: PROJECT.into(),
                    app_cred_id: APP_CRED.into(),
                },
                &["application_credential"],
                USER,
            ),
        ),
        // A token from /v3/ec2tokens: the `ec2credential` method bit (64) of Keystone 30.
        (
            spec(2, USER, &["ec2credential"], json!({"project_id": PROJECT})),
            mk(PayloadScope::Project(PROJECT.into()), &["ec2credential"], USER),
        ),
    ]
}

#[test]
fn fernet_tokens_interoperate_with_keystone() {
    let python = cache_dir().join("venv-keystone").join("bin").join("python");
    if !prerequisite(
        python.exists(),
        "fernet_tokens_interoperate_with_keystone",
        "Keystone (venv-keystone)",
        "run scripts/test-env/keystone.sh",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = KeyRepository::new(dir.path().join("keys"), 3);
    repo.setup().unwrap();
    repo.rotate().unwrap(); // keys 0 (staged), 1, 2 (primary)
    let ours = TokenFormatter::new(repo.load().unwrap(), "default");
    let cases = cases();
    let specs: Vec<Value> = cases.iter().map(|c| c.0.clone()).collect();

    // 1. The plaintexts are byte-identical.
    let mine: Vec<Value> =
        cases.iter().map(|(_, p)| json!(hex(&token::assemble(p, "default").unwrap()))).collect();
    let theirs = keystone(&python, &json!({"repo": repo.dir(), "assemble": specs}));
    assert_eq!(theirs["assembled"].as_array().unwrap(), &mine);

    // 2. Keystone validates our tokens.
    let tokens: Vec<String> = cases.iter().map(|(_, p)| ours.issue(p).unwrap()).collect();
    let v = keystone(&python, &json!({"repo": repo.dir(), "validate": tokens}));
    for ((spec, _), got) in cases.iter().zip(v["validated"].as_array().unwrap()) {
        assert!(got.get("error").is_none(), "{spec}: {got}");
        assert_eq!(got["user_id"], spec["user_id"]);
        assert_eq!(got["methods"], spec["methods"]);
        assert_eq!(got["audit_ids"], spec["audit_ids"]);
        assert_eq!(got["expires_at"], spec["expires_at"]);
        for k in ["project_id", "domain_id", "system", "app_cred_id"] {
            assert_eq!(got[k], spec.get(k).cloned().unwrap_or(Value::Null), "{k} of {spec}");
        }
    }

    // 3. We validate Keystone's tokens, including ones made with the staged key after a
    //    rotation by us (Keystone encrypts with the highest key it finds).
    let issued = keystone(&python, &json!({"repo": repo.dir(), "issue": specs}));
    for ((_, want), t) in cases.iter().zip(issued["issued"].as_array().unwrap()) {
        let t = t.as_str().unwrap();
        assert!(!t.ends_with('='));
        let got = ours.read(t).unwrap();
        assert_eq!(got.user_id, want.user_id);
        assert_eq!(got.scope, want.scope);
        assert_eq!(got.methods, want.methods);
        assert_eq!(got.audit_ids, want.audit_ids);
        assert_eq!(got.expires_at, want.expires_at);
    }
    repo.rotate().unwrap();
    let rotated = TokenFormatter::new(repo.load().unwrap(), "default");
    let again = keystone(&python, &json!({"repo": repo.dir(), "issue": [cases[1].0]}));
    let t = again["issued"][0].as_str().unwrap();
    assert_eq!(rotated.read(t).unwrap().scope, cases[1].1.scope);
    // A token from our old primary still validates on both sides while its key is a secondary.
    let v = keystone(&python, &json!({"repo": repo.dir(), "validate": [tokens[1]]}));
    assert!(v["validated"][0].get("error").is_none());
    // Tampering is refused by Keystone too.
    let mut bad = tokens[1].clone().into_bytes();
    let i = bad.len() / 2;
    bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
    let v = keystone(
        &python,
        &json!({"repo": repo.dir(), "validate": [String::from_utf8(bad).unwrap()]}),
    );
    assert!(v["validated"][0].get("error").is_some());
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
