//! Model files: safetensors encoding, and decoding that validates untrusted bytes.
//!
//! Pure functions over bytes and `f32` buffers (no candle, no I/O) so the parser can be fuzzed
//! alone. Decoding trusts nothing in the file: the safetensors crate checks the header JSON,
//! offsets and bounds; this module adds a header size cap, a tensor count cap, the exact tensor
//! set of the architecture, F32 only, declared shapes and finite values.

use std::collections::BTreeSet;

use safetensors::{Dtype, SafeTensorError, SafeTensors};
use serde_json::{Map, Value, json};

use crate::config::Arch;
use crate::error::{Error, Result};

/// Value of the `format` metadata key.
pub(crate) const FORMAT: &str = "airlock-model/1";
/// Largest accepted header. Airlock models have a few tensors; their header is well under
/// 1 KiB. The cap bounds JSON parsing work on hostile input.
pub(crate) const MAX_HEADER_BYTES: u64 = 1 << 20;
/// Most tensors accepted in one file.
pub(crate) const MAX_TENSORS: usize = 64;
/// Bytes of the little-endian header length that opens every safetensors file.
const LEN_BYTES: usize = 8;

/// The arch as it appears in metadata; same shape as `Arch`'s serde form. Built by hand
/// because `serde_json::to_string` is fallible in type, not in fact.
fn arch_json(arch: Arch) -> Value {
    match arch {
        Arch::Logreg => json!({ "kind": "logreg" }),
        Arch::Mlp { hidden } => json!({ "kind": "mlp", "hidden": hidden }),
    }
}

/// Encodes `values` (one buffer per tensor of `arch.tensor_shapes(n_features)`, same order)
/// as safetensors. Tensors are laid out sorted by name; the header is built from ordered maps,
/// so equal weights always give identical bytes (the safetensors crate writes `__metadata__`
/// from a `HashMap`, whose order varies between runs, which is why this does not call
/// `safetensors::serialize`).
pub(crate) fn encode(arch: Arch, n_features: usize, values: &[Vec<f32>]) -> Vec<u8> {
    let shapes = arch.tensor_shapes(n_features);
    let mut header = Map::new();
    header.insert(
        "__metadata__".into(),
        json!({
            "arch": arch_json(arch).to_string(),
            "format": FORMAT,
            "n_features": n_features.to_string(),
        }),
    );
    let mut data = Vec::new();
    for ((name, shape), tensor) in shapes.into_iter().zip(values) {
        let start = data.len();
        for v in tensor {
            data.extend_from_slice(&v.to_le_bytes());
        }
        let entry = json!({ "data_offsets": [start, data.len()], "dtype": "F32", "shape": shape });
        header.insert(name, entry);
    }
    let mut header = Value::Object(header).to_string().into_bytes();
    // Pad with spaces to 8 bytes, as the safetensors crate does, so the data is aligned.
    header.resize(header.len().next_multiple_of(LEN_BYTES), b' ');

    let mut out = Vec::with_capacity(LEN_BYTES + header.len() + data.len());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&data);
    out
}

/// Whether `bytes` open like a Python pickle (protocol 2 to 5: `0x80`, version) or a zip archive
/// (PyTorch's default `torch.save` format since 1.6).
fn looks_like_pickle(bytes: &[u8]) -> bool {
    matches!(bytes, [0x80, 2..=5, ..]) || bytes.starts_with(b"PK\x03\x04")
}

