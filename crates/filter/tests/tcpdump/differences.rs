//! The documented differences from tcpdump, each checked against tcpdump
//! itself: tcpdump gets an expression that states our semantics in its own
//! terms (byte offsets that its `vlan` does not move, one IPv6 extension
//! header, decapsulated frames), and must select what the filter selects.
//! Each test also shows tcpdump's plain answer differing, so that the
//! difference is real and the comparison can see it.

use retina_filter::{Filter, NoNames};

use crate::capture::{self, Frame};
use crate::{compare, lift_through_vlan_tags, load, locate, tag_at, tcpdump, tcpdump_select};

/// tcpdump's test for "a tag with id `id` among the first two tags".
fn vlan_id_in_stack(id: u16) -> String {
    format!(
        "(({t0} and ether[14:2] & 0xfff = {id}) or ({t0} and {t1} and ether[18:2] & 0xfff = {id}))",
        t0 = tag_at(12),
        t1 = tag_at(16),
    )
}

/// How many frames our filter selects among the decoded ones.
fn ours(frames: &[crate::Decoded], expr: &str) -> usize {
    let filter = Filter::parse(expr).unwrap();
    frames
        .iter()
        .filter_map(|d| d.view.as_ref())
        .filter(|v| filter.matches(*v, &NoNames))
        .count()
}

#[test]
fn vlan_terms() {
    let Some(tcpdump) = tcpdump() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.pcap");
    // (ours, tcpdump's equivalent)
    let mut pairs = vec![
        ("vlan".to_string(), tag_at(12)),
        ("not vlan".to_string(), format!("not {}", tag_at(12))),
        (
            "vlan and host 141.142.228.5".to_string(),
            format!(
                "{} and ({})",
                tag_at(12),
                lift_through_vlan_tags("host 141.142.228.5")
            ),
        ),
        (
            "vlan 20 and tcp port 80".to_string(),
            format!(
                "{} and ({})",
                vlan_id_in_stack(20),
                lift_through_vlan_tags("tcp port 80")
            ),
        ),
        (
            "not vlan 42 and tcp".to_string(),
            format!(
                "not {} and ({})",
                vlan_id_in_stack(42),
                lift_through_vlan_tags("tcp")
            ),
        ),
    ];
    // Every id in these captures, outer and inner, and one absent.
    for id in [42, 10, 20, 13, 6, 1525, 30, 1535, 40, 7] {
        pairs.push((format!("vlan {id}"), vlan_id_in_stack(id)));
    }
    let captures = [
        "testdata/tcp-udp-ipv4.pcap",
        "corpus:zeek/testing/btest/Traces/vlan-collisions.pcap",
        "corpus:zeek/testing/btest/Traces/q-in-q.pcap",
        "corpus:suricata-verify/tests/eve-payload-05-tcp-data-gap/tcp-simple-gap2.pcap",
        "corpus:arkime/tests/pcap/dot1ad.pcap",
    ];
    let mut diffs = Vec::new();
    for path in captures {
        let Some(file) = locate(path) else { continue };
        let frames = load(&file);
        for (ours, theirs) in &pairs {
            let (_, _, d) = compare(&tcpdump, &file, &frames, ours, theirs, |_| true, &out);
            diffs.extend(d);
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));

    // The capture holds the same 14 packets untagged, with tag 42, and
    // with tags 10 and 20. tcpdump's own `vlan 20` tests the outer tag only,
    // and its `tcp` sees the untagged copies only; ours see the whole stack.
    let Some(file) = locate("corpus:zeek/testing/btest/Traces/vlan-collisions.pcap") else {
        return;
    };
    let frames = load(&file);
    for (expr, we_select, tcpdump_selects) in [
        ("vlan 20", 14, 0),
        ("tcp", 42, 14),
        ("host 141.142.228.5", 42, 14),
    ] {
        assert_eq!(ours(&frames, expr), we_select, "{expr}");
        let theirs = tcpdump_select(&tcpdump, &file, expr, &out).len();
        assert_eq!(theirs, tcpdump_selects, "tcpdump {expr}");
    }
}

/// An IPv6 packet whose one extension header is 8 bytes long (`ip6[41]`
/// is the header's length field, and zero in a fragment header), with the
/// upper-layer header right after it at `ip6[40]`'s protocol.
const ONE_EXT: &str =
    "(ip6 and (ip6[6] = 0 or ip6[6] = 43 or ip6[6] = 44 or ip6[6] = 60) and ip6[41] = 0)";
/// The same, and not a later fragment.
const ONE_EXT_FIRST: &str = "(ip6 and (ip6[6] = 0 or ip6[6] = 43 or ip6[6] = 60 \
     or (ip6[6] = 44 and ip6[42:2] & 0xfff8 = 0)) and ip6[41] = 0)";

