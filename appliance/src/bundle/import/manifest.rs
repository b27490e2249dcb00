//! Stages 1 and 2: open a bundle (its footer and encrypted trailer) and
//! check its manifest: signature, recipient, sequence and freshness.

use std::iter;
use std::path::Path;

use crate::bundle::format::{self, Footer, Manifest};
use crate::bundle::media::Parts;
use crate::digest::Digest;
use crate::error::{BundlePart, Error, Result};
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::store::Reads;
use crate::trust::keys::{self, Domain};

use airlock_core::freshness::{Against, Unfresh};

use super::{
    Document, Freshness, ImportOptions, MAX_SHELF_DAYS, Mode, Opened, SequenceStatus,
    VerifiedManifest, corrupt, format_error, prefix, read_failed, replay, sequence_status,
    trusted_time,
};

fn not_for_us(home: &Home, source: &str) -> Error {
    Error::Refused(format!(
        "bundle rejected: {source} is not encrypted to this site ({}): it was made for another site, or its header was damaged in transit",
        home.site()
    ))
}

/// Opens a bundle from its file or first part: finds the parts, reads the
/// footer and decrypts the trailer with this site's age key.
pub fn open(home: &Home, path: &Path) -> Result<Opened> {
    let parts = Parts::discover(path)?;
    let source = parts.describe();
    let src = source.as_str();
    let mut leader = [0u8; format::LEADER_LEN as usize];
    if parts.total < format::LEADER_LEN + format::FOOTER_LEN {
        return Err(corrupt(src, format!("only {} bytes", parts.total)));
    }
    parts
        .read_exact_at(0, &mut leader)
        .map_err(|e| read_failed(src, e))?;
    format::check_leader(&leader).map_err(|e| format_error(src, e))?;
    let mut end = [0u8; format::FOOTER_LEN as usize];
    parts
        .read_exact_at(parts.total - format::FOOTER_LEN, &mut end)
        .map_err(|e| read_failed(src, e))?;
    let footer = Footer::parse(&end, parts.total).map_err(|e| match parts.odd_part() {
        Some(odd) => Error::Integrity(format!(
            "bundle rejected: {src}: {odd}: it was cut short or changed while copying; copy it again from the source media"
        )),
        None => format_error(src, e),
    })?;
    let mut trailer = vec![0u8; footer.trailer_len as usize];
    parts
        .read_exact_at(footer.payload_len, &mut trailer)
        .map_err(|e| read_failed(src, e))?;
    format::check_age_header(&trailer)
        .map_err(|e| corrupt(src, format!("the manifest's encryption header: {e}")))?;
    let decryptor = age::Decryptor::new_buffered(&trailer[..])
        .map_err(|e| corrupt(src, format!("the manifest's encryption header: {e}")))?;
    let mut reader = decryptor
        .decrypt(iter::once(home.keys().age_identity() as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => not_for_us(home, src),
            other => corrupt(src, format!("the manifest: {other}")),
        })?;
    let signed = format::read_trailer(&mut reader).map_err(|e| format_error(src, e))?;
    Ok(Opened {
        source,
        parts,
        signed,
        payload_len: footer.payload_len,
    })
}

/// How a manifest's times look from here at `now` (the home's clock).
fn freshness(conn: &impl Reads, m: &Manifest, now: Timestamp) -> Result<Freshness> {
    Ok(Freshness::of(
        m.created_at,
        m.expires_at,
        trusted_time(conn)?,
        now,
    ))
}

impl Opened {
    /// Verifies an audit log export's manifest against the site card of
    /// its origin (not this node's trust list), then reads and verifies the
    /// log. Nothing is imported; no sequence or freshness rule applies (an
    /// auditor may check an old export).
    pub fn verify_audit_export(
        self,
        home: &Home,
        card: &crate::site::SiteCard,
        on_bytes: &mut dyn FnMut(u64, u64),
    ) -> Result<(crate::store::audit::AuditExport, Digest)> {
        let m = &self.signed.manifest;
        if m.origin_site != card.site {
            return Err(Error::Refused(format!(
                "bundle rejected: {} comes from site {:?}, not from the card's site {}",
                self.source,
                m.origin_site.as_str(),
                card.site
            )));
        }
        let key_id = card.keys.key_id().to_string();
        let mut v = self.verify_with(home, key_id.clone(), card.keys.signing)?;
        v.origin_only = Some(vec![(card.site.clone(), key_id, card.keys.signing)]);
        let (_, documents) = v.read_body(home, Mode::Audit, on_bytes)?;
        let bundle = v.bundle;
        let mut logs = documents.into_iter().filter_map(|(_, d)| match d {
            Document::AuditLog(a) => Some(*a),
            _ => None,
        });
        match (logs.next(), logs.next()) {
            (Some(doc), None) => Ok((doc, bundle)),
            _ => Err(Error::Refused(format!(
                "bundle rejected: {}: it is not an audit log export (it must carry exactly one audit log)",
                v.source
            ))),
        }
    }

