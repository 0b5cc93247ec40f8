#!/usr/bin/env bash
# The registry cache at a large plant: whole-process CPU and wall time of a reading command
# without the cache (YAML parsed), with a warm cache, and for another build, runs interleaved.
#
# Usage: Benchmarks/scale/registry-cache.sh DB DEVICES FROM TO
#   DB, DEVICES   a database and its registry (e.g. plant-x40.sh's kept z.sqlite and devices/)
#   FROM, TO      the indicator window (whole local days)
#   ZHIZAO_BIN    this build's CLI (default <repo>/.build/release/zhizao)
#   BASE_BIN      the build to compare with (optional, e.g. main's; it has no cache)
#   N             runs of each variant (default 10)
# "No cache" points ZHIZAO_CACHE_DIR below /dev/null, where no directory can be made: the YAML is
# parsed every time and nothing is written. "Warm" uses a private cache filled by one run first.
# Outputs of every variant must be byte-identical (checked). CPU is user + sys of /usr/bin/time
# (10 ms resolution): the median is what compares on a shared machine; wall is best and median.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$SCRIPT_DIR/../.." && pwd)
ZHIZAO_BIN=${ZHIZAO_BIN:-$REPO/.build/release/zhizao}
BASE_BIN=${BASE_BIN:-}
N=${N:-10}
DB=${1:?usage: registry-cache.sh DB DEVICES FROM TO}
DEVICES=${2:?usage: registry-cache.sh DB DEVICES FROM TO}
FROM=${3:?usage: registry-cache.sh DB DEVICES FROM TO}
TO=${4:?usage: registry-cache.sh DB DEVICES FROM TO}
die() { echo "registry-cache.sh: $*" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/zhizao-regcache.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
variants=(nocache warm)
[[ -n $BASE_BIN ]] && variants=(base "${variants[@]}")
run() {  # variant out-file command-args...
    local v=$1 out=$2
    shift 2
    case $v in
        base) ZHIZAO_CACHE_DIR=/dev/null/cache /usr/bin/time -o "$TMP/$v.t" -a -f "%e %U %S" "$BASE_BIN" "$@" > "$out" 2> "$TMP/err" ;;
        nocache) ZHIZAO_CACHE_DIR=/dev/null/cache /usr/bin/time -o "$TMP/$v.t" -a -f "%e %U %S" "$ZHIZAO_BIN" "$@" > "$out" 2> "$TMP/err" ;;
        warm) ZHIZAO_CACHE_DIR=$TMP/cache /usr/bin/time -o "$TMP/$v.t" -a -f "%e %U %S" "$ZHIZAO_BIN" "$@" > "$out" 2> "$TMP/err" ;;
    esac || die "$v $*: $(cat "$TMP/err")"
}
for command in indicators devices-list; do
    if [[ $command == indicators ]]; then
        args=(indicators --db "$DB" --devices "$DEVICES" --by line --every 1d --from "$FROM" --to "$TO" --format csv)
    else
        args=(devices list --devices "$DEVICES")
    fi
    ZHIZAO_CACHE_DIR=$TMP/cache "$ZHIZAO_BIN" "${args[@]}" > /dev/null 2>&1
    [[ -n $(ls "$TMP/cache") ]] || die "the warm-up run wrote no cache file (registry files modified in the last seconds?)"
    for v in "${variants[@]}"; do : > "$TMP/$v.t"; done
    for _ in $(seq "$N"); do
        for v in "${variants[@]}"; do run "$v" "$TMP/$v.out" "${args[@]}"; done
    done
    for v in "${variants[@]}"; do
        cmp -s "$TMP/nocache.out" "$TMP/$v.out" || die "$command: the $v output differs from the output without a cache"
        awk -v c="$command" -v v="$v" '
            { cpu[NR] = ($2 + $3) * 1000; wall[NR] = $1 * 1000; if (NR == 1 || wall[NR] < best) best = wall[NR] }
            function median(a, n,   i, j, t) {
                for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
            }
            END { printf "%-12s %-8s CPU median %4.0f ms   wall best %4.0f ms, median %4.0f ms   (%d runs)\n", c, v, median(cpu, NR), best, median(wall, NR), NR }
        ' "$TMP/$v.t"
    done
done
ls -l "$TMP/cache"
uptime
