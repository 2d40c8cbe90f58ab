//! Equivalence with the real tcpdump.
//!
//! For every expression of [`EXPRESSIONS`] (and [`SPELLED_DIFFERENTLY`])
//! and every capture of [`CAPTURES`], `tcpdump -r CAPTURE -w OUT EXPR`
//! selects a set of frames;
//! the filter, run on the same capture decoded here (`capture.rs`), must
//! select the same frames — compared frame by frame, by (timestamp, wire
//! length, bytes), not by counts.
//!
//! What is compared is the filter's world: IP packets. Frames that are not
//! IP (ARP, STP, …) are left out, since the analyzer never offers them to a
//! filter. Where the crate's semantics deliberately differ from tcpdump
//! (see the crate documentation), the table compares what the difference
//! leaves equal, and the other tests of this file check the difference
//! itself against tcpdump:
//!
//! * VLAN-tagged captures: tcpdump gets the expression "lifted" through
//!   the tags ([`lift_through_vlan_tags`]); expressions using `vlan` are
//!   checked in [`vlan_terms`].
//! * IPv6 packets with extension headers are left out of the table and
//!   checked in [`ipv6_extension_headers`].
//! * Tunnels: the table decodes outer headers, like tcpdump;
//!   [`tunnel_inner_headers`] checks the analyzer's view of the inner ones.
//!
//! Without tcpdump the tests print `SKIPPED: …` and pass, unless `CI` is
//! set. Captures of the shared corpus (`../shared/corpus`, next to the
//! repository; read in place, never copied) are skipped with a message when
//! the corpus is absent.

mod capture;
mod differences;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use capture::{Frame, View};
use retina_filter::{Filter, NoNames};

/// Filters compared with tcpdump, each on every capture. Each one selects
/// some frames and rejects others somewhere in the captures (checked).
const EXPRESSIONS: &[&str] = &[
    // Versions and protocols.
    "ip",
    "ip6",
    "not ip",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "ip proto 17",
    r"ip proto \tcp",
    r"proto \udp",
    "ip6 proto 58",
    r"ip6 proto \tcp",
    "proto 58",
    // Hosts, with direction qualifiers and borrowed qualifiers.
    "host 10.99.0.2",
    "src host 10.99.0.1",
    "dst host 10.99.0.1",
    "ip6 host fd00:99::2",
    "src and dst host 127.0.0.1",
    "ip src 192.168.1.10",
    "dst 2001:db8:1::2",
    "host 10.99.0.1 and host 10.99.0.2",
    "host 2.2.2.2 or 141.142.228.5 or fd00:99::1",
    "dst host 10.99.0.2 or not 10.99.0.1",
    // Networks: CIDR, masks, tcpdump's short forms, IPv6.
    "net 10.99.0.0/24",
    "net 10",
    "net 141.142",
    "src net 192.168.1",
    "net 10.0.0.0 mask 255.0.255.0",
    "dst net 224.0.0.0/4",
    "ip6 net fd00::/8",
    "src net 2001:db8::/32",
    "src or dst net fe80::/10",
    "src and dst net ::1/128",
    // Ports: TCP, UDP and SCTP only, never on later fragments.
    "port 8080",
    "tcp port 8081",
    "udp port 5300",
    "udp dst port 53",
    "src port 80",
    "port 80 or 8080 or 5355",
    "tcp port http",
    "port domain",
    "port netbios-ns",
    "portrange 5000-5400",
    "tcp dst portrange 1024-65535",
    "udp portrange 2150-2160",
    "src or dst portrange 8080-8081",
    "src and dst port 80",
    // Frame lengths.
    "less 100",
    "greater 1000",
    "less 64 or greater 1400",
    // Boundaries: 60 and 66 bytes are the commonest frame lengths.
    "less 60",
    "greater 66",
    // Combinations: precedence, negation, borrowed qualifiers in groups.
    "not tcp",
    "! udp && ! icmp",
    "tcp and not port 8080",
    "port 53 or 5300 and host 10.99.0.2",
    "host 10.99.0.1 and (10.99.0.2 or 127.0.0.1)",
    "tcp or udp and dst port 5300",
    "not host 10.99.0.1 or 127.0.0.1",
    "(tcp or icmp) and greater 200",
    "ip and not (udp port 5300 or tcp port 8080)",
    "icmp or icmp6 or ip proto 2",
    "tcp port 80 and (src net 192.168.0.0/16 or dst net 2001:db8::/32)",
    "udp and not port 5300 and not port 53",
    "icmp || ip6 && greater 100",
];

