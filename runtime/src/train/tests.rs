//! Training tests: learning per task, reproducibility, schedule, class weights, early stopping,
//! checkpoints, slices, input refusal, loss numerics.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use sha2::{Digest, Sha256};

use super::*;
use crate::config::{Activation, EarlyStopping, Schedule};

/// `rows` x 5 features uniform in [-1, 1] and a fixed linear score plus a little noise.
fn features(rows: usize, seed: u64) -> (Matrix, Vec<f64>) {
    const W: [f64; 5] = [1.5, -2.0, 1.0, 0.5, 0.0];
    let mut rng = SplitMix64::new(seed);
    let mut data = Vec::with_capacity(rows * W.len());
    let mut scores = Vec::with_capacity(rows);
    for _ in 0..rows {
        let row: Vec<f64> = W.iter().map(|_| rng.uniform(-1.0, 1.0)).collect();
        let score: f64 = row.iter().zip(W).map(|(x, w)| x * w).sum::<f64>() + 0.2;
        scores.push(score + rng.uniform(-0.3, 0.3));
        data.extend(row.iter().map(|&v| v as f32));
    }
    (Matrix::new(data, rows, W.len()).unwrap(), scores)
}

/// Binary: label 1 when the score is positive (almost, not quite, linearly separable).
fn synthetic(rows: usize, seed: u64) -> (Matrix, Vec<f32>) {
    let (x, s) = features(rows, seed);
    (x, s.iter().map(|&v| f32::from(u8::from(v > 0.0))).collect())
}

fn quiet(x: &Matrix, y: &[f32], cfg: &TrainConfig) -> Result<TrainOutcome> {
    let data = TrainData {
        x,
        labels: y,
        slices: None,
    };
    train(data, cfg, &Device::Cpu, &mut |_| Ok(()))
}

