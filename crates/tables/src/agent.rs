//! Tables written by the capture agent (`retina-capture`) and read by the
//! analyzer. Columns may be added; the ones named in the analyzer's contract
//! (`reason` and the 5-tuple of `drops`) keep their names and types.

table! {
    /// `drops.parquet`: one row per packet the kernel freed as a drop.
    pub static DROPS: TableDef = "drops", row DropTableRow, names DropTableColumns;
    doc: "One row per packet the kernel dropped (tracepoint `skb/kfree_skb` with a drop reason other \
          than the normal consume path), written by `retina-capture`.";
    columns {
        time: Timestamp, "When the kernel dropped the packet (UTC).",
        reason: Str, "The kernel's `enum skb_drop_reason` name without the `SKB_DROP_REASON_` prefix, e.g. `NETFILTER_DROP`, `NO_SOCKET`; read from the running kernel's tracepoint format.",
        reason_code: U32, "The numeric drop reason on the running kernel (numbers differ between kernels; prefer `reason`).",
        location: Option<Str>, "Kernel code location that dropped the packet, symbolized through /proc/kallsyms (`symbol+0xoff`).",
        ifindex: U32, "Interface index of the skb's device (0 when none).",
        ifname: Option<Str>, "Interface name for `ifindex`, when known.",
        protocol: U8, "IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6; 0 when the packet is not IP).",
        src_ip: Option<Str>, "Source address as text (IPv4 dotted or IPv6).",
        dst_ip: Option<Str>, "Destination address as text.",
        src_port: Option<U16>, "Source port (TCP/UDP).",
        dst_port: Option<U16>, "Destination port (TCP/UDP).",
        len: U32, "skb->len at drop time (counts from the current data pointer, not the wire length).",
        l3_proto: U16, "skb->protocol: the EtherType of the packet (0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP).",
        netns: U32, "Inode number of the network namespace of the skb's device (else its socket); 0 when unknown. Compare with `stat -L -c %i /proc/PID/ns/net`.",
    }
}

table! {
    /// `retrans.parquet`: one row per TCP retransmission (retransmitted skb) of the kernel.
    pub static RETRANS: TableDef = "retrans", row RetransTableRow, names RetransTableColumns;
    doc: "One row per TCP retransmission (tracepoint `tcp/tcp_retransmit_skb`, fired once per \
          retransmitted skb, which can carry several segments), written by `retina-capture`.";
    columns {
        time: Timestamp, "When the kernel retransmitted the segment (UTC).",
        src_ip: Str, "Local (sending) address as text.",
        dst_ip: Str, "Remote address as text.",
        src_port: U16, "Local port.",
        dst_port: U16, "Remote port.",
        state: Str, "TCP state of the socket, e.g. `ESTABLISHED`, `SYN_SENT`.",
        err: I64, "Result of the retransmission attempt as the kernel reports it (0 sent; a negative errno when the segment could not be sent).",
        netns: U32, "Inode number of the socket's network namespace (0 when unknown).",
    }
}
