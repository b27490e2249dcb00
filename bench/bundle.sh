#!/usr/bin/env bash
# bench/bundle.sh: Airlock's bundle export and import against the pipeline an
# operator would otherwise assemble from standard tools, in one run, on the
# same CSV file, on the same disk, and writes the figures to
# docs/benchmarks.md.
#
# Run from anywhere:
#
#   bench/bundle.sh                           # 1 GiB, full comparison
#   SIZE_MIB=32 bench/bundle.sh               # quick check, seconds
#   RSS_ONLY=1 SIZE_MIB=2048 bench/bundle.sh  # peak memory of airlock only
#
# What it measures, each step once, with GNU time (wall seconds, peak RSS):
#
#   airlock   data ingest (reported, not part of the bundle figures),
#             bundle export --to plant.card (lab), bundle import (plant)
#   pipeline  export: sha256sum > SHA256SUMS, tar cf, age -r, minisign -S
#             import: minisign -V, age -d, tar xf, sha256sum -c
#
# Both do the same job: the recipient ends up with the data, checked against
# the sender's digest, after verifying a signature and decrypting. A pipeline
# total is the sum of its stage times; its peak RSS is that of its largest
# stage. MB/s is always CSV bytes / 10^6 / seconds, so every row of the table
# is comparable.
#
# Before each timed step: `sync`, then (as root) the page cache is dropped,
# so every step of both sides starts cold, reading its input from disk as it
# would from media just inserted; measured here, a step that happened to find
# its input cached ran up to twice as fast as one that did not, which made
# the order of steps decide the result.
# Airlock also does more work than the pipeline: it fsyncs what it commits
# inside its own time (the peer tools do not), and its vault keeps data
# encrypted at rest, so export decrypts from the lab vault and import
# re-encrypts into the plant vault. Any bias favours the pipeline.
#
# Environment:
#   AIRLOCK_BIN  airlock binary to use; default: cargo build --release --locked
#   SIZE_MIB     CSV size in MiB (default 1024)
#   RSS_ONLY=1   airlock export + import only; write the peak-memory section
#   BENCH_DIR    where the work folder is made (default target/bench in the
#                repo, i.e. on the repo's disk); a fresh subfolder every run
#   KEEP=1       keep the work folder (keys, bundles, logs) for inspection
#
# Needs: bash, python3 (data generator), GNU time; for the full run also age
# and minisign, installed with apt-get when missing.

set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DOC="$REPO/docs/benchmarks.md"
SIZE_MIB=${SIZE_MIB:-1024}
RSS_ONLY=${RSS_ONLY:-0}
KEEP=${KEEP:-0}
# The streaming design promises bounded memory whatever the dataset size.
RSS_TARGET_MIB=64

# Results of timed steps, by step key.
declare -A SECS=() RSS_KIB=()

# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

# ---------------------------------------------------------------- tools

