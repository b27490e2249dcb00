//! What `bench/evaluate.sh` gives its Python peer so both sides work on the same predictions:
//! a model's weights and frozen feature set, and the model's probability for every row of a
//! dataset, computed as `airlock evaluate` computes them (the model's feature set over the
//! dataset's snapshot, then the model). No `airlock` command exports weights (they sit
//! encrypted in the vault), so this reads them through the library.
//!
//! ```text
//! cargo run --release --locked -p airlock-appliance --example eval_export -- HOME MODEL DATASET OUT
//! ```
//!
//! Writes `OUT/model.json` (`classes`, `spec`, `weights`: each tensor flattened in
//! `ModelSpec::tensor_shapes` order, `shapes`, and `feature_set`: the frozen feature set
//! document) and `OUT/scores.f32` (the positive class's probability of each row, in the
//! dataset's row order, little-endian f32), and `OUT/evaluations.json` (every evaluation
//! record of the model held in the home, oldest first, each with its `id`). Binary models
//! only. Reads the home, changes nothing in it.

use std::error::Error;
use std::io::Write;
use std::path::PathBuf;

use airlock::node::home::Home;
use airlock::ops::evaluate;
use airlock::ops::features;
use airlock::ops::ingest;
use airlock::ops::train;
use airlock_runtime::Task;

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [home, model, dataset, out] = args.as_slice() else {
        return Err("usage: eval_export HOME MODEL DATASET OUT".into());
    };
    let home = Home::open_read_only(&PathBuf::from(home))?;
    let id = train::resolve(&home, model)?;
    let run = train::load_run(&home, &id)?;
    if run.spec.task != Task::Binary {
        return Err(format!(
            "model {model} is {}; binary models only",
            run.spec.task.name()
        )
        .into());
    }
    let m = train::load_model(&home, &run)?;
    let fs = features::load(&home, &run.feature_set)?;
    let loaded = ingest::load(&home, &dataset.parse()?)?;
    let mut task = run.spec.task;
    let prepared = train::prepare(&fs, &loaded, &mut task, None)?;
    let scores = m.predict(&prepared.x)?.values;

    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out)?;
    let doc = serde_json::json!({
        "model": id.hex(),
        "classes": run.classes,
        "spec": run.spec,
        "shapes": run.spec.tensor_shapes(),
        "weights": m.values()?,
        "feature_set": fs,
        "rows": scores.len(),
    });
    std::fs::write(out.join("model.json"), serde_json::to_vec_pretty(&doc)?)?;
    let evaluations: Vec<serde_json::Value> = evaluate::list_for(&home, &id)?
        .into_iter()
        .map(|(e, r)| -> Result<serde_json::Value, Box<dyn Error>> {
            let mut v = serde_json::to_value(&r)?;
            v["id"] = serde_json::json!(e.hex());
            Ok(v)
        })
        .collect::<Result<_, _>>()?;
    std::fs::write(
        out.join("evaluations.json"),
        serde_json::to_vec_pretty(&evaluations)?,
    )?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(out.join("scores.f32"))?);
    for s in &scores {
        f.write_all(&s.to_le_bytes())?;
    }
    f.flush()?;
    eprintln!(
        "eval_export: model {} on {}: {} rows, {} inputs",
        id.short(),
        dataset,
        scores.len(),
        prepared.x.cols()
    );
    Ok(())
}
