//! The runtime's error type.
//!
//! Every variant carries what an operator needs to act on it: which row, which tensor, which
//! configuration field, expected versus found.

/// Everything that can go wrong in the runtime.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A matrix's buffer length is not `rows * cols`, or a dimension is zero.
    #[error(
        "matrix: {len} values cannot form {rows} x {cols} (rows and cols must be >= 1, len = rows * cols)"
    )]
    MatrixShape {
        /// Number of values supplied.
        len: usize,
        /// Requested row count.
        rows: usize,
        /// Requested column count.
        cols: usize,
    },

    /// A feature value is NaN or infinite.
    #[error(
        "matrix: value at row {row}, column {col} is {value} (features must be finite; impute or drop it)"
    )]
    NonFiniteFeature {
        /// Row of the bad value (0-based).
        row: usize,
        /// Column of the bad value (0-based).
        col: usize,
        /// The bad value.
        value: f32,
    },

    /// The matrix has a different number of columns than the model expects.
    #[error("model expects {expected} feature columns, input has {found}")]
    FeatureCount {
        /// Columns the model was trained on.
        expected: usize,
        /// Columns in the input.
        found: usize,
    },

    /// Labels, probabilities or rows do not line up.
    #[error("{what}: {found} values given, expected {expected} (one per row)")]
    LengthMismatch {
        /// Which input is wrong ("labels", "probabilities").
        what: &'static str,
        /// Length that was expected.
        expected: usize,
        /// Length that was given.
        found: usize,
    },

    /// There is nothing to train on or to evaluate.
    #[error("{what}: need at least {min} rows, got {found}")]
    TooFewRows {
        /// What needed the rows ("train", "evaluate").
        what: &'static str,
        /// Minimum number of rows.
        min: usize,
        /// Rows given.
        found: usize,
    },

    /// A label is not one the task allows.
    #[error("label at row {row} is {value}; {expected}")]
    InvalidLabel {
        /// Row of the bad label (0-based).
        row: usize,
        /// The bad label.
        value: f32,
        /// What the task allows.
        expected: String,
    },

    /// A probability given to `evaluate` is not finite or lies outside [0, 1].
    #[error("probability at row {row} is {value}; probabilities must be finite and in [0, 1]")]
    InvalidProbability {
        /// Row of the bad probability (0-based).
        row: usize,
        /// The bad value.
        value: f32,
    },

    /// A training configuration field (or model architecture parameter) is out of range.
    #[error("invalid config: {field} {reason}")]
    InvalidConfig {
        /// The offending field, e.g. `"learning_rate"`.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },

    /// Training produced a non-finite loss: the weights are unusable.
    #[error(
        "training diverged in epoch {epoch} (loss is not finite); lower learning_rate or scale the features"
    )]
    Diverged {
        /// The epoch (1-based) in which the loss became non-finite.
        epoch: usize,
    },

    /// The model produced an output its task does not allow (NaN, infinity, a probability
    /// outside [0, 1], class probabilities that do not sum to 1). Never passed on.
    #[error(
        "model output for row {row} is not a valid {task} output (NaN, infinite or out of range); the prediction was withheld"
    )]
    InvalidOutput {
        /// Row whose output was bad (0-based).
        row: usize,
        /// The task (`binary`, `multiclass`, `regression`).
        task: &'static str,
    },

    /// The bytes are a Python pickle or a zip archive (PyTorch `.pt`/`.bin`), which can run code on load.
    #[error(
        "safetensors: refused, input looks like a pickle/PyTorch file; pickle formats can execute code when loaded and are refused (convert the model to safetensors)"
    )]
    PickleRefused,

    /// The safetensors header declares more bytes than the runtime accepts.
    #[error("safetensors: header is {len} bytes, at most {max} are accepted")]
    HeaderTooLarge {
        /// Declared header length.
        len: u64,
        /// Accepted maximum.
        max: u64,
    },

    /// The safetensors parser rejected the bytes (truncated, bad JSON, bad offsets, ...).
    #[error("safetensors: malformed file: {reason}")]
    MalformedSafetensors {
        /// The parser's explanation.
        reason: String,
    },

    /// The file holds more tensors than any Airlock model has.
    #[error("safetensors: {count} tensors, at most {max} are accepted")]
    TooManyTensors {
        /// Tensors in the file.
        count: usize,
        /// Accepted maximum.
        max: usize,
    },

    /// Tensors the architecture declares are absent from the file.
    #[error("safetensors: missing tensor(s) {}", quoted(names))]
    MissingTensors {
        /// The absent names, sorted.
        names: Vec<String>,
    },

    /// The file holds tensors the architecture does not declare.
    #[error("safetensors: unexpected tensor(s) {}", quoted(names))]
    UnexpectedTensors {
        /// The extra names, sorted.
        names: Vec<String>,
    },

    /// A tensor is stored with a dtype other than F32.
    #[error("safetensors: tensor {name:?} has dtype {dtype}, only F32 is accepted")]
    TensorDtype {
        /// Tensor name.
        name: String,
        /// Dtype found in the file.
        dtype: String,
    },

    /// A tensor's shape differs from the architecture's declaration.
    #[error("safetensors: tensor {name:?} has shape {found:?}, expected {expected:?}")]
    TensorShape {
        /// Tensor name.
        name: String,
        /// Shape found in the file.
        found: Vec<usize>,
        /// Declared shape.
        expected: Vec<usize>,
    },

    /// A weight is NaN or infinite.
    #[error("safetensors: tensor {name:?} element {index} is not finite")]
    NonFiniteWeight {
        /// Tensor name.
        name: String,
        /// Flat (row-major) index of the bad element.
        index: usize,
    },

    /// The file's `__metadata__` contradicts what the caller expects.
    #[error("safetensors: metadata {key:?} is {found:?}, expected {expected:?}")]
    MetadataMismatch {
        /// Metadata key.
        key: &'static str,
        /// Value found in the file.
        found: String,
        /// Value expected.
        expected: String,
    },

    /// A tensor's byte range disagrees with its dtype and shape, or its size overflows.
    #[error("safetensors: tensor {name:?}: {reason}")]
    TensorSize {
        /// Tensor name.
        name: String,
        /// What is wrong.
        reason: String,
    },

    /// Tensors' byte ranges are not laid out in name order, back to back, from the start of
    /// the data to its end.
    #[error("safetensors: tensor {name:?} data {found:?} is out of place: {reason}")]
    TensorLayout {
        /// Tensor name.
        name: String,
        /// Its `data_offsets`.
        found: (usize, usize),
        /// What is wrong (gap, overlap, order, beyond the end).
        reason: String,
    },

    /// The device asked for cannot be used.
    #[error("device {requested}: {reason}")]
    Device {
        /// What was asked for (`cuda:0`, ...).
        requested: String,
        /// Why it cannot be used.
        reason: String,
    },

    /// Slice keys do not line up with the rows or are too many.
    #[error("slices: {reason}")]
    Slices {
        /// What is wrong.
        reason: String,
    },

    /// The caller's event handler stopped training (a checkpoint could not be written, ...).
    #[error("training stopped: {0}")]
    Stopped(String),

    /// A tensor operation failed inside candle.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
}

/// Shorthand for results carrying the runtime's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Formats names as `"a", "b"` for error messages.
fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_message_names_tensor_and_both_shapes() {
        let e = Error::TensorShape {
            name: "l1.weight".into(),
            found: vec![4, 3],
            expected: vec![4, 5],
        };
        assert_eq!(
            e.to_string(),
            "safetensors: tensor \"l1.weight\" has shape [4, 3], expected [4, 5]"
        );
    }

    #[test]
    fn missing_message_lists_all_names() {
        let e = Error::MissingTensors {
            names: vec!["l2.bias".into(), "l2.weight".into()],
        };
        assert_eq!(
            e.to_string(),
            "safetensors: missing tensor(s) \"l2.bias\", \"l2.weight\""
        );
    }
}
