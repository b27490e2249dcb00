//! The Features screen's data: every feature set version, and a version's transforms with the
//! parameters frozen when it was fitted, and whether it is materialized in the online store,
//! loaded with the calls `airlock features list` and `features get` make. Read-only.

use std::collections::BTreeMap;

use airlock::digest::Digest;
use airlock::error::Missing;
use airlock::node::home::Home;
use airlock::ops::contract;
use airlock::ops::features::{self, DatePart, Fitted, Scale};
use airlock::ops::ingest;
use airlock::ops::online::OnlineReader;
use airlock::vault::registry;
use airlock::vault::registry::NameRef;

use crate::shown::Shown;
use crate::view::{ErrorView, Loaded, TextLine, heading, line, wrapped};

/// One feature set version in the list.
#[derive(Clone, Debug)]
pub struct SetRow {
    /// Its id.
    pub id: Shown,
    /// The same, for the library.
    pub id_hex: String,
    /// `SITE/NAME@VERSION`.
    pub reference: Shown,
    /// Vector width.
    pub width: i64,
    /// When it was registered here.
    pub created: Shown,
}

/// One feature of a version.
#[derive(Clone, Debug)]
pub struct FeatureView {
    /// The transform (`standardize`, `one_hot`, ...).
    pub transform: Shown,
    /// The columns it reads.
    pub columns: Shown,
    /// The slots it takes in the vector.
    pub width: usize,
    /// Its frozen parameters, in words.
    pub parameters: Shown,
}

/// A version's materialization in the online store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Materialized {
    /// Entities held.
    pub entities: i64,
    /// When it was written.
    pub at: Shown,
    /// Whether lookups without a version get this one.
    pub current: bool,
}

/// A version's detail.
#[derive(Clone, Debug)]
pub struct SetDetail {
    /// Its row.
    pub row: SetRow,
    /// The dataset it was fitted on (`NAME@VERSION`, or its id when not held here).
    pub dataset: Shown,
    /// Its contract, likewise.
    pub contract: Shown,
    /// The label column and the positive value.
    pub label: Shown,
    /// Its features, in vector order.
    pub features: Vec<FeatureView>,
    /// In the online store, not there (`None`), or the store's error.
    pub materialized: Loaded<Option<Materialized>>,
}

impl SetDetail {
    /// The detail as lines, in the order they are drawn.
    pub fn text(&self) -> Vec<TextLine> {
        let mut out = vec![
            heading(format!("Feature set {}", self.row.reference)),
            line(format!("  id          {}", self.row.id)),
            line(format!("  fitted on   {}", self.dataset)),
            line(format!("  contract    {}", self.contract)),
            line(format!("  label       {}", self.label)),
            line(format!(
                "  vector      {} slots from {} features",
                self.row.width,
                self.features.len()
            )),
            line(format!(
                "  online      {}",
                match &self.materialized {
                    Ok(None) => "not materialized (airlock features materialize)".to_string(),
                    Ok(Some(m)) => format!(
                        "{} entities, materialized {}{}",
                        m.entities,
                        m.at,
                        if m.current {
                            ", the version lookups get"
                        } else {
                            ""
                        }
                    ),
                    Err(e) => format!("the online store cannot be read: {}", e.message),
                }
            )),
            heading("Transforms, in vector order, with their frozen parameters".into()),
        ];
        for (i, f) in self.features.iter().enumerate() {
            out.push(line(format!(
                "  {:>2}. {:<12} {}  ({} slot{})",
                i + 1,
                f.transform,
                f.columns,
                f.width,
                if f.width == 1 { "" } else { "s" }
            )));
            wrapped(&mut out, "        ", f.parameters.as_str());
        }
        out
    }
}

/// `features list`.
pub fn sets(home: &Home) -> airlock::Result<Vec<SetRow>> {
    Ok(features::list(home)?
        .into_iter()
        .map(|l| SetRow {
            id: Shown::new(&l.id),
            id_hex: l.id.clone(),
            reference: Shown::new(&format!("{}/{}@{}", l.site, l.name, l.version)),
            width: l.rows,
            created: Shown::new(&l.created_at),
        })
        .collect())
}

fn number(x: f64) -> String {
    // Enough digits to read a parameter, without the noise of a full f64.
    let s = format!("{x:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".into() } else { s.into() }
}

fn list(values: &[String], most: usize) -> String {
    let shown: Vec<&str> = values.iter().take(most).map(String::as_str).collect();
    let more = values.len().saturating_sub(most);
    let more = if more > 0 {
        format!(", ... {more} more")
    } else {
        String::new()
    };
    format!("[{}{more}]", shown.join(", "))
}

