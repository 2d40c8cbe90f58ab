//! No input makes the analyzer panic: random frames through the decoder,
//! and damaged copies of real captures (bytes flipped, cut short) through
//! the whole pipeline, which must still report the packets before the damage.

mod common;

use std::path::PathBuf;

use proptest::prelude::*;
use retina_analyzer::decode::decode;
use retina_analyzer::flow::{FlowTable, Timeouts};
use retina_analyzer::pipeline::{run, Config, Progress, RunError};

/// Link types the decoder knows, and one it does not.
const LINKTYPES: &[u16] = &[0, 1, 12, 101, 108, 113, 228, 229, 239, 276, 147];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes under any link type decode or are skipped, and the
    /// packets that decode go through a flow table without panicking.
    #[test]
    fn random_frames_never_panic(
        lt in proptest::sample::select(LINKTYPES),
        frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..20),
    ) {
        let mut table = FlowTable::new(Timeouts::default());
        for (i, f) in frames.iter().enumerate() {
            if let Ok(p) = decode(lt, f, f.len() as u32 + 7, i as i64 * 1000, 0, 0) {
                table.process(&p);
            }
        }
        let _ = table.finish(1_000_000);
    }


    /// IPv6 with chains of extension headers (hop-by-hop, routing,
    /// fragment, AH, destination options) of random lengths: the path where
    /// a dependency once read past its slice.
    #[test]
    fn random_ipv6_extension_chains_never_panic(
        next in proptest::sample::select(&[0u8, 43, 44, 51, 60, 6, 17, 58][..]),
        plen in any::<u16>(),
        rest in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut f = vec![0x60, 0, 0, 0];
        f.extend_from_slice(&plen.to_be_bytes());
        f.extend_from_slice(&[next, 64]);
        f.extend_from_slice(&[0xfd; 32]);
        f.extend_from_slice(&rest);
        let _ = decode(101, &f, f.len() as u32, 0, 0, 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Valid IPv4/TCP headers with random flags, numbers and options stress
    /// the TCP analysis rather than the header checks.
    #[test]
    fn random_tcp_segments_never_panic(
        segs in proptest::collection::vec((any::<u32>(), any::<u32>(), 0u16..0x200, any::<u16>(), proptest::collection::vec(any::<u8>(), 0..40), any::<bool>(), 0u16..1500), 1..60),
    ) {
        let mut table = FlowTable::new(Timeouts::default());
        for (i, (seq, ack, flags, win, opts, reverse, len)) in segs.into_iter().enumerate() {
            let opts_len = opts.len() / 4 * 4;
            let hdr = 20 + opts_len;
            let total = 20 + hdr + usize::from(len);
            let mut f = vec![0x45, 0, (total >> 8) as u8, total as u8, 0, 1, 0, 0, 64, 6, 0, 0];
            let (a, b) = if reverse { ([10, 0, 0, 2], [10, 0, 0, 1]) } else { ([10, 0, 0, 1], [10, 0, 0, 2]) };
            f.extend_from_slice(&a);
            f.extend_from_slice(&b);
            let (sp, dp): (u16, u16) = if reverse { (80, 40000) } else { (40000, 80) };
            f.extend_from_slice(&sp.to_be_bytes());
            f.extend_from_slice(&dp.to_be_bytes());
            f.extend_from_slice(&seq.to_be_bytes());
            f.extend_from_slice(&ack.to_be_bytes());
            f.extend_from_slice(&(((hdr as u16 / 4) << 12) | flags).to_be_bytes());
            f.extend_from_slice(&win.to_be_bytes());
            f.extend_from_slice(&[0, 0, 0, 0]);
            f.extend_from_slice(&opts[..opts_len]);
            if let Ok(p) = decode(101, &f, total as u32, i as i64 * 50_000, 0, 0) {
                table.process(&p);
            }
        }
        let _ = table.finish(i64::MAX / 2);
    }
}

fn damaged_copy(src: &str, seed: u64, dir: &std::path::Path) -> PathBuf {
    let mut data = std::fs::read(common::testdata(src)).unwrap();
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // Flip a handful of bytes anywhere after the file header, then maybe cut.
    for _ in 0..(1 + next() % 8) {
        let at = 24 + (next() as usize) % (data.len() - 24);
        data[at] ^= (next() % 255 + 1) as u8;
    }
    if next() % 2 == 0 {
        let keep = 24 + (next() as usize) % (data.len() - 24);
        data.truncate(keep);
    }
    let out = dir.join(format!("damaged-{seed}.pcap"));
    std::fs::write(&out, data).unwrap();
    out
}

#[test]
fn damaged_captures_never_panic_and_keep_what_came_before() {
    let dir = tempfile::tempdir().unwrap();
    let sources = [
        "tcp-udp-ipv4.pcap",
        "ipv6.pcapng",
        "vxlan.pcap",
        "any-sll2.pcap",
        "edge/multi-if.pcapng",
    ];
    for seed in 0..150u64 {
        let src = sources[(seed as usize) % sources.len()];
        let file = damaged_copy(src, seed, dir.path());
        let config = Config {
            shards: 1 + (seed as usize % 3),
            ..Config::new(vec![file.clone()])
        };
        let result = std::panic::catch_unwind(|| run(&config, &Progress::default()))
            .unwrap_or_else(|_| panic!("panic on {} (seed {seed})", file.display()));
        let outcome = match result {
            Ok(o) => o,
            // Damage in the file header: nothing to analyze, said as such.
            Err(RunError::NothingRead { .. }) => continue,
            Err(e) => panic!("{src} seed {seed}: {e}"),
        };
        let c = &outcome.report.capture;
        // Whatever happened, the report is consistent: every flow packet was read.
        let flow_packets: u64 = outcome
            .report
            .flows
            .iter()
            .map(|f| f.packets.client + f.packets.server)
            .sum();
        assert!(flow_packets <= c.packets, "{src} seed {seed}");
        if !outcome.messages.is_empty() {
            assert!(
                c.partial,
                "{src} seed {seed}: an error makes the report partial"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// Hubble lines cut, spliced and mutated anywhere parse or are reported
    /// as bad lines; the row they make always fits the hubble table.
    #[test]
    fn damaged_hubble_lines_never_panic(
        which in 0usize..13,
        cut in any::<prop::sample::Index>(),
        pos in any::<prop::sample::Index>(),
        junk in proptest::collection::vec(any::<u8>(), 0..12),
    ) {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hubble/retina-observe.jsonpb"),
        ).unwrap() + &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/hubble/cilium-observe.json"),
        ).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let line = lines[which % lines.len()].as_bytes();
        let mut bytes = line[..cut.index(line.len() + 1)].to_vec();
        let at = pos.index(bytes.len() + 1);
        bytes.splice(at..at, junk);
        let s = String::from_utf8_lossy(&bytes);
        if let Ok(Some(f)) = retina_analyzer::hubble::parse_line(&s) {
            let mut t = retina_analyzer::hubble::HubbleBatch::new();
            retina_analyzer::hubble::push_row(&mut t, &f, "x");
            prop_assert_eq!(t.len(), 1);
        }
    }
}
