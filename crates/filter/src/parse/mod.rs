//! The grammar: tcpdump's (pcap-filter(7)) for the primitives this crate
//! implements, with its precedence and its implicit qualifiers, plus the
//! Kubernetes name terms.
//!
//! Structure follows libpcap's grammar.y so that the corner cases agree:
//!
//! ```text
//! expr  := term (('and'|'&&'|'or'|'||') (term | id))*   left to right, equal precedence
//! term  := ('not'|'!') term | '(' expr ')' | head id | protocol | other
//! head  := [pqual] [dqual] [aqual]                       at least one of dqual, aqual
//! id    := ('not'|'!') id | '(' pid ')' | value
//! pid   := id (('and'|'or') id)*
//! ```
//!
//! An `id` after `and`/`or` has no qualifier of its own and borrows the
//! qualifiers of the term before it (`host a or b`, `port 80 or 443`); a
//! term that is not `head id` (`tcp`, `vlan`, `less 100`) lends none.
//! Whether the word after `and`/`or` starts a term or an id is decided by
//! looking past any `not`/`!`/`(`: a keyword starts a term, anything else an
//! id — the same split the yacc grammar makes.
//!
//! The input is split into words at whitespace and at `( ) ! & |`; each word
//! is then read by a value parser (address, network, port, …). All errors
//! carry the byte offset where they were found and are turned into
//! character positions at the end.

use std::net::{Ipv4Addr, Ipv6Addr};

use winnow::ascii::{digit1, hex_digit1};
use winnow::combinator::{alt, eof, opt, preceded};
use winnow::error::{ErrMode, ParserError};
use winnow::prelude::*;
use winnow::stream::{LocatingSlice, Location, Stateful, Stream};
use winnow::token::{literal, take_while};

use crate::ast::{Ends, NameKind, Node, Test, Transports, Version};
use crate::error::{ParseError, ParseErrorKind};
use crate::glob::Pattern;
use crate::names::{self, Registered};

/// Nesting of parentheses and negations accepted. Real filters nest a few
/// levels; the bound keeps recursion (parse, compile, drop) off the end of
/// the stack for generated input.
const MAX_DEPTH: u32 = 100;
/// Primitives accepted in one expression, for the same reason (a chain of
/// `or`s is a tree as deep as it is long).
const MAX_TESTS: u32 = 1000;

/// Limits and the original text, carried through the parse.
#[derive(Debug)]
struct Budget<'a> {
    text: &'a str,
    depth: u32,
    tests: u32,
}

type Input<'a> = Stateful<LocatingSlice<&'a str>, Budget<'a>>;
type PResult<T> = winnow::ModalResult<T, Failure>;

/// A parse failure at a byte offset. `kind` is `None` only for failures
/// inside winnow's own combinators, which are worded at the top.
#[derive(Debug)]
pub(crate) struct Failure {
    at: usize,
    kind: Option<ParseErrorKind>,
}

impl<'a> ParserError<Input<'a>> for Failure {
    type Inner = Self;

    fn from_input(input: &Input<'a>) -> Self {
        Failure {
            at: input.current_token_start(),
            kind: None,
        }
    }

    fn into_inner(self) -> Result<Self, Self> {
        Ok(self)
    }

    /// Of two failed alternatives, keep the one that says more.
    fn or(self, other: Self) -> Self {
        match (&self.kind, &other.kind) {
            (Some(_), None) => self,
            (None, Some(_)) => other,
            _ if self.at > other.at => self,
            _ => other,
        }
    }
}

/// Fails without backtracking: every error this grammar raises itself is
/// final, since no alternative could parse what was already recognized.
fn cut<T>(at: usize, kind: ParseErrorKind) -> PResult<T> {
    Err(ErrMode::Cut(Failure {
        at,
        kind: Some(kind),
    }))
}

fn expected<T>(at: usize, expected: impl Into<String>, found: Tok<'_>) -> PResult<T> {
    cut(
        at,
        ParseErrorKind::Expected {
            expected: expected.into(),
            found: found.text().map(str::to_owned),
        },
    )
}

/// Parses a whole expression. The empty expression matches everything.
pub(crate) fn parse(text: &str) -> Result<Node, ParseError> {
    let mut input = Input {
        input: LocatingSlice::new(text),
        state: Budget {
            text,
            depth: 0,
            tests: 0,
        },
    };
    top(&mut input).map_err(|e| {
        let failure = match e {
            ErrMode::Backtrack(f) | ErrMode::Cut(f) => f,
            // Only partial streams report this; the whole text is here.
            ErrMode::Incomplete(_) => Failure {
                at: text.len(),
                kind: None,
            },
        };
        let kind = failure.kind.unwrap_or_else(|| ParseErrorKind::Expected {
            expected: "a primitive, a value or an operator".into(),
            found: text
                .get(failure.at..)
                .and_then(|rest| rest.split_whitespace().next())
                .map(str::to_owned),
        });
        ParseError {
            position: char_position(text, failure.at),
            kind,
        }
    })
}

