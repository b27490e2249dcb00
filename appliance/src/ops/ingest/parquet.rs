//! Parquet input: a file's schema checked against a contract (a diff of
//! missing, extra and changed columns, not a parse error; ignored and
//! renamed columns as for a CSV header), then its rows as typed cells for
//! the same checks CSV cells get.
//!
//! Supported: flat schemas of booleans, integers, floats, UTF-8 strings,
//! dates and timestamps, uncompressed or Snappy-compressed (the pandas and
//! pyarrow default). Nested columns, decimals and other codecs are refused
//! by name.

use std::fs::File;

use parquet::basic::{LogicalType, Type as Physical};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use parquet::schema::types::ColumnDescriptor;

use crate::check::Rule;
use crate::contract::{CellError, ColumnType, Contract, Value};
use crate::error::{DataError, Error, Result};
use crate::header::HeaderMap;

/// The type a Parquet column holds, in contract terms.
fn file_type(c: &ColumnDescriptor) -> &'static str {
    match (c.logical_type_ref(), c.physical_type()) {
        (Some(LogicalType::String | LogicalType::Enum | LogicalType::Json), _) => "string",
        (Some(LogicalType::Date), _) => "date",
        // An instant must be anchored to UTC; a "local" timestamp could be
        // read differently on different nodes.
        (Some(LogicalType::Timestamp(t)), _) if t.is_adjusted_to_u_t_c => "timestamp",
        (Some(LogicalType::Timestamp(_)), _) => "timestamp without zone",
        (Some(LogicalType::Time(_)), _) => "time of day",
        (_, Physical::INT96) => "int96 timestamp",
        (Some(LogicalType::Decimal(_)), _) => "decimal",
        (Some(LogicalType::Integer(_)) | None, Physical::INT32 | Physical::INT64) => "integer",
        (None, Physical::FLOAT | Physical::DOUBLE) => "float",
        (Some(LogicalType::Float16), _) => "float",
        (None, Physical::BOOLEAN) => "boolean",
        (None, Physical::BYTE_ARRAY) => {
            // Old writers mark strings with the converted type only.
            if c.converted_type() == parquet::basic::ConvertedType::UTF8 {
                "string"
            } else {
                "bytes"
            }
        }
        _ => "other",
    }
}

fn fits(want: ColumnType, have: &str) -> bool {
    match want {
        ColumnType::Integer => have == "integer",
        ColumnType::Float => matches!(have, "float" | "integer"),
        ColumnType::Category | ColumnType::String => matches!(have, "string" | "boolean"),
        ColumnType::Date => have == "date",
        ColumnType::Timestamp => matches!(have, "timestamp" | "date"),
    }
}

fn open_reader(file: File, source: &str) -> Result<SerializedFileReader<File>> {
    SerializedFileReader::new(file).map_err(|e| {
        Error::Rejected(format!(
            "{source}: not a readable Parquet file: {}; nothing was stored",
            crate::text::error_text(&e)
        ))
    })
}

/// A Parquet file's columns as the contract reads them.
pub struct Schema {
    /// Where each contract column comes from, and the columns ignored and
    /// renamed.
    pub map: HeaderMap,
    /// The columns to read, in contract order (`None`: every column).
    projection: Option<parquet::schema::types::Type>,
    /// Per contract column: it holds nanosecond timestamps.
    nanos: Vec<bool>,
}

