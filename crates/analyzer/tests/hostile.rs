//! Hostile and damaged input (docs/robustness.md): captures cut at every
//! byte, bits flipped, absurd record and block lengths, unknown blocks, a
//! clock going backwards, duplicated packets, a link type changing mid-file;
//! and traffic built to hurt (sequence jumps of 2^31, overlapping
//! retransmissions with different bytes, TCP option and DNS compression
//! loops, hundreds of thousands of tuples). Never a panic or a hang, memory
//! bounded, what was skipped said with its offset, everything else analyzed.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, testdata};
use retina_analyzer::pipeline::{run, Config, Outcome, Progress, RunError};

// ---------------------------------------------------------------- builders

const LINKTYPE_RAW: u16 = 101;
const LINKTYPE_ETHERNET: u16 = 1;

/// An IPv4/TCP packet (raw IP) with the given options (padded to 4 bytes)
/// and payload. Checksums are left zero: the analyzer does not verify them.
#[allow(clippy::too_many_arguments)]
fn tcp(
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u16,
    opts: &[u8],
    payload: &[u8],
) -> Vec<u8> {
    let mut o = opts.to_vec();
    while o.len() % 4 != 0 {
        o.push(0);
    }
    let thl = 20 + o.len();
    let total = 20 + thl + payload.len();
    let mut f = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0x12,
        0x34,
        0x40,
        0,
        64,
        6,
        0,
        0,
    ];
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&ack.to_be_bytes());
    f.extend_from_slice(&((((thl / 4) as u16) << 12) | flags).to_be_bytes());
    f.extend_from_slice(&65535u16.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 0]);
    f.extend_from_slice(&o);
    f.extend_from_slice(payload);
    f
}

/// An IPv4/UDP packet (raw IP).
fn udp(src: [u8; 4], dst: [u8; 4], sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let total = 28 + payload.len();
    let mut f = vec![
        0x45,
        0,
        (total >> 8) as u8,
        total as u8,
        0,
        1,
        0x40,
        0,
        64,
        17,
        0,
        0,
    ];
    f.extend_from_slice(&src);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(payload);
    f
}

const SYN: u16 = 0x02;
const ACK: u16 = 0x10;
const PSH: u16 = 0x08;
const FIN: u16 = 0x01;

const C: [u8; 4] = [10, 1, 0, 1];
const S: [u8; 4] = [10, 1, 0, 2];

/// A small, complete TCP conversation: handshake, two requests and
/// responses, close. (time in ns, frame)
fn conversation(t0: i64) -> Vec<(i64, Vec<u8>)> {
    let ms = 1_000_000;
    let (cs, ss) = (1000u32, 5000u32);
    vec![
        (t0, tcp(C, S, 40000, 80, cs, 0, SYN, &[2, 4, 5, 0xb4], b"")),
        (
            t0 + ms,
            tcp(
                S,
                C,
                80,
                40000,
                ss,
                cs + 1,
                SYN | ACK,
                &[2, 4, 5, 0xb4],
                b"",
            ),
        ),
        (
            t0 + 2 * ms,
            tcp(C, S, 40000, 80, cs + 1, ss + 1, ACK, &[], b""),
        ),
        (
            t0 + 3 * ms,
            tcp(
                C,
                S,
                40000,
                80,
                cs + 1,
                ss + 1,
                ACK | PSH,
                &[],
                b"GET / HTTP/1.1\r\n\r\n",
            ),
        ),
        (
            t0 + 9 * ms,
            tcp(
                S,
                C,
                80,
                40000,
                ss + 1,
                cs + 19,
                ACK | PSH,
                &[],
                b"HTTP/1.1 200 OK\r\n\r\n",
            ),
        ),
        (
            t0 + 10 * ms,
            tcp(
                C,
                S,
                40000,
                80,
                cs + 19,
                ss + 20,
                ACK | PSH,
                &[],
                b"GET /b HTTP/1.1\r\n\r\n",
            ),
        ),
        (
            t0 + 15 * ms,
            tcp(
                S,
                C,
                80,
                40000,
                ss + 20,
                cs + 39,
                ACK | PSH,
                &[],
                b"HTTP/1.1 404 NF\r\n\r\n",
            ),
        ),
        (
            t0 + 16 * ms,
            tcp(C, S, 40000, 80, cs + 39, ss + 39, ACK | FIN, &[], b""),
        ),
        (
            t0 + 17 * ms,
            tcp(S, C, 80, 40000, ss + 39, cs + 40, ACK | FIN, &[], b""),
        ),
        (
            t0 + 18 * ms,
            tcp(C, S, 40000, 80, cs + 40, ss + 40, ACK, &[], b""),
        ),
    ]
}

