/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Packets: TC (clsact / TCX) programs on ingress and egress of the chosen
 * interfaces. Each frame that passes the filters is copied (up to the snap
 * length) into the "retina_packets" ring buffer with a timestamp, the
 * interface index and the direction. The programs never change the packet
 * and never decide its fate: they return TC_ACT_UNSPEC (TCX_NEXT), so the
 * next program in the chain, or the default action (pass), applies exactly
 * as if they were not there.
 */
#include "retina_bpf.h"

#define TC_ACT_UNSPEC (-1)

/* Ring buffer of struct retina_pkt records (size set by user space). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} retina_packets SEC(".maps");

/* Length of the link-layer header per ifindex (14 Ethernet, 0 raw IP);
 * interfaces missing here are treated as Ethernet. Written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} retina_l2len SEC(".maps");

static __always_inline int parse(struct __sk_buff *skb, struct retina_tuple *t)
{
	__u32 ifindex = skb->ifindex;
	__u32 *l2p = bpf_map_lookup_elem(&retina_l2len, &ifindex);
	__u32 off = l2p ? *l2p : 14;
	__u16 proto = bpf_ntohs(skb->protocol);

	if (off == 14) {
		__be16 inner;
		/* one 802.1Q / 802.1ad tag left in the frame */
		if (proto == ETH_P_8021Q || proto == ETH_P_8021AD) {
			if (bpf_skb_load_bytes(skb, 16, &inner, 2))
				return 0;
			proto = bpf_ntohs(inner);
			off = 18;
		}
	} else {
		off = 0;
	}

	if (proto == ETH_P_IP) {
		__u8 ip[20];
		if (bpf_skb_load_bytes(skb, off, ip, 20))
			return 0;
		if ((ip[0] >> 4) != 4)
			return 0;
		t->family = AF_INET;
		t->ip_proto = ip[9];
		__builtin_memcpy(t->saddr, &ip[12], 4);
		__builtin_memcpy(t->daddr, &ip[16], 4);
		__u16 frag = ((__u16)ip[6] << 8 | ip[7]) & 0x1fff;
		if (frag == 0 && retina_l4_has_ports(t->ip_proto)) {
			__u8 p[4];
			__u32 l4 = off + (ip[0] & 0xf) * 4;
			if (bpf_skb_load_bytes(skb, l4, p, 4) == 0) {
				t->sport = (__u16)p[0] << 8 | p[1];
				t->dport = (__u16)p[2] << 8 | p[3];
				t->has_ports = 1;
			}
		}
	} else if (proto == ETH_P_IPV6) {
		__u8 ip[40];
		if (bpf_skb_load_bytes(skb, off, ip, 40))
			return 0;
		if ((ip[0] >> 4) != 6)
			return 0;
		t->family = AF_INET6;
		t->ip_proto = ip[6];
		__builtin_memcpy(t->saddr, &ip[8], 16);
		__builtin_memcpy(t->daddr, &ip[24], 16);
		if (retina_l4_has_ports(t->ip_proto)) {
			__u8 p[4];
			if (bpf_skb_load_bytes(skb, off + 40, p, 4) == 0) {
				t->sport = (__u16)p[0] << 8 | p[1];
				t->dport = (__u16)p[2] << 8 | p[3];
				t->has_ports = 1;
			}
		}
	}
	return 0;
}

/* Reserve a record of header + SIZE bytes, copy n (<= SIZE) frame bytes
 * into it, submit; count a loss when the ring is full. */
#define COPY_IN(SIZE)                                                               \
	do {                                                                        \
		struct retina_pkt *e = bpf_ringbuf_reserve(&retina_packets,        \
							   RETINA_PKT_HDR + (SIZE), 0); \
		if (!e) {                                                           \
			retina_count(RETINA_STAT_LOST);                             \
			return;                                                     \
		}                                                                   \
		__u64 len = n;                                                      \
		/* opaque to the compiler: the bounds below are checked on the  \
		 * register passed to the helper (for the verifier) */           \
		asm volatile("" : "+r"(len));                                       \
		if (len < 1 || len > (SIZE)) {                                      \
			bpf_ringbuf_discard(e, 0);                                  \
			return;                                                     \
		}                                                                   \
		if (bpf_skb_load_bytes(skb, 0, (__u8 *)(e + 1), len)) {             \
			retina_count(RETINA_STAT_TRUNCATED);                        \
			bpf_ringbuf_discard(e, 0);                                  \
			return;                                                     \
		}                                                                   \
		e->ts_ns = bpf_ktime_get_ns();                                      \
		e->ifindex = skb->ifindex;                                          \
		e->wire_len = skb->len;                                             \
		e->cap_len = len;                                                   \
		e->direction = dir;                                                 \
		e->pad[0] = e->pad[1] = e->pad[2] = 0;                              \
		bpf_ringbuf_submit(e, 0);                                           \
	} while (0)

static __always_inline void capture(struct __sk_buff *skb, __u8 direction)
{
	const struct retina_config *cfg = retina_cfg();
	if (!cfg)
		return;
	if (retina_has_filter(cfg)) {
		struct retina_tuple t = {};
		parse(skb, &t);
		if (!retina_filter(cfg, &t))
			return;
	}
	retina_count(RETINA_STAT_MATCHED);

	__u32 n = skb->len;
	__u32 snap = cfg->snaplen;
	if (n > snap)
		n = snap;
	if (n > RETINA_MAX_SNAPLEN)
		n = RETINA_MAX_SNAPLEN;
	if (n < 1)
		return;
	/*
	 * One copy, straight into the ring: the record is reserved in the
	 * smallest size class that holds the frame (reservations need a
	 * constant size), so small packets use little ring space.
	 */
	__u8 dir = direction;
	if (n <= 128)
		COPY_IN(128);
	else if (n <= 256)
		COPY_IN(256);
	else if (n <= 576)
		COPY_IN(576);
	else if (n <= 1024)
		COPY_IN(1024);
	else if (n <= 1536)
		COPY_IN(1536);
	else if (n <= 4096)
		COPY_IN(4096);
	else if (n <= 9216)
		COPY_IN(9216);
	else if (n <= 16384)
		COPY_IN(16384);
	else if (n <= 32768)
		COPY_IN(32768);
	else
		COPY_IN(RETINA_MAX_SNAPLEN);
}

SEC("classifier/ingress")
int retina_tc_ingress(struct __sk_buff *skb)
{
	capture(skb, RETINA_DIR_INGRESS);
	return TC_ACT_UNSPEC;
}

SEC("classifier/egress")
int retina_tc_egress(struct __sk_buff *skb)
{
	capture(skb, RETINA_DIR_EGRESS);
	return TC_ACT_UNSPEC;
}
