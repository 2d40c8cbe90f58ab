//! The BPF programs of the agent, as two tables: the objects (one ELF file
//! each, with its ring buffer) and the programs in them (where each attaches
//! and what a failure says). One loop loads, one attaches, one detaches:
//! a program is added by adding a row, not a code path.

use anyhow::{anyhow, Result};
use aya::maps::{Array, HashMap as BpfHashMap, MapData, PerCpuArray, RingBuf};
use aya::programs::links::LinkOrder;
use aya::programs::tc::{SchedClassifierLinkId, TcAttachOptions};
use aya::programs::trace_point::TracePointLinkId;
use aya::programs::{SchedClassifier, TcAttachType, TracePoint};
use aya::{Btf, Ebpf, EbpfLoader};

use crate::abi::Config;
use crate::capture::Iface;
use crate::cli::Args;
use crate::pcapng;

/// The BPF objects compiled by build.rs, 8-byte aligned for the ELF parser.
#[repr(C, align(8))]
struct Aligned<B: ?Sized>(B);

static PACKETS_OBJ: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/packets.bpf.o")));
static DROPS_OBJ: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/drops.bpf.o")));
static RETRANS_OBJ: &Aligned<[u8]> =
    &Aligned(*include_bytes!(concat!(env!("OUT_DIR"), "/retrans.bpf.o")));

/// The agent's BPF objects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Obj {
    /// TC programs copying frames (`packets.bpf.c`).
    Packets,
    /// The drop tracepoint (`drops.bpf.c`).
    Drops,
    /// The TCP retransmission tracepoint (`retrans.bpf.c`).
    Retrans,
}

/// One BPF object file: how it is loaded and whether this run wants it.
pub struct ObjectSpec {
    pub obj: Obj,
    elf: fn() -> &'static [u8],
    /// Named in errors: "loading the {what} programs".
    what: &'static str,
    /// The object's ring buffer map.
    ring: &'static str,
    /// Its size in bytes.
    ring_size: fn(&Args) -> u32,
    /// Optional objects are turned off by an option (`--no-drops`,
    /// `--no-retrans`); the packet capture is always on.
    enabled: fn(&Args) -> bool,
    /// Fills the object's own maps after loading.
    setup: fn(&mut Ebpf, &[Iface]) -> Result<()>,
}

/// The objects, in load order (also the order the rings are drained).
pub static OBJECTS: [ObjectSpec; 3] = [
    ObjectSpec {
        obj: Obj::Packets,
        elf: || &PACKETS_OBJ.0,
        what: "packet capture",
        ring: "retina_packets",
        ring_size: |a| a.ring_size as u32,
        enabled: |_| true,
        setup: link_header_lengths,
    },
    ObjectSpec {
        obj: Obj::Drops,
        elf: || &DROPS_OBJ.0,
        what: "drop",
        ring: "retina_events",
        ring_size: |_| 4 << 20,
        enabled: |a| !a.no_drops,
        setup: |_, _| Ok(()),
    },
    ObjectSpec {
        obj: Obj::Retrans,
        elf: || &RETRANS_OBJ.0,
        what: "retransmission",
        ring: "retina_events",
        ring_size: |_| 1 << 20,
        enabled: |a| !a.no_retrans,
        setup: |_, _| Ok(()),
    },
];

/// Where a program attaches.
#[derive(Clone, Copy, Debug)]
pub enum Hook {
    /// TC on every captured interface: TCX links on kernels >= 6.6, else a
    /// classic clsact filter.
    Tc(TcAttachType),
    /// A tracepoint: (category, name).
    TracePoint(&'static str, &'static str),
}

/// One BPF program.
pub struct ProgramSpec {
    /// Its function name in the object.
    pub name: &'static str,
    /// The object it is in; off when that object is.
    pub obj: Obj,
    pub hook: Hook,
    /// What a failed attach says, before the loader's error (TC: the
    /// interface name follows).
    attach_fails: &'static str,
}

