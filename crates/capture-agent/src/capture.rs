//! The capture itself (Linux, built with the BPF programs): preflight
//! checks, loading and attaching the programs, the ring-buffer loop, limits,
//! clean stop and the outputs.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::collections::{BTreeMap, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use aya::maps::{MapData, RingBuf};
use aya::Btf;
use retina_tables::agent::{DropTableRow, RetransTableRow};
use retina_tables::bundle::{self as manifest, Manifest, MetadataFile};
use retina_tables::TableWriter;
use rustix::event::{PollFd, PollFlags};

use crate::abi::{self, Config, Event};
use crate::bundle;
use crate::cli::Args;
use crate::kallsyms::Kallsyms;
use crate::pcapng::{self, Direction, PcapngWriter};
use crate::programs::{self, load_error, Attached, Obj};
use crate::tracefmt;

static STOP: AtomicBool = AtomicBool::new(false);
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The longest the loop waits for the ring buffers before it looks at the
/// clock, the limits and [`STOP`] again (below one second).
const POLL_TIMEOUT: Duration = Duration::from_millis(100);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL.store(sig, Ordering::SeqCst);
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT and SIGTERM stop the capture cleanly (the loop sees [`STOP`]).
fn install_signal_handlers() -> Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `libc::sigaction` is plain C data for which all zeroes is
        // a valid value (no handler, empty flags, empty mask).
        let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
        // An `sa_handler`-style handler (no SA_SIGINFO): `on_signal` has the
        // `extern "C" fn(c_int)` signature the kernel calls it with.
        sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // No SA_RESTART: poll() returns EINTR and the loop sees STOP at once
        // (poll is never restarted anyway).
        sa.sa_flags = 0;
        // SAFETY: `sa.sa_mask` is a valid, writable sigset_t of `sa`.
        let rc = unsafe { libc::sigemptyset(&mut sa.sa_mask) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error()).context("sigemptyset");
        }
        // SAFETY: `sa` is a fully initialised sigaction that lives across
        // the call, the old action is not asked for (null is allowed), and
        // the handler is async-signal-safe: it only stores to atomics.
        let rc = unsafe { libc::sigaction(sig, &sa, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error())
                .with_context(|| format!("installing the handler of signal {sig} (sigaction)"));
        }
    }
    Ok(())
}

/// Why the capture ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    Duration,
    MaxPackets,
    MaxSize,
    Signal(i32),
}

impl StopReason {
    fn as_str(self) -> String {
        match self {
            StopReason::Duration => "duration".into(),
            StopReason::MaxPackets => "max-packets".into(),
            StopReason::MaxSize => "max-size".into(),
            StopReason::Signal(libc::SIGINT) => "SIGINT".into(),
            StopReason::Signal(libc::SIGTERM) => "SIGTERM".into(),
            StopReason::Signal(s) => format!("signal {s}"),
        }
    }
}

/// An interface the packet programs attach to.
#[derive(Clone, Debug)]
pub(crate) struct Iface {
    pub name: String,
    pub ifindex: u32,
    pub linktype: u16,
}

fn sysfs_net(name: &str, attr: &str) -> Option<String> {
    std::fs::read_to_string(Path::new("/sys/class/net").join(name).join(attr))
        .ok()
        .map(|s| s.trim().to_string())
}

