//! Training tests: learning, reproducibility, input refusal, loss numerics.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use super::*;

/// `rows` x 5 features uniform in [-1, 1]; label 1 when a fixed linear score plus a little
/// noise is positive, so the classes are almost (not quite) linearly separable.
fn synthetic(rows: usize, seed: u64) -> (Matrix, Vec<f32>) {
    const W: [f64; 5] = [1.5, -2.0, 1.0, 0.5, 0.0];
    let mut rng = SplitMix64::new(seed);
    let mut data = Vec::with_capacity(rows * W.len());
    let mut labels = Vec::with_capacity(rows);
    for _ in 0..rows {
        let row: Vec<f64> = W.iter().map(|_| rng.uniform(-1.0, 1.0)).collect();
        let score: f64 = row.iter().zip(W).map(|(x, w)| x * w).sum::<f64>() + 0.2;
        labels.push(f32::from(u8::from(score + rng.uniform(-0.3, 0.3) > 0.0)));
        data.extend(row.iter().map(|&v| v as f32));
    }
    (Matrix::new(data, rows, W.len()).unwrap(), labels)
}

fn quiet(x: &Matrix, y: &[f32], cfg: &TrainConfig) -> Result<TrainOutcome> {
    train(x, y, cfg, &mut |_| {})
}

#[test]
fn logreg_learns_separable_data() {
    let (x, y) = synthetic(400, 1);
    let cfg = TrainConfig::default();
    let mut seen = Vec::new();
    let out = train(&x, &y, &cfg, &mut |r| seen.push(r.epoch)).unwrap();
    assert_eq!(seen, (1..=cfg.epochs).collect::<Vec<_>>());
    assert_eq!((out.train_rows, out.holdout_rows), (320, 80));
    assert_eq!((out.train.rows, out.holdout.rows), (320, 80));
    assert!(out.holdout.roc_auc > 0.9, "{:?}", out.holdout);
    assert!(out.holdout.accuracy > 0.8, "{:?}", out.holdout);
    let (first, last) = (&out.history[0], &out.history[cfg.epochs - 1]);
    assert!(last.train_loss < first.train_loss, "{first:?} -> {last:?}");
    assert!(last.rows_per_second > 0.0);
    // The last report and the final holdout metrics describe the same weights.
    assert_eq!(last.holdout_auc, out.holdout.roc_auc);
}

#[test]
fn mlp_learns_separable_data() {
    let (x, y) = synthetic(400, 2);
    let cfg = TrainConfig {
        arch: Arch::Mlp { hidden: 16 },
        ..TrainConfig::default()
    };
    let out = quiet(&x, &y, &cfg).unwrap();
    assert_eq!(out.model.arch(), Arch::Mlp { hidden: 16 });
    assert_eq!(out.model.n_features(), 5);
    assert!(out.holdout.roc_auc > 0.9, "{:?}", out.holdout);
}

#[test]
fn same_seed_gives_identical_bytes() {
    let (x, y) = synthetic(200, 3);
    let cfg = TrainConfig {
        arch: Arch::Mlp { hidden: 8 },
        epochs: 5,
        batch_size: 16,
        ..TrainConfig::default()
    };
    let a = quiet(&x, &y, &cfg).unwrap();
    let b = quiet(&x, &y, &cfg).unwrap();
    assert_eq!(
        a.model.to_safetensors().unwrap(),
        b.model.to_safetensors().unwrap()
    );
    assert_eq!(a.holdout, b.holdout);
}

#[test]
fn different_seed_gives_different_bytes() {
    let (x, y) = synthetic(200, 3);
    let cfg = TrainConfig {
        epochs: 5,
        ..TrainConfig::default()
    };
    let other = TrainConfig {
        seed: 43,
        ..cfg.clone()
    };
    let a = quiet(&x, &y, &cfg).unwrap().model.to_safetensors().unwrap();
    let b = quiet(&x, &y, &other)
        .unwrap()
        .model
        .to_safetensors()
        .unwrap();
    assert_ne!(a, b);
}

#[test]
fn trained_model_round_trips_through_safetensors() {
    let (x, y) = synthetic(200, 4);
    let cfg = TrainConfig {
        arch: Arch::Mlp { hidden: 4 },
        epochs: 3,
        ..TrainConfig::default()
    };
    let model = quiet(&x, &y, &cfg).unwrap().model;
    let bytes = model.to_safetensors().unwrap();
    let loaded = Model::from_safetensors(&bytes, cfg.arch, 5).unwrap();
    assert_eq!(
        model.predict_proba(&x).unwrap(),
        loaded.predict_proba(&x).unwrap()
    );
}

