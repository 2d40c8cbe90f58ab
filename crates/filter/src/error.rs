//! Errors of this crate: a bad expression, and a filter that cannot run on
//! flow records.

/// A filter expression that does not parse. Displays as
/// `at 9: expected a port number or name after 'port'`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("at {position}: {kind}")]
pub struct ParseError {
    /// Character offset (0-based) in the expression where the problem is.
    pub position: usize,
    /// What is wrong there.
    pub kind: ParseErrorKind,
}

/// What is wrong with an expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
    /// Something else was needed here. `found` is `None` at the end of the
    /// expression.
    #[error("expected {expected}{}", found.as_ref().map(|f| format!(", found '{f}'")).unwrap_or_default())]
    Expected {
        /// What would have been accepted.
        expected: String,
        /// The word found instead.
        found: Option<String>,
    },
    /// A word in the place of a primitive that is no keyword at all.
    #[error("unknown primitive '{0}' (expected host, net, port, portrange, proto, tcp, udp, icmp, ip, ip6, vlan, less, greater, ns, pod, workload, service, node, not or '(')")]
    UnknownPrimitive(String),
    /// A tcpdump primitive this filter does not implement.
    #[error("'{keyword}' is not supported: {why}")]
    Unsupported {
        /// The keyword (or the word with arithmetic in it).
        keyword: String,
        /// Why, and what to write instead.
        why: &'static str,
    },
    /// A value where a primitive should start, with no earlier qualifier
    /// to borrow (`tcp or 80`).
    #[error("'{0}' has no qualifier: write one (host, net, port, …) before it; only a term like 'host a' lends its qualifier to a following 'or b'")]
    NoQualifier(String),
    /// A protocol qualifier in front of a primitive that does not take it.
    #[error("'{qualifier}' cannot qualify '{primitive}'")]
    BadQualifier {
        /// The qualifier written (`tcp`, `ip`, `src`, …).
        qualifier: &'static str,
        /// The primitive it was put in front of.
        primitive: &'static str,
    },
    /// `ip host fd00::1`, `ip6 net 10.0.0.0/8`.
    #[error("'{qualifier}' cannot qualify the {family} address '{address}'")]
    WrongFamily {
        /// `ip` or `ip6`.
        qualifier: &'static str,
        /// `IPv4` or `IPv6`: the address's family.
        family: &'static str,
        /// The address as written.
        address: String,
    },
    /// Not an address, or not a network, in a place that needs one.
    #[error("'{text}' is not {what}")]
    BadValue {
        /// What the place needs.
        what: &'static str,
        /// The word found.
        text: String,
    },
    /// `net 10.1.2.3/8`.
    #[error("non-network bits set in '{0}'")]
    HostBitsSet(String),
    /// A number above what its field holds.
    #[error("{what} {value} is out of range (at most {max})")]
    OutOfRange {
        /// The field (`port`, `VLAN id`, …).
        what: &'static str,
        /// The number as written.
        value: String,
        /// The largest value the field holds.
        max: u32,
    },
    /// `010`: tcpdump reads a leading zero as octal; refused rather than
    /// read either way.
    #[error("'{0}' has a leading zero (tcpdump would read it as octal); write it without")]
    LeadingZero(String),
    /// A service name not in the built-in table.
    #[error("unknown port name '{0}' (use the number)")]
    UnknownPort(String),
    /// A protocol name not in the built-in table.
    #[error("unknown protocol name '{0}' (use the number)")]
    UnknownProtocol(String),
    /// `udp port http`: the name is registered for another transport.
    #[error("port '{name}' is registered for {registered} only")]
    PortTransport {
        /// The service name.
        name: String,
        /// The only transport it is registered for.
        registered: &'static str,
    },
    /// `pod api` instead of `pod NAMESPACE/api`.
    #[error("'{primitive}' needs NAMESPACE/NAME (use */NAME for any namespace), found '{text}'")]
    NeedsNamespace {
        /// `pod` or `service`.
        primitive: &'static str,
        /// The name as written.
        text: String,
    },
    /// A `(` without its `)`; the position is the `(`.
    #[error("this '(' is never closed")]
    Unclosed,
    /// A `)` without its `(`.
    #[error("unmatched ')'")]
    Unmatched,
    /// Two primitives with nothing between them.
    #[error("expected 'and' or 'or' before '{0}'")]
    MissingOperator(String),
    /// More nesting or more primitives than any real filter has; refused so
    /// that a generated expression cannot exhaust the stack.
    #[error("expression too large: {0}")]
    TooLarge(&'static str),
}

/// A filter that cannot run on flow records ([`crate::Filter::for_flows`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowFilterError {
    /// `vlan`, `less` and `greater` test frames, which flow records lack.
    #[error("at {position}: '{primitive}' tests frames; flow records have none, so it cannot filter flows")]
    FrameOnly {
        /// `vlan`, `less` or `greater`.
        primitive: &'static str,
        /// Character offset of the primitive in the expression.
        position: usize,
    },
}