/// Character offset of a byte offset.
fn char_position(text: &str, byte: usize) -> usize {
    text.get(..byte)
        .map_or(byte, |before| before.chars().count())
}

// ---------------------------------------------------------------- tokens

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok<'a> {
    Word(&'a str),
    Open,
    Close,
    /// `!`
    Bang,
    /// `&&`
    AndAnd,
    /// `||`
    OrOr,
    End,
}

impl<'a> Tok<'a> {
    /// The token as written, `None` at the end.
    fn text(self) -> Option<&'a str> {
        Some(match self {
            Tok::Word(w) => w,
            Tok::Open => "(",
            Tok::Close => ")",
            Tok::Bang => "!",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::End => return None,
        })
    }

    fn is_and(self) -> bool {
        matches!(self, Tok::Word("and") | Tok::AndAnd)
    }

    fn is_or(self) -> bool {
        matches!(self, Tok::Word("or") | Tok::OrOr)
    }

    fn is_not(self) -> bool {
        matches!(self, Tok::Word("not") | Tok::Bang)
    }
}

fn is_word_char(c: char) -> bool {
    !c.is_whitespace() && !matches!(c, '(' | ')' | '!' | '&' | '|')
}

/// The next token and its byte offset.
fn token<'a>(i: &mut Input<'a>) -> PResult<(usize, Tok<'a>)> {
    take_while(0.., char::is_whitespace).parse_next(i)?;
    let at = i.current_token_start();
    if i.eof_offset() == 0 {
        return Ok((at, Tok::End));
    }
    let tok: PResult<Tok<'a>> = alt((
        literal("&&").value(Tok::AndAnd),
        literal("||").value(Tok::OrOr),
        literal("(").value(Tok::Open),
        literal(")").value(Tok::Close),
        literal("!").value(Tok::Bang),
        take_while(1.., is_word_char).map(Tok::Word),
    ))
    .parse_next(i);
    match tok {
        Ok(tok) => Ok((at, tok)),
        // A lone `&` or `|`.
        Err(_) => {
            let found = i.peek_token().map(|c| c.to_string());
            cut(
                at,
                ParseErrorKind::Expected {
                    expected: "'&&', '||', 'and' or 'or'".into(),
                    found,
                },
            )
        }
    }
}

/// The next token, not consumed.
fn peek_token<'a>(i: &mut Input<'a>) -> PResult<(usize, Tok<'a>)> {
    let start = i.checkpoint();
    let tok = token(i);
    i.reset(&start);
    tok
}

/// Consumes the next token if it is a word that `wanted` accepts.
fn word_if<'a>(
    i: &mut Input<'a>,
    wanted: impl Fn(&str) -> bool,
) -> PResult<Option<(usize, &'a str)>> {
    let start = i.checkpoint();
    match token(i)? {
        (at, Tok::Word(w)) if wanted(w) => Ok(Some((at, w))),
        _ => {
            i.reset(&start);
            Ok(None)
        }
    }
}

// ---------------------------------------------------------------- keywords

/// Direction qualifiers.
const DQUALS: &[&str] = &["src", "dst"];
/// Address-kind qualifiers, including the Kubernetes ones.
const AQUALS: &[&str] = &[
    "host",
    "net",
    "port",
    "portrange",
    "proto",
    "ns",
    "pod",
    "workload",
    "service",
    "node",
];
/// Protocols that also qualify (`tcp port 80`, `ip host a`).
const PQUALS: &[&str] = &["ip", "ip6", "tcp", "udp", "sctp"];
/// The remaining keywords of this grammar.
const OTHER_KEYWORDS: &[&str] = &[
    "and", "or", "not", "icmp", "icmp6", "vlan", "less", "greater", "mask",
];
/// tcpdump keywords not implemented here, each refused with a reason
/// rather than read as a value.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("ether", NOT_IP),
    ("arp", NOT_IP),
    ("rarp", NOT_IP),
    ("llc", NOT_IP),
    ("stp", NOT_IP),
    ("ipx", NOT_IP),
    ("decnet", NOT_IP),
    ("atalk", NOT_IP),
    ("aarp", NOT_IP),
    ("iso", NOT_IP),
    ("netbeui", NOT_IP),
    ("lat", NOT_IP),
    ("moprc", NOT_IP),
    ("mopdl", NOT_IP),
    ("sca", NOT_IP),
    ("fddi", NOT_IP),
    ("tr", NOT_IP),
    ("wlan", NOT_IP),
    ("link", NOT_IP),
    ("ppp", NOT_IP),
    ("slip", NOT_IP),
    ("mpls", NOT_IP),
    ("pppoed", NOT_IP),
    ("pppoes", NOT_IP),
    ("gateway", "it needs link-layer addresses; use host"),
    ("broadcast", "it needs the capture's netmask"),
    ("multicast", "use net 224.0.0.0/4 or net ff00::/8"),
    ("len", "use less or greater"),
    ("inbound", "captures here keep no direction"),
    ("outbound", "captures here keep no direction"),
    ("ifname", "it is for pflog captures"),
    ("on", "it is for pflog captures"),
    (
        "geneve",
        "the analyzer decodes tunnels itself and filters their inner packets",
    ),
    (
        "vxlan",
        "the analyzer decodes tunnels itself and filters their inner packets",
    ),
    (
        "protochain",
        "use proto, which sees past IPv6 extension headers here",
    ),
    ("igmp", "use proto igmp"),
    ("igrp", "use proto 9"),
    ("pim", "use proto pim"),
    ("vrrp", "use proto vrrp"),
    ("carp", "use proto 112"),
    ("ah", "use proto ah"),
    ("esp", "use proto esp"),
];
const NOT_IP: &str = "the filter sees IP packets only";

