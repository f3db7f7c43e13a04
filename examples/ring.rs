// SPDX-License-Identifier: Apache-2.0
//! The ring tool: build, rebalance, inspect and query Swift-compatible rings.
//!
//! ```text
//! cargo run --release --example ring -- create --builder object.builder --part-power 16
//! cargo run --release --example ring -- add --builder object.builder --region 1 --zone 1 \
//!     --ip 10.0.0.1 --port 6200 --device sdb --weight 100
//! cargo run --release --example ring -- rebalance --builder object.builder
//! cargo run --release --example ring -- show --builder object.builder
//! cargo run --release --example ring -- write-swift --builder object.builder object.ring.gz
//! echo AUTH_test/c/o | cargo run --release --example ring -- lookup --ring object.ring.gz \
//!     --hash-prefix P --hash-suffix S --handoffs 2
//! ```
//!
//! The logic lives in `ferrostack_objectstore::ring::cli` (feature `cli`).

fn main() {
    std::process::exit(ferrostack_objectstore::ring::cli::run(std::env::args_os()));
}
