//! How a file's named columns (a CSV header, a Parquet schema) map to a
//! contract's columns: header columns the contract ignores, and header names
//! read as contract columns of another name, a repeated name's copies
//! included.
//!
//! ```toml
//! ignore = ["applicant_id", "notes"]   # these header columns are never read
//! # ignore_unlisted = true             # or: every header column the contract does not use
//!
//! [[rename]]                           # the file's "amount" is the contract's "credit_amount"
//! from = "amount"
//! to = "credit_amount"
//!
//! [[rename]]                           # the file has two "age" columns
//! from = "age"
//! occurrence = 2                       # the second copy (or `position = 14`, from 1)
//! to = "co_applicant_age"
//! ```
//!
//! A header column is read, in this order of precedence: by the rename that
//! addresses it by occurrence or position; by the rename of its name; as the
//! contract column of its name; or not at all when `ignore` lists its name
//! or `ignore_unlisted` is set. Anything else is an extra column, and the
//! file is refused. A contract column fed by two header columns is refused
//! too: for a repeated name, the refusal shows the `[[rename]]` tables that
//! name the copies. An ignored column's cells are never parsed, checked,
//! stored in processed data or profiled; the raw snapshot keeps the file as
//! received.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::contract::Contract;
use crate::text::{Untrusted, escape};

/// A header column read as a contract column of another name (`[[rename]]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    /// The name in the file's header.
    pub from: String,
    /// Which copy of a repeated header name, from 1 (the first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurrence: Option<u64>,
    /// The header column's position, from 1; its name must be `from`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<u64>,
    /// The contract column it is read as.
    pub to: String,
}

impl Rename {
    /// True when the rename addresses one copy (by occurrence or position)
    /// rather than every copy of its name.
    pub fn is_addressed(&self) -> bool {
        self.occurrence.is_some() || self.position.is_some()
    }

    fn describe(&self) -> String {
        match (self.position, self.occurrence) {
            (Some(p), _) => format!("the rename at position {p} ({:?})", self.from),
            (None, Some(k)) => format!("the rename of copy {k} of {:?}", self.from),
            (None, None) => format!("the rename of {:?}", self.from),
        }
    }
}

/// A header column of a file: its position, from 1, and its name as shown
/// (control and formatting characters escaped: the name comes from the
/// file and is kept in signed records).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderColumn {
    /// Position in the header, from 1.
    pub position: u64,
    /// The header name.
    pub name: String,
}

/// A header column read under another name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Renamed {
    /// Position in the header, from 1.
    pub position: u64,
    /// The header name.
    pub from: String,
    /// The contract column it was read as.
    pub to: String,
}

/// The ignored header names a dataset record keeps, in bytes, at most: a
/// record is at most 16 MiB, and a header can be as long as a record.
pub const MAX_IGNORED_BYTES: usize = 1 << 20;

/// Where each contract column is read from in a file, and what else the
/// file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderMap {
    /// Fields in each record of the file.
    pub width: usize,
    /// Per contract column (in contract order), its field in the file, from
    /// 0; `None` for an optional column the file does not have.
    pub source: Vec<Option<usize>>,
    /// Header columns that are not read.
    pub ignored: Vec<HeaderColumn>,
    /// Header columns read under another name.
    pub renamed: Vec<Renamed>,
}

impl HeaderMap {
    /// A file whose fields are the contract's `n` columns, in order.
    pub fn identity(n: usize) -> Self {
        HeaderMap {
            width: n,
            source: (0..n).map(Some).collect(),
            ignored: Vec::new(),
            renamed: Vec::new(),
        }
    }