/// The index of interface `name` in this network namespace; `None` when
/// there is no such interface (if_nametoindex returns 0, errno ENODEV) or
/// the name cannot be one (it holds a NUL byte).
fn ifindex_of(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a NUL-terminated string that outlives the call, which
    // only reads it (and copies at most IFNAMSIZ bytes of it).
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// ARPHRD_* of the device → pcapng link type. Devices without a link-layer
/// header (tunnels, WireGuard: ARPHRD_NONE) carry raw IP.
fn linktype_of(name: &str) -> u16 {
    match sysfs_net(name, "type").and_then(|t| t.parse::<u32>().ok()) {
        Some(768 | 769 | 776 | 778 | 823 | 65534) => pcapng::LINKTYPE_RAW,
        _ => pcapng::LINKTYPE_ETHERNET,
    }
}

fn resolve_interfaces(args: &Args) -> Result<Vec<Iface>> {
    let names: Vec<String> = if args.interfaces.is_empty() {
        let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
            .context("listing /sys/class/net")?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n != "lo" && sysfs_net(n, "type").as_deref() != Some("772"))
            .collect();
        v.sort();
        if v.is_empty() {
            bail!("no interface to capture on: this network namespace has only loopback (name one with -i)");
        }
        v
    } else {
        let mut v = Vec::new();
        for n in &args.interfaces {
            if !v.contains(n) {
                v.push(n.clone());
            }
        }
        v
    };
    names
        .into_iter()
        .map(|name| {
            let ifindex = ifindex_of(&name).ok_or_else(|| {
                anyhow!("interface {name:?}: no such interface in this network namespace")
            })?;
            let linktype = linktype_of(&name);
            Ok(Iface {
                name,
                ifindex,
                linktype,
            })
        })
        .collect()
}

/// Effective capabilities from /proc/self/status.
fn cap_eff() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Says what is missing before anything is loaded: privileges, BTF.
fn preflight() -> Result<()> {
    const CAP_NET_ADMIN: u32 = 12;
    const CAP_SYS_ADMIN: u32 = 21;
    const CAP_PERFMON: u32 = 38;
    const CAP_BPF: u32 = 39;
    let caps = cap_eff();
    let has = |c: u32| caps & (1u64 << c) != 0;
    let mut missing = Vec::new();
    if !has(CAP_NET_ADMIN) {
        missing.push("CAP_NET_ADMIN");
    }
    if !(has(CAP_BPF) || has(CAP_SYS_ADMIN)) {
        missing.push("CAP_BPF");
    }
    if !(has(CAP_PERFMON) || has(CAP_SYS_ADMIN)) {
        missing.push("CAP_PERFMON");
    }
    if !missing.is_empty() {
        let euid = rustix::process::geteuid().as_raw();
        bail!(
            "not enough privileges (uid {euid}, missing {}): run retina-capture as root, or grant \
             CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN",
            missing.join(", ")
        );
    }
    if !Path::new("/sys/kernel/btf/vmlinux").exists() {
        bail!(
            "kernel BTF not found (/sys/kernel/btf/vmlinux): the kernel needs CONFIG_DEBUG_INFO_BTF=y \
             for the agent's CO-RE reads"
        );
    }
    raise_memlock_limit()
}

/// Ring buffers and maps count against RLIMIT_MEMLOCK on kernels before
/// 5.11 (later ones charge the memory cgroup instead): raise it to
/// unlimited. A refusal matters only on those kernels.
fn raise_memlock_limit() -> Result<()> {
    use rustix::process::{setrlimit, Resource, Rlimit};
    let unlimited = Rlimit {
        current: None,
        maximum: None,
    };
    let Err(e) = setrlimit(Resource::Memlock, unlimited) else {
        return Ok(());
    };
    let memcg_accounting = aya::util::KernelVersion::current()
        .map(|v| v >= aya::util::KernelVersion::new(5, 11, 0))
        .unwrap_or(false);
    if memcg_accounting {
        return Ok(());
    }
    // The limit may already be high enough (an administrator raised it to
    // a finite value we may not exceed): say so and let loading tell.
    eprintln!(
        "retina-capture: warning: cannot raise RLIMIT_MEMLOCK to unlimited ({}); this \
         kernel (older than 5.11 or of unknown version) counts the ring buffers against it, \
         so loading may fail: run as root, grant CAP_SYS_RESOURCE, or `ulimit -l unlimited`",
        std::io::Error::from(e)
    );
    Ok(())
}

fn field_off(f: &tracefmt::Format, tp: &str, name: &str) -> Result<u32> {
    f.field(name)
        .map(|x| x.offset)
        .ok_or_else(|| anyhow!("tracepoint {tp}: no field {name:?} in its format file"))
}

