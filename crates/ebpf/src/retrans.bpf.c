/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * TCP retransmissions: tracepoint tcp/tcp_retransmit_skb. Field offsets come
 * from user space (the tracepoint's format file); the socket's network
 * namespace is read with CO-RE.
 */
#include "retina_bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} retina_events SEC(".maps");

SEC("tracepoint/tcp/tcp_retransmit_skb")
int retina_tcp_retransmit_skb(void *ctx)
{
	const struct retina_config *cfg = retina_cfg();
	if (!cfg)
		return 0;

	struct retina_tuple t = {};
	__u16 family = 0;
	bpf_probe_read_kernel(&family, 2, ctx + (cfg->rt_family_off & 0xfff));
	bpf_probe_read_kernel(&t.sport, 2, ctx + (cfg->rt_sport_off & 0xfff));
	bpf_probe_read_kernel(&t.dport, 2, ctx + (cfg->rt_dport_off & 0xfff));
	__u8 s6[16], d6[16];
	bpf_probe_read_kernel(s6, 16, ctx + (cfg->rt_saddr_v6_off & 0xfff));
	bpf_probe_read_kernel(d6, 16, ctx + (cfg->rt_daddr_v6_off & 0xfff));
	t.ip_proto = IPPROTO_TCP;
	t.has_ports = 1;
	if (family == AF_INET) {
		/* IPv4 addresses are stored v4-mapped (::ffff:a.b.c.d) in the v6 fields */
		t.family = AF_INET;
		__builtin_memcpy(t.saddr, &s6[12], 4);
		__builtin_memcpy(t.daddr, &d6[12], 4);
	} else {
		t.family = AF_INET6;
		__builtin_memcpy(t.saddr, s6, 16);
		__builtin_memcpy(t.daddr, d6, 16);
	}
	if (retina_has_filter(cfg) && !retina_filter(cfg, &t))
		return 0;
	retina_count(RETINA_STAT_MATCHED);

	struct retina_retrans *e = bpf_ringbuf_reserve(&retina_events, sizeof(*e), 0);
	if (!e) {
		retina_count(RETINA_STAT_LOST);
		return 0;
	}
	e->kind = RETINA_EV_RETRANS;
	e->ts_ns = bpf_ktime_get_ns();
	e->family = family;
	e->sport = t.sport;
	e->dport = t.dport;
	e->pad = 0;
	__builtin_memcpy(e->saddr, t.saddr, 16);
	__builtin_memcpy(e->daddr, t.daddr, 16);
	__s32 state = 0, err = 0;
	bpf_probe_read_kernel(&state, 4, ctx + (cfg->rt_state_off & 0xfff));
	if (cfg->rt_err_off != 0xffffffff)
		bpf_probe_read_kernel(&err, 4, ctx + (cfg->rt_err_off & 0xfff));
	e->state = state;
	e->err = err;
	e->netns = 0;
	struct sock *sk = 0;
	bpf_probe_read_kernel(&sk, sizeof(sk), ctx + (cfg->rt_skaddr_off & 0xfff));
	if (sk)
		e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