fn is_keyword(w: &str) -> bool {
    DQUALS.contains(&w)
        || AQUALS.contains(&w)
        || PQUALS.contains(&w)
        || OTHER_KEYWORDS.contains(&w)
        || UNSUPPORTED.iter().any(|(k, _)| *k == w)
}

// ---------------------------------------------------------------- limits

fn enter(i: &mut Input<'_>, at: usize) -> PResult<()> {
    i.state.depth += 1;
    if i.state.depth > MAX_DEPTH {
        return cut(
            at,
            ParseErrorKind::TooLarge("more than 100 nested parentheses or negations"),
        );
    }
    Ok(())
}

fn leave(i: &mut Input<'_>) {
    i.state.depth = i.state.depth.saturating_sub(1);
}

/// A primitive test at byte offset `at`, counted against the budget.
fn test_node(i: &mut Input<'_>, at: usize, test: Test) -> PResult<Node> {
    i.state.tests += 1;
    if i.state.tests > MAX_TESTS {
        return cut(at, ParseErrorKind::TooLarge("more than 1000 primitives"));
    }
    Ok(Node::Test {
        test,
        at: char_position(i.state.text, at),
    })
}

// ---------------------------------------------------------------- grammar

/// Qualifiers of a `head`, lent to the ids that follow it.
#[derive(Debug, Clone, Copy)]
struct Qual {
    pq: Option<Pq>,
    ends: Ends,
    kind: Kind,
    /// The last qualifier word, for "expected … after 'port'".
    keyword: &'static str,
}

/// Protocol qualifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pq {
    Ip,
    Ip6,
    Tcp,
    Udp,
    Sctp,
}

impl Pq {
    fn of(w: &str) -> Option<Pq> {
        Some(match w {
            "ip" => Pq::Ip,
            "ip6" => Pq::Ip6,
            "tcp" => Pq::Tcp,
            "udp" => Pq::Udp,
            "sctp" => Pq::Sctp,
            _ => return None,
        })
    }

    fn keyword(self) -> &'static str {
        match self {
            Pq::Ip => "ip",
            Pq::Ip6 => "ip6",
            Pq::Tcp => "tcp",
            Pq::Udp => "udp",
            Pq::Sctp => "sctp",
        }
    }

    /// The primitive the qualifier word is on its own.
    fn test(self) -> Test {
        match self {
            Pq::Ip => Test::Version(Version::V4),
            Pq::Ip6 => Test::Version(Version::V6),
            Pq::Tcp => Test::Proto {
                version: None,
                proto: 6,
            },
            Pq::Udp => Test::Proto {
                version: None,
                proto: 17,
            },
            Pq::Sctp => Test::Proto {
                version: None,
                proto: 132,
            },
        }
    }
}

/// Address kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `host`, or a direction with no kind (`src 10.0.0.1`).
    Host,
    Net,
    Port,
    Portrange,
    Proto,
    Name(NameKind),
}

impl Kind {
    fn of(w: &str) -> Option<(Kind, &'static str)> {
        Some(match w {
            "host" => (Kind::Host, "host"),
            "net" => (Kind::Net, "net"),
            "port" => (Kind::Port, "port"),
            "portrange" => (Kind::Portrange, "portrange"),
            "proto" => (Kind::Proto, "proto"),
            "ns" => (Kind::Name(NameKind::Namespace), "ns"),
            "pod" => (Kind::Name(NameKind::Pod), "pod"),
            "workload" => (Kind::Name(NameKind::Workload), "workload"),
            "service" => (Kind::Name(NameKind::Service), "service"),
            "node" => (Kind::Name(NameKind::Node), "node"),
            _ => return None,
        })
    }

