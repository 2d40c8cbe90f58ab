//! Text taken from the wire, made safe to print anywhere.
//!
//! Paths, hosts, reason phrases and TLS names come from whoever sent the
//! packets. They end up in a terminal, in Markdown and in HTML, so they are
//! never kept as raw bytes: invalid UTF-8 is replaced, and every character
//! that could move a cursor, change colours, reorder text or open a tag is
//! written as a visible escape.

use std::fmt;

use serde::Serialize;

/// Marks text that was cut at its length bound.
const ELLIPSIS: char = '…';

/// A string from the network, lossily decoded, escaped and bounded.
///
/// The only way to build one is [`WireText::from_wire`], so a value of this
/// type never holds a control character, a bidirectional-override
/// character or one of `<`, `>`, `"`, `'`, `\` unescaped: each is written as
/// `\xNN` (bytes below 0x80) or `\u{NNNN}`. Printing it needs no further
/// escaping in a terminal or inside HTML text and quoted attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct WireText(String);

impl WireText {
    /// Decodes `bytes` (lossy UTF-8), escapes what is unsafe and keeps at most
    /// `max_chars` characters of the escaped form, ending in `…` when cut.
    pub fn from_wire(bytes: &[u8], max_chars: usize) -> Self {
        // The common case: short printable ASCII with nothing to escape,
        // kept as it is (no per-character work).
        if bytes.len() <= max_chars && bytes.iter().all(|&b| is_plain(b)) {
            if let Ok(plain) = std::str::from_utf8(bytes) {
                return WireText(plain.to_owned());
            }
        }
        let decoded = String::from_utf8_lossy(bytes);
        let mut out = String::with_capacity(decoded.len().min(max_chars.saturating_mul(4)));
        if max_chars == 0 {
            return WireText(out);
        }
        let mut kept = 0usize;
        let mut chars = decoded.chars().peekable();
        while let Some(c) = chars.next() {
            let mut piece = [0u8; 16];
            let esc = escape(c, &mut piece);
            let n = esc.chars().count();
            // Room is kept for the ellipsis unless this is the last character.
            let room = if chars.peek().is_none() {
                max_chars
            } else {
                max_chars - 1
            };
            if kept.saturating_add(n) > room {
                out.push(ELLIPSIS);
                return WireText(out);
            }
            out.push_str(esc);
            kept = kept.saturating_add(n);
        }
        WireText(out)
    }

    /// The escaped text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WireText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<&str> for WireText {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

/// A printable ASCII byte that needs no escape.
fn is_plain(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && !matches!(b, b'<' | b'>' | b'"' | b'\'' | b'\\')
}

/// Writes `c` into `buf` as itself or as a visible escape.
fn escape(c: char, buf: &mut [u8; 16]) -> &str {
    use std::io::Write;
    let unsafe_char = c.is_control()
        || matches!(c, '<' | '>' | '"' | '\'' | '\\')
        // Bidirectional embeddings, overrides and isolates reorder what a
        // reader sees ("Trojan Source"); zero-width and BOM characters hide.
        || matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}');
    if !unsafe_char {
        return c.encode_utf8(buf);
    }
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    // A 16-byte buffer holds the longest escape (`\u{10FFFF}` is 10 bytes).
    let written = if (c as u32) < 0x80 {
        write!(cursor, "\\x{:02x}", c as u32)
    } else {
        write!(cursor, "\\u{{{:04x}}}", c as u32)
    };
    let len = match written {
        Ok(()) => usize::try_from(cursor.position()).unwrap_or(0),
        Err(_) => 0,
    };
    std::str::from_utf8(&buf[..len]).unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_kept() {
        assert_eq!(
            WireText::from_wire(b"/api/orders?id=1&x=2", 100),
            "/api/orders?id=1&x=2"
        );
    }

    #[test]
    fn terminal_escapes_and_markup_are_escaped() {
        let t = WireText::from_wire(b"\x1b[31mred<script>\"'\\\x7f\r\n", 100);
        assert_eq!(
            t,
            "\\x1b[31mred\\x3cscript\\x3e\\x22\\x27\\x5c\\x7f\\x0d\\x0a"
        );
        assert!(!t.as_str().chars().any(|c| c.is_control()));
    }

    #[test]
    fn invalid_utf8_and_bidi_overrides_are_visible() {
        let t = WireText::from_wire("a\u{202E}b".as_bytes(), 100);
        assert_eq!(t, "a\\u{202e}b");
        let t = WireText::from_wire(b"\xffok\xc3", 100);
        assert_eq!(t, "\u{FFFD}ok\u{FFFD}");
        // C1 controls (here U+009B, a one-character CSI) are escaped too.
        assert_eq!(
            WireText::from_wire("\u{9b}2J".as_bytes(), 100),
            "\\u{009b}2J"
        );
    }

    #[test]
    fn length_is_bounded_with_an_ellipsis() {
        let t = WireText::from_wire(b"abcdefgh", 5);
        assert_eq!(t, "abcd…");
        assert_eq!(WireText::from_wire(b"abcde", 5), "abcde");
        // An escape is never split: it is dropped whole.
        let t = WireText::from_wire(b"abc\x01", 5);
        assert_eq!(t, "abc…");
        assert!(
            WireText::from_wire(&[0u8; 1000], 64)
                .as_str()
                .chars()
                .count()
                <= 64
        );
        assert_eq!(WireText::from_wire(b"abc", 0), "");
    }
}
