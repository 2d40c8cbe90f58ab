//! Helpers shared by the integration tests: run the real binary on files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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

/// Runs the analyzer with `--format json` and returns (exit code, JSON, stderr).
pub fn analyze_json(files: &[&Path], extra: &[&str]) -> (i32, serde_json::Value, String) {
    let out: Output = bin()
        .args(files)
        .args(["--format", "json", "--quiet"])
        .args(extra)
        .output()
        .expect("run retina-analyze");
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
