//! tcpdump filter expressions (pcap-filter(7)) for the analyzer's decoded
//! packets and flow records, with Kubernetes names on top.
//!
//! ```
//! use retina_filter::{Filter, Fragment, NoNames, PacketView};
//! use std::net::IpAddr;
//!
//! struct Pkt { src: IpAddr, dst: IpAddr, ports: (u16, u16) }
//! impl PacketView for Pkt {
//!     fn src(&self) -> IpAddr { self.src }
//!     fn dst(&self) -> IpAddr { self.dst }
//!     fn ip_proto(&self) -> u8 { 6 }
//!     fn ports(&self) -> Option<(u16, u16)> { Some(self.ports) }
//!     fn fragment(&self) -> Fragment { Fragment::None }
//!     fn vlan_ids(&self) -> &[u16] { &[] }
//!     fn wire_len(&self) -> u32 { 60 }
//! }
//!
//! let filter = Filter::parse("tcp port 80 or 443 and not net 10.1")?;
//! let pkt = Pkt { src: "10.2.0.1".parse()?, dst: "10.1.0.9".parse()?, ports: (40000, 443) };
//! assert!(!filter.matches(&pkt, &NoNames)); // (port 80 or port 443) and not net 10.1.0.0/16
//! assert_eq!(filter.to_string(), "((tcp port 80 or tcp port 443) and not net 10.1.0.0/16)");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Grammar
//!
//! Primitives, each optionally preceded by a direction qualifier (`src`,
//! `dst`, `src or dst`, `src and dst`; none means `src or dst`) where it
//! tests an address, port or name:
//!
//! | primitive | meaning |
//! |---|---|
//! | `host ADDR` | IPv4 or IPv6 address; `[ip\|ip6] [DIR] host`; `DIR ADDR` alone means host |
//! | `net NET` | `10.0.0.0/8`, `fd00::/8`, `10.0.0.0 mask 255.0.0.0`, and tcpdump's short forms: `net 10` = 10.0.0.0/8, `net 10.1` = 10.1.0.0/16, `net 10.1.2` = /24 |
//! | `port P` | number or service name (`http`, `domain`, `ssh`, …: a fixed table); `[tcp\|udp\|sctp] [DIR] port` |
//! | `portrange A-B` | inclusive; `portrange 80` is `80-80` |
//! | `tcp`, `udp`, `sctp`, `icmp`, `icmp6`, `ip`, `ip6` | protocol and version tests |
//! | `[ip\|ip6] proto N` | protocol number or name (`\tcp`, `tcp`, `udp`, `icmp`, `gre`, `esp`, …) |
//! | `vlan`, `vlan N` | the frame has an 802.1Q/802.1ad tag (with id N) |
//! | `less N`, `greater N` | frame length on the wire ≤ N, ≥ N |
//! | `ns NS` | address in namespace NS |
//! | `pod NS/NAME`, `service NS/NAME` | address of that pod or service |
//! | `workload NS/NAME`, `workload NAME` | address of a pod of that workload (any namespace without `NS/`) |
//! | `node NAME` | a node's address, or a pod on that node |
//!
//! Kubernetes names may use `*` (any run of characters) and `?` (one
//! character); `*/api` is any namespace. They are answered by the caller's
//! [`NameLookup`] (or by the names in a [`Flow`]); an address with no known
//! names matches no name term, not even `*`.
//!
//! Combinations: `not`/`!`, `and`/`&&`, `or`/`||`, parentheses. Negation binds
//! tightest; `and` and `or` have **equal** precedence and associate left to
//! right, as in tcpdump: `a or b and c` is `(a or b) and c`.
//!
//! A value after `and`/`or` with no qualifier of its own borrows those of the
//! term before it: `host a or b` is `host a or host b`, `tcp port 80 or 443`
//! is `tcp port 80 or tcp port 443`, `host a and (b or not c)` repeats
//! `host` inside. Terms like `tcp`, `vlan 5` or `less 100` lend nothing, so
//! `tcp or 80` is an error. A keyword after `and`/`or` always starts a new
//! primitive: `ip proto tcp or udp` is `ip proto 6 or udp`, while
//! `ip proto tcp or \udp` is `ip proto 6 or ip proto 17`. The empty
//! expression matches everything.
//!
//! Keywords are lower case. Numbers are decimal or `0x` hexadecimal; a
//! leading zero is refused (tcpdump would read it as octal).
//!
//! # Semantics
//!
//! A filter tests what the caller's [`PacketView`] reports. As in tcpdump:
//! `ip` is IPv4 only and `ip6` IPv6 only; `icmp` is ICMP over IPv4 and
//! `icmp6` ICMPv6 over IPv6; `tcp`, `udp`, `sctp` and `proto N` cover both
//! versions; `host` and `net` match either address (per the direction
//! qualifier) and only addresses of their own family; `port` and
//! `portrange` match TCP, UDP and SCTP only, and never a non-first IP
//! fragment (it has no transport header); a service name narrows the test
//! to the transports it is registered for (`port http` is `tcp port 80`,
//! `udp port http` is an error); `less`/`greater` compare the frame's length
//! on the wire.
//!
//! Flow records have no frames: [`Filter::for_flows`] refuses `vlan`,
//! `less` and `greater`, and a flow matches when a packet of it in either
//! direction would.
//!
//! # Differences from tcpdump
//!
//! The analyzer decodes every frame down to its innermost IP header; tcpdump
//! tests fixed offsets. Where that gives a different answer, this crate
//! follows the decoded packet:
//!
//! * **VLAN.** tcpdump's `vlan` is stateful: it matches a tag at the current
//!   offset and moves every later test 4 bytes in, so `tcp port 80` alone
//!   never matches a tagged frame and `vlan 20` only checks the outer tag.
//!   Here `vlan` means "the frame carries an 802.1Q/802.1ad tag", `vlan N`
//!   "a tag with id N, anywhere in the stack", and every other test sees
//!   through the tags: an expression `X` selects what tcpdump's `X` selects
//!   when preceded by as many `vlan` keywords as the frame has tags (the
//!   equivalence test builds that expression for up to two tags).
//! * **Tunnels.** The analyzer reports the inner packet of VXLAN and Geneve
//!   traffic, so `host`, `port` … test inner headers; tcpdump tests the
//!   outer ones (`geneve`/`vxlan` keywords are refused here).
//! * **IPv6 extension headers.** tcpdump's `port` reads the ports only when
//!   the fixed header's next header is TCP/UDP/SCTP, and `tcp`, `proto N`,
//!   `icmp6` look through at most one fragment header. Here the protocol is
//!   the upper-layer one after all extension headers, with its ports (the
//!   first fragment of a fragmented IPv6 datagram matches `port`). In turn
//!   `ip6 proto 0`/`43`/`44`/`60` (an extension header) never match.
//! * **Non-IP frames** are never tested. tcpdump's `host`/`net` also match
//!   ARP and RARP sender/target addresses.
//! * **Snapshot length.** A tcpdump filter that reads past the captured
//!   bytes rejects the packet outright, whatever the rest of the expression
//!   says; here only the tests that need those bytes are false (the caller
//!   reports `None` ports).
//! * **Names.** Host names are not resolved (`host example.com` is an
//!   error), and service and protocol names come from a fixed table rather
//!   than `/etc/services` and `/etc/protocols`, so the answer does not
//!   depend on the machine. `proto tcp` and `ip proto tcp` are accepted
//!   besides tcpdump's `proto \tcp`.
//! * **Refused rather than guessed:** tcpdump's `host 10.1` (it means the
//!   network 10.1.0.0/16) and `host 10` (0.0.0.10), numbers with a leading
//!   zero, protocol numbers above 255, and the primitives not listed above
//!   (`ether`, `arp`, `gateway`, `broadcast`, byte-offset arithmetic, …),
//!   each with an error saying why.
//!
//! # Evaluation
//!
//! [`Filter::parse`] compiles the expression into a flat list of tests with
//! jumps (like a BPF program). [`Filter::matches`] walks it without
//! allocating and stops at the first test that decides; Kubernetes names
//! are looked up at most once per address, and only if a name term is
//! reached.

