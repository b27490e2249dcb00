#!/usr/bin/env bash
# bench/drift.sh: Airlock's `data drift` against Evidently's DataDriftPreset, in one run,
# on the same files, with the same shift; writes the figures to docs/benchmarks.md.
#
# Run from anywhere:
#
#   bench/drift.sh                  # 1,000,000 reference and 1,000,000 current rows
#   ROWS=100000 bench/drift.sh      # quick check
#
# The data (bench/gen_drift.py, seeded, so every run reads the same bytes): ROWS
# reference rows and ROWS current rows of 11 numeric features (num0..num10) and 8
# categorical ones (cat0..cat7, 2 to 50 values). The current file is drawn like the
# reference except that num0 is shifted by half its standard deviation and cat3 is
# reweighted, so exactly those two features drift. Both tools use their defaults for
# large data: the Wasserstein distance divided by the reference's standard deviation for
# numbers, the Jensen-Shannon distance for categories, each drifting at 0.1.
#
# What it measures, each step once, with GNU time (wall seconds, peak RSS), after a sync
# and a page-cache drop:
#
#   airlock   data drift drift@1 --current current.csv --json: the whole process, from
#             start to end, reading and checking every cell of the current file under
#             the reference's contract (the reference dataset is ingested first, untimed)
#   evidently a python3 process: import, pd.read_csv of both files, then
#             Report([DataDriftPreset()]).run(...) with the column types given; the read
#             and the report are also timed inside the process (time.perf_counter)
#
# and checks that both flag num0 and cat3 and nothing else (it says so; a mismatch
# fails the run after writing the figures).
#
# Environment:
#   AIRLOCK_BIN  airlock binary to use; default: cargo build --release --locked
#   ROWS         rows of each file (default 1000000, at least 10000)
#   EVIDENTLY_VENV  the Python venv with Evidently (default /opt/airlock-evidently; made
#                and filled with the pinned versions below when missing)
#   BENCH_DIR    where the work folder is made (default target/bench in the repo)
#   KEEP=1       keep the work folder
#
# Needs: bash, python3.11 with venv and pip (PyPI reachable, the first time), GNU time.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOC="$REPO/docs/benchmarks.md"
ROWS=${ROWS:-1000000}
KEEP=${KEEP:-0}
EVIDENTLY_VENV=${EVIDENTLY_VENV:-/opt/airlock-evidently}
# Pinned: Evidently 0.7.23 (the newest release when this was written) imports
# pandas.core.dtypes.common.infer_dtype_from_object, which pandas 3 removed.
EVIDENTLY_PINS=(evidently==0.7.23 pandas==2.3.3)
# The goal of issue 17: at least this many times faster than Evidently.
GOAL=30
EXPECTED="cat3,num0"

declare -A SECS=() RSS_KIB=()

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

# ---------------------------------------------------------------- tools

ensure_tools() {
    [[ -x /usr/bin/time ]] || {
        log "installing GNU time"
        as_root apt-get install -y time || { as_root apt-get update && as_root apt-get install -y time; }
    }
    EV_PY="$EVIDENTLY_VENV/bin/python"
    if ! "$EV_PY" -c 'import evidently, pandas' 2>/dev/null; then
        log "installing ${EVIDENTLY_PINS[*]} into $EVIDENTLY_VENV"
        command -v python3.11 >/dev/null || die "python3.11 is needed for the Evidently venv"
        python3.11 -m venv "$EVIDENTLY_VENV" ||
            die "could not make the venv $EVIDENTLY_VENV (python3.11 -m venv failed)"
        "$EVIDENTLY_VENV/bin/pip" install --quiet "${EVIDENTLY_PINS[@]}" >&2 ||
            die "pip could not install ${EVIDENTLY_PINS[*]} into $EVIDENTLY_VENV (see pip's message above)"
    fi
    "$EV_PY" -c 'import evidently, pandas, numpy, scipy' ||
        die "Evidently does not import in $EVIDENTLY_VENV (see the error above)"
}

