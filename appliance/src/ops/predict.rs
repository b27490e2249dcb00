//! `airlock predict`: a file of requests (JSON lines or CSV) answered by the deployed model of
//! a slot, routed like `serve` (canary by entity key, shadow scored and never returned); a
//! request that names another feature set version is refused.

use std::io::{BufRead, Read};

use serde::Serialize;

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::vault::registry::NameRef;

use crate::ops::score::{Prediction, Scorer};

/// The answer of `airlock predict`.
#[derive(Clone, Debug, Serialize)]
pub struct Predicted {
    /// The model that answered.
    pub model: Digest,
    /// Its feature set version id.
    pub feature_set: Digest,
    /// Its feature set as `name@version`.
    pub feature_set_ref: String,
    /// The predictions, in input order.
    pub predictions: Vec<Prediction>,
    /// The canary beside the model, and the rows it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary: Option<Beside>,
    /// The shadow beside the model, and the rows it scored (its answers are not returned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Beside>,
}

/// A model that took a share of the rows.
#[derive(Clone, Debug, Serialize)]
pub struct Beside {
    /// The model.
    pub model: Digest,
    /// Its share of entities, in percent.
    pub percent: f64,
    /// The rows it answered (canary) or scored (shadow).
    pub rows: usize,
}

/// Longest accepted request line.
pub const MAX_LINE: usize = 1 << 20;

/// How many bad request lines a refusal lists before it only counts.
pub const LISTED_PROBLEMS: usize = 20;

/// The format of a file of rows to score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RequestFormat {
    /// One JSON object per line, column name to value.
    #[default]
    JsonLines,
    /// CSV in the model's contract's dialect, its header read under the
    /// contract's rules (ignored and renamed columns); the label column may
    /// be left out.
    Csv,
}

impl RequestFormat {
    /// The format a file name suggests: `.csv` and `.tsv` are CSV, any
    /// other is JSON lines.
    pub fn of(path: &std::path::Path) -> RequestFormat {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") || e.eq_ignore_ascii_case("tsv") => {
                RequestFormat::Csv
            }
            _ => RequestFormat::JsonLines,
        }
    }
}

/// Feature vectors of the rows read so far, by the model that scores them
/// (production, canary, shadow), or, once a row broke the contract, only
/// the first problems and a count of them.
#[derive(Default)]
struct Batch {
    /// Production's, the canary's and the shadow's vectors.
    x: [Vec<f32>; 3],
    /// The line of each row, and who answers it (0 production, 1 canary).
    lines: Vec<(usize, usize)>,
    /// Rows the shadow scores.
    shadowed: usize,
    problems: Vec<String>,
    total: usize,
    /// The monitor's collectors and each row's entity key, when monitoring (`predict` with
    /// a policy).
    monitor: Option<Box<BatchMonitor>>,
}

/// What `predict` keeps for the monitor: one collector per model that scores (production,
/// canary, shadow; `None` where there is none), the time the batch counts at, and each
/// answered row's entity key (in `lines` order; `None` when the contract names no entity).
struct BatchMonitor {
    collectors: [Option<crate::ops::monitor::Collector>; 3],
    now: crate::node::time::Timestamp,
    keys: Vec<Option<String>>,
}

/// The models of a route: who answers, and whether the shadow scores it too.
type Routed = (usize, bool);