#![warn(missing_docs)]

mod ast;
mod error;
mod glob;
mod names;
mod parse;
mod program;
mod view;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

pub use error::{FlowFilterError, ParseError, ParseErrorKind};
pub use view::{Flow, Fragment, NameLookup, Names, NoNames, PacketView};

use ast::{Node, Test};
use program::{Given, Lookup, Program};

/// A parsed and compiled filter expression.
#[derive(Debug, Clone)]
pub struct Filter {
    tree: Node,
    program: Program,
    uses_k8s: bool,
}

impl Filter {
    /// Parses and compiles an expression.
    pub fn parse(expr: &str) -> Result<Filter, ParseError> {
        let tree = parse::parse(expr)?;
        let mut uses_k8s = false;
        tree.tests(&mut |t, _| uses_k8s |= matches!(t, Test::Name { .. }));
        let program = Program::compile(&tree);
        Ok(Filter {
            tree,
            program,
            uses_k8s,
        })
    }

    /// Whether the packet passes the filter. `names` is consulted only for
    /// Kubernetes terms; pass [`NoNames`] when there is no index.
    #[inline]
    pub fn matches<P, L>(&self, pkt: &P, names: &L) -> bool
    where
        P: PacketView + ?Sized,
        L: NameLookup + ?Sized,
    {
        let mut names = Lookup::new(names, pkt.src(), pkt.dst());
        self.program.run(pkt, &mut names)
    }

