use super::*;
use std::time::Instant;

/// The CDF the analysis would give for these values.
fn cdf_of(values: impl Iterator<Item = f64>) -> Vec<(f64, f64)> {
    let mut h = crate::report::LogHistogram::default();
    for v in values {
        h.add(v);
    }
    h.cdf()
}

fn samples() -> Vec<(&'static str, Chart)> {
    let t: Vec<f64> = (0..300).map(|i| i as f64 * 0.1).collect();
    let lines = Chart::Lines {
        title: "Throughput per direction".into(),
        x_label: "time since capture start (s)".into(),
        y_label: "throughput (Mbit/s)".into(),
        series: vec![
            Series::new(
                "client → server",
                t.iter()
                    .map(|&x| (x, 40.0 + 30.0 * (x / 3.0).sin()))
                    .collect(),
            ),
            Series::new(
                "server → client",
                t.iter()
                    .map(|&x| (x, 5.0 + 2.0 * (x / 2.0).cos()))
                    .collect(),
            ),
        ],
    };
    let bars = Chart::Bars {
        title: "Packets per second".into(),
        x_label: "time since capture start (s)".into(),
        y_label: "packets per 1 s bin".into(),
        bin_width: 1.0,
        series: vec![
            Series::new(
                "TCP",
                (0..30)
                    .map(|i| (i as f64, 100.0 + (i * 37 % 50) as f64))
                    .collect(),
            ),
            Series::new(
                "UDP",
                (0..30)
                    .map(|i| (i as f64, 20.0 + (i * 13 % 30) as f64))
                    .collect(),
            ),
            Series::new(
                "ICMP",
                (0..30)
                    .map(|i| (i as f64, if i % 7 == 0 { 15.0 } else { 0.0 }))
                    .collect(),
            ),
        ],
    };
    let rtts: Vec<(f64, f64)> = (1..2000)
        .map(|i| {
            (
                0.05 * (1.0 + (i as f64 * 0.37).sin().abs() * 10f64.powf((i % 50) as f64 / 15.0)),
                0.0,
            )
        })
        .collect();
    let cdf = Chart::Cdf {
        title: "Handshake RTT".into(),
        x_label: "RTT (ms)".into(),
        series: vec![
            Series::new("SYN → SYN-ACK", cdf_of(rtts.iter().map(|p| p.0))),
            Series::new("SYN-ACK → ACK", cdf_of(rtts.iter().map(|p| p.0 * 3.0))),
        ],
    };
    let hist = Chart::Histogram {
        title: "DNS response time".into(),
        x_label: "response time (ms)".into(),
        edges: vec![
            0.0,
            1.0,
            2.0,
            5.0,
            10.0,
            20.0,
            50.0,
            100.0,
            200.0,
            500.0,
            1000.0,
            f64::INFINITY,
        ],
        counts: vec![12, 140, 380, 220, 90, 40, 8, 3, 1, 0, 2],
    };
    let cats = Chart::Categories {
        title: "DNS response codes".into(),
        x_label: "responses (count)".into(),
        items: vec![
            ("NOERROR".into(), 1523.0),
            ("NXDOMAIN".into(), 312.0),
            ("SERVFAIL".into(), 41.0),
            ("REFUSED".into(), 3.0),
            ("timeout (no response)".into(), 57.0),
        ],
    };
    let mut data = vec![];
    let mut rtx = vec![];
    let mut acks = vec![];
    let mut win = vec![];
    let mut seq: f64 = 0.0;
    for i in 0..400 {
        let t = i as f64 * 0.005 + if i > 200 { 0.3 } else { 0.0 };
        data.push((t, seq, 1448.0));
        if i == 200 {
            rtx.push((t + 0.3, seq, 1448.0));
        }
        seq += 1448.0;
        let ack: f64 = if (150..=200).contains(&i) {
            150.0 * 1448.0
        } else {
            seq - 10.0 * 1448.0
        };
        acks.push((t + 0.02, ack.max(0.0)));
        win.push((t + 0.02, ack.max(0.0) + 65535.0 * 2.0));
    }
    let ts = Chart::TimeSequence {
        title: "TCP 10.0.0.1:443 → 10.0.0.2:51234".into(),
        data,
        retransmitted: rtx,
        acks,
        window: win,
    };
    vec![
        ("lines", lines),
        ("bars", bars),
        ("cdf", cdf),
        ("histogram", hist),
        ("categories", cats),
        ("timeseq", ts),
    ]
}

