//! The per-flow entry point: segments in, an [`L7Summary`] out.

use crate::detect::{self, Class, MAX_PREFIX};
use crate::http::{Fed, HttpBook, HttpStream, Role, Switch};
use crate::reassembly::{Reassembly, Sink};
use crate::summary::{L7Summary, Protocol, TlsInfo};
use crate::tls::{TlsFed, TlsStream};
use crate::Limits;

/// Which way a segment went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Sent by the side that opened the connection (or that the analyzer
    /// takes for the client).
    ToServer,
    /// Sent by the other side.
    ToClient,
}

impl Direction {
    fn index(self) -> usize {
        match self {
            Direction::ToServer => 0,
            Direction::ToClient => 1,
        }
    }
}

/// One TCP segment as the analyzer sees it.
#[derive(Debug, Clone, Copy)]
pub struct Segment<'a> {
    /// Capture time, ns since the epoch.
    pub ts_ns: i64,
    /// Who sent it.
    pub dir: Direction,
    /// The segment's sequence number.
    pub seq: u32,
    /// The acknowledgment number, when the ACK flag is set: it tells which
    /// holes in the *other* direction the capture will never see filled.
    pub ack: Option<u32>,
    /// The SYN flag: the first data byte is `seq + 1`.
    pub syn: bool,
    /// Payload length on the wire (from the IP length), which may exceed
    /// the captured bytes when the capture's snap length cut the packet.
    pub wire_len: u32,
    /// The captured payload: a prefix of the `wire_len` bytes (longer input,
    /// such as Ethernet padding, is cut to `wire_len`).
    pub payload: &'a [u8],
}

/// Segments a direction may still look at for a message start when the
/// capture joined the connection mid-stream: the first one may be the tail
/// of a body.
const MIDSTREAM_TRIES: u8 = 4;

/// Protocol detection of one direction.
#[derive(Debug)]
struct Detect {
    /// First bytes of a stream whose first segments were too short to decide.
    prefix: [u8; MAX_PREFIX],
    len: usize,
    first_ts: i64,
    /// Segment starts looked at so far (joined mid-stream or after a gap).
    tries: u8,
    /// The stream's first byte is not known to be next: retry on later segments.
    midstream: bool,
}

impl Detect {
    fn new(midstream: bool) -> Self {
        Detect {
            prefix: [0; MAX_PREFIX],
            len: 0,
            first_ts: 0,
            tries: 0,
            midstream,
        }
    }
}

#[derive(Debug)]
enum Parser {
    Detect(Detect),
    Http(HttpStream),
    Tls(TlsStream),
    /// Nothing more to learn from this direction.
    Ignore,
}

#[derive(Debug)]
struct Side {
    reasm: Reassembly,
    parser: Parser,
}

/// State shared by both directions.
#[derive(Debug)]
struct Shared {
    http: HttpBook,
    /// Boxed: most flows are not TLS and should not carry its size.
    tls: Option<Box<TlsInfo>>,
    http2: bool,
    /// The HTTP role each direction was found to carry (by direction
    /// index): the other direction then answers (or asks) in HTTP too.
    roles: [Option<Role>; 2],
    /// 101 Switching Protocols: the rest of the flow is opaque.
    upgraded: bool,
}

/// Application-layer tracker of one TCP flow.
///
/// Feed it every TCP segment of the flow, in capture order, with
/// [`L7Tracker::segment`]; call [`L7Tracker::finish`] when the flow ends.
/// Each direction is classified by its first payload bytes (any port); a
/// direction that is neither HTTP/1.x nor TLS is dropped after at most
/// 16 bytes (or a few segments when the capture joined mid-stream), and
/// once both are, a segment costs one branch.
#[derive(Debug)]
pub struct L7Tracker {
    limits: Limits,
    sides: [Side; 2],
    shared: Shared,
    /// Both directions ignored: segments return at once.
    done: bool,
}

impl Default for L7Tracker {
    fn default() -> Self {
        Self::new(Limits::default())
    }
}

/// One direction's parser with the state it shares, as the reassembly's sink.
struct SideSink<'a> {
    /// Direction index: 0 for [`Direction::ToServer`].
    dir: usize,
    parser: &'a mut Parser,
    shared: &'a mut Shared,
    limits: &'a Limits,
    from_start: bool,
}

impl Sink for SideSink<'_> {
    fn data(&mut self, ts_ns: i64, bytes: &[u8], uncaptured: u32) {
        feed(self, ts_ns, bytes, uncaptured);
    }

    fn gap(&mut self, len: u32) {
        match self.parser {
            Parser::Detect(d) => {
                // The start went missing: look at what follows instead.
                d.len = 0;
                d.midstream = true;
            }
            Parser::Http(h) => h.skip(len, &mut self.shared.http, self.limits),
            Parser::Tls(_) => {
                if let Some(info) = &mut self.shared.tls {
                    info.incomplete = true;
                }
                *self.parser = Parser::Ignore;
            }
            Parser::Ignore => {}
        }
    }

    fn skippable(&self) -> u64 {
        match &*self.parser {
            Parser::Http(h) => h.skippable(),
            _ => 0,
        }
    }

    fn needs_order(&self) -> bool {
        match &*self.parser {
            Parser::Http(h) => h.needs_order(),
            // Mid-stream, detection looks at segment starts only.
            Parser::Detect(d) => self.from_start && !d.midstream,
            Parser::Tls(_) => true,
            Parser::Ignore => false,
        }
    }
}

