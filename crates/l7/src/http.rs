//! HTTP/1.x: message framing of one direction, and the pairing of responses
//! with requests.
//!
//! Headers are parsed with `httparse`, from the segment itself when the
//! block is whole, otherwise from a bounded buffer. Bodies are never kept:
//! a `Content-Length` body is counted down (even through bytes the capture
//! lacks), a chunked body is followed chunk-size line by chunk-size line,
//! and a response framed by the end of the connection swallows the rest.

use std::collections::VecDeque;

use httparse::{Header, ParserConfig, Status, EMPTY_HEADER};

use crate::detect;
use crate::limits::{Limits, MAX_METHOD_CHARS};
use crate::summary::{HttpExchange, HttpSummary};
use crate::text::WireText;

/// Headers per message handed to httparse: far above what clients send (a
/// browser sends ~20); a block with more is treated like an oversized one.
const MAX_HEADERS: usize = 100;
/// A chunk-size or trailer line longer than this is not HTTP framing.
const MAX_LINE: usize = 1024;

/// Which messages a direction carries (decided by content, not by who
/// opened the connection).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    Requests,
    Responses,
}

/// What a request means for the framing of its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReqKind {
    Head,
    Connect,
    Other,
    /// No request seen: the response is framed by its own headers.
    Unknown,
}

/// How the body after a header is delimited (RFC 9112 section 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    NoBody,
    Length(u64),
    Chunked,
    UntilClose,
    /// Contradictory or unparsable framing headers: the position is lost.
    Invalid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    /// The CRLF after a chunk's data; `true` once the CR was seen.
    ChunkEnd(bool),
    Trailer,
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At a message boundary.
    Start,
    /// Inside a header block (its start is in `buf`).
    Header,
    Body(Body),
    /// Position unknown: waiting for a segment that starts a message.
    Lost,
}

/// Where a direction goes after a message changed the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Switch {
    /// A CONNECT tunnel: detect what it carries (usually TLS).
    Detect,
    /// Not HTTP after all.
    Ignore,
    /// 101 Switching Protocols: the rest of the flow is opaque.
    Upgraded,
}

/// Result of feeding bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fed {
    Consumed,
    /// The bytes from this offset on belong to another parser.
    Switch(Switch, usize),
}

/// A parsed header block, reduced to what is kept.
#[derive(Debug)]
enum Head {
    Request {
        method: WireText,
        path: WireText,
        version: Option<&'static str>,
        host: Option<WireText>,
        kind: ReqKind,
        framing: Framing,
    },
    Response {
        status: u16,
        reason: Option<WireText>,
        /// Framing from the headers alone; the request may override it.
        framing: Framing,
    },
}

enum Parsed {
    Complete(usize, Head),
    Partial,
    /// Not a valid header; the start line, if it parsed, is kept.
    Invalid(Option<Head>),
}

/// Message framing state of one direction.
#[derive(Debug)]
pub(crate) struct HttpStream {
    role: Role,
    state: State,
    /// The start of a header block, or a chunk-size/trailer line, that did
    /// not fit in one segment. Empty (no allocation) in the common case.
    buf: Vec<u8>,
    /// Capture time of the current message's first byte.
    msg_ts: i64,
    /// A message parsed: bad syntax from now on loses the position instead
    /// of meaning "not HTTP".
    synced: bool,
    /// The next message is the first after a resynchronisation.
    after_gap: bool,
}

/// 1xx but 101: an interim response (100 Continue, 103 Early Hints).
fn is_interim(status: u16) -> bool {
    (100..200).contains(&status) && status != 101
}

fn version_name(minor: Option<u8>) -> Option<&'static str> {
    match minor {
        Some(0) => Some("HTTP/1.0"),
        Some(1) => Some("HTTP/1.1"),
        _ => None,
    }
}

