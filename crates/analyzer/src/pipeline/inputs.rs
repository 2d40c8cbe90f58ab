//! The inputs of a run, sorted by kind. Everything the user names is told
//! apart by content: captures, flow logs, the agent's tables, and archives
//! (agent bundles, Retina Capture tarballs), whose members are extracted
//! into a scratch directory removed with the [`Inputs`].

use std::collections::HashMap;
use std::path::PathBuf;

use crate::report::ArchiveRecord;
use crate::source::{archive, sniff_kind, InputKind};

/// The inputs of a run, by kind.
#[derive(Debug, Default)]
pub struct Inputs {
    /// Packet captures, in input order (archive members in place of their archive).
    pub captures: Vec<PathBuf>,
    /// Hubble flow logs.
    pub flow_logs: Vec<PathBuf>,
    /// Drop tables (drops.parquet), with the name to show for each.
    pub drops: Vec<(PathBuf, String)>,
    /// Kernel retransmission tables (retrans.parquet), likewise.
    pub retrans: Vec<(PathBuf, String)>,
    /// Archives read, with what they held.
    pub archives: Vec<ArchiveRecord>,
    /// Shown names (`ARCHIVE:MEMBER`) of captures extracted from archives.
    pub shown: HashMap<String, String>,
    /// Where archive members were extracted (removed when dropped).
    scratch: Option<tempfile::TempDir>,
}

impl Inputs {
    /// The name to show for a capture path (archive members by their archive).
    pub fn shown_name(&self, path: &str) -> String {
        self.shown
            .get(path)
            .cloned()
            .unwrap_or_else(|| path.to_string())
    }

    /// `message` with every extracted member's path replaced by its
    /// `ARCHIVE:MEMBER` name (the scratch directory's name changes from run
    /// to run and means nothing to the reader).
    pub fn relabel(&self, message: &str) -> String {
        let mut m = message.to_string();
        for (path, shown) in &self.shown {
            if m.contains(path.as_str()) {
                m = m.replace(path.as_str(), shown);
            }
        }
        m
    }
}

/// Sorts `files` by kind, extracting archives. Unreadable files go to the
/// capture reader, which reports them with the rest.
pub fn classify(files: &[PathBuf]) -> std::io::Result<Inputs> {
    let mut inputs = Inputs::default();
    for f in files {
        match sniff_kind(f) {
            Ok(InputKind::FlowLog) => inputs.flow_logs.push(f.clone()),
            Ok(InputKind::Parquet) => {
                let shown = (f.clone(), f.display().to_string());
                match retina_tables::table_name(f) {
                    Ok(Some(t)) if t == "retrans" => inputs.retrans.push(shown),
                    // drops.parquet, or a table the drop reader will explain.
                    _ => inputs.drops.push(shown),
                }
            }
            Ok(InputKind::Archive) => {
                if inputs.scratch.is_none() {
                    inputs.scratch = Some(
                        tempfile::Builder::new()
                            .prefix("retina-analyze-")
                            .tempdir()?,
                    );
                }
                let root = inputs
                    .scratch
                    .as_ref()
                    .map(|t| t.path().to_owned())
                    .unwrap_or_default();
                let dir = root.join(inputs.archives.len().to_string());
                std::fs::create_dir_all(&dir)?;
                let (rec, ex) = archive::extract(f, &dir);
                for (p, label) in ex.captures {
                    inputs.shown.insert(p.display().to_string(), label);
                    inputs.captures.push(p);
                }
                inputs.drops.extend(ex.drops);
                inputs.retrans.extend(ex.retrans);
                inputs.archives.push(rec);
            }
            _ => inputs.captures.push(f.clone()),
        }
    }
    Ok(inputs)
}
