//! Behaviour of the tracker on hand-made flows.

use super::*;
use crate::{HttpExchange, HttpSummary, WireText};

const MS: i64 = 1_000_000;

/// A flow after its handshake, sending segments at 1 ms steps.
struct Flow {
    t: L7Tracker,
    /// Next sequence number per direction.
    seq: [u32; 2],
    ts: i64,
}

const C: Direction = Direction::ToServer;
const S: Direction = Direction::ToClient;

impl Flow {
    fn new() -> Self {
        Self::with_limits(Limits::default())
    }

    fn with_limits(limits: Limits) -> Self {
        let mut f = Flow {
            t: L7Tracker::new(limits),
            // The client's numbers wrap during the flow.
            seq: [u32::MAX - 20, 5000],
            ts: 0,
        };
        for d in [C, S] {
            let i = d.index();
            f.t.segment(&Segment {
                ts_ns: f.ts,
                dir: d,
                seq: f.seq[i],
                ack: None,
                syn: true,
                wire_len: 0,
                payload: &[],
            });
            f.seq[i] = f.seq[i].wrapping_add(1);
        }
        f
    }

    /// A flow whose handshake the capture missed.
    fn midstream() -> Self {
        Flow {
            t: L7Tracker::default(),
            seq: [100, 200],
            ts: 0,
        }
    }

    fn seg_at(&mut self, d: Direction, seq: u32, wire_len: u32, captured: &[u8]) {
        self.ts += MS;
        let other = self.seq[1 - d.index()];
        self.t.segment(&Segment {
            ts_ns: self.ts,
            dir: d,
            seq,
            ack: Some(other),
            syn: false,
            wire_len,
            payload: captured,
        });
    }

    /// Sends `bytes` as one segment.
    fn send(&mut self, d: Direction, bytes: &[u8]) {
        self.send_cut(d, bytes, bytes.len());
    }

    /// Sends `bytes` as one segment of which only `captured` bytes are in the capture.
    fn send_cut(&mut self, d: Direction, bytes: &[u8], captured: usize) {
        let i = d.index();
        let len = bytes.len() as u32;
        let seq = self.seq[i];
        self.seq[i] = seq.wrapping_add(len);
        self.seg_at(d, seq, len, &bytes[..captured]);
    }

    /// Sends `bytes` cut into segments at the given offsets.
    fn send_split(&mut self, d: Direction, bytes: &[u8], cuts: &[usize]) {
        let mut from = 0;
        for &c in cuts.iter().chain([&bytes.len()]) {
            self.send(d, &bytes[from..c]);
            from = c;
        }
    }

    /// Bytes the capture never saw.
    fn lose(&mut self, d: Direction, n: usize) {
        let i = d.index();
        self.seq[i] = self.seq[i].wrapping_add(n as u32);
    }

    fn http(mut self) -> HttpSummary {
        let s = self.t.finish().expect("a protocol");
        assert_eq!(s.protocol, Protocol::Http);
        s.http.expect("http")
    }
}

/// Method, path and status of each exchange, for compact assertions.
fn brief(h: &HttpSummary) -> Vec<(String, String, Option<u16>)> {
    h.exchanges
        .iter()
        .map(|e| {
            (
                e.method.as_ref().map_or("-".into(), |m| m.to_string()),
                e.path.as_ref().map_or("-".into(), |m| m.to_string()),
                e.status,
            )
        })
        .collect()
}

fn ex(m: &str, p: &str, s: Option<u16>) -> (String, String, Option<u16>) {
    (m.to_string(), p.to_string(), s)
}

const GET: &[u8] = b"GET /api/orders?id=7 HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: t\r\n\r\n";
const OK_5: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";

#[test]
fn one_exchange_with_every_field() {
    let mut f = Flow::new();
    f.send(C, GET);
    f.send(
        S,
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n",
    );
    let h = f.http();
    assert_eq!(
        h.exchanges,
        vec![HttpExchange {
            request_ts_ns: Some(MS),
            method: Some(WireText::from_wire(b"GET", 10)),
            path: Some(WireText::from_wire(b"/api/orders?id=7", 100)),
            version: Some("HTTP/1.1"),
            host: Some(WireText::from_wire(b"shop.example", 100)),
            response_ts_ns: Some(2 * MS),
            status: Some(503),
            reason: Some(WireText::from_wire(b"Service Unavailable", 100)),
            incomplete: false,
            response_lost_in_gap: false,
        }]
    );
    assert_eq!(h.exchanges[0].response_time_ns(), Some(MS));
    assert_eq!((h.requests, h.responses, h.status.s5xx), (1, 1, 1));
    assert_eq!((h.unanswered, h.resyncs, h.unsolicited), (0, 0, 0));
}