impl Batch {
    /// Adds the row that starts on `line`, routed `to`: `features(scorer, out)`
    /// appends its vector for a scorer, or returns its problems, each
    /// starting with `: ` or `, `.
    fn row(
        &mut self,
        line: usize,
        router: &crate::ops::rollout::Router,
        to: Routed,
        key: &str,
        typed: impl Fn(&Scorer) -> std::result::Result<Vec<crate::contract::Value>, Vec<String>>,
    ) {
        let (answers, shadowed) = to;
        let scorer = if answers == 1 {
            router.scorer(crate::ops::rollout::Route::Canary)
        } else {
            &router.production
        };
        let total = self.total;
        let mut feed = |i: usize, sc: &Scorer, x: &mut Vec<f32>| {
            let row = typed(sc)?;
            sc.row_features(&row, x);
            if total == 0
                && let Some(m) = self.monitor.as_deref_mut()
                && let Some(c) = &mut m.collectors[i]
            {
                c.input(m.now, &row);
            }
            Ok::<(), Vec<String>>(())
        };
        let [xp, xc, xs] = &mut self.x;
        let mut got = feed(answers, scorer, if answers == 1 { xc } else { xp });
        if got.is_ok()
            && shadowed
            && let Some(sh) = &router.shadow
        {
            got = feed(2, &sh.scorer, xs);
        }
        match got {
            Ok(()) if self.total == 0 => {
                self.lines.push((line, answers));
                self.shadowed += usize::from(shadowed);
                if let Some(m) = self.monitor.as_deref_mut() {
                    m.keys.push(router.keyed().then(|| key.to_owned()));
                }
            }
            // The input is refused already: this row is only checked.
            Ok(()) => self.x.iter_mut().for_each(Vec::clear),
            Err(p) => {
                if self.total == 0 {
                    // Nothing will be scored: give back what was collected, and the monitor
                    // counts nothing (a refused input is no batch scored).
                    self.x = Default::default();
                    self.lines = Vec::new();
                    self.monitor = None;
                }
                self.total = self.total.saturating_add(p.len());
                let room = LISTED_PROBLEMS.saturating_sub(self.problems.len());
                self.problems
                    .extend(p.into_iter().take(room).map(|p| format!("line {line}{p}")));
            }
        }
    }

    /// Scores the rows, each with the model it is routed to, or refuses the
    /// input listing its problems.
    fn finish(
        mut self,
        router: crate::ops::rollout::Router,
        source: &str,
    ) -> Result<(Predicted, Option<Box<BatchMonitor>>)> {
        let scorer = &router.production;
        if self.total > 0 {
            let more = self.total - self.problems.len();
            let tail = if more > 0 {
                format!("\n  ... and {more} more")
            } else {
                String::new()
            };
            return Err(Error::Rejected(format!(
                "{source}: {} problem{} against contract {}; nothing was scored\n  {}{tail}",
                self.total,
                if self.total == 1 { "" } else { "s" },
                scorer.contract_ref(),
                self.problems.join("\n  ")
            )));
        }
        if self.lines.is_empty() {
            return Err(Error::Rejected(format!("{source}: no rows to score")));
        }
        let [xp, xc, xs] = std::mem::take(&mut self.x);
        let canary_rows = self.lines.iter().filter(|(_, r)| *r == 1).count();
        let prod_rows = self.lines.len() - canary_rows;
        let t = std::time::Instant::now();
        let mut answers = [
            scorer.score(xp, prod_rows)?.into_iter(),
            match &router.canary {
                Some(c) if canary_rows > 0 => c.scorer.score(xc, canary_rows)?.into_iter(),
                _ => Vec::new().into_iter(),
            },
        ];
        // The time a row took: the batch's, shared evenly.
        let micros = u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX)
            / (self.lines.len() as u64).max(1);
        let shadow = match &router.shadow {
            Some(sh) => {
                if self.shadowed > 0 {
                    // Scored, checked like every answer, and dropped: never returned (the
                    // monitor counts them).
                    let dropped = sh.scorer.score(xs, self.shadowed)?;
                    if let Some(m) = self.monitor.as_deref_mut()
                        && let Some(c) = &mut m.collectors[2]
                    {
                        for a in &dropped {
                            c.answered(m.now, a, micros, None);
                        }
                    }
                }
                Some(Beside {
                    model: sh.scorer.model_id,
                    percent: sh.percent,
                    rows: self.shadowed,
                })
            }
            None => None,
        };
        let mut predictions = Vec::with_capacity(self.lines.len());
        for (n, (line, route)) in self.lines.into_iter().enumerate() {
            let answer = answers[route]
                .next()
                .ok_or_else(|| Error::Integrity(format!("{source}: fewer answers than rows")))?;
            if let Some(m) = self.monitor.as_deref_mut()
                && let Some(c) = &mut m.collectors[route]
            {
                let key = m.keys.get(n).and_then(|k| k.as_deref());
                c.answered(m.now, &answer, micros, key);
            }
            predictions.push(Prediction {
                line,
                slot: (route == 1).then_some(crate::ops::rollout::CANARY),
                answer,
            });
        }
        Ok((
            Predicted {
                model: scorer.model_id,
                feature_set: scorer.run.feature_set,
                feature_set_ref: scorer.run.feature_set_ref.clone(),
                predictions,
                canary: router.canary.as_ref().map(|c| Beside {
                    model: c.scorer.model_id,
                    percent: c.percent,
                    rows: canary_rows,
                }),
                shadow,
            },
            self.monitor,
        ))
    }
}

