//! Drift: how far current data has moved from a reference dataset, feature by feature, with
//! the sample size in mind, in bounded and mergeable summaries.
//!
//! **The rule** ([`DriftPolicy`], defaults after Evidently's `DataDriftPreset`; see
//! `docs/monitoring.md` for the sources and where NannyML differs):
//!
//! - When either side has at most [`DriftPolicy::small_rows`] (1000) non-missing values, a
//!   test with a p-value: the two-sample Kolmogorov–Smirnov test for numbers, Pearson's
//!   chi-squared test of homogeneity for categories. Drift when p < [`DriftPolicy::alpha`]
//!   (0.05).
//! - Above that, a distance: for numbers the Wasserstein-1 distance divided by the
//!   reference's standard deviation, for categories the Jensen–Shannon distance (natural
//!   logarithm), each drifting at 0.1 or more; the population stability index can replace
//!   either ([`DriftPolicy::numeric`], [`DriftPolicy::categorical`]).
//! - A numeric column with at most [`DriftPolicy::few_values`] (5) distinct values over both
//!   sides is compared as categories.
//! - Key, entity and event time columns are not features, and free-text columns are not
//!   compared (a category column is).
//!
//! **The summaries.** A reference column is a [`NumSummary`] (numbers, stored with the
//! dataset's profile at ingest) or a [`CatSummary`] (categories, from the profile's value
//! counts). Current data goes into a [`Sketch`] laid out on the reference: bounded whatever
//! its size ([`numeric`], [`categorical`] say how much), and two sketches of the same
//! reference [`merge`](Sketch::merge), so per-window sketches add up. [`compare`] turns a
//! sketch into one [`DriftReport`] per feature.
//!
//! **Exactness.** Categories are exact. Numbers are exact while the reference has at most
//! [`numeric::POINTS`] distinct values and the current side at most
//! [`numeric::EXACT_VALUES`]; otherwise each report carries `error_bound`, the most its value
//! can differ from the statistic on the full data (see [`numeric`] for why it holds).

pub mod categorical;
pub mod numeric;
pub mod stats;

use serde::{Deserialize, Serialize};

pub use categorical::{CatCurrent, CatSummary};
pub use numeric::{Cells, Layout, NumBuilder, NumCurrent, NumSummary};

use crate::contract::{ColumnType, Contract, ValueRef};
use crate::error::{Error, Result};

/// A drift measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Two-sample Kolmogorov–Smirnov test (value: the statistic D).
    Ks,
    /// Pearson's chi-squared test of homogeneity (value: the statistic).
    ChiSquared,
    /// Wasserstein-1 distance divided by the reference's standard deviation.
    Wasserstein,
    /// Jensen–Shannon distance, natural logarithm (0 to about 0.833).
    JensenShannon,
    /// Population stability index.
    Psi,
}

impl Measure {
    /// The measure's name, as in JSON and policies.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Ks => "ks",
            Measure::ChiSquared => "chi_squared",
            Measure::Wasserstein => "wasserstein",
            Measure::JensenShannon => "jensen_shannon",
            Measure::Psi => "psi",
        }
    }

    /// True for the tests (judged by their p-value).
    pub fn is_test(self) -> bool {
        matches!(self, Measure::Ks | Measure::ChiSquared)
    }
}

/// A feature's verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The measure is past its threshold.
    Drift,
    /// It is not.
    NoDrift,
    /// Not measured; the report's note says why.
    NotChecked,
}

/// Which measure applies when, and their thresholds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DriftPolicy {
    /// At or below this many non-missing values on either side, a feature is tested (KS or
    /// chi-squared); above, measured by a distance. Evidently: 1000, counting the reference
    /// only.
    pub small_rows: u64,
    /// A test finds drift when its p-value is below this. Evidently: 0.05.
    pub alpha: f64,
    /// The distance for numbers: `wasserstein`, `psi` or `jensen_shannon`.
    pub numeric: Measure,
    /// The distance for categories: `jensen_shannon` or `psi`.
    pub categorical: Measure,
    /// Drift at or above this normed Wasserstein distance. Evidently: 0.1.
    pub wasserstein: f64,
    /// Drift at or above this Jensen–Shannon distance. Evidently and NannyML: 0.1.
    pub jensen_shannon: f64,
    /// Drift at or above this PSI. Evidently: 0.1.
    pub psi: f64,
    /// Numeric columns with at most this many distinct values (both sides together) are
    /// compared as categories. Evidently: 5.
    pub few_values: u64,
    /// Bins of about equal reference mass for PSI and Jensen–Shannon on numbers.
    pub bins: usize,
}

