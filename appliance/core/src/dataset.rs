//! Dataset records: which snapshot, under which contract, how many rows,
//! with the profile computed at ingest. Ingesting and storing them is the
//! appliance's (`airlock::ops::ingest`).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::contract::header::{HeaderColumn, Renamed};
use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::profile::Profile;
use crate::site::SiteName;
use crate::time::Timestamp;

/// Type tag of dataset records.
pub const DATASET_TYPE: &str = "airlock.dataset/v1";

/// The file format of a raw snapshot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Delimited text, in the contract's CSV dialect.
    #[default]
    Csv,
    /// Apache Parquet.
    Parquet,
}

impl Format {
    /// The format's name, as written in records and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Parquet => "parquet",
        }
    }

    fn is_csv(&self) -> bool {
        *self == Format::Csv
    }

    /// The format a file name suggests: `.parquet`/`.pq` is Parquet, any
    /// other is CSV.
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("parquet") || e.eq_ignore_ascii_case("pq") => {
                Format::Parquet
            }
            _ => Format::Csv,
        }
    }
}

/// The signed record of one dataset version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetDoc {
    /// Always [`DATASET_TYPE`].
    #[serde(rename = "type")]
    pub ty: String,
    /// The site that ingested it.
    pub site: SiteName,
    /// Dataset name.
    pub name: String,
    /// Version, from 1, per site and name.
    pub version: i64,
    /// The contract it was checked against (vault object).
    pub contract: Digest,
    /// The raw snapshot, byte for byte as ingested (vault object).
    pub snapshot: Digest,
    /// Snapshot size in bytes.
    pub snapshot_size: u64,
    /// The snapshot's format.
    #[serde(default, skip_serializing_if = "Format::is_csv")]
    pub format: Format,
    /// Number of data rows.
    pub rows: u64,
    /// The file's name when ingested (no folder).
    pub source: String,
    /// When it was ingested.
    pub created_at: Timestamp,
    /// The profile computed at ingest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<Profile>,
    /// Header columns of the file the contract ignores: in the raw
    /// snapshot, never read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<HeaderColumn>,
    /// Header columns read as contract columns of another name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub renamed: Vec<Renamed>,
}

impl std::str::FromStr for Format {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "csv" => Ok(Format::Csv),
            "parquet" => Ok(Format::Parquet),
            _ => Err(Error::Rejected(format!("format {s:?}: use csv or parquet"))),
        }
    }
}
