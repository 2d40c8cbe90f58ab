//! Oracle test: the tracker against tshark on public captures.
//!
//! For each capture, tshark's HTTP requests (method, target, Host),
//! response codes, request/response pairs (`http.request_in`), TLS server
//! names and ALPN strings are compared per TCP stream with what the tracker
//! reports when fed the same capture's segments (read here with pcap-parser
//! and etherparse, grouped by tshark's `tcp.stream`). Each capture lists the
//! differences it is known to have, with the reason; the test fails on any
//! other difference, and on a listed one that no longer happens.
//!
//! The captures are read from `shared/corpus` beside the repository (or
//! `RETINA_CORPUS`); they are never copied into it. Without the corpus the
//! test is skipped; without tshark it is skipped unless `CI` is set.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{read_capture, TcpSeg};
use retina_l7::{Direction, L7Summary, L7Tracker, Limits, Segment};

/// An item one side reported for a stream and the other did not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Item {
    /// Method, target, Host ("" when absent).
    Request(String, String, String),
    /// A response code paired with the method and target of its request.
    Pair(String, String, u16),
    /// A response code with no request to pair with. (A paired response
    /// is only a `Pair`: response codes repeat, so counting them apart from
    /// their request would let one tshark mode's miss hide behind another
    /// response with the same code.)
    Unpaired(u16),
    Sni(String),
    Alpn(String),
}

impl Item {
    fn kind(&self) -> &'static str {
        match self {
            Item::Request(..) => "request",
            Item::Unpaired(_) => "unpaired",
            Item::Pair(..) => "pair",
            Item::Sni(_) => "sni",
            Item::Alpn(_) => "alpn",
        }
    }
}

/// Which side had an item the other lacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Only {
    Tshark,
    Tracker,
}

/// A difference the test knows about: matched on stream (`None`: any),
/// side, item kind, and the item as text containing `matching`.
struct Explained {
    stream: Option<u64>,
    only: Only,
    kind: &'static str,
    matching: &'static str,
    /// How many such differences there are (so a new one of the same kind
    /// is still caught).
    count: usize,
    #[allow(dead_code)] // read by people: the reason is the point
    why: &'static str,
}

struct Case {
    path: &'static str,
    explained: &'static [Explained],
}

