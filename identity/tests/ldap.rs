// SPDX-License-Identifier: Apache-2.0
//! The LDAP identity backend against a real OpenLDAP slapd on loopback, through the Keystone
//! v3 router: listing and reading users and groups, password authentication by bind,
//! disabled users, filter injection, group membership, roles through an LDAP group, the
//! read-only answers, and recovery after slapd restarts.
//!
//! Each test starts its own slapd (private cn=config and MDB database in a temporary
//! directory, a free port on 127.0.0.1) and kills it by pid when it ends. slapd is installed
//! by `scripts/test-env/slapd.sh`; without it the tests are skipped visibly (under CI they
//! fail).

mod common;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use common::Resp;
use ferrostack_core::store::MemoryStore;
use ferrostack_core::testing::prerequisite;
use ferrostack_identity::http::router;
use ferrostack_identity::ldap::{LdapConfig, LdapDirectory, QueryScope};
use ferrostack_identity::password::HashParams;
use ferrostack_identity::{BootstrapOptions, IdentityApi, IdentityConfig, IdentityService};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tower::ServiceExt;

const BASE: &str = "http://127.0.0.1:9/identity";
const SUFFIX: &str = "dc=example,dc=org";
const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
const ADMIN_PW: &str = "directory-secret";
const KEYSTONE_ADMIN_PW: &str = "s3cret-admin";

const SLAPD: &str = "/usr/sbin/slapd";
const SLAPADD: &str = "/usr/sbin/slapadd";

/// A throwaway slapd; killed when dropped.
struct Slapd {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn slapadd(dir: &Path, db: u32, ldif: &str) {
    let file = dir.join(format!("load-{db}.ldif"));
    std::fs::write(&file, ldif).unwrap();
    let out = Command::new(SLAPADD)
        .args(["-n", &db.to_string(), "-F"])
        .arg(dir.join("slapd.d"))
        .arg("-l")
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "slapadd: {}", String::from_utf8_lossy(&out.stderr));
}

/// The directory's entries: users under ou=Users (id attribute cn, login name uid,
/// employeeType FALSE for disabled), groups under ou=UserGroups.
fn data_ldif() -> String {
    let user = |cn: &str, uid: &str, pw: &str, extra: &str| {
        format!(
            "dn: cn={cn},ou=Users,{SUFFIX}\nobjectClass: inetOrgPerson\ncn: {}\nuid: {uid}\n\
             sn: Example\nmail: {uid}@example.org\nuserPassword: {pw}\n{extra}\n",
            cn.replace('\\', "")
        )
    };
    let mut s = format!(
        "dn: {SUFFIX}\nobjectClass: dcObject\nobjectClass: organization\no: Example\ndc: example\n\n\
         dn: ou=Users,{SUFFIX}\nobjectClass: organizationalUnit\nou: Users\n\n\
         dn: ou=UserGroups,{SUFFIX}\nobjectClass: organizationalUnit\nou: UserGroups\n\n"
    );
    s += &user("u-alice", "alice", "alice-pw", "description: Alice\n");
    s += &user("u-bob", "bob", "bob-pw", "employeeType: TRUE\n");
    s += &user("u-carol", "carol", "carol-pw", "employeeType: FALSE\n");
    // A DN that needs RFC 4514 escaping, to check member matching.
    s += &user("u-dave\\, jr", "dave", "dave-pw", "");
    // Names that look like filter syntax: found only by their literal selves.
    s += &user("u-paren", "paren(x)", "paren-pw", "");
    s += &format!(
        "dn: cn=devs,ou=UserGroups,{SUFFIX}\nobjectClass: groupOfNames\ncn: devs\n\
         description: Developers\nmember: cn=u-alice,ou=Users,{SUFFIX}\n\
         member: CN=u-dave\\2C jr, ou=users,{SUFFIX}\n\n\
         dn: cn=ops,ou=UserGroups,{SUFFIX}\nobjectClass: groupOfNames\ncn: ops\n\
         member: cn=u-bob,ou=Users,{SUFFIX}\n\n\
         dn: cn=enabled_users,ou=Users,{SUFFIX}\nobjectClass: groupOfNames\ncn: enabled_users\n\
         member: cn=u-alice,ou=Users,{SUFFIX}\nmember: cn=u-carol,ou=Users,{SUFFIX}\n\n"
    );
    s
}

