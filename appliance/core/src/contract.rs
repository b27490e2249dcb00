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

use std::collections::BTreeSet;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::header::{HeaderMap, Mismatch, Rename};
use crate::name::validate_name;

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
            .delimiter(Self::byte("delimiter", &self.delimiter).unwrap_or(b','))
            .quote(Self::byte("quote", &self.quote).unwrap_or(b'"'));
        b.from_reader(input)
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
    /// [`crate::header`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rename: Vec<Rename>,
    /// The columns, in file order.
    pub columns: Vec<Column>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// A typed cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Missing.
    Null,
    /// An integer (also dates and timestamps, as seconds since the epoch).
    Int(i64),
    /// A float.
    Float(f64),
    /// A category or string.
    Text(String),
}

/// A typed cell borrowing its text from the input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValueRef<'a> {
    /// Missing.
    Null,
    /// An integer (also dates and timestamps).
    Int(i64),
    /// A float.
    Float(f64),
    /// A category or string.
    Text(&'a str),
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

impl ValueRef<'_> {
    /// The canonical text (how keys are compared).
    pub fn canonical(self) -> String {
        match self {
            ValueRef::Text(s) => s.to_string(),
            other => other.to_owned().canonical(),
        }
    }

    /// The owned value.
    pub fn to_owned(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Text(s) => Value::Text(s.to_string()),
        }
    }

    /// The numeric value, for integer, float, date and timestamp cells.
    pub fn as_f64(self) -> Option<f64> {
        match self {
            ValueRef::Int(i) => Some(i as f64),
            ValueRef::Float(f) => Some(f),
            _ => None,
        }
    }
}

impl Value {
    /// The borrowed view.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Int(*i),
            Value::Float(f) => ValueRef::Float(*f),
            Value::Text(s) => ValueRef::Text(s),
        }
    }

    /// The numeric value, for integer, float, date and timestamp cells.
    pub fn as_f64(&self) -> Option<f64> {
        self.as_ref().as_f64()
    }

    /// The canonical text of a value (how labels and keys are compared).
    pub fn canonical(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Text(s) => s.clone(),
        }
    }
}

/// Parses `YYYY-MM-DD` to seconds since the epoch at midnight UTC.
pub fn parse_date(s: &str) -> Option<i64> {
    let t: crate::time::Timestamp = format!("{s}T00:00:00Z").parse().ok()?;
    Some(t.0)
}

/// Parses `YYYY-MM-DD(T| )HH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` to seconds
/// since the epoch, UTC (fractions of a second are dropped). A time without
/// a zone is refused: it would be read differently on different nodes.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if !s.is_ascii() || b.len() < 20 || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    let base: crate::time::Timestamp = format!("{}T{}Z", &s[..10], &s[11..19]).parse().ok()?;
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest.as_bytes() {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let d = |c: &u8| c.is_ascii_digit().then(|| i64::from(c - b'0'));
            let (h, m) = (d(h1)? * 10 + d(h2)?, d(m1)? * 10 + d(m2)?);
            if h > 23 || m > 59 {
                return None;
            }
            let off = h * 3600 + m * 60;
            if *sign == b'+' { off } else { -off }
        }
        _ => return None,
    };
    Some(base.0 - offset)
}

/// Formats seconds since the epoch for a date or timestamp column.
pub fn format_time(ty: ColumnType, secs: i64) -> String {
    let t = crate::time::Timestamp(secs).to_string();
    if ty == ColumnType::Date {
        t[..10].to_string()
    } else {
        t
    }
}

/// Shows a cell in a message: quoted, cut at 40 characters.
pub fn show(cell: &str) -> String {
    let short: String = cell.chars().take(40).collect();
    if short.len() < cell.len() {
        format!("{short:?}...")
    } else {
        format!("{short:?}")
    }
}

/// The kinds of contract violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// A row with the wrong number of fields.
    Fields,
    /// A cell that does not parse as the column's type.
    Type,
    /// A missing cell in a column that is not nullable.
    Missing,
    /// A number outside the column's min/max.
    Range,
    /// A value not in the column's categories.
    Category,
    /// A key that repeats an earlier row's.
    Key,
    /// A column with more missing cells than `max_null_rate`.
    NullRate,
    /// A column with fewer or more distinct values than allowed.
    Distinct,
    /// A column whose distribution moved too far from the reference.
    Drift,
}

impl Rule {
    /// The rule's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Fields => "field count",
            Rule::Type => "type",
            Rule::Missing => "missing value",
            Rule::Range => "range",
            Rule::Category => "category",
            Rule::Key => "duplicate key",
            Rule::NullRate => "null rate",
            Rule::Distinct => "distinct count",
            Rule::Drift => "distribution drift",
        }
    }
}

