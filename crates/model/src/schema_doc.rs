//! docs/json-schema.md, generated from the report types: their JSON Schema
//! (schemars, from the same derives and doc comments as the code) walked
//! from [`Report`], one section per object type with a
//! `| field | type | meaning |` table. Prose that is about no single field
//! (the introduction, the conventions, flow lifetime) is here; what the
//! analyzer defines (the finding kinds, the `--fail-on` metrics) comes in
//! through [`DocExtras`] from the lists the code uses.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

use schemars::generate::SchemaSettings;
use serde_json::Value;

use crate::Report;

/// What the analyzer adds to the page, from the lists its code uses.
#[derive(Debug, Clone, Copy)]
pub struct DocExtras<'a> {
    /// Every finding kind: (kind, severity rule, when it appears).
    pub finding_kinds: &'a [(&'a str, &'a str, &'a str)],
    /// Every `--fail-on` metric: (name, meaning).
    pub metrics: &'a [(&'a str, &'a str)],
}

const TITLE: &str = "# JSON output schema (`--format json`)";

const INTRO: &str = "\
<!-- Generated from the report types (crates/model) by the test json_schema_doc:
     UPDATE_JSON_SCHEMA_DOC=1 cargo test -p retina-analyzer --no-default-features --test json_schema_doc
     Edit the doc comments of the types, not this file. -->

`retina-analyze CAPTURE... --format json` prints one JSON document on standard
output. This page documents every field. The document carries
`schema_version`; fields may be added without changing it, but a field is
never removed, renamed or given a new meaning without incrementing it.

Conventions:

- Timestamps `*_ts` are Unix seconds as floats (microsecond precision for
  present-day dates, the limit of a 64-bit float). Where exactness matters a
  field has an integer twin `*_ts_ns` in nanoseconds.
- Per-direction values are objects `{\"client\": …, \"server\": …}`: `client` is
  what the client (originator) sent, `server` what the server (responder) sent.
- IP addresses are strings (`\"10.0.0.1\"`, `\"fd00::1\"`).
- Types: *integer*, *float*, *string*, *bool*; *X or null*; *array of X*;
  *object: name → X* (keys are names, values X); a link names the object's
  section.";

const FINDING_KINDS_INTRO: &str = "\
Kinds and when they appear (thresholds are flags of the same name):";

const METRICS_INTRO: &str = "\
Numbers computed from the report, for `--fail-on 'METRIC OP NUMBER'` (OP is
one of `>`, `>=`, `<`, `<=`, `==`, `!=`; any condition that holds makes the
exit status 4 and is printed on standard error). They are the `metrics`
object of the document; `retina-analyze --help` lists them too.";