/// A little-endian microsecond pcap. Returns the bytes and the offset at
/// which each record ends.
fn pcap(linktype: u16, records: &[(i64, Vec<u8>)]) -> (Vec<u8>, Vec<usize>) {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65535u32.to_le_bytes());
    out.extend_from_slice(&u32::from(linktype).to_le_bytes());
    let mut ends = Vec::new();
    for (ts, data) in records {
        let ts_us = ts / 1000;
        out.extend_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        ends.push(out.len());
    }
    (out, ends)
}

/// pcapng blocks.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let mut b = body.to_vec();
    while b.len() % 4 != 0 {
        b.push(0);
    }
    let len = (12 + b.len()) as u32;
    let mut out = kind.to_le_bytes().to_vec();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&b);
    out.extend_from_slice(&len.to_le_bytes());
    out
}
fn shb() -> Vec<u8> {
    let mut body = 0x1a2b_3c4du32.to_le_bytes().to_vec();
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    block(0x0a0d_0d0a, &body)
}
fn idb(linktype: u16) -> Vec<u8> {
    let mut body = linktype.to_le_bytes().to_vec();
    body.extend_from_slice(&[0, 0]);
    body.extend_from_slice(&65535u32.to_le_bytes());
    block(1, &body)
}
fn epb(iface: u32, ts_ns: i64, data: &[u8]) -> Vec<u8> {
    let us = (ts_ns / 1000) as u64;
    let mut body = iface.to_le_bytes().to_vec();
    body.extend_from_slice(&((us >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(us as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    block(6, &body)
}

/// Ethernet around a raw IPv4 packet.
fn ether(ip: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(ip);
    f
}

// ----------------------------------------------------------------- helpers

fn write(dir: &Path, name: &str, data: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// Runs the whole pipeline in process; a panic fails the test naming the file.
fn analyze(path: &Path) -> Result<Outcome, RunError> {
    let config = Config::new(vec![path.to_owned()]);
    std::panic::catch_unwind(|| run(&config, &Progress::default()))
        .unwrap_or_else(|_| panic!("panic on {}", path.display()))
}

/// What an error says, with the per-input messages of "nothing read".
fn err_text(e: &RunError) -> String {
    match e {
        RunError::NothingRead { messages } => format!("{e}: {}", messages.join("; ")),
        other => other.to_string(),
    }
}

fn flow_packets(o: &Outcome) -> u64 {
    o.report
        .flows
        .iter()
        .map(|f| f.packets.client + f.packets.server)
        .sum()
}

/// The release or debug binary with a peak-RSS measurement: (exit code,
/// stdout, stderr, peak RSS in KiB). Needs /usr/bin/time (installed by
/// scripts/install-deps.sh).
fn run_measured(args: &[&std::ffi::OsStr]) -> Option<(i32, String, String, u64)> {
    let time = Path::new("/usr/bin/time");
    if !time.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "/usr/bin/time is missing in CI (scripts/install-deps.sh installs it)"
        );
        eprintln!("skipping the memory measurement: /usr/bin/time is not installed");
        return None;
    }
    let me = bin();
    let exe = me.get_program().to_owned();
    let out = Command::new(time)
        .arg("-f")
        .arg("RETINA-PEAK-RSS %M")
        .arg(exe)
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let rss = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("RETINA-PEAK-RSS "))
        .and_then(|v| v.trim().parse().ok())
        .expect("peak RSS from /usr/bin/time");
    Some((
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr,
        rss,
    ))
}

// ------------------------------------------------------------------- files

/// A capture cut at every byte: the packets whose records end before the
/// cut are all analyzed; a cut inside a record is reported with the offset
/// where that record starts; a cut inside the file header reads nothing
/// and says so.
#[test]
fn truncation_at_every_byte_keeps_every_packet_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let (full, ends) = pcap(LINKTYPE_RAW, &conversation(1_700_000_000_000_000_000));
    let mut starts = vec![24];
    starts.extend(ends.iter().copied());
    for cut in 0..=full.len() {
        let path = write(dir.path(), &format!("cut-{cut}.pcap"), &full[..cut]);
        let complete = ends.iter().filter(|&&e| e <= cut).count() as u64;
        match analyze(&path) {
            Ok(o) => {
                assert_eq!(o.report.capture.packets, complete, "cut at {cut}");
                assert_eq!(flow_packets(&o), complete, "cut at {cut}");
                let at_boundary = cut == 24 || ends.contains(&cut);
                if at_boundary {
                    assert!(o.messages.is_empty(), "cut at {cut}: {:?}", o.messages);
                } else {
                    let start = *starts.iter().filter(|&&s| s <= cut).max().unwrap();
                    let m = o.messages.join("\n");
                    assert!(
                        m.contains(&path.display().to_string())
                            && m.contains(&format!("at byte {start}")),
                        "cut at {cut}: expected the record at byte {start} named: {m}"
                    );
                    assert!(o.report.capture.partial, "cut at {cut}");
                }
            }
            Err(e) => {
                assert!(cut < 24, "cut at {cut}: {e}");
                let t = err_text(&e);
                assert!(t.contains(&path.display().to_string()), "cut at {cut}: {t}");
            }
        }
        std::fs::remove_file(&path).unwrap();
    }
}

/// The same for pcapng: blocks of several kinds (section, interface,
/// enhanced packet), cut at every byte.
#[test]
fn pcapng_truncation_at_every_byte_keeps_every_packet_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let mut full = shb();
    full.extend(idb(LINKTYPE_RAW));
    let mut ends = Vec::new();
    for (ts, f) in conversation(1_700_000_000_000_000_000) {
        full.extend(epb(0, ts, &f));
        ends.push(full.len());
    }
    for cut in 0..=full.len() {
        let path = write(dir.path(), &format!("cut-{cut}.pcapng"), &full[..cut]);
        let complete = ends.iter().filter(|&&e| e <= cut).count() as u64;
        match analyze(&path) {
            Ok(o) => {
                assert_eq!(o.report.capture.packets, complete, "cut at {cut}");
                assert_eq!(flow_packets(&o), complete, "cut at {cut}");
                if !ends.contains(&cut) && cut > ends[0] - epb(0, 0, &[]).len() {
                    let m = o.messages.join("\n");
                    assert!(
                        m.contains(&path.display().to_string()) && m.contains("at byte"),
                        "cut at {cut}: {m}"
                    );
                }
            }
            Err(e) => {
                assert!(complete == 0, "cut at {cut}: {e}");
                let t = err_text(&e);
                assert!(t.contains(&path.display().to_string()), "cut at {cut}: {t}");
            }
        }
        std::fs::remove_file(&path).unwrap();
    }
}

