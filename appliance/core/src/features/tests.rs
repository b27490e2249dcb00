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

/// A spec with every transform and every impute, over the columns of
/// [`FIT_CONTRACT`].
const EVERY_TRANSFORM: &str = r#"
name = "every"
dataset = "d"
label = "y"
positive = "good"

[[features]]
column = "amount"
transform = "standardize"

[[features]]
column = "amount"
transform = "standardize"
impute = "median"
indicator = true

[[features]]
column = "balance"
transform = "min_max"
impute = "zero"

[[features]]
column = "balance"
transform = "min_max"

[[features]]
column = "count"
transform = "log1p"
impute = "constant"
fill = 2.5
scale = "standardize"

[[features]]
column = "balance"
transform = "clip"
clip = [-50.0, 900.0]
impute = "median"
scale = "standardize"

[[features]]
column = "balance"
transform = "clip"
clip = [0.0, 900.0]
log1p = true
impute = "zero"
scale = "min_max"

[[features]]
column = "rate"
transform = "identity"
impute = "constant"
fill = -3.0
scale = "min_max"

[[features]]
column = "rate"
transform = "identity"

[[features]]
column = "amount"
transform = "ratio"
denominator = "count"
scale = "standardize"
indicator = true

[[features]]
column = "amount"
transform = "bucketize"
buckets = 7

[[features]]
column = "balance"
transform = "bucketize"
boundaries = [-10.0, 0.0, 10.0, 100.0]
impute = "zero"

[[features]]
column = "count"
transform = "bucketize"
buckets = 4
impute = "mean"
indicator = true

[[features]]
column = "kind"
transform = "one_hot"

[[features]]
column = "kind"
transform = "one_hot"
max_categories = 3
impute = "oov"

[[features]]
column = "note"
transform = "one_hot"
vocabulary = ["zeta", "alpha", "mid"]
indicator = true

[[features]]
column = "kind"
transform = "hashing"
buckets = 8

[[features]]
columns = ["kind", "note"]
transform = "cross"
buckets = 16

[[features]]
column = "day"
transform = "date_parts"

[[features]]
column = "at"
transform = "date_parts"
parts = ["year", "hour"]
indicator = true
"#;

const FIT_CONTRACT: &str = r#"
name = "d"
version = 1
[[columns]]
name = "amount"
type = "float"
nullable = true
[[columns]]
name = "balance"
type = "float"
nullable = true
[[columns]]
name = "count"
type = "integer"
min = 0
nullable = true
[[columns]]
name = "rate"
type = "float"
nullable = true
[[columns]]
name = "kind"
type = "string"
nullable = true
[[columns]]
name = "note"
type = "string"
nullable = true
[[columns]]
name = "day"
type = "date"
nullable = true
[[columns]]
name = "at"
type = "timestamp"
nullable = true
[[columns]]
name = "y"
type = "string"
"#;

/// Deterministic rows for [`FIT_CONTRACT`]: values with many digits (so
/// the order of a sum shows in its last bits), negatives, zeros (ratio
/// denominators), -0.0, and about one missing cell in ten.
fn fit_rows(n: usize, seed: u64) -> Vec<Vec<Value>> {
    let mut s = seed;
    let mut next = move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        s >> 11
    };
    let mut unit = || (next() as f64) / (1u64 << 53) as f64;
    (0..n)
        .map(|_| {
            let r: Vec<f64> = (0..12).map(|_| unit()).collect();
            let opt = |p: f64, v: Value| if p < 0.1 { Value::Null } else { v };
            let kinds = ["a", "b", "c", "d", "e", "f"];
            let notes = ["alpha", "mid", "zeta", "other"];
            vec![
                opt(r[0], Value::Float((r[1] * 1e6).powf(1.3) / 7.0)),
                opt(
                    r[2],
                    Value::Float(if r[3] < 0.02 {
                        -0.0
                    } else {
                        r[3] * 1200.0 - 150.0
                    }),
                ),
                opt(r[4], Value::Int((r[5] * 40.0) as i64)),
                opt(r[6], Value::Float(r[7] * 0.3 + 0.1)),
                opt(
                    r[8],
                    Value::Text(kinds[(r[9] * r[9] * 6.0) as usize].into()),
                ),
                opt(r[10], Value::Text(notes[(r[11] * 4.0) as usize].into())),
                opt(
                    r[1],
                    Value::Int(1_500_000_000 + ((r[2] * 3.0e8) as i64 / 86_400) * 86_400),
                ),
                opt(r[3], Value::Int(1_400_000_000 + (r[4] * 4.0e8) as i64)),
                Value::Text(if r[5] < 0.3 { "bad" } else { "good" }.into()),
            ]
        })
        .collect()
}