/// Decodes and validates a model file for `arch` with `n_features` inputs. Returns one buffer
/// per tensor of `arch.tensor_shapes(n_features)`, in that order.
pub(crate) fn decode(bytes: &[u8], arch: Arch, n_features: usize) -> Result<Vec<Vec<f32>>> {
    arch.validate(n_features)?;
    let pickle_or = |other: Error| {
        if looks_like_pickle(bytes) {
            Error::PickleRefused
        } else {
            other
        }
    };
    // A legitimate header length can start with 0x80 (e.g. 640 bytes), so the pickle sniff only
    // names the failure; it does not decide it.
    let header_len = match bytes.first_chunk::<LEN_BYTES>() {
        Some(len) => u64::from_le_bytes(*len),
        None => {
            return Err(pickle_or(Error::MalformedSafetensors {
                reason: format!(
                    "{} bytes is shorter than the 8-byte header length",
                    bytes.len()
                ),
            }));
        }
    };
    if header_len > MAX_HEADER_BYTES {
        return Err(pickle_or(Error::HeaderTooLarge {
            len: header_len,
            max: MAX_HEADER_BYTES,
        }));
    }
    let (n, metadata) = SafeTensors::read_metadata(bytes).map_err(|e| {
        pickle_or(Error::MalformedSafetensors {
            reason: describe(&e),
        })
    })?;
    let infos = metadata.tensors();
    if infos.len() > MAX_TENSORS {
        return Err(Error::TooManyTensors {
            count: infos.len(),
            max: MAX_TENSORS,
        });
    }
    if let Some(meta) = metadata.metadata() {
        check_metadata(meta, arch, n_features)?;
    }

    let declared = arch.tensor_shapes(n_features);
    let declared_names: BTreeSet<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
    let found_names: BTreeSet<&str> = infos.keys().map(String::as_str).collect();
    let missing: Vec<String> = declared_names
        .difference(&found_names)
        .map(|n| (*n).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(Error::MissingTensors { names: missing });
    }
    let extra: Vec<String> = found_names
        .difference(&declared_names)
        .map(|n| (*n).to_owned())
        .collect();
    if !extra.is_empty() {
        return Err(Error::UnexpectedTensors { names: extra });
    }

    let data = bytes.get(LEN_BYTES + n..).unwrap_or_default();
    let mut out = Vec::with_capacity(declared.len());
    for (name, shape) in &declared {
        let Some(info) = infos.get(name) else {
            return Err(Error::MissingTensors {
                names: vec![name.clone()],
            });
        };
        if info.dtype != Dtype::F32 {
            return Err(Error::TensorDtype {
                name: name.clone(),
                dtype: info.dtype.to_string(),
            });
        }
        if info.shape != *shape {
            return Err(Error::TensorShape {
                name: name.clone(),
                found: info.shape.clone(),
                expected: shape.clone(),
            });
        }
        let (start, end) = info.data_offsets;
        // read_metadata has checked these offsets against the buffer; `get` keeps this
        // panic-free regardless.
        let raw = data
            .get(start..end)
            .ok_or_else(|| Error::MalformedSafetensors {
                reason: format!("tensor {name:?} data lies outside the file"),
            })?;
        let values: Vec<f32> = raw
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        if let Some(index) = values.iter().position(|v| !v.is_finite()) {
            return Err(Error::NonFiniteWeight {
                name: name.clone(),
                index,
            });
        }
        out.push(values);
    }
    Ok(out)
}

/// Metadata is optional (files exported from elsewhere carry none), but keys that are present
/// must agree with what the caller expects.
fn check_metadata(
    meta: &std::collections::HashMap<String, String>,
    arch: Arch,
    n_features: usize,
) -> Result<()> {
    if let Some(format) = meta.get("format")
        && format != FORMAT
    {
        return Err(Error::MetadataMismatch {
            key: "format",
            found: format.clone(),
            expected: FORMAT.into(),
        });
    }
    if let Some(found) = meta.get("arch")
        && serde_json::from_str::<Arch>(found).ok() != Some(arch)
    {
        return Err(Error::MetadataMismatch {
            key: "arch",
            found: found.clone(),
            expected: arch_json(arch).to_string(),
        });
    }
    if let Some(found) = meta.get("n_features")
        && found.parse::<usize>().ok() != Some(n_features)
    {
        return Err(Error::MetadataMismatch {
            key: "n_features",
            found: found.clone(),
            expected: n_features.to_string(),
        });
    }
    Ok(())
}

/// The safetensors crate's message, with a hint for the commonest cause.
fn describe(e: &SafeTensorError) -> String {
    match e {
        SafeTensorError::MetadataIncompleteBuffer | SafeTensorError::InvalidHeaderLength => {
            format!("{e} (file truncated or has trailing bytes?)")
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests;
