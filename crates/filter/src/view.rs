//! What a filter reads: the caller's decoded packet ([`PacketView`]), its
//! Kubernetes name index ([`NameLookup`]) and flow records ([`Flow`]).
//!
//! These are traits and plain structs so that this crate needs neither the
//! analyzer's packet type nor any Kubernetes code.

use std::net::IpAddr;

/// Where a packet sits in a fragmented IP datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fragment {
    /// Not a fragment.
    #[default]
    None,
    /// The first fragment (offset 0): it carries the transport header.
    First,
    /// A later fragment: its bytes are the middle or end of the datagram.
    Later,
}

/// A decoded IP packet, as the filter sees it.
///
/// The filter only ever sees IP packets: frames that are not IP (ARP, STP, …)
/// are never offered to it. All methods are called per evaluation, so they
/// should be plain field reads.
pub trait PacketView {
    /// Source address of the IP header the caller decoded (for tunnelled
    /// traffic the analyzer reports the inner header). Its family is the
    /// packet's IP version.
    fn src(&self) -> IpAddr;
    /// Destination address of that header.
    fn dst(&self) -> IpAddr;
    /// Upper-layer protocol: the IPv4 protocol field, or for IPv6 the next
    /// header after the extension headers (the fragment header's next header
    /// for fragments).
    fn ip_proto(&self) -> u8;
    /// Source and destination ports for TCP, UDP and SCTP; `None` when the
    /// protocol has none or the captured bytes end before them. Ports given
    /// for a [`Fragment::Later`] packet (learned from its first fragment) are
    /// ignored, as tcpdump ignores them.
    fn ports(&self) -> Option<(u16, u16)>;
    /// Fragment position of the packet.
    fn fragment(&self) -> Fragment;
    /// 802.1Q / 802.1ad VLAN ids of the frame, outermost first; empty when
    /// the frame carries no tag.
    fn vlan_ids(&self) -> &[u16];
    /// Length of the frame on the wire (tcpdump's `len`), link header included.
    fn wire_len(&self) -> u32;
}

/// Kubernetes names known for one address. Every field is optional: a pod
/// address has a namespace, pod, usually a workload and a node; a service
/// address a namespace and service; a node address a node.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Names<'a> {
    /// Namespace of the pod or service.
    pub namespace: Option<&'a str>,
    /// Pod name.
    pub pod: Option<&'a str>,
    /// The pod's controller (Deployment, StatefulSet, DaemonSet, …) name.
    pub workload: Option<&'a str>,
    /// Service name.
    pub service: Option<&'a str>,
    /// The node this address is on: the node's own name for a node address,
    /// the node the pod is scheduled on for a pod address.
    pub node: Option<&'a str>,
}

/// The caller's index from address to Kubernetes names.
///
/// Called at most once per address per evaluation, and only when the filter
/// has a Kubernetes term ([`crate::Filter::uses_k8s`]).
pub trait NameLookup {
    /// Names for an address; [`Names::default()`] when nothing is known.
    fn names(&self, addr: IpAddr) -> Names<'_>;
}

/// A lookup that knows no names: Kubernetes terms match nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoNames;

impl NameLookup for NoNames {
    fn names(&self, _addr: IpAddr) -> Names<'_> {
        Names::default()
    }
}

impl<T: NameLookup + ?Sized> NameLookup for &T {
    fn names(&self, addr: IpAddr) -> Names<'_> {
        (**self).names(addr)
    }
}

/// A flow record (a Hubble flow, a flow-table row): a 5-tuple and the names
/// of both ends, no frames.
///
/// Which end is `src` does not matter: a flow matches when a packet of it in
/// either direction would ([`crate::FlowFilter::matches`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow<'a> {
    /// Upper-layer IP protocol.
    pub proto: u8,
    /// Address of one end (the initiator, when known).
    pub src: IpAddr,
    /// Address of the other end.
    pub dst: IpAddr,
    /// Source and destination ports, for protocols that have them.
    pub ports: Option<(u16, u16)>,
    /// Kubernetes names of `src` (the record's, or from a [`NameLookup`]).
    pub src_names: Names<'a>,
    /// Kubernetes names of `dst`.
    pub dst_names: Names<'a>,
}
