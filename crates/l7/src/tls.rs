//! TLS: the first handshake message of one direction (ClientHello or
//! ServerHello), parsed with `tls-parser`.
//!
//! Records are followed header by header; the bodies of handshake records
//! are collected until the first handshake message is whole (a hello with
//! large post-quantum key shares spans several TCP segments, and a message
//! may even span records), bounded by [`crate::Limits::max_tls_hello_bytes`].
//! After that one message the direction is done: everything later is
//! encrypted or of no interest here.

use tls_parser::{
    parse_tls_client_hello_extensions, parse_tls_message_handshake,
    parse_tls_server_hello_extensions, TlsCipherSuite, TlsExtension, TlsMessage,
    TlsMessageHandshake, TlsVersion,
};

use crate::limits::{Limits, MAX_TLS_LIST};
use crate::summary::TlsInfo;
use crate::text::WireText;

const RECORD_HEADER: usize = 5;
const HANDSHAKE_TYPE: u8 = 0x16;
/// Handshake message header: type (1) and length (3).
const MSG_HEADER: usize = 4;
/// Largest record body (2^14 plaintext plus the 2048 bytes of expansion
/// TLS 1.2 allows for compressed/protected records).
const MAX_RECORD: usize = (1 << 14) + 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsFed {
    /// More bytes are wanted.
    More,
    /// The direction needs nothing more.
    Done,
}

/// Handshake collection state of one direction.
#[derive(Debug, Default)]
pub(crate) struct TlsStream {
    header: [u8; RECORD_HEADER],
    header_len: usize,
    /// Body bytes of the current record still to come.
    record_left: usize,
    /// Handshake bytes collected so far (only when the first message does
    /// not fit in one segment's record).
    hs: Vec<u8>,
    first_ts: Option<i64>,
}

impl TlsStream {
    pub(crate) fn heap_bytes(&self) -> usize {
        self.hs.capacity()
    }

    /// Feeds in-order bytes; `uncaptured` bytes followed on the wire.
    pub(crate) fn feed(
        &mut self,
        ts: i64,
        mut data: &[u8],
        uncaptured: u32,
        info: &mut TlsInfo,
        limits: &Limits,
    ) -> TlsFed {
        self.first_ts.get_or_insert(ts);
        while !data.is_empty() {
            if self.header_len < RECORD_HEADER {
                let take = (RECORD_HEADER - self.header_len).min(data.len());
                self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
                self.header_len += take;
                data = &data[take..];
                if self.header_len < RECORD_HEADER {
                    break;
                }
                let [ty, major, _, hi, lo] = self.header;
                let len = usize::from(u16::from_be_bytes([hi, lo]));
                // Anything but a handshake record before the first message
                // is whole means the hello cannot be read.
                if ty != HANDSHAKE_TYPE || major != 3 || len > MAX_RECORD {
                    info.incomplete = true;
                    return TlsFed::Done;
                }
                self.record_left = len;
                continue;
            }
            let take = self.record_left.min(data.len());
            let (body, rest) = data.split_at(take);
            data = rest;
            self.record_left -= take;
            if self.record_left == 0 {
                self.header_len = 0;
            }
            if self.hs.is_empty() {
                if let Some(msg) = whole_message(body) {
                    self.parse(msg, info, limits);
                    return TlsFed::Done;
                }
            }
            if self.hs.len().saturating_add(body.len()) > limits.max_tls_hello_bytes {
                info.incomplete = true;
                return TlsFed::Done;
            }
            self.hs.extend_from_slice(body);
            if let Some(msg) = whole_message(&self.hs) {
                let msg = msg.to_vec();
                self.parse(&msg, info, limits);
                self.hs = Vec::new();
                return TlsFed::Done;
            }
            // The declared length already exceeds the bound: stop now.
            if declared_len(&self.hs).is_some_and(|n| n > limits.max_tls_hello_bytes) {
                info.incomplete = true;
                return TlsFed::Done;
            }
        }
        if uncaptured > 0 {
            // The capture cut the hello short.
            info.incomplete = true;
            return TlsFed::Done;
        }
        TlsFed::More
    }

