// SPDX-License-Identifier: Apache-2.0
//! CPU-heavy and blocking work off the async runtime's threads.
//!
//! Hashing and inspecting image data costs CPU in proportion to the image (sha512 of a 10 GiB
//! image is tens of seconds); done inline it would stall every other request scheduled on the
//! same runtime thread. [`Batched`] gathers chunks and digests them on the blocking pool, one
//! batch at a time and in order.

use bytes::Bytes;

use crate::error::{ImageError, Result};

/// Runs `f` on the blocking pool.
pub(crate) async fn run<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ImageError::Backend(Box::new(e)))
}

/// Something that consumes a byte stream in order (hashes, the format inspector).
pub(crate) trait Absorb: Send + 'static {
    /// Consumes the next bytes.
    fn absorb(&mut self, data: &[u8]);
}

/// Hand this many bytes at a time to the blocking pool.
const BATCH: usize = 1 << 20;

/// An [`Absorb`] fed in batches on the blocking pool.
pub(crate) struct Batched<A> {
    state: A,
    pending: Vec<Bytes>,
    pending_len: usize,
}

impl<A: Absorb> Batched<A> {
    /// Wraps `state`.
    pub(crate) fn new(state: A) -> Self {
        Batched { state, pending: Vec::new(), pending_len: 0 }
    }

    /// Queues a chunk; digests the batch once it is large enough.
    pub(crate) async fn feed(mut self, chunk: Bytes) -> Result<Self> {
        self.pending_len += chunk.len();
        self.pending.push(chunk);
        if self.pending_len >= BATCH { self.flush().await } else { Ok(self) }
    }

    async fn flush(mut self) -> Result<Self> {
        if self.pending.is_empty() {
            return Ok(self);
        }
        run(move || {
            for c in std::mem::take(&mut self.pending) {
                self.state.absorb(&c);
            }
            self.pending_len = 0;
            self
        })
        .await
    }

    /// Digests what is pending and hands `finish` the state, on the blocking pool.
    pub(crate) async fn finish<T: Send + 'static>(
        self,
        finish: impl FnOnce(A) -> T + Send + 'static,
    ) -> Result<T> {
        let me = self.flush().await?;
        run(move || finish(me.state)).await
    }
}

impl Absorb for sha2::Sha512 {
    fn absorb(&mut self, data: &[u8]) {
        sha2::Digest::update(self, data);
    }
}
