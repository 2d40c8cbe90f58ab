//! `--report DIR`: report.html, report.md and charts for incident tickets.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{bin, first_tool, require, testdata};

fn report(files: &[&Path], dir: &Path, extra: &[&str]) -> std::process::Output {
    bin()
        .args(files)
        .args(["--quiet", "--format", "json", "--report"])
        .arg(dir)
        .args(extra)
        .output()
        .unwrap()
}

/// Every external reference a page could make a browser fetch.
fn external_refs(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for needle in [
        "http://", "https://", "//cdn", "<link", "src=", "@import", "url(",
    ] {
        let mut from = 0;
        while let Some(i) = html[from..].find(needle) {
            let at = from + i;
            let ctx: String = html[at..].chars().take(60).collect();
            // SVG namespace declarations are names, not requests.
            if !ctx.starts_with("http://www.w3.org/") {
                found.push(ctx);
            }
            from = at + needle.len();
        }
    }
    found
}

#[test]
fn reports_for_the_project_captures() {
    for name in [
        "tcp-udp-ipv4.pcap",
        "groundtruth/loss.pcap",
        "groundtruth/dns.pcap",
        "vxlan.pcap",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = report(&[&testdata(name)], dir.path(), &[]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
        assert!(
            md.len() < 64 * 1024,
            "{name}: report.md is {} bytes",
            md.len()
        );
        assert!(md.starts_with("# Network analysis"));
        assert!(
            external_refs(&html).is_empty(),
            "{name}: {:?}",
            external_refs(&html)
        );
        assert!(html.contains("Content-Security-Policy"));
        let charts: Vec<PathBuf> = std::fs::read_dir(dir.path().join("charts"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        for stem in ["throughput", "rtt", "rtt-cdf", "events"] {
            assert!(
                html.contains(&format!("id=\"chart-{stem}\"")),
                "{name}: chart {stem} inline"
            );
            for ext in ["svg", "png"] {
                let p = dir.path().join("charts").join(format!("{stem}.{ext}"));
                assert!(p.exists(), "{name}: {}", p.display());
                assert!(
                    md.contains(&format!("charts/{stem}.{ext}")),
                    "{name}: md links {stem}.{ext}"
                );
            }
        }
        let png = std::fs::read(dir.path().join("charts/throughput.png")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert!(
            charts
                .iter()
                .any(|p| p.to_string_lossy().contains("-sequence.svg")),
            "{name}: a time-sequence graph"
        );
        // Nothing half-written is left behind.
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.contains(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn findings_and_dns_reach_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let out = report(&[&testdata("groundtruth/dns.pcap")], dir.path(), &[]);
    assert!(out.status.success());
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    for text in ["unanswered", "SERVFAIL", "fast.test"] {
        assert!(md.contains(text), "md lacks {text}:\n{md}");
    }
    assert!(
        html.contains("fast.test") && html.contains("dns-latency") && html.contains("dns-rcodes")
    );
}

/// A pcap holding one DNS query whose name carries markup.
fn hostile_dns_capture(path: &Path) {
    let mut dns = vec![0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in [
        &b"<script>alert(1)</script>"[..],
        b"<img src=x onerror=alert(2)>",
        b"evil",
    ] {
        dns.push(label.len() as u8);
        dns.extend_from_slice(label);
    }
    dns.extend_from_slice(&[0, 0, 1, 0, 1]);
    let udp_len = 8 + dns.len();
    let ip_len = 20 + udp_len;
    let mut frame = vec![0u8; 12];
    frame.extend_from_slice(&[0x08, 0x00]);
    frame.extend_from_slice(&[
        0x45,
        0,
        (ip_len >> 8) as u8,
        ip_len as u8,
        0,
        1,
        0,
        0,
        64,
        17,
        0,
        0,
        10,
        0,
        0,
        1,
        10,
        0,
        0,
        53,
    ]);
    frame.extend_from_slice(&[0x9c, 0x40, 0, 53, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
    frame.extend_from_slice(&dns);
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&[
        0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0, 0,
    ])
    .unwrap();
    let n = frame.len() as u32;
    for v in [1_700_000_000u32, 0, n, n] {
        f.write_all(&v.to_le_bytes()).unwrap();
    }
    f.write_all(&frame).unwrap();
}

#[test]
fn names_from_the_capture_cannot_inject_markup() {
    let dir = tempfile::tempdir().unwrap();
    let cap = dir.path().join("hostile.pcap");
    hostile_dns_capture(&cap);
    let out_dir = dir.path().join("out");
    let out = report(&[&cap], &out_dir, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let name = json["dns"]["top_names"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(name.contains("script") && !name.contains('<'), "{name}");
    for file in ["report.html", "report.md"] {
        let text = std::fs::read_to_string(out_dir.join(file)).unwrap();
        for bad in ["<script>alert", "<img", "onerror=alert"] {
            assert!(!text.contains(bad), "{file} contains {bad}");
        }
    }
    let text = Command::new(env!("CARGO_BIN_EXE_retina-analyze"))
        .arg(&cap)
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&text.stdout).contains("<script"));
}

#[test]
fn existing_reports_are_not_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let cap = testdata("nanosecond.pcap");
    assert!(report(&[&cap], dir.path(), &[]).status.success());
    let again = report(&[&cap], dir.path(), &[]);
    assert_eq!(again.status.code(), Some(1));
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("report.html") && err.contains("already exists"),
        "{err}"
    );
    assert!(report(&[&cap], dir.path(), &["--force"]).status.success());
    let bad = report(&[&cap], Path::new("/proc/no-such-dir/report"), &[]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/proc/no-such-dir"));
}

/// Opens report.html in headless Chromium: it must load with no console
/// error and no request (the page's CSP turns any request into a logged
/// violation), and the screenshot is kept for a look.
#[test]
fn report_opens_in_headless_chromium_without_errors_or_requests() {
    let browser = first_tool(&["chromium", "chromium-browser", "google-chrome"]);
    if !require(browser.clone().map(drop)) {
        return;
    }
    let browser = browser.expect("checked by require");
    let dir = tempfile::tempdir().unwrap();
    let out = report(
        &[
            &testdata("groundtruth/loss.pcap"),
            &testdata("groundtruth/dns.pcap"),
        ],
        dir.path(),
        &[],
    );
    assert!(out.status.success());
    let page = dir.path().join("report.html");
    let shot = dir.path().join("report.png");
    let profile = tempfile::tempdir().unwrap();
    let run = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1200,4000",
            "--virtual-time-budget=3000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", shot.display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&run.stderr);
    let problems: Vec<&str> = log
        .lines()
        .filter(|l| {
            (l.contains("CONSOLE") && (l.contains("rror") || l.contains("Refused")))
                || l.contains("Content Security Policy")
                || l.contains("Refused to")
        })
        .collect();
    assert!(
        problems.is_empty(),
        "console errors or blocked requests:\n{}",
        problems.join("\n")
    );
    assert!(shot.exists(), "no screenshot: {log}");
    // Every chart written to charts/ is in the rendered page.
    let dom = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&dom.stdout);
    let svgs = std::fs::read_dir(dir.path().join("charts"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "svg")
        })
        .count();
    assert!(svgs >= 6, "{svgs} charts");
    assert_eq!(
        dom.matches("<svg").count(),
        svgs,
        "every chart is in the page"
    );
    assert!(dom.contains("Findings") && dom.contains("class=\"sortable\""));
    let keep = std::env::temp_dir().join("retina-report-screenshot.png");
    let _ = std::fs::copy(&shot, &keep);
    eprintln!("screenshot: {}", keep.display());
}

/// report.md of a saved ground-truth capture, byte for byte (paths relative,
/// so the snapshot holds on any checkout).
#[test]
fn report_markdown_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .current_dir(common::repo_root())
        .args([
            "testdata/groundtruth/states.pcap",
            "testdata/groundtruth/dns.pcap",
            "--quiet",
            "--report",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    // With polars the report adds the top-talker and subnet tables.
    #[cfg(feature = "polars")]
    insta::assert_snapshot!("report_md_states_dns", md);
    #[cfg(not(feature = "polars"))]
    insta::assert_snapshot!("report_md_states_dns_no_polars", md);
}