/// The captures, each with the differences it is known to have.
const CASES: &[Case] = &[
    Case {
        path: "zeek/testing/btest/Traces/http/1000-requests-one-dropped-response.pcap",
        explained: &[],
    },
    Case {
        path: "zeek/testing/btest/Traces/http/206_example_b.pcap",
        explained: &[],
    },
    Case {
        path: "zeek/testing/btest/Traces/http/m57-long-49583-80.pcap",
        explained: &[],
    },
    Case {
        path: "zeek/testing/btest/Traces/wikipedia.pcap",
        explained: &[],
    },
    Case {
        path: "zeek/testing/btest/Traces/tcp-http-with-padding.pcap",
        explained: &[
            Explained {
                stream: Some(0),
                only: Only::Tracker,
                kind: "request",
                matching: "\"GET\", \"/\"",
                count: 1,
                why: concat!("The client types its request one byte per segment (\"G\", \"E\", \"T / HTTP\", ...) ", "to port 27272. tshark's heuristic HTTP dissector judges each segment alone, never ", "takes \"G\" for HTTP, and so sees the response without its request; the tracker ", "gathers the first bytes until they decide."),
            },
            Explained {
                stream: Some(0),
                only: Only::Tracker,
                kind: "pair",
                matching: "\"GET\", \"/\", 200",
                count: 1,
                why: concat!("The client types its request one byte per segment (\"G\", \"E\", \"T / HTTP\", ...) ", "to port 27272. tshark's heuristic HTTP dissector judges each segment alone, never ", "takes \"G\" for HTTP, and so sees the response without its request; the tracker ", "gathers the first bytes until they decide."),
            },
            Explained {
                stream: Some(0),
                only: Only::Tshark,
                kind: "unpaired",
                matching: "200",
                count: 1,
                why: concat!("The client types its request one byte per segment (\"G\", \"E\", \"T / HTTP\", ...) ", "to port 27272. tshark's heuristic HTTP dissector judges each segment alone, never ", "takes \"G\" for HTTP, and so sees the response without its request; the tracker ", "gathers the first bytes until they decide."),
            },
        ],
    },
    // Its one request is HTTP/0.9 ("GET /bad.html", no version) and its
    // answer a bare body: neither side reports HTTP, and that agreement is
    // what is checked.
    Case {
        path: "zeek/testing/btest/Traces/ipv6-http-atomic-frag.pcap",
        explained: &[],
    },
    Case {
        path: "zeek/testing/btest/Traces/nflog-http.pcap",
        explained: &[],
    },
    Case {
        path: "zeek/testing/btest/Traces/tls/openjdk-25.0.2-zeek.org.pcap",
        explained: &[],
    },
    Case {
        path: "zeek/testing/btest/Traces/tcp/http-on-irc-port-missing-syn.pcapng",
        explained: &[],
    },
    // Snap-length-cut frames of a connection without HTTP or TLS: nothing to
    // report on either side.
    Case {
        path: "zeek/testing/btest/Traces/tcp/timestamp.pcap",
        explained: &[],
    },
    Case {
        path: "suricata-verify/tests/bug-7264-tcp-3whs-ack-data-tls-01/input.pcap",
        explained: &[],
    },
    Case {
        path: "suricata-verify/tests/http-ipv6/input.pcap",
        explained: &[],
    },
    Case {
        path: "suricata-verify/tests/http-mime-truncated/input.pcap",
        explained: &[],
    },
    Case {
        path: "suricata-verify/tests/tls/tls-subjectaltname/input.pcap",
        explained: &[
            Explained {
                stream: Some(19),
                only: Only::Tracker,
                kind: "pair",
                matching: "Siemens",
                count: 1,
                why: concat!("The response's first segment (frame 592) arrives after a later one (589). tshark ", "leaves overtaken segments out of its reassembly by default (tcp.reassemble_out_of_order ", "off) and never dissects this header; the tracker holds the early segment and parses in ", "sequence order. With that option on tshark agrees here, but then waits forever at holes ", "that never fill and loses the 999 responses after the dropped one in ", "1000-requests-one-dropped-response.pcap, so it is left off."),
            },
            Explained {
                stream: Some(35),
                only: Only::Tracker,
                kind: "pair",
                matching: "57142.jpg",
                count: 1,
                why: concat!("The client port was reused within one tcp.stream (a refused attempt, then a new ", "SYN): tshark takes the new connection's response (Seq=1, frame 2005) for a ", "retransmission and does not dissect it; the tracker follows the SYN-ACK's sequence ", "numbers and reads it."),
            },
        ],
    },
    Case {
        path: "suricata-verify/tests/tcp-stream-after-swap/http-start-from-response.pcap",
        explained: &[],
    },
    Case {
        path: "PcapPlusPlus/Tests/ExamplesTest/pcap_examples/tls2.pcap",
        explained: &[],
    },
    Case {
        path: "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/650HttpResponses.pcap",
        explained: &[
            Explained {
                stream: Some(59),
                only: Only::Tshark,
                kind: "unpaired",
                matching: "302",
                count: 1,
                why: concat!("The first response (frame 110) announces Content-Length: 689, yet the next segment ", "continues the sequence with another response header: the body was never sent (the ", "capture keeps responses only). The tracker trusts Content-Length and takes the next ", "689 bytes, that header included, for the body, so it misses that one response; tshark ", "in its header-only mode looks for a header at each segment start."),
            },
        ],
    },
    Case {
        path: "arkime/tests/pcap/http-post-upload.pcap",
        explained: &[],
    },
    Case {
        path: "arkime/tests/pcap/tls-split-client-hello.pcap",
        explained: &[],
    },
    Case {
        path: "packets/http_espn.pcapng",
        explained: &[],
    },
    Case {
        path: "packets/http_ip4and6.pcapng",
        explained: &[],
    },
    Case {
        path: "packets/latency1.pcapng",
        explained: &[],
    },
    Case {
        path: "nDPI/tests/cfgs/default/pcap/reddit.pcap",
        explained: &[],
    },
    Case {
        path: "nDPI/tests/cfgs/default/pcap/1kxun.pcap",
        explained: &[
            Explained {
                stream: None,
                only: Only::Tshark,
                kind: "pair",
                matching: ", 100)",
                count: 2,
                why: concat!("Two interim \"100 Continue\" responses (one per POST): tshark lists them as ", "responses and pairs the first with its POST; the tracker counts 1xx apart ", "(HttpSummary::informational) and pairs each POST with its final 200, as tshark also does."),
            },
            Explained {
                stream: None,
                only: Only::Tshark,
                kind: "unpaired",
                matching: "100",
                count: 2,
                why: concat!("Two interim \"100 Continue\" responses (one per POST): tshark lists them as ", "responses and pairs the first with its POST; the tracker counts 1xx apart ", "(HttpSummary::informational) and pairs each POST with its final 200, as tshark also does."),
            },
        ],
    },
    Case {
        path: "tcpflow/samplePcaps/jpegs.cap",
        explained: &[
            Explained {
                stream: None,
                only: Only::Tracker,
                kind: "pair",
                matching: "",
                count: 8,
                why: concat!("Each response header is cut off after its status line by segments the capture ", "lacks (their IP packets were fragmented and only the fragments at offset 744 were ", "captured; the client's ACKs show they arrived). tshark drops the unfinished header; ", "the tracker keeps the complete status line and marks the exchange incomplete."),
            },
        ],
    },
    Case {
        path: "nDPI/tests/cfgs/default/pcap/netflix.pcap",
        explained: &[],
    },
    Case {
        path: "nDPI/tests/cfgs/default/pcap/sites.pcapng",
        explained: &[],
    },
    Case {
        path: "nDPI/tests/cfgs/default/pcap/alexa-app.pcapng",
        explained: &[],
    },
    Case {
        path: "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/example.pcap",
        explained: &[
            Explained {
                stream: Some(26),
                only: Only::Tshark,
                kind: "unpaired",
                matching: "200",
                count: 1,
                why: concat!("tshark does not link the 200 to the UPnP SUBSCRIBE request before it (no ", "http.request_in); the tracker pairs them in order."),
            },
            Explained {
                stream: Some(26),
                only: Only::Tracker,
                kind: "pair",
                matching: "SUBSCRIBE",
                count: 1,
                why: concat!("tshark does not link the 200 to the UPnP SUBSCRIBE request before it (no ", "http.request_in); the tracker pairs them in order."),
            },
        ],
    },
    Case {
        path: "PcapPlusPlus/Tests/Pcap++Test/PcapExamples/example2.pcap",
        explained: &[],
    },
    Case {
        path: "tcpreplay/test/test.pcap",
        explained: &[],
    },
    Case {
        path: "arkime/tests/pcap/tcp-reassembly-synthetic.pcap",
        explained: &[],
    },
];

