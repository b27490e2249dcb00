//! Tests of the router's shares and of the slots' share rule.

use super::clearance::check_percent;
use super::router::in_share;
use super::*;

#[test]
fn a_share_takes_about_its_percent_of_keys_and_always_the_same_ones() {
    let keys: Vec<String> = (0..20_000).map(|i| format!("applicant-{i}")).collect();
    let taken: Vec<bool> = keys
        .iter()
        .map(|k| in_share(b"airlock.canary\0", k, 10.0))
        .collect();
    let n = taken.iter().filter(|t| **t).count();
    assert!((1_800..=2_200).contains(&n), "{n} of 20000 at 10%");
    let again: Vec<bool> = keys
        .iter()
        .map(|k| in_share(b"airlock.canary\0", k, 10.0))
        .collect();
    assert_eq!(taken, again, "the same entities each time");
    // A larger share keeps every entity of the smaller one (raising 10% to 20% moves
    // no entity back to production).
    assert!(
        keys.iter()
            .zip(&taken)
            .filter(|(_, t)| **t)
            .all(|(k, _)| in_share(b"airlock.canary\0", k, 20.0))
    );
    assert!(keys.iter().all(|k| in_share(b"airlock.canary\0", k, 100.0)));
    // The shadow's sample is drawn independently of the canary's.
    let both = keys
        .iter()
        .filter(|k| {
            in_share(b"airlock.canary\0", k, 10.0) && in_share(b"airlock.shadow\0", k, 10.0)
        })
        .count();
    assert!((100..=320).contains(&both), "{both}: about 1% in both");
}

#[test]
fn a_typed_cell_keys_like_the_json_request_value() {
    use crate::contract::Value;
    let json_text = |v: serde_json::Value| v.to_string();
    assert_eq!(request_text(&Value::Int(5)), json_text(json!(5)));
    assert_eq!(request_text(&Value::Float(2.5)), json_text(json!(2.5)));
    assert_eq!(
        request_text(&Value::Text("C\"1".into())),
        json_text(json!("C\"1"))
    );
    assert_eq!(
        request_text(&Value::Null),
        json_text(serde_json::Value::Null)
    );
}

#[test]
fn shares_are_checked() {
    assert!(check_percent(CANARY, Some(10.0)).is_ok());
    assert!(check_percent(SHADOW, Some(100.0)).is_ok());
    assert!(check_percent(CANARY, None).is_err());
    assert!(check_percent(CANARY, Some(0.0)).is_err());
    assert!(check_percent(CANARY, Some(150.0)).is_err());
    assert!(check_percent(CANARY, Some(f64::NAN)).is_err());
    assert!(check_percent(PRODUCTION, Some(10.0)).is_err());
    assert!(check_percent(PRODUCTION, None).is_ok());
}
