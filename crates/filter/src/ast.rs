//! The parsed expression: a tree of and/or/not over primitive tests, with
//! every implicit qualifier already made explicit.
//!
//! `Display` writes the tree back in the filter language, fully explicit and
//! parenthesized (`host a or b` becomes `(host a or host b)`), which is what
//! the parser's tests compare and what a user can be shown.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::glob::Pattern;

/// Which address (or port, or name) of a packet a test looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ends {
    Src,
    Dst,
    /// No direction qualifier, or `src or dst`.
    Either,
    /// `src and dst`.
    Both,
}

/// Either end of a packet, for lookups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Src,
    Dst,
}

impl Ends {
    /// Applies `test` to the ends this qualifier names, stopping early.
    #[inline]
    pub(crate) fn any_all(self, mut test: impl FnMut(End) -> bool) -> bool {
        match self {
            Ends::Src => test(End::Src),
            Ends::Dst => test(End::Dst),
            Ends::Either => test(End::Src) || test(End::Dst),
            Ends::Both => test(End::Src) && test(End::Dst),
        }
    }

    fn prefix(self) -> &'static str {
        match self {
            Ends::Src => "src ",
            Ends::Dst => "dst ",
            Ends::Either => "",
            Ends::Both => "src and dst ",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Version {
    V4,
    V6,
}

/// Transports a port test applies to, as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transports(u8);

impl Transports {
    pub(crate) const TCP: Transports = Transports(1);
    pub(crate) const UDP: Transports = Transports(2);
    pub(crate) const SCTP: Transports = Transports(4);
    /// What a port test without a protocol qualifier tests (tcpdump's
    /// `port` is TCP, UDP and SCTP).
    pub(crate) const ALL: Transports = Transports(7);

    #[inline]
    pub(crate) fn has(self, ip_proto: u8) -> bool {
        let bit = match ip_proto {
            6 => 1,
            17 => 2,
            132 => 4,
            _ => return false,
        };
        self.0 & bit != 0
    }

    fn prefix(self) -> &'static str {
        match self {
            Transports::TCP => "tcp ",
            Transports::UDP => "udp ",
            Transports::SCTP => "sctp ",
            _ => "",
        }
    }
}

/// Kubernetes object kinds a name term tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameKind {
    Namespace,
    Pod,
    Workload,
    Service,
    Node,
}

impl NameKind {
    pub(crate) fn keyword(self) -> &'static str {
        match self {
            NameKind::Namespace => "ns",
            NameKind::Pod => "pod",
            NameKind::Workload => "workload",
            NameKind::Service => "service",
            NameKind::Node => "node",
        }
    }
}

/// One primitive test on a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Test {
    /// `ip` / `ip6`.
    Version(Version),
    /// `tcp`, `icmp`, `ip proto N`, `proto N`, …: the upper-layer protocol,
    /// optionally only in one IP version.
    Proto { version: Option<Version>, proto: u8 },
    /// `host` / `net` on IPv4: `addr & mask == net`.
    Net4 { ends: Ends, net: u32, mask: u32 },
    /// `host` / `net` on IPv6.
    Net6 { ends: Ends, net: u128, mask: u128 },
    /// `port` / `portrange`: an inclusive range on the given transports.
    Port {
        ends: Ends,
        transports: Transports,
        lo: u16,
        hi: u16,
    },
    /// `vlan` / `vlan N`.
    Vlan(Option<u16>),
    /// `less N`: wire length ≤ N.
    Less(u32),
    /// `greater N`: wire length ≥ N.
    Greater(u32),
    /// `ns`, `pod`, `workload`, `service`, `node`. `namespace` is set for
    /// the kinds written `NAMESPACE/NAME`; for `ns` the pattern is `name`.
    Name {
        ends: Ends,
        kind: NameKind,
        namespace: Option<Pattern>,
        name: Pattern,
    },
}

impl Test {
    /// Tests that need a frame, which a flow record does not have.
    pub(crate) fn frame_only(&self) -> Option<&'static str> {
        match self {
            Test::Vlan(_) => Some("vlan"),
            Test::Less(_) => Some("less"),
            Test::Greater(_) => Some("greater"),
            _ => None,
        }
    }
}