/// Checks the file's schema against the contract: its top-level columns
/// mapped to the contract's (ignored and renamed columns as for a CSV
/// header), each column read flat and of a type the contract's column
/// accepts. Ignored columns are never read, whatever they hold.
pub fn check_schema(
    contract: &Contract,
    reader: &SerializedFileReader<File>,
    source: &str,
) -> Result<Schema> {
    let schema = reader.metadata().file_metadata().schema_descr();
    let fields = schema.root_schema().get_fields();
    let names: Vec<String> = fields.iter().map(|f| f.name().to_string()).collect();
    let (map, mapped) = contract.map_header(&names, &[]);
    let (mut problems, help) = match mapped {
        Ok(()) => (Vec::new(), Vec::new()),
        Err(m) => (m.problems, m.help),
    };
    // The one leaf column of each flat top-level column.
    let mut leaf = vec![None; fields.len()];
    for i in 0..schema.num_columns() {
        leaf[schema.get_column_root_idx(i)] = Some(i);
    }
    let mut changed = Vec::new();
    let mut nanos = vec![false; contract.columns.len()];
    for (i, p) in map.source.iter().enumerate() {
        let Some(p) = *p else { continue };
        let col = match leaf[p].map(|l| schema.column(l)) {
            Some(col) if fields[p].is_primitive() && col.max_rep_level() == 0 => col,
            _ => {
                return Err(Error::Rejected(format!(
                    "{source}: column {} is nested or repeated; only flat Parquet columns are read; nothing was stored",
                    crate::text::Untrusted(&names[p])
                )));
            }
        };
        if names.iter().filter(|n| **n == names[p]).count() > 1 && !map.is_identity() {
            return Err(Error::Rejected(format!(
                "{source}: the Parquet column name {} appears more than once; Parquet columns are read by name, so its copies cannot be told apart; nothing was stored",
                crate::text::Untrusted(&format!("{:?}", names[p]))
            )));
        }
        let have = file_type(&col);
        if !fits(contract.columns[i].ty, have) {
            changed.push(format!(
                "{} (contract {}, file {have})",
                contract.columns[i].name,
                contract.columns[i].ty.name()
            ));
        }
        nanos[i] = is_nanos(&col);
        for rg in reader.metadata().row_groups() {
            let chunk = rg.column(leaf[p].unwrap_or(0));
            let codec = chunk.compression();
            if !matches!(
                codec,
                parquet::basic::Compression::UNCOMPRESSED | parquet::basic::Compression::SNAPPY
            ) {
                return Err(Error::Rejected(format!(
                    "{source}: column {} is compressed with {codec}; Airlock reads uncompressed or Snappy Parquet only (the pandas and pyarrow default); nothing was stored",
                    chunk.column_path()
                )));
            }
        }
    }
    if !changed.is_empty() {
        problems.push(format!(
            "changed types: {}",
            crate::text::Untrusted(&changed.join(", "))
        ));
    }
    if !problems.is_empty() {
        return Err(contract.refuse_header(source, &problems, &help).into());
    }
    let projection = if map.is_identity() {
        None
    } else {
        let read = map.source.iter().flatten().map(|p| fields[*p].clone());
        let group = parquet::schema::types::Type::group_type_builder(schema.root_schema().name())
            .with_fields(read.collect())
            .build()
            .map_err(|e| {
                Error::Rejected(format!(
                    "{source}: cannot select the contract's columns: {}; nothing was stored",
                    crate::text::error_text(&e)
                ))
            })?;
        Some(group)
    };
    Ok(Schema {
        map,
        projection,
        nanos,
    })
}

fn shortest(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(f64::from(x))
}

/// True for a timestamp column stored in nanoseconds.
fn is_nanos(c: &ColumnDescriptor) -> bool {
    matches!(
        c.logical_type_ref(),
        Some(LogicalType::Timestamp(t)) if matches!(t.unit, parquet::basic::TimeUnit::NANOS)
    )
}

