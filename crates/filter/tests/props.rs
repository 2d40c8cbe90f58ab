//! Properties of the parser on generated input: it never panics, its errors
//! point inside the expression, and what it accepts renders back to an
//! expression that parses to the same filter.

use std::net::IpAddr;

use proptest::prelude::*;
use retina_filter::{Filter, Fragment, NameLookup, Names, PacketView};

/// Words the grammar knows, values of every kind, and junk, so that token
/// soup reaches deep into the grammar instead of failing on the first word.
const VOCABULARY: &[&str] = &[
    "host",
    "net",
    "port",
    "portrange",
    "proto",
    "src",
    "dst",
    "and",
    "or",
    "not",
    "!",
    "&&",
    "||",
    "(",
    ")",
    "ip",
    "ip6",
    "tcp",
    "udp",
    "sctp",
    "icmp",
    "icmp6",
    "vlan",
    "less",
    "greater",
    "mask",
    "ns",
    "pod",
    "workload",
    "service",
    "node",
    "ether",
    "gateway",
    "10.0.0.1",
    "10.0.0.0/8",
    "10",
    "10.1",
    "10.1.2",
    "0",
    "255.0.0.0",
    "fd00::1",
    "fd00::/8",
    "::",
    "80",
    "443",
    "0x50",
    "010",
    "65536",
    "80-90",
    "http",
    "domain",
    "\\tcp",
    "1.2.3.4/33",
    "a/b",
    "*/api-*",
    "kube-system",
    "web-?",
    "*",
    "/",
    "-",
    "&",
    "|",
    "[",
    "]",
    "=",
    "é",
    "",
    " ",
    "\t",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCABULARY), 0..24).prop_map(|words| words.join(" "))
}

/// Well-formed primitives, one of each kind and qualifier shape.
const PRIMITIVES: &[&str] = &[
    "host 10.0.0.1",
    "src host 10.0.1.1",
    "dst 10.0.0.2",
    "src and dst net 10.0.0.0/16",
    "net 10",
    "net 10.1",
    "ip net 10.0.0.0 mask 255.0.255.0",
    "ip6 host fd00::1",
    "src or dst net fd00::/112",
    "port 80",
    "tcp port 443",
    "udp dst port 53",
    "port domain",
    "port http",
    "src portrange 40000-65535",
    "sctp port 85",
    "tcp",
    "udp",
    "icmp",
    "icmp6",
    "ip",
    "ip6",
    "sctp",
    "ip proto 47",
    "ip6 proto 17",
    "proto \\tcp",
    "vlan",
    "vlan 2",
    "less 600",
    "greater 1000",
    "ns kube-*",
    "src pod */web-?",
    "workload web",
    "service kube-system/api-*",
    "node a",
    "dst ns default",
];

/// Values that a preceding term's qualifier may take (or refuse).
const IDS: &[&str] = &[
    "10.0.0.2",
    "fd00::2",
    "80",
    "53",
    "kube-system",
    "10.0.0.0/8",
];

