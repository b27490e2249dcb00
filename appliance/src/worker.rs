//! The training worker: a separate, sandboxed process that turns a feature matrix into model
//! weights, and the parent's side that starts it and checks what it returns.
//!
//! `airlock train` never trains in its own process, which holds the site keys and the open
//! vault. It writes the job into a private folder under the vault's staging area and starts
//! `airlock-worker train JOB` (or `airlock-worker-cuda` for a GPU, see docs/gpu.md):
//!
//! ```text
//! JOB/                 0700, removed afterwards (and by recovery if `airlock` dies)
//!   input/             read-only to the worker
//!     job.json         TrainConfig, shape, device, paths the worker must NOT be able to read
//!     x.f32            the feature matrix, row-major little-endian f32
//!     y.f32            the labels
//!     slices.json      one slice key per row (optional)
//!   output/            the only place the worker may write
//!     model.safetensors
//!     result.json      history, split, device, sandbox report, self-check, metrics
//!     checkpoints/epoch-NNNN.safetensors
//! ```
//!
//! The worker enters the sandbox ([`airlock_hardening::sandbox`]) before it reads a byte:
//! no new privileges, no core dumps, resource limits, a network namespace, Landlock rules
//! that allow reading `input/` and writing `output/` only. Its environment is emptied but for
//! a few thread and GPU settings, so no secret passes in. It then checks its own sandbox: it
//! tries to read the home's `keys/`, `vault/` and `store.db` and to open a TCP connection,
//! and reports what happened. Progress goes to its stdout as JSON lines.
//!
//! The parent trusts none of it: it reads `result.json` with a size cap and a strict schema,
//! loads `model.safetensors` through the validating loader against the spec it asked for,
//! recomputes every metric on the same split itself and refuses the run if the worker's
//! figures differ, refuses a run whose self-check read a key while Landlock claimed to be in
//! force, and records the sandbox report (every control, applied or not) in the run record.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use airlock_hardening::sandbox::{self, SandboxPolicy, SandboxReport};
use airlock_runtime::{
    DeviceChoice, DeviceInfo, EpochReport, Evaluation, Event, Matrix, Model, ModelSpec, Split,
    TrainConfig, TrainData, evaluate, evaluate_slices,
};

use crate::error::{Error, IoContext, Result};

/// Largest `result.json` the parent reads.
const MAX_RESULT_BYTES: u64 = 16 << 20;
/// Most bytes of the worker's stderr kept for an error message.
const MAX_STDERR_BYTES: usize = 64 << 10;
/// Longest progress line the parent reads.
const MAX_PROGRESS_LINE: usize = 64 << 10;
/// Environment variables passed to the worker; everything else is removed.
const PASSED_ENV: [&str; 5] = [
    "RAYON_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "LD_LIBRARY_PATH",
    "AIRLOCK_WORKER_LANDLOCK",
    "AIRLOCK_WORKER_NETNS",
];

/// The job, as the parent writes it to `input/job.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Hyperparameters, task, architecture, seed.
    pub config: TrainConfig,
    /// Rows of `x.f32`.
    pub rows: usize,
    /// Columns of `x.f32`.
    pub cols: usize,
    /// The device asked for.
    pub device: DeviceChoice,
    /// Whether `slices.json` is present.
    pub slices: bool,
    /// Paths the worker must not be able to read; it tries, and reports.
    pub must_not_read: Vec<PathBuf>,
    /// Why the parent chose the CPU worker for `auto`, when it knows better than the worker
    /// (a GPU worker installed but no driver loaded); it becomes the device's note.
    #[serde(default)]
    pub device_note: Option<String>,
}

/// One check the worker made of its own sandbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelfCheck {
    /// What was tried: `read PATH` or `connect ADDR`.
    pub attempt: String,
    /// Whether it was refused (what the sandbox should do).
    pub refused: bool,
    /// The error, when refused.
    pub error: Option<String>,
}

/// The worker's sandbox, as recorded in the run record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxRecord {
    /// Every control, applied or not.
    pub report: SandboxReport,
    /// What the worker's self-check found.
    pub checks: Vec<SelfCheck>,
}

/// What the worker reports in `output/result.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerResult {
    /// Per-epoch history.
    pub history: Vec<EpochReport>,
    /// Split sizes.
    pub split: Split,
    /// The epoch whose weights the model holds.
    pub best_epoch: usize,
    /// Whether early stopping ended training.
    pub stopped_early: bool,
    /// Class weights applied.
    pub class_weights: Vec<f64>,
    /// Metrics, as the worker computed them (the parent recomputes).
    pub evaluation: Evaluation,
    /// The device it ran on.
    pub device: DeviceInfo,
    /// Its sandbox.
    pub sandbox: SandboxRecord,
    /// Checkpoints written, by epoch.
    pub checkpoints: Vec<usize>,
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
}