/// One bit flipped at every byte of a capture (the bit varies with the
/// byte): never a panic, and a report that adds up.
#[test]
fn a_bit_flipped_anywhere_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (full, _) = pcap(LINKTYPE_RAW, &conversation(1_700_000_000_000_000_000));
    for at in 0..full.len() {
        let mut data = full.clone();
        data[at] ^= 1 << (at % 8);
        let path = write(dir.path(), "flip.pcap", &data);
        if let Ok(o) = analyze(&path) {
            assert!(flow_packets(&o) <= o.report.capture.packets, "flip at {at}");
            assert!(o.report.capture.packets <= 10, "flip at {at}");
        }
    }
}

/// Record and block lengths of up to 4 GB: the reader says where the
/// damage is, keeps what came before, and does not try to allocate them.
#[test]
fn absurd_record_and_block_lengths_are_damage_not_allocations() {
    let dir = tempfile::tempdir().unwrap();
    let conv = conversation(1_700_000_000_000_000_000);
    let mut cases: Vec<(String, Vec<u8>, u64, usize)> = Vec::new();
    // pcap: the fourth record claims 4 GB captured.
    let (mut p, ends) = pcap(LINKTYPE_RAW, &conv);
    p[ends[2] + 8..ends[2] + 12].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    cases.push(("pcap-caplen-4g.pcap".into(), p, 3, ends[2]));
    // pcapng: the fourth packet block claims 4 GB (both length fields).
    let mut ng = shb();
    ng.extend(idb(LINKTYPE_RAW));
    let mut at = 0;
    for (i, (ts, f)) in conv.iter().enumerate() {
        if i == 3 {
            at = ng.len();
        }
        ng.extend(epb(0, *ts, f));
    }
    ng[at + 4..at + 8].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    cases.push(("pcapng-block-4g.pcapng".into(), ng.clone(), 3, at));
    // pcapng: the block is short but its captured length claims 4 GB.
    let mut ng2 = ng.clone();
    let len = (epb(0, conv[3].0, &conv[3].1).len() as u32).to_le_bytes();
    ng2[at + 4..at + 8].copy_from_slice(&len);
    ng2[at + 20..at + 24].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    cases.push(("pcapng-caplen-4g.pcapng".into(), ng2, 3, at));
    for (name, data, before, offset) in cases {
        let path = write(dir.path(), &name, &data);
        let o = analyze(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(o.report.capture.packets, before, "{name}");
        let m = o.messages.join("\n");
        assert!(
            m.contains(&name) && m.contains(&format!("at byte {offset}")),
            "{name}: {m}"
        );
        // The binary on the same file: bounded memory (the 4 GB is never allocated).
        if let Some((code, _, stderr, rss_kib)) =
            run_measured(&[path.as_os_str(), "--format".as_ref(), "json".as_ref()])
        {
            assert_eq!(code, 3, "{name}: {stderr}");
            assert!(rss_kib < 256 * 1024, "{name}: peak RSS {rss_kib} KiB");
        }
    }
}

/// Blocks the reader does not know (a reserved type, a custom block, a
/// block of a newer pcapng) are skipped; every packet around them counts.
#[test]
fn unknown_pcapng_blocks_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let conv = conversation(1_700_000_000_000_000_000);
    let mut ng = shb();
    ng.extend(idb(LINKTYPE_RAW));
    for (i, (ts, f)) in conv.iter().enumerate() {
        match i {
            2 => ng.extend(block(0x0000_0bad, b"custom block, copyable")),
            4 => ng.extend(block(0x4000_0bad, b"custom block, do not copy")),
            6 => ng.extend(block(0x0000_0222, b"a block type nobody defined yet")),
            _ => {}
        }
        ng.extend(epb(0, *ts, f));
    }
    let path = write(dir.path(), "unknown-blocks.pcapng", &ng);
    let o = analyze(&path).unwrap();
    assert_eq!(o.report.capture.packets, conv.len() as u64);
    assert_eq!(flow_packets(&o), conv.len() as u64);
    assert_eq!(o.report.flows.len(), 1);
    assert!(o.messages.is_empty(), "{:?}", o.messages);
}

