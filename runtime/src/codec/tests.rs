//! One named test vector per malformed model file, plus encoding properties.
//!
//! Each `malformed_*` test builds the smallest file with exactly one defect and checks the
//! loader refuses it with the error that names that defect.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::HashMap;

use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

use super::*;
use crate::config::{Arch, Task};
use crate::{Matrix, Model};

fn logreg3() -> ModelSpec {
    ModelSpec {
        task: Task::Binary,
        arch: Arch::Logreg,
        n_features: 3,
    }
}

/// A valid logreg file for 3 features: weights [1, -2, 3], bias 0.5.
fn logreg_file() -> Vec<u8> {
    encode(&logreg3(), &[vec![1.0, -2.0, 3.0], vec![0.5]]).unwrap()
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A file with a hand-written header (no padding) and data section.
fn raw(header: &str, data: &[u8]) -> Vec<u8> {
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    out
}

/// The 16 data bytes of the valid logreg file: bias then weight (name order).
fn logreg_data() -> Vec<u8> {
    f32_bytes(&[0.5, 1.0, -2.0, 3.0])
}

/// A logreg header with the given bias and weight entries.
fn header(bias: &str, weight: &str) -> String {
    format!(r#"{{"linear.bias":{bias},"linear.weight":{weight}}}"#)
}

const BIAS: &str = r#"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#;
const WEIGHT: &str = r#"{"dtype":"F32","shape":[1,3],"data_offsets":[4,16]}"#;

/// A file written by the safetensors crate itself (as another tool would).
fn foreign_file(
    tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)],
    metadata: Option<HashMap<String, String>>,
) -> Vec<u8> {
    let views: Vec<(&str, TensorView<'_>)> = tensors
        .iter()
        .map(|(name, dtype, shape, data)| {
            (*name, TensorView::new(*dtype, shape.clone(), data).unwrap())
        })
        .collect();
    safetensors::serialize(views, metadata).unwrap()
}

fn load(bytes: &[u8]) -> Result<Model> {
    Model::from_safetensors(bytes, &logreg3())
}

fn refusal(bytes: &[u8]) -> String {
    load(bytes).unwrap_err().to_string()
}

#[test]
fn encode_is_standard_sorted_safetensors() {
    let spec = ModelSpec {
        task: Task::Binary,
        arch: Arch::mlp(&[2]),
        n_features: 1,
    };
    let bytes = encode(
        &spec,
        &[vec![0.0, 1.0], vec![2.0, 3.0], vec![4.0, 5.0], vec![6.0]],
    )
    .unwrap();
    // The reference parser reads it.
    let (n, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(n % 8, 0);
    assert_eq!(
        meta.offset_keys(),
        ["l1.bias", "l1.weight", "l2.bias", "l2.weight"]
    );
    let m = meta.metadata().as_ref().unwrap();
    assert_eq!(m["format"], "airlock-model/2");
    assert_eq!(serde_json::from_str::<ModelSpec>(&m["spec"]).unwrap(), spec);
    // Data section is the values in name order, little-endian.
    let data = &bytes[8 + n..];
    assert_eq!(data, f32_bytes(&[2.0, 3.0, 0.0, 1.0, 6.0, 4.0, 5.0]));
}

#[test]
fn round_trip_gives_same_bytes_and_predictions() {
    let model = load(&logreg_file()).unwrap();
    assert_eq!(model.to_safetensors().unwrap(), logreg_file());
    let x = Matrix::new(vec![1.0, 1.0, 1.0, -1.0, 0.5, 0.0], 2, 3).unwrap();
    let again = load(&model.to_safetensors().unwrap()).unwrap();
    assert_eq!(
        model.predict_proba(&x).unwrap(),
        again.predict_proba(&x).unwrap()
    );
}

#[test]
fn a_file_from_another_tool_without_metadata_is_accepted() {
    let bytes = foreign_file(
        &[
            ("linear.bias", Dtype::F32, vec![1], f32_bytes(&[0.5])),
            (
                "linear.weight",
                Dtype::F32,
                vec![1, 3],
                f32_bytes(&[1.0, -2.0, 3.0]),
            ),
        ],
        None,
    );
    let model = load(&bytes).unwrap();
    assert_eq!(model.to_safetensors().unwrap(), logreg_file());
    // And the hand-built minimal file is the same model.
    assert!(load(&raw(&header(BIAS, WEIGHT), &logreg_data())).is_ok());
}

#[test]
fn a_header_length_resembling_pickle_is_accepted() {
    // A 640-byte header has length bytes 80 02 00 ..., the same opening as a pickle.
    let mut h = header(BIAS, WEIGHT);
    h.push_str(&" ".repeat(640 - h.len()));
    let padded = raw(&h, &logreg_data());
    assert_eq!(&padded[..2], &[0x80, 0x02]);
    assert!(load(&padded).is_ok());
}

#[test]
fn malformed_pickle() {
    // Start of a protocol-2 pickle as written by legacy torch.save.
    let pickle = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.\x80\x02}q\x00(X\x10\x00\x00\x00protocol_versionq\x01M\xe9\x03X\r\x00\x00\x00little_endianq\x02\x88u.";
    let err = load(pickle).unwrap_err();
    assert!(matches!(err, Error::PickleRefused), "{err}");
    assert!(err.to_string().contains("pickle/PyTorch"));
    // Even a pickle too short to hold a length is named as such.
    assert!(matches!(load(b"\x80\x04."), Err(Error::PickleRefused)));
}

#[test]
fn malformed_pytorch_zip() {
    let zip = b"PK\x03\x04\x00\x00\x08\x08\x00\x00\x00\x00\x00\x00archive/data.pkl";
    assert!(matches!(load(zip), Err(Error::PickleRefused)));
}

#[test]
fn malformed_length_prefix_truncated() {
    let err = refusal(&[16, 0, 0]);
    assert!(
        err.contains("shorter than the 8-byte header length"),
        "{err}"
    );
}

#[test]
fn malformed_header_over_the_cap() {
    let mut bytes = (MAX_HEADER_BYTES + 1).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{}");
    assert!(matches!(
        load(&bytes),
        Err(Error::HeaderTooLarge { len, .. }) if len == MAX_HEADER_BYTES + 1
    ));
    // u64::MAX as a length must not overflow anything either.
    assert!(matches!(
        load(&u64::MAX.to_le_bytes()),
        Err(Error::HeaderTooLarge { .. })
    ));
}

#[test]
fn malformed_header_past_end_of_file() {
    let bytes = logreg_file();
    let err = refusal(&bytes[..20]);
    assert!(err.contains("file truncated"), "{err}");
}

#[test]
fn malformed_header_not_json() {
    let err = refusal(&raw("{\"linear.bias\":", &logreg_data()));
    assert!(err.contains("not a JSON object"), "{err}");
    let err = refusal(&raw("[1,2]", &[]));
    assert!(err.contains("not a JSON object"), "{err}");
}

#[test]
fn malformed_metadata_not_strings() {
    let h = format!(
        r#"{{"__metadata__":{{"format":7}},"linear.bias":{BIAS},"linear.weight":{WEIGHT}}}"#
    );
    let err = refusal(&raw(&h, &logreg_data()));
    assert!(
        err.contains("__metadata__ must map strings to strings"),
        "{err}"
    );
}

#[test]
fn malformed_too_many_tensors() {
    let mut h = String::from("{");
    for i in 0..=MAX_TENSORS {
        h.push_str(&format!(
            r#""t{i:03}":{{"dtype":"F32","shape":[1],"data_offsets":[{},{}]}},"#,
            i * 4,
            i * 4 + 4
        ));
    }
    h.pop();
    h.push('}');
    let data = vec![0u8; (MAX_TENSORS + 1) * 4];
    assert!(matches!(
        load(&raw(&h, &data)),
        Err(Error::TooManyTensors { count, max: MAX_TENSORS }) if count == MAX_TENSORS + 1
    ));
}

#[test]
fn malformed_entry_schema() {
    // An unknown field, a missing field, a negative offset, a shape that is not a list.
    for bias in [
        r#"{"dtype":"F32","shape":[1],"data_offsets":[0,4],"exec":"x"}"#,
        r#"{"dtype":"F32","shape":[1]}"#,
        r#"{"dtype":"F32","shape":[1],"data_offsets":[-4,4]}"#,
        r#"{"dtype":"F32","shape":1,"data_offsets":[0,4]}"#,
    ] {
        let err = refusal(&raw(&header(bias, WEIGHT), &logreg_data()));
        assert!(err.contains("tensor \"linear.bias\""), "{bias}: {err}");
    }
}

#[test]
fn malformed_missing_tensor() {
    let h = format!(
        r#"{{"linear.weight":{}}}"#,
        WEIGHT.replace("[4,16]", "[0,12]")
    );
    let err = load(&raw(&h, &f32_bytes(&[1.0, -2.0, 3.0]))).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensors { names } if names == &["linear.bias"]),
        "{err}"
    );
}

