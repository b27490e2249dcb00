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
mod tests {
    use super::*;
    use crate::contract::Contract;

    const COLUMNS: &str = "[[columns]]\nname='age'\ntype='integer'\n[[columns]]\nname='credit_amount'\ntype='float'\n[[columns]]\nname='co_age'\ntype='integer'\nnullable=true\n";

    fn contract(rules: &str, tables: &str) -> crate::Result<Contract> {
        Contract::from_toml(
            &format!("name='t'\nversion=1\n{rules}\n{tables}\n{COLUMNS}"),
            "t.toml",
        )
    }

    fn header(names: &str) -> Vec<String> {
        names.split(',').map(str::to_string).collect()
    }

    fn refusal(c: crate::Result<Contract>) -> String {
        c.expect_err("refused").to_string()
    }

    #[test]
    fn ignored_and_renamed_columns_parse_and_round_trip() {
        let c = contract(
            "ignore = ['id', 'notes']",
            "[[rename]]\nfrom='amount'\nto='credit_amount'\n[[rename]]\nfrom='age'\noccurrence=2\nto='co_age'\n",
        )
        .expect("contract");
        assert_eq!(c.ignore, ["id", "notes"]);
        assert_eq!(c.rename.len(), 2);
        assert_eq!(c.rename[1].occurrence, Some(2));
        let again = Contract::from_toml(&c.to_toml(), "shown").expect("round trip");
        assert_eq!(again, c);
        let dialect = contract(
            "ignore = ['id']",
            "[csv]\ndelimiter=';'\n[[rename]]\nfrom='amount'\nto='credit_amount'\n",
        )
        .expect("contract");
        let shown = dialect.to_toml();
        assert_eq!(
            Contract::from_toml(&shown, "shown").expect("round trip"),
            dialect,
            "{shown}"
        );
        let all = contract("ignore_unlisted = true", "").expect("contract");
        assert!(all.ignore_unlisted);
        assert_eq!(
            Contract::from_toml(&all.to_toml(), "shown").expect("round trip"),
            all
        );
    }

    #[test]
    fn a_contract_without_header_rules_keeps_its_digest() {
        let c = contract("", "").expect("contract");
        let json = String::from_utf8(c.to_canonical()).expect("utf8");
        assert!(
            !json.contains("ignore") && !json.contains("rename"),
            "{json}"
        );
    }

    #[test]
    fn a_column_both_listed_and_ignored_is_refused() {
        let e = refusal(contract("ignore = ['age']", ""));
        assert!(
            e.contains("column \"age\" is both listed and ignored"),
            "{e}"
        );
        // Allowed once a rename says which copy of "age" is the column.
        contract(
            "ignore = ['age']",
            "[[rename]]\nfrom='age'\noccurrence=1\nto='age'\n",
        )
        .expect("the other copies are ignored");
    }

    #[test]
    fn conflicting_header_rules_are_refused() {
        let cases = [
            (
                "ignore = ['x']\nignore_unlisted = true",
                "",
                "already ignores",
            ),
            ("ignore = ['x', 'x']", "", "empty or repeated"),
            (
                "ignore = ['amount']",
                "[[rename]]\nfrom='amount'\nto='credit_amount'\n",
                "both ignored and renamed",
            ),
            (
                "",
                "[[rename]]\nfrom='a'\nto='nope'\n",
                "is not one of its columns",
            ),
            (
                "",
                "[[rename]]\nfrom='a'\nto='age'\n[[rename]]\nfrom='b'\nto='age'\n",
                "`to` of two renames",
            ),
            (
                "",
                "[[rename]]\nfrom='a'\noccurrence=1\nposition=3\nto='age'\n",
                "not both",
            ),
            (
                "",
                "[[rename]]\nfrom='a'\noccurrence=0\nto='age'\n",
                "count from 1",
            ),
            (
                "",
                "[[rename]]\nfrom='a'\noccurrence=2\nto='age'\n[[rename]]\nfrom='a'\noccurrence=2\nto='co_age'\n",
                "the rename of copy 2 of \"a\" is given twice",
            ),
            (
                "",
                "[[rename]]\nfrom='a'\nto='age'\n[[rename]]\nfrom='a'\nto='co_age'\n",
                "the rename of \"a\" is given twice",
            ),
            ("", "[[rename]]\nfrom=''\nto='age'\n", "empty `from`"),
            (
                "",
                "[[rename]]\nfrom='a'\nto='age'\nextra=1\n",
                "unknown field",
            ),
        ];
        for (rules, tables, want) in cases {
            let e = refusal(contract(rules, tables));
            assert!(e.contains(want), "{rules} {tables}: {e}");
        }
        let headerless = Contract::from_toml(
            &format!("name='t'\nversion=1\nignore_unlisted=true\n[csv]\nheader=false\n{COLUMNS}"),
            "t",
        );
        assert!(refusal(headerless).contains("have no header"));
    }

