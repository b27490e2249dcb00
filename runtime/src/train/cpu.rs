//! The CPU path of [`train`](super::train): forward pass, loss gradient, backward pass and AdamW
//! written out on host buffers ([`host`]), with candle's gemm for the matrix products.
//!
//! It computes what the generic path (candle autograd and `candle_nn::AdamW`, kept for other
//! devices) computes, up to rounding, without a graph, a tensor per operation or a fork-join
//! per product. A minibatch is cut into chunks of [`host::block_rows`] rows, small enough that gemm
//! runs each of their products on one thread; the chunks of a step are shared between the
//! calling thread and helper threads that live for one epoch, and their gradients are summed in
//! chunk order. The chunking depends only on the model and the batch, never on the number of
//! threads, so the results are bit-identical whatever it is.
//!
//! Helpers wait for the next step by spinning, not parking: a step takes ~100 µs, and waking a
//! parked thread (as a thread pool does) costs about as much on a virtual machine, which made
//! per-step fork-joins on candle's rayon pool no faster than one thread.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};
use std::thread::ScopedJoinHandle;

use candle_core::{Device, Tensor};

use crate::config::{Activation, Arch, ModelSpec, Task};
use crate::error::{Error, Result};
use crate::matrix::Matrix;
use crate::model::Dropout;
use crate::model::host::{self, Mat};
use crate::rng::SplitMix64;

/// AdamW's constants (candle_nn's `ParamsAdamW` defaults, as PyTorch's).
const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

/// What the training rows and the model are: everything a chunk reads besides the weights.
struct Problem<'a> {
    task: Task,
    activation: Activation,
    /// (inputs, outputs) of each layer.
    dims: Vec<(usize, usize)>,
    x: &'a Matrix,
    /// Training row `i` is `x.row(rows[i])`.
    rows: &'a [usize],
    /// Per training row: 0/1 (binary), class index (multiclass), standardised value
    /// (regression).
    targets: Vec<f32>,
    /// Per training row loss weights, `None` when all are 1.
    weights: Option<Vec<f32>>,
    chunk_rows: usize,
}

/// One step's inputs besides the batch: dropout masks for the whole batch (one per hidden
/// layer, row-major; empty without dropout) and the batch's total loss weight.
#[derive(Default)]
struct StepInput {
    masks: Vec<Vec<f32>>,
    total: f32,
}

/// What one chunk gives: its weighted loss sum and its share of each gradient.
struct ChunkGrads {
    loss: f64,
    grads: Vec<Vec<f32>>,
}

type Slot = Mutex<Option<candle_core::Result<ChunkGrads>>>;

/// Training state on the host: the problem, the weights and the AdamW moments.
pub(super) struct CpuTrainer<'a> {
    problem: Problem<'a>,
    /// Weights and biases in [`ModelSpec::tensor_shapes`] order (biases as `1 x outputs`).
    /// Helpers read them during a step; the calling thread updates them between steps.
    params: RwLock<Vec<Mat>>,
    adamw: AdamW,
    threads: usize,
    /// Row-weighted sum of the batch losses since the last [`CpuTrainer::take_loss_sum`].
    loss_sum: f64,
}

impl<'a> CpuTrainer<'a> {
    /// A trainer over the training rows `rows` of `x` with per-row `targets` and `weights`,
    /// starting from `init` (one buffer per parameter), running steps on up to `threads`
    /// threads.
    #[allow(clippy::too_many_arguments, reason = "internal constructor")]
    pub(super) fn new(
        spec: &ModelSpec,
        x: &'a Matrix,
        rows: &'a [usize],
        targets: Vec<f32>,
        weights: Option<Vec<f32>>,
        init: Vec<Vec<f32>>,
        learning_rate: f64,
        weight_decay: f64,
        threads: usize,
    ) -> Self {
        let dims: Vec<(usize, usize)> = spec
            .layers()
            .iter()
            .map(|l| (l.inputs, l.outputs))
            .collect();
        let activation = match &spec.arch {
            Arch::Mlp { activation, .. } => *activation,
            Arch::Logreg => Activation::Relu, // never used: one layer
        };
        let params: Vec<Mat> = init
            .into_iter()
            .enumerate()
            .map(|(i, values)| {
                let (inputs, outputs) = dims[i / 2];
                match i % 2 {
                    0 => Mat::new(values, outputs, inputs),
                    _ => Mat::new(values, 1, outputs),
                }
            })
            .collect();
        let sizes: Vec<usize> = params.iter().map(|p| p.as_slice().len()).collect();
        let chunk_rows = host::block_rows(dims.iter().copied());
        Self {
            problem: Problem {
                task: spec.task,
                activation,
                dims,
                x,
                rows,
                targets,
                weights,
                chunk_rows,
            },
            params: RwLock::new(params),
            adamw: AdamW::new(&sizes, learning_rate, weight_decay),
            threads: threads.max(1),
            loss_sum: 0.0,
        }
    }

