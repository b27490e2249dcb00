//! Schema contracts and the one parser that turns untrusted cells (CSV and
//! Parquet at ingest, snapshots at training, JSON at serving) into typed
//! values.
//!
//! A contract is a versioned TOML document, registered with `airlock
//! contract apply` (the full format is in `docs/data.md`):
//!
//! ```toml
//! name = "credit"
//! version = 2
//! null_tokens = ["", "NA", "?"]   # cells that mean "missing"; default [""]
//! key = ["id"]                    # these columns together are unique
//! entity = "id"                   # entity key, for the online store
//! event_time = "updated"          # when the row's values became known
//! reference = "credit@1"          # dataset whose profile drift checks use
//! ignore = ["notes"]              # header columns never read (or ignore_unlisted = true)
//!
//! [csv]
//! header = true                   # false: names come from the contract
//! delimiter = ","                 # one character; "\t", " ", ";" ...
//! quote = '"'
//! trim = true                     # strip whitespace around cells
//!
//! [[rename]]                      # header "amount" is column "credit_amount"
//! from = "amount"                 # (occurrence = 2 or position = 7 for one copy
//! to = "credit_amount"            # of a repeated name; see `header`)
//!
//! [[columns]]
//! name = "age"
//! type = "integer"    # integer | float | category | string | date | timestamp
//! nullable = false
//! min = 18
//! max = 100
//! max_null_rate = 0.05
//! distinct_max = 90
//! drift = { metric = "psi", threshold = 0.2, min_rows = 500 }
//! ```

use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::contract::header::Rename;

mod batch;
mod cells;
mod csv_rows;
mod cut;
mod document;
pub mod header;
mod value;

pub use batch::RowBatch;
pub use cells::{CellError, Rule};
pub use csv_rows::{CsvRecord, CsvRows, MAX_RECORD};
pub use cut::{Piece, Pieces, RecordCutter};
pub use document::diff;
pub use value::{Value, ValueRef, format_time, parse_date, parse_timestamp, show};

/// The type of a column.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// A 64-bit signed integer.
    Integer,
    /// A finite 64-bit float.
    Float,
    /// One of a fixed list of strings.
    Category,
    /// Free text.
    String,
    /// A calendar date, `YYYY-MM-DD`; held as seconds since the epoch at
    /// midnight UTC.
    Date,
    /// An instant with its zone, `YYYY-MM-DDTHH:MM:SS[.f](Z|+HH:MM)` (a
    /// space may replace the `T`); held as seconds since the epoch, UTC.
    Timestamp,
}

impl ColumnType {
    /// Numeric columns: integer, float, date and timestamp.
    pub fn is_numeric(self) -> bool {
        !matches!(self, ColumnType::Category | ColumnType::String)
    }

    /// True for date and timestamp.
    pub fn is_time(self) -> bool {
        matches!(self, ColumnType::Date | ColumnType::Timestamp)
    }

    /// The name used in contracts.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Integer => "integer",
            ColumnType::Float => "float",
            ColumnType::Category => "category",
            ColumnType::String => "string",
            ColumnType::Date => "date",
            ColumnType::Timestamp => "timestamp",
        }
    }
}

/// A distribution measure between a reference profile and new data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftMetric {
    /// Population stability index (natural log; 0.1 moderate, 0.25 large).
    Psi,
    /// Jensen-Shannon divergence (log base 2, from 0 to 1).
    Js,
}

fn default_min_rows() -> u64 {
    1000
}

/// A column's distribution expectation against the contract's reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Drift {
    /// The measure.
    pub metric: DriftMetric,
    /// Refuse when the measure is above this.
    pub threshold: f64,
    /// Files with fewer non-missing values in the column are not checked
    /// (small samples give false alarms); the ingest report says so.
    #[serde(default = "default_min_rows")]
    pub min_rows: u64,
}

