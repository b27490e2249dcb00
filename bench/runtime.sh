#!/usr/bin/env bash
# bench/runtime.sh: Airlock's training and inference runtime (candle, CPU)
# against PyTorch (CPU), both on 2 threads, on the same CSV with the same
# model and arguments, and writes the figures to docs/benchmarks.md.
#
# Run from anywhere:
#
#   bench/runtime.sh                       # 100,000 rows x 32 features, 2 rounds
#   ROUNDS=3 bench/runtime.sh              # more rounds, best of each kept
#   RUST_BENCH=path/to/bin bench/runtime.sh  # a given Airlock benchmark binary
#
# The data (bench/runtime_data.py, seeded, so every run reads the same bytes):
# ROWS rows of FEATURES standard-normal float32 features and a 0/1 label,
# 1 when x @ w + 0.5 sin(x0 x1) + noise > 0 (about 89% is the best accuracy
# possible). Every row is a training row; there is no split.
#
# Both sides get the same arguments and print one JSON object with the same
# keys (see bench/runtime_torch.py for what each figure covers):
#
#   --data CSV --hidden 64,64 --batch-size 256 --epochs 3 --lr 1e-3
#   --threads 2 --seed 42 --single-row 20000
#
#   model    Linear(F, 64), ReLU, Linear(64, 64), ReLU, Linear(64, 1);
#            BCE with logits; AdamW (weight decay 0)
#   train    one warm-up epoch not timed, then 3 timed epochs of shuffled
#            minibatches of 256: train_rows_per_s = rows * epochs / seconds
#   batch    inference (model + sigmoid) over all rows in chunks of 4096,
#            several timed passes: batch_infer_rows_per_s
#   single   20,000 one-row calls (model + sigmoid, the model only: no
#            request parsing, no feature transforms), each timed:
#            single_row_p50_us, single_row_p99_us
#
# Order: the two sides alternate, Airlock first in odd rounds and PyTorch
# first in even ones, so neither always runs on a machine the other has just
# warmed or heated. Each run is one process under GNU time (wall seconds and
# peak RSS, data loading included, reported only), after a `sync` and a page
# cache drop. The table keeps each side's best round for each figure.
#
# Environment:
#   RUST_BENCH    Airlock's benchmark binary; default: built here with
#                 cargo build --release --locked (RUST_BUILD below)
#   TORCH_PYTHON  python with torch and numpy (default
#                 /opt/torchbench/bin/python; made with pip when that default
#                 is missing: several minutes, about 5.5 GiB with the CUDA
#                 wheels that the Linux torch wheel pulls in)
#   ROWS          rows of the CSV (default 100000, at least 1000)
#   FEATURES      features of the CSV (default 32)
#   ROUNDS        rounds of both sides (default 2)
#   BENCH_DIR     where the work folder is made (default target/bench in the
#                 repo); a fresh subfolder every run
#   KEEP=1        keep the work folder (CSV, logs, both sides' JSON)
#
# After the rounds it also runs appliance/benches/predict_latency.rs (cargo
# bench): single-row inference through the whole serving path on the demo's
# model, p50 to max, against the goal of p99 under 100 µs.
#
# Needs: bash, GNU time, cargo (unless RUST_BENCH is given), python3 with
# venv for the default TORCH_PYTHON.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOC="$REPO/docs/benchmarks.md"
ROWS=${ROWS:-100000}
FEATURES=${FEATURES:-32}
ROUNDS=${ROUNDS:-2}
KEEP=${KEEP:-0}
TORCH_PYTHON=${TORCH_PYTHON:-/opt/torchbench/bin/python}
DEFAULT_TORCH_PYTHON=/opt/torchbench/bin/python
# The version installed when the default venv is made (the one measured first).
TORCH_PIN=2.15.0
DATA_SEED=7
THREADS=2

# The Airlock side: runtime/examples/runtime_bench.rs, the same JSON keys as the
# PyTorch script, on the same CSV with the same arguments.
RUST_EXAMPLE=runtime_bench
RUST_BUILD=(cargo build --release --locked -p airlock-runtime --example "$RUST_EXAMPLE")
RUST_BENCH=${RUST_BENCH:-}

# The model and run, the same for both sides.
HIDDEN=64,64
BATCH_SIZE=256
EPOCHS=3
LR=1e-3
TRAIN_SEED=42
SINGLE_ROW=20000

