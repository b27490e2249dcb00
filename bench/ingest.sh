#!/usr/bin/env bash
# bench/ingest.sh: Airlock's contract-checked ingest against a raw SQLite
# load and pandas, in one run, on the same CSV file, on the same disk; then
# the same dataset's feature materialization and the online store's lookup
# latency; and writes the figures to docs/benchmarks.md.
#
# Run from anywhere:
#
#   bench/ingest.sh                          # 1,000,000 rows, full comparison
#   ROWS=100000 bench/ingest.sh              # quick check
#   RSS_ONLY=1 ROWS=3000000 bench/ingest.sh  # peak memory of airlock ingest only
#
# The data (bench/gen_wide.py, seeded, so every run reads the same bytes):
# ROWS rows of 20 columns: a unique string id, an event timestamp, 10 integer
# and float columns (5 of them with missing cells), 8 category columns of 3
# to 50 values (one with missing cells). The contract this script writes
# declares every type, range and category list, `key = ["id"]`, nullability
# and `max_null_rate` where cells are missing, distinct bounds, the entity
# (`id`) and the event time (`ts`), so every check of an ingest runs.
#
# What it measures, each step once, with GNU time (wall seconds, peak RSS):
#
#   airlock  data ingest: parses and checks every cell against the contract,
#            checks key uniqueness, computes the full profile (counts, nulls,
#            min/max/mean/std, quantiles, distinct counts, top values,
#            histograms), hashes and encrypts the snapshot into the vault,
#            fsyncs, signs and records it
#   sqlite3  .import --csv into a fresh database: a raw load, every column
#            TEXT, no checks (the shell's defaults: rollback journal, one
#            transaction)
#   pandas   pd.read_csv(FILE) then df.describe(include="all"): the whole
#            python3 process (interpreter start and `import pandas`
#            included), and separately the read_csv + describe part timed
#            inside Python with time.perf_counter
#   airlock  features apply (fit; reported, not compared), then
#            features materialize: the latest vector of every entity
#            (ROWS entities) into the online store
#   lookup   cargo bench --bench online_lookup: LOOKUPS in-process
#            OnlineReader::get calls of random existing entities, each timed
#            (p50, p90, p99, p99.9, max)
#
# Rows/s is rows / seconds and MB/s is CSV bytes / 10^6 / seconds for every
# tool, so the rows of the table are comparable. Before each timed step:
# `sync`, then (as root) the page cache is dropped, so every tool starts
# cold, reading the file from disk (see bench/bundle.sh for why: on this
# virtual machine a warm step ran up to twice as fast, and the order of the
# steps decided the result). The lookup benchmark is the exception: it runs
# against online.db read once into the page cache first, the steady state
# of a serving node (a Redis-backed store holds everything in memory).
# Airlock does more than its peers: it fsyncs what it commits inside its own
# time, validates every cell, and writes an encrypted copy. Any bias favours
# the peers.
#
# Environment:
#   AIRLOCK_BIN  airlock binary to use; default: cargo build --release --locked
#                (the lookup benchmark is always built from this checkout)
#   ROWS         rows of the CSV (default 1000000, at least 10000)
#   LOOKUPS      timed online lookups (default 200000; 0 skips the lookup
#                benchmark and cargo)
#   RSS_ONLY=1   airlock ingest only; write the peak-memory section
#   BENCH_DIR    where the work folder is made (default target/bench in the
#                repo, i.e. on the repo's disk); a fresh subfolder every run
#   KEEP=1       keep the work folder (home, CSV, database, logs)
#
# Needs: bash, python3 (data generator), GNU time; for the full run also
# sqlite3 (apt-get) and pandas (pip), installed when missing, and cargo.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOC="$REPO/docs/benchmarks.md"
ROWS=${ROWS:-1000000}
LOOKUPS=${LOOKUPS:-200000}
RSS_ONLY=${RSS_ONLY:-0}
KEEP=${KEEP:-0}
# Ingest streams; the key-uniqueness log (32 bytes a row) stays in memory
# up to 2^21 rows (64 MiB) and is spilled to disk in sorted runs beyond, so
# peak memory should stop growing past about 2 million rows.
RSS_TARGET_MIB=256
# Goals this benchmark checks.
LOOKUP_P99_GOAL_US=100
LOOKUP_WARMUP=20000
FEAST_P99_MS=1.5