/// What a cell check found wrong: the rule, what was expected, what was
/// found.
pub type CellError = (Rule, String, String);

impl Contract {
    /// Parses and checks a contract document.
    pub fn from_toml(text: &str, source: &str) -> Result<Self> {
        let c: Contract =
            toml::from_str(text).map_err(|e| Error::Rejected(format!("contract {source}: {e}")))?;
        c.check(source)?;
        Ok(c)
    }

    /// The contract as TOML, for `contract show`.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Checks the contract's own rules (names, ranges, categories, keys,
    /// dialect, expectations).
    pub fn check(&self, source: &str) -> Result<()> {
        let bad = |why: String| Err(Error::Rejected(format!("contract {source}: {why}")));
        validate_name(&self.name)?;
        if self.version < 1 {
            return bad(format!("version must be 1 or more, found {}", self.version));
        }
        if self.columns.is_empty() {
            return bad("no columns".into());
        }
        if let Err(e) = CsvDialect::byte("delimiter", &self.csv.delimiter)
            .and_then(|_| CsvDialect::byte("quote", &self.csv.quote))
        {
            return bad(e);
        }
        if self.csv.delimiter == self.csv.quote {
            return bad("csv.delimiter and csv.quote must differ".into());
        }
        let mut seen = BTreeSet::new();
        for c in &self.columns {
            if c.name.is_empty() || !seen.insert(c.name.as_str()) {
                return bad(format!("column name {:?} is empty or repeated", c.name));
            }
            let col = |why: &str| bad(format!("column {:?}: {why}", c.name));
            let ranged = matches!(c.ty, ColumnType::Integer | ColumnType::Float);
            if !ranged && (c.min.is_some() || c.max.is_some()) {
                return col("min/max apply to integer and float columns only");
            }
            if c.min.is_some_and(|v| !v.is_finite()) || c.max.is_some_and(|v| !v.is_finite()) {
                return col("min and max must be finite numbers");
            }
            if let (Some(lo), Some(hi)) = (c.min, c.max)
                && lo > hi
            {
                return bad(format!("column {:?}: min {lo} is above max {hi}", c.name));
            }
            if c.max_null_rate.is_some_and(|r| !(0.0..=1.0).contains(&r)) {
                return col("max_null_rate must be between 0 and 1");
            }
            if let (Some(lo), Some(hi)) = (c.distinct_min, c.distinct_max)
                && lo > hi
            {
                return col("distinct_min is above distinct_max");
            }
            if let Some(d) = &c.drift {
                if self.reference.is_none() {
                    return col("a drift check needs the contract's `reference` dataset");
                }
                if !d.threshold.is_finite() || d.threshold <= 0.0 {
                    return col("drift threshold must be a positive number");
                }
            }
            match (&c.ty, &c.categories) {
                (ColumnType::Category, None) => {
                    return col("a category column needs `categories`");
                }
                (ColumnType::Category, Some(cats)) if cats.is_empty() => {
                    return col("`categories` is empty");
                }
                (ColumnType::Category, Some(cats)) => {
                    if let Some(t) = cats.iter().find(|t| self.null_tokens.contains(t)) {
                        return bad(format!(
                            "column {:?}: category {t:?} is also a null token",
                            c.name
                        ));
                    }
                    let distinct: BTreeSet<&String> = cats.iter().collect();
                    if distinct.len() != cats.len() {
                        return col("`categories` lists a value twice");
                    }
                }
                (_, Some(_)) => {
                    return col("`categories` applies to category columns only");
                }
                _ => {}
            }
        }
        let known = |what: &str, name: &str| -> Result<usize> {
            self.index_of(name).ok_or_else(|| {
                Error::Rejected(format!(
                    "contract {source}: {what} {name:?} is not one of its columns"
                ))
            })
        };
        if let Some(key) = &self.key {
            if key.is_empty() {
                return bad("`key` is empty".into());
            }
            for k in key {
                let i = known("key column", k)?;
                if self.columns[i].nullable {
                    return bad(format!("key column {k:?} must not be nullable"));
                }
            }
        }
        if let Some(e) = &self.entity {
            let i = known("entity column", e)?;
            if self.columns[i].nullable {
                return bad(format!("entity column {e:?} must not be nullable"));
            }
        }
        if let Some(t) = &self.event_time {
            let i = known("event_time column", t)?;
            if !self.columns[i].ty.is_time() || self.columns[i].nullable {
                return bad(format!(
                    "event_time column {t:?} must be a date or timestamp column and not nullable"
                ));
            }
        }
        if let Some(r) = &self.reference {
            let parsed: crate::name::NameRef = r.parse()?;
            if parsed.version.is_none() || parsed.site.is_some() {
                return bad(format!(
                    "reference {r:?} must name a dataset of this site with its version, NAME@VERSION"
                ));
            }
        }
        self.check_header_rules().or_else(bad)
    }

