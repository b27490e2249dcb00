//! The parent's side: write the job, start the worker, check everything it returns.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use airlock_runtime::{
    DeviceChoice, EpochReport, Evaluation, Model, Split, TrainConfig, TrainData, evaluate,
    evaluate_slices,
};

use crate::error::{Error, IoContext, Result};
use crate::protocol::{Job, MAX_RESULT_BYTES, WorkerResult};

/// Most bytes of the worker's stderr kept for an error message.
const MAX_STDERR_BYTES: usize = 64 << 10;
/// Longest progress line the parent reads.
const MAX_PROGRESS_LINE: usize = 64 << 10;
/// Largest checkpoint file the parent reads back.
const MAX_CHECKPOINT_BYTES: u64 = 1 << 30;
/// Environment variables passed to the worker; everything else is removed.
const PASSED_ENV: [&str; 5] = [
    "RAYON_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "LD_LIBRARY_PATH",
    "AIRLOCK_WORKER_LANDLOCK",
    "AIRLOCK_WORKER_NETNS",
];

/// Where the NVIDIA kernel driver reports itself once loaded.
pub const NVIDIA_DRIVER: &str = "/proc/driver/nvidia/version";

/// The argument by which `airlock` runs as its own built-in CPU worker
/// (`airlock __worker train JOB PARENT`); see [`crate::run`].
pub const EMBEDDED_ARG: &str = "__worker";

/// The program to start for a job, and the arguments that come before the job's own.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerProgram {
    /// The executable.
    pub path: PathBuf,
    /// Arguments before `train JOB PARENT` (`__worker` for the built-in worker).
    pub leading_args: Vec<OsString>,
    /// Why the parent chose the CPU for `auto` (a GPU worker installed but no driver).
    pub note: Option<String>,
}

/// The worker program for `device`:
/// - `airlock-worker-cuda` beside the running program when that build is installed and a GPU
///   is asked for (`cuda[:N]`), or `auto` is asked for and the NVIDIA driver is loaded (the
///   GPU worker links the driver's library and cannot start without it, so `auto` on a host
///   with no driver trains on the CPU and says so in the note);
/// - else `airlock-worker` beside the running program (the installed, lean CPU worker: runtime
///   and hardening only);
/// - else the running program itself, when it carries the worker (`embedded`: `airlock` does,
///   so a plain `cargo run --bin airlock` trains without installing anything else).
///
/// `AIRLOCK_WORKER` names another program (tests).
pub fn worker_program(device: DeviceChoice, embedded: bool) -> Result<WorkerProgram> {
    if let Some(p) = std::env::var_os("AIRLOCK_WORKER") {
        return Ok(WorkerProgram {
            path: PathBuf::from(p),
            leading_args: Vec::new(),
            note: None,
        });
    }
    let exe = std::env::current_exe().at(Path::new("/proc/self/exe"))?;
    let dirs: Vec<PathBuf> = exe
        .ancestors()
        .skip(1)
        .take(2)
        .map(Path::to_path_buf)
        .collect();
    let mut note = None;
    if device != DeviceChoice::Cpu {
        let gpu_worker = dirs
            .iter()
            .map(|d| d.join("airlock-worker-cuda"))
            .find(|p| p.is_file());
        if let Some(p) = gpu_worker {
            if device != DeviceChoice::Auto || Path::new(NVIDIA_DRIVER).exists() {
                return Ok(WorkerProgram {
                    path: p,
                    leading_args: Vec::new(),
                    note: None,
                });
            }
            note = Some(format!(
                "auto: using the CPU ({} is installed but no NVIDIA driver is loaded: \
                 {NVIDIA_DRIVER} is missing)",
                p.display()
            ));
        }
    }
    if let Some(p) = dirs
        .iter()
        .map(|d| d.join("airlock-worker"))
        .find(|p| p.is_file())
    {
        return Ok(WorkerProgram {
            path: p,
            leading_args: Vec::new(),
            note,
        });
    }
    if embedded {
        return Ok(WorkerProgram {
            path: exe,
            leading_args: vec![EMBEDDED_ARG.into()],
            note,
        });
    }
    Err(Error::NotFound(format!(
        "the training worker airlock-worker is not installed beside {}; reinstall Airlock",
        exe.display()
    )))
}

/// A checked training run: the validated model and what the worker reported, with the
/// parent's own metrics.
#[derive(Debug)]
pub struct Trained {
    /// The validated model.
    pub model: Model,
    /// The model file, as validated.
    pub weights: Vec<u8>,
    /// The worker's report, with `evaluation` replaced by the parent's recomputation.
    pub result: WorkerResult,
    /// The checkpoints asked for, each validated against the spec: (file name, bytes).
    pub checkpoints: Vec<(String, Vec<u8>)>,
}