impl Default for DriftPolicy {
    fn default() -> Self {
        DriftPolicy {
            small_rows: 1000,
            alpha: 0.05,
            numeric: Measure::Wasserstein,
            categorical: Measure::JensenShannon,
            wasserstein: 0.1,
            jensen_shannon: 0.1,
            psi: 0.1,
            few_values: 5,
            bins: 10,
        }
    }
}

impl DriftPolicy {
    /// Reads a policy from TOML (every field optional; unknown fields refused).
    pub fn from_toml(text: &str, source: &str) -> Result<Self> {
        let p: DriftPolicy = toml::from_str(text).map_err(|e| {
            Error::Rejected(format!(
                "drift policy {}: {}",
                crate::text::Untrusted(source),
                crate::text::Untrusted(&e.to_string())
            ))
        })?;
        p.check(source)?;
        Ok(p)
    }

    /// Checks the values are usable.
    pub fn check(&self, source: &str) -> Result<()> {
        let bad = |what: String| {
            Err(Error::Rejected(format!(
                "drift policy {}: {what}",
                crate::text::Untrusted(source)
            )))
        };
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return bad(format!(
                "alpha must be between 0 and 1, found {}",
                self.alpha
            ));
        }
        for (name, t) in [
            ("wasserstein", self.wasserstein),
            ("jensen_shannon", self.jensen_shannon),
            ("psi", self.psi),
        ] {
            if !(t.is_finite() && t > 0.0) {
                return bad(format!("{name} must be a positive number, found {t}"));
            }
        }
        if !matches!(
            self.numeric,
            Measure::Wasserstein | Measure::Psi | Measure::JensenShannon
        ) {
            return bad(format!(
                "numeric must be wasserstein, psi or jensen_shannon, found {}",
                self.numeric.name()
            ));
        }
        if !matches!(self.categorical, Measure::JensenShannon | Measure::Psi) {
            return bad(format!(
                "categorical must be jensen_shannon or psi, found {}",
                self.categorical.name()
            ));
        }
        if !(2..=100).contains(&self.bins) {
            return bad(format!("bins must be from 2 to 100, found {}", self.bins));
        }
        if self.few_values > 64 {
            return bad(format!(
                "few_values must be at most 64, found {}",
                self.few_values
            ));
        }
        Ok(())
    }

    /// The threshold of a distance.
    pub fn threshold(&self, m: Measure) -> f64 {
        match m {
            Measure::Ks | Measure::ChiSquared => self.alpha,
            Measure::Wasserstein => self.wasserstein,
            Measure::JensenShannon => self.jensen_shannon,
            Measure::Psi => self.psi,
        }
    }
}

/// One feature's drift.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftReport {
    /// The column.
    pub column: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ColumnType,
    /// The measure (none when not checked).
    pub measure: Option<Measure>,
    /// Its value: the statistic of a test (D, χ²), or the distance.
    pub value: Option<f64>,
    /// The threshold: the p-value limit of a test, the distance's limit.
    pub threshold: Option<f64>,
    /// The p-value, for a test.
    pub p_value: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
    /// Non-missing reference values.
    pub reference_rows: u64,
    /// Non-missing current values.
    pub current_rows: u64,
    /// Missing reference values.
    pub reference_missing: u64,
    /// Missing current values.
    pub current_missing: u64,
    /// How far `value` can be from the statistic on the full data (0 when exact).
    pub error_bound: f64,
    /// Why it was not checked, or how the value was approximated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A reference column, ready to compare against.
#[derive(Clone, Debug)]
enum RefKind {
    Numeric { summary: NumSummary, layout: Layout },
    Category(CatSummary),
    Skipped(String),
}

#[derive(Clone, Debug)]
struct RefColumn {
    name: String,
    ty: ColumnType,
    count: u64,
    missing: u64,
    kind: RefKind,
}

/// A reference dataset's per-column summaries, laid out for counting current data.
#[derive(Clone, Debug)]
pub struct Reference {
    rows: u64,
    columns: Vec<RefColumn>,
}