    /// The keyword of the kind (`host` for a bare direction).
    fn name(self) -> &'static str {
        match self {
            Kind::Host => "host",
            Kind::Net => "net",
            Kind::Port => "port",
            Kind::Portrange => "portrange",
            Kind::Proto => "proto",
            Kind::Name(k) => k.keyword(),
        }
    }

    /// What a value of this kind is, for "expected …".
    fn value_name(self) -> &'static str {
        match self {
            Kind::Host => "an IP address",
            Kind::Net => "a network (10.0.0.0/8, 10.1, fd00::/8)",
            Kind::Port => "a port number or name",
            Kind::Portrange => "a port range (8000-8080)",
            Kind::Proto => "a protocol number or name",
            Kind::Name(NameKind::Namespace) => "a namespace",
            Kind::Name(NameKind::Pod) => "NAMESPACE/POD",
            Kind::Name(NameKind::Workload) => "a workload ([NAMESPACE/]NAME)",
            Kind::Name(NameKind::Service) => "NAMESPACE/SERVICE",
            Kind::Name(NameKind::Node) => "a node name",
        }
    }

    /// Kubernetes names and protocol names may be spelled like keywords
    /// (a namespace called `node`, `proto tcp`); other values never are.
    fn takes_keywords(self) -> bool {
        matches!(self, Kind::Name(_) | Kind::Proto)
    }
}

fn top(i: &mut Input<'_>) -> PResult<Node> {
    if peek_token(i)?.1 == Tok::End {
        return Ok(Node::True);
    }
    let (node, _) = expr(i, None)?;
    match token(i)? {
        (_, Tok::End) => Ok(node),
        (at, Tok::Close) => cut(at, ParseErrorKind::Unmatched),
        (at, tok) => cut(
            at,
            ParseErrorKind::MissingOperator(tok.text().unwrap_or_default().to_owned()),
        ),
    }
}

/// `term (op (term | id))*`, left to right. Returns the qualifiers that a
/// following id would borrow.
fn expr(i: &mut Input<'_>, after: Option<&str>) -> PResult<(Node, Option<Qual>)> {
    let (mut node, mut qual) = term(i, after)?;
    loop {
        let start = i.checkpoint();
        let (_, op) = token(i)?;
        if !op.is_and() && !op.is_or() {
            i.reset(&start);
            return Ok((node, qual));
        }
        let rhs = if starts_term(i) {
            let (rhs, q) = term(i, op.text())?;
            qual = q;
            rhs
        } else {
            id(i, qual.as_ref())?
        };
        node = join(op, node, rhs);
    }
}

fn join(op: Tok<'_>, a: Node, b: Node) -> Node {
    if op.is_and() {
        Node::And(Box::new(a), Box::new(b))
    } else {
        Node::Or(Box::new(a), Box::new(b))
    }
}

/// Whether what follows `and`/`or` is a term (else a bare id): the first
/// word after any `not`, `!` and `(` is a keyword. Also true at the end and
/// on errors, so that `term` reports them.
fn starts_term(i: &mut Input<'_>) -> bool {
    let start = i.checkpoint();
    let answer = loop {
        match token(i) {
            Ok((_, tok)) if tok.is_not() || tok == Tok::Open => continue,
            Ok((_, Tok::Word(w))) => break is_keyword(w),
            _ => break true,
        }
    };
    i.reset(&start);
    answer
}

/// A term; `after` is the token before it, for messages.
fn term(i: &mut Input<'_>, after: Option<&str>) -> PResult<(Node, Option<Qual>)> {
    let (at, tok) = token(i)?;
    enter(i, at)?;
    let result = match tok {
        t if t.is_not() => term(i, t.text()).map(|(n, q)| (Node::Not(Box::new(n)), q)),
        Tok::Open => expr(i, Some("(")).and_then(|(n, q)| close(i, at).map(|()| (n, q))),
        Tok::Word(w) => primitive(i, at, w),
        other => match after {
            Some(after) => expected(at, format!("a primitive after '{after}'"), other),
            None => expected(at, "a primitive", other),
        },
    };
    leave(i);
    result
}

/// The `)` of a `(` at byte offset `open`.
fn close(i: &mut Input<'_>, open: usize) -> PResult<()> {
    match token(i)? {
        (_, Tok::Close) => Ok(()),
        (_, Tok::End) => cut(open, ParseErrorKind::Unclosed),
        (at, tok) => cut(
            at,
            ParseErrorKind::MissingOperator(tok.text().unwrap_or_default().to_owned()),
        ),
    }
}

