# bench/lib.sh: helpers shared by the benchmark scripts (sourced, not run).
# The sourcing script sets REPO, DOC, KEEP and the associative arrays SECS and
# RSS_KIB, and defines its own CSV_BYTES (for mbps) before calling them.
# shellcheck shell=bash

log() { printf 'bench: %s\n' "$*" >&2; }

die() { printf 'bench: error: %s\n' "$*" >&2; exit 1; }

# as_root CMD...: apt-get needs root; use sudo only when we are not root.
as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

# pkg_version PKG FALLBACK-CMD...: the Debian package version when dpkg
# knows it (GNU time prints "UNKNOWN" itself), else the tool's own answer.
pkg_version() {
    local pkg=$1 v
    shift
    v=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
    [[ -n $v ]] || v=$("$@" 2>&1 | head -n 1 || true)
    printf '%s' "${v:-unknown}"
}

# newer_sources FILE: the first source file of the binary changed after FILE.
newer_sources() {
    find "$REPO" \( -path "$REPO/target" -o -path "$REPO/fuzz" -o -path "$REPO/tests" \
        -o -path "$REPO/.git" \) -prune -o \
        \( -name '*.rs' -o -name Cargo.toml -o -name Cargo.lock \) -newer "$1" -print -quit
}

# airlock_binary: $AIRLOCK_BIN as given, or a fresh release build of this
# checkout, so the figures belong to the revision recorded with them.
airlock_binary() {
    if [[ -n ${AIRLOCK_BIN:-} ]]; then
        [[ -x $AIRLOCK_BIN ]] || die "AIRLOCK_BIN=$AIRLOCK_BIN is not an executable"
        BIN_ORIGIN="AIRLOCK_BIN=$AIRLOCK_BIN"
        # A given binary may predate the checkout whose revision is recorded;
        # say so in the report rather than pin figures on the wrong code.
        if [[ -n $(newer_sources "$AIRLOCK_BIN") ]]; then
            log "warning: $AIRLOCK_BIN is older than sources in $REPO; figures may not match its revision"
            BIN_ORIGIN+=" (older than the checkout's sources)"
        fi
    else
        log "building airlock (cargo build --release --locked)"
        (cd "$REPO" && cargo build --release --locked -p airlock-appliance --bin airlock) >&2
        AIRLOCK_BIN="$REPO/target/release/airlock"
        BIN_ORIGIN="target/release/airlock, built by this script"
    fi
    AIRLOCK_BIN=$(cd "$(dirname "$AIRLOCK_BIN")" && pwd)/$(basename "$AIRLOCK_BIN")
}

# revision: HEAD, marked dirty when files that go into the binary differ
# from it (the bench scripts and the docs do not count).
revision() {
    local rev
    rev=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ -n $(git -C "$REPO" status --porcelain -- . ':(exclude)bench' ':(exclude)docs' \
        ':(exclude)appliance/benches' 2>/dev/null) ]]; then
        rev+=" + uncommitted changes"
    fi
    printf '%s' "$rev"
}

machine() {
    local cpu mem
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    printf '%s, %s CPUs, %s RAM, %s' "${cpu:-unknown CPU}" "$(nproc)" "$mem" \
        "$(df -PT "$WORK" | awk 'NR == 2 { print $2 " on " $1 }')"
}