/// Why a column of `contract` is not compared at all (a key, the entity, the event time), or
/// `None` for a feature.
pub fn not_a_feature(contract: &Contract, name: &str) -> Option<String> {
    if contract.key.iter().flatten().any(|k| k == name) {
        Some("a key column (unique per row, so not a distribution)".into())
    } else if contract.entity.as_deref() == Some(name) {
        Some("the entity column".into())
    } else if contract.event_time.as_deref() == Some(name) {
        Some("the event time column (new data is always later)".into())
    } else {
        None
    }
}

/// What a reference knows of one column (from its profile: `Profile::drift_reference`).
#[derive(Clone, Debug)]
pub struct ColumnReference {
    /// Non-missing values.
    pub count: u64,
    /// Missing values.
    pub missing: u64,
    /// Its distribution.
    pub summary: Summary,
}

/// A reference column's distribution.
#[derive(Clone, Debug)]
pub enum Summary {
    /// Numbers.
    Numbers(NumSummary),
    /// Categories or free text.
    Categories(CatSummary),
    /// A numeric column whose profile keeps no summary (made before summaries were kept).
    Missing,
    /// A numeric column whose values cannot be summarised, and why.
    Unmeasurable(String),
}

impl Reference {
    /// The reference of a dataset checked against `contract`: `rows` rows, one
    /// [`ColumnReference`] per contract column.
    pub fn new(contract: &Contract, rows: u64, parts: Vec<ColumnReference>) -> Result<Reference> {
        if parts.len() != contract.columns.len() {
            return Err(Error::Integrity(format!(
                "the reference has {} columns, contract {} v{} has {}",
                parts.len(),
                contract.name,
                contract.version,
                contract.columns.len()
            )));
        }
        let mut columns = Vec::with_capacity(parts.len());
        for (c, p) in contract.columns.iter().zip(parts) {
            let kind = if let Some(why) = not_a_feature(contract, &c.name) {
                RefKind::Skipped(why)
            } else if c.ty == ColumnType::String {
                RefKind::Skipped(
                    "free text (declare it a category column to compare its values)".into(),
                )
            } else if p.count == 0 {
                RefKind::Skipped("the reference has no values in this column".into())
            } else {
                match p.summary {
                    Summary::Numbers(s) if c.ty.is_numeric() => {
                        s.check(&c.name)?;
                        RefKind::Numeric {
                            layout: s.layout(),
                            summary: s,
                        }
                    }
                    Summary::Categories(s) if !c.ty.is_numeric() => RefKind::Category(s),
                    Summary::Unmeasurable(why) => RefKind::Skipped(why),
                    Summary::Missing => {
                        return Err(Error::Rejected(format!(
                            "the reference profile keeps no summary of column {:?}: profile the reference again",
                            c.name
                        )));
                    }
                    _ => {
                        return Err(Error::Integrity(format!(
                            "the reference summary of column {:?} is not of its type {}",
                            c.name,
                            c.ty.name()
                        )));
                    }
                }
            };
            columns.push(RefColumn {
                name: c.name.clone(),
                ty: c.ty,
                count: p.count,
                missing: p.missing,
                kind,
            });
        }
        Ok(Reference { rows, columns })
    }

    /// Reference rows.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// An empty sketch of current data for this reference.
    pub fn sketch(&self) -> Sketch {
        Sketch {
            rows: 0,
            missing: vec![0; self.columns.len()],
            columns: self
                .columns
                .iter()
                .map(|c| match &c.kind {
                    RefKind::Numeric { .. } => ColumnSketch::Numeric(NumCurrent::default()),
                    RefKind::Category(s) => ColumnSketch::Category(CatCurrent::new(s)),
                    RefKind::Skipped(_) => ColumnSketch::Skipped,
                })
                .collect(),
        }
    }
}

/// One column of a [`Sketch`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum ColumnSketch {
    Numeric(NumCurrent),
    Category(CatCurrent),
    Skipped,
}

/// Current data summarised against a [`Reference`]: bounded, and mergeable with another
/// sketch of the same reference.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sketch {
    rows: u64,
    missing: Vec<u64>,
    columns: Vec<ColumnSketch>,
}

impl Sketch {
    /// Counts a row (once per row, with its cells given by [`Sketch::cell`]).
    pub fn row(&mut self) {
        self.rows += 1;
    }

