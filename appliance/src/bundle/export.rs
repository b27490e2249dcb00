//! Bundle export.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::iter;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::format::{self, Entry, Footer, Manifest};
use super::media::PartsWriter;
use crate::digest::Digest;
use crate::error::{Error, IoContext, Result};
use crate::node::failpoint;
use crate::node::home::Home;
use crate::node::time::Timestamp;
use crate::ops::features::FeatureSetDoc;
use crate::ops::ingest::DatasetDoc;
use crate::ops::train;
use crate::site::SiteCard;
use crate::store::AuditEntry;
use crate::store::audit;
use crate::store::db;
use crate::trust::keys::{AgeRecipient, Domain};
use crate::trust::operator::Operator;
use crate::trust::personal::PassSource;
use crate::trust::policy::Role;
use crate::vault::Vault;
use crate::vault::pipe;
use crate::vault::registry::{self, Kind, NameRef};

/// Something to export.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// A model (id or unique prefix) with its lineage.
    Model(String),
    /// A dataset version with its raw snapshot.
    Dataset(NameRef),
    /// A root-signed trust policy file for the recipient site, which
    /// applies it if it follows its root chain.
    Policy(std::path::PathBuf),
    /// An audit log export already held in the vault (`airlock audit
    /// export`).
    AuditLog(Digest),
    /// The monitoring windows and alerts this site holds of a model (id or unique prefix),
    /// all or those in a range (`monitor:MODEL@RANGE`): summaries only, never requests.
    Monitor(String, Option<crate::ops::monitor::WindowRange>),
}

impl std::str::FromStr for Item {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("model:") {
            Ok(Item::Model(rest.into()))
        } else if let Some(rest) = s.strip_prefix("dataset:") {
            Ok(Item::Dataset(rest.parse()?))
        } else if let Some(rest) = s.strip_prefix("policy:") {
            Ok(Item::Policy(rest.into()))
        } else if let Some(rest) = s.strip_prefix("monitor:") {
            Ok(match rest.split_once('@') {
                Some((model, range)) => Item::Monitor(model.into(), Some(range.parse()?)),
                None => Item::Monitor(rest.into(), None),
            })
        } else if s.len() >= 8 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Item::Model(s.into()))
        } else {
            Err(Error::Rejected(format!(
                "export item {s:?}: write model:ID (or a bare model id), dataset:NAME[@VERSION], policy:FILE or monitor:MODEL[@FROM..TO|@last:N]"
            )))
        }
    }
}

/// What an export wrote.
#[derive(Clone, Debug, Serialize)]
pub struct Exported {
    /// The bundle's files: one, or the numbered parts.
    pub files: Vec<String>,
    /// The bundle id: SHA-256 of its signed manifest.
    pub bundle: Digest,
    /// Number of parts.
    pub parts: usize,
    /// Recipient site.
    pub recipient: String,
    /// This origin's sequence number.
    pub sequence: u64,
    /// Objects carried.
    pub objects: usize,
    /// Bytes of objects carried (before encryption).
    pub bytes: u64,
    /// Expiry.
    pub expires_at: Timestamp,
}

fn add(list: &mut BTreeMap<Digest, Kind>, kind: Kind, id: Digest) {
    list.insert(id, kind);
}

fn order(kind: Kind) -> u8 {
    match kind {
        Kind::Contract => 0,
        Kind::Snapshot => 1,
        Kind::Dataset => 2,
        Kind::FeatureSet => 3,
        Kind::Weights => 4,
        Kind::Run => 5,
        Kind::Gate => 6,
        Kind::Evaluation => 6,
        Kind::ModelDescription => 6,
        Kind::MonitorWindow | Kind::Alert => 7,
        Kind::Approval => 7,
        Kind::Policy => 8,
        Kind::Provenance => 9,
        _ => 10,
    }
}