#[test]
fn malformed_unexpected_tensor() {
    let h = format!(
        r#"{{"extra":{{"dtype":"F32","shape":[1],"data_offsets":[0,4]}},"linear.bias":{},"linear.weight":{}}}"#,
        BIAS.replace("[0,4]", "[4,8]"),
        WEIGHT.replace("[4,16]", "[8,20]")
    );
    let mut data = f32_bytes(&[9.0]);
    data.extend(logreg_data());
    let err = load(&raw(&h, &data)).unwrap_err();
    assert!(
        matches!(&err, Error::UnexpectedTensors { names } if names == &["extra"]),
        "{err}"
    );
}

#[test]
fn malformed_dtype() {
    let bias = r#"{"dtype":"F64","shape":[1],"data_offsets":[0,8]}"#;
    let weight = WEIGHT.replace("[4,16]", "[8,20]");
    let mut data = 0.5f64.to_le_bytes().to_vec();
    data.extend(f32_bytes(&[1.0, -2.0, 3.0]));
    let err = load(&raw(&header(bias, &weight), &data)).unwrap_err();
    assert!(
        matches!(&err, Error::TensorDtype { dtype, .. } if dtype == "F64"),
        "{err}"
    );
}

#[test]
fn malformed_shape() {
    let weight = r#"{"dtype":"F32","shape":[3,1],"data_offsets":[4,16]}"#;
    let err = load(&raw(&header(BIAS, weight), &logreg_data())).unwrap_err();
    assert!(
        matches!(&err, Error::TensorShape { found, expected, .. } if found == &[3, 1] && expected == &[1, 3]),
        "{err}"
    );
}

