//! Model descriptions: what a model is for, what it is not for, and its known limits, in the
//! operator's words (`airlock models describe`), as a record signed by the site and bound to
//! the model. The model card (`airlock models card`) shows the newest one. Storing, listing
//! and choosing the newest are the appliance's (`airlock::ops::description`).

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::error::{Error, Result};
use crate::site::SiteName;
use crate::text;
use crate::time::Timestamp;

/// Type tag of model descriptions.
pub const DESCRIPTION_TYPE: &str = "airlock.model-description/v1";

/// The longest text a field may hold, in characters: a paragraph or two, not a document.
pub const MAX_TEXT_CHARS: usize = 4000;

/// The operator's description of a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDescription {
    /// Always [`DESCRIPTION_TYPE`].
    #[serde(rename = "type")]
    pub ty: String,
    /// The site that wrote it.
    pub site: SiteName,
    /// The model described (its run record's id).
    pub model: Digest,
    /// What the model is for: the decisions, the population, the users.
    pub intended_use: String,
    /// Uses it is not meant for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_of_scope: Option<String>,
    /// Limits the operator knows of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<String>,
    /// The description this one replaces (the newest this site held when it was written).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<Digest>,
    /// When.
    pub created_at: Timestamp,
}

/// The operator's text of a description, before it is bound and signed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DescriptionText {
    /// What the model is for (required).
    pub intended_use: String,
    /// Uses it is not meant for.
    pub out_of_scope: Option<String>,
    /// Known limits.
    pub limits: Option<String>,
}

impl DescriptionText {
    /// Refuses text this node will not sign (exit 3): an empty intended use, a field longer
    /// than [`MAX_TEXT_CHARS`], and a control or formatting character anywhere
    /// ([`text::check_free_text`]: the text reaches other people's terminals and cards). An
    /// empty optional field is taken as not given.
    pub fn checked(self) -> Result<Self> {
        let field = |flag: &str, v: String| -> Result<String> {
            let v = v.trim().to_owned();
            text::check_free_text(flag, &v)?;
            let n = v.chars().count();
            if n > MAX_TEXT_CHARS {
                return Err(Error::Rejected(format!(
                    "{flag} is {n} characters long; at most {MAX_TEXT_CHARS} are kept in a description (link a longer document by name instead)"
                )));
            }
            Ok(v)
        };
        let intended_use = field("--intended-use", self.intended_use)?;
        if intended_use.is_empty() {
            return Err(Error::Rejected(
                "--intended-use is empty: say what the model is for".into(),
            ));
        }
        let optional = |flag: &str, v: Option<String>| -> Result<Option<String>> {
            Ok(match v {
                None => None,
                Some(v) => Some(field(flag, v)?).filter(|v| !v.is_empty()),
            })
        };
        Ok(DescriptionText {
            intended_use,
            out_of_scope: optional("--out-of-scope", self.out_of_scope)?,
            limits: optional("--limits", self.limits)?,
        })
    }
}

impl ModelDescription {
    /// The shape rules a description from anywhere must meet (checked at import and when it
    /// is loaded): its type tag, a non-empty intended use, and no field over
    /// [`MAX_TEXT_CHARS`]. Control characters in a peer's text are kept, as in its other free
    /// text, and escaped wherever they are shown.
    pub fn check(&self) -> Result<()> {
        let what = format!(
            "description of model {} by site {}",
            self.model.short(),
            self.site
        );
        if self.ty != DESCRIPTION_TYPE {
            return Err(Error::Integrity(format!(
                "{what}: type {}, expected {DESCRIPTION_TYPE:?}",
                text::Untrusted(&format!("{:?}", self.ty))
            )));
        }
        if self.intended_use.trim().is_empty() {
            return Err(Error::Integrity(format!("{what} states no intended use")));
        }
        for (name, v) in [
            ("intended_use", Some(&self.intended_use)),
            ("out_of_scope", self.out_of_scope.as_ref()),
            ("limits", self.limits.as_ref()),
        ] {
            let n = v.map_or(0, |v| v.chars().count());
            if n > MAX_TEXT_CHARS {
                return Err(Error::Integrity(format!(
                    "{what}: field `{name}` is {n} characters long, above {MAX_TEXT_CHARS}"
                )));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(intended: &str) -> DescriptionText {
        DescriptionText {
            intended_use: intended.into(),
            out_of_scope: Some("  ".into()),
            limits: Some("trained on 2024 applicants only".into()),
        }
    }

    #[test]
    fn operator_text_is_trimmed_and_empty_optional_fields_dropped() {
        let t = text("  pre-screening of consumer loans  ")
            .checked()
            .expect("ok");
        assert_eq!(t.intended_use, "pre-screening of consumer loans");
        assert_eq!(t.out_of_scope, None);
        assert_eq!(t.limits.as_deref(), Some("trained on 2024 applicants only"));
    }

    #[test]
    fn empty_long_or_control_text_is_refused() {
        let e = text(" ").checked().expect_err("empty");
        assert!(e.to_string().contains("--intended-use is empty"), "{e}");
        let e = text(&"x".repeat(MAX_TEXT_CHARS + 1))
            .checked()
            .expect_err("long");
        assert!(e.to_string().contains("at most 4000"), "{e}");
        for bad in ["a\nb", "a\u{1b}[2Jb", "a\u{202E}b"] {
            let e = text(bad).checked().expect_err(bad);
            assert!(matches!(e, Error::Rejected(_)), "{e}");
            assert!(e.to_string().starts_with("--intended-use "), "{e}");
        }
        let mut t = text("ok");
        t.limits = Some("tab\there".into());
        let e = t.checked().expect_err("tab in limits");
        assert!(e.to_string().starts_with("--limits "), "{e}");
        // Markdown and HTML are plain text here: the card escapes them.
        assert!(text("a | b <script>").checked().is_ok());
    }

    fn record() -> ModelDescription {
        ModelDescription {
            ty: DESCRIPTION_TYPE.into(),
            site: "lab".parse().expect("site"),
            model: Digest::of(b"run"),
            intended_use: "pre-screening".into(),
            out_of_scope: None,
            limits: None,
            supersedes: None,
            created_at: Timestamp(1_795_439_109),
        }
    }

    #[test]
    fn a_record_needs_its_type_an_intended_use_and_bounded_fields() {
        assert!(record().check().is_ok());
        let mut r = record();
        r.ty = "airlock.gate/v1".into();
        assert!(r.check().is_err());
        let mut r = record();
        r.intended_use = " ".into();
        assert!(
            r.check()
                .expect_err("empty")
                .to_string()
                .contains("no intended use")
        );
        let mut r = record();
        r.limits = Some("y".repeat(MAX_TEXT_CHARS + 1));
        assert!(
            r.check()
                .expect_err("long")
                .to_string()
                .contains("`limits`")
        );
        // A peer's control characters are kept (and escaped when shown).
        let mut r = record();
        r.intended_use = "a\u{1b}[2Jb".into();
        assert!(r.check().is_ok());
    }
}
