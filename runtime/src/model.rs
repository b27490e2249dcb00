//! [`Model`]: a trained model, its forward pass, output checks and file format.

use candle_core::Tensor;

use crate::codec;
use crate::config::{Activation, Arch, ModelSpec, Task};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::rng::SplitMix64;

pub(crate) mod host;

/// CPU inference runs blocks of rows in parallel from this many blocks: below it, thread
/// start-up costs more than the work it shares.
const PARALLEL_BLOCKS: usize = 8;

/// About how many rows [`Model::predict_rows`] gathers at a time (rounded up to whole blocks):
/// 65,536 rows of 32 features are 8 MiB.
pub(crate) const GATHER_ROWS: usize = 1 << 16;

/// A row's probabilities may sum to 1 within this (softmax in f32 over up to 2^16 classes).
const SUM_TOLERANCE: f32 = 1e-3;

/// A trained model. Weights live on the CPU, layer by layer, laid out for inference ([`host`]).
#[derive(Clone, Debug)]
pub struct Model {
    spec: ModelSpec,
    layers: Vec<Layer>,
}

/// One dense layer of a [`Model`]: `y = x W^T + b`.
#[derive(Clone)]
struct Layer {
    /// `W^T`, `[inputs, outputs]`: the right operand of the product as gemm reads it fastest.
    weight_t: host::Mat,
    /// `b`, `[outputs]`.
    bias: Vec<f32>,
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (inputs, outputs) = self.weight_t.dims();
        write!(f, "Layer[{inputs} -> {outputs}]")
    }
}

/// Checked model outputs, `width` values per row (row-major).
///
/// - binary: one probability of class 1 per row, in `[0, 1]`;
/// - multiclass: one probability per class, each in `[0, 1]`, summing to 1;
/// - regression: one finite value per row.
#[derive(Clone, Debug, PartialEq)]
pub struct Outputs {
    /// The task that gave them.
    pub task: Task,
    /// Values per row.
    pub width: usize,
    /// The values.
    pub values: Vec<f32>,
}

impl Outputs {
    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.values.len() / self.width.max(1)
    }

    /// The values of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.width..(i + 1) * self.width]
    }

    /// The predicted class of row `i` (binary: 1 when p >= 0.5; multiclass: the most probable,
    /// lowest index on ties); `None` for regression.
    pub fn class(&self, i: usize) -> Option<usize> {
        match self.task {
            Task::Binary => Some(usize::from(self.values[i] >= 0.5)),
            Task::Multiclass { .. } => {
                let row = self.row(i);
                let mut best = 0;
                for (k, v) in row.iter().enumerate() {
                    if *v > row[best] {
                        best = k;
                    }
                }
                Some(best)
            }
            Task::Regression => None,
        }
    }

    /// Checks every value is what the task allows; the error names the first bad row.
    pub(crate) fn check(task: Task, width: usize, values: Vec<f32>) -> Result<Self> {
        let bad = match task {
            // NaN fails `contains`, so a NaN can never leave as a prediction.
            Task::Binary => values.iter().position(|v| !(0.0..=1.0).contains(v)),
            Task::Regression => values.iter().position(|v| !v.is_finite()),
            Task::Multiclass { .. } => values.chunks(width).position(|row| {
                !row.iter().all(|v| (0.0..=1.0).contains(v))
                    || (row.iter().sum::<f32>() - 1.0).abs() > SUM_TOLERANCE
            }),
        };
        match bad {
            Some(row) => Err(Error::InvalidOutput {
                row,
                task: task.name(),
            }),
            None => Ok(Self {
                task,
                width,
                values,
            }),
        }
    }
}

impl Model {
    /// What the model is.
    pub fn spec(&self) -> &ModelSpec {
        &self.spec
    }

