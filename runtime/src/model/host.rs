//! Dense maths on host `f32` buffers, the CPU fast path of inference and training: candle's
//! gemm for the matrix products (it reads the buffers in place through [`CpuStorage`], with
//! transposes as strides), plain loops for the element-wise rest. No tensors, no graph, no
//! per-op allocation beyond each product's output.
//!
//! The element-wise functions follow candle's CPU kernels (`relu`, `tanh`, `gelu` with the tanh
//! approximation, `silu`, `sigmoid`, `softmax_last_dim`) and their autograd derivatives, so the
//! host path computes what the tensor path computes up to rounding.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Shape};

use crate::config::{Activation, Task};

/// A row-major `rows x cols` matrix of `f32` in candle's CPU storage.
#[derive(Clone)]
pub(crate) struct Mat {
    /// Always [`CpuStorage::F32`] holding exactly `rows * cols` values.
    storage: CpuStorage,
    rows: usize,
    cols: usize,
}

impl std::fmt::Debug for Mat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Mat[{}, {}]", self.rows, self.cols)
    }
}

impl Mat {
    /// Wraps `data` (row-major, `rows * cols` values).
    pub(crate) fn new(data: Vec<f32>, rows: usize, cols: usize) -> Self {
        debug_assert_eq!(data.len(), rows * cols);
        Self {
            storage: CpuStorage::F32(data),
            rows,
            cols,
        }
    }

    /// (rows, cols).
    pub(crate) fn dims(&self) -> (usize, usize) {
        (self.rows, self.cols)
    }

    /// The values, row-major.
    pub(crate) fn as_slice(&self) -> &[f32] {
        match &self.storage {
            CpuStorage::F32(v) => v,
            _ => unreachable!("a Mat always holds f32"),
        }
    }

    /// The values, row-major, to change in place.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        match &mut self.storage {
            CpuStorage::F32(v) => v,
            _ => unreachable!("a Mat always holds f32"),
        }
    }

    /// The values, row-major.
    pub(crate) fn into_vec(self) -> Vec<f32> {
        match self.storage {
            CpuStorage::F32(v) => v,
            _ => unreachable!("a Mat always holds f32"),
        }
    }

    /// The matrix as a product operand.
    pub(crate) fn view(&self) -> View<'_> {
        View {
            storage: &self.storage,
            rows: self.rows,
            cols: self.cols,
            transposed: false,
        }
    }
}

/// A product operand: a [`Mat`], used as is or transposed.
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    storage: &'a CpuStorage,
    rows: usize,
    cols: usize,
    transposed: bool,
}

impl View<'_> {
    /// The transpose.
    pub(crate) fn t(self) -> Self {
        Self {
            transposed: !self.transposed,
            ..self
        }
    }

    /// (rows, cols) as an operand.
    fn dims(&self) -> (usize, usize) {
        if self.transposed {
            (self.cols, self.rows)
        } else {
            (self.rows, self.cols)
        }
    }

    fn layout(&self) -> Layout {
        let (shape, stride) = if self.transposed {
            ((self.cols, self.rows), vec![1, self.cols])
        } else {
            ((self.rows, self.cols), vec![self.cols, 1])
        };
        Layout::new(Shape::from(shape), stride, 0)
    }
}

/// `a · b` through candle's CPU gemm (multi-threaded above its size threshold; each output
/// element's sum runs in a fixed order, so results do not depend on the thread count).
pub(crate) fn matmul(a: View<'_>, b: View<'_>) -> candle_core::Result<Mat> {
    let (m, k) = a.dims();
    let (k2, n) = b.dims();
    if k != k2 {
        candle_core::bail!("matmul of {m}x{k} by {k2}x{n}");
    }
    let out = a
        .storage
        .matmul(b.storage, (1, m, n, k), &a.layout(), &b.layout())?;
    match out {
        CpuStorage::F32(v) if v.len() == m * n => Ok(Mat::new(v, m, n)),
        _ => candle_core::bail!("matmul gave an unexpected output"),
    }
}

