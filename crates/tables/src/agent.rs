//! Tables written by the capture agent (`retina-capture`) and read by the
//! analyzer. Columns may be added; the ones named in the analyzer's contract
//! (`reason` and the 5-tuple of `drops`) keep their names and types.

use crate::{col, opt, ColType::*, TableDef};

/// `drops.parquet`: one row per packet the kernel freed as a drop.
pub static DROPS: TableDef = TableDef {
    name: "drops",
    doc: "One row per packet the kernel dropped (tracepoint `skb/kfree_skb` with a drop reason other \
          than the normal consume path), written by `retina-capture`.",
    columns: &[
        col("time", Timestamp, "When the kernel dropped the packet (UTC)."),
        col("reason", Str, "The kernel's `enum skb_drop_reason` name without the `SKB_DROP_REASON_` prefix, e.g. `NETFILTER_DROP`, `NO_SOCKET`; read from the running kernel's tracepoint format."),
        col("reason_code", U32, "The numeric drop reason on the running kernel (numbers differ between kernels; prefer `reason`)."),
        opt("location", Str, "Kernel code location that dropped the packet, symbolized through /proc/kallsyms (`symbol+0xoff`)."),
        col("ifindex", U32, "Interface index of the skb's device (0 when none)."),
        opt("ifname", Str, "Interface name for `ifindex`, when known."),
        col("protocol", U8, "IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6; 0 when the packet is not IP)."),
        opt("src_ip", Str, "Source address as text (IPv4 dotted or IPv6)."),
        opt("dst_ip", Str, "Destination address as text."),
        opt("src_port", U16, "Source port (TCP/UDP)."),
        opt("dst_port", U16, "Destination port (TCP/UDP)."),
        col("len", U32, "skb->len at drop time (counts from the current data pointer, not the wire length)."),
        col("l3_proto", U16, "skb->protocol: the EtherType of the packet (0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP)."),
        col("netns", U32, "Inode number of the network namespace of the skb's device (else its socket); 0 when unknown. Compare with `stat -L -c %i /proc/PID/ns/net`."),
    ],
};

/// `retrans.parquet`: one row per TCP retransmission (retransmitted skb) of the kernel.
pub static RETRANS: TableDef = TableDef {
    name: "retrans",
    doc: "One row per TCP retransmission (tracepoint `tcp/tcp_retransmit_skb`, fired once per \
          retransmitted skb, which can carry several segments), written by `retina-capture`.",
    columns: &[
        col(
            "time",
            Timestamp,
            "When the kernel retransmitted the segment (UTC).",
        ),
        col("src_ip", Str, "Local (sending) address as text."),
        col("dst_ip", Str, "Remote address as text."),
        col("src_port", U16, "Local port."),
        col("dst_port", U16, "Remote port."),
        col(
            "state",
            Str,
            "TCP state of the socket, e.g. `ESTABLISHED`, `SYN_SENT`.",
        ),
        col(
            "err",
            I64,
            "Result of the retransmission attempt as the kernel reports it (0 sent; a negative errno when the segment could not be sent).",
        ),
        col(
            "netns",
            U32,
            "Inode number of the socket's network namespace (0 when unknown).",
        ),
    ],
};
