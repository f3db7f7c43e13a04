// SPDX-License-Identifier: Apache-2.0
//! `SwiftStore` against a real one-replica OpenStack Swift (from PyPI) on loopback.
//!
//! Once per test binary, the harness builds account/container/object rings with Swift's
//! `RingBuilder` (the code behind `swift-ring-builder`), writes the server configs (`mount_check = false`, devices in a temp
//! directory whose filesystem supports user xattrs), and starts the three storage servers and a
//! proxy with tempauth on random loopback ports. The proxy's `cache` filter is a small in-process
//! stand-in for memcached (tempauth keeps its tokens there), so no memcached is needed. A
//! watchdog shell started with the servers kills them by pid and removes the directory once this
//! test process exits. Needs the venv of `scripts/test-env/swift-server.sh`; without it the
//! tests print `SKIPPED` (and fail under CI).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrostack_core::id::ImageId;
use ferrostack_core::testing::{cache_dir, prerequisite};
use ferrostack_image::ImageError;
use ferrostack_image::store::swift::{
    StaticToken, SwiftAuth, SwiftConfig, SwiftError, SwiftSession, SwiftStore, TempAuth,
};
use ferrostack_image::store::{ImageStore, conformance};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;

const USER: &str = "test:tester";
const KEY: &str = "testing";

/// The running cluster: its auth URL.
#[derive(Debug)]
struct Swift {
    auth_url: String,
}

static SWIFT: OnceCell<Option<Swift>> = OnceCell::const_new();

const FAKE_CACHE: &str = r#"
import json

class FakeCache(object):
    """What tempauth and the proxy need of swift.common.memcached.MemcacheRing, in-process."""
    def __init__(self):
        self.d = {}
    def get(self, key, raise_on_error=False):
        return self.d.get(key)
    def set(self, key, value, serialize=True, time=0, min_compress_len=0, raise_on_error=False):
        self.d[key] = json.loads(json.dumps(value)) if serialize else value
    def incr(self, key, delta=1, time=0):
        self.d[key] = int(self.d.get(key) or 0) + delta
        return self.d[key]
    def decr(self, key, delta=1, time=0):
        return self.incr(key, -delta, time)
    def delete(self, key, server_key=None):
        self.d.pop(key, None)
    def set_multi(self, mapping, server_key, serialize=True, time=0, min_compress_len=0):
        for k, v in mapping.items():
            self.set(k, v, serialize)
    def get_multi(self, keys, server_key):
        return [self.d.get(k) for k in keys]

def filter_factory(global_conf, **local_conf):
    cache = FakeCache()
    def make(app):
        def middleware(env, start_response):
            # Test hook: `DELETE /fake-cache/tokens/<account:user>` forgets that user's tempauth
            # token, as if it had expired.
            path = env.get('PATH_INFO', '')
            if path.startswith('/fake-cache/tokens/') and env.get('REQUEST_METHOD') == 'DELETE':
                user = path[len('/fake-cache/tokens/'):]
                token = cache.d.pop('AUTH_/user/' + user, None)
                if token:
                    cache.d.pop('AUTH_/token/' + token, None)
                start_response('204 No Content', [('Content-Length', '0')])
                return [b'']
            env['swift.cache'] = cache
            return app(env, start_response)
        return middleware
    return make
"#;

