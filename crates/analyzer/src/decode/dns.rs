//! DNS messages on the wire (UDP, or a whole message in a TCP segment):
//! the header, the first question and the answer count.
//!
//! DNS names are untrusted bytes from the wire. They are turned into text
//! once, here, by [`display_name`], which keeps letters, digits, `-`, `_`
//! and `*` and writes every other byte as `\DDD` (the master-file escape
//! that dig uses): the result is plain ASCII that cannot carry markup or
//! terminal control sequences wherever it is shown.

/// Shortest resource record on the wire (root name, type, class, TTL, rdlength).
const MIN_RR_LEN: usize = 11;

/// One parsed DNS message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsMsg {
    pub id: u16,
    pub response: bool,
    /// Header RCODE (0..15).
    pub rcode: u8,
    /// First question's name, escaped for display.
    pub qname: String,
    pub qtype: u16,
    pub answers: u16,
    pub truncated: bool,
}

/// Parses a DNS message. `on_dns_port`: the packet uses port 53 or 5353;
/// elsewhere the message must look unmistakably like DNS (one question,
/// standard query, sane counts) to be taken as such.
pub fn parse(data: &[u8], on_dns_port: bool) -> Option<DnsMsg> {
    let h = data.get(..12)?;
    let id = u16::from_be_bytes([h[0], h[1]]);
    let flags = u16::from_be_bytes([h[2], h[3]]);
    let count = |i: usize| usize::from(u16::from_be_bytes([h[i], h[i + 1]]));
    let (qd, an, ns, ar) = (count(4), count(6), count(8), count(10));
    let response = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    // Cheap sanity before parsing: counts must fit in the message.
    if qd == 0 || (an + ns + ar) * MIN_RR_LEN > data.len() {
        return None;
    }
    if !on_dns_port && (qd != 1 || opcode != 0 || flags & 0x0040 != 0 || (!response && an + ns > 0))
    {
        return None;
    }
    let packet = simple_dns::Packet::parse(data).ok()?;
    let q = packet.questions.first()?;
    let qname = display_name(q.qname.as_bytes());
    if !on_dns_port && qname.is_empty() {
        return None;
    }
    Some(DnsMsg {
        id,
        response,
        rcode: (flags & 0xf) as u8,
        qname,
        qtype: u16::from(q.qtype),
        answers: an as u16,
        truncated: flags & 0x0200 != 0,
    })
}

/// Text form of a name's labels: safe ASCII, dot-separated, no trailing dot
/// (`.` for the root).
pub fn display_name<'a>(labels: impl Iterator<Item = &'a [u8]>) -> String {
    let mut out = String::new();
    for label in labels {
        if !out.is_empty() {
            out.push('.');
        }
        for &b in label {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'*') {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("\\{b:03}"));
            }
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    out
}

/// Name of an RCODE.
pub fn rcode_name(rcode: u8) -> String {
    match rcode {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        6 => "YXDOMAIN".into(),
        7 => "YXRRSET".into(),
        8 => "NXRRSET".into(),
        9 => "NOTAUTH".into(),
        10 => "NOTZONE".into(),
        n => format!("RCODE{n}"),
    }
}
