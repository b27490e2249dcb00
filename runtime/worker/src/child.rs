//! The worker's side: enter the sandbox, read the job, train, write the outputs.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use airlock_hardening::sandbox::{self, SandboxPolicy, SandboxReport};
use airlock_runtime::{DeviceChoice, Event, Matrix, TrainData};
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::parent::read_capped;
use crate::protocol::{Job, MAX_RESULT_BYTES, SandboxRecord, SelfCheck, WorkerResult};

/// The sandbox policy of a job folder: read `input/`, write `output/`, die with `parent`. The
/// `AIRLOCK_WORKER_LANDLOCK=off` and `AIRLOCK_WORKER_NETNS=off` settings exist for hosts
/// whose kernel refuses them outright; what is off is recorded as not requested.
pub fn policy(job: &Path, device: Option<DeviceChoice>, parent: Option<u32>) -> SandboxPolicy {
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
        parent,
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

/// Bytes read at a time by [`read_f32`].
const READ_CHUNK_BYTES: usize = 1 << 20;

/// Reads `count` little-endian f32 values from `path`, a chunk at a time straight into the one
/// vector (the file's bytes are never held whole beside it). The file must hold exactly that
/// many.
fn read_f32(path: &Path, count: usize) -> Result<Vec<f32>> {
    let wrong = |bytes: u64| {
        Error::Rejected(format!(
            "{}: {bytes} bytes, expected {count} f32 values",
            path.display()
        ))
    };
    let mut f = std::fs::File::open(path).at(path)?;
    let len = f.metadata().at(path)?.len();
    let want = count.checked_mul(4).ok_or_else(|| wrong(len))?;
    if len != want as u64 {
        return Err(wrong(len));
    }
    let mut values = Vec::with_capacity(count);
    let mut buf = vec![0u8; READ_CHUNK_BYTES.min(want)];
    let mut left = want;
    while left > 0 {
        let n = left.min(buf.len());
        f.read_exact(&mut buf[..n]).at(path)?;
        values.extend(
            buf[..n]
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        left -= n;
    }
    // Nothing may follow (the file grew since its length was read).
    if f.read(&mut [0u8; 1]).at(path)? != 0 {
        return Err(wrong(len + 1));
    }
    Ok(values)
}

/// Takes the job folder's lock, held until the worker exits (see [`crate::job_in_use`]).
fn lock_job(job_dir: &Path) -> Result<nix::fcntl::Flock<std::fs::File>> {
    let dir = std::fs::File::open(job_dir).at(job_dir)?;
    nix::fcntl::Flock::lock(dir, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
        Error::Rejected(format!(
            "{}: the job folder is locked by another worker ({e})",
            job_dir.display()
        ))
    })
}

/// `airlock-worker train JOB PARENT`: takes the job folder's lock, enters the sandbox (dying
/// with process `PARENT`), trains, writes the outputs. Call first thing in `main`, before any
/// thread exists.
pub fn run_train(job_dir: &Path, parent: u32) -> Result<()> {
    // /proc/cpuinfo is out of the sandbox's reach: read the CPU's name first (no thread).
    let cpu_name = airlock_runtime::device::cpu_model();
    let _lock = lock_job(job_dir)?;
    // Before reading anything. The device is not known yet, so a CUDA build's policy admits
    // the driver's paths whenever it could use them.
    let pol = policy(job_dir, Some(DeviceChoice::Auto), Some(parent));
    let report = sandbox::enter(&pol);
    if let Some(c) = report.control(sandbox::DIES_WITH_PARENT)
        && !c.applied
    {
        // Orphaned before training started, or the kernel refused: a worker that could
        // outlive `airlock train` must not run (issue: kill -9 of train left it running).
        return Err(Error::Failed(format!(
            "the worker cannot be tied to its parent: {}",
            c.error.as_deref().unwrap_or("unknown")
        )));
    }
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
/// checking a host.
pub fn run_probe(job_dir: &Path, connect: std::net::SocketAddr, read: &Path) -> ProbeReport {
    let before = sandbox::probe(connect, read);
    let report = sandbox::enter(&policy(job_dir, Some(DeviceChoice::Cpu), None));
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn job_matrices_round_trip_in_chunks_and_a_wrong_length_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        // More than one chunk each way, and a last chunk that is not full.
        let values: Vec<f32> = (0..(READ_CHUNK_BYTES / 4) * 2 + 3)
            .map(|i| i as f32 * 0.5 - 7.25)
            .collect();
        let path = dir.path().join("x.f32");
        crate::parent::write_f32(&path, values.chunks(1000)).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            values.len() as u64 * 4
        );
        assert_eq!(read_f32(&path, values.len()).unwrap(), values);
        for count in [values.len() - 1, values.len() + 1] {
            let err = read_f32(&path, count).unwrap_err().to_string();
            assert!(
                err.contains(&format!("expected {count} f32 values")),
                "{err}"
            );
        }
    }
}
