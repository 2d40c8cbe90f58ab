//! Kernel drops and kernel TCP retransmissions (the capture agent's
//! tables, read by [`crate::source::agent`]) joined to the flows of the
//! capture by 5-tuple and time, and every drop reason sorted into the
//! family that says what it means for an incident ([`family`]).

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;

use crate::report::drops::NO_INTERFACE;
use crate::report::{
    DropCounts, DropFamily, DropReason, DropsSummary, Endpoint, EndpointDrops, FlowDrops,
    FlowRecord, RetransSummary,
};
use crate::source::agent::{DropEvent, RetransEvent};

/// Kernel functions whose `NOT_SPECIFIED` frees are normal processing, not
/// loss: TCP frees a segment it has fully handled in a closing state (an
/// ACK or FIN needs no queueing), and IPv6 frees multicast the host has not
/// joined (router and neighbour solicitations on a veth).
const NORMAL_UNSPECIFIED_AT: [&str; 2] = ["tcp_rcv_state_process+", "ip6_mc_input+"];

/// The family of a drop: [`family`], except the `NOT_SPECIFIED` frees of
/// code that frees handled packets that way (see [`NORMAL_UNSPECIFIED_AT`]).
pub fn family_at(reason: &str, location: Option<&str>) -> DropFamily {
    match (reason, location) {
        ("NOT_SPECIFIED", Some(l)) if NORMAL_UNSPECIFIED_AT.iter().any(|f| l.starts_with(f)) => {
            DropFamily::Normal
        }
        _ => family(reason),
    }
}

/// The family of a kernel drop reason (`enum skb_drop_reason` names,
/// without the `SKB_DROP_REASON_` prefix). Names change between kernels;
/// unknown ones are [`DropFamily::Other`].
pub fn family(reason: &str) -> DropFamily {
    use DropFamily::*;
    match reason {
        // A socket closing with data still queued, or a queue flushed on
        // purpose: the kernel frees what nobody will read. Not loss.
        "QUEUE_PURGE" | "SOCKET_CLOSE" | "UNIX_DISCONNECT" | "UNIX_SKIP_OOB" | "DUP_FRAG" => Normal,
        "NETFILTER_DROP" | "XFRM_POLICY" | "BPF_CGROUP_EGRESS" | "SECURITY_HOOK" | "TC_EGRESS"
        | "TC_INGRESS" | "XDP" | "SOCKET_FILTER" | "TC_CHAIN_NOTFOUND" | "TC_RECLASSIFY_LOOP" => {
            Policy
        }
        "NO_SOCKET" | "IP_NOPROTO" | "UNHANDLED_PROTO" => NoListener,
        "QDISC_DROP"
        | "QDISC_OVERLIMIT"
        | "QDISC_CONGESTED"
        | "CAKE_FLOOD"
        | "FQ_BAND_LIMIT"
        | "FQ_HORIZON_LIMIT"
        | "FQ_FLOW_LIMIT"
        | "CPU_BACKLOG"
        | "FULL_RING"
        | "SOCKET_RCVBUFF"
        | "SOCKET_BACKLOG"
        | "PROTO_MEM"
        | "NOMEM"
        | "TCP_LISTEN_OVERFLOW"
        | "TAP_FILTER"
        | "TAP_TXFILTER"
        | "FRAG_REASM_TIMEOUT" => Congestion,
        "PKT_TOO_BIG" => Mtu,
        "NOT_SPECIFIED" => Unspecified,
        r if r.starts_with("NEIGH_") => Routing,
        "IP_OUTNOROUTES"
        | "IP_INNOROUTES"
        | "OTHERHOST"
        | "IP_RPFILTER"
        | "IP_INADDRERRORS"
        | "IP_LOCAL_SOURCE"
        | "IP_INVALID_SOURCE"
        | "IP_LOCALNET"
        | "IP_INVALID_DEST"
        | "UNICAST_IN_L2_MULTICAST"
        | "IPV6DISABLED"
        | "NO_TX_TARGET"
        | "VXLAN_VNI_NOT_FOUND"
        | "LOCAL_MAC"
        | "MAC_IS_MULTICAST"
        | "MAC_INVALID_SOURCE"
        | "DEV_READY"
        | "IPV6_NDISC_NS_OTHERHOST" => Routing,
        "TCP_CSUM" | "UDP_CSUM" | "IP_CSUM" | "ICMP_CSUM" | "SKB_CSUM" | "IP_INHDR"
        | "PKT_TOO_SMALL" | "HDR_TRUNC" | "DEV_HDR" | "INVALID_PROTO" | "IPV6_BAD_EXTHDR"
        | "IPV6BADEXTHDR" | "VXLAN_INVALID_HDR" | "FRAG_TOO_FAR" | "TCP_FLAGS" | "TCP_AUTH_HDR" => {
            Header
        }
        r if r.starts_with("IPV6_NDISC_") => Header,
        r if r.starts_with("TCP_MD5") || r.starts_with("TCP_AO") => Header,
        r if r.starts_with("TCP_") => TcpReceiver,
        _ => Other,
    }
}

