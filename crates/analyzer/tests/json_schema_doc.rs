//! docs/json-schema.md is generated from the report types (their doc
//! comments, through schemars), the finding kinds and the `--fail-on`
//! metrics the code uses; this test fails when the committed file is stale.
//! Regenerate with:
//!
//!     UPDATE_JSON_SCHEMA_DOC=1 cargo test -p retina-analyzer --no-default-features --test json_schema_doc

use std::path::Path;

use retina_analyzer::analysis::findings::FINDING_KINDS;
use retina_analyzer::analysis::gate::METRICS;
use retina_analyzer::report::schema_doc::{json_schema_markdown, DocExtras};

#[test]
fn json_schema_doc_is_current() {
    let doc = json_schema_markdown(&DocExtras {
        finding_kinds: FINDING_KINDS,
        metrics: METRICS,
    });
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/json-schema.md");
    if std::env::var_os("UPDATE_JSON_SCHEMA_DOC").is_some() {
        std::fs::write(&path, &doc).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == doc,
        "docs/json-schema.md is stale: regenerate it with\n  \
         UPDATE_JSON_SCHEMA_DOC=1 cargo test -p retina-analyzer --no-default-features --test json_schema_doc"
    );
}

/// Every field the document has is documented: no empty meaning.
#[test]
fn every_field_has_a_meaning() {
    let doc = json_schema_markdown(&DocExtras {
        finding_kinds: FINDING_KINDS,
        metrics: METRICS,
    });
    let bare: Vec<&str> = doc.lines().filter(|l| l.ends_with("|  |")).collect();
    assert!(
        bare.is_empty(),
        "fields without a doc comment:\n{}",
        bare.join("\n")
    );
}
