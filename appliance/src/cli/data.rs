//! The data commands: `contract`, `data` and `features`.

use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use airlock::contract::{self, Contract};
use airlock::error::{IoContext, Result, exit};
use airlock::header::{HeaderColumn, Renamed};
use airlock::node::home::Home;
use airlock::ops::contract::ContractSource;
use airlock::ops::drift;
use airlock::ops::features;
use airlock::ops::ingest::{self, Format, IngestOptions};
use airlock::ops::online;
use airlock::profile::ColumnProfile;
use airlock::vault::registry::NameRef;

use crate::cli::output::Out;
use crate::cli::short;

#[derive(Subcommand, Debug)]
pub enum ContractCmd {
    /// Register a schema contract version from a TOML file (see docs/data.md
    /// for the format). A changed contract needs a higher version number.
    Apply {
        /// The contract file.
        file: PathBuf,
    },
    /// Print a registered contract as TOML.
    Show {
        /// The contract, [SITE/]NAME[@VERSION] (the newest without a version).
        contract: String,
    },
    /// Show what changed between two contracts: columns added (+), removed
    /// (-) and changed (~) with old and new values.
    Diff {
        /// The old contract: NAME@VERSION or a TOML file.
        a: String,
        /// The new contract: NAME@VERSION or a TOML file.
        b: String,
    },
    /// List registered contract versions.
    List,
}

#[derive(Subcommand, Debug)]
pub enum DataCmd {
    /// Check a CSV or Parquet file against a schema contract and store it as
    /// a new immutable snapshot with its profile. Nothing is stored if any
    /// rule is broken; every violation is listed by row, column, expected
    /// and found.
    Ingest {
        /// The file (CSV in the contract's dialect, or Parquet).
        file: PathBuf,
        /// Dataset name.
        #[arg(long)]
        dataset: String,
        /// The contract: a registered NAME[@VERSION], or a TOML file (which
        /// is registered on the way).
        #[arg(long)]
        contract: String,
        /// If the file is refused, write its offending rows to this new file
        /// (mode 0600: it holds raw data) for the data owner.
        #[arg(long, value_name = "FILE")]
        quarantine: Option<PathBuf>,
        /// The file's format (by default: .parquet/.pq is Parquet, anything
        /// else CSV).
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
    },
    /// List dataset versions.
    List,
    /// Show a dataset version's profile: per column count, nulls, distinct
    /// values, min/max/mean/std, quantiles, top values and a histogram.
    Show {
        /// The dataset, [SITE/]NAME[@VERSION].
        dataset: String,
    },
    /// Measure how far a file has drifted from a reference dataset, feature by
    /// feature: a test (Kolmogorov-Smirnov, chi-squared) when either side has at
    /// most 1000 values, a distance (Wasserstein normed by the reference's
    /// standard deviation, Jensen-Shannon) when both have more (docs/monitoring.md).
    /// Reads only. Exit status 8 when a feature drifted, 0 when none did.
    Drift {
        /// The reference dataset, [SITE/]NAME[@VERSION].
        dataset: String,
        /// The file to compare, read under the reference's contract (CSV in its
        /// dialect, or Parquet).
        #[arg(long, value_name = "FILE")]
        current: PathBuf,
        /// Measures and thresholds (TOML, docs/monitoring.md) instead of the
        /// defaults.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// The file's format (by default: .parquet/.pq is Parquet, anything
        /// else CSV).
        #[arg(long, value_enum)]
        format: Option<FormatArg>,
    },
}

