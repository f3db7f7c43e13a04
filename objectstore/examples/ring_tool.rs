// SPDX-License-Identifier: Apache-2.0
//! The ring tool (see `ferrostack_objectstore::ring::cli`):
//! `cargo run --release -p ferrostack-objectstore --features cli --example ring_tool -- --help`
//! (the same tool as the facade's `ring` example, built from this crate alone).

fn main() {
    std::process::exit(ferrostack_objectstore::ring::cli::run(std::env::args_os()));
}
