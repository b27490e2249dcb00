#!/usr/bin/env bash
# bench/evaluate.sh: `airlock gate MODEL --policy GATE.toml` (which runs `airlock
# evaluate` first: no evaluation covers the policy in a fresh home) against
# Fairlearn's MetricFrame plus scikit-learn's permutation_importance on the same
# predictions, in one run, on a 1,000,000-row evaluation file; and writes the
# figures to docs/benchmarks.md.
#
# Run from anywhere:
#
#   bench/evaluate.sh                  # 1,000,000 evaluation rows, both sides
#   ROWS=100000 bench/evaluate.sh      # quick check
#   PEER=0 bench/evaluate.sh           # the Airlock side only; docs untouched
#
# The data (bench/gen_loans.py, seeded, so every run reads the same bytes): a
# loan-default table of 13 columns (7 integer/float, one with missing cells, 5
# categories; two sensitive attributes, sex and age; a 10-valued region column
# to slice by; the label `default`, yes or no). A training file of TRAIN_ROWS
# rows (seed 1) and an evaluation file of ROWS rows (seed 2) under one contract.
#
# Untimed setup: init, ingest both files (loans@1, loans@2), a feature set
# (standardize on every number, with a median fill and a "was missing" slot on
# income; one_hot on every category: 40 inputs from 12 columns), `train --model
# logreg` on loans@1, 100 behaviour cases (bench/gen_loans.py --cases, seed 3),
# and the gate policy below.
#
# Timed, each step once under GNU time (wall seconds, peak RSS), after a sync
# and a page cache drop:
#
#   airlock  gate MODEL --policy GATE.toml: finds no evaluation of the model on
#            loans@2, so runs evaluate (every metric, confusion, a 20-step
#            threshold sweep, calibration, permutation importance of the 12
#            features by ROC AUC with 5 seeded repeats, 10 region slices,
#            fairness for sex and age banded at 25 and 60, robustness under
#            noise and FGSM at epsilon 0.1 on the numeric inputs), stores it
#            signed, then judges the policy (metrics, slices, fairness, the 100
#            behaviour cases through the model, robustness) and stores the
#            signed gate report
#   peer     bench/evaluate_peer.py in the venv PEER_PYTHON: pandas.read_csv of
#            the same CSV, then MetricFrame per sensitive attribute (count,
#            selection rate, TPR, FPR, accuracy by group) with
#            demographic_parity_difference / _ratio and
#            equalized_odds_difference, a MetricFrame of the slice metrics by
#            region, and permutation_importance (scoring "roc_auc", the same 12
#            features, 5 repeats) of a scikit-learn pipeline holding Airlock's
#            weights. The whole process is timed by GNU time; inside, imports,
#            reading and computing are timed with time.perf_counter.
#
# Both sides judge the same predictions: after the gate (untimed),
# appliance/examples/eval_export.rs writes the model's weights and frozen
# feature set, Airlock's probability for every row, and the evaluation record
# the gate made. The peer's decisions and slice metrics use those
# probabilities; its pipeline (for permutation importance) rebuilds the
# feature transform in NumPy and holds the weights, and the largest absolute
# difference of its probabilities from Airlock's is reported. The figures are
# then compared: fairness to 1e-9 (the script stops otherwise), slice metrics
# and importance reported side by side.
#
# The peer does less than the gate: no threshold sweep, calibration table,
# robustness, behaviour cases, signatures or storage. Any bias favours the
# peer.
#
# Environment:
#   AIRLOCK_BIN  airlock binary to use; default: cargo build --release --locked
#                (the eval_export example is always built from this checkout)
#   ROWS         rows of the evaluation file (default 1000000, at least 10000)
#   TRAIN_ROWS   rows of the training file (default 20000)
#   PEER=0       the Airlock side only (no Python, no docs section)
#   PEER_PYTHON  python with fairlearn, scikit-learn and pandas (default
#                /opt/airlock-fairlearn/bin/python)
#   BENCH_DIR    where the work folder is made (default target/bench in the
#                repo); a fresh subfolder every run
#   KEEP=1       keep the work folder (home, CSVs, policy, cases, logs, JSON)
#
# Needs: bash, GNU time, python3 (data), cargo (the eval_export example), and
# for the peer a venv made with e.g.
#   python3 -m venv /opt/airlock-fairlearn &&
#   /opt/airlock-fairlearn/bin/pip install fairlearn==0.15.0 scikit-learn pandas

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOC="$REPO/docs/benchmarks.md"
ROWS=${ROWS:-1000000}
TRAIN_ROWS=${TRAIN_ROWS:-20000}
PEER=${PEER:-1}
PEER_PYTHON=${PEER_PYTHON:-/opt/airlock-fairlearn/bin/python}
KEEP=${KEEP:-0}
GOAL=10
# What the gate's evaluation uses (appliance/src/ops/evaluate.rs defaults) and the
# peer is given.
SEED=42
REPEATS=5
SENSITIVE='[["sex", []], ["age", [25, 60]]]'
SLICE=region
FAIRNESS_TOLERANCE=1e-9

