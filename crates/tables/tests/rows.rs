//! Every table's row struct against its declaration: each field lands in
//! the column of its name and comes back from it, through record batches and
//! through a Parquet file.
//!
//! The values are chosen so that no two columns of a table hold the same
//! value in the same row (booleans differ by their pattern across rows):
//! a field written to, or read from, another column of the same type would
//! show. `a_swapped_pair_is_caught` checks that the check sees such a swap.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, StringBuilder, TimestampNanosecondBuilder,
    UInt16Builder, UInt32Builder, UInt64Builder, UInt8Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::Schema;
use retina_tables::agent::{DropTableRow, RetransTableRow};
use retina_tables::analyzer::{DnsTableRow, EventTableRow, FlowTableRow, PacketTableRow};
use retina_tables::hubble::HubbleTableRow;
use retina_tables::{BatchBuilder, ColType, Column, Row, Rows, TableDef, TableWriter};

/// Rows per test batch: 8 rows give each boolean column its own pattern
/// (the bits of its index + 1); the last row is null wherever allowed.
const ROWS: usize = 9;

fn is_null(c: &Column, r: usize) -> bool {
    c.nullable && r == ROWS - 1
}

/// The value of column `k` (named `c`) in row `r`, as Rust's `Debug` prints
/// the field that holds it.
fn expected(k: usize, c: &Column, r: usize) -> String {
    if is_null(c, r) {
        return "None".into();
    }
    let v = match c.ty {
        ColType::Str => format!("{:?}", format!("{}#{r}", c.name)),
        ColType::Bool => (((k + 1) >> r) & 1 == 1).to_string(),
        ColType::U8 => ((k * 7 + r) % 256).to_string(),
        ColType::U16 => (k * 100 + r).to_string(),
        ColType::U32 | ColType::U64 => (k * 1000 + r).to_string(),
        ColType::I64 => format!("-{}", k * 1000 + r),
        ColType::F64 => format!("{:?}", k as f64 + r as f64 / 16.0),
        ColType::Timestamp => (1_700_000_000_000_000_000 + k * 1000 + r).to_string(),
    };
    if c.nullable {
        format!("Some({v})")
    } else {
        v
    }
}