    /// Canonical JSON bytes, as stored in the vault.
    pub fn to_canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Position of a column.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// Column names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }

    /// What column `c` accepts, in words.
    pub fn expected(&self, c: &Column) -> String {
        if let Some(cats) = &c.categories {
            return format!("one of [{}]", cats.join(", "));
        }
        let mut s = match c.ty {
            ColumnType::Integer => "integer",
            ColumnType::Float => "number",
            ColumnType::Category => "category",
            ColumnType::String => "text",
            ColumnType::Date => "date YYYY-MM-DD",
            ColumnType::Timestamp => "timestamp with zone, e.g. 2026-11-23T13:05:00Z",
        }
        .to_string();
        match (c.min, c.max) {
            (Some(lo), Some(hi)) => s.push_str(&format!(" in [{lo}, {hi}]")),
            (Some(lo), None) => s.push_str(&format!(" >= {lo}")),
            (None, Some(hi)) => s.push_str(&format!(" <= {hi}")),
            _ => {}
        }
        s
    }

    /// Checks a typed value against column `idx`'s rules.
    pub fn check_ref<'a>(
        &self,
        idx: usize,
        v: ValueRef<'a>,
    ) -> std::result::Result<ValueRef<'a>, CellError> {
        let c = &self.columns[idx];
        let range = |x: f64, v: ValueRef<'a>| {
            if c.min.is_some_and(|lo| x < lo) || c.max.is_some_and(|hi| x > hi) {
                Err((Rule::Range, self.expected(c), v.to_owned().canonical()))
            } else {
                Ok(v)
            }
        };
        match (c.ty, v) {
            (_, ValueRef::Null) if c.nullable => Ok(ValueRef::Null),
            (_, ValueRef::Null) => Err((
                Rule::Missing,
                format!("{} (not nullable)", self.expected(c)),
                "a missing value".into(),
            )),
            (ColumnType::Integer, ValueRef::Int(i)) => range(i as f64, v),
            (ColumnType::Float, ValueRef::Int(i)) => range(i as f64, ValueRef::Float(i as f64)),
            (ColumnType::Float, ValueRef::Float(f)) if f.is_finite() => range(f, v),
            (ColumnType::Date | ColumnType::Timestamp, ValueRef::Int(_)) => Ok(v),
            (ColumnType::Category, ValueRef::Text(s)) => {
                if c.categories
                    .as_ref()
                    .is_some_and(|cats| cats.iter().any(|k| k == s))
                {
                    Ok(v)
                } else {
                    Err((Rule::Category, self.expected(c), show(s)))
                }
            }
            (ColumnType::String, ValueRef::Text(_)) => Ok(v),
            (_, v) => Err((
                Rule::Type,
                self.expected(c),
                match v {
                    ValueRef::Text(s) => show(s),
                    other => other.to_owned().canonical(),
                },
            )),
        }
    }

    /// Checks an owned value (serving requests, Parquet cells).
    pub fn check_value(&self, idx: usize, v: Value) -> std::result::Result<Value, CellError> {
        self.check_ref(idx, v.as_ref()).map(ValueRef::to_owned)
    }

    /// Parses one text cell for column `idx`.
    pub fn parse_ref<'a>(
        &self,
        idx: usize,
        cell: &'a str,
    ) -> std::result::Result<ValueRef<'a>, CellError> {
        let c = &self.columns[idx];
        // A NUL byte ends a C string: tools reading the stored snapshot or a report would see
        // another value than the one checked here. Refused in every column, in CSV, Parquet
        // and requests alike.
        if cell.contains('\0') {
            return Err((Rule::Type, "a value without NUL bytes".into(), show(cell)));
        }
        if self.null_tokens.iter().any(|t| t == cell) {
            return self.check_ref(idx, ValueRef::Null);
        }
        let typed = match c.ty {
            ColumnType::Integer => cell.parse::<i64>().ok().map(ValueRef::Int),
            ColumnType::Float => cell
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(ValueRef::Float),
            ColumnType::Date => parse_date(cell).map(ValueRef::Int),
            ColumnType::Timestamp => parse_timestamp(cell).map(ValueRef::Int),
            ColumnType::Category | ColumnType::String => Some(ValueRef::Text(cell)),
        };
        match typed {
            Some(v) => self.check_ref(idx, v),
            None => Err((Rule::Type, self.expected(c), show(cell))),
        }
    }

    /// A raw cell as the dialect reads it: spaces and tabs around it
    /// removed when `csv.trim` is on. CSV cells and serving requests both
    /// go through this.
    pub fn clean<'a>(&self, cell: &'a str) -> &'a str {
        if self.csv.trim {
            cell.trim_matches(is_pad)
        } else {
            cell
        }
    }

    /// Parses one text cell for column `idx` into an owned value.
    pub fn parse_cell(&self, idx: usize, cell: &str) -> std::result::Result<Value, CellError> {
        self.parse_ref(idx, cell).map(ValueRef::to_owned)
    }

    /// Parses a JSON value for column `idx` (serving requests). Strings are
    /// read exactly as CSV cells are, so a request may carry the raw cells.
    pub fn parse_json(
        &self,
        idx: usize,
        v: &serde_json::Value,
    ) -> std::result::Result<Value, CellError> {
        let c = &self.columns[idx];
        let value = match v {
            serde_json::Value::Null => Value::Null,
            // A number or boolean for a text column is read as its text,
            // as a CSV cell would be.
            serde_json::Value::Number(n) if !c.ty.is_numeric() => {
                return self.parse_cell(idx, &n.to_string());
            }
            serde_json::Value::Bool(b) if !c.ty.is_numeric() => {
                return self.parse_cell(idx, &b.to_string());
            }
            serde_json::Value::Number(n) if !c.ty.is_time() => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Value::Int(i),
                (None, Some(f)) => Value::Float(f),
                _ => return Err((Rule::Type, self.expected(c), n.to_string())),
            },
            serde_json::Value::String(s) => return self.parse_cell(idx, self.clean(s)),
            other => return Err((Rule::Type, self.expected(c), other.to_string())),
        };
        self.check_value(idx, value)
    }

    /// The refusal of a file whose header (or schema) does not fit: the
    /// `problems` on one line, then the `help` lines.
    pub fn refuse_header(&self, source: &str, problems: &[String], help: &[String]) -> Error {
        Error::Data(crate::error::DataError::HeaderMismatch {
            file: crate::text::Untrusted(source).to_string(),
            contract: self.name.clone(),
            version: self.version,
            problems: problems.to_vec(),
            help: help.to_vec(),
        })
    }
}

