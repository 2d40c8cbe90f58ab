//! `retina-analyze`: the command-line edge. Flags become one validated
//! [`Config`] before any work starts; analysis and rendering live in the library.

use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, ValueEnum};

use retina_analyzer::analysis::gate;
use retina_analyzer::flow::Timeouts;
use retina_analyzer::pipeline::{
    self, Config, Outcome, ParquetConfig, PointsConfig, Progress, RunError,
};
use retina_analyzer::render::escape::terminal;
use retina_analyzer::render::{json, text};
use retina_analyzer::report::Thresholds;

/// Exit status: analysis complete.
const EXIT_OK: u8 = 0;
/// Exit status: nothing could be analyzed (unreadable inputs, output failure).
const EXIT_ERROR: u8 = 1;
/// Exit status: some input was damaged or unreadable; the report covers the rest.
const EXIT_PARTIAL: u8 = 3;
/// Exit status: a `--fail-on` condition holds.
const EXIT_GATE: u8 = 4;
/// Exit status: interrupted (Ctrl-C); the report covers what was read.
const EXIT_INTERRUPTED: u8 = 130;

const AFTER_HELP: &str = "\
Examples:
  retina-analyze capture.pcap
  retina-analyze node1.pcapng node2.pcap.gz --format json > flows.json
  retina-analyze capture.pcap --k8s cluster.json     # pod names on flows
  hubble observe -o json > flows.json; retina-analyze flows.json
  tcpdump -i any -w - | gzip > cap.pcap.gz; retina-analyze cap.pcap.gz --top 20

