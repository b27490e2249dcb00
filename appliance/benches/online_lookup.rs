//! Online store lookup latency, measured in-process: what a serving process
//! linked against the `airlock` library pays per entity lookup.
//!
//! It needs a home with a materialized feature set, as `bench/ingest.sh`
//! makes (which runs it), so it takes everything from the environment:
//!
//! - `AIRLOCK_BENCH_HOME`: the home folder (holding `online.db`); without
//!   it the benchmark says so and exits successfully, so a plain
//!   `cargo bench` does not fail;
//! - `AIRLOCK_BENCH_ENTITIES`: a file with one entity key per line, every
//!   one of them materialized (the `id` column of the ingested file);
//! - `AIRLOCK_BENCH_SET`: the feature set, default `wide-features@1`;
//! - `AIRLOCK_BENCH_LOOKUPS`: timed lookups, default 200000;
//! - `AIRLOCK_BENCH_WARMUP`: untimed lookups first, default 20000;
//! - `AIRLOCK_BENCH_SEED`: seed of the entity choice, default 20261123.
//!
//! Each lookup is `OnlineReader::get` of an entity drawn uniformly (seeded)
//! from the file, one at a time on one thread, timed with
//! `std::time::Instant`. Every lookup must find its entity with a vector of
//! the table's width, or the benchmark fails: a miss is cheaper than a hit
//! and would flatter the figures. Prints one JSON object on stdout:
//! percentiles and max in microseconds, and lookups per second over the
//! timed loop (timing overhead included).

use std::error::Error;
use std::hint::black_box;
use std::path::PathBuf;
use std::time::Instant;

use airlock::ops::online::OnlineReader;
use airlock::vault::registry::NameRef;

type BenchResult<T> = Result<T, Box<dyn Error>>;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> BenchResult<T> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a valid value").into()),
        Err(_) => Ok(default),
    }
}

/// The value at quantile `q` of sorted nanoseconds, in microseconds
/// (nearest rank).
fn quantile_us(sorted: &[u64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

fn main() -> BenchResult<()> {
    let Some(home) = std::env::var_os("AIRLOCK_BENCH_HOME").map(PathBuf::from) else {
        eprintln!(
            "online_lookup: AIRLOCK_BENCH_HOME is not set; nothing to measure (bench/ingest.sh sets it up and runs this)"
        );
        return Ok(());
    };
    let entities_file = std::env::var_os("AIRLOCK_BENCH_ENTITIES")
        .map(PathBuf::from)
        .ok_or("AIRLOCK_BENCH_ENTITIES (a file of entity keys, one a line) is not set")?;
    let set: NameRef = env_or("AIRLOCK_BENCH_SET", "wide-features@1".to_string())?.parse()?;
    let lookups: usize = env_or("AIRLOCK_BENCH_LOOKUPS", 200_000)?;
    let warmup: usize = env_or("AIRLOCK_BENCH_WARMUP", 20_000)?;
    let seed: u64 = env_or("AIRLOCK_BENCH_SEED", 20_261_123)?;
    if lookups == 0 {
        return Err("AIRLOCK_BENCH_LOOKUPS must be at least 1".into());
    }

    let text = std::fs::read_to_string(&entities_file)
        .map_err(|e| format!("{}: {e}", entities_file.display()))?;
    let keys: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    if keys.is_empty() {
        return Err(format!("{}: no entity keys", entities_file.display()).into());
    }

    let reader = OnlineReader::open(&home)?;
    let table = reader.table(&set)?;
    let width = usize::try_from(table.width)?;
    let mut rng = airlock::sketch::SplitMix(seed);

    let lookup = |key: &str| -> BenchResult<()> {
        let hit = reader
            .get(&table, key)?
            .ok_or_else(|| format!("entity {key:?} is not in {}: a miss", table.reference))?;
        if hit.vector.len() != width {
            return Err(format!(
                "entity {key:?}: vector of {} values, the table's width is {width}",
                hit.vector.len()
            )
            .into());
        }
        black_box(hit);
        Ok(())
    };

    for _ in 0..warmup {
        lookup(keys[rng.below(keys.len() as u64) as usize])?;
    }
    let mut nanos = Vec::with_capacity(lookups);
    let loop_start = Instant::now();
    for _ in 0..lookups {
        let key = keys[rng.below(keys.len() as u64) as usize];
        let t0 = Instant::now();
        lookup(key)?;
        nanos.push(u64::try_from(t0.elapsed().as_nanos())?);
    }
    let loop_secs = loop_start.elapsed().as_secs_f64();
    nanos.sort_unstable();
    let mean_us = nanos.iter().sum::<u64>() as f64 / nanos.len() as f64 / 1000.0;

    let report = serde_json::json!({
        "feature_set": table.reference,
        "entities": table.entities,
        "width": table.width,
        "keys": keys.len(),
        "warmup": warmup,
        "lookups": lookups,
        "hits": lookups,
        "mean_us": mean_us,
        "p50_us": quantile_us(&nanos, 0.50),
        "p90_us": quantile_us(&nanos, 0.90),
        "p99_us": quantile_us(&nanos, 0.99),
        "p999_us": quantile_us(&nanos, 0.999),
        "max_us": nanos[nanos.len() - 1] as f64 / 1000.0,
        "lookups_per_s": lookups as f64 / loop_secs,
    });
    println!("{report}");
    Ok(())
}
