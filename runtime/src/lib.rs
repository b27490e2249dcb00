//! Airlock's training and inference runtime on [candle]: linear models and MLPs for binary,
//! multi-class and regression tasks, trained and run on the CPU, or on an NVIDIA GPU in a
//! build with the `cuda` feature.
//!
//! The runtime knows nothing about storage. Inputs are in-memory `f32` matrices ([`Matrix`])
//! and labels; outputs are models, safetensors bytes, checked [`Outputs`] and [`Metrics`].
//!
//! - [`train`] fits a [`ModelSpec`] with AdamW, a learning-rate [`Schedule`], class weights,
//!   dropout, early stopping and checkpoints. Everything random derives from
//!   [`TrainConfig::seed`], so a CPU run is reproducible bit for bit.
//! - [`Model::to_safetensors`] / [`Model::from_safetensors`] write and read model files.
//!   Reading treats the bytes as hostile: pickle and PyTorch files are refused, and the header,
//!   layout, tensor set, dtypes, shapes and values are checked before a [`Model`] exists.
//! - [`Model::predict`] never returns a NaN, an infinity or an out-of-range probability.
//! - [`evaluate`] and [`evaluate_slices`] compute the task's metrics.
//! - [`device::select`] resolves `auto`, `cpu` or `cuda:N`.
//!
//! ```
//! use airlock_runtime::{Device, Matrix, Model, TrainConfig, TrainData, train};
//!
//! // y = 1 exactly when x0 > x1.
//! let rows: Vec<[f32; 2]> = (0..40).map(|i| [(i % 7) as f32, (i % 5) as f32]).collect();
//! let labels: Vec<f32> = rows.iter().map(|r| f32::from(u8::from(r[0] > r[1]))).collect();
//! let x = Matrix::new(rows.concat(), rows.len(), 2)?;
//!
//! let cfg = TrainConfig { epochs: 5, ..TrainConfig::default() };
//! let data = TrainData { x: &x, labels: &labels, slices: None };
//! let outcome = train(data, &cfg, &Device::Cpu, &mut |_event| Ok(()))?;
//! assert_eq!(outcome.history.len(), 5);
//!
//! let bytes = outcome.model.to_safetensors()?;
//! let model = Model::from_safetensors(&bytes, &cfg.spec(2))?;
//! assert_eq!(model.predict(&x)?, outcome.model.predict(&x)?);
//! # Ok::<(), airlock_runtime::Error>(())
//! ```
//!
//! [candle]: https://github.com/huggingface/candle
#![deny(missing_docs)]

mod codec;
mod config;
pub mod device;
mod error;
pub mod evaluation;
pub mod fairness;
mod matrix;
mod metrics;
mod model;
mod rng;
pub mod robustness;
mod train;

pub use codec::{MAX_HEADER_BYTES, MAX_TENSORS};
pub use config::{
    Activation, Arch, ClassWeights, EarlyStopping, MAX_HIDDEN_LAYERS, MAX_WIDTH, ModelSpec,
    Schedule, Task, TrainConfig,
};
pub use device::{DeviceChoice, DeviceInfo};
pub use error::{Error, Result};
pub use evaluation::{
    Confusion, Importance, ThresholdPoint, class_confusion, confusion, permutation_importance,
    threshold_sweep,
};
pub use fairness::{Disparity, FAIRNESS_METRICS, Fairness, GroupRates, fairness, fairness_coded};
pub use matrix::Matrix;
pub use metrics::{
    CALIBRATION_BINS, CalibrationBin, ClassMetrics, MAX_SLICES, METRIC_NAMES, Metrics,
    check_labels, evaluate, evaluate_slices, evaluate_slices_coded,
};
pub use model::{Model, Outputs};
pub use robustness::{Perturbation, RobustAccuracy, robust_accuracy};
pub use train::{
    EpochReport, Evaluation, Event, Split, TrainData, TrainOutcome, split_rows, train,
};

/// candle's `Device`, re-exported so callers need not depend on candle.
pub use candle_core::Device;