    #[test]
    fn extra_columns_are_ignored_by_name_or_all() {
        let c = contract("ignore = ['id', 'notes']", "").expect("contract");
        let (map, ok) = c.map_header(&header("id,age,credit_amount,notes,co_age"), &[]);
        ok.expect("fits");
        assert_eq!(map.source, [Some(1), Some(2), Some(4)]);
        assert_eq!(map.width, 5);
        assert_eq!(
            map.ignored,
            [
                HeaderColumn {
                    position: 1,
                    name: "id".into()
                },
                HeaderColumn {
                    position: 4,
                    name: "notes".into()
                }
            ]
        );
        // A column neither listed nor ignored is still refused.
        let (_, bad) = c.map_header(&header("id,age,credit_amount,branch,co_age"), &[]);
        let bad = bad.expect_err("extra");
        assert_eq!(bad.problems, ["extra columns: branch"]);
        let all = contract("ignore_unlisted = true", "").expect("contract");
        let (map, ok) = all.map_header(&header("x,age,y,credit_amount,co_age,x"), &[]);
        ok.expect("fits");
        assert_eq!(map.ignored.len(), 3);
        // Without any ignore rule, the refusal says how to ignore.
        let plain = contract("", "").expect("contract");
        let (_, bad) = plain.map_header(&header("age,credit_amount,co_age,x"), &[]);
        assert!(
            bad.expect_err("extra").problems[0].contains("`ignore_unlisted = true`"),
            "hint"
        );
    }

    #[test]
    fn renames_by_name_occurrence_and_position() {
        let c = contract(
            "",
            "[[rename]]\nfrom='amount'\nto='credit_amount'\n[[rename]]\nfrom='age'\noccurrence=2\nto='co_age'\n",
        )
        .expect("contract");
        let (map, ok) = c.map_header(&header("age,amount,age"), &[]);
        ok.expect("fits");
        assert_eq!(map.source, [Some(0), Some(1), Some(2)]);
        assert_eq!(
            map.renamed,
            [
                Renamed {
                    position: 2,
                    from: "amount".into(),
                    to: "credit_amount".into()
                },
                Renamed {
                    position: 3,
                    from: "age".into(),
                    to: "co_age".into()
                }
            ]
        );
        let by_pos =
            contract("", "[[rename]]\nfrom='age'\nposition=3\nto='co_age'\n").expect("contract");
        let (map, ok) = by_pos.map_header(&header("age,credit_amount,age"), &[]);
        ok.expect("fits");
        assert_eq!(map.source, [Some(0), Some(1), Some(2)]);
        // A position that holds another name is refused, naming what it found.
        let (_, bad) = by_pos.map_header(&header("age,credit_amount,ages"), &[]);
        let bad = bad.expect_err("wrong name");
        assert!(
            bad.problems[0].contains("the rename at position 3 (\"age\") finds \"ages\" there"),
            "{bad:?}"
        );
        // A copy the file does not have.
        let (_, bad) = c.map_header(&header("age,amount,co_age"), &[]);
        assert!(
            bad.expect_err("one copy").problems[0]
                .contains("the rename of copy 2 of \"age\": the header has 1 column of that name")
        );
    }

    #[test]
    fn a_repeated_header_name_without_a_rename_is_refused_with_the_toml_to_add() {
        let c = contract("", "").expect("contract");
        let (_, bad) = c.map_header(&header("age,credit_amount,co_age,age"), &[]);
        let bad = bad.expect_err("repeated");
        assert_eq!(
            bad.problems,
            [
                "header name \"age\" appears 2 times (positions 1, 4) and contract column \"age\" is read from one of them only"
            ]
        );
        let help = bad.help.join("\n");
        assert!(
            help.contains("  [[rename]]\n  from = \"age\"\n  occurrence = 1\n  to = \"age\"\n"),
            "{help}"
        );
        assert!(
            help.contains("  [[rename]]\n  from = \"age\"\n  occurrence = 2\n  to = \"age_2\"\n"),
            "{help}"
        );
        assert!(help.contains("`ignore = [\"age\"]`"), "{help}");
        // The TOML it shows works: with it (and the spare column ignored), the file fits.
        let fixed = contract(
            "ignore = ['age']",
            "[[rename]]\nfrom = \"age\"\noccurrence = 1\nto = \"age\"\n",
        )
        .expect("contract");
        let (map, ok) = fixed.map_header(&header("age,credit_amount,co_age,age"), &[]);
        ok.expect("fits");
        assert_eq!(map.source, [Some(0), Some(1), Some(2)]);
        assert_eq!(map.ignored[0].position, 4);
    }

    #[test]
    fn missing_optional_and_out_of_order_columns() {
        let c = contract("", "").expect("contract");
        let (map, ok) = c.map_header(&header("age,credit_amount"), &[2]);
        ok.expect("optional");
        assert_eq!(map.source, [Some(0), Some(1), None]);
        let (_, bad) = c.map_header(&header("age,credit_amount"), &[]);
        assert_eq!(
            bad.expect_err("missing").problems,
            ["missing columns: co_age"]
        );
        let (_, bad) = c.map_header(&header("credit_amount,age,co_age"), &[]);
        assert_eq!(
            bad.expect_err("order").problems,
            [
                "columns out of order: expected age,credit_amount,co_age, found credit_amount,age,co_age"
            ]
        );
        let renamed =
            contract("", "[[rename]]\nfrom='amount'\nto='credit_amount'\n").expect("contract");
        let (_, bad) = renamed.map_header(&header("age,co_age"), &[]);
        assert_eq!(
            bad.expect_err("missing").problems,
            ["missing columns: credit_amount (read from \"amount\", which the header lacks)"]
        );
    }

    #[test]
    fn header_names_from_the_file_are_escaped() {
        let c = contract("ignore_unlisted = true", "").expect("contract");
        let (map, ok) = c.map_header(&header("age,credit_amount,co_age,\u{1b}[2Jx"), &[]);
        ok.expect("fits");
        assert_eq!(map.ignored[0].name, "\\u{1b}[2Jx");
        let plain = contract("", "").expect("contract");
        let (_, bad) = plain.map_header(&header("age,credit_amount,co_age,a\nb"), &[]);
        let bad = bad.expect_err("extra");
        assert!(bad.problems[0].contains("a\\nb"), "{bad:?}");
    }
}