/// Filters tcpdump spells differently: (ours, tcpdump's). tcpdump needs a
/// backslash before a protocol name that is also a keyword.
const SPELLED_DIFFERENTLY: &[(&str, &str)] = &[
    ("proto tcp", r"proto \tcp"),
    ("ip proto udp", r"ip proto \udp"),
    (r"ip6 proto tcp or \udp", r"ip6 proto \tcp or \udp"),
];

/// Every row of the table: (ours, tcpdump's).
fn table() -> Vec<(&'static str, &'static str)> {
    EXPRESSIONS
        .iter()
        .map(|e| (*e, *e))
        .chain(SPELLED_DIFFERENTLY.iter().copied())
        .collect()
}

/// A capture of the table.
struct Capture {
    /// From the repository root, or from the shared corpus after `corpus:`.
    path: &'static str,
    /// Ethernet frames with 802.1Q/802.1ad tags: tcpdump gets the
    /// expression lifted through the tags.
    vlan_tags: bool,
    /// What it brings to the comparison.
    covers: &'static str,
}

const CAPTURES: &[Capture] = &[
    Capture {
        path: "testdata/tcp-udp-ipv4.pcap",
        vlan_tags: false,
        covers: "Ethernet; IPv4 TCP, UDP, ICMP errors, IPv4 fragments",
    },
    Capture {
        path: "testdata/ipv6.pcapng",
        vlan_tags: false,
        covers: "pcapng, ns timestamps; IPv6 TCP, UDP, ICMPv6, ND",
    },
    Capture {
        path: "testdata/any-sll.pcap",
        vlan_tags: false,
        covers: "Linux cooked v1",
    },
    Capture {
        path: "testdata/any-sll2.pcap",
        vlan_tags: false,
        covers: "Linux cooked v2",
    },
    Capture {
        path: "testdata/nanosecond.pcap",
        vlan_tags: false,
        covers: "nanosecond pcap",
    },
    Capture {
        path: "testdata/vxlan.pcap",
        vlan_tags: false,
        covers: "VXLAN underlay (outer headers)",
    },
    Capture {
        path: "corpus:zeek/testing/btest/Traces/vlan-collisions.pcap",
        vlan_tags: true,
        covers: "the same packets untagged, with tag 42, and with tags 10 and 20",
    },
    Capture {
        path: "corpus:zeek/testing/btest/Traces/q-in-q.pcap",
        vlan_tags: true,
        covers: "Q-in-Q (13, 10), UDP multicast",
    },
    Capture {
        path: "corpus:suricata-verify/tests/eve-payload-05-tcp-data-gap/tcp-simple-gap2.pcap",
        vlan_tags: true,
        covers: "802.1Q tag 6, TCP 8080",
    },
    Capture {
        path: "corpus:arkime/tests/pcap/dot1ad.pcap",
        vlan_tags: true,
        covers: "802.1ad outer tag (0x88a8)",
    },
    Capture {
        path: "corpus:zeek/testing/btest/Traces/wikipedia.pcap",
        vlan_tags: false,
        covers: "IPv4 and IPv6, multicast, NetBIOS, LLMNR, STP",
    },
    Capture {
        path: "corpus:zeek/testing/btest/Traces/ipv6-http-atomic-frag.pcap",
        vlan_tags: false,
        covers: "IPv6 HTTP (its extension-header packets are left out here)",
    },
    Capture {
        path: "corpus:zeek/testing/btest/Traces/tunnels/gtp/gtp1_gn_normal_incl_fragmentation.pcap",
        vlan_tags: false,
        covers: "IPv4 UDP 2152 in fragments (later fragments have no ports)",
    },
    Capture {
        path: "corpus:zeek/testing/btest/Traces/tunnels/socks.pcap",
        vlan_tags: false,
        covers: "BSD loopback (NULL), 127.0.0.1",
    },
    Capture {
        path: "corpus:suricata-verify/tests/http-ipv6/input.pcap",
        vlan_tags: false,
        covers: "BSD loopback, IPv6 ::1",
    },
    Capture {
        path: "corpus:zeek/testing/btest/Traces/tcp/timeout-with-pings.pcap",
        vlan_tags: false,
        covers: "raw IPv4 (link type 228), ICMP echo",
    },
    Capture {
        path: "corpus:zeek/testing/btest/Traces/tcp/payload-syn.pcap",
        vlan_tags: false,
        covers: "raw IP (link type 101), TCP 80 both ends",
    },
    Capture {
        path: "corpus:zeek/testing/btest/Traces/ftp/ipv6.pcap",
        vlan_tags: false,
        covers: "IPv6 FTP",
    },
    Capture {
        path: "corpus:packets/http_ip4and6.pcapng",
        vlan_tags: false,
        covers: "pcapng, HTTP over IPv4 and IPv6",
    },
    Capture {
        path: "corpus:zeek/testing/btest/Traces/tcp/timestamp.pcap",
        vlan_tags: false,
        covers: "snaplen-truncated frames",
    },
    Capture {
        path: "corpus:PcapPlusPlus/Tests/Pcap++Test/PcapExamples/sll.pcap",
        vlan_tags: false,
        covers: "Linux cooked v1, mixed traffic",
    },
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus_dir() -> PathBuf {
    repo_root().join("../shared/corpus")
}

/// The tcpdump binary, or `None` after printing why the tests skip. In CI
/// a missing tcpdump fails instead (scripts/install-deps.sh installs it).
fn tcpdump() -> Option<PathBuf> {
    let candidates = ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"].map(PathBuf::from);
    let on_path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("tcpdump"))
                .collect()
        })
        .unwrap_or_default();
    let found = candidates.into_iter().chain(on_path).find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tcpdump is not installed, and CI is set: the equivalence test must run in CI"
        );
        println!("SKIPPED: tcpdump not found; the tcpdump equivalence tests did not run");
    }
    found
}

