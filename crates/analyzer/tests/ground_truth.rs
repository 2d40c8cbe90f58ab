//! The analyzer's TCP and DNS numbers against KERNEL ground truth.
//!
//! `scripts/groundtruth/run.py` (run once for all tests, as root) creates
//! fresh network namespaces, runs real Linux traffic through nftables drops
//! and a tbf qdisc, captures it on the sender (client) side, and records what
//! the kernel itself says: TCP_INFO of every socket, per-namespace SNMP
//! counters, nftables drop counters, tcp tracepoints, and what the
//! applications did (bytes, turns, DNS queries and answers). See
//! scripts/groundtruth/README.md for the scenarios and the meaning of every
//! truth field.
//!
//! Three independent views are compared: the analyzer's JSON, this file's
//! own computation from `tshark -T fields` (sequence numbers, lengths,
//! timestamps: no tshark analysis flags), and the kernel's counters.
//!
//! Privileges: the captures need root, network namespaces and tshark.
//! Without them the tests print `SKIPPED: <reason>` and pass, unless `CI` is
//! set, where they fail (`common::require`). `RETINA_GROUNDTRUTH_DIR=DIR` uses existing run.py output
//! instead (no root needed), e.g. the committed samples in
//! testdata/groundtruth.

mod common;

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{analyze_json, repo_root, require, root, tool};
use serde_json::Value;

const SCENARIOS: [&str; 5] = ["loss", "think", "states", "dns", "backlog"];

// ------------------------------------------------------------------ setup

struct Scenario {
    truth: Value,
    /// The analyzer's JSON for `<scenario>.pcap`.
    out: Value,
    /// This file's own per-connection view of the capture (from tshark fields).
    wire: BTreeMap<(u16, u16), WireConn>,
    /// `loss` only: the receiver-side capture (`loss.receiver.pcap`), when present.
    receiver: Option<Receiver>,
}

/// `loss.receiver.pcap`: what TCP at the server received (the server veth
/// capture minus exactly the frames nftables dropped), in arrival order.
struct Receiver {
    /// The analyzer's JSON for it.
    out: Value,
    /// This file's own view of it (from tshark fields, no analysis flags).
    wire: BTreeMap<(u16, u16), WireConn>,
    /// How tshark's analysis flags label it.
    tshark: BTreeMap<(u16, u16), TsharkLabels>,
}

struct Run {
    dir: PathBuf,
    scenarios: BTreeMap<&'static str, Scenario>,
}

enum Setup {
    Ready(Box<Run>),
    Skip(String),
    Failed(String),
}

static RUN: OnceLock<Setup> = OnceLock::new();

/// The shared run, or `None` when the tests cannot run here (printed as
/// "skipped: ..."; a failure when `CI` is set).
fn run() -> Option<&'static Run> {
    match RUN.get_or_init(setup) {
        Setup::Ready(r) => Some(r),
        Setup::Skip(why) => {
            require(Err(format!(
                "ground-truth tests cannot run: {why} (they need root and network \
                 namespaces; see scripts/groundtruth/README.md)"
            )));
            None
        }
        Setup::Failed(why) => panic!("ground-truth setup failed: {why}"),
    }
}

/// One scenario of the shared run; `None` (printed as skipped) when the run
/// is unavailable or, for RETINA_GROUNDTRUTH_DIR, lacks this scenario.
fn scenario(name: &str) -> Option<&'static Scenario> {
    let r = run()?;
    let s = r.scenarios.get(name);
    if s.is_none() {
        require(Err(format!("no {name}.truth.json in {}", r.dir.display())));
    }
    s
}

fn script() -> PathBuf {
    repo_root().join("scripts/groundtruth/run.py")
}

