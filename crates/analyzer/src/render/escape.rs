//! Where capture-derived text is made safe for each output: one definition
//! of the characters that must not reach a reader as they are
//! ([`is_dangerous`]), and one function per output that says what becomes
//! of them there.
//!
//! Everything a packet, a flow log or a file name can carry (DNS names,
//! interface names, drop reasons, Hubble labels, paths, error messages) goes
//! through one of these before it is written:
//!
//! | output | function | dangerous characters become | also |
//! |---|---|---|---|
//! | terminal (text, stderr) | [`terminal`] | visible escapes (`\u{1b}`, `\n`) | |
//! | report.md | [`markdown`] | a space | Markdown and HTML markup escaped |
//! | chart labels (SVG, PNG) | [`chart_label`] | U+FFFD | cut to a length; XML escaping by plotters' SVG backend |
//! | report.html | [`html`] | U+FFFD | HTML escaping by minijinja's auto-escape |

/// Whether `c` can change how the text around it is shown, or hide what a
/// name really is:
///
/// * control characters (C0, DEL, C1): terminal escape sequences, carriage
///   returns that overwrite a line, line breaks inside a table cell;
/// * the Unicode line and paragraph separators (U+2028, U+2029);
/// * bidirectional controls (U+061C, U+200E, U+200F, U+202A–U+202E,
///   U+2066–U+2069): they reorder what is displayed ("Trojan Source");
/// * zero-width and invisible characters (U+200B–U+200D, U+2060, U+FEFF):
///   two names that look the same would differ.
pub fn is_dangerous(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{2029}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
        )
}

/// For a terminal: dangerous characters are shown as Rust escapes
/// (`\u{1b}`, `\n`, `\u{202e}`), so the text cannot drive the terminal or
/// reorder the line, and the reader still sees that they were there.
pub fn terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_dangerous(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// For Markdown inline text (never at a line start): no markup, link, HTML
/// or table break survives; dangerous characters become a space (a line
/// break in a table cell would end the table).
pub fn markdown(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            // Inline text only (never at a line start): brackets, emphasis,
            // code, tables and HTML are what could take effect.
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '|' | '~' | '>' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '&' => out.push_str("&amp;"),
            c if is_dangerous(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// For a chart's title, axis, legend or category label: dangerous
/// characters become U+FFFD and the label is cut to `max` characters (an
/// ellipsis says so). XML escaping (`<`, `&`, quotes) is left to plotters'
/// SVG backend; a PNG has no markup.
pub fn chart_label(s: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in s.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        out.push(if is_dangerous(c) { '\u{FFFD}' } else { c });
    }
    out
}

/// For report.html text: dangerous characters become U+FFFD. Markup is
/// escaped afterwards by the template engine's auto-escape (see
/// `render::report`), which calls this for every string it writes.
pub fn html(s: &str) -> String {
    s.chars()
        .map(|c| if is_dangerous(c) { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strings a capture can carry to attack or mislead a reader.
    const HOSTILE: &[&str] = &[
        "<script>alert(1)</script>",
        "a\x1b[31mred\x1b[0m",
        "line1\nline2\r\tx",
        "\u{7}bell\u{0}nul\u{7f}del\u{9b}csi",
        "abc\u{202E}cba",
        "\u{2066}isolate\u{2069}\u{061C}\u{200E}\u{200F}",
        "zero\u{200B}width\u{200D}joiner\u{2060}\u{FEFF}",
        "para\u{2028}sep\u{2029}",
        "[x](http://a) | *b* `c` &amp; _u_ ~s~ > q",
    ];

    #[test]
    fn every_target_removes_every_dangerous_character() {
        for s in HOSTILE {
            let outputs = [
                ("terminal", terminal(s)),
                ("markdown", markdown(s)),
                ("chart", chart_label(s, 1000)),
                ("html", html(s)),
            ];
            for (target, out) in outputs {
                assert!(!out.chars().any(is_dangerous), "{target}: {s:?} -> {out:?}");
                // Nothing is dropped silently: plain characters survive.
                for word in [
                    "script", "red", "line2", "bell", "cba", "isolate", "width", "sep",
                ] {
                    if s.contains(word) {
                        assert!(out.contains(word), "{target}: {word} lost in {out:?}");
                    }
                }
            }
            let md = markdown(s);
            assert!(!md.contains('<'), "{md}");
            for c in ['[', ']', '|', '*', '`', '_', '~', '>'] {
                // Every markup character is escaped with a backslash.
                assert_eq!(
                    md.matches(c).count(),
                    md.matches(&format!("\\{c}")).count(),
                    "{c} in {md}"
                );
            }
        }
    }

    /// The same strings through what the program writes: the terminal
    /// and Markdown text, a chart's SVG and PNG, and report.html's template.
    #[test]
    fn hostile_strings_through_every_output() {
        use crate::render::charts::{self, Chart};
        let env = crate::render::report::html_environment();
        for s in HOSTILE {
            let tainted = s.chars().any(is_dangerous);
            for (target, out) in [("terminal", terminal(s)), ("markdown", markdown(s))] {
                assert!(!out.chars().any(is_dangerous), "{target}: {out:?}");
            }
            let chart = Chart::Categories {
                title: s.to_string(),
                x_label: s.to_string(),
                items: vec![(s.to_string(), 1.0)],
            };
            let svg = charts::svg(&chart).unwrap();
            // The SVG's own markup has line breaks; nothing else may be there.
            assert!(
                !svg.chars().any(|c| is_dangerous(c) && c != '\n'),
                "svg of {s:?}"
            );
            assert_eq!(svg.contains('\u{FFFD}'), tainted, "svg of {s:?}");
            assert!(!svg.contains("<script"), "svg of {s:?}");
            assert!(charts::png(&chart).is_ok());
            let html = env
                .render_str("<p>{{ s }}</p>", minijinja::context! { s => s })
                .unwrap();
            assert!(!html.chars().any(is_dangerous), "html: {html:?}");
            assert!(!html.contains("<script"), "html: {html}");
            assert_eq!(html.contains('\u{FFFD}'), tainted, "html: {html:?}");
        }
    }

    #[test]
    fn each_target_says_it_its_own_way() {
        assert_eq!(terminal("a\x1b[31mb\n"), "a\\u{1b}[31mb\\n");
        assert_eq!(terminal("x\u{202E}y"), "x\\u{202e}y");
        assert_eq!(markdown("a\nb|c"), "a b\\|c");
        assert_eq!(chart_label("ab\u{202E}cd", 3), "ab\u{FFFD}…");
        assert_eq!(html("a\u{200B}<b>"), "a\u{FFFD}<b>");
        // Ordinary non-ASCII text is kept.
        assert_eq!(terminal("Grüße → 東京"), "Grüße → 東京");
        assert_eq!(html("Grüße → 東京"), "Grüße → 東京");
    }
}