    /// Verifies the manifest's signature against the key this node trusts
    /// for the origin site (under a trust policy, the policy's, checked
    /// against the trust list: [`crate::trust::peer`]), and that the
    /// manifest names this site and its key as recipient.
    pub fn verify(self, home: &Home) -> Result<VerifiedManifest> {
        let m = &self.signed.manifest;
        let src = &self.source;
        let origin = crate::trust::peer(home, &m.origin_site)
            .map_err(|e| prefix(src, BundlePart::Manifest, e))?;
        let Some(origin) = origin else {
            return Err(Error::Refused(format!(
                "bundle rejected: {src} comes from site {:?}, which this node does not trust (airlock trust add CARD)",
                m.origin_site.as_str()
            )));
        };
        self.verify_with(home, origin.key_id, origin.signing)
    }

    /// [`Opened::verify`] against the origin key `key` (id `key_id`).
    fn verify_with(
        self,
        home: &Home,
        key_id: String,
        key: ed25519_dalek::VerifyingKey,
    ) -> Result<VerifiedManifest> {
        let m = &self.signed.manifest;
        let src = &self.source;
        if key_id != m.origin_key {
            return Err(Error::Refused(format!(
                "bundle rejected: {src} is signed by key {} but the key this node holds for site {:?} is {key_id}",
                m.origin_key,
                m.origin_site.as_str()
            )));
        }
        if !keys::verify(
            &key,
            Domain::Manifest,
            &self.signed.bytes,
            &self.signed.signature,
        ) {
            return Err(Error::Integrity(format!(
                "bundle rejected: {src}: the manifest signature does not verify with site {:?}'s key; it was forged or altered",
                m.origin_site.as_str()
            )));
        }
        if m.recipient_site != *home.site() {
            return Err(Error::Refused(format!(
                "bundle rejected: {src} is addressed to site {:?}, not to this site ({}); it was re-encrypted or misdelivered",
                m.recipient_site.as_str(),
                home.site()
            )));
        }
        if m.recipient_key != home.public().age_recipient {
            return Err(Error::Refused(format!(
                "bundle rejected: {src} is addressed to site {} but to another encryption key than this node's; it was made from an old or forged site card",
                home.site()
            )));
        }
        if m.payload.size != self.payload_len {
            return Err(corrupt(
                src,
                "the footer and the signed manifest disagree on the payload size",
            ));
        }
        let sequence = sequence_status(home.store(), m)?;
        let freshness = freshness(home.store(), m, home.now())?;
        Ok(VerifiedManifest {
            source: self.source,
            parts: self.parts,
            bundle: Digest::of(&self.signed.bytes),
            manifest: self.signed.manifest,
            sequence,
            freshness,
            origin_only: None,
        })
    }
}

impl VerifiedManifest {
    /// Refuses a replayed or rolled-back bundle, an expired one, one from
    /// the future, and (unless overridden) a stale one.
    pub(super) fn check_fresh(&self, opts: ImportOptions) -> Result<()> {
        let m = &self.manifest;
        let src = &self.source;
        if let SequenceStatus::Stale { last } = self.sequence {
            return Err(replay(m, last));
        }
        let origin = m.origin_site.as_str();
        match self.freshness.verdict(opts.allow_stale) {
            Ok(()) => Ok(()),
            Err(Unfresh::Expired {
                expires_at,
                against,
            }) => {
                let against = match against {
                    Against::TrustedTime(t) => format!("the latest trusted time is {t}"),
                    Against::Clock(now) => format!("it is now {now}"),
                };
                Err(Error::Refused(format!(
                    "bundle rejected: {src} expired at {expires_at} ({against}); ask site {origin:?} for a fresh export"
                )))
            }
            Err(Unfresh::FromTheFuture { created_at, now }) => Err(Error::Refused(format!(
                "bundle rejected: {src} was made at {created_at}, more than a day after this node's clock ({now}); set this node's clock, or ask site {origin:?} to check theirs"
            ))),
            Err(Unfresh::Stale {
                created_at,
                trusted_time,
            }) => Err(Error::Refused(format!(
                "bundle rejected: {src} was made at {created_at}, more than {MAX_SHELF_DAYS} days before the newest bundle this node has accepted ({trusted_time}); it may be an old bundle replayed to hold this node back. If it really sat on the shelf that long, import it with --allow-stale (recorded in the audit log)"
            ))),
        }
    }
}
