//! The training rows: a dataset's feature matrix, labels, classes and slice keys under a
//! feature set, computed as the snapshot streams (see [`prepare_streamed`]).

use airlock_runtime::{Matrix, Task};

use crate::contract::{ColumnType, Value};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::ops::features::FeatureSetDoc;
use crate::ops::ingest;
use crate::vault::registry;

/// Features, labels and class names of a dataset under a feature set, for a task.
pub struct Prepared {
    /// Feature vectors.
    pub x: Matrix,
    /// Labels as the runtime takes them.
    pub y: Vec<f32>,
    /// Class names (see [`super::RunRecord::classes`]).
    pub classes: Vec<String>,
    /// Slice keys, when a slice column was asked for.
    pub slices: Option<Vec<String>>,
}

/// Checks a feature set fits a dataset's contract and binds it: the feature columns and the
/// label column's position.
fn bind(
    fs: &FeatureSetDoc,
    doc: &ingest::DatasetDoc,
    contract: &crate::contract::Contract,
) -> Result<(airlock_core::features::Bound, usize)> {
    if fs.contract != doc.contract {
        return Err(Error::Refused(format!(
            "feature set {} was fit for contract {}, but dataset {}@{} follows contract {}",
            fs.reference(),
            fs.contract.short(),
            doc.name,
            doc.version,
            doc.contract.short()
        )));
    }
    let columns = fs.bind(contract)?;
    let label_idx = contract.index_of(&fs.label).ok_or_else(|| {
        Error::Rejected(format!(
            "label column {:?} is not in the contract",
            fs.label
        ))
    })?;
    Ok((columns, label_idx))
}

/// What [`prepare`] does to each row, for rows streamed one at a time (`airlock evaluate`
/// reads a dataset so, keeping only the feature vectors, not the typed rows).
pub struct RowPrep<'a> {
    fs: &'a FeatureSetDoc,
    columns: airlock_core::features::Bound,
    label_idx: usize,
    task: Task,
    classes: &'a [String],
}

impl<'a> RowPrep<'a> {
    /// For rows of the dataset `doc` under `contract`, labelled for a model of `task` whose
    /// classes are `classes` (multiclass: the model's, in output order; labels outside them
    /// are refused).
    pub fn new(
        fs: &'a FeatureSetDoc,
        doc: &ingest::DatasetDoc,
        contract: &crate::contract::Contract,
        task: Task,
        classes: &'a [String],
    ) -> Result<Self> {
        let (columns, label_idx) = bind(fs, doc, contract)?;
        let label_col = &contract.columns[label_idx];
        match task {
            Task::Binary if fs.positive.is_empty() => {
                return Err(Error::Rejected(format!(
                    "feature set {} names no positive label value; a binary model needs one",
                    fs.reference()
                )));
            }
            Task::Regression
                if !matches!(label_col.ty, ColumnType::Integer | ColumnType::Float) =>
            {
                return Err(Error::Rejected(format!(
                    "label column {:?} is {}; regression needs an integer or float label",
                    fs.label,
                    label_col.ty.name()
                )));
            }
            _ => {}
        }
        Ok(RowPrep {
            fs,
            columns,
            label_idx,
            task,
            classes,
        })
    }

    /// Appends the feature vector of `row` (row number `row_no`, for errors) to `x` and its
    /// label to `y`.
    pub fn push(
        &self,
        row: &[Value],
        row_no: usize,
        x: &mut Vec<f32>,
        y: &mut Vec<f32>,
    ) -> Result<()> {
        let missing = || {
            Error::Rejected(format!(
                "row {row_no}: label column {:?} is missing; training needs every label",
                self.fs.label
            ))
        };
        let label = match self.task {
            Task::Binary => self.fs.label_of(row, self.label_idx, row_no)?,
            Task::Regression => match &row[self.label_idx] {
                Value::Int(v) => *v as f32,
                Value::Float(v) => *v as f32,
                _ => return Err(missing()),
            },
            Task::Multiclass { .. } => {
                let v = match &row[self.label_idx] {
                    Value::Null => return Err(missing()),
                    v => v.canonical(),
                };
                self.classes.iter().position(|c| *c == v).ok_or_else(|| {
                    Error::Rejected(format!("row {row_no}: label {v:?} is not a known class"))
                })? as f32
            }
        };
        self.fs.transform(row, &self.columns, x);
        y.push(label);
        Ok(())
    }
}

/// Most classes a multiclass label may have.
pub const MAX_CLASSES: usize = 1000;

