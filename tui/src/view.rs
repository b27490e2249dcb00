//! What the screens show: plain data loaded from the home through library calls
//! ([`crate::load`]), so drawing needs no library handle and never fails. Every piece of text
//! that came from a record is a [`Shown`]: escaped on the way in.

use airlock::error::exit;

use crate::airgap::AirGap;
use crate::shown::Shown;

/// A library error as the console shows it: the full message, as `airlock` prints it after
/// `error: `, and the exit code the command line would have ended with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErrorView {
    /// The message, escaped; its own line breaks kept.
    pub message: Shown,
    /// The `airlock` exit code of this error.
    pub exit_code: i32,
}

impl ErrorView {
    /// A console-side problem (no library call was made), with its exit code.
    pub fn new(message: &str, exit_code: i32) -> Self {
        ErrorView {
            message: Shown::block(message),
            exit_code,
        }
    }

    /// What the exit code means (README § Exit codes).
    pub fn meaning(&self) -> &'static str {
        match self.exit_code {
            exit::OK => "ok",
            exit::USAGE => "usage",
            exit::REJECTED => "input rejected",
            exit::INTEGRITY => "integrity check failed",
            exit::REFUSED => "refused by policy",
            exit::NOT_FOUND => "not found",
            exit::KEY => "key problem",
            _ => "failure",
        }
    }
}

impl From<airlock::Error> for ErrorView {
    fn from(e: airlock::Error) -> Self {
        ErrorView {
            message: Shown::block(&e.to_string()),
            exit_code: e.exit_code(),
        }
    }
}

/// A result the console shows: the value, or the library's error.
pub type Loaded<T> = Result<T, ErrorView>;

/// The Overview screen.
#[derive(Clone, Debug, Default)]
pub struct Overview {
    /// This site's name.
    pub site: Shown,
    /// The site signing key's id.
    pub key_id: Shown,
    /// The trust policy in force; `None` in setup mode.
    pub policy: Option<PolicySummary>,
    /// The model in each slot, by slot name.
    pub deployments: Vec<SlotRow>,
    /// The newest audit record.
    pub last_record: Option<AuditRow>,
    /// The newest `install.seal` record: when the installer sealed this node; `None` for a
    /// home no installer sealed (a development or test home).
    pub install_seal: Option<AuditRow>,
    /// `audit verify`'s result.
    pub audit: Option<Loaded<AuditVerified>>,
    /// Network interfaces and routes.
    pub air_gap: AirGap,
    /// Dataset versions held.
    pub datasets: usize,
    /// Contract versions registered.
    pub contracts: usize,
    /// Models held.
    pub models: usize,
    /// Operators certified here.
    pub operators: usize,
}

/// The trust policy in force, in brief.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicySummary {
    /// Its version.
    pub version: u64,
    /// Root keys needed to sign the next one, and of how many.
    pub root_threshold: u32,
    /// Root keys listed.
    pub root_keys: usize,
    /// Peers it trusts.
    pub peers: usize,
    /// Operators it lists.
    pub operators: usize,
}

/// A slot and the model deployed to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotRow {
    /// The slot.
    pub slot: Shown,
    /// The model's id.
    pub model: Shown,
    /// The model's name.
    pub name: Shown,
    /// The site that trained it.
    pub site: Shown,
}

/// `audit verify`'s result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditVerified {
    /// Records checked.
    pub records: usize,
    /// The head hash, first 16 hex digits.
    pub head: Shown,
    /// The record the signed checkpoint names.
    pub checkpoint: Option<i64>,
}

impl AuditVerified {
    /// The line `airlock audit verify` prints.
    pub fn line(&self) -> String {
        format!(
            "audit log intact: {} records, head {}, signed checkpoint at record {}",
            self.records,
            self.head,
            self.checkpoint.unwrap_or(0)
        )
    }
}

/// One audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// Its number.
    pub seq: i64,
    /// When.
    pub time: Shown,
    /// What (`model.deploy`).
    pub action: Shown,
    /// The key id that acted.
    pub actor: Shown,
    /// Who that is: `site NAME` for this site's key, an operator's name, or empty.
    pub actor_name: Shown,
    /// The ids it is about.
    pub subjects: Vec<Shown>,
    /// Its details as one line of JSON.
    pub details: Shown,
    /// Its details as indented JSON, one field per line.
    pub details_block: Shown,
}

impl AuditRow {
    /// Whether the record's action, actor key id or actor name contains `needle`.
    pub fn matches(&self, needle: &str) -> bool {
        self.action.matches(needle) || self.actor.matches(needle) || self.actor_name.matches(needle)
    }
}