/// A fitted feature's parameters in words.
pub fn parameters(f: &Fitted) -> String {
    let missing = |indicator: bool| {
        if indicator {
            ", a was-missing slot"
        } else {
            ""
        }
    };
    match f {
        Fitted::Numeric {
            denominator,
            fill,
            indicator,
            clip,
            log1p,
            scale,
            ..
        } => {
            let mut parts = Vec::new();
            if let Some(d) = denominator {
                parts.push(format!("divided by {d}"));
            }
            parts.push(format!("missing -> {}", number(*fill)));
            if let Some([lo, hi]) = clip {
                parts.push(format!("clipped to [{}, {}]", number(*lo), number(*hi)));
            }
            if *log1p {
                parts.push("log1p".into());
            }
            parts.push(match scale {
                Scale::None => "not scaled".into(),
                Scale::Standardize { mean, std } => {
                    format!("(x - {}) / {}", number(*mean), number(*std))
                }
                Scale::MinMax { min, max } => {
                    format!("min-max over [{}, {}]", number(*min), number(*max))
                }
            });
            format!("{}{}", parts.join(", "), missing(*indicator))
        }
        Fitted::Bucketize {
            boundaries,
            fill,
            indicator,
            ..
        } => format!(
            "boundaries {}, missing -> {}{}",
            list(
                &boundaries.iter().map(|b| number(*b)).collect::<Vec<_>>(),
                8
            ),
            number(*fill),
            missing(*indicator)
        ),
        Fitted::OneHot {
            vocabulary,
            fill,
            indicator,
            ..
        } => format!(
            "vocabulary {} and an other slot, missing -> {}{}",
            list(vocabulary, 8),
            fill.as_deref().unwrap_or("other"),
            missing(*indicator)
        ),
        Fitted::Hashed { buckets, .. } => {
            format!("{buckets} hash buckets and a slot for missing")
        }
        Fitted::DateParts {
            parts,
            fill,
            indicator,
            year,
            ..
        } => format!(
            "parts {}, missing -> {} (seconds), year (y - {}) / {}{}",
            list(
                &parts
                    .iter()
                    .map(|p| match p {
                        DatePart::Year => "year",
                        DatePart::Month => "month",
                        DatePart::Day => "day",
                        DatePart::Weekday => "weekday",
                        DatePart::Hour => "hour",
                    }
                    .to_string())
                    .collect::<Vec<_>>(),
                5
            ),
            fill,
            number(year[0]),
            number(year[1]),
            missing(*indicator)
        ),
    }
}

fn transform(f: &Fitted) -> &'static str {
    match f {
        Fitted::Numeric {
            scale: Scale::Standardize { .. },
            ..
        } => "standardize",
        Fitted::Numeric {
            scale: Scale::MinMax { .. },
            ..
        } => "min_max",
        Fitted::Numeric { .. } => "numeric",
        Fitted::Bucketize { .. } => "bucketize",
        Fitted::OneHot { .. } => "one_hot",
        Fitted::Hashed { columns, .. } if columns.len() > 1 => "cross",
        Fitted::Hashed { .. } => "hashing",
        Fitted::DateParts { .. } => "date_parts",
    }
}

/// The online store's record of the version (`features get`'s lookup of the table).
fn materialized(home: &Home, doc: &features::FeatureSetDoc) -> Loaded<Option<Materialized>> {
    let reader = match OnlineReader::open(home.root()) {
        Ok(r) => r,
        Err(airlock::Error::Missing(Missing::OnlineStore { .. })) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let named = |version: Option<i64>| NameRef {
        site: Some(doc.site.clone()),
        name: doc.name.clone(),
        version,
    };
    match reader.table(&named(Some(doc.version))) {
        Ok(t) => {
            let current = reader
                .table(&named(None))
                .is_ok_and(|c| c.feature_set == t.feature_set);
            Ok(Some(Materialized {
                entities: t.entities,
                at: Shown::new(&t.materialized_at),
                current,
            }))
        }
        Err(airlock::Error::Missing(Missing::OnlineTable { .. })) => Ok(None),
        Err(e) => Err(ErrorView::from(e)),
    }
}

/// A version's detail: the frozen record (`features list` names it; the record is verified
/// as it is loaded), the names of its dataset and contract, and the online store.
pub fn detail(home: &Home, row: &SetRow) -> airlock::Result<SetDetail> {
    let id: Digest = row
        .id_hex
        .parse()
        .map_err(|e| airlock::Error::Integrity(format!("feature set id: {e}")))?;
    let doc = features::load(home, &id)?;
    let names = |rows: Vec<registry::Listed>| -> BTreeMap<String, String> {
        rows.into_iter()
            .map(|l| (l.id, format!("{}/{}@{}", l.site, l.name, l.version)))
            .collect()
    };
    let datasets = names(ingest::list(home)?);
    let contracts = names(contract::list_contracts(home)?);
    let named = |names: &BTreeMap<String, String>, d: &Digest| {
        Shown::new(names.get(&d.hex()).map_or(&d.short(), |n| n))
    };
    Ok(SetDetail {
        row: row.clone(),
        dataset: named(&datasets, &doc.dataset),
        contract: named(&contracts, &doc.contract),
        label: Shown::new(&if doc.positive.is_empty() {
            doc.label.clone()
        } else {
            format!("{} (positive: {})", doc.label, doc.positive)
        }),
        features: doc
            .features
            .iter()
            .map(|f| FeatureView {
                transform: Shown::new(transform(f)),
                columns: Shown::new(&f.columns().join(" x ")),
                width: f.width(),
                parameters: Shown::new(&parameters(f)),
            })
            .collect(),
        materialized: materialized(home, &doc),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_said_in_words_with_readable_numbers() {
        let f = Fitted::Numeric {
            column: "income".into(),
            denominator: None,
            fill: 41250.0,
            indicator: true,
            clip: Some([0.0, 250000.0]),
            log1p: true,
            scale: Scale::Standardize {
                mean: 10.123456789,
                std: 0.5,
            },
        };
        assert_eq!(
            parameters(&f),
            "missing -> 41250, clipped to [0, 250000], log1p, (x - 10.123457) / 0.5, a was-missing slot"
        );
        let v: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
        let f = Fitted::OneHot {
            column: "c".into(),
            vocabulary: v,
            fill: None,
            indicator: false,
        };
        assert_eq!(
            parameters(&f),
            "vocabulary [v0, v1, v2, v3, v4, v5, v6, v7, ... 2 more] and an other slot, missing -> other"
        );
    }
}