/// The differences from contract `a` to contract `b`, one line each:
/// `+`/`-` for columns added or removed, `~` for a changed column or
/// setting, with old and new values.
pub fn diff(a: &Contract, b: &Contract) -> Vec<String> {
    fn fields<T: Serialize>(t: &T) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::to_value(t) {
            Ok(serde_json::Value::Object(m)) => m,
            _ => serde_json::Map::new(),
        }
    }
    fn changes(
        a: &serde_json::Map<String, serde_json::Value>,
        b: &serde_json::Map<String, serde_json::Value>,
        skip: &[&str],
    ) -> Vec<String> {
        let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
        let none = serde_json::Value::Null;
        keys.into_iter()
            .filter(|k| !skip.contains(&k.as_str()))
            .filter_map(|k| {
                let (x, y) = (a.get(k).unwrap_or(&none), b.get(k).unwrap_or(&none));
                (x != y).then(|| format!("{k} {x} -> {y}"))
            })
            .collect()
    }
    let mut out = Vec::new();
    for c in changes(&fields(a), &fields(b), &["columns", "name"]) {
        out.push(format!("~ {c}"));
    }
    for c in &a.columns {
        match b.columns.iter().find(|x| x.name == c.name) {
            None => out.push(format!("- column {:?} ({})", c.name, c.ty.name())),
            Some(x) => {
                let ch = changes(&fields(c), &fields(x), &[]);
                if !ch.is_empty() {
                    out.push(format!("~ column {:?}: {}", c.name, ch.join("; ")));
                }
            }
        }
    }
    for c in b.columns.iter().filter(|c| a.index_of(&c.name).is_none()) {
        out.push(format!("+ column {:?} ({})", c.name, c.ty.name()));
    }
    let (an, bn) = (a.names(), b.names());
    let common_a: Vec<&&str> = an.iter().filter(|n| bn.contains(n)).collect();
    let common_b: Vec<&&str> = bn.iter().filter(|n| an.contains(n)).collect();
    if common_a != common_b {
        out.push(format!(
            "~ column order {} -> {}",
            an.join(","),
            bn.join(",")
        ));
    }
    out
}

