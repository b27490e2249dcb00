//! Robustness of a classifier under bounded changes of its numeric inputs: accuracy on rows
//! perturbed by random noise, and by a gradient attack (FGSM, Goodfellow et al. 2015; PGD,
//! Madry et al. 2018) computed through candle on the model itself.
//!
//! Perturbations are in the model's input units, which for numeric features are standardized
//! units when the feature set standardizes them (`standardize`: one unit is one standard
//! deviation of the training data), and they touch only the columns the caller names (the
//! numeric features; one-hot and hashed columns stay as they are: a category cannot move by
//! a fraction). Every perturbation stays within `epsilon` of the row in each named column
//! (the L∞ ball).

use candle_core::{DType, Device, Tensor, Var};
use serde::{Deserialize, Serialize};

use crate::config::Task;
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::model::{Model, forward, host};
use crate::rng::SplitMix64;

/// Rows perturbed and scored together (rounded up to a multiple of the model's block), so
/// memory beyond the inputs stays that many rows per thread whatever the dataset's size.
const CHUNK_ROWS: usize = 16_384;

/// candle runs an element-wise operation on its own thread pool from 64 Ki values up; below,
/// on the calling thread.
const CANDLE_SERIAL_VALUES: usize = 64 * 1024 - 1;

/// The attack or noise used.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Perturbation {
    /// Uniform noise in `[-epsilon, epsilon]` per named column, seeded.
    Noise,
    /// One signed-gradient step of size `epsilon` (FGSM).
    Fgsm,
    /// `steps` signed-gradient steps of `2.5 * epsilon / steps`, projected back into the
    /// `epsilon` ball after each (PGD, without a random start, so the result is reproducible).
    Pgd {
        /// Steps taken.
        steps: usize,
    },
}

/// Accuracy before and after a perturbation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RobustAccuracy {
    /// What was done to the inputs.
    pub perturbation: Perturbation,
    /// The bound, in input units.
    pub epsilon: f64,
    /// Rows evaluated.
    pub rows: usize,
    /// Accuracy on the rows as they are.
    pub clean: f64,
    /// Accuracy on the perturbed rows.
    pub perturbed: f64,
}

