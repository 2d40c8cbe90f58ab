//! `retina-bundle.json`: the manifest of a `retina-capture` output directory
//! and bundle, written by the agent and read by the analyzer. One struct for
//! both sides; its keys are documented in crates/capture-agent/README.md.
//!
//! Reading is lenient, so that manifests of older agents and other writers
//! still read: every key may be missing (it reads as empty, zero or `None`),
//! unknown keys are ignored, and a few older spellings are accepted
//! (`hostname` for `host`, `started`/`start_time` for `start`, `lost` for
//! `lost_events`, and lost events as one number rather than an object).

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// File name of the manifest, in the output directory and in the bundle.
pub const MANIFEST: &str = "retina-bundle.json";
/// The manifest's `format`.
pub const FORMAT: &str = "retina-capture-bundle";
/// The manifest's `format_version`; bumped when a key changes meaning.
pub const FORMAT_VERSION: u32 = 1;

/// The bundle manifest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// [`FORMAT_VERSION`].
    pub format_version: u32,
    /// `"retina-capture"`.
    pub tool: String,
    /// The tool's version.
    pub version: String,
    /// Host name (UTS namespace).
    #[serde(alias = "hostname")]
    pub host: Option<String>,
    /// Kubernetes node name, when a writer names it apart from the host
    /// (retina-capture does not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// Kernel release.
    pub kernel: Option<String>,
    /// Capture start, RFC 3339 UTC with nanoseconds.
    #[serde(alias = "started", alias = "start_time")]
    pub start: Option<String>,
    /// Capture end, RFC 3339 UTC with nanoseconds.
    pub end: Option<String>,
    /// Capture start, Unix nanoseconds.
    pub start_ns: Option<i64>,
    /// Capture end, Unix nanoseconds.
    pub end_ns: Option<i64>,
    /// `duration`, `max-packets`, `max-size`, `SIGINT`, `SIGTERM`.
    pub stop_reason: Option<String>,
    /// The agent's argv.
    pub command_line: Vec<String>,
    pub interfaces: Vec<Interface>,
    pub snaplen: Option<u32>,
    pub filters: Filters,
    pub limits: Limits,
    /// pcapng file names, in order.
    pub packet_files: Vec<String>,
    /// Total size of the packet files.
    pub packet_bytes: u64,
    pub tables: Vec<TableFile>,
    pub counts: Counts,
    /// Events the kernel could not put in a full ring buffer.
    #[serde(alias = "lost", deserialize_with = "lost_events")]
    pub lost_events: Option<LostEvents>,
    /// Programs that failed to detach; empty on a clean stop.
    pub detach_errors: Vec<String>,
    /// One entry per host metadata file.
    pub metadata: Vec<MetadataFile>,
}

/// An interface the packets were captured on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Interface {
    pub name: String,
    pub ifindex: u32,
    /// Its interface id in the pcapng files.
    pub pcapng_interface_id: u32,
    /// pcapng link type (1 Ethernet, 101 raw IP).
    pub linktype: u16,
    pub packets_in: u64,
    pub packets_out: u64,
}

/// The in-kernel filters, as given.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Filters {
    /// CIDR blocks.
    pub nets: Vec<String>,
    pub ports: Vec<u16>,
    /// IP protocol numbers.
    pub protocols: Vec<u8>,
    pub excluded_drop_reasons: Vec<String>,
}

/// The limits, as given.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    pub duration_s: Option<f64>,
    pub max_size: Option<u64>,
    pub max_packets: Option<u64>,
    pub rotate_size: Option<u64>,
}

/// A Parquet table of the bundle.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TableFile {
    /// Table name (`drops`, `retrans`).
    pub table: String,
    /// File name.
    pub file: Option<String>,
    pub rows: u64,
}

/// What the capture counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Counts {
    pub packets_written: u64,
    pub packets_matched_in_kernel: u64,
    pub packets_not_written_after_limit: u64,
    pub drops: u64,
    pub drops_by_reason: BTreeMap<String, u64>,
    pub retransmissions: u64,
}

/// Events lost in the kernel (ring buffer full), and failed packet copies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LostEvents {
    pub packets: u64,
    pub packet_copy_failures: u64,
    pub drops: u64,
    pub retransmissions: u64,
}

