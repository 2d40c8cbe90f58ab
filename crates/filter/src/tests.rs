//! Evaluation tests through the public API, on hand-made packets.

use std::cell::Cell;
use std::collections::HashMap;
use std::net::IpAddr;

use crate::{Filter, Flow, FlowFilterError, Fragment, NameLookup, Names, NoNames, PacketView};

#[derive(Debug, Clone)]
struct Pkt {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    ports: Option<(u16, u16)>,
    fragment: Fragment,
    vlans: Vec<u16>,
    len: u32,
}

impl PacketView for Pkt {
    fn src(&self) -> IpAddr {
        self.src
    }
    fn dst(&self) -> IpAddr {
        self.dst
    }
    fn ip_proto(&self) -> u8 {
        self.proto
    }
    fn ports(&self) -> Option<(u16, u16)> {
        self.ports
    }
    fn fragment(&self) -> Fragment {
        self.fragment
    }
    fn vlan_ids(&self) -> &[u16] {
        &self.vlans
    }
    fn wire_len(&self) -> u32 {
        self.len
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A TCP packet 10.0.0.1:40000 → 10.0.0.2:80, 100 bytes, untagged.
fn tcp4() -> Pkt {
    Pkt {
        src: ip("10.0.0.1"),
        dst: ip("10.0.0.2"),
        proto: 6,
        ports: Some((40000, 80)),
        fragment: Fragment::None,
        vlans: vec![],
        len: 100,
    }
}

fn udp6() -> Pkt {
    Pkt {
        src: ip("fd00::1"),
        dst: ip("fd00::53"),
        proto: 17,
        ports: Some((5353, 53)),
        ..tcp4()
    }
}

fn icmp4() -> Pkt {
    Pkt {
        proto: 1,
        ports: None,
        ..tcp4()
    }
}

fn icmp6() -> Pkt {
    Pkt {
        proto: 58,
        ports: None,
        ..udp6()
    }
}

#[track_caller]
fn check(expr: &str, pkt: &Pkt, expected: bool) {
    let f = Filter::parse(expr).unwrap_or_else(|e| panic!("{expr:?}: {e}"));
    assert_eq!(f.matches(pkt, &NoNames), expected, "{expr:?} on {pkt:?}");
}

#[test]
fn versions_and_protocols() {
    check("ip", &tcp4(), true);
    check("ip", &udp6(), false);
    check("ip6", &udp6(), true);
    check("ip6", &tcp4(), false);
    check("tcp", &tcp4(), true);
    check("udp", &udp6(), true);
    check("tcp", &udp6(), false);
    // icmp is ICMPv4 only, icmp6 ICMPv6 only; a protocol number alone is
    // either version.
    check("icmp", &icmp4(), true);
    check("icmp", &icmp6(), false);
    check("icmp6", &icmp6(), true);
    check("icmp6", &icmp4(), false);
    check("proto 58", &icmp6(), true);
    check("ip proto 58", &icmp6(), false);
    check("ip6 proto 1", &icmp4(), false);
    check("ip proto 1", &icmp4(), true);
    check(r"ip proto \tcp", &tcp4(), true);
    check("sctp", &tcp4(), false);
}

#[test]
fn hosts_and_networks() {
    // `host` matches either address; `src`/`dst` one of them.
    check("host 10.0.0.1", &tcp4(), true);
    check("host 10.0.0.2", &tcp4(), true);
    check("host 10.0.0.3", &tcp4(), false);
    check("src host 10.0.0.1", &tcp4(), true);
    check("src host 10.0.0.2", &tcp4(), false);
    check("dst 10.0.0.2", &tcp4(), true);
    check("src and dst net 10.0.0.0/30", &tcp4(), true);
    check("src and dst host 10.0.0.1", &tcp4(), false);
    check("src or dst host 10.0.0.2", &tcp4(), true);
    check("net 10", &tcp4(), true);
    check("net 10.1", &tcp4(), false);
    check("net 10.0.0.0 mask 255.0.255.0", &tcp4(), true);
    check("net 10.0.0.0 mask 255.255.255.254", &tcp4(), true);
    check("dst net 10.0.0.0 mask 255.255.255.254", &tcp4(), false);
    check("net 0.0.0.0/0", &tcp4(), true);
    // Families never cross: an IPv4 net does not match IPv6 packets,
    // including IPv4-mapped addresses.
    check("net 0.0.0.0/0", &udp6(), false);
    check("net ::/0", &tcp4(), false);
    check("net ::/0", &udp6(), true);
    check("host fd00::53", &udp6(), true);
    check("src net fd00::/16", &udp6(), true);
    check("dst net fd01::/16", &udp6(), false);
    let mapped = Pkt {
        src: ip("::ffff:10.0.0.1"),
        ..udp6()
    };
    check("host 10.0.0.1", &mapped, false);
}

#[test]
fn ports_are_tcp_udp_sctp_on_first_fragments_only() {
    check("port 80", &tcp4(), true);
    check("port 53", &udp6(), true);
    check("tcp port 80", &tcp4(), true);
    check("udp port 80", &tcp4(), false);
    check("src port 80", &tcp4(), false);
    check("dst port 80", &tcp4(), true);
    check("src and dst port 80", &tcp4(), false);
    check("portrange 79-81", &tcp4(), true);
    check("portrange 81-90", &tcp4(), false);
    check("src portrange 40000-65535", &tcp4(), true);
    // `port http` is TCP only, as in tcpdump.
    check("port http", &tcp4(), true);
    let udp80 = Pkt {
        proto: 17,
        ..tcp4()
    };
    check("port http", &udp80, false);
    check("port 80", &udp80, true);
    let sctp = Pkt {
        proto: 132,
        ..tcp4()
    };
    check("port 80", &sctp, true);
    check(
        "port domain",
        &Pkt {
            ports: Some((1, 53)),
            ..sctp.clone()
        },
        true,
    );
    // A protocol with ports in its header that tcpdump does not know
    // (DCCP) never matches `port`.
    check(
        "port 80",
        &Pkt {
            proto: 33,
            ..tcp4()
        },
        false,
    );
    // No ports captured.
    check(
        "port 80",
        &Pkt {
            ports: None,
            ..tcp4()
        },
        false,
    );
    check(
        "not port 80",
        &Pkt {
            ports: None,
            ..tcp4()
        },
        true,
    );
    // The first fragment carries the header; a later one does not, even
    // when the caller attributed its ports.
    check(
        "port 80",
        &Pkt {
            fragment: Fragment::First,
            ..tcp4()
        },
        true,
    );
    let later = Pkt {
        fragment: Fragment::Later,
        ..tcp4()
    };
    check("tcp port 80", &later, false);
    check("not tcp port 80", &later, true);
    check("tcp", &later, true);
    check("host 10.0.0.2", &later, true);
}

#[test]
fn vlan_and_lengths() {
    let tagged = Pkt {
        vlans: vec![10, 20],
        ..tcp4()
    };
    check("vlan", &tcp4(), false);
    check("vlan", &tagged, true);
    check("vlan 10", &tagged, true);
    // Any tag of the stack, not only the outer one.
    check("vlan 20", &tagged, true);
    check("vlan 30", &tagged, false);
    // Other tests see through the tags.
    check("vlan 20 and tcp port 80", &tagged, true);
    check("less 100", &tcp4(), true);
    check("less 99", &tcp4(), false);
    check("greater 100", &tcp4(), true);
    check("greater 101", &tcp4(), false);
}

#[test]
fn combinations() {
    check("tcp and port 80", &tcp4(), true);
    check("tcp and not port 80", &tcp4(), false);
    check("udp or port 80", &tcp4(), true);
    // Left to right with equal precedence: (tcp or udp) and port 53.
    check("tcp or udp and port 53", &tcp4(), false);
    check("tcp or (udp and port 53)", &tcp4(), true);
    check("not host 10.0.0.9 or 10.0.0.8", &tcp4(), true);
    check("host 10.0.0.9 or not 10.0.0.8", &tcp4(), true);
    check("host 10.0.0.1 and (10.0.0.9 or 10.0.0.2)", &tcp4(), true);
    check("", &tcp4(), true);
}

/// A name index that counts its lookups.
#[derive(Default)]
struct Index {
    by_ip: HashMap<IpAddr, Names<'static>>,
    lookups: Cell<u32>,
}

impl NameLookup for Index {
    fn names(&self, addr: IpAddr) -> Names<'_> {
        self.lookups.set(self.lookups.get() + 1);
        self.by_ip.get(&addr).copied().unwrap_or_default()
    }
}

fn index() -> Index {
    let mut by_ip = HashMap::new();
    by_ip.insert(
        ip("10.0.0.1"),
        Names {
            namespace: Some("payments"),
            pod: Some("api-7d9f-x2x"),
            workload: Some("api"),
            node: Some("worker-1"),
            service: None,
        },
    );
    by_ip.insert(
        ip("10.0.0.2"),
        Names {
            namespace: Some("kube-system"),
            service: Some("kube-dns"),
            ..Names::default()
        },
    );
    Index {
        by_ip,
        lookups: Cell::new(0),
    }
}

#[track_caller]
fn check_k8s(expr: &str, pkt: &Pkt, expected: bool) {
    let f = Filter::parse(expr).unwrap_or_else(|e| panic!("{expr:?}: {e}"));
    assert!(f.uses_k8s(), "{expr:?}");
    assert_eq!(f.matches(pkt, &index()), expected, "{expr:?}");
}

#[test]
fn kubernetes_terms() {
    let p = tcp4();
    check_k8s("ns payments", &p, true);
    check_k8s("ns kube-*", &p, true);
    check_k8s("src ns kube-*", &p, false);
    check_k8s("dst ns kube-*", &p, true);
    check_k8s("src and dst ns payments", &p, false);
    check_k8s("pod payments/api-*", &p, true);
    check_k8s("pod */api-????-x2x", &p, true);
    check_k8s("pod default/api-*", &p, false);
    check_k8s("src pod payments/api-*", &p, true);
    check_k8s("dst pod payments/api-*", &p, false);
    check_k8s("workload api", &p, true);
    check_k8s("workload payments/api", &p, true);
    check_k8s("workload other/api", &p, false);
    check_k8s("service kube-system/kube-dns", &p, true);
    check_k8s("service */kube-dns and dst port 80", &p, true);
    check_k8s("node worker-?", &p, true);
    check_k8s("node worker-2", &p, false);
    check_k8s("ns other or payments", &p, true);
    // Unknown names match nothing, not even `*`.
    let stranger = Pkt {
        src: ip("192.0.2.1"),
        dst: ip("192.0.2.2"),
        ..tcp4()
    };
    check_k8s("ns *", &stranger, false);
    check_k8s("not ns *", &stranger, true);
    // Without an index, nothing is known.
    assert!(!Filter::parse("ns *").unwrap().matches(&p, &NoNames));
}

#[test]
fn names_are_looked_up_once_per_address_and_only_when_needed() {
    let idx = index();
    let f = Filter::parse("ns a or ns b or src pod x/y or dst workload z").unwrap();
    assert!(!f.matches(&tcp4(), &idx));
    assert_eq!(idx.lookups.get(), 2, "one lookup per address");

    let idx = index();
    let f = Filter::parse("udp and ns payments").unwrap();
    assert!(!f.matches(&tcp4(), &idx));
    assert_eq!(idx.lookups.get(), 0, "decided before the name term");

    let idx = index();
    let f = Filter::parse("src ns payments").unwrap();
    assert!(f.matches(&tcp4(), &idx));
    assert_eq!(idx.lookups.get(), 1, "only the source is needed");

    assert!(!Filter::parse("tcp port 80").unwrap().uses_k8s());
}

fn flow<'a>(proto: u8, src: &str, dst: &str, ports: Option<(u16, u16)>) -> Flow<'a> {
    Flow {
        proto,
        src: ip(src),
        dst: ip(dst),
        ports,
        src_names: Names::default(),
        dst_names: Names::default(),
    }
}

#[test]
fn flows_match_in_either_direction() {
    let f = |e: &str| Filter::parse(e).unwrap().for_flows().unwrap();
    let client = flow(6, "10.0.0.1", "10.0.0.2", Some((40000, 80)));
    assert!(f("src host 10.0.0.1").matches(&client));
    // The reply packets come from 10.0.0.2.
    assert!(f("src host 10.0.0.2").matches(&client));
    assert!(f("src host 10.0.0.2 and src port 80").matches(&client));
    // Both conditions must hold for one direction.
    assert!(!f("src host 10.0.0.1 and src port 80").matches(&client));
    assert!(f("tcp dst port 80").matches(&client));
    assert!(!f("udp").matches(&client));
    assert!(!f("host 10.0.0.3").matches(&client));
    let ping = flow(1, "10.0.0.1", "10.0.0.2", None);
    assert!(f("icmp").matches(&ping));
    assert!(!f("port 0").matches(&ping));

    let named = Flow {
        src_names: Names {
            namespace: Some("web"),
            pod: Some("frontend-1"),
            ..Names::default()
        },
        dst_names: Names {
            namespace: Some("db"),
            ..Names::default()
        },
        ..client
    };
    let ns = f("src ns db and src port 80");
    assert!(ns.uses_k8s());
    assert!(
        ns.matches(&named),
        "names follow their address when reversed"
    );
    assert!(!f("src ns db and dst port 80").matches(&named));
    assert!(f("pod web/frontend-*").matches(&named));
}

#[test]
fn frame_tests_are_refused_for_flows() {
    for (expr, primitive, position) in [
        ("tcp and less 100", "less", 8),
        ("greater 1", "greater", 0),
        ("host 10.0.0.1 or not vlan 5", "vlan", 21),
    ] {
        let err = Filter::parse(expr).unwrap().for_flows().unwrap_err();
        assert_eq!(
            err,
            FlowFilterError::FrameOnly {
                primitive,
                position
            },
            "{expr:?}"
        );
    }
    assert_eq!(
        Filter::parse("tcp and less 100")
            .unwrap()
            .for_flows()
            .unwrap_err()
            .to_string(),
        "at 8: 'less' tests frames; flow records have none, so it cannot filter flows"
    );
}

#[test]
fn filter_api() {
    let f: Filter = "host 10.0.0.1 or 10.0.0.2".parse().unwrap();
    assert_eq!(f.to_string(), "(host 10.0.0.1 or host 10.0.0.2)");
    assert!(!f.is_empty());
    assert!(Filter::parse(" ").unwrap().is_empty());
    assert!("tcp port".parse::<Filter>().is_err());
}