/// Every program. Tracepoints attach first; then, interface by interface,
/// the TC programs in this order. A failure to load or attach any program
/// of a wanted object stops the agent (after detaching what was attached).
pub static PROGRAMS: [ProgramSpec; 4] = [
    ProgramSpec {
        name: "retina_kfree_skb",
        obj: Obj::Drops,
        hook: Hook::TracePoint("skb", "kfree_skb"),
        attach_fails: "attaching to tracepoint skb/kfree_skb",
    },
    ProgramSpec {
        name: "retina_tcp_retransmit_skb",
        obj: Obj::Retrans,
        hook: Hook::TracePoint("tcp", "tcp_retransmit_skb"),
        attach_fails: "attaching to tracepoint tcp/tcp_retransmit_skb",
    },
    ProgramSpec {
        name: "retina_tc_ingress",
        obj: Obj::Packets,
        hook: Hook::Tc(TcAttachType::Ingress),
        attach_fails: "attaching retina_tc_ingress to",
    },
    ProgramSpec {
        name: "retina_tc_egress",
        obj: Obj::Packets,
        hook: Hook::Tc(TcAttachType::Egress),
        attach_fails: "attaching retina_tc_egress to",
    },
];

/// Link header length per interface, for the packet programs' filters: none
/// for raw-IP devices.
fn link_header_lengths(ebpf: &mut Ebpf, ifaces: &[Iface]) -> Result<()> {
    let map = ebpf
        .map_mut("retina_l2len")
        .ok_or_else(|| anyhow!("no retina_l2len map"))?;
    let mut l2: BpfHashMap<&mut MapData, u32, u32> =
        BpfHashMap::try_from(map).map_err(|e| load_error("retina_l2len", e))?;
    for i in ifaces {
        let len = if i.linktype == pcapng::LINKTYPE_RAW {
            0
        } else {
            14
        };
        l2.insert(i.ifindex, len, 0)
            .map_err(|e| load_error("retina_l2len", e))?;
    }
    Ok(())
}

/// Turns a loader error into a message that says what is missing.
pub fn load_error(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    let mut text = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    let hint = if text.contains("Operation not permitted") || text.contains("EPERM") {
        " (permission denied: run as root; in a container, BPF may be blocked by seccomp or a \
         missing CAP_BPF)"
    } else if text.contains("Function not implemented") || text.contains("ENOSYS") {
        " (this kernel has no BPF support: CONFIG_BPF_SYSCALL)"
    } else {
        ""
    };
    anyhow!("{what}: {text}{hint}")
}

/// A loaded object: its programs (loaded, not attached), its statistics
/// and its ring buffer.
pub struct Object {
    pub spec: &'static ObjectSpec,
    ebpf: Ebpf,
    stats: PerCpuArray<MapData, u64>,
    pub ring: RingBuf<MapData>,
}

impl Object {
    /// A counter of the object's `retina_stats` map, summed over CPUs.
    pub fn stat(&self, idx: u32) -> u64 {
        self.stats.get(&idx, 0).map(|v| v.iter().sum()).unwrap_or(0)
    }
}

/// A counter of object `obj`; 0 when this run did not load it.
pub fn stat(objects: &[Object], obj: Obj, idx: u32) -> u64 {
    objects
        .iter()
        .find(|o| o.spec.obj == obj)
        .map_or(0, |o| o.stat(idx))
}

