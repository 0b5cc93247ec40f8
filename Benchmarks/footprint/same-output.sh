#!/usr/bin/env bash
# Same results from two binaries on two databases (e.g. main's binary on a month database, and
# this branch's binary on a copy it migrated): exports of the whole range, indicators, queries,
# readings and quality events, compared byte for byte.
#
# Usage: Benchmarks/footprint/same-output.sh BIN_A DB_A BIN_B DB_B
# Environment knobs:
#   DEVICES            registry (default <repo>/Devices)
#   FROM, TO           the range (default 2026-10-01 .. 2026-12-31)
#   MINUTE_FROM, MINUTE_TO  the range of the per-minute query (default 2026-11-20 .. 2026-11-22)
set -uo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
[[ $# -eq 4 ]] || { echo "usage: $0 BIN_A DB_A BIN_B DB_B" >&2; exit 2; }
DEVICES=${DEVICES:-$REPO/Devices}
FROM=${FROM:-2026-10-01} TO=${TO:-2026-12-31}
MINUTE_FROM=${MINUTE_FROM:-2026-11-20} MINUTE_TO=${MINUTE_TO:-2026-11-22}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

outputs() {
    local bin=$1 db=$2 out=$3
    mkdir -p "$out"
    run() {
        local name=$1
        shift
        "$bin" "$@" --db "$db" --devices "$DEVICES" > "$out/$name.out" 2> "$out/$name.err"
        echo "exit $?" >> "$out/$name.out"
    }
    for what in readings rollups; do
        "$bin" export "$what" --db "$db" --devices "$DEVICES" --from "$FROM" --to "$TO" --utc --out "$out/$what.csv" \
            > /dev/null 2>&1 || echo "export $what failed" >> "$out/export.err"
    done
    run ind-line indicators --by line --from "$FROM" --to "$TO" --format json
    run ind-site-day indicators --scope site --every 1d --from "$FROM" --to "$TO" --format json
    run ind-shaft-shift indicators --scope line:line-shaft --every shift --from "$FROM" --to "$TO" --format json
    run q-energy-1h query --device pm-mach-main --metric energy --every 1h --from "$FROM" --to "$TO" --format json
    run q-power-1h query --device cnc-101 --metric power --every 1h --from "$FROM" --to "$TO" --format json
    run q-power-15m query --device cnc-101 --metric power --every 15m --from "$FROM" --to "$TO" --format json
    run q-meter-power-1m query --device pm-mach-main --metric power --every 1m --from "$MINUTE_FROM" --to "$MINUTE_TO" --format json
    run q-state-1d query --device cnc-101 --metric state --every 1d --from "$FROM" --to "$TO" --format json
    run readings-all readings --limit 500
    run readings-cnc readings --device cnc-101 --limit 500
    run quality quality --from "$FROM" --to "$TO"
}

outputs "$1" "$2" "$TMP/a"
outputs "$3" "$4" "$TMP/b"
status=0
for f in "$TMP"/a/*; do
    name=$(basename "$f")
    if cmp -s "$f" "$TMP/b/$name"; then
        echo "same       $name ($(wc -l < "$f") lines)"
    else
        echo "DIFFERENT  $name"
        status=1
    fi
done
exit $status
