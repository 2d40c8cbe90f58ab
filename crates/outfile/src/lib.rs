//! Output files that never harm what a user names.
//!
//! Report files are written under a temporary name beside their target and
//! renamed into place when complete, so a failed or interrupted run never
//! leaves a half-written file that looks complete. A rename must never land
//! on anything but a regular file: `-o /dev/null` run as root would replace
//! the device node with a regular file, breaking `/dev/null` for every
//! process on the host. [`OutFile::create`] decides, for one path:
//!
//! - a symlink is followed to its target (the link stays a link);
//! - a character or block device, a FIFO or a socket is written in place,
//!   as `cat > PATH` would;
//! - a descriptor the caller passed (`/dev/stdout`, `/dev/stderr`,
//!   `/dev/fd/N`, `/proc/self/fd/N`, as process substitution gives) is
//!   written in place, appending, whatever it refers to: the shell opened it;
//! - a regular file, or nothing, gets a temporary file in the target's
//!   directory and a rename at [`OutFile::commit`]; an existing file's
//!   permissions are kept;
//! - a directory is an error.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Symlink hops followed before giving up (the kernel's own limit is 40).
const MAX_SYMLINK_HOPS: usize = 40;

/// Why an output file could not be opened or completed. Every variant names
/// the path the user gave.
#[derive(Debug)]
pub struct OutError {
    pub path: PathBuf,
    pub what: String,
    pub source: Option<io::Error>,
}

impl std::fmt::Display for OutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.what)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
        }
        Ok(())
    }
}

impl std::error::Error for OutError {
    // The I/O error is part of the message already: reporting it again as
    // the source would print it twice in an error chain.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        None
    }
}

impl OutError {
    fn new(path: &Path, what: impl Into<String>, source: Option<io::Error>) -> OutError {
        OutError {
            path: path.to_owned(),
            what: what.into(),
            source,
        }
    }

    /// The underlying I/O error's kind, if there is one.
    pub fn kind(&self) -> Option<io::ErrorKind> {
        self.source.as_ref().map(|e| e.kind())
    }
}

/// How an output path will be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Written in place (a device, a FIFO, a descriptor the caller passed);
    /// `append` for descriptors, so a shell's `>>` is honoured.
    InPlace { path: PathBuf, append: bool },
    /// Written to a temporary file in the target's directory, renamed onto
    /// `target` (the path with symlinks followed) when complete.
    Replace {
        target: PathBuf,
        /// The target exists now (a regular file): [`plan`] callers that
        /// refuse to overwrite without `--force` check this.
        exists: bool,
    },
}

impl Plan {
    /// Whether writing would replace an existing regular file.
    pub fn replaces_existing(&self) -> bool {
        matches!(self, Plan::Replace { exists: true, .. })
    }
}

/// A descriptor handed over by the caller: `/dev/stdout`, `/dev/stderr`,
/// `/dev/fd/N`, `/proc/self/fd/N` or `/proc/PID/fd/N`.
fn is_inherited_descriptor(path: &Path) -> bool {
    let parts: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if !path.is_absolute() {
        return false;
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [d, s] if d == "dev" && (s == "stdout" || s == "stderr") => true,
        [d, f, n] if d == "dev" && f == "fd" && digits(n) => true,
        [p, who, f, n]
            if p == "proc" && f == "fd" && (who == "self" || digits(who)) && digits(n) =>
        {
            true
        }
        _ => false,
    }
}

/// Follows a chain of symlinks that may end nowhere (a dangling link names
/// the file to create). Relative link targets are relative to the link's
/// directory.
fn follow_links(path: &Path) -> io::Result<PathBuf> {
    let mut p = path.to_path_buf();
    for _ in 0..MAX_SYMLINK_HOPS {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other("too many levels of symbolic links"))
}

/// Decides how `path` will be written, without writing anything.
pub fn plan(path: &Path) -> Result<Plan, OutError> {
    if path.as_os_str().is_empty() {
        return Err(OutError::new(path, "empty path", None));
    }
    if is_inherited_descriptor(path) {
        return Ok(Plan::InPlace {
            path: path.to_owned(),
            append: true,
        });
    }
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(OutError::new(path, "is a directory", None)),
        Ok(m) if !m.is_file() => Ok(Plan::InPlace {
            path: path.to_owned(),
            append: false,
        }),
        Ok(_) => {
            let target = std::fs::canonicalize(path)
                .map_err(|e| OutError::new(path, "cannot resolve", Some(e)))?;
            Ok(Plan::Replace {
                target,
                exists: true,
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let target =
                follow_links(path).map_err(|e| OutError::new(path, "cannot resolve", Some(e)))?;
            Ok(Plan::Replace {
                target,
                exists: false,
            })
        }
        Err(e) => Err(OutError::new(path, "cannot inspect", Some(e))),
    }
}

/// An output file being written; see the crate documentation.
#[derive(Debug)]
pub struct OutFile {
    file: Option<File>,
    /// The path the user gave (for messages).
    shown: PathBuf,
    /// For a replaced file: the temporary file and its final name.
    replace: Option<(PathBuf, PathBuf)>,
}

static NEXT_TMP: AtomicU64 = AtomicU64::new(0);

/// Temporary files being written, for [`remove_pending`].
static PENDING: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn pending() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    // A panic while the lock was held leaves the list itself intact.
    PENDING.lock().unwrap_or_else(|e| e.into_inner())
}