/// Gathers the objects an export carries: each item with its lineage.
pub fn closure(home: &Home, items: &[Item], with_data: bool) -> Result<BTreeMap<Digest, Kind>> {
    let mut list = BTreeMap::new();
    for item in items {
        match item {
            Item::Model(prefix) => {
                let id = registry::resolve_model(home.store(), prefix)?;
                let run = train::load_run(home, &id)?;
                add(&mut list, Kind::Run, id);
                add(&mut list, Kind::Weights, run.weights);
                add(&mut list, Kind::FeatureSet, run.feature_set);
                let fs: FeatureSetDoc =
                    registry::load(home.store(), home.vault(), &run.feature_set)?;
                add(&mut list, Kind::Contract, fs.contract);
                add(&mut list, Kind::Dataset, run.dataset);
                if fs.dataset != run.dataset {
                    add(&mut list, Kind::Dataset, fs.dataset);
                }
                for g in crate::store::models::gates_any_order(home.store(), &id)? {
                    add(&mut list, Kind::Gate, g);
                }
                for e in crate::ops::evaluate::ids_for(home, &id)? {
                    add(&mut list, Kind::Evaluation, e);
                }
                for d in crate::ops::description::list_for(home, &id)? {
                    add(&mut list, Kind::ModelDescription, d.id);
                }
                for a in crate::store::models::approvals_any_order(home.store(), &id)? {
                    add(&mut list, Kind::Approval, a);
                }
                if with_data {
                    add(&mut list, Kind::Snapshot, run.snapshot);
                }
            }
            Item::Dataset(r) => {
                let (id, _, _) = registry::resolve(
                    home.store(),
                    crate::store::objects::Table::Datasets,
                    "dataset",
                    home.site(),
                    r,
                )?;
                let doc: DatasetDoc = registry::load(home.store(), home.vault(), &id)?;
                add(&mut list, Kind::Dataset, id);
                add(&mut list, Kind::Contract, doc.contract);
                add(&mut list, Kind::Snapshot, doc.snapshot);
            }
            Item::AuditLog(id) => add(&mut list, Kind::AuditLog, *id),
            Item::Monitor(prefix, range) => {
                let id = registry::resolve_model(home.store(), prefix)?;
                let (windows, alerts) = crate::ops::monitor::ids_in(home, &id, range.as_ref())?;
                if windows.is_empty() {
                    return Err(Error::NotFound(format!(
                        "this site holds no monitoring window of model {}{} (windows are made by `airlock serve` and `airlock predict`)",
                        id.short(),
                        if range.is_some() {
                            " in that range"
                        } else {
                            ""
                        }
                    )));
                }
                for w in windows {
                    add(&mut list, Kind::MonitorWindow, w);
                }
                for a in alerts {
                    add(&mut list, Kind::Alert, a);
                }
            }
            Item::Policy(path) => {
                let p = crate::trust::policy::read(path)?;
                let id = Digest::of(&p.render());
                if registry::held_as(home.store(), &id, Kind::Policy)?.is_none() {
                    return Err(Error::NotFound(format!(
                        "policy {} is not held here yet",
                        path.display()
                    )));
                }
                add(&mut list, Kind::Policy, id);
            }
        }
    }
    // The provenance statements of everything carried.
    let subjects: Vec<Digest> = list
        .iter()
        .filter(|(_, k)| !matches!(k, Kind::Provenance | Kind::Policy | Kind::AuditLog))
        .map(|(d, _)| *d)
        .collect();
    // (after --with-data below adds snapshots, their statements are the
    // dataset statements already included)
    for id in subjects {
        for s in crate::ops::provenance::statements_about(home.store(), &id)? {
            add(&mut list, Kind::Provenance, s);
        }
    }
    // Raw snapshots of every dataset record carried, with --with-data.
    if with_data {
        let datasets: Vec<Digest> = list
            .iter()
            .filter(|(_, k)| **k == Kind::Dataset)
            .map(|(d, _)| *d)
            .collect();
        for id in datasets {
            let doc: DatasetDoc = registry::load(home.store(), home.vault(), &id)?;
            add(&mut list, Kind::Snapshot, doc.snapshot);
        }
    }
    Ok(list)
}