#[derive(Debug, Default)]
struct Tally {
    streams: usize,
    compared: usize,
    agreed: usize,
    explained: usize,
    /// Items both sides report, by kind.
    agreed_by_kind: BTreeMap<&'static str, usize>,
}

fn corpus_dir() -> PathBuf {
    match std::env::var_os("RETINA_CORPUS") {
        Some(p) => PathBuf::from(p),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus"),
    }
}

fn tshark_available() -> bool {
    Command::new("tshark")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// What tshark reports per stream.
#[derive(Debug, Default)]
struct TsharkStream {
    items: Vec<Item>,
}

const AGG: char = '\u{1f}';

/// tshark in both of its HTTP body modes, items merged per stream: an item
/// counts as tshark's when either mode reports it (as many times as the
/// mode that reports it most).
///
/// By default (`http.desegment_body:TRUE`) tshark dissects a response only
/// once its whole body is reassembled: one whose body the capture cut
/// short (snap length, a missing segment, the end of the file) shows no
/// status code at all, where the tracker reports a message as soon as its
/// header is complete. With `FALSE` tshark reports headers at once but,
/// not following bodies, sometimes takes the header after a body for a
/// continuation (PcapPlusPlus example.pcap stream 2, frame 1736). Each
/// mode's misses are the other's finds.
fn tshark(path: &Path) -> (HashMap<u64, u64>, BTreeMap<u64, TsharkStream>) {
    let (frame_stream, mut merged) = tshark_mode(path, true);
    let (_, other) = tshark_mode(path, false);
    for (stream, s) in other {
        let m = merged.entry(stream).or_default();
        m.items = merge_modes(&m.items, &s.items);
    }
    (frame_stream, merged)
}

/// Merges two modes' items of one stream. Requests, pairs and TLS names:
/// the union (as multisets). Responses with a given code: as many as the
/// mode that saw the most, paired wherever either mode paired them (one
/// mode's unpaired 200 is the other's paired 200, not another response).
fn merge_modes(a: &[Item], b: &[Item]) -> Vec<Item> {
    let mut out: Vec<Item> = a
        .iter()
        .filter(|i| !matches!(i, Item::Unpaired(_)))
        .cloned()
        .collect();
    let b_rest: Vec<Item> = b
        .iter()
        .filter(|i| !matches!(i, Item::Unpaired(_)))
        .cloned()
        .collect();
    out.extend(beyond(&b_rest, &out));
    let code = |i: &Item| match i {
        Item::Pair(_, _, c) | Item::Unpaired(c) => Some(*c),
        _ => None,
    };
    let codes: BTreeSet<u16> = a.iter().chain(b).filter_map(code).collect();
    for c in codes {
        let count = |items: &[Item]| items.iter().filter(|i| code(i) == Some(c)).count();
        let total = count(a).max(count(b));
        let paired = count(&out);
        out.extend((paired..total).map(|_| Item::Unpaired(c)));
    }
    out
}

/// Runs tshark over a capture: the stream of each TCP frame, and the items
/// per stream.
fn tshark_mode(
    path: &Path,
    desegment_body: bool,
) -> (HashMap<u64, u64>, BTreeMap<u64, TsharkStream>) {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(path)
        .arg("-o")
        .arg(format!(
            "http.desegment_body:{}",
            if desegment_body { "TRUE" } else { "FALSE" }
        ))
        .args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=a"])
        .arg("-E")
        .arg(format!("aggregator={AGG}"))
        .args([
            "-e",
            "frame.number",
            "-e",
            "tcp.stream",
            "-e",
            "http.request.method",
            "-e",
            "http.request.uri",
            "-e",
            "http.host",
            "-e",
            "http.response.code",
            "-e",
            "http.request_in",
            "-e",
            "tls.handshake.extensions_server_name",
            "-e",
            "tls.handshake.extensions_alpn_str",
        ])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success() || !out.stdout.is_empty(),
        "tshark failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut frame_stream = HashMap::new();
    let mut streams: BTreeMap<u64, TsharkStream> = BTreeMap::new();
    // Requests per frame, in order, for resolving http.request_in.
    let mut requests_at: HashMap<u64, Vec<(String, String)>> = HashMap::new();
    // Responses already paired with each request frame.
    let mut answered: HashMap<u64, usize> = HashMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let field = |i: usize| -> Vec<&str> {
            f.get(i)
                .filter(|s| !s.is_empty())
                .map(|s| s.split(AGG).collect())
                .unwrap_or_default()
        };
        let Some(frame) = f.first().and_then(|s| s.parse::<u64>().ok()) else {
            continue;
        };
        let ids = field(1);
        // A frame with two TCP layers (ICMP quoting TCP, tunnels) is left out.
        let [id] = ids.as_slice() else { continue };
        let Ok(stream) = id.parse::<u64>() else {
            continue;
        };
        frame_stream.insert(frame, stream);
        let s = streams.entry(stream).or_default();
        let (methods, uris, hosts) = (field(2), field(3), field(4));
        for (i, m) in methods.iter().enumerate() {
            let uri = uris.get(i).copied().unwrap_or("").to_string();
            let host = hosts.get(i).copied().unwrap_or("").to_string();
            s.items
                .push(Item::Request(m.to_string(), uri.clone(), host));
            requests_at
                .entry(frame)
                .or_default()
                .push((m.to_string(), uri));
        }
        let codes = field(5);
        let request_in = field(6);
        for (i, c) in codes.iter().enumerate() {
            let Ok(code) = c.parse::<u16>() else { continue };
            let request = request_in
                .get(i)
                .and_then(|r| r.parse::<u64>().ok())
                .and_then(|req_frame| {
                    let n = answered.entry(req_frame).or_default();
                    *n += 1;
                    requests_at.get(&req_frame)?.get(*n - 1)
                });
            s.items.push(match request {
                Some((m, u)) => Item::Pair(m.clone(), u.clone(), code),
                None => Item::Unpaired(code),
            });
        }
        for sni in field(7) {
            s.items.push(Item::Sni(sni.to_string()));
        }
        for alpn in field(8) {
            s.items.push(Item::Alpn(alpn.to_string()));
        }
    }
    (frame_stream, streams)
}