fn setup() -> Setup {
    // tshark gives this file's own view of every capture, saved or fresh.
    if let Err(why) = tool("tshark") {
        return Setup::Skip(format!("{why} (scripts/install-deps.sh)"));
    }
    if let Some(dir) = std::env::var_os("RETINA_GROUNDTRUTH_DIR") {
        let dir = PathBuf::from(dir);
        let dir = if dir.is_absolute() {
            dir
        } else {
            repo_root().join(dir)
        };
        return load(&dir, false);
    }
    if let Err(why) = root() {
        return Setup::Skip(why);
    }
    match Command::new("python3")
        .arg(script())
        .arg("--check")
        .output()
    {
        Err(e) => return Setup::Skip(format!("cannot run python3: {e}")),
        Ok(o) if o.status.code() == Some(77) => {
            return Setup::Skip(String::from_utf8_lossy(&o.stdout).trim().to_string())
        }
        Ok(o) if !o.status.success() => {
            return Setup::Failed(format!(
                "run.py --check: {}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            ))
        }
        Ok(_) => {}
    }
    let base = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    remove_stale_runs(&base);
    let dir = base.join(format!("groundtruth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let started = std::time::Instant::now();
    let out = match Command::new("python3").arg(script()).arg(&dir).output() {
        Ok(o) => o,
        Err(e) => return Setup::Failed(format!("cannot run run.py: {e}")),
    };
    if !out.status.success() {
        return Setup::Failed(format!(
            "run.py {} exited with {}:\n{}",
            dir.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!(
        "ground truth: run.py took {:.1} s; outputs in {}",
        started.elapsed().as_secs_f64(),
        dir.display()
    );
    load(&dir, true)
}

/// Output directories of earlier test processes that are gone.
fn remove_stale_runs(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some(pid) = name.strip_prefix("groundtruth-") {
            if pid.parse::<u32>().is_ok() && !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

fn load(dir: &Path, fresh: bool) -> Setup {
    let mut scenarios = BTreeMap::new();
    for name in SCENARIOS {
        let truth_path = dir.join(format!("{name}.truth.json"));
        let text = match std::fs::read_to_string(&truth_path) {
            Ok(t) => t,
            Err(e) if fresh => return Setup::Failed(format!("{}: {e}", truth_path.display())),
            Err(_) => continue, // RETINA_GROUNDTRUTH_DIR with some scenarios only
        };
        let truth: Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(e) => return Setup::Failed(format!("{}: {e}", truth_path.display())),
        };
        let pcap = dir.join(format!("{name}.pcap"));
        let (code, out, stderr) = analyze_json(&[&pcap], &[]);
        if code != 0 {
            return Setup::Failed(format!(
                "retina-analyze {} exited {code}: {stderr}",
                pcap.display()
            ));
        }
        let client_ip = truth["client_ip"]
            .as_str()
            .unwrap_or("10.98.0.1")
            .to_string();
        let wire = match wire_from_tshark(&pcap, &client_ip) {
            Ok(w) => w,
            Err(e) => return Setup::Failed(e),
        };
        let receiver = if name == "loss" {
            let rpcap = dir.join("loss.receiver.pcap");
            if rpcap.exists() {
                match load_receiver(&rpcap, &client_ip) {
                    Ok(r) => Some(r),
                    Err(e) => return Setup::Failed(e),
                }
            } else if fresh {
                return Setup::Failed(format!("run.py wrote no {}", rpcap.display()));
            } else {
                None // RETINA_GROUNDTRUTH_DIR from before loss.receiver.pcap existed
            }
        } else {
            None
        };
        scenarios.insert(
            name,
            Scenario {
                truth,
                out,
                wire,
                receiver,
            },
        );
    }
    if scenarios.is_empty() {
        return Setup::Skip(format!("no *.truth.json in {}", dir.display()));
    }
    Setup::Ready(Box::new(Run {
        dir: dir.to_path_buf(),
        scenarios,
    }))
}

fn load_receiver(rpcap: &Path, client_ip: &str) -> Result<Receiver, String> {
    let (code, out, stderr) = analyze_json(&[rpcap], &[]);
    if code != 0 {
        return Err(format!(
            "retina-analyze {} exited {code}: {stderr}",
            rpcap.display()
        ));
    }
    Ok(Receiver {
        out,
        wire: wire_from_tshark(rpcap, client_ip)?,
        tshark: tshark_labels(rpcap, client_ip)?,
    })
}

// ------------------------------------------------------------------ own view of the capture

/// One direction of a TCP connection as seen in the capture.
#[derive(Default, Debug)]
struct WireDir {
    isn: Option<u32>,
    /// Highest relative sequence number (end of payload) seen so far.
    high: u64,
    packets: u64,
    payload_bytes: u64,
    data_segments: u64,
    /// Data segments starting below `high`: they carry bytes this side had
    /// already sent. At a sender-side capture TCP's new data always comes in
    /// order, so these are exactly the retransmissions on the wire.
    retrans_segments: u64,
    retrans_bytes: u64,
    syns: u64,
    rsts: u64,
}

#[derive(Default, Debug)]
struct WireConn {
    client: WireDir,
    server: WireDir,
    /// SYN timestamps (ns) sent by the client.
    syn_ts: Vec<i128>,
    synack_ts: Option<i128>,
    /// The client's ACK completing the handshake.
    ack_ts: Option<i128>,
    /// The server's first RST before any SYN-ACK (a refusal).
    refused_ts: Option<i128>,
}

impl WireConn {
    /// (SYN -> ACK, SYN -> SYN-ACK, SYN-ACK -> ACK) in ms, for a full handshake.
    fn handshake_ms(&self) -> Option<(f64, f64, f64)> {
        let synack = self.synack_ts?;
        let ack = self.ack_ts?;
        let syn = *self.syn_ts.iter().filter(|&&t| t <= synack).max()?;
        let ms = |d: i128| d as f64 / 1e6;
        Some((ms(ack - syn), ms(synack - syn), ms(ack - synack)))
    }

    /// A refused connection: its last SYN before the server's RST -> that RST, ms.
    fn refused_ms(&self) -> Option<f64> {
        let rst = self.refused_ts?;
        let syn = *self.syn_ts.iter().filter(|&&t| t <= rst).max()?;
        Some((rst - syn) as f64 / 1e6)
    }

    /// The client's FIRST SYN -> the ACK completing the handshake in ms
    /// (SYN retries included), for a full handshake.
    fn connect_ms(&self) -> Option<f64> {
        self.handshake_ms()?;
        let first = *self.syn_ts.iter().min()?;
        Some((self.ack_ts? - first) as f64 / 1e6)
    }
}

/// "1795697816.107872000" -> ns, exactly.
fn epoch_ns(s: &str) -> Option<i128> {
    let (sec, frac) = s.split_once('.').unwrap_or((s, ""));
    let mut frac = frac.to_string();
    frac.truncate(9);
    while frac.len() < 9 {
        frac.push('0');
    }
    Some(sec.parse::<i128>().ok()? * 1_000_000_000 + frac.parse::<i128>().ok()?)
}

/// Per-connection facts from `tshark -T fields`, keyed (client port, server
/// port); only sequence numbers, lengths, flags and timestamps are used.
fn wire_from_tshark(
    pcap: &Path,
    client_ip: &str,
) -> Result<BTreeMap<(u16, u16), WireConn>, String> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-Y", "tcp", "-T", "fields", "-E", "separator=\t"])
        .args([
            "-e",
            "frame.time_epoch",
            "-e",
            "ip.src",
            "-e",
            "tcp.srcport",
        ])
        .args(["-e", "tcp.dstport", "-e", "tcp.flags", "-e", "tcp.seq_raw"])
        .args(["-e", "tcp.ack_raw", "-e", "tcp.len"])
        .output()
        .map_err(|e| format!("tshark: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tshark -r {}: {}",
            pcap.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let mut conns: BTreeMap<(u16, u16), WireConn> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 8 {
            continue;
        }
        let bad = || format!("unexpected tshark line: {line}");
        let ts = epoch_ns(f[0]).ok_or_else(bad)?;
        let from_client = f[1] == client_ip;
        let sport: u16 = f[2].parse().map_err(|_| bad())?;
        let dport: u16 = f[3].parse().map_err(|_| bad())?;
        let flags = u16::from_str_radix(f[4].trim_start_matches("0x"), 16).map_err(|_| bad())?;
        let seq: u32 = f[5].parse().map_err(|_| bad())?;
        let ack: u32 = f[6].parse().unwrap_or(0);
        let len: u64 = f[7].parse().map_err(|_| bad())?;
        let (syn, rst, ackf) = (flags & 0x02 != 0, flags & 0x04 != 0, flags & 0x10 != 0);
        let key = if from_client {
            (sport, dport)
        } else {
            (dport, sport)
        };
        let c = conns.entry(key).or_default();
        let server_isn = c.server.isn;
        let d = if from_client {
            &mut c.client
        } else {
            &mut c.server
        };
        d.packets += 1;
        d.payload_bytes += len;
        if syn {
            d.syns += 1;
            d.isn.get_or_insert(seq);
        }
        if rst {
            d.rsts += 1;
        }
        if len > 0 {
            if let Some(isn) = d.isn {
                let rel = u64::from(seq.wrapping_sub(isn).wrapping_sub(1));
                d.data_segments += 1;
                if rel < d.high {
                    d.retrans_segments += 1;
                    d.retrans_bytes += len;
                }
                d.high = d.high.max(rel + len);
            }
        }
        if from_client && syn && !ackf {
            c.syn_ts.push(ts);
        }
        if !from_client && syn && ackf && c.synack_ts.is_none() {
            c.synack_ts = Some(ts);
        }
        if !from_client && rst && c.synack_ts.is_none() && c.refused_ts.is_none() {
            c.refused_ts = Some(ts);
        }
        if from_client
            && ackf
            && !syn
            && !rst
            && c.synack_ts.is_some()
            && c.ack_ts.is_none()
            && server_isn.map(|i| i.wrapping_add(1)) == Some(ack)
        {
            c.ack_ts = Some(ts);
        }
    }
    Ok(conns)
}

/// tshark's analysis flags on one connection: frames flagged anywhere in the
/// connection (what `-Y tcp.analysis.out_of_order` and `-Y
/// "tcp.analysis.retransmission || tcp.analysis.fast_retransmission"` count),
/// and how it labels the client's REAL retransmissions (data segments
/// starting below the highest sequence number already seen, decided here
/// from sequence numbers alone).
#[derive(Default, Debug)]
struct TsharkLabels {
    out_of_order: u64,
    retransmission_or_fast: u64,
    /// Client data segments that are retransmissions (see above)...
    real_retrans: u64,
    /// ... labelled out-of-order by tshark,
    real_as_out_of_order: u64,
    /// ... (fast or plain) retransmission,
    real_as_retransmission: u64,
    /// ... or nothing of the above.
    real_unlabelled: u64,
    /// Client data segments that are NOT retransmissions but labelled
    /// out-of-order or retransmission.
    new_data_labelled: u64,
}

fn tshark_labels(
    pcap: &Path,
    client_ip: &str,
) -> Result<BTreeMap<(u16, u16), TsharkLabels>, String> {
    let out = Command::new("tshark")
        .arg("-r")
        .arg(pcap)
        .args(["-Y", "tcp", "-T", "fields", "-E", "separator=\t"])
        .args(["-e", "ip.src", "-e", "tcp.srcport", "-e", "tcp.dstport"])
        .args(["-e", "tcp.flags", "-e", "tcp.seq_raw", "-e", "tcp.len"])
        .args(["-e", "tcp.analysis.out_of_order"])
        .args(["-e", "tcp.analysis.retransmission"])
        .args(["-e", "tcp.analysis.fast_retransmission"])
        .output()
        .map_err(|e| format!("tshark: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "tshark -r {}: {}",
            pcap.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // (isn, highest relative end) of the client's data per connection
    let mut seqs: BTreeMap<(u16, u16), (Option<u32>, u64)> = BTreeMap::new();
    let mut labels: BTreeMap<(u16, u16), TsharkLabels> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 9 {
            continue;
        }
        let bad = || format!("unexpected tshark line: {line}");
        let from_client = f[0] == client_ip;
        let sport: u16 = f[1].parse().map_err(|_| bad())?;
        let dport: u16 = f[2].parse().map_err(|_| bad())?;
        let flags = u16::from_str_radix(f[3].trim_start_matches("0x"), 16).map_err(|_| bad())?;
        let seq: u32 = f[4].parse().map_err(|_| bad())?;
        let len: u64 = f[5].parse().map_err(|_| bad())?;
        let (ooo, retx) = (!f[6].is_empty(), !f[7].is_empty() || !f[8].is_empty());
        let key = if from_client {
            (sport, dport)
        } else {
            (dport, sport)
        };
        let l = labels.entry(key).or_default();
        l.out_of_order += u64::from(ooo);
        l.retransmission_or_fast += u64::from(retx);
        if !from_client {
            continue;
        }
        let (isn, high) = seqs.entry(key).or_default();
        if flags & 0x02 != 0 {
            isn.get_or_insert(seq);
        }
        let Some(isn) = *isn else { continue };
        if len == 0 {
            continue;
        }
        let rel = u64::from(seq.wrapping_sub(isn).wrapping_sub(1));
        if rel < *high {
            l.real_retrans += 1;
            if ooo {
                l.real_as_out_of_order += 1;
            } else if retx {
                l.real_as_retransmission += 1;
            } else {
                l.real_unlabelled += 1;
            }
        } else if ooo || retx {
            l.new_data_labelled += 1;
        }
        *high = (*high).max(rel + len);
    }
    Ok(labels)
}

// ------------------------------------------------------------------ checking helpers

/// Collects every mismatch, then fails once with all of them.
struct Checks {
    title: String,
    fails: Vec<String>,
    n: usize,
}

impl Checks {
    fn new(title: &str) -> Self {
        Checks {
            title: title.to_string(),
            fails: Vec::new(),
            n: 0,
        }
    }
    fn eq<T: PartialEq + Debug>(&mut self, what: impl AsRef<str>, got: T, want: T) {
        self.n += 1;
        if got != want {
            self.fails
                .push(format!("{}: got {got:?}, want {want:?}", what.as_ref()));
        }
    }
    fn ok(&mut self, what: impl AsRef<str>, cond: bool) {
        self.n += 1;
        if !cond {
            self.fails.push(what.as_ref().to_string());
        }
    }
    fn near(&mut self, what: impl AsRef<str>, got: Option<f64>, want: f64, tol: f64) {
        self.n += 1;
        match got {
            Some(g) if (g - want).abs() <= tol + 1e-9 => {}
            _ => self.fails.push(format!(
                "{}: got {got:?}, want {want:.6} ± {tol}",
                what.as_ref()
            )),
        }
    }
    fn within(&mut self, what: impl AsRef<str>, got: Option<f64>, lo: f64, hi: f64) {
        self.n += 1;
        match got {
            Some(g) if g >= lo - 1e-9 && g <= hi + 1e-9 => {}
            _ => self.fails.push(format!(
                "{}: got {got:?}, want within [{lo:.3}, {hi:.3}]",
                what.as_ref()
            )),
        }
    }
    fn finish(self) {
        if !self.fails.is_empty() {
            panic!(
                "{}: {} of {} checks failed:\n  - {}",
                self.title,
                self.fails.len(),
                self.n,
                self.fails.join("\n  - ")
            );
        }
        eprintln!("{}: {} checks passed", self.title, self.n);
    }
}

/// `v["a"]["b"]...` for "a.b...".
fn at<'a>(v: &'a Value, path: &str) -> &'a Value {
    path.split('.').fold(v, |v, k| &v[k])
}

fn u(v: &Value, path: &str) -> Option<u64> {
    at(v, path).as_u64()
}

fn f(v: &Value, path: &str) -> Option<f64> {
    at(v, path).as_f64()
}

fn port(v: &Value, side: &str) -> u16 {
    at(v, &format!("{side}.port"))
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .unwrap_or_else(|| panic!("{side}.port in {v}"))
}

/// The analyzer's flow for a truth connection (same proto and 5-tuple).
fn flow<'a>(out: &'a Value, proto: &str, conn: &Value) -> Option<&'a Value> {
    out["flows"].as_array()?.iter().find(|fl| {
        fl["proto"] == proto
            && fl["client"]["ip"] == conn["client"]["ip"]
            && fl["client"]["port"] == conn["client"]["port"]
            && fl["server"]["ip"] == conn["server"]["ip"]
            && fl["server"]["port"] == conn["server"]["port"]
    })
}

fn conns(truth: &Value) -> &Vec<Value> {
    truth["connections"].as_array().expect("truth connections")
}

fn netstat(v: &Value, key: &str) -> u64 {
    v[key].as_u64().unwrap_or(0)
}

/// The value `p` of an analyzer percentile must lie between the order
/// statistics around rank p*(n-1) (any usual percentile definition does);
/// one extra rank of slack on each side.
fn percentile_bounds(sorted: &[f64], p: f64) -> (f64, f64) {
    let n = sorted.len();
    let r = p * (n - 1) as f64;
    let lo = (r.floor() as usize).saturating_sub(1);
    let hi = ((r.ceil() as usize) + 1).min(n - 1);
    (sorted[lo], sorted[hi])
}

// ------------------------------------------------------------------ the harness itself

/// The truth files and captures are sound: nothing lost by tcpdump, this
/// file's tshark-based view agrees with run.py's own pcap reader and with the
/// kernel, and every scenario did what it claims (drops happened, the
/// deterministic cases produced the mechanism they are named after). Does
/// not look at the analyzer.
#[test]
fn harness_truth_is_consistent() {
    let Some(r) = run() else { return };
    let mut c = Checks::new("harness");
    for (name, s) in &r.scenarios {
        let t = &s.truth;
        c.eq(
            format!("{name}: tcpdump dropped_by_kernel"),
            u(t, "capture.tcpdump.dropped_by_kernel"),
            Some(0),
        );
        c.eq(
            format!("{name}: capture side"),
            at(t, "capture.side").as_str(),
            Some("client"),
        );
        c.ok(format!("{name}: kernel recorded"), t["kernel"].is_string());
    }
    if let Some(s) = r.scenarios.get("loss") {
        harness_loss(&mut c, s);
    }
    if let Some(s) = r.scenarios.get("states") {
        harness_states(&mut c, s);
    }
    if let Some(s) = r.scenarios.get("dns") {
        harness_dns(&mut c, &s.truth);
    }
    if let Some(s) = r.scenarios.get("backlog") {
        harness_backlog(&mut c, s);
    }
    c.finish();
}

fn harness_loss(c: &mut Checks, loss: &Scenario) {
    let t = &loss.truth;
    c.ok(
        format!("loss: nft dropped packets ({})", t["nft_drops"]),
        u(t, "nft_drops.random.packets").unwrap_or(0) > 0,
    );
    c.eq(
        "loss: NFLOG copies == nft drop counters",
        u(t, "totals.nflog_dropped"),
        u(t, "nft_drops.packets"),
    );
    // no qdisc drops: every segment TCP hands down reaches the capture, the
    // premise of "wire retransmissions == tcpi_total_retrans"
    c.eq(
        "loss: client qdisc drops",
        u(t, "totals.client_qdisc_drops"),
        Some(0),
    );
    let mut bulk_conns = 0;
    for conn in conns(t) {
        let cp = port(conn, "client");
        let sp = port(conn, "server");
        let tag = format!("loss {cp} ({})", conn["role"].as_str().unwrap_or("?"));
        let Some(w) = loss.wire.get(&(cp, sp)) else {
            c.ok(format!("{tag}: in the capture"), false);
            continue;
        };
        c.eq(
            format!("{tag}: tshark-view retransmissions == run.py's"),
            Some(w.client.retrans_segments),
            u(conn, "wire.client_dir.retrans_segments"),
        );
        c.eq(
            format!("{tag}: wire retransmitted segments == tcpi_total_retrans"),
            Some(w.client.retrans_segments),
            u(conn, "tcp_info_client.total_retrans"),
        );
        c.eq(
            format!("{tag}: wire retransmitted bytes == tcpi_bytes_retrans"),
            Some(w.client.retrans_bytes),
            u(conn, "tcp_info_client.bytes_retrans"),
        );
        if let Some(tt) = u(conn, "crosscheck.tcptrace.rexmt data pkts") {
            c.eq(
                format!("{tag}: tcptrace rexmt data pkts"),
                tt,
                w.client.retrans_segments,
            );
        }
        if let Some(ts) = u(conn, "crosscheck.tshark.any") {
            c.eq(
                format!("{tag}: tshark's analysis flags count"),
                ts,
                w.client.retrans_segments,
            );
        }
        c.eq(
            format!("{tag}: TCP_INFO decoding problems"),
            conn["tcp_info_problems"].as_array().map(Vec::len),
            Some(0),
        );
        c.eq(
            format!("{tag}: kernel mechanisms add up to RetransSegs"),
            conn["kernel_mechanism"]["adds_up"].as_bool(),
            Some(true),
        );
        c.eq(
            format!("{tag}: RetransSegs == tcpi_total_retrans"),
            u(conn, "kernel_mechanism.retrans_segs"),
            u(conn, "tcp_info_client.total_retrans"),
        );
        c.ok(
            format!("{tag}: tlp <= TCPLossProbes"),
            u(conn, "kernel_mechanism.tlp") <= u(conn, "kernel_mechanism.loss_probes"),
        );
        c.eq(
            format!("{tag}: server received everything"),
            u(conn, "app.server_received").or(u(conn, "app.client_sent")),
            u(conn, "app.client_sent"),
        );
        let km = |k: &str| u(conn, &format!("kernel_mechanism.{k}")).unwrap_or(0);
        match conn["role"].as_str() {
            Some("bulk-random-loss") => bulk_conns += 1,
            // the tail A, B both lost: the probe re-sends B, and A follows,
            // normally as a fast retransmit once B is SACKed (under heavy CPU
            // load the kernel sometimes leaves that to the RTO instead; the
            // analyzer is compared with whatever the kernel did)
            Some("tail-loss-probe") => {
                c.eq(
                    format!("{tag}: kernel (tlp, fast + rto)"),
                    (km("tlp"), km("fast") + km("rto")),
                    (1, 1),
                );
            }
            // the probe is lost too: RTO re-sends A, then B in Loss state
            Some("probe-lost-rto") => {
                c.eq(
                    format!("{tag}: kernel (fast, tlp)"),
                    (km("fast"), km("tlp")),
                    (0, 1),
                );
                c.ok(format!("{tag}: kernel rto >= 1"), km("rto") >= 1);
            }
            Some("spurious-retransmission") => {
                let spurious = u(conn, "delivery.spurious_duplicates").unwrap_or(0);
                c.ok(
                    format!("{tag}: some retransmission was spurious"),
                    spurious >= 1,
                );
                c.eq(
                    format!("{tag}: every duplicate was D-SACKed (tcpi_dsack_dups)"),
                    u(conn, "tcp_info_client.dsack_dups"),
                    Some(spurious),
                );
            }
            other => c.ok(format!("{tag}: unknown role {other:?}"), false),
        }
    }
    c.eq("loss: random-loss bulk connections", bulk_conns, 3);
}

fn harness_states(c: &mut Checks, states: &Scenario) {
    for conn in conns(&states.truth) {
        if conn["name"] == "S0" {
            let key = (port(conn, "client"), port(conn, "server"));
            c.eq(
                "states S0: SYNs in the capture == SYNs the kernel sent",
                states.wire.get(&key).map(|w| w.client.syns),
                u(conn, "syns_sent"),
            );
            c.eq(
                "states S0: nft dropped every SYN",
                u(&states.truth, "nft_syn_drops.packets"),
                u(conn, "syns_sent"),
            );
        }
    }
}

fn harness_dns(c: &mut Checks, dns: &Value) {
    c.ok(
        "dns: the capture runs > 5 s past the last unanswered query",
        f(dns, "totals.capture_after_last_unanswered_s").unwrap_or(0.0) > 5.0,
    );
    c.eq(
        "dns: queries == responses + unanswered",
        u(dns, "totals.queries"),
        Some(u(dns, "totals.responses").unwrap_or(0) + u(dns, "totals.unanswered").unwrap_or(0)),
    );
}

/// backlog: the SYNs in the capture are the SYNs the kernel sent (per
/// connection by the tracepoint, in all by TcpExt.TCPSynRetrans), and every
/// re-sent SYN is one the server's listener dropped (TcpExt.ListenDrops
/// counts them all, plus any ACK it dropped for a full accept queue).
fn harness_backlog(c: &mut Checks, backlog: &Scenario) {
    let t = &backlog.truth;
    let mut wire_retx = 0;
    for conn in conns(t) {
        let key = (port(conn, "client"), port(conn, "server"));
        let tag = format!("backlog {}", key.0);
        let syns = backlog.wire.get(&key).map(|w| w.client.syns);
        c.eq(
            format!("{tag}: tshark-view SYNs == run.py's"),
            syns,
            u(conn, "wire_syns"),
        );
        if conn["syns_sent"].is_u64() {
            c.eq(
                format!("{tag}: SYNs in the capture == SYNs the kernel sent (traced)"),
                syns,
                u(conn, "syns_sent"),
            );
        }
        wire_retx += syns.unwrap_or(1).saturating_sub(1);
    }
    c.eq(
        "backlog: SYNs re-sent in the capture == TcpExt.TCPSynRetrans (client)",
        Some(wire_retx),
        u(t, "totals.kernel_syn_retransmits"),
    );
    c.ok(
        format!(
            "backlog: every re-sent SYN was dropped by the listener (ListenDrops {:?} >= {wire_retx})",
            u(t, "totals.listen_drops")
        ),
        u(t, "totals.listen_drops").unwrap_or(0) >= wire_retx,
    );
}

// ------------------------------------------------------------------ flows

/// Every connection / DNS exchange of the truth is exactly one analyzer flow
/// with the same 5-tuple, and there are no others; payload bytes per
/// direction equal the capture's.
#[test]
fn flows_are_the_truth_connections() {
    let Some(r) = run() else { return };
    let mut c = Checks::new("flows");
    for (name, s) in &r.scenarios {
        let mut want: Vec<(&str, &Value)> = Vec::new();
        if *name == "dns" {
            for q in s.truth["queries"].as_array().expect("queries") {
                want.push((q["transport"].as_str().unwrap_or("?"), q));
            }
        } else {
            for conn in conns(&s.truth) {
                want.push(("tcp", conn));
            }
        }
        let flows = s.out["flows"].as_array().map(Vec::len).unwrap_or(0);
        c.eq(format!("{name}: number of flows"), flows, want.len());
        for (proto, conn) in want {
            let cp = port(conn, "client");
            let sp = port(conn, "server");
            let tag = format!("{name} {proto} {cp}->{sp}");
            let Some(fl) = flow(&s.out, proto, conn) else {
                c.ok(format!("{tag}: flow missing"), false);
                continue;
            };
            if proto == "tcp" {
                let w = &s.wire[&(cp, sp)];
                c.eq(
                    format!("{tag}: payload bytes (client, server)"),
                    (u(fl, "payload_bytes.client"), u(fl, "payload_bytes.server")),
                    (Some(w.client.payload_bytes), Some(w.server.payload_bytes)),
                );
                c.eq(
                    format!("{tag}: packets (client, server)"),
                    (u(fl, "packets.client"), u(fl, "packets.server")),
                    (Some(w.client.packets), Some(w.server.packets)),
                );
            }
        }
    }
    c.finish();
}

// ------------------------------------------------------------------ loss

/// Per connection: retransmitted segments and bytes equal (a) this file's
/// count of data segments that re-send bytes already seen in the capture and
/// (b) the kernel's tcpi_total_retrans / tcpi_bytes_retrans. (b) holds
/// exactly here because nothing is lost between TCP and the capture point
/// (tcpdump dropped 0, the qdisc dropped 0): every retransmission TCP makes
/// is on the wire, and tail loss probes that re-send data ARE counted in
/// tcpi_total_retrans (so the relation is `segments == total_retrans`, not
/// `segments - tlp == total_retrans`). Also: the mechanism split adds up,
/// spurious retransmissions equal the receiver's duplicates, unique bytes
/// equal what the application wrote, and the connections end SF.
#[test]
fn loss_retransmissions_match_capture_and_kernel() {
    let Some(s) = scenario("loss") else { return };
    let mut c = Checks::new("loss retransmissions");
    for conn in conns(&s.truth) {
        let cp = port(conn, "client");
        let sp = port(conn, "server");
        let tag = format!("loss {cp} ({})", conn["role"].as_str().unwrap_or("?"));
        let Some(fl) = flow(&s.out, "tcp", conn) else {
            c.ok(format!("{tag}: flow missing"), false);
            continue;
        };
        let w = &s.wire[&(cp, sp)];
        let tcp = &fl["tcp"];
        let seg = u(tcp, "retransmissions.client.segments");
        c.eq(
            format!("{tag}: conn_state"),
            tcp["conn_state"].as_str(),
            Some("SF"),
        );
        c.eq(
            format!("{tag}: client retransmitted segments vs capture"),
            seg,
            Some(w.client.retrans_segments),
        );
        c.eq(
            format!("{tag}: client retransmitted bytes vs capture"),
            u(tcp, "retransmissions.client.bytes"),
            Some(w.client.retrans_bytes),
        );
        c.eq(
            format!("{tag}: client retransmitted segments vs tcpi_total_retrans"),
            seg,
            u(conn, "tcp_info_client.total_retrans"),
        );
        c.eq(
            format!("{tag}: client retransmitted bytes vs tcpi_bytes_retrans"),
            u(tcp, "retransmissions.client.bytes"),
            u(conn, "tcp_info_client.bytes_retrans"),
        );
        c.eq(
            format!("{tag}: server retransmitted segments vs capture"),
            u(tcp, "retransmissions.server.segments"),
            Some(w.server.retrans_segments),
        );
        let split: Option<u64> = ["rto", "fast", "tlp"]
            .iter()
            .map(|k| u(tcp, &format!("retransmissions.client.{k}")))
            .sum();
        c.eq(format!("{tag}: rto + fast + tlp == segments"), split, seg);
        // exact receiver-side truth: arrived, not dropped, every byte
        // already delivered (server capture + NFLOG copy of the drops)
        c.eq(
            format!("{tag}: spurious vs duplicates the receiver got"),
            u(tcp, "retransmissions.client.spurious"),
            u(conn, "delivery.spurious_duplicates"),
        );
        c.eq(
            format!("{tag}: unique bytes vs bytes the client application sent"),
            u(tcp, "unique_bytes.client"),
            u(conn, "app.client_sent"),
        );
        c.eq(
            format!("{tag}: capture lost segments (client, server)"),
            (
                u(tcp, "capture_lost_segments.client"),
                u(tcp, "capture_lost_segments.server"),
            ),
            (Some(0), Some(0)),
        );
        c.eq(
            format!("{tag}: out-of-order client segments (sender-side capture)"),
            u(tcp, "out_of_order.client"),
            Some(0),
        );
    }
    c.finish();
}

/// Retransmission mechanisms against the kernel's own classification. The
/// kernel's split, per connection (see kernel_mechanism in the truth):
///   fast = TcpExt.TCPFastRetrans (segments re-sent in Recovery state),
///   rto  = TcpExt.TCPTimeouts (the head segment re-sent when the timer
///          fires) + TcpExt.TCPSlowStartRetrans (segments re-sent after it,
///          in Loss state),
///   tlp  = loss probes that re-sent data (tcp_retransmit_skb tracepoint in
///          Open/Disorder/CWR state; TcpExt.TCPLossProbes also counts probes
///          that carried new data).
/// These add up to Tcp.RetransSegs. The deterministic connections are
/// compared one by one: a lost two-segment tail recovered by a loss probe
/// (about 2 x SRTT after the tail, re-sending the LAST segment) and a fast
/// retransmit of the other one (tlp 1 + fast 1); the same with the probe
/// lost too, so the retransmission timer fires ~200 ms later and re-sends
/// the head, then the rest in Loss state (tlp 1 + rto 2); spurious probes
/// answered with D-SACK.
#[test]
fn loss_mechanisms_match_the_kernel_deterministic_cases() {
    let Some(s) = scenario("loss") else { return };
    let mut c = Checks::new("loss mechanisms (deterministic)");
    for conn in conns(&s.truth) {
        if conn["role"] == "bulk-random-loss" {
            continue;
        }
        let tag = format!(
            "loss {} ({})",
            port(conn, "client"),
            conn["role"].as_str().unwrap_or("?")
        );
        let Some(fl) = flow(&s.out, "tcp", conn) else {
            c.ok(format!("{tag}: flow missing"), false);
            continue;
        };
        for k in ["rto", "fast", "tlp"] {
            c.eq(
                format!("{tag}: {k}"),
                u(fl, &format!("tcp.retransmissions.client.{k}")),
                u(conn, &format!("kernel_mechanism.{k}")),
            );
        }
    }
    c.finish();
}

/// The split summed over the random-loss bulk connections, and over the
/// whole scenario against the client namespace's SNMP deltas. Here `fast`
/// and the timer-driven sum `rto + tlp` are compared, not rto and tlp
/// apart: a loss probe fired with a single segment in flight waits
/// 2 x SRTT + 200 ms, capped at the time left until the RTO, so it leaves
/// exactly when the RTO would have and re-sends the same segment — the two
/// cannot be told apart on the wire (random tail drops do produce that
/// case). The deterministic connections avoid it and are compared class by
/// class above.
#[test]
fn loss_mechanism_totals_match_netstat() {
    let Some(s) = scenario("loss") else { return };
    let mut c = Checks::new("loss mechanism totals");
    // [rto, fast, tlp] of the random-loss connections: [analyzer, kernel]
    let mut bulk = [[0u64; 3]; 2];
    let mut all = [0u64; 4];
    for conn in conns(&s.truth) {
        let fl = flow(&s.out, "tcp", conn);
        for (i, k) in ["rto", "fast", "tlp"].iter().enumerate() {
            let got = fl
                .and_then(|fl| u(fl, &format!("tcp.retransmissions.client.{k}")))
                .unwrap_or(0);
            let want = u(conn, &format!("kernel_mechanism.{k}")).unwrap_or(0);
            if conn["role"] == "bulk-random-loss" {
                bulk[0][i] += got;
                bulk[1][i] += want;
            }
            all[i] += got;
        }
        all[3] += fl
            .and_then(|fl| u(fl, "tcp.retransmissions.client.segments"))
            .unwrap_or(0);
    }
    c.eq(
        "random-loss connections: fast (analyzer vs kernel)",
        bulk[0][1],
        bulk[1][1],
    );
    c.eq(
        "random-loss connections: rto + tlp (analyzer vs kernel)",
        bulk[0][0] + bulk[0][2],
        bulk[1][0] + bulk[1][2],
    );
    let nd = &s.truth["netstat_delta"]["client"];
    c.eq(
        "all segments vs Tcp.RetransSegs",
        all[3],
        netstat(nd, "Tcp.RetransSegs"),
    );
    c.eq(
        "fast vs TcpExt.TCPFastRetrans",
        all[1],
        netstat(nd, "TcpExt.TCPFastRetrans"),
    );
    c.eq(
        "rto + tlp vs TcpExt.TCPTimeouts + TcpExt.TCPSlowStartRetrans + probes that re-sent data",
        all[0] + all[2],
        netstat(nd, "TcpExt.TCPTimeouts")
            + netstat(nd, "TcpExt.TCPSlowStartRetrans")
            + u(&s.truth, "totals.kernel_tlp").unwrap_or(0),
    );
    c.finish();
}

// ------------------------------------------------------------------ loss: receiver side

/// The same traffic seen where TCP receives it: `loss.receiver.pcap` is the
/// server veth capture minus exactly the frames nftables dropped. A dropped
/// segment is a hole there, filled later by its retransmission, at
/// sub-millisecond RTT on a veth: the case where Wireshark's fixed time rule
/// calls real retransmissions "out-of-order".
///
/// Truth (run.py, from the SENDER capture + the drop list, not from this
/// file): of the client's retransmissions, `retrans_arrived` were not
/// dropped. Only some of those can be retransmissions for anyone looking at
/// the receiver: one that starts below the highest sequence number the
/// receiver already had (`retrans_visible`; a hole fill when none of its
/// bytes had arrived). One that arrives at or above it (`retrans_in_order`:
/// every earlier copy of it AND everything sent after it was dropped, e.g.
/// the tail of 41005: A, B, probe B dropped, then the RTO's A and B arrive
/// in order) is indistinguishable from first transmissions there — the
/// same bytes, in order, never seen before. So, per connection:
///   retransmissions.client.segments == retrans_visible
///                                    == retrans_arrived - retrans_in_order
/// (bytes likewise), and out_of_order.client == 0 (a veth does not reorder:
/// run.py checked that the receiver got the sender's packets minus the drops
/// in the sender's order, so every hole fill is a retransmission), no
/// capture loss, spurious == the receiver's duplicates (D-SACK), unique bytes
/// == what the application wrote. tshark's labels are printed, not asserted.
#[test]
fn loss_receiver_side_hole_fills_are_retransmissions() {
    let Some(s) = scenario("loss") else { return };
    let Some(rx) = &s.receiver else {
        require(Err(
            "no loss.receiver.pcap (RETINA_GROUNDTRUTH_DIR holds the output of an older run.py)"
                .into(),
        ));
        return;
    };
    let mut c = Checks::new("loss receiver side");
    let (mut sum_tshark, mut sum_ours) = ([0u64; 5], [0u64; 3]);
    for conn in conns(&s.truth) {
        let cp = port(conn, "client");
        let sp = port(conn, "server");
        let tag = format!(
            "loss receiver {cp} ({})",
            conn["role"].as_str().unwrap_or("?")
        );
        let r = &conn["receiver"];
        let visible = u(r, "retrans_visible");
        // the truth is sound: this file's view of both captures agrees
        let sender = &s.wire[&(cp, sp)];
        c.eq(
            format!("{tag}: truth: retransmissions sent == dropped + arrived"),
            Some(sender.client.retrans_segments),
            u(r, "retrans_dropped")
                .zip(u(r, "retrans_arrived"))
                .map(|(a, b)| a + b),
        );
        c.eq(
            format!("{tag}: truth: arrived == visible + in order"),
            u(r, "retrans_arrived"),
            visible.zip(u(r, "retrans_in_order")).map(|(a, b)| a + b),
        );
        c.eq(
            format!("{tag}: truth: the receiver capture in the sender's order"),
            r["receiver_capture_same_order"].as_bool(),
            Some(true),
        );
        let rw = rx.wire.get(&(cp, sp));
        c.eq(
            format!("{tag}: truth: tshark-view retransmissions of the receiver capture"),
            rw.map(|w| w.client.retrans_segments),
            visible,
        );
        let Some(fl) = flow(&rx.out, "tcp", conn) else {
            c.ok(format!("{tag}: flow missing"), false);
            continue;
        };
        let tcp = &fl["tcp"];
        let seg = u(tcp, "retransmissions.client.segments");
        c.eq(
            format!("{tag}: out-of-order client segments (a veth never reorders)"),
            u(tcp, "out_of_order.client"),
            Some(0),
        );
        c.eq(
            format!(
                "{tag}: retransmitted segments == arrived below the receiver's highest \
                 (arrived {:?} - in order {:?})",
                u(r, "retrans_arrived"),
                u(r, "retrans_in_order")
            ),
            seg,
            visible,
        );
        c.eq(
            format!("{tag}: retransmitted bytes == arrived below the receiver's highest"),
            u(tcp, "retransmissions.client.bytes"),
            u(r, "retrans_visible_bytes"),
        );
        c.eq(
            format!("{tag}: capture lost segments (client)"),
            u(tcp, "capture_lost_segments.client"),
            Some(0),
        );
        c.eq(
            format!("{tag}: spurious vs duplicates the receiver got"),
            u(tcp, "retransmissions.client.spurious"),
            u(conn, "delivery.spurious_duplicates"),
        );
        c.eq(
            format!("{tag}: unique bytes vs bytes the client application sent"),
            u(tcp, "unique_bytes.client"),
            u(conn, "app.client_sent"),
        );
        let t = rx.tshark.get(&(cp, sp));
        let t0 = TsharkLabels::default();
        let t = t.unwrap_or(&t0);
        eprintln!(
            "{tag}: retransmissions arrived {} (hole fills {}, in order {}); \
             we: retransmissions {}, out-of-order {}; tshark: out_of_order {}, \
             retransmission||fast_retransmission {}; of the {} real ones tshark says \
             out-of-order {}, retransmission {}, nothing {}; new data labelled {}",
            u(r, "retrans_arrived").unwrap_or(0),
            u(r, "hole_fills").unwrap_or(0),
            u(r, "retrans_in_order").unwrap_or(0),
            seg.unwrap_or(0),
            u(tcp, "out_of_order.client").unwrap_or(0),
            t.out_of_order,
            t.retransmission_or_fast,
            t.real_retrans,
            t.real_as_out_of_order,
            t.real_as_retransmission,
            t.real_unlabelled,
            t.new_data_labelled,
        );
        for (i, v) in [
            t.out_of_order,
            t.retransmission_or_fast,
            t.real_retrans,
            t.real_as_out_of_order,
            t.real_unlabelled,
        ]
        .into_iter()
        .enumerate()
        {
            sum_tshark[i] += v;
        }
        sum_ours[0] += seg.unwrap_or(0);
        sum_ours[1] += u(tcp, "out_of_order.client").unwrap_or(0);
        sum_ours[2] += u(r, "hole_fills").unwrap_or(0);
    }
    eprintln!(
        "loss receiver, all connections: we say {} retransmissions ({} hole fills), \
         {} out-of-order; tshark: {} out-of-order, {} retransmission||fast, and of {} real \
         retransmissions {} labelled out-of-order, {} unlabelled",
        sum_ours[0],
        sum_ours[2],
        sum_ours[1],
        sum_tshark[0],
        sum_tshark[1],
        sum_tshark[2],
        sum_tshark[3],
        sum_tshark[4],
    );
    c.finish();
}

// ------------------------------------------------------------------ handshake

/// Every flow with a full handshake: handshake_rtt_ms and its two legs, and
/// connect_ms (the FIRST SYN -> the final ACK, SYN retries included), equal
/// the capture's timestamps (tshark frame.time_epoch) within 0.001 ms; a
/// refused flow (REJ) has its SYN -> RST as handshake_rtt_ms and no connect
/// time; flows without either (S0) report null.
#[test]
fn handshake_rtt_matches_capture_timestamps() {
    let Some(r) = run() else { return };
    let mut c = Checks::new("handshake");
    let mut refusals = 0;
    for (name, s) in &r.scenarios {
        for ((cp, sp), w) in &s.wire {
            let tag = format!("{name} {cp}->{sp}");
            let fl = s.out["flows"].as_array().and_then(|fs| {
                fs.iter().find(|fl| {
                    fl["proto"] == "tcp"
                        && u(fl, "client.port") == Some(u64::from(*cp))
                        && u(fl, "server.port") == Some(u64::from(*sp))
                })
            });
            let Some(fl) = fl else {
                c.ok(format!("{tag}: flow missing"), false);
                continue;
            };
            match w.handshake_ms() {
                Some((rtt, leg1, leg2)) => {
                    c.near(
                        format!("{tag}: handshake_rtt_ms"),
                        f(fl, "tcp.handshake_rtt_ms"),
                        rtt,
                        0.001,
                    );
                    c.near(
                        format!("{tag}: syn_to_synack_ms"),
                        f(fl, "tcp.handshake.syn_to_synack_ms"),
                        leg1,
                        0.001,
                    );
                    c.near(
                        format!("{tag}: synack_to_ack_ms"),
                        f(fl, "tcp.handshake.synack_to_ack_ms"),
                        leg2,
                        0.001,
                    );
                    c.near(
                        format!("{tag}: connect_ms (first SYN -> ACK)"),
                        f(fl, "tcp.connect_ms"),
                        w.connect_ms().unwrap_or(f64::NAN),
                        0.001,
                    );
                }
                None if fl["tcp"]["conn_state"] == "REJ" => {
                    let want = w.refused_ms();
                    c.ok(format!("{tag}: a refusal seen on the wire"), want.is_some());
                    c.near(
                        format!("{tag}: handshake_rtt_ms of a refusal (SYN -> RST)"),
                        f(fl, "tcp.handshake_rtt_ms"),
                        want.unwrap_or(f64::NAN),
                        0.001,
                    );
                    c.ok(
                        format!("{tag}: a refusal has no connect_ms"),
                        fl["tcp"]["connect_ms"].is_null(),
                    );
                    refusals += 1;
                }
                None => {
                    c.ok(
                        format!(
                            "{tag}: no handshake, handshake_rtt_ms and connect_ms must be null"
                        ),
                        fl["tcp"].is_object()
                            && fl["tcp"]["handshake_rtt_ms"].is_null()
                            && fl["tcp"]["connect_ms"].is_null(),
                    );
                }
            }
        }
    }
    if r.scenarios.contains_key("states") {
        c.ok("the states scenario has a refused connection", refusals > 0);
    }
    c.finish();
}

// ------------------------------------------------------------------ think time

/// Request/response with a server that sleeps exactly THINK before every
/// response: one sample per turn, p50 within [THINK, THINK + 5 ms], and the
/// same values the capture shows (last request segment -> first response
/// segment).
#[test]
fn think_time_is_the_response_time() {
    let Some(s) = scenario("think") else { return };
    let mut c = Checks::new("think");
    let think_ms = f(&s.truth, "think_s").expect("think_s") * 1000.0;
    for conn in conns(&s.truth) {
        let tag = format!("think {}", port(conn, "client"));
        let Some(fl) = flow(&s.out, "tcp", conn) else {
            c.ok(format!("{tag}: flow missing"), false);
            continue;
        };
        let turns = u(conn, "turns").expect("turns");
        let rt = &fl["tcp"]["response_time_ms"];
        c.eq(
            format!("{tag}: response_time count"),
            u(rt, "count"),
            Some(turns),
        );
        c.within(
            format!("{tag}: response_time p50"),
            f(rt, "p50"),
            think_ms,
            think_ms + 5.0,
        );
        let mut wire: Vec<f64> = conn["wire_response_times_ms"]
            .as_array()
            .expect("wire_response_times_ms")
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        wire.sort_by(f64::total_cmp);
        if let Some(&max) = wire.last() {
            c.near(
                format!("{tag}: response_time max"),
                f(rt, "max"),
                max,
                0.001,
            );
            let (lo, hi) = percentile_bounds(&wire, 0.5);
            c.within(format!("{tag}: p50 vs capture"), f(rt, "p50"), lo, hi);
        }
        c.eq(
            format!("{tag}: unique bytes (client, server)"),
            (
                u(fl, "tcp.unique_bytes.client"),
                u(fl, "tcp.unique_bytes.server"),
            ),
            (u(conn, "app.client_sent"), u(conn, "app.client_received")),
        );
        c.eq(
            format!("{tag}: conn_state"),
            fl["tcp"]["conn_state"].as_str(),
            Some("SF"),
        );
    }
    c.finish();
}

// ------------------------------------------------------------------ states

/// Zeek conn_state of every connection, resets attributed to the side that
/// sent them, and the SYN retransmissions of the unanswered connection.
#[test]
fn states_match_what_each_side_did() {
    let Some(s) = scenario("states") else { return };
    let mut c = Checks::new("states");
    for conn in conns(&s.truth) {
        let cp = port(conn, "client");
        let sp = port(conn, "server");
        let tag = format!("states {} {cp}->{sp}", conn["name"].as_str().unwrap_or("?"));
        let Some(fl) = flow(&s.out, "tcp", conn) else {
            c.ok(format!("{tag}: flow missing"), false);
            continue;
        };
        let tcp = &fl["tcp"];
        c.eq(
            format!("{tag}: conn_state"),
            tcp["conn_state"].as_str(),
            conn["expected_conn_state"].as_str(),
        );
        let w = &s.wire[&(cp, sp)];
        let (want_c, want_s) = match conn["reset_by"].as_str() {
            Some("client") => (w.client.rsts.max(1), 0),
            Some("server") => (0, w.server.rsts.max(1)),
            _ => (0, 0),
        };
        c.eq(
            format!("{tag}: resets (client, server)"),
            (u(tcp, "resets.client"), u(tcp, "resets.server")),
            (Some(want_c), Some(want_s)),
        );
        if let Some(syns) = u(conn, "syns_sent") {
            c.eq(
                format!("{tag}: syn_retransmissions == SYNs the kernel sent - 1"),
                u(tcp, "syn_retransmissions"),
                Some(syns - 1),
            );
        } else {
            c.eq(
                format!("{tag}: syn_retransmissions"),
                u(tcp, "syn_retransmissions"),
                Some(0),
            );
        }
    }
    c.finish();
}

// ------------------------------------------------------------------ dns

/// Query/response counts, unanswered queries (the capture runs > 5 s past
/// the last one), rcodes, names and latency against what the DNS server did.
#[test]
fn dns_matches_what_the_server_did() {
    let Some(s) = scenario("dns") else { return };
    let mut c = Checks::new("dns");
    let t = &s.truth["totals"];
    let d = &s.out["dns"];
    for k in ["queries", "responses", "unanswered"] {
        c.eq(format!("dns {k} (UDP and TCP)"), u(d, k), u(t, k));
    }
    let nonzero = |v: &Value| -> BTreeMap<String, u64> {
        v.as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_u64()?)))
                    .filter(|(_, n)| *n > 0)
                    .collect()
            })
            .unwrap_or_default()
    };
    c.eq("dns rcodes", nonzero(&d["rcodes"]), nonzero(&t["rcodes"]));
    let top: BTreeMap<String, u64> = d["top_names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| Some((e["name"].as_str()?.to_string(), e["queries"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    for (name, n) in t["names"].as_object().expect("names") {
        c.eq(
            format!("dns top_names {name}"),
            top.get(name).copied(),
            n.as_u64(),
        );
    }
    let lat = &d["latency_ms"];
    c.eq(
        "dns latency count == answered",
        u(lat, "count"),
        u(t, "responses"),
    );
    c.within("dns latency max (slow.test)", f(lat, "max"), 100.0, 115.0);
    let wire: Vec<f64> = t["wire_latency_ms_sorted"]
        .as_array()
        .expect("wire_latency_ms_sorted")
        .iter()
        .filter_map(Value::as_f64)
        .collect();
    if let Some(&max) = wire.last() {
        c.near("dns latency max vs capture", f(lat, "max"), max, 0.001);
        let (lo, hi) = percentile_bounds(&wire, 0.5);
        c.within("dns latency p50 vs capture", f(lat, "p50"), lo, hi);
    }
    c.finish();
}