/// The Data screen.
#[derive(Clone, Debug, Default)]
pub struct DataView {
    /// Dataset versions, by site, name and version.
    pub datasets: Vec<DatasetRow>,
    /// Contract versions, by site, name and version.
    pub contracts: Vec<ContractRow>,
    /// Ingests refused, from the audit log, newest first.
    pub refused: Vec<RefusedRow>,
}

/// An ingest the library refused and recorded (`data.refused` in the audit log).
#[derive(Clone, Debug)]
pub struct RefusedRow {
    /// The dataset it was for.
    pub dataset: Shown,
    /// The file's name.
    pub source: Shown,
    /// The contract it was checked against.
    pub contract: Shown,
    /// Why: the reason, or the violations counted per rule.
    pub why: Shown,
    /// The whole audit record.
    pub record: AuditRow,
}

/// `airlock contract diff`: a contract version against the one before it.
#[derive(Clone, Debug)]
pub struct ContractDiff {
    /// `SITE/NAME@VERSION` of the version shown.
    pub reference: Shown,
    /// The version before it held here, if any.
    pub against: Option<Shown>,
    /// One line per change (`+`, `-`, `~`), as the command prints them.
    pub changes: Vec<Shown>,
}

impl ContractDiff {
    /// The diff as lines, in the order they are drawn.
    pub fn text(&self) -> Vec<TextLine> {
        let Some(against) = &self.against else {
            return vec![
                heading(format!("Contract {}", self.reference)),
                line("  the first version held here: nothing to compare it with".into()),
            ];
        };
        let mut out = vec![heading(format!(
            "Contract {} against {} (airlock contract diff)",
            self.reference, against
        ))];
        if self.changes.is_empty() {
            out.push(line("  the same contract".into()));
        }
        for c in &self.changes {
            wrapped(&mut out, "  ", c.as_str());
        }
        out
    }
}

/// Which dataset version, to load its profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetKey {
    /// Its site.
    pub site: String,
    /// Its name.
    pub name: String,
    /// Its version.
    pub version: i64,
}

/// One dataset version.
#[derive(Clone, Debug)]
pub struct DatasetRow {
    /// To load its profile.
    pub key: DatasetKey,
    /// `SITE/NAME@VERSION`.
    pub reference: Shown,
    /// Rows.
    pub rows: i64,
    /// The file it was ingested from.
    pub source: Shown,
    /// When it was ingested.
    pub created: Shown,
}

/// One contract version.
#[derive(Clone, Debug)]
pub struct ContractRow {
    /// Its site, name and version, to find the version before it.
    pub key: DatasetKey,
    /// `SITE/NAME@VERSION`.
    pub reference: Shown,
    /// Its id.
    pub id: Shown,
    /// When it was registered.
    pub created: Shown,
}

/// A dataset version's profile.
#[derive(Clone, Debug)]
pub struct DatasetProfile {
    /// `SITE/NAME@VERSION`.
    pub reference: Shown,
    /// Rows.
    pub rows: u64,
    /// The file it was ingested from.
    pub source: Shown,
    /// CSV or Parquet.
    pub format: Shown,
    /// When it was ingested.
    pub created: Shown,
    /// Per column; empty when the dataset was ingested without a profile.
    pub columns: Vec<ColumnView>,
}

/// One column's profile.
#[derive(Clone, Debug)]
pub struct ColumnView {
    /// Its name.
    pub name: Shown,
    /// Its contract type.
    pub ty: Shown,
    /// Values seen.
    pub count: u64,
    /// Nulls.
    pub nulls: u64,
    /// Nulls over rows.
    pub null_rate: f64,
    /// Distinct values (estimated when not exact).
    pub distinct: u64,
    /// Whether `distinct` is exact.
    pub distinct_exact: bool,
    /// Numbers and times.
    pub numeric: Option<NumericView>,
    /// The most frequent values and their counts.
    pub top: Vec<(Shown, u64)>,
}

/// A numeric column's figures, formatted as `data show` does.
#[derive(Clone, Debug)]
pub struct NumericView {
    /// Smallest value.
    pub min: Shown,
    /// Largest value.
    pub max: Shown,
    /// Mean.
    pub mean: Shown,
    /// Standard deviation.
    pub std: f64,
    /// (percent, value) for each quantile.
    pub quantiles: Vec<(u32, Shown)>,
    /// Counts in equal-width bins from min to max.
    pub histogram: Vec<u64>,
    /// Whether the quantiles and histogram come from a sample.
    pub sampled: bool,
}