/// Accuracy of `model` on `x` with labels `labels`, clean and under `perturbation` bounded by
/// `epsilon` on `columns`. Classification models only (binary and multiclass).
///
/// # Errors
/// [`Error::InvalidConfig`] for a regression model, a column out of range, no column, or an
/// epsilon that is negative or not finite; label and model errors as [`Model::predict`].
pub fn robust_accuracy(
    model: &Model,
    x: &Matrix,
    labels: &[f32],
    columns: &[usize],
    perturbation: Perturbation,
    epsilon: f64,
    seed: u64,
) -> Result<RobustAccuracy> {
    let task = model.spec().task;
    if task == Task::Regression {
        return Err(invalid(
            "task",
            "robustness is measured by accuracy: not for regression".into(),
        ));
    }
    if !(epsilon.is_finite() && epsilon >= 0.0) {
        return Err(invalid(
            "epsilon",
            format!("is {epsilon}; a bound is finite and at least 0"),
        ));
    }
    if columns.is_empty() {
        return Err(invalid("columns", "no numeric column to perturb".into()));
    }
    if let Some(&c) = columns.iter().find(|&&c| c >= x.cols()) {
        return Err(invalid(
            "columns",
            format!("column {c} is beyond the model's {} inputs", x.cols()),
        ));
    }
    if labels.len() != x.rows() {
        return Err(Error::LengthMismatch {
            what: "labels",
            expected: x.rows(),
            found: labels.len(),
        });
    }
    crate::metrics::check_labels(task, labels)?;
    let steps = match perturbation {
        Perturbation::Pgd { steps: 0 } => {
            return Err(invalid("steps", "PGD needs at least one step".into()));
        }
        Perturbation::Pgd { steps } => steps,
        _ => 1,
    };
    let eps = epsilon as f32;
    let (rows, cols) = (x.rows(), x.cols());
    // Each chunk of rows is perturbed and scored on its own, on the model's threads: every
    // perturbation here is of one row at a time (the noise stream is cut at the chunk's first
    // draw; a gradient step follows the sign of the row's own gradient). Chunks are whole
    // blocks of the model's predictions; a gradient attack's are small enough that candle runs
    // each tensor operation on the calling thread (rather than on its own pool, whose threads
    // would spin against these) and in cache.
    let block = model.block_rows().max(1);
    let chunk = match perturbation {
        Perturbation::Noise => CHUNK_ROWS.div_ceil(block) * block,
        _ => (CANDLE_SERIAL_VALUES / cols.max(1) / block).max(1) * block,
    };
    let counts = host::par_map(
        rows.div_ceil(chunk),
        host::threads(),
        |k| -> Result<[usize; 2]> {
            let (r0, r1) = (k * chunk, ((k + 1) * chunk).min(rows));
            let part = Matrix::new(x.as_slice()[r0 * cols..r1 * cols].to_vec(), r1 - r0, cols)?;
            let y = &labels[r0..r1];
            let adv = match perturbation {
                Perturbation::Noise => {
                    let mut rng = SplitMix64::new(seed);
                    rng.skip((r0 * columns.len()) as u64);
                    let mut v = part.as_slice().to_vec();
                    for row in v.chunks_exact_mut(cols) {
                        for &c in columns {
                            row[c] += rng.uniform(-epsilon, epsilon) as f32;
                        }
                    }
                    Matrix::new(v, r1 - r0, cols)?
                }
                Perturbation::Fgsm => gradient_attack(model, &part, y, columns, eps, eps, 1)?,
                Perturbation::Pgd { .. } => {
                    let alpha = 2.5 * eps / steps as f32;
                    gradient_attack(model, &part, y, columns, eps, alpha, steps)?
                }
            };
            Ok([correct(model, &part, y)?, correct(model, &adv, y)?])
        },
    )
    .ok_or_else(|| invalid("rows", "a chunk of rows went missing".into()))?;
    let (mut clean, mut perturbed) = (0, 0);
    for c in counts {
        let [a, b] = c?;
        clean += a;
        perturbed += b;
    }
    let share = |right: usize| right as f64 / rows.max(1) as f64;
    Ok(RobustAccuracy {
        perturbation,
        epsilon,
        rows,
        clean: share(clean),
        perturbed: share(perturbed),
    })
}

fn invalid(field: &'static str, reason: String) -> Error {
    Error::InvalidConfig { field, reason }
}

/// Rows of `x` whose predicted class is their label, on this thread.
fn correct(model: &Model, x: &Matrix, labels: &[f32]) -> Result<usize> {
    let out = model.predict_on(x, Some(1))?;
    Ok((0..out.rows())
        .filter(|&i| out.class(i) == Some(labels[i] as usize))
        .count())
}

