//! The Airlock side of `bench/runtime.sh`: train and serve the benchmark MLP on the CPU with
//! the runtime, on the CSV `bench/runtime_data.py` writes, and print the same JSON keys as
//! `bench/runtime_torch.py`.
//!
//! ```text
//! runtime_bench --data FILE.csv [--hidden 64,64] [--batch-size 256] [--epochs 3] [--lr 1e-3]
//!               [--threads 2] [--seed 42] [--single-row 20000] [--infer-reps 20]
//!               [--device cpu|auto|cuda[:N]]
//! ```
//!
//! - train: the runtime's `train` (binary, ReLU MLP, AdamW, constant rate), one warm-up epoch
//!   and `--epochs` timed ones. The runtime times each epoch's optimisation (shuffle, batch
//!   gather, forward, loss, backward, step); `train_rows_per_s` is rows x epochs over the sum
//!   of those times. The runtime always splits off validation and holdout rows; here they are
//!   1% each, and rows/s counts the rows trained on.
//! - batch: `Model::predict` over the whole matrix in chunks of 4096 rows (output checks
//!   included); one warm-up pass, then `--infer-reps` timed passes.
//! - single: `--single-row` calls of `Model::predict` on a one-row matrix (built from the row
//!   each call, checks included), after 1000 untimed calls; p50 and p99 in microseconds. The
//!   model only, like the PyTorch side; the full path (request parsing and feature
//!   transforms) is measured by the appliance's `predict_latency` bench.
//!
//! `--device` picks where training runs (default `cpu`; `cuda` needs a build with the `cuda`
//! feature, docs/gpu.md); inference always runs on the CPU, as in the appliance. The JSON
//! names the device that trained.
//!
//! `--threads` sets `RAYON_NUM_THREADS` before candle's first kernel; it must match the
//! caller's environment, or the environment wins.
#![allow(clippy::unwrap_used, reason = "a benchmark fails loudly")]
#![allow(missing_docs)]

use std::time::Instant;

use airlock_runtime::{
    Arch, DeviceChoice, Event, Matrix, Schedule, TrainConfig, TrainData, device, train,
};

struct Args {
    data: String,
    hidden: Vec<usize>,
    batch_size: usize,
    epochs: usize,
    lr: f64,
    threads: usize,
    seed: u64,
    single_row: usize,
    infer_reps: usize,
    device: DeviceChoice,
}

fn parse() -> Args {
    let mut a = Args {
        data: String::new(),
        hidden: vec![64, 64],
        batch_size: 256,
        epochs: 3,
        lr: 1e-3,
        threads: 2,
        seed: 42,
        single_row: 20_000,
        infer_reps: 20,
        device: DeviceChoice::Cpu,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--data" => a.data = v,
            "--hidden" => a.hidden = v.split(',').map(|w| w.parse().unwrap()).collect(),
            "--batch-size" => a.batch_size = v.parse().unwrap(),
            "--epochs" => a.epochs = v.parse().unwrap(),
            "--lr" => a.lr = v.parse().unwrap(),
            "--threads" => a.threads = v.parse().unwrap(),
            "--seed" => a.seed = v.parse().unwrap(),
            "--single-row" => a.single_row = v.parse().unwrap(),
            "--infer-reps" => a.infer_reps = v.parse().unwrap(),
            "--device" => a.device = v.parse().unwrap(),
            other => panic!("unknown flag {other}"),
        }
    }
    assert!(!a.data.is_empty(), "--data FILE.csv is required");
    a
}

fn load(path: &str) -> (Matrix, Vec<f32>) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header.last(), Some(&"label"), "last column must be label");
    let cols = header.len() - 1;
    let (mut x, mut y) = (Vec::new(), Vec::new());
    for line in lines.filter(|l| !l.is_empty()) {
        let mut fields = line.split(',');
        for _ in 0..cols {
            x.push(fields.next().unwrap().parse::<f32>().unwrap());
        }
        y.push(fields.next().unwrap().parse::<f32>().unwrap());
    }
    let rows = y.len();
    (Matrix::new(x, rows, cols).unwrap(), y)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i]
}

