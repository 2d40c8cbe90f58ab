/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * retina-capture: structures shared by the BPF programs (the .bpf.c files in
 * crates/ebpf/src) and user space (crates/capture-agent/src/abi.rs mirrors every struct here
 * field by field, with the same sizes checked on both sides).
 *
 * Byte order is noted on every field: "host" = the CPU's order (what user
 * space reads as a native integer), "network" = big endian as on the wire.
 * All structs are laid out without implicit padding.
 */
#ifndef RETINA_H
#define RETINA_H

#include <linux/types.h>

#define RETINA_MAX_NETS 16
#define RETINA_MAX_PORTS 16
#define RETINA_MAX_PROTOS 8
/* Largest snap length: the per-CPU copy buffer holds this many frame bytes. */
#define RETINA_MAX_SNAPLEN 65535
#define RETINA_SKIP_WORDS 8 /* 512 drop reasons */

/* Indexes of the per-CPU "retina_stats" array (every object has one). */
#define RETINA_STAT_MATCHED 0 /* events that passed the filters */
#define RETINA_STAT_LOST 1    /* events lost because the ring buffer was full */
#define RETINA_STAT_TRUNCATED 2 /* packets: copy failed (bpf_skb_load_bytes) */
#define RETINA_STAT_COUNT 4

/* One CIDR of the --net filter. 20 bytes. */
struct retina_net {
	__u8 family;     /* 0 unused, 2 AF_INET, 10 AF_INET6 */
	__u8 prefix_len; /* bits, host */
	__u8 pad[2];
	__u8 addr[16];   /* network order; IPv4 in the first 4 bytes */
};

/*
 * Filters and tracepoint layout, written by user space into element 0 of the
 * "retina_config" array before any program is attached.
 */
struct retina_config {
	__u32 snaplen;   /* host; 1..RETINA_MAX_SNAPLEN */
	__u32 n_nets;    /* host; 0 = no address filter */
	__u32 n_ports;   /* host; 0 = no port filter */
	__u32 n_protos;  /* host; 0 = no protocol filter */
	struct retina_net nets[RETINA_MAX_NETS];
	__u16 ports[RETINA_MAX_PORTS];  /* host */
	__u8 protos[RETINA_MAX_PROTOS]; /* IP protocol numbers */
	/* skb/kfree_skb tracepoint field offsets (from its format file), host */
	__u32 kfree_skbaddr_off;
	__u32 kfree_location_off;
	__u32 kfree_reason_off;
	/* tcp/tcp_retransmit_skb field offsets, host */
	__u32 rt_skaddr_off;
	__u32 rt_state_off;
	__u32 rt_sport_off;
	__u32 rt_dport_off;
	__u32 rt_family_off;
	__u32 rt_saddr_v6_off;
	__u32 rt_daddr_v6_off;
	__u32 rt_err_off; /* 0xffffffff when the tracepoint has no err field */
	__u32 pad;
	/* bit n set: drop reason n is not reported (e.g. SKB_CONSUMED), host */
	__u64 skip_reasons[RETINA_SKIP_WORDS];
};
#define RETINA_CONFIG_SIZE (16 + 20 * RETINA_MAX_NETS + 2 * RETINA_MAX_PORTS + RETINA_MAX_PROTOS + 12 * 4 + 8 * RETINA_SKIP_WORDS)
_Static_assert(sizeof(struct retina_config) == RETINA_CONFIG_SIZE, "retina_config layout");

/* Ring buffer "retina_packets": one record per captured frame. 24 bytes + data. */
struct retina_pkt {
	__u64 ts_ns;     /* CLOCK_MONOTONIC (bpf_ktime_get_ns), host */
	__u32 ifindex;   /* host */
	__u32 wire_len;  /* skb->len: the whole frame from the MAC header, host */
	__u32 cap_len;   /* bytes of data[] that follow, host; <= snaplen */
	__u8 direction;  /* 0 ingress (received), 1 egress (sent) */
	__u8 pad[3];
	/* followed by cap_len bytes: the frame from its MAC header, as on the wire */
};
#define RETINA_PKT_HDR 24
_Static_assert(sizeof(struct retina_pkt) == RETINA_PKT_HDR, "retina_pkt layout");

#define RETINA_DIR_INGRESS 0
#define RETINA_DIR_EGRESS 1

/* Ring buffer "retina_events", kind 1: a packet the kernel dropped. 96 bytes. */
struct retina_drop {
	__u32 kind;      /* RETINA_EV_DROP, host */
	__u32 reason;    /* enum skb_drop_reason number of the running kernel, host */
	__u64 ts_ns;     /* CLOCK_MONOTONIC, host */
	__u64 location;  /* kernel text address that freed the skb, host */
	__u32 ifindex;   /* skb->dev->ifindex, 0 when no device, host */
	__u32 netns;     /* inode of the device's (else the socket's) network namespace, 0 unknown, host */
	__u32 len;       /* skb->len at drop time, host */
	__u16 l3_proto;  /* skb->protocol (ETH_P_*), host */
	__u8 family;     /* 2 AF_INET, 10 AF_INET6, 0 not IP */
	__u8 ip_proto;   /* IP protocol number, 0 when not IP */
	__u16 sport;     /* host; 0 when none */
	__u16 dport;     /* host; 0 when none */
	__u8 has_ports;  /* 1 when sport/dport are valid */
	__u8 pad[3];
	__u8 saddr[16];  /* network order; IPv4 in the first 4 bytes */
	__u8 daddr[16];  /* network order */
	char ifname[16]; /* skb->dev->name, NUL-terminated */
};
#define RETINA_DROP_SIZE 96
_Static_assert(sizeof(struct retina_drop) == RETINA_DROP_SIZE, "retina_drop layout");

/* Ring buffer "retina_events", kind 2: a TCP retransmission. 64 bytes. */
struct retina_retrans {
	__u32 kind;      /* RETINA_EV_RETRANS, host */
	__u32 state;     /* TCP state (TCP_ESTABLISHED = 1 ...), host */
	__u64 ts_ns;     /* CLOCK_MONOTONIC, host */
	__u16 family;    /* 2 AF_INET, 10 AF_INET6, host */
	__u16 sport;     /* local port, host */
	__u16 dport;     /* remote port, host */
	__u16 pad;
	__s32 err;       /* result of the retransmission (0 sent), host */
	__u32 netns;     /* inode of the socket's network namespace, host */
	__u8 saddr[16];  /* local address, network order; IPv4 in the first 4 bytes */
	__u8 daddr[16];  /* remote address, network order */
};
#define RETINA_RETRANS_SIZE 64
_Static_assert(sizeof(struct retina_retrans) == RETINA_RETRANS_SIZE, "retina_retrans layout");

#define RETINA_EV_DROP 1
#define RETINA_EV_RETRANS 2

#endif