    /// Rows counted.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Adds column `idx`'s cell of the current row, parsed and checked by the contract.
    pub fn cell(&mut self, reference: &Reference, idx: usize, v: ValueRef<'_>) {
        let (Some(col), Some(r)) = (self.columns.get_mut(idx), reference.columns.get(idx)) else {
            return;
        };
        match (col, &r.kind, v) {
            (_, _, ValueRef::Null) => self.missing[idx] += 1,
            (ColumnSketch::Numeric(n), RefKind::Numeric { layout, .. }, v) => {
                if let Some(x) = v.as_f64() {
                    n.add(layout, x);
                }
            }
            (ColumnSketch::Category(c), RefKind::Category(s), ValueRef::Text(t)) => c.add(s, t),
            _ => {}
        }
    }

    /// Adds `other`, a sketch of the same reference.
    pub fn merge(&mut self, reference: &Reference, other: &Sketch) -> Result<()> {
        if other.columns.len() != self.columns.len()
            || reference.columns.len() != self.columns.len()
        {
            return Err(Error::Rejected(
                "the sketches are of different references".into(),
            ));
        }
        for ((a, b), r) in self
            .columns
            .iter_mut()
            .zip(&other.columns)
            .zip(&reference.columns)
        {
            match (a, b, &r.kind) {
                (
                    ColumnSketch::Numeric(a),
                    ColumnSketch::Numeric(b),
                    RefKind::Numeric { layout, .. },
                ) => {
                    if !b.fits(layout) {
                        return Err(Error::Rejected(format!(
                            "the sketch of column {:?} does not fit its reference",
                            r.name
                        )));
                    }
                    a.merge(layout, b);
                }
                (ColumnSketch::Category(a), ColumnSketch::Category(b), RefKind::Category(_)) => {
                    a.merge(b)
                }
                (ColumnSketch::Skipped, ColumnSketch::Skipped, RefKind::Skipped(_)) => {}
                _ => {
                    return Err(Error::Rejected(format!(
                        "the sketches of column {:?} differ in kind",
                        r.name
                    )));
                }
            }
        }
        for (a, b) in self.missing.iter_mut().zip(&other.missing) {
            *a += b;
        }
        self.rows += other.rows;
        Ok(())
    }
}

/// Every feature's drift from `reference` to the data in `current`.
pub fn compare(reference: &Reference, current: &Sketch, policy: &DriftPolicy) -> Vec<DriftReport> {
    reference
        .columns
        .iter()
        .zip(&current.columns)
        .zip(&current.missing)
        .map(|((r, c), &missing)| {
            let mut report = DriftReport {
                column: r.name.clone(),
                ty: r.ty,
                measure: None,
                value: None,
                threshold: None,
                p_value: None,
                verdict: Verdict::NotChecked,
                reference_rows: r.count,
                current_rows: 0,
                reference_missing: r.missing,
                current_missing: missing,
                error_bound: 0.0,
                note: None,
            };
            match (&r.kind, c) {
                (RefKind::Skipped(why), _) => report.note = Some(why.clone()),
                (RefKind::Numeric { summary, layout }, ColumnSketch::Numeric(cur)) => {
                    report.current_rows = cur.count();
                    if cur.count() == 0 {
                        report.note = Some("no values in the current data".into());
                    } else {
                        numeric_drift(&mut report, summary, layout, cur, policy);
                    }
                }
                (RefKind::Category(s), ColumnSketch::Category(cur)) => {
                    report.current_rows = cur.count();
                    if cur.count() == 0 {
                        report.note = Some("no values in the current data".into());
                    } else {
                        categorical_drift(&mut report, &s.with_other(), cur.counts(), policy);
                    }
                }
                _ => report.note = Some("the sketch does not match the reference".into()),
            }
            report
        })
        .collect()
}

/// Fills in a test (small samples) or a distance over categories.
fn categorical_drift(
    report: &mut DriftReport,
    reference: &[u64],
    current: &[u64],
    policy: &DriftPolicy,
) {
    if small(report, policy) {
        let (stat, _dof, p) = stats::chi2_homogeneity(reference, current);
        set_test(report, Measure::ChiSquared, stat, p, policy);
    } else {
        let (r, c): (Vec<f64>, Vec<f64>) = (
            reference.iter().map(|&x| x as f64).collect(),
            current.iter().map(|&x| x as f64).collect(),
        );
        let m = policy.categorical;
        let value = if m == Measure::Psi {
            stats::psi(&r, &c)
        } else {
            stats::jensen_shannon(&r, &c)
        };
        set_distance(report, m, value, 0.0, policy);
    }
}