/// One model in the registry.
#[derive(Clone, Debug)]
pub struct ModelRow {
    /// The full id (the run record's digest).
    pub id: Shown,
    /// The id for the library (hex digits only, as listed by `models list`).
    pub id_hex: String,
    /// Its name.
    pub name: Shown,
    /// The site that trained it.
    pub site: Shown,
    /// binary, multiclass or regression.
    pub task: Shown,
    /// logreg or mlp.
    pub arch: Shown,
    /// The dataset it was trained on (`NAME@VERSION`, or an id when not held here).
    pub dataset: Shown,
    /// Its feature set, `NAME@VERSION`.
    pub features: Shown,
    /// The task's main held-out score's name.
    pub score_name: Shown,
    /// Its value.
    pub score: f64,
    /// passed, failed or none.
    pub gate: Shown,
    /// Approvals held.
    pub approvals: i64,
    /// The slot it is deployed to.
    pub deployed: Option<Shown>,
}

impl ModelRow {
    /// Whether the id, name, task, dataset, feature set or gate contains `needle`.
    pub fn matches(&self, needle: &str) -> bool {
        [
            &self.id,
            &self.name,
            &self.task,
            &self.dataset,
            &self.features,
            &self.gate,
            &self.site,
        ]
        .iter()
        .any(|s| s.matches(needle))
    }
}

/// A model's detail.
#[derive(Clone, Debug)]
pub struct ModelDetail {
    /// Its registry row.
    pub row: ModelRow,
    /// Held-out rows.
    pub holdout_rows: usize,
    /// (metric, value) of every held-out metric the task has.
    pub metrics: Vec<(&'static str, f64)>,
    /// Epochs run, and the best one.
    pub epochs: (usize, usize),
    /// When training finished.
    pub trained: Shown,
    /// Device kind and name.
    pub device: Shown,
    /// Its approvals.
    pub approvals: Vec<ApprovalView>,
    /// Its gate reports, check by check, or why they could not be loaded.
    pub gates: Loaded<Vec<crate::report::GateReportView>>,
    /// Its lineage, every signature verified, or why not.
    pub lineage: Loaded<LineageView>,
}

/// One approval.
#[derive(Clone, Debug)]
pub struct ApprovalView {
    /// The operator's name.
    pub approver: Shown,
    /// Their key id (signature verified).
    pub key_id: Shown,
    /// The site where it was given.
    pub site: Shown,
    /// What it rests on.
    pub note: Shown,
    /// When.
    pub at: Shown,
}

/// A model's lineage, as `airlock lineage` walks it.
#[derive(Clone, Debug)]
pub struct LineageView {
    /// Nodes in the order `airlock lineage` prints them, with their depth.
    pub nodes: Vec<(u8, NodeView)>,
    /// Signatures verified.
    pub signatures: usize,
    /// Provenance statements verified.
    pub provenance: usize,
}

/// One lineage node.
#[derive(Clone, Debug)]
pub struct NodeView {
    /// Its kind (`dataset`, `gate`).
    pub kind: Shown,
    /// Its id.
    pub id: Shown,
    /// What it is.
    pub what: Shown,
    /// Its site.
    pub site: Shown,
    /// Sites whose signatures were verified.
    pub signed_by: Shown,
    /// When, where known.
    pub at: Shown,
}

/// One line of a scrolled text view (a model's detail, an audit record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextLine {
    /// A section heading (drawn bold).
    pub heading: bool,
    /// The text.
    pub text: Shown,
}

pub(crate) fn line(text: String) -> TextLine {
    TextLine {
        heading: false,
        // Built from escaped parts and this program's own words; escaping again changes
        // nothing and keeps the type's promise.
        text: Shown::new(&text),
    }
}

/// Width the text views wrap at: an 80-column screen less its borders and a margin.
pub const TEXT_WIDTH: usize = 76;

/// `text` as lines of at most [`TEXT_WIDTH`] characters, broken at spaces where it can,
/// each starting with `indent` (continuations with two more spaces), so nothing is cut off
/// at 80 columns and a view knows how many lines it has.
pub(crate) fn wrapped(out: &mut Vec<TextLine>, indent: &str, text: &str) {
    let mut first = true;
    let mut rest: Vec<char> = text.chars().collect();
    loop {
        let lead = if first {
            indent.to_string()
        } else {
            format!("{indent}  ")
        };
        let room = TEXT_WIDTH.saturating_sub(lead.chars().count()).max(8);
        if rest.len() <= room {
            out.push(line(format!("{lead}{}", rest.iter().collect::<String>())));
            return;
        }
        // At the last space that fits; a word is cut only when it is longer than a line
        // (never an id that would fit on the next one).
        let cut = rest[..=room]
            .iter()
            .rposition(|c| *c == ' ')
            .filter(|&p| p > 0)
            .unwrap_or(room);
        out.push(line(format!(
            "{lead}{}",
            rest[..cut].iter().collect::<String>()
        )));
        let skip = usize::from(rest.get(cut) == Some(&' '));
        rest.drain(..cut + skip);
        first = false;
    }
}

