//! Every path the analyzer writes (`-o`, `--report`, `--parquet`) leaves
//! what the user named intact: a device node or FIFO is written in place,
//! never renamed over; a symlink is followed and stays a link; a regular
//! file appears whole or not at all.

mod common;

use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{bin, require, root, testdata};

fn capture() -> std::path::PathBuf {
    testdata("tcp-udp-ipv4.pcap")
}

fn mkfifo(p: &Path) {
    let st = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(st.success(), "mkfifo {}", p.display());
}

/// Reads a FIFO to its end on another thread.
fn drain_fifo(p: &Path) -> std::thread::JoinHandle<Vec<u8>> {
    let p = p.to_path_buf();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::fs::File::open(p)
            .unwrap()
            .read_to_end(&mut buf)
            .unwrap();
        buf
    })
}

/// Runs `script` with `sh` in a private mount namespace (mounts it makes
/// vanish with it; /dev and the host are never touched), its arguments a
/// fresh empty directory, the analyzer binary and `capture`.
fn in_private_mount_namespace(script: &str, capture: &Path) -> std::process::Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(dir.path())
        .arg(env!("CARGO_BIN_EXE_retina-analyze"))
        .arg(capture)
        .output()
        .unwrap()
}

/// The regression of the device-node defect: run as root, `-o DEV`,
/// `--report` and `--parquet` onto character devices made in a private
/// mount namespace (a fresh tmpfs), never /dev itself.
#[test]
fn device_nodes_are_written_in_place_never_replaced() {
    if !require(root()) || !require(common::tool("unshare")) {
        return;
    }
    let script = r#"
set -e
d="$1"; shift; bin="$1"; shift; cap="$1"
mount -t tmpfs -o mode=0755 retina-test "$d"
mknod -m 666 "$d/null" c 1 3
mkdir "$d/report" "$d/tables"
mknod -m 666 "$d/report/report.html" c 1 3
mknod -m 666 "$d/tables/flows.parquet" c 1 3
set +e
"$bin" "$cap" --quiet --format json -o "$d/null"; echo "exit-o=$?"
"$bin" "$cap" --quiet -o "$d/null" --report "$d/report" --parquet "$d/tables"; echo "exit-dirs=$?"
set -e
for f in "$d/null" "$d/report/report.html" "$d/tables/flows.parquet"; do
  echo "type $(basename $f)=$(stat -c %F "$f")"
done
ls -a "$d" "$d/report" "$d/tables"
"#;
    let out = in_private_mount_namespace(script, &capture());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("exit-o=0"), "{stdout}\n{stderr}");
    assert!(stdout.contains("exit-dirs=0"), "{stdout}\n{stderr}");
    for name in ["null", "report.html", "flows.parquet"] {
        assert!(
            stdout.contains(&format!("type {name}=character special file")),
            "{name} was replaced:\n{stdout}\n{stderr}"
        );
    }
    // The other files were written, and no temporary file was left.
    assert!(stdout.contains("report.md"), "{stdout}");
    assert!(stdout.contains("events.parquet"), "{stdout}");
    assert!(
        !stdout.lines().any(|l| l.ends_with(".tmp")),
        "temporary file left: {stdout}"
    );
}

#[test]
fn a_fifo_receives_the_output_and_stays_a_fifo() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out.fifo");
    mkfifo(&fifo);
    let reader = drain_fifo(&fifo);
    let st = bin()
        .arg(capture())
        .args(["--quiet", "--format", "json", "-o"])
        .arg(&fifo)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    let body = reader.join().unwrap();
    let v: serde_json::Value = serde_json::from_slice(&body).expect("JSON through the FIFO");
    assert_eq!(v["capture"]["packets"], 313);
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn dev_stdout_and_process_substitution_descriptors_are_written_in_place() {
    for target in ["/dev/stdout", "/proc/self/fd/1"] {
        let out = bin()
            .arg(capture())
            .args(["--quiet", "--format", "json", "-o", target])
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{target}");
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{target}: {e}"));
        assert_eq!(v["capture"]["packets"], 313, "{target}");
    }
}

#[test]
fn a_symlink_is_followed_and_stays_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.json");
    std::fs::write(&real, "old").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink("real.json", &link).unwrap();
    let st = bin()
        .arg(capture())
        .args(["--quiet", "--format", "json", "-o"])
        .arg(&link)
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&real).unwrap()).unwrap();
    assert_eq!(v["capture"]["packets"], 313);
}

#[test]
fn report_and_table_files_that_are_symlinks_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let report = dir.path().join("report");
    let tables = dir.path().join("tables");
    std::fs::create_dir(&report).unwrap();
    std::fs::create_dir(&tables).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("r.md"), report.join("report.md")).unwrap();
    std::os::unix::fs::symlink(elsewhere.join("f.parquet"), tables.join("flows.parquet")).unwrap();
    let out = bin()
        .arg(capture())
        .args(["--quiet", "-o", "/dev/null", "--report"])
        .arg(&report)
        .arg("--parquet")
        .arg(&tables)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for link in [report.join("report.md"), tables.join("flows.parquet")] {
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink(),
            "{} replaced",
            link.display()
        );
    }
    let md = std::fs::read_to_string(elsewhere.join("r.md")).unwrap();
    assert!(md.contains("retina-analyze"), "{md}");
    let pq = std::fs::read(elsewhere.join("f.parquet")).unwrap();
    assert_eq!(&pq[..4], b"PAR1");
}

