//! Application-layer context for the TCP flows of a capture: the HTTP/1.x
//! requests and responses of a flow (method, target, Host, status, and
//! when each was seen) and what a TLS handshake says in clear (server name,
//! ALPN, versions), recognised by content on any port.
//!
//! The analyzer owns one [`L7Tracker`] per TCP flow, hands it every
//! segment once, in capture order ([`L7Tracker::segment`]), and collects an
//! [`L7Summary`] at the flow's end ([`L7Tracker::finish`]). Bytes reach the
//! parsers in sequence order; retransmissions, reordering, holes the
//! capture never filled and payloads cut by the snap length are handled
//! here. Nothing a packet contains makes it panic, and what a flow holds is
//! bounded by [`Limits`].

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
