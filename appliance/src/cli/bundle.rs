//! `airlock bundle`: its subcommands, and the handler that calls `airlock::bundle`.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use airlock::bundle::{export, import, media};
use airlock::error::{Error, Result, exit};
use airlock::node::home::Home;

use crate::cli::output::Out;
use crate::cli::{MaybeOperatorArgs, read_card};

#[derive(Subcommand, Debug)]
pub(crate) enum BundleCmd {
    /// Export models (with lineage) and/or datasets to a trusted peer site,
    /// as one signed, encrypted bundle file (or numbered parts with --split).
    Export {
        /// The recipient's site card.
        #[arg(long)]
        to: PathBuf,
        /// The bundle file to write (must not exist). With --split, the parts
        /// are OUT.001, OUT.002, ...
        #[arg(long)]
        out: PathBuf,
        /// Also carry the raw dataset snapshots of exported models.
        #[arg(long)]
        with_data: bool,
        /// Days until the bundle expires (1 to 3650).
        #[arg(long, default_value_t = 30)]
        expires_in: u32,
        /// Cut the bundle into parts no larger than SIZE, for media with a
        /// file size limit: fat32 (4 GiB less one byte), or a size such as
        /// 4000M, 2G (powers of 1024) or 4700MB (powers of 1000); at least 64K.
        #[arg(long, value_name = "SIZE")]
        split: Option<String>,
        #[command(flatten)]
        operator: MaybeOperatorArgs,
        /// model:ID (or a bare model id), dataset:NAME[@VERSION],
        /// policy:FILE (a signed trust policy for the recipient), or
        /// monitor:MODEL[@FROM..TO|@last:N] (monitoring windows and alerts; FROM and TO RFC
        /// 3339 times or dates, N with s, m, h or d).
        #[arg(required = true)]
        items: Vec<String>,
    },
    /// Check a bundle's signature, origin, recipient and freshness and show
    /// its manifest, without reading its objects.
    Inspect {
        /// The bundle file, or its first part (NAME.001).
        file: PathBuf,
    },
    /// Check a bundle completely, every part and object, as an import
    /// would, without importing anything.
    Verify {
        /// The bundle file, or its first part (NAME.001); later parts are
        /// found beside it.
        file: PathBuf,
        /// Check as if importing with --allow-stale.
        #[arg(long)]
        allow_stale: bool,
    },
    /// Check a bundle completely, then import it atomically. Refusals are
    /// recorded in the audit log with their reason.
    Import {
        /// The bundle file, or its first part (NAME.001); later parts are
        /// found beside it.
        file: PathBuf,
        /// Accept a bundle made more than 30 days before the newest bundle
        /// this node has accepted (a long shelf life). Recorded in the audit
        /// log. Without it such a bundle is refused as a possible replay.
        #[arg(long)]
        allow_stale: bool,
    },
}