fn digest(model: &Model) -> String {
    hex(&Sha256::digest(model.to_safetensors().unwrap()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn logreg_learns_separable_data() {
    let (x, y) = synthetic(400, 1);
    let cfg = TrainConfig::default();
    let mut seen = Vec::new();
    let data = TrainData {
        x: &x,
        labels: &y,
        slices: None,
    };
    let out = train(data, &cfg, &Device::Cpu, &mut |e| {
        if let Event::Epoch(r) = e {
            seen.push(r.epoch);
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(seen, (1..=cfg.epochs).collect::<Vec<_>>());
    assert_eq!(
        out.split,
        Split {
            train: 280,
            validation: 40,
            holdout: 80
        }
    );
    let h = &out.evaluation.holdout;
    assert_eq!(h.rows, 80);
    assert!(h.roc_auc.unwrap() > 0.9, "{h:?}");
    assert!(h.accuracy.unwrap() > 0.8, "{h:?}");
    assert!(h.f1.unwrap() > 0.8 && h.pr_auc.unwrap() > 0.9, "{h:?}");
    assert!(!h.calibration.is_empty());
    let (first, last) = (&out.history[0], &out.history[cfg.epochs - 1]);
    assert!(last.train_loss < first.train_loss, "{first:?} -> {last:?}");
    assert!(last.rows_per_second > 0.0);
    // The last report and the final validation metrics describe the same weights.
    assert_eq!(
        Some(last.validation_score),
        out.evaluation.validation.roc_auc
    );
    assert_eq!(out.best_epoch, cfg.epochs);
    assert!(!out.stopped_early);
}

#[test]
fn deep_mlp_with_tanh_and_dropout_learns() {
    let (x, y) = synthetic(400, 2);
    let cfg = TrainConfig {
        arch: Arch::Mlp {
            hidden: vec![16, 8],
            activation: Activation::Tanh,
            dropout: 0.1,
        },
        ..TrainConfig::default()
    };
    let out = quiet(&x, &y, &cfg).unwrap();
    assert_eq!(out.model.spec(), &cfg.spec(5));
    assert!(
        out.evaluation.holdout.roc_auc.unwrap() > 0.9,
        "{:?}",
        out.evaluation
    );
}

#[test]
fn every_activation_trains() {
    let (x, y) = synthetic(200, 9);
    for activation in [
        Activation::Relu,
        Activation::Tanh,
        Activation::Gelu,
        Activation::Silu,
    ] {
        let cfg = TrainConfig {
            arch: Arch::Mlp {
                hidden: vec![8],
                activation,
                dropout: 0.0,
            },
            epochs: 10,
            ..TrainConfig::default()
        };
        let out = quiet(&x, &y, &cfg).unwrap();
        let auc = out.evaluation.holdout.roc_auc.unwrap();
        assert!(auc > 0.85, "{}: {auc}", activation.name());
    }
}

/// Class 0, 1 or 2 as the score is below -0.7, below 0.7, or above.
fn three_bands(s: &[f64]) -> Vec<f32> {
    s.iter()
        .map(|&v| {
            if v < -0.7 {
                0.0
            } else if v < 0.7 {
                1.0
            } else {
                2.0
            }
        })
        .collect()
}

#[test]
fn multiclass_learns_three_bands_of_the_score() {
    let (x, s) = features(600, 3);
    let y = three_bands(&s);
    let cfg = TrainConfig {
        task: Task::Multiclass { classes: 3 },
        arch: Arch::mlp(&[16]),
        epochs: 40,
        ..TrainConfig::default()
    };
    let out = quiet(&x, &y, &cfg).unwrap();
    let h = &out.evaluation.holdout;
    assert!(h.accuracy.unwrap() > 0.8, "{h:?}");
    assert_eq!(h.per_class.len(), 3);
    assert!(h.log_loss.unwrap() < 0.6, "{h:?}");
    let p = out.model.predict(&x).unwrap();
    assert_eq!(p.width, 3);
    let sum: f32 = p.row(0).iter().sum();
    assert!((sum - 1.0).abs() < 1e-5);
}

#[test]
fn regression_predicts_in_the_labels_units() {
    // y = 1000 + 250 * score: the scale is learnt on standardised targets and folded back.
    let (x, s) = features(500, 4);
    let y: Vec<f32> = s.iter().map(|&v| (1000.0 + 250.0 * v) as f32).collect();
    let cfg = TrainConfig {
        task: Task::Regression,
        epochs: 60,
        ..TrainConfig::default()
    };
    let out = quiet(&x, &y, &cfg).unwrap();
    let h = &out.evaluation.holdout;
    // The noise is uniform in +-0.3 score units: +-75 in label units, RMSE about 43.
    assert!(h.rmse.unwrap() < 60.0, "{h:?}");
    assert!(h.r2.unwrap() > 0.9, "{h:?}");
    assert!(out.class_weights.is_empty());
    let p = out.model.predict(&x).unwrap();
    let mean = p.values.iter().map(|&v| f64::from(v)).sum::<f64>() / 500.0;
    assert!((mean - 1000.0).abs() < 60.0, "mean prediction {mean}");
}

#[test]
fn the_schedule_sets_each_epochs_rate() {
    let (x, y) = synthetic(100, 5);
    let cfg = TrainConfig {
        epochs: 6,
        warmup_epochs: 1,
        schedule: Schedule::Cosine { floor: 0.0 },
        ..TrainConfig::default()
    };
    let out = quiet(&x, &y, &cfg).unwrap();
    let rates: Vec<f64> = out.history.iter().map(|r| r.learning_rate).collect();
    let want: Vec<f64> = (1..=6)
        .map(|e| cfg.schedule.rate(cfg.learning_rate, e, 6, 1))
        .collect();
    assert_eq!(rates, want);
    assert_eq!(rates[0], 0.025);
    assert_eq!(rates[1], 0.05);
    assert!(rates[5].abs() < 1e-12);
}

#[test]
fn balanced_class_weights_raise_recall_of_the_rare_class() {
    // About 15% positives.
    let (x, s) = features(600, 6);
    let y: Vec<f32> = s.iter().map(|&v| f32::from(u8::from(v > 1.8))).collect();
    let positives = y.iter().filter(|&&v| v == 1.0).count();
    assert!((40..150).contains(&positives), "{positives}");
    let plain = TrainConfig {
        epochs: 10,
        ..TrainConfig::default()
    };
    let weighted = TrainConfig {
        class_weights: ClassWeights::Balanced,
        ..plain.clone()
    };
    let a = quiet(&x, &y, &plain).unwrap();
    let b = quiet(&x, &y, &weighted).unwrap();
    assert_eq!(a.class_weights, [1.0, 1.0]);
    assert!(
        b.class_weights[1] > 2.0 && b.class_weights[0] < 1.0,
        "{:?}",
        b.class_weights
    );
    let (ra, rb) = (
        a.evaluation.train.recall.unwrap(),
        b.evaluation.train.recall.unwrap(),
    );
    assert!(
        rb > ra,
        "recall of the rare class: uniform {ra}, balanced {rb}"
    );
}

#[test]
fn early_stopping_keeps_the_best_epochs_weights() {
    // A high learning rate on few rows: the validation loss stops improving early.
    let (x, y) = synthetic(120, 7);
    let cfg = TrainConfig {
        arch: Arch::mlp(&[32]),
        epochs: 200,
        learning_rate: 0.1,
        early_stopping: Some(EarlyStopping {
            patience: 3,
            min_delta: 0.0,
        }),
        checkpoint_every: Some(1),
        ..TrainConfig::default()
    };
    let mut checkpoints = Vec::new();
    let data = TrainData {
        x: &x,
        labels: &y,
        slices: None,
    };
    let out = train(data, &cfg, &Device::Cpu, &mut |e| {
        if let Event::Checkpoint { epoch, model } = e {
            checkpoints.push((epoch, digest(model)));
        }
        Ok(())
    })
    .unwrap();
    assert!(out.stopped_early, "ran all {} epochs", out.history.len());
    let ran = out.history.len();
    assert_eq!(
        out.best_epoch + 3,
        ran,
        "stops `patience` epochs after the best"
    );
    let best = out.history[out.best_epoch - 1].validation_loss;
    assert!(out.history.iter().all(|r| r.validation_loss >= best));
    assert_eq!(checkpoints.len(), ran);
    assert_eq!(
        checkpoints[out.best_epoch - 1],
        (out.best_epoch, digest(&out.model)),
        "the final model is the best epoch's checkpoint"
    );
}

#[test]
fn a_checkpoint_hook_error_stops_training() {
    let (x, y) = synthetic(60, 8);
    let cfg = TrainConfig {
        checkpoint_every: Some(2),
        ..TrainConfig::default()
    };
    let data = TrainData {
        x: &x,
        labels: &y,
        slices: None,
    };
    let mut epochs = 0;
    let err = train(data, &cfg, &Device::Cpu, &mut |e| match e {
        Event::Epoch(_) => {
            epochs += 1;
            Ok(())
        }
        Event::Checkpoint { .. } => Err(Error::Stopped("disk full".into())),
    })
    .unwrap_err();
    assert!(err.to_string().contains("disk full"));
    assert_eq!(epochs, 2);
}

#[test]
fn same_seed_gives_identical_bytes_and_other_seeds_differ() {
    let (x, y) = synthetic(200, 3);
    let cfg = TrainConfig {
        arch: Arch::Mlp {
            hidden: vec![8, 4],
            activation: Activation::Gelu,
            dropout: 0.2,
        },
        epochs: 5,
        batch_size: 16,
        class_weights: ClassWeights::Balanced,
        ..TrainConfig::default()
    };
    let a = quiet(&x, &y, &cfg).unwrap();
    let b = quiet(&x, &y, &cfg).unwrap();
    assert_eq!(digest(&a.model), digest(&b.model));
    assert_eq!(a.evaluation, b.evaluation);
    // Whatever the number of threads, with batches that split into several chunks.
    let big = TrainConfig {
        arch: Arch::Mlp {
            hidden: vec![64, 64],
            activation: Activation::Relu,
            dropout: 0.1,
        },
        epochs: 2,
        batch_size: 160,
        ..cfg.clone()
    };
    let (x2, y2) = synthetic(1000, 12);
    let on = |threads| {
        let data = TrainData {
            x: &x2,
            labels: &y2,
            slices: None,
        };
        let path = Path::Host { threads };
        digest(
            &train_on(data, &big, &Device::Cpu, &mut |_| Ok(()), path)
                .unwrap()
                .model,
        )
    };
    let one = on(1);
    assert_eq!(on(2), one);
    assert_eq!(on(3), one);
    let other = TrainConfig {
        seed: 43,
        ..cfg.clone()
    };
    assert_ne!(
        digest(&quiet(&x, &y, &other).unwrap().model),
        digest(&a.model)
    );
}

#[test]
fn slices_cover_the_holdout() {
    let (x, y) = synthetic(300, 10);
    let keys: Vec<String> = (0..300)
        .map(|i| ["a", "b", "c"][i % 3].to_owned())
        .collect();
    let data = TrainData {
        x: &x,
        labels: &y,
        slices: Some(&keys),
    };
    let out = train(data, &TrainConfig::default(), &Device::Cpu, &mut |_| Ok(())).unwrap();
    let s = &out.evaluation.holdout_slices;
    assert_eq!(s.keys().collect::<Vec<_>>(), ["a", "b", "c"]);
    assert_eq!(s.values().map(|m| m.rows).sum::<usize>(), out.split.holdout);
    let data = TrainData {
        x: &x,
        labels: &y,
        slices: Some(&keys[..10]),
    };
    assert!(train(data, &TrainConfig::default(), &Device::Cpu, &mut |_| Ok(())).is_err());
}

#[test]
fn trained_model_round_trips_through_safetensors() {
    let (x, y) = synthetic(200, 4);
    let cfg = TrainConfig {
        arch: Arch::mlp(&[4]),
        epochs: 3,
        ..TrainConfig::default()
    };
    let model = quiet(&x, &y, &cfg).unwrap().model;
    let bytes = model.to_safetensors().unwrap();
    let loaded = Model::from_safetensors(&bytes, &cfg.spec(5)).unwrap();
    assert_eq!(model.predict(&x).unwrap(), loaded.predict(&x).unwrap());
}

#[test]
fn bad_labels_and_settings_refused() {
    let (x, mut y) = synthetic(20, 5);
    let err = quiet(&x, &y[..19], &TrainConfig::default()).unwrap_err();
    assert!(matches!(
        err,
        Error::LengthMismatch {
            expected: 20,
            found: 19,
            ..
        }
    ));
    let zero = TrainConfig {
        epochs: 0,
        ..TrainConfig::default()
    };
    assert!(matches!(
        quiet(&x, &y, &zero),
        Err(Error::InvalidConfig {
            field: "epochs",
            ..
        })
    ));
    y[7] = 2.0;
    let err = quiet(&x, &y, &TrainConfig::default()).unwrap_err();
    assert!(matches!(err, Error::InvalidLabel { row: 7, .. }), "{err}");
    let x = Matrix::new(vec![1.0, 2.0, 3.0, 4.0], 2, 2).unwrap();
    let err = quiet(&x, &[1.0, 0.0], &TrainConfig::default()).unwrap_err();
    assert!(matches!(
        err,
        Error::TooFewRows {
            min: 3,
            found: 2,
            ..
        }
    ));
}

#[test]
fn split_is_a_seeded_partition() {
    let sizes = |n, h, v| {
        let cfg = TrainConfig {
            holdout_fraction: h,
            validation_fraction: v,
            ..TrainConfig::default()
        };
        let (t, va, ho) = split(n, &cfg);
        let mut all: Vec<usize> = t.iter().chain(&va).chain(&ho).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>());
        (t.len(), va.len(), ho.len())
    };
    assert_eq!(sizes(10, 0.2, 0.1), (7, 1, 2));
    assert_eq!(sizes(10, 0.21, 0.1), (6, 1, 3));
    assert_eq!(sizes(3, 0.5, 0.3), (1, 1, 1));
    assert_eq!(sizes(100, 0.2, 0.2), (60, 20, 20));
    let cfg = TrainConfig::default();
    assert_eq!(split(50, &cfg), split(50, &cfg));
    let other = TrainConfig {
        seed: 2,
        ..TrainConfig::default()
    };
    assert_ne!(split(50, &cfg), split(50, &other));
}

#[test]
fn init_is_bounded_by_fan_in() {
    let spec = TrainConfig {
        arch: Arch::mlp(&[4]),
        ..TrainConfig::default()
    }
    .spec(9);
    let vars = init_params(&spec, 0, &Device::Cpu).unwrap();
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
        max_abs(&vars[0]) > 0.25,
        "36 draws should come near the bound"
    );
    assert!(max_abs(&vars[2]) <= 0.5 && max_abs(&vars[3]) <= 0.5);
}

#[test]
fn bce_matches_candle_and_stays_finite() {
    let dev = Device::Cpu;
    let z = Tensor::new(&[[-3.0f32], [-0.5], [0.0], [0.7], [4.0]], &dev).unwrap();
    let y = Tensor::new(&[[0.0f32], [1.0], [1.0], [0.0], [1.0]], &dev).unwrap();
    let ours = bce_with_logits(&z, &y)
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    let candle = candle_nn::loss::binary_cross_entropy_with_logit(&z, &y)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((ours - candle).abs() < 1e-5, "{ours} vs {candle}");

    // Saturated logits: candle's version is inf here; ours is the exact 100 / 2.
    let z = Tensor::new(&[[100.0f32], [-100.0]], &dev).unwrap();
    let y = Tensor::new(&[[0.0f32], [0.0]], &dev).unwrap();
    let loss = bce_with_logits(&z, &y)
        .unwrap()
        .mean_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!((loss - 50.0).abs() < 1e-4, "{loss}");
}

#[test]
fn bce_gradient_at_zero_is_sigmoid_minus_label() {
    let z = Var::new(&[[0.0f32], [0.0]], &Device::Cpu).unwrap();
    let y = Tensor::new(&[[1.0f32], [0.0]], &Device::Cpu).unwrap();
    let grads = bce_with_logits(z.as_tensor(), &y)
        .unwrap()
        .mean_all()
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

#[test]
fn weighted_loss_is_the_weighted_mean() {
    // Two rows with per-row losses l0, l1 and class weights 1 and 3.
    let dev = Device::Cpu;
    let y = [0.0f32, 1.0];
    let t = Targets::new(Task::Binary, &y, (0.0, 1.0), &[1.0, 3.0], &dev).unwrap();
    let z = Tensor::new(&[[0.0f32], [2.0]], &dev).unwrap();
    let got = t.loss(&z, None).unwrap().to_scalar::<f32>().unwrap();
    let l0 = 2f64.ln();
    let l1 = (1.0 + (-2f64).exp()).ln();
    let want = (l0 + 3.0 * l1) / 4.0;
    assert!((f64::from(got) - want).abs() < 1e-6, "{got} vs {want}");
}

#[test]
fn host_path_matches_the_generic_tensor_path() {
    // The CPU host path (hand-written backward and AdamW) against candle autograd and
    // candle_nn::AdamW on the same data, config and seed: the same losses and weights up to
    // rounding, across tasks, activations, dropout, class weights, weight decay and batches
    // that split into several chunks.
    let (x, s) = features(700, 11);
    let binary: Vec<f32> = s.iter().map(|&v| f32::from(u8::from(v > 0.3))).collect();
    let bands = three_bands(&s);
    let values: Vec<f32> = s.iter().map(|&v| (10.0 + 3.0 * v) as f32).collect();
    let mlp = |hidden: &[usize], activation, dropout| Arch::Mlp {
        hidden: hidden.to_vec(),
        activation,
        dropout,
    };
    let cases = [
        (Task::Binary, Arch::Logreg, ClassWeights::Uniform, &binary),
        (
            Task::Binary,
            mlp(&[16, 8], Activation::Relu, 0.0),
            ClassWeights::Uniform,
            &binary,
        ),
        (
            Task::Binary,
            mlp(&[12], Activation::Tanh, 0.2),
            ClassWeights::Balanced,
            &binary,
        ),
        (
            Task::Binary,
            mlp(&[8, 8], Activation::Gelu, 0.1),
            ClassWeights::Uniform,
            &binary,
        ),
        (
            Task::Binary,
            mlp(&[8], Activation::Silu, 0.0),
            ClassWeights::Uniform,
            &binary,
        ),
        (
            Task::Multiclass { classes: 3 },
            mlp(&[16], Activation::Relu, 0.0),
            ClassWeights::Explicit {
                weights: vec![1.0, 0.5, 2.0],
            },
            &bands,
        ),
        (
            Task::Regression,
            mlp(&[8], Activation::Tanh, 0.0),
            ClassWeights::Uniform,
            &values,
        ),
    ];
    for (task, arch, class_weights, y) in cases {
        let cfg = TrainConfig {
            task,
            arch,
            class_weights,
            epochs: 4,
            // Hidden widths up to 16 make chunks of 512 rows: 600 won't fit in one.
            batch_size: 600,
            learning_rate: 0.01,
            weight_decay: 0.05,
            holdout_fraction: 0.01,
            validation_fraction: 0.05,
            ..TrainConfig::default()
        };
        let run = |path| {
            let data = TrainData {
                x: &x,
                labels: y,
                slices: None,
            };
            train_on(data, &cfg, &Device::Cpu, &mut |_| Ok(()), path).unwrap()
        };
        let (a, b) = (run(Path::Host { threads: 2 }), run(Path::Graph));
        let what = format!("{task:?} {:?}", cfg.arch);
        for (ra, rb) in a.history.iter().zip(&b.history) {
            for (la, lb) in [
                (ra.train_loss, rb.train_loss),
                (ra.validation_loss, rb.validation_loss),
            ] {
                assert!(
                    (la - lb).abs() <= 1e-4 * lb.abs().max(1.0),
                    "{what}: {ra:?} vs {rb:?}"
                );
            }
        }
        let (wa, wb) = (a.model.values().unwrap(), b.model.values().unwrap());
        for (ta, tb) in wa.iter().zip(&wb) {
            for (va, vb) in ta.iter().zip(tb) {
                assert!((va - vb).abs() <= 1e-4, "{what}: weight {va} vs {vb}");
            }
        }
    }
}
