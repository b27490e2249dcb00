//! `airlock data drift`: the report for people, one line per feature with its measure,
//! value, threshold, a small bar and the verdict.

use airlock::ops::drift::{DatasetDrift, DriftReport, Measure, ReferenceFrom, Verdict};

use crate::cli::output::Out;

/// Bar cells; the threshold sits at the middle.
const BAR: usize = 10;

/// How far past its threshold a measure is: 1 at the threshold. Distances compare by
/// ratio; tests by the p-value's logarithm against the threshold's (p = α² is 2).
fn severity(r: &DriftReport) -> f64 {
    match (r.measure, r.value, r.threshold, r.p_value) {
        (Some(m), _, Some(t), Some(p)) if m.is_test() => {
            if p <= 0.0 {
                f64::INFINITY
            } else {
                p.ln() / t.ln()
            }
        }
        (Some(_), Some(v), Some(t), _) if t > 0.0 => v / t,
        _ => 0.0,
    }
}

/// A bar of eighth blocks, full at twice the threshold.
fn bar(severity: f64) -> String {
    const EIGHTHS: [char; 8] = ['▏', '▎', '▍', '▌', '▋', '▊', '▉', '█'];
    let eighths = ((severity.clamp(0.0, 2.0) / 2.0) * (BAR * 8) as f64).round() as usize;
    let mut s: String = "█".repeat(eighths / 8);
    if let Some(part) = (eighths % 8).checked_sub(1) {
        s.push(EIGHTHS[part]);
    }
    let used = s.chars().count();
    s.push_str(&" ".repeat(BAR - used));
    s
}

fn number(x: f64) -> String {
    if x != 0.0 && x.abs() < 0.001 {
        format!("{x:.2e}")
    } else {
        format!("{x:.4}")
    }
}

fn pad(s: &str, width: usize) -> String {
    let n = s.chars().count();
    format!("{s}{}", " ".repeat(width.saturating_sub(n)))
}

/// A checked feature's columns: measure, value, threshold, and what else to say.
fn measured(r: &DriftReport) -> (String, String, String, String) {
    let (Some(m), Some(v), Some(t)) = (r.measure, r.value, r.threshold) else {
        return Default::default();
    };
    let past = r.verdict == Verdict::Drift;
    // A bound that cannot change the four decimals shown is not worth a column.
    let about = if r.error_bound >= 5e-5 {
        format!("±{}", number(r.error_bound))
    } else {
        String::new()
    };
    match (m, r.p_value) {
        (Measure::Ks | Measure::ChiSquared, Some(p)) => {
            let stat = if m == Measure::Ks { "D" } else { "χ²" };
            let extra = format!(
                "{stat} {}{}",
                number(v),
                if about.is_empty() {
                    String::new()
                } else {
                    format!(" {about}")
                }
            );
            (
                m.name().into(),
                format!("p {}", number(p)),
                format!("{} {t}", if past { "<" } else { "≥" }),
                extra,
            )
        }
        _ => (
            m.name().into(),
            number(v),
            format!("{} {t}", if past { "≥" } else { "<" }),
            about,
        ),
    }
}

/// Prints the report.
pub fn print(out: Out, d: &DatasetDrift) {
    out.line(format_args!(
        "drift of {} (contract {}) against {}: {} reference rows, {} current rows",
        d.current, d.contract, d.reference, d.reference_rows, d.current_rows
    ));
    if d.reference_from == ReferenceFrom::Snapshot {
        out.note(
            "the reference's profile predates drift summaries: it was profiled again from its raw snapshot (ingest it again to keep them)",
        );
    }
    let width = d
        .features
        .iter()
        .map(|f| f.column.chars().count())
        .max()
        .unwrap_or(0)
        .min(24);
    let mut checked = 0;
    for f in &d.features {
        let name = pad(&f.column, width);
        match f.verdict {
            Verdict::NotChecked => out.line(format_args!(
                "  {name}  not checked: {}",
                f.note.as_deref().unwrap_or("no measure applies")
            )),
            v => {
                checked += 1;
                let (measure, value, threshold, extra) = measured(f);
                let verdict = if v == Verdict::Drift { "DRIFT" } else { "ok" };
                let line = format!(
                    "  {name}  {}  {}  {}  {}  {}  {extra}",
                    pad(&measure, 14),
                    pad(&value, 11),
                    pad(&threshold, 8),
                    bar(severity(f)),
                    pad(verdict, 5)
                );
                out.line(line.trim_end());
            }
        }
    }
    if d.drifted.is_empty() {
        out.line(format_args!("no drift in the {checked} features checked"));
    } else {
        out.line(format_args!(
            "{} of {checked} features drifted: {}",
            d.drifted.len(),
            d.drifted.join(", ")
        ));
    }
}
