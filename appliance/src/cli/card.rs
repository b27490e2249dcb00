//! `airlock models describe` and `airlock models card`: parse, call `airlock::ops::description`
//! and `airlock::ops::card`, print.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::json;

use airlock::error::{Error, Result};
use airlock::node::fsx;
use airlock::node::home::Home;
use airlock::ops::card;
use airlock::ops::description;
use airlock::ops::description::DescriptionText;
use airlock::ops::train;

use crate::cli::output::Out;

/// Arguments of `airlock models describe`.
#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// Model id (or 8+ leading hex digits): trained here or carried in.
    model: String,
    /// What the model is for: the decision it supports, for whom, by whom (one line of plain
    /// text, at most 4000 characters).
    #[arg(long, value_name = "TEXT")]
    intended_use: String,
    /// Uses it is not meant for.
    #[arg(long, value_name = "TEXT")]
    out_of_scope: Option<String>,
    /// Limits the operator knows of (the card adds those its records show).
    #[arg(long, value_name = "TEXT")]
    limits: Option<String>,
}

/// Arguments of `airlock models card`.
#[derive(Args, Debug)]
pub struct CardArgs {
    /// Model id (or 8+ leading hex digits).
    model: String,
    /// Write the card to FILE (replaced atomically: a temporary file beside it, synced, then
    /// renamed) instead of printing it.
    #[arg(long, value_name = "FILE.md")]
    out: Option<PathBuf>,
}

/// Runs `airlock models describe`.
pub fn describe(home_dir: &Path, out: Out, a: DescribeArgs) -> Result<i32> {
    let mut home = Home::open(home_dir)?;
    let model = train::resolve(&home, &a.model)?;
    let text = DescriptionText {
        intended_use: a.intended_use,
        out_of_scope: a.out_of_scope,
        limits: a.limits,
    };
    let (id, record) = description::describe(&mut home, &model, text)?;
    let mut v = serde_json::to_value(&record).map_err(|e| Error::Rejected(e.to_string()))?;
    v["id"] = json!(id.hex());
    out.emit(&v, |_| {
        out.line(format_args!(
            "described model {} (description {}{})",
            model.short(),
            id.short(),
            record
                .supersedes
                .map(|s| format!(", superseding {}", s.short()))
                .unwrap_or_default()
        ));
    });
    Ok(0)
}

/// Runs `airlock models card`: the home opened read-only, the card built by the library.
pub fn card(home_dir: &Path, out: Out, a: CardArgs) -> Result<i32> {
    let home = Home::open_read_only(home_dir)?;
    let model = train::resolve(&home, &a.model)?;
    let data = card::build(&home, &model)?;
    match a.out {
        None if out.json => out.emit(&data, |_| {}),
        None => out.text(&card::render(&data)),
        Some(path) => {
            let text = card::render(&data);
            fsx::write_atomic(&path, text.as_bytes())?;
            let v = json!({ "model": model.hex(), "file": path.display().to_string(), "bytes": text.len() });
            out.emit(&v, |_| {
                out.line(format_args!(
                    "wrote the model card of model {} to {} ({} bytes)",
                    model.short(),
                    path.display(),
                    text.len()
                ))
            });
        }
    }
    Ok(0)
}