/// Canonical (order-free) key of a 5-tuple; ports are ignored for portless protocols.
type Key = (u8, (IpAddr, u16), (IpAddr, u16));

fn key(proto: u8, a: (IpAddr, u16), b: (IpAddr, u16)) -> Key {
    let has_ports = matches!(proto, 6 | 17 | 132);
    let (a, b) = if has_ports {
        (a, b)
    } else {
        ((a.0, 0), (b.0, 0))
    };
    if a <= b {
        (proto, a, b)
    } else {
        (proto, b, a)
    }
}

/// Slack around a flow's lifetime within which a drop still belongs to it:
/// a drop can precede the first captured packet (the SYN that never got
/// through) or follow the last.
const SLACK_NS: i64 = 10_000_000_000;

/// Flows with drops listed in the summary.
const TOP_FLOWS: usize = 20;

/// Flows listed per reason.
const FLOWS_PER_REASON: usize = 20;
/// Servers listed per reason.
const SERVERS_PER_REASON: usize = 10;

/// Per-reason accumulation while drops are joined.
#[derive(Default)]
struct ReasonAcc {
    count: u64,
    attributed: u64,
    by_interface: BTreeMap<String, u64>,
    by_location: BTreeMap<String, u64>,
    flows: HashMap<usize, u64>,
    servers: HashMap<Endpoint, u64>,
    first: Option<i64>,
    last: Option<i64>,
}

