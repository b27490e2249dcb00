//! Keys held by people rather than by the node: the site's offline root key
//! and each operator's key. Both are ed25519 keys whose secret half exists
//! on disk only sealed with a passphrase (age's scrypt recipient), in a 0600
//! file, and in memory only inside types that zeroize on drop and never
//! print it.
//!
//! Passphrases come from the terminal (echo off, read from `/dev/tty`) or
//! from a file the operator names (`--passphrase-file`, which must be 0600
//! like a key file). They are held as `SecretString` and never logged.

use std::fmt;
use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};

use age::secrecy::{ExposeSecret, SecretString};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use zeroize::Zeroizing;

use crate::error::{Error, IoContext, Result};
use crate::node::fsx;
use crate::trust::keys::{Domain, KeyId};

const SECRET_PREFIX: &str = "AIRLOCK-ED25519-SECRET-KEY-1:";
/// Shortest passphrase accepted for a new key.
pub const MIN_PASSPHRASE: usize = 10;
/// Largest sealed key file read.
const MAX_SEALED: usize = 64 << 10;

/// A passphrase; never printed.
pub struct Passphrase(SecretString);

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

impl Passphrase {
    /// Wraps a passphrase held by the caller (the demo's generated ones).
    pub fn new(s: String) -> Self {
        Passphrase(SecretString::from(s))
    }
}

/// Where a passphrase comes from.
#[derive(Debug)]
pub enum PassSource {
    /// Asked on the controlling terminal, echo off.
    Terminal,
    /// The first line of this file (which must be 0600).
    File(PathBuf),
    /// Already known (the demo).
    Given(Passphrase),
}

impl PassSource {
    /// From `--passphrase-file`, or the terminal.
    pub fn from_arg(file: Option<PathBuf>) -> Self {
        file.map_or(PassSource::Terminal, PassSource::File)
    }

    /// Reads the passphrase. `new` asks twice on a terminal and enforces
    /// [`MIN_PASSPHRASE`].
    pub fn read(self, prompt: &str, new: bool) -> Result<Passphrase> {
        let p = match self {
            PassSource::Given(p) => p,
            PassSource::File(path) => read_file(&path)?,
            PassSource::Terminal => {
                let p = ask(prompt)?;
                if new {
                    let again = ask("Repeat it: ")?;
                    if again.0.expose_secret() != p.0.expose_secret() {
                        return Err(Error::Rejected(
                            "the two passphrases differ; nothing was written".into(),
                        ));
                    }
                }
                p
            }
        };
        if new && p.0.expose_secret().chars().count() < MIN_PASSPHRASE {
            return Err(Error::Rejected(format!(
                "the passphrase is too short: use at least {MIN_PASSPHRASE} characters"
            )));
        }
        if p.0.expose_secret().is_empty() {
            return Err(Error::Rejected("the passphrase is empty".into()));
        }
        Ok(p)
    }
}

fn read_file(path: &Path) -> Result<Passphrase> {
    fsx::check_private(path)?;
    let mut text = Zeroizing::new(String::new());
    std::fs::File::open(path)
        .at(path)?
        .take(4096)
        .read_to_string(&mut text)
        .at(path)?;
    let line = text.lines().next().unwrap_or("");
    Ok(Passphrase::new(line.to_string()))
}

/// Asks on `/dev/tty` with echo off, restoring the terminal afterwards.
fn ask(prompt: &str) -> Result<Passphrase> {
    use nix::sys::termios::{self, LocalFlags, SetArg};
    let tty_path = Path::new("/dev/tty");
    let tty = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(tty_path)
        .map_err(|_| {
            Error::Rejected(
                "a passphrase is needed and there is no terminal to ask on: run on the console or pass --passphrase-file FILE (mode 0600)".into(),
            )
        })?;
    let saved = termios::tcgetattr(&tty).map_err(|e| Error::io(tty_path, e.into()))?;
    let mut quiet = saved.clone();
    quiet.local_flags.remove(LocalFlags::ECHO);
    quiet.local_flags.insert(LocalFlags::ECHONL);
    termios::tcsetattr(&tty, SetArg::TCSAFLUSH, &quiet)
        .map_err(|e| Error::io(tty_path, e.into()))?;
    let read = (|| -> std::io::Result<Zeroizing<String>> {
        let mut w = &tty;
        w.write_all(prompt.as_bytes())?;
        w.flush()?;
        let mut line = Zeroizing::new(String::new());
        std::io::BufReader::new(&tty)
            .take(4096)
            .read_line(&mut line)?;
        Ok(line)
    })();
    let restored = termios::tcsetattr(&tty, SetArg::TCSAFLUSH, &saved);
    let line = read.at(tty_path)?;
    restored.map_err(|e| Error::io(tty_path, e.into()))?;
    Ok(Passphrase::new(
        line.trim_end_matches(['\n', '\r']).to_string(),
    ))
}

/// The scrypt work factor (log2 N) for new sealed keys. Release builds let
/// age calibrate it (about a second of work); debug builds honour
/// `AIRLOCK_TEST_SCRYPT_LOG_N` so the test suite does not spend minutes in
/// scrypt.
fn work_factor() -> Option<u8> {
    if cfg!(debug_assertions) {
        std::env::var("AIRLOCK_TEST_SCRYPT_LOG_N")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|n| (1..=22).contains(n))
    } else {
        None
    }
}