# Results of timed steps, by step key.
declare -A SECS=() RSS_KIB=()

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

# ---------------------------------------------------------------- tools

# ensure_tools: GNU time always; sqlite3 and pandas for the comparison.
# Only what is missing is installed, so a prepared machine needs no network.
ensure_tools() {
    local pkgs=()
    [[ -x /usr/bin/time ]] || pkgs+=(time)
    [[ $RSS_ONLY == 1 ]] || command -v sqlite3 >/dev/null || pkgs+=(sqlite3)
    command -v python3 >/dev/null || die "python3 is needed to generate the data"
    if ((${#pkgs[@]} > 0)); then
        log "installing ${pkgs[*]}"
        # A fresh machine may have no package lists yet; update only then.
        as_root apt-get install -y "${pkgs[@]}" ||
            { as_root apt-get update && as_root apt-get install -y "${pkgs[@]}"; }
    fi
    if [[ $RSS_ONLY != 1 ]] && ! python3 -c 'import pandas' 2>/dev/null; then
        log "installing pandas (pip)"
        python3 -m pip install --quiet pandas >&2
    fi
    if [[ $RSS_ONLY != 1 && $LOOKUPS != 0 ]]; then
        command -v cargo >/dev/null || die "cargo is needed for the lookup benchmark (or LOOKUPS=0)"
    fi
}

# peer_versions: after the pandas step, whose answer holds the Python-side
# versions.
peer_versions() {
    local p="$LOGS/pandas.out"
    printf 'sqlite3 %s (Debian %s), Python %s, pandas %s, NumPy %s (pyarrow %s), GNU time %s' \
        "$(sqlite3 --version | awk '{ print $1 }')" "$(pkg_version sqlite3 true)" \
        "$(json_field "$p" python)" "$(json_field "$p" pandas)" "$(json_field "$p" numpy)" \
        "$(json_field "$p" pyarrow)" "$(pkg_version time /usr/bin/time --version)"
}

# lookup_build: compile the lookup benchmark now, so a build failure stops
# the run before the long steps, and no compile lands inside a figure.
lookup_build() {
    [[ $RSS_ONLY != 1 && $LOOKUPS != 0 ]] || return 0
    log "building the online_lookup benchmark (cargo bench --no-run)"
    (cd "$REPO" && cargo bench --locked -p airlock-appliance --bench online_lookup --no-run) >&2
}

# ---------------------------------------------------------------- work folder

# A generated row is about 136 bytes.
est_csv_kib() { echo $((ROWS * 140 / 1024)); }

# check_disk: the CSV, its vault copy, the SQLite copy (about as large
# again), and the online store (a vector per entity) on this disk at once.
check_disk() {
    local copies=3 need_kib have_kib
    [[ $RSS_ONLY == 1 ]] || copies=6
    need_kib=$(($(est_csv_kib) * copies))
    have_kib=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
    ((have_kib > need_kib)) ||
        die "need about $((need_kib / 1024)) MiB free under $WORK, have $((have_kib / 1024)) MiB"
}

# ---------------------------------------------------------------- measuring

# per_sec N SECS: N / SECS as a whole number with thousands separators.
per_sec() {
    awk -v n="$1" -v s="$2" 'BEGIN {
        if (s <= 0) { printf "n/a"; exit }
        x = sprintf("%.0f", n / s); out = ""
        while (length(x) > 3) { out = "," substr(x, length(x) - 2) out; x = substr(x, 1, length(x) - 3) }
        printf "%s%s", x, out
    }'
}

# faster PEER AIRLOCK: "yes" when Airlock took less time.
faster() { awk -v p="$1" -v a="$2" 'BEGIN { print (a < p) ? "yes" : "no" }'; }

# ---------------------------------------------------------------- data

# cats NAME: the TOML list of a category column's values, from the
# generator itself, so the contract cannot drift from the data.
cats() {
    python3 "$REPO/bench/gen_wide.py" --categories | awk -v n="$1" '$1 == n { sub(/^[^=]*= /, ""); print }'
}

# write_contract: the contract of the generated CSV (see bench/gen_wide.py).
write_contract() {
    cat >"$WORK/data/contract.toml" <<EOF
# Contract of the synthetic benchmark data written by bench/gen_wide.py.
name = "wide"
version = 1
null_tokens = [""]
key = ["id"]
entity = "id"
event_time = "ts"

[[columns]]
name = "id"
type = "string"
distinct_min = $((ROWS * 9 / 10))

[[columns]]
name = "ts"
type = "timestamp"

[[columns]]
name = "age"
type = "integer"
min = 18
max = 90

[[columns]]
name = "income"
type = "float"
nullable = true
min = 0
max = 500000
max_null_rate = 0.05

[[columns]]
name = "balance"
type = "float"
nullable = true
min = -10000
max = 100000
max_null_rate = 0.03

[[columns]]
name = "score"
type = "integer"
min = 300
max = 850

[[columns]]
name = "tenure"
type = "integer"
nullable = true
min = 0
max = 480
max_null_rate = 0.02

[[columns]]
name = "txn_count"
type = "integer"
min = 0
max = 1000

[[columns]]
name = "avg_txn"
type = "float"
nullable = true
min = 0
max = 5000
max_null_rate = 0.06

[[columns]]
name = "utilization"
type = "float"
min = 0
max = 1

[[columns]]
name = "temp_c"
type = "float"
nullable = true
min = -40
max = 50
max_null_rate = 0.08

[[columns]]
name = "defaults"
type = "integer"
min = 0
max = 10
distinct_max = 11

[[columns]]
name = "segment"
type = "category"
categories = $(cats segment)
distinct_max = 3

[[columns]]
name = "region"
type = "category"
categories = $(cats region)

[[columns]]
name = "channel"
type = "category"
categories = $(cats channel)

[[columns]]
name = "product"
type = "category"
categories = $(cats product)

[[columns]]
name = "state"
type = "category"
categories = $(cats state)
distinct_min = 40
distinct_max = 50

[[columns]]
name = "device"
type = "category"
categories = $(cats device)

[[columns]]
name = "plan"
type = "category"
nullable = true
categories = $(cats plan)
max_null_rate = 0.03

[[columns]]
name = "status"
type = "category"
categories = $(cats status)
distinct_min = 3
EOF
}

# write_spec: the feature set materialized and looked up: 55 values per
# entity (scaled numbers, one-hots, a hashed state, calendar parts).
write_spec() {
    cat >"$WORK/data/features.toml" <<'EOF'
name = "wide-features"
dataset = "wide@1"
label = "status"
positive = "churned"

[[features]]
column = "age"
transform = "standardize"

[[features]]
column = "income"
transform = "standardize"
impute = "median"
indicator = true

[[features]]
column = "balance"
transform = "standardize"

[[features]]
column = "score"
transform = "min_max"

[[features]]
column = "txn_count"
transform = "log1p"

[[features]]
column = "utilization"
transform = "identity"

[[features]]
column = "segment"
transform = "one_hot"

[[features]]
column = "region"
transform = "one_hot"

[[features]]
column = "channel"
transform = "one_hot"

[[features]]
column = "product"
transform = "one_hot"

[[features]]
column = "state"
transform = "hashing"
buckets = 16

[[features]]
column = "ts"
transform = "date_parts"
parts = ["month", "weekday", "hour"]
EOF
}

make_data() {
    CSV="$WORK/data/wide.csv"
    log "generating ${ROWS} rows of CSV"
    python3 "$REPO/bench/gen_wide.py" "$ROWS" "$CSV"
    CSV_BYTES=$(stat -c %s "$CSV")
    write_contract
    write_spec
    # The entity keys the lookup benchmark draws from: the id column.
    tail -n +2 "$CSV" | cut -d, -f1 >"$WORK/data/entities.txt"
}

# ---------------------------------------------------------------- steps

airlock_home() {
    AHOME="$WORK/airlock/home"
    AL=("$AIRLOCK_BIN" --json --home "$AHOME")
    mkdir -p "$WORK/airlock"
    "${AL[@]}" init --site bench >"$LOGS/init.out"
}

airlock_ingest() {
    local rows
    log "airlock: data ingest"
    timed al_ingest "${AL[@]}" data ingest "$CSV" --dataset wide \
        --contract "$WORK/data/contract.toml"
    rows=$(json_field "$LOGS/al_ingest.out" rows)
    ((rows == ROWS)) || die "airlock ingested $rows rows, expected $ROWS"
}

sqlite_import() {
    local db="$WORK/peer/sqlite.db" rows
    mkdir -p "$WORK/peer"
    log "sqlite3: .import --csv"
    timed sqlite_import sqlite3 "$db" ".import --csv \"$CSV\" t"
    rows=$(sqlite3 "$db" 'SELECT count(*) FROM t')
    ((rows == ROWS)) || die "sqlite3 imported $rows rows, expected $ROWS"
    # A fresh connection's settings, as the import ran with them.
    local sync_levels=(OFF NORMAL FULL EXTRA) level
    level=$(sqlite3 "$db" 'PRAGMA synchronous')
    SQLITE_SETTINGS="journal_mode=$(sqlite3 "$db" 'PRAGMA journal_mode'), synchronous=${sync_levels[$level]:-$level}"
    SQLITE_DB_BYTES=$(stat -c %s "$db")
}

# The pandas step: the whole process is timed by GNU time; inside, the
# import and the two calls are timed with perf_counter and printed as JSON.
PANDAS_PY='
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import pandas as pd
t1 = time.perf_counter()
df = pd.read_csv(sys.argv[1])
t2 = time.perf_counter()
d = df.describe(include="all")
t3 = time.perf_counter()
try:
    import pyarrow
    pa = pyarrow.__version__
except ImportError:
    pa = "not installed"
print(json.dumps({
    "rows": len(df), "columns": len(df.columns), "described": len(d.columns),
    "import_s": t1 - t0, "read_csv_s": t2 - t1, "describe_s": t3 - t2,
    "work_s": t3 - t1,
    "python": sys.version.split()[0], "pandas": pd.__version__,
    "numpy": np.__version__, "pyarrow": pa,
}))
'

# pandas_s KEY: one of the pandas step's own timings, in seconds.
pandas_s() { awk -v s="$(json_field "$LOGS/pandas.out" "$1")" 'BEGIN { printf "%.2f", s }'; }

pandas_step() {
    local rows
    log "pandas: read_csv + describe"
    timed pandas python3 -c "$PANDAS_PY" "$CSV"
    rows=$(json_field "$LOGS/pandas.out" rows)
    ((rows == ROWS)) || die "pandas read $rows rows, expected $ROWS"
    PANDAS_WORK_S=$(json_field "$LOGS/pandas.out" work_s)
    PANDAS_WORK_S=$(awk -v s="$PANDAS_WORK_S" 'BEGIN { printf "%.2f", s }')
}

airlock_features() {
    local entities
    log "airlock: features apply, features materialize"
    timed al_apply "${AL[@]}" features apply "$WORK/data/features.toml"
    FS_WIDTH=$(json_field "$LOGS/al_apply.out" width)
    timed al_materialize "${AL[@]}" features materialize wide-features@1
    entities=$(json_field "$LOGS/al_materialize.out" entities)
    ((entities == ROWS)) || die "materialize wrote $entities entities, expected $ROWS"
    ONLINE_BYTES=$(stat -c %s "$AHOME/online.db")
}

# lookup_bench: the in-process lookup benchmark against the materialized
# home, with online.db in the page cache (read once) as on a serving node.
lookup_bench() {
    log "online lookups: cargo bench --bench online_lookup ($LOOKUPS lookups)"
    cat "$AHOME"/online.db* >/dev/null
    if ! (cd "$REPO" && AIRLOCK_BENCH_HOME="$AHOME" AIRLOCK_BENCH_SET=wide-features@1 \
        AIRLOCK_BENCH_ENTITIES="$WORK/data/entities.txt" AIRLOCK_BENCH_LOOKUPS="$LOOKUPS" \
        AIRLOCK_BENCH_WARMUP="$LOOKUP_WARMUP" \
        cargo bench --locked -p airlock-appliance --bench online_lookup) \
        >"$LOGS/lookup.out" 2>"$LOGS/lookup.err"; then
        tail -n 20 "$LOGS/lookup.err" >&2 || true
        die "the lookup benchmark failed"
    fi
    local k
    for k in p50_us p90_us p99_us p999_us max_us mean_us lookups_per_s lookups hits; do
        LK[$k]=$(json_field "$LOGS/lookup.out" "$k")
    done
    ((LK[hits] == LOOKUPS)) || die "the lookup benchmark hit ${LK[hits]} of $LOOKUPS"
    log "lookups: p50 ${LK[p50_us]} µs, p99 ${LK[p99_us]} µs, max ${LK[max_us]} µs"
}
declare -A LK=()

# ---------------------------------------------------------------- report

# row LABEL SECS KIB: one tab-separated table row: label, s, rows/s, MB/s,
# RSS MiB ("—" when KIB is empty).
row() {
    local rss="—"
    [[ -z $3 ]] || rss=$(mib "$3")
    printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$(per_sec "$ROWS" "$2")" "$(mbps "$2")" "$rss"
}

ingest_rows() {
    row "airlock data ingest" "${SECS[al_ingest]}" "${RSS_KIB[al_ingest]}"
    [[ $RSS_ONLY == 1 ]] && return 0
    row "sqlite3 .import --csv" "${SECS[sqlite_import]}" "${RSS_KIB[sqlite_import]}"
    row "pandas read_csv + describe (python3 process)" "${SECS[pandas]}" "${RSS_KIB[pandas]}"
    row "  read_csv + describe only (perf_counter)" "$PANDAS_WORK_S" ""
}

print_table() {
    printf '%-46s %9s %11s %9s %13s\n' step seconds rows/s MB/s "peak RSS MiB"
    while IFS=$'\t' read -r label s rps rate rss; do
        printf '%-46s %9s %11s %9s %13s\n' "$label" "$s" "$rps" "$rate" "$rss"
    done
}

markdown_table() {
    printf '| step | seconds | rows/s | MB/s | peak RSS MiB |\n|---|---:|---:|---:|---:|\n'
    while IFS=$'\t' read -r label s rps rate rss; do
        if [[ $label == "  "* ]]; then
            label="&nbsp;&nbsp;↳ ${label#  }"
        else
            label="**$label**"
        fi
        printf '| %s | %s | %s | %s | %s |\n' "$label" "$s" "$rps" "$rate" "$rss"
    done
}

# context: the lines every section opens with.
context() {
    cat <<EOF
- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(machine)
- Airlock: revision $(revision), $("$AIRLOCK_BIN" --version), binary ${BIN_ORIGIN}
- Data: \`bench/gen_wide.py\`, ${ROWS} rows, 20 columns (string id, timestamp, 10 integer/float of which 5 with missing cells, 8 categories of 3 to 50 values), CSV of ${CSV_BYTES} bytes ($(mib $((CSV_BYTES / 1024))) MiB)
EOF
}

rss_verdict() {
    if ((RSS_KIB[al_ingest] < RSS_TARGET_MIB * 1024)); then
        printf 'under the %s MiB target' "$RSS_TARGET_MIB"
    else
        printf '**over the %s MiB target**' "$RSS_TARGET_MIB"
    fi
}

lookup_lines() {
    if [[ $LOOKUPS == 0 ]]; then
        echo "Not measured in this run (\`LOOKUPS=0\`)."
        return
    fi
    local verdict
    if awk -v p="${LK[p99_us]}" -v g="$LOOKUP_P99_GOAL_US" 'BEGIN { exit !(p < g) }'; then
        verdict="met"
    else
        verdict="**not met**"
    fi
    cat <<EOF
\`cargo bench --locked -p airlock-appliance --bench online_lookup\` (\`appliance/benches/online_lookup.rs\`):
${LK[lookups]} lookups of entities drawn uniformly (seeded) from all ${ROWS}, after ${LOOKUP_WARMUP} untimed ones;
one thread, \`OnlineReader::get\` in-process, each timed with \`std::time::Instant\`; every lookup
found its entity and a vector of ${FS_WIDTH} values. \`online.db\` (${ONLINE_BYTES} bytes) was read
once into the page cache first, as on a serving node.

| p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | mean µs | lookups/s (one thread) |
|---:|---:|---:|---:|---:|---:|---:|
| $(printf '%.1f' "${LK[p50_us]}") | $(printf '%.1f' "${LK[p90_us]}") | $(printf '%.1f' "${LK[p99_us]}") | $(printf '%.1f' "${LK[p999_us]}") | $(printf '%.1f' "${LK[max_us]}") | $(printf '%.1f' "${LK[mean_us]}") | $(per_sec "${LK[lookups_per_s]}" 1) |

- Goal p99 under ${LOOKUP_P99_GOAL_US} µs: ${verdict} ($(printf '%.1f' "${LK[p99_us]}") µs).
- Reference point: Feast with Redis reports about ${FEAST_P99_MS} ms p99 for online feature retrieval
  (a network service, measured by its authors on other hardware, not re-measured here).
EOF
}

full_section() {
    local sq=${SECS[sqlite_import]} pd=${SECS[pandas]} al=${SECS[al_ingest]}
    cat <<EOF
## Ingest, materialization and online lookups: Airlock against SQLite and pandas

Written by \`bench/ingest.sh\` (\`ROWS=${ROWS}\`); run it again to replace this section.

$(context)
- Peer tools: $PEER_VERSIONS

Each step ran once under GNU time: wall seconds and peak resident memory. Rows/s is rows /
seconds and MB/s is CSV bytes / 10^6 / seconds for every row of the table. Before each step:
\`sync\` and the page cache dropped (every tool reads the file cold); memory touched once
before the run (see the bundle section). The steps do not do the same work:

- \`airlock data ingest\` parses every cell to its type and checks it against the contract
  (types, ranges, categories, nullability), checks key uniqueness, null rates and distinct
  bounds, computes the full profile (count, nulls, min/max/mean/std, quantiles, distinct
  counts, top values, histograms), hashes and encrypts the snapshot into the vault, fsyncs,
  and signs the dataset record.
- \`sqlite3 .import --csv\` into a fresh database loads the text as it is (every column
  TEXT), checking nothing, in one transaction with the shell's defaults (${SQLITE_SETTINGS}).
- pandas: \`pd.read_csv(FILE)\` then \`df.describe(include="all")\` (types inferred, no
  checks, nothing written). The first pandas row is the whole \`python3\` process:
  interpreter start and \`import pandas\` from a cold cache included. The second is only
  \`read_csv\` + \`describe\`, timed inside Python with \`time.perf_counter\`.

### Ingest

$(ingest_rows | markdown_table)

- Speed-up, peer seconds / Airlock seconds (above 1: Airlock is faster): sqlite3 $(ratio "$sq" "$al"), pandas process $(ratio "$pd" "$al"), pandas read_csv + describe only $(ratio "$PANDAS_WORK_S" "$al")
- Goal, Airlock faster than both: sqlite3 $(faster "$sq" "$al"), pandas process $(faster "$pd" "$al"), pandas read_csv + describe only $(faster "$PANDAS_WORK_S" "$al")
- Inside the pandas process: \`import pandas\` $(pandas_s import_s) s, \`read_csv\` $(pandas_s read_csv_s) s, \`describe(include="all")\` $(pandas_s describe_s) s
- Airlock ingest peak RSS: $(mib "${RSS_KIB[al_ingest]}") MiB, $(rss_verdict)
- SQLite database after the import: ${SQLITE_DB_BYTES} bytes

### Materialization

The contract declares \`entity = "id"\` (unique per row: ${ROWS} entities) and
\`event_time = "ts"\`; the feature set \`wide-features@1\` (standardize, min_max, log1p,
identity, four one_hots, a 16-bucket hashing and date parts: ${FS_WIDTH} values per entity)
is fit on \`wide@1\` first.

| step | seconds | entities/s | peak RSS MiB |
|---|---:|---:|---:|
| airlock features apply (fit; not a goal) | ${SECS[al_apply]} | $(per_sec "$ROWS" "${SECS[al_apply]}") | $(mib "${RSS_KIB[al_apply]}") |
| **airlock features materialize wide-features@1** | ${SECS[al_materialize]} | $(per_sec "$ROWS" "${SECS[al_materialize]}") | $(mib "${RSS_KIB[al_materialize]}") |

### Online lookups

$(lookup_lines)
EOF
}

rss_section() {
    cat <<EOF
## Ingest peak memory

Written by \`RSS_ONLY=1 ROWS=${ROWS} bench/ingest.sh\`; run it again to replace this section.
Ingest streams the file. The key-uniqueness log (a 128-bit hash and row and line numbers,
32 bytes a row) is held in memory up to 2^21 rows (64 MiB) and spilled to disk in sorted
runs beyond, so peak memory should stop growing past about 2 million rows. The target is
under ${RSS_TARGET_MIB} MiB.

$(context)

$(ingest_rows | markdown_table)

- Airlock ingest peak RSS: $(mib "${RSS_KIB[al_ingest]}") MiB at ${ROWS} rows, $(rss_verdict)
EOF
}

# ---------------------------------------------------------------- main

main() {
    if [[ ! $ROWS =~ ^[1-9][0-9]*$ ]] || ((ROWS < 10000)); then
        die "ROWS must be a whole number of at least 10000 (the null-rate bounds need it), got '$ROWS'"
    fi
    [[ $LOOKUPS =~ ^[0-9]+$ ]] || die "LOOKUPS must be a whole number, got '$LOOKUPS'"
    # Refuse a damaged docs file now, not after the benchmark has run.
    check_markers '<!-- ingest-bench:start -->' '<!-- ingest-bench:end -->'
    check_markers '<!-- ingest-rss:start -->' '<!-- ingest-rss:end -->'
    ensure_tools
    airlock_binary
    lookup_build
    make_workdir ingest
    check_disk
    warm_memory "$(($(est_csv_kib) * 16))"
    make_data
    airlock_home
    airlock_ingest
    if [[ $RSS_ONLY == 1 ]]; then
        echo
        ingest_rows | print_table
        rss_section >"$WORK/section.md"
        replace_section '<!-- ingest-rss:start -->' '<!-- ingest-rss:end -->' "$WORK/section.md"
        return
    fi
    sqlite_import
    pandas_step
    PEER_VERSIONS=$(peer_versions)
    airlock_features
    [[ $LOOKUPS == 0 ]] || lookup_bench
    echo
    ingest_rows | print_table
    printf '\nspeed-up (peer s / airlock s): sqlite3 %s, pandas process %s, pandas read_csv+describe %s\n' \
        "$(ratio "${SECS[sqlite_import]}" "${SECS[al_ingest]}")" \
        "$(ratio "${SECS[pandas]}" "${SECS[al_ingest]}")" \
        "$(ratio "$PANDAS_WORK_S" "${SECS[al_ingest]}")"
    printf 'materialize: %s s, %s entities/s, peak RSS %s MiB\n' "${SECS[al_materialize]}" \
        "$(per_sec "$ROWS" "${SECS[al_materialize]}")" "$(mib "${RSS_KIB[al_materialize]}")"
    [[ $LOOKUPS == 0 ]] ||
        printf 'lookups: p50 %s µs, p90 %s µs, p99 %s µs, p99.9 %s µs, max %s µs, %s lookups/s\n' \
            "${LK[p50_us]}" "${LK[p90_us]}" "${LK[p99_us]}" "${LK[p999_us]}" "${LK[max_us]}" \
            "$(per_sec "${LK[lookups_per_s]}" 1)"
    full_section >"$WORK/section.md"
    replace_section '<!-- ingest-bench:start -->' '<!-- ingest-bench:end -->' "$WORK/section.md"
}

# Sourced (bench/paired.sh uses the data steps), it only defines.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    main "$@"
fi