/// Feeds in-order bytes to a direction's parser, switching parsers as the
/// content decides.
fn feed(sink: &mut SideSink<'_>, ts: i64, mut data: &[u8], uncaptured: u32) {
    loop {
        match &mut *sink.parser {
            Parser::Ignore => return,
            Parser::Detect(d) => {
                let (class, replay) = match classify_start(d, ts, data, uncaptured) {
                    Some(c) => c,
                    None => return,
                };
                // Found after a gap or mid-stream: the responses before it
                // went unseen, which the pairing must know.
                let gapped = d.midstream || !sink.from_start;
                let next = match class {
                    Class::HttpRequest => {
                        sink.shared.roles[sink.dir] = Some(Role::Requests);
                        Parser::Http(HttpStream::new(Role::Requests, gapped))
                    }
                    Class::HttpResponse => {
                        sink.shared.roles[sink.dir] = Some(Role::Responses);
                        Parser::Http(HttpStream::new(Role::Responses, gapped))
                    }
                    Class::Tls => {
                        sink.shared.tls.get_or_insert_default();
                        Parser::Tls(TlsStream::default())
                    }
                    Class::Http2 => {
                        sink.shared.http2 = true;
                        Parser::Ignore
                    }
                    Class::NeedMore | Class::Other => {
                        // The peer asks in HTTP: this side answers in HTTP,
                        // from the next response it starts (and the other way
                        // round). A side that was HTTP itself (a CONNECT
                        // tunnel that is not TLS) is done.
                        let answer =
                            match (sink.shared.roles[sink.dir], sink.shared.roles[1 - sink.dir]) {
                                (None, Some(Role::Requests)) => Some(Role::Responses),
                                (None, Some(Role::Responses)) => Some(Role::Requests),
                                _ => None,
                            };
                        match answer {
                            Some(role) => {
                                sink.shared.roles[sink.dir] = Some(role);
                                Parser::Http(HttpStream::waiting(role))
                            }
                            None if (d.midstream || !sink.from_start)
                                && d.tries < MIDSTREAM_TRIES =>
                            {
                                d.tries += 1;
                                d.len = 0;
                                return;
                            }
                            _ => Parser::Ignore,
                        }
                    }
                };
                let first_ts = d.first_ts;
                *sink.parser = next;
                if let Some((prefix, len)) = replay {
                    feed(sink, first_ts, &prefix[..len], 0);
                }
            }
            Parser::Http(h) => {
                match h.feed(ts, data, uncaptured, &mut sink.shared.http, sink.limits) {
                    Fed::Consumed => return,
                    Fed::Switch(to, at) => {
                        data = data.get(at..).unwrap_or(&[]);
                        *sink.parser = match to {
                            Switch::Detect => Parser::Detect(Detect::new(false)),
                            Switch::Ignore => {
                                sink.shared.roles[sink.dir] = None;
                                Parser::Ignore
                            }
                            Switch::Upgraded => {
                                sink.shared.upgraded = true;
                                Parser::Ignore
                            }
                        };
                    }
                }
            }
            Parser::Tls(t) => {
                let info = sink.shared.tls.get_or_insert_default();
                if t.feed(ts, data, uncaptured, info, sink.limits) == TlsFed::Done {
                    *sink.parser = Parser::Ignore;
                }
                return;
            }
        }
    }
}

/// Bytes of earlier segments kept for deciding, and how many.
type Replay = ([u8; MAX_PREFIX], usize);

/// Decides a direction's protocol from its first bytes. `None`: wait for
/// more. Otherwise the class and the bytes of earlier segments that the
/// new parser must see before `data`.
fn classify_start(
    d: &mut Detect,
    ts: i64,
    data: &[u8],
    uncaptured: u32,
) -> Option<(Class, Option<Replay>)> {
    if d.len == 0 {
        let class = detect::classify(&data[..data.len().min(MAX_PREFIX)]);
        if class != Class::NeedMore {
            return Some((class, None));
        }
        if data.len() >= MAX_PREFIX || uncaptured > 0 {
            return Some((Class::Other, None));
        }
        if data.is_empty() {
            return None;
        }
        d.prefix[..data.len()].copy_from_slice(data);
        d.len = data.len();
        d.first_ts = ts;
        return None;
    }
    // The new parser gets the earlier bytes and then all of `data`; the
    // copy here is only for deciding.
    let earlier = (d.prefix, d.len);
    let mut probe = d.prefix;
    let take = (MAX_PREFIX - d.len).min(data.len());
    probe[d.len..d.len + take].copy_from_slice(&data[..take]);
    let class = detect::classify(&probe[..d.len + take]);
    if class != Class::NeedMore {
        return Some((class, Some(earlier)));
    }
    if d.len + take >= MAX_PREFIX || uncaptured > 0 {
        return Some((Class::Other, None));
    }
    d.prefix = probe;
    d.len += take;
    None
}

