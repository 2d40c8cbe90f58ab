//! Tests that need something a machine may lack (tshark, tcptrace,
//! Chromium, root, network namespaces, BPF): the one rule for whether they
//! run, skip or fail. Shared by the analyzer's and the capture agent's
//! integration tests (the agent includes this file by path).

use std::process::Command;

/// Whether a test that needs something this machine may lack can run:
/// `Ok(())` when it can. Otherwise the test is skipped with the reason
/// printed, except in CI (`CI` set), where every such test must run and
/// its absence is a failure.
pub fn require(available: Result<(), String>) -> bool {
    match available {
        Ok(()) => true,
        Err(why) => {
            if std::env::var_os("CI").is_some() {
                panic!(
                    "{why}; CI is set: this test must run there (scripts/install-deps.sh, as root)"
                );
            }
            eprintln!("SKIPPED: {why} (set CI to make this a failure)");
            false
        }
    }
}

/// `Ok(())` when running as root (network namespaces, mounts, device nodes).
pub fn root() -> Result<(), String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id -u: {e}"))?;
    if String::from_utf8_lossy(&out.stdout).trim() == "0" {
        Ok(())
    } else {
        Err("not running as root".into())
    }
}

/// `Ok(())` when `tool` runs (`tool --version` or `tool -v`).
pub fn tool(tool: &str) -> Result<(), String> {
    let ok = |a: &str| {
        Command::new(tool)
            .arg(a)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok()
    };
    if ok("--version") || ok("-v") {
        Ok(())
    } else {
        Err(format!("{tool} is not installed"))
    }
}

/// The first of `names` (one program's usual names) that runs.
pub fn first_tool(names: &[&'static str]) -> Result<&'static str, String> {
    names
        .iter()
        .copied()
        .find(|t| tool(t).is_ok())
        .ok_or_else(|| format!("none of {} is installed", names.join(", ")))
}