/// Nanoseconds to add to a CLOCK_MONOTONIC time (the BPF programs'
/// `bpf_ktime_get_ns`) to get a CLOCK_REALTIME one: the tightest of five
/// readings of the real-time clock between two of the monotonic one.
fn realtime_offset_ns() -> Result<i64> {
    use rustix::time::{clock_gettime_dynamic, ClockId, DynamicClockId};
    let now = |clk: ClockId, name: &str| -> Result<i64> {
        let ts = clock_gettime_dynamic(DynamicClockId::Known(clk))
            .map_err(std::io::Error::from)
            .with_context(|| format!("reading {name} (clock_gettime)"))?;
        Ok(ts
            .tv_sec
            .saturating_mul(1_000_000_000)
            .saturating_add(ts.tv_nsec))
    };
    let mut best = (i64::MAX, 0i64);
    for _ in 0..5 {
        let m1 = now(ClockId::Monotonic, "CLOCK_MONOTONIC")?;
        let r = now(ClockId::Realtime, "CLOCK_REALTIME")?;
        let m2 = now(ClockId::Monotonic, "CLOCK_MONOTONIC")?;
        if m2 - m1 < best.0 {
            best = (m2 - m1, r - (m1 + (m2 - m1) / 2));
        }
    }
    Ok(best.1)
}

fn realtime_now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// What the run produced, for the summary and the manifest.
struct Outcome {
    stop: StopReason,
    packets: u64,
    packets_dropped_by_limit: u64,
    drops: u64,
    drops_by_reason: BTreeMap<String, u64>,
    retrans: u64,
    lost_packets: u64,
    lost_drops: u64,
    lost_retrans: u64,
    kernel_packets: u64,
    copy_failures: u64,
    per_iface: BTreeMap<String, (u64, u64)>,
    start_ns: i64,
    end_ns: i64,
    pcapng: Vec<PathBuf>,
    pcapng_bytes: u64,
    tables: Vec<(String, PathBuf, u64)>,
}

/// Reads the tracepoints' field offsets (and the drop reason names, which
/// the exclusions and `drops.parquet` need) from tracefs into `cfg`.
fn tracepoint_config(args: &Args, cfg: &mut Config) -> Result<BTreeMap<u32, String>> {
    let mut reason_names: BTreeMap<u32, String> = BTreeMap::new();
    let (want_drops, want_retrans) = (!args.no_drops, !args.no_retrans);
    if want_drops || want_retrans {
        let tfs = tracefmt::tracefs().map_err(|e| anyhow!(e))?;
        if want_drops {
            let f = tracefmt::read(&tfs, "skb", "kfree_skb").map_err(|e| anyhow!(e))?;
            cfg.kfree_skbaddr_off = field_off(&f, "skb/kfree_skb", "skbaddr")?;
            cfg.kfree_location_off = field_off(&f, "skb/kfree_skb", "location")?;
            cfg.kfree_reason_off = field_off(&f, "skb/kfree_skb", "reason")?;
            reason_names = f.symbols("reason");
            if reason_names.is_empty() {
                bail!("tracepoint skb/kfree_skb: no drop reason names in its format file");
            }
            // The normal path is not a drop (older kernels send it through kfree_skb).
            for (code, name) in &reason_names {
                if name == "CONSUMED" || name == "SKB_CONSUMED" {
                    cfg.skip_reason(*code);
                }
            }
            for want in &args.exclude_reasons {
                let w = want.trim_start_matches("SKB_DROP_REASON_");
                let code = reason_names
                    .iter()
                    .find(|(_, n)| n.eq_ignore_ascii_case(w))
                    .map(|(c, _)| *c)
                    .ok_or_else(|| {
                        anyhow!(
                            "--exclude-reason {want}: this kernel has no such drop reason (known: {})",
                            reason_names.values().cloned().collect::<Vec<_>>().join(", ")
                        )
                    })?;
                cfg.skip_reason(code);
            }
        }
        if want_retrans {
            let f = tracefmt::read(&tfs, "tcp", "tcp_retransmit_skb").map_err(|e| anyhow!(e))?;
            let tp = "tcp/tcp_retransmit_skb";
            cfg.rt_skaddr_off = field_off(&f, tp, "skaddr")?;
            cfg.rt_state_off = field_off(&f, tp, "state")?;
            cfg.rt_sport_off = field_off(&f, tp, "sport")?;
            cfg.rt_dport_off = field_off(&f, tp, "dport")?;
            cfg.rt_family_off = field_off(&f, tp, "family")?;
            cfg.rt_saddr_v6_off = field_off(&f, tp, "saddr_v6")?;
            cfg.rt_daddr_v6_off = field_off(&f, tp, "daddr_v6")?;
            cfg.rt_err_off = f.field("err").map(|x| x.offset).unwrap_or(u32::MAX);
        }
    }
    Ok(reason_names)
}

