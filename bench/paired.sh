#!/usr/bin/env bash
# bench/paired.sh OLD_BIN NEW_BIN: the same commands by two builds of
# airlock in turn (old, new, old, new, ...) on one machine and one home, so
# that a change of the code is told apart from a change of the machine's
# speed (this is a shared virtual machine whose speed moves by up to 2×
# within an hour; single runs of the whole benchmarks at different times
# cannot separate the two). Writes the figures to docs/benchmarks.md.
#
# Steps, each run by both builds in every pair, cold (`sync` and a page cache
# drop before each, as bench/ingest.sh does):
#   features apply        bench/ingest.sh's wide spec on its ROWS-row data
#                          (a new spec name each run, so every run fits)
#   features materialize   that feature set, every entity
#   train                  bench/train.sh's data and model (ROWS x 32 floats,
#                          MLP 64-64, 3 epochs)
# The data is ingested once, by NEW_BIN; both builds must read the same home.
# Each build runs its own worker (the `airlock-worker` beside it, if any).
#
# Environment:
#   ROWS       rows of both datasets (default 1000000)
#   PAIRS      pairs of runs (default 3)
#   OLD_LABEL, NEW_LABEL  names shown for the builds (default: their
#              `--version` and path)
#   BENCH_DIR, KEEP=1     as in the other scripts
#
# Needs: what bench/ingest.sh and bench/train.sh need for their data
# (python3 with numpy), GNU time.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOC="$REPO/docs/benchmarks.md"
ROWS=${ROWS:-1000000}
PAIRS=${PAIRS:-3}
KEEP=${KEEP:-0}
MARK_START='<!-- paired-bench:start -->'
MARK_END='<!-- paired-bench:end -->'

declare -A SECS=() RSS_KIB=()

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

[[ $# == 2 ]] || die "usage: bench/paired.sh OLD_BIN NEW_BIN"
OLD_BIN=$(realpath "$1")
NEW_BIN=$(realpath "$2")
for b in "$OLD_BIN" "$NEW_BIN"; do
    [[ -x $b ]] || die "$b is not an executable"
done
[[ $PAIRS =~ ^[1-9][0-9]*$ ]] || die "PAIRS must be a positive whole number, got '$PAIRS'"
OLD_LABEL=${OLD_LABEL:-"$("$OLD_BIN" --version) ($OLD_BIN)"}
NEW_LABEL=${NEW_LABEL:-"$("$NEW_BIN" --version) ($NEW_BIN)"}

check_markers "$MARK_START" "$MARK_END"
make_workdir paired
# The data of the two benchmarks, made by their own functions (in subshells:
# the two scripts define functions of the same names).
(
    # shellcheck source=bench/ingest.sh
    source "$REPO/bench/ingest.sh"
    WORK=$WORK/wide
    mkdir -p "$WORK/data"
    make_data
)
(
    # shellcheck source=bench/train.sh
    source "$REPO/bench/train.sh"
    WORK=$WORK/train
    mkdir -p "$WORK/data"
    make_data
)
WIDE=$WORK/wide/data
TRAIN=$WORK/train/data
warm_memory $(($(du -sk "$WORK" | cut -f1) * 3))

AHOME=$WORK/home
"$NEW_BIN" --json --home "$AHOME" init --site bench >"$LOGS/init.out"
log "ingesting both datasets once (new build)"
timed ingest_wide "$NEW_BIN" --json --home "$AHOME" data ingest "$WIDE/wide.csv" \
    --dataset wide --contract "$WIDE/contract.toml"
timed ingest_train "$NEW_BIN" --json --home "$AHOME" data ingest "$TRAIN/train.csv" \
    --dataset bench --contract "$TRAIN/contract.toml"
timed apply_train "$NEW_BIN" --json --home "$AHOME" features apply "$TRAIN/features.toml"
timed apply_wide "$NEW_BIN" --json --home "$AHOME" features apply "$WIDE/features.toml"

# one SIDE PAIR: the three steps by one build.
one() {
    local side=$1 pair=$2 bin spec
    if [[ $side == old ]]; then bin=$OLD_BIN; else bin=$NEW_BIN; fi
    spec="$WORK/spec-$side-$pair.toml"
    sed "s/^name = \"wide-features\"/name = \"wide-$side-$pair\"/" "$WIDE/features.toml" >"$spec"
    grep -q "^name = \"wide-$side-$pair\"" "$spec" || die "could not rename the spec"
    timed "apply_${side}_$pair" "$bin" --json --home "$AHOME" features apply "$spec"
    timed "materialize_${side}_$pair" "$bin" --json --home "$AHOME" \
        features materialize wide-features@1
    timed "train_${side}_$pair" "$bin" --json --home "$AHOME" train --dataset bench@1 \
        --features bench-features@1 --model mlp --hidden 64,64 --epochs 3 --batch-size 256 \
        --learning-rate 1e-3 --seed 42 --device cpu --name "train-$side-$pair"
}

for ((p = 1; p <= PAIRS; p++)); do
    if ((p % 2)); then one old "$p"; one new "$p"; else one new "$p"; one old "$p"; fi
done

# median KEY_PREFIX SIDE: the median seconds of a step over the pairs.
median() {
    local p
    for ((p = 1; p <= PAIRS; p++)); do echo "${SECS[${1}_${2}_$p]}"; done |
        sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

{
    echo "## Paired runs: two builds in turn on one machine"
    echo
    echo "Written by \`bench/paired.sh\` (\`ROWS=$ROWS PAIRS=$PAIRS\`); run it again to replace this section."
    echo
    echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "- Machine: $(machine)"
    echo "- Checkout: revision $(revision)"
    echo "- Old build: $OLD_LABEL"
    echo "- New build: $NEW_LABEL"
    echo "- Data: bench/ingest.sh's wide CSV and bench/train.sh's 32-float CSV, $ROWS rows each, ingested once by the new build"
    echo
    echo "Each step ran cold (sync, page cache dropped) under GNU time; the builds alternate"
    echo "(old first in odd pairs, new first in even ones). Seconds, then peak RSS in MiB."
    echo
    echo "| step | pair | old s | new s | old MiB | new MiB |"
    echo "|---|---:|---:|---:|---:|---:|"
    for step in apply materialize train; do
        for ((p = 1; p <= PAIRS; p++)); do
            echo "| $step | $p | ${SECS[${step}_old_$p]} | ${SECS[${step}_new_$p]} | $(mib "${RSS_KIB[${step}_old_$p]}") | $(mib "${RSS_KIB[${step}_new_$p]}") |"
        done
    done
    echo
    for step in apply materialize train; do
        o=$(median "$step" old)
        n=$(median "$step" new)
        echo "- $step: median old $o s, new $n s; old / new $(ratio "$o" "$n")"
    done
} >"$WORK/section.md"
cat "$WORK/section.md"
replace_section "$MARK_START" "$MARK_END" "$WORK/section.md"
