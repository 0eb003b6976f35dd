#!/usr/bin/env bash
# Run one fuzz target with the settings the recorded runs used (see README.md).
#
#   fuzz/run.sh TARGET [SECONDS] [libFuzzer flags...]   fuzz TARGET (default 600 s)
#   fuzz/run.sh --regressions                           replay fuzz/regressions/* once
#
# SANITIZER=address (or none, the default) picks the build; each has its own target directory
# under fuzz/target so switching does not rebuild everything.
set -euo pipefail
cd "$(dirname "$0")"
san=${SANITIZER:-none}
targets=(dialect date_detector line_matching ini interpolation)

fuzz() {
    RUSTC_BOOTSTRAP=1 cargo fuzz run -O -s "$san" --target-dir "target/$san" "$@"
}

if [ "${1:-}" = "--regressions" ]; then
    for t in "${targets[@]}"; do
        [ -d "regressions/$t" ] || continue
        echo "== $t"
        # Each file must finish within the timeout without a crash.
        fuzz "$t" "regressions/$t" -- -runs=0 -timeout=10 -rss_limit_mb=2048
    done
    exit 0
fi

t=${1:?usage: fuzz/run.sh TARGET [SECONDS] [libFuzzer flags...]}
secs=${2:-600}
shift $(($# < 2 ? $# : 2))
case $t in
    ini | interpolation) dict=dicts/ini.dict max_len=65536 ;;
    *) dict=dicts/regex.dict max_len=4096 ;;
esac
[ -d "corpus/$t" ] || python3 seed.py
fuzz "$t" -- -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -dict="$dict" -print_final_stats=1 "$@"
