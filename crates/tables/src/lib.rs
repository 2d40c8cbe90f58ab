//! Parquet tables of retina-analyze and retina-capture.
//!
//! Every table is declared once, with [`table!`]: its columns, their types
//! and their documentation. The [`TableDef`] (Arrow schema, `docs/schema.md`),
//! the row struct writers fill and readers get back, the code between that
//! struct and Arrow arrays, and the column names code refers to are all
//! generated from that one declaration, so the writers, the readers and the
//! documentation cannot drift apart and no code depends on a column's
//! position.

use std::fmt::Write as _;
use std::fs::File;
use std::marker::PhantomData;

use retina_outfile::OutFile;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use row::Builder;

pub use arrow_array;
pub use arrow_schema;

#[macro_use]
mod macros;
pub mod agent;
pub mod analyzer;
pub mod bundle;
pub mod hubble;
pub mod row;
mod thrift_guard;

pub use row::{ReadRow, Row, Rows};

/// Version of the table layouts; bumped when a column changes meaning or type.
pub const SCHEMA_VERSION: u32 = 1;

/// Column types used by the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColType {
    Str,
    Bool,
    U8,
    U16,
    U32,
    U64,
    I64,
    F64,
    /// Nanoseconds since the Unix epoch, UTC.
    Timestamp,
}

impl ColType {
    pub fn arrow(self) -> DataType {
        match self {
            ColType::Str => DataType::Utf8,
            ColType::Bool => DataType::Boolean,
            ColType::U8 => DataType::UInt8,
            ColType::U16 => DataType::UInt16,
            ColType::U32 => DataType::UInt32,
            ColType::U64 => DataType::UInt64,
            ColType::I64 => DataType::Int64,
            ColType::F64 => DataType::Float64,
            ColType::Timestamp => DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into())),
        }
    }

    /// Name used in the generated documentation.
    pub fn doc_name(self) -> &'static str {
        match self {
            ColType::Str => "string",
            ColType::Bool => "bool",
            ColType::U8 => "uint8",
            ColType::U16 => "uint16",
            ColType::U32 => "uint32",
            ColType::U64 => "uint64",
            ColType::I64 => "int64",
            ColType::F64 => "float64",
            ColType::Timestamp => "timestamp[ns, UTC]",
        }
    }
}

/// One column of a table.
#[derive(Clone, Copy, Debug)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub nullable: bool,
    pub doc: &'static str,
}

/// A table: file stem (`flows` → `flows.parquet`), description and columns.
#[derive(Debug)]
pub struct TableDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub columns: &'static [Column],
}

impl TableDef {
    pub fn file_name(&self) -> String {
        format!("{}.parquet", self.name)
    }

    pub fn arrow_schema(&self) -> Schema {
        Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(c.name, c.ty.arrow(), c.nullable))
                .collect::<Vec<_>>(),
        )
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TableError {
    #[error("{path}: already exists (use --force to overwrite)")]
    Exists { path: PathBuf },
    #[error(transparent)]
    Out(#[from] retina_outfile::OutError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: parquet: {source}")]
    Parquet {
        path: PathBuf,
        #[source]
        source: parquet::errors::ParquetError,
    },
    #[error("table {table}: {msg}")]
    Schema { table: &'static str, msg: String },
}

/// Accumulates rows of one table (`R`, its row type) into Arrow arrays (no
/// file involved).
pub struct BatchBuilder<R> {
    schema: SchemaRef,
    builders: Vec<Builder>,
    rows: usize,
    _row: PhantomData<fn(R)>,
}

impl<R: Row<Owned = R>> Default for BatchBuilder<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: Row<Owned = R>> BatchBuilder<R> {
    pub fn new() -> Self {
        let def = R::table();
        BatchBuilder {
            schema: Arc::new(def.arrow_schema()),
            builders: def.columns.iter().map(|c| Builder::new(c.ty)).collect(),
            rows: 0,
            _row: PhantomData,
        }
    }

    pub fn def(&self) -> &'static TableDef {
        R::table()
    }

    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Appends one row (a row of this table, with strings of any lifetime).
    pub fn push<Q: Row<Owned = R>>(&mut self, row: &Q) {
        row.append_to(&mut self.builders);
        self.rows += 1;
    }

    /// Takes the rows accumulated so far as one record batch. The builders
    /// follow the table's schema by construction (one per column, of its
    /// type; a row appends to each once), so the error, which names what
    /// Arrow refused, means a bug in [`table!`](crate::table) rather than in
    /// the data.
    pub fn finish(&mut self) -> Result<RecordBatch, TableError> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays).map_err(|e| TableError::Schema {
            table: R::table().name,
            msg: format!("the rows do not make a batch of the table's schema: {e}"),
        })
    }
}