/// Scores JSON-lines rows with the model deployed to `slot` (see
/// [`predict_as`]).
pub fn predict(
    home: &Home,
    slot: &str,
    input: impl BufRead,
    source: &str,
    expected_features: Option<&NameRef>,
) -> Result<Predicted> {
    predict_as(
        home,
        slot,
        input,
        source,
        RequestFormat::JsonLines,
        expected_features,
    )
}

/// Scores the rows of `input` (JSON lines or CSV) with the model deployed
/// to `slot`. When `expected_features` is given, refuses unless it is
/// exactly the feature set version the model was trained on. Every row goes
/// through the contract's cell rules; one that breaks them refuses the
/// input, each problem named by the line its row starts on.
///
/// Memory is bounded on hostile input: a JSON line is read at most
/// [`MAX_LINE`] bytes into memory (a CSV record at most
/// [`crate::contract::MAX_RECORD`]), and once a row breaks the contract the
/// feature vectors collected so far are dropped and the rest of the input
/// is only checked, keeping the first [`LISTED_PROBLEMS`] problems and a
/// count of the others. (It used to keep every problem and every row:
/// about 11 times the input.)
pub fn predict_as(
    home: &Home,
    slot: &str,
    input: impl BufRead,
    source: &str,
    format: RequestFormat,
    expected_features: Option<&NameRef>,
) -> Result<Predicted> {
    Ok(predict_batch(home, slot, input, source, format, expected_features, None)?.0)
}

/// [`predict_as`], then the monitoring window of the batch (and its prediction log rows, for
/// a contract with an entity), stored as `serve` stores its windows, and the monitor's alerts
/// raised ([`crate::ops::monitor::check_alerts`]; a batch does not roll back or promote the
/// canary by itself): batch scoring is watched for drift like serving. All rows count at one time, now, in the window holding it. A refused input
/// records nothing. The predictions come back whatever the monitoring does: its outcome is
/// the second value (an error there takes no prediction away).
pub fn predict_monitored(
    home: &mut Home,
    slot: &str,
    input: impl BufRead,
    source: &str,
    format: RequestFormat,
    expected_features: Option<&NameRef>,
    policy: &crate::ops::monitor::MonitorPolicy,
) -> Result<(Predicted, Result<crate::ops::monitor::Checked>)> {
    let (p, monitor) = predict_batch(
        home,
        slot,
        input,
        source,
        format,
        expected_features,
        Some(policy),
    )?;
    let Some(mut m) = monitor else {
        return Ok((p, Ok(Default::default())));
    };
    let mut windows = Vec::new();
    let mut predictions = Vec::new();
    let mut sampled = Vec::new();
    for c in m.collectors.iter_mut().flatten() {
        windows.extend(c.take(true));
        let (rows, s) = c.take_logs();
        predictions.extend(rows);
        sampled.extend(s);
    }
    let checked = crate::ops::monitor::store_all(home, &windows, &predictions, &sampled, policy)
        .and_then(|_| crate::ops::monitor::check_alerts(home, policy));
    Ok((p, checked))
}

