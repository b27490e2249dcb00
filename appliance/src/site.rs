//! Site names and site cards.
//!
//! A site card is the public face of a node: its name, its signing key and
//! its age recipient. Operators carry cards between sites (on the same media
//! as bundles) and compare the key id on both ends by voice or on paper
//! before trusting a peer: the card's self-signature proves only that the
//! card was not corrupted in transit and that its author held the key, not
//! who the author is.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::keys::{self, Domain, KeyId, PublicKeys, SiteKeys};
use crate::time::{Now, Timestamp};

pub use airlock_core::name::SiteName;

/// The format tag of site cards.
pub const CARD_FORMAT: &str = "airlock-site-card/1";

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
    /// Writes this site's card, self-signed, as pretty JSON.
    pub fn render(site: &SiteName, keys: &SiteKeys) -> Result<Vec<u8>> {
        let public = keys.public();
        let body = CardBody {
            format: CARD_FORMAT.into(),
            site: site.clone(),
            key_id: public.key_id(),
            signing_key: hex::encode(public.signing.as_bytes()),
            age_recipient: public.age_recipient,
            created_at: Timestamp::now(),
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
        if bytes.len() > 64 * 1024 {
            return Err(bad("larger than 64 KiB; not a site card".into()));
        }
        let file: CardFile = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
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

    #[test]
    fn card_round_trips_and_detects_edits() {
        let keys = SiteKeys::generate().expect("keys");
        let site: SiteName = "lab".parse().expect("name");
        let bytes = SiteCard::render(&site, &keys).expect("render");
        let card = SiteCard::parse(&bytes, "lab.card").expect("parse");
        assert_eq!(card.site, site);
        assert_eq!(card.keys, keys.public());
        let edited = String::from_utf8(bytes)
            .expect("utf8")
            .replace("\"lab\"", "\"lab2\"");
        let err = SiteCard::parse(edited.as_bytes(), "x").expect_err("edited card");
        assert!(err.to_string().contains("self-signature"), "{err}");
    }
}