/// Reads a record: removes the "\r" of a "\r\n" line end (records end at
/// "\n"), skips lines that are empty but for it, and trims spaces and
/// tabs around cells when the dialect says so (the same [`Contract::clean`]
/// serving requests get).
fn read_record<R: Read>(
    reader: &mut csv::Reader<R>,
    record: &mut csv::StringRecord,
    trim: bool,
) -> csv::Result<bool> {
    loop {
        if !reader.read_record(record)? {
            return Ok(false);
        }
        let n = record.len();
        let last = record.get(n.wrapping_sub(1)).unwrap_or("");
        let cr = last.ends_with('\r');
        if n == 1 && (last == "\r" || last.is_empty()) {
            continue;
        }
        let untrimmed = |f: &str| f.trim_matches(is_pad).len() != f.len();
        let needs_trim = trim && record.iter().any(untrimmed);
        if !cr && !needs_trim {
            return Ok(true);
        }
        let mut fixed = csv::StringRecord::with_capacity(record.as_slice().len(), n);
        for (i, f) in record.iter().enumerate() {
            let f = if cr && i + 1 == n {
                &f[..f.len() - 1]
            } else {
                f
            };
            fixed.push_field(if trim { f.trim_matches(is_pad) } else { f });
        }
        fixed.set_position(record.position().cloned());
        *record = fixed;
        return Ok(true);
    }
}

