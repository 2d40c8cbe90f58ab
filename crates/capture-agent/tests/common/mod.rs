//! Helpers for the agent's integration tests: privilege checks (skip, or
//! fail under CI: `require`), network namespaces joined by veth, the agent and tcpdump
//! as child processes, pcap/pcapng and Parquet readers.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const AGENT: &str = env!("CARGO_BIN_EXE_retina-capture");

// The one rule for tests that need what a machine may lack (skip with the
// reason printed, fail in CI), shared with the analyzer's tests.
#[path = "../../../analyzer/tests/common/require.rs"]
mod require;
pub use require::{require, root, tool};

/// Whether the privileged tests can run here: `SKIPPED: <reason>` and
/// false when they cannot, except under CI (env CI set), where that is a
/// failure: CI runs as root on a kernel with BPF.
pub fn privileged(test: &str) -> bool {
    let available = if cfg!(retina_bpf) {
        root()
            .map_err(|why| format!("{why} (the agent and network namespaces need root)"))
            .and_then(|()| {
                if Path::new("/sys/kernel/btf/vmlinux").exists() {
                    Ok(())
                } else {
                    Err("no kernel BTF (/sys/kernel/btf/vmlinux)".to_string())
                }
            })
            .and_then(|()| {
                ["ip", "nft", "tcpdump", "python3", "ethtool"]
                    .into_iter()
                    .try_for_each(tool)
                    .map_err(|why| format!("{why} (run scripts/install-deps.sh)"))
            })
    } else {
        Err(format!(
            "retina-capture was built without its BPF programs: {}",
            option_env!("RETINA_NO_BPF_REASON").unwrap_or("unknown reason")
        ))
    };
    require(available.map_err(|why| format!("{test}: {why}")))
}

pub fn sh(cmd: &[&str]) -> String {
    let out = Command::new(cmd[0])
        .args(&cmd[1..])
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

static SEQ: AtomicU32 = AtomicU32::new(0);

/// Two network namespaces, `a` (client) and `b` (server), joined by a veth
/// pair with offloads off; deleted on drop (also when the test fails).
pub struct Pair {
    pub ns_a: String,
    pub ns_b: String,
    pub if_a: String,
    pub if_b: String,
    pub addr_a: Ipv4Addr,
    pub addr_b: Ipv4Addr,
}

impl Pair {
    pub fn new() -> Pair {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let pid = std::process::id() % 100_000;
        // Addresses unique to this process and pair: 10.(200+n).(pid%250).{1,2}
        let third = (pid % 250) as u8;
        let second = 200 + (n % 50) as u8;
        let p = Pair {
            ns_a: format!("rcap{pid}-{n}a"),
            ns_b: format!("rcap{pid}-{n}b"),
            if_a: format!("rc{pid}x{n}a"),
            if_b: format!("rc{pid}x{n}b"),
            addr_a: Ipv4Addr::new(10, second, third, 1),
            addr_b: Ipv4Addr::new(10, second, third, 2),
        };
        // Drop cleans up whatever part of the setup succeeded.
        sh(&["ip", "netns", "add", &p.ns_a]);
        sh(&["ip", "netns", "add", &p.ns_b]);
        sh(&[
            "ip", "link", "add", &p.if_a, "type", "veth", "peer", "name", &p.if_b,
        ]);
        sh(&["ip", "link", "set", &p.if_a, "netns", &p.ns_a]);
        sh(&["ip", "link", "set", &p.if_b, "netns", &p.ns_b]);
        for (ns, dev, addr) in [(&p.ns_a, &p.if_a, p.addr_a), (&p.ns_b, &p.if_b, p.addr_b)] {
            sh(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                dev,
            ]);
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            sh(&[
                "ip", "netns", "exec", ns, "ethtool", "-K", dev, "tso", "off", "gso", "off", "gro",
                "off",
            ]);
        }
        p
    }

    /// Inode of a namespace (what the agent's `netns` columns hold).
    pub fn netns_inode(ns: &str) -> u32 {
        std::fs::metadata(Path::new("/run/netns").join(ns))
            .unwrap_or_else(|e| panic!("/run/netns/{ns}: {e}"))
            .ino() as u32
    }

    pub fn exec(ns: &str, cmd: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(cmd);
        c
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.ns_a, &self.ns_b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// A child process whose stderr is collected line by line.
pub struct Proc {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub stderr: Vec<String>,
    pub what: String,
}

impl Proc {
    pub fn spawn(what: &str, mut cmd: Command) -> Proc {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
        let err = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Proc {
            child,
            lines: rx,
            stderr: Vec::new(),
            what: what.to_string(),
        }
    }

    /// Waits for a stderr line containing `needle`.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) {
        let end = Instant::now() + timeout;
        loop {
            if self.stderr.iter().any(|l| l.contains(needle)) {
                return;
            }
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.stderr.push(l),
                Err(_) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    while let Ok(l) = self.lines.try_recv() {
                        self.stderr.push(l);
                    }
                    panic!(
                        "{}: no {needle:?} on stderr within {timeout:?}; stderr:\n{}",
                        self.what,
                        self.stderr.join("\n")
                    );
                }
            }
        }
    }

    pub fn signal(&self, sig: &str) {
        sh(&["kill", &format!("-{sig}"), &self.child.id().to_string()]);
    }

    /// Waits (at most `timeout`) for the exit; returns (status code, stdout).
    pub fn wait(&mut self, timeout: Duration) -> (Option<i32>, String) {
        let end = Instant::now() + timeout;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                let mut out = String::new();
                if let Some(mut o) = self.child.stdout.take() {
                    let _ = o.read_to_string(&mut out);
                }
                // the stderr thread ends at EOF
                let drain_end = Instant::now() + Duration::from_secs(2);
                while let Ok(l) = self
                    .lines
                    .recv_timeout(drain_end.saturating_duration_since(Instant::now()))
                {
                    self.stderr.push(l);
                }
                return (st.code(), out);
            }
            if Instant::now() >= end {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "{}: still running after {timeout:?}; stderr:\n{}",
                    self.what,
                    self.stderr.join("\n")
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.join("\n")
    }
}