impl Slapd {
    /// A configured slapd with the test data, started; `None` (after a visible skip) when
    /// slapd is not installed.
    fn start(test: &str) -> Option<Self> {
        let have = Path::new(SLAPD).exists() && Path::new(SLAPADD).exists();
        if !prerequisite(have, test, "slapd", "run scripts/test-env/slapd.sh") {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("slapd.d")).unwrap();
        std::fs::create_dir_all(d.join("db")).unwrap();
        let config = format!(
            "dn: cn=config\nobjectClass: olcGlobal\ncn: config\n\n\
             dn: cn=module{{0}},cn=config\nobjectClass: olcModuleList\ncn: module{{0}}\n\
             olcModulePath: /usr/lib/ldap\nolcModuleLoad: back_mdb\n\n\
             dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema\n\n\
             include: file:///etc/ldap/schema/core.ldif\n\n\
             include: file:///etc/ldap/schema/cosine.ldif\n\n\
             include: file:///etc/ldap/schema/inetorgperson.ldif\n\n\
             dn: olcDatabase={{-1}}frontend,cn=config\nobjectClass: olcDatabaseConfig\n\
             objectClass: olcFrontendConfig\nolcDatabase: {{-1}}frontend\n\n\
             dn: olcDatabase={{0}}config,cn=config\nobjectClass: olcDatabaseConfig\n\
             olcDatabase: {{0}}config\nolcAccess: {{0}}to * by * none\n\n\
             dn: olcDatabase={{1}}mdb,cn=config\nobjectClass: olcDatabaseConfig\n\
             objectClass: olcMdbConfig\nolcDatabase: {{1}}mdb\nolcSuffix: {SUFFIX}\n\
             olcRootDN: {ADMIN_DN}\nolcRootPW: {ADMIN_PW}\nolcDbDirectory: {}\n\
             olcDbMaxSize: 104857600\nolcDbIndex: objectClass eq\n\
             olcAccess: {{0}}to attrs=userPassword by self write by anonymous auth by * none\n\
             olcAccess: {{1}}to * by users read by * none\n",
            d.join("db").display()
        );
        slapadd(d, 0, &config);
        slapadd(d, 1, &data_ldif());
        let mut s = Slapd { dir, port: free_port(), child: None };
        s.run();
        Some(s)
    }