fn numeric_drift(
    report: &mut DriftReport,
    summary: &NumSummary,
    layout: &Layout,
    cur: &NumCurrent,
    policy: &DriftPolicy,
) {
    if let (Layout::Points(values), Cells::Exact { counts, .. }) = (layout, &summary.cells)
        && values.len() as u64 <= policy.few_values
    {
        // Few distinct values: compared as categories, the current side's other values
        // one category each (or, once it is in cells, one per gap they fall in).
        let (cur_counts, extra, lumped) = match numeric::novel_values(values, cur) {
            Some(novel) => {
                let (points, _) = numeric::point_counts(layout, cur);
                let mut c = points;
                c.extend(novel.iter().map(|(_, n)| *n));
                (c, novel.len(), false)
            }
            None => {
                let (mut points, gaps) = numeric::point_counts(layout, cur);
                let extra = gaps.len();
                points.extend(gaps);
                (points, extra, true)
            }
        };
        if (values.len() + extra) as u64 <= policy.few_values {
            let mut ref_counts = counts.clone();
            ref_counts.extend(std::iter::repeat_n(0, extra));
            if lumped && extra > 0 {
                report.note = Some("few values: compared as categories; current values the reference lacks are counted per gap between reference values".into());
            } else {
                report.note = Some("few values: compared as categories".into());
            }
            categorical_drift(report, &ref_counts, &cur_counts, policy);
            return;
        }
    }
    let paired = numeric::Paired::new(summary, layout, cur);
    let (nr, nc) = (summary.count, cur.count());
    if small(report, policy) {
        let (at_edges, upper) = paired.ks();
        let scale = nr as f64 * nc as f64;
        let p = stats::ks_pvalue(nr, nc, at_edges);
        set_test(report, Measure::Ks, at_edges as f64 / scale, p, policy);
        report.error_bound = (upper - at_edges) as f64 / scale;
        return;
    }
    match policy.numeric {
        Measure::Psi | Measure::JensenShannon => {
            let (r, c) = paired.binned(policy.bins);
            let m = policy.numeric;
            let value = if m == Measure::Psi {
                stats::psi(&r, &c)
            } else {
                stats::jensen_shannon(&r, &c)
            };
            set_distance(report, m, value, 0.0, policy);
        }
        _ => {
            let exact = match (&summary.cells, numeric::exact_values(cur)) {
                (Cells::Exact { values, counts }, Some(cur)) => {
                    Some(numeric::wasserstein_exact(values, counts, cur))
                }
                _ => None,
            };
            let (w, bound) = exact.map_or_else(|| paired.wasserstein(), |w| (w, 0.0));
            let norm = summary.norm();
            set_distance(report, Measure::Wasserstein, w / norm, bound / norm, policy);
        }
    }
}

fn small(report: &DriftReport, policy: &DriftPolicy) -> bool {
    report.reference_rows <= policy.small_rows || report.current_rows <= policy.small_rows
}

fn finite(x: f64) -> f64 {
    if x.is_nan() {
        0.0
    } else {
        x.clamp(f64::MIN, f64::MAX)
    }
}

fn set_test(report: &mut DriftReport, m: Measure, stat: f64, p: f64, policy: &DriftPolicy) {
    report.measure = Some(m);
    report.value = Some(finite(stat));
    report.p_value = Some(p);
    report.threshold = Some(policy.alpha);
    report.verdict = if p < policy.alpha {
        Verdict::Drift
    } else {
        Verdict::NoDrift
    };
}

fn set_distance(
    report: &mut DriftReport,
    m: Measure,
    value: f64,
    bound: f64,
    policy: &DriftPolicy,
) {
    let t = policy.threshold(m);
    report.measure = Some(m);
    report.value = Some(finite(value));
    report.threshold = Some(t);
    report.error_bound = finite(bound);
    // Evidently's distances drift at the threshold itself (value >= threshold).
    report.verdict = if value >= t {
        Verdict::Drift
    } else {
        Verdict::NoDrift
    };
}

#[cfg(test)]
mod tests;