fn forget_pending(tmp: &Path) {
    let mut p = pending();
    if let Some(i) = p.iter().position(|x| x == tmp) {
        p.swap_remove(i);
    }
}

/// Scratch directories (a spool) that [`remove_pending`] removes whole.
static SCRATCH: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn scratch() -> std::sync::MutexGuard<'static, Vec<PathBuf>> {
    SCRATCH.lock().unwrap_or_else(|e| e.into_inner())
}

/// Lists a scratch directory the caller made (and removes itself when done)
/// for [`remove_pending`] to remove should the process exit abruptly.
pub fn scratch_dir_made(dir: &Path) {
    scratch().push(dir.to_owned());
}

/// The caller removed its scratch directory: no longer listed.
pub fn scratch_dir_removed(dir: &Path) {
    let mut s = scratch();
    if let Some(i) = s.iter().position(|x| x == dir) {
        s.swap_remove(i);
    }
}

/// Removes the temporary files of every [`OutFile`] not yet committed, and
/// the listed scratch directories, for a process about to exit without
/// unwinding (a second Ctrl-C, a fatal signal): what the user named is
/// then either untouched or complete. Returns how many were removed.
pub fn remove_pending() -> usize {
    let mut p = pending();
    let mut n = p.len();
    for tmp in p.drain(..) {
        let _ = std::fs::remove_file(tmp);
    }
    let mut s = scratch();
    n += s.len();
    for dir in s.drain(..) {
        let _ = std::fs::remove_dir_all(dir);
    }
    n
}

impl OutFile {
    /// Opens `path` for writing as its [`plan`] says.
    pub fn create(path: &Path) -> Result<OutFile, OutError> {
        match plan(path)? {
            Plan::InPlace { path: p, append } => {
                let mut o = OpenOptions::new();
                o.write(true);
                if append {
                    o.append(true);
                }
                let file = o
                    .open(&p)
                    .map_err(|e| OutError::new(path, "cannot open for writing", Some(e)))?;
                Ok(OutFile {
                    file: Some(file),
                    shown: path.to_owned(),
                    replace: None,
                })
            }
            Plan::Replace { target, exists } => {
                let dir = match target.parent() {
                    Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                    _ => PathBuf::from("."),
                };
                let name = target
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "output".into());
                let (tmp, file) = loop {
                    let n = NEXT_TMP.fetch_add(1, Ordering::Relaxed);
                    let tmp = dir.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
                    let mut o = OpenOptions::new();
                    o.write(true).create_new(true);
                    // Listed before it exists, so that no moment has it unlisted.
                    pending().push(tmp.clone());
                    match o.open(&tmp) {
                        Ok(f) => break (tmp, f),
                        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                            forget_pending(&tmp);
                            continue;
                        }
                        Err(e) => {
                            forget_pending(&tmp);
                            return Err(OutError::new(
                                path,
                                format!("cannot create a file in {}", dir.display()),
                                Some(e),
                            ));
                        }
                    }
                };
                if exists {
                    // Keep the replaced file's permissions (best effort).
                    if let Ok(m) = std::fs::metadata(&target) {
                        let _ = file.set_permissions(m.permissions());
                    }
                }
                Ok(OutFile {
                    file: Some(file),
                    shown: path.to_owned(),
                    replace: Some((tmp, target)),
                })
            }
        }
    }

    /// The path the file was opened for, as given.
    pub fn path(&self) -> &Path {
        &self.shown
    }

    /// Whether the file is written through a temporary file and a rename.
    pub fn is_replacing(&self) -> bool {
        self.replace.is_some()
    }

    /// Completes the file: flushes it to disk and renames it into place
    /// (a replaced file), or just flushes (written in place). Returns the
    /// final path.
    pub fn commit(mut self) -> Result<PathBuf, OutError> {
        let file = self.file.take().expect("file open until commit");
        match self.replace.take() {
            Some((tmp, target)) => {
                let done = file.sync_all().and_then(|_| {
                    drop(file);
                    std::fs::rename(&tmp, &target)
                });
                forget_pending(&tmp);
                if let Err(e) = done {
                    let _ = std::fs::remove_file(&tmp);
                    return Err(OutError::new(&self.shown, "cannot complete", Some(e)));
                }
                Ok(target)
            }
            None => {
                // fsync on a pipe or a terminal fails with EINVAL: not an error.
                let _ = file.sync_all();
                Ok(self.shown.clone())
            }
        }
    }
}

