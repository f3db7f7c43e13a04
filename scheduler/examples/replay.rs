// SPDX-License-Identifier: Apache-2.0
//! The `schedule` command of the facade (`examples/schedule.rs`), buildable with the
//! scheduler crate alone: `cargo run --release -p ferrostack-scheduler --example replay -- ...`.

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
            eprintln!("replay: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
