//! Checking a file against its contract at ingest: every cell (type,
//! missing, range, category, field count), key uniqueness, and the
//! dataset-wide expectations (null rate, distinct count, distribution
//! drift), while the profile is computed in the same pass. Violations are
//! tallied per rule: the first [`LISTED_PER_RULE`] of each are located
//! (row, line, column, expected, found), the rest counted. Offending rows
//! can be written to a quarantine file for the data owner.
//!
//! The core writes no file: offending rows go to a [`QuarantineSink`] and
//! key runs past [`KEY_RUN`] rows to a [`KeySpill`], both the caller's (the
//! appliance's are files, `airlock::ops::ingest::quarantine`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;

use serde::Serialize;

pub use crate::contract::Rule;
use crate::contract::{CellError, Contract, CsvRecord, CsvRows, Value, ValueRef};
use crate::error::{Error, Result};
use crate::profile::{DriftResult, Profile, Profiler};
use crate::sketch::hash128;
use crate::text::Untrusted;

/// How many violations of each rule a report locates before it only counts.
pub const LISTED_PER_RULE: usize = 5;

/// One broken rule, located.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    /// The rule.
    pub rule: Rule,
    /// Data row, from 1 (a header is not a row); `None` for rules over the
    /// whole file.
    pub row: Option<u64>,
    /// Line in the file, from 1, where the format has lines.
    pub line: Option<u64>,
    /// The column (several for a key), or `*` for the whole row.
    pub column: String,
    /// What the contract wants.
    pub expected: String,
    /// What the file has.
    pub found: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] ", self.rule.name())?;
        match (self.row, self.line) {
            (Some(r), Some(l)) => write!(f, "row {r} (line {l}), ")?,
            (Some(r), None) => write!(f, "row {r}, ")?,
            _ => {}
        }
        write!(
            f,
            "column {:?}: expected {}, found {}",
            self.column,
            Untrusted(&self.expected),
            Untrusted(&self.found)
        )
    }
}

/// A cell's violation, located.
pub fn cell_violation(c: &Contract, row: u64, line: u64, idx: usize, e: CellError) -> Violation {
    Violation {
        rule: e.0,
        row: Some(row),
        line: (line > 0).then_some(line),
        column: c.columns[idx].name.clone(),
        expected: e.1,
        found: e.2,
    }
}

/// A row with `found` fields instead of the file's `expected` number (its
/// header's, or the contract's without a header).
pub fn fields_violation(row: u64, line: u64, expected: usize, found: usize) -> Violation {
    Violation {
        rule: Rule::Fields,
        row: Some(row),
        line: (line > 0).then_some(line),
        column: "*".into(),
        expected: format!("{expected} fields"),
        found: format!("{found} fields"),
    }
}

/// A NUL byte in an ignored column's cell (see [`CsvRecord::ignored_nul`]).
pub fn ignored_nul_violation(r: &CsvRecord<'_>) -> Option<Violation> {
    let (column, cell) = r.ignored_nul?;
    Some(Violation {
        rule: Rule::Type,
        row: Some(r.row),
        line: (r.line > 0).then_some(r.line),
        column: format!("{column} (ignored)"),
        expected: "a value without NUL bytes, even in an ignored column".into(),
        found: crate::contract::show(cell),
    })
}

/// Violations per rule: counts, and the first few located.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Tally {
    rules: BTreeMap<Rule, (u64, Vec<Violation>)>,
    /// Columns whose every value failed to parse: the file's type for them
    /// has changed.
    changed: Vec<String>,
}

impl Tally {
    /// Records a violation.
    pub fn add(&mut self, v: Violation) {
        let (n, listed) = self.rules.entry(v.rule).or_default();
        *n += 1;
        if listed.len() < LISTED_PER_RULE {
            listed.push(v);
        }
    }

    /// Counts `n` more violations of `rule` without locating them.
    pub fn count_more(&mut self, rule: Rule, n: u64) {
        if n > 0 {
            self.rules.entry(rule).or_default().0 += n;
        }
    }