/// `--format`: the library's [`Format`], named for the command line.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormatArg {
    /// Delimited text, in the contract's CSV dialect.
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Csv => Format::Csv,
            FormatArg::Parquet => Format::Parquet,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum FeaturesCmd {
    /// Fit a feature spec (TOML) on its dataset and freeze it as a new version.
    Apply {
        /// The feature spec.
        spec: PathBuf,
    },
    /// List feature set versions.
    List,
    /// Write the latest feature vector of every entity into the online
    /// store (HOME/online.db) and switch the version to it atomically;
    /// lookups are never blocked. The contract must declare `entity` (and
    /// `event_time` to order rows; without it the last row wins).
    Materialize {
        /// The feature set, [SITE/]NAME@VERSION.
        set: String,
        /// Compute from this dataset (same contract) instead of the one the
        /// feature set was fit on, [SITE/]NAME[@VERSION].
        #[arg(long, value_name = "DATASET")]
        from: Option<String>,
    },
    /// Look up an entity's feature vector in the online store (takes no
    /// lock: works while other commands run).
    Get {
        /// The feature set, [SITE/]NAME[@VERSION] (without a version: the
        /// one materialized last).
        set: String,
        /// The entity key.
        #[arg(long)]
        entity: String,
    },
    /// Build a point-in-time-correct training set: each label row
    /// (entity, time, label) gets the features of its entity's newest row
    /// at or before its time, never a later one. Written as CSV (0600).
    Join {
        /// The feature set, [SITE/]NAME@VERSION.
        set: String,
        /// The labels dataset: its contract declares `entity` and
        /// `event_time` and it has the feature set's label column.
        #[arg(long, value_name = "DATASET")]
        labels: String,
        /// Feature rows from this dataset (same contract as the feature
        /// set) instead of the one it was fit on.
        #[arg(long, value_name = "DATASET")]
        from: Option<String>,
        /// The new CSV file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

fn contract_arg(home: &Home, s: &str) -> Result<(String, Contract)> {
    match ContractSource::parse(s)? {
        ContractSource::File(p) => Ok((
            p.display().to_string(),
            airlock::ops::contract::read_contract(&p)?,
        )),
        ContractSource::Registered(r) => {
            let (_, c) = airlock::ops::contract::resolve_contract(home, &r)?;
            Ok((format!("{}@{}", c.name, c.version), c))
        }
        ContractSource::Id(id) => {
            let c = airlock::ops::contract::load_contract(home, &id)?;
            Ok((format!("{}@{}", c.name, c.version), c))
        }
    }
}

pub fn contract(home_dir: &Path, out: Out, cmd: ContractCmd) -> Result<i32> {
    match cmd {
        ContractCmd::Apply { file } => {
            let mut home = Home::open(home_dir)?;
            let c = airlock::ops::contract::read_contract(&file)?;
            let r = airlock::ops::contract::apply_contract(&mut home, &c)?;
            out.emit(&r, |r| {
                if r.unchanged {
                    out.line(format_args!(
                        "contract {} is already registered (id {})",
                        r.reference,
                        r.id.short()
                    ));
                } else {
                    out.line(format_args!(
                        "registered contract {} (id {})",
                        r.reference,
                        r.id.short()
                    ));
                }
            });
        }
        ContractCmd::Show { contract } => {
            let home = Home::open(home_dir)?;
            let r: NameRef = contract.parse()?;
            let (id, c) = airlock::ops::contract::resolve_contract(&home, &r)?;
            out.emit(&json!({ "id": id, "contract": c }), |_| {
                out.line(format_args!(
                    "# contract {}@{} (id {})",
                    c.name,
                    c.version,
                    id.short()
                ));
                out.text(&c.to_toml());
            });
        }
        ContractCmd::Diff { a, b } => {
            let home = Home::open(home_dir)?;
            let (an, ac) = contract_arg(&home, &a)?;
            let (bn, bc) = contract_arg(&home, &b)?;
            let lines = contract::diff(&ac, &bc);
            out.emit(&json!({ "from": an, "to": bn, "changes": lines }), |_| {
                if lines.is_empty() {
                    out.line(format_args!("{an} and {bn} are the same contract"));
                }
                for l in &lines {
                    out.line(format_args!("{l}"));
                }
            });
        }
        ContractCmd::List => {
            let home = Home::open(home_dir)?;
            let rows = airlock::ops::contract::list_contracts(&home)?;
            out.emit(&rows, |rs| {
                for r in rs {
                    out.line(format_args!(
                        "{}/{}@{}  id {}  {}",
                        r.site,
                        r.name,
                        r.version,
                        short(&r.id),
                        r.created_at
                    ));
                }
            });
        }
    }
    Ok(exit::OK)
}

pub fn data(home_dir: &Path, out: Out, cmd: DataCmd) -> Result<i32> {
    match cmd {
        DataCmd::Ingest {
            file,
            dataset,
            contract,
            quarantine,
            format,
        } => {
            let mut home = Home::open(home_dir)?;
            let source = ContractSource::parse(&contract)?;
            let bar = out.counter("checking");
            let opts = IngestOptions {
                quarantine,
                format: format.map(Format::from),
            };
            let r = ingest::ingest(&mut home, &file, &dataset, &source, &opts, &mut |n| {
                bar.set_position(n)
            });
            bar.finish_and_clear();
            let r = r?;
            let mut v = serde_json::to_value(&r).unwrap_or_default();
            v["dataset"] = json!(format!("{}@{}", r.name, r.version));
            out.emit(&v, |_| {
                if r.unchanged {
                    out.line(format_args!(
                        "{} is already ingested as {}@{} ({} rows); nothing new stored",
                        file.display(),
                        r.name,
                        r.version,
                        r.rows
                    ));
                } else {
                    out.line(format_args!(
                        "ingested {}@{}: {} rows, contract {}, snapshot {}",
                        r.name,
                        r.version,
                        r.rows,
                        r.contract_ref,
                        r.snapshot.short()
                    ));
                }
                header_lines(out, &r.ignored, &r.renamed);
                for d in &r.drift {
                    match (&d.value, &d.skipped) {
                        (Some(v), _) => out.line(format_args!(
                            "  drift {:?}: {} {v:.4} (threshold {})",
                            d.column,
                            d.metric.name(),
                            d.threshold
                        )),
                        (None, Some(why)) => {
                            out.line(format_args!("  drift {:?}: not checked: {why}", d.column))
                        }
                        _ => {}
                    }
                }
            });
        }
        DataCmd::List => {
            let home = Home::open(home_dir)?;
            let rows = ingest::list(&home)?;
            out.emit(&rows, |rs| {
                for r in rs {
                    out.line(format_args!(
                        "{}/{}@{}  {} rows  id {}  {}",
                        r.site,
                        r.name,
                        r.version,
                        r.rows,
                        short(&r.id),
                        r.created_at
                    ));
                }
            });
        }
        DataCmd::Drift {
            dataset,
            current,
            policy,
            format,
        } => {
            let home = Home::open_read_only(home_dir)?;
            let policy = match policy {
                Some(p) => {
                    let bytes = airlock::node::fsx::read_capped(&p, 1 << 20)?;
                    let text = String::from_utf8(bytes).map_err(|_| {
                        airlock::Error::Rejected(format!(
                            "drift policy {}: not UTF-8 text",
                            p.display()
                        ))
                    })?;
                    drift::DriftPolicy::from_toml(&text, &p.display().to_string())?
                }
                None => drift::DriftPolicy::default(),
            };
            let bar = out.counter("reading");
            let r = drift::against_file(
                &home,
                &dataset.parse()?,
                &current,
                format.map(Format::from),
                &policy,
                &|n| bar.set_position(n),
            );
            bar.finish_and_clear();
            let r = r?;
            out.emit(&r, |r| crate::cli::drift::print(out, r));
            return Ok(if r.drifted.is_empty() {
                exit::OK
            } else {
                exit::DRIFT
            });
        }
        DataCmd::Show { dataset } => {
            let home = Home::open(home_dir)?;
            let (id, doc) = ingest::show(&home, &dataset.parse()?)?;
            out.emit(&json!({ "id": id, "dataset": doc }), |_| {
                out.line(format_args!(
                    "{}/{}@{}  {} rows  {:?}  snapshot {}  ingested {} from {}",
                    doc.site,
                    doc.name,
                    doc.version,
                    doc.rows,
                    doc.format,
                    doc.snapshot.short(),
                    doc.created_at,
                    doc.source
                ));
                header_lines(out, &doc.ignored, &doc.renamed);
                match &doc.profile {
                    None => out.line("  (no profile: ingested by an older Airlock)"),
                    Some(p) => p.columns.iter().for_each(|c| print_column(out, c)),
                }
            });
        }
    }
    Ok(exit::OK)
}

fn spark(counts: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    counts
        .iter()
        .map(|&c| {
            if c == 0 {
                ' '
            } else {
                BARS[((c * 7) / max) as usize]
            }
        })
        .collect()
}

fn print_column(out: Out, c: &ColumnProfile) {
    let about = if c.distinct_exact { "" } else { "~" };
    out.line(format_args!(
        "  {} ({})  count {}  nulls {} ({:.2}%)  distinct {about}{}",
        c.name,
        c.ty.name(),
        c.count,
        c.nulls,
        c.null_rate * 100.0,
        c.distinct
    ));
    if let Some(n) = &c.numeric {
        out.line(format_args!(
            "      min {}  max {}  mean {}  std {:.6}",
            c.show(n.min),
            c.show(n.max),
            c.show(n.mean),
            n.std
        ));
        let qs: Vec<String> = n
            .quantiles
            .iter()
            .map(|q| format!("p{} {}", (q.p * 100.0).round(), c.show(q.value)))
            .collect();
        out.line(format_args!("      {}", qs.join("  ")));
        out.line(format_args!(
            "      histogram [{}] {} .. {}{}",
            spark(&n.histogram.counts),
            c.show(n.min),
            c.show(n.max),
            if n.sampled { " (from a sample)" } else { "" }
        ));
    }
    if !c.top.is_empty() {
        let shown: Vec<String> = c
            .top
            .iter()
            .take(8)
            .map(|f| {
                format!(
                    "{} {} ({:.1}%)",
                    contract::show(&f.value),
                    f.count,
                    f.count as f64 * 100.0 / c.count.max(1) as f64
                )
            })
            .collect();
        let more = if c.top.len() > 8 {
            format!(", ... {} more", c.top.len() - 8)
        } else {
            String::new()
        };
        out.line(format_args!("      top {}{more}", shown.join(", ")));
    }
}

pub fn features(home_dir: &Path, out: Out, cmd: FeaturesCmd) -> Result<i32> {
    match cmd {
        FeaturesCmd::Apply { spec } => {
            let mut home = Home::open(home_dir)?;
            let text = std::fs::read_to_string(&spec).at(&spec)?;
            let r = features::apply(&mut home, &text, &spec.display().to_string())?;
            out.emit(&json!({ "id": r.id, "feature_set": r.reference, "width": r.width, "unchanged": r.unchanged }), |_| {
                if r.unchanged {
                    out.line(format_args!("{} is unchanged (id {})", r.reference, r.id.short()));
                } else {
                    out.line(format_args!("created feature set {} ({} features, id {})", r.reference, r.width, r.id.short()));
                }
            });
        }
        FeaturesCmd::List => {
            let home = Home::open(home_dir)?;
            let rows = features::list(&home)?;
            out.emit(&rows, |rs| {
                for r in rs {
                    out.line(format_args!(
                        "{}/{}@{}  {} features  id {}",
                        r.site,
                        r.name,
                        r.version,
                        r.rows,
                        short(&r.id)
                    ));
                }
            });
        }
        FeaturesCmd::Materialize { set, from } => {
            let mut home = Home::open(home_dir)?;
            let from: Option<NameRef> = from.map(|f| f.parse()).transpose()?;
            let bar = out.counter("materializing");
            let r = online::materialize(&mut home, &set.parse()?, from.as_ref(), &mut |n| {
                bar.set_position(n)
            });
            bar.finish_and_clear();
            let r = r?;
            out.emit(&r, |r| {
                out.line(format_args!(
                    "materialized {}: {} entities from {} rows (width {})",
                    r.reference, r.entities, r.rows, r.width
                ))
            });
        }
        FeaturesCmd::Get { set, entity } => {
            let reader = online::OnlineReader::open(home_dir)?;
            let table = reader.table(&set.parse()?)?;
            let hit = reader.get(&table, &entity)?.ok_or_else(|| {
                airlock::Error::NotFound(format!(
                    "entity {entity:?} is not in {} (materialized {})",
                    table.reference, table.materialized_at
                ))
            })?;
            out.emit(&json!({ "feature_set": table.feature_set, "reference": table.reference, "entity": hit.entity,
                               "event_time": hit.event_time, "row": hit.row, "vector": hit.vector }), |_| {
                out.line(format_args!(
                    "{} entity {}: {:?}",
                    table.reference, hit.entity, hit.vector
                ));
            });
        }
        FeaturesCmd::Join {
            set,
            labels,
            from,
            out: file,
        } => {
            let home = Home::open(home_dir)?;
            let from: Option<NameRef> = from.map(|f| f.parse()).transpose()?;
            let r = online::join(&home, &set.parse()?, &labels.parse()?, from.as_ref(), &file)?;
            out.emit(&r, |r| {
                out.line(format_args!(
                    "wrote {}: {} label rows ({} with no feature row known at their time: features imputed)",
                    r.out, r.rows, r.without_history
                ))
            });
        }
    }
    Ok(exit::OK)
}

/// The header columns a contract ignored or read under another name.
fn header_lines(out: Out, ignored: &[HeaderColumn], renamed: &[Renamed]) {
    if !ignored.is_empty() {
        let names: Vec<String> = ignored
            .iter()
            .map(|c| format!("{} (column {})", c.name, c.position))
            .collect();
        out.line(format_args!(
            "  ignored {} header column{}: {}",
            ignored.len(),
            if ignored.len() == 1 { "" } else { "s" },
            names.join(", ")
        ));
    }
    for r in renamed {
        out.line(format_args!(
            "  renamed header column {} {:?} -> {:?}",
            r.position, r.from, r.to
        ));
    }
}
