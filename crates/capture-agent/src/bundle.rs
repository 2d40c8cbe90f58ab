//! Host network metadata and the `--bundle` tarball (layout documented in
//! crates/capture-agent/README.md).

use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::write::GzEncoder;
use flate2::Compression;
use retina_tables::bundle::MetadataFile;
pub use retina_tables::bundle::MANIFEST;

/// Directory (inside the output directory and the bundle) of host metadata.
pub const METADATA_DIR: &str = "metadata";

/// Commands whose output is saved, as (file name, program, arguments).
const COMMANDS: &[(&str, &str, &[&str])] = &[
    ("ip-addr.txt", "ip", &["-d", "addr", "show"]),
    ("ip-link.txt", "ip", &["-d", "-s", "link", "show"]),
    ("ip-route.txt", "ip", &["route", "show", "table", "all"]),
    (
        "ip6-route.txt",
        "ip",
        &["-6", "route", "show", "table", "all"],
    ),
    ("ip-rule.txt", "ip", &["rule", "show"]),
    ("ip6-rule.txt", "ip", &["-6", "rule", "show"]),
    ("ip-neigh.txt", "ip", &["neigh", "show"]),
    ("socket-stats.txt", "ss", &["-tanpie"]),
    ("nft-ruleset.txt", "nft", &["list", "ruleset"]),
    ("iptables-rules.txt", "iptables-save", &[]),
    ("ip6tables-rules.txt", "ip6tables-save", &[]),
];

/// /proc/net files copied at the start and at the end of the capture.
const PROC_NET: &[&str] = &["snmp", "snmp6", "netstat", "dev", "softnet_stat"];

/// Saves the /proc/net counters into `<dir>/metadata/proc-net/<phase>/`.
/// Returns one manifest entry per file.
pub fn save_proc_net(dir: &Path, phase: &str) -> Vec<MetadataFile> {
    let sub = Path::new(METADATA_DIR).join("proc-net").join(phase);
    let mut out = Vec::new();
    if let Err(e) = std::fs::create_dir_all(dir.join(&sub)) {
        out.push(MetadataFile {
            file: Some(sub.display().to_string()),
            error: Some(e.to_string()),
            ..MetadataFile::default()
        });
        return out;
    }
    for name in PROC_NET {
        let rel = sub.join(name);
        let src = Path::new("/proc/net").join(name);
        let file = Some(rel.display().to_string());
        let source = Some(src.display().to_string());
        out.push(match std::fs::read(&src) {
            Ok(bytes) => match std::fs::write(dir.join(&rel), bytes) {
                Ok(()) => MetadataFile {
                    file,
                    source,
                    ..MetadataFile::default()
                },
                Err(e) => MetadataFile {
                    file,
                    error: Some(e.to_string()),
                    ..MetadataFile::default()
                },
            },
            Err(e) => MetadataFile {
                file,
                source,
                error: Some(e.to_string()),
                ..MetadataFile::default()
            },
        });
    }
    out
}

/// Runs the metadata commands, saving stdout (and stderr, when the command
/// fails) under `<dir>/metadata/`. Missing tools are noted, not fatal.
pub fn save_commands(dir: &Path) -> Vec<MetadataFile> {
    let mut out = Vec::new();
    let meta = dir.join(METADATA_DIR);
    if let Err(e) = std::fs::create_dir_all(&meta) {
        out.push(MetadataFile {
            file: Some(METADATA_DIR.into()),
            error: Some(e.to_string()),
            ..MetadataFile::default()
        });
        return out;
    }
    for (file, prog, args) in COMMANDS {
        let rel = format!("{METADATA_DIR}/{file}");
        let cmdline = std::iter::once(*prog)
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        match Command::new(prog).args(*args).output() {
            Ok(o) => {
                let mut body = o.stdout;
                if !o.status.success() {
                    body.extend_from_slice(b"\n# stderr:\n");
                    body.extend_from_slice(&o.stderr);
                }
                let write = std::fs::write(dir.join(&rel), body);
                out.push(MetadataFile {
                    file: Some(rel),
                    command: Some(cmdline),
                    status: o.status.code(),
                    error: write.err().map(|e| e.to_string()),
                    ..MetadataFile::default()
                });
            }
            Err(e) => out.push(MetadataFile {
                file: None,
                command: Some(cmdline),
                error: Some(format!("not run: {e}")),
                ..MetadataFile::default()
            }),
        }
    }
    out
}

/// Writes the gzip tarball: the pcapng files first (top level), then the
/// Parquet tables, the manifest and the metadata directory. Written under a
/// temporary name and renamed when complete.
pub fn write_bundle(
    bundle: &Path,
    dir: &Path,
    pcapng: &[PathBuf],
    tables: &[PathBuf],
) -> Result<(), String> {
    // A regular file is written under a temporary name and renamed when
    // complete; a device or FIFO is written in place, never renamed over.
    let shown = |e: &dyn std::fmt::Display| format!("--bundle {e}");
    let out = retina_outfile::OutFile::create(bundle).map_err(|e| shown(&e))?;
    let result = (|| -> std::io::Result<retina_outfile::OutFile> {
        let gz = GzEncoder::new(std::io::BufWriter::new(out), Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.follow_symlinks(false);
        for p in pcapng.iter().chain(tables) {
            let n = p.file_name().ok_or_else(|| {
                std::io::Error::other(format!("{}: not a file name", p.display()))
            })?;
            tar.append_path_with_name(p, n)?;
        }
        tar.append_path_with_name(dir.join(MANIFEST), MANIFEST)?;
        let meta = dir.join(METADATA_DIR);
        if meta.is_dir() {
            tar.append_dir_all(METADATA_DIR, &meta)?;
        }
        let gz = tar.into_inner()?;
        let buf = gz.finish()?;
        buf.into_inner().map_err(|e| e.into_error())
    })();
    // On error the OutFile is dropped: a temporary file goes with it.
    let out = result.map_err(|e| format!("--bundle {}: {e}", bundle.display()))?;
    out.commit().map(|_| ()).map_err(|e| shown(&e))
}

/// Host name from the UTS namespace.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// UTC time as RFC 3339 with nanoseconds, and compact (YYYYMMDDhhmmss).
pub fn format_time(ns: i64) -> (String, String) {
    let t = chrono::DateTime::from_timestamp_nanos(ns);
    (
        t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string(),
        t.format("%Y%m%d%H%M%S").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(format_time(0).0, "1970-01-01T00:00:00.000000000Z");
        // 2024-02-29T12:34:56.5Z
        let t = 1_709_210_096_500_000_000;
        assert_eq!(format_time(t).0, "2024-02-29T12:34:56.500000000Z");
        assert_eq!(format_time(t).1, "20240229123456");
    }
}