    /// All violations counted.
    pub fn total(&self) -> u64 {
        self.rules.values().map(|(n, _)| n).sum()
    }

    /// Counts per rule, by rule name.
    pub fn counts(&self) -> BTreeMap<&'static str, u64> {
        self.rules
            .iter()
            .map(|(r, (n, _))| (r.name(), *n))
            .collect()
    }

    /// The refusal message: totals per rule, then each rule's located
    /// violations and how many more there were.
    pub fn report(&self, c: &Contract, source: &str) -> String {
        let total = self.total();
        let per: Vec<String> = self
            .rules
            .iter()
            .map(|(r, (n, _))| format!("{} {n}", r.name()))
            .collect();
        let mut msg = format!(
            "{} breaks contract {} v{}: {total} violation{} ({}); nothing was stored",
            Untrusted(source),
            c.name,
            c.version,
            if total == 1 { "" } else { "s" },
            per.join(", ")
        );
        if !self.changed.is_empty() {
            msg.push_str(&format!(
                "\n  changed types (every value fails): {}",
                Untrusted(&self.changed.join(", "))
            ));
        }
        for (rule, (n, listed)) in &self.rules {
            for v in listed {
                msg.push_str(&format!("\n  {v}"));
            }
            if *n > listed.len() as u64 {
                msg.push_str(&format!(
                    "\n  ... and {} more {} violations",
                    n - listed.len() as u64,
                    rule.name()
                ));
            }
        }
        msg
    }
}

impl Contract {
    /// Reads a CSV file (in the contract's dialect), checking every cell.
    /// Returns the typed rows, or `Error::Rejected` listing the violations.
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

    /// Checks a CSV file cell by cell in bounded memory, handing each valid
    /// row to `sink` while no violation has been seen. Returns the number
    /// of rows, or `Error::Rejected` listing the violations. Dataset-wide
    /// rules (keys, null rates, drift) are checked at ingest only.
    pub fn scan_csv(
        &self,
        input: impl Read,
        source: &str,
        sink: &mut dyn FnMut(u64, Vec<Value>),
    ) -> Result<u64> {
        self.scan_csv_rows(input, source, &mut |n, row| sink(n, row.to_vec()))
    }

    /// [`Contract::scan_csv`] lending each row instead of giving it: one
    /// row buffer, its text cells included, is reused from row to row, so
    /// a stream that does not keep rows allocates nothing per row.
    pub fn scan_csv_rows(
        &self,
        input: impl Read,
        source: &str,
        sink: &mut dyn FnMut(u64, &[Value]),
    ) -> Result<u64> {
        let mut rows = CsvRows::open(self, input, source)?;
        let mut tally = Tally::default();
        let mut row: Vec<Value> = Vec::with_capacity(self.columns.len());
        while let Some(r) = rows.next_record()? {
            let (n, line) = (r.row, r.line);
            let Some(rec) = r.cells else {
                tally.add(fields_violation(n, line, r.width, r.raw.len()));
                continue;
            };
            if let Some(v) = ignored_nul_violation(&r) {
                tally.add(v);
            }
            let width = self.fill_row(rec, &mut row, 0, |idx, e| {
                tally.add(cell_violation(self, n, line, idx, e));
            });
            row.truncate(width);
            if tally.total() == 0 {
                sink(n, &row);
            }
        }
        if tally.total() > 0 {
            return Err(Error::Rejected(tally.report(self, source)));
        }
        if rows.rows() == 0 {
            return Err(Error::Data(crate::error::DataError::NoDataRows {
                file: source.to_owned(),
            }));
        }
        Ok(rows.rows())
    }
}
/// Where a [`Checker`] writes offending rows for the data owner: the row and
/// line numbers, the problems, then the row's cells as they were read. The
/// appliance's quarantine file implements it; the core writes no file.
pub trait QuarantineSink {
    /// Adds an offending row.
    fn add(&mut self, row: u64, line: u64, problems: &str, cells: &[&str]) -> Result<()>;
}

/// One row's key: (128-bit hash, row, line).
pub type KeyEntry = (u128, u64, u64);

