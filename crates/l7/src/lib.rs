//! Application-layer context for the TCP flows of a capture: the HTTP/1.x
//! requests and responses of a flow (method, target, Host, status, and
//! when each was seen) and what a TLS handshake says in clear (server name,
//! ALPN, versions), recognised by content on any port.
//!
//! # Use from the per-flow TCP analysis
//!
//! Keep one [`L7Tracker`] per TCP flow and hand it every segment of the
//! flow once, in capture order, whatever its flags or length:
//!
//! ```
//! use retina_l7::{Direction, L7Tracker, Segment};
//!
//! let mut l7 = L7Tracker::default();
//! let request = b"GET /api/orders HTTP/1.1\r\nHost: shop\r\n\r\n";
//! let response = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n";
//! for (ts_ns, dir, seq, ack, syn, payload) in [
//!     (0, Direction::ToServer, 1000, None, true, &b""[..]),
//!     (1, Direction::ToClient, 5000, Some(1001), true, &b""[..]),
//!     (2, Direction::ToServer, 1001, Some(5001), false, &request[..]),
//!     (2_100_000_002, Direction::ToClient, 5001, Some(1001 + request.len() as u32), false, &response[..]),
//! ] {
//!     l7.segment(&Segment {
//!         ts_ns,
//!         dir,
//!         seq,
//!         ack,
//!         syn,
//!         // The payload length from the IP header (`Seen::payload_len`),
//!         // even when the snap length cut the captured bytes shorter.
//!         wire_len: payload.len() as u32,
//!         payload,
//!     });
//! }
//! let summary = l7.finish().expect("HTTP was recognised");
//! let ex = &summary.http.as_ref().expect("http").exchanges[0];
//! assert_eq!(ex.status, Some(503));
//! assert_eq!(ex.response_time_ns(), Some(2_100_000_000));
//! ```
//!
//! Each [`HttpExchange`] carries the capture time of its request's first
//! byte and of its response's first byte: a request/response turn the
//! analyzer timed is the exchange whose `response_ts_ns` is the timestamp of
//! the segment that started the turn's response. [`L7Tracker::finish`] at
//! the flow's end (or when the flow is evicted) returns the [`L7Summary`]
//! for the report, or `None` when neither HTTP/1.x nor TLS was seen.
//!
//! # Cost
//!
//! A direction is classified from its first payload bytes (at most 16, or
//! the first few segments when the capture joined mid-stream); once both
//! directions are neither HTTP/1.x nor TLS a segment costs one branch. The
//! tracker itself is a few hundred bytes inline and holds no heap until a
//! header or hello spans segments, a segment arrives ahead of a hole, or an
//! exchange is kept. Everything it may hold is bounded by [`Limits`]
//! ([`Limits::heap_bound`]); [`L7Tracker::memory_bytes`] tells what it holds.
//!
//! Bytes reach the parsers in sequence order; retransmissions, reordering,
//! holes the capture never filled and payloads cut by the snap length are
//! handled here. Nothing a packet contains makes the tracker panic.

#![warn(missing_docs)]

mod detect;
mod http;
mod limits;
mod reassembly;
mod summary;
mod text;
mod tls;
mod tracker;

pub use limits::Limits;
pub use summary::{HttpExchange, HttpSummary, L7Summary, Protocol, StatusClasses, TlsInfo};
pub use text::WireText;
pub use tracker::{Direction, L7Tracker, Segment};