/// An ed25519 key held by a person: its secret never prints.
pub struct PersonalKey {
    signing: SigningKey,
}

impl fmt::Debug for PersonalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PersonalKey {{ key_id: {}, secret: <redacted> }}",
            self.key_id()
        )
    }
}

/// The core signs documents (policies) through this.
impl crate::trust::keys::Signer for PersonalKey {
    fn verifying_key(&self) -> VerifyingKey {
        self.public()
    }
    fn sign(&self, domain: Domain, payload: &[u8]) -> String {
        PersonalKey::sign(self, domain, payload)
    }
}

impl PersonalKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Result<Self> {
        Ok(PersonalKey {
            signing: crate::trust::keys::fresh_signing_key()?,
        })
    }

    /// The public key.
    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key as hex.
    pub fn public_hex(&self) -> String {
        hex::encode(self.public().as_bytes())
    }

    /// The key id.
    pub fn key_id(&self) -> KeyId {
        KeyId::of(&self.public())
    }

    /// Signs `payload` in `domain`; the signature as hex.
    pub fn sign(&self, domain: Domain, payload: &[u8]) -> String {
        hex::encode(self.signing.sign(&domain.message(payload)).to_bytes())
    }

    /// Writes the secret, sealed with `pass`, to a new 0600 file `path`
    /// (never replacing one). `log_n` overrides the scrypt work factor
    /// (the demo's throwaway keys).
    pub fn save_sealed(&self, path: &Path, pass: &Passphrase, log_n: Option<u8>) -> Result<()> {
        let mut recipient = age::scrypt::Recipient::new(pass.0.clone());
        if let Some(n) = log_n.or_else(work_factor) {
            recipient.set_work_factor(n);
        }
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&recipient as &dyn age::Recipient))
                .map_err(|e| Error::Rejected(format!("sealing {}: {e}", path.display())))?;
        let seed_hex = Zeroizing::new(hex::encode(self.signing.as_bytes()));
        let plain = Zeroizing::new(format!("{SECRET_PREFIX}{}\n", seed_hex.as_str()));
        let mut sealed = Vec::new();
        let mut w = encryptor.wrap_output(&mut sealed).at(path)?;
        w.write_all(plain.as_bytes()).at(path)?;
        w.finish().at(path)?;
        fsx::write_new(path, &sealed)
    }

    /// Opens the sealed key file `path` with `pass`. The file must be 0600;
    /// a wrong passphrase is a key error naming the file.
    pub fn open_sealed(path: &Path, pass: &Passphrase) -> Result<Self> {
        fsx::check_private(path)?;
        let sealed = fsx::read_capped(path, MAX_SEALED)?;
        let key_err = |reason: String| Error::Key {
            path: path.to_path_buf(),
            reason,
        };
        let decryptor = age::Decryptor::new_buffered(&sealed[..]).map_err(|e| {
            key_err(format!(
                "not a passphrase-sealed Airlock key (age scrypt): {e}"
            ))
        })?;
        let identity = age::scrypt::Identity::new(pass.0.clone());
        let mut reader = decryptor
            .decrypt(std::iter::once(&identity as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                    key_err("the passphrase does not open this key".into())
                }
                other => key_err(format!("cannot be opened: {other}")),
            })?;
        let mut text = Zeroizing::new(String::new());
        reader
            .read_to_string(&mut text)
            .map_err(|e| key_err(format!("cannot be opened: {e}")))?;
        let bad = || key_err("the sealed content is not an Airlock ed25519 key".into());
        let hex_seed = text
            .trim_end()
            .strip_prefix(SECRET_PREFIX)
            .ok_or_else(bad)?;
        let mut seed = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(hex_seed, seed.as_mut()).map_err(|_| bad())?;
        Ok(PersonalKey {
            signing: SigningKey::from_bytes(&seed),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_key_opens_with_its_passphrase_only() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("k.key");
        let key = PersonalKey::generate().expect("generate");
        key.save_sealed(&path, &Passphrase::new("correct horse".into()), Some(4))
            .expect("seal");
        let raw = std::fs::read(&path).expect("read");
        assert!(
            !String::from_utf8_lossy(&raw).contains(&hex::encode(key.signing.as_bytes())),
            "the secret is not in the file in clear"
        );
        let opened = PersonalKey::open_sealed(&path, &Passphrase::new("correct horse".into()))
            .expect("open");
        assert_eq!(opened.key_id(), key.key_id());
        let err = PersonalKey::open_sealed(&path, &Passphrase::new("wrong horse".into()))
            .expect_err("wrong passphrase");
        assert!(
            err.to_string().contains("passphrase does not open"),
            "{err}"
        );
        assert!(!format!("{opened:?}").contains(&hex::encode(key.signing.as_bytes())));
        assert_eq!(
            format!("{:?}", Passphrase::new("x".into())),
            "Passphrase(<redacted>)"
        );
        assert!(
            key.save_sealed(&path, &Passphrase::new("correct horse".into()), Some(4))
                .is_err(),
            "never replaces a key file"
        );
    }

    #[test]
    fn short_passphrase_for_a_new_key_is_refused() {
        let err = PassSource::Given(Passphrase::new("short".into()))
            .read("", true)
            .expect_err("short");
        assert!(err.to_string().contains("too short"), "{err}");
    }
}
