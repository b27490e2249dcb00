//! The rules a cell must meet and the one parser that turns a cell's text
//! (CSV and Parquet at ingest, snapshots at training, JSON at serving) into
//! a typed value.

use serde::Serialize;

use super::csv_rows::is_pad;
use super::value::{parse_date, parse_timestamp, show};
use super::{Column, ColumnType, Contract, Value, ValueRef};
use crate::error::Error;

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