pub fn run(args: &Args) -> Result<()> {
    preflight()?;
    let ifaces = resolve_interfaces(args)?;

    let want_drops = !args.no_drops;
    let want_retrans = !args.no_retrans;
    let mut cfg = Config::from_args(args);
    let reason_names = tracepoint_config(args, &mut cfg)?;

    // Outputs are created before anything is attached: a bad path fails early.
    let host = bundle::hostname();
    let (out_dir, out_is_temp) = output_dir(args, &host)?;
    let meta_kv = vec![
        (
            "retina.tool".to_string(),
            format!("retina-capture {}", env!("CARGO_PKG_VERSION")),
        ),
        ("retina.host".to_string(), host.clone()),
    ];
    let pcap_ifaces: Vec<pcapng::Interface> = ifaces
        .iter()
        .map(|i| pcapng::Interface {
            name: i.name.clone(),
            linktype: i.linktype,
            snaplen: args.snaplen,
        })
        .collect();
    let mut pcap = PcapngWriter::new(
        &out_dir,
        &args.name,
        args.rotate_size,
        pcap_ifaces,
        args.force,
    )
    .context("creating the packet file")?;
    let mut drops_w = if want_drops {
        Some(TableWriter::<DropTableRow>::create(
            &out_dir, &meta_kv, args.force,
        )?)
    } else {
        None
    };
    let mut retrans_w = if want_retrans {
        Some(TableWriter::<RetransTableRow>::create(
            &out_dir, &meta_kv, args.force,
        )?)
    } else {
        None
    };
    let mut manifest_meta = bundle::save_proc_net(&out_dir, "start");

    // Load everything, then attach.
    let btf = Btf::from_sys_fs().map_err(|e| load_error("reading kernel BTF", e))?;
    let mut objects = programs::load_all(args, &btf, &cfg, &ifaces)?;

    install_signal_handlers()?;
    // Read just before attaching, so that a failure leaves nothing attached.
    let mono_to_real = realtime_offset_ns()?;
    let mut attached = Attached::default();
    if let Err(e) = attached.attach_all(&mut objects, &ifaces) {
        attached.detach_all(&mut objects);
        return Err(e);
    }

    let start_ns = realtime_now_ns();
    let started = Instant::now();
    eprintln!(
        "retina-capture: capturing on {} (ingress+egress); drops: {}; retransmissions: {}; output {}",
        ifaces.iter().map(|i| i.name.as_str()).collect::<Vec<_>>().join(", "),
        if want_drops { "on" } else { "off" },
        if want_retrans { "on" } else { "off" },
        out_dir.display()
    );

    let ksyms = if want_drops {
        Kallsyms::load()
    } else {
        Kallsyms::default()
    };
    let if_ids: HashMap<u32, u32> = ifaces
        .iter()
        .enumerate()
        .map(|(n, i)| (i.ifindex, n as u32))
        .collect();
    let mut st = LoopState {
        args,
        pcap: &mut pcap,
        if_ids: &if_ids,
        mono_to_real,
        packets: 0,
        over_limit: 0,
        per_iface: vec![(0, 0); ifaces.len()],
        stop: None,
        drops_w: drops_w.as_mut(),
        retrans_w: retrans_w.as_mut(),
        drops: 0,
        drops_by_reason: BTreeMap::new(),
        retrans: 0,
        reason_names: &reason_names,
        ksyms: &ksyms,
        err: None,
    };

    let tty = !args.quiet && std::io::stderr().is_terminal();
    let mut last_progress = Instant::now();
    let deadline = args.duration.map(|d| started + Duration::from_secs_f64(d));
    loop {
        if STOP.load(Ordering::SeqCst) {
            st.stop
                .get_or_insert(StopReason::Signal(SIGNAL.load(Ordering::SeqCst)));
        }
        if let Some(d) = deadline {
            if Instant::now() >= d {
                st.stop.get_or_insert(StopReason::Duration);
            }
        }
        if st.stop.is_some() || st.err.is_some() {
            break;
        }
        let timeout = deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
            .unwrap_or(POLL_TIMEOUT)
            .min(POLL_TIMEOUT);
        let timeout = rustix::time::Timespec {
            tv_sec: 0,
            tv_nsec: timeout.subsec_nanos().into(),
        };
        let polled = {
            let mut fds: Vec<PollFd> = objects
                .iter()
                .map(|o| PollFd::new(&o.ring, PollFlags::IN))
                .collect();
            rustix::event::poll(&mut fds, Some(&timeout))
        };
        match polled {
            Ok(_) => {}
            // A signal (SIGINT, SIGTERM: STOP is set) or another one: back
            // to the top of the loop, which drains the rings anyway.
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                st.err = Some(
                    anyhow!(std::io::Error::from(e)).context("waiting for the ring buffers (poll)"),
                );
                break;
            }
        }
        drain_all(&mut objects, &mut st);
        if tty && last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            eprint!(
                "\rretina-capture: {:.0} s, {} packets ({:.1} MB), {} drops, {} retransmissions   ",
                started.elapsed().as_secs_f64(),
                st.packets,
                st.pcap.total_bytes() as f64 / 1e6,
                st.drops,
                st.retrans
            );
        }
    }
    if tty {
        eprintln!();
    }

    // Stop: detach every program first, so nothing new arrives, then drain
    // what the kernel already committed to the ring buffers.
    let detach_errors = attached.detach_all(&mut objects);
    for _ in 0..2 {
        drain_all(&mut objects, &mut st);
        std::thread::sleep(Duration::from_millis(20));
    }
    let end_ns = realtime_now_ns();
    let stop = st.stop.unwrap_or(StopReason::Signal(0));
    let loop_err = st.err.take();
    let (packets, over_limit, per_iface, drops_n, by_reason, retrans_n) = (
        st.packets,
        st.over_limit,
        st.per_iface.clone(),
        st.drops,
        st.drops_by_reason.clone(),
        st.retrans,
    );
    drop(st);

    let pcapng_bytes = pcap.total_bytes();
    let pcapng_files = pcap.finish().context("closing the packet file")?;
    let mut tables = Vec::new();
    if let Some(w) = drops_w {
        let path = w.path().to_path_buf();
        let rows = w.finish()?;
        tables.push(("drops".to_string(), path, rows));
    }
    if let Some(w) = retrans_w {
        let path = w.path().to_path_buf();
        let rows = w.finish()?;
        tables.push(("retrans".to_string(), path, rows));
    }
    let outcome = Outcome {
        stop,
        packets,
        packets_dropped_by_limit: over_limit,
        drops: drops_n,
        drops_by_reason: by_reason,
        retrans: retrans_n,
        lost_packets: programs::stat(&objects, Obj::Packets, abi::STAT_LOST),
        lost_drops: programs::stat(&objects, Obj::Drops, abi::STAT_LOST),
        lost_retrans: programs::stat(&objects, Obj::Retrans, abi::STAT_LOST),
        kernel_packets: programs::stat(&objects, Obj::Packets, abi::STAT_MATCHED),
        copy_failures: programs::stat(&objects, Obj::Packets, abi::STAT_TRUNCATED),
        per_iface: ifaces
            .iter()
            .zip(per_iface)
            .map(|(i, c)| (i.name.clone(), c))
            .collect(),
        start_ns,
        end_ns,
        pcapng: pcapng_files,
        pcapng_bytes,
        tables,
    };
    drop(objects);

    manifest_meta.extend(bundle::save_proc_net(&out_dir, "end"));
    manifest_meta.extend(bundle::save_commands(&out_dir));
    write_manifest(
        &out_dir,
        args,
        &host,
        &ifaces,
        &outcome,
        manifest_meta,
        &detach_errors,
    )?;
    print_summary(&outcome, &detach_errors);

    if let Some(e) = loop_err {
        return Err(e.context(format!(
            "capture stopped early; outputs kept in {}",
            out_dir.display()
        )));
    }
    if let Some(b) = &args.bundle {
        let tables: Vec<PathBuf> = outcome.tables.iter().map(|t| t.1.clone()).collect();
        if let Err(e) = bundle::write_bundle(b, &out_dir, &outcome.pcapng, &tables) {
            bail!("{e}; outputs kept in {}", out_dir.display());
        }
        eprintln!("retina-capture: bundle {}", b.display());
        if out_is_temp {
            let _ = std::fs::remove_dir_all(&out_dir);
        }
    }
    if !detach_errors.is_empty() {
        bail!("detaching: {}", detach_errors.join("; "));
    }
    Ok(())
}