    /// Builds a model from one value buffer per declared tensor, checking count, sizes and
    /// finiteness (training and decoding both come through here).
    pub fn from_values(spec: ModelSpec, values: Vec<Vec<f32>>) -> Result<Self> {
        spec.validate()?;
        let shapes = spec.tensor_shapes();
        if values.len() != shapes.len() {
            return Err(Error::LengthMismatch {
                what: "model tensors",
                expected: shapes.len(),
                found: values.len(),
            });
        }
        for ((name, shape), v) in shapes.iter().zip(&values) {
            if let Some(index) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFiniteWeight {
                    name: name.clone(),
                    index,
                });
            }
            if v.len() != shape.iter().product::<usize>() {
                return Err(candle_core::Error::ShapeMismatch {
                    buffer_size: v.len(),
                    shape: shape.as_slice().into(),
                }
                .into());
            }
        }
        let mut layers = Vec::with_capacity(shapes.len() / 2);
        let mut values = values.into_iter();
        while let (Some(w), Some(bias)) = (values.next(), values.next()) {
            // [outputs, inputs] weights: the bias has one value per output.
            let (outputs, inputs) = (bias.len(), w.len() / bias.len().max(1));
            layers.push(Layer {
                weight_t: host::Mat::new(transpose(&w, outputs, inputs), inputs, outputs),
                bias,
            });
        }
        Ok(Self { spec, layers })
    }

    /// The weights, one buffer per tensor of [`ModelSpec::tensor_shapes`].
    pub fn values(&self) -> Result<Vec<Vec<f32>>> {
        Ok(self
            .layers
            .iter()
            .flat_map(|l| {
                let (inputs, outputs) = l.weight_t.dims();
                [
                    transpose(l.weight_t.as_slice(), inputs, outputs),
                    l.bias.clone(),
                ]
            })
            .collect())
    }

    /// The model as safetensors bytes: F32 little-endian tensors laid out in name order, with
    /// metadata `{"format": "airlock-model/2", "spec": <ModelSpec as JSON>}`. Equal weights
    /// give identical bytes.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        codec::encode(&self.spec, &self.values()?)
    }

    /// Parses and validates a model file before any of it is used.
    ///
    /// Refused with a specific [`Error`]: pickle or zip (PyTorch) files, headers over 1 MiB,
    /// malformed header JSON, more than [`codec::MAX_TENSORS`] tensors, offsets out of bounds,
    /// out of order, overlapping or leaving gaps, sizes that overflow or disagree with the
    /// shape, missing or extra tensors against `spec`, dtypes other than F32, shapes other
    /// than declared, non-finite values, and metadata that contradicts `spec` (metadata
    /// itself is optional).
    pub fn from_safetensors(bytes: &[u8], spec: &ModelSpec) -> Result<Model> {
        let values = codec::decode(bytes, spec)?;
        Self::from_values(spec.clone(), values)
    }

    /// Checked outputs for each row of `x`.
    ///
    /// # Errors
    /// [`Error::FeatureCount`] if `x.cols()` is not the model's input width;
    /// [`Error::InvalidOutput`] for the first row whose output the task does not allow (none is
    /// ever returned).
    pub fn predict(&self, x: &Matrix) -> Result<Outputs> {
        self.predict_on(x, None)
    }

    /// [`Model::predict`] of the rows of `x` that `rows` lists, in that order, without first
    /// gathering them all into one matrix: they are gathered [`GATHER_ROWS`]-odd rows at a time
    /// (a multiple of [`Model::block_rows`], so the outputs are bit for bit those of one call on
    /// all of them). Memory beyond the outputs stays one such chunk, whatever the row count.
    ///
    /// # Errors
    /// As [`Model::predict`] (the row of an [`Error::InvalidOutput`] counts within `rows`);
    /// [`Error::MatrixShape`] when `rows` is empty.
    ///
    /// # Panics
    /// If an index in `rows` is not a row of `x`, like [`Matrix::row`].
    pub fn predict_rows(&self, x: &Matrix, rows: &[usize]) -> Result<Outputs> {
        if rows.is_empty() {
            return Err(Error::MatrixShape {
                len: 0,
                rows: 0,
                cols: x.cols(),
            });
        }
        if x.cols() != self.spec.n_features {
            return Err(Error::FeatureCount {
                expected: self.spec.n_features,
                found: x.cols(),
            });
        }
        let block = self.block_rows().max(1);
        let chunk_rows = GATHER_ROWS.div_ceil(block) * block;
        let width = self.spec.task.outputs();
        let mut values = Vec::with_capacity(rows.len() * width);
        let mut gathered = Vec::with_capacity(chunk_rows.min(rows.len()) * x.cols());
        for chunk in rows.chunks(chunk_rows) {
            gathered.clear();
            for &i in chunk {
                gathered.extend_from_slice(x.row(i));
            }
            // Rows of a checked matrix: shape and finiteness hold already.
            let part = Matrix::rearranged(std::mem::take(&mut gathered), chunk.len(), x.cols());
            values.extend_from_slice(&self.forward_rows(&part, None, true)?);
            gathered = part.into_values();
        }
        Outputs::check(self.spec.task, width, values)
    }

    /// Rows [`Model::predict`] computes together: rows split at multiples of it and predicted
    /// apart get the outputs of one call on all of them.
    pub(crate) fn block_rows(&self) -> usize {
        host::block_rows(self.layers.iter().map(|l| l.weight_t.dims()))
    }

    /// [`Model::predict`] on `threads` threads, or (`None`) on as many as the rows warrant.
    pub(crate) fn predict_on(&self, x: &Matrix, threads: Option<usize>) -> Result<Outputs> {
        let values = self.forward_rows(x, threads, true)?;
        Outputs::check(self.spec.task, self.spec.task.outputs(), values)
    }

    /// The one dense layer of a model whose inputs enter a single layer (`logreg`): `W^T` as
    /// `[inputs][outputs]` values, row-major, and the bias. `None` for an MLP.
    pub(crate) fn single_layer(&self) -> Option<(&[f32], &[f32])> {
        match self.layers.as_slice() {
            [l] => Some((l.weight_t.as_slice(), &l.bias)),
            _ => None,
        }
    }

    /// Raw outputs (before the sigmoid or softmax) of every row of `x`, as [`Model::predict`]
    /// computes them on the way.
    pub(crate) fn raw(&self, x: &Matrix) -> Result<Vec<f32>> {
        self.forward_rows(x, None, false)
    }

    /// The forward pass of every row, row-major, linked (`link`) or raw.
    fn forward_rows(&self, x: &Matrix, threads: Option<usize>, link: bool) -> Result<Vec<f32>> {
        if x.cols() != self.spec.n_features {
            return Err(Error::FeatureCount {
                expected: self.spec.n_features,
                found: x.cols(),
            });
        }
        let activation = match &self.spec.arch {
            Arch::Mlp { activation, .. } => *activation,
            Arch::Logreg => Activation::Relu, // never used: one layer
        };
        let (task, width, cols) = (self.spec.task, self.spec.task.outputs(), x.cols());
        let block_rows = self.block_rows();
        // The forward pass and link of `blocks` blocks of rows together, row-major: each
        // block's products are those of the block alone (`host::matmul_blocks`).
        let forward = |rows: &[f32], blocks: usize| -> candle_core::Result<Vec<f32>> {
            let mut h = host::Mat::new(rows.to_vec(), rows.len() / cols, cols);
            for (i, layer) in self.layers.iter().enumerate() {
                let mut z = host::matmul_blocks(&h, blocks, layer.weight_t.view())?;
                let hidden = i + 1 < self.layers.len();
                host::bias_activate(z.as_mut_slice(), &layer.bias, hidden.then_some(activation));
                h = z;
            }
            let mut out = h.into_vec();
            if link {
                host::link(task, &mut out, width);
            }
            Ok(out)
        };
        // Units of work: groups of whole blocks, then the last, shorter block if any.
        let blocks = x.rows().div_ceil(block_rows.max(1));
        let threads = match threads {
            Some(t) => t,
            None if blocks >= PARALLEL_BLOCKS => host::threads(),
            None => 1,
        };
        let per_unit = blocks.div_ceil(threads.max(1) * 4).clamp(
            1,
            host::group_blocks(self.layers.iter().map(|l| l.weight_t.dims())),
        );
        let (whole, tail) = x
            .as_slice()
            .split_at(x.rows() / block_rows * block_rows * cols);
        let mut units: Vec<(&[f32], usize)> = whole
            .chunks(per_unit * block_rows * cols)
            .map(|c| (c, c.len() / (block_rows * cols)))
            .collect();
        if !tail.is_empty() {
            units.push((tail, 1));
        }
        let values = if units.is_empty() {
            Vec::new()
        } else if units.len() == 1 {
            forward(units[0].0, units[0].1)?
        } else {
            let mut values = Vec::with_capacity(x.rows() * width);
            let outs = host::par_map(units.len(), threads, |i| forward(units[i].0, units[i].1))
                .ok_or_else(|| candle_core::Error::Msg("a block of rows went missing".into()))?;
            for out in outs {
                values.extend_from_slice(&out?);
            }
            values
        };
        Ok(values)
    }

    /// Probability of class 1 for each row (binary models only).
    pub fn predict_proba(&self, x: &Matrix) -> Result<Vec<f32>> {
        if self.spec.task != Task::Binary {
            return Err(Error::InvalidConfig {
                field: "task",
                reason: format!(
                    "is {}; predict_proba is for binary models",
                    self.spec.task.name()
                ),
            });
        }
        Ok(self.predict(x)?.values)
    }
}