/// Counts `events` per flow (setting `flows[].drops`) and for the run, by
/// reason with where each hit (flows, servers, interfaces, code locations).
/// Normal-life frees are counted apart and never make a flow "dropped".
pub fn attribute(
    flows: &mut [FlowRecord],
    events: &[DropEvent],
    files: Vec<PathBuf>,
) -> DropsSummary {
    let index = FlowIndex::new(flows);
    let mut sum = DropsSummary {
        files,
        ..DropsSummary::default()
    };
    let mut per_flow: HashMap<usize, DropCounts> = HashMap::new();
    // By reason and family: a reason can be normal at one code location and loss at another.
    let mut reasons: BTreeMap<(&str, DropFamily), ReasonAcc> = BTreeMap::new();
    for e in events {
        let fam = family_at(&e.reason, e.location.as_deref());
        let loss = fam.is_loss();
        sum.count += 1;
        if loss {
            sum.loss += 1;
        } else {
            sum.normal += 1;
        }
        let iface = e.interface.clone().unwrap_or_else(|| NO_INTERFACE.into());
        *sum.by_reason.entry(e.reason.clone()).or_default() += 1;
        *sum.by_interface.entry(iface.clone()).or_default() += 1;
        if let Some(l) = &e.location {
            *sum.by_location.entry(l.clone()).or_default() += 1;
        }
        let r = reasons.entry((e.reason.as_str(), fam)).or_default();
        r.count += 1;
        *r.by_interface.entry(iface).or_default() += 1;
        if let Some(l) = &e.location {
            *r.by_location.entry(l.clone()).or_default() += 1;
        }
        if let Some(t) = e.time_ns {
            r.first = Some(r.first.map_or(t, |f| f.min(t)));
            r.last = Some(r.last.map_or(t, |l| l.max(t)));
        }
        let flow = index.find(
            flows,
            e.protocol,
            (e.src_ip, e.src_port),
            (e.dst_ip, e.dst_port),
            e.time_ns,
        );
        match flow {
            Some(i) => {
                per_flow.entry(i).or_default().add(&e.reason, loss);
                r.attributed += 1;
                *r.flows.entry(i).or_default() += 1;
                *r.servers.entry(flows[i].server).or_default() += 1;
            }
            // Lost packets of no captured flow (normal-life frees are not loss).
            None if loss => sum.unattributed += 1,
            None => {}
        }
    }
    let mut top: Vec<FlowDrops> = per_flow
        .iter()
        .filter(|(_, d)| d.count > 0)
        .map(|(i, d)| FlowDrops {
            flow: flows[*i].id,
            count: d.count,
        })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then(a.flow.cmp(&b.flow)));
    top.truncate(TOP_FLOWS);
    sum.top_flows = top;
    sum.reasons = reasons
        .into_iter()
        .map(|((reason, fam), r)| {
            let mut fl: Vec<FlowDrops> = r
                .flows
                .iter()
                .map(|(i, n)| FlowDrops {
                    flow: flows[*i].id,
                    count: *n,
                })
                .collect();
            fl.sort_by(|a, b| b.count.cmp(&a.count).then(a.flow.cmp(&b.flow)));
            fl.truncate(FLOWS_PER_REASON);
            let mut servers: Vec<EndpointDrops> = r
                .servers
                .into_iter()
                .map(|(endpoint, count)| EndpointDrops { endpoint, count })
                .collect();
            servers.sort_by(|a, b| b.count.cmp(&a.count).then(a.endpoint.cmp(&b.endpoint)));
            servers.truncate(SERVERS_PER_REASON);
            DropReason {
                reason: reason.to_string(),
                family: fam,
                count: r.count,
                attributed: r.attributed,
                by_interface: r.by_interface,
                by_location: r.by_location,
                flows: fl,
                servers,
                first_ts_ns: r.first,
                last_ts_ns: r.last,
            }
        })
        .collect();
    sum.reasons.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.reason.cmp(&b.reason))
            .then(a.family.cmp(&b.family))
    });
    for (i, d) in per_flow {
        flows[i].drops = Some(d);
    }
    sum
}

/// Names the kernel drops of packets lost between two capture points: a
/// flow's lost drops that the agent recorded on the node of either point
/// (`nodes[i]` is the node of `events[i]`'s table, `point_nodes[p]` the
/// node of point `p`) go to its `lost_between[].kernel_drops`.
pub fn join_lost_between(
    flows: &mut [FlowRecord],
    events: &[DropEvent],
    nodes: &[Option<String>],
    point_nodes: &[Option<String>],
) {
    if !flows.iter().any(|f| !f.lost_between.is_empty()) {
        return;
    }
    let index = FlowIndex::new(flows);
    for (e, node) in events.iter().zip(nodes) {
        let Some(node) = node else { continue };
        if !family_at(&e.reason, e.location.as_deref()).is_loss() {
            continue;
        }
        let Some(i) = index.find(
            flows,
            e.protocol,
            (e.src_ip, e.src_port),
            (e.dst_ip, e.dst_port),
            e.time_ns,
        ) else {
            continue;
        };
        let on_node = |p: u32| point_nodes.get(p as usize).and_then(|n| n.as_ref()) == Some(node);
        if let Some(l) = flows[i]
            .lost_between
            .iter_mut()
            .find(|l| on_node(l.to) || on_node(l.from))
        {
            *l.kernel_drops.entry(e.reason.clone()).or_default() += 1;
        }
    }
}

/// Flows by canonical 5-tuple, to join kernel events to them.
pub struct FlowIndex {
    by_key: HashMap<Key, Vec<usize>>,
}