fn output_dir(args: &Args, host: &str) -> Result<(PathBuf, bool)> {
    let (dir, temp) = match (&args.output, &args.bundle) {
        (Some(d), _) => (d.clone(), false),
        (None, Some(_)) => (
            std::env::temp_dir().join(format!(
                "retina-capture-{}-{}",
                std::process::id(),
                realtime_now_ns()
            )),
            true,
        ),
        (None, None) => {
            let (_, compact) = bundle::format_time(realtime_now_ns());
            (
                PathBuf::from(format!("retina-capture-{host}-{compact}UTC")),
                false,
            )
        }
    };
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("--output {}: cannot create", dir.display()))?;
    Ok((dir, temp))
}

struct LoopState<'a> {
    args: &'a Args,
    pcap: &'a mut PcapngWriter,
    if_ids: &'a HashMap<u32, u32>,
    mono_to_real: i64,
    packets: u64,
    over_limit: u64,
    per_iface: Vec<(u64, u64)>,
    stop: Option<StopReason>,
    drops_w: Option<&'a mut TableWriter<DropTableRow<'static>>>,
    retrans_w: Option<&'a mut TableWriter<RetransTableRow<'static>>>,
    drops: u64,
    drops_by_reason: BTreeMap<String, u64>,
    retrans: u64,
    reason_names: &'a BTreeMap<u32, String>,
    ksyms: &'a Kallsyms,
    err: Option<anyhow::Error>,
}