# ensure_tools: GNU time always; age and minisign for the full comparison.
# Only what is missing is installed, so a prepared machine needs no network.
ensure_tools() {
    local pkgs=()
    [[ -x /usr/bin/time ]] || pkgs+=(time)
    if [[ $RSS_ONLY != 1 ]]; then
        command -v age >/dev/null && command -v age-keygen >/dev/null || pkgs+=(age)
        command -v minisign >/dev/null || pkgs+=(minisign)
    fi
    command -v python3 >/dev/null || die "python3 is needed to generate the data"
    ((${#pkgs[@]} == 0)) && return 0
    log "installing ${pkgs[*]}"
    # A fresh machine may have no package lists yet; update only then.
    as_root apt-get install -y "${pkgs[@]}" ||
        { as_root apt-get update && as_root apt-get install -y "${pkgs[@]}"; }
}

peer_versions() {
    printf 'age %s, minisign %s, %s, %s, GNU time %s' \
        "$(pkg_version age age --version)" \
        "$(pkg_version minisign minisign -v)" \
        "$(tar --version | head -n 1)" \
        "$(sha256sum --version | head -n 1)" \
        "$(pkg_version time /usr/bin/time --version)"
}

# ---------------------------------------------------------------- work folder

# check_disk: every copy of the data lives on this disk at the same time:
# CSV, lab vault, bundle, plant vault (+ its quarantine), and for the pipeline
# the tar, the .age, the decrypted tar and the extracted file.
check_disk() {
    local copies=5 need_kib have_kib
    [[ $RSS_ONLY == 1 ]] || copies=10
    need_kib=$((SIZE_MIB * 1024 * copies))
    have_kib=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
    ((have_kib > need_kib)) ||
        die "need about $((need_kib / 1024)) MiB free under $WORK, have $((have_kib / 1024)) MiB"
}

# ---------------------------------------------------------------- measuring

# sum_secs KEY...: total seconds of pipeline stages.
sum_secs() {
    local k t=0
    for k in "$@"; do t=$(awk -v a="$t" -v b="${SECS[$k]}" 'BEGIN { printf "%.2f", a + b }'); done
    printf '%s' "$t"
}

# max_kib KEY...: the largest peak RSS among pipeline stages.
max_kib() {
    local k m=0
    for k in "$@"; do ((RSS_KIB[$k] > m)) && m=${RSS_KIB[$k]}; done
    printf '%s' "$m"
}

# ---------------------------------------------------------------- data

# write_contract: the contract of the generated CSV (see bench/gen_csv.py).
write_contract() {
    cat >"$WORK/data/contract.toml" <<'EOF'
# Contract of the synthetic benchmark data written by bench/gen_csv.py.
name = "bench"
version = 1
null_tokens = [""]

[[columns]]
name = "id"
type = "integer"
min = 1

[[columns]]
name = "reading"
type = "float"
nullable = true
min = -1000
max = 1000

[[columns]]
name = "zone"
type = "category"
categories = ["north", "south", "east", "west", "central"]

[[columns]]
name = "note"
type = "string"
EOF
}

make_data() {
    CSV="$WORK/data/data.csv"
    log "generating ${SIZE_MIB} MiB of CSV"
    python3 "$REPO/bench/gen_csv.py" "$SIZE_MIB" "$CSV"
    CSV_BYTES=$(stat -c %s "$CSV")
    write_contract
}

# ---------------------------------------------------------------- airlock

# airlock_homes: where the two sites live. Every airlock command runs with
# --json: no progress bars, so nothing but the work itself is timed. (An
# array, not a function, because GNU time must exec the binary itself.)
airlock_homes() {
    LAB="$WORK/airlock/lab"
    PLANT="$WORK/airlock/plant"
    AL=("$AIRLOCK_BIN" --json)
}

# airlock_sites: two sites that trust each other, as after the card exchange.
airlock_sites() {
    local site
    airlock_homes
    mkdir -p "$WORK/airlock"
    for site in lab plant; do
        "${AL[@]}" --home "$WORK/airlock/$site" init --site "$site" >"$LOGS/init-$site.out"
        "${AL[@]}" --home "$WORK/airlock/$site" site card --out "$WORK/airlock/$site.card" \
            >"$LOGS/card-$site.out"
    done
    "${AL[@]}" --home "$LAB" trust add "$WORK/airlock/plant.card" >"$LOGS/trust-lab.out"
    "${AL[@]}" --home "$PLANT" trust add "$WORK/airlock/lab.card" >"$LOGS/trust-plant.out"
}

# bundle_bytes FILE: size of the bundle, or of all its parts if split.
bundle_bytes() {
    if [[ -f $1 ]]; then
        stat -c %s "$1"
    else
        cat "$1".[0-9][0-9][0-9] | wc -c
    fi
}

airlock_bench() {
    local bundle="$WORK/airlock/big.bundle" rows imported
    airlock_sites
    log "airlock: ingest, export, import"
    timed al_ingest "${AL[@]}" --home "$LAB" data ingest --dataset big \
        --contract "$WORK/data/contract.toml" "$CSV"
    ROWS=$(json_field "$LOGS/al_ingest.out" rows)
    timed al_export "${AL[@]}" --home "$LAB" bundle export \
        --to "$WORK/airlock/plant.card" --out "$bundle" dataset:big
    timed al_import "${AL[@]}" --home "$PLANT" bundle import "$bundle"
    AL_BUNDLE_BYTES=$(bundle_bytes "$bundle")
    # The import must have produced the dataset, or the figure means nothing.
    "${AL[@]}" --home "$PLANT" data list >"$LOGS/plant-data.out"
    rows=$(python3 -c 'import json, sys
print(sum(d["rows"] for d in json.load(open(sys.argv[1])) if d["name"] == "big"))' \
        "$LOGS/plant-data.out")
    ((rows == ROWS)) || die "plant has $rows rows of dataset big after import, expected $ROWS"
    imported=$(json_field "$LOGS/al_import.out" objects)
    log "airlock: $ROWS rows, bundle $AL_BUNDLE_BYTES bytes, $imported objects imported"
}

# ---------------------------------------------------------------- pipeline

PIPE_EXPORT=(p_sha256sum p_tar_c p_age_enc p_minisign_s)
PIPE_IMPORT=(p_minisign_v p_age_dec p_tar_x p_sha256sum_c)
declare -A STAGE_LABEL=(
    [p_sha256sum]="sha256sum > SHA256SUMS" [p_tar_c]="tar cf"
    [p_age_enc]="age -r" [p_minisign_s]="minisign -S"
    [p_minisign_v]="minisign -V" [p_age_dec]="age -d"
    [p_tar_x]="tar xf" [p_sha256sum_c]="sha256sum -c"
)

# peer_keys: an age identity for the recipient and a minisign key for the
# sender, as the two sites would have exchanged beforehand (not timed).
peer_keys() {
    local k="$WORK/peer/keys"
    mkdir -p "$k"
    age-keygen -o "$k/age.key" 2>/dev/null
    AGE_RECIPIENT=$(age-keygen -y "$k/age.key")
    # -W: no password on the secret key, so signing needs no terminal.
    minisign -G -W -p "$k/minisign.pub" -s "$k/minisign.key" >/dev/null ||
        die "minisign -G -W failed (minisign 0.9 or later is needed for -W)"
}

pipeline_bench() {
    local k="$WORK/peer/keys" out="$WORK/peer/out" in="$WORK/peer/in"
    mkdir -p "$out" "$in/extract"
    peer_keys
    log "pipeline: export"
    # sha256sum's stdout is the SHA256SUMS file; timed keeps it as the log.
    timed p_sha256sum env -C "$WORK/data" sha256sum data.csv
    cp "$LOGS/p_sha256sum.out" "$WORK/data/SHA256SUMS"
    timed p_tar_c tar cf "$out/export.tar" -C "$WORK/data" data.csv SHA256SUMS
    timed p_age_enc age -r "$AGE_RECIPIENT" -o "$out/export.tar.age" "$out/export.tar"
    timed p_minisign_s minisign -S -s "$k/minisign.key" -m "$out/export.tar.age"
    PIPE_AGE_BYTES=$(stat -c %s "$out/export.tar.age")

    log "pipeline: import"
    timed p_minisign_v minisign -V -q -p "$k/minisign.pub" -m "$out/export.tar.age"
    timed p_age_dec age -d -i "$k/age.key" -o "$in/import.tar" "$out/export.tar.age"
    timed p_tar_x tar xf "$in/import.tar" -C "$in/extract"
    timed p_sha256sum_c env -C "$in/extract" sha256sum --strict -c SHA256SUMS
}

# ---------------------------------------------------------------- report

# row LABEL SECS KIB: one tab-separated table row: label, s, MB/s, RSS MiB.
# A label indented by two spaces is a stage of the row above it.
row() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$(mbps "$2")" "$(mib "$3")"; }

# full_rows: the comparison, Airlock then pipeline, export then import.
full_rows() {
    local key total kib
    row "airlock export" "${SECS[al_export]}" "${RSS_KIB[al_export]}"
    total=$(sum_secs "${PIPE_EXPORT[@]}")
    kib=$(max_kib "${PIPE_EXPORT[@]}")
    row "pipeline export (sum)" "$total" "$kib"
    for key in "${PIPE_EXPORT[@]}"; do
        row "  ${STAGE_LABEL[$key]}" "${SECS[$key]}" "${RSS_KIB[$key]}"
    done
    row "airlock import" "${SECS[al_import]}" "${RSS_KIB[al_import]}"
    total=$(sum_secs "${PIPE_IMPORT[@]}")
    kib=$(max_kib "${PIPE_IMPORT[@]}")
    row "pipeline import (sum)" "$total" "$kib"
    for key in "${PIPE_IMPORT[@]}"; do
        row "  ${STAGE_LABEL[$key]}" "${SECS[$key]}" "${RSS_KIB[$key]}"
    done
}

rss_rows() {
    local key
    declare -A label=([al_ingest]="airlock data ingest" [al_export]="airlock bundle export"
        [al_import]="airlock bundle import")
    for key in al_ingest al_export al_import; do
        row "${label[$key]}" "${SECS[$key]}" "${RSS_KIB[$key]}"
    done
}

# print_table: rows (stdin) aligned for the terminal.
print_table() {
    printf '%-30s %10s %10s %14s\n' step seconds MB/s "peak RSS MiB"
    while IFS=$'\t' read -r label s rate rss; do
        printf '%-30s %10s %10s %14s\n' "$label" "$s" "$rate" "$rss"
    done
}

# markdown_table: rows (stdin) as a Markdown table; totals in bold.
markdown_table() {
    printf '| step | seconds | MB/s | peak RSS MiB |\n|---|---:|---:|---:|\n'
    while IFS=$'\t' read -r label s rate rss; do
        if [[ $label == "  "* ]]; then
            label="&nbsp;&nbsp;↳ \`${label#  }\`"
        else
            label="**$label**"
        fi
        printf '| %s | %s | %s | %s |\n' "$label" "$s" "$rate" "$rss"
    done
}

# context: the lines every section opens with, so a figure is never read
# without the machine, the revision and the data it came from.
context() {
    cat <<EOF
- Date: $(date -u '+%Y-%m-%d %H:%M UTC')
- Machine: $(machine)
- Airlock: revision $(revision), $("$AIRLOCK_BIN" --version), binary ${BIN_ORIGIN}
- Data: ${SIZE_MIB} MiB requested; CSV of ${CSV_BYTES} bytes ($(mib $((CSV_BYTES / 1024))) MiB), ${ROWS} rows, 4 columns (integer, float, category, 100-char string)
EOF
}

full_section() {
    local exp_total imp_total
    exp_total=$(sum_secs "${PIPE_EXPORT[@]}")
    imp_total=$(sum_secs "${PIPE_IMPORT[@]}")
    cat <<EOF
## Bundle export and import: Airlock against standard tools

Written by \`bench/bundle.sh\` (\`SIZE_MIB=${SIZE_MIB}\`); run it again to replace this section.

$(context)
- Peer tools: $PEER_VERSIONS

Each step ran once under GNU time: wall seconds and peak resident memory. MB/s is
CSV bytes / 10^6 / seconds for every row. A pipeline total is the sum of its stages;
its peak RSS is that of its largest stage. Before each step: \`sync\` and the page cache
dropped (every step starts cold, as from media just inserted);
memory touched once before the run (this is a virtual machine whose host backs a page
on first use, which would otherwise tax whichever step writes first).
Airlock does more than the pipeline: it fsyncs what it writes inside its time (the
peer tools do not), and its vault is encrypted at rest, so export also decrypts the
vault copy and import also re-encrypts into the plant vault.

$(full_rows | markdown_table)

- Speed-up, pipeline seconds / Airlock seconds (above 1: Airlock is faster): export $(ratio "$exp_total" "${SECS[al_export]}"), import $(ratio "$imp_total" "${SECS[al_import]}")
- Output: Airlock bundle ${AL_BUNDLE_BYTES} bytes; pipeline \`.tar.age\` ${PIPE_AGE_BYTES} bytes (+ \`.minisig\`)
- Ingest at lab (\`data ingest\`, before the export, not part of the figures above): ${SECS[al_ingest]} s, $(mbps "${SECS[al_ingest]}") MB/s, peak RSS $(mib "${RSS_KIB[al_ingest]}") MiB
EOF
}

rss_section() {
    local worst verdict
    worst=$(max_kib al_export al_import)
    if ((worst < RSS_TARGET_MIB * 1024)); then
        verdict="under the ${RSS_TARGET_MIB} MiB target"
    else
        verdict="**over the ${RSS_TARGET_MIB} MiB target**"
    fi
    cat <<EOF
## Bundle peak memory

Written by \`RSS_ONLY=1 SIZE_MIB=${SIZE_MIB} bench/bundle.sh\`; run it again to replace this section.
Bundle export and import stream, so their peak resident memory should not grow with
the data: the target is under ${RSS_TARGET_MIB} MiB at 2 GiB.

$(context)

$(rss_rows | markdown_table)

- Export and import peak RSS: $(mib "$worst") MiB at ${SIZE_MIB} MiB of data, ${verdict}
EOF
}

# ---------------------------------------------------------------- main

main() {
    [[ $SIZE_MIB =~ ^[1-9][0-9]*$ ]] || die "SIZE_MIB must be a positive whole number, got '$SIZE_MIB'"
    # Refuse a damaged docs file now, not after the benchmark has run.
    check_markers '<!-- bundle-bench:start -->' '<!-- bundle-bench:end -->'
    check_markers '<!-- bundle-rss:start -->' '<!-- bundle-rss:end -->'
    ensure_tools
    airlock_binary
    make_workdir bundle
    check_disk
    warm_memory "$((SIZE_MIB * 1024 * 12))"
    make_data
    airlock_bench
    if [[ $RSS_ONLY == 1 ]]; then
        rss_rows | print_table
        rss_section >"$WORK/section.md"
        replace_section '<!-- bundle-rss:start -->' '<!-- bundle-rss:end -->' "$WORK/section.md"
        return
    fi
    PEER_VERSIONS=$(peer_versions)
    pipeline_bench
    echo
    full_rows | print_table
    printf '\nspeed-up (pipeline s / airlock s): export %s, import %s\n' \
        "$(ratio "$(sum_secs "${PIPE_EXPORT[@]}")" "${SECS[al_export]}")" \
        "$(ratio "$(sum_secs "${PIPE_IMPORT[@]}")" "${SECS[al_import]}")"
    printf 'ingest: %s s, %s MB/s, peak RSS %s MiB\n' "${SECS[al_ingest]}" \
        "$(mbps "${SECS[al_ingest]}")" "$(mib "${RSS_KIB[al_ingest]}")"
    full_section >"$WORK/section.md"
    replace_section '<!-- bundle-bench:start -->' '<!-- bundle-bench:end -->' "$WORK/section.md"
}

main "$@"
