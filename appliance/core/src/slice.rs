//! Slices: the group a value falls in when metrics are broken down by a column (at training,
//! in held-out metrics per slice, and at evaluation): a category is its own group, a number
//! falls between the cut points given, a missing value is `(missing)`.

use crate::contract::Value;

/// The group of a cell: its canonical text (`(missing)` for a null), or its band when `cuts`
/// are given. Training's held-out slices use the same keys.
pub fn group_of(v: &Value, cuts: &[f64]) -> String {
    let x = match v {
        Value::Null => return "(missing)".into(),
        Value::Int(i) if !cuts.is_empty() => *i as f64,
        Value::Float(f) if !cuts.is_empty() => *f,
        other => return other.canonical(),
    };
    match cuts.iter().position(|c| x <= *c) {
        Some(0) => format!("<={}", cuts[0]),
        Some(i) => format!("{}-{}", cuts[i - 1], cuts[i]),
        None => format!(">{}", cuts[cuts.len() - 1]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_fall_between_cuts_and_categories_are_their_own_group() {
        let cuts = [25.0, 60.0];
        assert_eq!(group_of(&Value::Int(25), &cuts), "<=25");
        assert_eq!(group_of(&Value::Int(30), &cuts), "25-60");
        assert_eq!(group_of(&Value::Float(61.5), &cuts), ">60");
        assert_eq!(group_of(&Value::Null, &cuts), "(missing)");
        assert_eq!(group_of(&Value::Int(30), &[]), Value::Int(30).canonical());
    }
}
