//! User-space mirror of crates/ebpf/include/retina.h. Sizes are checked
//! against the header's constants at compile time; records coming out of the
//! ring buffers are decoded from bytes (host order fields as native integers,
//! addresses in network order).

#![deny(clippy::undocumented_unsafe_blocks)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cli::{MAX_NETS, MAX_PORTS, MAX_PROTOS};

pub const SKIP_WORDS: usize = 8;
pub const STAT_MATCHED: u32 = 0;
pub const STAT_LOST: u32 = 1;
pub const STAT_TRUNCATED: u32 = 2;
pub const PKT_HDR: usize = 24;
pub const DROP_SIZE: usize = 96;
pub const RETRANS_SIZE: usize = 64;
pub const EV_DROP: u32 = 1;
pub const EV_RETRANS: u32 = 2;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct NetC {
    pub family: u8,
    pub prefix_len: u8,
    pub pad: [u8; 2],
    pub addr: [u8; 16],
}

/// `struct retina_config`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub snaplen: u32,
    pub n_nets: u32,
    pub n_ports: u32,
    pub n_protos: u32,
    pub nets: [NetC; MAX_NETS],
    pub ports: [u16; MAX_PORTS],
    pub protos: [u8; MAX_PROTOS],
    pub kfree_skbaddr_off: u32,
    pub kfree_location_off: u32,
    pub kfree_reason_off: u32,
    pub rt_skaddr_off: u32,
    pub rt_state_off: u32,
    pub rt_sport_off: u32,
    pub rt_dport_off: u32,
    pub rt_family_off: u32,
    pub rt_saddr_v6_off: u32,
    pub rt_daddr_v6_off: u32,
    pub rt_err_off: u32,
    pub pad: u32,
    pub skip_reasons: [u64; SKIP_WORDS],
}

/// RETINA_CONFIG_SIZE of retina.h.
const CONFIG_SIZE: usize =
    16 + 20 * MAX_NETS + 2 * MAX_PORTS + MAX_PROTOS + 12 * 4 + 8 * SKIP_WORDS;
const _: () = assert!(std::mem::size_of::<Config>() == CONFIG_SIZE);
const _: () = assert!(std::mem::size_of::<NetC>() == 20);

#[cfg(all(target_os = "linux", retina_bpf))]
// SAFETY: `Config` is `#[repr(C)]`, `Copy`, and made of integers and arrays
// of integers only (`NetC` likewise), so every bit pattern is a valid value;
// it has no padding bytes, since its size, asserted above, is the sum of its
// fields' sizes; aya copies it byte for byte into the BPF programs' config map.
unsafe impl aya::Pod for Config {}

impl Default for Config {
    fn default() -> Self {
        Config {
            snaplen: crate::cli::MAX_SNAPLEN,
            n_nets: 0,
            n_ports: 0,
            n_protos: 0,
            nets: [NetC::default(); MAX_NETS],
            ports: [0; MAX_PORTS],
            protos: [0; MAX_PROTOS],
            kfree_skbaddr_off: 0,
            kfree_location_off: 0,
            kfree_reason_off: 0,
            rt_skaddr_off: 0,
            rt_state_off: 0,
            rt_sport_off: 0,
            rt_dport_off: 0,
            rt_family_off: 0,
            rt_saddr_v6_off: 0,
            rt_daddr_v6_off: 0,
            rt_err_off: u32::MAX,
            pad: 0,
            skip_reasons: [0; SKIP_WORDS],
        }
    }
}

impl Config {
    pub fn from_args(args: &crate::cli::Args) -> Config {
        let mut c = Config {
            snaplen: args.snaplen,
            ..Default::default()
        };
        for (slot, n) in c.nets.iter_mut().zip(&args.nets) {
            slot.prefix_len = n.prefix_len;
            match n.addr {
                IpAddr::V4(a) => {
                    slot.family = AF_INET;
                    slot.addr[..4].copy_from_slice(&a.octets());
                }
                IpAddr::V6(a) => {
                    slot.family = AF_INET6;
                    slot.addr = a.octets();
                }
            }
        }
        c.n_nets = args.nets.len().min(MAX_NETS) as u32;
        for (slot, p) in c.ports.iter_mut().zip(&args.ports) {
            *slot = *p;
        }
        c.n_ports = args.ports.len().min(MAX_PORTS) as u32;
        for (slot, p) in c.protos.iter_mut().zip(&args.protos) {
            *slot = *p;
        }
        c.n_protos = args.protos.len().min(MAX_PROTOS) as u32;
        c
    }

    pub fn skip_reason(&mut self, code: u32) {
        let (w, b) = ((code / 64) as usize, code % 64);
        if w < SKIP_WORDS {
            self.skip_reasons[w] |= 1 << b;
        }
    }
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_ne_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_ne_bytes(b[o..o + 4].try_into().expect("a 4-byte range is a [u8; 4]"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_ne_bytes(
        b[o..o + 8]
            .try_into()
            .expect("an 8-byte range is a [u8; 8]"),
    )
}

/// `struct retina_pkt` and the frame that follows it.
#[derive(Debug)]
pub struct Packet<'a> {
    pub ts_ns: u64,
    pub ifindex: u32,
    pub wire_len: u32,
    pub egress: bool,
    pub data: &'a [u8],
}

impl<'a> Packet<'a> {
    pub fn parse(b: &'a [u8]) -> Option<Packet<'a>> {
        if b.len() < PKT_HDR {
            return None;
        }
        let cap = u32_at(b, 16) as usize;
        let data = b.get(PKT_HDR..PKT_HDR + cap)?;
        Some(Packet {
            ts_ns: u64_at(b, 0),
            ifindex: u32_at(b, 8),
            wire_len: u32_at(b, 12),
            egress: b[20] == 1,
            data,
        })
    }
}

fn addr(family: u8, a: &[u8]) -> Option<IpAddr> {
    match family {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(&a[..16]).expect("a 16-byte range is a [u8; 16]"),
        ))),
        _ => None,
    }
}