    /// A header-less file without the `optional` columns of a contract of
    /// `n` columns: its fields are the other columns, in order.
    pub fn without(n: usize, optional: &[usize]) -> Self {
        let mut next = 0;
        let source = (0..n)
            .map(|i| {
                (!optional.contains(&i)).then(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        HeaderMap {
            width: next,
            source,
            ignored: Vec::new(),
            renamed: Vec::new(),
        }
    }

    /// True when the file's fields are the contract's columns, in order.
    pub fn is_identity(&self) -> bool {
        self.width == self.source.len()
            && self.source.iter().enumerate().all(|(i, s)| *s == Some(i))
    }
}

/// Why a header does not fit a contract: the problems, on one line, and
/// lines of help (the TOML that names a repeated header's copies).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mismatch {
    /// Each problem, its untrusted names quoted.
    pub problems: Vec<String>,
    /// Lines to show after the refusal.
    pub help: Vec<String>,
}

/// `s` as a TOML string, safe to print.
fn toml_str(s: &str) -> String {
    escape(&toml::Value::String(s.to_string()).to_string()).into_owned()
}

/// How the header columns of one name are read.
enum Target {
    /// As contract column `usize`, through the rename if any.
    Column(usize, Option<usize>),
    /// Not at all.
    Ignored,
    /// Nowhere: an extra column.
    Extra,
}

impl Contract {
    /// The rules of `ignore`, `ignore_unlisted` and `[[rename]]`, checked
    /// when the contract is parsed; the error says what is wrong.
    pub(crate) fn check_header_rules(&self) -> std::result::Result<(), String> {
        if self.ignore.is_empty() && !self.ignore_unlisted && self.rename.is_empty() {
            return Ok(());
        }
        if !self.csv.header {
            return Err(
                "`ignore`, `ignore_unlisted` and `[[rename]]` name header columns, but files under this contract have no header (csv.header = false)".into(),
            );
        }
        if self.ignore_unlisted && !self.ignore.is_empty() {
            return Err("`ignore_unlisted = true` already ignores every header column the contract does not use; leave out `ignore`, or list the columns in `ignore` and leave out `ignore_unlisted`".into());
        }
        let mut targets = BTreeSet::new();
        let mut plain = BTreeSet::new();
        let mut copies = BTreeSet::new();
        let mut positions = BTreeSet::new();
        for r in &self.rename {
            if r.from.is_empty() {
                return Err("a [[rename]] has an empty `from`".into());
            }
            if self.index_of(&r.to).is_none() {
                return Err(format!(
                    "[[rename]] from {:?}: `to` {:?} is not one of its columns",
                    r.from, r.to
                ));
            }
            if !targets.insert(r.to.as_str()) {
                return Err(format!(
                    "column {:?} is the `to` of two renames; a column is read from one header column",
                    r.to
                ));
            }
            let fresh = match (r.occurrence, r.position) {
                (Some(_), Some(_)) => {
                    return Err(format!(
                        "[[rename]] from {:?}: give `occurrence` or `position`, not both",
                        r.from
                    ));
                }
                (Some(0), _) | (_, Some(0)) => {
                    return Err(format!(
                        "[[rename]] from {:?}: `occurrence` and `position` count from 1",
                        r.from
                    ));
                }
                (Some(k), None) => copies.insert((r.from.as_str(), k)),
                (None, Some(p)) => positions.insert(p),
                (None, None) => plain.insert(r.from.as_str()),
            };
            if !fresh {
                return Err(format!(
                    "{} is given twice; each header column is renamed once",
                    r.describe()
                ));
            }
        }
        let mut seen = BTreeSet::new();
        for name in &self.ignore {
            if name.is_empty() || !seen.insert(name.as_str()) {
                return Err(format!(
                    "`ignore` lists {name:?}, which is empty or repeated"
                ));
            }
            if plain.contains(name.as_str()) {
                return Err(format!(
                    "{name:?} is both ignored and renamed; a header column is read or ignored"
                ));
            }
            let addressed = self
                .rename
                .iter()
                .any(|r| r.is_addressed() && r.from == *name);
            if self.index_of(name).is_some() && !addressed {
                return Err(format!(
                    "column {name:?} is both listed and ignored; to ignore all but one copy of a repeated header name, say which copy is the column with a [[rename]] that gives its `occurrence` or `position`"
                ));
            }
        }
        Ok(())
    }

    /// Maps a file's header (its column names, in order) to the contract's
    /// columns. The `optional` contract columns (by index) may be absent;
    /// every other one must be there once. On a mismatch the map is as far
    /// as it got (a column not found is `None`), so a caller can add its
    /// own findings (Parquet's changed types) to the refusal.
    pub fn map_header(
        &self,
        header: &[String],
        optional: &[usize],
    ) -> (HeaderMap, std::result::Result<(), Mismatch>) {
        let width = header.len();
        let mut positions: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (p, name) in header.iter().enumerate() {
            positions.entry(name.as_str()).or_default().push(p);
        }
        let mut bad = Mismatch::default();
        // Renames by occurrence or position first: they name one copy each.
        let mut by_pos: Vec<Option<usize>> = vec![None; width];
        for (ri, r) in self.rename.iter().enumerate() {
            let p = match (r.position, r.occurrence) {
                (Some(p), _) => {
                    let at = usize::try_from(p - 1).unwrap_or(usize::MAX);
                    match header.get(at) {
                        Some(h) if *h == r.from => at,
                        Some(h) => {
                            bad.problems.push(format!(
                                "{} finds {} there",
                                r.describe(),
                                Untrusted(&format!("{h:?}"))
                            ));
                            continue;
                        }
                        None => {
                            bad.problems
                                .push(format!("{}: the header has {width} columns", r.describe()));
                            continue;
                        }
                    }
                }
                (None, Some(k)) => {
                    let copies = positions.get(r.from.as_str()).map_or(0, Vec::len);
                    match usize::try_from(k - 1).ok().filter(|i| *i < copies) {
                        Some(i) => positions[r.from.as_str()][i],
                        None => {
                            bad.problems.push(format!(
                                "{}: the header has {copies} column{} of that name",
                                r.describe(),
                                if copies == 1 { "" } else { "s" }
                            ));
                            continue;
                        }
                    }
                }
                (None, None) => continue,
            };
            if let Some(other) = by_pos[p] {
                bad.problems.push(format!(
                    "header column {} is named by {} and by {}",
                    p + 1,
                    self.rename[other].describe(),
                    r.describe()
                ));
                continue;
            }
            by_pos[p] = Some(ri);
        }
        let ignored_name = |n: &str| self.ignore_unlisted || self.ignore.iter().any(|i| i == n);
        let target = |p: usize| -> Target {
            if let Some(ri) = by_pos[p] {
                return match self.index_of(&self.rename[ri].to) {
                    Some(i) => Target::Column(i, Some(ri)),
                    None => Target::Extra,
                };
            }
            let name = header[p].as_str();
            let plain = self
                .rename
                .iter()
                .position(|r| !r.is_addressed() && r.from == name);
            if let Some(ri) = plain
                && let Some(i) = self.index_of(&self.rename[ri].to)
            {
                return Target::Column(i, Some(ri));
            }
            let listed = !self.ignore.iter().any(|i| i == name);
            match self.index_of(name) {
                Some(i) if listed => Target::Column(i, None),
                _ if ignored_name(name) => Target::Ignored,
                _ => Target::Extra,
            }
        };
        let n = self.columns.len();
        let mut sources: Vec<Vec<(usize, Option<usize>)>> = vec![Vec::new(); n];
        let mut map = HeaderMap {
            width,
            source: vec![None; n],
            ignored: Vec::new(),
            renamed: Vec::new(),
        };
        let mut extra: Vec<(&str, usize)> = Vec::new();
        let mut ignored_bytes = 0usize;
        for (p, h) in header.iter().enumerate() {
            match target(p) {
                Target::Column(i, via) => sources[i].push((p, via)),
                Target::Ignored => {
                    let name = escape(h).into_owned();
                    ignored_bytes += name.len();
                    map.ignored.push(HeaderColumn {
                        position: p as u64 + 1,
                        name,
                    });
                }
                Target::Extra => match extra.iter_mut().find(|(e, _)| *e == h) {
                    Some((_, k)) => *k += 1,
                    None => extra.push((h, 1)),
                },
            }
        }
        let mut missing = Vec::new();
        for (i, col) in self.columns.iter().enumerate() {
            match sources[i].as_slice() {
                [] if optional.contains(&i) => {}
                [] => missing.push(match self.rename.iter().find(|r| r.to == col.name) {
                    Some(r) if !r.is_addressed() => format!(
                        "{} (read from {}, which the header lacks)",
                        col.name,
                        Untrusted(&format!("{:?}", r.from))
                    ),
                    _ => col.name.clone(),
                }),
                [(p, via)] => {
                    map.source[i] = Some(*p);
                    if header[*p] != col.name && via.is_some() {
                        map.renamed.push(Renamed {
                            position: *p as u64 + 1,
                            from: header[*p].clone(),
                            to: col.name.clone(),
                        });
                    }
                }
                many => self.repeated(i, header, many, &mut bad),
            }
        }
        map.renamed.sort_by_key(|r| r.position);
        if !missing.is_empty() {
            bad.problems.push(format!(
                "missing columns: {}",
                Untrusted(&missing.join(", "))
            ));
        }
        if !extra.is_empty() {
            let names: Vec<String> = extra
                .iter()
                .map(|(e, k)| match k {
                    1 => e.to_string(),
                    k => format!("{e} ({k} times)"),
                })
                .collect();
            let hint = if self.ignore.is_empty() && !self.ignore_unlisted {
                " (list them in the contract's `ignore`, or set `ignore_unlisted = true`, to read the file without them)"
            } else {
                ""
            };
            bad.problems.push(format!(
                "extra columns: {}{hint}",
                Untrusted(&names.join(", "))
            ));
        }
        if ignored_bytes > MAX_IGNORED_BYTES {
            bad.problems.push(format!(
                "{} ignored header columns hold {ignored_bytes} bytes of names, more than the {} MiB a dataset record keeps",
                map.ignored.len(),
                MAX_IGNORED_BYTES >> 20
            ));
        }
        if bad.problems.is_empty() {
            let found: Vec<usize> = map.source.iter().flatten().copied().collect();
            if found.windows(2).any(|w| w[0] > w[1]) {
                let mut in_file: Vec<(usize, &str)> = map
                    .source
                    .iter()
                    .zip(&self.columns)
                    .filter_map(|(s, c)| s.map(|p| (p, c.name.as_str())))
                    .collect();
                in_file.sort_unstable();
                let listed: Vec<&str> = map
                    .source
                    .iter()
                    .zip(&self.columns)
                    .filter(|(s, _)| s.is_some())
                    .map(|(_, c)| c.name.as_str())
                    .collect();
                let in_file: Vec<&str> = in_file.into_iter().map(|(_, c)| c).collect();
                bad.problems.push(format!(
                    "columns out of order: expected {}, found {}",
                    Untrusted(&listed.join(",")),
                    Untrusted(&in_file.join(","))
                ));
            }
        }
        let result = if bad.problems.is_empty() {
            Ok(())
        } else {
            Err(bad)
        };
        (map, result)
    }

    /// Contract column `i` is fed by several header columns (`many`): a
    /// repeated name gets the TOML that names its copies.
    fn repeated(
        &self,
        i: usize,
        header: &[String],
        many: &[(usize, Option<usize>)],
        bad: &mut Mismatch,
    ) {
        let col = &self.columns[i].name;
        let at: Vec<String> = many.iter().map(|(p, _)| (p + 1).to_string()).collect();
        let name = &header[many[0].0];
        if many.iter().any(|(p, _)| header[*p] != *name) {
            let from: Vec<String> = many
                .iter()
                .map(|(p, _)| format!("{:?} (position {})", header[*p], p + 1))
                .collect();
            bad.problems.push(format!(
                "column {col:?} is read from {} header columns: {}",
                many.len(),
                Untrusted(&from.join(", "))
            ));
            return;
        }
        bad.problems.push(format!(
            "header name {} appears {} times (positions {}) and contract column {col:?} is read from one of them only",
            Untrusted(&format!("{name:?}")),
            many.len(),
            at.join(", ")
        ));
        let mut spare = format!("{col}_2");
        let mut k = 2;
        while self.index_of(&spare).is_some() {
            k += 1;
            spare = format!("{col}_{k}");
        }
        let from = toml_str(name);
        let mut help = vec![format!(
            "to name the copies of {}, say which copy is column {col:?} by adding to the contract:",
            Untrusted(&format!("{name:?}"))
        )];
        help.extend([
            "  [[rename]]".into(),
            format!("  from = {from}"),
            "  occurrence = 1".into(),
            format!("  to = {}", toml_str(col)),
            "then give each other copy a column of its own (and a [[columns]] entry with that name):"
                .into(),
            "  [[rename]]".into(),
            format!("  from = {from}"),
            "  occurrence = 2".into(),
            format!("  to = {}", toml_str(&spare)),
            format!(
                "or ignore the other copies with the top-level key `ignore = [{from}]` (before the first table)"
            ),
        ]);
        if !bad.help.is_empty() {
            bad.help.push(String::new());
        }
        bad.help.extend(help);
    }
}

#[cfg(test)]
mod tests;
