//! Typed cells: the values a contract's parser produces, and the date and
//! time formats it reads and writes.

use super::ColumnType;

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