/// A training job to run in the sandboxed worker.
pub struct TrainJob<'a> {
    /// The rows, labels and optional slice keys.
    pub data: TrainData<'a>,
    /// Hyperparameters.
    pub config: &'a TrainConfig,
    /// The device asked for.
    pub device: DeviceChoice,
    /// Paths the worker must not be able to read (the home's keys, store, vault).
    pub must_not_read: Vec<PathBuf>,
    /// Whether to bring back the worker's checkpoints.
    pub checkpoints: bool,
    /// Whether the running program carries the worker (see [`worker_program`]).
    pub embedded: bool,
}

fn create_private(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .at(path)
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    create_private(path)?.write_all(bytes).at(path)
}

/// Bytes of little-endian f32 values written at a time: the values are never copied whole.
const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// Writes `values` (slices of f32, in order) as little-endian f32 to a new private file at
/// `path`, a chunk at a time.
pub(crate) fn write_f32<'a>(path: &Path, values: impl Iterator<Item = &'a [f32]>) -> Result<()> {
    let mut f = create_private(path)?;
    let mut buf = Vec::with_capacity(WRITE_CHUNK_BYTES + 4096);
    for part in values {
        for v in part {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        if buf.len() >= WRITE_CHUNK_BYTES {
            f.write_all(&buf).at(path)?;
            buf.clear();
        }
    }
    f.write_all(&buf).at(path)
}

/// Trains `job` in a sandboxed worker in a private folder under `staging` (removed when this
/// returns; e.g. the vault's staging area), reporting epochs to `on_epoch`, and checks the
/// result.
///
/// The worker is told this process's id: it dies with this process (a parent-death signal,
/// checked after it is set), so a killed `airlock train` leaves no worker behind, and it holds
/// a lock on the job folder for as long as it runs ([`job_in_use`]).
pub fn train(
    staging: &Path,
    job: TrainJob<'_>,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Trained> {
    let data = job.data;
    let config = job.config;
    let job_dir = tempfile::Builder::new()
        .prefix(crate::JOB_PREFIX)
        .tempdir_in(staging)
        .at(staging)?;
    let input = job_dir.path().join("input");
    let output = job_dir.path().join("output");
    for d in [&input, &output] {
        std::fs::create_dir(d).at(d)?;
    }
    let program = worker_program(job.device, job.embedded)?;
    let spec = Job {
        config: config.clone(),
        rows: data.x.rows(),
        cols: data.x.cols(),
        device: job.device,
        slices: data.slices.is_some(),
        must_not_read: job.must_not_read,
        device_note: program.note.clone(),
    };
    let job_json = serde_json::to_vec(&spec).map_err(|e| Error::Rejected(e.to_string()))?;
    write_private(&input.join("job.json"), &job_json)?;
    // Straight from the one matrix the caller holds, row by row: no copy of it is made.
    write_f32(
        &input.join("x.f32"),
        (0..data.x.rows()).map(|i| data.x.row(i)),
    )?;
    write_f32(&input.join("y.f32"), std::iter::once(data.labels))?;
    if let Some(keys) = data.slices {
        let s = serde_json::to_vec(keys).map_err(|e| Error::Rejected(e.to_string()))?;
        write_private(&input.join("slices.json"), &s)?;
    }

    let mut cmd = Command::new(&program.path);
    cmd.args(&program.leading_args)
        .arg("train")
        .arg(job_dir.path())
        .arg(std::process::id().to_string())
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for k in PASSED_ENV {
        if let Some(v) = std::env::var_os(k) {
            cmd.env(k, v);
        }
    }
    let mut child = cmd.spawn().map_err(|e| {
        Error::Failed(format!(
            "cannot start the training worker {}: {e}",
            program.path.display()
        ))
    })?;
    let stderr = child.stderr.take();
    let stderr_reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(s) = stderr {
            // Keep the head, drain the rest so the worker never blocks on a full pipe.
            let mut s = s;
            let _ = (&mut s).take(MAX_STDERR_BYTES as u64).read_to_end(&mut buf);
            let _ = std::io::copy(&mut s, &mut std::io::sink());
        }
        buf
    });
    if let Some(stdout) = child.stdout.take() {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        loop {
            line.clear();
            let n = (&mut reader)
                .take(MAX_PROGRESS_LINE as u64)
                .read_line(&mut line)
                .unwrap_or(0);
            if n == 0 {
                break;
            }
            // Progress is display only; a line that does not parse is ignored.
            if let Ok(r) = serde_json::from_str::<EpochReport>(line.trim()) {
                on_epoch(&r);
            }
        }
    }
    let status = child.wait().map_err(|e| Error::Failed(e.to_string()))?;
    let stderr = stderr_reader.join().unwrap_or_default();
    if !status.success() {
        let msg = String::from_utf8_lossy(&stderr);
        let last = msg
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(Error::Failed(format!(
            "the training worker failed ({status}): {}",
            last.trim_start_matches("error: ")
        )));
    }

    let mut trained = check_outputs(&output, data, config)?;
    if job.checkpoints {
        let spec = config.spec(data.x.cols());
        for epoch in &trained.result.checkpoints {
            let name = format!("epoch-{epoch:04}.safetensors");
            let bytes = read_capped(
                &output.join("checkpoints").join(&name),
                MAX_CHECKPOINT_BYTES,
            )?;
            Model::from_safetensors(&bytes, &spec)
                .map_err(|e| Error::Rejected(format!("worker checkpoint {name}: {e}")))?;
            trained.checkpoints.push((name, bytes));
        }
    }
    Ok(trained)
}