/// Dropout in training: a seeded mask per hidden layer per step.
pub(crate) struct Dropout<'a> {
    pub(crate) p: f64,
    pub(crate) rng: &'a mut SplitMix64,
}

impl Dropout<'_> {
    /// `h` with each element zeroed with probability `p` and the rest scaled by `1 / (1 - p)`
    /// (inverted dropout, as PyTorch), the mask drawn from the seeded stream.
    fn apply(&mut self, h: &Tensor) -> candle_core::Result<Tensor> {
        let mask: Vec<f32> = (0..h.elem_count()).map(|_| self.draw()).collect();
        let mask = Tensor::from_vec(mask, h.shape(), h.device())?;
        h * mask
    }

    /// The next mask value: 0 with probability `p`, else `1 / (1 - p)`.
    #[inline]
    pub(crate) fn draw(&mut self) -> f32 {
        if self.rng.next_f64() < self.p {
            0.0
        } else {
            (1.0 / (1.0 - self.p)) as f32
        }
    }
}

pub(crate) fn activate(a: Activation, h: &Tensor) -> candle_core::Result<Tensor> {
    match a {
        Activation::Relu => h.relu(),
        Activation::Tanh => h.tanh(),
        Activation::Gelu => h.gelu(),
        Activation::Silu => h.silu(),
    }
}

