//! `update`, `rollback` and the recovery of an interrupted update.
//!
//! An update is a sequence of steps, each leaving `current` pointing at a complete release
//! (a kill -9 between any two is tested, `tests/e2e/update.rs`):
//!
//! 1. **Check** (nothing written but a refusal's audit record): the node verifies clean
//!    against its seal; a release key is pinned; the archive's manifest is signed by that
//!    key; its version is above the sealed floor; it carries an SBOM, whose bytes are those
//!    signed and which describes this release and its binaries.
//! 2. **Journal** `update.journal`: from, to, the `previous` link, the audit log's length.
//! 3. **Unpack** into `releases/.partial-V`, every file checked against its signed digest,
//!    synced, then renamed to `releases/V`: a release folder is complete or absent.
//! 4. **Switch** `previous` to the old release, then `current` to the new one, each by
//!    renaming a new link over the old.
//! 5. **Health check**: the new `airlock --version`, then `airlock audit verify` on the home
//!    (as the home's owner). On failure the links are switched back, the new folder removed,
//!    and `install.update_rolled_back` recorded: the node is as sealed again.
//! 6. **Commit**: `install.update` in the audit log. After this record the update is done;
//!    the remaining steps are finished by the recovery if they are cut short:
//! 7. releases other than `current` and `previous` removed, the node sealed again with the
//!    new version as its floor, the journal removed.
//!
//! Recovery (at the start of `update`, `rollback`, `seal`, and `recover`): a journal whose
//! update has no `install.update` record is rolled back (links back, new folder removed);
//! one that has is rolled forward (steps 7). Either way `home.recover`-style, it is recorded
//! (`install.recover`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use airlock::node::failpoint;
use airlock::node::home::Home;
use airlock::store::AuditEntry;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::config::Config;
use crate::error::{At, Error, Result};
use crate::fsops;
use crate::layout::Layout;
use crate::owner;
use crate::release;
use crate::seal;
use crate::version::Version;

/// How long one health-check command may take.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(120);

/// The journal of an update in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Journal {
    /// The release `current` pointed at.
    pub from: Version,
    /// The release being installed.
    pub to: Version,
    /// The release `previous` pointed at, if any.
    pub previous: Option<Version>,
    /// The number of audit records when the update began.
    pub audit_len: usize,
}