/// Key entries held in memory before a sorted run is spilled:
/// 2^21 entries, 64 MiB.
pub const KEY_RUN: usize = 1 << 21;

/// Where a [`Checker`] keeps the sorted runs of row keys that do not fit in
/// memory (past [`KEY_RUN`] rows). The appliance spills them to anonymous
/// temporary files; [`MemorySpill`] keeps them in memory.
pub trait KeySpill {
    /// Stores one run, sorted, as the next run.
    fn write_run(&mut self, run: &[KeyEntry]) -> Result<()>;
    /// How many runs are stored.
    fn runs(&self) -> usize;
    /// The next entry of run `run`, in the order written; `None` at its end.
    fn next(&mut self, run: usize) -> Result<Option<KeyEntry>>;
}

/// Runs kept in memory: for small inputs and tests.
#[derive(Debug, Default)]
pub struct MemorySpill {
    /// Each run and how far it has been read.
    runs: Vec<(Vec<KeyEntry>, usize)>,
}

impl KeySpill for MemorySpill {
    fn write_run(&mut self, run: &[KeyEntry]) -> Result<()> {
        self.runs.push((run.to_vec(), 0));
        Ok(())
    }
    fn runs(&self) -> usize {
        self.runs.len()
    }
    fn next(&mut self, run: usize) -> Result<Option<KeyEntry>> {
        Ok(self.runs.get_mut(run).and_then(|(entries, at)| {
            let e = entries.get(*at).copied();
            *at += 1;
            e
        }))
    }
}

/// The key of every row, in bounded memory: runs of [`KEY_RUN`] entries are
/// sorted and spilled, then merged.
struct KeyLog<'s> {
    buf: Vec<KeyEntry>,
    spill: Box<dyn KeySpill + 's>,
}

impl<'s> KeyLog<'s> {
    fn new(spill: Box<dyn KeySpill + 's>) -> Self {
        KeyLog {
            buf: Vec::new(),
            spill,
        }
    }