/// Raw outputs (logits, or values for regression) `[rows, outputs]` of `spec` with weights
/// `params` (in [`ModelSpec::tensor_shapes`] order) on inputs `[rows, n_features]`. Shared by
/// training (with dropout) and inference (without).
pub(crate) fn forward(
    spec: &ModelSpec,
    params: &[Tensor],
    x: &Tensor,
    mut dropout: Option<Dropout<'_>>,
) -> candle_core::Result<Tensor> {
    let layers = params.len() / 2;
    if params.len() != spec.tensor_shapes().len() {
        return Err(candle_core::Error::Msg(format!(
            "model expects {} tensors, got {}",
            spec.tensor_shapes().len(),
            params.len()
        )));
    }
    let activation = match &spec.arch {
        Arch::Mlp { activation, .. } => *activation,
        Arch::Logreg => Activation::Relu, // never used: one layer
    };
    let mut h = x.clone();
    for (i, pair) in params.chunks(2).enumerate() {
        // PyTorch nn.Linear: y = x W^T + b.
        h = h.matmul(&pair[0].t()?)?.broadcast_add(&pair[1])?;
        if i + 1 < layers {
            h = activate(activation, &h)?;
            if let Some(d) = dropout.as_mut() {
                h = d.apply(&h)?;
            }
        }
    }
    Ok(h)
}

/// The task's link on raw outputs: sigmoid, softmax or identity.
pub(crate) fn link(task: Task, raw: &Tensor) -> candle_core::Result<Tensor> {
    match task {
        Task::Binary => candle_nn::ops::sigmoid(raw),
        Task::Multiclass { .. } => candle_nn::ops::softmax_last_dim(raw),
        Task::Regression => Ok(raw.clone()),
    }
}