/// Loads every object this run wants, in [`OBJECTS`] order, and the programs
/// in it (the verifier runs here); nothing is attached yet.
pub fn load_all(args: &Args, btf: &Btf, cfg: &Config, ifaces: &[Iface]) -> Result<Vec<Object>> {
    let mut out = Vec::new();
    for spec in OBJECTS.iter().filter(|o| (o.enabled)(args)) {
        let what = spec.what;
        let mut loader = EbpfLoader::new();
        loader.btf(Some(btf));
        loader.map_max_entries(spec.ring, (spec.ring_size)(args));
        let mut ebpf = loader
            .load((spec.elf)())
            .map_err(|e| load_error(&format!("loading the {what} programs"), e))?;
        {
            let map = ebpf
                .map_mut("retina_config")
                .ok_or_else(|| anyhow!("{what}: object has no retina_config map"))?;
            let mut arr: Array<&mut MapData, Config> =
                Array::try_from(map).map_err(|e| load_error(what, e))?;
            arr.set(0, cfg, 0)
                .map_err(|e| load_error(&format!("{what}: writing the filters"), e))?;
        }
        let stats = PerCpuArray::try_from(
            ebpf.take_map("retina_stats")
                .ok_or_else(|| anyhow!("{what}: object has no retina_stats map"))?,
        )
        .map_err(|e| load_error(what, e))?;
        (spec.setup)(&mut ebpf, ifaces)?;
        let ring = {
            let name = spec.ring;
            let map = ebpf
                .take_map(name)
                .ok_or_else(|| anyhow!("BPF object has no {name} map"))?;
            RingBuf::try_from(map).map_err(|e| load_error(name, e))?
        };
        for p in PROGRAMS.iter().filter(|p| p.obj == spec.obj) {
            let name = p.name;
            let prog = ebpf
                .program_mut(name)
                .ok_or_else(|| anyhow!("no program {name}"))?;
            let loaded = match p.hook {
                Hook::Tc(_) => <&mut SchedClassifier>::try_from(prog)
                    .map_err(|e| load_error(name, e))?
                    .load(),
                Hook::TracePoint(..) => <&mut TracePoint>::try_from(prog)
                    .map_err(|e| load_error(name, e))?
                    .load(),
            };
            loaded.map_err(|e| load_error(&format!("loading {name} (verifier)"), e))?;
        }
        out.push(Object {
            spec,
            ebpf,
            stats,
            ring,
        });
    }
    Ok(out)
}

enum LinkId {
    Tc(SchedClassifierLinkId),
    TracePoint(TracePointLinkId),
}

/// One attached program.
struct Link {
    program: &'static ProgramSpec,
    /// The interface of a TC link.
    iface: Option<String>,
    id: LinkId,
}

/// What is attached, in attach order.
#[derive(Default)]
pub struct Attached {
    links: Vec<Link>,
}

fn program_mut<'a>(
    objects: &'a mut [Object],
    p: &ProgramSpec,
) -> Option<&'a mut aya::programs::Program> {
    objects
        .iter_mut()
        .find(|o| o.spec.obj == p.obj)?
        .ebpf
        .program_mut(p.name)
}

/// Program `p` of a loaded object, or an error naming it (an object built
/// without one of the programs the table lists).
fn loaded_program<'a>(
    objects: &'a mut [Object],
    p: &ProgramSpec,
) -> Result<&'a mut aya::programs::Program> {
    program_mut(objects, p)
        .ok_or_else(|| anyhow!("BPF program {}: not in its loaded object", p.name))
}