fn empties() -> Vec<Chart> {
    vec![
        Chart::Lines {
            title: "t".into(),
            x_label: "x (s)".into(),
            y_label: "y".into(),
            series: vec![],
        },
        Chart::Lines {
            title: "t".into(),
            x_label: "x (s)".into(),
            y_label: "y".into(),
            series: vec![
                Series::new("a", vec![(f64::NAN, 1.0), (1.0, f64::INFINITY)]),
                Series::new("b", vec![]),
            ],
        },
        Chart::Bars {
            title: "t".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            bin_width: f64::NAN,
            series: vec![],
        },
        Chart::Cdf {
            title: "t".into(),
            x_label: "x".into(),
            series: vec![Series::new("a", vec![])],
        },
        Chart::Histogram {
            title: "t".into(),
            x_label: "x".into(),
            edges: vec![],
            counts: vec![],
        },
        Chart::Histogram {
            title: "t".into(),
            x_label: "x".into(),
            edges: vec![1.0],
            counts: vec![5],
        },
        Chart::Categories {
            title: "t".into(),
            x_label: "x".into(),
            items: vec![],
        },
        Chart::TimeSequence {
            title: "t".into(),
            data: vec![],
            retransmitted: vec![],
            acks: vec![],
            window: vec![],
        },
    ]
}

