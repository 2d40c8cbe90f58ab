//! Parser tests: each expression against its fully explicit rendering, or
//! against the error (position and kind) it must give.

use super::*;

/// The explicit form of an expression, or its error as displayed.
fn show(expr: &str) -> String {
    match parse(expr) {
        Ok(node) => node.to_string(),
        Err(e) => format!("ERR {e}"),
    }
}

fn err(expr: &str) -> ParseError {
    match parse(expr) {
        Ok(node) => panic!("{expr:?} parsed as {node}"),
        Err(e) => e,
    }
}

#[track_caller]
fn same(expr: &str, explicit: &str) {
    assert_eq!(show(expr), explicit, "for {expr:?}");
}

#[test]
fn and_or_have_equal_precedence_left_to_right() {
    // pcap-filter(7): "Alternation and concatenation have equal precedence
    // and associate left to right."
    same("tcp or udp and icmp", "((tcp or udp) and icmp)");
    same("tcp and udp or icmp", "((tcp and udp) or icmp)");
    same("tcp or udp or icmp", "((tcp or udp) or icmp)");
    same("tcp || udp && icmp", "((tcp or udp) and icmp)");
    same("tcp or (udp and icmp)", "(tcp or (udp and icmp))");
}

#[test]
fn negation_binds_tightest() {
    same("not tcp and udp", "(not tcp and udp)");
    same("! tcp or udp", "(not tcp or udp)");
    same("!tcp&&!udp", "(not tcp and not udp)");
    same("not not tcp", "not not tcp");
    same("not (tcp or udp)", "not (tcp or udp)");
}

#[test]
fn implicit_qualifiers_are_borrowed_from_the_term_before() {
    same(
        "host 10.0.0.1 or 10.0.0.2",
        "(host 10.0.0.1 or host 10.0.0.2)",
    );
    same("port 80 or 443", "(port 80 or port 443)");
    same("tcp port 80 or 443", "(tcp port 80 or tcp port 443)");
    same(
        "udp dst port 53 or 5353",
        "(udp dst port 53 or udp dst port 5353)",
    );
    same(
        "src net 10.0.0.0/8 or 192.168.0.0/16",
        "(src net 10.0.0.0/8 or src net 192.168.0.0/16)",
    );
    // Negated and parenthesized ids borrow too.
    same("port 80 or not 443", "(port 80 or not port 443)");
    same(
        "host 10.0.0.1 and (10.0.0.2 or not 10.0.0.3)",
        "(host 10.0.0.1 and (host 10.0.0.2 or not host 10.0.0.3))",
    );
    same(
        "host (10.0.0.1 or 10.0.0.2)",
        "(host 10.0.0.1 or host 10.0.0.2)",
    );
    // The qualifier comes from the nearest term, and survives `not` and
    // parentheses around that term, as in tcpdump's grammar.
    same(
        "host 10.0.0.1 and port 53 or 5353",
        "((host 10.0.0.1 and port 53) or port 5353)",
    );
    same("not port 80 or 443", "(not port 80 or port 443)");
    same("(port 80) or 443", "(port 80 or port 443)");
    // A keyword after `or` starts a new term, which lends its own.
    same(
        "host 10.0.0.1 or tcp port 80 or 8080",
        "((host 10.0.0.1 or tcp port 80) or tcp port 8080)",
    );
    same(
        "ns default or kube-system",
        "(ns default or ns kube-system)",
    );
    same("ip proto 6 or 17", "(ip proto 6 or ip proto 17)");
    // A keyword after `or` starts a term even where it could be a protocol
    // name; the escaped name continues the `proto` list, as in tcpdump.
    same("ip proto tcp or udp", "(ip proto 6 or udp)");
    same(r"ip proto tcp or \udp", "(ip proto 6 or ip proto 17)");
}

#[test]
fn terms_that_lend_no_qualifier() {
    assert_eq!(
        err("tcp or 80"),
        ParseError {
            position: 7,
            kind: ParseErrorKind::NoQualifier("80".into())
        }
    );
    assert!(matches!(
        err("vlan 5 or 6").kind,
        ParseErrorKind::NoQualifier(_)
    ));
    assert!(matches!(
        err("less 100 or 200").kind,
        ParseErrorKind::NoQualifier(_)
    ));
    assert!(matches!(
        err("10.0.0.1").kind,
        ParseErrorKind::NoQualifier(_)
    ));
}