    pub(super) fn set_learning_rate(&mut self, lr: f64) {
        self.adamw.learning_rate = lr;
    }

    /// The row-weighted loss sum since the last call.
    pub(super) fn take_loss_sum(&mut self) -> f64 {
        std::mem::take(&mut self.loss_sum)
    }

    /// The current weights as CPU tensors, in [`ModelSpec::tensor_shapes`] order.
    pub(super) fn params(&self) -> Result<Vec<Tensor>> {
        let params = self.params.read().map_err(|_| poisoned())?;
        Ok(params
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (inputs, outputs) = self.problem.dims[i / 2];
                match i % 2 {
                    0 => Tensor::from_slice(p.as_slice(), (outputs, inputs), &Device::Cpu),
                    _ => Tensor::from_slice(p.as_slice(), outputs, &Device::Cpu),
                }
            })
            .collect::<candle_core::Result<_>>()?)
    }

    /// One AdamW step per minibatch of `batch_size` training rows of `order`, with dropout `p`
    /// masks drawn from `rng`.
    pub(super) fn epoch(
        &mut self,
        order: &[usize],
        batch_size: usize,
        p: Option<f64>,
        rng: &mut SplitMix64,
    ) -> Result<()> {
        let batches: Vec<&[usize]> = order.chunks(batch_size).collect();
        let most_chunks = batch_size
            .min(order.len())
            .div_ceil(self.problem.chunk_rows);
        let threads = self.threads.min(most_chunks).max(1);
        let Self {
            problem,
            params,
            adamw,
            loss_sum,
            ..
        } = self;
        let problem = &*problem;
        let params = &*params;
        let slots: Vec<Slot> = (0..most_chunks).map(|_| Mutex::new(None)).collect();
        let step = Step {
            input: RwLock::new(StepInput::default()),
            claim: AtomicU64::new(0),
            finished: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
        };
        std::thread::scope(|s| {
            // Stops the helpers however this scope ends (a panic included): it waits for them.
            let _stop = Stop(&step.stop);
            let helpers: Vec<ScopedJoinHandle<'_, ()>> = (1..threads)
                .map(|_| {
                    let (batches, slots, step) = (&batches, &slots, &step);
                    s.spawn(move || {
                        let mut seen = 0;
                        loop {
                            let ready = || {
                                step.stop.load(Ordering::Acquire)
                                    || step.claim.load(Ordering::Acquire) >> 32 != seen
                            };
                            host::spin_until(ready, || true);
                            if step.stop.load(Ordering::Acquire) {
                                return;
                            }
                            seen = step.claim.load(Ordering::Acquire) >> 32;
                            if let Some(batch) = batches.get((seen as usize).wrapping_sub(1)) {
                                run_chunks(problem, params, batch, step, seen, slots);
                            }
                        }
                    })
                })
                .collect();
            let mut run = || -> Result<()> {
                for (k, batch) in (1u64..).zip(&batches) {
                    {
                        let mut input = step.input.write().map_err(|_| poisoned())?;
                        *input = problem.step_input(batch, p, rng);
                    }
                    step.finished.store(0, Ordering::Release);
                    step.claim.store(k << 32, Ordering::Release);
                    run_chunks(problem, params, batch, &step, k, &slots);
                    let chunks = batch.len().div_ceil(problem.chunk_rows);
                    let all_done = || step.finished.load(Ordering::Acquire) == chunks;
                    if !host::spin_until(all_done, || helpers.iter().all(|h| !h.is_finished())) {
                        return Err(stopped("a training thread stopped"));
                    }
                    let total = step.input.read().map_err(|_| poisoned())?.total;
                    let (loss, grads) = sum_chunks(&slots[..chunks])?;
                    *loss_sum += loss / f64::from(total) * batch.len() as f64;
                    adamw.step(&mut params.write().map_err(|_| poisoned())?, &grads);
                }
                Ok(())
            };
            run()
        })
    }
}

/// The step the threads of an epoch share.
struct Step {
    input: RwLock<StepInput>,
    /// The step being run (1-based) in the high 32 bits, the next chunk to claim in the low.
    claim: AtomicU64,
    /// Chunks of the step finished.
    finished: AtomicUsize,
    /// Set when the epoch ends: helpers return.
    stop: AtomicBool,
}

/// Sets a stop flag when dropped.
struct Stop<'a>(&'a AtomicBool);