/// A term that starts with the word `w` at `at` (already consumed).
fn primitive(i: &mut Input<'_>, at: usize, w: &str) -> PResult<(Node, Option<Qual>)> {
    if let Some(pq) = Pq::of(w) {
        // A protocol qualifies what follows when a qualifier follows;
        // otherwise it is the protocol test itself.
        let next = word_if(i, |n| DQUALS.contains(&n) || AQUALS.contains(&n))?;
        return match next {
            Some(next) => head(i, Some((at, pq)), next),
            None => Ok((test_node(i, at, pq.test())?, None)),
        };
    }
    if DQUALS.contains(&w) || AQUALS.contains(&w) {
        return head(i, None, (at, w));
    }
    let test = match w {
        "icmp" => Test::Proto {
            version: Some(Version::V4),
            proto: 1,
        },
        "icmp6" => Test::Proto {
            version: Some(Version::V6),
            proto: 58,
        },
        "vlan" => {
            let id = match word_if(i, |n| number(n).is_some())? {
                Some((n_at, n)) => Some(bounded(n_at, n, "VLAN id", 4095)? as u16),
                None => None,
            };
            Test::Vlan(id)
        }
        "less" | "greater" => {
            let (n_at, tok) = token(i)?;
            let n = match tok {
                Tok::Word(n) if number(n).is_some() => bounded(n_at, n, "length", u32::MAX)?,
                other => return expected(n_at, format!("a frame length after '{w}'"), other),
            };
            if w == "less" {
                Test::Less(n)
            } else {
                Test::Greater(n)
            }
        }
        "and" | "or" | "mask" => {
            return expected(at, "a primitive", Tok::Word(w));
        }
        _ => {
            if let Some((_, why)) = UNSUPPORTED.iter().find(|(k, _)| *k == w) {
                return cut(
                    at,
                    ParseErrorKind::Unsupported {
                        keyword: w.to_owned(),
                        why,
                    },
                );
            }
            if w.contains(['[', ']', '=', '<', '>', '+', '*']) {
                return cut(
                    at,
                    ParseErrorKind::Unsupported {
                        keyword: w.to_owned(),
                        why: "arithmetic and byte access (ip[6:2] = 0, len > 100) are not implemented",
                    },
                );
            }
            // A value where a primitive belongs: `1.2.3.4`, `80`.
            if w.starts_with(|c: char| c.is_ascii_digit()) || w.contains(':') {
                return cut(at, ParseErrorKind::NoQualifier(w.to_owned()));
            }
            return cut(at, ParseErrorKind::UnknownPrimitive(w.to_owned()));
        }
    };
    Ok((test_node(i, at, test)?, None))
}

/// `[pqual] [dqual] [aqual] id`; `first` is the first word after the
/// protocol qualifier, already consumed.
fn head(
    i: &mut Input<'_>,
    pq: Option<(usize, Pq)>,
    first: (usize, &str),
) -> PResult<(Node, Option<Qual>)> {
    let (at, mut w) = first;
    let mut ends = None;
    if let Some(dir) = match w {
        "src" => Some(Ends::Src),
        "dst" => Some(Ends::Dst),
        _ => None,
    } {
        ends = Some((at, dir, if dir == Ends::Src { "src" } else { "dst" }));
        // `src or dst`, `src and dst` (either order) are one qualifier.
        let other: &'static str = if dir == Ends::Src { "dst" } else { "src" };
        let start = i.checkpoint();
        let (_, op) = token(i)?;
        let (_, next) = token(i)?;
        if next == Tok::Word(other) && (op.is_or() || op.is_and()) {
            let both = if op.is_or() { Ends::Either } else { Ends::Both };
            ends = Some((at, both, other));
        } else {
            i.reset(&start);
        }
        match word_if(i, |n| AQUALS.contains(&n))? {
            Some((_, next)) => w = next,
            None => w = "",
        }
    }
    let (kind, keyword) = match Kind::of(w) {
        Some(k) => k,
        // A direction alone means `host`.
        None => (Kind::Host, ends.map_or("host", |(_, _, kw)| kw)),
    };
    if let Some((pq_at, pq)) = pq {
        let allowed = match kind {
            Kind::Host | Kind::Net | Kind::Proto => matches!(pq, Pq::Ip | Pq::Ip6),
            Kind::Port | Kind::Portrange => matches!(pq, Pq::Tcp | Pq::Udp | Pq::Sctp),
            Kind::Name(_) => false,
        };
        if !allowed {
            return cut(
                pq_at,
                ParseErrorKind::BadQualifier {
                    qualifier: pq.keyword(),
                    primitive: kind.name(),
                },
            );
        }
    }
    if let (Kind::Proto, Some((dir_at, _, dir_kw))) = (kind, ends) {
        return cut(
            dir_at,
            ParseErrorKind::BadQualifier {
                qualifier: dir_kw,
                primitive: "proto",
            },
        );
    }
    let qual = Qual {
        pq: pq.map(|(_, p)| p),
        ends: ends.map_or(Ends::Either, |(_, e, _)| e),
        kind,
        keyword,
    };
    let node = id(i, Some(&qual))?;
    Ok((node, Some(qual)))
}