#[test]
fn qualifier_combinations() {
    same("src host 10.0.0.1", "src host 10.0.0.1");
    same("src 10.0.0.1", "src host 10.0.0.1");
    same("dst fd00::1", "dst host fd00::1");
    same("src or dst port 80", "port 80");
    same("dst or src port 80", "port 80");
    same("src and dst net 10", "src and dst net 10.0.0.0/8");
    same("dst and src host 10.0.0.1", "src and dst host 10.0.0.1");
    same("ip src host 10.0.0.1", "src host 10.0.0.1");
    same("ip6 dst net fd00::/8", "dst net fd00::/8");
    same("tcp src port 80", "tcp src port 80");
    same("udp dst portrange 5000-6000", "udp dst portrange 5000-6000");
    same("sctp port 38412", "sctp port 38412");
    same("ip proto 17", "ip proto 17");
    same("ip6 proto 6", "ip6 proto 6");
    same("proto 47", "proto 47");
    same("src pod payments/api-*", "src pod payments/api-*");
    same("src and dst ns prod", "src and dst ns prod");
}

#[test]
fn protocols() {
    same("ip", "ip");
    same("ip6", "ip6");
    same("tcp", "tcp");
    same("udp", "udp");
    same("sctp", "sctp");
    same("icmp", "icmp");
    same("icmp6", "icmp6");
    same("ip proto 1", "icmp");
    same("ip6 proto 58", "icmp6");
    same("proto 58", "proto 58");
    same(r"ip proto \tcp", "ip proto 6");
    same(r"proto \udp", "udp");
    same("proto tcp", "tcp");
    same("ip proto tcp", "ip proto 6");
    same("proto gre", "proto 47");
    same("ip6 proto ipv6-icmp", "icmp6");
    same("proto 0x11", "udp");
}

#[test]
fn networks() {
    same("net 10.0.0.0/8", "net 10.0.0.0/8");
    same("net 10.0.0.0 mask 255.0.0.0", "net 10.0.0.0/8");
    same(
        "net 10.0.0.0 mask 255.0.255.0",
        "net 10.0.0.0 mask 255.0.255.0",
    );
    // tcpdump's short forms.
    same("net 10", "net 10.0.0.0/8");
    same("net 10.1", "net 10.1.0.0/16");
    same("net 10.1.2", "net 10.1.2.0/24");
    same("net 10.1.2.3", "host 10.1.2.3");
    same("net 10.0.0/24", "net 10.0.0.0/24");
    same("net 172.16/12", "net 172.16.0.0/12");
    // A bare number is shifted up to its first non-zero byte, as libpcap
    // does (`net 0` is the address 0.0.0.0).
    same("net 0", "host 0.0.0.0");
    same("net 0x0a", "net 10.0.0.0/8");
    same("net 0.0.0.0/0", "net 0.0.0.0/0");
    same("net fd00::/8", "net fd00::/8");
    same("net fd00::", "host fd00::");
    same("net ::/0", "net ::/0");
}

#[test]
fn ports() {
    same("port 80", "port 80");
    same("port 0x50", "port 80");
    same("port 0", "port 0");
    same("port 65535", "port 65535");
    // A name registered for TCP only makes the test TCP-only; one
    // registered for both keeps TCP, UDP and SCTP (tcpdump's PROTO_UNDEF).
    same("port http", "tcp port 80");
    same("port https", "port 443");
    same("port domain", "port 53");
    same("udp port domain", "udp port 53");
    same("port ntp", "udp port 123");
    same("port ssh or domain", "(tcp port 22 or port 53)");
    same("portrange 8000-8080", "portrange 8000-8080");
    same("portrange 90-80", "portrange 80-90");
    same("portrange 80", "port 80");
    same("portrange 80-80", "port 80");
}