/// Signed-gradient ascent on the model's loss, `steps` steps of `alpha`, projected into the
/// `eps` ball around `x` on `columns` after each step.
fn gradient_attack(
    model: &Model,
    x: &Matrix,
    labels: &[f32],
    columns: &[usize],
    eps: f32,
    alpha: f32,
    steps: usize,
) -> Result<Matrix> {
    let spec = model.spec();
    let device = Device::Cpu;
    let (rows, cols) = (x.rows(), x.cols());
    let params: Vec<Tensor> = model
        .values()?
        .into_iter()
        .zip(spec.tensor_shapes())
        .map(|(v, (_, shape))| Tensor::from_vec(v, shape, &device))
        .collect::<candle_core::Result<_>>()?;
    let targets = match spec.task {
        Task::Multiclass { classes } => {
            let mut one_hot = vec![0f32; rows * classes];
            for (i, &y) in labels.iter().enumerate() {
                one_hot[i * classes + y as usize] = 1.0;
            }
            Tensor::from_vec(one_hot, (rows, classes), &device)?
        }
        _ => Tensor::from_vec(labels.to_vec(), (rows, 1), &device)?,
    };
    let mut mask = vec![0f32; cols];
    for &c in columns {
        mask[c] = 1.0;
    }
    let mask = Tensor::from_vec(mask, (1, cols), &device)?;
    let x0 = Tensor::from_vec(x.as_slice().to_vec(), (rows, cols), &device)?;
    let (lo, hi) = ((&x0 - f64::from(eps))?, (&x0 + f64::from(eps))?);
    let mut cur = x0.clone();
    for _ in 0..steps {
        let var = Var::from_tensor(&cur)?;
        let raw = forward(spec, &params, var.as_tensor(), None)?;
        // Summed, not averaged, over the rows: each row's gradient is its own loss's, whatever
        // the number of rows beside it (a mean's 1/n could round a tiny one to 0).
        let loss = match spec.task {
            Task::Multiclass { .. } => {
                let log_p = candle_nn::ops::log_softmax(&raw, 1)?;
                (log_p * &targets)?.sum(1)?.neg()?.sum_all()?
            }
            _ => crate::train::bce_with_logits(&raw, &targets)?.sum_all()?,
        };
        let grads = loss.backward()?;
        let g = grads
            .get(var.as_tensor())
            .ok_or_else(|| invalid("gradient", "the loss has no gradient for the inputs".into()))?;
        let step = (g.sign()?.broadcast_mul(&mask)? * f64::from(alpha))?;
        cur = (var.as_tensor() + step)?
            .maximum(&lo)?
            .minimum(&hi)?
            .detach();
    }
    let v: Vec<f32> = cur.to_dtype(DType::F32)?.flatten_all()?.to_vec1()?;
    Matrix::new(v, rows, cols)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;
    use crate::config::{Arch, ModelSpec};

    /// Two columns: the label is `a > 0`; column b is noise the model ignores.
    fn data(rows: usize) -> (Matrix, Vec<f32>) {
        let mut rng = SplitMix64::new(3);
        let mut v = Vec::new();
        let mut y = Vec::new();
        for _ in 0..rows {
            let a = rng.uniform(-1.0, 1.0) as f32;
            v.extend([a, rng.uniform(-1.0, 1.0) as f32]);
            y.push(f32::from(a > 0.0));
        }
        (Matrix::new(v, rows, 2).unwrap(), y)
    }

    fn logreg() -> Model {
        let spec = ModelSpec {
            task: Task::Binary,
            arch: Arch::Logreg,
            n_features: 2,
        };
        Model::from_values(spec, vec![vec![10.0, 0.0], vec![0.0]]).unwrap()
    }

    #[test]
    fn attacks_lower_accuracy_within_their_bound_and_noise_less_so() {
        let (x, y) = data(1000);
        let m = logreg();
        let r = |p, eps, cols: &[usize]| robust_accuracy(&m, &x, &y, cols, p, eps, 9).unwrap();
        let clean = r(Perturbation::Fgsm, 0.0, &[0]);
        assert_eq!(clean.clean, 1.0);
        assert_eq!(clean.perturbed, 1.0, "no bound, no change");
        // Rows with |a| < eps flip under FGSM: about eps of them (a is uniform on [-1, 1]).
        let fgsm = r(Perturbation::Fgsm, 0.2, &[0]);
        assert!((fgsm.perturbed - 0.8).abs() < 0.05, "{fgsm:?}");
        let pgd = r(Perturbation::Pgd { steps: 5 }, 0.2, &[0]);
        assert!(pgd.perturbed <= fgsm.perturbed + 1e-9, "{pgd:?} {fgsm:?}");
        let noise = r(Perturbation::Noise, 0.2, &[0]);
        assert!(noise.perturbed > fgsm.perturbed, "{noise:?} {fgsm:?}");
        // Perturbing only the column the model ignores changes nothing.
        assert_eq!(r(Perturbation::Fgsm, 0.5, &[1]).perturbed, 1.0);
    }

    #[test]
    fn chunked_attacks_equal_attacking_all_rows_at_once() {
        let rows = CHUNK_ROWS * 2 + 123;
        let (x, y) = data(rows);
        let spec = ModelSpec {
            task: Task::Binary,
            arch: Arch::Mlp {
                hidden: vec![5],
                activation: crate::config::Activation::Relu,
                dropout: 0.0,
            },
            n_features: 2,
        };
        let mut rng = SplitMix64::new(4);
        let values = spec
            .tensor_shapes()
            .iter()
            .map(|(_, shape)| {
                (0..shape.iter().product::<usize>())
                    .map(|_| rng.uniform(-3.0, 3.0) as f32)
                    .collect()
            })
            .collect();
        let mlp = Model::from_values(spec, values).unwrap();
        let share = |m: &Model, x: &Matrix| correct(m, x, &y).unwrap() as f64 / rows as f64;
        for model in [&logreg(), &mlp] {
            for p in [
                Perturbation::Noise,
                Perturbation::Fgsm,
                Perturbation::Pgd { steps: 3 },
            ] {
                let got = robust_accuracy(model, &x, &y, &[0, 1], p, 0.3, 8).unwrap();
                // The whole matrix at once, the noise drawn row after row from one stream.
                let adv = match p {
                    Perturbation::Noise => {
                        let mut rng = SplitMix64::new(8);
                        let mut v = x.as_slice().to_vec();
                        for r in v.chunks_exact_mut(2) {
                            for c in r {
                                *c += rng.uniform(-0.3, 0.3) as f32;
                            }
                        }
                        Matrix::new(v, rows, 2).unwrap()
                    }
                    Perturbation::Fgsm => {
                        gradient_attack(model, &x, &y, &[0, 1], 0.3, 0.3, 1).unwrap()
                    }
                    Perturbation::Pgd { steps } => gradient_attack(
                        model,
                        &x,
                        &y,
                        &[0, 1],
                        0.3,
                        2.5 * 0.3 / steps as f32,
                        steps,
                    )
                    .unwrap(),
                };
                assert_eq!(got.clean, share(model, &x), "{p:?}");
                assert_eq!(got.perturbed, share(model, &adv), "{p:?}");
                assert!(got.perturbed < got.clean, "{p:?}: {got:?}");
            }
        }
    }

    #[test]
    fn multiclass_models_are_attacked_through_their_softmax() {
        let (x, y) = data(1000);
        let spec = ModelSpec {
            task: Task::Multiclass { classes: 3 },
            arch: Arch::Logreg,
            n_features: 2,
        };
        // Class 1 when a > 0, as the labels say; class 2 never.
        let m = Model::from_values(
            spec,
            vec![vec![-5.0, 0.0, 5.0, 0.0, 0.0, 0.0], vec![0.0, 0.0, -100.0]],
        )
        .unwrap();
        let r = robust_accuracy(&m, &x, &y, &[0], Perturbation::Fgsm, 0.2, 1).unwrap();
        assert_eq!(r.clean, 1.0);
        assert!((r.perturbed - 0.8).abs() < 0.05, "{r:?}");
    }

    #[test]
    fn bad_requests_are_refused() {
        let (x, y) = data(10);
        let m = logreg();
        for (cols, eps, p) in [
            (vec![], 0.1, Perturbation::Fgsm),
            (vec![2], 0.1, Perturbation::Fgsm),
            (vec![0], -1.0, Perturbation::Noise),
            (vec![0], f64::NAN, Perturbation::Noise),
            (vec![0], 0.1, Perturbation::Pgd { steps: 0 }),
        ] {
            let e = robust_accuracy(&m, &x, &y, &cols, p, eps, 1).unwrap_err();
            assert!(matches!(e, Error::InvalidConfig { .. }), "{e}");
        }
    }
}