    /// Whether the expression has a Kubernetes term (`ns`, `pod`,
    /// `workload`, `service`, `node`): without known names those match
    /// nothing, which the caller should say.
    pub fn uses_k8s(&self) -> bool {
        self.uses_k8s
    }

    /// Whether the expression was empty, matching everything.
    pub fn is_empty(&self) -> bool {
        self.tree == Node::True
    }

    /// The filter for flow records, if it tests nothing a flow lacks
    /// (`vlan`, `less`, `greater`).
    pub fn for_flows(&self) -> Result<FlowFilter, FlowFilterError> {
        let mut frame_only = None;
        self.tree.tests(&mut |t, at| {
            if let (true, Some(primitive)) = (frame_only.is_none(), t.frame_only()) {
                frame_only = Some(FlowFilterError::FrameOnly {
                    primitive,
                    position: at,
                });
            }
        });
        match frame_only {
            Some(e) => Err(e),
            None => Ok(FlowFilter {
                program: self.program.clone(),
                uses_k8s: self.uses_k8s,
            }),
        }
    }
}

impl FromStr for Filter {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Filter::parse(s)
    }
}

/// The expression with every qualifier written out and every `and`/`or`
/// parenthesized: `host a or b and port 53` shows as
/// `((host a or host b) and port 53)`.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.tree.fmt(f)
    }
}

/// A filter checked to need no frame, for flow records ([`Filter::for_flows`]).
#[derive(Debug, Clone)]
pub struct FlowFilter {
    program: Program,
    uses_k8s: bool,
}

impl FlowFilter {
    /// Whether a packet of the flow, in either direction, would pass.
    pub fn matches(&self, flow: &Flow<'_>) -> bool {
        [false, true].into_iter().any(|reverse| {
            let view = Oriented { flow, reverse };
            let mut names = if reverse {
                Given([flow.dst_names, flow.src_names])
            } else {
                Given([flow.src_names, flow.dst_names])
            };
            self.program.run(&view, &mut names)
        })
    }

    /// See [`Filter::uses_k8s`].
    pub fn uses_k8s(&self) -> bool {
        self.uses_k8s
    }
}

/// A flow seen as a packet in one direction. The frame-only methods are
/// never reached: [`Filter::for_flows`] refused the tests that call them.
struct Oriented<'f, 'n> {
    flow: &'f Flow<'n>,
    reverse: bool,
}

impl PacketView for Oriented<'_, '_> {
    fn src(&self) -> IpAddr {
        if self.reverse {
            self.flow.dst
        } else {
            self.flow.src
        }
    }

    fn dst(&self) -> IpAddr {
        if self.reverse {
            self.flow.src
        } else {
            self.flow.dst
        }
    }

    fn ip_proto(&self) -> u8 {
        self.flow.proto
    }

    fn ports(&self) -> Option<(u16, u16)> {
        let (s, d) = self.flow.ports?;
        Some(if self.reverse { (d, s) } else { (s, d) })
    }

    fn fragment(&self) -> Fragment {
        Fragment::None
    }

    fn vlan_ids(&self) -> &[u16] {
        &[]
    }

    fn wire_len(&self) -> u32 {
        0
    }
}

#[cfg(test)]
mod tests;
