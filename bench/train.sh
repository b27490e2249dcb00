#!/usr/bin/env bash
# bench/train.sh: the whole `airlock train` path as an operator runs it,
# against the whole PyTorch script a data scientist would run, on the same
# CSV, model, epochs, batch size and threads; writes the figures to
# docs/benchmarks.md.
#
# Run from anywhere:
#
#   bench/train.sh                  # 1,000,000 rows x 32 features, 1 round
#   ROUNDS=2 bench/train.sh         # alternate the sides, keep each one's best
#   ROWS=100000 bench/train.sh      # quick check
#
# The data (bench/runtime_data.py, seeded, so every run reads the same bytes):
# ROWS rows of FEATURES standard-normal float32 features x0.. and a 0/1
# `label` (see that file). The contract this script writes declares each
# feature a float and the label an integer in 0..=1; the feature set is one
# `identity` feature per column (FEATURES values a row), label `label`,
# positive value 1.
#
# Airlock, each step once:
#
#   ingest   airlock data ingest (contract checks, profile, encrypted
#            snapshot, signed record): GNU time, wall seconds and peak RSS
#   apply    airlock features apply (fits the feature set on the snapshot):
#            GNU time
#   train    airlock train --model mlp --hidden 64,64 --epochs 3
#            --batch-size 256 --learning-rate 1e-3 --seed 42 --device cpu:
#            the parent resolves the dataset and the feature set, reads and
#            decrypts the snapshot, parses and checks every row, computes the
#            feature matrix, writes the job and starts the worker; the
#            worker enters its sandbox, reads the job, splits the rows
#            (70/10/20), trains 3 epochs with a validation pass after each,
#            scores every split and writes the weights; the parent validates
#            the weights, recomputes every metric on every split, signs and
#            records the model. Measured by bench/proc_peak.py: wall seconds,
#            and the peak RSS (VmHWM) of the parent and of the worker, each,
#            sampled every 5 ms, with the exact peak of the larger of the two
#            from wait4 beside them.
#
# Ingest and apply run after `sync` and a page cache drop, as in
# bench/ingest.sh. The training steps run warm, as a second run would: each
# side's program, libraries and input read once into the page cache first
# (importing torch from a cold cache alone is seconds of disk reads).
#
# PyTorch: bench/train_torch.py, the whole python3 process under GNU time
# (interpreter start, imports, pandas.read_csv of the CSV, the same split
# fractions, 3 epochs of AdamW minibatches of 256 on the training rows with
# a validation loss after each, the held-out loss and accuracy, torch.save).
#
# The comparison is `airlock train` against the PyTorch process: both start
# from stored data (Airlock from its ingested snapshot, PyTorch from the
# CSV) and end with saved weights. Ingest and apply happen once per dataset
# and feature set, not per training run; they are reported beside it.
#
# Environment:
#   AIRLOCK_BIN   airlock binary; default: cargo build --release --locked
#   TORCH_PYTHON  python with torch, numpy and pandas (default
#                 /opt/torchbench/bin/python; made with pip when that default
#                 is missing: several minutes, about 5.5 GiB)
#   ROWS          rows (default 1000000, at least 1000)
#   FEATURES      features (default 32)
#   ROUNDS        rounds of the two training sides (default 1); the sides
#                 alternate, Airlock first in odd rounds; the best of each
#                 side is compared, every round is listed
#   BENCH_DIR     where the work folder is made (default target/bench)
#   KEEP=1        keep the work folder (home, CSV, logs)
#
# Needs: bash, GNU time, python3 with numpy (data, proc_peak.py), cargo
# (unless AIRLOCK_BIN is given).

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOC="$REPO/docs/benchmarks.md"
ROWS=${ROWS:-1000000}
FEATURES=${FEATURES:-32}
ROUNDS=${ROUNDS:-1}
KEEP=${KEEP:-0}
TORCH_PYTHON=${TORCH_PYTHON:-/opt/torchbench/bin/python}
DEFAULT_TORCH_PYTHON=/opt/torchbench/bin/python
TORCH_PIN=2.15.0
DATA_SEED=7
THREADS=2

