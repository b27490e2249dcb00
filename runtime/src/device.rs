//! Where training runs: [`DeviceChoice`] (`auto`, `cpu`, `cuda[:N]`) resolved to a candle
//! device and a [`DeviceInfo`] for the run record.
//!
//! The CUDA backend is compiled only with the `cuda` feature. Without it (or without a usable
//! GPU), `auto` falls back to the CPU, and says why in [`DeviceInfo::note`] only where a GPU is
//! present but unusable; `cuda` is an error that says how to get a GPU build.

use std::fmt;
use std::str::FromStr;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The device an operator asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// The first GPU when this build has CUDA and one is present, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// GPU number `N` (0-based); an error when there is none.
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            other => match other.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(DeviceChoice::Cuda(n)),
                _ => Err(Error::Device {
                    requested: other.to_owned(),
                    reason: "not a device; use auto, cpu, cuda or cuda:N".into(),
                }),
            },
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => f.write_str("auto"),
            DeviceChoice::Cpu => f.write_str("cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// What a run ran on, for its record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct DeviceInfo {
    /// `cpu` or `cuda:N`.
    pub kind: String,
    /// CPU model (from `/proc/cpuinfo`) or GPU name.
    pub name: String,
    /// Threads the CPU kernels may use (CPU), or 0.
    #[serde(default)]
    pub threads: usize,
    /// GPU memory in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// GPU compute capability, `major.minor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compute_capability: Option<String>,
    /// NVIDIA driver version (from `/proc/driver/nvidia/version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    /// CUDA version this binary was built against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_version: Option<String>,
    /// Why the device differs from the one asked for (`auto` falling back to the CPU).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Whether this build has the CUDA backend.
pub fn cuda_compiled() -> bool {
    cfg!(feature = "cuda")
}

/// The CPU's model name, from `/proc/cpuinfo` (`unknown` elsewhere).
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn cpu(note: Option<String>) -> (Device, DeviceInfo) {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    (
        Device::Cpu,
        DeviceInfo {
            kind: "cpu".into(),
            name: cpu_model(),
            threads,
            note,
            ..DeviceInfo::default()
        },
    )
}

/// Whether this host shows an NVIDIA GPU: the driver loaded (`/proc/driver/nvidia/version`)
/// or a GPU device node (`/dev/nvidia0` ...).
pub fn gpu_present() -> bool {
    std::path::Path::new("/proc/driver/nvidia/version").exists()
        || std::fs::read_dir("/dev").is_ok_and(|d| {
            d.flatten().any(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_prefix("nvidia"))
                    .is_some_and(|rest| {
                        !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit())
                    })
            })
        })
}

/// Resolves `choice` to a device.
///
/// # Errors
/// [`Error::Device`] for `cuda:N` when this build has no CUDA backend, or the GPU cannot be
/// opened (no driver, no such GPU).
pub fn select(choice: DeviceChoice) -> Result<(Device, DeviceInfo)> {
    match choice {
        DeviceChoice::Cpu => Ok(cpu(None)),
        DeviceChoice::Auto => match open_cuda(0) {
            Ok(found) => Ok(found),
            // A note only where a GPU is there but could not be used: on a host without one,
            // the CPU is simply what `auto` means.
            Err(e) if gpu_present() => Ok(cpu(Some(format!("auto: using the CPU ({e})")))),
            Err(_) => Ok(cpu(None)),
        },
        DeviceChoice::Cuda(n) => open_cuda(n),
    }
}

#[cfg(not(feature = "cuda"))]
fn open_cuda(n: usize) -> Result<(Device, DeviceInfo)> {
    Err(Error::Device {
        requested: format!("cuda:{n}"),
        reason: "this build has no CUDA backend; install the GPU worker \
                 (airlock-worker-cuda, docs/gpu.md) or use --device cpu"
            .into(),
    })
}

#[cfg(feature = "cuda")]
fn open_cuda(n: usize) -> Result<(Device, DeviceInfo)> {
    use candle_core::cuda_backend::cudarc::driver::CudaContext;
    let fail = |reason: String| Error::Device {
        requested: format!("cuda:{n}"),
        reason,
    };
    let ctx = CudaContext::new(n).map_err(|e| fail(format!("cannot open the GPU: {e}")))?;
    let name = ctx.name().map_err(|e| fail(e.to_string()))?;
    let memory = ctx.total_mem().map_err(|e| fail(e.to_string()))?;
    let (major, minor) = ctx.compute_capability().map_err(|e| fail(e.to_string()))?;
    drop(ctx);
    let device = Device::new_cuda(n).map_err(|e| fail(format!("cannot open the GPU: {e}")))?;
    let driver_version = std::fs::read_to_string("/proc/driver/nvidia/version")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .skip_while(|w| *w != "Module")
                .nth(1)
                .map(str::to_owned)
        });
    Ok((
        device,
        DeviceInfo {
            kind: format!("cuda:{n}"),
            name,
            threads: 0,
            memory_bytes: Some(memory as u64),
            compute_capability: Some(format!("{major}.{minor}")),
            driver_version,
            cuda_version: option_env!("CUDARC_CUDA_VERSION").map(str::to_owned),
            note: None,
        },
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_print() {
        for (s, want) in [
            ("auto", DeviceChoice::Auto),
            ("cpu", DeviceChoice::Cpu),
            ("cuda", DeviceChoice::Cuda(0)),
            ("cuda:3", DeviceChoice::Cuda(3)),
        ] {
            assert_eq!(s.parse::<DeviceChoice>().unwrap(), want);
        }
        assert_eq!(DeviceChoice::Cuda(1).to_string(), "cuda:1");
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", ""] {
            let err = bad.parse::<DeviceChoice>().unwrap_err();
            assert!(
                err.to_string().contains("use auto, cpu, cuda or cuda:N"),
                "{err}"
            );
        }
    }

    #[test]
    #[cfg(not(feature = "cuda"))]
    fn without_cuda_auto_falls_back_and_cuda_is_an_error() {
        let (device, info) = select(DeviceChoice::Auto).unwrap();
        assert!(device.is_cpu());
        assert_eq!(info.kind, "cpu");
        assert!(info.threads >= 1);
        if gpu_present() {
            let note = info.note.unwrap();
            assert!(note.contains("no CUDA backend"), "{note}");
        } else {
            // No GPU on this host: `auto` means the CPU, and no note says otherwise.
            assert_eq!(info.note, None);
        }
        let err = select(DeviceChoice::Cuda(0)).unwrap_err().to_string();
        assert!(
            err.starts_with("device cuda:0: this build has no CUDA backend"),
            "{err}"
        );
        let (_, info) = select(DeviceChoice::Cpu).unwrap();
        assert_eq!(info.note, None);
    }
}