/// `m` (`rows x cols`, row-major) transposed.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut t = vec![0f32; m.len()];
    for (r, row) in m.chunks_exact(cols.max(1)).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            t[c * rows + r] = v;
        }
    }
    t
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn logreg(weight: Vec<f32>, bias: f32) -> Model {
        let spec = ModelSpec {
            task: Task::Binary,
            arch: Arch::Logreg,
            n_features: weight.len(),
        };
        Model::from_values(spec, vec![weight, vec![bias]]).unwrap()
    }

    #[test]
    fn logreg_forward_is_sigmoid_of_affine() {
        let m = logreg(vec![2.0, -1.0], 0.5);
        let x = Matrix::new(vec![1.0, 1.0, 0.0, 0.0, -1.0, 3.0], 3, 2).unwrap();
        let p = m.predict_proba(&x).unwrap();
        let sigmoid = |z: f32| 1.0 / (1.0 + (-z).exp());
        for (got, z) in p.iter().zip([1.5, 0.5, -4.5]) {
            assert!((got - sigmoid(z)).abs() < 1e-6, "{got} vs {}", sigmoid(z));
        }
    }

    #[test]
    fn grouped_blocks_predict_as_each_block_alone() {
        let mut rng = crate::rng::SplitMix64::new(17);
        for (task, arch, inputs) in [
            (Task::Binary, Arch::Logreg, 40),
            (Task::Binary, Arch::mlp(&[16, 8]), 12),
            (Task::Multiclass { classes: 4 }, Arch::mlp(&[300]), 900),
            (Task::Regression, Arch::Logreg, 5),
        ] {
            let spec = ModelSpec {
                task,
                arch,
                n_features: inputs,
            };
            let values = spec
                .tensor_shapes()
                .iter()
                .map(|(_, shape)| {
                    (0..shape.iter().product::<usize>())
                        .map(|_| rng.uniform(-0.5, 0.5) as f32)
                        .collect()
                })
                .collect();
            let m = Model::from_values(spec, values).unwrap();
            let block = m.block_rows();
            let rows = block * 70 + 13;
            let x: Vec<f32> = (0..rows * inputs)
                .map(|_| rng.uniform(-2.0, 2.0) as f32)
                .collect();
            let mut alone = Vec::new();
            for part in x.chunks(block * inputs) {
                let one = Matrix::new(part.to_vec(), part.len() / inputs, inputs).unwrap();
                alone.extend_from_slice(&m.predict(&one).unwrap().values);
            }
            let x = Matrix::new(x, rows, inputs).unwrap();
            assert_eq!(m.predict(&x).unwrap().values, alone, "{task:?}");
            assert_eq!(m.predict_on(&x, Some(1)).unwrap().values, alone, "{task:?}");
        }
    }

    #[test]
    fn predicting_listed_rows_in_chunks_matches_predicting_a_gathered_copy() {
        // Enough rows that `predict_rows` gathers them in more than one chunk, the last one
        // short, listed out of order and with repeats.
        let mut rng = crate::rng::SplitMix64::new(5);
        let spec = ModelSpec {
            task: Task::Binary,
            arch: Arch::mlp(&[8, 4]),
            n_features: 3,
        };
        let values = spec
            .tensor_shapes()
            .iter()
            .map(|(_, shape)| {
                (0..shape.iter().product::<usize>())
                    .map(|_| rng.uniform(-0.5, 0.5) as f32)
                    .collect()
            })
            .collect();
        let m = Model::from_values(spec, values).unwrap();
        let rows = GATHER_ROWS + GATHER_ROWS / 2 + 7;
        let x: Vec<f32> = (0..rows * 3)
            .map(|_| rng.uniform(-2.0, 2.0) as f32)
            .collect();
        let x = Matrix::new(x, rows, 3).unwrap();
        let mut idx: Vec<usize> = (0..rows).rev().collect();
        idx.extend([0, 5, 5, rows - 1]);
        let gathered: Vec<f32> = idx.iter().flat_map(|&i| x.row(i).to_vec()).collect();
        let want = m
            .predict(&Matrix::new(gathered, idx.len(), 3).unwrap())
            .unwrap();
        let got = m.predict_rows(&x, &idx).unwrap();
        assert!(idx.len() > m.block_rows() * GATHER_ROWS.div_ceil(m.block_rows()));
        assert_eq!(got.values, want.values);
        assert_eq!((got.task, got.width), (want.task, want.width));
        assert!(matches!(
            m.predict_rows(&x, &[]).unwrap_err(),
            Error::MatrixShape { .. }
        ));
        let narrow = Matrix::new(vec![0.0; 4], 2, 2).unwrap();
        assert!(matches!(
            m.predict_rows(&narrow, &[0]).unwrap_err(),
            Error::FeatureCount { .. }
        ));
    }

    #[test]
    fn mlp_forward_applies_relu() {
        // hidden = 2: h = relu([x, -x]); logit = h0 + h1 - 1 = |x| - 1.
        let spec = ModelSpec {
            task: Task::Binary,
            arch: Arch::mlp(&[2]),
            n_features: 1,
        };
        let values = vec![vec![1.0, -1.0], vec![0.0, 0.0], vec![1.0, 1.0], vec![-1.0]];
        let m = Model::from_values(spec, values).unwrap();
        let x = Matrix::new(vec![3.0, -3.0, 1.0], 3, 1).unwrap();
        let p = m.predict_proba(&x).unwrap();
        let expect = 1.0 / (1.0 + (-2.0f32).exp());
        assert!((p[0] - expect).abs() < 1e-6 && (p[1] - expect).abs() < 1e-6);
        assert!((p[2] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn multiclass_outputs_are_a_softmax_and_regression_is_affine() {
        let spec = ModelSpec {
            task: Task::Multiclass { classes: 3 },
            arch: Arch::Logreg,
            n_features: 1,
        };
        // logits = [x, 0, -x]
        let m = Model::from_values(spec, vec![vec![1.0, 0.0, -1.0], vec![0.0; 3]]).unwrap();
        let out = m
            .predict(&Matrix::new(vec![1.0, 0.0], 2, 1).unwrap())
            .unwrap();
        let e = std::f32::consts::E;
        let z = e + 1.0 + 1.0 / e;
        for (got, want) in out.row(0).iter().zip([e / z, 1.0 / z, 1.0 / e / z]) {
            assert!((got - want).abs() < 1e-6);
        }
        assert_eq!(out.class(0), Some(0));
        assert_eq!(out.class(1), Some(0), "ties go to the lowest class");
        let spec = ModelSpec {
            task: Task::Regression,
            arch: Arch::Logreg,
            n_features: 2,
        };
        let m = Model::from_values(spec, vec![vec![2.0, 3.0], vec![-1.0]]).unwrap();
        let out = m
            .predict(&Matrix::new(vec![1.0, 1.0], 1, 2).unwrap())
            .unwrap();
        assert_eq!(out.values, [4.0]);
        assert_eq!(out.class(0), None);
    }

    #[test]
    fn predict_wrong_column_count_refused() {
        let m = logreg(vec![1.0, 2.0, 3.0], 0.0);
        let x = Matrix::new(vec![0.0; 4], 2, 2).unwrap();
        let err = m.predict_proba(&x).unwrap_err();
        assert_eq!(
            err.to_string(),
            "model expects 3 feature columns, input has 2"
        );
    }

    #[test]
    fn overflowing_logits_still_give_probabilities() {
        // Logits of +-3e38 * 10 overflow to infinity; sigmoid maps them to exactly 0 and 1.
        let m = logreg(vec![f32::MAX], 0.0);
        let x = Matrix::new(vec![10.0, -10.0], 2, 1).unwrap();
        assert_eq!(m.predict_proba(&x).unwrap(), [1.0, 0.0]);
    }

    #[test]
    fn non_finite_outputs_are_withheld() {
        // inf + -inf = NaN in the logit: must be refused, never returned.
        let m = logreg(vec![f32::MAX, f32::MAX], 0.0);
        let x = Matrix::new(vec![0.0, 0.0, 10.0, -10.0], 2, 2).unwrap();
        assert!(matches!(
            m.predict_proba(&x),
            Err(Error::InvalidOutput { row: 1, .. })
        ));
        // A regression whose value overflows to infinity.
        let spec = ModelSpec {
            task: Task::Regression,
            arch: Arch::Logreg,
            n_features: 1,
        };
        let m = Model::from_values(spec, vec![vec![f32::MAX], vec![0.0]]).unwrap();
        let x = Matrix::new(vec![1.0, 10.0], 2, 1).unwrap();
        let err = m.predict(&x).unwrap_err();
        assert!(matches!(err, Error::InvalidOutput { row: 1, .. }), "{err}");
    }

    #[test]
    fn output_checks_catch_each_bad_kind() {
        let two = Task::Multiclass { classes: 3 };
        assert!(Outputs::check(Task::Binary, 1, vec![0.2, 1.5]).is_err());
        assert!(Outputs::check(Task::Binary, 1, vec![-0.0, 1.0]).is_ok());
        assert!(Outputs::check(two, 3, vec![0.2, 0.3, 0.5, 0.2, 0.2, 0.2]).is_err());
        assert!(Outputs::check(two, 3, vec![0.2, 0.3, 0.5, f32::NAN, 0.5, 0.5]).is_err());
        assert!(Outputs::check(Task::Regression, 1, vec![1e30, f32::NEG_INFINITY]).is_err());
    }

    #[test]
    fn from_values_refuses_nan_weight() {
        let spec = ModelSpec {
            task: Task::Binary,
            arch: Arch::Logreg,
            n_features: 1,
        };
        let err = Model::from_values(spec, vec![vec![f32::NAN], vec![0.0]]).unwrap_err();
        assert!(matches!(err, Error::NonFiniteWeight { index: 0, .. }));
    }
}