const FLOW_LIFETIME: &str = "\
TCP flows close at FIN from both sides, at a RST, or at a FIN while the
other side has sent nothing, and end 5 s later (Zeek's `tcp_close_delay`:
the linger keeps a retransmitted FIN or last ACK in the same flow; a packet
after it begins a new flow). They also end at an idle timeout
(`--tcp-idle-timeout`, default 300 s, as Zeek; `--udp-idle-timeout`, default
60 s, for UDP, ICMP and others), when a new SYN with a different initial
sequence number reuses the 5-tuple, and, when a capture sees only the
originator's side of a connection opened with a SYN, at its first packet 5 s
after the start (`end_reason` `one_sided`, as Zeek's attempt timer). Memory
therefore follows active flows, not the size of the capture.";

/// The JSON Schema of the document, as serialized (every field listed in
/// `required`, in declaration order).
pub fn report_schema() -> Value {
    let generator = SchemaSettings::draft2020_12()
        .for_serialize()
        .into_generator();
    generator.into_root_schema_for::<Report>().to_value()
}

/// docs/json-schema.md.
pub fn json_schema_markdown(extra: &DocExtras) -> String {
    let root = report_schema();
    let defs = root["$defs"].as_object().cloned().unwrap_or_default();
    let mut page = Page {
        defs,
        sections: Vec::new(),
        placed: HashMap::new(),
    };
    page.plan(&root);
    let mut out = String::new();
    let _ = writeln!(out, "{TITLE}\n\n{INTRO}\n");
    for i in 0..page.sections.len() {
        let s = &page.sections[i];
        let level = if s.depth <= 1 { "##" } else { "###" };
        let _ = writeln!(out, "{level} {}\n", s.title);
        let schema = match &s.def {
            Some(d) => page.defs[d].clone(),
            None => root.clone(),
        };
        if s.def.is_some() {
            if let Some(text) = description(&schema) {
                let _ = writeln!(out, "{text}\n");
            }
        }
        let _ = writeln!(out, "| field | type | meaning |\n|---|---|---|");
        for (name, field) in fields(&schema) {
            let _ = writeln!(
                out,
                "| `{name}` | {} | {} |",
                cell(&page.type_name(field)),
                cell(&page.meaning(field))
            );
        }
        out.push('\n');
        if s.def.as_deref() == Some("Finding") {
            let _ = writeln!(
                out,
                "{FINDING_KINDS_INTRO}\n\n| kind | severity | when |\n|---|---|---|"
            );
            for (kind, severity, when) in extra.finding_kinds {
                let _ = writeln!(out, "| `{kind}` | {} | {} |", cell(severity), cell(when));
            }
            out.push('\n');
        }
    }
    let _ = writeln!(
        out,
        "## metrics\n\n{METRICS_INTRO}\n\n| metric | meaning |\n|---|---|"
    );
    for (name, meaning) in extra.metrics {
        let _ = writeln!(out, "| `{name}` | {} |", cell(meaning));
    }
    let _ = writeln!(out, "\n## Flow lifetime\n\n{FLOW_LIFETIME}");
    out
}

/// One section of the page: the root or an object type.
struct Section {
    title: String,
    /// `$defs` name; None for the document itself.
    def: Option<String>,
    depth: usize,
}

struct Page {
    defs: serde_json::Map<String, Value>,
    sections: Vec<Section>,
    /// Anchor of the section of each placed type.
    placed: HashMap<String, String>,
}

impl Page {
    /// Orders the sections: the document, then every object type in the
    /// order its first field appears (depth first), titled by the JSON
    /// path that reaches it; types reached from several places (summaries,
    /// endpoints…) come last, under their own name.
    fn plan(&mut self, root: &Value) {
        let mut uses: BTreeMap<String, usize> = BTreeMap::new();
        let mut seen = HashSet::new();
        self.count_uses(root, &mut uses, &mut seen);
        self.sections.push(Section {
            title: "Top level".into(),
            def: None,
            depth: 0,
        });
        self.placed.insert(String::new(), anchor("Top level"));
        let mut shared = Vec::new();
        self.walk(root, "", 1, &uses, &mut shared);
        let mut i = 0;
        while i < shared.len() {
            let d: String = shared[i].clone();
            self.sections.push(Section {
                title: d.clone(),
                def: Some(d.clone()),
                depth: 1,
            });
            let schema = self.defs[&d].clone();
            self.walk(&schema, &d, 2, &uses, &mut shared);
            i += 1;
        }
    }

    fn count_uses(
        &self,
        s: &Value,
        uses: &mut BTreeMap<String, usize>,
        seen: &mut HashSet<String>,
    ) {
        for r in refs(s) {
            *uses.entry(r.clone()).or_default() += 1;
            if seen.insert(r.clone()) {
                let def = self.defs[&r].clone();
                self.count_uses(&def, uses, seen);
            }
        }
    }

    fn walk(
        &mut self,
        schema: &Value,
        path: &str,
        depth: usize,
        uses: &BTreeMap<String, usize>,
        shared: &mut Vec<String>,
    ) {
        for (name, f) in fields(schema) {
            let p = if path.is_empty() {
                name.to_string()
            } else {
                format!("{path}.{name}")
            };
            self.visit(f, &p, depth, uses, shared);
        }
    }

    /// Places the object types a field refers to.
    fn visit(
        &mut self,
        field: &Value,
        path: &str,
        depth: usize,
        uses: &BTreeMap<String, usize>,
        shared: &mut Vec<String>,
    ) {
        let Some((def, suffix)) = self.object_ref(field) else {
            return;
        };
        if self.placed.contains_key(&def) || shared.contains(&def) {
            return;
        }
        if uses.get(&def).copied().unwrap_or(0) > 1 {
            shared.push(def.clone());
            self.placed.insert(def.clone(), anchor(&def));
            return;
        }
        let title = format!("{path}{suffix}");
        self.placed.insert(def.clone(), anchor(&title));
        self.sections.push(Section {
            title: title.clone(),
            def: Some(def.clone()),
            depth,
        });
        let schema = self.defs[&def].clone();
        self.walk(&schema, &title, depth + 1, uses, shared);
    }

    /// The object type a field's value holds (through null, arrays, maps
    /// and per-direction pairs), with the path suffix that reaches it.
    fn object_ref(&self, s: &Value) -> Option<(String, &'static str)> {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let def = r.trim_start_matches("#/$defs/").to_string();
            let d = &self.defs[&def];
            if is_pair(d) {
                return self.object_ref(&d["properties"]["client"]);
            }
            return is_object(d).then_some((def, ""));
        }
        if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
            return any.iter().find_map(|a| self.object_ref(a));
        }
        if let Some(items) = s.get("items") {
            return self.object_ref(items).map(|(d, _)| (d, "[]"));
        }
        if let Some(v) = s.get("additionalProperties").filter(|v| v.is_object()) {
            return self.object_ref(v).map(|(d, _)| (d, "{}"));
        }
        None
    }

    fn type_name(&self, s: &Value) -> String {
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let def = r.trim_start_matches("#/$defs/");
            let d = &self.defs[def];
            if is_pair(d) {
                return format!(
                    "per direction: {}",
                    self.type_name(&d["properties"]["client"])
                );
            }
            if let Some(values) = enum_values(d) {
                // Documented values are listed with their meaning instead.
                return if documented_variants(d).is_empty() {
                    format!("string: {}", values.join(", "))
                } else {
                    "string".into()
                };
            }
            return match self.placed.get(def) {
                Some(a) => format!("[object](#{a})"),
                None => "object".into(),
            };
        }
        if let Some(any) = s.get("anyOf").and_then(Value::as_array) {
            let parts: Vec<String> = any.iter().map(|a| self.type_name(a)).collect();
            return parts.join(" or ");
        }
        if let Some(values) = enum_values(s) {
            return format!("string: {}", values.join(", "));
        }
        let types: Vec<&str> = match s.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let mut names: Vec<String> = Vec::new();
        for t in &types {
            names.push(match *t {
                "integer" => "integer".into(),
                "number" => "float".into(),
                "string" => "string".into(),
                "boolean" => "bool".into(),
                "null" => "null".into(),
                "array" => match s.get("items") {
                    Some(i) => format!("array of {}", self.type_name(i)),
                    None => "array".into(),
                },
                "object" => match s.get("additionalProperties").filter(|v| v.is_object()) {
                    Some(v) => format!("object: name → {}", self.type_name(v)),
                    None => "object".into(),
                },
                other => other.into(),
            });
        }
        if names.is_empty() {
            return "any".into();
        }
        // Nullable values read "X or null", null last.
        names.sort_by_key(|n| n == "null");
        names.join(" or ")
    }

    /// A field's description, with the meaning of each value of an enum.
    fn meaning(&self, s: &Value) -> String {
        let mut text = description(s).unwrap_or_default();
        let target = s
            .get("$ref")
            .or_else(|| {
                s.get("anyOf")
                    .and_then(Value::as_array)
                    .and_then(|a| a.iter().find_map(|x| x.get("$ref")))
            })
            .and_then(Value::as_str)
            .map(|r| r.trim_start_matches("#/$defs/"));
        if let Some(d) = target.and_then(|t| self.defs.get(t)) {
            let variants = documented_variants(d);
            if !variants.is_empty() {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str("Values: ");
                text.push_str(&variants.join("; "));
                text.push('.');
            }
        }
        text
    }
}

