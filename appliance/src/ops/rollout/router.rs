//! The router: the models that answer requests to production, and which of them answers a
//! request, chosen by a hash of its entity key (so one entity always gets the same model).

use serde_json::json;

use airlock_core::sketch::hash64;

use crate::error::{Error, Result};
use crate::node::home::Home;
use crate::ops::score::Scorer;
use crate::vault::registry::NameRef;

use super::{CANARY, PRODUCTION, SHADOW, current, open_scorer};

/// Where a request goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// The production model answers.
    Production,
    /// The canary answers.
    Canary,
}

/// A model in a slot that takes a share of production's requests.
pub struct Share {
    /// Its scorer.
    pub scorer: Scorer,
    /// Its share, in percent.
    pub percent: f64,
}

/// The models that answer requests to `production`, and the shadow: what `predict` and
/// `serve` score with.
pub struct Router {
    /// The production model.
    pub production: Scorer,
    /// The canary, if one is deployed (and reads the feature set a request names, if any).
    pub canary: Option<Share>,
    /// The shadow, likewise.
    pub shadow: Option<Share>,
    /// The columns of a request's entity key: the contract's entity column, else its key.
    key: Vec<String>,
    /// The slot it routes (`production`, or another slot served alone).
    pub slot: String,
}

/// A typed cell as the text of a JSON request's value of it (numbers as numbers, text as a
/// JSON string, missing as `null`): how [`Router::entity_key`] sees an entity, so a CSV row,
/// a label and a JSON request of the same entity have the same key. (A CSV row's integer key
/// used to become a JSON string, so it was routed, and would have been joined, unlike the
/// same entity's JSON request.)
pub fn request_text(v: &crate::contract::Value) -> String {
    use crate::contract::Value;
    match v {
        Value::Null => "null".into(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => json!(f).to_string(),
        Value::Text(t) => serde_json::Value::String(t.clone()).to_string(),
    }
}

/// Buckets of a share: a request is in a share of P percent when its bucket is under P * 100.
const BUCKETS: u64 = 10_000;

fn bucket(salt: &[u8], key: &str) -> u64 {
    let mut b = salt.to_vec();
    b.extend_from_slice(key.as_bytes());
    hash64(&b) % BUCKETS
}

pub(super) fn in_share(salt: &[u8], key: &str, percent: f64) -> bool {
    (bucket(salt, key) as f64) < percent * (BUCKETS as f64 / 100.0)
}

impl Router {
    /// The router of `slot`: for `production`, with the canary and shadow when deployed;
    /// for any other slot, its model alone. When `expected_features` is given the slot's
    /// model must use exactly that feature set version (refused otherwise), and a canary or
    /// shadow that does not is left out.
    pub fn open(home: &Home, slot: &str, expected_features: Option<&NameRef>) -> Result<Router> {
        let production = open_scorer(home, slot, expected_features)?;
        let share = |s: &str| -> Result<Option<Share>> {
            if slot != PRODUCTION {
                return Ok(None);
            }
            let Some((_, d)) = current(home, s)? else {
                return Ok(None);
            };
            let scorer = match open_scorer(home, s, expected_features) {
                Ok(sc) => sc,
                Err(Error::FeatureSetMismatch(_)) => return Ok(None),
                Err(e) => return Err(e),
            };
            Ok(Some(Share {
                scorer,
                percent: d.percent.unwrap_or(0.0),
            }))
        };
        let canary = share(CANARY)?;
        let shadow = share(SHADOW)?;
        let c = production.contract();
        let key = match &c.entity {
            Some(e) => vec![e.clone()],
            None => c.key.clone().unwrap_or_default(),
        };
        Ok(Router {
            production,
            canary,
            shadow,
            key,
            slot: slot.to_owned(),
        })
    }

    /// A request's entity key: the value of the contract's entity column (else of its key
    /// columns); without either, the whole request (so one request always goes the same way).
    pub fn entity_key(&self, obj: &serde_json::Map<String, serde_json::Value>) -> String {
        if self.key.is_empty() {
            return serde_json::Value::Object(obj.clone()).to_string();
        }
        self.key
            .iter()
            .map(|k| obj.get(k).map_or_else(String::new, |v| v.to_string()))
            .collect::<Vec<_>>()
            .join("\u{1f}")
    }

    /// The entity key of a CSV request, its cells in contract order: as [`Router::entity_key`].
    pub fn entity_key_of_cells(&self, cells: &csv::StringRecord) -> String {
        let contract = self.production.contract();
        if self.key.is_empty() {
            return cells.iter().collect::<Vec<_>>().join("\u{1f}");
        }
        self.key
            .iter()
            .map(|k| {
                contract
                    .index_of(k)
                    .and_then(|i| cells.get(i))
                    .map_or_else(String::new, |c| {
                        // The same text as a JSON request's value of the column.
                        match contract.parse_cell(contract.index_of(k).unwrap_or(0), c) {
                            Ok(v) => request_text(&v),
                            Err(_) => c.to_string(),
                        }
                    })
            })
            .collect::<Vec<_>>()
            .join("\u{1f}")
    }

    /// Whether requests have an entity key of their own (the contract names an entity or key
    /// column); without one, [`Router::entity_key`] is the whole request.
    pub fn keyed(&self) -> bool {
        !self.key.is_empty()
    }

    /// Where the request with entity key `key` goes.
    pub fn route(&self, key: &str) -> Route {
        match &self.canary {
            Some(c) if in_share(b"airlock.canary\0", key, c.percent) => Route::Canary,
            _ => Route::Production,
        }
    }

    /// Whether the shadow scores the request with entity key `key`.
    pub fn shadowed(&self, key: &str) -> bool {
        self.shadow
            .as_ref()
            .is_some_and(|s| in_share(b"airlock.shadow\0", key, s.percent))
    }

    /// The scorer of a route.
    pub fn scorer(&self, route: Route) -> &Scorer {
        match (route, &self.canary) {
            (Route::Canary, Some(c)) => &c.scorer,
            _ => &self.production,
        }
    }
}