/// [`matmul`] of each of `blocks` stacked blocks of `a` (`blocks` times `m` rows, `k` columns)
/// by the same `b`, in one call into candle: candle runs one gemm per block, each the very
/// product [`matmul`] computes for that block alone (same shapes, strides and threading), so
/// the outputs are the same to the bit. One call rather than one per block because candle
/// looks its thread count up on every call, and on Linux without `RAYON_NUM_THREADS` (or
/// `CANDLE_NUM_THREADS`) set that reads and parses /proc/cpuinfo: tens of microseconds, more than
/// a narrow model's product on a block (it was a tenth of `airlock evaluate` on a million rows).
/// `b` is copied once per block (candle folds a shared right operand into one product of all
/// the rows, whose sums need not run in the same order), so callers keep `blocks` times `b`
/// small ([`group_blocks`]).
pub(crate) fn matmul_blocks(a: &Mat, blocks: usize, b: View<'_>) -> candle_core::Result<Mat> {
    let (rows, k) = a.dims();
    let (k2, n) = b.dims();
    if k != k2 || b.transposed || blocks == 0 || rows % blocks != 0 {
        candle_core::bail!("matmul of {blocks} blocks of {rows}x{k} by {k2}x{n}");
    }
    if blocks == 1 {
        return matmul(a.view(), b);
    }
    let m = rows / blocks;
    let one = match b.storage {
        CpuStorage::F32(v) => v,
        _ => candle_core::bail!("a Mat always holds f32"),
    };
    let mut rhs = Vec::with_capacity(blocks * one.len());
    for _ in 0..blocks {
        rhs.extend_from_slice(one);
    }
    let lhs_layout = Layout::new(Shape::from((blocks, m, k)), vec![m * k, k, 1], 0);
    let rhs_layout = Layout::new(Shape::from((blocks, k, n)), vec![k * n, n, 1], 0);
    let out = a.storage.matmul(
        &CpuStorage::F32(rhs),
        (blocks, m, n, k),
        &lhs_layout,
        &rhs_layout,
    )?;
    match out {
        CpuStorage::F32(v) if v.len() == rows * n => Ok(Mat::new(v, rows, n)),
        _ => candle_core::bail!("matmul gave an unexpected output"),
    }
}

/// Most right-operand values [`matmul_blocks`] copies for one call.
const BLOCKS_COPY_VALUES: usize = 1 << 18;

/// Blocks per [`matmul_blocks`] call on layers of `(inputs, outputs)`: at most 64, and fewer
/// for wide layers (whose products dwarf the lookup anyway).
pub(crate) fn group_blocks(layers: impl IntoIterator<Item = (usize, usize)>) -> usize {
    let widest = layers
        .into_iter()
        .map(|(i, o)| i * o)
        .max()
        .unwrap_or(1)
        .max(1);
    (BLOCKS_COPY_VALUES / widest).clamp(1, 64)
}

/// gemm multiplies on one thread below this many multiply-adds (gemm-common's default
/// threading threshold, 48 x 48 x 256).
const GEMM_SERIAL_WORK: usize = 48 * 48 * 256;

/// Rows per block of work on layers of `(inputs, outputs)`: small enough that gemm runs every
/// product of a block (`rows x inputs x outputs` multiply-adds for the widest layer) on one
/// thread, so that threads are spent on blocks rather than on fork-joins inside each product
/// (on a virtual machine, waking a pool thread can cost as much as a small product); 16 to 512
/// rows.
pub(crate) fn block_rows(layers: impl IntoIterator<Item = (usize, usize)>) -> usize {
    let widest = layers
        .into_iter()
        .map(|(i, o)| i * o)
        .max()
        .unwrap_or(1)
        .max(1);
    ((GEMM_SERIAL_WORK - 1) / widest).clamp(16, 512)
}

/// The number of threads candle's CPU kernels use (`RAYON_NUM_THREADS`, else the cores).
pub(crate) fn threads() -> usize {
    candle_core::utils::get_num_threads().max(1)
}

/// `task(0), ..., task(n - 1)` in order, run by the calling thread and up to `threads - 1`
/// scoped helper threads, each claiming the next index until none is left. Which thread runs a
/// task never changes its result. `None` if a result went missing (never: a task that panics
/// takes the caller down with it).
pub(crate) fn par_map<T: Send>(
    n: usize,
    threads: usize,
    task: impl Fn(usize) -> T + Sync,
) -> Option<Vec<T>> {
    let helpers = threads.min(n).saturating_sub(1);
    if helpers == 0 {
        return Some((0..n).map(task).collect());
    }
    let next = AtomicUsize::new(0);
    let slots: Vec<Mutex<Option<T>>> = (0..n).map(|_| Mutex::new(None)).collect();
    let work = || {
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return;
            }
            let out = task(i);
            if let Ok(mut slot) = slots[i].lock() {
                *slot = Some(out);
            }
        }
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..helpers).map(|_| s.spawn(work)).collect();
        work();
        // Wait for the helpers' last tasks by spinning rather than in `join`, which parks
        // this thread (waking it costs tens of microseconds on a virtual machine).
        spin_until(|| handles.iter().all(|h| h.is_finished()), || true);
    });
    slots
        .into_iter()
        .map(|s| s.into_inner().ok().flatten())
        .collect()
}