# Both sides on the same number of threads, whatever library asks.
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS RAYON_NUM_THREADS=$THREADS

MARK_START='<!-- runtime-bench:start -->'
MARK_END='<!-- runtime-bench:end -->'

# Results of timed steps, by step key (lib.sh's timed fills them).
declare -A SECS=() RSS_KIB=()

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

# ---------------------------------------------------------------- tools

# ensure_tools: GNU time; the torch venv, made when the default is missing.
ensure_tools() {
    if [[ ! -x /usr/bin/time ]]; then
        log "installing time"
        as_root apt-get install -y time ||
            { as_root apt-get update && as_root apt-get install -y time; }
    fi
    if [[ $TORCH_PYTHON == "$DEFAULT_TORCH_PYTHON" && ! -x $TORCH_PYTHON ]]; then
        local venv=${DEFAULT_TORCH_PYTHON%/bin/python}
        log "making $venv with torch==$TORCH_PIN and numpy (pip; several minutes)"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "torch==$TORCH_PIN" numpy >&2
    fi
    "$TORCH_PYTHON" -c 'import numpy, torch' 2>/dev/null ||
        die "TORCH_PYTHON=$TORCH_PYTHON cannot import torch and numpy"
}

# rust_binary: $RUST_BENCH as given, or a fresh release build of this
# checkout, so the figures belong to the revision recorded with them.
rust_binary() {
    if [[ -n $RUST_BENCH ]]; then
        [[ -x $RUST_BENCH ]] || die "RUST_BENCH=$RUST_BENCH is not an executable"
        RUST_ORIGIN="RUST_BENCH=$RUST_BENCH"
        if [[ -n $(newer_sources "$RUST_BENCH") ]]; then
            log "warning: $RUST_BENCH is older than sources in $REPO; figures may not match its revision"
            RUST_ORIGIN+=" (older than the checkout's sources)"
        fi
    else
        log "building the Airlock side (${RUST_BUILD[*]})"
        (cd "$REPO" && "${RUST_BUILD[@]}") >&2
        RUST_BENCH="$REPO/target/release/examples/$RUST_EXAMPLE"
        RUST_ORIGIN="\`${RUST_BUILD[*]}\`, built by this script"
    fi
}

# ---------------------------------------------------------------- data

make_data() {
    CSV="$WORK/data/runtime.csv"
    log "generating ${ROWS} rows x ${FEATURES} features (seed ${DATA_SEED})"
    "$TORCH_PYTHON" "$REPO/bench/runtime_data.py" --rows "$ROWS" --features "$FEATURES" \
        --seed "$DATA_SEED" --out "$CSV"
    CSV_BYTES=$(stat -c %s "$CSV")
}

# ---------------------------------------------------------------- steps

bench_args() {
    printf '%s\n' --data "$CSV" --hidden "$HIDDEN" --batch-size "$BATCH_SIZE" \
        --epochs "$EPOCHS" --lr "$LR" --threads "$THREADS" --seed "$TRAIN_SEED" \
        --single-row "$SINGLE_ROW"
}

# json_opt FILE KEY: like json_field, "—" when the key is absent.
json_opt() {
    python3 -c 'import json, sys
text = open(sys.argv[1]).read()
lines = [l for l in text.splitlines() if l.startswith("{") and l.rstrip().endswith("}")]
v = json.loads(lines[-1] if lines else text).get(sys.argv[2])
print("—" if v is None else v)' "$1" "$2"
}

# run_side SIDE ROUND: one run of a side (al: Airlock, pt: PyTorch) under
# GNU time; checks that it saw the whole file.
run_side() {
    local side=$1 round=$2 key="$1_$2" rows features
    local -a args
    mapfile -t args < <(bench_args)
    if [[ $side == al ]]; then
        log "round $round: Airlock (candle)"
        timed "$key" "$RUST_BENCH" "${args[@]}"
    else
        log "round $round: PyTorch"
        timed "$key" "$TORCH_PYTHON" "$REPO/bench/runtime_torch.py" "${args[@]}"
    fi
    rows=$(json_field "$LOGS/$key.out" rows)
    features=$(json_field "$LOGS/$key.out" features)
    ((rows == ROWS && features == FEATURES)) ||
        die "$key saw $rows rows x $features features, expected $ROWS x $FEATURES"
    log "$(printf '%s: train %.0f rows/s, batch %.0f rows/s, p50 %.1f µs, p99 %.1f µs, loss %.4f' \
        "$key" "$(json_field "$LOGS/$key.out" train_rows_per_s)" \
        "$(json_field "$LOGS/$key.out" batch_infer_rows_per_s)" \
        "$(json_field "$LOGS/$key.out" single_row_p50_us)" \
        "$(json_field "$LOGS/$key.out" single_row_p99_us)" \
        "$(json_field "$LOGS/$key.out" final_train_loss)")"
}