#[test]
fn a_directory_as_output_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .arg(capture())
        .args(["--quiet", "-o"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is a directory"), "{err}");
    assert!(err.contains(&dir.path().display().to_string()), "{err}");
}

/// A full disk (a 64 KiB tmpfs, nearly filled, in a private mount
/// namespace): `-o`, `--report` and `--parquet` fail with an error naming
/// the file and the cause, a file that was there keeps its old content,
/// and nothing half-written or temporary is left.
#[test]
fn a_full_disk_leaves_nothing_half_written() {
    if !require(root()) || !require(common::tool("unshare")) {
        return;
    }
    let script = r#"
set -e
d="$1"; shift; bin="$1"; shift; cap="$1"
mount -t tmpfs -o size=64k,mode=0755 retina-full "$d"
echo old > "$d/out.json"
dd if=/dev/zero of="$d/fill" bs=1k count=56 2>/dev/null || true
set +e
"$bin" "$cap" --quiet --format json -o "$d/out.json"; echo "exit-o=$?"
"$bin" "$cap" --quiet --format json -o /dev/null --report "$d/report"; echo "exit-report=$?"
"$bin" "$cap" --quiet --format json -o /dev/null --parquet "$d/tables" --parquet-packets; echo "exit-parquet=$?"
set -e
echo "old-content=$(cat "$d/out.json")"
find "$d" -type f | sort | while read -r f; do
  echo "file $(basename "$f") size=$(stat -c %s "$f") tail=$(tail -c 7 "$f" | tr -dc 'A-Za-z0-9</>')"
done
"#;
    let out = in_private_mount_namespace(script, &testdata("groundtruth/loss.pcap"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("{stdout}\n{stderr}");
    assert!(out.status.success(), "{all}");
    for step in ["exit-o=1", "exit-report=1", "exit-parquet=1"] {
        assert!(stdout.contains(step), "{step}: {all}");
    }
    assert!(stderr.contains("out.json"), "{all}");
    assert!(stderr.contains("No space left on device"), "{all}");
    assert!(
        stdout.contains("old-content=old"),
        "the old file was harmed: {all}"
    );
    for line in stdout.lines().filter(|l| l.starts_with("file ")) {
        let name = line.split_whitespace().nth(1).unwrap();
        assert!(!name.ends_with(".tmp"), "temporary file left: {all}");
        match Path::new(name).extension().and_then(|e| e.to_str()) {
            Some("parquet") => assert!(line.ends_with("PAR1"), "half a table: {line}"),
            Some("html") => assert!(line.contains("</html>"), "half a report: {line}"),
            Some("md") => assert!(!line.contains("size=0 "), "empty report: {line}"),
            _ => assert!(name == "out.json" || name == "fill", "unexpected {line}"),
        }
    }
}

/// SIGTERM (what Kubernetes and systemd send) stops the run like Ctrl-C:
/// the report of what was read is written, whole, to every output, marked
/// interrupted, and no temporary file is left.
#[test]
fn sigterm_writes_complete_outputs_of_what_was_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = std::fs::read(testdata("groundtruth/loss.pcap")).unwrap();
    let (out_json, report, tables) = (
        dir.path().join("out.json"),
        dir.path().join("report"),
        dir.path().join("tables"),
    );
    let args: Vec<&std::ffi::OsStr> = vec![
        "--quiet".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "-o".as_ref(),
        out_json.as_os_str(),
        "--report".as_ref(),
        report.as_os_str(),
        "--parquet".as_ref(),
        tables.as_os_str(),
    ];
    let out = common::signalled_stdin_run(&data[..data.len() / 2], &args, "TERM");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("out.json")).unwrap()).unwrap();
    assert_eq!(json["capture"]["partial"], true, "{stderr}");
    assert!(json["capture"]["warnings"]
        .to_string()
        .contains("interrupted"));
    assert!(json["capture"]["packets"].as_u64().unwrap() > 0);
    let html = std::fs::read_to_string(dir.path().join("report/report.html")).unwrap();
    assert!(html.trim_end().ends_with("</html>"));
    let flows = std::fs::read(dir.path().join("tables/flows.parquet")).unwrap();
    assert!(flows.starts_with(b"PAR1") && flows.ends_with(b"PAR1"));
    let mut stack = vec![dir.path().to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            assert!(
                !p.to_string_lossy().ends_with(".tmp"),
                "left {}",
                p.display()
            );
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
}

/// `--report` into a place that cannot take it fails before any analysis
/// (nothing read, nothing written), naming the option and the place, and
/// an operating system error is said once.
#[test]
fn an_unwritable_report_directory_fails_before_the_analysis() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let out = common::bin()
        .arg(capture())
        .args(["--quiet", "--format", "json", "--report"])
        .arg(file.join("sub"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty(), "no analysis output: {err}");
    assert!(
        err.contains("--report") && err.contains("not a directory"),
        "{err}"
    );
    // Parquet into a missing place: the OS error once, not twice.
    let out = common::bin()
        .arg(capture())
        .args(["--quiet", "--parquet", "/proc/retina-no-such/dir"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.matches("(os error").count(), 1, "{err}");
}