/// The framing headers of a message: `Transfer-Encoding` wins over
/// `Content-Length`; several lengths must agree (RFC 9112 6.3).
fn framing(headers: &[Header<'_>], role: Role) -> Framing {
    let mut te: Option<bool> = None; // Some(chunked is the final coding)
    let mut length: Option<u64> = None;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or(&[]);
            te = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        } else if h.name.eq_ignore_ascii_case("content-length") {
            for v in h.value.split(|&b| b == b',') {
                let Some(n) = parse_decimal(v.trim_ascii()) else {
                    return Framing::Invalid;
                };
                if length.is_some_and(|l| l != n) {
                    return Framing::Invalid;
                }
                length = Some(n);
            }
        }
    }
    match (te, length, role) {
        (Some(true), _, _) => Framing::Chunked,
        // A request with another final coding cannot be delimited.
        (Some(false), _, Role::Requests) => Framing::Invalid,
        (Some(false), _, Role::Responses) => Framing::UntilClose,
        (None, Some(0), _) => Framing::NoBody,
        (None, Some(n), _) => Framing::Length(n),
        (None, None, Role::Requests) => Framing::NoBody,
        (None, None, Role::Responses) => Framing::UntilClose,
    }
}

fn parse_decimal(v: &[u8]) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    v.iter().try_fold(0u64, |acc, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

fn request_config() -> ParserConfig {
    let mut c = ParserConfig::default();
    c.allow_multiple_spaces_in_request_line_delimiters(true)
        .ignore_invalid_headers_in_requests(true);
    c
}

fn response_config() -> ParserConfig {
    // Servers are sloppier than clients; what browsers accept is accepted.
    let mut c = ParserConfig::default();
    c.allow_multiple_spaces_in_response_status_delimiters(true)
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .ignore_invalid_headers_in_responses(true);
    c
}

fn parse_request(bytes: &[u8], limits: &Limits) -> Parsed {
    let mut headers = [EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let result = request_config().parse_request(&mut req, bytes);
    match result {
        Ok(Status::Complete(n)) => {
            let Some(Head::Request {
                method,
                path,
                version,
                kind,
                ..
            }) = parse_request_start(&req, limits)
            else {
                return Parsed::Invalid(None);
            };
            let host = req
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("host"))
                .map(|h| WireText::from_wire(h.value.trim_ascii(), limits.max_text_chars));
            let framing = framing(req.headers, Role::Requests);
            Parsed::Complete(
                n,
                Head::Request {
                    method,
                    path,
                    version,
                    host,
                    kind,
                    framing,
                },
            )
        }
        Ok(Status::Partial) => Parsed::Partial,
        Err(_) => Parsed::Invalid(parse_request_start(&req, limits)),
    }
}

/// Parses a header block cut short: only its start line, if complete.
fn salvage(bytes: &[u8], role: Role, limits: &Limits) -> Option<Head> {
    match (role, parse_head(bytes, role, limits)) {
        (_, Parsed::Invalid(h)) => h,
        (Role::Requests, Parsed::Partial) => {
            let mut headers = [EMPTY_HEADER; 0];
            let mut req = httparse::Request::new(&mut headers);
            let _ = request_config().parse_request(&mut req, bytes);
            parse_request_start(&req, limits)
        }
        (Role::Responses, Parsed::Partial) => {
            let mut headers = [EMPTY_HEADER; 0];
            let mut resp = httparse::Response::new(&mut headers);
            let _ = response_config().parse_response(&mut resp, bytes);
            resp.code.map(|status| Head::Response {
                status,
                reason: raw_reason(bytes).map(|r| WireText::from_wire(r, limits.max_text_chars)),
                framing: Framing::Invalid,
            })
        }
        (_, Parsed::Complete(..)) => None,
    }
}

fn parse_request_start(req: &httparse::Request<'_, '_>, limits: &Limits) -> Option<Head> {
    let (Some(m), Some(p)) = (req.method, req.path) else {
        return None;
    };
    Some(Head::Request {
        method: WireText::from_wire(m.as_bytes(), MAX_METHOD_CHARS),
        path: WireText::from_wire(p.as_bytes(), limits.max_path_chars),
        version: version_name(req.version),
        host: None,
        kind: match m {
            "HEAD" => ReqKind::Head,
            "CONNECT" => ReqKind::Connect,
            _ => ReqKind::Other,
        },
        framing: Framing::Invalid,
    })
}

fn parse_response(bytes: &[u8], limits: &Limits) -> Parsed {
    let mut headers = [EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let result = response_config().parse_response(&mut resp, bytes);
    let reason = resp
        .code
        .and_then(|_| raw_reason(bytes))
        .map(|r| WireText::from_wire(r, limits.max_text_chars));
    match (result, resp.code) {
        (Ok(Status::Complete(n)), Some(status)) => Parsed::Complete(
            n,
            Head::Response {
                status,
                reason,
                framing: framing(resp.headers, Role::Responses),
            },
        ),
        (Ok(Status::Partial), _) => Parsed::Partial,
        (_, status) => Parsed::Invalid(status.map(|status| Head::Response {
            status,
            reason,
            framing: Framing::Invalid,
        })),
    }
}

/// The reason phrase of a status line httparse accepted, as raw bytes:
/// httparse gives "" for one with obs-text (bytes 0x80-0xff) since it is
/// not UTF-8, but it is still worth showing (lossily).
fn raw_reason(bytes: &[u8]) -> Option<&[u8]> {
    let line = bytes.split(|&b| b == b'\n').next()?;
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    // "HTTP/1.x", blanks, three digits, blanks, reason.
    let rest = line.get(8..)?;
    let rest = &rest[rest.iter().take_while(|b| is_blank(b)).count()..];
    let rest = rest.get(3..)?;
    let rest = &rest[rest.iter().take_while(|b| is_blank(b)).count()..];
    (!rest.is_empty()).then_some(rest)
}

fn parse_head(bytes: &[u8], role: Role, limits: &Limits) -> Parsed {
    match role {
        Role::Requests => parse_request(bytes, limits),
        Role::Responses => parse_response(bytes, limits),
    }
}

impl HttpStream {
    /// `after_gap`: bytes before the first message went missing.
    pub(crate) fn new(role: Role, after_gap: bool) -> Self {
        HttpStream {
            role,
            state: State::Start,
            buf: Vec::new(),
            msg_ts: 0,
            synced: false,
            after_gap,
        }
    }

    /// A direction whose peer speaks HTTP but whose own first bytes were
    /// not a message start (joined mid-body, or its start went missing):
    /// it waits for a segment that starts one.
    pub(crate) fn waiting(role: Role) -> Self {
        HttpStream {
            state: State::Lost,
            synced: true,
            ..HttpStream::new(role, true)
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.buf.capacity()
    }

    /// Bytes the stream would skip unseen from here (a hole inside them is
    /// harmless).
    pub(crate) fn skippable(&self) -> u64 {
        match self.state {
            State::Body(Body::Length(n) | Body::ChunkData(n)) => n,
            State::Body(Body::UntilClose) => u64::MAX,
            _ => 0,
        }
    }

    /// Whether holes are worth waiting for: once lost, only segment starts
    /// matter, so waiting would only cost memory.
    pub(crate) fn needs_order(&self) -> bool {
        self.state != State::Lost
    }

    /// Feeds in-order bytes that start a captured segment (or its fresh
    /// part); `uncaptured` bytes followed on the wire.
    pub(crate) fn feed(
        &mut self,
        ts: i64,
        data: &[u8],
        uncaptured: u32,
        book: &mut HttpBook,
        limits: &Limits,
    ) -> Fed {
        if self.state == State::Lost {
            let starts = match self.role {
                Role::Requests => detect::starts_request(data),
                Role::Responses => detect::starts_response(data),
            };
            if !starts {
                return Fed::Consumed;
            }
            self.state = State::Start;
            self.after_gap = true;
        }
        let mut pos = 0;
        while let Some(rest) = data.get(pos..).filter(|r| !r.is_empty()) {
            match self.state {
                State::Start => {
                    self.msg_ts = ts;
                    self.state = State::Header;
                }
                State::Header => match self.header(rest, book, limits) {
                    Step::NeedMore => pos = data.len(),
                    Step::Done(n) => pos = pos.saturating_add(n),
                    Step::Switch(n, to) => return Fed::Switch(to, pos.saturating_add(n)),
                },
                State::Body(b) => pos = pos.saturating_add(self.body(b, rest, book)),
                State::Lost => return Fed::Consumed,
            }
        }
        if uncaptured > 0 {
            self.skip(uncaptured, book, limits);
        }
        Fed::Consumed
    }

    /// `len` bytes that are not in the capture.
    pub(crate) fn skip(&mut self, len: u32, book: &mut HttpBook, limits: &Limits) {
        let n = u64::from(len);
        match &mut self.state {
            _ if n == 0 => {}
            State::Body(Body::Length(r)) if *r >= n => {
                *r -= n;
                if *r == 0 {
                    self.state = State::Start;
                }
            }
            State::Body(Body::ChunkData(r)) if *r >= n => {
                *r -= n;
                if *r == 0 {
                    self.state = State::Body(Body::ChunkEnd(false));
                }
            }
            State::Body(Body::UntilClose) | State::Lost => {}
            State::Header => {
                // The rest of the header is missing: keep its start line.
                if let Some(head) = salvage(&self.buf, self.role, limits) {
                    self.record(head, true, book);
                }
                self.lose(book);
            }
            _ => self.lose(book),
        }
    }

    /// The flow ended: a header still in the buffer is kept as far as it got.
    pub(crate) fn finish(&mut self, book: &mut HttpBook, limits: &Limits) {
        if self.state == State::Header {
            if let Some(head) = salvage(&self.buf, self.role, limits) {
                self.record(head, true, book);
            }
        }
        self.state = State::Lost;
        self.buf = Vec::new();
    }

    fn lose(&mut self, book: &mut HttpBook) {
        self.state = State::Lost;
        self.buf = Vec::new();
        book.summary.resyncs = book.summary.resyncs.saturating_add(1);
    }

    fn header(&mut self, rest: &[u8], book: &mut HttpBook, limits: &Limits) -> Step {
        let max = limits.max_header_bytes;
        let (parsed, used_before) = if self.buf.is_empty() {
            // The common case: the whole block is in this segment, no copy.
            match parse_head(rest, self.role, limits) {
                Parsed::Partial if rest.len() < max => {
                    self.buf.extend_from_slice(rest);
                    return Step::NeedMore;
                }
                p => (p, 0),
            }
        } else {
            let before = self.buf.len();
            let take = rest.len().min(max.saturating_sub(before));
            self.buf.extend_from_slice(&rest[..take]);
            (parse_head(&self.buf, self.role, limits), before)
        };
        match parsed {
            Parsed::Complete(n, head) => {
                self.buf = Vec::new();
                let used = n.saturating_sub(used_before);
                match self.on_head(head, book) {
                    Some(to) => Step::Switch(used, to),
                    None => Step::Done(used),
                }
            }
            Parsed::Partial if self.buf.len() < max && !self.buf.is_empty() => Step::NeedMore,
            Parsed::Partial => {
                book.summary.oversized_headers = book.summary.oversized_headers.saturating_add(1);
                let bytes = if self.buf.is_empty() {
                    rest
                } else {
                    &self.buf[..]
                };
                let head = salvage(bytes, self.role, limits);
                self.failed(head, book)
            }
            Parsed::Invalid(head) => self.failed(head, book),
        }
    }

    /// A header that could not be parsed whole.
    fn failed(&mut self, head: Option<Head>, book: &mut HttpBook) -> Step {
        if !self.synced && head.is_none() {
            // The first message is not HTTP after all.
            return Step::Switch(0, Switch::Ignore);
        }
        if let Some(h) = head {
            self.record(h, true, book);
        }
        self.lose(book);
        Step::NeedMore
    }

    /// Books a header that was cut short; its body cannot be delimited.
    fn record(&mut self, head: Head, incomplete: bool, book: &mut HttpBook) -> ReqKind {
        self.synced = true;
        let after_gap = std::mem::take(&mut self.after_gap);
        match head {
            Head::Request {
                method,
                path,
                version,
                host,
                kind,
                ..
            } => {
                book.request(
                    HttpExchange {
                        request_ts_ns: Some(self.msg_ts),
                        method: Some(method),
                        path: Some(path),
                        version,
                        host,
                        incomplete,
                        ..HttpExchange::default()
                    },
                    kind,
                );
                kind
            }
            // An interim response answers nothing yet (this is reached for
            // one cut short; whole ones are counted in `on_head`).
            Head::Response { status, .. } if is_interim(status) => {
                book.summary.informational = book.summary.informational.saturating_add(1);
                self.after_gap = after_gap;
                ReqKind::Unknown
            }
            Head::Response { status, reason, .. } => {
                book.response(self.msg_ts, status, reason, incomplete, after_gap)
            }
        }
    }

    /// A complete header: books it and sets up its body.
    fn on_head(&mut self, head: Head, book: &mut HttpBook) -> Option<Switch> {
        let (status, own_framing) = match &head {
            Head::Request { framing, kind, .. } => {
                let (f, k) = (*framing, *kind);
                self.record(head, false, book);
                if k == ReqKind::Connect {
                    return Some(Switch::Detect);
                }
                self.body_from(f, book);
                return None;
            }
            Head::Response {
                status, framing, ..
            } => (*status, *framing),
        };
        if is_interim(status) {
            // The final response to the same request follows.
            self.synced = true;
            book.summary.informational = book.summary.informational.saturating_add(1);
            self.state = State::Start;
            return None;
        }
        let kind = self.record(head, false, book);
        if status == 101 {
            return Some(Switch::Upgraded);
        }
        if kind == ReqKind::Connect && (200..300).contains(&status) {
            return Some(Switch::Detect);
        }
        let f = if kind == ReqKind::Head || status == 204 || status == 304 {
            Framing::NoBody
        } else {
            own_framing
        };
        self.body_from(f, book);
        None
    }

    fn body_from(&mut self, f: Framing, book: &mut HttpBook) {
        self.state = match f {
            Framing::NoBody | Framing::Length(0) => State::Start,
            Framing::Length(n) => State::Body(Body::Length(n)),
            Framing::Chunked => State::Body(Body::ChunkSize),
            Framing::UntilClose => State::Body(Body::UntilClose),
            Framing::Invalid => {
                self.lose(book);
                return;
            }
        };
    }

    /// Consumes body bytes; returns how many.
    fn body(&mut self, b: Body, rest: &[u8], book: &mut HttpBook) -> usize {
        let len = rest.len();
        let len64 = u64::try_from(len).unwrap_or(u64::MAX);
        match b {
            Body::Length(r) | Body::ChunkData(r) => {
                let take = r.min(len64);
                let left = r - take;
                self.state = match (b, left) {
                    (Body::Length(_), 0) => State::Start,
                    (Body::Length(_), l) => State::Body(Body::Length(l)),
                    (_, 0) => State::Body(Body::ChunkEnd(false)),
                    (_, l) => State::Body(Body::ChunkData(l)),
                };
                usize::try_from(take).unwrap_or(len)
            }
            Body::UntilClose => len,
            Body::ChunkEnd(seen_cr) => {
                match (rest[0], seen_cr) {
                    (b'\r', false) => self.state = State::Body(Body::ChunkEnd(true)),
                    (b'\n', _) => self.state = State::Body(Body::ChunkSize),
                    _ => self.lose(book),
                }
                1
            }
            Body::ChunkSize | Body::Trailer => self.line(b, rest, book),
        }
    }

    /// Collects a chunk-size or trailer line; returns the bytes consumed.
    fn line(&mut self, b: Body, rest: &[u8], book: &mut HttpBook) -> usize {
        let Some(nl) = rest.iter().position(|&c| c == b'\n') else {
            if self.buf.len().saturating_add(rest.len()) > MAX_LINE {
                self.lose(book);
            } else {
                self.buf.extend_from_slice(rest);
            }
            return rest.len();
        };
        let used = nl + 1;
        let line: &[u8] = if self.buf.is_empty() {
            &rest[..used]
        } else {
            if self.buf.len().saturating_add(used) > MAX_LINE {
                self.lose(book);
                return used;
            }
            self.buf.extend_from_slice(&rest[..used]);
            &self.buf
        };
        let next = match b {
            Body::ChunkSize => match httparse::parse_chunk_size(line) {
                Ok(Status::Complete((_, 0))) => Some(State::Body(Body::Trailer)),
                Ok(Status::Complete((_, n))) => Some(State::Body(Body::ChunkData(n))),
                _ => None,
            },
            // An empty line ends the trailer section and the message.
            _ if line == b"\r\n" || line == b"\n" => Some(State::Start),
            _ => Some(State::Body(Body::Trailer)),
        };
        if !self.buf.is_empty() {
            self.buf = Vec::new();
        }
        match next {
            Some(s) => self.state = s,
            None => self.lose(book),
        }
        used
    }
}

enum Step {
    /// All bytes went into the header buffer.
    NeedMore,
    /// The header ended after this many bytes.
    Done(usize),
    Switch(usize, Switch),
}

/// Requests waiting for their response, and the exchanges paired so far.
#[derive(Debug, Default)]
pub(crate) struct HttpBook {
    max_pending: usize,
    max_exchanges: usize,
    pending: VecDeque<(HttpExchange, ReqKind)>,
    pub(crate) summary: HttpSummary,
    /// Any HTTP/1.x message seen.
    pub(crate) seen: bool,
}

impl HttpBook {
    pub(crate) fn new(limits: &Limits) -> Self {
        HttpBook {
            max_pending: limits.max_pending_requests,
            max_exchanges: limits.max_exchanges,
            ..HttpBook::default()
        }
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        fn ex(e: &HttpExchange) -> usize {
            [&e.method, &e.path, &e.host, &e.reason]
                .iter()
                .map(|t| t.as_ref().map_or(0, |t| t.as_str().len()))
                .sum()
        }
        let item = std::mem::size_of::<(HttpExchange, ReqKind)>();
        self.pending.capacity() * item
            + self.pending.iter().map(|(e, _)| ex(e)).sum::<usize>()
            + self.summary.exchanges.capacity() * std::mem::size_of::<HttpExchange>()
            + self.summary.exchanges.iter().map(ex).sum::<usize>()
            + self.summary.slowest.as_ref().map_or(0, ex)
    }

    fn request(&mut self, ex: HttpExchange, kind: ReqKind) {
        self.seen = true;
        let s = &mut self.summary;
        s.requests = s.requests.saturating_add(1);
        if self.pending.len() >= self.max_pending {
            s.requests_not_tracked = s.requests_not_tracked.saturating_add(1);
            return;
        }
        self.pending.push_back((ex, kind));
    }

    /// Pairs a final response with the oldest waiting request (HTTP/1.x
    /// answers in order); returns what that request implies for framing.
    fn response(
        &mut self,
        ts: i64,
        status: u16,
        reason: Option<WireText>,
        incomplete: bool,
        after_gap: bool,
    ) -> ReqKind {
        self.seen = true;
        let s = &mut self.summary;
        s.responses = s.responses.saturating_add(1);
        let class = match status {
            200..=299 => &mut s.status.s2xx,
            300..=399 => &mut s.status.s3xx,
            400..=499 => &mut s.status.s4xx,
            500..=599 => &mut s.status.s5xx,
            _ => &mut s.status.other,
        };
        *class = class.saturating_add(1);
        if after_gap && self.pending.len() > 1 {
            // Bytes of this direction went missing, and with them any number
            // of responses. Without pipelining a client sends its next
            // request only after the previous answer, so this response
            // answers the newest request sent before it; the older ones were
            // answered in the gap (tshark pairs the same way).
            let newest = self
                .pending
                .iter()
                .rposition(|(e, _)| e.request_ts_ns.is_none_or(|t| t <= ts))
                .unwrap_or(0);
            for _ in 0..newest {
                if let Some((mut e, _)) = self.pending.pop_front() {
                    e.response_lost_in_gap = true;
                    self.summary.answers_lost_in_gap =
                        self.summary.answers_lost_in_gap.saturating_add(1);
                    self.emit(e);
                }
            }
        }
        let (mut ex, kind) = match self.pending.pop_front() {
            Some(p) => p,
            None => {
                self.summary.unsolicited = self.summary.unsolicited.saturating_add(1);
                (HttpExchange::default(), ReqKind::Unknown)
            }
        };
        ex.response_ts_ns = Some(ts);
        ex.status = Some(status);
        ex.reason = reason;
        ex.incomplete |= incomplete;
        self.emit(ex);
        kind
    }

    fn emit(&mut self, ex: HttpExchange) {
        let s = &mut self.summary;
        if let Some(t) = ex.response_time_ns() {
            if s.slowest
                .as_ref()
                .and_then(HttpExchange::response_time_ns)
                .is_none_or(|m| t > m)
            {
                s.slowest = Some(ex.clone());
            }
        }
        if s.exchanges.len() < self.max_exchanges {
            s.exchanges.push(ex);
        } else {
            s.exchanges_not_kept = s.exchanges_not_kept.saturating_add(1);
        }
    }

    /// The flow ended: requests still waiting were never answered.
    pub(crate) fn finish(&mut self) -> Option<HttpSummary> {
        while let Some((e, _)) = self.pending.pop_front() {
            self.summary.unanswered = self.summary.unanswered.saturating_add(1);
            self.emit(e);
        }
        self.pending = VecDeque::new();
        self.seen.then(|| std::mem::take(&mut self.summary))
    }
}