impl FlowIndex {
    pub fn new(flows: &[FlowRecord]) -> FlowIndex {
        let mut by_key: HashMap<Key, Vec<usize>> = HashMap::new();
        for (i, f) in flows.iter().enumerate() {
            let proto = match f.proto.as_str() {
                "tcp" => 6,
                "udp" => 17,
                "icmp" => 1,
                "icmpv6" => 58,
                "sctp" => 132,
                _ => continue,
            };
            by_key
                .entry(key(
                    proto,
                    (f.client.ip, f.client.port),
                    (f.server.ip, f.server.port),
                ))
                .or_default()
                .push(i);
        }
        FlowIndex { by_key }
    }

    /// Index (in `flows`) of the flow an event with this 5-tuple and time belongs to.
    pub fn find(
        &self,
        flows: &[FlowRecord],
        proto: u8,
        src: (Option<IpAddr>, Option<u16>),
        dst: (Option<IpAddr>, Option<u16>),
        t: Option<i64>,
    ) -> Option<usize> {
        let (Some(s), Some(d)) = (src.0, dst.0) else {
            return None;
        };
        let k = key(proto, (s, src.1.unwrap_or(0)), (d, dst.1.unwrap_or(0)));
        self.by_key.get(&k).and_then(|c| pick(flows, c, t))
    }
}

/// Counts kernel retransmissions per flow (`flows[].kernel_retransmissions`) and for the run.
pub fn attribute_retrans(
    flows: &mut [FlowRecord],
    events: &[RetransEvent],
    files: Vec<PathBuf>,
) -> RetransSummary {
    let index = FlowIndex::new(flows);
    let mut sum = RetransSummary {
        files,
        ..RetransSummary::default()
    };
    let mut per_flow: HashMap<usize, u64> = HashMap::new();
    for e in events {
        sum.count += 1;
        *sum.by_state.entry(e.state.clone()).or_default() += 1;
        match index.find(
            flows,
            6,
            (e.src_ip, e.src_port),
            (e.dst_ip, e.dst_port),
            e.time_ns,
        ) {
            Some(i) => *per_flow.entry(i).or_default() += 1,
            None => sum.unattributed += 1,
        }
    }
    for (i, n) in per_flow {
        flows[i].kernel_retransmissions = Some(n);
    }
    sum
}

/// The flow among those with the drop's 5-tuple whose lifetime holds the
/// drop's time (with slack); else the nearest in time.
fn pick(flows: &[FlowRecord], cands: &[usize], t: Option<i64>) -> Option<usize> {
    let Some(t) = t else {
        return cands.first().copied();
    };
    let distance = |i: &usize| {
        let f = &flows[*i];
        let first = f.first_ts_ns;
        let last = f.last_ts_ns;
        if t < first {
            first - t
        } else if t > last {
            t - last
        } else {
            0
        }
    };
    let best = cands.iter().min_by_key(|i| distance(i))?;
    (distance(best) <= SLACK_NS).then_some(*best)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_of_the_reasons_an_incident_meets() {
        for (r, f) in [
            ("NETFILTER_DROP", DropFamily::Policy),
            ("NO_SOCKET", DropFamily::NoListener),
            ("QDISC_DROP", DropFamily::Congestion),
            ("TCP_LISTEN_OVERFLOW", DropFamily::Congestion),
            ("NEIGH_FAILED", DropFamily::Routing),
            ("IP_OUTNOROUTES", DropFamily::Routing),
            ("OTHERHOST", DropFamily::Routing),
            ("PKT_TOO_BIG", DropFamily::Mtu),
            ("TCP_CSUM", DropFamily::Header),
            ("TCP_OLD_DATA", DropFamily::TcpReceiver),
            ("TCP_OFO_DROP", DropFamily::TcpReceiver),
            ("QUEUE_PURGE", DropFamily::Normal),
            ("NOT_SPECIFIED", DropFamily::Unspecified),
            ("SOMETHING_NEW", DropFamily::Other),
        ] {
            assert_eq!(family(r), f, "{r}");
        }
        assert_eq!(
            family_at("NOT_SPECIFIED", Some("tcp_rcv_state_process+0x1c6")),
            DropFamily::Normal
        );
        assert_eq!(
            family_at("NOT_SPECIFIED", Some("ip_rcv_core+0x10")),
            DropFamily::Unspecified
        );
        assert!(!DropFamily::Normal.is_loss());
        assert!(DropFamily::TcpReceiver.is_loss());
    }
}