/// Prefix length of a contiguous mask, `None` for masks like 255.0.255.0.
fn prefix_len4(mask: u32) -> Option<u32> {
    let len = mask.leading_ones();
    (mask.checked_shl(len).unwrap_or(0) == 0).then_some(len)
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Test::Version(Version::V4) => f.write_str("ip"),
            Test::Version(Version::V6) => f.write_str("ip6"),
            Test::Proto { version, proto } => match (version, proto) {
                (None, 6) => f.write_str("tcp"),
                (None, 17) => f.write_str("udp"),
                (None, 132) => f.write_str("sctp"),
                (Some(Version::V4), 1) => f.write_str("icmp"),
                (Some(Version::V6), 58) => f.write_str("icmp6"),
                (None, p) => write!(f, "proto {p}"),
                (Some(Version::V4), p) => write!(f, "ip proto {p}"),
                (Some(Version::V6), p) => write!(f, "ip6 proto {p}"),
            },
            Test::Net4 { ends, net, mask } => {
                let ends = ends.prefix();
                let addr = Ipv4Addr::from(*net);
                match prefix_len4(*mask) {
                    Some(32) => write!(f, "{ends}host {addr}"),
                    Some(len) => write!(f, "{ends}net {addr}/{len}"),
                    None => write!(f, "{ends}net {addr} mask {}", Ipv4Addr::from(*mask)),
                }
            }
            Test::Net6 { ends, net, mask } => {
                let ends = ends.prefix();
                let addr = Ipv6Addr::from(*net);
                // IPv6 masks come only from a prefix length.
                match mask.leading_ones() {
                    128 => write!(f, "{ends}host {addr}"),
                    len => write!(f, "{ends}net {addr}/{len}"),
                }
            }
            Test::Port {
                ends,
                transports,
                lo,
                hi,
            } => {
                let (ends, transports) = (ends.prefix(), transports.prefix());
                if lo == hi {
                    write!(f, "{transports}{ends}port {lo}")
                } else {
                    write!(f, "{transports}{ends}portrange {lo}-{hi}")
                }
            }
            Test::Vlan(None) => f.write_str("vlan"),
            Test::Vlan(Some(id)) => write!(f, "vlan {id}"),
            Test::Less(n) => write!(f, "less {n}"),
            Test::Greater(n) => write!(f, "greater {n}"),
            Test::Name {
                ends,
                kind,
                namespace,
                name,
            } => {
                write!(f, "{}{} ", ends.prefix(), kind.keyword())?;
                match namespace {
                    Some(ns) => write!(f, "{ns}/{name}"),
                    None => write!(f, "{name}"),
                }
            }
        }
    }
}

/// The expression tree. `at` is the character offset of the primitive in
/// the expression, for errors found after parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// The empty expression: everything matches, as in tcpdump.
    True,
    Test {
        test: Test,
        at: usize,
    },
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
}

impl Node {
    /// Every primitive test, in order.
    pub(crate) fn tests(&self, out: &mut impl FnMut(&Test, usize)) {
        match self {
            Node::True => {}
            Node::Test { test, at } => out(test, *at),
            Node::Not(a) => a.tests(out),
            Node::And(a, b) | Node::Or(a, b) => {
                a.tests(out);
                b.tests(out);
            }
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::True => Ok(()),
            Node::Test { test, .. } => test.fmt(f),
            Node::Not(a) => write!(f, "not {a}"),
            Node::And(a, b) => write!(f, "({a} and {b})"),
            Node::Or(a, b) => write!(f, "({a} or {b})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_lengths() {
        assert_eq!(prefix_len4(0xffff_ffff), Some(32));
        assert_eq!(prefix_len4(0xff00_0000), Some(8));
        assert_eq!(prefix_len4(0), Some(0));
        assert_eq!(prefix_len4(0xff00_ff00), None);
    }

    #[test]
    fn transports() {
        assert!(Transports::ALL.has(132));
        assert!(Transports::TCP.has(6));
        assert!(!Transports::TCP.has(17));
        assert!(!Transports::ALL.has(1));
    }
}