/// [`predict_as`], keeping the monitor's collectors when `monitor` is given.
fn predict_batch(
    home: &Home,
    slot: &str,
    input: impl BufRead,
    source: &str,
    format: RequestFormat,
    expected_features: Option<&NameRef>,
    monitor: Option<&crate::ops::monitor::MonitorPolicy>,
) -> Result<(Predicted, Option<Box<BatchMonitor>>)> {
    let router = crate::ops::rollout::Router::open(home, slot, expected_features)?;
    let scorer = &router.production;
    let mut batch = Batch::default();
    if let Some(policy) = monitor {
        let collector = |slot: &str, sc: &Scorer| {
            crate::ops::monitor::Collector::with_policy(home, sc, slot, policy)
        };
        batch.monitor = Some(Box::new(BatchMonitor {
            collectors: [
                Some(collector(&router.slot, &router.production)?),
                router
                    .canary
                    .as_ref()
                    .map(|c| collector(crate::ops::rollout::CANARY, &c.scorer))
                    .transpose()?,
                router
                    .shadow
                    .as_ref()
                    .map(|c| collector(crate::ops::rollout::SHADOW, &c.scorer))
                    .transpose()?,
            ],
            now: home.now(),
            keys: Vec::new(),
        }));
    }
    match format {
        RequestFormat::JsonLines => json_lines(&router, input, source, &mut batch)?,
        RequestFormat::Csv => {
            // A request file need not carry the label.
            let label: Vec<usize> = scorer
                .contract
                .index_of(&scorer.fs.label)
                .into_iter()
                .collect();
            let mut rows =
                crate::contract::CsvRows::open_with(&scorer.contract, input, source, &label)?;
            while let Some(r) = rows.next_record()? {
                let line = usize::try_from(r.line).unwrap_or(usize::MAX);
                let key = match r.cells {
                    Some(cells) => router.entity_key_of_cells(cells),
                    None => String::new(),
                };
                batch.row(line, &router, routed(&router, &key), &key, |sc| {
                    match r.cells {
                        Some(cells) => sc.row_of_cells(cells),
                        None => Err(vec![format!(
                            ": expected {} fields, found {}",
                            r.width,
                            r.raw.len()
                        )]),
                    }
                });
            }
        }
    }
    batch.finish(router, source)
}

/// Who answers the request with entity key `key`, and whether the shadow scores it.
fn routed(router: &crate::ops::rollout::Router, key: &str) -> Routed {
    (
        usize::from(router.route(key) == crate::ops::rollout::Route::Canary),
        router.shadowed(key),
    )
}

/// Reads JSON-lines rows into `batch`.
fn json_lines(
    router: &crate::ops::rollout::Router,
    mut input: impl BufRead,
    source: &str,
    batch: &mut Batch,
) -> Result<()> {
    let mut buf = Vec::new();
    for n in 1usize.. {
        buf.clear();
        // Two bytes over the cap leave room for "\r\n" after a line exactly at it.
        let read = (&mut input)
            .take(MAX_LINE as u64 + 2)
            .read_until(b'\n', &mut buf)
            .map_err(|e| Error::Rejected(format!("{source} line {n}: {e}")))?;
        if read == 0 {
            break;
        }
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        if buf.len() > MAX_LINE {
            return Err(Error::Rejected(format!(
                "{source} line {n}: longer than {MAX_LINE} bytes"
            )));
        }
        let line = std::str::from_utf8(&buf).map_err(|_| {
            Error::Rejected(format!(
                "{source} line {n}: stream did not contain valid UTF-8"
            ))
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let obj: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(line).map_err(|e| {
                Error::Rejected(format!(
                    "{source} line {n}: not a JSON object: {}",
                    crate::text::error_text(&e)
                ))
            })?;
        let key = router.entity_key(&obj);
        let to = routed(router, &key);
        batch.row(n, router, to, &key, |sc| sc.row_of(&obj));
    }
    Ok(())
}
