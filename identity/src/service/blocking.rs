// SPDX-License-Identifier: Apache-2.0
//! CPU-heavy and blocking work off the runtime threads.
//!
//! Verifying a bcrypt hash of cost 12 takes about 250 ms of CPU; done on a runtime thread, a
//! handful of concurrent logins stalls every other request the runtime serves (token
//! validations in front of every service). So every password (and application credential
//! secret) hash and verification runs on tokio's blocking pool through [`PasswordPool`], at
//! most [`crate::IdentityConfig::password_concurrency`] at a time: further logins wait for a
//! permit (first come, first served) without occupying a thread, and the runtime threads stay
//! free for validations. Reading a key repository from disk ([`read_keys`]) also runs on the
//! blocking pool, unbounded since it is short.

use crate::error::{IdentityError, Result};
use crate::fernet::{KeyRepository, MultiFernet};
use std::sync::Arc;
use tokio::sync::Semaphore;

/// The default of [`crate::IdentityConfig::password_concurrency`]: half the CPUs, at least
/// one. Validations run on every API call of every service and logins are rare, so password
/// work may take half the machine, never all of it: with one permit per CPU, eight bcrypt-12
/// logins on a 2-CPU host left validations 0.53 of their throughput alone (measured with
/// `scripts/identity/validate_under_logins.sh`).
pub(crate) fn default_password_concurrency() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get() / 2).max(1)
}

/// A bounded gate in front of [`tokio::task::spawn_blocking`] for password hashing and
/// verification.
pub(crate) struct PasswordPool {
    permits: Arc<Semaphore>,
    size: usize,
    /// Runs inside every job, on the blocking thread, before the work: lets a test hold jobs
    /// in flight and see where and how many run.
    #[cfg(test)]
    pub(crate) gate: std::sync::OnceLock<Arc<dyn Fn() + Send + Sync>>,
}

impl std::fmt::Debug for PasswordPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordPool")
            .field("size", &self.size)
            .field("available", &self.permits.available_permits())
            .finish()
    }
}

impl PasswordPool {
    /// A pool running at most `size` jobs at once (`None`: half the CPUs, at least one).
    pub(crate) fn new(size: Option<usize>) -> Self {
        let size = size.unwrap_or_else(default_password_concurrency).max(1);
        PasswordPool {
            permits: Arc::new(Semaphore::new(size)),
            size,
            #[cfg(test)]
            gate: std::sync::OnceLock::new(),
        }
    }

    /// Runs `work` on the blocking pool once a permit is free. The permit moves into the job,
    /// so it is held until the work ends even if the caller stops waiting (a dropped request
    /// does not let more jobs run than the bound).
    ///
    /// # Errors
    ///
    /// [`IdentityError::Worker`] if the job panicked or the runtime is shutting down.
    pub(crate) async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permit =
            self.permits.clone().acquire_owned().await.expect("the password pool is never closed");
        #[cfg(test)]
        let gate = self.gate.get().cloned();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            #[cfg(test)]
            if let Some(g) = gate {
                g();
            }
            work()
        })
        .await
        .map_err(IdentityError::Worker)
    }
}

/// Loads a key repository's keys on the blocking pool (a directory listing and one file read
/// per key), setting the repository up first when `setup` is true.
///
/// # Errors
///
/// [`IdentityError::KeyRepository`] for an unusable repository, [`IdentityError::Worker`] if
/// the job could not run.
pub(crate) async fn read_keys(repo: KeyRepository, setup: bool) -> Result<MultiFernet> {
    tokio::task::spawn_blocking(move || {
        if setup {
            repo.setup().map_err(|e| IdentityError::key_repository(repo.dir(), e))?;
        }
        repo.load()
    })
    .await
    .map_err(IdentityError::Worker)?
}