HIDDEN=64,64
BATCH_SIZE=256
EPOCHS=3
LR=1e-3
TRAIN_SEED=42
# Goals (issue 20): `airlock train` at least this many times faster than the
# PyTorch script; each process's peak RSS at most this many feature matrices.
SPEED_GOAL=3
RSS_GOAL_MATRICES=3

export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS RAYON_NUM_THREADS=$THREADS

MARK_START='<!-- train-bench:start -->'
MARK_END='<!-- train-bench:end -->'

declare -A SECS=() RSS_KIB=() LOAD=()

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

# ---------------------------------------------------------------- tools

ensure_tools() {
    if [[ ! -x /usr/bin/time ]]; then
        log "installing time"
        as_root apt-get install -y time ||
            { as_root apt-get update && as_root apt-get install -y time; }
    fi
    if [[ $TORCH_PYTHON == "$DEFAULT_TORCH_PYTHON" && ! -x $TORCH_PYTHON ]]; then
        local venv=${DEFAULT_TORCH_PYTHON%/bin/python}
        log "making $venv with torch==$TORCH_PIN, numpy and pandas (pip; several minutes)"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet "torch==$TORCH_PIN" numpy pandas >&2
    fi
    "$TORCH_PYTHON" -c 'import numpy, pandas, torch' 2>/dev/null ||
        die "TORCH_PYTHON=$TORCH_PYTHON cannot import torch, numpy and pandas"
}

# load1: the 1-minute load average now.
load1() { awk '{ print $1 }' /proc/loadavg; }

# ---------------------------------------------------------------- data

make_data() {
    CSV="$WORK/data/train.csv"
    log "generating ${ROWS} rows x ${FEATURES} features (seed ${DATA_SEED})"
    "$TORCH_PYTHON" "$REPO/bench/runtime_data.py" --rows "$ROWS" --features "$FEATURES" \
        --seed "$DATA_SEED" --out "$CSV"
    CSV_BYTES=$(stat -c %s "$CSV")
    MATRIX_BYTES=$((ROWS * FEATURES * 4))
    {
        printf 'name = "bench"\nversion = 1\n'
        local j
        for ((j = 0; j < FEATURES; j++)); do
            printf '\n[[columns]]\nname = "x%d"\ntype = "float"\n' "$j"
        done
        printf '\n[[columns]]\nname = "label"\ntype = "integer"\nmin = 0\nmax = 1\n'
    } >"$WORK/data/contract.toml"
    {
        printf 'name = "bench-features"\ndataset = "bench@1"\nlabel = "label"\npositive = "1"\n'
        for ((j = 0; j < FEATURES; j++)); do
            printf '\n[[features]]\ncolumn = "x%d"\ntransform = "identity"\n' "$j"
        done
    } >"$WORK/data/features.toml"
}

# ---------------------------------------------------------------- steps

airlock_prepare() {
    AHOME="$WORK/airlock/home"
    AL=("$AIRLOCK_BIN" --json --home "$AHOME")
    mkdir -p "$WORK/airlock"
    "${AL[@]}" init --site bench >"$LOGS/init.out"
    log "airlock: data ingest"
    LOAD[al_ingest]=$(load1)
    timed al_ingest "${AL[@]}" data ingest "$CSV" --dataset bench \
        --contract "$WORK/data/contract.toml"
    local rows
    rows=$(json_field "$LOGS/al_ingest.out" rows)
    ((rows == ROWS)) || die "airlock ingested $rows rows, expected $ROWS"
    log "airlock: features apply"
    LOAD[al_apply]=$(load1)
    timed al_apply "${AL[@]}" features apply "$WORK/data/features.toml"
    local width
    width=$(json_field "$LOGS/al_apply.out" width)
    ((width == FEATURES)) || die "the feature set is $width wide, expected $FEATURES"
}

