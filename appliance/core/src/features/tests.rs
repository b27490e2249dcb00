use super::*;
use crate::contract::Value;
use crate::digest::Digest;
use crate::sketch::hash64;

fn doc(features: Vec<Fitted>) -> FeatureSetDoc {
    FeatureSetDoc {
        ty: FEATURE_SET_TYPE.into(),
        site: "lab".parse().expect("site"),
        name: "f".into(),
        version: 1,
        dataset: Digest::of(b"d"),
        contract: Digest::of(b"c"),
        label: "y".into(),
        positive: "1".into(),
        features,
    }
}

fn vector(d: &FeatureSetDoc, cols: Vec<Vec<usize>>, row: &[Value]) -> Vec<f32> {
    let mut out = Vec::new();
    d.transform(row, &Bound(cols), &mut out);
    assert_eq!(out.len(), d.width());
    out
}

#[test]
fn standardize_and_one_hot_impute_and_send_unknowns_out_of_vocabulary() {
    let d = doc(vec![
        Fitted::Numeric {
            column: "x".into(),
            denominator: None,
            fill: 2.0,
            indicator: true,
            clip: None,
            log1p: false,
            scale: Scale::Standardize {
                mean: 1.0,
                std: 2.0,
            },
        },
        Fitted::OneHot {
            column: "c".into(),
            vocabulary: vec!["a".into(), "b".into()],
            fill: Some("b".into()),
            indicator: false,
        },
    ]);
    let cols = || vec![vec![0], vec![1]];
    assert_eq!(
        vector(&d, cols(), &[Value::Float(5.0), Value::Text("a".into())]),
        [2.0, 0.0, 1.0, 0.0, 0.0]
    );
    assert_eq!(
        vector(&d, cols(), &[Value::Null, Value::Null]),
        [0.5, 1.0, 0.0, 1.0, 0.0],
        "missing values take the fitted fills and set the indicator"
    );
    assert_eq!(
        vector(&d, cols(), &[Value::Int(1), Value::Text("zzz".into())]),
        [0.0, 0.0, 0.0, 0.0, 1.0],
        "unseen category goes to the out-of-vocabulary slot"
    );
}

#[test]
fn clip_log1p_min_max_ratio_bucketize_hashing_and_date_parts() {
    let d = doc(vec![
        Fitted::Numeric {
            column: "x".into(),
            denominator: None,
            fill: 0.0,
            indicator: false,
            clip: Some([0.0, 99.0]),
            log1p: true,
            scale: Scale::MinMax {
                min: 0.0,
                max: 100f64.ln(),
            },
        },
        Fitted::Numeric {
            column: "x".into(),
            denominator: Some("y".into()),
            fill: -1.0,
            indicator: false,
            clip: None,
            log1p: false,
            scale: Scale::None,
        },
        Fitted::Bucketize {
            column: "x".into(),
            boundaries: vec![10.0, 20.0],
            fill: 15.0,
            indicator: false,
        },
        Fitted::Hashed {
            columns: vec!["c".into()],
            buckets: 4,
        },
        Fitted::DateParts {
            column: "t".into(),
            parts: vec![DatePart::Month, DatePart::Weekday, DatePart::Hour],
            fill: 0,
            indicator: false,
            year: [2026.0, 1.0],
        },
    ]);
    let cols = || vec![vec![0], vec![0, 1], vec![0], vec![2], vec![3]];
    // 2026-11-23T13:00:00Z is a Monday.
    let t = crate::contract::parse_timestamp("2026-11-23T13:00:00Z").expect("time");
    let row = [
        Value::Float(1000.0),
        Value::Float(0.0),
        Value::Text("A11".into()),
        Value::Int(t),
    ];
    let v = vector(&d, cols(), &row);
    assert_eq!(v[0], 1.0, "clipped to 99, log1p, min-max to 1");
    assert_eq!(v[1], -1.0, "a zero denominator takes the fill");
    assert_eq!(&v[2..5], [0.0, 0.0, 1.0], "1000 is above the last boundary");
    let bucket = (hash64(b"A11\x1f") % 4) as usize;
    assert_eq!(v[5 + bucket], 1.0);
    assert_eq!(v[5..10].iter().sum::<f32>(), 1.0);
    assert_eq!(&v[10..], [10.0 / 11.0, 0.0, 13.0 / 23.0]);
    let missing = [
        Value::Float(5.0),
        Value::Float(2.0),
        Value::Null,
        Value::Null,
    ];
    let v = vector(&d, cols(), &missing);
    assert_eq!(v[1], 2.5);
    assert_eq!(&v[2..5], [1.0, 0.0, 0.0]);
    assert_eq!(v[9], 1.0, "a missing hashed value has its own slot");
}

#[test]
fn a_huge_value_is_limited_to_the_f32_range() {
    let d = doc(vec![Fitted::Numeric {
        column: "x".into(),
        denominator: None,
        fill: 0.0,
        indicator: false,
        clip: None,
        log1p: false,
        scale: Scale::None,
    }]);
    let v = vector(&d, vec![vec![0]], &[Value::Float(1e300)]);
    assert_eq!(v[0], f32::MAX);
}

#[test]
fn stored_document_round_trips_bit_for_bit() {
    let d = doc(vec![Fitted::Numeric {
        column: "x".into(),
        denominator: None,
        fill: 0.1 + 0.2,
        indicator: false,
        clip: None,
        log1p: false,
        scale: Scale::Standardize {
            mean: 1.0 / 3.0,
            std: 2f64.sqrt(),
        },
    }]);
    let back: FeatureSetDoc =
        serde_json::from_slice(&serde_json::to_vec(&d).expect("ser")).expect("de");
    assert_eq!(back, d, "float parameters must survive storage exactly");
}
