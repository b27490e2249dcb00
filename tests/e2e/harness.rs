//! Shared helpers: run the real `airlock` binary in fresh temporary homes,
//! and fingerprint a home so a test can prove a refusal changed nothing.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

/// The binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_airlock")
}

/// Runs `airlock --home HOME ARGS...`.
pub fn run(home: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("AIRLOCK_HOME")
        // New operator keys in tests are sealed with a light scrypt work
        // factor (honoured by debug builds only).
        .env("AIRLOCK_TEST_SCRYPT_LOG_N", "8")
        .output()
        .expect("run airlock")
}

/// `args` as the `&str` list the runners take.
pub fn refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

/// Runs and requires success; returns stdout.
pub fn ok(home: &Path, args: &[&str]) -> String {
    let out = run(home, args);
    assert!(
        out.status.success(),
        "airlock {args:?} failed with {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf8 stdout")
}

/// Runs and requires failure with `code` and a stderr containing every one
/// of `needles`; returns stderr.
pub fn fails(home: &Path, args: &[&str], code: i32, needles: &[&str]) -> String {
    let out = run(home, args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(code),
        "airlock {args:?}: expected exit {code}\nstdout: {}\nstderr: {stderr}",
        String::from_utf8_lossy(&out.stdout)
    );
    for n in needles {
        assert!(
            stderr.contains(n),
            "airlock {args:?}: stderr lacks {n:?}:\n{stderr}"
        );
    }
    stderr
}

/// The audit action of a refused bundle import.
pub const IMPORT_REFUSED: &str = "bundle.import_refused";

/// `bundle import FILE` at `home` must fail with `code` and a message
/// containing `needle`, leave the store as it was, and record the refusal
/// with that reason; `bundle verify` must reach the same verdict.
pub fn import_refused(home: &Path, file: &Path, code: i32, needle: &str) {
    let before = store_fingerprint(home);
    let file = file.display().to_string();
    fails(
        home,
        &["bundle", "import", &file],
        code,
        &["bundle rejected", needle],
    );
    assert_refused(home, &before, IMPORT_REFUSED, needle);
    fails(home, &["bundle", "verify", &file], code, &[needle]);
}

/// `keys root init --out DIR --passphrase-file PASS`.
pub fn root_init_args(dir: &Path, pass: &str) -> Vec<String> {
    [
        "keys",
        "root",
        "init",
        "--out",
        &dir.display().to_string(),
        "--passphrase-file",
        pass,
    ]
    .map(str::to_string)
    .into()
}

/// `policy sign INPUT --root ROOT --passphrase-file PASS --out OUT`.
pub fn policy_sign_args(input: &str, root: &Path, pass: &str, out: &str) -> Vec<String> {
    [
        "policy",
        "sign",
        input,
        "--root",
        &root.display().to_string(),
        "--passphrase-file",
        pass,
        "--out",
        out,
    ]
    .map(str::to_string)
    .into()
}

/// The `[[peers]]` entry of a trust policy draft for the site card at `card`.
pub fn peer_toml(card: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&fs::read(card).expect("read card")).expect("card json");
    format!(
        "\n[[peers]]\nsite = {}\nsigning_key = {}\nage_recipient = {}\n",
        v["site"], v["signing_key"], v["age_recipient"]
    )
}

/// A two-site world made by `airlock demo --workdir`: lab (setup mode, no
/// trust policy) trained, gated, approved (operator dana) and exported a
/// model; plant (trust policy v1 from its offline root key in
/// `plant-root/`: peer lab, whose gate reports count for production,
/// operator omar may approve and deploy) imported,
/// approved and deployed it. Passphrases are in `media/NAME.pass`.
pub struct World {
    pub _dir: tempfile::TempDir,
    /// The demo's workdir.
    pub root: PathBuf,
}