/// Stores the policy files named in `items` in the vault (signed as carried
/// by this site, recorded in the audit log) so they can travel.
fn hold_policies(home: &mut Home, items: &[Item], to: &SiteCard) -> Result<()> {
    for item in items {
        let Item::Policy(path) = item else { continue };
        let p = crate::trust::policy::read(path)?;
        p.body.validate()?;
        if p.body.site != to.site {
            return Err(Error::Refused(format!(
                "{} is a trust policy for site {}, not for the recipient {}",
                path.display(),
                p.body.site,
                to.site
            )));
        }
        let bytes = p.render();
        if registry::held_as(home.store(), &Digest::of(&bytes), Kind::Policy)?.is_some() {
            continue;
        }
        let tx = home.begin()?;
        let id = registry::put_object(&tx, Kind::Policy, &bytes)?;
        tx.commit(AuditEntry::new(
            "policy.carry",
            &[id.hex()],
            json!({ "for_site": p.body.site.as_str(), "version": p.body.version, "file": path.display().to_string() }),
        ))?;
    }
    Ok(())
}

/// Under a policy, an operator holding `export` must authorise an export.
fn check_exporter(home: &Home, operator: Option<&Operator>) -> Result<()> {
    crate::trust::operator::authorize(
        crate::trust::policy::current(home.store(), home.vault())?.as_ref(),
        operator,
        crate::trust::policy::Role::Export,
    )
}

/// Who authorises an export. Under a trust policy it must be an operator
/// holding the `export` role; in setup mode nobody is needed.
#[derive(Debug)]
pub enum Authority<'a> {
    /// No operator.
    Nobody,
    /// An operator the caller has unlocked.
    Operator(&'a Operator),
    /// An operator to unlock inside the export (certificate, role under the
    /// policy, passphrase from `pass`), so that a refusal to unlock is
    /// recorded as a refused export like any other.
    Unlock {
        /// The operator's name.
        name: String,
        /// Where their passphrase comes from.
        pass: PassSource,
    },
}

/// How an export is written.
#[derive(Debug)]
pub struct ExportOptions<'a> {
    /// Also carry the raw snapshots of exported models' datasets.
    pub with_data: bool,
    /// Days until the bundle expires (1 to 3650).
    pub expires_in_days: u32,
    /// Cut the bundle into parts of this many bytes (the last smaller).
    pub split: Option<u64>,
    /// Who authorises the export.
    pub operator: Authority<'a>,
}

/// Runs `work` with the operator `who` names (unlocked for the export role
/// if need be); a refusal anywhere, the unlocking included, is appended to
/// the audit log as `bundle.export_refused` with its reason before it is
/// returned, whoever the caller is.
fn recorded<T>(
    home: &mut Home,
    who: Authority<'_>,
    out: &Path,
    work: impl FnOnce(&mut Home, Option<&Operator>) -> Result<T>,
) -> Result<T> {
    let result = (|| {
        let unlocked;
        let operator = match who {
            Authority::Nobody => None,
            Authority::Operator(o) => Some(o),
            Authority::Unlock { name, pass } => {
                unlocked = crate::trust::operator::unlock(home, &name, Role::Export, pass)?;
                Some(&unlocked)
            }
        };
        work(home, operator)
    })();
    result.map_err(|e| super::import::record_refusal(home, "bundle.export_refused", out, e))
}

/// Exports `items` to the site described by `card`, writing `out` (or
/// `out.001`, `out.002`, ... with a split). The objects stream from the
/// vault through age into the part files in one pass; the signed manifest,
/// which lists every part's digest, is written last. A refused export is
/// recorded in the audit log (`bundle.export_refused`).
pub fn export(
    home: &mut Home,
    card: &SiteCard,
    items: &[Item],
    opts: ExportOptions<'_>,
    out: &Path,
    on_bytes: &mut dyn FnMut(u64, u64),
) -> Result<Exported> {
    let (settings, who) = opts.into_parts();
    recorded(home, who, out, |home, operator| {
        write(home, card, items, &settings, operator, out, on_bytes)
    })
}

/// An export's settings once its operator is known.
struct Settings {
    with_data: bool,
    expires_in_days: u32,
    split: Option<u64>,
}

impl<'a> ExportOptions<'a> {
    fn into_parts(self) -> (Settings, Authority<'a>) {
        let settings = Settings {
            with_data: self.with_data,
            expires_in_days: self.expires_in_days,
            split: self.split,
        };
        (settings, self.operator)
    }
}

