//! Community ID of every TCP/UDP flow equals the one Wireshark computes
//! (`--enable-protocol communityid`), on the project's captures.

mod common;

use std::collections::BTreeSet;
use std::process::Command;

use common::{analyze_json, require, testdata, tool};

fn tshark_ids(file: &std::path::Path) -> Option<BTreeSet<String>> {
    // Frames with a TCP or UDP header, not tunnelled, not fragments, not ICMP quotes.
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(["-n", "--enable-protocol", "communityid", "-T", "fields"])
        .args(["-e", "communityid", "-e", "frame.protocols"])
        .args(["-Y", "(tcp or udp) and not icmp and not icmpv6 and not vxlan and not geneve and not ip.flags.mf == 1 and not ip.frag_offset > 0"])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split('\t').next())
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .collect(),
    )
}

#[test]
fn community_ids_match_wireshark() {
    if !require(tool("tshark")) {
        return;
    }
    let mut compared = 0;
    for name in [
        "tcp-udp-ipv4.pcap",
        "ipv6.pcapng",
        "any-sll.pcap",
        "any-sll2.pcap",
        "edge/vlan.pcap",
        "edge/ipv6-ext.pcap",
    ] {
        let file = testdata(name);
        let theirs = tshark_ids(&file).expect("tshark runs");
        let (_, out, _) = analyze_json(&[&file], &[]);
        let ours: BTreeSet<String> = out["flows"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["proto"] == "tcp" || f["proto"] == "udp")
            .filter(|f| {
                f["packets"]["client"].as_u64().unwrap() + f["packets"]["server"].as_u64().unwrap()
                    > 0
            })
            .map(|f| {
                f["community_id"]
                    .as_str()
                    .expect("community_id")
                    .to_string()
            })
            .collect();
        assert!(!ours.is_empty(), "{name}");
        assert_eq!(
            ours, theirs,
            "{name}: Community IDs differ from Wireshark's"
        );
        compared += ours.len();
    }
    eprintln!("{compared} Community IDs equal Wireshark's");
}