/// The fitted features as the bytes a version stores them in (JSON text,
/// so a failed comparison shows which parameter differs).
fn fitted_bytes(features: &[Fitted]) -> String {
    serde_json::to_string(features).expect("ser")
}

#[test]
fn streaming_fit_has_the_bytes_of_the_fit_on_rows_held_in_memory() {
    let spec = FeatureSpec::from_toml(EVERY_TRANSFORM, "every.toml").expect("spec");
    let contract = crate::contract::Contract::from_toml(FIT_CONTRACT, "d.toml").expect("contract");
    for (n, seed) in [(1, 3), (2, 5), (3, 7), (1000, 11), (20_001, 13)] {
        let rows = fit_rows(n, seed);
        let mut fitter = Fitter::new(&spec, &contract, "every.toml").expect("plan");
        for r in &rows {
            fitter.push(r).expect("push");
        }
        let streamed = fitter.finish();
        let held = reference_fit::fit(&spec, &contract, &rows, "every.toml");
        match (streamed, held) {
            (Ok(a), Ok(b)) => {
                assert_eq!(a.len(), spec.features.len());
                assert_eq!(fitted_bytes(&a), fitted_bytes(&b), "{n} rows, seed {seed}");
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{n} rows"),
            (a, b) => panic!("{n} rows: streamed {a:?}, held {b:?}"),
        }
        if n >= 1000 {
            let ok = reference_fit::fit(&spec, &contract, &rows, "every.toml");
            assert!(ok.is_ok(), "{n} rows fit: {ok:?}");
        }
    }
}

/// The comparison above can fail: on these rows a mean summed in row order
/// differs in its last bits from one summed in sorted order (which both
/// fits use), so a fit that summed as the rows come would not match.
#[test]
fn the_fitting_rows_tell_sum_orders_apart() {
    let rows = fit_rows(20_001, 13);
    let mut xs: Vec<f64> = rows.iter().filter_map(|r| r[0].as_f64()).collect();
    let in_rows = xs.iter().sum::<f64>();
    xs.sort_by(f64::total_cmp);
    assert_ne!(in_rows.to_bits(), xs.iter().sum::<f64>().to_bits());
}

const GERMAN_CONTRACT: &str = r#"
name = "german"
version = 1
[[columns]]
name = "checking"
type = "string"
[[columns]]
name = "duration"
type = "integer"
min = 0
[[columns]]
name = "history"
type = "string"
[[columns]]
name = "purpose"
type = "string"
[[columns]]
name = "amount"
type = "float"
min = 0
[[columns]]
name = "age"
type = "integer"
[[columns]]
name = "rate"
type = "integer"
[[columns]]
name = "risk"
type = "string"
"#;

const GERMAN_SPEC: &str = r#"
name = "german-features"
dataset = "german"
label = "risk"
positive = "2"

[[features]]
column = "duration"
transform = "standardize"

[[features]]
column = "amount"
transform = "log1p"
scale = "standardize"
impute = "median"

[[features]]
column = "amount"
transform = "min_max"

[[features]]
column = "amount"
transform = "ratio"
denominator = "duration"
scale = "min_max"
impute = "zero"

[[features]]
column = "age"
transform = "bucketize"
buckets = 5

[[features]]
column = "age"
transform = "clip"
clip = [20.0, 60.0]
scale = "standardize"
impute = "constant"
fill = 35.0

[[features]]
column = "rate"
transform = "identity"
impute = "mean"

[[features]]
column = "checking"
transform = "one_hot"

[[features]]
column = "purpose"
transform = "one_hot"
max_categories = 4
impute = "oov"

[[features]]
columns = ["history", "purpose"]
transform = "cross"
buckets = 32
"#;

/// The German credit data (tests/fixtures/german), typed for
/// [`GERMAN_CONTRACT`].
fn german_rows() -> Vec<Vec<Value>> {
    let text = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/german/german.data"
    ));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let a: Vec<&str> = l.split_whitespace().collect();
            let int = |i: usize| Value::Int(a[i].parse().expect("int"));
            vec![
                Value::Text(a[0].into()),
                int(1),
                Value::Text(a[2].into()),
                Value::Text(a[3].into()),
                Value::Float(a[4].parse().expect("amount")),
                int(12),
                int(7),
                Value::Text(a[20].into()),
            ]
        })
        .collect()
}

/// The German credit data (tests/fixtures/german): the same bytes fit both
/// ways.
#[test]
fn streaming_fit_of_the_german_credit_data_matches_the_fit_in_memory() {
    let rows = german_rows();
    assert_eq!(rows.len(), 1000);
    let spec = FeatureSpec::from_toml(GERMAN_SPEC, "g.toml").expect("spec");
    let contract =
        crate::contract::Contract::from_toml(GERMAN_CONTRACT, "g.toml").expect("contract");
    let streamed = fit(&spec, &contract, &rows, "g.toml").expect("streamed");
    let held = reference_fit::fit(&spec, &contract, &rows, "g.toml").expect("held");
    assert_eq!(fitted_bytes(&streamed), fitted_bytes(&held));
}