fn write(
    home: &mut Home,
    card: &SiteCard,
    items: &[Item],
    opts: &Settings,
    operator: Option<&Operator>,
    out: &Path,
    on_bytes: &mut dyn FnMut(u64, u64),
) -> Result<Exported> {
    if items.is_empty() {
        return Err(Error::Rejected(
            "nothing to export: name at least one model or dataset".into(),
        ));
    }
    if !(1..=3650).contains(&opts.expires_in_days) {
        return Err(Error::Rejected(
            "--expires-in must be 1 to 3650 days".into(),
        ));
    }
    check_recipient(home, card)?;
    check_exporter(home, operator)?;
    hold_policies(home, items, card)?;
    let list = closure(home, items, opts.with_data)?;
    let mut entries = Vec::with_capacity(list.len());
    for (id, kind) in &list {
        let size = registry::held_as(home.store(), id, *kind)?.ok_or_else(|| {
            Error::NotFound(format!(
                "{kind} {} is not held in this vault; it cannot be exported",
                id.short()
            ))
        })?;
        if !home.vault().contains(id) {
            return Err(Error::NotFound(format!(
                "{kind} {} is indexed but missing from the vault",
                id.short()
            )));
        }
        let attestations = registry::attestations(home.store(), id, *kind)?;
        entries.push(Entry {
            id: *id,
            kind: *kind,
            size,
            attestations,
        });
    }
    entries.sort_by_key(|e| (order(e.kind), e.id));
    let total: u64 = entries.iter().map(|e| e.size).sum();
    let documents: u64 = entries
        .iter()
        .filter(|e| e.kind.is_document())
        .map(|e| e.size)
        .sum();
    let parts = opts.split.map_or(1, |s| total / s + 1);
    if documents > format::MAX_DOCUMENTS || parts > format::MAX_PARTS as u64 {
        return Err(Error::Rejected(format!(
            "this export would carry {documents} bytes of records in about {parts} parts, over a bundle's limits ({} bytes, {} parts); export fewer items or choose a larger --split",
            format::MAX_DOCUMENTS,
            format::MAX_PARTS
        )));
    }
    if entries.len() > format::MAX_OBJECTS || total > format::MAX_TOTAL {
        return Err(Error::Rejected(format!(
            "{} objects of {total} bytes is over a bundle's limits ({} objects, {} bytes); export fewer items",
            entries.len(),
            format::MAX_OBJECTS,
            format::MAX_TOTAL
        )));
    }

    // The payload: leader, then the objects encrypted to the recipient.
    let recipient = card.keys.recipient()?;
    let mut writer = PartsWriter::create(out, opts.split)?;
    let out_name = out.display().to_string();
    let io_err = |e: io::Error| Error::io(&out_name, e);
    format::write_leader(&mut writer).map_err(io_err)?;
    let encryptor = age::Encryptor::with_recipients(iter::once(&recipient as _))
        .map_err(|e| Error::Rejected(format!("cannot encrypt to site {}: {e}", card.site)))?;
    let mut sealed = encryptor.wrap_output(&mut writer).map_err(io_err)?;
    stream_objects(
        home.vault(),
        &entries,
        &mut sealed,
        total,
        on_bytes,
        &out_name,
    )?;
    sealed.finish().map_err(io_err)?;
    let payload = writer.end_payload();

    // The manifest: sequence, times, objects and parts, signed, encrypted,
    // written last; then the footer that says where it is.
    let site = home.site().clone();
    let key_id = home.keys().key_id().to_string();
    let tx = home.begin_immediate()?;
    let keys = tx.keys();
    let sequence: u64 = db::meta(&tx, "export_sequence")?
        .parse::<u64>()
        .map_err(|_| Error::Integrity("store metadata export_sequence is not a number".into()))?
        + 1;
    db::set_meta(&tx, "export_sequence", &sequence.to_string())?;
    let now = tx.now();
    let manifest = Manifest {
        format: format::FORMAT_VERSION,
        origin_site: site,
        origin_key: key_id,
        recipient_site: card.site.clone(),
        recipient_key: card.keys.age_recipient.clone(),
        sequence,
        created_at: now,
        expires_at: now.plus_days(opts.expires_in_days),
        objects: entries,
        payload,
    };
    manifest
        .check()
        .map_err(|e| Error::Rejected(e.to_string()))?;
    let manifest_bytes =
        serde_json::to_vec(&manifest).map_err(|e| Error::Rejected(e.to_string()))?;
    let mut signature = [0u8; 64];
    hex::decode_to_slice(keys.sign(Domain::Manifest, &manifest_bytes), &mut signature)
        .map_err(|_| Error::Integrity("signature encoding".into()))?;
    let trailer = seal_trailer(&recipient, &manifest_bytes, &signature)?;
    writer.write_all(&trailer).map_err(io_err)?;
    let footer = Footer {
        payload_len: manifest.payload.size,
        trailer_len: trailer.len() as u64,
    };
    writer.write_all(&footer.to_bytes()).map_err(io_err)?;
    let finished = writer.finish()?;
    failpoint::hit("export.written");

    // Recorded before the files get their names: a crash here leaves an
    // audit record of an export whose files are still temporary, never a
    // bundle on the media that the audit log does not know.
    let bundle_id = Digest::of(&manifest_bytes);
    let files: Vec<String> = finished
        .names()
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let ids: Vec<String> = manifest.objects.iter().map(|e| e.id.hex()).collect();
    let signed_by = operator.map(|o| {
        json!({ "name": o.name, "key_id": o.key_id(),
                "signature": o.sign(Domain::OperatorAction, format!("export\n{}", bundle_id.hex()).as_bytes()) })
    });
    let details = json!({ "recipient": card.site.as_str(), "sequence": sequence, "objects": ids.len(), "bytes": total,
                           "bundle": bundle_id.hex(), "files": files, "parts": manifest.payload.parts.len(),
                           "operator": signed_by });
    tx.commit(AuditEntry::new("bundle.export", &ids, details).by(operator.map(|o| o.key_id())))?;
    failpoint::hit("export.committed");
    finished.persist()?;
    Ok(Exported {
        files,
        bundle: bundle_id,
        recipient: card.site.to_string(),
        sequence,
        objects: manifest.objects.len(),
        bytes: total,
        parts: manifest.payload.parts.len(),
        expires_at: manifest.expires_at,
    })
}

