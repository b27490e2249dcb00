//! Schema contracts and the one parser that turns untrusted cells (CSV at
//! ingest and training, JSON at serving) into typed values.
//!
//! A contract is a TOML document:
//!
//! ```toml
//! name = "credit"
//! version = 1
//! null_tokens = ["", "NA"]        # cells that mean "missing"; default [""]
//!
//! [[columns]]
//! name = "age"
//! type = "integer"                # integer | float | category | string
//! nullable = false
//! min = 18
//! max = 100
//!
//! [[columns]]
//! name = "housing"
//! type = "category"
//! nullable = true
//! categories = ["own", "rent", "mortgage"]
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::registry::validate_name;

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
    /// Free text (not usable as a feature).
    String,
}

/// One column of a contract.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    /// Column name, as in the CSV header.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// Whether a cell may be missing.
    #[serde(default)]
    pub nullable: bool,
    /// Smallest allowed value (numeric columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest allowed value (numeric columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Allowed values (category columns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
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
    /// Cells equal to one of these mean "missing".
    #[serde(default = "default_null_tokens")]
    pub null_tokens: Vec<String>,
    /// The columns, in file order.
    pub columns: Vec<Column>,
}

/// A typed cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Missing.
    Null,
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A category or string.
    Text(String),
}

impl Value {
    /// The numeric value, for integer and float cells.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// The canonical text of a value (how labels are compared).
    pub fn canonical(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Text(s) => s.clone(),
        }
    }
}

/// One broken rule, located.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    /// Data row, from 1 (the header is not a row).
    pub row: u64,
    /// Line in the file, from 1.
    pub line: u64,
    /// The column, or `*` for the whole row.
    pub column: String,
    /// What the contract wants.
    pub expected: String,
    /// What the file has.
    pub found: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "row {} (line {}), column {:?}: expected {}, found {}",
            self.row, self.line, self.column, self.expected, self.found
        )
    }
}

/// How many violations an error message lists before it only counts.
pub const MAX_LISTED: usize = 20;

fn show(cell: &str) -> String {
    let short: String = cell.chars().take(40).collect();
    if short.len() < cell.len() {
        format!("{short:?}...")
    } else {
        format!("{short:?}")
    }
}

impl Contract {
    /// Parses and checks a contract document.
    pub fn from_toml(text: &str, source: &str) -> Result<Self> {
        let c: Contract =
            toml::from_str(text).map_err(|e| Error::Rejected(format!("contract {source}: {e}")))?;
        c.check(source)?;
        Ok(c)
    }

