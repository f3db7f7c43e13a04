// SPDX-License-Identifier: Apache-2.0
//! Token validation throughput through HTTP, alone and while password logins run: serves the
//! identity router on 127.0.0.1 (a runtime with one worker thread per CPU, as the facade
//! runs), then from a separate client runtime sends a fixed number of
//! `GET /v3/auth/tokens` (`X-Subject-Token`) requests over `clients` concurrent keep-alive
//! connections, first alone, then again while `logins` concurrent loops of password logins
//! (`POST /v3/auth/tokens`, bcrypt of the given cost) run. Prints both rates, p50/p99 and the
//! ratio. Everything is bounded (a fixed number of validations per phase, at most
//! [`MAX_LOGINS_PER_LOOP`] logins per loop) and stays on the loopback interface.
//! `scripts/identity/validate_under_logins.sh` builds and runs it.
//!
//! ```text
//! cargo run --release -p ferrostack-identity --example validate_under_logins -- \
//!     [clients=8] [requests=5000] [logins=8] [bcrypt_cost=12]
//! ```

use ferrostack_core::store::MemoryStore;
use ferrostack_identity::password::HashParams;
use ferrostack_identity::{BootstrapOptions, IdentityConfig, IdentityService};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The most logins one login loop sends, whatever happens (bounded loops only).
const MAX_LOGINS_PER_LOOP: usize = 10_000;
const PASSWORD: &str = "a-long-enough-password";

struct Phase {
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile(&self, p: f64) -> Duration {
        let i = ((self.latencies.len() as f64 * p).ceil() as usize).clamp(1, self.latencies.len());
        self.latencies[i - 1]
    }

    fn line(&self, what: &str) -> String {
        format!(
            "{what}: {} validations in {:.2} s = {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
            self.latencies.len(),
            self.elapsed.as_secs_f64(),
            self.rate(),
            self.percentile(0.50).as_secs_f64() * 1e3,
            self.percentile(0.99).as_secs_f64() * 1e3,
        )
    }
}

/// `requests` validations over `clients` concurrent connections.
async fn validations(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    clients: usize,
    requests: usize,
) -> Phase {
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let (http, url, token) = (http.clone(), url.to_owned(), token.to_owned());
            // Spread the fixed total evenly over the clients.
            let n = requests / clients + usize::from(i < requests % clients);
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(n);
                for _ in 0..n {
                    let t = Instant::now();
                    let r = http
                        .get(&url)
                        .header("X-Auth-Token", &token)
                        .header("X-Subject-Token", &token)
                        .send()
                        .await
                        .expect("validation request");
                    assert_eq!(r.status(), 200, "validation answered {}", r.status());
                    r.bytes().await.expect("validation body");
                    lat.push(t.elapsed());
                }
                lat
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(requests);
    for t in tasks {
        latencies.extend(t.await.expect("client task"));
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    Phase { elapsed, latencies }
}

fn login_body() -> String {
    serde_json::json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}
    }})
    .to_string()
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("arguments: [clients] [requests] [logins] [bcrypt_cost]"))
        .collect();
    let clients = args.first().copied().unwrap_or(8).max(1);
    let requests = args.get(1).copied().unwrap_or(5000).max(clients);
    let logins = args.get(2).copied().unwrap_or(8);
    let cost = u32::try_from(args.get(3).copied().unwrap_or(12)).expect("bcrypt cost");

    let keys = tempfile::tempdir().expect("temporary directory");
    let server = tokio::runtime::Builder::new_multi_thread()
        .thread_name("identity-server")
        .enable_all()
        .build()
        .expect("server runtime");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let base = server.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let config = IdentityConfig {
            key_repository: keys.path().join("fernet-keys"),
            password_hashing: HashParams { bcrypt_cost: cost, ..HashParams::default() },
            public_url: base.clone(),
            ..IdentityConfig::default()
        };
        let svc = IdentityService::new(Arc::new(MemoryStore::new()), config)
            .await
            .expect("identity service");
        svc.bootstrap(&BootstrapOptions {
            admin_username: "admin".into(),
            admin_password: PASSWORD.into(),
            admin_project: "admin".into(),
            region: "RegionOne".into(),
            identity_url: format!("{base}/v3"),
        })
        .await
        .expect("bootstrap");
        let router = ferrostack_identity::http::router(Arc::new(svc), base.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        base
    });

    let client = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("load-client")
        .enable_all()
        .build()
        .expect("client runtime");
    client.block_on(async {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("HTTP client");
        let url = format!("{base}/v3/auth/tokens");
        let issued = http
            .post(&url)
            .header("Content-Type", "application/json")
            .body(login_body())
            .send()
            .await
            .expect("first login");
        assert_eq!(issued.status(), 201, "first login answered {}", issued.status());
        let token = issued.headers()["X-Subject-Token"].to_str().expect("token").to_owned();

        // Warm the connections and the scope cache; not measured.
        validations(&http, &url, &token, clients, clients * 20).await;
        let alone = validations(&http, &url, &token, clients, requests).await;

        let stop = Arc::new(AtomicBool::new(false));
        let completed = Arc::new(AtomicUsize::new(0));
        let loops: Vec<_> = (0..logins)
            .map(|_| {
                let (http, url, stop, completed) =
                    (http.clone(), url.clone(), stop.clone(), completed.clone());
                tokio::spawn(async move {
                    for _ in 0..MAX_LOGINS_PER_LOOP {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let r = http
                            .post(&url)
                            .header("Content-Type", "application/json")
                            .body(login_body())
                            .send()
                            .await
                            .expect("login request");
                        assert_eq!(r.status(), 201, "login answered {}", r.status());
                        completed.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        // Measure in the steady state: the logins are queued and the first have gone through.
        while logins > 0 && completed.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let before = completed.load(Ordering::SeqCst);
        let under = validations(&http, &url, &token, clients, requests).await;
        let during = completed.load(Ordering::SeqCst) - before;
        stop.store(true, Ordering::SeqCst);
        for l in loops {
            l.await.expect("login loop");
        }

        println!(
            "server on 127.0.0.1: {cpus} runtime threads and password_concurrency {} (the \
             defaults: half the CPUs for passwords), bcrypt cost {cost}; {clients} concurrent validation clients",
            (cpus / 2).max(1)
        );
        println!("{}", alone.line("alone"));
        println!(
            "{} ({during} logins completed during it, {:.1} logins/s)",
            under.line(&format!("under {logins} concurrent logins")),
            during as f64 / under.elapsed.as_secs_f64()
        );
        println!(
            "RATIO under logins / alone: {:.2} (goal: at least 0.50)",
            under.rate() / alone.rate()
        );
    });
}