/// A link type that changes mid-file (a second section whose interface is
/// Ethernet after one of raw IP): both halves decode.
#[test]
fn a_link_type_changing_mid_file_decodes_both_halves() {
    let dir = tempfile::tempdir().unwrap();
    let conv = conversation(1_700_000_000_000_000_000);
    let mut ng = shb();
    ng.extend(idb(LINKTYPE_RAW));
    for (ts, f) in &conv[..5] {
        ng.extend(epb(0, *ts, f));
    }
    ng.extend(shb());
    ng.extend(idb(LINKTYPE_ETHERNET));
    for (ts, f) in &conv[5..] {
        ng.extend(epb(0, *ts, &ether(f)));
    }
    let path = write(dir.path(), "linktype-change.pcapng", &ng);
    let o = analyze(&path).unwrap();
    assert_eq!(
        o.report.flows.len(),
        1,
        "one conversation across the change"
    );
    assert_eq!(flow_packets(&o), conv.len() as u64);
    assert!(
        o.report.capture.skipped.is_empty(),
        "{:?}",
        o.report.capture.skipped
    );
    let lts: Vec<u16> = o
        .report
        .capture
        .link_types
        .iter()
        .map(|l| l.linktype)
        .collect();
    assert!(
        lts.contains(&LINKTYPE_RAW) && lts.contains(&LINKTYPE_ETHERNET),
        "{lts:?}"
    );
}