    /// Checks the contract's own rules (names, ranges, categories).
    pub fn check(&self, source: &str) -> Result<()> {
        let bad = |why: String| Err(Error::Rejected(format!("contract {source}: {why}")));
        validate_name(&self.name)?;
        if self.version < 1 {
            return bad(format!("version must be 1 or more, found {}", self.version));
        }
        if self.columns.is_empty() {
            return bad("no columns".into());
        }
        let mut seen = BTreeSet::new();
        for c in &self.columns {
            if c.name.is_empty() || !seen.insert(c.name.as_str()) {
                return bad(format!("column name {:?} is empty or repeated", c.name));
            }
            let numeric = matches!(c.ty, ColumnType::Integer | ColumnType::Float);
            if !numeric && (c.min.is_some() || c.max.is_some()) {
                return bad(format!(
                    "column {:?}: min/max apply to numeric columns only",
                    c.name
                ));
            }
            if c.min.is_some_and(|v| !v.is_finite()) || c.max.is_some_and(|v| !v.is_finite()) {
                return bad(format!(
                    "column {:?}: min and max must be finite numbers",
                    c.name
                ));
            }
            if let (Some(lo), Some(hi)) = (c.min, c.max)
                && lo > hi
            {
                return bad(format!("column {:?}: min {lo} is above max {hi}", c.name));
            }
            match (&c.ty, &c.categories) {
                (ColumnType::Category, None) => {
                    return bad(format!(
                        "column {:?}: a category column needs `categories`",
                        c.name
                    ));
                }
                (ColumnType::Category, Some(cats)) if cats.is_empty() => {
                    return bad(format!("column {:?}: `categories` is empty", c.name));
                }
                (ColumnType::Category, Some(cats)) => {
                    if let Some(t) = cats.iter().find(|t| self.null_tokens.contains(t)) {
                        return bad(format!(
                            "column {:?}: category {t:?} is also a null token",
                            c.name
                        ));
                    }
                }
                (_, Some(_)) => {
                    return bad(format!(
                        "column {:?}: `categories` applies to category columns only",
                        c.name
                    ));
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Canonical JSON bytes, as stored in the vault.
    pub fn to_canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Position of a column.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    fn expected(&self, c: &Column) -> String {
        let ty = match c.ty {
            ColumnType::Integer => "integer",
            ColumnType::Float => "number",
            ColumnType::Category => "category",
            ColumnType::String => "text",
        };
        let mut s = ty.to_string();
        match (c.min, c.max) {
            (Some(lo), Some(hi)) => s.push_str(&format!(" in [{lo}, {hi}]")),
            (Some(lo), None) => s.push_str(&format!(" >= {lo}")),
            (None, Some(hi)) => s.push_str(&format!(" <= {hi}")),
            _ => {}
        }
        if let Some(cats) = &c.categories {
            s = format!("one of [{}]", cats.join(", "));
        }
        s
    }

    /// Checks a typed value against column `idx`'s rules. `Err` holds
    /// (expected, found).
    pub fn check_value(
        &self,
        idx: usize,
        v: Value,
    ) -> std::result::Result<Value, (String, String)> {
        let c = &self.columns[idx];
        let fail = |found: String| Err((self.expected(c), found));
        match (&c.ty, v) {
            (_, Value::Null) if c.nullable => Ok(Value::Null),
            (_, Value::Null) => Err((
                format!("{} (not nullable)", self.expected(c)),
                "a missing value".into(),
            )),
            (ColumnType::Integer, Value::Int(i)) => self.range(c, i as f64, Value::Int(i)),
            (ColumnType::Float, Value::Int(i)) => self.range(c, i as f64, Value::Float(i as f64)),
            (ColumnType::Float, Value::Float(f)) if f.is_finite() => {
                self.range(c, f, Value::Float(f))
            }
            (ColumnType::Category, Value::Text(s)) => {
                if c.categories.as_ref().is_some_and(|cats| cats.contains(&s)) {
                    Ok(Value::Text(s))
                } else {
                    fail(show(&s))
                }
            }
            (ColumnType::String, Value::Text(s)) => Ok(Value::Text(s)),
            (_, v) => fail(match v {
                Value::Text(s) => show(&s),
                other => other.canonical(),
            }),
        }
    }

    fn range(&self, c: &Column, x: f64, v: Value) -> std::result::Result<Value, (String, String)> {
        if c.min.is_some_and(|lo| x < lo) || c.max.is_some_and(|hi| x > hi) {
            Err((self.expected(c), v.canonical()))
        } else {
            Ok(v)
        }
    }

    /// Parses one CSV cell for column `idx`.
    pub fn parse_cell(
        &self,
        idx: usize,
        cell: &str,
    ) -> std::result::Result<Value, (String, String)> {
        let c = &self.columns[idx];
        if self.null_tokens.iter().any(|t| t == cell) {
            return self.check_value(idx, Value::Null);
        }
        let v = match c.ty {
            ColumnType::Integer => match cell.parse::<i64>() {
                Ok(i) => Value::Int(i),
                Err(_) => return Err((self.expected(c), show(cell))),
            },
            ColumnType::Float => match cell.parse::<f64>() {
                Ok(f) if f.is_finite() => Value::Float(f),
                _ => return Err((self.expected(c), show(cell))),
            },
            ColumnType::Category | ColumnType::String => Value::Text(cell.to_string()),
        };
        self.check_value(idx, v)
    }

    /// Parses a JSON value for column `idx` (serving requests).
    pub fn parse_json(
        &self,
        idx: usize,
        v: &serde_json::Value,
    ) -> std::result::Result<Value, (String, String)> {
        let value = match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_f64()) {
                (Some(i), _) => Value::Int(i),
                (None, Some(f)) => Value::Float(f),
                _ => return Err((self.expected(&self.columns[idx]), n.to_string())),
            },
            serde_json::Value::String(s) => {
                if matches!(
                    self.columns[idx].ty,
                    ColumnType::Integer | ColumnType::Float
                ) {
                    return self.parse_cell(idx, s);
                }
                Value::Text(s.clone())
            }
            other => return Err((self.expected(&self.columns[idx]), other.to_string())),
        };
        self.check_value(idx, value)
    }

    /// Reads a CSV file with a header row, checking every cell. Returns the
    /// typed rows, or `Error::Rejected` listing the first violations and the
    /// total. `on_row` is called per row, for progress.
    pub fn read_csv(
        &self,
        input: impl Read,
        source: &str,
        on_row: &mut dyn FnMut(u64),
    ) -> Result<Vec<Vec<Value>>> {
        let mut rows = Vec::new();
        self.scan_csv(input, source, &mut |n, row| {
            on_row(n);
            rows.push(row);
        })?;
        Ok(rows)
    }

    /// Checks a CSV file with a header row cell by cell, in bounded memory:
    /// each valid row is handed to `sink` (with its number) while no
    /// violation has been seen; afterwards rows are only checked. Returns the
    /// number of rows, or `Error::Rejected` listing the first violations and
    /// the total.
    pub fn scan_csv(
        &self,
        input: impl Read,
        source: &str,
        sink: &mut dyn FnMut(u64, Vec<Value>),
    ) -> Result<u64> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .from_reader(input);
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| Error::Rejected(format!("{source}: cannot read the header row: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        self.check_header(&header, source)?;
        let mut violations = Vec::new();
        let mut total = 0usize;
        let mut record = csv::StringRecord::new();
        let mut row_no = 0u64;
        loop {
            match reader.read_record(&mut record) {
                Ok(false) => break,
                Ok(true) => {}
                Err(e) => {
                    return Err(Error::Rejected(format!(
                        "{source}: malformed CSV after row {row_no}: {e}; nothing was stored"
                    )));
                }
            }
            row_no += 1;
            let line = record.position().map_or(row_no + 1, |p| p.line());
            if record.len() != self.columns.len() {
                total += 1;
                if violations.len() < MAX_LISTED {
                    violations.push(Violation {
                        row: row_no,
                        line,
                        column: "*".into(),
                        expected: format!("{} fields", self.columns.len()),
                        found: format!("{} fields", record.len()),
                    });
                }
                continue;
            }
            let mut row = Vec::with_capacity(self.columns.len());
            for (idx, cell) in record.iter().enumerate() {
                match self.parse_cell(idx, cell) {
                    Ok(v) => row.push(v),
                    Err((expected, found)) => {
                        total += 1;
                        if violations.len() < MAX_LISTED {
                            violations.push(Violation {
                                row: row_no,
                                line,
                                column: self.columns[idx].name.clone(),
                                expected,
                                found,
                            });
                        }
                        row.push(Value::Null);
                    }
                }
            }
            if total == 0 {
                sink(row_no, row);
            }
        }
        if total > 0 {
            return Err(Error::Rejected(self.report(source, &violations, total)));
        }
        if row_no == 0 {
            return Err(Error::Rejected(format!(
                "{source}: no data rows; nothing was stored"
            )));
        }
        Ok(row_no)
    }

    fn check_header(&self, header: &[String], source: &str) -> Result<()> {
        let want: Vec<&str> = self.columns.iter().map(|c| c.name.as_str()).collect();
        if header.iter().map(String::as_str).eq(want.iter().copied()) {
            return Ok(());
        }
        let have: BTreeSet<&str> = header.iter().map(String::as_str).collect();
        let wanted: BTreeSet<&str> = want.iter().copied().collect();
        let missing: Vec<&str> = want.iter().copied().filter(|c| !have.contains(c)).collect();
        let extra: Vec<&str> = header
            .iter()
            .map(String::as_str)
            .filter(|c| !wanted.contains(c))
            .collect();
        let mut msg = format!(
            "{source} does not match contract {} v{}: header",
            self.name, self.version
        );
        if !missing.is_empty() {
            msg.push_str(&format!("; missing columns: {}", missing.join(", ")));
        }
        if !extra.is_empty() {
            msg.push_str(&format!("; extra columns: {}", extra.join(", ")));
        }
        if missing.is_empty() && extra.is_empty() {
            msg.push_str(&format!(
                "; columns out of order or repeated: expected {}, found {}",
                want.join(","),
                header.join(",")
            ));
        }
        msg.push_str("; nothing was stored");
        Err(Error::Rejected(msg))
    }

    fn report(&self, source: &str, listed: &[Violation], total: usize) -> String {
        let mut msg = format!(
            "{source} breaks contract {} v{}: {total} violation{}, nothing was stored",
            self.name,
            self.version,
            if total == 1 { "" } else { "s" }
        );
        for v in listed {
            msg.push_str(&format!("\n  {v}"));
        }
        if total > listed.len() {
            msg.push_str(&format!("\n  ... and {} more", total - listed.len()));
        }
        msg
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