#[test]
fn malformed_size_overflows() {
    // 2^62 x 8 F32 values: the byte size overflows a 64-bit usize. Checked before the shape is
    // compared, so the arithmetic itself meets hostile numbers.
    let weight = r#"{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[4,16]}"#;
    let err = load(&raw(&header(BIAS, weight), &logreg_data())).unwrap_err();
    assert!(
        matches!(&err, Error::TensorSize { reason, .. } if reason.contains("overflows")),
        "{err}"
    );
}

#[test]
fn malformed_size_disagrees_with_shape() {
    let weight = r#"{"dtype":"F32","shape":[1,3],"data_offsets":[4,12]}"#;
    let err = refusal(&raw(&header(BIAS, weight), &logreg_data()[..12]));
    assert!(
        err.contains("8 bytes of data for shape [1, 3], which needs 12"),
        "{err}"
    );
}

#[test]
fn malformed_offsets_reversed() {
    let weight = r#"{"dtype":"F32","shape":[1,3],"data_offsets":[16,4]}"#;
    let err = refusal(&raw(&header(BIAS, weight), &logreg_data()));
    assert!(err.contains("ends before it starts"), "{err}");
}

#[test]
fn malformed_offsets_overlap() {
    // The weight starts inside the bias.
    let weight = r#"{"dtype":"F32","shape":[1,3],"data_offsets":[2,14]}"#;
    let err = load(&raw(&header(BIAS, weight), &logreg_data()[..14])).unwrap_err();
    assert!(
        matches!(&err, Error::TensorLayout { reason, .. } if reason.contains("overlaps")),
        "{err}"
    );
}