pub(crate) fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>> {
    let f = std::fs::File::open(path)
        .map_err(|e| Error::Rejected(format!("the worker left no {}: {e}", path.display())))?;
    let mut buf = Vec::new();
    f.take(max + 1).read_to_end(&mut buf).at(path)?;
    if buf.len() as u64 > max {
        return Err(Error::Rejected(format!(
            "the worker's {} is larger than {max} bytes",
            path.display()
        )));
    }
    Ok(buf)
}

/// The parent's checks of a finished worker's output folder.
fn check_outputs(output: &Path, data: TrainData<'_>, config: &TrainConfig) -> Result<Trained> {
    let bad = |what: String| Error::Rejected(format!("the training worker's output: {what}"));
    let raw = read_capped(&output.join("result.json"), MAX_RESULT_BYTES)?;
    let mut result: WorkerResult =
        serde_json::from_slice(&raw).map_err(|e| bad(format!("result.json: {e}")))?;
    let spec = config.spec(data.x.cols());
    let weights = read_capped(&output.join("model.safetensors"), MAX_RESULT_BYTES * 64)?;
    let model = Model::from_safetensors(&weights, &spec)
        .map_err(|e| bad(format!("model.safetensors: {e}")))?;
    if result.history.is_empty() || result.history.len() > config.epochs {
        return Err(bad(format!(
            "{} epochs reported for at most {}",
            result.history.len(),
            config.epochs
        )));
    }
    if !(1..=result.history.len()).contains(&result.best_epoch) {
        return Err(bad(format!(
            "best epoch {} was never run",
            result.best_epoch
        )));
    }
    for (i, r) in result.history.iter().enumerate() {
        if r.epoch != i + 1 || !r.train_loss.is_finite() || !r.validation_loss.is_finite() {
            return Err(bad(format!(
                "epoch report {} is out of order or not finite",
                i + 1
            )));
        }
    }
    // The sandbox: a key the worker could read while Landlock claims to be in force means the
    // sandbox is not what it says; refuse the run.
    let landlock = result
        .sandbox
        .report
        .control("landlock")
        .is_some_and(|c| c.applied);
    if landlock
        && let Some(c) = result
            .sandbox
            .checks
            .iter()
            .find(|c| c.attempt.starts_with("read ") && !c.refused)
    {
        return Err(bad(format!(
            "the worker could {} although Landlock was reported in force; the run is refused",
            c.attempt
        )));
    }
    // Recompute every metric on the same split with the validated model.
    let evaluation = recompute(&model, data, config)?;
    if evaluation != result.evaluation {
        return Err(bad(
            "the metrics the worker reported differ from the parent's recomputation on the \
             same rows; the run is refused"
                .into(),
        ));
    }
    if result.split
        != (Split {
            train: evaluation.train.rows,
            validation: evaluation.validation.rows,
            holdout: evaluation.holdout.rows,
        })
    {
        return Err(bad("the split sizes disagree with the seeded split".into()));
    }
    result.evaluation = evaluation;
    Ok(Trained {
        model,
        weights,
        result,
        checkpoints: Vec::new(),
    })
}

/// The evaluation [`airlock_runtime::train`] reports, computed from the model on the seeded
/// split.
pub fn recompute(model: &Model, data: TrainData<'_>, config: &TrainConfig) -> Result<Evaluation> {
    let (train_idx, val_idx, holdout_idx) = airlock_runtime::split_rows(data.x.rows(), config);
    // Each split predicted straight from the one matrix, a chunk of rows at a time: no copy of
    // the split's rows (the same outputs as predicting a gathered copy, bit for bit).
    let part = |idx: &[usize]| -> Result<(airlock_runtime::Outputs, Vec<f32>)> {
        let y = idx.iter().map(|&i| data.labels[i]).collect();
        Ok((model.predict_rows(data.x, idx)?, y))
    };
    let (ho, y_ho) = part(&holdout_idx)?;
    let (va, y_va) = part(&val_idx)?;
    let (tr, y_tr) = part(&train_idx)?;
    let holdout_slices = match data.slices {
        Some(keys) => {
            let k: Vec<String> = holdout_idx.iter().map(|&i| keys[i].clone()).collect();
            evaluate_slices(&ho, &y_ho, &k)?
        }
        None => Default::default(),
    };
    Ok(Evaluation {
        holdout: evaluate(&ho, &y_ho)?,
        validation: evaluate(&va, &y_va)?,
        train: evaluate(&tr, &y_tr)?,
        holdout_slices,
    })
}