#[test]
fn ipv6_extension_headers() {
    let Some(tcpdump) = tcpdump() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.pcap");
    let pairs = [
        ("tcp", format!("tcp or ({ONE_EXT} and ip6[40] = 6)")),
        ("udp", format!("udp or ({ONE_EXT} and ip6[40] = 17)")),
        ("icmp6", format!("icmp6 or ({ONE_EXT} and ip6[40] = 58)")),
        (
            "ip6 proto 17",
            format!("udp or ({ONE_EXT} and ip6[40] = 17)"),
        ),
        (
            "port 80",
            format!(
                "port 80 or ({ONE_EXT_FIRST} and (ip6[40] = 6 or ip6[40] = 17 or ip6[40] = 132) \
                 and (ip6[48:2] = 80 or ip6[50:2] = 80))"
            ),
        ),
        (
            "tcp dst port 80",
            format!("tcp dst port 80 or ({ONE_EXT_FIRST} and ip6[40] = 6 and ip6[50:2] = 80)"),
        ),
        (
            "udp port 5300",
            format!(
                "udp port 5300 or ({ONE_EXT_FIRST} and ip6[40] = 17 \
                 and (ip6[48:2] = 5300 or ip6[50:2] = 5300))"
            ),
        ),
        ("ip6 proto 44", "ip6 and not ip6".to_string()),
        ("ip6 proto 0", "ip6 and not ip6".to_string()),
    ];
    let mut diffs = Vec::new();
    let mut ext_frames = 0;
    // Frames with an extension header in each capture that is present
    // (the shared corpus may be absent: then its file is skipped).
    let mut expected = 0;
    for (path, with_ext) in [
        ("testdata/ipv6.pcapng", 15),
        (
            "corpus:zeek/testing/btest/Traces/ipv6-http-atomic-frag.pcap",
            18,
        ),
    ] {
        let Some(file) = locate(path) else { continue };
        expected += with_ext;
        let frames = load(&file);
        // The oracle above knows one 8-byte extension header only.
        for v in frames.iter().filter_map(|d| d.view.as_ref()) {
            if v.ipv6_ext {
                ext_frames += 1;
                assert_eq!(v.l3_header_len, 48, "{path}: {v:?}");
            }
        }
        for (ours, theirs) in &pairs {
            let (_, _, d) = compare(&tcpdump, &file, &frames, ours, theirs, |_| true, &out);
            diffs.extend(d);
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    if ext_frames == 0 {
        return;
    }
    assert_eq!(
        ext_frames, expected,
        "15 fragments in ipv6.pcapng, 18 in the corpus capture"
    );

    // tcpdump's own `port 80` misses the packets with an extension header,
    // and its `ip6 proto 44` matches the fragments.
    let Some(file) = locate("corpus:zeek/testing/btest/Traces/ipv6-http-atomic-frag.pcap") else {
        return;
    };
    let frames = load(&file);
    assert_eq!(
        ours(&frames, "port 80"),
        38 - 2,
        "all but the neighbor discovery"
    );
    assert_eq!(
        tcpdump_select(&tcpdump, &file, "port 80", &out).len(),
        38 - 2 - 18
    );
    assert_eq!(
        tcpdump_select(&tcpdump, &file, "ip6 proto 44", &out).len(),
        5
    );
}

/// The inner Ethernet frame of a VXLAN packet (UDP 4789, 8-byte header),
/// stamped like its outer frame.
fn decapsulate(frame: &Frame) -> Option<Frame> {
    let v = capture::decode(frame)?;
    if v.proto != 17 || v.ports?.1 != 4789 {
        return None;
    }
    let inner = v.payload.get(8 + 8..)?;
    let outer_headers = frame.data.len() - inner.len();
    Some(Frame {
        ts_ns: frame.ts_ns,
        orig_len: frame.orig_len - outer_headers as u32,
        data: inner.to_vec(),
        linktype: 1,
    })
}

#[test]
fn tunnel_inner_headers() {
    let Some(tcpdump) = tcpdump() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("out.pcap");
    let file = locate("testdata/vxlan.pcap").unwrap();
    let outer = capture::read(&file).unwrap();
    // The analyzer filters the inner packet of tunnelled traffic: run
    // tcpdump on the decapsulated frames to know what that should select.
    let inner: Vec<Frame> = outer.iter().filter_map(decapsulate).collect();
    assert_eq!(inner.len(), 34, "every UDP frame of the capture is VXLAN");
    let inner_file = tmp.path().join("inner.pcap");
    capture::write(&inner_file, 1, &inner).unwrap();
    let inner_frames = load(&inner_file);
    let exprs = [
        "host 10.99.1.2",
        "src host 10.99.1.1",
        "net 10.99.1.0/24",
        "net 10.99.0.0/24",
        "icmp",
        "tcp",
        "udp",
        "port 8080 or 5300",
        "udp port 4789",
        "not icmp",
    ];
    let mut diffs = Vec::new();
    for expr in exprs {
        let (_, _, d) = compare(
            &tcpdump,
            &inner_file,
            &inner_frames,
            expr,
            expr,
            |_| true,
            &out,
        );
        diffs.extend(d);
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));

    // On the capture itself tcpdump sees the underlay only.
    let outer_frames = load(&file);
    let selected_inner = ours(&inner_frames, "host 10.99.1.2");
    assert!(selected_inner > 20, "{selected_inner}");
    assert_eq!(ours(&outer_frames, "host 10.99.1.2"), 0);
    assert_eq!(
        tcpdump_select(&tcpdump, &file, "host 10.99.1.2", &out).len(),
        0
    );
}
