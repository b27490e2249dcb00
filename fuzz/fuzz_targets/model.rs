//! The model loader, `airlock_runtime::Model::from_safetensors`: the bytes of a model file
//! (from a bundle or the vault) against a declared spec.
//!
//! The spec is chosen by the input's first byte among a few shapes (a binary logistic
//! regression, a multiclass MLP, a regression MLP), so the name, shape and layout checks meet
//! both matching and non-matching headers. The rest is the file. Beyond "no panic": an
//! accepted file re-encodes to bytes that load to the same weights, and its model predicts
//! only values its task allows.

#![no_main]

use airlock_runtime::{Arch, Matrix, Model, ModelSpec, Task};
use libfuzzer_sys::fuzz_target;

fn specs() -> [ModelSpec; 3] {
    [
        ModelSpec {
            task: Task::Binary,
            arch: Arch::Logreg,
            n_features: 3,
        },
        ModelSpec {
            task: Task::Multiclass { classes: 3 },
            arch: Arch::mlp(&[2]),
            n_features: 2,
        },
        ModelSpec {
            task: Task::Regression,
            arch: Arch::mlp(&[2, 2]),
            n_features: 1,
        },
    ]
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, file)) = data.split_first() else {
        return;
    };
    let spec = &specs()[usize::from(pick) % 3];
    let Ok(model) = Model::from_safetensors(file, spec) else {
        return;
    };
    let again = model
        .to_safetensors()
        .expect("an accepted model re-encodes");
    let reloaded = Model::from_safetensors(&again, spec).expect("its own encoding loads");
    assert_eq!(
        model.values().expect("values"),
        reloaded.values().expect("values")
    );
    let x = Matrix::new(vec![0.5; spec.n_features * 2], 2, spec.n_features).expect("matrix");
    // Either checked outputs or an InvalidOutput error; never an unchecked value.
    if let Ok(out) = model.predict(&x) {
        assert_eq!(out.values.len(), 2 * spec.task.outputs());
    }
});