/// A clock that jumps back an hour mid-capture (and forward again): every
/// packet analyzed, nothing negative in the report, and the jump said.
#[test]
fn a_clock_going_backwards_is_said_and_nothing_goes_negative() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000_000_000;
    let mut recs = conversation(t0);
    for r in &mut recs[4..7] {
        r.0 -= 3_600_000_000_000;
    }
    let (data, ends) = pcap(LINKTYPE_RAW, &recs);
    let path = write(dir.path(), "clock-back.pcap", &data);
    let o = analyze(&path).unwrap();
    assert_eq!(flow_packets(&o), recs.len() as u64);
    let json = serde_json::to_value(&o.report).unwrap();
    let mut negatives = Vec::new();
    find_negative_durations(&json, "", &mut negatives);
    assert!(negatives.is_empty(), "negative times: {negatives:?}");
    let w = o.report.capture.warnings.join("\n");
    assert!(
        w.contains("clock-back.pcap")
            && w.contains("3 packets")
            && w.contains("went back")
            && w.contains(&format!("first at byte {}", ends[3])),
        "warnings: {w}"
    );
}

/// Every field that holds a duration, an RTT or a delay must not be negative.
fn find_negative_durations(v: &serde_json::Value, path: &str, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                let p = format!("{path}.{k}");
                let timey = [
                    "_ms", "_s", "duration", "rtt", "delay", "latency", "response",
                ]
                .iter()
                .any(|s| k.contains(s));
                if timey {
                    if let Some(f) = x.as_f64() {
                        if f < 0.0 {
                            out.push(format!("{p} = {f}"));
                        }
                    }
                }
                find_negative_durations(x, &p, out);
            }
        }
        serde_json::Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                find_negative_durations(x, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Every packet captured twice in a row (a mirror port feeding the same
/// interface twice): one flow, no panic, each copy counted.
#[test]
fn duplicated_packets_stay_one_flow() {
    let dir = tempfile::tempdir().unwrap();
    let recs: Vec<(i64, Vec<u8>)> = conversation(1_700_000_000_000_000_000)
        .into_iter()
        .flat_map(|r| [r.clone(), (r.0 + 1000, r.1)])
        .collect();
    let (data, _) = pcap(LINKTYPE_RAW, &recs);
    let path = write(dir.path(), "dup.pcap", &data);
    let o = analyze(&path).unwrap();
    assert_eq!(o.report.flows.len(), 1);
    assert_eq!(o.report.capture.packets, recs.len() as u64);
}

// ----------------------------------------------------------------- traffic

/// Sequence numbers that jump by 2^31 in the middle of a stream, and
/// retransmissions that overlap earlier data with different bytes.
#[test]
fn sequence_jumps_and_conflicting_overlaps_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let ms = 1_000_000;
    let t0 = 1_700_000_000_000_000_000;
    let mut recs = conversation(t0)[..3].to_vec();
    let mut seq = 1001u32;
    let mut t = t0 + 3 * ms;
    for i in 0..200u32 {
        let payload = vec![(i % 251) as u8; 1000];
        recs.push((t, tcp(C, S, 40000, 80, seq, 5001, ACK, &[], &payload)));
        if i % 10 == 5 {
            // Overlapping resend of the last 1500 bytes, different content.
            let other = vec![0xee; 1500];
            recs.push((
                t + 1000,
                tcp(
                    C,
                    S,
                    40000,
                    80,
                    seq.wrapping_sub(500),
                    5001,
                    ACK,
                    &[],
                    &other,
                ),
            ));
        }
        if i % 50 == 49 {
            seq = seq.wrapping_add(1 << 31);
        }
        seq = seq.wrapping_add(1000);
        t += ms;
        recs.push((t, tcp(S, C, 80, 40000, 5001, seq, ACK, &[], b"")));
    }
    let (data, _) = pcap(LINKTYPE_RAW, &recs);
    let path = write(dir.path(), "jumps.pcap", &data);
    let o = analyze(&path).unwrap();
    assert_eq!(flow_packets(&o), recs.len() as u64);
    let f = &o.report.flows[0];
    let tcp = f.tcp.as_ref().expect("TCP analysis");
    // Bytes counted are bounded by what the capture carried, whatever the numbers claim.
    let carried: u64 = recs.iter().map(|(_, p)| p.len() as u64).sum();
    let json = serde_json::to_value(tcp).unwrap();
    for key in ["bytes_acked", "unique_bytes", "goodput_bytes"] {
        for dir in ["client", "server"] {
            if let Some(v) = json
                .get(key)
                .and_then(|x| x.get(dir))
                .and_then(|x| x.as_u64())
            {
                assert!(v <= carried, "{key}.{dir} = {v} > {carried} carried");
            }
        }
    }
    let loss = o.report.metrics["capture_loss_rate"];
    assert!((0.0..=1.0).contains(&loss), "capture_loss_rate {loss}");
}

/// TCP options built to loop or overrun (length 0 and 1, a length past the
/// header, endless NOPs, a SACK option with a ragged length): parsed in
/// bounded time, the packets still counted.
#[test]
fn tcp_option_loops_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000_000_000;
    let opts: [&[u8]; 6] = [
        &[2, 0, 5, 0xb4],
        &[8, 1, 8, 1, 8, 1, 8, 1],
        &[5, 40, 0, 0, 0, 0, 0, 0],
        &[1; 40],
        &[5, 11, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0],
        &[3, 3, 255, 4, 2, 8, 10, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0],
    ];
    let mut recs = Vec::new();
    for (i, o) in opts.iter().enumerate() {
        let t = t0 + i as i64 * 1_000_000;
        recs.push((t, tcp(C, S, 41000 + i as u16, 80, 7, 0, SYN, o, b"")));
        recs.push((
            t + 1000,
            tcp(S, C, 80, 41000 + i as u16, 9, 8, SYN | ACK, o, b""),
        ));
    }
    let (data, _) = pcap(LINKTYPE_RAW, &recs);
    let path = write(dir.path(), "options.pcap", &data);
    let started = std::time::Instant::now();
    let o = analyze(&path).unwrap();
    assert!(started.elapsed().as_secs() < 30);
    assert_eq!(o.report.flows.len(), opts.len());
    assert_eq!(flow_packets(&o), recs.len() as u64);
}