declare -A SECS=() RSS_KIB=() LOAD=()

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

MARK_START='<!-- evaluate-bench:start -->'
MARK_END='<!-- evaluate-bench:end -->'

# ---------------------------------------------------------------- tools

ensure_tools() {
    [[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) is needed: apt-get install time"
    command -v python3 >/dev/null || die "python3 is needed to generate the data"
    [[ $PEER == 0 ]] || command -v cargo >/dev/null || die "cargo is needed to build the eval_export example"
    if [[ $PEER == 1 ]] && ! "$PEER_PYTHON" -c 'import fairlearn, sklearn, pandas' 2>/dev/null; then
        die "$PEER_PYTHON cannot import fairlearn, sklearn and pandas; make a venv (see the header) or set PEER_PYTHON"
    fi
}

export_build() {
    log "building the eval_export example (cargo build --release --example)"
    (cd "$REPO" && cargo build --release --locked -p airlock-appliance --example eval_export) >&2
    EXPORT_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/examples/eval_export"
    [[ -x $EXPORT_BIN ]] || die "no $EXPORT_BIN after the build"
}

# ---------------------------------------------------------------- data

cats() {
    python3 "$REPO/bench/gen_loans.py" --categories | awk -v n="$1" '$1 == n { sub(/^[^=]*= /, ""); print }'
}

write_contract() {
    cat >"$WORK/data/contract.toml" <<EOF
# Contract of the synthetic loan data written by bench/gen_loans.py.
name = "loans"
version = 1
null_tokens = [""]

[[columns]]
name = "age"
type = "integer"
min = 18
max = 90

[[columns]]
name = "sex"
type = "category"
categories = $(cats sex)

[[columns]]
name = "income"
type = "float"
nullable = true
min = 0
max = 400000
max_null_rate = 0.05

[[columns]]
name = "debt_ratio"
type = "float"
min = 0
max = 5

[[columns]]
name = "utilization"
type = "float"
min = 0
max = 1

[[columns]]
name = "tenure"
type = "integer"
min = 0
max = 480

[[columns]]
name = "accounts"
type = "integer"
min = 0
max = 30

[[columns]]
name = "late_payments"
type = "integer"
min = 0
max = 12

[[columns]]
name = "employment"
type = "category"
categories = $(cats employment)

[[columns]]
name = "housing"
type = "category"
categories = $(cats housing)

[[columns]]
name = "purpose"
type = "category"
categories = $(cats purpose)

[[columns]]
name = "region"
type = "category"
categories = $(cats region)

[[columns]]
name = "default"
type = "category"
categories = $(cats default)
EOF
}

write_spec() {
    local c
    {
        cat <<'EOF'
name = "loans-features"
dataset = "loans@1"
label = "default"
positive = "yes"

[[features]]
column = "income"
transform = "standardize"
impute = "median"
indicator = true
EOF
        for c in age debt_ratio utilization tenure accounts late_payments; do
            printf '\n[[features]]\ncolumn = "%s"\ntransform = "standardize"\n' "$c"
        done
        for c in sex employment housing purpose region; do
            printf '\n[[features]]\ncolumn = "%s"\ntransform = "one_hot"\n' "$c"
        done
    } >"$WORK/data/features.toml"
}

# write_policy: the gate policy, beside its case folder. The model passes most
# bounds; on the generated data it decides "yes" for men more often than for
# women, under four fifths of their rate, so the gate fails (it is stored all
# the same, and exits 5).
write_policy() {
    cat >"$WORK/gate/GATE.toml" <<'EOF'
[evaluation]
dataset = "loans@2"

[metrics]
roc_auc = ">= 0.70"
brier = "<= 0.25"

[slices]
columns = ["region"]
min_rows = 1000
small = "report"
[slices.metrics]
accuracy = ">= 0.65"
roc_auc = ">= 0.65"

[[fairness]]
attribute = "sex"
disparate_impact_ratio = ">= 0.80"
equalized_odds_difference = "<= 0.10"
review_band = 0.02

[[fairness]]
attribute = "age"
cuts = [25, 60]
disparate_impact_ratio = ">= 0.80"
demographic_parity_difference = "<= 0.10"
equalized_odds_difference = "<= 0.10"

[[behaviour]]
name = "clear cases"
kind = "minimum"
cases = "cases/minimum.csv"

[[behaviour]]
name = "region does not decide"
kind = "invariance"
cases = "cases/invariance.jsonl"
column = "region"
values = ["r00", "r03", "r06", "r09"]
epsilon = 0.25

[[behaviour]]
name = "late payments are not safer"
kind = "directional"
cases = "cases/directional.jsonl"
column = "late_payments"
delta = 2
direction = "increase"

[robustness]
epsilon = 0.1
noise = ">= 0.70"
fgsm = ">= 0.60"
EOF
}

make_data() {
    TRAIN_CSV="$WORK/data/train.csv"
    CSV="$WORK/data/eval.csv"
    log "generating ${TRAIN_ROWS} training rows and ${ROWS} evaluation rows"
    python3 "$REPO/bench/gen_loans.py" "$TRAIN_ROWS" "$TRAIN_CSV" --seed 1
    python3 "$REPO/bench/gen_loans.py" "$ROWS" "$CSV" --seed 2
    CSV_BYTES=$(stat -c %s "$CSV")
    mkdir -p "$WORK/gate/cases"
    python3 "$REPO/bench/gen_loans.py" --cases "$WORK/gate/cases" --seed 3
    write_contract
    write_spec
    write_policy
}

# ---------------------------------------------------------------- steps

# setup: everything before the timed gate, each step logged (not timed).
setup() {
    AHOME="$WORK/airlock/home"
    AL=("$AIRLOCK_BIN" --json --home "$AHOME")
    mkdir -p "$WORK/airlock"
    log "setup: init, ingest loans@1 and loans@2, features apply, train --model logreg"
    "${AL[@]}" init --site bench >"$LOGS/init.out"
    "${AL[@]}" data ingest "$TRAIN_CSV" --dataset loans --contract "$WORK/data/contract.toml" \
        >"$LOGS/ingest_train.out"
    "${AL[@]}" data ingest "$CSV" --dataset loans --contract "$WORK/data/contract.toml" \
        >"$LOGS/ingest_eval.out"
    local rows
    rows=$(json_field "$LOGS/ingest_eval.out" rows)
    ((rows == ROWS)) || die "airlock ingested $rows evaluation rows, expected $ROWS"
    "${AL[@]}" features apply "$WORK/data/features.toml" >"$LOGS/features.out"
    WIDTH=$(json_field "$LOGS/features.out" width)
    "${AL[@]}" train --dataset loans@1 --features loans-features --model logreg --seed 7 \
        >"$LOGS/train.out"
    MODEL=$(json_field "$LOGS/train.out" id)
    "${AL[@]}" models show "$MODEL" >"$LOGS/model.json"
    # The minimum cases name the classes by the model's own names.
    local classes
    mapfile -t classes < <(python3 -c 'import json, sys
for c in json.load(open(sys.argv[1]))["classes"]: print(c)' "$LOGS/model.json")
    ((${#classes[@]} == 2)) || die "the model has ${#classes[@]} classes, expected 2"
    sed -i -e "s/,YES\$/,${classes[1]}/" -e "s/,NO\$/,${classes[0]}/" "$WORK/gate/cases/minimum.csv"
    local evals
    evals=$(python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["evaluations"]))' \
        "$LOGS/model.json")
    ((evals == 0)) || die "the model already has $evals evaluation(s); the gate must make a fresh one"
    CASES=$(cat "$WORK"/gate/cases/*.jsonl | wc -l)
    CASES=$((CASES + $(tail -n +2 "$WORK/gate/cases/minimum.csv" | wc -l)))
}

# timed_gate: `airlock gate` under GNU time, like lib.sh's timed, but exit 5
# (a gate that fails, stored all the same) is a result, not an error.
timed_gate() {
    local key=al_gate rc=0 secs kib
    drop_caches
    /usr/bin/time -f '%e %M' -o "$LOGS/$key.time" "${AL[@]}" gate "$MODEL" \
        --policy "$WORK/gate/GATE.toml" >"$LOGS/$key.out" 2>"$LOGS/$key.err" </dev/null || rc=$?
    if ((rc != 0 && rc != 5)); then
        log "airlock gate failed (exit $rc)"
        tail -n 20 "$LOGS/$key.err" "$LOGS/$key.out" >&2 || true
        exit 1
    fi
    read -r secs kib < <(tail -n 1 "$LOGS/$key.time")
    SECS[$key]=$secs
    RSS_KIB[$key]=$kib
    GATE_EXIT=$rc
    log "$(printf '%-16s %8s s %8s MiB (exit %s)' "$key" "$secs" "$(mib "$kib")" "$rc")"
}

airlock_gate() {
    log "airlock: gate --policy (evaluate first: no evaluation covers it)"
    LOAD[gate_before]=$(load_avg)
    timed_gate
    LOAD[gate_after]=$(load_avg)
    # The report is the last JSON object of the output.
    GATE_ID=$(json_field "$LOGS/al_gate.out" id)
    EVAL_ID=$(json_field "$LOGS/al_gate.out" evaluation)
    [[ $EVAL_ID != None && -n $EVAL_ID ]] || die "the gate report names no evaluation"
    log "gate report $GATE_ID from evaluation $EVAL_ID"
}

export_step() {
    log "untimed: eval_export (weights, feature set, Airlock's scores, the evaluation record)"
    "$EXPORT_BIN" "$AHOME" "$MODEL" loans@2 "$WORK/export" 2>"$LOGS/export.err"
}

peer_step() {
    log "peer: pandas + Fairlearn MetricFrame + scikit-learn permutation_importance"
    LOAD[peer_before]=$(load_avg)
    timed peer "$PEER_PYTHON" "$REPO/bench/evaluate_peer.py" "$CSV" "$WORK/export" \
        "$SENSITIVE" "$SLICE" "$SEED" "$REPEATS"
    LOAD[peer_after]=$(load_avg)
}

# compare: the peer's figures against the evaluation record (bench/evaluate_compare.py);
# writes $WORK/compare.json, and fails when fairness differs by more than the tolerance.
compare() {
    "$PEER_PYTHON" "$REPO/bench/evaluate_compare.py" "$LOGS/peer.out" \
        "$WORK/export/evaluations.json" "$EVAL_ID" "$LOGS/al_gate.out" \
        "$FAIRNESS_TOLERANCE" >"$WORK/compare.json"
}

# ---------------------------------------------------------------- report

cmp_field() { json_field "$WORK/compare.json" "$1"; }

peer_field() { json_field "$LOGS/peer.out" "$1"; }

secs2() { awk -v s="$1" 'BEGIN { printf "%.2f", s }'; }

goal_verdict() {
    awk -v p="$1" -v a="$2" -v g="$GOAL" 'BEGIN { if (a > 0 && p / a >= g) print "met"; else print "**not met**" }'
}

# physical_cores: distinct (physical id, core id) pairs, as candle counts its threads.
physical_cores() {
    awk -F': *' '/^physical id/ { p = $2 } /^core id/ { seen[p "/" $2] = 1 }
        END { n = 0; for (k in seen) n++; print (n ? n : "unknown") }' /proc/cpuinfo
}

# load_avg: the 1-minute load average now (other work on the machine).
load_avg() { awk '{ print $1 }' /proc/loadavg; }

section() {
    local al=${SECS[al_gate]} pp=${SECS[peer]}
    local read_s compute_s import_s
    read_s=$(secs2 "$(peer_field read_s)")
    compute_s=$(secs2 "$(peer_field compute_s)")
    import_s=$(secs2 "$(peer_field import_s)")
    cat <<EOF
## Evaluation and gate: Airlock against Fairlearn + scikit-learn

Written by \`bench/evaluate.sh\` (\`ROWS=${ROWS}\`); run it again to replace this section.

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(machine)
- Airlock: revision $(revision), $("$AIRLOCK_BIN" --version), binary ${BIN_ORIGIN}
- Peer: Python $(peer_field python), pandas $(peer_field pandas), NumPy $(peer_field numpy), scikit-learn $(peer_field sklearn), Fairlearn $(peer_field fairlearn) (\`$PEER_PYTHON\`); GNU time $(pkg_version time /usr/bin/time --version)
- Data: \`bench/gen_loans.py\`, ${TRAIN_ROWS} training rows (seed 1) and ${ROWS} evaluation rows (seed 2), 13 columns (7 integer/float, income with missing cells; sex, employment, housing, purpose, region; the label \`default\`), evaluation CSV of ${CSV_BYTES} bytes ($(mib $((CSV_BYTES / 1024))) MiB)
- Model: \`airlock train --dataset loans@1 --features loans-features --model logreg --seed 7\`, ${WIDTH} inputs from 12 features; on loans@2 ROC AUC $(printf '%.4f' "$(cmp_field roc_auc)"), accuracy $(printf '%.4f' "$(cmp_field accuracy)")
- Load (1-minute load average, other work on the machine): ${LOAD[gate_before]} before and ${LOAD[gate_after]} after the gate, ${LOAD[peer_before]} before and ${LOAD[peer_after]} after the peer

What ran (untimed setup first: init, both ingests, \`features apply\`, \`train\`):

\`\`\`sh
airlock gate MODEL --policy GATE.toml      # timed: Airlock
python evaluate_peer.py CSV EXPORT '${SENSITIVE}' ${SLICE} ${SEED} ${REPEATS}   # timed: the peer
\`\`\`

- **Airlock**: the gate found no evaluation of the model on loans@2 (a fresh home), so it ran
  \`evaluate\` first and stored it: every metric, confusion at 0.5, a 20-step threshold sweep,
  calibration, permutation importance (12 features, ${REPEATS} seeded repeats, ROC AUC), 10 region
  slices, fairness for \`sex\` and \`age\` banded at 25 and 60, accuracy under noise and FGSM at
  ε 0.1. Then it judged the policy: 2 metrics, 2 bounds on each of the 10 slices, 5 fairness
  bounds, ${CASES} behaviour cases (40 minimum, 30 invariance over 4 regions, 30 directional)
  through the model, 2 robustness bounds; and signed and stored the report: $(cmp_field gate), exit ${GATE_EXIT}.
- **Peer** (\`bench/evaluate_peer.py\`): \`pandas.read_csv\`, then per sensitive attribute a
  \`MetricFrame\` (count, selection rate, TPR, FPR, accuracy by group) with
  \`demographic_parity_difference\`, \`demographic_parity_ratio\` and \`equalized_odds_difference\`;
  a \`MetricFrame\` by region of the slice metrics Airlock reports (accuracy, precision, recall,
  F1, ROC AUC, average precision, log loss, Brier, selection rate, count); and
  \`permutation_importance(pipeline, X, y, scoring="roc_auc", n_repeats=${REPEATS}, random_state=${SEED})\`
  on the 12 feature columns, the pipeline being the feature set's transform rebuilt in NumPy
  (\`FunctionTransformer\`) and a \`LogisticRegression\` holding Airlock's weights; \`n_jobs\` at
  its default (one process). No sweep, calibration, robustness, behaviour cases, signatures or
  storage.
- **Same predictions**: the peer's decisions and slice metrics use Airlock's per-row
  probabilities (\`appliance/examples/eval_export.rs\`, untimed, after the gate); its pipeline's own
  probabilities differ from Airlock's by at most $(printf '%.1e' "$(peer_field max_abs_diff)") ($(peer_field decisions_differ) decisions at 0.5 differ).
  Fairness figures (per group selection rate, TPR, FPR, counts; parity difference and ratio,
  equalized odds difference) agree to $(printf '%.1e' "$(cmp_field fairness_max_diff)") (tolerance ${FAIRNESS_TOLERANCE}); slice metrics
  differ by at most: $(cmp_field slice_diffs).

| side | wall s | peak RSS MiB |
|---|---:|---:|
| **airlock gate --policy** (evaluate + gate) | ${al} | $(mib "${RSS_KIB[al_gate]}") |
| **peer, whole python process** | ${pp} | $(mib "${RSS_KIB[peer]}") |
| &nbsp;&nbsp;↳ imports | ${import_s} | — |
| &nbsp;&nbsp;↳ read_csv (and Airlock's scores) | ${read_s} | — |
| &nbsp;&nbsp;↳ computing: MetricFrames + permutation_importance | ${compute_s} | — |
| &nbsp;&nbsp;&nbsp;&nbsp;↳ fairness, slices, importance | $(secs2 "$(peer_field fairness_s)"), $(secs2 "$(peer_field slices_s)"), $(secs2 "$(peer_field importance_s)") | — |

- Threads: Airlock uses candle's thread count, here $(physical_cores) (its default: the physical cores in /proc/cpuinfo); the peer runs in one
  process (\`n_jobs\` left at its default), NumPy's BLAS with its own default threads.
- Speed-up, peer seconds / Airlock seconds: whole processes $(ratio "$pp" "$al"); the peer's computing
  alone (no interpreter start, imports or reading) against the whole gate $(ratio "$compute_s" "$al")
- Goal, at least ${GOAL}× faster: whole processes $(goal_verdict "$pp" "$al"), the peer's computing alone $(goal_verdict "$compute_s" "$al")

Permutation importance (drop in ROC AUC; the two sides draw different permutations):

$(cmp_field importance_table)
EOF
}

# ---------------------------------------------------------------- main

main() {
    if [[ ! $ROWS =~ ^[1-9][0-9]*$ ]] || ((ROWS < 10000)); then
        die "ROWS must be a whole number of at least 10000, got '$ROWS'"
    fi
    [[ $TRAIN_ROWS =~ ^[1-9][0-9]*$ ]] || die "TRAIN_ROWS must be a whole number, got '$TRAIN_ROWS'"
    check_markers "$MARK_START" "$MARK_END"
    ensure_tools
    airlock_binary
    [[ $PEER == 0 ]] || export_build
    make_workdir evaluate
    make_data
    setup
    airlock_gate
    echo
    printf 'airlock gate --policy: %s s, peak RSS %s MiB, exit %s\n' "${SECS[al_gate]}" \
        "$(mib "${RSS_KIB[al_gate]}")" "$GATE_EXIT"
    [[ $PEER == 1 ]] || return 0
    export_step
    peer_step
    if ! compare; then
        cat "$WORK/compare.json" >&2
        die "the two sides' figures differ (above)"
    fi
    printf 'peer: %s s, peak RSS %s MiB (read %s s, compute %s s); max |score difference| %s\n' \
        "${SECS[peer]}" "$(mib "${RSS_KIB[peer]}")" "$(secs2 "$(peer_field read_s)")" \
        "$(secs2 "$(peer_field compute_s)")" "$(peer_field max_abs_diff)"
    printf 'speed-up: whole process %s, computing only %s\n' \
        "$(ratio "${SECS[peer]}" "${SECS[al_gate]}")" \
        "$(ratio "$(peer_field compute_s)" "${SECS[al_gate]}")"
    section >"$WORK/section.md"
    replace_section "$MARK_START" "$MARK_END" "$WORK/section.md"
}

main "$@"
