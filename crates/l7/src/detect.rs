//! Which protocol a direction speaks, from its first bytes (any port).
//!
//! Only a start that is unambiguous counts: a known HTTP method and a space,
//! `HTTP/1.` and a digit, the HTTP/2 preface, or a TLS handshake record whose
//! first message is a hello. Anything else is decided "other" within
//! [`MAX_PREFIX`] bytes, so a flow of another protocol costs nothing more.

/// Longest prefix looked at: the longest pattern below is 14 bytes.
pub(crate) const MAX_PREFIX: usize = 16;

/// HTTP methods recognised at the start of a stream or after a gap: RFC 9110,
/// the WebDAV/CalDAV ones in common use, and UPnP eventing (GENA). A token list (not "any
/// uppercase word") keeps FTP, SMTP and IRC commands from looking like HTTP.
const METHODS: &[&[u8]] = &[
    b"GET ",
    b"POST ",
    b"PUT ",
    b"HEAD ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
    b"PROPFIND ",
    b"PROPPATCH ",
    b"MKCOL ",
    b"COPY ",
    b"MOVE ",
    b"LOCK ",
    b"UNLOCK ",
    b"REPORT ",
    b"SEARCH ",
    b"MKCALENDAR ",
    b"SUBSCRIBE ",
    b"UNSUBSCRIBE ",
    b"NOTIFY ",
];

const STATUS_PREFIX: &[u8] = b"HTTP/1.";
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// A prefix of some pattern: more bytes decide.
    NeedMore,
    HttpRequest,
    HttpResponse,
    Http2,
    /// A TLS handshake record starting with ClientHello or ServerHello.
    Tls,
    Other,
}

/// Classifies the first bytes of a stream.
pub(crate) fn classify(b: &[u8]) -> Class {
    let mut need_more = false;
    let mut check = |pattern: &[u8]| -> bool {
        if b.len() >= pattern.len() {
            b.starts_with(pattern)
        } else {
            need_more |= pattern.starts_with(b);
            false
        }
    };
    if check(H2_PREFACE) {
        return Class::Http2;
    }
    if METHODS.iter().any(|m| check(m)) {
        return Class::HttpRequest;
    }
    if check(STATUS_PREFIX) {
        return match b.get(STATUS_PREFIX.len()) {
            Some(d) if d.is_ascii_digit() => Class::HttpResponse,
            Some(_) => Class::Other,
            None => Class::NeedMore,
        };
    }
    match tls_hello(b) {
        Some(true) => return Class::Tls,
        None => need_more = true,
        Some(false) => {}
    }
    if need_more || b.is_empty() {
        Class::NeedMore
    } else {
        Class::Other
    }
}

/// Whether `b` starts a TLS handshake record holding a hello: content type
/// 22, version 3.0–3.4, a plausible length, handshake type 1 or 2.
/// `None` while too short to tell.
fn tls_hello(b: &[u8]) -> Option<bool> {
    let want: [fn(u8) -> bool; 3] = [|x| x == 0x16, |x| x == 0x03, |x| x <= 0x04];
    for (i, ok) in want.iter().enumerate() {
        match b.get(i) {
            Some(&x) if ok(x) => {}
            Some(_) => return Some(false),
            None => return None,
        }
    }
    let (Some(&hi), Some(&lo), Some(&ty)) = (b.get(3), b.get(4), b.get(5)) else {
        return None;
    };
    let len = u16::from_be_bytes([hi, lo]);
    // A record holds at most 2^14 bytes of plaintext (RFC 8446 5.1) and at
    // least a 4-byte handshake header.
    Some((4..=1 << 14).contains(&len) && (ty == 1 || ty == 2))
}

/// Whether a segment starting with `b` starts an HTTP request (for
/// resynchronising after a gap; a start line split across segments is missed).
pub(crate) fn starts_request(b: &[u8]) -> bool {
    METHODS.iter().any(|m| b.starts_with(m))
}

/// Whether a segment starting with `b` starts an HTTP/1.x response.
pub(crate) fn starts_response(b: &[u8]) -> bool {
    b.starts_with(STATUS_PREFIX) && b.get(STATUS_PREFIX.len()).is_some_and(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_each_start() {
        assert_eq!(classify(b"GET / HTTP/1.1\r\n"), Class::HttpRequest);
        assert_eq!(classify(b"MKCALENDAR /x"), Class::HttpRequest);
        assert_eq!(classify(b"SUBSCRIBE /evt"), Class::HttpRequest);
        assert_eq!(classify(b"HTTP/1.1 200 OK"), Class::HttpResponse);
        assert_eq!(classify(b"PRI * HTTP/2.0\r\n\r\nSM"), Class::Http2);
        assert_eq!(classify(&[0x16, 3, 1, 0, 200, 1, 0, 0]), Class::Tls);
        assert_eq!(classify(&[0x16, 3, 3, 0, 90, 2]), Class::Tls);
    }

    #[test]
    fn prefixes_ask_for_more_and_others_decide_at_once() {
        for p in [
            &b"G"[..],
            b"GE",
            b"GET",
            b"HTTP/1.",
            b"PRI * HTTP/2",
            b"\x16\x03",
            b"M",
            b"",
        ] {
            assert_eq!(classify(p), Class::NeedMore, "{p:?}");
        }
        for p in [
            &b"SSH-2.0-OpenSSH"[..],
            b"USER anonymous",
            b"EHLO mail",
            b"GETX / HTTP/1.1",
            b"get / HTTP/1.1",
            b"HTTP/2 200",
            b"HTTP/1.x",
            b"\x17\x03\x03\x00\x20",
            b"\x16\x03\x03\x00\x20\x0b", // a Certificate first: joined mid-handshake
            b"\x16\x03\x03\x50\x00\x01", // longer than a record can be
            b"\x00",
        ] {
            assert_eq!(classify(p), Class::Other, "{p:?}");
        }
    }

    #[test]
    fn resync_checks() {
        assert!(starts_request(b"POST /x HTTP/1.1"));
        assert!(!starts_request(b"POS"));
        assert!(starts_response(b"HTTP/1.0 404"));
        assert!(!starts_response(b"HTTP/1."));
    }
}