/// The recipient must be a trusted peer, and the card must carry the keys
/// this node trusts for it (under a policy, the policy's:
/// [`crate::trust::peer`]).
fn check_recipient(home: &Home, card: &SiteCard) -> Result<()> {
    let trusted = crate::trust::peer(home, &card.site)?;
    match trusted.map(|p| (p.signing, p.age_recipient)) {
        None => Err(Error::Refused(
            match crate::trust::policy::current(home.store(), home.vault())? {
                Some(p) => format!(
                    "site {} is not a peer in trust policy v{}; the root key holder must add it",
                    card.site,
                    p.version()
                ),
                None => format!(
                    "site {} is not trusted here; run `airlock trust add CARD` for it first",
                    card.site
                ),
            },
        )),
        Some((sk, age)) if sk != card.keys.signing || age != card.keys.age_recipient => {
            Err(Error::Refused(format!(
                "the card for site {} does not carry the keys this node trusts for it; refusing to export",
                card.site
            )))
        }
        Some(_) => Ok(()),
    }
}

/// Streams the objects from the vault into `sink`: one thread decrypts and
/// re-hashes vault objects, this one encrypts and writes.
fn stream_objects(
    vault: &Vault,
    entries: &[Entry],
    sink: &mut impl Write,
    total: u64,
    on_bytes: &mut dyn FnMut(u64, u64),
    out_name: &str,
) -> Result<()> {
    let (mut tx, mut rx) = pipe::pipe();
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || -> Result<()> {
            let mut buf = vec![0u8; 256 << 10];
            for e in entries {
                let mut r = vault.open_object(&e.id)?;
                let mut copied = 0u64;
                loop {
                    let n = match r.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                        Err(err) => {
                            return Err(Error::Integrity(format!(
                                "{} {}: {err}",
                                e.kind,
                                e.id.short()
                            )));
                        }
                    };
                    match tx.write_all(&buf[..n]) {
                        Ok(()) => {}
                        // The writing side failed and has the error.
                        Err(err) if pipe::is_closed(&err) => return Ok(()),
                        Err(err) => return Err(Error::io("bundle pipe", err)),
                    }
                    copied += n as u64;
                }
                if copied != e.size {
                    return Err(Error::Integrity(format!(
                        "{} {} holds {copied} bytes, its index says {}",
                        e.kind,
                        e.id.short(),
                        e.size
                    )));
                }
            }
            match tx.flush() {
                Err(err) if !pipe::is_closed(&err) => Err(Error::io("bundle pipe", err)),
                _ => Ok(()),
            }
        });
        let written = (|| -> Result<u64> {
            let mut buf = vec![0u8; 256 << 10];
            let mut done = 0u64;
            loop {
                let n = rx.read(&mut buf).at("bundle pipe")?;
                if n == 0 {
                    return Ok(done);
                }
                sink.write_all(&buf[..n]).at(out_name)?;
                done += n as u64;
                on_bytes(done, total);
            }
        })();
        drop(rx);
        let produced = producer.join().map_err(|_| {
            Error::io(
                out_name,
                io::Error::other("the export reader thread panicked"),
            )
        })?;
        produced?;
        let written = written?;
        if written != total {
            return Err(Error::Integrity(format!(
                "{written} bytes of objects were read, the index lists {total}"
            )));
        }
        Ok(())
    })
}

