// SPDX-License-Identifier: Apache-2.0
//! [`Connection`]: one libvirt connection used from async code. Every call runs on tokio's
//! blocking pool (the `virt` API is synchronous); the connection is opened lazily, reopened
//! after it dies, and libvirt's default event loop runs on one thread per process (the
//! embedded QEMU driver and keepalives need it).

use crate::error::LibvirtError;
use std::sync::{Arc, Mutex, OnceLock};
use virt::connect::Connect;

static EVENT_LOOP: OnceLock<bool> = OnceLock::new();

/// Registers libvirt's default event loop implementation and runs it on a background thread,
/// once per process. Must happen before the first connection is opened.
pub fn ensure_event_loop() -> bool {
    *EVENT_LOOP.get_or_init(|| {
        // Errors are returned to the caller; libvirt's default handler would also print them.
        virt::error::clear_error_callback();
        if virt::event::event_register_default_impl().is_err() {
            return false;
        }
        std::thread::Builder::new()
            .name("libvirt-events".into())
            .spawn(|| {
                loop {
                    if virt::event::event_run_default_impl().is_err() {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                }
            })
            .is_ok()
    })
}

/// Called with every newly opened connection (to register event callbacks).
pub type OnOpen = Arc<dyn Fn(&Connect) + Send + Sync>;

/// A lazily opened, shareable libvirt connection. Cheap to clone; clones share it.
#[derive(Clone)]
pub struct Connection {
    uri: Arc<str>,
    conn: Arc<Mutex<Option<Arc<Connect>>>>,
    on_open: Arc<Mutex<Vec<OnOpen>>>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").field("uri", &self.uri).finish_non_exhaustive()
    }
}

impl Connection {
    /// A connection to `uri` (`qemu:///system`, `qemu:///embed?root=/dir`, `xen:///system`,
    /// `test:///default`); nothing is opened until the first call.
    pub fn new(uri: impl Into<String>) -> Self {
        Connection {
            uri: uri.into().into(),
            conn: Arc::new(Mutex::new(None)),
            on_open: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Runs `f` with every connection opened from now on (a reconnect included).
    pub fn on_open(&self, f: OnOpen) {
        self.on_open.lock().unwrap_or_else(|e| e.into_inner()).push(f);
    }

    /// The URI.
    pub fn uri(&self) -> &str {
        &self.uri
    }

    fn get(&self) -> Result<Arc<Connect>, LibvirtError> {
        let mut g = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = g.as_ref()
            && c.is_alive().unwrap_or(false)
        {
            return Ok(c.clone());
        }
        ensure_event_loop();
        let c = Arc::new(
            Connect::open(Some(&self.uri)).map_err(|e| LibvirtError::from_virt("connect", e))?,
        );
        for f in self.on_open.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            f(&c);
        }
        // A dead connection is dropped without closing: closing it can only fail.
        *g = Some(c.clone());
        Ok(c)
    }

    /// Runs `f` with the connection on tokio's blocking pool (opening it first if needed:
    /// the embedded driver takes seconds to probe QEMU).
    pub async fn call<T, F>(&self, f: F) -> Result<T, LibvirtError>
    where
        T: Send + 'static,
        F: FnOnce(&Connect) -> Result<T, LibvirtError> + Send + 'static,
    {
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.call_blocking(f))
            .await
            .map_err(LibvirtError::Worker)?
    }

    /// Runs `f` with the connection on the calling thread (for blocking contexts).
    pub fn call_blocking<T>(
        &self,
        f: impl FnOnce(&Connect) -> Result<T, LibvirtError>,
    ) -> Result<T, LibvirtError> {
        let c = self.get()?;
        f(&c)
    }
}