# make_workdir NAME: a fresh WORK folder (NAME.XXXXXX under BENCH_DIR, default
# target/bench in the repo) with logs/ and data/, removed at exit unless KEEP=1.
make_workdir() {
    local name=$1
    local root=${BENCH_DIR:-$REPO/target/bench}
    mkdir -p "$root"
    # Always a fresh subfolder: cleaning up never touches what was there.
    WORK=$(mktemp -d "$root/$name.XXXXXX")
    LOGS="$WORK/logs"
    mkdir -p "$LOGS" "$WORK/data"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
    if [[ $KEEP == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}

# warm_memory WANT_KIB: this machine is a virtual machine whose memory the host hands
# over on first touch; a page the guest has never used costs far more to
# write into than one it has (measured here: the kernel's page-cache copy in
# write(2) took a third of a first 1 GiB export, and much less on a rerun).
# Whoever runs first would pay it, so first touch, once, as much memory as the
# run will fill with page cache (WANT_KIB, capped at 3/4 of what is available); the
# kernel then reuses those pages for every step alike.
warm_memory() {
    local want_kib=$1 avail_kib
    avail_kib=$(awk '/^MemAvailable:/ { print $2 }' /proc/meminfo)
    ((want_kib < avail_kib * 3 / 4)) || want_kib=$((avail_kib * 3 / 4))
    log "touching $((want_kib / 1024)) MiB of memory once, so no step pays first-touch costs"
    python3 -c "
import sys
n = int(sys.argv[1]) * 1024
b = bytearray(n)
for i in range(0, n, 4096):
    b[i] = 1
" "$want_kib"
}

# drop_caches: sync, then (as root) drop the page cache.
drop_caches() {
    sync
    if [[ -w /proc/sys/vm/drop_caches ]]; then
        echo 3 >/proc/sys/vm/drop_caches
    fi
}

# timed KEY CMD...: runs CMD once under GNU time, after a sync and a cache
# drop, and records SECS[KEY] and RSS_KIB[KEY]. CMD's output goes to
# $LOGS/KEY.{out,err}.
timed() {
    local key=$1 secs kib
    shift
    drop_caches
    if ! /usr/bin/time -f '%e %M' -o "$LOGS/$key.time" "$@" \
        >"$LOGS/$key.out" 2>"$LOGS/$key.err" </dev/null; then
        log "step $key failed: $*"
        tail -n 20 "$LOGS/$key.err" "$LOGS/$key.out" >&2 || true
        exit 1
    fi
    # On failure GNU time puts a status line first; the figures are last.
    read -r secs kib < <(tail -n 1 "$LOGS/$key.time")
    # shellcheck disable=SC2034 # the sourcing script's associative arrays
    SECS["$key"]=$secs
    # shellcheck disable=SC2034
    RSS_KIB["$key"]=$kib
    log "$(printf '%-16s %8s s %8s MiB' "$key" "$secs" "$(mib "$kib")")"
}

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# mbps SECS: CSV MB per second; "n/a" below the 10 ms resolution of %e.
mbps() {
    awk -v b="$CSV_BYTES" -v s="$1" \
        'BEGIN { if (s > 0) printf "%.1f", b / 1e6 / s; else printf "n/a" }'
}

# ratio PEER AIRLOCK: how many times faster Airlock is (>1) or slower.
ratio() {
    awk -v p="$1" -v a="$2" 'BEGIN { if (a > 0) printf "%.2f×", p / a; else printf "n/a" }'
}

# json_field FILE KEY: one top-level field of a JSON answer (the last line
# of FILE that is a JSON object, or the whole file).
json_field() {
    python3 -c 'import json, sys
text = open(sys.argv[1]).read()
lines = [l for l in text.splitlines() if l.startswith("{") and l.rstrip().endswith("}")]
print(json.loads(lines[-1] if lines else text)[sys.argv[2]])' "$1" "$2"
}

# check_markers START END: each marker once, or neither; anything else and
# replace_section could drop hand-written text, so stop instead.
check_markers() {
    local n_start=0 n_end=0
    if [[ -f $DOC ]]; then
        n_start=$(grep -cxF -- "$1" "$DOC" || true)
        n_end=$(grep -cxF -- "$2" "$DOC" || true)
    fi
    [[ $n_start == "$n_end" && $n_start -le 1 ]] ||
        die "$DOC: markers $1 / $2 are unbalanced; fix the file by hand"
}

# replace_section START END BODY-FILE: puts BODY between the markers in
# docs/benchmarks.md, or appends the markers and BODY when absent; the rest
# of the file is kept as it is.
replace_section() {
    local start=$1 end=$2 body=$3 tmp
    if [[ ! -f $DOC ]]; then
        mkdir -p "$(dirname "$DOC")"
        cat >"$DOC" <<'EOF'
# Benchmarks

Figures measured by the scripts in `bench/`. Each section sits between HTML comment
markers and is replaced whole when its script runs again, so edit around the
markers, never between them.
EOF
    fi
    check_markers "$start" "$end"
    tmp=$(mktemp "$DOC.XXXXXX")
    awk -v start="$start" -v end="$end" -v body="$body" '
        function emit(  line) { while ((getline line < body) > 0) print line; close(body) }
        $0 == start { print; emit(); skip = 1; found = 1; next }
        $0 == end { skip = 0 }
        !skip { print }
        END { if (!found) { print ""; print start; emit(); print end } }
    ' "$DOC" >"$tmp"
    chmod --reference="$DOC" "$tmp" # mktemp makes it 0600
    mv "$tmp" "$DOC"
    log "wrote the section $start to $DOC"
}