    fn parse(&self, msg: &[u8], info: &mut TlsInfo, limits: &Limits) {
        let ts = self.first_ts;
        match parse_tls_message_handshake(msg) {
            Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ClientHello(ch)))) => {
                info.client_hello_ts_ns = ts;
                info.client_version = Some(version_name(ch.version));
                let Some(ext) = ch.ext else { return };
                let Ok((_, exts)) = parse_tls_client_hello_extensions(ext) else {
                    info.incomplete = true;
                    return;
                };
                for e in exts {
                    match e {
                        TlsExtension::SNI(names) => {
                            // Type 0 is host_name, the only one defined.
                            if let Some((_, name)) = names.iter().find(|(t, _)| t.0 == 0) {
                                info.sni = Some(WireText::from_wire(name, limits.max_text_chars));
                            }
                        }
                        TlsExtension::ALPN(protos) => {
                            info.alpn_offered = protos
                                .iter()
                                .take(MAX_TLS_LIST)
                                .map(|p| WireText::from_wire(p, limits.max_text_chars))
                                .collect();
                        }
                        TlsExtension::SupportedVersions(v) => {
                            info.supported_versions = v
                                .iter()
                                .filter(|v| !is_grease(v.0))
                                .take(MAX_TLS_LIST)
                                .map(|v| version_name(*v))
                                .collect();
                        }
                        _ => {}
                    }
                }
            }
            Ok((_, TlsMessage::Handshake(TlsMessageHandshake::ServerHello(sh)))) => {
                info.server_hello_ts_ns = ts;
                info.version = Some(version_name(sh.version));
                info.cipher = Some(match TlsCipherSuite::from_id(sh.cipher.0) {
                    Some(c) => c.name.to_string(),
                    None => format!("0x{:04x}", sh.cipher.0),
                });
                let Some(ext) = sh.ext else { return };
                let Ok((_, exts)) = parse_tls_server_hello_extensions(ext) else {
                    info.incomplete = true;
                    return;
                };
                for e in exts {
                    match e {
                        TlsExtension::SupportedVersions(v) => {
                            if let Some(v) = v.first() {
                                info.version = Some(version_name(*v));
                            }
                        }
                        TlsExtension::ALPN(protos) => {
                            info.alpn_selected = protos
                                .first()
                                .map(|p| WireText::from_wire(p, limits.max_text_chars));
                        }
                        _ => {}
                    }
                }
            }
            // Another first message (a HelloRequest, an old draft's
            // HelloRetryRequest), or malformed.
            _ => info.incomplete = true,
        }
    }
}

/// The declared length of the first handshake message, header included.
fn declared_len(hs: &[u8]) -> Option<usize> {
    let h = hs.get(..MSG_HEADER)?;
    let len = u32::from_be_bytes([0, h[1], h[2], h[3]]);
    usize::try_from(len).ok()?.checked_add(MSG_HEADER)
}

/// The first handshake message in `hs`, if all its bytes are there.
fn whole_message(hs: &[u8]) -> Option<&[u8]> {
    hs.get(..declared_len(hs)?)
}

/// GREASE values (RFC 8701) are 0x?a?a with equal bytes.
fn is_grease(v: u16) -> bool {
    let [hi, lo] = v.to_be_bytes();
    hi == lo && hi & 0x0f == 0x0a
}

fn version_name(v: TlsVersion) -> String {
    match v.0 {
        0x0300 => "SSL 3.0".to_string(),
        0x0301 => "TLS 1.0".to_string(),
        0x0302 => "TLS 1.1".to_string(),
        0x0303 => "TLS 1.2".to_string(),
        0x0304 => "TLS 1.3".to_string(),
        d @ 0x7f00..=0x7fff => format!("TLS 1.3 draft {}", d & 0xff),
        x => format!("0x{x:04x}"),
    }
}