impl Attached {
    /// Attaches every loaded program: the tracepoints, then interface by
    /// interface (its clsact qdisc first, before TCX) the TC programs.
    /// Stops at the first failure; what was attached stays in `self` for
    /// [`Attached::detach_all`].
    pub fn attach_all(&mut self, objects: &mut [Object], ifaces: &[Iface]) -> Result<()> {
        let loaded =
            |objects: &[Object], p: &ProgramSpec| objects.iter().any(|o| o.spec.obj == p.obj);
        for p in &PROGRAMS {
            let Hook::TracePoint(category, name) = p.hook else {
                continue;
            };
            if !loaded(objects, p) {
                continue;
            }
            let prog: &mut TracePoint = loaded_program(objects, p)?.try_into()?;
            let id = prog
                .attach(category, name)
                .map_err(|e| load_error(p.attach_fails, e))?;
            self.links.push(Link {
                program: p,
                iface: None,
                id: LinkId::TracePoint(id),
            });
        }
        let tc: Vec<(&'static ProgramSpec, TcAttachType)> = PROGRAMS
            .iter()
            .filter_map(|p| match p.hook {
                Hook::Tc(kind) if loaded(objects, p) => Some((p, kind)),
                _ => None,
            })
            .collect();
        if tc.is_empty() {
            return Ok(());
        }
        let tcx = aya::util::KernelVersion::current()
            .map(|v| v >= aya::util::KernelVersion::new(6, 6, 0))
            .unwrap_or(false);
        for i in ifaces {
            if !tcx {
                // Classic clsact; an existing one is fine.
                if let Err(e) = aya::programs::tc::qdisc_add_clsact(&i.name) {
                    let s = e.to_string();
                    if !s.contains("exists") && !s.contains("File exists") {
                        return Err(load_error(&format!("adding clsact qdisc to {}", i.name), e));
                    }
                }
            }
            for &(p, kind) in &tc {
                let prog: &mut SchedClassifier = loaded_program(objects, p)?.try_into()?;
                // Ingress first in the chain (sees frames as they arrive), egress
                // last (sees frames as they leave).
                let id = if tcx {
                    let order = if kind == TcAttachType::Ingress {
                        LinkOrder::first()
                    } else {
                        LinkOrder::last()
                    };
                    prog.attach_with_options(&i.name, kind, TcAttachOptions::TcxOrder(order))
                } else {
                    prog.attach(&i.name, kind)
                }
                .map_err(|e| load_error(&format!("{} {}", p.attach_fails, i.name), e))?;
                self.links.push(Link {
                    program: p,
                    iface: Some(i.name.clone()),
                    id: LinkId::Tc(id),
                });
            }
        }
        Ok(())
    }

    /// Detaches every program that was attached, the TC links first (no
    /// new packets), then the tracepoints, each in attach order; returns the
    /// failures.
    pub fn detach_all(&mut self, objects: &mut [Object]) -> Vec<String> {
        let mut links = std::mem::take(&mut self.links);
        links.sort_by_key(|l| matches!(l.id, LinkId::TracePoint(_)));
        let mut errs = Vec::new();
        for Link { program, iface, id } in links {
            let name = program.name;
            let prog = program_mut(objects, program).ok_or_else(|| format!("no program {name}"));
            let r = match id {
                LinkId::Tc(id) => prog
                    .and_then(|p| <&mut SchedClassifier>::try_from(p).map_err(|e| e.to_string()))
                    .and_then(|p| p.detach(id).map_err(|e| e.to_string())),
                LinkId::TracePoint(id) => prog
                    .and_then(|p| <&mut TracePoint>::try_from(p).map_err(|e| e.to_string()))
                    .and_then(|p| p.detach(id).map_err(|e| e.to_string())),
            };
            if let Err(e) = r {
                errs.push(match iface {
                    Some(iface) => format!("{name} on {iface}: {e}"),
                    None => format!("{name}: {e}"),
                });
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every program belongs to one object, names are unique, and a TC
    /// program says which program failed.
    #[test]
    fn tables_are_consistent() {
        for p in &PROGRAMS {
            assert_eq!(
                OBJECTS.iter().filter(|o| o.obj == p.obj).count(),
                1,
                "{}",
                p.name
            );
            assert_eq!(PROGRAMS.iter().filter(|q| q.name == p.name).count(), 1);
            if let Hook::Tc(_) = p.hook {
                assert!(p.attach_fails.contains(p.name), "{}", p.name);
            }
        }
        for o in &OBJECTS {
            assert!(
                PROGRAMS.iter().any(|p| p.obj == o.obj),
                "{:?} has programs",
                o.obj
            );
            assert!(!(o.elf)().is_empty(), "{:?} embedded", o.obj);
        }
        assert_eq!(OBJECTS[0].obj, Obj::Packets, "packets are drained first");
    }
}