/// A spec mistake is found before any row is read.
#[test]
fn a_spec_mistake_is_refused_before_any_row() {
    let contract = crate::contract::Contract::from_toml(FIT_CONTRACT, "d.toml").expect("contract");
    for (feature, why) in [
        (
            "column = \"kind\"\ntransform = \"standardize\"",
            "needs a numeric column",
        ),
        (
            "column = \"amount\"\ntransform = \"one_hot\"",
            "one_hot needs a category",
        ),
        (
            "column = \"amount\"\ntransform = \"bucketize\"",
            "bucketize needs either",
        ),
        (
            "column = \"amount\"\ntransform = \"identity\"\nimpute = \"mode\"",
            "is for categorical",
        ),
        (
            "column = \"rate\"\ntransform = \"identity\"\nscale = \"log1p\"",
            "scale must be",
        ),
    ] {
        let text =
            format!("name = \"s\"\ndataset = \"d\"\nlabel = \"y\"\n[[features]]\n{feature}\n");
        let spec = FeatureSpec::from_toml(&text, "s.toml").expect("spec");
        let err = Fitter::new(&spec, &contract, "s.toml")
            .err()
            .unwrap_or_else(|| panic!("{feature}: accepted"));
        assert!(err.to_string().contains(why), "{feature}: {err}");
    }
}

/// Reserving for the row count changes nothing fitted, and a count too
/// large to reserve is ignored rather than aborting.
#[test]
fn reserving_for_the_rows_changes_nothing_and_a_huge_count_is_ignored() {
    let spec = FeatureSpec::from_toml(EVERY_TRANSFORM, "every.toml").expect("spec");
    let contract = crate::contract::Contract::from_toml(FIT_CONTRACT, "d.toml").expect("contract");
    let rows = fit_rows(1000, 11);
    let plain = fit(&spec, &contract, &rows, "every.toml").expect("fit");
    for reserve in [rows.len(), usize::MAX / 4] {
        let mut fitter = Fitter::new(&spec, &contract, "every.toml").expect("plan");
        fitter.reserve(reserve);
        for r in &rows {
            fitter.push(r).expect("push");
        }
        let fitted = fitter.finish().expect("fit");
        assert_eq!(
            fitted_bytes(&fitted),
            fitted_bytes(&plain),
            "reserve {reserve}"
        );
    }
}

/// A spill in memory that counts the runs and values it was given.
#[derive(Default)]
struct CountedSpill {
    inner: MemoryValueSpill,
    runs: std::rc::Rc<std::cell::Cell<usize>>,
    values: std::rc::Rc<std::cell::Cell<usize>>,
}

impl ValueSpill for CountedSpill {
    fn write_run(&mut self, run: &[f64]) -> crate::Result<usize> {
        self.runs.set(self.runs.get() + 1);
        self.values.set(self.values.get() + run.len());
        self.inner.write_run(run)
    }
    fn read(&mut self, run: usize, from: usize, out: &mut [f64]) -> crate::Result<usize> {
        self.inner.read(run, from, out)
    }
}

/// Features whose parameters come from sorted values mapped out of order:
/// `balance` holds -0.0 and negatives, which a clip at 0 puts at 0.0 beside
/// the untouched -0.0 (and log1p after it), then standardized after the
/// fills; median fills and quantiles over columns with many repeats.
const EDGE_FEATURES: &str = r#"
[[features]]
column = "balance"
transform = "clip"
clip = [0.0, 900.0]
scale = "standardize"

[[features]]
column = "balance"
transform = "clip"
clip = [0.0, 900.0]
log1p = true
impute = "median"
scale = "standardize"

[[features]]
column = "balance"
transform = "clip"
clip = [-1.0, 0.0]
impute = "median"
scale = "min_max"

[[features]]
column = "count"
transform = "identity"
impute = "median"
scale = "standardize"

[[features]]
column = "count"
transform = "bucketize"
buckets = 9
impute = "median"
"#;

/// Fits `spec` on `rows` streaming, with runs of `run` values spilled to a
/// counting spill; returns the fit and the runs spilled.
fn fit_spilling(
    spec: &FeatureSpec,
    contract: &crate::contract::Contract,
    rows: &[Vec<Value>],
    run: usize,
) -> (crate::Result<Vec<Fitted>>, usize) {
    let spill = CountedSpill::default();
    let runs = spill.runs.clone();
    let mut fitter = Fitter::with_spill(spec, contract, "s.toml", Box::new(spill)).expect("plan");
    fitter.set_run(run);
    for r in rows {
        fitter.push(r).expect("push");
    }
    (fitter.finish(), runs.get())
}

