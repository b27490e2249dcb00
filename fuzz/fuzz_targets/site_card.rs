//! The site card parser, `SiteCard::parse`: a card file as an operator carries it between
//! sites (JSON, the self-signature, the key id against the key, the age recipient).
//!
//! The input is used twice. First as a card file, which reaches the JSON, format, key and
//! recipient checks, and the signature check with a signature the fuzzer cannot forge. Then as
//! the fields of a card that the target renders and signs itself with a fixed key, so the code
//! after the signature check runs too:
//!
//! ```text
//! bytes 0-7   created_at, u64 BE, folded into years 1970 to 9999
//! rest        UTF-8: the site name, a newline, the age recipient
//! ```
//!
//! A rendered card must parse back to exactly its fields, and be refused only for an age
//! recipient the core's check refuses.

#![no_main]

use airlock_core::Error;
use airlock_core::keys::{KeyId, SiteSigner, check_age_recipient};
use airlock_core::site::{SiteCard, SiteName};
use airlock_core::time::Timestamp;
use libfuzzer_sys::fuzz_target;

mod shared;

/// 9999-12-31T23:59:59Z: the last second the one text form of a timestamp can show.
const LAST: u64 = 253_402_300_799;

fuzz_target!(|data: &[u8]| {
    if let Ok(card) = SiteCard::parse(data, "fuzz") {
        // What was accepted is self-consistent.
        assert_eq!(
            card.keys.key_id(),
            KeyId::of(&card.keys.signing),
            "{card:?}"
        );
        assert!(card.keys.check_recipient().is_ok(), "{card:?}");
        // And accepted again: parsing has no state.
        assert_eq!(SiteCard::parse(data, "again").ok(), Some(card));
    }

    let Some((time, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (site, recipient) = text
        .split_once('\n')
        .unwrap_or((text, shared::AGE_RECIPIENT));
    let Ok(site) = site.parse::<SiteName>() else {
        return;
    };
    let created_at = Timestamp((u64::from_be_bytes(*time) % (LAST + 1)) as i64);
    let mut key = shared::FuzzKey::new(0x5b);
    key.age_recipient = recipient.to_string();
    let bytes = SiteCard::render(&site, &key, created_at).expect("a card renders");
    match SiteCard::parse(&bytes, "rendered") {
        Ok(card) => {
            assert_eq!(card.site, site);
            assert_eq!(card.keys, key.public());
            assert_eq!(card.created_at, created_at);
        }
        Err(e) => {
            assert!(
                matches!(e, Error::AgeRecipient { .. }) && check_age_recipient(recipient).is_err(),
                "a rendered card was refused: {e}"
            );
        }
    }
});