#[test]
fn train_label_two_refused() {
    let (x, mut y) = synthetic(20, 5);
    y[7] = 2.0;
    let err = quiet(&x, &y, &TrainConfig::default()).unwrap_err();
    assert!(matches!(err, Error::InvalidLabel { row: 7, .. }), "{err}");
}

#[test]
fn train_zero_epochs_refused() {
    let (x, y) = synthetic(20, 5);
    let cfg = TrainConfig {
        epochs: 0,
        ..TrainConfig::default()
    };
    let err = quiet(&x, &y, &cfg).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "epochs",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn train_label_count_mismatch_refused() {
    let (x, y) = synthetic(20, 5);
    let err = quiet(&x, &y[..19], &TrainConfig::default()).unwrap_err();
    assert!(matches!(
        err,
        Error::LengthMismatch {
            expected: 20,
            found: 19,
            ..
        }
    ));
}

#[test]
fn train_single_row_refused() {
    let x = Matrix::new(vec![1.0, 2.0], 1, 2).unwrap();
    let err = quiet(&x, &[1.0], &TrainConfig::default()).unwrap_err();
    assert!(matches!(
        err,
        Error::TooFewRows {
            min: 2,
            found: 1,
            ..
        }
    ));
}

#[test]
fn split_holds_out_ceil_fraction_clamped() {
    let sizes = |n, f| {
        let (t, h) = split(n, f, 42);
        let mut all: Vec<usize> = t.iter().chain(&h).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
        (t.len(), h.len())
    };
    assert_eq!(sizes(10, 0.2), (8, 2));
    assert_eq!(sizes(10, 0.21), (7, 3));
    assert_eq!(sizes(10, 0.01), (9, 1));
    assert_eq!(sizes(10, 0.99), (1, 9));
    assert_eq!(sizes(2, 0.5), (1, 1));
    assert_eq!(split(50, 0.2, 1), split(50, 0.2, 1));
    assert_ne!(split(50, 0.2, 1), split(50, 0.2, 2));
}

#[test]
fn init_is_bounded_by_fan_in() {
    let vars = init_params(Arch::Mlp { hidden: 4 }, 9, 0).unwrap();
    let max_abs = |v: &Var| {
        let values = v
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        values.iter().fold(0f32, |m, x| m.max(x.abs()))
    };
    // l1.* has fan_in 9 (bound 1/3), l2.* has fan_in 4 (bound 1/2).
    assert!(max_abs(&vars[0]) <= 1.0 / 3.0 && max_abs(&vars[1]) <= 1.0 / 3.0);
    assert!(
        max_abs(&vars[1]) > 0.25,
        "36 draws should come near the bound"
    );
    assert!(max_abs(&vars[2]) <= 0.5 && max_abs(&vars[3]) <= 0.5);
}

#[test]
fn bce_matches_candle_and_stays_finite() {
    let dev = Device::Cpu;
    let z = Tensor::new(&[[-3.0f32], [-0.5], [0.0], [0.7], [4.0]], &dev).unwrap();
    let y = Tensor::new(&[[0.0f32], [1.0], [1.0], [0.0], [1.0]], &dev).unwrap();
    let ours = bce_with_logits(&z, &y).unwrap().to_scalar::<f32>().unwrap();
    let candle = candle_nn::loss::binary_cross_entropy_with_logit(&z, &y)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((ours - candle).abs() < 1e-5, "{ours} vs {candle}");

    // Saturated logits: candle's version is inf here; ours is the exact 100 / 2.
    let z = Tensor::new(&[[100.0f32], [-100.0]], &dev).unwrap();
    let y = Tensor::new(&[[0.0f32], [0.0]], &dev).unwrap();
    let loss = bce_with_logits(&z, &y).unwrap().to_scalar::<f32>().unwrap();
    assert!((loss - 50.0).abs() < 1e-4, "{loss}");
}

#[test]
fn bce_gradient_at_zero_is_sigmoid_minus_label() {
    let z = Var::new(&[[0.0f32], [0.0]], &Device::Cpu).unwrap();
    let y = Tensor::new(&[[1.0f32], [0.0]], &Device::Cpu).unwrap();
    let grads = bce_with_logits(z.as_tensor(), &y)
        .unwrap()
        .backward()
        .unwrap();
    let g = grads
        .get(&z)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    // Mean over 2 rows: (sigmoid(0) - y) / 2.
    assert_eq!(g, [-0.25, 0.25]);
}