run_rounds() {
    local r
    for ((r = 1; r <= ROUNDS; r++)); do
        if ((r % 2 == 1)); then
            run_side al "$r"
            run_side pt "$r"
        else
            run_side pt "$r"
            run_side al "$r"
        fi
    done
}

# full_path_latency: single-row inference through the whole serving path
# (appliance/benches/predict_latency.rs: request JSON, contract rules, feature
# transform, model, output checks, reply), in-process on the demo's deployed
# model. Built first, so the timed run is the bench alone.
LATENCY_BUILD=(cargo bench --locked -p airlock-appliance --bench predict_latency)
full_path_latency() {
    log "building the full-path latency bench (${LATENCY_BUILD[*]} --no-run)"
    (cd "$REPO" && "${LATENCY_BUILD[@]}" --no-run) >&2
    log "full-path single-row latency (the demo's model, one thread)"
    if ! (cd "$REPO" && RAYON_NUM_THREADS=1 "${LATENCY_BUILD[@]}") \
        >"$LOGS/latency.out" 2>"$LOGS/latency.err" </dev/null; then
        tail -n 20 "$LOGS/latency.err" >&2 || true
        die "the full-path latency bench failed"
    fi
    local k
    declare -gA LAT=()
    for k in calls features p50_us p90_us p99_us p999_us max_us calls_per_s; do
        LAT[$k]=$(json_field "$LOGS/latency.out" "$k")
    done
    LAT[arch]=$(python3 -c 'import json, sys
lines = [l for l in open(sys.argv[1]) if l.startswith("{")]
print(json.dumps(json.loads(lines[-1])["arch"], separators=(",", ":")))' "$LOGS/latency.out")
    if awk -v p="${LAT[p99_us]}" 'BEGIN { exit !(p < 100) }'; then
        LAT[goal]="met"
    else
        LAT[goal]="not met"
    fi
    log "$(printf 'full path: p50 %.1f µs, p99 %.1f µs, %.0f calls/s' \
        "${LAT[p50_us]}" "${LAT[p99_us]}" "${LAT[calls_per_s]}")"
}

# ---------------------------------------------------------------- figures

# best SIDE KEY max|min: a side's best figure over the rounds.
best() {
    local side=$1 key=$2 how=$3 r
    for ((r = 1; r <= ROUNDS; r++)); do
        json_field "$LOGS/${side}_$r.out" "$key"
    done | awk -v how="$how" '
        NR == 1 || (how == "max" && $1 > b) || (how == "min" && $1 < b) { b = $1 }
        END { printf "%s", b }'
}

# thousands N: N rounded to a whole number, with thousands separators.
thousands() {
    awk -v n="$1" 'BEGIN {
        x = sprintf("%.0f", n); out = ""
        while (length(x) > 3) { out = "," substr(x, length(x) - 2) out; x = substr(x, 1, length(x) - 3) }
        printf "%s%s", x, out
    }'
}

us() { awk -v n="$1" 'BEGIN { printf "%.1f", n }'; }

# fraction X: X to 4 places, or X as it is when it is not a number ("—").
fraction() {
    if [[ $1 =~ ^[0-9.eE+-]+$ ]]; then awk -v n="$1" 'BEGIN { printf "%.4f", n }'; else printf '%s' "$1"; fi
}