# ---------------------------------------------------------------- steps

make_data() {
    log "generating ${ROWS} reference and ${ROWS} current rows"
    "$EV_PY" "$REPO/bench/gen_drift.py" "$ROWS" "$WORK/data"
    REF="$WORK/data/reference.csv"
    CUR="$WORK/data/current.csv"
    CSV_BYTES=$(stat -c %s "$CUR")
}

airlock_reference() {
    AHOME="$WORK/airlock/home"
    AL=("$AIRLOCK_BIN" --json --home "$AHOME")
    mkdir -p "$WORK/airlock"
    "${AL[@]}" init --site bench >"$LOGS/init.out"
    log "airlock: data ingest of the reference (untimed)"
    "${AL[@]}" data ingest "$REF" --dataset drift --contract "$WORK/data/contract.toml" \
        >"$LOGS/ingest.out"
}

# `data drift` exits 8 when it finds drift, which it must here.
airlock_drift() {
    log "airlock: data drift"
    timed al_drift bash -c '"$@"; rc=$?; [[ $rc == 8 ]] || { echo "exit $rc, expected 8" >&2; exit 1; }' \
        _ "${AL[@]}" data drift drift@1 --current "$CUR"
    AL_DRIFTED=$(python3 -c 'import json, sys
print(",".join(sorted(json.load(open(sys.argv[1]))["drifted"])))' "$LOGS/al_drift.out")
}

evidently_step() {
    log "evidently: read_csv + DataDriftPreset"
    timed evidently "$EV_PY" "$REPO/bench/drift_evidently.py" "$REF" "$CUR" "$WORK/data/columns.json"
    EV_DRIFTED=$(json_field "$LOGS/evidently.out" drifted | tr -d "[]' ")
    for k in read_s report_s work_s import_s; do
        EV[$k]=$(awk -v s="$(json_field "$LOGS/evidently.out" "$k")" 'BEGIN { printf "%.2f", s }')
    done
}
declare -A EV=()

# ---------------------------------------------------------------- report

verdict() {
    if [[ $AL_DRIFTED == "$EXPECTED" && $EV_DRIFTED == "$EXPECTED" ]]; then
        echo "both flag num0 and cat3 and no other feature"
    else
        echo "**mismatch**: expected $EXPECTED, Airlock flagged ${AL_DRIFTED:-nothing}, Evidently ${EV_DRIFTED:-nothing}"
    fi
}

goal() {
    awk -v p="$1" -v a="$2" -v g="$GOAL" 'BEGIN { if (a > 0 && p / a >= g) print "met"; else print "**not met**" }'
}

values_table() {
    python3 - "$LOGS/al_drift.out" "$LOGS/evidently.out" <<'PY'
import json, sys
al = {f["column"]: f for f in json.load(open(sys.argv[1]))["features"]}
text = open(sys.argv[2]).read()
ev = json.loads([l for l in text.splitlines() if l.startswith("{")][-1])["features"]
print("| feature | Airlock measure | Airlock value | ± bound | Evidently method | Evidently value | same verdict |")
print("|---|---|---:|---:|---|---:|---|")
for name, e in ev.items():
    a = al[name]
    same = "yes" if (a["verdict"] == "drift") == e["drifted"] else "**no**"
    mark = " (drift)" if e["drifted"] else ""
    print(f"| {name}{mark} | {a['measure']} | {a['value']:.4f} | {a['error_bound']:.1e} | {e['method']} | {e['value']:.4f} | {same} |")
PY
}

section() {
    local al=${SECS[al_drift]} ev=${SECS[evidently]}
    cat <<EOF
## Drift: Airlock against Evidently

Written by \`bench/drift.sh\` (\`ROWS=${ROWS}\`); run it again to replace this section.

- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(machine)
- Airlock: revision $(revision), $("$AIRLOCK_BIN" --version), binary ${BIN_ORIGIN}
- Evidently $(json_field "$LOGS/evidently.out" evidently) (pandas $(json_field "$LOGS/evidently.out" pandas), NumPy $(json_field "$LOGS/evidently.out" numpy), SciPy $(json_field "$LOGS/evidently.out" scipy), Python $(json_field "$LOGS/evidently.out" python)), in \`${EVIDENTLY_VENV}\`
- Data: \`bench/gen_drift.py\`, ${ROWS} reference rows and ${ROWS} current rows, 11 numeric and 8 categorical features; current CSV of ${CSV_BYTES} bytes ($(mib $((CSV_BYTES / 1024))) MiB). In the current file \`num0\` is shifted by half a standard deviation and \`cat3\` is reweighted.
- Commands: \`airlock --json --home HOME data drift drift@1 --current current.csv\` (the reference ingested before, untimed); \`python bench/drift_evidently.py reference.csv current.csv columns.json\` (\`Report([DataDriftPreset()]).run(...)\`, column types given, defaults otherwise)

Each step ran once under GNU time, after \`sync\` and a page-cache drop: wall seconds and
peak resident memory. Airlock's time is its whole process, reading and checking every cell
of the current file under the reference's contract included. Evidently's rows: its whole
process, then the parts timed inside it with \`time.perf_counter\`.

| step | seconds | peak RSS MiB |
|---|---:|---:|
| **airlock data drift** | ${al} | $(mib "${RSS_KIB[al_drift]}") |
| **evidently (python3 process)** | ${ev} | $(mib "${RSS_KIB[evidently]}") |
| &nbsp;&nbsp;↳ import pandas and Evidently | ${EV[import_s]} | |
| &nbsp;&nbsp;↳ pd.read_csv of both files | ${EV[read_s]} | |
| &nbsp;&nbsp;↳ DataDriftPreset report | ${EV[report_s]} | |

- Speed-up, Evidently seconds / Airlock seconds: whole process $(ratio "$ev" "$al"), read + report $(ratio "${EV[work_s]}" "$al"), report alone $(ratio "${EV[report_s]}" "$al")
- Goal, at least ${GOAL} times faster than Evidently's read + report: $(goal "${EV[work_s]}" "$al"); than its whole process: $(goal "$ev" "$al")
- Verdicts: $(verdict)

$(values_table)
EOF
}

# ---------------------------------------------------------------- main

main() {
    if [[ ! $ROWS =~ ^[1-9][0-9]*$ ]] || ((ROWS < 10000)); then
        die "ROWS must be a whole number of at least 10000, got '$ROWS'"
    fi
    check_markers '<!-- drift-bench:start -->' '<!-- drift-bench:end -->'
    ensure_tools
    airlock_binary
    make_workdir drift
    local need_kib=$((ROWS * 140 * 4 / 1024)) have_kib
    have_kib=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
    ((have_kib > need_kib)) || die "need about $((need_kib / 1024)) MiB free under $WORK"
    warm_memory $((ROWS * 4))
    make_data
    airlock_reference
    airlock_drift
    evidently_step
    echo
    printf 'airlock data drift: %s s; evidently: %s s (read %s s, report %s s)\n' \
        "${SECS[al_drift]}" "${SECS[evidently]}" "${EV[read_s]}" "${EV[report_s]}"
    printf 'speed-up: %s (read + report), %s (whole process)\n' \
        "$(ratio "${EV[work_s]}" "${SECS[al_drift]}")" "$(ratio "${SECS[evidently]}" "${SECS[al_drift]}")"
    printf 'verdicts: %s\n' "$(verdict)"
    section >"$WORK/section.md"
    replace_section '<!-- drift-bench:start -->' '<!-- drift-bench:end -->' "$WORK/section.md"
    [[ $AL_DRIFTED == "$EXPECTED" && $EV_DRIFTED == "$EXPECTED" ]] ||
        die "the tools did not both flag exactly num0 and cat3 (see docs/benchmarks.md)"
}

main "$@"