# airlock_train ROUND: one `airlock train`, under proc_peak.py.
airlock_train() {
    local key="al_train_$1"
    log "round $1: airlock train"
    LOAD[$key]=$(load1)
    if ! python3 "$REPO/bench/proc_peak.py" --out "$LOGS/$key.peak" -- \
        "${AL[@]}" train --dataset bench@1 --features bench-features@1 --model mlp \
        --hidden "$HIDDEN" --epochs "$EPOCHS" --batch-size "$BATCH_SIZE" --learning-rate "$LR" \
        --seed "$TRAIN_SEED" --device cpu --name "bench-r$1" \
        >"$LOGS/$key.out" 2>"$LOGS/$key.err" </dev/null; then
        tail -n 20 "$LOGS/$key.err" >&2 || true
        die "airlock train failed (round $1)"
    fi
    python3 - "$LOGS/$key.peak" >"$LOGS/$key.fig" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
procs = r["processes"]
parent = [p for p in procs if p["depth"] == 0]
# The worker is `airlock-worker` when it is installed beside airlock, else airlock itself
# as `airlock __worker`.
worker = [p for p in procs if p["depth"] >= 1
          and ("__worker" in p["argv"] or p["argv"][0].endswith("/airlock-worker"))]
if len(parent) != 1 or len(worker) != 1:
    sys.exit(f"expected one parent and one worker, saw {procs}")
print(f'{r["wall_s"]:.2f} {parent[0]["hwm_kib"]} {worker[0]["hwm_kib"]} {r["tree_maxrss_kib"]} '
      f'{parent[0]["samples"]} {worker[0]["samples"]}')
EOF
    local secs pk wk tree ps ws
    read -r secs pk wk tree ps ws <"$LOGS/$key.fig"
    SECS[$key]=$secs
    RSS_KIB[${key}_parent]=$pk
    RSS_KIB[${key}_worker]=$wk
    RSS_KIB[${key}_tree]=$tree
    log "$(printf '%-16s %8s s  parent %8s MiB  worker %8s MiB  (exact max %s MiB; %s/%s samples)' \
        "$key" "$secs" "$(mib "$pk")" "$(mib "$wk")" "$(mib "$tree")" "$ps" "$ws")"
}

# torch_train ROUND: the PyTorch script, under GNU time (warm caches, like
# airlock train: see warm_caches).
torch_train() {
    local key="pt_train_$1" secs kib
    log "round $1: PyTorch script"
    LOAD[$key]=$(load1)
    if ! /usr/bin/time -f '%e %M' -o "$LOGS/$key.time" "$TORCH_PYTHON" \
        "$REPO/bench/train_torch.py" --data "$CSV" --out "$WORK/torch-r$1.pt" \
        --hidden "$HIDDEN" --batch-size "$BATCH_SIZE" --epochs "$EPOCHS" --lr "$LR" \
        --threads "$THREADS" --seed "$TRAIN_SEED" \
        >"$LOGS/$key.out" 2>"$LOGS/$key.err" </dev/null; then
        tail -n 20 "$LOGS/$key.err" >&2 || true
        die "the PyTorch script failed (round $1)"
    fi
    read -r secs kib < <(tail -n 1 "$LOGS/$key.time")
    SECS[$key]=$secs
    RSS_KIB[$key]=$kib
    log "$(printf '%-16s %8s s %8s MiB' "$key" "$secs" "$(mib "$kib")")"
}

# warm_caches: the training steps run warm, as a second run would: each
# side's program and libraries and its input (the CSV; the snapshot in the
# vault) read once into the page cache first. From a cold cache, importing
# torch alone reads seconds' worth of its 5.5 GiB of wheels, which would say
# more about the disk than about either side.
warm_caches() {
    log "warming the page cache: the CSV, the vault, airlock, torch and pandas"
    cat "$CSV" >/dev/null
    find "$AHOME" -type f -exec cat {} + >/dev/null
    "$AIRLOCK_BIN" --version >/dev/null
    "$TORCH_PYTHON" -c 'import numpy, pandas, torch' >/dev/null
}

