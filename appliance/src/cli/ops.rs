//! `airlock audit`, `vault` and `harden`: parse, call the library, print.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use airlock::bundle::{export, import};
use airlock::error::{Error, Result, exit};
use airlock::node::home::Home;
use airlock::node::time::Timestamp;
use airlock::store::audit;
use airlock::trust::operator::{self};
use airlock::trust::policy::Role;
use airlock::vault::check;

use crate::cli::output::Out;

use crate::cli::*;

#[derive(Subcommand, Debug)]
pub(crate) enum VaultCmd {
    /// Re-hash every object in the vault: report any that is missing, does
    /// not decrypt, or does not hash to its address, and any vault file
    /// that no store row references. Exits 4 if anything is wrong.
    Verify,
}

#[derive(Subcommand, Debug)]
pub(crate) enum HardenCmd {
    /// Report each host control (kernel settings, radios, USB storage, /tmp and /dev/shm
    /// options, swap, disk encryption, network, sshd, the home's modes) as pass, warn or
    /// fail, with its CIS Debian Linux 12 Benchmark id and the command that fixes it.
    /// Changes nothing. Exits 5 if any check fails; warnings alone exit 0.
    Check {
        /// Read /proc, /sys, /etc and the home (--home) under this folder instead of /.
        #[arg(long, value_name = "ROOT", default_value = "/")]
        root: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCmd {
    /// Verify the chain and every signature; names the first broken record.
    Verify,
    /// For a home without a signed checkpoint (HOME/audit.head), made before
    /// checkpoints existed: verify the chain, record the adoption in the log,
    /// and sign a first checkpoint. Refused if a checkpoint exists. Under a
    /// trust policy, an operator holding the audit role must authorise it.
    AdoptCheckpoint {
        #[command(flatten)]
        operator: MaybeOperatorArgs,
    },
    /// Export the whole audit log, verified, with a fresh signed checkpoint,
    /// in a bundle for an auditor's node (a trusted peer). The auditor
    /// checks it there with `airlock audit verify-export FILE --card CARD`
    /// and this site's card alone.
    Export {
        /// The auditor node's site card.
        #[arg(long)]
        to: PathBuf,
        /// The bundle file to write (must not exist).
        #[arg(long)]
        out: PathBuf,
        /// Days until the bundle expires (1 to 3650).
        #[arg(long, default_value_t = 30)]
        expires_in: u32,
        #[command(flatten)]
        operator: MaybeOperatorArgs,
    },
    /// Check an audit log export made for this node by another site, with
    /// only that site's card: the bundle's signature, every record's hash,
    /// link and signature, and the signed checkpoint. Imports nothing.
    VerifyExport {
        /// The bundle file (or its first part).
        file: PathBuf,
        /// The site card of the site whose log it is.
        #[arg(long)]
        card: PathBuf,
    },
    /// Print the audit log, oldest first, optionally filtered.
    Log {
        /// Only records written at or after this time (RFC 3339, e.g.
        /// 2026-11-23T08:00:00Z, or a date, 2026-11-23).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only records signed by this key id (or a prefix of it).
        #[arg(long, value_name = "KEY_ID")]
        actor: Option<String>,
        /// Only this action (e.g. bundle.import), or a family ending in
        /// `*` (e.g. 'bundle.*').
        #[arg(long, value_name = "ACTION")]
        action: Option<String>,
    },
}

/// Runs `airlock audit`.
pub(crate) fn audit_cmd(home_dir: &Path, out: Out, cmd: AuditCmd) -> Result<i32> {
    let open = || Home::open(home_dir);
    // Commands that change nothing: they work on a full disk.
    let open_read_only = || Home::open_read_only(home_dir);
    match cmd {
        AuditCmd::AdoptCheckpoint { operator: who } => {
            let mut home = open()?;
            let op = who.unlock(&home, Role::Audit)?;
            let seq = operator::adopt_audit_checkpoint(&mut home, op.as_ref())?;
            out.emit(&json!({ "id": seq, "checkpoint": seq }), |_| {
                out.line(format_args!(
                    "signed a first audit checkpoint at record {seq}; the adoption is recorded in the log"
                ))
            });
        }
        AuditCmd::Export {
            to,
            out: file,
            expires_in,
            operator: who,
        } => {
            let mut home = open()?;
            let card = read_card(&to)?;
            let opts = export::ExportOptions {
                with_data: false,
                expires_in_days: expires_in,
                split: None,
                operator: who.authority(),
            };
            let r = out.with_bytes("export", |on| {
                export::export_audit(&mut home, &card, opts, &file, on)
            })?;
            out.emit(&r, |r| {
                out.line(format_args!(
                    "wrote the audit log for site {} as bundle {} (sequence {}) to {}",
                    r.recipient,
                    r.bundle.short(),
                    r.sequence,
                    file.display()
                ))
            });
        }
        AuditCmd::VerifyExport { file, card } => {
            let home = open()?;
            let card = read_card(&card)?;
            let (doc, bundle) = out.with_bytes("verify", |on| {
                import::open(&home, &file)?.verify_audit_export(&home, &card, on)
            })?;
            let v = audit::verify_export(&doc, &card)?;
            let mut j = serde_json::to_value(&v).map_err(|e| Error::Rejected(e.to_string()))?;
            j["bundle"] = json!(bundle.hex());
            out.emit(&j, |_| {
                out.line(format_args!(
                    "audit log of site {} (key {}) intact: {} records, {} .. {}, signed checkpoint at record {}, exported {}",
                    v.site,
                    v.key_id,
                    v.records,
                    v.first.map(|t| t.to_string()).unwrap_or_default(),
                    v.last.map(|t| t.to_string()).unwrap_or_default(),
                    v.checkpoint,
                    v.exported_at
                ))
            });
        }
        AuditCmd::Verify => {
            let home = open_read_only()?;
            let v = home.verify_audit()?;
            out.emit(&v, |v| {
                out.line(format_args!(
                    "audit log intact: {} records, head {}, signed checkpoint at record {}",
                    v.records,
                    &v.head[..16],
                    v.checkpoint.unwrap_or(0)
                ))
            });
        }
        AuditCmd::Log {
            since,
            actor,
            action,
        } => {
            let home = open_read_only()?;
            let since: Option<Timestamp> = since
                .map(|s| {
                    let full = if s.len() == 10 { format!("{s}T00:00:00Z") } else { s.clone() };
                    full.parse().map_err(|_| {
                        Error::Rejected(format!(
                            "--since {s:?}: write a time such as 2026-11-23T08:00:00Z or a date such as 2026-11-23"
                        ))
                    })
                })
                .transpose()?;
            let wanted = |r: &audit::Record| {
                since.is_none_or(|t| r.time >= t)
                    && actor.as_deref().is_none_or(|a| r.actor.starts_with(a))
                    && action.as_deref().is_none_or(|a| match a.strip_suffix('*') {
                        Some(prefix) => r.action.starts_with(prefix),
                        None => r.action == a,
                    })
            };
            let records: Vec<audit::Record> = home
                .audit_log()?
                .into_iter()
                .filter(|r| wanted(r))
                .collect();
            let with_ids: Vec<serde_json::Value> = records
                .iter()
                .map(|r| {
                    let mut v = serde_json::to_value(r).unwrap_or_default();
                    v["id"] = json!(r.seq);
                    v
                })
                .collect();
            out.emit(&with_ids, |_| {
                for r in &records {
                    out.line(format_args!(
                        "{:>5} {} {:<16} {} {}",
                        r.seq, r.time, r.action, r.actor, r.details
                    ));
                }
            });
        }
    }
    Ok(exit::OK)
}

/// Runs `airlock vault`.
pub(crate) fn vault_cmd(home_dir: &Path, out: Out, cmd: VaultCmd) -> Result<i32> {
    // Commands that change nothing: they work on a full disk.
    let open_read_only = || Home::open_read_only(home_dir);
    match cmd {
        VaultCmd::Verify => {
            let home = open_read_only()?;
            let r = out.with_bytes("vault", |on| check::verify(&home, on))?;
            out.emit(&r, |r| {
                for p in &r.problems {
                    let id: String = p.id.chars().take(12).collect();
                    out.line(format_args!("{:<12} {id}  {}", p.problem, p.detail));
                }
                out.line(format_args!(
                    "{} of {} indexed objects intact ({} bytes re-hashed); {} problem(s)",
                    r.intact,
                    r.indexed,
                    r.bytes,
                    r.problems.len()
                ));
            });
            if !r.problems.is_empty() {
                return Err(Error::Integrity(format!(
                    "vault verify found {} problem(s): the first is {} object {}",
                    r.problems.len(),
                    r.problems[0].problem,
                    r.problems[0].id
                )));
            }
        }
    }
    Ok(exit::OK)
}

/// Runs `airlock harden`.
pub(crate) fn harden(home_dir: &Path, out: Out, cmd: HardenCmd) -> Result<i32> {
    match cmd {
        HardenCmd::Check { root } => {
            use airlock_hardening::host::{self, Status};
            let report = host::check(&root, home_dir);
            out.emit(&report, |r| {
                for f in &r.findings {
                    let cis = f
                        .cis
                        .map_or("no CIS id".to_string(), |c| format!("CIS {c}"));
                    let (s, id, found) = (f.status.name(), f.id, &f.found);
                    out.line(format_args!("{s:<4}  {id:<18} {found}  ({cis})"));
                    if f.status != Status::Pass {
                        out.line(format_args!("      fix: {}", f.fix));
                    }
                }
                let n = |s| r.with_status(s).count();
                let (p, w, f) = (n(Status::Pass), n(Status::Warn), n(Status::Fail));
                out.line(format_args!("{p} passed, {w} warnings, {f} failed"));
            });
            let failed: Vec<&str> = report.with_status(Status::Fail).map(|f| f.id).collect();
            if !failed.is_empty() {
                return Err(Error::Refused(format!(
                    "host check failed: {} (each finding says the fix; docs/hardening.md says why)",
                    failed.join(", ")
                )));
            }
        }
    }
    Ok(exit::OK)
}
