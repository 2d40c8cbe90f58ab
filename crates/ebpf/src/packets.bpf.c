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

struct retina_copy {
	struct retina_pkt hdr;
	__u8 data[RETINA_MAX_SNAPLEN + 1];
};

/* Copy buffer, one element per CPU (max_entries set by user space to the
 * number of possible CPUs; too large for a per-CPU map). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct retina_copy);
} retina_copybuf SEC(".maps");

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

	__u32 cpu = bpf_get_smp_processor_id();
	struct retina_copy *c = bpf_map_lookup_elem(&retina_copybuf, &cpu);
	if (!c)
		return;

	__u32 n = skb->len;
	__u32 snap = cfg->snaplen;
	if (n > snap)
		n = snap;
	if (n > RETINA_MAX_SNAPLEN)
		n = RETINA_MAX_SNAPLEN;
	if (n < 1 || n > RETINA_MAX_SNAPLEN)
		return;
	if (bpf_skb_load_bytes(skb, 0, c->data, n)) {
		retina_count(RETINA_STAT_TRUNCATED);
		return;
	}
	c->hdr.ts_ns = bpf_ktime_get_ns();
	c->hdr.ifindex = skb->ifindex;
	c->hdr.wire_len = skb->len;
	c->hdr.cap_len = n;
	c->hdr.direction = direction;
	c->hdr.pad[0] = c->hdr.pad[1] = c->hdr.pad[2] = 0;

	__u64 size = RETINA_PKT_HDR + (__u64)n;
	if (size > sizeof(*c))
		return;
	if (bpf_ringbuf_output(&retina_packets, c, size, 0))
		retina_count(RETINA_STAT_LOST);
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