run_rounds() {
    local r
    for ((r = 1; r <= ROUNDS; r++)); do
        if ((r % 2 == 1)); then
            airlock_train "$r"
            torch_train "$r"
        else
            torch_train "$r"
            airlock_train "$r"
        fi
    done
}

# best PREFIX: the round whose SECS[PREFIX_R] is lowest.
best() {
    local prefix=$1 r best_r=1
    for ((r = 2; r <= ROUNDS; r++)); do
        if awk -v a="${SECS[${prefix}_$r]}" -v b="${SECS[${prefix}_$best_r]}" 'BEGIN { exit !(a < b) }'; then
            best_r=$r
        fi
    done
    echo "$best_r"
}

# ---------------------------------------------------------------- report

# verdict OK: "met" or "**not met**".
verdict() { if [[ $1 == 1 ]]; then echo met; else echo "**not met**"; fi; }

collect() {
    AR=$(best al_train)
    PR=$(best pt_train)
    A_S=${SECS[al_train_$AR]}
    P_S=${SECS[pt_train_$PR]}
    RSS_GOAL_KIB=$((MATRIX_BYTES * RSS_GOAL_MATRICES / 1024))
    SPEED_OK=$(awk -v p="$P_S" -v a="$A_S" -v g="$SPEED_GOAL" 'BEGIN { print (p / a >= g) ? 1 : 0 }')
    PARENT_OK=$((RSS_KIB[al_train_${AR}_parent] <= RSS_GOAL_KIB ? 1 : 0))
    WORKER_OK=$((RSS_KIB[al_train_${AR}_worker] <= RSS_GOAL_KIB ? 1 : 0))
    AL_TRAIN_JSON="$LOGS/al_train_$AR.out"
    PT_JSON="$LOGS/pt_train_$PR.out"
}

# pt_epochs: the best PyTorch round's epoch seconds, comma-separated.
pt_epochs() {
    python3 -c 'import json, sys
d = json.loads([l for l in open(sys.argv[1]).read().splitlines() if l.startswith("{")][-1])
print(", ".join("%.2f" % h["seconds"] for h in d["history"]))' "$PT_JSON"
}

# busy_note: a warning when a compared step started with the machine busy (a
# 1-minute load of at least the number of CPUs): both sides then ran on a
# share of the cores, and PyTorch's two OpenMP threads, which wait for each
# other at every operator, can slow down far more than the load alone says.
busy_note() {
    local r key busy=""
    for ((r = 1; r <= ROUNDS; r++)); do
        for key in al_train_$r pt_train_$r; do
            if awk -v l="${LOAD[$key]}" -v n="$(nproc)" 'BEGIN { exit !(l >= n) }'; then
                busy+="${busy:+,} $key (${LOAD[$key]})"
            fi
        done
    done
    [[ -z $busy ]] && return 0
    printf -- '- **Busy machine**: these steps started with a 1-minute load of at least %s (the CPUs):%s. Their seconds are those of a shared machine, not of either program alone; compare rounds run idle.\n' "$(nproc)" "$busy"
}

# pt_s KEY: a phase of the best PyTorch round, in seconds.
pt_s() { awk -v s="$(json_field "$PT_JSON" "$1")" 'BEGIN { printf "%.2f", s }'; }

