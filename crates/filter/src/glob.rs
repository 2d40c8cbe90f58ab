//! Name patterns of the Kubernetes terms: `*` (any run of characters) and
//! `?` (one character), nothing else.
//!
//! Written here rather than taken from a glob crate: those treat `/` as a
//! path separator or bring a regex engine, and Kubernetes names need
//! neither classes nor escapes (they never contain `*` or `?`).

use std::fmt;

/// A name or a pattern, checked to hold only the characters of Kubernetes
/// names (`a-z A-Z 0-9 . - _`) and the two wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Pattern {
    /// No wildcard: compared as is.
    Exact(Box<str>),
    Glob(Box<str>),
}

impl Pattern {
    /// `None` when `text` is empty or has a character a name cannot have.
    pub(crate) fn new(text: &str) -> Option<Pattern> {
        let allowed =
            |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '*' | '?');
        if text.is_empty() || !text.chars().all(allowed) {
            return None;
        }
        Some(if text.contains(['*', '?']) {
            Pattern::Glob(text.into())
        } else {
            Pattern::Exact(text.into())
        })
    }

    /// Whether a known name matches; an unknown name matches nothing, not
    /// even `*`.
    pub(crate) fn matches(&self, name: Option<&str>) -> bool {
        match (self, name) {
            (_, None) => false,
            (Pattern::Exact(p), Some(n)) => **p == *n,
            (Pattern::Glob(p), Some(n)) => glob(p.as_bytes(), n),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Exact(p) | Pattern::Glob(p) => f.write_str(p),
        }
    }
}

/// Width in bytes of the UTF-8 character starting at `text[at]`.
fn char_width(text: &str, at: usize) -> usize {
    text.get(at..)
        .and_then(|rest| rest.chars().next())
        .map_or(1, char::len_utf8)
}

/// Wildcard match with one backtrack point (the last `*`): linear in
/// practice, O(pattern × name) at worst. The pattern is ASCII (checked in
/// [`Pattern::new`]), so a literal pattern byte never equals part of a
/// multi-byte character, and `?` and `*` step over whole characters.
fn glob(pat: &[u8], text: &str) -> bool {
    let bytes = text.as_bytes();
    let (mut p, mut t) = (0, 0);
    // Pattern index after the last `*`, and the text index it is tried from.
    let mut resume: Option<(usize, usize)> = None;
    while t < bytes.len() {
        match pat.get(p) {
            Some(b'*') => {
                p += 1;
                resume = Some((p, t));
                continue;
            }
            Some(b'?') => {
                p += 1;
                t += char_width(text, t);
                continue;
            }
            Some(&c) if c == bytes[t] => {
                p += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        // Mismatch: let the last `*` swallow one more character.
        match resume {
            Some((after_star, from)) => {
                let next = from + char_width(text, from);
                resume = Some((after_star, next));
                p = after_star;
                t = next;
            }
            None => return false,
        }
    }
    pat[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        Pattern::new(p).unwrap().matches(Some(n))
    }

    #[test]
    fn wildcards() {
        assert!(m("api-*", "api-7d9f8-x2x"));
        assert!(m("api-*", "api-"));
        assert!(!m("api-*", "ap"));
        assert!(!m("api-*", "web-api-1"));
        assert!(m("*-api-*", "web-api-1"));
        assert!(m("*", "anything"));
        assert!(m("a?c", "abc"));
        assert!(!m("a?c", "ac"));
        assert!(m("*a*b*c", "xxaxxbxxc"));
        assert!(!m("*a*b*c", "xxaxxbxxcx"));
        assert!(m("redis-?", "redis-0"));
        assert!(!m("redis-?", "redis-10"));
        assert!(m("kube-system", "kube-system"));
        assert!(!m("kube-system", "kube-systems"));
        // `?` takes a whole character, not one byte of it.
        assert!(m("a?b", "aéb"));
        assert!(!m("a?b", "aéé"));
    }

    #[test]
    fn unknown_names_match_nothing() {
        assert!(!Pattern::new("*").unwrap().matches(None));
    }

    #[test]
    fn invalid_patterns() {
        assert!(Pattern::new("").is_none());
        assert!(Pattern::new("a/b").is_none());
        assert!(Pattern::new("a b").is_none());
        assert!(Pattern::new("café").is_none());
        assert!(matches!(Pattern::new("a*"), Some(Pattern::Glob(_))));
        assert!(matches!(Pattern::new("a"), Some(Pattern::Exact(_))));
    }
}