/// A batch of `def` built by column name, independently of the generated
/// code, with the columns in reverse order (readers go by name).
fn batch_by_name(def: &TableDef) -> RecordBatch {
    let mut fields = Vec::new();
    let mut arrays: Vec<ArrayRef> = Vec::new();
    for (k, c) in def.columns.iter().enumerate().rev() {
        let rows = 0..ROWS;
        let array: ArrayRef = match c.ty {
            ColType::Str => {
                let mut b = StringBuilder::new();
                for r in rows {
                    b.append_option((!is_null(c, r)).then(|| format!("{}#{r}", c.name)));
                }
                Arc::new(b.finish())
            }
            ColType::Bool => {
                let mut b = BooleanBuilder::new();
                for r in rows {
                    b.append_option((!is_null(c, r)).then_some(((k + 1) >> r) & 1 == 1));
                }
                Arc::new(b.finish())
            }
            ColType::U8 => {
                let mut b = UInt8Builder::new();
                for r in rows {
                    b.append_option((!is_null(c, r)).then_some(((k * 7 + r) % 256) as u8));
                }
                Arc::new(b.finish())
            }
            ColType::U16 => {
                let mut b = UInt16Builder::new();
                for r in rows {
                    b.append_option((!is_null(c, r)).then_some((k * 100 + r) as u16));
                }
                Arc::new(b.finish())
            }
            ColType::U32 => {
                let mut b = UInt32Builder::new();
                for r in rows {
                    b.append_option((!is_null(c, r)).then_some((k * 1000 + r) as u32));
                }
                Arc::new(b.finish())
            }
            ColType::U64 => {
                let mut b = UInt64Builder::new();
                for r in rows {
                    b.append_option((!is_null(c, r)).then_some((k * 1000 + r) as u64));
                }
                Arc::new(b.finish())
            }
            ColType::I64 => {
                let mut b = Int64Builder::new();
                for r in rows {
                    b.append_option((!is_null(c, r)).then_some(-((k * 1000 + r) as i64)));
                }
                Arc::new(b.finish())
            }
            ColType::F64 => {
                let mut b = Float64Builder::new();
                for r in rows {
                    b.append_option((!is_null(c, r)).then_some(k as f64 + r as f64 / 16.0));
                }
                Arc::new(b.finish())
            }
            ColType::Timestamp => {
                let mut b = TimestampNanosecondBuilder::new().with_timezone("UTC");
                for r in rows {
                    b.append_option(
                        (!is_null(c, r))
                            .then_some(1_700_000_000_000_000_000 + (k * 1000 + r) as i64),
                    );
                }
                Arc::new(b.finish())
            }
        };
        fields.push(def.arrow_schema().field(k).clone());
        arrays.push(array);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
}

/// `Name { a: 1, b: Some("x") }` → {a: "1", b: "Some(\"x\")"} (the test
/// values hold no ", " and no ": ").
fn debug_fields(row: &impl std::fmt::Debug) -> BTreeMap<String, String> {
    let text = format!("{row:?}");
    let inner = text
        .split_once(" { ")
        .and_then(|(_, rest)| rest.strip_suffix(" }"))
        .unwrap_or_else(|| panic!("not a struct: {text}"));
    inner
        .split(", ")
        .map(|f| {
            let (k, v) = f.split_once(": ").unwrap();
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// Columns whose field in `rows` does not hold the column's value.
fn misplaced(def: &TableDef, rows: &[impl std::fmt::Debug]) -> Vec<String> {
    let mut bad = Vec::new();
    for (r, row) in rows.iter().enumerate() {
        let fields = debug_fields(row);
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        let mut want: Vec<&str> = def.columns.iter().map(|c| c.name).collect();
        want.sort_unstable();
        assert_eq!(names, want, "{}: one field per column", def.name);
        for (k, c) in def.columns.iter().enumerate() {
            if fields[c.name] != expected(k, c, r) {
                bad.push(format!(
                    "{}.{} row {r}: field holds {}, column {}",
                    def.name,
                    c.name,
                    fields[c.name],
                    expected(k, c, r)
                ));
            }
        }
    }
    bad
}

/// Every column of `a` equals the column of the same name in `b`.
fn same_by_name(def: &TableDef, a: &RecordBatch, b: &RecordBatch) {
    for c in def.columns {
        let (x, y) = (
            a.column_by_name(c.name).unwrap(),
            b.column_by_name(c.name).unwrap(),
        );
        assert_eq!(x.to_data(), y.to_data(), "{}.{}", def.name, c.name);
    }
}

/// Reads rows from a batch built by name, checks every field, writes them
/// back (in memory and to a Parquet file) and reads them again.
macro_rules! check_table {
    ($Row:ident) => {{
        let def = $Row::table();
        let source = batch_by_name(def);
        let rows: Vec<$Row> = Rows::<$Row>::new(&source).unwrap().iter().collect();
        assert_eq!(rows.len(), ROWS);
        let bad = misplaced(def, &rows);
        assert!(bad.is_empty(), "{bad:#?}");

        // Written: the same values in the same-named columns, the declared
        // schema, and rows that read back equal.
        let mut b = BatchBuilder::<$Row<'static>>::new();
        for r in &rows {
            b.push(r);
        }
        let written = b.finish().unwrap();
        assert_eq!(written.schema().as_ref(), &def.arrow_schema());
        same_by_name(def, &source, &written);
        let again: Vec<$Row> = Rows::<$Row>::new(&written).unwrap().iter().collect();
        assert_eq!(again, rows);

        // Through a Parquet file (owned rows, two row groups).
        let dir = tempfile::tempdir().unwrap();
        let mut w = TableWriter::<$Row<'static>>::create(dir.path(), &[], false)
            .unwrap()
            .with_row_group_rows(5);
        for r in &rows {
            w.push(&r.clone().into_owned()).unwrap();
        }
        assert_eq!(w.finish().unwrap(), ROWS as u64);
        let (batches, kv) =
            retina_tables::read_table(&dir.path().join(def.file_name()), def, &[]).unwrap();
        assert!(kv.contains(&("retina.table".to_string(), def.name.to_string())));
        let mut back = Vec::new();
        for batch in &batches {
            assert_eq!(batch.schema().as_ref(), &def.arrow_schema());
            back.extend(Rows::<$Row>::new(batch).unwrap().to_owned_rows());
        }
        assert_eq!(back, rows);
    }};
}

#[test]
fn every_table_round_trips_by_name() {
    check_table!(FlowTableRow);
    check_table!(EventTableRow);
    check_table!(DnsTableRow);
    check_table!(PacketTableRow);
    check_table!(HubbleTableRow);
    check_table!(DropTableRow);
    check_table!(RetransTableRow);
}

/// The check above fails when two columns of one type trade places: here
/// the ports of a drop, as a positional writer could swap them.
#[test]
fn a_swapped_pair_is_caught() {
    let def = DropTableRow::table();
    let good = batch_by_name(def);
    let schema = good.schema();
    let (s, d) = (
        schema.index_of(DropTableRow::COLUMNS.src_port).unwrap(),
        schema.index_of(DropTableRow::COLUMNS.dst_port).unwrap(),
    );
    let mut columns = good.columns().to_vec();
    columns.swap(s, d);
    let swapped = RecordBatch::try_new(schema, columns).unwrap();
    let rows: Vec<DropTableRow> = Rows::new(&swapped).unwrap().iter().collect();
    let bad = misplaced(def, &rows);
    assert!(
        bad.iter().any(|b| b.starts_with("drops.src_port"))
            && bad.iter().any(|b| b.starts_with("drops.dst_port"))
            && bad.iter().all(|b| b.contains("_port")),
        "{bad:#?}"
    );
}

/// Same-typed columns that sit next to each other, the ones a positional
/// writer swaps most easily, named by the row's fields.
#[test]
fn client_and_server_columns_stay_apart() {
    let row = FlowTableRow {
        packets_client: 1,
        packets_server: 2,
        client_ip: "10.0.0.1".into(),
        server_ip: "10.0.0.2".into(),
        ..FlowTableRow::default()
    };
    let mut b = BatchBuilder::<FlowTableRow<'static>>::new();
    b.push(&row);
    let batch = b.finish().unwrap();
    let c = FlowTableRow::COLUMNS;
    let u64_at = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::UInt64Array>()
            .unwrap()
            .value(0)
    };
    let str_at = |name: &str| {
        batch
            .column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .unwrap()
            .value(0)
            .to_string()
    };
    assert_eq!(u64_at(c.packets_client), 1);
    assert_eq!(u64_at(c.packets_server), 2);
    assert_eq!(str_at(c.client_ip), "10.0.0.1");
    assert_eq!(str_at(c.server_ip), "10.0.0.2");
}
