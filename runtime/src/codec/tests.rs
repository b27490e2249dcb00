//! One test per malformed model file, named for the defect, plus encoding properties.
#![allow(clippy::unwrap_used, reason = "tests fail loudly on unexpected errors")]

use std::collections::HashMap;

use safetensors::tensor::TensorView;

use super::*;
use crate::{Matrix, Model};

/// A valid logreg file for 3 features: bias 0.5, weights [1, -2, 3].
fn logreg_file() -> Vec<u8> {
    encode(Arch::Logreg, 3, &[vec![0.5], vec![1.0, -2.0, 3.0]])
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// A file written by the safetensors crate itself (as another tool would), no metadata unless
/// given.
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

fn load_logreg3(bytes: &[u8]) -> Result<Model> {
    Model::from_safetensors(bytes, Arch::Logreg, 3)
}

#[test]
fn encode_is_standard_sorted_safetensors() {
    let bytes = encode(
        Arch::Mlp { hidden: 2 },
        1,
        &[vec![0.0, 1.0], vec![2.0, 3.0], vec![4.0], vec![5.0, 6.0]],
    );
    let (n, meta) = SafeTensors::read_metadata(&bytes).unwrap();
    assert_eq!(n % 8, 0);
    assert_eq!(
        meta.offset_keys(),
        ["l1.bias", "l1.weight", "l2.bias", "l2.weight"]
    );
    let m = meta.metadata().as_ref().unwrap();
    assert_eq!(m["format"], "airlock-model/1");
    assert_eq!(m["n_features"], "1");
    assert_eq!(
        serde_json::from_str::<Arch>(&m["arch"]).unwrap(),
        Arch::Mlp { hidden: 2 }
    );
    // Data section is the values in name order, little-endian.
    let data = &bytes[8 + n..];
    assert_eq!(data, f32_bytes(&[0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
}

#[test]
fn safetensors_round_trip_same_predictions() {
    let model = load_logreg3(&logreg_file()).unwrap();
    assert_eq!(model.to_safetensors().unwrap(), logreg_file());
    let x = Matrix::new(vec![1.0, 1.0, 1.0, -1.0, 0.5, 0.0], 2, 3).unwrap();
    let again = load_logreg3(&model.to_safetensors().unwrap()).unwrap();
    assert_eq!(
        model.predict_proba(&x).unwrap(),
        again.predict_proba(&x).unwrap()
    );
}

#[test]
fn safetensors_without_metadata_accepted() {
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
    let model = load_logreg3(&bytes).unwrap();
    assert_eq!(model.to_safetensors().unwrap(), logreg_file());
}

#[test]
fn safetensors_header_length_resembling_pickle_accepted() {
    // A 640-byte header has length bytes 80 02 00 ..., the same opening as a pickle.
    let bytes = logreg_file();
    let n = usize::try_from(u64::from_le_bytes(*bytes.first_chunk().unwrap())).unwrap();
    let mut header = bytes[8..8 + n].to_vec();
    header.resize(640, b' ');
    let mut padded = 640u64.to_le_bytes().to_vec();
    padded.extend_from_slice(&header);
    padded.extend_from_slice(&bytes[8 + n..]);
    assert_eq!(&padded[..2], &[0x80, 0x02]);
    assert!(load_logreg3(&padded).is_ok());
}

#[test]
fn safetensors_pickle_refused() {
    // Start of a protocol-2 pickle as written by legacy torch.save.
    let pickle = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.\x80\x02}q\x00(X\x10\x00\x00\x00protocol_versionq\x01M\xe9\x03X\r\x00\x00\x00little_endianq\x02\x88u.";
    let err = load_logreg3(pickle).unwrap_err();
    assert!(matches!(err, Error::PickleRefused), "{err}");
    assert!(err.to_string().contains("pickle/PyTorch"));
    // Even a pickle too short to hold a length is named as such.
    assert!(matches!(
        load_logreg3(b"\x80\x04."),
        Err(Error::PickleRefused)
    ));
}

#[test]
fn safetensors_pytorch_zip_refused() {
    let zip = b"PK\x03\x04\x00\x00\x08\x08\x00\x00\x00\x00\x00\x00archive/data.pkl";
    assert!(matches!(load_logreg3(zip), Err(Error::PickleRefused)));
}

#[test]
fn safetensors_truncated() {
    let bytes = logreg_file();
    let err = load_logreg3(&bytes[..bytes.len() - 4]).unwrap_err();
    assert!(matches!(err, Error::MalformedSafetensors { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn safetensors_truncated_length_prefix() {
    let err = load_logreg3(&logreg_file()[..5]).unwrap_err();
    assert!(matches!(err, Error::MalformedSafetensors { .. }), "{err}");
}

#[test]
fn safetensors_trailing_bytes() {
    let mut bytes = logreg_file();
    bytes.extend_from_slice(&[0; 4]);
    assert!(matches!(
        load_logreg3(&bytes),
        Err(Error::MalformedSafetensors { .. })
    ));
}

#[test]
fn safetensors_header_too_large() {
    let mut bytes = (2u64 << 20).to_le_bytes().to_vec();
    bytes.extend_from_slice(b"{\"a\":");
    assert!(matches!(
        load_logreg3(&bytes),
        Err(Error::HeaderTooLarge {
            len: 2_097_152,
            max: 1_048_576
        })
    ));
}

#[test]
fn safetensors_offsets_overlap() {
    // Both tensors claim bytes 0..4; the safetensors parser must catch it.
    let header = br#"{"linear.bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"linear.weight":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}}"#;
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header);
    bytes.extend_from_slice(&f32_bytes(&[1.0]));
    assert!(matches!(
        Model::from_safetensors(&bytes, Arch::Logreg, 1),
        Err(Error::MalformedSafetensors { .. })
    ));
}

#[test]
fn safetensors_wrong_shape() {
    let bytes = foreign_file(
        &[
            ("linear.bias", Dtype::F32, vec![1], f32_bytes(&[0.5])),
            (
                "linear.weight",
                Dtype::F32,
                vec![1, 4],
                f32_bytes(&[1.0; 4]),
            ),
        ],
        None,
    );
    let err = load_logreg3(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "safetensors: tensor \"linear.weight\" has shape [1, 4], expected [1, 3]"
    );
}

#[test]
fn safetensors_missing_tensor() {
    let bytes = foreign_file(
        &[(
            "linear.weight",
            Dtype::F32,
            vec![1, 3],
            f32_bytes(&[1.0; 3]),
        )],
        None,
    );
    let err = load_logreg3(&bytes).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensors { names } if names == &["linear.bias"]),
        "{err}"
    );
}

#[test]
fn safetensors_extra_tensor() {
    let bytes = foreign_file(
        &[
            ("linear.bias", Dtype::F32, vec![1], f32_bytes(&[0.5])),
            (
                "linear.weight",
                Dtype::F32,
                vec![1, 3],
                f32_bytes(&[1.0; 3]),
            ),
            ("trigger", Dtype::F32, vec![1], f32_bytes(&[9.0])),
        ],
        None,
    );
    let err = load_logreg3(&bytes).unwrap_err();
    assert!(
        matches!(&err, Error::UnexpectedTensors { names } if names == &["trigger"]),
        "{err}"
    );
    assert!(err.to_string().contains("\"trigger\""));
}

#[test]
fn safetensors_too_many_tensors() {
    let tensors: Vec<(String, Vec<u8>)> = (0..65)
        .map(|i| (format!("t{i:02}"), f32_bytes(&[0.0])))
        .collect();
    let tensors: Vec<(&str, Dtype, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, d)| (n.as_str(), Dtype::F32, vec![1], d.clone()))
        .collect();
    let err = load_logreg3(&foreign_file(&tensors, None)).unwrap_err();
    assert!(
        matches!(err, Error::TooManyTensors { count: 65, max: 64 }),
        "{err}"
    );
}

#[test]
fn safetensors_f64_dtype() {
    let weight: Vec<u8> = [1.0f64, 2.0, 3.0]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let bytes = foreign_file(
        &[
            ("linear.bias", Dtype::F32, vec![1], f32_bytes(&[0.5])),
            ("linear.weight", Dtype::F64, vec![1, 3], weight),
        ],
        None,
    );
    let err = load_logreg3(&bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "safetensors: tensor \"linear.weight\" has dtype F64, only F32 is accepted"
    );
}

#[test]
fn safetensors_nan_value() {
    let bytes = encode(Arch::Logreg, 3, &[vec![0.5], vec![1.0, f32::NAN, 3.0]]);
    let err = load_logreg3(&bytes).unwrap_err();
    assert!(
        matches!(&err, Error::NonFiniteWeight { name, index: 1 } if name == "linear.weight"),
        "{err}"
    );
}

#[test]
fn safetensors_infinite_value() {
    let bytes = encode(Arch::Logreg, 3, &[vec![f32::NEG_INFINITY], vec![1.0; 3]]);
    assert!(matches!(
        load_logreg3(&bytes),
        Err(Error::NonFiniteWeight { index: 0, .. })
    ));
}

#[test]
fn safetensors_metadata_arch_mismatch() {
    // Same tensor names, different hidden width: metadata catches it before the shapes do.
    let values = vec![vec![0.0; 2], vec![0.0; 2], vec![0.0], vec![0.0; 2]];
    let bytes = encode(Arch::Mlp { hidden: 2 }, 1, &values);
    let err = Model::from_safetensors(&bytes, Arch::Mlp { hidden: 4 }, 1).unwrap_err();
    assert!(
        matches!(err, Error::MetadataMismatch { key: "arch", .. }),
        "{err}"
    );
}

#[test]
fn safetensors_metadata_n_features_mismatch() {
    let bytes = encode(Arch::Logreg, 3, &[vec![0.5], vec![1.0; 3]]);
    let err = Model::from_safetensors(&bytes, Arch::Logreg, 4).unwrap_err();
    assert!(
        matches!(
            err,
            Error::MetadataMismatch {
                key: "n_features",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn safetensors_unknown_format_refused() {
    let meta = HashMap::from([("format".to_owned(), "airlock-model/9".to_owned())]);
    let bytes = foreign_file(
        &[
            ("linear.bias", Dtype::F32, vec![1], f32_bytes(&[0.5])),
            (
                "linear.weight",
                Dtype::F32,
                vec![1, 3],
                f32_bytes(&[1.0; 3]),
            ),
        ],
        Some(meta),
    );
    assert!(matches!(
        load_logreg3(&bytes),
        Err(Error::MetadataMismatch { key: "format", .. })
    ));
}

#[test]
fn safetensors_zero_features_refused() {
    let err = Model::from_safetensors(&logreg_file(), Arch::Logreg, 0).unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidConfig {
            field: "n_features",
            ..
        }
    ));
}