impl Drop for Stop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Claims chunks of step `k` (rows of `batch`) one at a time and runs each into its slot, until
/// none is left or the step is over. Any thread may run any chunk: a chunk's result depends
/// only on its rows.
fn run_chunks(
    problem: &Problem<'_>,
    params: &RwLock<Vec<Mat>>,
    batch: &[usize],
    step: &Step,
    k: u64,
    slots: &[Slot],
) {
    let chunks = batch.len().div_ceil(problem.chunk_rows) as u64;
    loop {
        let claim = step.claim.load(Ordering::Acquire);
        if claim >> 32 != k || claim & 0xffff_ffff >= chunks {
            return;
        }
        if step
            .claim
            .compare_exchange(claim, claim + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            continue;
        }
        let c = (claim & 0xffff_ffff) as usize;
        let result = match (params.read(), step.input.read()) {
            (Ok(params), Ok(input)) => {
                let start = c * problem.chunk_rows;
                let rows = &batch[start..(start + problem.chunk_rows).min(batch.len())];
                problem.chunk(&params, rows, start, &input)
            }
            _ => Err(candle_core::Error::Msg("a lock was poisoned".to_owned())),
        };
        if let Ok(mut slot) = slots[c].lock() {
            *slot = Some(result);
        }
        step.finished.fetch_add(1, Ordering::AcqRel);
    }
}

/// The chunks' loss sums and gradients added up in chunk order (emptying the slots).
fn sum_chunks(slots: &[Slot]) -> Result<(f64, Vec<Vec<f32>>)> {
    let mut loss = 0.0;
    let mut grads: Vec<Vec<f32>> = Vec::new();
    for slot in slots {
        let part = match slot.lock().map(|mut s| s.take()) {
            Ok(Some(part)) => part?,
            _ => return Err(stopped("a training chunk did not finish")),
        };
        loss += part.loss;
        if grads.is_empty() {
            grads = part.grads;
        } else {
            for (g, p) in grads.iter_mut().zip(&part.grads) {
                g.iter_mut().zip(p).for_each(|(g, p)| *g += p);
            }
        }
    }
    Ok((loss, grads))
}

fn poisoned() -> Error {
    stopped("a lock was poisoned")
}

fn stopped(what: &str) -> Error {
    candle_core::Error::Msg(what.to_owned()).into()
}