Inputs: pcap (µs/ns, either byte order), pcapng (several sections and
interfaces), gzip-compressed either (detected by content). Several files are
merged by timestamp and analyzed as one capture. Hubble flow logs
(`hubble observe -o json` or `-o jsonpb`, Retina's flows included) are
recognized by content and summarized by verdict, drop reason, namespace,
workload, node and DNS; the names they carry also label capture flows.

Exit status:
  0    analysis complete
  1    nothing could be analyzed (no readable input, or output failed)
  2    usage error
  3    some input was damaged or unreadable: the report covers every packet
       before the damage and is marked partial
  4    a --fail-on condition holds (checked first: it wins over 3)
  130  interrupted (Ctrl-C): the report covers what was read";

/// Offline pcap/pcapng analyzer: TCP/UDP/ICMP flows, per direction, from the
/// captures you take during a Kubernetes network incident.
#[derive(Debug, Parser)]
#[command(name = "retina-analyze", version, after_help = after_help())]
struct Cli {
    /// Inputs: capture files (pcap, pcapng) and Hubble flow logs (JSON
    /// lines), optionally gzip-compressed; the kind is told by content.
    #[arg(required = true, value_name = "INPUT")]
    files: Vec<PathBuf>,

    /// Kubernetes objects as written by `kubectl get pods,services,nodes -A
    /// -o json` (repeatable): every flow endpoint gets its pod, service or
    /// node name, namespace and workload.
    #[arg(long, value_name = "FILE")]
    k8s: Vec<PathBuf>,

    /// Output format.
    #[arg(long, short = 'f', value_enum, default_value_t = Format::Text)]
    format: Format,

    /// Write the output to this file instead of standard output: a regular
    /// file is written whole, then renamed into place (symlinks followed); a
    /// device, FIFO or /dev/stdout is written in place.
    #[arg(long, short = 'o', value_name = "FILE")]
    output: Option<PathBuf>,

    /// Number of flows listed in the terminal summary.
    #[arg(long, default_value_t = 10, value_name = "N")]
    top: usize,

    /// When to use colors in the terminal summary.
    #[arg(long, value_enum, default_value_t = ColorWhen::Auto, value_name = "WHEN")]
    color: ColorWhen,

    /// Seconds without packets after which a TCP flow ends.
    #[arg(long, default_value_t = 300.0, value_name = "SECONDS")]
    tcp_idle_timeout: f64,

    /// Seconds without packets after which a UDP (or other non-TCP) flow ends.
    #[arg(long, default_value_t = 60.0, value_name = "SECONDS")]
    udp_idle_timeout: f64,

    /// Flow-table shards (the output does not depend on it).
    #[arg(long, default_value_t = pipeline::DEFAULT_SHARDS, value_name = "N", hide = true)]
    shards: usize,

    /// Worker threads (default: one per core). The output is the same for
    /// any number.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,

    /// Most flows tracked at once. Beyond it the longest-idle flows end
    /// early (end_reason "evicted"), counted in the report and warned
    /// about: memory stays bounded on a scan or a SYN flood.
    #[arg(long, default_value_t = pipeline::DEFAULT_MAX_FLOWS as u64, value_name = "N",
          value_parser = clap::value_parser!(u64).range(1..))]
    max_flows: u64,

    /// Also write report.html, report.md and charts/ (SVG and PNG) into DIR,
    /// for an incident ticket.
    #[arg(long, value_name = "DIR")]
    report: Option<PathBuf>,

    /// Also write flows.parquet, events.parquet and dns.parquet into DIR
    /// (created when missing), for notebooks; schemas in docs/schema.md.
    #[arg(long, value_name = "DIR")]
    parquet: Option<PathBuf>,

    /// With --parquet: also write packets.parquet (one row per packet).
    #[arg(long, requires = "parquet")]
    parquet_packets: bool,

    /// Replace files that already exist in the --report or --parquet directory.
    #[arg(long)]
    force: bool,

    /// Exit with status 4 when METRIC OP NUMBER holds, e.g. 'retrans_rate>0.01'
    /// or 'dns_unanswered>0' (repeatable; metrics are listed below).
    #[arg(long, value_name = "EXPR", value_parser = gate::parse)]
    fail_on: Vec<gate::Condition>,

    /// Retransmission rate on a path above which it is a finding.
    #[arg(long, default_value_t = Thresholds::default().retrans_rate, value_name = "RATE")]
    retrans_threshold: f64,

    /// Median server response time (ms) above which the server is called slow.
    #[arg(long, default_value_t = Thresholds::default().slow_response_ms, value_name = "MS")]
    slow_response_ms: f64,

    /// Connect time (ms, first SYN to the final ACK) above which a connection
    /// is late even without a SYN retry (the slow_connect finding).
    #[arg(long, default_value_t = Thresholds::default().slow_connect_ms, value_name = "MS")]
    slow_connect_ms: f64,

    /// Share of segments the capture may miss before its numbers are flagged.
    #[arg(long, default_value_t = Thresholds::default().capture_loss_rate, value_name = "RATE")]
    capture_loss_threshold: f64,

    /// A DNS query still without a response when the capture ended counts as
    /// unanswered when it is older than this (at most 5 s; a younger one is
    /// pending_at_end). Default: learned per server, ten times its p99
    /// response time, 1 to 5 s.
    #[arg(long, value_name = "SECONDS")]
    dns_timeout: Option<f64>,

    /// Share of NXDOMAIN responses above which it is a finding.
    #[arg(long, default_value_t = Thresholds::default().nxdomain_rate, value_name = "RATE")]
    nxdomain_threshold: f64,

    /// Kernel drops of one reason from which a drop finding is HIGH (policy,
    /// congestion, routing, MTU) or MEDIUM (bad headers).
    #[arg(long, default_value_t = Thresholds::default().kernel_drops_high, value_name = "N")]
    kernel_drops_high: u64,

    /// Flow-log (Hubble) drops of one reason from which a drop finding is
    /// HIGH (policy) or MEDIUM (other reasons).
    #[arg(long, default_value_t = Thresholds::default().flow_log_drops_high, value_name = "N")]
    flow_log_drops_high: u64,

    /// With several capture points: how long after a packet was last seen
    /// it is decided where it was seen and where not (at most; flows whose
    /// points are close shorten it). Longer than the one-way delay plus the
    /// clock offset between any two points; the default covers a packet
    /// the kernel holds while resolving a neighbour.
    #[arg(long, default_value_t = 3.5, value_name = "SECONDS")]
    point_window: f64,

    /// A UDP destination port whose packets are VXLAN (repeat for several).
    /// Default: 4789 (IANA) and 8472 (the Linux kernel's default, used by
    /// Flannel and Cilium). Geneve (6081), IP-in-IP and GRE are always
    /// decoded.
    #[arg(long = "vxlan-port", value_name = "PORT")]
    vxlan_ports: Vec<u16>,

    /// Do not show a progress bar.
    #[arg(long, short = 'q')]
    quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Human summary for a terminal.
    Text,
    /// One JSON document (schema in docs/json-schema.md).
    Json,
    /// JSON lines: one flow object per line, then one line with the rest of
    /// the document (its `flows` empty), for millions of flows piped to jq.
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