/// `struct retina_drop`.
#[derive(Clone, Debug)]
pub struct Drop {
    pub reason: u32,
    pub ts_ns: u64,
    pub location: u64,
    pub ifindex: u32,
    pub netns: u32,
    pub len: u32,
    pub l3_proto: u16,
    pub ip_proto: u8,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub ports: Option<(u16, u16)>,
    pub ifname: String,
}

/// `struct retina_retrans`.
#[derive(Clone, Debug)]
pub struct Retrans {
    pub state: u32,
    pub ts_ns: u64,
    pub src: Option<IpAddr>,
    pub dst: Option<IpAddr>,
    pub sport: u16,
    pub dport: u16,
    pub err: i32,
    pub netns: u32,
}

#[derive(Clone, Debug)]
pub enum Event {
    Drop(Drop),
    Retrans(Retrans),
}

impl Event {
    pub fn parse(b: &[u8]) -> Option<Event> {
        if b.len() < 4 {
            return None;
        }
        match u32_at(b, 0) {
            EV_DROP if b.len() >= DROP_SIZE => {
                let family = b[38];
                let name = &b[80..96];
                let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
                Some(Event::Drop(Drop {
                    reason: u32_at(b, 4),
                    ts_ns: u64_at(b, 8),
                    location: u64_at(b, 16),
                    ifindex: u32_at(b, 24),
                    netns: u32_at(b, 28),
                    len: u32_at(b, 32),
                    l3_proto: u16_at(b, 36),
                    ip_proto: b[39],
                    ports: (b[44] == 1).then(|| (u16_at(b, 40), u16_at(b, 42))),
                    src: addr(family, &b[48..64]),
                    dst: addr(family, &b[64..80]),
                    ifname: String::from_utf8_lossy(&name[..end]).into_owned(),
                }))
            }
            EV_RETRANS if b.len() >= RETRANS_SIZE => {
                let family = u16_at(b, 16) as u8;
                Some(Event::Retrans(Retrans {
                    state: u32_at(b, 4),
                    ts_ns: u64_at(b, 8),
                    sport: u16_at(b, 18),
                    dport: u16_at(b, 20),
                    err: u32_at(b, 24) as i32,
                    netns: u32_at(b, 28),
                    src: addr(family, &b[32..48]),
                    dst: addr(family, &b[48..64]),
                }))
            }
            _ => None,
        }
    }
}

/// Linux TCP state names (include/net/tcp_states.h; stable numbering).
pub fn tcp_state_name(s: u32) -> String {
    const NAMES: [&str; 13] = [
        "",
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
        "NEW_SYN_RECV",
    ];
    match NAMES.get(s as usize) {
        Some(n) if !n.is_empty() => n.to_string(),
        _ => format!("STATE_{s}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_record_decodes() {
        let mut b = vec![0u8; DROP_SIZE];
        b[0..4].copy_from_slice(&EV_DROP.to_ne_bytes());
        b[4..8].copy_from_slice(&12u32.to_ne_bytes());
        b[8..16].copy_from_slice(&77u64.to_ne_bytes());
        b[24..28].copy_from_slice(&3u32.to_ne_bytes());
        b[36..38].copy_from_slice(&0x0800u16.to_ne_bytes());
        b[38] = AF_INET;
        b[39] = 17;
        b[40..42].copy_from_slice(&5353u16.to_ne_bytes());
        b[42..44].copy_from_slice(&53u16.to_ne_bytes());
        b[44] = 1;
        b[48..52].copy_from_slice(&[10, 0, 0, 1]);
        b[64..68].copy_from_slice(&[10, 0, 0, 2]);
        b[80..85].copy_from_slice(b"veth0");
        let Some(Event::Drop(d)) = Event::parse(&b) else {
            panic!("not a drop")
        };
        assert_eq!(d.reason, 12);
        assert_eq!(d.ts_ns, 77);
        assert_eq!(d.ifindex, 3);
        assert_eq!(d.ip_proto, 17);
        assert_eq!(d.ports, Some((5353, 53)));
        assert_eq!(d.src, Some("10.0.0.1".parse().unwrap()));
        assert_eq!(d.dst, Some("10.0.0.2".parse().unwrap()));
        assert_eq!(d.ifname, "veth0");
        assert!(Event::parse(&b[..50]).is_none());
    }

    #[test]
    fn packet_record_bounds() {
        let mut b = vec![0u8; PKT_HDR + 10];
        b[16..20].copy_from_slice(&10u32.to_ne_bytes());
        b[20] = 1;
        let p = Packet::parse(&b).unwrap();
        assert!(p.egress);
        assert_eq!(p.data.len(), 10);
        b[16..20].copy_from_slice(&11u32.to_ne_bytes());
        assert!(Packet::parse(&b).is_none());
    }

    #[test]
    fn states() {
        assert_eq!(tcp_state_name(1), "ESTABLISHED");
        assert_eq!(tcp_state_name(99), "STATE_99");
    }
}
