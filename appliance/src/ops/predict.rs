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
        features: impl Fn(&Scorer, &mut Vec<f32>) -> std::result::Result<(), Vec<String>>,
    ) {
        let (answers, shadowed) = to;
        let scorer = if answers == 1 {
            router.scorer(crate::ops::rollout::Route::Canary)
        } else {
            &router.production
        };
        let mut got = features(scorer, &mut self.x[answers]);
        if got.is_ok()
            && shadowed
            && let Some(sh) = &router.shadow
        {
            got = features(&sh.scorer, &mut self.x[2]);
        }
        match got {
            Ok(()) if self.total == 0 => {
                self.lines.push((line, answers));
                self.shadowed += usize::from(shadowed);
            }
            // The input is refused already: this row is only checked.
            Ok(()) => self.x.iter_mut().for_each(Vec::clear),
            Err(p) => {
                if self.total == 0 {
                    // Nothing will be scored: give back what was collected.
                    self.x = Default::default();
                    self.lines = Vec::new();
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
    fn finish(self, router: crate::ops::rollout::Router, source: &str) -> Result<Predicted> {
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
        let [xp, xc, xs] = self.x;
        let canary_rows = self.lines.iter().filter(|(_, r)| *r == 1).count();
        let prod_rows = self.lines.len() - canary_rows;
        let mut answers = [
            scorer.score(xp, prod_rows)?.into_iter(),
            match &router.canary {
                Some(c) if canary_rows > 0 => c.scorer.score(xc, canary_rows)?.into_iter(),
                _ => Vec::new().into_iter(),
            },
        ];
        let shadow = match &router.shadow {
            Some(sh) => {
                if self.shadowed > 0 {
                    // Scored, checked like every answer, and dropped: never returned.
                    sh.scorer.score(xs, self.shadowed)?;
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
        for (line, route) in self.lines {
            let answer = answers[route]
                .next()
                .ok_or_else(|| Error::Integrity(format!("{source}: fewer answers than rows")))?;
            predictions.push(Prediction {
                line,
                slot: (route == 1).then_some(crate::ops::rollout::CANARY),
                answer,
            });
        }
        Ok(Predicted {
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
        })
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
    let router = crate::ops::rollout::Router::open(home, slot, expected_features)?;
    let scorer = &router.production;
    let mut batch = Batch::default();
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
                batch.row(line, &router, routed(&router, &key), |sc, x| {
                    match r.cells {
                        Some(cells) => sc.features_of_cells(cells, x),
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
        let to = routed(router, &router.entity_key(&obj));
        batch.row(n, router, to, |sc, x| sc.features(&obj, x));
    }
    Ok(())
}