/// The fields of an object schema in the order they are serialized: the
/// `required` list (declaration order), then any other property by name.
fn fields(schema: &Value) -> Vec<(&str, &Value)> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut out: Vec<(&str, &Value)> = Vec::new();
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        for name in req.iter().filter_map(Value::as_str) {
            if let Some((k, v)) = props.get_key_value(name) {
                out.push((k.as_str(), v));
            }
        }
    }
    for (k, v) in props {
        if !out.iter().any(|(n, _)| n == k) {
            out.push((k.as_str(), v));
        }
    }
    out
}

/// Every `$defs` name a schema refers to directly (not through other defs).
fn refs(s: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match s {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    if let Some(r) = v.as_str() {
                        out.push(r.trim_start_matches("#/$defs/").to_string());
                    }
                } else if k != "$defs" {
                    out.extend(refs(v));
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| out.extend(refs(v))),
        _ => {}
    }
    out
}

/// A per-direction pair: exactly `client` and `server`, of one type.
fn is_pair(d: &Value) -> bool {
    let Some(p) = d.get("properties").and_then(Value::as_object) else {
        return false;
    };
    p.len() == 2 && p.contains_key("client") && p.contains_key("server")
}

fn is_object(d: &Value) -> bool {
    d.get("properties").is_some()
}