/// Runs of a few values force many spills and merges of many runs; the
/// bytes are still those of the fit on rows held in memory.
#[test]
fn a_fit_spilling_runs_of_a_few_values_has_the_bytes_of_the_fit_in_memory() {
    let text = format!("{EVERY_TRANSFORM}{EDGE_FEATURES}");
    let spec = FeatureSpec::from_toml(&text, "s.toml").expect("spec");
    let contract = crate::contract::Contract::from_toml(FIT_CONTRACT, "d.toml").expect("contract");
    for (n, seed) in [
        (1, 3),
        (2, 5),
        (3, 7),
        (8, 9),
        (9, 2),
        (1000, 11),
        (20_001, 13),
    ] {
        let rows = fit_rows(n, seed);
        let held = reference_fit::fit(&spec, &contract, &rows, "s.toml");
        for run in [1, 2, 7, 64] {
            let (streamed, runs) = fit_spilling(&spec, &contract, &rows, run);
            match (&streamed, &held) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(fitted_bytes(a), fitted_bytes(b), "{n} rows, runs of {run}")
                }
                (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{n} rows"),
                (a, b) => panic!("{n} rows, runs of {run}: streamed {a:?}, held {b:?}"),
            }
            if n >= run * 2 {
                assert!(runs >= n / run, "{n} rows, runs of {run}: {runs} spilled");
            }
        }
        if n >= 1000 {
            assert!(held.is_ok(), "{n} rows fit: {held:?}");
        }
    }
}

/// The German credit data, spilled in runs of 7 values.
#[test]
fn a_spilling_fit_of_the_german_credit_data_matches_the_fit_in_memory() {
    let rows = german_rows();
    let spec = FeatureSpec::from_toml(GERMAN_SPEC, "g.toml").expect("spec");
    let contract =
        crate::contract::Contract::from_toml(GERMAN_CONTRACT, "g.toml").expect("contract");
    let (streamed, runs) = fit_spilling(&spec, &contract, &rows, 7);
    let held = reference_fit::fit(&spec, &contract, &rows, "g.toml").expect("held");
    assert_eq!(
        fitted_bytes(&streamed.expect("streamed")),
        fitted_bytes(&held)
    );
    assert!(runs > 500, "{runs} runs spilled");
}

/// Memory: over 2,000,000 values pushed (1,000,000 rows, two columns kept)
/// the columns' buffers hold at most one run each, even after a
/// reservation for every row; the rest went to the spill.
#[test]
fn a_fit_of_two_million_values_holds_at_most_a_run_per_column() {
    let contract = crate::contract::Contract::from_toml(
        "name = \"d\"\nversion = 1\n[[columns]]\nname = \"x\"\ntype = \"float\"\n\
         [[columns]]\nname = \"y\"\ntype = \"string\"\n",
        "d.toml",
    )
    .expect("contract");
    let spec = FeatureSpec::from_toml(
        "name = \"s\"\ndataset = \"d\"\nlabel = \"y\"\n\
         [[features]]\ncolumn = \"x\"\ntransform = \"standardize\"\n\
         [[features]]\ncolumn = \"x\"\ntransform = \"bucketize\"\nbuckets = 10\n",
        "s.toml",
    )
    .expect("spec");
    let spill = CountedSpill::default();
    let spilled = spill.values.clone();
    let mut fitter = Fitter::with_spill(&spec, &contract, "s.toml", Box::new(spill)).expect("plan");
    let rows = 1_000_000;
    fitter.reserve(rows);
    assert!(
        fitter.buffered() <= 2 * VALUE_RUN,
        "reserved {}",
        fitter.buffered()
    );
    let mut row = vec![Value::Null, Value::Text("a".into())];
    let mut most = 0;
    for i in 0..rows {
        row[0] = Value::Float(((i * 7919) % 100_003) as f64 / 3.0);
        fitter.push(&row).expect("push");
        if i % 4096 == 0 {
            most = most.max(fitter.buffered());
        }
    }
    most = most.max(fitter.buffered());
    assert!(most <= 2 * VALUE_RUN, "held room for {most} values");
    assert!(
        spilled.get() >= 2 * rows - 2 * VALUE_RUN,
        "{} spilled",
        spilled.get()
    );
    let fitted = fitter.finish().expect("fit");
    let Fitted::Bucketize { boundaries, .. } = &fitted[1] else {
        panic!("{fitted:?}");
    };
    assert_eq!(boundaries.len(), 9);
}
