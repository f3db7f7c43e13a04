// SPDX-License-Identifier: Apache-2.0
//! The ring tool (see `ferrostack_objectstore::ring::cli`):
//! `cargo run --release -p ferrostack-objectstore --features cli --example ring -- --help`.

fn main() {
    std::process::exit(ferrostack_objectstore::ring::cli::run(std::env::args_os()));
}