/// The dns capture cut short at the time of each of its UDP queries, and
/// 1.5 s after the last one (captures that ended early): a query without a
/// response in the cut is unanswered when older than its server's timeout
/// at the cut, else pending. The timeout is learned from the cut: ten times
/// the nearest-rank p99 of the responses in it (the scenario's slow.test
/// answers in 100 ms, so about 1 s), within 1..5 s; or `--dns-timeout`.
/// The counts, the timeout, the finding and its names, and the gates are
/// checked against the queries the server left unanswered (truth).
#[test]
fn dns_queries_waiting_when_the_capture_ended() {
    let Some(s) = scenario("dns") else { return };
    let Some(r) = run() else { return };
    let pcap = r.dir.join("dns.pcap");
    let mut c = Checks::new("dns at the capture's end");
    // (sent at, response at) of every UDP query, in time order.
    let mut udp: Vec<(i64, Option<i64>)> = s.truth["queries"]
        .as_array()
        .expect("queries")
        .iter()
        .filter(|q| q["transport"] == "udp")
        .map(|q| {
            let ts = q["wire_query_ts_ns"].as_i64().expect("wire_query_ts_ns");
            let resp = q["wire_latency_ms"]
                .as_f64()
                .map(|ms| ts + (ms * 1e6).round() as i64);
            (ts, resp)
        })
        .collect();
    udp.sort_unstable();
    let last = udp.last().expect("udp queries").0;
    let mut cuts: Vec<i64> = udp.iter().map(|q| q.0).collect();
    cuts.push(last + 1_500_000_000);
    let dir = tempfile::tempdir().unwrap();
    let cut_file = dir.path().join("cut.pcap");
    let (mut both_seen, mut fixed_checked) = (false, false);
    for (i, &end) in cuts.iter().enumerate() {
        let (bytes, last) = common::pcap_until(&pcap, end);
        std::fs::write(&cut_file, &bytes).unwrap();
        let (code, out, err) = analyze_json(&[&cut_file], &[]);
        assert_eq!(code, 0, "cut {i}: {err}");
        // The capture ends at its last packet.
        let end = last.expect("a packet before the cut");
        let sent: Vec<_> = udp.iter().filter(|q| q.0 <= end).collect();
        let mut answered: Vec<f64> = sent
            .iter()
            .filter_map(|q| q.1.filter(|&r| r <= end).map(|r| (r - q.0) as f64 / 1e6))
            .collect();
        answered.sort_by(f64::total_cmp);
        let timeout_ms = if answered.is_empty() {
            5000.0
        } else {
            let rank = (0.99 * answered.len() as f64).ceil() as usize;
            (10.0 * answered[rank.clamp(1, answered.len()) - 1]).clamp(1000.0, 5000.0)
        };
        let expect = |timeout_ms: f64| -> (u64, u64) {
            let waiting = sent.iter().filter(|q| q.1.is_none_or(|r| r > end));
            let (mut unanswered, mut pending) = (0, 0);
            for q in waiting {
                if (end - q.0) as f64 >= timeout_ms * 1e6 {
                    unanswered += 1;
                } else {
                    pending += 1;
                }
            }
            (unanswered, pending)
        };
        let (unanswered, pending) = expect(timeout_ms);
        let d = &out["dns"];
        let what = format!("cut {i} ({:.3} s)", (end - udp[0].0) as f64 / 1e9);
        c.eq(
            format!("{what}: queries"),
            u(d, "queries"),
            Some(sent.len() as u64),
        );
        c.eq(
            format!("{what}: unanswered"),
            u(d, "unanswered"),
            Some(unanswered),
        );
        c.eq(
            format!("{what}: pending_at_end"),
            u(d, "pending_at_end"),
            Some(pending),
        );
        c.near(
            format!("{what}: the server's timeout"),
            d["servers"][0]["timeout_ms"].as_f64(),
            timeout_ms,
            0.01,
        );
        let finding = out["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["kind"] == "dns_unanswered");
        c.eq(
            format!("{what}: a dns_unanswered finding naming drop.test"),
            finding.map(|x| {
                x["summary"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("drop.test")
            }),
            (unanswered > 0).then_some(true),
        );
        if unanswered > 0 && pending > 0 {
            both_seen = true;
            // Both metrics gate, each with exit 4.
            for gate in ["dns_unanswered>0", "dns_pending_at_end>0"] {
                let (code, _, _) = analyze_json(&[&cut_file], &["--fail-on", gate]);
                c.eq(format!("{what}: --fail-on {gate} exits 4"), code, 4);
            }
        }
        if pending > 0 && !fixed_checked {
            // A fixed timeout shorter than any pending query's age: all of
            // them unanswered.
            fixed_checked = true;
            let (code, fixed, err) = analyze_json(&[&cut_file], &["--dns-timeout", "0.001"]);
            assert_eq!(code, 0, "{err}");
            let (u2, p2) = expect(1.0);
            c.eq(
                format!("{what}: --dns-timeout 0.001: unanswered"),
                u(&fixed["dns"], "unanswered"),
                Some(u2),
            );
            c.eq(
                format!("{what}: --dns-timeout 0.001: pending"),
                u(&fixed["dns"], "pending_at_end"),
                Some(p2),
            );
        }
    }
    c.eq(
        "some cut had both unanswered and pending queries",
        both_seen,
        true,
    );
    c.eq("some cut had pending queries", fixed_checked, true);
    c.finish();
}

// ------------------------------------------------------------------ backlog

/// The client's own connect() time of a truth connection, in ms.
fn client_connect_ms(conn: &Value) -> f64 {
    f(conn, "connect_s").expect("connect_s") * 1000.0
}

/// A listen backlog overflow: the server (backlog 1) does not accept for
/// 3.5 s while 20 clients connect at once. Per connection (matched by the
/// client's source port): `tcp.connect_ms` is what the client's connect()
/// waited by its own clock, within 5% (at least 2 ms: the client's clock
/// reads are not the capture's timestamps), and syn_retransmissions are
/// the SYNs it re-sent. Most connections needed SYN retries; for them the
/// handshake RTT (timed from the last SYN) is far below the connect time,
/// which is the point of the metric. And the kernel counted the overflow.
#[test]
fn backlog_connect_time_is_what_connect_waited() {
    let Some(s) = scenario("backlog") else { return };
    let t = &s.truth;
    let mut c = Checks::new("backlog connect time");
    let mut retried = 0;
    let mut shown = Vec::new();
    for conn in conns(t) {
        let cp = port(conn, "client");
        let sp = port(conn, "server");
        let tag = format!("backlog {cp}");
        let Some(fl) = flow(&s.out, "tcp", conn) else {
            c.ok(format!("{tag}: flow missing"), false);
            continue;
        };
        let tcp = &fl["tcp"];
        let client = client_connect_ms(conn);
        let got = f(tcp, "connect_ms");
        c.near(
            format!("{tag}: connect_ms vs the client's connect() time"),
            got,
            client,
            (client * 0.05).max(2.0),
        );
        let w = &s.wire[&(cp, sp)];
        let want_retx = w.client.syns.saturating_sub(1);
        c.eq(
            format!("{tag}: syn_retransmissions == SYNs in the capture - 1"),
            u(tcp, "syn_retransmissions"),
            Some(want_retx),
        );
        if let Some(traced) = u(conn, "kernel_syn_retransmits_traced") {
            c.eq(
                format!("{tag}: syn_retransmissions == the kernel's (traced)"),
                u(tcp, "syn_retransmissions"),
                Some(traced),
            );
        }
        c.eq(
            format!("{tag}: conn_state"),
            tcp["conn_state"].as_str(),
            conn["expected_conn_state"].as_str(),
        );
        let rtt = f(tcp, "handshake_rtt_ms");
        if u(tcp, "syn_retransmissions").unwrap_or(0) > 0 {
            retried += 1;
            // the last SYN's round trip is sub-millisecond on a veth; the
            // connect waited for the SYN retries (1 s each)
            c.ok(
                format!(
                    "{tag}: handshake_rtt_ms {rtt:?} far below connect_ms {got:?} \
                     (< 1/100 of it)"
                ),
                matches!((rtt, got), (Some(r), Some(g)) if r * 100.0 < g),
            );
        }
        shown.push(format!(
            "  {cp}: client {client:.3} ms, connect_ms {}, handshake_rtt_ms {}, SYN retries {}",
            got.map_or("null".into(), |v| format!("{v:.3}")),
            rtt.map_or("null".into(), |v| format!("{v:.3}")),
            u(tcp, "syn_retransmissions").unwrap_or(0)
        ));
    }
    c.ok(
        format!("backlog: at least 10 of 20 connections needed SYN retries ({retried})"),
        retried >= 10,
    );
    let overflows = u(t, "totals.listen_overflows").unwrap_or(0);
    let drops = u(t, "totals.listen_drops").unwrap_or(0);
    c.ok(
        format!(
            "backlog: the kernel counted the overflow (ListenOverflows {overflows}, \
             ListenDrops {drops})"
        ),
        overflows + drops > 0,
    );
    eprintln!(
        "backlog: {retried} of {} connections retried; ListenOverflows {overflows}, \
         ListenDrops {drops}\n{}",
        conns(t).len(),
        shown.join("\n")
    );
    c.finish();
}

/// The late connections are one `slow_connect` finding for the server,
/// HIGH (2 or more, and at least a tenth of its connections), naming the
/// server's IP:port first and listing exactly the late flows: those whose
/// client re-sent its SYN or waited at least 1 s (`--slow-connect-ms`).
#[test]
fn backlog_overflow_is_a_high_slow_connect_finding() {
    let Some(s) = scenario("backlog") else { return };
    let t = &s.truth;
    let mut c = Checks::new("backlog finding");
    let mut late = std::collections::BTreeSet::new();
    let mut server = None;
    for conn in conns(t) {
        let Some(fl) = flow(&s.out, "tcp", conn) else {
            c.ok(
                format!("backlog {}: flow missing", port(conn, "client")),
                false,
            );
            continue;
        };
        server = Some(format!(
            "{}:{}",
            conn["server"]["ip"].as_str().unwrap_or("?"),
            port(conn, "server")
        ));
        let retried = s.wire[&(port(conn, "client"), port(conn, "server"))]
            .client
            .syns
            > 1;
        if retried || client_connect_ms(conn) >= 1000.0 {
            late.insert(fl["id"].as_u64().expect("flow id"));
        }
    }
    let server = server.expect("a backlog connection");
    let found: Vec<&Value> = s.out["findings"]
        .as_array()
        .map(|a| a.iter().filter(|x| x["kind"] == "slow_connect").collect())
        .unwrap_or_default();
    c.eq("backlog: slow_connect findings", found.len(), 1);
    if let Some(fnd) = found.first() {
        eprintln!("backlog finding: {fnd}");
        c.eq(
            "backlog: slow_connect severity",
            fnd["severity"].as_str(),
            Some("HIGH"),
        );
        let summary = fnd["summary"].as_str().unwrap_or("");
        c.ok(
            format!("backlog: summary starts with the server {server}: {summary:?}"),
            summary
                .strip_prefix(&server)
                .is_some_and(|rest| !rest.starts_with(|ch: char| ch.is_ascii_digit())),
        );
        let listed: std::collections::BTreeSet<u64> = fnd["flows"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        c.ok(
            format!(
                "backlog: the truth has at least 10 late connections ({})",
                late.len()
            ),
            late.len() >= 10,
        );
        c.eq(
            "backlog: the finding's flows are the late ones",
            listed,
            late,
        );
    }
    c.finish();
}

/// The backlog capture in a node's archive whose /proc/net copies (start
/// and end, as the capture agent's bundle and Retina Capture keep them)
/// carry the server namespace's own counters from the run (ListenOverflows
/// and ListenDrops, truth): the counters are read into
/// `archives[].kernel_counters`, and the slow_connect finding names the
/// overflowing listen backlog with them. The bare capture names only the
/// usual causes.
#[test]
fn backlog_counters_from_a_node_archive_name_the_cause() {
    let Some(s) = scenario("backlog") else { return };
    let Some(r) = run() else { return };
    let t = &s.truth;
    let overflows = u(t, "totals.listen_overflows").unwrap_or(0) as i64;
    let drops = u(t, "totals.listen_drops").unwrap_or(0) as i64;
    let mut c = Checks::new("backlog counters");
    c.ok("backlog: the kernel counted overflows", overflows > 0);
    let slow = |j: &Value| -> Option<Value> {
        j["findings"]
            .as_array()?
            .iter()
            .find(|f| f["kind"] == "slow_connect")
            .cloned()
    };
    let bare = slow(&s.out).expect("a slow_connect finding on the capture");
    c.ok(
        "backlog: without counters, the usual causes",
        bare["summary"]
            .as_str()
            .unwrap_or("")
            .contains("drops on the path"),
    );
    // A Retina Capture tarball of node "node-a": the capture and the
    // counters, /proc/net/netstat's layout (names line, values line).
    let dir = tempfile::tempdir().unwrap();
    let tarball = dir.path().join("backlog-node-a-20261203120000UTC.tar.gz");
    {
        let gz = flate2::write::GzEncoder::new(
            std::fs::File::create(&tarball).unwrap(),
            flate2::Compression::fast(),
        );
        let mut tar = tar::Builder::new(gz);
        let pcap = std::fs::read(r.dir.join("backlog.pcap")).unwrap();
        let mut add = |name: &str, data: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, name, data).unwrap();
        };
        add("backlog.pcap", &pcap);
        let netstat = |o: i64, d: i64| {
            format!("TcpExt: SyncookiesSent ListenOverflows ListenDrops\nTcpExt: 0 {o} {d}\n")
        };
        add(
            "metadata/proc-net/start/netstat",
            netstat(1000, 1000).as_bytes(),
        );
        add(
            "metadata/proc-net/end/netstat",
            netstat(1000 + overflows, 1000 + drops).as_bytes(),
        );
        tar.into_inner().unwrap().finish().unwrap();
    }
    let (code, j, err) = analyze_json(&[&tarball], &[]);
    c.eq("backlog archive: exit status", code, 0);
    let a = &j["capture"]["archives"][0];
    c.eq("backlog archive: node", a["node"].as_str(), Some("node-a"));
    c.eq(
        "backlog archive: ListenOverflows over the capture",
        a["kernel_counters"]["TcpExt.ListenOverflows"].as_i64(),
        Some(overflows),
    );
    c.eq(
        "backlog archive: ListenDrops over the capture",
        a["kernel_counters"]["TcpExt.ListenDrops"].as_i64(),
        (drops > 0).then_some(drops),
    );
    c.eq(
        "backlog archive: counters that did not move are left out",
        a["kernel_counters"].get("TcpExt.SyncookiesSent"),
        None,
    );
    match slow(&j) {
        Some(f) => {
            c.ok(
                format!("backlog archive: the finding names the backlog ({err})"),
                f["summary"]
                    .as_str()
                    .unwrap_or("")
                    .contains("listen backlog overflowed"),
            );
            let said = format!("node-a's kernel counted {overflows} listen queue overflows");
            c.ok(
                format!(
                    "backlog archive: the evidence gives the counters: {}",
                    f["evidence"]
                ),
                f["evidence"].to_string().contains(&said),
            );
        }
        None => c.ok("backlog archive: a slow_connect finding", false),
    }
    c.finish();
}

/// `--fail-on` gates on the backlog capture: the p99 connect time (over 20
/// connections: the slowest, a SYN-retried one of ~4 s) and the SYN retries
/// trip them (exit 4); a threshold above the measured p99 does not (exit 0).
/// The report's metrics are the capture's.
#[test]
fn backlog_gates_on_connect_time_and_syn_retries() {
    let Some(s) = scenario("backlog") else { return };
    let Some(r) = run() else { return };
    let pcap = r.dir.join("backlog.pcap");
    let mut c = Checks::new("backlog gates");
    let mut wire_connect: Vec<f64> = s.wire.values().filter_map(WireConn::connect_ms).collect();
    wire_connect.sort_by(f64::total_cmp);
    let retries: u64 = s
        .wire
        .values()
        .map(|w| w.client.syns.saturating_sub(1))
        .sum();
    let m = &s.out["metrics"];
    // nearest rank over 20 connections: p99 is the slowest
    let rank = ((0.99 * wire_connect.len() as f64).ceil() as usize).max(1);
    c.near(
        "backlog: metrics.connect_p99_ms vs the capture",
        f(m, "connect_p99_ms"),
        wire_connect[rank - 1],
        0.001,
    );
    c.eq(
        "backlog: metrics.syn_retries vs the capture",
        f(m, "syn_retries"),
        Some(retries as f64),
    );
    for (expr, want) in [
        ("connect_p99_ms>1000", 4),
        ("syn_retries>0", 4),
        ("connect_p99_ms>100000", 0),
    ] {
        let (code, _, stderr) = analyze_json(&[&pcap], &["--fail-on", expr]);
        c.eq(
            format!("backlog: --fail-on '{expr}' exit status"),
            code,
            want,
        );
        if want == 4 {
            let metric = expr.split('>').next().unwrap_or(expr);
            c.ok(
                format!("backlog: --fail-on '{expr}' says why: {stderr:?}"),
                stderr.contains(&format!("{metric} = ")),
            );
        }
    }
    c.finish();
}
