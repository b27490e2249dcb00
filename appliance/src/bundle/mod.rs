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
//!
//! The wire format itself, pure and fuzzed, is `airlock_core::bundle`,
//! re-exported here as [`format`].

pub use airlock_core::bundle as format;

pub mod export;
pub mod import;
pub mod media;

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::format::check_age_header;

    #[test]
    fn age_headers_that_age_writes_pass_the_core_bound() {
        for _ in 0..8 {
            let mut genuine = Vec::new();
            let to = age::x25519::Identity::generate().to_public();
            let mut w = age::Encryptor::with_recipients(std::iter::once(&to as _))
                .expect("encryptor")
                .wrap_output(&mut genuine)
                .expect("wrap");
            w.write_all(b"x").expect("write");
            w.finish().expect("finish");
            let len = check_age_header(&genuine).expect("a genuine header");
            assert!(genuine[..len].ends_with(b"\n") && len < 1024, "{len}");
        }
    }
}
