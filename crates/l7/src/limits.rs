//! Bounds on what one flow may hold, so memory stays flat whatever the
//! capture contains.

use std::mem::size_of;

use crate::summary::HttpExchange;

/// Per-flow bounds. The defaults suit an analyzer holding millions of
/// flows: a flow that is neither HTTP/1.x nor TLS holds no heap at all, an
/// HTTP flow a few hundred bytes per exchange kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Exchanges kept per flow; later ones are only counted.
    pub max_exchanges: usize,
    /// Requests waiting for their response. Deeper pipelining than this is
    /// unheard of; requests beyond it are counted, not paired.
    pub max_pending_requests: usize,
    /// A header block split across segments is buffered up to this size.
    /// Servers reject far less (nginx and Node.js: 8–16 KiB in total).
    pub max_header_bytes: usize,
    /// A TLS hello split across segments is buffered up to this size: a
    /// ClientHello with a post-quantum key share is ~1.8 KiB, and one record
    /// carries at most 16 KiB.
    pub max_tls_hello_bytes: usize,
    /// Segments held per direction while waiting for a hole to fill.
    pub max_held_segments: usize,
    /// Bytes held per direction while waiting for a hole to fill.
    pub max_held_bytes: usize,
    /// Characters kept of a request target (after escaping).
    pub max_path_chars: usize,
    /// Characters kept of a Host header, reason phrase, SNI or ALPN name.
    pub max_text_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_exchanges: 32,
            max_pending_requests: 32,
            max_header_bytes: 8 * 1024,
            max_tls_hello_bytes: 16 * 1024,
            max_held_segments: 8,
            max_held_bytes: 16 * 1024,
            max_path_chars: 256,
            max_text_chars: 128,
        }
    }
}

/// Method names are short tokens; longer ones are cut.
pub(crate) const MAX_METHOD_CHARS: usize = 24;
/// ALPN names and TLS versions kept per hello: clients offer a handful.
pub(crate) const MAX_TLS_LIST: usize = 16;

impl Limits {
    /// Upper bound of the heap one tracker holds under these limits (what
    /// [`crate::L7Tracker::memory_bytes`] reports never exceeds it).
    pub fn heap_bound(&self) -> usize {
        // A character of escaped text takes at most 4 bytes; 3 more for the ellipsis.
        let text = |chars: usize| chars.saturating_mul(4).saturating_add(3);
        let exchange = size_of::<HttpExchange>()
            .saturating_add(text(MAX_METHOD_CHARS))
            .saturating_add(text(self.max_path_chars))
            .saturating_add(text(self.max_text_chars).saturating_mul(2));
        // Vectors may round their capacity up to twice what they hold.
        let held = self
            .max_held_bytes
            .saturating_add(self.max_held_segments.saturating_mul(2 * 64));
        let parser = self
            .max_header_bytes
            .max(self.max_tls_hello_bytes)
            .saturating_mul(2);
        let tls =
            1024usize.saturating_add(text(self.max_text_chars).saturating_mul(2 + MAX_TLS_LIST));
        let exchanges = self
            .max_exchanges
            .saturating_add(1)
            .saturating_add(self.max_pending_requests)
            .saturating_mul(2)
            .saturating_mul(exchange);
        held.saturating_add(parser)
            .saturating_mul(2)
            .saturating_add(tls)
            .saturating_add(exchanges)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worst a hostile flow can hold under the defaults (every kept
    /// string at its bound in 4-byte characters, every buffer full): a guard
    /// against a default growing unnoticed. Typical HTTP flows hold a few KiB.
    #[test]
    fn default_bound_stays_under_half_a_mebibyte() {
        let b = Limits::default().heap_bound();
        assert!((100_000..512 * 1024).contains(&b), "{b}");
    }
}
