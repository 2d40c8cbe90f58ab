/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Drops: tracepoint skb/kfree_skb. The kernel fires it when it frees a packet
 * as a drop (kfree_skb_reason with any reason but SKB_CONSUMED; the normal
 * path, consume_skb, fires skb/consume_skb instead). The tracepoint record's
 * layout changes between kernels, so its field offsets come from user space,
 * which reads them from the tracepoint's format file; the packet itself is
 * read from struct sk_buff with CO-RE.
 */
#include "retina_bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} retina_events SEC(".maps");

static __always_inline void read_tuple(struct sk_buff *skb, __u16 l3, struct retina_tuple *t)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	if (!head || nh == 0xffff)
		return;
	unsigned char *ipp = head + nh;

	if (l3 == ETH_P_IP) {
		__u8 ip[20];
		if (bpf_probe_read_kernel(ip, sizeof(ip), ipp))
			return;
		if ((ip[0] >> 4) != 4)
			return;
		t->family = AF_INET;
		t->ip_proto = ip[9];
		__builtin_memcpy(t->saddr, &ip[12], 4);
		__builtin_memcpy(t->daddr, &ip[16], 4);
		__u16 frag = ((__u16)ip[6] << 8 | ip[7]) & 0x1fff;
		if (frag == 0 && retina_l4_has_ports(t->ip_proto)) {
			__u8 p[4];
			if (bpf_probe_read_kernel(p, 4, ipp + (ip[0] & 0xf) * 4) == 0) {
				t->sport = (__u16)p[0] << 8 | p[1];
				t->dport = (__u16)p[2] << 8 | p[3];
				t->has_ports = 1;
			}
		}
	} else if (l3 == ETH_P_IPV6) {
		__u8 ip[40];
		if (bpf_probe_read_kernel(ip, sizeof(ip), ipp))
			return;
		if ((ip[0] >> 4) != 6)
			return;
		t->family = AF_INET6;
		t->ip_proto = ip[6];
		__builtin_memcpy(t->saddr, &ip[8], 16);
		__builtin_memcpy(t->daddr, &ip[24], 16);
		if (retina_l4_has_ports(t->ip_proto)) {
			__u8 p[4];
			if (bpf_probe_read_kernel(p, 4, ipp + 40) == 0) {
				t->sport = (__u16)p[0] << 8 | p[1];
				t->dport = (__u16)p[2] << 8 | p[3];
				t->has_ports = 1;
			}
		}
	}
}

SEC("tracepoint/skb/kfree_skb")
int retina_kfree_skb(void *ctx)
{
	const struct retina_config *cfg = retina_cfg();
	if (!cfg)
		return 0;

	__u32 reason = 0;
	struct sk_buff *skb = 0;
	__u64 location = 0;
	if (bpf_probe_read_kernel(&reason, sizeof(reason), ctx + (cfg->kfree_reason_off & 0xfff)))
		return 0;
	if (reason < RETINA_SKIP_WORDS * 64 &&
	    (cfg->skip_reasons[(reason / 64) & (RETINA_SKIP_WORDS - 1)] >> (reason % 64)) & 1)
		return 0;
	if (bpf_probe_read_kernel(&skb, sizeof(skb), ctx + (cfg->kfree_skbaddr_off & 0xfff)) || !skb)
		return 0;
	bpf_probe_read_kernel(&location, sizeof(location), ctx + (cfg->kfree_location_off & 0xfff));

	__u16 l3 = bpf_ntohs(BPF_CORE_READ(skb, protocol));
	/* Not a network packet (unix sockets, netlink): skb->protocol is 0. */
	if (l3 == 0)
		return 0;

	struct retina_tuple t = {};
	read_tuple(skb, l3, &t);
	if (retina_has_filter(cfg) && !retina_filter(cfg, &t))
		return 0;
	retina_count(RETINA_STAT_MATCHED);

	struct retina_drop *e = bpf_ringbuf_reserve(&retina_events, sizeof(*e), 0);
	if (!e) {
		retina_count(RETINA_STAT_LOST);
		return 0;
	}
	e->kind = RETINA_EV_DROP;
	e->reason = reason;
	e->ts_ns = bpf_ktime_get_ns();
	e->location = location;
	e->len = BPF_CORE_READ(skb, len);
	e->l3_proto = l3;
	e->family = t.family;
	e->ip_proto = t.ip_proto;
	e->sport = t.sport;
	e->dport = t.dport;
	e->has_ports = t.has_ports;
	e->pad[0] = e->pad[1] = e->pad[2] = 0;
	__builtin_memcpy(e->saddr, t.saddr, 16);
	__builtin_memcpy(e->daddr, t.daddr, 16);

	struct net_device *dev = BPF_CORE_READ(skb, dev);
	e->ifindex = 0;
	e->netns = 0;
	__builtin_memset(e->ifname, 0, sizeof(e->ifname));
	if (dev) {
		e->ifindex = BPF_CORE_READ(dev, ifindex);
		BPF_CORE_READ_STR_INTO(&e->ifname, dev, name);
		e->netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
	} else {
		struct sock *sk = BPF_CORE_READ(skb, sk);
		if (sk)
			e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}
