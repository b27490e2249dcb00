//! Model files: safetensors encoding, and decoding that validates untrusted bytes.
//!
//! Pure functions over bytes and `f32` buffers (no candle, no I/O) so the parser can be fuzzed
//! alone. Decoding trusts nothing in the file and parses the header itself, check by check,
//! each with its own error:
//!
//! 1. the 8-byte length prefix is present and at most [`MAX_HEADER_BYTES`], and the header
//!    lies inside the file (a pickle or zip file is named as such);
//! 2. the header is a JSON object; `__metadata__`, when present, maps strings to strings and
//!    agrees with the expected [`ModelSpec`];
//! 3. at most [`MAX_TENSORS`] tensors, each exactly `{dtype, shape, data_offsets}`;
//! 4. the tensor names are exactly the spec's; dtype F32; shapes as declared;
//! 5. each tensor's byte size is computed from its shape with overflow checks and must equal
//!    its offset range;
//! 6. in name order, the ranges start at 0, follow each other with no gap and no overlap, and
//!    the last ends at the end of the file;
//! 7. every value is finite.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::config::ModelSpec;
use crate::error::{Error, Result};

/// Value of the `format` metadata key.
pub(crate) const FORMAT: &str = "airlock-model/2";
/// Largest accepted header. Airlock models have a few tensors; their header is well under
/// 4 KiB. The cap bounds JSON parsing work on hostile input.
pub const MAX_HEADER_BYTES: u64 = 1 << 20;
/// Most tensors accepted in one file (an MLP of 8 hidden layers has 18).
pub const MAX_TENSORS: usize = 64;
/// Bytes of the little-endian header length that opens every safetensors file.
const LEN_BYTES: usize = 8;
/// Bytes per F32 value.
const F32_BYTES: usize = 4;

/// Encodes `values` (one buffer per tensor of `spec.tensor_shapes()`, same order) as
/// safetensors. Tensors are laid out sorted by name; the header is built from ordered maps,
/// so equal weights always give identical bytes (the safetensors crate writes `__metadata__`
/// from a `HashMap`, whose order varies between runs, which is why this does not call
/// `safetensors::serialize`).
pub(crate) fn encode(spec: &ModelSpec, values: &[Vec<f32>]) -> Result<Vec<u8>> {
    let mut tensors: Vec<(String, Vec<usize>, &Vec<f32>)> = spec
        .tensor_shapes()
        .into_iter()
        .zip(values)
        .map(|((name, shape), v)| (name, shape, v))
        .collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    let spec_json = serde_json::to_string(spec).map_err(|e| Error::MalformedSafetensors {
        reason: format!("cannot write the spec: {e}"),
    })?;
    let mut header = Map::new();
    header.insert(
        "__metadata__".into(),
        json!({ "format": FORMAT, "spec": spec_json }),
    );
    let mut data = Vec::new();
    for (name, shape, tensor) in tensors {
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
    Ok(out)
}

/// Whether `bytes` open like a Python pickle (protocol 2 to 5: `0x80`, version) or a zip archive
/// (PyTorch's default `torch.save` format since 1.6).
fn looks_like_pickle(bytes: &[u8]) -> bool {
    matches!(bytes, [0x80, 2..=5, ..]) || bytes.starts_with(b"PK\x03\x04")
}

/// One tensor's header entry, exactly as the safetensors format defines it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::MalformedSafetensors {
        reason: reason.into(),
    }
}