#[test]
fn malformed_offsets_gap() {
    let weight = r#"{"dtype":"F32","shape":[1,3],"data_offsets":[8,20]}"#;
    let mut data = logreg_data();
    data.extend([0u8; 4]);
    let err = load(&raw(&header(BIAS, weight), &data)).unwrap_err();
    assert!(
        matches!(&err, Error::TensorLayout { reason, .. } if reason.contains("gap of 4 bytes")),
        "{err}"
    );
}

#[test]
fn malformed_offsets_not_in_name_order() {
    // Contiguous, but the weight is stored before the bias.
    let bias = r#"{"dtype":"F32","shape":[1],"data_offsets":[12,16]}"#;
    let weight = r#"{"dtype":"F32","shape":[1,3],"data_offsets":[0,12]}"#;
    let err = load(&raw(&header(bias, weight), &logreg_data())).unwrap_err();
    assert!(
        matches!(&err, Error::TensorLayout { name, .. } if name == "linear.bias"),
        "{err}"
    );
}

#[test]
fn malformed_offsets_past_end_of_data() {
    let err = load(&raw(&header(BIAS, WEIGHT), &logreg_data()[..12])).unwrap_err();
    assert!(
        matches!(&err, Error::TensorLayout { reason, .. } if reason.contains("past the end")),
        "{err}"
    );
}

#[test]
fn malformed_trailing_bytes() {
    let mut bytes = logreg_file();
    bytes.extend_from_slice(&[0; 4]);
    let err = refusal(&bytes);
    assert!(
        err.contains("4 bytes of data follow the last tensor"),
        "{err}"
    );
}

#[test]
fn malformed_nan_weight() {
    let data = f32_bytes(&[0.5, 1.0, f32::NAN, 3.0]);
    let err = load(&raw(&header(BIAS, WEIGHT), &data)).unwrap_err();
    assert!(
        matches!(&err, Error::NonFiniteWeight { name, index: 1 } if name == "linear.weight"),
        "{err}"
    );
}

#[test]
fn malformed_infinite_weight() {
    let data = f32_bytes(&[f32::INFINITY, 1.0, 2.0, 3.0]);
    let err = load(&raw(&header(BIAS, WEIGHT), &data)).unwrap_err();
    assert!(
        matches!(err, Error::NonFiniteWeight { index: 0, .. }),
        "{err}"
    );
}

#[test]
fn malformed_metadata_format() {
    let h = format!(
        r#"{{"__metadata__":{{"format":"pt"}},"linear.bias":{BIAS},"linear.weight":{WEIGHT}}}"#
    );
    let err = load(&raw(&h, &logreg_data())).unwrap_err();
    assert!(
        matches!(err, Error::MetadataMismatch { key: "format", .. }),
        "{err}"
    );
}

#[test]
fn malformed_metadata_spec_contradicts_the_record() {
    // A multiclass file offered where the record declares a binary model of the same shape.
    let spec = ModelSpec {
        task: Task::Regression,
        ..logreg3()
    };
    let bytes = encode(&spec, &[vec![1.0, -2.0, 3.0], vec![0.5]]).unwrap();
    let err = load(&bytes).unwrap_err();
    assert!(
        matches!(err, Error::MetadataMismatch { key: "spec", .. }),
        "{err}"
    );
}

#[test]
fn malformed_spec_itself_refused_before_reading() {
    let spec = ModelSpec {
        n_features: 0,
        ..logreg3()
    };
    let err = Model::from_safetensors(&logreg_file(), &spec).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidConfig {
                field: "n_features",
                ..
            }
        ),
        "{err}"
    );
}