/// DNS messages whose names point at themselves, at each other, or past
/// the message: parsed in bounded time, the flows kept, no name invented.
#[test]
fn dns_compression_loops_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000_000_000;
    let header = |id: u16, flags: u16| {
        let mut h = id.to_be_bytes().to_vec();
        h.extend_from_slice(&flags.to_be_bytes());
        h.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 0]);
        h
    };
    let mut msgs = Vec::new();
    // Question name is a pointer to itself (offset 12).
    let mut m = header(1, 0x0100);
    m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
    msgs.push(m);
    // Two pointers that point at each other.
    let mut m = header(2, 0x8180);
    m.extend_from_slice(&[0xc0, 14, 0xc0, 12, 0, 1, 0, 1]);
    msgs.push(m);
    // A label then a pointer back to the start of the label (a cycle with growth).
    let mut m = header(3, 0x8180);
    m.extend_from_slice(&[3, b'a', b'b', b'c', 0xc0, 12, 0, 1, 0, 1]);
    msgs.push(m);
    // A pointer past the end of the message.
    let mut m = header(4, 0x0100);
    m.extend_from_slice(&[0xff, 0xff, 0, 1, 0, 1]);
    msgs.push(m);
    // 63-byte labels chained until the message ends (no terminator).
    let mut m = header(5, 0x0100);
    for _ in 0..20 {
        m.push(63);
        m.extend_from_slice(&[b'x'; 63]);
    }
    msgs.push(m);
    let recs: Vec<(i64, Vec<u8>)> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| (t0 + i as i64 * 1000, udp(C, S, 50000 + i as u16, 53, m)))
        .collect();
    for m in &msgs {
        let started = std::time::Instant::now();
        let parsed = retina_analyzer::decode::dns::parse(m, true);
        assert!(started.elapsed().as_millis() < 1000);
        if let Some(p) = parsed {
            assert!(p.qname.len() <= 1100, "name of {} chars", p.qname.len());
        }
    }
    let (data, _) = pcap(LINKTYPE_RAW, &recs);
    let path = write(dir.path(), "dns-loops.pcap", &data);
    let o = analyze(&path).unwrap();
    assert_eq!(o.report.flows.len(), msgs.len());
}