#[test]
fn frames_and_names() {
    same("vlan", "vlan");
    same("vlan 0", "vlan 0");
    same("vlan 4095 and tcp", "(vlan 4095 and tcp)");
    same("vlan and vlan 20", "(vlan and vlan 20)");
    same("less 100", "less 100");
    same("greater 1500", "greater 1500");
    same("ns kube-system", "ns kube-system");
    same("ns kube-*", "ns kube-*");
    same("pod default/web-0", "pod default/web-0");
    same("pod */coredns-?????", "pod */coredns-?????");
    same("workload web", "workload web");
    same("workload prod/web", "workload prod/web");
    same("service default/kubernetes", "service default/kubernetes");
    same(
        "node ip-10-0-0-1.ec2.internal",
        "node ip-10-0-0-1.ec2.internal",
    );
    // After a name keyword any word is a name, keywords included.
    same("ns node", "ns node");
    same("node tcp", "node tcp");
}

#[test]
fn whitespace_and_empty() {
    same("", "");
    same(" \t\n", "");
    same("  tcp\tand\nudp  ", "(tcp and udp)");
    same("(tcp)and(udp)", "(tcp and udp)");
    same("((((tcp))))", "tcp");
}

#[test]
fn explicit_rendering_parses_back_to_itself() {
    for expr in [
        "host 10.0.0.1 or 10.0.0.2 and not port 53 or 5353",
        "tcp src port 80 or udp dst portrange 1-1024",
        "src and dst net 10.0.0.0 mask 255.0.255.0 or ip6 net fd00::/8",
        "(icmp or icmp6) and greater 100 and less 200 or vlan 3",
        "not src pod ns/a-* or workload w or service a/b or node n? or ns x",
        "ip proto 47 or ip6 proto 17 or proto 132",
    ] {
        let once = show(expr);
        assert_eq!(show(&once), once, "for {expr:?}");
    }
}

#[test]
fn errors_have_positions_and_kinds() {
    use ParseErrorKind as K;
    let cases: &[(&str, usize, K)] = &[
        (
            "tcp port ",
            9,
            K::Expected {
                expected: "a port number or name after 'port'".into(),
                found: None,
            },
        ),
        (
            "host 10.0.0.1 or",
            16,
            K::Expected {
                expected: "a primitive after 'or'".into(),
                found: None,
            },
        ),
        (
            "host and",
            5,
            K::Expected {
                expected: "an IP address after 'host'".into(),
                found: Some("and".into()),
            },
        ),
        (
            "port 70000",
            5,
            K::OutOfRange {
                what: "port",
                value: "70000".into(),
                max: 65535,
            },
        ),
        (
            "vlan 4096",
            5,
            K::OutOfRange {
                what: "VLAN id",
                value: "4096".into(),
                max: 4095,
            },
        ),
        (
            "ip proto 256",
            9,
            K::OutOfRange {
                what: "protocol",
                value: "256".into(),
                max: 255,
            },
        ),
        (
            "net 10.0.0.0/33",
            4,
            K::OutOfRange {
                what: "prefix length",
                value: "33".into(),
                max: 32,
            },
        ),
        ("net 10.1.2.3/8", 4, K::HostBitsSet("10.1.2.3/8".into())),
        ("net fd00::1/8", 4, K::HostBitsSet("fd00::1/8".into())),
        (
            "net 10.0.0.1 mask 255.0.0.0",
            4,
            K::HostBitsSet("10.0.0.1 mask 255.0.0.0".into()),
        ),
        ("port 010", 5, K::LeadingZero("010".into())),
        ("port gopher2", 5, K::UnknownPort("gopher2".into())),
        ("proto foo", 6, K::UnknownProtocol("foo".into())),
        (
            "udp port http",
            9,
            K::PortTransport {
                name: "http".into(),
                registered: "tcp",
            },
        ),
        (
            "tcp port ntp",
            9,
            K::PortTransport {
                name: "ntp".into(),
                registered: "udp",
            },
        ),
        (
            "tcp host 10.0.0.1",
            0,
            K::BadQualifier {
                qualifier: "tcp",
                primitive: "host",
            },
        ),
        (
            "ip port 80",
            0,
            K::BadQualifier {
                qualifier: "ip",
                primitive: "port",
            },
        ),
        (
            "tcp src 10.0.0.1",
            0,
            K::BadQualifier {
                qualifier: "tcp",
                primitive: "host",
            },
        ),
        (
            "src proto 6",
            0,
            K::BadQualifier {
                qualifier: "src",
                primitive: "proto",
            },
        ),
        (
            "udp ns default",
            0,
            K::BadQualifier {
                qualifier: "udp",
                primitive: "ns",
            },
        ),
        (
            "ip host fd00::1",
            8,
            K::WrongFamily {
                qualifier: "ip",
                family: "IPv6",
                address: "fd00::1".into(),
            },
        ),
        (
            "ip6 net 10",
            8,
            K::WrongFamily {
                qualifier: "ip6",
                family: "IPv4",
                address: "10".into(),
            },
        ),
        (
            "host 10.0.0.1 or fd00::1 and ip host 1.2.3.4 or ::1",
            48,
            K::WrongFamily {
                qualifier: "ip",
                family: "IPv6",
                address: "::1".into(),
            },
        ),
        (
            "pod web",
            4,
            K::NeedsNamespace {
                primitive: "pod",
                text: "web".into(),
            },
        ),
        (
            "service kubernetes",
            8,
            K::NeedsNamespace {
                primitive: "service",
                text: "kubernetes".into(),
            },
        ),
        ("(tcp or udp", 0, K::Unclosed),
        ("tcp)", 3, K::Unmatched),
        ("tcp udp", 4, K::MissingOperator("udp".into())),
        ("(tcp udp)", 5, K::MissingOperator("udp".into())),
        ("hots 10.0.0.1", 0, K::UnknownPrimitive("hots".into())),
        (
            "ether host 1",
            0,
            K::Unsupported {
                keyword: "ether".into(),
                why: NOT_IP,
            },
        ),
    ];
    for (expr, position, kind) in cases {
        let e = err(expr);
        assert_eq!(
            (e.position, &e.kind),
            (*position, kind),
            "for {expr:?}: {e}"
        );
    }
}

