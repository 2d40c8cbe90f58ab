//! `--bundle` never harms the path it is given: a device node or FIFO is
//! written in place (never renamed over), a symlink is followed and stays a
//! link. Needs root and BPF like the other agent tests (skipped with a
//! printed reason elsewhere, a failure in CI).

mod common;

use std::io::Read;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::*;

/// Names of the members of a gzip tarball's bytes.
fn members(gz: &[u8]) -> Vec<String> {
    let mut tar_bytes = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut tar_bytes)
        .expect("gzip");
    let mut ar = tar::Archive::new(&tar_bytes[..]);
    ar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

fn bundle_once(p: &Pair, target: &Path) {
    let mut agent = start_agent(
        "retina-capture --bundle",
        &p.ns_b,
        &[
            "-i",
            &p.if_b,
            "--duration",
            "1",
            "--bundle",
            target.to_str().unwrap(),
        ],
    );
    let (code, _) = agent.wait(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", agent.stderr_text());
}

#[test]
fn bundle_onto_a_symlink_a_fifo_and_a_device() {
    if !privileged("bundle_onto_a_symlink_a_fifo_and_a_device") || !require(tool("unshare")) {
        return;
    }
    let p = Pair::new();
    let out = TempDir::new("bundle-targets");

    // A symlink: its target gets the bundle, the link stays.
    let link = out.path().join("link.tar.gz");
    std::os::unix::fs::symlink("real.tar.gz", &link).unwrap();
    bundle_once(&p, &link);
    assert!(std::fs::symlink_metadata(&link)
        .unwrap()
        .file_type()
        .is_symlink());
    let real = std::fs::read(out.path().join("real.tar.gz")).unwrap();
    assert!(members(&real).contains(&"capture.pcapng".to_string()));

    // A FIFO (no .tar.gz name needed): the bundle streams through it.
    let fifo = out.path().join("bundle.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let f = fifo.clone();
        std::thread::spawn(move || {
            let mut v = Vec::new();
            std::fs::File::open(f).unwrap().read_to_end(&mut v).unwrap();
            v
        })
    };
    bundle_once(&p, &fifo);
    let streamed = reader.join().unwrap();
    assert!(members(&streamed).contains(&"retina-bundle.json".to_string()));
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

    // A character device made in a private mount namespace (never /dev).
    let script = r#"
set -e
d="$1"; ns="$2"; dev="$3"; agent="$4"
mount -t tmpfs -o mode=0755 retina-test "$d"
mknod -m 666 "$d/null" c 1 3
set +e
ip netns exec "$ns" "$agent" -i "$dev" --duration 1 --bundle "$d/null"; echo "exit=$?"
set -e
echo "type=$(stat -c %F "$d/null")"
ls -a "$d"
"#;
    let mnt = out.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let o = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            script,
            "sh",
        ])
        .arg(&mnt)
        .args([&p.ns_b, &p.if_b, AGENT])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(stdout.contains("exit=0"), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("type=character special file"),
        "the device was replaced:\n{stdout}\n{stderr}"
    );
    assert!(
        !stdout.lines().any(|l| l.ends_with(".tmp")),
        "temporary file left: {stdout}"
    );
}
