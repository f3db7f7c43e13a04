// SPDX-License-Identifier: Apache-2.0
//! How drivers run system tools: [`CommandRunner`].
//!
//! Drivers for LVM, Ceph, OVS, nftables, dnsmasq and QEMU run command-line tools, as Cinder,
//! Neutron and Nova do. Every such call goes through this trait so that
//!
//! * commands are **argv vectors**, never shell strings: nothing a tenant names (a volume name,
//!   a MAC address) can be interpreted by a shell;
//! * every call has a **timeout**, after which the child is killed;
//! * stdout, stderr and the exit status are captured together, and a failure carries the argv
//!   and stderr ([`CommandError::Failed`]);
//! * a **privilege wrapper** (`sudo`, `sudo ferrostack-rootwrap ...`) can be put in front of
//!   privileged commands by configuration;
//! * unit tests script the expected commands and their output with [`ScriptedRunner`].

use crate::error::{Classify, ErrorKind};
use serde::de::DeserializeOwned;
use std::collections::VecDeque;
use std::ffi::OsString;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A command to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The program (looked up in `PATH` when it has no `/`).
    pub program: OsString,
    /// The arguments.
    pub args: Vec<OsString>,
    /// Extra environment variables; the rest of the environment is inherited.
    pub env: Vec<(OsString, OsString)>,
    /// Bytes written to the child's stdin, which is then closed.
    pub stdin: Option<Vec<u8>>,
    /// Kill the child after this long.
    pub timeout: Duration,
    /// Whether the privilege wrapper applies.
    pub privileged: bool,
    /// Exit codes that count as success (default `[0]`).
    pub ok_codes: Vec<i32>,
}

/// The default timeout of a [`Command`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