#[test]
fn error_messages_read_well() {
    assert_eq!(
        err("tcp port ").to_string(),
        "at 9: expected a port number or name after 'port'"
    );
    assert_eq!(
        err("host 10.1").to_string(),
        "at 5: '10.1' is not a full IP address (write 'net 10.1' for a prefix)"
    );
    assert_eq!(
        err("host 10.0.0.1 & udp").to_string(),
        "at 14: expected '&&', '||', 'and' or 'or', found '&'"
    );
    assert_eq!(
        err("ip[9] = 6").to_string(),
        "at 0: 'ip[9]' is not supported: arithmetic and byte access (ip[6:2] = 0, len > 100) are not implemented"
    );
}

#[test]
fn positions_count_characters_not_bytes() {
    // Two no-break spaces (two bytes each) before the error: byte 16,
    // character 14.
    let e = err("tcp\u{a0}\u{a0}and port ");
    assert_eq!(e.position, 14);
    let e = err("ns é");
    assert_eq!(e.position, 3);
}

#[test]
fn refused_host_forms() {
    for expr in [
        "host 10",
        "host 10.1",
        "host 10.0.0.0/8",
        "host example.com",
        "host 10.0.0.256",
    ] {
        assert!(
            matches!(err(expr).kind, ParseErrorKind::BadValue { .. }),
            "{expr:?}"
        );
    }
}

#[test]
fn nesting_and_size_are_bounded() {
    let deep = format!("{}tcp{}", "(".repeat(150), ")".repeat(150));
    assert!(matches!(err(&deep).kind, ParseErrorKind::TooLarge(_)));
    let nots = format!("{}tcp", "not ".repeat(150));
    assert!(matches!(err(&nots).kind, ParseErrorKind::TooLarge(_)));
    let long = vec!["tcp"; 1001].join(" or ");
    assert!(matches!(err(&long).kind, ParseErrorKind::TooLarge(_)));
    let ok = vec!["tcp"; 1000].join(" or ");
    assert!(parse(&ok).is_ok());
    let ok = format!("{}tcp{}", "(".repeat(90), ")".repeat(90));
    assert!(parse(&ok).is_ok());
}
