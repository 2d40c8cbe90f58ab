//! Command-line errors name the option and exit with status 2; missing
//! privileges are a clear error with status 1.

mod common;

use std::process::Command;

use common::*;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let o = Command::new(AGENT).args(args).output().unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn bad_arguments_name_the_option() {
    for (args, needle) in [
        (&["--net", "10.0.0.0/33"][..], "prefix length"),
        (&["--net", "10.0.0/8"], "not an address"),
        (&["--proto", "tcpx"], "not a protocol"),
        (&["--port", "70000"], "--port"),
        (&["--snaplen", "70000"], "snap length"),
        (&["--max-size", "12XB"], "unknown size unit"),
        (&["--duration", "0"], "greater than 0"),
        (&["--bundle", "out.zip"], "--bundle"),
        (&["--ring-size", "3MiB"], "--ring-size"),
        (&["--max-packets", "0"], "--max-packets"),
    ] {
        let (code, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let (code, out) = {
        let o = Command::new(AGENT).arg("--help").output().unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    assert_eq!(code, Some(0));
    for opt in [
        "--interface",
        "--duration",
        "--bundle",
        "--max-size",
        "--max-packets",
        "--snaplen",
        "--rotate-size",
        "--output",
        "--net",
        "--port",
        "--proto",
        "Exit status",
    ] {
        assert!(out.contains(opt), "help lacks {opt}");
    }
}

/// As root: an unknown interface is named. Without privileges (run as
/// nobody through setpriv): the error says what is missing, status 1.
#[test]
fn runtime_errors_say_what_is_missing() {
    if !privileged("runtime_errors_say_what_is_missing") || !require(tool("setpriv")) {
        return;
    }
    let (code, err) = run(&["-i", "nosuchdev0", "--duration", "1", "--output", "/tmp"]);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("\"nosuchdev0\": no such interface"), "{err}");

    // Without privileges.
    let tmp = TempDir::new("nopriv");
    let bin = tmp.path().join("retina-capture");
    std::fs::copy(AGENT, &bin).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let o = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
        ])
        .arg(&bin)
        .args([
            "-i",
            "lo",
            "--duration",
            "1",
            "--output",
            "/tmp/never-created-retina",
        ])
        .output()
        .expect("setpriv (util-linux)");
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("not enough privileges"), "{err}");
    assert!(err.contains("CAP_BPF"), "{err}");
}