#[test]
fn request_and_response_split_at_every_byte() {
    let mut whole = Flow::new();
    whole.send(C, GET);
    whole.send(S, OK_5);
    whole.send(C, GET);
    whole.send(S, OK_5);
    let want = brief(&whole.http());
    assert_eq!(want.len(), 2);
    for cut in 1..GET.len() {
        let mut f = Flow::new();
        f.send_split(C, GET, &[cut]);
        f.send_split(S, OK_5, &[cut.min(OK_5.len() - 1)]);
        f.send(C, GET);
        f.send(S, OK_5);
        let h = f.http();
        assert_eq!(brief(&h), want, "cut at {cut}");
        assert_eq!(
            h.exchanges[0].host,
            Some(WireText::from_wire(b"shop.example", 99))
        );
        // The request is timed from its first segment.
        assert_eq!(h.exchanges[0].request_ts_ns, Some(MS), "cut at {cut}");
        assert_eq!(h.resyncs, 0);
    }
    // One byte per segment.
    let mut f = Flow::new();
    let cuts: Vec<usize> = (1..GET.len()).collect();
    f.send_split(C, GET, &cuts);
    let cuts: Vec<usize> = (1..OK_5.len()).collect();
    f.send_split(S, OK_5, &cuts);
    assert_eq!(
        brief(&f.http()),
        vec![ex("GET", "/api/orders?id=7", Some(200))]
    );
}

#[test]
fn pipelined_requests_with_chunked_and_length_bodies() {
    let reqs: &[u8] = b"POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
        4\r\nwiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: y\r\n\r\n\
        PUT /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc\
        GET /c HTTP/1.1\r\nHost: h\r\n\r\n";
    let resps: &[u8] = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
        a\r\n0123456789\r\n0\r\n\r\n\
        HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok\
        HTTP/1.1 304 Not Modified\r\nContent-Length: 999\r\n\r\n\
        HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    let want = vec![
        ex("POST", "/a", Some(200)),
        ex("PUT", "/b", Some(201)),
        ex("GET", "/c", Some(304)),
        ex("-", "-", Some(404)),
    ];
    // Whole, and with each side split at every position.
    let mut f = Flow::new();
    f.send(C, reqs);
    f.send(S, resps);
    let h = f.http();
    assert_eq!(brief(&h), want);
    assert_eq!(
        (h.requests, h.responses, h.unsolicited, h.resyncs),
        (3, 4, 1, 0)
    );
    for cut in 1..reqs.len().max(resps.len()) {
        let mut f = Flow::new();
        f.send_split(C, reqs, &[cut.min(reqs.len() - 1)]);
        f.send_split(S, resps, &[cut.min(resps.len() - 1)]);
        assert_eq!(brief(&f.http()), want, "cut at {cut}");
    }
}

#[test]
fn responses_without_bodies() {
    let mut f = Flow::new();
    f.send(C, b"HEAD /x HTTP/1.1\r\nHost: h\r\n\r\nGET /y HTTP/1.1\r\nHost: h\r\n\r\nDELETE /z HTTP/1.1\r\nHost: h\r\n\r\nGET /w HTTP/1.1\r\n\r\n");
    // HEAD's Content-Length and 304's describe a body that is not sent; 204 has none.
    f.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
    f.send(
        S,
        b"HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
    );
    f.send(S, b"HTTP/1.1 204 No Content\r\n\r\n");
    f.send(
        S,
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
    );
    let h = f.http();
    assert_eq!(
        brief(&h),
        vec![
            ex("HEAD", "/x", Some(200)),
            ex("GET", "/y", Some(304)),
            ex("DELETE", "/z", Some(204)),
            ex("GET", "/w", Some(200)),
        ]
    );
    assert_eq!((h.informational, h.responses, h.resyncs), (1, 4, 0));
}

#[test]
fn response_until_close_swallows_the_rest() {
    let mut f = Flow::new();
    f.send(C, b"GET /old HTTP/1.0\r\n\r\n");
    f.send(S, b"HTTP/1.0 200 OK\r\n\r\nbody");
    f.send(S, b"HTTP/1.1 200 looks like a response but is body\r\n\r\n");
    let h = f.http();
    assert_eq!(brief(&h), vec![ex("GET", "/old", Some(200))]);
    assert_eq!(h.exchanges[0].version, Some("HTTP/1.0"));
    assert_eq!(h.responses, 1);
}