/// Drains every object's ring buffer, in [`programs::OBJECTS`] order.
fn drain_all(objects: &mut [programs::Object], st: &mut LoopState) {
    for o in objects {
        match o.spec.obj {
            Obj::Packets => drain_packets(&mut o.ring, st),
            Obj::Drops | Obj::Retrans => drain_events(&mut o.ring, st),
        }
    }
}

fn drain_packets(ring: &mut RingBuf<MapData>, st: &mut LoopState) {
    while let Some(item) = ring.next() {
        if st.err.is_some() {
            continue;
        }
        let Some(p) = abi::Packet::parse(&item) else {
            continue;
        };
        let Some(&if_id) = st.if_ids.get(&p.ifindex) else {
            continue;
        };
        // Limits: packets past one are consumed and counted, not written.
        if matches!(st.stop, Some(StopReason::MaxPackets | StopReason::MaxSize)) {
            st.over_limit += 1;
            continue;
        }
        if let Some(max) = st.args.max_size {
            let mut need = PcapngWriter::block_len(p.data.len());
            if st.pcap.would_rotate(p.data.len()) {
                need += st.pcap.header_len();
            }
            if st.pcap.total_bytes() + need > max {
                st.stop = Some(StopReason::MaxSize);
                st.over_limit += 1;
                continue;
            }
        }
        let ts = (p.ts_ns as i64 + st.mono_to_real).max(0) as u64;
        let dir = if p.egress {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        if let Err(e) = st.pcap.write_packet(if_id, ts, p.data, p.wire_len, dir) {
            st.err = Some(anyhow!(e).context("writing the packet file"));
            continue;
        }
        st.packets += 1;
        let c = &mut st.per_iface[if_id as usize];
        if p.egress {
            c.1 += 1;
        } else {
            c.0 += 1;
        }
        if let Some(max) = st.args.max_packets {
            if st.packets >= max {
                st.stop.get_or_insert(StopReason::MaxPackets);
            }
        }
    }
}

fn drain_events(ring: &mut RingBuf<MapData>, st: &mut LoopState) {
    while let Some(item) = ring.next() {
        if st.err.is_some() {
            continue;
        }
        let Some(ev) = Event::parse(&item) else {
            continue;
        };
        let r = match ev {
            Event::Drop(d) => {
                let reason = st
                    .reason_names
                    .get(&d.reason)
                    .cloned()
                    .unwrap_or_else(|| format!("REASON_{}", d.reason));
                st.drops += 1;
                *st.drops_by_reason.entry(reason.clone()).or_default() += 1;
                match st.drops_w.as_mut() {
                    Some(w) => w.push(&DropTableRow {
                        time: d.ts_ns as i64 + st.mono_to_real,
                        reason: reason.into(),
                        reason_code: d.reason,
                        location: st.ksyms.resolve(d.location).map(Into::into),
                        ifindex: d.ifindex,
                        ifname: (!d.ifname.is_empty()).then_some(d.ifname.as_str().into()),
                        protocol: d.ip_proto,
                        src_ip: d.src.map(|a| a.to_string().into()),
                        dst_ip: d.dst.map(|a| a.to_string().into()),
                        src_port: d.ports.map(|p| p.0),
                        dst_port: d.ports.map(|p| p.1),
                        len: d.len,
                        l3_proto: d.l3_proto,
                        netns: d.netns,
                    }),
                    None => Ok(()),
                }
            }
            Event::Retrans(r) => {
                st.retrans += 1;
                match st.retrans_w.as_mut() {
                    Some(w) => w.push(&RetransTableRow {
                        time: r.ts_ns as i64 + st.mono_to_real,
                        src_ip: r.src.map(|a| a.to_string()).unwrap_or_default().into(),
                        dst_ip: r.dst.map(|a| a.to_string()).unwrap_or_default().into(),
                        src_port: r.sport,
                        dst_port: r.dport,
                        state: abi::tcp_state_name(r.state).into(),
                        err: r.err.into(),
                        netns: r.netns,
                    }),
                    None => Ok(()),
                }
            }
        };
        if let Err(e) = r {
            st.err = Some(anyhow!(e).context("writing an event table"));
        }
    }
}

fn write_manifest(
    dir: &Path,
    args: &Args,
    host: &str,
    ifaces: &[Iface],
    o: &Outcome,
    metadata: Vec<MetadataFile>,
    detach_errors: &[String],
) -> Result<()> {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let per_iface = |i: &Iface| o.per_iface.get(&i.name).copied().unwrap_or((0, 0));
    let m = Manifest {
        format: manifest::FORMAT.into(),
        format_version: manifest::FORMAT_VERSION,
        tool: "retina-capture".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        host: Some(host.into()),
        node: None,
        kernel: Some(bundle::kernel_release()),
        start: Some(bundle::format_time(o.start_ns).0),
        end: Some(bundle::format_time(o.end_ns).0),
        start_ns: Some(o.start_ns),
        end_ns: Some(o.end_ns),
        stop_reason: Some(o.stop.as_str()),
        command_line: std::env::args().collect(),
        interfaces: ifaces
            .iter()
            .enumerate()
            .map(|(n, i)| manifest::Interface {
                name: i.name.clone(),
                ifindex: i.ifindex,
                pcapng_interface_id: n as u32,
                linktype: i.linktype,
                packets_in: per_iface(i).0,
                packets_out: per_iface(i).1,
            })
            .collect(),
        snaplen: Some(args.snaplen),
        filters: manifest::Filters {
            nets: args
                .nets
                .iter()
                .map(|n| format!("{}/{}", n.addr, n.prefix_len))
                .collect(),
            ports: args.ports.clone(),
            protocols: args.protos.clone(),
            excluded_drop_reasons: args.exclude_reasons.clone(),
        },
        limits: manifest::Limits {
            duration_s: args.duration,
            max_size: args.max_size,
            max_packets: args.max_packets,
            rotate_size: args.rotate_size,
        },
        packet_files: o.pcapng.iter().filter_map(|p| name(p)).collect(),
        packet_bytes: o.pcapng_bytes,
        tables: o
            .tables
            .iter()
            .map(|(t, p, rows)| manifest::TableFile {
                table: t.clone(),
                file: name(p),
                rows: *rows,
            })
            .collect(),
        counts: manifest::Counts {
            packets_written: o.packets,
            packets_matched_in_kernel: o.kernel_packets,
            packets_not_written_after_limit: o.packets_dropped_by_limit,
            drops: o.drops,
            drops_by_reason: o.drops_by_reason.clone(),
            retransmissions: o.retrans,
        },
        lost_events: Some(manifest::LostEvents {
            packets: o.lost_packets,
            packet_copy_failures: o.copy_failures,
            drops: o.lost_drops,
            retransmissions: o.lost_retrans,
        }),
        detach_errors: detach_errors.to_vec(),
        metadata,
    };
    let path = dir.join(manifest::MANIFEST);
    std::fs::write(&path, m.to_json()).with_context(|| format!("writing {}", path.display()))
}

fn print_summary(o: &Outcome, detach_errors: &[String]) {
    let secs = (o.end_ns - o.start_ns) as f64 / 1e9;
    let files: Vec<String> = o
        .pcapng
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    eprintln!(
        "retina-capture: stopped ({}) after {secs:.2} s: {} packets ({:.1} MB) in {}",
        o.stop.as_str(),
        o.packets,
        o.pcapng_bytes as f64 / 1e6,
        files.join(", ")
    );
    for (name, (i, e)) in &o.per_iface {
        eprintln!("  {name}: {i} in, {e} out");
    }
    let reasons: Vec<String> = o
        .drops_by_reason
        .iter()
        .map(|(r, n)| format!("{r} {n}"))
        .collect();
    eprintln!(
        "  drops: {}{}; TCP retransmissions: {}",
        o.drops,
        if reasons.is_empty() {
            String::new()
        } else {
            format!(" ({})", reasons.join(", "))
        },
        o.retrans
    );
    eprintln!(
        "  lost in the kernel (ring buffer full): packets {}, drops {}, retransmissions {}{}",
        o.lost_packets,
        o.lost_drops,
        o.lost_retrans,
        if o.copy_failures > 0 {
            format!("; packet copies failed: {}", o.copy_failures)
        } else {
            String::new()
        }
    );
    if o.packets_dropped_by_limit > 0 {
        eprintln!(
            "  packets past the limit, not written: {}",
            o.packets_dropped_by_limit
        );
    }
    for e in detach_errors {
        eprintln!("  detach failed: {e}");
    }
}