/// Bounds for the comparison: everything kept, real-world buffer sizes.
fn limits() -> Limits {
    Limits {
        max_exchanges: 100_000,
        max_pending_requests: 4096,
        max_path_chars: 64 * 1024,
        max_text_chars: 4096,
        ..Limits::default()
    }
}

/// Feeds each stream's segments to a tracker.
fn track(
    segments: &[TcpSeg],
    frame_stream: &HashMap<u64, u64>,
) -> BTreeMap<u64, Option<L7Summary>> {
    let mut trackers: BTreeMap<u64, (L7Tracker, (IpAddr, u16))> = BTreeMap::new();
    // The client is whoever sent a SYN without ACK, else the first sender.
    let mut client: HashMap<u64, (IpAddr, u16)> = HashMap::new();
    for s in segments {
        let Some(&stream) = frame_stream.get(&s.frame) else {
            continue;
        };
        if s.syn && s.ack.is_none() {
            client.entry(stream).or_insert(s.src);
        }
    }
    for s in segments {
        let Some(&stream) = frame_stream.get(&s.frame) else {
            continue;
        };
        let c = *client.entry(stream).or_insert(s.src);
        let (t, _) = trackers
            .entry(stream)
            .or_insert_with(|| (L7Tracker::new(limits()), c));
        t.segment(&Segment {
            // Frame numbers stand in for time: only the order matters here.
            ts_ns: i64::try_from(s.frame).unwrap_or(i64::MAX),
            dir: if s.src == c {
                Direction::ToServer
            } else {
                Direction::ToClient
            },
            seq: s.seq,
            ack: s.ack,
            syn: s.syn,
            wire_len: s.wire_len,
            payload: &s.payload,
        });
    }
    trackers
        .into_iter()
        .map(|(k, (mut t, _))| (k, t.finish()))
        .collect()
}

