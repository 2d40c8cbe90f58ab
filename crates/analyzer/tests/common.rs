//! Helpers shared by the integration tests: run the real binary on files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// A path from this file, so it resolves both when a test declares `mod
// common;` and when cargo builds this file as a test of its own.
#[path = "common/require.rs"]
mod require;
#[allow(unused_imports)] // unused when this file is built as a test of its own
pub use require::{first_tool, require, root, tool};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

pub fn testdata(name: &str) -> PathBuf {
    repo_root().join("testdata").join(name)
}

pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_retina-analyze"))
}

/// Runs the analyzer on `files` with `args`, once with `--threads 1` and
/// once with `--threads 2`, and requires the same exit status and
/// byte-identical standard output (the output may not depend on the thread
/// count); returns the second run. With `--threads` in `args`, runs once.
pub fn run_both_thread_counts<S: AsRef<std::ffi::OsStr>>(files: &[&Path], args: &[S]) -> Output {
    let run = |threads: Option<&str>| -> Output {
        let mut c = bin();
        c.args(files).args(args);
        if let Some(n) = threads {
            c.args(["--threads", n]);
        }
        c.output().expect("run retina-analyze")
    };
    if args.iter().any(|a| a.as_ref() == "--threads") {
        return run(None);
    }
    let one = run(Some("1"));
    let two = run(Some("2"));
    assert_eq!(
        one.status.code(),
        two.status.code(),
        "exit status differs between --threads 1 and 2 for {files:?} {:?}",
        args.iter()
            .map(|a| a.as_ref().to_owned())
            .collect::<Vec<_>>()
    );
    assert!(
        one.stdout == two.stdout,
        "output differs between --threads 1 and --threads 2 for {files:?} {:?}",
        args.iter()
            .map(|a| a.as_ref().to_owned())
            .collect::<Vec<_>>()
    );
    two
}

/// Runs the analyzer with `--format json` and returns (exit code, JSON, stderr).
/// Runs it with one and with two threads and requires the same output.
pub fn analyze_json(files: &[&Path], extra: &[&str]) -> (i32, serde_json::Value, String) {
    let mut args = vec!["--format", "json", "--quiet"];
    args.extend_from_slice(extra);
    let out: Output = run_both_thread_counts(files, &args);
    let code = out.status.code().unwrap_or(-1);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = if out.stdout.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    };
    (code, json, stderr)
}

/// Paths where two JSON values differ (for readable assertion messages).
pub fn json_diff(a: &serde_json::Value, b: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                json_diff(
                    v,
                    y.get(k).unwrap_or(&Value::Null),
                    &format!("{path}.{k}"),
                    out,
                );
            }
            for k in y.keys().filter(|k| !x.contains_key(*k)) {
                out.push(format!("{path}.{k}: missing on the left"));
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                json_diff(v, w, &format!("{path}[{i}]"), out);
            }
        }
        _ if a != b => out.push(format!("{path}: {a} != {b}")),
        _ => {}
    }
}

/// Asserts two JSON values are equal, listing the differing paths otherwise.
pub fn assert_json_eq(a: &serde_json::Value, b: &serde_json::Value, ctx: &str) {
    let mut d = Vec::new();
    json_diff(a, b, "", &mut d);
    assert!(
        d.is_empty(),
        "{ctx}: {} difference(s):\n{}",
        d.len(),
        d.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
}

/// Streams `data` into the analyzer's standard input (`-`, plus `args`),
/// sends Ctrl-C (SIGINT) while it is still reading, then closes the input;
/// returns what the run printed and its status.
pub fn interrupted_stdin_run(data: &[u8], args: &[&std::ffi::OsStr]) -> Output {
    signalled_stdin_run(data, args, "INT")
}

/// The same with any signal (`INT`, `TERM`, `HUP`).
pub fn signalled_stdin_run(data: &[u8], args: &[&std::ffi::OsStr], signal: &str) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = bin()
        .arg("-")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(data).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    // The signal while the capture is still streaming in, then the producer closes.
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(std::time::Duration::from_millis(100));
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// The records of the classic pcap `src` stamped at or before `end_ns`
/// (Unix ns), as a pcap file of their own: a capture that ended then.
/// Classic pcap only (either byte order, µs or ns timestamps). Returns the
/// file and the time of its last record.
pub fn pcap_until(src: &Path, end_ns: i64) -> (Vec<u8>, Option<i64>) {
    let data = std::fs::read(src).expect("read capture");
    let magic = &data[..4];
    let (le, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => panic!("{}: not a classic pcap", src.display()),
    };
    let u32_at = |i: usize| {
        let b: [u8; 4] = data[i..i + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    let mut out = data[..24].to_vec();
    let mut last = None;
    let mut i = 24;
    while i + 16 <= data.len() {
        let sec = i64::from(u32_at(i));
        let frac = i64::from(u32_at(i + 4));
        let ts = sec * 1_000_000_000 + if nanos { frac } else { frac * 1000 };
        let len = u32_at(i + 8) as usize;
        let end = i + 16 + len;
        if end > data.len() || ts > end_ns {
            break;
        }
        out.extend_from_slice(&data[i..end]);
        last = Some(ts);
        i = end;
    }
    (out, last)
}
