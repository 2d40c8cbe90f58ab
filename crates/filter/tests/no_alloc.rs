//! Evaluation runs per packet on millions of packets: it must not allocate.
//! A counting allocator (for this test binary only) checks that.

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};

use retina_filter::{Filter, Flow, Fragment, NameLookup, Names, PacketView};

struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Allocations of this thread only: the test harness's own threads
    /// (output capture, timers) allocate while the test runs.
    static MINE: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

fn mine() -> usize {
    MINE.with(|c| c.get())
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // A const-initialized Cell needs no allocation to reach.
        let _ = MINE.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

struct Pkt {
    src: IpAddr,
    dst: IpAddr,
    vlans: [u16; 2],
}

impl PacketView for Pkt {
    fn src(&self) -> IpAddr {
        self.src
    }
    fn dst(&self) -> IpAddr {
        self.dst
    }
    fn ip_proto(&self) -> u8 {
        6
    }
    fn ports(&self) -> Option<(u16, u16)> {
        Some((40000, 443))
    }
    fn fragment(&self) -> Fragment {
        Fragment::None
    }
    fn vlan_ids(&self) -> &[u16] {
        &self.vlans
    }
    fn wire_len(&self) -> u32 {
        1500
    }
}

struct Index;

impl NameLookup for Index {
    fn names(&self, _addr: IpAddr) -> Names<'_> {
        Names {
            namespace: Some("payments"),
            pod: Some("api-7d9f8c-x2x7q"),
            workload: Some("api"),
            ..Names::default()
        }
    }
}

#[test]
fn matching_does_not_allocate() {
    // The counter must see allocations, or the zero below proves nothing.
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    let mine_before = mine();
    std::hint::black_box(Box::new(1u64));
    assert!(ALLOCATIONS.load(Ordering::Relaxed) > before);
    assert!(mine() > mine_before);

    let filter = Filter::parse(
        "(tcp port 80 or 443 and net 10.0.0.0/8 or ip6 net fd00::/8) \
         and not vlan 7 and greater 100 and (src pod payments/api-* or ns kube-*)",
    )
    .unwrap();
    let flows = Filter::parse("tcp port 443 and workload payments/a?i")
        .unwrap()
        .for_flows()
        .unwrap();
    let pkt = Pkt {
        src: "10.1.2.3".parse().unwrap(),
        dst: "10.3.2.1".parse().unwrap(),
        vlans: [3, 4],
    };
    let flow = Flow {
        proto: 6,
        src: pkt.src,
        dst: pkt.dst,
        ports: Some((40000, 443)),
        src_names: Index.names(pkt.src),
        dst_names: Names::default(),
    };

    let before = mine();
    let mut hits = 0;
    for _ in 0..10_000 {
        hits += usize::from(filter.matches(&pkt, &Index));
        hits += usize::from(flows.matches(&flow));
    }
    let allocated = mine() - before;
    assert_eq!(hits, 20_000, "both filters should match");
    assert_eq!(allocated, 0, "{allocated} allocations in 20000 evaluations");
}