impl World {
    pub fn new() -> World {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().join("w");
        let out = Command::new(bin())
            .args(["demo", "--workdir"])
            .arg(&root)
            .output()
            .expect("run demo");
        assert!(
            out.status.success(),
            "demo failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        World { _dir: dir, root }
    }
    pub fn lab(&self) -> PathBuf {
        self.root.join("lab")
    }
    pub fn plant(&self) -> PathBuf {
        self.root.join("plant")
    }
    pub fn media(&self, name: &str) -> PathBuf {
        self.root.join("media").join(name)
    }
    /// `--operator NAME --passphrase-file media/NAME.pass`.
    pub fn as_op(&self, name: &str) -> Vec<String> {
        vec![
            "--operator".into(),
            name.into(),
            "--passphrase-file".into(),
            self.m(&format!("{name}.pass")),
        ]
    }
    /// `approve MODEL` at `home` by operator `name`.
    pub fn approve(&self, home: &Path, model: &str, name: &str) -> std::process::Output {
        let mut args = vec!["approve".to_string(), model.to_string()];
        args.extend(self.as_op(name));
        run(home, &refs(&args))
    }
    /// Creates operator `name` at `home` with passphrase file
    /// `media/NAME.pass`; returns their public key.
    pub fn new_operator(&self, home: &Path, name: &str) -> String {
        let pass = self.media(&format!("{name}.pass"));
        fs::write(&pass, format!("{name}-passphrase\n")).expect("write pass");
        let mut perms = fs::metadata(&pass).expect("stat").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
        fs::set_permissions(&pass, perms).expect("chmod");
        let out = ok(
            home,
            &[
                "--json",
                "keys",
                "operator",
                "new",
                name,
                "--passphrase-file",
                &pass.display().to_string(),
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        v["key"].as_str().expect("key").to_string()
    }
    /// Signs (with plant's root key) the next plant policy: `policy
    /// template` at plant, edited by `edit`; writes
    /// `media/plant-policy-vN.json` and returns it, without applying it.
    pub fn sign_plant_policy(&self, edit: impl FnOnce(String) -> String) -> PathBuf {
        let t = ok(&self.plant(), &["policy", "template"]);
        let version = t
            .lines()
            .find_map(|l| l.strip_prefix("version = "))
            .expect("version line")
            .to_string();
        let draft = self.media(&format!("plant-policy-v{version}.toml"));
        fs::write(&draft, edit(t)).expect("write draft");
        let signed = self.media(&format!("plant-policy-v{version}.json"));
        ok(
            &self.plant(),
            &refs(&policy_sign_args(
                &draft.display().to_string(),
                &self.root.join("plant-root"),
                &self.m("plant-root.pass"),
                &signed.display().to_string(),
            )),
        );
        signed
    }
    /// [`World::sign_plant_policy`], then applies it at plant.
    pub fn plant_policy(&self, edit: impl FnOnce(String) -> String) -> PathBuf {
        let signed = self.sign_plant_policy(edit);
        ok(
            &self.plant(),
            &["policy", "apply", &signed.display().to_string()],
        );
        signed
    }
    /// Path as &str for argument lists.
    pub fn m(&self, name: &str) -> String {
        self.media(name).display().to_string()
    }
    /// `data ingest CSV --dataset credit --contract media/credit.contract.toml`.
    pub fn ingest_args(&self, csv: &str) -> Vec<String> {
        [
            "data",
            "ingest",
            csv,
            "--dataset",
            "credit",
            "--contract",
            &self.m("credit.contract.toml"),
        ]
        .map(str::to_string)
        .into()
    }

    /// Trains a small logistic regression at lab (5 epochs, seed 7) on the
    /// demo's dataset and feature set; returns the model id.
    pub fn train_logreg(&self) -> String {
        let out = ok(
            &self.lab(),
            &[
                "--json",
                "train",
                "--dataset",
                "credit",
                "--features",
                "credit-features",
                "--model",
                "logreg",
                "--epochs",
                "5",
                "--seed",
                "7",
            ],
        );
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        v["id"].as_str().expect("model id").to_string()
    }

    /// The id of the model the demo trained (the first listed at plant).
    pub fn model(&self) -> String {
        let out = ok(&self.plant(), &["--json", "models", "list"]);
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        v[0]["id"].as_str().expect("model id").to_string()
    }
    /// Creates another site in this world and writes its card to
    /// `media/NAME.card.json`.
    pub fn add_site(&self, name: &str) -> PathBuf {
        let home = self.root.join(name);
        ok(&home, &["init", "--site", name]);
        ok(
            &home,
            &[
                "site",
                "card",
                "--out",
                &self.m(&format!("{name}.card.json")),
            ],
        );
        home
    }
    /// `airlock bundle export` from `home` to the site whose card is
    /// `media/TO.card.json`, writing `media/FILE`.
    pub fn export(&self, home: &Path, to: &str, file: &str, items: &[&str]) -> PathBuf {
        let out = self.media(file);
        let card = self.m(&format!("{to}.card.json"));
        let out_arg = out.display().to_string();
        let mut args = vec!["bundle", "export", "--to", &card, "--out", &out_arg];
        args.extend_from_slice(items);
        ok(home, &args);
        out
    }
    /// Exports the demo model from lab to plant again, as a new bundle.
    pub fn fresh_bundle(&self, name: &str) -> PathBuf {
        let out = self.media(name);
        let model = self.model();
        ok(
            &self.lab(),
            &[
                "bundle",
                "export",
                "--to",
                &self.m("plant.card.json"),
                "--out",
                &out.display().to_string(),
                &model,
            ],
        );
        out
    }
}

/// A digest of everything a home holds: every row of every table and every
/// vault file. Equal fingerprints mean nothing was stored or changed.
pub fn fingerprint(home: &Path) -> String {
    fingerprint_with(home, true)
}

/// Like [`fingerprint`], without the audit log: the store as it holds
/// data, for refusals that are (rightly) recorded in the audit log.
pub fn store_fingerprint(home: &Path) -> String {
    fingerprint_with(home, false)
}

/// How many audit records a home holds.
pub fn audit_count(home: &Path) -> i64 {
    let conn = rusqlite::Connection::open_with_flags(
        home.join("store.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open store");
    conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .expect("count")
}

/// The newest audit record: (action, details).
pub fn last_audit(home: &Path) -> (String, serde_json::Value) {
    let conn = rusqlite::Connection::open_with_flags(
        home.join("store.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open store");
    let (action, details): (String, String) = conn
        .query_row(
            "SELECT action, details FROM audit ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("an audit record");
    (
        action,
        serde_json::from_str(&details).expect("details json"),
    )
}

/// Asserts that the store holds exactly what `before` fingerprinted (see
/// [`store_fingerprint`]) and that the newest audit record is a refusal of
/// kind `action` whose reason contains `needle`.
pub fn assert_refused(home: &Path, before: &str, action: &str, needle: &str) {
    assert_eq!(
        store_fingerprint(home),
        before,
        "the refusal changed the store"
    );
    let (got, details) = last_audit(home);
    assert_eq!(got, action, "newest audit record: {details}");
    let reason = details["reason"].as_str().expect("a reason");
    assert!(
        reason.contains(needle),
        "reason {reason:?} lacks {needle:?}"
    );
}

fn fingerprint_with(home: &Path, with_audit: bool) -> String {
    let conn = rusqlite::Connection::open_with_flags(
        home.join("store.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open store");
    let mut h = Sha256::new();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .expect("prepare")
        .query_map([], |r| r.get(0))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("tables");
    for t in tables {
        if t == "audit" && !with_audit {
            continue;
        }
        h.update(t.as_bytes());
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {t} ORDER BY rowid"))
            .expect("select");
        let n = stmt.column_count();
        let mut rows = stmt.query([]).expect("rows");
        while let Some(row) = rows.next().expect("row") {
            for i in 0..n {
                let v: rusqlite::types::Value = row.get(i).expect("value");
                h.update(format!("{v:?}|").as_bytes());
            }
        }
    }
    let mut files = Vec::new();
    walk(&home.join("vault"), &mut files);
    files.sort();
    for f in files {
        h.update(f.display().to_string().as_bytes());
        h.update(fs::read(&f).expect("read vault file"));
    }
    hex::encode(h.finalize())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}