fn check_svg(s: &str) {
    assert!(s.starts_with("<svg"), "{}", &s[..s.len().min(100)]);
    assert!(s.trim_end().ends_with("</svg>"));
    assert_eq!(s.matches("http").count(), 1, "only the xmlns may be a URL");
    assert!(s.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(!s.contains("<image"));
}

fn check_png(p: &[u8]) {
    assert!(p.starts_with(b"\x89PNG\r\n\x1a\n"));
    let dec = ::png::Decoder::new(std::io::Cursor::new(p));
    let reader = dec.read_info().expect("decodes");
    assert_eq!((reader.info().width, reader.info().height), (WIDTH, HEIGHT));
}

#[test]
fn charts_every_kind_renders_svg_and_png() {
    let dir = std::path::Path::new("/tmp/charts");
    let _ = std::fs::create_dir_all(dir);
    for (name, c) in samples() {
        let s = svg(&c).unwrap();
        check_svg(&s);
        let p = png(&c).unwrap();
        check_png(&p);
        let _ = std::fs::write(dir.join(format!("{name}.png")), &p);
        let _ = std::fs::write(dir.join(format!("{name}.svg")), &s);
    }
}

#[test]
fn charts_empty_inputs_say_no_data() {
    for c in empties() {
        let s = svg(&c).unwrap();
        check_svg(&s);
        assert!(s.contains("no data"), "{c:?}");
        check_png(&png(&c).unwrap());
    }
    let _ = std::fs::write("/tmp/charts/empty.png", png(&empties()[0]).unwrap());
}

#[test]
fn charts_hostile_strings_are_escaped() {
    let evil = "<script>alert(1)</script>&\"'\u{202E}\u{0}\u{7}x";
    let s1 = vec![
        Series::new(evil, vec![(0.0, 1.0), (1.0, 2.0)]),
        Series::new(evil, vec![(0.0, 2.0)]),
    ];
    let charts = vec![
        Chart::Lines {
            title: evil.into(),
            x_label: evil.into(),
            y_label: evil.into(),
            series: s1.clone(),
        },
        Chart::Bars {
            title: evil.into(),
            x_label: evil.into(),
            y_label: evil.into(),
            bin_width: 1.0,
            series: s1.clone(),
        },
        Chart::Cdf {
            title: evil.into(),
            x_label: evil.into(),
            series: s1.clone(),
        },
        Chart::Histogram {
            title: evil.into(),
            x_label: evil.into(),
            edges: vec![0.0, 1.0],
            counts: vec![3],
        },
        Chart::Categories {
            title: evil.into(),
            x_label: evil.into(),
            items: vec![(evil.into(), 3.0), ("ok".into(), 1.0)],
        },
        Chart::TimeSequence {
            title: evil.into(),
            data: vec![(0.0, 0.0, 10.0)],
            retransmitted: vec![],
            acks: vec![],
            window: vec![],
        },
    ];
    for c in charts {
        let s = svg(&c).unwrap();
        check_svg(&s);
        assert!(!s.to_ascii_lowercase().contains("<script"), "{s}");
        assert!(s.contains("&lt;script&gt;"));
        assert!(s.contains("&amp;&quot;&apos;"));
        assert!(!s.contains('\u{202E}') && !s.contains('\u{0}') && !s.contains('\u{7}'));
        check_png(&png(&c).unwrap());
    }
}

#[test]
fn charts_large_inputs_are_fast_and_small() {
    let n = 100_000;
    let big: Vec<(f64, f64)> = (0..n)
        .map(|i| (i as f64 * 0.001, ((i * 7919) % 1000) as f64))
        .collect();
    let segs: Vec<(f64, f64, f64)> = (0..n)
        .map(|i| (i as f64 * 0.001, i as f64 * 1448.0, 1448.0))
        .collect();
    let acks: Vec<(f64, f64)> = (0..n)
        .map(|i| (i as f64 * 0.001 + 0.01, i as f64 * 1448.0))
        .collect();
    let charts = vec![
        Chart::Lines {
            title: "big".into(),
            x_label: "t (s)".into(),
            y_label: "v".into(),
            series: vec![Series::new("a", big.clone()), Series::new("b", big.clone())],
        },
        Chart::Bars {
            title: "big".into(),
            x_label: "t (s)".into(),
            y_label: "v".into(),
            bin_width: 0.001,
            series: vec![Series::new("a", big.clone())],
        },
        Chart::Cdf {
            title: "big".into(),
            x_label: "v".into(),
            // A CDF given point by point, as long as the big series.
            series: vec![Series::new(
                "a",
                (0..n)
                    .map(|i| (i as f64 * 0.001, i as f64 / n as f64))
                    .collect(),
            )],
        },
        Chart::Histogram {
            title: "big".into(),
            x_label: "v".into(),
            edges: (0..=n).map(|i| i as f64).collect(),
            counts: (0..n as u64).map(|i| i % 100).collect(),
        },
        Chart::Categories {
            title: "big".into(),
            x_label: "v".into(),
            items: (0..n).map(|i| (format!("c{i}"), i as f64)).collect(),
        },
        Chart::TimeSequence {
            title: "big".into(),
            data: segs.clone(),
            retransmitted: segs[..5000].to_vec(),
            acks: acks.clone(),
            window: acks,
        },
    ];
    for c in charts {
        let t = Instant::now();
        let s = svg(&c).unwrap();
        let ts = t.elapsed();
        let t = Instant::now();
        let p = png(&c).unwrap();
        let tp = t.elapsed();
        check_png(&p);
        if let Chart::TimeSequence { .. } = c {
            let _ = std::fs::create_dir_all("/tmp/charts");
            let _ = std::fs::write("/tmp/charts/timeseq_100k.png", &p);
        }
        assert!(s.len() < 2_000_000, "svg too big: {} bytes", s.len());
        eprintln!(
            "{:?}: svg {} bytes in {:?}, png in {:?}",
            std::mem::discriminant(&c),
            s.len(),
            ts,
            tp
        );
        // Generous bound for slow debug builds on a busy 2-core machine.
        assert!(
            ts.as_secs_f64() < 2.0 && tp.as_secs_f64() < 2.0,
            "svg {ts:?} png {tp:?}"
        );
    }
}

#[test]
fn charts_number_format() {
    assert_eq!(fmt_num(0.0), "0");
    assert_eq!(fmt_num(1.5), "1.5");
    assert_eq!(fmt_num(0.05), "0.05");
    assert_eq!(fmt_num(1234.0), "1234");
    assert_eq!(fmt_num(12_500.0), "12.5k");
    assert_eq!(fmt_num(1_050_000.0), "1.05M");
    assert_eq!(fmt_num(-2e9), "-2G");
    assert_eq!(fmt_num(f64::INFINITY), "+∞");
}