/// Padding trimmed around cells: spaces and tabs.
fn is_pad(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Input is read at most this far past the start of the current record: a
/// record longer than this (a stray quote that swallows the rest of the
/// file) is refused instead of filling memory.
pub const MAX_RECORD: u64 = 16 << 20;

/// A reader that fails once it has read more than [`MAX_RECORD`] bytes
/// past `start`, the byte offset where the current record begins.
struct Capped<R> {
    inner: R,
    read: u64,
    start: std::rc::Rc<std::cell::Cell<u64>>,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.read > self.start.get() + MAX_RECORD {
            return Err(std::io::Error::other(format!(
                "a record longer than {} MiB (an unterminated quote?)",
                MAX_RECORD >> 20
            )));
        }
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// One record of a CSV file.
#[derive(Clone, Copy, Debug)]
pub struct CsvRecord<'a> {
    /// Data row, from 1 (a header is not a row).
    pub row: u64,
    /// The line it starts on, from 1.
    pub line: u64,
    /// Fields a record of this file has (its header's count, or the
    /// contract's without a header).
    pub width: usize,
    /// The record as read, in file order.
    pub raw: &'a csv::StringRecord,
    /// The contract's cells, in its column order (an optional column the
    /// file lacks is empty; ignored columns are left out); `None` when the
    /// record has another number of fields than `width`.
    pub cells: Option<&'a csv::StringRecord>,
    /// The first ignored header column (its header name) whose cell in this
    /// record holds a NUL byte, with the cell. Ignored cells are never
    /// parsed, but a NUL byte is refused in them too: a reader of the stored
    /// file that stops at it would see another row.
    pub ignored_nul: Option<(&'a str, &'a str)>,
}

/// The records of a CSV file under a contract's dialect, after its header
/// (mapped to the contract's columns, [`Contract::map_header`]) if it has
/// one.
pub struct CsvRows<R: Read> {
    reader: csv::Reader<Capped<R>>,
    record: csv::StringRecord,
    row: u64,
    source: String,
    trim: bool,
    start: std::rc::Rc<std::cell::Cell<u64>>,
    map: HeaderMap,
    identity: bool,
    /// The current record's cells in contract order, when the map is not
    /// the identity.
    projected: csv::StringRecord,
    /// The first record was read at open (to tell a header-less file's
    /// width) and is still to be handed out.
    pending: bool,
}

impl<R: Read> CsvRows<R> {
    /// Opens `input`; reads the header row where the dialect has one and
    /// maps it to the contract's columns, refusing a header that does not
    /// fit (missing, extra, repeated or out-of-order columns).
    pub fn open(contract: &Contract, input: R, source: &str) -> Result<Self> {
        Self::open_with(contract, input, source, &[])
    }

    /// Like [`CsvRows::open`], but the `optional` contract columns (by
    /// index; a request file's label) may be absent. A header-less file
    /// without them is told by its first record's width.
    pub fn open_with(
        contract: &Contract,
        input: R,
        source: &str,
        optional: &[usize],
    ) -> Result<Self> {
        let start = std::rc::Rc::new(std::cell::Cell::new(0));
        let mut reader = contract.csv.reader(Capped {
            inner: input,
            read: 0,
            start: start.clone(),
        });
        let mut record = csv::StringRecord::new();
        let trim = contract.csv.trim;
        let n = contract.columns.len();
        let mut map = HeaderMap::identity(n);
        let mut pending = false;
        if contract.csv.header {
            let got = read_record(&mut reader, &mut record, trim).map_err(|e| {
                Error::Rejected(format!(
                    "{source}: cannot read the header row: {}",
                    crate::text::error_text(&e)
                ))
            })?;
            if !got {
                return Err(Error::Data(crate::error::DataError::EmptyFile {
                    file: source.to_owned(),
                }));
            }
            let header: Vec<String> = record.iter().map(str::to_string).collect();
            let (mapped, fits) = contract.map_header(&header, optional);
            if let Err(Mismatch { problems, help }) = fits {
                return Err(contract.refuse_header(source, &problems, &help));
            }
            map = mapped;
        } else if !optional.is_empty() {
            pending = read_record(&mut reader, &mut record, trim).map_err(|e| {
                Error::Rejected(format!(
                    "{source}: malformed CSV at row 1: {}",
                    crate::text::error_text(&e)
                ))
            })?;
            let without = HeaderMap::without(n, optional);
            if pending && record.len() == without.width {
                map = without;
            }
        }
        start.set(reader.position().byte());
        Ok(CsvRows {
            reader,
            record,
            row: 0,
            source: source.to_string(),
            trim,
            start,
            identity: map.is_identity(),
            map,
            projected: csv::StringRecord::new(),
            pending,
        })
    }

    /// How the file's columns map to the contract's.
    pub fn header_map(&self) -> &HeaderMap {
        &self.map
    }

    /// The next record, or `None` at the end. A malformed file (bad UTF-8,
    /// an unterminated quote) is refused with the row it broke at.
    pub fn next_record(&mut self) -> Result<Option<CsvRecord<'_>>> {
        let got = if self.pending {
            self.pending = false;
            Ok(true)
        } else {
            read_record(&mut self.reader, &mut self.record, self.trim)
        };
        self.start.set(self.reader.position().byte());
        match got {
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(e) => {
                return Err(Error::Rejected(format!(
                    "{}: malformed CSV after row {}: {}; nothing was stored",
                    self.source,
                    self.row,
                    crate::text::error_text(&e)
                )));
            }
        }
        self.row += 1;
        let line = self.record.position().map_or(self.row, |p| p.line());
        let fits = self.record.len() == self.map.width;
        if fits && !self.identity {
            self.projected.clear();
            for s in &self.map.source {
                self.projected
                    .push_field(s.and_then(|p| self.record.get(p)).unwrap_or(""));
            }
        }
        let ignored_nul = if fits && !self.map.ignored.is_empty() {
            self.map.ignored.iter().find_map(|h| {
                let cell = usize::try_from(h.position - 1)
                    .ok()
                    .and_then(|p| self.record.get(p))?;
                cell.contains('\0').then_some((h.name.as_str(), cell))
            })
        } else {
            None
        };
        Ok(Some(CsvRecord {
            row: self.row,
            line,
            width: self.map.width,
            raw: &self.record,
            cells: match (fits, self.identity) {
                (false, _) => None,
                (true, true) => Some(&self.record),
                (true, false) => Some(&self.projected),
            },
            ignored_nul,
        }))
    }

    /// The number of records read.
    pub fn rows(&self) -> u64 {
        self.row
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT: &str = r#"
name = "t"
version = 1
null_tokens = ["", "NA"]
[[columns]]
name = "age"
type = "integer"
min = 18
max = 100
[[columns]]
name = "income"
type = "float"
nullable = true
[[columns]]
name = "housing"
type = "category"
categories = ["own", "rent"]
"#;

    fn contract() -> Contract {
        Contract::from_toml(CONTRACT, "t.toml").expect("contract")
    }

    #[test]
    fn valid_csv_parses_to_typed_rows() {
        let rows = contract()
            .read_csv(
                "age,income,housing\n30,NA,own\n40,1.5,rent\n".as_bytes(),
                "f.csv",
                &mut |_| {},
            )
            .expect("valid");
        assert_eq!(
            rows[0],
            vec![Value::Int(30), Value::Null, Value::Text("own".into())]
        );
        assert_eq!(rows[1][1], Value::Float(1.5));
    }

    #[test]
    fn each_violation_kind_is_located() {
        let csv = "age,income,housing\n17,1,own\nabc,1,own\n30,x,own\n30,1,boat\n,1,own\n30,1\n";
        let err = contract()
            .read_csv(csv.as_bytes(), "f.csv", &mut |_| {})
            .expect_err("bad");
        let msg = err.to_string();
        assert!(msg.contains("6 violations"), "{msg}");
        assert!(
            msg.contains("row 1 (line 2), column \"age\": expected integer in [18, 100], found 17"),
            "{msg}"
        );
        assert!(
            msg.contains(
                "row 2 (line 3), column \"age\": expected integer in [18, 100], found \"abc\""
            ),
            "{msg}"
        );
        assert!(
            msg.contains("row 3 (line 4), column \"income\": expected number, found \"x\""),
            "{msg}"
        );
        assert!(
            msg.contains(
                "row 4 (line 5), column \"housing\": expected one of [own, rent], found \"boat\""
            ),
            "{msg}"
        );
        assert!(msg.contains("row 5 (line 6), column \"age\": expected integer in [18, 100] (not nullable), found a missing value"), "{msg}");
        assert!(
            msg.contains("row 6 (line 7), column \"*\": expected 3 fields, found 2 fields"),
            "{msg}"
        );
    }

    #[test]
    fn header_diff_names_missing_and_extra_columns() {
        let err = contract()
            .read_csv(
                "age,salary,housing\n30,1,own\n".as_bytes(),
                "f.csv",
                &mut |_| {},
            )
            .expect_err("bad header");
        let msg = err.to_string();
        assert!(msg.contains("missing columns: income"), "{msg}");
        assert!(msg.contains("extra columns: salary"), "{msg}");
    }

    #[test]
    fn bad_contracts_are_refused() {
        let no_cats = "name='t'\nversion=1\n[[columns]]\nname='a'\ntype='category'\n";
        assert!(Contract::from_toml(no_cats, "c").is_err());
        let dup = "name='t'\nversion=1\n[[columns]]\nname='a'\ntype='float'\n[[columns]]\nname='a'\ntype='float'\n";
        assert!(Contract::from_toml(dup, "c").is_err());
        let inverted = "name='t'\nversion=1\n[[columns]]\nname='a'\ntype='float'\nmin=2\nmax=1\n";
        assert!(Contract::from_toml(inverted, "c").is_err());
        let unknown = "name='t'\nversion=1\nextra=1\n[[columns]]\nname='a'\ntype='float'\n";
        assert!(Contract::from_toml(unknown, "c").is_err());
    }

    #[test]
    fn ignored_and_renamed_columns_read_in_contract_order() {
        let c = Contract::from_toml(
            &format!(
                "ignore = ['id', 'note']\n{}\n[[rename]]\nfrom = 'home'\nto = 'housing'\n[[rename]]\nfrom = 'age'\noccurrence = 2\nto = 'income'\n",
                CONTRACT.trim_start()
            ),
            "t.toml",
        )
        .expect("contract");
        // The ignored cells are never parsed: "x" in a float column is not a violation.
        let csv = "id,age,note,age,home\n7,30,x,1.5,own\n8,40,,NA,rent\n";
        let rows = c
            .read_csv(csv.as_bytes(), "f.csv", &mut |_| {})
            .expect("valid");
        assert_eq!(
            rows,
            [
                vec![Value::Int(30), Value::Float(1.5), Value::Text("own".into())],
                vec![Value::Int(40), Value::Null, Value::Text("rent".into())]
            ]
        );
        // A row is counted against the file's width, not the contract's.
        let err = c
            .read_csv(
                "id,age,note,age,home\n7,30,own\n".as_bytes(),
                "f.csv",
                &mut |_| {},
            )
            .expect_err("short row")
            .to_string();
        assert!(err.contains("expected 5 fields, found 3 fields"), "{err}");
        // Except for a NUL byte, which would change how other readers see the row.
        let err = c
            .read_csv(
                "id,age,note,age,home\n7,30,a\0b,1.5,own\n".as_bytes(),
                "f.csv",
                &mut |_| {},
            )
            .expect_err("NUL")
            .to_string();
        assert!(
            err.contains("column \"note (ignored)\": expected a value without NUL bytes"),
            "{err}"
        );
    }

    #[test]
    fn a_header_less_request_file_may_leave_out_the_optional_column() {
        let c = Contract::from_toml(
            &format!(
                "{}\n[csv]\nheader = false\n{}",
                &CONTRACT[..CONTRACT.find("[[columns]]").expect("columns")],
                &CONTRACT[CONTRACT.find("[[columns]]").expect("columns")..]
            ),
            "t",
        )
        .expect("contract");
        let mut rows =
            CsvRows::open_with(&c, "30,1.5\n40,2\n".as_bytes(), "f", &[2]).expect("open");
        let r = rows.next_record().expect("read").expect("a record");
        assert_eq!(r.width, 2);
        let cells: Vec<&str> = r.cells.expect("fits").iter().collect();
        assert_eq!(cells, ["30", "1.5", ""]);
        let mut all = CsvRows::open_with(&c, "30,1.5,own\n".as_bytes(), "f", &[2]).expect("open");
        let r = all.next_record().expect("read").expect("a record");
        assert_eq!(r.width, 3);
        assert_eq!(r.cells.expect("fits").len(), 3);
    }

    #[test]
    fn json_cells_follow_the_same_rules() {
        let c = contract();
        assert_eq!(c.parse_json(0, &serde_json::json!(30)), Ok(Value::Int(30)));
        assert!(c.parse_json(0, &serde_json::json!(300)).is_err());
        assert!(c.parse_json(0, &serde_json::json!(null)).is_err());
        assert_eq!(
            c.parse_json(1, &serde_json::json!(2)),
            Ok(Value::Float(2.0))
        );
        assert!(c.parse_json(2, &serde_json::json!("boat")).is_err());
        assert!(c.parse_json(2, &serde_json::json!(true)).is_err());
    }
}

#[cfg(test)]
mod dialect_tests {
    use super::*;

    fn contract(extra: &str) -> Contract {
        Contract::from_toml(
            &format!(
                "name='t'\nversion=1\nnull_tokens=['', 'NA']\n{extra}\n[[columns]]\nname='a'\ntype='integer'\n[[columns]]\nname='s'\ntype='string'\nnullable=true\n[[columns]]\nname='t'\ntype='timestamp'\nnullable=true\n"
            ),
            "t",
        )
        .expect("contract")
    }

    #[test]
    fn crlf_blank_lines_are_skipped_and_lines_numbered_right() {
        let c = contract("");
        let mut lines = Vec::new();
        let csv = "a,s,t\r\n1, x ,\r\n\r\n2,y,\r\n";
        let mut rows = CsvRows::open(&c, csv.as_bytes(), "f").expect("open");
        while let Some(r) = rows.next_record().expect("record") {
            let cells = r.cells.expect("fits");
            lines.push((
                r.row,
                r.line,
                cells.iter().map(str::to_string).collect::<Vec<_>>(),
            ));
        }
        assert_eq!(
            lines,
            [
                (1, 2, vec!["1".into(), "x".into(), String::new()]),
                (2, 4, vec!["2".into(), "y".into(), String::new()])
            ]
        );
    }

    #[test]
    fn a_timestamp_with_multibyte_text_is_a_type_error_not_a_panic() {
        assert_eq!(parse_timestamp("2026-11-23T13:05:0é"), None);
        assert_eq!(parse_timestamp("2026-11-23é13:05:00Z"), None);
        let c = contract("");
        assert!(c.parse_cell(2, "2026-11-23T13:05:0é").is_err());
        assert_eq!(
            parse_timestamp("2026-11-23 14:05:00.25+01:00"),
            parse_timestamp("2026-11-23T13:05:00Z")
        );
    }

    #[test]
    fn requests_are_read_as_csv_cells_are() {
        let c = contract("");
        // Padding, null tokens, numbers for text columns.
        assert_eq!(
            c.parse_json(1, &serde_json::json!(" x ")),
            c.parse_cell(1, "x")
        );
        assert_eq!(c.parse_json(1, &serde_json::json!(" NA")), Ok(Value::Null));
        assert_eq!(
            c.parse_json(1, &serde_json::json!(12)),
            Ok(Value::Text("12".into()))
        );
        assert_eq!(
            c.parse_json(0, &serde_json::json!(" 7 ")),
            Ok(Value::Int(7))
        );
        let untrimmed = contract("[csv]\ntrim = false");
        assert_eq!(
            untrimmed.parse_json(1, &serde_json::json!(" x ")),
            Ok(Value::Text(" x ".into()))
        );
    }

    #[test]
    fn a_record_longer_than_the_cap_is_refused() {
        let c = contract("");
        let mut csv = String::from("a,s,t\n1,\"");
        csv.push_str(&"x".repeat((MAX_RECORD + 1024 * 1024) as usize));
        let mut rows = CsvRows::open(&c, csv.as_bytes(), "f").expect("open");
        let err = rows.next_record().expect_err("too long").to_string();
        assert!(err.contains("unterminated quote"), "{err}");
    }

    #[test]
    fn a_nul_byte_in_a_cell_is_refused() {
        let c = contract("");
        let (rule, expected, found) = c.parse_cell(1, "ab\0cd").expect_err("NUL in a string");
        assert_eq!(rule, crate::check::Rule::Type);
        assert_eq!(expected, "a value without NUL bytes");
        assert_eq!(found, "\"ab\\0cd\"", "shown escaped");
        assert!(
            c.parse_json(1, &serde_json::json!("x\u{0}")).is_err(),
            "in a request"
        );
        assert!(c.parse_cell(0, "1\0").is_err(), "in a number");
        assert_eq!(
            c.parse_cell(1, "ab\tcd"),
            Ok(Value::Text("ab\tcd".into())),
            "a tab is data"
        );
    }
}