    fn url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.port)
    }

    /// Starts slapd in the foreground (`-d 0`) on the port, waits until it accepts.
    fn run(&mut self) {
        let child = Command::new(SLAPD)
            .args(["-d", "0", "-F"])
            .arg(self.dir.path().join("slapd.d"))
            .arg("-h")
            .arg(format!("ldap://127.0.0.1:{}/", self.port))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..400 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(st)) = c.try_wait()
            {
                panic!("slapd exited: {st}");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("slapd did not listen on port {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}

fn ldap_config(url: String) -> LdapConfig {
    LdapConfig {
        domain: "ldap".into(),
        url,
        user: Some(ADMIN_DN.into()),
        password: Some(ADMIN_PW.into()),
        suffix: SUFFIX.into(),
        query_scope: QueryScope::One,
        // Small pages, so that listings go through RFC 2696 paging.
        page_size: 2,
        user_enabled_attribute: "employeeType".into(),
        connection_timeout: 5,
        query_timeout: 10,
        ..LdapConfig::default()
    }
}

struct Api {
    app: Router,
    svc: Arc<IdentityService>,
    ldap_domain: String,
    _keys: tempfile::TempDir,
}

impl Api {
    async fn new(slapd: &Slapd) -> Self {
        let keys = tempfile::tempdir().unwrap();
        let config = IdentityConfig {
            key_repository: keys.path().join("fernet-keys"),
            password_hashing: HashParams { bcrypt_cost: 4, ..HashParams::default() },
            public_url: BASE.into(),
            ldap: Some(ldap_config(slapd.url())),
            ..IdentityConfig::default()
        };
        let svc = IdentityService::new(Arc::new(MemoryStore::new()), config).await.unwrap();
        svc.bootstrap(&BootstrapOptions {
            admin_username: "admin".into(),
            admin_password: KEYSTONE_ADMIN_PW.into(),
            admin_project: "admin".into(),
            region: "RegionOne".into(),
            identity_url: format!("{BASE}/v3"),
        })
        .await
        .unwrap();
        let svc = Arc::new(svc);
        let ldap_domain = svc.ldap().unwrap().domain_id().to_string();
        Api { app: router(svc.clone(), BASE), svc, ldap_domain, _keys: keys }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        common::request(&self.app, method, path, token, None, body).await
    }

    async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// POST /v3/auth/tokens with a password, the user named in the LDAP domain.
    async fn ldap_login(&self, name: &str, password: &str, scope: Value) -> Resp {
        let mut auth = json!({"identity": {"methods": ["password"], "password": {"user": {
            "name": name, "domain": {"name": "ldap"}, "password": password}}}});
        if !scope.is_null() {
            auth["scope"] = scope;
        }
        self.call(Method::POST, "/v3/auth/tokens", None, Some(json!({"auth": auth}))).await
    }

    async fn admin_token(&self) -> String {
        let auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": KEYSTONE_ADMIN_PW}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}});
        let r = self.call(Method::POST, "/v3/auth/tokens", None, Some(auth)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.subject.unwrap()
    }
}

fn names(v: &Value, key: &str) -> Vec<String> {
    let mut out: Vec<String> = v[key]
        .as_array()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn users_and_groups_are_listed_and_read_from_the_directory() {
    let Some(slapd) = Slapd::start("users_and_groups_are_listed_and_read_from_the_directory")
    else {
        return;
    };
    let api = Api::new(&slapd).await;
    let admin = api.admin_token().await;
    let d = &api.ldap_domain;

    let r = api.get(&format!("/v3/users?domain_id={d}"), &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(names(&r.body, "users"), ["alice", "bob", "carol", "dave", "paren(x)"]);
    // Without a domain filter a listing is about the token's domain (Keystone with
    // domain-specific drivers): the admin project's, the default domain.
    let r = api.get("/v3/users", &admin).await;
    assert_eq!(names(&r.body, "users"), ["admin"]);
    let r = api.get("/v3/groups", &admin).await;
    assert_eq!(names(&r.body, "groups"), Vec::<String>::new());
    let r = api.get("/v3/users?domain_id=default", &admin).await;
    assert_eq!(names(&r.body, "users"), ["admin"]);
    let r = api.get(&format!("/v3/users?domain_id={d}&name=bob"), &admin).await;
    assert_eq!(names(&r.body, "users"), ["bob"]);

    let r = api.get("/v3/users/u-alice", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let u = &r.body["user"];
    assert_eq!(u["id"], "u-alice");
    assert_eq!(u["name"], "alice");
    assert_eq!(u["domain_id"], d.as_str());
    assert_eq!(u["email"], "alice@example.org");
    assert_eq!(u["enabled"], true);
    let r = api.get("/v3/users/u-carol", &admin).await;
    assert_eq!(r.body["user"]["enabled"], false, "employeeType FALSE disables");
    let r = api.get("/v3/users/u-dave,%20jr", &admin).await;
    assert_eq!(r.body["user"]["name"], "dave", "{}", r.body);
    let r = api.get("/v3/users/u-nobody", &admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);

    let r = api.get(&format!("/v3/groups?domain_id={d}"), &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(names(&r.body, "groups"), ["devs", "ops"]);
    let r = api.get("/v3/groups/devs", &admin).await;
    assert_eq!(r.body["group"]["description"], "Developers");
    assert_eq!(r.body["group"]["domain_id"], d.as_str());
    assert_eq!(api.get("/v3/groups/nope", &admin).await.status, StatusCode::NOT_FOUND);

    // The domain was created for the directory and is listed like any other.
    let r = api.get("/v3/domains?name=ldap", &admin).await;
    assert_eq!(r.body["domains"][0]["id"], d.as_str(), "{}", r.body);
}

#[tokio::test]
async fn password_authentication_binds_as_the_user() {
    let Some(slapd) = Slapd::start("password_authentication_binds_as_the_user") else { return };
    let api = Api::new(&slapd).await;
    let admin = api.admin_token().await;

    let r = api.ldap_login("alice", "alice-pw", Value::Null).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["user"]["id"], "u-alice");
    assert_eq!(r.body["token"]["user"]["domain"]["name"], "ldap");
    assert_eq!(r.body["token"]["methods"], json!(["password"]));
    let token = r.subject.unwrap();
    // A normal Fernet token: validates like any other.
    let mut req = Request::builder().method(Method::GET).uri("/v3/auth/tokens");
    req = req.header("x-auth-token", &admin).header("x-subject-token", &token);
    let resp = api.app.clone().oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let ctx = api.svc.context_for_token(&token, "req-ldap").await.unwrap();
    assert_eq!(ctx.user_id.as_str(), "u-alice");
    assert_eq!(ctx.user_domain_id.as_str(), api.ldap_domain);

    // By user id as well as by name.
    let by_id = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "id": "u-bob", "password": "bob-pw"}}}}});
    let r = api.call(Method::POST, "/v3/auth/tokens", None, Some(by_id)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    // Wrong password, unknown user, empty password, disabled user: the same 401 body.
    let wrong = api.ldap_login("alice", "nope", Value::Null).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.body["error"]["code"], 401);
    assert_eq!(
        wrong.body["error"]["message"],
        "The request you have made requires authentication."
    );
    for (user, pw) in [("nobody", "x"), ("alice", ""), ("carol", "carol-pw"), ("bob", "alice-pw")] {
        let r = api.ldap_login(user, pw, Value::Null).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{user}: {}", r.body);
        assert_eq!(r.body["error"], wrong.body["error"], "{user} leaks a difference");
    }
    // The directory's service account is not a Keystone user.
    let r = api.ldap_login("admin", ADMIN_PW, Value::Null).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn hostile_names_match_nothing() {
    let Some(slapd) = Slapd::start("hostile_names_match_nothing") else { return };
    let api = Api::new(&slapd).await;
    let admin = api.admin_token().await;
    let ldap = api.svc.ldap().unwrap().clone();
    for hostile in [
        "*",
        "*)(uid=*",
        "admin)(|(objectClass=*",
        "alice)(|(uid=*",
        "alice*",
        "*)(objectClass=*))(|(uid=*",
        "paren(*",
        "\\2a",
        "alice\0",
    ] {
        assert_eq!(ldap.get_user_by_name(hostile).await.unwrap(), None, "{hostile:?}");
        assert_eq!(ldap.get_user(hostile).await.unwrap(), None, "{hostile:?}");
        assert_eq!(ldap.get_group(hostile).await.unwrap(), None, "{hostile:?}");
        assert_eq!(ldap.get_group_by_name(hostile).await.unwrap(), None, "{hostile:?}");
        assert!(!ldap.check_password(hostile, "alice-pw").await.unwrap(), "{hostile:?}");
        let r = api.ldap_login(hostile, "alice-pw", Value::Null).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{hostile:?}: {}", r.body);
    }
    // The literal name with parentheses is found, and only by itself.
    assert_eq!(ldap.get_user_by_name("paren(x)").await.unwrap().unwrap().name, "paren(x)");
    assert_eq!(
        api.ldap_login("paren(x)", "paren-pw", Value::Null).await.status,
        StatusCode::CREATED
    );
    // Through the API: names are filtered literally, hostile ids are 404.
    let d = &api.ldap_domain;
    let r = api.get(&format!("/v3/users?domain_id={d}&name=*"), &admin).await;
    assert_eq!(r.body["users"], json!([]), "{}", r.body);
    let r = api.get("/v3/users/*)(cn=*", &admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn group_membership_reads_both_directions() {
    let Some(slapd) = Slapd::start("group_membership_reads_both_directions") else { return };
    let api = Api::new(&slapd).await;
    let admin = api.admin_token().await;

    let r = api.get("/v3/groups/devs/users", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // dave's member value is written differently (CN=, \2C, spaces, case) from his DN.
    assert_eq!(names(&r.body, "users"), ["alice", "dave"]);
    let r = api.get("/v3/groups/ops/users", &admin).await;
    assert_eq!(names(&r.body, "users"), ["bob"]);

    let r = api.get("/v3/users/u-alice/groups", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(names(&r.body, "groups"), ["devs"]);
    let r = api.get("/v3/users/u-dave,%20jr/groups", &admin).await;
    assert_eq!(names(&r.body, "groups"), ["devs"]);
    let r = api.get("/v3/users/u-carol/groups", &admin).await;
    assert_eq!(names(&r.body, "groups"), Vec::<String>::new());

    let head = |path: &'static str| api.call(Method::HEAD, path, Some(&admin), None);
    assert_eq!(head("/v3/groups/devs/users/u-alice").await.status, StatusCode::NO_CONTENT);
    assert_eq!(head("/v3/groups/devs/users/u-bob").await.status, StatusCode::NOT_FOUND);
    assert_eq!(head("/v3/groups/ops/users/u-bob").await.status, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_role_on_an_ldap_group_scopes_its_members() {
    let Some(slapd) = Slapd::start("a_role_on_an_ldap_group_scopes_its_members") else { return };
    let api = Api::new(&slapd).await;
    let admin = api.admin_token().await;

    let r = api
        .call(
            Method::POST,
            "/v3/projects",
            Some(&admin),
            Some(json!({"project": {"name": "ldap-work", "domain_id": "default"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let project = r.body["project"]["id"].as_str().unwrap().to_owned();
    let r = api.get("/v3/roles?name=member", &admin).await;
    let member = r.body["roles"][0]["id"].as_str().unwrap().to_owned();
    let scope = json!({"project": {"id": project}});

    // Before the grant: alice has no role on the project.
    let r = api.ldap_login("alice", "alice-pw", scope.clone()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);

    let grant = format!("/v3/projects/{project}/groups/devs/roles/{member}");
    let r = api.call(Method::PUT, &grant, Some(&admin), None).await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);

    let r = api.ldap_login("alice", "alice-pw", scope.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.body["token"]["project"]["id"], project.as_str());
    let roles: Vec<&str> = r.body["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap())
        .collect();
    assert!(roles.contains(&"member") && roles.contains(&"reader"), "{roles:?}");
    assert!(!roles.contains(&"admin"));
    let token = r.subject.unwrap();
    // The token works against the API as a project member would.
    let r = api.get("/v3/auth/projects", &token).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(names(&r.body, "projects"), ["ldap-work"]);

    // bob is in ops, not devs.
    assert_eq!(
        api.ldap_login("bob", "bob-pw", scope.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    // Effective assignments expand the LDAP group into its members.
    let r = api
        .get(&format!("/v3/role_assignments?effective&scope.project.id={project}"), &admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mut users: Vec<&str> = r.body["role_assignments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["user"]["id"].as_str().unwrap())
        .collect();
    users.sort();
    assert_eq!(users, ["u-alice", "u-dave, jr"]);
    // A direct grant to an LDAP user works too.
    let r = api
        .call(
            Method::PUT,
            &format!("/v3/projects/{project}/users/u-bob/roles/{member}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(api.ldap_login("bob", "bob-pw", scope).await.status, StatusCode::CREATED);
}

#[tokio::test]
async fn writes_to_the_directory_domain_are_refused_with_403() {
    let Some(slapd) = Slapd::start("writes_to_the_directory_domain_are_refused_with_403") else {
        return;
    };
    let api = Api::new(&slapd).await;
    let admin = api.admin_token().await;
    let d = api.ldap_domain.clone();
    let forbidden = |r: Resp, what: &str| {
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{what}: {}", r.body);
        assert_eq!(r.body["error"]["message"], "LDAP does not support write operations", "{what}");
    };
    let call = |m: Method, p: String, b: Option<Value>| {
        let admin = admin.clone();
        let api = &api;
        async move { api.call(m, &p, Some(&admin), b).await }
    };
    forbidden(
        call(
            Method::POST,
            "/v3/users".into(),
            Some(json!({"user": {"name": "eve", "domain_id": d}})),
        )
        .await,
        "create user",
    );
    forbidden(
        call(Method::PATCH, "/v3/users/u-alice".into(), Some(json!({"user": {"enabled": false}})))
            .await,
        "update user",
    );
    forbidden(call(Method::DELETE, "/v3/users/u-alice".into(), None).await, "delete user");
    forbidden(
        call(
            Method::POST,
            "/v3/groups".into(),
            Some(json!({"group": {"name": "g", "domain_id": d}})),
        )
        .await,
        "create group",
    );
    forbidden(
        call(Method::PATCH, "/v3/groups/devs".into(), Some(json!({"group": {"name": "x"}}))).await,
        "update group",
    );
    forbidden(call(Method::DELETE, "/v3/groups/devs".into(), None).await, "delete group");
    forbidden(call(Method::PUT, "/v3/groups/devs/users/u-bob".into(), None).await, "add member");
    forbidden(
        call(Method::DELETE, "/v3/groups/devs/users/u-alice".into(), None).await,
        "remove member",
    );
    // An LDAP user cannot join a store group either (one backend per membership).
    let r = call(
        Method::POST,
        "/v3/groups".into(),
        Some(json!({"group": {"name": "sql-group", "domain_id": "default"}})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let gid = r.body["group"]["id"].as_str().unwrap().to_owned();
    forbidden(call(Method::PUT, format!("/v3/groups/{gid}/users/u-alice"), None).await, "cross");
    // The user changing their own password.
    let alice = api.ldap_login("alice", "alice-pw", Value::Null).await.subject.unwrap();
    let r = api
        .call(
            Method::POST,
            "/v3/users/u-alice/password",
            Some(&alice),
            Some(json!({"user": {"original_password": "alice-pw", "password": "new-pw"}})),
        )
        .await;
    forbidden(r, "change password");
    // Nothing changed in the directory.
    assert_eq!(api.ldap_login("alice", "alice-pw", Value::Null).await.status, StatusCode::CREATED);
    let r = api.get("/v3/groups/devs/users", &admin).await;
    assert_eq!(names(&r.body, "users"), ["alice", "dave"]);
    // Unknown users are still 404, not 403.
    let r = call(Method::DELETE, "/v3/users/u-nobody".into(), None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_restarted_slapd_is_reconnected_on_the_next_call() {
    let Some(mut slapd) = Slapd::start("a_restarted_slapd_is_reconnected_on_the_next_call") else {
        return;
    };
    let api = Api::new(&slapd).await;
    let admin = api.admin_token().await;
    let d = api.ldap_domain.clone();
    let list = format!("/v3/users?domain_id={d}");
    assert_eq!(api.get(&list, &admin).await.status, StatusCode::OK);

    slapd.stop();
    // The directory is down: 503, and authentication fails closed.
    let r = api.get(&list, &admin).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let r = api.ldap_login("alice", "alice-pw", Value::Null).await;
    assert!(r.status.is_client_error() || r.status.is_server_error(), "{}", r.status);
    assert_ne!(r.status, StatusCode::CREATED);

    slapd.run();
    let r = api.get(&list, &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(names(&r.body, "users").len(), 5);
    assert_eq!(api.ldap_login("alice", "alice-pw", Value::Null).await.status, StatusCode::CREATED);

    // A restart between two calls, with the service connection already established.
    slapd.stop();
    slapd.run();
    let r = api.get(&list, &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn enabled_emulation_reads_the_enabled_users_group() {
    let Some(slapd) = Slapd::start("enabled_emulation_reads_the_enabled_users_group") else {
        return;
    };
    let config = LdapConfig { user_enabled_emulation: true, ..ldap_config(slapd.url()) };
    let dir = LdapDirectory::new(config, "ldap".parse().unwrap()).unwrap();
    let enabled = |name: &'static str| {
        let dir = &dir;
        async move { dir.get_user_by_name(name).await.unwrap().unwrap().enabled }
    };
    // Membership decides; carol's employeeType FALSE is ignored under emulation.
    assert!(enabled("alice").await);
    assert!(enabled("carol").await);
    assert!(!enabled("bob").await);
    assert!(!enabled("dave").await);
    // Without emulation the attribute decides again.
    let plain = LdapDirectory::new(ldap_config(slapd.url()), "ldap".parse().unwrap()).unwrap();
    assert!(!plain.get_user_by_name("carol").await.unwrap().unwrap().enabled);
    assert!(plain.get_user_by_name("bob").await.unwrap().unwrap().enabled);
}

/// Applies an LDIF change with `ldapmodify` as the directory manager.
fn ldapmodify(slapd: &Slapd, ldif: &str) {
    use std::io::Write;
    let mut child = Command::new("ldapmodify")
        .args(["-x", "-H", &slapd.url(), "-D", ADMIN_DN, "-w", ADMIN_PW])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(ldif.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "ldapmodify: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn directory_changes_reach_issued_tokens() {
    let Some(slapd) = Slapd::start("directory_changes_reach_issued_tokens") else { return };
    let have = Command::new("ldapmodify").arg("-VV").output().is_ok();
    if !prerequisite(have, "directory_changes_reach_issued_tokens", "ldapmodify", "ldap-utils") {
        return;
    }
    // cache_time 0: every validation reads the directory again.
    let mut api = Api::new(&slapd).await;
    let keys = tempfile::tempdir().unwrap();
    let config = IdentityConfig {
        key_repository: keys.path().join("fernet-keys"),
        password_hashing: HashParams { bcrypt_cost: 4, ..HashParams::default() },
        public_url: BASE.into(),
        ldap: Some(LdapConfig { cache_time: 0, ..ldap_config(slapd.url()) }),
        ..IdentityConfig::default()
    };
    let svc = IdentityService::new(api.svc.store().clone(), config).await.unwrap();
    // Same store, so the same LDAP domain is found, not created again.
    assert_eq!(svc.ldap().unwrap().domain_id().as_str(), api.ldap_domain);
    api.svc = Arc::new(svc);
    api.app = router(api.svc.clone(), BASE);
    api._keys = keys;
    let admin = api.admin_token().await;

    let r = api
        .call(
            Method::POST,
            "/v3/projects",
            Some(&admin),
            Some(json!({"project": {"name": "p", "domain_id": "default"}})),
        )
        .await;
    let project = r.body["project"]["id"].as_str().unwrap().to_owned();
    let member = api.get("/v3/roles?name=member", &admin).await.body["roles"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let grant = format!("/v3/projects/{project}/groups/devs/roles/{member}");
    assert_eq!(
        api.call(Method::PUT, &grant, Some(&admin), None).await.status,
        StatusCode::NO_CONTENT
    );
    let r = api.ldap_login("alice", "alice-pw", json!({"project": {"id": project}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let alice = r.subject.unwrap();
    let bob = api.ldap_login("bob", "bob-pw", Value::Null).await.subject.unwrap();
    assert!(api.svc.context_for_token(&alice, "r").await.is_ok());
    assert!(api.svc.context_for_token(&bob, "r").await.is_ok());

    // alice leaves devs in the directory: her project token loses its only role.
    ldapmodify(
        &slapd,
        &format!(
            "dn: cn=devs,ou=UserGroups,{SUFFIX}\nchangetype: modify\ndelete: member\n\
             member: cn=u-alice,ou=Users,{SUFFIX}\n"
        ),
    );
    assert!(api.svc.context_for_token(&alice, "r").await.is_err());
    // bob is disabled in the directory: his token stops validating, he cannot log in.
    ldapmodify(
        &slapd,
        &format!(
            "dn: cn=u-bob,ou=Users,{SUFFIX}\nchangetype: modify\nreplace: employeeType\n\
             employeeType: FALSE\n"
        ),
    );
    assert!(api.svc.context_for_token(&bob, "r").await.is_err());
    assert_eq!(api.ldap_login("bob", "bob-pw", Value::Null).await.status, StatusCode::UNAUTHORIZED);
    // A password changed in the directory is the one that works.
    ldapmodify(
        &slapd,
        &format!(
            "dn: cn=u-alice,ou=Users,{SUFFIX}\nchangetype: modify\nreplace: userPassword\n\
             userPassword: rotated-pw\n"
        ),
    );
    assert_eq!(
        api.ldap_login("alice", "alice-pw", Value::Null).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        api.ldap_login("alice", "rotated-pw", Value::Null).await.status,
        StatusCode::CREATED
    );
}

/// Runs the unmodified `openstack` CLI (venv-osc) with `env` on top of a clean environment.
async fn openstack(bin: &Path, env: &[(&str, &str)], args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(bin)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("OS_IDENTITY_API_VERSION", "3")
        .env("OS_REGION_NAME", "RegionOne")
        .env("OS_INTERFACE", "public")
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cli_sees_and_authenticates_ldap_users() {
    let test = "openstack_cli_sees_and_authenticates_ldap_users";
    let bin = ferrostack_core::testing::cache_dir().join("venv-osc").join("bin").join("openstack");
    if !prerequisite(
        bin.exists(),
        test,
        "the openstack CLI (venv-osc)",
        "run scripts/test-env/openstackclient.sh",
    ) {
        return;
    }
    let Some(slapd) = Slapd::start(test) else { return };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let base = format!("http://{addr}/identity");
    let keys = tempfile::tempdir().unwrap();
    let config = IdentityConfig {
        key_repository: keys.path().join("fernet-keys"),
        password_hashing: HashParams { bcrypt_cost: 4, ..HashParams::default() },
        public_url: base.clone(),
        ldap: Some(ldap_config(slapd.url())),
        ..IdentityConfig::default()
    };
    let svc = IdentityService::new(Arc::new(MemoryStore::new()), config).await.unwrap();
    svc.bootstrap(&BootstrapOptions {
        admin_username: "admin".into(),
        admin_password: KEYSTONE_ADMIN_PW.into(),
        admin_project: "admin".into(),
        region: "RegionOne".into(),
        identity_url: format!("{base}/v3"),
    })
    .await
    .unwrap();
    let app = Router::new().nest("/identity", router(Arc::new(svc), &base));
    let server = tokio::spawn(async move { axum::serve(listener, app).await });
    let auth_url = format!("{base}/v3");
    let admin = [
        ("OS_AUTH_URL", auth_url.as_str()),
        ("OS_USERNAME", "admin"),
        ("OS_PASSWORD", KEYSTONE_ADMIN_PW),
        ("OS_PROJECT_NAME", "admin"),
        ("OS_USER_DOMAIN_NAME", "Default"),
        ("OS_PROJECT_DOMAIN_NAME", "Default"),
    ];
    let json = |args: &'static [&'static str]| {
        let bin = bin.clone();
        async move {
            let mut all = args.to_vec();
            all.extend(["-f", "json"]);
            let (ok, out, err) = openstack(&bin, &admin, &all).await;
            assert!(ok, "openstack {args:?}: {err}\n{out}");
            serde_json::from_str::<Value>(&out).unwrap()
        }
    };
    let column = |v: &Value, key: &str| {
        let mut out: Vec<String> =
            v.as_array().unwrap().iter().map(|x| x[key].as_str().unwrap().to_owned()).collect();
        out.sort();
        out
    };

    let users = json(&["user", "list", "--domain", "ldap"]).await;
    assert_eq!(column(&users, "Name"), ["alice", "bob", "carol", "dave", "paren(x)"]);
    let members = json(&["user", "list", "--domain", "ldap", "--group", "devs"]).await;
    assert_eq!(column(&members, "Name"), ["alice", "dave"]);
    json(&["project", "create", "--domain", "default", "team"]).await;
    let (ok, _, err) = openstack(
        &bin,
        &admin,
        &[
            "role",
            "add",
            "--project",
            "team",
            "--group",
            "devs",
            "--group-domain",
            "ldap",
            "member",
        ],
    )
    .await;
    assert!(ok, "role add: {err}");
    let (ok, _, err) = openstack(
        &bin,
        &admin,
        &["user", "set", "--domain", "ldap", "--email", "x@example.org", "alice"],
    )
    .await;
    assert!(!ok && err.contains("LDAP does not support write operations"), "{err}");

    // alice logs in with her directory password, scoped to the project her group may use.
    let alice = [
        ("OS_AUTH_URL", auth_url.as_str()),
        ("OS_USERNAME", "alice"),
        ("OS_PASSWORD", "alice-pw"),
        ("OS_PROJECT_NAME", "team"),
        ("OS_USER_DOMAIN_NAME", "ldap"),
        ("OS_PROJECT_DOMAIN_NAME", "Default"),
    ];
    let (ok, out, err) = openstack(&bin, &alice, &["token", "issue", "-f", "json"]).await;
    assert!(ok, "token issue as alice: {err}");
    let token: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(token["user_id"], "u-alice");
    let wrong = [("OS_PASSWORD", "wrong"), ("OS_USERNAME", "alice")];
    let env: Vec<(&str, &str)> = alice
        .iter()
        .copied()
        .filter(|(k, _)| !["OS_PASSWORD", "OS_USERNAME"].contains(k))
        .chain(wrong)
        .collect();
    let (ok, _, err) = openstack(&bin, &env, &["token", "issue"]).await;
    assert!(!ok && err.contains("401"), "{err}");
    server.abort();
}

#[tokio::test]
async fn a_url_list_fails_over_to_the_next_server() {
    let Some(slapd) = Slapd::start("a_url_list_fails_over_to_the_next_server") else { return };
    // Nothing listens on the first URL's port.
    let dead = format!("ldap://127.0.0.1:{}", free_port());
    let config = ldap_config(format!("{dead}, {}", slapd.url()));
    let dir = LdapDirectory::new(config, "ldap".parse().unwrap()).unwrap();
    assert_eq!(dir.list_users().await.unwrap().len(), 5);
    assert!(dir.check_password("u-bob", "bob-pw").await.unwrap());
    assert!(!dir.check_password("u-bob", "wrong").await.unwrap());
    // Only dead servers: an error (503 through the API), never a successful check.
    let only_dead = LdapDirectory::new(ldap_config(dead), "ldap".parse().unwrap()).unwrap();
    assert!(only_dead.list_users().await.is_err());
    assert!(only_dead.check_password("u-bob", "bob-pw").await.is_err());
}

#[tokio::test]
async fn the_default_domain_cannot_be_the_directory_domain() {
    let keys = tempfile::tempdir().unwrap();
    let store = Arc::new(MemoryStore::new());
    let base = IdentityConfig {
        key_repository: keys.path().join("fernet-keys"),
        password_hashing: HashParams { bcrypt_cost: 4, ..HashParams::default() },
        public_url: BASE.into(),
        ..IdentityConfig::default()
    };
    let svc = IdentityService::new(store.clone(), base.clone()).await.unwrap();
    svc.bootstrap(&BootstrapOptions {
        admin_username: "admin".into(),
        admin_password: KEYSTONE_ADMIN_PW.into(),
        admin_project: "admin".into(),
        region: "RegionOne".into(),
        identity_url: format!("{BASE}/v3"),
    })
    .await
    .unwrap();
    // No directory is contacted: the configuration is refused first.
    let ldap = LdapConfig { domain: "Default".into(), ..ldap_config("ldap://127.0.0.1:1".into()) };
    let err =
        IdentityService::new(store, IdentityConfig { ldap: Some(ldap), ..base }).await.unwrap_err();
    assert!(err.to_string().contains("default domain"), "{err}");
}