/// Expressions built from the primitives with every operator form,
/// including ids that borrow the qualifier before them.
fn expression() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(PRIMITIVES).prop_map(str::to_owned);
    leaf.prop_recursive(4, 24, 2, |inner| {
        let op = prop::sample::select(&["and", "or", "&&", "||"][..]);
        prop_oneof![
            (inner.clone(), op.clone(), inner.clone())
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (inner.clone(), op, prop::sample::select(IDS), any::<bool>()).prop_map(
                |(a, op, id, not)| format!("{a} {op} {}{id}", if not { "not " } else { "" })
            ),
            inner.clone().prop_map(|a| format!("not {a}")),
            inner.clone().prop_map(|a| format!("!{a}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

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

/// Addresses near the vocabulary's, so that tests hit as often as they miss.
fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        (0u8..3, 0u8..3).prop_map(|(a, b)| IpAddr::from([10, a, b, 1])),
        any::<[u8; 4]>().prop_map(IpAddr::from),
        (0u16..3).prop_map(|x| IpAddr::from([0xfd00, 0, 0, 0, 0, 0, 0, x])),
    ]
}

fn packet() -> impl Strategy<Value = Pkt> {
    (
        addr(),
        addr(),
        prop::sample::select(vec![1u8, 6, 17, 58, 132, 47]),
        prop::option::of((
            prop::sample::select(vec![80u16, 443, 53, 85, 40000]),
            any::<u16>(),
        )),
        prop::sample::select(vec![Fragment::None, Fragment::First, Fragment::Later]),
        prop::collection::vec(0u16..4096, 0..3),
        0u32..2000,
    )
        .prop_map(|(src, dst, proto, ports, fragment, vlans, len)| Pkt {
            src,
            dst,
            proto,
            ports,
            fragment,
            vlans,
            len,
        })
}

/// Every address is in namespace `kube-system`, pod `web-1`.
struct Everyone;

impl NameLookup for Everyone {
    fn names(&self, _addr: IpAddr) -> Names<'_> {
        Names {
            namespace: Some("kube-system"),
            pod: Some("web-1"),
            workload: Some("web"),
            service: Some("api-1"),
            node: Some("a"),
        }
    }
}

#[track_caller]
fn check_error_position(expr: &str) {
    if let Err(e) = Filter::parse(expr) {
        assert!(
            e.position <= expr.chars().count(),
            "{expr:?}: error position {} past the end",
            e.position
        );
        assert!(!e.to_string().is_empty());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let text = String::from_utf8_lossy(&bytes);
        check_error_position(&text);
    }

    #[test]
    fn random_text_never_panics(text in "\\PC{0,40}") {
        check_error_position(&text);
    }

    #[test]
    fn token_soup_never_panics(expr in soup(), pkt in packet()) {
        check_error_position(&expr);
        if let Ok(filter) = Filter::parse(&expr) {
            filter.matches(&pkt, &Everyone);
        }
    }

    #[test]
    fn explicit_rendering_means_the_same(expr in expression(), pkt in packet()) {
        check_error_position(&expr);
        if let Ok(filter) = Filter::parse(&expr) {
            let explicit = filter.to_string();
            let again = Filter::parse(&explicit)
                .unwrap_or_else(|e| panic!("{expr:?} rendered as {explicit:?}, which fails: {e}"));
            prop_assert_eq!(again.to_string(), explicit.clone());
            prop_assert_eq!(
                again.matches(&pkt, &Everyone),
                filter.matches(&pkt, &Everyone),
                "{:?} and its rendering {:?} disagree on {:?}", expr, explicit, pkt
            );
        }
    }

    /// The compiled jumps implement not/and/or: checked against the
    /// verdicts of the parts.
    #[test]
    fn operators_combine_verdicts(a in expression(), b in expression(), pkt in packet()) {
        let (Ok(fa), Ok(fb)) = (Filter::parse(&a), Filter::parse(&b)) else {
            return Ok(());
        };
        let (va, vb) = (fa.matches(&pkt, &Everyone), fb.matches(&pkt, &Everyone));
        let eval = |e: String| Filter::parse(&e).unwrap().matches(&pkt, &Everyone);
        prop_assert_eq!(eval(format!("not ({a})")), !va);
        prop_assert_eq!(eval(format!("({a}) and ({b})")), va && vb);
        prop_assert_eq!(eval(format!("({a}) or ({b})")), va || vb);
        // Left to right, equal precedence: `(b or a) and not b`; with `and`
        // binding tighter it would be `b or (a and not b)`, i.e. `a or b`.
        prop_assert_eq!(eval(format!("({b}) or ({a}) and not ({b})")), va && !vb);
    }
}

/// The generator above must mostly produce expressions that parse, or the
/// two properties using it test little.
#[test]
fn generated_expressions_mostly_parse() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let strategy = expression();
    let total = 500;
    let parsed = (0..total)
        .filter(|_| {
            let expr = strategy.new_tree(&mut runner).unwrap().current();
            Filter::parse(&expr).is_ok()
        })
        .count();
    assert!(
        parsed * 2 > total,
        "only {parsed} of {total} generated expressions parse"
    );
}