/// Rows per row group: the writer flushes a row group whenever this many
/// rows are buffered, so memory stays bounded whatever the table's size.
pub const ROW_GROUP_ROWS: usize = 64 * 1024;

/// Writes one table as a Parquet file, streaming row groups.
///
/// The file is written under a temporary name in the same directory and
/// renamed to its final name only by [`TableWriter::finish`]: an interrupted
/// or failed run never leaves a file that looks complete.
pub struct TableWriter<R> {
    batch: BatchBuilder<R>,
    writer: ArrowWriter<OutFile>,
    path: PathBuf,
    rows_written: u64,
    row_group_rows: usize,
}

impl<R: Row<Owned = R>> TableWriter<R> {
    /// Creates `dir/<table>.parquet` for the table of `R` (through a
    /// temporary file). Refuses an existing file unless `force`. `metadata`
    /// is stored as Parquet key-value metadata, next to
    /// `retina.schema_version` and `retina.table`.
    pub fn create(
        dir: &Path,
        metadata: &[(String, String)],
        force: bool,
    ) -> Result<Self, TableError> {
        let def = R::table();
        let path = dir.join(def.file_name());
        // A device or FIFO named as the table is written in place; a
        // regular file only through a temporary file and a rename.
        if !force && retina_outfile::plan(&path)?.replaces_existing() {
            return Err(TableError::Exists { path });
        }
        let file = OutFile::create(&path)?;
        let mut kv = vec![
            parquet::file::metadata::KeyValue::new(
                "retina.schema_version".into(),
                SCHEMA_VERSION.to_string(),
            ),
            parquet::file::metadata::KeyValue::new("retina.table".into(), def.name.to_string()),
        ];
        kv.extend(
            metadata
                .iter()
                .map(|(k, v)| parquet::file::metadata::KeyValue::new(k.clone(), v.clone())),
        );
        let props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_key_value_metadata(Some(kv))
            .build();
        let batch = BatchBuilder::<R>::new();
        let writer = ArrowWriter::try_new(file, batch.schema(), Some(props)).map_err(|source| {
            TableError::Parquet {
                path: path.clone(),
                source,
            }
        })?;
        Ok(TableWriter {
            batch,
            writer,
            path,
            rows_written: 0,
            row_group_rows: ROW_GROUP_ROWS,
        })
    }

