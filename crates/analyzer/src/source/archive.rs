//! Tar archives that hold captures: the capture agent's bundles
//! (`retina-capture --bundle`, with `retina-bundle.json`, drops.parquet and
//! retrans.parquet) and Retina Capture tarballs
//! (`<name>-<node>-<YYYYMMDDhhmmss>UTC.tar.gz` holding `<name>.pcap` and the
//! node's network metadata). The members the analysis reads are extracted
//! into a directory the caller owns; everything else is listed.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use retina_tables::bundle::{LostEvents, Manifest, MANIFEST};

pub use crate::report::ArchiveRecord;

/// Paths of the extracted members, for the analysis.
#[derive(Debug, Default)]
pub struct Extracted {
    pub captures: Vec<(PathBuf, String)>,
    pub drops: Vec<(PathBuf, String)>,
    pub retrans: Vec<(PathBuf, String)>,
}

fn is_capture(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let n = n.strip_suffix(".gz").unwrap_or(&n);
    n.ends_with(".pcap") || n.ends_with(".pcapng") || n.ends_with(".cap")
}

/// Splits a Retina Capture file name into (name-node, timestamp).
fn retina_name(path: &Path) -> Option<(String, String)> {
    let file = path.file_name()?.to_str()?;
    let stem = file
        .strip_suffix(".tar.gz")
        .or_else(|| file.strip_suffix(".tgz"))?;
    let stem = stem.strip_suffix("UTC")?;
    let (prefix, ts) = stem.rsplit_once('-')?;
    (ts.len() == 14 && ts.bytes().all(|b| b.is_ascii_digit()))
        .then(|| (prefix.to_string(), ts.to_string()))
}

/// `0` for a bundle's `proc-net/start/{netstat,snmp}`, `1` for `end`.
fn proc_net_phase(rel: &Path) -> Option<usize> {
    let file = rel.file_name()?.to_str()?;
    if file != "netstat" && file != "snmp" {
        return None;
    }
    let phase = rel.parent()?;
    if phase.parent()?.file_name()? != "proc-net" {
        return None;
    }
    match phase.file_name()?.to_str()? {
        "start" => Some(0),
        "end" => Some(1),
        _ => None,
    }
}

/// `/proc/net/netstat` and `snmp`: pairs of lines, `Group: Name Name…` then
/// `Group: value value…`, as `Group.Name` → value (nstat's names).
pub fn parse_proc_net(text: &str) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let (Some(names), Some(values)) = (lines.next(), lines.next()) {
        let (Some((group, names)), Some((group2, values))) =
            (names.split_once(':'), values.split_once(':'))
        else {
            break;
        };
        if group != group2 {
            break;
        }
        for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
            if let Ok(v) = v.parse::<i64>() {
                out.push((format!("{group}.{n}"), v));
            }
        }
    }
    out
}

