//! docs/schema.md is generated from the table definitions; this test fails
//! when the committed file is stale. Regenerate with:
//!
//!     UPDATE_SCHEMA_DOC=1 cargo test -p retina-tables --test schema_doc

use std::path::Path;

use retina_tables::{agent, analyzer, hubble, schema_markdown, TableDef};

const INTRO: &str = "\
Parquet tables written by `retina-analyze --parquet DIR` (flows, events, dns, and packets with \
`--parquet-packets`, and hubble when Hubble flow logs were read) and by the capture agent `retina-capture` (drops, retrans). Each table is \
declared once in `crates/tables` (`analyzer.rs`, `hubble.rs`, `agent.rs`, with the `table!` macro); this page, \
the Arrow schema and the row struct every writer fills and every reader gets back (one field per column, \
matched by name) all come from that declaration.

Conventions: times are `timestamp[ns, UTC]`; IP addresses are strings; durations are floats with \
the unit in the column name (`_s`, `_ms`); `flow_id` is the JSON output's `flows[].id` of the same \
run and joins the analyzer's tables. Every file carries key-value metadata: `retina.table`, \
`retina.schema_version`, and for the analyzer's tables `retina.tool`, `retina.tool_version`, \
`retina.input_files` (a JSON array), `retina.json_schema_version`, `retina.partial` and \
`retina.interrupted`.

Writing: events, dns and packets rows stream to disk in row groups while the capture is read \
(memory stays bounded). Every table is written under a hidden temporary name and all of them are \
renamed to their final names together at the end, so a failed run leaves no file that looks \
complete. An interrupted run (Ctrl-C once, exit status 130) writes complete tables of what was \
read before the stop, like its report, with `retina.interrupted` = `true`; a second Ctrl-C exits \
at once and leaves at most hidden `.*.tmp` files and a `.retina-spool-PID` directory.";

#[test]
fn schema_doc_is_current() {
    let tables: Vec<&TableDef> = analyzer::ALL
        .iter()
        .copied()
        .chain([&hubble::HUBBLE, &agent::DROPS, &agent::RETRANS])
        .collect();
    let doc = schema_markdown("Parquet tables", INTRO, &tables);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema.md");
    if std::env::var_os("UPDATE_SCHEMA_DOC").is_some() {
        std::fs::write(&path, &doc).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == doc,
        "docs/schema.md is stale (or missing): regenerate it with\n  \
         UPDATE_SCHEMA_DOC=1 cargo test -p retina-tables --test schema_doc"
    );
}
