/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * Kernel-side helpers shared by the retina-capture BPF programs: the maps
 * every object has (config, stats), the in-kernel filter, and the minimal
 * kernel structs read with CO-RE (relocated against /sys/kernel/btf/vmlinux
 * at load time, so field offsets follow the running kernel).
 */
#ifndef RETINA_BPF_H
#define RETINA_BPF_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "retina.h"

#define AF_INET 2
#define AF_INET6 10

/* ---- minimal kernel types, CO-RE relocated (names match the kernel's) ---- */
#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)
struct ns_common {
	unsigned int inum;
};
struct net {
	struct ns_common ns;
};
typedef struct {
	struct net *net;
} possible_net_t;
struct net_device {
	int ifindex;
	char name[16];
	possible_net_t nd_net;
};
struct sock_common {
	possible_net_t skc_net;
};
struct sock {
	struct sock_common __sk_common;
};
struct sk_buff {
	struct net_device *dev;
	struct sock *sk;
	unsigned int len;
	__be16 protocol;
	__u16 transport_header;
	__u16 network_header;
	unsigned char *head;
};
#pragma clang attribute pop

/* ---- maps every object has ---- */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct retina_config);
} retina_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RETINA_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} retina_stats SEC(".maps");

static __always_inline void retina_count(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&retina_stats, &idx);
	if (v)
		*v += 1;
}

static __always_inline const struct retina_config *retina_cfg(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&retina_config, &zero);
}

/* A parsed 5-tuple; addresses in network order, ports in host order. */
struct retina_tuple {
	__u8 family;   /* 0 not IP */
	__u8 ip_proto;
	__u8 has_ports;
	__u8 pad;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
};

static __always_inline int retina_in_net(const struct retina_net *n, const __u8 *addr)
{
	__u32 bits = n->prefix_len;
#pragma clang loop unroll(full)
	for (int i = 0; i < 16; i++) {
		if (bits == 0)
			return 1;
		__u8 mask = bits >= 8 ? 0xff : (__u8)(0xff << (8 - bits));
		if ((addr[i] & mask) != (n->addr[i] & mask))
			return 0;
		bits = bits >= 8 ? bits - 8 : 0;
	}
	return 1;
}

/*
 * The capture filters: every configured kind (--net, --port, --proto) must
 * match; within a kind, any entry matching either endpoint is enough.
 * Returns 1 to keep the event.
 */
static __always_inline int retina_filter(const struct retina_config *cfg, const struct retina_tuple *t)
{
	if (cfg->n_protos) {
		int ok = 0;
		for (int i = 0; i < RETINA_MAX_PROTOS; i++) {
			if (i >= cfg->n_protos)
				break;
			if (t->family && cfg->protos[i] == t->ip_proto)
				ok = 1;
		}
		if (!ok)
			return 0;
	}
	if (cfg->n_ports) {
		int ok = 0;
		if (!t->has_ports)
			return 0;
		for (int i = 0; i < RETINA_MAX_PORTS; i++) {
			if (i >= cfg->n_ports)
				break;
			if (cfg->ports[i] == t->sport || cfg->ports[i] == t->dport)
				ok = 1;
		}
		if (!ok)
			return 0;
	}
	if (cfg->n_nets) {
		int ok = 0;
		for (int i = 0; i < RETINA_MAX_NETS; i++) {
			if (i >= cfg->n_nets)
				break;
			const struct retina_net *n = &cfg->nets[i];
			if (n->family != t->family)
				continue;
			if (retina_in_net(n, t->saddr) || retina_in_net(n, t->daddr)) {
				ok = 1;
				break;
			}
		}
		if (!ok)
			return 0;
	}
	return 1;
}

static __always_inline int retina_has_filter(const struct retina_config *cfg)
{
	return cfg->n_protos || cfg->n_ports || cfg->n_nets;
}

static __always_inline int retina_l4_has_ports(__u8 proto)
{
	return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP ||
	       proto == IPPROTO_UDPLITE;
}

char LICENSE[] SEC("license") = "GPL";

#endif