pub(crate) fn heading(text: String) -> TextLine {
    TextLine {
        heading: true,
        text: Shown::new(&text),
    }
}

impl ModelDetail {
    /// The detail as lines, in the order they are drawn.
    pub fn text(&self) -> Vec<TextLine> {
        let r = &self.row;
        let mut out = vec![
            heading(format!(
                "{} ({} {}) from site {}",
                r.name, r.task, r.arch, r.site
            )),
            line(format!("  id        {}", r.id)),
            line(format!(
                "  trained   {} on {}, {} epochs, best {}",
                self.trained, self.device, self.epochs.0, self.epochs.1
            )),
            line(format!("  dataset   {}", r.dataset)),
            line(format!("  features  {}", r.features)),
            line(format!(
                "  state     gate {}, {} approval(s), {}",
                r.gate,
                r.approvals,
                match &r.deployed {
                    Some(slot) => format!("deployed to {slot}"),
                    None => "not deployed".into(),
                }
            )),
            heading(format!("Held-out metrics ({} rows)", self.holdout_rows)),
        ];
        for chunk in self.metrics.chunks(3) {
            let cells: Vec<String> = chunk
                .iter()
                .map(|(n, v)| format!("{n:<14}{v:>8.4}"))
                .collect();
            out.push(line(format!("  {}", cells.join("  "))));
        }
        out.push(heading("Gate reports".into()));
        match &self.gates {
            Ok(g) => crate::report::gate_lines(&mut out, g),
            Err(e) => {
                for l in e.message.as_str().lines() {
                    wrapped(&mut out, "  ", l);
                }
            }
        }
        out.push(heading("Approvals".into()));
        if self.approvals.is_empty() {
            out.push(line("  none".into()));
        }
        for a in &self.approvals {
            out.push(line(format!(
                "  {} (key {}) at site {}  {}",
                a.approver, a.key_id, a.site, a.at
            )));
            if !a.note.is_empty() {
                wrapped(&mut out, "    ", &format!("note: {}", a.note));
            }
        }
        match &self.lineage {
            Ok(l) => {
                out.push(heading(format!(
                    "Lineage: {} signatures and {} provenance statements verified",
                    l.signatures, l.provenance
                )));
                for (depth, n) in &l.nodes {
                    let indent = "  ".repeat(usize::from(*depth) + 1);
                    out.push(line(format!(
                        "{indent}{:<12} {}  site {}  {}",
                        n.kind,
                        n.id,
                        n.site,
                        if n.signed_by.is_empty() {
                            "no signature held here".to_string()
                        } else {
                            format!("signed by {}", n.signed_by)
                        }
                    )));
                    wrapped(&mut out, &format!("{indent}  "), n.what.as_str());
                }
            }
            Err(e) => {
                out.push(heading(format!(
                    "Lineage DOES NOT VERIFY (exit {}, {})",
                    e.exit_code,
                    e.meaning()
                )));
                for l in e.message.as_str().lines() {
                    wrapped(&mut out, "  ", l);
                }
            }
        }
        out
    }
}

impl AuditRow {
    /// The record as lines, in the order they are drawn.
    pub fn text(&self) -> Vec<TextLine> {
        let mut out = vec![
            heading(format!("Record {}  {}", self.seq, self.time)),
            line(format!("  action    {}", self.action)),
            line(format!(
                "  actor     {}{}",
                self.actor,
                if self.actor_name.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", self.actor_name)
                }
            )),
        ];
        for (i, s) in self.subjects.iter().enumerate() {
            let label = if i == 0 { "subjects" } else { "" };
            out.push(line(format!("  {label:<9} {s}")));
        }
        out.push(heading("Details".into()));
        for l in self.details_block.as_str().lines() {
            wrapped(&mut out, "  ", l);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_at_spaces_within_the_width_and_loses_nothing() {
        let mut out = Vec::new();
        let words = "approved by operator dana (key 0123456789abcdef, signature verified) at site lab: reviewed";
        wrapped(&mut out, "    ", words);
        assert!(out.len() > 1);
        for l in &out {
            assert!(l.text.as_str().chars().count() <= TEXT_WIDTH, "{l:?}");
        }
        let joined: Vec<&str> = out.iter().map(|l| l.text.as_str().trim()).collect();
        assert_eq!(joined.join(" "), words);
    }

    #[test]
    fn a_word_longer_than_the_width_is_cut_not_lost() {
        let mut out = Vec::new();
        let long = "x".repeat(200);
        wrapped(&mut out, "", &long);
        let total: usize = out.iter().map(|l| l.text.as_str().trim().len()).sum();
        assert_eq!(total, 200);
    }
}