#[cfg(test)]
mod tests {
    use crate::api::{AuthMethod, AuthRequest, DomainRef, ProjectRef, ScopeRequest, UserRef};
    use crate::password::HashParams;
    use crate::{BootstrapOptions, IdentityApi, IdentityConfig, IdentityService};
    use ferrostack_core::store::MemoryStore;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Condvar, Mutex};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LOGINS: usize = 8;
    const POOL: usize = 2;

    /// Holds every password job on its blocking thread until the test releases it.
    #[derive(Default)]
    struct Gate {
        released: Mutex<bool>,
        opened: Condvar,
        inside: AtomicUsize,
        most_inside: AtomicUsize,
        /// Set if a job gave up waiting: only possible if the release never came because
        /// the jobs held the runtime's threads (the starvation this test is about).
        gave_up: AtomicBool,
    }

    impl Gate {
        fn hold(&self, entered: &tokio::sync::mpsc::UnboundedSender<()>) {
            let now = self.inside.fetch_add(1, Ordering::SeqCst) + 1;
            self.most_inside.fetch_max(now, Ordering::SeqCst);
            let _ = entered.send(());
            let released = self.released.lock().unwrap();
            // A deadlock breaker, not a timing assertion: with the old code (verification
            // on the runtime threads) the release below can never be reached while the jobs
            // hold both worker threads, and the test would hang instead of failing.
            let (_released, wait) = self
                .opened
                .wait_timeout_while(released, std::time::Duration::from_secs(60), |r| !*r)
                .unwrap();
            if wait.timed_out() {
                self.gave_up.store(true, Ordering::SeqCst);
            }
            self.inside.fetch_sub(1, Ordering::SeqCst);
        }

        fn release(&self) {
            *self.released.lock().unwrap() = true;
            self.opened.notify_all();
        }
    }

    fn password_login() -> AuthRequest {
        let default = || DomainRef::Id("default".into());
        AuthRequest {
            method: AuthMethod::Password {
                user: UserRef::Name { name: "admin".into(), domain: default() },
                password: "secret".into(),
            },
            scope: ScopeRequest::Project(ProjectRef::Name {
                name: "admin".into(),
                domain: default(),
            }),
        }
    }

    /// `GET /v3/auth/tokens` over a fresh connection; returns the status line.
    async fn validate_over_http(addr: std::net::SocketAddr, token: &str) -> String {
        let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET /v3/auth/tokens HTTP/1.1\r\nHost: {addr}\r\nX-Auth-Token: {token}\r\n\
             X-Subject-Token: {token}\r\nConnection: close\r\n\r\n"
        );
        conn.write_all(req.as_bytes()).await.unwrap();
        let mut response = String::new();
        conn.read_to_string(&mut response).await.unwrap();
        response.lines().next().unwrap_or_default().to_owned()
    }

    /// Eight password logins in flight, each holding a thread until released, on a runtime
    /// with two worker threads: a token validation through the HTTP router still completes
    /// before any of them, and at most `password_concurrency` of them run at once. With the
    /// verification on the runtime threads, the first two logins would hold both workers
    /// and the validation could not be served until they finished.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn validation_is_served_while_logins_hold_the_password_pool() {
        let keys = tempfile::tempdir().unwrap();
        let config = IdentityConfig {
            key_repository: keys.path().join("fernet-keys"),
            password_hashing: HashParams { bcrypt_cost: 4, ..HashParams::default() },
            password_concurrency: Some(POOL),
            public_url: "http://127.0.0.1/identity".into(),
            ..IdentityConfig::default()
        };
        let svc = IdentityService::new(Arc::new(MemoryStore::new()), config).await.unwrap();
        svc.bootstrap(&BootstrapOptions {
            admin_username: "admin".into(),
            admin_password: "secret".into(),
            admin_project: "admin".into(),
            region: "RegionOne".into(),
            identity_url: "http://127.0.0.1/identity/v3".into(),
        })
        .await
        .unwrap();
        let token = svc.authenticate(password_login()).await.unwrap().token;

        let gate = Arc::new(Gate::default());
        let (entered_tx, mut entered) = tokio::sync::mpsc::unbounded_channel();
        let g = gate.clone();
        svc.passwords
            .gate
            .set(Arc::new(move || g.hold(&entered_tx)))
            .unwrap_or_else(|_| panic!("gate set twice"));
        let svc = Arc::new(svc);

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = crate::http::router(svc.clone(), "http://127.0.0.1/identity");
        let server = tokio::spawn(async move { axum::serve(listener, router).await });

        let done = Arc::new(AtomicUsize::new(0));
        let logins: Vec<_> = (0..LOGINS)
            .map(|_| {
                let (svc, done) = (svc.clone(), done.clone());
                tokio::spawn(async move {
                    let r = svc.authenticate(password_login()).await;
                    done.fetch_add(1, Ordering::SeqCst);
                    r
                })
            })
            .collect();
        // The pool's worth of logins is inside a verification, the rest wait for a permit.
        for _ in 0..POOL {
            entered.recv().await.unwrap();
        }

        let status =
            tokio::spawn(async move { validate_over_http(addr, &token).await }).await.unwrap();
        // Observed before the logins are released: the validation did not wait for them.
        let finished_logins = done.load(Ordering::SeqCst);
        let starved = gate.gave_up.load(Ordering::SeqCst);
        gate.release();
        for login in logins {
            login.await.unwrap().unwrap();
        }
        server.abort();

        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(!starved, "the validation waited for the password verifications to finish");
        assert_eq!(finished_logins, 0, "a login finished before the validation");
        assert_eq!(gate.most_inside.load(Ordering::SeqCst), POOL, "password_concurrency bound");
    }
}