/// A value, a negated id or a parenthesized list of ids, all under `qual`.
fn id(i: &mut Input<'_>, qual: Option<&Qual>) -> PResult<Node> {
    let (at, tok) = token(i)?;
    enter(i, at)?;
    let result = match tok {
        t if t.is_not() => id(i, qual).map(|n| Node::Not(Box::new(n))),
        Tok::Open => pid(i, qual).and_then(|n| close(i, at).map(|()| n)),
        Tok::Word(w)
            if !matches!(w, "and" | "or" | "not")
                && (qual.is_some_and(|q| q.kind.takes_keywords()) || !is_keyword(w)) =>
        {
            value(i, qual, at, w)
        }
        other => match qual {
            Some(q) => expected(
                at,
                format!("{} after '{}'", q.kind.value_name(), q.keyword),
                other,
            ),
            None => expected(at, "a primitive", other),
        },
    };
    leave(i);
    result
}

/// Ids joined by and/or inside parentheses, all under the same qualifiers.
fn pid(i: &mut Input<'_>, qual: Option<&Qual>) -> PResult<Node> {
    let mut node = id(i, qual)?;
    loop {
        let start = i.checkpoint();
        let (_, op) = token(i)?;
        if !op.is_and() && !op.is_or() {
            i.reset(&start);
            return Ok(node);
        }
        let rhs = id(i, qual)?;
        node = join(op, node, rhs);
    }
}

/// The value word `w` at `at` under `qual`.
fn value(i: &mut Input<'_>, qual: Option<&Qual>, at: usize, w: &str) -> PResult<Node> {
    let Some(q) = qual else {
        return cut(at, ParseErrorKind::NoQualifier(w.to_owned()));
    };
    let test = match q.kind {
        Kind::Host => host(q, at, w)?,
        Kind::Net => net(i, q, at, w)?,
        Kind::Port => port(q, at, w)?,
        Kind::Portrange => portrange(q, at, w)?,
        Kind::Proto => proto(q, at, w)?,
        Kind::Name(kind) => k8s_name(q, kind, at, w)?,
    };
    test_node(i, at, test)
}

// ---------------------------------------------------------------- values

/// Syntax of a tcpdump number: decimal, or hexadecimal after `0x`.
/// Returns the digits and their radix.
fn number_syntax<'a>(s: &mut &'a str) -> winnow::Result<(&'a str, u32), ()> {
    alt((
        preceded(alt(("0x", "0X")), hex_digit1).map(|d| (d, 16)),
        digit1.map(|d| (d, 10)),
    ))
    .parse_next(s)
}

/// `Some` when the word is a number; its value saturates at `u64::MAX`.
fn number(w: &str) -> Option<Result<u64, ParseErrorKind>> {
    let (digits, radix) = (number_syntax, eof).map(|(n, _)| n).parse(w).ok()?;
    if radix == 10 && digits.len() > 1 && digits.starts_with('0') {
        return Some(Err(ParseErrorKind::LeadingZero(w.to_owned())));
    }
    Some(Ok(u64::from_str_radix(digits, radix).unwrap_or(u64::MAX)))
}

/// A number word no larger than `max`.
fn bounded(at: usize, w: &str, what: &'static str, max: u32) -> PResult<u32> {
    match number(w) {
        Some(Ok(n)) if n <= u64::from(max) => Ok(n as u32),
        Some(Ok(_)) => cut(
            at,
            ParseErrorKind::OutOfRange {
                what,
                value: w.to_owned(),
                max,
            },
        ),
        Some(Err(kind)) => cut(at, kind),
        None => cut(
            at,
            ParseErrorKind::BadValue {
                what: "a number",
                text: w.to_owned(),
            },
        ),
    }
}

fn bad<T>(at: usize, what: &'static str, w: &str) -> PResult<T> {
    cut(
        at,
        ParseErrorKind::BadValue {
            what,
            text: w.to_owned(),
        },
    )
}

fn wrong_family<T>(at: usize, pq: Pq, family: &'static str, w: &str) -> PResult<T> {
    cut(
        at,
        ParseErrorKind::WrongFamily {
            qualifier: pq.keyword(),
            family,
            address: w.to_owned(),
        },
    )
}

fn host(q: &Qual, at: usize, w: &str) -> PResult<Test> {
    if let Ok(a) = w.parse::<Ipv4Addr>() {
        if q.pq == Some(Pq::Ip6) {
            return wrong_family(at, Pq::Ip6, "IPv4", w);
        }
        return Ok(Test::Net4 {
            ends: q.ends,
            net: a.into(),
            mask: u32::MAX,
        });
    }
    if let Ok(a) = w.parse::<Ipv6Addr>() {
        if q.pq == Some(Pq::Ip) {
            return wrong_family(at, Pq::Ip, "IPv6", w);
        }
        return Ok(Test::Net6 {
            ends: q.ends,
            net: a.into(),
            mask: u128::MAX,
        });
    }
    if w.contains('/') {
        return bad(at, "a host address (use 'net' for a network)", w);
    }
    if w.chars().all(|c| c.is_ascii_digit() || c == '.') {
        // tcpdump reads `host 10.1` as the network 10.1.0.0/16 and
        // `host 10` as 0.0.0.10: surprising enough to refuse.
        return bad(at, "a full IP address (write 'net 10.1' for a prefix)", w);
    }
    bad(at, "an IP address (host names are not resolved)", w)
}