fn text(t: &Option<retina_l7::WireText>) -> String {
    t.as_ref()
        .map(|t| t.as_str().to_string())
        .unwrap_or_default()
}

/// The tracker's items for one stream, in tshark's terms.
fn tracker_items(s: &L7Summary) -> Vec<Item> {
    let mut items = Vec::new();
    if let Some(h) = &s.http {
        for e in &h.exchanges {
            if let (Some(m), Some(p)) = (&e.method, &e.path) {
                items.push(Item::Request(m.to_string(), p.to_string(), text(&e.host)));
            }
            if let Some(code) = e.status {
                items.push(match (&e.method, &e.path) {
                    (Some(m), Some(p)) => Item::Pair(m.to_string(), p.to_string(), code),
                    _ => Item::Unpaired(code),
                });
            }
        }
    }
    if let Some(t) = &s.tls {
        if let Some(sni) = &t.sni {
            items.push(Item::Sni(sni.to_string()));
        }
        for a in t.alpn_offered.iter().chain(&t.alpn_selected) {
            items.push(Item::Alpn(a.to_string()));
        }
    }
    items
}

/// Multiset difference: what `a` has beyond `b`.
fn beyond(a: &[Item], b: &[Item]) -> Vec<Item> {
    let mut left: BTreeMap<&Item, usize> = BTreeMap::new();
    for i in b {
        *left.entry(i).or_default() += 1;
    }
    let mut out = Vec::new();
    for i in a {
        match left.get_mut(i) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(i.clone()),
        }
    }
    out
}

/// tshark lists a TLS name once per hello that carries it; the tracker
/// keeps one per stream. Sets, for those.
fn dedup_tls(items: &mut Vec<Item>) {
    let mut seen = BTreeSet::new();
    items.retain(|i| !matches!(i, Item::Sni(_) | Item::Alpn(_)) || seen.insert(i.clone()));
}

