//! Media bundles: the only path across the air gap.
//!
//! A bundle is one file: a signed manifest and the objects it lists, the
//! whole encrypted with age to the recipient site. Export gathers a model's
//! lineage (run record, weights, feature set, contract, dataset record, gate
//! reports, approvals) and optionally raw snapshots. Import runs as a state
//! machine that writes nothing to the store until everything is verified:
//!
//! 1. [`import::open`]: decrypt with the site's age key, read the manifest;
//! 2. [`import::Opened::verify`]: origin signature by a trusted key,
//!    recipient, sequence, expiry → [`import::VerifiedManifest`];
//! 3. [`import::VerifiedManifest::stage`]: stream each object into the
//!    vault's staging area, checking size, digest and the maker's signature
//!    → [`import::VerifiedBundle`];
//! 4. [`import::VerifiedBundle::commit`]: one SQLite transaction.

pub mod export;
pub mod format;
pub mod import;
pub mod media;
