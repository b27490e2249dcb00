//! Site names and site cards.
//!
//! A site card is the public face of a node: its name, its signing key and
//! its age recipient. Operators carry cards between sites (on the same media
//! as bundles) and compare the key id on both ends by voice or on paper
//! before trusting a peer: the card's self-signature proves only that the
//! card was not corrupted in transit and that its author held the key, not
//! who the author is.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::{self, Domain, KeyId, PublicKeys, SiteSigner};
use crate::time::Timestamp;

/// A validated site name: 1 to 63 characters of `a-z`, `0-9` and `-`,
/// starting with a letter or digit.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SiteName(String);

impl SiteName {
    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for SiteName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if ok {
            Ok(SiteName(s.to_string()))
        } else {
            Err(Error::BadName {
                what: "site name",
                name: s.to_string(),
                rule: "use 1-63 characters a-z, 0-9 and '-', not starting with '-'",
            })
        }
    }
}

impl TryFrom<String> for SiteName {
    type Error = Error;
    fn try_from(s: String) -> Result<Self> {
        s.parse()
    }
}

impl From<SiteName> for String {
    fn from(s: SiteName) -> String {
        s.0
    }
}

impl fmt::Display for SiteName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The format tag of site cards.
pub const CARD_FORMAT: &str = "airlock-site-card/1";
/// Largest site card parsed.
pub const MAX_CARD: usize = 64 * 1024;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CardBody {
    format: String,
    site: SiteName,
    key_id: KeyId,
    signing_key: String,
    age_recipient: String,
    created_at: Timestamp,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CardFile {
    #[serde(flatten)]
    body: CardBody,
    signature: String,
}

/// A site card whose self-signature and key id have been checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteCard {
    /// The site's name.
    pub site: SiteName,
    /// The site's public keys.
    pub keys: PublicKeys,
    /// When the card was written.
    pub created_at: Timestamp,
}

impl SiteCard {
    /// Writes this site's card, self-signed, as pretty JSON, dated `created_at`.
    pub fn render(
        site: &SiteName,
        keys: &impl SiteSigner,
        created_at: Timestamp,
    ) -> Result<Vec<u8>> {
        let public = keys.public();
        let body = CardBody {
            format: CARD_FORMAT.into(),
            site: site.clone(),
            key_id: public.key_id(),
            signing_key: hex::encode(public.signing.as_bytes()),
            age_recipient: public.age_recipient,
            created_at,
        };
        let signed = serde_json::to_vec(&body).map_err(|e| Error::Rejected(e.to_string()))?;
        let file = CardFile {
            signature: keys.sign(Domain::SiteCard, &signed),
            body,
        };
        let mut out =
            serde_json::to_vec_pretty(&file).map_err(|e| Error::Rejected(e.to_string()))?;
        out.push(b'\n');
        Ok(out)
    }

    /// Parses and verifies a card: the format, the site name, that the key id
    /// matches the key, that the age recipient parses and that the card is
    /// signed by its own key.
    pub fn parse(bytes: &[u8], source: &str) -> Result<Self> {
        let bad = |why: String| Error::Rejected(format!("site card {source}: {why}"));
        if bytes.len() > MAX_CARD {
            return Err(bad("larger than 64 KiB; not a site card".into()));
        }
        let file: CardFile =
            serde_json::from_slice(bytes).map_err(|e| bad(crate::text::error_text(&e)))?;
        if file.body.format != CARD_FORMAT {
            return Err(bad(format!(
                "format {:?}, expected {CARD_FORMAT:?}",
                file.body.format
            )));
        }
        let signing = keys::parse_verifying_key(&file.body.signing_key)?;
        let public = PublicKeys {
            signing,
            age_recipient: file.body.age_recipient.clone(),
        };
        public.check_recipient()?;
        if public.key_id() != file.body.key_id {
            return Err(bad(format!(
                "key id {} does not match its signing key (which has id {})",
                file.body.key_id,
                public.key_id()
            )));
        }
        let signed = serde_json::to_vec(&file.body).map_err(|e| bad(e.to_string()))?;
        if !keys::verify(&signing, Domain::SiteCard, &signed, &file.signature) {
            return Err(Error::Integrity(format!(
                "site card {source}: self-signature does not verify; the card was altered or corrupted"
            )));
        }
        Ok(SiteCard {
            site: file.body.site,
            keys: public,
            created_at: file.body.created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::TestKey;

    #[test]
    fn card_round_trips_and_detects_edits() {
        let keys = TestKey::new(3);
        let site: SiteName = "lab".parse().expect("name");
        let bytes = SiteCard::render(&site, &keys, Timestamp(1_795_439_109)).expect("render");
        let card = SiteCard::parse(&bytes, "lab.card").expect("parse");
        assert_eq!(card.site, site);
        assert_eq!(card.keys, keys.public());
        assert_eq!(card.created_at, Timestamp(1_795_439_109));
        let edited = String::from_utf8(bytes)
            .expect("utf8")
            .replace("\"lab\"", "\"lab2\"");
        let err = SiteCard::parse(edited.as_bytes(), "x").expect_err("edited card");
        assert!(matches!(err, Error::Integrity(_)), "{err:?}");
        assert!(err.to_string().contains("self-signature"), "{err}");
    }

    #[test]
    fn vector_card_with_a_swapped_key_id_is_refused() {
        let keys = TestKey::new(4);
        let other = TestKey::new(5);
        let site: SiteName = "lab".parse().expect("name");
        let bytes = SiteCard::render(&site, &keys, Timestamp(0)).expect("render");
        let text = String::from_utf8(bytes).expect("utf8");
        let swapped = text.replace(
            keys.public().key_id().as_str(),
            other.public().key_id().as_str(),
        );
        let err = SiteCard::parse(swapped.as_bytes(), "c").expect_err("swapped id");
        assert!(
            err.to_string().contains("does not match its signing key"),
            "{err}"
        );
    }

    #[test]
    fn vector_card_with_a_bad_age_recipient_is_refused() {
        let mut keys = TestKey::new(6);
        keys.age_recipient = "age1notarecipient".into();
        let site: SiteName = "lab".parse().expect("name");
        let bytes = SiteCard::render(&site, &keys, Timestamp(0)).expect("render");
        let err = SiteCard::parse(&bytes, "c").expect_err("bad recipient");
        assert!(matches!(err, Error::AgeRecipient { .. }), "{err:?}");
    }

    #[test]
    fn oversized_and_unknown_fields_are_refused() {
        let err = SiteCard::parse(&vec![b' '; MAX_CARD + 1], "big").expect_err("big");
        assert!(err.to_string().contains("larger than 64 KiB"), "{err}");
        let keys = TestKey::new(7);
        let site: SiteName = "lab".parse().expect("name");
        let text = String::from_utf8(SiteCard::render(&site, &keys, Timestamp(0)).expect("r"))
            .expect("utf8")
            .replacen('{', "{\"extra\": 1,", 1);
        let err = SiteCard::parse(text.as_bytes(), "c").expect_err("unknown field");
        assert!(err.to_string().contains("unknown field"), "{err}");
    }

    #[test]
    fn site_names_are_validated() {
        assert!("plant-2".parse::<SiteName>().is_ok());
        for bad in ["", "Lab", "-x", "a/b", "a b", &"x".repeat(64)] {
            assert!(bad.parse::<SiteName>().is_err(), "{bad:?} accepted");
        }
        let err = "Lab".parse::<SiteName>().expect_err("uppercase");
        assert_eq!(
            err.to_string(),
            "site name \"Lab\" is not valid: use 1-63 characters a-z, 0-9 and '-', not starting with '-'"
        );
    }
}
