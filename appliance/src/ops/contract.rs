//! Schema contracts: `airlock contract apply` registers a version (an existing
//! version must be identical, a new one numbered above every registered one,
//! its reference dataset present with a profile); resolving and loading a
//! registered contract. The contract document and its checks are the core's
//! (`airlock_core::contract`); ingest checks files against it (`ops::ingest`).

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::contract::Contract;
use crate::digest::Digest;
use crate::error::{Error, Missing, Result};
use crate::node::home::Home;
use crate::profile::Profile;
use crate::site::SiteName;
use crate::store::objects::Table;
use crate::store::{AuditEntry, AuditedTx, Reads, contracts};
use crate::vault::registry::{self, Kind, NameRef};
use airlock_core::dataset::DatasetDoc;

/// Where an ingest's contract comes from.
#[derive(Clone, Debug)]
pub enum ContractSource {
    /// A registered contract, `NAME[@VERSION]` (newest without a version).
    Registered(NameRef),
    /// A contract file, registered on the way if it is new.
    File(PathBuf),
    /// A contract held here, by id (a model's, whichever site made it).
    Id(Digest),
}

impl ContractSource {
    /// An existing file is a contract file; anything else names a
    /// registered contract.
    pub fn parse(s: &str) -> Result<Self> {
        let p = Path::new(s);
        if p.is_file() {
            Ok(ContractSource::File(p.to_path_buf()))
        } else if s.ends_with(".toml") {
            Err(Error::NotFound(format!("contract file {s} does not exist")))
        } else {
            Ok(ContractSource::Registered(s.parse()?))
        }
    }
}

/// What `contract apply` did.
#[derive(Clone, Debug, Serialize)]
pub struct ContractApplied {
    /// The contract's digest.
    pub id: Digest,
    /// `name@version`.
    pub reference: String,
    /// True when this exact version was already registered.
    pub unchanged: bool,
}

/// Reads a contract file.
pub fn read_contract(path: &Path) -> Result<Contract> {
    let bytes = crate::node::fsx::read_capped(path, 1 << 20)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| Error::Rejected(format!("contract {}: not UTF-8 text", path.display())))?;
    Ok(Contract::from_toml(&text, &path.display().to_string())?)
}

/// Checks that `contract` may be registered: an existing version must be
/// identical, and a new version must be above every registered one.
/// Returns true when it is already registered.
pub(crate) fn check_new_version(
    store: &impl Reads,
    site: &SiteName,
    contract: &Contract,
    id: &Digest,
) -> Result<bool> {
    let existing = contracts::id_of(store, site, &contract.name, contract.version)?;
    match existing {
        Some(e) if e == id.hex() => return Ok(true),
        Some(_) => {
            return Err(Error::Rejected(format!(
                "contract {} v{} is already registered with different content; give the changed contract a new version",
                contract.name, contract.version
            )));
        }
        None => {}
    }
    let newest = contracts::newest_version(store, site, &contract.name)?;
    if let Some(n) = newest.filter(|n| *n > contract.version) {
        return Err(Error::Rejected(format!(
            "contract {} v{} is older than the registered v{n}; a new version must be numbered above it",
            contract.name, contract.version
        )));
    }
    Ok(false)
}

/// Stores a contract version and indexes it (inside the caller's
/// transaction).
pub(crate) fn register_contract(tx: &AuditedTx<'_>, contract: &Contract) -> Result<Digest> {
    let bytes = contract.to_canonical();
    let id = registry::put_object(tx, Kind::Contract, &bytes)?;
    contracts::insert_own(tx, &id, &contract.name, contract.version)?;
    Ok(id)
}

/// Registers a contract version (`airlock contract apply`). Its reference
/// dataset, if it names one, must exist here with a profile.
pub fn apply_contract(home: &mut Home, contract: &Contract) -> Result<ContractApplied> {
    let id = Digest::of(&contract.to_canonical());
    let reference = format!("{}@{}", contract.name, contract.version);
    if check_new_version(home.store(), home.site(), contract, &id)? {
        return Ok(ContractApplied {
            id,
            reference,
            unchanged: true,
        });
    }
    reference_profile(home, contract)?;
    let tx = home.begin()?;
    register_contract(&tx, contract)?;
    tx.commit(AuditEntry::new(
        "contract.apply",
        &[id.hex()],
        json!({ "contract": reference }),
    ))?;
    Ok(ContractApplied {
        id,
        reference,
        unchanged: false,
    })
}

/// Resolves a registered contract `[SITE/]NAME[@VERSION]`.
pub fn resolve_contract(home: &Home, r: &NameRef) -> Result<(Digest, Contract)> {
    let (id, _, _) = registry::resolve(home.store(), Table::Contracts, "contract", home.site(), r)?;
    Ok((id, load_contract(home, &id)?))
}

/// The profile of the contract's reference dataset, checked to fit the
/// contract's drift columns.
pub(crate) fn reference_profile(home: &Home, contract: &Contract) -> Result<Option<Profile>> {
    let Some(r) = &contract.reference else {
        return Ok(None);
    };
    let name_ref: NameRef = r.parse()?;
    let (_, doc) = dataset_record(home, &name_ref).map_err(|e| match e {
        Error::Missing(Missing::Named { .. }) => Error::Missing(Missing::ReferenceDataset {
            contract: contract.name.clone(),
            version: contract.version,
            reference: r.clone(),
        }),
        e => e,
    })?;
    let profile = doc.profile.ok_or_else(|| {
        Error::Rejected(format!(
            "reference dataset {r} has no profile (it was ingested by an older Airlock); ingest it again"
        ))
    })?;
    for (i, c) in contract.columns.iter().enumerate() {
        if c.drift.is_none() {
            continue;
        }
        match profile.columns.get(i) {
            Some(p) if p.name == c.name && p.ty == c.ty => {}
            _ => {
                return Err(Error::Rejected(format!(
                    "contract {} v{}: column {:?} has a drift check, but reference {r} has no {} column {:?} in that place",
                    contract.name,
                    contract.version,
                    c.name,
                    c.ty.name(),
                    c.name
                )));
            }
        }
    }
    Ok(Some(profile))
}

/// Loads a contract by id (verifying its signature).
pub fn load_contract(home: &Home, id: &Digest) -> Result<Contract> {
    let c: Contract = registry::load(home.store(), home.vault(), id)?;
    Ok(c)
}

/// Every contract version registered here, by site, name and version
/// (`rows` is 0).
pub fn list_contracts(home: &Home) -> Result<Vec<registry::Listed>> {
    contracts::list(home.store())
}

/// A dataset version's record by `[SITE/]NAME[@VERSION]`: a contract's reference dataset, and
/// `data show` (here, below ingest, so that contracts, which ingest builds on, need not
/// depend on it).
pub(crate) fn dataset_record(home: &Home, r: &NameRef) -> Result<(Digest, DatasetDoc)> {
    let (id, _, _) = registry::resolve(
        home.store(),
        crate::store::objects::Table::Datasets,
        "dataset",
        home.site(),
        r,
    )?;
    let doc: DatasetDoc = registry::load(home.store(), home.vault(), &id)?;
    Ok((id, doc))
}
