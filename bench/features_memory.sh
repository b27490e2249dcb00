#!/usr/bin/env bash
# bench/features_memory.sh: time and peak memory of `features apply` (the fit)
# and `features join` (the point-in-time join) on the 20-column data of
# bench/ingest.sh, at several sizes, to show whether memory stays flat as the
# rows grow; writes the figures to docs/benchmarks.md.
#
#   bench/features_memory.sh                        # 1,000,000 and 3,000,000 rows
#   SIZES="100000 300000" bench/features_memory.sh  # quick check
#
# For each size: the data (bench/gen_wide.py, seeded), its contract and the
# feature spec `wide-features` are those of bench/ingest.sh (taken from that
# script, so the two cannot drift apart); the dataset is ingested (untimed
# here), then, each step once under GNU time after a sync and a cache drop:
#
#   apply      airlock features apply: the fit of wide-features (one pass over
#              the snapshot)
#   join 100k  airlock features join wide-features@1 with 100,000 label rows
#              (every ROWS/100,000th row of the data: its id, its time and its
#              status), so only the feature rows grow with the size
#   join all   the same with every row of the data as a label
#
# Environment: AIRLOCK_BIN (default: cargo build --release --locked),
# SIZES (default "1000000 3000000"), BENCH_DIR, KEEP=1 (see bench/ingest.sh).

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOC="$REPO/docs/benchmarks.md"
SIZES=${SIZES:-"1000000 3000000"}
KEEP=${KEEP:-0}
LABELS=100000

declare -A SECS=() RSS_KIB=() LOAD=()

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

# The contract and spec writers of bench/ingest.sh (cats, write_contract,
# write_spec), defined here without running that script.
eval "$(sed -n -e '/^cats() {/,/^}/p' -e '/^write_contract() {/,/^}/p' \
    -e '/^write_spec() {/,/^}/p' "$REPO/bench/ingest.sh")"
declare -F write_contract write_spec cats >/dev/null ||
    die "bench/ingest.sh no longer defines cats, write_contract and write_spec"

write_labels_contract() {
    cat >"$WORK/data/labels.toml" <<EOF
name = "outcomes"
version = 1
entity = "id"
event_time = "ts"

[[columns]]
name = "id"
type = "string"

[[columns]]
name = "ts"
type = "timestamp"

[[columns]]
name = "status"
type = "category"
categories = $(cats status)
EOF
}

# one_size ROWS: data, home, ingest, then the timed steps, keyed by ROWS.
one_size() {
    local rows=$1 every out
    CSV="$WORK/data/wide.csv"
    ROWS=$rows
    log "generating $rows rows of CSV"
    python3 "$REPO/bench/gen_wide.py" "$rows" "$CSV"
    write_contract
    write_spec
    write_labels_contract
    every=$((rows / LABELS))
    ((every >= 1)) || every=1
    awk -F, -v e="$every" 'NR == 1 || (NR - 2) % e == 0 { print $1 "," $2 "," $20 }' \
        "$CSV" >"$WORK/data/labels_some.csv"
    awk -F, '{ print $1 "," $2 "," $20 }' "$CSV" >"$WORK/data/labels_all.csv"
    AHOME="$WORK/home-$rows"
    AL=("$AIRLOCK_BIN" --json --home "$AHOME")
    "${AL[@]}" init --site bench >"$LOGS/init-$rows.out"
    log "ingesting $rows rows (untimed)"
    "${AL[@]}" data ingest "$CSV" --dataset wide --contract "$WORK/data/contract.toml" \
        >"$LOGS/ingest-$rows.out"
    "${AL[@]}" data ingest "$WORK/data/labels_some.csv" --dataset labels-some \
        --contract "$WORK/data/labels.toml" >"$LOGS/labels-some-$rows.out"
    "${AL[@]}" data ingest "$WORK/data/labels_all.csv" --dataset labels-all \
        --contract "$WORK/data/labels.toml" >"$LOGS/labels-all-$rows.out"
    rm -f "$CSV" "$WORK/data/labels_all.csv"

    LOAD["apply-$rows"]=$(cut -d' ' -f1 /proc/loadavg)
    timed "apply-$rows" "${AL[@]}" features apply "$WORK/data/features.toml"
    for which in some all; do
        out="$WORK/data/train-$which.csv"
        LOAD["join-$which-$rows"]=$(cut -d' ' -f1 /proc/loadavg)
        timed "join-$which-$rows" "${AL[@]}" features join wide-features@1 \
            --labels "labels-$which@1" --out "$out"
        NLABELS["$which-$rows"]=$(json_field "$LOGS/join-$which-$rows.out" rows)
        rm -f "$out"
    done
    rm -rf "$AHOME"
}

declare -A NLABELS=()

section() {
    local rows
    cat <<EOF
## Feature fitting and join memory

Written by \`bench/features_memory.sh\` (sizes: ${SIZES}); run it again to replace this
section. Revision $(revision), ${BIN_ORIGIN}; $(machine). The data, contract and
feature spec are those of \`bench/ingest.sh\`: \`wide-features\` has 12 features, of which
7 keep their column's numbers while fitting (8 bytes a row each): the 6 numeric ones (a
mean fill, the default, or a median fill, and 3 standardized) and \`date_parts\` (its fill
is the median time). Each step ran once, cold (page cache dropped); "load" is the 1-minute
load average just before the step, on a machine shared with other work.

| step | rows | labels | seconds | peak RSS MiB | load |
|---|---:|---:|---:|---:|---:|
EOF
    for rows in $SIZES; do
        printf '| features apply | %s | | %s | %s | %s |\n' "$rows" "${SECS[apply-$rows]}" \
            "$(mib "${RSS_KIB[apply-$rows]}")" "${LOAD[apply-$rows]}"
        for which in some all; do
            printf '| features join | %s | %s | %s | %s | %s |\n' "$rows" \
                "${NLABELS[$which-$rows]}" "${SECS[join-$which-$rows]}" \
                "$(mib "${RSS_KIB[join-$which-$rows]}")" "${LOAD[join-$which-$rows]}"
        done
    done
}

main() {
    check_markers '<!-- features-memory:start -->' '<!-- features-memory:end -->'
    [[ -x /usr/bin/time ]] || die "GNU time (/usr/bin/time) is needed"
    airlock_binary
    make_workdir features
    for rows in $SIZES; do
        [[ $rows =~ ^[1-9][0-9]*$ ]] && ((rows >= 10000)) ||
            die "each size must be a whole number of at least 10000, got '$rows'"
        one_size "$rows"
    done
    section | tee "$WORK/section.md"
    replace_section '<!-- features-memory:start -->' '<!-- features-memory:end -->' \
        "$WORK/section.md"
}

main "$@"