collect() {
    declare -gA AL=() PT=()
    local k
    for k in train_rows_per_s batch_infer_rows_per_s; do
        AL[$k]=$(best al "$k" max)
        PT[$k]=$(best pt "$k" max)
    done
    for k in single_row_p50_us single_row_p99_us; do
        AL[$k]=$(best al "$k" min)
        PT[$k]=$(best pt "$k" min)
    done
    # The loss is deterministic for a given seed on each side: round 1's.
    AL[loss]=$(json_field "$LOGS/al_1.out" final_train_loss)
    PT[loss]=$(json_field "$LOGS/pt_1.out" final_train_loss)
    AL[acc]=$(fraction "$(json_opt "$LOGS/al_1.out" train_accuracy)")
    PT[acc]=$(fraction "$(json_opt "$LOGS/pt_1.out" train_accuracy)")
    TORCH_VERSION=$(json_field "$LOGS/pt_1.out" torch)
    TORCH_THREADS=$(json_field "$LOGS/pt_1.out" threads)
    AL_THREADS=$(json_field "$LOGS/al_1.out" threads)
    # Same model, same data, same optimizer: the losses should be close.
    if ! awk -v a="${AL[loss]}" -v p="${PT[loss]}" 'BEGIN { exit !(a <= p * 1.1 + 0.01) }'; then
        log "warning: Airlock's final training loss ${AL[loss]} is well above PyTorch's ${PT[loss]}"
    fi
}

# figure_rows: measure, Airlock, PyTorch, ratio (above 1: Airlock faster).
figure_rows() {
    local k
    printf '%s\t%s\t%s\t%s\n' "training, rows/s" \
        "$(thousands "${AL[train_rows_per_s]}")" "$(thousands "${PT[train_rows_per_s]}")" \
        "$(ratio "${AL[train_rows_per_s]}" "${PT[train_rows_per_s]}")"
    printf '%s\t%s\t%s\t%s\n' "batch inference, rows/s" \
        "$(thousands "${AL[batch_infer_rows_per_s]}")" "$(thousands "${PT[batch_infer_rows_per_s]}")" \
        "$(ratio "${AL[batch_infer_rows_per_s]}" "${PT[batch_infer_rows_per_s]}")"
    for k in p50 p99; do
        printf '%s\t%s\t%s\t%s\n' "single-row inference $k, µs" \
            "$(us "${AL[single_row_${k}_us]}")" "$(us "${PT[single_row_${k}_us]}")" \
            "$(ratio "${PT[single_row_${k}_us]}" "${AL[single_row_${k}_us]}")"
    done
    printf '%s\t%s\t%s\t%s\n' "final training loss (not a speed)" \
        "$(awk -v n="${AL[loss]}" 'BEGIN { printf "%.4f", n }')" \
        "$(awk -v n="${PT[loss]}" 'BEGIN { printf "%.4f", n }')" "—"
}

print_table() {
    printf '%-36s %18s %14s %8s\n' measure "Airlock (candle)" PyTorch ratio
    while IFS=$'\t' read -r m a p r; do
        printf '%-36s %18s %14s %8s\n' "$m" "$a" "$p" "$r"
    done
}

markdown_table() {
    printf '| measure | Airlock (candle) | PyTorch | ratio |\n|---|---:|---:|---:|\n'
    while IFS=$'\t' read -r m a p r; do
        printf '| %s | %s | %s | %s |\n' "$m" "$a" "$p" "$r"
    done
}

# round_rows: every run's own figures, for the record.
round_rows() {
    local r side key name
    printf '| round | side | train rows/s | batch rows/s | p50 µs | p99 µs | final loss | process s | peak RSS MiB |\n'
    printf '|---:|---|---:|---:|---:|---:|---:|---:|---:|\n'
    for ((r = 1; r <= ROUNDS; r++)); do
        for side in al pt; do
            key="${side}_$r"
            name=PyTorch
            [[ $side == pt ]] || name=Airlock
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$r" "$name" \
                "$(thousands "$(json_field "$LOGS/$key.out" train_rows_per_s)")" \
                "$(thousands "$(json_field "$LOGS/$key.out" batch_infer_rows_per_s)")" \
                "$(us "$(json_field "$LOGS/$key.out" single_row_p50_us)")" \
                "$(us "$(json_field "$LOGS/$key.out" single_row_p99_us)")" \
                "$(awk -v n="$(json_field "$LOGS/$key.out" final_train_loss)" 'BEGIN { printf "%.4f", n }')" \
                "${SECS[$key]}" "$(mib "${RSS_KIB[$key]}")"
        done
    done
}

candle_version() {
    awk '/^name = "candle-core"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' "$REPO/Cargo.lock"
}

