//! `remove_pending` acts on every output of the process, so it is tested
//! alone in its own test binary.

use std::io::Write;
use std::path::Path;

use retina_outfile::{remove_pending, OutFile};

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn remove_pending_removes_uncommitted_temporaries_only() {
    let d = tempfile::tempdir().unwrap();
    let done = d.path().join("done.json");
    let mut a = OutFile::create(&done).unwrap();
    a.write_all(b"{}").unwrap();
    a.commit().unwrap();
    let mut b = OutFile::create(&d.path().join("half.json")).unwrap();
    b.write_all(b"{\"fl").unwrap();
    assert_eq!(leftovers(d.path()).len(), 1, "the temporary of half.json");
    // What a second Ctrl-C does before exiting without unwinding.
    assert_eq!(remove_pending(), 1);
    assert!(leftovers(d.path()).is_empty());
    std::mem::forget(b);
    assert_eq!(std::fs::read_to_string(&done).unwrap(), "{}");
    assert!(!d.path().join("half.json").exists());
    assert_eq!(remove_pending(), 0, "nothing listed twice");
    // A listed scratch directory goes whole; one removed by its owner is forgotten.
    let spool = d.path().join(".spool");
    std::fs::create_dir_all(spool.join("x")).unwrap();
    std::fs::write(spool.join("x/rows"), b"r").unwrap();
    retina_outfile::scratch_dir_made(&spool);
    let kept = d.path().join("kept");
    std::fs::create_dir(&kept).unwrap();
    retina_outfile::scratch_dir_made(&kept);
    retina_outfile::scratch_dir_removed(&kept);
    assert_eq!(remove_pending(), 1);
    assert!(!spool.exists());
    assert!(kept.exists());
}