print_summary() {
    printf '%-34s %8s %12s %12s %6s\n' step seconds "parent MiB" "worker MiB" load
    printf '%-34s %8s %12s %12s %6s\n' "airlock data ingest" "${SECS[al_ingest]}" \
        "$(mib "${RSS_KIB[al_ingest]}")" - "${LOAD[al_ingest]}"
    printf '%-34s %8s %12s %12s %6s\n' "airlock features apply" "${SECS[al_apply]}" \
        "$(mib "${RSS_KIB[al_apply]}")" - "${LOAD[al_apply]}"
    local r
    for ((r = 1; r <= ROUNDS; r++)); do
        printf '%-34s %8s %12s %12s %6s\n' "airlock train (round $r)" "${SECS[al_train_$r]}" \
            "$(mib "${RSS_KIB[al_train_${r}_parent]}")" "$(mib "${RSS_KIB[al_train_${r}_worker]}")" \
            "${LOAD[al_train_$r]}"
        printf '%-34s %8s %12s %12s %6s\n' "PyTorch script (round $r)" "${SECS[pt_train_$r]}" \
            "$(mib "${RSS_KIB[pt_train_$r]}")" - "${LOAD[pt_train_$r]}"
    done
    printf 'ratio (PyTorch / airlock train, best rounds): %s (goal %s×: %s)\n' \
        "$(ratio "$P_S" "$A_S")" "$SPEED_GOAL" "$(verdict "$SPEED_OK")"
    printf 'peak RSS goal %s MiB: parent %s, worker %s\n' "$(mib "$RSS_GOAL_KIB")" \
        "$(verdict "$PARENT_OK")" "$(verdict "$WORKER_OK")"
}

round_rows() {
    printf '| round | side | seconds | peak RSS MiB | load (1 min) |\n|---:|---|---:|---:|---:|\n'
    local r
    for ((r = 1; r <= ROUNDS; r++)); do
        printf '| %s | airlock train | %s | parent %s, worker %s (exact larger: %s) | %s |\n' "$r" \
            "${SECS[al_train_$r]}" "$(mib "${RSS_KIB[al_train_${r}_parent]}")" \
            "$(mib "${RSS_KIB[al_train_${r}_worker]}")" "$(mib "${RSS_KIB[al_train_${r}_tree]}")" \
            "${LOAD[al_train_$r]}"
        printf '| %s | PyTorch script | %s | %s | %s |\n' "$r" "${SECS[pt_train_$r]}" \
            "$(mib "${RSS_KIB[pt_train_$r]}")" "${LOAD[pt_train_$r]}"
    done
}