fn after_help() -> String {
    let mut s = String::from(AFTER_HELP);
    s.push_str("\n\nMetrics for --fail-on:\n");
    for (name, what) in gate::METRICS {
        s.push_str(&format!("  {name:<22} {what}\n"));
    }
    s
}

fn seconds_to_ns(name: &str, s: f64) -> Result<i64> {
    if !s.is_finite() || s <= 0.0 {
        anyhow::bail!("--{name} must be a positive number of seconds, got {s}");
    }
    Ok((s * 1e9).min(i64::MAX as f64) as i64)
}

fn config(cli: &Cli) -> Result<Config> {
    let defaults = Timeouts::default();
    for (name, v) in [
        ("retrans-threshold", cli.retrans_threshold),
        ("capture-loss-threshold", cli.capture_loss_threshold),
        ("nxdomain-threshold", cli.nxdomain_threshold),
        ("slow-response-ms", cli.slow_response_ms),
        ("slow-connect-ms", cli.slow_connect_ms),
    ] {
        if !v.is_finite() || v < 0.0 {
            anyhow::bail!("--{name} must be a non-negative number, got {v}");
        }
    }
    Ok(Config {
        inputs: cli.files.clone(),
        k8s: cli.k8s.clone(),
        timeouts: Timeouts {
            tcp_idle_ns: seconds_to_ns("tcp-idle-timeout", cli.tcp_idle_timeout)?,
            udp_idle_ns: seconds_to_ns("udp-idle-timeout", cli.udp_idle_timeout)?,
            icmp_idle_ns: seconds_to_ns("udp-idle-timeout", cli.udp_idle_timeout)?,
            closed_linger_ns: defaults.closed_linger_ns,
        },
        shards: cli.shards.max(1),
        threads: cli.threads.map_or(0, usize::from),
        max_flows: usize::try_from(cli.max_flows).unwrap_or(usize::MAX),
        dns_timeout_ns: match cli.dns_timeout {
            Some(s) if s > 5.0 => anyhow::bail!(
                "--dns-timeout must be at most 5 seconds (a query without a response after 5 s \
                 is unanswered anyway: glibc's resolver has tried again by then), got {s}"
            ),
            Some(s) => Some(seconds_to_ns("dns-timeout", s)?),
            None => None,
        },
        thresholds: Thresholds {
            retrans_rate: cli.retrans_threshold,
            slow_response_ms: cli.slow_response_ms,
            slow_connect_ms: cli.slow_connect_ms,
            capture_loss_rate: cli.capture_loss_threshold,
            nxdomain_rate: cli.nxdomain_threshold,
            kernel_drops_high: cli.kernel_drops_high,
            flow_log_drops_high: cli.flow_log_drops_high,
            ..Thresholds::default()
        },
        parquet: cli.parquet.as_ref().map(|dir| ParquetConfig {
            dir: dir.clone(),
            packets: cli.parquet_packets,
            force: cli.force,
        }),
        // The report's time-sequence graphs need a second read of the worst flows.
        traces: if cli.report.is_some() {
            TRACED_FLOWS
        } else {
            0
        },
        points: PointsConfig {
            window_ns: seconds_to_ns("point-window", cli.point_window)?,
        },
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(&cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::from(EXIT_OK);
            }
            // Messages quote file names and what was read from them.
            eprintln!("retina-analyze: error: {}", terminal(&error_chain(&e)));
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// The error and its causes, each said once: a cause whose text the
/// message before it already holds (errors that print their source) is
/// left out, so "(os error 2)" appears once.
fn error_chain(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn real_main(cli: &Cli) -> Result<u8> {
    let config = config(cli)?;
    if !cli.vxlan_ports.is_empty() {
        retina_analyzer::decode::set_vxlan_ports(cli.vxlan_ports.clone());
    }
    match cli.color {
        ColorWhen::Auto => {}
        ColorWhen::Always => anstream::ColorChoice::Always.write_global(),
        ColorWhen::Never => anstream::ColorChoice::Never.write_global(),
    }
    // A report directory that cannot take the report fails now, not after
    // the analysis (--parquet is checked the same way by the pipeline).
    if let Some(dir) = &cli.report {
        retina_analyzer::render::report::check_writable(dir, cli.force)
            .with_context(|| format!("--report {}", dir.display()))?;
    }
    let progress = Progress::default();
    {
        let stop = progress.stop.clone();
        // Ctrl-C, SIGTERM or SIGHUP: stop reading and report what was read.
        // A second one while the report is written exits at once, removing
        // the temporary files of outputs not completed (the files the user
        // named are then untouched or complete).
        let _ = ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::SeqCst) {
                retina_outfile::remove_pending();
                std::process::exit(i32::from(EXIT_INTERRUPTED));
            }
        });
    }
    let bar = progress_bar(cli, &progress);
    let result = pipeline::run(&config, &progress);
    if let Some((bar, handle)) = bar {
        bar.finish_and_clear();
        let _ = handle.join();
    }
    let mut outcome = match result {
        Ok(o) => o,
        Err(RunError::NothingRead { messages }) => {
            // The inputs' own errors were the reason; say them first.
            for m in &messages {
                eprintln!("retina-analyze: {}", terminal(m));
            }
            anyhow::bail!("no input could be read");
        }
        Err(e) => return Err(e.into()),
    };
    for m in &outcome.messages {
        eprintln!("retina-analyze: {}", terminal(m));
    }
    let mut phases = pipeline::Phases::from_env();
    write_output(cli, &mut outcome)?;
    phases.done("output");
    if let Some(t) = &outcome.tables {
        let written = t
            .as_ref()
            .map_err(|e| anyhow::anyhow!("{e}"))
            .context("writing the --parquet tables")?;
        if !cli.quiet {
            let names: Vec<String> = written
                .tables
                .iter()
                .map(|(p, rows)| format!("{} ({rows} rows)", p.display()))
                .collect();
            eprintln!("retina-analyze: tables written: {}", names.join(", "));
        }
    }
    if let Some(dir) = &cli.report {
        let written = retina_analyzer::render::report::write(
            &outcome.report,
            &outcome.traces,
            dir,
            cli.force,
        )
        .with_context(|| format!("writing the report into {}", dir.display()))?;
        if !cli.quiet {
            eprintln!(
                "retina-analyze: report written: {} and {} ({} chart files)",
                written.html.display(),
                written.markdown.display(),
                written.charts.len()
            );
        }
    }
    let mut failed = false;
    for g in &cli.fail_on {
        if g.holds(&outcome.report.metrics) {
            failed = true;
            eprintln!(
                "retina-analyze: --fail-on {g}: holds ({} = {})",
                g.metric,
                g.value(&outcome.report.metrics)
            );
        }
    }
    Ok(if failed {
        EXIT_GATE
    } else if outcome.interrupted {
        EXIT_INTERRUPTED
    } else if outcome.partial {
        EXIT_PARTIAL
    } else {
        EXIT_OK
    })
}

fn write_output(cli: &Cli, outcome: &mut Outcome) -> Result<()> {
    let pool = match cli.format {
        Format::Text => None,
        _ => pipeline::worker_pool(cli.threads.map_or(0, usize::from)),
    };
    let report = &mut outcome.report;
    let mut render = |out: &mut dyn Write| -> io::Result<()> {
        match cli.format {
            Format::Json => json::write_parallel(report, out, pool.as_ref(), json::FLOWS_PER_STEP),
            Format::Jsonl => json::write_lines(report, out, pool.as_ref()),
            Format::Text => text::write(report, text::TextOptions { top: cli.top }, out),
        }
    };
    match &cli.output {
        Some(path) => {
            // A regular file is written beside its target and renamed, so a
            // failed run never leaves a half-written file that looks
            // complete; a device, FIFO or inherited descriptor is written in
            // place (never renamed over).
            // Streamed: the report is never held in memory as text.
            let mut out = retina_outfile::OutFile::create(path)?;
            {
                let written = match cli.format {
                    // JSON has no terminal styles to strip.
                    Format::Json | Format::Jsonl => {
                        let mut w = io::BufWriter::with_capacity(1 << 20, &mut out);
                        render(&mut w).and_then(|()| w.flush())
                    }
                    _ => {
                        let mut w = io::BufWriter::with_capacity(
                            1 << 20,
                            Plain {
                                out: &mut out,
                                strip: anstream::adapter::StripBytes::new(),
                            },
                        );
                        render(&mut w).and_then(|()| w.flush())
                    }
                };
                written.with_context(|| format!("writing {}", path.display()))?;
            }
            out.commit()?;
        }
        None if matches!(cli.format, Format::Json | Format::Jsonl) => {
            // No terminal styles to filter: straight to the descriptor.
            let mut lock = io::BufWriter::with_capacity(1 << 20, io::stdout().lock());
            render(&mut lock).context("writing to standard output")?;
            lock.flush().context("writing to standard output")?;
        }
        None => {
            let stdout = anstream::stdout();
            let mut lock = io::BufWriter::new(stdout.lock());
            render(&mut lock).context("writing to standard output")?;
            lock.flush().context("writing to standard output")?;
        }
    }
    Ok(())
}

/// Writes what it is given without terminal styles (escape sequences may
/// span writes).
struct Plain<W: Write> {
    out: W,
    strip: anstream::adapter::StripBytes,
}

impl<W: Write> Write for Plain<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        for part in self.strip.strip_next(buf) {
            self.out.write_all(part)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Flows whose time-sequence graphs the report shows.
const TRACED_FLOWS: usize = 3;

type Bar = (indicatif::ProgressBar, std::thread::JoinHandle<()>);

/// A progress bar on stderr for long runs, only when stderr is a terminal.
fn progress_bar(cli: &Cli, progress: &Progress) -> Option<Bar> {
    if cli.quiet || !io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = cli
        .files
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr_with_hz(4),
    );
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {percent:>3}% read {bytes}/{total_bytes} {wide_bar} {msg} ({eta})",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let b = bar.clone();
    let p = progress.clone();
    let handle = std::thread::spawn(move || {
        // Start drawing only if the run lasts: short runs stay quiet.
        std::thread::sleep(Duration::from_millis(500));
        let mut last = (std::time::Instant::now(), p.packets.load(Ordering::Relaxed));
        let mut rate = 0.0f64;
        while !b.is_finished() {
            let now = std::time::Instant::now();
            let packets = p.packets.load(Ordering::Relaxed);
            let dt = (now - last.0).as_secs_f64();
            if dt >= 1.0 {
                // Packets per second over the last second or so.
                rate = packets.saturating_sub(last.1) as f64 / dt;
                last = (now, packets);
            }
            b.set_position(p.bytes_read.load(Ordering::Relaxed));
            b.set_message(if rate >= 1.0 {
                format!(
                    "{} packets, {}/s",
                    text::thousands(packets),
                    text::thousands(rate as u64)
                )
            } else {
                format!("{} packets", text::thousands(packets))
            });
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    Some((bar, handle))
}