/// The capture's file, or `None` (with a printed reason) for a corpus
/// capture when the corpus is absent.
fn locate(path: &str) -> Option<PathBuf> {
    match path.strip_prefix("corpus:") {
        None => Some(repo_root().join(path)),
        Some(rel) => {
            let corpus = corpus_dir();
            if !corpus.is_dir() {
                println!(
                    "SKIPPED {rel}: the shared corpus is not at {}",
                    corpus.display()
                );
                return None;
            }
            let file = corpus.join(rel);
            assert!(
                file.is_file(),
                "{} is missing from the corpus",
                file.display()
            );
            Some(file)
        }
    }
}

/// Frames tcpdump selects from `file` with `expr`.
fn tcpdump_select(tcpdump: &Path, file: &Path, expr: &str, out: &Path) -> Vec<Frame> {
    let output = Command::new(tcpdump)
        .args(["-n", "--time-stamp-precision=nano", "-r"])
        .arg(file)
        .arg("-w")
        .arg(out)
        .arg(expr)
        .output()
        .expect("run tcpdump");
    let stderr = String::from_utf8_lossy(&output.stderr);
    // libpcap refuses to compile a filter that cannot match on the link
    // type (`ip6` on raw IPv4): that is an empty selection.
    if stderr.contains("expression rejects all packets") {
        return Vec::new();
    }
    assert!(
        output.status.success(),
        "tcpdump -r {} {expr:?} failed: {stderr}",
        file.display(),
    );
    capture::read(out).unwrap_or_else(|e| panic!("reading tcpdump's output: {e}"))
}

/// Tests a tag type at byte `at` of an Ethernet frame. `ether[]` offsets do
/// not move with tcpdump's `vlan`, unlike every other test.
fn tag_at(at: usize) -> String {
    format!("(ether[{at}:2] = 0x8100 or ether[{at}:2] = 0x88a8 or ether[{at}:2] = 0x9100)")
}

/// tcpdump's equivalent of `expr` as this crate evaluates it on Ethernet
/// frames with up to two tags: `expr` at the untagged offsets when there is
/// no tag, after one `vlan` (tcpdump then moves its offsets by 4) when
/// there is one, after two when there are two. Each branch first checks
/// the tag count with `ether[]`, so that a negated `expr` cannot match a
/// frame at the wrong offset.
fn lift_through_vlan_tags(expr: &str) -> String {
    format!(
        "(not {t0} and ({expr})) or (vlan and ((not {t1} and ({expr})) or (vlan and not {t2} and ({expr}))))",
        t0 = tag_at(12),
        t1 = tag_at(16),
        t2 = tag_at(20),
    )
}

/// A frame's place in the comparison.
struct Decoded {
    frame: Frame,
    view: Option<View>,
}

fn load(file: &Path) -> Vec<Decoded> {
    let frames = capture::read(file).unwrap_or_else(|e| panic!("{e}"));
    let mut views: Vec<Option<View>> = frames.iter().map(capture::decode).collect();
    capture::attribute_fragments(&mut views);
    frames
        .into_iter()
        .zip(views)
        .map(|(frame, view)| Decoded { frame, view })
        .collect()
}