impl L7Tracker {
    /// A tracker with the given bounds.
    pub fn new(limits: Limits) -> Self {
        let side = || Side {
            reasm: Reassembly::default(),
            parser: Parser::Detect(Detect::new(false)),
        };
        L7Tracker {
            sides: [side(), side()],
            shared: Shared {
                http: HttpBook::new(&limits),
                tls: None,
                http2: false,
                roles: [None; 2],
                upgraded: false,
            },
            limits,
            done: false,
        }
    }

    /// Accounts one TCP segment (any flags, with or without payload).
    pub fn segment(&mut self, seg: &Segment<'_>) {
        if self.done {
            return;
        }
        let d = seg.dir.index();
        if let Some(ack) = seg.ack {
            let Side { reasm, parser } = &mut self.sides[1 - d];
            let from_start = reasm.from_start;
            reasm.acked(
                ack,
                &mut SideSink {
                    dir: 1 - d,
                    parser,
                    shared: &mut self.shared,
                    limits: &self.limits,
                    from_start,
                },
            );
        }
        let Side { reasm, parser } = &mut self.sides[d];
        if !matches!(parser, Parser::Ignore) {
            if seg.syn {
                reasm.syn(seg.seq);
            }
            let seq = if seg.syn {
                seg.seq.wrapping_add(1)
            } else {
                seg.seq
            };
            let from_start = reasm.from_start;
            reasm.segment(
                seg.ts_ns,
                seq,
                seg.wire_len,
                seg.payload,
                &self.limits,
                &mut SideSink {
                    dir: d,
                    parser,
                    shared: &mut self.shared,
                    limits: &self.limits,
                    from_start,
                },
            );
        }
        if self.shared.upgraded {
            for s in &mut self.sides {
                s.parser = Parser::Ignore;
            }
        }
        self.done = self
            .sides
            .iter()
            .all(|s| matches!(s.parser, Parser::Ignore));
        if self.done {
            // Nothing will read what is held: give the memory back now.
            for s in &mut self.sides {
                s.reasm = Reassembly::default();
            }
        }
    }

    /// The protocol recognised so far, if any.
    pub fn protocol(&self) -> Option<Protocol> {
        if self.shared.http.seen {
            Some(Protocol::Http)
        } else if self.shared.tls.is_some() {
            Some(Protocol::Tls)
        } else if self.shared.http2 {
            Some(Protocol::Http2)
        } else {
            None
        }
    }

    /// Heap bytes this tracker holds now (buffers, held segments, kept
    /// exchanges); never above [`Limits::heap_bound`].
    pub fn memory_bytes(&self) -> usize {
        let sides: usize = self
            .sides
            .iter()
            .map(|s| {
                s.reasm.heap_bytes()
                    + match &s.parser {
                        Parser::Http(h) => h.heap_bytes(),
                        Parser::Tls(t) => t.heap_bytes(),
                        _ => 0,
                    }
            })
            .sum();
        let tls = self.shared.tls.as_ref().map_or(0, |t| {
            std::mem::size_of::<TlsInfo>()
                + [&t.sni, &t.alpn_selected]
                    .iter()
                    .map(|x| x.as_ref().map_or(0, |x| x.as_str().len()))
                    .sum::<usize>()
                + t.alpn_offered
                    .iter()
                    .map(|x| x.as_str().len())
                    .sum::<usize>()
                + t.supported_versions.iter().map(String::len).sum::<usize>()
                + t.alpn_offered.capacity() * std::mem::size_of::<crate::WireText>()
                + t.supported_versions.capacity() * std::mem::size_of::<String>()
        });
        sides + self.shared.http.heap_bytes() + tls
    }

    /// Ends the flow: delivers what waited for a hole, books requests never
    /// answered, and returns what was learnt (`None` when neither HTTP/1.x
    /// nor TLS was recognised). The tracker is empty afterwards.
    pub fn finish(&mut self) -> Option<L7Summary> {
        for i in 0..2 {
            let Side { reasm, parser } = &mut self.sides[i];
            let from_start = reasm.from_start;
            reasm.finish(&mut SideSink {
                dir: i,
                parser,
                shared: &mut self.shared,
                limits: &self.limits,
                from_start,
            });
            match parser {
                Parser::Http(h) => h.finish(&mut self.shared.http, &self.limits),
                Parser::Tls(_) => {
                    if let Some(info) = &mut self.shared.tls {
                        info.incomplete = true;
                    }
                }
                _ => {}
            }
        }
        let protocol = self.protocol();
        let limits = self.limits.clone();
        let mut old = std::mem::replace(self, L7Tracker::new(limits));
        let http = old.shared.http.finish();
        let tls = old.shared.tls.take().map(|b| *b);
        Some(L7Summary {
            protocol: protocol?,
            http,
            tls,
        })
    }
}

#[cfg(test)]
mod tests;