/// Starts `retina-capture ARGS` in network namespace `ns` and waits until
/// it says it is capturing.
pub fn start_agent(what: &str, ns: &str, args: &[&str]) -> Proc {
    let mut argv = vec![AGENT];
    argv.extend_from_slice(args);
    let mut agent = Proc::spawn(what, Pair::exec(ns, &argv));
    agent.wait_for("capturing on", Duration::from_secs(30));
    agent
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A helper process killed when dropped (also when the test panics).
pub struct KillOnDrop(pub Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = SEQ.fetch_add(1, Ordering::SeqCst);
        let d = std::env::temp_dir().join(format!(
            "retina-capture-test-{tag}-{}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("RETINA_KEEP_TEST_OUTPUT").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// One frame of a capture file.
#[derive(Clone, Debug)]
pub struct Frame {
    pub if_id: u32,
    pub data: Vec<u8>,
    pub orig_len: u32,
    /// pcapng epb_flags direction bits: 1 inbound, 2 outbound, 0 unknown.
    pub direction: u32,
    pub ts_ns: u64,
}

/// Reads every frame of a pcap or pcapng file; panics (with the file name)
/// on any damaged block, so a truncated file fails the test. Also returns
/// pcapng interface names.
pub fn read_capture(path: &Path) -> (Vec<Frame>, Vec<String>) {
    use pcap_parser::{create_reader, Block, PcapBlockOwned, PcapError};
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader =
        create_reader(1 << 20, file).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
    let mut frames = Vec::new();
    let mut names = Vec::new();
    let mut tsres: Vec<u64> = Vec::new();
    loop {
        match reader.next() {
            Ok((off, block)) => {
                match block {
                    PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                        let name = match idb.if_name() {
                            Some(Ok(n)) => n.to_string(),
                            _ => String::new(),
                        };
                        names.push(name);
                        tsres.push(idb.ts_resolution().unwrap_or(1_000_000));
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                        let mut direction = 0;
                        for o in &epb.options {
                            if o.code.0 == 2 && o.value.len() >= 4 {
                                direction =
                                    u32::from_le_bytes(o.value[..4].try_into().unwrap()) & 3;
                            }
                        }
                        let units = tsres.get(epb.if_id as usize).copied().unwrap_or(1_000_000);
                        let raw = ((epb.ts_high as u64) << 32) | epb.ts_low as u64;
                        frames.push(Frame {
                            if_id: epb.if_id,
                            data: epb.data[..epb.caplen as usize].to_vec(),
                            orig_len: epb.origlen,
                            direction,
                            ts_ns: (raw as u128 * 1_000_000_000 / units as u128) as u64,
                        });
                    }
                    PcapBlockOwned::Legacy(b) => frames.push(Frame {
                        if_id: 0,
                        data: b.data[..b.caplen as usize].to_vec(),
                        orig_len: b.origlen,
                        direction: 0,
                        ts_ns: b.ts_sec as u64 * 1_000_000_000 + b.ts_usec as u64 * 1000,
                    }),
                    _ => {}
                }
                reader.consume(off);
            }
            Err(PcapError::Eof) => break,
            Err(PcapError::Incomplete(_)) => {
                reader
                    .refill()
                    .unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
            }
            Err(e) => panic!("{}: damaged capture: {e:?}", path.display()),
        }
    }
    (frames, names)
}

/// IPv4 header fields of an Ethernet frame: (src, dst, protocol, sport, dport).
pub fn ipv4_of(frame: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, u16, u16)> {
    if frame.len() < 34 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = (ip[0] & 0xf) as usize * 4;
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    let proto = ip[9];
    let (sp, dp) = if (proto == 6 || proto == 17) && ip.len() >= ihl + 4 {
        (
            u16::from_be_bytes([ip[ihl], ip[ihl + 1]]),
            u16::from_be_bytes([ip[ihl + 2], ip[ihl + 3]]),
        )
    } else {
        (0, 0)
    };
    Some((src, dst, proto, sp, dp))
}

/// A Parquet table as columns of display strings keyed by column name
/// (null → "").
pub struct Table {
    pub cols: HashMap<String, Vec<String>>,
    pub rows: usize,
}

impl Table {
    pub fn read(path: &Path) -> Table {
        use arrow_array::Array;
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .build()
            .unwrap();
        let mut cols: HashMap<String, Vec<String>> = HashMap::new();
        let mut rows = 0;
        for batch in reader {
            let batch = batch.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            rows += batch.num_rows();
            for (i, f) in batch.schema().fields().iter().enumerate() {
                let col = batch.column(i);
                let fmt = arrow_cast_display(col.as_ref());
                let v = cols.entry(f.name().clone()).or_default();
                for r in 0..col.len() {
                    v.push(if col.is_null(r) {
                        String::new()
                    } else {
                        fmt(r)
                    });
                }
            }
        }
        Table { cols, rows }
    }

    pub fn col(&self, name: &str) -> &[String] {
        self.cols
            .get(name)
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("no column {name}; have {:?}", self.cols.keys()))
    }

    /// Row indexes where every (column, value) matches.
    pub fn select(&self, conds: &[(&str, &str)]) -> Vec<usize> {
        (0..self.rows)
            .filter(|&r| conds.iter().all(|(c, v)| self.col(c)[r] == *v))
            .collect()
    }
}

fn arrow_cast_display(col: &dyn arrow_array::Array) -> Box<dyn Fn(usize) -> String + '_> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::*;
    use arrow_schema::DataType;
    match col.data_type() {
        DataType::Utf8 => Box::new(move |r| col.as_string::<i32>().value(r).to_string()),
        DataType::UInt8 => Box::new(move |r| col.as_primitive::<UInt8Type>().value(r).to_string()),
        DataType::UInt16 => {
            Box::new(move |r| col.as_primitive::<UInt16Type>().value(r).to_string())
        }
        DataType::UInt32 => {
            Box::new(move |r| col.as_primitive::<UInt32Type>().value(r).to_string())
        }
        DataType::UInt64 => {
            Box::new(move |r| col.as_primitive::<UInt64Type>().value(r).to_string())
        }
        DataType::Int64 => Box::new(move |r| col.as_primitive::<Int64Type>().value(r).to_string()),
        DataType::Timestamp(_, _) => Box::new(move |r| {
            col.as_primitive::<TimestampNanosecondType>()
                .value(r)
                .to_string()
        }),
        other => panic!("unexpected column type {other:?}"),
    }
}