impl LostEvents {
    /// Everything lost, whatever the kind.
    pub fn total(&self) -> u64 {
        let LostEvents {
            packets,
            packet_copy_failures,
            drops,
            retransmissions,
        } = self;
        packets
            .saturating_add(*packet_copy_failures)
            .saturating_add(*drops)
            .saturating_add(*retransmissions)
    }
}

/// Lost events as an object, or (other writers) one number, counted as
/// packets.
fn lost_events<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LostEvents>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Lost {
        Counts(LostEvents),
        Total(u64),
    }
    Ok(match Option::<Lost>::deserialize(d)? {
        None => None,
        Some(Lost::Counts(c)) => Some(c),
        Some(Lost::Total(packets)) => Some(LostEvents {
            packets,
            ..LostEvents::default()
        }),
    })
}

/// A host metadata file: the output of a command or a copy of a file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MetadataFile {
    /// Path inside the bundle; `None` when the command could not run.
    pub file: Option<String>,
    /// The command line whose output the file holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The file it is a copy of.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The command's exit status (`None`: killed by a signal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Manifest {
    /// Parses a manifest (see the module documentation for what is accepted).
    pub fn from_json(text: &str) -> Result<Manifest, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// The manifest as written: pretty JSON with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("a manifest always serializes");
        s.push('\n');
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Manifest {
        Manifest {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            tool: "retina-capture".into(),
            version: "0.1.0".into(),
            host: Some("node-a".into()),
            node: None,
            kernel: Some("6.18.0".into()),
            start: Some("2024-02-29T12:34:56.500000000Z".into()),
            end: Some("2024-02-29T12:35:06.500000000Z".into()),
            start_ns: Some(1_709_210_096_500_000_000),
            end_ns: Some(1_709_210_106_500_000_000),
            stop_reason: Some("SIGINT".into()),
            command_line: vec!["retina-capture".into(), "-i".into(), "eth0".into()],
            interfaces: vec![Interface {
                name: "eth0".into(),
                ifindex: 2,
                pcapng_interface_id: 0,
                linktype: 1,
                packets_in: 10,
                packets_out: 12,
            }],
            snaplen: Some(65535),
            filters: Filters {
                nets: vec!["10.0.0.0/8".into()],
                ports: vec![80],
                protocols: vec![6],
                excluded_drop_reasons: vec!["NOT_SPECIFIED".into()],
            },
            limits: Limits {
                duration_s: Some(10.0),
                max_size: None,
                max_packets: Some(1000),
                rotate_size: None,
            },
            packet_files: vec!["capture.pcapng".into()],
            packet_bytes: 4096,
            tables: vec![TableFile {
                table: "drops".into(),
                file: Some("drops.parquet".into()),
                rows: 3,
            }],
            counts: Counts {
                packets_written: 22,
                packets_matched_in_kernel: 22,
                packets_not_written_after_limit: 0,
                drops: 3,
                drops_by_reason: [("NETFILTER_DROP".to_string(), 3)].into(),
                retransmissions: 1,
            },
            lost_events: Some(LostEvents {
                packets: 1,
                packet_copy_failures: 0,
                drops: 2,
                retransmissions: 0,
            }),
            detach_errors: vec![],
            metadata: vec![
                MetadataFile {
                    file: Some("metadata/ip-addr.txt".into()),
                    command: Some("ip -d addr show".into()),
                    status: Some(0),
                    ..MetadataFile::default()
                },
                MetadataFile {
                    file: Some("metadata/proc-net/start/snmp".into()),
                    source: Some("/proc/net/snmp".into()),
                    ..MetadataFile::default()
                },
            ],
        }
    }

    #[test]
    fn round_trip() {
        let m = full();
        let text = m.to_json();
        assert!(text.ends_with("}\n"));
        assert_eq!(Manifest::from_json(&text).unwrap(), m);
        // The keys the README documents and the agent's tests look for.
        for key in [
            "\"format\": \"retina-capture-bundle\"",
            "\"format_version\": 1",
            "\"host\": \"node-a\"",
            "\"stop_reason\": \"SIGINT\"",
            "\"drops\": 2",
            "\"packet_copy_failures\": 0",
        ] {
            assert!(text.contains(key), "{key} in {text}");
        }
        assert!(!text.contains("\"node\""), "no node key unless set");
    }

    #[test]
    fn reads_the_first_agent_format() {
        // As retina-capture 0.1 wrote it with serde_json::json! (keys sorted,
        // nulls written, metadata entries of three shapes).
        let text = r#"{
  "command_line": ["retina-capture", "-i", "veth0"],
  "counts": {"drops": 2, "drops_by_reason": {"NO_SOCKET": 2}, "packets_matched_in_kernel": 9,
             "packets_not_written_after_limit": 0, "packets_written": 9, "retransmissions": 0},
  "detach_errors": [],
  "end": "2024-02-29T12:35:06.500000000Z", "end_ns": 1709210106500000000,
  "filters": {"excluded_drop_reasons": [], "nets": [], "ports": [], "protocols": []},
  "format": "retina-capture-bundle", "format_version": 1, "host": "node-a",
  "interfaces": [{"ifindex": 7, "linktype": 1, "name": "veth0", "packets_in": 4,
                  "packets_out": 5, "pcapng_interface_id": 0}],
  "kernel": "6.18.0",
  "limits": {"duration_s": null, "max_packets": null, "max_size": null, "rotate_size": null},
  "lost_events": {"drops": 0, "packet_copy_failures": 0, "packets": 3, "retransmissions": 0},
  "metadata": [
    {"file": "metadata/proc-net/start/snmp", "source": "/proc/net/snmp"},
    {"command": "ip -d addr show", "error": null, "file": "metadata/ip-addr.txt", "status": 0},
    {"command": "iptables-save", "error": "not run: No such file or directory", "file": null}
  ],
  "packet_bytes": 1234, "packet_files": ["capture.pcapng"], "snaplen": 65535,
  "start": "2024-02-29T12:34:56.500000000Z", "start_ns": 1709210096500000000,
  "stop_reason": "duration",
  "tables": [{"file": "drops.parquet", "rows": 2, "table": "drops"}],
  "tool": "retina-capture", "version": "0.1.0"
}"#;
        let m = Manifest::from_json(text).unwrap();
        assert_eq!(m.host.as_deref(), Some("node-a"));
        assert_eq!(m.start.as_deref(), Some("2024-02-29T12:34:56.500000000Z"));
        assert_eq!(m.lost_events.as_ref().map(LostEvents::total), Some(3));
        assert_eq!(m.interfaces[0].ifindex, 7);
        assert_eq!(m.counts.drops_by_reason["NO_SOCKET"], 2);
        assert_eq!(m.metadata[1].status, Some(0));
        assert_eq!(m.metadata[2].file, None);
        assert_eq!(m.limits.duration_s, None);
    }

    #[test]
    fn reads_partial_and_older_spellings() {
        let m = Manifest::from_json(
            r#"{"tool":"retina-capture","hostname":"node-a","node":"aks-1",
                "started":"2024-01-01T00:00:00Z","lost":{"packets":0,"drops":2},
                "future_key":{"anything":[1,2]}}"#,
        )
        .unwrap();
        assert_eq!(m.host.as_deref(), Some("node-a"));
        assert_eq!(m.node.as_deref(), Some("aks-1"));
        assert_eq!(m.start.as_deref(), Some("2024-01-01T00:00:00Z"));
        assert_eq!(m.lost_events.map(|l| l.total()), Some(2));
        assert!(m.interfaces.is_empty() && m.format.is_empty());

        let m = Manifest::from_json(r#"{"start_time":"x","lost_events":7}"#).unwrap();
        assert_eq!(m.start.as_deref(), Some("x"));
        assert_eq!(m.lost_events.map(|l| l.total()), Some(7));

        let m = Manifest::from_json(r#"{"lost_events":null}"#).unwrap();
        assert_eq!(m.lost_events, None);
        assert_eq!(Manifest::from_json("{}").unwrap(), Manifest::default());
        assert!(Manifest::from_json("[1]").is_err());
    }
}