section() {
    cat <<EOF
## Training and inference runtime: Airlock (candle) against PyTorch, CPU

Written by \`bench/runtime.sh\` (\`ROWS=${ROWS} FEATURES=${FEATURES} ROUNDS=${ROUNDS}\`); run it again to replace this section.

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(machine)
- Airlock: revision $(revision), candle $(candle_version), benchmark ${RUST_ORIGIN}, ${AL_THREADS} threads
- PyTorch: torch ${TORCH_VERSION} (CPU), ${TORCH_THREADS} threads (\`torch.set_num_threads\`, one inter-op thread), Python $(json_field "$LOGS/pt_1.out" python), NumPy $(json_field "$LOGS/pt_1.out" numpy)
- Threads: \`OMP_NUM_THREADS=${THREADS} MKL_NUM_THREADS=${THREADS} RAYON_NUM_THREADS=${THREADS}\` for both
- Data: \`bench/runtime_data.py --seed ${DATA_SEED}\`, ${ROWS} rows x ${FEATURES} standard-normal float32 features and a 0/1 label, CSV of ${CSV_BYTES} bytes ($(mib $((CSV_BYTES / 1024))) MiB); every row a training row

Both sides ran with the same arguments, \`--hidden ${HIDDEN} --batch-size ${BATCH_SIZE} --epochs ${EPOCHS}
--lr ${LR} --threads ${THREADS} --seed ${TRAIN_SEED} --single-row ${SINGLE_ROW}\`: an MLP
${FEATURES}→${HIDDEN//,/→}→1 with ReLU, BCE with logits, AdamW (no weight decay). Training: one
warm-up epoch not timed, then ${EPOCHS} timed epochs of shuffled minibatches of ${BATCH_SIZE}
(shuffle, batch gather, forward, backward, optimizer step); rows/s = rows × epochs / seconds.
Batch inference: model + sigmoid over all rows in chunks of 4096, over several timed passes.
Single-row inference: ${SINGLE_ROW} calls of one row through model + sigmoid, each timed; the
model only, no request parsing or feature transforms. The sides alternated over ${ROUNDS}
rounds (Airlock first in odd rounds); the table keeps each side's best round for each figure.
Ratio: how many times faster Airlock is (above 1) or slower (below 1).

$(figure_rows | markdown_table)

- Training accuracy after training (threshold 0.5): Airlock ${AL[acc]}, PyTorch ${PT[acc]}

### Single-row inference through the full path, in-process

\`${LATENCY_BUILD[*]}\` (appliance/benches/predict_latency.rs), one thread, after the rounds
above: the demo's deployed credit model (${LAT[features]} features, \`${LAT[arch]}\`) behind
\`airlock::serve::answer\`, what \`airlock serve\` does per request once the line is read:
request JSON, the contract's cell rules, the feature set's transform, the model, the output
checks and the reply's JSON. ${LAT[calls]} timed calls after a warm-up, each timed.

| p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | calls/s |
|---:|---:|---:|---:|---:|---:|
| $(us "${LAT[p50_us]}") | $(us "${LAT[p90_us]}") | $(us "${LAT[p99_us]}") | $(us "${LAT[p999_us]}") | $(us "${LAT[max_us]}") | $(thousands "${LAT[calls_per_s]}") |

Goal p99 under 100 µs: ${LAT[goal]}.

### GPU

Not measured here: this run had no GPU. \`docs/gpu.md\` says how the GPU worker is built and
what was proven of it.

Every run (process seconds and peak RSS are the whole process under GNU time, CSV loading included):

$(round_rows)
EOF
}

# ---------------------------------------------------------------- main

main() {
    if [[ ! $ROWS =~ ^[1-9][0-9]*$ ]] || ((ROWS < 1000)); then
        die "ROWS must be a whole number of at least 1000, got '$ROWS'"
    fi
    [[ $FEATURES =~ ^[1-9][0-9]*$ ]] || die "FEATURES must be a positive whole number, got '$FEATURES'"
    [[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive whole number, got '$ROUNDS'"
    # Refuse a damaged docs file now, not after the benchmark has run.
    check_markers "$MARK_START" "$MARK_END"
    ensure_tools
    rust_binary
    make_workdir runtime
    make_data
    run_rounds
    full_path_latency
    collect
    echo
    figure_rows | print_table
    section >"$WORK/section.md"
    replace_section "$MARK_START" "$MARK_END" "$WORK/section.md"
}

main "$@"