pub(crate) fn bundle(home_dir: &Path, out: Out, cmd: BundleCmd) -> Result<i32> {
    match cmd {
        BundleCmd::Export {
            to,
            out: file,
            with_data,
            expires_in,
            split,
            operator: who,
            items,
        } => {
            let mut home = Home::open(home_dir)?;
            let card = read_card(&to)?;
            let items = items
                .iter()
                .map(|s| s.parse())
                .collect::<Result<Vec<export::Item>>>()?;
            let split = split.as_deref().map(media::parse_split).transpose()?;
            let opts = export::ExportOptions {
                with_data,
                expires_in_days: expires_in,
                split,
                operator: who.authority(),
            };
            let r = out.with_bytes("export", |on| {
                export::export(&mut home, &card, &items, opts, &file, on)
            })?;
            let mut v = serde_json::to_value(&r).map_err(|e| Error::Rejected(e.to_string()))?;
            v["id"] = json!(r.bundle.hex());
            out.emit(&v, |_| {
                out.line(format_args!(
                    "wrote bundle {} for site {}: {} objects, {} bytes, sequence {}, expires {}",
                    r.bundle.short(),
                    r.recipient,
                    r.objects,
                    r.bytes,
                    r.sequence,
                    r.expires_at
                ));
                for f in &r.files {
                    out.line(format_args!("  {f}"));
                }
            });
        }
        BundleCmd::Inspect { file } => {
            let home = Home::open(home_dir)?;
            let verified = import::inspect(&home, &file)?;
            let m = verified.manifest();
            let status = verified.sequence_status();
            let fresh = verified.freshness();
            let files: Vec<String> = verified
                .parts()
                .files
                .iter()
                .map(|f| f.path.display().to_string())
                .collect();
            let v = json!({ "id": verified.bundle_id().hex(), "manifest": m, "signature": "valid",
                            "sequence_status": status, "freshness": fresh, "files": files });
            out.emit(&v, |_| {
                out.line(format_args!(
                    "bundle {} from site {} to site {} (signature valid, origin trusted)",
                    verified.bundle_id().short(),
                    m.origin_site,
                    m.recipient_site
                ));
                out.line(format_args!(
                    "sequence {} ({})  created {}  expires {}{}{}",
                    m.sequence,
                    match status {
                        import::SequenceStatus::New => "new".to_string(),
                        import::SequenceStatus::Stale { last } =>
                            format!("NOT newer than {last}: would be refused"),
                    },
                    m.created_at,
                    m.expires_at,
                    if fresh.expired {
                        "  EXPIRED: would be refused"
                    } else {
                        ""
                    },
                    if fresh.stale {
                        "  STALE: needs --allow-stale"
                    } else {
                        ""
                    },
                ));
                out.line(format_args!(
                    "{} part(s) ({} of payload, {} payload bytes); found {}",
                    files.len(),
                    m.payload.parts.len(),
                    m.payload.size,
                    files.join(", ")
                ));
                for e in &m.objects {
                    out.line(format_args!(
                        "  {:<12} {}  {:>10} bytes  signed by {}",
                        e.kind.as_str(),
                        e.id.short(),
                        e.size,
                        e.attestations
                            .iter()
                            .map(|a| a.site.to_string())
                            .collect::<Vec<_>>()
                            .join(",")
                    ));
                }
            });
        }
        BundleCmd::Verify { file, allow_stale } => {
            let home = Home::open(home_dir)?;
            let r = out.with_bytes("verify", |on| {
                import::verify(&home, &file, import::ImportOptions { allow_stale }, on)
            })?;
            let mut v = serde_json::to_value(&r).map_err(|e| Error::Rejected(e.to_string()))?;
            v["id"] = json!(r.bundle.hex());
            v["verdict"] = json!("would be accepted");
            out.emit(&v, |_| {
                out.line(format_args!(
                    "bundle {} from site {} (sequence {}) verified: {} part(s), {} objects, {} bytes; it would be accepted",
                    r.bundle.short(),
                    r.origin,
                    r.sequence,
                    r.parts,
                    r.objects,
                    r.bytes
                ))
            });
        }
        BundleCmd::Import { file, allow_stale } => {
            let mut home = Home::open(home_dir)?;
            let r = out.with_bytes("import", |on| {
                import::import(&mut home, &file, import::ImportOptions { allow_stale }, on)
            })?;
            let v = json!({ "id": r.bundle.hex(), "origin": r.origin, "sequence": r.sequence, "objects": r.objects, "new_objects": r.new_objects, "models": r.models });
            out.emit(&v, |_| {
                out.line(format_args!(
                    "imported bundle {} (sequence {}) from site {}: {} objects ({} new)",
                    r.bundle.short(),
                    r.sequence,
                    r.origin,
                    r.objects,
                    r.new_objects
                ));
                for m in &r.models {
                    out.line(format_args!("  model {m}"));
                }
            });
        }
    }
    Ok(exit::OK)
}
