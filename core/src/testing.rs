// SPDX-License-Identifier: Apache-2.0
//! Helpers for tests that need real systems or reference implementations (feature `testing`).
//!
//! Conventions every Ferrostack test follows:
//!
//! * Tools and Python venvs are prepared by `scripts/test-env/*.sh` (run by `scripts/test.sh`
//!   and CI) under [`cache_dir`], outside the clone.
//! * Shared backends (PostgreSQL, RabbitMQ, ...) are started once by `scripts/test.sh` and
//!   announced to tests through `FERROSTACK_TEST_*` environment variables.
//! * A test whose prerequisite is missing calls [`prerequisite`]: on a developer machine it
//!   prints a visible `SKIPPED` line and the test returns early; under CI (`CI` set) a missing
//!   prerequisite is a failure, so CI can never pass by skipping.

use std::path::PathBuf;

/// Where test prerequisites (venvs, downloads, built guest images) are cached:
/// `$FERROSTACK_CACHE`, else `$HOME/.cache/ferrostack`, else `/tmp/ferrostack-cache`.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FERROSTACK_CACHE") {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("ferrostack"),
        None => PathBuf::from("/tmp/ferrostack-cache"),
    }
}

/// The Python interpreter of the venv `name` under [`cache_dir`] (`venv-<name>/bin/python`),
/// if that venv exists.
pub fn venv_python(name: &str) -> Option<PathBuf> {
    let p = cache_dir().join(format!("venv-{name}")).join("bin").join("python");
    p.exists().then_some(p)
}

/// Whether the test may go on: `available` is whether `what` is present. When it is not,
/// prints `SKIPPED <test>: <what> is not available (<how>)` and returns `false`, except under
/// CI, where it panics, because CI prepares every prerequisite.
pub fn prerequisite(available: bool, test: &str, what: &str, how: &str) -> bool {
    if available {
        return true;
    }
    let msg = format!("SKIPPED {test}: {what} is not available ({how})");
    if std::env::var_os("CI").is_some() {
        panic!("{msg}; CI must provide it");
    }
    eprintln!("{msg}");
    false
}

/// The value of environment variable `var`, or `None` after reporting through
/// [`prerequisite`].
pub fn env_prerequisite(var: &str, test: &str, how: &str) -> Option<String> {
    let v = std::env::var(var).ok().filter(|s| !s.is_empty());
    prerequisite(v.is_some(), test, var, how).then(|| v.unwrap_or_default())
}

/// Proptest settings every property test in the workspace uses: `cases` cases from a fixed
/// seed, so a CI run is deterministic and a failure reproduces. `PROPTEST_CASES` and
/// `PROPTEST_RNG_SEED` widen or move them for local runs, e.g.
/// `PROPTEST_CASES=5000 PROPTEST_RNG_SEED=$RANDOM cargo test -p ferrostack-network`.
pub fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    let env = |k: &str| std::env::var(k).ok().and_then(|v| v.parse::<u64>().ok());
    proptest::test_runner::Config {
        cases: env("PROPTEST_CASES").map_or(cases, |c| u32::try_from(c).unwrap_or(u32::MAX)),
        rng_seed: proptest::test_runner::RngSeed::Fixed(env("PROPTEST_RNG_SEED").unwrap_or(1)),
        // A fixed seed makes failures reproducible; no regression files are written.
        failure_persistence: None,
        ..proptest::test_runner::Config::default()
    }
}