impl Problem<'_> {
    /// The dropout masks and total weight of `batch`. The masks are drawn in the generic path's
    /// order (layer by layer, row-major over the whole batch), so both paths see the same.
    fn step_input(&self, batch: &[usize], p: Option<f64>, rng: &mut SplitMix64) -> StepInput {
        let n = batch.len();
        let masks = match p {
            Some(p) => {
                let mut d = Dropout { p, rng };
                self.dims[..self.dims.len() - 1]
                    .iter()
                    .map(|&(_, width)| (0..n * width).map(|_| d.draw()).collect())
                    .collect()
            }
            None => Vec::new(),
        };
        // The loss is a (weighted) mean over the batch.
        let total = match &self.weights {
            Some(w) => batch.iter().map(|&i| w[i]).sum::<f32>(),
            None => n as f32,
        };
        StepInput { masks, total }
    }

    /// Forward and backward over the training rows `rows`, the chunk that starts at row
    /// `offset` of its batch: the chunk's weighted loss sum and its gradients of the batch
    /// loss.
    fn chunk(
        &self,
        params: &[Mat],
        rows: &[usize],
        offset: usize,
        input: &StepInput,
    ) -> candle_core::Result<ChunkGrads> {
        let n = rows.len();
        let layers = self.dims.len();
        let cols = self.x.cols();
        let mut first = Vec::with_capacity(n * cols);
        for &i in rows {
            first.extend_from_slice(self.x.row(self.rows[i]));
        }
        // acts[l] is layer l's input; derivs[l] the derivative of hidden layer l's output
        // (activation then dropout) with respect to its pre-activation.
        let mut acts = vec![Mat::new(first, n, cols)];
        let mut derivs: Vec<Vec<f32>> = Vec::with_capacity(layers - 1);
        for l in 0..layers {
            let mut z = host::matmul(acts[l].view(), params[2 * l].view().t())?;
            let bias = params[2 * l + 1].as_slice();
            if l + 1 == layers {
                host::bias_activate(z.as_mut_slice(), bias, None);
            } else {
                let width = self.dims[l].1;
                let mask = input
                    .masks
                    .get(l)
                    .map(|m| &m[offset * width..(offset + n) * width]);
                let mut deriv = vec![0f32; z.as_slice().len()];
                host::bias_activate_deriv(
                    z.as_mut_slice(),
                    &mut deriv,
                    bias,
                    self.activation,
                    mask,
                );
                derivs.push(deriv);
            }
            acts.push(z);
        }
        let raw = acts.pop().map(Mat::into_vec).unwrap_or_default();
        let (loss, grad) = self.loss_grad(rows, &raw, input.total);
        let mut g = Mat::new(grad, n, self.dims[layers - 1].1);
        let mut grads = vec![Vec::new(); 2 * layers];
        for l in (0..layers).rev() {
            grads[2 * l] = host::matmul(g.view().t(), acts[l].view())?.into_vec();
            let mut db = vec![0f32; self.dims[l].1];
            for row in g.as_slice().chunks_exact(db.len()) {
                db.iter_mut().zip(row).for_each(|(d, v)| *d += v);
            }
            grads[2 * l + 1] = db;
            if l > 0 {
                let mut prev = host::matmul(g.view(), params[2 * l].view())?;
                prev.as_mut_slice()
                    .iter_mut()
                    .zip(&derivs[l - 1])
                    .for_each(|(g, d)| *g *= d);
                g = prev;
            }
        }
        Ok(ChunkGrads { loss, grads })
    }

    /// The weighted loss sum of the raw outputs `raw` (`rows.len() x outputs`) against the
    /// targets of `rows`, and its gradient divided by `total` (the batch's weight).
    fn loss_grad(&self, rows: &[usize], raw: &[f32], total: f32) -> (f64, Vec<f32>) {
        let width = self.dims[self.dims.len() - 1].1;
        let mut grad = vec![0f32; raw.len()];
        let mut loss = 0f64;
        for (&i, (z, g)) in rows
            .iter()
            .zip(raw.chunks_exact(width).zip(grad.chunks_exact_mut(width)))
        {
            let y = self.targets[i];
            let w = self.weights.as_ref().map_or(1.0, |w| w[i]);
            let scale = w / total;
            let row_loss = match self.task {
                Task::Binary => {
                    // max(z, 0) - z y + ln(1 + e^-|z|); d/dz = sigmoid(z) - y.
                    let z = z[0];
                    g[0] = (host::sigmoid(z) - y) * scale;
                    z.max(0.0) - z * y + (-z.abs()).exp().ln_1p()
                }
                Task::Multiclass { .. } => {
                    // -log softmax(z)[y]; d/dz = softmax(z) - onehot(y).
                    let class = y as usize;
                    let max = z.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
                    let sum: f32 = z.iter().map(|&v| (v - max).exp()).sum();
                    for (k, (g, &v)) in g.iter_mut().zip(z).enumerate() {
                        let p = (v - max).exp() / sum;
                        *g = (p - if k == class { 1.0 } else { 0.0 }) * scale;
                    }
                    max + sum.ln() - z[class]
                }
                Task::Regression => {
                    // (z - y)^2; d/dz = 2 (z - y).
                    let d = z[0] - y;
                    g[0] = 2.0 * d * scale;
                    d * d
                }
            };
            loss += f64::from(w) * f64::from(row_loss);
        }
        (loss, grad)
    }
}

/// AdamW (candle_nn's and PyTorch's: decoupled weight decay, bias-corrected moments, `eps`
/// added to the corrected root), element by element in f32 as candle's tensor ops do it.
struct AdamW {
    learning_rate: f64,
    weight_decay: f64,
    steps: i32,
    /// First and second moments, one buffer per parameter.
    m: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl AdamW {
    fn new(sizes: &[usize], learning_rate: f64, weight_decay: f64) -> Self {
        let zeros: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
        Self {
            learning_rate,
            weight_decay,
            steps: 0,
            m: zeros.clone(),
            v: zeros,
        }
    }

    fn step(&mut self, params: &mut [Mat], grads: &[Vec<f32>]) {
        self.steps = self.steps.saturating_add(1);
        let lr = self.learning_rate;
        let scale_m = (1.0 / (1.0 - BETA1.powi(self.steps))) as f32;
        let scale_v = (1.0 / (1.0 - BETA2.powi(self.steps))) as f32;
        let decay = (1.0 - lr * self.weight_decay) as f32;
        let (b1, b2) = (BETA1 as f32, BETA2 as f32);
        let (c1, c2) = ((1.0 - BETA1) as f32, (1.0 - BETA2) as f32);
        let (eps, lr) = (EPS as f32, lr as f32);
        for (((p, g), m), v) in params
            .iter_mut()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            for (((p, &g), m), v) in p.as_mut_slice().iter_mut().zip(g).zip(m).zip(v) {
                *m = *m * b1 + g * c1;
                *v = *v * b2 + g * g * c2;
                let m_hat = *m * scale_m;
                let v_hat = *v * scale_v;
                *p = *p * decay - m_hat / (v_hat.sqrt() + eps) * lr;
            }
        }
    }
}
