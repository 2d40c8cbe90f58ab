//! The fixed tables of service (port) names and IP protocol names.
//!
//! tcpdump reads `/etc/services` and `/etc/protocols`; an offline analyzer
//! must give the same answer on every machine, so the common entries are
//! built in. Values follow IANA as shipped in Debian's netbase, including
//! which transport a name is registered for: tcpdump's `port http` is
//! `tcp port 80` because `http` is registered for TCP only.

/// Transports a service name is registered for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Registered {
    Tcp,
    Udp,
    /// TCP and UDP with the same number: tcpdump then tests TCP, UDP *and*
    /// SCTP, as it does for a bare number.
    Both,
}

/// (name, port, transports). Aliases are separate rows.
const SERVICES: &[(&str, u16, Registered)] = {
    use Registered::*;
    &[
        ("ftp-data", 20, Tcp),
        ("ftp", 21, Tcp),
        ("ssh", 22, Tcp),
        ("telnet", 23, Tcp),
        ("smtp", 25, Tcp),
        ("mail", 25, Tcp),
        ("domain", 53, Both),
        ("bootps", 67, Udp),
        ("bootpc", 68, Udp),
        ("tftp", 69, Udp),
        ("http", 80, Tcp),
        ("www", 80, Tcp),
        ("kerberos", 88, Both),
        ("pop3", 110, Tcp),
        ("sunrpc", 111, Both),
        ("portmapper", 111, Both),
        ("ntp", 123, Udp),
        ("netbios-ns", 137, Udp),
        ("imap", 143, Tcp),
        ("imap2", 143, Tcp),
        ("snmp", 161, Both),
        ("snmp-trap", 162, Both),
        ("bgp", 179, Tcp),
        ("ldap", 389, Both),
        ("https", 443, Both),
        ("microsoft-ds", 445, Tcp),
        ("syslog", 514, Udp),
        ("submission", 587, Tcp),
        ("ldaps", 636, Both),
        ("domain-s", 853, Both),
        ("rsync", 873, Tcp),
        ("imaps", 993, Tcp),
        ("pop3s", 995, Tcp),
        ("nfs", 2049, Both),
        ("mysql", 3306, Tcp),
        ("postgresql", 5432, Tcp),
        ("postgres", 5432, Tcp),
        ("redis", 6379, Tcp),
        ("http-alt", 8080, Tcp),
        ("webcache", 8080, Tcp),
    ]
};

/// Port number and registered transports of a service name.
pub(crate) fn service(name: &str) -> Option<(u16, Registered)> {
    SERVICES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|&(_, port, reg)| (port, reg))
}

/// (name, number) of the IP protocols `proto` accepts by name.
const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("tcp", 6),
    ("udp", 17),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmp6", 58),
    ("ipv6-icmp", 58),
    ("ospf", 89),
    ("pim", 103),
    ("vrrp", 112),
    ("sctp", 132),
];

/// Number of an IP protocol name.
pub(crate) fn protocol(name: &str) -> Option<u8> {
    PROTOCOLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|&(_, number)| number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups() {
        assert_eq!(service("http"), Some((80, Registered::Tcp)));
        assert_eq!(service("domain"), Some((53, Registered::Both)));
        assert_eq!(service("syslog"), Some((514, Registered::Udp)));
        assert_eq!(service("nope"), None);
        assert_eq!(protocol("tcp"), Some(6));
        assert_eq!(protocol("ipv6-icmp"), Some(58));
        assert_eq!(protocol("TCP"), None);
    }

    #[test]
    fn names_are_unique() {
        for (i, (a, _, _)) in SERVICES.iter().enumerate() {
            assert!(
                SERVICES[i + 1..].iter().all(|(b, _, _)| a != b),
                "service {a} listed twice"
            );
        }
        for (i, (a, _)) in PROTOCOLS.iter().enumerate() {
            assert!(
                PROTOCOLS[i + 1..].iter().all(|(b, _)| a != b),
                "protocol {a} listed twice"
            );
        }
    }
}