    /// Sets the number of rows buffered per row group (tests use small values).
    pub fn with_row_group_rows(mut self, rows: usize) -> Self {
        self.row_group_rows = rows.max(1);
        self
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one row (see [`BatchBuilder::push`]); flushes a row group when full.
    pub fn push<Q: Row<Owned = R>>(&mut self, row: &Q) -> Result<(), TableError> {
        self.batch.push(row);
        if self.batch.len() >= self.row_group_rows {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TableError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let rows = self.batch.len() as u64;
        let batch = self.batch.finish()?;
        let w = &mut self.writer;
        w.write(&batch)
            .and_then(|_| w.flush())
            .map_err(|source| TableError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        self.rows_written += rows;
        Ok(())
    }

    /// Appends a whole record batch of this table (same schema), e.g. rows
    /// read back from another file of the table. Rows buffered by
    /// [`TableWriter::push`] are flushed first, so row order is kept.
    pub fn write_batch(&mut self, batch: &RecordBatch) -> Result<(), TableError> {
        if batch.schema().fields() != self.batch.schema().fields() {
            return Err(TableError::Schema {
                table: self.batch.def().name,
                msg: "record batch schema differs from the table's".into(),
            });
        }
        self.flush()?;
        let w = &mut self.writer;
        w.write(batch)
            .and_then(|_| w.flush())
            .map_err(|source| TableError::Parquet {
                path: self.path.clone(),
                source,
            })?;
        self.rows_written += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written or buffered so far.
    pub fn rows(&self) -> u64 {
        self.rows_written + self.batch.len() as u64
    }

    /// Writes the last row group and the footer, then renames the file to
    /// its final name. Returns the number of rows written.
    pub fn finish(self) -> Result<u64, TableError> {
        let pending = self.finish_pending()?;
        let rows = pending.rows;
        pending.commit()?;
        Ok(rows)
    }

    /// Writes the last row group and the footer but keeps the temporary
    /// name: [`Pending::commit`] renames it. Lets several tables appear
    /// together, after all of them are complete.
    pub fn finish_pending(mut self) -> Result<Pending, TableError> {
        self.flush()?;
        let TableWriter {
            writer,
            path,
            rows_written,
            ..
        } = self;
        // On error the OutFile is dropped with the writer: its temporary
        // file goes with it.
        let file = match writer.into_inner() {
            Ok(file) => file,
            Err(source) => return Err(TableError::Parquet { path, source }),
        };
        Ok(Pending {
            file,
            path,
            rows: rows_written,
        })
    }
}

/// A complete table file under its temporary name (for a regular file);
/// removed when dropped without [`Pending::commit`].
#[derive(Debug)]
pub struct Pending {
    file: OutFile,
    path: PathBuf,
    /// Rows in the file.
    pub rows: u64,
}

impl Pending {
    /// The final path the file gets at commit.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Renames the file to its final name.
    pub fn commit(self) -> Result<PathBuf, TableError> {
        self.file.commit()?;
        Ok(self.path)
    }
}

/// The `retina.table` name a Parquet file says it holds (reads the footer only).
pub fn table_name(path: &Path) -> Result<Option<String>, TableError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let file = File::open(path).map_err(|source| TableError::Io {
        path: path.to_owned(),
        source,
    })?;
    let r = SerializedFileReader::new(file).map_err(|source| TableError::Parquet {
        path: path.to_owned(),
        source,
    })?;
    Ok(r.metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kv| kv.iter().find(|e| e.key == "retina.table"))
        .and_then(|e| e.value.clone()))
}

/// Key-value metadata of a Parquet file.
pub type KeyValues = Vec<(String, String)>;

/// Reads a whole Parquet table written with `def`, checking that every
/// column `def` declares and the file has carries the declared type. Files
/// may lack columns added later and may carry extra ones; `required` lists
/// the columns a reader cannot do without. Returns the batches and the
/// file's key-value metadata.
pub fn read_table(
    path: &Path,
    def: &'static TableDef,
    required: &[&str],
) -> Result<(Vec<RecordBatch>, KeyValues), TableError> {
    // The parquet crate panics on some corrupt metadata (a negative column
    // chunk offset, found by fuzzing): a damaged table is an error naming
    // the file, not the end of the run.
    guarded(|| read_table_unguarded(path, def, required)).unwrap_or_else(|message| {
        Err(TableError::Parquet {
            path: path.to_owned(),
            source: parquet::errors::ParquetError::General(format!(
                "corrupt file (the Parquet reader gave up: {message})"
            )),
        })
    })
}

thread_local! {
    /// Set while [`guarded`] runs on this thread: its panics are caught and
    /// reported as errors, so the panic hook stays quiet for them.
    static GUARDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `f`, turning a panic inside it (a dependency's, on damaged input)
/// into `Err(message)` without the panic hook printing it.
fn guarded<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    static QUIET_HOOK: std::sync::Once = std::sync::Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(|g| g.get()) {
                previous(info);
            }
        }));
    });
    let was = GUARDED.with(|g| g.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    r.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

fn read_table_unguarded(
    path: &Path,
    def: &'static TableDef,
    required: &[&str],
) -> Result<(Vec<RecordBatch>, KeyValues), TableError> {
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let pq = |source| TableError::Parquet {
        path: path.to_owned(),
        source,
    };
    // Read whole into memory (the agent's tables are small): a corrupt page
    // header can make the parquet crate skip field after field past the
    // end, each skip a system call on a file (11 s for a 3 kB fuzzer input),
    // a few instructions on bytes in memory.
    let data = std::fs::read(path).map_err(|source| TableError::Io {
        path: path.to_owned(),
        source,
    })?;
    let data = bytes::Bytes::from(data);
    // Thrift lists longer than the bytes left cost the parquet crate seconds
    // each (thrift_guard): refused before it sees them.
    thrift_guard::check(&data).map_err(|e| {
        pq(parquet::errors::ParquetError::General(format!(
            "corrupt file ({e})"
        )))
    })?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(data).map_err(pq)?;
    let schema = builder.schema().clone();
    for name in required {
        if schema.field_with_name(name).is_err() {
            return Err(TableError::Schema {
                table: def.name,
                msg: format!("{}: column {name} is missing", path.display()),
            });
        }
    }
    for c in def.columns {
        if let Ok(f) = schema.field_with_name(c.name) {
            let want = c.ty.arrow();
            if f.data_type() != &want {
                return Err(TableError::Schema {
                    table: def.name,
                    msg: format!(
                        "{}: column {} is {}, expected {want}",
                        path.display(),
                        c.name,
                        f.data_type()
                    ),
                });
            }
        }
    }
    let kv = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kv| {
            kv.iter()
                .map(|e| (e.key.clone(), e.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let reader = builder.build().map_err(pq)?;
    let mut batches = Vec::new();
    for b in reader {
        batches.push(b.map_err(|e| pq(parquet::errors::ParquetError::ArrowError(e.to_string())))?);
    }
    Ok((batches, kv))
}

/// Markdown documentation of `tables`, as committed in `docs/schema.md`.
pub fn schema_markdown(title: &str, intro: &str, tables: &[&TableDef]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {title}\n");
    let _ = writeln!(
        s,
        "<!-- Generated from crates/tables; do not edit by hand. -->\n"
    );
    let _ = writeln!(s, "{intro}\n");
    let _ = writeln!(s, "Schema version: {SCHEMA_VERSION}.\n");
    for t in tables {
        let _ = writeln!(s, "## {}\n\n{}\n", t.file_name(), t.doc);
        let _ = writeln!(s, "| column | type | null | meaning |\n|---|---|---|---|");
        for c in t.columns {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} |",
                c.name,
                c.ty.doc_name(),
                if c.nullable { "yes" } else { "no" },
                c.doc.replace('|', "\\|")
            );
        }
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    table! {
        static T: TableDef = "t", row TRow, names TColumns;
        doc: "test table";
        columns {
            time: Timestamp, "time",
            port: U16, "a port",
            name: Option<Str>, "a name",
            rtt_ms: Option<F64>, "rtt",
        }
    }

    fn t(time: i64, port: u16, name: Option<&str>, rtt_ms: Option<f64>) -> TRow<'_> {
        TRow {
            time,
            port,
            name: name.map(Into::into),
            rtt_ms,
        }
    }

    #[test]
    fn writes_row_groups_and_renames_at_finish() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TableWriter::<TRow>::create(dir.path(), &[("k".into(), "v".into())], false)
            .unwrap()
            .with_row_group_rows(2);
        for i in 0..5u16 {
            w.push(&t(i.into(), i, None, Some(i.into()))).unwrap();
        }
        assert!(
            !dir.path().join("t.parquet").exists(),
            "final name appears only at finish"
        );
        assert_eq!(w.finish().unwrap(), 5);
        let f = File::open(dir.path().join("t.parquet")).unwrap();
        let b = ParquetRecordBatchReaderBuilder::try_new(f).unwrap();
        assert_eq!(b.metadata().num_row_groups(), 3);
        let kv = b.metadata().file_metadata().key_value_metadata().unwrap();
        assert!(kv
            .iter()
            .any(|e| e.key == "k" && e.value.as_deref() == Some("v")));
        assert_eq!(b.schema().fields(), T.arrow_schema().fields());
        let rows: usize = b.build().unwrap().map(|r| r.unwrap().num_rows()).sum();
        assert_eq!(rows, 5);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn refuses_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        TableWriter::<TRow>::create(dir.path(), &[], false)
            .unwrap()
            .finish()
            .unwrap();
        match TableWriter::<TRow>::create(dir.path(), &[], false) {
            Err(TableError::Exists { path }) => assert!(path.ends_with("t.parquet")),
            _ => panic!("existing file must be refused"),
        }
        assert!(TableWriter::<TRow>::create(dir.path(), &[], true).is_ok());
    }

    #[test]
    fn column_names_come_from_the_declaration() {
        assert_eq!(TRow::COLUMNS.rtt_ms, "rtt_ms");
        let names: Vec<&str> = T.columns.iter().map(|c| c.name).collect();
        assert_eq!(names, ["time", "port", "name", "rtt_ms"]);
        assert_eq!(
            T.columns.iter().map(|c| c.nullable).collect::<Vec<_>>(),
            [false, false, true, true]
        );
        assert_eq!(T.columns[0].ty, ColType::Timestamp);
    }

    #[test]
    fn rows_read_back_by_name_strictly_or_leniently() {
        let mut b = BatchBuilder::<TRow>::new();
        b.push(&t(1, 80, Some("web"), None));
        b.push(&t(2, 53, None, Some(0.25)));
        let batch = b.finish().unwrap();
        let rows = Rows::<TRow>::new(&batch).unwrap();
        assert_eq!(rows.get(0), t(1, 80, Some("web"), None));
        assert_eq!(rows.to_owned_rows()[1], t(2, 53, None, Some(0.25)));

        // Columns in another order, an extra one, still read by name.
        let reordered = batch.project(&[3, 2, 1, 0]).unwrap();
        assert_eq!(
            Rows::<TRow>::new(&reordered).unwrap().get(0),
            t(1, 80, Some("web"), None)
        );
        // Without `name` and `port`: only a lenient read works; missing
        // columns read as null or zero.
        let partial = batch.project(&[0, 3]).unwrap();
        let e = Rows::<TRow>::new(&partial).err().unwrap().to_string();
        assert!(e.contains("column port is missing"), "{e}");
        let rows = Rows::<TRow>::lenient(&partial).unwrap();
        assert_eq!(rows.get(1), t(2, 0, None, Some(0.25)));
        // A column of another type is an error either way.
        let wrong = RecordBatch::try_from_iter([(
            "port",
            Arc::new(arrow_array::UInt32Array::from(vec![1u32])) as ArrayRef,
        )])
        .unwrap();
        let e = Rows::<TRow>::lenient(&wrong).err().unwrap().to_string();
        assert!(e.contains("column port is UInt32, expected UInt16"), "{e}");
    }

    #[test]
    fn every_table_is_well_formed() {
        let mut all: Vec<&TableDef> = analyzer::ALL.to_vec();
        all.extend([&hubble::HUBBLE, &agent::DROPS, &agent::RETRANS]);
        for t in all {
            let mut names = std::collections::BTreeSet::new();
            for c in t.columns {
                assert!(names.insert(c.name), "{}: column {} twice", t.name, c.name);
                assert!(!c.doc.is_empty(), "{}.{} undocumented", t.name, c.name);
                assert!(
                    c.name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                    "{}.{}: snake_case names only",
                    t.name,
                    c.name
                );
            }
        }
    }

    #[test]
    fn pending_files_appear_only_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TableWriter::<TRow>::create(dir.path(), &[], false).unwrap();
        w.push(&t(0, 1, Some("a"), None)).unwrap();
        let copy = {
            let mut b = BatchBuilder::<TRow>::new();
            b.push(&t(1, 2, None, Some(0.5)));
            b.finish().unwrap()
        };
        w.write_batch(&copy).unwrap();
        assert_eq!(w.rows(), 2);
        let p = w.finish_pending().unwrap();
        assert_eq!(p.rows, 2);
        assert!(!dir.path().join("t.parquet").exists());
        let kept = TableWriter::<TRow>::create(dir.path(), &[], false)
            .unwrap()
            .finish_pending()
            .unwrap();
        drop(kept);
        p.commit().unwrap();
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("t.parquet")]);
    }

    #[test]
    fn dropped_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = TableWriter::<TRow>::create(dir.path(), &[], false).unwrap();
        w.push(&t(0, 1, Some("a"), None)).unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