/// Dotted decimal with one to four parts, as tcpdump's `__pcap_atoin`
/// reads it: the value right-aligned, and the number of bits written.
fn dotted(w: &str) -> Option<(u32, u32)> {
    let parts: Vec<&str> = winnow::combinator::separated(1..=4, digit1::<_, ()>, '.')
        .parse(w)
        .ok()?;
    let mut value: u32 = 0;
    for part in &parts {
        let byte: u8 = part.parse().ok()?;
        if part.len() > 1 && part.starts_with('0') {
            return None;
        }
        value = (value << 8) | u32::from(byte);
    }
    Some((value, 8 * parts.len() as u32))
}

fn net(i: &mut Input<'_>, q: &Qual, at: usize, w: &str) -> PResult<Test> {
    let (base, len) = match w.split_once('/') {
        Some((b, l)) => (b, Some(l)),
        None => (w, None),
    };
    let len = match len {
        Some(l) => match number(l) {
            Some(Ok(n)) => Some(n),
            _ => return bad(at, "a network (10.0.0.0/8, 10.1, fd00::/8)", w),
        },
        None => None,
    };
    if base.contains(':') {
        let Ok(addr) = base.parse::<Ipv6Addr>() else {
            return bad(at, "an IPv6 network", w);
        };
        if q.pq == Some(Pq::Ip) {
            return wrong_family(at, Pq::Ip, "IPv6", w);
        }
        let len = len.unwrap_or(128);
        if len > 128 {
            return cut(
                at,
                ParseErrorKind::OutOfRange {
                    what: "prefix length",
                    value: len.to_string(),
                    max: 128,
                },
            );
        }
        let mask = u128::MAX.checked_shl(128 - len as u32).unwrap_or(0);
        let net = u128::from(addr);
        if net & !mask != 0 {
            return cut(at, ParseErrorKind::HostBitsSet(w.to_owned()));
        }
        if let Some((m_at, _)) = word_if(i, |n| n == "mask")? {
            return cut(
                m_at,
                ParseErrorKind::Unsupported {
                    keyword: "mask".into(),
                    why: "it takes IPv4 networks; write the IPv6 prefix length (fd00::/8)",
                },
            );
        }
        return Ok(Test::Net6 {
            ends: q.ends,
            net,
            mask,
        });
    }
    if q.pq == Some(Pq::Ip6) {
        return wrong_family(at, Pq::Ip6, "IPv4", w);
    }
    let (net, natural_mask) = if let (Some(Ok(n)), None) = (number(base), len) {
        // tcpdump's `net 10`: a bare number is shifted up until its top
        // byte is set, and the mask with it (`net 0` stays 0.0.0.0/32).
        let mut n = u32::try_from(n).unwrap_or(u32::MAX);
        let mut mask = u32::MAX;
        while n != 0 && n & 0xff00_0000 == 0 {
            n <<= 8;
            mask <<= 8;
        }
        (n, mask)
    } else if base.contains('.') {
        match dotted(base) {
            // Fewer than four parts are the leading bytes: 10.1 is 10.1.0.0/16.
            Some((v, bits)) => (
                v.checked_shl(32 - bits).unwrap_or(0),
                u32::MAX.checked_shl(32 - bits).unwrap_or(0),
            ),
            None => return bad(at, "an IPv4 network", w),
        }
    } else {
        return bad(at, "a network (10.0.0.0/8, 10.1, fd00::/8)", w);
    };
    let mask = if let Some(len) = len {
        if len > 32 {
            return cut(
                at,
                ParseErrorKind::OutOfRange {
                    what: "prefix length",
                    value: len.to_string(),
                    max: 32,
                },
            );
        }
        u32::MAX.checked_shl(32 - len as u32).unwrap_or(0)
    } else if let Some((m_at, _)) = word_if(i, |n| n == "mask")? {
        let (mask_at, tok) = token(i)?;
        let mask = match tok {
            Tok::Word(m) if base.contains('.') => match dotted(m) {
                Some((v, bits)) => v.checked_shl(32 - bits).unwrap_or(0),
                None => return bad(mask_at, "an IPv4 netmask", m),
            },
            Tok::Word(_) => return bad(at, "a dotted IPv4 network (10.0.0.0 mask 255.0.0.0)", w),
            other => return expected(m_at, "a netmask after 'mask'", other),
        };
        if net & !mask != 0 {
            let text = format!("{w} mask {}", tok.text().unwrap_or_default());
            return cut(at, ParseErrorKind::HostBitsSet(text));
        }
        mask
    } else {
        natural_mask
    };
    if net & !mask != 0 {
        return cut(at, ParseErrorKind::HostBitsSet(w.to_owned()));
    }
    Ok(Test::Net4 {
        ends: q.ends,
        net,
        mask,
    })
}