/// A Parquet cell as a typed value for column `idx`, checked. `nanos`: the
/// column holds nanosecond timestamps.
fn cell(
    contract: &Contract,
    idx: usize,
    f: &Field,
    nanos: bool,
) -> std::result::Result<Value, CellError> {
    let v = match f {
        Field::Null => Value::Null,
        Field::Bool(b) => Value::Text(b.to_string()),
        Field::Byte(x) => Value::Int(i64::from(*x)),
        Field::Short(x) => Value::Int(i64::from(*x)),
        Field::Int(x) => Value::Int(i64::from(*x)),
        Field::Long(x) if !nanos => Value::Int(*x),
        Field::UByte(x) => Value::Int(i64::from(*x)),
        Field::UShort(x) => Value::Int(i64::from(*x)),
        Field::UInt(x) => Value::Int(i64::from(*x)),
        Field::ULong(x) => match i64::try_from(*x) {
            Ok(i) => Value::Int(i),
            Err(_) => {
                return Err((
                    Rule::Type,
                    contract.expected(&contract.columns[idx]),
                    x.to_string(),
                ));
            }
        },
        // Through the shortest decimal form, as the same number written in
        // a CSV file or a request would be read: 0.1f32 is 0.1, not
        // 0.10000000149011612.
        Field::Float16(x) => Value::Float(shortest(f32::from(*x))),
        Field::Float(x) => Value::Float(shortest(*x)),
        Field::Double(x) => Value::Float(*x),
        Field::Str(s) => {
            // Strings follow the CSV rules: trimming, null tokens, parsing.
            return contract.parse_cell(idx, contract.clean(s));
        }
        Field::Date(days) => Value::Int(i64::from(*days) * 86_400),
        Field::TimestampMillis(ms) => Value::Int(ms.div_euclid(1000)),
        Field::TimestampMicros(us) => Value::Int(us.div_euclid(1_000_000)),
        // Nanosecond timestamps come through the row API as plain longs.
        Field::Long(ns) if nanos => Value::Int(ns.div_euclid(1_000_000_000)),
        other => {
            return Err((
                Rule::Type,
                contract.expected(&contract.columns[idx]),
                format!("{other}"),
            ));
        }
    };
    // A date read into a timestamp column is midnight UTC; anything else
    // must match the contract's type exactly (checked by check_value).
    contract.check_value(idx, v)
}

/// Receives each row: its number, typed cells, and a renderer of its raw
/// cells (for the quarantine file).
pub type RowSink<'a> = dyn FnMut(u64, &[std::result::Result<Value, CellError>], &dyn Fn() -> Vec<String>) -> Result<()>
    + 'a;

/// Reads every row of a Parquet file, checking its schema first. `row` gets
/// each row's number, its typed cells in contract order and a renderer of
/// them as text. Returns the row count and how the file's columns mapped to
/// the contract's.
pub fn scan(
    contract: &Contract,
    file: File,
    source: &str,
    row: &mut RowSink<'_>,
) -> Result<(u64, HeaderMap)> {
    let reader = open_reader(file, source)?;
    let Schema {
        map,
        projection,
        nanos,
    } = check_schema(contract, &reader, source)?;
    let iter = reader.get_row_iter(projection).map_err(|e| {
        Error::Rejected(format!(
            "{source}: cannot read rows: {}; nothing was stored",
            crate::text::error_text(&e)
        ))
    })?;
    let mut n = 0u64;
    let mut cells = Vec::with_capacity(contract.columns.len());
    for r in iter {
        let r = r.map_err(|e| {
            Error::Rejected(format!(
                "{source}: unreadable after row {n}: {}; nothing was stored",
                crate::text::error_text(&e)
            ))
        })?;
        n += 1;
        cells.clear();
        let fields: Vec<&Field> = r.get_column_iter().map(|(_, f)| f).collect();
        for (idx, f) in fields.iter().enumerate() {
            cells.push(cell(
                contract,
                idx,
                f,
                nanos.get(idx).copied().unwrap_or(false),
            ));
        }
        let raw = || {
            fields
                .iter()
                .map(|f| match f {
                    Field::Null => String::new(),
                    Field::Str(s) => s.clone(),
                    other => format!("{other}"),
                })
                .collect()
        };
        row(n, &cells, &raw)?;
    }
    if n == 0 {
        return Err(Error::Data(DataError::NoDataRows {
            file: source.to_owned(),
        }));
    }
    Ok((n, map))
}

/// A stored snapshot's row as typed values: it was checked at ingest, so
/// any violation now is an integrity failure.
pub fn strict_row(
    contract: &Contract,
    source: &str,
    n: u64,
    cells: &[std::result::Result<Value, CellError>],
) -> Result<Vec<Value>> {
    cells
        .iter()
        .enumerate()
        .map(|(idx, c)| match c {
            Ok(v) => Ok(v.clone()),
            Err((_, expected, found)) => Err(Error::Integrity(format!(
                "{source}: row {n}, column {:?}: expected {expected}, found {found}",
                contract.columns[idx].name
            ))),
        })
        .collect()
}