/// Encrypts the trailer (manifest and signature) to the recipient.
fn seal_trailer(
    recipient: &age::x25519::Recipient,
    manifest: &[u8],
    signature: &[u8; 64],
) -> Result<Vec<u8>> {
    let encryptor = age::Encryptor::with_recipients(iter::once(recipient as _))
        .map_err(|e| Error::Rejected(format!("cannot encrypt the manifest: {e}")))?;
    let mut w = encryptor.wrap_output(Vec::new()).at("bundle manifest")?;
    format::write_trailer(&mut w, manifest, signature).at("bundle manifest")?;
    let trailer = w.finish().at("bundle manifest")?;
    if trailer.len() as u64 > format::MAX_TRAILER {
        return Err(Error::Rejected(format!(
            "the manifest is too large ({} bytes encrypted); export fewer items",
            trailer.len()
        )));
    }
    Ok(trailer)
}

/// Exports this node's audit log, verified and with a fresh signed
/// checkpoint, to the site described by `card` (an auditor's node), which
/// checks it with `airlock audit verify-export` and this site's card alone.
pub fn export_audit(
    home: &mut Home,
    card: &SiteCard,
    opts: ExportOptions<'_>,
    out: &Path,
    on_bytes: &mut dyn FnMut(u64, u64),
) -> Result<Exported> {
    let (settings, who) = opts.into_parts();
    recorded(home, who, out, |home, operator| {
        let id = snapshot_audit_log(home, card, operator)?;
        write(
            home,
            card,
            &[Item::AuditLog(id)],
            &settings,
            operator,
            out,
            on_bytes,
        )
    })
}

/// Verifies this node's audit log and stores it, with a fresh signed
/// checkpoint, as an audit log object for `card`'s site.
fn snapshot_audit_log(
    home: &mut Home,
    card: &SiteCard,
    operator: Option<&Operator>,
) -> Result<Digest> {
    check_recipient(home, card)?;
    check_exporter(home, operator)?;
    let doc = audit::export_document(
        home.root(),
        home.store(),
        home.keys(),
        home.site(),
        home.now(),
    )?;
    let bytes = serde_json::to_vec(&doc).map_err(|e| Error::Rejected(e.to_string()))?;
    if bytes.len() as u64 > Kind::AuditLog.max_size() {
        return Err(Error::Rejected(format!(
            "the audit log is {} bytes, over the {} a bundle carries in one record",
            bytes.len(),
            Kind::AuditLog.max_size()
        )));
    }
    let tx = home.begin()?;
    let id = registry::put_object(&tx, Kind::AuditLog, &bytes)?;
    tx.commit(AuditEntry::new(
        "audit.snapshot",
        &[id.hex()],
        json!({ "records": doc.records.len(), "checkpoint": doc.checkpoint.seq, "for_site": card.site.as_str() }),
    ))?;
    Ok(id)
}