#[test]
fn lost_response_header_resyncs_on_the_next_status_line() {
    let mut f = Flow::new();
    f.send(C, b"GET /1 HTTP/1.1\r\n\r\n");
    // The response's header segment is missing; its body arrives.
    f.lose(S, 38);
    f.send(S, b"hello");
    f.send(C, b"GET /2 HTTP/1.1\r\n\r\n");
    f.send(S, OK_5);
    let h = f.http();
    assert_eq!(
        brief(&h),
        vec![ex("GET", "/1", None), ex("GET", "/2", Some(200))]
    );
    assert!(h.exchanges[0].response_lost_in_gap);
    // The server's direction had not started: it was still being detected.
    assert_eq!((h.answers_lost_in_gap, h.resyncs, h.unanswered), (1, 0, 0));

    // The same once the direction is known to be HTTP.
    let mut f = Flow::new();
    f.send(C, b"GET /0 HTTP/1.1\r\n\r\n");
    f.send(S, OK_5);
    f.send(C, b"GET /1 HTTP/1.1\r\n\r\n");
    f.lose(S, 38);
    f.send(S, b"hello");
    f.send(C, b"GET /2 HTTP/1.1\r\n\r\n");
    f.send(S, OK_5);
    let h = f.http();
    assert_eq!(
        brief(&h),
        vec![
            ex("GET", "/0", Some(200)),
            ex("GET", "/1", None),
            ex("GET", "/2", Some(200))
        ]
    );
    assert_eq!((h.answers_lost_in_gap, h.resyncs, h.unanswered), (1, 1, 0));
}

#[test]
fn gap_in_requests_leaves_a_response_without_request() {
    let mut f = Flow::new();
    f.send(C, b"GET /1 HTTP/1.1\r\n\r\n");
    f.send(S, OK_5);
    f.lose(C, 19);
    f.send(S, OK_5);
    f.send(C, b"GET /3 HTTP/1.1\r\n\r\n");
    f.send(S, OK_5);
    let h = f.http();
    assert_eq!(
        brief(&h),
        vec![
            ex("GET", "/1", Some(200)),
            ex("-", "-", Some(200)),
            ex("GET", "/3", Some(200))
        ]
    );
    assert_eq!((h.unsolicited, h.resyncs), (1, 1));
}