/// Transports a port term tests: its qualifier, narrowed by what a service
/// name is registered for, as tcpdump does.
fn transports(q: &Qual, at: usize, name: &str, registered: Registered) -> PResult<Transports> {
    let clash = |registered: &'static str| {
        cut(
            at,
            ParseErrorKind::PortTransport {
                name: name.to_owned(),
                registered,
            },
        )
    };
    Ok(match (q.pq, registered) {
        (None, Registered::Tcp) => Transports::TCP,
        (None, Registered::Udp) => Transports::UDP,
        (None, Registered::Both) => Transports::ALL,
        (Some(Pq::Tcp), Registered::Udp) | (Some(Pq::Sctp), Registered::Udp) => {
            return clash("udp")
        }
        (Some(Pq::Udp), Registered::Tcp) | (Some(Pq::Sctp), Registered::Tcp) => {
            return clash("tcp")
        }
        (Some(Pq::Tcp), _) => Transports::TCP,
        (Some(Pq::Udp), _) => Transports::UDP,
        (Some(Pq::Sctp), _) => Transports::SCTP,
        // `head` lets only transport qualifiers reach a port.
        (Some(Pq::Ip | Pq::Ip6), _) => Transports::ALL,
    })
}

fn qualified_transports(q: &Qual) -> Transports {
    match q.pq {
        Some(Pq::Tcp) => Transports::TCP,
        Some(Pq::Udp) => Transports::UDP,
        Some(Pq::Sctp) => Transports::SCTP,
        _ => Transports::ALL,
    }
}

fn port(q: &Qual, at: usize, w: &str) -> PResult<Test> {
    let (port, transports) = if number(w).is_some() {
        (
            bounded(at, w, "port", 65535)? as u16,
            qualified_transports(q),
        )
    } else {
        match names::service(w) {
            Some((port, registered)) => (port, transports(q, at, w, registered)?),
            None => return cut(at, ParseErrorKind::UnknownPort(w.to_owned())),
        }
    };
    Ok(Test::Port {
        ends: q.ends,
        transports,
        lo: port,
        hi: port,
    })
}

fn portrange(q: &Qual, at: usize, w: &str) -> PResult<Test> {
    let parsed = (
        number_syntax.take(),
        opt(preceded('-', number_syntax.take())),
        eof,
    )
        .parse(w);
    let Ok((a, b, _)) = parsed else {
        return bad(at, "a port range (8000-8080)", w);
    };
    let b = b.unwrap_or(a);
    let a = bounded(at, a, "port", 65535)? as u16;
    let b = bounded(at, b, "port", 65535)? as u16;
    Ok(Test::Port {
        ends: q.ends,
        transports: qualified_transports(q),
        lo: a.min(b),
        hi: a.max(b),
    })
}

fn proto(q: &Qual, at: usize, w: &str) -> PResult<Test> {
    // tcpdump needs `\tcp` since `tcp` is a keyword; both are fine here.
    let name = w.strip_prefix('\\').unwrap_or(w);
    let proto = if number(name).is_some() {
        bounded(at, name, "protocol", 255)? as u8
    } else {
        match names::protocol(name) {
            Some(p) => p,
            None => return cut(at, ParseErrorKind::UnknownProtocol(name.to_owned())),
        }
    };
    let version = match q.pq {
        Some(Pq::Ip) => Some(Version::V4),
        Some(Pq::Ip6) => Some(Version::V6),
        _ => None,
    };
    Ok(Test::Proto { version, proto })
}

fn k8s_name(q: &Qual, kind: NameKind, at: usize, w: &str) -> PResult<Test> {
    let pattern = |text: &str, what: &'static str| match Pattern::new(text) {
        Some(p) => Ok(p),
        None => bad(at, what, text),
    };
    let (namespace, name) = match kind {
        NameKind::Namespace => (None, pattern(w, "a namespace name or pattern")?),
        NameKind::Node => (None, pattern(w, "a node name or pattern")?),
        NameKind::Pod | NameKind::Service => match w.split_once('/') {
            Some((ns, name)) => (
                Some(pattern(ns, "a namespace name or pattern")?),
                pattern(name, "a name or pattern")?,
            ),
            None => {
                return cut(
                    at,
                    ParseErrorKind::NeedsNamespace {
                        primitive: kind.keyword(),
                        text: w.to_owned(),
                    },
                )
            }
        },
        NameKind::Workload => match w.split_once('/') {
            Some((ns, name)) => (
                Some(pattern(ns, "a namespace name or pattern")?),
                pattern(name, "a workload name or pattern")?,
            ),
            None => (None, pattern(w, "a workload name or pattern")?),
        },
    };
    Ok(Test::Name {
        ends: q.ends,
        kind,
        namespace,
        name,
    })
}

#[cfg(test)]
mod tests;