fn swift_bin() -> Option<PathBuf> {
    let bin = cache_dir().join("venv-swift").join("bin");
    ["swift-proxy-server", "swift-object-server", "swift-ring-builder"]
        .iter()
        .all(|b| bin.join(b).exists())
        .then_some(bin)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn supports_user_xattr(python: &Path, dir: &Path) -> bool {
    Command::new(python)
        .arg("-c")
        .arg("import os,sys; p=os.path.join(sys.argv[1],'.xattr'); open(p,'w').close(); os.setxattr(p,'user.t',b'x'*200); os.remove(p)")
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

async fn start() -> Option<Swift> {
    let t0 = std::time::Instant::now();
    let bin = swift_bin()?;
    let python = bin.join("python");
    // Devices need user xattrs (Swift keeps object metadata there).
    let base = [std::env::temp_dir(), PathBuf::from("/dev/shm")]
        .into_iter()
        .find(|d| supports_user_xattr(&python, d))?;
    let dir = tempfile::Builder::new().prefix("ferrostack-swift-").tempdir_in(base).unwrap().keep();
    std::fs::create_dir_all(dir.join("dev/d1")).unwrap();
    let d = dir.display();
    std::fs::write(
        dir.join("swift.conf"),
        "[swift-hash]\nswift_hash_path_suffix = ferrostack-test\n\n[storage-policy:0]\nname = gold\ndefault = yes\n",
    )
    .unwrap();
    std::fs::write(dir.join("ferrostack_fakecache.py"), FAKE_CACHE).unwrap();
    let mut servers = Vec::new();
    // Four distinct free ports: the listeners are held until all are chosen.
    let held: Vec<std::net::TcpListener> =
        (0..4).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    let mut free: Vec<u16> = held.iter().map(|l| l.local_addr().unwrap().port()).collect();
    drop(held);
    let proxy_port = free.pop().unwrap();
    let ports: Vec<(&str, u16)> =
        ["account", "container", "object"].into_iter().zip(free).collect();
    // The three one-device rings, built by Swift's RingBuilder (what `swift-ring-builder
    // create/add/rebalance` runs) in one interpreter: nine CLI runs cost seconds each.
    let mut build = String::from("from swift.common.ring import RingBuilder\n");
    for (kind, port) in &ports {
        build += &format!(
            "b = RingBuilder(4, 1, 1)\n\
             b.add_dev({{'region': 1, 'zone': 1, 'ip': '127.0.0.1', 'port': {port}, 'device': 'd1', 'weight': 1}})\n\
             b.rebalance()\nb.save('{d}/{kind}.builder')\nb.get_ring().save('{d}/{kind}.ring.gz')\n"
        );
    }
    run(Command::new(&python).arg("-c").arg(build));
    for (kind, port) in ports {
        let conf = dir.join(format!("{kind}-server.conf"));
        std::fs::write(
            &conf,
            format!(
                "[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {port}\nworkers = 0\nswift_dir = {d}\n\
                 devices = {d}/dev\nmount_check = false\nlog_level = WARNING\n\n\
                 [pipeline:main]\npipeline = {kind}-server\n\n[app:{kind}-server]\nuse = egg:swift#{kind}\n"
            ),
        )
        .unwrap();
        servers.push((bin.join(format!("swift-{kind}-server")), conf));
    }
    let conf = dir.join("proxy-server.conf");
    std::fs::write(
        &conf,
        format!(
            "[DEFAULT]\nbind_ip = 127.0.0.1\nbind_port = {proxy_port}\nworkers = 0\nswift_dir = {d}\nlog_level = WARNING\n\n\
             [pipeline:main]\npipeline = catch_errors gatekeeper cache listing_formats tempauth copy slo dlo proxy-server\n\n\
             [app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n\
             error_suppression_limit = 1000\nerror_suppression_interval = 0\n\n\
             [filter:tempauth]\nuse = egg:swift#tempauth\nuser_test_tester = testing .admin\nuser_expiry_tester = testing .admin\n\n\
             [filter:cache]\npaste.filter_factory = ferrostack_fakecache:filter_factory\n\n\
             [filter:catch_errors]\nuse = egg:swift#catch_errors\n\n[filter:gatekeeper]\nuse = egg:swift#gatekeeper\n\n\
             [filter:listing_formats]\nuse = egg:swift#listing_formats\n\n[filter:copy]\nuse = egg:swift#copy\n\n\
             [filter:slo]\nuse = egg:swift#slo\n\n[filter:dlo]\nuse = egg:swift#dlo\n"
        ),
    )
    .unwrap();
    servers.push((bin.join("swift-proxy-server"), conf));
    eprintln!("swift: rings and configs ready after {:?}", t0.elapsed());

    // One shell starts the servers, then waits for this test process to exit, kills them by pid
    // and removes the directory.
    let mut script = String::from("set -u\npids=''\n");
    for (server, conf) in &servers {
        script += &format!(
            "'{}' '{}' >>'{d}/servers.log' 2>&1 &\npids=\"$pids $!\"\n",
            server.display(),
            conf.display()
        );
    }
    script += &format!(
        "echo $pids > '{d}/pids'\nwhile kill -0 {me} 2>/dev/null; do sleep 0.5; done\n\
         kill $pids 2>/dev/null; sleep 1; kill -9 $pids 2>/dev/null; wait; rm -rf '{d}'\n",
        me = std::process::id()
    );
    #[expect(clippy::zombie_processes, reason = "the watchdog outlives this process on purpose")]
    let _watchdog = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("PYTHONPATH", &dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();

    // Ready when an object can be written and read back through the proxy (so the account,
    // container and object servers all answer: a container PUT alone does not reach the
    // object server, and a first test once got a 503 instead of a 404 from it). The proxy is
    // configured not to suppress storage servers that refused connections while they were
    // starting (else it would answer 503 for a minute).
    let auth_url = format!("http://127.0.0.1:{proxy_port}/auth/v1.0");
    let http = reqwest::Client::new();
    for _ in 0..240 {
        if let Ok(r) =
            http.get(&auth_url).header("X-Auth-User", USER).header("X-Auth-Key", KEY).send().await
            && r.status().is_success()
            && let (Some(url), Some(tok)) =
                (r.headers().get("x-storage-url"), r.headers().get("x-auth-token"))
        {
            let url = format!("{}/ready", url.to_str().unwrap());
            let probe = format!("{url}/probe");
            if let Ok(r) = http
                .put(&url)
                .header("X-Auth-Token", tok)
                .header("Content-Length", "0")
                .send()
                .await
                && r.status().is_success()
                && let Ok(r) = http.put(&probe).header("X-Auth-Token", tok).body("ok").send().await
                && r.status().is_success()
                && let Ok(r) = http.get(&probe).header("X-Auth-Token", tok).send().await
                && r.status().is_success()
            {
                eprintln!("swift: serving after {:?}", t0.elapsed());
                return Some(Swift { auth_url });
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let log = std::fs::read_to_string(dir.join("servers.log")).unwrap_or_default();
    panic!("swift did not come up on loopback; servers.log:\n{log}");
}

/// The shared cluster, or `None` after printing why the test is skipped.
async fn swift(test: &str) -> Option<&'static Swift> {
    let s = SWIFT.get_or_init(start).await.as_ref();
    prerequisite(
        s.is_some(),
        test,
        "OpenStack Swift servers (venv-swift) on a filesystem with user xattrs",
        "run scripts/test-env/swift-server.sh",
    )
    .then(|| s.unwrap())
}

fn unique_container(tag: &str) -> String {
    format!("glance-{tag}-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

fn store(sw: &Swift, container: &str, segment_size: u64) -> SwiftStore {
    let mut c = SwiftConfig::default();
    c.container = container.into();
    c.segment_size = segment_size;
    SwiftStore::new(Arc::new(TempAuth::new(&sw.auth_url, USER, KEY).unwrap()), c).unwrap()
}

async fn session(sw: &Swift) -> (reqwest::Client, String, String) {
    let http = reqwest::Client::new();
    let r = http
        .get(&sw.auth_url)
        .header("X-Auth-User", USER)
        .header("X-Auth-Key", KEY)
        .send()
        .await
        .unwrap();
    let h = r.headers();
    let url = h["x-storage-url"].to_str().unwrap().to_owned();
    let tok = h["x-auth-token"].to_str().unwrap().to_owned();
    (http, url, tok)
}

async fn container_status(sw: &Swift, container: &str) -> u16 {
    let (http, url, tok) = session(sw).await;
    http.head(format!("{url}/{container}"))
        .header("X-Auth-Token", tok)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn swift_store_passes_the_conformance_suite_single_and_segmented() {
    let Some(sw) = swift("swift_store_passes_the_conformance_suite_single_and_segmented").await
    else {
        return;
    };
    // 300 kB test images: one segment each, and then three segments of 100 kB.
    for seg in [1 << 20, 100_000] {
        let s = store(sw, &unique_container("conf"), seg);
        conformance::image_store_contract(&s).await;
    }
}

#[tokio::test]
async fn replaced_and_aborted_uploads_leave_no_segments() {
    let Some(sw) = swift("replaced_and_aborted_uploads_leave_no_segments").await else { return };
    let s = store(sw, &unique_container("gc"), 1000);
    let id = ImageId::new();
    let mut w = s.begin(&id).await.unwrap();
    w.write(&[1u8; 2500]).await.unwrap();
    w.commit().await.unwrap();
    let first = s.segment_names(&id).await.unwrap();
    assert_eq!(first.len(), 3, "{first:?}");

    // An aborted upload after two segments deletes what it wrote.
    let mut w = s.begin(&id).await.unwrap();
    w.write(&[2u8; 2500]).await.unwrap();
    w.abort().await.unwrap();
    assert_eq!(s.segment_names(&id).await.unwrap(), first);

    // A replacing upload removes the replaced segments.
    let mut w = s.begin(&id).await.unwrap();
    w.write(&[3u8; 1500]).await.unwrap();
    w.commit().await.unwrap();
    let second = s.segment_names(&id).await.unwrap();
    assert_eq!(second.len(), 2, "{second:?}");
    assert!(second.iter().all(|n| !first.contains(n)));
    assert_eq!(s.size(&id).await.unwrap(), Some(1500));

    assert!(s.delete(&id).await.unwrap());
    assert!(s.segment_names(&id).await.unwrap().is_empty());
    assert_eq!(s.size(&id).await.unwrap(), None);
}

#[tokio::test]
async fn large_image_through_segments_round_trips_and_delete_removes_segments() {
    let Some(sw) =
        swift("large_image_through_segments_round_trips_and_delete_removes_segments").await
    else {
        return;
    };
    const SEG: u64 = 8 << 20;
    const LEN: usize = (64 << 20) + 12_345;
    let s = store(sw, &unique_container("big"), SEG);
    let id = ImageId::new();
    let mut w = s.begin(&id).await.unwrap();
    let mut sent = Sha256::new();
    // Deterministic pseudo-random data, generated chunk by chunk (never all in memory).
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut left = LEN;
    while left > 0 {
        let n = left.min(1 << 20);
        let mut chunk = Vec::with_capacity(n);
        while chunk.len() < n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chunk.extend_from_slice(&x.to_le_bytes()[..(n - chunk.len()).min(8)]);
        }
        sent.update(&chunk);
        w.write(&chunk).await.unwrap();
        left -= n;
    }
    w.commit().await.unwrap();

    let segments = s.segment_names(&id).await.unwrap();
    assert_eq!(segments.len(), LEN.div_ceil(SEG as usize), "{segments:?}");
    assert_eq!(s.size(&id).await.unwrap(), Some(LEN as u64));

    let mut got = Sha256::new();
    let mut n = 0usize;
    let mut st = s.open(&id).await.unwrap();
    while let Some(c) = st.next().await {
        let c = c.unwrap();
        n += c.len();
        got.update(&c);
    }
    assert_eq!(n, LEN);
    assert_eq!(got.finalize(), sent.finalize());

    assert!(s.delete(&id).await.unwrap());
    assert!(s.segment_names(&id).await.unwrap().is_empty(), "segments left after delete");
    assert!(matches!(s.open(&id).await, Err(ImageError::NotFound(_))));
}

const EXPIRY_USER: &str = "expiry:tester";

/// Makes the proxy forget the token of `EXPIRY_USER` (the fake cache's test hook).
async fn expire_token(sw: &Swift) {
    let url = sw.auth_url.replace("/auth/v1.0", &format!("/fake-cache/tokens/{EXPIRY_USER}"));
    let r = reqwest::Client::new().delete(url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
}

/// Counts authentications.
#[derive(Debug)]
struct Counting {
    real: TempAuth,
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl SwiftAuth for Counting {
    async fn authenticate(&self, http: &reqwest::Client) -> Result<SwiftSession, SwiftError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.real.authenticate(http).await
    }
}

#[tokio::test]
async fn tokens_near_expiry_are_renewed_before_each_segment() {
    let Some(sw) = swift("tokens_near_expiry_are_renewed_before_each_segment").await else {
        return;
    };
    let auth = Arc::new(Counting {
        real: TempAuth::new(&sw.auth_url, USER, KEY).unwrap(),
        calls: AtomicUsize::new(0),
    });
    let mut c = SwiftConfig::default();
    c.container = unique_container("margin");
    c.segment_size = 1000;
    // Tempauth's tokens live a day: a two-day margin makes every segment renew first.
    c.token_refresh_margin = Duration::from_secs(2 * 86400);
    let s = SwiftStore::new(auth.clone(), c).unwrap();
    let id = ImageId::new();
    let mut w = s.begin(&id).await.unwrap();
    w.write(&[5u8; 3500]).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(auth.calls.load(Ordering::SeqCst), 1 + 4, "first use, then once per segment");
    assert!(s.delete(&id).await.unwrap());
}

#[tokio::test]
async fn token_expiring_mid_upload_and_before_download_is_renewed() {
    let Some(sw) = swift("token_expiring_mid_upload_and_before_download_is_renewed").await else {
        return;
    };
    let mut c = SwiftConfig::default();
    c.container = unique_container("expiry");
    c.segment_size = 1000;
    let s = SwiftStore::new(Arc::new(TempAuth::new(&sw.auth_url, EXPIRY_USER, KEY).unwrap()), c)
        .unwrap();
    let id = ImageId::new();
    let data: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    let mut w = s.begin(&id).await.unwrap();
    w.write(&data[..2000]).await.unwrap();
    // The token dies between two segments (a token dying while a segment streams fails the
    // upload: Swift checks it when the request starts, and the body cannot be replayed).
    expire_token(sw).await;
    w.write(&data[2000..]).await.unwrap();
    w.commit().await.unwrap();
    expire_token(sw).await;
    let mut got = Vec::new();
    let mut st = s.open(&id).await.unwrap();
    while let Some(c) = st.next().await {
        got.extend_from_slice(&c.unwrap());
    }
    assert_eq!(got, data);
    expire_token(sw).await;
    assert!(s.delete(&id).await.unwrap());
    assert!(s.segment_names(&id).await.unwrap().is_empty());
}

/// Hands out a token Swift does not know first (as an expired one), then real ones.
#[derive(Debug)]
struct ExpiredFirst {
    real: TempAuth,
    calls: AtomicUsize,
    storage_url: String,
}

#[async_trait::async_trait]
impl SwiftAuth for ExpiredFirst {
    async fn authenticate(&self, http: &reqwest::Client) -> Result<SwiftSession, SwiftError> {
        if self.calls.fetch_add(1, Ordering::SeqCst) == 0 {
            return SwiftSession::new(&self.storage_url, "AUTH_tk00000000000000000000000000000000");
        }
        self.real.authenticate(http).await
    }
}

#[tokio::test]
async fn expired_token_is_renewed_once_and_a_dead_static_token_is_a_clean_error() {
    let Some(sw) =
        swift("expired_token_is_renewed_once_and_a_dead_static_token_is_a_clean_error").await
    else {
        return;
    };
    let (_, storage_url, _) = session(sw).await;
    let auth = Arc::new(ExpiredFirst {
        real: TempAuth::new(&sw.auth_url, USER, KEY).unwrap(),
        calls: AtomicUsize::new(0),
        storage_url: storage_url.clone(),
    });
    let mut c = SwiftConfig::default();
    c.container = unique_container("reauth");
    c.segment_size = 1000;
    let s = SwiftStore::new(auth.clone(), c.clone()).unwrap();
    let id = ImageId::new();
    let mut w = s.begin(&id).await.unwrap();
    w.write(&[7u8; 2100]).await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(s.size(&id).await.unwrap(), Some(2100));
    assert_eq!(auth.calls.load(Ordering::SeqCst), 2, "one renewal");
    assert!(s.delete(&id).await.unwrap());

    let dead = SwiftSession::new(&storage_url, "AUTH_tk11111111111111111111111111111111").unwrap();
    let s = SwiftStore::new(Arc::new(StaticToken(dead)), c).unwrap();
    match s.open(&id).await {
        Err(ImageError::Backend(e)) => assert!(
            matches!(e.downcast_ref::<SwiftError>(), Some(SwiftError::Unauthorized { .. })),
            "{e}"
        ),
        other => panic!("expected an unauthorized backend error, got {:?}", other.map(|_| ())),
    }
}

#[tokio::test]
async fn missing_container_is_created_on_demand_or_refused_when_disabled() {
    let Some(sw) = swift("missing_container_is_created_on_demand_or_refused_when_disabled").await
    else {
        return;
    };
    let name = unique_container("ondemand");
    assert_eq!(container_status(sw, &name).await, 404);
    let s = store(sw, &name, 1 << 20);
    let id = ImageId::new();
    // Reading from a store whose container does not exist is just "no data".
    assert!(matches!(s.open(&id).await, Err(ImageError::NotFound(_))));
    assert!(!s.delete(&id).await.unwrap());
    let mut w = s.begin(&id).await.unwrap();
    w.write(b"data").await.unwrap();
    w.commit().await.unwrap();
    assert_eq!(container_status(sw, &name).await / 100, 2);
    assert_eq!(container_status(sw, &format!("{name}_segments")).await / 100, 2);
    assert!(s.delete(&id).await.unwrap());

    let mut c = SwiftConfig::default();
    c.container = unique_container("nocreate");
    c.create_container = false;
    let s = SwiftStore::new(Arc::new(TempAuth::new(&sw.auth_url, USER, KEY).unwrap()), c.clone())
        .unwrap();
    assert!(matches!(s.begin(&id).await, Err(ImageError::Backend(_))));
    assert_eq!(container_status(sw, &c.container).await, 404);
}

#[tokio::test]
async fn unreachable_endpoint_is_a_clean_backend_error() {
    // Needs no Swift: nothing listens on the port.
    let port = free_port();
    let auth = TempAuth::new(&format!("http://127.0.0.1:{port}/auth/v1.0"), USER, KEY).unwrap();
    let s = SwiftStore::new(Arc::new(auth), SwiftConfig::default()).unwrap();
    let id = ImageId::new();
    for r in [
        s.begin(&id).await.map(|_| ()),
        s.open(&id).await.map(|_| ()),
        s.delete(&id).await.map(|_| ()),
    ] {
        match r {
            Err(ImageError::Backend(e)) => {
                assert!(
                    matches!(
                        e.downcast_ref::<SwiftError>(),
                        Some(SwiftError::Transport { op: "auth", .. })
                    ),
                    "{e}"
                )
            }
            other => panic!("expected a transport error, got {other:?}"),
        }
    }
    let dead = SwiftSession::new(&format!("http://127.0.0.1:{port}/v1/AUTH_x"), "tok").unwrap();
    let s = SwiftStore::new(Arc::new(StaticToken(dead)), SwiftConfig::default()).unwrap();
    assert!(matches!(s.size(&id).await, Err(ImageError::Backend(_))));
}

/// A hostile Swift: auth answers chosen by path, wrong etags, garbage listings, errors.
async fn hostile() -> String {
    use axum::http::{HeaderMap, Method, StatusCode};
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let b = base.clone();
    let app = axum::Router::new()
        .route(
            "/auth/{mode}",
            axum::routing::get(move |axum::extract::Path(mode): axum::extract::Path<String>| {
                let b = b.clone();
                async move {
                    let mut h = HeaderMap::new();
                    match mode.as_str() {
                        "no-url" => {
                            h.insert("x-auth-token", "tok".parse().unwrap());
                        }
                        "ftp" => {
                            h.insert("x-auth-token", "tok".parse().unwrap());
                            h.insert("x-storage-url", "ftp://127.0.0.1/v1/AUTH_x".parse().unwrap());
                        }
                        "redirect" => {
                            h.insert("location", format!("{b}/auth/ok").parse().unwrap());
                            return (StatusCode::FOUND, h).into_response();
                        }
                        _ => {
                            h.insert("x-auth-token", "tok".parse().unwrap());
                            h.insert("x-storage-url", format!("{b}/v1/AUTH_x").parse().unwrap());
                        }
                    }
                    (StatusCode::OK, h).into_response()
                }
            }),
        )
        .fallback(|method: Method, uri: axum::http::Uri| async move {
            let path = uri.path().to_owned();
            let depth = path.trim_matches('/').split('/').count();
            match (method, depth) {
                (Method::HEAD, 3) => StatusCode::NO_CONTENT.into_response(),
                (Method::PUT, _) => {
                    (StatusCode::CREATED, [("etag", "0123456789abcdef0123456789abcdef")])
                        .into_response()
                }
                (Method::GET, 3) => (StatusCode::OK, "<html>not a listing</html>").into_response(),
                (Method::DELETE, _) => StatusCode::NO_CONTENT.into_response(),
                (Method::GET, _) => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "boom\n\u{1b}[31m").into_response()
                }
                _ => StatusCode::METHOD_NOT_ALLOWED.into_response(),
            }
        });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn swift_error(r: Result<(), ImageError>) -> SwiftError {
    match r {
        Err(ImageError::Backend(e)) => match e.downcast::<SwiftError>() {
            Ok(e) => *e,
            Err(e) => panic!("not a SwiftError: {e}"),
        },
        other => panic!("expected a backend error, got {other:?}"),
    }
}

#[tokio::test]
async fn hostile_endpoint_answers_are_clean_errors() {
    let base = hostile().await;
    let id = ImageId::new();
    let at = |mode: &str| {
        let auth = TempAuth::new(&format!("{base}/auth/{mode}"), USER, KEY).unwrap();
        SwiftStore::new(Arc::new(auth), SwiftConfig::default()).unwrap()
    };
    for mode in ["no-url", "ftp"] {
        let e = swift_error(at(mode).open(&id).await.map(|_| ()));
        assert!(matches!(e, SwiftError::BadResponse { op: "auth", .. }), "{mode}: {e}");
    }
    // Redirects are not followed.
    let e = swift_error(at("redirect").open(&id).await.map(|_| ()));
    assert!(matches!(e, SwiftError::Status { op: "auth", status: 302, .. }), "{e}");

    let s = at("ok");
    // A wrong etag fails the upload.
    let mut w = s.begin(&id).await.unwrap();
    let e = swift_error(
        async {
            w.write(b"data").await?;
            w.commit().await
        }
        .await,
    );
    assert!(matches!(e, SwiftError::ChecksumMismatch { .. }), "{e}");
    // A garbage listing fails the delete instead of deleting blindly.
    let e = swift_error(s.delete(&id).await.map(|_| ()));
    assert!(matches!(e, SwiftError::BadResponse { op: "list segments", .. }), "{e}");
    // A server error is reported with a sanitised excerpt.
    let e = swift_error(s.open(&id).await.map(|_| ()));
    match e {
        SwiftError::Status { status: 500, detail, .. } => assert_eq!(detail, "boom[31m"),
        e => panic!("{e}"),
    }
}

#[tokio::test]
async fn image_service_over_swift_refuses_hostile_data_and_serves_clean_data() {
    use ferrostack_core::RequestContext;
    use ferrostack_core::id::{ProjectId, UserId};
    use ferrostack_core::store::MemoryStore;
    use ferrostack_image::{CreateImage, ImageApi, ImageConfig, ImageService, ImageStatus};
    let Some(sw) =
        swift("image_service_over_swift_refuses_hostile_data_and_serves_clean_data").await
    else {
        return;
    };
    let data = Arc::new(store(sw, &unique_container("svc"), 64 * 1024));
    let svc = ImageService::new(Arc::new(MemoryStore::new()), data.clone(), ImageConfig::default());
    let ctx = RequestContext::for_project(UserId::new(), ProjectId::new(), &["member", "reader"]);
    let img = svc.create(&ctx, CreateImage::new("d", "qcow2", "bare")).await.unwrap();
    let chunks = |b: Vec<u8>| {
        let parts: Vec<Result<bytes::Bytes, ImageError>> =
            b.chunks(10_000).map(|c| Ok(bytes::Bytes::copy_from_slice(c))).collect();
        futures::stream::iter(parts).boxed()
    };

    // A qcow2 with a backing file, padded over several segments: refused, nothing stored.
    let mut hostile = vec![0u8; 200_000];
    hostile[..4].copy_from_slice(b"QFI\xfb");
    hostile[7] = 3;
    hostile[15] = 0x80;
    let e = svc.upload(&ctx, &img.id, chunks(hostile)).await.unwrap_err();
    assert!(matches!(e, ImageError::BadImageData(_)), "{e}");
    assert_eq!(svc.get(&ctx, &img.id).await.unwrap().status, ImageStatus::Queued);
    assert_eq!(data.size(&img.id).await.unwrap(), None);
    assert!(data.segment_names(&img.id).await.unwrap().is_empty(), "aborted segments left");

    let mut clean = vec![0u8; 200_000];
    clean[..4].copy_from_slice(b"QFI\xfb");
    clean[7] = 3;
    let active = svc.upload(&ctx, &img.id, chunks(clean.clone())).await.unwrap();
    assert_eq!(active.status, ImageStatus::Active);
    assert_eq!(active.size, Some(200_000));
    assert_eq!(data.segment_names(&img.id).await.unwrap().len(), 4);
    let (_, mut st) = svc.download(&ctx, &img.id).await.unwrap().unwrap();
    let mut got = Vec::new();
    while let Some(c) = st.next().await {
        got.extend_from_slice(&c.unwrap());
    }
    assert_eq!(got, clean);
    svc.delete(&ctx, &img.id).await.unwrap();
    assert!(data.segment_names(&img.id).await.unwrap().is_empty());
}
