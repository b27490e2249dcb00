//! The online store: the latest feature vector of every entity, per
//! feature set version, for low-latency serving lookups; and
//! point-in-time-correct training sets.
//!
//! It lives apart from the node's store, in `HOME/online.db` (SQLite, WAL):
//! processed data never mixes with the signed records, and readers never
//! take the home's command lock. `features materialize SET@V` computes each
//! row's vector with the feature set's one transform and keeps, per entity,
//! the row with the latest event time (the last in file order among equal
//! times, or without an event time). It writes a new table and, in the
//! same transaction, points the version (and the name's "current" version)
//! at it: a reader sees the old table or the new one, never a mix, and is
//! never blocked (WAL readers work from their snapshot while a writer
//! commits).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::contract::{Contract, Value};
use crate::digest::Digest;
use crate::error::{Error, Missing, Result};
use crate::node::home::Home;
use crate::ops::contract;
use crate::ops::features::{self, FeatureSetDoc};
use crate::ops::ingest;
use crate::store::AuditEntry;
use crate::store::online::{Batch, Load, OnlineDb, Target};
use crate::vault::registry::{self, NameRef};

/// The online store's file in a home.
pub fn path(home_root: &Path) -> PathBuf {
    home_root.join("online.db")
}

/// What a materialization did.
#[derive(Clone, Debug, Serialize)]
pub struct Materialized {
    /// The feature set version's id.
    pub feature_set: Digest,
    /// `name@version`.
    pub reference: String,
    /// The dataset the rows came from.
    pub dataset: Digest,
    /// Rows read.
    pub rows: u64,
    /// Entities written.
    pub entities: u64,
    /// Vector width.
    pub width: usize,
}

/// The entity key and event time columns of a contract: `entity` must be
/// declared; the event time is optional.
fn entity_columns(contract: &Contract) -> Result<(usize, Option<usize>)> {
    let e = contract
        .entity
        .as_deref()
        .and_then(|e| contract.index_of(e))
        .ok_or_else(|| {
            Error::Rejected(format!(
                "contract {} v{} declares no `entity` column; the online store and point-in-time joins need one",
                contract.name, contract.version
            ))
        })?;
    let t = contract
        .event_time
        .as_deref()
        .and_then(|t| contract.index_of(t));
    Ok((e, t))
}

/// An entity key as text: the canonical cell.
fn entity_key(v: &Value) -> String {
    v.canonical()
}

fn time_of(row: &[Value], t: Option<usize>) -> i64 {
    match t.map(|i| &row[i]) {
        Some(Value::Int(x)) => *x,
        _ => i64::MIN,
    }
}