section() {
    local holdout_auc
    holdout_auc=$(python3 -c 'import json, sys
text = open(sys.argv[1]).read()
lines = [l for l in text.splitlines() if l.startswith("{") and l.rstrip().endswith("}")]
d = json.loads(lines[-1] if lines else text)
m = d.get("metrics") or d.get("record", {}).get("metrics") or {}
h = m.get("holdout", {}) if isinstance(m, dict) else {}
v = h.get("accuracy")
print("—" if v is None else f"{v:.4f}")' "$AL_TRAIN_JSON" 2>/dev/null || echo —)
    cat <<EOF
## The whole \`airlock train\` path against a PyTorch script (issue 20)

Written by \`bench/train.sh\` (\`ROWS=${ROWS} FEATURES=${FEATURES} ROUNDS=${ROUNDS}\`); run it again to replace this section.

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(machine)
- Airlock: revision $(revision), $("$AIRLOCK_BIN" --version), binary ${BIN_ORIGIN}
- PyTorch: torch $(json_field "$PT_JSON" torch) (CPU), pandas $(json_field "$PT_JSON" pandas), NumPy $(json_field "$PT_JSON" numpy), Python $(json_field "$PT_JSON" python)
- Threads: \`OMP_NUM_THREADS=${THREADS} MKL_NUM_THREADS=${THREADS} RAYON_NUM_THREADS=${THREADS}\` for both; \`torch.set_num_threads(${THREADS})\`
- Data: \`bench/runtime_data.py --seed ${DATA_SEED}\`, ${ROWS} rows x ${FEATURES} standard-normal float32 features and a 0/1 label, CSV of ${CSV_BYTES} bytes ($(mib $((CSV_BYTES / 1024))) MiB); the feature matrix as f32 is ${MATRIX_BYTES} bytes ($(mib $((MATRIX_BYTES / 1024))) MiB)
- Model and run, both sides: MLP ${FEATURES}→${HIDDEN//,/→}→1, ReLU, BCE with logits, AdamW lr ${LR}, batch ${BATCH_SIZE}, ${EPOCHS} epochs, seed ${TRAIN_SEED}, rows split 70/10/20 (train/validation/holdout)

\`airlock train\` is the whole command: resolving the dataset and feature set, reading and
decrypting the snapshot, parsing and checking every row, the feature transform, the job
folder, starting the worker and its sandbox, the worker reading the job, training with a
validation pass per epoch, scoring every split, the parent validating the weights and
recomputing every metric, signing and recording. Its peak RSS is each process's own VmHWM,
sampled every 5 ms by \`bench/proc_peak.py\`; "exact larger" is \`wait4\`'s \`ru_maxrss\`,
the exact peak of the larger of the two. The PyTorch script (\`bench/train_torch.py\`) is the
whole \`python3\` process under GNU time: imports, \`pandas.read_csv\`, the split, training
with a validation loss per epoch, the held-out loss and accuracy, \`torch.save\`. Ingest and
apply ran after \`sync\` and a page cache drop; the training steps ran warm (each side's
program, libraries and input read once into the page cache first, as on a second run).
Load is the 1-minute
load average as the step started (this machine's 2 cores are shared with other jobs).

| step | seconds | peak RSS MiB | load (1 min) |
|---|---:|---:|---:|
| airlock data ingest (once per dataset) | ${SECS[al_ingest]} | $(mib "${RSS_KIB[al_ingest]}") | ${LOAD[al_ingest]} |
| airlock features apply (once per feature set) | ${SECS[al_apply]} | $(mib "${RSS_KIB[al_apply]}") | ${LOAD[al_apply]} |
| **airlock train** (round ${AR}) | ${A_S} | parent $(mib "${RSS_KIB[al_train_${AR}_parent]}"), worker $(mib "${RSS_KIB[al_train_${AR}_worker]}") | ${LOAD[al_train_$AR]} |
| **PyTorch script** (round ${PR}) | ${P_S} | $(mib "${RSS_KIB[pt_train_$PR]}") | ${LOAD[pt_train_$PR]} |

- Speed-up, PyTorch seconds / \`airlock train\` seconds: $(ratio "$P_S" "$A_S"); goal at least ${SPEED_GOAL}×: $(verdict "$SPEED_OK")
- Peak RSS goal, each process at most ${RSS_GOAL_MATRICES}× the feature matrix ($(mib "$RSS_GOAL_KIB") MiB): parent $(verdict "$PARENT_OK"), worker $(verdict "$WORKER_OK")
- Inside the PyTorch process: imports $(pt_s import_s) s, \`read_csv\` $(pt_s read_s) s, training $(pt_s train_s) s, scoring $(pt_s score_s) s, \`torch.save\` $(pt_s save_s) s
- PyTorch's epochs (training and the validation loss), seconds: $(pt_epochs)
- Held-out accuracy: Airlock ${holdout_auc}, PyTorch $(awk -v a="$(json_field "$PT_JSON" holdout_accuracy)" 'BEGIN { printf "%.4f", a }')
$(busy_note)

Every round:

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
    check_markers "$MARK_START" "$MARK_END"
    ensure_tools
    airlock_binary
    make_workdir train
    make_data
    warm_memory $((CSV_BYTES * 3 / 1024))
    airlock_prepare
    warm_caches
    run_rounds
    collect
    echo
    print_summary
    section >"$WORK/section.md"
    replace_section "$MARK_START" "$MARK_END" "$WORK/section.md"
}

# Sourced (bench/paired.sh uses the data steps), it only defines.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