/// Spins, then yields, until `ready`; false if `alive` turns false first. For waits of the
/// order of one block of work, where parking and waking a thread would cost as much.
pub(crate) fn spin_until(ready: impl Fn() -> bool, alive: impl Fn() -> bool) -> bool {
    let mut spins = 0u32;
    while !ready() {
        if !alive() {
            return false;
        }
        if spins < 1 << 12 {
            spins += 1;
            std::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
    true
}

/// `activation(z)`, as candle's CPU kernel.
#[inline]
pub(crate) fn activate(activation: Activation, z: f32) -> f32 {
    match activation {
        Activation::Relu => z.max(0.0),
        Activation::Tanh => z.tanh(),
        Activation::Gelu => {
            const SQRT_TWO_OVER_PI: f32 = 0.797_884_6;
            0.5 * z * (1.0 + (SQRT_TWO_OVER_PI * z * (1.0 + 0.044715 * z * z)).tanh())
        }
        Activation::Silu => z / (1.0 + (-z).exp()),
    }
}

/// The derivative of `activation` at `z`, where `out = activation(z)`, as candle's autograd
/// takes it (ReLU: 1 at 0).
#[inline]
pub(crate) fn derivative(activation: Activation, z: f32, out: f32) -> f32 {
    match activation {
        Activation::Relu => {
            if z >= 0.0 {
                1.0
            } else {
                0.0
            }
        }
        Activation::Tanh => 1.0 - out * out,
        Activation::Gelu => {
            let cube = z * z * z;
            let tanh = (0.035_677_4 * cube + 0.797_885 * z).tanh();
            0.5 * tanh + (0.053_516_1 * cube + 0.398_942 * z) * (1.0 - tanh * tanh) + 0.5
        }
        Activation::Silu => {
            let sigmoid = 1.0 / (1.0 + (-z).exp());
            sigmoid * (1.0 - out) + out
        }
    }
}

/// Adds `bias` to each row of `z` (row-major, `bias.len()` columns) and applies `activation`
/// (none on the output layer), in place.
pub(crate) fn bias_activate(z: &mut [f32], bias: &[f32], activation: Option<Activation>) {
    // One loop per activation, so that each compiles to straight-line (vectorised) code.
    fn each(z: &mut [f32], bias: &[f32], f: impl Fn(f32) -> f32) {
        for row in z.chunks_exact_mut(bias.len()) {
            for (v, b) in row.iter_mut().zip(bias) {
                *v = f(*v + b);
            }
        }
    }
    match activation {
        None => each(z, bias, |v| v),
        Some(Activation::Relu) => each(z, bias, |v| activate(Activation::Relu, v)),
        Some(Activation::Tanh) => each(z, bias, |v| activate(Activation::Tanh, v)),
        Some(Activation::Gelu) => each(z, bias, |v| activate(Activation::Gelu, v)),
        Some(Activation::Silu) => each(z, bias, |v| activate(Activation::Silu, v)),
    }
}

/// [`bias_activate`] for a hidden layer in training, with dropout: `z` (the products, before
/// the bias) becomes `activation(z + bias) * mask`, and `deriv` (as long as `z`) d z / d(z +
/// bias), the derivative times the mask.
pub(crate) fn bias_activate_deriv(
    z: &mut [f32],
    deriv: &mut [f32],
    bias: &[f32],
    activation: Activation,
    mask: Option<&[f32]>,
) {
    fn each(z: &mut [f32], deriv: &mut [f32], bias: &[f32], a: Activation, mask: Option<&[f32]>) {
        let width = bias.len();
        for (zr, dr) in z.chunks_exact_mut(width).zip(deriv.chunks_exact_mut(width)) {
            for ((v, d), b) in zr.iter_mut().zip(dr.iter_mut()).zip(bias) {
                let pre = *v + b;
                let out = activate(a, pre);
                *d = derivative(a, pre, out);
                *v = out;
            }
        }
        if let Some(mask) = mask {
            for ((v, d), m) in z.iter_mut().zip(deriv.iter_mut()).zip(mask) {
                *v *= m;
                *d *= m;
            }
        }
    }
    // Constant activations, so that each loop is specialised.
    match activation {
        Activation::Relu => each(z, deriv, bias, Activation::Relu, mask),
        Activation::Tanh => each(z, deriv, bias, Activation::Tanh, mask),
        Activation::Gelu => each(z, deriv, bias, Activation::Gelu, mask),
        Activation::Silu => each(z, deriv, bias, Activation::Silu, mask),
    }
}

/// The task's link (sigmoid, softmax over each row of `width`, identity) on raw outputs, in
/// place.
pub(crate) fn link(task: Task, raw: &mut [f32], width: usize) {
    match task {
        Task::Binary => raw.iter_mut().for_each(|v| *v = sigmoid(*v)),
        Task::Multiclass { .. } => raw.chunks_exact_mut(width).for_each(softmax),
        Task::Regression => {}
    }
}

/// `1 / (1 + e^-z)`, as candle_nn's sigmoid (exactly 0 and 1 at the infinities).
#[inline]
pub(crate) fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// Softmax of one row in place, as candle_nn's `softmax_last_dim`.
pub(crate) fn softmax(row: &mut [f32]) {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for v in row.iter_mut() {
        *v = (*v - max).exp();
    }
    let sum: f32 = row.iter().sum();
    for v in row.iter_mut() {
        *v /= sum;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::*;

    #[test]
    fn matmul_handles_transposes() {
        // a = [[1, 2, 3], [4, 5, 6]], b = [[1, 0], [0, 1], [1, 1]].
        let a = Mat::new(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3);
        let b = Mat::new(vec![1.0, 0.0, 0.0, 1.0, 1.0, 1.0], 3, 2);
        let ab = matmul(a.view(), b.view()).unwrap();
        assert_eq!(ab.as_slice(), [4.0, 5.0, 10.0, 11.0]);
        // a^T a is 3x3.
        let ata = matmul(a.view().t(), a.view()).unwrap();
        assert_eq!(
            ata.as_slice(),
            [17.0, 22.0, 27.0, 22.0, 29.0, 36.0, 27.0, 36.0, 45.0]
        );
        // b^T a^T = (a b)^T.
        let bt_at = matmul(b.view().t(), a.view().t()).unwrap();
        assert_eq!(bt_at.into_vec(), [4.0, 10.0, 5.0, 11.0]);
        assert!(matmul(a.view(), a.view()).is_err());
    }

    #[test]
    fn blocks_multiplied_together_equal_each_alone() {
        let mut rng = crate::rng::SplitMix64::new(3);
        let mut fill =
            |n: usize| -> Vec<f32> { (0..n).map(|_| rng.uniform(-2.0, 2.0) as f32).collect() };
        for (m, k, n) in [(512, 40, 1), (7, 3, 5), (33, 100, 16)] {
            let blocks = 5;
            let a = Mat::new(fill(blocks * m * k), blocks * m, k);
            let b = Mat::new(fill(k * n), k, n);
            let together = matmul_blocks(&a, blocks, b.view()).unwrap();
            let mut alone = Vec::new();
            for block in a.as_slice().chunks(m * k) {
                let part = Mat::new(block.to_vec(), m, k);
                alone.extend_from_slice(matmul(part.view(), b.view()).unwrap().as_slice());
            }
            assert_eq!(together.as_slice(), alone.as_slice(), "{m}x{k} by {k}x{n}");
        }
        let a = Mat::new(vec![0.0; 6], 3, 2);
        let b = Mat::new(vec![0.0; 2], 2, 1);
        assert!(
            matmul_blocks(&a, 2, b.view()).is_err(),
            "3 rows are not 2 equal blocks"
        );
        assert!(matmul_blocks(&a, 3, b.view().t()).is_err());
    }

    #[test]
    fn activations_and_derivatives_match_candle() {
        let z: Vec<f32> = (-40..=40).map(|i| i as f32 * 0.15).collect();
        for activation in [
            Activation::Relu,
            Activation::Tanh,
            Activation::Gelu,
            Activation::Silu,
        ] {
            let var = Var::new(z.as_slice(), &Device::Cpu).unwrap();
            let out = crate::model::activate(activation, var.as_tensor()).unwrap();
            let grads = out.sum_all().unwrap().backward().unwrap();
            let want_out = out.to_vec1::<f32>().unwrap();
            let want_grad = grads.get(&var).unwrap().to_vec1::<f32>().unwrap();
            for (i, &v) in z.iter().enumerate() {
                let got = activate(activation, v);
                assert!(
                    (got - want_out[i]).abs() <= 1e-6,
                    "{activation:?}({v}): {got}"
                );
                let d = derivative(activation, v, got);
                assert!(
                    (d - want_grad[i]).abs() <= 1e-5,
                    "{activation:?}'({v}): {d}"
                );
            }
        }
    }

    #[test]
    fn links_match_candle() {
        let raw = [-3.0f32, 0.0, 0.5, 2.0, 100.0, -100.0];
        let t = Tensor::new(&raw, &Device::Cpu).unwrap();
        let mut got = raw;
        link(Task::Binary, &mut got, 1);
        assert_eq!(
            got.to_vec(),
            candle_nn::ops::sigmoid(&t)
                .unwrap()
                .to_vec1::<f32>()
                .unwrap()
        );
        let mut got = raw;
        link(Task::Multiclass { classes: 3 }, &mut got, 3);
        let want = candle_nn::ops::softmax_last_dim(&t.reshape((2, 3)).unwrap()).unwrap();
        assert_eq!(
            got.to_vec(),
            want.flatten_all().unwrap().to_vec1::<f32>().unwrap()
        );
    }
}
