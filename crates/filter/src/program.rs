//! The compiled filter: the expression tree flattened into a list of tests
//! with a jump on success and a jump on failure, like a BPF program.
//!
//! `and`, `or` and `not` become jumps, so an evaluation is a walk along one
//! path through the list: no recursion, no stack, no allocation, and it
//! stops at the first test that decides the result (tcpdump's evaluation
//! order).

use std::net::IpAddr;

use crate::ast::{End, NameKind, Node, Test, Version};
use crate::view::{Fragment, NameLookup, Names, PacketView};

/// Jump targets past the end of the list: the verdicts.
const ACCEPT: u32 = u32::MAX;
const REJECT: u32 = u32::MAX - 1;

#[derive(Debug, Clone)]
struct Insn {
    test: Test,
    on_true: u32,
    on_false: u32,
}

#[derive(Debug, Clone)]
pub(crate) struct Program {
    insns: Box<[Insn]>,
    entry: u32,
}

impl Program {
    pub(crate) fn compile(node: &Node) -> Program {
        let mut insns = Vec::new();
        let entry = emit(node, ACCEPT, REJECT, &mut insns);
        Program {
            insns: insns.into_boxed_slice(),
            entry,
        }
    }

    /// Runs the program on a packet; `names` answers the Kubernetes tests.
    #[inline]
    pub(crate) fn run<P: PacketView + ?Sized, N: NameSource>(
        &self,
        pkt: &P,
        names: &mut N,
    ) -> bool {
        let mut pc = self.entry;
        loop {
            match pc {
                ACCEPT => return true,
                REJECT => return false,
                _ => {}
            }
            // `emit` only ever jumps to instructions it pushed before, so
            // every index is in range and the walk ends.
            let insn = &self.insns[pc as usize];
            pc = if eval(&insn.test, pkt, names) {
                insn.on_true
            } else {
                insn.on_false
            };
        }
    }
}

/// Appends the code of `node` and returns its first instruction. The code
/// continues at `yes` when `node` holds and at `no` when not. Operands are
/// emitted right to left so that every jump target exists already.
fn emit(node: &Node, yes: u32, no: u32, out: &mut Vec<Insn>) -> u32 {
    match node {
        Node::True => yes,
        Node::Test { test, .. } => {
            out.push(Insn {
                test: test.clone(),
                on_true: yes,
                on_false: no,
            });
            // The parser allows at most 1000 tests, far below the verdicts.
            (out.len() - 1) as u32
        }
        Node::Not(a) => emit(a, no, yes, out),
        Node::And(a, b) => {
            let b = emit(b, yes, no, out);
            emit(a, b, no, out)
        }
        Node::Or(a, b) => {
            let b = emit(b, yes, no, out);
            emit(a, yes, b, out)
        }
    }
}

/// Where the Kubernetes tests get the names of a packet's two ends.
pub(crate) trait NameSource {
    fn names(&mut self, end: End) -> Names<'_>;
}

/// Names from the caller's index, looked up at most once per end and only
/// when a test asks.
pub(crate) struct Lookup<'l, L: ?Sized> {
    lookup: &'l L,
    addrs: [IpAddr; 2],
    cache: [Option<Names<'l>>; 2],
}

impl<'l, L: NameLookup + ?Sized> Lookup<'l, L> {
    pub(crate) fn new(lookup: &'l L, src: IpAddr, dst: IpAddr) -> Self {
        Lookup {
            lookup,
            addrs: [src, dst],
            cache: [None, None],
        }
    }
}

impl<L: NameLookup + ?Sized> NameSource for Lookup<'_, L> {
    fn names(&mut self, end: End) -> Names<'_> {
        let i = end as usize;
        *self.cache[i].get_or_insert_with(|| self.lookup.names(self.addrs[i]))
    }
}

/// Names given with the packet (a flow record's).
pub(crate) struct Given<'a>(pub(crate) [Names<'a>; 2]);

impl NameSource for Given<'_> {
    fn names(&mut self, end: End) -> Names<'_> {
        self.0[end as usize]
    }
}

fn version_of(addr: IpAddr) -> Version {
    match addr {
        IpAddr::V4(_) => Version::V4,
        IpAddr::V6(_) => Version::V6,
    }
}

#[inline]
fn eval<P: PacketView + ?Sized, N: NameSource>(test: &Test, pkt: &P, names: &mut N) -> bool {
    let addr = |end: End| match end {
        End::Src => pkt.src(),
        End::Dst => pkt.dst(),
    };
    match test {
        Test::Version(v) => version_of(pkt.src()) == *v,
        Test::Proto { version, proto } => {
            version.is_none_or(|v| version_of(pkt.src()) == v) && pkt.ip_proto() == *proto
        }
        Test::Net4 { ends, net, mask } => ends.any_all(|end| match addr(end) {
            IpAddr::V4(a) => u32::from(a) & mask == *net,
            IpAddr::V6(_) => false,
        }),
        Test::Net6 { ends, net, mask } => ends.any_all(|end| match addr(end) {
            IpAddr::V6(a) => u128::from(a) & mask == *net,
            IpAddr::V4(_) => false,
        }),
        Test::Port {
            ends,
            transports,
            lo,
            hi,
        } => {
            // A later fragment has no transport header: tcpdump's port
            // tests fail on it even when the caller knows its ports.
            if !transports.has(pkt.ip_proto()) || pkt.fragment() == Fragment::Later {
                return false;
            }
            let Some((sport, dport)) = pkt.ports() else {
                return false;
            };
            ends.any_all(|end| {
                let port = if end == End::Src { sport } else { dport };
                (*lo..=*hi).contains(&port)
            })
        }
        Test::Vlan(None) => !pkt.vlan_ids().is_empty(),
        Test::Vlan(Some(id)) => pkt.vlan_ids().contains(id),
        Test::Less(n) => pkt.wire_len() <= *n,
        Test::Greater(n) => pkt.wire_len() >= *n,
        Test::Name {
            ends,
            kind,
            namespace,
            name,
        } => ends.any_all(|end| {
            let n = names.names(end);
            let in_namespace = namespace.as_ref().is_none_or(|ns| ns.matches(n.namespace));
            in_namespace
                && name.matches(match kind {
                    NameKind::Namespace => n.namespace,
                    NameKind::Pod => n.pod,
                    NameKind::Workload => n.workload,
                    NameKind::Service => n.service,
                    NameKind::Node => n.node,
                })
        }),
    }
}