/// The values of a string enum (`enum`, or `oneOf` of constants).
fn enum_values(d: &Value) -> Option<Vec<String>> {
    let quote = |v: &Value| v.as_str().map(|s| format!("`{s}`"));
    if let Some(e) = d.get("enum").and_then(Value::as_array) {
        return Some(e.iter().filter_map(quote).collect());
    }
    let one = d.get("oneOf").and_then(Value::as_array)?;
    let v: Vec<String> = one
        .iter()
        .filter_map(|v| v.get("const").and_then(quote))
        .collect();
    (!v.is_empty()).then_some(v)
}

/// "`value`: meaning" of every value of an enum whose values have doc
/// comments (none when they have not).
fn documented_variants(d: &Value) -> Vec<String> {
    let Some(vs) = d.get("oneOf").and_then(Value::as_array) else {
        return Vec::new();
    };
    if !vs.iter().any(|v| description(v).is_some()) {
        return Vec::new();
    }
    vs.iter()
        .filter_map(|v| {
            let c = v.get("const").and_then(Value::as_str)?;
            Some(match description(v) {
                Some(desc) => format!("`{c}`: {}", lower_first(desc.trim_end_matches('.'))),
                None => format!("`{c}`"),
            })
        })
        .collect()
}

/// "Nothing listens" → "nothing listens", to continue a sentence
/// ("TCP's" and "VXLAN" stay as they are).
fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match (c.next(), c.next()) {
        (Some(f), Some(g)) if !g.is_uppercase() => f.to_lowercase().chain([g]).chain(c).collect(),
        _ => s.to_string(),
    }
}

/// Title and description of a schema as one text (schemars splits a doc
/// comment's first paragraph off as the title).
fn description(s: &Value) -> Option<String> {
    let parts: Vec<&str> = ["title", "description"]
        .iter()
        .filter_map(|k| s.get(*k).and_then(Value::as_str))
        .collect();
    (!parts.is_empty()).then(|| parts.join("\n\n"))
}

/// Text for one table cell: one line, `|` escaped.
fn cell(s: &str) -> String {
    let paragraphs: Vec<String> = s
        .split("\n\n")
        .map(|p| p.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    paragraphs.join(" ").replace('|', "\\|")
}

/// GitHub's anchor of a heading.
fn anchor(title: &str) -> String {
    title
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every object type of the document has its section, and every
    /// per-direction pair is written inline.
    #[test]
    fn every_object_type_has_a_section() {
        let page = json_schema_markdown(&DocExtras {
            finding_kinds: &[],
            metrics: &[],
        });
        let root = report_schema();
        let defs = root["$defs"].as_object().unwrap();
        let headings: Vec<&str> = page.lines().filter(|l| l.starts_with('#')).collect();
        for (name, d) in defs {
            if is_pair(d) || !is_object(d) {
                continue;
            }
            let first_line = description(d).unwrap_or_default();
            let first_line = first_line.lines().next().unwrap_or_default();
            assert!(
                headings.iter().any(|h| h.ends_with(&format!(" {name}")))
                    || page.contains(first_line),
                "{name} has no section"
            );
        }
        assert!(!page.contains("[object](#pair"), "pairs are written inline");
    }
}