/// Hundreds of thousands of distinct tuples under a small flow cap: the
/// cap holds, every eviction is counted and said, and peak memory stays
/// far below what tracking every tuple would take.
#[test]
fn a_tuple_flood_under_a_flow_cap_is_counted_and_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000_000_000;
    let n = 300_000u32;
    let recs: Vec<(i64, Vec<u8>)> = (0..n)
        .map(|i| {
            let src = [10, 2 + (i >> 16) as u8, (i >> 8) as u8, i as u8];
            (
                t0 + i64::from(i) * 20_000,
                tcp(src, S, 1024 + (i % 60000) as u16, 443, i, 0, SYN, &[], b""),
            )
        })
        .collect();
    let (data, _) = pcap(LINKTYPE_RAW, &recs);
    let path = write(dir.path(), "flood.pcap", &data);
    let Some((code, out, stderr, rss_kib)) = run_measured(&[
        path.as_os_str(),
        "--max-flows".as_ref(),
        "5000".as_ref(),
        "--format".as_ref(),
        "jsonl".as_ref(),
        "--threads".as_ref(),
        "2".as_ref(),
    ]) else {
        return;
    };
    assert!(code == 0 || code == 2 || code == 3, "exit {code}: {stderr}");
    let summary: serde_json::Value =
        serde_json::from_str(out.lines().last().expect("a summary line")).unwrap();
    let evicted = summary["capture"]["evicted_flows"].as_u64().unwrap();
    let flows = out.lines().count() as u64 - 1;
    assert_eq!(flows, u64::from(n), "every tuple is a flow, evicted or not");
    assert!(
        evicted >= u64::from(n) - 5000 - 5000 / 8,
        "evicted {evicted}"
    );
    let w = summary["capture"]["warnings"].to_string();
    assert!(
        w.contains("5000") || w.contains("5,000"),
        "warning names the cap: {w}"
    );
    eprintln!(
        "tuple flood: {n} tuples, {evicted} evicted, peak RSS {} MiB",
        rss_kib / 1024
    );
}

/// The damaged captures beside the test data, and any capture of the
/// public corpus when it is present, read without a panic.
#[test]
fn every_edge_and_corpus_capture_reads_without_panic() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(testdata("edge"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    let corpus = common::repo_root().join("../shared/corpus");
    if corpus.is_dir() {
        let mut stack = vec![corpus];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.metadata().map(|m| m.len() < 2_000_000).unwrap_or(false)
                    && p.extension().is_some_and(|e| {
                        ["pcap", "pcapng", "cap", "gz"].contains(&e.to_str().unwrap_or(""))
                    })
                {
                    files.push(p);
                }
            }
        }
    }
    assert!(files.len() >= 10, "{files:?}");
    for f in &files {
        match analyze(f) {
            Ok(o) => assert!(
                flow_packets(&o) <= o.report.capture.packets,
                "{}",
                f.display()
            ),
            Err(e) => {
                let t = err_text(&e);
                assert!(t.contains(&*f.to_string_lossy()), "{t}")
            }
        }
    }
}

/// A malformed frame in the middle of a capture is skipped, counted, and
/// named by its frame number; the frames around it are analyzed.
#[test]
fn a_malformed_frame_is_skipped_and_named_by_number() {
    let dir = tempfile::tempdir().unwrap();
    let mut recs = conversation(1_700_000_000_000_000_000);
    recs[4].1[0] = 0x41; // IPv4 with a header length of 4 bytes
    recs[6].1[0] = 0x42;
    let (data, _) = pcap(LINKTYPE_RAW, &recs);
    let path = write(dir.path(), "malformed.pcap", &data);
    let o = analyze(&path).unwrap();
    assert_eq!(flow_packets(&o), recs.len() as u64 - 2);
    assert_eq!(o.report.capture.skipped.values().sum::<u64>(), 2);
    let w = o.report.capture.warnings.join("\n");
    assert!(
        w.contains("malformed.pcap: 2 packet(s) skipped") && w.contains("the first is frame 5"),
        "{w}"
    );
}

/// Per-CPU interleaving (a packet stamped a few milliseconds before the one
/// written ahead of it, as veth and `-i any` captures have) is no clock
/// step: no warning, and the packet keeps its own timestamp.
#[test]
fn small_steps_back_keep_their_timestamps() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = 1_700_000_000_000_000_000;
    let mut recs = conversation(t0);
    recs.swap(3, 4); // the response written before the request it answers
    let (data, _) = pcap(LINKTYPE_RAW, &recs);
    let path = write(dir.path(), "interleaved.pcap", &data);
    let o = analyze(&path).unwrap();
    assert_eq!(flow_packets(&o), recs.len() as u64);
    let w = o.report.capture.warnings.join("\n");
    assert!(!w.contains("went back"), "{w}");
    assert_eq!(o.report.flows[0].last_ts_ns, t0 + 18 * 1_000_000);
}