/// Compares one expression on one capture over the frames `in_scope`
/// accepts. Returns (selected, rejected) counts and the disagreements.
fn compare(
    tcpdump: &Path,
    file: &Path,
    frames: &[Decoded],
    ours: &str,
    theirs: &str,
    in_scope: impl Fn(&View) -> bool,
    out: &Path,
) -> (usize, usize, Vec<String>) {
    let filter = Filter::parse(ours).unwrap_or_else(|e| panic!("{ours:?}: {e}"));
    let mut selected: BTreeMap<_, usize> = BTreeMap::new();
    for f in tcpdump_select(tcpdump, file, theirs, out) {
        *selected.entry(f.identity()).or_default() += 1;
    }
    let (mut yes, mut no, mut diffs) = (0, 0, Vec::new());
    for (index, d) in frames.iter().enumerate() {
        // tcpdump's copy is used up, so that duplicate frames count once each.
        let by_tcpdump = match selected.get_mut(&d.frame.identity()) {
            Some(n) if *n > 0 => {
                *n -= 1;
                true
            }
            _ => false,
        };
        let Some(view) = d.view.as_ref().filter(|v| in_scope(v)) else {
            continue;
        };
        let by_us = filter.matches(view, &NoNames);
        if by_us {
            yes += 1;
        } else {
            no += 1;
        }
        if by_us != by_tcpdump {
            diffs.push(format!(
                "{}: {ours:?} frame #{index}: filter {by_us}, tcpdump {by_tcpdump}; {view:?}",
                file.display()
            ));
        }
    }
    (yes, no, diffs)
}

/// What one capture gave: its line of the printed table, the selected and
/// rejected counts per expression, and the disagreements.
struct CaptureResult {
    line: String,
    counts: Vec<(usize, usize)>,
    diffs: Vec<String>,
}

fn compare_capture(tcpdump: &Path, cap: &Capture, file: &Path, out: &Path) -> CaptureResult {
    let frames = load(file);
    let not_ip = frames.iter().filter(|d| d.view.is_none()).count();
    let ext = frames
        .iter()
        .filter(|d| d.view.as_ref().is_some_and(|v| v.ipv6_ext))
        .count();
    let mut line = format!(
        "{} ({}): {} frames, {not_ip} not IP, {ext} IPv6 with extension headers left out\n ",
        cap.path,
        cap.covers,
        frames.len(),
    );
    let mut counts = Vec::new();
    let mut diffs = Vec::new();
    for (ours, theirs) in table() {
        let theirs = if cap.vlan_tags {
            lift_through_vlan_tags(theirs)
        } else {
            theirs.to_string()
        };
        let (yes, no, d) = compare(tcpdump, file, &frames, ours, &theirs, |v| !v.ipv6_ext, out);
        line += &format!(" {yes}");
        counts.push((yes, no));
        diffs.extend(d);
    }
    CaptureResult {
        line,
        counts,
        diffs,
    }
}

#[test]
fn filters_select_what_tcpdump_selects() {
    let Some(tcpdump) = tcpdump() else { return };
    let files: Vec<(&Capture, PathBuf)> = CAPTURES
        .iter()
        .filter_map(|cap| Some((cap, locate(cap.path)?)))
        .collect();
    // Over a thousand tcpdump runs: spread the captures over the cores.
    let tmp = tempfile::tempdir().unwrap();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results = std::sync::Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    std::thread::scope(|s| {
        for worker in 0..workers {
            let (files, next, results, tcpdump) = (&files, &next, &results, &tcpdump);
            let out = tmp.path().join(format!("out-{worker}.pcap"));
            s.spawn(move || loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((cap, file)) = files.get(i) else {
                    break;
                };
                let result = compare_capture(tcpdump, cap, file, &out);
                results.lock().unwrap().push((i, result));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by_key(|(i, _)| *i);

    let rows = table();
    let mut totals = vec![(0usize, 0usize); rows.len()];
    let mut diffs = Vec::new();
    let mut report = String::new();
    for (_, r) in &results {
        for (total, (yes, no)) in totals.iter_mut().zip(&r.counts) {
            total.0 += yes;
            total.1 += no;
        }
        report += &r.line;
        report += "\n";
        diffs.extend(r.diffs.iter().cloned());
    }
    println!(
        "{} expressions x {} captures; frames selected, per capture in table order:\n{report}",
        rows.len(),
        results.len(),
    );
    assert!(
        diffs.is_empty(),
        "{} disagreements with tcpdump:\n{}",
        diffs.len(),
        diffs
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // An expression that selects everything or nothing compares nothing.
    // With the corpus absent only the repository's captures run, where
    // some expressions have nothing to find.
    if corpus_dir().is_dir() {
        let vacuous: Vec<String> = rows
            .iter()
            .map(|(ours, _)| ours)
            .zip(&totals)
            .filter(|(_, (yes, no))| *yes == 0 || *no == 0)
            .map(|(expr, (yes, no))| format!("{expr:?} selects {yes} and rejects {no}"))
            .collect();
        assert!(
            vacuous.is_empty(),
            "expressions that compare nothing over all captures:\n{}",
            vacuous.join("\n")
        );
    }
}
