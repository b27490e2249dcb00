//! [`Model`]: a trained binary classifier, its forward pass and its file format.

use candle_core::{DType, Device, Tensor};

use crate::codec;
use crate::config::Arch;
use crate::error::{Error, Result};
use crate::matrix::Matrix;

/// A trained binary classifier. Weights live on the CPU as candle tensors, one per entry of
/// [`Arch::tensor_shapes`], in that (name) order.
#[derive(Clone, Debug)]
pub struct Model {
    arch: Arch,
    n_features: usize,
    tensors: Vec<Tensor>,
}

impl Model {
    /// The architecture.
    pub fn arch(&self) -> Arch {
        self.arch
    }

    /// Number of input features.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Builds a model from one value buffer per declared tensor, checking count, sizes and
    /// finiteness (training and decoding both come through here).
    pub(crate) fn from_values(
        arch: Arch,
        n_features: usize,
        values: Vec<Vec<f32>>,
    ) -> Result<Self> {
        arch.validate(n_features)?;
        let shapes = arch.tensor_shapes(n_features);
        if values.len() != shapes.len() {
            return Err(Error::LengthMismatch {
                what: "model tensors",
                expected: shapes.len(),
                found: values.len(),
            });
        }
        let mut tensors = Vec::with_capacity(shapes.len());
        for ((name, shape), v) in shapes.into_iter().zip(values) {
            if let Some(index) = v.iter().position(|x| !x.is_finite()) {
                return Err(Error::NonFiniteWeight { name, index });
            }
            tensors.push(Tensor::from_vec(v, shape, &Device::Cpu)?);
        }
        Ok(Self {
            arch,
            n_features,
            tensors,
        })
    }

    /// The model as safetensors bytes: F32 little-endian tensors sorted by name, with metadata
    /// `{"format": "airlock-model/1", "arch": <Arch as JSON>, "n_features": "<n>"}`. Equal
    /// weights give identical bytes.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let values = self
            .tensors
            .iter()
            .map(|t| t.flatten_all()?.to_vec1::<f32>())
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(codec::encode(self.arch, self.n_features, &values))
    }

    /// Parses and validates a model file before any of it is used.
    ///
    /// Refused with a specific [`Error`]: pickle or zip (PyTorch) files, headers over 1 MiB,
    /// anything the safetensors parser rejects (truncation, bad offsets), more than 64 tensors,
    /// missing or extra tensors against `arch.tensor_shapes(n_features)`, dtypes other than F32,
    /// shapes other than declared, non-finite values, and `__metadata__` that contradicts
    /// `arch` or `n_features` (metadata itself is optional).
    pub fn from_safetensors(bytes: &[u8], arch: Arch, n_features: usize) -> Result<Model> {
        let values = codec::decode(bytes, arch, n_features)?;
        Self::from_values(arch, n_features, values)
    }

    /// Probability of the positive class for each row of `x`.
    ///
    /// # Errors
    /// [`Error::FeatureCount`] if `x.cols() != self.n_features()`; [`Error::InvalidOutput`] for
    /// the first row whose output is not a finite value in [0, 1] (none is ever returned).
    pub fn predict_proba(&self, x: &Matrix) -> Result<Vec<f32>> {
        if x.cols() != self.n_features {
            return Err(Error::FeatureCount {
                expected: self.n_features,
                found: x.cols(),
            });
        }
        probabilities(self.arch, &self.tensors, &x.to_tensor()?)
    }
}

/// Logits `[rows, 1]` of `arch` with weights `params` (in [`Arch::tensor_shapes`] order) on
/// inputs `[rows, n_features]`. Shared by training, which passes its variables.
pub(crate) fn forward(arch: Arch, params: &[Tensor], x: &Tensor) -> candle_core::Result<Tensor> {
    // PyTorch nn.Linear: y = x W^T + b.
    fn linear(x: &Tensor, weight: &Tensor, bias: &Tensor) -> candle_core::Result<Tensor> {
        x.matmul(&weight.t()?)?.broadcast_add(bias)
    }
    match (arch, params) {
        (Arch::Logreg, [bias, weight]) => linear(x, weight, bias),
        (Arch::Mlp { .. }, [b1, w1, b2, w2]) => linear(&linear(x, w1, b1)?.relu()?, w2, b2),
        _ => Err(candle_core::Error::Msg(format!(
            "{} expects {} tensors, got {}",
            arch.name(),
            arch.tensor_shapes(1).len(),
            params.len()
        ))),
    }
}

/// Sigmoid of [`forward`], checked: every output must be a finite probability.
pub(crate) fn probabilities(arch: Arch, params: &[Tensor], x: &Tensor) -> Result<Vec<f32>> {
    let logits = forward(arch, params, x)?;
    let p = candle_nn::ops::sigmoid(&logits)?
        .to_dtype(DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    // NaN fails `contains`, so a NaN weight or input can never leave as a prediction.
    match p.iter().position(|v| !(0.0..=1.0).contains(v)) {
        Some(row) => Err(Error::InvalidOutput { row }),
        None => Ok(p),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    fn logreg(weight: Vec<f32>, bias: f32) -> Model {
        let n = weight.len();
        Model::from_values(Arch::Logreg, n, vec![vec![bias], weight]).unwrap()
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
    fn mlp_forward_applies_relu() {
        // hidden = 2: h = relu([x, -x]); logit = h0 + h1 - 1 = |x| - 1.
        let values = vec![vec![0.0, 0.0], vec![1.0, -1.0], vec![-1.0], vec![1.0, 1.0]];
        let m = Model::from_values(Arch::Mlp { hidden: 2 }, 1, values).unwrap();
        let x = Matrix::new(vec![3.0, -3.0, 1.0], 3, 1).unwrap();
        let p = m.predict_proba(&x).unwrap();
        let expect = 1.0 / (1.0 + (-2.0f32).exp());
        assert!((p[0] - expect).abs() < 1e-6 && (p[1] - expect).abs() < 1e-6);
        assert!((p[2] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn predict_wrong_column_count_refused() {
        let m = logreg(vec![1.0, 2.0, 3.0], 0.0);
        let x = Matrix::new(vec![0.0; 4], 2, 2).unwrap();
        let err = m.predict_proba(&x).unwrap_err();
        assert!(matches!(
            err,
            Error::FeatureCount {
                expected: 3,
                found: 2
            }
        ));
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
    fn non_finite_output_withheld() {
        // inf + -inf = NaN in the logit: must be refused, never returned.
        let m = logreg(vec![f32::MAX, f32::MAX], 0.0);
        let x = Matrix::new(vec![0.0, 0.0, 10.0, -10.0], 2, 2).unwrap();
        assert!(matches!(
            m.predict_proba(&x),
            Err(Error::InvalidOutput { row: 1 })
        ));
    }

    #[test]
    fn from_values_refuses_nan_weight() {
        let err = Model::from_values(Arch::Logreg, 1, vec![vec![0.0], vec![f32::NAN]]).unwrap_err();
        assert!(matches!(err, Error::NonFiniteWeight { index: 0, .. }));
    }
}