/// Decodes and validates a model file for `spec`. Returns one buffer per tensor of
/// `spec.tensor_shapes()`, in that order.
pub(crate) fn decode(bytes: &[u8], spec: &ModelSpec) -> Result<Vec<Vec<f32>>> {
    spec.validate()?;
    let pickle_or = |other: Error| {
        if looks_like_pickle(bytes) {
            Error::PickleRefused
        } else {
            other
        }
    };
    // A legitimate header length can start with 0x80 (e.g. 640 bytes), so the pickle sniff only
    // names the failure; it does not decide it.
    let Some(len) = bytes.first_chunk::<LEN_BYTES>() else {
        return Err(pickle_or(malformed(format!(
            "{} bytes is shorter than the 8-byte header length",
            bytes.len()
        ))));
    };
    let header_len = u64::from_le_bytes(*len);
    if header_len > MAX_HEADER_BYTES {
        return Err(pickle_or(Error::HeaderTooLarge {
            len: header_len,
            max: MAX_HEADER_BYTES,
        }));
    }
    // Fits: at most 1 MiB.
    let header_len = header_len as usize;
    let Some(header) = bytes.get(LEN_BYTES..LEN_BYTES + header_len) else {
        return Err(pickle_or(malformed(format!(
            "the header is {header_len} bytes but the file has only {} after the length \
             (file truncated?)",
            bytes.len() - LEN_BYTES
        ))));
    };
    let data = &bytes[LEN_BYTES + header_len..];
    let header: Map<String, Value> = serde_json::from_slice(header)
        .map_err(|e| pickle_or(malformed(format!("the header is not a JSON object: {e}"))))?;

    let count = header.keys().filter(|k| *k != "__metadata__").count();
    if count > MAX_TENSORS {
        return Err(Error::TooManyTensors {
            count,
            max: MAX_TENSORS,
        });
    }
    let mut entries: Vec<(&str, Entry)> = Vec::with_capacity(count);
    for (name, value) in &header {
        if name == "__metadata__" {
            let meta: std::collections::BTreeMap<String, String> =
                serde_json::from_value(value.clone()).map_err(|e| {
                    malformed(format!("__metadata__ must map strings to strings: {e}"))
                })?;
            check_metadata(&meta, spec)?;
            continue;
        }
        let entry: Entry = serde_json::from_value(value.clone())
            .map_err(|e| malformed(format!("tensor {name:?}: {e}")))?;
        entries.push((name, entry));
    }

    let declared = spec.tensor_shapes();
    let missing: Vec<String> = declared
        .iter()
        .filter(|(n, _)| !header.contains_key(n))
        .map(|(n, _)| n.clone())
        .collect();
    if !missing.is_empty() {
        let mut names = missing;
        names.sort();
        return Err(Error::MissingTensors { names });
    }
    let mut extra: Vec<String> = entries
        .iter()
        .filter(|(n, _)| !declared.iter().any(|(d, _)| d == n))
        .map(|(n, _)| (*n).to_owned())
        .collect();
    if !extra.is_empty() {
        extra.sort();
        return Err(Error::UnexpectedTensors { names: extra });
    }

    // serde_json's map order depends on its features; the layout rule is name order.
    entries.sort_by(|a, b| a.0.cmp(b.0));
    let mut next = 0usize;
    for (name, e) in &entries {
        let shape = &declared
            .iter()
            .find(|(d, _)| d == name)
            .map(|(_, s)| s.clone())
            .unwrap_or_default();
        if e.dtype != "F32" {
            return Err(Error::TensorDtype {
                name: (*name).to_owned(),
                dtype: e.dtype.clone(),
            });
        }
        let size = e
            .shape
            .iter()
            .try_fold(F32_BYTES, |acc, &d| acc.checked_mul(d))
            .ok_or_else(|| Error::TensorSize {
                name: (*name).to_owned(),
                reason: format!("shape {:?} of F32 overflows the address space", e.shape),
            })?;
        if e.shape != *shape {
            return Err(Error::TensorShape {
                name: (*name).to_owned(),
                found: e.shape.clone(),
                expected: shape.clone(),
            });
        }
        let (start, end) = e.data_offsets;
        let layout = |reason: String| Error::TensorLayout {
            name: (*name).to_owned(),
            found: (start, end),
            reason,
        };
        if end < start {
            return Err(layout("it ends before it starts".into()));
        }
        if end - start != size {
            return Err(Error::TensorSize {
                name: (*name).to_owned(),
                reason: format!(
                    "{} bytes of data for shape {:?}, which needs {size}",
                    end - start,
                    e.shape
                ),
            });
        }
        if start < next {
            return Err(layout(format!(
                "overlaps the tensor before it in name order, which ends at {next}"
            )));
        }
        if start > next {
            return Err(layout(format!(
                "leaves a gap of {} bytes after the tensor before it in name order (tensors \
                 must be stored in name order, back to back)",
                start - next
            )));
        }
        if end > data.len() {
            return Err(layout(format!(
                "runs past the end of the data ({} bytes; file truncated?)",
                data.len()
            )));
        }
        next = end;
    }
    if next != data.len() {
        return Err(malformed(format!(
            "{} bytes of data follow the last tensor (trailing bytes)",
            data.len() - next
        )));
    }

    let mut out = Vec::with_capacity(declared.len());
    for (name, _) in &declared {
        let Some((_, e)) = entries.iter().find(|(n, _)| n == name) else {
            return Err(Error::MissingTensors {
                names: vec![name.clone()],
            });
        };
        let (start, end) = e.data_offsets;
        // Checked above; `get` keeps this panic-free regardless.
        let raw = data
            .get(start..end)
            .ok_or_else(|| malformed(format!("tensor {name:?} data lies outside the file")))?;
        let values: Vec<f32> = raw
            .chunks_exact(F32_BYTES)
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
    meta: &std::collections::BTreeMap<String, String>,
    spec: &ModelSpec,
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
    if let Some(found) = meta.get("spec")
        && serde_json::from_str::<ModelSpec>(found).ok().as_ref() != Some(spec)
    {
        return Err(Error::MetadataMismatch {
            key: "spec",
            found: found.clone(),
            expected: serde_json::to_string(spec).unwrap_or_default(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
