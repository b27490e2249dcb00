//! `ROOT/etc/airlock/airlock.toml`: the node's configuration, written at install and sealed
//! with the rest. `airlock-install` reads it (the service user, the release key updates
//! must be signed by); `airlock` itself takes its home from the units' `AIRLOCK_HOME`.

use std::path::Path;

use airlock::trust::keys::{KeyId, parse_verifying_key};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest configuration file read.
const MAX_CONFIG: usize = 64 << 10;

/// The node's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The site name given at install (the home holds the authoritative one).
    pub site: String,
    /// The home folder, as the node sees it.
    pub home: String,
    /// The user the units run as and who owns the home.
    pub user: String,
    /// The ed25519 public key (hex) that release archives must be signed by; without one,
    /// `update` is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_key: Option<String>,
}

impl Config {
    /// The pinned release key, parsed, or `None` when none is pinned.
    pub fn release_key(&self) -> Result<Option<VerifyingKey>> {
        self.release_key
            .as_deref()
            .map(|k| {
                parse_verifying_key(k)
                    .map_err(|e| Error::Rejected(format!("airlock.toml: release_key: {e}")))
            })
            .transpose()
    }

    /// The file's text, with a comment on each setting.
    pub fn render(&self) -> String {
        let key = match &self.release_key {
            Some(k) => {
                let id = parse_verifying_key(k)
                    .map(|v| KeyId::of(&v).to_string())
                    .unwrap_or_default();
                format!("# key id {id}\nrelease_key = \"{k}\"\n")
            }
            None => "# none pinned: `airlock-install update` is refused until one is (install --release-key)\n".to_string(),
        };
        format!(
            "\
# Airlock node configuration, written by `airlock-install install` (docs/install.md).
# This file is sealed with the installed binaries and units: after a change, run
# `airlock-install seal` again (the new seal is recorded in the audit log), or
# `airlock-install verify` reports it as modified.

# The site name given at install; the home's store holds the authoritative one.
site = \"{site}\"
# The node's home (store, vault, keys), owned by `user`.
home = \"{home}\"
# The user the services (airlock-serve@, airlock-verify) run as.
user = \"{user}\"
# The ed25519 public key (hex) that release archives must be signed by
# (`airlock-install update` refuses any other).
{key}",
            site = self.site,
            home = self.home,
            user = self.user,
        )
    }

    /// Reads and parses the configuration at `path`.
    pub fn load(path: &Path) -> Result<Config> {
        let bytes = airlock::node::fsx::read_capped(path, MAX_CONFIG)?;
        if bytes.len() > MAX_CONFIG {
            return Err(Error::Rejected(format!(
                "{}: larger than {MAX_CONFIG} bytes",
                path.display()
            )));
        }
        let text = String::from_utf8(bytes)
            .map_err(|_| Error::Rejected(format!("{}: not UTF-8", path.display())))?;
        toml::from_str(&text).map_err(|e| {
            Error::Rejected(format!(
                "{}: {}",
                path.display(),
                airlock::text::error_text(&e)
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_configuration_reads_back_the_same() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[3; 32]).verifying_key();
        let c = Config {
            site: "lab".into(),
            home: "/var/lib/airlock".into(),
            user: "airlock".into(),
            release_key: Some(hex::encode(key.as_bytes())),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("airlock.toml");
        std::fs::write(&path, c.render()).expect("write");
        assert_eq!(Config::load(&path).expect("load"), c);
        assert_eq!(c.release_key().expect("key"), Some(key));
        let none = Config {
            release_key: None,
            ..c
        };
        std::fs::write(&path, none.render()).expect("write");
        assert_eq!(Config::load(&path).expect("load"), none);
    }

    #[test]
    fn configuration_with_an_unknown_setting_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("airlock.toml");
        std::fs::write(
            &path,
            "site = \"a\"\nhome = \"/h\"\nuser = \"u\"\nreleas_key = \"x\"\n",
        )
        .expect("write");
        let err = Config::load(&path).expect_err("unknown field");
        assert!(err.to_string().contains("releas_key"), "{err}");
        assert_eq!(err.exit_code(), airlock::error::exit::REJECTED);
    }
}