fn read_journal(layout: &Layout) -> Result<Option<Journal>> {
    let path = layout.journal();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::Integrity(format!(
                "{}: {}; restore the node by hand (airlock-install rollback) and remove it",
                path.display(),
                airlock::text::error_text(&e)
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Records `entry` in the home's audit log, as the home's owner.
fn record(layout: &Layout, entry: AuditEntry) -> Result<()> {
    let home = layout.home();
    owner::as_owner_of(&home, || {
        Home::open(&home)?.record(entry)?;
        Ok(())
    })
}

/// Records a refused update or rollback (the library's rule: every refusal the docs promise
/// is in the audit log), then returns the refusal.
fn refuse(layout: &Layout, action: &str, archive: Option<&Path>, e: Error) -> Error {
    let entry = AuditEntry::new(
        action,
        &[],
        json!({ "archive": archive.map(|a| a.display().to_string()), "reason": e.to_string(), "exit_code": e.exit_code() }),
    );
    match record(layout, entry) {
        Ok(()) => e,
        Err(rec) => Error::Refused(format!(
            "{e} (and the refusal could not be recorded: {rec})"
        )),
    }
}

/// What a health check ran and what it said.
#[derive(Clone, Debug, Serialize)]
pub struct Health {
    /// Whether every command passed.
    pub passed: bool,
    /// Each command and its outcome.
    pub steps: Vec<String>,
}

/// Runs the health check on the release `current` points at: `airlock --version`, then
/// `airlock audit verify` on the home (opens it read-only, verifies the audit chain and its
/// signed head), each as the home's owner, with an empty environment but `PATH` and
/// `AIRLOCK_HOME`, each within two minutes.
pub fn health_check(layout: &Layout) -> Result<Health> {
    let program = layout.current().join("airlock");
    let home = layout.home();
    let owner = {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(&home).at(&home)?;
        (m.uid(), m.gid())
    };
    let mut steps = Vec::new();
    for args in [&["--version"][..], &["audit", "verify"][..]] {
        let mut cmd = Command::new(&program);
        cmd.args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("AIRLOCK_HOME", &home)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if owner::is_root() && owner.0 != 0 {
            use std::os::unix::process::CommandExt;
            cmd.uid(owner.0).gid(owner.1);
        }
        let shown = format!("airlock {}", args.join(" "));
        let outcome = run_bounded(cmd, HEALTH_TIMEOUT);
        let passed = matches!(outcome, Ok((true, _)));
        steps.push(match outcome {
            Ok((true, _)) => format!("{shown}: ok"),
            Ok((false, said)) => format!("{shown}: failed: {said}"),
            Err(why) => format!("{shown}: {why}"),
        });
        if !passed {
            return Ok(Health {
                passed: false,
                steps,
            });
        }
    }
    Ok(Health {
        passed: true,
        steps,
    })
}

/// Runs `cmd`; whether it exited 0, and the end of what it printed; killed past `limit`.
fn run_bounded(mut cmd: Command, limit: Duration) -> std::result::Result<(bool, String), String> {
    let mut child = cmd.spawn().map_err(|e| format!("could not start: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not finish within {} s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("could not be waited for: {e}")),
        }
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let mut said = String::from_utf8_lossy(&out.stderr).into_owned();
    said.push_str(&String::from_utf8_lossy(&out.stdout));
    let tail: String = said
        .trim()
        .chars()
        .rev()
        .take(400)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    Ok((out.status.success(), format!("{} ({})", tail, out.status)))
}

/// How an update ended.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// The new release runs, the node is sealed with it.
    Updated {
        /// The old release (now `previous`).
        from: Version,
        /// The new one.
        to: Version,
        /// The release id.
        release: String,
        /// The health check.
        health: Health,
        /// The new seal's digest.
        seal: String,
    },
    /// The health check failed; the old release runs again.
    RolledBack {
        /// The release that runs.
        from: Version,
        /// The release that failed.
        to: Version,
        /// The health check.
        health: Health,
    },
}

/// What recovery did about an interrupted update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Recovered {
    /// No update was interrupted.
    Nothing,
    /// An uncommitted update was undone: `current` is `from` again.
    RolledBack {
        /// The release that runs.
        from: Version,
        /// The release removed.
        to: Version,
    },
    /// A committed update was finished (old releases pruned, sealed).
    Finished {
        /// The release that runs.
        to: Version,
    },
}

/// Finishes or undoes an update a kill or a power cut interrupted (see the module's notes).
pub fn recover(layout: &Layout) -> Result<Recovered> {
    let _lock = crate::lock::lock(layout)?;
    recover_locked(layout)
}

fn recover_locked(layout: &Layout) -> Result<Recovered> {
    let Some(journal) = read_journal(layout)? else {
        return Ok(Recovered::Nothing);
    };
    let home_path = layout.home();
    let committed = owner::as_owner_of(&home_path, || {
        let home = Home::open_read_only(&home_path)?;
        Ok(home
            .audit_log()?
            .iter()
            .skip(journal.audit_len)
            .any(|r| r.action == "install.update" && r.details["to"] == json!(journal.to)))
    })?;
    if committed {
        finish(layout, &journal, "finished after an interruption")?;
        record(
            layout,
            AuditEntry::new(
                "install.recover",
                &[],
                json!({ "to": journal.to, "action": "finished", "reason": "an update was interrupted after it was recorded; its last steps were done now" }),
            ),
        )?;
        remove_journal(layout)?;
        return Ok(Recovered::Finished { to: journal.to });
    }
    undo(layout, &journal)?;
    record(
        layout,
        AuditEntry::new(
            "install.recover",
            &[],
            json!({ "from": journal.from, "to": journal.to, "action": "rolled_back", "reason": "an update was interrupted before it was recorded; the old release was restored" }),
        ),
    )?;
    remove_journal(layout)?;
    Ok(Recovered::RolledBack {
        from: journal.from,
        to: journal.to,
    })
}

fn remove_journal(layout: &Layout) -> Result<()> {
    match std::fs::remove_file(layout.journal()) {
        Ok(()) => fsops::sync_dir(&layout.state()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(layout.journal(), e)),
    }
}

/// Puts the links back as the journal found them and removes the new release folder.
fn undo(layout: &Layout, journal: &Journal) -> Result<()> {
    fsops::switch_link(&layout.current(), &fsops::release_target(&journal.from))?;
    match journal.previous {
        Some(p) => fsops::switch_link(&layout.previous(), &fsops::release_target(&p))?,
        None => match std::fs::remove_file(layout.previous()) {
            Ok(()) => fsops::sync_dir(&layout.opt())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(layout.previous(), e)),
        },
    }
    if journal.to != journal.from && Some(journal.to) != journal.previous {
        fsops::remove_tree(&layout.release(&journal.to))?;
    }
    fsops::remove_tree(&partial(layout, &journal.to))?;
    fsops::sync_dir(&layout.releases())
}

/// The steps after the commit: links as the update left them, other releases pruned, the
/// node sealed at the new floor.
fn finish(layout: &Layout, journal: &Journal, reason: &str) -> Result<String> {
    fsops::switch_link(&layout.previous(), &fsops::release_target(&journal.from))?;
    fsops::switch_link(&layout.current(), &fsops::release_target(&journal.to))?;
    prune(layout, &[journal.from, journal.to])?;
    failpoint::hit("update.pruned");
    let sealed = seal::seal_during_update(
        layout,
        &format!("update {} -> {}: {reason}", journal.from, journal.to),
        Some(journal.to),
    )?;
    failpoint::hit("update.sealed");
    Ok(sealed.digest)
}

fn partial(layout: &Layout, v: &Version) -> PathBuf {
    layout.releases().join(format!(".partial-{v}"))
}

/// Removes every entry of `releases/` but the folders of `keep`.
fn prune(layout: &Layout, keep: &[Version]) -> Result<()> {
    let dir = layout.releases();
    let keep: Vec<String> = keep.iter().map(|v| v.to_string()).collect();
    for e in std::fs::read_dir(&dir).at(&dir)? {
        let e = e.at(&dir)?;
        let name = e.file_name().to_string_lossy().into_owned();
        if !keep.contains(&name) {
            fsops::remove_tree(&e.path())?;
        }
    }
    fsops::sync_dir(&dir)
}

/// The checks before an update or a rollback: the node as sealed, and its configuration.
fn checked_node(layout: &Layout) -> Result<(seal::Report, Config)> {
    let report = seal::verify(layout)?;
    if !report.is_clean() {
        let first: Vec<&str> = report
            .differences
            .iter()
            .take(5)
            .map(|d| d.path())
            .collect();
        return Err(Error::Refused(format!(
            "the node differs from its seal in {} paths ({}{}): run `airlock-install verify`, restore them, or seal again if the change is yours",
            report.differences.len(),
            first.join(", "),
            if report.differences.len() > 5 {
                ", ..."
            } else {
                ""
            }
        )));
    }
    let config = Config::load(&layout.config())?;
    Ok((report, config))
}

/// The release keys this node accepts: the trust policy's `release_keys` when the policy in
/// force lists any (how the vendor's key is rotated: a root-signed policy names the new one),
/// else the key pinned at install.
fn accepted_keys(layout: &Layout, config: &Config) -> Result<Vec<ed25519_dalek::VerifyingKey>> {
    let home_path = layout.home();
    let listed: Vec<String> = owner::as_owner_of(&home_path, || {
        let home = Home::open_read_only(&home_path)?;
        Ok(airlock::trust::policy::in_force(&home)?
            .map(|p| p.body().release_keys.clone())
            .unwrap_or_default())
    })?;
    if !listed.is_empty() {
        return listed
            .iter()
            .map(|k| {
                airlock::trust::keys::parse_verifying_key(k)
                    .map_err(|e| Error::Integrity(format!("trust policy release_keys: {e}")))
            })
            .collect();
    }
    let key = config.release_key()?.ok_or_else(|| {
        Error::Refused(format!(
            "no release key is pinned in {} and the trust policy names none: this node accepts no update (install --release-key)",
            layout.config().display()
        ))
    })?;
    Ok(vec![key])
}

/// Opens `archive` with the first accepted key that signed it; a release signed by none of
/// them is refused, one altered after signing is an integrity error.
fn open_release(
    layout: &Layout,
    config: &Config,
    archive: &Path,
) -> Result<release::VerifiedRelease> {
    let keys = accepted_keys(layout, config)?;
    let mut refused = None;
    for key in &keys {
        match release::open(archive, key) {
            Ok(r) => return Ok(r),
            Err(Error::Refused(m)) => refused = Some(m),
            Err(e) => return Err(e),
        }
    }
    Err(Error::Refused(match (refused, keys.len()) {
        (Some(m), 1) => m,
        (m, n) => format!(
            "{} is signed by none of the {n} release keys the trust policy names ({})",
            archive.display(),
            m.unwrap_or_default()
        ),
    }))
}

/// Updates the node to the release archive `archive`.
pub fn update(layout: &Layout, archive: &Path) -> Result<Outcome> {
    let _lock = crate::lock::lock(layout)?;
    recover_locked(layout)?;
    // 1. Checks; each refusal is recorded.
    let checked = (|| {
        let (report, config) = checked_node(layout)?;
        let mut rel = open_release(layout, &config, archive)?;
        let to = rel.manifest().version;
        if to <= report.floor {
            return Err(Error::Refused(format!(
                "release {to} is not above this node's version floor {} (sealed; release {} runs): a downgrade or a replay",
                report.floor, report.current
            )));
        }
        rel.check_sbom()?;
        Ok((report, rel))
    })();
    let (report, mut rel) = match checked {
        Ok(c) => c,
        Err(e) => return Err(refuse(layout, "install.update_refused", Some(archive), e)),
    };
    let from = report.current;
    let to = rel.manifest().version;

    // 2. The journal.
    let audit_len = {
        let home_path = layout.home();
        owner::as_owner_of(&home_path, || {
            Ok(Home::open_read_only(&home_path)?.audit_log()?.len())
        })?
    };
    let journal = Journal {
        from,
        to,
        previous: fsops::link_version(&layout.previous())?,
        audit_len,
    };
    let text = serde_json::to_vec(&journal).map_err(|e| Error::Rejected(e.to_string()))?;
    fsops::write_file(&layout.journal(), &text, 0o644)?;
    failpoint::hit("update.journaled");

    // 3. to 5.: any error undoes what was done, removes the journal and is recorded.
    let health = match unpack_switch_check(layout, &mut rel, from, to) {
        Ok(h) => h,
        Err(e) => {
            let undone = undo(layout, &journal).and_then(|()| remove_journal(layout));
            let e = match undone {
                Ok(()) => e,
                Err(u) => Error::Refused(format!(
                    "{e}; undoing the update failed too: {u} (run airlock-install recover)"
                )),
            };
            return Err(refuse(layout, "install.update_failed", Some(archive), e));
        }
    };
    if !health.passed {
        undo(layout, &journal)?;
        record(
            layout,
            AuditEntry::new(
                "install.update_rolled_back",
                std::slice::from_ref(&rel.id().to_string()),
                json!({ "from": from, "to": to, "archive": archive.display().to_string(), "health": health.steps }),
            ),
        )?;
        remove_journal(layout)?;
        return Ok(Outcome::RolledBack { from, to, health });
    }

    // 6. Commit.
    let sbom_sha256 = rel.manifest().sbom().map(|f| f.sha256.clone());
    record(
        layout,
        AuditEntry::new(
            "install.update",
            std::slice::from_ref(&rel.id().to_string()),
            json!({ "from": from, "to": to, "archive": archive.display().to_string(), "sbom": sbom_sha256, "health": health.steps }),
        ),
    )?;
    failpoint::hit("update.recorded");

    // 7. Prune, seal, done.
    let seal = finish(layout, &journal, "health check passed")?;
    remove_journal(layout)?;
    Ok(Outcome::Updated {
        from,
        to,
        release: rel.id().to_string(),
        health,
        seal,
    })
}

/// Steps 3 to 5 of an update: unpack, switch, health check.
fn unpack_switch_check(
    layout: &Layout,
    rel: &mut release::VerifiedRelease,
    from: Version,
    to: Version,
) -> Result<Health> {
    // 3. Unpack, complete or not at all.
    let staging = partial(layout, &to);
    fsops::remove_tree(&staging)?;
    fsops::remove_tree(&layout.release(&to))?;
    rel.unpack(&staging)?;
    std::fs::rename(&staging, layout.release(&to)).at(layout.release(&to))?;
    fsops::sync_dir(&layout.releases())?;
    failpoint::hit("update.unpacked");

    // 4. Switch.
    fsops::switch_link(&layout.previous(), &fsops::release_target(&from))?;
    failpoint::hit("update.previous");
    fsops::switch_link(&layout.current(), &fsops::release_target(&to))?;
    failpoint::hit("update.switched");

    // 5. Health check (back by itself, below, if it fails).
    let health = health_check(layout)?;
    failpoint::hit("update.checked");
    Ok(health)
}

/// What `rollback` did.
#[derive(Clone, Debug, Serialize)]
pub struct RolledBack {
    /// The release that ran.
    pub from: Version,
    /// The release that runs now.
    pub to: Version,
    /// The health check of the release now running.
    pub health: Health,
    /// The new seal's digest.
    pub seal: String,
}

/// Goes back by hand to the release `previous` points at (the two links swap), checks its
/// health, records `install.rollback` and seals. Refused on a node that differs from its
/// seal. The version floor stays: going forward again is `rollback` once more.
pub fn rollback(layout: &Layout) -> Result<RolledBack> {
    let _lock = crate::lock::lock(layout)?;
    recover_locked(layout)?;
    let checked = (|| {
        let (report, _) = checked_node(layout)?;
        let previous = fsops::link_version(&layout.previous())?.ok_or_else(|| {
            Error::NotFound(format!(
                "{} does not exist: there is no earlier release to go back to",
                layout.previous().display()
            ))
        })?;
        if !layout.release(&previous).join("airlock").is_file() {
            return Err(Error::NotFound(format!(
                "{} has no airlock binary: the previous release is incomplete",
                layout.release(&previous).display()
            )));
        }
        Ok((report.current, previous))
    })();
    let (from, to) = match checked {
        Ok(c) => c,
        Err(e) => return Err(refuse(layout, "install.rollback_refused", None, e)),
    };
    fsops::switch_link(&layout.previous(), &fsops::release_target(&from))?;
    fsops::switch_link(&layout.current(), &fsops::release_target(&to))?;
    let health = health_check(layout)?;
    record(
        layout,
        AuditEntry::new(
            "install.rollback",
            &[],
            json!({ "from": from, "to": to, "health": health.steps, "health_passed": health.passed }),
        ),
    )?;
    let sealed = seal::seal_during_update(layout, &format!("rollback {from} -> {to}"), None)?;
    Ok(RolledBack {
        from,
        to,
        health,
        seal: sealed.digest,
    })
}
