//! Single-row inference through the full serving path, in-process: what `airlock serve` pays
//! per request once the request line is read. Run by `bench/runtime.sh`.
//!
//! It sets up the demo's two sites (`airlock demo --workdir`, the binary cargo built beside
//! this bench) unless `AIRLOCK_BENCH_WORKDIR` names one already made, opens the plant home,
//! builds the `Scorer` of the deployed model (the demo's credit MLP, 20 features, one hidden
//! layer of 16) and releases the home. Each timed call is `airlock::ops::serve::answer` on one of
//! the demo's request lines: JSON parsing, the contract's cell rules, the feature set's
//! transform, the model, the output checks and the reply's encoding. One thread,
//! `std::time::Instant` around each call; `AIRLOCK_BENCH_CALLS` (default 200000) timed after
//! `AIRLOCK_BENCH_WARMUP` (default 20000) untimed. Every reply must be an answer, not an error.
//!
//! Then the same calls again through `airlock::ops::serve::answer_seen` with a monitoring
//! collector (`airlock::ops::monitor::Collector`, as `serve` keeps one per model): the cost of
//! the window's counters and drift sketches per request.
//!
//! Prints one JSON object: percentiles and max in microseconds, calls per second, and the
//! monitored path's percentiles under `monitored`.

use std::error::Error;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use airlock::node::home::Home;

type BenchResult<T> = Result<T, Box<dyn Error>>;

fn env_or(name: &str, default: usize) -> BenchResult<usize> {
    match std::env::var(name) {
        Ok(v) => Ok(v.trim().parse()?),
        Err(_) => Ok(default),
    }
}

fn main() -> BenchResult<()> {
    let calls = env_or("AIRLOCK_BENCH_CALLS", 200_000)?;
    let warmup = env_or("AIRLOCK_BENCH_WARMUP", 20_000)?;
    let _tmp;
    let workdir = match std::env::var_os("AIRLOCK_BENCH_WORKDIR") {
        Some(d) => PathBuf::from(d),
        None => {
            _tmp = tempfile::tempdir()?;
            let d = _tmp.path().join("w");
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_airlock"))
                .args(["--json", "demo", "--workdir"])
                .arg(&d)
                .output()?;
            if !out.status.success() {
                return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
            }
            d
        }
    };
    // The full serving path: the router (production, with any canary and shadow) per request.
    let scorer = {
        let home = Home::open(&workdir.join("plant"))?;
        airlock::ops::rollout::Router::open(&home, "production", None)?
    };
    let requests: Vec<String> = std::fs::read_to_string(workdir.join("media/requests.jsonl"))?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    for i in 0..warmup {
        black_box(airlock::ops::serve::answer(
            &scorer,
            &requests[i % requests.len()],
        ));
    }
    let mut lat = Vec::with_capacity(calls);
    let started = Instant::now();
    for i in 0..calls {
        let req = &requests[i % requests.len()];
        let t = Instant::now();
        let reply = airlock::ops::serve::answer(&scorer, req);
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        if reply.starts_with("{\"error\"") {
            return Err(format!("request {i} was refused: {reply}").into());
        }
        black_box(reply);
    }
    let total = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let pct = |p: f64| lat[((p / 100.0) * (lat.len() - 1) as f64).round() as usize];
    // The same path with the monitor's bookkeeping, as `serve` does it by default: counts,
    // latency and score bins, and every input feature into the window's drift sketch.
    let mut collector = {
        let home = Home::open_read_only(&workdir.join("plant"))?;
        airlock::ops::monitor::Collector::new(&home, &scorer.production, "production", 3600)?
    };
    let now = <airlock::node::time::Timestamp as airlock::node::time::Now>::now();
    let mut mon = Vec::with_capacity(calls);
    for i in 0..calls {
        let req = &requests[i % requests.len()];
        let t = Instant::now();
        let reply = airlock::ops::serve::answer_seen(&scorer, req, &mut |_, _, seen| {
            collector.record(now, seen)
        });
        mon.push(t.elapsed().as_secs_f64() * 1e6);
        black_box(reply);
    }
    mon.sort_by(f64::total_cmp);
    let mpct = |p: f64| mon[((p / 100.0) * (mon.len() - 1) as f64).round() as usize];
    let v = serde_json::json!({
        "calls": calls,
        "features": scorer.production.run.spec.n_features,
        "arch": scorer.production.run.spec.arch,
        "p50_us": pct(50.0),
        "p90_us": pct(90.0),
        "p99_us": pct(99.0),
        "p999_us": pct(99.9),
        "max_us": lat[lat.len() - 1],
        "calls_per_s": calls as f64 / total,
        "monitored": {
            "p50_us": mpct(50.0),
            "p90_us": mpct(90.0),
            "p99_us": mpct(99.0),
            "p999_us": mpct(99.9),
            "max_us": mon[mon.len() - 1],
        },
    });
    println!("{v}");
    Ok(())
}