    fn push(&mut self, e: KeyEntry) -> Result<()> {
        self.buf.push(e);
        if self.buf.len() >= KEY_RUN {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> Result<()> {
        self.buf.sort_unstable();
        self.spill.write_run(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    /// Every entry, in (hash, row, line) order.
    fn for_each_sorted(mut self, each: &mut dyn FnMut(KeyEntry)) -> Result<()> {
        use std::cmp::Reverse;
        self.buf.sort_unstable();
        let runs = self.spill.runs();
        if runs == 0 {
            self.buf.into_iter().for_each(each);
            return Ok(());
        }
        let mut heap = std::collections::BinaryHeap::new();
        for i in 0..runs {
            if let Some(e) = self.spill.next(i)? {
                heap.push(Reverse((e, i)));
            }
        }
        let mut memory = self.buf.into_iter().peekable();
        loop {
            let from_disk = heap.peek().map(|Reverse((e, _))| *e);
            let take_disk = match (from_disk, memory.peek()) {
                (None, None) => return Ok(()),
                (Some(d), Some(m)) => d <= *m,
                (Some(_), None) => true,
                (None, Some(_)) => false,
            };
            if take_disk {
                if let Some(Reverse((e, i))) = heap.pop() {
                    each(e);
                    if let Some(n) = self.spill.next(i)? {
                        heap.push(Reverse((n, i)));
                    }
                }
            } else if let Some(m) = memory.next() {
                each(m);
            }
        }
    }
}

/// What a check found: the profile (valid only when nothing was violated),
/// the drift checks, the violations, and the rows whose key repeated an
/// earlier row's (for the quarantine file).
pub struct Checked {
    /// Data rows.
    pub rows: u64,
    /// The file's profile.
    pub profile: Profile,
    /// Every drift check, measured or skipped.
    pub drift: Vec<DriftResult>,
    /// The violations.
    pub tally: Tally,
    /// Rows whose key repeats an earlier row's.
    pub duplicate_rows: BTreeSet<u64>,
}

/// Checks rows against a contract and profiles them, in one pass.
pub struct Checker<'c, Q> {
    contract: &'c Contract,
    tally: Tally,
    profiler: Profiler,
    key_cols: Vec<usize>,
    /// (key hash, row, line) of every row with a whole key.
    keys: KeyLog<'c>,
    quarantine: Option<Q>,
    /// Starts with a random salt: the key hashes spilled to disk must not
    /// be a dictionary of the key values (national ids, say).
    key_buf: Vec<u8>,
    salt: [u8; 16],
    /// Type failures per column.
    type_fail: Vec<u64>,
    /// Rows already in the quarantine file.
    quarantined: BTreeSet<u64>,
}

impl<'c, Q: QuarantineSink> Checker<'c, Q> {
    /// A checker for `contract`. `reference` is the profile drift checks
    /// compare against; offending rows go to `quarantine`, if any; row keys
    /// past [`KEY_RUN`] rows go to `spill`. `salt` (random, from the caller)
    /// starts every key hash.
    pub fn new(
        contract: &'c Contract,
        reference: Option<Profile>,
        quarantine: Option<Q>,
        spill: Box<dyn KeySpill + 'c>,
        salt: [u8; 16],
    ) -> Self {
        let key_cols = contract
            .key
            .iter()
            .flatten()
            .filter_map(|k| contract.index_of(k))
            .collect();
        Checker {
            contract,
            tally: Tally::default(),
            profiler: Profiler::new(contract, reference),
            key_cols,
            keys: KeyLog::new(spill),
            quarantine,
            key_buf: Vec::new(),
            salt,
            type_fail: vec![0; contract.columns.len()],
            quarantined: BTreeSet::new(),
        }
    }

    /// Checks one CSV record (its cells in contract order; a record with
    /// the wrong number of fields goes to the quarantine file as it was).
    pub fn csv_record(&mut self, r: &CsvRecord<'_>) -> Result<()> {
        let c = self.contract;
        let (row, line) = (r.row, r.line);
        let Some(rec) = r.cells else {
            let v = fields_violation(row, line, r.width, r.raw.len());
            let problem = format!("{}: expected {}, found {}", v.column, v.expected, v.found);
            self.tally.add(v);
            if let Some(q) = &mut self.quarantine {
                q.add(row, line, &problem, &r.raw.iter().collect::<Vec<_>>())?;
                self.quarantined.insert(row);
            }
            return Ok(());
        };
        let cells: Vec<std::result::Result<ValueRef<'_>, CellError>> = rec
            .iter()
            .enumerate()
            .map(|(i, cell)| c.parse_ref(i, cell))
            .collect();
        self.cells(row, line, &cells, ignored_nul_violation(r), &|| {
            rec.iter().map(str::to_string).collect()
        })
    }

    /// Checks one row of typed cells (Parquet); `raw` renders the row for
    /// the quarantine file.
    pub fn typed_row(
        &mut self,
        row: u64,
        cells: &[std::result::Result<Value, CellError>],
        raw: &dyn Fn() -> Vec<String>,
    ) -> Result<()> {
        let refs: Vec<std::result::Result<ValueRef<'_>, CellError>> = cells
            .iter()
            .map(|r| match r {
                Ok(v) => Ok(v.as_ref()),
                Err(e) => Err(e.clone()),
            })
            .collect();
        self.cells(row, 0, &refs, None, raw)
    }

    /// Checks and profiles a row's typed cells; `extra` is a violation of
    /// the row found before (a NUL byte in an ignored cell).
    fn cells(
        &mut self,
        row: u64,
        line: u64,
        cells: &[std::result::Result<ValueRef<'_>, CellError>],
        extra: Option<Violation>,
        raw: &dyn Fn() -> Vec<String>,
    ) -> Result<()> {
        let c = self.contract;
        self.profiler.row();
        let mut problems = Vec::new();
        if let Some(v) = extra {
            problems.push(format!(
                "{}: expected {}, found {}",
                v.column, v.expected, v.found
            ));
            self.tally.add(v);
        }
        for (idx, cell) in cells.iter().enumerate() {
            match cell {
                Ok(v) => self.profiler.cell(idx, *v),
                Err(e) => {
                    if e.0 == Rule::Type {
                        self.type_fail[idx] += 1;
                    }
                    let v = cell_violation(c, row, line, idx, e.clone());
                    if self.quarantine.is_some() {
                        problems.push(format!(
                            "{}: expected {}, found {}",
                            v.column, v.expected, v.found
                        ));
                    }
                    self.tally.add(v);
                }
            }
        }
        if !self.key_cols.is_empty() {
            self.key_buf.clear();
            self.key_buf.extend_from_slice(&self.salt);
            let mut whole = true;
            for &k in &self.key_cols {
                match &cells[k] {
                    Ok(v) => {
                        self.key_buf.extend_from_slice(v.canonical().as_bytes());
                        self.key_buf.push(0x1f);
                    }
                    Err(_) => whole = false,
                }
            }
            if whole {
                self.keys.push((hash128(&self.key_buf), row, line))?;
            }
        }
        if !problems.is_empty()
            && let Some(q) = &mut self.quarantine
        {
            let cells = raw();
            let refs: Vec<&str> = cells.iter().map(String::as_str).collect();
            q.add(row, line, &problems.join("; "), &refs)?;
            self.quarantined.insert(row);
        }
        Ok(())
    }

    /// Checks the rules over the whole file and hands back what was found,
    /// with the quarantine file (still to be finished or dropped).
    pub fn finish(mut self) -> Result<(Checked, Option<Q>)> {
        let c = self.contract;
        let mut duplicate_rows = BTreeSet::new();
        if !self.key_cols.is_empty() {
            let key_name = c
                .key
                .iter()
                .flatten()
                .cloned()
                .collect::<Vec<_>>()
                .join(",");
            let keys = self.keys;
            // Sorted by (hash, row): the first of equal hashes is the
            // earliest row, and every repeat points at it.
            let mut first: Option<(u128, u64, u64)> = None;
            // The earliest repeats (by row) are listed, the rest counted;
            // their row numbers are kept only for a quarantine file.
            let mut listed = std::collections::BinaryHeap::new();
            let mut count = 0u64;
            let want_rows = self.quarantine.is_some();
            keys.for_each_sorted(&mut |(h, r, l)| match first {
                Some((fh, rf, lf)) if fh == h => {
                    count += 1;
                    listed.push((r, l, rf, lf));
                    if listed.len() > LISTED_PER_RULE {
                        listed.pop();
                    }
                    if want_rows {
                        duplicate_rows.insert(r);
                    }
                }
                _ => first = Some((h, r, l)),
            })?;
            for (r1, l1, rf, lf) in listed.into_sorted_vec() {
                self.tally.add(Violation {
                    rule: Rule::Key,
                    row: Some(r1),
                    line: (l1 > 0).then_some(l1),
                    column: key_name.clone(),
                    expected: format!("a unique key ({key_name})"),
                    found: if lf > 0 {
                        format!("the same key as row {rf} (line {lf})")
                    } else {
                        format!("the same key as row {rf}")
                    },
                });
            }
            self.tally
                .count_more(Rule::Key, count.saturating_sub(LISTED_PER_RULE as u64));
        }
        // A row already quarantined for its cells is not written twice.
        duplicate_rows.retain(|r| !self.quarantined.contains(r));
        let (profile, drift) = self.profiler.finish(c);
        for (col, (fails, p)) in c
            .columns
            .iter()
            .zip(self.type_fail.iter().zip(&profile.columns))
        {
            if *fails > 0 && *fails + p.nulls == profile.rows {
                self.tally
                    .changed
                    .push(format!("{} (contract {})", col.name, col.ty.name()));
            }
        }
        for (col, p) in c.columns.iter().zip(&profile.columns) {
            if let Some(max) = col.max_null_rate
                && p.null_rate > max
            {
                self.tally.add(Violation {
                    rule: Rule::NullRate,
                    row: None,
                    line: None,
                    column: col.name.clone(),
                    expected: format!("at most {max} of rows missing"),
                    found: format!("{:.4} ({} of {} rows)", p.null_rate, p.nulls, profile.rows),
                });
            }
            let about = if p.distinct_exact { "" } else { "about " };
            let bounds = (col.distinct_min, col.distinct_max);
            let outside = bounds.0.is_some_and(|lo| p.distinct < lo)
                || bounds.1.is_some_and(|hi| p.distinct > hi);
            if outside {
                let expected = match bounds {
                    (Some(lo), Some(hi)) => format!("between {lo} and {hi} distinct values"),
                    (Some(lo), None) => format!("at least {lo} distinct values"),
                    (_, hi) => format!("at most {} distinct values", hi.unwrap_or(0)),
                };
                self.tally.add(Violation {
                    rule: Rule::Distinct,
                    row: None,
                    line: None,
                    column: col.name.clone(),
                    expected,
                    found: format!("{about}{}", p.distinct),
                });
            }
        }
        for d in drift.iter().filter(|d| d.failed()) {
            self.tally.add(Violation {
                rule: Rule::Drift,
                row: None,
                line: None,
                column: d.column.clone(),
                expected: format!(
                    "{} at most {} against reference {}",
                    d.metric.name(),
                    d.threshold,
                    c.reference.as_deref().unwrap_or("?")
                ),
                found: format!("{:.4}", d.value.unwrap_or(0.0)),
            });
        }
        Ok((
            Checked {
                rows: profile.rows,
                profile,
                drift,
                tally: self.tally,
                duplicate_rows,
            },
            self.quarantine,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_key_runs_merge_in_order_and_lose_nothing() {
        let mut log = KeyLog::new(Box::new(MemorySpill::default()));
        let mut rng = crate::sketch::SplitMix(9);
        let mut all = Vec::new();
        for i in 0..3000u64 {
            let e = (u128::from(rng.below(500)), i + 1, i + 2);
            all.push(e);
            log.push(e).expect("push");
            if i % 1000 == 999 {
                log.spill().expect("spill");
            }
        }
        log.push((7, 9999, 0)).expect("push");
        all.push((7, 9999, 0));
        assert_eq!(log.spill.runs(), 3);
        let mut got = Vec::new();
        log.for_each_sorted(&mut |e| got.push(e)).expect("merge");
        all.sort_unstable();
        assert_eq!(got, all);
    }

    /// The lent row reuses its text buffers: a long text then a short one
    /// (and a missing cell where text was) must not leave old bytes or old
    /// values behind, and the rows equal the owned ones of `scan_csv`.
    #[test]
    fn lent_rows_equal_owned_rows_when_buffers_are_reused() {
        let contract = Contract::from_toml(
            "name = \"t\"\nversion = 1\n\
             [[columns]]\nname = \"id\"\ntype = \"string\"\n\
             [[columns]]\nname = \"note\"\ntype = \"string\"\nnullable = true\n\
             [[columns]]\nname = \"x\"\ntype = \"float\"\nnullable = true\n",
            "t.toml",
        )
        .expect("contract");
        let csv = "id,note,x\na-long-identifier,a long note here,1.5\nb,short,\nc,,2\nd,x,3\n";
        let mut owned = Vec::new();
        contract
            .scan_csv(csv.as_bytes(), "t.csv", &mut |n, row| owned.push((n, row)))
            .expect("owned scan");
        let mut lent = Vec::new();
        contract
            .scan_csv_rows(csv.as_bytes(), "t.csv", &mut |n, row| {
                lent.push((n, row.to_vec()));
            })
            .expect("lent scan");
        assert_eq!(lent, owned);
        assert_eq!(
            lent[1].1,
            [
                Value::Text("b".into()),
                Value::Text("short".into()),
                Value::Null
            ]
        );
        assert_eq!(lent[2].1[1], Value::Null);
        assert_eq!(lent[3].1[1], Value::Text("x".into()));
        // A violation still rejects the scan, naming the cell.
        let bad = "id,note,x\na,b,not-a-number\n";
        let err = contract
            .scan_csv_rows(bad.as_bytes(), "bad.csv", &mut |_, _| {})
            .expect_err("rejected");
        assert!(err.to_string().contains("bad.csv"), "{err}");
    }
}
