//! Running the `partlog` binary from tests.

#![allow(dead_code)] // each test file uses some of these

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

/// The binary, with `--dir dir` and `args`.
pub fn command(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_partlog"));
    command.arg("--dir").arg(dir).args(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    command
}

/// Runs the binary to its end, with `stdin` as its standard input.
pub fn partlog(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = command(dir, args).spawn().unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        // A command refused before it reads its input (a locked directory) closes it: a broken
        // pipe here is not the test's failure; its exit code and output say what happened.
        let _ = input.write_all(text.as_bytes());
    }
    drop(input);
    child.wait_with_output().unwrap()
}

/// Its standard output; fails the test if it did not succeed.
pub fn stdout(o: &Output) -> String {
    assert!(
        o.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8(o.stdout.clone()).unwrap()
}

/// Waits for `child` to end, at most `seconds`; kills it and fails the test after that.
pub fn wait_at_most(mut child: Child, seconds: u64) -> Output {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {seconds} s; printed: {}", String::from_utf8_lossy(&out.stdout));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}