/// A member path that stays inside the extraction directory.
fn safe_relative(p: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(x) => out.push(x),
            Component::CurDir => {}
            _ => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// Reads the archive at `path` (gzip or plain tar), extracting captures and
/// drop tables into `into`.
pub fn extract(path: &Path, into: &Path) -> (ArchiveRecord, Extracted) {
    let mut rec = ArchiveRecord {
        path: path.to_owned(),
        kind: "tar",
        ..ArchiveRecord::default()
    };
    let mut ex = Extracted::default();
    let counter = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let reader = match super::open(path, counter) {
        Ok((r, _)) => r,
        Err(e) => {
            rec.error = Some(e.to_string());
            return (rec, ex);
        }
    };
    let mut manifest: Option<Manifest> = None;
    // /proc/net counters at the start and at the end of the capture.
    let mut counters: [std::collections::BTreeMap<String, i64>; 2] = Default::default();
    let mut ar = tar::Archive::new(reader);
    let entries = match ar.entries() {
        Ok(e) => e,
        Err(e) => {
            rec.error = Some(format!(
                "{}: not a readable tar archive: {e}",
                path.display()
            ));
            return (rec, ex);
        }
    };
    for (n, entry) in entries.enumerate() {
        let mut entry = match entry {
            Ok(e) => e,
            Err(e) => {
                rec.error = Some(format!(
                    "{}: damaged after {n} member(s): {e}",
                    path.display()
                ));
                break;
            }
        };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let Some(name) = entry.path().ok().map(|p| p.into_owned()) else {
            continue;
        };
        let shown = name.display().to_string();
        let Some(rel) = safe_relative(&name) else {
            rec.metadata
                .push(format!("{shown} (skipped: path leaves the archive)"));
            continue;
        };
        let base = rel
            .file_name()
            .and_then(|b| b.to_str())
            .unwrap_or_default()
            .to_string();
        let wanted_capture = is_capture(&base);
        let wanted_drops = base == "drops.parquet";
        let wanted_retrans = base == "retrans.parquet";
        if base == MANIFEST {
            let mut s = String::new();
            if entry.by_ref().take(4 << 20).read_to_string(&mut s).is_ok() {
                manifest = Manifest::from_json(&s).ok();
            }
            rec.metadata.push(shown);
            continue;
        }
        if !(wanted_capture || wanted_drops || wanted_retrans) {
            if let Some(phase) = proc_net_phase(&rel) {
                let mut s = String::new();
                if entry.by_ref().take(1 << 20).read_to_string(&mut s).is_ok() {
                    counters[phase].extend(parse_proc_net(&s));
                }
            }
            rec.metadata.push(shown);
            continue;
        }
        let dest = into.join(format!("{n}-{}", base));
        let res = std::fs::File::create(&dest).and_then(|mut f| std::io::copy(&mut entry, &mut f));
        if let Err(e) = res {
            // A truncated member still holds what came before the damage.
            rec.error = Some(format!("{}: member {shown}: {e}", path.display()));
        }
        let label = format!("{}:{shown}", path.display());
        if wanted_capture {
            rec.captures.push(shown);
            ex.captures.push((dest, label));
        } else if wanted_drops {
            rec.drops.push(shown);
            ex.drops.push((dest, label));
        } else {
            rec.retrans.push(shown);
            ex.retrans.push((dest, label));
        }
        if rec.error.is_some() {
            break;
        }
    }
    let [start, end] = counters;
    rec.kernel_counters = end
        .iter()
        .filter_map(|(k, v)| {
            let d = v - start.get(k)?;
            (d != 0).then(|| (k.clone(), d))
        })
        .collect();
    if let Some(m) = manifest {
        rec.kind = "retina-capture bundle";
        rec.node = m.node.or_else(|| m.host.clone());
        rec.name = m.host;
        rec.started = m.start;
        rec.lost_events = m.lost_events.as_ref().map(LostEvents::total);
    } else if let Some((prefix, ts)) = retina_name(path) {
        rec.kind = "Retina Capture";
        rec.started = Some(ts);
        // `<name>-<node>`: the name is the capture file's stem.
        let stem = rec.captures.first().and_then(|c| {
            Path::new(c)
                .file_name()?
                .to_str()?
                .split('.')
                .next()
                .map(str::to_string)
        });
        match stem.and_then(|s| {
            prefix
                .strip_prefix(&format!("{s}-"))
                .map(|n| (s, n.to_string()))
        }) {
            Some((name, node)) => {
                rec.name = Some(name);
                rec.node = Some(node);
            }
            None => rec.name = Some(prefix),
        }
    }
    if rec.captures.is_empty() && rec.error.is_none() {
        rec.error = Some(format!(
            "{}: the archive holds no capture (.pcap/.pcapng)",
            path.display()
        ));
    }
    (rec, ex)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retina_capture_names() {
        assert_eq!(
            retina_name(Path::new("/x/cap-1-aks-node-0-20261120101500UTC.tar.gz")),
            Some(("cap-1-aks-node-0".into(), "20261120101500".into()))
        );
        assert_eq!(retina_name(Path::new("bundle.tar.gz")), None);
        assert!(safe_relative(Path::new("../etc/passwd")).is_none());
        assert!(safe_relative(Path::new("/etc/passwd")).is_none());
        assert_eq!(
            safe_relative(Path::new("./a/b.pcap")),
            Some(PathBuf::from("a/b.pcap"))
        );
        assert!(is_capture("x.pcap.gz") && is_capture("Y.PCAPNG") && !is_capture("drops.parquet"));
    }

    #[test]
    fn proc_net_counters_by_nstat_name() {
        let text = "TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 72 72\n\
                    IpExt: InNoRoutes InOctets\nIpExt: 3 123456\n";
        let c = parse_proc_net(text);
        assert!(c.contains(&("TcpExt.ListenOverflows".into(), 72)));
        assert!(c.contains(&("IpExt.InOctets".into(), 123456)));
        assert_eq!(c.len(), 5);
        // The real file of this machine parses, names and values in step.
        if let Ok(real) = std::fs::read_to_string("/proc/net/netstat") {
            let c = parse_proc_net(&real);
            assert!(
                c.iter().any(|(k, _)| k == "TcpExt.ListenOverflows"),
                "{c:?}"
            );
        }
        assert_eq!(
            proc_net_phase(Path::new("metadata/proc-net/end/netstat")),
            Some(1)
        );
        assert_eq!(proc_net_phase(Path::new("proc-net/start/snmp")), Some(0));
        assert_eq!(proc_net_phase(Path::new("metadata/proc-net/end/dev")), None);
        assert_eq!(
            proc_net_phase(Path::new("metadata/other/end/netstat")),
            None
        );
    }
}