fn main() {
    let a = parse();
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        eprintln!(
            "runtime_bench: set RAYON_NUM_THREADS={} in the environment",
            a.threads
        );
    }
    let (dev, info) = device::select(a.device).unwrap();
    if let Some(note) = &info.note {
        eprintln!("runtime_bench: {note}");
    }
    let (x, y) = load(&a.data);
    let cfg = TrainConfig {
        arch: Arch::mlp(&a.hidden),
        epochs: a.epochs + 1,
        batch_size: a.batch_size,
        learning_rate: a.lr,
        schedule: Schedule::Constant,
        seed: a.seed,
        holdout_fraction: 0.01,
        validation_fraction: 0.01,
        ..TrainConfig::default()
    };
    let data = TrainData {
        x: &x,
        labels: &y,
        slices: None,
    };
    let started = Instant::now();
    let out = train(data, &cfg, &dev, &mut |e| {
        if let Event::Epoch(r) = e {
            eprintln!(
                "runtime_bench: epoch {} loss {:.4} {:.0} rows/s",
                r.epoch, r.train_loss, r.rows_per_second
            );
        }
        Ok(())
    })
    .unwrap();
    let train_wall = started.elapsed().as_secs_f64();
    let timed = &out.history[1..];
    let seconds: f64 = timed
        .iter()
        .map(|r| out.split.train as f64 / r.rows_per_second)
        .sum();
    let train_rows_per_s = (out.split.train * timed.len()) as f64 / seconds;

    // Batch inference.
    let chunks: Vec<Matrix> = (0..x.rows())
        .step_by(4096)
        .map(|start| {
            let end = (start + 4096).min(x.rows());
            let data: Vec<f32> = (start..end).flat_map(|i| x.row(i).to_vec()).collect();
            Matrix::new(data, end - start, x.cols()).unwrap()
        })
        .collect();
    let model = &out.model;
    for c in &chunks {
        model.predict(c).unwrap();
    }
    let started = Instant::now();
    for _ in 0..a.infer_reps {
        for c in &chunks {
            std::hint::black_box(model.predict(c).unwrap());
        }
    }
    let batch_rows_per_s = (x.rows() * a.infer_reps) as f64 / started.elapsed().as_secs_f64();

    // Single rows.
    let one = |i: usize| Matrix::new(x.row(i % x.rows()).to_vec(), 1, x.cols()).unwrap();
    for i in 0..1000 {
        std::hint::black_box(model.predict(&one(i)).unwrap());
    }
    let mut lat = Vec::with_capacity(a.single_row);
    for i in 0..a.single_row {
        let t = Instant::now();
        let m = one(i);
        std::hint::black_box(model.predict(&m).unwrap());
        lat.push(t.elapsed().as_secs_f64() * 1e6);
    }
    lat.sort_by(f64::total_cmp);

    let p = model.predict(&x).unwrap();
    let correct = (0..x.rows())
        .filter(|&i| p.class(i) == Some(y[i] as usize))
        .count();
    let json = serde_json::json!({
        "candle": "0.11",
        "threads": a.threads,
        "device": info,
        "rows": x.rows(),
        "features": x.cols(),
        "hidden": a.hidden,
        "batch_size": a.batch_size,
        "epochs": a.epochs,
        "train_rows_per_s": train_rows_per_s,
        "final_train_loss": out.history.last().unwrap().train_loss,
        "train_accuracy": correct as f64 / x.rows() as f64,
        "train_seconds": seconds,
        "train_wall_seconds_incl_validation": train_wall,
        "batch_infer_rows_per_s": batch_rows_per_s,
        "single_row_p50_us": percentile(&lat, 50.0),
        "single_row_p99_us": percentile(&lat, 99.0),
        "single_row_scope": "Model::predict on a 1-row Matrix built per call (checks included)",
    });
    println!("{json}");
}