/// One column of a contract.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// Column name, as in the file's header.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// Whether a cell may be missing.
    #[serde(default)]
    pub nullable: bool,
    /// Smallest allowed value (integer and float columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest allowed value (integer and float columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Allowed values (category columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// Largest share of missing cells a file may have, from 0 to 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_null_rate: Option<f64>,
    /// Fewest distinct non-missing values a file may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_min: Option<u64>,
    /// Most distinct non-missing values a file may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_max: Option<u64>,
    /// Distribution check against the contract's `reference` dataset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<Drift>,
}

/// How a CSV file is written.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvDialect {
    /// The first line holds the column names (checked against the
    /// contract). Without one, the names come from the contract, in order.
    #[serde(default = "yes")]
    pub header: bool,
    /// The field separator: one ASCII character.
    #[serde(default = "comma")]
    pub delimiter: String,
    /// The quote character: one ASCII character.
    #[serde(default = "dquote")]
    pub quote: String,
    /// Strip spaces and tabs around each cell (and header name).
    #[serde(default = "yes")]
    pub trim: bool,
}

fn yes() -> bool {
    true
}
fn comma() -> String {
    ",".into()
}
fn dquote() -> String {
    "\"".into()
}

impl Default for CsvDialect {
    fn default() -> Self {
        CsvDialect {
            header: true,
            delimiter: comma(),
            quote: dquote(),
            trim: true,
        }
    }
}

impl CsvDialect {
    fn is_default(&self) -> bool {
        *self == CsvDialect::default()
    }

    fn byte(what: &str, s: &str) -> std::result::Result<u8, String> {
        match s.as_bytes() {
            [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' => Ok(*b),
            _ => Err(format!(
                "csv.{what} must be one ASCII character (not a line end), found {s:?}"
            )),
        }
    }

    /// A CSV reader for this dialect. Headers are read by [`CsvRows`].
    fn reader<R: Read>(&self, input: R) -> csv::Reader<R> {
        let mut b = csv::ReaderBuilder::new();
        // Records end at "\n"; a "\r" before it is removed by `CsvRows`.
        // (With CRLF terminators the csv crate numbers lines one too low,
        // rust-csv issue 395.)
        b.has_headers(false)
            .terminator(csv::Terminator::Any(b'\n'))
            .flexible(true)
            .delimiter(self.bytes().0)
            .quote(self.bytes().1);
        b.from_reader(input)
    }

    /// The delimiter and quote bytes the reader uses (a contract's own are
    /// checked when it is parsed; these defaults are never reached).
    fn bytes(&self) -> (u8, u8) {
        (
            Self::byte("delimiter", &self.delimiter).unwrap_or(b','),
            Self::byte("quote", &self.quote).unwrap_or(b'"'),
        )
    }
}

fn default_null_tokens() -> Vec<String> {
    vec![String::new()]
}

/// A validated schema contract.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Contract {
    /// Contract name.
    pub name: String,
    /// Contract version (a positive integer, bumped on every change).
    pub version: i64,
    /// Cells equal to one of these (after trimming) mean "missing".
    #[serde(default = "default_null_tokens")]
    pub null_tokens: Vec<String>,
    /// Columns whose values together must be unique in a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<Vec<String>>,
    /// The entity key column (online store, point-in-time joins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity: Option<String>,
    /// The event time column: when a row's values became known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    /// The dataset (`NAME@VERSION`, this site) whose profile the columns'
    /// `drift` checks compare against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Header columns the contract does not use, by name: never read.
    /// Every other header column the contract does not use is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
    /// Every header column the contract does not use is ignored.
    #[serde(default, skip_serializing_if = "is_false")]
    pub ignore_unlisted: bool,
    /// How CSV files under this contract are written.
    #[serde(default, skip_serializing_if = "CsvDialect::is_default")]
    pub csv: CsvDialect,
    /// Header columns read as contract columns of another name (see
    /// [`crate::contract::header`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rename: Vec<Rename>,
    /// The columns, in file order.
    pub columns: Vec<Column>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl DriftMetric {
    /// The measure's name, as in contracts.
    pub fn name(self) -> &'static str {
        match self {
            DriftMetric::Psi => "psi",
            DriftMetric::Js => "js",
        }
    }
}

#[cfg(test)]
mod dialect_tests;
#[cfg(test)]
mod tests;