/// Where the NVIDIA kernel driver reports itself once loaded.
const NVIDIA_DRIVER: &str = "/proc/driver/nvidia/version";

/// The worker program for `device`: `airlock-worker` beside the running program, or
/// `airlock-worker-cuda` when that build is installed and a GPU is asked for (`cuda[:N]`), or
/// `auto` is asked for and the NVIDIA driver is loaded: the GPU worker links the driver's
/// library and cannot start without it, so `auto` on a host with no driver trains on the CPU
/// and says so (the note returned beside the program). `AIRLOCK_WORKER` names another (tests).
pub fn worker_program(device: DeviceChoice) -> Result<(PathBuf, Option<String>)> {
    if let Some(p) = std::env::var_os("AIRLOCK_WORKER") {
        return Ok((PathBuf::from(p), None));
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
                return Ok((p, None));
            }
            note = Some(format!(
                "auto: using the CPU ({} is installed but no NVIDIA driver is loaded: \
                 {NVIDIA_DRIVER} is missing)",
                p.display()
            ));
        }
    }
    for d in &dirs {
        let p = d.join("airlock-worker");
        if p.is_file() {
            return Ok((p, note));
        }
    }
    Err(Error::NotFound(format!(
        "the training worker airlock-worker is not installed beside {}; reinstall Airlock",
        exe.display()
    )))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .at(path)?;
    f.write_all(bytes).at(path)?;
    Ok(())
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Trains in a sandboxed worker under `staging` (a private folder the caller removes, e.g.
/// the vault's staging area), reporting epochs to `on_epoch`, and checks the result.
#[allow(clippy::too_many_arguments)]
pub fn train(
    staging: &Path,
    data: TrainData<'_>,
    config: &TrainConfig,
    device: DeviceChoice,
    must_not_read: Vec<PathBuf>,
    checkpoints: Option<&Path>,
    on_epoch: &mut dyn FnMut(&EpochReport),
) -> Result<Trained> {
    let job_dir = tempfile::Builder::new()
        .prefix("train-job-")
        .tempdir_in(staging)
        .at(staging)?;
    let input = job_dir.path().join("input");
    let output = job_dir.path().join("output");
    for d in [&input, &output] {
        std::fs::create_dir(d).at(d)?;
    }
    let (program, device_note) = worker_program(device)?;
    let job = Job {
        config: config.clone(),
        rows: data.x.rows(),
        cols: data.x.cols(),
        device,
        slices: data.slices.is_some(),
        must_not_read,
        device_note,
    };
    let job_json = serde_json::to_vec(&job).map_err(|e| Error::Rejected(e.to_string()))?;
    write_private(&input.join("job.json"), &job_json)?;
    let x: Vec<f32> = (0..data.x.rows())
        .flat_map(|i| data.x.row(i).to_vec())
        .collect();
    write_private(&input.join("x.f32"), &f32_bytes(&x))?;
    drop(x);
    write_private(&input.join("y.f32"), &f32_bytes(data.labels))?;
    if let Some(keys) = data.slices {
        let s = serde_json::to_vec(keys).map_err(|e| Error::Rejected(e.to_string()))?;
        write_private(&input.join("slices.json"), &s)?;
    }

    let mut cmd = Command::new(&program);
    cmd.arg("train")
        .arg(job_dir.path())
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
        Error::Rejected(format!(
            "cannot start the training worker {}: {e}",
            program.display()
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
    let status = child.wait().map_err(|e| Error::Rejected(e.to_string()))?;
    let stderr = stderr_reader.join().unwrap_or_default();
    if !status.success() {
        let msg = String::from_utf8_lossy(&stderr);
        let last = msg
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("no message");
        return Err(Error::Rejected(format!(
            "the training worker failed ({status}): {}",
            crate::text::Untrusted(last.trim_start_matches("error: "))
        )));
    }

    let trained = check_outputs(&output, data, config)?;
    if let Some(dest) = checkpoints {
        copy_checkpoints(
            &output,
            dest,
            &trained.result.checkpoints,
            &config.spec(data.x.cols()),
        )?;
    }
    Ok(trained)
}

/// Validates each checkpoint and copies it to `dest` (a folder the operator named).
fn copy_checkpoints(output: &Path, dest: &Path, epochs: &[usize], spec: &ModelSpec) -> Result<()> {
    std::fs::create_dir_all(dest).at(dest)?;
    for epoch in epochs {
        let name = format!("epoch-{epoch:04}.safetensors");
        let src = output.join("checkpoints").join(&name);
        let bytes = read_capped(&src, 1 << 30)?;
        Model::from_safetensors(&bytes, spec)
            .map_err(|e| Error::Rejected(format!("worker checkpoint {name}: {e}")))?;
        crate::fsx::write_atomic(&dest.join(&name), &bytes)?;
    }
    Ok(())
}

fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>> {
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
    let mut result: WorkerResult = serde_json::from_slice(&raw)
        .map_err(|e| bad(format!("result.json: {}", crate::text::error_text(&e))))?;
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
    })
}

/// The evaluation [`airlock_runtime::train`] reports, computed from the model on the seeded
/// split.
pub fn recompute(model: &Model, data: TrainData<'_>, config: &TrainConfig) -> Result<Evaluation> {
    let (train_idx, val_idx, holdout_idx) = airlock_runtime::split_rows(data.x.rows(), config);
    let part = |idx: &[usize]| -> Result<(airlock_runtime::Outputs, Vec<f32>)> {
        let values: Vec<f32> = idx.iter().flat_map(|&i| data.x.row(i).to_vec()).collect();
        let m = Matrix::new(values, idx.len(), data.x.cols())?;
        let y = idx.iter().map(|&i| data.labels[i]).collect();
        Ok((model.predict(&m)?, y))
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

// ---------------------------------------------------------------------------------------------
// The worker's side.

/// The sandbox policy of a job folder: read `input/`, write `output/`. The
/// `AIRLOCK_WORKER_LANDLOCK=off` and `AIRLOCK_WORKER_NETNS=off` settings exist for hosts
/// whose kernel refuses them outright; what is off is recorded as not requested.
pub fn policy(job: &Path, device: Option<DeviceChoice>) -> SandboxPolicy {
    let mut read_only = vec![job.join("input")];
    let mut read_write = vec![job.join("output")];
    if matches!(
        device,
        Some(DeviceChoice::Cuda(_)) | Some(DeviceChoice::Auto)
    ) && cfg!(feature = "cuda")
    {
        // The CUDA driver and libraries: device nodes, driver state, shared libraries.
        for p in [
            "/dev",
            "/proc",
            "/sys",
            "/usr",
            "/lib",
            "/lib64",
            "/etc/ld.so.cache",
        ] {
            if Path::new(p).exists() {
                if p == "/dev" {
                    read_write.push(p.into());
                } else {
                    read_only.push(p.into());
                }
            }
        }
        // The CUDA libraries the operator pointed the loader at (docs/gpu.md), and nothing
        // else beneath /opt or wherever they live: a home under the same folder stays out.
        if let Some(paths) = std::env::var_os("LD_LIBRARY_PATH") {
            read_only
                .extend(std::env::split_paths(&paths).filter(|p| p.is_absolute() && p.is_dir()));
        }
    }
    let off = |k: &str| std::env::var(k).is_ok_and(|v| v == "off");
    SandboxPolicy {
        read_only,
        read_write,
        isolate_network: !off("AIRLOCK_WORKER_NETNS"),
        landlock: !off("AIRLOCK_WORKER_LANDLOCK"),
        ..SandboxPolicy::default()
    }
}

fn self_check(must_not_read: &[PathBuf]) -> Vec<SelfCheck> {
    let mut checks = Vec::new();
    for p in must_not_read {
        let r = std::fs::File::open(p).and_then(|mut f| {
            if f.metadata()?.is_dir() {
                std::fs::read_dir(p).map(|_| ())
            } else {
                f.read(&mut [0u8; 1]).map(|_| ())
            }
        });
        checks.push(SelfCheck {
            attempt: format!("read {}", p.display()),
            refused: r.is_err(),
            error: r.err().map(|e| e.to_string()),
        });
    }
    // Port 9 (discard): nothing listens in a sandbox; outside one, a refusal would also
    // fail, so the error text is what tells (network unreachable, or permission denied).
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    let r = std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(2));
    checks.push(SelfCheck {
        attempt: format!("connect {addr}"),
        refused: r.is_err(),
        error: r.err().map(|e| e.to_string()),
    });
    checks
}

fn read_f32(path: &Path, count: usize) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).at(path)?;
    if Some(bytes.len()) != count.checked_mul(4) {
        return Err(Error::Rejected(format!(
            "{}: {} bytes, expected {count} f32 values",
            path.display(),
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// `airlock-worker train JOB`: enters the sandbox, trains, writes the outputs. Call first
/// thing in `main`, before any thread exists.
pub fn run_train(job_dir: &Path) -> Result<()> {
    // /proc/cpuinfo is out of the sandbox's reach: read the CPU's name first (no thread).
    let cpu_name = airlock_runtime::device::cpu_model();
    // Before reading anything. The device is not known yet, so a CUDA build's policy admits
    // the driver's paths whenever it could use them.
    let pol = policy(job_dir, Some(DeviceChoice::Auto));
    let report = sandbox::enter(&pol);
    for c in report.failures() {
        eprintln!(
            "warning: worker sandbox control {} is not in force: {}",
            c.name,
            c.error.as_deref().unwrap_or("unknown")
        );
    }
    let input = job_dir.join("input");
    let output = job_dir.join("output");
    let raw = read_capped(&input.join("job.json"), MAX_RESULT_BYTES)?;
    let job: Job =
        serde_json::from_slice(&raw).map_err(|e| Error::Rejected(format!("job.json: {e}")))?;
    let checks = self_check(&job.must_not_read);
    let count = job
        .rows
        .checked_mul(job.cols)
        .ok_or_else(|| Error::Rejected("job.json: rows x cols overflows".into()))?;
    let x = Matrix::new(read_f32(&input.join("x.f32"), count)?, job.rows, job.cols)?;
    let y = read_f32(&input.join("y.f32"), job.rows)?;
    let slices: Option<Vec<String>> = if job.slices {
        let raw = read_capped(&input.join("slices.json"), 1 << 30)?;
        Some(serde_json::from_slice(&raw).map_err(|e| Error::Rejected(format!("slices: {e}")))?)
    } else {
        None
    };
    let (device, mut info) = airlock_runtime::device::select(job.device)?;
    if info.kind == "cpu" {
        info.name = cpu_name;
        if job.device_note.is_some() {
            info.note = job.device_note.clone();
        }
    }
    if let Some(note) = &info.note {
        eprintln!("note: {note}");
    }
    let ckpt = output.join("checkpoints");
    let mut checkpoints = Vec::new();
    let mut stdout = std::io::stdout().lock();
    let data = TrainData {
        x: &x,
        labels: &y,
        slices: slices.as_deref(),
    };
    let outcome = airlock_runtime::train(data, &job.config, &device, &mut |e| {
        match e {
            Event::Epoch(r) => {
                if let Ok(line) = serde_json::to_string(r) {
                    // The parent may have stopped reading; progress is not essential.
                    let _ = writeln!(stdout, "{line}");
                    let _ = stdout.flush();
                }
            }
            Event::Checkpoint { epoch, model } => {
                std::fs::create_dir_all(&ckpt).map_err(|e| {
                    airlock_runtime::Error::Stopped(format!("checkpoint folder: {e}"))
                })?;
                let bytes = model.to_safetensors()?;
                std::fs::write(ckpt.join(format!("epoch-{epoch:04}.safetensors")), bytes).map_err(
                    |e| airlock_runtime::Error::Stopped(format!("checkpoint {epoch}: {e}")),
                )?;
                checkpoints.push(epoch);
            }
        }
        Ok(())
    })?;
    let weights = outcome.model.to_safetensors()?;
    let path = output.join("model.safetensors");
    std::fs::write(&path, weights).at(&path)?;
    let result = WorkerResult {
        history: outcome.history,
        split: outcome.split,
        best_epoch: outcome.best_epoch,
        stopped_early: outcome.stopped_early,
        class_weights: outcome.class_weights,
        evaluation: outcome.evaluation,
        device: info,
        sandbox: SandboxRecord { report, checks },
        checkpoints,
    };
    let json = serde_json::to_vec(&result).map_err(|e| Error::Rejected(e.to_string()))?;
    let path = output.join("result.json");
    std::fs::write(&path, json).at(&path)?;
    Ok(())
}

/// What `airlock-worker probe` prints: the sandbox report and the probe's findings.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The sandbox as entered.
    pub sandbox: SandboxReport,
    /// Before the sandbox: the same attempts, to show they would succeed.
    pub before: sandbox::ProbeResult,
    /// Inside the sandbox.
    pub inside: sandbox::ProbeResult,
    /// Whether the worker could still read and write its own folders inside.
    pub own_folders_usable: bool,
}

/// `airlock-worker probe JOB ADDR PATH`: enters the same sandbox as a training job on `JOB`,
/// then tries a TCP connection to `ADDR` and a read of `PATH`. For tests and for an operator
/// checking a host (`airlock check sandbox`).
pub fn run_probe(job_dir: &Path, connect: std::net::SocketAddr, read: &Path) -> ProbeReport {
    let before = sandbox::probe(connect, read);
    let report = sandbox::enter(&policy(job_dir, Some(DeviceChoice::Cpu)));
    let inside = sandbox::probe(connect, read);
    let own = std::fs::read_dir(job_dir.join("input")).is_ok()
        && std::fs::write(job_dir.join("output").join("probe"), b"ok").is_ok();
    ProbeReport {
        sandbox: report,
        before,
        inside,
        own_folders_usable: own,
    }
}
