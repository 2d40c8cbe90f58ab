//! [`table!`](crate::table): one declaration per table.

/// Declares a table once: from one list of columns it generates
///
/// - the static [`TableDef`](crate::TableDef) (Arrow schema, `docs/schema.md`);
/// - the row struct, one public field per column in column order (`Option`
///   for nullable columns; types in [`row`](crate::row)), with
///   [`Row`](crate::Row) and [`ReadRow`](crate::ReadRow): the code that
///   appends a row to the Arrow builders and reads rows back from a batch;
/// - a struct of column names, as the row's associated const `COLUMNS`, for
///   code that names columns (roll-ups, renderers, readers):
///   `FlowTableRow::COLUMNS.client_ip` is `"client_ip"`, checked by the
///   compiler.
///
/// ```
/// use retina_tables::{BatchBuilder, Rows};
///
/// retina_tables::table! {
///     /// `ports.parquet`: one row per port seen.
///     pub static PORTS: TableDef = "ports", row PortRow, names PortColumns;
///     doc: "One row per port seen.";
///     columns {
///         port: U16, "The port.",
///         service: Option<Str>, "Its service name, when known.",
///     }
/// }
///
/// assert_eq!(PORTS.columns[1].name, PortRow::COLUMNS.service);
/// assert!(PORTS.columns[1].nullable);
///
/// let mut b = BatchBuilder::<PortRow>::new();
/// b.push(&PortRow { port: 53, service: Some("dns".into()) });
/// let batch = b.finish().unwrap();
/// let rows = Rows::<PortRow>::new(&batch).unwrap();
/// assert_eq!(rows.get(0).service.as_deref(), Some("dns"));
/// ```
///
/// Column types are the [`ColType`](crate::ColType) variants; a table needs
/// at least one `Str` column (the row borrows its strings for `'a`).
#[macro_export]
macro_rules! table {
    (
        $(#[$meta:meta])*
        $vis:vis static $TABLE:ident: TableDef = $name:literal, row $Row:ident, names $Names:ident;
        doc: $doc:literal;
        columns {
            $( $col:ident : $ty:ident $(< $inner:ident >)? , $cdoc:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis static $TABLE: $crate::TableDef = $crate::TableDef {
            name: $name,
            doc: $doc,
            columns: &[
                $( $crate::Column {
                    name: ::core::stringify!($col),
                    ty: $crate::__table_col_type!($ty $(< $inner >)?),
                    nullable: $crate::__table_nullable!($ty $(< $inner >)?),
                    doc: $cdoc,
                }, )+
            ],
        };

        #[doc = ::core::concat!(
            "One row of `", $name, ".parquet` ([`", ::core::stringify!($TABLE),
            "`]): one field per column, in column order; nullable columns are `Option`s."
        )]
        #[derive(Debug, Clone, PartialEq, Default)]
        $vis struct $Row<'a> {
            $(
                #[doc = $cdoc]
                pub $col: $crate::__table_field_type!('a, $ty $(< $inner >)?),
            )+
        }

        #[doc = ::core::concat!(
            "Column names of `", $name, ".parquet` (`", ::core::stringify!($Row), "::COLUMNS`)."
        )]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis struct $Names {
            $(
                #[doc = $cdoc]
                pub $col: &'static str,
            )+
        }

        impl $Row<'_> {
            /// The column names, one field per column.
            pub const COLUMNS: $Names = $Names {
                $( $col: ::core::stringify!($col), )+
            };
        }

        impl<'a> $crate::Row for $Row<'a> {
            type Owned = $Row<'static>;

            fn table() -> &'static $crate::TableDef {
                &$TABLE
            }

            fn append_to(&self, builders: &mut [$crate::row::Builder]) {
                let $Row { $($col),+ } = self;
                let mut builders = builders.iter_mut();
                $(
                    $crate::row::Cell::append(
                        $col,
                        // BatchBuilder makes one builder per column, from the
                        // same declaration.
                        builders.next().expect("BatchBuilder has one builder per column"),
                    );
                )+
            }

            fn into_owned(self) -> $Row<'static> {
                let $Row { $($col),+ } = self;
                $Row { $( $col: $crate::row::Cell::into_owned($col), )+ }
            }
        }

        impl<'b> $crate::ReadRow<'b> for $Row<'b> {
            fn read(columns: &[$crate::row::ColumnRef<'b>], i: usize) -> Self {
                let mut columns = columns.iter();
                // Struct expression fields are evaluated in the order written:
                // column order.
                $Row {
                    $(
                        $col: $crate::row::Cell::read(
                            // Rows resolves one reference per column (Missing
                            // for an absent one), from the same declaration.
                            columns.next().expect("Rows has one column reference per column"),
                            i,
                        ),
                    )+
                }
            }
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __table_col_type {
    (Option < $t:ident >) => {
        $crate::ColType::$t
    };
    ($t:ident) => {
        $crate::ColType::$t
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __table_nullable {
    (Option < $t:ident >) => {
        true
    };
    ($t:ident) => {
        false
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __table_field_type {
    ($a:lifetime, Option < $t:ident >) => {
        ::core::option::Option<$crate::__table_field_type!($a, $t)>
    };
    ($a:lifetime, Str) => {
        ::std::borrow::Cow<$a, str>
    };
    ($a:lifetime, Bool) => {
        bool
    };
    ($a:lifetime, U8) => {
        u8
    };
    ($a:lifetime, U16) => {
        u16
    };
    ($a:lifetime, U32) => {
        u32
    };
    ($a:lifetime, U64) => {
        u64
    };
    ($a:lifetime, I64) => {
        i64
    };
    ($a:lifetime, F64) => {
        f64
    };
    ($a:lifetime, Timestamp) => {
        i64
    };
}