fn vector_of(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

fn resolve_set(home: &Home, set: &NameRef) -> Result<(Digest, FeatureSetDoc)> {
    let (id, _, _) = registry::resolve(
        home.store(),
        crate::store::objects::Table::FeatureSets,
        "feature set",
        home.site(),
        set,
    )?;
    Ok((id, features::load(home, &id)?))
}

/// The dataset rows come from: `from`, or the one the feature set was fit
/// on; it must follow the feature set's contract.
fn source_dataset(home: &Home, fs: &FeatureSetDoc, from: Option<&NameRef>) -> Result<Digest> {
    let id = match from {
        Some(r) => {
            registry::resolve(
                home.store(),
                crate::store::objects::Table::Datasets,
                "dataset",
                home.site(),
                r,
            )?
            .0
        }
        None => fs.dataset,
    };
    let doc: ingest::DatasetDoc = registry::load(home.store(), home.vault(), &id)?;
    if doc.contract != fs.contract {
        return Err(Error::Refused(format!(
            "dataset {}@{} follows contract {}, but feature set {} was fit for contract {}",
            doc.name,
            doc.version,
            doc.contract.short(),
            fs.reference(),
            fs.contract.short()
        )));
    }
    Ok(id)
}

/// Appends an entity key that is not text (the canonical cell) to `buf`.
fn push_entity_key(buf: &mut String, v: &Value) {
    use std::fmt::Write as _;
    // Writing into a String cannot fail.
    let _ = match v {
        Value::Null => Ok(()),
        Value::Int(i) => write!(buf, "{i}"),
        Value::Float(f) => write!(buf, "{f}"),
        Value::Text(s) => {
            buf.push_str(s);
            Ok(())
        }
    };
}

/// Rows per batch, and batches in flight (the load's memory: a few MiB).
const BATCH_ROWS: usize = 2048;
const BATCHES: usize = 4;

/// The reading half of a materialization: streams `dataset`, computes each
/// row's vector into a batch and sends full batches to the writer; returns
/// the rows read.
#[allow(clippy::too_many_arguments)]
fn read_rows(
    home: &Home,
    dataset: &Digest,
    fs: &FeatureSetDoc,
    bound: &features::Bound,
    ei: usize,
    ti: Option<usize>,
    out: &std::sync::mpsc::SyncSender<Load>,
    back: &std::sync::mpsc::Receiver<Batch>,
    on_row: &mut dyn FnMut(u64),
) -> Result<u64> {
    let hung_up =
        || Error::Rejected("the online store's writer stopped; nothing was written".into());
    let mut made = 0;
    let fresh = |made: &mut usize| -> Result<Batch> {
        if *made < BATCHES + 1 {
            *made += 1;
            return Ok(Batch {
                rows: Vec::with_capacity(BATCH_ROWS),
                keys: String::new(),
                blobs: Vec::with_capacity(BATCH_ROWS * fs.width() * 4),
            });
        }
        let mut b = back.recv().map_err(|_| hung_up())?;
        b.clear();
        Ok(b)
    };
    let mut batch = fresh(&mut made)?;
    let mut x = Vec::with_capacity(fs.width());
    let mut rows = 0u64;
    ingest::stream_rows_by_id(home, dataset, &mut |n, row| {
        x.clear();
        fs.transform(row, bound, &mut x);
        batch.blobs.extend(x.iter().flat_map(|v| v.to_le_bytes()));
        match &row[ei] {
            Value::Text(s) => batch.keys.push_str(s),
            other => push_entity_key(&mut batch.keys, other),
        }
        batch.rows.push((
            n as i64,
            time_of(row, ti),
            batch.keys.len(),
            batch.blobs.len(),
        ));
        rows = n;
        if batch.rows.len() == BATCH_ROWS {
            let full = std::mem::replace(&mut batch, fresh(&mut made)?);
            out.send(Load::Rows(full)).map_err(|_| hung_up())?;
        }
        if n % 4096 == 0 {
            on_row(n);
        }
        Ok(())
    })?;
    if !batch.rows.is_empty() {
        out.send(Load::Rows(batch)).map_err(|_| hung_up())?;
    }
    Ok(rows)
}

/// Writes the latest vector per entity of `set` (computed from `from`, or
/// the dataset it was fit on) into a new online table and switches the
/// version to it atomically. `on_row` is told rows read, for progress.
pub fn materialize(
    home: &mut Home,
    set: &NameRef,
    from: Option<&NameRef>,
    on_row: &mut dyn FnMut(u64),
) -> Result<Materialized> {
    let (fs_id, fs) = resolve_set(home, set)?;
    let dataset = source_dataset(home, &fs, from)?;
    let contract = contract::load_contract(home, &fs.contract)?;
    let (ei, ti) = entity_columns(&contract)?;
    let bound = fs.bind(&contract)?;
    let target = Target {
        feature_set: fs_id.hex(),
        site: fs.site.as_str().to_string(),
        name: fs.name.clone(),
        version: fs.version,
        dataset: dataset.hex(),
        entity_type: contract.columns[ei].ty.name(),
        width: fs.width() as i64,
        now: home.now().to_string(),
    };
    // Two threads on the two halves of the work: this one decrypts, parses
    // and transforms the rows; the other writes them into SQLite. Bounded
    // channels keep memory flat: at most BATCHES batches exist.
    let (tx_rows, rx_rows) = std::sync::mpsc::sync_channel::<Load>(BATCHES);
    let (tx_back, rx_back) = std::sync::mpsc::sync_channel::<Batch>(BATCHES);
    let root = home.root().to_path_buf();
    let (read, written) = std::thread::scope(|scope| {
        let writer = scope.spawn(move || {
            crate::store::online::write_table(&path(&root), &target, &rx_rows, &tx_back)
        });
        let read = read_rows(
            home, &dataset, &fs, &bound, ei, ti, &tx_rows, &rx_back, on_row,
        );
        if read.is_ok() {
            // A writer that already failed has hung up; its error is joined below.
            let _ = tx_rows.send(Load::Done);
        }
        drop(tx_rows);
        let written = writer.join().unwrap_or_else(|_| {
            Err(Error::Integrity(
                "the online store's writing thread panicked; nothing was written".into(),
            ))
        });
        (read, written)
    });
    // The writer's own error first: the reader then only saw it hang up.
    // A writer that stopped because the reader did leaves the reader's.
    let written = written?;
    let rows = read?;
    let Some((table, entities)) = written else {
        return Err(Error::Integrity(
            "the online store's writer stopped without an error; nothing was written".into(),
        ));
    };
    on_row(rows);
    home.record(AuditEntry::new(
        "features.materialize",
        &[fs_id.hex(), dataset.hex()],
        json!({ "feature_set": fs.reference(), "rows": rows, "entities": entities, "table": table }),
    ))?;
    Ok(Materialized {
        feature_set: fs_id,
        reference: fs.reference(),
        dataset,
        rows,
        entities: entities as u64,
        width: fs.width(),
    })
}

/// A read-only view of the online store. It takes no lock on the home:
/// lookups go on while commands (a materialization included) run.
pub struct OnlineReader {
    db: OnlineDb,
}

/// A feature set version in the online store, ready for lookups.
#[derive(Clone, Debug, Serialize)]
pub struct OnlineTable {
    /// The feature set version's id.
    pub feature_set: String,
    /// `name@version`.
    pub reference: String,
    /// Entities held.
    pub entities: i64,
    /// Vector width.
    pub width: i64,
    /// When it was written.
    pub materialized_at: String,
    /// The entity column's type (keys are stored in canonical form).
    pub entity_type: String,
    table: String,
}

/// One entity's features.
#[derive(Clone, Debug, Serialize)]
pub struct Lookup {
    /// The entity.
    pub entity: String,
    /// The event time of the row the vector came from (seconds since the
    /// epoch; absent when the contract has no event time).
    pub event_time: Option<i64>,
    /// The source row's number in its dataset.
    pub row: i64,
    /// The feature vector.
    pub vector: Vec<f32>,
}

impl OnlineReader {
    /// Opens the online store of the home at `home_root`, read-only.
    pub fn open(home_root: &Path) -> Result<Self> {
        let p = path(home_root);
        if !p.is_file() {
            return Err(Error::Missing(Missing::OnlineStore { path: p }));
        }
        Ok(OnlineReader {
            db: OnlineDb::open(&p)?,
        })
    }

    /// Finds a feature set version: `[SITE/]NAME@VERSION`, or the newest
    /// materialized version of `[SITE/]NAME`.
    pub fn table(&self, set: &NameRef) -> Result<OnlineTable> {
        let id = self.db.find(
            &set.name,
            set.version,
            set.site.as_ref().map(|s| s.as_str()),
        )?;
        let id = id.ok_or_else(|| {
            Error::Missing(Missing::OnlineTable {
                set: set.to_string(),
            })
        })?;
        let v = self.db.version(id)?;
        Ok(OnlineTable {
            feature_set: v.feature_set,
            reference: format!("{}@{}", v.name, v.version),
            entities: v.entities,
            width: v.width,
            materialized_at: v.materialized_at,
            table: v.table,
            entity_type: v.entity_type,
        })
    }

    /// The features of `entity` in `table`, or `None`. If the version was
    /// materialized again since `table` was found, the new table is read.
    pub fn get(&self, table: &OnlineTable, entity: &str) -> Result<Option<Lookup>> {
        // Keys are stored as canonical cells: `007` of an integer entity
        // is 7, a date is its seconds since the epoch.
        let canonical = match table.entity_type.as_str() {
            "integer" => entity.trim().parse::<i64>().ok().map(|i| i.to_string()),
            "float" => entity.trim().parse::<f64>().ok().map(|f| f.to_string()),
            "date" => crate::contract::parse_date(entity.trim()).map(|t| t.to_string()),
            "timestamp" => crate::contract::parse_timestamp(entity.trim()).map(|t| t.to_string()),
            _ => Some(entity.to_string()),
        };
        let Some(key) = canonical else {
            return Err(Error::Rejected(format!(
                "entity {entity:?} is not a valid {} key of {}",
                table.entity_type, table.reference
            )));
        };
        let entity = key.as_str();
        let hit = self.db.lookup(&table.table, &table.feature_set, entity)?;
        Ok(hit.map(|(t, row, v)| Lookup {
            entity: entity.to_string(),
            event_time: (t != i64::MIN).then_some(t),
            row,
            vector: vector_of(&v),
        }))
    }
}

/// What a point-in-time join produced.
#[derive(Clone, Debug, Serialize)]
pub struct Joined {
    /// Label rows joined.
    pub rows: u64,
    /// Label rows for which no feature row was known at their time (their
    /// features are the fitted fills, as for a serving request with every
    /// value missing).
    pub without_history: u64,
    /// Where the training set was written.
    pub out: String,
}

/// Joins label rows `(entity, time, label)` to feature rows so that each
/// label sees only the newest feature row of its entity whose event time is
/// at or before the label's time (never a later one: no leakage). Writes a
/// CSV training set: entity, label_time, feature_time, label, then the
/// feature vector.
pub fn join(
    home: &Home,
    set: &NameRef,
    labels: &NameRef,
    from: Option<&NameRef>,
    out: &Path,
) -> Result<Joined> {
    let (_, fs) = resolve_set(home, set)?;
    let dataset = source_dataset(home, &fs, from)?;
    let features_contract = dataset_contract(home, &dataset)?.1;
    let (fe, ft) = entity_columns(&features_contract)?;
    let ft = ft.ok_or_else(|| {
        Error::Rejected(format!(
            "contract {} v{} declares no `event_time`; a point-in-time join needs one",
            features_contract.name, features_contract.version
        ))
    })?;
    let (labels_id, _, _) = registry::resolve(
        home.store(),
        crate::store::objects::Table::Datasets,
        "dataset",
        home.site(),
        labels,
    )?;
    let (labels_doc, labels_contract) = dataset_contract(home, &labels_id)?;
    let (le, lt) = entity_columns(&labels_contract)?;
    let lt = lt.ok_or_else(|| {
        Error::Rejected(format!(
            "labels contract {} v{} declares no `event_time`; each label needs its time",
            labels_contract.name, labels_contract.version
        ))
    })?;
    let li = labels_contract.index_of(&fs.label).ok_or_else(|| {
        Error::Rejected(format!(
            "labels dataset {}@{} has no label column {:?}",
            labels_doc.name, labels_doc.version, fs.label
        ))
    })?;
    // Memory follows the label rows, never the feature rows: the labels
    // (entity, time, label text) are held, the feature snapshot is read
    // twice, its rows lent and dropped: once to find each label's feature
    // row, once to compute the vectors of the rows found (one vector per
    // distinct row chosen). The CSV is written as it is produced.
    let mut pit = PointInTime::default();
    ingest::stream_rows_by_id(home, &labels_id, &mut |_, row| {
        pit.add_label(
            entity_key(&row[le]),
            time_of(row, Some(lt)),
            row[li].canonical(),
        );
        Ok(())
    })?;
    pit.index();
    let mut key = String::new();
    ingest::stream_rows_by_id(home, &dataset, &mut |n, row| {
        if let Some(e) = pit.entity_of(&row[fe], &mut key) {
            pit.offer(e, time_of(row, Some(ft)), n);
        }
        Ok(())
    })?;
    let keys = pit.take_keys();
    let choices = pit.choices();
    // The distinct feature rows chosen, sorted.
    let mut chosen: Vec<u64> = choices.iter().flatten().map(|(_, n)| *n).collect();
    chosen.sort_unstable();
    chosen.dedup();
    let bound = fs.bind(&features_contract)?;
    let width = fs.width();
    let mut vectors = vec![0f32; chosen.len() * width];
    let mut x = Vec::with_capacity(width);
    ingest::stream_rows_by_id(home, &dataset, &mut |n, row| {
        if let Ok(k) = chosen.binary_search(&n) {
            x.clear();
            fs.transform(row, &bound, &mut x);
            vectors[k * width..(k + 1) * width].copy_from_slice(&x);
        }
        Ok(())
    })?;
    let empty = vec![Value::Null; features_contract.columns.len()];
    let mut imputed = Vec::with_capacity(width);
    fs.transform(&empty, &bound, &mut imputed);
    let ty = features_contract.columns[ft].ty;
    let label_ty = labels_contract.columns[lt].ty;
    let mut header = vec![
        "entity".to_string(),
        "label_time".into(),
        "feature_time".into(),
        fs.label.clone(),
    ];
    header.extend((0..width).map(|i| format!("f{i}")));
    let csv_err = |e: csv::Error| Error::io(out, std::io::Error::other(e));
    let mut without = 0u64;
    crate::node::fsx::write_new_with(out, |sink| {
        let mut w = csv::Writer::from_writer(sink);
        w.write_record(&header).map_err(csv_err)?;
        let mut rec: Vec<String> = Vec::with_capacity(4 + width);
        for (l, best) in pit.labels.iter().zip(&choices) {
            rec.clear();
            rec.push(keys[l.entity as usize].clone());
            rec.push(crate::contract::format_time(label_ty, l.time));
            let v = match best {
                Some((t, n)) => {
                    rec.push(crate::contract::format_time(ty, *t));
                    let k = chosen.binary_search(n).unwrap_or_default();
                    &vectors[k * width..(k + 1) * width]
                }
                None => {
                    without += 1;
                    rec.push(String::new());
                    &imputed[..]
                }
            };
            rec.push(l.label.clone());
            rec.extend(v.iter().map(|v| v.to_string()));
            w.write_record(&rec).map_err(csv_err)?;
        }
        w.flush().map_err(|e| Error::io(out, e))
    })?;
    Ok(Joined {
        rows: pit.labels.len() as u64,
        without_history: without,
        out: out.display().to_string(),
    })
}

/// A dataset version's record and contract, without reading its rows.
fn dataset_contract(home: &Home, id: &Digest) -> Result<(ingest::DatasetDoc, Contract)> {
    let doc: ingest::DatasetDoc = registry::load(home.store(), home.vault(), id)?;
    let contract = contract::load_contract(home, &doc.contract)?;
    Ok((doc, contract))
}

/// A label row of a point-in-time join.
struct LabelRow {
    entity: u32,
    time: i64,
    label: String,
}

/// No feature row (row numbers start at 1).
const NO_ROW: (i64, u64) = (i64::MIN, 0);

/// The point-in-time choice: for each label row, the newest feature row
/// (event time, then row number: the last of equal times wins) of its
/// entity at or before the label's time, found while the feature rows
/// stream by in any order. The labels are sorted by entity and time; each
/// entity's run has a segment tree over it (2 nodes a label), and a
/// feature row at time `t` raises the best of every label of its entity at
/// or after `t` (a suffix of the run) in O(log labels).
#[derive(Default)]
struct PointInTime {
    by_key: HashMap<String, u32>,
    labels: Vec<LabelRow>,
    /// Label numbers sorted by (entity, time, number).
    order: Vec<u32>,
    /// Their times.
    times: Vec<i64>,
    /// Per entity, where its run starts in `order` and its length.
    runs: Vec<(usize, usize)>,
    /// The trees: entity run (start, len) at `2 * start .. 2 * (start + len)`,
    /// leaves from `len`.
    best: Vec<(i64, u64)>,
}

impl PointInTime {
    fn add_label(&mut self, key: String, time: i64, label: String) {
        let next = self.by_key.len() as u32;
        let entity = *self.by_key.entry(key).or_insert(next);
        self.labels.push(LabelRow {
            entity,
            time,
            label,
        });
    }

    /// Sorts the labels by entity and time and makes the trees.
    fn index(&mut self) {
        let labels = &self.labels;
        let mut order: Vec<u32> = (0..labels.len() as u32).collect();
        order.sort_unstable_by_key(|n| {
            let l = &labels[*n as usize];
            (l.entity, l.time, *n)
        });
        self.times = order.iter().map(|n| labels[*n as usize].time).collect();
        self.runs = vec![(0, 0); self.by_key.len()];
        for (p, n) in order.iter().enumerate() {
            let run = &mut self.runs[labels[*n as usize].entity as usize];
            if run.1 == 0 {
                run.0 = p;
            }
            run.1 += 1;
        }
        self.order = order;
        self.best = vec![NO_ROW; 2 * self.labels.len()];
    }

    /// The entity of a feature row's key cell, if any label has it.
    fn entity_of(&self, cell: &Value, buf: &mut String) -> Option<usize> {
        let key = match cell {
            Value::Text(s) => s.as_str(),
            other => {
                *buf = entity_key(other);
                buf.as_str()
            }
        };
        self.by_key.get(key).map(|e| *e as usize)
    }

    /// A feature row of entity `e` at time `t`, row number `n`.
    fn offer(&mut self, e: usize, t: i64, n: u64) {
        let (start, len) = self.runs[e];
        let times = &self.times[start..start + len];
        let tree = &mut self.best[2 * start..2 * (start + len)];
        let v = (t, n);
        let (mut lo, mut hi) = (times.partition_point(|x| *x < t) + len, 2 * len);
        while lo < hi {
            if lo & 1 == 1 {
                tree[lo] = tree[lo].max(v);
                lo += 1;
            }
            if hi & 1 == 1 {
                hi -= 1;
                tree[hi] = tree[hi].max(v);
            }
            lo >>= 1;
            hi >>= 1;
        }
    }

    /// The chosen feature row (time, row number) of each label, by label
    /// number; `None` when its entity had none at or before its time.
    fn choices(&self) -> Vec<Option<(i64, u64)>> {
        let mut out = vec![None; self.labels.len()];
        for &(start, len) in &self.runs {
            let tree = &self.best[2 * start..2 * (start + len)];
            for p in 0..len {
                let mut i = p + len;
                let mut best = tree[i];
                while i > 1 {
                    i >>= 1;
                    best = best.max(tree[i]);
                }
                out[self.order[start + p] as usize] = (best != NO_ROW).then_some(best);
            }
        }
        out
    }

    /// The entity keys by entity number (the lookup by key is done).
    fn take_keys(&mut self) -> Vec<String> {
        let mut keys = vec![String::new(); self.by_key.len()];
        for (k, e) in self.by_key.drain() {
            keys[e as usize] = k;
        }
        keys
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The streamed point-in-time choice is the newest (time, row) at or
    /// before each label's time, as a search over every row would find,
    /// whatever the order the feature rows come in.
    #[test]
    fn the_point_in_time_choice_matches_a_search_over_every_row() {
        let mut s = 7u64;
        let mut next = move |m: u64| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) % m
        };
        for _ in 0..50 {
            let labels: Vec<(u64, i64)> =
                (0..next(40)).map(|_| (next(5), next(20) as i64)).collect();
            let features: Vec<(u64, i64)> =
                (0..next(60)).map(|_| (next(6), next(20) as i64)).collect();
            let mut pit = PointInTime::default();
            for (e, t) in &labels {
                pit.add_label(format!("e{e}"), *t, String::new());
            }
            pit.index();
            let mut buf = String::new();
            for (n, (e, t)) in features.iter().enumerate() {
                if let Some(ent) = pit.entity_of(&Value::Text(format!("e{e}")), &mut buf) {
                    pit.offer(ent, *t, n as u64 + 1);
                }
            }
            let expected: Vec<Option<(i64, u64)>> = labels
                .iter()
                .map(|(le, lt)| {
                    features
                        .iter()
                        .enumerate()
                        .filter(|(_, (e, t))| e == le && t <= lt)
                        .map(|(n, (_, t))| (*t, n as u64 + 1))
                        .max()
                })
                .collect();
            assert_eq!(
                pit.choices(),
                expected,
                "labels {labels:?} features {features:?}"
            );
        }
    }
}