impl Write for OutFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file
            .as_mut()
            .ok_or_else(|| io::Error::other("output already completed"))?
            .write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match self.file.as_mut() {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for OutFile {
    fn drop(&mut self) {
        // Not committed: a replaced file's target is left untouched.
        self.file.take();
        if let Some((tmp, _)) = self.replace.take() {
            let _ = std::fs::remove_file(&tmp);
            forget_pending(&tmp);
        }
    }
}

/// Writes `bytes` to `path` as [`OutFile`] does, in one call.
pub fn write_all(path: &Path, bytes: &[u8]) -> Result<PathBuf, OutError> {
    let mut f = OutFile::create(path)?;
    f.write_all(bytes)
        .map_err(|e| OutError::new(path, "cannot write", Some(e)))?;
    f.commit()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    #[cfg(unix)]
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    fn leftovers(dir: &Path) -> Vec<String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn a_new_regular_file_appears_only_at_commit() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.json");
        let mut f = OutFile::create(&p).unwrap();
        assert!(f.is_replacing());
        f.write_all(b"{}").unwrap();
        assert!(!p.exists(), "visible before commit");
        f.commit().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"{}");
        assert!(leftovers(d.path()).is_empty());
    }

    #[test]
    fn an_uncommitted_file_leaves_the_old_one_and_no_temporary() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.json");
        std::fs::write(&p, "old").unwrap();
        let mut f = OutFile::create(&p).unwrap();
        f.write_all(b"new, half").unwrap();
        drop(f);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        assert!(leftovers(d.path()).is_empty());
    }

    #[cfg(unix)]
    #[test]
    fn a_replaced_file_keeps_its_permissions() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("out.json");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_all(&p, b"new").unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_is_followed_and_stays_a_link() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("real.json");
        std::fs::write(&target, "old").unwrap();
        let link = d.path().join("link.json");
        std::os::unix::fs::symlink("real.json", &link).unwrap();
        write_all(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    }

    #[cfg(unix)]
    #[test]
    fn a_dangling_symlink_creates_its_target() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        let link = d.path().join("link.json");
        std::os::unix::fs::symlink("sub/new.json", &link).unwrap();
        write_all(&link, b"x").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(d.path().join("sub/new.json")).unwrap(), b"x");
    }

    #[cfg(unix)]
    #[test]
    fn a_symlink_loop_is_an_error_not_a_hang() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        let b = d.path().join("b");
        std::os::unix::fs::symlink(&b, &a).unwrap();
        std::os::unix::fs::symlink(&a, &b).unwrap();
        assert!(OutFile::create(&a).is_err());
    }

    #[test]
    fn a_directory_is_an_error_naming_it() {
        let d = tempfile::tempdir().unwrap();
        let e = OutFile::create(d.path()).unwrap_err();
        assert!(e.to_string().contains("is a directory"), "{e}");
        assert!(e.to_string().contains(&d.path().display().to_string()));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_written_in_place() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("fifo");
        let st = std::process::Command::new("mkfifo")
            .arg(&p)
            .status()
            .unwrap();
        assert!(st.success());
        let reader = {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut s = String::new();
                File::open(p).unwrap().read_to_string(&mut s).unwrap();
                s
            })
        };
        let mut f = OutFile::create(&p).unwrap();
        assert!(!f.is_replacing());
        f.write_all(b"through the pipe").unwrap();
        f.commit().unwrap();
        assert_eq!(reader.join().unwrap(), "through the pipe");
        assert!(std::fs::metadata(&p).unwrap().file_type().is_fifo());
        assert!(leftovers(d.path()).is_empty());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn dev_null_is_written_in_place() {
        // Needs no privilege: /dev/null is writable by everyone, and the
        // plan alone shows it would not be renamed over.
        assert_eq!(
            plan(Path::new("/dev/null")).unwrap(),
            Plan::InPlace {
                path: PathBuf::from("/dev/null"),
                append: false
            }
        );
        write_all(Path::new("/dev/null"), b"gone").unwrap();
        assert!(std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device());
    }

    #[test]
    fn inherited_descriptors_are_recognized() {
        for p in [
            "/dev/stdout",
            "/dev/stderr",
            "/dev/fd/3",
            "/proc/self/fd/1",
            "/proc/1234/fd/63",
        ] {
            assert!(is_inherited_descriptor(Path::new(p)), "{p}");
        }
        for p in [
            "/dev/null",
            "dev/stdout",
            "/dev/fd/x",
            "/proc/self/fdinfo/1",
            "/tmp/fd/1",
        ] {
            assert!(!is_inherited_descriptor(Path::new(p)), "{p}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn an_inherited_regular_file_is_appended_not_replaced() {
        // What `-o /dev/fd/N` sees when the shell opened N with `>>`.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log");
        std::fs::write(&p, "before\n").unwrap();
        let held = OpenOptions::new().append(true).open(&p).unwrap();
        use std::os::fd::AsRawFd;
        let via = PathBuf::from(format!("/proc/self/fd/{}", held.as_raw_fd()));
        write_all(&via, b"after\n").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "before\nafter\n");
        assert!(leftovers(d.path()).is_empty());
    }
}
