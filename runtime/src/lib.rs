//! Airlock's training and inference runtime: binary classifiers on [candle], trained and run on
//! the CPU.
//!
//! The runtime knows nothing about storage. Inputs are in-memory `f32` matrices ([`Matrix`])
//! and 0/1 labels; outputs are models, safetensors bytes, probabilities and [`Metrics`].
//!
//! - [`train`] fits an [`Arch`] (logistic regression or a one-hidden-layer MLP) with AdamW.
//!   Everything random derives from [`TrainConfig::seed`], so a run is reproducible bit for bit.
//! - [`Model::to_safetensors`] / [`Model::from_safetensors`] write and read model files. Reading
//!   treats the bytes as hostile: pickle and PyTorch files are refused, and the tensor set,
//!   dtypes, shapes and values are checked before a [`Model`] exists.
//! - [`Model::predict_proba`] never returns a NaN or out-of-range probability.
//! - [`evaluate`] computes accuracy, ROC AUC, log loss and Brier score.
//!
//! ```
//! use airlock_runtime::{Arch, Matrix, Model, TrainConfig, train};
//!
//! // y = 1 exactly when x0 > x1.
//! let rows: Vec<[f32; 2]> = (0..40).map(|i| [(i % 7) as f32, (i % 5) as f32]).collect();
//! let labels: Vec<f32> = rows.iter().map(|r| f32::from(u8::from(r[0] > r[1]))).collect();
//! let x = Matrix::new(rows.concat(), rows.len(), 2)?;
//!
//! let cfg = TrainConfig { epochs: 5, ..TrainConfig::default() };
//! let mut epochs_seen = 0;
//! let outcome = train(&x, &labels, &cfg, &mut |_report| epochs_seen += 1)?;
//! assert_eq!(epochs_seen, 5);
//!
//! let bytes = outcome.model.to_safetensors()?;
//! let model = Model::from_safetensors(&bytes, Arch::Logreg, 2)?;
//! assert_eq!(model.predict_proba(&x)?, outcome.model.predict_proba(&x)?);
//! # Ok::<(), airlock_runtime::Error>(())
//! ```
//!
//! [candle]: https://github.com/huggingface/candle
#![deny(missing_docs)]

mod codec;
mod config;
mod error;
mod matrix;
mod metrics;
mod model;
mod rng;
mod train;

pub use config::{Arch, TrainConfig};
pub use error::{Error, Result};
pub use matrix::Matrix;
pub use metrics::{Metrics, evaluate};
pub use model::Model;
pub use train::{EpochReport, TrainOutcome, train};
