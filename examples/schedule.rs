// SPDX-License-Identifier: Apache-2.0
//! Replays a synthetic cluster and request stream through Ferrostack's filter scheduler and
//! writes `decisions.jsonl` + `summary.json` in the format of the decision-equivalence
//! harness (`scheduler/tests/reference/`).
//!
//! ```text
//! cargo run --release --example schedule -- --cluster data/cluster.json \
//!     --requests data/requests.jsonl --scenario default --out out/rust_default
//! ```

use ferrostack_scheduler::io::{CliArgs, run_cli};

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = match CliArgs::parse(&args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    match run_cli(&parsed) {
        Ok(summary) => {
            println!("{}", serde_json::to_string(&summary).unwrap_or_default());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("schedule: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