/// The own name of a binary label's negative class, where it is known: the
/// other of the contract's two categories, the other integer of a range of
/// two (`min = 0`, `max = 1`), or, where the contract does not bound the
/// label's values, the one other value the training rows hold. `None` when
/// the negative class is more than one value (or none): predictions then
/// say `not POSITIVE`.
pub fn negative_class(
    label: &crate::contract::Column,
    positive: &str,
    rows: &[Vec<Value>],
    label_idx: usize,
) -> Option<String> {
    let other = |values: Vec<String>| -> Option<String> {
        match values.as_slice() {
            [a, b] if a == positive => Some(b.clone()),
            [a, b] if b == positive => Some(a.clone()),
            _ => None,
        }
    };
    if let Some(cats) = &label.categories {
        return other(cats.clone());
    }
    if label.ty == ColumnType::Integer
        && let (Some(lo), Some(hi)) = (label.min, label.max)
    {
        // The contract bounds the values: two of them, or more than one
        // negative value.
        let (lo, hi) = (lo.ceil(), hi.floor());
        return (hi - lo == 1.0).then(|| other(vec![format!("{lo}"), format!("{hi}")]))?;
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in rows {
        match r.get(label_idx) {
            Some(Value::Null) | None => {}
            Some(v) => {
                seen.insert(v.canonical());
                if seen.len() > 2 {
                    return None;
                }
            }
        }
    }
    other(seen.into_iter().collect())
}

/// Builds the feature matrix and labels of a dataset with a feature set, for `task` (the
/// class count of a multiclass task is found here), with slice keys from `slice_column`.
pub fn prepare(
    fs: &FeatureSetDoc,
    loaded: &ingest::Loaded,
    task: &mut Task,
    slice_column: Option<&str>,
) -> Result<Prepared> {
    prepare_with(
        fs,
        &loaded.doc,
        &loaded.contract,
        task,
        slice_column,
        &mut |each| {
            for (i, row) in loaded.rows.iter().enumerate() {
                each(i as u64 + 1, row)?;
            }
            Ok(())
        },
    )
}

/// [`prepare`] of the dataset whose record is `id`, straight from its snapshot as it streams:
/// each row is parsed, labelled and transformed into the one feature matrix and dropped, so
/// the typed rows are never held (they took six times the matrix's memory). Also returns the
/// dataset's record.
pub fn prepare_streamed(
    home: &Home,
    id: &Digest,
    fs: &FeatureSetDoc,
    task: &mut Task,
    slice_column: Option<&str>,
) -> Result<(Prepared, ingest::DatasetDoc)> {
    let doc: ingest::DatasetDoc = registry::load(home.store(), home.vault(), id)?;
    let contract = crate::ops::contract::load_contract(home, &doc.contract)?;
    let prepared = prepare_with(fs, &doc, &contract, task, slice_column, &mut |each| {
        ingest::stream_rows_by_id(home, id, &mut |n, row| each(n, row)).map(|_| ())
    })?;
    Ok((prepared, doc))
}

/// Rows handed to [`prepare_with`]'s `each`: row number from 1 and the typed row.
type EachRow<'a> = dyn FnMut(u64, &[Value]) -> Result<()> + 'a;

/// [`prepare`] of the rows `feed` hands to the function it is given, in order, of dataset
/// `doc` under `contract`. Nothing of a row is kept but its feature vector (appended to the
/// one matrix), its label, its slice key, and, for a binary label, the first three distinct
/// label values (all [`negative_class`] needs). Classes of a multiclass label whose contract
/// does not list them are numbered as first seen and renumbered in sorted order at the end.
fn prepare_with(
    fs: &FeatureSetDoc,
    doc: &ingest::DatasetDoc,
    contract: &crate::contract::Contract,
    task: &mut Task,
    slice_column: Option<&str>,
    feed: &mut dyn FnMut(&mut EachRow<'_>) -> Result<()>,
) -> Result<Prepared> {
    let (columns, label_idx) = bind(fs, doc, contract)?;
    let slice_idx = match slice_column {
        Some(c) => Some(contract.index_of(c).ok_or_else(|| {
            Error::Rejected(format!(
                "slice column {c:?} is not in contract {} v{}",
                contract.name, contract.version
            ))
        })?),
        None => None,
    };
    let label_col = &contract.columns[label_idx];
    let missing = |row: u64| {
        Error::Rejected(format!(
            "row {row}: label column {:?} is missing; training needs every label",
            fs.label
        ))
    };
    let too_few = |n: usize| {
        Error::Rejected(format!(
            "label column {:?} has {n} classes; multiclass needs at least 3 (train a binary \
             model for 2)",
            fs.label
        ))
    };
    // Multiclass: the contract's categories when it lists them (stable across datasets), else
    // the values seen, sorted.
    let mut listed: Option<&[String]> = None;
    match task {
        Task::Binary if fs.positive.is_empty() => {
            return Err(Error::Rejected(format!(
                "feature set {} names no positive label value; a binary model needs one \
                 (or train with --task multiclass)",
                fs.reference()
            )));
        }
        Task::Binary => {}
        Task::Regression => {
            if !matches!(label_col.ty, ColumnType::Integer | ColumnType::Float) {
                return Err(Error::Rejected(format!(
                    "label column {:?} is {}; regression needs an integer or float label",
                    fs.label,
                    label_col.ty.name()
                )));
            }
        }
        Task::Multiclass { .. } => {
            if let Some(c) = &label_col.categories {
                if c.len() < 3 {
                    return Err(too_few(c.len()));
                }
                listed = Some(c);
            }
        }
    }
    // The record's row count sizes the buffers (bounded by the snapshot's size, so a wrong
    // count cannot ask for more than the data could fill).
    let expected = usize::try_from(doc.rows.min(doc.snapshot_size)).unwrap_or(0);
    let width = fs.width();
    let mut x: Vec<f32> = Vec::with_capacity(expected.saturating_mul(width));
    let mut y: Vec<f32> = Vec::with_capacity(expected);
    let mut slices = slice_idx.map(|_| Vec::with_capacity(expected));
    let mut rows = 0usize;
    // Binary: the first three distinct label values, each as a one-column row.
    let mut distinct = std::collections::BTreeSet::new();
    let mut label_values: Vec<Vec<Value>> = Vec::new();
    // Multiclass, classes not listed: index by first appearance.
    let mut found: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    let row_task = *task;
    feed(&mut |n, row| {
        let label = match row_task {
            Task::Binary => {
                let v = &row[label_idx];
                if distinct.len() < 3 && !matches!(v, Value::Null) && distinct.insert(v.canonical())
                {
                    label_values.push(vec![v.clone()]);
                }
                fs.label_of(row, label_idx, n as usize)?
            }
            Task::Regression => match &row[label_idx] {
                Value::Int(v) => *v as f32,
                Value::Float(v) => *v as f32,
                _ => return Err(missing(n)),
            },
            Task::Multiclass { .. } => {
                let v = match &row[label_idx] {
                    Value::Null => return Err(missing(n)),
                    v => v.canonical(),
                };
                match listed {
                    Some(classes) => classes.iter().position(|c| *c == v).ok_or_else(|| {
                        Error::Rejected(format!("row {n}: label {v:?} is not a known class"))
                    })? as f32,
                    None => {
                        let next = found.len();
                        let i = *found.entry(v).or_insert(next);
                        if found.len() > MAX_CLASSES {
                            return Err(Error::Rejected(format!(
                                "label column {:?} has more than {MAX_CLASSES} values; too \
                                 many classes",
                                fs.label
                            )));
                        }
                        i as f32
                    }
                }
            }
        };
        fs.transform(row, &columns, &mut x);
        y.push(label);
        if let (Some(s), Some(idx)) = (slices.as_mut(), slice_idx) {
            s.push(airlock_core::slice::group_of(&row[idx], &[]));
        }
        rows += 1;
        Ok(())
    })?;
    let classes: Vec<String> = match task {
        Task::Binary => {
            let negative = negative_class(label_col, &fs.positive, &label_values, 0)
                .unwrap_or_else(|| format!("not {}", fs.positive));
            vec![negative, fs.positive.clone()]
        }
        Task::Regression => Vec::new(),
        Task::Multiclass { .. } => {
            let classes = match listed {
                Some(c) => c.to_vec(),
                None => {
                    // Renumber the classes from order of appearance to sorted order.
                    let mut names: Vec<(String, usize)> = found.into_iter().collect();
                    names.sort();
                    let mut renumber = vec![0f32; names.len()];
                    for (new, (_, first_seen)) in names.iter().enumerate() {
                        renumber[*first_seen] = new as f32;
                    }
                    for label in &mut y {
                        *label = renumber[*label as usize];
                    }
                    names.into_iter().map(|(name, _)| name).collect()
                }
            };
            if classes.len() < 3 {
                return Err(too_few(classes.len()));
            }
            *task = Task::Multiclass {
                classes: classes.len(),
            };
            classes
        }
    };
    Ok(Prepared {
        x: Matrix::new(x, rows, width)?,
        y,
        classes,
        slices,
    })
}
