//! What the tracker reports for one flow: plain data for the JSON report.

use serde::Serialize;

use crate::text::WireText;

/// The application protocol recognised in a flow, by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.0 or HTTP/1.1.
    Http,
    /// HTTP/2 with prior knowledge (the cleartext connection preface); no details.
    Http2,
    /// TLS (or SSL 3.0) from its handshake record.
    Tls,
}

/// Application-layer context of one TCP flow.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct L7Summary {
    /// The first protocol recognised. An HTTP `CONNECT` tunnel carrying TLS
    /// is `http`, with both `http` and `tls` filled in.
    pub protocol: Protocol,
    /// HTTP/1.x exchanges, when any message was seen.
    pub http: Option<HttpSummary>,
    /// The TLS hellos, when a TLS handshake was recognised.
    pub tls: Option<TlsInfo>,
}

/// HTTP/1.x exchanges of one flow and counts over all of them.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct HttpSummary {
    /// The first exchanges, in the order they completed (a response paired
    /// with its request); requests never answered come last.
    pub exchanges: Vec<HttpExchange>,
    /// Exchanges beyond `exchanges` (only counted).
    pub exchanges_not_kept: u64,
    /// The exchange with the longest response time, wherever it was.
    pub slowest: Option<HttpExchange>,
    /// Request headers seen.
    pub requests: u64,
    /// Final (non-1xx) response headers seen.
    pub responses: u64,
    /// Final responses by status class.
    pub status: StatusClasses,
    /// Interim 1xx responses (100 Continue, 103 Early Hints); not paired.
    pub informational: u64,
    /// Requests still without a response when the flow ended.
    pub unanswered: u64,
    /// Requests whose response was presumably in bytes the capture missed.
    pub answers_lost_in_gap: u64,
    /// Responses with no request to pair with (request not captured).
    pub unsolicited: u64,
    /// Requests beyond the pipelining bound: their responses show as unsolicited.
    pub requests_not_tracked: u64,
    /// Times a direction lost its place in the stream (missing bytes where
    /// a header or chunk size was due, bad syntax, header over the bound) and
    /// had to wait for the next segment that starts a message.
    pub resyncs: u64,
    /// Header blocks larger than the buffer bound.
    pub oversized_headers: u64,
}

/// Final responses counted by status class.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct StatusClasses {
    /// 200–299.
    pub s2xx: u64,
    /// 300–399.
    pub s3xx: u64,
    /// 400–499.
    pub s4xx: u64,
    /// 500–599.
    pub s5xx: u64,
    /// Outside 200–599 (101 Switching Protocols is a final response too).
    pub other: u64,
}

/// One HTTP request and its response, as far as each was seen.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct HttpExchange {
    /// Capture time of the request's first byte (ns since the epoch).
    pub request_ts_ns: Option<i64>,
    /// The request method (`GET`, `POST`, ...).
    pub method: Option<WireText>,
    /// The raw request target as sent (not decoded), bounded.
    pub path: Option<WireText>,
    /// `"HTTP/1.0"` or `"HTTP/1.1"`, from the request line.
    pub version: Option<&'static str>,
    /// The `Host` header.
    pub host: Option<WireText>,
    /// Capture time of the response's first byte.
    pub response_ts_ns: Option<i64>,
    /// The response status code.
    pub status: Option<u16>,
    /// The reason phrase of the status line, when not empty.
    pub reason: Option<WireText>,
    /// A header was cut short (snap length, size bound, syntax): fields that
    /// come later in it may be missing.
    pub incomplete: bool,
    /// No response because it was presumably in bytes the capture missed.
    pub response_lost_in_gap: bool,
}

impl HttpExchange {
    /// First byte of the request to first byte of the response.
    pub fn response_time_ns(&self) -> Option<i64> {
        self.response_ts_ns?.checked_sub(self.request_ts_ns?)
    }
}

/// What the TLS hellos of a flow said, in clear text.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct TlsInfo {
    /// Capture time of the ClientHello's first byte.
    pub client_hello_ts_ns: Option<i64>,
    /// server_name (SNI) of the ClientHello.
    pub sni: Option<WireText>,
    /// ALPN protocols the client offered, in its order (bounded).
    pub alpn_offered: Vec<WireText>,
    /// The ClientHello's legacy version field (`"TLS 1.2"` for TLS 1.3 clients).
    pub client_version: Option<String>,
    /// The supported_versions extension of the ClientHello, GREASE left out.
    pub supported_versions: Vec<String>,
    /// Capture time of the ServerHello's first byte.
    pub server_hello_ts_ns: Option<i64>,
    /// The version the server chose (supported_versions, else the legacy field).
    pub version: Option<String>,
    /// The cipher suite the server chose.
    pub cipher: Option<String>,
    /// ALPN protocol the server chose, when in clear (TLS 1.2 and older; TLS
    /// 1.3 sends it encrypted).
    pub alpn_selected: Option<WireText>,
    /// A hello was cut short by the capture, over the size bound or malformed.
    pub incomplete: bool,
}