#[test]
fn garbage_after_a_gap_is_not_parsed() {
    let mut f = Flow::new();
    f.send(C, b"GET /1 HTTP/1.1\r\n\r\n");
    f.send(
        S,
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n0123",
    );
    f.lose(S, 100);
    f.send(S, b"xyzHTTP/1.1 500 inside a body\r\n\r\n");
    f.send(S, b"0\r\n\r\n");
    f.send(C, b"GET /2 HTTP/1.1\r\n\r\n");
    f.send(S, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    let h = f.http();
    assert_eq!(
        brief(&h),
        vec![ex("GET", "/1", Some(200)), ex("GET", "/2", Some(404))]
    );
    assert_eq!(h.status.s5xx, 0);
}

#[test]
fn hole_inside_a_length_body_keeps_the_position() {
    let mut f = Flow::new();
    f.send(C, b"GET /big HTTP/1.1\r\n\r\n");
    f.send(S, b"HTTP/1.1 200 OK\r\nContent-Length: 3000\r\n\r\n");
    f.send(S, &[b'a'; 1000]);
    f.lose(S, 1000);
    f.send(S, &[b'c'; 1000]);
    f.send(C, b"GET /next HTTP/1.1\r\n\r\n");
    f.send(S, OK_5);
    let h = f.http();
    assert_eq!(
        brief(&h),
        vec![ex("GET", "/big", Some(200)), ex("GET", "/next", Some(200))]
    );
    assert_eq!(h.resyncs, 0);
}

#[test]
fn reordered_and_retransmitted_segments() {
    let mut f = Flow::new();
    f.send(C, GET);
    let start = f.seq[1];
    // The response's second half overtakes its first; then both again.
    let (a, b) = OK_5.split_at(20);
    f.seg_at(S, start.wrapping_add(20), b.len() as u32, b);
    f.seg_at(S, start, a.len() as u32, a);
    f.seg_at(S, start, OK_5.len() as u32, OK_5);
    f.seq[1] = start.wrapping_add(OK_5.len() as u32);
    f.send(C, GET);
    f.send(C, GET);
    f.send(S, OK_5);
    let h = f.http();
    assert_eq!(h.responses, 2);
    assert_eq!((h.requests, h.unanswered), (3, 1));
    // The retransmitted request above was a new one; a real retransmission is not:
    let mut f = Flow::new();
    let seq = f.seq[0];
    f.send(C, GET);
    f.seg_at(C, seq, GET.len() as u32, GET);
    f.send(S, OK_5);
    assert_eq!(f.http().requests, 1);
}

#[test]
fn snap_length_keeps_what_was_captured() {
    let mut f = Flow::new();
    // Headers cut: the request line survives.
    f.send_cut(C, GET, 25);
    f.send_cut(S, b"HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n", 30);
    f.send(C, GET);
    // Body cut: Content-Length still frames it.
    let mut resp = b"HTTP/1.1 201 Created\r\nContent-Length: 1000\r\n\r\n".to_vec();
    resp.extend([b'x'; 1000]);
    f.send_cut(S, &resp, 60);
    f.send(C, GET);
    f.send(S, OK_5);
    let h = f.http();
    assert_eq!(
        brief(&h),
        vec![
            ex("GET", "/api/orders?id=7", Some(200)),
            ex("GET", "/api/orders?id=7", Some(201)),
            ex("GET", "/api/orders?id=7", Some(200)),
        ]
    );
    assert!(h.exchanges[0].incomplete);
    assert_eq!(h.exchanges[0].host, None);
    assert!(!h.exchanges[1].incomplete);
}

#[test]
fn interim_response_cut_short_pairs_nothing() {
    let mut f = Flow::new();
    f.send(C, GET);
    f.send_cut(S, b"HTTP/1.1 100 Continue\r\nX-Pad: 1234567890\r\n\r\n", 22);
    f.send(S, OK_5);
    let h = f.http();
    assert_eq!(h.informational, 1);
    // The position was lost with the cut header; the 200 resyncs and is
    // still paired with the request.
    assert_eq!(brief(&h), vec![ex("GET", "/api/orders?id=7", Some(200))]);
}

#[test]
fn oversized_header_gives_up_cleanly() {
    let mut f = Flow::with_limits(Limits {
        max_header_bytes: 256,
        ..Limits::default()
    });
    let mut big = b"GET /huge HTTP/1.1\r\nCookie: ".to_vec();
    big.extend([b'c'; 600]);
    big.extend(b"\r\n\r\n");
    f.send_split(C, &big, &[100, 200, 300]);
    f.send(S, OK_5);
    f.send(C, b"GET /after HTTP/1.1\r\n\r\n");
    f.send(S, OK_5);
    let mem = f.t.memory_bytes();
    assert!(mem < 4096, "{mem}");
    let h = f.http();
    assert_eq!(
        brief(&h),
        vec![
            ex("GET", "/huge", Some(200)),
            ex("GET", "/after", Some(200))
        ]
    );
    assert!(h.exchanges[0].incomplete);
    assert_eq!((h.oversized_headers, h.resyncs), (1, 1));
}

#[test]
fn other_protocols_cost_nothing() {
    let mut f = Flow::new();
    f.send(S, b"SSH-2.0-OpenSSH_9.6\r\n");
    f.send(C, b"SSH-2.0-Go\r\n");
    assert!(f.t.done);
    for _ in 0..100 {
        f.send(C, b"GET / HTTP/1.1\r\n\r\n");
    }
    assert_eq!(f.t.memory_bytes(), 0);
    assert_eq!(f.t.finish(), None);
    // A first byte too few to decide waits for the next segment.
    let mut f = Flow::new();
    f.send(C, b"G");
    f.send(C, b"ET / HTTP/1.1\r\n\r\n");
    assert_eq!(f.t.protocol(), Some(Protocol::Http));
    // SMTP's server banner and client commands are not HTTP.
    let mut f = Flow::new();
    f.send(S, b"220 mail ESMTP\r\n");
    f.send(C, b"HELO x\r\n");
    assert!(f.t.done);
}

#[test]
fn joined_mid_stream_waits_for_a_message_start() {
    let mut f = Flow::midstream();
    f.send(S, b"tail of an earlier body");
    f.send(C, GET);
    f.send(S, OK_5);
    assert_eq!(
        brief(&f.http()),
        vec![ex("GET", "/api/orders?id=7", Some(200))]
    );
}

#[test]
fn a_peer_speaking_http_keeps_the_other_side_looking() {
    // The server's first segments are missing and the ones after them are
    // the middle of a body, for longer than mid-stream detection would try.
    let mut f = Flow::new();
    f.send(C, b"GET /1 HTTP/1.1\r\n\r\n");
    f.lose(S, 5000);
    for _ in 0..10 {
        f.send(S, &[b'x'; 1000]);
    }
    f.send(C, b"GET /2 HTTP/1.1\r\n\r\n");
    f.send(S, OK_5);
    let h = f.http();
    assert_eq!(
        brief(&h),
        vec![ex("GET", "/1", None), ex("GET", "/2", Some(200))]
    );
    assert!(h.exchanges[0].response_lost_in_gap);
    // Waiting for a response start holds nothing.
    let mut f = Flow::new();
    f.send(C, b"GET /1 HTTP/1.1\r\n\r\n");
    f.send(S, b"not http");
    let before = f.t.memory_bytes();
    f.lose(S, 5000);
    f.send(S, &[b'x'; 1000]);
    assert_eq!(f.t.memory_bytes(), before);
}

#[test]
fn roles_follow_content_not_direction() {
    // The analyzer took the server for the client (capture began mid-flow).
    let mut f = Flow::midstream();
    f.send(S, GET);
    f.send(C, OK_5);
    assert_eq!(
        brief(&f.http()),
        vec![ex("GET", "/api/orders?id=7", Some(200))]
    );
}

#[test]
fn wire_text_is_escaped_and_bounded() {
    let mut f = Flow::with_limits(Limits {
        max_path_chars: 40,
        ..Limits::default()
    });
    f.send(
        C,
        b"GET /a<b>\"'\\ HTTP/1.1\r\nHost: <img src=x>\xff\r\n\r\n",
    );
    f.send(
        S,
        b"HTTP/1.1 200 \xff\xfe<script>\r\nContent-Length: 0\r\n\r\n",
    );
    let h = f.http();
    let e = &h.exchanges[0];
    let text = |t: &Option<WireText>| t.as_ref().map(|t| t.as_str().to_string());
    assert_eq!(
        text(&e.path).as_deref(),
        Some("/a\\x3cb\\x3e\\x22\\x27\\x5c")
    );
    assert_eq!(
        text(&e.host).as_deref(),
        Some("\\x3cimg src=x\\x3e\u{FFFD}")
    );
    assert_eq!(
        text(&e.reason).as_deref(),
        Some("\u{FFFD}\u{FFFD}\\x3cscript\\x3e")
    );
    // A control byte in the request target is refused by httparse, in a
    // header value too (the header is then ignored).
    let mut f = Flow::new();
    f.send(C, b"GET / HTTP/1.1\r\nHost: a\x1b[2Jb\r\n\r\n");
    assert_eq!(f.http().exchanges[0].host, None);
    let mut f = Flow::with_limits(Limits {
        max_path_chars: 40,
        ..Limits::default()
    });
    let mut req = b"GET /".to_vec();
    req.extend([b'z'; 100]);
    req.extend(b" HTTP/1.1\r\n\r\n");
    f.send(C, &req);
    let h = f.http();
    let path = h.exchanges[0]
        .path
        .as_ref()
        .map(|p| p.as_str().chars().count());
    assert_eq!(path, Some(40));
}

#[test]
fn exchanges_are_bounded_and_the_slowest_is_kept() {
    let mut f = Flow::with_limits(Limits {
        max_exchanges: 5,
        ..Limits::default()
    });
    for i in 0..100 {
        f.send(C, format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes());
        if i == 70 {
            f.ts += 2_000 * MS;
        }
        f.send(S, OK_5);
    }
    let h = f.http();
    assert_eq!(h.exchanges.len(), 5);
    assert_eq!(h.exchanges_not_kept, 95);
    let slow = h
        .slowest
        .as_ref()
        .map(|e| (e.path.clone(), e.response_time_ns()));
    assert_eq!(
        slow,
        Some((Some(WireText::from_wire(b"/70", 9)), Some(2_001 * MS)))
    );
    assert_eq!(h.status.s2xx, 100);
}

#[test]
fn unanswered_requests_are_reported_at_the_end() {
    let mut f = Flow::new();
    f.send(C, GET);
    f.send(S, OK_5);
    f.send(C, b"POST /slow HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
    let h = f.http();
    assert_eq!(
        brief(&h),
        vec![
            ex("GET", "/api/orders?id=7", Some(200)),
            ex("POST", "/slow", None)
        ]
    );
    assert_eq!(h.unanswered, 1);
    assert!(!h.exchanges[1].response_lost_in_gap);
}

#[test]
fn pipelining_beyond_the_bound_is_counted() {
    let mut f = Flow::with_limits(Limits {
        max_pending_requests: 2,
        ..Limits::default()
    });
    f.send(
        C,
        b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nGET /3 HTTP/1.1\r\n\r\n",
    );
    f.send(S, OK_5);
    f.send(S, OK_5);
    f.send(S, OK_5);
    let h = f.http();
    assert_eq!(
        brief(&h),
        vec![
            ex("GET", "/1", Some(200)),
            ex("GET", "/2", Some(200)),
            ex("-", "-", Some(200))
        ]
    );
    assert_eq!(h.requests_not_tracked, 1);
}

#[test]
fn upgrade_makes_the_rest_opaque() {
    let mut f = Flow::new();
    f.send(
        C,
        b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    );
    f.send(
        S,
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
    );
    f.send(C, b"\x81\x85GET / HTTP/1.1\r\n\r\n");
    assert!(f.t.done);
    let h = f.http();
    assert_eq!(brief(&h), vec![ex("GET", "/ws", Some(101))]);
    assert_eq!(h.status.other, 1);
}

#[test]
fn http2_prior_knowledge_is_named() {
    let mut f = Flow::new();
    f.send(C, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    let s = f.t.finish().map(|s| (s.protocol, s.http, s.tls));
    assert_eq!(s, Some((Protocol::Http2, None, None)));
}

// --- TLS ---

fn u16be(v: usize) -> [u8; 2] {
    (v as u16).to_be_bytes()
}

fn ext(ty: u16, data: &[u8]) -> Vec<u8> {
    let mut e = ty.to_be_bytes().to_vec();
    e.extend(u16be(data.len()));
    e.extend(data);
    e
}

fn handshake_record(ty: u8, body: &[u8]) -> Vec<u8> {
    let mut hs = vec![ty];
    hs.extend(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend(body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend(u16be(hs.len()));
    rec.extend(hs);
    rec
}

/// A ClientHello with SNI, ALPN, supported_versions (with GREASE) and a key
/// share of `key_share` bytes (an ML-KEM hybrid share is 1216).
fn client_hello(sni: &[u8], alpn: &[&[u8]], key_share: usize) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend([7u8; 32]);
    b.push(32);
    b.extend([9u8; 32]);
    b.extend([0, 6, 0x13, 0x01, 0x13, 0x02, 0xc0, 0x2f]);
    b.extend([1, 0]);
    let mut exts = Vec::new();
    let mut sni_list = vec![0];
    sni_list.extend(u16be(sni.len()));
    sni_list.extend(sni);
    let mut sni_ext = u16be(sni_list.len()).to_vec();
    sni_ext.extend(sni_list);
    exts.extend(ext(0, &sni_ext));
    let mut protos = Vec::new();
    for p in alpn {
        protos.push(p.len() as u8);
        protos.extend(*p);
    }
    let mut alpn_ext = u16be(protos.len()).to_vec();
    alpn_ext.extend(protos);
    exts.extend(ext(16, &alpn_ext));
    exts.extend(ext(43, &[6, 0x1a, 0x1a, 3, 4, 3, 3]));
    let mut ks = u16be(key_share + 4).to_vec();
    ks.extend([0x11, 0xec]);
    ks.extend(u16be(key_share));
    ks.extend(vec![0x5a; key_share]);
    exts.extend(ext(51, &ks));
    b.extend(u16be(exts.len()));
    b.extend(exts);
    handshake_record(1, &b)
}

fn server_hello(exts: &[u8]) -> Vec<u8> {
    let mut b = vec![3, 3];
    b.extend([1u8; 32]);
    b.push(0);
    b.extend([0x13, 0x01, 0]);
    b.extend(u16be(exts.len()));
    b.extend(exts);
    handshake_record(2, &b)
}

#[test]
fn tls_hellos_whole() {
    let mut f = Flow::new();
    f.send(
        C,
        &client_hello(b"api.example.com", &[b"h2", b"http/1.1"], 32),
    );
    f.send(S, &server_hello(&ext(43, &[3, 4])));
    f.send(C, b"\x17\x03\x03\x00\x10encrypted.......");
    let s = f.t.finish().expect("tls");
    assert_eq!(s.protocol, Protocol::Tls);
    let t = s.tls.expect("tls info");
    assert_eq!(t.sni, Some(WireText::from_wire(b"api.example.com", 99)));
    assert_eq!(
        t.alpn_offered,
        vec![
            WireText::from_wire(b"h2", 9),
            WireText::from_wire(b"http/1.1", 9)
        ]
    );
    assert_eq!(t.client_version.as_deref(), Some("TLS 1.2"));
    assert_eq!(t.supported_versions, vec!["TLS 1.3", "TLS 1.2"]);
    assert_eq!(t.version.as_deref(), Some("TLS 1.3"));
    assert_eq!(t.cipher.as_deref(), Some("TLS_AES_128_GCM_SHA256"));
    assert_eq!(
        (t.client_hello_ts_ns, t.server_hello_ts_ns),
        (Some(MS), Some(2 * MS))
    );
    assert_eq!(t.alpn_selected, None);
    assert!(!t.incomplete);
}

#[test]
fn tls12_server_selects_alpn() {
    let mut f = Flow::new();
    f.send(C, &client_hello(b"x", &[b"h2"], 32));
    let mut alpn = vec![0, 3, 2];
    alpn.extend(b"h2");
    f.send(S, &server_hello(&ext(16, &alpn)));
    let t = f.t.finish().and_then(|s| s.tls).expect("tls");
    assert_eq!(t.version.as_deref(), Some("TLS 1.2"));
    assert_eq!(t.alpn_selected, Some(WireText::from_wire(b"h2", 9)));
}

#[test]
fn client_hello_split_across_segments() {
    // A post-quantum key share makes the hello larger than one segment.
    let hello = client_hello(b"pq.example", &[b"h2"], 1216);
    assert!(hello.len() > 1300);
    for cuts in [
        vec![3],
        vec![5],
        vec![9],
        vec![1000],
        vec![1, 2, 700, 1300],
        (1..hello.len()).step_by(97).collect(),
    ] {
        let mut f = Flow::new();
        f.send_split(C, &hello, &cuts);
        assert!(f.t.memory_bytes() <= Limits::default().heap_bound());
        let t = f.t.finish().and_then(|s| s.tls).expect("tls");
        assert_eq!(
            t.sni,
            Some(WireText::from_wire(b"pq.example", 99)),
            "{cuts:?}"
        );
        assert!(!t.incomplete);
    }
    // Reordered halves are put back in order.
    let mut f = Flow::new();
    let seq = f.seq[0];
    let (a, b) = hello.split_at(700);
    f.seg_at(C, seq.wrapping_add(700), b.len() as u32, b);
    f.seg_at(C, seq, a.len() as u32, a);
    let t = f.t.finish().and_then(|s| s.tls).expect("tls");
    assert_eq!(t.sni, Some(WireText::from_wire(b"pq.example", 99)));
}

#[test]
fn hello_over_the_bound_or_cut_is_incomplete() {
    let hello = client_hello(b"big.example", &[b"h2"], 3000);
    let mut f = Flow::with_limits(Limits {
        max_tls_hello_bytes: 2048,
        ..Limits::default()
    });
    f.send_split(C, &hello, &[1000, 2000]);
    let t = f.t.finish().and_then(|s| s.tls).expect("tls");
    assert_eq!((t.sni, t.incomplete), (None, true));
    let mut f = Flow::new();
    f.send_cut(C, &hello, 200);
    let t = f.t.finish().and_then(|s| s.tls).expect("tls");
    assert_eq!((t.sni, t.incomplete), (None, true));
}

#[test]
fn connect_tunnel_then_tls() {
    let mut f = Flow::new();
    f.send(
        C,
        b"CONNECT db.example:443 HTTP/1.1\r\nHost: db.example:443\r\n\r\n",
    );
    f.send(S, b"HTTP/1.1 200 Connection established\r\n\r\n");
    f.send(C, &client_hello(b"db.example", &[], 32));
    f.send(S, &server_hello(&ext(43, &[3, 4])));
    let s = f.t.finish().expect("summary");
    assert_eq!(s.protocol, Protocol::Http);
    assert_eq!(
        brief(&s.http.expect("http")),
        vec![ex("CONNECT", "db.example:443", Some(200))]
    );
    let t = s.tls.expect("tls");
    assert_eq!(t.sni, Some(WireText::from_wire(b"db.example", 99)));
    assert_eq!(t.version.as_deref(), Some("TLS 1.3"));
}

#[test]
fn connect_tunnel_of_another_protocol_is_let_go() {
    // The client speaks into the tunnel before the proxy answers.
    let mut f = Flow::new();
    f.send(
        C,
        b"CONNECT git.example:22 HTTP/1.1\r\n\r\nSSH-2.0-client\r\n",
    );
    assert!(matches!(f.t.sides[0].parser, Parser::Ignore));
    f.send(S, b"HTTP/1.1 200 OK\r\n\r\nSSH-2.0-server\r\n");
    assert!(f.t.done);
    let h = f.http();
    assert_eq!(brief(&h), vec![ex("CONNECT", "git.example:22", Some(200))]);
}

#[test]
fn summary_serializes_to_plain_json() {
    let mut f = Flow::new();
    f.send(C, GET);
    f.send(S, OK_5);
    let s = f.t.finish().expect("summary");
    let v = serde_json::to_value(&s).expect("json");
    assert_eq!(v["protocol"], "http");
    assert_eq!(v["http"]["exchanges"][0]["path"], "/api/orders?id=7");
    assert_eq!(v["http"]["exchanges"][0]["status"], 200);
    assert_eq!(v["tls"], serde_json::Value::Null);
}

mod prop {
    use super::*;
    use proptest::prelude::*;

    /// Small bounds, so the memory bound is tight enough to mean something.
    fn small() -> Limits {
        Limits {
            max_exchanges: 4,
            max_pending_requests: 4,
            max_header_bytes: 512,
            max_tls_hello_bytes: 1024,
            max_held_segments: 4,
            max_held_bytes: 2048,
            max_path_chars: 64,
            max_text_chars: 32,
        }
    }

    /// What each direction would send in a well-formed conversation; the
    /// operations below take slices of it, lose, reorder or garble them.
    fn scripts() -> [Vec<u8>; 2] {
        let mut c = Vec::new();
        let mut s = Vec::new();
        for i in 0..6 {
            c.extend(format!("POST /p{i} HTTP/1.1\r\nHost: h{i}\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n").bytes());
            c.extend(format!("HEAD /h{i} HTTP/1.1\r\n\r\nGET /g{i} HTTP/1.1\r\nContent-Length: 4\r\n\r\nbody").bytes());
            s.extend(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
            s.extend(
                b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n",
            );
        }
        c.extend(b"CONNECT x:443 HTTP/1.1\r\n\r\n");
        c.extend(client_hello(b"prop.example", &[b"h2"], 600));
        s.extend(b"HTTP/1.1 200 OK\r\n\r\n");
        s.extend(server_hello(&ext(43, &[3, 4])));
        [c, s]
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// The next `len` bytes of a direction's script, or lost.
        Script {
            dir: usize,
            len: usize,
            lost: bool,
            captured: Option<usize>,
        },
        /// Bytes of the script sent again from `back` bytes before the cursor.
        Again { dir: usize, back: usize, len: usize },
        /// Arbitrary bytes at an arbitrary place.
        Random {
            dir: usize,
            delta: i32,
            bytes: Vec<u8>,
            uncaptured: u16,
            syn: bool,
        },
        /// A bare ACK, anywhere.
        Ack { dir: usize, delta: i32 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..2usize, 1..300usize, proptest::bool::weighted(0.1), proptest::option::weighted(0.1, 0..300usize))
                .prop_map(|(dir, len, lost, captured)| Op::Script { dir, len, lost, captured }),
            1 => (0..2usize, 0..400usize, 1..300usize).prop_map(|(dir, back, len)| Op::Again { dir, back, len }),
            2 => (0..2usize, -3000..3000i32, proptest::collection::vec(any::<u8>(), 0..200), 0..2000u16, proptest::bool::weighted(0.05))
                .prop_map(|(dir, delta, bytes, uncaptured, syn)| Op::Random { dir, delta, bytes, uncaptured, syn }),
            1 => (0..2usize, -3000..3000i32).prop_map(|(dir, delta)| Op::Ack { dir, delta }),
        ]
    }

    fn dir(i: usize) -> Direction {
        if i == 0 {
            C
        } else {
            S
        }
    }

    fn check_text(t: &WireText) {
        assert!(
            !t.as_str().chars().any(|c| c.is_control() || c == '<'),
            "{t:?}"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn never_panics_and_stays_bounded(start in any::<u32>(), ops in proptest::collection::vec(op(), 1..80)) {
            let limits = small();
            let bound = limits.heap_bound();
            let scripts = scripts();
            let mut t = L7Tracker::new(limits);
            let mut pos = [0usize; 2];
            let base = [start, start.wrapping_add(1 << 30)];
            let mut ts = 0;
            for o in ops {
                ts += 1000;
                let mut seg = Segment { ts_ns: ts, dir: C, seq: 0, ack: None, syn: false, wire_len: 0, payload: &[] };
                match &o {
                    Op::Script { dir: d, len, lost, captured } => {
                        let sc = &scripts[*d];
                        let from = pos[*d].min(sc.len());
                        let to = from.saturating_add(*len).min(sc.len());
                        pos[*d] = to;
                        if *lost { continue; }
                        let bytes = &sc[from..to];
                        seg.dir = dir(*d);
                        seg.seq = base[*d].wrapping_add(from as u32);
                        seg.ack = Some(base[1 - *d].wrapping_add(pos[1 - *d] as u32));
                        seg.wire_len = bytes.len() as u32;
                        seg.payload = &bytes[..captured.unwrap_or(bytes.len()).min(bytes.len())];
                    }
                    Op::Again { dir: d, back, len } => {
                        let sc = &scripts[*d];
                        let from = pos[*d].saturating_sub(*back).min(sc.len());
                        let to = from.saturating_add(*len).min(sc.len());
                        seg.dir = dir(*d);
                        seg.seq = base[*d].wrapping_add(from as u32);
                        seg.wire_len = (to - from) as u32;
                        seg.payload = &sc[from..to];
                    }
                    Op::Random { dir: d, delta, bytes, uncaptured, syn } => {
                        seg.dir = dir(*d);
                        seg.seq = base[*d].wrapping_add(pos[*d] as u32).wrapping_add(*delta as u32);
                        seg.wire_len = bytes.len() as u32 + u32::from(*uncaptured);
                        seg.payload = bytes;
                        seg.syn = *syn;
                        seg.ack = Some(seg.seq.wrapping_add(*delta as u32));
                    }
                    Op::Ack { dir: d, delta } => {
                        seg.dir = dir(*d);
                        seg.seq = base[*d].wrapping_add(pos[*d] as u32);
                        seg.ack = Some(base[1 - *d].wrapping_add(pos[1 - *d] as u32).wrapping_add(*delta as u32));
                    }
                }
                t.segment(&seg);
                let mem = t.memory_bytes();
                prop_assert!(mem <= bound, "{} > {} after {:?}", mem, bound, o);
            }
            if let Some(s) = t.finish() {
                let json = serde_json::to_string(&s);
                prop_assert!(json.is_ok());
                if let Some(h) = &s.http {
                    prop_assert!(h.exchanges.len() <= 4);
                    for e in h.exchanges.iter().chain(&h.slowest) {
                        for x in [&e.method, &e.path, &e.host, &e.reason].into_iter().flatten() {
                            check_text(x);
                        }
                    }
                }
                if let Some(tls) = &s.tls {
                    for x in tls.sni.iter().chain(&tls.alpn_offered).chain(&tls.alpn_selected) {
                        check_text(x);
                    }
                }
            }
            prop_assert_eq!(t.memory_bytes(), 0);
        }
    }
}