fn run_case(dir: &Path, case: &Case, tally: &mut Tally, failures: &mut Vec<String>) {
    let path = dir.join(case.path);
    if !path.exists() {
        println!("SKIPPED: {} not in the corpus", case.path);
        return;
    }
    let capture = match read_capture(&path) {
        Ok(c) => c,
        Err(e) => {
            failures.push(format!("{}: unreadable: {e}", case.path));
            return;
        }
    };
    let (frame_stream, tshark_streams) = tshark(&path);
    let ours = track(&capture.segments, &frame_stream);
    // ORACLE_DUMP=<capture path suffix>:<stream> prints what the tracker made
    // of one stream, for looking into a difference.
    if let Some(want) = std::env::var("ORACLE_DUMP").ok().and_then(|v| {
        let (p, s) = v.rsplit_once(':')?;
        Some((p.to_string(), s.parse::<u64>().ok()?))
    }) {
        if case.path.ends_with(&want.0) {
            println!("{:#?}", ours.get(&want.1));
        }
    }
    let mut local = Tally::default();
    // (stream, only, item) for every difference.
    let mut diffs: Vec<(u64, Only, Item)> = Vec::new();
    let all: BTreeSet<u64> = tshark_streams.keys().chain(ours.keys()).copied().collect();
    for stream in all {
        let mut theirs = tshark_streams
            .get(&stream)
            .map(|s| s.items.clone())
            .unwrap_or_default();
        let mut mine = ours
            .get(&stream)
            .and_then(|s| s.as_ref())
            .map(tracker_items)
            .unwrap_or_default();
        dedup_tls(&mut theirs);
        dedup_tls(&mut mine);
        if theirs.is_empty() && mine.is_empty() {
            continue;
        }
        local.streams += 1;
        let only_theirs = beyond(&theirs, &mine);
        let only_mine = beyond(&mine, &theirs);
        local.compared += theirs.len().max(mine.len());
        local.agreed += theirs.len() - only_theirs.len();
        for i in beyond(&theirs, &only_theirs) {
            *tally.agreed_by_kind.entry(i.kind()).or_default() += 1;
        }
        diffs.extend(only_theirs.into_iter().map(|i| (stream, Only::Tshark, i)));
        diffs.extend(only_mine.into_iter().map(|i| (stream, Only::Tracker, i)));
    }
    // Match differences against the explanations.
    let mut used = vec![0usize; case.explained.len()];
    for (stream, only, item) in &diffs {
        let shown = format!("{item:?}");
        let hit = case.explained.iter().position(|e| {
            e.stream.is_none_or(|s| s == *stream)
                && e.only == *only
                && e.kind == item.kind()
                && shown.contains(e.matching)
        });
        match hit {
            Some(i) => used[i] += 1,
            None => failures.push(format!(
                "{}: stream {stream}: only {only:?} has {shown}",
                case.path
            )),
        }
    }
    for (e, n) in case.explained.iter().zip(&used) {
        if *n != e.count {
            failures.push(format!(
                "{}: explained difference ({:?} {} {:?} in stream {:?}) seen {n} times, listed {}",
                case.path, e.only, e.kind, e.matching, e.stream, e.count
            ));
        }
    }
    local.explained = used.iter().sum();
    println!(
        "{}: {} streams with HTTP/TLS, {} items compared, {} agree, {} differences explained, {} frames without TCP",
        case.path, local.streams, local.compared, local.agreed, local.explained, capture.frames_without_tcp
    );
    tally.streams += local.streams;
    tally.compared += local.compared;
    tally.agreed += local.agreed;
    tally.explained += local.explained;
}

#[test]
fn agrees_with_tshark() {
    let dir = corpus_dir();
    if !dir.is_dir() {
        println!("SKIPPED: no corpus at {}", dir.display());
        return;
    }
    if !tshark_available() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tshark is needed for the oracle test in CI"
        );
        println!("SKIPPED: tshark not found");
        return;
    }
    let mut tally = Tally::default();
    let mut failures = Vec::new();
    for case in CASES {
        run_case(&dir, case, &mut tally, &mut failures);
    }
    println!(
        "total: {} captures, {} streams, {} items compared, {} agree, {} differences explained",
        CASES.len(),
        tally.streams,
        tally.compared,
        tally.agreed,
        tally.explained
    );
    println!("agreed by kind: {:?}", tally.agreed_by_kind);
    assert!(failures.is_empty(), "unexplained:\n{}", failures.join("\n"));
}
