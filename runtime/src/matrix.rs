//! [`Matrix`]: validated, row-major feature matrices.

use candle_core::{Device, Tensor};

use crate::error::{Error, Result};

/// A row-major matrix of features, at least 1 x 1, every value finite.
///
/// The only way to build one is [`Matrix::new`], so code that takes a `Matrix` never sees a
/// NaN feature or a ragged buffer.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
}

impl Matrix {
    /// Wraps `data` (row-major, `rows * cols` values).
    ///
    /// # Errors
    /// [`Error::MatrixShape`] if a dimension is zero or `data.len() != rows * cols`;
    /// [`Error::NonFiniteFeature`] naming the first NaN or infinite value.
    pub fn new(data: Vec<f32>, rows: usize, cols: usize) -> Result<Self> {
        let shape_error = || Error::MatrixShape {
            len: data.len(),
            rows,
            cols,
        };
        if rows == 0 || cols == 0 || rows.checked_mul(cols) != Some(data.len()) {
            return Err(shape_error());
        }
        if let Some(i) = data.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteFeature {
                row: i / cols,
                col: i % cols,
                value: data[i],
            });
        }
        Ok(Self { data, rows, cols })
    }

    /// Values taken from checked matrices (rows of them moved about, as permutation importance
    /// does), so neither their shape nor their finiteness needs checking again.
    pub(crate) fn rearranged(data: Vec<f32>, rows: usize, cols: usize) -> Self {
        debug_assert!(rows > 0 && cols > 0 && data.len() == rows * cols);
        Self { data, rows, cols }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns (features).
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The values of row `i`.
    ///
    /// # Panics
    /// If `i >= self.rows()`, like slice indexing.
    pub fn row(&self, i: usize) -> &[f32] {
        assert!(i < self.rows, "row {i} out of range for {} rows", self.rows);
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// The values, row-major.
    pub(crate) fn as_slice(&self) -> &[f32] {
        &self.data
    }

    /// The values, row-major, given back (to reuse the buffer).
    pub(crate) fn into_values(self) -> Vec<f32> {
        self.data
    }

    /// The rows listed in `indices`, in that order, as a `[indices.len(), cols]` tensor.
    pub(crate) fn select_rows(&self, indices: &[usize]) -> Result<Tensor> {
        let mut data = Vec::with_capacity(indices.len() * self.cols);
        for &i in indices {
            data.extend_from_slice(self.row(i));
        }
        Ok(Tensor::from_vec(
            data,
            (indices.len(), self.cols),
            &Device::Cpu,
        )?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn rows_are_row_major() {
        let m = Matrix::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3).unwrap();
        assert_eq!((m.rows(), m.cols()), (2, 3));
        assert_eq!(m.row(0), &[1.0, 2.0, 3.0]);
        assert_eq!(m.row(1), &[4.0, 5.0, 6.0]);
    }

    #[test]
    fn matrix_nan_refused() {
        let err = Matrix::new(vec![1.0, 2.0, f32::NAN, 4.0], 2, 2).unwrap_err();
        assert!(
            matches!(err, Error::NonFiniteFeature { row: 1, col: 0, .. }),
            "{err}"
        );
    }

    #[test]
    fn matrix_infinity_refused() {
        let err = Matrix::new(vec![f32::INFINITY], 1, 1).unwrap_err();
        assert!(matches!(
            err,
            Error::NonFiniteFeature { row: 0, col: 0, .. }
        ));
    }

    #[test]
    fn matrix_wrong_length_refused() {
        let err = Matrix::new(vec![1.0; 5], 2, 3).unwrap_err();
        assert!(matches!(
            err,
            Error::MatrixShape {
                len: 5,
                rows: 2,
                cols: 3
            }
        ));
    }

    #[test]
    fn matrix_empty_refused() {
        assert!(matches!(
            Matrix::new(vec![], 0, 3),
            Err(Error::MatrixShape { .. })
        ));
        assert!(matches!(
            Matrix::new(vec![], 3, 0),
            Err(Error::MatrixShape { .. })
        ));
    }

    #[test]
    fn matrix_size_overflow_refused() {
        assert!(matches!(
            Matrix::new(vec![1.0], usize::MAX, 2),
            Err(Error::MatrixShape { .. })
        ));
    }

    #[test]
    fn select_rows_gathers_in_order() {
        let m = Matrix::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 3, 2).unwrap();
        let t = m.select_rows(&[2, 0]).unwrap();
        assert_eq!(t.to_vec2::<f32>().unwrap(), [[5.0, 6.0], [1.0, 2.0]]);
    }
}