impl Command {
    /// `program` with no arguments, a 120 s timeout, unprivileged, success on exit code 0.
    pub fn new(program: impl Into<OsString>) -> Self {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            stdin: None,
            timeout: DEFAULT_TIMEOUT,
            privileged: false,
            ok_codes: vec![0],
        }
    }
    /// Appends one argument.
    pub fn arg(mut self, a: impl Into<OsString>) -> Self {
        self.args.push(a.into());
        self
    }
    /// Appends arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }
    /// Sets an environment variable.
    pub fn env(mut self, k: impl Into<OsString>, v: impl Into<OsString>) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }
    /// Feeds `data` to stdin.
    pub fn stdin(mut self, data: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(data.into());
        self
    }
    /// Sets the timeout.
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }
    /// Marks the command as needing the privilege wrapper.
    pub fn privileged(mut self) -> Self {
        self.privileged = true;
        self
    }
    /// Sets the exit codes that count as success.
    pub fn ok_codes(mut self, codes: &[i32]) -> Self {
        self.ok_codes = codes.to_vec();
        self
    }

    /// The command line as one string, for logs and errors (not for a shell).
    pub fn display_argv(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|a| {
                let s = a.to_string_lossy();
                if s.is_empty() || s.contains([' ', '\'', '"']) {
                    format!("{s:?}")
                } else {
                    s.into_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a finished command produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// The exit code; `None` if the child was killed by a signal.
    pub code: Option<i32>,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// An output with exit code 0 and `stdout`.
    pub fn success(stdout: impl Into<Vec<u8>>) -> Self {
        Output { code: Some(0), stdout: stdout.into(), stderr: Vec::new() }
    }
    /// An output with `code` and `stderr`.
    pub fn failure(code: i32, stderr: impl Into<Vec<u8>>) -> Self {
        Output { code: Some(code), stdout: Vec::new(), stderr: stderr.into() }
    }
    /// stdout as (lossy) UTF-8.
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    /// stderr as (lossy) UTF-8.
    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    /// Parses stdout as JSON (`lvs --reportformat json`, `rbd --format json`, `nft -j`).
    pub fn json<T: DeserializeOwned>(&self, cmd: &Command) -> Result<T, CommandError> {
        serde_json::from_slice(&self.stdout).map_err(|source| CommandError::Parse {
            argv: cmd.display_argv(),
            source: Box::new(source),
        })
    }
}

/// A command that could not run or did not succeed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The program could not be started (not installed, not executable).
    #[error("could not run {argv}")]
    Spawn {
        /// The command line.
        argv: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The command ran longer than its timeout and was killed.
    #[error("{argv} timed out after {timeout:?}")]
    Timeout {
        /// The command line.
        argv: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The command exited with a code not in its `ok_codes`, or was killed by a signal.
    #[error("{argv} failed with exit code {code:?}: {stderr}")]
    Failed {
        /// The command line.
        argv: String,
        /// The exit code, `None` for a signal.
        code: Option<i32>,
        /// stderr, trimmed.
        stderr: String,
        /// The full output, for callers that map specific failures.
        output: Output,
    },
    /// The command's output could not be parsed.
    #[error("could not parse the output of {argv}")]
    Parse {
        /// The command line.
        argv: String,
        /// The parser's error.
        #[source]
        source: crate::BoxError,
    },
    /// A scripted runner got a command it did not expect (tests only).
    #[error("unexpected command {argv}: {reason}")]
    Unexpected {
        /// The command line.
        argv: String,
        /// What was expected instead.
        reason: String,
    },
}

impl Classify for CommandError {
    fn kind(&self) -> ErrorKind {
        match self {
            CommandError::Timeout { .. } => ErrorKind::Timeout,
            CommandError::Spawn { .. } => ErrorKind::Unavailable,
            _ => ErrorKind::Internal,
        }
    }
}

/// Runs system commands.
///
/// # Contract
///
/// * The argv is passed to `execve` as is: no shell, no globbing, no word splitting.
/// * `run` returns once the child has exited and its output is fully read, or it has been
///   killed at `cmd.timeout` ([`CommandError::Timeout`]); it never leaves a child running.
/// * An exit code outside `cmd.ok_codes` is [`CommandError::Failed`] carrying the output.
/// * Privileged commands get the runner's wrapper prefix; unprivileged ones never do.
///
/// # Cancellation
///
/// Dropping the future kills the child.
#[async_trait::async_trait]
pub trait CommandRunner: Send + Sync + fmt::Debug + 'static {
    /// Runs `cmd` to completion.
    async fn run(&self, cmd: &Command) -> Result<Output, CommandError>;
}

/// Runs commands on this host with tokio's process support.
#[derive(Debug, Clone, Default)]
pub struct SystemRunner {
    wrapper: Vec<OsString>,
}

impl SystemRunner {
    /// A runner without a privilege wrapper (the process already has the privileges it needs).
    pub fn new() -> Self {
        Self::default()
    }

    /// A runner that prefixes privileged commands with `wrapper` (for example `["sudo", "-n"]`).
    pub fn with_wrapper<I, S>(wrapper: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        SystemRunner { wrapper: wrapper.into_iter().map(Into::into).collect() }
    }

    /// The argv actually executed for `cmd`, wrapper included.
    pub fn effective_argv(&self, cmd: &Command) -> Vec<OsString> {
        let mut argv = Vec::new();
        if cmd.privileged {
            argv.extend(self.wrapper.iter().cloned());
        }
        argv.push(cmd.program.clone());
        argv.extend(cmd.args.iter().cloned());
        argv
    }
}

#[async_trait::async_trait]
impl CommandRunner for SystemRunner {
    async fn run(&self, cmd: &Command) -> Result<Output, CommandError> {
        use std::process::Stdio;
        use tokio::io::AsyncWriteExt;

        let argv = self.effective_argv(cmd);
        let shown = cmd.display_argv();
        let mut child = tokio::process::Command::new(&argv[0]);
        child
            .args(&argv[1..])
            .envs(cmd.env.iter().map(|(k, v)| (k, v)))
            .stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child =
            child.spawn().map_err(|source| CommandError::Spawn { argv: shown.clone(), source })?;
        if let (Some(data), Some(mut stdin)) = (cmd.stdin.clone(), child.stdin.take()) {
            // Write concurrently with reading output so a chatty child cannot deadlock us.
            tokio::spawn(async move {
                let _ = stdin.write_all(&data).await;
            });
        }
        let result = tokio::time::timeout(cmd.timeout, child.wait_with_output()).await;
        let out = match result {
            Ok(Ok(out)) => out,
            Ok(Err(source)) => return Err(CommandError::Spawn { argv: shown, source }),
            // wait_with_output owned the child; dropping it on timeout kills it (kill_on_drop).
            Err(_) => return Err(CommandError::Timeout { argv: shown, timeout: cmd.timeout }),
        };
        let output = Output { code: out.status.code(), stdout: out.stdout, stderr: out.stderr };
        tracing::debug!(argv = %shown, code = ?output.code, elapsed = ?started.elapsed(), "command finished");
        check(cmd, output)
    }
}

/// Turns an output into `Ok` or [`CommandError::Failed`] according to `cmd.ok_codes`.
pub fn check(cmd: &Command, output: Output) -> Result<Output, CommandError> {
    match output.code {
        Some(c) if cmd.ok_codes.contains(&c) => Ok(output),
        code => Err(CommandError::Failed {
            argv: cmd.display_argv(),
            code,
            stderr: output.stderr_str().trim().to_owned(),
            output,
        }),
    }
}

/// One expected command of a [`ScriptedRunner`] and what it returns.
#[derive(Debug, Clone)]
pub struct Expectation {
    /// The expected program and arguments, as strings.
    pub argv: Vec<String>,
    /// What the command "prints"; `Err` simulates a timeout or spawn failure.
    pub result: Result<Output, ScriptedFailure>,
}

/// A non-exit failure a [`ScriptedRunner`] can simulate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptedFailure {
    /// The command times out.
    Timeout,
    /// The program is missing.
    NotFound,
}

/// A fake [`CommandRunner`] for unit tests: it expects an exact sequence of commands and
/// returns scripted outputs, failing with [`CommandError::Unexpected`] on any deviation.
/// It never runs anything.
#[derive(Debug, Default)]
pub struct ScriptedRunner {
    script: Mutex<VecDeque<Expectation>>,
    seen: Mutex<Vec<Vec<String>>>,
}

impl ScriptedRunner {
    /// A runner expecting nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Expects `argv` next and answers with `output` (checked against the command's ok codes).
    pub fn expect(&self, argv: &[&str], output: Output) -> &Self {
        self.push(argv, Ok(output))
    }

    /// Expects `argv` next and simulates `failure`.
    pub fn expect_failure(&self, argv: &[&str], failure: ScriptedFailure) -> &Self {
        self.push(argv, Err(failure))
    }

    fn push(&self, argv: &[&str], result: Result<Output, ScriptedFailure>) -> &Self {
        let argv = argv.iter().map(|s| s.to_string()).collect();
        self.script
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back(Expectation { argv, result });
        self
    }

    /// Every command run so far, as strings.
    pub fn seen(&self) -> Vec<Vec<String>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether every expected command was run.
    pub fn is_done(&self) -> bool {
        self.script.lock().unwrap_or_else(|p| p.into_inner()).is_empty()
    }
}

#[async_trait::async_trait]
impl CommandRunner for ScriptedRunner {
    async fn run(&self, cmd: &Command) -> Result<Output, CommandError> {
        let argv: Vec<String> = std::iter::once(&cmd.program)
            .chain(&cmd.args)
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).push(argv.clone());
        let next = self.script.lock().unwrap_or_else(|p| p.into_inner()).pop_front();
        let shown = cmd.display_argv();
        match next {
            None => Err(CommandError::Unexpected {
                argv: shown,
                reason: "no more commands expected".into(),
            }),
            Some(e) if e.argv != argv => Err(CommandError::Unexpected {
                argv: shown,
                reason: format!("expected {:?}", e.argv),
            }),
            Some(Expectation { result: Ok(out), .. }) => check(cmd, out),
            Some(Expectation { result: Err(ScriptedFailure::Timeout), .. }) => {
                Err(CommandError::Timeout { argv: shown, timeout: cmd.timeout })
            }
            Some(Expectation { result: Err(ScriptedFailure::NotFound), .. }) => {
                Err(CommandError::Spawn {
                    argv: shown,
                    source: std::io::Error::from(std::io::ErrorKind::NotFound),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_argv_without_a_shell_and_captures_everything() {
        let r = SystemRunner::new();
        // A shell would expand $HOME and split on ';'.
        let out = r.run(&Command::new("echo").arg("$HOME; rm -rf /")).await.unwrap();
        assert_eq!(out.stdout_str(), "$HOME; rm -rf /\n");
        let out = r.run(&Command::new("cat").stdin(b"piped".to_vec())).await.unwrap();
        assert_eq!(out.stdout, b"piped");
        let err =
            r.run(&Command::new("sh").args(["-c", "echo oops >&2; exit 3"])).await.unwrap_err();
        match err {
            CommandError::Failed { code, stderr, .. } => {
                assert_eq!(code, Some(3));
                assert_eq!(stderr, "oops");
            }
            other => panic!("{other:?}"),
        }
        let ok = r.run(&Command::new("sh").args(["-c", "exit 3"]).ok_codes(&[0, 3])).await;
        assert!(ok.is_ok());
        let missing = r.run(&Command::new("/nonexistent/ferrostack-tool")).await.unwrap_err();
        assert!(matches!(missing, CommandError::Spawn { .. }));
        assert_eq!(missing.kind(), ErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn times_out_and_kills_the_child() {
        let r = SystemRunner::new();
        let started = Instant::now();
        let err = r
            .run(&Command::new("sleep").arg("30").timeout(Duration::from_millis(200)))
            .await
            .unwrap_err();
        assert!(matches!(err, CommandError::Timeout { .. }));
        assert!(
            started.elapsed() < Duration::from_secs(25),
            "the child was waited for, not killed"
        );
    }

    #[test]
    fn wrapper_applies_only_to_privileged_commands() {
        let r = SystemRunner::with_wrapper(["sudo", "-n"]);
        let plain = Command::new("lvs");
        let privileged = Command::new("lvs").arg("vg").privileged();
        assert_eq!(r.effective_argv(&plain), vec![OsString::from("lvs")]);
        assert_eq!(
            r.effective_argv(&privileged),
            ["sudo", "-n", "lvs", "vg"].map(OsString::from).to_vec()
        );
        assert_eq!(Command::new("a").arg("b c").arg("").display_argv(), "a \"b c\" \"\"");
    }

    #[tokio::test]
    async fn scripted_runner_checks_the_sequence() {
        let r = ScriptedRunner::new();
        r.expect(&["lvs", "--reportformat", "json"], Output::success(r#"{"report":[]}"#))
            .expect(&["lvremove", "vg/x"], Output::failure(5, "Failed to find logical volume"))
            .expect_failure(&["rbd", "ls"], ScriptedFailure::Timeout);
        let cmd = Command::new("lvs").args(["--reportformat", "json"]);
        let v: serde_json::Value = r.run(&cmd).await.unwrap().json(&cmd).unwrap();
        assert_eq!(v["report"], serde_json::json!([]));
        let err = r.run(&Command::new("lvremove").arg("vg/x")).await.unwrap_err();
        assert!(matches!(err, CommandError::Failed { code: Some(5), .. }));
        assert!(matches!(
            r.run(&Command::new("rbd").arg("ls")).await,
            Err(CommandError::Timeout { .. })
        ));
        assert!(r.is_done());
        assert!(matches!(
            r.run(&Command::new("extra")).await,
            Err(CommandError::Unexpected { .. })
        ));
        assert_eq!(r.seen().len(), 4);
    }
}
